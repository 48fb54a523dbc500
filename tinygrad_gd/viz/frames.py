"""The backward walk as frames: the chain rule on screen, one node at a time, from replaying `backprop.walk`.

Every number on a frame is one the walk computed for `backward()`: the gradient it yields at each node and the
contribution it adds along each edge (`walk(..., edges)`). viz computes no derivative of its own and never writes
`.grad`; for an elementwise op on numbers the local derivative shown is contribution ÷ upstream, and for other
ops (matmul, sum, softmax, im2col) the frame names the rule (`Gᵀ·x`) beside the contribution instead.
"""

from typing import NamedTuple

import numpy as np

from ..backprop import topological_order, walk
from .dot import MAX_NODES, _build, _check, _kind, _nearest, _numbers, edge_id

_ELEMENTWISE = {"+", "-", "*", "/", "**", "neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "clip",
                "where"}
# what the contribution is, for ops whose local derivative is not one number per entry (G: the upstream gradient)
_RULES = {"+": ("G", "G"), "-": ("G", "−G"), "*": ("G⊙y", "G⊙x"), "/": ("G/y", "−G⊙x/y²"), "neg": ("−G",),
          "**": ("G⊙y·x^(y−1)", "G⊙ln(x)·out"), "**2": ("G⊙2x",), "exp": ("G⊙out",), "log": ("G/x",),
          "sqrt": ("G/(2·out)",), "abs": ("G⊙sign(x)",), "tanh": ("G⊙(1 − out²)",), "relu": ("G⊙[x > 0]",),
          "sigmoid": ("G⊙out⊙(1 − out)",), "clip": ("G inside the bounds",), "where": ("G where true", "G where false"),
          "matmul": ("G·yᵀ", "xᵀ·G"), "linear": ("G·W", "Gᵀ·x", "Σ G"), "sum": ("G copied to every entry",),
          "mean": ("G / n to every entry",), "max": ("G to the largest entries",), "min": ("G to the smallest",),
          "softmax": ("s ⊙ (G − Σ G⊙s)",), "log_softmax": ("G − softmax · Σ G",),
          "cross_entropy": ("(softmax − one-hot) · G",), "reshape": ("G reshaped back",),
          "transpose": ("G transposed back",), "[]": ("G put back in place",), "concatenate": ("G's slice",),
          "stack": ("G's slice",), "im2col": ("col2im(G)",)}
_SYMBOL = {"*": "·", "-": " − ", "+": " + ", "/": " / "}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


class Frame(NamedTuple):
    """One step of the picture: what the walk did and what every drawn node shows after it."""

    step: int  # 0: the forward pass; k: the k-th node the walk reached
    key: str  # the highlighted node's name in the DOT (n3), "" when none
    caption: str
    grad_text: dict  # node id -> its grad field ("grad 4 so far", "grad 4 + 3 = 7")
    pending: frozenset  # ids of nodes whose gradient is partly known
    flow: frozenset  # edge ids (dot.edge_id) the gradient flowed back along in this step
    labels: dict  # edge id -> its text (upstream × local = contribution), every edge reached so far
    titles: dict  # node or edge id (DOT name) -> hover text with the full numbers
    contributions: list  # (parent key, contribution array) added in this step, as the walk added them


def _full(x):
    return np.array2string(np.asarray(x), threshold=64, precision=6, separator=", ")


class _Names:
    """Short expressions for nodes (`w·w`, `tanh(x·w + b)`, `tanh(…)`): what a caption calls a node. The DOT
    names (n3) are never shown, so a long expression is cut with … rather than replaced by one."""

    def __init__(self, qualnames=None):
        self.qualnames, self.cache = qualnames or {}, {}

    def __call__(self, node, limit=24):
        if id(node) not in self.cache:
            for depth in (4, 3, 2, 1, 0):  # the deepest expression that fits
                text = self._make(node, depth)
                if len(text) <= limit or depth == 0:
                    break
            self.cache[id(node)] = text
        return self.cache[id(node)]

    def _operand(self, node, parent, right, depth):
        text = self._make(parent, depth - 1)
        mine = _PRECEDENCE.get(node.op, 4 if node.op.startswith("**") else 3)
        tighter = _PRECEDENCE.get(parent.op, 3) < mine or right and parent.op == node.op != "+"
        return f"({text})" if parent.grad_fn is not None and tighter and text != "…" else text

    def _make(self, node, depth):
        if id(node) in self.qualnames or node.name:
            text = str(self.qualnames.get(id(node), node.name)).replace("\n", " ")
            return text if len(text) <= 20 else text[:16] + "…"  # a caption names it; the box shows it whole
        if node.grad_fn is None:
            return _numbers(node.data) if np.size(node.data) == 1 else "weight" if node.requires_grad else "input"
        if depth < 0:
            return "…"
        if len(node.parents) == 2 and node.op in _SYMBOL:
            x, y = (self._operand(node, p, right, depth) for p, right in zip(node.parents, (False, True), strict=True))
            return f"{x}{_SYMBOL[node.op]}{y}"
        if len(node.parents) == 1 and node.op.startswith("**"):
            return f"{self._operand(node, node.parents[0], False, depth)}{node.op}"
        return f"{node.op}({', '.join(self._make(p, depth - 1) for p in node.parents)})"


