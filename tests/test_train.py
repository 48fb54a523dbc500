"""fit(): the score goes down, divergence is caught with its epoch and step, moons are learned."""

import importlib.util
import math
import os

import numpy as np
import pytest

from tinygrad_gd import Value, data, losses, nn, optim
from tinygrad_gd.train import TrainingDiverged, accuracy, fit

mse, cross_entropy, SGD = losses.mse_loss, losses.cross_entropy, optim.SGD


def test_fit_reduces_loss_on_linear_regression():
    X, y, w, b = data.make_linear_regression(64, 2, noise=0.01, rng=0)
    model = nn.Linear(2, 1, rng=0)
    history = fit(model, mse, SGD(model.parameters(), lr=0.1), (X, y), epochs=30, batch_size=16, rng=0,
                  progress=False)
    assert len(history["loss"]) == 30 and history["loss"][-1] < 1e-3 < history["loss"][0]
    np.testing.assert_allclose(model.weight.data[0], w, atol=0.02)
    np.testing.assert_allclose(model.bias.data, [b], atol=0.02)


def test_fit_is_repeatable_and_records_metrics_and_validation():
    X, y = data.make_blobs(60, centers=3, rng=0)
    runs = []
    for _ in range(2):
        model = nn.MLP([2, 8, 3], rng=0)
        runs.append(fit(model, cross_entropy, SGD(model.parameters(), lr=0.05), (X, y), epochs=5,
                        batch_size=7, metric=accuracy, val_data=(X[:10], y[:10]), rng=1, progress=False))
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"loss", "metric", "val_loss", "val_metric"}
    assert all(len(v) == 5 for v in runs[0].values())


def test_callback_can_stop_early():
    X, y, _, _ = data.make_linear_regression(8, 1)
    model = nn.Linear(1, 1, rng=0)
    calls = []
    history = fit(model, mse, SGD(model.parameters(), 0.1), (X, y), epochs=10, progress=False,
                  callback=lambda epoch, h: calls.append(epoch) or epoch == 3)
    assert calls == [1, 2, 3] and len(history["loss"]) == 3


def test_huge_learning_rate_raises_with_epoch_and_step():
    X, y, _, _ = data.make_linear_regression(32, 1, rng=0)
    model = nn.Linear(1, 1, rng=0)
    with pytest.raises(TrainingDiverged, match=r"epoch \d+, step \d+.*learning rate is probably too large"), \
            np.errstate(over="ignore", invalid="ignore"):
        fit(model, mse, SGD(model.parameters(), lr=1e3), (X, y), epochs=100, batch_size=8, progress=False)
    assert issubclass(TrainingDiverged, ArithmeticError)


@pytest.mark.parametrize("metric, what", [(None, "weights"), (accuracy, "outputs")])
def test_a_last_step_that_blows_up_is_caught_too(metric, what):
    X, y = data.make_moons(40, rng=0)
    model = nn.MLP([2, 8, 2], rng=0)
    hiker = SGD(model.parameters(), lr=1e300 if what == "outputs" else math.inf)  # one full-batch step
    with pytest.raises(TrainingDiverged, match=rf"the {what} became NaN or infinite after the last step of "
                                               r"epoch 1 \(step 1\)"), np.errstate(all="ignore"):
        fit(model, cross_entropy, hiker, (X, y), epochs=1, metric=metric, progress=False)


def test_mismatched_validation_data_is_refused_before_training():
    X, y, _, _ = data.make_linear_regression(16, 2)
    model = nn.Linear(2, 1, rng=0)
    before = model.weight.data.copy()
    with pytest.raises(ValueError, match="val_data: X and y must have the same number of samples, got 16 and 5"):
        fit(model, mse, SGD(model.parameters(), 0.1), (X, y), 3, val_data=(X, y[:5]), progress=False)
    np.testing.assert_array_equal(model.weight.data, before)


def test_accuracy():
    assert accuracy(np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert accuracy(Value([[1.5], [-0.5]]), np.array([1, 0])) == 1.0  # one logit: positive means class 1
    assert accuracy(np.array([-1.0, 2.0]), np.array([1, 1])) == 0.5


def test_progress_bar_is_optional(capsys, monkeypatch):
    X, y, _, _ = data.make_linear_regression(8, 1)
    model = nn.Linear(1, 1, rng=0)
    fit(model, mse, SGD(model.parameters(), 0.1), (X, y), epochs=2, progress=False)
    assert capsys.readouterr() == ("", "")  # off when asked
    fit(model, mse, SGD(model.parameters(), 0.1), (X, y), epochs=2)
    assert capsys.readouterr() == ("", "")  # off by default when stdout is not a terminal (as under pytest)
    if importlib.util.find_spec("tqdm") is not None:
        fit(model, mse, SGD(model.parameters(), 0.1), (X, y), epochs=2, progress=True)
        err = capsys.readouterr().err
        assert "2/2" in err and "loss=" in err  # the bar counts epochs and shows the latest score
    import builtins

    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (
        (_ for _ in ()).throw(ImportError(name)) if name.startswith("tqdm") else real_import(name, *a, **k)))
    history = fit(model, mse, SGD(model.parameters(), 0.1), (X, y), epochs=2, progress=True)
    assert len(history["loss"]) == 2 and capsys.readouterr() == ("", "")  # no tqdm: trains the same, no bar


