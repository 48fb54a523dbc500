"""Layers with PyTorch's signatures, defaults and init: convolution, pooling, normalisation, dropout, embedding.

Each keeps its settings and weights and calls its function in nn.functional, where the computation is written
as a composition of Value operations (im2col and a matrix product for convolutions; means and variances for
the norms; a mask for dropout; indexing for embeddings).
"""

import numpy as np

from ..random import generator
from ..value import Value
from . import Module, Parameter, _count, _uniform
from . import functional as F


class _ConvNd(Module):
    def __init__(self, n, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, rng,
                 padding_mode):
        in_channels, out_channels = _count(in_channels, "in_channels"), _count(out_channels, "out_channels")
        groups = _count(groups, "groups")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must both be divisible "
                             f"by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"padding_mode={padding_mode!r}: only 'zeros' is supported")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = F._ints(kernel_size, n, "kernel_size")
        self.stride, self.dilation = F._ints(stride, n, "stride"), F._ints(dilation, n, "dilation")
        self.padding = padding if isinstance(padding, str) else F._ints(padding, n, "padding", minimum=0)
        F._conv_padding(self.padding, self.kernel_size, self.dilation, self.stride, n)  # refuse a bad one now
        rng = generator(rng)  # the default generator (manual_seed) unless given
        fan_in = in_channels // groups * int(np.prod(self.kernel_size))
        bound = 1 / np.sqrt(fan_in)  # PyTorch's kaiming_uniform_(a=√5) comes out as ±1/√fan_in
        self.weight = _uniform(rng, bound, (out_channels, in_channels // groups, *self.kernel_size), "weight")
        self.bias = _uniform(rng, bound, (out_channels,), "bias") if bias else None

    def _check(self, x, layout):
        if x.ndim != len(layout) or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects input of shape (N, {self.in_channels}, "
                             f"{', '.join(layout[2:])}), got {x.shape}")

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.kernel_size):
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * len(self.kernel_size):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + (", bias=False" if self.bias is None else "")


class Conv2d(_ConvNd):
    """2-d convolution (PyTorch's cross-correlation) on NCHW images, as one matrix product.

    im2col copies every kernel-sized patch into a row: (N, C, H, W) -> (N·OH·OW, C·kh·kw). Multiplying by the
    weights reshaped to (C·kh·kw, out_channels) computes all outputs at once; backprop flows through the
    matmul, and through IM2COL's rule (col2im) back to the pixels. `stride`, `padding` (an int, a pair, 'same'
    or 'valid'), `dilation` and `groups` are PyTorch's. Init as PyTorch: uniform in ±1/√(C/groups·kh·kw).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", rng=None):
        super().__init__(2, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, rng,
                         padding_mode)

    def forward(self, x):
        x = F._as_value(x)
        self._check(x, ("N", "C", "H", "W"))
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-d convolution on (N, C, L) sequences: a Conv2d on images of height 1."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", rng=None):
        super().__init__(1, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, rng,
                         padding_mode)

    def forward(self, x):
        x = F._as_value(x)
        self._check(x, ("N", "C", "L"))
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class MaxPool2d(Module):
    """The largest value in each kernel-sized window (stride defaults to the kernel size, per axis: no overlap).

    Built from the same im2col as Conv2d; on ties the gradient goes to the first maximum, as in PyTorch.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        if return_indices or ceil_mode:
            raise NotImplementedError("MaxPool2d: return_indices and ceil_mode are not supported")
        self.kernel_size = F._ints(kernel_size, 2, "kernel_size")
        self.stride = self.kernel_size if stride is None else F._ints(stride, 2, "stride")
        self.padding, self.dilation = F._ints(padding, 2, "padding", minimum=0), F._ints(dilation, 2, "dilation")

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(Module):
    """MaxPool2d for (N, C, L) sequences."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        if return_indices or ceil_mode:
            raise NotImplementedError("MaxPool1d: return_indices and ceil_mode are not supported")
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation)


class AvgPool1d(Module):
    """AvgPool2d for (N, C, L) sequences."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        if ceil_mode:
            raise NotImplementedError("AvgPool1d(ceil_mode=True) is not supported; pad the input instead")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, False, self.count_include_pad)


