"""Every teaching notebook runs top to bottom, and its last cell asserts the number that confirms its claim.

Each notebook is executed in a fresh `python3` kernel with notebooks/ as the working directory, through the same
`execute` that `make notebooks` uses. Committed notebooks carry no outputs (`make strip-notebooks`).
"""

import copy
import importlib.util
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run.execute(path)
