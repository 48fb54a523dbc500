"""fit(): the score goes down, divergence is caught with its epoch and step, moons are learned."""

import importlib.util
import math
import os
import re

import numpy as np
import pytest
from readme import readme_outputs

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
        assert "epoch 0/2" in err  # the bar counts epochs (later refreshes are rate-limited: not pinned here)
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
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "moons: MLP with 354 weights, adam lr=0.01, 40 epochs, batch size 32"
    assert lines[1].startswith("final loss ") and "(0.694 before training), training accuracy " in lines[1]
    assert float(lines[1].split("training accuracy ")[1].split("%")[0]) >= 97
    assert lines[2].startswith("learned: the loss fell ")
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


# ---- issue 9: train says whether learning happened ------------------------------------------------------------
def _run(capsys, *argv):
    from tinygrad_gd.cli import main

    code = main(["train", *argv])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    return code, " ".join(lines), err


# A rate of 100 is chaotic: the last digits of its numbers follow every rounding in the engine, so these tests
# pin the words and the shape of each number (N); the README test re-runs the same commands digit for digit.
N = r"\d[\d.e+-]*"


def test_train_moons_lr_100_says_nothing_was_learned(capsys):
    """Issue 9: `train moons --lr 100` ended "final loss 2.7374, training accuracy 50.00%", exit 0, no word."""
    code, text, err = _run(capsys, "moons", "--lr", "100")
    assert code == 0 and err == ""  # learning nothing is an outcome of the experiment, not an error
    assert re.search(rf"final loss {N} \(0.694 before training\), training accuracy 50.0%", text)
    assert re.search(rf"not learned: the loss rose 0.694 -> {N} after a blow-up to {N}e\+0\d in epoch 1, worse "
                     r"than guessing \(0.693\), and training accuracy 50.0% is no better than chance \(50%: 1 class "
                     r"in 2\). The steps overshoot: the learning rate is too large; try one ten times smaller "
                     r"\(--lr 10\).", text), text


def test_train_moons_lr_100_for_400_epochs_names_the_blow_up(capsys):
    """Issue 9: a long run at lr 100 must not hide epoch 1's blow-up (2e+07) behind its last epochs."""
    code, text, _ = _run(capsys, "moons", "--lr", "100", "--epochs", "400")
    assert code == 0 and "0.0000" not in text
    assert re.search(rf"(partly |not )learned: the loss (fell {N}x \(|rose )0.694 -> {N}\)? after a blow-up to "
                     rf"{N}e\+0\d in epoch 1.*(The blow-up says the learning rate|The steps overshoot: the learning "
                     r"rate) is too large(:|;) try one ten times smaller \(--lr 10\).", text), text


def test_train_moons_400_epochs_prints_a_tiny_loss_at_significant_digits(capsys):
    """Issue 9: `train moons --epochs 400` printed "final loss 0.0000"."""
    code, text, _ = _run(capsys, "moons", "--epochs", "400")
    assert code == 0 and "0.0000" not in text
    assert "final loss 2.23e-05 (0.694 before training), training accuracy 100.0%" in text
    assert ("learned: the loss fell 31,200x (0.694 -> 2.23e-05), and training accuracy 100.0% is far above chance "
            "(50%: 1 class in 2).") in text


def test_train_moons_that_learns_says_so_with_numbers(capsys):
    code, text, _ = _run(capsys, "moons", "--epochs", "20")
    assert code == 0
    verdict = text.split("learned: ")[1]
    assert text.count("learned: ") == 1 and "not learned" not in text and "partly" not in text
    assert verdict.startswith("the loss fell ") and "(0.694 -> " in verdict
    assert "is far above chance (50%: 1 class in 2)." in verdict
    assert float(text.split("training accuracy ")[1].split("%")[0]) >= 97


def test_train_with_steps_too_small_says_to_take_larger_ones(capsys):
    code, text, _ = _run(capsys, "moons", "--optimizer", "sgd", "--lr", "1e-5", "--epochs", "3")
    assert code == 0
    assert "not learned: the loss barely moved (0.694 -> 0.694), about guessing's (0.693)" in text
    assert "is no better than chance (50%: 1 class in 2)" in text
    assert "The steps are too small or too few: try a larger learning rate (--lr 0.0001) or more epochs." in text


def test_train_that_becomes_nan_is_a_diverged_verdict(capsys, tmp_path):
    """NaN is reported as descend reports it: a verdict on stdout, exit 0 (the program worked; descent did not)."""
    pytest.importorskip("matplotlib")
    plot = tmp_path / "nan.png"
    code, text, err = _run(capsys, "moons", "--optimizer", "sgd", "--lr", "100", "--plot", str(plot))
    assert code == 0 and err == ""
    assert re.search(rf"diverged: the loss became (nan|inf) at epoch 1, step \d+ \(after {N} the step before\). "
                     r"The loss was 0.694 before training: the steps overshoot and grow. The learning rate is too "
                     r"large; try one ten times smaller \(--lr 10\).", text), text
    assert "final loss" not in text and plot.read_bytes()[:4] == b"\x89PNG"  # the plot shows where it stopped


