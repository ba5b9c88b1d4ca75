"""What ``chainrule train``'s options ask for, once parsed.

Some options only apply to others (--lr-step to --schedule step,
--momentum to --optimizer sgd), and some defaults depend on others (the
learning rate on the optimizer and the loss). The functions here refuse
an option given where it would be ignored, fill in those defaults, check
the ranges, and build the optimizer and learning-rate schedule.
"""

from __future__ import annotations

import math

from ..data.builtin import MNIST1D
from ..training import (
    SGD,
    Adam,
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    StepSchedule,
)
from .errors import UsageError

# Options that only apply in some cases default to None, so that one
# given where it does not apply can be refused rather than ignored.
SITUATIONAL_OPTIONS = ("test_fraction", "lr_step", "lr_min")


def given_situational_options(args):
    """The names of the situational options the user gave."""
    return {name for name in SITUATIONAL_OPTIONS if getattr(args, name) is not None}


def check_applicable(args, given):
    """Refuse an option that was given where it would be ignored."""
    if "test_fraction" in given and args.data == MNIST1D:
        raise UsageError(
            "--test-fraction applies to data without a test part of their "
            "own; mnist1d comes with its own split (4000 training and 1000 "
            "test examples)"
        )
    if "lr_step" in given and args.schedule != "step":
        raise UsageError(
            f"--lr-step applies to --schedule step, not {args.schedule}"
            + (
                " (which multiplies by --lr-factor every epoch)"
                if args.schedule == "exponential"
                else ""
            )
        )
    if "lr_min" in given and args.schedule != "cosine":
        raise UsageError(f"--lr-min applies to --schedule cosine, not {args.schedule}")


def resolve_defaults(args):
    """Fill the defaults that depend on other options; refuse misfits."""
    if args.test_fraction is None:
        args.test_fraction = 0.2
    if args.lr_step is None and args.schedule == "step":
        args.lr_step = 10
    if args.lr_min is None and args.schedule == "cosine":
        args.lr_min = 0.0
    if args.optimizer == "adam":
        for flag, value in (
            ("--momentum", args.momentum),
            ("--dampened", args.dampened or None),
            ("--nesterov", args.nesterov or None),
        ):
            if value is not None:
                raise UsageError(
                    f"{flag} applies to --optimizer sgd; Adam keeps its own "
                    "running means (β₁ = 0.9, β₂ = 0.999)"
                )
    elif args.momentum is None:
        args.momentum = 0.9
    if args.lr is None and args.optimizer == "adam":
        args.lr = 0.001
    elif args.lr is None and args.loss is not None:
        args.lr = sgd_learning_rate(args.loss)
    if args.schedule in ("step", "exponential"):
        if args.lr_factor is None:
            args.lr_factor = 0.5 if args.schedule == "step" else 0.95
    elif args.lr_factor is not None:
        raise UsageError(
            f"--lr-factor applies to --schedule step or exponential, not "
            f"{args.schedule}"
        )


def sgd_learning_rate(loss_name):
    """SGD's default rate: the book's 0.05, or 0.01 for least squares.

    The least-squares gradient 2(f − y) grows with the error, and at 0.05
    with momentum 0.9 the default network diverged on diabetes in its
    first epoch; 0.01 trains it.
    """
    return 0.01 if loss_name == "least-squares" else 0.05


def check_options(args):
    """Refuse option values out of their ranges, or that need another."""
    if args.momentum is not None and not 0.0 <= args.momentum < 1.0:
        raise UsageError(f"--momentum must be in [0, 1), got {args.momentum}")
    if args.nesterov and args.momentum == 0.0:
        raise UsageError("--nesterov needs a momentum above 0 (--momentum)")
    if not (args.weight_decay >= 0.0 and math.isfinite(args.weight_decay)):
        raise UsageError(f"--weight-decay must be ≥ 0, got {args.weight_decay}")
    if args.lr_factor is not None and not 0.0 < args.lr_factor <= 1.0:
        raise UsageError(f"--lr-factor must be in (0, 1], got {args.lr_factor}")
    if (
        args.schedule == "cosine"
        and args.lr is not None
        and not 0.0 <= args.lr_min < args.lr
    ):
        raise UsageError(
            f"--lr-min must be in [0, --lr) = [0, {args.lr}), got {args.lr_min}"
        )
    fraction = args.validation_fraction
    if fraction is not None and not 0.0 < fraction < 1.0:
        raise UsageError(f"--validation-fraction must be in (0, 1), got {fraction}")
    if args.early_stopping and fraction is None and args.validation_data is None:
        raise UsageError(
            "--early-stopping watches the validation loss; add "
            "--validation-fraction F or --validation-data PATH"
        )
    if not 0.0 <= args.relu_at_zero <= 1.0:
        raise UsageError(f"--relu-at-zero must be in [0, 1], got {args.relu_at_zero}")
    if not 0.0 <= args.test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")


def build_optimizer(args):
    """The optimizer the options ask for."""
    if args.optimizer == "adam":
        return Adam(weight_decay=args.weight_decay)
    return SGD(
        args.momentum,
        dampened=args.dampened,
        weight_decay=args.weight_decay,
        nesterov=args.nesterov,
    )


def build_schedule(args):
    """The learning-rate schedule the options ask for."""
    if args.schedule == "constant":
        return ConstantSchedule(args.lr)
    if args.schedule == "exponential":
        return ExponentialSchedule(args.lr, args.lr_factor)
    if args.schedule == "cosine":
        return CosineSchedule(args.lr, args.epochs, args.lr_min)
    return StepSchedule(args.lr, args.lr_step, args.lr_factor)
