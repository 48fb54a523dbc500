"""The hiker: every optimizer and scheduler against trajectories written from the documented formulas (and against
PyTorch when it is installed), validation messages, atomic steps and loads, state_dict round trips."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from interrupt import interrupt_at

from tinygrad_gd import Value
from tinygrad_gd.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    CosineAnnealingLR,
    ExponentialLR,
    RMSprop,
    StepLR,
)

START = np.array([1.5, -0.5, 3.0])
TARGET = np.array([0.2, 0.7, -1.0])
CURVE = np.array([1.0, 3.0, 0.5])


def grad_of(theta):
    """The slope of Σ c·(θ − a)², written by hand: the tests feed it to the hiker, with no backprop involved."""
    return 2 * CURVE * (theta - TARGET)


def run(make, steps=4, start=START):
    """Set .grad by hand and step; return the parameter after each step."""
    w = Value(start.copy(), requires_grad=True)
    opt = make([w])
    trajectory = []
    for _ in range(steps):
        w.grad = grad_of(np.asarray(w.data))
        opt.step()
        trajectory.append(np.array(w.data))
    return trajectory, opt, w


# ---- reference trajectories, from the formulas in PyTorch's documentation (independent of optim.py) -------------
def ref_sgd(steps, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False):
    theta, b, out = START.copy(), None, []
    for _ in range(steps):
        g = grad_of(theta) * (-1 if maximize else 1) + weight_decay * theta
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        theta = theta - lr * g
        out.append(theta)
    return out


def ref_adam(steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    theta, m, v, vmax, out = START.copy(), 0 * START, 0 * START, 0 * START, []
    for t in range(1, steps + 1):
        g = grad_of(theta)
        if decoupled:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g ** 2
        vmax = np.maximum(vmax, v)
        v_hat = (vmax if amsgrad else v) / (1 - betas[1] ** t)
        theta = theta - lr * (m / (1 - betas[0] ** t)) / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


def ref_rmsprop(steps, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    theta, v, gbar, b, out = START.copy(), 0 * START, 0 * START, 0 * START, []
    for _ in range(steps):
        g = grad_of(theta) + weight_decay * theta
        v = alpha * v + (1 - alpha) * g ** 2
        gbar = alpha * gbar + (1 - alpha) * g
        denom = np.sqrt(v - gbar ** 2 if centered else v) + eps
        if momentum:
            b = momentum * b + g / denom
            theta = theta - lr * b
        else:
            theta = theta - lr * g / denom
        out.append(theta)
    return out


def ref_adagrad(steps, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10, initial_accumulator_value=0.0):
    theta, s, out = START.copy(), np.full(3, initial_accumulator_value), []
    for t in range(1, steps + 1):
        g = grad_of(theta) + weight_decay * theta
        s = s + g ** 2
        theta = theta - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
        out.append(theta)
    return out


CASES = [
    (SGD, ref_sgd, dict(lr=0.1)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.9)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.8, nesterov=True)),
    (SGD, ref_sgd, dict(lr=0.01, maximize=True)),
    (Adam, ref_adam, dict(lr=0.1)),
    (Adam, ref_adam, dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
    (AdamW, lambda steps, **kw: ref_adam(steps, decoupled=True, **kw), dict(lr=0.1, weight_decay=0.01)),
    (AdamW, lambda steps, **kw: ref_adam(steps, decoupled=True, **kw), dict(lr=0.1, weight_decay=0.3, amsgrad=True)),
    (RMSprop, ref_rmsprop, dict(lr=0.01)),
    (RMSprop, ref_rmsprop, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    (Adagrad, ref_adagrad, dict(lr=0.1)),
    (Adagrad, ref_adagrad, dict(lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.2)),
]


@pytest.mark.parametrize("cls, reference, kwargs", CASES, ids=[f"{c.__name__}-{kw}" for c, _, kw in CASES])
def test_trajectory_matches_the_documented_formula(cls, reference, kwargs):
    trajectory, _, _ = run(lambda params: cls(params, **kwargs), steps=4)
    np.testing.assert_allclose(trajectory, reference(4, **kwargs), rtol=1e-12, atol=1e-14)


def test_the_article_step_and_the_momentum_buffer_starting_at_g():
    w = Value(5.0, requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.9, dampening=0.5)
    ((w - 2) ** 2).backward()
    opt.step()
    assert w.item() == pytest.approx(4.4)  # first step: buffer = g = 6, not (1 - dampening)·g
    assert opt.state[w]["momentum_buffer"] == 6.0
    assert type(w.data) is np.float64  # 0-d data stays a NumPy scalar; the object is the same one


def test_adam_first_step_moves_about_lr_whatever_the_gradient():
    trajectory, opt, w = run(lambda p: Adam(p, lr=0.01), steps=1)
    np.testing.assert_allclose(np.abs(trajectory[0] - START), 0.01, rtol=1e-6)
    assert set(opt.state[w]) == {"step", "exp_avg", "exp_avg_sq"} and opt.state[w]["step"] == 1


def test_float32_parameters_stay_float32():
    w = Value(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = Adam([w], lr=0.1)
    w.grad = np.ones(3, dtype=np.float32)
    opt.step()
    assert w.dtype == np.float32 and opt.state[w]["exp_avg"].dtype == np.float32


# ---- bookkeeping ----------------------------------------------------------------------------------------------------
def test_param_groups_have_their_own_lr_and_none_grads_are_skipped():
    a, b, c = (Value(1.0, requires_grad=True) for _ in range(3))
    opt = SGD([{"params": [a]}, {"params": [b, c], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    a.grad, b.grad = 1.0, 1.0  # c.grad stays None
    opt.step()
    assert (a.item(), b.item(), c.item()) == (0.9, 0.5, 1.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_keeps_the_parameter_object_and_bumps_its_version():
    w = Value(np.array([1.0, 2.0]), requires_grad=True)
    data_before, opt = w.data, SGD([w], lr=0.1)
    w.grad = np.array([1.0, 1.0])
    opt.step()
    assert w.data is data_before and w.version == 1


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: SGD(p), "SGD needs lr"),
    (lambda p: SGD(p, lr=0.1, momentum=-1), "Invalid momentum value: -1"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1e-3), "Invalid weight_decay value: -0.001"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "Invalid nesterov"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Invalid nesterov"),
    (lambda p: Adam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: AdamW(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda p: Adam(p, betas=(0.9, 0.99, 0.9)), r"Invalid betas: \(0.9, 0.99, 0.9\) \(a pair"),
    (lambda p: RMSprop(p, alpha=-0.5), "Invalid alpha value: -0.5"),
    (lambda p: Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda p: Adagrad(p, initial_accumulator_value=-0.5), "Invalid initial_accumulator_value value: -0.5"),
    (lambda p: SGD([{"params": p, "lr": -2.0}], lr=0.1), "Invalid learning rate: -2.0"),
    (lambda p: SGD([], lr=0.1), "empty parameter list"),
    (lambda p: SGD([np.ones(3)], lr=0.1), "Invalid parameter 0: an optimizer moves Values, not ndarray"),
    (lambda p: SGD([p[0] * 2], lr=0.1), r"Invalid parameter 0: it must be a leaf Value .* computed by '\*'"),
    (lambda p: SGD([p[0], p[0]], lr=0.1), "more than once"),
])
def test_invalid_settings_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make([Value(1.0, requires_grad=True)])


def test_positional_arguments_mean_what_they_mean_in_pytorch():
    group = SGD([Value(1.0, requires_grad=True)], 0.1, 0.9, 0, 1e-4).param_groups[0]
    assert (group["lr"], group["momentum"], group["dampening"], group["weight_decay"]) == (0.1, 0.9, 0, 1e-4)
    group = Adagrad([Value(1.0, requires_grad=True)], 0.1, 0, 0, 0.5).param_groups[0]
    assert group["eps"] == 1e-10  # the fourth is initial_accumulator_value, as in PyTorch


def test_adagrad_steps_a_group_added_later_and_a_parameter_loaded_without_state():
    a, b = Value(1.0, requires_grad=True), Value(2.0, requires_grad=True)
    opt = Adagrad([a], lr=0.1, initial_accumulator_value=0.5)
    opt.add_param_group({"params": [b]})  # its sum starts at the group's initial_accumulator_value, 0.5
    assert opt.param_groups[1]["initial_accumulator_value"] == 0.5 and opt.state[b] == {"step": 0.0, "sum": 0.5}
    b.grad = np.float64(1.0)
    opt.step()
    assert b.item() == pytest.approx(2.0 - 0.1 * 1.0 / math.sqrt(0.5 + 1.0)) and opt.state[b]["step"] == 1
    fresh = Adagrad([Value(1.0, requires_grad=True)], lr=0.1)
    fresh.load_state_dict({"state": {}, "param_groups": fresh.state_dict()["param_groups"]})
    w = fresh.param_groups[0]["params"][0]
    w.grad = np.float64(2.0)
    fresh.step()  # no state after the load: starts from step 0 and sum s₀ = 0, like a new parameter
    assert w.item() == pytest.approx(1.0 - 0.1) and fresh.state[w] == {"step": 1.0, "sum": 4.0}


def test_a_single_value_instead_of_a_list_is_refused():
    with pytest.raises(TypeError, match=r"\[w\]"):
        SGD(Value(1.0, requires_grad=True), lr=0.1)


def test_a_failed_step_changes_nothing():
    a, b = Value(np.array([1.0, 2.0]), requires_grad=True), Value(np.array([3.0]), requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad, b.grad = np.array([1.0, 1.0]), np.array([1.0])
    opt.step()
    before = (a.data.copy(), b.data.copy(), opt.state_dict())
    a.grad, b.grad = np.array([1.0, 1.0]), np.array([1.0, 1.0])  # b's grad has the wrong shape
    with pytest.raises(ValueError, match=r"shape \(2,\) does not match its parameter of shape \(1,\)"):
        opt.step()
    np.testing.assert_array_equal(a.data, before[0])  # a comes first, and still did not move
    np.testing.assert_array_equal(b.data, before[1])
    assert _same(opt.state_dict(), before[2])


def test_nan_gradients_propagate_instead_of_being_hidden():
    w = Value(1.0, requires_grad=True)
    w.grad = np.float64("nan")
    SGD([w], lr=0.1).step()
    assert math.isnan(w.item())


def _same(x, y):
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
    return np.array_equal(x, y)


def test_state_dict_round_trip_continues_the_same_trajectory():
    full, _, _ = run(lambda p: Adam(p, lr=0.1, amsgrad=True), steps=5)
    _, opt, _ = run(lambda p: Adam(p, lr=0.1, amsgrad=True), steps=2)
    saved = opt.state_dict()
    assert list(saved["state"]) == [0] and saved["param_groups"][0]["params"] == [0]
    w = Value(full[1].copy(), requires_grad=True)
    fresh = Adam([w], lr=0.5)  # the saved lr (0.1) must come back too
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.1 and fresh.param_groups[0]["params"][0] is w
    for k in range(2, 5):
        w.grad = grad_of(np.asarray(w.data))
        fresh.step()
        np.testing.assert_allclose(w.data, full[k], rtol=1e-14)


@pytest.mark.parametrize("corrupt, message", [
    (lambda s: s["param_groups"].append({**s["param_groups"][0], "params": []}), "2 parameter groups"),
    (lambda s: s["param_groups"][0]["params"].append(1), "group 0 has 2 parameters"),
    (lambda s: s["state"][0].update(exp_avg=np.zeros(5)), r"'exp_avg' of parameter 0 has shape \(5,\)"),
    (lambda s: s["state"].update({3: {}}), "refers to parameter 3"),
    (lambda s: s["param_groups"][0].update(lr=-1.0), "Invalid learning rate: -1.0"),
    (lambda s: s["param_groups"][0].pop("betas"), r"lacks \['betas'\]"),
])
def test_a_bad_load_raises_and_changes_nothing(corrupt, message):
    _, opt, _ = run(lambda p: Adam(p, lr=0.1), steps=2)
    before = opt.state_dict()
    bad = opt.state_dict()
    corrupt(bad)
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(bad)
    assert _same(opt.state_dict(), before)


def test_the_hiker_never_imports_the_map():
    tree = ast.parse((Path(__file__).parent.parent / "tinygrad_gd" / "optim.py").read_text())
    imported = {(node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any("backprop" in name for name in imported), imported


# ---- schedulers ----------------------------------------------------------------------------------------------------
def _lrs(make_scheduler, epochs=12, lr=0.1):
    w = Value(1.0, requires_grad=True)
    opt = SGD([w], lr=lr)
    scheduler = make_scheduler(opt)
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(epochs):
        opt.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == lrs[-1]
    assert scheduler.last_epoch == epochs
    return lrs


def test_step_lr():
    assert _lrs(lambda o: StepLR(o, step_size=3, gamma=0.5), epochs=7) == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025], rel=1e-12)


def test_exponential_lr():
    assert _lrs(lambda o: ExponentialLR(o, gamma=0.9), epochs=3) == pytest.approx([0.1, 0.09, 0.081, 0.0729])


def test_cosine_annealing_lr_goes_down_then_back_up():
    lrs = _lrs(lambda o: CosineAnnealingLR(o, T_max=4, eta_min=0.02), epochs=6)
    half = 0.02 + 0.08 * (1 + math.cos(math.pi / 4)) / 2
    assert lrs[:5] == pytest.approx([0.1, half, 0.06, 0.12 - half, 0.02], rel=1e-12)
    assert lrs[5] == pytest.approx(lrs[3]) and lrs[6] == pytest.approx(lrs[2])


def test_scheduler_recomputes_lr_from_initial_lr_as_documented():
    w = Value(1.0, requires_grad=True)
    opt = SGD([w], lr=1.0)
    scheduler = StepLR(opt, step_size=2, gamma=0.5)
    opt.param_groups[0]["lr"] = 0.3  # a hand-set lr is overwritten at the next step (PyTorch would give 0.15)
    scheduler.step()
    scheduler.step()
    assert scheduler.get_last_lr() == [0.5] and opt.param_groups[0]["initial_lr"] == 1.0


def test_scheduler_validation():
    opt = SGD([Value(1.0, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="Invalid step_size: 0"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="Invalid T_max: 0"):
        CosineAnnealingLR(opt, T_max=0)


# ---- PyTorch, when installed ---------------------------------------------------------------------------------------
TORCH_NAMES = {SGD: "SGD", Adam: "Adam", AdamW: "AdamW", RMSprop: "RMSprop", Adagrad: "Adagrad"}


@pytest.mark.parametrize("cls, reference, kwargs", CASES, ids=[f"{c.__name__}-{kw}" for c, _, kw in CASES])
def test_trajectory_and_state_match_pytorch(cls, reference, kwargs):
    torch = pytest.importorskip("torch")
    ours, opt, w = run(lambda params: cls(params, **kwargs), steps=6)
    t = torch.tensor(START.copy(), dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, TORCH_NAMES[cls])([t], **kwargs)
    for k in range(6):
        t.grad = torch.from_numpy(grad_of(t.detach().numpy()))
        topt.step()
        np.testing.assert_allclose(ours[k], t.detach().numpy(), rtol=1e-10, atol=1e-12)
    theirs = topt.state_dict()["state"].get(0, {})
    assert set(opt.state.get(w, {})) == set(theirs)
    for key, value in theirs.items():
        np.testing.assert_allclose(np.asarray(opt.state[w][key]), value.numpy(), rtol=1e-10, atol=1e-12)


def test_adagrad_group_added_later_matches_pytorch():
    torch = pytest.importorskip("torch")
    a, b = Value(1.0, requires_grad=True), Value(2.0, requires_grad=True)
    ta, tb = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (1.0, 2.0))
    opt, topt = Adagrad([a], lr=0.1, initial_accumulator_value=0.3), torch.optim.Adagrad([ta], lr=0.1,
                                                                                           initial_accumulator_value=0.3)
    opt.add_param_group({"params": [b], "lr": 0.2})
    topt.add_param_group({"params": [tb], "lr": 0.2})
    for k in range(3):
        a.grad, b.grad = np.float64(k + 1.0), np.float64(2.0 - k)
        ta.grad, tb.grad = torch.tensor(k + 1.0, dtype=torch.float64), torch.tensor(2.0 - k, dtype=torch.float64)
        opt.step()
        topt.step()
    assert (a.item(), b.item()) == pytest.approx((ta.item(), tb.item()), rel=1e-12)
    assert opt.param_groups[1]["initial_accumulator_value"] == topt.param_groups[1]["initial_accumulator_value"]


@pytest.mark.parametrize("name, ours, kwargs", [
    ("StepLR", StepLR, dict(step_size=3, gamma=0.5)),
    ("ExponentialLR", ExponentialLR, dict(gamma=0.9)),
    ("CosineAnnealingLR", CosineAnnealingLR, dict(T_max=5, eta_min=0.01)),
])
def test_schedulers_match_pytorch(name, ours, kwargs):
    torch = pytest.importorskip("torch")
    t = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([t], lr=0.1)
    scheduler = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    theirs = [scheduler.get_last_lr()[0]]
    for _ in range(14):
        topt.step()
        scheduler.step()
        theirs.append(scheduler.get_last_lr()[0])
    np.testing.assert_allclose(_lrs(lambda o: ours(o, **kwargs), epochs=14), theirs, rtol=1e-10, atol=1e-15)


def test_make_optimizer_by_the_names_learners_type():
    """One table serves `descend` and `train`: each name builds its class with its settings."""
    from tinygrad_gd.optim import BY_NAME, make_optimizer

    w = Value([1.0], requires_grad=True)
    built = {name: make_optimizer(name, [w], lr=0.1) for name in BY_NAME}
    assert {name: type(opt).__name__ for name, opt in built.items()} == {
        "sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adam": "Adam", "adamw": "AdamW",
        "rmsprop": "RMSprop", "adagrad": "Adagrad", "nadam": "NAdam", "radam": "RAdam", "adamax": "Adamax",
        "adadelta": "Adadelta"}
    assert built["momentum"].param_groups[0]["momentum"] == 0.9 and built["nesterov"].param_groups[0]["nesterov"]
    assert built["sgd"].param_groups[0]["momentum"] == 0 and built["adam"].param_groups[0]["lr"] == 0.1
    assert make_optimizer("rmsprop", [w], 0.1, momentum=0.5).param_groups[0]["momentum"] == 0.5
    with pytest.raises(ValueError, match="Invalid optimizer: 'lbfgs'"):
        make_optimizer("lbfgs", [w], 0.1)
    with pytest.raises(ValueError, match="Invalid momentum: adam"):
        make_optimizer("adam", [w], 0.1, momentum=0.9)


def test_a_hyperparameter_of_the_wrong_type_is_named():
    w = Value([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate: '0.1'"):
        SGD([w], lr="0.1")


# ---- issue 12: atomic steps, loads and schedules; state that makes no sense is refused ----------------------------

def _snapshot(params, opt):
    return [np.array(p.data, copy=True) for p in params], [p.version for p in params], opt.state_dict()


def _matches(snapshot, other):
    return all(np.array_equal(a, b) for a, b in zip(snapshot[0], other[0], strict=True)) and \
        snapshot[1] == other[1] and _same(snapshot[2], other[2])


def _interrupt_everywhere(setup, act):
    """Run `act` once per line it executes, interrupted there; each time the state must be wholly before or after."""
    import sys

    params, opt = setup()
    before = _snapshot(params, opt)
    act(params, opt)
    after = _snapshot(params, opt)
    assert not _matches(before, after)
    outcomes = []
    for n in range(1, 10_000):
        params, opt = setup()
        sys.settrace(interrupt_at(n))
        try:
            act(params, opt)
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        finally:
            sys.settrace(None)
        now = _snapshot(params, opt)
        assert _matches(now, before) or _matches(now, after), f"half-applied when interrupted at line event {n}"
        outcomes.append("before" if _matches(now, before) else "after")
        if not interrupted:
            break
    assert "before" in outcomes and outcomes[-1] == "after" and n > 20  # every line of the step was a target
    return outcomes


def _five_weights(make):
    """Weights of several kinds (arrays, a 0-d scalar, float32, a view), two steps taken, gradients set."""
    def setup():
        base = np.arange(6.0).reshape(2, 3)
        params = [Value(np.array([1.0, 2.0]), requires_grad=True), Value(3.0, requires_grad=True),
                  Value(np.ones((2, 2)), requires_grad=True, dtype="float32"),
                  Value(np.array([4.0, 5.0, 6.0]), requires_grad=True), Value(-1.0, requires_grad=True)]
        params[3].data = base[1]  # data that is a view into another array: written as a new array
        opt = make(params)
        for k in range(3):
            for i, p in enumerate(params):
                p.grad = np.full(p.shape, 0.5 + i + k, dtype=p.dtype)[()]
            if k < 2:
                opt.step()
        return params, opt
    return setup


@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.1),
    lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: Adam(p, lr=0.1, amsgrad=True),
    lambda p: AdamW([{"params": p[:2]}, {"params": p[2:], "lr": 0.5}], lr=0.1),
    lambda p: RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    lambda p: Adagrad(p, lr=0.1),
], ids=["sgd", "nesterov", "adam-amsgrad", "adamw-groups", "rmsprop-centered", "adagrad"])
def test_a_step_interrupted_anywhere_is_wholly_before_or_after(make):
    """Issue 12: Ctrl-C during step() left weights at steps [20, 20, 19, 19, 19, 19]; now there is no such line."""
    outcomes = _interrupt_everywhere(_five_weights(make), lambda params, opt: opt.step())
    assert outcomes.count("after") >= 1


def test_plain_sgds_direct_step_writes_what_sgd_update_would_and_is_as_atomic(monkeypatch):
    """SGD without momentum, weight decay or maximize computes lr·g itself instead of calling sgd_update (the
    fast path of issue 11). Against the same step through sgd_update, on five kinds of weights (arrays, 0-d
    scalars, float32, a view): identical numbers, types, dtypes, versions and state; and a bad gradient in the
    last weight still raises before anything is written."""
    def taken(direct, bad=False):
        if not direct:
            monkeypatch.setattr(SGD, "_plain_lr", lambda self, group: None)  # every group through sgd_update
        params, opt = _five_weights(lambda p: SGD(p, lr=0.1))()
        if bad:
            params[-1].grad = np.ones(3)
            before = _snapshot(params, opt)
            with pytest.raises(ValueError, match="does not match"):
                opt.step()
            assert _matches(_snapshot(params, opt), before)
        else:
            opt.step()
        monkeypatch.undo()
        return [(type(p.data), p.data.dtype, np.array(p.data).tobytes(), p.version) for p in params], opt.state

    assert SGD([Value(1.0, requires_grad=True)], lr=0.1)._plain_lr({"lr": 0.1, "momentum": 0, "weight_decay": 0,
                                                                   "maximize": False}) == 0.1
    assert taken(direct=True) == taken(direct=False)
    assert taken(direct=True, bad=True) == taken(direct=False, bad=True)


def test_a_load_interrupted_anywhere_is_wholly_before_or_after():
    _, source, _ = run(lambda p: Adam(p, lr=0.3, amsgrad=True), steps=3)
    saved = source.state_dict()

    def setup():
        _, opt, w = run(lambda p: Adam(p, lr=0.1, amsgrad=True), steps=1)
        return [w], opt

    _interrupt_everywhere(setup, lambda params, opt: opt.load_state_dict(saved))


def test_a_scheduler_step_interrupted_anywhere_is_wholly_before_or_after():
    def setup():
        w = Value(1.0, requires_grad=True)
        opt = SGD([{"params": [w]}, {"params": [Value(2.0, requires_grad=True)], "lr": 0.5}], lr=0.1)
        setup.scheduler = StepLR(opt, step_size=1, gamma=0.5)
        return [w], opt

    def lrs(opt):
        return [g["lr"] for g in opt.param_groups], setup.scheduler.last_epoch, setup.scheduler.get_last_lr()

    params, opt = setup()
    before = lrs(opt)
    setup.scheduler.step()
    after = lrs(opt)
    import sys
    for n in range(1, 500):
        params, opt = setup()
        sys.settrace(interrupt_at(n))
        try:
            setup.scheduler.step()
            done = True
        except KeyboardInterrupt:
            done = False
        finally:
            sys.settrace(None)
        assert lrs(opt) in (before, after), n
        if done:
            break
    assert n > 5 and lrs(opt) == after


def test_a_complex_second_gradient_changes_nothing():
    """Issue 12: the first weight and its momentum were updated before the second's complex step failed."""
    a, b = Value([1.0, 2.0], requires_grad=True), Value([3.0], requires_grad=True, name="b")
    opt = SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = np.array([1.0, 1.0]), np.array([1.0])
    opt.step()
    before = _snapshot([a, b], opt)
    a.grad, b.grad = np.array([1.0, 1.0]), np.array([1.0 + 2.0j])
    with pytest.raises(TypeError, match=r"gradient of parameter 1 \('b'\) has dtype complex128.*no parameter"):
        opt.step()
    assert _matches(_snapshot([a, b], opt), before)


