"""One default random generator, as in PyTorch: after `manual_seed(0)` every later draw repeats run after run.

`rand`, `randn`, `randint`, `normal` and the `*_like` functions, layer initialisation (nn) and the shuffling of
`data.batches` and `train.fit` all draw from it, unless they are handed their own generator (`generator=` or
`rng=`, a seed or an np.random.Generator), which always wins.

>>> import tinygrad_gd as torch
>>> _ = torch.manual_seed(0); first = torch.randn(3).tolist()
>>> _ = torch.manual_seed(0); first == torch.randn(3).tolist()
True
"""

import numpy as np

default_generator = np.random.default_rng()


def manual_seed(seed):
    """Reseed the default generator (PyTorch's `torch.manual_seed`) and return it."""
    global default_generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed takes a non-negative int, not {seed!r}")
    default_generator = np.random.default_rng(int(seed))
    return default_generator


def seed():
    """Reseed the default generator from fresh entropy (PyTorch's `torch.seed`)."""
    global default_generator
    default_generator = np.random.default_rng()


def generator(rng=None):
    """The generator to draw from: `rng` when given (a seed or an np.random.Generator), else the default one."""
    return default_generator if rng is None else np.random.default_rng(rng)
