"""PyTorch's tensor functions that are compositions of the sheet's ops: no new derivative rule, only algebra.

Each function is a module function (`tinygrad_gd.gelu(x)`) and a Value method (`x.gelu()`): the tables at the
bottom, METHODS and FUNCTIONS, list every name this module gives to Value and to tinygrad_gd (grep a name to find
its one definition). Backprop differentiates each through the ops it is made of, so its gradient is right by
construction, kinks included where the parts agree with PyTorch (noted where they do not); the op-table test
gradchecks every one anyway and compares it with PyTorch.

Axes are PyTorch's `dim=` (with `keepdim=`) or NumPy's `axis=` (with `keepdims=`), whichever is written.

>>> import tinygrad_gd as torch
>>> x = torch.tensor([[1.0, 2.0, 3.0]])
>>> x.unsqueeze(0).shape, x.squeeze().shape, x.var(dim=1).item(), torch.cat([x, x], dim=0).shape
((1, 1, 3), (3,), 1.0, (2, 3))
"""

import itertools
import math

import numpy as np

from . import ops
from .value import Value, _axis, _constant, _leaf, _raw, apply


def _as_value(x):
    return x if isinstance(x, Value) else Value(x)


def _reduced_count(x, axis):
    """How many entries each result of a reduction over `axis` (None: all) combines."""
    if axis is None:
        return x.numel()
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    return math.prod(x.shape[a] for a in axes)


# ---- elementwise -------------------------------------------------------------------------------------------------
def exp2(x):
    return 2.0 ** x


def log2(x):
    return x.log() / math.log(2)


def log10(x):
    return x.log() / math.log(10)


def rsqrt(x):
    return 1 / x.sqrt()


def reciprocal(x):
    return 1 / x


def square(x):
    return x ** 2


def frac(x):
    """x − trunc(x): the gradient is 1 (trunc's is 0), as in PyTorch."""
    return x - x.trunc()


def _pow(x, exponent):
    return x ** exponent


def maximum(x, other):
    """Elementwise larger; on a tie each side gets half the gradient, as in PyTorch."""
    return apply(ops.MAXIMUM, _as_value(x), _constant(other, _as_value(x)))


def minimum(x, other):
    return apply(ops.MINIMUM, _as_value(x), _constant(other, _as_value(x)))


def clamp(x, min=None, max=None):  # noqa: A002 (PyTorch's names)
    """clip to [min, max]; Values as bounds get gradients too (through maximum/minimum)."""
    if isinstance(min, Value) or isinstance(max, Value):
        x = x if min is None else maximum(x, min)
        return x if max is None else minimum(x, max)
    return x.clip(min, max)


def softplus(x, beta=1.0, threshold=20.0):
    """ln(1 + e^(βx))/β, and x itself where βx > threshold (PyTorch's switch; its gradient there is 1 − 2e-9)."""
    return apply(ops.SOFTPLUS, x, beta=beta, threshold=threshold)


def logsigmoid(x):
    """log σ(x) = −softplus(−x), without overflow for large |x|."""
    return -softplus(-x, threshold=math.inf)


def gelu(x, approximate="none"):
    """x·Φ(x), Φ the normal CDF via erf; approximate='tanh' is PyTorch's tanh formula."""
    if approximate == "tanh":
        return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)).tanh())
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return 0.5 * x * (1 + (x * (1 / math.sqrt(2))).erf())


def silu(x):
    return x * x.sigmoid()


def mish(x):
    return x * softplus(x).tanh()


def softsign(x):
    return x / (1 + abs(x))


def elu(x, alpha=1.0):
    """x for x > 0, α(eˣ − 1) below; the inner where keeps eˣ from overflowing in the branch not taken."""
    return where(x > 0, x, alpha * where(x > 0, 0.0, x).expm1())


def celu(x, alpha=1.0):
    return where(x > 0, x, alpha * (where(x > 0, 0.0, x) / alpha).expm1())


def selu(x):
    return 1.0507009873554804934193349852946 * elu(x, 1.6732632423543772848170429916717)


def leaky_relu(x, negative_slope=0.01):
    return where(x > 0, x, x * negative_slope)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """clip to [min_val, max_val]; the gradient passes strictly inside, as in PyTorch."""
    return x.clip(min_val, max_val)


def relu6(x):
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x):
    return (x + 3).clip(0.0, 6.0) / 6


def hardswish(x):
    """x·relu6(x + 3)/6 (at exactly x = ±3 the gradient differs from PyTorch's, which jumps there)."""
    return x * hardsigmoid(x)


