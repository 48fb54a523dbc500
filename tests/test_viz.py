"""viz: the seed example's picture, the backward frames, escaping, rendering without a system Graphviz, HTML."""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tinygrad_gd import Value, viz
from tinygrad_gd.backprop import topological_order

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
    assert "561 earlier nodes not drawn (max_nodes=40)" in dot.source
    assert viz.to_svg(dot).startswith("<svg")
    # the nodes drawn are the 40 nearest the root, each * with its constant 1.001 beside it (the chain's constants
    # come first in topological order: the last 40 entries were bare *s with 40 edges from the note), and
    # what is cut off reaches each op through one dashed edge
    assert [fields[0] for fields in records(dot).values()].count("data 1.001") == 19  # 21 *s, 19 constants
    assert dot.source.count("skipped ->") == 2  # the farthest * drawn, and the one whose constant was 41st


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
    assert records(frames[1])["n3"][-1] == "grad 1" and records(frames[1])["n2"][-1] == "grad ?"
    # the gradient of n2 arrived from n3 through '**2': those two edges are red
    assert re.search(r'n3_op -> n3 \[color="#d62728"', frames[2].source)
    assert re.search(r'n2 -> n3_op \[color="#d62728"', frames[2].source)
    assert frames[2].comment == "step 2: the gradient reaches the result of '-' (data 3): grad 6"  # the caption


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
    assert "Content-Security-Policy\" content=\"default-src 'none';" in page


def test_backprop_html_is_self_contained(tmp_path):
    _, loss = seed(backward=False)
    page = viz.backprop_html(loss, tmp_path / "walk.html").read_text()
    assert page.count('class="frame"') == 4
    assert_self_contained(page)
    assert re.findall(r'data-key="(n?\d*)"', page) == ["", "n3", "n2", "n1"]


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
    assert page.count('class="frame"') == 4 and page.count('class="marker"') == 4
    assert "w = 5 (grad 6), loss = 9" in page and "w = 4.4 (grad 4.8)" in page
    two = viz.descent_html(lambda w, b: (w - 2) ** 2 + 3 * (b + 1) ** 2, {"w": 5.0, "b": 1.0}, Hiker, 2,
                           tmp_path / "two.html").read_text()
    assert two.count('class="marker"') == 3 and "<path" in two and "b = 1 (grad 12)" in two
    assert_self_contained(page)
    assert_self_contained(two)
    ET.fromstring(re.search(r'<svg xmlns="http://www.w3.org/2000/svg" width="340".*?</svg>', two).group())


def _chromium():
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def test_html_stepper_in_headless_chromium(tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary found (apt-get install chromium); the HTML stepper is not checked")
    _, loss = seed(backward=False)
    page = viz.backprop_html(loss, tmp_path / "walk.html")
    shown = {}
    for frame in (0, 1, 3):
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", f"{page.as_uri()}#frame={frame}"],
            capture_output=True, text=True, timeout=60).stdout
        body = re.search(r"<body[^>]*>", dom).group()
        visible = re.findall(r'<div class="frame" id="frame-(\d+)" data-key="(n?\d*)">', dom)  # the one not hidden
        shown[frame] = (re.search(r'data-highlight="(\w*)"', body).group(1), visible)
    assert shown == {0: ("", [("0", "")]), 1: ("n3", [("1", "n3")]), 3: ("n1", [("3", "n1")])}


def test_descent_loss_axis_starts_at_the_curves_bottom(tmp_path):
    page = viz.descent_html(lambda w: (w - 2) ** 2, 5.0, lambda ps: Hiker(ps, lr=1.1), 20, tmp_path / "d.html")
    low, high = map(float, re.search(r">loss \((\S+) … (\S+)\)</text>", page.read_text()).groups())
    assert -0.06 * high <= low <= 0 < 13228 < high  # the worst loss shows; 5% (not a third) below zero
