"""The picture: the graph the forward pass recorded, and the backward walk filling it in, one node at a time.

viz draws; it never computes a derivative of its own and never writes `.grad`. It is split by responsibility,
each file readable alone, the imports pointing one way (pages -> frames, charts, render -> dot -> backprop):

- `dot`: the graph as DOT (`to_dot`);
- `render`: DOT to SVG or PNG, and files written whole (`to_svg`, `render`);
- `frames`: the backward walk as frames (`backprop_frames`);
- `charts`: the hiker's path on the loss curve or contours, as inline SVG;
- `pages`: self-contained HTML steppers (`backprop_html`, `descent_html`).
"""

from .dot import MAX_NODES, to_dot
from .frames import backprop_frames
from .pages import backprop_html, descent_html
from .render import render, to_svg

__all__ = ["MAX_NODES", "backprop_frames", "backprop_html", "descent_html", "render", "to_dot", "to_svg"]
