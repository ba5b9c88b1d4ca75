"""Moving networks and arrays between NumPy and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Network
from chainrule.backends import array_to, network_to


def test_network_to_numpy_copies_parameters_exactly():
    network = Network.initialize([3, 4, 2], 0, dtype=np.float64)
    copy = network_to(network, "numpy")
    np.testing.assert_array_equal(copy.parameters, network.parameters)
    assert copy.parameters is not network.parameters
    copy.parameters[0] += 1.0
    assert copy.parameters[0] != network.parameters[0]


def test_network_to_torch_and_back_round_trips_exactly():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    network = Network.initialize(
        [3, 4, 2], 0, dtype=np.float32, relu_derivative_at_zero=0.0
    )
    on_torch = network_to(network, torch, device="cpu")
    assert isinstance(on_torch.parameters, torch.Tensor)
    assert on_torch.parameters.dtype == torch.float32
    assert on_torch.relu_derivative_at_zero == 0.0
    back = network_to(on_torch, np)
    np.testing.assert_array_equal(back.parameters, network.parameters)


def test_array_to_keeps_dtype_and_values():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    labels = np.array([0, 2, 1])
    tensor = array_to(labels, "torch")
    assert tensor.dtype == torch.int64
    np.testing.assert_array_equal(tensor.numpy(), labels)


def test_unknown_library_name_is_rejected():
    with pytest.raises(ValueError, match="unknown array library 'jax'"):
        array_to(np.zeros(2), "jax")
