"""chainrule export: write a model file as an ONNX graph.

The graph computes what the model file computes: the input
standardization (when the model has it), one Gemm per layer and a Relu
between layers, the mapping back to the targets' units (when a
regression model was trained on standardized targets), then the output
and, for classifiers, probabilities. Any ONNX runtime can then serve the
model without chainrule.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..arrays import dtype_name
from ..interchange.onnx import (
    DEFAULT_OPSET,
    INSTALL_HINT,
    MIN_OPSET,
    save_onnx,
    supported_opsets,
)
from .errors import CommandError, UsageError
from .inputs import open_model
from .options import add_model_argument, check_output_file, help_description


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="write a model file as an ONNX graph (Gemm, Relu)",
        description=help_description(__doc__),
    )
    add_model_argument(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="FILE.onnx",
        help="where to write the ONNX graph",
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        metavar="N",
        help=(
            f"ONNX operator set version, from {MIN_OPSET} to the newest the "
            f"installed onnx package knows (default: {DEFAULT_OPSET})"
        ),
    )
    parser.set_defaults(handler=run)
    return parser


def run(args):
    if args.output.suffix.lower() != ".onnx":
        raise UsageError(
            f"-o {args.output}: the output must end in .onnx (the only export "
            "format of this command)"
        )
    if args.opset < MIN_OPSET:
        raise UsageError(f"--opset must be {MIN_OPSET} or later, got {args.opset}")
    check_output_file("-o", args.output, "model.onnx")
    if importlib.util.find_spec("onnx") is None:
        raise CommandError(f"ONNX export needs the onnx package: {INSTALL_HINT}")
    opsets = supported_opsets()
    if args.opset not in opsets:
        raise UsageError(
            f"--opset must be from {opsets.start} to {opsets.stop - 1} (the "
            f"newest the installed onnx package knows), got {args.opset}"
        )
    model = open_model(args.model)

    save_onnx(model, args.output, opset=args.opset)

    if model.loss != "least-squares":
        outputs = "output (logits), probabilities"
    elif model.is_one_hot_regression:
        outputs = "output (one score per class)"
    elif model.target_mean is not None:
        outputs = "output (in the targets' units)"
    else:
        outputs = "output"
    standardization = (
        "with input standardization"
        if model.input_mean is not None
        else "without standardization"
    )
    sizes = "-".join(str(d) for d in model.network.sizes)
    dtype = dtype_name(model.network.dtype)
    print(
        f"wrote {args.output}: {sizes} {dtype} network, {standardization}, "
        f"opset {args.opset}; input 'input' (N, {model.n_features}), "
        f"outputs: {outputs}"
    )
    return 0
