"""The derivative sheet: every operation's forward and its local derivative, side by side, once.

An `Op` pairs a forward function on NumPy data with one *rule* per input. A rule answers one question:
"if the score changes by `g` per unit of this op's output, how much does it change per unit of input i?"
That is the vector-Jacobian product, and it is all backpropagation needs from an op.

Every rule has the same signature::

    rule(g, out, *inputs, **params) -> gradient for one input

`g` is d(score)/d(out), `out` is the op's output (rules reuse it where that is cheaper: exp, tanh,
sigmoid, sqrt), `inputs` are the input arrays and `params` the op's non-differentiable settings (an axis, an
exponent, an index). Rules never deal with broadcasting: the walk in backprop.py sums every gradient back to its
input's shape in one place. Rules use only operators and methods that NumPy arrays and Values share, masks
made by comparisons (constants), and ops of this sheet called like functions (`EXP(out)`): so the walk runs the
very same rules on Values when asked to record them (`create_graph=True`), which gives second derivatives. A
rule that needs a backward of its own, a scatter, is an op here too (SCATTER_ADD, COL2IM).

This module imports nothing from tinygrad_gd: it is pure NumPy.
"""

import math
import operator

import numpy as np


class Op:
    """One differentiable operation: a name, a forward on arrays, and one derivative rule per input.

    `name` may hold `{param}` fields, filled from the call's params when shown (`**{exponent}` reads `**2`).
    A *variadic* op (concatenate, stack) takes any number of inputs and has a single rule that is told which
    input it is differentiating through the `position` parameter; it gets the inputs as one list, not unpacked,
    so that each of n calls costs O(1), not O(n) (a stack of 60,000 Values was quadratic).
    """

    __slots__ = ("name", "forward", "rules", "variadic")

    def __init__(self, name, forward, *rules, variadic=False):
        self.name, self.forward, self.rules, self.variadic = name, forward, rules, variadic

    def vjp(self, i, g, out, inputs, params):
        """The gradient flowing to input `i`, given `g` = d(score)/d(out)."""
        if self.variadic:
            return self.rules[0](g, out, inputs, position=i, **params)
        return self.rules[i](g, out, *inputs, **params)

    def __call__(self, *inputs, **params):
        """Use the op inside a rule: its forward on arrays, and recorded on Values (a Value knows how to record,
        so this module never imports value.py)."""
        record = getattr(inputs[0], "_apply", None)
        return record(self, *inputs, **params) if record else self.forward(*inputs, **params)

    def label(self, params):
        """The short text drawn for this op in a graph, e.g. `+`, `**2`, `sum`."""
        return self.name.format_map(params) if "{" in self.name else self.name

    def __repr__(self):
        return f"Op({self.name!r})"


def _sign(x):
    """-1, 0 or +1 elementwise, as a float mask (a constant: masks carry no gradient)."""
    return ((x > 0) * 1.0) - ((x < 0) * 1.0)  # comparisons give NumPy masks on arrays and Values alike


def _unreduce(g, shape, axis, keepdims):
    """Give a reduced gradient back its reduced axes (as size 1), so that it broadcasts against the input."""
    if keepdims or axis is None:
        return g  # already broadcasts: a scalar, or the axes were kept
    axes = {a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)}
    return g.reshape([1 if d in axes else n for d, n in enumerate(shape)])


# ---- binary, elementwise (broadcasting is undone by the walk, never here) -------------------------------------
# Forwards use Python's operators, not NumPy's ufuncs: on NumPy scalars they are several times faster.
ADD = Op("+", operator.add, lambda g, out, x, y: g, lambda g, out, x, y: g)  # d(x+y) = dx + dy
SUB = Op("-", operator.sub, lambda g, out, x, y: g, lambda g, out, x, y: -g)  # d(x-y) = dx - dy
MUL = Op("*", operator.mul, lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)  # d(xy) = y dx + x dy
DIV = Op("/", operator.truediv,
         lambda g, out, x, y: g / y,  # d(x/y)/dx = 1/y
         lambda g, out, x, y: -g * out / y)  # d(x/y)/dy = -x/y² = -out/y


def _pow_exponent_rule(g, out, x, y):
    with np.errstate(invalid="ignore", divide="ignore"):  # ln x of a negative base is NaN, as in PyTorch
        return g * out * LOG(x)  # d(xʸ)/dy = xʸ·ln x


POW = Op("**", operator.pow, lambda g, out, x, y: g * y * x ** (y - 1), _pow_exponent_rule)  # d(xʸ)/dx = y·xʸ⁻¹

