"""ONNX export: a network, or a model file's model, as a standard graph.

The graph takes rows, as ONNX runtimes expect: an input ``input`` of
shape (N, D_i), N free. For each layer it has one ``Gemm`` node,

    f_k = h_k Ω_kᵀ + β_kᵀ     (Gemm with transB = 1)

which is the book's f_k = β_k + Ω_k h_k with examples as rows, and a
``Relu`` node between layers. Ω_k is stored as it is, (D_{k+1}, D_k).

When the model file standardized its inputs, the graph starts with
``Sub`` (the training mean) and ``Div`` (the training standard
deviation), as ``Model.output`` does, so that the exported graph takes
raw features. When the model was trained on standardized regression
targets, the graph ends with ``Mul`` (the targets' standard deviation)
and ``Add`` (their mean), f_K · std + mean, again as ``Model.output``
does, so that ``output`` is in the targets' own units.

| output | when | content |
| --- | --- | --- |
| ``output`` | always | f_K, shape (N, D_o): logits for cross-entropy |
| | | and binary cross-entropy, the prediction in the targets' units |
| | | for regression |
| ``probabilities`` | cross-entropy | ``Softmax`` of f_K over classes |
| ``probabilities`` | binary cross-entropy | ``Sigmoid`` of f_K |

The class labels, loss and sizes go into the model's metadata
(``chainrule.classes`` as JSON, ``chainrule.loss``, ``chainrule.sizes``).

The ``onnx`` package is imported when a function here is called.
"""

from __future__ import annotations

import json

import numpy as np

from ..arrays import to_numpy
from ..atomic import atomic_write
from ..model_file import Model
from ..network import Network

__all__ = ["DEFAULT_OPSET", "check_opset", "save_onnx", "supported_opsets", "to_onnx"]

# Opset 17 and IR version 8 (ONNX 1.12, 2022) by default: every node used
# here has had its current form since opset 13-14, and runtimes from 2022
# on read them.
DEFAULT_OPSET = 17
MIN_OPSET = 13
IR_VERSION = 8

INSTALL_HINT = "pip install onnx (or pip install 'chainrule[onnx]')"


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError(
            f"ONNX export needs the onnx package: {INSTALL_HINT}"
        ) from None
    return onnx


