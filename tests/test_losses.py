"""Loss values and gradients, including extreme logits."""

import math

import numpy as np
import pytest

from chainrule.losses import BinaryCrossEntropy, CrossEntropy, LeastSquares


def test_least_squares_matches_the_book_without_a_half():
    output = np.array([[1.0, 2.0], [0.0, 0.0]])
    y = np.array([[0.0, 0.0], [1.0, 1.0]])
    # per example: (1 + 1) and (4 + 1); mean over N = 2 is 3.5
    assert LeastSquares().value(output, y) == 3.5
    np.testing.assert_array_equal(LeastSquares().gradient(output, y), (output - y))


@pytest.mark.parametrize("n_classes", [2, 10, 1000])
def test_equal_logits_give_log_of_the_class_count(n_classes):
    output = np.full((n_classes, 3), 7.0)
    y = np.array([0, 1, n_classes - 1])
    value = CrossEntropy().value(output, y)
    assert value == pytest.approx(math.log(n_classes), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_at_extreme_logits(dtype):
    output = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=dtype)
    y = np.array([1, 1, 0])
    loss = CrossEntropy()
    value = loss.value(output, y)
    gradient = loss.gradient(output, y)
    # example 0 is wrong by 2e4, example 1 right, example 2 at log 2
    assert value == pytest.approx((2e4 + 0.0 + math.log(2)) / 3, rel=1e-6)
    assert np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient[:, 0], [1 / 3, -1 / 3], rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_is_finite_at_extreme_logits(dtype):
    output = np.array([[1e4, -1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([[1.0, 0.0, 0.0, 1.0]], dtype=dtype)
    loss = BinaryCrossEntropy()
    value = loss.value(output, y)
    gradient = loss.gradient(output, y)
    # two right (loss 0) and two wrong by 1e4 each: mean 2e4 / 4
    assert value == pytest.approx(5e3, rel=1e-6)
    np.testing.assert_allclose(gradient, [[0.0, 0.0, 0.25, -0.25]], rtol=0, atol=1e-7)


def test_binary_cross_entropy_at_zero_logit_is_log_two():
    output = np.zeros((3, 2))
    y = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    # three outputs of log 2 per example
    value = BinaryCrossEntropy().value(output, y)
    assert value == pytest.approx(3 * math.log(2), rel=1e-12)


def test_shape_errors_say_what_was_expected():
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        CrossEntropy().value(np.zeros((3, 4)), np.zeros((3, 4), int))
    with pytest.raises(ValueError, match="output's shape"):
        LeastSquares().value(np.zeros((1, 4)), np.zeros(4))
