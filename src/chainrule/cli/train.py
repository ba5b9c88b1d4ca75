"""``chainrule train``: train a ReLU network on a dataset, save the results.

The defaults are the book's MNIST-1D experiment on the text's three-layer
network: 40 → 100 → 100 → 100 → 10, He initialization, cross-entropy,
SGD with learning rate 0.05 and momentum 0.9, the learning rate halved
every 10 epochs, batches of 100, 50 epochs.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import write_text
from ..losses import get_loss
from ..model_file import Model, save
from ..network import Network
from ..training import SGD, StepSchedule, train
from ..training.loop import DivergenceError
from .errors import CommandError, UsageError
from .options import (
    add_threads_option,
    apply_threads,
    parse_hidden,
    positive_float,
    positive_int,
)
from .progress import ProgressBar

LOSS_FOR_TASK = {
    "classification": "cross-entropy",
    "regression": "least-squares",
    "multilabel": "binary-cross-entropy",
}


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a ReLU network (default: the book's MNIST-1D experiment)",
        description=__doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[1],
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
        default=0.2,
        metavar="F",
        help="fraction held out for testing when the data has no test part "
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
        help="hidden layer widths D_1 … D_K (default: 100,100,100)",
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
        "--lr",
        type=positive_float,
        default=0.05,
        help="learning rate α (default: 0.05)",
    )
    optimization.add_argument(
        "--momentum",
        type=float,
        default=0.9,
        help="momentum μ in [0, 1) (default: 0.9)",
    )
    optimization.add_argument(
        "--dampened",
        action="store_true",
        help="use the book's eq. 6.11 form v ← μv + (1−μ)g instead of v ← μv + g",
    )
    optimization.add_argument(
        "--lr-step",
        type=positive_int,
        default=10,
        metavar="E",
        help="multiply the learning rate by --lr-factor every E epochs (default: 10)",
    )
    optimization.add_argument(
        "--lr-factor",
        type=float,
        default=0.5,
        metavar="G",
        help="learning-rate factor in (0, 1] (default: 0.5)",
    )
    optimization.add_argument(
        "--batch-size", type=positive_int, default=100, help="(default: 100)"
    )
    optimization.add_argument(
        "--epochs", type=positive_int, default=50, help="(default: 50)"
    )
    optimization.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for initialization, shuffling and splits (default: 0)",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default: a new runs/<data>-<timestamp>/)",
    )
    output.add_argument(
        "--quiet", action="store_true", help="print only the final summary"
    )
    add_threads_option(output)
    parser.set_defaults(handler=run)
    return parser


def run(args):
    _check_options(args)
    apply_threads(args.threads)
    started = time.perf_counter()
    out = args.out or _default_out(args.data)
    if out.exists() and any(out.iterdir()):
        raise UsageError(
            f"--out {out}: the folder exists and is not empty; choose "
            "another or remove it"
        )

    dataset, loss, standardizer = load_training_data(args)
    targets = target_statistics(dataset, loss, standardizer is not None)
    dtype = np.dtype(args.dtype)
    n_classes = len(dataset.classes) if _one_hot_targets(dataset, loss) else None
    x, y = to_training_arrays(
        dataset.x_train,
        dataset.y_train,
        loss,
        dtype,
        standardizer,
        targets,
        n_classes,
    )
    x_test = y_test = None
    if dataset.x_test is not None and len(dataset.x_test):
        x_test, y_test = to_training_arrays(
            dataset.x_test,
            dataset.y_test,
            loss,
            dtype,
            standardizer,
            targets,
            n_classes,
        )
    sizes = [x.shape[0], *args.hidden, output_size(dataset, loss)]

    rng = np.random.default_rng(args.seed)
    network = Network.initialize(
        sizes,
        rng,
        dtype=dtype,
        relu_derivative_at_zero=args.relu_at_zero,
        distribution=args.init,
    )
    say = _printer(args.quiet)
    say(
        f"training {'-'.join(map(str, sizes))} on {dataset.name} "
        f"({x.shape[1]} train, {0 if x_test is None else x_test.shape[1]} "
        f"test), {loss.name}, {args.dtype}, seed {args.seed}"
    )

    bar = ProgressBar(enabled=not args.quiet)

    def callback(progress):
        bar.update(progress)
        if progress.record is not None:
            bar.clear()
            say(_epoch_line(progress.record, args.epochs))

    try:
        history = train(
            network,
            x,
            y,
            loss,
            epochs=args.epochs,
            batch_size=args.batch_size,
            schedule=StepSchedule(args.lr, args.lr_step, args.lr_factor),
            optimizer=SGD(args.momentum, dampened=args.dampened),
            rng=rng,
            x_test=x_test,
            y_test=y_test,
            callback=callback,
        )
    except DivergenceError as error:
        bar.clear()
        raise CommandError(str(error)) from None
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
        metadata={"data": dataset.name, "seed": args.seed},
    )
    metrics = _metrics(history, args, sizes, loss, dataset)
    write_outputs(out, model, metrics, history)
    elapsed = time.perf_counter() - started
    _summary(metrics, out, elapsed)
    return 0


def load_training_data(args):
    """Load the dataset named by --data and choose the loss for it."""
    from ..data import (
        DataError,
        Standardizer,
        check_labels_for_loss,
        default_standardize,
        load_dataset,
    )

    try:
        dataset = load_dataset(
            args.data,
            test_fraction=args.test_fraction,
            seed=args.seed,
            label_columns=_label_columns(args.label_column),
            task=args.task,
        )
        loss_name = args.loss or LOSS_FOR_TASK[dataset.task]
        check_labels_for_loss(dataset, loss_name)
    except DataError as error:
        raise CommandError(str(error)) from None
    standardize = args.standardize
    if standardize is None:
        standardize = default_standardize(args.data)
    standardizer = Standardizer.fit(dataset.x_train) if standardize else None
    return dataset, get_loss(loss_name), standardizer


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
    from ..plots import plot_curves

    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        save(out / "model.npz", model)
        write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        plot_curves(history, out / "curves.png", title=metrics["config"]["data"])
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _check_options(args):
    if not 0.0 <= args.momentum < 1.0:
        raise UsageError(f"--momentum must be in [0, 1), got {args.momentum}")
    if not 0.0 < args.lr_factor <= 1.0:
        raise UsageError(f"--lr-factor must be in (0, 1], got {args.lr_factor}")
    if not 0.0 <= args.relu_at_zero <= 1.0:
        raise UsageError(f"--relu-at-zero must be in [0, 1], got {args.relu_at_zero}")
    if not 0.0 <= args.test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")


def _label_columns(text):
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    columns = [int(part) if _is_int(part) else part for part in parts]
    return columns[0] if len(columns) == 1 else columns


def _is_int(text):
    try:
        int(text)
    except ValueError:
        return False
    return True


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
    if record.test_loss is not None:
        parts.append(f"test loss {record.test_loss:.4f}")
    if record.test_accuracy is not None:
        parts.append(f"test acc {record.test_accuracy:.3f}")
    return "  ".join(parts)


def _metrics(history, args, sizes, loss, dataset):
    last = history[-1]
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
    }
    metrics = {"train_loss": last.train_loss}
    if last.train_accuracy is not None:
        metrics["train_accuracy"] = last.train_accuracy
    if last.test_loss is not None:
        metrics["test_loss"] = last.test_loss
    if last.test_accuracy is not None:
        metrics["test_accuracy"] = last.test_accuracy
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
        "seconds",
    )
    values = {key: getattr(record, key) for key in keys}
    values.update(record.extra)
    return values


def _summary(metrics, out, elapsed):
    parts = [f"train loss {metrics['train_loss']:.4f}"]
    for key, label in (
        ("train_accuracy", "train accuracy"),
        ("test_loss", "test loss"),
        ("test_accuracy", "test accuracy"),
    ):
        if key in metrics:
            parts.append(f"{label} {metrics[key]:.4f}")
    print("done in {:.1f} s: {}".format(elapsed, ", ".join(parts)))
    print(f"saved model.npz, metrics.json and curves.png in {out}/")
    sys.stdout.flush()
