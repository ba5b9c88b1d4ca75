"""One training step, forward + backward + gradient, without a full trace.

``TrainingStep`` computes the batch loss and the flat gradient ∂ℓ/∂θ with
the same equations as ``Network.forward`` and ``Network.backward``, but
into buffers it allocates once per batch size and then reuses:

- f_k and h_k live in preallocated arrays; ReLU writes h_{k+1} into its
  own buffer and never overwrites f_k;
- ∂ℓ/∂h_k and ∂ℓ/∂f_{k−1} share one buffer: the indicator product is done
  in place, since no trace of them is asked for;
- ∂ℓ/∂Ω_k and ∂ℓ/∂β_k are views into one flat gradient buffer, so the
  optimizer update is a few vectorized calls;
- the input gradient ∂ℓ/∂h_0 is never computed.

On NumPy every product writes into its buffer (``out=``). Other array
libraries take the portable path through ``forward`` and ``backward``.
"""

from __future__ import annotations

import numpy as np

from ..arrays import is_numpy
from ..losses import CrossEntropy, LeastSquares
from ..network import _views


class TrainingStep:
    """Computes (loss, flat gradient) for batches of a fixed network.

    Parameters
    ----------
    network : Network
    loss : a loss from ``chainrule.losses``

    Attributes
    ----------
    gradient : 1-D array
        The flat gradient, laid out like ``network.parameters``; refilled
        by every call.
    """

    def __init__(self, network, loss):
        self.network = network
        self.loss = loss
        xp = network.xp
        self.gradient = xp.zeros_like(network.parameters)
        shapes = [tuple(w.shape) for w in network.omega]
        self.grad_omega, self.grad_beta = _views(self.gradient, shapes, xp)
        # The fast path handles the two usual ReLU conventions, 1 or 0 at
        # zero, with boolean masks; any other subgradient takes the
        # portable path, which multiplies by a float indicator.
        at_zero = network.relu_derivative_at_zero
        self._numpy = is_numpy(xp) and at_zero in (0.0, 1.0)
        self._buffers = {}

    def __call__(self, x, y):
        """Return the mean loss over the batch; fill ``self.gradient``.

        Parameters
        ----------
        x : array of shape (D_i, N)
            The batch, one column per example. A transposed view of a
            C-contiguous (N, D_i) block is the fastest input on NumPy.
        y : array
            Targets in the loss's layout.
        """
        if self._numpy:
            return self._numpy_step(x, y)
        return self._portable_step(x, y)

    def pre_activations(self, n_examples):
        """The f_0 … f_{K−1} of the last batch of ``n_examples`` examples.

        The fast NumPy path keeps these intact after the step (the hidden
        activations h_k = a[f_{k−1}] can be recomputed from them; their
        buffers are reused for ∂ℓ/∂h_k). Returns None on the portable path.
        """
        buffers = self._buffers.get(n_examples)
        if buffers is None:
            return None
        return buffers["f"][:-1]

    def _portable_step(self, x, y):
        network, xp = self.network, self.network.xp
        trace = network.forward(x)
        value = self.loss.value(trace.output, y)
        grads = network.backward(trace, self.loss.gradient(trace.output, y))
        for k in range(len(grads.omega)):
            self.grad_omega[k][...] = grads.omega[k]
            self.grad_beta[k][...] = grads.beta[k]
        return float(xp.astype(value, xp.float64))

    def _buffers_for(self, n_examples):
        buffers = self._buffers.get(n_examples)
        if buffers is None:
            dtype = self.network.dtype
            sizes = self.network.sizes
            f = [np.empty((d, n_examples), dtype) for d in sizes[1:]]
            h = [None] + [np.empty((d, n_examples), dtype) for d in sizes[1:-1]]
            mask = [np.empty((d, n_examples), bool) for d in sizes[1:-1]]
            buffers = {"f": f, "h": h, "mask": mask}
            self._buffers[n_examples] = buffers
        return buffers

    def _numpy_step(self, x, y):
        network = self.network
        omega, beta = network.omega, network.beta
        last = network.n_hidden_layers
        n_examples = x.shape[1]
        buffers = self._buffers_for(n_examples)
        f, h, mask = buffers["f"], buffers["h"], buffers["mask"]
        h = [x] + h[1:]

        # Forward pass: f_k = β_k + Ω_k h_k, h_{k+1} = a[f_k].
        for k in range(last + 1):
            np.matmul(omega[k], h[k], out=f[k])
            f[k] += beta[k]
            if k < last:
                np.maximum(f[k], 0, out=h[k + 1])

        # ∂ℓ/∂f_K from the loss, written over f_K (not needed again).
        value = _loss_and_gradient_in_place(self.loss, f[last], y)
        dl_df = f[last]

        # Backward passes 1 and 2, one layer at a time from the top.
        at_zero = network.relu_derivative_at_zero
        for k in range(last, -1, -1):
            np.matmul(dl_df, h[k].T, out=self.grad_omega[k])
            np.sum(dl_df, axis=1, keepdims=True, out=self.grad_beta[k])
            if k == 0:
                break
            dl_dh = h[k]
            # ∂ℓ/∂h_k = Ω_kᵀ ∂ℓ/∂f_k, into h_k's buffer (h_k is used up).
            np.matmul(omega[k].T, dl_df, out=dl_dh)
            # ∂ℓ/∂f_{k−1} = I[f_{k−1} ≥ 0] ⊙ ∂ℓ/∂h_k, in place.
            _indicator(f[k - 1], at_zero, mask[k - 1])
            np.multiply(dl_dh, mask[k - 1], out=dl_dh)
            dl_df = dl_dh
        return value


def _indicator(f, at_zero, out):
    """Write the ReLU derivative's diagonal, as booleans, into ``out``."""
    if at_zero == 1.0:
        np.greater_equal(f, 0, out=out)
    else:
        np.greater(f, 0, out=out)


def _loss_and_gradient_in_place(loss, output, y):
    """Return the batch loss and overwrite ``output`` with ∂ℓ/∂f_K."""
    n_examples = output.shape[1]
    if isinstance(loss, CrossEntropy):
        # log-softmax, stable: shift each column by its maximum.
        output -= output.max(axis=0, keepdims=True)
        columns = np.arange(n_examples)
        picked = output[y, columns]
        np.exp(output, out=output)
        totals = output.sum(axis=0, keepdims=True)
        value = float(np.sum(np.log(totals)) - np.sum(picked)) / n_examples
        output /= totals
        output[y, columns] -= 1.0
        output *= 1.0 / n_examples
        return value
    if isinstance(loss, LeastSquares):
        output -= y
        value = float(np.vdot(output, output)) / n_examples
        output *= 2.0 / n_examples
        return value
    # Binary cross-entropy and any other loss: the loss's own formulas.
    value = float(loss.value(output, y))
    output[...] = loss.gradient(output, y)
    return value
