"""Proofs that chainrule's gradients are right.

- ``gradcheck``: backprop against central differences in float64, aware of
  ReLU kinks, one row per Ω_k and β_k (``GradcheckResult``).
- ``step_sweep``: the same check at a range of step sizes.
- ``explicit_jacobian_form``: ∂ℓ/∂f_k for one example as a product of full
  Jacobian matrices, next to the pointwise form, with operation counts.
- ``compare_with_torch``, ``compare_training_with_torch``: parity with
  PyTorch autograd and ``torch.optim.SGD`` (PyTorch is imported only then).
"""

from .finite_differences import RELATIVE_ERROR_DEFINITION, relative_error
from .gradcheck import (
    GradcheckResult,
    ParameterCheck,
    float64_copy,
    gradcheck,
    step_sweep,
)
from .jacobian import JacobianForm, explicit_jacobian_form
from .torch_parity import (
    ParityReport,
    TrajectoryReport,
    compare_training_with_torch,
    compare_with_torch,
)

__all__ = [
    "RELATIVE_ERROR_DEFINITION",
    "GradcheckResult",
    "JacobianForm",
    "ParameterCheck",
    "ParityReport",
    "TrajectoryReport",
    "compare_training_with_torch",
    "compare_with_torch",
    "explicit_jacobian_form",
    "float64_copy",
    "gradcheck",
    "relative_error",
    "step_sweep",
]
