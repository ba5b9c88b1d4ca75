"""The ``Dataset`` record and the seeded train/test split.

A ``Dataset`` holds arrays in rows orientation: one row per example, as
files and the Python ecosystem store them. The math core wants the
book's columns; ``chainrule.data.boundary.to_columns`` converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import DataError

TASKS = ("classification", "regression", "multilabel")


@dataclass(eq=False)
class Dataset:
    """Training and test arrays, one row per example.

    Attributes
    ----------
    name : str
        A short name: the built-in name or the file's stem.
    x_train : ndarray of shape (N, D), float64
        Training inputs.
    y_train : ndarray
        Training targets. Classification: int64 class ids 0 … C − 1 of
        shape (N,). Regression: float64 of shape (N, D_o). Multilabel:
        float64 0/1 values of shape (N, L).
    x_test, y_test : ndarray or None
        Test inputs and targets, shaped like the training ones; None when
        there is no test set (``test_fraction=0`` and none in the file).
    classes : list or None
        For classification, the original label values (str or int);
        ``classes[i]`` is the label with class id i. None otherwise.
    task : str
        ``"classification"``, ``"regression"`` or ``"multilabel"``.
    source : str
        Where the data came from: the file path as given, or the built-in
        name.
    feature_names, label_names : list of str or None
        Column names from a CSV header row, when there is one.
    train_origin, test_origin : ndarray of int or None
        Where each example came from, for error messages: the 1-based
        line number in a CSV file, else the 0-based index into the
        source's arrays.
    origin_kinds : tuple of two str
        What the origins of the training and test examples count:
        ``"line"`` (CSV lines), ``"y"`` or ``"y_test"`` (NPZ arrays) or
        ``"example"`` (a built-in set's examples).
    """

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray | None = field(repr=False)
    y_test: np.ndarray | None = field(repr=False)
    classes: list | None
    task: str
    source: str
    feature_names: list | None = None
    label_names: list | None = None
    train_origin: np.ndarray | None = field(default=None, repr=False)
    test_origin: np.ndarray | None = field(default=None, repr=False)
    origin_kinds: tuple = ("example", "example")

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(
                f"task must be one of {', '.join(TASKS)}; got {self.task!r}"
            )
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError("x_test and y_test must both be given or both be None")
        self._check_part("train", self.x_train, self.y_train)
        if self.x_test is not None:
            self._check_part("test", self.x_test, self.y_test)
            if self.x_test.shape[1] != self.x_train.shape[1]:
                raise ValueError(
                    f"x_test has {self.x_test.shape[1]} features, "
                    f"x_train has {self.x_train.shape[1]}; they must agree"
                )
        if self.task == "classification" and self.classes is None:
            raise ValueError("a classification Dataset needs its classes list")

    def _check_part(self, part, x, y):
        if x.ndim != 2:
            raise ValueError(f"x_{part} must have shape (N, D); got {x.shape}")
        if y.shape[0] != x.shape[0]:
            raise ValueError(
                f"x_{part} has {x.shape[0]} rows but y_{part} has "
                f"{y.shape[0]}; they must agree"
            )
        expected_ndim = 1 if self.task == "classification" else 2
        if y.ndim != expected_ndim:
            raise ValueError(
                f"y_{part} of a {self.task} Dataset must have "
                f"{expected_ndim} dimension(s); got shape {y.shape}"
            )

    @property
    def n_features(self) -> int:
        """D, the number of input features."""
        return self.x_train.shape[1]

    @property
    def n_train(self) -> int:
        """The number of training examples."""
        return self.x_train.shape[0]

    @property
    def n_test(self) -> int:
        """The number of test examples (0 when there is no test set)."""
        return 0 if self.x_test is None else self.x_test.shape[0]

    @property
    def n_classes(self) -> int | None:
        """C for classification, None otherwise."""
        return None if self.classes is None else len(self.classes)

    @property
    def n_outputs(self) -> int:
        """D_o, the network outputs the targets call for.

        C for classification (one logit per class), else the number of
        target columns.
        """
        if self.task == "classification":
            return len(self.classes)
        return self.y_train.shape[1]

    def where(self, part: str, index: int) -> str:
        """Describe where example ``index`` of ``part`` came from.

        Parameters
        ----------
        part : {"train", "test"}
        index : int
            The row of ``x_train`` (or ``x_test``).

        Returns
        -------
        str
            For example ``"data.csv, line 7"``, ``"data.npz, y_test[3]"``
            or ``"iris, example 12"``.
        """
        train = part == "train"
        origin = self.train_origin if train else self.test_origin
        if origin is None:
            return f"{self.source}, {part} example {index}"
        position = int(origin[index])
        kind = self.origin_kinds[0 if train else 1]
        if kind == "line":
            return f"{self.source}, line {position}"
        if kind in ("y", "y_test"):
            return f"{self.source}, {kind}[{position}]"
        return f"{self.source}, example {position}"


def split_indices(
    n_examples: int,
    test_fraction: float,
    seed: int,
    class_ids: np.ndarray | None = None,
    source: str = "",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Choose which examples go to training and which to test.

    Parameters
    ----------
    n_examples : int
        N, the number of examples to split.
    test_fraction : float
        The share of examples for the test set, in [0, 1). The test set
        gets ceil(test_fraction × N) examples. 0 means no test set.
    seed : int
        Seeds the shuffle; the same seed gives the same split.
    class_ids : ndarray of int of shape (N,), optional
        Class ids for a stratified split: each class keeps about the same
        share in both parts. The split is stratified only when every class
        has at least 2 examples and both parts can hold every class;
        otherwise it is a plain shuffled split.
    source : str
        Names the data in error messages.

    Returns
    -------
    train : ndarray of int
        Indices of the training examples.
    test : ndarray of int or None
        Indices of the test examples; None when ``test_fraction`` is 0.

    Raises
    ------
    ValueError
        If ``test_fraction`` is outside [0, 1).
    DataError
        If there are too few examples for both parts to be non-empty.
    """
    check_test_fraction(test_fraction)
    every = np.arange(n_examples)
    if test_fraction == 0:
        return every, None
    n_test = math.ceil(test_fraction * n_examples)
    n_train = n_examples - n_test
    if n_train < 1 or n_test < 1:
        raise DataError(
            f"{source}: {n_examples} example(s) are too few to split with "
            f"test_fraction={test_fraction}; add examples or use "
            "test_fraction=0 (no test set)"
        )
    stratify = None
    if class_ids is not None:
        counts = np.bincount(class_ids)
        counts = counts[counts > 0]
        n_classes = len(counts)
        if counts.min() >= 2 and n_test >= n_classes and n_train >= n_classes:
            stratify = class_ids

    # scikit-learn's splitter, seeded by its own RandomState (never the
    # global one).
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        every, test_size=n_test, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(test)


def check_test_fraction(test_fraction) -> None:
    """Raise ValueError unless ``test_fraction`` is a number in [0, 1)."""
    if isinstance(test_fraction, bool) or not isinstance(
        test_fraction, (int, float, np.floating, np.integer)
    ):
        raise TypeError(
            f"test_fraction must be a number in [0, 1); got {test_fraction!r}"
        )
    if not 0 <= test_fraction < 1:
        raise ValueError(
            f"test_fraction must be in [0, 1) (0 means no test set); "
            f"got {test_fraction}"
        )


def split_dataset(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    classes: list | None,
    task: str,
    source: str,
    *,
    test_fraction: float,
    seed: int,
    origin: np.ndarray | None = None,
    origin_kind: str = "example",
    feature_names: list | None = None,
    label_names: list | None = None,
) -> Dataset:
    """Split one set of examples into a training and a test ``Dataset``.

    The split is seeded and, for classification, stratified when it can
    be (see ``split_indices``). ``test_fraction=0`` keeps every example
    for training and leaves the test set None.

    Parameters
    ----------
    name, classes, task, source, feature_names, label_names
        As in ``Dataset``.
    x : ndarray of shape (N, D)
    y : ndarray with N rows
    test_fraction : float
        In [0, 1).
    seed : int
    origin : ndarray of int of shape (N,), optional
        Where each example came from (default: its index).
    origin_kind : str
        What ``origin`` counts: ``"line"``, ``"y"`` or ``"example"``.
    """
    if origin is None:
        origin = np.arange(x.shape[0])
    class_ids = y if task == "classification" else None
    train, test = split_indices(x.shape[0], test_fraction, seed, class_ids, source)
    return Dataset(
        name=name,
        x_train=x[train],
        y_train=y[train],
        x_test=None if test is None else x[test],
        y_test=None if test is None else y[test],
        classes=classes,
        task=task,
        source=source,
        feature_names=feature_names,
        label_names=label_names,
        train_origin=origin[train],
        test_origin=None if test is None else origin[test],
        origin_kinds=(origin_kind, origin_kind),
    )