def to_onnx(model, opset=DEFAULT_OPSET):
    """Build the ONNX graph of a ``Model`` or a ``Network``.

    Parameters
    ----------
    model : chainrule.model_file.Model or Network
        A ``Model`` brings its input standardization, loss and classes; a
        bare ``Network`` gives a graph with the ``output`` f_K alone.
    opset : int, default 17
        The ONNX operator set version: 13 up to the newest one the
        installed ``onnx`` package knows (``onnx.defs.onnx_opset_version()``).

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model``. The input and every
        constant have the network's dtype (float32 or float64).
    """
    onnx = _import_onnx()
    from onnx import TensorProto, helper, numpy_helper

    if isinstance(model, Network):
        model = Model(network=model, loss="least-squares", task="regression")
    if not isinstance(model, Model):
        raise TypeError(
            f"expected a chainrule Model or Network, got {type(model).__name__}"
        )
    check_opset(opset)
    network = model.network
    dtype = to_numpy(network.parameters).dtype
    element_types = {np.dtype(np.float32): TensorProto.FLOAT}
    element_types[np.dtype(np.float64)] = TensorProto.DOUBLE
    if dtype not in element_types:
        raise TypeError(f"ONNX export supports float32 and float64, got {dtype}")
    element_type = element_types[dtype]

    nodes, constants = [], []

    def constant(name, array):
        array = np.ascontiguousarray(np.asarray(array, dtype=dtype))
        constants.append(numpy_helper.from_array(array, name=name))
        return name

    # Standardization with the training statistics, as Model.output does.
    h = "input"
    if model.input_mean is not None:
        mean = constant("input_mean", model.input_mean)
        std = constant("input_std", model.input_std)
        nodes.append(helper.make_node("Sub", [h, mean], ["centred"], name="center"))
        nodes.append(helper.make_node("Div", ["centred", std], ["h_0"], name="scale"))
        h = "h_0"

    # f_k = h_k Ω_kᵀ + β_k for each layer; h_{k+1} = ReLU(f_k) between them.
    last = network.n_hidden_layers
    targets_standardized = model.target_mean is not None
    for k in range(last + 1):
        omega = constant(f"omega_{k}", to_numpy(network.omega[k]))
        beta = constant(f"beta_{k}", to_numpy(network.beta[k])[:, 0])
        f = f"f_{k}"
        if k == last and not targets_standardized:
            f = "output"
        nodes.append(
            helper.make_node("Gemm", [h, omega, beta], [f], name=f"layer_{k}", transB=1)
        )
        if k < last:
            h = f"h_{k + 1}"
            nodes.append(helper.make_node("Relu", [f], [h], name=f"relu_{k + 1}"))

    # Back to the targets' units: output = f_K · std + mean.
    if targets_standardized:
        scale = constant("target_std", model.target_std)
        shift = constant("target_mean", model.target_mean)
        nodes.append(helper.make_node("Mul", [f, scale], ["scaled"], name="unscale"))
        nodes.append(
            helper.make_node("Add", ["scaled", shift], ["output"], name="uncenter")
        )

    n_outputs = network.sizes[-1]
    outputs = [helper.make_tensor_value_info("output", element_type, ["N", n_outputs])]
    probability_node = {"cross-entropy": "Softmax", "binary-cross-entropy": "Sigmoid"}
    if model.loss in probability_node:
        operator = probability_node[model.loss]
        options = {"axis": 1} if operator == "Softmax" else {}
        nodes.append(
            helper.make_node(
                operator, ["output"], ["probabilities"], name="probabilities", **options
            )
        )
        outputs.append(
            helper.make_tensor_value_info(
                "probabilities", element_type, ["N", n_outputs]
            )
        )

    inputs = [
        helper.make_tensor_value_info("input", element_type, ["N", network.sizes[0]])
    ]
    graph = helper.make_graph(
        nodes, "chainrule", inputs, outputs, initializer=constants
    )
    proto = helper.make_model(
        graph,
        producer_name="chainrule",
        opset_imports=[helper.make_opsetid("", int(opset))],
        doc_string=(
            "A fully connected ReLU network exported by chainrule: "
            "f_k = β_k + Ω_k h_k, h_{k+1} = ReLU(f_k)."
        ),
    )
    # IR version 8 unless the opset needs a newer one (opset 19 on).
    proto.ir_version = max(
        IR_VERSION, helper.find_min_ir_version_for(list(proto.opset_import))
    )
    metadata = {
        "chainrule.sizes": json.dumps(network.sizes),
        "chainrule.loss": model.loss,
        "chainrule.task": model.task,
        "chainrule.standardized": json.dumps(model.input_mean is not None),
        "chainrule.targets_standardized": json.dumps(targets_standardized),
    }
    if model.classes is not None:
        metadata["chainrule.classes"] = json.dumps(_plain(model.classes))
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def supported_opsets():
    """The operator set versions export accepts, as a ``range``.

    From 13 (the oldest in which every node used here has its current
    form) to the newest the installed ``onnx`` package knows: a graph
    with a newer version would not pass ``onnx.checker`` nor load in a
    runtime.
    """
    onnx = _import_onnx()
    return range(MIN_OPSET, onnx.defs.onnx_opset_version() + 1)


def check_opset(opset):
    """Raise ``ValueError`` unless ``opset`` is in ``supported_opsets()``."""
    opsets = supported_opsets()
    if isinstance(opset, bool) or not isinstance(opset, int | np.integer):
        raise TypeError(f"opset must be an int, got {type(opset).__name__}")
    if int(opset) not in opsets:
        raise ValueError(
            f"opset must be from {opsets.start} to {opsets.stop - 1} (the newest "
            f"the installed onnx package knows), got {opset}"
        )


def save_onnx(model, path, opset=DEFAULT_OPSET):
    """Write the graph of ``to_onnx(model, opset)`` to ``path`` atomically.

    Returns
    -------
    onnx.ModelProto
        The graph written.
    """
    proto = to_onnx(model, opset)
    with atomic_write(path) as handle:
        handle.write(proto.SerializeToString())
    return proto


def _plain(classes):
    return [c.item() if isinstance(c, np.generic) else c for c in classes]
