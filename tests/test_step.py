"""The fast training step against the public forward/backward and losses.

Oracle: ``Network.forward``, ``loss.value``, ``loss.gradient`` and
``Network.backward`` on the same network and batch. ``TrainingStep``
computes the same equations with reused buffers, boolean masks, a
matrix-vector product for ∂ℓ/∂β_k and an in-place loss gradient, so it
must agree to rounding:

- float64: rtol 1e-12, atol 1e-14 (the operations differ only in
  summation order, ~1e-16 relative per operation);
- float32: rtol 2e-4, atol 1e-6 (summation order again, now ~6e-8 per
  operation, accumulated over up to a few hundred terms per product).

Each case runs on NumPy and on PyTorch tensors (skipped with a reason
when PyTorch is not installed), with the book's ReLU convention (1 at 0)
and PyTorch's (0 at 0), and with two batch sizes in a row, as the last,
partial batch of an epoch has, so buffers of both sizes are exercised.
"""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Network
from chainrule.backends import array_to, network_to
from chainrule.losses import BinaryCrossEntropy, CrossEntropy, LeastSquares
from chainrule.training.step import TrainingStep

LOSSES = [LeastSquares(), BinaryCrossEntropy(), CrossEntropy()]
SIZES = [5, 8, 7, 6, 4]
TOLERANCE = {
    np.float64: dict(rtol=1e-12, atol=1e-14),
    np.float32: dict(rtol=2e-4, atol=1e-6),
}


def _library(name):
    if name == "torch":
        return pytest.importorskip(
            "torch", reason="PyTorch is not installed; the torch path is untested"
        )
    return np


def _targets(loss, rng, n_outputs, n_examples, dtype):
    if isinstance(loss, CrossEntropy):
        return rng.integers(0, n_outputs, n_examples)
    if isinstance(loss, BinaryCrossEntropy):
        return rng.integers(0, 2, (n_outputs, n_examples)).astype(dtype)
    return rng.normal(size=(n_outputs, n_examples)).astype(dtype)


def _reference(network, loss, x, y):
    trace = network.forward(x)
    value = float(loss.value(trace.output, y))
    gradients = network.backward(trace, loss.gradient(trace.output, y))
    return value, gradients


def _numpy(array):
    if hasattr(array, "detach"):
        return array.detach().cpu().numpy()
    return np.asarray(array)


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("at_zero", [1.0, 0.0])
@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: loss.name)
def test_step_matches_forward_backward(library, dtype, at_zero, loss):
    xp = _library(library)
    rng = np.random.default_rng(7)
    reference = Network.initialize(
        SIZES, rng, dtype=dtype, relu_derivative_at_zero=at_zero
    )
    network = network_to(reference, xp)
    step = TrainingStep(network, loss)
    assert step.path == library
    tolerance = TOLERANCE[dtype]

    # A full batch, then a smaller last batch, then a full one again.
    for n_examples in (9, 4, 9):
        # Rows of a larger block, transposed: the layout the loop passes.
        rows = rng.normal(size=(n_examples + 3, SIZES[0])).astype(dtype)
        x = rows[1 : n_examples + 1].T
        y = _targets(loss, rng, SIZES[-1], n_examples, dtype)
        expected_value, expected = _reference(reference, loss, x, y)

        value = step(array_to(rows, xp)[1 : n_examples + 1].T, array_to(y, xp))

        assert isinstance(value, float)
        assert value == pytest.approx(expected_value, rel=tolerance["rtol"])
        for k in range(len(SIZES) - 1):
            np.testing.assert_allclose(
                _numpy(step.grad_omega[k]), expected.omega[k], **tolerance
            )
            np.testing.assert_allclose(
                _numpy(step.grad_beta[k]), expected.beta[k], **tolerance
            )
        # The pre-activations of the last batch are kept intact.
        kept = step.pre_activations(n_examples)
        trace = reference.forward(x)
        for k, f in enumerate(kept):
            np.testing.assert_allclose(_numpy(f), trace.f[k], **tolerance)
        assert step.last_n_examples == n_examples


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_buffer_views_and_dtype(library, dtype):
    xp = _library(library)
    rng = np.random.default_rng(3)
    network = network_to(Network.initialize(SIZES, rng, dtype=dtype), xp)
    step = TrainingStep(network, CrossEntropy())
    x = array_to(rng.normal(size=(SIZES[0], 6)).astype(dtype), xp)
    y = array_to(rng.integers(0, SIZES[-1], 6), xp)
    step(x, y)

    # No silent upcast: the gradient keeps the network's dtype, and the
    # per-layer views share the flat buffer's memory.
    assert step.gradient.dtype == network.parameters.dtype
    flat = _numpy(step.gradient)
    start = 0
    for k in range(len(SIZES) - 1):
        n_omega = SIZES[k] * SIZES[k + 1]
        np.testing.assert_array_equal(
            flat[start : start + n_omega].reshape(SIZES[k + 1], SIZES[k]),
            _numpy(step.grad_omega[k]),
        )
        start += n_omega
        np.testing.assert_array_equal(
            flat[start : start + SIZES[k + 1]], _numpy(step.grad_beta[k])[:, 0]
        )
        start += SIZES[k + 1]
    assert start == flat.size


