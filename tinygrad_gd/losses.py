"""The score: one number that says how wrong the model is; descent makes it smaller.

Each loss compares a prediction (`input`, a Value) with the truth (`target`) element by element, then reduces:
`reduction="mean"` (the default) averages, `"sum"` adds up, `"none"` keeps one loss per element. All are built
from Value operations, so `loss.backward()` sends the score's slope back through them to every weight. Two have
an op of their own: cross-entropy (one node instead of four) and binary cross-entropy (PyTorch's clamped
derivative at probabilities of exactly 0 or 1).

>>> from tinygrad_gd import Value
>>> w = Value(5.0, requires_grad=True)
>>> loss = mse_loss(w, 2.0)
>>> loss.item()
9.0
>>> loss.backward()
>>> w.grad.item()
6.0
"""

import numpy as np

from .ops import BINARY_CROSS_ENTROPY, CROSS_ENTROPY
from .value import Value, apply, stack, where

REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def _pair(input, target, reduction, name):  # noqa: A002 (PyTorch's argument name)
    """Check the reduction and shapes; make input a Value and target a Value of the same dtype."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid reduction: {reduction!r} (use 'mean', 'sum' or 'none')")
    input = input if isinstance(input, Value) else Value(input)  # noqa: A001
    target = target if isinstance(target, Value) else Value(target, dtype=input.dtype)
    if input.shape != target.shape:
        raise ValueError(f"{name}: input has shape {input.shape} but target has shape {target.shape}; "
                         f"they must match (reshape one, e.g. input.reshape(-1))")
    return input, target


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    """Mean squared error: (input − target)², averaged. Its slope grows with the error."""
    input, target = _pair(input, target, reduction, "mse_loss")  # noqa: A001
    return _reduce((input - target) ** 2, reduction)


def l1_loss(input, target, reduction="mean"):  # noqa: A002
    """Mean absolute error: |input − target|. Its slope is ±1 whatever the error (0 exactly at it)."""
    input, target = _pair(input, target, reduction, "l1_loss")  # noqa: A001
    return _reduce(abs(input - target), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):  # noqa: A002
    """½d² where |d| < δ, δ(|d| − ½δ) beyond: squared near the target, absolute (robust to outliers) far away."""
    if not delta > 0:
        raise ValueError(f"Invalid delta: {delta} (huber_loss needs delta > 0)")
    input, target = _pair(input, target, reduction, "huber_loss")  # noqa: A001
    d = input - target
    return _reduce(where(abs(d.data) < delta, 0.5 * d * d, delta * (abs(d) - 0.5 * delta)), reduction)


def cross_entropy(logits, target, reduction="mean"):
    """−log softmax(logits)[target]: the negative log-probability the model gives the right class.

    `logits` has shape (N, C) (or (C,) for one example), `target` holds N integer class indices in [0, C).
    One op (ops.CROSS_ENTROPY) computes it through log_softmax, so it stays finite for logits of any size, and
    its derivative is softmax − onehot, as in PyTorch.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid reduction: {reduction!r} (use 'mean', 'sum' or 'none')")
    logits = logits if isinstance(logits, Value) else Value(logits)
    labels = np.asarray(getattr(target, "data", target))
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)  # class indices stored as floats (a Value) are accepted
    if labels.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: target must hold integer class indices, got dtype {labels.dtype}")
    if logits.ndim not in (1, 2) or labels.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: logits have shape {logits.shape} and target has shape {labels.shape}; "
                         f"expected logits (N, C) with target (N,), or logits (C,) with a single index")
    classes = logits.shape[-1]
    bad = labels[(labels < 0) | (labels >= classes)]
    if bad.size:
        raise IndexError(f"cross_entropy: class index {bad.flat[0]} is out of range for {classes} classes "
                         f"(valid: 0 to {classes - 1})")
    return _reduce(apply(CROSS_ENTROPY, logits, target=labels), reduction)


def binary_cross_entropy(probs, target, reduction="mean"):
    """−t·log p − (1 − t)·log(1 − p) for probabilities p in [0, 1]; each log is clamped at −100 (PyTorch)."""
    probs, target = _pair(probs, target, reduction, "binary_cross_entropy")
    p = np.asarray(probs.data)
    outside = ~((p >= 0) & (p <= 1))  # written so that NaN is outside too, as PyTorch refuses it
    if np.any(outside):
        raise ValueError(f"binary_cross_entropy: probabilities must lie in [0, 1], got {p[outside].flat[0]}"
                         f" (pass raw scores to binary_cross_entropy_with_logits instead)")
    return _reduce(apply(BINARY_CROSS_ENTROPY, probs, target), reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """Binary cross-entropy of σ(logits), computed without forming σ: finite and exact even at logits of ±1e4.

    log σ(x) and log σ(−x) = log(1 − σ(x)) are the two entries of log_softmax([0, x]), which never overflows.
    """
    logits, target = _pair(logits, target, reduction, "binary_cross_entropy_with_logits")
    zeros = Value(np.zeros(logits.shape, dtype=logits.dtype))
    log_sig = stack([zeros, logits], axis=-1).log_softmax(axis=-1)  # [..., 0] = log σ(−x), [..., 1] = log σ(x)
    return _reduce(-(target * log_sig[..., 1] + (1 - target) * log_sig[..., 0]), reduction)
