"""The benchmark process's own environment: one BLAS thread, and the CPU's own BLAS kernels.

BLAS libraries read these variables once, when NumPy (or torch) is first imported, so they must be right before
that: if they are not, `pin` re-executes the interpreter with them fixed. Only this process and its children see
the change; `make test` and CI keep the environment they were given.

- `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS` = 1: every system gets one core.
- `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` are removed, both together: a machine may set them to force one
  kernel family (Haswell's AVX2 on an AVX-512 processor is 1.7-1.9x slower on big products), which is right for
  reproducible tests and wrong for a measurement of what a user's machine does. What was removed is passed on in
  `UNSET_NOTE`, so the report can say so; the harness prints the kernel OpenBLAS then chose (threadpoolctl).

This module imports only os and sys.
"""

import os
import sys

PINNED = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
UNSET_NOTE = "TINYGRAD_GD_BENCH_UNSET"  # "NAME=value,NAME=value" of what pin() removed ("" when nothing was set)


def pin(module):
    """Re-execute `python -m module argv...` with the threads pinned and the BLAS overrides removed, if needed."""
    if all(os.environ.get(name) == "1" for name in PINNED) and not any(name in os.environ for name in UNSET):
        os.environ.setdefault(UNSET_NOTE, "")  # nothing to remove: the report says the overrides were not set
        return
    removed = ",".join(f"{name}={os.environ[name]}" for name in UNSET if name in os.environ)
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env.update(dict.fromkeys(PINNED, "1"))
    env[UNSET_NOTE] = ",".join(filter(None, [env.get(UNSET_NOTE, ""), removed]))
    os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], env)
