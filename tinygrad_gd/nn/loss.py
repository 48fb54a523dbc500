"""The scores as Modules, as PyTorch's tutorials write them: `criterion = nn.CrossEntropyLoss()`.

Each holds its options and calls the function of the same name in losses.py; class weights are buffers, so they
are saved in `state_dict()` as PyTorch saves them.

>>> from tinygrad_gd import nn
>>> nn.MSELoss(reduction="sum")([1.0, 2.0], [0.0, 0.0]).item()
5.0
"""

import numpy as np

from .. import losses
from . import Module


def _reduction(reduction):
    if reduction not in losses.REDUCTIONS:
        raise ValueError(f"Invalid reduction: {reduction!r} (use 'mean', 'sum' or 'none')")
    return reduction


def _buffer(x):
    return None if x is None else np.array(getattr(x, "data", x), dtype=np.float64)


class _Loss(Module):
    def __init__(self, reduction="mean"):
        self.reduction = _reduction(reduction)

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """(input − target)², reduced: F.mse_loss."""

    def forward(self, input, target):  # noqa: A002 (PyTorch's argument name)
        return losses.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """|input − target|, reduced: F.l1_loss."""

    def forward(self, input, target):  # noqa: A002
        return losses.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Squared within `delta` of the target, absolute beyond: F.huber_loss."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"Invalid delta: {delta} (HuberLoss needs delta > 0)")
        self.delta = delta

    def forward(self, input, target):  # noqa: A002
        return losses.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """Huber's loss divided by `beta`: F.smooth_l1_loss."""

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        if not beta >= 0:
            raise ValueError(f"Invalid beta: {beta} (SmoothL1Loss needs beta >= 0)")
        self.beta = beta

    def forward(self, input, target):  # noqa: A002
        return losses.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class NLLLoss(_Loss):
    """−log-probability of the target class (input: log_softmax's output): F.nll_loss."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))
        self.ignore_index = ignore_index

    def forward(self, input, target):  # noqa: A002
        return losses.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction)


class CrossEntropyLoss(NLLLoss):
    """log_softmax then NLLLoss, in one stable step: F.cross_entropy (class weights, ignore_index, smoothing)."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, ignore_index, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"Invalid label_smoothing: {label_smoothing} (it must lie in [0, 1])")
        self.label_smoothing = label_smoothing

    def forward(self, input, target):  # noqa: A002
        return losses.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                                    reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1]: F.binary_cross_entropy."""

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))

    def forward(self, input, target):  # noqa: A002
        return losses.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of σ(logits), never forming σ: F.binary_cross_entropy_with_logits."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", _buffer(weight))
        self.register_buffer("pos_weight", _buffer(pos_weight))

    def forward(self, input, target):  # noqa: A002
        return losses.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                       pos_weight=self.pos_weight)
