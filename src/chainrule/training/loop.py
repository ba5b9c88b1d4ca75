"""The minibatch training loop.

``train`` runs epochs of shuffled minibatches through a ``TrainingStep``
and an optimizer, evaluates after each epoch, and returns the history. It
never prints: a caller who wants progress passes a callback.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..arrays import namespace_of, to_numpy
from .optimizers import SGD
from .schedules import ConstantSchedule
from .step import TrainingStep


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss, gradient or parameter."""

    def __init__(self, message, epoch, step, layer):
        super().__init__(message)
        self.epoch, self.step, self.layer = epoch, step, layer


@dataclass
class Progress:
    """What a callback receives after every step.

    ``record`` is set (to the finished epoch's ``EpochRecord``) on the last
    step of each epoch and None otherwise.
    """

    epoch: int
    n_epochs: int
    step: int
    n_steps: int
    loss: float
    running_loss: float
    record: EpochRecord | None = None


@dataclass
class EpochRecord:
    """One epoch's line of the history."""

    epoch: int
    learning_rate: float
    running_loss: float
    train_loss: float
    test_loss: float | None
    train_accuracy: float | None
    test_accuracy: float | None
    seconds: float
    extra: dict = field(default_factory=dict)


def _silence_overflow_warnings(function):
    """Run ``function`` with NumPy's overflow warnings off.

    A diverging run overflows; the loop detects that itself and raises a
    DivergenceError naming the epoch, step and layer, so NumPy's warnings
    would only repeat it less precisely.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return function(*args, **kwargs)

    return wrapper


@_silence_overflow_warnings
def train(
    network,
    x,
    y,
    loss,
    *,
    epochs=50,
    batch_size=100,
    learning_rate=0.05,
    schedule=None,
    optimizer=None,
    rng,
    x_test=None,
    y_test=None,
    callback=None,
    monitor=None,
    step=None,
):
    """Train ``network`` in place by minibatch gradient descent.

    Parameters
    ----------
    network : Network
        Updated in place.
    x : array of shape (D_i, N)
        Training inputs, one column per example, with the network's dtype.
    y : array
        Targets in the loss's layout: (D_o, N) for least squares and
        binary cross-entropy, integer labels (N,) for cross-entropy.
    loss : a loss from ``chainrule.losses``
    epochs : int, default 50
    batch_size : int, default 100
        The last batch of an epoch is smaller when N is not a multiple.
    learning_rate : float, default 0.05
        Used when ``schedule`` is None (a constant rate).
    schedule : callable epoch → learning rate, optional
    optimizer : optimizer, default SGD with momentum 0.9
    rng : numpy.random.Generator or int
        Shuffles the examples at the start of every epoch.
    x_test, y_test : arrays, optional
        Evaluated after every epoch.
    callback : callable(Progress), optional
        Called after every step.
    monitor : object, optional
        Gradient-flow diagnostics. When given, its ``start_epoch(epoch)``
        is called at the start of each epoch, ``after_gradient(network,
        step)`` after each gradient (before the update),
        ``after_update(network, step)`` after each update, and
        ``end_epoch(epoch)`` at the end of each epoch, whose returned dict
        is stored in the epoch's ``EpochRecord.extra``.
    step : TrainingStep-like, optional
        Computes (loss, ``step.gradient``) for a batch; default
        ``TrainingStep(network, loss)``. Data-parallel training passes a
        step that all-reduces the gradient across processes.

    Returns
    -------
    list of EpochRecord

    Raises
    ------
    DivergenceError
        When the loss or a parameter stops being finite; the message names
        the epoch, step and first layer affected.
    """
    rng = _as_generator(rng)
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    schedule = schedule or ConstantSchedule(learning_rate)
    optimizer = optimizer or SGD(momentum=0.9)
    xp = network.xp
    n_examples = x.shape[1]
    _check_targets(x, y, loss, network)

    # Shuffle in the rows layout: a batch is then a contiguous block of
    # rows, and its transpose is the (D_i, B) column batch BLAS reads.
    rows = x.T
    shuffled_rows = (
        xp.empty_like(rows) if not _is_np(rows) else np.empty(rows.shape, rows.dtype)
    )
    y_axis = len(y.shape) - 1
    shuffled_y = xp.empty_like(y)

    step = step or TrainingStep(network, loss)
    n_steps = math.ceil(n_examples / batch_size)
    history = []
    for epoch in range(epochs):
        started = time.perf_counter()
        learning_rate_now = schedule(epoch)
        order = rng.permutation(n_examples)
        _take(rows, order, 0, shuffled_rows, xp)
        _take(y, order, y_axis, shuffled_y, xp)
        total = 0.0
        if monitor is not None:
            monitor.start_epoch(epoch)
        for index in range(n_steps):
            start = index * batch_size
            stop = min(start + batch_size, n_examples)
            batch_x = shuffled_rows[start:stop, ...].T
            if y_axis == 0:
                batch_y = shuffled_y[start:stop]
            else:
                batch_y = shuffled_y[:, start:stop]
            value = step(batch_x, batch_y)
            if not math.isfinite(value):
                raise _divergence(network, step, epoch, index, "loss")
            if monitor is not None:
                monitor.after_gradient(network, step)
            optimizer.step(network.parameters, step.gradient, learning_rate_now)
            if monitor is not None:
                monitor.after_update(network, step)
            total += value * (stop - start)
            if callback is not None:
                callback(
                    Progress(
                        epoch,
                        epochs,
                        index,
                        n_steps,
                        value,
                        total / stop,
                    )
                )
        if not bool(xp.all(xp.isfinite(network.parameters))):
            raise _divergence(network, step, epoch, n_steps - 1, "parameter")
        record = EpochRecord(
            epoch=epoch + 1,
            learning_rate=learning_rate_now,
            running_loss=total / n_examples,
            train_loss=math.nan,
            test_loss=None,
            train_accuracy=None,
            test_accuracy=None,
            seconds=0.0,
        )
        record.train_loss, record.train_accuracy = evaluate(network, x, y, loss)
        if x_test is not None:
            record.test_loss, record.test_accuracy = evaluate(
                network, x_test, y_test, loss
            )
        if monitor is not None:
            record.extra.update(monitor.end_epoch(epoch))
        record.seconds = time.perf_counter() - started
        history.append(record)
        if callback is not None:
            callback(
                Progress(
                    epoch,
                    epochs,
                    n_steps - 1,
                    n_steps,
                    value,
                    total / n_examples,
                    record,
                )
            )
    return history


def evaluate(network, x, y, loss, chunk=4096):
    """Return (mean loss, accuracy or None) of ``network`` on (x, y).

    Accuracy is reported for classification losses: the arg-max class for
    cross-entropy, and for binary cross-entropy the fraction of outputs
    whose thresholded probability (σ(f) ≥ ½, i.e. f ≥ 0) matches y.
    """
    xp = namespace_of(x)
    n_examples = x.shape[1]
    total, correct = 0.0, 0.0
    for start in range(0, n_examples, chunk):
        stop = min(start + chunk, n_examples)
        output = network.predict(x[:, start:stop])
        part_y = y[start:stop] if len(y.shape) == 1 else y[:, start:stop]
        value = loss.value(output, part_y)
        total += float(xp.astype(value, xp.float64)) * (stop - start)
        if loss.name == "cross-entropy":
            hits = xp.argmax(output, axis=0) == part_y
            correct += float(xp.sum(xp.astype(hits, xp.float64)))
        elif loss.name == "binary-cross-entropy":
            hits = xp.astype(output >= 0, output.dtype) == part_y
            correct += float(xp.mean(xp.astype(hits, xp.float64))) * (stop - start)
    accuracy = correct / n_examples if loss.is_classification else None
    return total / n_examples, accuracy


def _divergence(network, step, epoch, index, what):
    xp = network.xp
    layer = None
    for k in range(len(network.omega)):
        finite_params = xp.all(xp.isfinite(network.omega[k])) and xp.all(
            xp.isfinite(network.beta[k])
        )
        finite_grads = xp.all(xp.isfinite(step.grad_omega[k])) and xp.all(
            xp.isfinite(step.grad_beta[k])
        )
        if not (bool(finite_params) and bool(finite_grads)):
            layer = k
            break
    where = f"layer {layer}" if layer is not None else "the loss"
    message = (
        f"training diverged at epoch {epoch + 1}, step {index + 1}: the "
        f"{what} became non-finite (first affected: {where}); try a "
        "smaller learning rate"
    )
    return DivergenceError(message, epoch + 1, index + 1, layer)


def _check_targets(x, y, loss, network):
    n_examples = x.shape[1]
    if n_examples == 0:
        raise ValueError("the training set is empty")
    if loss.name == "cross-entropy":
        if tuple(y.shape) != (n_examples,):
            raise ValueError(
                f"cross-entropy needs labels of shape (N,) = ({n_examples},),"
                f" got {tuple(y.shape)}"
            )
        labels = to_numpy(y)
        n_classes = network.sizes[-1]
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(
                f"labels must lie in 0 … {n_classes - 1} for a network with "
                f"{n_classes} outputs; found {labels.min()} … {labels.max()}"
            )
    else:
        expected = (network.sizes[-1], n_examples)
        if tuple(y.shape) != expected:
            raise ValueError(
                f"{loss.name} needs targets of shape (D_o, N) = {expected}, "
                f"got {tuple(y.shape)}"
            )


def _take(source, order, axis, out, xp):
    if _is_np(source):
        np.take(source, order, axis=axis, out=out)
    else:
        index = xp.asarray(order, device=getattr(source, "device", None))
        out[...] = xp.take(source, index, axis=axis)


def _is_np(array):
    return isinstance(array, np.ndarray)


def _as_generator(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}"
    )


def _check_positive_int(name, value):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
