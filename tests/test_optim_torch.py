"""NAdam, RAdam, Adamax, Adadelta, `maximize`, and the schedulers added for issue 15, against PyTorch 2.13 step by
step (to 1e-10), plus their state_dict round trips. Every test skips cleanly without torch, except the ones that
check the formulas by hand."""

import math

import numpy as np
import pytest
from test_optim import START, grad_of  # the same hand-written quadratic Σ c·(θ − a)²

from tinygrad_gd import Value
from tinygrad_gd.optim import (
    SGD,
    Adadelta,
    Adam,
    Adamax,
    AdamW,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    NAdam,
    OneCycleLR,
    RAdam,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

OPTIMIZERS = [
    (NAdam, {}), (NAdam, {"lr": 0.05, "weight_decay": 0.1}),
    (NAdam, {"weight_decay": 0.1, "decoupled_weight_decay": True, "momentum_decay": 0.01, "maximize": True}),
    (RAdam, {}), (RAdam, {"lr": 0.1, "weight_decay": 0.05, "betas": (0.8, 0.9)}),
    (RAdam, {"lr": 0.1, "weight_decay": 0.05, "decoupled_weight_decay": True, "maximize": True}),
    (Adamax, {}), (Adamax, {"lr": 0.1, "weight_decay": 0.2, "maximize": True}),
    (Adadelta, {}), (Adadelta, {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1, "eps": 1e-4, "maximize": True}),
    (Adam, {"lr": 0.1, "maximize": True}), (Adam, {"lr": 0.1, "amsgrad": True, "maximize": True}),
    (AdamW, {"lr": 0.1, "maximize": True}),
]


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=[f"{c.__name__}-{kw}" for c, kw in OPTIMIZERS])
def test_trajectory_and_state_match_pytorch(cls, kwargs):
    torch = pytest.importorskip("torch")
    w = Value(START.copy(), requires_grad=True)
    opt = cls([w], **kwargs)
    t = torch.tensor(START.copy(), dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, cls.__name__)([t], **kwargs)
    for _ in range(10):  # RAdam switches on its adaptive step after step 5 or so
        w.grad = grad_of(np.asarray(w.data))
        t.grad = torch.from_numpy(grad_of(t.detach().numpy()))
        opt.step()
        topt.step()
        np.testing.assert_allclose(np.asarray(w.data), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    theirs = topt.state_dict()["state"][0]
    assert set(opt.state[w]) == set(theirs)
    for key, value in theirs.items():
        # PyTorch keeps its scalar state (step, NAdam's mu_product) as float32 tensors: equal to float32's precision
        rtol = 1e-6 if value.dtype == torch.float32 else 1e-10
        np.testing.assert_allclose(np.asarray(opt.state[w][key]), np.asarray(value), rtol=rtol, atol=1e-12,
                                   err_msg=key)


def test_maximize_climbs_and_the_state_dict_round_trip_continues_the_same_path():
    for cls in (NAdam, RAdam, Adamax, Adadelta):
        w = Value(START.copy(), requires_grad=True)
        opt = cls([w], maximize=True)
        w.grad = grad_of(np.asarray(w.data))
        opt.step()
        assert np.all(np.sign(np.asarray(w.data) - START) == np.sign(grad_of(START)))  # uphill
        saved, data = opt.state_dict(), np.array(w.data)
        w2 = Value(data.copy(), requires_grad=True)
        opt2 = cls([w2], maximize=True)
        opt2.load_state_dict(saved)
        for o, v in ((opt, w), (opt2, w2)):
            v.grad = grad_of(np.asarray(v.data))
            o.step()
        np.testing.assert_array_equal(w.data, w2.data)


def test_adadelta_first_step_by_hand():
    w = Value(np.array([2.0]), requires_grad=True)
    opt = Adadelta([w], lr=1.0, rho=0.9, eps=1e-6)
    w.grad = np.array([4.0])
    opt.step()
    v = 0.1 * 16  # square_avg
    delta = math.sqrt(1e-6) / math.sqrt(v + 1e-6) * 4.0
    assert w.item() == pytest.approx(2.0 - delta, rel=1e-12)
    assert opt.state[w]["acc_delta"] == pytest.approx(0.1 * delta ** 2, rel=1e-12)


def _torch_sequence(torch, make, steps, metrics=None, optimizer="SGD", momentum=True):
    t = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([t], lr=0.1, momentum=0.9) if optimizer == "SGD" else torch.optim.Adam([t], lr=0.1)
    scheduler = make(torch.optim.lr_scheduler, topt)
    lrs, moms = [topt.param_groups[0]["lr"]], [_momentum(topt.param_groups[0])]
    for k in range(steps):
        topt.step()
        scheduler.step(*([] if metrics is None else [metrics[k]]))
        lrs.append(topt.param_groups[0]["lr"])
        moms.append(_momentum(topt.param_groups[0]))
    return lrs, moms


def _momentum(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


def _our_sequence(make, steps, metrics=None, optimizer="SGD", restart_at=None):
    """lr (and momentum) after each step; with restart_at, the scheduler and optimizer are rebuilt from their
    state_dicts halfway, which must not change the sequence."""
    import tinygrad_gd.optim as optim

    def build():
        w = Value(0.0, requires_grad=True)
        opt = SGD([w], lr=0.1, momentum=0.9) if optimizer == "SGD" else Adam([w], lr=0.1)
        return opt, make(optim, opt)

    opt, scheduler = build()
    lrs, moms = [opt.param_groups[0]["lr"]], [_momentum(opt.param_groups[0])]
    for k in range(steps):
        if k == restart_at:
            saved_opt, saved = opt.state_dict(), scheduler.state_dict()
            opt, scheduler = build()
            opt.load_state_dict(saved_opt)
            scheduler.load_state_dict(saved)
        scheduler.step(*([] if metrics is None else [metrics[k]]))
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(_momentum(opt.param_groups[0]))
    return lrs, moms


SCHEDULERS = [  # (name, make(module, optimizer), steps, metrics, optimizer)
    ("MultiStepLR", lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.5), 12, None, "SGD"),
    ("LinearLR", lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=4), 8, None, "SGD"),
    ("LinearLR-down", lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=5), 8, None, "SGD"),
    ("LambdaLR", lambda m, o: m.LambdaLR(o, lambda epoch: 0.95 ** epoch + 0.01 * epoch), 10, None, "SGD"),
    ("OneCycleLR", lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=20), 20, None, "SGD"),
    ("OneCycleLR-adam-linear-3", lambda m, o: m.OneCycleLR(o, max_lr=0.5, epochs=3, steps_per_epoch=5,
                                                          anneal_strategy="linear", three_phase=True), 14, None,
     "Adam"),
    ("OneCycleLR-pct", lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=10, pct_start=0.5, div_factor=10,
                                                 final_div_factor=100, cycle_momentum=False), 10, None, "SGD"),
    ("CosineAnnealingWarmRestarts", lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3), 12, None, "SGD"),
    ("CosineAnnealingWarmRestarts-mult", lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2,
                                                                                     eta_min=0.01), 16, None, "SGD"),
    ("ReduceLROnPlateau", lambda m, o: m.ReduceLROnPlateau(o, patience=2, factor=0.5, cooldown=1), 14,
     [5, 4, 4.0, 4.0, 4.0, 3.9996, 3, 3, 3, 3, 3, 3, 3, 3], "SGD"),
    ("ReduceLROnPlateau-max-abs", lambda m, o: m.ReduceLROnPlateau(o, mode="max", threshold=0.1,
                                                                   threshold_mode="abs", patience=1, min_lr=0.02),
     12, [0.1, 0.5, 0.55, 0.58, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7], "SGD"),
    ("ConstantLR", lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=3), 6, None, "SGD"),
    ("PolynomialLR", lambda m, o: m.PolynomialLR(o, total_iters=6, power=2.0), 9, None, "SGD"),
    ("SequentialLR-constant", lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, 0.5, total_iters=2),
                                                             m.PolynomialLR(o, 4)], [2]), 8, None, "SGD"),
    ("SequentialLR", lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.1, total_iters=3),
                                                    m.CosineAnnealingLR(o, T_max=6, eta_min=0.001)], [3]), 12, None,
     "SGD"),
    ("SequentialLR-3", lambda m, o: m.SequentialLR(o, [m.ExponentialLR(o, 0.5), m.StepLR(o, 2, 0.3),
                                                      m.MultiStepLR(o, [1, 2])], milestones=[2, 6]), 10, None, "SGD"),
]


