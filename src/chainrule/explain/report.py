"""Build the step-by-step explanation of backpropagation for one example.

``build_report`` runs the forward pass and both backward passes of
section 7.4 on a single example, the way the text writes them, and
records every quantity with its numbers and shape in an
``ExplainReport``. Renderers (terminal, Markdown, HTML) only lay the
report out.

The teaching computations here are written out one equation at a time,
with explicit matrices where the text uses them, and are then checked
against the library's ``Network.forward`` and ``Network.backward``: the
report shows the library's numbers and proves they are what the
equations give.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..activations import relu_derivative
from ..arrays import to_numpy
from ..losses import get_loss, sigmoid, softmax
from ..network import Network
from ..verification import gradcheck
from .blocks import (
    Check,
    Equation,
    Numbers,
    Operand,
    Paragraph,
    Section,
    Table,
    format_number,
)

# The text's three-layer network, small enough to print: D_i = 3, three
# hidden layers of 4 units, D_o = 2.
DEFAULT_SIZES = (3, 4, 4, 4, 2)

# Agreement between two computations of the same float64 quantity.
EQUAL_ATOL = 1e-12

# The finite-difference check differences every entry of a network with
# at most this many parameters, and this many random entries of each
# array of a larger one.
MAX_FULL = 2000
N_SAMPLED = 16


@dataclass
class ExplainReport:
    """An explanation of one forward and backward pass, ready to render.

    Attributes
    ----------
    title : str
    sections : list of Section
    network : Network
        The float64 network explained.
    x : ndarray of shape (D_i, 1)
        The example, a column.
    y : ndarray
        Its target in the loss's layout.
    loss_name : str
    loss_value : float
    forward : dict
        ``f`` and ``h``: the lists of f_k and h_k the report shows.
    backward : dict
        ``dl_df``, ``dl_dh``, ``dl_domega``, ``dl_dbeta``: the lists the
        report shows (``dl_dh[0]`` is None).
    forms : dict
        ∂ℓ/∂f_0 computed three ways, ``left_to_right`` and
        ``right_to_left`` with explicit Jacobian matrices and
        ``pointwise`` as the code does it, and ``counts``: [multiplications,
        additions] of each ("a", "b", "c").
    finite_difference : chainrule.verification.GradcheckResult
    checks : list of Check
        Every claim the report checked, in order.
    """

    title: str
    sections: list
    network: Network
    x: np.ndarray
    y: np.ndarray
    loss_name: str
    loss_value: float
    forward: dict
    backward: dict
    forms: dict
    finite_difference: object
    checks: list = field(default_factory=list)

    @property
    def passed(self):
        """True when every check held."""
        return all(check.passed for check in self.checks)


def default_example(
    seed=0, sizes=DEFAULT_SIZES, loss="least-squares", relu_derivative_at_zero=1.0
):
    """A seeded network, example and target for the default explanation.

    The weights are He-initialized; the biases are drawn from N(0, 0.1²)
    rather than left at zero, so that β_k shows in the numbers.

    Parameters
    ----------
    seed : int
    sizes : sequence of int
        [D_i, D_1, …, D_K, D_o].
    loss : str
        The loss's name; it decides the target: real values for least
        squares, 0/1 values for binary cross-entropy, a class label for
        cross-entropy.
    relu_derivative_at_zero : float in [0, 1], default 1.0

    Returns
    -------
    network : Network (float64)
    x : ndarray of shape (D_i, 1)
    y : ndarray
        Shape (D_o, 1), or (1,) integer labels for cross-entropy.
    """
    rng = np.random.default_rng(seed)
    network = teaching_network(sizes, rng, relu_derivative_at_zero)
    n_inputs, n_outputs = network.sizes[0], network.sizes[-1]
    x = rng.normal(0.0, 1.0, (n_inputs, 1))
    loss = get_loss(loss)
    if loss.name == "cross-entropy":
        y = rng.integers(0, n_outputs, size=1)
    elif loss.name == "binary-cross-entropy":
        y = rng.integers(0, 2, size=(n_outputs, 1)).astype(np.float64)
    else:
        y = rng.normal(0.0, 1.0, (n_outputs, 1))
    return network, x, y


def teaching_network(sizes, rng, relu_derivative_at_zero=1.0):
    """A float64 network with He weights and small random biases.

    Parameters
    ----------
    sizes : sequence of int
        [D_i, D_1, …, D_K, D_o].
    rng : numpy.random.Generator
    relu_derivative_at_zero : float in [0, 1], default 1.0

    Returns
    -------
    Network
        Ω_k drawn from N(0, 2 / D_k); β_k from N(0, 0.1²), so that the
        biases show in the explanation's numbers.
    """
    network = Network.initialize(
        sizes,
        rng,
        dtype=np.float64,
        relu_derivative_at_zero=relu_derivative_at_zero,
    )
    for b in network.beta:
        b[...] = rng.normal(0.0, 0.1, b.shape)
    return network


def build_report(
    network,
    x,
    y,
    loss,
    *,
    source="",
    notes=(),
    decimals=4,
    finite_difference_step=1e-6,
    rng=0,
):
    """Explain the forward and backward passes of ``network`` on one example.

    Parameters
    ----------
    network : Network
        Explained in a float64 NumPy copy; the original is not changed.
    x : array of shape (D_i, 1)
        One example, a column.
    y : array
        Its target: shape (D_o, 1), or integer labels of shape (1,) for
        cross-entropy.
    loss : loss object or str
    source : str
        Where the network and example came from, for the first section.
    notes : sequence of str, optional
        Paragraphs for the first section after the source, such as how
        the example was standardized.
    decimals : int, default 4
        Decimals of the numbers quoted in prose and tables.
    finite_difference_step : float, default 1e-6
    rng : numpy.random.Generator or int, default 0
        Chooses the entries checked by finite differences when the
        network has too many parameters to check them all.

    Returns
    -------
    ExplainReport
    """
    loss = get_loss(loss) if isinstance(loss, str) else loss
    network = _float64_numpy(network)
    x = np.asarray(to_numpy(x), dtype=np.float64)
    if x.ndim != 2 or x.shape != (network.sizes[0], 1):
        raise ValueError(
            f"x must be one example as a column of shape ({network.sizes[0]}, 1); "
            f"got shape {x.shape}; pass rows[n][:, None] for row n"
        )
    y = _target(y, loss, network)
    builder = _Builder(network, x, y, loss, decimals)
    sections = [
        builder.introduction(source, notes),
        builder.forward_pass(),
        builder.loss_section(),
        builder.backward_pass_1(),
        builder.backward_pass_2(),
        builder.explicit_versus_pointwise(),
        builder.finite_differences(finite_difference_step, rng),
    ]
    checks = [
        block
        for section in sections
        for block in section.blocks
        if isinstance(block, Check)
    ]
    return ExplainReport(
        title="Backpropagation, step by step (Understanding Deep Learning, 7.4)",
        sections=sections,
        network=network,
        x=x,
        y=y,
        loss_name=loss.name,
        loss_value=builder.loss_value,
        forward={"f": builder.f, "h": builder.h},
        backward={
            "dl_df": builder.dl_df,
            "dl_dh": builder.dl_dh,
            "dl_domega": builder.dl_domega,
            "dl_dbeta": builder.dl_dbeta,
        },
        forms=builder.forms,
        finite_difference=builder.finite_difference,
        checks=checks,
    )


class _Builder:
    """Computes each step as the text writes it and records the blocks."""

    def __init__(self, network, x, y, loss, decimals):
        self.network, self.x, self.y, self.loss = network, x, y, loss
        self.decimals = decimals
        self.sizes = network.sizes
        self.K = network.n_hidden_layers
        self.at_zero = network.relu_derivative_at_zero
        self.trace = network.forward(x)
        self.gradients = network.backward(
            self.trace, loss.gradient(self.trace.output, y), input_gradient=False
        )

    def number(self, value):
        return format_number(float(value), self.decimals)

    def agree(self, ours, library, claim):
        difference = float(np.max(np.abs(np.asarray(ours) - np.asarray(library))))
        passed = difference <= EQUAL_ATOL
        return Check(f"{claim}: max |difference| = {difference:.1e}", passed)

    # ----------------------------------------------------------------
    def introduction(self, source, notes=()):
        section = Section("The network and the example")
        K, sizes = self.K, self.sizes
        widths = ", ".join(f"D_{k} = {d}" for k, d in enumerate(sizes[1:-1], 1))
        section.add(
            Paragraph(
                f"A fully connected ReLU network with K = {K} hidden layers "
                f"(sizes {'-'.join(map(str, sizes))}): input D_i = {sizes[0]}, "
                f"{widths}, output D_o = {sizes[-1]}. Loss: {self.loss.name}."
                + (f" Source: {source}." if source else "")
            )
        )
        for note in notes:
            section.add(Paragraph(note))
        section.add(
            Paragraph(
                "Vectors are columns, as in the code: h_0 = x is D_i × 1, "
                "Ω_k is D_{k+1} × D_k, β_k and f_k are D_{k+1} × 1. "
                "Every number below is float64, from one example (N = 1)."
            )
        )
        convention = (
            "a'(0) = 1, as the text says (I[f ≥ 0])"
            if self.at_zero == 1.0
            else f"a'(0) = {self.at_zero:g} (I[f > 0] when 0)"
        )
        section.add(Paragraph(f"ReLU derivative at 0: {convention}."))
        rows = []
        for k in range(K + 1):
            rows.append(
                [f"Ω_{k}", f"{sizes[k + 1]}×{sizes[k]}", f"weights of layer {k}"]
            )
            rows.append([f"β_{k}", f"{sizes[k + 1]}×1", f"biases of layer {k}"])
        section.add(Table(["symbol", "size", "meaning"], rows))
        items = [Operand("x = h_0", self.x)]
        if self.y.ndim == 2:
            items += ["   ", Operand("y", self.y)]
        section.add(Numbers(items))
        if self.y.ndim == 1:
            section.add(Paragraph(f"Target: class y = {int(self.y[0])}."))
        return section

    # ----------------------------------------------------------------
    def forward_pass(self):
        section = Section("Forward pass")
        section.add(
            Paragraph(
                "For k = 0 … K: f_k = β_k + Ω_k h_k, and for the hidden "
                "layers h_{k+1} = a[f_k] = max(f_k, 0), elementwise. "
                "The output is f_K. Every f_k and h_k is kept: the "
                "backward pass needs them."
            )
        )
        network, K = self.network, self.K
        f, h = [], [self.x]
        for k in range(K + 1):
            # f_k = β_k + Ω_k h_k
            f.append(network.beta[k] + network.omega[k] @ h[k])
            d_out, d_in = self.sizes[k + 1], self.sizes[k]
            section.add(
                Equation(
                    f"f_{k} = β_{k} + Ω_{k} h_{k}:   "
                    f"({d_out}×1) + ({d_out}×{d_in})({d_in}×1) = {d_out}×1"
                )
            )
            section.add(
                Numbers(
                    [
                        Operand(f"β_{k}", network.beta[k]),
                        "+",
                        Operand(f"Ω_{k}", network.omega[k]),
                        "",
                        Operand(f"h_{k}", h[k]),
                        "=",
                        Operand(f"f_{k}", f[k]),
                    ]
                )
            )
            if k < K:
                # h_{k+1} = a[f_k]
                h.append(np.maximum(f[k], 0.0))
                section.add(Equation(f"h_{k + 1} = a[f_{k}] = max(f_{k}, 0)"))
                section.add(
                    Numbers(
                        [
                            "a[",
                            Operand(f"f_{k}", f[k]),
                            "] =",
                            Operand(f"h_{k + 1}", h[k + 1]),
                        ]
                    )
                )
        section.add(
            self.agree(
                np.concatenate([v.ravel() for v in f + h]),
                np.concatenate([v.ravel() for v in self.trace.f + self.trace.h]),
                "every f_k and h_k equals Network.forward's",
            )
        )
        self.f, self.h = f, h
        return section

    # ----------------------------------------------------------------
    def loss_section(self):
        section = Section("The loss")
        K, output, y = self.K, self.f[-1], self.y
        name = self.loss.name
        if name == "least-squares":
            value = float(np.sum((output - y) ** 2))
            dl_df = 2.0 * (output - y)
            section.add(
                Equation(f"ℓ = Σ_j (f_{{{K},j}} − y_j)² = {self.number(value)}")
            )
            section.add(Equation(f"∂ℓ/∂f_{K} = 2 (f_{K} − y)"))
            items = [
                "2 (",
                Operand(f"f_{K}", output),
                "−",
                Operand("y", y),
                ") =",
                Operand(f"∂ℓ/∂f_{K}", dl_df),
            ]
        elif name == "binary-cross-entropy":
            p = sigmoid(output)
            value = float(np.sum(-y * np.log(p) - (1 - y) * np.log1p(-p)))
            dl_df = p - y
            section.add(
                Equation(
                    f"ℓ = Σ_j −y_j log σ(f_{{{K},j}}) − (1 − y_j) "
                    f"log(1 − σ(f_{{{K},j}})) = {self.number(value)}"
                )
            )
            section.add(Equation(f"∂ℓ/∂f_{K} = σ(f_{K}) − y"))
            items = [
                Operand(f"σ(f_{K})", p),
                "−",
                Operand("y", y),
                "=",
                Operand(f"∂ℓ/∂f_{K}", dl_df),
            ]
        else:
            label = int(y[0])
            p = softmax(output)
            value = float(-np.log(p[label, 0]))
            one_hot = np.zeros_like(output)
            one_hot[label, 0] = 1.0
            dl_df = p - one_hot
            section.add(
                Equation(
                    f"ℓ = −log softmax(f_{K})_y = −log softmax(f_{K})_{label} "
                    f"= {self.number(value)}"
                )
            )
            section.add(Equation(f"∂ℓ/∂f_{K} = softmax(f_{K}) − e_y"))
            items = [
                Operand(f"softmax(f_{K})", p),
                "−",
                Operand("e_y", one_hot, integers=True),
                "=",
                Operand(f"∂ℓ/∂f_{K}", dl_df),
            ]
        section.add(
            Paragraph(
                f"∂ℓ/∂f_{K} has the output's size, D_o × 1 = "
                f"{self.sizes[-1]}×1. With one example the batch mean's "
                "1/N is 1."
            )
        )
        section.add(Numbers(items))
        library_value = float(self.loss.value(self.trace.output, y))
        section.add(
            self.agree(value, library_value, f"ℓ equals the library's {name} value")
        )
        section.add(
            self.agree(
                dl_df,
                self.loss.gradient(self.trace.output, y),
                f"∂ℓ/∂f_{K} equals the library's gradient",
            )
        )
        self.loss_value = value
        self.dl_df_output = dl_df
        return section

    # ----------------------------------------------------------------
    def backward_pass_1(self):
        section = Section("Backward pass 1: ∂ℓ/∂f_k, from the top down")
        K, sizes, network = self.K, self.sizes, self.network
        section.add(
            Paragraph(
                "The chain rule writes each ∂ℓ/∂f_{k−1} as a product of "
                "matrices. In the column-vector convention of the code, "
                "∂ℓ/∂f_k is D_{k+1} × 1 (a column like f_k), "
                "∂f_k/∂h_k = Ω_kᵀ is D_k × D_{k+1}, and ∂h_k/∂f_{k−1} is "
                "D_k × D_k. Written in this order the sizes conform, "
                "(D_k × D_k)(D_k × D_{k+1})(D_{k+1} × 1) = D_k × 1, and the "
                "product is evaluated right to left, so that every "
                "intermediate result stays a column vector."
            )
        )
        dl_df = [None] * (K + 1)
        dl_dh = [None] * (K + 1)
        dl_df[K] = self.dl_df_output
        for k in range(K, 0, -1):
            j = k - 1
            d_k, d_next = sizes[k], sizes[k + 1]
            section.add(Paragraph(f"Step {K - k + 1}: ∂ℓ/∂f_{j}."))
            if k == K:
                section.add(
                    Equation(f"∂ℓ/∂f_{j} = ∂h_{k}/∂f_{j} ∂f_{k}/∂h_{k} ∂ℓ/∂f_{k}")
                )
            else:
                chain = " ".join(
                    f"∂h_{m}/∂f_{m - 1} ∂f_{m}/∂h_{m}" for m in range(k + 1, K + 1)
                )
                section.add(
                    Equation(
                        f"∂ℓ/∂f_{j} = ∂h_{k}/∂f_{j} ∂f_{k}/∂h_{k} ({chain} ∂ℓ/∂f_{K})"
                    )
                )
                section.add(
                    Paragraph(
                        f"The bracket is ∂ℓ/∂f_{k}, the result of the step "
                        "before: it is reused, not recomputed. So"
                    )
                )
                section.add(Equation(f"∂ℓ/∂f_{j} = ∂h_{k}/∂f_{j} Ω_{k}ᵀ ∂ℓ/∂f_{k}"))
            section.add(
                Equation(f"sizes: ({d_k}×{d_k})({d_k}×{d_next})({d_next}×1) = {d_k}×1")
            )

            # ∂ℓ/∂h_k = Ω_kᵀ ∂ℓ/∂f_k: the right-hand product comes first.
            dl_dh[k] = network.omega[k].T @ dl_df[k]
            section.add(
                Paragraph(
                    f"First the right-hand product, ∂f_{k}/∂h_{k} ∂ℓ/∂f_{k} = "
                    f"Ω_{k}ᵀ ∂ℓ/∂f_{k} = ∂ℓ/∂h_{k}, a matrix times a vector:"
                )
            )
            section.add(
                Numbers(
                    [
                        Operand(f"Ω_{k}ᵀ", network.omega[k].T),
                        "",
                        Operand(f"∂ℓ/∂f_{k}", dl_df[k]),
                        "=",
                        Operand(f"∂ℓ/∂h_{k}", dl_dh[k]),
                    ]
                )
            )

            # ∂ℓ/∂f_{k−1} = I[f_{k−1} ≥ 0] ⊙ ∂ℓ/∂h_k
            indicator = relu_derivative(self.f[j], self.at_zero)
            dl_df[j] = indicator * dl_dh[k]
            if k == K:
                jacobian = np.diag(indicator[:, 0])
                section.add(
                    Paragraph(
                        f"Then ∂h_{k}/∂f_{j}. Since h_{k} = a[f_{j}] acts "
                        f"elementwise, h_{k}'s i-th entry depends only on "
                        f"f_{j}'s i-th entry: the matrix is diagonal, with "
                        "a'(f) on the diagonal (1 where the unit is active, "
                        "0 where it is not)."
                    )
                )
                explicit = jacobian @ dl_dh[k]
                section.add(
                    Numbers(
                        [
                            Operand(
                                f"∂h_{k}/∂f_{j}",
                                jacobian,
                                integers=self.at_zero in (0.0, 1.0),
                            ),
                            "",
                            Operand(f"∂ℓ/∂h_{k}", dl_dh[k]),
                            "=",
                            Operand(f"∂ℓ/∂f_{j}", explicit),
                        ]
                    )
                )
                section.add(
                    Paragraph(
                        "Multiplying by a diagonal matrix scales each entry "
                        "by the diagonal's entry. The code never builds the "
                        "matrix: it keeps the diagonal, the indicator "
                        f"I[f_{j} ≥ 0], and multiplies pointwise (⊙). From "
                        "here on only the indicator is shown."
                    )
                )
                section.add(
                    self.agree(
                        explicit,
                        dl_df[j],
                        "the diagonal matrix and the pointwise product agree",
                    )
                )
            else:
                section.add(
                    Paragraph(
                        f"Then ∂h_{k}/∂f_{j}, applied pointwise as the "
                        f"indicator I[f_{j} ≥ 0]:"
                    )
                )
            section.add(
                Numbers(
                    [
                        Operand(
                            f"I[f_{j} ≥ 0]",
                            indicator,
                            integers=self.at_zero in (0.0, 1.0),
                        ),
                        "⊙",
                        Operand(f"∂ℓ/∂h_{k}", dl_dh[k]),
                        "=",
                        Operand(f"∂ℓ/∂f_{j}", dl_df[j]),
                    ]
                )
            )
            dead = [str(i) for i in range(d_k) if indicator[i, 0] == 0]
            if dead:
                section.add(
                    Paragraph(
                        f"Entries {', '.join(dead)} of f_{j} (counting from 0) "
                        "are negative: "
                        "those units are off for this example, and no "
                        "gradient flows back through them."
                    )
                )
        library = self.gradients.dl_df
        section.add(
            self.agree(
                np.concatenate([v.ravel() for v in dl_df]),
                np.concatenate([v.ravel() for v in library]),
                "every ∂ℓ/∂f_k equals Network.backward's",
            )
        )
        self.dl_df, self.dl_dh = dl_df, dl_dh
        return section

    # ----------------------------------------------------------------
    def backward_pass_2(self):
        section = Section("Backward pass 2: the parameters")
        K = self.K
        section.add(
            Paragraph(
                "With every ∂ℓ/∂f_k known, f_k = β_k + Ω_k h_k gives the "
                "parameter gradients directly: ∂ℓ/∂β_k = ∂ℓ/∂f_k, and "
                "∂ℓ/∂Ω_k = ∂ℓ/∂f_k h_kᵀ, a (D_{k+1} × 1)(1 × D_k) outer "
                "product the size of Ω_k."
            )
        )
        dl_domega = [None] * (K + 1)
        dl_dbeta = [None] * (K + 1)
        for k in range(K, -1, -1):
            dl_dbeta[k] = self.dl_df[k].copy()
            dl_domega[k] = self.dl_df[k] @ self.h[k].T
            d_out, d_in = self.sizes[k + 1], self.sizes[k]
            section.add(
                Equation(
                    f"∂ℓ/∂β_{k} = ∂ℓ/∂f_{k},   ∂ℓ/∂Ω_{k} = ∂ℓ/∂f_{k} h_{k}ᵀ:   "
                    f"({d_out}×1)(1×{d_in}) = {d_out}×{d_in}"
                )
            )
            section.add(
                Numbers(
                    [
                        Operand(f"∂ℓ/∂f_{k}", self.dl_df[k]),
                        "",
                        Operand(f"h_{k}ᵀ", self.h[k].T),
                        "=",
                        Operand(f"∂ℓ/∂Ω_{k}", dl_domega[k]),
                    ]
                )
            )
            section.add(self.proportionality(k, dl_domega[k]))
        section.add(
            Paragraph(
                "Column i of ∂ℓ/∂Ω_k is h_k[i] times ∂ℓ/∂f_k: the gradient "
                "of a weight is proportional to the hidden unit it "
                "multiplies, and a unit that is off gives its weights no "
                "gradient from this example."
            )
        )
        ours = np.concatenate(
            [
                np.concatenate([w.ravel(), b.ravel()])
                for w, b in zip(dl_domega, dl_dbeta, strict=True)
            ]
        )
        library = np.concatenate(
            [
                np.concatenate([w.ravel(), b.ravel()])
                for w, b in zip(self.gradients.omega, self.gradients.beta, strict=True)
            ]
        )
        section.add(
            self.agree(
                ours, library, "every ∂ℓ/∂Ω_k and ∂ℓ/∂β_k equals Network.backward's"
            )
        )
        self.dl_domega, self.dl_dbeta = dl_domega, dl_dbeta
        return section

    def proportionality(self, k, dl_domega):
        """Check that column i of ∂ℓ/∂Ω_k is h_k[i] ∂ℓ/∂f_k, on the numbers."""
        h = self.h[k][:, 0]
        scaled = self.dl_df[k] * h[None, :]
        difference = float(np.max(np.abs(dl_domega - scaled)))
        zero_columns = [str(i) for i in range(h.size) if h[i] == 0]
        text = (
            f"column i of ∂ℓ/∂Ω_{k} = h_{k}[i] × ∂ℓ/∂f_{k} for every i "
            f"(max |difference| = {difference:.1e})"
        )
        if zero_columns:
            text += (
                f"; h_{k} is 0 at {', '.join(zero_columns)}, so "
                f"{'that column is' if len(zero_columns) == 1 else 'those columns are'}"
                " zero"
            )
        passed = difference <= EQUAL_ATOL and all(
            not np.any(dl_domega[:, int(i)]) for i in zero_columns
        )
        return Check(text, passed)

    # ----------------------------------------------------------------
    def explicit_versus_pointwise(self):
        section = Section("Explicit matrices versus the pointwise form")
        K, sizes, network = self.K, self.sizes, self.network
        section.add(
            Paragraph(
                "Backward pass 1 can be computed three ways. (a) Build every "
                "Jacobian as a matrix and multiply left to right, as the "
                "product is written: matrix times matrix. (b) Build the "
                "matrices but multiply right to left: matrix times vector. "
                "(c) The code: right to left, with each diagonal ∂h_k/∂f_{k−1} "
                "replaced by a pointwise product with its indicator. All "
                f"three give the same ∂ℓ/∂f_0; the counts are for this "
                f"{'-'.join(map(str, sizes))} network."
            )
        )
        jacobians = [
            np.diag(relu_derivative(self.f[k - 1], self.at_zero)[:, 0])
            for k in range(K + 1)
            if k > 0
        ]
        dl_df_output = self.dl_df[K]

        # (a) left to right: ∂h_1/∂f_0 Ω_1ᵀ ∂h_2/∂f_1 Ω_2ᵀ … Ω_Kᵀ ∂ℓ/∂f_K.
        factors = []
        for k in range(1, K + 1):
            factors += [jacobians[k - 1], network.omega[k].T]
        factors.append(dl_df_output)
        product = factors[0]
        counts_a = [0, 0]
        for factor in factors[1:]:
            _count(counts_a, product.shape, factor.shape)
            product = product @ factor
        left_to_right = product

        # (b) right to left, explicit diagonal matrices.
        vector = dl_df_output
        counts_b = [0, 0]
        for factor in reversed(factors[:-1]):
            _count(counts_b, factor.shape, vector.shape)
            vector = factor @ vector
        right_to_left = vector

        # (c) right to left, pointwise: what Network.backward does.
        vector = dl_df_output
        counts_c = [0, 0]
        for k in range(K, 0, -1):
            omega_t = network.omega[k].T
            _count(counts_c, omega_t.shape, vector.shape)
            vector = omega_t @ vector
            counts_c[0] += sizes[k]
            vector = relu_derivative(self.f[k - 1], self.at_zero) * vector
        pointwise = vector

        rows = [
            ["(a) matrices, left to right", str(counts_a[0]), str(counts_a[1])],
            ["(b) matrices, right to left", str(counts_b[0]), str(counts_b[1])],
            ["(c) pointwise (the code)", str(counts_c[0]), str(counts_c[1])],
        ]
        section.add(Table(["form", "multiplications", "additions"], rows))
        section.add(
            Numbers(
                [
                    Operand("(a) ∂ℓ/∂f_0", left_to_right),
                    "  ",
                    Operand("(b) ∂ℓ/∂f_0", right_to_left),
                    "  ",
                    Operand("(c) ∂ℓ/∂f_0", pointwise),
                ]
            )
        )
        saved = sum(d * d - d for d in sizes[1:-1])
        section.add(
            Paragraph(
                "A diagonal D × D matrix times a vector costs D² "
                "multiplications where the pointwise product costs D; "
                f"here that saves {saved} multiplications and all the "
                "additions of zeros, and no D × D matrix is ever stored. "
                "Multiplying left to right builds matrix products whose "
                "cost grows with the width squared per layer."
            )
        )
        worst = max(
            float(np.max(np.abs(left_to_right - pointwise))),
            float(np.max(np.abs(right_to_left - pointwise))),
        )
        section.add(
            Check(
                f"(a), (b) and (c) agree: max |difference| = {worst:.1e}",
                worst <= EQUAL_ATOL * max(1.0, float(np.max(np.abs(pointwise)))),
            )
        )
        self.forms = {
            "left_to_right": left_to_right,
            "right_to_left": right_to_left,
            "pointwise": pointwise,
            "counts": {"a": counts_a, "b": counts_b, "c": counts_c},
        }
        return section

    # ----------------------------------------------------------------
    def finite_differences(self, step, rng):
        section = Section("A finite-difference check")
        # The library's checker (chainrule.verification.gradcheck): every
        # entry of a small network, a seeded sample of a larger one.
        sample = self.network.parameters.size > MAX_FULL
        result = gradcheck(
            self.network,
            self.x,
            self.y,
            self.loss,
            mode="sample" if sample else "full",
            n_samples=N_SAMPLED if sample else None,
            step=step,
            rng=rng,
        )
        section.add(
            Paragraph(
                "Each parameter θ is nudged by ±s and the loss recomputed: "
                "(ℓ(θ + s) − ℓ(θ − s)) / 2s approximates ∂ℓ/∂θ with an "
                f"error that shrinks like s². Here s = {step:g}, in float64"
                + (
                    f"; the network has more than {MAX_FULL} parameters, so "
                    f"{N_SAMPLED} random entries of each array are checked."
                    if sample
                    else ", on every entry."
                )
            )
        )
        section.add(
            Paragraph(
                "Relative error = |backprop − numeric| / max(|backprop|, "
                f"|numeric|, floor), floor = atol / rtol = {result.floor:.1e}; "
                f"an entry passes when it is at most rtol = {result.rtol:g}. "
                f"atol = {result.atol:.1e} is the rounding error of a central "
                "difference, 100 · ε · max(1, |ℓ|) / s: gradients smaller "
                "than the floor are judged absolutely, since below it the "
                "difference of two losses is rounding noise. This is "
                "chainrule gradcheck's test."
            )
        )
        rows = []
        for row in result.rows:
            n_entries = int(np.prod(row.shape))
            rows.append(
                [
                    row.symbol,
                    f"{row.n_checked}/{n_entries}",
                    f"{row.max_abs_error:.1e}",
                    f"{row.max_rel_error:.1e}",
                ]
            )
        section.add(Table(["array", "entries", "max |error|", "max rel. error"], rows))
        sample_rows = [
            [
                row.symbol + _index_text(row.worst_index),
                f"{row.analytic_at_worst:.6g}",
                f"{row.numeric_at_worst:.6g}",
            ]
            for row in result.rows
            if row.parameter == "omega"
        ]
        section.add(
            Paragraph(
                "The entry of each ∂ℓ/∂Ω_k with the largest relative error, "
                "by both methods:"
            )
        )
        section.add(
            Table(["entry of ∂ℓ/∂Ω_k", "backprop", "finite difference"], sample_rows)
        )
        if result.n_kink_decided:
            section.add(
                Paragraph(
                    f"{result.n_kink_decided} perturbation(s) moved a "
                    "pre-activation across 0, where ReLU has a kink and the "
                    "central difference means nothing; those entries were "
                    "judged by the one-sided slopes instead: backprop's "
                    "value must lie between them."
                )
            )
        if result.passed:
            text = (
                "backprop matches finite differences: max relative error "
                f"{result.max_rel_error:.1e} ≤ tolerance {result.rtol:g}"
            )
        else:
            text = (
                "backprop does not match finite differences: max relative "
                f"error {result.max_rel_error:.1e} > tolerance "
                f"{result.rtol:g}: FAIL"
            )
        section.add(Check(text, result.passed))
        self.finite_difference = result
        return section


def _count(counts, left_shape, right_shape):
    """Add the cost of a (a × b)(b × c) product: abc mults, a(b − 1)c adds."""
    a, b = left_shape
    c = right_shape[1]
    counts[0] += a * b * c
    counts[1] += a * (b - 1) * c


def _index_text(index):
    return "[" + ", ".join(str(i) for i in index) + "]"


def _float64_numpy(network):
    omega = [np.asarray(to_numpy(w), dtype=np.float64) for w in network.omega]
    beta = [np.asarray(to_numpy(b), dtype=np.float64) for b in network.beta]
    return Network(omega, beta, network.relu_derivative_at_zero)


def _target(y, loss, network):
    y = np.asarray(to_numpy(y))
    n_outputs = network.sizes[-1]
    if loss.name == "cross-entropy":
        if n_outputs < 2:
            raise ValueError(
                f"cross-entropy needs at least 2 outputs, one per class; this "
                f"network has D_o = {n_outputs}, for which softmax is always 1 "
                "and the gradient 0. Use binary cross-entropy for one output"
            )
        y = y.reshape(-1).astype(np.int64)
        if y.shape != (1,) or not 0 <= y[0] < n_outputs:
            raise ValueError(
                f"cross-entropy needs one class label in 0 … {n_outputs - 1}; "
                f"got {y.tolist()}"
            )
        return y
    y = y.astype(np.float64).reshape(-1, 1)
    if y.shape != (n_outputs, 1):
        raise ValueError(
            f"{loss.name} needs a target of D_o = {n_outputs} values; got {y.shape[0]}"
        )
    return y
