"""The map: how the score changes with every weight. It never moves a weight.

Backpropagation is the chain rule applied in the right order. The forward pass recorded a graph: every Value
knows its `parents` and the `op` that made it. To get d(score)/d(everything) we visit the nodes from the score
back to the leaves (reverse topological order), so that when we reach a node, every path from the score to it
has already delivered its share of the gradient. At each node the op's local rule turns the node's gradient
into its parents' gradients.

Three functions do it, and nothing else in tinygrad_gd walks a graph:

- `topological_order(root)`: every node once, parents before children (iterative, so a 100,000-deep chain
  needs no recursion), for the pictures and for copying a graph;
- `walk(root, grad)`: a generator of `(node, gradient)` in reverse topological order, newest node first (every
  Value is numbered when it is made, after its parents); it keeps its pending gradients to itself and never
  reads or writes `.grad`, so the graph pictures (viz/) can replay it safely;
- `backward(root, grad)`: consumes the walk and adds each gradient into `.grad` (autograd.grad, the other
  consumer, returns the gradients instead).

With `create_graph=True` the walk runs the ops' rules on Values, so the gradients it delivers are recorded as a
graph themselves: the map of the map, which gives second derivatives (curvature) and beyond.

This module reads Values through the small `Node` protocol below and imports nothing else from tinygrad_gd.
"""

from heapq import heappop, heappush
from typing import Any, Protocol

import numpy as np


class Node(Protocol):
    """What the walk needs from a graph node (tinygrad_gd's Value provides it)."""

    data: Any
    grad: Any
    _grad: Any  # what backward stores behind .grad: bare arrays, which a Value wraps only when .grad is read
    requires_grad: bool
    parents: tuple  # the op's inputs, in order (Value stores them in two slots and builds this tuple on reading)
    _x: Any  # ... the slots: the first input (all of them, as a tuple, for 3+), None for a leaf; the short way
    _y: Any  # reads them, not `parents`, which would build a tuple per node; the second input, or None for one
    grad_fn: Any  # the ops.Op that made this node (its forward and rules), None for a leaf
    params: dict
    saved: tuple  # the parents' versions when this node was made
    version: int
    created: int  # when it was made (a counter): always after its parents, so the walk's order comes from it
    shape: tuple
    dtype: Any
    name: str | None


def topological_order(root: Node) -> list:
    """Every node reachable from `root`, each once, parents before children (root last).

    Iterative depth-first search: a node popped the first time goes back on the stack under a marker (None),
    with its parents above it; when the marker comes off again, all of them are in `order` and so can the node
    be. Parents are taken last first, which fixes the numbering of graph pictures (viz). Nodes are keyed by
    `id()`: two equal numbers are still two nodes. One flat stack: (node, state) pairs would be 100,000 more
    objects for the garbage collector on a deep chain.
    """
    order, expanded, stack = [], set(), [root]
    while stack:
        node = stack.pop()
        if node is None:  # everything above the marker is done: the node under it comes next
            order.append(stack.pop())
        elif id(node) not in expanded:  # (a node put on the stack twice is expanded once)
            expanded.add(id(node))
            stack += (node, None)
            for p in node.parents:  # a loop, not a list comprehension: that is a function call per node
                if id(p) not in expanded:
                    stack.append(p)
    return order


def sum_to_shape(g, shape):
    """Undo broadcasting: sum `g` down to `shape`.

    When x of shape (3,) is added to y of shape (2, 3), x was used twice, so its gradient is the sum of the two
    rows of the output's gradient. This is the only place in tinygrad_gd where broadcasting meets gradients.
    """
    if g.shape == shape:  # the usual case, checked first: gradients are NumPy arrays or scalars
        return g
    extra = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(extra))) if extra > 0 else g
    if 1 not in shape:  # nothing was stretched (a bias over a batch): no axes to look for
        return g
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and g.shape[axis] != 1)
    return g.sum(axis=stretched, keepdims=True) if stretched else g


def _refuse_stale(node):
    """Refuse to backpropagate through data that was changed in place after the forward pass used it."""
    stale = [(p, v) for p, v in zip((*node.parents, node), (*node.saved, 0), strict=True) if p.version != v]
    if stale:
        p, v = stale[0]
        who = f"'{p.name}'" if p.name else f"a Value of shape {p.shape}"
        raise RuntimeError(
            f"{who} was modified in place (version {p.version}, expected {v}) after the forward pass used "
            f"it in '{node.grad_fn.label(node.params)}'; its gradient would be silently wrong. "
            f"Run the forward pass again after changing it.")


