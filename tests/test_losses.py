"""The score: each loss against hand-computed values, gradcheck, extreme inputs, bad arguments, and PyTorch."""

import math

import numpy as np
import pytest

from tinygrad_gd import Value
from tinygrad_gd.backprop import gradcheck
from tinygrad_gd.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
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
