"""How fast is one training step? chainrule against PyTorch, scikit-learn
and the bare matrix products, side by side in one process.

Run from the repository root:

    .venv/bin/python benchmarks/step.py                    # everything
    .venv/bin/python benchmarks/step.py --sizes S,M --json out.json
    .venv/bin/python benchmarks/step.py --quick            # a smoke run
    .venv/bin/python benchmarks/step.py --threads 1 --proposals
    .venv/bin/python benchmarks/report.py out.json         # Markdown tables
    make bench                                             # the first line

docs/performance.md explains the method and the results.

For each size (S, M, L) and loss (cross-entropy, least squares) it times,
in float32 and with the same BLAS thread count for everyone:

- chainrule-numpy: ``TrainingStep`` + the SGD update, what ``chainrule
  train`` runs for each batch;
- chainrule-numpy-gradient: ``TrainingStep`` alone (no update);
- forward-backward: the public ``forward`` + loss + ``backward``, which
  keep the full trace;
- bare-products: the 11 matrix products of a step and nothing else;
- chainrule-torch: chainrule's own backprop on PyTorch tensors (no
  autograd) + chainrule's SGD update;
- pytorch-eager: nn.Sequential, ``loss.backward()``, ``optim.SGD``;
- scikit-learn: MLPClassifier / MLPRegressor, one ``partial_fit`` epoch
  divided by its number of steps;
- with ``--proposals``: chainrule's step with the optimizer update that
  docs/performance.md proposes, on NumPy and on torch tensors.

The contenders run interleaved: in each round every contender runs one
block of steps, in an order that rotates from round to round. Before each
block the harness waits (up to ``--max-wait`` seconds) until other
processes use less than ``--quiet-threshold`` cores, and it measures
their use during the block; a block during which they used more is run
again (up to ``--retries`` times) and the rejected blocks are counted.
Each block starts with warm-up steps that are not timed. The reported
time is the median step over all accepted blocks.

Then, each in fresh subprocesses: the peak resident memory (VmHWM) of
a training process at size L, for chainrule and for PyTorch
(``benchmarks/memory.py``), and the wall time of the default ``chainrule
train`` against the same recipe in PyTorch (``benchmarks/torch_recipe.py``),
start-up included.

It prints the medians, GFLOP/s (11 products' flops / median step time),
the ratios the targets are stated in, and writes everything, including
the machine's description and load, to JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from contenders import (
    ALL_CONTENDERS,
    LOSSES,
    PROPOSALS,
    SIZES,
    make_contenders,
    make_problem,
)
from machine import (
    CpuMeter,
    blas_libraries,
    environment,
    load_average,
    wait_for_quiet,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Steps per timed block, untimed warm-up steps per block, and rounds.
BLOCKS = {
    "S": {"steps": 300, "warm": 20, "rounds": 5},
    "M": {"steps": 40, "warm": 3, "rounds": 5},
    "L": {"steps": 3, "warm": 1, "rounds": 4},
}

# (numerator, denominator, {size: highest ratio that meets the target}).
TARGETS = (
    ("chainrule-numpy", "pytorch-eager", {"S": 0.45, "M": 0.95, "L": 1.08}),
    ("chainrule-numpy", "bare-products", {"S": 1.4, "M": 1.15, "L": 1.04}),
    ("chainrule-torch", "pytorch-eager", {"M": 1.0, "L": 1.0}),
    ("chainrule-numpy", "scikit-learn", {"S": 0.5, "M": 0.5, "L": 0.75}),
    ("forward-backward", "chainrule-numpy-gradient", {"S": 1.3, "M": 1.3, "L": 1.3}),
)

# Ratios printed besides the targets.
EXTRA_RATIOS = (
    ("chainrule-numpy-gradient", "bare-products"),
    ("chainrule-numpy-proposed-sgd", "bare-products"),
    ("chainrule-torch-proposed-sgd", "pytorch-eager"),
    ("chainrule-numpy", "chainrule-numpy-gradient"),
    ("forward-backward", "chainrule-numpy"),
    ("pytorch-eager", "bare-products"),
    ("chainrule-torch", "chainrule-numpy"),
)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes", default="S,M,L", help="default: S,M,L; 'none' times no step"
    )
    parser.add_argument(
        "--losses",
        default=",".join(LOSSES),
        help="default: cross-entropy,least-squares",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(ALL_CONTENDERS),
        help="comma-separated subset (default: all)",
    )
    parser.add_argument(
        "--proposals",
        action="store_true",
        help="also time the optimizer changes proposed in docs/performance.md "
        f"({', '.join(PROPOSALS)})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="BLAS and PyTorch threads for everyone (default: usable CPUs)",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply steps per block and rounds by this (default: 1)",
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.1,
        metavar="CORES",
        help="other processes' CPU use, in cores, below which the machine "
        "counts as quiet (default: 0.1; a BLAS that uses every core stalls "
        "whenever another process takes one, even briefly)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="longest wait for a quiet machine before a block (default: 10)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="times a block disturbed by other processes is run again (default: 2)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the peak-RSS subprocesses"
    )
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="skip the `chainrule train` against PyTorch wall-time runs",
    )
    parser.add_argument(
        "--train-repeats",
        type=int,
        default=3,
        help="runs of each training command (default: 3)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: S only, few steps, no subprocess measurements",
    )
    args = parser.parse_args(argv)
    args.sizes = [size.strip().upper() for size in args.sizes.split(",")]
    # "--sizes none" skips the timing, to rerun the subprocess parts alone.
    args.sizes = [size for size in args.sizes if size not in ("", "NONE")]
    args.losses = [loss.strip() for loss in args.losses.split(",")]
    args.contenders = [name.strip() for name in args.contenders.split(",")]
    if args.proposals:
        args.contenders += [name for name in PROPOSALS if name not in args.contenders]
    if args.quick:
        args.sizes, args.scale = ["S"], 0.2
        args.no_memory = args.no_train = True
        args.max_wait = min(args.max_wait, 2.0)
    for size in args.sizes:
        if size not in SIZES:
            parser.error(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    for loss in args.losses:
        if loss not in LOSSES:
            parser.error(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def limit_threads(threads):
    """The same thread count for NumPy's BLAS, SciPy's and PyTorch."""
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(limits=threads, user_api="blas")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    return limiter


def peak_rates():
    """GFLOP/s of one large float32 square product, NumPy and PyTorch."""
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    flops = 2.0 * n**3
    rates = {}

    def best(run, repeats=5):
        run()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return flops / min(times) / 1e9

    wait_for_quiet()
    rates["numpy"] = round(best(lambda: np.matmul(a, b, out=out)), 1)
    try:
        import torch

        ta, tb, tout = (torch.from_numpy(array) for array in (a, b, out))
        wait_for_quiet()
        rates["torch"] = round(best(lambda: torch.mm(ta, tb, out=tout)), 1)
    except ImportError:
        pass
    return rates


def run_block(contender, n_steps, n_warm, start):
    """Time ``n_steps`` steps after ``n_warm`` untimed ones; seconds per step."""
    per_call = contender.steps_per_call
    n_calls = max(1, round(n_steps / per_call))
    n_warm_calls = max(1, round(n_warm / per_call))
    for index in range(start, start + n_warm_calls):
        contender(index)
    times = []
    for index in range(start + n_warm_calls, start + n_warm_calls + n_calls):
        started = time.perf_counter()
        contender(index)
        times.append((time.perf_counter() - started) / per_call)
    contender.check()
    return times


def time_problem(problem, names, args, log):
    """Interleaved blocks of every contender on one problem."""
    contenders = make_contenders(problem, names)
    plan = BLOCKS[problem.size]
    n_steps = max(1, round(plan["steps"] * args.scale))
    n_rounds = max(2, round(plan["rounds"] * min(args.scale * 2, 1.0)))
    if args.quick:
        n_rounds = 2
    results = {
        contender.name: {"times": [], "blocks": [], "rejected": 0}
        for contender in contenders
    }
    meter = CpuMeter()
    position = 0
    for round_index in range(n_rounds):
        # Rotate the order so no contender always follows the same one.
        shift = round_index % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        for contender in order:
            record = results[contender.name]
            for attempt in range(args.retries + 1):
                quiet = wait_for_quiet(args.quiet_threshold, args.max_wait)
                meter.start()
                times = run_block(contender, n_steps, plan["warm"], position)
                reading = meter.stop()
                position += n_steps + plan["warm"]
                block = {
                    "median_ms": 1e3 * statistics.median(times),
                    "others_cores": round(reading.others_cores, 3),
                    "waited_s": quiet.waited_s,
                    "quiet_before": quiet.quiet,
                    "busiest_before": quiet.top,
                }
                disturbed = reading.others_cores >= args.quiet_threshold
                if disturbed and attempt < args.retries:
                    record["rejected"] += 1
                    continue
                block["accepted_while_disturbed"] = disturbed
                record["times"].extend(times)
                record["blocks"].append(block)
                break
        log(".", end="")
    log("")
    summary = {}
    for contender in contenders:
        record = results[contender.name]
        times = np.array(record["times"])
        median = float(np.median(times))
        q1, q3 = (float(value) for value in np.percentile(times, [25, 75]))
        summary[contender.name] = {
            "description": contender.description,
            "median_ms": round(1e3 * median, 5),
            "q1_ms": round(1e3 * q1, 5),
            "q3_ms": round(1e3 * q3, 5),
            "best_block_ms": round(
                min(block["median_ms"] for block in record["blocks"]), 5
            ),
            "n_steps": int(times.size),
            "gflops": round(problem.flops / median / 1e9, 2),
            "rejected_blocks": record["rejected"],
            "blocks": record["blocks"],
        }
    return summary


def ratios_for(size, contenders):
    """The target ratios and a few more, from the medians of one problem."""
    rows = []
    for numerator, denominator, limits in TARGETS:
        if numerator in contenders and denominator in contenders:
            ratio = _ratio(contenders, numerator, denominator)
            best = _ratio(contenders, numerator, denominator, "best_block_ms")
            limit = limits.get(size)
            rows.append(
                {
                    "ratio": f"{numerator} / {denominator}",
                    "value": round(ratio, 3),
                    "best_blocks": round(best, 3),
                    "target": limit,
                    "met": None if limit is None else bool(ratio <= limit),
                }
            )
    for numerator, denominator in EXTRA_RATIOS:
        if numerator in contenders and denominator in contenders:
            ratio = _ratio(contenders, numerator, denominator)
            best = _ratio(contenders, numerator, denominator, "best_block_ms")
            rows.append(
                {
                    "ratio": f"{numerator} / {denominator}",
                    "value": round(ratio, 3),
                    "best_blocks": round(best, 3),
                    "target": None,
                    "met": None,
                }
            )
    return rows


def _ratio(contenders, numerator, denominator, key="median_ms"):
    return contenders[numerator][key] / contenders[denominator][key]


def print_problem(problem, contenders, ratios, log):
    title = "-".join(map(str, problem.sizes))
    log(f"\n{problem.size} {title}, batch {problem.batch}, {problem.loss}")
    log(
        f"  {'contender':<29} {'median ms':>10} {'IQR ms':>17} "
        f"{'best block':>10} {'GFLOP/s':>8}"
    )
    for name, entry in contenders.items():
        spread = f"{entry['q1_ms']:.3f}–{entry['q3_ms']:.3f}"
        rejected = entry["rejected_blocks"]
        note = f"  ({rejected} blocks rerun)" if rejected else ""
        log(
            f"  {name:<29} {entry['median_ms']:>10.3f} {spread:>17} "
            f"{entry['best_block_ms']:>10.3f} {entry['gflops']:>8.1f}{note}"
        )
    log(f"  {'ratio of medians (of best blocks)':<58}")
    for row in ratios:
        if row["target"] is None:
            verdict = ""
        else:
            verdict = f"  target ≤ {row['target']}: " + (
                "met" if row["met"] else "NOT met"
            )
        log(
            f"  {row['ratio']:<52} {row['value']:>6.3f} "
            f"({row['best_blocks']:.3f}){verdict}"
        )


def run_child(make_command, log, args):
    """Run a command after a quiet wait; wall time, others' CPU, output.

    ``make_command(attempt)`` gives the command line. A run during which
    other processes used ``--quiet-threshold`` cores or more is run again,
    up to ``--retries`` times.
    """
    rejected = 0
    for attempt in range(args.retries + 1):
        command = make_command(attempt)
        quiet = wait_for_quiet(args.quiet_threshold, args.max_wait)
        meter = CpuMeter()
        meter.start()
        started = time.perf_counter()
        completed = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - started
        # The child's CPU counts as this process's own (it was waited
        # for), so what remains is other processes'.
        reading = meter.stop()
        if completed.returncode != 0:
            log(completed.stdout + completed.stderr)
            raise RuntimeError(f"{' '.join(map(str, command))} failed")
        disturbed = reading.others_cores >= args.quiet_threshold
        if disturbed and attempt < args.retries:
            rejected += 1
            continue
        return {
            "wall_s": round(wall, 3),
            "others_cores": round(reading.others_cores, 3),
            "quiet_before": quiet.quiet,
            "accepted_while_disturbed": disturbed,
            "rejected_runs": rejected,
            "stdout": completed.stdout,
        }


# The chainrule runs of the memory measurement: the loop as it is, and
# the two changes docs/performance.md proposes for loop.py and
# optimizers.py (evaluation in chunks of 1024 examples, the gradient as
# the SGD update's scratch space), measured with memory.py's plain loop.
MEMORY_RUNS = {
    "chainrule": ["chainrule"],
    "pytorch": ["pytorch"],
    "chainrule-proposed": [
        "chainrule",
        "--loop",
        "steps",
        "--eval-chunk",
        "1024",
        "--optimizer",
        "sgd-gradient-scratch",
    ],
}


def measure_memory(args, log):
    """Peak RSS of an L-size training process, chainrule and PyTorch."""
    results = {}
    for name, options in MEMORY_RUNS.items():
        runs = []
        for _ in range(2):
            command = [
                sys.executable,
                str(HERE / "memory.py"),
                *options,
                "--threads",
                str(args.threads),
            ]
            child = run_child(lambda attempt, command=command: command, log, args)
            report = json.loads(child["stdout"].strip().splitlines()[-1])
            for key in ("others_cores", "accepted_while_disturbed", "rejected_runs"):
                report[key] = child[key]
            runs.append(report)
        results[name] = {
            "peak_rss_mib": min(run["peak_rss_mib"] for run in runs),
            "runs": runs,
        }
    pytorch = results["pytorch"]["peak_rss_mib"]
    ratio = results["chainrule"]["peak_rss_mib"] / pytorch
    results["ratio"] = round(ratio, 3)
    results["ratio_proposed"] = round(
        results["chainrule-proposed"]["peak_rss_mib"] / pytorch, 3
    )
    results["target"] = 0.5
    results["met"] = bool(ratio <= 0.5)
    return results


def measure_train(args, log):
    """Wall time of the default `chainrule train` and the PyTorch recipe."""
    chainrule = str(Path(sys.executable).with_name("chainrule"))
    runs = {"chainrule train": [], "pytorch recipe": []}
    with tempfile.TemporaryDirectory(prefix="chainrule-bench-") as folder:
        # One untimed run of each fills the data cache and the file cache.
        commands = {
            "chainrule train": lambda out: [chainrule, "train", "--out", out],
            "pytorch recipe": lambda out: [
                sys.executable,
                str(HERE / "torch_recipe.py"),
                "--out",
                out,
            ],
        }
        for index in range(args.train_repeats + 1):
            for name, command in commands.items():
                stem = Path(folder) / f"{name.split()[0]}-{index}"
                child = run_child(
                    lambda attempt, stem=stem, command=command: command(
                        f"{stem}-{attempt}"
                    ),
                    log,
                    args,
                )
                if index > 0:
                    child.pop("stdout")
                    runs[name].append(child)
                log(".", end="")
    log("")
    results = {}
    for name, entries in runs.items():
        results[name] = {
            "median_wall_s": round(statistics.median(e["wall_s"] for e in entries), 3),
            "runs": entries,
        }
    ratio = (
        results["chainrule train"]["median_wall_s"]
        / results["pytorch recipe"]["median_wall_s"]
    )
    results["ratio"] = round(ratio, 3)
    results["met"] = bool(ratio < 1.0)
    return results


def main(argv=None):
    args = parse_arguments(argv)
    started = time.perf_counter()

    def log(text="", end="\n"):
        print(text, end=end, flush=True)

    limit_threads(args.threads)
    report = {
        "command": " ".join(sys.argv),
        "environment": environment(),
        "threads": args.threads,
        "settings": {
            "quiet_threshold_cores": args.quiet_threshold,
            "max_wait_s": args.max_wait,
            "retries": args.retries,
            "scale": args.scale,
            "blocks": BLOCKS,
        },
        "load_average": {"start": load_average(), "end": None},
        "peak_gflops": None,
        "results": [],
        "memory": None,
        "train": None,
    }

    def save():
        # Written after every section, so a failure late in the run keeps
        # what was measured before it.
        report["load_average"]["end"] = load_average()
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["disturbance"] = disturbance_summary(report["results"])
        # scikit-learn loads SciPy's OpenBLAS too; list what is loaded now.
        report["environment"]["blas_libraries_at_end"] = blas_libraries()
        if args.json:
            args.json.write_text(json.dumps(report, indent=1) + "\n")

    log(f"threads: {args.threads}; load average at start: {load_average()}")
    report["peak_gflops"] = peak_rates()
    log(f"peak float32 GFLOP/s, 2048³ product: {report['peak_gflops']}")

    for size in args.sizes:
        for loss in args.losses:
            problem = make_problem(size, loss)
            log(f"timing {size} {loss} ", end="")
            contenders = time_problem(problem, args.contenders, args, log)
            ratios = ratios_for(size, contenders)
            print_problem(problem, contenders, ratios, log)
            report["results"].append(
                {
                    "size": size,
                    "loss": loss,
                    "sizes": problem.sizes,
                    "batch": problem.batch,
                    "flops_per_step": problem.flops,
                    "contenders": contenders,
                    "ratios": ratios,
                }
            )
            save()
    print_targets(report["results"], log)

    if not args.no_memory:
        log("\npeak RSS (VmHWM) of an L-size training process, 2 runs each")
        try:
            memory = measure_memory(args, log)
        except RuntimeError as error:
            memory = {"error": str(error)}
            log(f"  failed: {error}")
        else:
            for name in MEMORY_RUNS:
                log(f"  {name:<20} {memory[name]['peak_rss_mib']:8.1f} MiB")
            verdict = "met" if memory["met"] else "NOT met"
            log(f"  chainrule / pytorch {memory['ratio']:.3f}  target ≤ 0.5: {verdict}")
            log(f"  chainrule-proposed / pytorch {memory['ratio_proposed']:.3f}")
        report["memory"] = memory
        save()
    if not args.no_train:
        log("\nwall time of the default training run, start-up included ", end="")
        try:
            train_runs = measure_train(args, log)
        except RuntimeError as error:
            train_runs = {"error": str(error)}
            log(f"  failed: {error}")
        else:
            for name in ("chainrule train", "pytorch recipe"):
                median = train_runs[name]["median_wall_s"]
                log(f"  {name:<16} {median:7.2f} s (median)")
            verdict = "met" if train_runs["met"] else "NOT met"
            log(
                f"  chainrule / pytorch {train_runs['ratio']:.3f}  "
                f"target < 1: {verdict}"
            )
        report["train"] = train_runs
    save()
    disturbance = report["disturbance"]
    log(
        "\nother processes' CPU during accepted blocks: median "
        f"{disturbance['median_cores']:.3f} cores, max "
        f"{disturbance['max_cores']:.3f}; "
        f"{disturbance['rejected_blocks']} blocks rerun, "
        f"{disturbance['accepted_while_disturbed']} accepted while disturbed; "
        f"load average at end {report['load_average']['end']}; "
        f"{report['seconds']:.0f} s in all"
    )
    if args.json:
        log(f"wrote {args.json}")
    return 0


def print_targets(results, log):
    """One line per target: its ratio at each size, median (best blocks)."""
    if not results:
        return
    log("\ntargets: ratio of medians (of best blocks) per size and loss")
    for numerator, denominator, _ in TARGETS:
        cells = []
        for result in results:
            for row in result["ratios"]:
                if row["ratio"] == f"{numerator} / {denominator}":
                    mark = (
                        "" if row["met"] is None else (" ok" if row["met"] else " NO")
                    )
                    limit = "" if row["target"] is None else f" ≤{row['target']}"
                    label = f"{result['size']} {result['loss'][:5]}"
                    cells.append(
                        f"{label}: {row['value']:.2f} ({row['best_blocks']:.2f})"
                        f"{limit}{mark}"
                    )
        if cells:
            log(f"  {numerator} / {denominator}")
            for cell in cells:
                log(f"      {cell}")


def disturbance_summary(results):
    cores, rejected, disturbed = [], 0, 0
    for result in results:
        for entry in result["contenders"].values():
            rejected += entry["rejected_blocks"]
            for block in entry["blocks"]:
                cores.append(block["others_cores"])
                disturbed += block["accepted_while_disturbed"]
    return {
        "median_cores": float(np.median(cores)) if cores else 0.0,
        "max_cores": float(np.max(cores)) if cores else 0.0,
        "rejected_blocks": rejected,
        "accepted_while_disturbed": disturbed,
    }


if __name__ == "__main__":
    sys.exit(main())