# ---- unary, elementwise -----------------------------------------------------------------------------------------
NEG = Op("neg", operator.neg, lambda g, out, x: -g)  # d(-x) = -dx
# d(xⁿ) = n·xⁿ⁻¹ dx; for n = 0 the derivative is 0 everywhere (PyTorch's rule), not 0·x⁻¹ = NaN at x = 0.
POW_SCALAR = Op("**{exponent}", lambda x, exponent: x ** exponent,
                lambda g, out, x, exponent: g * exponent * x ** (exponent - 1) if exponent != 0 else g * 0.0 * x)
EXP = Op("exp", np.exp, lambda g, out, x: g * out)  # d eˣ = eˣ dx
LOG = Op("log", np.log, lambda g, out, x: g / x)  # d ln x = dx / x
SQRT = Op("sqrt", np.sqrt, lambda g, out, x: g / (2 * out))  # d √x = dx / (2√x)
ABS = Op("abs", np.abs, lambda g, out, x: g * _sign(x))  # d|x| = sign(x) dx, and 0 at x = 0 (PyTorch's choice)
TANH = Op("tanh", np.tanh, lambda g, out, x: g * (1 - out * out))  # d tanh = 1 - tanh²
# σ(x) = 1/(1 + e⁻ˣ) written as exp(−log(1 + e⁻ˣ)): logaddexp never overflows, so x = ±1000 stays finite.
SIGMOID = Op("sigmoid", lambda x: np.exp(-np.logaddexp(0, -x)),
             lambda g, out, x: g * out * (1 - out))  # d σ = σ(1 - σ)


def _relu(x):
    """max(x, 0): x where x > 0, NaN stays NaN, else +0.0 (np.maximum's answer, -0.0 included). One float32 or
    float64 number is compared directly: NumPy's ufunc call costs ~1.5 µs on a scalar, the comparison 40 ns."""
    zero = _ZERO.get(type(x))  # None for an array
    return np.maximum(x, 0) if zero is None else x if x > 0 or x != x else zero


_ZERO = {np.float32: np.float32(0), np.float64: np.float64(0)}
# relu'(0) = 0, as in PyTorch: the kink's gradient is a convention, and 0 keeps dead units dead. The mask is read
# from out, the same mask as x > 0 (NaN included): in a network the matmul rule has just read out (in cache), not x.
RELU = Op("relu", _relu, lambda g, out, x: g * (out > 0))
CLIP = Op("clip", lambda x, low, high: np.clip(x, low, high),
          # gradient passes only strictly inside the bounds; at or beyond them the output does not move with x
          lambda g, out, x, low, high: g * ((x > (-np.inf if low is None else low))
                                            & (x < (np.inf if high is None else high))))


def _grid(x, scale, zero_point):  # np.rint rounds half to even like PyTorch's nearbyint; x·(1/s) as PyTorch, not x/s
    x = np.asarray(x)  # the grid is a constant (a Value's numbers when the rule runs on Values)
    return np.rint(x * (np.ones((), np.result_type(x, np.float32)) / scale)) + zero_point


# round to the grid, clamp, map back; rule: straight-through, 1 where the grid point is in [quant_min, quant_max]
FAKE_QUANTIZE = Op("fake_quantize", lambda x, scale, zero_point, quant_min, quant_max:
                   (np.clip(_grid(x, scale, zero_point), quant_min, quant_max) - zero_point) * scale,
                   lambda g, out, x, scale, zero_point, quant_min, quant_max: g * (np.abs(
                       _grid(x, scale, zero_point) - (quant_min + quant_max) / 2) <= (quant_max - quant_min) / 2))

# ---- reductions -------------------------------------------------------------------------------------------------
def _spread(g, x, axis, keepdims, scale=1):  # d Σ, d mean: g·scale over the summed axes of x, an array of its own
    g = _unreduce(g, x.shape, axis, keepdims)  # (on arrays: g·scale on the reduced g, copied out in one pass)
    if isinstance(g, (np.ndarray, np.generic)):
        return np.full(x.shape, g * scale) if x.shape else g * scale
    return g * np.full(x.shape, scale, g.dtype)


SUM = Op("sum", lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims),  # d Σx = 1 for every x
         lambda g, out, x, axis, keepdims: _spread(g, x, axis, keepdims))


