"""lr_find: the range test looks without touching (weights, grads, optimizer state bit for bit), and suggests."""

import numpy as np
import pytest

from tinygrad_gd import Value, data, losses, nn, optim
from tinygrad_gd.cli import main
from tinygrad_gd.train import LRFinderResult, _suggest, lr_find


def _moons_problem():
    X, y = data.make_moons(120, noise=0.1, rng=0)
    return nn.MLP([2, 16, 2], rng=0), (X, y)


def _snapshot(model, hiker):
    """Everything lr_find could disturb, as raw bytes where there are numbers."""
    weights = {k: (v.dtype, v.tobytes()) for k, v in model.state_dict().items()}
    grads = [None if p.grad is None else p.grad.data.tobytes() for p in model.parameters()]
    state = hiker.state_dict()
    state["state"] = {i: {k: np.asarray(v).tobytes() for k, v in s.items()} for i, s in state["state"].items()}
    return weights, grads, state, [m.training for m in model.modules()]


@pytest.mark.parametrize("name", ["momentum", "adam", "rmsprop", "adagrad"])
def test_weights_grads_mode_and_optimizer_state_are_restored_bit_for_bit(name):
    model, (X, y) = _moons_problem()
    hiker = optim.make_optimizer(name, model.parameters(), 0.01)
    for _ in range(3):  # a hiker with a history: momentum buffers, Adam's moments and step count
        hiker.zero_grad()
        losses.cross_entropy(model(Value(X)), y).backward()
        hiker.step()
    model.eval()
    before = _snapshot(model, hiker)
    result = lr_find(model, losses.cross_entropy, (X, y), num_steps=30, optimizer=hiker, rng=0)
    assert len(result.lrs) > 10  # it did train (and so moved everything) before putting it back
    assert _snapshot(model, hiker) == before
    # and training goes on exactly as if lr_find had never run
    twin, _ = _moons_problem()
    twin_hiker = optim.make_optimizer(name, twin.parameters(), 0.01)
    for m in (model, twin):
        m.train()
    for _ in range(3):
        twin_hiker.zero_grad()
        losses.cross_entropy(twin(Value(X)), y).backward()
        twin_hiker.step()
    for hk, m in ((hiker, model), (twin_hiker, twin)):
        hk.zero_grad()
        losses.cross_entropy(m(Value(X)), y).backward()
        hk.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert a.data.tobytes() == b.data.tobytes()


def test_the_model_is_restored_even_when_the_loss_function_fails_midway():
    model, (X, y) = _moons_problem()
    before = model.state_dict()
    calls = []

    def failing(out, target):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return losses.cross_entropy(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        lr_find(model, failing, (X, y), start_lr=0.1, end_lr=10, num_steps=20)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_rates_rise_exponentially_and_the_curve_falls_then_diverges():
    model, (X, y) = _moons_problem()
    result = lr_find(model, losses.cross_entropy, (X, y), start_lr=1e-4, end_lr=1e3, num_steps=120, rng=0)
    lrs = np.array(result.lrs)
    np.testing.assert_allclose(lrs[0], 1e-4)
    np.testing.assert_allclose(np.diff(np.log(lrs)), np.log(1e7) / 119)  # a constant factor per step
    assert result.stopped.startswith("diverged")  # 1e3 is far too large for SGD on this MLP
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) < 120
    assert min(result.smoothed) < result.smoothed[0] - 0.05  # it fell somewhere in between
    assert result.rule == "steepest descent of the smoothed loss" and result.suggestion == result.steepest_lr
    assert 1e-3 < result.suggestion < 1e2 and "suggested lr" in result.summary()


def test_the_smoothed_loss_is_a_bias_corrected_moving_average():
    model, (X, y) = _moons_problem()
    result = lr_find(model, losses.cross_entropy, (X, y), num_steps=10, beta=0.5, rng=0)
    average, expected = 0.0, []
    for n, value in enumerate(result.losses, 1):
        average = 0.5 * average + 0.5 * value
        expected.append(average / (1 - 0.5 ** n))
    np.testing.assert_allclose(result.smoothed, expected)
    assert result.smoothed[0] == result.losses[0]


def test_both_rules_on_a_hand_made_curve():
    lrs = np.geomspace(1e-3, 1, 31)  # log-spaced: 10 steps per decade
    curve = list(2 - np.tanh(3 * (np.log10(lrs) + 1.5)))  # falls fastest at lr = 10^-1.5, lowest at the end
    curve[-1] = curve[-2] + 0.5  # ... then the last point shoots up
    steepest = _suggest(lrs, curve, curve, "steepest", "")
    assert isinstance(steepest, LRFinderResult)
    np.testing.assert_allclose(steepest.suggestion, 10 ** -1.5)
    minimum = _suggest(lrs, curve, curve, "minimum", "")
    np.testing.assert_allclose(minimum.suggestion, lrs[-2] / 10)
    assert minimum.rule == "the minimum's rate / 10" and minimum.steepest_lr == steepest.suggestion


