"""Move a network or an array to another array library (NumPy, PyTorch, ...).

The math core runs on any array library that follows the array API
standard; it takes the library from its inputs. These helpers copy
parameters and data from one library to another, so that the same
hand-written backprop runs, for example, on PyTorch tensors on the CPU
(MKL) or on a GPU, with no autograd involved.

>>> import numpy as np, torch
>>> from chainrule import Network
>>> from chainrule.backends import network_to
>>> network = Network.initialize([4, 3, 2], rng=0)
>>> on_torch = network_to(network, torch, device="cpu")
>>> type(on_torch.parameters).__name__
'Tensor'
"""

from __future__ import annotations

import array_api_compat
import numpy as np

from .arrays import to_numpy
from .network import Network


def _namespace(library):
    """The array namespace for a module, a namespace or a library's name."""
    if isinstance(library, str):
        name = library.lower()
        if name == "numpy":
            return np
        if name == "torch":
            import torch

            return torch
        raise ValueError(
            f"unknown array library {library!r}; pass 'numpy', 'torch' or "
            "the library's module (e.g. cupy)"
        )
    if library is None:
        raise TypeError(
            "library must be a module such as numpy or torch, or its name; got None"
        )
    return library


def array_to(array, library, device=None):
    """Copy ``array`` into ``library`` (a module or its name), on ``device``.

    Parameters
    ----------
    array : array of any supported library
    library : module or str
        ``numpy``, ``torch``, ``cupy`` or any array API namespace, or the
        name "numpy" or "torch".
    device : optional
        The device to put the copy on, in the target library's terms
        (e.g. "cpu" or "cuda:0" for PyTorch). Ignored for NumPy.

    Returns
    -------
    array
        A new array of the same dtype and values, owned by ``library``.
    """
    host = np.array(to_numpy(array), copy=True)
    xp = _namespace(library)
    if xp is np:
        return host
    if getattr(xp, "__name__", "") == "torch":
        return xp.asarray(host, device=device)
    xp = array_api_compat.array_namespace(xp.asarray(host[:0]))
    if device is None:
        return xp.asarray(host)
    return xp.asarray(host, device=device)


def network_to(network, library, device=None):
    """Copy ``network`` into another array library.

    Parameters
    ----------
    network : Network
    library : module or str
        Where the copy's parameters live: ``numpy``, ``torch``, ``cupy``,
        or the name "numpy" or "torch".
    device : optional
        The target device in the library's terms (e.g. "cpu", "cuda").

    Returns
    -------
    Network
        A new network with the same parameters, dtype and ReLU convention,
        whose flat ``parameters`` buffer belongs to ``library``. Train it
        with data from the same library (see ``array_to``).
    """
    omega = [array_to(w, library, device) for w in network.omega]
    beta = [array_to(b, library, device) for b in network.beta]
    return Network(omega, beta, network.relu_derivative_at_zero)
