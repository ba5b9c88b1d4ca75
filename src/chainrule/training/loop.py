"""The minibatch training loop.

``train`` runs epochs of shuffled minibatches through a ``TrainingStep``
and an optimizer, evaluates after each epoch, and returns the history. It
never prints: a caller who wants progress passes a callback.

Everything that decides the rest of a run lives in the parameters, the
optimizer's state and a ``TrainingState`` (the epoch and step reached,
the loss summed so far in the epoch, the random generator's state before
the epoch's shuffle, the history and early stopping's record). A run
started again from those continues exactly as if it had never stopped:
the same shuffles, the same batches, bit-identical parameters.
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
from .validation import EarlyStopping

# Evaluation runs the network over this many examples at a time: enough
# for BLAS to run at full speed, small enough to add little memory (about
# 32 MiB for a 2048-unit network in float32).
EVALUATION_CHUNK = 1024


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss, gradient or parameter."""

    def __init__(self, message, epoch, step, layer):
        super().__init__(message)
        self.epoch, self.step, self.layer = epoch, step, layer


class TrainingInterruptedError(Exception):
    """Training stopped at a step boundary because a stop was requested.

    ``state`` is where it stopped; passing it back to ``train`` as
    ``resume`` (with the same parameters and optimizer state) continues
    the run exactly.
    """

    def __init__(self, state):
        super().__init__(
            f"training stopped at epoch {state.epoch + 1}, after step {state.step}"
        )
        self.state = state


