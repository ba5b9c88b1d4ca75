"""Proofs that chainrule's gradients are right.

- ``gradcheck``: backprop against central differences in float64, aware of
  ReLU kinks, one row per Ω_k and β_k (``GradcheckResult``).
- ``step_sweep``: the same check at a range of step sizes.
"""

from .finite_differences import RELATIVE_ERROR_DEFINITION, relative_error
from .gradcheck import (
    GradcheckResult,
    ParameterCheck,
    float64_copy,
    gradcheck,
    step_sweep,
)

__all__ = [
    "RELATIVE_ERROR_DEFINITION",
    "GradcheckResult",
    "ParameterCheck",
    "float64_copy",
    "gradcheck",
    "relative_error",
    "step_sweep",
]
