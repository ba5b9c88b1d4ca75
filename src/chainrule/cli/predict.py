"""``chainrule predict``: write a saved model's predictions as CSV.

The data file holds one example per row: a CSV file with the model's
features only, or with the label columns too (they are ignored), or an
NPZ file with an array ``x``. The output has a header row and one row per
example: the predicted class and each class's probability, the 0/1
prediction and probability of each label (multi-label), or the predicted
values (regression). Each number is written with the digits of its own
dtype, so that it reads back exactly. It is written atomically.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..losses import get_loss
from .errors import CommandError
from .inputs import check_feature_count, load_data, open_model
from .options import (
    add_model_argument,
    add_threads_option,
    apply_threads,
    check_label_options,
    check_output_file,
    help_description,
)
from .options import label_columns as parse_label_columns


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="write a saved model's predictions for a data file as CSV",
        description=help_description(__doc__),
    )
    add_model_argument(parser)
    parser.add_argument(
        "--data",
        required=True,
        metavar="PATH",
        help="a .csv file (features, optionally followed by labels) or a "
        ".npz file with an array x",
    )
    parser.add_argument(
        "--label-column",
        metavar="COLUMN",
        help="when the CSV has label columns: which, as for train "
        "(default: the last column)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="OUT.csv",
        help="where to write the predictions: a new file, or an existing "
        "one with --overwrite (never the --data file)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the -o file when it exists",
    )
    add_threads_option(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args):
    check_output_file(
        "-o",
        args.output,
        "predictions.csv",
        overwrite=args.overwrite,
        inputs=[("--data", args.data), ("MODEL", args.model)],
    )
    check_label_options(args.data, args.label_column)
    apply_threads(args.threads)
    model = open_model(args.model)
    rows = read_feature_rows(args.data, model, args.label_column)
    header, table = prediction_table(model, rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)
    write_text(args.output, buffer.getvalue())
    print(f"wrote {len(rows)} predictions to {args.output}")
    return 0


def read_feature_rows(spec, model, label_column=None):
    """The feature rows of a data file, shape (N, D_i), float64.

    A CSV file may hold the model's features only, or the label columns
    too: those of ``label_column`` when given, else the columns named like
    the model's labels when the header has them, else the last ones.

    Raises
    ------
    CommandError
        For an unreadable file, a bad cell (naming line and column), or a
        feature count other than the model's (naming both counts).
    """
    n_features = model.n_features
    path = Path(spec)
    if not path.is_file():
        raise CommandError(f"{spec}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _npz_rows(spec, n_features)
    if suffix != ".csv":
        raise CommandError(
            f"{spec}: unknown file type ({suffix or 'no extension'}); expected "
            "a .csv or .npz file"
        )
    n_columns = _csv_width(spec)
    labels = parse_label_columns(label_column)
    if labels is None:
        if n_columns == n_features:
            return _features_only_csv(spec, n_features)
        n_labels = 1 if model.classes is not None else model.n_outputs
        if n_columns != n_features + n_labels:
            found = n_columns - n_labels if n_columns > n_features else n_columns
            besides = (
                f" besides {n_labels} label column(s)" if n_columns > n_features else ""
            )
            raise CommandError(
                f"{spec}: {found} feature column(s){besides}, but the model "
                f"takes {n_features} features"
            )
        labels = list(range(-n_labels, 0))
        names = model.label_names
        if names and set(names) <= set(_csv_header(spec)):
            labels = list(names)
        labels = labels[0] if len(labels) == 1 else labels
    dataset = load_data(spec, test_fraction=0.0, label_columns=labels)
    check_feature_count(spec, dataset.n_features, n_features)
    return dataset.x_train


def prediction_table(model, rows):
    """The CSV header and rows of predictions for ``rows``."""
    output = model.output(rows)
    loss = get_loss(model.loss)
    if model.loss == "cross-entropy":
        probabilities = np.asarray(loss.predict(output.T)).T
        labels = model.predict(rows)
        classes = model.classes or list(range(model.n_outputs))
        header = ["prediction"] + [f"probability_{c}" for c in classes]
        table = [
            [_cell(label), *(_number(p) for p in row)]
            for label, row in zip(labels, probabilities, strict=True)
        ]
        return header, table
    if model.loss == "binary-cross-entropy":
        probabilities = np.asarray(loss.predict(output.T)).T
        if model.classes is not None:
            labels = model.predict(rows)
            positive = model.classes[-1]
            header = ["prediction", f"probability_{positive}"]
            table = [
                [_cell(label), _number(row[0])]
                for label, row in zip(labels, probabilities, strict=True)
            ]
            return header, table
        names = model.label_names or [f"label_{j}" for j in range(model.n_outputs)]
        predicted = (output >= 0).astype(np.int64)
        header = list(names) + [f"probability_{name}" for name in names]
        table = [
            [*(int(v) for v in hits), *(_number(p) for p in row)]
            for hits, row in zip(predicted, probabilities, strict=True)
        ]
        return header, table
    if model.is_one_hot_regression:
        labels = model.predict(rows)
        return ["prediction"], [[_cell(label)] for label in labels]
    names = model.label_names
    if model.n_outputs == 1:
        header = ["prediction"]
    else:
        names = names or [str(j) for j in range(model.n_outputs)]
        header = [f"prediction_{name}" for name in names]
    return header, [[_number(v) for v in row] for row in output]


def _cell(value):
    return value.item() if isinstance(value, np.generic) else value


def _number(value):
    """The shortest text that reads back as ``value`` in its own dtype.

    A float32 probability is written with float32's digits (0.025390645),
    not with the float64 digits of the same number (0.02539064548909664),
    which only look more precise.
    """
    if isinstance(value, (np.float32, np.float16)):
        return str(value)
    return repr(float(value))


def _npz_rows(spec, n_features):
    try:
        with np.load(spec, allow_pickle=False) as archive:
            if "x" not in archive.files:
                names = ", ".join(archive.files) or "none"
                raise CommandError(
                    f"{spec}: no array 'x' (arrays: {names}); expected the "
                    "features as x, one example per row"
                )
            x = archive["x"]
    except CommandError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise CommandError(f"{spec}: not a readable .npz file ({error})") from None
    if x.ndim != 2:
        raise CommandError(
            f"{spec}: x must have shape (N, D), one example per row; got {x.shape}"
        )
    check_feature_count(spec, x.shape[1], n_features)
    if x.dtype.kind not in "biuf":
        raise CommandError(f"{spec}: x has dtype {x.dtype}; expected numbers")
    x = x.astype(np.float64)
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        raise CommandError(
            f"{spec}: x[{i}, {j}] is {x[i, j]}; expected a finite number"
        )
    return x


def _csv_rows(spec):
    try:
        with open(spec, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield reader.line_num, row
    except UnicodeDecodeError as error:
        raise CommandError(f"{spec}: not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise CommandError(f"{spec}: unreadable CSV ({error})") from None
    except OSError as error:
        raise CommandError(f"{spec}: cannot read the file ({error.strerror})") from None


def _csv_header(spec):
    for _, row in _csv_rows(spec):
        return [cell.strip() for cell in row]
    return []


def _csv_width(spec):
    for _, row in _csv_rows(spec):
        return len(row)
    raise CommandError(f"{spec}: the file is empty; expected one example per row")


def _features_only_csv(spec, n_features):
    values = []
    first = True
    for line, row in _csv_rows(spec):
        if len(row) != n_features:
            raise CommandError(
                f"{spec}, line {line}: {len(row)} cells, expected {n_features} "
                "(one per feature)"
            )
        numbers = []
        for column, cell in enumerate(row, start=1):
            try:
                number = float(cell)
            except ValueError:
                number = None
            if number is None:
                if first:
                    # A header row: names, not numbers.
                    numbers = None
                    break
                raise CommandError(
                    f"{spec}, line {line}, column {column}: {cell.strip()!r} is "
                    "not a number; expected a feature value"
                )
            if not np.isfinite(number):
                raise CommandError(
                    f"{spec}, line {line}, column {column}: {cell.strip()!r} is "
                    "not a finite number"
                )
            numbers.append(number)
        first = False
        if numbers is not None:
            values.append(numbers)
    if not values:
        raise CommandError(f"{spec}: a header row but no examples")
    return np.asarray(values, dtype=np.float64)
