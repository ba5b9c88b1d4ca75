"""Property tests: backprop matches central differences for random networks.

Hypothesis draws the depth (1–6 hidden layers), every width (1–64), the
batch size (1–32), the loss and a seed for the parameters and data. The
runs are derandomized, so the same examples are drawn every time, and a
failure prints its falsifying example, seed included, which reproduces it
exactly; ``note`` adds the sizes and the check's worst row to the report.
"""

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from random_problems import random_problem

from chainrule.verification import explicit_jacobian_form, gradcheck

LOSS_NAMES = ["least-squares", "binary-cross-entropy", "cross-entropy"]

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def problems(draw, max_hidden=6, max_width=64, max_examples=32):
    n_hidden = draw(st.integers(1, max_hidden), label="n_hidden")
    widths = st.integers(1, max_width)
    sizes = draw(
        st.lists(widths, min_size=n_hidden + 2, max_size=n_hidden + 2), label="sizes"
    )
    n_examples = draw(st.integers(1, max_examples), label="n_examples")
    loss_name = draw(st.sampled_from(LOSS_NAMES), label="loss")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    return sizes, n_examples, loss_name, seed


def _report(result):
    worst = max(result.rows, key=lambda row: row.max_rel_error)
    note(
        f"worst row {worst.symbol}: rel err {worst.max_rel_error:.2e} at "
        f"{worst.worst_index}, analytic {worst.analytic_at_worst!r}, numeric "
        f"{worst.numeric_at_worst!r}; kinks {result.n_kink_decided}; "
        f"notes {result.notes}"
    )


@PROPERTY_SETTINGS
@given(problems())
def test_sampled_entries_and_directions_match_central_differences(problem):
    sizes, n_examples, loss_name, seed = problem
    note(f"sizes={sizes} n_examples={n_examples} loss={loss_name} seed={seed}")
    network, x, y = random_problem(sizes, n_examples, loss_name, seed)

    # Tolerance: gradcheck's defaults, rtol = 1e-6 and atol = 100·ε·max(1,
    # |ℓ|)/step, with kinks decided by one-sided slopes.
    for mode, n_samples in (("sample", 4), ("direction", 2)):
        result = gradcheck(network, x, y, loss_name, mode=mode, n_samples=n_samples)
        _report(result)
        assert result.passed, mode


@PROPERTY_SETTINGS
@given(problems(max_hidden=3, max_width=6, max_examples=8))
def test_every_entry_of_small_networks_matches_central_differences(problem):
    sizes, n_examples, loss_name, seed = problem
    note(f"sizes={sizes} n_examples={n_examples} loss={loss_name} seed={seed}")
    network, x, y = random_problem(sizes, n_examples, loss_name, seed)

    # Tolerance: gradcheck's defaults (see above).
    result = gradcheck(network, x, y, loss_name, mode="full")
    _report(result)
    assert result.passed


@PROPERTY_SETTINGS
@given(problems(max_examples=1))
def test_the_explicit_jacobian_product_equals_the_pointwise_form(problem):
    sizes, _, loss_name, seed = problem
    note(f"sizes={sizes} loss={loss_name} seed={seed}")
    network, x, y = random_problem(sizes, 1, loss_name, seed)
    if loss_name == "cross-entropy":
        y = y.reshape(1)
    form = explicit_jacobian_form(network, x, y, loss_name)

    for explicit, pointwise in zip(form.explicit, form.pointwise, strict=True):
        # Tolerance: the same sums in a different order, a few ulps of the
        # largest term.
        scale = max(1.0, float(np.max(np.abs(pointwise))))
        np.testing.assert_allclose(explicit, pointwise, rtol=1e-11, atol=1e-14 * scale)
    assert form.multiplications["pointwise"] <= form.multiplications["explicit chain"]
