"""Render the JSON that ``benchmarks/step.py --json`` writes as Markdown.

    .venv/bin/python benchmarks/report.py out.json [more.json ...]

For each file: the machine (CPU, BLAS and its kernel, threads, the
variables that steer BLAS, the load), a table of median step times with
GFLOP/s, a table of the target ratios (ratio of medians, and in
parentheses the ratio of the best block medians), and the memory and
wall-time results when they were measured.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = (
    ("chainrule-numpy", "chainrule NumPy"),
    ("chainrule-numpy-gradient", "step alone"),
    ("forward-backward", "public fwd+bwd"),
    ("bare-products", "bare products"),
    ("chainrule-torch", "chainrule torch"),
    ("pytorch-eager", "PyTorch eager"),
    ("scikit-learn", "scikit-learn"),
    ("chainrule-numpy-proposed-sgd", "NumPy, proposed SGD"),
    ("chainrule-torch-proposed-sgd", "torch, proposed SGD"),
)


def machine(report):
    env = report["environment"]
    lines = [
        f"- CPU: {env['cpu_model']} ({env['usable_cpus']} usable CPUs; "
        f"{', '.join(env['cpu_flags'])}); {env['platform']}",
        f"- Python {env['python']}, NumPy {env['numpy']}, "
        f"scikit-learn {env.get('sklearn')}, PyTorch "
        f"{(env.get('torch') or {}).get('version')}",
    ]
    libraries = env.get("blas_libraries_at_end") or env["blas_libraries"]
    for library in libraries:
        if library["user_api"] != "blas":
            continue
        lines.append(
            f"- BLAS: {library['internal_api']} {library['version']}, kernel "
            f"{library.get('architecture')}, {library['num_threads']} threads, "
            f"`{Path(library['filepath']).name}`"
        )
    torch = env.get("torch")
    if torch:
        lines.append(
            f"- PyTorch BLAS: {torch['blas']}; CPU capability {torch['cpu_capability']}"
        )
    variables = {k: v for k, v in env["variables"].items() if v is not None}
    lines.append(
        "- BLAS variables set: "
        + (", ".join(f"{k}={v}" for k, v in variables.items()) or "none")
    )
    lines.append(f"- threads for every contender: {report['threads']}")
    peak = report.get("peak_gflops") or {}
    lines.append(
        "- one 2048³ float32 product: "
        + ", ".join(f"{name} {rate} GFLOP/s" for name, rate in peak.items())
    )
    load = report["load_average"]
    disturbance = report["disturbance"]
    lines.append(
        f"- load average (1, 5, 15 min) at start {load['start']}, at end "
        f"{load['end']}; other processes during accepted blocks: median "
        f"{disturbance['median_cores']:.3f} cores, max "
        f"{disturbance['max_cores']:.3f}; {disturbance['rejected_blocks']} "
        f"blocks rerun, {disturbance['accepted_while_disturbed']} accepted "
        "while disturbed"
    )
    return "\n".join(lines)


def times_table(report):
    present = [
        (key, label)
        for key, label in COLUMNS
        if any(key in result["contenders"] for result in report["results"])
    ]
    header = "| size | loss | " + " | ".join(label for _, label in present) + " |"
    rule = "| --- | --- | " + " | ".join("---:" for _ in present) + " |"
    rows = [header, rule]
    for result in report["results"]:
        cells = []
        for key, _ in present:
            entry = result["contenders"].get(key)
            if entry is None:
                cells.append("")
                continue
            cells.append(f"{_milliseconds(entry['median_ms'])} ({entry['gflops']:.0f})")
        rows.append(
            f"| {result['size']} | {result['loss']} | " + " | ".join(cells) + " |"
        )
    return "\n".join(rows)


def _milliseconds(value):
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratios_table(report):
    names = []
    for result in report["results"]:
        for row in result["ratios"]:
            if row["ratio"] not in names:
                names.append(row["ratio"])
    header = (
        "| ratio | "
        + " | ".join(f"{r['size']} {r['loss'][:5]}" for r in report["results"])
        + " |"
    )
    rule = "| --- | " + " | ".join("---:" for _ in report["results"]) + " |"
    rows = [header, rule]
    for name in names:
        cells = []
        target = None
        for result in report["results"]:
            row = next((r for r in result["ratios"] if r["ratio"] == name), None)
            if row is None:
                cells.append("")
                continue
            mark = {None: "", True: " ✓", False: " ✗"}[row["met"]]
            cells.append(f"{row['value']:.2f} ({row['best_blocks']:.2f}){mark}")
            if row["target"] is not None:
                target = target or {}
                target[result["size"]] = row["target"]
        label = name
        if target:
            limits = ", ".join(f"{size} ≤ {value}" for size, value in target.items())
            label = f"{name} (target {limits})"
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def extras(report):
    lines = []
    memory = report.get("memory")
    if memory and "error" not in memory:
        parts = [
            f"{name} {memory[name]['peak_rss_mib']:.0f} MiB"
            for name in ("chainrule", "pytorch", "chainrule-proposed")
            if name in memory
        ]
        lines.append(
            "- peak RSS at L: " + ", ".join(parts) + f"; chainrule / PyTorch "
            f"{memory['ratio']:.2f} (target ≤ 0.5)"
            + (
                f", with the proposed changes {memory['ratio_proposed']:.2f}"
                if "ratio_proposed" in memory
                else ""
            )
        )
    train = report.get("train")
    if train and "error" not in train:
        lines.append(
            "- default training run, wall time with start-up (median of "
            f"{len(train['chainrule train']['runs'])}): `chainrule train` "
            f"{train['chainrule train']['median_wall_s']:.2f} s, the PyTorch "
            f"recipe {train['pytorch recipe']['median_wall_s']:.2f} s; ratio "
            f"{train['ratio']:.2f} (target < 1)"
        )
    return "\n".join(lines)


def render(path):
    report = json.loads(Path(path).read_text())
    parts = [
        f"### {Path(path).name}: `{report['command']}`",
        machine(report),
        "Median step time in ms (GFLOP/s of the 11 products):",
        times_table(report),
        "Ratios of medians (of best block medians); ✓ target met, ✗ not:",
        ratios_table(report),
        extras(report),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def main(argv=None):
    paths = (argv if argv is not None else sys.argv[1:]) or []
    if not paths:
        print("usage: report.py RESULTS.json [...]", file=sys.stderr)
        return 2
    print("\n".join(render(path) for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
