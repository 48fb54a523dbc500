"""Module bookkeeping as PyTorch has it: names, children, buffers, freezing, strict loading, safetensors."""

import numpy as np
import pytest

from tinygrad_gd import Value, nn
from tinygrad_gd.optim import SGD


class Block(nn.Module):
    def __init__(self):
        self.body = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
        self.head = nn.Linear(2, 1, rng=2)
        self.extra = nn.ModuleList([nn.Linear(1, 1, rng=3), nn.Linear(1, 1, rng=4)])

    def forward(self, x):
        x = self.head(self.body(x))
        for layer in self.extra:
            x = layer(x)
        return x


KEYS = ["body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias", "head.weight", "head.bias",
        "extra.0.weight", "extra.0.bias", "extra.1.weight", "extra.1.bias"]


def test_names_are_pytorchs():
    model = Block()
    assert [name for name, _ in model.named_parameters()] == KEYS
    assert list(model.state_dict()) == KEYS
    assert [name for name, _ in model.named_modules()] == ["", "body", "body.0", "body.1", "body.2", "head", "extra",
                                                           "extra.0", "extra.1"]
    assert [name for name, _ in model.named_children()] == ["body", "head", "extra"]
    assert model.children() == [model.body, model.head, model.extra]
    assert model.modules()[0] is model and len(model.modules()) == 9
    assert [name for name, _ in nn.MLP([2, 3, 1], rng=0).named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                                                 "2.bias"]


def test_names_match_the_pytorch_twin():
    torch = pytest.importorskip("torch")
    tnn = torch.nn

    class TorchBlock(tnn.Module):
        def __init__(self):
            super().__init__()
            self.body = tnn.Sequential(tnn.Linear(3, 4), tnn.ReLU(), tnn.Linear(4, 2))
            self.head = tnn.Linear(2, 1)
            self.extra = tnn.ModuleList([tnn.Linear(1, 1), tnn.Linear(1, 1)])

    twin = TorchBlock()
    assert [n for n, _ in twin.named_parameters()] == KEYS
    assert [n for n, _ in twin.named_modules()] == [n for n, _ in Block().named_modules()]
    bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)) if hasattr(nn, "BatchNorm2d") else None
    if bn is not None:
        tbn = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.BatchNorm2d(2))
        assert list(bn.state_dict()) == list(tbn.state_dict())
        assert [n for n, _ in bn.named_buffers()] == [n for n, _ in tbn.named_buffers()]


def test_frozen_weights_stay_listed_and_the_optimizer_skips_them():
    model = nn.Sequential(nn.Linear(2, 2, rng=0), nn.Linear(2, 1, rng=1))
    model[0].requires_grad_(False)
    assert len(model.parameters()) == 4 and list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    frozen = model[0].weight.data.copy()
    opt = SGD(model.parameters(), lr=0.1)  # PyTorch accepts frozen weights and skips them
    model(np.ones((3, 2))).sum().backward()
    assert model[0].weight.grad is None and model[1].weight.grad is not None
    model[0].weight.grad = np.ones((2, 2))  # even a stale gradient does not move a frozen weight
    before = model[1].weight.data.copy()
    opt.step()
    np.testing.assert_array_equal(model[0].weight.data, frozen)
    assert not np.array_equal(model[1].weight.data, before)
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_parameter_is_a_value_that_stays_a_parameter():
    p = nn.Parameter(np.ones(3))
    assert isinstance(p, Value) and p.requires_grad and p.is_leaf
    p.requires_grad_(False)

    class Holder(nn.Module):
        def __init__(self):
            self.p, self.q, self.c = p, Value(1.0, requires_grad=True), Value(2.0)

    assert [name for name, _ in Holder().named_parameters()] == ["p", "q"]


def test_load_state_dict_strict_false_returns_missing_and_unexpected():
    model = nn.Sequential(nn.Linear(2, 2, rng=0))
    state = {"0.weight": np.eye(2), "1.bias": np.zeros(2)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert (missing, unexpected) == (["0.bias"], ["1.bias"])
    np.testing.assert_array_equal(model[0].weight.data, np.eye(2))
    with pytest.raises(ValueError, match=r"missing keys \['0.bias'\], unexpected keys \['1.bias'\]"):
        model.load_state_dict(state)
    with pytest.raises(ValueError, match=r"0.weight: file \(3,\), model \(2, 2\)"):
        model.load_state_dict({"0.weight": np.ones(3)}, strict=False)  # a shape mismatch always refuses


def test_sequential_is_indexable_and_sliceable():
    seq = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Linear(3, 1, rng=1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and list(seq)[2] is seq[2]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and head(np.ones((1, 2))).shape == (1, 3)
    with pytest.raises(TypeError, match="argument 1 is int"):
        nn.Sequential(nn.ReLU(), 3)


def test_maxpool_stride_defaults_to_the_kernel_per_axis():
    x = np.random.default_rng(0).normal(size=(2, 2, 110, 28))
    assert nn.MaxPool2d((3, 2))(x).shape == (2, 2, 36, 14)  # PyTorch's shape; once (…, 36, 9)
    assert nn.MaxPool2d(2, stride=(1, 2))(x).shape == (2, 2, 109, 14)
    torch = pytest.importorskip("torch")
    for kernel, stride in [((3, 2), None), (2, (1, 2)), ((2, 3), (3, 1))]:
        expected = torch.nn.MaxPool2d(kernel, stride)(torch.from_numpy(x)).numpy()
        np.testing.assert_array_equal(nn.MaxPool2d(kernel, stride)(x).data, expected)


# ---- safetensors: the file PyTorch loads -----------------------------------------------------------------------
def _cnn(seed):
    layers = [nn.Conv2d(1, 2, 3, padding=1, rng=seed)]
    if hasattr(nn, "BatchNorm2d"):
        layers.append(nn.BatchNorm2d(2))
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3, rng=seed)]
    return nn.Sequential(*layers)


