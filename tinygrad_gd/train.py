"""Training: the one place where the score, the map and the hiker meet.

Each step of `fit` is the whole story of gradient descent in four lines:

    loss = loss_fn(model(X_batch), y_batch)   # the score: how wrong the model is on this batch
    optimizer.zero_grad()                     # forget the last step's slopes (backward adds up)
    loss.backward()                           # the map: d(score)/d(weight) for every weight
    optimizer.step()                          # the hiker: move every weight a little downhill

Everything else here is bookkeeping: batches, a history of the score per epoch, a progress bar, and a clear
stop when the score blows up (the hiker overshooting: the learning rate is too large).
"""

import os
import sys

import numpy as np

from . import data, losses, nn, optim
from .data import batches
from .descent import figure_class
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


def _diverged(what, epoch, step):
    return TrainingDiverged(f"the {what} became NaN or infinite after the last step of epoch {epoch} (step {step}): "
                            f"the step overshot. The learning rate is probably too large; try one ten times smaller.")


def _forward(model, X):
    with no_grad():
        return model(Value(X))


# ---- the `tinygrad-gd train moons|digits` demos ------------------------------------------------------------------


def digits_cnn(rng=None):
    """A small CNN for 8x8 digits: 16 3x3 filters, ReLU, 2x2 max-pool, then one Linear layer to 10 logits."""
    rng = generator(rng)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 4 * 4, 10, rng=rng))


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
    if dataset == "moons":
        X, y = data.make_moons(200, noise=0.1, rng=seed)
        model, val_data = nn.MLP([2, 16, 16, 2], rng=rng), None
    else:
        X_all, y_all = data.load_digits()
        X, X_test, y, y_test = data.train_test_split(X_all, y_all, test_fraction=0.2, rng=0)  # fixed split
        model, val_data = digits_cnn(rng), (X_test, y_test)
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
        _plot(history, plot, dataset, model, X, y)
        print(f"plot saved to {plot}", file=out)
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
    fig.savefig(path, dpi=100)
