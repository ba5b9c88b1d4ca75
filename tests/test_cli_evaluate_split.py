"""``evaluate`` re-creates the training run's split of a data file."""

import json

import numpy as np
import pytest

from chainrule.cli import main


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("split")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    label = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    data = folder / "data.csv"
    lines = ["a,b,c,label"] + [
        f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f},{y}" for r, y in zip(x, label, strict=True)
    ]
    data.write_text("\n".join(lines) + "\n")
    out = folder / "run"
    argv = ["train", "--data", str(data), "--epochs", "2", "--hidden", "8"]
    argv += ["--validation-fraction", "0.25", "--seed", "3", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    return data, out / "model.npz", metrics


def evaluate(capsys, model, data, *part):
    capsys.readouterr()
    status = main(["evaluate", str(model), "--data", str(data), "--json", *part])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    "part, key, n_examples",
    [
        ((), "test", 12),
        (("--part", "test"), "test", 12),
        (("--part", "train"), "train", 36),
        (("--part", "validation"), "validation", 12),
    ],
)
def test_each_part_matches_the_loss_the_run_reported(
    csv_run, capsys, part, key, n_examples
):
    data, model, metrics = csv_run
    status, out, err = evaluate(capsys, model, data, *part)
    assert status == 0, err
    results = json.loads(out)
    assert f"{key} part ({n_examples} examples)" in results["data"]
    # float32 network, losses summed in float64: relative 1e-5.
    assert np.isclose(results["loss"], metrics[f"{key}_loss"], rtol=1e-5)
    assert np.isclose(results["accuracy"], metrics[f"{key}_accuracy"], atol=1e-12)


def test_another_file_is_evaluated_whole(csv_run, capsys, tmp_path):
    data, model, _ = csv_run
    other = tmp_path / "other.csv"
    other.write_text(data.read_text() + "0,0,0,yes\n")
    status, out, _ = evaluate(capsys, model, other)
    assert status == 0
    assert "all part (61 examples)" in json.loads(out)["data"]
    status, _, err = evaluate(capsys, model, other, "--part", "test")
    assert status == 1
    assert "not the data the model was trained on" in err
    assert len(err.strip().splitlines()) == 1
