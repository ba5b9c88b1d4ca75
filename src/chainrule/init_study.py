"""The initialization study of section 7.5: how σ²_Ω moves signals.

A deep ReLU network with zero biases and weights drawn from N(0, σ²_Ω)
scales the variance of its activations by about σ²_Ω D_h / 2 at every
layer on the way forward, and the variance of ∂ℓ/∂f_k by about the same
factor at every layer on the way back. He's choice σ²_Ω = 2 / D_h makes
the factor 1: activations and gradients keep their size through any
depth. Above it they grow exponentially with depth (explode), below it
they shrink (vanish).

``run_init_study`` measures this with the library's own forward and
backward passes: for each σ²_Ω it reports the standard deviation of h_k
(over units and examples) for k = 1 … K and of ∂ℓ/∂f_k for k = 0 … K.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .losses import LeastSquares
from .network import Network

# The default σ²_Ω, as multiples of He's 2 / D_h.
DEFAULT_FACTORS = (0.5, 0.8, 1.0, 1.25, 2.0)


@dataclass
class InitStudyResult:
    """Standard deviations of h_k and ∂ℓ/∂f_k, layer by layer.

    Attributes
    ----------
    n_layers : int
        K, the number of hidden layers.
    width : int
        D_h, the width of every hidden layer.
    n_examples : int
    seed : int or None
    variances : ndarray of shape (V,)
        The weight variances σ²_Ω studied.
    he_variance : float
        2 / D_h.
    h_std : ndarray of shape (V, K)
        ``h_std[v, k − 1]`` is the std of h_k, k = 1 … K, at variance v.
    dl_df_std : ndarray of shape (V, K + 1)
        ``dl_df_std[v, k]`` is the std of ∂ℓ/∂f_k, k = 0 … K.
    overflow : list of str or None
        One entry per variance: None, or where the numbers left float64's
        range (for example ``"f_3"`` or ``"∂ℓ/∂f_7"``). From there on that
        variance's entries of ``h_std`` and ``dl_df_std`` are nan.
    """

    n_layers: int
    width: int
    n_examples: int
    seed: int | None
    variances: np.ndarray
    he_variance: float
    h_std: np.ndarray
    dl_df_std: np.ndarray
    overflow: list = field(default_factory=list)

    @property
    def factors(self):
        """σ²_Ω as multiples of He's 2 / D_h."""
        return self.variances / self.he_variance

    def to_dict(self):
        """A JSON-ready dict."""
        return {
            "n_layers": self.n_layers,
            "width": self.width,
            "n_examples": self.n_examples,
            "seed": self.seed,
            "he_variance": self.he_variance,
            "variances": self.variances.tolist(),
            "h_std": _jsonable(self.h_std),
            "dl_df_std": _jsonable(self.dl_df_std),
            "overflow": list(self.overflow),
        }


