"""Every teaching notebook runs top to bottom, and its last cell asserts the number that confirms its claim.

Each notebook is executed in a fresh `python3` kernel with notebooks/ as the working directory, through the same
`execute` that `make notebooks` uses. Committed notebooks carry no outputs (`make strip-notebooks`).
"""

import copy
import importlib.util
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("matplotlib")

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
_spec = importlib.util.spec_from_file_location("notebooks_run", FOLDER / "run.py")
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

NOTEBOOKS = run.notebooks()


def test_the_course_numbers_its_notebooks():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert numbers[:8] == [f"{i:02d}" for i in range(1, 9)]  # the article's core claims, in course order
    assert len(set(numbers)) == len(numbers), "two notebooks share a number"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_clean(path):
    """Valid nbformat, no outputs, no execution counts: diffs show only what a person wrote."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        f"{path.name} has outputs: run `make strip-notebooks`"
    assert run.strip(copy.deepcopy(nb)) == nb, f"{path.name} has per-run metadata: run `make strip-notebooks`"
    assert nb.cells[0].cell_type == "markdown" and "**Claim" in nb.cells[0].source, "first cell states the claim"
    assert "assert " in code[-1].source, "the last code cell asserts the confirming number"




def _printed(nb):
    """Everything the executed notebook printed to stdout, in cell order."""
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs if out.get("name") == "stdout")


def _stderr(nb):
    return [(i, out["text"][:200]) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.outputs if out.get("name") == "stderr"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch, capfd):
    """It runs to its final assertion, and its saved output holds no warnings or progress-bar redraws."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = run.execute(path)
    assert _stderr(nb) == [], f"{path.name} writes to stderr (a warning, a progress bar): a learner reads that too"
    # the kernel's own stderr is the terminal of `make notebooks`: ipykernel 7 warns there on every start unless
    # the kernel manager provisions CurveZMQ keys (run.kernel_config)
    assert "without encryption" not in capfd.readouterr().err