def test_pre_activations_exactly_zero_follow_the_convention():
    # A hidden unit whose pre-activation is exactly 0 for every example:
    # Ω_0's first row and β_0's first entry are 0. With the book's
    # convention its gradient flows (derivative 1); with PyTorch's it
    # does not (derivative 0): then its entry is exactly 0 (tolerance 0).
    rng = np.random.default_rng(5)
    for at_zero in (1.0, 0.0):
        network = Network.initialize(
            [3, 4, 2], rng, dtype=np.float64, relu_derivative_at_zero=at_zero
        )
        network.omega[0][0, :] = 0.0
        x = rng.normal(size=(3, 5))
        y = rng.normal(size=(2, 5))
        step = TrainingStep(network, LeastSquares())
        step(x, y)
        _, expected = _reference(network, LeastSquares(), x, y)
        np.testing.assert_allclose(
            step.grad_beta[0], expected.beta[0], **TOLERANCE[np.float64]
        )
        flows = step.grad_beta[0][0, 0] != 0.0
        assert flows == (at_zero == 1.0)
        assert flows == (expected.beta[0][0, 0] != 0.0)


def test_other_relu_conventions_take_the_portable_path():
    rng = np.random.default_rng(11)
    network = Network.initialize(
        SIZES, rng, dtype=np.float64, relu_derivative_at_zero=0.5
    )
    step = TrainingStep(network, LeastSquares())
    assert step.path == "portable"
    x = rng.normal(size=(SIZES[0], 6))
    y = rng.normal(size=(SIZES[-1], 6))
    value = step(x, y)
    expected_value, expected = _reference(network, LeastSquares(), x, y)
    assert value == pytest.approx(expected_value, rel=1e-12)
    for k in range(len(SIZES) - 1):
        np.testing.assert_allclose(
            step.grad_omega[k], expected.omega[k], rtol=1e-12, atol=1e-14
        )
    assert step.pre_activations(6) is None


def test_float32_step_stays_float32_and_finite_on_large_logits():
    # Logits of ±1e4: the shifted log-softmax keeps the loss and the
    # gradient finite, with no float64 temporaries leaking into buffers.
    network = Network(
        [np.array([[1e4], [-1e4], [0.0]], dtype=np.float32)],
        [np.zeros(3, dtype=np.float32)],
    )
    step = TrainingStep(network, CrossEntropy())
    x = np.ones((1, 4), dtype=np.float32)
    y = np.array([0, 1, 2, 0])
    value = step(x, y)
    assert np.isfinite(value)
    assert step.gradient.dtype == np.float32
    assert np.all(np.isfinite(step.gradient))
    # Examples labelled 1 and 2 lose about 2e4 and 1e4; the others ~0.
    assert value == pytest.approx((2e4 + 1e4) / 4, rel=1e-6)
