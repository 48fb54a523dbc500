"""Run or clean the teaching notebooks.

    python notebooks/run.py --execute [NAME ...]   run top to bottom, saving the outputs in place (for reading)
    python notebooks/run.py --strip [NAME ...]     remove outputs and execution counts (what is committed)
    python notebooks/run.py --check [NAME ...]     run without saving; exit 1 if any notebook fails

Notebooks are committed without outputs so that diffs show only what a person wrote; `make notebooks` fills
them in, `make strip-notebooks` empties them again before a commit. tests/test_notebooks.py uses `execute`.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT = 120  # seconds per cell: generous for a slow CI machine; a notebook aims at a few seconds in all


def notebooks(names=()):
    """The notebooks in this folder (all, or those whose file name contains one of `names`), in course order."""
    found = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in found if not names or any(n in p.name for n in names)]


def execute(path, timeout=CELL_TIMEOUT):
    """Run the notebook at `path` in a fresh python3 kernel, in this folder; return the executed notebook.

    Raises nbclient's CellExecutionError (with the failing cell and its traceback) when a cell fails,
    including the final `assert` that checks the notebook's claim.
    """
    from nbclient import NotebookClient

    os.environ.setdefault("MPLBACKEND", "Agg")  # no display needed; the notebooks ask for inline figures
    # One BLAS thread: these matrices are small, and on a busy 2-core machine OpenBLAS's spinning threads made a
    # convolution's training step 4x slower, not faster (read by the kernel's NumPy when it starts).
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    return nb


def strip(nb):
    """Remove outputs, execution counts and per-run metadata, so the file holds only what was written."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    # the kernel fills in its version and lexer on every run; keep only the language, so a round trip is no diff
    nb.metadata["language_info"] = {"name": nb.metadata.get("language_info", {}).get("name", "python")}
    nb.metadata.pop("widgets", None)
    return nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--execute", action="store_true", help="run and save outputs in place")
    mode.add_argument("--strip", action="store_true", help="remove outputs in place")
    mode.add_argument("--check", action="store_true", help="run without saving")
    parser.add_argument("names", nargs="*", help="run only notebooks whose file name contains one of these")
    args = parser.parse_args(argv)
    paths = notebooks(args.names)
    if not paths:
        parser.error(f"no notebook matches {args.names}")
    failed = []
    for path in paths:
        if args.strip:
            nb = strip(nbformat.read(path, as_version=4))
            nbformat.validate(nb)
            nbformat.write(nb, path)
            print(f"stripped {path.name}")
            continue
        start = time.perf_counter()
        try:
            nb = execute(path)
        except Exception as error:  # report every failing notebook, not only the first
            failed.append(path.name)
            print(f"FAILED   {path.name}: {str(error).strip().splitlines()[-1]}", file=sys.stderr)
            continue
        if args.execute:
            nbformat.write(nb, path)
        print(f"ok       {path.name}  {time.perf_counter() - start:.1f} s")
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
