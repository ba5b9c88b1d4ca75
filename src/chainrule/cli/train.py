"""``chainrule train``: train a ReLU network on a dataset, save the results.

The defaults are the book's MNIST-1D experiment on the text's three-layer
network: 40 → 100 → 100 → 100 → 10, He initialization, cross-entropy,
SGD with learning rate 0.05 and momentum 0.9, the learning rate halved
every 10 epochs, batches of 100, 50 epochs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import write_text
from ..diagnostics import GradientFlowMonitor
from ..losses import get_loss
from ..model_file import Model, save
from ..network import Network
from ..parallel import DataParallelStep, world
from ..training import (
    SGD,
    Adam,
    CheckpointError,
    ConstantSchedule,
    CosineSchedule,
    EarlyStopping,
    ExponentialSchedule,
    StepSchedule,
    TrainingInterruptedError,
    load_checkpoint,
    save_checkpoint,
    train,
    validation_split,
)
from ..training.checkpoint import fingerprint
from ..training.loop import DivergenceError
from ..training.validation import align_labels
from .errors import CommandError, UsageError
from .options import (
    add_threads_option,
    apply_threads,
    check_label_options,
    help_description,
    label_columns,
    parse_hidden,
    positive_float,
    positive_int,
    seed,
)
from .progress import ProgressBar

LOSS_FOR_TASK = {
    "classification": "cross-entropy",
    "regression": "least-squares",
    "multilabel": "binary-cross-entropy",
}

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
_DEFAULTS = {}
CHECKPOINT = "checkpoint.npz"


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a ReLU network (default: the book's MNIST-1D experiment)",
        description=help_description(__doc__),
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        default="mnist1d",
        metavar="NAME|PATH",
        help="mnist1d, digits, iris, breast_cancer, wine, diabetes, or a "
        ".csv/.npz file (default: mnist1d)",
    )
    data.add_argument(
        "--label-column",
        metavar="COLUMN",
        help="CSV label column(s): an index (negative counts from the end) "
        "or a header name; comma-separate several for multi-label "
        "(default: the last column)",
    )
    data.add_argument(
        "--task",
        choices=["classification", "regression", "multilabel"],
        help="what the labels are, when the file's values leave it open "
        "(default: inferred; integer labels count as classes)",
    )
    data.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        metavar="F",
        help="fraction held out for testing, for data without a test part of "
        "their own (not mnist1d, nor an NPZ file with x_test and y_test) "
        "(default: 0.2, stratified for classes)",
    )
    standardize = data.add_mutually_exclusive_group()
    standardize.add_argument(
        "--standardize",
        dest="standardize",
        action="store_true",
        default=None,
        help="standardize features with training-split statistics (default "
        "for files and scikit-learn sets)",
    )
    standardize.add_argument(
        "--no-standardize",
        dest="standardize",
        action="store_false",
        help="use raw feature values (default for mnist1d)",
    )

    model = parser.add_argument_group("network")
    model.add_argument(
        "--hidden",
        type=parse_hidden,
        default=[100, 100, 100],
        metavar="D1,D2,...",
        help="hidden layer widths D_1 … D_K, or none for no hidden layer "
        "(a linear model) (default: 100,100,100)",
    )
    model.add_argument(
        "--loss",
        choices=["cross-entropy", "binary-cross-entropy", "least-squares"],
        help="default from the labels: classes → cross-entropy, real "
        "values → least-squares, several 0/1 columns → binary-cross-entropy",
    )
    model.add_argument(
        "--relu-at-zero",
        type=float,
        default=1.0,
        metavar="D",
        help="derivative of ReLU at exactly 0: 1 as in the book (default), "
        "0 as in PyTorch; any value in [0, 1]",
    )
    model.add_argument(
        "--init",
        choices=["uniform", "normal"],
        default="uniform",
        help="He initialization (variance 2/D_k) drawn uniformly, as "
        "PyTorch's kaiming_uniform_ in the book's notebook (default), or "
        "from a normal distribution",
    )
    model.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="floating-point type of parameters and data (default: float32)",
    )

    optimization = parser.add_argument_group("optimization")
    optimization.add_argument(
        "--optimizer",
        choices=["sgd", "adam"],
        default="sgd",
        help="sgd (with --momentum, optionally --nesterov) or adam (default: sgd)",
    )
    optimization.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate α (default: 0.05 for sgd, 0.01 for sgd with "
        "least squares, whose gradient is unbounded; 0.001 for adam)",
    )
    optimization.add_argument(
        "--momentum",
        type=float,
        default=None,
        help="momentum μ in [0, 1) for sgd (default: 0.9)",
    )
    optimization.add_argument(
        "--dampened",
        action="store_true",
        help="use the book's eq. 6.11 form v ← μv + (1−μ)g instead of v ← μv + g",
    )
    optimization.add_argument(
        "--nesterov",
        action="store_true",
        help="Nesterov momentum: step along g + μv instead of v (sgd only)",
    )
    optimization.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        metavar="λ",
        help="L2 weight decay: add λθ to the gradient (default: 0)",
    )
    optimization.add_argument(
        "--schedule",
        choices=["step", "constant", "exponential", "cosine"],
        default="step",
        help="learning-rate schedule: step (× --lr-factor every --lr-step "
        "epochs), constant, exponential (× --lr-factor every epoch) or "
        "cosine (down to --lr-min over the run) (default: step)",
    )
    optimization.add_argument(
        "--lr-step",
        type=positive_int,
        default=None,
        metavar="E",
        help="for --schedule step: multiply the learning rate by --lr-factor "
        "every E epochs (default: 10)",
    )
    optimization.add_argument(
        "--lr-factor",
        type=float,
        default=None,
        metavar="G",
        help="learning-rate factor in (0, 1] (default: 0.5 for step, 0.95 "
        "for exponential)",
    )
    optimization.add_argument(
        "--lr-min",
        type=float,
        default=None,
        metavar="A",
        help="for --schedule cosine: the final learning rate (default: 0)",
    )
    optimization.add_argument(
        "--batch-size",
        type=positive_int,
        default=100,
        metavar="B",
        help="examples per minibatch, one gradient step each; the last batch "
        "of an epoch is smaller when B does not divide the training set "
        "(default: 100)",
    )
    optimization.add_argument(
        "--epochs",
        type=positive_int,
        default=50,
        metavar="E",
        help="passes over the training set; with --resume, the run's new "
        "total (default: 50)",
    )
    optimization.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed for initialization, shuffling and splits (default: 0)",
    )

    validation = parser.add_argument_group("validation")
    held_out = validation.add_mutually_exclusive_group()
    held_out.add_argument(
        "--validation-fraction",
        type=float,
        metavar="F",
        help="hold out this fraction of the training split for validation "
        "(stratified for classes, seeded by --seed)",
    )
    held_out.add_argument(
        "--validation-data",
        metavar="PATH",
        help="a .csv/.npz file to validate on, with the training data's "
        "features and labels",
    )
    validation.add_argument(
        "--early-stopping",
        type=positive_int,
        metavar="PATIENCE",
        help="stop when the validation loss has not improved for PATIENCE "
        "epochs, and keep the best epoch's parameters",
    )

    checkpoints = parser.add_argument_group("checkpoints")
    checkpoints.add_argument(
        "--checkpoint-every",
        type=positive_int,
        metavar="N",
        help="save a checkpoint in the output folder every N epochs (and at "
        "the end); Ctrl-C always saves one",
    )
    checkpoints.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the run whose checkpoint is in DIR, with its options "
        "(--epochs may be raised to train longer, --lr lowered after a "
        "divergence)",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder: a new one (created with its parents) or an "
        "existing empty one; a folder with files in it is refused, and "
        "whether it can be written is checked before training (default: a "
        "new runs/<data>-<timestamp>/)",
    )
    output.add_argument(
        "--quiet", action="store_true", help="print only the final summary"
    )
    output.add_argument(
        "--diagnostics",
        action="store_true",
        help="record gradient flow per layer and epoch (gradient norms, dead "
        "ReLUs, mean and std of h_k, update/parameter ratio) in metrics.json "
        "and gradient_flow.png, with warnings naming a vanishing or "
        "exploding layer",
    )
    add_threads_option(output)
    parser.set_defaults(handler=run)
    # What each option holds when it is not given (parse_args resolves
    # options that share a destination, such as --no-standardize).
    defaults = vars(parser.parse_args([]))
    _DEFAULTS.update({name: defaults[name] for name in RUN_OPTIONS})
    return parser


def run(args):
    # Options that only apply in some cases default to None, so that one
    # given where it does not apply can be refused rather than ignored.
    given = {name for name in ("test_fraction", "lr_step", "lr_min")}
    given = {name for name in given if getattr(args, name) is not None}
    args.given_options = given
    resumed = _open_resume(args) if args.resume is not None else None
    _check_applicable(args, given)
    _resolve_defaults(args)
    _check_options(args)
    check_label_options(args.data, args.label_column, args.task)
    apply_threads(args.threads)
    started = time.perf_counter()
    # Under MPI only rank 0 writes files, so only it checks the folder
    # (ranks probing one folder at once would trip over each other).
    checking = world().rank == 0
    if resumed is not None:
        out = args.resume
        if checking:
            check_output_folder(out, "--resume")
    else:
        out = args.out or _default_out(args.data)
        if checking:
            check_output_folder(out, "--out")

    dataset, loss, standardizer, held_out = load_training_data(args)
    if args.lr is None:
        args.lr = _sgd_learning_rate(loss.name)
        _check_options(args)
    where = world()
    root = where.rank == 0
    targets = target_statistics(dataset, loss, standardizer is not None)
    dtype = np.dtype(args.dtype)
    n_classes = len(dataset.classes) if _one_hot_targets(dataset, loss) else None

    def columns(rows, y):
        return to_training_arrays(
            rows, y, loss, dtype, standardizer, targets, n_classes
        )

    x, y = columns(dataset.x_train, dataset.y_train)
    x_test = y_test = None
    if dataset.x_test is not None and len(dataset.x_test):
        x_test, y_test = columns(dataset.x_test, dataset.y_test)
    x_validation = y_validation = None
    if held_out is not None:
        x_validation, y_validation = columns(*held_out)
    sizes = [x.shape[0], *args.hidden, output_size(dataset, loss)]
    data_fingerprint = fingerprint(x, y, x_validation, y_validation)

    rng = np.random.default_rng(args.seed)
    if resumed is None:
        network = Network.initialize(
            sizes,
            rng,
            dtype=dtype,
            relu_derivative_at_zero=args.relu_at_zero,
            distribution=args.init,
        )
        optimizer = build_optimizer(args)
        state = None
    else:
        _check_resumed_data(args.resume, resumed, sizes, data_fingerprint, args.epochs)
        network, optimizer, state = resumed.network, resumed.optimizer, resumed.state
        saved_lr = resumed.config["options"]["lr"]
        if args.lr != saved_lr:
            # Momentum built up at the old rate (typically before a
            # divergence) would carry on at the new one: start it afresh.
            optimizer = build_optimizer(args)
            print(
                f"chainrule train: note: the learning rate changes from "
                f"{saved_lr} to {args.lr}; the optimizer's running state "
                "(momentum, Adam's averages) starts afresh",
                file=sys.stderr,
            )
    schedule = build_schedule(args)
    early_stopping = EarlyStopping(args.early_stopping) if args.early_stopping else None
    say = _printer(args.quiet or not root)
    n_validation = 0 if x_validation is None else x_validation.shape[1]
    n_test = 0 if x_test is None else x_test.shape[1]
    say(
        f"training {'-'.join(map(str, sizes))} on {dataset.name} "
        f"({x.shape[1]} train, "
        + (f"{n_validation} validation, " if n_validation else "")
        + f"{n_test} test), {loss.name}, {args.dtype}, seed {args.seed}"
    )
    if state is not None:
        say(
            f"resuming from {out / CHECKPOINT} at epoch {state.epoch + 1}, "
            f"step {state.step + 1}"
        )

    bar = ProgressBar(enabled=not args.quiet and root)
    monitor = None
    if args.diagnostics:
        monitor = GradientFlowMonitor(
            network, batch_size=args.batch_size, n_examples=x.shape[1]
        )
    # Data-parallel under MPI: each rank takes its share of every batch,
    # and one all-reduce of the flat gradient joins them. Only rank 0
    # prints and writes files.
    step = None
    if where.size > 1:
        step = DataParallelStep(network, loss, where.comm)
        say(f"data-parallel over {where.size} processes (MPI)")
    checkpoints = _Checkpoints(out, network, optimizer, schedule, args)
    checkpoints.config["fingerprint"] = data_fingerprint

    def callback(progress):
        bar.update(progress)
        if progress.record is not None:
            bar.clear()
            say(_epoch_line(progress.record, args.epochs))

    try:
        with _StopOnSignal() as stop:
            history = train(
                network,
                x,
                y,
                loss,
                epochs=args.epochs,
                batch_size=args.batch_size,
                schedule=schedule,
                optimizer=optimizer,
                rng=rng,
                x_test=x_test,
                y_test=y_test,
                callback=callback,
                x_validation=x_validation,
                y_validation=y_validation,
                early_stopping=early_stopping,
                target_std=None if targets is None else targets[1],
                resume=state,
                on_epoch_end=checkpoints.on_epoch_end if root else None,
                stop_requested=stop.requested,
                monitor=monitor,
                step=step,
            )
    except DivergenceError as error:
        bar.clear()
        raise CommandError(str(error) + checkpoints.after_failure()) from None
    except TrainingInterruptedError as interrupted:
        bar.clear()
        path = checkpoints.write(interrupted.state)
        where = interrupted.state
        print(
            f"chainrule train: interrupted in epoch {where.epoch + 1} after "
            f"step {where.step}; checkpoint saved to {path}; continue with: "
            f"chainrule train --resume {out}",
            file=sys.stderr,
        )
        return 130
    except BaseException:
        bar.clear()
        checkpoints.after_failure()
        raise
    finally:
        bar.clear()

    model = Model(
        network=network,
        loss=loss.name,
        task=dataset.task,
        classes=dataset.classes,
        input_mean=None if standardizer is None else standardizer.mean,
        input_std=None if standardizer is None else standardizer.std,
        target_mean=None if targets is None else targets[0],
        target_std=None if targets is None else targets[1],
        metadata={
            "data": dataset.name,
            "seed": args.seed,
            "test_fraction": args.test_fraction,
            "validation_fraction": args.validation_fraction,
            **_data_identity(args),
        },
        feature_names=dataset.feature_names,
        label_names=dataset.label_names,
    )
    metrics = _metrics(history, args, sizes, loss, dataset, early_stopping)
    metrics.update(_regression_fit(model, dataset, targets is not None))
    metrics["processes"] = where.size
    if not root:
        return 0
    write_outputs(out, model, metrics, history)
    elapsed = time.perf_counter() - started
    _summary(metrics, out, elapsed)
    return 0


def check_output_folder(out, flag="--out"):
    """Make sure the run's files can be written in ``out``, before training.

    ``out`` must be a new folder or an empty one (a resumed run's folder
    keeps its files). A probe file is created in it and removed, and any
    folder created for the probe is removed again, so that a folder that
    cannot be written is reported before the training time is spent.

    Raises
    ------
    UsageError
        When ``out`` is a file, or a folder that is not empty.
    CommandError
        When the folder cannot be created or written.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out}: is a file; expected a folder")
    if flag == "--out" and out.is_dir() and any(out.iterdir()):
        raise UsageError(
            f"--out {out}: the folder exists and is not empty; choose "
            "another or remove it (or continue a run in it with --resume)"
        )
    created = []
    folder = out
    while not folder.exists() and folder != folder.parent:
        created.append(folder)
        folder = folder.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".probe.")
        probe.close()
    except OSError as error:
        reason = error.strerror or str(error)
        raise CommandError(f"{flag} {out}: cannot write there ({reason})") from None
    finally:
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()


