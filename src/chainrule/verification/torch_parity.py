"""Parity with PyTorch autograd, in float64, quantity by quantity.

PyTorch is an independent implementation of the same mathematics: given
the same parameters and batch, its forward pass and autograd must give the
same f_k, h_k, ℓ, ∂ℓ/∂f_k, ∂ℓ/∂Ω_k and ∂ℓ/∂β_k as chainrule, and its
``torch.optim.SGD`` with momentum must follow the same trajectory.

Two conventions are aligned before comparing:

- ReLU at 0: PyTorch's ``relu`` has derivative 0 at 0, so chainrule's copy
  uses ``relu_derivative_at_zero=0.0``.
- Batch loss: chainrule's loss is the sum over outputs of each example,
  averaged over the N examples. PyTorch's "mean" reduction averages over
  every element (N · D_o of them for least squares), so the PyTorch loss
  is built with ``reduction="sum"`` and divided by N.

PyTorch (``torch==2.13.0``) is imported only when a comparison runs; it is
a test and tool dependency, never a requirement of chainrule itself.

These comparisons run many tiny operations; on a busy machine PyTorch's
intra-op threads make them much slower, so callers (the CLI, the tests)
may want ``torch.set_num_threads(1)`` first. This module changes no global
setting itself.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass

import numpy as np

from ..losses import get_loss
from .gradcheck import float64_copy, float64_data

# The default element-wise tolerances: |c − t| ≤ ATOL + RTOL · |t|.
RTOL = 1e-10
ATOL = 1e-12

# The default tolerances on the parameters along a training trajectory.
# Measured differences after 200 steps are about 1e-15 absolute and
# 3e-14 relative; these leave a margin of a few hundred.
TRAJECTORY_RTOL = 1e-11
TRAJECTORY_ATOL = 1e-13


def import_torch():
    """Import PyTorch, or explain how to install it.

    Raises
    ------
    ImportError
        When PyTorch is not installed.
    """
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise ImportError(
            "comparing with PyTorch needs torch==2.13.0, which is not "
            "installed; install it with: pip install 'chainrule[torch]'"
        ) from None


@dataclass(frozen=True)
class QuantityComparison:
    """One quantity computed by chainrule and by PyTorch.

    Attributes
    ----------
    name : str
        "f_k", "h_k", "ℓ", "∂ℓ/∂f_k", "∂ℓ/∂Ω_k" or "∂ℓ/∂β_k".
    shape : tuple of int
    max_abs_difference : float
        The largest |c − t| over the entries.
    worst_index : tuple of int
        The entry whose |c − t| − rtol · |t| is largest.
    chainrule_at_worst, torch_at_worst : float
    agrees : bool
        True when |c − t| ≤ atol + rtol · |t| for every entry.
    """

    name: str
    shape: tuple
    max_abs_difference: float
    worst_index: tuple
    chainrule_at_worst: float
    torch_at_worst: float
    agrees: bool


@dataclass(frozen=True)
class ParityReport:
    """Every quantity of one forward and backward pass, in the order computed.

    Attributes
    ----------
    comparisons : tuple of QuantityComparison
        f_0, h_1, f_1, …, f_K, ℓ, then ∂ℓ/∂f_K … ∂ℓ/∂f_0, then ∂ℓ/∂Ω_k,
        ∂ℓ/∂β_k for k = K … 0.
    rtol, atol : float
    loss_name : str
    sizes : list of int
    n_examples : int
    torch_version : str
    """

    comparisons: tuple
    rtol: float
    atol: float
    loss_name: str
    sizes: list
    n_examples: int
    torch_version: str

    @property
    def agrees(self):
        """True when every quantity agrees."""
        return all(item.agrees for item in self.comparisons)

    @property
    def first_disagreement(self):
        """The first quantity, in the order computed, that disagrees."""
        for item in self.comparisons:
            if not item.agrees:
                return item
        return None

    def to_dict(self):
        """A JSON-ready dict."""
        data = asdict(self)
        first = self.first_disagreement
        data["agrees"] = self.agrees
        data["first_disagreement"] = None if first is None else first.name
        return data


@dataclass(frozen=True)
class TrajectoryReport:
    """Parameters after each SGD step, chainrule against PyTorch.

    Attributes
    ----------
    max_abs_differences : tuple of float
        max |θ_chainrule − θ_torch| after each step.
    first_disagreeing_step : int or None
        The first step (counted from 1) after which some parameter differs
        by more than atol + rtol · |θ_torch|; None if none does.
    first_disagreeing_parameter : str or None
        "Ω_k[i, j]" or "β_k[i]" at that step.
    final_max_abs_difference : float
    final_max_rel_difference : float
        max |θ_c − θ_t| / max(|θ_t|, atol / rtol) after the last step.
    rtol, atol : float
    n_steps, batch_size : int
    learning_rate, momentum : float
    optimizer : str
        Which chainrule update was run.
    losses : tuple of float
        chainrule's batch loss at each step, before the update.
    torch_version : str
    """

    max_abs_differences: tuple
    first_disagreeing_step: int | None
    first_disagreeing_parameter: str | None
    final_max_abs_difference: float
    final_max_rel_difference: float
    rtol: float
    atol: float
    n_steps: int
    batch_size: int
    learning_rate: float
    momentum: float
    optimizer: str
    losses: tuple
    torch_version: str

    @property
    def agrees(self):
        """True when no step disagreed."""
        return self.first_disagreeing_step is None

    def to_dict(self):
        """A JSON-ready dict."""
        data = asdict(self)
        data["agrees"] = self.agrees
        return data


def compare_with_torch(network, x, y, loss, *, rtol=RTOL, atol=ATOL):
    """Compare one forward and backward pass with PyTorch autograd.

    Parameters
    ----------
    network : Network
        Compared on a float64 copy with ``relu_derivative_at_zero=0.0``;
        a subclass's own ``forward`` and ``backward`` are what is compared.
    x : array of shape (D_i, N)
    y : array
        Targets as the loss expects them.
    loss : loss object or str
    rtol, atol : float, default 1e-10, 1e-12
        Each entry agrees when |c − t| ≤ atol + rtol · |t|.

    Returns
    -------
    ParityReport
    """
    torch = import_torch()
    if isinstance(loss, str):
        loss = get_loss(loss)
    checked = float64_copy(network)
    checked.relu_derivative_at_zero = 0.0
    x, y = float64_data(x, y, loss)
    last = checked.n_hidden_layers

    # chainrule: forward, loss, backward passes 1 and 2.
    trace = checked.forward(x)
    value = float(loss.value(trace.output, y))
    gradients = checked.backward(trace, loss.gradient(trace.output, y))

    # PyTorch: the same network written with tensors, gradients by autograd.
    omega_t, beta_t = _torch_parameters(torch, checked)
    f_t, h_t, value_t = _torch_forward(torch, omega_t, beta_t, x, y, loss)
    for f in f_t:
        f.retain_grad()
    value_t.backward()

    pairs = []
    for k in range(last + 1):
        if k > 0:
            pairs.append((f"h_{k}", trace.h[k], h_t[k]))
        pairs.append((f"f_{k}", trace.f[k], f_t[k]))
    pairs.append(("ℓ", np.array([value]), value_t.reshape(1)))
    for k in range(last, -1, -1):
        pairs.append((f"∂ℓ/∂f_{k}", gradients.dl_df[k], f_t[k].grad))
    for k in range(last, -1, -1):
        pairs.append((f"∂ℓ/∂Ω_{k}", gradients.omega[k], omega_t[k].grad))
        pairs.append((f"∂ℓ/∂β_{k}", gradients.beta[k], beta_t[k].grad))

    comparisons = tuple(
        _compare(name, ours, theirs.detach().numpy(), rtol, atol)
        for name, ours, theirs in pairs
    )
    return ParityReport(
        comparisons=comparisons,
        rtol=rtol,
        atol=atol,
        loss_name=loss.name,
        sizes=list(checked.sizes),
        n_examples=int(x.shape[1]),
        torch_version=str(torch.__version__),
    )


def compare_training_with_torch(
    network,
    x,
    y,
    loss,
    *,
    n_steps=200,
    batch_size=8,
    learning_rate=0.01,
    momentum=0.9,
    rng=0,
    rtol=TRAJECTORY_RTOL,
    atol=TRAJECTORY_ATOL,
):
    """Train chainrule and PyTorch side by side with SGD and momentum.

    Both start from the network's parameters (as float64) and see the same
    minibatches in the same order; after every step their parameters are
    compared. The update is v ← μ v + g, θ ← θ − α v, PyTorch's
    ``torch.optim.SGD`` with dampening 0.

    Parameters
    ----------
    network : Network
        Not modified: training runs on a float64 copy.
    x : array of shape (D_i, N)
    y : array
        Targets as the loss expects them.
    loss : loss object or str
    n_steps : int, default 200
    batch_size : int, default 8
    learning_rate, momentum : float, default 0.01, 0.9
    rng : numpy.random.Generator or int, default 0
        Draws the batch order: one permutation of the N examples per
        epoch.
    rtol, atol : float, default 1e-11, 1e-13
        Parameters agree when |θ_c − θ_t| ≤ atol + rtol · |θ_t|.

    Returns
    -------
    TrajectoryReport
    """
    torch = import_torch()
    if isinstance(loss, str):
        loss = get_loss(loss)
    _check_training_options(n_steps, batch_size, learning_rate, momentum)
    checked = float64_copy(network)
    checked.relu_derivative_at_zero = 0.0
    x, y = float64_data(x, y, loss)
    batches = _batch_order(x.shape[1], batch_size, n_steps, rng)
    update, optimizer_name = _chainrule_sgd(momentum)

    omega_t, beta_t = _torch_parameters(torch, checked)
    torch_parameters = [p for pair in zip(omega_t, beta_t, strict=True) for p in pair]
    torch_sgd = torch.optim.SGD(torch_parameters, lr=learning_rate, momentum=momentum)
    names = _parameter_names(checked)

    differences, losses = [], []
    first_step = first_name = None
    for step, batch in enumerate(batches, start=1):
        x_batch = x[:, batch]
        y_batch = y[batch] if y.ndim == 1 else y[:, batch]

        # chainrule: forward, backward, one update of the flat buffer.
        trace = checked.forward(x_batch)
        losses.append(float(loss.value(trace.output, y_batch)))
        gradients = checked.backward(trace, loss.gradient(trace.output, y_batch))
        update(checked.parameters, _flat_gradient(gradients), learning_rate)

        # PyTorch: the same step with autograd and torch.optim.SGD.
        torch_sgd.zero_grad()
        *_, value_t = _torch_forward(torch, omega_t, beta_t, x_batch, y_batch, loss)
        value_t.backward()
        torch_sgd.step()

        theirs = np.concatenate(
            [p.detach().numpy().reshape(-1) for p in torch_parameters]
        )
        gap = np.abs(checked.parameters - theirs)
        differences.append(float(gap.max()))
        outside = gap > atol + rtol * np.abs(theirs)
        if first_step is None and outside.any():
            first_step = step
            first_name = names[int(np.argmax(outside))]

    gap = np.abs(checked.parameters - theirs)
    relative = gap / np.maximum(np.abs(theirs), atol / rtol)
    return TrajectoryReport(
        max_abs_differences=tuple(differences),
        first_disagreeing_step=first_step,
        first_disagreeing_parameter=first_name,
        final_max_abs_difference=float(gap.max()),
        final_max_rel_difference=float(relative.max()),
        rtol=rtol,
        atol=atol,
        n_steps=n_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        momentum=momentum,
        optimizer=optimizer_name,
        losses=tuple(losses),
        torch_version=str(torch.__version__),
    )


def _torch_parameters(torch, network):
    omega = [
        torch.tensor(np.array(w), dtype=torch.float64, requires_grad=True)
        for w in network.omega
    ]
    beta = [
        torch.tensor(np.array(b), dtype=torch.float64, requires_grad=True)
        for b in network.beta
    ]
    return omega, beta


def _torch_forward(torch, omega, beta, x, y, loss):
    """f_k, h_k and ℓ with PyTorch's own operations and loss functions."""
    functional = importlib.import_module("torch.nn.functional")
    h = [torch.from_numpy(x)]
    f = []
    last = len(omega) - 1
    for k in range(last + 1):
        f.append(beta[k] + omega[k] @ h[k])
        if k < last:
            h.append(torch.relu(f[k]))

    # PyTorch's losses summed over every element, then divided by N: the
    # sum over outputs of each example, averaged over the examples.
    output = f[last]
    n_examples = output.shape[1]
    if loss.name == "least-squares":
        target = torch.from_numpy(y)
        total = functional.mse_loss(output, target, reduction="sum")
    elif loss.name == "binary-cross-entropy":
        target = torch.from_numpy(y)
        total = functional.binary_cross_entropy_with_logits(
            output, target, reduction="sum"
        )
    elif loss.name == "cross-entropy":
        labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
        total = functional.cross_entropy(output.T, labels, reduction="sum")
    else:
        raise ValueError(
            f"no PyTorch counterpart for the loss {loss.name!r}; expected "
            "least-squares, binary-cross-entropy or cross-entropy"
        )
    return f, h, total / n_examples


