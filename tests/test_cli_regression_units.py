"""Regression losses from train are in the targets' units, as evaluate's."""

import json

import numpy as np

from chainrule.cli import main


def test_train_and_evaluate_agree_on_two_outputs_of_different_scales(tmp_path, capsys):
    # Two targets whose standard deviations differ a thousandfold: one
    # factor for both could not convert the standardized loss.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    x_test = rng.normal(size=(30, 3))

    def targets(rows):
        return np.c_[rows[:, 0] + 0.1 * rows[:, 1], 1000.0 * rows[:, 2] - 500.0]

    data = tmp_path / "two.npz"
    np.savez(data, x=x, y=targets(x), x_test=x_test, y_test=targets(x_test))
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--epochs", "3", "--hidden", "8"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert "units" in metrics["loss_units"]
    assert len(metrics["test_rmse"]) == 2 and len(metrics["test_r2"]) == 2
    assert "test RMSE" in summary and "test R²" in summary

    status = main(
        ["evaluate", str(out / "model.npz"), "--data", str(data), "--json"]
        + ["--part", "test"]
    )
    assert status == 0
    evaluated = json.loads(capsys.readouterr().out)
    # float32 network outputs, summed in float64: relative 1e-5.
    assert np.isclose(metrics["test_loss"], evaluated["loss"], rtol=1e-5)
    assert np.allclose(metrics["test_rmse"], evaluated["rmse"], rtol=1e-5)
    # The loss is Σ_j RMSE_j²: the large-scale output dominates it.
    rmse = np.asarray(metrics["test_rmse"])
    assert np.isclose(metrics["test_loss"], np.sum(rmse**2), rtol=1e-5)
    assert metrics["test_loss"] > 100.0