def run_init_study(
    *,
    n_layers=50,
    width=80,
    variances=None,
    n_examples=1000,
    rng=0,
):
    """Measure activation and gradient sizes through a deep ReLU network.

    Parameters
    ----------
    n_layers : int, default 50
        K, the number of hidden layers (the book's experiment uses 50).
    width : int, default 80
        D_h, the width of every layer, input and output included.
    variances : sequence of float, optional
        The σ²_Ω to study; default 0.5, 0.8, 1, 1.25 and 2 times 2 / D_h.
    n_examples : int, default 1000
        Inputs x drawn from N(0, 1), one column each.
    rng : numpy.random.Generator or int, default 0
        Draws the inputs, targets and every network's weights.

    Returns
    -------
    InitStudyResult

    Notes
    -----
    Biases are 0 and the computation is float64. The loss is least
    squares against targets drawn from N(0, 1); its gradient ∂ℓ/∂f_K
    starts backward pass 1, and how its size changes from layer to layer
    does not depend on which loss starts it.

    A variance so large that the numbers leave float64's range (for
    example σ²_Ω = 1e300) makes the rest of its pass meaningless: from the
    first f_k (forward) or ∂ℓ/∂f_k (backward) that is not finite, or whose
    standard deviation is not, its entries are nan, ``overflow`` names
    where it happened, and an ``OverflowWarning`` names the variance.
    Values so small that they round to 0 (underflow) show as 0.
    """
    for name, value in (
        ("n_layers", n_layers),
        ("width", width),
        ("n_examples", n_examples),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    seed = int(rng) if isinstance(rng, (int, np.integer)) else None
    rng = np.random.default_rng(rng)
    he_variance = 2.0 / width
    if variances is None:
        variances = [factor * he_variance for factor in DEFAULT_FACTORS]
    variances = np.asarray(variances, dtype=np.float64)
    if variances.ndim != 1 or variances.size == 0 or np.any(variances <= 0):
        raise ValueError(
            f"variances must be a non-empty list of positive numbers, got "
            f"{variances.tolist()}"
        )

    sizes = [width] * (n_layers + 2)
    x = rng.normal(0.0, 1.0, (width, n_examples))
    y = rng.normal(0.0, 1.0, (width, n_examples))
    loss = LeastSquares()
    h_std = np.empty((variances.size, n_layers))
    dl_df_std = np.empty((variances.size, n_layers + 1))
    overflow = []
    for v, variance in enumerate(variances):
        network = Network.initialize(
            sizes, rng, dtype=np.float64, weight_variance=float(variance)
        )
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            trace = network.forward(x)
            gradients = network.backward(trace, loss.gradient(trace.output, y))
            h_std[v] = [np.std(trace.h[k]) for k in range(1, n_layers + 1)]
            dl_df_std[v] = [np.std(g) for g in gradients.dl_df]
            f_std = [np.std(f) for f in trace.f]
        overflow.append(_mark_overflow(trace, gradients, f_std, h_std[v], dl_df_std[v]))
        if overflow[-1] is not None:
            warnings.warn(
                f"σ²_Ω = {variance:g}: the numbers overflowed float64 at "
                f"{overflow[-1]}; this variance's standard deviations are "
                "nan from there on",
                OverflowWarning,
                stacklevel=2,
            )
    return InitStudyResult(
        n_layers=n_layers,
        width=width,
        n_examples=n_examples,
        seed=seed,
        variances=variances,
        he_variance=he_variance,
        h_std=h_std,
        dl_df_std=dl_df_std,
        overflow=overflow,
    )


class OverflowWarning(RuntimeWarning):
    """A weight variance whose activations or gradients left float64's range."""


def _mark_overflow(trace, gradients, f_std, h_std, dl_df_std):
    """Set entries past an overflow to nan; return where it happened, or None.

    h_{k+1} = a[f_k], so an overflow at f_j spoils h_{j+1} … h_K (entries
    j … K − 1 of ``h_std``) and, since ∂ℓ/∂f_K depends on the output, all
    of backward pass 1. Backward pass 1 runs from f_K down to f_0, so an
    overflow at ∂ℓ/∂f_j spoils ∂ℓ/∂f_j … ∂ℓ/∂f_0.
    """

    def finite(array, std):
        return bool(np.isfinite(std)) and bool(np.all(np.isfinite(array)))

    for j, (f, std) in enumerate(zip(trace.f, f_std, strict=True)):
        if not finite(f, std):
            h_std[j:] = np.nan
            dl_df_std[:] = np.nan
            return f"f_{j}"
    for j in range(len(gradients.dl_df) - 1, -1, -1):
        if not finite(gradients.dl_df[j], dl_df_std[j]):
            dl_df_std[: j + 1] = np.nan
            return f"∂ℓ/∂f_{j}"
    if not np.all(np.isfinite(h_std)):
        j = int(np.argmin(np.isfinite(h_std)))
        h_std[j:] = np.nan
        return f"h_{j + 1}"
    return None


def _jsonable(array):
    """Nested lists with nan as None, since JSON has no nan."""
    return [[None if np.isnan(v) else float(v) for v in row] for row in array]


def format_table(result, every=5):
    """The study as two text tables, std of h_k and of ∂ℓ/∂f_k.

    Parameters
    ----------
    result : InitStudyResult
    every : int, default 5
        Show every ``every``-th layer, and always the first and last.

    Returns
    -------
    str
    """
    header = ["k"] + [f"{factor:g}·2/D_h" for factor in result.factors]
    K = result.n_layers
    hidden = _layers(1, K, every)
    pre = _layers(0, K, every)
    lines = [
        f"{K} hidden layers of {result.width} units, {result.n_examples} "
        f"examples, He's σ²_Ω = 2/D_h = {result.he_variance:.4g}",
        "",
        "std of h_k (forward: activations)",
    ]
    lines += _grid(header, hidden, lambda v, k: result.h_std[v, k - 1])
    lines += ["", "std of ∂ℓ/∂f_k (backward pass 1: gradients)"]
    lines += _grid(header, pre, lambda v, k: result.dl_df_std[v, k])
    return "\n".join(lines) + "\n"


def _layers(first, last, every):
    chosen = list(range(first, last + 1, max(every, 1)))
    if chosen[-1] != last:
        chosen.append(last)
    return chosen


def _grid(header, layers, value):
    widths = [4] + [max(10, len(text)) for text in header[1:]]
    lines = ["  ".join(text.rjust(w) for text, w in zip(header, widths, strict=True))]
    for k in layers:
        cells = [str(k)]
        cells += [f"{value(v, k):.3g}" for v in range(len(header) - 1)]
        lines.append(
            "  ".join(text.rjust(w) for text, w in zip(cells, widths, strict=True))
        )
    return lines
