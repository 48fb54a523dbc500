"""Every op added for PyTorch's names (issue 14): gradchecked in float64 over several shapes, and compared with
PyTorch 2.13 in value and gradient (skipped cleanly without torch).

Each case is one function `fn(t, F, *inputs)` written once for both engines: `t` is the engine (tinygrad_gd or
torch) and `F` its functional namespace (tinygrad_gd itself, or torch.nn.functional), so the very same code line
runs on Values and on tensors. Ops of the sheet are also in test_ops.py's table; the compositions here have no
rule of their own, so this table is where they are checked.
"""

import numpy as np
import pytest

import tinygrad_gd as tg
from tinygrad_gd import Value
from tinygrad_gd.autograd import gradcheck


def _any(rng, shape):
    return rng.normal(size=shape)


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _away_from_zero(rng, shape):
    return rng.uniform(0.3, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _wide(rng, shape):  # relu6, hardsigmoid, hardswish: reach both ends, but stay clear of the kinks
    return rng.choice([-5.0, -1.5, 1.0, 4.2, 7.5], size=shape) + rng.uniform(-0.4, 0.4, size=shape)


def _between_steps(rng, shape):
    return rng.integers(-3, 3, size=shape) + rng.uniform(0.1, 0.4, size=shape)


def _unit(rng, shape):
    return rng.uniform(0.05, 0.95, size=shape)


U = [(), (3,), (2, 3)]  # unary shapes
U1 = [(3,), (2, 3)]  # ... with at least one axis
B = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]  # broadcasting pairs

