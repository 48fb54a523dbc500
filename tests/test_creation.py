"""Creation functions, dtype names, the default generator and integer/bool Values: PyTorch's spellings and rules."""

import numpy as np
import pytest

import tinygrad_gd as torch
from tinygrad_gd import Value, data, nn


@pytest.mark.parametrize("make", [torch.zeros, torch.ones, torch.empty, torch.rand, torch.randn])
def test_sizes_as_pytorch_takes_them(make):
    assert make(2, 3).shape == make((2, 3)).shape == make([2, 3]).shape == (2, 3)
    assert make(()).shape == () and make(0).shape == (0,)
    assert make(2, dtype=torch.float32).dtype == torch.float32 and make(2).dtype == torch.float64
    with pytest.raises(ValueError, match="non-negative ints"):
        make(2, -1)


def test_tensor_infers_dtypes_as_torch_tensor_does_and_copies():
    assert torch.tensor([1, 2]).dtype == torch.int64 == torch.long
    assert torch.tensor([True, False]).dtype == torch.bool
    assert torch.tensor([1.5]).dtype == torch.float64 and torch.tensor(np.float32(1)).dtype == torch.float32
    assert torch.tensor([1, 2], dtype=torch.float).dtype == torch.float32 == np.float32
    source = np.array([1.0, 2.0])
    t = torch.tensor(source)
    source[0] = 9.0
    assert t.tolist() == [1.0, 2.0]  # a copy
    assert Value([1, 2]).dtype == torch.float64  # Value(...) keeps converting to float
    assert torch.is_tensor(t) and not torch.is_tensor(source) and torch.numel(torch.zeros(2, 3)) == 6


def test_dtype_names_mean_what_pytorch_means():
    assert (torch.float, torch.double, torch.long, torch.int, torch.half) == \
        (np.float32, np.float64, np.int64, np.int32, np.float16)
    assert torch.float != torch.float64  # PyTorch's float is float32


def test_ranges_and_fills():
    assert torch.arange(4).tolist() == [0, 1, 2, 3] and torch.arange(4).dtype == torch.int64
    assert torch.arange(1, 2, 0.5).tolist() == [1.0, 1.5] and torch.arange(1, 2, 0.5).dtype == torch.float64
    np.testing.assert_allclose(torch.linspace(-1, 1, 5).numpy(), [-1, -0.5, 0, 0.5, 1])
    assert torch.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]]
    assert torch.full((2,), 7).dtype == torch.int64 and torch.full((2,), 0.5).tolist() == [0.5, 0.5]
    x = torch.ones(2, 3, dtype=torch.float32)
    assert torch.zeros_like(x).dtype == torch.float32 and torch.full_like(x, 3.0).tolist() == [[3.0] * 3] * 2
    assert torch.rand_like(x).shape == (2, 3) and torch.randn_like(x).dtype == torch.float32


def test_randint_and_normal_signatures():
    torch.manual_seed(0)
    r = torch.randint(10, (50,))
    assert r.dtype == torch.int64 and 0 <= r.min().item() and r.max().item() < 10
    assert 3 <= torch.randint(3, 5, (20,)).min().item()
    n = torch.normal(2.0, 0.5, (10000,))
    assert abs(n.mean().item() - 2.0) < 0.02 and abs(n.std().item() - 0.5) < 0.02
    assert torch.normal(torch.zeros(3), torch.ones(3)).shape == (3,)
    w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
    assert w.requires_grad and w.shape == (2, 1)


def test_manual_seed_repeats_draws_layers_and_batches():
    def draw():
        torch.manual_seed(7)
        layer = nn.Linear(3, 2)
        order = [yb.tolist() for _, yb in data.batches(np.zeros((6, 1)), np.arange(6), batch_size=2)]
        return torch.randn(3).tolist(), layer.weight.tolist(), order

    assert draw() == draw()
    torch.manual_seed(8)
    assert torch.randn(3).tolist() != draw()[0]
    rng_given = nn.Linear(3, 2, rng=1).weight.tolist()  # an explicit rng still wins
    torch.manual_seed(123)
    assert nn.Linear(3, 2, rng=1).weight.tolist() == rng_given
    with pytest.raises(ValueError, match="non-negative int"):
        torch.manual_seed(-1)


def test_integer_and_bool_values_never_require_grad():
    for dtype in (torch.int64, torch.int32, torch.bool):
        with pytest.raises(RuntimeError, match=f"only floating-point Values can require gradients, not {dtype}"):
            torch.zeros(2, dtype=dtype, requires_grad=True)
    labels = torch.tensor([2, 0, 1])
    with pytest.raises(RuntimeError, match="int64"):
        labels.requires_grad_()
    assert (labels + 1).dtype == torch.int64 and (labels + 0.5).dtype == torch.float64
    assert (labels * 2).tolist() == [4, 0, 2]


