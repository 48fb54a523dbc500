"""quant: fake_quantize is PyTorch's (values, STE gradient, clamp edges), observers pick PyTorch's grids, and the
integer model computes what the fake-quantized model computes."""

import math

import numpy as np
import pytest

from tinygrad_gd import Value, data, losses, nn, no_grad, optim, quant
from tinygrad_gd.train import digits_cnn, fit

# (scale, zero_point, quant_min, quant_max): 8-bit unsigned and signed, 4-bit, an awkward scale, a 2-level grid
GRIDS = [(0.1, 2, 0, 15), (0.037, 0, -8, 7), (1 / 3, 128, 0, 255), (0.0123456789, -3, -128, 127), (0.5, 0, 0, 1)]


def _probe(scale, zero_point, quant_min, quant_max, rng):
    """Random points, every half-way tie of the grid, every grid point, and the edges with their neighbours."""
    k = np.arange(quant_min - zero_point - 3, quant_max - zero_point + 4)
    edges = np.array([quant_min - zero_point, quant_max - zero_point]) * scale
    return np.concatenate([rng.normal(size=500) * scale * (quant_max - quant_min) / 2, (k + 0.5) * scale, k * scale,
                           edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)])


def _torch_fake_quantize(torch, x, grid):
    t = torch.tensor(x, requires_grad=True)
    out = torch.fake_quantize_per_tensor_affine(t, *grid)
    out.backward(torch.ones_like(out))
    return out.detach().numpy(), t.grad.numpy()


def _ours(x, grid):
    v = Value(x, requires_grad=True)
    out = quant.fake_quantize(v, *grid)
    out.backward(np.ones(np.shape(x), x.dtype))
    return out.data, v.grad.data


@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_float32_forward_and_gradient_equal_pytorch_bit_for_bit(grid, rng):
    torch = pytest.importorskip("torch")
    x = _probe(*grid, rng).astype(np.float32)
    expected, expected_grad = _torch_fake_quantize(torch, x, grid)
    out, grad = _ours(x, grid)
    assert out.dtype == np.float32 and out.tobytes() == expected.tobytes()
    np.testing.assert_array_equal(grad, expected_grad)
    assert 0 < grad.sum() < len(x)  # both the passing and the blocked part were probed


@pytest.mark.parametrize("grid", [(0.125, 3, 0, 15), (2.0 ** -7, 0, -128, 127), (0.25, -1, -8, 7)], ids=str)
def test_float64_equals_pytorch_when_the_scale_is_a_float32_number(grid, rng):
    """PyTorch computes float64 inputs in float32; with a scale float32 holds exactly the two agree exactly."""
    torch = pytest.importorskip("torch")
    x = _probe(*grid, rng)
    expected, expected_grad = _torch_fake_quantize(torch, x, grid)
    out, grad = _ours(x, grid)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(grad, expected_grad)


def test_rounding_and_edges_by_hand():
    """Half to even, and the gradient passes exactly where the rounded grid point lies in [quant_min, quant_max]."""
    x = np.array([-0.35, -0.25, -0.15, 0.05, 0.15, 0.25, 1.25, 1.3, 1.34, 1.35, 1.36])
    out, grad = _ours(x, (0.1, 2, 0, 15))  # real range [-0.2, 1.3]
    np.testing.assert_allclose(out, [-0.2, -0.2, -0.2, 0.0, 0.2, 0.2, 1.2, 1.3, 1.3, 1.3, 1.3], atol=1e-12)
    # -0.35 -> grid -1.5 -> -2: clamped. -0.25 -> -2.5 -> -2 (even) -> q = 0: the lower edge, passes.
    # 1.35 -> 13.5 -> 14 (even) -> q = 16 > 15: clamped, though its value equals the edge's.
    np.testing.assert_array_equal(grad, [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0])


def test_fake_quantize_of_a_grid_is_the_identity_and_its_gradient_reaches_the_weights():
    w = Value(np.arange(-8, 8) * 0.25, requires_grad=True)
    out = quant.fake_quantize(w, 0.25, 0, -8, 7)
    np.testing.assert_array_equal(out.data, w.data)
    (out * Value(np.arange(16.0))).sum().backward()
    np.testing.assert_array_equal(w.grad.data, np.arange(16.0))
    assert quant.fake_quantize_per_tensor_affine is quant.fake_quantize