def walk(root: Node, grad, create_graph: bool = False, edges: list | None = None):
    """Yield `(node, d(score)/d(node))` for every node that requires grad, in reverse topological order.

    Newest node first (`created` numbers the Values as they are made, each after its parents): the walk undoes
    the forward pass, last op first. A chain at the top (each node one input that needs a gradient, as in
    (w - 2) ** 2) goes the short way: each node hands its gradient straight to that input. Below it, op nodes wait
    by their number, their gradients in a dict; when a node's turn comes, all its shares have arrived. One waiting
    node is `held` beside the heap (the newest to arrive since the place was last empty), the others are in it: in
    a neuron's sum s + w·x, s waits out the product without the heap. A node hands on directly the new parent that
    comes next anyway (in a chain, past weights that wait for their shares, the newer of two new parents). The
    leaves (weights) come last, newest first: they have no parents, so they just collect their shares. The rules
    run on bare arrays, or with `create_graph` on the Values (a graph of the gradients), and then in the general
    loop from the root, as with a list `edges`: each contribution is appended as `(node, parent, contribution)`
    after the node is yielded, for the pictures (viz.frames). Inputs changed in place raise RuntimeError first.
    """
    node, g = root, grad
    # The short way: the loop below's checks, rules and order, without what waits (W5's walk: 2.1 µs -> 1.2 µs)
    while edges is None and not create_graph and (op := node.grad_fn) is not None and not op.variadic:
        x, y, saved, params = node._x, node._y, node.saved, node.params
        if type(x) is tuple:
            break  # 3+ inputs: the general loop
        n, y = (1, x) if y is None else (2, y)
        second = n == 2 and y.requires_grad  # the input that needs the gradient: the second, or the first
        if x.requires_grad == second:
            break  # both, or none: the general loop
        if node.version or x.version != saved[0] or y.version != saved[-1]:
            _refuse_stale(node)
        yield node, g
        rule, out, parent = op.rules[second], node.data, y if second else x
        parent_g = (rule(g, out, x.data, y.data, **params) if params else rule(g, out, x.data, y.data)) if n == 2 \
            else rule(g, out, x.data, **params) if params else rule(g, out, x.data)
        if parent_g.shape != parent.data.shape:
            parent_g = sum_to_shape(parent_g, parent.data.shape)
        if parent.grad_fn is None and type(parent_g) is np.ndarray and (parent_g is g or parent_g.base is not None):
            parent_g = parent_g.copy()  # a weight's .grad must own its memory, not share g or a view
        node, g = parent, parent_g
    if node.grad_fn is None:  # the chain ended at a weight, or the root is one: nothing else waits
        yield node, g
        return
    pending, waiting, held, leaves = {}, [], None, []  # (the first node left: nothing else waits yet)
    while True:
        op = node.grad_fn  # an op node (leaves wait outside: they come last)
        parents, saved, params = node.parents, node.saved, node.params
        n = len(parents)
        if node.version or parents[0].version != saved[0] or parents[-1].version != saved[-1] or n > 2 and \
                tuple([p.version for p in parents]) != saved:  # the parents' versions now and when it was made
            _refuse_stale(node)
        yield node, g
        # on Values with create_graph, else on bare arrays; one and two inputs without building a list
        x, y = parents[0], parents[-1]
        out, x, y = (node, x, y) if create_graph else (node.data, x.data, y.data)
        many = n > 2 or op.variadic  # concatenate, stack: the rule gets the inputs as one list, made once
        inputs = (parents if create_graph else [p.data for p in parents]) if many else None
        chain = chain_g = None  # the parent that goes next, when it is the only one left to visit
        for i, parent in enumerate(parents):
            if not parent.requires_grad:
                continue  # no rule runs for a constant
            if many:
                parent_g, shape = op.vjp(i, g, out, inputs, params), inputs[i].shape
            else:  # the rule itself, called directly, with the op's settings (an axis, an exponent) if it has any
                rule, shape = op.rules[i], (y if i else x).shape
                parent_g = (rule(g, out, x, y, **params) if params else rule(g, out, x, y)) if n == 2 else \
                    rule(g, out, x, **params) if params else rule(g, out, x)
            if parent_g.shape != shape:
                parent_g = sum_to_shape(parent_g, shape)
            if edges is not None:
                edges.append((node, parent, parent_g))
            key = id(parent)
            if parent is chain:  # x * x: a second share of the parent that goes next
                chain_g = chain_g + parent_g
            elif key in pending:
                pending[key] = pending[key] + parent_g  # a new array, which the walk owns
            elif parent.grad_fn is None:  # a leaf waits for every op node, outside the heap (it adds nothing)
                if type(parent_g) is np.ndarray and (parent_g is g or parent_g.base is not None):
                    parent_g = parent_g.copy()  # a weight's .grad must own its memory, not share g or a view
                leaves.append((-parent.created, key, parent))
                pending[key] = parent_g
            elif chain is None and held is None and not waiting:
                chain, chain_g = parent, parent_g  # nothing else waits: it goes next (a chain)
            else:  # it goes next if it comes before every waiting node, else it waits
                entry = (-parent.created, key, parent)
                if chain is not None:  # a second new parent: the newer of the two goes next
                    other = (-chain.created, id(chain), chain)
                    if entry < other:
                        chain, chain_g, parent_g, entry = parent, parent_g, chain_g, other
                elif (held is None or entry < held) and (not waiting or entry < waiting[0]):
                    chain, chain_g = parent, parent_g
                    continue
                pending[entry[1]] = parent_g  # it waits: in the held place if it is newer, else in the heap
                if held is None or entry < held:
                    held, entry = entry, held
                if entry is not None:
                    heappush(waiting, entry)
        if chain is not None:
            node, g = chain, chain_g
            continue
        if held is not None and (not waiting or held < waiting[0]):
            (_, key, node), held = held, None
        elif waiting:
            _, key, node = heappop(waiting)
        else:
            break
        g = pending.pop(key)
    if len(leaves) > 1:
        leaves.sort()  # newest first, like the op nodes (a weight from a pickle keeps another process's number)
    for _, key, leaf in leaves:
        yield leaf, pending.pop(key)


