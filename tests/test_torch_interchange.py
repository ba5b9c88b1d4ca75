"""PyTorch interchange: export to Sequential, import back, compare outputs."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.network import Network

torch = pytest.importorskip("torch", reason="PyTorch is not installed")

from chainrule.interchange.torch import (  # noqa: E402
    from_state_dict,
    from_torch,
    to_state_dict,
    to_torch,
)

SIZES = [6, 9, 7, 5, 3]


def make_network(dtype=np.float64, seed=0):
    network = Network.initialize(SIZES, np.random.default_rng(seed), dtype=dtype)
    # Non-zero biases, so that a dropped or misplaced β_k shows.
    rng = np.random.default_rng(seed + 1)
    for beta in network.beta:
        beta[...] = rng.normal(0.0, 0.5, beta.shape).astype(dtype)
    return network


def torch_output(module, rows):
    with torch.no_grad():
        return module(torch.from_numpy(rows)).numpy()


@pytest.mark.parametrize(
    ("dtype", "tolerance"), [(np.float64, 1e-12), (np.float32, 1e-5)]
)
def test_exported_sequential_computes_the_network(dtype, tolerance):
    network = make_network(dtype)
    rows = np.random.default_rng(2).normal(size=(50, SIZES[0])).astype(dtype)
    module = to_torch(network)

    kinds = [type(child).__name__ for child in module]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert module[0].weight.dtype == (
        torch.float64 if dtype == np.float64 else torch.float32
    )
    expected = network.predict(rows.T).T
    # Same products in another library: equal to the dtype's rounding.
    np.testing.assert_allclose(
        torch_output(module, rows), expected, rtol=tolerance, atol=tolerance
    )


def test_round_trip_preserves_parameters_and_outputs():
    network = make_network(np.float64)
    back = from_torch(to_torch(network))
    assert back.sizes == network.sizes
    assert back.dtype == np.float64
    # Copies of the same numbers: exactly equal, not just close.
    np.testing.assert_array_equal(back.parameters, network.parameters)
    rows = np.random.default_rng(3).normal(size=(20, SIZES[0]))
    np.testing.assert_array_equal(back.predict(rows.T), network.predict(rows.T))


def test_state_dict_round_trip_and_load_into_sequential(tmp_path):
    network = make_network(np.float32)
    state = to_state_dict(network)
    assert list(state) == [
        f"{i}.{kind}" for i in (0, 2, 4, 6) for kind in ("weight", "bias")
    ]
    path = tmp_path / "weights.pt"
    torch.save(state, path)
    loaded = torch.load(path, weights_only=True)

    back = from_state_dict(loaded)
    np.testing.assert_array_equal(back.parameters, network.parameters)

    # The state dict also loads into a Sequential built by hand.
    module = torch.nn.Sequential(
        torch.nn.Linear(6, 9),
        torch.nn.ReLU(),
        torch.nn.Linear(9, 7),
        torch.nn.ReLU(),
        torch.nn.Linear(7, 5),
        torch.nn.ReLU(),
        torch.nn.Linear(5, 3),
    )
    module.load_state_dict(loaded)
    rows = np.random.default_rng(4).normal(size=(10, 6)).astype(np.float32)
    np.testing.assert_allclose(
        torch_output(module, rows), network.predict(rows.T).T, rtol=1e-5, atol=1e-5
    )


def test_import_of_a_torch_trained_model():
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(inplace=True), torch.nn.Linear(8, 2)
    ).double()
    network = from_torch(module, relu_derivative_at_zero=0.0)
    assert network.sizes == [4, 8, 2]
    assert network.relu_derivative_at_zero == 0.0
    rows = np.random.default_rng(5).normal(size=(30, 4))
    np.testing.assert_allclose(
        network.predict(rows.T).T, torch_output(module, rows), rtol=1e-12, atol=1e-12
    )


def test_gradients_match_pytorch_after_import():
    # With PyTorch's ReLU convention, chainrule's backward pass on the
    # imported network gives PyTorch's autograd gradients (float64, 1e-10).
    from chainrule.losses import LeastSquares

    torch.manual_seed(1)
    module = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)
    ).double()
    network = from_torch(module, relu_derivative_at_zero=0.0)
    rows = np.random.default_rng(6).normal(size=(12, 3))
    targets = np.random.default_rng(7).normal(size=(12, 2))

    loss = LeastSquares()
    trace = network.forward(rows.T)
    gradients = network.backward(trace, loss.gradient(trace.output, targets.T))

    output = module(torch.from_numpy(rows))
    value = ((output - torch.from_numpy(targets)) ** 2).sum(dim=1).mean()
    value.backward()
    for k, index in enumerate((0, 2)):
        np.testing.assert_allclose(
            gradients.omega[k],
            module[index].weight.grad.numpy(),
            rtol=1e-10,
            atol=1e-12,
        )
        np.testing.assert_allclose(
            gradients.beta[k][:, 0],
            module[index].bias.grad.numpy(),
            rtol=1e-10,
            atol=1e-12,
        )


def test_single_linear_and_missing_bias():
    linear = torch.nn.Linear(3, 2, bias=False).double()
    network = from_torch(linear)
    assert network.sizes == [3, 2]
    np.testing.assert_array_equal(network.beta[0], np.zeros((2, 1)))


@pytest.mark.parametrize(
    ("module", "named"),
    [
        (
            lambda: torch.nn.Sequential(
                torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
            ),
            "'1' (Tanh())",
        ),
        (
            lambda: torch.nn.Sequential(
                torch.nn.Linear(4, 4),
                torch.nn.ReLU(),
                torch.nn.Dropout(0.1),
                torch.nn.Linear(4, 1),
            ),
            "'2' (Dropout(",
        ),
        (
            lambda: torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1)),
            "'1' (Linear(",
        ),
        (
            lambda: torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(4, 1)),
            "'0' (ReLU())",
        ),
        (
            lambda: torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.ReLU()),
            "'1' (ReLU()) at the end",
        ),
        (lambda: torch.nn.Conv1d(1, 1, 3), "Conv1d"),
    ],
)
def test_other_architectures_are_rejected_naming_the_module(module, named):
    with pytest.raises(ValueError, match="cannot import") as error:
        from_torch(module())
    assert named in str(error.value)


def test_bad_state_dict_entries_are_named():
    state = to_state_dict(make_network())
    state["running_mean"] = torch.zeros(3)
    with pytest.raises(ValueError, match="'running_mean'"):
        from_state_dict(state)
