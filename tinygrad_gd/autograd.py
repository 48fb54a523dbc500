"""The map, asked directly: gradients handed back as Values (`grad`), and what they give twice over.

`backward()` stores d(score)/d(weight) in each weight's `.grad`, for the hiker to read. `grad(outputs, inputs)`
runs the same walk (backprop.walk) and returns the gradients instead, touching no `.grad`, as
`torch.autograd.grad` does. With `create_graph=True` those gradients are Values recorded in a graph of their
own, so the map can be drawn of the map: second derivatives, the curvature that decides how large a learning
rate may be. `gradcheck` and `gradgradcheck` hold backpropagation to finite differences (torch.autograd's names).
"""

import numpy as np

from . import backprop
from .value import Value


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """d(outputs)/d(inputs) as a tuple, one gradient per input, leaving every `.grad` alone (torch.autograd.grad).

    `outputs` and `inputs` are Values or sequences of them; `grad_outputs` holds d(score)/d(output) for outputs
    with more than one number. With `create_graph=True` the gradients are Values in a graph of their own, so
    they can be differentiated again, to any order. An input no output depends on raises, naming it, unless
    `allow_unused=True` (then its gradient is None). `retain_graph` is accepted, as in `backward`.

    >>> from tinygrad_gd import Value, grad
    >>> w = Value(5.0, requires_grad=True)
    >>> (slope,) = grad((w - 2) ** 2, w, create_graph=True)
    >>> (curvature,) = grad(slope, w)
    >>> slope.item(), curvature.item()
    (6.0, 2.0)
    """
    del retain_graph  # nothing is freed, so there is nothing to retain
    outputs, inputs = _sequence(outputs), _sequence(inputs)
    grad_outputs = [None] * len(outputs) if grad_outputs is None else _sequence(grad_outputs)
    wanted, found = {id(x): k for k, x in enumerate(inputs)}, [None] * len(inputs)
    for output, d_output in zip(outputs, grad_outputs, strict=True):
        for node, g in backprop.walk(output, backprop.seed(output, d_output, create_graph), create_graph):
            k = wanted.get(id(node))
            if k is not None:
                found[k] = g if found[k] is None else found[k] + g
    for k, (x, g) in enumerate(zip(inputs, found, strict=True)):
        if g is None and not allow_unused:
            who = f"'{x.name}'" if x.name else f"of shape {x.shape}"
            raise RuntimeError(f"grad(): input {k} ({who}) is not used to compute the outputs (or does not require "
                               f"grad), so it has no gradient; pass allow_unused=True to get None for it")
        if g is not None and not isinstance(g, Value):  # a bare array from the walk: the caller gets a Value
            found[k] = Value(g, dtype=x.dtype)
    return tuple(found)


