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
from ..ops import LINEAR
from ..value import Value, apply, where


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
