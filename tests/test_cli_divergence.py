"""A non-finite loss anywhere at an epoch's end stops the run (exit 1)."""

import json

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.cli.run_outputs import metrics_json
from chainrule.losses import get_loss
from chainrule.network import Network
from chainrule.training import train
from chainrule.training.loop import DivergenceError


def far_test_set(path):
    """Regression data whose test part holds one row at ±1e30.

    Standardized with the training rows' statistics, that row reaches the
    output at about 1e30, and its squared error overflows float32.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    x_test = rng.normal(size=(10, 3))
    x_test[3] = [1e30, -1e30, 1e30]
    np.savez(path, x=x, y=x[:, 0] + 0.5, x_test=x_test, y_test=x_test[:, 0])


def test_an_infinite_test_loss_is_a_divergence(tmp_path, capsys):
    data = tmp_path / "far.npz"
    far_test_set(data)
    out = tmp_path / "run"
    status = main(
        ["train", "--data", str(data), "--epochs", "2", "--hidden", "8"]
        + ["--quiet", "--out", str(out)]
    )
    stderr = capsys.readouterr().err
    assert status == 1
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "epoch 1" in stderr and "test loss" in stderr, stderr
    assert "layer " in stderr, stderr
    # No metrics.json with Infinity in it: the failed run leaves nothing.
    assert not out.exists()


@pytest.mark.parametrize("part", ["validation", "test"])
def test_the_loop_checks_validation_and_test_losses(part):
    rng = np.random.default_rng(1)
    network = Network.initialize([2, 4, 1], rng, dtype=np.float32)
    x = rng.normal(size=(2, 20)).astype(np.float32)
    y = x[:1] * 0.5
    far = np.full((2, 5), 1e30, dtype=np.float32)
    kwargs = {f"x_{part}": far, f"y_{part}": np.zeros((1, 5), np.float32)}
    ended = []
    with pytest.raises(DivergenceError, match=f"{part} loss") as caught:
        train(
            network,
            x,
            y,
            get_loss("least-squares"),
            epochs=2,
            batch_size=10,
            rng=rng,
            on_epoch_end=ended.append,
            **kwargs,
        )
    assert caught.value.epoch == 1
    assert caught.value.layer is not None
    # Raised before the epoch's checkpoint hook: no bad checkpoint.
    assert ended == []


def test_metrics_json_is_strict_json():
    text = metrics_json({"a": float("inf"), "b": [np.float32(1.5), float("nan")]})
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"a": None, "b": [1.5, None]}
