"""Options shared by the subcommands: descriptions, argparse types,
arguments several subcommands take, and checks of their values."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .errors import CommandError, UsageError

# The default --loss for each task of the labels (train, and explain on
# a data set).
LOSS_FOR_TASK = {
    "classification": "cross-entropy",
    "regression": "least-squares",
    "multilabel": "binary-cross-entropy",
}


def help_description(doc, n_paragraphs=2, title=True):
    """A subcommand's --help description from its module docstring.

    The first ``n_paragraphs`` paragraphs, as plain text: the docstring's
    reStructuredText literal quotes (double backticks) are dropped and
    lines are joined, for argparse to wrap. With ``title=False`` they
    are counted from the paragraph after the title line.
    """
    paragraphs = doc.strip().split("\n\n")
    if not title:
        paragraphs = paragraphs[1:]
    paragraphs = paragraphs[:n_paragraphs]
    text = " ".join(" ".join(paragraph.split()) for paragraph in paragraphs)
    return text.replace("``", "")


def _converted(text, convert, expected):
    """``convert(text)``, or an argparse error naming what was expected."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def positive_int(text):
    value = _converted(text, int, "a whole number ≥ 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {value}")
    return value


def positive_float(text):
    value = _converted(text, float, "a positive number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a positive finite number, got {text}"
        )
    return value


def seed(text):
    """A random seed: a whole number in [0, 2**32), as NumPy accepts."""
    value = _converted(text, int, "a whole number in [0, 2**32)")
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected a whole number in [0, 2**32) = [0, 4294967295], got {value}"
        )
    return value


def parse_hidden(text):
    """'100,100,100' → [100, 100, 100]; 'none' → [] (no hidden layer).

    An empty value is refused: it is more often an unset shell variable
    than a wish for a linear model, which is written ``none``.
    """
    if text.strip().lower() == "none":
        return []
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "expected comma-separated widths such as 100,100,100, got an empty "
            "value; write 'none' for no hidden layer (a linear model)"
        )
    widths = []
    for part in text.split(","):
        try:
            width = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated widths such as 100,100,100, got {text!r}"
            ) from None
        if width < 1:
            raise argparse.ArgumentTypeError(
                f"every hidden layer needs at least 1 unit, got {width} in {text!r}"
            )
        widths.append(width)
    return widths


def add_model_argument(parser):
    """The MODEL argument: a model file written by ``chainrule train``."""
    parser.add_argument(
        "model", type=Path, metavar="MODEL", help="a model.npz from chainrule train"
    )


def add_threads_option(group):
    group.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="BLAS threads for matrix products (default: the BLAS default)",
    )


def apply_threads(threads):
    """Limit the BLAS thread pools to ``threads`` for the rest of the run."""
    if threads is None:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def check_label_options(data, label_column, task=None, data_flag="--data"):
    """Refuse --label-column or --task where they cannot apply (exit 2).

    A built-in data set has its own labels and task; an NPZ file gives
    its labels as the array ``y`` (``--task`` still applies to it).
    """
    from ..data import BUILTIN_NAMES

    builtin = isinstance(data, str) and data in BUILTIN_NAMES
    if builtin:
        for flag, value in (("--label-column", label_column), ("--task", task)):
            if value is not None:
                raise UsageError(
                    f"{flag} applies to data files; {data_flag} {data} is a "
                    "built-in data set with its own labels"
                )
    elif label_column is not None and str(data).lower().endswith(".npz"):
        raise UsageError(
            f"--label-column applies to CSV files; the NPZ file {data} gives "
            "its labels as the array 'y'"
        )


def check_output_file(flag, path, example_name=None, overwrite=True, inputs=()):
    """Refuse an output file that cannot or must not be written.

    Checked before any work is done. A folder that does not exist is a
    file error (exit status 1, as for a data file that is missing);
    giving a folder instead of a file name is a usage error (exit 2), as
    is any refusal below.

    Parameters
    ----------
    flag : str
        The option, as the user typed it, for the message.
    path : Path
    example_name : str, optional
        Suggested as a file name inside a folder given by mistake.
    overwrite : bool, default True
        False refuses an existing file (the command's --overwrite allows
        it).
    inputs : sequence of (str, path-like)
        The command's input files as (flag, path): the output may never
        be one of them, not even with --overwrite.
    """
    folder = path.parent
    if not folder.is_dir():
        raise CommandError(f"{flag} {path}: the folder {folder} does not exist")
    if path.is_dir():
        such_as = "" if example_name is None else f" such as {path / example_name}"
        raise UsageError(f"{flag} {path}: that is a folder; give a file name{such_as}")
    if not path.exists():
        return
    for input_flag, input_path in inputs:
        if _same_file(path, input_path):
            raise UsageError(
                f"{flag} {path} is the {input_flag} file itself; writing "
                "there would destroy it: give another file name"
            )
    if not overwrite:
        raise UsageError(
            f"{flag} {path}: the file exists; give --overwrite to replace "
            "it, or another file name"
        )


def _same_file(path, other):
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def label_columns(text):
    """--label-column's value: None, one column, or a list for several.

    Each comma-separated part is an index (negative counts from the end)
    or a header name: '3' → 3, 'species' → 'species', 'a,b' → ['a', 'b'].
    """
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