def _sequence(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Check second derivatives against finite differences: `gradcheck` applied to the first derivative.

    With fixed random weights u (one per output entry) and v (one per input entry), the first derivative is
    folded into one number, h(x) = Σₖ vₖ · ∂(u · fn(x))/∂xₖ, computed by `grad(..., create_graph=True)`. Its
    gradient by backpropagation (the map of the map, a Hessian-vector product) must match finite differences
    of h. Returns True or raises AssertionError with gradcheck's table: input, index, both numbers.
    """
    rng = np.random.default_rng(seed)
    shape = np.shape(fn(*[Value(np.array(x.data, dtype=np.float64)) for x in inputs]).data)
    u, vs = Value(rng.normal(size=shape)), [Value(rng.normal(size=x.shape)) for x in inputs]

    def first_derivative(*xs):
        xs = [x if x.requires_grad else Value(x.data, requires_grad=True) for x in xs]  # numeric runs: fresh leaves
        out = fn(*xs)
        if not out.requires_grad:
            return Value(0.0)
        grads = grad((out * u).sum(), xs, create_graph=True, allow_unused=True)
        return sum([(g * v).sum() for g, v in zip(grads, vs, strict=True) if g is not None], Value(0.0))

    try:
        return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol)
    except AssertionError as error:
        raise AssertionError(str(error).replace("gradcheck failed", "gradgradcheck failed (second derivatives: "
                                                "the gradient of v · ∂(u · fn)/∂x)", 1)) from None


def _leaf(x):
    """A fresh float leaf that requires grad, holding x's numbers: the functional helpers never touch x's .grad."""
    return Value(np.array(getattr(x, "data", x), dtype=np.float64), requires_grad=True)


def hvp(f, x, v):
    """The Hessian of `f` at `x` times the vector `v`, by differentiating the gradient once more.

    H·v = ∂/∂x (∇f(x) · v): one backward with `create_graph=True` records ∇f(x) as a graph, a second one
    differentiates its dot product with v. It costs two backward passes, never the whole Hessian. As
    `torch.autograd.functional.hvp`, returns `(f(x), H·v)`.

    >>> value, hv = hvp(lambda w: (w - 2) ** 2, 5.0, 1.0)
    >>> value.item(), hv.item()
    (9.0, 2.0)
    """
    x = _leaf(x)
    out = f(x)
    (slope,) = grad(out, x, create_graph=True)
    v = np.asarray(getattr(v, "data", v), dtype=np.float64)
    if np.shape(v) != x.shape:
        raise ValueError(f"hvp: v has shape {np.shape(v)} but x has shape {x.shape}")
    if not slope.requires_grad:  # the slope does not depend on x: f is linear, its curvature 0
        return out.detach(), Value(np.zeros(x.shape))
    (hv,) = grad((slope * v).sum(), x, allow_unused=True)
    return out.detach(), Value(np.zeros(x.shape)) if hv is None else hv


def hessian(f, x):
    """The matrix of second derivatives ∂²f/∂xᵢ∂xⱼ at x, one hvp per entry of x (so: small inputs only).

    Returns a Value of shape x.shape + x.shape (a 0-d Value, f'', for a single number).

    >>> hessian(lambda v: v[0] ** 2 + 10 * v[1] ** 2 + v[0] * v[1], [1.0, 2.0]).tolist()
    [[2.0, 1.0], [1.0, 20.0]]
    """
    x = _leaf(x)
    columns = [hvp(f, x, np.eye(x.size)[i].reshape(x.shape))[1].data for i in range(x.size)]
    return Value(np.stack(columns, axis=-1).reshape(x.shape + x.shape) if x.ndim else columns[0])


def largest_curvature(f, x, iterations=200, tol=1e-12, seed=0):
    """λmax, the Hessian's eigenvalue of largest size at x, and its direction, by power iteration on hvp.

    Multiply a random vector by H again and again, normalising each time: the component along the steepest
    direction grows fastest and takes over, and v·Hv tends to its curvature. Only Hessian-vector products are
    needed, so it works where the whole Hessian would not fit. Descent is stable for lr < 2/λmax.

    >>> curvature, direction = largest_curvature(lambda v: v[0] ** 2 + 10 * v[1] ** 2, [-4.5, 1.5])
    >>> round(curvature, 9), np.round(np.abs(direction), 6).tolist()
    (20.0, [0.0, 1.0])
    """
    x = _leaf(x)
    v = np.random.default_rng(seed).normal(size=x.shape)
    v, curvature = v / np.linalg.norm(v), 0.0
    for _ in range(iterations):
        hv = hvp(f, x, v)[1].data
        previous, curvature = curvature, float(np.sum(v * hv))
        norm = np.linalg.norm(hv)
        if norm == 0:
            return 0.0, v  # H·v = 0: no curvature in any direction the iteration can see
        v = hv / norm
        if abs(curvature - previous) <= tol * max(1.0, abs(curvature)):
            break
    return curvature, v


def _numerical_gradient(fn, arrays, k, eps):
    """Central differences (f(x + ε) − f(x − ε)) / 2ε for every element of input k."""
    x = arrays[k]
    numeric = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        plus = float(np.sum(fn(*arrays)))
        x[index] = original - eps
        minus = float(np.sum(fn(*arrays)))
        x[index] = original
        numeric[index] = (plus - minus) / (2 * eps)
    return numeric


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4):
    """Check backpropagation against finite differences; return True or raise AssertionError with a table.

    `fn` maps Values to a Value (summed when it holds more than one number); `inputs` are Values. Each input is
    copied into a fresh float64 leaf that requires grad; the analytic gradient comes from `backward`, the
    numerical one from central differences, nudging one element at a time by ±eps. Use float64: in float32
    the differences drown in rounding.
    """
    arrays = [np.array(x.data, dtype=np.float64) for x in inputs]
    values = [Value(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*values)
    if out.requires_grad:  # else fn is a constant of its inputs: every gradient is 0
        backprop.backward(out.sum() if np.size(out.data) != 1 else out)

    def evaluate(*xs):
        return fn(*[Value(x) for x in xs]).data

    for k, value in enumerate(values):
        analytic = np.zeros(arrays[k].shape) if value.grad is None else np.asarray(value.grad, dtype=np.float64)
        numeric = _numerical_gradient(evaluate, arrays, k, eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if np.any(error > 0) or np.any(np.isnan(analytic) != np.isnan(numeric)):
            worst = np.argsort(-np.nan_to_num(error, nan=np.inf), axis=None)[:5]
            rows = "\n".join(
                f"  {str(tuple(int(j) for j in np.unravel_index(i, arrays[k].shape))):>14} "
                f"{analytic.flat[i]:>16.8g} {numeric.flat[i]:>16.8g} {abs(analytic.flat[i] - numeric.flat[i]):>12.3g}"
                for i in worst if error.flat[i] > 0 or np.isnan(error.flat[i]))
            raise AssertionError(
                f"gradcheck failed for input {k} (shape {arrays[k].shape}): backprop and finite differences "
                f"disagree beyond atol={atol}, rtol={rtol}.\n  {'index':>14} {'backprop':>16} {'numerical':>16} "
                f"{'|difference|':>12}\n{rows}")
    return True
