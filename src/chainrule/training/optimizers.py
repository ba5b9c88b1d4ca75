"""Optimizers that update the flat parameter buffer in place.

Every optimizer works on two 1-D arrays: the network's ``parameters``
(Ω_k and β_k are views into it) and the matching flat gradient. An update
is a handful of vectorized calls whatever the depth.
"""

from __future__ import annotations

from ..arrays import is_numpy, namespace_of


class SGD:
    """Stochastic gradient descent, with optional momentum and L2 decay.

    With gradient g, learning rate α, momentum μ and weight decay λ:

        g ← g + λ θ                 (L2 weight decay, when λ > 0)
        v ← μ v + g                 (default form)
        v ← μ v + (1 − μ) g         (``dampened=True``, the book's eq. 6.11)
        θ ← θ − α v

    Parameters
    ----------
    momentum : float in [0, 1), default 0.0
    dampened : bool, default False
    weight_decay : float ≥ 0, default 0.0

    Notes
    -----
    The default form is PyTorch's ``torch.optim.SGD`` (dampening 0) and
    what the book's MNIST-1D notebook runs. The book's own equation 6.11
    weights the new gradient by (1 − μ), so the same α takes steps
    1 / (1 − μ) times smaller in the long run; pass ``dampened=True`` for
    it.
    """

    def __init__(self, momentum=0.0, dampened=False, weight_decay=0.0):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"weight_decay must be ≥ 0, got {weight_decay}")
        self.momentum = float(momentum)
        self.dampened = bool(dampened)
        self.weight_decay = float(weight_decay)
        self.velocity = None
        self._scratch = None

    def step(self, parameters, gradient, learning_rate):
        """Apply one update to ``parameters`` in place.

        ``gradient`` may be modified (weight decay is added into it).
        """
        if self.weight_decay:
            gradient += self.weight_decay * parameters
        if self.momentum == 0.0:
            direction = gradient
        else:
            if self.velocity is None:
                xp = namespace_of(parameters)
                self.velocity = xp.zeros_like(parameters)
            self.velocity *= self.momentum
            if self.dampened:
                self.velocity += (1.0 - self.momentum) * gradient
            else:
                self.velocity += gradient
            direction = self.velocity
        _subtract_scaled(parameters, learning_rate, direction, self)

    def state(self):
        """The optimizer's state as a dict of arrays (for checkpoints)."""
        return {} if self.velocity is None else {"velocity": self.velocity}

    def load_state(self, state):
        """Restore what ``state`` returned."""
        self.velocity = state.get("velocity")


def _subtract_scaled(parameters, learning_rate, direction, owner):
    """θ ← θ − α d, reusing a scratch buffer on NumPy."""
    xp = namespace_of(parameters)
    if not is_numpy(xp):
        parameters -= learning_rate * direction
        return
    import numpy as np

    if owner._scratch is None or owner._scratch.shape != parameters.shape:
        owner._scratch = np.empty_like(parameters)
    np.multiply(direction, learning_rate, out=owner._scratch)
    np.subtract(parameters, owner._scratch, out=parameters)
