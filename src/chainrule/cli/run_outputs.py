"""What a ``chainrule train`` run prints and the files it leaves.

The output folder (chosen, and checked before training), the line
printed after each epoch, the metrics kept in metrics.json, the files
model.npz, metrics.json, curves.png and gradient_flow.png, and the
summary printed at the end.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import write_text
from ..model_file import save
from .errors import CommandError, UsageError
from .evaluate import evaluate_model
from .training_options import build_optimizer, build_schedule


def default_out(data):
    """A new folder runs/<data>-<timestamp>/ for the run's files."""
    stem = Path(data).stem if ("/" in data or "." in data) else data
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / f"{stem}-{stamp}"
    suffix = 1
    while out.exists():
        suffix += 1
        out = Path("runs") / f"{stem}-{stamp}-{suffix}"
    return out


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


def printer(quiet):
    """A function that prints a line, or nothing when ``quiet``."""

    def say(line):
        if not quiet:
            print(line, flush=True)

    return say


def epoch_line(record, n_epochs):
    """The line printed at the end of an epoch."""
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


def run_metrics(history, args, sizes, loss, dataset, early_stopping=None):
    """The run's final metrics, configuration and history, for metrics.json."""
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


def regression_fit(model, dataset, standardized):
    """The units of the losses, and RMSE and R² on the test set, for
    regression (least squares on real-valued targets); {} otherwise.

    The losses of the history are in the targets' own units even when the
    network trains on standardized targets (``train``'s ``target_std``),
    so they agree with ``chainrule evaluate``, whose code computes RMSE
    and R² here too.
    """
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


def summary(metrics, out, elapsed):
    """Print the run's final figures and the files it saved."""
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


def _shown_number(value):
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"
