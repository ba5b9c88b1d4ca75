"""Optimizers against independent computations of their first steps.

Each reference below is written from the update equations, one parameter
at a time, in plain Python floats (float64), so it shares no code with
the vectorized, buffer-reusing updates under test. PyTorch's optimizers,
where installed, are a second oracle for the forms that match them.
"""

import math
import tracemalloc

import numpy as np
import pytest

from chainrule.training.optimizers import SGD, Adam, optimizer_from_config

# float64 updates of a few operations each: agreement to a few ulps.
TIGHT = dict(rtol=1e-12, atol=1e-14)


def _gradients(n_steps, n_parameters=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=n_parameters) for _ in range(n_steps)]


def _run(optimizer, theta, gradients, learning_rate=0.1):
    theta = np.array(theta, dtype=np.float64)
    for g in gradients:
        optimizer.step(theta, g.copy(), learning_rate)
    return theta


def _reference_momentum(theta, gradients, alpha, mu, dampened, nesterov, decay):
    theta = [float(t) for t in theta]
    v = [0.0] * len(theta)
    for g in gradients:
        for i in range(len(theta)):
            gi = float(g[i]) + decay * theta[i]
            new = (1 - mu) * gi if dampened else gi
            v[i] = mu * v[i] + new
            direction = new + mu * v[i] if nesterov else v[i]
            theta[i] -= alpha * direction
    return np.array(theta)


