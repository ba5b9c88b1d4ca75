"""One training step, forward + backward + gradient, without a full trace.

``TrainingStep`` computes the batch loss and the flat gradient ∂ℓ/∂θ with
the same equations as ``Network.forward`` and ``Network.backward``, but
into buffers it allocates once per batch size and then reuses:

- f_k lives in a preallocated array; the hidden ones, f_0 … f_{K−1}, are
  never overwritten, so the pre-activations of the last batch stay
  available (``pre_activations``); the loss writes ∂ℓ/∂f_K over f_K,
  which nothing needs afterwards;
- the ReLU indicator I[f_k ≥ 0] is computed once, in the forward pass, as
  a boolean mask; h_{k+1} = a[f_k] is f_k times that mask, written into
  h_{k+1}'s own buffer, and the backward pass multiplies by the same mask;
- ∂ℓ/∂h_k and ∂ℓ/∂f_{k−1} share h_k's buffer (h_k is used up by then):
  the indicator product is done in place, since no trace is asked for;
- ∂ℓ/∂Ω_k and ∂ℓ/∂β_k are views into one flat gradient buffer, so the
  optimizer update is a few vectorized calls; ∂ℓ/∂β_k, the sum of
  ∂ℓ/∂f_k over the batch, is a matrix-vector product with a vector of
  ones, which the BLAS does faster than a reduction;
- the input gradient ∂ℓ/∂h_0 is never computed;
- every operand is used where it lies: the batch x may be the transposed
  view of a block of rows, and BLAS reads transposed operands directly.

Two fast paths write every product and every elementwise result into its
buffer (``out=``): one for NumPy and one for PyTorch tensors (on any
device; no autograd). Other array libraries, and ReLU derivatives at 0
other than 0 or 1, take the portable path through ``Network.forward`` and
``Network.backward``.
"""

from __future__ import annotations

