"""`python -m benchmarks`: pin every system to one thread, then run the harness.

BLAS libraries read their thread count once, when NumPy (or torch) is first imported, so the variables must be
set before that: if they are not, this re-executes itself with them set.
"""

import os
import sys

PINNED = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

if any(os.environ.get(name) != "1" for name in PINNED):
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks", *sys.argv[1:]],
              {**os.environ, **dict.fromkeys(PINNED, "1")})

from .harness import main  # noqa: E402 (after the threads are pinned)

main()
