"""``chainrule init-study``: activations and gradients through a deep net.

Runs a deep ReLU network (default: 50 hidden layers of 80 units, as in
section 7.5) at several weight variances σ²_Ω around He's 2/D_h and
reports, layer by layer, the standard deviation of the activations h_k
and of the gradients ∂ℓ/∂f_k: they explode above 2/D_h, vanish below it,
and hold steady at it. Prints a table and saves a plot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..atomic import write_text
from .errors import CommandError, UsageError
from .options import check_output_file, help_description, positive_int, seed


def positive_floats(text):
    """'0.5,1,2' → [0.5, 1.0, 2.0], each positive."""
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated positive numbers such as 0.5,1,2, "
                f"got {text!r}"
            ) from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(
                f"every value must be positive and finite, got {part!r}"
            )
        values.append(value)
    return values


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "init-study",
        help="how weight variance makes activations and gradients explode or vanish",
        description=help_description(__doc__, 1, title=False),
    )
    parser.add_argument(
        "--layers",
        type=positive_int,
        default=50,
        metavar="K",
        help="hidden layers (default: 50)",
    )
    parser.add_argument(
        "--width",
        type=positive_int,
        default=80,
        metavar="D_h",
        help="units per layer (default: 80)",
    )
    variances = parser.add_mutually_exclusive_group()
    variances.add_argument(
        "--factors",
        type=positive_floats,
        metavar="F1,F2,...",
        help="σ²_Ω as multiples of He's 2/D_h (default: 0.5,0.8,1,1.25,2)",
    )
    variances.add_argument(
        "--variances",
        type=positive_floats,
        metavar="V1,V2,...",
        help="σ²_Ω as plain values instead",
    )
    parser.add_argument(
        "--examples",
        type=positive_int,
        default=1000,
        metavar="N",
        help="random inputs pushed through (default: 1000)",
    )
    parser.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed of the weights and inputs (default: 0)",
    )
    parser.add_argument(
        "--every",
        type=positive_int,
        default=5,
        metavar="N",
        help="print every N-th layer in the table (default: 5)",
    )
    plot = parser.add_mutually_exclusive_group()
    plot.add_argument(
        "--plot",
        type=Path,
        default=Path("init-study.png"),
        metavar="FILE.png",
        help="where to save the plot, a PNG file (default: init-study.png)",
    )
    plot.add_argument("--no-plot", action="store_true", help="save no plot")
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also save the numbers as JSON"
    )
    parser.set_defaults(handler=run)
    return parser


def run(args):
    from ..init_study import format_table, run_init_study

    # Refuse output paths that cannot be written before the computation.
    if not args.no_plot:
        if args.plot.suffix.lower() != ".png":
            raise UsageError(
                f"--plot {args.plot}: the plot is a PNG image; give a name "
                "ending in .png"
            )
        check_output_file("--plot", args.plot)
    if args.json is not None:
        check_output_file("--json", args.json)

    variances = args.variances
    if args.factors is not None:
        variances = [factor * 2.0 / args.width for factor in args.factors]
    result = run_init_study(
        n_layers=args.layers,
        width=args.width,
        variances=variances,
        n_examples=args.examples,
        rng=args.seed,
    )
    print(format_table(result, every=args.every), end="")
    try:
        if not args.no_plot:
            from ..diagnostic_plots import plot_init_study

            plot_init_study(result, args.plot)
            print(f"plot: {args.plot}")
        if args.json is not None:
            write_text(args.json, json.dumps(result.to_dict(), indent=2) + "\n")
            print(f"numbers: {args.json}")
    except OSError as error:
        raise CommandError(f"cannot write output: {error}") from None
    return 0
