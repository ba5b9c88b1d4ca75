"""Optimizers that update the flat parameter buffer in place.

Every optimizer works on two 1-D arrays: the network's ``parameters``
θ (Ω_k and β_k are views into it) and the matching flat gradient g. An
update is a handful of vectorized calls whatever the depth. On NumPy the
calls write into buffers allocated at the first step and reused after
it, so a training step allocates nothing; other array libraries take a
portable path of plain array expressions.

| optimizer | update (g already includes λθ when weight decay is on) |
| --- | --- |
| SGD | θ ← θ − α g |
| momentum | v ← μ v + g, θ ← θ − α v |
| dampened momentum | v ← μ v + (1 − μ) g, θ ← θ − α v |
| Nesterov | v ← μ v + g, θ ← θ − α (g + μ v) |
| dampened Nesterov | v ← μ v + (1 − μ) g, θ ← θ − α ((1 − μ) g + μ v) |
| Adam | m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g², |
| | θ ← θ − α m̂ / (√v̂ + ε), m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ) |

Each optimizer can describe itself (``config``), and save and restore its
running state (``state``, ``load_state``) for checkpoints;
``optimizer_from_config`` rebuilds one from its ``config``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..arrays import is_numpy, namespace_of
from .configs import build_from_config


class SGD:
    """Stochastic gradient descent, with optional momentum and L2 decay.

    With gradient g, learning rate α, momentum μ and weight decay λ:

        g ← g + λ θ                     (L2 weight decay, when λ > 0)
        v ← μ v + g                     (default form)
        v ← μ v + (1 − μ) g             (``dampened=True``, the book's
                                         eq. 6.11)
        θ ← θ − α v                     (heavy-ball momentum)
        θ ← θ − α (g + μ v)             (``nesterov=True``)
        θ ← θ − α ((1 − μ) g + μ v)     (``nesterov=True, dampened=True``)

    v starts at 0. With μ = 0 the update is plain θ ← θ − α g.

    Parameters
    ----------
    momentum : float in [0, 1), default 0.0
        μ.
    dampened : bool, default False
        Weight the new gradient by (1 − μ), as the book's eq. 6.11 does.
    weight_decay : float ≥ 0, default 0.0
        λ, the L2 penalty's coefficient: the loss gains (λ/2) ‖θ‖², so the
        gradient gains λ θ. Biases are decayed too.
    nesterov : bool, default False
        Nesterov accelerated momentum (needs μ > 0).

    Notes
    -----
    Momentum forms differ between sources. The default, v ← μ v + g, is
    PyTorch's ``torch.optim.SGD`` (dampening 0) and what the book's
    MNIST-1D notebook runs, so chainrule's default recipe matches the
    book's experiment. The book's own eq. 6.11 weights the new gradient by
    (1 − μ); for the same α its steps are (1 − μ) times as long, so it
    needs a learning rate 1 / (1 − μ) times larger to move as fast. Pass
    ``dampened=True`` for it.

    Nesterov momentum is written, as in PyTorch and Sutskever et al.
    (2013), in terms of the look-ahead point: the book's eq. 6.12 form
    evaluates the gradient at θ − α μ v, and substituting that point for θ
    gives the updates above exactly (the dampened line is eq. 6.12
    itself, the undampened one PyTorch's ``nesterov=True``). The stored
    parameters are the look-ahead point.
    """

    name = "sgd"

    def __init__(self, momentum=0.0, dampened=False, weight_decay=0.0, nesterov=False):
        momentum = _check_number("momentum", momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.weight_decay = _check_weight_decay(weight_decay)
        if nesterov and momentum == 0.0:
            raise ValueError(
                "Nesterov momentum needs a momentum μ > 0; got momentum 0 "
                "(set momentum, e.g. 0.9, or drop nesterov)"
            )
        self.momentum = momentum
        self.dampened = bool(dampened)
        self.nesterov = bool(nesterov)
        self.velocity = None
        self._scratch = None

    def step(self, parameters, gradient, learning_rate):
        """Apply one update to ``parameters`` in place.

        Parameters
        ----------
        parameters : 1-D array
            θ, updated in place.
        gradient : 1-D array
            g, laid out like ``parameters``. It serves as scratch space and
            may be overwritten (weight decay adds λ θ into it).
        learning_rate : float
            α for this step.
        """
        if is_numpy(namespace_of(parameters)):
            self._numpy_step(parameters, gradient, learning_rate)
        else:
            self._portable_step(parameters, gradient, learning_rate)

    def _numpy_step(self, theta, g, alpha):
        # The gradient buffer g doubles as scratch space, so the common
        # forms (plain SGD and momentum) need no buffer of their own.
        mu = self.momentum

        # L2 weight decay: g ← g + λ θ.
        if self.weight_decay:
            scratch = self._scratch_like(theta)
            np.multiply(theta, self.weight_decay, out=scratch)
            g += scratch

        # The new-gradient term: g, or (1 − μ) g when dampened.
        if self.dampened:
            g *= 1.0 - mu

        # Plain SGD: θ ← θ − α g.
        if mu == 0.0:
            g *= alpha
            theta -= g
            return

        # v ← μ v + g (g already holds the dampened term if asked).
        if self.velocity is None:
            self.velocity = np.zeros_like(theta)
        v = self.velocity
        v *= mu
        v += g

        # θ ← θ − α d, with d = v, or the Nesterov look-ahead g + μ v.
        if self.nesterov:
            scratch = self._scratch_like(theta)
            np.multiply(v, mu, out=scratch)
            g += scratch
            g *= alpha
        else:
            np.multiply(v, alpha, out=g)
        theta -= g

    def _scratch_like(self, theta):
        if self._scratch is None or self._scratch.shape != theta.shape:
            self._scratch = np.empty_like(theta)
        return self._scratch

    def _portable_step(self, theta, g, alpha):
        # The same steps as on NumPy, in place; only weight decay and
        # Nesterov make a temporary array.
        mu = self.momentum
        if self.weight_decay:
            g += self.weight_decay * theta
        if self.dampened:
            g *= 1.0 - mu
        if mu == 0.0:
            g *= alpha
            theta -= g
            return
        if self.velocity is None:
            self.velocity = namespace_of(theta).zeros_like(theta)
        v = self.velocity
        v *= mu
        v += g
        if self.nesterov:
            g += mu * v
        else:
            g[...] = v
        g *= alpha
        theta -= g

    def config(self):
        """The constructor's arguments, as a JSON-able dict with ``name``."""
        return {
            "name": self.name,
            "momentum": self.momentum,
            "dampened": self.dampened,
            "weight_decay": self.weight_decay,
            "nesterov": self.nesterov,
        }

    def state(self):
        """The running state, a dict of arrays (empty before any step).

        The arrays are the live buffers; copy them to keep a snapshot.
        """
        return {} if self.velocity is None else {"velocity": self.velocity}

    def load_state(self, state):
        """Restore what ``state`` returned (copied into new buffers)."""
        _check_state_keys(self, state, set(), {"velocity"})
        velocity = state.get("velocity")
        self.velocity = None if velocity is None else _copy(velocity)


class Adam:
    """Adam, with bias correction (Kingma and Ba, 2015; the book's eq. 6.16).

    With gradient g, learning rate α, decay rates β₁ and β₂, step count
    t = 1, 2, … and weight decay λ:

        g ← g + λ θ                     (L2 weight decay, when λ > 0)
        m ← β₁ m + (1 − β₁) g
        v ← β₂ v + (1 − β₂) g²
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
        θ ← θ − α m̂ / (√v̂ + ε)

    m and v start at 0; the bias correction undoes their pull towards 0
    in the first steps. At t = 1, m̂ = g and v̂ = g², so every parameter
    moves by α g / (|g| + ε), nearly α in the direction of −g.

    Parameters
    ----------
    beta1 : float in [0, 1), default 0.9
        β₁, the decay of the gradient's running mean (the book's β).
    beta2 : float in [0, 1), default 0.999
        β₂, the decay of the squared gradient's running mean (the book's
        γ).
    epsilon : float > 0, default 1e-8
    weight_decay : float ≥ 0, default 0.0
        λ, added to the gradient as λ θ before the moments are updated.

    Notes
    -----
    The formulas are the book's and PyTorch's ``torch.optim.Adam``. Weight
    decay here is the classic L2 penalty (PyTorch's ``Adam(weight_decay=)``),
    not the decoupled decay of AdamW: the penalty's gradient is rescaled by
    √v̂ like the rest of g.
    """

    name = "adam"

    def __init__(self, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0):
        beta1 = _check_number("beta1", beta1)
        beta2 = _check_number("beta2", beta2)
        epsilon = _check_number("epsilon", epsilon)
        for label, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {value}")
        if not epsilon > 0.0:
            raise ValueError(f"epsilon must be positive, got {epsilon}")
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.weight_decay = _check_weight_decay(weight_decay)
        self.t = 0
        self.m = None
        self.v = None
        self._scratch = None

    def step(self, parameters, gradient, learning_rate):
        """Apply one update to ``parameters`` in place.

        ``gradient`` serves as scratch space and may be overwritten (weight
        decay adds λ θ into it).
        """
        self.t += 1
        if is_numpy(namespace_of(parameters)):
            self._numpy_step(parameters, gradient, learning_rate)
        else:
            self._portable_step(parameters, gradient, learning_rate)

    def _corrections(self, alpha):
        # α / (1 − β₁ᵗ) and √(1 − β₂ᵗ), in float64 whatever the dtype.
        step_size = alpha / (1.0 - self.beta1**self.t)
        root_correction = math.sqrt(1.0 - self.beta2**self.t)
        return step_size, root_correction

    def _numpy_step(self, theta, g, alpha):
        b1, b2 = self.beta1, self.beta2
        if self.m is None:
            self.m = np.zeros_like(theta)
            self.v = np.zeros_like(theta)
        if self._scratch is None or self._scratch.shape != theta.shape:
            self._scratch = np.empty_like(theta)
        m, v, scratch = self.m, self.v, self._scratch

        # L2 weight decay: g ← g + λ θ.
        if self.weight_decay:
            np.multiply(theta, self.weight_decay, out=scratch)
            g += scratch

        # m ← β₁ m + (1 − β₁) g
        m *= b1
        np.multiply(g, 1.0 - b1, out=scratch)
        m += scratch

        # v ← β₂ v + (1 − β₂) g²
        v *= b2
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - b2
        v += scratch

        # θ ← θ − α m̂ / (√v̂ + ε), with √v̂ = √v / √(1 − β₂ᵗ).
        step_size, root_correction = self._corrections(alpha)
        np.sqrt(v, out=scratch)
        scratch /= root_correction
        scratch += self.epsilon
        np.divide(m, scratch, out=scratch)
        scratch *= step_size
        theta -= scratch

    def _portable_step(self, theta, g, alpha):
        xp = namespace_of(theta)
        b1, b2 = self.beta1, self.beta2
        if self.weight_decay:
            g = g + self.weight_decay * theta
        if self.m is None:
            self.m = xp.zeros_like(theta)
            self.v = xp.zeros_like(theta)
        self.m = b1 * self.m + (1.0 - b1) * g
        self.v = b2 * self.v + (1.0 - b2) * (g * g)
        step_size, root_correction = self._corrections(alpha)
        denominator = xp.sqrt(self.v) / root_correction + self.epsilon
        theta -= step_size * (self.m / denominator)

    def config(self):
        """The constructor's arguments, as a JSON-able dict with ``name``."""
        return {
            "name": self.name,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
            "weight_decay": self.weight_decay,
        }

    def state(self):
        """The running state: ``m``, ``v`` and the step count ``t``.

        The arrays are the live buffers; copy them to keep a snapshot.
        """
        if self.m is None:
            return {"t": np.asarray(self.t, dtype=np.int64)}
        return {"m": self.m, "v": self.v, "t": np.asarray(self.t, dtype=np.int64)}

    def load_state(self, state):
        """Restore what ``state`` returned (copied into new buffers)."""
        _check_state_keys(self, state, {"t"}, {"m", "v"})
        self.t = int(state["t"])
        if ("m" in state) != ("v" in state):
            raise ValueError("Adam state needs both 'm' and 'v', or neither")
        self.m = _copy(state["m"]) if "m" in state else None
        self.v = _copy(state["v"]) if "v" in state else None


OPTIMIZERS = {SGD.name: SGD, Adam.name: Adam}


def optimizer_from_config(config):
    """Build an optimizer from the dict its ``config()`` returned.

    Raises
    ------
    ValueError
        For an unknown name or an argument the optimizer does not take.
    """
    return build_from_config(OPTIMIZERS, config, "optimizer")


def _copy(array):
    xp = namespace_of(array)
    return xp.asarray(array, copy=True)


def _check_state_keys(optimizer, state, required, optional):
    keys = set(state)
    missing = required - keys
    unknown = keys - required - optional
    if missing or unknown:
        raise ValueError(
            f"{optimizer.name} state needs {sorted(required)} (and may hold "
            f"{sorted(optional)}); got {sorted(keys)}"
        )


def _check_number(label, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{label} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{label} must be finite, got {value}")
    return value


def _check_weight_decay(weight_decay):
    weight_decay = _check_number("weight_decay", weight_decay)
    if weight_decay < 0.0:
        raise ValueError(f"weight_decay must be ≥ 0, got {weight_decay}")
    return weight_decay
