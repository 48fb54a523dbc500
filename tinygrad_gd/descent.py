"""Watch the hiker: run an optimizer on a formula of a few numbers and record every step.

`descend` is what `tinygrad-gd descend` prints, what the notebooks plot and what the visualiser animates: at each
step it scores the current point, lets backpropagation fill `.grad`, and lets the optimizer take one step.
`verdict` reads the record and says whether the descent converged, oscillated or diverged, and why.

>>> steps = descend("(w - 2) ** 2", {"w": 5.0}, "sgd", lr=0.1, steps=1)
>>> [(s.step, s.values["w"], round(s.loss, 6), round(s.grads["w"], 6)) for s in steps]
[(0, 5.0, 9.0, 6.0), (1, 4.4, 5.76, 4.8)]
"""

import io
import math
import os
from dataclasses import dataclass, field

import numpy as np

from . import autograd, optim
from .atomic import write_file
from .expr import Expression, ExpressionError, parse
from .value import Value


@dataclass
class Step:
    """One row of the descent: the point, its loss and slopes, and what the hiker carries after stepping from it.

    `state` maps each variable to the optimizer's state after the step taken from this point (PyTorch's keys,
    plus `update`, the distance moved); the last row's point is where the descent stopped, so its state is empty.
    `curvature` is the engine's own second derivative there: f'' for one variable, else λmax, the Hessian's
    largest eigenvalue. Plain descent is stable near this point only for lr < 2/curvature.
    """

    step: int
    values: dict
    loss: float
    grads: dict
    state: dict = field(default_factory=dict)
    curvature: float = field(default=math.nan, compare=False)


def descend(expression, start, optimizer="sgd", lr=0.1, steps=20, momentum=None, seed=None, curvature=False):
    """Minimise `expression` from `start` ({name: number}) for `steps` steps; return steps + 1 Step records.

    `optimizer` is a name of optim.BY_NAME, or "newton" (optim.Newton, handed the Hessian the map computes).
    Each record's `curvature` is filled at the first and last point (for the verdict), or with `curvature=True`
    at every point: second derivatives cost more than the slope, two backward passes per variable.

    Variables missing from `start` begin at a random point drawn from N(0, 1) with `seed`. The run stops early,
    after recording it, once the loss is no longer a finite number. For long runs use `descent_steps`, which
    yields the same records one at a time and keeps none of them.
    """
    return list(descent_steps(expression, start, optimizer, lr, steps, momentum, seed, curvature))


def descent_steps(expression, start, optimizer="sgd", lr=0.1, steps=20, momentum=None, seed=None, curvature=False):
    """`descend`, one Step at a time: a generator whose memory stays the same however many steps it takes.

    The arguments are checked when it is called, before the first step is asked for.
    """
    expression = expression if isinstance(expression, Expression) else parse(expression)
    unknown = [name for name in start if name not in expression.variables]
    if unknown:
        raise ExpressionError(f"{unknown[0]!r} is not a variable of {expression.source!r} "
                              f"(it uses {', '.join(expression.variables) or 'none'})")
    rng = np.random.default_rng(seed)
    params = {name: Value(float(start[name]) if name in start else rng.normal(), requires_grad=True, name=name)
              for name in expression.variables}
    if not params:
        raise ExpressionError(f"{expression.source!r} has no variables to descend on")
    if optimizer == "newton":  # not in optim.BY_NAME: its step needs the curvature, which `train` does not compute
        if momentum is not None:
            raise ValueError("Invalid momentum: newton has no momentum setting")
        hiker = optim.Newton(list(params.values()), lr=lr)
    else:
        hiker = optim.make_optimizer(optimizer, list(params.values()), lr, momentum)
    return _steps(steps, expression, params, hiker, curvature)


def _steps(steps, expression, params, hiker, curvature):
    for k in range(steps + 1):
        # an overflow, a log(-1) or a 1/0 is reported by verdict(), not by warnings; the errstate is left before
        # each yield, so the caller's own arithmetic keeps its warnings
        with np.errstate(all="ignore"):
            record, done = _take_step(k, steps, expression, params, hiker, curvature)
        yield record
        if done:
            return


def _take_step(k, steps, expression, params, hiker, curvature):
    """Score the point, let backprop fill the slopes, let the hiker step; return the record and whether it ends."""
    hiker.zero_grad()
    loss = expression(**params)
    loss.backward()
    done, newton = k == steps or not math.isfinite(loss.item()), isinstance(hiker, optim.Newton)
    hessian = _hessian(expression, params) if curvature or newton or k == 0 or done else None
    record = Step(k, {n: p.item() for n, p in params.items()}, float(loss.item()),
                  {n: float(p.grad) for n, p in params.items()},
                  curvature=math.nan if hessian is None else _largest_eigenvalue(hessian))
    if done:
        return record, True
    if newton:
        hiker.step(lambda: (loss, hessian))  # the map computed the curvature; the hiker only reads it
    else:
        hiker.step()
    record.state = {n: {**_plain(hiker.state.get(p, {})), "update": record.values[n] - p.item()}
                    for n, p in params.items()}
    return record, False