@dataclass
class TrainingState:
    """Where a run stands, beyond its parameters and optimizer state.

    Attributes
    ----------
    epoch : int
        The epoch in progress, counting from 0 (at an epoch boundary, the
        next epoch to run: the number of finished epochs).
    step : int
        Steps of that epoch already taken; 0 at an epoch boundary.
    running_total : float
        Σ of batch loss × batch size over those steps.
    rng_state : dict
        ``rng.bit_generator.state`` before the epoch's shuffle: restoring
        it reproduces the epoch's order of examples.
    history : list of EpochRecord
        The finished epochs.
    early_stopping : EarlyStopping or None
        Its record of the best epoch so far.
    """

    epoch: int
    step: int
    running_total: float
    rng_state: dict
    history: list
    early_stopping: object = None

    @property
    def at_epoch_boundary(self):
        return self.step == 0


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
    validation_loss: float | None = None
    validation_accuracy: float | None = None


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
    x_validation=None,
    y_validation=None,
    early_stopping=None,
    resume=None,
    on_epoch_end=None,
    stop_requested=None,
    target_std=None,
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
    x_validation, y_validation : arrays, optional
        A validation set, evaluated after every epoch into the record's
        ``validation_loss`` and ``validation_accuracy``.
    early_stopping : EarlyStopping or int, optional
        Stop when the validation loss has not improved for this many
        epochs, then restore the best epoch's parameters (an int is the
        patience). Needs the validation set.
    resume : TrainingState, optional
        Continue a run from this state. The network's parameters and the
        optimizer's state must be those saved with it; ``epochs`` is the
        run's total, counting the epochs already done.
    on_epoch_end : callable(TrainingState), optional
        Called after each finished epoch (after ``callback``) with the
        state at the epoch boundary, e.g. to write a checkpoint.
    stop_requested : callable() → bool, optional
        Checked after every step; when it returns True, training stops at
        that step boundary and raises ``TrainingInterruptedError``.
    target_std : array of shape (D_o,), optional
        Least squares only: the targets (training, validation and test)
        were standardized, each output j divided by its standard deviation
        std_j. Training is unchanged, but the losses evaluated at each
        epoch's end are reported in the targets' original units,
        ℓ = Σ_j std_j² (f_j − y_j)² averaged over examples, one factor per
        output. ``running_loss`` stays on the standardized targets.

    Returns
    -------
    list of EpochRecord
        Every finished epoch, including those before ``resume``. When
        early stopping ends the run, the network holds the best epoch's
        parameters, not the last epoch's.

    Raises
    ------
    DivergenceError
        When a batch loss or a parameter stops being finite, or the loss
        evaluated at an epoch's end on the training, validation or test
        set does; the message names the epoch, step and first layer
        affected. It is raised before ``on_epoch_end``, so a checkpoint
        written there is the last good one.
    TrainingInterruptedError
        When ``stop_requested`` asked to stop; it carries the state to
        resume from.
    """
    rng = _as_generator(rng)
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    schedule = schedule or ConstantSchedule(learning_rate)
    optimizer = optimizer or SGD(momentum=0.9)
    xp = network.xp
    n_examples = x.shape[1]
    _check_targets(x, y, loss, network)
    has_validation = x_validation is not None
    if target_std is not None:
        target_std = _check_target_std(target_std, loss, network)
    if has_validation:
        _check_targets(x_validation, y_validation, loss, network, "validation")
    if isinstance(early_stopping, int) and not isinstance(early_stopping, bool):
        early_stopping = EarlyStopping(early_stopping)
    if early_stopping is not None and not has_validation:
        raise ValueError(
            "early stopping watches the validation loss: give x_validation "
            "and y_validation (a share of the training data or a separate set)"
        )

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
    first_epoch, first_step, first_total = 0, 0, 0.0
    if resume is not None:
        first_epoch, first_step, first_total, history = _resume(
            resume, rng, n_steps, epochs, early_stopping
        )
    for epoch in range(first_epoch, epochs):
        started = time.perf_counter()
        learning_rate_now = schedule(epoch)
        epoch_rng_state = rng.bit_generator.state
        order = rng.permutation(n_examples)
        _take(rows, order, 0, shuffled_rows, xp)
        _take(y, order, y_axis, shuffled_y, xp)
        total = first_total if epoch == first_epoch else 0.0
        start_step = first_step if epoch == first_epoch else 0
        if monitor is not None:
            monitor.start_epoch(epoch)
        for index in range(start_step, n_steps):
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
            if stop_requested is not None and index + 1 < n_steps:
                if stop_requested():
                    raise TrainingInterruptedError(
                        TrainingState(
                            epoch,
                            index + 1,
                            total,
                            epoch_rng_state,
                            history,
                            early_stopping,
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
        # Evaluate each set; a non-finite loss (in the dtype trained in)
        # on any of them stops the run before its checkpoint.
        parts = [("training", x, y)]
        if has_validation:
            parts.append(("validation", x_validation, y_validation))
        if x_test is not None:
            parts.append(("test", x_test, y_test))
        for part, part_x, part_y in parts:
            value, accuracy, reported = _evaluate(
                network, part_x, part_y, loss, target_std=target_std
            )
            if not math.isfinite(value):
                raise _divergence(
                    network, step, epoch, n_steps - 1, f"{part} loss", part_x
                )
            prefix = "train" if part == "training" else part
            setattr(record, f"{prefix}_loss", reported)
            setattr(record, f"{prefix}_accuracy", accuracy)
        if monitor is not None:
            record.extra.update(monitor.end_epoch(epoch))
        stopping = False
        if early_stopping is not None:
            stopping = early_stopping.update(
                epoch + 1, record.validation_loss, network.parameters
            )
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
        boundary = TrainingState(
            epoch + 1, 0, 0.0, rng.bit_generator.state, history, early_stopping
        )
        if on_epoch_end is not None:
            on_epoch_end(boundary)
        if stopping:
            break
        if stop_requested is not None and epoch + 1 < epochs:
            if stop_requested():
                raise TrainingInterruptedError(boundary)
    if early_stopping is not None:
        early_stopping.restore(network.parameters)
    return history


def evaluate(network, x, y, loss, chunk=EVALUATION_CHUNK, target_std=None):
    """Return (mean loss, accuracy or None) of ``network`` on (x, y).

    Accuracy is reported for classification losses: the arg-max class for
    cross-entropy, and for binary cross-entropy the fraction of outputs
    whose thresholded probability (σ(f) ≥ ½, i.e. f ≥ 0) matches y.

    With ``target_std`` (least squares on standardized targets, as for
    ``train``), the loss is in the targets' own units, exactly as
    ``train`` reports it in its history.
    """
    if target_std is not None:
        target_std = _check_target_std(target_std, loss, network)
    _, accuracy, reported = _evaluate(network, x, y, loss, chunk, target_std)
    return reported, accuracy


def _evaluate(network, x, y, loss, chunk=EVALUATION_CHUNK, target_std=None):
    """(mean loss, accuracy, mean loss in the targets' units) on (x, y).

    The first loss is computed as training computes it, in the network's
    dtype. The last is Σ_j std_j² (f_j − y_j)² averaged over examples, in
    float64, when ``target_std`` is given, and the first loss otherwise.
    """
    xp = namespace_of(x)
    n_examples = x.shape[1]
    total, correct = 0.0, 0.0
    squares = 0.0
    for start in range(0, n_examples, chunk):
        stop = min(start + chunk, n_examples)
        output = network.predict(x[:, start:stop])
        part_y = y[start:stop] if len(y.shape) == 1 else y[:, start:stop]
        value = loss.value(output, part_y)
        total += float(xp.astype(value, xp.float64)) * (stop - start)
        if target_std is not None:
            # Σ over examples of (f_j − y_j)², one sum per output j.
            difference = xp.astype(output - part_y, xp.float64)
            squares = squares + to_numpy(xp.sum(difference * difference, axis=1))
        if loss.name == "cross-entropy":
            hits = xp.argmax(output, axis=0) == part_y
            correct += float(xp.sum(xp.astype(hits, xp.float64)))
        elif loss.name == "binary-cross-entropy":
            hits = xp.astype(output >= 0, output.dtype) == part_y
            correct += float(xp.mean(xp.astype(hits, xp.float64))) * (stop - start)
    accuracy = correct / n_examples if loss.is_classification else None
    reported = total / n_examples
    if target_std is not None:
        reported = float(np.sum(target_std**2 * squares)) / n_examples
    return total / n_examples, accuracy, reported


def _check_target_std(target_std, loss, network):
    if loss.name != "least-squares":
        raise ValueError(
            f"target_std applies to least squares, whose targets are "
            f"standardized; got the {loss.name} loss"
        )
    target_std = np.asarray(to_numpy(target_std), dtype=np.float64).reshape(-1)
    n_outputs = network.sizes[-1]
    if target_std.shape != (n_outputs,) or not np.all(target_std > 0):
        raise ValueError(
            f"target_std must hold {n_outputs} positive standard deviations "
            f"(one per output), got {target_std}"
        )
    return target_std


def _resume(state, rng, n_steps, epochs, early_stopping):
    """Check a TrainingState against this run and restore the generator."""
    if not 0 <= state.step < n_steps:
        raise ValueError(
            f"cannot resume at step {state.step} of an epoch that has "
            f"{n_steps} steps; was the batch size or the data changed?"
        )
    if state.epoch > epochs or (state.epoch == epochs and state.step == 0):
        raise ValueError(
            f"the run has already finished {state.epoch} epoch(s); ask for "
            f"more than {state.epoch} epochs to continue it"
        )
    if len(state.history) != state.epoch:
        raise ValueError(
            f"the state is at epoch {state.epoch} but holds "
            f"{len(state.history)} epoch record(s)"
        )
    if early_stopping is not None and state.early_stopping is not None:
        scalars, best = state.early_stopping.state()
        early_stopping.load_state(scalars, best)
        if early_stopping.should_stop:
            raise ValueError(
                "the run already stopped early (no improvement for "
                f"{early_stopping.patience} epochs); nothing to continue"
            )
    rng.bit_generator.state = state.rng_state
    return state.epoch, state.step, state.running_total, list(state.history)


def _divergence(network, step, epoch, index, what, x=None):
    xp = network.xp
    layer = None
    if x is not None:
        layer = _first_overflowing_layer(network, x)
    for k in range(len(network.omega) if layer is None else 0):
        finite_params = xp.all(xp.isfinite(network.omega[k])) and xp.all(
            xp.isfinite(network.beta[k])
        )
        finite_grads = xp.all(xp.isfinite(step.grad_omega[k])) and xp.all(
            xp.isfinite(step.grad_beta[k])
        )
        if not (bool(finite_params) and bool(finite_grads)):
            layer = k
            break
    if layer is not None:
        where = f"layer {layer}"
    elif x is not None:
        # Every f_k is finite on x, so the loss itself overflowed: the
        # output layer's f_K is too far from the targets for the dtype.
        layer = network.n_hidden_layers
        where = f"layer {layer}, whose output f_{layer} is finite but its loss is not"
    else:
        where = "the loss"
    hint = "try a smaller learning rate"
    if what in ("validation loss", "test loss"):
        hint += (
            f", and check that the {what.split()[0]} inputs lie in the "
            "training inputs' range"
        )
    message = (
        f"training diverged at epoch {epoch + 1}, step {index + 1}: the "
        f"{what} became non-finite (first affected: {where}); {hint}"
    )
    return DivergenceError(message, epoch + 1, index + 1, layer)


def _first_overflowing_layer(network, x, chunk=EVALUATION_CHUNK):
    """The first k whose pre-activations f_k are not finite on x, or None."""
    xp = network.xp
    last = network.n_hidden_layers
    first = None
    for start in range(0, x.shape[1], chunk):
        h = x[:, start : start + chunk]
        for k in range(last + 1 if first is None else first):
            f = network.beta[k] + network.omega[k] @ h
            if not bool(xp.all(xp.isfinite(f))):
                first = k
                break
            h = xp.maximum(f, 0) if k < last else f
    return first


def _check_targets(x, y, loss, network, part="training"):
    n_examples = x.shape[1]
    if n_examples == 0:
        raise ValueError(f"the {part} set is empty")
    if loss.name == "cross-entropy":
        if tuple(y.shape) != (n_examples,):
            raise ValueError(
                f"cross-entropy needs {part} labels of shape (N,) = "
                f"({n_examples},), got {tuple(y.shape)}"
            )
        labels = to_numpy(y)
        n_classes = network.sizes[-1]
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(
                f"{part} labels must lie in 0 … {n_classes - 1} for a network "
                f"with {n_classes} outputs; found {labels.min()} … "
                f"{labels.max()}"
            )
    else:
        expected = (network.sizes[-1], n_examples)
        if tuple(y.shape) != expected:
            raise ValueError(
                f"{loss.name} needs {part} targets of shape (D_o, N) = "
                f"{expected}, got {tuple(y.shape)}"
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