def build_optimizer(args):
    """The optimizer the options ask for."""
    if args.optimizer == "adam":
        return Adam(weight_decay=args.weight_decay)
    return SGD(
        args.momentum,
        dampened=args.dampened,
        weight_decay=args.weight_decay,
        nesterov=args.nesterov,
    )


def build_schedule(args):
    """The learning-rate schedule the options ask for."""
    if args.schedule == "constant":
        return ConstantSchedule(args.lr)
    if args.schedule == "exponential":
        return ExponentialSchedule(args.lr, args.lr_factor)
    if args.schedule == "cosine":
        return CosineSchedule(args.lr, args.epochs, args.lr_min)
    return StepSchedule(args.lr, args.lr_step, args.lr_factor)


class _StopOnSignal:
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


class _Checkpoints:
    """Writes checkpoints into the run's folder as training goes."""

    def __init__(self, out, network, optimizer, schedule, args):
        self.out = out
        self.path = out / CHECKPOINT
        self.network, self.optimizer, self.schedule = network, optimizer, schedule
        self.every = args.checkpoint_every
        self.n_epochs = args.epochs
        self.created = not out.exists()
        self.config = {"options": _run_options(args)}
        self.last_epoch = None

    def on_epoch_end(self, state):
        if self.every is None:
            return
        if state.epoch % self.every == 0 or state.epoch == self.n_epochs:
            self.write(state)
            self.last_epoch = state.epoch
        elif state.early_stopping is not None and state.early_stopping.should_stop:
            self.write(state)
            self.last_epoch = state.epoch

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
        """Clean up after a failed run; return a note on the checkpoint."""
        if self.path.exists():
            when = "" if self.last_epoch is None else f" (epoch {self.last_epoch})"
            return (
                f"; the last good checkpoint{when} is kept in {self.path}: "
                f"continue from it with --resume {self.out} --lr SMALLER"
            )
        if self.created:
            shutil.rmtree(self.out, ignore_errors=True)
        return ""


