"""The ReLU activation a[·] and its derivative, as indicator vectors.

The derivative of ReLU is a diagonal matrix ∂h/∂f; chainrule never builds
it. It keeps only the diagonal, the indicator I[f ≥ 0], and multiplies by
it pointwise, as section 7.4 recommends.
"""

from __future__ import annotations

from .arrays import namespace_of


def relu(f):
    """Return a[f] = max(f, 0), elementwise, as a new array."""
    xp = namespace_of(f)
    # A 0-d zero broadcasts against f: one pass, one new array.
    return xp.maximum(f, xp.zeros((), dtype=f.dtype))


def relu_derivative(f, derivative_at_zero=1.0):
    """Return the diagonal of ∂h/∂f for h = a[f], as an array shaped like f.

    Parameters
    ----------
    f : array of shape (D, N)
        Pre-activations.
    derivative_at_zero : float in [0, 1]
        The value used where f is exactly 0.

    Returns
    -------
    array of shape (D, N), dtype of f
        1 where f > 0, 0 where f < 0, ``derivative_at_zero`` where f = 0.

    Notes
    -----
    The book's text says the diagonal terms are "zero everywhere f is less
    than zero and one otherwise", so the default is 1 at zero. PyTorch and
    JAX use 0 there; pass ``derivative_at_zero=0.0`` to match them.
    """
    xp = namespace_of(f)
    if derivative_at_zero == 1.0:
        return xp.astype(f >= 0, f.dtype)
    indicator = xp.astype(f > 0, f.dtype)
    if derivative_at_zero != 0.0:
        at_zero = xp.astype(f == 0, f.dtype)
        indicator = indicator + derivative_at_zero * at_zero
    return indicator
