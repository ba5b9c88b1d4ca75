"""``chainrule explain``: backpropagation on one example, step by step.

Shows the forward pass, the loss, backward passes 1 and 2, explicit
matrices against the pointwise form, and a finite-difference check, in
the notation of section 7.4, with every number. By default the network is
the text's three-layer network with small sizes (3 → 4 → 4 → 4 → 2) and
a seeded random example; --model and --data explain a saved model on one
example of a data set.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from ..atomic import write_text
from .errors import CommandError, UsageError
from .inputs import check_feature_count, load_data, open_model
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
        metavar="D_i",
        help="input size of the default network (default: 3; with --data, "
        "the data's feature count)",
    )
    network.add_argument(
        "--hidden",
        type=parse_hidden,
        metavar="D1,D2,...",
        help="hidden layer widths of a new network (default: 4,4,4, the "
        "text's three layers)",
    )
    network.add_argument(
        "--outputs",
        type=positive_int,
        metavar="D_o",
        help="output size of the default network (default: 2; with --data, "
        "from the data's labels)",
    )
    network.add_argument(
        "--loss",
        choices=["least-squares", "binary-cross-entropy", "cross-entropy"],
        help="loss of a new network (default: least-squares, or from "
        "--data's labels); a --model keeps the loss it was trained with",
    )
    network.add_argument(
        "--seed",
        type=seed,
        help="seed of the random network, or of the random example for "
        "--model without --data (default: 0)",
    )
    network.add_argument(
        "--relu-at-zero",
        type=float,
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


# Options that apply to some uses only default to None, so that one given
# where it would be ignored is refused rather than ignored; these are the
# values they take where they do apply.
_DEFAULTS = {
    "inputs": 3,
    "hidden": [4, 4, 4],
    "outputs": 2,
    "relu_at_zero": 1.0,
    "seed": 0,
    "row": 0,
}


def _check_options(args):
    _check_applicable(args)
    for name, value in _DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if not 0.0 <= args.relu_at_zero <= 1.0:
        raise UsageError(f"--relu-at-zero must be in [0, 1], got {args.relu_at_zero}")
    if not 0 <= args.decimals <= 12:
        raise UsageError(f"--decimals must be in 0 … 12, got {args.decimals}")
    if args.row < 0:
        raise UsageError(f"--row counts from 0; got {args.row}")
    if args.format == "html" and args.colour == "always":
        raise UsageError("--color always applies to terminal output, not html")
    default_network = args.model is None and args.data is None
    if args.loss == "cross-entropy" and default_network and args.outputs < 2:
        raise UsageError(
            f"--loss cross-entropy needs at least 2 outputs (one per class; "
            f"with one, softmax is always 1 and the gradient 0), got "
            f"--outputs {args.outputs}; use --outputs 2 or more, or "
            "--loss binary-cross-entropy for one output"
        )


def _check_applicable(args):
    """Refuse an option that was given where it would be ignored."""
    if args.model is not None:
        for flag, value in (
            ("--inputs", args.inputs),
            ("--hidden", args.hidden),
            ("--outputs", args.outputs),
        ):
            if value is not None:
                raise UsageError(
                    f"{flag} sets up a new network; --model brings its own layer sizes"
                )
        if args.relu_at_zero is not None:
            raise UsageError(
                "--relu-at-zero applies to a new network; --model keeps the "
                "ReLU derivative at 0 it was trained with"
            )
        if args.loss is not None:
            raise UsageError(
                f"--loss applies to a new network; --model keeps the loss it "
                f"was trained with, so --loss {args.loss} would explain other "
                "gradients than training's"
            )
        if args.data is not None and args.seed is not None:
            raise UsageError(
                "--seed picks a random network or example; with --model and "
                "--data both are given, and nothing is random"
            )
    if args.data is not None:
        if args.inputs is not None:
            raise UsageError(
                "--inputs applies to the default network; with --data the "
                "input size is the data's feature count"
            )
        if args.outputs is not None:
            raise UsageError(
                "--outputs applies to the default network; with --data the "
                "output size follows the data's labels"
            )
    else:
        for flag, value in (("--row", args.row), ("--label-column", args.label_column)):
            if value is not None:
                raise UsageError(f"{flag} picks from --data; give --data too")


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
        loss_name = model.loss if model else args.loss or "least-squares"
        if model is None:
            sizes = [args.inputs, *args.hidden, args.outputs]
            network, x, y = default_example(
                args.seed, sizes, loss_name, args.relu_at_zero
            )
            return network, x, y, loss_name, f"random, seed {args.seed}", []
        _, x, y = default_example(args.seed, model.network.sizes, loss_name)
        source = f"{args.model}, a random example (seed {args.seed})"
        return model.network, x, y, loss_name, source, []

    dataset, rows, targets, origin = _load_example(args, model)
    notes = []
    if model is not None:
        loss_name = model.loss
        network = model.network
        if model.input_mean is not None:
            rows = (rows - model.input_mean) / model.input_std
            notes.append(
                "x is the example standardized with the model's input "
                "statistics, (x − mean) / std, as in training."
            )
        targets = _model_class_ids(model, dataset, targets, args)
        if model.is_one_hot_regression:
            # Least squares onto the class's one-hot vector, as in training.
            targets = np.eye(model.n_outputs)[targets]
            notes.append(
                "The model was trained by least squares onto one-hot class "
                "vectors, so y is the example's class as a one-hot vector."
            )
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


def _load_example(args, model=None):
    """The dataset, and row ``args.row`` of its training part as (1, D).

    With a model, the data are read as ``chainrule evaluate`` reads them:
    without --label-column, the label columns the model recorded when
    these are the data it was trained on, and the model's task; and their
    feature count must be the model's.
    """
    from ..data import BUILTIN_NAMES
    from .evaluate import is_training_data
    from .options import label_columns as parse_label_columns

    label_column, task = args.label_column, None
    builtin = args.data in BUILTIN_NAMES
    if model is not None and not builtin:
        task = model.task
        if label_column is None and is_training_data(model, args.data):
            label_column = (model.metadata or {}).get("label_column")
        _check_has_labels(args.data, model.n_features)
    # The same reading as chainrule train's: "l1,l2" names two columns.
    label_columns = parse_label_columns(label_column)
    try:
        dataset = load_data(
            args.data,
            test_fraction=0.0,
            seed=args.seed,
            label_columns=label_columns,
            task=task,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    if model is not None:
        check_feature_count(args.data, dataset.n_features, model.n_features)
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


def _check_has_labels(spec, n_features):
    """Refuse a CSV file of the model's features and no label column.

    Read with its last column as the label, such a file would seem to
    have one feature too few; the real trouble is the missing target,
    which the loss ℓ needs.
    """
    path = Path(spec)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            first = next((row for row in csv.reader(handle) if any(row)), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        # The data loader reports an unreadable file in its own words.
        return
    if first is not None and len(first) == n_features:
        raise CommandError(
            f"{spec}: {len(first)} columns, the model's {n_features} features "
            "and no label column; explain needs the example's target y for "
            "the loss: add the label column(s) the model was trained with"
        )


def _model_class_ids(model, dataset, targets, args):
    """Map the data's class ids onto the model's, through the labels."""
    from ..training.validation import align_labels

    if model.classes is None or dataset.classes is None:
        return targets
    try:
        return align_labels(
            targets,
            dataset.classes,
            model.classes,
            args.data,
            lambda i: dataset.where("train", args.row + i),
        )
    except ValueError as error:
        raise CommandError(str(error)) from None


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
