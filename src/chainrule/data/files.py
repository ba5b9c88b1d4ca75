"""The user's own data files: CSV and NPZ, rows are examples.

CSV rules
---------
- One example per row, cells separated by commas; blank lines are
  skipped. The file is read as UTF-8 (a byte-order mark is allowed).
- The label column is the last one unless ``label_columns`` says
  otherwise: an int index (negative counts from the end), a column name
  from the header row, or a list of them (several labels: multilabel or
  multi-output regression). Every other column is a feature.
- The first row is a header when one of its feature cells is not a
  number.
- Every row has the same number of cells; every feature cell is a finite
  number; no cell is empty.

NPZ rules
---------
An archive saved by ``numpy.savez`` with arrays ``x`` (N, D) and ``y``
(N,) or (N, L), and optionally ``x_test`` and ``y_test`` (then
``test_fraction`` is not used). Object arrays are refused: the file is
read with ``allow_pickle=False``.

Every problem raises ``DataError`` with the file, the line and column (or
the array and index), what was found and what was expected.
"""

from __future__ import annotations

import csv
import os
import zipfile
import zlib
from itertools import chain
from operator import itemgetter
from pathlib import Path

import numpy as np

from .cells import parse_number, plain_number_text
from .dataset import Dataset, split_dataset
from .errors import DataError
from .labels import encode_labels


def _shown(text: str) -> str:
    # A cell as it appears in a message, cut to a readable length.
    text = repr(text)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(text: str) -> bool:
    return parse_number(text.strip()) is not None


def _reads_as_number(text: str) -> bool:
    # Whether float() reads the cell, however leniently: "1_000" is a
    # malformed number in a data row, not a column name.
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_label_is_a_name(rows, j) -> bool:
    # Whether cell j of the first row is text while every other cell of
    # column j is a number (a header row whose feature names are numbers,
    # as in "0,1,2,target"), or a number above at least two text labels
    # (as in "0,1,2,3" above class names).
    cells = [row[j].strip() for row in rows if j < len(row)]
    first, others = cells[0], [cell for cell in cells[1:] if cell != ""]
    if first == "" or not others:
        return False
    first_is_number = _is_number(first)
    if first_is_number and len(others) < 2:
        return False
    return all(_is_number(cell) != first_is_number for cell in others)


