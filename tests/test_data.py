"""Datasets are deterministic and shaped as documented; batches cover every sample exactly once per epoch."""

import numpy as np
import pytest

from tinygrad_gd import data


@pytest.mark.parametrize("make", [lambda rng: data.make_moons(50, rng=rng),
                                  lambda rng: data.make_blobs(60, centers=3, rng=rng),
                                  lambda rng: data.make_linear_regression(40, 3, rng=rng)])
def test_generators_are_deterministic(make):
    first, again, other = make(0), make(0), make(1)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_moons_shape_and_classes():
    X, y = data.make_moons(201, noise=0.0)
    assert X.shape == (201, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 101]
    outer = X[y == 0]
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0)  # without noise the outer moon is the unit half circle
    with pytest.raises(ValueError, match="noise"):
        data.make_moons(10, noise=-1)
    with pytest.raises(ValueError, match="n_samples"):
        data.make_moons(1)


def test_blobs_and_linear_regression():
    X, y = data.make_blobs(90, centers=[[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]], cluster_std=0.1)
    assert X.shape == (90, 2) and np.bincount(y).tolist() == [30, 30, 30]
    np.testing.assert_allclose(X[y == 1].mean(axis=0), [10, 10], atol=0.1)
    X, y, w, b = data.make_linear_regression(500, 2, noise=0.0)
    assert X.shape == (500, 2) and y.shape == (500, 1) and w.shape == (2,)
    np.testing.assert_allclose(y[:, 0], X @ w + b)


def test_load_digits():
    pytest.importorskip("sklearn")
    X, y = data.load_digits()
    assert X.shape == (1797, 1, 8, 8) and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0 and set(y.tolist()) == set(range(10))


def test_load_digits_without_sklearn_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"pip install tinygrad-gd\[data\]"):
        data.load_digits()


@pytest.mark.parametrize("make, message", [
    (lambda: data.make_blobs(10, cluster_std=-1.0), "cluster_std must be >= 0, not -1.0"),
    (lambda: data.make_blobs(10, n_features=0), "n_features must be an int >= 1, not 0"),
    (lambda: data.make_blobs(10, centers=True), "centers must be an int or a"),
    (lambda: data.make_linear_regression(10, n_features=-1), "n_features must be an int >= 1, not -1"),
    (lambda: data.make_moons(10, noise=float("nan")), "noise must be >= 0, not nan"),
    (lambda: data.make_moons(True), "n_samples must be an int >= 2, not True"),
    (lambda: data.train_test_split(np.ones((1, 2)), np.ones(1)), "at least 2 samples"),
])
def test_generators_name_a_bad_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_train_test_split():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_fraction=0.3, rng=0)
    assert len(X_test) == 3 and len(X_train) == 7
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), y)
    np.testing.assert_array_equal(X_train[:, 0] // 2, y_train)  # rows stay paired with their labels
    X_train, X_test, _, _ = data.train_test_split(np.ones((2, 1)), np.ones(2), test_fraction=0.9)
    assert len(X_train) == len(X_test) == 1  # neither part is left empty


@pytest.mark.parametrize("batch_size, sizes", [(None, [10]), (100, [10]), (10, [10]), (4, [4, 4, 2]),
                                               (1, [1] * 10)])
def test_batches_cover_every_sample_once(batch_size, sizes):
    X, y = np.arange(10.0)[:, None] * [1, -1], np.arange(10)
    for shuffle in (True, False):
        got = list(data.batches(X, y, batch_size, shuffle=shuffle, rng=0))
        assert [len(xb) for xb, _ in got] == sizes
        seen = np.concatenate([yb for _, yb in got])
        assert sorted(seen.tolist()) == list(range(10))
        for xb, yb in got:
            np.testing.assert_array_equal(xb[:, 0], yb)  # samples stay with their targets
        assert shuffle or seen.tolist() == list(range(10))


def test_batches_shuffle_is_repeatable_and_changes_per_epoch():
    X, y = np.zeros((50, 1)), np.arange(50)
    order = lambda rng: np.concatenate([yb for _, yb in data.batches(X, y, 8, rng=rng)]).tolist()
    assert order(3) == order(3)
    gen = np.random.default_rng(3)
    assert order(gen) != order(gen)  # one generator across epochs: a new order each epoch


@pytest.mark.parametrize("kwargs, message", [({"batch_size": 0}, "batch_size"), ({"batch_size": 2.5}, "batch_size"),
                                             ({"batch_size": True}, "batch_size")])
def test_batches_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        list(data.batches(np.zeros((3, 1)), np.zeros(3), **kwargs))
    with pytest.raises(ValueError, match="same number of samples"):
        list(data.batches(np.zeros((3, 1)), np.zeros(4)))
    with pytest.raises(ValueError, match="empty"):
        list(data.batches(np.zeros((0, 1)), np.zeros(0)))
