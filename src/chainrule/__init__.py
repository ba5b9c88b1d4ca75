"""chainrule: backpropagation for deep ReLU networks, as the book writes it.

The public API:

- ``Network``, ``Trace``, ``Gradients``: the math core (forward pass,
  backward passes 1 and 2) in the book's column orientation.
- ``chainrule.losses``: ``LeastSquares``, ``BinaryCrossEntropy``,
  ``CrossEntropy``.
"""

from . import losses
from .network import Gradients, Network, Trace

__version__ = "0.1.0"

__all__ = ["Gradients", "Network", "Trace", "losses", "__version__"]
