"""``chainrule evaluate``: measure a saved model on a data set.

Classification reports the loss, the accuracy and the confusion matrix;
multi-label adds the exact-match rate and a 2 × 2 table per label;
regression reports the loss, RMSE and R², in the targets' own units.

The data the model was trained on (a built-in set, or the same file,
recognized by its content) are split as the training run split them,
from the seed and fractions in the model file, and their test part is
evaluated by default. Other data are evaluated whole.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from ..arrays import to_numpy
from ..data import BUILTIN_NAMES, Standardizer
from ..losses import get_loss
from ..training.loop import evaluate
from ..training.validation import align_labels, validation_split
from .errors import CommandError
from .inputs import check_feature_count, load_data, open_model
from .options import (
    add_model_argument,
    add_threads_option,
    apply_threads,
    check_label_options,
    help_description,
)
from .options import label_columns as parse_label_columns
from .tables import labelled_table


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="loss, accuracy and confusion matrix (or R² and RMSE) of a "
        "saved model on a data set",
        description=help_description(__doc__, 3),
    )
    add_model_argument(parser)
    parser.add_argument(
        "--data",
        required=True,
        metavar="NAME|PATH",
        help="a built-in data set name or a .csv/.npz file with labels",
    )
    parser.add_argument(
        "--label-column",
        metavar="COLUMN",
        help="CSV label column(s), as for train (default: the last column)",
    )
    parser.add_argument(
        "--part",
        choices=["test", "train", "validation", "all"],
        help="which examples to evaluate: the test part, the examples "
        "trained on, the validation part, or all of them. The training "
        "run's split is re-created from the model's seed and fractions "
        "when the data are those it was trained on (a built-in set of that "
        "name, or the same file) (default: test when there is a test part, "
        "else all)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    add_threads_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args):
    check_label_options(args.data, args.label_column)
    apply_threads(args.threads)
    model = open_model(args.model)
    rows, targets, name = load_labelled_examples(
        model, args.data, args.label_column, args.part
    )
    results = evaluate_model(model, rows, targets)
    results = {"model": str(args.model), "data": name, **results}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_results(results, model))
    sys.stdout.flush()
    return 0


def load_labelled_examples(model, spec, label_column=None, part=None):
    """Rows and targets from ``spec``, checked against and aligned to the model.

    When ``spec`` is the data the model was trained on (a built-in set of
    that name, or a file whose content hash the model recorded), the
    training run's splits are re-created from the model's metadata: the
    test part from its seed and test fraction, and the validation part
    from its validation fraction. Other data have no split of their own
    (unless an NPZ file brings test arrays) and are evaluated whole.

    Parameters
    ----------
    part : {"test", "train", "validation", "all"}, optional
        Default: "test" when the data have a test part, "all" otherwise.
        "train" is the examples trained on, without the validation ones.

    Returns
    -------
    rows : ndarray of shape (N, D_i)
    targets : ndarray
        Class ids into ``model.classes`` (N,) for classification; the
        target values (N, D_o) otherwise.
    name : str
        Describes what was loaded, e.g. "iris, test part (30 examples)".
    """
    builtin = isinstance(spec, str) and spec in BUILTIN_NAMES
    metadata = model.metadata or {}
    same = is_training_data(model, spec)
    seed = _seed(metadata.get("seed"))
    test_fraction = _fraction(metadata.get("test_fraction", 0.2)) if same else 0.0
    if label_column is None and same:
        label_column = metadata.get("label_column")
    if builtin:
        dataset = load_data(spec, test_fraction=test_fraction, seed=seed)
    else:
        dataset = load_data(
            spec,
            test_fraction=test_fraction,
            seed=seed,
            label_columns=parse_label_columns(label_column),
            task=model.task,
        )

    check_feature_count(spec, dataset.n_features, model.n_features)
    has_test = dataset.x_test is not None and len(dataset.x_test) > 0
    part = part or ("test" if has_test else "all")
    if part == "test" and not has_test:
        raise CommandError(_no_test_part(spec, same, metadata))
    pieces = _pieces(dataset, part, same, metadata, seed, spec)
    rows = np.concatenate([dataset_x[index] for _, dataset_x, _, index in pieces])
    if model.classes is not None:
        if dataset.classes is None:
            raise CommandError(
                f"{spec}: the labels are not classes ({dataset.task}), but "
                f"the model predicts {len(model.classes)} classes"
            )
        try:
            targets = np.concatenate(
                [
                    align_labels(
                        y[index],
                        dataset.classes,
                        model.classes,
                        spec,
                        lambda i, which=which, index=index: dataset.where(
                            which, int(index[i])
                        ),
                    )
                    for which, _, y, index in pieces
                ]
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
    else:
        targets = np.concatenate([y[index] for _, _, y, index in pieces])
        targets = targets.astype(np.float64)
        if targets.ndim == 1:
            targets = targets[:, None]
        if targets.shape[1] != model.n_outputs:
            raise CommandError(
                f"{spec}: {targets.shape[1]} label column(s), but the model "
                f"has {model.n_outputs} output(s); the label columns must "
                "match the model's"
            )
    name = f"{dataset.name}, {part} part ({len(rows)} examples)"
    return rows, targets, name


def is_training_data(model, spec):
    """Whether ``spec`` names the data the model was trained on.

    A built-in set is recognized by its name; a file by the SHA-256 of its
    content, which ``chainrule train`` records in the model's metadata.
    """
    metadata = model.metadata or {}
    if isinstance(spec, str) and spec in BUILTIN_NAMES:
        # A file's stem may be a built-in name (iris.csv): a model
        # trained on a file records its hash.
        return metadata.get("data") == spec and "data_sha256" not in metadata
    recorded = metadata.get("data_sha256")
    path = Path(spec)
    if recorded is None or not path.is_file():
        return False
    return file_sha256(path) == recorded


def file_sha256(path):
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pieces(dataset, part, same, metadata, seed, spec):
    """(which, x, y, indices) for each piece of ``part``."""
    every_train = np.arange(dataset.n_train)
    keep, held = every_train, None
    fraction = metadata.get("validation_fraction")
    if same and fraction is not None:
        class_ids = dataset.y_train if dataset.task == "classification" else None
        with warnings.catch_warnings():
            # The training run already warned about its split.
            warnings.simplefilter("ignore")
            try:
                keep, held = validation_split(
                    dataset.n_train, float(fraction), seed, class_ids, source=spec
                )
            except (TypeError, ValueError) as error:
                raise CommandError(f"{spec}: {error}") from None
    if part == "validation":
        if held is None:
            raise CommandError(
                f"{spec}: the model was not trained with --validation-fraction "
                "on these data, so there is no validation part to re-create; "
                "choose --part test, train or all"
            )
        return [("train", dataset.x_train, dataset.y_train, held)]
    pieces = []
    if part == "train":
        pieces.append(("train", dataset.x_train, dataset.y_train, keep))
    if part == "all":
        pieces.append(("train", dataset.x_train, dataset.y_train, every_train))
    if part in ("test", "all") and dataset.x_test is not None:
        every_test = np.arange(len(dataset.x_test))
        pieces.append(("test", dataset.x_test, dataset.y_test, every_test))
    return pieces


def _no_test_part(spec, same, metadata):
    if same:
        return (
            f"{spec}: the model was trained on every example of it (test "
            "fraction 0), so there is no test part; choose --part train or all"
        )
    return (
        f"{spec}: has no test part: it is not the data the model was trained "
        "on (or the model does not record them), so the training run's split "
        "cannot be re-created; evaluate it whole with --part all"
    )


def evaluate_model(model, rows, targets):
    """The metrics of ``model`` on labelled rows, as a JSON-able dict.

    The loss is computed as the training run computed the losses it
    reported (see ``training_loss``), so that on the run's own data it
    equals metrics.json's to the last bit. RMSE and R² come from the
    outputs mapped back to the targets' units, in float64.
    """
    output = model.output(rows)
    n_examples = len(rows)
    results = {"n_examples": n_examples, "loss_name": model.loss}
    results["loss"] = training_loss(model, rows, targets)

    if model.loss == "cross-entropy":
        return {**results, **_class_metrics(np.argmax(output, axis=1), targets, model)}

    if model.loss == "binary-cross-entropy":
        labels = targets[:, None] if targets.ndim == 1 else targets
        labels = labels.astype(output.dtype)
        predicted = (output >= 0).astype(np.int64)
        if model.classes is not None:
            return {**results, **_class_metrics(predicted[:, 0], targets, model)}
        return {**results, **_multilabel_metrics(predicted, labels, model)}

    # Least squares, in the targets' own units.
    if model.is_one_hot_regression:
        return {**results, **_class_metrics(np.argmax(output, axis=1), targets, model)}
    residual = output - targets
    mean_square = np.mean(residual**2, axis=0)
    total = np.sum((targets - targets.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1.0 - np.sum(residual**2, axis=0) / total, np.nan)
    results["rmse"] = [float(v) for v in np.sqrt(mean_square)]
    results["r2"] = [float(v) for v in r2]
    results["names"] = model.label_names
    return results


def training_loss(model, rows, targets):
    """The mean loss of ``model`` on labelled rows, as training computes it.

    The rows and targets become the column arrays a training run builds
    (standardized inputs; targets standardized with the model's target
    statistics, or one-hot; both in the network's dtype), and the loss is
    evaluated by the training loop's own ``evaluate``: in the network's
    dtype, and for standardized regression targets in the targets' units,
    Σ_j std_j² (f_j − y_j)² averaged over examples.

    Notes
    -----
    Regression targets are standardized and rounded to the network's
    dtype before the loss is taken, as in training; for float32 that
    changes the loss by about float32's relative precision (1e-7) from
    one computed in float64 on the targets as given.
    """
    # Imported here: training_data itself imports this module.
    from .training_data import to_training_arrays

    loss = get_loss(model.loss)
    dtype = to_numpy(model.network.parameters).dtype
    standardizer = None
    if model.input_mean is not None:
        standardizer = Standardizer(model.input_mean, model.input_std)
    statistics = None
    if model.target_mean is not None:
        statistics = (model.target_mean, model.target_std)
    n_classes = len(model.classes) if model.is_one_hot_regression else None
    x, y = to_training_arrays(
        np.asarray(rows, dtype=np.float64),
        targets,
        loss,
        dtype,
        standardizer,
        statistics,
        n_classes,
    )
    target_std = None if statistics is None else model.target_std
    value, _ = evaluate(model.network, x, y, loss, target_std=target_std)
    return float(value)


def _class_metrics(predicted, targets, model):
    n_classes = len(model.classes) if model.classes is not None else 2
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    return {
        "accuracy": float(np.mean(predicted == targets)),
        "classes": model.classes,
        "confusion_matrix": confusion.tolist(),
    }


def _multilabel_metrics(predicted, labels, model):
    truth = labels.astype(np.int64)
    names = model.label_names or [f"label {j}" for j in range(truth.shape[1])]
    tables = {}
    for j, name in enumerate(names):
        tables[name] = {
            "true_negative": int(np.sum((truth[:, j] == 0) & (predicted[:, j] == 0))),
            "false_positive": int(np.sum((truth[:, j] == 0) & (predicted[:, j] == 1))),
            "false_negative": int(np.sum((truth[:, j] == 1) & (predicted[:, j] == 0))),
            "true_positive": int(np.sum((truth[:, j] == 1) & (predicted[:, j] == 1))),
        }
    return {
        "accuracy": float(np.mean(predicted == truth)),
        "exact_match": float(np.mean(np.all(predicted == truth, axis=1))),
        "per_label": tables,
    }


def format_results(results, model):
    """The results as a short report for a terminal."""
    sizes = "-".join(str(d) for d in model.network.sizes)
    lines = [
        f"model {results['model']} ({sizes}, {model.loss})",
        f"data  {results['data']}",
        f"loss  {results['loss']:.6g}",
    ]
    if "accuracy" in results:
        lines.append(f"accuracy  {results['accuracy']:.4f}")
    if "exact_match" in results:
        lines.append(f"exact match  {results['exact_match']:.4f}")
    if "confusion_matrix" in results:
        labels = [str(c) for c in (results["classes"] or [0, 1])]
        lines.append("confusion matrix (rows: true class, columns: predicted)")
        lines += labelled_table(labels, labels, results["confusion_matrix"])
    if "per_label" in results:
        names = list(results["per_label"])
        header = ["true neg", "false pos", "false neg", "true pos"]
        body = [list(t.values()) for t in results["per_label"].values()]
        lines += labelled_table(names, header, body)
    if "rmse" in results:
        names = results["names"] or [f"output {j}" for j in range(len(results["r2"]))]
        body = [
            [f"{r:.6g}", f"{q:.4f}"]
            for r, q in zip(results["rmse"], results["r2"], strict=True)
        ]
        lines += labelled_table(names, ["RMSE", "R²"], body)
    return "\n".join(lines)


def _seed(value):
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 0
    return value if 0 <= value < 2**32 else 0


def _fraction(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.2
    return value if 0.0 <= value < 1.0 else 0.2
