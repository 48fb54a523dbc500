"""The layers against PyTorch 2.13 (forward, every gradient, running statistics) and gradcheck."""

import numpy as np
import pytest

from tinygrad_gd import Value, nn
from tinygrad_gd.autograd import gradcheck
from tinygrad_gd.nn import functional as F


def _torch():
    return pytest.importorskip("torch")


def _copy_into(torch, ours, theirs):
    """Give the PyTorch twin our weights and buffers (through the state dict: the keys must agree)."""
    theirs.double()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    return theirs


def _same_forward_and_backward(torch, ours, theirs, x, atol=1e-12):
    """Equal outputs, and equal gradients of a weighted sum for the input and for every weight."""
    xv, xt = Value(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, out_t = ours(xv), theirs(xt)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-10, atol=atol)
    weights = np.cos(np.arange(out.data.size)).reshape(out.shape)
    (out * Value(weights)).sum().backward()
    (out_t * torch.as_tensor(weights)).sum().backward()
    np.testing.assert_allclose(xv.grad, xt.grad.numpy(), rtol=1e-10, atol=atol)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-10, atol=atol, err_msg=name)


CONV2D = [  # (in, out, kernel, settings)
    (3, 4, 3, {}), (2, 3, (2, 3), {"stride": (2, 1), "padding": (1, 2)}), (4, 6, 3, {"groups": 2, "dilation": 2}),
    (2, 2, 4, {"padding": "same"}), (2, 3, (3, 2), {"padding": "same", "dilation": (2, 1)}),
    (3, 2, 3, {"padding": "valid", "bias": False}), (4, 4, 3, {"groups": 4, "stride": 2, "padding": 1}),
    (2, 4, 2, {"stride": (1, 3), "dilation": (1, 2), "groups": 2, "padding": (0, 1)}),
]


@pytest.mark.parametrize("cin, cout, kernel, settings", CONV2D)
def test_conv2d_matches_pytorch(cin, cout, kernel, settings):
    torch = _torch()
    ours = nn.Conv2d(cin, cout, kernel, rng=0, **settings)
    theirs = _copy_into(torch, ours, torch.nn.Conv2d(cin, cout, kernel, **settings))
    _same_forward_and_backward(torch, ours, theirs, np.random.default_rng(1).normal(size=(2, cin, 7, 8)))


@pytest.mark.parametrize("settings", [{}, {"stride": 2, "padding": 1}, {"dilation": 3, "groups": 2},
                                      {"padding": "same", "kernel_size": 4}, {"bias": False, "padding": "valid"}])
def test_conv1d_matches_pytorch(settings):
    torch = _torch()
    settings = {"kernel_size": 3, **settings}
    ours = nn.Conv1d(4, 6, rng=0, **settings)
    theirs = _copy_into(torch, ours, torch.nn.Conv1d(4, 6, **settings))
    _same_forward_and_backward(torch, ours, theirs, np.random.default_rng(2).normal(size=(3, 4, 11)))


def test_conv_layers_gradcheck():
    x = np.random.default_rng(3).normal(size=(1, 4, 5, 5))
    conv = nn.Conv2d(4, 2, 2, stride=(1, 2), dilation=2, groups=2, padding=1, rng=0)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, conv.stride, conv.padding, conv.dilation, conv.groups),
                     [Value(x), Value(conv.weight.data), Value(conv.bias.data)])
    conv1 = nn.Conv1d(2, 2, 3, padding="same", dilation=2, rng=0)
    assert gradcheck(lambda x, w: F.conv1d(x, w, None, 1, "same", 2), [Value(x[:, :2, 0]), Value(conv1.weight.data)])


POOLS = [  # (PyTorch's class name, settings)
    ("MaxPool2d", {"kernel_size": 2}), ("MaxPool2d", {"kernel_size": (3, 2)}),
    ("MaxPool2d", {"kernel_size": 3, "stride": (2, 1), "padding": 1}), ("MaxPool2d", {"kernel_size": 2, "dilation": 2}),
    ("MaxPool2d", {"kernel_size": (2, 3), "stride": 1, "padding": (1, 0), "dilation": (2, 1)}),
    ("AvgPool2d", {"kernel_size": 2}), ("AvgPool2d", {"kernel_size": (3, 2), "stride": (1, 2)}),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ("AvgPool2d", {"kernel_size": 2, "divisor_override": 3}),
    ("AdaptiveAvgPool2d", {"output_size": 1}), ("AdaptiveAvgPool2d", {"output_size": (3, 2)}),
    ("AdaptiveAvgPool2d", {"output_size": (4, None)}), ("AdaptiveAvgPool2d", {"output_size": (7, 8)}),
]