@pytest.mark.parametrize("name, make, steps, metrics, optimizer", SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_schedulers_match_pytorch_and_resume_from_state_dict(name, make, steps, metrics, optimizer):
    ours = _our_sequence(make, steps, metrics, optimizer)
    resumed = _our_sequence(make, steps, metrics, optimizer, restart_at=steps // 2)
    np.testing.assert_allclose(resumed[0], ours[0], rtol=1e-15)
    np.testing.assert_allclose(resumed[1], ours[1], rtol=1e-15)
    torch = pytest.importorskip("torch")
    theirs = _torch_sequence(torch, make, steps, metrics, optimizer)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-15)  # OneCycle's momentum too


def test_warm_restarts_with_fractional_epochs_match_pytorch():
    torch = pytest.importorskip("torch")
    t = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([t], lr=0.1)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=2, T_mult=3)
    opt = SGD([Value(0.0, requires_grad=True)], lr=0.1)
    ours = CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3)
    for epoch in np.arange(0, 12, 0.7):
        theirs.step(epoch)
        ours.step(epoch)
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], rel=1e-10, abs=1e-15)


def test_scheduler_errors_are_named():
    opt = SGD([Value(1.0, requires_grad=True)], lr=0.1)
    for make, message in [
        (lambda: OneCycleLR(opt, max_lr=1.0), r"total_steps OR \(epochs AND steps_per_epoch\)"),
        (lambda: OneCycleLR(opt, max_lr=1.0, total_steps=0), "positive integer total_steps"),
        (lambda: OneCycleLR(opt, max_lr=1.0, total_steps=5, anneal_strategy="exp"), "anneal_strategy"),
        (lambda: ReduceLROnPlateau(opt, factor=1.5), "Factor should be < 1.0"),
        (lambda: ReduceLROnPlateau(opt, mode="best"), "mode best is unknown"),
        (lambda: CosineAnnealingWarmRestarts(opt, T_0=0), "positive integer T_0"),
        (lambda: LinearLR(opt, start_factor=0), "start_factor 0"),
        (lambda: MultiStepLR(opt, milestones=[1.5]), "Invalid milestones"),
        (lambda: LambdaLR(opt, [lambda e: 1.0, lambda e: 2.0]), "Expected 1 callable lr_lambdas"),
        (lambda: SequentialLR(opt, [StepLR(opt, 2), ExponentialLR(opt, 0.9)], milestones=[]), "one more than"),
    ]:
        with pytest.raises(ValueError, match=message):
            make()
    one = OneCycleLR(SGD([Value(1.0, requires_grad=True)], lr=0.1), max_lr=1.0, total_steps=2)
    one.step()
    one.step()
    with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total steps is 2"):
        one.step()
    with pytest.raises(ValueError, match="unexpected keys"):
        StepLR(opt, 2).load_state_dict({"no_such_thing": 1})


def test_base_schedulers_have_a_state_dict_too():
    opt = SGD([Value(1.0, requires_grad=True)], lr=0.1)
    scheduler = CosineAnnealingLR(opt, T_max=5)
    for _ in range(3):
        scheduler.step()
    state = scheduler.state_dict()
    assert state["last_epoch"] == 3 and "optimizer" not in state
    fresh = CosineAnnealingLR(SGD([Value(1.0, requires_grad=True)], lr=0.1), T_max=5)
    fresh.load_state_dict(state)
    scheduler.step()
    fresh.step()
    assert fresh.get_last_lr() == scheduler.get_last_lr()