def seed(root: Node, grad, create_graph: bool = False):
    """d(root)/d(root): ones for a one-number root, else the `grad` given (kept as a Value with create_graph)."""
    if not root.requires_grad:
        raise RuntimeError("backward() needs a Value that requires grad, but this one does not: none of the Values it "
                           "was computed from has requires_grad=True (or it was computed under no_grad()). "
                           "Create your weights with Value(..., requires_grad=True).")
    data = root.data
    if grad is None and type(data) is not np.ndarray:
        return type(data)(1)  # a NumPy scalar (its type is its dtype's: float64(1.0) for a float64 loss)
    if grad is None:
        if data.size != 1:
            raise RuntimeError(f"backward() without a gradient works only for a Value with one element (a loss), but "
                               f"this one has shape {root.shape}. Reduce it first (loss.sum() or loss.mean()) or pass "
                               f"the gradient: backward(grad) with grad of shape {root.shape}.")
        return np.ones(data.shape, data.dtype)
    if np.shape(getattr(grad, "data", grad)) != root.shape:
        raise ValueError(f"backward(grad): grad has shape {np.shape(getattr(grad, 'data', grad))} but the Value "
                         f"has shape {root.shape}")
    if create_graph and hasattr(grad, "grad_fn"):
        return grad  # a Value: its own graph, if any, carries on into the gradients
    return np.array(getattr(grad, "data", grad), dtype=root.dtype)[()]  # a copy: a weight's .grad may become it


def backward(root: Node, grad=None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Fill `.grad` of every node that requires grad with d(root)/d(node).

    Leaves (the weights) *accumulate*: a second backward adds the same amount again, as in PyTorch, which is why
    optimizers call `zero_grad()` between steps. Intermediate nodes show the gradient of the latest pass.

    `grad` is d(score)/d(root); it may be left out when the root holds one number (the usual loss).
    `retain_graph` is accepted for PyTorch compatibility. Here the graph is never freed by backward: it lives as
    long as you hold its output (so you can draw it afterwards), and a repeated backward is always correct.
    `create_graph=True` records the gradients as a graph (see `walk`), for second derivatives.

    The seed example of the gradient-descent article:

    >>> from tinygrad_gd import Value, no_grad
    >>> w = Value([5.0], requires_grad=True)
    >>> loss = (w - 2) ** 2
    >>> loss.backward()
    >>> w.grad.item()
    6.0
    >>> with no_grad():
    ...     w -= 0.1 * w.grad
    >>> w.item()
    4.4
    """
    del retain_graph  # nothing is freed, so there is nothing to retain
    nodes, grads = [], []  # every gradient first: a stale input found late in the walk must leave every .grad as it was
    for node, g in walk(root, seed(root, grad, create_graph), create_graph):
        nodes.append(node)
        grads.append(g)
    # (two lists, not one of pairs: 100,000 pairs alive cost the collector 20 %; equal, so not strict: 0.16 µs)
    for node, g in zip(nodes, grads, strict=False):
        if node.grad_fn is not None:
            node._grad = g  # an intermediate shows the latest pass
        elif node._grad is None:  # the walk hands a weight a gradient that it owns: no copy needed
            # ... but in the weight's dtype, and a 0-d gradient as a NumPy scalar, like the weight's own data
            data = node.data  # (a NumPy scalar's type fixes its dtype)
            fits = g.ndim and g.dtype == data.dtype if type(g) is np.ndarray else \
                type(g) is type(data) or g.dtype == data.dtype
            node._grad = g if fits else np.asarray(g, data.dtype)[()]
        else:
            node.grad += g  # leaves accumulate: in place, or recorded out of place when g is part of a graph
            if node.grad.dtype != node.data.dtype:  # a 0-d float32 grad plus a float64 g: NumPy promotes
                node.grad = node.grad.data.astype(node.data.dtype)
