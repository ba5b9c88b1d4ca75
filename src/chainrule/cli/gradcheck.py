"""``chainrule gradcheck``: check backprop against central differences.

By default a random network and random data are checked; ``--model`` and
``--data`` check a saved model on examples from a data set instead. The
check runs in float64 and is aware of ReLU kinks. The exit status is 0
when every Ω_k and β_k passes, 1 when any fails.
"""

from __future__ import annotations

import json

from ..verification import RELATIVE_ERROR_DEFINITION, gradcheck, step_sweep
from ..verification.gradcheck import DEFAULT_STEP, DEFAULT_SWEEP_STEPS, MODES
from .check_problem import add_problem_options, build_problem, describe
from .options import (
    add_threads_option,
    apply_threads,
    help_description,
    positive_float,
    positive_int,
)
from .tables import aligned_table


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "gradcheck",
        help="check backprop's gradients against central differences",
        description=help_description(__doc__, 1, title=False),
    )
    add_problem_options(parser, default_examples=8)

    check = parser.add_argument_group("check")
    check.add_argument(
        "--mode",
        choices=MODES,
        default="full",
        help="full: every entry; sample: --samples random entries per array; "
        "direction: --samples random directions per array (default: full)",
    )
    check.add_argument(
        "--samples",
        type=positive_int,
        metavar="N",
        help="entries (sample mode) or directions (direction mode) per "
        "array (default: 32 entries, 4 directions)",
    )
    check.add_argument(
        "--step",
        type=positive_float,
        default=DEFAULT_STEP,
        metavar="S",
        help=f"central-difference step (default: {DEFAULT_STEP:g})",
    )
    check.add_argument(
        "--rtol",
        type=positive_float,
        default=1e-6,
        metavar="R",
        help="largest relative error that passes (default: 1e-6)",
    )
    check.add_argument(
        "--atol",
        type=positive_float,
        metavar="A",
        help="absolute tolerance; the relative error's floor is atol/rtol "
        "(default: 100·ε·max(1, |ℓ|)/step, the rounding error of a "
        "central difference with a safety factor of 100)",
    )
    check.add_argument(
        "--sweep",
        action="store_true",
        help="also show the errors at steps 1e-1, 1e-2, …, 1e-10",
    )

    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print the result as JSON")
    add_threads_option(output)
    parser.set_defaults(handler=run)


def run(args):
    apply_threads(args.threads)
    network, x, y, loss, label = build_problem(args)
    result = gradcheck(
        network,
        x,
        y,
        loss,
        mode=args.mode,
        n_samples=args.samples,
        step=args.step,
        rtol=args.rtol,
        atol=args.atol,
        rng=args.seed,
    )
    sweep = ()
    if args.sweep:
        sweep = step_sweep(
            network,
            x,
            y,
            loss,
            steps=DEFAULT_SWEEP_STEPS,
            mode=args.mode,
            n_samples=args.samples,
            rtol=args.rtol,
            atol=args.atol,
            rng=args.seed,
        )

    if args.json:
        data = {"problem": label, "result": result.to_dict()}
        if sweep:
            data["sweep"] = [_sweep_entry(point) for point in sweep]
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for line in format_result(result, label):
            print(line)
        if sweep:
            print()
            for line in format_sweep(sweep):
                print(line)
    return 0 if result.passed else 1


def format_result(result, label):
    """The lines of the human-readable report."""
    lines = [f"gradcheck: {describe(label)}"]
    lines.append(
        f"mode {result.mode}, step {result.step:g}, checked in "
        f"{result.checked_dtype} (network dtype {result.original_dtype})"
    )
    lines.append(
        f"ReLU: {result.relu_convention}; "
        f"{result.n_preactivations_at_zero} hidden pre-activations exactly 0"
    )
    lines.append(RELATIVE_ERROR_DEFINITION)
    lines.append(
        f"rtol = {result.rtol:.1e}, atol = {result.atol:.1e}, "
        f"floor = {result.floor:.1e}"
    )
    for note in result.notes:
        lines.append(f"note: {note}")
    lines.append("")

    header = (
        "param",
        "shape",
        "checked",
        "max abs err",
        "max rel err",
        "worst",
        "analytic",
        "numeric",
        "kinks",
        "result",
    )
    table = [header]
    for row in result.rows:
        checked = f"{row.n_checked}" + (" dir" if row.unit == "direction" else "")
        table.append(
            (
                row.symbol,
                "×".join(str(d) for d in row.shape),
                checked,
                f"{row.max_abs_error:.2e}",
                f"{row.max_rel_error:.2e}",
                _index(row.worst_index),
                f"{row.analytic_at_worst:.9e}",
                f"{row.numeric_at_worst:.9e}",
                str(row.n_kink_decided),
                "pass" if row.passed else f"FAIL ({row.n_failed})",
            )
        )
    lines += aligned_table(table)
    lines.append("")

    if result.passed:
        lines.append(
            f"PASS: all {len(result.rows)} parameter arrays; "
            f"{result.n_kink_decided} entries decided at kinks by one-sided "
            f"slopes; {result.n_evaluations} forward passes"
        )
    else:
        for row in result.failed_rows:
            lines.append(
                f"FAIL: {row.symbol} (layer {row.layer}): {row.n_failed} of "
                f"{row.n_checked} {_plural(row.unit)} exceed rtol; worst "
                f"{_index(row.worst_index)}: analytic "
                f"{row.analytic_at_worst:.9e}, numeric "
                f"{row.numeric_at_worst:.9e}, relative error "
                f"{row.max_rel_error:.1e}"
            )
        layers = ", ".join(str(k) for k in result.failed_layers)
        lines.append(f"failing layers: {layers}")
    return lines


def format_sweep(results):
    """Lines of the step-size sweep table."""
    table = [("step", "max abs err", "max rel err", "worst param", "kinks", "result")]
    for result in results:
        worst = max(result.rows, key=lambda row: row.max_rel_error)
        table.append(
            (
                f"{result.step:.0e}",
                f"{result.max_abs_error:.2e}",
                f"{result.max_rel_error:.2e}",
                worst.symbol,
                str(result.n_kink_decided),
                "pass" if result.passed else "FAIL",
            )
        )
    lines = ["step sweep (the default atol scales as 1/step):"]
    lines += aligned_table(table)
    lines.append(
        "Large steps: truncation error and more kinks crossed; small steps: "
        "rounding error. Trust the valley between them."
    )
    return lines


def _sweep_entry(result):
    return {
        "step": result.step,
        "max_abs_error": result.max_abs_error,
        "max_rel_error": result.max_rel_error,
        "atol": result.atol,
        "n_kink_decided": result.n_kink_decided,
        "passed": result.passed,
    }


def _plural(unit):
    return {"entry": "entries", "direction": "directions"}[unit]


def _index(index):
    if len(index) == 1:
        return f"[{index[0]}]"
    return "[" + ", ".join(str(i) for i in index) + "]"
