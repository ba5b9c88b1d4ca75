"""``chainrule train``'s optimizer, validation, early-stopping, checkpoint
and resume options, in-process: what they record and how they refuse."""

import json
import re
import warnings

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.model_file import load
from chainrule.training.validation import validation_split


def run_cli(argv, capsys):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


IRIS = ["--data", "iris", "--hidden", "8", "--batch-size", "16", "--quiet"]


def _one_line(err):
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def _metrics(out):
    return json.loads((out / "metrics.json").read_text())


def test_adam_cosine_and_weight_decay_are_recorded(tmp_path, capsys):
    out = tmp_path / "run"
    status, _, err = run_cli(
        [
            "train",
            *IRIS,
            "--epochs",
            "4",
            "--optimizer",
            "adam",
            "--schedule",
            "cosine",
            "--lr-min",
            "0.0001",
            "--weight-decay",
            "0.001",
            "--out",
            out,
        ],
        capsys,
    )
    assert status == 0, err
    config = _metrics(out)["config"]
    assert config["optimizer"] == {
        "name": "adam",
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.001,
    }
    # Adam's default learning rate; cosine from 1e-3 down towards 1e-4.
    assert config["schedule"]["learning_rate"] == 0.001
    rates = [r["learning_rate"] for r in _metrics(out)["history"]]
    assert rates[0] == 0.001 and rates == sorted(rates, reverse=True)
    assert rates[2] == pytest.approx(0.0001 + 0.5 * 0.0009, rel=1e-12)


def test_validation_fraction_and_early_stopping(tmp_path, capsys):
    out = tmp_path / "run"
    status, stdout, err = run_cli(
        [
            "train",
            "--data",
            "digits",
            "--hidden",
            "32",
            "--batch-size",
            "8",
            "--lr",
            "0.2",
            "--schedule",
            "constant",
            "--epochs",
            "40",
            "--validation-fraction",
            "0.2",
            "--early-stopping",
            "2",
            "--out",
            out,
        ],
        capsys,
    )
    assert status == 0, err
    assert "val loss" in stdout and "kept the parameters of epoch" in stdout
    metrics = _metrics(out)
    history = metrics["history"]
    losses = [r["validation_loss"] for r in history]
    best = metrics["best_epoch"]
    assert best == int(np.argmin(losses)) + 1
    assert metrics["stopped_early"] is True
    assert len(history) == best + 2 < 40
    # Top-level metrics describe the kept (best) parameters.
    assert metrics["validation_loss"] == history[best - 1]["validation_loss"]
    assert metrics["test_accuracy"] == history[best - 1]["test_accuracy"]
    # 1437 training examples of digits, a fifth held out.
    assert "(1149 train, 288 validation, 360 test)" in stdout


def test_validation_data_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    labels = np.where(x[:, 0] > 0, "up", "down")
    rows = [f"{a},{b},{c},{label}" for (a, b, c), label in zip(x, labels, strict=True)]
    (tmp_path / "train.csv").write_text("\n".join(rows[:30]) + "\n")
    # Only one class in the validation file: its id must follow training's.
    up = [row for row in rows[30:] if row.endswith("up")]
    (tmp_path / "val.csv").write_text("\n".join(up) + "\n")
    out = tmp_path / "run"
    status, _, err = run_cli(
        [
            "train",
            "--data",
            tmp_path / "train.csv",
            "--validation-data",
            tmp_path / "val.csv",
            "--hidden",
            "4",
            "--epochs",
            "3",
            "--quiet",
            "--out",
            out,
        ],
        capsys,
    )
    assert status == 0, err
    model = load(out / "model.npz")
    record = _metrics(out)["history"][-1]
    features = np.array([[float(v) for v in row.split(",")[:3]] for row in up])
    expected = np.mean(model.predict(features) == "up")
    assert record["validation_accuracy"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "content, pattern",
    [
        (
            "1,2,up\n3,4,down\n",
            r"val\.csv: 2 feature columns, but the training data have 3",
        ),
        ("1,2,3,sideways\n", r"val\.csv, line 1: label 'sideways' is not one of"),
    ],
)
def test_validation_file_must_match(tmp_path, capsys, content, pattern):
    (tmp_path / "train.csv").write_text("1,2,3,up\n2,3,4,down\n3,4,5,up\n4,5,6,down\n")
    (tmp_path / "val.csv").write_text(content)
    out = tmp_path / "run"
    status, _, err = run_cli(
        [
            "train",
            "--data",
            tmp_path / "train.csv",
            "--test-fraction",
            "0",
            "--validation-data",
            tmp_path / "val.csv",
            "--out",
            out,
        ],
        capsys,
    )
    assert status == 1
    _one_line(err)
    assert re.search(pattern, err), err
    assert not out.exists()


