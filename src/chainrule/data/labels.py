"""Targets: what task the labels call for, class ids, and loss checks.

Class labels may be integers or strings. They are mapped to class ids
0 … C − 1 in sorted order (integers numerically, strings as text), and
the original values are kept so that ``classes[i]`` is the label of
class id i.

When no task is given it is inferred from the label values:

| label columns | values | task |
| --- | --- | --- |
| one | all integers, or any text | classification |
| one | real numbers, some not integers | regression |
| several | all 0 or 1 | multilabel |
| several | real numbers | regression |
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .cells import parse_number
from .errors import DataError

LOSS_NAMES = ("cross-entropy", "binary-cross-entropy", "least-squares")


def _shown(value) -> str:
    # A label or cell as it appears in a message, cut to a readable length.
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_cells(cells: np.ndarray, locate) -> tuple[np.ndarray, np.ndarray]:
    # Parse text cells as numbers where they are numbers.
    numbers = np.full(cells.shape, np.nan)
    is_number = np.zeros(cells.shape, dtype=bool)
    for (i, j), cell in np.ndenumerate(cells):
        text = cell.strip()
        if text == "":
            raise DataError(
                f"{locate(i, j)}: missing value; expected a label in every row"
            )
        number = parse_number(text)
        if number is None:
            continue
        numbers[i, j] = number
        is_number[i, j] = True
    return numbers, is_number


def _first(mask: np.ndarray) -> tuple[int, int]:
    i, j = np.argwhere(mask)[0]
    return int(i), int(j)


def _python_value(value):
    # numpy scalars become plain int, float or str, so classes stay
    # JSON-able.
    if isinstance(value, (np.integer, np.bool_)):
        return int(value)
    if isinstance(value, np.floating):
        number = float(value)
        return int(number) if number.is_integer() else number
    return str(value)


def encode_labels(
    cells: np.ndarray,
    task: str | None,
    locate: Callable[[int, int], str],
) -> tuple[np.ndarray, list | None, str]:
    """Turn raw label values into targets for a task.

    Parameters
    ----------
    cells : ndarray of shape (N, L)
        The label values, one row per example and one column per label
        column: numbers, or text (as read from a CSV file, not yet
        parsed).
    task : {"classification", "regression", "multilabel"} or None
        The task asked for; None infers it from the values (see the
        module's table).
    locate : callable
        ``locate(i, j)`` names cell (i, j) in error messages, for example
        ``"data.csv, line 7, column 5"``.

    Returns
    -------
    y : ndarray
        int64 class ids of shape (N,) for classification; float64 of
        shape (N, L) otherwise.
    classes : list or None
        The original label of each class id, for classification.
    task : str
        The task, inferred or as given.

    Raises
    ------
    DataError
        A missing label, NaN or infinity among numeric labels, text where
        numbers are needed, several label columns for classification, or a
        value other than 0/1 for multilabel. The message names the cell.
    """
    if cells.ndim != 2:
        raise ValueError(f"label cells must have shape (N, L); got {cells.shape}")
    n_columns = cells.shape[1]
    if cells.dtype.kind in "US":
        cells = cells.astype(str)
        numbers, is_number = _parse_cells(cells, locate)
    elif cells.dtype.kind in "biuf":
        numbers = cells.astype(np.float64)
        is_number = np.ones(cells.shape, dtype=bool)
    else:
        raise DataError(
            f"{locate(0, 0)}: labels of dtype {cells.dtype} are not supported; "
            "expected numbers or text"
        )
    all_numbers = bool(is_number.all())

    # NaN and infinity are never labels, even where text is allowed.
    if all_numbers:
        not_finite = ~np.isfinite(numbers)
        if not_finite.any():
            i, j = _first(not_finite)
            raise DataError(
                f"{locate(i, j)}: label {_shown(_cell(cells, i, j))} is not a "
                "finite number; expected a finite number or a class name"
            )
    is_integer = all_numbers and bool(np.all(numbers == np.round(numbers)))
    is_binary = all_numbers and bool(np.all((numbers == 0) | (numbers == 1)))

    if task is None:
        if n_columns == 1:
            classes_wanted = is_integer or not all_numbers
            task = "classification" if classes_wanted else "regression"
        elif is_binary:
            task = "multilabel"
        else:
            task = "regression"

    if task == "classification":
        if n_columns != 1:
            raise DataError(
                f"{locate(0, 0)}: classification takes one label column, "
                f"got {n_columns}; for several 0/1 columns use "
                "task='multilabel'"
            )
        _check_class_labels(cells, numbers, is_number, locate)
        # Integers beyond 2**53 lose digits as floats: keep them as text.
        exact = all_numbers and bool(np.all(np.abs(numbers) < 2**53))
        if exact:
            values = numbers[:, 0]
            if is_integer:
                values = values.astype(np.int64)
        else:
            values = np.char.strip(cells[:, 0].astype(str))
        classes, y = np.unique(values, return_inverse=True)
        classes = [_python_value(value) for value in classes]
        return y.reshape(-1).astype(np.int64), classes, task

    if not all_numbers:
        i, j = _first(~is_number)
        raise DataError(
            f"{locate(i, j)}: label {_shown(_cell(cells, i, j))} is not a "
            f"number; {task} needs numeric targets"
        )
    if task == "multilabel" and not is_binary:
        i, j = _first((numbers != 0) & (numbers != 1))
        raise DataError(
            f"{locate(i, j)}: label {_shown(_cell(cells, i, j))} is not 0 or "
            "1; multilabel targets must be 0 or 1"
        )
    if task not in ("regression", "multilabel"):
        raise ValueError(
            "task must be 'classification', 'regression', 'multilabel' or "
            f"None (infer it); got {task!r}"
        )
    return numbers, None, task


def _check_class_labels(cells, numbers, is_number, locate) -> None:
    # Refuse class labels that are almost surely a mistake: a few text
    # labels among numbers (a misplaced header, a typo, a missing-value
    # marker such as "NA"), or real numbers that are not whole.
    n_rows = cells.shape[0]
    n_text = int(np.count_nonzero(~is_number))
    n_numbers = n_rows - n_text
    few = max(2, n_rows // 20)
    if 0 < n_text <= few and 2 * n_text < n_numbers:
        i, j = _first(~is_number)
        kind = "integers" if _whole(numbers[is_number]) else "numbers"
        raise DataError(
            f"{locate(i, j)}: label {_shown(_cell(cells, i, j))} is text, "
            f"but {n_numbers} of the {n_rows} labels in this column are "
            f"{kind}; check this row for a typo, a missing value or a "
            "stray header, or write every class as a name"
        )
    if n_text == 0 and not _whole(numbers):
        i, j = _first(numbers != np.round(numbers))
        raise DataError(
            f"{locate(i, j)}: label {_shown(_cell(cells, i, j))} is not a "
            "whole number; classification needs class labels (integers or "
            "names); for real-valued targets use regression"
        )


def _whole(numbers: np.ndarray) -> bool:
    return bool(np.all(numbers == np.round(numbers)))


def _cell(cells, i, j):
    value = cells[i, j]
    return value.strip() if isinstance(value, str) else _python_value(value)


def check_labels_for_loss(dataset, loss_name: str) -> None:
    """Check that a dataset's targets suit a loss, before training.

    Parameters
    ----------
    dataset : Dataset
    loss_name : {"cross-entropy", "binary-cross-entropy", "least-squares"}

    Raises
    ------
    DataError
        For cross-entropy, targets that are not class labels (regression
        or multilabel targets). For binary cross-entropy, a class or
        target other than 0/1. The message names the first bad example
        (its line in a CSV file) and its value.
    ValueError
        For an unknown loss name.

    Notes
    -----
    Least squares accepts every task: class ids are turned into one-hot
    targets by the caller.
    """
    if loss_name not in LOSS_NAMES:
        raise ValueError(
            f"unknown loss {loss_name!r}; expected one of: {', '.join(LOSS_NAMES)}"
        )
    if loss_name == "least-squares":
        return
    for part, y in (("train", dataset.y_train), ("test", dataset.y_test)):
        if y is not None:
            _check_part(dataset, part, y, loss_name)


def check_training_classes(dataset) -> None:
    """Check that a classification dataset can be trained on.

    Parameters
    ----------
    dataset : Dataset
        The data a network is about to be trained on. Data that are only
        evaluated (a validation or test file) may hold a single class;
        do not pass them here.

    Raises
    ------
    DataError
        When the training examples hold fewer than two classes: a
        softmax over one class has nothing to learn. The message names
        the source and the class.

    Notes
    -----
    Regression and multilabel datasets pass unchecked.
    """
    if dataset.task != "classification" or dataset.n_train == 0:
        return
    present = np.unique(dataset.y_train)
    if len(present) >= 2:
        return
    label = _shown(dataset.classes[int(present[0])])
    elsewhere = ""
    if len(dataset.classes) > 1:
        others = ", ".join(
            _shown(dataset.classes[c])
            for c in range(len(dataset.classes))
            if c != present[0]
        )
        elsewhere = f" ({others} only among the test examples)"
    raise DataError(
        f"{dataset.source}: every training label is {label}{elsewhere}; "
        "classification needs at least two classes; add examples of "
        "another class"
    )


def _check_part(dataset, part, y, loss_name):
    task = dataset.task
    if loss_name == "cross-entropy":
        if task == "classification":
            return
        if task == "multilabel" or y.shape[1] > 1:
            raise DataError(
                f"{dataset.source}: {y.shape[1]} label columns ({task}); "
                "cross-entropy needs one class label per example; use "
                "binary-cross-entropy for 0/1 columns or least-squares"
            )
        real = y[:, 0] != np.round(y[:, 0])
        if real.any():
            i = int(np.argmax(real))
            raise DataError(
                f"{dataset.where(part, i)}: label {_shown(float(y[i, 0]))} is "
                "not a class; cross-entropy needs class labels (integers or "
                "names); use least-squares for real-valued targets"
            )
        raise DataError(
            f"{dataset.source}: the targets were loaded for regression "
            f"(e.g. {dataset.where(part, 0)}: {_shown(float(y[0, 0]))}); "
            "cross-entropy needs class labels; load the data with "
            "task='classification'"
        )

    # Binary cross-entropy: every target is 0 or 1.
    if task == "classification":
        if len(dataset.classes) <= 2:
            return
        i = int(np.argmax(y >= 2))
        raise DataError(
            f"{dataset.where(part, i)}: label "
            f"{_shown(dataset.classes[y[i]])} is one of "
            f"{len(dataset.classes)} classes; binary-cross-entropy needs "
            "two classes or 0/1 targets; use cross-entropy"
        )
    not_binary = (y != 0) & (y != 1)
    if not_binary.any():
        i, j = _first(not_binary)
        raise DataError(
            f"{dataset.where(part, i)}: target {_shown(float(y[i, j]))} in "
            f"column {j + 1} of the targets is not 0 or 1; "
            "binary-cross-entropy needs 0/1 targets"
        )
