"""Making Values the way PyTorch users do: tensor, zeros, ones, full, arange, linspace, eye, rand, randn, ...

Sizes are taken as PyTorch takes them, `zeros(2, 3)` or `zeros((2, 3))`, and every function takes `dtype=` and
`requires_grad=` (only floating-point Values can require grad). Floats come out in the default float (float64, or
what `set_default_dtype` chose); random draws use the default generator (`manual_seed`) unless given
`generator=` (a seed or an np.random.Generator). `device=` is accepted for "cpu" only: there is no other.

>>> import tinygrad_gd as torch
>>> torch.zeros(2, 3).shape, torch.arange(3).dtype == torch.int64, torch.tensor(True).dtype == torch.bool
((2, 3), True, True)
"""

import numpy as np

from . import random
from . import value as _value
from .value import Value


def _default_float():
    return _value.DEFAULT_FLOAT


def _size(size, name="size"):
    """(2, 3) from `2, 3`, `(2, 3)` or `[2, 3]`; () from `()`."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 for n in size):
        raise ValueError(f"{name} must be non-negative ints, as zeros(2, 3) or zeros((2, 3)); got {size!r}")
    return tuple(int(n) for n in size)


def _device(device):
    if device is not None and str(device) != "cpu":
        raise ValueError(f"device {device!r} is not available: tinygrad_gd runs on the CPU only (drop device lines)")


def _make(data, dtype, requires_grad, device=None):
    """The one place a creation function builds its Value: in `dtype`, else floats in the default float."""
    _device(device)
    data = np.asarray(data)
    if dtype is None:
        dtype = _default_float() if data.dtype.kind == "f" else data.dtype
    return Value(data, requires_grad=requires_grad, dtype=dtype)


def device(name="cpu"):
    """`torch.device("cpu")`: the only device there is; anything else raises."""
    _device(name)
    return "cpu"


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new Value holding a copy of `data`, its dtype inferred as `torch.tensor` does.

    Python bools become bool, ints int64, floats the default float; NumPy arrays and Values keep their dtype.
    (`Value(...)` differs on purpose: it always holds floats unless given a dtype.)
    """
    if dtype is None:
        if isinstance(data, (Value, np.ndarray, np.generic)):
            dtype = data.dtype
        else:
            kind = np.asarray(getattr(data, "data", data)).dtype.kind
            dtype = {"b": np.bool_, "i": np.int64, "u": np.int64}.get(kind) or _default_float()
    _device(device)
    return Value(data, requires_grad=requires_grad, dtype=dtype)


as_tensor = tensor


def from_numpy(array):
    """A Value holding a copy of the array, in its dtype (PyTorch shares the memory; a copy is the safe choice here)."""
    return tensor(np.asarray(array))


def is_tensor(x):
    """True for a Value (PyTorch's `torch.is_tensor`)."""
    return isinstance(x, Value)


def numel(x):
    return x.numel()


def zeros(*size, dtype=None, requires_grad=False, device=None):
    return _make(np.zeros(_size(size), dtype or _default_float()), dtype, requires_grad, device)


def ones(*size, dtype=None, requires_grad=False, device=None):
    return _make(np.ones(_size(size), dtype or _default_float()), dtype, requires_grad, device)


def empty(*size, dtype=None, requires_grad=False, device=None):
    """Like zeros (PyTorch leaves the memory uninitialised; here it is zeros, which is one valid choice)."""
    return zeros(*size, dtype=dtype, requires_grad=requires_grad, device=device)


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    """`size` filled with `fill_value`; the dtype follows the value (int64 for an int, bool for a bool)."""
    data = np.full(_size((size,)), fill_value)
    return _make(data.astype(np.int64) if data.dtype.kind in "iu" else data, dtype, requires_grad, device)


def zeros_like(x, dtype=None, requires_grad=False):
    return zeros(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)


def ones_like(x, dtype=None, requires_grad=False):
    return ones(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, requires_grad=False):
    return full(x.shape, fill_value, dtype=dtype or x.dtype, requires_grad=requires_grad)


def empty_like(x, dtype=None, requires_grad=False):
    return zeros_like(x, dtype=dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """start, start + step, ... up to (not including) end; int64 when all three are ints, else the default float."""
    start, end = (0, start) if end is None else (start, end)
    data = np.arange(start, end, step)
    return _make(data.astype(np.int64) if data.dtype.kind in "iu" else data, dtype, requires_grad, device)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None):
    """`steps` evenly spaced numbers from start to end, both included."""
    return _make(np.linspace(start, end, _size((steps,), "steps")[0]), dtype, requires_grad, device)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    return _make(np.eye(n, m), dtype, requires_grad, device)


def rand(*size, generator=None, dtype=None, requires_grad=False, device=None):
    """Uniform on [0, 1), from the default generator (see manual_seed) unless given one."""
    return _make(random.generator(generator).random(_size(size)), dtype, requires_grad, device)


def randn(*size, generator=None, dtype=None, requires_grad=False, device=None):
    """Standard normal draws, from the default generator (see manual_seed) unless given one."""
    return _make(random.generator(generator).standard_normal(_size(size)), dtype, requires_grad, device)


def randint(low, high=None, size=None, generator=None, dtype=None, requires_grad=False, device=None):
    """Integers in [low, high) (int64); `randint(10, (3,))` means low = 0, high = 10, as in PyTorch."""
    if size is None:
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint needs a size: randint(high, size) or randint(low, high, size)")
    return _make(random.generator(generator).integers(low, high, _size((size,))), dtype or np.int64,
                 requires_grad, device)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, requires_grad=False, device=None):
    """Normal draws: `normal(0, 1, (3, 2))` as in PyTorch, or with Values for mean and std (their shape)."""
    mean, std = getattr(mean, "data", mean), getattr(std, "data", std)
    shape = np.broadcast_shapes(np.shape(mean), np.shape(std)) if size is None else _size((size,))
    return _make(random.generator(generator).normal(mean, std, shape), dtype, requires_grad, device)


def rand_like(x, dtype=None, requires_grad=False, generator=None):
    return rand(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad, generator=generator)


def randn_like(x, dtype=None, requires_grad=False, generator=None):
    return randn(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad, generator=generator)


__all__ = ["tensor", "as_tensor", "from_numpy", "is_tensor", "numel", "device", "zeros", "ones", "empty", "full",
           "zeros_like", "ones_like", "full_like", "empty_like", "arange", "linspace", "eye", "rand", "randn",
           "randint", "normal", "rand_like", "randn_like"]
