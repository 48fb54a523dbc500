"""Training: the one place where the score, the map and the hiker meet.

Each step of `fit` is the whole story of gradient descent in four lines:

    loss = loss_fn(model(X_batch), y_batch)   # the score: how wrong the model is on this batch
    optimizer.zero_grad()                     # forget the last step's slopes (backward adds up)
    loss.backward()                           # the map: d(score)/d(weight) for every weight
    optimizer.step()                          # the hiker: move every weight a little downhill

Everything else here is bookkeeping: batches, a history of the score per epoch, a progress bar, and a clear
stop when the score blows up (the hiker overshooting: the learning rate is too large).
"""

import sys

import numpy as np

from .data import batches
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
        from tqdm.auto import tqdm
    except ImportError:
        return None  # tqdm is an optional extra: training works the same without a bar
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
    Raises TrainingDiverged, naming the epoch and step, as soon as the loss is NaN or infinite.
    """
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, not {epochs!r}")
    X, y = data
    rng = np.random.default_rng(rng)  # one generator for all epochs: a new order every epoch, repeatable
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
            history["loss"].append(total / seen)
            model.eval()
            if metric is not None:
                history["metric"].append(metric(_forward(model, X), y))
            if val_data is not None:
                val_loss, val_metric = _evaluate(model, loss_fn, metric, *val_data)
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


def _forward(model, X):
    with no_grad():
        return model(Value(X))