def test_tiny_split_with_one_validation_example_works(tmp_path, capsys):
    (tmp_path / "tiny.csv").write_text("1,2,a\n2,1,b\n3,3,a\n")
    out = tmp_path / "run"
    status, _, err = run_cli(
        [
            "train",
            "--data",
            tmp_path / "tiny.csv",
            "--test-fraction",
            "0",
            "--validation-fraction",
            "0.3",
            "--hidden",
            "2",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            out,
        ],
        capsys,
    )
    assert status == 0, err
    record = _metrics(out)["history"][-1]
    assert record["validation_accuracy"] in (0.0, 1.0)


def test_split_leaving_nothing_to_train_on(tmp_path, capsys):
    (tmp_path / "one.csv").write_text("1,2,a\n")
    out = tmp_path / "run"
    status, _, err = run_cli(
        [
            "train",
            "--data",
            tmp_path / "one.csv",
            "--test-fraction",
            "0",
            "--validation-fraction",
            "0.5",
            "--out",
            out,
        ],
        capsys,
    )
    assert status == 1
    _one_line(err)
    assert "leaves none to train on" in err
    assert not out.exists()


def test_a_split_leaving_one_class_names_the_validation_part(tmp_path, capsys):
    # iris, 120 training examples: holding out 0.99 keeps 1 example, so
    # one class to train on; the other two went to validation (they are
    # also in the test part, which is not what emptied the training part).
    out = tmp_path / "run"
    argv = ["train", *IRIS, "--validation-fraction", "0.99", "--out", out]
    status, _, err = run_cli(argv, capsys)
    assert status == 1
    # One line: no note that reads as if training went on.
    _one_line(err)
    assert "note:" not in err and "test" not in err, err
    assert re.search(
        r"--validation-fraction: iris: holding out 0\.99 of 120 training "
        r"example\(s\) for validation leaves only '\w+' to train on \('\w+', "
        r"'\w+' all went to the validation part\); classification needs at "
        r"least two classes",
        err,
    ), err
    assert not out.exists()


def test_validation_split_refuses_to_leave_a_single_class():
    class_ids = np.array([0] * 5 + [1] * 5)
    with pytest.raises(ValueError, match=r"leaves only class id\(s\) \[\d\]"):
        validation_split(10, 0.9, 0, class_ids, "x.csv")
    # Data with one class to begin with are not this function's concern.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validation_split(10, 0.9, 0, np.zeros(10, np.int64), "x.csv")