@pytest.mark.parametrize("args, message", [
    ((0.0, 0, 0, 255), "scale must be a positive finite number"),
    ((math.nan, 0, 0, 255), "scale must be a positive finite number"),
    ((0.1, 300, 0, 255), "zero_point must lie between quant_min and quant_max"),
    ((0.1, 0, 10, 5), "zero_point must lie between"),
    ((0.1, 0.5, 0, 255), "zero_point must be an int"),
])
def test_bad_grids_are_refused_by_name(args, message):
    with pytest.raises(ValueError, match=message):
        quant.fake_quantize(Value([1.0]), *args)


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("moving", [False, True])
def test_observers_choose_pytorchs_scale_and_zero_point(symmetric, bits, moving, rng):
    torch = pytest.importorskip("torch")
    from torch.ao.quantization import MinMaxObserver, MovingAverageMinMaxObserver

    low, high = quant.quant_range(bits, signed=symmetric)
    kind = dict(dtype=torch.qint8 if symmetric else torch.quint8, quant_min=low, quant_max=high,
                qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine)
    theirs = (MovingAverageMinMaxObserver(averaging_constant=0.1, **kind) if moving else MinMaxObserver(**kind))
    ours = (quant.MovingAverageMinMaxObserver(bits, symmetric, averaging_constant=0.1) if moving
            else quant.MinMaxObserver(bits, symmetric))
    for shift in (0.5, -1.0, 2.0):
        batch = (rng.normal(size=200) * 2 + shift).astype(np.float32)
        theirs(torch.tensor(batch))
        ours(batch)
    scale, zero_point = theirs.calculate_qparams()
    our_scale, our_zero_point = ours.calculate_qparams()
    np.testing.assert_allclose(our_scale, scale.item(), rtol=1e-6)  # PyTorch divides in float32
    assert our_zero_point == zero_point.item()
    np.testing.assert_allclose([ours.min_val, ours.max_val], [theirs.min_val.item(), theirs.max_val.item()],
                               rtol=1e-6)


def test_minmax_grid_by_hand():
    obs = quant.MinMaxObserver(bits=8)
    assert obs.calculate_qparams() == (1.0, 0)  # nothing seen yet
    obs(np.array([-1.0, 3.0]))
    scale, zero_point = obs.calculate_qparams()
    assert scale == pytest.approx(4 / 255) and zero_point == round(1 / (4 / 255))  # 0.0 maps to 64 exactly
    relu_obs = quant.MinMaxObserver(bits=4)
    relu_obs(np.array([0.5, 3.0]))  # all positive: the range still starts at 0, so 0 stays exact
    assert relu_obs.calculate_qparams() == (pytest.approx(3 / 15), 0)
    with pytest.raises(ValueError, match="bits must be an int from 2 to 16"):
        quant.MinMaxObserver(bits=1)
    with pytest.raises(ValueError, match="averaging_constant"):
        quant.MovingAverageMinMaxObserver(averaging_constant=0)


def test_fake_quantize_module_freezes_its_grid_in_eval_mode():
    fq = quant.FakeQuantize(quant.MinMaxObserver(bits=8))
    fq(Value([0.0, 1.0]))
    fq.eval()
    out = fq(Value([0.0, 5.0]))  # not observed: 5 is clamped to the top of the [0, 1] grid
    np.testing.assert_allclose(out.data, [0.0, 1.0])
    fq.train()
    fq(Value([0.0, 5.0]))
    assert fq.observer.max_val == 5.0


def test_a_prepared_models_state_dict_carries_the_observed_ranges():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    X = np.random.default_rng(0).normal(size=(20, 3))
    calibrated = quant.calibrate(quant.prepare_qat(model, 4), X)
    state = calibrated.state_dict()
    assert state["0.input_quant.observer.min_val"] == calibrated.layers[0].input_quant.observer.min_val
    assert state["2.input_quant.observer.max_val"] > 0  # the second layer saw ReLU outputs
    fresh = quant.prepare_qat(nn.Sequential(nn.Linear(3, 4, rng=5), nn.ReLU(), nn.Linear(4, 2, rng=6)), 4)
    fresh.load_state_dict(state)
    fresh.eval()
    with no_grad():
        np.testing.assert_array_equal(fresh(Value(X)).data, calibrated(Value(X)).data)
    np.testing.assert_array_equal(quant.convert(fresh)(X), quant.convert(calibrated)(X))


