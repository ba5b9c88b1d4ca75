"""``chainrule train``: train a ReLU network on a dataset, save the results.

The defaults are the book's MNIST-1D experiment on the text's three-layer
network: 40 → 100 → 100 → 100 → 10, He initialization, cross-entropy,
SGD with learning rate 0.05 and momentum 0.9, the learning rate halved
every 10 epochs, batches of 100, 50 epochs.

This module holds the command's options and ``run``, which goes through
a run step by step. The steps live in their own modules:
``training_options`` (defaults that depend on other options, checks, the
optimizer and schedule), ``training_data`` (the data set, validation
hold-out and column arrays), ``checkpoints`` (checkpoints, resuming,
stopping on Ctrl-C) and ``run_outputs`` (the output folder, the lines
printed, metrics.json and the other files).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from ..diagnostics import GradientFlowMonitor
from ..model_file import Model
from ..network import Network
from ..parallel import (
    DataParallelStep,
    RanksStopError,
    agreed_flag,
    start_together,
    world,
)
from ..training import EarlyStopping, TrainingInterruptedError, train
from ..training.checkpoint import fingerprint
from ..training.loop import DivergenceError
from .checkpoints import (
    CHECKPOINT,
    RUN_OPTIONS,
    Checkpoints,
    StopOnSignal,
    check_resumed_data,
    describe_position,
    open_resume,
    resume_position,
)
from .errors import CommandError, status_before_training
from .options import (
    add_threads_option,
    apply_threads,
    check_label_options,
    help_description,
    parse_hidden,
    positive_float,
    positive_int,
    seed,
)
from .progress import ProgressBar
from .run_outputs import (
    check_output_folder,
    default_out,
    epoch_line,
    printer,
    regression_fit,
    run_metrics,
    summary,
    write_outputs,
)
from .training_data import (
    data_identity,
    load_training_data,
    one_hot_targets,
    output_size,
    target_statistics,
    to_training_arrays,
)
from .training_options import (
    build_optimizer,
    build_schedule,
    check_applicable,
    check_options,
    given_situational_options,
    resolve_defaults,
    sgd_learning_rate,
)

# What each of RUN_OPTIONS holds when it is not given; add_parser fills
# it in, and --resume compares the options given with it.
_DEFAULTS = {}


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
        "ReLUs, mean and std of h_k, update sizes ‖ΔΩ_k‖/‖Ω_k‖ and ‖Δβ_k‖) "
        "in metrics.json and gradient_flow.png, with warnings naming a "
        "vanishing or exploding layer",
    )
    add_threads_option(output)
    parser.set_defaults(handler=run)
    # What each option holds when it is not given (parse_args resolves
    # options that share a destination, such as --no-standardize).
    defaults = vars(parser.parse_args([]))
    _DEFAULTS.update({name: defaults[name] for name in RUN_OPTIONS})
    return parser


def run(args):
    """Train as the options say; return the exit status.

    The status is 0 when the run's files are written, 130 when Ctrl-C
    or SIGTERM stopped it (after writing a checkpoint).
    """
    # Every rank prepares; under MPI they then agree whether any failed,
    # so that all stop together, before the first all-reduce, and rank 0
    # alone reports the error.
    with start_together(status_before_training):
        # Check the options, restoring a resumed run's first.
        given = given_situational_options(args)
        args.given_options = given
        resumed = open_resume(args, _DEFAULTS) if args.resume is not None else None
        check_applicable(args, given)
        resolve_defaults(args)
        check_options(args)
        check_label_options(args.data, args.label_column, args.task)
        apply_threads(args.threads)
        started = time.perf_counter()
        out = _output_folder(args, resumed is not None)

        # The data, as the core's column arrays.
        dataset, loss, standardizer, held_out = load_training_data(args)
        if args.lr is None:
            args.lr = sgd_learning_rate(loss.name)
            check_options(args)
        targets = target_statistics(dataset, loss, standardizer is not None)
        dtype = np.dtype(args.dtype)
        n_classes = len(dataset.classes) if one_hot_targets(dataset, loss) else None

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

        # A new network and optimizer, or the resumed run's.
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
            check_resumed_data(
                args.resume, resumed, sizes, data_fingerprint, args.epochs
            )
            network, optimizer, state = _resumed_training(args, resumed)
        schedule = build_schedule(args)
        early_stopping = (
            EarlyStopping(args.early_stopping) if args.early_stopping else None
        )

        # Say what is trained on what. Under MPI only rank 0 prints and
        # writes files.
        where = world()
        root = where.rank == 0
        say = printer(args.quiet or not root)
        n_validation = 0 if x_validation is None else x_validation.shape[1]
        n_test = 0 if x_test is None else x_test.shape[1]
        say(
            f"training {'-'.join(map(str, sizes))} on {dataset.name} "
            f"({x.shape[1]} train, "
            + (f"{n_validation} validation, " if n_validation else "")
            + f"{n_test} test), {loss.name}, {args.dtype}, seed {args.seed}"
        )
        n_steps = math.ceil(x.shape[1] / args.batch_size)
        if state is not None:
            say(
                f"resuming from {out / CHECKPOINT} at {resume_position(state, n_steps)}"
            )

        # What goes along with training: the progress bar, the gradient-flow
        # monitor (--diagnostics), the data-parallel step and the checkpoints.
        bar = ProgressBar(enabled=not args.quiet and root)
        monitor = None
        if args.diagnostics:
            monitor = GradientFlowMonitor(
                network, batch_size=args.batch_size, n_examples=x.shape[1]
            )
        # Data-parallel under MPI: each rank takes its share of every batch,
        # and one all-reduce of the flat gradient joins them.
        step = None
        if where.size > 1:
            step = DataParallelStep(network, loss, where.comm)
            say(f"data-parallel over {where.size} processes (MPI)")
        checkpoints = Checkpoints(out, network, optimizer, schedule, args)
        checkpoints.config["fingerprint"] = data_fingerprint
        checkpoints.watch(x, y, loss, None if targets is None else targets[1])

    def callback(progress):
        bar.update(progress)
        if progress.record is not None:
            bar.clear()
            say(epoch_line(progress.record, args.epochs))

    # Train; a divergence or a stop request keeps the last checkpoint.
    try:
        with StopOnSignal() as stop:
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
                stop_requested=agreed_flag(stop.requested, where.comm),
                monitor=monitor,
                step=step,
            )
    except DivergenceError as error:
        bar.clear()
        raise CommandError(str(error) + checkpoints.after_failure()) from None
    except TrainingInterruptedError as interrupted:
        bar.clear()
        # Under MPI every rank stopped after the same step (the stop
        # request is agreed at each step boundary); rank 0 writes.
        if root:
            path = checkpoints.write(interrupted.state)
            position = describe_position(interrupted.state, n_steps)
            print(
                f"chainrule train: interrupted {position}; checkpoint saved to "
                f"{path}; continue with: chainrule train --resume {out}",
                file=sys.stderr,
            )
        if where.size > 1:
            raise RanksStopError(130) from None
        return 130
    except BaseException:
        bar.clear()
        checkpoints.after_failure()
        raise
    finally:
        bar.clear()

    # The model file, metrics.json and the plots; then the summary.
    model = _trained_model(args, network, loss, dataset, standardizer, targets)
    metrics = run_metrics(history, args, sizes, loss, dataset, early_stopping)
    metrics.update(regression_fit(model, dataset, targets is not None))
    metrics["processes"] = where.size
    if not root:
        return 0
    write_outputs(out, model, metrics, history)
    elapsed = time.perf_counter() - started
    summary(metrics, out, elapsed)
    return 0


def _output_folder(args, resuming):
    """The run's folder: --resume DIR, --out DIR, or a new runs/… folder.

    Under MPI only rank 0 writes files, so only it checks the folder
    (ranks probing one folder at once would trip over each other).
    """
    checking = world().rank == 0
    if resuming:
        out = args.resume
        if checking:
            check_output_folder(out, "--resume")
    else:
        out = args.out or default_out(args.data)
        if checking:
            check_output_folder(out, "--out")
    return out


def _resumed_training(args, resumed):
    """The resumed run's network, optimizer and training state.

    A new --lr starts the optimizer afresh: momentum built up at the old
    rate (typically before a divergence) would carry on at the new one.
    """
    network, optimizer, state = resumed.network, resumed.optimizer, resumed.state
    saved_lr = resumed.config["options"]["lr"]
    if args.lr != saved_lr:
        optimizer = build_optimizer(args)
    if args.lr != saved_lr and world().rank == 0:
        print(
            f"chainrule train: note: the learning rate changes from "
            f"{saved_lr} to {args.lr}; the optimizer's running state "
            "(momentum, Adam's averages) starts afresh",
            file=sys.stderr,
        )
    return network, optimizer, state


def _trained_model(args, network, loss, dataset, standardizer, targets):
    """The model file's contents: the network and what it needs to be used."""
    return Model(
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
            **data_identity(args),
        },
        feature_names=dataset.feature_names,
        label_names=dataset.label_names,
    )
