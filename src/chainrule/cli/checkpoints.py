"""Checkpoints of a ``chainrule train`` run, and resuming from them.

A run writes ``checkpoint.npz`` into its output folder every
--checkpoint-every N epochs, at the end, and when Ctrl-C or SIGTERM asks
it to stop. The checkpoint keeps the options that define the run;
``--resume DIR`` restores them and refuses a change that would make a
different run.
"""

from __future__ import annotations

import math
import shutil
import signal
import threading
from pathlib import Path

import numpy as np

from ..data import BUILTIN_NAMES
from ..training import CheckpointError, load_checkpoint, save_checkpoint
from ..training.loop import evaluate
from .errors import CommandError, UsageError

CHECKPOINT = "checkpoint.npz"

# After a divergence, the checkpoint left behind is worth resuming from
# only when its training loss is finite and at most this many times the
# loss of the best constant prediction; above that the parameters had
# already blown up, and no learning rate brings them back.
BLOWN_UP_FACTOR = 10

# The options that define a run: a checkpoint keeps them, and --resume
# restores them. --epochs may be raised to train longer, --lr lowered to
# continue past a divergence, and --checkpoint-every changed.
RUN_OPTIONS = (
    "data",
    "label_column",
    "task",
    "test_fraction",
    "standardize",
    "hidden",
    "loss",
    "relu_at_zero",
    "init",
    "dtype",
    "optimizer",
    "lr",
    "momentum",
    "dampened",
    "nesterov",
    "weight_decay",
    "schedule",
    "lr_step",
    "lr_factor",
    "lr_min",
    "batch_size",
    "epochs",
    "seed",
    "validation_fraction",
    "validation_data",
    "early_stopping",
    "checkpoint_every",
)
CHANGEABLE_ON_RESUME = ("epochs", "checkpoint_every", "lr")


class StopOnSignal:
    """Turns the first Ctrl-C (SIGINT) or SIGTERM into a stop request.

    Training then stops at the next step boundary and a checkpoint is
    written. The handlers are put back at once, so a second Ctrl-C
    interrupts at once (a checkpoint being written is then left as it
    was: writes are atomic).
    """

    signals = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.stopping = False
        self._previous = {}

    def requested(self):
        return self.stopping

    def _handle(self, number, frame):
        self.stopping = True
        self._restore()

    def _restore(self):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info):
        self._restore()
        return False


class Checkpoints:
    """Writes checkpoints into the run's folder as training goes."""

    def __init__(self, out, network, optimizer, schedule, args):
        self.out = out
        self.path = out / CHECKPOINT
        self.network, self.optimizer, self.schedule = network, optimizer, schedule
        self.every = args.checkpoint_every
        self.n_epochs = args.epochs
        self.batch_size = args.batch_size
        self.created = not out.exists()
        self.config = {"options": run_options(args)}
        self.n_steps = None
        self._training_set = None

    def watch(self, x, y, loss, target_std=None):
        """Remember the training set, to judge the checkpoint after a failure.

        Parameters
        ----------
        x, y, loss :
            The training inputs, targets and loss, as ``train`` gets them.
        target_std : array of shape (D_o,), optional
            As for ``train``: losses are then judged in the targets' units.
        """
        self._training_set = (x, y, loss, target_std)
        self.n_steps = math.ceil(x.shape[1] / self.batch_size)

    def on_epoch_end(self, state):
        if self.every is None:
            return
        if state.epoch % self.every == 0 or state.epoch == self.n_epochs:
            self.write(state)
        elif state.early_stopping is not None and state.early_stopping.should_stop:
            self.write(state)

    def write(self, state):
        self.out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(
            self.path,
            self.network,
            self.optimizer,
            state,
            self.schedule,
            self.config,
        )
        return self.path

    def after_failure(self):
        """Clean up after a failed run; return a note on the checkpoint.

        The checkpoint on disk is judged by its training loss (see
        ``judge``): the note advises resuming from it only when that loss
        shows it had not blown up already.
        """
        if not self.path.exists():
            if self.created:
                shutil.rmtree(self.out, ignore_errors=True)
            return ""
        if self._training_set is None:
            return f"; the last checkpoint is kept in {self.path}"
        try:
            checkpoint = load_checkpoint(self.path)
        except CheckpointError:
            return f"; the last checkpoint is kept in {self.path}"
        where = describe_position(checkpoint.state, self.n_steps)
        x, y, loss, target_std = self._training_set
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, _ = evaluate(checkpoint.network, x, y, loss, target_std=target_std)
        reference = constant_prediction_loss(loss, y, target_std)
        if judge(value, reference):
            return (
                f"; the last good checkpoint, {where} (train loss "
                f"{value:.4g}), is kept in {self.path}: continue from it "
                f"with --resume {self.out} --lr SMALLER"
            )
        return (
            f"; the checkpoint in {self.path}, {where}, has train loss "
            f"{value:.4g}, more than {BLOWN_UP_FACTOR} times the "
            f"{reference:.4g} of the best constant prediction: the run had "
            "already diverged by then, so resuming from it would diverge "
            "again; start a new run with a smaller --lr"
        )


def judge(value, reference):
    """True when a checkpoint with training loss ``value`` is worth resuming.

    It is when ``value`` is finite and at most BLOWN_UP_FACTOR times
    ``reference``, the loss of the best constant prediction (a network
    that ignores its inputs). A loss far above that means the parameters
    had already blown up.
    """
    if not math.isfinite(value):
        return False
    return value <= BLOWN_UP_FACTOR * reference


