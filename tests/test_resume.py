"""Stopping and resuming ``train`` in-process: bit-identical parameters.

The real-process tests (SIGKILL, Ctrl-C) are in test_resume_cli.py.
"""

import numpy as np
import pytest

from chainrule import Network
from chainrule.losses import CrossEntropy, LeastSquares
from chainrule.training import (
    SGD,
    Adam,
    CosineSchedule,
    DivergenceError,
    EarlyStopping,
    StepSchedule,
    TrainingInterruptedError,
    load_checkpoint,
    save_checkpoint,
    train,
)


def _problem(seed=0, n_examples=90, n_features=5, n_classes=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, n_examples)
    rows = centres[y] + rng.normal(size=(n_examples, n_features))
    return np.ascontiguousarray(rows.T.astype(np.float32)), y


def _network(x, n_classes=3):
    return Network.initialize([x.shape[0], 8, 8, n_classes], 1)


def _make(kind):
    if kind == "adam":
        return Adam(weight_decay=1e-3), CosineSchedule(0.01, 7)
    return SGD(0.9, nesterov=True, weight_decay=1e-3), StepSchedule(0.05, 3, 0.5)


def _uninterrupted(kind, x, y, **options):
    network = _network(x)
    optimizer, schedule = _make(kind)
    history = train(
        network,
        x,
        y,
        CrossEntropy(),
        epochs=7,
        batch_size=16,
        schedule=schedule,
        optimizer=optimizer,
        rng=np.random.default_rng(5),
        **options,
    )
    return network, history


def _stop_after(n_calls):
    calls = {"n": 0}

    def stop_requested():
        calls["n"] += 1
        return calls["n"] >= n_calls

    return stop_requested


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("stop_at", [4, 6, 13])
def test_stop_checkpoint_resume_is_bit_identical(tmp_path, kind, stop_at):
    # 90 examples in batches of 16: 6 steps per epoch. Stopping after 4
    # checks is mid-epoch 1; 6 is the boundary after epoch 1 (the check at
    # the last step of an epoch comes after the epoch's evaluation).
    x, y = _problem()
    expected, expected_history = _uninterrupted(kind, x, y)

    network = _network(x)
    optimizer, schedule = _make(kind)
    with pytest.raises(TrainingInterruptedError) as caught:
        train(
            network,
            x,
            y,
            CrossEntropy(),
            epochs=7,
            batch_size=16,
            schedule=schedule,
            optimizer=optimizer,
            rng=np.random.default_rng(5),
            stop_requested=_stop_after(stop_at),
        )
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, network, optimizer, caught.value.state, schedule)

    saved = load_checkpoint(path)
    assert (saved.state.epoch, saved.state.step) == (
        caught.value.state.epoch,
        caught.value.state.step,
    )
    # A fresh generator with another seed: resume must restore its state.
    history = train(
        saved.network,
        x,
        y,
        CrossEntropy(),
        epochs=7,
        batch_size=16,
        schedule=saved.schedule,
        optimizer=saved.optimizer,
        rng=np.random.default_rng(999),
        resume=saved.state,
    )
    assert saved.network.parameters.tobytes() == expected.parameters.tobytes()
    assert len(history) == 7
    assert [r.running_loss for r in history] == [
        r.running_loss for r in expected_history
    ]


def test_checkpoints_from_on_epoch_end(tmp_path):
    x, y = _problem(1)
    expected, _ = _uninterrupted("sgd", x, y)

    network = _network(x)
    optimizer, schedule = _make("sgd")
    written = []

    def on_epoch_end(state):
        if state.epoch == 3:
            save_checkpoint(tmp_path / "c.npz", network, optimizer, state, schedule)
            written.append(state.epoch)

    train(
        network,
        x,
        y,
        CrossEntropy(),
        epochs=7,
        batch_size=16,
        schedule=schedule,
        optimizer=optimizer,
        rng=np.random.default_rng(5),
        on_epoch_end=on_epoch_end,
    )
    assert written == [3]
    saved = load_checkpoint(tmp_path / "c.npz")
    train(
        saved.network,
        x,
        y,
        CrossEntropy(),
        epochs=7,
        batch_size=16,
        schedule=saved.schedule,
        optimizer=saved.optimizer,
        rng=np.random.default_rng(0),
        resume=saved.state,
    )
    assert saved.network.parameters.tobytes() == expected.parameters.tobytes()


def test_validation_history_and_early_stopping_restores_best():
    x, y = _problem(2, n_examples=120)
    x_train, y_train = x[:, :80], y[:80]
    x_val, y_val = x[:, 80:], y[80:]
    network = _network(x)
    snapshots = {}

    def on_epoch_end(state):
        snapshots[state.epoch] = network.parameters.copy()

    stopper = EarlyStopping(patience=2)
    history = train(
        network,
        np.ascontiguousarray(x_train),
        y_train,
        CrossEntropy(),
        epochs=60,
        batch_size=8,
        schedule=StepSchedule(0.5, 100, 1.0),
        optimizer=SGD(0.9),
        rng=np.random.default_rng(0),
        x_validation=np.ascontiguousarray(x_val),
        y_validation=y_val,
        early_stopping=stopper,
        on_epoch_end=on_epoch_end,
    )
    losses = [r.validation_loss for r in history]
    assert all(r.validation_accuracy is not None for r in history)
    best = int(np.argmin(losses)) + 1
    # A large learning rate overfits 80 examples well before 60 epochs.
    assert len(history) < 60
    assert stopper.best_epoch == best
    assert len(history) == best + 2
    np.testing.assert_array_equal(network.parameters, snapshots[best])


def test_early_stopping_needs_validation():
    x, y = _problem()
    with pytest.raises(ValueError, match="early stopping watches the validation"):
        train(_network(x), x, y, CrossEntropy(), rng=0, epochs=1, early_stopping=3)


def test_resuming_a_finished_run_is_refused(tmp_path):
    x, y = _problem()
    network = _network(x)
    states = []
    train(
        network,
        x,
        y,
        CrossEntropy(),
        epochs=2,
        rng=0,
        on_epoch_end=states.append,
    )
    with pytest.raises(ValueError, match="already finished 2 epoch"):
        train(network, x, y, CrossEntropy(), epochs=2, rng=0, resume=states[-1])


def test_divergence_names_epoch_step_layer():
    x, _ = _problem()
    targets = np.ascontiguousarray(x[:1] * 100.0)
    with pytest.raises(DivergenceError) as caught:
        train(
            Network.initialize([5, 8, 1], 0),
            x,
            targets,
            LeastSquares(),
            epochs=3,
            learning_rate=10.0,
            optimizer=SGD(),
            rng=0,
        )
    message = str(caught.value)
    assert f"epoch {caught.value.epoch}, step {caught.value.step}" in message
    assert "smaller learning rate" in message
    assert caught.value.epoch >= 1 and caught.value.step >= 1


def test_zero_cost_when_unused_same_result_with_hooks_that_do_nothing():
    x, y = _problem(3)
    plain, _ = _uninterrupted("sgd", x, y)
    hooked, _ = _uninterrupted(
        "sgd", x, y, stop_requested=lambda: False, on_epoch_end=lambda s: None
    )
    assert plain.parameters.tobytes() == hooked.parameters.tobytes()
