"""Real ``python -m chainrule train`` processes, killed and resumed.

A run killed with SIGKILL mid-training (no chance to clean up), or
stopped with Ctrl-C (SIGINT), then resumed with ``--resume``, must end
with exactly the parameters of a run that was never interrupted: the
model files' arrays are compared bit for bit.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

# digits, two small hidden layers, batches of 8: 162 steps per epoch, a
# few hundredths of a second each epoch, long enough to interrupt.
RUN = [
    "--data",
    "digits",
    "--hidden",
    "24,24",
    "--epochs",
    "25",
    "--batch-size",
    "8",
    "--lr",
    "0.01",
    "--optimizer",
    "sgd",
    "--nesterov",
    "--weight-decay",
    "0.0001",
    "--validation-fraction",
    "0.1",
    "--threads",
    "1",
]


def _command(*arguments):
    return [sys.executable, "-m", "chainrule", "train", *arguments]


def _environment():
    environment = dict(os.environ)
    # One BLAS thread everywhere: sums in the same order in every process.
    environment.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    source = str(Path(__file__).resolve().parents[1] / "src")
    environment["PYTHONPATH"] = source + os.pathsep + environment.get("PYTHONPATH", "")
    return environment


def _run(*arguments):
    return subprocess.run(
        _command(*arguments),
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=120,
    )


def _model_arrays(folder):
    with np.load(folder / "model.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files if name != "header"}


def _assert_same_model(folder, reference):
    got, expected = _model_arrays(folder), _model_arrays(reference)
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name].dtype == expected[name].dtype
        assert got[name].tobytes() == expected[name].tobytes(), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A run of the same recipe that nothing interrupts."""
    folder = tmp_path_factory.mktemp("reference") / "run"
    done = _run(*RUN, "--quiet", "--out", str(folder))
    assert done.returncode == 0, done.stderr
    return folder


def _wait_for(condition, process, limit=60.0):
    deadline = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, "training ended before it was interrupted"
        assert time.monotonic() < deadline, "training never reached the point"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, reference):
    folder = tmp_path / "run"
    checkpoint = folder / "checkpoint.npz"
    process = subprocess.Popen(
        _command(*RUN, "--quiet", "--checkpoint-every", "2", "--out", str(folder)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_environment(),
    )
    try:
        _wait_for(checkpoint.exists, process)
        time.sleep(0.15)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (folder / "model.npz").exists()

    resumed = _run("--resume", str(folder), "--threads", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout
    _assert_same_model(folder, reference)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["seed"] == 0
    assert [r["epoch"] for r in metrics["history"]] == list(range(1, 26))
    # No temporary file of an interrupted write is left behind.
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_ctrl_c_writes_a_checkpoint_and_resume_matches(tmp_path, reference):
    folder = tmp_path / "run"
    process = subprocess.Popen(
        _command(*RUN, "--out", str(folder)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    try:
        # The first epoch line: training is under way.
        line = process.stdout.readline()
        while line and not line.startswith("epoch"):
            line = process.stdout.readline()
        assert line.startswith("epoch"), process.stderr.read()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    stopped = re.search(
        r"interrupted (?:in epoch (\d+) after (\d+) of its (\d+) steps|"
        r"at the end of epoch (\d+))",
        stderr,
    )
    assert stopped, stderr
    assert f"--resume {folder}" in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert (folder / "checkpoint.npz").exists()
    assert not (folder / "model.npz").exists()

    resumed = _run("--resume", str(folder), "--threads", "1")
    assert resumed.returncode == 0, resumed.stderr
    # The resumed run starts at the step right after the one named.
    if stopped.group(1) is not None:
        epoch, step, n_steps = map(int, stopped.group(1, 2, 3))
        position = f"at epoch {epoch}, step {step + 1} of {n_steps}"
    else:
        position = f"at epoch {int(stopped.group(4)) + 1}, step 1 of "
    assert position in resumed.stdout, resumed.stdout
    _assert_same_model(folder, reference)


@pytest.mark.slow
def test_same_seed_same_bits_and_seed_recorded(tmp_path, reference):
    again = tmp_path / "again"
    done = _run(*RUN, "--quiet", "--out", str(again))
    assert done.returncode == 0, done.stderr
    _assert_same_model(again, reference)
    assert json.loads((again / "metrics.json").read_text())["seed"] == 0

    other = tmp_path / "other"
    done = _run(*RUN, "--quiet", "--seed", "1", "--epochs", "1", "--out", str(other))
    assert done.returncode == 0, done.stderr
    assert json.loads((other / "metrics.json").read_text())["seed"] == 1
    differ = _model_arrays(other)["omega_0"] != _model_arrays(reference)["omega_0"]
    assert differ.any()