def constant_prediction_loss(loss, y, target_std=None):
    """The training loss of the best prediction that ignores the inputs.

    Parameters
    ----------
    loss : a loss from ``chainrule.losses``
    y : ndarray
        The training targets in the loss's layout: (N,) class ids for
        cross-entropy, (D_o, N) otherwise.
    target_std : array of shape (D_o,), optional
        Least squares on standardized targets: the loss is reported in
        the targets' units, output j's share multiplied by std_j².

    Returns
    -------
    float
        For least squares, predicting each output's mean: Σ_j var(y_j).
        For cross-entropy, predicting the class frequencies p_c: the
        entropy −Σ_c p_c log p_c. For binary cross-entropy, predicting
        each label's frequency p_j: Σ_j −p_j log p_j − (1 − p_j) log(1 − p_j).
    """
    y = np.asarray(y)
    if loss.name == "cross-entropy":
        counts = np.bincount(y.astype(np.int64))
        p = counts[counts > 0] / y.shape[0]
        return float(-np.sum(p * np.log(p)))
    y = y.astype(np.float64)
    if loss.name == "binary-cross-entropy":
        p = y.mean(axis=1)
        entropy = np.zeros_like(p)
        inside = (p > 0) & (p < 1)
        q = p[inside]
        entropy[inside] = -(q * np.log(q) + (1 - q) * np.log(1 - q))
        return float(np.sum(entropy))
    variance = y.var(axis=1)
    if target_std is not None:
        variance = variance * np.asarray(target_std, np.float64) ** 2
    return float(np.sum(variance))


def describe_position(state, n_steps):
    """Where a ``TrainingState`` stands, in words.

    "at the end of epoch E" at an epoch boundary, "in epoch E after s of
    its n steps" within one; epochs count from 1.
    """
    if state.step == 0:
        return f"at the end of epoch {state.epoch}"
    return f"in epoch {state.epoch + 1} after {state.step} of its {n_steps} steps"


def resume_position(state, n_steps):
    """The step a resumed run starts at: "epoch E, step s of n"."""
    return f"epoch {state.epoch + 1}, step {state.step + 1} of {n_steps}"


def run_options(args):
    """The values of RUN_OPTIONS, with data files as absolute paths."""
    options = {name: getattr(args, name) for name in RUN_OPTIONS}
    # A file is found again from any folder the run is resumed in.
    data = Path(args.data)
    if args.data not in BUILTIN_NAMES and data.exists():
        options["data"] = str(data.resolve())
    if args.validation_data is not None:
        options["validation_data"] = str(Path(args.validation_data).resolve())
    return options


def open_resume(args, defaults):
    """Read the checkpoint in --resume DIR and restore the run's options.

    ``defaults`` holds what each of RUN_OPTIONS is when not given: an
    option at its default takes the run's value, any other must agree
    with it (except those in CHANGEABLE_ON_RESUME).
    """
    folder = args.resume
    if args.out is not None and Path(args.out).resolve() != folder.resolve():
        raise UsageError(
            f"--resume {folder} continues the run in that folder; drop --out {args.out}"
        )
    if not folder.is_dir():
        raise UsageError(f"--resume {folder}: no such folder")
    path = folder / CHECKPOINT
    if not path.exists():
        raise CommandError(
            f"{folder}: no {CHECKPOINT} to resume from; checkpoints are "
            "written by --checkpoint-every N and when a run is interrupted"
        )
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as error:
        raise CommandError(str(error)) from None
    # A process killed while writing leaves its temporary file behind.
    for leftover in folder.glob(f".{CHECKPOINT}.*.tmp"):
        leftover.unlink(missing_ok=True)
    saved = checkpoint.config.get("options")
    if not isinstance(saved, dict) or set(saved) != set(RUN_OPTIONS):
        raise CommandError(
            f"{path}: the checkpoint does not hold this version's training "
            "options; it cannot be resumed from the command line"
        )
    for name in RUN_OPTIONS:
        given = getattr(args, name)
        if name in CHANGEABLE_ON_RESUME:
            if given is None or given == defaults.get(name):
                setattr(args, name, saved[name])
            continue
        if name in ("data", "validation_data") and given is not None:
            given = _resolved_path(given)
        if given != defaults.get(name) and given != saved[name]:
            flag = "--" + name.replace("_", "-")
            raise UsageError(
                f"{flag} {_shown_option(given)} differs from the run being "
                f"resumed ({_shown_option(saved[name])}); a resumed run keeps "
                "its options (only --epochs, --lr and --checkpoint-every may "
                "change)"
            )
        setattr(args, name, saved[name])
    return checkpoint


def _resolved_path(spec):
    if spec in BUILTIN_NAMES or not Path(spec).exists():
        return spec
    return str(Path(spec).resolve())


def _shown_option(value):
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def check_resumed_data(folder, checkpoint, sizes, data_fingerprint, n_epochs):
    """Refuse to resume a finished run, or one on other data or sizes."""
    state = checkpoint.state
    early = state.early_stopping
    if early is not None and early.should_stop:
        raise CommandError(
            f"{folder}: the run stopped early at epoch {state.epoch} (no "
            f"improvement for {early.patience} epochs since epoch "
            f"{early.best_epoch}); there is nothing to continue"
        )
    if state.epoch > n_epochs or (state.epoch == n_epochs and state.step == 0):
        raise UsageError(
            f"--resume {folder}: the run has already finished {state.epoch} "
            f"epoch(s); pass --epochs with more than {state.epoch} to train "
            "further"
        )
    if checkpoint.network.sizes != sizes:
        raise CommandError(
            f"{folder}: the checkpoint's network has sizes "
            f"{checkpoint.network.sizes} but the data call for {sizes}"
        )
    if checkpoint.config.get("fingerprint") != data_fingerprint:
        raise CommandError(
            f"{folder}: the training data differ from those the run started "
            "with; a run can only be resumed on the same data"
        )
