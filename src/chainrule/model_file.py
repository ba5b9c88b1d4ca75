"""Model files: a trained network and what is needed to use it, no pickle.

A model file is an ``.npz`` archive of plain arrays:

| array | content |
| --- | --- |
| ``header`` | UTF-8 JSON bytes (uint8): format, version, sizes, loss, … |
| ``omega_k``, ``beta_k`` | Ω_k of shape (D_{k+1}, D_k), β_k of shape (D_{k+1}, 1) |
| ``input_mean``, ``input_std`` | input standardization statistics, if used |
| ``target_mean``, ``target_std`` | regression targets' statistics, if used |

The JSON header holds:

| key | value |
| --- | --- |
| ``format`` | ``"chainrule-model"`` |
| ``format_version`` | 1 |
| ``chainrule_version`` | the version that wrote the file |
| ``sizes`` | [D_i, D_1, …, D_K, D_o] |
| ``loss`` | ``"cross-entropy"``, ``"binary-cross-entropy"`` or ``"least-squares"`` |
| ``task`` | ``"classification"``, ``"regression"`` or ``"multilabel"`` |
| ``relu_derivative_at_zero`` | the ReLU convention the network was trained with |
| ``dtype`` | ``"float32"`` or ``"float64"``, the parameters' dtype |
| ``classes`` | the original class labels (index = class id), or null |
| ``standardized`` | whether ``input_mean`` and ``input_std`` are present |
| ``targets_standardized`` | whether ``target_mean`` and ``target_std`` are present |
| ``feature_names``, ``label_names`` | column names from the data, or null |
| ``metadata`` | free-form JSON (data set name, seed, …) |

Files are read with ``allow_pickle=False`` and checked entry by entry: a
truncated, corrupted, wrong-version or hand-edited file raises
``ModelFileError`` with one line naming the file and the problem. Arrays
are stored with their own dtype, so a loaded model reproduces the saved
parameters bit for bit. Writes are atomic (``chainrule.atomic``).
"""

from __future__ import annotations

import json
import math
import numbers
import re
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from .arrays import to_numpy
from .atomic import atomic_write
from .losses import LOSSES, get_loss
from .network import Network

FORMAT = "chainrule-model"
FORMAT_VERSION = 1
TASKS = ("classification", "regression", "multilabel")
DTYPES = ("float32", "float64")

_LAYER_ARRAY = re.compile(r"(omega|beta)_(\d+)")
_STATISTICS = ("input_mean", "input_std", "target_mean", "target_std")


class ModelFileError(ValueError):
    """A model file that cannot be read; the message names the file."""


