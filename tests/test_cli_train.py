"""``chainrule train`` end to end, in-process: outputs, reload, bad input."""

import json
import math
import re

import numpy as np
import pytest

from chainrule import __version__
from chainrule.cli import main
from chainrule.model_file import load


def run_cli(argv, capsys):
    """Run the CLI in this process; return (status, stdout, stderr)."""
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_version(capsys):
    status, out, _ = run_cli(["--version"], capsys)
    assert status == 0
    assert out.strip() == f"chainrule {__version__}"


def test_short_run_writes_outputs_and_the_model_reloads(tmp_path, capsys):
    out = tmp_path / "run"
    status, stdout, stderr = run_cli(
        [
            "train",
            "--data",
            "iris",
            "--epochs",
            "5",
            "--hidden",
            "16,16",
            "--lr",
            "0.05",
            "--batch-size",
            "16",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert status == 0, stderr
    assert "epoch   5/5" in stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.png",
        "metrics.json",
        "model.npz",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "seed",
        "version",
        "config",
        "history",
    ):
        assert key in metrics
    assert metrics["seed"] == 0
    assert len(metrics["history"]) == 5
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The saved model reproduces the accuracy the run reported.
    from chainrule.data import load_dataset

    data = load_dataset("iris", test_fraction=0.2, seed=0)
    model = load(out / "model.npz")
    predicted = model.predict(data.x_test)
    expected = np.asarray(data.classes, dtype=object)[data.y_test]
    accuracy = float(np.mean(predicted == expected))
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-12)


def test_training_on_digits_beats_chance_clearly(tmp_path, capsys):
    out = tmp_path / "digits"
    status, _, stderr = run_cli(
        ["train", "--data", "digits", "--epochs", "8", "--quiet", "--out", str(out)],
        capsys,
    )
    assert status == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    losses = [record["train_loss"] for record in metrics["history"]]
    # Chance is 0.1 on ten classes; the loss starts near log 10 ≈ 2.3.
    assert losses[-1] < losses[0] < math.log(10) + 1
    assert metrics["test_accuracy"] > 0.85


def test_regression_uses_least_squares_by_default(tmp_path, capsys):
    out = tmp_path / "diabetes"
    status, _, stderr = run_cli(
        [
            "train",
            "--data",
            "diabetes",
            "--epochs",
            "3",
            "--quiet",
            "--lr",
            "0.01",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert status == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["loss"] == "least-squares"
    assert "test_accuracy" not in metrics
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]


def test_divergence_is_one_line_naming_epoch_step_and_layer(tmp_path, capsys):
    out = tmp_path / "diverged"
    status, _, stderr = run_cli(
        [
            "train",
            "--data",
            "diabetes",
            "--epochs",
            "3",
            "--quiet",
            "--no-standardize",
            "--lr",
            "10",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert status == 1
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert re.search(r"epoch \d+, step \d+", stderr), stderr
    assert "smaller learning rate" in stderr
    assert not out.exists()


BAD_FILES = {
    "not_a_number.csv": ("a,b,label\n1,2,0\n3,oops,1\n", r"line 3.*column 2"),
    "nan.csv": ("1,2,0\nnan,4,1\n", r"line 2.*column 1"),
    "infinity.csv": ("1,2,0\n3,inf,1\n", r"line 2.*column 2"),
    "missing.csv": ("1,2,0\n3,,1\n", r"line 2.*column 2"),
    "ragged.csv": ("1,2,0\n3,4,5,1\n", r"line 2"),
    "empty.csv": ("", r"empty"),
    "header_only.csv": ("a,b,label\n", r"header"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_data_files_give_one_line_and_status_1(name, tmp_path, capsys):
    content, pattern = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(content)
    out = tmp_path / "out"
    status, stdout, stderr = run_cli(
        ["train", "--data", str(path), "--epochs", "1", "--out", str(out)],
        capsys,
    )
    assert status == 1
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert name in stderr
    assert re.search(pattern, stderr), stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_real_labels_with_cross_entropy_are_rejected(tmp_path, capsys):
    path = tmp_path / "real.csv"
    path.write_text("1,2,0.5\n3,4,1.5\n5,6,2.5\n7,8,3.5\n")
    status, _, stderr = run_cli(
        [
            "train",
            "--data",
            str(path),
            "--loss",
            "cross-entropy",
            "--out",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert status == 1
    assert "real.csv" in stderr and "line 1" in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["--data", "no_such_set"], r"no_such_set"),
        (["--hidden", "100,0,100"], r"--hidden.*at least 1 unit"),
        (["--lr", "-0.1"], r"--lr.*positive"),
        (["--momentum", "1.5"], r"--momentum"),
        (["--epochs", "0"], r"--epochs"),
    ],
)
def test_impossible_options(argv, pattern, tmp_path, capsys):
    out = tmp_path / "out"
    status, _, stderr = run_cli(["train", *argv, "--out", str(out)], capsys)
    assert re.search(pattern, stderr), stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    # an unknown data set is a data error (1); bad flags are usage (2)
    assert status == (1 if "no_such_set" in argv else 2)
    assert not out.exists()


def test_refuses_a_non_empty_output_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    status, _, stderr = run_cli(
        ["train", "--data", "iris", "--out", str(tmp_path)], capsys
    )
    assert status == 2
    assert "not empty" in stderr
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_default_recipe_learns_mnist1d(tmp_path, capsys, monkeypatch):
    # The book's recipe, seed 0: the issue asks for no seed below 0.61
    # (PyTorch reaches 0.628 to 0.671 over seeds 0-4 with it).
    out = tmp_path / "mnist1d"
    status, _, stderr = run_cli(["train", "--quiet", "--out", str(out)], capsys)
    assert status == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["sizes"] == [40, 100, 100, 100, 10]
    assert len(metrics["history"]) == 50
    assert metrics["test_accuracy"] >= 0.61
    assert metrics["train_accuracy"] > 0.95


def test_diagnostics_flag_records_gradient_flow(tmp_path, capsys):
    out = tmp_path / "diagnostics"
    status, stdout, stderr = run_cli(
        [
            "train",
            "--data",
            "iris",
            "--epochs",
            "2",
            "--diagnostics",
            "--hidden",
            "8,8",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert status == 0, stderr
    assert (out / "gradient_flow.png").read_bytes()[:4] == b"\x89PNG"
    assert "gradient_flow.png" in stdout
    history = json.loads((out / "metrics.json").read_text())["history"]
    flow = history[-1]["gradient_flow"]
    # One gradient norm per weight matrix Ω_0, Ω_1, Ω_2.
    assert len(flow["grad_omega_norm"]) == 3
    assert all(value > 0 for value in flow["grad_omega_norm"])


def test_a_single_class_is_refused(tmp_path, capsys):
    path = tmp_path / "one_class.csv"
    path.write_text("1,2,0\n3,4,0\n5,6,0\n7,8,0\n")
    out = tmp_path / "out"
    status, _, stderr = run_cli(
        ["train", "--data", str(path), "--out", str(out)], capsys
    )
    assert status == 1
    assert "one_class.csv" in stderr and "at least two classes" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists()
