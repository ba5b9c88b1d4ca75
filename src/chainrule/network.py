"""The fully connected ReLU network and its hand-written backpropagation.

This module is the math core. It follows section 7.4 of *Understanding
Deep Learning* symbol for symbol, in the book's column orientation: one
column per example.

| symbol | code | shape | meaning |
| --- | --- | --- | --- |
| x = h_0 | ``h[0]`` | (D_i, N) | the input batch, one column per example |
| Ω_k | ``omega[k]`` | (D_{k+1}, D_k) | weights of layer k, k = 0 … K |
| β_k | ``beta[k]`` | (D_{k+1}, 1) | biases of layer k |
| f_k | ``f[k]`` | (D_{k+1}, N) | pre-activations, f_k = β_k + Ω_k h_k |
| h_k | ``h[k]`` | (D_k, N) | activations, h_{k+1} = a[f_k] for k < K |
| f_K | ``f[K]`` | (D_o, N) | the network output |
| ∂ℓ/∂f_k | ``dl_df[k]`` | like f_k | backward pass 1 |
| ∂ℓ/∂h_k | ``dl_dh[k]`` | like h_k | backward pass 1 |
| ∂ℓ/∂Ω_k | ``omega[k]`` of the gradients | like Ω_k | backward pass 2 |
| ∂ℓ/∂β_k | ``beta[k]`` of the gradients | like β_k | backward pass 2 |

K is the number of hidden layers; there are K + 1 weight matrices and
``sizes = [D_i, D_1, …, D_K, D_o]``. The text's three-layer network has
K = 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .activations import relu, relu_derivative
from .arrays import dtype_name, namespace_of


@dataclass
class Trace:
    """Everything the forward pass stores for the backward pass.

    Attributes
    ----------
    f : list of arrays
        Pre-activations f_0 … f_K; ``f[k]`` has shape (D_{k+1}, N).
    h : list of arrays
        Activations h_0 … h_K; ``h[0]`` is the input x, ``h[k]`` has shape
        (D_k, N).
    """

    f: list
    h: list

    @property
    def output(self):
        """The network output f_K, shape (D_o, N)."""
        return self.f[-1]


@dataclass
class Gradients:
    """What the backward pass returns.

    Attributes
    ----------
    omega : list of arrays
        ∂ℓ/∂Ω_k for k = 0 … K, each shaped like Ω_k, summed over the batch.
    beta : list of arrays
        ∂ℓ/∂β_k for k = 0 … K, each shaped like β_k, summed over the batch.
    dl_df : list of arrays
        ∂ℓ/∂f_k for k = 0 … K, each shaped like f_k (one column per
        example).
    dl_dh : list of arrays or None
        ∂ℓ/∂h_k for k = 0 … K, each shaped like h_k. ``dl_dh[0]``, the
        gradient with respect to the input, is None unless it was asked
        for: training never needs it.
    """

    omega: list
    beta: list
    dl_df: list
    dl_dh: list


class Network:
    """A fully connected ReLU network f_k = β_k + Ω_k h_k, h_{k+1} = a[f_k].

    Parameters
    ----------
    omega : list of arrays
        Ω_0 … Ω_K, where Ω_k has shape (D_{k+1}, D_k).
    beta : list of arrays
        β_0 … β_K, where β_k has shape (D_{k+1}, 1); a 1-D vector of
        length D_{k+1} is accepted and reshaped.
    relu_derivative_at_zero : float in [0, 1], default 1.0
        The derivative of ReLU used where a pre-activation is exactly 0.

    Notes
    -----
    The parameters are copied into one flat buffer, ``parameters``;
    ``omega[k]`` and ``beta[k]`` are views into it, so an optimizer can
    update every parameter with a few vectorized calls.

    The default derivative at zero is 1, as the book's text says (zero
    where f < 0, "one otherwise"). PyTorch and JAX use 0; set
    ``relu_derivative_at_zero=0.0`` for exact parity with them. Any value
    in [0, 1] is a valid subgradient.
    """

    def __init__(self, omega, beta, relu_derivative_at_zero=1.0):
        omega, beta = list(omega), list(beta)
        _check_derivative_at_zero(relu_derivative_at_zero)
        if not omega:
            raise ValueError("a network needs at least one weight matrix Ω_0")
        if len(omega) != len(beta):
            raise ValueError(
                f"got {len(omega)} weight matrices but {len(beta)} bias "
                "vectors; there must be one β_k for each Ω_k"
            )
        xp = namespace_of(*omega, *beta)
        beta = [_as_column(b, k, xp) for k, b in enumerate(beta)]
        _check_shapes_chain(omega, beta)
        _check_dtypes(omega, beta, xp)
        _check_finite(omega, beta, xp)

        self.relu_derivative_at_zero = float(relu_derivative_at_zero)
        flat_pieces = []
        for w, b in zip(omega, beta, strict=True):
            flat_pieces += [xp.reshape(w, (-1,)), xp.reshape(b, (-1,))]
        self.parameters = xp.concat(flat_pieces)
        self.omega, self.beta = _views(
            self.parameters, [tuple(w.shape) for w in omega], xp
        )

    @classmethod
    def initialize(
        cls,
        sizes,
        rng,
        dtype=np.float32,
        weight_variance="he",
        relu_derivative_at_zero=1.0,
        distribution="normal",
    ):
        """Make a network with random weights and zero biases.

        Parameters
        ----------
        sizes : sequence of int
            [D_i, D_1, …, D_K, D_o]; at least two entries, all positive.
        rng : numpy.random.Generator or int
            The source of randomness; an int is used as a seed.
        dtype : numpy dtype, default float32
        weight_variance : "he", "lecun", "glorot" or float, default "he"
            Variance σ²_Ω of the entries of Ω_k. "he" is 2 / D_k (the
            fan-in), which keeps activations steady through ReLU layers
            (section 7.5); "lecun" is 1 / D_k; "glorot" is
            2 / (D_k + D_{k+1}); a float is used as given for every layer.
        relu_derivative_at_zero : float in [0, 1], default 1.0
        distribution : "normal" or "uniform", default "normal"
            The weights are drawn from N(0, σ²_Ω), or uniformly from
            [−√(3σ²_Ω), √(3σ²_Ω)], which has the same variance. He uniform
            is what PyTorch's ``kaiming_uniform_`` draws, as the book's
            MNIST-1D notebook uses.

        Returns
        -------
        Network
        """
        sizes = _check_sizes(sizes)
        rng = _as_generator(rng)
        if distribution not in ("normal", "uniform"):
            raise ValueError(
                f"distribution must be 'normal' or 'uniform', got {distribution!r}"
            )
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a float type, got {dtype}")
        omega, beta = [], []
        for k in range(len(sizes) - 1):
            fan_in, fan_out = sizes[k], sizes[k + 1]
            variance = _weight_variance(weight_variance, fan_in, fan_out)
            shape = (fan_out, fan_in)
            if distribution == "normal":
                draw = rng.normal(0.0, math.sqrt(variance), shape)
            else:
                bound = math.sqrt(3.0 * variance)
                draw = rng.uniform(-bound, bound, shape)
            omega.append(draw.astype(dtype))
            beta.append(np.zeros((fan_out, 1), dtype=dtype))
        return cls(omega, beta, relu_derivative_at_zero)

    @property
    def xp(self):
        """The array namespace of the parameters (NumPy, PyTorch, …)."""
        return namespace_of(self.parameters)

    def __getstate__(self):
        # The views Ω_k and β_k are rebuilt from the flat buffer on
        # unpickling, so that they alias it again.
        shapes = [tuple(w.shape) for w in self.omega]
        return {
            "parameters": self.parameters,
            "shapes": shapes,
            "relu_derivative_at_zero": self.relu_derivative_at_zero,
        }

    def __setstate__(self, state):
        self.parameters = state["parameters"]
        self.relu_derivative_at_zero = state["relu_derivative_at_zero"]
        self.omega, self.beta = _views(
            self.parameters, state["shapes"], namespace_of(self.parameters)
        )

    @property
    def sizes(self):
        """[D_i, D_1, …, D_K, D_o]."""
        return [self.omega[0].shape[1]] + [w.shape[0] for w in self.omega]

    @property
    def n_hidden_layers(self):
        """K, the number of hidden layers."""
        return len(self.omega) - 1

    @property
    def dtype(self):
        """The dtype of every parameter."""
        return self.parameters.dtype

    def forward(self, x):
        """Run the forward pass and keep every f_k and h_k.

        Parameters
        ----------
        x : array of shape (D_i, N)
            The input batch, one column per example, with the network's
            dtype.

        Returns
        -------
        Trace
            ``f`` = [f_0 … f_K] and ``h`` = [h_0 = x, h_1 … h_K].
        """
        self._check_input(x)
        f, h = [], [x]
        last = self.n_hidden_layers
        for k in range(last + 1):
            # f_k = β_k + Ω_k h_k
            f.append(self.beta[k] + self.omega[k] @ h[k])

            # h_{k+1} = a[f_k], for hidden layers only; f_K is the output.
            if k < last:
                h.append(relu(f[k]))
        return Trace(f=f, h=h)

    def backward(self, trace, dl_df, input_gradient=False):
        """Backpropagate ∂ℓ/∂f_K through a stored trace.

        Parameters
        ----------
        trace : Trace
            The result of ``forward`` on the batch.
        dl_df : array of shape (D_o, N)
            ∂ℓ/∂f_K, the loss gradient with respect to the output, e.g.
            ``loss.gradient(trace.output, y)``.
        input_gradient : bool, default False
            Also compute ∂ℓ/∂h_0 = Ω_0ᵀ ∂ℓ/∂f_0, which training never needs.

        Returns
        -------
        Gradients
            New arrays: ∂ℓ/∂Ω_k and ∂ℓ/∂β_k (summed over the batch's
            columns), and the intermediate ∂ℓ/∂f_k and ∂ℓ/∂h_k.

        Notes
        -----
        ``backward`` is the chain rule alone: it sums over the examples.
        A batch loss that is a mean puts its 1/N into ∂ℓ/∂f_K, as every
        loss in ``chainrule.losses`` does.
        """
        xp = self.xp
        last = self.n_hidden_layers
        self._check_output_gradient(trace, dl_df)
        grad_f = [None] * (last + 1)
        grad_h = [None] * (last + 1)
        grad_f[last] = dl_df

        # Backward pass 1: each ∂ℓ/∂f_{k−1} reuses ∂ℓ/∂f_k from the step
        # before. ∂ℓ/∂h_k = Ω_kᵀ ∂ℓ/∂f_k, then the diagonal ∂h_k/∂f_{k−1}
        # is applied as a pointwise product with the ReLU indicator.
        for k in range(last, 0, -1):
            grad_h[k] = self.omega[k].T @ grad_f[k]
            indicator = relu_derivative(trace.f[k - 1], self.relu_derivative_at_zero)
            grad_f[k - 1] = indicator * grad_h[k]
        if input_gradient:
            grad_h[0] = self.omega[0].T @ grad_f[0]

        # Backward pass 2: ∂ℓ/∂β_k = ∂ℓ/∂f_k and ∂ℓ/∂Ω_k = ∂ℓ/∂f_k h_kᵀ,
        # each summed over the batch's columns.
        grad_beta = [xp.sum(g, axis=1, keepdims=True) for g in grad_f]
        grad_omega = [grad_f[k] @ trace.h[k].T for k in range(last + 1)]
        return Gradients(omega=grad_omega, beta=grad_beta, dl_df=grad_f, dl_dh=grad_h)

    def predict(self, x):
        """Return the output f_K for x of shape (D_i, N), keeping no trace."""
        self._check_input(x)
        h = x
        last = self.n_hidden_layers
        for k in range(last + 1):
            f = self.beta[k] + self.omega[k] @ h
            h = relu(f) if k < last else f
        return h

    def copy(self):
        """A network with its own copy of the parameters."""
        return Network(self.omega, self.beta, self.relu_derivative_at_zero)

    def astype(self, dtype):
        """A copy whose parameters have ``dtype`` (e.g. float64 for checks)."""
        xp = self.xp
        dtype = _namespace_dtype(dtype, xp)
        omega = [xp.astype(w, dtype) for w in self.omega]
        beta = [xp.astype(b, dtype) for b in self.beta]
        return Network(omega, beta, self.relu_derivative_at_zero)

    def __repr__(self):
        sizes = "-".join(str(d) for d in self.sizes)
        return (
            f"Network(sizes={sizes}, dtype={dtype_name(self.dtype)}, "
            f"relu_derivative_at_zero={self.relu_derivative_at_zero})"
        )

    def _check_input(self, x):
        if len(getattr(x, "shape", ())) != 2:
            raise ValueError(
                "x must be a 2-D array of shape (D_i, N), one column per "
                f"example; got shape {tuple(getattr(x, 'shape', ()))}"
            )
        n_inputs = self.sizes[0]
        if x.shape[0] != n_inputs:
            hint = ""
            if x.shape[1] == n_inputs:
                hint = " (rows look like examples: pass x.T)"
            raise ValueError(
                f"x must have shape (D_i, N) = ({n_inputs}, N), got "
                f"{tuple(x.shape)}{hint}"
            )
        if x.dtype != self.dtype:
            raise TypeError(
                f"x has dtype {dtype_name(x.dtype)} but the network has "
                f"{dtype_name(self.dtype)}; convert one of them explicitly "
                "(chainrule never mixes dtypes silently)"
            )

    def _check_output_gradient(self, trace, dl_df):
        expected = tuple(trace.output.shape)
        if tuple(dl_df.shape) != expected:
            raise ValueError(
                f"dl_df (∂ℓ/∂f_K) must have the output's shape {expected}, "
                f"got {tuple(dl_df.shape)}"
            )
        if dl_df.dtype != self.dtype:
            raise TypeError(
                f"dl_df has dtype {dtype_name(dl_df.dtype)} but the network "
                f"has {dtype_name(self.dtype)}"
            )


def _views(flat, shapes, xp):
    """Split a flat buffer into views Ω_k, β_k with the given Ω shapes."""
    omega, beta, start = [], [], 0
    for rows, cols in shapes:
        stop = start + rows * cols
        omega.append(xp.reshape(flat[start:stop], (rows, cols)))
        beta.append(xp.reshape(flat[stop : stop + rows], (rows, 1)))
        start = stop + rows
    return omega, beta


def _as_column(b, k, xp):
    if len(b.shape) == 1:
        return xp.reshape(b, (b.shape[0], 1))
    if len(b.shape) == 2 and b.shape[1] == 1:
        return b
    raise ValueError(
        f"β_{k} must have shape (D_{k + 1}, 1) or (D_{k + 1},), got {tuple(b.shape)}"
    )


def _check_shapes_chain(omega, beta):
    for k, w in enumerate(omega):
        if len(w.shape) != 2:
            raise ValueError(
                f"Ω_{k} must be a 2-D matrix of shape (D_{k + 1}, D_{k}), "
                f"got shape {tuple(w.shape)}"
            )
        if 0 in w.shape:
            raise ValueError(f"Ω_{k} has an empty dimension: {tuple(w.shape)}")
        if k > 0 and w.shape[1] != omega[k - 1].shape[0]:
            raise ValueError(
                f"shapes do not chain at layer {k}: Ω_{k - 1} has shape "
                f"{tuple(omega[k - 1].shape)}, so Ω_{k} needs "
                f"{omega[k - 1].shape[0]} columns, but it has shape "
                f"{tuple(w.shape)}"
            )
        if beta[k].shape[0] != w.shape[0]:
            raise ValueError(
                f"β_{k} has shape {tuple(beta[k].shape)} but Ω_{k} has "
                f"shape {tuple(w.shape)}; β_{k} needs shape ({w.shape[0]}, 1)"
            )


def _check_dtypes(omega, beta, xp):
    dtype = omega[0].dtype
    if not xp.isdtype(dtype, "real floating"):
        raise TypeError(
            f"Ω_0 has dtype {dtype_name(dtype)}; parameters must be float32 or float64"
        )
    for name, arrays in (("Ω", omega), ("β", beta)):
        for k, array in enumerate(arrays):
            if array.dtype != dtype:
                raise TypeError(
                    f"{name}_{k} has dtype {dtype_name(array.dtype)} but Ω_0 "
                    f"has {dtype_name(dtype)}; all parameters must share "
                    "one dtype"
                )


def _check_finite(omega, beta, xp):
    for name, arrays in (("Ω", omega), ("β", beta)):
        for k, array in enumerate(arrays):
            if not bool(xp.all(xp.isfinite(array))):
                raise ValueError(
                    f"{name}_{k} contains NaN or infinite values; "
                    "parameters must be finite"
                )


def _check_derivative_at_zero(value):
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(
            "relu_derivative_at_zero must be a number in [0, 1] "
            f"(1 as in the book, 0 as in PyTorch), got {value!r}"
        )


def _check_sizes(sizes):
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(
            "sizes must list at least [D_i, D_o], e.g. [40, 100, 100, 100, "
            f"10]; got {sizes}"
        )
    for position, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"sizes[{position}] must be an int, got {size!r}")
        if size < 1:
            raise ValueError(f"sizes[{position}] must be at least 1, got {size}")
    return [int(size) for size in sizes]


def _as_generator(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        "rng must be a numpy.random.Generator or an int seed, got "
        f"{type(rng).__name__}; chainrule never seeds globally"
    )


def _weight_variance(rule, fan_in, fan_out):
    if rule == "he":
        return 2.0 / fan_in
    if rule == "lecun":
        return 1.0 / fan_in
    if rule == "glorot":
        return 2.0 / (fan_in + fan_out)
    if isinstance(rule, (int, float)) and not isinstance(rule, bool):
        if rule < 0 or not math.isfinite(rule):
            raise ValueError(f"weight_variance must be finite and ≥ 0, got {rule}")
        return float(rule)
    raise ValueError(
        f"weight_variance must be 'he', 'lecun', 'glorot' or a number, got {rule!r}"
    )


def _namespace_dtype(dtype, xp):
    """Translate a NumPy dtype (or its name) into ``xp``'s own dtype."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        return dtype
    return getattr(xp, name)
