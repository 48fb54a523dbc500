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
import os
import sys

import numpy as np

from . import data, losses, nn, optim
from .data import batches
from .descent import figure_class, save_figure
from .random import generator
from .value import Value, no_grad


class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite: the steps overshoot and grow instead of settling into the valley."""


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
    """A tqdm bar over epochs when tqdm is installed and stdout is a terminal (or progress=True); else None."""
    if progress is False or (progress is None and not sys.stdout.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None  # tqdm is an optional extra: training works the same without a bar
    try:  # a widget bar in notebooks, but only where ipywidgets exists; tqdm.auto warns without it
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        pass
    return tqdm(total=epochs, unit="epoch", leave=False)


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
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            total, seen = 0.0, 0
            for step, (X_batch, y_batch) in enumerate(batches(X, y, batch_size, rng=rng), start=1):
                loss = loss_fn(model(Value(X_batch)), y_batch)  # the score
                value = loss.item()
                if not np.isfinite(value):
                    raise TrainingDiverged(
                        f"the loss became {value} at epoch {epoch}, step {step}: the steps overshoot and grow. "
                        f"The learning rate is probably too large; try one ten times smaller.")
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
                bar.update(1)
                bar.set_postfix({k: f"{v[-1]:.4f}" for k, v in history.items()})
            if callback is not None and callback(epoch, history):
                break
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
    return TrainingDiverged(f"the {what} became NaN or infinite after the last step of epoch {epoch} (step {step}): "
                            f"the step overshot. The learning rate is probably too large; try one ten times smaller.")


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
        """A few lines: the curve sampled at `rows` rates with a bar per loss, then both rules' rates."""
        pick = np.unique(np.linspace(0, len(self.lrs) - 1, min(rows, len(self.lrs))).round().astype(int))
        low, high = min(self.smoothed), max(self.smoothed[i] for i in pick)
        lines = [f"{'lr':>9}  {'smoothed loss':>13}"]
        for i in pick:
            bar = "#" * (1 + round(30 * (self.smoothed[i] - low) / ((high - low) or 1)))
            lines.append(f"{self.lrs[i]:9.2e}  {self.smoothed[i]:13.4f}  {bar}")
        lines.append(f"stopped: {self.stopped}")
        lines.append(f"steepest descent of the smoothed loss at lr {self.steepest_lr:.2e}; "
                     f"the minimum's rate / 10 is {self.min_lr_div10:.2e}")
        lines.append(f"suggested lr: {self.suggestion:.2e} ({self.rule})")
        return "\n".join(lines)

    def plot(self, ax=None):
        """The smoothed loss against lr (log scale), the suggestion marked; returns the axes."""
        if ax is None:
            ax = figure_class()(figsize=(6, 4), layout="constrained").subplots()
        ax.plot(self.lrs, self.losses, color="lightgray", lw=1, label="loss per mini-batch")
        ax.plot(self.lrs, self.smoothed, color="C0", label="smoothed loss")
        ax.axvline(self.suggestion, color="C3", ls="--", label=f"suggested lr {self.suggestion:.2g} ({self.rule})")
        seen = [v for v in self.losses + self.smoothed if np.isfinite(v)]
        low, top = min(seen), max(self.smoothed[0] * 1.5, min(self.smoothed) * 1.5)  # the divergence runs off
        ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="training loss",
               title="learning-rate range test", ylim=(low - 0.05 * (top - low), top))
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
                    stopped = (f"diverged at lr {lr:.2e} (step {len(losses_seen)}): the smoothed loss passed "
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


def run_demo(dataset, optimizer="adam", lr=0.01, epochs=50, batch_size=32, seed=0, plot=None, progress=None,
             out=None):
    """Train an MLP on two moons or a CNN on the digits; print and return the final loss and accuracy.

    Moons report training accuracy (the point is to fit the curved boundary); digits report accuracy on a fixed
    held-out 20% the model never trained on.
    """
    out = out or sys.stdout
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, not {epochs!r}: there is no final loss without one")
    if dataset not in ("moons", "digits"):
        raise ValueError(f"unknown dataset {dataset!r}; choose 'moons' or 'digits'")
    if optimizer not in optim.BY_NAME:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(optim.BY_NAME)}")
    if plot is not None:  # fail before training, not after, when matplotlib is missing or the folder is
        figure_class()
        folder = os.path.dirname(os.path.abspath(plot))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"cannot write {plot}: the folder {folder} does not exist")
    rng = np.random.default_rng(seed)
    model, (X, y), val_data = demo_problem(dataset, rng, seed)
    hiker = optim.make_optimizer(optimizer, model.parameters(), lr)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported by fit, once
        history = fit(model, losses.cross_entropy, hiker, (X, y), epochs, batch_size=batch_size, metric=accuracy,
                      val_data=val_data, rng=rng, progress=progress)
    which = "training" if val_data is None else "held-out"
    result = {"loss": history["loss"][-1], "accuracy": (history["metric"] if val_data is None
                                                        else history["val_metric"])[-1], "history": history}
    print(f"{dataset}: {type(model).__name__} with {sum(p.numel() for p in model.parameters())} weights, "
          f"{optimizer} lr={lr}, {epochs} epochs, batch size {batch_size}", file=out)
    print(f"final loss {result['loss']:.4f}, {which} accuracy {result['accuracy']:.2%}", file=out)
    if plot is not None:
        print(f"plot saved to {_plot(history, plot, dataset, model, X, y)}", file=out)
    return result


def _plot(history, path, dataset, model, X, y):
    """The score per epoch; for moons also the decision boundary the model learned."""
    moons = dataset == "moons"
    fig = figure_class()(figsize=(10 if moons else 5, 4), layout="constrained")
    axes = fig.subplots(1, 2 if moons else 1, squeeze=False)
    axes[0, 0].plot(range(1, len(history["loss"]) + 1), history["loss"], label="training loss")
    if "val_loss" in history:
        axes[0, 0].plot(range(1, len(history["val_loss"]) + 1), history["val_loss"], label="held-out loss")
    axes[0, 0].set(xlabel="epoch", ylabel="loss (the score)", yscale="log", title="descent")
    axes[0, 0].legend()
    if moons:
        xx, yy = np.meshgrid(np.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 200),
                             np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 200))
        logits = _forward(model, np.column_stack([xx.ravel(), yy.ravel()])).data
        axes[0, 1].contourf(xx, yy, logits.argmax(axis=1).reshape(xx.shape), alpha=0.3, cmap="coolwarm")
        axes[0, 1].scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=12, edgecolors="k", linewidths=0.3)
        axes[0, 1].set(title="decision boundary")
    return save_figure(fig, path)