def _hessian(expression, params):
    """The (n, n) matrix of second derivatives at the current point, by the map run twice (autograd.hessian)."""
    names = list(params)
    point = [p.item() for p in params.values()]
    return autograd.hessian(lambda v: expression(**{n: v[i] for i, n in enumerate(names)}), point).data.reshape(
        len(names), len(names))


def _largest_eigenvalue(hessian):
    """f'' for one variable; for several, the curvature along the steepest direction (H is symmetric)."""
    return float(np.linalg.eigvalsh(hessian).max()) if np.all(np.isfinite(hessian)) else math.nan


def _critical(first):
    """What the engine's second derivative says about the learning rate, where it has one to say."""
    c = first.curvature
    if not (math.isfinite(c) and c > 0):
        return ""
    what = "f''" if len(first.values) == 1 else "λmax"
    return f" ({what} = {c:.3g} at the start, so plain descent is stable only for lr < 2/{what} = {2 / c:.3g})"


def _norm(grads):
    return math.sqrt(sum(g * g for g in grads.values()))


def _plain(state):
    return {key: float(value) for key, value in state.items()}


@dataclass
class Verdict:
    kind: str  # "converged", "oscillated", "diverged", "still descending", "undefined", "flat", "stuck", "maximum"
    message: str


class Summary:
    """What the verdict needs from a descent, gathered one record at a time in bounded memory.

    It keeps the first, the previous and the last record, the first record whose loss is not finite, how often
    each slope changed sign, and the steps where the loss reached a new low (thinned to at most 2 × 1024, so a run
    of 10⁹ steps still fits; the verdict's "within 1% (of the final loss) by step k" is then exact to the kept
    resolution).
    """

    LOWS = 1024

    def __init__(self):
        self.first = self.last = self.bad = self.before_bad = None
        self.flips, self.moved, self.lows, self.thinned = {}, False, [], 1

    def add(self, record):
        if self.first is None:
            self.first, self.flips = record, dict.fromkeys(record.grads, 0)
        else:
            for name, g in record.grads.items():
                self.flips[name] += self.last.grads[name] * g < 0
            self.moved = self.moved or record.values != self.last.values
        if self.bad is None and not math.isfinite(record.loss):
            self.bad, self.before_bad = record, self.last
        if math.isfinite(record.loss) and (not self.lows or record.loss < self.lows[-1][1]):
            if record.step % self.thinned == 0 or not self.lows:
                self.lows.append((record.step, record.loss))
            if len(self.lows) > 2 * self.LOWS:  # keep every other low: the resolution halves, memory stays
                self.lows, self.thinned = self.lows[::2], self.thinned * 2
        self.last = record
        return record

    def verdict(self):
        return _verdict(self)


def verdict(records):
    """Say what the descent did: diverged (loss grew or blew up), oscillated (crossed the valley back and forth
    while the loss shrank), converged (settled), or still descending (too few steps or too small a lr).

    Three outcomes are not the learning rate's size, and say so: "undefined" (the loss or its slope is not a
    number at the starting point, e.g. log of a negative number), "flat" (the slope is 0 where the hiker
    starts, so it never moves: a minimum, a saddle or a flat stretch such as relu below 0) and "stuck" (the
    slope is not 0, but the loss does not move: a learning rate of 0, or steps too small to change a number).
    A fourth is the engine's own second derivative speaking: "maximum" (the slope went to 0 where the loss
    curves down, which is where Newton's method heads on a non-convex function).
    `records` is a list of Steps, or any iterable of them (see Summary for a run too long to keep).
    """
    summary = Summary()
    for record in records:
        summary.add(record)
    return summary.verdict()