CASES = {
    # elementwise, on the sheet
    "sin": (lambda t, F, x: x.sin(), (_any,), U),
    "cos": (lambda t, F, x: x.cos(), (_any,), U),
    "tan": (lambda t, F, x: x.tan(), (_unit,), U),
    "log1p": (lambda t, F, x: x.log1p(), (_unit,), U),
    "expm1": (lambda t, F, x: x.expm1(), (_any,), U),
    "erf": (lambda t, F, x: x.erf(), (_any,), U),
    "floor": (lambda t, F, x: x.floor() + x, (_between_steps,), U),
    "ceil": (lambda t, F, x: x.ceil() + x, (_between_steps,), U),
    "round": (lambda t, F, x: x.round() + x, (_between_steps,), U),
    "trunc": (lambda t, F, x: x.trunc() + x, (_between_steps,), U),
    "sign": (lambda t, F, x: x.sign() + x, (_between_steps,), U),
    "maximum": (lambda t, F, x, y: t.maximum(x, y), (_any, _any), B),
    "minimum": (lambda t, F, x, y: t.minimum(x, y), (_any, _any), B),
    "softplus": (lambda t, F, x: F.softplus(x) + F.softplus(x * 3, beta=2.0, threshold=4.0), (_any,), U),
    # elementwise, compositions
    "exp2": (lambda t, F, x: x.exp2(), (_any,), U),
    "log2": (lambda t, F, x: x.log2() + x.log10(), (_positive,), U),
    "rsqrt": (lambda t, F, x: x.rsqrt(), (_positive,), U),
    "reciprocal": (lambda t, F, x: x.reciprocal(), (_positive,), U),
    "square": (lambda t, F, x: x.square(), (_any,), U),
    "frac": (lambda t, F, x: x.frac() * 2, (_between_steps,), U),
    "pow": (lambda t, F, x, y: x.pow(y) + x.pow(3), (_positive, _any), B),
    "clamp": (lambda t, F, x: x.clamp(-0.5, 0.8) + x.clamp(min=0.1), (_any,), U),
    "clamp_values": (lambda t, F, x, y: x.clamp(min=y), (_any, _any), B),
    "gelu": (lambda t, F, x: F.gelu(x) + F.gelu(x * 2, approximate="tanh"), (_any,), U),
    "silu": (lambda t, F, x: F.silu(x), (_any,), U),
    "mish": (lambda t, F, x: F.mish(x), (_any,), U),
    "softsign": (lambda t, F, x: F.softsign(x), (_any,), U),
    "logsigmoid": (lambda t, F, x: F.logsigmoid(x * 5), (_any,), U),
    "elu": (lambda t, F, x: F.elu(x) + F.elu(x, alpha=0.7), (_away_from_zero,), U),
    "celu": (lambda t, F, x: F.celu(x, alpha=0.7), (_away_from_zero,), U),
    "selu": (lambda t, F, x: F.selu(x), (_away_from_zero,), U),
    "leaky_relu": (lambda t, F, x: F.leaky_relu(x) + F.leaky_relu(x, 0.2), (_away_from_zero,), U),
    "hardtanh": (lambda t, F, x: F.hardtanh(x) + F.hardtanh(x, -0.5, 0.8), (_wide,), U),
    "relu6": (lambda t, F, x: F.relu6(x), (_wide,), U),
    "hardsigmoid": (lambda t, F, x: F.hardsigmoid(x), (_wide,), U),
    "hardswish": (lambda t, F, x: F.hardswish(x), (_wide,), U),
    # reductions and scans
    "var": (lambda t, F, x: x.var(dim=-1) + x.var(dim=0, correction=0, keepdim=True).sum(), (_any,), U1),
    "std": (lambda t, F, x: x.std(dim=-1) + x.std(), (_any,), U1),
    "logsumexp": (lambda t, F, x: x.logsumexp(dim=-1) + x.logsumexp(dim=0, keepdim=True).sum(), (_any,), U1),
    "cumsum": (lambda t, F, x: x.cumsum(dim=-1) + x.cumsum(0).sum(), (_any,), U1),
    "prod": (lambda t, F, x: x.prod(dim=-1) + x.prod(), (_away_from_zero,), U1),
    "norm": (lambda t, F, x: x.norm() + x.norm(p=1, dim=-1) + x.norm(p=3, dim=-1) + x.norm(p=float("inf"), dim=-1),
             (_away_from_zero,), U1),
    "amax": (lambda t, F, x: x.amax(dim=-1) + x.amin(dim=0, keepdim=True).sum(), (_any,), U1),
    # shape and indexing
    "unsqueeze": (lambda t, F, x: x.unsqueeze(0) * 2 + x.unsqueeze(1), (_any,), U1),
    "squeeze": (lambda t, F, x: x.squeeze() + x.squeeze(0).sum(), (_any,), [(1, 3), (1, 3, 1)]),
    "expand": (lambda t, F, x: x.expand(2, 3) + x.expand(4, 2, 3).sum(0) + x.expand(2, -1), (_any,),
               [(3,), (1, 3), (2, 1)]),
    "expand_as": (lambda t, F, x, y: x.expand_as(y) * y, (_any, _any), [((3,), (2, 3)), ((2, 1), (2, 3))]),
    "view": (lambda t, F, x: x.view(-1) + x.reshape(-1), (_any,), U1),
    "permute": (lambda t, F, x: x.permute(2, 0, 1).flatten() + x.transpose(0, 2).flatten(), (_any,), [(2, 3, 2)]),
    "flatten": (lambda t, F, x: x.flatten(1).sum(-1) + x.flatten().sum(), (_any,), [(2, 3), (2, 3, 2)]),
    "flip": (lambda t, F, x: x.flip(0) + x.flip(-1) * 2, (_any,), U1),
    "repeat": (lambda t, F, x: x.repeat(2, 3).sum() + x.repeat(2, 1, 2).sum(-1).sum(0), (_any,), U1),
    "tile": (lambda t, F, x: x.tile((2,)).sum() + x.tile((2, 1)), (_any,), U1),
    "pad": (lambda t, F, x: F.pad(x, (1, 2)).sum() + F.pad(x, (1, -1, 2, 0), value=0.5).sum(-1), (_any,),
            [(2, 3), (2, 2, 3)]),
    "tril": (lambda t, F, x: x.tril() + x.triu(1) * 2 + x.tril(-1) * 3, (_any,), [(3, 3), (2, 3, 4)]),
    "split": (lambda t, F, x: t.cat([p * (i + 1) for i, p in enumerate(x.split(2, dim=-1))], -1), (_any,),
              [(5,), (2, 5)]),
    "chunk": (lambda t, F, x: t.cat([p * (i + 1) for i, p in enumerate(x.chunk(3, dim=-1))], dim=-1), (_any,),
              [(5,), (2, 6)]),
    "cat": (lambda t, F, x, y: t.cat([x, y, x], dim=0) + t.stack([x, y], dim=1).sum(1).sum(), (_any, _any),
            [((3,), (3,)), ((2, 3), (2, 3))]),
    "gather": (lambda t, F, x: x.gather(1, t.tensor([[0, 0], [2, 1]])) + x.gather(0, t.tensor([[1, 0, 1]])).sum(),
               (_any,), [(2, 3)]),
    "scatter_add": (lambda t, F, x, y: x.scatter_add(0, t.tensor([[0, 2], [0, 0]]), y), (_any, _any),
                    [((3, 2), (2, 2)), ((4, 3), (2, 2))]),  # src larger than index: PyTorch's backward refuses
    "index_select": (lambda t, F, x: x.index_select(0, t.tensor([2, 0, 2])) + x.index_select(-1, t.tensor([1])),
                     (_any,), [(3,), (3, 3)]),
    "masked_fill": (lambda t, F, x: x.masked_fill(x > 0, 0.5) * 2, (_away_from_zero,), U1),
    "where": (lambda t, F, x, y: t.where(x > 0, x, y), (_away_from_zero, _any), B),
    "clone": (lambda t, F, x: x.clone() * 2, (_any,), U),
    # more names, all compositions
    "neg": (lambda t, F, x: x.neg() + t.neg(x) * 2, (_any,), U),
    "sinh": (lambda t, F, x: x.sinh() + x.cosh() * 2 + x.asinh() * 3, (_any,), U),
    "remainder": (lambda t, F, x, y: x % y + t.remainder(x, y) * 2, (_any, _positive), B),
    "clamp_min": (lambda t, F, x: x.clamp_min(0.1) + x.clamp_max(0.4) * 2, (_any,), U),
    "dot": (lambda t, F, x, y: t.dot(x, y) + t.outer(x, y).sum() + x.unsqueeze(0).mm(y.unsqueeze(1)).sum(),
            (_any, _any), [((3,), (3,))]),
    "broadcast_to": (lambda t, F, x: x.broadcast_to((2, 3)), (_any,), [(3,), (2, 1)]),
    "movedim": (lambda t, F, x: x.movedim(0, 2).flatten() + x.movedim(-1, 0).flatten() * 2, (_any,), [(2, 3, 2)]),
    "narrow": (lambda t, F, x: x.narrow(-1, 1, 2).sum(-1) + t.stack(x.unbind(0), dim=-1).sum(), (_any,),
               [(3, 4)]),
    "roll": (lambda t, F, x: x.roll(1, 0) + x.roll(-2, -1) * 2 + x.roll(4) * 3 + x.roll((1, 2), (0, 1)) * 4,
             (_any,), [(2, 3)]),
    "where_method": (lambda t, F, x, y: x.where(x > 0, y), (_away_from_zero, _any), B),
}


