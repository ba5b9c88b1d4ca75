"""Standardization with statistics of the training split.

Each feature d becomes (x_d − mean_d) / std_d, where mean and std are
measured on the training rows only, so that no information about the test
set leaks into training. A constant feature gets std 1: it is centred to
0 and left unscaled instead of divided by zero.

Every finite float64 input can be standardized. Sums of values near the
largest float64 (about 1.8e308) would overflow, so each column is first
divided by a power of two near its largest magnitude; a power of two
scales without rounding, so ordinary data give the same statistics bit
for bit as the plain formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class Standardizer:
    """Per-feature mean and standard deviation, in rows orientation.

    Attributes
    ----------
    mean : ndarray of shape (D,), float64
    std : ndarray of shape (D,), float64
        Every entry positive; 1 for a constant feature.

    Notes
    -----
    The two arrays are what a model file stores to apply the same
    transform at prediction time.
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self):
        self.mean = np.asarray(self.mean, dtype=np.float64)
        self.std = np.asarray(self.std, dtype=np.float64)
        if self.mean.ndim != 1 or self.mean.shape != self.std.shape:
            raise ValueError(
                "mean and std must be 1-D arrays of the same length D; got "
                f"shapes {self.mean.shape} and {self.std.shape}"
            )
        if not (np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError("std must hold positive finite numbers")

    @classmethod
    def fit(cls, rows: np.ndarray) -> Standardizer:
        """Measure mean and std of each feature (column) of ``rows``.

        Parameters
        ----------
        rows : ndarray of shape (N, D)
            The training inputs, one row per example.

        Returns
        -------
        Standardizer

        Raises
        ------
        ValueError
            For rows that are not (N, D) with N ≥ 1, or that hold NaN or
            infinity.
        """
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(
                f"fit needs rows of shape (N, D) with N ≥ 1; got {rows.shape}"
            )
        not_finite = ~np.isfinite(rows)
        if not_finite.any():
            i, j = (int(index) for index in np.argwhere(not_finite)[0])
            raise ValueError(
                f"fit needs finite values; row {i}, feature {j} is {float(rows[i, j])}"
            )
        # Mean and std of each column in units of a power of two near
        # its largest magnitude, where sums and squares cannot overflow.
        scale = _power_of_two_below(np.max(np.abs(rows), axis=0))
        scaled = rows / scale
        mean = scaled.mean(axis=0) * scale
        std = scaled.std(axis=0) * scale

        # A constant feature (max = min) is centred but not scaled.
        constant = rows.max(axis=0) == rows.min(axis=0)
        std[constant] = 1.0
        return cls(mean, std)

    @property
    def n_features(self) -> int:
        """D, the number of features."""
        return self.mean.shape[0]

    def _check(self, rows):
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ValueError(
                f"expected rows of shape (N, {self.n_features}); got {rows.shape}"
            )

    def transform(self, rows: np.ndarray) -> np.ndarray:
        """Return (rows − mean) / std, a new array of shape (N, D).

        A floating-point input keeps its dtype; other inputs become
        float64.
        """
        rows = np.asarray(rows)
        self._check(rows)
        dtype = rows.dtype if rows.dtype.kind == "f" else np.float64

        # (x − mean) / std overflows for a feature whose values span more
        # than the largest float; computed in units of a power of two
        # near std (1 for std < 2, which leaves the formula as it reads),
        # it does not.
        scale = np.maximum(_power_of_two_below(self.std), 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = (self.mean / scale).astype(dtype)
            std = (self.std / scale).astype(dtype)
            scale = scale.astype(dtype)
            values = rows.astype(dtype, copy=False)
            out = (values / scale - mean) / std
        overflow = ~np.isfinite(out) & np.isfinite(values)
        if overflow.any():
            i, j = (int(index) for index in np.argwhere(overflow)[0])
            name = np.dtype(dtype).name
            fix = "rescale the feature"
            if name != "float64":
                fix += " or use float64"
            raise ValueError(
                f"row {i}, feature {j}: {float(values[i, j])!r} lies too far "
                f"from the training mean {float(self.mean[j])!r} (std "
                f"{float(self.std[j])!r}) to standardize in {name}; {fix}"
            )
        return out

    def inverse_transform(self, rows: np.ndarray) -> np.ndarray:
        """Undo ``transform``: return rows × std + mean."""
        rows = np.asarray(rows)
        self._check(rows)
        dtype = rows.dtype if rows.dtype.kind == "f" else np.float64
        return rows.astype(dtype, copy=False) * self.std.astype(
            dtype
        ) + self.mean.astype(dtype)


def _power_of_two_below(magnitude: np.ndarray) -> np.ndarray:
    # 2^(e − 1) for magnitude = m × 2^e with m in [0.5, 1): a power of
    # two with magnitude / 2^(e − 1) in [1, 2); 0.5 for a magnitude of 0.
    _, exponent = np.frexp(magnitude)
    return np.ldexp(1.0, exponent - 1)


def standardize(dataset):
    """Standardize a dataset's inputs with its training statistics.

    Parameters
    ----------
    dataset : Dataset

    Returns
    -------
    standardized : Dataset
        A copy whose ``x_train`` and ``x_test`` are standardized; targets
        are unchanged.
    standardizer : Standardizer
        The statistics used, to store with the model.
    """
    standardizer = Standardizer.fit(dataset.x_train)
    x_test = dataset.x_test
    standardized = replace(
        dataset,
        x_train=standardizer.transform(dataset.x_train),
        x_test=None if x_test is None else standardizer.transform(x_test),
    )
    return standardized, standardizer
