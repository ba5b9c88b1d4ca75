"""Central differences that know where the ReLU kinks are.

A ReLU network's loss is smooth except where some pre-activation f_k
crosses 0. A central difference (ℓ(θ + s) − ℓ(θ − s)) / 2s is accurate
only when no pre-activation crosses 0 between θ − s and θ + s. This module
detects such crossings by comparing the ReLU indicators I[f_k ≥ 0] of the
traces at θ ± s with those at θ, and where one happens it measures the
left and right one-sided slopes instead: the analytic derivative at θ
must lie between them.

Errors are judged with one definition throughout::

    relative error = |a − n| / max(|a|, |n|, floor)

where a is the analytic value, n the numeric one and ``floor`` =
atol / rtol. An entry passes when its relative error is at most rtol,
which is the same as |a − n| ≤ max(rtol · max(|a|, |n|), atol): large
values are judged relatively, values below the floor absolutely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RELATIVE_ERROR_DEFINITION = (
    "relative error = |a − n| / max(|a|, |n|, floor), floor = atol / rtol; "
    "a = analytic, n = numeric; an entry passes when relative error ≤ rtol, "
    "i.e. |a − n| ≤ max(rtol·max(|a|, |n|), atol)"
)

# The safety factor on the rounding error of a central difference.
ROUNDING_SAFETY = 100.0


def rounding_atol(loss_value, step):
    """The default absolute tolerance: the rounding error of a difference.

    A loss computed in float64 carries a rounding error of about
    ε · |ℓ|, and dividing a difference of two losses by 2s magnifies it to
    about ε · |ℓ| / s. The default absolute tolerance is that, times a
    safety factor of 100, with |ℓ| taken as at least 1.

    Parameters
    ----------
    loss_value : float
        ℓ at the unperturbed parameters.
    step : float
        The finite-difference step s.

    Returns
    -------
    float
        100 · ε · max(1, |ℓ|) / s, with ε the float64 machine epsilon.
    """
    epsilon = float(np.finfo(np.float64).eps)
    return ROUNDING_SAFETY * epsilon * max(1.0, abs(loss_value)) / step


def relative_error(analytic, numeric, floor):
    """|a − n| / max(|a|, |n|, floor), elementwise.

    Parameters
    ----------
    analytic, numeric : float or ndarray
    floor : float
        The smallest denominator; atol / rtol in chainrule's checker.

    Returns
    -------
    float or ndarray
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return np.abs(analytic - numeric) / scale


def relu_pattern(trace):
    """The ReLU indicators I[f_k ≥ 0] of every hidden layer of a trace."""
    return [f >= 0 for f in trace.f[:-1]]


def crosses_kink(pattern, other):
    """True when any hidden pre-activation is on a different side of 0."""
    for before, after in zip(pattern, other, strict=True):
        if not np.array_equal(before, after):
            return True
    return False


@dataclass(frozen=True)
class NumericDerivative:
    """A finite-difference derivative, with the interval it allows.

    Attributes
    ----------
    lower, upper : float
        The interval the analytic derivative must lie in. Away from kinks
        both equal the central difference; at a kink they are the smaller
        and larger of the left and right one-sided slopes.
    at_kink : bool
        True when a perturbation moved some pre-activation across 0, so
        that the one-sided slopes decided.
    """

    lower: float
    upper: float
    at_kink: bool

    def nearest(self, analytic):
        """The point of [lower, upper] closest to ``analytic``."""
        return min(max(analytic, self.lower), self.upper)


class LossProbe:
    """Evaluates ℓ and the ReLU pattern at perturbed parameters.

    The probe perturbs a slice of the network's flat parameter buffer in
    place, θ[start:stop] ← θ[start:stop] + t v, runs the forward pass, and
    restores the slice exactly. The network must be a float64 NumPy
    network owned by the caller for the duration.

    Parameters
    ----------
    network : Network
    x : ndarray of shape (D_i, N)
    y : ndarray
        Targets in the form the loss expects.
    loss : loss object
        Anything with ``value(output, y)``.
    """

    def __init__(self, network, x, y, loss):
        self.network = network
        self.x = x
        self.y = y
        self.loss = loss
        self.n_evaluations = 0
        trace = network.forward(x)
        self.value = float(loss.value(trace.output, y))
        self.pattern = relu_pattern(trace)
        self.trace = trace

    def at(self, start, stop, direction, t):
        """ℓ and the ReLU pattern at θ[start:stop] + t · direction."""
        theta = self.network.parameters
        saved = theta[start:stop].copy()
        theta[start:stop] = saved + t * direction
        try:
            trace = self.network.forward(self.x)
            value = float(self.loss.value(trace.output, self.y))
            pattern = relu_pattern(trace)
        finally:
            theta[start:stop] = saved
        self.n_evaluations += 1
        return value, pattern

    def derivative(self, start, stop, direction, step, shrink=1):
        """The derivative of ℓ along ``direction`` on θ[start:stop].

        Away from kinks this is the central difference
        (ℓ(θ + s v) − ℓ(θ − s v)) / 2s. When a perturbation of ±s moves a
        pre-activation across 0, it is instead the interval between the
        left and right one-sided slopes (see ``one_sided_slope``). When
        both ±s cross a kink, the step is first divided by 10, ``shrink``
        times at most.

        Returns
        -------
        NumericDerivative
        """
        plus, plus_pattern = self.at(start, stop, direction, step)
        minus, minus_pattern = self.at(start, stop, direction, -step)
        kink_right = crosses_kink(self.pattern, plus_pattern)
        kink_left = crosses_kink(self.pattern, minus_pattern)
        if not (kink_right or kink_left):
            central = (plus - minus) / (2 * step)
            return NumericDerivative(central, central, at_kink=False)

        # With kinks on both sides the analytic value need not lie between
        # the two averaged slopes; a step ten times smaller usually leaves
        # at most one side crossing.
        if kink_right and kink_left and shrink > 0:
            smaller = self.derivative(start, stop, direction, step / 10, shrink - 1)
            return NumericDerivative(smaller.lower, smaller.upper, at_kink=True)

        right = self.one_sided_slope(start, stop, direction, step, plus, kink_right)
        left = self.one_sided_slope(start, stop, direction, -step, minus, kink_left)
        return NumericDerivative(min(left, right), max(left, right), at_kink=True)

    def one_sided_slope(self, start, stop, direction, step, value, crossed):
        """The one-sided slope on the side of ``step`` (its sign).

        Where no pre-activation crosses 0 on this side, the slope is the
        second-order formula (−3 ℓ(0) + 4 ℓ(h) − ℓ(2h)) / 2h, accurate to
        O(h²) like the central difference: with h = s when the point 2s is
        still on the same side of every kink, else with h = s / 2. Where
        the point s is already across a kink, it is the first-order
        (ℓ(s) − ℓ(0)) / s, which averages the slopes before and after the
        crossing and so lies between them.

        Parameters
        ----------
        step : float
            Signed: positive for the right slope, negative for the left.
        value : float
            ℓ at θ + step · direction, already computed.
        crossed : bool
            Whether that point is already across a kink.
        """
        if crossed:
            return (value - self.value) / step
        far, far_pattern = self.at(start, stop, direction, 2 * step)
        if not crosses_kink(self.pattern, far_pattern):
            return (-3 * self.value + 4 * value - far) / (2 * step)
        half, _ = self.at(start, stop, direction, step / 2)
        return (-3 * self.value + 4 * half - value) / step
