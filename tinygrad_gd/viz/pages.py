"""The HTML pages: self-contained steppers over the backward walk and over a descent (no network, no files).

Each page lays its graph out once; a frame is a list of differences (the texts, classes and labels that change),
applied by the page's one script. The Content-Security-Policy allows exactly that script and that stylesheet by
their hashes (no 'unsafe-inline'), and every SVG is sanitised (render.sanitise) before it enters the page, so a
Value's name can only ever be text.
"""

import base64
import hashlib
import html
import json
import math
import xml.etree.ElementTree as ET

import numpy as np

from ..backprop import topological_order
from .charts import _plot
from .dot import MAX_NODES, _array, _build, _clusters, _fields, _numbers, parameter_names
from .frames import walk_frames
from .render import SVG, _render_bytes, _write_atomic, sanitise

_STYLE = """body{font-family:sans-serif;margin:1em;font-size:15px}
#caption{font-family:monospace;margin:.6em 0;font-size:15px;min-height:2.6em;white-space:pre-wrap}
.controls button{font-size:15px} .controls input{width:22em;vertical-align:middle}
.row{display:flex;gap:1.5em;align-items:flex-start}
.graph{overflow:auto;max-width:100%;max-height:80vh;flex:1;min-width:0}
.legend{color:#444;font-size:14px} .explain{max-width:25em;margin-top:.4em}
.header{font-size:15px;margin:.3em 0} .header code{font-size:15px}
.edge text{visibility:hidden} .edge.known text{visibility:visible}
.edge .tail{visibility:hidden} .edge.flow .tail{visibility:visible} .edge.flow .head{visibility:hidden}
.edge.flow path{stroke:#d62728;stroke-width:2.5} .edge.flow polygon{fill:#d62728;stroke:#d62728}
.edge.flow text{fill:#d62728;font-weight:bold}
.node.hot>polygon,.node.hot>ellipse{fill:#ffd6cc;stroke:#d62728;stroke-width:3}
.node.pending>polygon{stroke:#e6850e;stroke-width:2.5;stroke-dasharray:5 3}
.marker{fill:#777;cursor:pointer} .marker.current{fill:#d62728} .marker.later{opacity:.2}
.segment.later{visibility:hidden}
.runs button.on{font-weight:bold;border:2px solid #d62728} .chart{display:none} .chart.on{display:block}
"""