def test_weights_that_blow_up_after_some_epochs_say_how_the_loss_grew(capsys):
    code, text, _ = _run(capsys, "moons", "--optimizer", "sgd", "--lr", "1000", "--batch-size", "0", "--epochs", "5")
    assert code == 0 and "full batch (200 samples)" in text
    assert re.search(rf"diverged: the weights became NaN or infinite after the last step of epoch \d \(step 1\). "
                     rf"The loss was 0.694 before training and {N} in epoch \d: the steps overshoot and grow.", text)


def test_judge_names_each_outcome():
    from tinygrad_gd.train import judge

    assert judge(2.3, 0.05, [1.0, 0.1], 0.97, 10, "held-out").kind == "learned"
    partly = judge(0.69, 0.4, [0.6, 0.45], 0.80, 2)
    assert partly.kind == "partly learned" and "More epochs or a larger learning rate" in partly.message
    slow = judge(3.0, 2.5, [2.9, 2.6], 0.12, 10, lr=0.1)  # fell, but still worse than guessing
    assert slow.kind == "not learned" and "worse than guessing (2.3)" in slow.message
    assert "The loss is falling, slowly" in slow.message
    assert "fell inf" not in judge(0.69, 0.0, [0.1], 1.0, 2).message  # a loss of exactly 0
    overfit = judge(2.3, 0.0006, [1.0, 0.01], 0.99, 10, "held-out", val_losses=[0.4, 0.033, 0.05, 0.0441])
    assert overfit.kind == "learned" and overfit.message.endswith(
        "The held-out loss rose from its best, 0.033 in epoch 2, to 0.0441: it has begun to overfit its training "
        "data; more epochs will not help.")
    assert "overfit" not in judge(2.3, 0.0006, [1.0, 0.01], 0.99, 10, val_losses=[0.4, 0.033, 0.039]).message


def test_final_numbers_have_significant_digits_not_four_decimals():
    from tinygrad_gd.train import judge

    message = judge(0.69, 8.9e-05, [0.3, 1e-4], 1.0, 2).message
    assert "0.69 -> 8.9e-05" in message and "0.0000" not in message


def test_the_progress_bar_fits_80_columns_and_names_accuracy():
    pytest.importorskip("tqdm")
    from tinygrad_gd.train import _postfix, _progress_bar

    history = {"loss": [1.23456e-05], "metric": [1.0], "val_loss": [0.0443], "val_metric": [0.989]}
    assert _postfix(history, accuracy) == "loss=1.23e-05 val_loss=0.0443 val_acc=98.9%"
    assert _postfix({"loss": [0.00193], "metric": [1.0]}, accuracy) == "loss=0.00193 acc=100.0%"
    bar = _progress_bar(500, True)
    try:
        bar.n = 377
        bar.set_postfix_str(_postfix(history, accuracy), refresh=False)
        shown = str(bar)
    finally:
        bar.close()
    assert len(shown) <= 80 and "metric=" not in shown
    assert shown.startswith("epoch 377/500 |") and shown.endswith("val_acc=98.9%")


def test_digits_says_held_out_accuracy_against_chance_1_in_10(capsys, tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    code, text, _ = _run(capsys, "digits", "--epochs", "1", "--plot", str(tmp_path / "d.png"))
    assert code == 0 and "held-out loss" in text and "held-out accuracy" in text
    assert "(on 359 digits it never trained on)" in text and "chance (10%: 1 class in 10)" in text


def _wandering_loss_masked(lines):
    """A blown-up run's last numbers, replaced by '…' (README says why they differ between machines): the
    loss it ended at, or the huge loss before the NaN."""
    text = "\n".join(lines)
    final = re.search(r"final loss (\S+) ", text)
    if final:
        text = text.replace(f"loss {final.group(1)} ", "loss … ").replace(f"-> {final.group(1)} ", "-> … ")
    return re.sub(r"\(after \S+ the step", "(after … the step", text).splitlines()


def test_readme_quotes_what_train_and_lr_find_print(capsys, tmp_path, monkeypatch):
    """Issue 9: every README train/lr-find command's output is pasted as it runs, each line at most 80 columns
    (the digits runs take ~15 s each: their lines are checked, the moons runs are re-run and compared)."""
    pytest.importorskip("matplotlib")
    from tinygrad_gd.cli import main

    runs = readme_outputs("train") + readme_outputs("lr-find")
    assert len(runs) == 5
    monkeypatch.chdir(tmp_path)
    for argv, quoted in runs:
        assert all(len(line) <= 80 for line in quoted), argv
        if argv[1] == "moons":
            assert main(argv) == 0
            printed = capsys.readouterr().out.splitlines()
            if re.search("blow-up|diverged", " ".join(quoted)):  # where rounding takes them differs by machine
                printed, quoted = _wandering_loss_masked(printed), _wandering_loss_masked(quoted)
            assert printed == quoted, argv