def _mean(x, axis, keepdims):
    """np.mean's own arithmetic (sum, then divide by the count) without its 4 µs of Python per call."""
    total = x.sum(axis=axis, keepdims=keepdims)
    return total / (x.size // max(total.size, 1))


MEAN = Op("mean", _mean,  # d mean = 1/n; counted by shapes: a Value's size() is a method
          lambda g, out, x, axis, keepdims: _spread(g, x, axis, keepdims, math.prod(out.shape) / math.prod(x.shape)))


def _extreme_rule(g, out, x, axis, keepdims):
    """d max: the gradient goes to the winner; ties share it equally (PyTorch's amax/amin convention)."""
    winners = np.equal(np.asarray(x), np.asarray(_unreduce(out, np.shape(x), axis, keepdims))) * 1.0  # constant
    return _unreduce(g, np.shape(x), axis, keepdims) * winners / winners.sum(axis=axis, keepdims=True)


MAX = Op("max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims), _extreme_rule)
MIN = Op("min", lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims), _extreme_rule)


# ---- softmax family (subtracting the max keeps exp from overflowing; it cancels out of the result) -------------
def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)  # the methods: np.max and np.sum add 1 µs of Python each
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


SOFTMAX = Op("softmax", lambda x, axis: np.exp(_log_softmax(x, axis)),
             # d softmax: s ⊙ (g − Σ g·s)
             lambda g, out, x, axis: out * (g - (g * out).sum(axis=axis, keepdims=True)))
LOG_SOFTMAX = Op("log_softmax", _log_softmax,
                 # d log_softmax: g − softmax ⊙ Σ g
                 lambda g, out, x, axis: g - EXP(out) * g.sum(axis=axis, keepdims=True))


# ---- losses with a derivative of their own ------------------------------------------------------------------------
def _at(target, x):  # where x[n, target[n]] lies in x.reshape(-1), every row n (x[target] for one row of logits):
    width = x.shape[-1]  # one flat index, which NumPy reads and writes in half the time of the pair (rows, target)
    return np.arange(0, len(target) * width, max(width, 1)) + target if x.ndim == 2 else target


def _cross_entropy(x, target):
    """−(x[t] − max − log Σ exp(x − max)) per row, as _log_softmax; max via a transposed copy (NumPy: 40 ns/row)."""
    shifted = x - _column(np.maximum.reduce(np.ascontiguousarray(x.T) if x.ndim == 2 else x, axis=0))
    return -(shifted.reshape(-1)[_at(target, x)] - np.log(np.exp(shifted).sum(axis=-1)))


def _cross_entropy_rule(g, out, x, target):
    """d(−log softmax(x)[t]) = softmax(x) − onehot(t), per row; softmax comes cheaply from out = lse(x) − x[t]."""
    at = _at(target, x)
    probs = EXP(x - _column(out + x.reshape(-1)[at]))  # exp(x − lse(x)): no max or sum to recompute
    if type(probs) is np.ndarray and probs.flags.c_contiguous:  # arrays: the same arithmetic in place, in the
        probs.reshape(-1)[at] -= 1  # buffer exp made (nothing recorded); reshape is a view of it
        probs *= _column(g)
        return probs
    return (probs - np.equal(target[..., None], np.arange(np.shape(x)[-1]))) * _column(g)


def _column(v):
    return v.reshape(v.shape + (1,))  # v[..., None], by reshape: its derivative needs no scatter


# cross_entropy(x, t) = −log softmax(x)[t] per row, fused into one node: four nodes' bookkeeping cost more than
# the arithmetic at MLP sizes. The target (class indices) is a param: it takes no gradient.
CROSS_ENTROPY = Op("cross_entropy", _cross_entropy, _cross_entropy_rule)


def _log_at_least_minus_100(x):
    with np.errstate(divide="ignore"):  # log 0 = -inf, then clamped: probabilities of exactly 0 or 1 stay finite
        return LOG(x).clip(min=-100.0)


# bce(p, t) = −t·log p − (1 − t)·log(1 − p), logs clamped at −100 as in PyTorch. Its rule is PyTorch's too:
# d/dp = (p − t) / max(p(1 − p), ε), finite at p = 0 or 1 where composing the clamped logs would give 0/0.
# ε is PyTorch's `EPSILON = 1e-12` as a C float, 9.99999996e-13, so even the ±1e12 slopes agree.
BINARY_CROSS_ENTROPY = Op(
    "bce", lambda p, t: -(t * _log_at_least_minus_100(p) + (1 - t) * _log_at_least_minus_100(1 - p)),
    lambda g, out, p, t: g * (p - t) / (p * (1 - p)).clip(min=float(np.float32(1e-12))),
    lambda g, out, p, t: g * (_log_at_least_minus_100(1 - p) - _log_at_least_minus_100(p)))  # d/dt