def _edge_text(node, i, g, c):
    """`1 × 4 = 4` for an elementwise op on numbers; the rule and the first entries otherwise."""
    if node.op in _ELEMENTWISE and np.size(g) == 1 and np.size(c) == 1 and float(g) != 0:
        return f"{_numbers(g)} × {_numbers(np.asarray(c) / np.asarray(g))} = {_numbers(c)}"
    rules = _RULES.get(node.op, _RULES.get(node.grad_fn.name.split("{")[0], ("G ⊙ local derivative",)))
    if node.op.startswith("**") and len(node.parents) == 1:
        rules = (f"G⊙{node.op[2:]}·x^({node.op[2:]} − 1)",)
    if np.shape(c) != np.shape(g) and node.op in _ELEMENTWISE:
        rules = tuple(f"{rule}, summed to {np.shape(c)}" for rule in rules)  # broadcasting undone
    shape = f" {np.shape(c)}" if np.size(c) > 1 else ""
    return f"{rules[min(i, len(rules) - 1)]} = {_numbers(c)}{shape}"


def _sum(shown):
    """`4 + 3`, and `0.29 − 0.24` rather than `0.29 + -0.24`."""
    return shown[0] + "".join(f" − {t[1:]}" if t.startswith("-") else f" + {t}" for t in shown[1:])


def _wrt(text):
    return text if text.replace("_", "").replace(".", "").isalnum() else f"({text})"


class _Sum:
    """A gradient as it grows: its first shares (for the text), how many there are, and the running sum."""

    def __init__(self):
        self.first, self.count, self.total = [], 0, None

    def add(self, c):
        self.first += [c] if self.count < 3 else []
        self.count += 1
        self.total = c if self.total is None else self.total + c  # the walk's own order of additions

    def text(self, complete):
        if np.size(self.total) > 1:
            paths = f" ({self.count} path{'s' * (self.count > 1)}{'' if complete else ' so far'})"
            return f"grad {_numbers(self.total)}{paths if self.count > 1 or not complete else ''}"
        shown, sum_text = [_numbers(t) for t in self.first], _numbers(self.total)
        if self.count > 3:
            sum_text = f"{_sum(shown[:2])} + … ({self.count} paths) = {sum_text}"
        elif self.count > 1:
            sum_text = f"{_sum(shown)} = {sum_text}"
        return f"grad {sum_text}{'' if complete else ' so far'}"


