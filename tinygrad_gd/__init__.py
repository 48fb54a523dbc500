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

from . import dtypes as _dtypes
from . import functional as _functional
from .autograd import grad
from .creation import *  # noqa: F403 (tensor, zeros, ones, arange, linspace, randn, ...: see creation.__all__)
from .creation import __all__ as _creation_names
from .dtypes import float32, float64, get_default_dtype, int32, int64, set_default_dtype
from .functional import concatenate, where
from .random import manual_seed
from .value import Tensor, Value, is_grad_enabled, no_grad

# `import tinygrad_gd as torch`: torch.exp(x), torch.sum(x, dim=0), torch.cat(...), torch.gelu(x), ... (functional.py)
globals().update(_functional.FUNCTIONS)
# torch.float, torch.long, torch.bool, ...: NumPy dtypes under PyTorch's names (dtypes.py)
globals().update({name: getattr(_dtypes, name) for name in _dtypes.NAMES})

# The dtype names float, int, bool, ... are attributes only: `from tinygrad_gd import *` must not hide Python's own.
__all__ = ["Value", "Tensor", "no_grad", "is_grad_enabled", "concatenate", "where", "grad", "manual_seed",
           "set_default_dtype", "get_default_dtype", "float32", "float64", "int64", "int32", *_creation_names,
           *sorted(_functional.FUNCTIONS)]
__version__ = "0.1.0"
_SUBMODULES = {"autograd", "backprop", "ops", "optim", "losses", "nn", "data", "train", "viz", "expr", "descent",
               "quant", "functional", "creation", "dtypes", "random"}


def __getattr__(name):
    """`tinygrad_gd.optim.SGD` after a bare `import tinygrad_gd`, as with `torch.optim`; loaded on first use."""
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinygrad_gd' has no attribute {name!r}")
