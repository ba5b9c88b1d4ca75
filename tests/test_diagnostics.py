"""Gradient-flow diagnostics on small cases whose values are known.

The hand-checkable network is 2 → 3 → 1 with β_0 = (0, −100, 0): for
inputs in [0, 1] the middle unit's pre-activation is below −97, so it is
never active and its dead fraction is exactly 1/3. With one batch of all
N examples per epoch the epoch's gradient norm is the norm of the full
batch gradient, which ``Network.backward`` gives directly. Tolerances:
the statistics are float64 sums of the same numbers, so they agree to
1e-12 relative.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from chainrule.diagnostic_plots import plot_gradient_flow
from chainrule.diagnostics import GradientFlowMonitor, GradientFlowWarning
from chainrule.losses import LeastSquares
from chainrule.network import Network
from chainrule.training import SGD, train

RTOL = 1e-12


def dead_middle_unit_network(at_zero=1.0):
    omega = [
        np.array([[1.0, 0.5], [0.3, 0.2], [-0.4, 1.0]]),
        np.array([[0.7, -0.2, 0.5]]),
    ]
    beta = [np.array([0.0, -100.0, 0.0]), np.array([0.1])]
    return Network(omega, beta, relu_derivative_at_zero=at_zero)


def data(n_examples=20):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (2, n_examples))
    y = rng.normal(0.0, 1.0, (1, n_examples))
    return x, y


def train_one_epoch(network, x, y, learning_rate, monitor, **options):
    n_examples = x.shape[1]
    return train(
        network,
        x,
        y,
        LeastSquares(),
        epochs=1,
        batch_size=n_examples,
        learning_rate=learning_rate,
        optimizer=SGD(momentum=0.9),
        rng=0,
        monitor=monitor,
        **options,
    )


def test_hand_checkable_statistics():
    network = dead_middle_unit_network()
    x, y = data()
    before = network.copy()
    trace = before.forward(x)
    grads = before.backward(trace, LeastSquares().gradient(trace.output, y))
    h_1 = trace.h[1]

    monitor = GradientFlowMonitor(network, batch_size=20, n_examples=20)
    learning_rate = 0.01
    history = train_one_epoch(network, x, y, learning_rate, monitor)
    flow = history[0].extra["gradient_flow"]

    assert flow["dead_fraction"] == [pytest.approx(1 / 3, rel=RTOL)]
    assert flow["h_mean"][0] == pytest.approx(h_1.mean(), rel=RTOL)
    assert flow["h_std"][0] == pytest.approx(h_1.std(), rel=RTOL)
    for k in range(2):
        norm = np.linalg.norm(grads.omega[k])
        assert flow["grad_omega_norm"][k] == pytest.approx(norm, rel=1e-9)
        assert flow["grad_beta_norm"][k] == pytest.approx(
            np.linalg.norm(grads.beta[k]), rel=1e-9
        )
        # First step of momentum SGD: v = g, so ΔΩ_k = −α g, Δβ_k = −α g_β.
        ratio = learning_rate * norm / np.linalg.norm(before.omega[k])
        assert flow["omega_update_ratio"][k] == pytest.approx(ratio, rel=1e-9)
        beta_step = learning_rate * np.linalg.norm(grads.beta[k])
        assert flow["beta_update_norm"][k] == pytest.approx(beta_step, rel=1e-9)
    # The dead unit's column of ∂ℓ/∂Ω_1 is zero: h_1[1] = 0 everywhere.
    assert not np.any(grads.omega[1][:, 1])
    assert flow["warnings"] == []
    assert monitor.history == [flow]
    json.dumps(history[0].extra, allow_nan=False)


def test_statistics_pool_over_several_batches():
    network = dead_middle_unit_network()
    x, y = data(50)
    trace = network.forward(x)
    monitor = GradientFlowMonitor(network, batch_size=16, n_examples=50)
    train(
        network,
        x,
        y,
        LeastSquares(),
        epochs=1,
        batch_size=16,
        learning_rate=1e-12,
        rng=0,
        monitor=monitor,
    )
    flow = monitor.history[0]
    # A learning rate of 1e-12 leaves h_1 unchanged to ~1e-12: the pooled
    # mean over 4 uneven batches (16, 16, 16, 2) is the mean over all 50.
    assert flow["h_mean"][0] == pytest.approx(trace.h[1].mean(), rel=1e-9)
    assert flow["h_std"][0] == pytest.approx(trace.h[1].std(), rel=1e-9)
    assert flow["dead_fraction"][0] == pytest.approx(1 / 3, rel=RTOL)


def test_vanishing_and_dead_layers_warn_naming_the_layer():
    network = dead_middle_unit_network()
    network.beta[0][...] = -100.0
    x, y = data()
    monitor = GradientFlowMonitor(network, batch_size=20, n_examples=20)
    with pytest.warns(GradientFlowWarning) as caught:
        history = train_one_epoch(network, x, y, 0.01, monitor)
    messages = [str(w.message) for w in caught]
    # Every ReLU of h_1 is dead: ∂ℓ/∂Ω_1 = 0 (its input is 0) and no
    # gradient reaches Ω_0; one warning says so, not one per layer.
    assert len(messages) == 1
    assert "h_1" in messages[0] and "inactive" in messages[0]
    assert "∂ℓ/∂Ω_1 = 0" in messages[0] and "to layer 0 (earlier" in messages[0]
    flow = history[0].extra["gradient_flow"]
    assert flow["dead_fraction"] == [1.0]
    assert flow["grad_omega_norm"][0] == 0.0


def test_exploding_gradients_warn_and_quiet_monitor_only_records():
    network = dead_middle_unit_network()
    x, y = data()
    loud = GradientFlowMonitor(network.copy(), batch_size=20, n_examples=20, high=1e-3)
    with pytest.warns(GradientFlowWarning) as caught:
        train_one_epoch(loud.network, x, y, 0.01, loud)
    messages = [str(w.message) for w in caught]
    assert any("layer 1:" in m and "exploding" in m for m in messages)

    quiet = GradientFlowMonitor(
        network.copy(), batch_size=20, n_examples=20, high=1e-3, warn=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_one_epoch(quiet.network, x, y, 0.01, quiet)
    assert any("exploding" in m for m in quiet.history[0]["warnings"])


def test_portable_step_reports_no_activation_statistics():
    # A ReLU derivative of ½ at 0 sends the step down the portable path,
    # which keeps no pre-activations.
    network = dead_middle_unit_network(at_zero=0.5)
    x, y = data()
    monitor = GradientFlowMonitor(network, batch_size=20, n_examples=20)
    history = train_one_epoch(network, x, y, 0.01, monitor)
    flow = history[0].extra["gradient_flow"]
    assert flow["dead_fraction"] == [None]
    assert flow["h_mean"] == [None] and flow["h_std"] == [None]
    assert flow["grad_omega_norm"][1] > 0


def test_bad_bounds_are_refused():
    network = dead_middle_unit_network()
    with pytest.raises(ValueError, match="low < high"):
        GradientFlowMonitor(network, low=1.0, high=0.5)
    with pytest.raises(ValueError, match="batch_size"):
        GradientFlowMonitor(network, batch_size=0)


def test_gradient_flow_plot_is_a_png(tmp_path):
    rng = np.random.default_rng(1)
    network = Network.initialize([2, 8, 8, 1], rng, dtype=np.float64)
    x, y = data(40)
    monitor = GradientFlowMonitor(network, batch_size=10, n_examples=40)
    history = train(
        network, x, y, LeastSquares(), epochs=3, batch_size=10, rng=0, monitor=monitor
    )
    for source in (history, monitor.history):
        path = tmp_path / "flow.png"
        plot_gradient_flow(source, path)
        data_bytes = path.read_bytes()
        assert data_bytes[:8] == b"\x89PNG\r\n\x1a\n"
        assert 10_000 < len(data_bytes) < 2_000_000
    with pytest.raises(ValueError, match="no gradient-flow"):
        plot_gradient_flow([{"epoch": 1, "extra": {}}], tmp_path / "none.png")


def deep_network_with_dead_last_hidden_layer():
    """2 → 3 → 3 → 3 → 1 whose h_3 is dead: β_2 = −100 for every unit."""
    rng = np.random.default_rng(1)
    sizes = [2, 3, 3, 3, 1]
    omega = [rng.uniform(-0.5, 0.5, (sizes[k + 1], sizes[k])) for k in range(4)]
    beta = [np.full(sizes[k + 1], 0.1) for k in range(4)]
    beta[2][...] = -100.0
    return Network(omega, beta)


def test_a_dead_layer_warns_once_naming_the_layers_it_silences():
    """h_3 dead: one warning, once, in the book's direction of the layers.

    Layers 0 … 3 all have ∂ℓ/∂Ω_k = 0; the warning names h_3, says the
    earlier layers 0 … 2 get no gradient through it and that β_3 still
    learns, and is not issued again in the next epochs.
    """
    network = deep_network_with_dead_last_hidden_layer()
    x, y = data()
    monitor = GradientFlowMonitor(network, batch_size=10, n_examples=20)
    with pytest.warns(GradientFlowWarning) as caught:
        train(
            network,
            x,
            y,
            LeastSquares(),
            epochs=3,
            batch_size=10,
            learning_rate=0.01,
            rng=0,
            monitor=monitor,
        )
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    message = messages[0]
    assert message.startswith("epoch 1: h_3: every ReLU was inactive")
    assert "to layers 0 … 2 (earlier, closer to the input)" in message
    assert "only β_3 still learns" in message
    assert "below" not in message
    # Every epoch still records the trouble, without the "not repeated".
    recorded = message.removesuffix(" (not repeated for later epochs)")
    for flow in monitor.history:
        epoch = flow["epoch"]
        assert flow["warnings"] == [recorded.replace("epoch 1:", f"epoch {epoch}:")]
        assert flow["grad_omega_norm"] == [0.0, 0.0, 0.0, 0.0]
        # β_3 still moves while Ω_3 does not: Ω_3's input h_3 is 0.
        assert flow["grad_beta_norm"][3] > 0.0
        assert flow["beta_update_norm"][3] > 0.0
        assert flow["omega_update_ratio"][3] == 0.0


def test_vanishing_warning_points_to_the_later_layers():
    """Without a dead layer, a vanishing Ω_k points to h_k … h_K, later."""
    network = deep_network_with_dead_last_hidden_layer()
    network.beta[2][...] = 0.1
    x, y = data()
    monitor = GradientFlowMonitor(
        network, batch_size=20, n_examples=20, low=1e3, high=1e6
    )
    with pytest.warns(GradientFlowWarning) as caught:
        train_one_epoch(network, x, y, 0.01, monitor)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 4
    assert "h_1 … h_3: layer 0's input and the later layers" in messages[0]
    assert "h_1 … h_3: layer 1's input" in messages[1]
    assert "h_2 … h_3: layer 2's input" in messages[2]
    assert "h_3: layer 3's input" in messages[3]
    assert all("closer to the output" in m and "below it" not in m for m in messages)