def test_split_that_leaves_a_class_out_warns():
    # Class 2 has one example: it cannot be stratified, and with some seeds
    # it lands in the validation part, leaving no training example.
    class_ids = np.array([0] * 6 + [1] * 6 + [2])
    for seed in range(50):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train, held = validation_split(13, 0.3, seed, class_ids, "x.csv")
        assert sorted([*train, *held]) == list(range(13))
        messages = [str(w.message) for w in caught]
        if 12 in held:
            assert len(messages) == 1
            assert messages[0].startswith("x.csv: class id(s) [2] have no")
            assert "training goes on" in messages[0]
            return
        assert messages == []
    pytest.fail("no seed put the single example of class 2 in validation")


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["--early-stopping", "3"], r"--early-stopping watches the validation"),
        (["--optimizer", "adam", "--momentum", "0.9"], r"--momentum applies to"),
        (["--optimizer", "adam", "--nesterov"], r"--nesterov applies to"),
        (["--schedule", "cosine", "--lr-factor", "0.5"], r"--lr-factor applies"),
        (["--nesterov", "--momentum", "0"], r"--nesterov needs a momentum"),
        (["--weight-decay", "-1"], r"--weight-decay must be ≥ 0"),
        (["--validation-fraction", "1.5"], r"--validation-fraction must be in"),
        (
            ["--validation-fraction", "0.2", "--validation-data", "v.csv"],
            r"not allowed with argument",
        ),
        (["--schedule", "cosine", "--lr-min", "1"], r"--lr-min must be in"),
        (["--checkpoint-every", "0"], r"--checkpoint-every"),
    ],
)
def test_impossible_combinations_are_usage_errors(argv, pattern, tmp_path, capsys):
    out = tmp_path / "run"
    status, _, err = run_cli(["train", *IRIS, *argv, "--out", out], capsys)
    assert status == 2
    _one_line(err)
    assert re.search(pattern, err), err
    assert not out.exists()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    status, _, err = run_cli(
        [
            "train",
            "--data",
            "diabetes",
            "--no-standardize",
            "--epochs",
            "8",
            "--lr",
            "0.001",
            "--schedule",
            "constant",
            "--checkpoint-every",
            "1",
            "--quiet",
            "--out",
            out,
        ],
        capsys,
    )
    assert status == 1
    _one_line(err)
    match = re.search(r"diverged at epoch (\d+), step \d+.*first affected", err)
    assert match, err
    assert "smaller learning rate" in err
    assert f"--resume {out} --lr SMALLER" in err
    diverged = int(match.group(1))
    assert diverged >= 2
    from chainrule.training import load_checkpoint

    checkpoint = load_checkpoint(out / "checkpoint.npz")
    assert checkpoint.state.epoch == diverged - 1
    # The note names the checkpoint's epoch and its training loss, the
    # one its history recorded at that epoch's end.
    recorded = checkpoint.state.history[-1].train_loss
    note = re.search(
        r"last good checkpoint, at the end of epoch (\d+) \(train loss (\S+)\)",
        err,
    )
    assert note, err
    assert int(note.group(1)) == diverged - 1
    # Printed with 4 significant digits: agreement to 1e-3 relative.
    assert float(note.group(2)) == pytest.approx(recorded, rel=1e-3)
    assert np.all(np.isfinite(checkpoint.network.parameters))
    assert not (out / "model.npz").exists()

    # Continue from it with a smaller learning rate and fresh momentum.
    status, _, err = run_cli(
        ["train", "--resume", out, "--lr", "1e-5", "--quiet"], capsys
    )
    assert status == 0, err
    assert "starts afresh" in err
    metrics = _metrics(out)
    assert metrics["config"]["learning_rate"] == 1e-5
    assert len(metrics["history"]) == 8


def test_a_checkpoint_that_had_already_blown_up_is_not_advised(tmp_path, capsys):
    # Diabetes at --lr 0.05 blows up in epoch 1 (train loss ~3e29, with
    # finite parameters) and goes non-finite in epoch 2.
    out = tmp_path / "run"
    argv = ["train", "--data", "diabetes", "--lr", "0.05", "--epochs", "3"]
    status, _, err = run_cli(
        [*argv, "--quiet", "--checkpoint-every", "1", "--out", out], capsys
    )
    assert status == 1
    _one_line(err)
    assert "--resume" not in err and "last good" not in err, err
    note = re.search(
        r"the checkpoint in \S+, at the end of epoch 1, has train loss (\S+), "
        r"more than 10 times the (\S+) of the best constant prediction: the "
        r"run had already diverged by then",
        err,
    )
    assert note, err
    assert "start a new run with a smaller --lr" in err
    from chainrule.training import load_checkpoint

    checkpoint = load_checkpoint(out / "checkpoint.npz")
    recorded = checkpoint.state.history[-1].train_loss
    assert float(note.group(1)) == pytest.approx(recorded, rel=1e-3)
    assert float(note.group(1)) > 10 * float(note.group(2))


def test_constant_prediction_loss_is_the_best_constant():
    from chainrule.cli.checkpoints import constant_prediction_loss
    from chainrule.losses import get_loss

    rng = np.random.default_rng(3)
    # Cross-entropy: logits log p_c at the class frequencies; any other
    # constant logits do worse.
    labels = rng.integers(0, 3, size=50)
    cross_entropy = get_loss("cross-entropy")
    best = constant_prediction_loss(cross_entropy, labels)
    p = np.bincount(labels, minlength=3) / 50
    at = np.repeat(np.log(p)[:, None], 50, axis=1)
    # float64 throughout: 1e-12 relative.
    assert best == pytest.approx(float(cross_entropy.value(at, labels)), rel=1e-12)
    worse = float(cross_entropy.value(at + rng.normal(size=(3, 1)), labels))
    assert worse > best
    # Least squares in the targets' units: std_j² var_j summed.
    y = rng.normal(size=(2, 40))
    std = np.array([2.0, 0.5])
    squares = get_loss("least-squares")
    mean = np.repeat(y.mean(axis=1, keepdims=True), 40, axis=1)
    expected = float(squares.value(mean * std[:, None], y * std[:, None]))
    got = constant_prediction_loss(squares, y, std)
    assert got == pytest.approx(expected, rel=1e-12)
    # Binary cross-entropy: logits log(p / (1 − p)); a column that is
    # always 0 costs nothing.
    labels01 = np.vstack([rng.integers(0, 2, size=30), np.zeros(30)])
    binary = get_loss("binary-cross-entropy")
    q = labels01[0].mean()
    logits = np.zeros((2, 30))
    logits[0] = np.log(q / (1 - q))
    logits[1] = -1e3
    expected = float(binary.value(logits, labels01))
    got = constant_prediction_loss(binary, labels01)
    assert got == pytest.approx(expected, rel=1e-12)


