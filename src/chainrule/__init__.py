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

Notes
-----
The names are loaded on first use (PEP 562): ``import chainrule`` loads
neither NumPy nor the math core until ``chainrule.Network`` (or another
name) is asked for. The command line relies on this: its entry point
catches Ctrl-C while NumPy and its own modules load, which it could not
do if importing the package loaded them first.
"""

import importlib as _importlib

__version__ = "0.1.0"

# The names the package exports, each with the submodule that holds it.
_EXPORTS = {
    "Gradients": "network",
    "Network": "network",
    "Trace": "network",
    "gradcheck": "verification",
}

__all__ = ["Gradients", "Network", "Trace", "gradcheck", "losses", "__version__"]


def __getattr__(name):
    """Load an exported name, or a submodule, on first use."""
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _EXPORTS:
        module = _importlib.import_module(f".{_EXPORTS[name]}", __name__)
        value = getattr(module, name)
        # Later look-ups find it directly, without calling this function.
        globals()[name] = value
        return value
    # A submodule such as chainrule.losses or chainrule.training: importing
    # it sets it as the package's attribute.
    try:
        return _importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
