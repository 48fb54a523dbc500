"""Layers: Conv2d and MaxPool2d against direct loops and gradcheck, init statistics, discovery, save/load."""

import os

import numpy as np
import pytest
from interrupt import interrupt_at

from tinygrad_gd import Value, nn
from tinygrad_gd.autograd import gradcheck


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


# ---- issue 12: a model file is read with suspicion --------------------------------------------------------------
def _linear_state():
    model = nn.Linear(3, 2, rng=0)
    return model, {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(weight=s["weight"] + 1j), r"entry 'weight' has dtype complex128, not real numbers"),
    (lambda s: s.update(bias=np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[D]")),
     r"entry 'bias' has dtype datetime64\[D\]"),
    (lambda s: s.update(bias=np.zeros(2, dtype=[("a", "f8")])), r"entry 'bias' has dtype \[\('a', '<f8'\)\]"),
    (lambda s: s.update(bias=np.array(["a", "b"])), r"entry 'bias' has dtype <U1"),
    (lambda s: s.update(bias=np.array([1, 2])), r"bias has dtype int64, but the model's bias is float64"),
])
def test_load_refuses_anything_but_real_numbers_naming_file_and_key(edit, message, tmp_path):
    """Issue 12: nn.load accepted complex weights (dropping the imaginary part), datetime64 and structured arrays."""
    model, before = _linear_state()
    state = dict(before)
    edit(state)
    path = tmp_path / "odd.npz"
    np.savez(path, **state)
    with pytest.raises(ValueError, match=message) as error:
        nn.load(model, path)
    assert str(path) in str(error.value)
    assert all(np.array_equal(p.data, before[k]) for k, p in model.named_parameters())
    with pytest.raises(ValueError, match=r"(dtype|real numbers)"):  # a dict of arrays is held to the same rule
        model.load_state_dict(state)


def test_load_refuses_an_unexpected_huge_array_before_reading_it(tmp_path):
    """Issue 12: a 9 MB .npz holding a 1.5 GiB zero array took 1.5 GB of memory before the key was refused."""
    import tracemalloc

    model, state = _linear_state()
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, **state, extra=np.zeros(2**24))  # 128 MiB of zeros in a file of about 130 kB
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb.npz: .*unexpected keys \['extra'\]"):
            nn.load(model, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**22  # far less than the 128 MiB array: its data was never read
    np.savez_compressed(path, weight=np.zeros((2000, 3000)), bias=state["bias"])  # the right key, a wrong shape
    with pytest.raises(ValueError, match=r"weight: file \(2000, 3000\), model \(2, 3\)"):
        nn.load(model, path)


def test_load_of_a_truncated_or_foreign_file_names_the_file(tmp_path):
    """Issue 12: truncated files raised EOFError or BadZipFile without the file's name."""
    model, state = _linear_state()
    good = tmp_path / "good.npz"
    nn.save(model, good)
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        path = tmp_path / f"cut{cut}.npz"
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"{path}: "):
            nn.load(model, path)
    text = tmp_path / "notes.npz"
    text.write_text("not a zip at all")
    with pytest.raises(ValueError, match=f"{text}: not a complete .npz file"):
        nn.load(model, text)
    lying = tmp_path / "lying.npz"  # a header that claims more numbers than the member holds
    import zipfile
    with zipfile.ZipFile(good) as z, zipfile.ZipFile(lying, "w") as out:
        for info in z.infolist():
            raw = z.read(info)
            out.writestr(info, raw.replace(b"(2, 3)", b"(2, 4)") if info.filename == "weight.npy" else raw)
    with pytest.raises(ValueError, match=f"{lying}: entry 'weight' says shape \\(2, 4\\).*damaged"):
        nn.load(nn.Linear(4, 2, rng=0), lying)


def test_a_module_load_interrupted_anywhere_is_wholly_before_or_after():
    import sys

    source = nn.MLP([2, 3, 1], rng=1).state_dict()

    def snapshot(model):
        return [(p.data.copy(), p.version) for p in model.parameters()]

    def same(x, y):
        return all(np.array_equal(a, b) and u == v for (a, u), (b, v) in zip(x, y, strict=True))

    model = nn.MLP([2, 3, 1], rng=0)
    before = snapshot(model)
    model.load_state_dict(source)
    after = snapshot(model)
    for n in range(1, 5000):
        model = nn.MLP([2, 3, 1], rng=0)
        sys.settrace(interrupt_at(n))
        try:
            model.load_state_dict(source)
            done = True
        except KeyboardInterrupt:
            done = False
        finally:
            sys.settrace(None)
        now = snapshot(model)
        assert same(now, before) or same(now, after), n
        if done:
            break
    assert n > 20 and same(now, after)


def test_a_safetensors_entry_of_another_dtype_or_size_is_refused_by_its_header(tmp_path):
    import json

    model, state = _linear_state()

    def write(header, data=b""):
        raw = json.dumps(header).encode()
        path = tmp_path / "m.safetensors"
        path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
        return path

    ok_bias = {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}
    path = write({"weight": {"dtype": "C64", "shape": [2, 3], "data_offsets": [16, 64]}, "bias": ok_bias}, bytes(64))
    with pytest.raises(ValueError, match=f"{path}: entry 'weight' has dtype C64, not real numbers"):
        nn.load(model, path)
    path = write({"weight": {"dtype": "F64", "shape": [2, 3], "data_offsets": [16, 24]}, "bias": ok_bias}, bytes(24))
    with pytest.raises(ValueError, match="entry 'weight' says shape \\(2, 3\\) of float64 \\(48 bytes\\) but holds 8"):
        nn.load(model, path)
    assert all(np.array_equal(p.data, state[k]) for k, p in model.named_parameters())
