"""The graph drawing: a Value's computation graph as DOT (a record per Value, an ellipse per op).

Node order and the names n0, n1, ... come from `backprop.topological_order` (stable DOT text). Every user string
(a Value's name) reaches DOT only as an escaped record field: never as a comment, an attribute or an id.
"""

import graphviz
import numpy as np

from ..backprop import topological_order

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

