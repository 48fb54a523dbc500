"""The score: each loss against hand-computed values, gradcheck, extreme inputs, bad arguments, and PyTorch."""

import math

import numpy as np
import pytest

from tinygrad_gd import Value
from tinygrad_gd.autograd import gradcheck
from tinygrad_gd.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

PRED = np.array([0.5, -1.0, 2.0, 4.0])
TRUE = np.array([1.0, 1.0, 2.5, 0.0])


def test_regression_losses_by_hand():
    # differences: -0.5, -2, -0.5, 4
    assert mse_loss(Value(PRED), TRUE).item() == pytest.approx((0.25 + 4 + 0.25 + 16) / 4)
    assert l1_loss(Value(PRED), TRUE, reduction="sum").item() == pytest.approx(7.0)
    # huber, delta 1: 0.125, 1.5, 0.125, 3.5
    np.testing.assert_allclose(huber_loss(Value(PRED), TRUE, reduction="none").data, [0.125, 1.5, 0.125, 3.5])
    np.testing.assert_allclose(huber_loss(Value(PRED), TRUE, reduction="none", delta=2.0).data,
                               [0.125, 2.0, 0.125, 6.0])


def test_seed_example_as_a_loss():
    w = Value(5.0, requires_grad=True)
    loss = mse_loss(w, 2.0)
    loss.backward()
    assert (loss.item(), w.grad.item()) == (9.0, 6.0)


def test_cross_entropy_by_hand():
    logits = np.array([[2.0, 1.0, 0.1], [0.0, 0.0, 3.0]])
    target = np.array([0, 2])
    expected = [-math.log(math.exp(2) / (math.exp(2) + math.e + math.exp(0.1))),
                -math.log(math.exp(3) / (2 + math.exp(3)))]
    np.testing.assert_allclose(cross_entropy(Value(logits), target, reduction="none").data, expected)
    assert cross_entropy(Value(logits), target).item() == pytest.approx(np.mean(expected))
    assert cross_entropy(Value(logits[1]), np.int64(2)).item() == pytest.approx(expected[1])  # one example


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    logits = Value(np.array([[2.0, 1.0, 0.1], [0.0, 0.0, 3.0]]), requires_grad=True)
    cross_entropy(logits, np.array([0, 2]), reduction="sum").backward()
    softmax = np.exp(logits.data) / np.exp(logits.data).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(logits.grad, softmax - np.eye(3)[[0, 2]])


def test_binary_cross_entropy_by_hand_and_clamped_at_the_ends():
    p, t = np.array([0.9, 0.2, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 1.0, 0.0, 0.0])
    probs = Value(p, requires_grad=True)
    loss = binary_cross_entropy(probs, t, reduction="none")
    np.testing.assert_allclose(loss.data, [-math.log(0.9), -math.log(0.8), 100.0, 100.0, 0.0])
    loss.sum().backward()
    # PyTorch's rule: (p − t) / max(p(1 − p), 1e-12): finite where the clamped log is flat
    np.testing.assert_allclose(probs.grad, [-1 / 0.9, 1 / 0.8, -1e12, 1e12, 0.0], rtol=1e-7)


def test_bce_with_logits_is_finite_at_huge_logits():
    x = Value(np.array([1e4, -1e4, 1e4, -1e4, 0.0, 2.0]), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.3])
    loss = binary_cross_entropy_with_logits(x, t, reduction="none")
    expected_last = -(0.3 * math.log(1 / (1 + math.exp(-2))) + 0.7 * math.log(1 - 1 / (1 + math.exp(-2))))
    np.testing.assert_allclose(loss.data, [0.0, 0.0, 1e4, 1e4, math.log(2), expected_last], atol=1e-12)
    loss.sum().backward()
    sigmoid = 1 / (1 + np.exp(-np.clip(x.data, -500, 500)))
    np.testing.assert_allclose(x.grad, sigmoid - t, atol=1e-12)  # d/dx = σ(x) − t, and 0.5 − t at x = 0