def _verdict(summary):
    first_record, last_record = summary.first, summary.last
    first, last, n = first_record.loss, last_record.loss, last_record.step
    where = ", ".join(f"{name}={value:.6g}" for name, value in last_record.values.items())
    start = ", ".join(f"{name}={value:.6g}" for name, value in first_record.values.items())
    if not math.isfinite(first) or not all(map(math.isfinite, first_record.grads.values())):
        what = f"the loss is {first:.6g}" if not math.isfinite(first) else "the slope is not a finite number"
        return Verdict("undefined", f"undefined: {what} at the starting point {start}, before any step (the formula "
                                    f"overflows or is not defined there, e.g. log or sqrt of a negative number, "
                                    f"or a division by 0); start somewhere else")
    if summary.bad is not None:
        bad, before = summary.bad, summary.before_bad
        if not all(map(math.isfinite, before.grads.values())):
            return Verdict("diverged", f"diverged: the loss became {bad.loss} at step {bad.step} because the slope "
                                       f"at step {before.step} was not finite ({_slopes(before)}): the formula is "
                                       f"infinitely steep there, so any step from it is infinite")
        return Verdict("diverged", f"diverged: the loss became {bad.loss} at step {bad.step} "
                                   f"(from {first:.6g} at step 0): learning rate too large{_critical(first_record)}")
    start_slope = _norm(first_record.grads)
    if last_record.curvature < 0 and 0 < start_slope and _norm(last_record.grads) <= max(start_slope / 50, 1e-8):
        what = "f''" if len(last_record.values) == 1 else "λmax"
        return Verdict("maximum", f"maximum: the slope is {_norm(last_record.grads):.3g} at {where} but the loss "
                                  f"curves down there ({what} = {last_record.curvature:.3g} < 0): a top, not a "
                                  f"valley (loss {first:.6g} -> {last:.6g}). Newton seeks where the slope is 0; "
                                  f"descent would go downhill")
    if last > first:
        return Verdict("diverged", f"diverged: the loss grew from {first:.6g} to {last:.6g} in {n} steps, ending at "
                                   f"{where}: learning rate too large (each step overshoots by more than it gains)"
                                   f"{_critical(first_record)}")
    slope = [_norm(r.grads) for r in (first_record, last_record)]
    if slope[0] == 0:
        return Verdict("flat", f"flat: the slope is 0 at the starting point {start}, so the hiker never moves (a "
                               f"minimum, a saddle or a flat stretch); the loss stays {first:.6g}. Start elsewhere "
                               f"to see it descend")
    if n >= 1 and last == first:
        why = ("the steps are too small to change the numbers: the learning rate is 0 (or far too small)"
               if not summary.moved else "the hiker moves, but along ground where the loss does not change")
        return Verdict("stuck", f"stuck: the loss stays {first:.6g} for {n} steps although the slope is "
                                f"{slope[0]:.3g}; {why}")
    flips = max(summary.flips.values())
    if n >= 2 and flips >= n / 2:
        trend = (f"converging (loss {first:.6g} -> {last:.6g}), now at {where}" if last < 0.99 * first
                 else f"without getting closer, loss stuck near {last:.6g}")
        return Verdict("oscillated", f"oscillated: the slope changed sign in {flips} of {n} steps, overshooting "
                                     f"the minimum back and forth, {trend}; a smaller learning rate goes straight"
                                     f"{_critical(first_record)}")
    gain = first - last
    if gain > 0 and (slope[1] <= slope[0] / 50 or slope[1] < 1e-8):  # the ground has flattened 50-fold
        close = next((step for step, loss in summary.lows if loss - last <= 0.01 * gain), n)
        # One terminal line for one variable: the slopes that flattened are the table's last column already.
        return Verdict("converged", f"converged: loss {first:.6g} -> {last:.4g} in {n} steps at {where} (within 1% "
                                    f"by step {close}{'' if summary.thinned == 1 else ' or sooner'})")
    return Verdict("still descending", f"still descending: loss {first:.6g} -> {last:.6g} in {n} steps and still "
                                       f"falling, now at {where}; take more steps or a larger learning rate")


def _slopes(record):
    return ", ".join(f"grad {name}={value:.6g}" for name, value in record.grads.items())


# ---- showing the record -------------------------------------------------------------------------------------------
STATE_LABELS = {"momentum_buffer": "buf", "exp_avg": "m", "exp_avg_sq": "v", "max_exp_avg_sq": "vmax",
                "square_avg": "sq_avg", "grad_avg": "g_avg", "sum": "sum", "update": "moved"}


def format_table(records, show_state=False, show_curvature=False):
    """The record as a text table: step, each variable, loss, each slope (and, if asked, the hiker's state, and
    the curvature with its critical learning rate 2/f'': plain descent near that point is stable below it).

    With `show_state`, `moved` is the distance the variable moved in that step: for Adam, the bias-corrected step
    lr·m̂/(√v̂ + ε), where m̂ = m/(1 − β₁ᵗ) and v̂ = v/(1 − β₂ᵗ) come from the m and v shown beside it.
    """
    names = list(records[0].values)
    keys = [k for k in STATE_LABELS if show_state and k in records[0].state.get(names[0], {})]
    header = _header(names, keys, show_curvature)
    rows = [_cells(r, names, keys, show_curvature) for r in records]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
                     for row in [header, *rows])


