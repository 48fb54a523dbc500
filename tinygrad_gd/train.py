"""Training: the one place where the score, the map and the hiker meet.

Each step of `fit` is the whole story of gradient descent in four lines:

    loss = loss_fn(model(X_batch), y_batch)   # the score: how wrong the model is on this batch
    optimizer.zero_grad()                     # forget the last step's slopes (backward adds up)
    loss.backward()                           # the map: d(score)/d(weight) for every weight
    optimizer.step()                          # the hiker: move every weight a little downhill

Everything else here is bookkeeping: batches, a history of the score per epoch, a progress bar, and a clear
stop when the score blows up (the hiker overshooting: the learning rate is too large).
"""

import itertools
import math
import os
import shutil
import sys
import textwrap
from dataclasses import dataclass

import numpy as np

from . import data, losses, nn, optim
from .data import batches
from .descent import figure_class, save_figure
from .random import generator
from .value import Value, no_grad


class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite: the steps overshoot and grow instead of settling into the valley.

    `event` says what became NaN and when ("the loss became nan at epoch 1, step 6 (after 1.6e+24 the step
    before)"); `history` holds the epochs completed before it happened (as `fit` would have returned them).
    """

    def __init__(self, event, history=None):
        super().__init__(f"{event}: the steps overshoot and grow. The learning rate is probably too large; try one "
                         f"ten times smaller.")
        self.event, self.history = event, history


def accuracy(logits, y):
    """The fraction of samples whose predicted class is y.

    Logits of shape (n, k) predict their argmax; one logit per sample ((n,) or (n, 1)) predicts class 1 when
    positive, as with binary_cross_entropy_with_logits.
    """
    logits, y = np.asarray(getattr(logits, "data", logits)), np.asarray(getattr(y, "data", y))
    if logits.ndim == 2 and logits.shape[1] > 1:
        predicted = logits.argmax(axis=1)
    else:
        predicted = (logits.reshape(len(logits)) > 0).astype(np.int64)
    return float(np.mean(predicted == y.reshape(len(y))))


def _evaluate(model, loss_fn, metric, X, y):
    """Loss and metric on a whole dataset, without recording a graph (nothing will be backpropagated)."""
    with no_grad():
        out = model(Value(X))
        return loss_fn(out, y).item(), (None if metric is None else metric(out, y))


def _progress_bar(epochs, progress):
    """A tqdm bar over epochs when tqdm is installed and stdout is a terminal (or progress=True); else None.

    At most 80 columns (fewer in a narrower terminal): the epochs, the time left and the latest scores at 3
    significant digits leave the bar itself 10 to 30 of them.
    """
    if progress is False or (progress is None and not sys.stdout.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None  # tqdm is an optional extra: training works the same without a bar
    try:  # a widget bar in notebooks, but only where ipywidgets exists; tqdm.auto warns without it
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm as auto
    except ImportError:
        auto = tqdm
    if auto is not tqdm:  # a widget sizes itself (its ncols would be pixels)
        return auto(total=epochs, unit="epoch", leave=False)
    return tqdm(total=epochs, unit="epoch", leave=False, ncols=min(80, shutil.get_terminal_size().columns),
                bar_format="epoch {n_fmt}/{total_fmt} |{bar}| {remaining} left{postfix}")


def _postfix(history, metric):
    """The bar's scores, the metric named as itself: `loss=0.0123 acc=99.5%`, or with held-out data
    `loss=0.0123 val_loss=0.0456 val_acc=98.9%` (the training metric is left to the history: 80 columns)."""
    name = "acc" if metric is accuracy else getattr(metric, "__name__", "metric")
    parts = []
    for key, values in history.items():
        if key == "metric" and "val_metric" in history:
            continue
        label, value = key.replace("metric", name), values[-1]
        percent = metric is accuracy and key.endswith("metric")
        parts.append(f"{label}={value:.1%}" if percent else f"{label}={value:.3g}")
    return " ".join(parts)


def fit(model, loss_fn, optimizer, data, epochs, batch_size=None, metric=None, val_data=None, rng=None,
        progress=None, callback=None):
    """Train `model` on `data` = (X, y) for `epochs` passes; return the history of the score.

    `loss_fn(output, y)` returns a one-number Value; `metric(output, y)` (e.g. `accuracy`) returns a float and
    is measured on the whole training set (and on `val_data`) after each epoch. `batch_size` chooses full-batch
    (None), mini-batch or stochastic (1) descent; `rng` (seed or Generator) fixes the shuffling.
    `callback(epoch, history)` runs after each epoch; returning True stops training early.

    Returns {"loss": [...]} with the mean training loss of each epoch (the average over its steps, weighted by
    batch size), plus "metric", "val_loss" and "val_metric" lists when those were asked for.
    Raises TrainingDiverged, naming the epoch and step, as soon as the loss is NaN or infinite (or, after an
    epoch's last step, a weight is).
    """
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, not {epochs!r}")
    X, y = data
    for name, (features, targets) in [("data", data)] + [("val_data", val_data)] * (val_data is not None):
        if len(features) != len(targets):  # found now, not after an epoch of training has changed the model
            raise ValueError(f"{name}: X and y must have the same number of samples, got {len(features)} and "
                             f"{len(targets)}")
        for part, array in (("X", features), ("y", targets)):
            _check_finite(f"{name} {part}", array)
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if model.parameters() and not held & {id(p) for p in model.parameters()}:
        raise ValueError("the optimizer holds none of the model's parameters, so no weight would move: build it "
                         "from this model, e.g. SGD(model.parameters(), lr=0.1)")
    rng = generator(rng)  # one generator for all epochs (the default one, see manual_seed, unless given)
    history = {"loss": []}
    if metric is not None:
        history["metric"] = []
    if val_data is not None:
        history["val_loss"] = []
        if metric is not None:
            history["val_metric"] = []
    bar = _progress_bar(epochs, progress)
    value = None  # the latest finite loss, said when the next one is not
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            total, seen = 0.0, 0
            for step, (X_batch, y_batch) in enumerate(batches(X, y, batch_size, rng=rng), start=1):
                loss = loss_fn(model(Value(X_batch)), y_batch)  # the score
                value, previous = loss.item(), value
                if not np.isfinite(value):
                    before = "" if previous is None else f" (after {previous:.3g} the step before)"
                    raise TrainingDiverged(f"the loss became {value} at epoch {epoch}, step {step}{before}")
                optimizer.zero_grad()
                loss.backward()  # the map
                optimizer.step()  # the hiker
                total, seen = total + value * len(X_batch), seen + len(X_batch)
            # The next step's loss catches a step that overshoots; after an epoch's last step there is none, so
            # look at the weights, and at the outputs and scores computed below anyway.
            if not all(np.isfinite(p.data).all() for p in model.parameters()):
                raise _diverged("weights", epoch, step)
            history["loss"].append(total / seen)
            model.eval()
            if metric is not None:
                out = _forward(model, X)
                if not np.isfinite(out.data).all():
                    raise _diverged("outputs", epoch, step)
                history["metric"].append(metric(out, y))
            if val_data is not None:
                val_loss, val_metric = _evaluate(model, loss_fn, metric, *val_data)
                if not np.isfinite(val_loss):
                    raise _diverged("validation loss", epoch, step)
                history["val_loss"].append(val_loss)
                if metric is not None:
                    history["val_metric"].append(val_metric)
            if bar is not None:
                bar.set_postfix_str(_postfix(history, metric), refresh=False)
                bar.update(1)
            if callback is not None and callback(epoch, history):
                break
    except TrainingDiverged as error:
        error.history = history  # the epochs before the blow-up, for a plot or a verdict
        raise
    finally:
        if bar is not None:
            bar.close()
    return history


def _check_finite(what, array):
    """Refuse NaN or infinity in the data before training, naming where: later it would be blamed on the lr."""
    array = np.asarray(getattr(array, "data", array))
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))
        where = tuple(int(i) for i in bad[0])
        raise ValueError(f"{what} holds {array[where]} at index {where[0] if len(where) == 1 else where} "
                         f"({len(bad)} entr{'y' if len(bad) == 1 else 'ies'} not finite); clean or drop those "
                         f"samples before training")


def _diverged(what, epoch, step):
    return TrainingDiverged(f"the {what} became NaN or infinite after the last step of epoch {epoch} (step {step})")


def _forward(model, X):
    with no_grad():
        return model(Value(X))


# ---- the learning-rate range test ------------------------------------------------------------------------------


class LRFinderResult:
    """What `lr_find` saw: the rates tried, the loss at each (raw and smoothed), and the rate it suggests.

    `suggestion` is the rate chosen by `rule`; both candidate rules are kept, so neither is hidden:
    `steepest_lr`, where the smoothed loss fell fastest per factor of lr, and `min_lr_div10`, the rate of the
    smoothed minimum divided by 10 (past the minimum the hiker already overshoots).
    """

    def __init__(self, lrs, losses, smoothed, steepest_lr, min_lr_div10, suggestion, rule, stopped):
        self.lrs, self.losses, self.smoothed = lrs, losses, smoothed
        self.steepest_lr, self.min_lr_div10 = steepest_lr, min_lr_div10
        self.suggestion, self.rule, self.stopped = suggestion, rule, stopped

    def __repr__(self):
        return (f"LRFinderResult(suggestion={self.suggestion:.3g} ({self.rule}), steps={len(self.lrs)}, "
                f"stopped={self.stopped!r})")

    def summary(self, rows=8):
        """A few lines of at most 80 columns: the curve sampled at `rows` rates with a bar per loss, why it
        stopped, whether the loss fell at all (the verdict), then both rules' rates."""
        pick = np.unique(np.linspace(0, len(self.lrs) - 1, min(rows, len(self.lrs))).round().astype(int))
        low, high = min(self.smoothed), max(self.smoothed[i] for i in pick)
        lines = [f"{'lr':>9}  {'smoothed loss':>13}"]
        for i in pick:
            bar = "#" * (1 + round(30 * (self.smoothed[i] - low) / ((high - low) or 1)))
            lines.append(f"{self.lrs[i]:9.2e}  {self.smoothed[i]:#13.4g}  {bar}")
        lines.append(f"stopped: {self.stopped}")
        lines.append(self.verdict())
        lines.append(f"steepest fall at lr {self.steepest_lr:.3g}; the minimum's rate / 10 is "
                     f"{self.min_lr_div10:.3g}")
        lines.append(f"suggested lr: {self.suggestion:.3g} ({self.rule})")
        return "\n".join(textwrap.fill(line, 80, break_on_hyphens=False) for line in lines)

    def start_loss(self):
        """The loss before any rate taught anything: the median raw loss of the first tenth of the steps."""
        return float(np.median(self.losses[:max(3, len(self.losses) // 10)]))

    def verdict(self):
        """Did any rate in the range make the loss fall? The start is the median raw loss of the first tenth of
        the steps (tiny rates: nothing is learned yet, and one mini-batch alone is noisy); a fall of a tenth
        counts, less is a flat curve whose suggestion is a guess."""
        start = self.start_loss()
        best = int(np.nanargmin(np.where(np.isfinite(self.smoothed), self.smoothed, np.nan)))
        drop = 1 - self.smoothed[best] / start
        where = f"{start:.3g} -> {self.smoothed[best]:.3g} at lr {self.lrs[best]:.3g}"
        if drop >= 0.1:
            return f"learning happened: the smoothed loss fell {drop:.0%} ({where})."
        # it never overshot: look higher; it overshot with nothing learned first: start lower
        higher = "a larger --end-lr, " if self.stopped.startswith("reached") else "a smaller --start-lr, "
        return (f"no rate learned much: the smoothed loss fell only {max(drop, 0):.0%} ({where}), so the suggestion "
                f"is a guess. Try {higher}more --steps (each rate gets one mini-batch) or another --optimizer.")

    def plot(self, ax=None):
        """The smoothed loss against lr (log scale), the suggestion marked; returns the axes."""
        if ax is None:
            ax = figure_class()(figsize=(6, 4), layout="constrained").subplots()
        ax.plot(self.lrs, self.losses, color="lightgray", lw=1, label="loss per mini-batch")
        ax.plot(self.lrs, self.smoothed, color="C0", label="smoothed loss")
        ax.axhline(self.start_loss(), color="gray", ls=":", lw=1,
                   label=f"the loss at the start: {self.start_loss():.3g} (a fall of a tenth counts)")
        ax.axvline(self.suggestion, color="C3", ls="--", label=f"suggested lr {self.suggestion:.3g} ({self.rule})")
        seen = [v for v in self.losses + self.smoothed if np.isfinite(v)]
        low, top = min(seen), max(self.smoothed[0] * 1.5, min(self.smoothed) * 1.5)  # the divergence runs off
        ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss",
               title="learning-rate range test: " + self.verdict().split(":")[0], ylim=(low - 0.05 * (top - low), top))
        ax.legend(fontsize=8)
        return ax


def lr_find(model, loss_fn, data, start_lr=1e-7, end_lr=10, num_steps=100, optimizer="sgd", batch_size=32,
            beta=0.98, diverge_threshold=4.0, suggest="steepest", rng=None):
    """The learning-rate range test (Smith 2017; fastai's `lr_find`, Lightning's tuner): look before you walk.

    Takes `num_steps` mini-batch steps while raising the learning rate exponentially from `start_lr` to `end_lr`,
    recording the loss before each step. At tiny rates the loss barely moves, then it falls, and at rates that
    are too large it shoots up: the test stops once the smoothed loss exceeds `diverge_threshold` times its best
    (or is NaN). The loss is smoothed by an exponential moving average with weight `beta`, bias-corrected.

    `optimizer` is a name from `optim.BY_NAME` (a fresh one is made) or an Optimizer over the model's weights.
    Nothing is changed by looking: the weights, their `.grad`, the model's train/eval mode and the optimizer's
    state and hyperparameters are restored afterwards exactly (bit for bit).

    `suggest` chooses the rule: "steepest" (the rate where the smoothed loss falls fastest per factor of lr,
    ignoring the first tenth and the last point, as Lightning does) or "minimum" (the rate of the smoothed
    minimum, divided by 10, as fastai's `lr_min`). Returns an LRFinderResult with both.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got start_lr={start_lr!r}, end_lr={end_lr!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 3:
        raise ValueError(f"num_steps must be an int >= 3 (a curve needs a few points), not {num_steps!r}")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must lie in [0, 1), not {beta!r}")
    if suggest not in ("steepest", "minimum"):
        raise ValueError(f"suggest must be 'steepest' or 'minimum', not {suggest!r}")
    X, y = data
    if len(X) != len(y):
        raise ValueError(f"data: X and y must have the same number of samples, got {len(X)} and {len(y)}")
    params = model.parameters()
    hiker = optim.make_optimizer(optimizer, params, start_lr) if isinstance(optimizer, str) else optimizer
    if not isinstance(hiker, optim.Optimizer):
        raise TypeError(f"optimizer must be a name ({', '.join(optim.BY_NAME)}) or an Optimizer, not "
                        f"{type(optimizer).__name__}")
    # Saved before the first step, restored in `finally`: an error or Ctrl-C midway leaves the model as it was.
    # The gradients are kept by reference: zero_grad replaces .grad (it never writes into it), so they stay intact.
    weights, hiker_state, grads = model.state_dict(), hiker.state_dict(), [p.grad for p in params]
    modes = [(m, m.training) for m in model.modules()]
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(num_steps) / (num_steps - 1))
    rng = np.random.default_rng(rng)
    losses_seen, smoothed, average, stopped = [], [], 0.0, f"reached end_lr {end_lr:g} after {num_steps} steps"
    try:
        model.train()
        stream = (batch for _ in itertools.count() for batch in batches(X, y, batch_size, rng=rng))  # epoch after epoch
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for lr, (X_batch, y_batch) in zip(lrs, stream, strict=False):  # the stream never ends
                for group in hiker.param_groups:
                    group["lr"] = float(lr)
                loss = loss_fn(model(Value(X_batch)), y_batch)
                value = loss.item()
                average = beta * average + (1 - beta) * value
                losses_seen.append(value)
                smoothed.append(average / (1 - beta ** len(losses_seen)))  # bias-corrected, as Adam's moments
                if not np.isfinite(smoothed[-1]) or smoothed[-1] > diverge_threshold * min(smoothed):
                    stopped = (f"diverged at lr {lr:.3g} (step {len(losses_seen)}): the smoothed loss passed "
                               f"{diverge_threshold:g}x its best")
                    break
                hiker.zero_grad()
                loss.backward()
                hiker.step()
    finally:
        model.load_state_dict(weights)
        hiker.load_state_dict(hiker_state)
        for p, grad in zip(params, grads, strict=True):
            p.grad = grad
        for m, mode in modes:
            m.training = mode
    return _suggest(lrs[:len(losses_seen)], losses_seen, smoothed, suggest, stopped)


def _suggest(lrs, losses_seen, smoothed, suggest, stopped):
    finite = np.isfinite(smoothed)
    curve = np.where(finite, smoothed, np.inf)
    min_lr_div10 = float(lrs[int(np.argmin(curve))] / 10)
    skip = len(lrs) // 10  # the first steps: the average is still warming up, its slope says little
    window = np.arange(skip, len(lrs) - 1)
    window = window[finite[window]]
    if len(window) >= 2:
        slopes = np.gradient(curve[window], np.log(lrs[window]))  # change per factor e of lr
        steepest_lr = float(lrs[window[int(np.argmin(slopes))]])
    else:  # diverged almost at once: too few points for a slope
        steepest_lr, suggest = min_lr_div10, "minimum"
    rule = ("steepest descent of the smoothed loss" if suggest == "steepest" else "the minimum's rate / 10")
    suggestion = steepest_lr if suggest == "steepest" else min_lr_div10
    return LRFinderResult([float(r) for r in lrs], losses_seen, smoothed, steepest_lr, min_lr_div10, suggestion,
                          rule, stopped)


# ---- the `tinygrad-gd train moons|digits` demos ------------------------------------------------------------------


def digits_cnn(rng=None):
    """A small CNN for 8x8 digits: 16 3x3 filters, ReLU, 2x2 max-pool, then one Linear layer to 10 logits."""
    rng = generator(rng)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 4 * 4, 10, rng=rng))


def demo_problem(dataset, rng, seed=0):
    """The model, training data and held-out data (None for moons) of the `train` and `lr-find` demos."""
    if dataset == "moons":
        return nn.MLP([2, 16, 16, 2], rng=rng), data.make_moons(200, noise=0.1, rng=seed), None
    if dataset != "digits":
        raise ValueError(f"unknown dataset {dataset!r}; choose 'moons' or 'digits'")
    X_all, y_all = data.load_digits()
    X, X_test, y, y_test = data.train_test_split(X_all, y_all, test_fraction=0.2, rng=0)  # fixed split
    return digits_cnn(rng), (X, y), (X_test, y_test)


@dataclass
class Verdict:
    """Whether training learned: `kind` is "learned", "partly learned", "not learned" or "diverged"."""

    kind: str
    message: str


def judge(start_loss, end_loss, epoch_losses, accuracy, n_classes, split="training", lr=None, diverged=None,
          val_losses=None):
    """Say whether learning happened, with the numbers that show it, and what to try when it did not.

    Compares the loss of the model before training (`start_loss`) and after (`end_loss`) with ln(n_classes),
    the cross-entropy of guessing every class equally (where a model that learned nothing sits), and the
    accuracy on `split` with chance, 1/n_classes. Learning means the loss fell by more than a tenth, ended
    below guessing's, and the accuracy rose above chance: "learned" when it went four fifths of the way from
    chance to 100%, "partly learned" from a quarter, and below a quarter it counts as chance. An epoch whose
    mean loss passed 10x the start is named (a blow-up the end alone would hide). `diverged` is the
    TrainingDiverged of a run that stopped at NaN or infinity; `lr` makes the advice concrete ("--lr 10").
    `val_losses` (held-out loss per epoch), when given, adds a note if it ended 20% above its best: memorising.
    """
    chance, guessing = 1 / n_classes, math.log(n_classes)
    odds = f"chance ({chance:.0%}: 1 class in {n_classes})"
    smaller = "try one ten times smaller" + (f" (--lr {lr / 10:g})" if lr else "")
    if diverged is not None:
        then = f" and {epoch_losses[-1]:.3g} in epoch {len(epoch_losses)}" if epoch_losses else ""
        return Verdict("diverged", f"diverged: {diverged.event}. The loss was {start_loss:.3g} before training"
                                   f"{then}: the steps overshoot and grow. The learning rate is too large; "
                                   f"{smaller}.")
    peak = max(epoch_losses)
    gain = (accuracy - chance) / (1 - chance)
    fell, rose = end_loss < 0.9 * start_loss, end_loss > 1.1 * start_loss
    spiked = peak > 10 * max(start_loss, guessing)
    ratio = float(f"{start_loss / end_loss:.3g}") if end_loss > 0 else math.inf  # 4,040x, not 4.04e+03x
    factor = ("to 0" if end_loss == 0 else f"{ratio:.3g}x" if ratio >= 1e5 else f"{ratio:,.0f}x" if ratio >= 1000
              else f"{ratio:g}x")
    change = (f"fell {factor} ({start_loss:.3g} -> {end_loss:.3g})" if fell else
              f"rose {start_loss:.3g} -> {end_loss:.3g}" if rose else
              f"barely moved ({start_loss:.3g} -> {end_loss:.3g})")
    if spiked:
        change += f" after a blow-up to {peak:.3g} in epoch {epoch_losses.index(peak) + 1}"
    score = f"{split} accuracy {accuracy:.1%}"
    if fell and end_loss < guessing and gain >= 0.25:
        if gain >= 0.8:
            return Verdict("learned", f"learned: the loss {change}, and {score} is far above {odds}."
                           + _memorising(val_losses))
        advice = (f"The blow-up says the learning rate is too large: {smaller}." if spiked else
                  "More epochs or a larger learning rate may take it further.")
        return Verdict("partly learned", f"partly learned: the loss {change}, and {score} is above {odds}, "
                                         f"far from 100%. {advice}")
    accuracy_said = f"{score} is no better than {odds}" if gain < 0.25 else f"{score} against {odds}"
    worse = (f", worse than guessing ({guessing:.3g})," if end_loss > 1.02 * guessing else
             f", about guessing's ({guessing:.3g})," if end_loss >= 0.98 * guessing else "")
    if rose or spiked:
        advice = f"The steps overshoot: the learning rate is too large; {smaller}."
    elif not fell:
        advice = ("The steps are too small or too few: try a larger learning rate"
                  + (f" (--lr {lr * 10:g})" if lr else "") + " or more epochs.")
    else:
        advice = "The loss is falling, slowly: try more epochs or a larger learning rate."
    return Verdict("not learned", f"not learned: the loss {change}{worse} and {accuracy_said}. {advice}")


def _memorising(val_losses):
    """A note when the held-out loss ended 20% above its best while training went on: overfitting."""
    if not val_losses or val_losses[-1] <= 1.2 * min(val_losses):
        return ""
    best = min(val_losses)
    return (f" The held-out loss rose from its best, {best:.3g} in epoch {val_losses.index(best) + 1}, to "
            f"{val_losses[-1]:.3g}: it has begun to overfit its training data; more epochs will not help.")


def run_demo(dataset, optimizer="adam", lr=0.01, epochs=50, batch_size=32, seed=0, plot=None, progress=None,
             out=None):
    """Train an MLP on two moons or a CNN on the digits; print the final loss, the accuracy and the verdict.

    Moons report training accuracy (the point is to fit the curved boundary); digits report accuracy on a fixed
    held-out 20% the model never trained on. A run whose loss becomes NaN or infinite stops there and is
    reported as "diverged" (not raised: it is an outcome of the experiment, as in `descend`).
    Returns {"loss", "accuracy", "start_loss", "history", "verdict"}; every printed line fits 80 columns.
    """
    out = out or sys.stdout
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, not {epochs!r}: there is no final loss without one")
    if dataset not in ("moons", "digits"):
        raise ValueError(f"unknown dataset {dataset!r}; choose 'moons' or 'digits'")
    if optimizer not in optim.BY_NAME:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(optim.BY_NAME)}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):  # said before the header, not after it
        raise ValueError(f"batch_size must be a positive int or None (full batch), not {batch_size!r}")
    if plot is not None:  # fail before training, not after, when matplotlib is missing or the folder is
        figure_class()
        folder = os.path.dirname(os.path.abspath(plot))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"cannot write {plot}: the folder {folder} does not exist")
    rng = np.random.default_rng(seed)
    model, (X, y), val_data = demo_problem(dataset, rng, seed)
    n_classes = int(max(y.max(), -1 if val_data is None else val_data[1].max())) + 1
    hiker = optim.make_optimizer(optimizer, model.parameters(), lr)
    say = lambda text: print(textwrap.fill(text, 80, break_on_hyphens=False), file=out)  # noqa: E731
    say(f"{dataset}: {type(model).__name__} with {sum(p.numel() for p in model.parameters())} weights, "
        f"{optimizer} lr={lr:g}, {epochs} epochs, "
        + (f"batch size {batch_size}" if batch_size else f"full batch ({len(X)} samples)"))
    start_loss = _evaluate(model, losses.cross_entropy, None, X, y)[0]
    diverged = None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported by fit, once
        try:
            history = fit(model, losses.cross_entropy, hiker, (X, y), epochs, batch_size=batch_size,
                          metric=accuracy, val_data=val_data, rng=rng, progress=progress)
        except TrainingDiverged as error:
            history, diverged = error.history, error
    which = "training" if val_data is None else "held-out"
    scores = history["metric"] if val_data is None else history.get("val_metric", [])
    end_loss = math.nan if diverged else _evaluate(model, losses.cross_entropy, None, X, y)[0]
    result = {"start_loss": start_loss, "loss": end_loss, "accuracy": scores[-1] if scores else math.nan,
              "history": history}
    if diverged is None and val_data is None:
        say(f"final loss {end_loss:.3g} ({start_loss:.3g} before training), training accuracy "
            f"{result['accuracy']:.1%}")
    elif diverged is None:
        say(f"final loss {end_loss:.3g} ({start_loss:.3g} before training), held-out loss "
            f"{history['val_loss'][-1]:.3g}")
        say(f"held-out accuracy {result['accuracy']:.1%} (on {len(val_data[1])} digits it never trained on)")
    result["verdict"] = judge(start_loss, end_loss, history["loss"], result["accuracy"], n_classes, which, lr,
                              diverged, history.get("val_loss"))
    say(result["verdict"].message)
    if plot is not None:
        say(f"plot saved to {_plot(history, plot, dataset, model, X, y, start_loss, end_loss, n_classes, diverged)}")
    return result


def _plot(history, path, dataset, model, X, y, start_loss, end_loss, n_classes, diverged=None):
    """The score per epoch from epoch 0 (before training), beside the decision boundary (moons) or the
    accuracy on the training and held-out data (digits); guessing's loss and chance's accuracy are dashed."""
    moons = dataset == "moons"
    fig = figure_class()(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    epochs = range(len(history["loss"]) + 1)
    left.plot(epochs, [start_loss, *history["loss"]], marker="." if len(epochs) < 20 else None,
              label="training loss (0: before training, then epoch means)")
    if "val_loss" in history and history["val_loss"]:
        left.plot(epochs[1:len(history["val_loss"]) + 1], history["val_loss"], label="held-out loss")
    if np.isfinite(end_loss):
        left.plot([len(history["loss"])], [end_loss], "o", color="C0", mfc="white",
                  label=f"the trained model: {end_loss:.3g}")
    left.axhline(math.log(n_classes), color="gray", ls="--", lw=1,
                 label=f"guessing: ln {n_classes} = {math.log(n_classes):.3g}")
    log = len(history["loss"]) > 1  # one point on a log axis gets ticks like 6.94 x 10^-1
    if diverged is not None:
        left.axvline(len(history["loss"]) + 1, color="C3", ls=":",
                     label=f"NaN or infinite in epoch {len(history['loss']) + 1}: stopped")
        left.text(0.5, 0.5, textwrap.fill(diverged.event, 36), transform=left.transAxes, ha="center",
                  va="center", color="C3")
        if not log:
            left.set(ylim=(0, 1.5 * max(start_loss, math.log(n_classes))))
    left.set(xlabel="epoch (0: before training)", ylabel="cross-entropy loss (the score"
             + (", log scale)" if log else ")"), yscale="log" if log else "linear", title="descent")
    left.legend(fontsize=8, loc="best")
    if moons:
        finite = all(np.isfinite(p.data).all() for p in model.parameters())
        if finite:
            xx, yy = np.meshgrid(np.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 200),
                                 np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 200))
            logits = _forward(model, np.column_stack([xx.ravel(), yy.ravel()])).data
            right.contourf(xx, yy, logits.argmax(axis=1).reshape(xx.shape), levels=[-0.5, 0.5, 1.5],
                           colors=["C0", "C3"], alpha=0.25)
        for k, colour in enumerate(["C0", "C3"]):
            right.scatter(*X[y == k].T, color=colour, s=12, edgecolors="k", linewidths=0.3,
                          label=f"class {k} ({'upper' if k == 0 else 'lower'} moon)")
        accuracy_now = f"training accuracy {history['metric'][-1]:.1%}" if history.get("metric") else ""
        right.set(xlabel="x[0] (first feature)", ylabel="x[1] (second feature)",
                  title=f"decision boundary (shaded: the class predicted)\n{accuracy_now}" if finite else
                  "no decision boundary:\nthe weights are NaN or infinite")
        right.legend(fontsize=8, loc="lower left")
    else:
        for key, label in (("metric", "training"), ("val_metric", "held-out")):
            if history.get(key):
                right.plot(range(1, len(history[key]) + 1), history[key], label=f"{label} accuracy")
        right.axhline(1 / n_classes, color="gray", ls="--", lw=1, label=f"chance: 1 in {n_classes}")
        right.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="accuracy: training and held-out")
        right.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        right.legend(fontsize=8, loc="lower right")
    for axes in (left, right):
        if not moons or axes is left:
            axes.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    return save_figure(fig, path)