def _compare(name, ours, theirs, rtol, atol):
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64).reshape(ours.shape)
    gap = np.abs(ours - theirs)
    excess = gap - (atol + rtol * np.abs(theirs))
    worst = np.unravel_index(int(np.argmax(excess)), ours.shape)
    return QuantityComparison(
        name=name,
        shape=tuple(int(d) for d in ours.shape),
        max_abs_difference=float(gap.max()),
        worst_index=tuple(int(i) for i in worst),
        chainrule_at_worst=float(ours[worst]),
        torch_at_worst=float(theirs[worst]),
        agrees=bool(np.all(excess <= 0)),
    )


def _chainrule_sgd(momentum):
    """chainrule's SGD with momentum, or the two-line update it performs.

    Returns
    -------
    update : callable(parameters, gradient, learning_rate)
    name : str
    """
    try:
        optimizers = importlib.import_module("chainrule.training.optimizers")
        optimizer = optimizers.SGD(momentum=momentum)
    except (ImportError, AttributeError):
        optimizer = None
    if optimizer is not None:
        return optimizer.step, "chainrule.training.optimizers.SGD"

    velocity = []

    def update(parameters, gradient, learning_rate):
        if not velocity:
            velocity.append(np.zeros_like(parameters))
        # v ← μ v + g, θ ← θ − α v
        velocity[0] *= momentum
        velocity[0] += gradient
        parameters -= learning_rate * velocity[0]

    return update, "v ← μ v + g, θ ← θ − α v (written here)"


