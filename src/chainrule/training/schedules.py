"""Learning-rate schedules: the rate α to use in a given epoch.

A schedule is a function of the epoch e alone (counting from 0), so its
position in a checkpoint is the epoch number and nothing else.

| schedule | α_e |
| --- | --- |
| ConstantSchedule | α_0 |
| StepSchedule | α_0 · γ^⌊e / s⌋ |
| ExponentialSchedule | α_0 · γ^e |
| CosineSchedule | α_min + ½ (α_0 − α_min) (1 + cos(π e / E)) |

Each schedule describes itself with ``config()``; ``schedule_from_config``
rebuilds it.
"""

from __future__ import annotations

import math
import numbers

from .configs import build_from_config


class ConstantSchedule:
    """α stays at its initial value: α_e = α_0."""

    name = "constant"

    def __init__(self, learning_rate):
        self.learning_rate = _check_rate(learning_rate)

    def __call__(self, epoch):
        return self.learning_rate

    def config(self):
        """The constructor's arguments, as a JSON-able dict with ``name``."""
        return {"name": self.name, "learning_rate": self.learning_rate}


class StepSchedule:
    """α is multiplied by ``factor`` every ``every`` epochs.

    In epoch e (counting from 0), α_e = α_0 · factor^⌊e / every⌋. The
    book's MNIST-1D recipe halves α every 10 epochs (PyTorch's ``StepLR``
    with step_size=10, gamma=0.5).
    """

    name = "step"

    def __init__(self, learning_rate, every=10, factor=0.5):
        self.learning_rate = _check_rate(learning_rate)
        if isinstance(every, bool) or int(every) != every or every < 1:
            raise ValueError(f"every must be a whole number ≥ 1, got {every}")
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"factor must be in (0, 1], got {factor}")
        self.every = int(every)
        self.factor = float(factor)

    def __call__(self, epoch):
        return self.learning_rate * self.factor ** (epoch // self.every)

    def config(self):
        """The constructor's arguments, as a JSON-able dict with ``name``."""
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "every": self.every,
            "factor": self.factor,
        }


class ExponentialSchedule:
    """α decays by ``factor`` every epoch: α_e = α_0 · factor^e.

    PyTorch's ``ExponentialLR`` with gamma=factor.
    """

    name = "exponential"

    def __init__(self, learning_rate, factor=0.95):
        self.learning_rate = _check_rate(learning_rate)
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"factor must be in (0, 1], got {factor}")
        self.factor = float(factor)

    def __call__(self, epoch):
        return self.learning_rate * self.factor**epoch

    def config(self):
        """The constructor's arguments, as a JSON-able dict with ``name``."""
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "factor": self.factor,
        }


class CosineSchedule:
    """α follows half a cosine from α_0 down towards α_min over E epochs.

        α_e = α_min + ½ (α_0 − α_min) (1 + cos(π e / E)),  e = 0 … E − 1

    α_0 in the first epoch; the last epoch's rate is just above α_min.
    Epochs past E stay at α_min. This is the closed form of PyTorch's
    ``CosineAnnealingLR`` with T_max=E and eta_min=α_min, without restarts.

    Parameters
    ----------
    learning_rate : float > 0
        α_0.
    n_epochs : int ≥ 1
        E, the length of the decay, normally the run's number of epochs.
    minimum : float ≥ 0, default 0.0
        α_min, below α_0.
    """

    name = "cosine"

    def __init__(self, learning_rate, n_epochs, minimum=0.0):
        self.learning_rate = _check_rate(learning_rate)
        if isinstance(n_epochs, bool) or int(n_epochs) != n_epochs or n_epochs < 1:
            raise ValueError(f"n_epochs must be a whole number ≥ 1, got {n_epochs}")
        if not 0.0 <= minimum < self.learning_rate:
            raise ValueError(
                f"minimum must be in [0, learning_rate) = [0, "
                f"{self.learning_rate}), got {minimum}"
            )
        self.n_epochs = int(n_epochs)
        self.minimum = float(minimum)

    def __call__(self, epoch):
        if epoch >= self.n_epochs:
            return self.minimum
        cosine = math.cos(math.pi * epoch / self.n_epochs)
        return self.minimum + 0.5 * (self.learning_rate - self.minimum) * (1 + cosine)

    def config(self):
        """The constructor's arguments, as a JSON-able dict with ``name``."""
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "n_epochs": self.n_epochs,
            "minimum": self.minimum,
        }


SCHEDULES = {
    kind.name: kind
    for kind in (ConstantSchedule, StepSchedule, ExponentialSchedule, CosineSchedule)
}


def schedule_from_config(config):
    """Build a schedule from the dict its ``config()`` returned.

    Raises
    ------
    ValueError
        For an unknown name or an argument the schedule does not take.
    """
    return build_from_config(SCHEDULES, config, "schedule")


def _check_rate(learning_rate):
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
        raise TypeError(f"the learning rate must be a number, got {learning_rate!r}")
    if not (learning_rate > 0.0 and math.isfinite(learning_rate)):
        raise ValueError(
            f"the learning rate must be positive and finite, got {learning_rate}"
        )
    return float(learning_rate)
