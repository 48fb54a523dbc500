"""Layers: Conv2d and MaxPool2d against direct loops and gradcheck, init statistics, discovery, save/load."""

import os

import numpy as np
import pytest

from tinygrad_gd import Value, nn
from tinygrad_gd.backprop import gradcheck


def conv2d_loops(x, w, b, stride, padding):
    """The textbook definition, one output pixel at a time (PyTorch's cross-correlation)."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(n):
        for c in range(o):
            for r in range(oh):
                for s in range(ow):
                    patch = x[i, :, r * stride:r * stride + kh, s * stride:s * stride + kw]
                    out[i, c, r, s] = np.sum(patch * w[c]) + (0 if b is None else b[c])
    return out


def maxpool_loops(x, k, stride):
    n, c, h, w = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for r in range(oh):
        for s in range(ow):
            out[:, :, r, s] = x[:, :, r * stride:r * stride + k, s * stride:s * stride + k].max(axis=(2, 3))
    return out


CONV_CASES = [  # (x shape, out_channels, kernel, stride, padding, bias)
    ((2, 3, 5, 5), 4, 3, 1, 0, True),
    ((1, 2, 6, 5), 3, 3, 2, 1, True),
    ((2, 1, 4, 4), 2, (2, 3), 1, 2, False),
    ((1, 2, 7, 7), 2, 3, 3, 1, True),
]


@pytest.mark.parametrize("shape, out_channels, kernel, stride, padding, bias", CONV_CASES)
def test_conv2d_matches_loops_and_gradcheck(shape, out_channels, kernel, stride, padding, bias, rng):
    conv = nn.Conv2d(shape[1], out_channels, kernel, stride=stride, padding=padding, bias=bias, rng=0)
    x = rng.normal(size=shape)
    b = None if conv.bias is None else conv.bias.data
    np.testing.assert_allclose(conv(x).data, conv2d_loops(x, conv.weight.data, b, stride, padding), atol=1e-12)

    def fn(x, w, *b):
        conv.weight, conv.bias = w, (b[0] if b else None)
        out = conv(x)
        return out * Value(np.linspace(-1, 1, out.numel()).reshape(out.shape))  # every output weighs differently

    params = [Value(x), Value(conv.weight.data)] + ([Value(conv.bias.data)] if bias else [])
    assert gradcheck(fn, params)


@pytest.mark.parametrize("shape, k, stride", [((2, 3, 4, 4), 2, None), ((1, 2, 5, 6), 3, 1), ((1, 1, 7, 5), 2, 3)])
def test_maxpool2d_matches_loops_and_gradcheck(shape, k, stride):
    x = np.random.default_rng(1).permutation(np.prod(shape)).reshape(shape) * 0.1  # distinct: no ties
    pool = nn.MaxPool2d(k, stride)
    np.testing.assert_array_equal(pool(x).data, maxpool_loops(x, k, k if stride is None else stride))
    assert gradcheck(lambda v: pool(v) * pool(v), [Value(x)])


def test_layers_reject_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(1, 1, 0)
    with pytest.raises(ValueError, match="stride"):
        nn.MaxPool2d(2, stride=0)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        nn.Conv2d(3, 1, 2)(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match="activation"):
        nn.MLP([2, 3], activation="gelu")
    with pytest.raises(TypeError, match=r"one list of layer sizes, e.g. MLP\(\[2, 16, 16, 2\]\)"):
        nn.MLP(2, [16, 16, 2])  # PyTorch-style positional sizes
    for make, message in [(lambda: nn.Linear(0, 2), "in_features must be a positive int, not 0"),
                          (lambda: nn.Linear(2.5, 2), "in_features must be a positive int, not 2.5"),
                          (lambda: nn.MLP([2, 3.5, 1]), "out_features must be a positive int, not 3.5"),
                          (lambda: nn.Conv2d(1, 0, 3), "out_channels must be a positive int, not 0")]:
        with pytest.raises(ValueError, match=message):
            make()


@pytest.mark.parametrize("layer, x, message", [
    (nn.Linear(3, 2, rng=0), np.ones((4, 5)), r"Linear\(3, 2\) expects inputs whose last axis has 3 features, got "
                                              r"shape \(4, 5\)"),
    (nn.Linear(3, 2, bias=False, rng=0), np.ones(2), r"got shape \(2,\)"),
    (nn.Linear(3, 2, rng=0), 5.0, r"got shape \(\)"),
    (nn.Conv2d(1, 2, 3, rng=0), np.ones((1, 1, 2, 2)), r"Conv2d: the 3x3 kernel is larger than the 2x2 image"),
    (nn.MaxPool2d(3), np.ones((1, 1, 2, 4)), r"MaxPool2d: the 3x3 kernel is larger than the 2x4 image"),
])
def test_inputs_that_do_not_fit_the_layer_are_named(layer, x, message):
    with pytest.raises(ValueError, match=message):
        layer(x)
    assert nn.Conv2d(1, 2, 3, padding=1, rng=0)(np.ones((1, 1, 1, 1))).shape == (1, 2, 1, 1)  # padding makes room


def test_linear_init_like_pytorch_and_reproducible():
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / np.sqrt(400)
    w = layer.weight.data
    assert w.shape == (300, 400) and layer.bias.shape == (300,)
    assert (layer.weight.name, layer.bias.name) == ("weight", "bias")  # graph pictures tell them apart
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(layer.bias.data) <= bound)
    assert abs(w.mean()) < 0.01 * bound
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.01)  # uniform(-a, a) has std a/√3
    np.testing.assert_array_equal(nn.Linear(400, 300, rng=0).weight.data, w)
    np.testing.assert_array_equal(nn.Linear(400, 300, rng=np.random.default_rng(0)).weight.data, w)
    assert not np.array_equal(nn.Linear(400, 300, rng=1).weight.data, w)
    x = np.ones((2, 400))
    np.testing.assert_allclose(layer(x).data, x @ w.T + layer.bias.data)
    assert nn.Linear(3, 2, bias=False).bias is None


class Net(nn.Module):
    def __init__(self):
        self.first = nn.Linear(2, 3, rng=0)
        self.scale = Value(2.0, requires_grad=True)
        self.constant = Value(1.0)  # does not require grad: not a parameter
        self.blocks = [nn.Linear(3, 3, rng=1), nn.Tanh(), nn.Linear(3, 1, rng=2)]
        self.shared = self.first  # the same weights again: listed once

    def forward(self, x):
        x = self.first(x) * self.scale
        for block in self.blocks:
            x = block(x)
        return x


def test_parameter_discovery_in_pytorchs_order():
    net = Net()
    names = [name for name, _ in net.named_parameters()]  # a module's own weights, then its children's, in order
    assert names == ["scale", "first.weight", "first.bias", "blocks.0.weight", "blocks.0.bias", "blocks.2.weight",
                     "blocks.2.bias"]
    assert len(net.parameters()) == 7 and all(p.requires_grad for p in net.parameters())
    net(np.ones((4, 2))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.training and not net.eval().blocks[1].training and net.train().blocks[1].training


def test_mlp_shapes_and_sequential():
    mlp = nn.MLP([2, 5, 4, 3], activation="tanh", rng=0)
    assert [type(layer).__name__ for layer in mlp.layers] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert mlp(np.zeros((7, 2))).shape == (7, 3)
    assert nn.Flatten()(np.zeros((2, 3, 4))).shape == (2, 12)
    np.testing.assert_allclose(nn.Sigmoid()(np.zeros(2)).data, [0.5, 0.5])
    np.testing.assert_allclose(nn.ReLU()(np.array([-1.0, 2.0])).data, [0.0, 2.0])
    assert "Linear(in_features=2, out_features=5" in repr(mlp)


def _cnn(seed):
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=seed), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8, 3, rng=seed))


def test_state_dict_round_trip_keeps_identity():
    a, b = _cnn(0), _cnn(1)
    weight = b.layers[0].weight
    state = a.state_dict()
    state["0.bias"][:] = 7.0  # a snapshot: changing it does not touch the model
    assert not np.all(a.layers[0].bias.data == 7.0)
    b.load_state_dict(a.state_dict())
    assert b.layers[0].weight is weight  # the optimizer's reference still works
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("4.bias"), r"missing keys \['4.bias'\]"),
    (lambda s: s.update(extra=np.zeros(2)), r"unexpected keys \['extra'\]"),
    (lambda s: s.update({"4.weight": np.zeros((3, 9))}), r"4.weight: file \(3, 9\), model \(3, 8\)"),
])
def test_mismatched_state_raises_and_leaves_module_unchanged(edit, message, tmp_path):
    model, before = _cnn(0), _cnn(0).state_dict()
    state = _cnn(1).state_dict()
    state["0.weight"] = state["0.weight"] + 1  # would be loaded first if loading were not checked
    edit(state)
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(state)
    np.savez(tmp_path / "bad.npz", **state)
    with pytest.raises(ValueError, match=message):
        nn.load(model, tmp_path / "bad.npz")
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)


def test_save_load_round_trip(tmp_path):
    a, b = _cnn(0), _cnn(1)
    nn.save(a, tmp_path / "model.npz")
    assert os.listdir(tmp_path) == ["model.npz"]
    with np.load(tmp_path / "model.npz", allow_pickle=False) as f:
        assert sorted(f.files) == sorted(name for name, _ in a.named_parameters())
    nn.load(b, tmp_path / "model.npz")
    x = np.random.default_rng(0).normal(size=(2, 1, 4, 4))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    nn.save(_cnn(0), path)
    old = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(nn.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        nn.save(_cnn(1), path)
    assert os.listdir(tmp_path) == ["model.npz"] and path.read_bytes() == old  # no temp file, old file intact
    with pytest.raises(OSError):
        nn.save(_cnn(1), tmp_path / "new.npz")
    assert os.listdir(tmp_path) == ["model.npz"]


def test_flatten_needs_a_batch_axis():
    assert nn.Flatten()(np.ones((2, 3, 4))).shape == (2, 12)
    with pytest.raises(ValueError, match=r"at least 2 axes, got shape \(3,\)"):
        nn.Flatten()(np.ones(3))