@pytest.mark.parametrize("name, settings", POOLS)
def test_pooling_matches_pytorch_even_with_ties(name, settings):
    torch = _torch()
    ours, theirs = getattr(nn, name)(**settings), getattr(torch.nn, name)(**settings)
    rng = np.random.default_rng(4)
    _same_forward_and_backward(torch, ours, theirs, rng.normal(size=(2, 3, 7, 8)))
    ties = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(float)  # many equal maxima: the first one gets the gradient
    _same_forward_and_backward(torch, ours, theirs, ties)


def test_pooling_gradcheck():
    x = Value(np.random.default_rng(5).permutation(60).reshape(1, 3, 4, 5) * 0.1)
    assert gradcheck(lambda v: F.max_pool2d(v, 2, 1, 1), [x])
    assert gradcheck(lambda v: F.avg_pool2d(v, 3, 2, 1, count_include_pad=False), [x])
    assert gradcheck(lambda v: F.adaptive_avg_pool2d(v, (3, 2)), [x])


@pytest.mark.parametrize("name, shape, settings", [
    ("BatchNorm1d", (6, 3), {}), ("BatchNorm1d", (4, 3, 5), {"momentum": 0.3, "eps": 1e-3}),
    ("BatchNorm2d", (4, 3, 3, 2), {}), ("BatchNorm2d", (2, 3, 4, 4), {"momentum": None}),
    ("BatchNorm2d", (2, 3, 2, 2), {"affine": False}), ("BatchNorm1d", (5, 3), {"track_running_stats": False}),
])
def test_batchnorm_matches_pytorch_over_training_steps_and_in_eval(name, shape, settings):
    torch = _torch()
    ours = getattr(nn, name)(3, **settings)
    theirs = _copy_into(torch, ours, getattr(torch.nn, name)(3, **settings))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(6)
    if settings.get("affine", True):
        with torch.no_grad():  # weights that are not 1 and 0, in both
            for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
                p.data = rng.normal(size=p.shape)
                q.copy_(torch.from_numpy(p.data))
    for step in range(3):
        ours.zero_grad()
        theirs.zero_grad()
        _same_forward_and_backward(torch, ours, theirs, rng.normal(loc=step, size=shape) * (step + 1), atol=1e-10)
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12, err_msg=key)
    ours.eval()
    theirs.eval()
    _same_forward_and_backward(torch, ours, theirs, rng.normal(size=shape), atol=1e-10)


def test_batchnorm_gradcheck_and_errors():
    bn = nn.BatchNorm1d(2)
    x = np.random.default_rng(7).normal(size=(4, 2))
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                     [Value(x), Value(np.array([1.5, -0.5])), Value(np.array([0.1, 0.2]))])
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(2\) expects input of \(N, C\) or \(N, C, L\), got \(4, 3\)"):
        bn(np.ones((4, 3)))
    assert bn.eval()(np.ones((1, 2))).shape == (1, 2)  # in eval one example is fine


@pytest.mark.parametrize("shape, normalized", [((4, 5), 5), ((2, 3, 4), (3, 4)), ((3, 4), [4])])
def test_layernorm_matches_pytorch(shape, normalized):
    torch = _torch()
    ours = nn.LayerNorm(normalized)
    theirs = _copy_into(torch, ours, torch.nn.LayerNorm(normalized))
    _same_forward_and_backward(torch, ours, theirs, np.random.default_rng(8).normal(size=shape), atol=1e-10)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, normalized, w, b),
                     [Value(np.random.default_rng(9).normal(size=shape)), Value(ours.weight.data + 0.5),
                      Value(ours.bias.data + 0.1)])


