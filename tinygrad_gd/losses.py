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

from .functional import stack, where
from .ops import BINARY_CROSS_ENTROPY, CROSS_ENTROPY
from .value import Value, apply

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


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):  # noqa: A002
    """½d²/β where |d| < β, |d| − ½β beyond (PyTorch's smooth L1): Huber's loss divided by β; β = 0 is L1."""
    if not beta >= 0:
        raise ValueError(f"Invalid beta: {beta} (smooth_l1_loss needs beta >= 0)")
    if beta == 0:
        return l1_loss(input, target, reduction)
    input, target = _pair(input, target, reduction, "smooth_l1_loss")  # noqa: A001
    d = input - target
    return _reduce(where(abs(d.data) < beta, 0.5 * d * d / beta, abs(d) - 0.5 * beta), reduction)


def _class_weights(weight, classes, dtype, name):
    if weight is None:
        return np.ones(classes, dtype=dtype)
    weight = np.asarray(getattr(weight, "data", weight), dtype=dtype)
    if weight.shape != (classes,):
        raise ValueError(f"{name}: weight must hold one number per class, shape ({classes},), got {weight.shape}")
    return weight


def _labels(target, name):
    labels = np.asarray(getattr(target, "data", target))
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)  # class indices stored as floats (a Value) are accepted
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{name}: target must hold integer class indices (or probabilities of the input's "
                         f"shape), got dtype {labels.dtype}")
    return labels


def _classes_last(x):
    """(N, C, d1, ...) -> (N·d1·…, C), so that every loss below sees one row of class scores per example."""
    if x.ndim <= 2:
        return x
    return x.transpose(0, *range(2, x.ndim), 1).reshape(-1, x.shape[1])