def _run_options(args):
    options = {name: getattr(args, name) for name in RUN_OPTIONS}
    # A file is found again from any folder the run is resumed in.
    data = Path(args.data)
    if args.data not in _builtin_names() and data.exists():
        options["data"] = str(data.resolve())
    if args.validation_data is not None:
        options["validation_data"] = str(Path(args.validation_data).resolve())
    return options


def _builtin_names():
    from ..data import BUILTIN_NAMES

    return BUILTIN_NAMES


def _open_resume(args):
    """Read the checkpoint in --resume DIR and restore the run's options."""
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
            if given is None or given == _DEFAULTS.get(name):
                setattr(args, name, saved[name])
            continue
        if name in ("data", "validation_data") and given is not None:
            given = _resolved_path(given)
        if given != _DEFAULTS.get(name) and given != saved[name]:
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
    if spec in _builtin_names() or not Path(spec).exists():
        return spec
    return str(Path(spec).resolve())


def _shown_option(value):
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _check_resumed_data(folder, checkpoint, sizes, data_fingerprint, n_epochs):
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


def load_training_data(args):
    """Load the dataset named by --data and choose the loss for it.

    Returns
    -------
    dataset : Dataset
        Its training split excludes the validation examples, if any.
    loss : loss
    standardizer : Standardizer or None
        Fitted on the (remaining) training rows.
    held_out : (rows, targets) or None
        The validation set, from --validation-fraction or
        --validation-data.
    """
    from ..data import (
        DataError,
        Standardizer,
        check_labels_for_loss,
        check_training_classes,
        default_standardize,
        load_dataset,
    )

    try:
        dataset = load_dataset(
            args.data,
            test_fraction=args.test_fraction,
            seed=args.seed,
            label_columns=label_columns(args.label_column),
            task=args.task,
        )
        loss_name = args.loss or LOSS_FOR_TASK[dataset.task]
        check_labels_for_loss(dataset, loss_name)
        own_test = "y_test" in dataset.origin_kinds[1:]
        if own_test and "test_fraction" in getattr(args, "given_options", ()):
            warnings.warn(
                f"--test-fraction {args.test_fraction} is ignored: "
                f"{args.data} has its own test arrays x_test and y_test",
                stacklevel=1,
            )
        dataset, held_out = _hold_out_validation(args, dataset, loss_name)
        if dataset.task == "classification":
            check_training_classes(dataset)
    except DataError as error:
        raise CommandError(str(error)) from None
    standardize = args.standardize
    if standardize is None:
        standardize = default_standardize(args.data)
    standardizer = Standardizer.fit(dataset.x_train) if standardize else None
    return dataset, get_loss(loss_name), standardizer, held_out