def test_the_finiteness_policy_is_pytorchs_nan_is_written_not_refused():
    w = Value([1.0, 2.0], requires_grad=True)
    w.grad = np.array([np.inf, 1.0])
    SGD([w], lr=0.1).step()
    assert w.data[0] == -np.inf and w.data[1] == pytest.approx(1.9)


@pytest.mark.parametrize("make, message", [
    (lambda p: StepLR(SGD(p, lr=0.1), step_size=1, gamma=float("nan")), "Invalid gamma: nan"),
    (lambda p: StepLR(SGD(p, lr=0.1), step_size=1, gamma=-1), r"Invalid gamma: -1 \(a finite factor, 0 or more\)"),
    (lambda p: ExponentialLR(SGD(p, lr=0.1), gamma=float("nan")), "Invalid gamma: nan"),
    (lambda p: ExponentialLR(SGD(p, lr=0.1), gamma=-1.0), "Invalid gamma: -1.0"),
    (lambda p: CosineAnnealingLR(SGD(p, lr=0.1), T_max=float("nan")), "Invalid T_max: nan"),
    (lambda p: CosineAnnealingLR(SGD(p, lr=0.1), T_max=10, eta_min=-1), "Invalid eta_min: -1"),
    (lambda p: StepLR(SGD(p, lr=0.1), step_size="2"), "Invalid step_size: '2'"),
    (lambda p: SGD(p, lr=np.array([0.1, 0.2])), r"Invalid learning rate: array\(\[0.1, 0.2\]\) \(one number"),
    (lambda p: Adam(p, betas=5), r"Invalid betas: 5 \(a pair"),
    (lambda p: Adam(p, betas=(0.9, "x")), "Invalid beta parameter at index 1: 'x'"),
    (lambda p: SGD(p, lr=float("nan")), "Invalid learning rate: nan"),
])
def test_schedulers_refuse_what_optimizers_refuse_and_odd_types_are_named(make, message):
    """Issue 12: gamma NaN gave lr NaN, gamma −1 gave −0.1 (ascent); lr=np.array and betas=5 named nothing."""
    with pytest.raises(ValueError, match=message):
        make([Value(1.0, requires_grad=True)])


