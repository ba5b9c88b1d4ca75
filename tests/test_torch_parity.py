"""chainrule against PyTorch autograd and torch.optim.SGD, in float64."""

import sys

import pytest
from random_problems import random_problem

from chainrule import Network
from chainrule.verification.torch_parity import (
    compare_training_with_torch,
    compare_with_torch,
)

torch = pytest.importorskip(
    "torch", reason="PyTorch parity tests need torch==2.13.0 installed"
)

LOSS_NAMES = ["least-squares", "binary-cross-entropy", "cross-entropy"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny operations run far faster on one thread on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class OmegaGradientScaled(Network):
    """A planted bug: ∂ℓ/∂Ω_1 off by one part in a million."""

    def backward(self, trace, dl_df, input_gradient=False):
        gradients = super().backward(trace, dl_df, input_gradient)
        gradients.omega[1] = gradients.omega[1] * (1 + 1e-6)
        return gradients


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
@pytest.mark.parametrize("n_examples", [1, 13])
@pytest.mark.parametrize("sizes", [[4, 3], [4, 6, 3], [5, 8, 7, 6, 3]])
def test_every_quantity_agrees_with_autograd(sizes, n_examples, loss_name):
    network, x, y = random_problem(sizes, n_examples, loss_name, seed=len(sizes))
    report = compare_with_torch(network, x, y, loss_name)

    n_hidden = len(sizes) - 2
    names = [item.name for item in report.comparisons]
    expected = {f"f_{k}" for k in range(n_hidden + 1)}
    expected |= {f"h_{k}" for k in range(1, n_hidden + 1)}
    expected |= {"ℓ"}
    for symbol in ("f", "Ω", "β"):
        expected |= {f"∂ℓ/∂{symbol}_{k}" for k in range(n_hidden + 1)}
    assert set(names) == expected
    assert len(names) == len(expected)

    # Tolerance: |chainrule − torch| ≤ 1e-12 + 1e-10 · |torch|, per entry.
    assert (report.rtol, report.atol) == (1e-10, 1e-12)
    disagreeing = [item for item in report.comparisons if not item.agrees]
    assert disagreeing == []
    assert report.first_disagreement is None


def test_pre_activations_exactly_zero_agree_under_pytorchs_convention():
    """With x = 0 and β_0 = 0, every f_0 is exactly 0: a'(0) = 0 there."""
    network, x, y = random_problem([4, 6, 5, 3], 5, "least-squares", seed=1)
    network.beta[0][:] = 0.0
    x[:, :2] = 0.0
    report = compare_with_torch(network, x, y, "least-squares")

    assert report.agrees


def test_a_planted_error_is_found_where_it_first_appears():
    network, x, y = random_problem([4, 6, 5, 3], 9, "cross-entropy", seed=2)
    buggy = OmegaGradientScaled(network.omega, network.beta)
    report = compare_with_torch(buggy, x, y, "cross-entropy")

    assert not report.agrees
    assert report.first_disagreement.name == "∂ℓ/∂Ω_1"
    assert [item.name for item in report.comparisons if not item.agrees] == ["∂ℓ/∂Ω_1"]


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_200_steps_of_sgd_with_momentum_follow_pytorch(loss_name):
    network, x, y = random_problem([5, 16, 12, 3], 48, loss_name, seed=3)
    report = compare_training_with_torch(
        network, x, y, loss_name, n_steps=200, batch_size=8, momentum=0.9
    )

    # Tolerance: |θ_chainrule − θ_torch| ≤ 1e-13 + 1e-11 · |θ_torch| after
    # every one of the 200 steps.
    assert (report.rtol, report.atol) == (1e-11, 1e-13)
    assert report.n_steps == 200
    assert len(report.max_abs_differences) == 200
    assert report.agrees, report.first_disagreeing_parameter
    # Training moved the parameters: the comparison is not of a still point.
    assert report.losses[-1] < report.losses[0]


def test_the_two_line_update_follows_pytorch_without_chainrule_training(
    monkeypatch,
):
    # Hide chainrule.training.optimizers: the comparison falls back to the
    # update v ← μ v + g, θ ← θ − α v written in the parity module.
    monkeypatch.setitem(sys.modules, "chainrule.training.optimizers", None)
    network, x, y = random_problem([5, 10, 3], 32, "least-squares", seed=4)
    report = compare_training_with_torch(network, x, y, "least-squares", n_steps=50)

    assert report.optimizer.startswith("v ← μ v + g")
    assert report.agrees


def test_a_wrong_gradient_derails_the_trajectory_at_the_first_step():
    network, x, y = random_problem([5, 10, 9, 3], 32, "least-squares", seed=5)
    buggy = OmegaGradientScaled(network.omega, network.beta)
    report = compare_training_with_torch(buggy, x, y, "least-squares", n_steps=20)

    assert report.first_disagreeing_step == 1
    assert report.first_disagreeing_parameter.startswith("Ω_1[")
