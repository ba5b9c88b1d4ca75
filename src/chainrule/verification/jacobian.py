"""The explicit Jacobian form of backward pass 1, for teaching and checking.

For one example, the chain rule writes ∂ℓ/∂f_k as a product of Jacobian
matrices (section 7.4, before the text simplifies it)::

    ∂ℓ/∂f_k = ∂h_{k+1}/∂f_k · ∂f_{k+1}/∂h_{k+1} · … · ∂f_K/∂h_K · ∂ℓ/∂f_K

with ∂f_{j}/∂h_{j} = Ω_jᵀ and ∂h_{j+1}/∂f_j the diagonal matrix with the
ReLU indicator I[f_j ≥ 0] on its diagonal. This module builds every one of
those matrices in full and multiplies them out, and compares the result
with the pointwise form that ``Network.backward`` uses, which never forms
the diagonal matrix and reuses each ∂ℓ/∂f_{k+1} to get ∂ℓ/∂f_k.

Three ways of computing the same numbers, counted in scalar
multiplications:

| form | what it does |
| --- | --- |
| explicit chain | for each k, the whole product of full matrices, left to right |
| explicit with reuse | ∂ℓ/∂f_k = D_k Ω_{k+1}ᵀ ∂ℓ/∂f_{k+1}, full diagonal D_k |
| pointwise | ∂ℓ/∂f_k = I[f_k ≥ 0] ⊙ (Ω_{k+1}ᵀ ∂ℓ/∂f_{k+1}), as in training |

Nothing in training uses this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..activations import relu_derivative
from ..losses import get_loss
from .gradcheck import float64_copy, float64_data


@dataclass(frozen=True)
class JacobianForm:
    """∂ℓ/∂f_k for one example, from full Jacobians and pointwise.

    Attributes
    ----------
    dh_df : tuple of ndarray
        ∂h_{k+1}/∂f_k for k = 0 … K − 1: full diagonal matrices of shape
        (D_{k+1}, D_{k+1}).
    df_dh : tuple of ndarray
        ∂f_k/∂h_k = Ω_kᵀ for k = 1 … K, shape (D_k, D_{k+1});
        ``df_dh[0]`` is ∂f_1/∂h_1.
    explicit : tuple of ndarray
        ∂ℓ/∂f_k for k = 0 … K, shape (D_{k+1}, 1), each multiplied out
        from its own chain of full matrices.
    pointwise : tuple of ndarray
        The same from ``Network.backward``.
    max_abs_difference : float
        The largest |explicit − pointwise| over every entry.
    multiplications : dict of str to int
        Scalar multiplications of backward pass 1 by each form:
        "explicit chain", "explicit with reuse" and "pointwise".
    """

    dh_df: tuple
    df_dh: tuple
    explicit: tuple
    pointwise: tuple
    max_abs_difference: float
    multiplications: dict


def explicit_jacobian_form(network, x, y, loss):
    """Compute ∂ℓ/∂f_k for one example both as matrix products and pointwise.

    Parameters
    ----------
    network : Network
        Checked on a float64 copy; any subclass's ``backward`` is the
        pointwise form compared.
    x : array of shape (D_i, 1) or (D_i,)
        One example.
    y : array
        Its target: shape (D_o, 1) or (D_o,) for least squares and binary
        cross-entropy, a label of shape (1,) or a scalar for
        cross-entropy.
    loss : loss object or str

    Returns
    -------
    JacobianForm

    Notes
    -----
    ∂h_{k+1}/∂f_k uses the network's ReLU derivative at 0, as the
    pointwise form does.
    """
    if isinstance(loss, str):
        loss = get_loss(loss)
    checked = float64_copy(network)
    x, y = _one_example(x, y, loss)
    x, y = float64_data(x, y, loss)

    trace = checked.forward(x)
    dl_df_last = loss.gradient(trace.output, y)
    pointwise = checked.backward(trace, dl_df_last).dl_df
    last = checked.n_hidden_layers

    # The Jacobian factors, built in full.
    dh_df = []
    for k in range(last):
        diagonal = relu_derivative(trace.f[k], checked.relu_derivative_at_zero)
        dh_df.append(np.diag(diagonal[:, 0]))
    df_dh = [checked.omega[k].T for k in range(1, last + 1)]

    # Explicit chain: for each k, multiply its own product out, left to
    # right, the way the equation is written.
    counter = _Counter()
    explicit = [None] * (last + 1)
    explicit[last] = dl_df_last
    for k in range(last):
        product = dh_df[k]
        for j in range(k + 1, last + 1):
            product = counter.matmul(product, df_dh[j - 1])
            if j < last:
                product = counter.matmul(product, dh_df[j])
        explicit[k] = counter.matmul(product, dl_df_last)
    chain_count = counter.count

    # Explicit with reuse: the recursion, still with full diagonal matrices.
    counter = _Counter()
    reused = dl_df_last
    for k in range(last - 1, -1, -1):
        dl_dh = counter.matmul(df_dh[k], reused)
        reused = counter.matmul(dh_df[k], dl_dh)

    difference = max(
        float(np.max(np.abs(a - b))) for a, b in zip(explicit, pointwise, strict=True)
    )
    return JacobianForm(
        dh_df=tuple(dh_df),
        df_dh=tuple(df_dh),
        explicit=tuple(explicit),
        pointwise=tuple(np.asarray(g) for g in pointwise),
        max_abs_difference=difference,
        multiplications={
            "explicit chain": chain_count,
            "explicit with reuse": counter.count,
            "pointwise": pointwise_multiplications(checked.sizes),
        },
    )


def pointwise_multiplications(sizes):
    """Scalar multiplications of backward pass 1 for one example, pointwise.

    For k = K … 1: Ω_kᵀ ∂ℓ/∂f_k costs D_k · D_{k+1}, and the product with
    the indicator I[f_{k−1} ≥ 0] costs D_k.

    Parameters
    ----------
    sizes : sequence of int
        [D_i, D_1, …, D_K, D_o].

    Returns
    -------
    int
    """
    sizes = list(sizes)
    last = len(sizes) - 2
    return sum(sizes[k] * sizes[k + 1] + sizes[k] for k in range(1, last + 1))


class _Counter:
    """Multiplies matrices and counts scalar multiplications, m · n · p."""

    def __init__(self):
        self.count = 0

    def matmul(self, a, b):
        self.count += a.shape[0] * a.shape[1] * b.shape[1]
        return a @ b


def _one_example(x, y, loss):
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != 1:
        raise ValueError(
            "the explicit Jacobian form is for one example: x must have "
            f"shape (D_i, 1) or (D_i,), got {x.shape}; pass x[:, [n]] for "
            "example n"
        )
    y = np.asarray(y)
    if loss.name == "cross-entropy":
        y = y.reshape(1)
    elif y.ndim == 1:
        y = y[:, None]
    return x, y
