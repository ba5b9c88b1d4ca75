"""The network and examples that ``chainrule gradcheck`` and
``chainrule compare`` check, from the options the two share.

By default a random network on random data; ``--model`` and ``--data``
give a saved model on examples drawn from a data set, with the inputs
and targets put in the units the model was trained in.
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np

from ..losses import LOSSES, get_loss
from ..network import Network
from .errors import CommandError, UsageError
from .inputs import load_data, open_model
from .options import positive_int, seed

DEFAULT_SIZES = "4,8,8,3"


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
        type=seed,
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
    model = open_model(args.model)
    dataset = load_data(args.data, test_fraction=0.0, seed=args.seed)
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
