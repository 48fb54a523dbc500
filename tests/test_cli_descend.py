"""`tinygrad-gd descend`: the three regimes of the article's (w − 2)², several variables, state, plots, errors."""

import os

import numpy as np
import pytest

from tinygrad_gd.cli import main
from tinygrad_gd.descent import descend, format_table, verdict


def run(capsys, *argv):
    code = main(["descend", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("lr, word", [("0.1", "converged"), ("0.9", "oscillated"), ("1.1", "diverged")])
def test_three_regimes_of_the_seed_example(capsys, lr, word):
    code, out, _ = run(capsys, "(w - 2) ** 2", "w=5", "--lr", lr, "--steps", "20")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[1].split() == ["step", "w", "loss", "grad", "w"]
    assert lines[2].split() == ["0", "5", "9", "6"] and len(lines) == 1 + 1 + 21 + 1
    assert lines[-1].startswith(word)
    if word == "diverged":
        assert "learning rate too large" in lines[-1] and "13227.9" in lines[-1]
    if word == "oscillated":
        assert "converging (loss 9 -> 0.00119631), now at w=2.03459" in lines[-1]


def test_first_step_is_the_articles(capsys):
    _, out, _ = run(capsys, "(w - 2) ** 2", "w=5", "--steps", "1")
    assert out.splitlines()[3].split() == ["1", "4.4", "5.76", "4.8"]


def test_overflow_to_infinity_is_diverged_not_a_crash(capsys):
    _, out, err = run(capsys, "(w - 2) ** 2", "w=5", "--lr", "3", "--steps", "400")
    assert "diverged: the loss became inf" in out and "learning rate too large" in out and err == ""


@pytest.mark.parametrize("formula, start, kind, words", [
    ("log(w)", "w=-1", "undefined", "the loss is nan at the starting point w=-1, before any step"),
    ("1 / w", "w=0", "undefined", "the loss is inf at the starting point w=0"),
    ("sqrt(w)", "w=0", "undefined", "the slope is not a finite number at the starting point w=0"),
    ("exp(w)", "w=1000", "undefined", "overflows"),
    ("relu(w)", "w=-1", "flat", "the slope is 0 at the starting point w=-1, so the hiker never moves"),
    ("w ** 3", "w=0", "flat", "a saddle"),
    ("(w - 2) ** 2", "w=2", "flat", "the loss stays 0"),
])
def test_a_bad_start_is_not_blamed_on_the_learning_rate(capsys, formula, start, kind, words):
    records = descend(formula, dict([start.split("=")]), "sgd", lr=0.1, steps=5)
    assert verdict(records).kind == kind
    code, out, err = run(capsys, formula, start, "--steps", "5")
    last = out.strip().splitlines()[-1]
    assert code == 0 and err == "" and last.startswith(kind) and words in last
    assert "learning rate" not in last


def test_an_infinitely_steep_point_met_on_the_way_is_named():
    records = descend("sqrt(w)", {"w": 0.0625}, "sgd", lr=0.03125, steps=5)  # 0.0625 − 0.03125·2 = 0 exactly
    assert records[1].values["w"] == 0.0 and records[1].grads["w"] == float("inf")
    text = verdict(records).message
    assert text.startswith("diverged") and "was not finite" in text and "so any step from it is infinite" in text


def test_several_variables_and_every_optimizer(capsys):
    for name in ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad"):
        code, out, _ = run(capsys, "(x - 1) ** 2 + 10 * (y + 2) ** 2", "x=0", "y=0", "--optimizer", name,
                           "--lr", "0.02", "--steps", "5")
        assert code == 0 and out.splitlines()[1].split()[:4] == ["step", "x", "y", "loss"]


def test_nesterov_converges_on_the_valley():
    records = descend("(x - 1) ** 2 + 10 * (y + 2) ** 2", {"x": 0, "y": 0}, "nesterov", lr=0.05, steps=50)
    assert verdict(records).kind == "converged"
    assert records[-1].values["x"] == pytest.approx(1, abs=0.01) and records[-1].values["y"] == pytest.approx(-2)


def test_show_state_momentum_buffer_starts_at_g_and_adam_shows_m_v_and_the_step(capsys):
    _, out, _ = run(capsys, "(w - 2) ** 2", "w=5", "--optimizer", "momentum", "--steps", "2", "--show-state")
    lines = out.splitlines()
    assert lines[1].split() == ["step", "w", "loss", "grad", "w", "buf", "w", "moved", "w"]
    assert lines[2].split()[-2:] == ["6", "0.6"]  # the buffer starts at g = 6; w moves lr·6
    assert lines[3].split()[-2:] == ["10.2", "1.02"]  # 0.9·6 + 4.8
    _, out, _ = run(capsys, "(w - 2) ** 2", "w=5", "--optimizer", "adam", "--steps", "1", "--show-state")
    header, first = out.splitlines()[1].split(), out.splitlines()[2].split()
    assert header[-6:] == ["m", "w", "v", "w", "moved", "w"]
    assert [float(x) for x in first[-3:]] == pytest.approx([0.6, 0.036, 0.1])  # Adam's first step is ≈ lr


def test_seed_makes_random_starts_repeatable(capsys):
    first = run(capsys, "(w - 2) ** 2", "--seed", "7", "--steps", "3")[1]
    assert first == run(capsys, "(w - 2) ** 2", "--seed", "7", "--steps", "3")[1]
    assert first != run(capsys, "(w - 2) ** 2", "--seed", "8", "--steps", "3")[1]


@pytest.mark.parametrize("argv, message", [
    (["w.__class__", "w=1"], "attribute access 'w.__class__'"),
    (["(w - 2) ** 2", "w=5", "--lr", "-0.1"], "Invalid learning rate: -0.1"),
    (["(w - 2) ** 2", "v=5"], "'v' is not a variable"),
    (["(w - 2) ** 2", "w5"], "expected NAME=NUMBER"),
    (["(w - 2) ** 2", "--optimizer", "adam", "--momentum", "0.9"], "Invalid momentum"),
    (["(w - 2) ** 2", "--steps", "0"], "Invalid steps: 0"),
])
def test_errors_are_one_line_naming_the_problem(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and message in err and err.startswith("tinygrad-gd descend:")


@pytest.mark.parametrize("option", ["--plot", "--html"])
def test_an_unwritable_picture_is_refused_before_descending(capsys, tmp_path, option):
    code, out, err = run(capsys, "(w - 2) ** 2", "w=5", option, str(tmp_path / "missing" / "x.png"))
    assert code == 2 and out == "" and "the folder" in err and "missing does not exist" in err


@pytest.mark.parametrize("formula, start", [("(w - 2) ** 2", ["w=5"]), ("(x - 1) ** 2 + 3 * y ** 2", ["x=0", "y=1"])])
def test_plot_writes_a_png(capsys, tmp_path, formula, start):
    pytest.importorskip("matplotlib")
    path = tmp_path / "descent.png"
    code, out, _ = run(capsys, formula, *start, "--steps", "5", "--plot", str(path))
    assert code == 0 and f"plot saved to {path}" in out
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_names_the_extra(capsys, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    code, out, err = run(capsys, "(w - 2) ** 2", "w=5", "--steps", "1", "--plot", str(tmp_path / "x.png"))
    assert code == 2 and "pip install tinygrad-gd[plot]" in err
    assert out == ""  # said before the descent ran: no table was printed


def test_format_table_is_reusable():
    records = descend("(w - 2) ** 2", {"w": 5.0}, "sgd", lr=0.1, steps=2)
    assert format_table(records).splitlines()[0].split() == ["step", "w", "loss", "grad", "w"]
    assert np.isclose(records[-1].values["w"], 3.92)


# ---- issue 12: bounded work and messages that name the problem -------------------------------------------------
def test_a_billion_steps_print_as_they_go_in_bounded_memory():
    """Issue 12: `descend --steps 1000000000` printed nothing while holding every step (1.4 KB each)."""
    import tracemalloc

    from tinygrad_gd.cli import build_parser, run_descend

    class Enough(Exception):
        pass

    class Screen:
        def __init__(self):
            self.lines = 0

        def write(self, text):
            self.lines += text.count("\n")
            if self.lines == 200:  # rows already reached the screen: the table is streamed, not held back
                raise Enough

    args = build_parser().parse_args(["descend", "(w - 2) ** 2", "w=5", "--steps", "1000000000"])
    with pytest.raises(Enough):
        run_descend(args, out=Screen())
    from tinygrad_gd.descent import Summary, descent_steps

    summary, rows = Summary(), descent_steps("(x - 1) ** 2 + (y + 1) ** 2", {"x": 5, "y": 5}, "sgd", 1e-4, 10**9)
    tracemalloc.start()
    for k, record in enumerate(rows):
        summary.add(record)
        if k == 2_000:
            start = tracemalloc.get_traced_memory()[0]
        if k == 12_000:
            grown = tracemalloc.get_traced_memory()[0] - start
            break
    tracemalloc.stop()
    assert grown < 10_000 * 100  # 10,000 more steps kept under 100 bytes each (a Step record alone is ~1.4 KB)
    assert len(summary.lows) <= 2 * Summary.LOWS and summary.verdict().kind == "still descending"


def test_streamed_verdict_is_the_listed_one():
    from tinygrad_gd.descent import Summary

    for lr in ("0.1", "0.9", "1.1", "0"):
        records = descend("(w - 2) ** 2", {"w": 5.0}, "sgd", float(lr), 50)
        summary = Summary()
        for r in records:
            summary.add(r)
        assert summary.verdict() == verdict(records)
    Summary.LOWS = 4  # thinned: the step reported is still one where the loss is within 1%
    try:
        records = descend("(w - 2) ** 2", {"w": 5.0}, "sgd", 0.01, 3000)
        text = verdict(records).message
        assert text.startswith("converged") and "or sooner" in text
    finally:
        Summary.LOWS = 1024


def test_lr_zero_says_the_loss_does_not_move(capsys):
    """Issue 12: `descend --lr 0` said "still falling" while the loss stayed 9."""
    code, out, _ = run(capsys, "(w - 2) ** 2", "w=5", "--lr", "0", "--steps", "5")
    last = out.strip().splitlines()[-1]
    assert code == 0 and last.startswith("stuck: the loss stays 9 for 5 steps although the slope is 6")
    assert "learning rate is 0" in last and "falling" not in last


def test_a_negative_seed_names_the_option(capsys):
    """Issue 12: `--seed -1` said NumPy's "expected non-negative integer" without the option's name."""
    with pytest.raises(SystemExit):
        main(["descend", "(w - 2) ** 2", "--seed", "-1"])
    assert "argument --seed: -1 is negative: a seed is a whole number, 0 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "moons", "--seed", "-3"])
    assert "argument --seed: -3 is negative" in capsys.readouterr().err


def test_a_fullwidth_name_means_the_same_variable_on_both_sides(capsys):
    """Issue 12: ｗ in the formula and w= in the assignment (or the other way) did not meet."""
    for formula, start in (("(ｗ - 2) ** 2", "w=5"), ("(w - 2) ** 2", "ｗ=5")):
        code, out, err = run(capsys, formula, start, "--steps", "1")
        assert code == 0 and err == "" and out.splitlines()[3].split() == ["1", "4.4", "5.76", "4.8"]
    code, _, err = run(capsys, "(w - 2) ** 2", "w=5", "ｗ=6")
    assert code == 2 and "'w' is given twice" in err


def test_plot_without_a_suffix_reports_the_file_written(capsys, tmp_path):
    """Issue 12: `--plot curve` wrote curve.png but reported "curve"."""
    pytest.importorskip("matplotlib")
    code, out, _ = run(capsys, "(w - 2) ** 2", "w=5", "--steps", "3", "--plot", str(tmp_path / "curve"))
    assert code == 0 and f"plot saved to {tmp_path / 'curve.png'}\n" in out
    assert os.listdir(tmp_path) == ["curve.png"]
    code, _, err = run(capsys, "(w - 2) ** 2", "w=5", "--steps", "3", "--plot", str(tmp_path / "curve.txt"))
    assert code == 2 and "'txt' is not an image format" in err


def test_plot_or_html_with_too_many_steps_is_refused_before_descending(capsys, tmp_path):
    code, out, err = run(capsys, "(w - 2) ** 2", "w=5", "--steps", "1000000000", "--plot", str(tmp_path / "x.png"))
    assert code == 2 and out == "" and "keep every step to draw it" in err


def test_plot_and_html_are_written_both_or_neither(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from tinygrad_gd import viz

    def broken_page(*args, **kwargs):
        raise OSError("the page could not be made")

    monkeypatch.setattr(viz, "descent_html", broken_page)
    code, _, err = run(capsys, "(w - 2) ** 2", "w=5", "--steps", "3", "--plot", str(tmp_path / "p.png"),
                       "--html", str(tmp_path / "d.html"))
    assert code == 2 and "the page could not be made" in err and os.listdir(tmp_path) == []


# ---- curvature (issue 10): the engine's own second derivative --------------------------------------------------
def test_show_curvature_prints_f2_and_the_critical_rate(capsys):
    _, out, _ = run(capsys, "(w - 2) ** 2", "w=5", "--steps", "2", "--show-curvature")
    lines = out.splitlines()
    assert lines[1].split() == ["step", "w", "loss", "grad", "w", "f''", "2/f''"]
    assert lines[2].split() == ["0", "5", "9", "6", "2", "1"]
    assert max(len(line) for line in lines[:-1]) <= 80  # the table fits a terminal; the verdict is prose


def test_show_curvature_for_several_variables_is_lambda_max(capsys):
    _, out, _ = run(capsys, "(x - 1) ** 2 + 10 * (y + 2) ** 2 + x * y", "x=0", "y=0", "--steps", "1",
                    "--lr", "0.01", "--show-curvature")
    header, first = out.splitlines()[1].split(), out.splitlines()[2].split()
    assert header[-2:] == ["λmax", "2/λmax"]
    expected = np.linalg.eigvalsh([[2.0, 1.0], [1.0, 20.0]]).max()
    assert float(first[-2]) == pytest.approx(expected, rel=1e-3) and float(first[-1]) == pytest.approx(2 / expected,
                                                                                                        rel=1e-3)


def test_verdict_names_the_critical_rate_from_the_engines_curvature(capsys):
    _, out, _ = run(capsys, "(w - 2) ** 2", "w=5", "--lr", "1.1")
    assert "f'' = 2 at the start, so plain descent is stable only for lr < 2/f'' = 1" in out.splitlines()[-1]
    _, out, _ = run(capsys, "3 * (w - 2) ** 2", "w=5", "--lr", "0.3")  # f'' = 6: stable below 1/3
    assert out.splitlines()[-1].startswith("oscillated") and "lr < 2/f'' = 0.333" in out


def test_newton_lands_on_the_minimum_in_one_step(capsys):
    _, out, _ = run(capsys, "(w - 2) ** 2", "w=5", "--optimizer", "newton", "--steps", "3")
    lines = out.splitlines()
    assert lines[0] == "newton on (w - 2) ** 2 with lr 1"
    assert lines[3].split()[:3] == ["1", "2", "0"] and lines[-1].startswith("converged")


def test_newton_on_a_non_convex_function_finds_the_maximum(capsys):
    records = descend("w ** 4 - 2 * w ** 2", {"w": 0.3}, "newton", lr=1.0, steps=6)
    assert abs(records[-1].values["w"]) < 1e-12 and records[-1].curvature == pytest.approx(-4)
    assert verdict(records).kind == "maximum"
    assert verdict(descend("w ** 4 - 2 * w ** 2", {"w": 0.3}, "sgd", lr=0.05, steps=60)).kind == "converged"


def test_newton_refuses_what_it_cannot_do(capsys):
    with pytest.raises(ValueError, match="newton has no momentum"):
        descend("(w - 2) ** 2", {"w": 5.0}, "newton", lr=1.0, momentum=0.9)
    code, _, err = run(capsys, "(w - 2) ** 2", "w=5", "--optimizer", "newton", "--html", "page.html")
    assert code != 0 and "--html" in err
