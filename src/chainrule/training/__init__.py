"""Training: optimizers, learning-rate schedules and the minibatch loop."""

from .checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from .loop import (
    DivergenceError,
    EpochRecord,
    Progress,
    TrainingInterruptedError,
    TrainingState,
    train,
)
from .optimizers import SGD, Adam, optimizer_from_config
from .schedules import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    StepSchedule,
    schedule_from_config,
)
from .validation import EarlyStopping, validation_split

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
    "Checkpoint",
    "CheckpointError",
    "EarlyStopping",
    "TrainingInterruptedError",
    "TrainingState",
    "load_checkpoint",
    "save_checkpoint",
    "validation_split",
]
