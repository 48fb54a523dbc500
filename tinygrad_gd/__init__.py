"""tinygrad_gd: backpropagation is the map, gradient descent is the hiker, the loss is the score.

>>> from tinygrad_gd import Value, no_grad
>>> w = Value([5.0], requires_grad=True)
>>> loss = (w - 2) ** 2
>>> loss.backward()
>>> with no_grad():
...     w -= 0.1 * w.grad
>>> print(f"Gradient: {w.grad.item()}")
Gradient: 6.0
>>> print(f"Updated Weight: {w.item()}")
Updated Weight: 4.4
"""

import importlib

from .autograd import grad
from .value import Tensor, Value, concatenate, is_grad_enabled, no_grad, stack, where

__all__ = ["Value", "Tensor", "no_grad", "is_grad_enabled", "concatenate", "stack", "where", "grad"]
__version__ = "0.1.0"
_SUBMODULES = {"autograd", "backprop", "ops", "optim", "losses", "nn", "data", "train", "viz", "expr", "descent",
               "quant"}


def __getattr__(name):
    """`tinygrad_gd.optim.SGD` after a bare `import tinygrad_gd`, as with `torch.optim`; loaded on first use."""
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinygrad_gd' has no attribute {name!r}")
