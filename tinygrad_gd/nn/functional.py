"""The layers as functions, PyTorch's `torch.nn.functional` (imported as F): no weights of their own.

Code written for PyTorch reads `import torch.nn.functional as F; F.relu(x)`; here it is
`from tinygrad_gd.nn import functional as F`. Every function is a composition of Value operations, so
backpropagation goes through it with no rule of its own.

>>> from tinygrad_gd import Value
>>> from tinygrad_gd.nn import functional as F
>>> F.leaky_relu(Value([-2.0, 3.0]), 0.1).tolist()
[-0.2, 3.0]
>>> F.one_hot([0, 2], num_classes=3).tolist()
[[1, 0, 0], [0, 0, 1]]
"""

import math

import numpy as np

from ..functional import concatenate, where
from ..losses import (  # noqa: F401  (the losses are part of F, as in PyTorch)
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from ..ops import IM2COL, LINEAR
from ..random import generator
from ..value import Value, apply


def _as_value(x):
    return x if isinstance(x, Value) else Value(x)


# ---- activations --------------------------------------------------------------------------------------------------
def relu(input):  # noqa: A002 (PyTorch's argument name)
    return _as_value(input).relu()


def sigmoid(input):  # noqa: A002
    return _as_value(input).sigmoid()


def tanh(input):  # noqa: A002
    return _as_value(input).tanh()


def softmax(input, dim=-1):  # noqa: A002
    return _as_value(input).softmax(axis=dim)


def log_softmax(input, dim=-1):  # noqa: A002
    return _as_value(input).log_softmax(axis=dim)


def leaky_relu(input, negative_slope=0.01):  # noqa: A002
    """x for x > 0, negative_slope·x elsewhere (the slope at 0 is negative_slope, as in PyTorch)."""
    x = _as_value(input)
    return where(x.data > 0, x, negative_slope * x)


def elu(input, alpha=1.0):  # noqa: A002
    """x for x > 0, α(eˣ − 1) elsewhere; eˣ is taken of 0 where x > 0, so large x never overflows the gradient."""
    x = _as_value(input)
    positive = x.data > 0
    return where(positive, x, alpha * (where(positive, 0.0, x).exp() - 1))


def silu(input):  # noqa: A002
    """x·σ(x) (also called swish)."""
    x = _as_value(input)
    return x * x.sigmoid()


def gelu(input, approximate="none"):  # noqa: A002
    """x·Φ(x), Φ the normal distribution function; approximate='tanh' is ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    x = _as_value(input)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"Invalid approximate: {approximate!r} (use 'none' or 'tanh')")
    if approximate == "tanh":
        return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)).tanh())
    if not hasattr(x, "gelu"):
        raise NotImplementedError("the exact gelu needs the erf function, which Value does not have yet; "
                                  "use approximate='tanh'")
    return x.gelu()


def softplus(input, beta=1.0, threshold=20.0):  # noqa: A002
    """log(1 + e^{βx})/β, and x itself where βx > threshold (PyTorch's switch to the linear part)."""
    x = _as_value(input)
    linear = beta * x.data > threshold
    soft = ((where(linear, 0.0, beta * x)).exp() + 1).log() / beta
    return where(linear, x, soft)


def hardtanh(input, min_val=-1.0, max_val=1.0):  # noqa: A002
    return _as_value(input).clip(min_val, max_val)


def relu6(input):  # noqa: A002
    return hardtanh(input, 0.0, 6.0)


def softsign(input):  # noqa: A002
    x = _as_value(input)
    return x / (1 + abs(x))


def selu(input):  # noqa: A002
    """scale·elu(x, α) with SELU's constants, which keep activations at mean 0 and variance 1 (Klambauer, 2017)."""
    return 1.0507009873554804934193349852946 * elu(input, 1.6732632423543772848170429916717)


def celu(input, alpha=1.0):  # noqa: A002
    """x for x > 0, α(e^{x/α} − 1) elsewhere: ELU with a slope that is continuous at 0 for every α."""
    x = _as_value(input)
    positive = x.data > 0
    return where(positive, x, alpha * ((where(positive, 0.0, x) / alpha).exp() - 1))


def mish(input):  # noqa: A002
    """x·tanh(softplus(x))."""
    x = _as_value(input)
    return x * softplus(x).tanh()


def hardsigmoid(input):  # noqa: A002
    """relu6(x + 3) / 6: a piecewise-linear sigmoid."""
    return (_as_value(input) + 3).clip(0.0, 6.0) / 6


def hardswish(input):  # noqa: A002
    """x·relu6(x + 3)/6 (its slope is x/3 + ½ strictly between −3 and 3, 0 at −3 and 1 at 3, as PyTorch's)."""
    x = _as_value(input)
    return x * (x + 3).clip(0.0, 6.0) / 6


def prelu(input, weight):  # noqa: A002
    """x for x > 0, a·x elsewhere, with a learned slope a (one, or one per channel on axis 1)."""
    x, weight = _as_value(input), _as_value(weight)
    if weight.shape != (1,) and x.ndim > 1:
        weight = weight.reshape(_channel_shape(x))
    return where(x.data > 0, x, weight * x)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise each example over groups of channels: (N, C, ...) viewed as (N, G, C/G·...), then ·weight + bias."""
    x = _as_value(input)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm: input of shape {x.shape} has channels that do not split into {num_groups} "
                         f"groups")
    groups = x.reshape(x.shape[0], num_groups, -1)
    mean = groups.mean(axis=2, keepdims=True)
    var = ((groups - mean) ** 2).mean(axis=2, keepdims=True)
    out = ((groups - mean) / (var + eps).sqrt()).reshape(*x.shape)
    if weight is not None:
        out = out * _as_value(weight).reshape(_channel_shape(x))
    if bias is not None:
        out = out + _as_value(bias).reshape(_channel_shape(x))
    return out


# ---- layers without weights of their own ---------------------------------------------------------------------------
def linear(input, weight, bias=None):  # noqa: A002
    """y = x Wᵀ + b, W of shape (out_features, in_features)."""
    x, weight = _as_value(input), _as_value(weight)
    if bias is None:
        return x @ weight.T
    return apply(LINEAR, x, weight, _as_value(bias))


def one_hot(tensor, num_classes=-1):
    """Integer class indices -> rows of 0s with a 1 at the index (int64, as PyTorch's; no gradient)."""
    labels = np.asarray(getattr(tensor, "data", tensor))
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"one_hot: expects integer class indices, got dtype {labels.dtype}")
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot: class values must lie in [0, {num_classes}), got {labels.min()} to "
                         f"{labels.max()}")
    return np.equal(labels[..., None], np.arange(num_classes)).astype(np.int64)


# ---- convolution and pooling: im2col, then a matrix product (conv) or a reduction (pool) -------------------------
def _ints(value, n, name, minimum=1):
    """An int or a tuple of n ints, each at least `minimum`, as a tuple (PyTorch's int-or-tuple arguments)."""
    values = (value,) * n if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    if len(values) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum
                               for v in values):
        kind = "a positive int" if minimum == 1 else "a non-negative int"
        raise ValueError(f"{name} must be {kind} or a tuple of {n} of them, not {value!r}")
    return tuple(int(v) for v in values)


