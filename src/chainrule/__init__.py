"""chainrule: backpropagation for deep ReLU networks, as the book writes it.

The public API:

- ``Network``, ``Trace``, ``Gradients``: the math core (forward pass,
  backward passes 1 and 2) in the book's column orientation.
- ``chainrule.losses``: ``LeastSquares``, ``BinaryCrossEntropy``,
  ``CrossEntropy``.
- ``gradcheck``: the kink-aware float64 gradient checker
  (``chainrule.verification``).
- ``chainrule.training``: optimizers, schedules and ``train``.
- ``chainrule.data``: built-in data sets and the user's files.
- ``chainrule.model_file``: ``save`` and ``load`` of trained models.
"""

__version__ = "0.1.0"

from . import losses  # noqa: E402
from .network import Gradients, Network, Trace  # noqa: E402
from .verification import gradcheck  # noqa: E402

__all__ = ["Gradients", "Network", "Trace", "gradcheck", "losses", "__version__"]
