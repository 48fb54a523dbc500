"""The backward walk as frames: the graph filled in one node at a time, from replaying `backprop.walk`.

viz computes no derivative of its own and never writes `.grad`: every number on a frame is one the walk handed
to `backward()`.
"""

import numpy as np

from ..backprop import topological_order, walk
from .dot import MAX_NODES, _build, _kind, _numbers


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