def test_small_moons_training_reaches_high_accuracy():
    X, y = data.make_moons(100, noise=0.1, rng=0)
    model = nn.MLP([2, 16, 16, 2], rng=0)
    history = fit(model, cross_entropy, SGD(model.parameters(), lr=0.2), (X, y), epochs=150, batch_size=20,
                  metric=accuracy, rng=0, progress=False)
    assert history["metric"][-1] >= 0.97


def test_cli_train_moons_prints_loss_and_accuracy(tmp_path, capsys):
    from tinygrad_gd.cli import main

    pytest.importorskip("matplotlib")
    assert main(["train", "moons", "--epochs", "40", "--plot", str(tmp_path / "moons.png")]) == 0
    text = capsys.readouterr().out
    assert "final loss" in text and "training accuracy" in text
    assert float(text.split("training accuracy ")[1].split("%")[0]) >= 97
    assert (tmp_path / "moons.png").read_bytes()[:4] == b"\x89PNG"


def test_digits_cnn_learns_in_a_few_epochs():
    pytest.importorskip("sklearn")
    from tinygrad_gd.train import run_demo

    result = run_demo("digits", epochs=2, progress=False, out=open(os.devnull, "w"))
    assert result["accuracy"] >= 0.85  # held-out; the full 50-epoch run reaches about 99%


def test_cli_train_reports_bad_arguments(capsys):
    from tinygrad_gd.cli import main

    assert main(["train", "moons", "--epochs", "-1"]) == 1
    assert "epochs" in capsys.readouterr().err
    assert main(["train", "moons", "--epochs", "0"]) == 1  # no final loss to print: refused, not an IndexError
    assert "epochs must be a positive int, not 0" in capsys.readouterr().err


@pytest.mark.parametrize("size, message", [("-3", "-3: use 0 for full-batch descent"), ("x", "not a whole number")])
def test_cli_train_refuses_a_bad_batch_size(capsys, size, message):
    from tinygrad_gd.cli import main

    with pytest.raises(SystemExit):
        main(["train", "moons", "--batch-size", size])
    assert f"argument --batch-size: {message}" in capsys.readouterr().err


def test_cli_train_reports_a_missing_plot_folder(capsys, tmp_path):
    from tinygrad_gd.cli import main

    pytest.importorskip("matplotlib")
    assert main(["train", "moons", "--plot", str(tmp_path / "missing" / "m.png")]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "tinygrad-gd train: cannot write" in captured.err


def test_run_demo_refuses_a_plot_it_could_not_save_before_training(tmp_path):
    from tinygrad_gd.train import run_demo

    pytest.importorskip("matplotlib")
    with pytest.raises(FileNotFoundError, match="the folder .*missing does not exist"):
        run_demo("moons", epochs=1, plot=tmp_path / "missing" / "moons.png", out=open(os.devnull, "w"))


# ---- issue 12: state that makes no sense is refused before training ------------------------------------------
def test_fit_refuses_an_optimizer_of_another_model():
    """Issue 12: fit given another model's optimizer returned a normal history while no weight moved."""
    model, other = nn.Linear(2, 1, rng=0), nn.Linear(2, 1, rng=1)
    X, y = np.ones((4, 2)), np.zeros((4, 1))
    with pytest.raises(ValueError, match="the optimizer holds none of the model's parameters"):
        fit(model, lambda out, target: ((out - target) ** 2).mean(), optim.SGD(other.parameters(), lr=0.1), (X, y), 1)


@pytest.mark.parametrize("where, message", [
    ("X", r"data X holds nan at index \(2, 1\) \(1 entry not finite\)"),
    ("y", r"data y holds inf at index 3 \(1 entry not finite\)"),
    ("val", r"val_data X holds nan at index \(0, 0\)"),
])
def test_fit_refuses_data_that_is_not_finite_naming_where(where, message):
    """Issue 12: a NaN in the training data was blamed on the learning rate."""
    model = nn.Linear(2, 1, rng=0)
    before = [p.data.copy() for p in model.parameters()]
    X, y, X_val = np.ones((5, 2)), np.zeros(5), np.ones((2, 2))
    if where == "X":
        X[2, 1] = np.nan
    elif where == "y":
        y[3] = np.inf
    else:
        X_val[0, 0] = np.nan
    loss = lambda out, target: ((out.reshape(-1) - target) ** 2).mean()
    with pytest.raises(ValueError, match=message):
        fit(model, loss, optim.SGD(model.parameters(), lr=0.1), (X, y), 3, val_data=(X_val, np.zeros(2)))
    assert all(np.array_equal(p.data, b) for p, b in zip(model.parameters(), before, strict=True))
