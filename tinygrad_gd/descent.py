"""Watch the hiker: run an optimizer on a formula of a few numbers and record every step.

`descend` is what `tinygrad-gd descend` prints, what the notebooks plot and what the visualiser animates: at each
step it scores the current point, lets backpropagation fill `.grad`, and lets the optimizer take one step.
`verdict` reads the record and says whether the descent converged, oscillated or diverged, and why.

>>> steps = descend("(w - 2) ** 2", {"w": 5.0}, "sgd", lr=0.1, steps=1)
>>> [(s.step, s.values["w"], round(s.loss, 6), round(s.grads["w"], 6)) for s in steps]
[(0, 5.0, 9.0, 6.0), (1, 4.4, 5.76, 4.8)]
"""

import math
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from . import autograd, optim
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
    after recording it, once the loss is no longer a finite number.
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
    records = []
    with np.errstate(all="ignore"):  # an overflow, a log(-1) or a 1/0 is reported by verdict(), not by warnings
        for k in range(steps + 1):
            if _take_step(k, steps, expression, params, hiker, records, curvature):
                break
        if not math.isfinite(records[-1].curvature):  # the end point, where the walk stopped
            records[-1].curvature = _largest_eigenvalue(_hessian(expression, params))
    return records


def _take_step(k, steps, expression, params, hiker, records, curvature):
    """Score the point, let backprop fill the slopes, record, let the hiker step; return True when the run ends."""
    hiker.zero_grad()
    loss = expression(**params)
    loss.backward()
    newton = isinstance(hiker, optim.Newton)
    hessian = _hessian(expression, params) if curvature or newton or k == 0 else None
    record = Step(k, {n: p.item() for n, p in params.items()}, float(loss.item()),
                  {n: float(p.grad) for n, p in params.items()},
                  curvature=math.nan if hessian is None else _largest_eigenvalue(hessian))
    records.append(record)
    if k == steps or not math.isfinite(record.loss):
        return True
    if newton:
        hiker.step(lambda: (loss, hessian))  # the map computed the curvature; the hiker only reads it
    else:
        hiker.step()
    record.state = {n: {**_plain(hiker.state.get(p, {})), "update": record.values[n] - p.item()}
                    for n, p in params.items()}
    return False


def _hessian(expression, params):
    """The (n, n) matrix of second derivatives at the current point, by the map run twice (autograd.hessian)."""
    names = list(params)
    point = [p.item() for p in params.values()]
    return autograd.hessian(lambda v: expression(**{n: v[i] for i, n in enumerate(names)}), point).data.reshape(
        len(names), len(names))


def _largest_eigenvalue(hessian):
    """f'' for one variable; for several, the curvature along the steepest direction (H is symmetric)."""
    return float(np.linalg.eigvalsh(hessian).max()) if np.all(np.isfinite(hessian)) else math.nan


def _critical(records):
    """What the engine's second derivative says about the learning rate, where it has one to say."""
    c = records[0].curvature
    if not (math.isfinite(c) and c > 0):
        return ""
    what = "f''" if len(records[0].values) == 1 else "λmax"
    return f" ({what} = {c:.3g} at the start, so plain descent is stable only for lr < 2/{what} = {2 / c:.3g})"


def _norm(grads):
    return math.sqrt(sum(g * g for g in grads.values()))


def _plain(state):
    return {key: float(value) for key, value in state.items()}


@dataclass
class Verdict:
    kind: str  # "converged", "oscillated", "diverged", "still descending", "undefined", "flat" or "maximum"
    message: str


