"""Mistakes a user can make give one line and an exit status, no traceback."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule.cli as cli
from chainrule.atomic import write_text
from chainrule.cli import main


def run_cli(argv, capsys):
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_line(stderr):
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    return stderr


@pytest.mark.parametrize("value", ["-1", "4294967296", "x"])
def test_a_seed_out_of_range_is_a_usage_error(value, tmp_path, capsys):
    status, _, stderr = run_cli(
        ["train", "--data", "iris", "--seed", value, "--out", str(tmp_path / "o")],
        capsys,
    )
    assert status == 2
    assert "--seed" in one_line(stderr)


def test_out_naming_a_file_is_a_usage_error(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    status, _, stderr = run_cli(
        ["train", "--data", "iris", "--epochs", "1", "--out", str(afile)], capsys
    )
    assert status == 2
    assert "is a file" in one_line(stderr)
    assert afile.read_text() == "keep"


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_an_unwritable_out_fails_before_training(capsys):
    status, stdout, stderr = run_cli(
        ["train", "--data", "iris", "--epochs", "1", "--out", "/proc/nope/run"],
        capsys,
    )
    assert status == 1
    assert "cannot write" in one_line(stderr)
    assert "epoch" not in stdout


def test_the_output_folder_probe_leaves_nothing_behind(tmp_path):
    from chainrule.cli.run_outputs import check_output_folder

    check_output_folder(tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []


def test_predict_into_a_folder_is_a_usage_error(tmp_path, capsys):
    status, _, stderr = run_cli(
        ["predict", "no-model.npz", "--data", "x.csv", "-o", str(tmp_path)], capsys
    )
    assert status == 2
    assert "is a folder" in one_line(stderr)


def test_atomic_write_errors_name_the_target_not_the_temporary_file(tmp_path):
    target = tmp_path / "missing" / "e.md"
    with pytest.raises(FileNotFoundError) as caught:
        write_text(target, "x")
    assert caught.value.filename == str(target)
    assert ".tmp" not in str(caught.value)
    assert "does not exist" in str(caught.value)
    with pytest.raises(IsADirectoryError) as caught:
        write_text(tmp_path, "x")
    assert caught.value.filename == str(tmp_path)


def test_a_write_failure_is_one_line(tmp_path, capsys, monkeypatch):
    def failing(args):
        raise PermissionError(13, "Permission denied", "/some/where.csv")

    monkeypatch.setattr("chainrule.cli.predict.run", failing)
    status, _, stderr = run_cli(
        ["predict", "m.npz", "--data", "x.csv", "-o", "p.csv"], capsys
    )
    assert status == 1
    assert "/some/where.csv: Permission denied" in one_line(stderr)


def test_ctrl_c_while_the_commands_load_is_one_line(capsys, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    status, _, stderr = run_cli(["train"], capsys)
    assert status == 130
    assert "interrupted" in one_line(stderr)


def test_a_closed_pipe_ends_quietly(tmp_path):
    # A reader that has gone away before the results are printed.
    model = tmp_path / "run"
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    np.savez(data, x=x, y=(x[:, 0] > 0).astype(int))
    assert (
        main(
            ["train", "--data", str(data), "--epochs", "1", "--hidden", "4"]
            + ["--quiet", "--out", str(model)]
        )
        == 0
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "evaluate", str(model / "model.npz")]
        + ["--data", str(data), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 141
    assert stderr == ""


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["train", "--data", "iris", "--label-column", "0"], "built-in"),
        (["train", "--data", "iris", "--task", "regression"], "built-in"),
        (["train", "--data", "x.npz", "--label-column", "0"], "NPZ"),
        (["evaluate", "m.npz", "--data", "wine", "--label-column", "0"], "built-in"),
        (
            ["predict", "m.npz", "--data", "x.npz", "--label-column", "0"]
            + ["-o", "p.csv"],
            "NPZ",
        ),
    ],
)
def test_a_label_column_where_none_applies_is_a_usage_error(
    argv, pattern, tmp_path, capsys
):
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "o")]
    status, _, stderr = run_cli(argv, capsys)
    assert status == 2
    assert pattern in one_line(stderr)


def test_an_unknown_data_set_is_a_data_error(tmp_path, capsys):
    status, _, stderr = run_cli(
        ["train", "--data", "no_such_set", "--out", str(tmp_path / "o")], capsys
    )
    assert status == 1
    assert "unknown data set" in one_line(stderr)


def test_an_empty_hidden_is_refused_and_none_means_linear(tmp_path, capsys):
    out = tmp_path / "linear"
    status, _, stderr = run_cli(
        ["train", "--data", "iris", "--hidden", "", "--out", str(out)], capsys
    )
    assert status == 2
    assert "'none'" in one_line(stderr)
    argv = ["train", "--data", "iris", "--hidden", "none", "--epochs", "1"]
    status, stdout, stderr = run_cli([*argv, "--out", str(out)], capsys)
    assert status == 0, stderr
    assert "training 4-3 on iris" in stdout


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["--test-fraction", "0.3"], "mnist1d comes with its own split"),
        (["--schedule", "cosine", "--lr-step", "3"], "--lr-step applies to"),
        (["--schedule", "constant", "--lr-step", "3"], "--lr-step applies to"),
        (["--data", "iris", "--lr-min", "0.001"], "--lr-min applies to"),
    ],
)
def test_options_that_would_be_ignored_are_refused(argv, pattern, tmp_path, capsys):
    status, _, stderr = run_cli(["train", *argv, "--out", str(tmp_path)], capsys)
    assert status == 2
    assert pattern in one_line(stderr)


def test_a_test_fraction_for_an_npz_with_test_arrays_warns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "split.npz"
    x, x_test = rng.normal(size=(30, 2)), rng.normal(size=(10, 2))
    np.savez(data, x=x, y=x[:, 0], x_test=x_test, y_test=x_test[:, 0])
    argv = ["train", "--data", str(data), "--test-fraction", "0.5", "--epochs", "1"]
    with pytest.warns(UserWarning, match="--test-fraction 0.5 is ignored"):
        status, stdout, _ = run_cli([*argv, "--out", str(tmp_path / "o")], capsys)
    assert status == 0
    assert "30 train, 10 test" in stdout


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_help_is_plain_text(command, capsys):
    status, stdout, _ = run_cli([command, "--help"], capsys)
    assert status == 0
    assert "``" not in stdout
    assert f"chainrule {command}:" in stdout


def test_every_train_option_is_described(capsys):
    _, stdout, _ = run_cli(["train", "--help"], capsys)
    assert "examples per minibatch" in stdout
    assert "passes over the training set" in stdout


def test_an_unknown_option_is_reported_by_its_subcommand(capsys):
    status, _, stderr = run_cli(["train", "--bogus", "1"], capsys)
    assert status == 2
    assert one_line(stderr).startswith("chainrule train: error: unrecognized")
    assert "'chainrule train --help'" in stderr


def test_an_existing_empty_out_folder_is_used_as_documented(tmp_path, capsys):
    _, help_text, _ = run_cli(["train", "--help"], capsys)
    assert "existing empty one" in " ".join(help_text.split())
    argv = ["train", "--data", "iris", "--epochs", "1", "--hidden", "4"]
    status, _, stderr = run_cli([*argv, "--quiet", "--out", str(tmp_path)], capsys)
    assert status == 0, stderr
    assert (tmp_path / "model.npz").exists()