@dataclass
class Model:
    """A trained network with its loss, classes and input statistics.

    Methods take and return rows (one example per row), as files and the
    ecosystem do; the network itself works in columns.

    Attributes
    ----------
    network : Network
    loss : str
        The loss's name, as ``chainrule.losses.get_loss`` spells it.
    task : str
        ``"classification"``, ``"regression"`` or ``"multilabel"``.
    classes : list or None
        The original label of each class id (classification).
    input_mean, input_std : ndarray of shape (D_i,) or None
        Inputs are standardized as (x − mean) / std before the network.
    target_mean, target_std : ndarray of shape (D_o,) or None
        The network's outputs are mapped back as f · std + mean
        (regression trained on standardized targets).
    feature_names, label_names : list of str or None
        Column names from the training data, when it had a header.
    metadata : dict
        Free-form JSON-able information (data set, seed, …).
    """

    network: Network
    loss: str
    task: str = "classification"
    classes: list | None = None
    input_mean: np.ndarray | None = None
    input_std: np.ndarray | None = None
    target_mean: np.ndarray | None = None
    target_std: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    feature_names: list | None = None
    label_names: list | None = None

    @property
    def n_features(self):
        """D_i, the number of input features."""
        return self.network.sizes[0]

    @property
    def n_outputs(self):
        """D_o, the number of network outputs."""
        return self.network.sizes[-1]

    @property
    def is_one_hot_regression(self):
        """Least squares onto one-hot class vectors (a classification task)."""
        return self.loss == "least-squares" and self.task == "classification"

    def output(self, rows):
        """The network output f_K for rows of shape (N, D_i), as (N, D_o)."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ValueError(
                f"expected rows of shape (N, {self.n_features}), got {rows.shape}"
            )
        if self.input_mean is not None:
            rows = (rows - self.input_mean) / self.input_std
        columns = rows.T.astype(to_numpy(self.network.parameters).dtype)
        output = to_numpy(self.network.predict(columns)).T
        if self.target_mean is not None:
            # The network was trained on standardized targets.
            output = output * self.target_std + self.target_mean
        return output

    def predict_proba(self, rows):
        """Class probabilities, shape (N, C) (or (N, L) for multi-label)."""
        loss = get_loss(self.loss)
        if not loss.is_classification:
            raise ValueError("predict_proba needs a classification model")
        return to_numpy(loss.predict(self.output(rows).T)).T

    def predict(self, rows):
        """Predicted labels (classification) or values (regression).

        Cross-entropy: the arg-max class's label, shape (N,). Binary
        cross-entropy with two classes: the label of class σ(f) ≥ ½,
        shape (N,); multi-label: 0/1 of shape (N, L). Least squares: the
        values, shape (N, D_o), or for a classification task (one-hot
        targets) the label of the largest output.
        """
        output = self.output(rows)
        if self.loss == "cross-entropy" or self.is_one_hot_regression:
            return self._labels(np.argmax(output, axis=1))
        if self.loss == "binary-cross-entropy":
            ids = (output >= 0).astype(np.int64)
            if self.classes is not None and self.n_outputs == 1:
                return self._labels(ids[:, 0])
            return ids
        if self.classes is not None:
            # Least squares on classes regresses onto one-hot targets.
            return self._labels(output.argmax(axis=1))
        return output

    def _labels(self, ids):
        if self.classes is None:
            return ids
        return np.asarray(self.classes, dtype=object)[ids]


def save(path, model):
    """Write ``model`` to ``path`` atomically (an ``.npz`` archive).

    Raises
    ------
    ValueError
        If the metadata or names cannot be written as JSON.
    """
    from . import __version__

    network = model.network
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "sizes": network.sizes,
        "loss": model.loss,
        "task": model.task,
        "relu_derivative_at_zero": network.relu_derivative_at_zero,
        "dtype": str(to_numpy(network.parameters).dtype),
        "classes": _jsonable_list(model.classes),
        "standardized": model.input_mean is not None,
        "targets_standardized": model.target_mean is not None,
        "feature_names": _jsonable_list(model.feature_names),
        "label_names": _jsonable_list(model.label_names),
        "metadata": model.metadata,
    }
    try:
        text = json.dumps(header, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"cannot write the model header as JSON ({error}); metadata must "
            "hold plain numbers, strings, lists and dicts"
        ) from None
    arrays = {"header": np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    for k in range(len(network.omega)):
        arrays[f"omega_{k}"] = to_numpy(network.omega[k])
        arrays[f"beta_{k}"] = to_numpy(network.beta[k])
    if model.input_mean is not None:
        arrays["input_mean"] = np.asarray(model.input_mean, np.float64)
        arrays["input_std"] = np.asarray(model.input_std, np.float64)
    if model.target_mean is not None:
        arrays["target_mean"] = np.asarray(model.target_mean, np.float64)
        arrays["target_std"] = np.asarray(model.target_std, np.float64)
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)


def load(path):
    """Read a model file written by ``save``.

    Returns
    -------
    Model

    Raises
    ------
    ModelFileError
        With a one-line message naming the file and the problem: missing,
        unreadable, truncated or corrupted, not a chainrule model, an
        unsupported format version, or a header and arrays that disagree
        (shapes that do not chain, NaN weights, wrong dtypes, …).
    """
    arrays = read_arrays(path, "model")
    header = _read_header(path, arrays)
    _check_array_names(path, header, arrays)
    network = _read_network(path, header, arrays)
    n_features, n_outputs = network.sizes[0], network.sizes[-1]
    mean, std = _read_statistics(
        path, arrays, "input", n_features, header["standardized"]
    )
    target_mean, target_std = _read_statistics(
        path, arrays, "target", n_outputs, header["targets_standardized"]
    )
    _check_classes(path, header, n_outputs)
    return Model(
        network=network,
        loss=header["loss"],
        task=header["task"],
        classes=header["classes"],
        input_mean=mean,
        input_std=std,
        target_mean=target_mean,
        target_std=target_std,
        metadata=header["metadata"],
        feature_names=header["feature_names"],
        label_names=header["label_names"],
    )


def read_arrays(path, kind):
    """Every array of an ``.npz`` file, read without pickle.

    ``kind`` names the file in messages ("model", "checkpoint").

    Raises
    ------
    ModelFileError
        For a missing, unreadable, truncated or corrupted file.
    """
    try:
        with open(path, "rb") as handle:
            signature = handle.read(4)
        if signature not in (b"PK\x03\x04", b"PK\x05\x06"):
            # np.load would take any other file for a pickle and say so.
            shown = "it is empty" if not signature else "no zip signature"
            raise zipfile.BadZipFile(f"{shown}; expected an .npz archive")
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such {kind} file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, not a {kind} file") from None
    except PermissionError:
        raise ModelFileError(f"{path}: permission denied") from None
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        KeyError,
    ) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelFileError(
            f"{path}: not a readable chainrule {kind} file (truncated or "
            f"corrupted: {detail})"
        ) from None


def read_json_header(path, arrays, expected_format, expected_version, kind):
    """Decode the ``header`` array and check its format and version."""
    header = arrays.get("header")
    if header is None:
        raise ModelFileError(f"{path}: not a chainrule {kind} file (no header)")
    if header.dtype != np.uint8 or header.ndim != 1:
        raise ModelFileError(
            f"{path}: the header must be a 1-D uint8 array of JSON bytes, got "
            f"{header.dtype} of shape {header.shape}"
        )
    try:
        decoded = json.loads(header.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(
            f"{path}: the header is not valid JSON ({error})"
        ) from None
    if not isinstance(decoded, dict) or decoded.get("format") != expected_format:
        raise ModelFileError(
            f"{path}: not a chainrule {kind} file (the header's format is "
            f"{_shown(decoded.get('format') if isinstance(decoded, dict) else None)}"
            f", expected {expected_format!r})"
        )
    version = decoded.get("format_version")
    if version != expected_version:
        raise ModelFileError(
            f"{path}: {kind} format version {_shown(version)} is not supported; "
            f"this chainrule reads version {expected_version}"
        )
    return decoded


def _read_header(path, arrays):
    header = read_json_header(path, arrays, FORMAT, FORMAT_VERSION, "model")
    for key in (
        "sizes",
        "loss",
        "relu_derivative_at_zero",
        "dtype",
        "standardized",
    ):
        if key not in header:
            raise ModelFileError(f"{path}: the header has no {key!r} entry")

    def bad(key, expected):
        return ModelFileError(
            f"{path}: header entry {key!r} must be {expected}, got "
            f"{_shown(header[key])}"
        )

    sizes = header["sizes"]
    if not (
        isinstance(sizes, list)
        and len(sizes) >= 2
        and all(_is_int(size) and size >= 1 for size in sizes)
    ):
        raise bad("sizes", "a list of at least two positive whole numbers")
    if not isinstance(header["loss"], str) or header["loss"] not in LOSSES:
        raise bad("loss", f"one of {', '.join(LOSSES)}")
    header.setdefault("task", "classification")
    if not isinstance(header["task"], str) or header["task"] not in TASKS:
        raise bad("task", f"one of {', '.join(TASKS)}")
    at_zero = header["relu_derivative_at_zero"]
    if not (_is_number(at_zero) and 0.0 <= at_zero <= 1.0):
        raise bad("relu_derivative_at_zero", "a number in [0, 1]")
    if not isinstance(header["dtype"], str) or header["dtype"] not in DTYPES:
        raise bad("dtype", "'float32' or 'float64'")
    header.setdefault("targets_standardized", False)
    for key in ("standardized", "targets_standardized"):
        if not isinstance(header[key], bool):
            raise bad(key, "true or false")
    for key in ("classes", "feature_names", "label_names"):
        header.setdefault(key, None)
        value = header[key]
        allowed = (str, int) if key == "classes" else (str,)
        if value is not None and not (
            isinstance(value, list)
            and all(isinstance(v, allowed) and not isinstance(v, bool) for v in value)
        ):
            kinds = "strings or whole numbers" if key == "classes" else "strings"
            raise bad(key, f"null or a list of {kinds}")
    header.setdefault("metadata", {})
    if not isinstance(header["metadata"], dict):
        raise bad("metadata", "a JSON object")
    return header


def _check_array_names(path, header, arrays):
    n_layers = len(header["sizes"]) - 1
    expected = {"header"}
    expected |= {f"{name}_{k}" for name in ("omega", "beta") for k in range(n_layers)}
    if header["standardized"]:
        expected |= {"input_mean", "input_std"}
    if header["targets_standardized"]:
        expected |= {"target_mean", "target_std"}
    missing = sorted(expected - set(arrays), key=_array_order)
    if missing:
        raise ModelFileError(
            f"{path}: array {missing[0]!r} is missing (the header lists "
            f"{n_layers} layers, sizes {header['sizes']})"
        )
    unexpected = sorted(set(arrays) - expected, key=_array_order)
    if unexpected:
        raise ModelFileError(
            f"{path}: unexpected arrays {unexpected}; they do not match the "
            f"header ({n_layers} layers, sizes {header['sizes']})"
        )


def _array_order(name):
    match = _LAYER_ARRAY.fullmatch(name)
    if match:
        return (0, int(match.group(2)), match.group(1) == "beta")
    return (1, 0, name)


def _read_network(path, header, arrays):
    n_layers = len(header["sizes"]) - 1
    dtype = np.dtype(header["dtype"])
    omega = [arrays[f"omega_{k}"] for k in range(n_layers)]
    beta = [arrays[f"beta_{k}"] for k in range(n_layers)]
    for name, layers in (("omega", omega), ("beta", beta)):
        for k, array in enumerate(layers):
            if array.dtype != dtype:
                raise ModelFileError(
                    f"{path}: array '{name}_{k}' has dtype {array.dtype} but "
                    f"the header says {dtype}"
                )
    try:
        network = Network(omega, beta, float(header["relu_derivative_at_zero"]))
    except (ValueError, TypeError) as error:
        raise ModelFileError(f"{path}: {error}") from None
    if network.sizes != list(header["sizes"]):
        raise ModelFileError(
            f"{path}: the arrays give sizes {network.sizes} but the header "
            f"says {header['sizes']}"
        )
    return network


def _read_statistics(path, arrays, prefix, size, present):
    """Read ``<prefix>_mean`` and ``<prefix>_std`` when the header says so."""
    if not present:
        return None, None
    values = []
    for name in (f"{prefix}_mean", f"{prefix}_std"):
        array = arrays[name]
        if array.shape != (size,) or array.dtype != np.float64:
            raise ModelFileError(
                f"{path}: {name} must be float64 of shape ({size},), got "
                f"{array.dtype} of shape {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ModelFileError(f"{path}: {name} has NaN or infinite values")
        values.append(array)
    if np.any(values[1] <= 0):
        raise ModelFileError(f"{path}: {prefix}_std must be positive")
    return values[0], values[1]


def _check_classes(path, header, n_outputs):
    classes = header["classes"]
    loss = header["loss"]
    if classes is None:
        return
    if len(set(classes)) != len(classes):
        raise ModelFileError(f"{path}: the class labels {classes} repeat a label")
    if loss == "cross-entropy" and len(classes) != n_outputs:
        raise ModelFileError(
            f"{path}: {len(classes)} class labels but the network has "
            f"{n_outputs} outputs; cross-entropy needs one output per class"
        )
    if loss == "binary-cross-entropy" and (n_outputs != 1 or len(classes) > 2):
        raise ModelFileError(
            f"{path}: binary cross-entropy with class labels needs one output "
            f"and at most two classes, got {n_outputs} outputs and "
            f"{len(classes)} classes"
        )


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable_list(values):
    if values is None:
        return None
    return [v.item() if isinstance(v, np.generic) else v for v in values]
