"""``load_dataset``: one entry point for built-in names and data files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .builtin import BUILTIN_NAMES, MNIST1D, load_mnist1d, load_sklearn_set
from .dataset import TASKS, Dataset, check_test_fraction
from .errors import DataError
from .files import load_csv, load_npz

FILE_LOADERS = {".csv": load_csv, ".npz": load_npz}


def load_dataset(
    spec,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    label_columns=None,
    task: str | None = None,
    cache_dir=None,
) -> Dataset:
    """Load a built-in data set by name, or the user's CSV or NPZ file.

    Parameters
    ----------
    spec : str or os.PathLike
        A built-in name (``"mnist1d"``, ``"digits"``, ``"iris"``,
        ``"breast_cancer"``, ``"wine"``, ``"diabetes"``) or the path of an
        existing ``.csv`` or ``.npz`` file. A built-in name wins over a
        file of the same name; write ``./iris`` for the file.
    test_fraction : float
        Share of the examples held out for testing, in [0, 1); 0 means no
        test set. Ignored by MNIST-1D and by NPZ files with test arrays,
        which keep their own split.
    seed : int
        Seeds the train/test split (stratified by class for
        classification).
    label_columns : int, str, or list of them, optional
        CSV only: the label column(s) by index or header name; default
        the last column.
    task : {"classification", "regression", "multilabel"}, optional
        Files only: override the task inferred from the labels.
    cache_dir : str or os.PathLike, optional
        Where MNIST-1D is cached; default ``$XDG_CACHE_HOME/chainrule``
        or ``~/.cache/chainrule``.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        An unknown name, a missing file, a file of unknown type, bad
        contents (see ``chainrule.data.files``), or a label column where
        none applies (a built-in set, an NPZ file).
    ValueError, TypeError
        An impossible argument: ``test_fraction`` outside [0, 1), an
        unknown ``task``, a seed that is not an int in [0, 2**32).
    """
    check_test_fraction(test_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int; got {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32); got {seed}")
    if task is not None and task not in TASKS:
        raise ValueError(
            f"task must be one of {', '.join(TASKS)} or None (infer it); got {task!r}"
        )

    if isinstance(spec, str) and spec in BUILTIN_NAMES:
        if label_columns is not None or task is not None:
            raise DataError(
                f"{spec}: a label column or task applies to data files only, "
                "not to a built-in data set"
            )
        if spec == MNIST1D:
            return load_mnist1d(cache_dir)
        return load_sklearn_set(spec, test_fraction=test_fraction, seed=seed)

    source = os.fspath(spec)
    if isinstance(source, str) and source.strip() == "":
        names = ", ".join(BUILTIN_NAMES)
        raise DataError(
            f"the data name is empty ({source!r}); expected a built-in name "
            f"({names}) or the path of a .csv or .npz file"
        )
    path = Path(spec)
    if not path.exists():
        if isinstance(spec, str) and _looks_like_a_name(spec):
            names = ", ".join(BUILTIN_NAMES)
            raise DataError(
                f"unknown data set {spec!r}; expected a built-in name ({names}) "
                "or the path of an existing .csv or .npz file"
            )
        raise DataError(f"{source}: no such file")
    if path.is_dir():
        raise DataError(f"{source}: is a folder; expected a .csv or .npz file")
    loader = FILE_LOADERS.get(path.suffix.lower())
    if loader is None:
        kind = f"{path.suffix!r}" if path.suffix else "no extension"
        raise DataError(
            f"{source}: unknown file type ({kind}); expected a .csv or .npz file"
        )
    if loader is load_npz:
        if label_columns is not None:
            raise DataError(
                f"{source}: a label column applies to CSV files only; an NPZ "
                "file gives its labels as the array 'y'"
            )
        return load_npz(path, task=task, test_fraction=test_fraction, seed=seed)
    return load_csv(
        source,
        label_columns=label_columns,
        task=task,
        test_fraction=test_fraction,
        seed=seed,
    )


def _looks_like_a_name(spec: str) -> bool:
    # A bare word with no folder and no extension reads as a data set name.
    return os.sep not in spec and "/" not in spec and Path(spec).suffix == ""


def default_standardize(spec) -> bool:
    """Whether inputs are standardized unless the user says otherwise.

    False for MNIST-1D (the book's recipe trains on its raw values), True
    for the scikit-learn sets and for user files.
    """
    return not (isinstance(spec, str) and spec == MNIST1D)


__all__ = ["default_standardize", "load_dataset"]
