"""A random float64 network, input and targets, shared by tests that
compare the analytic gradient with an oracle (finite differences,
PyTorch)."""

import numpy as np

from chainrule import Network


def random_problem(sizes, n_examples, loss_name, seed):
    """Return (network, x, y) drawn from ``seed``.

    Biases are drawn too (not left at zero), so that every β_k gradient is
    exercised away from the initialization's special point.
    """
    rng = np.random.default_rng(seed)
    network = Network.initialize(sizes, rng, dtype=np.float64)
    for beta in network.beta:
        beta[:] = rng.normal(0.0, 0.3, beta.shape)
    x = rng.normal(size=(sizes[0], n_examples))
    if loss_name == "cross-entropy":
        y = rng.integers(0, sizes[-1], size=n_examples)
    elif loss_name == "binary-cross-entropy":
        y = rng.integers(0, 2, size=(sizes[-1], n_examples)).astype(np.float64)
    else:
        y = rng.normal(size=(sizes[-1], n_examples))
    return network, x, y