@pytest.mark.parametrize("loss_fn, make", [
    (mse_loss, lambda rng: rng.normal(size=(2, 3))),
    (l1_loss, lambda rng: rng.normal(size=(2, 3))),
    (lambda x, y, reduction="mean": huber_loss(x, y, reduction, delta=0.7), lambda rng: rng.normal(size=(2, 3)) * 2),
    (binary_cross_entropy, lambda rng: rng.uniform(0.05, 0.95, size=(2, 3))),
    (binary_cross_entropy_with_logits, lambda rng: rng.normal(size=(2, 3)) * 3),
])
def test_gradcheck_regression_and_binary_losses(loss_fn, make, rng):
    x, y = make(rng), rng.uniform(0.1, 0.9, size=(2, 3))
    if loss_fn in (mse_loss, l1_loss):
        y = x + rng.uniform(0.2, 1.0, size=(2, 3)) * rng.choice([-1, 1], size=(2, 3))  # away from l1's kink
    weights = Value(np.arange(6.0).reshape(2, 3))
    assert gradcheck(lambda v: loss_fn(v, y), [Value(x)])
    assert gradcheck(lambda v: loss_fn(v, y, reduction="sum"), [Value(x)])
    assert gradcheck(lambda v: loss_fn(v, y, reduction="none") * weights, [Value(x)])


def test_gradcheck_cross_entropy(rng):
    target = np.array([1, 0, 3])
    assert gradcheck(lambda v: cross_entropy(v, target), [Value(rng.normal(size=(3, 4)))])
    assert gradcheck(lambda v: cross_entropy(v, target, reduction="none") * Value([1.0, 2.0, 3.0]),
                     [Value(rng.normal(size=(3, 4)) * 5)])


def test_cross_entropy_is_finite_at_huge_logits():
    logits = Value(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]]), requires_grad=True)
    loss = cross_entropy(logits, np.array([0, 0]), reduction="none")
    np.testing.assert_allclose(loss.data, [0.0, 2e4])
    loss.sum().backward()
    np.testing.assert_allclose(logits.grad, [[0, 0, 0], [-1, 1, 0]], atol=1e-12)