_SCRIPT = """const D = DATA, slider = document.getElementById("slider");
let run = 0, timer = null;
const $ = id => document.getElementById(id);
function texts(key, values) {
  const g = $(key); if (!g) return;
  const t = g.querySelectorAll("text"), n = t.length;
  values.forEach((v, i) => { if (n - values.length + i >= 0) t[n - values.length + i].textContent = v; });
}
function show() {
  const k = Number(slider.value), frames = D.runs[run].frames, known = new Set(), hover = {}, fields = {};
  for (let j = 0; j <= k; j++) {
    const f = frames[j];
    Object.assign(fields, f.g || {}); Object.assign(hover, f.t || {}); (f.l || []).forEach(e => known.add(e));
  }
  for (const [key, v] of Object.entries(Object.assign({}, D.base, fields))) texts(key, v);
  for (const [key, v] of Object.entries(Object.assign({}, D.titles, hover))) {
    const t = $(key) && $(key).querySelector("title"); if (t) t.textContent = v;
  }
  const f = frames[k], flow = new Set(f.f || []), pending = new Set(f.p || []);
  document.querySelectorAll(".edge").forEach(e => {
    e.classList.toggle("known", known.has(e.id)); e.classList.toggle("flow", flow.has(e.id)); });
  document.querySelectorAll(".node").forEach(n => {
    n.classList.toggle("hot", n.id === f.h); n.classList.toggle("pending", pending.has(n.id)); });
  document.querySelectorAll(".chart").forEach((c, i) => c.classList.toggle("on", i === run));
  document.querySelectorAll(".runs button").forEach((b, i) => b.classList.toggle("on", i === run));
  document.querySelectorAll(".chart.on .marker").forEach(m => {
    const s = Number(m.dataset.step); m.classList.toggle("later", s > k); m.classList.toggle("current", s === k); });
  document.querySelectorAll(".chart.on .segment").forEach(m => m.classList.toggle("later", Number(m.dataset.step) > k));
  const box = document.querySelector(".graph");  // the walk's node in view: the graph scrolls, the page stays
  if (f.h && $(f.h) && box) {
    const r = $(f.h).getBoundingClientRect(), b = box.getBoundingClientRect();
    box.scrollLeft += r.left + r.width / 2 - b.left - b.width / 2;
    box.scrollTop += r.top + r.height / 2 - b.top - b.height / 2;
  }
  $("caption").textContent = f.c;
  $("count").textContent = "frame " + k + " of " + (frames.length - 1);
  document.body.dataset.frame = k; document.body.dataset.highlight = f.h || ""; document.body.dataset.run = run;
}
function go(k) { slider.max = D.runs[run].frames.length - 1; slider.value = k; show(); }
function move(d) { go(Math.min(Math.max(Number(slider.value) + d, 0), Number(slider.max))); }
function play() {
  if (timer) { clearInterval(timer); timer = null; $("play").textContent = "\\u25B6 Play"; return; }
  if (Number(slider.value) >= Number(slider.max)) go(0);
  $("play").textContent = "\\u23F8 Pause";
  timer = setInterval(() => { if (Number(slider.value) >= Number(slider.max)) play(); else move(1); }, D.delay);
}
slider.addEventListener("input", show);
$("prev").onclick = () => move(-1); $("next").onclick = () => move(1); $("play").onclick = play;
document.addEventListener("keydown", e => {
  const d = {ArrowLeft: -1, ArrowRight: 1}[e.key];
  if (d && e.target !== slider) { e.preventDefault(); move(d); } });
document.querySelectorAll(".marker").forEach(m => { m.onclick = () => go(Number(m.dataset.step)); });
document.querySelectorAll(".runs button").forEach((b, i) => { b.onclick = () => { run = i; move(0); }; });
const start = /frame=(\\d+)/.exec(location.hash), lr = /run=(\\d+)/.exec(location.hash);
if (lr) run = Math.min(Number(lr[1]), D.runs.length - 1);
go(start ? Math.min(Number(start[1]), D.runs[run].frames.length - 1) : 0);
"""