def _reference_adam(theta, gradients, alpha, b1, b2, eps, decay):
    theta = [float(t) for t in theta]
    m = [0.0] * len(theta)
    v = [0.0] * len(theta)
    for t, g in enumerate(gradients, start=1):
        for i in range(len(theta)):
            gi = float(g[i]) + decay * theta[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            m_hat = m[i] / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            theta[i] -= alpha * m_hat / (math.sqrt(v_hat) + eps)
    return np.array(theta)


def test_plain_sgd_one_step_by_hand():
    theta = np.array([1.0, -2.0, 0.5])
    g = np.array([0.5, 0.25, -4.0])
    SGD().step(theta, g, 0.1)
    # θ − α g = [1 − 0.05, −2 − 0.025, 0.5 + 0.4], exact in binary.
    np.testing.assert_array_equal(theta, [0.95, -2.025, 0.9])


@pytest.mark.parametrize("dampened", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("decay", [0.0, 0.01])
def test_momentum_forms_match_reference(dampened, nesterov, decay):
    theta0 = np.linspace(-1.0, 1.0, 5)
    gradients = _gradients(4)
    optimizer = SGD(0.9, dampened=dampened, weight_decay=decay, nesterov=nesterov)
    got = _run(optimizer, theta0, gradients, 0.1)
    expected = _reference_momentum(
        theta0, gradients, 0.1, 0.9, dampened, nesterov, decay
    )
    np.testing.assert_allclose(got, expected, **TIGHT)


def test_default_momentum_first_steps_by_hand():
    # One parameter, g = 1 every step, α = 1, μ = 0.5:
    # v = 1, 1.5, 1.75, so θ = −1, −2.5, −4.25.
    theta = np.zeros(1)
    optimizer = SGD(0.5)
    for expected in (-1.0, -2.5, -4.25):
        optimizer.step(theta, np.ones(1), 1.0)
        assert theta[0] == expected


def test_dampened_momentum_first_steps_by_hand():
    # g = 1, α = 1, μ = 0.5, v ← 0.5 v + 0.5: v = 0.5, 0.75, 0.875.
    theta = np.zeros(1)
    optimizer = SGD(0.5, dampened=True)
    for expected in (-0.5, -1.25, -2.125):
        optimizer.step(theta, np.ones(1), 1.0)
        assert theta[0] == expected


def test_dampened_nesterov_is_the_books_look_ahead_form():
    """Eq. 6.12 on a quadratic, against our update of the look-ahead point.

    The book evaluates the gradient at φ − αμm; ψ = φ − αμm is what the
    optimizer stores, so ψ_t must match the book's φ_t − αμ m_t.
    """
    a = np.diag([1.0, 3.0, 0.5])
    b = np.array([1.0, -1.0, 2.0])
    alpha, mu = 0.1, 0.8

    phi = np.array([1.0, 2.0, -1.0])
    m = np.zeros(3)
    psi = phi.copy()
    optimizer = SGD(mu, dampened=True, nesterov=True)
    for _ in range(6):
        look_ahead = phi - alpha * mu * m
        m = mu * m + (1 - mu) * (a @ look_ahead - b)
        phi = phi - alpha * m
        optimizer.step(psi, a @ psi - b, alpha)
        np.testing.assert_allclose(psi, phi - alpha * mu * m, **TIGHT)


def test_adam_bias_correction_at_step_one():
    # At t = 1, m̂ = g and v̂ = g²: each parameter moves by α g / (|g| + ε).
    g = np.array([3.0, -0.002, 1e-6, 0.0])
    theta = np.zeros(4)
    Adam(epsilon=1e-8).step(theta, g.copy(), 0.01)
    expected = -0.01 * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(theta, expected, **TIGHT)
    # Without bias correction the first step would be about 0.1/√0.001
    # ≈ 3.2 times larger; it is α (up to ε) instead.
    assert abs(theta[0]) == pytest.approx(0.01, rel=1e-8)


@pytest.mark.parametrize("decay", [0.0, 0.05])
def test_adam_matches_reference(decay):
    theta0 = np.linspace(-1.0, 1.0, 5)
    gradients = _gradients(6)
    got = _run(Adam(0.8, 0.99, 1e-6, weight_decay=decay), theta0, gradients, 0.01)
    expected = _reference_adam(theta0, gradients, 0.01, 0.8, 0.99, 1e-6, decay)
    np.testing.assert_allclose(got, expected, **TIGHT)


def _torch_run(torch_optimizer, theta0, gradients, **options):
    torch = pytest.importorskip("torch")
    parameter = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    optimizer = torch_optimizer(torch, [parameter], **options)
    for g in gradients:
        parameter.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    return parameter.detach().numpy()


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_matches_pytorch(nesterov):
    theta0 = np.linspace(-1.0, 1.0, 5)
    gradients = _gradients(5, seed=1)
    expected = _torch_run(
        lambda torch, p, **o: torch.optim.SGD(p, **o),
        theta0,
        gradients,
        lr=0.05,
        momentum=0.9,
        weight_decay=0.01,
        nesterov=nesterov,
    )
    optimizer = SGD(0.9, weight_decay=0.01, nesterov=nesterov)
    got = _run(optimizer, theta0, gradients, 0.05)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_adam_matches_pytorch():
    theta0 = np.linspace(-1.0, 1.0, 5)
    gradients = _gradients(5, seed=2)
    expected = _torch_run(
        lambda torch, p, **o: torch.optim.Adam(p, **o),
        theta0,
        gradients,
        lr=0.01,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.01,
    )
    got = _run(Adam(weight_decay=0.01), theta0, gradients, 0.01)
    # PyTorch divides by the bias corrections in a different order:
    # agreement to float64 rounding, not bit for bit.
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "optimizer",
    [
        SGD(),
        SGD(0.9, weight_decay=1e-3),
        SGD(0.9, dampened=True, nesterov=True, weight_decay=1e-3),
        Adam(weight_decay=1e-3),
    ],
    ids=["sgd", "momentum", "nesterov", "adam"],
)
def test_no_allocation_after_the_first_step(optimizer):
    theta = np.ones(100_000, dtype=np.float32)
    g = np.full_like(theta, 0.01)
    optimizer.step(theta, g, 0.1)
    tracemalloc.start()
    try:
        optimizer.step(theta, g, 0.1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A single temporary of θ's size would be 400 kB; allow small objects.
    assert peak < 10_000
    assert theta.dtype == np.float32


@pytest.mark.parametrize(
    "make",
    [lambda: SGD(0.9, nesterov=True), lambda: SGD(0.5, dampened=True), Adam],
    ids=["nesterov", "dampened", "adam"],
)
def test_state_round_trip_continues_exactly(make):
    gradients = _gradients(6, seed=3)
    theta = np.linspace(-1.0, 1.0, 5)
    first = make()
    theta = _run(first, theta, gradients[:3])
    saved = {name: np.array(value) for name, value in first.state().items()}
    resumed = optimizer_from_config(first.config())
    resumed.load_state(saved)
    expected = _run(first, theta, gradients[3:])
    got = _run(resumed, theta, gradients[3:])
    np.testing.assert_array_equal(got, expected)


def test_state_before_any_step():
    assert SGD(0.9).state() == {}
    adam = Adam()
    adam.load_state(adam.state())
    assert adam.t == 0 and adam.m is None


def test_portable_path_matches_numpy():
    xps = pytest.importorskip("array_api_strict")
    gradients = _gradients(4, seed=4)
    theta0 = np.linspace(-1.0, 1.0, 5)
    for make in (
        lambda: SGD(0.9, dampened=True, nesterov=True, weight_decay=0.01),
        lambda: Adam(weight_decay=0.01),
    ):
        expected = _run(make(), theta0, gradients)
        theta = xps.asarray(theta0)
        optimizer = make()
        for g in gradients:
            optimizer.step(theta, xps.asarray(g), 0.1)
        # Same formulas, different operation order: float64 rounding.
        np.testing.assert_allclose(np.asarray(theta), expected, **TIGHT)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(1.0), "momentum must be in"),
        (lambda: SGD(-0.1), "momentum must be in"),
        (lambda: SGD(0.0, nesterov=True), "Nesterov momentum needs"),
        (lambda: SGD(weight_decay=-1.0), "weight_decay must be ≥ 0"),
        (lambda: SGD(float("nan")), "momentum must be finite"),
        (lambda: Adam(beta1=1.0), "beta1 must be in"),
        (lambda: Adam(beta2=-0.5), "beta2 must be in"),
        (lambda: Adam(epsilon=0.0), "epsilon must be positive"),
        (lambda: optimizer_from_config({"name": "rmsprop"}), "unknown optimizer"),
        (
            lambda: optimizer_from_config({"name": "adam", "momentum": 0.9}),
            "bad settings for the adam optimizer",
        ),
        (lambda: Adam().load_state({"velocity": np.zeros(2)}), "adam state needs"),
    ],
)
def test_bad_settings_are_explained(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_non_number_is_a_type_error():
    with pytest.raises(TypeError, match="momentum must be a number"):
        SGD("0.9")


@pytest.mark.parametrize(
    "options",
    [
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True},
        {"momentum": 0.9, "dampened": True, "weight_decay": 0.01},
        {"momentum": 0.0, "weight_decay": 0.1},
    ],
)
def test_sgd_portable_path_matches_the_numpy_path(options):
    # The in-place portable update (PyTorch tensors) and the NumPy update
    # do the same float64 operations in the same order: equal exactly.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    on_numpy, on_torch = SGD(**options), SGD(**options)
    theta = rng.normal(size=50)
    theta_torch = torch.tensor(theta.copy())
    for _ in range(5):
        g = rng.normal(size=50)
        on_numpy.step(theta, g.copy(), 0.1)
        on_torch.step(theta_torch, torch.tensor(g), 0.1)
    np.testing.assert_array_equal(theta, theta_torch.numpy())