def _conv_padding(padding, kernel, dilation, stride, n):
    """PyTorch's padding argument -> ((before, after) per spatial axis); 'same' puts the odd pixel after."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise ValueError(f"Invalid padding string {padding!r} (use 'same', 'valid', an int or a tuple)")
        if any(s != 1 for s in stride):
            raise ValueError(f"padding='same' is not supported for strided convolutions (stride={stride})")
        total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return tuple((t // 2, t - t // 2) for t in total)
    return tuple((p, p) for p in _ints(padding, n, "padding", minimum=0))


def _pad2d(x, padding, fill):
    """Pad the last two axes of (N, C, H, W) by ((top, bottom), (left, right)) with `fill`, by concatenation."""
    for axis, (before, after) in zip((2, 3), padding, strict=True):
        parts = []
        for size in (before, after):
            shape = list(x.shape)
            shape[axis] = size
            parts.append(Value(np.full(shape, fill, dtype=x.dtype)) if size else None)
        pieces = [p for p in (parts[0], x, parts[1]) if p is not None]
        x = concatenate(pieces, axis=axis) if len(pieces) > 1 else x
    return x


def _patches(x, kernel, stride, padding, dilation, fill, layer):
    """(N, C, H, W) -> (N, OH, OW, C, kh, kw): every window the kernel sees, through ops.IM2COL.

    IM2COL knows one stride and one symmetric zero padding. Other paddings are concatenated around the image
    first; a dilated kernel is read as the full extent d·(k − 1) + 1 and every d-th entry kept; unequal strides
    take stride 1 and keep every s-th window. All are Value operations, so their gradients need no new rule.
    """
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    size = tuple(x.shape[2 + i] + sum(padding[i]) for i in range(2))
    if extent[0] > size[0] or extent[1] > size[1]:
        pad_text = padding[0][0] if len({p for pair in padding for p in pair}) == 1 else padding
        raise ValueError(f"{layer}: the {extent[0]}x{extent[1]} kernel is larger than the {size[0]}x{size[1]} image "
                         f"(input {x.shape}, padding {pad_text}); use a smaller kernel or more padding")
    (top, bottom), (left, right) = padding
    symmetric = fill == 0 and top == bottom == left == right
    if not symmetric:
        x = _pad2d(x, padding, fill)
    (sh, sw), (dh, dw) = stride, dilation
    cols = apply(IM2COL, x, kernel_size=extent, stride=sh if sh == sw else 1, padding=top if symmetric else 0)
    if sh != sw:
        cols = cols[:, ::sh, ::sw]
    if dh != 1 or dw != 1:
        cols = cols[:, :, :, :, ::dh, ::dw]
    return cols


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-d convolution (PyTorch's cross-correlation) of (N, C, H, W) with weight (O, C/groups, kh, kw).

    im2col lays every patch out as a row; with G groups the rows are split into G blocks of C/G channels, and
    one batched matrix product multiplies block g by the weights of group g: (G, N·OH·OW, C/G·kh·kw) @
    (G, C/G·kh·kw, O/G). So groups cost one matmul, not G of them.
    """
    x, weight = _as_value(input), _as_value(weight)
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d expects input (N, C, H, W) and weight (O, C/groups, kh, kw), got {x.shape} "
                         f"and {weight.shape}")
    out_channels, group_channels, kh, kw = weight.shape
    if groups < 1 or x.shape[1] != group_channels * groups or out_channels % groups:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels and weight {weight.shape} with groups={groups}; "
                         f"expected {group_channels * groups} input channels and out channels divisible by groups")
    stride, dilation = _ints(stride, 2, "stride"), _ints(dilation, 2, "dilation")
    cols = _patches(x, (kh, kw), stride, _conv_padding(padding, (kh, kw), dilation, stride, 2), dilation, 0.0,
                    "Conv2d")
    n, oh, ow = cols.shape[:3]
    if groups == 1:
        out = cols.reshape(n * oh * ow, -1) @ weight.reshape(out_channels, -1).T
    else:
        rows = cols.reshape(n * oh * ow, groups, -1).transpose(1, 0, 2)  # (G, M, C/G·kh·kw)
        kernels = weight.reshape(groups, out_channels // groups, -1).transpose(0, 2, 1)  # (G, C/G·kh·kw, O/G)
        out = (rows @ kernels).transpose(1, 0, 2).reshape(n * oh * ow, out_channels)
    if bias is not None:
        out = out + _as_value(bias)
    return out.reshape(n, oh, ow, out_channels).transpose(0, 3, 1, 2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """1-d convolution of (N, C, L) with weight (O, C/groups, k): conv2d on images of height 1."""
    x, weight = _as_value(input), _as_value(weight)
    if x.ndim != 3 or weight.ndim != 3:
        raise ValueError(f"conv1d expects input (N, C, L) and weight (O, C/groups, k), got {x.shape} and "
                         f"{weight.shape}")
    (s,), (d,) = _ints(stride, 1, "stride"), _ints(dilation, 1, "dilation")
    pad = padding if isinstance(padding, str) else (0, _ints(padding, 1, "padding", minimum=0)[0])
    out = conv2d(x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]), weight.reshape(*weight.shape[:2], 1, -1), bias,
                 stride=(1, s), padding=pad, dilation=(1, d), groups=groups)
    return out.reshape(out.shape[0], out.shape[1], out.shape[3])