def test_dropout_scales_in_training_and_does_nothing_in_eval():
    drop = nn.Dropout(0.25, rng=0)
    x = Value(np.ones((200, 50)), requires_grad=True)
    out = drop(x)
    kept = out.data != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(out.data[kept], 1 / 0.75)  # survivors are scaled: the mean stays 1
    out.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.75)  # the gradient goes through the same mask
    assert drop.eval()(x) is x
    assert np.all(nn.Dropout(1.0)(np.ones(5)).data == 0) and np.all(nn.Dropout(0.0)(np.ones(5)).data == 1)
    np.testing.assert_array_equal(nn.Dropout(0.5, rng=3)(np.ones(9)).data, nn.Dropout(0.5, rng=3)(np.ones(9)).data)
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_pytorch(padding_idx):
    torch = _torch()
    ours = nn.Embedding(5, 3, padding_idx=padding_idx, rng=0)
    theirs = _copy_into(torch, ours, torch.nn.Embedding(5, 3, padding_idx=padding_idx))
    with torch.no_grad():  # a padding row that is not zero: still no gradient
        ours.weight.data[4] = theirs.weight[4] = 7.0
    indices = np.array([[0, 2, 2], [4, 1, 2]])
    out, out_t = ours(indices), theirs(torch.from_numpy(indices))
    np.testing.assert_allclose(out.data, out_t.detach().numpy())
    weights = np.cos(np.arange(out.data.size)).reshape(out.shape)
    (out * Value(weights)).sum().backward()
    (out_t * torch.as_tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-12)  # repeats add up
    assert gradcheck(lambda w: F.embedding(indices, w), [Value(ours.weight.data)])
    with pytest.raises(IndexError, match="index 5 is out of range for 5 embeddings"):
        ours([5])


@pytest.mark.parametrize("start, end", [(1, -1), (0, 1), (1, 2), (0, -1), (-2, -1), (2, 2)])
def test_flatten_and_unflatten_match_pytorch(start, end):
    torch = _torch()
    x = np.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(nn.Flatten(start, end)(x).data,
                                  torch.nn.Flatten(start, end)(torch.from_numpy(x)).numpy())
    flat = x.reshape(2, 60)
    np.testing.assert_array_equal(nn.Unflatten(1, (3, 4, 5))(flat).data, x)
    np.testing.assert_array_equal(nn.Unflatten(-1, (6, -1))(flat).data,
                                  torch.nn.Unflatten(-1, (6, -1))(torch.from_numpy(flat)).numpy())
    with pytest.raises(ValueError, match="comes after end_dim"):
        nn.Flatten(2, 1)(x)
    with pytest.raises(ValueError, match=r"cannot be split into \(7, 8\)"):
        nn.Unflatten(1, (7, 8))(flat)


def test_init_functions_follow_pytorchs_formulas():
    torch = _torch()
    for name, param in [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("selu", None),
                        ("sigmoid", None), ("conv2d", None), ("leaky_relu", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    w = nn.Parameter(np.zeros((400, 300)))
    bound = np.sqrt(6 / 700)
    assert np.abs(nn.init.xavier_uniform_(w, generator=0).data).max() <= bound
    np.testing.assert_allclose(w.data.std(), bound / np.sqrt(3), rtol=0.02)
    np.testing.assert_allclose(nn.init.xavier_normal_(w, gain=2.0, generator=0).data.std(), 2 * np.sqrt(2 / 700),
                               rtol=0.02)
    np.testing.assert_allclose(nn.init.kaiming_normal_(w, nonlinearity="relu", generator=1).data.std(),
                               np.sqrt(2 / 300), rtol=0.02)
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu", generator=1)
    assert np.abs(w.data).max() <= np.sqrt(6 / 400) and np.abs(w.data).max() > 0.99 * np.sqrt(6 / 400)
    conv = nn.Parameter(np.zeros((8, 4, 3, 3)))
    nn.init.kaiming_uniform_(conv, a=np.sqrt(5), generator=2)  # nn.Conv2d's default: ±1/√fan_in
    assert np.abs(conv.data).max() <= 1 / np.sqrt(36)
    assert nn.init.normal_(w, 3.0, 0.5, generator=0) is w and abs(w.data.mean() - 3.0) < 0.01
    assert np.all(nn.init.ones_(w).data == 1) and np.all(nn.init.constant_(w, 0.3).data == 0.3)
    assert np.all(nn.init.zeros_(w).data == 0) and np.all(nn.init.uniform_(w, 2, 3).data >= 2)
    np.testing.assert_array_equal(nn.init.eye_(nn.Parameter(np.zeros((2, 3)))).data, np.eye(2, 3))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3)))


@pytest.mark.parametrize("max_norm, norm_type", [(1.0, 2.0), (100.0, 2.0), (0.5, 1.0), (0.3, float("inf"))])
def test_clip_grad_matches_pytorch(max_norm, norm_type):
    torch = _torch()
    rng = np.random.default_rng(10)
    grads = [rng.normal(size=(3, 2)) * 2, rng.normal(size=4)]
    ours = [nn.Parameter(np.zeros(g.shape)) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads, strict=True):
        p.grad, q.grad = g.copy(), torch.from_numpy(g.copy())
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert float(total) == pytest.approx(float(total_t), rel=1e-12)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12)
    nn.utils.clip_grad_value_(ours, 0.1)
    torch.nn.utils.clip_grad_value_(theirs, 0.1)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12)
    vector = nn.utils.parameters_to_vector(ours)
    nn.utils.vector_to_parameters(vector + 1, ours)
    assert np.all(nn.utils.parameters_to_vector(ours) == 1)


