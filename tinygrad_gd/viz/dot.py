"""The graph drawing: a Value's computation graph as DOT (a record per Value, an ellipse per op).

Node order and the names n0, n1, ... come from `backprop.topological_order` (stable DOT text). Every user string
(a Value's name) reaches DOT only as an escaped record field: never as a comment, an attribute or an id.
"""

import graphviz
import numpy as np

from ..backprop import topological_order

MAX_NODES = 100  # beyond this a picture stops being readable: draw the nodes nearest the root and say so
COLLAPSE_AT = 60  # a model's picture with more Graphviz nodes than this draws each layer as one box (pytorchviz #71)
_FILL = {"parameter": "#d8f0d8", "constant": "#eeeeee", "value": "#ffffff"}
_HOT, _FLOW, _PENDING = "#ffd6cc", "#d62728", "#e6850e"
# The in-process Graphviz has no HTML-like labels (it lacks expat: they silently show the node id), so labels are
# records. Every character that means something to DOT or to records becomes an entity; a backslash is doubled
# (and never ends a field), so no name can end the string, add attributes or split a record.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "{": "&#123;", "}": "&#125;", "|": "&#124;",
             "\\": "\\\\", "\n": "\\n"}


def _text(s):
    """User text as a safe record field: DOT and record syntax escaped, other control characters replaced."""
    return "".join(_ENTITIES.get(c, c if c.isprintable() or c == " " else "\ufffd") for c in str(s))


def _array(x):
    """The numbers of an array or of a Value (a gradient is a Value since issue 10): never an ndarray's buffer."""
    return x if isinstance(x, np.ndarray | np.generic | float | int) else np.asarray(x.data)


def _numbers(x, entries=4):
    """A scalar as one number; an array as its first few entries (its shape and dtype go on their own line)."""
    a = np.asarray(_array(x))
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


SHARED_USES = 3  # a Value used more often is drawn again beside each further use: Graphviz lays fans out slowly


def edge_id(name, i):
    """The SVG id of the edge from input `i` of node `name` into its op (`n7.0`); `n7.out` is the op's result."""
    return f"{name}.{i}"


def _check(rankdir, max_nodes):
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"rankdir must be one of LR, RL, TB, BT, not {rankdir!r}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, not {max_nodes}")


def _fields(node, show_data, qualname):
    """A value node's record fields: its (qualified) name, data, shape and dtype (the grad field is added later)."""
    fields = []
    if qualname is not None or node.name is not None:
        fields.append(_text(qualname if qualname is not None else node.name))
    if show_data:
        fields.append(f"data {_numbers(node.data)}")
        if np.ndim(node.data) > 1 or np.size(node.data) > 4 or (node.shape and node.dtype != np.float64):
            fields.append(f"{node.shape} {node.dtype}")  # [5] needs no "(1,) float64" beside it
    return fields


