"""The data layer: built-in data sets, the user's files, validation.

Data are held in rows, one example per row, as files and the Python
ecosystem store them; ``to_columns`` converts to the book's column
orientation for the math core.

Public API
----------
- ``load_dataset(spec, ...)``: a built-in name or a CSV/NPZ path to a
  ``Dataset``.
- ``Dataset``: training and test arrays, classes, task, source.
- ``DataError``: bad input, told in one line naming file, line, column.
- ``check_labels_for_loss(dataset, loss_name)``: targets suit the loss.
- ``check_training_classes(dataset)``: at least two training classes.
- ``Standardizer``, ``standardize``: statistics of the training split.
- ``to_columns``, ``to_rows``: the row/column boundary.
- ``default_standardize(spec)``, ``BUILTIN_NAMES``.
"""

from .boundary import to_columns, to_rows
from .builtin import BUILTIN_NAMES, cache_directory
from .dataset import TASKS, Dataset
from .errors import DataError
from .labels import LOSS_NAMES, check_labels_for_loss, check_training_classes
from .load import default_standardize, load_dataset
from .standardize import Standardizer, standardize

__all__ = [
    "BUILTIN_NAMES",
    "LOSS_NAMES",
    "TASKS",
    "DataError",
    "Dataset",
    "Standardizer",
    "cache_directory",
    "check_labels_for_loss",
    "check_training_classes",
    "default_standardize",
    "load_dataset",
    "standardize",
    "to_columns",
    "to_rows",
]
