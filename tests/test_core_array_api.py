"""The core under a second array namespace, so no NumPy-only call slips in.

array-api-strict implements the standard and nothing else: a call that
only NumPy has fails here.
"""

import numpy as np
import pytest

from chainrule import Network
from chainrule.losses import BinaryCrossEntropy, CrossEntropy, LeastSquares

xps = pytest.importorskip("array_api_strict")


def _targets(loss, rng, n_outputs, n_examples):
    if isinstance(loss, CrossEntropy):
        return rng.integers(0, n_outputs, n_examples)
    if isinstance(loss, BinaryCrossEntropy):
        return rng.integers(0, 2, (n_outputs, n_examples)).astype(float)
    return rng.normal(size=(n_outputs, n_examples))


@pytest.mark.parametrize("loss", [LeastSquares(), BinaryCrossEntropy(), CrossEntropy()])
@pytest.mark.parametrize("at_zero", [1.0, 0.0, 0.5])
def test_strict_namespace_matches_numpy(loss, at_zero):
    rng = np.random.default_rng(0)
    reference = Network.initialize(
        [4, 6, 5, 3], rng, dtype=np.float64, relu_derivative_at_zero=at_zero
    )
    x = rng.normal(size=(4, 7))
    y = _targets(loss, rng, 3, 7)

    trace = reference.forward(x)
    expected = reference.backward(
        trace, loss.gradient(trace.output, y), input_gradient=True
    )

    strict = Network(
        [xps.asarray(w) for w in reference.omega],
        [xps.asarray(b) for b in reference.beta],
        relu_derivative_at_zero=at_zero,
    )
    strict_trace = strict.forward(xps.asarray(x))
    y_strict = xps.asarray(y)
    value = loss.value(strict_trace.output, y_strict)
    grads = strict.backward(
        strict_trace,
        loss.gradient(strict_trace.output, y_strict),
        input_gradient=True,
    )

    # Same operations in the same order on the same float64 values.
    tolerance = dict(rtol=1e-13, atol=1e-15)
    assert float(value) == pytest.approx(float(loss.value(trace.output, y)))
    for k in range(3):
        np.testing.assert_allclose(
            np.asarray(grads.omega[k]), expected.omega[k], **tolerance
        )
        np.testing.assert_allclose(
            np.asarray(grads.beta[k]), expected.beta[k], **tolerance
        )
        np.testing.assert_allclose(
            np.asarray(grads.dl_dh[k]), expected.dl_dh[k], **tolerance
        )