def _hash(text):
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _as_js(data):
    """JSON that nothing can end the <script> from (every < escaped)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _html(title, body, data):
    """The page: its script and stylesheet allowed by hash, nothing else (default-src 'none')."""
    script = _SCRIPT.replace("DATA", _as_js(data), 1)
    csp = f"default-src 'none'; style-src '{_hash(_STYLE)}'; script-src '{_hash(script)}'"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>\n'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n<style>{_STYLE}</style>\n'
            f'</head><body data-frame="0" data-highlight="" data-run="0">\n<h2>{html.escape(title)}</h2>\n{body}\n'
            f"<script>{script}</script></body></html>\n")


_CONTROLS = ('<div class="controls"><button id="prev">&#9664; prev</button> <input id="slider" type="range" '
             'min="0" max="0" value="0" aria-label="frame"> <button id="next">next &#9654;</button> '
             '<button id="play">&#9654; Play</button> <span id="count"></span></div><div id="caption"></div>')


def _layout_svg(dot):
    """Render once, sanitise, and mark each edge's two arrowheads: the one at the path's start is the `tail`
    (shown when the gradient flows back), the other the `head` (the forward direction)."""
    root = sanitise(_render_bytes(dot.source, "svg"))
    for edge in root.iter(f"{{{SVG}}}g"):
        if edge.get("class") != "edge":
            continue
        path = edge.find(f"{{{SVG}}}path")
        heads = edge.findall(f"{{{SVG}}}polygon")
        if path is None or not heads:
            continue
        start = [float(v) for v in path.get("d", "M0,0")[1:].split("C")[0].split(",")[:2]]
        centre = lambda p: np.mean([[float(v) for v in xy.split(",")] for xy in p.get("points").split()], axis=0)
        distance = [math.dist(start, centre(p)) for p in heads]
        for k, polygon in enumerate(heads):
            polygon.set("class", "tail" if len(heads) > 1 and k == int(np.argmin(distance)) else "head")
    return ET.tostring(root, encoding="unicode")


def _widest(texts):
    return max(texts, key=len)


def backprop_html(root, path, max_nodes=MAX_NODES, title="Backpropagation, one node at a time", max_frames=None,
                  rankdir="LR", model=None):
    """Write the backward walk as one HTML page: the graph laid out once, a slider over the frames of
    `backprop_frames` (as differences), prev/next, Play/Pause and the arrow keys.

    The page has at most `max_frames` frames (default `max_nodes`): a longer walk ends with one frame that says
    how many steps it summarises and shows every gradient as backward() leaves it. With `model`, weights carry
    their qualified names and each layer its box, as in `to_dot`.
    """
    qualnames, found = parameter_names(model) if model is not None else ({}, [])
    order, frames = walk_frames(root, max_nodes, max_frames, qualnames)
    names = {id(node): f"n{i}" for i, node in enumerate(order)}
    drawn = {f.key for f in frames} | {names[i] for f in frames for i in f.grad_text}
    layout = {i: _widest([f.grad_text.get(i, "grad ?") for f in frames]) for i in frames[-1].grad_text}
    dot = _build(root, order, layout, max_nodes=max_nodes, rankdir=rankdir, labels=frames[-1].labels, layout=True,
                 qualnames=qualnames, clusters=_clusters(order, found))
    base = {names[i]: ["grad ?"] for i in layout}
    diffs, before = [], {}
    for f in frames:
        fields = {names[i]: [t] for i, t in f.grad_text.items() if before.get(i) != t and names[i] in drawn}
        before.update(f.grad_text)
        previous = diffs and frames[len(diffs) - 1]
        titles = {k: v for k, v in f.titles.items() if not previous or previous.titles.get(k) != v}
        labels = [e for e in f.labels if not previous or e not in previous.labels]
        diffs.append({"c": f.caption, "h": f.key, "g": fields, "t": titles, "l": labels,
                      "f": sorted(f.flow), "p": sorted(names[i] for i in f.pending)})
    legend = ('<div class="legend">Each step completes one node\'s gradient (red box) and sends it back along its '
              'edges (red, arrows pointing back toward the inputs); an edge reads upstream × local derivative = '
              'contribution. An orange dashed box has part of its gradient: <i>so far</i>. Hover on a box or an '
              'edge for all its numbers; keys ← →.</div>')
    body = f'{_CONTROLS}{legend}<div class="graph">{_layout_svg(dot)}</div>'
    data = {"runs": [{"frames": diffs}], "base": base, "titles": {}, "delay": 900}
    return _write_atomic(path, _html(title, body, data))


def _step_text(name, before, after, grad, group, state):
    """One weight's update as arithmetic: `w ← 5 − 0.1 × 6 = 4.4`, with momentum's buffer or Adam's moments."""
    n, lr = _numbers, group.get("lr")
    if "exp_avg" in state and "exp_avg_sq" in state and "betas" in group:
        (b1, b2), t, eps = group["betas"], int(state.get("step", 1)), group.get("eps", 1e-8)
        m, v = float(state["exp_avg"]), float(state["exp_avg_sq"])
        mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
        return (f"m ← {b1:g}·m + {1 - b1:g}·{n(grad)} = {n(m)}; v ← {b2:g}·v + {1 - b2:.3g}·{n(grad)}² = {n(v)}; "
                f"m̂ = m/(1 − {b1:g}^{t}) = {n(mh)}, v̂ = v/(1 − {b2:g}^{t}) = {n(vh)}; "
                f"{name} ← {n(before)} − {lr:g} × {n(mh)}/(√{n(vh)} + {eps:g}) = {n(after)}")
    if "momentum_buffer" in state and group.get("momentum"):
        buf = state["momentum_buffer"]
        return (f"buf = {group['momentum']:g}·buf + {n(grad)} = {n(buf)}; "
                f"{name} ← {n(before)} − {lr:g} × {n(buf)} = {n(after)}")
    if not state and lr is not None and np.isclose(before - lr * grad, after):  # plain gradient descent
        return f"{name} ← {n(before)} − {lr:g} × {n(grad)} = {n(after)}"
    remembered = ", ".join(f"{k} {n(v)}" for k, v in state.items() if k != "step")
    return f"{name} ← {n(before)} − {n(before - after)} = {n(after)}" + (f" ({remembered})" if remembered else "")


