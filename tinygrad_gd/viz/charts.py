"""The SVG charts: the hiker's path on the loss curve (one variable) or over loss contours (two), drawn by hand."""

import html

import numpy as np


def _losses(fn, names, grids):
    """fn evaluated at every point of the grids (one array per variable): elementwise at once, else point by point."""
    from ..value import Value  # lazily, like value imports viz: drawing a landscape needs fresh constant Values

    try:
        out = np.asarray(fn(**{n: Value(g) for n, g in zip(names, grids, strict=True)}).data, dtype=float)
        if out.shape == grids[0].shape:
            return out
    except (ValueError, TypeError):
        pass  # not elementwise (a matmul, a sum): fall back to one point at a time
    points = zip(*(g.ravel() for g in grids), strict=True)
    return np.array([fn(**{n: Value(x) for n, x in zip(names, p, strict=True)}).item() for p in points],
                    dtype=float).reshape(grids[0].shape)


def _span(values):
    finite = [v for v in values if np.isfinite(v)] or [0.0]
    low, high = min(finite), max(finite)
    pad = max(0.5, 0.3 * (high - low))
    return low - pad, high + pad


def _contours(z, levels):
    """Marching squares: for each level, the segments where the grid z crosses it, in grid coordinates (i, j)."""
    corners = ((0, 0), (0, 1), (1, 1), (1, 0))
    segments = []
    for level in levels:
        for i, j in np.ndindex(z.shape[0] - 1, z.shape[1] - 1):
            crossings = []
            for (a, b), (c, d) in zip(corners, corners[1:] + corners[:1], strict=True):
                za, zb = z[i + a, j + b], z[i + c, j + d]
                if (za < level) != (zb < level):
                    t = (level - za) / (zb - za)
                    crossings.append((i + a + t * (c - a), j + b + t * (d - b)))
            segments += list(zip(crossings[::2], crossings[1::2], strict=True))
    return segments


def _plot(names, path, fn, size=340, margin=36):
    """The hiker's path as inline SVG: on the loss curve (one variable) or over loss contours (two)."""
    xs = _span([p[0] for p, _ in path])
    if len(names) == 1:
        grid = np.linspace(*xs, 200)
        curve = _losses(fn, names, [grid])
        seen = [loss for _, loss in path if np.isfinite(loss)] or [0.0]
        drawn = [c for c in curve if np.isfinite(c)] + seen
        low = min(drawn)
        high = min(_span(drawn)[1], max(seen) + 0.5 * (max(seen) - low) + 1)  # a steep curve must not flatten the path
        ys = (low - 0.05 * (high - low), high)  # the curve's lowest point near the bottom edge, not a third above it
    else:
        ys = _span([p[1] for p, _ in path])
    sx = lambda x: margin + (x - xs[0]) / (xs[1] - xs[0]) * (size - 2 * margin)
    sy = lambda y: size - margin - (y - ys[0]) / (ys[1] - ys[0]) * (size - 2 * margin)
    if len(names) == 1:
        inside = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(grid, curve, strict=True) if ys[0] <= y <= ys[1])
        shapes = [f'<polyline fill="none" stroke="#1f77b4" points="{inside}"/>']
        points = [(sx(p[0]), sy(loss)) for p, loss in path]
        labels = (names[0], "loss")
    else:
        gx, gy = np.meshgrid(np.linspace(*xs, 48), np.linspace(*ys, 48))
        z = np.nan_to_num(_losses(fn, names, [gx, gy]), nan=np.inf, posinf=np.finfo(float).max / 4)
        low, high = float(z.min()), float(np.percentile(z, 95))
        levels = low + (high - low) * np.linspace(0.03, 1.0, 10) ** 2  # denser near the minimum
        to_xy = lambda q: (sx(xs[0] + q[1] / 47 * (xs[1] - xs[0])), sy(ys[0] + q[0] / 47 * (ys[1] - ys[0])))
        lines = " ".join("M{:.1f},{:.1f}L{:.1f},{:.1f}".format(*to_xy(a), *to_xy(b)) for a, b in _contours(z, levels))
        shapes = [f'<path fill="none" stroke="#9ecae1" d="{lines}"/>']
        points = [(sx(p[0]), sy(p[1])) for p, _ in path]
        labels = (names[0], names[1])
    clip = lambda v: min(max(v, -size), 2 * size)  # a diverging hiker leaves the picture without breaking the SVG
    points = [(clip(x), clip(y)) for x, y in points]
    shapes.append(f'<polyline fill="none" stroke="#555" stroke-dasharray="3 2" '
                  f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in points)}"/>')
    shapes += [f'<circle class="marker" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#bbb"/>' for x, y in points]
    axes = (f'<rect x="{margin}" y="{margin}" width="{size - 2 * margin}" height="{size - 2 * margin}" fill="none" '
            f'stroke="#333"/><text x="{size / 2}" y="{size - 8}" text-anchor="middle">{html.escape(labels[0])} '
            f'({xs[0]:.3g} … {xs[1]:.3g})</text><text x="12" y="{size / 2}" text-anchor="middle" '
            f'transform="rotate(-90 12 {size / 2})">{html.escape(labels[1])} ({ys[0]:.3g} … {ys[1]:.3g})</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" font-family="sans-serif" '
            f'font-size="11" overflow="hidden">{axes}{"".join(shapes)}</svg>')


