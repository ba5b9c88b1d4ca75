"""Which array library an input belongs to, and a few helpers around it.

The math core is written against the Python array API standard. It never
imports NumPy's functions directly: it asks ``namespace_of`` for the
namespace of its inputs (NumPy, PyTorch, CuPy, array-api-strict, ...)
through ``array-api-compat`` and calls that.
"""

from __future__ import annotations

import array_api_compat
import numpy as np


def namespace_of(*arrays):
    """Return the array API namespace shared by ``arrays``.

    Raises
    ------
    TypeError
        If the arrays come from different libraries.
    """
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError as error:
        raise TypeError(
            "the arrays given come from different array libraries "
            f"({error}); convert them all to one library first"
        ) from None


def is_numpy(xp) -> bool:
    """True when ``xp`` is NumPy's namespace, where NumPy-only tricks apply."""
    return array_api_compat.is_numpy_namespace(xp)


def to_numpy(array) -> np.ndarray:
    """Copy any supported array to a NumPy array on the host."""
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "detach"):
        return array.detach().cpu().numpy()
    if hasattr(array, "get"):
        return array.get()
    return np.asarray(array)


def dtype_name(dtype) -> str:
    """A short printable name for a dtype of any array library."""
    text = str(dtype)
    return text.rsplit(".", 1)[-1]