def _build(root, order, grad_text, *, show_data=True, show_grad=True, rankdir="LR", max_nodes=MAX_NODES,
           hot=None, pending=(), flow=(), labels=None, layout=False, qualnames=None, clusters=(), texts=None,
           collapsed=()):
    """The Digraph of `order` (parents first): each drawn Value's grad field is `grad_text[id]` ("grad ?" when
    missing); `hot` is highlighted, ids in `pending` are drawn as partly known, edges (by `edge_id`) in `flow`
    carry the gradient backward (red, arrow toward the input) and `labels` maps edge ids to their text.
    With `layout`, every edge gets both arrowheads and the page's script decides which shows (one layout for all
    frames). `qualnames` maps ids to module-qualified names; `clusters` is a list of (label, ids) boxes;
    `texts` maps ids to the fields after the name (data, shape, grad) to draw instead of the node's own.
    `collapsed` is a list of (fields, ids): each is drawn as one box `m0`, `m1`, ... with edges only from the
    nodes its ids use and to the ops that use them.
    """
    _check(rankdir, max_nodes)
    names = {id(node): f"n{i}" for i, node in enumerate(order)}
    drawn = _nearest(root, order, max_nodes)
    shown, cut = {id(node) for node in drawn}, set()  # cut: ops already given their one edge from "skipped"
    labels, qualnames, uses = labels or {}, qualnames or {}, {}
    dot = graphviz.Digraph("computation", graph_attr={"rankdir": rankdir},
                           node_attr={"fontname": "Helvetica", "fontsize": "11"},
                           edge_attr={"fontsize": "10", "fontname": "Helvetica"})
    if len(order) > len(drawn):
        dot.node("skipped", f"{len(order) - len(drawn)} earlier nodes not drawn (max_nodes={max_nodes})",
                 shape="note", style="dashed")
    boxes = [(k, label, {i for i in ids if i in shown}) for k, (label, ids) in enumerate(clusters)]
    home = {i: k for k, _, ids in boxes for i in ids}
    subgraphs = {k: graphviz.Digraph(f"cluster_{k}", graph_attr={"label": _text(label), "style": "rounded,dashed",
                                                                   "color": "#888888", "fontname": "Helvetica"})
                 for k, label, ids in boxes if ids}
    folded = {i: f"m{k}" for k, (_, ids) in enumerate(collapsed) for i in ids if i in shown}
    for k, (fields, ids) in enumerate(collapsed):
        if any(i in shown for i in ids):  # stacked fields across the rank direction, as a tensor's record
            text = " | ".join(_text(f) for f in fields)
            dot.node(f"m{k}", "{ " + text + " }" if rankdir in ("TB", "BT") else text, shape="record",
                     style="filled,rounded", fillcolor="#f3ecd8", penwidth="2", id=f"m{k}")
    joined = set()  # (source, target) edges already drawn into or out of a collapsed box
    for node in drawn:
        name, kind = names[id(node)], _kind(node)
        if id(node) in folded:  # inside a collapsed box: only the edges that enter it from outside
            box = folded[id(node)]
            for parent in node.parents:
                source = folded.get(id(parent), names[id(parent)]) if id(parent) in shown else "skipped"
                if source != box and (source, box) not in joined:
                    joined.add((source, box))
                    dot.edge(source, box, **({"style": "dashed"} if source == "skipped" else {}))
            continue
        fields = _fields(node, show_data, qualnames.get(id(node)))
        if texts and id(node) in texts:
            fields = fields[:int(qualnames.get(id(node)) is not None or node.name is not None)] + texts[id(node)]
        elif show_grad and node.requires_grad:
            fields.append(grad_text.get(id(node), "grad ?"))
        style = {"style": "filled" if kind != "constant" else "filled,dashed", "fillcolor": _FILL[kind], "id": name}
        if kind == "parameter":
            style["penwidth"] = "2"
        if id(node) in pending:
            style.update(color=_PENDING, penwidth="2", style="filled,dashed")
        if node is hot:
            style.update(fillcolor=_HOT, color=_FLOW, penwidth="3", **{"class": "highlight"})
        # a record's fields run across the rank direction unless braced: scalars in one row (micrograd's look),
        # a tensor's long fields stacked, so an MLP's boxes are one field wide rather than three
        text, row = " | ".join(fields or [kind]), (np.size(node.data) > 1) == (rankdir in ("TB", "BT"))
        where = subgraphs.get(home.get(id(node)), dot)
        where.node(name, "{ " + text + " }" if row else text, shape="record", **style)
        if node.grad_fn is None:
            continue
        op = f"{name}_op"
        where.node(op, _text(node.op), shape="ellipse", style="filled", fillcolor="#dde8f8", fontsize="10",
                   margin="0.02", height="0.3", id=op)
        dot.edge(op, name, id=edge_id(name, "out"), **_arrow(edge_id(name, "out") in flow, layout))
        for i, parent in enumerate(node.parents):
            if id(parent) not in shown:
                if op not in cut:  # one dashed edge says "more comes from before", however many inputs are cut
                    cut.add(op)
                    dot.edge("skipped", op, style="dashed")
                continue
            if id(parent) in folded:  # a collapsed box's output: one edge per op that uses it
                if (folded[id(parent)], op) not in joined:
                    joined.add((folded[id(parent)], op))
                    dot.edge(folded[id(parent)], op, id=edge_id(name, i))
                continue
            source, uses[id(parent)] = names[id(parent)], uses.get(id(parent), 0) + 1
            # drawn again here: one long edge per use would tangle the layout; and a constant from a Python number,
            # which every op using that number shares (value._constant), is drawn beside each op, as it was written
            if uses[id(parent)] > (1 if parent.grad_fn is None and parent.params else SHARED_USES):
                source = f"{source}@{edge_id(name, i)}"
                first = _fields(parent, False, qualnames.get(id(parent))) or [_numbers(parent.data)]
                where.node(source, first[0], shape="box", style="dashed,rounded", fontsize="9", height="0.2",
                           margin="0.03", id=source)
            extra = {"label": _text(labels[edge_id(name, i)])} if edge_id(name, i) in labels else {}
            dot.edge(source, op, id=edge_id(name, i), **extra, **_arrow(edge_id(name, i) in flow, layout))
    for sub in subgraphs.values():
        dot.subgraph(sub)
    return dot


def _arrow(hot, layout):
    """A gradient-flow edge is red and points back toward the input; a page's shared layout draws both heads."""
    style = {"color": _FLOW, "penwidth": "2.5", "fontcolor": _FLOW} if hot else {}
    if layout:
        return {"dir": "both", "arrowtail": "normal"}
    return {**style, "dir": "back"} if hot else style


