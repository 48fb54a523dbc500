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


def _ticks(low, high, count=5):
    """Round tick values inside [low, high] (1, 2 or 5 times a power of ten apart)."""
    raw = (high - low) / count
    step = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    return [t + 0.0 for t in np.arange(np.ceil(low / step) * step, high + step / 2, step) if low <= t <= high]


def _tick(t):
    return f"{t:,.0f}" if abs(t) >= 1000 else f"{t:.3g}"


def _plot(names, path, fn, size=400, margin=56):
    """The hiker's path as inline SVG: on the loss curve (one variable) or over loss contours (two).

    Each point is a `marker` and each move a `segment` carrying its step (`data-step`), so the page shows the
    path up to the current step and a click on a point jumps there. Axes carry numbered ticks; the curve's
    lowest point (one variable) or the lowest point seen (two) is marked.
    """
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
        best = int(np.nanargmin(np.where(np.isfinite(curve), curve, np.nan))) if np.isfinite(curve).any() else None
        lowest = (grid[best], curve[best], f"minimum ≈ {names[0]} = {grid[best]:.3g}") if best is not None else None
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
        i, j = np.unravel_index(np.argmin(z), z.shape)  # the grid's lowest point: near the minimum
        lowest = (gx[i, j], gy[i, j], f"minimum ≈ ({gx[i, j]:.2g}, {gy[i, j]:.2g})")
    clip = lambda v: min(max(v, -size), 2 * size)  # a diverging hiker leaves the picture without breaking the SVG
    points = [(clip(x), clip(y)) for x, y in points]
    if lowest is not None:
        x, y = clip(sx(lowest[0])), clip(sy(lowest[1]))
        shapes.append(f'<path d="M{x - 6:.1f},{y:.1f}L{x + 6:.1f},{y:.1f}M{x:.1f},{y - 6:.1f}L{x:.1f},{y + 6:.1f}" '
                      f'stroke="#2ca02c" stroke-width="2.5"/><text x="{x:.1f}" y="{y - 24:.1f}" '  # above the curve
                      f'text-anchor="{"start" if x < size / 3 else "end" if x > 2 * size / 3 else "middle"}" '
                      f'fill="#2ca02c">{html.escape(lowest[2])}</text>')
    shapes += [f'<line class="segment" data-step="{k + 1}" x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" '
               f'y2="{b[1]:.1f}" stroke="#555" stroke-dasharray="3 2"/>'
               for k, (a, b) in enumerate(zip(points, points[1:], strict=False))]
    shapes += [f'<circle class="marker" data-step="{k}" cx="{x:.1f}" cy="{y:.1f}" r="6"><title>step {k}</title>'
               f'</circle>' for k, (x, y) in enumerate(points)]
    right, bottom = size - margin, size - margin
    ticks = [f'<line x1="{sx(t):.1f}" y1="{bottom}" x2="{sx(t):.1f}" y2="{bottom + 5}" stroke="#333"/>'
             f'<text x="{sx(t):.1f}" y="{bottom + 18}" text-anchor="middle">{_tick(t)}</text>' for t in _ticks(*xs)]
    ticks += [f'<line x1="{margin - 5}" y1="{sy(t):.1f}" x2="{margin}" y2="{sy(t):.1f}" stroke="#333"/>'
              f'<text x="{margin - 8}" y="{sy(t) + 4:.1f}" text-anchor="end">{_tick(t)}</text>' for t in _ticks(*ys)]
    axes = (f'<rect x="{margin}" y="{margin}" width="{right - margin}" height="{bottom - margin}" fill="none" '
            f'stroke="#333"/>{"".join(ticks)}<text x="{size / 2}" y="{size - 8}" text-anchor="middle">'
            f'{html.escape(labels[0])}</text><text x="10" y="{size / 2}" text-anchor="middle" '
            f'transform="rotate(-90 10 {size / 2})">{html.escape(labels[1])}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" font-family="sans-serif" '
            f'font-size="13" overflow="hidden">{axes}{"".join(shapes)}</svg>')