def test_integer_values_index_and_comparisons_give_bool_values():
    w = Value([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    rows = torch.tensor([2, 0, 2])
    w[rows].sum().backward()
    np.testing.assert_array_equal(w.grad, [[1, 1], [0, 0], [2, 2]])
    mask = w > 2.5
    assert mask.dtype == torch.bool and not mask.requires_grad and mask.tolist() == [[False, False], [True, True],
                                                                                      [True, True]]
    assert w[mask].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert (w.argmax(dim=1) == torch.tensor([1, 1, 1])).all().item()
    assert w.argmax().dtype == torch.int64 and w.argmax().item() == 5
    assert w.argmin(dim=0, keepdim=True).tolist() == [[0, 0]]
    assert ((w == 2.0).float().sum()).item() == 1.0


def test_conversions():
    x = Value([1.7, -2.2], requires_grad=True)
    y = x.float()
    assert y.dtype == torch.float32 and y.requires_grad
    y.sum().backward()
    assert x.grad.dtype == torch.float64 and x.grad.tolist() == [1.0, 1.0]  # gradients flow through a float cast
    assert x.long().tolist() == [1, -2] and x.long().dtype == torch.int64 and not x.long().requires_grad
    assert x.int().dtype == torch.int32 and x.bool().dtype == torch.bool and x.double() is x
    assert x.to(torch.float32).dtype == torch.float32 and x.to("cpu") is x and x.type(torch.int64).dtype == np.int64
    with pytest.raises(ValueError, match="CPU only"):
        torch.zeros(2, device="cuda")


def test_set_default_dtype_switches_what_python_floats_become():
    try:
        torch.set_default_dtype(torch.float32)
        assert torch.get_default_dtype() == torch.float32
        assert torch.tensor([1.5]).dtype == torch.float32 and torch.zeros(2).dtype == torch.float32
        assert Value(1.5).dtype == torch.float32 and torch.arange(1.0, 2.0).dtype == torch.float32
        assert Value(np.float64(1.5)).dtype == torch.float64  # a NumPy float keeps its dtype, as in torch.tensor
        assert nn.Linear(2, 3).weight.dtype == torch.float32  # layers are made in the default float too
    finally:
        torch.set_default_dtype(torch.float64)
    assert Value(1.5).dtype == torch.float64
    with pytest.raises(TypeError, match="floating-point"):
        torch.set_default_dtype(torch.int64)


def test_size_is_pytorch_s_method_and_dim_keyword_works_everywhere():
    x = torch.ones(2, 3)
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3 and x.numel() == 6 and x.dim() == 2
    assert x.sum(dim=1, keepdim=True).shape == x.sum(axis=1, keepdims=True).shape == (2, 1)
    assert x.mean(1).shape == (2,) and torch.sum(x, dim=0).shape == (3,) and torch.sum(x).item() == 6.0
    assert x.softmax(dim=0).shape == (2, 3) and x.log_softmax(dim=-1).shape == (2, 3)


def test_max_with_dim_returns_values_and_indices_as_pytorch():
    x = Value([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0] and x.max(1).indices.tolist() == [1, 0]
    assert x.max(axis=1).tolist() == [5.0, 7.0] and x.max().item() == 7.0  # NumPy's spelling: the values
    assert torch.max(x, Value([[3.0, 3.0], [3.0, 3.0]])).tolist() == [[3.0, 5.0], [7.0, 3.0]]  # elementwise
    values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_transpose_of_two_dims_swaps_them_as_pytorch():
    x = torch.arange(24).reshape(2, 3, 4)
    assert x.transpose(0, 2).shape == (4, 3, 2) and x.transpose(2, 0, 1).shape == (4, 2, 3)  # NumPy's permutation
    m = torch.arange(6).reshape(2, 3)
    assert m.transpose(0, 1).tolist() == m.T.tolist() == m.t().tolist()
    assert x.swapaxes(1, 2).shape == (2, 4, 3) and x.permute(1, 0, 2).shape == (3, 2, 4)


def test_mixed_integer_and_array_indexing_orders_axes_as_pytorch():
    """x[1, :, 3:11:2, idx, 0:2]: PyTorch keeps idx's axis in place; NumPy would put it first."""
    x = Value(np.arange(2 * 3 * 12 * 5 * 4, dtype=float).reshape(2, 3, 12, 5, 4), requires_grad=True)
    idx = np.array([0, 4, 4])
    out = x[1, :, 3:11:2, idx, 0:2]
    assert out.shape == (3, 4, 3, 2)  # NumPy: (3, 3, 4, 2)
    np.testing.assert_array_equal(out.data, x.data[1][:, 3:11:2, idx, 0:2])
    out.sum().backward()
    assert x.grad.sum() == out.numel() and x.grad[1, 0, 3, 4, 0] == 2.0  # the repeated index accumulates
    assert x[0, np.array([0, 2])].shape == (2, 12, 5, 4)  # adjacent: NumPy and PyTorch agree


def test_module_functions_mirror_the_methods():
    x = Value([0.5, 1.5])
    for name in ("exp", "log", "sin", "cos", "sqrt", "tanh", "sigmoid", "erf", "log1p", "square", "gelu", "silu"):
        np.testing.assert_array_equal(getattr(torch, name)(x).data, getattr(x, name)().data)
    assert torch.matmul(torch.ones(2, 3), torch.ones(3)).tolist() == [3.0, 3.0]
    assert torch.pow(x, 2).tolist() == [0.25, 2.25] and x.pow(torch.tensor([1, 2])).tolist() == [0.5, 2.25]
