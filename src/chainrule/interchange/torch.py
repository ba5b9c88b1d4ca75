"""PyTorch interchange: a ``Network`` as ``torch.nn.Sequential`` and back.

A chainrule network f_k = β_k + Ω_k h_k, h_{k+1} = ReLU(f_k) is exactly a
PyTorch ``Sequential(Linear, ReLU, Linear, …, ReLU, Linear)``: ``Linear``
stores its weight as (out_features, in_features), the orientation of
Ω_k, so ``weight`` is Ω_k and ``bias`` is β_k as a vector. No transpose
is needed in either direction.

PyTorch is imported when a function here is called; ``chainrule`` itself
does not need it.

Notes
-----
The forward pass is the same in both libraries, and outputs agree to the
dtype's rounding. Training continues the same way only with
``relu_derivative_at_zero=0.0``, PyTorch's convention for the derivative
of ReLU at exactly 0; the book's (and chainrule's default) is 1.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..arrays import to_numpy
from ..network import Network

__all__ = ["from_state_dict", "from_torch", "to_state_dict", "to_torch"]


def _import_torch():
    try:
        import torch
    except ImportError:
        raise ImportError(
            "PyTorch interchange needs PyTorch: pip install torch==2.13.0 "
            "(or pip install 'chainrule[torch]')"
        ) from None
    return torch


def to_torch(network):
    """Return a ``torch.nn.Sequential`` that computes ``network``.

    Parameters
    ----------
    network : Network

    Returns
    -------
    torch.nn.Sequential
        ``Linear(D_0, D_1), ReLU(), …, ReLU(), Linear(D_K, D_o)`` with
        weight Ω_k and bias β_k, on the CPU, in the network's dtype
        (float32 or float64). Its input is rows (N, D_i), as PyTorch
        expects, and its output rows (N, D_o).

    Notes
    -----
    The parameters are copied: changing one model leaves the other as it
    was.
    """
    torch = _import_torch()
    layers = []
    last = network.n_hidden_layers
    for k in range(last + 1):
        omega = to_numpy(network.omega[k])
        beta = to_numpy(network.beta[k])
        fan_out, fan_in = omega.shape
        dtype = _torch_dtype(omega.dtype, torch)
        linear = torch.nn.Linear(fan_in, fan_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(omega)))
            linear.bias.copy_(torch.from_numpy(np.array(beta[:, 0])))
        layers.append(linear)
        if k < last:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def to_state_dict(network):
    """Return the ``state_dict`` of ``to_torch(network)``.

    Its keys are ``"0.weight"``, ``"0.bias"``, ``"2.weight"``, … (the
    ``Linear`` positions in the ``Sequential``); save it with
    ``torch.save`` and load it into the same ``Sequential``.
    """
    return to_torch(network).state_dict()


def from_torch(module, relu_derivative_at_zero=1.0):
    """Return the ``Network`` that a PyTorch module of Linear and ReLU computes.

    Parameters
    ----------
    module : torch.nn.Sequential or torch.nn.Linear
        ``Linear, ReLU, Linear, …, ReLU, Linear``: Linear layers joined by
        one ReLU each, starting and ending with a Linear. A single
        ``Linear`` is a network with no hidden layer. A Linear without a
        bias gets β_k = 0.
    relu_derivative_at_zero : float in [0, 1], default 1.0
        For the imported network's backward pass; 0.0 continues training
        exactly as PyTorch would.

    Returns
    -------
    Network
        NumPy parameters in the module's dtype (float32 or float64).

    Raises
    ------
    ValueError
        If the module is any other architecture; the message names the
        first module that does not fit and where it sits.
    TypeError
        If ``module`` is not a PyTorch module.
    """
    torch = _import_torch()
    nn = torch.nn
    if isinstance(module, nn.Linear):
        children = [("0", module)]
    elif isinstance(module, nn.Sequential):
        children = list(module.named_children())
    elif isinstance(module, nn.Module):
        raise ValueError(
            f"cannot import a {type(module).__name__}: chainrule imports a "
            "torch.nn.Sequential of Linear and ReLU modules (or a single "
            "Linear), whose order of operations is its list of children"
        )
    else:
        raise TypeError(f"expected a torch.nn.Sequential, got {type(module).__name__}")
    if not children:
        raise ValueError("cannot import an empty torch.nn.Sequential")

    omega, beta = [], []
    for position, (name, child) in enumerate(children):
        expect_linear = position % 2 == 0
        if expect_linear and isinstance(child, nn.Linear):
            omega.append(_numpy(child.weight))
            if child.bias is None:
                beta.append(np.zeros(child.out_features, dtype=omega[-1].dtype))
            else:
                beta.append(_numpy(child.bias))
            continue
        if not expect_linear and type(child) is nn.ReLU:
            continue
        expected = "Linear" if expect_linear else "ReLU"
        raise ValueError(
            f"cannot import module {name!r} ({_describe(child)}) at position "
            f"{position}: chainrule networks are Linear layers joined by one "
            f"ReLU each, so a {expected} belongs there"
        )
    if len(children) % 2 == 0:
        name, child = children[-1]
        raise ValueError(
            f"cannot import module {name!r} ({_describe(child)}) at the end: "
            "a chainrule network ends with a Linear layer, its output f_K"
        )
    return Network(omega, beta, relu_derivative_at_zero)


def from_state_dict(state_dict, relu_derivative_at_zero=1.0):
    """Return the ``Network`` stored in a ``Sequential``'s ``state_dict``.

    Parameters
    ----------
    state_dict : mapping of str to tensor
        ``"<name>.weight"`` (and optionally ``"<name>.bias"``) for each
        Linear layer, in order, as ``to_state_dict`` or
        ``Sequential.state_dict()`` write them. ReLU is assumed between
        consecutive layers: a state dict does not record activations.
    relu_derivative_at_zero : float in [0, 1], default 1.0

    Returns
    -------
    Network

    Raises
    ------
    ValueError
        If a key is neither a weight nor a bias, a weight is not 2-D, a
        bias has no weight, or the shapes do not chain.
    """
    layers = OrderedDict()
    for key, tensor in state_dict.items():
        prefix, _, kind = key.rpartition(".")
        if kind not in ("weight", "bias") or not prefix:
            raise ValueError(
                f"cannot import state_dict entry {key!r}: expected only "
                "'<layer>.weight' and '<layer>.bias' entries of Linear layers"
            )
        layers.setdefault(prefix, {})[kind] = _numpy(tensor)
    if not layers:
        raise ValueError("the state_dict is empty")
    omega, beta = [], []
    for prefix, entries in layers.items():
        if "weight" not in entries:
            raise ValueError(f"layer {prefix!r} has a bias but no weight")
        weight = entries["weight"]
        if weight.ndim != 2:
            raise ValueError(
                f"{prefix}.weight has shape {weight.shape}; a Linear weight "
                "is 2-D (out_features, in_features)"
            )
        omega.append(weight)
        beta.append(entries.get("bias", np.zeros(weight.shape[0], weight.dtype)))
    return Network(omega, beta, relu_derivative_at_zero)


def _numpy(tensor):
    """A NumPy copy of a tensor (from any device, without autograd)."""
    return tensor.detach().cpu().numpy().copy()


def _describe(module):
    text = repr(module).splitlines()[0]
    return text if len(text) <= 60 else type(module).__name__


def _torch_dtype(dtype, torch):
    dtypes = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
    try:
        return dtypes[np.dtype(dtype)]
    except KeyError:
        raise TypeError(
            f"PyTorch export supports float32 and float64 networks, got {dtype}"
        ) from None