def walk_frames(root, max_nodes=MAX_NODES, max_frames=None, qualnames=None):
    """(order, frames): replay the walk once and describe each drawn step (see `backprop_frames`)."""
    _check("LR", max_nodes)
    order = topological_order(root)
    names = {id(node): f"n{i}" for i, node in enumerate(order)}
    shown = {id(node) for node in _nearest(root, order, max_nodes)}
    name = _Names(qualnames)
    frames = [Frame(0, "", "forward pass: every value computed, no gradient yet", {}, frozenset(), frozenset(), {},
                    {names[i]: f"data {_full(n.data)}" for i, n in ((id(n), n) for n in order) if i in shown}, [])]
    if not root.requires_grad:
        return order, frames
    edges, steps = [], []
    for node, g in walk(root, np.ones(root.shape, root.dtype)[()], edges=edges):
        steps.append((node, g, len(edges)))  # this node's contributions are appended after it is yielded
    ends = [start for _, _, start in steps[1:]] + [len(edges)]
    expected = {}  # parent id -> how many nodes hand it a share
    for _, pid in dict.fromkeys((id(c), id(p)) for c, p, _ in edges):
        expected[pid] = expected.get(pid, 0) + 1
    terms, done = {id(root): _Sum()}, set()  # id -> the gradient so far
    terms[id(root)].add(steps[0][1])
    grad_text, labels, titles = {}, {}, dict(frames[0].titles)
    loss = str(root.name) if root.name and "\n" not in str(root.name) else "loss"
    framed, limit = [k for k, (node, _, _) in enumerate(steps) if id(node) in shown], max_frames or max_nodes
    framed = framed if len(framed) <= limit else framed[:max(limit - 1, 1)]  # the last frame sums up the rest
    framed_set, unseen = set(framed), 0
    for k, (node, g, start) in enumerate(steps):
        done.add(id(node))
        if id(node) in shown:
            grad_text[id(node)] = terms[id(node)].text(True)
        shares, flow, said, added = {}, set(), [], []
        for _, parent, c in edges[start:ends[k]]:  # w·w hands w two shares: w's one share is their sum
            share = shares.get(id(parent), (parent, None))[1]
            shares[id(parent)] = (parent, c if share is None else share + c)
        for pid, (parent, c) in shares.items():
            before = terms.setdefault(pid, _Sum())
            before.add(c)
            added.append((names[pid], c))
            if id(node) not in shown or pid not in shown:
                continue  # an edge outside the picture: its share counts, nothing is drawn
            complete = before.count == expected[pid]
            grad_text[pid] = before.text(complete)
            ids = [edge_id(names[id(node)], i) for i, p in enumerate(node.parents) if p is parent]
            flow.update(ids)
            first = next(i for i, p in enumerate(node.parents) if p is parent)  # not .index: == is elementwise
            labels[ids[0]] = _edge_text(node, first, g, c)
            titles[ids[0]] = f"contribution to {name(parent)}:\n{_full(c)}"
            titles[names[pid]] = f"data {_full(parent.data)}\ngrad{'' if complete else ' so far'} {_full(before.total)}"
            said.append(f"∂{loss}/∂{_wrt(name(parent))} += {labels[ids[0]]}")
        flow.add(edge_id(names[id(node)], "out"))
        if k not in framed_set and k != len(steps) - 1:
            unseen += 1
            continue
        who = name(node)
        if k not in framed_set:  # the last step, beyond the frames drawn
            caption = (f"the last {len(steps) - 1 - framed[-1]} steps of the walk (outside the picture, or beyond "
                       f"{len(framed)} frames): every gradient now as backward() leaves it")
        elif said:
            caption = f"step {len(frames)}: ∂{loss}/∂{_wrt(who)} = {_numbers(g)} is complete; {'; '.join(said)}" \
                      f"{f' (through {who})' if len(said) == 1 else ''}"
        else:
            caption = f"step {len(frames)}: ∂{loss}/∂{_wrt(who)} = {grad_text[id(node)][5:]} is complete: {who} is a " \
                      f"{_kind(node)}, nothing above it"
        if unseen and k in framed_set:
            caption = f"({unseen} step{'s' * (unseen > 1)} of the walk outside the picture before this one) {caption}"
        unseen = 0
        pending = frozenset(i for i in shown if i in terms and i not in done and terms[i].count < expected.get(i, 0))
        frames.append(Frame(len(frames), names[id(node)] if id(node) in shown else "", caption, dict(grad_text),
                            pending, frozenset(flow), dict(labels), dict(titles), added))
    return order, frames


def frame_digraph(root, order, frame, max_nodes=MAX_NODES, rankdir="LR"):
    """One frame as a complete Digraph (its own layout): the form for rendering a single step."""
    hot = order[int(frame.key[1:])] if frame.key else None
    dot = _build(root, order, frame.grad_text, max_nodes=max_nodes, rankdir=rankdir, hot=hot,
                 pending=frame.pending, flow=frame.flow, labels=frame.labels)
    dot.caption = frame.caption  # kept beside the DOT, never inside it (a caption holds user text)
    return dot


def backprop_frames(root, max_nodes=MAX_NODES, rankdir="LR"):
    """The backward walk as pictures: frame 0 is the forward pass; frame k shows the walk's k-th step.

    Gradients come from replaying `backprop.walk` from d(root)/d(root) = 1 (ones for a non-scalar root, i.e. the
    gradient of root.sum()), in the order `backward()` fills them, so the last frame shows what `backward()`
    leaves in `.grad` on a fresh graph. The highlighted node is the one the walk just completed; each edge into
    its op carries upstream × local derivative = contribution, red and pointing back toward the input. A node
    reached by several paths shows its running sum (`grad 4 so far`, then `grad 4 + 3 = 7`), drawn dashed
    orange while partly known. No `.grad` is read or written. Each Digraph's `.caption` holds the frame's
    caption (`step 2: ... ∂loss/∂w += 1 × 4 = 4 (through w·w)`).
    """
    _check(rankdir, max_nodes)
    order, frames = walk_frames(root, max_nodes)
    return [frame_digraph(root, order, frame, max_nodes, rankdir) for frame in frames]

