"""nn.functional and the modules built on it (activations, losses) against PyTorch 2.13 and gradcheck."""

import numpy as np
import pytest

from tinygrad_gd import Value, nn
from tinygrad_gd.autograd import gradcheck
from tinygrad_gd.nn import functional as F

X = np.array([[-30.0, -3.0, -2.5, -1.0, -1e-3, 0.0], [1e-3, 0.7, 1.0, 3.0, 6.0, 40.0]])  # ±3: hardswish's kinks
ACTIVATIONS = [  # (ours, PyTorch's name, kwargs)
    (nn.LeakyReLU(), "LeakyReLU", {}), (nn.LeakyReLU(0.2), "LeakyReLU", {"negative_slope": 0.2}),
    (nn.ELU(), "ELU", {}), (nn.ELU(0.5), "ELU", {"alpha": 0.5}), (nn.SiLU(), "SiLU", {}),
    (nn.GELU("tanh"), "GELU", {"approximate": "tanh"}), (nn.GELU(), "GELU", {}), (nn.Softplus(), "Softplus", {}),
    (nn.Softplus(2.0, 5.0), "Softplus", {"beta": 2.0, "threshold": 5.0}), (nn.Hardtanh(), "Hardtanh", {}),
    (nn.ReLU6(), "ReLU6", {}), (nn.Softsign(), "Softsign", {}), (nn.Softmax(dim=1), "Softmax", {"dim": 1}),
    (nn.LogSoftmax(dim=0), "LogSoftmax", {"dim": 0}), (nn.Identity(), "Identity", {}), (nn.ReLU(), "ReLU", {}),
    (nn.Tanh(), "Tanh", {}), (nn.Sigmoid(), "Sigmoid", {}), (nn.SELU(), "SELU", {}), (nn.CELU(0.5), "CELU",
                                                                                      {"alpha": 0.5}),
    (nn.Mish(), "Mish", {}), (nn.Hardsigmoid(), "Hardsigmoid", {}), (nn.Hardswish(), "Hardswish", {}),
    (nn.PReLU(), "PReLU", {}),
]


@pytest.mark.parametrize("ours, name, kwargs", ACTIVATIONS, ids=[a[1] + str(a[2]) for a in ACTIVATIONS])
def test_activations_match_pytorch(ours, name, kwargs):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, name)(**kwargs).double()
    x = Value(X, requires_grad=True)
    xt = torch.tensor(X, requires_grad=True)
    weights = np.linspace(-1, 2, X.size).reshape(X.shape)
    out, out_t = ours(x), theirs(xt)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    (out * Value(weights)).sum().backward()
    (out_t * torch.as_tensor(weights)).sum().backward()
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32 (even in float64): equal to that precision
    rtol = 1e-7 if name == "Hardsigmoid" else 1e-12
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=rtol, atol=1e-12)  # including the slope at 0


@pytest.mark.parametrize("fn", [F.leaky_relu, F.elu, F.silu, lambda x: F.gelu(x, "tanh"), F.softplus, F.softsign,
                                F.selu, F.celu, F.mish, F.hardsigmoid, F.hardswish,
                                lambda x: F.prelu(x, Value(np.array([0.3])))])
def test_activations_gradcheck(fn):
    assert gradcheck(fn, [Value(np.array([-2.0, -0.4, 0.3, 1.7]))])


LOSS_MODULES = [  # (ours, PyTorch's, input, target)
    (nn.MSELoss(reduction="sum"), "MSELoss", {"reduction": "sum"}, "real"),
    (nn.L1Loss(), "L1Loss", {}, "real"), (nn.HuberLoss(delta=0.5), "HuberLoss", {"delta": 0.5}, "real"),
    (nn.SmoothL1Loss(beta=0.5, reduction="none"), "SmoothL1Loss", {"beta": 0.5, "reduction": "none"}, "real"),
    (nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5, 1.0, 3.0, 0.7], label_smoothing=0.1, ignore_index=1),
     "CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5, 1.0, 3.0, 0.7], "label_smoothing": 0.1, "ignore_index": 1},
     "class"),
    (nn.NLLLoss(reduction="sum"), "NLLLoss", {"reduction": "sum"}, "class"),
    (nn.BCELoss(weight=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), "BCELoss", {"weight": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}, "prob"),
    (nn.BCEWithLogitsLoss(pos_weight=[2.0, 1.0, 0.5, 1.0, 3.0, 0.2]), "BCEWithLogitsLoss",
     {"pos_weight": [2.0, 1.0, 0.5, 1.0, 3.0, 0.2]}, "real01"),
]


@pytest.mark.parametrize("ours, name, kwargs, kind", LOSS_MODULES, ids=[m[1] for m in LOSS_MODULES])
def test_loss_modules_match_pytorch(ours, name, kwargs, kind):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, name)(**{k: torch.tensor(v, dtype=torch.float64) if isinstance(v, list) else v
                                        for k, v in kwargs.items()})
    rng = np.random.default_rng(0)
    x = {"real": X, "class": X, "real01": X, "prob": 1 / (1 + np.exp(-X / 10))}[kind]
    target = {"real": rng.normal(size=X.shape), "class": np.array([1, 3]), "real01": rng.uniform(size=X.shape),
              "prob": rng.uniform(size=X.shape)}[kind]
    xv, xt = Value(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, out_t = ours(xv, target), theirs(xt, torch.as_tensor(target))
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.sum().backward()
    out_t.sum().backward()
    np.testing.assert_allclose(xv.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


def test_loss_modules_refuse_bad_settings():
    with pytest.raises(ValueError, match="Invalid reduction: 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="Invalid label_smoothing: -0.1"):
        nn.CrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(TypeError, match=r"Softmax needs dim"):
        nn.Softmax()


def test_one_hot_and_linear_match_pytorch():
    torch = pytest.importorskip("torch")
    labels = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(F.one_hot(labels), torch.nn.functional.one_hot(torch.as_tensor(labels)).numpy())
    np.testing.assert_array_equal(F.one_hot(labels, 6).shape, (2, 2, 6))
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        F.one_hot([0, 3], num_classes=3)
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=2)
    expected = torch.nn.functional.linear(*map(torch.as_tensor, (x, w, b))).numpy()
    np.testing.assert_allclose(F.linear(x, w, b).data, expected, rtol=1e-12)
    assert gradcheck(lambda x, w: F.linear(x, w), [Value(x), Value(w)])