def test_layer_arguments_are_checked():
    for make, message in [(lambda: nn.Conv2d(3, 4, 3, groups=2), "divisible by groups"),
                          (lambda: nn.Conv2d(1, 1, 3, stride=2, padding="same"), "'same' is not supported for strided"),
                          (lambda: nn.Conv2d(1, 1, 3, padding="full"), "Invalid padding string 'full'"),
                          (lambda: nn.Conv2d(1, 1, 3, dilation=0), "dilation must be a positive int"),
                          (lambda: nn.Conv1d(1, 1, (2, 2)), r"kernel_size must be a positive int or a tuple of 1"),
                          (lambda: nn.MaxPool2d(2, padding=2)(np.ones((1, 1, 4, 4))), "at most half the kernel"),
                          (lambda: nn.Conv2d(2, 1, 3)(np.ones((1, 2, 5))), r"\(N, 2, H, W\), got \(1, 2, 5\)"),
                          (lambda: nn.Conv2d(1, 1, 3, dilation=3)(np.ones((1, 1, 6, 6))), "7x7 kernel is larger")]:
        with pytest.raises(ValueError, match=message):
            make()


def test_a_digits_cnn_with_batchnorm_and_dropout_trains_and_evaluates_in_eval_mode():
    from tinygrad_gd import losses, optim
    from tinygrad_gd.train import accuracy, demo_problem, fit

    rng = np.random.default_rng(0)
    _, (X, y), (X_test, y_test) = demo_problem("digits", rng, 0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, rng=rng), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.25, rng=rng), nn.Linear(16 * 4 * 4, 10, rng=rng))
    history = fit(model, losses.cross_entropy, optim.Adam(model.parameters(), lr=0.01), (X, y), 3, batch_size=32,
                  metric=accuracy, val_data=(X_test, y_test), rng=rng, progress=False)
    assert not model.training and not model[5].training  # fit evaluates in eval mode
    assert int(model[1].num_batches_tracked) == 3 * -(-len(X) // 32)
    assert history["val_metric"][-1] >= 0.95
    first, again = model(X_test[:5]).data, model(X_test[:5]).data
    np.testing.assert_array_equal(first, again)  # no dropout, running statistics: the same answer every time
    assert not np.allclose(model.train()(X_test[:5]).data, first)  # training mode: batch statistics and dropout


@pytest.mark.parametrize("groups, affine", [(1, True), (2, True), (4, False)])
def test_groupnorm_and_prelu_per_channel_match_pytorch(groups, affine):
    torch = _torch()
    ours = nn.GroupNorm(groups, 4, affine=affine)
    theirs = _copy_into(torch, ours, torch.nn.GroupNorm(groups, 4, affine=affine))
    _same_forward_and_backward(torch, ours, theirs, np.random.default_rng(11).normal(size=(3, 4, 5)), atol=1e-10)
    prelu = nn.PReLU(4, init=0.1)
    tprelu = _copy_into(torch, prelu, torch.nn.PReLU(4, init=0.1))
    _same_forward_and_backward(torch, prelu, tprelu, np.random.default_rng(12).normal(size=(2, 4, 3, 3)))
    assert gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b),
                     [Value(np.random.default_rng(13).normal(size=(2, 4, 3))), Value(np.arange(1.0, 5.0)),
                      Value(np.linspace(-1, 1, 4))])


@pytest.mark.parametrize("name, settings", [("MaxPool1d", {"kernel_size": 3}),
                                            ("MaxPool1d", {"kernel_size": 2, "stride": 1, "padding": 1,
                                                           "dilation": 2}),
                                            ("AvgPool1d", {"kernel_size": 2}),
                                            ("AvgPool1d", {"kernel_size": 3, "stride": 2, "padding": 1,
                                                           "count_include_pad": False})])
def test_1d_pooling_matches_pytorch(name, settings):
    torch = _torch()
    ours, theirs = getattr(nn, name)(**settings), getattr(torch.nn, name)(**settings)
    rng = np.random.default_rng(14)
    _same_forward_and_backward(torch, ours, theirs, rng.normal(size=(2, 3, 9)))
    _same_forward_and_backward(torch, ours, theirs, rng.integers(0, 2, size=(2, 3, 9)).astype(float))
