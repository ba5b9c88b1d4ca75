"""The gradient checker: it passes correct gradients and catches wrong ones."""

import json

import numpy as np
import pytest

from chainrule import Network
from chainrule.losses import BinaryCrossEntropy, CrossEntropy, LeastSquares
from chainrule.verification import (
    RELATIVE_ERROR_DEFINITION,
    gradcheck,
    relative_error,
    step_sweep,
)

LOSSES = [LeastSquares(), BinaryCrossEntropy(), CrossEntropy()]


def _problem(sizes, n_examples, loss, seed, dtype=np.float64):
    """A random network with random biases, and random data for ``loss``."""
    rng = np.random.default_rng(seed)
    network = Network.initialize(sizes, rng, dtype=dtype)
    for beta in network.beta:
        beta[:] = rng.normal(0.0, 0.3, beta.shape)
    x = rng.normal(size=(sizes[0], n_examples)).astype(dtype)
    n_outputs = sizes[-1]
    if isinstance(loss, CrossEntropy):
        y = rng.integers(0, n_outputs, size=n_examples)
    elif isinstance(loss, BinaryCrossEntropy):
        y = rng.integers(0, 2, size=(n_outputs, n_examples)).astype(dtype)
    else:
        y = rng.normal(size=(n_outputs, n_examples)).astype(dtype)
    return network, x, y


class OmegaGradientOnPreactivations(Network):
    """A planted bug: ∂ℓ/∂Ω_k = ∂ℓ/∂f_k f_{k−1}ᵀ in one layer.

    Using the pre-activation f_{k−1} where the activation h_k belongs is a
    classic slip. It changes only ∂ℓ/∂Ω_k of the chosen layer.
    """

    buggy_layer = 1

    def backward(self, trace, dl_df, input_gradient=False):
        gradients = super().backward(trace, dl_df, input_gradient)
        k = self.buggy_layer
        gradients.omega[k] = gradients.dl_df[k] @ trace.f[k - 1].T
        return gradients


class BetaGradientAveraged(Network):
    """A planted bug: ∂ℓ/∂β_k averaged over the batch instead of summed."""

    buggy_layer = 2

    def backward(self, trace, dl_df, input_gradient=False):
        gradients = super().backward(trace, dl_df, input_gradient)
        k = self.buggy_layer
        gradients.beta[k] = np.mean(gradients.dl_df[k], axis=1, keepdims=True)
        return gradients


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: loss.name)
def test_correct_gradients_pass_in_full_mode(loss):
    sizes = [4, 6, 5, 3]
    network, x, y = _problem(sizes, 7, loss, seed=1)
    result = gradcheck(network, x, y, loss)

    assert result.passed
    assert result.failed_layers == []
    assert [row.symbol for row in result.rows] == [
        "Ω_0",
        "β_0",
        "Ω_1",
        "β_1",
        "Ω_2",
        "β_2",
    ]
    for row, omega in zip(result.rows[::2], network.omega, strict=True):
        assert row.shape == omega.shape
        assert row.n_checked == omega.size
    # Tolerance: the default rtol, 1e-6.
    assert result.max_rel_error <= 1e-6
    assert result.rtol == 1e-6
    assert result.loss_name == loss.name
    assert result.checked_dtype == "float64"
    assert result.notes == ()


@pytest.mark.parametrize("mode", ["full", "sample", "direction"])
def test_a_planted_wrong_omega_gradient_fails_on_exactly_that_layer(mode):
    sizes = [5, 8, 7, 6, 3]
    network, x, y = _problem(sizes, 9, LeastSquares(), seed=2)
    buggy = OmegaGradientOnPreactivations(network.omega, network.beta)
    result = gradcheck(buggy, x, y, "least-squares", mode=mode, n_samples=8)

    assert not result.passed
    assert result.failed_layers == [1]
    failed = [row.symbol for row in result.failed_rows]
    assert failed == ["Ω_1"]
    # The error is gross, far beyond rtol = 1e-6, and every other row is
    # within rtol.
    assert result.rows[2].max_rel_error > 1e-2
    for row in result.rows:
        if row.symbol != "Ω_1":
            assert row.max_rel_error <= result.rtol


def test_a_planted_wrong_beta_gradient_fails_on_exactly_that_layer():
    sizes = [5, 8, 7, 6, 3]
    network, x, y = _problem(sizes, 9, CrossEntropy(), seed=3)
    buggy = BetaGradientAveraged(network.omega, network.beta)
    result = gradcheck(buggy, x, y, "cross-entropy")

    assert [row.symbol for row in result.failed_rows] == ["β_2"]
    worst = result.rows[5]
    # Averaging instead of summing divides by N = 9: a relative error of
    # 1 − 1/9 where the entry is large enough to be judged relatively.
    assert worst.max_rel_error == pytest.approx(8 / 9, rel=1e-4)
    assert worst.analytic_at_worst * 9 == pytest.approx(
        worst.numeric_at_worst, rel=1e-5
    )


def test_a_float32_network_is_checked_on_a_float64_copy_and_left_alone():
    network, x, y = _problem([3, 5, 2], 4, LeastSquares(), seed=4, dtype=np.float32)
    before = network.parameters.copy()
    result = gradcheck(network, x, y, LeastSquares())

    assert result.passed
    assert result.original_dtype == "float32"
    assert result.checked_dtype == "float64"
    assert any("float64" in note for note in result.notes)
    assert network.dtype == np.float32
    np.testing.assert_array_equal(network.parameters, before)


