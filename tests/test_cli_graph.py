"""`tinygrad-gd graph` and `tinygrad-gd example --graph`: the safe parser, backward, and a picture on disk."""

import re
import xml.etree.ElementTree as ET

import pytest

from tinygrad_gd.cli import main

SVG_TEXT = "{http://www.w3.org/2000/svg}text"


@pytest.fixture(autouse=True)
def no_system_dot(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # the command must work after `pip install` alone


def texts(path):
    return {t.text for t in ET.parse(path).getroot().iter(SVG_TEXT)}


def test_graph_of_the_seed_example(tmp_path, capsys):
    out, frames = tmp_path / "graph.svg", tmp_path / "walk.html"
    assert main(["graph", "(w - 2) ** 2", "w=5", "-o", str(out), "--frames", str(frames)]) == 0
    assert {"w", "data 5", "data 3", "data 9", "grad 6", "grad 1", "-", "**2"} <= texts(out)
    assert frames.read_text().count('{"c":') == 4  # the forward pass and three steps
    assert str(out) in capsys.readouterr().out


def test_graph_page_options(tmp_path):
    out, frames = tmp_path / "chain.svg", tmp_path / "chain.html"
    formula = "tanh(tanh(tanh(tanh(w * 2) * 2) * 2) * 2)"
    assert main(["graph", formula, "w=0.1", "-o", str(out), "--frames", str(frames), "--rankdir", "TB",
                 "--max-nodes", "6"]) == 0
    assert "earlier nodes not drawn (max_nodes=6)" in " ".join(texts(out))
    page = frames.read_text()
    assert page.count('{"c":') <= 7 and "the last" in page  # frames capped by max_nodes, with a note
    assert main(["graph", "w", "w=1", "--max-nodes", "0", "-o", str(out)]) == 1


def test_no_grad_draws_the_forward_pass_only(tmp_path):
    out = tmp_path / "forward.svg"
    assert main(["graph", "w * x + 1", "w=2", "x=3", "-o", str(out), "--no-grad"]) == 0
    drawn = texts(out)
    assert {"data 2", "data 3", "data 6", "data 7"} <= drawn and not any(t.startswith("grad") for t in drawn)


@pytest.mark.parametrize("argv, message", [
    (["(w - 2) ** 2"], "missing a value for 'w'"),
    (["(w - 2) ** 2", "w=5", "v=1"], "unknown variable 'v'"),
    (["__import__('os').system('x')", "w=5"], "not allowed"),
    (["w", "w=5", "-o", "{dir}/graph.png"], "apt-get install graphviz"),
    (["w", "w=5", "-o", "{dir}/graph.html"], "'html' is not a Graphviz format"),  # not "install Graphviz"
    (["w", "w=5", "-o", "{dir}/missing/g.svg"], "the folder {dir}/missing does not exist"),  # not a .tmp name
    (["w", "w=5", "--no-grad", "--frames", "{dir}/g.html"], "--frames steps through the backward walk"),
])
def test_graph_refuses_bad_input_with_a_message(tmp_path, capsys, argv, message):
    argv = [a.replace("{dir}", str(tmp_path)) for a in argv]
    assert main(["graph", *argv, *([] if "-o" in argv else ["-o", str(tmp_path / "g.svg")])]) == 1
    assert message.replace("{dir}", str(tmp_path)) in capsys.readouterr().err
    assert list(tmp_path.glob("g*")) == []


def test_example_draws_its_graph(tmp_path, capsys):
    out = tmp_path / "seed.svg"
    assert main(["example", "--graph", str(out)]) == 0
    assert "Gradient: 6.0" in capsys.readouterr().out
    assert {"w", "data [5]", "grad [6]", "data [9]", "grad [1]"} <= texts(out)


def test_example_graph_refuses_a_bad_path_with_a_message(tmp_path, capsys):
    assert main(["example", "--graph", str(tmp_path / "nowhere" / "seed.svg")]) == 1
    assert "the folder" in capsys.readouterr().err and not (tmp_path / "nowhere").exists()


def test_descend_writes_the_side_by_side_page(tmp_path, capsys):
    page = tmp_path / "descent.html"
    assert main(["descend", "(w - 2) ** 2", "w=5", "--steps", "3", "--html", str(page)]) == 0
    html = page.read_text()
    assert html.count('{"c":') == 4 and html.count('class="marker"') == 4
    assert "at w = 5: loss = 9, backprop finds ∂loss/∂w = 6" in html and "w ← 5 − 0.1 × 6 = 4.4" in html
    assert str(page) in capsys.readouterr().out


def test_descend_compares_learning_rates_on_one_page(tmp_path, capsys):
    page = tmp_path / "lr.html"
    assert main(["descend", "(w - 2) ** 2", "w=5", "--lr", "0.1,0.5,0.9,1.1", "--html", str(page)]) == 0
    html = page.read_text()
    assert re.findall(r"<button>(.*?)</button>", html) == [
        "SGD(lr=0.1): converged", "SGD(lr=0.5): converged", "SGD(lr=0.9): oscillated", "SGD(lr=1.1): diverged"]
    assert capsys.readouterr().out.count("sgd on (w - 2) ** 2 with lr") == 4  # one table per learning rate
    with pytest.raises(SystemExit):
        main(["descend", "(w - 2) ** 2", "w=5", "--lr", "0.1,x"])
    assert "not a number or a comma-separated list" in capsys.readouterr().err


def test_pictures_are_readable_like_any_new_file(tmp_path):
    """mkstemp makes 0600 files; the renamed picture and page get the usual 0666 minus the umask."""
    import os

    umask = os.umask(0o022)
    try:
        assert main(["graph", "w * 2", "w=1", "-o", str(tmp_path / "g.svg"), "--frames", str(tmp_path / "g.html")]) == 0
    finally:
        os.umask(umask)
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {"0o644"}