# Each experiment a notebook's prose invites, with the parameters changed as it says, and what the notebook must
# then say it saw. The numbers are derived by hand, not read off a run:
# 01: (w - 2)² from w = 5 at rate lr gives w_k - 2 = 3·r^k with r = 1 - 2·lr; the walk stops below 1e-6, past 1e6,
#     or after 1000 steps. lr 0.5: r = 0, on 2 after one step. lr 0.9: r = -0.8, 3·0.8^67 = 9.7e-7 < 1e-6 <
#     3·0.8^66, so 67 steps, crossing 2 every step. lr 1.0: r = -1, w = 5, -1, 5, ... forever. lr 1.1: r = -1.2,
#     3·1.2^69 = 8.7e5 < 1e6 <= 3·1.2^70 = 1.05e6, so it runs away at step 70.
# 06: plain SGD on ½(x² + 100y²) from (-4, 1): x_k = -4(1 - lr)^k, y_k = (1 - 100·lr)^k. lr 0.021 (just over the
#     limit 2/100): |y| = 1.1^k passes 1e6 at k = 145 (1.1^144 = 9.1e5). lr 0.01: y is 0 after one step and
#     4·0.99^k < 1e-3 first at k = 826 (ln 4000 / -ln 0.99 = 825.3): about twice the 433 steps at lr 0.019.
EXPERIMENTS = {
    "01 lr 0.5 lands": ("01_", {"lr": 0.5}, [
        "lr 0.5, r = 1 - 2·lr = 0: converged in 1 step: the first step landed on w = 2 exactly",
        "predicted from |w_k - 2| = 3·|r|^k: converge in 1 step"]),
    "01 lr 0.9 oscillates": ("01_", {"lr": 0.9}, [
        "lr 0.9, r = 1 - 2·lr = -0.8: converged: |w - 2| < 1e-06 after 67 steps,",
        "shrinking ×0.8 per step, jumping across w = 2 on every step", "converge in 67 steps"]),
    "01 lr 1.0 bounces": ("01_", {"lr": 1.0}, [
        "lr 1.0, r = 1 - 2·lr = -1: no convergence in 1000 steps: |w - 2| is still 3",
        "the last two steps were at w = -1, 5", "not converge in 1000 steps"]),
    "01 lr 1.1 diverges": ("01_", {"lr": 1.1}, [
        "lr 1.1, r = 1 - 2·lr = -1.2: diverged: |w - 2| passed 1e+06 at step 70,",
        "growing ×1.2 per step, jumping across w = 2 on every step", "run away at step 70"]),
    "06 SGD past its limit, RMSprop faster on Rosenbrock": (
        "06_", {"changed_rates": {"scaled quadratic": {"SGD": 0.021}, "Rosenbrock": {"RMSprop": 0.01}}}, [
            "by hand: more than 1e+06 away at step 145: ran away",
            "observed: more than 1e+06 away at step 145: ran away",
            "* changed from the rates the claim is about"]),
    "06 SGD at half the rate": ("06_", {"changed_rates": {"scaled quadratic": {"SGD": 0.01}}}, [
        "by hand: within 0.001 of the minimum after 826 steps",
        "observed: within 0.001 of the minimum after 826 steps"]),
}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_suggested_experiment_runs_to_a_stated_outcome(name, monkeypatch):
    """The notebook runs to its end (its claim still checked at the claim's values) and says what happened."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    prefix, values, lines = EXPERIMENTS[name]
    (path,) = [p for p in NOTEBOOKS if p.name.startswith(prefix)]
    printed = _printed(run.execute(path, parameters=values))
    missing = [line for line in lines if line not in printed]
    assert not missing, f"{path.name} with {values} did not say {missing}; it printed:\n{printed}"
    if prefix == "06_":  # the table row of each changed rate is marked and says how that hiker ended
        rows = {line.split()[0]: line for line in printed.splitlines() if line.split()[:1] and
                line.split()[0] in ("SGD", "RMSprop")}
        if "Rosenbrock" in values["changed_rates"]:
            assert "ran away at 145   0.021*" in rows["SGD"]
            assert "still 0.06 away    0.01*" in rows["RMSprop"]
        else:
            assert "826    0.01*" in rows["SGD"]


def test_every_invitation_has_an_experiment():
    """A notebook whose prose says "try" keeps what to change in a `parameters` cell, and is tried above."""
    tried = {prefix for prefix, _, _ in EXPERIMENTS.values()}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        prose = " ".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
        if re.search(r"\btry\b", prose, flags=re.IGNORECASE):
            assert run.parameters(nb), f"{path.name} invites an experiment but has no cell tagged 'parameters'"
            assert path.name[:3] in tried, f"{path.name} invites an experiment that no test runs"


def _tiny_notebook():
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("**Claim:** x"),
        nbformat.v4.new_code_cell("lr = 0.1  # try 1.1\nsteps = 3", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(lr * steps)")])


def test_inject_puts_the_new_values_right_after_the_parameters_cell():
    nb = _tiny_notebook()
    written = copy.deepcopy(nb)
    assert run.parameters(nb) == {"lr": 0.1, "steps": 3}
    run.inject(nb, {"lr": 1.1, "steps": 2})
    assert nb.cells[2].source.splitlines()[1:] == ["lr = 1.1", "steps = 2"]
    assert nb.cells[2].metadata["tags"] == ["injected-parameters"]
    nbformat.validate(nb)
    assert run.strip(nb).cells == written.cells  # --strip removes the injected cell again


def test_inject_refuses_unknown_names_and_non_literals_changing_nothing():
    nb = _tiny_notebook()
    written = copy.deepcopy(nb)
    with pytest.raises(ValueError, match=r"lrate: not a parameter of this notebook \(its parameters: lr, steps\)"):
        run.inject(nb, {"lrate": 1.1})
    with pytest.raises(ValueError, match="only Python literals"):
        run.inject(nb, {"lr": object()})
    assert nb.cells == written.cells
    bare = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("lr = 0.1")])
    with pytest.raises(ValueError, match="no cell is tagged 'parameters'"):
        run.inject(bare, {"lr": 1.1})


def test_command_line_refuses_a_bad_parameter_before_running(capsys):
    for argv, message in [(["--check", "01_", "-p", "lrate=1.1"], "lrate: not a parameter"),
                          (["--check", "01_", "-p", "lr=__import__('os')"], "VALUE must be a Python literal"),
                          (["--check", "01_", "-p", "lr"], "expected NAME=VALUE"),
                          (["--strip", "01_", "-p", "lr=1.1"], "-p goes with --execute or --check")]:
        with pytest.raises(SystemExit) as exit_info:
            run.main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
