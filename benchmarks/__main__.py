"""`python -m benchmarks`: pin every system to one thread, remove the BLAS kernel overrides, then run the harness.

BLAS libraries read their environment once, when NumPy (or torch) is first imported, so `_env.pin` re-executes
this with it fixed if it is not (see benchmarks/_env.py).
"""

from ._env import pin

pin("benchmarks")

from .harness import main  # noqa: E402 (after the environment is fixed)

main()
