"""``chainrule explain``: backpropagation on one example, step by step.

Shows the forward pass, the loss, backward passes 1 and 2, explicit
matrices against the pointwise form, and a finite-difference check, in
the notation of section 7.4, with every number. By default the network is
the text's three-layer network with small sizes (3 → 4 → 4 → 4 → 2) and
a seeded random example; --model and --data explain a saved model on one
example of a data set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..atomic import write_text
from .errors import CommandError, UsageError
from .inputs import open_model
from .options import (
    LOSS_FOR_TASK,
    help_description,
    parse_hidden,
    positive_int,
    seed,
)

FORMATS = ("terminal", "markdown", "html")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "explain",
        help="show backprop step by step in the book's notation",
        description=help_description(__doc__, 1, title=False),
    )
    network = parser.add_argument_group("network and example")
    network.add_argument(
        "--inputs",
        type=positive_int,
        default=3,
        metavar="D_i",
        help="input size of the default network (default: 3)",
    )
    network.add_argument(
        "--hidden",
        type=parse_hidden,
        default=[4, 4, 4],
        metavar="D1,D2,...",
        help="hidden layer widths (default: 4,4,4, the text's three layers)",
    )
    network.add_argument(
        "--outputs",
        type=positive_int,
        default=2,
        metavar="D_o",
        help="output size of the default network (default: 2)",
    )
    network.add_argument(
        "--loss",
        choices=["least-squares", "binary-cross-entropy", "cross-entropy"],
        help="default: least-squares, or the model's loss, or from the data's labels",
    )
    network.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed of the random network and example (default: 0)",
    )
    network.add_argument(
        "--relu-at-zero",
        type=float,
        default=1.0,
        metavar="D",
        help="derivative of ReLU at exactly 0 for a new network: 1 as in "
        "the book (default), 0 as in PyTorch",
    )
    network.add_argument(
        "--model", type=Path, metavar="PATH", help="a model file from 'chainrule train'"
    )
    network.add_argument(
        "--data",
        metavar="NAME|PATH",
        help="take the example from a data set: a built-in name or a .csv/.npz file",
    )
    network.add_argument(
        "--row",
        type=int,
        default=0,
        metavar="N",
        help="which example of --data, counting from 0 in the file's order "
        "(built-in sets: their training part) (default: 0)",
    )
    network.add_argument(
        "--label-column",
        metavar="COLUMN",
        help="CSV label column(s): an index (negative counts from the end) "
        "or a header name; comma-separate several for multi-label, as for "
        "chainrule train (default: the last column)",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=FORMATS,
        default="terminal",
        help="terminal text (default), Markdown, or a self-contained HTML page",
    )
    output.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write to FILE (atomically) instead of standard output",
    )
    output.add_argument(
        "--color",
        "--colour",
        dest="colour",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour terminal output: auto (default; only on a terminal, "
        "and not when NO_COLOR is set), always, never",
    )
    output.add_argument(
        "--decimals",
        type=int,
        default=4,
        metavar="N",
        help="decimals shown (default: 4)",
    )
    output.add_argument(
        "--max-shown",
        type=positive_int,
        default=6,
        metavar="N",
        help="show at most N rows and columns of a matrix (default: 6)",
    )
    output.add_argument(
        "--width",
        type=positive_int,
        default=80,
        metavar="COLUMNS",
        help="text width for terminal and Markdown output (default: 80)",
    )
    parser.set_defaults(handler=run)
    return parser


def run(args):
    from ..explain import (
        build_report,
        render_html,
        render_markdown,
        render_terminal,
        use_colour,
    )

    _check_options(args)
    network, x, y, loss_name, source, notes = _example(args)
    try:
        report = build_report(
            network,
            x,
            y,
            loss_name,
            source=source,
            notes=notes,
            decimals=args.decimals,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None

    if args.format == "html":
        text = render_html(report, decimals=args.decimals, max_shown=args.max_shown)
    elif args.format == "markdown":
        text = render_markdown(
            report, width=args.width, decimals=args.decimals, max_shown=args.max_shown
        )
    else:
        colour = args.output is None and use_colour(sys.stdout, args.colour)
        if args.output is not None and args.colour == "always":
            colour = True
        text = render_terminal(
            report,
            width=args.width,
            colour=colour,
            decimals=args.decimals,
            max_shown=args.max_shown,
        )

    if args.output is None:
        sys.stdout.write(text)
    else:
        try:
            write_text(args.output, text)
        except OSError as error:
            raise CommandError(f"cannot write {args.output}: {error}") from None
        print(f"wrote {args.output} ({args.format})")
    failed = [check for check in report.checks if not check.passed]
    if failed:
        raise CommandError(f"{len(failed)} check(s) failed: {failed[0].text}")
    return 0


def _check_options(args):
    if not 0.0 <= args.relu_at_zero <= 1.0:
        raise UsageError(f"--relu-at-zero must be in [0, 1], got {args.relu_at_zero}")
    if not 0 <= args.decimals <= 12:
        raise UsageError(f"--decimals must be in 0 … 12, got {args.decimals}")
    if args.row < 0:
        raise UsageError(f"--row counts from 0; got {args.row}")
    if args.format == "html" and args.colour == "always":
        raise UsageError("--color always applies to terminal output, not html")
    if args.data is None and args.label_column is not None:
        raise UsageError("--label-column needs --data")
    default_network = args.model is None and args.data is None
    if args.loss == "cross-entropy" and default_network and args.outputs < 2:
        raise UsageError(
            f"--loss cross-entropy needs at least 2 outputs (one per class; "
            f"with one, softmax is always 1 and the gradient 0), got "
            f"--outputs {args.outputs}; use --outputs 2 or more, or "
            "--loss binary-cross-entropy for one output"
        )


def _example(args):
    """(network, x, y, loss name, source text, notes) for the options given.

    With a model file, the example is put in the units the network was
    trained in: inputs standardized with the model's input statistics,
    and least-squares targets with its target statistics, since the
    loss and gradients explained are those of training.
    """
    from ..explain.report import default_example, teaching_network

    model = open_model(args.model) if args.model is not None else None
    if args.data is None:
        loss_name = args.loss or (model.loss if model else "least-squares")
        if model is None:
            sizes = [args.inputs, *args.hidden, args.outputs]
            network, x, y = default_example(
                args.seed, sizes, loss_name, args.relu_at_zero
            )
            return network, x, y, loss_name, f"random, seed {args.seed}", []
        _, x, y = default_example(args.seed, model.network.sizes, loss_name)
        source = f"{args.model}, a random example (seed {args.seed})"
        return model.network, x, y, loss_name, source, []

    dataset, rows, targets, origin = _load_example(args)
    notes = []
    if model is not None:
        loss_name = args.loss or model.loss
        network = model.network
        if rows.shape[1] != model.n_features:
            raise CommandError(
                f"--data {args.data} has {rows.shape[1]} features but the "
                f"model expects {model.n_features}"
            )
        if model.input_mean is not None:
            rows = (rows - model.input_mean) / model.input_std
            notes.append(
                "x is the example standardized with the model's input "
                "statistics, (x − mean) / std, as in training."
            )
        targets = _model_class_ids(model, dataset, targets, loss_name)
        if model.target_mean is not None and loss_name == "least-squares":
            targets, note = _standardized_targets(model, targets, args.decimals)
            notes.append(note)
        source = f"{args.model} on {origin}"
    else:
        from ..data import Standardizer, default_standardize

        loss_name = args.loss or LOSS_FOR_TASK[dataset.task]
        if default_standardize(args.data):
            standardizer = Standardizer.fit(dataset.x_train)
            rows = standardizer.transform(rows)
        n_outputs = _output_size(dataset, loss_name)
        sizes = [rows.shape[1], *args.hidden, n_outputs]
        network = teaching_network(
            sizes, np.random.default_rng(args.seed), args.relu_at_zero
        )
        source = f"a random network (seed {args.seed}) on {origin}"
    x = np.asarray(rows, dtype=np.float64).T
    y = _target(targets, loss_name)
    return network, x, y, loss_name, source, notes


def _standardized_targets(model, targets, decimals):
    """Targets in the network's units, (y − mean) / std, and a note."""
    targets = np.asarray(targets, dtype=np.float64).reshape(1, -1)
    if targets.shape[1] != model.n_outputs:
        raise CommandError(
            f"the example has {targets.shape[1]} target value(s) but the model "
            f"has {model.n_outputs} output(s)"
        )
    mean = np.asarray(model.target_mean, dtype=np.float64)
    std = np.asarray(model.target_std, dtype=np.float64)
    standardized = (targets - mean) / std

    def shown(values):
        return ", ".join(f"{v:.{decimals}f}" for v in np.ravel(values))

    note = (
        "The network was trained on standardized targets, so y here is the "
        "example's target in those units, the ones its loss and gradients "
        f"are for: y = (y_raw − mean) / std = ({shown(targets)} − "
        f"{shown(mean)}) / {shown(std)} = {shown(standardized)}. The model "
        "maps its output back to the data's units as f_K · std + mean."
    )
    return standardized, note


