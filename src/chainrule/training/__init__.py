"""Training: optimizers, learning-rate schedules and the minibatch loop."""

from .loop import DivergenceError, EpochRecord, Progress, train
from .optimizers import SGD, Adam, optimizer_from_config
from .schedules import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    StepSchedule,
    schedule_from_config,
)

__all__ = [
    "SGD",
    "Adam",
    "ConstantSchedule",
    "CosineSchedule",
    "DivergenceError",
    "EpochRecord",
    "ExponentialSchedule",
    "Progress",
    "StepSchedule",
    "optimizer_from_config",
    "schedule_from_config",
    "train",
]
