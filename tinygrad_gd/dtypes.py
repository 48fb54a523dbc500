"""Dtype names as PyTorch spells them: `dtype=torch.float`, `v.dtype == torch.float64` read the same here.

Each name is a NumPy dtype, so `tinygrad_gd.float64 == np.float64` and a Value's `.dtype` compares equal to it.
As in PyTorch, `float` is float32 and `double` float64, `long` is int64 and `int` int32. One thing differs on
purpose: the default float, which Python numbers become, is float64 (so the article's step prints 4.4, not
4.400000095367432); `set_default_dtype(float32)` switches it to PyTorch's.

>>> import tinygrad_gd as torch
>>> torch.tensor([1.5]).dtype == torch.float64, torch.tensor([1, 2]).dtype == torch.long
(True, True)
"""

import numpy as np

from . import value

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 (PyTorch's names: torch.float is float32)
float64 = double = np.dtype(np.float64)
uint8 = np.dtype(np.uint8)
int8 = np.dtype(np.int8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001
NAMES = ("float16", "half", "float32", "float", "float64", "double", "uint8", "int8", "int16", "short", "int32", "int",
         "int64", "long", "bool", "is_floating_point")


def set_default_dtype(dtype):
    """Make `dtype` (float32 or float64) what Python floats and the creation functions give from now on."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype takes a floating-point dtype (float32 or float64), not {dtype}")
    value.DEFAULT_FLOAT = dtype


def get_default_dtype():
    """The dtype Python floats become: float64 unless set_default_dtype changed it."""
    return value.DEFAULT_FLOAT


def is_floating_point(x):
    return x.dtype.kind == "f"