def format_rows(records, show_state=False, show_curvature=False):
    """`format_table` one line at a time (the header first), for a descent too long to hold or to wait for.

    Columns have a fixed width of 12, enough for any number printed with 6 significant digits (-1.23457e+06).
    """
    names = keys = None
    for r in records:
        if names is None:
            names = list(r.values)
            keys = [k for k in STATE_LABELS if show_state and k in r.state.get(names[0], {})]
            yield _line(_header(names, keys, show_curvature))
        yield _line(_cells(r, names, keys, show_curvature))


def _header(names, keys, show_curvature):
    what = "f''" if len(names) == 1 else "λmax"
    return ["step", *names, "loss", *[f"grad {n}" for n in names],
            *[f"{STATE_LABELS[k]} {n}" for n in names for k in keys], *([what, f"2/{what}"] if show_curvature else [])]


def _cells(r, names, keys, show_curvature):
    critical = f"{2 / r.curvature:.4g}" if r.curvature > 0 else "none"  # no valley there: no stable limit to give
    return [str(r.step), *[f"{r.values[n]:.6g}" for n in names], f"{r.loss:.6g}", *[f"{r.grads[n]:.6g}" for n in names],
            *[f"{r.state[n][k]:.6g}" if r.state else "" for n in names for k in keys],
            *([f"{r.curvature:.4g}", critical] if show_curvature else [])]


def _line(cells):
    return "  ".join(cell.rjust(4 if k == 0 else 12) for k, cell in enumerate(cells))


def figure_class():
    """matplotlib's Figure, or an ImportError naming the extra. No pyplot: no global backend, never a window.

    Call it before long work (a descent, a training run) so a missing matplotlib is said first, not last.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib, an optional extra: pip install tinygrad-gd[plot]") from None
    return Figure


def save_figure(figure, path, dpi=100):
    """Save a matplotlib figure whole (atomic.write_file) and return the path actually written.

    The format is the file's suffix; a name without one gets ".png", as matplotlib itself would add, so the
    path reported is the file on disk ("curve" is written and reported as "curve.png").
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    if not suffix:
        path, suffix = path + ".png", "png"
    if suffix not in figure.canvas.get_supported_filetypes():
        raise ValueError(f"cannot save a plot as {path}: {suffix!r} is not an image format matplotlib writes; "
                         f"use .png, .svg or .pdf")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=suffix, dpi=dpi)
    return write_file(path, buffer.getvalue()).__fspath__()


def plot_descent(records, expression, path):
    """Save a picture: the loss per step, and the path on the loss surface (a curve for one variable, contours
    for two). Needs matplotlib, an optional extra."""
    Figure = figure_class()  # noqa: N806 (a class)
    expression = expression if isinstance(expression, Expression) else parse(expression)
    names = list(records[0].values)
    fine = [r for r in records if math.isfinite(r.loss) and all(map(math.isfinite, r.values.values()))]
    figure = Figure(figsize=(11, 4.5) if len(names) <= 2 else (5.5, 4.5), layout="constrained")
    axes = figure.subplots(1, 2 if len(names) <= 2 else 1, squeeze=False)[0]
    axes[0].plot([r.step for r in fine], [r.loss for r in fine], "o-", markersize=3)
    axes[0].set(xlabel="step", ylabel="loss", title=f"loss of {expression.source}")
    if fine and min(r.loss for r in fine) > 0:
        axes[0].set_yscale("log")
    if len(names) in (1, 2):
        grids = [_span([r.values[n] for r in fine]) for n in names]
        if len(names) == 2:
            grids = list(np.meshgrid(*grids))
        with np.errstate(all="ignore"):
            surface = expression(**{n: Value(g) for n, g in zip(names, grids, strict=True)}).data
        path_xy = [[r.values[n] for r in fine] for n in names]
        if len(names) == 1:
            axes[1].plot(grids[0], surface, color="0.6")
            axes[1].plot(path_xy[0], [r.loss for r in fine], "o-", color="C3", markersize=4)
            axes[1].set(xlabel=names[0], ylabel="loss")
        else:
            axes[1].contour(grids[0], grids[1], surface, levels=25, cmap="viridis")
            axes[1].plot(*path_xy, "o-", color="C3", markersize=3)
            axes[1].set(xlabel=names[0], ylabel=names[1])
        axes[1].set_title("the hiker's path")
    return save_figure(figure, path)


def _span(values, points=200):
    low, high = min(values), max(values)
    margin = max(0.25 * (high - low), 0.5)
    return np.linspace(low - margin, high + margin, points)
