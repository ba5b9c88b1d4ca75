"""Model files: a trained network and what is needed to use it, no pickle.

A model file is an ``.npz`` archive of plain arrays:

| array | content |
| --- | --- |
| ``header`` | UTF-8 JSON bytes (uint8): format, version, sizes, loss, … |
| ``omega_k``, ``beta_k`` | Ω_k and β_k for k = 0 … K |
| ``input_mean``, ``input_std`` | standardization statistics, if used |
| ``target_mean``, ``target_std`` | regression targets' statistics, if used |

The header holds ``format`` ("chainrule-model"), ``format_version``,
``sizes``, ``loss``, ``task``, ``relu_derivative_at_zero``, ``dtype``,
``classes`` (the original class labels, index = class id, or null) and
``standardized``. It is read with ``allow_pickle=False``; writes are
atomic.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .arrays import to_numpy
from .atomic import atomic_write
from .losses import get_loss
from .network import Network

FORMAT = "chainrule-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be read; the message names the file."""


@dataclass
class Model:
    """A trained network with its loss, classes and input statistics.

    Methods take and return rows (one example per row), as files and the
    ecosystem do; the network itself works in columns.
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

    @property
    def n_features(self):
        return self.network.sizes[0]

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
        """Predicted labels (classification) or values (regression)."""
        output = self.output(rows)
        if self.loss == "cross-entropy":
            ids = np.argmax(output, axis=1)
            if self.classes is None:
                return ids
            return np.asarray(self.classes, dtype=object)[ids]
        if self.loss == "binary-cross-entropy":
            return (output >= 0).astype(np.int64)
        return output


def save(path, model):
    """Write ``model`` to ``path`` atomically (an ``.npz`` archive)."""
    network = model.network
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sizes": network.sizes,
        "loss": model.loss,
        "task": model.task,
        "relu_derivative_at_zero": network.relu_derivative_at_zero,
        "dtype": str(to_numpy(network.parameters).dtype),
        "classes": _jsonable_classes(model.classes),
        "standardized": model.input_mean is not None,
        "targets_standardized": model.target_mean is not None,
        "metadata": model.metadata,
    }
    text = json.dumps(header, sort_keys=True).encode("utf-8")
    arrays = {"header": np.frombuffer(text, dtype=np.uint8)}
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

    Raises
    ------
    ModelFileError
        With a one-line message naming the file and the problem.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, not a model file") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ModelFileError(
            f"{path}: not a readable chainrule model file (truncated or "
            f"corrupted: {error})"
        ) from None
    header = _read_header(path, arrays)
    network = _read_network(path, header, arrays)
    n_features, n_outputs = network.sizes[0], network.sizes[-1]
    mean, std = _read_statistics(
        path, arrays, "input", n_features, header.get("standardized")
    )
    target_mean, target_std = _read_statistics(
        path, arrays, "target", n_outputs, header.get("targets_standardized")
    )
    return Model(
        network=network,
        loss=header["loss"],
        task=header.get("task", "classification"),
        classes=header.get("classes"),
        input_mean=mean,
        input_std=std,
        target_mean=target_mean,
        target_std=target_std,
        metadata=header.get("metadata", {}),
    )


def _read_header(path, arrays):
    if "header" not in arrays:
        raise ModelFileError(f"{path}: not a chainrule model file (no header)")
    try:
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(
            f"{path}: the header is not valid JSON ({error})"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a chainrule model file")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {version!r} is not supported; this "
            f"chainrule reads version {FORMAT_VERSION}"
        )
    for key in ("sizes", "loss", "relu_derivative_at_zero"):
        if key not in header:
            raise ModelFileError(f"{path}: the header has no {key!r} entry")
    try:
        get_loss(header["loss"])
    except ValueError as error:
        raise ModelFileError(f"{path}: {error}") from None
    return header


def _read_network(path, header, arrays):
    n_layers = len(header["sizes"]) - 1
    omega, beta = [], []
    for k in range(n_layers):
        for name, target in ((f"omega_{k}", omega), (f"beta_{k}", beta)):
            if name not in arrays:
                raise ModelFileError(
                    f"{path}: array {name!r} is missing (the header lists "
                    f"{n_layers} layers)"
                )
            target.append(arrays[name])
    extra = sorted(
        name
        for name in arrays
        if name.startswith(("omega_", "beta_")) and int(name.split("_")[1]) >= n_layers
    )
    if extra:
        raise ModelFileError(
            f"{path}: arrays {extra} do not match the header's {n_layers} layers"
        )
    try:
        network = Network(omega, beta, header["relu_derivative_at_zero"])
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
        array = arrays.get(name)
        if array is None or array.shape != (size,):
            raise ModelFileError(f"{path}: {name} must have shape ({size},)")
        if not np.all(np.isfinite(array)):
            raise ModelFileError(f"{path}: {name} has NaN or infinite values")
        values.append(array)
    if np.any(values[1] <= 0):
        raise ModelFileError(f"{path}: {prefix}_std must be positive")
    return values[0], values[1]


def _jsonable_classes(classes):
    if classes is None:
        return None
    return [c.item() if isinstance(c, np.generic) else c for c in classes]
