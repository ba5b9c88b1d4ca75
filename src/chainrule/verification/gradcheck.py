"""The gradient checker: backprop against central differences, in float64.

``gradcheck`` compares the gradient that ``Network.backward`` returns with
central differences of the loss, for every parameter array Ω_k and β_k,
and returns one row per array: its shape, the largest absolute and
relative errors, the worst entry with its analytic and numeric values, how
many entries were decided at a ReLU kink, and whether the array passed.

Three modes trade thoroughness for time:

| mode | what is differenced | forward passes |
| --- | --- | --- |
| ``"full"`` | every entry of every Ω_k and β_k | ≈ 2 per entry |
| ``"sample"`` | ``n_samples`` random entries per array | ≈ 2 per entry |
| ``"direction"`` | ∂ℓ/∂θ · v, ``n_samples`` unit v per array | ≈ 2 per v |

The check always runs in float64: a float32 network (or one on another
array library) is checked on a float64 NumPy copy, and the result says so.
The network passed in is never modified.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..arrays import dtype_name, to_numpy
from ..losses import CrossEntropy, get_loss
from ..network import Network
from .finite_differences import (
    RELATIVE_ERROR_DEFINITION,
    LossProbe,
    relative_error,
    rounding_atol,
)

MODES = ("full", "sample", "direction")

# Default number of entries (sample mode) or directions (direction mode)
# per parameter array.
DEFAULT_SAMPLES = {"sample": 32, "direction": 4}

DEFAULT_STEP = 1e-6
DEFAULT_RTOL = 1e-6

# The steps of a sweep: every decade from 1e-1 down to 1e-10.
DEFAULT_SWEEP_STEPS = tuple(10.0**-e for e in range(1, 11))


@dataclass(frozen=True)
class ParameterCheck:
    """The check of one parameter array, Ω_k or β_k.

    Attributes
    ----------
    layer : int
        k.
    parameter : {"omega", "beta"}
    shape : tuple of int
    unit : {"entry", "direction"}
        What was differenced: single entries, or random directions.
    n_checked : int
        How many entries or directions were differenced.
    max_abs_error, max_rel_error : float
        The largest |a − n| and the largest relative error (see
        ``RELATIVE_ERROR_DEFINITION``).
    worst_index : tuple of int
        The entry (or, in direction mode, the direction number) with the
        largest relative error.
    analytic_at_worst, numeric_at_worst : float
        a and n at the worst entry. At a kink, n is the point of the
        one-sided slopes' interval nearest to a.
    n_kink_decided : int
        Entries whose perturbation moved some pre-activation across 0, so
        that the one-sided slopes, not the central difference, decided.
    n_failed : int
        Entries whose relative error exceeds rtol.
    passed : bool
    """

    layer: int
    parameter: str
    shape: tuple
    unit: str
    n_checked: int
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic_at_worst: float
    numeric_at_worst: float
    n_kink_decided: int
    n_failed: int
    passed: bool

    @property
    def symbol(self):
        """The book's name of the array: "Ω_k" or "β_k"."""
        letter = "Ω" if self.parameter == "omega" else "β"
        return f"{letter}_{self.layer}"


