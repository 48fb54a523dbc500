"""The split is a test, not a convention: the hiker never reads the map's code.

Each module's imports are read with `ast` (not executed) and compared with the table in STYLE.md 2.1.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tinygrad_gd"
OURS = {"value", "ops", "backprop", "autograd", "optim", "losses", "nn", "data", "train", "viz", "expr", "cli",
        "descent", "quant", "atomic", "functional", "creation", "dtypes", "random"}

# module -> modules of ours it must never import (anywhere in the file, even inside a function)
NEVER = {
    "ops": OURS,
    "atomic": OURS,  # writes that cannot be half-done: used by optim, nn and viz, it needs none of them
    "backprop": OURS - {"backprop"},
    "value": {"optim", "losses", "nn", "train", "data"},
    "optim": {"backprop", "autograd", "losses", "nn", "train", "viz"},
    "autograd": {"optim", "losses", "nn", "train", "viz"},
    "losses": {"backprop", "optim", "nn", "train"},
    "nn": {"backprop", "optim", "train"},
    "viz": {"optim", "train"},
    # the PyTorch names (issue 14): built on value and ops only; random (the default generator) on nothing of ours
    "functional": {"backprop", "optim", "losses", "nn", "train", "data", "viz"},
    "creation": {"backprop", "optim", "losses", "nn", "train", "data", "viz", "functional"},
    "dtypes": OURS - {"dtypes", "value"},
    "random": OURS - {"random"},
    "quant": {"backprop", "optim", "losses", "train", "data", "viz"},  # layers and integers, not training
    # viz is a package split by responsibility; only its pages and charts touch Value (lazily), so Jupyter's
    # value -> viz.render arrow closes no circle
    "viz/dot": OURS - {"backprop"},
    "viz/render": OURS - {"atomic"},
    "viz/frames": OURS - {"backprop"},
    "viz/charts": OURS - {"value"},
    "viz/pages": OURS - {"value", "backprop"},
}
# module -> modules of ours it may import only lazily (inside a function), never at the top of the file
LAZY_ONLY = {"value": {"viz"}, "viz/charts": {"value"}, "viz/pages": {"value"}}
# inside viz the arrows point one way: a file imports only the siblings listed after it here
VIZ_LAYERS = ["pages", "frames", "charts", "render", "dot"]


def imported_modules(tree, top_level_only=False):
    """Names of tinygrad_gd modules imported: `from . import x`, `from .x import y`, `import tinygrad_gd.x`."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level > 0 or module.startswith("tinygrad_gd"):
                parts = module.split(".")
                parts = parts[1:] if parts[0] == "tinygrad_gd" else parts
                if parts and parts[0]:
                    found.add(parts[0])
                else:  # `from . import backprop`
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tinygrad_gd."):
                    found.add(alias.name.split(".")[1])
    return found


def _files(module):
    """The files of a module: `x.py`, or every file of the package `x/` (nn is a package: nn.functional...)."""
    if (PACKAGE / module).is_dir():
        return sorted((PACKAGE / module).glob("*.py"))
    return [PACKAGE / f"{module}.py"] if (PACKAGE / f"{module}.py").exists() else []


def _tree(module):
    """A module's syntax tree; a package (nn/, viz/) is the union of its files."""
    return ast.Module(body=[n for f in _files(module) for n in ast.parse(f.read_text()).body], type_ignores=[])


@pytest.mark.parametrize("module", sorted(NEVER))
def test_forbidden_imports(module):
    if not _files(module):
        pytest.skip(f"{module} does not exist yet")
    assert not imported_modules(_tree(module)) & NEVER[module]


@pytest.mark.parametrize("module", sorted(LAZY_ONLY))
def test_lazy_only_imports(module):
    assert not imported_modules(_tree(module), top_level_only=True) & LAZY_ONLY[module]


def test_ops_imports_only_numpy_and_the_standard_library():
    tree = _tree("ops")
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert names <= {"numpy", "operator", "math", "functools"}


def test_the_package_nn_is_checked_file_by_file():
    assert PACKAGE / "nn" / "__init__.py" in _files("nn")
    assert "value" in imported_modules(_tree("nn"))  # `from ..value import Value` is seen inside the package


def test_the_checker_sees_all_import_forms():
    tree = ast.parse("from . import backprop\nfrom .optim import SGD\nimport tinygrad_gd.losses\n"
                     "def f():\n    from tinygrad_gd.nn import Linear\n")
    assert imported_modules(tree) == {"backprop", "optim", "losses", "nn"}
    assert imported_modules(tree, top_level_only=True) == {"backprop", "optim", "losses"}


def test_viz_files_import_each_other_one_way():
    for k, name in enumerate(VIZ_LAYERS):
        siblings = {node.module for node in ast.walk(_tree(f"viz/{name}"))
                    if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}
        assert siblings <= set(VIZ_LAYERS[k + 1:]), f"viz/{name}.py imports {siblings - set(VIZ_LAYERS[k + 1:])}"
    value = {node.module for node in ast.walk(_tree("value")) if isinstance(node, ast.ImportFrom) and node.module}
    assert {m for m in value if m.startswith("viz")} <= {"viz.render"}  # the notebook repr's drawer imports no Value