def _pool_args(x, kernel_size, stride, padding, layer):
    if x.ndim != 4:
        raise ValueError(f"{layer} expects input of shape (N, C, H, W), got {x.shape}")
    kernel = _ints(kernel_size, 2, "kernel_size")
    stride = kernel if stride is None or stride == () else _ints(stride, 2, "stride")  # default: the kernel
    padding = _ints(padding, 2, "padding", minimum=0)
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(f"{layer}: padding {padding} must be at most half the kernel size {kernel}")
    return kernel, stride, tuple((p, p) for p in padding)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1):  # noqa: A002
    """The largest value in each window; padding counts as −∞. A tie sends the gradient to the first maximum.

    The winner is picked with a one-hot mask of the first argmax (`where`, then a sum): the gradient lands on
    that one entry, as in PyTorch, where `max`'s rule would share it among equal entries.
    """
    x = _as_value(input)
    kernel, stride, padding = _pool_args(x, kernel_size, stride, padding, "MaxPool2d")
    dilation = _ints(dilation, 2, "dilation")
    cols = _patches(x, kernel, stride, padding, dilation, -np.inf, "MaxPool2d")
    n, oh, ow, c = cols.shape[:4]
    flat = cols.reshape(n, oh, ow, c, -1)
    first = np.equal(np.arange(flat.shape[-1]), flat.data.argmax(axis=-1)[..., None])
    return where(first, flat, 0.0).sum(axis=-1).transpose(0, 3, 1, 2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1):  # noqa: A002
    """max_pool2d on (N, C, L) as images of height 1."""
    x = _as_value(input)
    if x.ndim != 3:
        raise ValueError(f"MaxPool1d expects input of shape (N, C, L), got {x.shape}")
    (k,) = _ints(kernel_size, 1, "kernel_size")
    s = k if stride is None else _ints(stride, 1, "stride")[0]
    out = max_pool2d(x.reshape(x.shape[0], x.shape[1], 1, -1), (1, k), (1, s), (0, padding),
                     (1, _ints(dilation, 1, "dilation")[0]))
    return out.reshape(out.shape[0], out.shape[1], -1)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):  # noqa: A002
    """avg_pool2d on (N, C, L) as images of height 1."""
    x = _as_value(input)
    if x.ndim != 3:
        raise ValueError(f"AvgPool1d expects input of shape (N, C, L), got {x.shape}")
    (k,) = _ints(kernel_size, 1, "kernel_size")
    s = k if stride is None else _ints(stride, 1, "stride")[0]
    out = avg_pool2d(x.reshape(x.shape[0], x.shape[1], 1, -1), (1, k), (1, s), (0, padding), ceil_mode,
                     count_include_pad)
    return out.reshape(out.shape[0], out.shape[1], -1)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    """The mean of each window; zero padding counts in the mean unless count_include_pad=False."""
    if ceil_mode:
        raise NotImplementedError("avg_pool2d(ceil_mode=True) is not supported; pad the input instead")
    x = _as_value(input)
    kernel, stride, padding = _pool_args(x, kernel_size, stride, padding, "AvgPool2d")
    cols = _patches(x, kernel, stride, padding, (1, 1), 0.0, "AvgPool2d")
    total = cols.sum(axis=(4, 5)).transpose(0, 3, 1, 2)
    if divisor_override:
        return total / divisor_override
    if count_include_pad or not any(p for pair in padding for p in pair):
        return total / (kernel[0] * kernel[1])
    ones = np.pad(np.ones(x.shape[2:]), padding)  # how many real pixels each window covers
    count = np.lib.stride_tricks.sliding_window_view(ones, kernel)[::stride[0], ::stride[1]].sum(axis=(2, 3))
    return total / count


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Average over PyTorch's bins: output i covers rows ⌊i·H/out⌋ to ⌈(i + 1)·H/out⌉, any input size.

    A mean over a rectangle is a mean over its rows of the mean over its columns, so the rows are pooled first,
    then the columns: out_h + out_w slices, not out_h · out_w.
    """
    x = _as_value(input)
    if x.ndim != 4:
        raise ValueError(f"AdaptiveAvgPool2d expects input of shape (N, C, H, W), got {x.shape}")
    sizes = (output_size, output_size) if isinstance(output_size, (int, np.integer)) or output_size is None \
        else tuple(output_size)
    for axis, out in zip((2, 3), sizes, strict=True):
        size = x.shape[axis]
        out = size if out is None else _ints(out, 1, "output_size")[0]
        if out == size:
            continue
        bins = []
        for i in range(out):
            start, stop = (i * size) // out, -((-(i + 1) * size) // out)
            index = (slice(None),) * axis + (slice(start, stop),)
            bins.append(x[index].mean(axis=axis, keepdims=True))
        x = concatenate(bins, axis=axis) if len(bins) > 1 else bins[0]
    return x


# ---- normalisation, dropout, embedding -----------------------------------------------------------------------------
def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,  # noqa: A002
               eps=1e-5):
    """(x − mean) / √(var + ε) per channel (axis 1), then ·weight + bias.

    Training: mean and (biased) variance of this batch, and the running statistics move towards them in place,
    running ← (1 − momentum)·running + momentum·batch, with the *unbiased* variance (n/(n − 1)), as PyTorch.
    Evaluation: the running statistics. momentum=None is passed on by BatchNorm as a cumulative average.
    """
    x = _as_value(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm expects input (N, C, ...), got shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = _channel_shape(x)
    if training:
        count = x.data.size // x.shape[1]
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                             f"shape {x.shape}")
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        if running_mean is not None:
            _move_towards(running_mean, mean.data.reshape(-1), momentum)
        if running_var is not None:
            _move_towards(running_var, var.data.reshape(-1) * count / (count - 1), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm in evaluation needs running_mean and running_var (or training=True)")
        mean = Value(np.asarray(getattr(running_mean, "data", running_mean)).reshape(shape), dtype=x.dtype)
        var = Value(np.asarray(getattr(running_var, "data", running_var)).reshape(shape), dtype=x.dtype)
    out = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        out = out * _as_value(weight).reshape(shape)
    if bias is not None:
        out = out + _as_value(bias).reshape(shape)
    return out


def _move_towards(running, batch, momentum):
    """running ← (1 − momentum)·running + momentum·batch, in place (a Value's data, or an array's entries)."""
    if isinstance(running, Value):
        running.data = (1 - momentum) * running.data + momentum * batch
        running.version += 1
    else:
        running[...] = (1 - momentum) * running + momentum * batch


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """(x − mean) / √(var + ε) over the last len(normalized_shape) axes of each example, then ·weight + bias."""
    x = _as_value(input)
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(normalized_shape)
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape {normalized_shape}")
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    out = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def dropout(input, p=0.5, training=True, rng=None):  # noqa: A002
    """Zero each entry with probability p and scale the rest by 1/(1 − p) (so the mean is kept); identity in eval.

    `rng` (a seed or a np.random.Generator) makes the mask repeatable; PyTorch's comes from torch.manual_seed.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _as_value(input)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = generator(rng).random(x.shape) >= p  # the default generator (manual_seed) unless given
    return x * Value(keep / (1 - p), dtype=x.dtype)


def embedding(input, weight, padding_idx=None):  # noqa: A002
    """Rows of `weight` picked by integer indices: weight[input]. Rows at padding_idx get no gradient."""
    weight = _as_value(weight)
    indices = np.asarray(getattr(input, "data", input))
    if indices.dtype.kind == "f" and np.all(indices == np.round(indices)):
        indices = indices.astype(np.int64)
    if indices.dtype.kind not in "iu":
        raise ValueError(f"embedding: expects integer indices, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= weight.shape[0]):
        raise IndexError(f"embedding: index {indices.max() if indices.max() >= weight.shape[0] else indices.min()} "
                         f"is out of range for {weight.shape[0]} embeddings")
    picked = weight[indices]
    if padding_idx is None:
        return picked
    padding_idx = padding_idx % weight.shape[0]
    return where((indices != padding_idx)[..., None], picked, picked.detach())
