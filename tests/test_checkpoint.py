"""Checkpoint files: exact round trips and one-line errors for bad files."""

import json

import numpy as np
import pytest

from chainrule import Network
from chainrule.losses import CrossEntropy
from chainrule.model_file import Model, save
from chainrule.training import (
    SGD,
    Adam,
    CheckpointError,
    EarlyStopping,
    StepSchedule,
    TrainingInterruptedError,
    load_checkpoint,
    save_checkpoint,
    train,
)
from chainrule.training.checkpoint import fingerprint


def _interrupted(optimizer, early_stopping=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 40)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    network = Network.initialize([3, 5, 2], 0)
    calls = iter(range(100))
    options = {}
    if early_stopping is not None:
        options = dict(x_validation=x[:, :10], y_validation=y[:10])
    with pytest.raises(TrainingInterruptedError) as caught:
        train(
            network,
            x,
            y,
            CrossEntropy(),
            epochs=5,
            batch_size=8,
            optimizer=optimizer,
            schedule=StepSchedule(0.1, 2),
            rng=np.random.default_rng(3),
            stop_requested=lambda: next(calls) == 7,
            early_stopping=early_stopping,
            **options,
        )
    return network, caught.value.state


@pytest.fixture
def saved(tmp_path):
    optimizer = Adam()
    network, state = _interrupted(optimizer, EarlyStopping(3))
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(
        path, network, optimizer, state, StepSchedule(0.1, 2), {"note": [1, "a"]}
    )
    return path, network, optimizer, state


def test_round_trip_is_exact(saved):
    path, network, optimizer, state = saved
    loaded = load_checkpoint(path)
    assert loaded.network.parameters.tobytes() == network.parameters.tobytes()
    assert loaded.network.sizes == network.sizes
    assert loaded.optimizer.t == optimizer.t
    assert loaded.optimizer.m.tobytes() == optimizer.m.tobytes()
    assert loaded.optimizer.v.tobytes() == optimizer.v.tobytes()
    assert loaded.schedule.config() == StepSchedule(0.1, 2).config()
    assert (loaded.state.epoch, loaded.state.step) == (state.epoch, state.step)
    assert loaded.state.running_total == state.running_total
    assert loaded.state.rng_state == state.rng_state
    assert loaded.state.history == state.history
    early = loaded.state.early_stopping
    assert early.best_epoch == state.early_stopping.best_epoch
    assert early.best_parameters.tobytes() == (
        state.early_stopping.best_parameters.tobytes()
    )
    assert loaded.config == {"note": [1, "a"]}


def test_sgd_before_its_first_step_has_no_velocity(tmp_path):
    network = Network.initialize([2, 2], 0)
    rng = np.random.default_rng(0)
    from chainrule.training import TrainingState

    state = TrainingState(0, 0, 0.0, rng.bit_generator.state, [])
    save_checkpoint(tmp_path / "c.npz", network, SGD(0.9), state)
    loaded = load_checkpoint(tmp_path / "c.npz")
    assert loaded.optimizer.velocity is None and loaded.schedule is None


def _arrays(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _rewrite(path, arrays, header=None):
    if header is not None:
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _edit(header_changes=None, array_changes=None):
    def edit(path):
        arrays = _arrays(path)
        header = json.loads(arrays["header"].tobytes())
        for key, value in (header_changes or {}).items():
            if value is KeyError:
                del header[key]
            else:
                header[key] = value
        for key, value in (array_changes or {}).items():
            if value is KeyError:
                del arrays[key]
            else:
                arrays[key] = value
        _rewrite(path, arrays, header)

    return edit


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


BAD = {
    "truncated": (_truncate, "truncated or corrupted"),
    "wrong version": (_edit({"format_version": 9}), "version 9 is not supported"),
    "no sizes": (_edit({"sizes": KeyError}), "missing entry 'sizes'"),
    "parameters shape": (
        _edit(array_changes={"parameters": np.zeros(3, np.float32)}),
        r"'parameters' must be float32 of shape \(32,\)",
    ),
    "parameters missing": (
        _edit(array_changes={"parameters": KeyError}),
        "got missing",
    ),
    "optimizer state shape": (
        _edit(array_changes={"optimizer.m": np.zeros(4, np.float32)}),
        "optimizer state 'm' has shape",
    ),
    "optimizer NaN": (
        _edit(array_changes={"optimizer.v": np.full(32, np.nan, np.float32)}),
        "optimizer state 'v' has NaN",
    ),
    "unknown optimizer": (
        _edit({"optimizer": {"name": "lion"}}),
        "unknown optimizer 'lion'",
    ),
    "bad rng state": (
        _edit({"rng_state": {"bit_generator": "PCG64", "state": 3}}),
        "rng_state cannot be restored",
    ),
    "unknown generator": (
        _edit({"rng_state": {"bit_generator": "Nope"}}),
        "unknown bit generator",
    ),
    "history disagrees": (_edit({"epoch": 4}), "does not match the 1 epoch record"),
    "NaN parameters": (
        _edit(array_changes={"parameters": np.full(32, np.nan, np.float32)}),
        "contains NaN",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_checkpoint_one_line_naming_the_file(saved, case):
    path = saved[0]
    damage, pattern = BAD[case]
    damage(path)
    with pytest.raises(CheckpointError, match=pattern) as caught:
        load_checkpoint(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)


def test_a_model_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "model.npz"
    save(path, Model(Network.initialize([2, 2], 0), "least-squares", "regression"))
    with pytest.raises(CheckpointError, match="not a chainrule checkpoint file"):
        load_checkpoint(path)


def test_interrupted_write_keeps_the_previous_checkpoint(saved, monkeypatch):
    path, network, optimizer, state = saved
    before = path.read_bytes()

    def crash(handle, **arrays):
        handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, network, optimizer, state)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.npz"]


def test_fingerprint_sees_values_dtype_and_shape():
    x = np.arange(6.0).reshape(2, 3)
    assert fingerprint(x) == fingerprint(x.copy())
    assert fingerprint(x) != fingerprint(x.astype(np.float32))
    assert fingerprint(x) != fingerprint(x.reshape(3, 2))
    changed = x.copy()
    changed[1, 2] = np.nextafter(changed[1, 2], 10)
    assert fingerprint(x) != fingerprint(changed)
    assert fingerprint(x, None) != fingerprint(x)
