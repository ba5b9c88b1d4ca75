"""Learning-rate schedules: the rate α to use in a given epoch."""

from __future__ import annotations


class ConstantSchedule:
    """α stays at its initial value."""

    def __init__(self, learning_rate):
        self.learning_rate = _check_rate(learning_rate)

    def __call__(self, epoch):
        return self.learning_rate


class StepSchedule:
    """α is multiplied by ``factor`` every ``every`` epochs.

    In epoch e (counting from 0), α_e = α_0 · factor^⌊e / every⌋. The
    book's MNIST-1D recipe halves α every 10 epochs (PyTorch's ``StepLR``
    with step_size=10, gamma=0.5).
    """

    def __init__(self, learning_rate, every=10, factor=0.5):
        self.learning_rate = _check_rate(learning_rate)
        if int(every) != every or every < 1:
            raise ValueError(f"every must be a whole number ≥ 1, got {every}")
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"factor must be in (0, 1], got {factor}")
        self.every = int(every)
        self.factor = float(factor)

    def __call__(self, epoch):
        return self.learning_rate * self.factor ** (epoch // self.every)


def _check_rate(learning_rate):
    if not learning_rate > 0.0:
        raise ValueError(f"the learning rate must be positive, got {learning_rate}")
    return float(learning_rate)
