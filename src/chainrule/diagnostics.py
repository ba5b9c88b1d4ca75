"""Gradient-flow diagnostics during training: which layers vanish or explode.

``GradientFlowMonitor`` plugs into ``chainrule.training.train(monitor=…)``
and measures, per layer and per epoch:

| key | layers | meaning |
| --- | --- | --- |
| ``grad_omega_norm`` | k = 0 … K | mean over the epoch's steps of ‖∂ℓ/∂Ω_k‖_F |
| ``grad_beta_norm`` | k = 0 … K | mean over the epoch's steps of ‖∂ℓ/∂β_k‖ |
| ``omega_update_ratio`` | k = 0 … K | mean over steps of ‖ΔΩ_k‖_F / ‖Ω_k‖_F |
| ``beta_update_norm`` | k = 0 … K | mean over steps of ‖Δβ_k‖ |
| ``dead_fraction`` | h_1 … h_K | share of ReLUs never active (h > 0) all epoch |
| ``h_mean``, ``h_std`` | h_1 … h_K | mean and std of h_k over units and examples |

``omega_update_ratio`` covers the weights Ω_k only, measured against
Ω_k before the step; the biases have ``beta_update_norm``, an absolute
size, since β_k starts at 0 where a ratio has no meaning. A layer can
have a zero ratio and still a moving β_k (when its input h_k is 0).

Each step's gradient is that of the batch's mean loss, so its norm does
not grow with the batch size. Lists indexed k = 0 … K hold one value per
weight matrix; lists for h_1 … h_K hold one value per hidden layer, entry
i belonging to h_{i+1}.

A layer whose ``grad_omega_norm`` falls below ``low`` or rises above
``high`` raises a ``GradientFlowWarning`` naming the epoch and the layer,
as does a hidden layer whose ReLUs are all dead. Layers are named by the
book's indices: layer k is Ω_k, β_k, from h_k to f_k; a smaller k is
earlier (closer to the input), a larger k later (closer to the output).
A dead h_j zeroes ∂ℓ/∂Ω_k for every k ≤ j (Ω_j's input is 0, and the
backward pass stops at h_j), so one warning names the dead layer and the
layers it silences, instead of one vanishing warning for each. Each
warning is issued once per run for each layer and kind, the first epoch
it holds; every epoch's ``warnings`` list records all of them.

Nothing is computed unless a monitor is constructed and passed to
``train``: with ``monitor=None`` the training loop skips every hook.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .arrays import is_numpy, to_numpy

# Default bounds on an epoch's mean ‖∂ℓ/∂Ω_k‖_F. Below LOW_NORM a layer
# barely learns at the usual learning rates (0.001 … 0.1); above
# HIGH_NORM a single step of such a rate moves weights of size ~1 by more
# than their own size.
LOW_NORM = 1e-6
HIGH_NORM = 1e2


class GradientFlowWarning(UserWarning):
    """A layer's gradients vanished or exploded, or all its ReLUs died."""


