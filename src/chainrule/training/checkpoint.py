"""Checkpoints: everything needed to continue a run exactly, no pickle.

A checkpoint is an ``.npz`` archive written atomically, so a crash or a
kill during the write leaves the previous checkpoint intact:

| array | content |
| --- | --- |
| ``header`` | UTF-8 JSON bytes (uint8), below |
| ``parameters`` | the network's flat parameter buffer θ |
| ``optimizer.<name>`` | each array of the optimizer's ``state()`` |
| ``best_parameters`` | early stopping's best θ, when there is one |

The JSON header holds ``format`` ("chainrule-checkpoint"),
``format_version``, ``chainrule_version``, the network's ``sizes``,
``dtype`` and ``relu_derivative_at_zero``, the optimizer's and the
schedule's ``config``, the position (``epoch``, ``step``,
``running_total``), the random generator's state before the epoch's
shuffle (``rng_state``: NumPy's ``bit_generator.state``, plain integers),
the ``history`` of finished epochs, early stopping's record, and a free
``config`` dict for the caller (the command line keeps its options and a
fingerprint of the data there).

Floats are written by Python's ``repr``, which round-trips exactly, so a
resumed run continues bit for bit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from ..arrays import to_numpy
from ..atomic import atomic_write
from ..model_file import ModelFileError, read_arrays, read_json_header
from ..network import Network, _views
from .loop import EpochRecord, TrainingState
from .optimizers import optimizer_from_config
from .schedules import schedule_from_config
from .validation import EarlyStopping

FORMAT = "chainrule-checkpoint"
FORMAT_VERSION = 1
FILE_NAME = "checkpoint.npz"

_OPTIMIZER_PREFIX = "optimizer."


class CheckpointError(ModelFileError):
    """A checkpoint that cannot be read or does not fit; names the file."""


@dataclass
class Checkpoint:
    """A checkpoint read back: the pieces to rebuild a run.

    Attributes
    ----------
    network : Network
        With the saved parameters.
    optimizer : optimizer
        Rebuilt from its config, with its saved state loaded.
    schedule : schedule or None
        Rebuilt from its config, when one was saved.
    state : TrainingState
        Position, generator state, history and early stopping.
    config : dict
        The caller's own settings, as saved.
    """

    network: Network
    optimizer: object
    schedule: object
    state: TrainingState
    config: dict


def save_checkpoint(path, network, optimizer, state, schedule=None, config=None):
    """Write a checkpoint to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
    network : Network
    optimizer : SGD or Adam
    state : TrainingState
        From ``train``'s ``on_epoch_end`` or ``TrainingInterruptedError``.
    schedule : schedule, optional
    config : dict, optional
        JSON-able settings of the caller's, returned as they were.
    """
    from .. import __version__

    early = None
    best = None
    if state.early_stopping is not None:
        early, best = state.early_stopping.state()
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "sizes": network.sizes,
        "dtype": str(to_numpy(network.parameters).dtype),
        "relu_derivative_at_zero": network.relu_derivative_at_zero,
        "optimizer": optimizer.config(),
        "schedule": None if schedule is None else schedule.config(),
        "epoch": state.epoch,
        "step": state.step,
        "running_total": state.running_total,
        "rng_state": _jsonable(state.rng_state),
        "history": [_record_to_dict(record) for record in state.history],
        "early_stopping": early,
        "config": config or {},
    }
    text = json.dumps(header, sort_keys=True)
    arrays = {
        "header": np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
        "parameters": to_numpy(network.parameters),
    }
    for name, value in optimizer.state().items():
        arrays[_OPTIMIZER_PREFIX + name] = to_numpy(value)
    if best is not None:
        arrays["best_parameters"] = to_numpy(best)
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``.

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        With one line naming the file and the problem.
    """
    try:
        arrays = read_arrays(path, "checkpoint")
        header = read_json_header(path, arrays, FORMAT, FORMAT_VERSION, "checkpoint")
    except ModelFileError as error:
        raise CheckpointError(str(error)) from None
    try:
        return _rebuild(path, header, arrays)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        detail = f"missing entry {error}" if isinstance(error, KeyError) else error
        raise CheckpointError(
            f"{path}: the checkpoint does not fit together ({detail})"
        ) from None