class AvgPool2d(Module):
    """The mean of each kernel-sized window (stride defaults to the kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        if ceil_mode:
            raise NotImplementedError("AvgPool2d(ceil_mode=True) is not supported; pad the input instead")
        self.kernel_size = F._ints(kernel_size, 2, "kernel_size")
        self.stride = self.kernel_size if stride is None else F._ints(stride, 2, "stride")
        self.padding = F._ints(padding, 2, "padding", minimum=0)
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, False, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average into a fixed output size whatever the input's (output_size=1: global average pooling)."""

    def __init__(self, output_size):
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _BatchNorm(Module):
    _dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        self.num_features = _count(num_features, "num_features")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"Invalid momentum: {momentum} (between 0 and 1, or None for a cumulative average)")
        self.eps, self.momentum, self.affine, self.track_running_stats = eps, momentum, affine, track_running_stats
        self.weight = Parameter(np.ones(num_features), name="weight") if affine else None
        self.bias = Parameter(np.zeros(num_features), name="bias") if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Value(np.zeros(num_features), name="running_mean"))
            self.register_buffer("running_var", Value(np.ones(num_features), name="running_var"))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        x = F._as_value(x)
        if x.ndim not in self._dims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of {' or '.join(self._text)}, "
                             f"got {x.shape}")
        momentum = 0.0 if self.momentum is None else self.momentum
        use_batch = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked = np.array(self.num_batches_tracked + 1)  # a 0-d int64 array, as saved
            if self.momentum is None:  # a cumulative average of every batch so far
                momentum = 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, training=use_batch,
                            momentum=momentum, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Normalise each feature over the batch: (N, C) or (N, C, L) input, statistics per channel C.

    In training it uses the batch's mean and variance and updates `running_mean`/`running_var`; after
    `model.eval()` it uses those running statistics instead, so one example is normalised like any other.
    """

    _dims, _text = (2, 3), ("(N, C)", "(N, C, L)")


class BatchNorm2d(_BatchNorm):
    """BatchNorm1d for images: (N, C, H, W), statistics per channel over the batch and every pixel."""

    _dims, _text = (4,), ("(N, C, H, W)",)


class LayerNorm(Module):
    """Normalise each example over its last axes (normalized_shape), then scale and shift (per element)."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape = tuple(_count(n, "normalized_shape") for n in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape), name="weight") if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape), name="bias") if elementwise_affine and bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Normalise each example over groups of channels (batch-size independent, unlike BatchNorm)."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        self.num_groups, self.num_channels = _count(num_groups, "num_groups"), _count(num_channels, "num_channels")
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.eps, self.affine = eps, affine
        self.weight = Parameter(np.ones(num_channels), name="weight") if affine else None
        self.bias = Parameter(np.zeros(num_channels), name="bias") if affine else None

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class Dropout(Module):
    """In training, zero each entry with probability p and scale the rest by 1/(1 − p); in eval, do nothing.

    `rng` (a seed or np.random.Generator) makes the masks repeatable.
    """

    def __init__(self, p=0.5, inplace=False, rng=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.rng = p, None if rng is None else np.random.default_rng(rng)  # None: the default one

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"


class Embedding(Module):
    """A table of num_embeddings vectors; integer indices pick rows (weight[indices]). Init N(0, 1), as PyTorch."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, rng=None, _weight=None):
        self.num_embeddings = _count(num_embeddings, "num_embeddings")
        self.embedding_dim = _count(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx must be within num_embeddings, got {padding_idx}")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        data = generator(rng).normal(size=(num_embeddings, embedding_dim)) if _weight is None \
            else np.array(getattr(_weight, "data", _weight), dtype=np.float64)
        if padding_idx is not None and _weight is None:
            data[padding_idx] = 0.0  # the padding row starts at zero and never learns
        self.weight = Parameter(data, name="weight")

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        rows, dim = np.shape(getattr(embeddings, "data", embeddings))
        layer = cls(rows, dim, padding_idx=padding_idx, _weight=embeddings)
        layer.weight.requires_grad_(not freeze)
        return layer

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}" + (
            "" if self.padding_idx is None else f", padding_idx={self.padding_idx}")


class Flatten(Module):
    """Merge the axes start_dim..end_dim into one (default 1..-1: (N, ...) -> (N, everything else))."""

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        x = F._as_value(x)
        if x.ndim < 2 and (self.start_dim, self.end_dim) == (1, -1):
            raise ValueError(f"Flatten keeps the batch axis and flattens the rest, so it needs (N, ...) input with "
                             f"at least 2 axes, got shape {x.shape}")
        ndim = max(x.ndim, 1)
        start, end = self.start_dim, self.end_dim
        if not (-ndim <= start < ndim and -ndim <= end < ndim):
            raise ValueError(f"Flatten(start_dim={start}, end_dim={end}) is out of range for input of shape {x.shape}")
        start, end = start % ndim, end % ndim
        if start > end:
            raise ValueError(f"Flatten: start_dim ({self.start_dim}) comes after end_dim ({self.end_dim})")
        if x.ndim == 0:
            return x.reshape(1)
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis `dim` into `unflattened_size`, e.g. Unflatten(1, (1, 28, 28)): (N, 784) -> (N, 1, 28, 28)."""

    def __init__(self, dim, unflattened_size):
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        x = F._as_value(x)
        dim = self.dim % x.ndim
        if int(np.prod(self.unflattened_size)) != x.shape[dim] and -1 not in self.unflattened_size:
            raise ValueError(f"Unflatten: axis {self.dim} has {x.shape[dim]} entries, which cannot be split into "
                             f"{self.unflattened_size}")
        return x.reshape(*x.shape[:dim], *self.unflattened_size, *x.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