@dataclass(frozen=True)
class GradcheckResult:
    """What ``gradcheck`` found, one row per parameter array.

    Attributes
    ----------
    rows : tuple of ParameterCheck
        Ω_0, β_0, Ω_1, β_1, …, Ω_K, β_K.
    mode : str
    step : float
        The finite-difference step s.
    rtol, atol : float
        The tolerances; ``floor`` = atol / rtol.
    loss_name : str
    loss_value : float
        ℓ at the checked parameters.
    sizes : list of int
    n_examples : int
    original_dtype : str
        The dtype of the network that was passed in.
    checked_dtype : str
        Always "float64".
    relu_derivative_at_zero : float
        The ReLU convention of the network's backward pass.
    n_preactivations_at_zero : int
        Hidden pre-activations exactly 0 at the checked point, where that
        convention matters.
    n_evaluations : int
        Forward passes spent on finite differences.
    seed : int or None
        The seed of the sampled entries or directions, when one was given.
    notes : tuple of str
        Remarks a reader should see, such as a float64 copy being checked.
    definition : str
        The definition of the relative error.
    """

    rows: tuple
    mode: str
    step: float
    rtol: float
    atol: float
    loss_name: str
    loss_value: float
    sizes: list
    n_examples: int
    original_dtype: str
    relu_derivative_at_zero: float
    n_preactivations_at_zero: int
    n_evaluations: int
    seed: int | None = None
    notes: tuple = ()
    checked_dtype: str = "float64"
    definition: str = field(default=RELATIVE_ERROR_DEFINITION)

    @property
    def floor(self):
        """The smallest denominator of the relative error, atol / rtol."""
        return self.atol / self.rtol

    @property
    def passed(self):
        """True when every row passed."""
        return all(row.passed for row in self.rows)

    @property
    def failed_rows(self):
        """The rows that failed."""
        return [row for row in self.rows if not row.passed]

    @property
    def failed_layers(self):
        """The sorted layer indices k with a failing Ω_k or β_k."""
        return sorted({row.layer for row in self.failed_rows})

    @property
    def n_kink_decided(self):
        """Entries decided by one-sided slopes, over all rows."""
        return sum(row.n_kink_decided for row in self.rows)

    @property
    def max_abs_error(self):
        """The largest absolute error over all rows."""
        return max(row.max_abs_error for row in self.rows)

    @property
    def max_rel_error(self):
        """The largest relative error over all rows."""
        return max(row.max_rel_error for row in self.rows)

    @property
    def relu_convention(self):
        """The ReLU-at-zero convention, in words."""
        return relu_convention(self.relu_derivative_at_zero)

    def to_dict(self):
        """A JSON-ready dict of everything in the result."""
        data = asdict(self)
        data["rows"] = [
            {"symbol": row.symbol, **asdict(row), "shape": list(row.shape)}
            for row in self.rows
        ]
        for row in data["rows"]:
            row["worst_index"] = list(row["worst_index"])
        data["notes"] = list(self.notes)
        data["floor"] = self.floor
        data["passed"] = self.passed
        data["failed_layers"] = self.failed_layers
        data["n_kink_decided"] = self.n_kink_decided
        data["relu_convention"] = self.relu_convention
        return data


def relu_convention(derivative_at_zero):
    """Describe a ReLU derivative-at-zero value in words."""
    if derivative_at_zero == 1.0:
        return "a'(0) = 1, the book's convention (I[f ≥ 0])"
    if derivative_at_zero == 0.0:
        return "a'(0) = 0, PyTorch's and JAX's convention (I[f > 0])"
    return f"a'(0) = {derivative_at_zero:g}"