def _hyper(hiker):
    group = getattr(hiker, "param_groups", [{"lr": getattr(hiker, "lr", None)}])[0]
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in group.items()
                      if k not in ("params", "initial_lr") and v not in (0, False, None) or k == "lr")
    return f"{type(hiker).__name__}({shown})"


def _run(expr_or_fn, start, optimizer, steps, max_nodes, Value):
    """One descent: per step the graph's record texts (taken at once: the hiker moves the weights in place), the
    caption (the update that led here, as arithmetic, then the new point), the path; and the step-0 graph."""
    weights = {n: Value(float(x), requires_grad=True, name=n) for n, x in start.items()}
    hiker = optimizer(list(weights.values()))
    trail, captions, texts, update, first = [], [], [], "", None
    for step in range(steps + 1):
        loss = expr_or_fn(**weights)
        hiker.zero_grad()
        loss.backward()
        first = first or loss
        grads = {n: float(_array(w.grad)) for n, w in weights.items()}
        trail.append(([w.item() for w in weights.values()], loss.item()))
        texts.append(_node_fields(loss, max_nodes)[1:])
        point = ", ".join(f"{n} = {w.item():.5g}" for n, w in weights.items())
        slopes = ", ".join(f"∂loss/∂{n} = {grads[n]:.5g}" for n in weights)
        where = f"at {point}: loss = {loss.item():.5g}, backprop finds {slopes}"
        captions.append(f"step {step}: {update}\n{where}" if step else f"start: {where}")
        if step == steps:
            break
        if not all(np.isfinite(list(grads.values()))):
            captions[-1] += "\nthe gradient is not finite: the hiker stops here"
            break
        before = {n: w.item() for n, w in weights.items()}
        hiker.step()
        group = getattr(hiker, "param_groups", [{"lr": getattr(hiker, "lr", None)}])[0]
        update = "\n".join(_step_text(n, before[n], w.item(), grads[n], group, getattr(hiker, "state", {}).get(w, {}))
                            for n, w in weights.items())
    return _hyper(hiker), trail, captions, texts, first


def _short(x):
    """A number as a descent box shows it: 4 significant digits, so a diverging run's 13227.94 stays narrow."""
    a = np.asarray(_array(x))
    return f"{a.item():.4g}" if a.size == 1 else _numbers(a)


def _node_fields(loss, max_nodes):
    """Per drawn node key: the record fields after the name (data, shape, grad) with 4 significant digits, and
    the hover text with every digit (`data 4.3999999999999995`)."""
    order = topological_order(loss)
    out, hover = {}, {}
    for i, node in enumerate(order):
        fields = _fields(node, True, None)[1 if node.name is not None else 0:]
        full = [f"data {np.asarray(node.data).tolist()!r}"]
        if np.size(node.data) == 1:
            fields[0] = f"data {_short(node.data)}"
        if node.requires_grad:
            fields.append(f"grad {_short(node.grad)}" if node.grad is not None else "grad ?")
            full.append(f"grad {np.asarray(_array(node.grad)).tolist()!r}" if node.grad is not None else "grad ?")
        out[f"n{i}"], hover[f"n{i}"] = fields, "\n".join(([node.name] if node.name is not None else []) + full)
    return order, out, hover