def _rebuild(path, header, arrays):
    sizes = [int(size) for size in header["sizes"]]
    dtype = np.dtype(header["dtype"])
    parameters = arrays.get("parameters")
    shapes = list(zip(sizes[1:], sizes[:-1], strict=True))
    n_parameters = sum(rows * columns + rows for rows, columns in shapes)
    if (
        parameters is None
        or parameters.shape != (n_parameters,)
        or parameters.dtype != dtype
    ):
        shown = "missing" if parameters is None else f"{parameters.dtype}"
        shape = "" if parameters is None else f" of shape {parameters.shape}"
        raise CheckpointError(
            f"{path}: 'parameters' must be {dtype} of shape ({n_parameters},) "
            f"for sizes {sizes}, got {shown}{shape}"
        )
    omega, beta = _views(parameters, shapes, np)
    try:
        network = Network(omega, beta, float(header["relu_derivative_at_zero"]))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: {error}") from None

    optimizer = optimizer_from_config(header["optimizer"])
    optimizer_state = {
        name[len(_OPTIMIZER_PREFIX) :]: array
        for name, array in arrays.items()
        if name.startswith(_OPTIMIZER_PREFIX)
    }
    for name, array in optimizer_state.items():
        if array.ndim == 1 and array.shape != parameters.shape:
            raise CheckpointError(
                f"{path}: optimizer state {name!r} has shape {array.shape}, "
                f"the parameters {parameters.shape}"
            )
        if array.ndim == 1 and not np.all(np.isfinite(array)):
            raise CheckpointError(
                f"{path}: optimizer state {name!r} has NaN or infinite values"
            )
    optimizer.load_state(optimizer_state)
    schedule = header.get("schedule")
    schedule = None if schedule is None else schedule_from_config(schedule)

    early_stopping = None
    if header.get("early_stopping") is not None:
        scalars = header["early_stopping"]
        early_stopping = EarlyStopping(scalars["patience"], scalars["min_delta"])
        best = arrays.get("best_parameters")
        if best is not None and best.shape != parameters.shape:
            raise CheckpointError(
                f"{path}: 'best_parameters' has shape {best.shape}, the "
                f"parameters {parameters.shape}"
            )
        early_stopping.load_state(scalars, best)

    history = [EpochRecord(**record) for record in header["history"]]
    state = TrainingState(
        epoch=int(header["epoch"]),
        step=int(header["step"]),
        running_total=float(header["running_total"]),
        rng_state=header["rng_state"],
        history=history,
        early_stopping=early_stopping,
    )
    if state.epoch < 0 or state.step < 0 or len(history) != state.epoch:
        raise CheckpointError(
            f"{path}: position epoch {state.epoch}, step {state.step} does not "
            f"match the {len(history)} epoch record(s) saved"
        )
    if not math.isfinite(state.running_total):
        raise CheckpointError(f"{path}: running_total is not finite")
    _check_rng_state(path, state.rng_state)
    config = header.get("config", {})
    return Checkpoint(network, optimizer, schedule, state, config)


def _check_rng_state(path, rng_state):
    if not isinstance(rng_state, dict) or "bit_generator" not in rng_state:
        raise CheckpointError(f"{path}: rng_state is not a generator state")
    kind = getattr(np.random, str(rng_state["bit_generator"]), None)
    if kind is None or not isinstance(kind, type):
        raise CheckpointError(
            f"{path}: unknown bit generator {rng_state['bit_generator']!r}"
        )
    try:
        probe = kind()
        probe.state = rng_state
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"{path}: rng_state cannot be restored ({error})"
        ) from None


def fingerprint(*arrays):
    """A short SHA-256 digest of arrays' dtypes, shapes and bytes.

    Saved with a checkpoint so that a resumed run can tell whether its data
    are the data the run started with.
    """
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        array = np.ascontiguousarray(to_numpy(array))
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def _record_to_dict(record):
    values = dataclasses.asdict(record)
    values["extra"] = _jsonable(values["extra"])
    return values


def _jsonable(value):
    # NumPy scalars inside generator states and diagnostics → plain Python.
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
