"""Second and third derivatives: the walk run on its own gradients (create_graph) agrees with PyTorch 2.13.

For every op of the sheet, the function of test_ops.py is folded into one number,
h(x) = Σ u·f(x) + ½ Σ f(x)², and the Hessian-vector product ∂(Σ v·∂h/∂x)/∂x is computed twice: here with
`grad(..., create_graph=True)` twice, and by PyTorch with `torch.autograd.grad(..., create_graph=True)` twice.
The ½ Σ f² term makes even the linear ops (add, reshape, getitem, ...) have curvature that must arrive at the
right place. Torch tests skip cleanly without torch; the closed-form checks below do not need it.
"""

import numpy as np
import pytest
from test_ops import CASES

from tinygrad_gd import Value, grad, ops
from tinygrad_gd.value import apply


def _torch_cases(torch):
    F = torch.nn.functional  # noqa: N806 (PyTorch's own spelling)
    t = lambda values: torch.tensor(values, dtype=torch.float64)  # noqa: E731

    def weighted(v):
        return (v * torch.arange(v.numel(), dtype=torch.float64).reshape(v.shape) * 0.1).sum()

    def unfold(x, kernel_size, stride, padding):  # PyTorch's (N, C·kh·kw, L) as our (N, OH, OW, C, kh, kw)
        n, c, h, w = x.shape
        oh, ow = ((h + 2 * padding - kernel_size[0]) // stride + 1, (w + 2 * padding - kernel_size[1]) // stride + 1)
        cols = F.unfold(x, kernel_size, padding=padding, stride=stride)
        return cols.reshape(n, c, *kernel_size, oh, ow).permute(0, 4, 5, 1, 2, 3)

    def fold(cols, shape, kernel_size, stride, padding):
        n, oh, ow, c, kh, kw = cols.shape
        flat = cols.permute(0, 3, 4, 5, 1, 2).reshape(n, c * kh * kw, oh * ow)
        return F.fold(flat, shape[2:], kernel_size, padding=padding, stride=stride)

    return {
        "ADD": lambda x, y: x + y, "SUB": lambda x, y: x - y, "MUL": lambda x, y: x * y,
        "DIV": lambda x, y: x / y, "POW": lambda x, y: x ** y, "NEG": lambda x: -x,
        "POW_SCALAR": lambda x: x ** 3 + x ** 0.5 + x ** -1.5, "EXP": torch.exp, "LOG": torch.log,
        "SQRT": torch.sqrt, "ABS": torch.abs, "TANH": torch.tanh, "SIGMOID": torch.sigmoid, "RELU": torch.relu,
        "CLIP": lambda x: torch.clamp(x, -0.5, 0.8) * 2,
        "SUM": lambda x: x.sum(-1) * 1.5 if x.ndim else x.sum(),
        "MEAN": lambda x: x.mean(0, keepdim=True) * 3 if x.ndim else x.mean(),
        "MAX": lambda x: x.amax(-1) if x.ndim else x.amax(), "MIN": lambda x: x.amin(),
        "SOFTMAX": lambda x: torch.softmax(x, -1) * t([1.0, -2.0, 3.0]),
        "LOG_SOFTMAX": lambda x: torch.log_softmax(x, -1) * t([1.0, -2.0, 3.0]),
        "RESHAPE": lambda x: x.reshape(3, 2) * t([1.0, 2.0]),
        "TRANSPOSE": lambda x: x.permute(*reversed(range(x.ndim))) * t([1.0, 2.0]),
        "GETITEM": lambda x: x[[0, 2, 2, 0], ...] * 2,
        "WHERE": lambda x, y: torch.where(x > 0, x, y * 2),
        "CONCATENATE": lambda x, y: torch.cat([x, y, x], -1) * t([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
        "STACK": lambda x, y: torch.stack([x, y], -1) * t([1.0, -3.0]),
        "MATMUL": lambda x, y: x @ y, "LINEAR": F.linear,
        "BINARY_CROSS_ENTROPY": lambda p, y: F.binary_cross_entropy(p * 0.8 + 0.1, y, reduction="none"),
        "CROSS_ENTROPY": lambda x: F.cross_entropy(x, torch.tensor([2, 0] if x.ndim == 2 else 1), reduction="none")
        * (t([1.0, -2.0]) if x.ndim == 2 else 1.5),
        "FAKE_QUANTIZE": lambda x: x * 3 + torch.fake_quantize_per_tensor_affine(x, 0.1, 0, -2, 2),
        "IM2COL": lambda x: weighted(unfold(x, (2, 2), 1, 1)) + weighted(unfold(x, (2, 1), 2, 0)),
        "SCATTER_ADD": lambda x: weighted(torch.zeros((4,) + x.shape[1:], dtype=x.dtype).index_add(
            0, torch.tensor([0, 2, 2]), x)),
        "COL2IM": lambda x: weighted(fold(x, (1, 2, 3, 3), (2, 2), 1, 1)),
        # the names PyTorch users type (issue 14), as in test_ops.py's CASES
        "SIN": torch.sin, "COS": torch.cos, "TAN": torch.tan, "LOG1P": torch.log1p, "EXPM1": torch.expm1,
        "ERF": torch.erf, "FLOOR": lambda x: x.floor() + x * 0.5, "CEIL": lambda x: x.ceil() + x * 0.5,
        "ROUND": lambda x: x.round() + x * 0.5, "TRUNC": lambda x: x.trunc() + x * 0.5,
        "SIGN": lambda x: x.sign() + x * 0.5,
        "SOFTPLUS": lambda x: F.softplus(x) + F.softplus(x * 3, beta=2.0, threshold=4.0),
        "CAST": lambda x: weighted(x.clone()), "MAXIMUM": torch.maximum, "MINIMUM": torch.minimum,
        "PROD": lambda x: x.prod(-1) * 1.5 if x.ndim else x.prod(), "CUMSUM": lambda x: weighted(x.cumsum(-1)),
        "EXPAND": lambda x: weighted(x.expand(2, 3)),
    }


def _hvp(grad_fn, fn, xs, u, vs, sum_of):
    """∂(Σ v·∂h/∂x)/∂x for h = Σ u·f + ½ Σ f², with the given system's `grad` (ours or torch.autograd.grad)."""
    out = fn(*xs)
    h = sum_of(out * u) + sum_of(out * out) * 0.5
    firsts = grad_fn(h, xs, create_graph=True, allow_unused=True)
    total = sum(sum_of(g * v) for g, v in zip(firsts, vs, strict=True) if g is not None)
    if not getattr(total, "requires_grad", False):
        return [np.zeros(np.shape(v)) for v in vs]  # no curvature at all: every second derivative is 0
    return grad_fn(total, xs, allow_unused=True)


def _cases():
    for name, (fn, domains, shape_list) in CASES.items():
        for shapes in shape_list:
            shapes = (shapes,) if len(domains) == 1 else shapes
            yield pytest.param(name, fn, domains, shapes, id=f"{name}-{shapes}")


@pytest.mark.parametrize("name, fn, domains, shapes", list(_cases()))
def test_second_derivatives_agree_with_pytorch(name, fn, domains, shapes, rng):
    torch = pytest.importorskip("torch")
    arrays = [domain(rng, shape) for domain, shape in zip(domains, shapes, strict=True)]
    out_shape = np.shape(fn(*[Value(a) for a in arrays]).data)
    u, vs = rng.normal(size=out_shape), [rng.normal(size=a.shape) for a in arrays]

    ours = _hvp(grad, fn, [Value(a, requires_grad=True) for a in arrays], Value(u), [Value(v) for v in vs],
                lambda v: v.sum())
    twin = _torch_cases(torch)[name]
    theirs = _hvp(torch.autograd.grad, twin, [torch.tensor(a, requires_grad=True) for a in arrays],
                  torch.tensor(u), [torch.tensor(v) for v in vs], lambda v: v.sum())
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        a = np.zeros(arrays[k].shape) if a is None else np.asarray(a)
        b = np.zeros(arrays[k].shape) if b is None else b.detach().numpy()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=f"{name}: input {k}")


def test_torch_twins_cover_every_op():
    torch = pytest.importorskip("torch")
    assert set(_torch_cases(torch)) == set(ops.ALL_OPS)


def _derivatives(fn, x, order):
    """fn, fn', fn'', ... at the points x (elementwise), each by `grad(..., create_graph=True)` of the last."""
    x = Value(x, requires_grad=True)
    found, f = [], fn(x)
    for _ in range(order):
        (f,) = grad(f.sum(), x, create_graph=True)
        found.append(f.data)
    return found


THIRD = {"tanh": (lambda x: x.tanh(), "tanh"), "sigmoid": (lambda x: x.sigmoid(), "sigmoid"),
         "exp": (lambda x: x.exp(), "exp"), "log": (lambda x: x.log(), "log"),
         "pow": (lambda x: x ** 3.5, None), "pow_value": (lambda x: x ** Value(2.5) + Value(1.5) ** x, None)}


@pytest.mark.parametrize("name", sorted(THIRD))
def test_third_derivatives_agree_with_pytorch(name):
    torch = pytest.importorskip("torch")
    x = np.array([0.3, 0.9, 1.7])
    fn, torch_name = THIRD[name]
    twins = {"pow": lambda t: t ** 3.5, "pow_value": lambda t: t ** 2.5 + 1.5 ** t}
    twin = twins.get(name) or getattr(torch, torch_name)
    t = torch.tensor(x, requires_grad=True)
    f, theirs = twin(t), []
    for _ in range(3):
        (f,) = torch.autograd.grad(f.sum(), t, create_graph=True)
        theirs.append(f.detach().numpy())
    for k, (a, b) in enumerate(zip(_derivatives(fn, x, 3), theirs, strict=True), start=1):
        np.testing.assert_allclose(a, b, rtol=1e-10, err_msg=f"{name}: derivative {k}")


def test_third_derivatives_in_closed_form():
    """No torch needed: eˣ is its own derivative; (ln x)''' = 2/x³; (tanh)'' = −2 tanh (1 − tanh²); x⁴ → 24x."""
    x = np.array([0.3, 0.9, 1.7])
    for found in _derivatives(lambda v: v.exp(), x, 3):
        np.testing.assert_allclose(found, np.exp(x), rtol=1e-12)
    np.testing.assert_allclose(_derivatives(lambda v: v.log(), x, 3)[2], 2 / x ** 3, rtol=1e-12)
    t = np.tanh(x)
    np.testing.assert_allclose(_derivatives(lambda v: v.tanh(), x, 2)[1], -2 * t * (1 - t * t), rtol=1e-12)
    np.testing.assert_allclose(_derivatives(lambda v: v ** 4, x, 3)[2], 24 * x, rtol=1e-12)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(_derivatives(lambda v: v.sigmoid(), x, 2)[1], s * (1 - s) * (1 - 2 * s), rtol=1e-12)


def test_fused_losses_have_curvature():
    """The fused cross-entropy's Hessian in the logits is diag(p) − ppᵀ (softmax's Jacobian), exactly."""
    logits = np.array([0.2, -1.0, 1.5])
    p = np.exp(logits) / np.exp(logits).sum()
    x = Value(logits, requires_grad=True)
    (g,) = grad(apply(ops.CROSS_ENTROPY, x, target=np.array(1)), x, create_graph=True)
    rows = [grad(g[i], x)[0].data for i in range(3)]
    np.testing.assert_allclose(np.stack(rows), np.diag(p) - np.outer(p, p), atol=1e-12)