def _summary(prefix, module):
    """A module in one line, as its collapsed box's title: `0: Linear(784→256)`, `conv: Conv2d(3→8)`."""
    kind, name = type(module).__name__, prefix or "model"
    for a, b in (("in_features", "out_features"), ("in_channels", "out_channels"), ("num_embeddings", "embedding_dim")):
        if hasattr(module, a) and hasattr(module, b):
            return f"{name}: {kind}({getattr(module, a)}→{getattr(module, b)})"
    return f"{name}: {kind}"


def parameter_names(model, collapse=False):
    """Qualified names (`layers.0.weight`, as `named_parameters()`) and one cluster per Module with weights
    (labelled `0 (Linear)`; with `collapse`, `0: Linear(784→256)` for a box drawn as one node)."""
    qualnames = {id(p): name for name, p in model.named_parameters()}
    modules = getattr(model, "named_modules", None)
    found = modules() if modules else [("", model)]
    clusters = []
    for prefix, module in found:
        own = [p for name, p in module.named_parameters() if "." not in name]  # its own weights, not a child's
        if own:
            label = _summary(prefix, module) if collapse else f"{prefix or 'model'} ({type(module).__name__})"
            clusters.append((label, own))
    return qualnames, clusters


def _clusters(order, found):
    """Each Module's box: its weights and every node made from them on the way to where they all join."""
    position = {id(node): k for k, node in enumerate(order)}
    boxes = []
    for label, weights in found:
        ids = {id(w) for w in weights if id(w) in position}
        if not ids:
            continue
        below = {}  # node id -> the module's weights it depends on
        for node in order:
            mine = {i for p in node.parents for i in below.get(id(p), ())} | ({id(node)} & ids)
            if mine:
                below[id(node)] = mine
        join = next((node for node in order if below.get(id(node)) == ids), None)
        if join is None:
            continue
        inside, stack = {id(join)}, [join]
        while stack:  # the ancestors of the join that depend on the module's weights
            for p in stack.pop().parents:
                if id(p) in below and id(p) not in inside:
                    inside.add(id(p))
                    stack.append(p)
        boxes.append((label, inside))
    return boxes


def _size(order):
    """How many Graphviz nodes a picture of `order` has: a record per Value and an ellipse per op."""
    return len(order) + sum(node.grad_fn is not None for node in order)


def to_dot(root, show_data=True, show_grad=True, rankdir="LR", max_nodes=MAX_NODES, model=None,
           collapse_modules=None):
    """The computation graph that made `root`, as a graphviz.Digraph: a record per Value, an ellipse per op.

    Green boxes are parameters (leaves that require grad), grey dashed ones constants, white ones computed.
    Gradients are the real `.grad` ("grad ?" until backward has run). With `model` (an nn.Module), its weights
    carry their qualified names (`layers.0.weight`) and each layer with weights is a labelled box. A Value used
    more than SHARED_USES times is drawn again beside each further use, so fans stay fast to lay out.
    `collapse_modules` (default: when the picture would have more than COLLAPSE_AT nodes) draws each of those
    layers as one box, `0: Linear(784→256)` with its weights' names and shapes, joined only to its inputs and
    to the ops that use its output.

    >>> from tinygrad_gd import Value
    >>> w = Value(5.0, requires_grad=True, name="w")
    >>> loss = (w - 2) ** 2
    >>> loss.backward()
    >>> print(to_dot(loss).source.count("grad 6"), "grad 6 records (w and w - 2)")
    2 grad 6 records (w and w - 2)
    """
    _check(rankdir, max_nodes)
    order = topological_order(root)
    grads = {id(node): f"grad {_numbers(node.grad)}" for node in order if node.grad is not None}
    drawn = _nearest(root, order, max_nodes)
    collapse = model is not None and (_size(drawn) > COLLAPSE_AT if collapse_modules is None else collapse_modules)
    qualnames, found = parameter_names(model, collapse) if model is not None else ({}, [])
    boxes, folded = _clusters(order, found), []
    if collapse:
        node_of = {id(node): node for node in order}
        def fields(label, ids):  # the title, each weight's qualified name and shape, the layer's output shape
            out = node_of[_output(order, ids)]
            return [label] + [f"{qualnames[i]} {node_of[i].shape}" for i in qualnames if i in ids] + \
                [f"out {out.shape}"]
        folded = [(fields(label, ids), ids) for label, ids in boxes]
        boxes = []
    return _build(root, order, grads, show_data=show_data, show_grad=show_grad, rankdir=rankdir,
                  max_nodes=max_nodes, qualnames=qualnames, clusters=boxes, collapsed=folded)


def _output(order, ids):
    """The id of a box's last node in `order` (where its weights all join: the layer's output)."""
    return next(id(node) for node in reversed(order) if id(node) in ids)
