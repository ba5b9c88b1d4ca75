"""``chainrule gradcheck``: check backprop against central differences.

By default a random network and random data are checked; ``--model`` and
``--data`` check a saved model on examples from a data set instead. The
check runs in float64 and is aware of ReLU kinks. The exit status is 0
when every Ω_k and β_k passes, 1 when any fails.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings

import numpy as np

from ..losses import LOSSES, get_loss
from ..network import Network
from ..verification import RELATIVE_ERROR_DEFINITION, gradcheck, step_sweep
from ..verification.gradcheck import DEFAULT_STEP, DEFAULT_SWEEP_STEPS, MODES
from .errors import CommandError, UsageError
from .options import add_threads_option, apply_threads, positive_float, positive_int

DEFAULT_SIZES = "4,8,8,3"


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "gradcheck",
        help="check backprop's gradients against central differences",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
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


def relu_derivative(text):
    """An argparse type: the ReLU derivative at 0, a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a number in [0, 1] (1 as in the book, 0 as in "
            f"PyTorch), got {text!r}"
        )
    return value


def add_problem_options(parser, default_examples, relu_option=True):
    """The network and data options shared with ``chainrule compare``.

    ``relu_option=False`` leaves out ``--relu-at-zero``: the caller then
    sets ``relu_at_zero`` itself (``chainrule compare`` always uses
    PyTorch's a'(0) = 0).
    """
    problem = parser.add_argument_group("network and data")
    problem.add_argument(
        "--sizes",
        metavar="D_i,…,D_o",
        help="layer widths of a random network, input to output "
        f"(default: {DEFAULT_SIZES}, two hidden layers)",
    )
    problem.add_argument(
        "--loss",
        choices=list(LOSSES),
        help="the loss (default: least-squares; with --model, the model's)",
    )
    problem.add_argument(
        "--examples",
        type=positive_int,
        default=default_examples,
        metavar="N",
        help=f"examples in the batch (default: {default_examples})",
    )
    problem.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float64",
        help="dtype of the random network; checks always run in float64 "
        "(default: float64)",
    )
    if relu_option:
        problem.add_argument(
            "--relu-at-zero",
            type=relu_derivative,
            default=1.0,
            metavar="D",
            help="ReLU derivative at 0 of the random network: 1 as in the "
            "book (default), 0 as in PyTorch; any value in [0, 1]",
        )
    problem.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the random network, data and sampled entries (default: 0)",
    )
    problem.add_argument(
        "--model",
        metavar="PATH",
        help="a model file written by chainrule train (needs --data)",
    )
    problem.add_argument(
        "--data",
        metavar="NAME|PATH",
        help="with --model: a built-in data set or .csv/.npz file; --examples "
        "examples are drawn from it at random, without repeats (from all "
        "its rows, or from the training part of a set with a fixed split "
        "such as mnist1d); with fewer rows than --examples, all are used, "
        "with a warning",
    )


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


def build_problem(args):
    """The network, x (D_i, N), y, loss and a description, from the flags."""
    if args.model is None and args.data is not None:
        raise UsageError("--data needs --model: the network to check comes from it")
    if args.model is not None:
        if args.data is None:
            raise UsageError("--model needs --data, the examples to check it on")
        if args.sizes is not None:
            raise UsageError("--sizes applies to a random network, not to --model")
        return _model_problem(args)
    return _random_problem(args)


def _random_problem(args):
    sizes = _parse_sizes(args.sizes or DEFAULT_SIZES)
    loss = get_loss(args.loss or "least-squares")
    rng = np.random.default_rng(args.seed)
    network = Network.initialize(
        sizes,
        rng,
        dtype=np.dtype(args.dtype),
        relu_derivative_at_zero=args.relu_at_zero,
    )
    # Biases drawn from N(0, 0.1²), so that β_k is checked at a general
    # point and not only at 0.
    for beta in network.beta:
        beta[:] = rng.normal(0.0, 0.1, beta.shape).astype(beta.dtype)
    n_examples = args.examples
    x = rng.normal(size=(sizes[0], n_examples)).astype(args.dtype)
    n_outputs = sizes[-1]
    if loss.name == "cross-entropy":
        y = rng.integers(0, n_outputs, size=n_examples)
    elif loss.name == "binary-cross-entropy":
        y = rng.integers(0, 2, size=(n_outputs, n_examples)).astype(args.dtype)
    else:
        y = rng.normal(size=(n_outputs, n_examples)).astype(args.dtype)
    label = {
        "network": "random",
        "sizes": sizes,
        "examples": n_examples,
        "loss": loss.name,
        "dtype": args.dtype,
        "seed": args.seed,
    }
    return network, x, y, loss, label