def test_a_scheduler_step_that_would_make_an_invalid_lr_changes_nothing():
    opt = SGD([Value(1.0, requires_grad=True)], lr=0.1)
    scheduler = ExponentialLR(opt, gamma=0.5)
    scheduler.gamma = -1.0  # set by hand after the checks: the next lr would be -0.1
    with pytest.raises(ValueError, match="ExponentialLR refused the lr of epoch 1: Invalid learning rate: -0.1"):
        scheduler.step()
    assert opt.param_groups[0]["lr"] == 0.1 and scheduler.last_epoch == 0 and scheduler.get_last_lr() == [0.1]


@pytest.mark.parametrize("corrupt, message", [
    (lambda s: s["state"][0].update(step="many"), "'step' of parameter 0 is 'many'"),
    (lambda s: s["state"][0].update(step=-1.0), "'step' of parameter 0 is -1.0"),
    (lambda s: s["state"][0].update(exp_avg=np.array(["a", "b", "c"])), "'exp_avg' of parameter 0 .* dtype <U1"),
    (lambda s: s["state"][0].update(exp_avg=np.ones(3) * 1j), "'exp_avg' of parameter 0 .* dtype complex128"),
    (lambda s: s["param_groups"][0].update(amsgrad="yes"), r"amsgrad='yes' \(a str\), but amsgrad is a flag"),
    (lambda s: s["param_groups"][0].update(lr="0.1"), r"lr='0.1' \(a str\), but lr is a number"),
    (lambda s: s["param_groups"][0].update(betas=0.9), r"betas=0.9 \(a number\), but betas is a pair"),
    (lambda s: s["state"].update({"0": {}}), "refers to parameter '0'"),
    (lambda s: s.pop("state"), "a dict with 'state' and 'param_groups'"),
])
def test_a_load_of_the_wrong_types_is_refused_and_changes_nothing(corrupt, message):
    """Issue 12: load_state_dict took {"step": "many"} and the next step raised TypeError."""
    _, opt, w = run(lambda p: Adam(p, lr=0.1, amsgrad=True), steps=2)
    before = _snapshot([w], opt)
    bad = opt.state_dict()
    corrupt(bad)
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(bad)
    assert _matches(_snapshot([w], opt), before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_step_of_the_parameters_own_kind_skips_the_checks_and_writes_the_same_numbers(dtype):
    """optim._write_step checks a step's dtype and shape (np.result_type, can_cast, broadcast_shapes) only when
    it is not already of the parameter's type, dtype and shape: both paths must write identical numbers."""
    from tinygrad_gd.atomic import commit
    from tinygrad_gd.optim import _write_step

    def written(data, step):
        p = Value(data, dtype=dtype)
        commit([_write_step(p, step, lambda: "p")])
        return p.data

    step = dtype(0.1) * dtype(3.0)
    scalar_fast, scalar_checked = written(1.7, step), written(1.7, np.array(step))  # np.float32 vs a 0-d array
    array_fast, array_checked = written([1.7, -2.3], np.full(2, step)), written([1.7, -2.3], np.array(step))
    assert type(scalar_fast) is type(scalar_checked) is dtype and scalar_fast == scalar_checked
    assert array_fast.dtype == array_checked.dtype == dtype and np.array_equal(array_fast, array_checked)
    with pytest.raises(TypeError, match="cannot be written"):
        _write_step(Value([1.0, 2.0], dtype=dtype), np.ones((2, 2), dtype), lambda: "p")


def test_a_scheduler_load_of_the_wrong_types_is_refused():
    opt = SGD([Value(1.0, requires_grad=True)], lr=0.1)
    scheduler = StepLR(opt, step_size=2)
    state = scheduler.state_dict()
    with pytest.raises(ValueError, match=r"last_epoch='many' \(a str\), but last_epoch is a number"):
        scheduler.load_state_dict({**state, "last_epoch": "many"})
    assert scheduler.state_dict() == state


def _step_until_the_alarm(opt, steps, rng):
    """Step until a SIGALRM (a KeyboardInterrupt, from the caller's handler) lands at a random moment."""
    import signal

    try:
        signal.setitimer(signal.ITIMER_REAL, float(rng.uniform(1e-5, 2e-3)))
        for _ in range(steps):
            opt.step()
    except KeyboardInterrupt:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def test_a_real_ctrl_c_never_splits_a_step():
    """Issue 12's reproduction: a SIGINT during step() left weights at steps [20, 20, 19, 19, 19, 19] (9 of 400
    runs). Here a timer interrupts a loop of steps at arbitrary moments, 400 times; every weight must always have
    taken the same number of steps."""
    import signal

    if not hasattr(signal, "setitimer"):
        pytest.skip("no interval timer on this platform")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    rng, split = np.random.default_rng(0), []
    try:
        for _ in range(400):
            weights = [Value(np.zeros(3), requires_grad=True) for _ in range(6)]
            opt = SGD(weights, lr=1.0)
            for w in weights:
                w.grad = np.ones(3)  # each step subtracts exactly 1
            _step_until_the_alarm(opt, 10_000, rng)
            steps = [float(-w.data[0]) for w in weights]
            if len(set(steps)) != 1 or any(len(set(-w.data)) != 1 for w in weights):
                split.append(steps)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert split == []


# ---- Newton: the hiker is handed the curvature (issue 10) ------------------------------------------------------
def _newton_closure(opt, f, params):
    from tinygrad_gd.autograd import hessian

    def closure():
        opt.zero_grad()
        loss = f(*params)
        loss.backward()
        point = np.concatenate([np.ravel(p.data) for p in params])
        return loss, hessian(lambda v: f(*[v[i] for i in range(len(params))]), point)
    return closure


def test_newton_takes_one_step_to_a_quadratics_minimum_whatever_its_scaling():
    from tinygrad_gd.optim import Newton

    x, y = Value(0.0, requires_grad=True), Value(0.0, requires_grad=True)
    opt = Newton([x, y])
    f = lambda x, y: (x - 1) ** 2 + 1000 * (y + 2) ** 2 + x * y  # noqa: E731
    loss = opt.step(_newton_closure(opt, f, [x, y]))
    assert loss.item() == 4001.0  # the loss before the step
    # the minimum solves [[2, 1], [1, 2000]] (x, y) = (2, -4000)
    np.testing.assert_allclose([x.item(), y.item()], np.linalg.solve([[2, 1], [1, 2000]], [2, -4000]), rtol=1e-12)


def test_newton_half_step_and_damping_follow_the_formula():
    from tinygrad_gd.optim import Newton, newton_update

    np.testing.assert_allclose(newton_update(np.array([6.0]), np.array([[2.0]]), lr=0.5, damping=1.0), [1.0])
    w = Value(5.0, requires_grad=True)
    opt = Newton([w], lr=0.5)
    opt.step(_newton_closure(opt, lambda w: (w - 2) ** 2, [w]))
    assert w.item() == 3.5  # halfway to 2


def test_newton_refuses_without_curvature_and_a_singular_hessian_changes_nothing():
    from tinygrad_gd.optim import Newton

    w = Value([1.0, 2.0], requires_grad=True)
    opt = Newton([w])
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step()
    (w * w).sum().backward()
    with pytest.raises(ValueError, match="singular"):
        opt.step(lambda: (None, np.zeros((2, 2))))
    with pytest.raises(ValueError, match=r"16 entries, but 2 parameter entries need 2×2"):
        opt.step(lambda: (None, np.eye(4)))
    with pytest.raises(ValueError, match="Invalid damping"):
        Newton([w], damping=-1)
    assert w.tolist() == [1.0, 2.0]


# ---- issue 11: plain SGD's direct paths ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lr", [0.1, 3, np.float32(0.1), np.float64(0.1)])
def test_plain_sgd_on_one_scalar_weight_writes_what_the_general_step_writes(dtype, lr, monkeypatch):
    """The article's loop steps one 0-d weight: SGD.step replaces its NumPy scalar directly (0.3 µs, not 1.4).
    Against the general step (Optimizer.step) and sgd_update, for gradients of the weight's type and of others
    (a 0-d array, another dtype, a Value, a Python float set by hand): the same type, dtype, bits and version."""
    from tinygrad_gd.optim import Optimizer

    def taken(way):
        if way == "general":
            monkeypatch.setattr(SGD, "step", Optimizer.step)
        elif way == "sgd_update":
            monkeypatch.setattr(SGD, "_plain_lr", lambda self, group: None)
        results = []
        for g in (dtype(0.75), np.array(0.75, dtype), np.float64(-0.3) if dtype is np.float32 else np.float32(-0.3),
                  Value(0.75, dtype=dtype), 0.5):
            w = Value(1.7, requires_grad=True, dtype=dtype)
            opt = SGD([w], lr=lr)
            for _ in range(3):
                w.grad = g
                opt.step()
            results.append((type(w.data), w.data.dtype, w.data.tobytes(), w.version, opt.state))
        monkeypatch.undo()
        return results

    assert taken("direct") == taken("general") == taken("sgd_update")


def test_plain_sgd_on_one_scalar_weight_refuses_a_bad_gradient_and_skips_a_frozen_weight():
    w = Value(2.0, requires_grad=True)
    opt = SGD([w], lr=0.1)
    w.grad = np.ones(2)  # the wrong shape: the general step's error, nothing written
    with pytest.raises(ValueError, match="does not match"):
        opt.step()
    assert w.item() == 2.0 and w.version == 0
    w.grad = np.complex128(1j)
    with pytest.raises(TypeError, match="must be real"):
        opt.step()
    assert w.item() == 2.0 and w.version == 0
    w.grad = 1.0
    w.requires_grad_(False)
    opt.step()
    assert w.item() == 2.0 and w.version == 0
    opt.zero_grad()
    opt.step()  # no gradient: nothing to do
    assert w.item() == 2.0 and w.version == 0


def test_plain_sgd_on_one_scalar_weight_interrupted_anywhere_is_before_or_after():
    """Its value and its version are written by one line: a Ctrl-C at any line event leaves both before or both
    after, and a real SIGALRM at arbitrary moments never leaves the version out of step with the value."""
    import signal
    import sys

    for n in range(1, 200):
        w = Value(0.0, requires_grad=True)
        opt = SGD([w], lr=1.0)
        w.grad = 1.0
        sys.settrace(interrupt_at(n))
        try:
            opt.step()
            done = True
        except KeyboardInterrupt:
            done = False
        finally:
            sys.settrace(None)
        assert (w.item(), w.version) in ((0.0, 0), (-1.0, 1)), f"half-applied at line event {n}"
        if done:
            break
    assert done and n > 3
    if not hasattr(signal, "setitimer"):
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    rng = np.random.default_rng(0)
    try:
        for _ in range(200):
            w = Value(0.0, requires_grad=True)
            opt = SGD([w], lr=1.0)
            w.grad = 1.0
            _step_until_the_alarm(opt, 100_000, rng)
            assert w.version == -w.item()
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_plain_sgds_scratch_buffer_writes_the_same_numbers_and_touches_no_gradient(monkeypatch):
    """Array weights get lr·g in one scratch buffer per dtype that the optimizer keeps across steps (no new array
    per weight per step). Against sgd_update's `lr * grad`: identical bits for weights of growing and shrinking
    sizes, two dtypes, several steps; the gradients the user holds are never written, and the buffer is no
    weight's and no gradient's memory."""
    rng = np.random.default_rng(0)
    shapes = [(3,), (4, 5), (2,), (6, 7), (1,)]

    def run(direct):
        if not direct:
            monkeypatch.setattr(SGD, "_plain_lr", lambda self, group: None)
        weights = [Value(rng.normal(size=s), requires_grad=True, dtype=d) for s in shapes
                   for d in (np.float32, np.float64)]
        opt = SGD(weights, lr=0.3)
        held = []
        for _ in range(3):
            for w in weights:
                w.grad = rng.normal(size=w.shape).astype(w.dtype)
            held.append([(w.grad.data, w.grad.data.copy()) for w in weights])
            opt.step()
        monkeypatch.undo()
        assert all(np.array_equal(g, copy) for step in held for g, copy in step)  # gradients never written
        buffers = [b for b in getattr(opt, "_scratch", {}).values() if b.base is None]  # (the rest: views)
        assert not any(np.shares_memory(b, x) for b in buffers for w in weights for x in (w.data, w.grad.data))
        return [(w.data.dtype, w.data.tobytes(), w.version) for w in weights], len(buffers)

    rng = np.random.default_rng(0)
    direct, buffers = run(True)
    rng = np.random.default_rng(0)
    general, _ = run(False)
    assert direct == general and buffers == 2  # one buffer per dtype, as large as the largest weight


def test_plain_sgds_array_path_interrupted_anywhere_is_wholly_before_or_after():
    """SGD's direct path for array weights (one group, plain SGD): a Ctrl-C at any line leaves every weight, version
    and scratch-written number wholly before the step or after it."""
    def setup():
        params = [Value(np.arange(3.0) + i, requires_grad=True, dtype=dtype)
                  for i, dtype in enumerate((np.float64, np.float32, np.float64))]
        opt = SGD(params, lr=0.1)
        for k in range(3):
            for i, p in enumerate(params):
                p.grad = np.full(p.shape, 0.5 + i + k, dtype=p.dtype)
            if k < 2:
                opt.step()
        return params, opt

    outcomes = _interrupt_everywhere(setup, lambda params, opt: opt.step())
    assert outcomes.count("after") >= 1
