"""The files the subcommands read: model files and data sets.

A file the user can fix (a bad model file, a bad data file, data with
the wrong number of features) is reported as a one-line CommandError.
"""

from __future__ import annotations

from ..data import DataError, load_dataset
from ..model_file import ModelFileError, load
from .errors import CommandError


def open_model(path):
    """Load a model file; a bad file is a one-line CommandError."""
    try:
        return load(path)
    except ModelFileError as error:
        raise CommandError(str(error)) from None


def load_data(spec, **options):
    """``load_dataset(spec, **options)``; bad data are a one-line CommandError."""
    try:
        return load_dataset(spec, **options)
    except DataError as error:
        raise CommandError(str(error)) from None


def check_feature_count(spec, n_found, n_expected):
    """A data file's feature count must be the model's input size D_i."""
    if n_found != n_expected:
        raise CommandError(
            f"{spec}: {n_found} feature column(s), but the model takes "
            f"{n_expected} features; the data must have the training data's "
            "features"
        )
