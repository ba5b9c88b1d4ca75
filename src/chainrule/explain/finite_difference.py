"""A small central-difference check for the explanation.

For each parameter θ (an entry of some Ω_k or β_k) the loss is evaluated
at θ + s and θ − s and (ℓ(θ + s) − ℓ(θ − s)) / 2s is compared with
backprop's ∂ℓ/∂θ. A perturbation that moves any hidden pre-activation
across 0 straddles a ReLU kink, where the difference is meaningless; such
entries are counted and left out. ``chainrule.verification.gradcheck`` is
the full-strength tool; this one is written to be read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Check every entry of a network with at most this many parameters;
# sample larger ones.
MAX_FULL = 2000

# Entries sampled per array in a larger network.
N_SAMPLED = 16


@dataclass
class ArrayCheck:
    """The check of one parameter array Ω_k or β_k."""

    layer: int
    parameter: str
    n_entries: int
    n_checked: int
    max_abs_error: float
    max_rel_error: float
    largest_index: tuple
    analytic_at_largest: float
    numeric_at_largest: float

    @property
    def symbol(self):
        return ("Ω" if self.parameter == "omega" else "β") + f"_{self.layer}"


@dataclass
class FiniteDifferenceResult:
    """All arrays' checks, the tolerance, and kink-skipped entries."""

    rows: list
    step: float
    rtol: float
    n_kink: int

    @property
    def max_rel_error(self):
        return max(row.max_rel_error for row in self.rows)

    @property
    def passed(self):
        return self.max_rel_error <= self.rtol


def finite_difference_check(
    network, x, y, loss, *, step=1e-6, rtol=1e-5, floor=1e-8, rng=0
):
    """Compare backprop with central differences on every parameter.

    Parameters
    ----------
    network : Network (float64, NumPy)
        Perturbed and restored in place.
    x, y : arrays
        One example and its target, in the loss's layout.
    loss : a loss from ``chainrule.losses``
    step : float, default 1e-6
    rtol : float, default 1e-5
        The largest relative error that passes.
    floor : float, default 1e-8
        Smallest denominator of the relative error, so that gradients
        near 0 are judged absolutely.
    rng : numpy.random.Generator or int, default 0
        Picks the sampled entries of a network over ``MAX_FULL``
        parameters.

    Returns
    -------
    FiniteDifferenceResult
    """
    rng = np.random.default_rng(rng)
    trace = network.forward(x)
    gradients = network.backward(trace, loss.gradient(trace.output, y))
    pattern = [f >= 0 for f in trace.f[:-1]]
    sample = network.parameters.size > MAX_FULL
    rows, n_kink = [], 0
    for k in range(len(network.omega)):
        for name, array, analytic in (
            ("omega", network.omega[k], gradients.omega[k]),
            ("beta", network.beta[k], gradients.beta[k]),
        ):
            indices = list(np.ndindex(array.shape))
            if sample and len(indices) > N_SAMPLED:
                chosen = rng.choice(len(indices), N_SAMPLED, replace=False)
                indices = [indices[i] for i in sorted(chosen)]
            largest = max(indices, key=lambda i: abs(analytic[i]))
            worst_abs = worst_rel = 0.0
            numeric_at_largest = float("nan")
            n_checked = 0
            for index in indices:
                numeric, crossed = _central_difference(
                    network, array, index, x, y, loss, step, pattern
                )
                if index == largest:
                    numeric_at_largest = numeric
                if crossed:
                    n_kink += 1
                    continue
                n_checked += 1
                error = abs(float(analytic[index]) - numeric)
                scale = max(abs(float(analytic[index])), abs(numeric), floor)
                worst_abs = max(worst_abs, error)
                worst_rel = max(worst_rel, error / scale)
            rows.append(
                ArrayCheck(
                    layer=k,
                    parameter=name,
                    n_entries=array.size,
                    n_checked=n_checked,
                    max_abs_error=worst_abs,
                    max_rel_error=worst_rel,
                    largest_index=largest,
                    analytic_at_largest=float(analytic[largest]),
                    numeric_at_largest=numeric_at_largest,
                )
            )
    return FiniteDifferenceResult(rows=rows, step=step, rtol=rtol, n_kink=n_kink)


def _central_difference(network, array, index, x, y, loss, step, pattern):
    """(ℓ(θ + s) − ℓ(θ − s)) / 2s, and whether a ReLU kink was crossed."""
    original = float(array[index])
    values, crossed = [], False
    for sign in (1.0, -1.0):
        array[index] = original + sign * step
        trace = network.forward(x)
        values.append(float(loss.value(trace.output, y)))
        for f, before in zip(trace.f[:-1], pattern, strict=True):
            if np.any((f >= 0) != before):
                crossed = True
    array[index] = original
    return (values[0] - values[1]) / (2 * step), crossed