def test_kinks_at_exactly_zero_are_decided_by_one_sided_slopes():
    """Pre-activations exactly 0: f_0 = β_0 + Ω_0 x with β_0 = 0, x = 0.

    One example is all zeros, so every f_0 of that example is exactly 0.
    Perturbing β_0[j] moves f_0[j] to ±s: one side crosses the kink. With
    one hidden layer, no second ReLU sits downstream, so the analytic
    value is one of the two one-sided slopes for a'(0) = 1 or 0 and lies
    between them for any a'(0) in [0, 1].
    """
    for derivative_at_zero in (1.0, 0.0, 0.5):
        network, x, y = _problem([3, 6, 2], 5, LeastSquares(), seed=5)
        network.beta[0][:] = 0.0
        network.relu_derivative_at_zero = derivative_at_zero
        x[:, 0] = 0.0
        result = gradcheck(network, x, y, "least-squares")

        assert result.passed
        assert result.n_preactivations_at_zero == 6
        assert result.rows[1].n_kink_decided == 6
        assert result.relu_derivative_at_zero == derivative_at_zero
        assert "a'(0)" in result.relu_convention


def test_a_derivative_at_zero_outside_the_slopes_fails_at_the_kink():
    """a'(0) = 2 is no subgradient: the checker must reject it at kinks."""
    network, x, y = _problem([3, 6, 2], 5, LeastSquares(), seed=5)
    network.beta[0][:] = 0.0
    x[:, 0] = 0.0
    network.relu_derivative_at_zero = 2.0
    result = gradcheck(network, x, y, "least-squares")

    assert not result.passed
    assert "β_0" in [row.symbol for row in result.failed_rows]
    assert any("exactly 0" in note for note in result.notes)


def test_large_steps_cross_kinks_and_still_pass():
    """At s = 1e-3 many perturbations cross a kink; none is misjudged."""
    n_kink_decided = 0
    for seed in range(12):
        network, x, y = _problem([6, 12, 10, 8, 3], 20, LeastSquares(), seed=seed)
        result = gradcheck(network, x, y, "least-squares", step=1e-3)
        assert result.passed, f"seed {seed}"
        n_kink_decided += result.n_kink_decided
    assert n_kink_decided > 0


def test_sample_mode_checks_the_requested_number_of_entries():
    network, x, y = _problem([10, 12, 3], 4, BinaryCrossEntropy(), seed=7)
    result = gradcheck(
        network, x, y, "binary-cross-entropy", mode="sample", n_samples=5
    )

    assert [row.n_checked for row in result.rows] == [5, 5, 5, 3]
    assert result.passed
    assert result.seed == 0


def test_the_sweep_shows_truncation_and_rounding_error():
    """No hidden layer, so no kinks: errors follow s² and ε |ℓ| / s."""
    network, x, y = _problem([4, 3], 6, CrossEntropy(), seed=8)
    steps = [1e-1, 1e-5, 1e-11]
    results = step_sweep(network, x, y, "cross-entropy", steps=steps, mode="full")

    errors = [result.max_abs_error for result in results]
    assert [result.step for result in results] == steps
    assert errors[0] > 10 * errors[1]
    assert errors[2] > 10 * errors[1]


def test_relative_error_is_as_defined():
    # |a − n| / max(|a|, |n|, floor), exactly.
    assert relative_error(2.0, 1.0, floor=1e-3) == 0.5
    assert relative_error(1e-6, 0.0, floor=1e-3) == pytest.approx(1e-3, rel=1e-12)
    assert relative_error(0.0, 0.0, floor=1e-3) == 0.0
    assert "max(|a|, |n|, floor)" in RELATIVE_ERROR_DEFINITION


def test_the_result_serializes_to_json():
    network, x, y = _problem([3, 4, 2], 3, LeastSquares(), seed=9)
    data = json.loads(json.dumps(gradcheck(network, x, y, "least-squares").to_dict()))

    assert data["passed"] is True
    assert data["rows"][0]["symbol"] == "Ω_0"
    assert data["rows"][0]["shape"] == [4, 3]
    assert data["definition"] == RELATIVE_ERROR_DEFINITION


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"mode": "everything"}, ValueError),
        ({"step": 0.0}, ValueError),
        ({"step": "small"}, TypeError),
        ({"n_samples": 0, "mode": "sample"}, ValueError),
        ({"rng": "seed"}, TypeError),
    ],
)
def test_bad_options_are_refused(options, error):
    network, x, y = _problem([3, 4, 2], 3, LeastSquares(), seed=10)
    with pytest.raises(error):
        gradcheck(network, x, y, "least-squares", **options)


def test_only_networks_are_accepted():
    with pytest.raises(TypeError, match="Network"):
        gradcheck(object(), np.zeros((1, 1)), np.zeros((1, 1)), "least-squares")


class ScaledOmegaGradient(Network):
    """A planted bug whose layer is an instance attribute, not a class one."""

    def __init__(self, omega, beta, layer):
        super().__init__(omega, beta)
        self.layer = layer

    def backward(self, trace, dl_df, input_gradient=False):
        gradients = super().backward(trace, dl_df, input_gradient)
        gradients.omega[self.layer] = 1.001 * gradients.omega[self.layer]
        return gradients


def test_a_subclass_keeps_its_instance_attributes_in_the_float64_copy():
    network, x, y = _problem([4, 5, 5, 5, 2], 6, BinaryCrossEntropy(), seed=11)
    buggy = ScaledOmegaGradient(network.omega, network.beta, layer=2)
    result = gradcheck(buggy, x, y, "binary-cross-entropy")

    assert [row.symbol for row in result.failed_rows] == ["Ω_2"]