@pytest.mark.parametrize("call, error, message", [
    (lambda: mse_loss(Value(PRED), TRUE, reduction="avg"), ValueError, "Invalid reduction: 'avg'"),
    (lambda: cross_entropy(Value(np.ones((2, 3))), [0, 1], reduction="max"), ValueError, "Invalid reduction: 'max'"),
    (lambda: mse_loss(Value(PRED), TRUE[:3]), ValueError, r"input has shape \(4,\) but target has shape \(3,\)"),
    (lambda: l1_loss(Value(np.ones((4, 1))), TRUE), ValueError, r"\(4, 1\) but target has shape \(4,\)"),
    (lambda: cross_entropy(Value(np.ones((2, 3))), [0, 3]), IndexError, "class index 3 is out of range for 3"),
    (lambda: cross_entropy(Value(np.ones((2, 3))), [-1, 0]), IndexError, "class index -1"),
    (lambda: cross_entropy(Value(np.ones((2, 3))), [0.5, 1]), ValueError, "integer class indices"),
    (lambda: cross_entropy(Value(np.ones((2, 3))), [0, 1, 2]), ValueError, r"\(2, 3\) and target has shape \(3,\)"),
    (lambda: binary_cross_entropy(Value([1.5]), [1.0]), ValueError, "must lie in \\[0, 1\\], got 1.5"),
    (lambda: binary_cross_entropy(Value([0.5, np.nan]), [1.0, 1.0]), ValueError, "must lie in \\[0, 1\\], got nan"),
    (lambda: huber_loss(Value(PRED), TRUE, delta=0), ValueError, "Invalid delta: 0"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_float_class_indices_are_accepted():
    logits = Value(np.ones((2, 3)))
    assert cross_entropy(logits, Value([0.0, 2.0])).item() == pytest.approx(math.log(3))


# ---- PyTorch, when installed ---------------------------------------------------------------------------------------
def _torch_pair(torch, ours_fn, theirs_fn, x, y, **kwargs):
    xv = Value(x, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    for reduction in ("mean", "sum", "none"):
        xv.grad, xt.grad = None, None
        ours = ours_fn(xv, y, reduction=reduction, **kwargs)
        theirs = theirs_fn(xt, torch.as_tensor(y), reduction=reduction, **kwargs)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
        weights = np.arange(1.0, 1.0 + ours.numel()).reshape(ours.shape)
        (ours * Value(weights)).sum().backward()
        (theirs * torch.as_tensor(weights)).sum().backward()
        np.testing.assert_allclose(xv.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_losses_match_pytorch():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    _torch_pair(torch, mse_loss, functional.mse_loss, x, y)
    _torch_pair(torch, l1_loss, functional.l1_loss, x, y)
    _torch_pair(torch, huber_loss, functional.huber_loss, x * 2, y, delta=0.8)
    logits = np.array([[1e4, -1e4, 0.0, 3.0], [-2.0, 0.5, 1e3, 0.0], [0.0, 0.0, 0.0, 0.0]])
    _torch_pair(torch, cross_entropy, functional.cross_entropy, logits, np.array([0, 2, 3]))
    probs = np.array([[0.0, 1.0, 0.3, 0.999999], [1e-30, 0.5, 1.0, 0.0]])
    targets = np.array([[1.0, 0.0, 0.3, 1.0], [1.0, 0.5, 1.0, 0.0]])
    _torch_pair(torch, binary_cross_entropy, functional.binary_cross_entropy, probs, targets)
    logits = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, 1e4, -30.0, 50.0]])
    _torch_pair(torch, binary_cross_entropy_with_logits, functional.binary_cross_entropy_with_logits, logits, targets)


def _compare(torch, ours_fn, theirs_fn, x, y, ours_kwargs, theirs_kwargs, reductions=("mean", "sum", "none")):
    """Value and gradient (through a weighted sum, so every output counts differently) equal to PyTorch's."""
    for reduction in reductions:
        xv = Value(x, requires_grad=True)
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        ours = ours_fn(xv, y, reduction=reduction, **ours_kwargs)
        theirs = theirs_fn(xt, torch.as_tensor(y), reduction=reduction, **theirs_kwargs)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=reduction)
        weights = np.arange(1.0, 1.0 + ours.numel()).reshape(ours.shape)
        (ours * Value(weights)).sum().backward()
        (theirs * torch.as_tensor(weights)).sum().backward()
        np.testing.assert_allclose(xv.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=reduction)


EXTREME = np.array([[1e4, -1e4, 0.0, 3.0], [-2.0, 0.5, 1e3, 0.0], [0.0, 0.0, 0.0, 0.0], [5.0, -3.0, 2.0, 1.0],
                    [-1e3, 1e3, 0.0, 0.0]])
LABELS = np.array([0, 2, 3, 1, 2])
CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])


@pytest.mark.parametrize("options", [
    {"weight": CLASS_WEIGHT}, {"ignore_index": 2}, {"label_smoothing": 0.1},
    {"weight": CLASS_WEIGHT, "ignore_index": 3, "label_smoothing": 0.25}, {"ignore_index": -100},
])
def test_cross_entropy_options_match_pytorch(options):
    torch = pytest.importorskip("torch")
    theirs = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    _compare(torch, cross_entropy, torch.nn.functional.cross_entropy, EXTREME, LABELS, options, theirs)
    log_probs = Value(EXTREME).log_softmax(axis=1).data
    nll_options = {k: v for k, v in options.items() if k != "label_smoothing"}
    nll_theirs = {k: v for k, v in theirs.items() if k != "label_smoothing"}
    _compare(torch, nll_loss, torch.nn.functional.nll_loss, log_probs, LABELS, nll_options, nll_theirs)