def _cases():
    for name, (fn, domains, shape_list) in CASES.items():
        for shapes in shape_list:
            shapes = (shapes,) if len(domains) == 1 else shapes
            yield pytest.param(fn, domains, shapes, id=f"{name}-{shapes}")


def _inputs(domains, shapes):
    rng = np.random.default_rng(0)
    return [domain(rng, shape) for domain, shape in zip(domains, shapes, strict=True)]


def _weights(shape):
    """Distinct weights for Σ wᵢ·outᵢ, so that a gradient sent to the wrong entry cannot cancel out."""
    return np.linspace(-1.0, 1.5, int(np.prod(shape))).reshape(shape)


@pytest.mark.parametrize("fn, domains, shapes", list(_cases()))
def test_gradcheck(fn, domains, shapes):
    assert gradcheck(lambda *xs: (fn(tg, tg, *xs) * Value(_weights(fn(tg, tg, *xs).shape))).sum(),
                     [Value(a) for a in _inputs(domains, shapes)])


@pytest.mark.parametrize("fn, domains, shapes", list(_cases()))
def test_matches_pytorch_in_value_and_gradient(fn, domains, shapes):
    torch = pytest.importorskip("torch")
    arrays = _inputs(domains, shapes)
    ours = [Value(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, expected = fn(tg, tg, *ours), fn(torch, torch.nn.functional, *theirs)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    (out * Value(_weights(out.shape))).sum().backward()
    (expected * torch.tensor(_weights(tuple(expected.shape)))).sum().backward()
    for x, t in zip(ours, theirs, strict=True):
        got = np.zeros(x.shape) if x.grad is None else np.asarray(x.grad, dtype=float)
        want = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)  # softplus past its threshold: 1 − 2e-9 vs 1


def test_every_new_op_of_the_sheet_is_in_this_table():
    from tinygrad_gd import ops

    new = {"SIN", "COS", "TAN", "LOG1P", "EXPM1", "ERF", "FLOOR", "CEIL", "ROUND", "TRUNC", "SIGN", "SOFTPLUS",
           "MAXIMUM", "MINIMUM", "PROD", "CUMSUM", "EXPAND", "CAST"}
    assert new <= set(ops.ALL_OPS)
    covered = {"CAST": "clone", "EXPAND": "expand", "PROD": "prod", "CUMSUM": "cumsum"}
    assert all(covered.get(name, name.lower()) in CASES for name in new)


def test_ties_split_the_gradient_as_pytorch():
    x, y = Value([1.0, 2.0], requires_grad=True), Value([1.0, 3.0], requires_grad=True)
    tg.maximum(x, y).sum().backward()
    assert x.grad.tolist() == [0.5, 0.0] and y.grad.tolist() == [0.5, 1.0]


def test_var_std_corrections():
    x = np.array([[1.0, 2.0, 4.0], [0.0, -1.0, 3.0]])
    v = Value(x)
    np.testing.assert_allclose(v.var().item(), np.var(x, ddof=1))
    np.testing.assert_allclose(v.var(1, unbiased=False).data, np.var(x, axis=1))
    np.testing.assert_allclose(v.std(axis=0, correction=0, keepdims=True).data, np.std(x, axis=0, keepdims=True))


def test_all_any_and_logsumexp_of_minus_infinity():
    m = tg.tensor([[True, False], [True, True]])
    assert m.all().item() is False and m.all(dim=1).tolist() == [False, True] and m.any(0).tolist() == [True, True]
    assert m.all().dtype == tg.bool
    assert Value([-np.inf, -np.inf]).logsumexp(0).item() == -np.inf  # not NaN


def test_pad_refuses_other_modes_and_split_wrong_sizes():
    with pytest.raises(NotImplementedError, match="only mode='constant'"):
        tg.pad(tg.zeros(2, 2), (1, 1), mode="reflect")
    with pytest.raises(ValueError, match="do not add up to 5"):
        tg.zeros(5).split([2, 2])


def test_masks_from_values():
    x = tg.tensor([1.0, np.nan, np.inf, -2.0])
    assert x.isnan().tolist() == [False, True, False, False] and x.isinf().tolist() == [False, False, True, False]
    assert x.isfinite().tolist() == [True, False, False, True] and x.isfinite().logical_not().tolist()[1]
    assert tg.logical_and(x > 0, x < 5).tolist() == [True, False, False, False]
    assert tg.from_numpy(np.arange(3)).dtype == tg.int64 and x.cpu() is x
    assert (tg.tensor([7.0, -7.0]) // 2).tolist() == [3.0, -4.0] and (tg.tensor([7.0, -7.0]) % 2).tolist() == [1.0, 1.0]


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        tg.gelu(tg.zeros(2), approximate="erf")


@pytest.mark.parametrize("fn, domains, shapes", list(_cases()))
def test_second_derivatives_match_pytorch(fn, domains, shapes):
    """Each new rule is written Value-ready, so differentiating its gradient again (create_graph) agrees with
    PyTorch."""
    torch = pytest.importorskip("torch")
    arrays = _inputs(domains, shapes)
    ours = [Value(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, expected = fn(tg, tg, *ours), fn(torch, torch.nn.functional, *theirs)
    firsts = tg.grad((out * Value(_weights(out.shape))).sum(), ours, create_graph=True, allow_unused=True)
    expected_firsts = torch.autograd.grad((expected * torch.tensor(_weights(tuple(expected.shape)))).sum(), theirs,
                                          create_graph=True, allow_unused=True)
    pairs = [(g, t, x, xt) for g, t, x, xt in zip(firsts, expected_firsts, ours, theirs, strict=True)
             if t is not None and t.requires_grad]
    if not pairs:  # PyTorch's first derivative is constant (x + y, x * 2): ours must be too, and equal
        for g, t, x in zip(firsts, expected_firsts, ours, strict=True):
            want = np.zeros(x.shape) if t is None else t.detach().numpy()
            np.testing.assert_allclose(np.zeros(x.shape) if g is None else np.asarray(g, dtype=float), want,
                                       rtol=1e-7, atol=1e-9)
            if g is not None and g.requires_grad:  # recorded as a graph: differentiating it again gives zero
                again = tg.grad((g * Value(_weights(g.shape) + 0.3)).sum(), ours, allow_unused=True)
                assert all(a is None or not np.asarray(a, dtype=float).any() for a in again)
        return
    score = sum((g * Value(_weights(g.shape) + 0.3)).sum() for g, _, _, _ in pairs)
    expected_score = sum((t * torch.tensor(_weights(tuple(t.shape)) + 0.3)).sum() for _, t, _, _ in pairs)
    try:
        expected_seconds = torch.autograd.grad(expected_score, theirs, allow_unused=True)
    except RuntimeError as error:  # hardsigmoid: "derivative for aten::hardsigmoid_backward is not implemented"
        pytest.skip(f"PyTorch has no second derivative here: {error}")
    if not score.requires_grad:  # the first derivative is piecewise constant here (leaky_relu): ours knows it
        assert all(t is None or not t.any() for t in expected_seconds)
        return
    seconds = tg.grad(score, ours, allow_unused=True)
    for g, t, x in zip(seconds, expected_seconds, ours, strict=True):
        got = np.zeros(x.shape) if g is None else np.asarray(g, dtype=float)
        want = np.zeros(x.shape) if t is None else t.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
