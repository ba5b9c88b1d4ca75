"""The explicit Jacobian form equals the pointwise form used in training."""

import numpy as np
import pytest

from chainrule import Network
from chainrule.verification.jacobian import (
    explicit_jacobian_form,
    pointwise_multiplications,
)

LOSS_NAMES = ["least-squares", "binary-cross-entropy", "cross-entropy"]


def _example(sizes, loss_name, seed):
    rng = np.random.default_rng(seed)
    network = Network.initialize(sizes, rng, dtype=np.float64)
    for beta in network.beta:
        beta[:] = rng.normal(0.0, 0.3, beta.shape)
    x = rng.normal(size=(sizes[0], 1))
    if loss_name == "cross-entropy":
        y = rng.integers(0, sizes[-1], size=1)
    elif loss_name == "binary-cross-entropy":
        y = rng.integers(0, 2, size=(sizes[-1], 1)).astype(np.float64)
    else:
        y = rng.normal(size=(sizes[-1], 1))
    return network, x, y


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
@pytest.mark.parametrize(
    "sizes", [[3, 4], [3, 5, 2], [4, 6, 5, 3], [40, 30, 30, 30, 10]]
)
def test_explicit_product_equals_pointwise(sizes, loss_name):
    network, x, y = _example(sizes, loss_name, seed=len(sizes))
    form = explicit_jacobian_form(network, x, y, loss_name)

    assert len(form.explicit) == len(sizes) - 1
    for explicit, pointwise in zip(form.explicit, form.pointwise, strict=True):
        assert explicit.shape == pointwise.shape
        # Tolerance: the two forms sum in different orders; float64
        # rounding differs by a few ulps of the largest term.
        np.testing.assert_allclose(explicit, pointwise, rtol=1e-12, atol=1e-15)


def test_the_factors_are_full_diagonal_matrices_and_omega_transposed():
    network, x, y = _example([3, 5, 4, 2], "least-squares", seed=1)
    form = explicit_jacobian_form(network, x, y, "least-squares")
    trace = network.forward(x)

    for k, dh_df in enumerate(form.dh_df):
        expected = np.diag((trace.f[k][:, 0] >= 0).astype(np.float64))
        np.testing.assert_array_equal(dh_df, expected)
    for k, df_dh in enumerate(form.df_dh, start=1):
        np.testing.assert_array_equal(df_dh, network.omega[k].T)


def test_the_relu_convention_at_zero_is_the_networks():
    """A pre-activation exactly 0 enters the diagonal as a'(0)."""
    for derivative_at_zero in (1.0, 0.0):
        network, x, y = _example([3, 4, 2], "least-squares", seed=2)
        network.relu_derivative_at_zero = derivative_at_zero
        network.beta[0][:] = 0.0
        x[:] = 0.0
        form = explicit_jacobian_form(network, x, y, "least-squares")

        np.testing.assert_array_equal(np.diag(form.dh_df[0]), derivative_at_zero)
        np.testing.assert_allclose(
            form.explicit[0], form.pointwise[0], rtol=1e-12, atol=1e-15
        )


def test_multiplication_counts_match_a_hand_count():
    """sizes [2, 3, 4, 1], K = 2, counted by hand.

    Pointwise: Ω_2ᵀ v is 4·1, the indicator 4; Ω_1ᵀ v is 3·4, the
    indicator 3: 4 + 4 + 12 + 3 = 23.
    Explicit with reuse: Ω_2ᵀ v 4, diag(4×4) v 16, Ω_1ᵀ v 12, diag(3×3) v
    9: 41.
    Explicit chain: for ∂ℓ/∂f_0, (3×3)(3×4) 36, (3×4)(4×4) 48,
    (3×4)(4×1) 12, (3×1)(1×1) 3; for ∂ℓ/∂f_1, (4×4)(4×1) 16,
    (4×1)(1×1) 4: 119.
    """
    network, x, y = _example([2, 3, 4, 1], "least-squares", seed=3)
    form = explicit_jacobian_form(network, x, y, "least-squares")

    assert form.multiplications == {
        "explicit chain": 119,
        "explicit with reuse": 41,
        "pointwise": 23,
    }
    assert pointwise_multiplications([2, 3, 4, 1]) == 23


def test_a_one_dimensional_example_is_accepted():
    network, x, y = _example([3, 5, 2], "cross-entropy", seed=4)
    form = explicit_jacobian_form(network, x[:, 0], int(y[0]), "cross-entropy")
    np.testing.assert_allclose(
        form.explicit[0], form.pointwise[0], rtol=1e-12, atol=1e-15
    )


def test_a_batch_is_refused():
    network, _, _ = _example([3, 5, 2], "least-squares", seed=5)
    with pytest.raises(ValueError, match="one example"):
        explicit_jacobian_form(
            network, np.zeros((3, 2)), np.zeros((2, 2)), "least-squares"
        )