@pytest.mark.parametrize("options", [{}, {"weight": CLASS_WEIGHT}, {"label_smoothing": 0.2},
                                     {"weight": CLASS_WEIGHT, "label_smoothing": 0.05}])
def test_cross_entropy_with_probability_targets_matches_pytorch(options):
    torch = pytest.importorskip("torch")
    probs = np.random.default_rng(3).dirichlet(np.ones(4), size=5)
    theirs = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    _compare(torch, cross_entropy, torch.nn.functional.cross_entropy, EXTREME, probs, options, theirs)


def test_cross_entropy_over_extra_axes_and_one_example_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x, t = rng.normal(size=(2, 3, 4, 5)), rng.integers(0, 3, size=(2, 4, 5))
    for options in ({}, {"weight": np.array([1.0, 2.0, 0.5]), "ignore_index": 1}):
        theirs = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
        _compare(torch, cross_entropy, torch.nn.functional.cross_entropy, x, t, options, theirs)
    _compare(torch, cross_entropy, torch.nn.functional.cross_entropy, EXTREME[0], np.array(1),
             {"label_smoothing": 0.1}, {"label_smoothing": 0.1})


def test_cross_entropy_options_by_hand():
    x = Value(np.zeros((3, 2)), requires_grad=True)  # every probability is ½: each row's loss is log 2
    loss = cross_entropy(x, [0, 1, 1], weight=[1.0, 3.0])  # (1 + 3 + 3)·log 2 / (1 + 3 + 3)
    assert loss.item() == pytest.approx(math.log(2))
    assert cross_entropy(x, [0, 1, 1], weight=[1.0, 3.0], reduction="sum").item() == pytest.approx(7 * math.log(2))
    ignored = cross_entropy(x, [0, -100, 1], reduction="none")
    np.testing.assert_allclose(ignored.data, [math.log(2), 0.0, math.log(2)])
    ignored.sum().backward()
    np.testing.assert_array_equal(x.grad[1], [0.0, 0.0])  # an ignored row gets no gradient


def test_cross_entropy_option_errors_are_named():
    x = Value(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"weight must hold one number per class, shape \(3,\), got \(2,\)"):
        cross_entropy(x, [0, 1], weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="Invalid label_smoothing: 1.5"):
        cross_entropy(x, [0, 1], label_smoothing=1.5)
    with pytest.raises(IndexError, match="class index 3 is out of range for 3 classes"):
        cross_entropy(x, [3, -100])


def test_smooth_l1_and_weighted_binary_losses_match_pytorch():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(3, 4)) * 2, rng.normal(size=(3, 4))
    for beta in (0.5, 1.0, 0.0):
        _compare(torch, smooth_l1_loss, functional.smooth_l1_loss, x, y, {"beta": beta}, {"beta": beta})
    probs = np.array([[0.0, 1.0, 0.3, 0.999999], [1e-30, 0.5, 1.0, 0.0]])
    targets = np.array([[1.0, 0.0, 0.3, 1.0], [1.0, 0.5, 1.0, 0.0]])
    weight = np.array([0.5, 1.0, 2.0, 3.0])
    _compare(torch, binary_cross_entropy, functional.binary_cross_entropy, probs, targets,
             {"weight": weight}, {"weight": torch.as_tensor(weight)})
    logits = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, 1e4, -30.0, 50.0]])
    pos = np.array([3.0, 0.5, 1.0, 2.0])
    _compare(torch, binary_cross_entropy_with_logits, functional.binary_cross_entropy_with_logits, logits, targets,
             {"pos_weight": pos, "weight": weight},
             {"pos_weight": torch.as_tensor(pos), "weight": torch.as_tensor(weight)})
