"""Learning-rate schedules against their closed forms, worked by hand."""

import math

import pytest

from chainrule.training.schedules import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    StepSchedule,
    schedule_from_config,
)


def test_constant():
    schedule = ConstantSchedule(0.05)
    assert [schedule(e) for e in (0, 1, 99)] == [0.05, 0.05, 0.05]


def test_step_halves_every_ten_epochs():
    schedule = StepSchedule(0.05, every=10, factor=0.5)
    # Powers of 1/2 are exact: α_e = 0.05 · 0.5^⌊e/10⌋.
    assert schedule(0) == schedule(9) == 0.05
    assert schedule(10) == schedule(19) == 0.025
    assert schedule(49) == 0.05 / 16


def test_exponential():
    schedule = ExponentialSchedule(1.0, factor=0.5)
    assert [schedule(e) for e in range(4)] == [1.0, 0.5, 0.25, 0.125]


def test_cosine_by_hand():
    schedule = CosineSchedule(1.0, n_epochs=4, minimum=0.2)
    # α_e = 0.2 + 0.4 (1 + cos(π e / 4)); cos(π/4) = √2/2, cos(π/2) = 0.
    expected = [1.0, 0.2 + 0.4 * (1 + math.sqrt(0.5)), 0.6, 0.2 + 0.4 * (1 - 0.5**0.5)]
    for epoch, value in enumerate(expected):
        # cos at a multiple of π/4 is within a few ulps of its exact value.
        assert schedule(epoch) == pytest.approx(value, rel=1e-15, abs=1e-15)
    assert schedule(4) == schedule(10) == 0.2


def test_cosine_matches_pytorch():
    torch = pytest.importorskip("torch")
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=7, eta_min=0.01
    )
    schedule = CosineSchedule(0.1, n_epochs=7, minimum=0.01)
    for epoch in range(7):
        # PyTorch's recursive form drifts from the closed form by rounding.
        assert schedule(epoch) == pytest.approx(
            optimizer.param_groups[0]["lr"], rel=1e-12
        )
        optimizer.step()
        reference.step()


@pytest.mark.parametrize(
    "schedule",
    [
        ConstantSchedule(0.1),
        StepSchedule(0.1, 3, 0.7),
        ExponentialSchedule(0.1, 0.9),
        CosineSchedule(0.1, 20, 0.001),
    ],
    ids=lambda s: s.name,
)
def test_config_round_trip(schedule):
    rebuilt = schedule_from_config(schedule.config())
    assert [rebuilt(e) for e in range(25)] == [schedule(e) for e in range(25)]


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: ConstantSchedule(0.0), ValueError, "must be positive"),
        (lambda: ConstantSchedule(float("inf")), ValueError, "positive and finite"),
        (lambda: ConstantSchedule("0.1"), TypeError, "must be a number"),
        (lambda: StepSchedule(0.1, 0), ValueError, "every must be"),
        (lambda: StepSchedule(0.1, 2, 1.5), ValueError, "factor must be in"),
        (lambda: ExponentialSchedule(0.1, 0.0), ValueError, "factor must be in"),
        (lambda: CosineSchedule(0.1, 0), ValueError, "n_epochs must be"),
        (lambda: CosineSchedule(0.1, 5, 0.2), ValueError, "minimum must be in"),
        (lambda: schedule_from_config({"name": "cyclic"}), ValueError, "unknown"),
    ],
)
def test_bad_settings(make, error, message):
    with pytest.raises(error, match=message):
        make()
