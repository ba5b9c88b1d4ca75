"""The math core's gradients against central differences (issue 2's test).

This test is deliberately independent of ``chainrule.verification``: it
writes its own central-difference loop, so that the core and the gradient
checker are each tested against an oracle that neither of them provides.

Every entry of every Ω_k and β_k is perturbed, for each loss, for networks
with K = 1 … 4 hidden layers and batches of 1 and 7 examples, in float64.

Points are chosen away from ReLU kinks: every hidden pre-activation is at
least ``KINK_MARGIN`` from 0, and the test also checks, for every single
perturbation, that no hidden pre-activation changed sign. Between kinks the
network output is linear in any one parameter, so the central difference
has no truncation error for least squares and a truncation error of order
STEP² for the two cross-entropies: the only error left is rounding, about
ε |ℓ| / STEP ≈ 1e-10.
"""

import numpy as np
import pytest

from chainrule import Network
from chainrule.losses import BinaryCrossEntropy, CrossEntropy, LeastSquares

# The central-difference step.
STEP = 1e-6

# An entry passes when |analytic − numeric| ≤ ATOL + RTOL · |numeric|.
RTOL = 1e-6
ATOL = 1e-8

# No hidden pre-activation may lie closer than this to 0.
KINK_MARGIN = 1e-3

# Networks with K = 1 … 4 hidden layers: [D_i, D_1, …, D_K, D_o].
SIZES = {
    1: [3, 5, 3],
    2: [3, 5, 4, 3],
    3: [3, 5, 4, 6, 3],
    4: [4, 3, 5, 4, 3, 3],
}

LOSSES = [LeastSquares(), BinaryCrossEntropy(), CrossEntropy()]


def _targets(loss, n_outputs, n_examples, rng):
    if isinstance(loss, CrossEntropy):
        return rng.integers(0, n_outputs, size=n_examples)
    if isinstance(loss, BinaryCrossEntropy):
        draw = rng.integers(0, 2, size=(n_outputs, n_examples))
        return draw.astype(np.float64)
    return rng.normal(size=(n_outputs, n_examples))


def _hidden_pattern(network, x):
    """The ReLU indicators I[f_k ≥ 0] of every hidden layer."""
    trace = network.forward(x)
    return [f >= 0 for f in trace.f[:-1]]


def _min_hidden_distance_to_zero(network, x):
    trace = network.forward(x)
    hidden = trace.f[:-1]
    if not hidden:
        return np.inf
    return min(float(np.min(np.abs(f))) for f in hidden)


def _network_away_from_kinks(sizes, n_examples, seed):
    """Draw networks and inputs until no pre-activation is near 0."""
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        network = Network.initialize(sizes, rng, dtype=np.float64)
        # Non-zero biases, so that β_k's gradient is tested at a general
        # point and not only at β = 0.
        for k in range(len(network.beta)):
            network.beta[k][:] = rng.normal(0.0, 0.5, network.beta[k].shape)
        x = rng.normal(size=(sizes[0], n_examples))
        if _min_hidden_distance_to_zero(network, x) >= KINK_MARGIN:
            return network, x, rng
    raise RuntimeError("no point away from kinks found in 1000 draws")


def _loss_at(network, x, y, loss):
    return float(loss.value(network.forward(x).output, y))


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: loss.name)
@pytest.mark.parametrize("n_examples", [1, 7])
@pytest.mark.parametrize("n_hidden", [1, 2, 3, 4])
def test_every_parameter_matches_central_differences(loss, n_examples, n_hidden):
    sizes = SIZES[n_hidden]
    seed = 1000 * n_hidden + n_examples
    network, x, rng = _network_away_from_kinks(sizes, n_examples, seed)
    y = _targets(loss, sizes[-1], n_examples, rng)
    assert network.n_hidden_layers == n_hidden

    trace = network.forward(x)
    gradients = network.backward(trace, loss.gradient(trace.output, y))
    pattern = _hidden_pattern(network, x)

    # The analytic gradient, flattened in the order of the parameter buffer.
    pieces = []
    for k in range(n_hidden + 1):
        pieces += [gradients.omega[k].ravel(), gradients.beta[k].ravel()]
    analytic = np.concatenate(pieces)
    assert analytic.shape == network.parameters.shape

    numeric = np.empty_like(analytic)
    theta = network.parameters
    for i in range(theta.size):
        original = theta[i]

        theta[i] = original + STEP
        loss_plus = _loss_at(network, x, y, loss)
        pattern_plus = _hidden_pattern(network, x)

        theta[i] = original - STEP
        loss_minus = _loss_at(network, x, y, loss)
        pattern_minus = _hidden_pattern(network, x)

        theta[i] = original
        numeric[i] = (loss_plus - loss_minus) / (2 * STEP)

        # The central difference is only valid if no ReLU changed state.
        for before, plus, minus in zip(
            pattern, pattern_plus, pattern_minus, strict=True
        ):
            assert np.array_equal(before, plus)
            assert np.array_equal(before, minus)

    # The loop restored every parameter exactly.
    restored = network.forward(x).output
    np.testing.assert_array_equal(restored, trace.output)

    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL)


def test_the_oracle_detects_a_wrong_gradient():
    """The loop above can fail: a gradient off by 1e-4 in one entry is caught."""
    sizes = SIZES[2]
    network, x, rng = _network_away_from_kinks(sizes, 7, seed=5)
    loss = LeastSquares()
    y = _targets(loss, sizes[-1], 7, rng)
    trace = network.forward(x)
    gradients = network.backward(trace, loss.gradient(trace.output, y))

    theta = network.parameters
    # Index of β_1's first entry in the flat buffer.
    index = network.omega[0].size + network.beta[0].size + network.omega[1].size
    original = theta[index]
    theta[index] = original + STEP
    loss_plus = _loss_at(network, x, y, loss)
    theta[index] = original - STEP
    loss_minus = _loss_at(network, x, y, loss)
    theta[index] = original
    numeric = (loss_plus - loss_minus) / (2 * STEP)

    analytic = float(gradients.beta[1][0, 0])
    # Tolerance: the same RTOL, ATOL as the test above.
    assert abs(analytic - numeric) <= ATOL + RTOL * abs(numeric)
    wrong = analytic + 1e-4
    assert abs(wrong - numeric) > ATOL + RTOL * abs(numeric)