def test_prepare_qat_shares_the_weights_and_the_gradient_goes_straight_through():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    model.layers[0].weight.data = np.linspace(-0.3, 0.6, 12).reshape(4, 3)  # the largest |w| is positive
    qat = quant.prepare_qat(model, bits=4)
    assert [type(m).__name__ for m in qat.layers] == ["QuantLinear", "ReLU", "QuantLinear"]
    assert [id(p) for p in qat.parameters()] == [id(p) for p in model.parameters()]
    assert isinstance(model.layers[0], nn.Linear)  # the original is untouched
    X = np.random.default_rng(0).normal(size=(5, 3))
    layer = qat.layers[0]
    out = layer(Value(X))
    out.backward(np.ones(out.shape))
    # d out / d W = (the quantized input) summed over the batch, passed through the weight's STE mask
    weight, _, w_scale, x_scale = layer.quantized_weight_and_bias()
    x_q = layer.input_quant(Value(X)).data
    grid = np.rint(model.layers[0].weight.data / w_scale)
    mask = (grid >= -8) & (grid <= 7)
    np.testing.assert_allclose(model.layers[0].weight.grad.data, np.ones((4, 1)) * x_q.sum(axis=0) * mask)
    assert mask.sum() == 11  # 0.6 lands on 7.5 -> 8 and is clamped (PyTorch's symmetric grid does this too)
    np.testing.assert_allclose(out.data, x_q @ weight.data.T + layer.quantized_weight_and_bias()[1].data)


@pytest.fixture(scope="module")
def trained_digits():
    X_all, y_all = data.load_digits()
    X, X_test, y, y_test = data.train_test_split(X_all, y_all, test_fraction=0.2, rng=0)
    model = digits_cnn(0)
    fit(model, losses.cross_entropy, optim.Adam(model.parameters(), lr=0.01), (X, y), epochs=2, batch_size=32,
        rng=0, progress=False)
    return model, X, X_test, y_test


@pytest.mark.parametrize("bits", [8, 4])
def test_integer_model_equals_the_fake_quantized_model_on_held_out_digits(trained_digits, bits):
    model, X, X_test, y_test = trained_digits
    prepared = quant.calibrate(quant.prepare_qat(model, bits, observer="minmax"), X[:500])
    integer = quant.convert(prepared)
    with no_grad():
        fake = prepared(Value(X_test)).data
    logits = integer(X_test)
    np.testing.assert_array_equal(logits, fake)  # the same integers, summed in int32 and in floats
    np.testing.assert_array_equal(logits.argmax(axis=1), fake.argmax(axis=1))
    assert (logits.argmax(axis=1) == y_test).mean() > 0.85
    stage = integer.stages[0]
    assert stage.weight_q.dtype == np.int8 and stage.bias_q.dtype == np.int32
    assert stage.weight_q.min() >= -2 ** (bits - 1) and stage.weight_q.max() <= 2 ** (bits - 1) - 1


def test_integer_layers_accumulate_in_int32(monkeypatch):
    """The multiply-adds see only integer arrays: spy on the matrix product the integer model calls."""
    model = nn.Sequential(nn.Linear(6, 3, rng=0))
    X = np.random.default_rng(0).uniform(0, 1, size=(4, 6))
    integer = quant.convert(quant.calibrate(quant.prepare_qat(model, 8, observer="minmax"), X))
    stage = integer.stages[0]
    q = np.clip(np.rint(X / stage.x_scale) + stage.x_zero_point, 0, 255).astype(np.int32) - stage.x_zero_point
    acc = q @ stage.weight_q.astype(np.int32).T + stage.bias_q
    assert acc.dtype == np.int32
    np.testing.assert_allclose(integer(X), acc * (stage.x_scale * stage.w_scale))


def test_model_size_in_bytes(trained_digits):
    model = trained_digits[0]
    assert quant.model_size_bytes(model) == 2730 * 8 and quant.model_size_bytes(model, bits=32) == 2730 * 4
    prepared = quant.prepare_qat(model, 8)
    with pytest.raises(ValueError, match="convert"):
        quant.model_size_bytes(prepared)
    calibrated = quant.calibrate(prepared, trained_digits[1][:100])
    # conv 144 weights + 16 biases, linear 2560 + 10; biases int32; 3 numbers of 4 bytes per layer
    assert quant.model_size_bytes(quant.convert(calibrated)) == 144 + 2560 + 4 * 26 + 24
    four = quant.convert(quant.calibrate(quant.prepare_qat(model, 4), trained_digits[1][:100]))
    assert quant.model_size_bytes(four) == (144 + 2560) // 2 + 4 * 26 + 24


def test_convert_refuses_what_it_cannot_run_on_integers():
    with pytest.raises(ValueError, match="convert cannot run Tanh on integers"):
        quant.convert(quant.prepare_qat(nn.Sequential(nn.Linear(2, 2), nn.Tanh())))
    with pytest.raises(ValueError, match="no quantized layer: call prepare_qat"):
        quant.convert(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="could overflow the int32 accumulator"):
        quant.convert(quant.prepare_qat(nn.Sequential(nn.Linear(4096, 1)), bits=16))
    with pytest.raises(TypeError, match="prepare_qat needs a Module"):
        quant.prepare_qat([nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="unknown observer"):
        quant.prepare_qat(nn.Linear(2, 2), observer="histogram")