def test_interrupt_and_resume_name_the_same_position(tmp_path, capsys, monkeypatch):
    import chainrule.cli.train as train_command
    from chainrule.cli.checkpoints import StopOnSignal

    class StopOnFifthCheck(StopOnSignal):
        """Asks to stop the fifth time the loop checks: after step 5."""

        checks = 0

        def requested(self):
            StopOnFifthCheck.checks += 1
            return StopOnFifthCheck.checks == 5

    monkeypatch.setattr(train_command, "StopOnSignal", StopOnFifthCheck)
    out = tmp_path / "run"
    # iris: 120 training examples in batches of 16, 8 steps an epoch.
    status, _, err = run_cli(["train", *IRIS, "--epochs", "2", "--out", out], capsys)
    assert status == 130
    assert "interrupted in epoch 1 after 5 of its 8 steps;" in err, err
    monkeypatch.undo()
    argv = ["train", "--resume", out, "--hidden", "8", "--batch-size", "16"]
    status, stdout, err = run_cli(argv, capsys)
    assert status == 0, err
    assert "at epoch 1, step 6 of 8" in stdout, stdout


@pytest.fixture
def checkpointed(tmp_path, capsys):
    out = tmp_path / "run"
    status, _, err = run_cli(
        ["train", *IRIS, "--epochs", "3", "--checkpoint-every", "1", "--out", out],
        capsys,
    )
    assert status == 0, err
    return out


def test_resume_extends_a_finished_run(checkpointed, capsys):
    status, _, err = run_cli(["train", "--resume", checkpointed], capsys)
    assert status == 2
    _one_line(err)
    assert "already finished 3 epoch(s); pass --epochs with more than 3" in err
    status, _, err = run_cli(
        ["train", "--resume", checkpointed, "--epochs", "5", "--quiet"], capsys
    )
    assert status == 0, err
    assert [r["epoch"] for r in _metrics(checkpointed)["history"]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "argv, status, pattern",
    [
        (["--hidden", "4"], 2, r"--hidden 4 differs from the run being resumed \(8\)"),
        (["--out", "elsewhere"], 2, r"drop --out"),
    ],
)
def test_resume_refuses_other_options(checkpointed, capsys, argv, status, pattern):
    code, _, err = run_cli(["train", "--resume", checkpointed, *argv], capsys)
    assert code == status
    _one_line(err)
    assert re.search(pattern, err), err


def test_resume_without_a_checkpoint(tmp_path, capsys):
    status, _, err = run_cli(["train", "--resume", tmp_path], capsys)
    assert status == 1
    _one_line(err)
    assert "no checkpoint.npz to resume from" in err
    status, _, err = run_cli(["train", "--resume", tmp_path / "absent"], capsys)
    assert status == 2 and "no such folder" in err


def test_resume_a_corrupted_checkpoint(checkpointed, capsys):
    path = checkpointed / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[:100])
    status, _, err = run_cli(["train", "--resume", checkpointed], capsys)
    assert status == 1
    _one_line(err)
    assert str(path) in err and "truncated or corrupted" in err


def test_resume_on_changed_data_is_refused(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    out = tmp_path / "run"
    status, _, err = run_cli(
        [
            "train",
            "--data",
            data,
            "--hidden",
            "3",
            "--epochs",
            "2",
            "--checkpoint-every",
            "1",
            "--quiet",
            "--out",
            out,
        ],
        capsys,
    )
    assert status == 0, err
    data.write_text("".join(f"{i},{i % 4},{i % 2}\n" for i in range(20)))
    status, _, err = run_cli(["train", "--resume", out, "--epochs", "3"], capsys)
    assert status == 1
    _one_line(err)
    assert "the training data differ from those the run started with" in err
