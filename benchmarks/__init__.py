"""Benchmarks of tinygrad_gd against hand-written NumPy, micrograd, PyTorch, MyGrad and HIPS autograd (issue 6).

Run `make bench` (or `python -m benchmarks`); `python -m benchmarks --quick` is the smoke run. See README.md here.
This package imports nothing at import time, so `__main__` can pin the BLAS threads before NumPy loads.
"""
