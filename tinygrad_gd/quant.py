"""Quantization: weights and activations on a grid of 2ᵇ integers, learned by descent that sees the grid.

An 8-bit model stores each weight as an integer q in [-128, 127] and one float *scale* s per tensor: w ≈ s·q.
Activations use an affine grid, x ≈ s·(q − z), with a *zero point* z so that an all-positive range (after ReLU)
uses every level. The quantities below follow PyTorch's `torch.ao.quantization`:

- `fake_quantize(x, scale, zero_point, quant_min, quant_max)`: round to the grid and back, in floats (PyTorch's
  `torch.fake_quantize_per_tensor_affine`). Its derivative is the *straight-through estimator*: 1 where the grid
  point lies inside [quant_min, quant_max], 0 where it was clamped (the rule is in ops.py beside the others).
- Observers pick scale and zero point from the numbers they see: `MinMaxObserver` (the extremes so far) and
  `MovingAverageMinMaxObserver` (extremes averaged over batches, steadier while weights still move).
- `prepare_qat(model, bits)` wraps every Linear and Conv2d so that the forward pass fake-quantizes its input and
  its weights: training then descends on the loss *of the quantized model* (quantization-aware training, QAT),
  while the float weights underneath keep collecting the small steps rounding would erase. With no training,
  `calibrate` then `eval()` is post-training quantization (PTQ).
- `convert(model)` turns a prepared model into an `IntegerModel`: int8 weights (for b ≤ 8 bits), int32 biases,
  and a forward pass in NumPy whose multiply-adds are integers accumulated in int32; `model_size_bytes` counts
  what it would take to store either model.

>>> import numpy as np
>>> from tinygrad_gd import Value
>>> fake_quantize(Value([0.04, 0.05, 0.15, 0.26, 9.0]), 0.1, 0, -8, 7).data.tolist()  # 0.5 and 1.5: half to even
[0.0, 0.0, 0.2, 0.30000000000000004, 0.7000000000000001]
"""

import copy
import math

import numpy as np

from . import ops
from .nn import Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential
from .nn import functional as nn_functional
from .value import Value, apply, no_grad


def _as_value(x):
    return x if isinstance(x, Value) else Value(x)