def _load_example(args):
    """The dataset, and row ``args.row`` of its training part as (1, D)."""
    from ..data import DataError, load_dataset
    from .options import label_columns as parse_label_columns

    # The same reading as chainrule train's: "l1,l2" names two columns.
    label_columns = parse_label_columns(args.label_column)
    try:
        dataset = load_dataset(
            args.data, test_fraction=0.0, seed=args.seed, label_columns=label_columns
        )
    except (DataError, ValueError) as error:
        raise CommandError(str(error)) from None
    n_examples = dataset.x_train.shape[0]
    if args.row >= n_examples:
        raise UsageError(
            f"--row {args.row} is past the end: {args.data} has {n_examples} "
            f"examples (rows 0 … {n_examples - 1})"
        )
    rows = dataset.x_train[args.row : args.row + 1]
    targets = dataset.y_train[args.row : args.row + 1]
    origin = f"{dataset.name}, example {args.row}"
    if dataset.train_origin is not None and dataset.origin_kinds[0] == "line":
        origin += f" (line {int(dataset.train_origin[args.row])})"
    return dataset, rows, targets, origin


def _model_class_ids(model, dataset, targets, loss_name):
    """Map the data's class ids onto the model's, through the labels."""
    if loss_name != "cross-entropy" or model.classes is None:
        return targets
    if dataset.classes is None:
        return targets
    label = dataset.classes[int(targets[0])]
    matches = [i for i, c in enumerate(model.classes) if str(c) == str(label)]
    if not matches:
        raise CommandError(
            f"the example's label {label!r} is not one of the model's classes "
            f"{model.classes}"
        )
    return np.array([matches[0]])


def _output_size(dataset, loss_name):
    if loss_name == "cross-entropy":
        return len(dataset.classes)
    y = np.asarray(dataset.y_train)
    return 1 if y.ndim == 1 else y.shape[1]


def _target(targets, loss_name):
    targets = np.asarray(targets)
    if loss_name == "cross-entropy":
        if not np.issubdtype(targets.dtype, np.integer):
            raise CommandError(
                "cross-entropy needs class labels; this data set's targets "
                "are real values (choose --loss least-squares)"
            )
        return targets.reshape(1).astype(np.int64)
    return targets.reshape(-1, 1).astype(np.float64)