# ---- shape ------------------------------------------------------------------------------------------------------
RESHAPE = Op("reshape", lambda x, shape: np.reshape(x, shape),
             lambda g, out, x, shape: g.reshape(np.shape(x)))  # reshape back
TRANSPOSE = Op("transpose", lambda x, axes: np.transpose(x, axes),
               lambda g, out, x, axes: g.transpose(*() if axes is None else np.argsort(axes).tolist()))  # inverse


def _scatter_add(g, shape, index):
    """Zeros of `shape` with g added at `index`; repeated integer indices must add up, so np.add.at."""
    grad = np.zeros(shape, dtype=g.dtype)
    np.add.at(grad, index, g)
    return grad


GETITEM = Op("[]", lambda x, index: x[index],
             lambda g, out, x, index: SCATTER_ADD(g, shape=x.shape, index=index))  # d x[i]: g back at i
SCATTER_ADD = Op("scatter_add", _scatter_add, lambda g, out, src, shape, index: g[index])  # d scatter = gather
WHERE = Op("where", lambda x, y, condition: np.where(condition, x, y),
           lambda g, out, x, y, condition: g * condition,  # d where(c, x, y)/dx = c
           lambda g, out, x, y, condition: g * ~condition)  # ... /dy = not c


def _concatenate_rule(g, out, inputs, axis, ends, position):  # ends: where each input's slab ends, from value.py
    index = [slice(None)] * np.ndim(g)
    index[axis] = slice(ends[position] - np.shape(inputs[position])[axis], ends[position])
    return g[tuple(index)]  # each input gets back its own slab of the gradient


CONCATENATE = Op("concatenate", lambda *xs, axis, ends: np.concatenate(xs, axis=axis), _concatenate_rule,
                 variadic=True)
STACK = Op("stack", lambda *xs, axis: np.stack(xs, axis=axis),  # each input gets back its own slice
           lambda g, out, inputs, axis, position: g[(slice(None),) * (axis % np.ndim(g)) + (position,)],
           variadic=True)


# ---- images: im2col turns a convolution into one matrix product (nn.Conv2d, nn.MaxPool2d) -------------------
def _im2col(x, kernel_size, stride, padding):
    """(N, C, H, W) -> (N, OH, OW, C, kh, kw): every patch the kernel sees, read through a strided view."""
    p = padding
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel_size, axis=(2, 3))[:, :, ::stride, ::stride]
    return np.ascontiguousarray(windows.transpose(0, 2, 3, 1, 4, 5))


def _col2im(g, shape, kernel_size, stride, padding):
    """Each patch entry came from one pixel, so add it back there (a pixel seen by k patches gets k)."""
    n, c, h, w = shape
    oh, ow = np.shape(g)[1:3]
    grad = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=np.result_type(g))
    for i in range(kernel_size[0]):  # a loop over the kernel's few offsets, never over pixels
        for j in range(kernel_size[1]):
            grad[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += g[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return grad[:, :, padding:padding + h, padding:padding + w]


IM2COL = Op("im2col", _im2col,  # d im2col = col2im, and the other way round: each is the other's transpose
            lambda g, out, x, **params: COL2IM(g, shape=x.shape, **params))
COL2IM = Op("col2im", _col2im, lambda g, out, cols, shape, **params: IM2COL(g, **params))


# ---- matrix product ---------------------------------------------------------------------------------------------
def _as_matrices(g, x, y):
    """View 1-d operands as matrices (x a row, y a column) the way np.matmul does, and g to match."""
    if x.ndim == 2 and y.ndim == 2:
        return g, x, y  # plain matrices, the usual case: nothing to view (broadcast_shapes alone costs 3 µs)
    x = x.reshape(1, -1) if np.ndim(x) == 1 else x
    y = y.reshape(-1, 1) if np.ndim(y) == 1 else y
    batch = np.broadcast_shapes(np.shape(x)[:-2], np.shape(y)[:-2])
    return g.reshape(batch + (np.shape(x)[-2], np.shape(y)[-1])), x, y


def _matmul_rule_x(g, out, x, y):
    g, x2, y2 = _as_matrices(g, x, y)
    grad = g @ y2.swapaxes(-1, -2)  # dL/dX = G Yᵀ
    return grad[..., 0, :] if x.ndim == 1 else grad


def _matmul_rule_y(g, out, x, y):
    g, x2, y2 = _as_matrices(g, x, y)
    grad = x2.swapaxes(-1, -2) @ g  # dL/dY = Xᵀ G
    return grad[..., 0] if y.ndim == 1 else grad


MATMUL = Op("matmul", operator.matmul, _matmul_rule_x, _matmul_rule_y)

# nn.Linear's y = x Wᵀ + b as one node (PyTorch's F.linear). Composed of `.T`, `@` and `+`, W's gradient would
# arrive transposed, and making it contiguous costs as much as the add itself; here it is computed as Gᵀx directly.
LINEAR = Op("linear", lambda x, weight, bias: x @ weight.T + bias,
            lambda g, out, x, weight, bias: g @ weight,  # dL/dx = G W
            lambda g, out, x, weight, bias: g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1]),  # Σ Gᵀx
            lambda g, out, x, weight, bias: g)  # dL/db = G, summed over the batch by the walk


