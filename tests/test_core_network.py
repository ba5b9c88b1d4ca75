"""The Network class: construction checks, ReLU at zero, shapes, dtypes."""

import numpy as np
import pytest

from chainrule import Network
from chainrule.activations import relu_derivative


def test_relu_derivative_at_zero_both_settings():
    f = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu_derivative(f, 1.0), [[0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(relu_derivative(f, 0.0), [[0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(relu_derivative(f, 0.25), [[0.0, 0.25, 1.0]])


@pytest.mark.parametrize("at_zero, expected", [(1.0, 5.0), (0.0, 0.0)])
def test_backward_uses_the_derivative_at_zero(at_zero, expected):
    # f_0 = 0 exactly, so the only path to Ω_0 goes through a[0]'s slope.
    network = Network(
        [np.array([[1.0]]), np.array([[1.0]])],
        [np.array([-1.0]), np.array([0.0])],
        relu_derivative_at_zero=at_zero,
    )
    x = np.array([[1.0]])
    trace = network.forward(x)
    assert trace.f[0][0, 0] == 0.0
    grads = network.backward(trace, np.array([[5.0]]))
    # ∂ℓ/∂Ω_0 = ∂ℓ/∂f_0 x = a'(0) · Ω_1 · 5 · 1
    assert grads.omega[0][0, 0] == expected


def test_initialize_he_variance_and_zero_biases():
    network = Network.initialize([400, 300, 10], 7, dtype=np.float64)
    for k, fan_in in enumerate([400, 300]):
        variance = float(np.var(network.omega[k]))
        # 120 000 and 3000 draws: the variance is within 10 % of 2 / D_k.
        assert variance == pytest.approx(2.0 / fan_in, rel=0.1)
        assert not np.any(network.beta[k])
    assert network.dtype == np.float64


def test_initialize_is_reproducible_and_float32_by_default():
    first = Network.initialize([3, 4, 2], 5)
    second = Network.initialize([3, 4, 2], np.random.default_rng(5))
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first.parameters, second.parameters)


def test_one_dimensional_beta_is_reshaped():
    network = Network([np.ones((2, 3))], [np.zeros(2)])
    assert network.beta[0].shape == (2, 1)
    assert network.sizes == [3, 2]


def test_parameters_are_one_flat_buffer_with_views():
    network = Network.initialize([3, 4, 2], 0, dtype=np.float64)
    network.parameters[:] = np.arange(network.parameters.size)
    assert network.omega[0][0, 1] == 1.0
    assert network.beta[0][0, 0] == 12.0
    assert network.parameters.size == 3 * 4 + 4 + 4 * 2 + 2


def test_shapes_that_do_not_chain_name_the_layer():
    omega = [np.ones((4, 3)), np.ones((2, 5))]
    beta = [np.zeros(4), np.zeros(2)]
    with pytest.raises(ValueError, match=r"layer 1.*\(4, 3\).*\(2, 5\)"):
        Network(omega, beta)


def test_bias_of_wrong_length_is_rejected():
    with pytest.raises(ValueError, match="β_0"):
        Network([np.ones((4, 3))], [np.zeros(3)])


def test_mixed_dtypes_are_rejected():
    omega = [np.ones((4, 3)), np.ones((2, 4), np.float32)]
    beta = [np.zeros(4), np.zeros(2)]
    with pytest.raises(TypeError, match="Ω_1 has dtype float32"):
        Network(omega, beta)


def test_non_finite_parameters_are_rejected():
    weights = np.ones((2, 2))
    weights[1, 0] = np.nan
    with pytest.raises(ValueError, match="Ω_0 contains NaN"):
        Network([weights], [np.zeros(2)])


@pytest.mark.parametrize("value", [-0.1, 1.5, "one"])
def test_derivative_at_zero_outside_unit_interval(value):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Network([np.ones((1, 1))], [np.zeros(1)], value)


def test_forward_rejects_rows_and_wrong_dtype():
    network = Network.initialize([3, 4, 2], 0)
    with pytest.raises(ValueError, match="pass x.T"):
        network.forward(np.ones((5, 3), np.float32))
    with pytest.raises(TypeError, match="never mixes dtypes"):
        network.forward(np.ones((3, 5), np.float64))


def test_initialize_rejects_bad_sizes_and_global_seeding():
    with pytest.raises(ValueError, match="at least 1"):
        Network.initialize([3, 0, 2], 0)
    with pytest.raises(TypeError, match="Generator or an int seed"):
        Network.initialize([3, 2], None)


def test_backward_sums_over_the_batch_columns():
    # The gradient of a batch is the sum of the per-example gradients.
    network = Network.initialize([3, 5, 5, 2], 1, dtype=np.float64)
    x = np.random.default_rng(2).normal(size=(3, 4))
    dl_df = np.random.default_rng(3).normal(size=(2, 4))
    batch = network.backward(network.forward(x), dl_df)
    for k in range(3):
        total = sum(
            network.backward(network.forward(x[:, [n]]), dl_df[:, [n]]).omega[k]
            for n in range(4)
        )
        np.testing.assert_allclose(batch.omega[k], total, rtol=1e-12)


def test_predict_equals_forward_output():
    network = Network.initialize([3, 5, 2], 1, dtype=np.float64)
    x = np.random.default_rng(2).normal(size=(3, 6))
    np.testing.assert_array_equal(network.predict(x), network.forward(x).output)


def test_astype_and_copy_are_independent():
    network = Network.initialize([3, 5, 2], 1)
    wide = network.astype(np.float64)
    assert wide.dtype == np.float64
    twin = network.copy()
    twin.parameters[:] = 0
    assert np.any(network.parameters)


def test_uniform_initialization_has_the_same_variance():
    network = Network.initialize(
        [500, 400, 3], 3, dtype=np.float64, distribution="uniform"
    )
    bound = np.sqrt(3 * 2.0 / 500)
    assert np.max(np.abs(network.omega[0])) <= bound
    # 200 000 draws: within 5 % of He's 2 / D_0.
    assert float(np.var(network.omega[0])) == pytest.approx(2 / 500, rel=0.05)
    with pytest.raises(ValueError, match="'normal' or 'uniform'"):
        Network.initialize([3, 2], 0, distribution="cauchy")


def test_pickle_and_deepcopy_keep_views_aliasing_the_buffer():
    import copy
    import pickle

    network = Network.initialize([3, 4, 2], 0, relu_derivative_at_zero=0.0)
    for twin in (pickle.loads(pickle.dumps(network)), copy.deepcopy(network)):
        np.testing.assert_array_equal(twin.parameters, network.parameters)
        assert twin.relu_derivative_at_zero == 0.0
        twin.parameters[0] = 42.0
        assert twin.omega[0][0, 0] == 42.0
        assert network.omega[0][0, 0] != 42.0
