"""``chainrule compare --reference torch``: chainrule against PyTorch.

Runs one forward and backward pass in both and compares every f_k, h_k,
ℓ, ∂ℓ/∂f_k, ∂ℓ/∂Ω_k and ∂ℓ/∂β_k entry by entry, then trains both with SGD
and momentum on the same batches and compares the parameters after every
step. It prints where, if anywhere, the two first disagree. Everything
runs in float64 with PyTorch's ReLU convention, a'(0) = 0, the only one
for which exact parity can hold (PyTorch's ReLU has gradient 0 at 0), so
there is no --relu-at-zero option. The exit status is 0 when they agree,
1 when they do not.
"""

from __future__ import annotations

import json

from ..verification.torch_parity import (
    ATOL,
    RTOL,
    TRAJECTORY_ATOL,
    TRAJECTORY_RTOL,
    compare_training_with_torch,
    compare_with_torch,
    import_torch,
)
from .check_problem import add_problem_options, build_problem, describe
from .errors import CommandError
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
        "compare",
        help="compare every quantity and a training run with PyTorch",
        description=help_description(__doc__, 1, title=False),
    )
    parser.add_argument(
        "--reference",
        choices=["torch"],
        required=True,
        help="the reference implementation (PyTorch, torch==2.13.0)",
    )
    # PyTorch's convention, a'(0) = 0, is the only one parity can test.
    add_problem_options(parser, default_examples=64, relu_option=False)
    parser.set_defaults(relu_at_zero=0.0)

    training = parser.add_argument_group("training run")
    training.add_argument(
        "--steps",
        type=int,
        default=200,
        metavar="N",
        help="SGD steps to compare; 0 skips the training run (default: 200)",
    )
    training.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        metavar="B",
        help="examples per step (default: 8)",
    )
    training.add_argument(
        "--learning-rate",
        type=positive_float,
        default=0.01,
        metavar="α",
        help="learning rate (default: 0.01)",
    )
    training.add_argument(
        "--momentum",
        type=float,
        default=0.9,
        metavar="μ",
        help="momentum in [0, 1): v ← μv + g, θ ← θ − αv (default: 0.9)",
    )

    tolerance = parser.add_argument_group("tolerances")
    tolerance.add_argument(
        "--rtol",
        type=positive_float,
        default=RTOL,
        help=f"per-entry relative tolerance of one pass (default: {RTOL:g})",
    )
    tolerance.add_argument(
        "--atol",
        type=positive_float,
        default=ATOL,
        help=f"per-entry absolute tolerance of one pass (default: {ATOL:g})",
    )
    tolerance.add_argument(
        "--trajectory-rtol",
        type=positive_float,
        default=TRAJECTORY_RTOL,
        metavar="RTOL",
        help="relative tolerance on parameters during training "
        f"(default: {TRAJECTORY_RTOL:g})",
    )
    tolerance.add_argument(
        "--trajectory-atol",
        type=positive_float,
        default=TRAJECTORY_ATOL,
        metavar="ATOL",
        help="absolute tolerance on parameters during training "
        f"(default: {TRAJECTORY_ATOL:g})",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--json", action="store_true", help="print the comparison as JSON"
    )
    add_threads_option(output)
    parser.set_defaults(handler=run)


def run(args):
    apply_threads(args.threads)
    if args.steps < 0:
        raise CommandError(f"--steps must be 0 or more, got {args.steps}")
    if not 0.0 <= args.momentum < 1.0:
        raise CommandError(f"--momentum must be in [0, 1), got {args.momentum}")
    try:
        torch = import_torch()
    except ImportError as error:
        raise CommandError(str(error)) from None
    # Many tiny operations: one thread avoids contention on busy machines.
    torch.set_num_threads(args.threads or 1)

    network, x, y, loss, label = build_problem(args)
    one_pass = compare_with_torch(network, x, y, loss, rtol=args.rtol, atol=args.atol)
    trajectory = None
    if args.steps > 0:
        trajectory = compare_training_with_torch(
            network,
            x,
            y,
            loss,
            n_steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            momentum=args.momentum,
            rng=args.seed,
            rtol=args.trajectory_rtol,
            atol=args.trajectory_atol,
        )
    agrees = one_pass.agrees and (trajectory is None or trajectory.agrees)

    if args.json:
        data = {
            "problem": label,
            "agrees": agrees,
            "one_pass": one_pass.to_dict(),
            "trajectory": None if trajectory is None else trajectory.to_dict(),
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        for line in format_comparison(one_pass, trajectory, label):
            print(line)
    return 0 if agrees else 1


def format_comparison(one_pass, trajectory, label):
    """The lines of the human-readable report."""
    lines = [
        f"compare with PyTorch {one_pass.torch_version}: {describe(label)}",
        "float64; ReLU a'(0) = 0 (PyTorch's convention); PyTorch's losses "
        "summed over outputs and divided by N",
        "",
        f"one pass, every entry: |chainrule − torch| ≤ {one_pass.atol:g} + "
        f"{one_pass.rtol:g}·|torch|",
    ]
    table = [("quantity", "shape", "max |difference|", "result")]
    for item in one_pass.comparisons:
        table.append(
            (
                item.name,
                "×".join(str(d) for d in item.shape),
                f"{item.max_abs_difference:.2e}",
                "agrees" if item.agrees else "DIFFERS",
            )
        )
    lines += aligned_table(table)
    first = one_pass.first_disagreement
    if first is None:
        lines.append("one pass: every quantity agrees")
    else:
        index = ", ".join(str(i) for i in first.worst_index)
        lines.append(
            f"first disagreement: {first.name}[{index}]: chainrule "
            f"{first.chainrule_at_worst:.17g}, PyTorch "
            f"{first.torch_at_worst:.17g}"
        )

    if trajectory is not None:
        lines.append("")
        lines.append(
            f"training: {trajectory.n_steps} steps of SGD, learning rate "
            f"{trajectory.learning_rate:g}, momentum {trajectory.momentum:g}, "
            f"batches of {trajectory.batch_size}, chainrule update: "
            f"{trajectory.optimizer}"
        )
        lines.append(
            f"parameters after every step: |θ_chainrule − θ_torch| ≤ "
            f"{trajectory.atol:g} + {trajectory.rtol:g}·|θ_torch|"
        )
        lines.append(
            f"loss {trajectory.losses[0]:.6g} at step 1, "
            f"{trajectory.losses[-1]:.6g} at step {trajectory.n_steps}; "
            f"final max |difference| {trajectory.final_max_abs_difference:.2e}, "
            f"max relative {trajectory.final_max_rel_difference:.2e}"
        )
        if trajectory.agrees:
            lines.append("training: the trajectories agree at every step")
        else:
            lines.append(
                f"first disagreement: after step "
                f"{trajectory.first_disagreeing_step}, in "
                f"{trajectory.first_disagreeing_parameter}"
            )
    return lines
