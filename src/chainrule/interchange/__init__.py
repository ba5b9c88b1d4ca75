"""Moving chainrule networks to and from other libraries.

- ``chainrule.interchange.torch``: a ``Network`` to a PyTorch
  ``torch.nn.Sequential`` of ``Linear`` and ``ReLU`` (and its
  ``state_dict``), and back. Needs PyTorch.
- ``chainrule.interchange.onnx``: a ``Network`` or a model file's
  ``Model`` to an ONNX graph (Gemm and Relu, with the input
  standardization when the model has it). Needs ``onnx``.

Each submodule imports its library only when called, so chainrule works
without them.
"""