# ==== the names PyTorch users type (issue 14) ====================================================================
# Only genuinely new derivatives are here; compositions (gelu, var, pad, ...) are written in functional.py.
def _erf(x):
    """erf elementwise: NumPy has none, and math.erf is exact to rounding (slow for big arrays, but correct)."""
    return np.vectorize(math.erf, otypes=[np.result_type(x, 1.0)])(x)[()]


def _zero(g, out, x):
    return g * 0.0  # a step function is flat between its jumps: PyTorch's gradient is 0 everywhere


def _wins(x, y):
    return (x > y) + (x == y) * 0.5  # 1 where x is the larger, 0 where smaller; a tie is split evenly (PyTorch)


def _flip(a, axis):
    return a[(slice(None),) * (axis % a.ndim) + (slice(None, None, -1),)]


# ---- more unary, elementwise ------------------------------------------------------------------------------------
SIN = Op("sin", np.sin, lambda g, out, x: g * COS(x))  # d sin = cos
COS = Op("cos", np.cos, lambda g, out, x: -g * SIN(x))  # d cos = −sin
TAN = Op("tan", np.tan, lambda g, out, x: g * (1 + out * out))  # d tan = 1 + tan²
LOG1P = Op("log1p", np.log1p, lambda g, out, x: g / (1 + x))  # d ln(1 + x) = 1/(1 + x); exact near x = 0
EXPM1 = Op("expm1", np.expm1, lambda g, out, x: g * (out + 1))  # d (eˣ − 1) = eˣ
ERF = Op("erf", _erf, lambda g, out, x: g * (2 / math.sqrt(math.pi)) * EXP(-x * x))  # d erf = 2/√π·e^(−x²)
FLOOR, CEIL, TRUNC = Op("floor", np.floor, _zero), Op("ceil", np.ceil, _zero), Op("trunc", np.trunc, _zero)
ROUND, SIGN = Op("round", np.round, _zero), Op("sign", np.sign, _zero)  # round: half to even, as PyTorch
# softplus = ln(1 + e^(βx))/β, and x itself once βx > threshold (PyTorch's guard against overflow);
# d softplus = σ(βx) = 1 − e^(−β·out), with expm1 so it stays exact where out is tiny
SOFTPLUS = Op("softplus",
              lambda x, beta, threshold: np.where(x * beta > threshold, x, np.logaddexp(0, x * beta) / beta)[()],
              lambda g, out, x, beta, threshold: -g * EXPM1(out * -beta))
CAST = Op("to {dtype}", lambda x, dtype: x.astype(dtype), lambda g, out, x, dtype: g.astype(x.dtype))  # d = 1

# ---- binary, elementwise ----------------------------------------------------------------------------------------
MAXIMUM = Op("maximum", np.maximum, lambda g, out, x, y: g * _wins(x, y), lambda g, out, x, y: g * _wins(y, x))
MINIMUM = Op("minimum", np.minimum, lambda g, out, x, y: g * _wins(y, x), lambda g, out, x, y: g * _wins(x, y))

# ---- reductions and scans ---------------------------------------------------------------------------------------
PROD = Op("prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),  # d Πx/dxᵢ = Πx / xᵢ
          lambda g, out, x, axis, keepdims: _unreduce(g * out, np.shape(x), axis, keepdims) / x)  # (NaN at xᵢ = 0)
# d cumsum: xᵢ feeds every outⱼ with j ≥ i, so its gradient is the running sum of g taken from the end
CUMSUM = Op("cumsum", lambda x, axis: np.cumsum(x, axis),
            lambda g, out, x, axis: _flip(_flip(g, axis).cumsum(axis=axis), axis))

# ---- shape and indexing -----------------------------------------------------------------------------------------
# expand is a broadcast: g goes back whole, and the walk's sum_to_shape adds up the copies, exactly as for `+`
EXPAND = Op("expand", lambda x, shape: np.broadcast_to(x, shape), lambda g, out, x, shape: g)

ALL_OPS = {name: op for name, op in globals().items() if isinstance(op, Op)}
