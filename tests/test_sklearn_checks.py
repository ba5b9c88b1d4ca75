"""scikit-learn's own estimator checks, run on small, fast configurations.

Every check runs twice: in float64, where all of them must pass, and in
float32, the estimators' default, where two checks may fail by rounding
depending on the BLAS kernel (see ``FLOAT32_ROUNDING``).
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from chainrule.sklearn import ChainRuleClassifier, ChainRuleRegressor


def _small(estimator, dtype):
    # Few epochs and a narrow layer keep each check to milliseconds; they
    # still solve the checks' easy problems (accuracy > 0.83, R² > 0.5).
    return estimator.set_params(
        hidden_layer_sizes=(16,), epochs=20, batch_size=32, dtype=dtype
    )


def _estimators(dtype):
    return [
        _small(ChainRuleClassifier(), dtype),
        _small(ChainRuleRegressor(), dtype),
    ]


# Two checks may fail in float32 by rounding: they compare predictions
# on a subset, or in another order, with the full batch at an absolute
# 1e-7 (subset) or 1e-9 (order) plus a relative 1e-7, but BLAS computes
# one row (a matrix-vector product) and many rows (a blocked matrix
# product) with different summation orders, so float32 results agree to
# float32 rounding only (differences up to 4e-7 measured). Measured over
# random_state 0 … 99: on the data and network size used here, with this
# machine's OpenBLAS kernel, all four entries pass every time; with
# other OpenBLAS kernels (OPENBLAS_CORETYPE=Prescott, Sandybridge, Zen)
# or wider layers (32 or more units) they fail for most seeds. So they
# stay listed, not strict: a pass is reported as XPASS, not as an error.
FLOAT32_ROUNDING = (
    "float32 predictions agree with the full batch to float32 rounding "
    "(a few 1e-7), not always within the check's tolerance: BLAS sums one "
    "row and many rows in different orders; the float64 run passes this check"
)


def _float32_failures(estimator):
    return {
        "check_methods_subset_invariance": FLOAT32_ROUNDING,
        "check_methods_sample_order_invariance": FLOAT32_ROUNDING,
    }


def _float64_failures(estimator):
    """None: every check scikit-learn 1.9 generates passes in float64.

    scikit-learn itself skips two kinds when their libraries are absent
    (the array API checks without SCIPY_ARRAY_API=1, the pandas checks
    without pandas); those skips are its own, not entries here.
    """
    return {}


@parametrize_with_checks(
    _estimators("float64"),
    expected_failed_checks=_float64_failures,
    xfail_strict=True,
)
def test_sklearn_estimator_check_float64(estimator, check):
    check(estimator)


@parametrize_with_checks(
    _estimators("float32"),
    expected_failed_checks=_float32_failures,
    xfail_strict=False,
)
def test_sklearn_estimator_check_float32(estimator, check):
    check(estimator)
