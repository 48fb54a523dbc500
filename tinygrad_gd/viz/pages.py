"""The HTML pages: self-contained steppers over the backward walk and over a descent (no network, no files).
"""

import html
import json

import numpy as np

from .charts import _plot
from .dot import MAX_NODES, to_dot
from .frames import _frames
from .render import _write_atomic, to_svg

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



def descent_html(expr_or_fn, start, optimizer, steps, path, max_nodes=MAX_NODES, title=None):
    """The map and the hiker on the same numbers: per descent step, the graph filled by backprop at the current
    weights beside the weights' path on the loss curve (one variable) or contour plot (two).

    `expr_or_fn` is an `expr.Expression` or a function called with the weights as keyword Values; `start` maps
    each variable to its first value (a bare number for one variable named by the expression). `optimizer` makes
    the hiker from the list of weights, e.g. `lambda weights: SGD(weights, lr=0.1)`: viz never imports optim.
    `backward()` fills `.grad` of these private weights; the hiker reads it and steps.
    """
    from ..value import Value

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