def _read_rows(source: str) -> tuple[list[list[str]], list[int]]:
    # Every non-blank row and the 1-based line on which it ends.
    try:
        with open(source, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            try:
                rows = list(reader)
            except csv.Error as error:
                raise DataError(
                    f"{source}, line {reader.line_num}: unreadable CSV ({error})"
                ) from None
            n_lines = reader.line_num
    except UnicodeDecodeError as error:
        raise DataError(
            f"{source}: not UTF-8 text (byte {error.start}: {error.reason}); "
            "expected a CSV text file"
        ) from None
    except OSError as error:
        raise DataError(f"{source}: cannot read the file ({error.strerror})") from None

    # Row i is on line i + 1 unless a quoted cell spans several lines;
    # then the file is read again, noting the line of each row.
    if n_lines == len(rows):
        lines = range(1, n_lines + 1)
    else:
        lines = _row_lines(source)
    kept = [i for i, row in enumerate(rows) if len(row) > 1 or (row and row[0].strip())]
    if len(kept) == len(rows):
        return rows, list(lines)
    return [rows[i] for i in kept], [lines[i] for i in kept]


def _row_lines(source: str) -> list[int]:
    # The line on which each row ends, for files with multi-line cells.
    lines = []
    with open(source, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for _ in reader:
            lines.append(reader.line_num)
    return lines


def _label_indices(label_columns, first_row, source, first_line) -> list[int]:
    # Resolve the label columns (ints or header names) to 0-based indices.
    n_columns = len(first_row)
    if label_columns is None:
        wanted = [-1]
    elif isinstance(label_columns, (list, tuple)):
        wanted = list(label_columns)
    else:
        wanted = [label_columns]
    if not wanted:
        raise DataError(f"{source}: no label column given; give at least one")
    header = [cell.strip() for cell in first_row]
    indices = []
    for column in wanted:
        if isinstance(column, str):
            matches = [j for j, name in enumerate(header) if name == column]
            if not matches:
                names = ", ".join(repr(name) for name in header)
                raise DataError(
                    f"{source}, line {first_line}: no column named {column!r} "
                    f"in the header row; the columns are {names}"
                )
            if len(matches) > 1:
                raise DataError(
                    f"{source}, line {first_line}: {len(matches)} columns are "
                    f"named {column!r}; give the label column by its index"
                )
            indices.append(matches[0])
        elif isinstance(column, (int, np.integer)) and not isinstance(column, bool):
            if not -n_columns <= column < n_columns:
                raise DataError(
                    f"{source}: label column {column} is out of range; the file "
                    f"has {n_columns} columns (0 … {n_columns - 1}, or -1 … "
                    f"-{n_columns} from the end)"
                )
            indices.append(int(column) % n_columns)
        else:
            raise TypeError(
                "label_columns must be an int index, a column name, or a list "
                f"of them; got {column!r}"
            )
    if len(set(indices)) != len(indices):
        raise DataError(
            f"{source}: the label columns {label_columns!r} name a column "
            "twice; give each label column once"
        )
    if n_columns == 1 and (";" in first_row[0] or "\t" in first_row[0]):
        raise DataError(
            f"{source}, line {first_line}: one column that holds "
            f"{_separator_name(first_row[0])}; chainrule reads comma-separated "
            "files: write ',' between cells"
        )
    if len(indices) >= n_columns:
        raise DataError(
            f"{source}: all {n_columns} columns are labels; expected at least "
            "one feature column besides the label column(s)"
        )
    return indices


def load_csv(
    path,
    *,
    label_columns=None,
    task: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Load a CSV file of examples, one per row.

    Parameters
    ----------
    path : str or os.PathLike
    label_columns : int, str, or list of them, optional
        The label column(s); default the last column.
    task : {"classification", "regression", "multilabel"}, optional
        Inferred from the labels when None.
    test_fraction : float
        Share of the rows held out for testing, in [0, 1).
    seed : int
        Seeds the split.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        For any bad input; the message names the line and column.
    """
    source = os.fspath(path)
    rows, lines = _read_rows(source)
    if not rows:
        raise DataError(
            f"{source}: the file is empty; expected one example per row, "
            "numbers separated by commas, the label in the last column"
        )
    first_row = rows[0]
    n_columns = len(first_row)
    label_cols = _label_indices(label_columns, first_row, source, lines[0])
    feature_cols = [j for j in range(n_columns) if j not in label_cols]

    # The first row is a header when labels are chosen by name, when a
    # feature cell there is not a number, or when its label cell alone
    # differs in kind (text or number) from the rest of its column.
    by_name = any(isinstance(column, str) for column in _as_list(label_columns))
    has_header = (
        by_name
        or any(
            first_row[j].strip() != "" and not _reads_as_number(first_row[j])
            for j in feature_cols
        )
        or any(_first_label_is_a_name(rows, j) for j in label_cols)
    )
    names = [cell.strip() for cell in first_row] if has_header else None
    if has_header:
        rows = rows[1:]
        data_lines = lines[1:]
    else:
        data_lines = lines
    if not rows:
        raise DataError(
            f"{source}: the file has a header row (line {lines[0]}) but no data "
            "rows; expected at least one example below the header"
        )

    def column_name(j):
        if names is None:
            return f"column {j + 1}"
        return f"column {j + 1} ({names[j]!r})"

    # Ragged rows: every row has as many cells as the first.
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    ragged = np.flatnonzero(lengths != n_columns)
    if ragged.size:
        i = int(ragged[0])
        raise DataError(
            f"{source}, line {data_lines[i]}: expected {n_columns} cells "
            f"(as in line {lines[0]}), found {lengths[i]}"
        )

    x = _parse_features(rows, feature_cols, source, data_lines, column_name)

    # Labels, as text; encode_labels parses them.
    label_cells = np.stack(
        [np.array([row[j] for row in rows], dtype=str) for j in label_cols], axis=1
    )

    def locate(i, j):
        return f"{source}, line {data_lines[i]}, {column_name(label_cols[j])}"

    y, classes, task = encode_labels(label_cells, task, locate)
    return split_dataset(
        Path(source).stem,
        x,
        y,
        classes,
        task,
        source,
        test_fraction=test_fraction,
        seed=seed,
        origin=np.asarray(data_lines),
        origin_kind="line",
        feature_names=None if names is None else [names[j] for j in feature_cols],
        label_names=None if names is None else [names[j] for j in label_cols],
    )


def _as_list(label_columns) -> list:
    if label_columns is None:
        return []
    if isinstance(label_columns, (list, tuple)):
        return list(label_columns)
    return [label_columns]


def _parse_features(rows, feature_cols, source, lines, column_name) -> np.ndarray:
    # The feature cells as float64, shape (N, D), every value finite.
    n_rows = len(rows)
    n_features = len(feature_cols)
    n_columns = len(rows[0])
    if feature_cols == list(range(n_features)):
        # The features lead each row (labels last): slice.
        cells = (row[:n_features] for row in rows)
    elif feature_cols == list(range(n_columns - n_features, n_columns)):
        cells = (row[-n_features:] for row in rows)
    else:
        cells = (itemgetter(*feature_cols)(row) for row in rows)
        if n_features == 1:
            cells = ((cell,) for cell in cells)
    cells = list(chain.from_iterable(cells))

    # Fast path: float() reads every cell, once the joined text shows no
    # underscore or non-ASCII character (float() would accept "1_000" as
    # 1000 and "１" as 1).
    flat = None
    if plain_number_text("".join(cells)):
        try:
            flat = np.fromiter(
                map(float, cells), dtype=np.float64, count=n_rows * n_features
            )
        except ValueError:
            flat = None
    if flat is None:
        # Cell by cell: name the first bad cell, or read them all.
        for i, row in enumerate(rows):
            where = f"{source}, line {lines[i]}"
            _raise_bad_cell(row, feature_cols, where, column_name)
        flat = np.array([parse_number(cell.strip()) for cell in cells])
    x = flat.reshape(n_rows, n_features)

    not_finite = ~np.isfinite(x)
    if not_finite.any():
        i, k = (int(index) for index in np.argwhere(not_finite)[0])
        j = feature_cols[k]
        raise DataError(
            f"{source}, line {lines[i]}, {column_name(j)}: "
            f"{_shown(rows[i][j].strip())} is not a finite number; expected a "
            "finite number (NaN and infinity are not allowed)"
        )
    return x


def _raise_bad_cell(row, feature_cols, where, column_name) -> None:
    # Find the first feature cell of ``row`` that is not a number.
    for j in feature_cols:
        cell = row[j].strip()
        if cell == "":
            raise DataError(
                f"{where}, {column_name(j)}: missing value; expected a number "
                "in every feature cell"
            )
        if not _is_number(cell):
            raise DataError(
                f"{where}, {column_name(j)}: expected a number, found "
                f"{_shown(cell)}{_number_hint(cell)}"
            )


def _number_hint(cell: str) -> str:
    # Why a cell that looks numeric is refused.
    if "_" in cell:
        return " (write numbers without '_' separators)"
    if ";" in cell or "\t" in cell:
        return (
            " (chainrule reads comma-separated files; this cell holds "
            f"{_separator_name(cell)})"
        )
    if not cell.isascii():
        return " (write numbers with ASCII digits 0-9)"
    return ""


def _separator_name(text: str) -> str:
    # The other separator a cell holds, for hints.
    return "';'" if ";" in text else "a tab"


def load_npz(
    path,
    *,
    task: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Load an NPZ archive with arrays ``x``, ``y`` (and ``x_test``, ``y_test``).

    Parameters
    ----------
    path : str or os.PathLike
    task : {"classification", "regression", "multilabel"}, optional
        Inferred from ``y`` when None.
    test_fraction : float
        Used only when the archive has no test arrays.
    seed : int
        Seeds the split.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        A file that is not an NPZ archive, a missing array, an object
        array, wrong dimensions, mismatched lengths, or NaN/infinity.
    """
    source = os.fspath(path)
    arrays = _read_npz(source)
    for name in ("x", "y"):
        if name not in arrays:
            found = ", ".join(repr(key) for key in arrays) or "none"
            raise DataError(
                f"{source}: no array {name!r} (found: {found}); expected "
                "arrays 'x' (N, D) and 'y' (N,), optionally 'x_test' and 'y_test'"
            )
    if ("x_test" in arrays) != ("y_test" in arrays):
        missing = "y_test" if "x_test" in arrays else "x_test"
        raise DataError(
            f"{source}: has {'x_test' if missing == 'y_test' else 'y_test'} "
            f"but no {missing!r}; expected both test arrays or neither"
        )
    has_test = "x_test" in arrays

    x = _check_features(arrays["x"], "x", source)
    y = _check_targets(arrays["y"], "y", x.shape[0], source)
    if has_test:
        x_test = _check_features(arrays["x_test"], "x_test", source)
        y_test = _check_targets(arrays["y_test"], "y_test", x_test.shape[0], source)
        if x_test.shape[1] != x.shape[1]:
            raise DataError(
                f"{source}: x_test has {x_test.shape[1]} features (columns) but "
                f"x has {x.shape[1]}; expected the same number"
            )
        if y_test.ndim != y.ndim or y_test.shape[1:] != y.shape[1:]:
            raise DataError(
                f"{source}: y_test has shape {y_test.shape} but y has shape "
                f"{y.shape}; expected the same shape after the first axis"
            )

    # Encode train and test labels together, so that they share classes.
    n_train = x.shape[0]
    cells = y.reshape(n_train, -1)
    if has_test:
        cells = np.concatenate([cells, y_test.reshape(y_test.shape[0], -1)])

    def locate(i, j):
        name, index = ("y", i) if i < n_train else ("y_test", i - n_train)
        if y.ndim == 1:
            return f"{source}: {name}[{index}]"
        return f"{source}: {name}[{index}, {j}]"

    targets, classes, task = encode_labels(cells, task, locate)
    if has_test and task == "classification":
        _check_test_classes(targets, n_train, classes, source)
    stem = Path(source).stem
    if not has_test:
        return split_dataset(
            stem,
            x,
            targets,
            classes,
            task,
            source,
            test_fraction=test_fraction,
            seed=seed,
            origin_kind="y",
        )
    return Dataset(
        name=stem,
        x_train=x,
        y_train=targets[:n_train],
        x_test=x_test,
        y_test=targets[n_train:],
        classes=classes,
        task=task,
        source=source,
        train_origin=np.arange(n_train),
        test_origin=np.arange(x_test.shape[0]),
        origin_kinds=("y", "y_test"),
    )


def _check_test_classes(class_ids, n_train, classes, source) -> None:
    # Every class of y_test is also a class of y: a network cannot learn
    # a class it never sees in training.
    trained = np.zeros(len(classes), dtype=bool)
    trained[class_ids[:n_train]] = True
    unseen = ~trained[class_ids[n_train:]]
    if unseen.any():
        index = int(np.argmax(unseen))
        label = classes[class_ids[n_train + index]]
        known = ", ".join(repr(classes[c]) for c in np.flatnonzero(trained))
        raise DataError(
            f"{source}: y_test[{index}] is {label!r}, a label that y never "
            f"holds (y holds {known}); every test label must also appear "
            "among the training labels"
        )


# How files start: a ZIP archive (numpy.savez), an empty ZIP archive, a
# single .npy array (numpy.save), a pickle (protocol 2 or later).
# np.load is called only on ZIP archives, so it returns an NpzFile.
_ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_START = b"\x93NUMPY"
_PICKLE_START = b"\x80"


def _check_npz_signature(source: str) -> None:
    # Refuse a file that does not start as a ZIP archive, in one line.
    try:
        with open(source, "rb") as handle:
            start = handle.read(6)
    except OSError as error:
        raise DataError(f"{source}: cannot read the file ({error.strerror})") from None
    if start.startswith(_ZIP_STARTS):
        return
    if start.startswith(_NPY_START):
        raise DataError(
            f"{source}: holds a single .npy array, not an .npz archive; expected "
            "numpy.savez(path, x=..., y=...)"
        )
    if start == b"":
        found = "the file is empty"
    elif start.startswith(_PICKLE_START):
        found = "it holds pickled Python data, which chainrule never loads"
    else:
        found = "it does not start like a ZIP archive"
    raise DataError(
        f"{source}: not a valid NPZ archive ({found}); expected a file "
        "written by numpy.savez(path, x=..., y=...)"
    )


def _read_npz(source: str) -> dict:
    # Every array of the archive, read without pickle. The first bytes
    # tell an archive from other files: for anything that is neither a
    # ZIP archive nor an .npy array, np.load would speak of pickled data.
    _check_npz_signature(source)
    try:
        archive = np.load(source, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(
            f"{source}: not a readable .npz archive ({error}); expected a file "
            "written by numpy.savez"
        ) from None
    arrays = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError as error:
                if "pickle" in str(error).lower() or "object" in str(error).lower():
                    raise DataError(
                        f"{source}: array {name!r} holds Python objects (dtype "
                        "object, stored as pickled data), and chainrule never "
                        "loads pickled data; expected numbers or text"
                    ) from None
                raise DataError(
                    f"{source}: array {name!r} is unreadable ({error})"
                ) from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise DataError(
                    f"{source}: array {name!r} is unreadable ({error}); the "
                    "archive may be damaged"
                ) from None
    return arrays


def _check_features(array: np.ndarray, name: str, source: str) -> np.ndarray:
    # An (N, D) array of finite numbers, as float64.
    if array.ndim != 2:
        raise DataError(
            f"{source}: array {name!r} has shape {array.shape}; expected 2 "
            "dimensions (N examples, D features); reshape one feature to (N, 1)"
        )
    if array.dtype.kind not in "biuf":
        raise DataError(
            f"{source}: array {name!r} has dtype {array.dtype}; expected numbers"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(
            f"{source}: array {name!r} has shape {array.shape}; expected at "
            "least one example and one feature"
        )
    x = array.astype(np.float64)
    not_finite = ~np.isfinite(x)
    if not_finite.any():
        i, j = (int(index) for index in np.argwhere(not_finite)[0])
        raise DataError(
            f"{source}: {name}[{i}, {j}] is {x[i, j]}; expected finite numbers "
            "(NaN and infinity are not allowed)"
        )
    return x


def _check_targets(array: np.ndarray, name: str, n_rows: int, source: str):
    # Targets of shape (N,) or (N, L), one row per example.
    if array.ndim not in (1, 2):
        raise DataError(
            f"{source}: array {name!r} has shape {array.shape}; expected (N,) or (N, L)"
        )
    if array.shape[0] != n_rows:
        x_name = "x" if name == "y" else "x_test"
        raise DataError(
            f"{source}: {x_name} has {n_rows} rows but {name} has "
            f"{array.shape[0]}; expected one target row per example"
        )
    if array.ndim == 2 and array.shape[1] == 0:
        raise DataError(f"{source}: array {name!r} has no columns; expected labels")
    return array