def _model_problem(args):
    from ..data import DataError, load_dataset
    from ..model_file import ModelFileError, load

    try:
        model = load(args.model)
        dataset = load_dataset(args.data, test_fraction=0.0, seed=args.seed)
    except (ModelFileError, DataError) as error:
        raise CommandError(str(error)) from None
    if args.loss is not None and args.loss != model.loss:
        raise UsageError(
            f"the model was trained with {model.loss}; --loss {args.loss} "
            "would check a loss it never used (leave --loss out)"
        )
    loss = get_loss(model.loss)
    if dataset.n_features != model.n_features:
        raise CommandError(
            f"{args.data} has {dataset.n_features} features but the model "
            f"expects {model.n_features}"
        )

    rng = np.random.default_rng(args.seed)
    n_examples = min(args.examples, dataset.n_train)
    if n_examples < args.examples:
        warnings.warn(
            f"--examples {args.examples}, but {args.data} has only "
            f"{dataset.n_train} examples to draw from; checking all "
            f"{dataset.n_train}",
            stacklevel=1,
        )
    chosen = np.sort(rng.choice(dataset.n_train, size=n_examples, replace=False))
    rows = np.asarray(dataset.x_train[chosen], dtype=np.float64)
    if model.input_mean is not None:
        rows = (rows - model.input_mean) / model.input_std
    x = rows.T
    y = _model_targets(model, dataset, dataset.y_train[chosen], loss)
    label = {
        "network": str(args.model),
        "data": str(args.data),
        "sizes": list(model.network.sizes),
        "examples": n_examples,
        "loss": loss.name,
        "dtype": str(model.network.dtype),
        "seed": args.seed,
    }
    return model.network, x, y, loss, label


def _model_targets(model, dataset, y, loss):
    """Targets in the form the model's loss was trained on."""
    n_outputs = model.n_outputs
    if dataset.task == "classification":
        ids = _model_class_ids(model, dataset, y)
        if loss.name == "cross-entropy":
            return ids
        if loss.name == "binary-cross-entropy" and n_outputs == 1:
            return ids[None, :].astype(np.float64)
        if loss.name == "least-squares":
            return (np.arange(n_outputs)[:, None] == ids[None, :]).astype(np.float64)
        raise CommandError(
            f"{dataset.source}: class labels do not suit a {loss.name} model "
            f"with {n_outputs} outputs"
        )
    if loss.name == "cross-entropy":
        raise CommandError(
            f"{dataset.source} holds {dataset.task} targets, not the class "
            "labels a cross-entropy model needs"
        )
    values = np.asarray(y, dtype=np.float64)
    if values.shape[1] != n_outputs:
        raise CommandError(
            f"{dataset.source} has {values.shape[1]} target columns but the "
            f"model has {n_outputs} outputs"
        )
    if model.target_mean is not None:
        values = (values - model.target_mean) / model.target_std
    return values.T


def _model_class_ids(model, dataset, ids):
    """The data set's class ids translated into the model's."""
    if model.classes is None:
        translated = np.asarray(ids, dtype=np.int64)
    else:
        position = {label: i for i, label in enumerate(model.classes)}
        missing = [c for c in dataset.classes if c not in position]
        if missing:
            raise CommandError(
                f"{dataset.source} has class {missing[0]!r}, which the model "
                f"does not know (its classes: {model.classes})"
            )
        lookup = np.array([position[c] for c in dataset.classes], dtype=np.int64)
        translated = lookup[np.asarray(ids, dtype=np.int64)]
    limit = model.n_outputs if model.loss == "cross-entropy" else 2
    if translated.size and translated.max() >= limit:
        raise CommandError(
            f"{dataset.source} has class id {int(translated.max())}, but the "
            f"model has {model.n_outputs} outputs"
        )
    return translated


def _parse_sizes(text):
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(
            f"--sizes expects comma-separated widths such as 4,8,8,3, got {text!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise UsageError(
            "--sizes needs at least an input and an output width, each ≥ 1, "
            f"such as 4,8,8,3; got {text!r}"
        )
    return sizes


def describe(label):
    """One line naming the network and data that were checked."""
    sizes = "-".join(str(d) for d in label["sizes"])
    source = (
        f"random {sizes} network (seed {label['seed']})"
        if label["network"] == "random"
        else f"{sizes} network from {label['network']} on {label['data']}"
    )
    return f"{source}, {label['examples']} examples, {label['loss']} loss"


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
    lines += _table(table)
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
    lines += _table(table)
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


def _table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