def gradcheck(
    network,
    x,
    y,
    loss,
    *,
    mode="full",
    n_samples=None,
    step=DEFAULT_STEP,
    rtol=DEFAULT_RTOL,
    atol=None,
    rng=0,
):
    """Check a network's backward pass against central differences.

    Parameters
    ----------
    network : Network
        Any Network, including a subclass with its own ``backward``. It is
        not modified: the check runs on a float64 NumPy copy.
    x : array of shape (D_i, N)
        The input batch, one column per example.
    y : array
        Targets as ``loss`` expects them: shape (D_o, N) for least squares
        and binary cross-entropy, integer labels of shape (N,) for
        cross-entropy.
    loss : loss object or str
        A loss from ``chainrule.losses`` or its name.
    mode : {"full", "sample", "direction"}, default "full"
        Difference every entry, ``n_samples`` random entries per array,
        or ``n_samples`` random unit directions per array.
    n_samples : int, optional
        Entries or directions per array; 32 entries or 4 directions by
        default. Ignored in full mode.
    step : float, default 1e-6
        The finite-difference step s.
    rtol : float, default 1e-6
        The largest relative error that passes.
    atol : float, optional
        The absolute tolerance; the relative error's floor is atol / rtol.
        By default 100 · ε · max(1, |ℓ|) / s, the rounding error of a
        central difference with a safety factor of 100.
    rng : numpy.random.Generator or int, default 0
        Chooses the sampled entries or directions.

    Returns
    -------
    GradcheckResult

    Notes
    -----
    The relative error is |a − n| / max(|a|, |n|, atol / rtol), and an
    entry passes when it is at most rtol.

    Where a perturbation of ±s moves some hidden pre-activation across 0
    (the ReLU indicators I[f_k ≥ 0] at θ ± s differ from those at θ), the
    central difference straddles a kink and means nothing. Such an entry
    is judged instead by the left and right one-sided slopes: it passes
    when the analytic value lies between them, within the same tolerance.
    Its numeric value is then reported as the point of that interval
    nearest to the analytic value.
    """
    _check_options(mode, n_samples, step, rtol, atol)
    _check_network(network)
    if isinstance(loss, str):
        loss = get_loss(loss)
    seed = _seed_of(rng)
    rng = np.random.default_rng(rng)
    if n_samples is None:
        n_samples = DEFAULT_SAMPLES.get(mode, 0)

    original_dtype = dtype_name(network.dtype)
    checked = float64_copy(network)
    x, y = float64_data(x, y, loss)
    notes = []
    if original_dtype != "float64" or not isinstance(network.parameters, np.ndarray):
        notes.append(
            f"the {original_dtype} network was checked on a float64 NumPy "
            "copy; its own arithmetic was not"
        )

    # The analytic gradient, from the network's own backward pass.
    probe = LossProbe(checked, x, y, loss)
    dl_df = loss.gradient(probe.trace.output, y)
    gradients = checked.backward(probe.trace, dl_df)
    if atol is None:
        atol = rounding_atol(probe.value, step)
    floor = atol / rtol

    rows = []
    start = 0
    for k in range(checked.n_hidden_layers + 1):
        for parameter, analytic in (
            ("omega", gradients.omega[k]),
            ("beta", gradients.beta[k]),
        ):
            analytic = np.asarray(analytic, dtype=np.float64)
            stop = start + analytic.size
            rows.append(
                _check_array(
                    probe,
                    analytic,
                    start,
                    layer=k,
                    parameter=parameter,
                    mode=mode,
                    n_samples=n_samples,
                    step=step,
                    rtol=rtol,
                    floor=floor,
                    rng=rng,
                )
            )
            start = stop

    at_zero = sum(int(np.count_nonzero(f == 0)) for f in probe.trace.f[:-1])
    if at_zero and not all(row.passed for row in rows):
        notes.append(
            f"{at_zero} hidden pre-activations are exactly 0; where several "
            "of them lie on one path, backprop's value with a'(0) = "
            f"{checked.relu_derivative_at_zero:g} need not lie between the "
            "one-sided slopes, so a failure there may be a "
            "non-differentiable point rather than a wrong gradient: check "
            "again at a nearby point to tell them apart"
        )
    return GradcheckResult(
        rows=tuple(rows),
        mode=mode,
        step=float(step),
        rtol=float(rtol),
        atol=float(atol),
        loss_name=loss.name,
        loss_value=probe.value,
        sizes=list(checked.sizes),
        n_examples=int(x.shape[1]),
        original_dtype=original_dtype,
        relu_derivative_at_zero=checked.relu_derivative_at_zero,
        n_preactivations_at_zero=at_zero,
        n_evaluations=probe.n_evaluations,
        seed=seed if mode != "full" else None,
        notes=tuple(notes),
    )


def step_sweep(network, x, y, loss, *, steps=DEFAULT_SWEEP_STEPS, **options):
    """Run ``gradcheck`` once per step size, with the same entries.

    Too large a step leaves truncation error (order s² for a central
    difference) and crosses more kinks; too small a step magnifies
    rounding error (order ε |ℓ| / s). A sweep shows both ends and the
    flat valley between them where the check is meaningful.

    Parameters
    ----------
    network, x, y, loss
        As for ``gradcheck``.
    steps : sequence of float, default 1e-1, 1e-2, …, 1e-10
    **options
        Passed to ``gradcheck`` (mode, n_samples, rtol, atol, rng). An
        ``rng`` Generator is turned into one seed, so that every step
        differences the same entries.

    Returns
    -------
    tuple of GradcheckResult
        One per step, in the order given.
    """
    steps = list(steps)
    if not steps:
        raise ValueError("steps must list at least one step size, e.g. [1e-4, 1e-6]")
    rng = options.pop("rng", 0)
    if isinstance(rng, np.random.Generator):
        rng = int(rng.integers(2**32))
    return tuple(
        gradcheck(network, x, y, loss, step=step, rng=rng, **options) for step in steps
    )


