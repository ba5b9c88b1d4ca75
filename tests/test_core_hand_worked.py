"""A tiny network whose every number is worked out by hand.

The network has two inputs, two hidden layers of two units and one output
(sizes [2, 2, 2, 1]), least-squares loss, one example:

    x   = (1, 2)ᵀ,  y = 1
    Ω_0 = [[1, −1], [0.5, 1]],  β_0 = (0.5, −1)ᵀ
    Ω_1 = [[1, 2], [−1, 1]],    β_1 = (0, 0.5)ᵀ
    Ω_2 = [[1, −2]],            β_2 = (0.25)

Forward pass:

    f_0 = β_0 + Ω_0 x = (0.5 + 1 − 2, −1 + 0.5 + 2) = (−0.5, 1.5)
    h_1 = a[f_0]      = (0, 1.5)
    f_1 = β_1 + Ω_1 h_1 = (0 + 0 + 3, 0.5 − 0 + 1.5) = (3, 2)
    h_2 = a[f_1]      = (3, 2)
    f_2 = β_2 + Ω_2 h_2 = 0.25 + 3 − 4 = −0.75
    ℓ   = (f_2 − y)² = (−1.75)² = 3.0625

Backward pass 1:

    ∂ℓ/∂f_2 = 2 (f_2 − y) = −3.5
    ∂ℓ/∂h_2 = Ω_2ᵀ ∂ℓ/∂f_2 = (−3.5, 7)
    ∂ℓ/∂f_1 = I[f_1 ≥ 0] ⊙ ∂ℓ/∂h_2 = (1, 1) ⊙ (−3.5, 7) = (−3.5, 7)
    ∂ℓ/∂h_1 = Ω_1ᵀ ∂ℓ/∂f_1 = (1·−3.5 + −1·7, 2·−3.5 + 1·7) = (−10.5, 0)
    ∂ℓ/∂f_0 = I[f_0 ≥ 0] ⊙ ∂ℓ/∂h_1 = (0, 1) ⊙ (−10.5, 0) = (0, 0)

Backward pass 2:

    ∂ℓ/∂β_2 = −3.5,           ∂ℓ/∂Ω_2 = ∂ℓ/∂f_2 h_2ᵀ = [[−10.5, −7]]
    ∂ℓ/∂β_1 = (−3.5, 7),      ∂ℓ/∂Ω_1 = [[0, −5.25], [0, 10.5]]
    ∂ℓ/∂β_0 = (0, 0),         ∂ℓ/∂Ω_0 = [[0, 0], [0, 0]]

Layer 0's gradient is zero: its first unit is off (f = −0.5) and its
second unit's downstream gradient ∂ℓ/∂h_1[1] cancels to exactly 0.
"""

import numpy as np
import pytest

from chainrule import Network
from chainrule.losses import LeastSquares

# Every number above is a short binary fraction: float64 is exact.
EXACT = dict(rtol=0, atol=0)


@pytest.fixture
def network():
    omega = [
        np.array([[1.0, -1.0], [0.5, 1.0]]),
        np.array([[1.0, 2.0], [-1.0, 1.0]]),
        np.array([[1.0, -2.0]]),
    ]
    beta = [np.array([0.5, -1.0]), np.array([0.0, 0.5]), np.array([0.25])]
    return Network(omega, beta)


X = np.array([[1.0], [2.0]])
Y = np.array([[1.0]])


def test_forward_values(network):
    trace = network.forward(X)
    np.testing.assert_allclose(trace.f[0], [[-0.5], [1.5]], **EXACT)
    np.testing.assert_allclose(trace.h[1], [[0.0], [1.5]], **EXACT)
    np.testing.assert_allclose(trace.f[1], [[3.0], [2.0]], **EXACT)
    np.testing.assert_allclose(trace.h[2], [[3.0], [2.0]], **EXACT)
    np.testing.assert_allclose(trace.f[2], [[-0.75]], **EXACT)
    assert trace.h[0] is X
    assert float(LeastSquares().value(trace.output, Y)) == 3.0625


def test_backward_values(network):
    loss = LeastSquares()
    trace = network.forward(X)
    grads = network.backward(trace, loss.gradient(trace.output, Y))

    np.testing.assert_allclose(grads.dl_df[2], [[-3.5]], **EXACT)
    np.testing.assert_allclose(grads.dl_dh[2], [[-3.5], [7.0]], **EXACT)
    np.testing.assert_allclose(grads.dl_df[1], [[-3.5], [7.0]], **EXACT)
    np.testing.assert_allclose(grads.dl_dh[1], [[-10.5], [0.0]], **EXACT)
    np.testing.assert_allclose(grads.dl_df[0], [[0.0], [0.0]], **EXACT)

    np.testing.assert_allclose(grads.beta[2], [[-3.5]], **EXACT)
    np.testing.assert_allclose(grads.omega[2], [[-10.5, -7.0]], **EXACT)
    np.testing.assert_allclose(grads.beta[1], [[-3.5], [7.0]], **EXACT)
    np.testing.assert_allclose(grads.omega[1], [[0.0, -5.25], [0.0, 10.5]], **EXACT)
    np.testing.assert_allclose(grads.beta[0], [[0.0], [0.0]], **EXACT)
    np.testing.assert_allclose(grads.omega[0], np.zeros((2, 2)), **EXACT)
    assert grads.dl_dh[0] is None


def test_input_gradient_on_request(network):
    loss = LeastSquares()
    trace = network.forward(X)
    grads = network.backward(trace, loss.gradient(trace.output, Y), input_gradient=True)
    # ∂ℓ/∂h_0 = Ω_0ᵀ ∂ℓ/∂f_0 = Ω_0ᵀ (0, 0) = (0, 0)
    np.testing.assert_allclose(grads.dl_dh[0], [[0.0], [0.0]], **EXACT)