class GradientFlowMonitor:
    """Per-layer gradient, activation and update statistics, per epoch.

    Parameters
    ----------
    network : Network
        The network being trained.
    batch_size : int, optional
        The batch size given to ``train``; with ``n_examples`` it tells
        the monitor how many examples each step had, which the activation
        statistics need. Without them, those statistics are read only if
        the training step says its batch size (``last_n_examples``).
    n_examples : int, optional
        The number of training examples N.
    low, high : float, default 1e-6 and 1e2
        Warn when an epoch's mean ‖∂ℓ/∂Ω_k‖_F is below ``low`` or above
        ``high``.
    warn : bool, default True
        Issue ``GradientFlowWarning``s; the messages are kept in each
        epoch's ``warnings`` list either way.

    Attributes
    ----------
    history : list of dict
        One dict per finished epoch, as returned by ``end_epoch``.

    Notes
    -----
    The activation statistics (dead fraction, mean and std of h_k) come
    from the pre-activations the NumPy training step keeps
    (``TrainingStep.pre_activations``); other array libraries take the
    portable step, which keeps none, and those entries are None there.
    The gradient norms and update ratios work with every array library.

    Cost when on: per step, one copy of the parameters and a few
    reductions over the gradient, plus O(N·D) elementwise work over the
    hidden pre-activations; no extra matrix product.
    """

    def __init__(
        self,
        network,
        *,
        batch_size=None,
        n_examples=None,
        low=LOW_NORM,
        high=HIGH_NORM,
        warn=True,
    ):
        if not (isinstance(low, (int, float)) and isinstance(high, (int, float))):
            raise TypeError(f"low and high must be numbers, got {low!r}, {high!r}")
        if not 0 <= low < high:
            raise ValueError(f"need 0 ≤ low < high, got low={low}, high={high}")
        for name, value in (("batch_size", batch_size), ("n_examples", n_examples)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
        self.network = network
        self.batch_size = batch_size
        self.n_examples = n_examples
        self.low, self.high = float(low), float(high)
        self.warn = warn
        self.history = []
        self.n_weight_layers = len(network.omega)
        self.hidden_sizes = network.sizes[1:-1]
        self._before = None
        self._epoch = None
        # (kind, layer) pairs already warned about in this run.
        self._warned = set()

    # ---------------------------------------------------------------- hooks
    def start_epoch(self, epoch):
        """Reset the epoch's sums."""
        n_layers = self.n_weight_layers
        self._epoch = epoch
        self._n_steps = 0
        self._grad_omega = np.zeros(n_layers)
        self._grad_beta = np.zeros(n_layers)
        self._update_ratio = np.zeros(n_layers)
        self._beta_update = np.zeros(n_layers)
        self._n_updates = 0
        self._ever_active = [np.zeros(d, dtype=bool) for d in self.hidden_sizes]
        self._h_sum = np.zeros(len(self.hidden_sizes))
        self._h_square_sum = np.zeros(len(self.hidden_sizes))
        self._h_count = 0
        self._activations_seen = True

    def after_gradient(self, network, step):
        """Record the step's gradient norms and hidden activations."""
        xp = network.xp
        for k in range(self.n_weight_layers):
            self._grad_omega[k] += _norm(step.grad_omega[k], xp)
            self._grad_beta[k] += _norm(step.grad_beta[k], xp)
        self._record_activations(step)
        self._n_steps += 1

        # Keep the parameters before the update, to measure its size.
        if self._before is None:
            self._before = xp.zeros_like(network.parameters)
        if is_numpy(xp):
            np.copyto(self._before, network.parameters)
        else:
            self._before[...] = network.parameters

    def after_update(self, network, step):
        """Record ‖ΔΩ_k‖ / ‖Ω_k‖ (Ω_k before it) and ‖Δβ_k‖ for the update."""
        xp = network.xp
        omega_before, beta_before = _layer_views(self._before, network)
        for k in range(self.n_weight_layers):
            change = _norm(network.omega[k] - omega_before[k], xp)
            size = _norm(omega_before[k], xp)
            self._update_ratio[k] += change / size if size > 0 else math.inf
            beta = xp.reshape(network.beta[k], beta_before[k].shape)
            self._beta_update[k] += _norm(beta - beta_before[k], xp)
        self._n_updates += 1

    def end_epoch(self, epoch):
        """Return ``{"gradient_flow": {...}}`` for the epoch's record.

        Also appends the inner dict to ``history`` and issues warnings.
        """
        n_steps = max(self._n_steps, 1)
        n_updates = max(self._n_updates, 1)
        flow = {
            "epoch": epoch + 1,
            "aggregation": "mean over the epoch's steps of each step's norm",
            "grad_omega_norm": _floats(self._grad_omega / n_steps),
            "grad_beta_norm": _floats(self._grad_beta / n_steps),
            "omega_update_ratio": _floats(self._update_ratio / n_updates),
            "beta_update_norm": _floats(self._beta_update / n_updates),
        }
        if self._activations_seen and self._h_count > 0:
            # Pooled over units and examples: D_k entries per example.
            n_entries = self._h_count * np.array(self.hidden_sizes, dtype=np.float64)
            mean = self._h_sum / n_entries
            variance = np.maximum(self._h_square_sum / n_entries - mean**2, 0.0)
            flow["dead_fraction"] = [
                float(1.0 - np.mean(active)) for active in self._ever_active
            ]
            flow["h_mean"] = _floats(mean)
            flow["h_std"] = _floats(np.sqrt(variance))
        else:
            n_hidden = len(self.hidden_sizes)
            flow["dead_fraction"] = [None] * n_hidden
            flow["h_mean"] = [None] * n_hidden
            flow["h_std"] = [None] * n_hidden
        found = self._warnings(flow)
        flow["warnings"] = [message for _, message in found]
        for key, message in found:
            if self.warn and key not in self._warned:
                warnings.warn(
                    f"{message} (not repeated for later epochs)",
                    GradientFlowWarning,
                    stacklevel=2,
                )
            self._warned.add(key)
        self.history.append(flow)
        return {"gradient_flow": flow}

    # ------------------------------------------------------------- helpers
    def _record_activations(self, step):
        if not self._activations_seen or not self.hidden_sizes:
            return
        n_batch = self._batch_examples(step)
        pre_activations = None
        if n_batch is not None and hasattr(step, "pre_activations"):
            pre_activations = step.pre_activations(n_batch)
        if pre_activations is None:
            # The portable step keeps no pre-activations.
            self._activations_seen = False
            return
        for i, f in enumerate(pre_activations):
            f = to_numpy(f)
            # h_{i+1} = a[f_i]; a unit is active for an example when f > 0.
            self._ever_active[i] |= np.any(f > 0, axis=1)
            h = np.maximum(f, 0.0)
            self._h_sum[i] += float(np.sum(h, dtype=np.float64))
            self._h_square_sum[i] += float(np.vdot(h, h))
        self._h_count += pre_activations[0].shape[1]

    def _batch_examples(self, step):
        """The number of examples in the current step's batch."""
        n = getattr(step, "last_n_examples", None)
        if n is not None:
            return int(n)
        if self.batch_size is None or self.n_examples is None:
            return None
        n_steps = math.ceil(self.n_examples / self.batch_size)
        index = self._n_steps % n_steps
        return min(self.batch_size, self.n_examples - index * self.batch_size)

    def _warnings(self, flow):
        """((kind, layer), message) for each trouble found this epoch."""
        found = []
        epoch = flow["epoch"]
        n_layers = self.n_weight_layers
        last = n_layers - 1
        dead = [
            i + 1
            for i, fraction in enumerate(flow["dead_fraction"])
            if fraction is not None and fraction >= 1.0
        ]
        # A dead h_j silences Ω_0 … Ω_j: the latest dead layer explains
        # every vanishing gradient up to it.
        silenced = max(dead, default=-1)
        for j in dead:
            earlier = "layer 0" if j == 1 else f"layers 0 … {j - 1}"
            if j == last:
                still = f"only β_{j} still learns"
            else:
                still = f"β_{j} and layers {j + 1} … {last} still learn"
            found.append(
                (
                    ("dead", j),
                    f"epoch {epoch}: h_{j}: every ReLU was inactive for every "
                    f"example, so h_{j} = 0: ∂ℓ/∂Ω_{j} = 0 (h_{j} is layer "
                    f"{j}'s input) and no gradient flows back through h_{j} "
                    f"to {earlier} (earlier, closer to the input); "
                    f"{still}",
                )
            )
        for k, norm in enumerate(flow["grad_omega_norm"]):
            if norm is None:
                norm = math.inf
            if norm < self.low and k > silenced:
                hidden = f"h_{max(k, 1)} … h_{last}" if k < last else f"h_{k}"
                found.append(
                    (
                        ("vanishing", k),
                        f"epoch {epoch}: layer {k}: mean ‖∂ℓ/∂Ω_{k}‖ = "
                        f"{norm:.2e} is below {self.low:g}; its gradients "
                        "are vanishing (check the initialization, the depth, "
                        f"and the dead fraction of {hidden}: layer {k}'s "
                        "input and the later layers, closer to the output)",
                    )
                )
            elif norm > self.high:
                found.append(
                    (
                        ("exploding", k),
                        f"epoch {epoch}: layer {k}: mean ‖∂ℓ/∂Ω_{k}‖ = "
                        f"{norm:.2e} is above {self.high:g}; its gradients "
                        "are exploding (try a smaller learning rate or "
                        "weight variance)",
                    )
                )
        return found


def _norm(array, xp):
    """‖array‖ (Frobenius) as a Python float."""
    if is_numpy(xp):
        return float(np.sqrt(np.vdot(array, array)))
    return float(xp.sqrt(xp.sum(array * array)))


def _layer_views(flat, network):
    """Ω_k and β_k views into a flat buffer laid out like ``parameters``."""
    from .network import _views

    shapes = [tuple(w.shape) for w in network.omega]
    return _views(flat, shapes, network.xp)


def _floats(values):
    """Python floats for JSON; a non-finite value becomes None."""
    return [float(v) if math.isfinite(v) else None for v in values]
