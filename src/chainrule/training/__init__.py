"""Training: optimizers, learning-rate schedules and the minibatch loop."""

from .loop import DivergenceError, EpochRecord, Progress, train
from .optimizers import SGD
from .schedules import ConstantSchedule, StepSchedule

__all__ = [
    "SGD",
    "ConstantSchedule",
    "DivergenceError",
    "EpochRecord",
    "Progress",
    "StepSchedule",
    "train",
]