import array_api_compat
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
    grad_omega, grad_beta : lists of arrays
        ∂ℓ/∂Ω_k and ∂ℓ/∂β_k, views into ``gradient``.
    last_n_examples : int or None
        The number of examples in the last batch.
    path : {"numpy", "torch", "portable"}
        Which implementation runs.
    """

    def __init__(self, network, loss):
        self.network = network
        self.loss = loss
        xp = network.xp
        self.gradient = xp.zeros_like(network.parameters)
        shapes = [tuple(w.shape) for w in network.omega]
        self.grad_omega, self.grad_beta = _views(self.gradient, shapes, xp)
        # ∂ℓ/∂β_k as vectors, for the matrix-vector products that fill them.
        self._grad_beta_vectors = [b[:, 0] for b in self.grad_beta]
        self.last_n_examples = None
        # The fast paths handle the two usual ReLU conventions, 1 or 0 at
        # zero, with boolean masks; any other subgradient takes the
        # portable path, which multiplies by a float indicator.
        usual = network.relu_derivative_at_zero in (0.0, 1.0)
        if usual and is_numpy(xp):
            self.path = "numpy"
        elif usual and array_api_compat.is_torch_namespace(xp):
            self.path = "torch"
        else:
            self.path = "portable"
        self._buffers = {}

    def __call__(self, x, y):
        """Return the mean loss over the batch; fill ``self.gradient``.

        Parameters
        ----------
        x : array of shape (D_i, N)
            The batch, one column per example, with the network's dtype.
            A transposed view of a C-contiguous (N, D_i) block of rows is
            the fastest input: no copy is made.
        y : array
            Targets in the loss's layout: (D_o, N), or labels (N,) for
            cross-entropy.

        Returns
        -------
        float
            The batch loss, a mean over the N examples.
        """
        self.last_n_examples = int(x.shape[1])
        if self.path == "numpy":
            return self._numpy_step(x, y)
        if self.path == "torch":
            return self._torch_step(x, y)
        return self._portable_step(x, y)

    def pre_activations(self, n_examples):
        """The f_0 … f_{K−1} of the last batch of ``n_examples`` examples.

        The fast paths keep these intact after the step (the hidden
        activations h_k = a[f_{k−1}] can be recomputed from them; their
        buffers are reused for ∂ℓ/∂h_k). Returns None on the portable path
        or when no batch of that size has been seen.
        """
        buffers = self._buffers.get(n_examples)
        if buffers is None:
            return None
        return buffers["f"][:-1]

    # ------------------------------------------------------------ portable
    def _portable_step(self, x, y):
        network, xp = self.network, self.network.xp
        trace = network.forward(x)
        value = self.loss.value(trace.output, y)
        grads = network.backward(trace, self.loss.gradient(trace.output, y))
        for k in range(len(grads.omega)):
            self.grad_omega[k][...] = grads.omega[k]
            self.grad_beta[k][...] = grads.beta[k]
        return float(xp.astype(value, xp.float64))

    # --------------------------------------------------------------- NumPy
    def _numpy_buffers(self, n_examples):
        buffers = self._buffers.get(n_examples)
        if buffers is None:
            dtype = self.network.dtype
            sizes = self.network.sizes
            f = [np.empty((d, n_examples), dtype) for d in sizes[1:]]
            h = [None] + [np.empty((d, n_examples), dtype) for d in sizes[1:-1]]
            mask = [np.empty((d, n_examples), bool) for d in sizes[1:-1]]
            buffers = {
                "f": f,
                "h": h,
                "mask": mask,
                "ones": np.ones(n_examples, dtype),
                "ones_out": np.ones(sizes[-1], dtype),
                "columns": np.arange(n_examples),
                "at_label": np.empty(n_examples, np.int64),
            }
            self._buffers[n_examples] = buffers
        return buffers

    def _numpy_step(self, x, y):
        network = self.network
        omega, beta = network.omega, network.beta
        grad_omega, grad_beta = self.grad_omega, self._grad_beta_vectors
        last = len(omega) - 1
        buffers = self._numpy_buffers(x.shape[1])
        f, mask, ones = buffers["f"], buffers["mask"], buffers["ones"]
        h = [x] + buffers["h"][1:]
        # I[f ≥ 0] as in the book, or I[f > 0] as in PyTorch.
        indicator = np.greater_equal
        if network.relu_derivative_at_zero == 0.0:
            indicator = np.greater

        # Forward pass: f_k = β_k + Ω_k h_k, h_{k+1} = a[f_k] = f_k ⊙ I.
        for k in range(last + 1):
            np.matmul(omega[k], h[k], out=f[k])
            f[k] += beta[k]
            if k < last:
                indicator(f[k], 0, out=mask[k])
                np.multiply(f[k], mask[k], out=h[k + 1])

        # ∂ℓ/∂f_K from the loss, written over f_K.
        value = _numpy_output_gradient(self.loss, f[last], y, buffers)
        dl_df = f[last]

        # Backward passes 1 and 2, one layer at a time from the top.
        for k in range(last, -1, -1):
            # ∂ℓ/∂Ω_k = ∂ℓ/∂f_k h_kᵀ and ∂ℓ/∂β_k = ∂ℓ/∂f_k 1.
            np.matmul(dl_df, h[k].T, out=grad_omega[k])
            np.matmul(dl_df, ones, out=grad_beta[k])
            if k == 0:
                break
            # ∂ℓ/∂h_k = Ω_kᵀ ∂ℓ/∂f_k, into h_k's buffer (h_k is used up).
            dl_dh = h[k]
            np.matmul(omega[k].T, dl_df, out=dl_dh)
            # ∂ℓ/∂f_{k−1} = I[f_{k−1} ≥ 0] ⊙ ∂ℓ/∂h_k, in place.
            np.multiply(dl_dh, mask[k - 1], out=dl_dh)
            dl_df = dl_dh
        return value

    # ------------------------------------------------------------- PyTorch
    def _torch_buffers(self, n_examples):
        buffers = self._buffers.get(n_examples)
        if buffers is None:
            import torch

            parameters = self.network.parameters
            like = {"dtype": parameters.dtype, "device": parameters.device}
            sizes = self.network.sizes
            f = [torch.empty((d, n_examples), **like) for d in sizes[1:]]
            h = [None] + [torch.empty((d, n_examples), **like) for d in sizes[1:-1]]
            mask = [
                torch.empty((d, n_examples), dtype=torch.bool, device=like["device"])
                for d in sizes[1:-1]
            ]
            buffers = {
                "f": f,
                "h": h,
                "mask": mask,
                "ones": torch.ones(n_examples, **like),
                "minus_one_over_n": torch.full(
                    (1, n_examples), -1.0 / n_examples, **like
                ),
            }
            self._buffers[n_examples] = buffers
        return buffers

    def _torch_step(self, x, y):
        import torch

        network = self.network
        omega, beta = network.omega, network.beta
        grad_omega, grad_beta = self.grad_omega, self._grad_beta_vectors
        last = len(omega) - 1
        buffers = self._torch_buffers(x.shape[1])
        f, mask, ones = buffers["f"], buffers["mask"], buffers["ones"]
        h = [x] + buffers["h"][1:]
        indicator = torch.ge
        if network.relu_derivative_at_zero == 0.0:
            indicator = torch.gt

        # Forward pass: f_k = β_k + Ω_k h_k (one fused call), h_{k+1} =
        # f_k ⊙ I[f_k ≥ 0].
        for k in range(last + 1):
            torch.addmm(beta[k], omega[k], h[k], out=f[k])
            if k < last:
                indicator(f[k], 0, out=mask[k])
                torch.mul(f[k], mask[k], out=h[k + 1])

        # ∂ℓ/∂f_K from the loss, written over f_K.
        value = _torch_output_gradient(self.loss, f[last], y, buffers)
        dl_df = f[last]

        # Backward passes 1 and 2.
        for k in range(last, -1, -1):
            torch.mm(dl_df, h[k].T, out=grad_omega[k])
            torch.mv(dl_df, ones, out=grad_beta[k])
            if k == 0:
                break
            dl_dh = h[k]
            torch.mm(omega[k].T, dl_df, out=dl_dh)
            dl_dh.mul_(mask[k - 1])
            dl_df = dl_dh
        return float(value)


def _numpy_output_gradient(loss, output, y, buffers):
    """Return the batch loss and overwrite ``output`` (f_K) with ∂ℓ/∂f_K."""
    n_examples = output.shape[1]
    if isinstance(loss, CrossEntropy):
        # Flat positions of the true classes: f_K is C-contiguous, so
        # entry (y_j, j) sits at y_j N + j.
        at_label = buffers["at_label"]
        np.multiply(y, n_examples, out=at_label)
        at_label += buffers["columns"]
        flat = output.reshape(-1)

        # log-softmax, stable: shift each column by its maximum.
        output -= output.max(axis=0)
        picked = flat.take(at_label)
        np.exp(output, out=output)
        totals = np.matmul(buffers["ones_out"], output)
        log_totals = np.log(totals)
        value = float(log_totals.sum() - picked.sum()) / n_examples

        # (softmax − onehot) / N.
        totals *= n_examples
        output /= totals
        flat[at_label] -= 1.0 / n_examples
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


def _torch_output_gradient(loss, output, y, buffers):
    """Return the batch loss (a tensor); overwrite ``output`` with ∂ℓ/∂f_K."""
    import torch

    n_examples = output.shape[1]
    if isinstance(loss, CrossEntropy):
        output.sub_(output.amax(dim=0))
        # gather and scatter index with int64 labels.
        rows = y.reshape(1, -1).to(torch.int64)
        picked = torch.gather(output, 0, rows)
        output.exp_()
        totals = output.sum(dim=0)
        value = (totals.log().sum() - picked.sum()) / n_examples
        totals.mul_(n_examples)
        output.div_(totals)
        output.scatter_add_(0, rows, buffers["minus_one_over_n"])
        return value
    if isinstance(loss, LeastSquares):
        output.sub_(y)
        flat = output.reshape(-1)
        value = torch.dot(flat, flat) / n_examples
        output.mul_(2.0 / n_examples)
        return value
    value = loss.value(output, y)
    output.copy_(loss.gradient(output, y))
    return value