def test_a_curve_too_short_for_a_slope_falls_back_to_the_minimum_rule_and_says_so():
    result = _suggest(np.array([1e-3, 1e-2]), [1.0, 9.0], [1.0, 9.0], "steepest", "diverged")
    assert result.rule == "the minimum's rate / 10" and result.suggestion == pytest.approx(1e-4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_lr=1.0, end_lr=0.1), "need 0 < start_lr < end_lr"),
    (dict(start_lr=0.0), "need 0 < start_lr < end_lr"),
    (dict(num_steps=2), "num_steps must be an int >= 3"),
    (dict(beta=1.0), "beta must lie in"),
    (dict(suggest="valley"), "suggest must be 'steepest' or 'minimum'"),
    (dict(optimizer="lion"), "Invalid optimizer: 'lion'"),
])
def test_bad_arguments_are_named_and_change_nothing(kwargs, message):
    model, (X, y) = _moons_problem()
    before = model.state_dict()
    with pytest.raises(ValueError, match=message):
        lr_find(model, losses.cross_entropy, (X, y), **kwargs)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_an_optimizer_that_is_not_one_is_refused():
    model, (X, y) = _moons_problem()
    with pytest.raises(TypeError, match="optimizer must be a name"):
        lr_find(model, losses.cross_entropy, (X, y), optimizer=0.1)
    with pytest.raises(ValueError, match="same number of samples"):
        lr_find(model, losses.cross_entropy, (X, y[:-1]))


def test_cli_prints_the_curve_and_the_suggestion(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "lr.png"
    assert main(["lr-find", "moons", "--steps", "60", "--plot", str(plot)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "moons: sgd, lr from 1e-07 to 10 over 60 mini-batches of 32"
    assert lines[1].split() == ["lr", "smoothed", "loss"] and len(lines) == 1 + 1 + 8 + 1 + 3 + 3
    assert lines[2].split()[0] == "1.00e-07" and lines[2].split()[1] == "0.6994"  # 4 significant digits
    assert lines[10] == "stopped: reached end_lr 10 after 60 steps"
    assert " ".join(lines[11:14]) == (  # SGD on the moons: 60 mini-batches are too few to learn
        "no rate learned much: the smoothed loss fell only 7% (0.697 -> 0.65 at lr 2.1), so the suggestion is a "
        "guess. Try a larger --end-lr, more --steps (each rate gets one mini-batch) or another --optimizer.")
    assert lines[-2] == "suggested lr: 1.54 (steepest descent of the smoothed loss)"
    assert lines[-3] == "steepest fall at lr 1.54; the minimum's rate / 10 is 0.21"
    assert lines[-1] == f"plot saved to {plot}" and all(len(line) <= 80 for line in lines[:-1])
    assert plot.stat().st_size > 10_000


def test_cli_says_when_learning_happened(capsys):
    """Issue 9: the range test says whether any rate made the loss fall, with the numbers."""
    assert main(["lr-find", "moons", "--optimizer", "adam"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-4] == "stopped: diverged at lr 4.75 (step 96): the smoothed loss passed 4x its best"
    assert lines[-3] == "learning happened: the smoothed loss fell 19% (0.692 -> 0.558 at lr 0.509)."
    assert lines[-2] == "steepest fall at lr 0.115; the minimum's rate / 10 is 0.0509"
    assert all(len(line) <= 80 for line in lines)


def test_cli_reports_bad_rates_and_a_missing_folder(capsys, tmp_path):
    assert main(["lr-find", "moons", "--start-lr", "5", "--end-lr", "1"]) == 1
    assert "tinygrad-gd lr-find: need 0 < start_lr < end_lr" in capsys.readouterr().err
    assert main(["lr-find", "moons", "--plot", str(tmp_path / "nowhere" / "lr.png")]) == 1
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and captured.out == ""


def test_a_range_that_diverges_before_learning_says_to_start_lower(capsys):
    assert main(["lr-find", "moons", "--start-lr", "1", "--end-lr", "1000", "--steps", "20"]) == 0
    text = " ".join(capsys.readouterr().out.splitlines())
    assert "stopped: diverged at lr " in text and "no rate learned much: the smoothed loss fell only " in text
    assert "so the suggestion is a guess. Try a smaller --start-lr, more --steps" in text


def test_readme_lr_find_commands_do_what_their_comments_say(capsys, tmp_path, monkeypatch):
    """Issue 9: the README's `lr-find digits --optimizer sgd --steps 300` "suggests 0.625" (the CLI defaults, 100
    steps, leave SGD's loss on the digits flat: see the verdict test above)."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from readme import readme_commands

    (argv, comment), = [(a, c) for a, c in readme_commands("lr-find") if a[1] == "digits"]
    assert "--steps" in argv and "suggests 0.625" in comment
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "learning happened: the smoothed loss fell 20% (2.3 -> 1.83 at lr 1.09)." in lines
    assert "suggested lr: 0.625 (steepest descent of the smoothed loss)" in lines
