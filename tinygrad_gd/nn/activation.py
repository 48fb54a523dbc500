"""The activations as Modules, for Sequential: `nn.Sequential(nn.Linear(2, 8), nn.GELU(), nn.Linear(8, 1))`.

Each calls its function in nn.functional; the settings are PyTorch's (LeakyReLU's negative_slope=0.01, ...).
"""

import numpy as np

from . import Module, Parameter
from . import functional as F


class Identity(Module):
    """Returns its input unchanged (a placeholder where a layer is optional)."""

    def __init__(self, *args, **kwargs):  # PyTorch's accepts and ignores any arguments
        pass

    def forward(self, input):  # noqa: A002
        return input


class GELU(Module):
    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"Invalid approximate: {approximate!r} (use 'none' or 'tanh')")
        self.approximate = approximate

    def forward(self, input):  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    def forward(self, input):  # noqa: A002
        return F.silu(input)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, input):  # noqa: A002
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, input):  # noqa: A002
        return F.elu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Softplus(Module):
    def __init__(self, beta=1.0, threshold=20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, input):  # noqa: A002
        return F.softplus(input, self.beta, self.threshold)


class Hardtanh(Module):
    def __init__(self, min_val=-1.0, max_val=1.0):
        if not max_val > min_val:
            raise ValueError(f"Invalid Hardtanh range: max_val {max_val} must be greater than min_val {min_val}")
        self.min_val, self.max_val = min_val, max_val

    def forward(self, input):  # noqa: A002
        return F.hardtanh(input, self.min_val, self.max_val)


class ReLU6(Hardtanh):
    def __init__(self):
        super().__init__(0.0, 6.0)


class Softsign(Module):
    def forward(self, input):  # noqa: A002
        return F.softsign(input)


class _WithDim(Module):
    def __init__(self, dim=None):
        if dim is None:  # PyTorch guesses an axis from the number of dimensions and warns; here you say which
            raise TypeError(f"{type(self).__name__} needs dim, the axis whose entries sum to 1, e.g. "
                            f"{type(self).__name__}(dim=1)")
        self.dim = dim

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_WithDim):
    def forward(self, input):  # noqa: A002
        return F.softmax(input, self.dim)


class LogSoftmax(_WithDim):
    def forward(self, input):  # noqa: A002
        return F.log_softmax(input, self.dim)


class SELU(Module):
    def forward(self, input):  # noqa: A002
        return F.selu(input)


class CELU(Module):
    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, input):  # noqa: A002
        return F.celu(input, self.alpha)


class Mish(Module):
    def forward(self, input):  # noqa: A002
        return F.mish(input)


class Hardsigmoid(Module):
    def forward(self, input):  # noqa: A002
        return F.hardsigmoid(input)


class Hardswish(Module):
    def forward(self, input):  # noqa: A002
        return F.hardswish(input)


class PReLU(Module):
    """LeakyReLU whose negative slope is learned: one weight (init 0.25), or one per channel."""

    def __init__(self, num_parameters=1, init=0.25):
        self.num_parameters = num_parameters
        self.weight = Parameter(np.full(num_parameters, float(init)), name="weight")

    def forward(self, input):  # noqa: A002
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
