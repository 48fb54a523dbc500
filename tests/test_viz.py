"""viz: the seed example's picture, the backward frames, escaping, rendering without a system Graphviz, HTML."""

import json
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from chromium import Page, browser

from tinygrad_gd import Value, viz
from tinygrad_gd.backprop import topological_order
from tinygrad_gd.viz.render import sanitise

HOSTILE = ['"]; evil [', '<b>bold</b> & "quoted" {x|y}', "a\\", "\\N\\G\\n", "it's <!-- -->", "]]> &amp; </svg>"]


def seed(backward=True):
    w = Value(5.0, requires_grad=True, name="w")
    loss = (w - 2) ** 2
    if backward:
        loss.backward()
    return w, loss


def records(dot):
    """Every value node's fields, e.g. {'n1': ['w', 'data 5', 'grad 6']} (a row `{ ... }` or a stacked record)."""
    return {name: [f.strip() for f in label.removeprefix("{ ").removesuffix(" }").split(" | ")]
            for name, label in re.findall(r'^\t(n\d+) \[label="(.*?)"', dot.source, re.MULTILINE)}


def svg_texts(svg):
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")], root


@pytest.fixture
def no_system_dot(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: `dot` cannot be found
    assert shutil.which("dot") is None


def test_seed_dot_holds_values_and_grads():
    _, loss = seed()
    fields = records(viz.to_dot(loss))
    assert fields == {"n0": ["data 2"], "n1": ["w", "data 5", "grad 6"], "n2": ["data 3", "grad 6"],
                      "n3": ["data 9", "grad 1"]}
    source = viz.to_dot(loss).source
    assert 'n2_op [label="-"' in source and 'n3_op [label="**2"' in source
    assert "n1 -> n2_op" in source and "n0 -> n2_op" in source and "n3_op -> n3" in source


def test_styles_and_options():
    _, loss = seed()
    lines = {line.split()[0]: line for line in viz.to_dot(loss).source.splitlines() if "[label=" in line}
    assert "dashed" in lines["n0"] and "penwidth=2" in lines["n1"] and "dashed" not in lines["n2"]
    assert "grad" not in viz.to_dot(loss, show_grad=False).source
    assert "data" not in viz.to_dot(loss, show_data=False).source
    assert "rankdir=TB" in viz.to_dot(loss, rankdir="TB").source
    with pytest.raises(ValueError, match="rankdir"):
        viz.to_dot(loss, rankdir="sideways")


def test_tensor_label_shows_shape_dtype_and_a_few_entries():
    x = Value(np.arange(6.0).reshape(2, 3), requires_grad=True, dtype=np.float32)
    fields = records(viz.to_dot((x * 2).sum()))
    assert ["data [0, 1, 2, 3, …]", "(2, 3) float32", "grad ?"] in fields.values()


def test_max_nodes_keeps_the_picture_readable():
    x = Value(1.0, requires_grad=True)
    y = x
    for _ in range(300):
        y = y * 1.001
    dot = viz.to_dot(y, max_nodes=40)
    assert len(records(dot)) == 40
    # the chain is 302 nodes: x, the 300 *s and the one constant 1.001 that they share (value._constant); the 40
    # nearest the root are drawn: 39 *s and the constant, which is drawn beside each * that uses it, as written
    assert "262 earlier nodes not drawn (max_nodes=40)" in dot.source
    assert [fields[0] for fields in records(dot).values()].count("data 1.001") == 1  # its record, beside the first
    assert dot.source.count('[label=1.001 ') == 38  # and a small box beside each further *
    assert dot.source.count("skipped ->") == 1  # what is cut off reaches the farthest * drawn


def test_tensor_fields_are_stacked_and_scalars_in_a_row():
    x = Value(np.ones((4, 3)), requires_grad=True, name="x")
    loss = (x * Value(2.0)).sum()
    for rankdir in ("LR", "TB"):
        stacked, row = "n1", "n0"  # x (4, 3) and the constant 2
        labels = dict(re.findall(r'^\t(n\d) \[label="(.*?)"', viz.to_dot(loss, rankdir=rankdir).source, re.M))
        braced = rankdir == "TB"  # records run across the rank direction unless braced
        assert labels[stacked].startswith("{ ") == braced and labels[row].startswith("{ ") != braced


def test_frames_count_order_and_highlight():
    _, loss = seed(backward=False)
    frames = viz.backprop_frames(loss)
    assert len(frames) == sum(node.requires_grad for node in topological_order(loss)) + 1 == 4
    assert all("grad ?" in f for f in records(frames[0]).values() if len(f) > 1)
    highlighted = [re.findall(r"^\t(n\d+) \[.*class=highlight", f.source, re.MULTILINE) for f in frames]
    assert highlighted == [[], ["n3"], ["n2"], ["n1"]]  # reverse topological order
    # n2's one consumer is n3: its gradient is known (not "?") from the step n3 is processed
    assert records(frames[1])["n3"][-1] == "grad 1" and records(frames[1])["n2"][-1] == "grad 6"
    assert records(frames[1])["n1"][-1] == "grad ?"
    # in step 2 the gradient flows from n2 back to w (n1) through '-': red, the arrow pointing back to the input
    assert re.search(r'n1 -> n2_op \[label="6 × 1 = 6" color="#d62728" dir=back', frames[2].source)
    assert re.search(r'n2_op -> n2 \[color="#d62728" dir=back', frames[2].source)
    assert frames[2].caption == "step 2: ∂loss/∂(w − 2) = 6 is complete; ∂loss/∂w += 6 × 1 = 6 (through w − 2)"
    assert "step" not in frames[2].source  # the caption, which holds user text, never enters the DOT


def edge_labels(dot):
    """{edge id: label} of the edges that carry one (the contributions)."""
    return dict((i, label) for label, i in re.findall(r'-> \w+ \[label="(.*?)".*? id="(n\d+\.\d+)"', dot.source))


def test_fan_shows_both_paths_and_their_sum():
    w = Value(2.0, requires_grad=True, name="w")
    frames = viz.backprop_frames(w * w + 3 * w)
    captions = [f.caption for f in frames]
    # the walk undoes the forward pass, last op first: 3·w was made after w·w, so its share arrives first
    assert "∂loss/∂w += 1 × 3 = 3 (through 3·w)" in captions[2] and "∂loss/∂w += 1 × 4 = 4 (through w·w)" in captions[3]
    w_field = [records(f)["n0"][-1] for f in frames]
    assert w_field == ["grad ?", "grad ?", "grad 3 so far", "grad 3 + 4 = 7", "grad 3 + 4 = 7"]
    assert 'color="#e6850e"' in re.search(r"^\tn0 \[.*$", frames[2].source, re.M).group()  # pending: orange
    assert edge_labels(frames[-1]) == {"n3.0": "1 × 4 = 4", "n2.1": "1 × 3 = 3", "n4.0": "1 × 1 = 1",
                                       "n4.1": "1 × 1 = 1"}
    assert captions[-1] == "step 4: ∂loss/∂w = 3 + 4 = 7 is complete: w is a parameter, nothing above it"


def test_tanh_shows_bs_gradient_from_the_step_of_the_plus():
    x, w, b = Value(0.5, name="x"), Value(-1.0, requires_grad=True, name="w"), Value(0.3, requires_grad=True, name="b")
    frames = viz.backprop_frames((x * w + b).tanh())
    node = re.search(r'^\t(n\d+)_op \[label="\+"', frames[0].source, re.M).group(1)
    plus = next(k for k, f in enumerate(frames) if re.search(rf"^\t{node} \[.*class=highlight", f.source, re.M))
    key = next(k for k, fields in records(frames[0]).items() if fields[0] == "b")
    upstream = 1 - np.tanh(-0.2) ** 2
    assert records(frames[plus])[key] == ["b", "data 0.3", f"grad {upstream:.5g}"]  # from this step on, not "?"
    assert all(records(f)[key][-1] == "grad ?" for f in frames[:plus])
    assert f"∂loss/∂b += {upstream:.5g} × 1 = {upstream:.5g}" in frames[plus].caption


def test_tensor_contributions_are_the_arrays_backward_adds():
    rng = np.random.default_rng(0)
    x, w = Value(rng.normal(size=(4, 3))), Value(rng.normal(size=(3, 2)), requires_grad=True, name="W")
    b = Value(rng.normal(size=2), requires_grad=True, name="b")
    loss = ((x @ w + b).tanh() * w.sum()).sum()  # W reaches the loss by two paths
    order, frames = viz.frames.walk_frames(loss)
    w_key = f"n{next(i for i, node in enumerate(order) if node is w)}"
    into_w = [c for f in frames for key, c in f.contributions if key == w_key]
    loss.backward()
    hidden = np.tanh(x.data @ w.data + b.data)
    by_hand = [np.full((3, 2), hidden.sum()), x.data.T @ ((1 - hidden ** 2) * w.data.sum())]
    assert len(into_w) == 2 and all(np.allclose(c, h) for c, h in zip(sorted(into_w, key=np.sum),
                                                                         sorted(by_hand, key=np.sum), strict=True))
    assert np.array_equal(into_w[0] + into_w[1], w.grad.data)  # exactly what backward() added up, in its order
    last = frames[-1]
    matmul = [label for e, label in last.labels.items() if label.startswith("xᵀ·G")]
    assert matmul and "(3, 2)" in matmul[0]  # the rule named, the first entries and the shape: no fake scalar
    assert any(np.array2string(c, threshold=64, precision=6, separator=", ") in t
               for c in into_w for t in last.titles.values())  # the full array on hover


def test_frames_leave_grad_alone_and_end_at_backward():
    w, loss = seed(backward=False)
    viz.backprop_frames(loss)
    assert all(node.grad is None for node in topological_order(loss))
    loss.backward()
    before = [None if n.grad is None else np.copy(n.grad) for n in topological_order(loss)]
    last = viz.backprop_frames(loss)[-1]
    assert records(last) == records(viz.to_dot(loss))
    assert all(np.array_equal(b, n.grad) if b is not None else n.grad is None
               for b, n in zip(before, topological_order(loss), strict=True))
    assert w.grad.item() == 6.0


@pytest.mark.parametrize("name", HOSTILE + ["line one\nline two", "tab\there\x00nul"])
def test_hostile_names_render_as_text(name, no_system_dot):
    w = Value(5.0, requires_grad=True, name=name)
    loss = w * 3
    loss.backward()
    dot = viz.to_dot(loss)
    assert len(records(dot)) == 3  # no statement escaped the label
    texts, root = svg_texts(viz.to_svg(dot))
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert titles == {"computation", "n0", "n1", "n2", "n2_op", "n0->n2_op", "n1->n2_op", "n2_op->n2"}
    if "\n" not in name and "\t" not in name:
        assert name in texts
    else:
        assert "line one" in texts and "line two" in texts or "tab\ufffdhere\ufffdnul" in texts


def test_render_svg_without_system_dot(tmp_path, no_system_dot):
    _, loss = seed()
    out = viz.render(loss, tmp_path / "seed.svg")
    texts, _ = svg_texts(out.read_text())
    assert {"w", "data 5", "data 3", "data 9", "grad 6", "grad 1"} <= set(texts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.svg"]  # the temporary file was renamed
    viz.render(loss, tmp_path / "seed.dot")
    assert (tmp_path / "seed.dot").read_text().startswith("digraph")


def test_png_without_system_dot_names_what_to_install(tmp_path, no_system_dot):
    _, loss = seed()
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.render(loss, tmp_path / "seed.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("dot") is None, reason="the system Graphviz `dot` is not installed")
def test_render_with_system_dot(tmp_path):
    _, loss = seed()
    assert viz.render(loss, tmp_path / "seed.png").read_bytes().startswith(b"\x89PNG")
    for name in HOSTILE:
        w = Value(1.0, requires_grad=True, name=name)
        texts, _ = svg_texts(viz.to_svg(w * 2))
        assert name in texts


def test_notebook_repr_is_svg():
    _, loss = seed()
    svg = loss._repr_svg_()
    assert svg.startswith("<svg") and "grad 6" in svg


def assert_self_contained(page):
    """Nothing to fetch: no src/href/url()/@import, no http(s) address but XML namespaces, and a CSP that forbids
    every load anyway (a browser would refuse even what this test missed)."""
    assert not re.search(r"\b(src|href)\s*=|url\(|@import|<link|<iframe|<object|<embed", page, re.I)
    assert set(re.findall(r"https?://[^\s\"'<>]*", page)) <= {"http://www.w3.org/2000/svg",
                                                               "http://www.w3.org/1999/xlink"}
    policy = re.search(r'Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert policy.startswith("default-src 'none';") and "unsafe" not in policy
    assert policy.count("'sha256-") == 2  # the page's own script and stylesheet, by hash


def test_backprop_html_is_self_contained(tmp_path):
    _, loss = seed(backward=False)
    page = viz.backprop_html(loss, tmp_path / "walk.html").read_text()
    assert page.count("<svg") == 1  # one layout for every frame
    assert_self_contained(page)
    assert re.findall(r'"h":"(n?\d*)"', page) == ["", "n3", "n2", "n1"]


class Hiker:
    """Plain gradient descent, written here: viz takes the hiker as an argument and never imports optim."""

    def __init__(self, params, lr=0.1):
        self.params, self.lr = params, lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for p in self.params:
            p.data = p.data - self.lr * p.grad.data


def test_descent_html_one_and_two_variables(tmp_path):
    page = viz.descent_html(lambda w: (w - 2) ** 2, 5.0, Hiker, 3, tmp_path / "one.html").read_text()
    assert page.count("<svg") == 2 and page.count('class="marker"') == 4  # the path and one graph layout
    assert "at w = 5: loss = 9, backprop finds ∂loss/∂w = 6" in page
    assert "step 1: w ← 5 − 0.1 × 6 = 4.4\\nat w = 4.4: loss = 5.76, backprop finds ∂loss/∂w = 4.8" in page
    two = viz.descent_html(lambda w, b: (w - 2) ** 2 + 3 * (b + 1) ** 2, {"w": 5.0, "b": 1.0}, Hiker, 2,
                           tmp_path / "two.html").read_text()
    assert two.count('class="marker"') == 3 and "<path" in two and "∂loss/∂b = 12" in two
    assert_self_contained(page)
    assert_self_contained(two)
    ET.fromstring(re.search(r'<svg xmlns="http://www.w3.org/2000/svg" width="400".*?</svg>', two).group())


@pytest.fixture
def chromium(tmp_path):
    """Open pages in headless Chromium (skipped without it); every page opened is closed at the end."""
    if browser() is None:
        pytest.skip("no chromium binary found (apt-get install chromium); the pages are not checked in a browser")
    pages = []

    def open_page(path, fragment=""):
        pages.append(Page(path.as_uri() + fragment, tmp_path / f"profile{len(pages)}"))
        return pages[-1]

    yield open_page
    for page in pages:
        page.close()


def test_walk_page_in_headless_chromium(tmp_path, chromium):
    w = Value(2.0, requires_grad=True, name="w")
    page = chromium(viz.backprop_html(w * w + 3 * w, tmp_path / "fan.html"))
    w_grad = "[...document.getElementById('n0').querySelectorAll('text')].pop().textContent"
    seen = {}
    for frame in range(5):
        seen[frame] = (page.js("document.body.dataset.frame"), page.js("document.body.dataset.highlight"),
                       page.js(w_grad), page.js("document.getElementById('n0').classList.contains('pending')"))
        page.key("ArrowRight", 39)
    assert seen == {0: ("0", "", "grad ?", False), 1: ("1", "n4", "grad ?", False),
                    2: ("2", "n2", "grad 3 so far", True), 3: ("3", "n3", "grad 3 + 4 = 7", False),
                    4: ("4", "n0", "grad 3 + 4 = 7", False)}
    # frame 4 of 4, then back to 2: the flow into w is drawn backward (the tail arrowhead shows, the head hides)
    page.key("ArrowLeft", 37)
    page.key("ArrowLeft", 37)
    visible = "getComputedStyle(document.getElementById('n2.1').querySelector('.{}')).visibility"
    assert (page.js(visible.format("tail")), page.js(visible.format("head"))) == ("visible", "hidden")
    assert page.js("document.getElementById('caption').textContent").endswith("∂loss/∂w += 1 × 3 = 3 (through 3·w)")
    page.click("#play")
    page.wait_for("document.body.dataset.frame === '4'")


def test_descent_page_in_headless_chromium(tmp_path, chromium):
    makers = [lambda ps, lr=lr: Hiker(ps, lr=lr) for lr in (0.1, 0.5, 0.9, 1.1)]
    path = viz.descent_html(lambda w: (w - 2) ** 2, 5.0, makers, 8, tmp_path / "lr.html",
                            verdicts=["converged", "converged", "oscillated", "diverged"])
    page = chromium(path)
    state = lambda: (page.js("document.body.dataset.run"), page.js("document.body.dataset.frame"),
                     page.js("document.querySelectorAll('.chart.on .marker:not(.later)').length"),
                     page.js("document.querySelectorAll('.chart.on .segment:not(.later)').length"))
    assert state() == ("0", "0", 1, 0)
    page.click('.chart.on .marker[data-step="3"]')  # a point on the path: jump to its step
    assert state() == ("0", "3", 4, 3)  # the path at frame k has k + 1 points
    assert page.js("document.getElementById('caption').textContent").startswith("step 3: w ← 3.92 − 0.1 × 3.84 = 3.536")
    w_data = "[...document.getElementById('n1').querySelectorAll('text')].at(-2).textContent"
    assert page.js(w_data) == "data 3.536"
    page.click(".runs button:nth-of-type(4)")  # lr 1.1
    assert state() == ("3", "3", 4, 3) and page.js(w_data) == "data -3.184"
    hover = page.js("document.getElementById('n1').querySelector('title').textContent")
    assert hover.startswith("w\ndata -3.18") and "\ngrad " in hover  # every digit on hover
    points = page.js("[...document.querySelectorAll('.chart.on .marker')].map(m => m.getAttribute('cy')).join()")
    page.click(".runs button:nth-of-type(1)")
    assert points != page.js("[...document.querySelectorAll('.chart.on .marker')].map(m => m.getAttribute('cy'))"
                             ".join()")  # another path is drawn
    page.click("#play")
    page.wait_for("document.body.dataset.frame === '5'")
    page.click("#play")  # pause
    stopped = page.js("document.body.dataset.frame")
    page.key("ArrowLeft", 37)
    assert int(page.js("document.body.dataset.frame")) == int(stopped) - 1
    assert "SGD" not in page.js("document.querySelector('.header').textContent")  # the Hiker here is not SGD
    assert page.js("document.querySelector('.header').textContent").startswith("Minimising")


def test_descent_page_names_formula_optimizer_and_the_arithmetic(tmp_path):
    from tinygrad_gd.expr import parse
    from tinygrad_gd.optim import SGD, Adam

    page = viz.descent_html(parse("(w - 2) ** 2"), {"w": 5.0}, lambda ws: SGD(ws, lr=0.1), 3,
                            tmp_path / "sgd.html").read_text()
    assert "Minimising <code>(w - 2) ** 2</code> from <code>w = 5</code> with <code>SGD(lr=0.1)</code>" in page
    captions = [re.sub(r"\\n.*", "", c) for c in re.findall(r'"c":"(.*?)"', page)]
    assert captions[1] == "step 1: w ← 5 − 0.1 × 6 = 4.4"
    adam = viz.descent_html(parse("(w - 2) ** 2"), {"w": 5.0}, lambda ws: Adam(ws, lr=0.5), 2,
                            tmp_path / "adam.html").read_text()
    # Adam's first step: m = 0.1·6, v = 0.001·36, both bias-corrected back to 6 and 36: w moves by lr·6/6
    assert "m̂ = m/(1 − 0.9^1) = 6, v̂ = v/(1 − 0.999^1) = 36; w ← 5 − 0.5 × 6/(√36 + 1e-08) = 4.5" in adam


def test_descent_loss_axis_starts_at_the_curves_bottom(tmp_path):
    page = viz.descent_html(lambda w: (w - 2) ** 2, 5.0, lambda ps: Hiker(ps, lr=1.1), 20, tmp_path / "d.html")
    chart = re.search(r'<svg xmlns="http://www.w3.org/2000/svg" width="400".*?</svg>', page.read_text()).group()
    ticks = [float(t.replace(",", "")) for t in re.findall(r'text-anchor="end">([-\d.,e+]+)</text>', chart)]
    assert ticks[0] == 0 and ticks[-1] >= 10000  # the worst loss shows, and the axis starts at the bottom
    assert "minimum ≈ w = 2" in chart  # the curve's lowest point is marked


PAYLOAD = 'w\ndigraph evil { a [fontname="x\\"/><script>document.title=\'PWNED\'</script><text a=\\""] }\n//'
PAYLOADS = [PAYLOAD, 'w" URL="javascript:document.title=\'PWNED\'" x="', "<svg onload=\"document.title='PWNED'\">",
            "</script><script>document.title='PWNED'</script>", "w\n// ]\n<foreignObject><img src=x></foreignObject>"]


def test_sanitise_keeps_only_the_allow_list():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="x()">'
           '<script>alert(1)</script><g id="n1" class="node" onclick="x()" style="fill:red"><title>n1</title>'
           '<a xlink:href="javascript:alert(1)"><text>link</text></a><text fill="url(javascript:x)">ok</text>'
           '<foreignObject><div>html</div></foreignObject><polygon points="0,0 1,1" fill="red"/></g></svg>')
    clean = ET.tostring(sanitise(svg), encoding="unicode")
    assert "script" not in clean and "onload" not in clean and "onclick" not in clean and "javascript" not in clean
    assert "foreignObject" not in clean and "style" not in clean and "link" not in clean and "url(" not in clean
    assert ">ok</text>" in clean and 'points="0,0 1,1"' in clean and 'id="n1"' in clean
    with pytest.raises(RuntimeError, match="does not parse"):
        sanitise("<svg><g></svg>")


@pytest.mark.parametrize("name", PAYLOADS + ["line one\nline two"])
def test_user_text_reaches_dot_only_as_escaped_labels(name, tmp_path):
    w = Value(3.0, requires_grad=True, name=name)
    loss = (w * w).tanh()
    for dot in [viz.to_dot(loss), *viz.backprop_frames(loss)]:
        outside = re.sub(r'"(?:[^"\\]|\\.)*"', '""', dot.source)  # DOT with every quoted string emptied
        assert not re.search(r"//|/\*|#|evil|PWNED|script|URL|svg", outside)  # no comment, no statement of theirs
        assert outside.count("digraph") == 1 and len(records(dot)) == 3
    page = viz.backprop_html(loss, tmp_path / "walk.html").read_text()
    assert page.count("<script") == 1 and not re.search(r"<[a-zA-Z]+[^>]*\s(on\w+|a|href|xlink:href)=", page)


@pytest.mark.parametrize("name", PAYLOADS + ["line one\nline two"])
def test_no_injected_script_runs_in_any_page(name, tmp_path, chromium):
    w = Value(3.0, requires_grad=True, name=name)
    loss = (w * w + 1).tanh()
    walk = viz.backprop_html(loss, tmp_path / "walk.html")
    graph = tmp_path / "graph.html"  # the SVG a notebook shows, inlined as Jupyter does
    graph.write_text(f"<!DOCTYPE html><html><head><title>graph</title></head><body>{loss._repr_svg_()}</body></html>")
    for path, title in ((walk, "Backpropagation, one node at a time"), (graph, "graph")):
        page = chromium(path)
        page.key("ArrowRight", 39)
        page.click("svg")
        assert page.js("document.title") == title and not page.js("document.querySelector('svg script, "
                                                                   "svg foreignObject, svg a, [onload]')")
        texts = page.js("[...document.querySelectorAll('svg text')].map(t => t.textContent)")
        assert all(line in texts for line in name.split("\n") if line.strip())  # the name, shown as text


def test_a_model_graph_has_qualified_names_and_a_box_per_layer():
    from tinygrad_gd import nn

    model = nn.MLP([2, 8, 8, 1])
    x = Value(np.random.default_rng(0).normal(size=(4, 2)))
    loss = ((model(x) - Value(np.zeros((4, 1)))) ** 2).mean()
    loss.backward()
    source = viz.to_dot(loss, model=model).source
    names = [name for name, _ in model.named_parameters()]
    assert all(re.search(rf'label="(\{{ )?{re.escape(n)} \| data', source) for n in names)
    clusters = re.findall(r"subgraph (cluster_\d+) \{\n\t\tgraph \[.*?label=\"(.*?)\"", source)
    assert [label for _, label in clusters] == [f"{n.rsplit('.', 1)[0]} (Linear)" for n in names[::2]]
    box = source.split("subgraph cluster_0")[1].split("}")[0]
    assert "linear" in box and box.count("[label=") == 4  # weight, bias, the linear op and its output
    assert viz.to_svg(viz.to_dot(loss, model=model)).count('class="cluster"') == 3


def test_a_shared_input_is_drawn_again_beyond_three_uses_and_pages_are_capped(tmp_path):
    w = Value(1.01, requires_grad=True, name="w")
    y = w
    for _ in range(99):
        y = y * w  # w*w*…*w, 100 factors: Graphviz lays out 100 edges into one node super-linearly
    source = viz.to_dot(y).source
    fan = re.findall(r"^\t(\S+) -> ", source, re.M)
    assert max(fan.count(name) for name in set(fan)) <= viz.dot.SHARED_USES  # no node feeds more than 3 edges
    assert len(re.findall(r'^\t"n0@\S+" \[label=w ', source, re.M)) >= 90  # w again beside each use, by name
    x = Value(0.0, requires_grad=True, name="x")
    for _ in range(300):
        x = x + w
    page = viz.backprop_html(x, tmp_path / "chain.html", max_nodes=40).read_text()
    frames = re.findall(r'\{"c":"(.*?)"', page)
    assert len(frames) <= 41 and "(262 steps of the walk outside the picture before this one)" in frames[-1]
    assert "grad 1 + 1 + … (300 paths) = 300" in page  # w's whole sum, from the walk's 300 shares
    capped = viz.backprop_html(x, tmp_path / "capped.html", max_frames=10).read_text()
    frames = re.findall(r'\{"c":"(.*?)"', capped)
    assert len(frames) == 11 and frames[-1].startswith("the last 293 steps of the walk")


def _mlp_loss(sizes, batch=4):
    from tinygrad_gd import nn

    model = nn.MLP(sizes)
    x = Value(np.random.default_rng(0).normal(size=(batch, sizes[0])))
    loss = ((model(x) - Value(np.zeros((batch, sizes[-1])))) ** 2).mean()
    loss.backward()
    return model, loss


def test_a_big_model_graph_collapses_each_layer_into_one_box_and_a_small_one_does_not():
    sizes = [784] + [16] * 11 + [10]  # 12 Linear layers on 4 samples: 76 Graphviz nodes drawn one by one
    model, loss = _mlp_loss(sizes)
    full = viz.to_dot(loss, model=model, collapse_modules=False).source
    source = viz.to_dot(loss, model=model).source  # automatic: above COLLAPSE_AT nodes
    nodes = lambda s: re.findall(r"^\t+(?!graph |node |edge )(\S+) \[", s, re.M)  # noqa: E731
    assert len(nodes(full)) > viz.dot.COLLAPSE_AT >= len(nodes(source))
    boxes = re.findall(r'^\t(m\d+) \[label="(.*?)"', source, re.M)
    linears = [name for name, m in model.named_modules() if type(m).__name__ == "Linear"]
    assert [label.split(" | ")[0] for _, label in boxes] == \
        [f"{n}: Linear({a}→{b})" for n, a, b in zip(linears, sizes[:-1], sizes[1:], strict=True)]
    assert boxes[0][1] == "0: Linear(784→16) | 0.weight (16, 784) | 0.bias (16,) | out (4, 16)"
    assert "subgraph cluster" not in source and "weight | data" not in source  # no weight drawn on its own
    for box, _ in boxes:  # one edge in (the layer's input), one out (into the relu or the loss's "-")
        assert len(re.findall(rf"^\t\S+ -> {box}\b", source, re.M)) == 1
        assert re.findall(rf"^\t{box} -> (\S+)", source, re.M)[0].endswith("_op")
    svg = viz.to_svg(viz.to_dot(loss, model=model))  # still a graph the in-process Graphviz lays out
    assert svg.count('class="node"') == len(nodes(source)) and "0: Linear(784→16)" in svg
    small_model, small = _mlp_loss([2, 8, 8, 1])
    assert "subgraph cluster" in viz.to_dot(small, model=small_model).source  # 24 nodes: boxes around layers
    assert "Linear(2→8)" in viz.to_dot(small, model=small_model, collapse_modules=True).source


def test_descent_boxes_show_4_significant_digits_and_every_digit_on_hover(tmp_path):
    makers = [lambda ps, lr=lr: Hiker(ps, lr=lr) for lr in (0.1, 1.1)]
    page = viz.descent_html(lambda w: (w - 2) ** 2, 5.0, makers, 20, tmp_path / "d.html").read_text()
    data = json.loads(re.search(r"const D = (\{.*?\}), slider", page, re.S).group(1))
    numbers = [v.split(" ", 1)[1] for run in data["runs"] for f in run["frames"] for fields in f["g"].values()
               for v in fields if v.startswith(("data ", "grad "))]
    assert numbers and all(len(re.sub(r"e.*|[-.]|^0\.0*", "", n).lstrip("0")) <= 4 for n in numbers)
    assert "1.323e+04" in numbers  # the diverging run's last loss, 13227.94…, kept narrow in the box
    w = 5.0
    for _ in range(20):
        w = w - 1.1 * (2 * (w - 2))
    hover = {}
    for f in data["runs"][1]["frames"]:
        hover.update(f["t"])
    assert hover["n1"].startswith("w\ndata 117.0127") and float(hover["n1"].split()[2]) == pytest.approx(w, 1e-12)
    assert len(hover["n3"].split()[1]) > 10  # the loss's full value: more digits than the box has
    widest = max(len(t) for t in re.findall(r'<text[^>]*>(data [^<]*|grad [^<]*)</text>', page))
    assert widest <= len("grad -1.234e+05")  # the layout is sized by 4-digit texts, whatever a run reaches