def _weighted_nll(log_probs, target, weight, ignore_index, reduction, label_smoothing, name):
    """The loss of class scores that are log-probabilities, −Σ_c T[n, c]·log p[n, c] per row, for every option.

    T is the target as a matrix: one-hot rows times the class weights (0 on ignored rows), mixed with ε/C·weight
    when label smoothing ε is asked for; or the given probabilities (smoothed, weighted). The mean divides by
    Σ weight[target] over the rows not ignored (class indices) or by the number of rows (probabilities): PyTorch's
    normalisations, so that both agree with it whatever the weights.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid reduction: {reduction!r} (use 'mean', 'sum' or 'none')")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"Invalid label_smoothing: {label_smoothing} (it must lie in [0, 1])")
    if log_probs.ndim < 1:
        raise ValueError(f"{name}: input must have a class axis, got shape {log_probs.shape}")
    one, classes = log_probs.ndim == 1, log_probs.shape[1 if log_probs.ndim > 1 else 0]
    w = _class_weights(weight, classes, log_probs.dtype, name)
    target_data = np.asarray(getattr(target, "data", target))
    rows = _classes_last(log_probs.reshape(1, -1) if one else log_probs)
    eps = label_smoothing
    if target_data.shape == log_probs.shape and target_data.dtype.kind == "f":  # probabilities per class
        probs = _classes_last(Value(target_data.reshape(1, -1) if one else target_data, dtype=log_probs.dtype)).data
        matrix, count = ((1 - eps) * probs + eps / classes) * w, rows.shape[0]
    else:
        labels = _labels(target, name)
        if labels.shape != (log_probs.shape[:1] + log_probs.shape[2:] if not one else ()):
            raise ValueError(f"{name}: input has shape {log_probs.shape} and target has shape {labels.shape}; expected "
                             f"input (N, C) with target (N,), input (C,) with a single index, input (N, C, d1, ...) "
                             f"with target (N, d1, ...), or a target of probabilities shaped like the input")
        labels = labels.reshape(-1)
        kept = labels != ignore_index
        bad = labels[kept & ((labels < 0) | (labels >= classes))]
        if bad.size:
            raise IndexError(f"{name}: class index {bad.flat[0]} is out of range for {classes} classes "
                             f"(valid: 0 to {classes - 1})")
        onehot = np.equal(np.where(kept, labels, -1)[:, None], np.arange(classes))
        matrix = onehot * w * (1 - eps) + kept[:, None] * w * (eps / classes)
        count = (onehot * w).sum()
    losses = -(rows * Value(matrix, dtype=log_probs.dtype)).sum(axis=-1)
    if reduction == "mean":
        return losses.sum() / count
    if reduction == "sum":
        return losses.sum()
    if one:
        return losses.reshape(())
    return losses.reshape(log_probs.shape[:1] + log_probs.shape[2:])


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """−input[n, target[n]]·weight[target[n]]: the loss of log-probabilities (log_softmax's output).

    `cross_entropy(x, t)` is `nll_loss(x.log_softmax(1), t)`. The mean divides by the summed weights of the rows
    not ignored (PyTorch's normalisation), so a class weight scales its examples' share, not the whole loss.
    """
    input = input if isinstance(input, Value) else Value(input)  # noqa: A001
    return _weighted_nll(input, target, weight, ignore_index, reduction, 0.0, "nll_loss")


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """−log softmax(logits)[target]: the negative log-probability the model gives the right class.

    `logits` has shape (N, C) (or (C,) for one example, or (N, C, d1, ...)), `target` holds N integer class
    indices in [0, C), or probabilities of the logits' shape. The options are PyTorch's: `weight` (one per class),
    `ignore_index` (rows with that target count for nothing), `label_smoothing` ε (the target becomes
    (1 − ε)·onehot + ε/C). The plain case is one op (ops.CROSS_ENTROPY) computed through log_softmax, so it stays
    finite for logits of any size, and its derivative is softmax − onehot, as in PyTorch.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid reduction: {reduction!r} (use 'mean', 'sum' or 'none')")
    logits = logits if isinstance(logits, Value) else Value(logits)
    target_data = np.asarray(getattr(target, "data", target))
    if weight is not None or label_smoothing != 0 or logits.ndim > 2 or target_data.shape == logits.shape:
        return _weighted_nll(logits.log_softmax(axis=1 if logits.ndim > 1 else 0), target, weight, ignore_index,
                             reduction, label_smoothing, "cross_entropy")
    labels = _labels(target, "cross_entropy")
    if logits.ndim not in (1, 2) or labels.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: logits have shape {logits.shape} and target has shape {labels.shape}; "
                         f"expected logits (N, C) with target (N,), or logits (C,) with a single index")
    classes = logits.shape[-1]  # two reductions tell the usual case, every index a class and none ignored, apart
    if labels.size and not 0 <= labels.min() <= labels.max() < classes or 0 <= ignore_index < classes:
        if np.any(labels == ignore_index):
            return _weighted_nll(logits.log_softmax(axis=-1), target, weight, ignore_index, reduction, 0.0,
                                 "cross_entropy")
        bad = labels[(labels < 0) | (labels >= classes)]
        if bad.size:
            raise IndexError(f"cross_entropy: class index {bad.flat[0]} is out of range for {classes} classes "
                             f"(valid: 0 to {classes - 1})")
    return _reduce(apply(CROSS_ENTROPY, logits, target=labels), reduction)


def binary_cross_entropy(probs, target, weight=None, reduction="mean"):
    """−t·log p − (1 − t)·log(1 − p) for probabilities p in [0, 1]; each log is clamped at −100 (PyTorch).

    `weight` (broadcast against the input) rescales each element's loss before the reduction.
    """
    probs, target = _pair(probs, target, reduction, "binary_cross_entropy")
    p = np.asarray(probs.data)
    outside = ~((p >= 0) & (p <= 1))  # written so that NaN is outside too, as PyTorch refuses it
    if np.any(outside):
        raise ValueError(f"binary_cross_entropy: probabilities must lie in [0, 1], got {p[outside].flat[0]}"
                         f" (pass raw scores to binary_cross_entropy_with_logits instead)")
    losses = apply(BINARY_CROSS_ENTROPY, probs, target)
    return _reduce(losses if weight is None else losses * _broadcast_weight(weight, probs, "weight"), reduction)


def _broadcast_weight(weight, like, name):
    weight = weight if isinstance(weight, Value) else Value(weight, dtype=like.dtype)
    try:
        np.broadcast_shapes(weight.shape, like.shape)
    except ValueError:
        raise ValueError(f"{name} of shape {weight.shape} does not broadcast against the input's "
                         f"{like.shape}") from None
    return weight


def binary_cross_entropy_with_logits(logits, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy of σ(logits), computed without forming σ: finite and exact even at logits of ±1e4.

    log σ(x) and log σ(−x) = log(1 − σ(x)) are the two entries of log_softmax([0, x]), which never overflows.
    `pos_weight` multiplies the positive term, −pos_weight·t·log σ(x), trading recall for precision (one per
    class, broadcast along the last axis); `weight` multiplies the whole loss, as in PyTorch.
    """
    logits, target = _pair(logits, target, reduction, "binary_cross_entropy_with_logits")
    zeros = Value(np.zeros(logits.shape, dtype=logits.dtype))
    log_sig = stack([zeros, logits], axis=-1).log_softmax(axis=-1)  # [..., 0] = log σ(−x), [..., 1] = log σ(x)
    positive = target * log_sig[..., 1]
    if pos_weight is not None:
        positive = positive * _broadcast_weight(pos_weight, logits, "pos_weight")
    losses = -(positive + (1 - target) * log_sig[..., 0])
    return _reduce(losses if weight is None else losses * _broadcast_weight(weight, logits, "weight"), reduction)
