"""Small datasets to descend on, and `batches`: how much data each step of the hiker looks at.

Every generator is deterministic: the same `rng` (a seed or np.random.Generator) gives the same numbers.
Features are float64 arrays of shape (n, features); class labels are int64 arrays of shape (n,).

`batches` chooses the flavour of gradient descent: the whole dataset per step (full-batch descent, the exact
gradient), a few samples (mini-batch), or one (stochastic gradient descent: a noisy but cheap step).
"""

import numpy as np

from .random import generator


def _check_n(n_samples, minimum=1):
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < minimum:
        raise ValueError(f"n_samples must be an int >= {minimum}, not {n_samples!r}")


def _check_noise(noise, name="noise"):
    if not noise >= 0:  # NaN too
        raise ValueError(f"{name} must be >= 0, not {noise}")


def _check_features(n_features):
    if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) or n_features < 1:
        raise ValueError(f"n_features must be an int >= 1, not {n_features!r}")


def make_moons(n_samples=200, noise=0.1, rng=0):
    """Two interleaving half circles in 2-d (scikit-learn's recipe): a problem no straight line separates.

    >>> X, y = make_moons(200, noise=0.1, rng=0)
    >>> X.shape, np.bincount(y).tolist()
    ((200, 2), [100, 100])
    """
    _check_n(n_samples, 2)
    _check_noise(noise)
    rng = np.random.default_rng(rng)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    t_outer, t_inner = np.linspace(0, np.pi, n_outer), np.linspace(0, np.pi, n_inner)
    outer = np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1)
    inner = np.stack([1 - np.cos(t_inner), 0.5 - np.sin(t_inner)], axis=1)
    X = np.concatenate([outer, inner]) + rng.normal(scale=noise, size=(n_samples, 2))
    y = np.concatenate([np.zeros(n_outer, np.int64), np.ones(n_inner, np.int64)])
    order = rng.permutation(n_samples)
    return X[order], y[order]


def make_blobs(n_samples=200, centers=3, n_features=2, cluster_std=1.0, center_box=(-10.0, 10.0), rng=0):
    """Gaussian clusters around `centers` random points (or the given (k, n_features) array of centres)."""
    _check_n(n_samples)
    _check_features(n_features)
    _check_noise(cluster_std, "cluster_std")
    rng = np.random.default_rng(rng)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        if centers < 1:
            raise ValueError(f"centers must be >= 1, not {centers}")
        centers = rng.uniform(*center_box, size=(centers, n_features))
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2:
        raise ValueError(f"centers must be an int or a (k, n_features) array, got shape {centers.shape}")
    y = np.arange(n_samples, dtype=np.int64) % len(centers)  # classes as even as possible
    X = centers[y] + rng.normal(scale=cluster_std, size=(n_samples, centers.shape[1]))
    order = rng.permutation(n_samples)
    return X[order], y[order]


def make_linear_regression(n_samples=100, n_features=1, noise=0.1, rng=0):
    """X, y = X @ weights + bias + noise, and the true `weights` (n_features,) and `bias` to compare with.

    y has shape (n, 1), the shape `Linear(n_features, 1)` produces: a target of shape (n,) would broadcast
    against (n, 1) into an (n, n) matrix and silently train on the wrong loss.
    """
    _check_n(n_samples)
    _check_features(n_features)
    _check_noise(noise)
    rng = np.random.default_rng(rng)
    weights = rng.uniform(-3, 3, size=n_features)
    bias = float(rng.uniform(-2, 2))
    X = rng.normal(size=(n_samples, n_features))
    y = X @ weights + bias + rng.normal(scale=noise, size=n_samples)
    return X, y[:, None], weights, bias


def load_digits():
    """The 1,797 8x8 handwritten digits (from scikit-learn's bundled copy: offline, no download).

    Returns images of shape (1797, 1, 8, 8) scaled to [0, 1] (channel first, for Conv2d) and labels 0-9.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError:
        raise ImportError("load_digits() reads the copy of the digits that ships with scikit-learn; "
                          "install it with: pip install tinygrad-gd[data]") from None
    digits = sklearn_load_digits()
    X = (digits.images / 16.0).astype(np.float64)[:, None, :, :]
    return X, digits.target.astype(np.int64)


def train_test_split(X, y, test_fraction=0.2, rng=0):
    """Shuffle once and split: returns X_train, X_test, y_train, y_test (scikit-learn's order)."""
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of samples, got {len(X)} and {len(y)}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, not {test_fraction}")
    if len(X) < 2:
        raise ValueError(f"train_test_split needs at least 2 samples (one to train on, one to test), got {len(X)}")
    order = np.random.default_rng(rng).permutation(len(X))
    n_test = min(max(1, round(len(X) * test_fraction)), len(X) - 1)  # neither part is ever empty
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


def batches(X, y, batch_size=None, shuffle=True, rng=None):
    """Yield (X_batch, y_batch) covering every sample exactly once: one epoch.

    batch_size=None (or >= n) gives one batch, full-batch descent; batch_size=1 gives stochastic descent;
    anything between gives mini-batches (the last one may be smaller). With shuffle, the order is new each
    epoch (pass one np.random.Generator to every epoch; a seed repeats the same order). Without `rng` the
    default generator shuffles, so `manual_seed` makes the batches repeatable.

    >>> [len(xb) for xb, yb in batches(np.zeros((5, 2)), np.zeros(5), batch_size=2)]
    [2, 2, 1]
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of samples, got {len(X)} and {len(y)}")
    if len(X) == 0:
        raise ValueError("cannot make batches from an empty dataset")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int or None (full batch), not {batch_size!r}")
    n = len(X)
    size = n if batch_size is None else min(batch_size, n)
    order = generator(rng).permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, size):
        index = order[start:start + size]
        yield X[index], y[index]