def _hold_out_validation(args, dataset, loss_name):
    """Split off --validation-fraction, or load --validation-data."""
    if args.validation_fraction is not None:
        class_ids = dataset.y_train if dataset.task == "classification" else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                keep, held = validation_split(
                    dataset.n_train,
                    args.validation_fraction,
                    args.seed,
                    class_ids,
                    source=dataset.source,
                )
            except ValueError as error:
                raise CommandError(f"--validation-fraction: {error}") from None
        for warning in caught:
            print(f"chainrule train: note: {warning.message}", file=sys.stderr)
        held_out = (dataset.x_train[held], dataset.y_train[held])
        trained = dataclasses.replace(
            dataset,
            x_train=dataset.x_train[keep],
            y_train=dataset.y_train[keep],
            train_origin=None
            if dataset.train_origin is None
            else dataset.train_origin[keep],
        )
        return trained, held_out
    if args.validation_data is not None:
        return dataset, _load_validation_file(args, dataset, loss_name)
    return dataset, None


def _load_validation_file(args, dataset, loss_name):
    from ..data import check_labels_for_loss, load_dataset

    spec = args.validation_data
    other = load_dataset(
        spec,
        test_fraction=0.0,
        seed=args.seed,
        label_columns=label_columns(args.label_column),
        task=dataset.task,
    )
    if other.n_features != dataset.n_features:
        raise CommandError(
            f"{spec}: {other.n_features} feature columns, but the training "
            f"data have {dataset.n_features}; validation data need the same "
            "features"
        )
    if dataset.task == "classification":
        try:
            y = align_labels(
                other.y_train,
                other.classes,
                dataset.classes,
                spec,
                lambda i: other.where("train", i),
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
    else:
        y = other.y_train
        if y.shape[1] != dataset.y_train.shape[1]:
            raise CommandError(
                f"{spec}: {y.shape[1]} label columns, but the training data "
                f"have {dataset.y_train.shape[1]}"
            )
        check_labels_for_loss(other, loss_name)
    return other.x_train, y


def target_statistics(dataset, loss, standardize):
    """(mean, std) of regression targets over the training split, or None.

    Least-squares targets are standardized along with the inputs, so that
    one learning rate suits data sets whose targets are in the hundreds
    (diabetes) as well as those near 1; predictions are mapped back.
    """
    if loss.name != "least-squares" or not standardize:
        return None
    if _one_hot_targets(dataset, loss):
        return None
    y = np.asarray(dataset.y_train, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    std = y.std(axis=0)
    return y.mean(axis=0), np.where(std > 0, std, 1.0)


def to_training_arrays(
    rows, y, loss, dtype, standardizer, targets=None, n_classes=None
):
    """Rows and targets from a file → the core's column arrays.

    With ``n_classes``, class ids become one-hot columns (least squares on
    classes).
    """
    from ..data import to_columns

    if standardizer is not None:
        rows = standardizer.transform(rows)
    x = to_columns(rows, dtype)
    if loss.name == "cross-entropy":
        return x, np.ascontiguousarray(y, dtype=np.int64)
    values = np.asarray(y, dtype=np.float64)
    if n_classes is not None:
        values = np.eye(n_classes)[np.asarray(y, dtype=np.int64)]
    if values.ndim == 1:
        values = values[:, None]
    if targets is not None:
        values = (values - targets[0]) / targets[1]
    return x, np.ascontiguousarray(values.T.astype(dtype))


def output_size(dataset, loss):
    """D_o: one output per class for cross-entropy (and for least squares
    on classes, regressed onto one-hot targets), target columns otherwise.
    """
    if _one_hot_targets(dataset, loss) or loss.name == "cross-entropy":
        return len(dataset.classes)
    y = np.asarray(dataset.y_train)
    return 1 if y.ndim == 1 else y.shape[1]


def _one_hot_targets(dataset, loss):
    """Least squares on class labels regresses onto one-hot vectors."""
    return loss.name == "least-squares" and dataset.task == "classification"


def write_outputs(out, model, metrics, history):
    """Write model.npz, metrics.json and curves.png; all or nothing."""
    from ..diagnostic_plots import plot_gradient_flow
    from ..plots import plot_curves

    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        save(out / "model.npz", model)
        write_text(out / "metrics.json", metrics_json(metrics))
        plot_curves(
            history,
            out / "curves.png",
            title=metrics["config"]["data"],
            best_epoch=metrics.get("best_epoch"),
        )
        if any("gradient_flow" in record.extra for record in history):
            plot_gradient_flow(history, out / "gradient_flow.png")
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def metrics_json(metrics):
    """``metrics`` as JSON text; a non-finite number is written as null.

    JSON has no NaN or infinity: ``json.dumps`` would write the
    JavaScript words ``NaN`` and ``Infinity``, which strict readers
    refuse. Training stops on a non-finite loss, so only an optional
    figure (a diagnostic ratio, say) can be one.
    """
    text = json.dumps(
        _finite_or_null(metrics), indent=2, allow_nan=False, ensure_ascii=False
    )
    return text + "\n"


def _finite_or_null(value):
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _check_applicable(args, given):
    """Refuse an option that was given where it would be ignored."""
    from ..data.builtin import MNIST1D

    if "test_fraction" in given and args.data == MNIST1D:
        raise UsageError(
            "--test-fraction applies to data without a test part of their "
            "own; mnist1d comes with its own split (4000 training and 1000 "
            "test examples)"
        )
    if "lr_step" in given and args.schedule != "step":
        raise UsageError(
            f"--lr-step applies to --schedule step, not {args.schedule}"
            + (
                " (which multiplies by --lr-factor every epoch)"
                if args.schedule == "exponential"
                else ""
            )
        )
    if "lr_min" in given and args.schedule != "cosine":
        raise UsageError(f"--lr-min applies to --schedule cosine, not {args.schedule}")


def _resolve_defaults(args):
    """Fill the defaults that depend on other options; refuse misfits."""
    if args.test_fraction is None:
        args.test_fraction = 0.2
    if args.lr_step is None and args.schedule == "step":
        args.lr_step = 10
    if args.lr_min is None and args.schedule == "cosine":
        args.lr_min = 0.0
    if args.optimizer == "adam":
        for flag, value in (
            ("--momentum", args.momentum),
            ("--dampened", args.dampened or None),
            ("--nesterov", args.nesterov or None),
        ):
            if value is not None:
                raise UsageError(
                    f"{flag} applies to --optimizer sgd; Adam keeps its own "
                    "running means (β₁ = 0.9, β₂ = 0.999)"
                )
    elif args.momentum is None:
        args.momentum = 0.9
    if args.lr is None and args.optimizer == "adam":
        args.lr = 0.001
    elif args.lr is None and args.loss is not None:
        args.lr = _sgd_learning_rate(args.loss)
    if args.schedule in ("step", "exponential"):
        if args.lr_factor is None:
            args.lr_factor = 0.5 if args.schedule == "step" else 0.95
    elif args.lr_factor is not None:
        raise UsageError(
            f"--lr-factor applies to --schedule step or exponential, not "
            f"{args.schedule}"
        )


def _sgd_learning_rate(loss_name):
    """SGD's default rate: the book's 0.05, or 0.01 for least squares.

    The least-squares gradient 2(f − y) grows with the error, and at 0.05
    with momentum 0.9 the default network diverged on diabetes in its
    first epoch; 0.01 trains it.
    """
    return 0.01 if loss_name == "least-squares" else 0.05


def _check_options(args):
    if args.momentum is not None and not 0.0 <= args.momentum < 1.0:
        raise UsageError(f"--momentum must be in [0, 1), got {args.momentum}")
    if args.nesterov and args.momentum == 0.0:
        raise UsageError("--nesterov needs a momentum above 0 (--momentum)")
    if not (args.weight_decay >= 0.0 and math.isfinite(args.weight_decay)):
        raise UsageError(f"--weight-decay must be ≥ 0, got {args.weight_decay}")
    if args.lr_factor is not None and not 0.0 < args.lr_factor <= 1.0:
        raise UsageError(f"--lr-factor must be in (0, 1], got {args.lr_factor}")
    if (
        args.schedule == "cosine"
        and args.lr is not None
        and not 0.0 <= args.lr_min < args.lr
    ):
        raise UsageError(
            f"--lr-min must be in [0, --lr) = [0, {args.lr}), got {args.lr_min}"
        )
    fraction = args.validation_fraction
    if fraction is not None and not 0.0 < fraction < 1.0:
        raise UsageError(f"--validation-fraction must be in (0, 1), got {fraction}")
    if args.early_stopping and fraction is None and args.validation_data is None:
        raise UsageError(
            "--early-stopping watches the validation loss; add "
            "--validation-fraction F or --validation-data PATH"
        )
    if not 0.0 <= args.relu_at_zero <= 1.0:
        raise UsageError(f"--relu-at-zero must be in [0, 1], got {args.relu_at_zero}")
    if not 0.0 <= args.test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")


def _default_out(data):
    stem = Path(data).stem if ("/" in data or "." in data) else data
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / f"{stem}-{stamp}"
    suffix = 1
    while out.exists():
        suffix += 1
        out = Path("runs") / f"{stem}-{stamp}-{suffix}"
    return out


def _printer(quiet):
    def say(line):
        if not quiet:
            print(line, flush=True)

    return say


def _epoch_line(record, n_epochs):
    parts = [
        f"epoch {record.epoch:>3}/{n_epochs}",
        f"lr {record.learning_rate:.4g}",
        f"train loss {record.train_loss:.4f}",
    ]
    if record.train_accuracy is not None:
        parts.append(f"train acc {record.train_accuracy:.3f}")
    if record.validation_loss is not None:
        parts.append(f"val loss {record.validation_loss:.4f}")
    if record.validation_accuracy is not None:
        parts.append(f"val acc {record.validation_accuracy:.3f}")
    if record.test_loss is not None:
        parts.append(f"test loss {record.test_loss:.4f}")
    if record.test_accuracy is not None:
        parts.append(f"test acc {record.test_accuracy:.3f}")
    return "  ".join(parts)


def _data_identity(args):
    """What lets ``chainrule evaluate`` recognize a data file as the one
    trained on, to re-create the run's split: the SHA-256 of its content
    and the --label-column given."""
    from .evaluate import file_sha256

    if args.data in _builtin_names() or not Path(args.data).is_file():
        return {}
    return {
        "data_sha256": file_sha256(args.data),
        "label_column": args.label_column,
    }


def _regression_fit(model, dataset, standardized):
    """The units of the losses, and RMSE and R² on the test set, for
    regression (least squares on real-valued targets); {} otherwise.

    The losses of the history are in the targets' own units even when the
    network trains on standardized targets (``train``'s ``target_std``),
    so they agree with ``chainrule evaluate``, whose code computes RMSE
    and R² here too.
    """
    from .evaluate import evaluate_model

    if model.loss != "least-squares" or model.classes is not None:
        return {}
    fit = {
        "loss_units": "the targets' own units: Σ_j (f_j − y_j)² averaged over "
        "examples"
        + (
            "; running_loss, the training objective, is on standardized targets"
            if standardized
            else ""
        )
    }
    if dataset.x_test is None or len(dataset.x_test) == 0:
        return fit
    y_test = np.asarray(dataset.y_test, dtype=np.float64)
    y_test = y_test[:, None] if y_test.ndim == 1 else y_test
    results = evaluate_model(model, dataset.x_test, y_test)
    fit["test_rmse"] = results["rmse"]
    fit["test_r2"] = results["r2"]
    return fit


def _metrics(history, args, sizes, loss, dataset, early_stopping=None):
    # The network holds the last epoch's parameters, or the best epoch's
    # when early stopping restored them: report the epoch it holds.
    last = history[-1]
    best_epoch = None if early_stopping is None else early_stopping.best_epoch
    if best_epoch is not None:
        last = history[best_epoch - 1]
    config = {
        "data": dataset.name,
        "sizes": sizes,
        "loss": loss.name,
        "learning_rate": args.lr,
        "momentum": args.momentum,
        "dampened": args.dampened,
        "lr_step": args.lr_step,
        "lr_factor": args.lr_factor,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "dtype": args.dtype,
        "init": args.init,
        "relu_derivative_at_zero": args.relu_at_zero,
        "standardize": args.standardize,
        "test_fraction": args.test_fraction,
        "optimizer": build_optimizer(args).config(),
        "schedule": build_schedule(args).config(),
        "validation_fraction": args.validation_fraction,
        "validation_data": args.validation_data,
        "early_stopping": args.early_stopping,
        "checkpoint_every": args.checkpoint_every,
    }
    metrics = {"train_loss": last.train_loss}
    if last.train_accuracy is not None:
        metrics["train_accuracy"] = last.train_accuracy
    if last.test_loss is not None:
        metrics["test_loss"] = last.test_loss
    if last.test_accuracy is not None:
        metrics["test_accuracy"] = last.test_accuracy
    if last.validation_loss is not None:
        metrics["validation_loss"] = last.validation_loss
    if last.validation_accuracy is not None:
        metrics["validation_accuracy"] = last.validation_accuracy
    if early_stopping is not None:
        metrics["best_epoch"] = best_epoch
        metrics["stopped_early"] = early_stopping.should_stop
    metrics.update(
        {
            "seed": args.seed,
            "version": __version__,
            "config": config,
            "history": [_record_dict(record) for record in history],
        }
    )
    return metrics


def _record_dict(record):
    keys = (
        "epoch",
        "learning_rate",
        "running_loss",
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "validation_loss",
        "validation_accuracy",
        "seconds",
    )
    values = {key: getattr(record, key) for key in keys}
    if record.validation_loss is None:
        del values["validation_loss"], values["validation_accuracy"]
    values.update(record.extra)
    return values


def _shown_number(value):
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _summary(metrics, out, elapsed):
    if metrics.get("best_epoch") is not None:
        stopped = "stopped early; " if metrics["stopped_early"] else ""
        print(
            f"{stopped}kept the parameters of epoch {metrics['best_epoch']}, "
            "the lowest validation loss"
        )
    parts = [f"train loss {metrics['train_loss']:.4f}"]
    for key, label in (
        ("train_accuracy", "train accuracy"),
        ("validation_loss", "validation loss"),
        ("validation_accuracy", "validation accuracy"),
        ("test_loss", "test loss"),
        ("test_accuracy", "test accuracy"),
    ):
        if key in metrics:
            parts.append(f"{label} {metrics[key]:.4f}")
    for key, label in (("test_rmse", "test RMSE"), ("test_r2", "test R²")):
        if key in metrics:
            values = ", ".join(_shown_number(v) for v in metrics[key])
            parts.append(f"{label} {values}")
    print("done in {:.1f} s: {}".format(elapsed, ", ".join(parts)))
    names = sorted(path.name for path in out.iterdir() if path.is_file())
    print(f"saved {', '.join(names)} in {out}/")
    sys.stdout.flush()
