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
import re
import textwrap
from collections import deque
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
    record.state = {n: {**_plain(hiker.state.get(p, {})), "update": p.item() - record.values[n]}
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


def _what(values):
    return "f''" if len(values) == 1 else "λmax"


def _norm(grads):
    return math.sqrt(sum(g * g for g in grads.values()))


def _plain(state):
    return {key: float(value) for key, value in state.items()}


def _where(record):
    return ", ".join(f"{name}={value:.6g}" for name, value in record.values.items())


@dataclass
class Verdict:
    kind: str  # "converged", "oscillated", "diverged", "rising", "overshooting", "still descending", "undefined",
    #            "flat", "stuck", "maximum"
    message: str  # one paragraph; `text()` wraps it for a terminal

    def text(self, width=80):
        """The message wrapped at words to `width` columns, as `tinygrad-gd descend` prints it; a formula such as
        `1 - lr·f'' = 1 - 0.1·2 = 0.8` or `9 -> 0.0012` stays on one line."""
        glued = re.sub(r" (=|-|->|<|·) (?=\S)", "\xa0\\1\xa0", self.message)  # textwrap breaks only at ASCII blanks
        return textwrap.fill(glued, width, break_long_words=False, break_on_hyphens=False).replace("\xa0", " ")


# optimizers that carry a velocity from step to step (a running mean of the slope), so they can coast past a minimum
CARRY = {"momentum", "nesterov", "adam", "adamw", "nadam", "radam", "adamax"}


class Summary:
    """What the verdict needs from a descent, gathered one record at a time in bounded memory.

    It keeps the first, the previous and the last record, the last few slopes (for the rate per step), the lowest
    loss and the largest climb back from a low, how often and (the first three times) when each slope changed
    sign, and the steps where the loss reached a new low (thinned to at most 2 × 1024, so a run of 10⁹ steps
    still fits; "99% of the drop was made by step k" is then exact to the kept resolution).
    `optimizer`, `lr` and `momentum`, if given, let the verdict explain the rate it measured (1 − lr·f'' for
    plain descent on a quadratic).
    """

    LOWS = 1024
    RECENT = 6  # the rate per step is measured over the last 5 steps

    def __init__(self, optimizer=None, lr=None, momentum=None):
        self.optimizer, self.lr, self.momentum = optimizer, lr, momentum
        self.first = self.last = self.previous = self.bad = self.before_bad = None
        self.flips, self.flip_steps, self.moved, self.lows, self.thinned = {}, {}, False, [], 1
        self.recent = deque(maxlen=self.RECENT)  # (step, slope) of the last records whose slope is finite
        self.low = self.climb = self.zero_at = None  # (step, loss); (low step, low, high step, high); a step
        self.rising_for = 0  # how many of the last steps raised the loss, one after another

    def add(self, record):
        if self.first is None:
            self.first, self.flips = record, dict.fromkeys(record.grads, 0)
            self.flip_steps = {name: [] for name in record.grads}
        else:
            for name, g in record.grads.items():
                if self.last.grads[name] * g < 0:
                    self.flips[name] += 1
                    if len(self.flip_steps[name]) < 3:
                        self.flip_steps[name].append(record.step)
            self.moved = self.moved or record.values != self.last.values
        if self.bad is None and not math.isfinite(record.loss):
            self.bad, self.before_bad = record, self.last
        if math.isfinite(record.loss):
            self._track(record)
        self.previous, self.last = self.last, record
        return record

    def _track(self, record):
        loss, slope = record.loss, _norm(record.grads)
        rose = self.last is not None and loss > self.last.loss
        self.rising_for = self.rising_for + 1 if rose else 0
        if self.low is None or loss < self.low[1]:
            self.low = (record.step, loss)
        elif self.climb is None or loss - self.low[1] > self.climb[3] - self.climb[1]:
            self.climb = (*self.low, record.step, loss)
        if math.isfinite(slope):
            self.recent.append((record.step, slope))
        if slope == 0 and self.zero_at is None:
            self.zero_at = record.step
        if not self.lows or loss < self.lows[-1][1]:
            if record.step % self.thinned == 0 or not self.lows:
                self.lows.append((record.step, loss))
            if len(self.lows) > 2 * self.LOWS:  # keep every other low: the resolution halves, memory stays
                self.lows, self.thinned = self.lows[::2], self.thinned * 2

    def rate(self):
        """The factor by which the slope changed per step over the last few steps (their geometric mean), or None."""
        points = [(step, slope) for step, slope in self.recent if slope > 0]
        if len(points) < 2:
            return None
        (k0, s0), (k1, s1) = points[0], points[-1]
        with np.errstate(all="ignore"):
            return (s1 / s0) ** (1 / (k1 - k0))

    def verdict(self):
        return _verdict(self)


def verdict(records, optimizer=None, lr=None, momentum=None):
    """Say what the descent did, judging the whole run and the last steps, with the numbers that show it.

    diverged (the loss grew, or blew up), oscillated (the slope changed sign in at least half the steps: the
    hiker jumps across the valley), converged (the slope flattened 50-fold and the loss settled), rising (the
    loss went up in the last step: it overshot and has not turned back yet), overshooting (the loss climbed
    back from a low earlier in the run and is falling again), or still descending (falling all along, not yet
    flat). Each names the rate the slope changed by per step, and for plain descent on a quadratic (give
    `optimizer`, `lr`) the factor 1 − lr·f'' that explains it.

    Three outcomes are not the learning rate's size, and say so: "undefined" (the loss or its slope is not a
    number at the starting point, e.g. log of a negative number), "flat" (the slope is 0 where the hiker
    starts, so it never moves: a minimum, a saddle or a flat stretch such as relu below 0) and "stuck" (the
    slope is not 0, but the loss does not move: a learning rate of 0, or steps too small to change a number).
    A fourth is the engine's own second derivative speaking: "maximum" (the slope went to 0 where the loss
    curves down, which is where Newton's method heads on a non-convex function).
    `records` is a list of Steps, or any iterable of them (see Summary for a run too long to keep).
    """
    summary = Summary(optimizer, lr, momentum)
    for record in records:
        summary.add(record)
    return summary.verdict()


def _verdict(summary):
    first_record, last_record = summary.first, summary.last
    first, last, n = first_record.loss, last_record.loss, last_record.step
    where, start = _where(last_record), _where(first_record)
    if not math.isfinite(first) or not all(map(math.isfinite, first_record.grads.values())):
        what = f"the loss is {first:.6g}" if not math.isfinite(first) else "the slope is not a finite number"
        return Verdict("undefined", f"undefined: {what} at the starting point {start}, before any step (the formula "
                                    f"overflows or is not defined there, e.g. log or sqrt of a negative number, "
                                    f"or a division by 0); start somewhere else.")
    if summary.bad is not None:
        return _blew_up(summary)
    start_slope, end_slope = _norm(first_record.grads), _norm(last_record.grads)
    if last_record.curvature < 0 and 0 < start_slope and end_slope <= max(start_slope / 50, 1e-8):
        what = _what(last_record.values)
        return Verdict("maximum", f"maximum: the slope is {end_slope:.3g} at {where} but the loss curves down there "
                                  f"({what} = {last_record.curvature:.3g} < 0): a top, not a valley (loss {first:.6g} "
                                  f"-> {last:.6g}). Newton seeks where the slope is 0; descent would go downhill.")
    if last > first:
        return Verdict("diverged", _join(
            f"diverged: the loss grew from {first:.6g} to {last:.6g} in {_count(n)}, ending at {where}.",
            _rate_words(summary, crossing="each step lands across the minimum, farther from it"),
            _sgd_factor(summary), _too_large(summary)))
    if start_slope == 0:
        return Verdict("flat", f"flat: the slope is 0 at the starting point {start}, so the hiker never moves (a "
                               f"minimum, a saddle or a flat stretch); the loss stays {first:.6g}. Start elsewhere "
                               f"to see it descend.")
    if n >= 1 and last == first:
        why = ("the steps are too small to change the numbers: the learning rate is 0 (or far too small)"
               if not summary.moved else "the hiker moves, but along ground where the loss does not change")
        return Verdict("stuck", f"stuck: the loss stays {first:.6g} for {_count(n)} although the slope is "
                                f"{start_slope:.3g}; {why}.")
    name, flips = max(summary.flips.items(), key=lambda item: item[1])
    drop = first - summary.low[1]
    settled = end_slope <= start_slope / 50 or end_slope < 1e-8
    settled = settled and last - summary.low[1] <= 0.01 * drop
    if n >= 2 and flips >= n / 2:
        return _oscillated(summary, name, flips)
    if settled:
        return _converged(summary)
    if summary.rising_for:
        return _rising(summary)
    if summary.climb and summary.climb[3] - summary.climb[1] > 0.01 * drop:
        return _overshooting(summary)
    return _still_descending(summary)


def _count(n):
    return "1 step" if n == 1 else f"{n} steps"


def _join(*sentences):
    return " ".join(s for s in sentences if s)


def _quadratic(summary):
    """The engine's f'' (or λmax) is the same at the start and the end: a quadratic-like stretch of loss."""
    c0, c1 = summary.first.curvature, summary.last.curvature
    return math.isfinite(c0) and c0 > 0 and math.isfinite(c1) and abs(c1 - c0) <= 1e-6 * c0


def _crossing(summary):
    name, flips = max(summary.flips.items(), key=lambda item: item[1])
    n = summary.last.step
    return n >= 2 and flips >= n / 2


def _rate_words(summary, crossing=""):
    """'The slope shrank ×0.8 per step' (measured over the last steps), with the sign changes when they matter."""
    rate = summary.rate()
    if rate is None or not math.isfinite(rate):
        return ""
    verb = "shrank" if rate < 1 else "grew" if rate > 1 else "stayed the same size"
    one = len(summary.first.values) == 1 and _quadratic(summary) and rate != 1  # slope = f''·distance
    what = "The slope, and so the distance to the minimum," if one else "The slope"
    text = f"{what} {verb} ×{rate:.3g} per step"
    if crossing and _crossing(summary):
        name, flips = max(summary.flips.items(), key=lambda item: item[1])
        who = "it" if len(summary.flips) == 1 else f"the slope of {name}"
        text += f"; {who} changed sign in {flips} of {summary.last.step} steps: {crossing}"
    return text + "."


def _sgd_factor(summary, twin=True):
    """Why the rate is what it is, for plain descent on a quadratic of one variable: 1 − lr·f'', and the other
    learning rate with a factor of the same size (0.9 beside 0.1 for f'' = 2), if `twin`."""
    first = summary.first
    if (summary.optimizer != "sgd" or summary.momentum or summary.lr is None or len(first.values) != 1
            or not _quadratic(summary)):
        return ""
    lr, c = summary.lr, first.curvature
    q = 1 - lr * c
    text = f"Plain descent on a quadratic multiplies the distance by 1 - lr·f'' = 1 - {lr:g}·{c:.3g} = {q:.3g}"
    text += " each step (negative: across)" if q < 0 else " each step"
    twin = 2 / c - lr if twin else 0
    if twin > 0 and not math.isclose(twin, lr):
        side = "both sides" if q > 0 else "one side"
        text += f"; at lr {twin:.3g} it is {1 - twin * c:.3g}: the same loss column, from {side}"
    return text + "."


def _half_momentum(summary):
    return (summary.momentum if summary.momentum is not None else 0.9) / 2  # 0.9: BY_NAME's momentum and nesterov


def _plain_descent(summary):
    """Plain descent (no momentum, no per-weight scaling), or not said: only then does 2/f'' set the limit."""
    return summary.optimizer in (None, "sgd") and not summary.momentum


def _plain_curvature(summary):
    """(what, c): the curvature's name (f'' or λmax) and its value at the start, when it sets plain descent's
    limits (positive, finite, no momentum or scaling); else None."""
    c = summary.first.curvature
    if math.isfinite(c) and c > 0 and _plain_descent(summary):
        return _what(summary.first.values), c
    return None


def _too_large(summary):
    if known := _plain_curvature(summary):
        what, c = known
        return (f"Learning rate too large: {what} = {c:.3g} at the start, so plain descent is stable only for "
                f"lr < 2/{what} = {2 / c:.3g}.")
    return "Learning rate too large: each step overshoots by more than it gains."


def _straighter(summary):
    if summary.optimizer in ("momentum", "nesterov") or (summary.momentum and summary.optimizer == "sgd"):
        return f"A smaller momentum (--momentum {_half_momentum(summary):g}) swings less."
    if known := _plain_curvature(summary):
        what, c = known
        return (f"A smaller learning rate goes straighter: {what} = {c:.3g} at the start, so plain descent stays on "
                f"one side for lr < 1/{what} = {1 / c:.3g} and converges for lr < 2/{what} = {2 / c:.3g}.")
    return "A smaller learning rate goes straighter."


def _flip_words(summary):
    """'the slope changed sign at step 4', or 'the slope of x changed sign at steps 4 and 14, of y at step 8'."""
    parts = []
    for name, count in summary.flips.items():
        if not count:
            continue
        steps = [str(step) for step in summary.flip_steps[name]]
        when = (f"at step {steps[0]}" if count == 1 else f"at steps {' and '.join(steps)}" if count == 2
                else f"at steps {steps[0]}, {steps[1]} and {steps[2]}" if count == 3
                else f"{count} times, first at steps {', '.join(steps)}")
        of = "" if len(summary.flips) == 1 else f" of {name}"
        parts.append(f"the slope{of} changed sign {when}" if not parts else f"of {name} {when}")
    return ", ".join(parts)


def _blew_up(summary):
    bad, before, first = summary.bad, summary.before_bad, summary.first
    if not all(map(math.isfinite, before.grads.values())):
        return Verdict("diverged", f"diverged: the loss became {bad.loss} at step {bad.step} because the slope at "
                                   f"step {before.step} was not finite ({_slopes(before)}): the formula is "
                                   f"infinitely steep there, so any step from it is infinite.")
    return Verdict("diverged", _join(
        f"diverged: the loss became {bad.loss} at step {bad.step} (from {first.loss:.6g} at step 0).",
        _rate_words(summary, crossing="each step lands across the minimum, farther from it"),
        _sgd_factor(summary), _too_large(summary)))


def _oscillated(summary, name, flips):
    first, last, n = summary.first.loss, summary.last.loss, summary.last.step
    of = "" if len(summary.flips) == 1 else f" of {name}"
    who = next(iter(summary.flips)) if len(summary.flips) == 1 else "the hiker"
    head = (f"oscillated: the slope{of} changed sign in {flips} of {_count(n)}, so {who} jumps across the minimum "
            f"and back")
    rate = summary.rate()
    if last < 0.99 * first:
        shrank = f"; it shrank ×{rate:.3g} per step, so" if rate is not None and rate < 0.98 else ", but"
        trend = f"{shrank} the loss still fell, {first:.6g} -> {last:.6g}, now at {_where(summary.last)}."
        if rate is not None and rate >= 0.98:  # a 2-cycle: the loss fell once, then the hiker bounces in place
            trend += f" The slope no longer shrinks (×{rate:.3g} per step): it bounces without settling."
    else:
        trend = f", getting no closer: the loss stays near {last:.6g}, now at {_where(summary.last)}."
    return Verdict("oscillated", _join(head + trend, _sgd_factor(summary), _straighter(summary)))


def _converged(summary):
    first, last, n = summary.first.loss, summary.last.loss, summary.last.step
    head = f"converged: loss {first:.6g} -> {last:.6g} in {_count(n)}, now at {_where(summary.last)}"
    if summary.zero_at is not None and _norm(summary.last.grads) == 0:
        newton = ("Newton's step, slope / curvature, lands on a quadratic's minimum at once."
                  if summary.optimizer == "newton" and summary.zero_at == 1 else "")
        return Verdict("converged", _join(f"{head}. The slope is 0 from step {summary.zero_at} on: the loss is flat "
                                          f"there.", _sgd_factor(summary, twin=False), newton))
    gain = first - last
    close = next((step for step, loss in summary.lows if loss - last <= 0.01 * gain), n)
    sooner = "" if summary.thinned == 1 else " or sooner"
    head += f"; 99% of the drop was made by step {close}{sooner}."
    rate = _rate_words(summary) if (summary.rate() or 1) < 1 else ""  # near the bottom Adam jitters: no rate
    if rate and not any(summary.flips.values()):
        rate = rate[:-1] + ", from one side."
    estimate, c, g = "", summary.last.curvature, _norm(summary.last.grads)
    if len(summary.first.values) == 1 and math.isfinite(c) and c > 0:
        estimate = (f"With f'' = {c:.3g}, the minimum is about {g / c:.3g} away, its loss about "
                    f"{g * g / (2 * c):.3g} lower.")
    climb = ""
    if summary.climb and summary.climb[3] - summary.climb[1] > 0.01 * gain:
        low_step, low, high_step, high = summary.climb
        climb = (f"On the way it overshot: the loss climbed back from {low:.6g} at step {low_step} to {high:.6g} at "
                 f"step {high_step}.")
    return Verdict("converged", _join(head, rate, _sgd_factor(summary), estimate, climb))


def _rising(summary):
    last, n = summary.last.loss, summary.last.step
    low_step, low = summary.low
    steps = "step" if summary.rising_for == 1 else f"{summary.rising_for} steps"
    head = (f"rising: the loss fell from {summary.first.loss:.6g} to {low:.6g} at step {low_step}, then rose over the "
            f"last {steps}, to {last:.6g} at step {n}, now at {_where(summary.last)}.")
    flips = _flip_words(summary)
    carry = summary.optimizer in CARRY or bool(summary.momentum)
    if flips:
        why = f"{flips[0].upper()}{flips[1:]}: the hiker passed the minimum" + (
            " and its momentum carries it on uphill." if carry else " and overshot.")
    else:
        why = "The hiker is going uphill" + (": its momentum carries it on." if carry else ".")
    if summary.optimizer in ("momentum", "nesterov") or (summary.momentum and carry):
        advice = (f"Take more steps to see whether it swings back, or a smaller momentum "
                  f"(--momentum {_half_momentum(summary):g}) to overshoot less.")
    elif carry:
        advice = "Take more steps to see whether it swings back, or a smaller learning rate to overshoot less."
    else:
        advice = "A smaller learning rate overshoots less."
    return Verdict("rising", _join(head, why, advice))


def _overshooting(summary):
    last, n = summary.last.loss, summary.last.step
    low_step, low, high_step, high = summary.climb
    head = (f"overshooting: the loss fell to {low:.6g} at step {low_step}, climbed back to {high:.6g} at step "
            f"{high_step} and is falling again, {last:.6g} at step {n}, now at {_where(summary.last)}.")
    flips = _flip_words(summary)
    why = f"{flips[0].upper()}{flips[1:]}: the hiker ran past the minimum and swung back." if flips else ""
    advice = "Take more steps to see whether the swings die down, or a smaller learning rate for smaller swings."
    return Verdict("overshooting", _join(head, why, advice))


def _still_descending(summary):
    first, last, n = summary.first.loss, summary.last.loss, summary.last.step
    head = (f"still descending: loss {first:.6g} -> {last:.6g} in {_count(n)} and still falling, now at "
            f"{_where(summary.last)}.")
    rate, words = summary.rate(), _rate_words(summary)
    start_slope, end_slope = _norm(summary.first.grads), _norm(summary.last.grads)
    if rate is not None and 0 < rate < 1 and end_slope > 0:
        more = math.ceil(math.log(start_slope / 50 / end_slope) / math.log(rate))
        words = words[:-1] + f": at that rate about {more} more steps make it 50 times flatter than at the start."
    straight = not any(summary.flips.values()) and summary.climb is None
    advice = "Take more steps"
    c = summary.first.curvature
    if straight and summary.optimizer == "sgd" and not summary.momentum and _quadratic(summary):
        what = _what(summary.first.values)
        advice += (f", or a larger learning rate: plain descent stays on one side of the minimum up to "
                   f"lr 1/{what} = {1 / c:.3g}.")
    elif straight:
        advice += " or a larger learning rate (it has not overshot yet)."
    else:
        advice += "."
    return Verdict("still descending", _join(head, words, _sgd_factor(summary, twin=False), advice))


def _slopes(record):
    return ", ".join(f"grad {name}={value:.6g}" for name, value in record.grads.items())


# ---- showing the record -------------------------------------------------------------------------------------------
STATE_LABELS = {"momentum_buffer": "buf", "exp_avg": "m", "exp_avg_sq": "v", "max_exp_avg_sq": "vmax",
                "exp_inf": "u", "square_avg": "sq_avg", "acc_delta": "acc_dx", "grad_avg": "g_avg", "sum": "sum",
                "update": "moved"}
WIDTH = 80  # every line `descend` prints fits a terminal this wide
NUMBER = 10  # a number's column: 6 significant digits, fewer where the exponent needs the room (-1.23457e+06)


def format_table(records, show_state=False, show_curvature=False):
    """The record as a text table: step, each variable, loss, each slope (and, if asked, the hiker's state, and
    the curvature with its critical learning rate 2/f'': plain descent near that point is stable below it).

    With `show_state`, `moved` is the change of the variable in that step, with its sign (w 5 → 4.4 moved -0.6):
    for Adam, −lr·m̂/(√v̂ + ε), where m̂ = m/(1 − β₁ᵗ) and v̂ = v/(1 − β₂ᵗ) come from the m and v shown beside it.
    A table wider than 80 columns is written one line per variable under each step's line (see format_rows).
    """
    records = list(records)
    return "\n".join(format_rows(records, show_state, show_curvature, last_step=records[-1].step))


def format_rows(records, show_state=False, show_curvature=False, last_step=None):
    """`format_table` one line at a time (the header first), for a descent too long to hold or to wait for.

    Columns have a fixed width of 10, with numbers at 6 significant digits or as many as fit (-1.235e+06, never
    0.0000). If one line per step would be wider than 80 columns (three variables, Adam's state, curvature with
    two variables), each step gets a line with its loss, then one line per variable: its value, slope and state.
    """
    layout = None
    for r in records:
        if layout is None:
            layout = _Layout(list(r.values), [k for k in STATE_LABELS if show_state and k in r.state.get(
                next(iter(r.values)), {})], show_curvature, last_step)
            yield from layout.header()
        yield from layout.rows(r)


def _number(x, width=NUMBER, sign=""):
    """`x` at 6 significant digits, or at as many as fit `width` characters; `sign="+"` writes +0.3."""
    for digits in range(6, 0, -1):
        text = f"{x:{sign}.{digits}g}"
        if len(text) <= width:
            break
    return text


class _Layout:
    """The columns of the table, and whether one line per step fits 80 columns."""

    def __init__(self, names, keys, show_curvature, last_step=None):
        self.names, self.keys, self.curvature = names, keys, show_curvature
        self.step = max(4, len(str(last_step if last_step is not None else 0)))
        what = _what(names)
        self.extra = [what, f"2/{what}"] if show_curvature else []
        self.labels = [*names, "loss", *[f"grad {n}" for n in names],
                       *[f"{STATE_LABELS[k]} {n}" for n in names for k in keys], *self.extra]
        self.wide = self.step + sum(2 + max(NUMBER, len(label)) for label in self.labels) <= WIDTH
        self.name = max(3, *map(len, names))

    def header(self):
        if self.wide:
            return [self._line(["step", *self.labels])]
        return [self._line(["step", "loss", *self.extra]),
                self._line(["", "var".rjust(self.name), "value", "grad", *[STATE_LABELS[k] for k in self.keys]])]

    def rows(self, r):
        point = {n: [_number(r.values[n]), _number(r.grads[n])] for n in self.names}
        state = {n: [_number(r.state[n][k], sign="+" if k == "update" else "") if r.state else "" for k in self.keys]
                 for n in self.names}
        extra = ([_number(r.curvature), _number(2 / r.curvature) if r.curvature > 0 else "none"]  # no valley, no limit
                 if self.curvature else [])
        if self.wide:
            return [self._line([str(r.step), *[point[n][0] for n in self.names], _number(r.loss),
                                *[point[n][1] for n in self.names], *[s for n in self.names for s in state[n]],
                                *extra])]
        return [self._line([str(r.step), _number(r.loss), *extra]),
                *[self._line(["", n.rjust(self.name), *point[n], *state[n]]) for n in self.names]]

    def _line(self, cells):
        widths = [self.step] + [max(NUMBER, len(label)) for label in self.labels]
        if not self.wide:
            widths = [self.step, *[NUMBER] * (len(cells) - 1)]
            if len(cells) > 1 and cells[0] == "" and len(cells) >= 2:
                widths[1] = self.name
        return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=False)).rstrip()


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