def fake_quantize(x, scale, zero_point, quant_min, quant_max):
    """(clamp(round(x / scale) + zero_point, quant_min, quant_max) − zero_point) · scale, with the STE gradient.

    PyTorch's `torch.fake_quantize_per_tensor_affine`: rounding is half to even, the gradient passes where the
    rounded grid point lies in [quant_min, quant_max] (edges included) and is 0 where it was clamped. Float32
    data gives PyTorch's float32 results bit for bit; PyTorch computes float64 inputs in float32 too, here they
    keep float64.
    """
    if not (isinstance(scale, (int, float, np.number)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, not {scale!r}")
    for name, n in (("zero_point", zero_point), ("quant_min", quant_min), ("quant_max", quant_max)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise ValueError(f"{name} must be an int, not {n!r}")
    if not quant_min <= zero_point <= quant_max:
        raise ValueError(f"zero_point must lie between quant_min and quant_max, got {zero_point} outside "
                         f"[{quant_min}, {quant_max}]")
    return apply(ops.FAKE_QUANTIZE, _as_value(x), scale=float(scale), zero_point=int(zero_point),
                 quant_min=int(quant_min), quant_max=int(quant_max))


fake_quantize_per_tensor_affine = fake_quantize  # PyTorch's name


def quant_range(bits, signed):
    """The integers a b-bit number holds: [-2ᵇ⁻¹, 2ᵇ⁻¹ − 1] signed, [0, 2ᵇ − 1] unsigned (8: -128..127, 0..255)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an int from 2 to 16, not {bits!r}")
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)


# ---- observers: which grid fits the numbers seen -----------------------------------------------------------------
class MinMaxObserver(Module):
    """Remembers the smallest and largest value seen and turns them into (scale, zero_point), as PyTorch's.

    Affine (activations, unsigned): the range [min(lo, 0), max(hi, 0)] is cut into quant_max − quant_min steps
    and z is the integer that 0.0 maps to, so zero (ReLU's output, the padding) is exact.
    Symmetric (weights, signed): s = max|x| / ((quant_max − quant_min) / 2) and z = 0, so w = s·q with no offset
    and integer products need no zero-point correction. `min_val` and `max_val` are buffers, as in PyTorch: a
    prepared model's `state_dict()` carries the ranges it has seen.
    """

    def __init__(self, bits=8, symmetric=False):
        self.bits, self.symmetric = bits, symmetric
        self.quant_min, self.quant_max = quant_range(bits, signed=symmetric)
        self.register_buffer("min_val", np.array(math.inf))  # fresh arrays: each observer's own numbers
        self.register_buffer("max_val", np.array(-math.inf))

    def forward(self, x):
        """Observe x (a Value or array); returns it unchanged."""
        data = np.asarray(x)
        if data.size:
            self._update(float(data.min()), float(data.max()))
        return x

    def _update(self, low, high):
        self.min_val, self.max_val = np.array(min(float(self.min_val), low)), np.array(max(float(self.max_val), high))

    def calculate_qparams(self):
        """(scale, zero_point) for what was seen; (1.0, z) before anything was, as PyTorch."""
        low, high = float(self.min_val), float(self.max_val)
        if low > high:
            return 1.0, 0 if self.symmetric else self.quant_min
        low, high = min(low, 0.0), max(high, 0.0)
        eps = float(np.finfo(np.float32).eps)  # PyTorch's floor on the scale: an all-zero tensor still works
        if self.symmetric:
            return max(max(-low, high) / ((self.quant_max - self.quant_min) / 2), eps), 0
        scale = max((high - low) / (self.quant_max - self.quant_min), eps)
        zero_point = self.quant_min - round(low / scale)
        return scale, int(min(max(zero_point, self.quant_min), self.quant_max))

    def extra_repr(self):
        return f"bits={self.bits}, min_val={float(self.min_val):.4g}, max_val={float(self.max_val):.4g}"


class MovingAverageMinMaxObserver(MinMaxObserver):
    """min and max as moving averages over batches: min ← min + c·(batch min − min), c = averaging_constant.

    During QAT the activations' range drifts as the weights learn; an average follows it without being set
    for good by one early outlier batch. The first batch sets the range directly (PyTorch's behaviour).
    """

    def __init__(self, bits=8, symmetric=False, averaging_constant=0.01):
        if not 0 < averaging_constant <= 1:
            raise ValueError(f"averaging_constant must lie in (0, 1], not {averaging_constant!r}")
        super().__init__(bits, symmetric)
        self.averaging_constant = averaging_constant

    def _update(self, low, high):
        old_low, old_high, c = float(self.min_val), float(self.max_val), self.averaging_constant
        if old_low <= old_high:  # after the first batch: move a fraction c of the way
            low, high = old_low + c * (low - old_low), old_high + c * (high - old_high)
        self.min_val, self.max_val = np.array(low), np.array(high)


OBSERVERS = {"minmax": MinMaxObserver, "moving_average": MovingAverageMinMaxObserver}


class FakeQuantize(Module):
    """Observe (in training mode) and fake-quantize: a Module version of `fake_quantize` with its own grid.

    In training mode each call first updates the observer, then rounds with the grid it now implies; in eval
    mode the grid is frozen. `observe=False` freezes it in training too (PyTorch's `disable_observer`).
    """

    def __init__(self, observer):
        self.observer, self.observe = observer, True

    def qparams(self):
        return self.observer.calculate_qparams()

    def forward(self, x):
        x = _as_value(x)
        if self.training and self.observe:
            self.observer(x)
        scale, zero_point = self.qparams()
        return fake_quantize(x, scale, zero_point, self.observer.quant_min, self.observer.quant_max)


def _weight_qparams(weight, bits):
    """Symmetric (scale, 0) from the weight's current extremes: weights are known, nothing to average."""
    observer = MinMaxObserver(bits, symmetric=True)
    observer(weight)
    return observer


# ---- layers that compute with quantized inputs and weights -------------------------------------------------------
class _QuantizedLayer(Module):
    """Wraps a float layer: its input goes through an activation FakeQuantize, its weight through the weight grid.

    The float layer's own weights are used (shared, not copied): QAT moves them, and `convert` reads them. The
    bias and the output are put on the grid of the integer model's int32 accumulator too (scale s_input·s_weight),
    so that the integer model of `convert` computes the very numbers this layer does, bit for bit.
    """

    def __init__(self, layer, bits=8, activation_bits=None, observer="moving_average"):
        if observer not in OBSERVERS:
            raise ValueError(f"unknown observer {observer!r}; choose one of {', '.join(OBSERVERS)}")
        self.layer, self.bits = layer, bits
        quant_range(bits, signed=True)
        self.input_quant = FakeQuantize(OBSERVERS[observer](activation_bits or bits))

    def quantized_weight_and_bias(self):
        """The weight and bias as this layer uses them (fake-quantized Values), and the grids' scales."""
        w_obs = _weight_qparams(self.layer.weight, self.bits)
        w_scale, _ = w_obs.calculate_qparams()
        weight = fake_quantize(self.layer.weight, w_scale, 0, w_obs.quant_min, w_obs.quant_max)
        x_scale, _ = self.input_quant.qparams()
        bias = self.layer.bias
        if bias is not None:
            bias = fake_quantize(bias, x_scale * w_scale, 0, -2 ** 31, 2 ** 31 - 1)
        return weight, bias, w_scale, x_scale

    def forward(self, x):
        x = self.input_quant(x)  # first: its grid must be known before the bias is put on s_input·s_weight
        weight, bias, w_scale, x_scale = self.quantized_weight_and_bias()
        # The sum of products lies on the grid s_input·s_weight (the int32 accumulator's); float rounding strays
        # from it by a few ulps, enough to round the next layer's input the other way at a tie. Snap it back.
        return fake_quantize(self._compute(x, weight, bias), x_scale * w_scale, 0, -2 ** 31, 2 ** 31 - 1)

    def extra_repr(self):
        return f"{self.layer!r}, bits={self.bits}, activation_bits={self.input_quant.observer.bits}"


class QuantLinear(_QuantizedLayer):
    """A Linear layer computing with a fake-quantized input and weight (QAT's `torch.ao.nn.qat.Linear`)."""

    def _compute(self, x, weight, bias):
        return x @ weight.T if bias is None else apply(ops.LINEAR, x, weight, bias)


class QuantConv2d(_QuantizedLayer):
    """A Conv2d layer computing with a fake-quantized input and weight (QAT's `torch.ao.nn.qat.Conv2d`)."""

    def _compute(self, x, weight, bias):
        conv = self.layer  # nn.functional's conv2d: every stride, padding, dilation and groups Conv2d accepts
        return nn_functional.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def prepare_qat(model, bits=8, activation_bits=None, observer="moving_average"):
    """A copy of `model` whose Linear and Conv2d layers compute on the b-bit grid; the weights are shared.

    Other layers are kept as they are. Train it (QAT), or `calibrate` it on a few batches (PTQ: then use
    observer="minmax", the extremes of the calibration data). `activation_bits` defaults to `bits`.
    """
    def swap(module):
        if isinstance(module, Linear):
            return QuantLinear(module, bits, activation_bits, observer)
        if isinstance(module, Conv2d):
            return QuantConv2d(module, bits, activation_bits, observer)
        new = copy.copy(module)  # shallow: the same weights, new lists of (possibly swapped) children
        for name, item in vars(module).items():
            if isinstance(item, Module):
                setattr(new, name, swap(item))
            elif isinstance(item, (list, tuple)) and any(isinstance(x, Module) for x in item):
                setattr(new, name, type(item)(swap(x) if isinstance(x, Module) else x for x in item))
        return new

    if not isinstance(model, Module):
        raise TypeError(f"prepare_qat needs a Module, not {type(model).__name__}")
    return swap(model)


def calibrate(model, X, batch_size=256):
    """Run X through a prepared model in training mode without a graph, so its observers see the data's ranges;
    returns the model in eval mode (the grids frozen). This is all post-training quantization needs."""
    model.train()
    with no_grad():
        for start in range(0, len(X), batch_size):
            model(Value(X[start:start + batch_size]))
    return model.eval()


# ---- the integer model ------------------------------------------------------------------------------------------
class _IntegerLayer:
    """One Linear or Conv2d with int weights: quantize the input, multiply-add in int32, scale back to floats."""

    def __init__(self, layer):
        weight, bias, w_scale, x_scale = layer.quantized_weight_and_bias()
        obs = layer.input_quant.observer
        self.bits, self.activation_bits = layer.bits, obs.bits
        self.x_scale, self.x_zero_point = x_scale, layer.input_quant.qparams()[1]
        self.x_range, self.w_scale = (obs.quant_min, obs.quant_max), w_scale
        storage = np.int8 if self.bits <= 8 else np.int16
        self.weight_q = np.rint(weight.data / w_scale).astype(storage)  # exact: weight is on the grid already
        self.bias_q = None if bias is None else np.rint(bias.data / (x_scale * w_scale)).astype(np.int32)
        self.conv = layer.layer if isinstance(layer, QuantConv2d) else None
        self.__name__ = f"{'Conv2d' if self.conv else 'Linear'}(int{self.bits} x uint{self.activation_bits})"
        terms = self.weight_q[0].size  # products summed per output
        if terms * 2 ** (self.bits - 1) * 2 ** self.activation_bits >= 2 ** 31:
            raise ValueError(f"{terms} products of {self.bits}-bit weights and {self.activation_bits}-bit inputs "
                             f"could overflow the int32 accumulator; use fewer bits")

    def __call__(self, x):
        q = np.clip(np.rint(x * (1 / self.x_scale)) + self.x_zero_point, *self.x_range).astype(np.int32)
        q -= self.x_zero_point  # (q − z): the real number is s·(q − z); zero padding stays exactly 0
        w = self.weight_q.astype(np.int32)
        if self.conv is None:
            acc = q @ w.T
        else:
            c = self.conv
            pads = nn_functional._conv_padding(c.padding, c.kernel_size, c.dilation, c.stride, 2)
            if c.dilation != (1, 1) or c.groups != 1 or len(set(c.stride)) != 1 or len({*pads[0], *pads[1]}) != 1:
                raise NotImplementedError("the integer Conv2d takes one stride and one padding for both axes, no "
                                          f"dilation or groups; got {c!r}")
            cols = ops.IM2COL.forward(q, kernel_size=c.kernel_size, stride=c.stride[0], padding=pads[0][0])
            n, oh, ow = cols.shape[:3]
            acc = (cols.reshape(n * oh * ow, -1) @ w.reshape(c.out_channels, -1).T).reshape(n, oh, ow, -1)
        if self.bias_q is not None:
            acc = acc + self.bias_q
        out = acc * (self.x_scale * self.w_scale)  # the one float multiply: back to real numbers
        return out.transpose(0, 3, 1, 2) if self.conv is not None else out

    def nbytes(self):
        """Weights packed at `bits` each, biases as int32, and the layer's scales and zero point (4 bytes each)."""
        bias = 0 if self.bias_q is None else 4 * self.bias_q.size
        return math.ceil(self.weight_q.size * self.bits / 8) + bias + 3 * 4


class _FloatLayer:
    """ReLU, MaxPool2d, Flatten: they only compare or move numbers, so they run as they are, on the arrays."""

    def __init__(self, module):
        self.module, self.__name__ = module, type(module).__name__

    def __call__(self, x):
        with no_grad():
            return self.module(Value(x)).data


class IntegerModel:
    """A converted model: NumPy functions in order, the Linear and Conv2d ones on integers (int32 accumulation).

    Call it on a float array; it returns float logits. `nbytes()` is its storage: what ships to the device.
    """

    def __init__(self, stages):
        self.stages = stages

    def __call__(self, X):
        x = np.asarray(getattr(X, "data", X), dtype=np.float64)
        for stage in self.stages:
            x = stage(x)
        return x

    def nbytes(self):
        return sum(stage.nbytes() for stage in self.stages if isinstance(stage, _IntegerLayer))

    def __repr__(self):
        return f"IntegerModel({', '.join(s.__name__ for s in self.stages)})"


def convert(model):
    """A prepared (and trained or calibrated) Sequential model as an IntegerModel with int weights.

    Supported layers: QuantLinear, QuantConv2d, ReLU, MaxPool2d, Flatten (and Sequentials of them); anything
    else is refused by name. The integer model's logits equal the prepared model's in eval mode exactly: both
    multiply and add the same integers, one in floats (then snapped back to the grid), one in int32.
    """
    stages = []

    def add(module):
        if isinstance(module, Sequential):
            for layer in module.layers:
                add(layer)
        elif isinstance(module, _QuantizedLayer):
            stages.append(_IntegerLayer(module))
        elif isinstance(module, (ReLU, MaxPool2d, Flatten)):
            stages.append(_FloatLayer(module))
        else:
            raise ValueError(f"convert cannot run {type(module).__name__} on integers; supported: QuantLinear, "
                             f"QuantConv2d (from prepare_qat), ReLU, MaxPool2d, Flatten, Sequential")

    add(model)
    if not any(isinstance(s, _IntegerLayer) for s in stages):
        raise ValueError("convert found no quantized layer: call prepare_qat(model) first")
    return IntegerModel(stages)


def model_size_bytes(model, bits=None):
    """Bytes to store a model: a float Module's weights as they are (or at `bits` each), an IntegerModel's nbytes.

    >>> from tinygrad_gd import nn
    >>> model_size_bytes(nn.Linear(4, 2, rng=0)), model_size_bytes(nn.Linear(4, 2, rng=0), bits=32)
    (80, 40)
    """
    if isinstance(model, IntegerModel):
        return model.nbytes()
    if isinstance(model, _QuantizedLayer) or any(isinstance(m, _QuantizedLayer) for m in model.modules()):
        raise ValueError("a prepared model still holds float weights: convert(model) first, then measure it")
    params = model.parameters()
    return sum(p.data.nbytes if bits is None else math.ceil(p.numel() * bits / 8) for p in params)