def _flat_gradient(gradients):
    """∂ℓ/∂θ in the order of the flat parameter buffer: Ω_0, β_0, Ω_1, …"""
    pieces = []
    for g_omega, g_beta in zip(gradients.omega, gradients.beta, strict=True):
        pieces += [g_omega.reshape(-1), g_beta.reshape(-1)]
    return np.concatenate(pieces)


def _parameter_names(network):
    names = []
    for k, (w, b) in enumerate(zip(network.omega, network.beta, strict=True)):
        rows, cols = w.shape
        names += [f"Ω_{k}[{i}, {j}]" for i in range(rows) for j in range(cols)]
        names += [f"β_{k}[{i}]" for i in range(b.shape[0])]
    return names


def _batch_order(n_examples, batch_size, n_steps, rng):
    """The minibatches of ``n_steps`` steps, one permutation per epoch."""
    rng = np.random.default_rng(rng)
    batch_size = min(batch_size, n_examples)
    batches = []
    while len(batches) < n_steps:
        order = rng.permutation(n_examples)
        for start in range(0, n_examples - batch_size + 1, batch_size):
            batches.append(order[start : start + batch_size])
    return batches[:n_steps]


def _check_training_options(n_steps, batch_size, learning_rate, momentum):
    for name, value in (("n_steps", n_steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