def _torch_cnn(torch):
    tnn = torch.nn
    layers = [tnn.Conv2d(1, 2, 3, padding=1)] + [tnn.BatchNorm2d(2)] * hasattr(nn, "BatchNorm2d")
    return tnn.Sequential(*layers, tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(8, 3)).double()


def _train_a_little(model):
    """One step of training, so BatchNorm's running statistics are not their initial values."""
    x = np.random.default_rng(7).normal(size=(5, 1, 4, 4))
    model.train()
    SGD(model.parameters(), lr=0.1)
    model(x).sum().backward()
    return model.eval()


def test_safetensors_round_trip(tmp_path):
    a, b = _train_a_little(_cnn(0)), _cnn(1).eval()
    nn.save(a, tmp_path / "model.safetensors")
    nn.load(b, tmp_path / "model.safetensors")
    x = np.random.default_rng(0).normal(size=(2, 1, 4, 4))
    np.testing.assert_array_equal(a(x).data, b(x).data)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[key], value, err_msg=key)
        assert b.state_dict()[key].dtype == value.dtype


def test_a_model_saved_here_runs_in_pytorch_and_back(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    ours = _train_a_little(_cnn(0))
    nn.save(ours, tmp_path / "ours.safetensors")
    twin = _torch_cnn(torch)
    twin.load_state_dict(load_file(tmp_path / "ours.safetensors"))  # strict: the same keys, the same shapes
    twin.eval()
    x = np.random.default_rng(1).normal(size=(3, 1, 4, 4))
    with torch.no_grad():
        np.testing.assert_allclose(twin(torch.from_numpy(x)).numpy(), ours(x).data, rtol=1e-12, atol=1e-12)

    trained = _torch_cnn(torch)  # and the other way: PyTorch's weights, saved by PyTorch, loaded here
    trained.train()
    trained(torch.from_numpy(x)).sum().backward()  # moves BatchNorm's running statistics
    save_file(trained.state_dict(), tmp_path / "theirs.safetensors")
    back = nn.load(_cnn(5), tmp_path / "theirs.safetensors").eval()
    trained.eval()
    with torch.no_grad():
        np.testing.assert_allclose(back(x).data, trained(torch.from_numpy(x)).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("0.bias"), r"missing keys \['0.bias'\]"),
    (lambda s: s.update(extra=np.zeros(2)), r"unexpected keys \['extra'\]"),
    (lambda s: s.update({"0.weight": np.zeros((2, 1, 3, 4))}), r"0.weight: file \(2, 1, 3, 4\), model \(2, 1, 3, 3\)"),
])
def test_a_refused_safetensors_load_names_the_keys_and_changes_nothing(edit, message, tmp_path):
    from safetensors.numpy import save_file

    model = _cnn(0)
    before = model.state_dict()
    state = _cnn(1).state_dict()
    edit(state)
    save_file(state, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match=message):
        nn.load(model, tmp_path / "bad.safetensors")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_a_truncated_safetensors_file_is_refused(tmp_path):
    model = _cnn(0)
    before = model.state_dict()
    nn.save(_cnn(1), tmp_path / "model.safetensors")
    data = (tmp_path / "model.safetensors").read_bytes()
    for cut in (len(data) - 7, 20, 3):
        (tmp_path / "cut.safetensors").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut.safetensors: not a complete safetensors file"):
            nn.load(model, tmp_path / "cut.safetensors")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_apply_add_module_register_parameter_get_submodule_and_moduledict_as_pytorch():
    model = Block()
    visited = []
    model.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "ReLU", "Linear", "Sequential", "Linear", "Linear", "Linear", "ModuleList", "Block"]
    model.apply(lambda m: nn.init.zeros_(m.bias) if isinstance(m, nn.Linear) else None)
    assert all(np.all(p.data == 0) for name, p in model.named_parameters() if name.endswith("bias"))
    assert model.get_submodule("body.2") is model.body[2]
    with pytest.raises(AttributeError, match="no submodule 'body.7'"):
        model.get_submodule("body.7")
    model.add_module("tail", nn.Linear(1, 1, rng=0))
    model.register_parameter("scale", nn.Parameter(np.ones(1)))
    with pytest.raises(TypeError, match="nn.Parameter"):
        model.register_parameter("bad", np.ones(1))
    assert list(model.state_dict())[:1] == ["scale"] and "tail.weight" in model.state_dict()
    heads = nn.ModuleDict({"digit": nn.Linear(4, 10, rng=0), "parity": nn.Linear(4, 2, rng=1)})
    assert [n for n, _ in heads.named_parameters()] == ["digit.weight", "digit.bias", "parity.weight", "parity.bias"]
    assert list(heads) == ["digit", "parity"] and "digit" in heads and len(heads) == 2
    torch = pytest.importorskip("torch")
    twin = torch.nn.ModuleDict({"digit": torch.nn.Linear(4, 10), "parity": torch.nn.Linear(4, 2)})
    assert list(twin.state_dict()) == list(heads.state_dict())
    tvisited = []

    class TorchBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
            self.head = torch.nn.Linear(2, 1)
            self.extra = torch.nn.ModuleList([torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)])

    TorchBlock().apply(lambda m: tvisited.append(type(m).__name__))
    assert [v.replace("TorchBlock", "Block") for v in tvisited] == visited
