"""The data ``chainrule train`` trains on, from its options.

Loading the data set named by --data and choosing its loss, holding out
validation examples (--validation-fraction or --validation-data), and
turning rows and labels into the core's column arrays: standardized
inputs, class ids or target columns, and the output size D_o they call
for.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from pathlib import Path

import numpy as np

from ..data import (
    BUILTIN_NAMES,
    DataError,
    Standardizer,
    check_labels_for_loss,
    check_training_classes,
    default_standardize,
    load_dataset,
    to_columns,
)
from ..losses import get_loss
from ..parallel import is_root
from ..training import validation_split
from ..training.validation import align_labels
from .errors import CommandError
from .evaluate import file_sha256
from .options import LOSS_FOR_TASK, label_columns


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
                    class_names=dataset.classes,
                )
            except ValueError as error:
                raise CommandError(f"--validation-fraction: {error}") from None
        # Under MPI every rank splits alike; rank 0 alone says so.
        for warning in caught if is_root() else ():
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
    if one_hot_targets(dataset, loss):
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
    if one_hot_targets(dataset, loss) or loss.name == "cross-entropy":
        return len(dataset.classes)
    y = np.asarray(dataset.y_train)
    return 1 if y.ndim == 1 else y.shape[1]


def one_hot_targets(dataset, loss):
    """Least squares on class labels regresses onto one-hot vectors."""
    return loss.name == "least-squares" and dataset.task == "classification"


def data_identity(args):
    """What lets ``chainrule evaluate`` recognize a data file as the one
    trained on, to re-create the run's split: the SHA-256 of its content
    and the --label-column given."""
    if args.data in BUILTIN_NAMES or not Path(args.data).is_file():
        return {}
    return {
        "data_sha256": file_sha256(args.data),
        "label_column": args.label_column,
    }