def float64_copy(network):
    """A float64 NumPy copy of ``network`` that keeps its class.

    The copy shares nothing with the original's parameters, and keeps the
    original's class and methods, so that a subclass's own ``backward`` is
    what gets checked.
    """
    _check_network(network)
    omega = [np.array(to_numpy(w), dtype=np.float64) for w in network.omega]
    beta = [np.array(to_numpy(b), dtype=np.float64) for b in network.beta]
    # The copy keeps the original's class and every attribute as it is
    # (even a relu_derivative_at_zero outside [0, 1] that a test has planted
    # on purpose); only the parameters and their views are replaced.
    plain = Network(omega, beta)
    checked = object.__new__(type(network))
    checked.__dict__.update(vars(network))
    for name in ("parameters", "omega", "beta", "xp"):
        if name in vars(plain):
            setattr(checked, name, vars(plain)[name])
    return checked


def float64_data(x, y, loss):
    """x as float64 NumPy, y as the loss expects it (labels stay integers)."""
    x = np.array(to_numpy(x), dtype=np.float64)
    y = to_numpy(y)
    if isinstance(loss, CrossEntropy):
        y = np.asarray(y)
        if y.dtype.kind not in "iu":
            if not np.all(np.equal(np.mod(y, 1), 0)):
                raise ValueError(
                    "cross-entropy labels must be whole numbers 0 … D_o − 1, "
                    f"got dtype {y.dtype} with fractional values"
                )
            y = y.astype(np.int64)
    else:
        y = np.array(y, dtype=np.float64)
    return x, y


def _check_array(
    probe, analytic, start, *, layer, parameter, mode, n_samples, step, rtol, floor, rng
):
    flat_analytic = analytic.reshape(-1)
    size = flat_analytic.size

    if mode == "direction":
        unit = "direction"
        n_checked = n_samples
        analytic_values = np.empty(n_checked)
        derivatives = []
        for d in range(n_checked):
            direction = rng.normal(size=size)
            direction /= np.linalg.norm(direction)
            analytic_values[d] = flat_analytic @ direction
            derivatives.append(probe.derivative(start, start + size, direction, step))
        positions = [(d,) for d in range(n_checked)]
    else:
        unit = "entry"
        if mode == "sample" and n_samples < size:
            indices = np.sort(rng.choice(size, size=n_samples, replace=False))
        else:
            indices = np.arange(size)
        one = np.ones(1)
        analytic_values = flat_analytic[indices]
        derivatives = [
            probe.derivative(start + i, start + i + 1, one, step) for i in indices
        ]
        positions = [np.unravel_index(i, analytic.shape) for i in indices]

    # n is the central difference, or at a kink the point of the one-sided
    # slopes' interval nearest to a.
    numeric = np.array(
        [d.nearest(a) for d, a in zip(derivatives, analytic_values, strict=True)]
    )
    abs_errors = np.abs(analytic_values - numeric)
    rel_errors = relative_error(analytic_values, numeric, floor)
    worst = int(np.argmax(rel_errors))
    n_failed = int(np.count_nonzero(rel_errors > rtol))
    return ParameterCheck(
        layer=layer,
        parameter=parameter,
        shape=tuple(int(d) for d in analytic.shape),
        unit=unit,
        n_checked=len(derivatives),
        max_abs_error=float(abs_errors.max()),
        max_rel_error=float(rel_errors.max()),
        worst_index=tuple(int(i) for i in positions[worst]),
        analytic_at_worst=float(analytic_values[worst]),
        numeric_at_worst=float(numeric[worst]),
        n_kink_decided=sum(d.at_kink for d in derivatives),
        n_failed=n_failed,
        passed=n_failed == 0,
    )


def _check_network(network):
    if not isinstance(network, Network):
        raise TypeError(
            "gradcheck needs a chainrule Network (or a subclass), got "
            f"{type(network).__name__}"
        )


def _seed_of(rng):
    if isinstance(rng, np.random.Generator):
        return None
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return int(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}"
    )


def _check_options(mode, n_samples, step, rtol, atol):
    if mode not in MODES:
        raise ValueError(
            f"mode must be one of {', '.join(MODES)}; got {mode!r}. Use "
            "'sample' or 'direction' for networks too large to check fully"
        )
    if n_samples is not None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
            raise TypeError(f"n_samples must be an int, got {n_samples!r}")
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    for name, value in (("step", step), ("rtol", rtol)):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TypeError(f"{name} must be a finite number, got {value!r}")
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if atol is not None and (not math.isfinite(atol) or atol <= 0):
        raise ValueError(f"atol must be a positive finite number, got {atol!r}")