def verdict(records):
    """Say what the descent did: diverged (loss grew or blew up), oscillated (crossed the valley back and forth
    while the loss shrank), converged (settled), or still descending (too few steps or too small a lr).

    Two outcomes are not the learning rate's doing, and say so: "undefined" (the loss or its slope is not a
    number at the starting point, e.g. log of a negative number) and "flat" (the slope is 0 where the hiker
    starts, so it never moves: a minimum, a saddle or a flat stretch such as relu below 0). A third is the
    engine's own second derivative speaking: "maximum" (the slope went to 0 where the loss curves down, which is
    where Newton's method heads on a non-convex function).
    """
    losses = [r.loss for r in records]
    first, last, n = losses[0], losses[-1], len(records) - 1
    where = ", ".join(f"{name}={value:.6g}" for name, value in records[-1].values.items())
    start = ", ".join(f"{name}={value:.6g}" for name, value in records[0].values.items())
    if not math.isfinite(first) or not all(map(math.isfinite, records[0].grads.values())):
        what = f"the loss is {first:.6g}" if not math.isfinite(first) else "the slope is not a finite number"
        return Verdict("undefined", f"undefined: {what} at the starting point {start}, before any step (the formula "
                                    f"overflows or is not defined there, e.g. log or sqrt of a negative number, "
                                    f"or a division by 0); start somewhere else")
    if not all(math.isfinite(x) for x in losses):
        bad = next(r for r in records if not math.isfinite(r.loss))
        before = records[bad.step - 1]
        if not all(map(math.isfinite, before.grads.values())):
            return Verdict("diverged", f"diverged: the loss became {bad.loss} at step {bad.step} because the slope "
                                       f"at step {before.step} was not finite ({_slopes(before)}): the formula is "
                                       f"infinitely steep there, so any step from it is infinite")
        return Verdict("diverged", f"diverged: the loss became {bad.loss} at step {bad.step} "
                                   f"(from {first:.6g} at step 0): learning rate too large{_critical(records)}")
    end, start_slope = records[-1], _norm(records[0].grads)
    if end.curvature < 0 and 0 < start_slope and _norm(end.grads) <= max(start_slope / 50, 1e-8):
        what = "f''" if len(end.values) == 1 else "λmax"
        return Verdict("maximum", f"maximum: the slope is {_norm(end.grads):.3g} at {where} but the loss curves down "
                                  f"there ({what} = {end.curvature:.3g} < 0): a top, not a valley (loss {first:.6g} "
                                  f"-> {last:.6g}). Newton seeks where the slope is 0; descent would go downhill")
    if last > first:
        return Verdict("diverged", f"diverged: the loss grew from {first:.6g} to {last:.6g} in {n} steps, ending at "
                                   f"{where}: learning rate too large (each step overshoots by more than it gains)"
                                   f"{_critical(records)}")
    slope = [_norm(r.grads) for r in (records[0], records[-1])]
    if slope[0] == 0:
        return Verdict("flat", f"flat: the slope is 0 at the starting point {start}, so the hiker never moves (a "
                               f"minimum, a saddle or a flat stretch); the loss stays {first:.6g}. Start elsewhere "
                               f"to see it descend")
    flips = max(sum(1 for a, b in pairwise(records) if a.grads[name] * b.grads[name] < 0)
                for name in records[0].grads)
    if n >= 2 and flips >= n / 2:
        trend = (f"converging (loss {first:.6g} -> {last:.6g}), now at {where}" if last < 0.99 * first
                 else f"without getting closer, loss stuck near {last:.6g}")
        return Verdict("oscillated", f"oscillated: the slope changed sign in {flips} of {n} steps, overshooting "
                                     f"the minimum back and forth, {trend}; a smaller learning rate goes straight"
                                     f"{_critical(records)}")
    gain = first - last
    if gain > 0 and (slope[1] <= slope[0] / 50 or slope[1] < 1e-8):  # the ground has flattened 50-fold
        close = next(r.step for r in records if r.loss - last <= 0.01 * gain)
        return Verdict("converged", f"converged: loss {first:.6g} -> {last:.6g} in {n} steps (within 1% of the "
                                    f"final loss from step {close}; slope {slope[0]:.3g} -> {slope[1]:.3g}), "
                                    f"ending at {where}")
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
    header = ["step", *names, "loss", *[f"grad {n}" for n in names],
              *[f"{STATE_LABELS[k]} {n}" for n in names for k in keys]]
    rows = [[str(r.step), *[f"{r.values[n]:.6g}" for n in names], f"{r.loss:.6g}",
             *[f"{r.grads[n]:.6g}" for n in names],
             *[f"{r.state[n][k]:.6g}" if r.state else "" for n in names for k in keys],
             *([f"{r.curvature:.4g}", f"{2 / r.curvature:.4g}" if r.curvature > 0 else "none"]
               if show_curvature else [])]
            for r in records]
    if show_curvature:
        what = "f''" if len(names) == 1 else "λmax"
        header += [what, f"2/{what}"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
                     for row in [header, *rows])


def figure_class():
    """matplotlib's Figure, or an ImportError naming the extra. No pyplot: no global backend, never a window.

    Call it before long work (a descent, a training run) so a missing matplotlib is said first, not last.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib, an optional extra: pip install tinygrad-gd[plot]") from None
    return Figure


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
    figure.savefig(path, dpi=100)
    return path


def _span(values, points=200):
    low, high = min(values), max(values)
    margin = max(0.25 * (high - low), 0.5)
    return np.linspace(low - margin, high + margin, points)
