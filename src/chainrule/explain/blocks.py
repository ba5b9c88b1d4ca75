"""The pieces an explanation is made of, independent of how it is shown.

An ``ExplainReport`` is a list of ``Section``s, each a list of blocks:

| block | holds | shown as |
| --- | --- | --- |
| ``Paragraph`` | prose | wrapped text |
| ``Equation`` | a symbolic equation | one line of maths |
| ``Numbers`` | operands (matrices) and operators | matrices side by side |
| ``Table`` | a header and rows of text | an aligned table |
| ``Check`` | a claim and whether it held | ✓ or ✗ and the claim |

Text in blocks uses a small notation for maths that every renderer
understands: ``f_0`` or ``f_{k+1}`` is a subscript, ``ᵀ`` and ``²`` are
superscripts, ``∂ℓ/∂f_2`` is a derivative. The terminal and Markdown
renderers turn subscripts into Unicode where they can; the HTML renderer
turns the notation into MathML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Paragraph:
    """Prose, in the maths notation described in the module docstring."""

    text: str


@dataclass
class Equation:
    """One symbolic equation, e.g. ``"f_0 = β_0 + Ω_0 h_0"``."""

    text: str


@dataclass
class Operand:
    """A named matrix or column vector shown with its numbers and shape.

    Attributes
    ----------
    label : str
        The symbol, e.g. ``"Ω_0"`` or ``"∂ℓ/∂f_2"``.
    value : ndarray of shape (rows, columns)
        The numbers; a column vector has shape (D, 1).
    integers : bool, default False
        Show the entries as whole numbers (an indicator, a diagonal
        Jacobian of 0s and 1s, a one-hot vector).
    """

    label: str
    value: np.ndarray
    integers: bool = False

    @property
    def shape_text(self):
        """The size as the text writes it, e.g. ``"4×3"``."""
        rows, columns = self.value.shape
        return f"{rows}×{columns}"


@dataclass
class Numbers:
    """Operands and operators in a row: an equation with its numbers.

    ``items`` alternates freely between ``Operand``s and operator strings
    such as ``"+"``, ``"="``, ``"⊙"`` or ``""`` (juxtaposition, a matrix
    product).
    """

    items: list


@dataclass
class Table:
    """A header and rows, all text; numbers are formatted by the builder."""

    header: list
    rows: list


@dataclass
class Check:
    """A claim checked on the numbers: ``passed`` says whether it held."""

    text: str
    passed: bool


@dataclass
class Section:
    """A titled part of the explanation."""

    title: str
    blocks: list = field(default_factory=list)

    def add(self, block):
        """Append ``block`` and return it."""
        self.blocks.append(block)
        return block


# Subscript characters Unicode has; a subscript made only of these is
# written with them, any other stays as _{…}.
SUBSCRIPTS = dict(
    zip(
        "0123456789+−-=()aehijklmnoprstuvx",
        "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ",
        strict=True,
    )
)

# A subscript: _x, _12, _{k+1} or _{3,j}.
SUBSCRIPT_PATTERN = re.compile(r"_(\{[^}]*\}|[A-Za-z0-9]+)")


def subscripts_to_unicode(text):
    """Write ``f_0`` as ``f₀`` and ``f_{k+1}`` as ``fₖ₊₁`` where possible.

    A subscript with a character Unicode has no subscript for (a capital
    letter, a comma) keeps the ``_`` notation, braces removed when it is a
    single token.
    """

    def replace(match):
        body = match.group(1)
        if body.startswith("{"):
            body = body[1:-1]
        if body and all(char in SUBSCRIPTS for char in body):
            return "".join(SUBSCRIPTS[char] for char in body)
        if re.fullmatch(r"[A-Za-z0-9]+", body):
            return "_" + body
        return "_{" + body + "}"

    return SUBSCRIPT_PATTERN.sub(replace, text)


def format_number(value, decimals):
    """Fixed-point text of ``value``, with no negative zero."""
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


def visible_cells(value, decimals, max_shown, integers=False):
    """The entries of a matrix as text, elided when it is large.

    Parameters
    ----------
    value : ndarray of shape (rows, columns)
    decimals : int
    max_shown : int
        At most this many rows and columns are shown; a longer dimension
        shows its first ``max_shown − 2`` entries, an ellipsis, and its
        last entry.
    integers : bool, default False
        Write entries as whole numbers.

    Returns
    -------
    list of list of str
        Rows of cells; an elided row is all ``"⋮"``, an elided column
        ``"…"``.
    """
    rows, columns = value.shape
    row_index = _shown_indices(rows, max_shown)
    column_index = _shown_indices(columns, max_shown)
    cells = []
    for i in row_index:
        if i is None:
            cells.append(["⋮" if j is not None else "⋱" for j in column_index])
            continue
        line = []
        for j in column_index:
            if j is None:
                line.append("…")
            else:
                entry = float(value[i, j])
                if integers:
                    line.append(format_number(entry, 0))
                else:
                    line.append(format_number(entry, decimals))
        cells.append(line)
    return cells


def _shown_indices(length, max_shown):
    if length <= max_shown:
        return list(range(length))
    head = max(max_shown - 2, 1)
    return [*range(head), None, length - 1]