def descent_html(expr_or_fn, start, optimizer, steps, path, max_nodes=MAX_NODES, title=None, verdicts=None,
                 explanations=None):
    """The map and the hiker on the same numbers: per descent step, the graph filled by backprop at the current
    weights beside the weights' path on the loss curve (one variable) or contour plot (two).

    `expr_or_fn` is an `expr.Expression` or a function called with the weights as keyword Values; `start` maps
    each variable to its first value (a bare number for one variable named by the expression). `optimizer` makes
    the hiker from the list of weights, e.g. `lambda weights: SGD(weights, lr=0.1)`: viz never imports optim.
    A list of such makers compares them on one page (e.g. learning rates), switched by buttons, each with its
    entry of `verdicts` (a word, on its button) and of `explanations` (the paragraph the CLI prints, under its
    plot) if given. `backward()` fills `.grad` of these private weights; the hiker reads it and steps. The page
    names the formula, the start and the optimizer with its hyperparameters; each caption shows
    the step as arithmetic (`w ← 5 − 0.1 × 6 = 4.4`); the path is drawn up to the current step, and a click on
    a point jumps to its step.
    """
    from ..value import Value

    if not isinstance(start, dict):
        start = dict(zip(getattr(expr_or_fn, "variables", ("w",)), np.atleast_1d(start).tolist(), strict=True))
    if not 1 <= len(start) <= 2:
        raise ValueError(f"descent_html draws one or two variables, not {len(start)}: {sorted(start)}")
    makers = optimizer if isinstance(optimizer, list | tuple) else [optimizer]
    runs = [_run(expr_or_fn, start, make, steps, max_nodes, Value) for make in makers]
    loss0 = runs[0][4]
    order0 = topological_order(loss0)
    per_run = [[fields for fields, _ in texts] for _, _, _, texts, _ in runs]
    hovers = [[full for _, full in texts] for _, _, _, texts, _ in runs]
    keys = per_run[0][0].keys()
    widest = {k: [_widest([f[k][j] for frames in per_run for f in frames if k in f and len(f[k]) > j])
                  for j in range(len(per_run[0][0][k]))] for k in keys}
    names = {id(node): f"n{i}" for i, node in enumerate(order0)}
    dot = _build(loss0, order0, {}, max_nodes=max_nodes, layout=True,  # one layout fits every step of every run
                 texts={i: widest[k] for i, k in names.items()})
    runs_data, charts, buttons = [], [], []
    for r, ((hyper, trail, captions, _, _), frames) in enumerate(zip(runs, per_run, strict=True)):
        diffs, before, told = [], {}, {}
        for fields, full, caption in zip(frames, hovers[r], captions, strict=True):
            changed = {key: v for key, v in fields.items() if before.get(key) != v}
            titles = {key: v for key, v in full.items() if told.get(key) != v}  # every digit, on hover
            before.update(fields)
            told.update(full)
            diffs.append({"c": caption, "h": "", "g": changed, "t": titles})
        runs_data.append({"frames": diffs})
        verdict = f": {verdicts[r]}" if verdicts else ""
        explain = f'<div class="legend explain">{html.escape(explanations[r])}</div>' if explanations else ""
        charts.append(f'<div class="chart{" on" * (r == 0)}">{_plot(list(start), trail, expr_or_fn)}'
                      f'<div class="legend">{html.escape(hyper + verdict)}</div>{explain}</div>')
        buttons.append(f"<button>{html.escape(hyper)}{html.escape(verdict)}</button>")
    formula = getattr(expr_or_fn, "source", getattr(expr_or_fn, "__name__", "the loss"))
    hikers = runs[0][0] if len(runs) == 1 else " | ".join(run[0] for run in runs)
    header = (f'<div class="header">Minimising <code>{html.escape(str(formula))}</code> from '
              f'<code>{html.escape(", ".join(f"{n} = {x:g}" for n, x in start.items()))}</code> with '
              f'<code>{html.escape(hikers)}</code>, {steps} steps. Left: the path so far (click a point to jump to '
              f'its step). Right: the graph '
              f'backprop fills at that step.</div>')
    switch = f'<div class="runs">Compare: {" ".join(buttons)}</div>' if len(runs) > 1 else ""
    svg = _layout_svg(dot)
    body = (f'{header}{switch}{_CONTROLS}<div class="row"><div>{"".join(charts)}</div>'
            f'<div class="graph">{svg}</div></div>')
    data = {"runs": runs_data, "base": {}, "titles": {}, "delay": 700}
    return _write_atomic(path, _html(title or "Backprop draws the map, descent walks it", body, data))