# ---- reductions --------------------------------------------------------------------------------------------------
def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False):
    """Σ(x − mean)² / (n − correction); correction 1 (Bessel's) unless unbiased=False or given, as in PyTorch."""
    axis, keepdim = _axis(dim, axis), keepdim or keepdims
    correction = (1 if unbiased is None or unbiased else 0) if correction is None else correction
    centred = x - x.mean(axis=axis, keepdims=True)
    return (centred * centred).sum(axis=axis, keepdims=keepdim) / (_reduced_count(x, axis) - correction)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False):
    return var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims).sqrt()


def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """log Σ eˣ over `dim`, shifted by the (constant) max so that exp never overflows."""
    axis, keepdim = _axis(dim, axis), keepdim or keepdims
    top = np.max(x.data, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # all −inf: log 0 = −inf, not NaN
    with np.errstate(divide="ignore"):  # log 0 = −inf is the right answer for all −inf
        out = (x - top).exp().sum(axis=axis, keepdims=keepdim).log()
    return out + (top if keepdim else np.squeeze(top, axis=axis))


def cumsum(x, dim=None, *, axis=None):
    return apply(ops.CUMSUM, x, axis=_axis(dim, axis))


def prod(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """Π over `dim`; its gradient Π/xᵢ is NaN where an entry is exactly 0 (PyTorch's is exact there)."""
    return apply(ops.PROD, x, axis=_axis(dim, axis), keepdims=keepdim or keepdims)


def norm(x, p="fro", dim=None, keepdim=False, *, axis=None, keepdims=False):
    """(Σ|x|ᵖ)^(1/p) over `dim` (all entries by default; 'fro' is p = 2). At x = 0 the 2-norm's gradient is NaN
    here (√ at 0), where PyTorch returns 0."""
    axis, keepdim = _axis(dim, axis), keepdim or keepdims
    if p in ("fro", 2):
        return (x * x).sum(axis=axis, keepdims=keepdim).sqrt()
    if p == math.inf:
        return abs(x).max(axis=axis, keepdims=keepdim)
    if p == -math.inf:
        return abs(x).min(axis=axis, keepdims=keepdim)
    if p == 1:
        return abs(x).sum(axis=axis, keepdims=keepdim)
    return (abs(x) ** p).sum(axis=axis, keepdims=keepdim) ** (1 / p)


def amax(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """The largest entries along `dim` (values only); ties share the gradient equally, as in PyTorch."""
    return x.max(axis=_axis(dim, axis), keepdims=keepdim or keepdims)


def amin(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    return x.min(axis=_axis(dim, axis), keepdims=keepdim or keepdims)


def _all(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    return _leaf(np.asarray(np.all(x.data, axis=_axis(dim, axis), keepdims=keepdim or keepdims))[()])


def _any(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    return _leaf(np.asarray(np.any(x.data, axis=_axis(dim, axis), keepdims=keepdim or keepdims))[()])


def _max(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """`tinygrad_gd.max(x)`, `max(x, dim)` ((values, indices)) or `max(x, other)` (elementwise), as torch.max."""
    if isinstance(dim, (Value, np.ndarray)):
        return maximum(x, dim)
    return _as_value(x).max(dim, keepdim, axis=axis, keepdims=keepdims)


def _min(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    if isinstance(dim, (Value, np.ndarray)):
        return minimum(x, dim)
    return _as_value(x).min(dim, keepdim, axis=axis, keepdims=keepdims)


# ---- shape -------------------------------------------------------------------------------------------------------
def _sizes(sizes):
    return tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else tuple(sizes)


def view(x, *shape):
    """reshape (NumPy arrays need no contiguity, so view and reshape are the same here)."""
    return x.reshape(*shape)


def unsqueeze(x, dim):
    """A new axis of length 1 at `dim` (negative counts from the end of the result, as in PyTorch)."""
    shape = list(x.shape)
    shape.insert(dim % (x.ndim + 1), 1)
    return x.reshape(shape)


def squeeze(x, dim=None, *, axis=None):
    """Drop axes of length 1: all of them, or those in `dim` (a `dim` whose length is not 1 is kept, as in PyTorch)."""
    dims = _axis(dim, axis)
    dims = range(x.ndim) if dims is None else [dims] if isinstance(dims, (int, np.integer)) else dims
    drop = {d % x.ndim for d in dims if x.shape[d] == 1} if x.ndim else set()
    return x.reshape([n for d, n in enumerate(x.shape) if d not in drop])


def expand(x, *sizes):
    """Broadcast to `sizes` without copying (-1 keeps an axis); the gradient sums the copies back."""
    sizes, lead = _sizes(sizes), len(_sizes(sizes)) - x.ndim
    return apply(ops.EXPAND, x, shape=tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)))


def expand_as(x, other):
    return expand(x, other.shape)


def permute(x, *dims):
    return x.transpose(_sizes(dims))


def t(x):
    """The transpose of a matrix (a 0-d or 1-d Value is returned as it is, as in PyTorch)."""
    return x if x.ndim < 2 else x.transpose(1, 0)


def flatten(x, start_dim=0, end_dim=-1):
    """Axes start_dim..end_dim merged into one (all of them by default)."""
    if x.ndim == 0:
        return x.reshape(1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])


def unflatten(x, dim, sizes):
    dim = dim % x.ndim
    return x.reshape(x.shape[:dim] + tuple(sizes) + x.shape[dim + 1:])


def flip(x, *dims):
    """Reverse the order along `dims` (`flip(0)`, `flip(0, 1)` or `flip([0, 1])`); a reversing slice, no new rule."""
    dims = _sizes(dims)
    return x[tuple(slice(None, None, -1) if d in {a % x.ndim for a in dims} else slice(None) for d in range(x.ndim))]


def repeat(x, *sizes):
    """PyTorch's repeat (NumPy's tile): `sizes[i]` copies along axis i; extra sizes add leading axes."""
    sizes = _sizes(sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat needs at least {x.ndim} sizes for a {x.ndim}-d Value, got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    paired = x.reshape([m for n in shape for m in (1, n)])  # (1, a, 1, b): room for the copies before each axis
    copies = expand(paired, [m for r, n in zip(sizes, shape, strict=True) for m in (r, n)])
    return copies.reshape([r * n for r, n in zip(sizes, shape, strict=True)])


def tile(x, *dims):
    """PyTorch's tile: as repeat, but fewer dims than axes are padded with 1s in front."""
    dims = _sizes(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


def pad(x, pad, mode="constant", value=0.0):
    """nn.functional.pad: `pad` lists (before, after) pairs from the last axis backwards; negative pads crop."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is implemented, not {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad must hold (before, after) pairs for at most {x.ndim} axes, got {tuple(pad)}")
    for k in range(len(pad) // 2):
        axis, before, after = x.ndim - 1 - k, pad[2 * k], pad[2 * k + 1]
        crop = [slice(None)] * x.ndim
        crop[axis] = slice(max(-before, 0), x.shape[axis] - max(-after, 0))
        x = x[tuple(crop)]
        parts = [_leaf(np.full(x.shape[:axis] + (n,) + x.shape[axis + 1:], value, dtype=x.dtype))
                 for n in (max(before, 0), max(after, 0))]
        x = concatenate([parts[0], x, parts[1]], axis=axis)
    return x


def tril(x, diagonal=0):
    """The lower triangle (of the last two axes); above it zeros, which take no gradient."""
    return where(np.tril(np.ones(x.shape[-2:], dtype=bool), diagonal), x, 0.0)


def triu(x, diagonal=0):
    return where(np.triu(np.ones(x.shape[-2:], dtype=bool), diagonal), x, 0.0)


def split(x, split_size_or_sections, dim=0):
    """Pieces of `split_size` along `dim` (the last may be smaller), or of the listed sizes."""
    n = x.shape[dim]
    sizes = split_size_or_sections
    sizes = [min(sizes, n - s) for s in range(0, n, sizes)] if isinstance(sizes, (int, np.integer)) else sizes
    if sum(sizes) != n:
        raise ValueError(f"split: sizes {list(sizes)} do not add up to {n}, the length of dim {dim}")
    ends = np.cumsum(sizes)
    return tuple(x[(slice(None),) * (dim % x.ndim) + (slice(e - s, e),)] for s, e in zip(sizes, ends, strict=True))


def chunk(x, chunks, dim=0):
    return split(x, -(-x.shape[dim] // chunks), dim)


def concatenate(values, axis=0):
    """Join Values along an existing axis (np.concatenate); each gets back its own slab of the gradient."""
    values = tuple(_constant(v, values[0] if isinstance(values[0], Value) else Value(0.0)) for v in values)
    ends = tuple(itertools.accumulate(v.shape[axis] if -v.ndim <= axis < v.ndim else 0 for v in values))  # once
    return apply(ops.CONCATENATE, *values, axis=axis, ends=ends)


def where(condition, x, y):
    """Pick from x where `condition` holds and from y elsewhere; the condition itself has no gradient."""
    like = x if isinstance(x, Value) else y if isinstance(y, Value) else Value(0.0)
    condition = np.asarray(_raw(condition), dtype=bool)
    return apply(ops.WHERE, _constant(x, like), _constant(y, like), condition=condition)


def cat(tensors, dim=0, *, axis=None):
    """concatenate, under PyTorch's name."""
    return concatenate(list(tensors), axis=_axis(dim, axis))


def stack(tensors, dim=0, *, axis=None):
    """Join Values along a new axis (np.stack)."""
    tensors = list(tensors)  # (a generator too)
    values = tuple(_constant(v, tensors[0] if isinstance(tensors[0], Value) else Value(0.0)) for v in tensors)
    return apply(ops.STACK, *values, axis=_axis(dim, axis))


def _full_index(x, dim, index):
    """The advanced index that reads x[..., index[i, j], ...] at dim for every position (i, j) of index."""
    index = np.asarray(getattr(index, "data", index))
    grid = np.indices(index.shape, sparse=True)
    return tuple(index if d == dim % x.ndim else grid[d] for d in range(x.ndim))


def gather(x, dim, index):
    """out[i][j] = x[index[i][j]][j] for dim 0 (and so on): picks along `dim`; the gradient scatters back."""
    return x[_full_index(x, dim, index)]


def scatter_add(x, dim, index, src):
    """x plus src[i][j] added at [index[i][j]][j] (for dim 0; and so on): getitem's own scatter, added to x."""
    src = _constant(src, x)
    part = src[tuple(slice(0, n) for n in np.shape(getattr(index, "data", index)))]
    return x + apply(ops.SCATTER_ADD, part, shape=x.shape, index=_full_index(x, dim, index))


def index_select(x, dim, index):
    return x[(slice(None),) * (dim % x.ndim) + (np.asarray(getattr(index, "data", index)),)]


def masked_fill(x, mask, value):
    """x with `value` where mask is true; those entries take no gradient."""
    return where(mask, value, x)


def clone(x):
    """A copy that stays in the graph (the gradient passes unchanged); drawn as a `to <dtype>` node."""
    return apply(ops.CAST, x, dtype=x.dtype)


def contiguous(x):
    return x  # NumPy handles memory layout itself


def add(x, other, alpha=1):
    return x + other * alpha if alpha != 1 else x + other


def sub(x, other, alpha=1):
    return x - other * alpha if alpha != 1 else x - other


def mul(x, other):
    return x * other


def div(x, other):
    return x / other


def matmul(x, other):
    return _as_value(x) @ other


def neg(x):
    return -x


def sinh(x):
    return (x.exp() - (-x).exp()) / 2


def cosh(x):
    return (x.exp() + (-x).exp()) / 2


def asinh(x):
    return (x + (x * x + 1).sqrt()).log()


def remainder(x, other):
    """x − floor(x / other)·other: the sign of `other`, as PyTorch's `%` (and Python's)."""
    return x - (x / other).floor() * other


def floor_divide(x, other):
    return (x / other).floor()


def clamp_min(x, min):  # noqa: A002
    return clamp(x, min=min)


def clamp_max(x, max):  # noqa: A002
    return clamp(x, max=max)


def dot(x, other):
    """The inner product of two 1-d Values."""
    if x.ndim != 1 or np.ndim(other) != 1:
        raise ValueError(f"dot takes two 1-d Values, got shapes {x.shape} and {np.shape(other)}")
    return x @ other


def outer(x, other):
    return x.reshape(-1, 1) * _constant(other, x).reshape(1, -1)


def broadcast_to(x, *shape):
    return expand(x, *shape)


def movedim(x, source, destination):
    order = [d for d in range(x.ndim) if d != source % x.ndim]
    order.insert(destination % x.ndim, source % x.ndim)
    return x.transpose(tuple(order))


def narrow(x, dim, start, length):
    return x[(slice(None),) * (dim % x.ndim) + (slice(start, start + length),)]


def unbind(x, dim=0):
    return tuple(x[(slice(None),) * (dim % x.ndim) + (i,)] for i in range(x.shape[dim]))


def roll(x, shifts, dims=None):
    """Shift entries along `dims` (wrapping around); without dims, over the flattened Value, as PyTorch."""
    if dims is None:
        return roll(x.reshape(-1), shifts, 0).reshape(x.shape)
    shifts, dims = (shifts, dims) if isinstance(shifts, (tuple, list)) else ((shifts,), (dims,))
    for shift, dim in zip(shifts, dims, strict=True):
        n = x.shape[dim]
        shift %= n
        if shift:
            x = cat([narrow(x, dim, n - shift, shift), narrow(x, dim, 0, n - shift)], dim=dim)
    return x


def isnan(x):
    return _leaf(np.isnan(x.data))


def isinf(x):
    return _leaf(np.isinf(x.data))


def isfinite(x):
    return _leaf(np.isfinite(x.data))


def logical_not(x):
    return _leaf(np.logical_not(x.data))


def logical_and(x, other):
    return _leaf(np.logical_and(x.data, getattr(other, "data", other)))


def logical_or(x, other):
    return _leaf(np.logical_or(x.data, getattr(other, "data", other)))


def _where(x, condition, other):
    """`x.where(condition, y)`: x where condition holds, else y (PyTorch's method form)."""
    return where(condition, x, other)


def numel(x):
    return x.data.size


def argmax(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """The index of the largest entry, an int64 Value (an index has no gradient)."""
    return _leaf(np.asarray(x.data.argmax(_axis(dim, axis), keepdims=keepdim or keepdims))[()])


def argmin(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
    return _leaf(np.asarray(x.data.argmin(_axis(dim, axis), keepdims=keepdim or keepdims))[()])


def _contains(x, item):
    """`item in x`, PyTorch's rule: whether any element equals item."""
    return bool(np.any(x.data == _raw(item)))


def cpu(x):
    return x  # everything lives on the CPU


def _type(x, dtype=None):
    """`x.type(dtype)` converts; `x.type()` names the dtype."""
    return f"tinygrad_gd.{x.dtype}" if dtype is None else x.to(dtype)


# Value methods this module adds; PyTorch's conversions `x.float()` etc. are here because their module-level names
# (`tinygrad_gd.float`) are dtypes, as in PyTorch.
METHODS = {name: globals()[name] for name in (
    "exp2", "log2", "log10", "rsqrt", "reciprocal", "square", "frac", "maximum", "minimum", "clamp", "softplus",
    "logsigmoid", "gelu", "silu", "mish", "softsign", "elu", "celu", "selu", "leaky_relu", "hardtanh", "relu6",
    "hardsigmoid", "hardswish", "var", "std", "logsumexp", "cumsum", "prod", "norm", "amax", "amin", "view",
    "unsqueeze", "squeeze", "expand", "expand_as", "permute", "t", "flatten", "unflatten", "flip", "repeat", "tile",
    "tril", "triu", "split", "chunk", "gather", "scatter_add", "index_select", "masked_fill", "clone", "contiguous",
    "add", "sub", "mul", "div", "matmul", "neg", "sinh", "cosh", "asinh", "remainder", "floor_divide", "clamp_min",
    "clamp_max", "dot", "outer", "broadcast_to", "movedim", "narrow", "unbind", "roll", "isnan", "isinf", "isfinite",
    "logical_not", "logical_and", "logical_or", "cpu", "numel", "argmax", "argmin")}
METHODS.update(pow=_pow, all=_all, any=_any, type=_type, mm=matmul, bmm=matmul, where=_where, __mod__=remainder,
               __floordiv__=floor_divide, negative=neg, dim=lambda x: x.ndim,
               astype=lambda x, dtype: x.to(dtype), float=lambda x: x.to(np.float32),
               double=lambda x: x.to(np.float64), half=lambda x: x.to(np.float16), long=lambda x: x.to(np.int64),
               int=lambda x: x.to(np.int32), bool=lambda x: x.to(np.bool_), __contains__=_contains)
for _name, _method in METHODS.items():
    setattr(Value, _name, _method)


def _function(name):
    def function(input, *args, **kwargs):  # noqa: A002 (PyTorch's argument name)
        return getattr(_as_value(input), name)(*args, **kwargs)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"`tinygrad_gd.{name}(x, ...)` is `x.{name}(...)`."
    return function


# Module functions of tinygrad_gd (`tinygrad_gd.exp(x)`), re-exported by __init__: the Value methods under their
# own names, except the conversions; max/min also take a second Value (elementwise), as torch.max does.
FUNCTIONS = {name: _function(name) for name in (
    "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "sin", "cos", "tan", "log1p", "expm1", "erf", "floor",
    "ceil", "round", "trunc", "sign", "sum", "mean", "argmax", "argmin", "reshape", "transpose", "swapaxes",
    "softmax", "log_softmax", "eq", "ne", "lt", "le", "gt", "ge", "detach")}
FUNCTIONS.update({name: METHODS[name] for name in METHODS
                  if name not in ("float", "double", "half", "long", "int", "bool", "type", "astype", "dim", "where",
                                  "__contains__", "argmax", "argmin",
                                  "__mod__", "__floordiv__", "cpu")})
FUNCTIONS.update(max=_max, min=_min, cat=cat, concat=cat, stack=stack, pad=pad, split=split, chunk=chunk)
