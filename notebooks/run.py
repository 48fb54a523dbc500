"""Run or clean the teaching notebooks.

    python notebooks/run.py --execute [NAME ...]   run top to bottom, saving the outputs in place (for reading)
    python notebooks/run.py --strip [NAME ...]     remove outputs and execution counts (what is committed)
    python notebooks/run.py --check [NAME ...]     run without saving; exit 1 if any notebook fails
    python notebooks/run.py --check 01 -p lr=1.1   run an experiment: override a value of the parameters cell

Notebooks are committed without outputs so that diffs show only what a person wrote; `make notebooks` fills
them in, `make strip-notebooks` empties them again before a commit. tests/test_notebooks.py uses `execute`.

A notebook that invites an experiment ("change lr and rerun") keeps the values to change in one cell tagged
`parameters` (papermill's convention). `-p NAME=VALUE` inserts, right after that cell, a cell tagged
`injected-parameters` that assigns the new value, as papermill does; `--strip` removes such cells again. Values
are Python literals (numbers, strings, lists, dicts), read with `ast.literal_eval`: nothing given is run as code.
"""

import argparse
import ast
import os
import sys
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT = 120  # seconds per cell: generous for a slow CI machine; a notebook aims at a few seconds in all
PARAMETERS, INJECTED = "parameters", "injected-parameters"  # cell tags, as papermill names them


def notebooks(names=()):
    """The notebooks in this folder (all, or those whose file name contains one of `names`), in course order."""
    found = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in found if not names or any(n in p.name for n in names)]


def parameters(nb):
    """The values the cell tagged `parameters` assigns, by name (`{}` when no cell has that tag).

    Only plain `name = literal` assignments count; the values are read with `ast.literal_eval`, never run.
    """
    cells = [cell for cell in nb.cells if PARAMETERS in cell.metadata.get("tags", [])]
    if len(cells) > 1:
        raise ValueError(f"{len(cells)} cells are tagged {PARAMETERS!r}; a notebook has at most one")
    values = {}
    for statement in ast.parse(cells[0].source).body if cells else []:
        if isinstance(statement, ast.Assign) and all(isinstance(t, ast.Name) for t in statement.targets):
            try:
                value = ast.literal_eval(statement.value)
            except ValueError:
                raise ValueError(f"the parameters cell assigns {ast.unparse(statement.targets[0])} something other "
                                 "than a literal; keep that cell to `name = literal` lines") from None
            values.update((target.id, value) for target in statement.targets)
    return values


def inject(nb, values):
    """Insert a cell assigning `values` right after the `parameters` cell (papermill's injected-parameters).

    Refuses, changing nothing, a name the parameters cell does not assign (a typo would otherwise run the
    notebook's defaults and look like a result) and a value that is not a Python literal.
    """
    known = parameters(nb)
    unknown = sorted(set(values) - set(known))
    if unknown:
        offered = ", ".join(known) if known else f"none: no cell is tagged {PARAMETERS!r}"
        raise ValueError(f"{', '.join(unknown)}: not a parameter of this notebook (its parameters: {offered})")
    lines = []
    for name, value in values.items():
        text = repr(value)
        try:
            ok = ast.literal_eval(text) == value
        except (ValueError, SyntaxError):
            ok = False
        if not ok:
            raise ValueError(f"{name}={text}: only Python literals (numbers, strings, lists, dicts) can be injected")
        lines.append(f"{name} = {text}")
    at = next(i for i, cell in enumerate(nb.cells) if PARAMETERS in cell.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell("# Injected parameters (notebooks/run.py)\n" + "\n".join(lines),
                                     metadata={"tags": [INJECTED]})
    cell.id = f"{nb.cells[at].get('id', 'parameters')}-injected"
    nb.cells.insert(at + 1, cell)
    return nb


def kernel_config():
    """Encrypt the traffic to the kernel (CurveZMQ) when jupyter_client and pyzmq can.

    ipykernel 7 warns on every start that a kernel "is running over TCP without encryption" unless the kernel
    manager hands it CurveZMQ keys; `transport_encryption = "auto"` (jupyter_client 8.10+) does so for kernels
    whose kernelspec declares support, as ipykernel's does. (IPC sockets would also silence it, but their paths
    are relative to each process's working directory, and the kernel runs in notebooks/.)
    """
    import zmq
    from jupyter_client import KernelManager
    from traitlets.config import Config

    config = Config()
    if KernelManager.class_traits().get("transport_encryption") is not None and zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    return config


def execute(path, timeout=CELL_TIMEOUT, parameters=None):
    """Run the notebook at `path` in a fresh python3 kernel, in this folder; return the executed notebook.

    `parameters` (a dict) overrides values of the cell tagged `parameters`, as `-p NAME=VALUE` does.
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
    if parameters:
        inject(nb, parameters)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}},
                   config=kernel_config()).execute()
    return nb


def strip(nb):
    """Remove outputs, execution counts, per-run metadata and injected parameters: only what was written stays."""
    nb.cells = [cell for cell in nb.cells if INJECTED not in cell.metadata.get("tags", [])]
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
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="override a value of the notebook's parameters cell (a Python literal), e.g. lr=1.1")
    args = parser.parse_args(argv)
    paths = notebooks(args.names)
    if not paths:
        parser.error(f"no notebook matches {args.names}")
    values = {}
    for item in args.parameter:
        name, equals, text = (part.strip() for part in item.partition("="))
        if not equals or not name.isidentifier():
            parser.error(f"-p {item}: expected NAME=VALUE, e.g. -p lr=1.1")
        try:
            values[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parser.error(f"-p {item}: VALUE must be a Python literal (a number, string, list or dict), e.g. -p lr=1.1")
    if values and args.strip:
        parser.error("-p goes with --execute or --check: --strip runs nothing")
    if values:
        for path in paths:  # refuse a misspelt name before running anything
            try:
                inject(nbformat.read(path, as_version=4), values)
            except ValueError as error:
                parser.error(f"{path.name}: {error}")
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
            nb = execute(path, parameters=values)
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
