"""Lay an ``ExplainReport`` out as text for a terminal, 80 columns wide.

Matrices are drawn with bracket characters, side by side with their
operators, the symbol above and the size below. A row of operands wider
than the page continues on the next lines. Colour (ANSI escapes) is used
only when asked for; ``use_colour`` decides for a stream.
"""

from __future__ import annotations

import os
import textwrap

from .blocks import (
    Check,
    Equation,
    Numbers,
    Operand,
    Paragraph,
    Table,
    subscripts_to_unicode,
    visible_cells,
)

BOLD, DIM, CYAN, GREEN, RED, YELLOW, RESET = (
    "\033[1m",
    "\033[2m",
    "\033[36m",
    "\033[32m",
    "\033[31m",
    "\033[33m",
    "\033[0m",
)


def use_colour(stream, choice="auto"):
    """Whether to colour output to ``stream``.

    ``choice`` is "always", "never" or "auto". Auto colours only a
    terminal (``isatty``) whose ``TERM`` is not "dumb", and never when the
    ``NO_COLOR`` environment variable is set to anything non-empty
    (https://no-color.org).
    """
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def render_terminal(report, *, width=80, colour=False, decimals=4, max_shown=6):
    """Return the report as text lines no wider than ``width`` (colour aside).

    Parameters
    ----------
    report : ExplainReport
    width : int, default 80
    colour : bool, default False
        Add ANSI colour escapes.
    decimals : int, default 4
        Decimals shown in matrices.
    max_shown : int, default 6
        Larger matrices show their first rows and columns, an ellipsis and
        the last.

    Returns
    -------
    str
    """
    paint = _Painter(colour)
    lines = [
        paint.title(report.title),
        paint.title("═" * min(width, len(report.title))),
    ]
    for section in report.sections:
        lines += ["", paint.title(subscripts_to_unicode(section.title))]
        lines.append(paint.title("─" * min(width, _visible_width(section.title))))
        for block in section.blocks:
            lines += render_block(block, width, paint, decimals, max_shown)
            # A blank line after each drawing keeps the steps apart.
            if isinstance(block, Numbers):
                lines.append("")
    return "\n".join(lines) + "\n"


def render_block(block, width, paint, decimals, max_shown):
    """The lines of one block."""
    if isinstance(block, Paragraph):
        text = subscripts_to_unicode(block.text)
        return textwrap.wrap(text, width) or [""]
    if isinstance(block, Equation):
        text = subscripts_to_unicode(block.text)
        wrapped = textwrap.wrap(
            text, width - 2, initial_indent="  ", subsequent_indent="      "
        )
        return [paint.equation(line) for line in wrapped]
    if isinstance(block, Check):
        mark = paint.good("✓") if block.passed else paint.bad("✗")
        text = subscripts_to_unicode(block.text)
        wrapped = textwrap.wrap(text, width - 2)
        return [f"{mark} {wrapped[0]}"] + [f"  {line}" for line in wrapped[1:]]
    if isinstance(block, Table):
        return render_table(block, width)
    if isinstance(block, Numbers):
        return render_numbers(block, width, paint, decimals, max_shown)
    raise TypeError(f"unknown block type {type(block).__name__}")


def render_table(table, width):
    """An aligned plain-text table."""
    header = [subscripts_to_unicode(cell) for cell in table.header]
    rows = [[subscripts_to_unicode(cell) for cell in row] for row in table.rows]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True))
    ]
    lines.append("  " + "  ".join("─" * w for w in widths))
    for row in rows:
        cells = [
            cell.rjust(w) if _is_number(cell) else cell.ljust(w)
            for cell, w in zip(row, widths, strict=True)
        ]
        lines.append("  " + "  ".join(cells))
    return [line.rstrip() for line in lines]


def render_numbers(block, width, paint, decimals, max_shown):
    """Operands drawn as bracketed matrices, side by side, wrapped at width."""
    pieces = [
        _matrix_piece(item, paint, decimals, max_shown)
        if isinstance(item, Operand)
        else _operator_piece(item)
        for item in block.items
    ]
    lines, row, row_width = [], [], 2
    for piece in pieces:
        piece_width = piece["width"] + 1
        if row and row_width + piece_width > width:
            lines += _join(row, indent=2)
            row, row_width = [], 4
        row.append(piece)
        row_width += piece_width
    lines += _join(row, indent=2 if not lines else 4)
    return lines


def _matrix_piece(operand, paint, decimals, max_shown):
    cells = visible_cells(operand.value, decimals, max_shown, operand.integers)
    n_columns = len(cells[0])
    widths = [max(len(row[j]) for row in cells) for j in range(n_columns)]
    body = [
        " ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in cells
    ]
    n_rows = len(body)
    drawn = []
    for i, text in enumerate(body):
        if n_rows == 1:
            left, right = "[", "]"
        elif i == 0:
            left, right = "⎡", "⎤"
        elif i == n_rows - 1:
            left, right = "⎣", "⎦"
        else:
            left, right = "⎢", "⎥"
        drawn.append(f"{left} {text} {right}")
    inner = len(drawn[0])
    label = subscripts_to_unicode(operand.label)
    size = operand.shape_text
    piece_width = max(inner, len(label), len(size))
    middle = [_centre(line, piece_width) for line in drawn]
    return {
        "width": piece_width,
        "lines": middle,
        "top": _centre(label, piece_width, paint.label),
        "bottom": _centre(size, piece_width, paint.dim),
    }


def _centre(text, width, paint=None):
    """``text`` centred in ``width`` columns, painted without its padding."""
    left = (width - len(text)) // 2
    right = width - len(text) - left
    body = paint(text) if paint is not None else text
    return " " * left + body + " " * right


def _operator_piece(text):
    text = subscripts_to_unicode(text)
    return {"width": len(text), "lines": [text], "top": " " * len(text), "bottom": ""}


def _join(pieces, indent):
    """Place pieces side by side: labels on top, sizes below, centred rows."""
    height = max(len(piece["lines"]) for piece in pieces)
    middle = (height - 1) // 2
    rows = [[] for _ in range(height + 2)]
    for piece in pieces:
        w = piece["width"]
        top = piece["top"]
        rows[0].append(top if top.strip() else " " * w)
        body = piece["lines"]
        start = middle - (len(body) - 1) // 2 if len(body) > 1 else middle
        for i in range(height):
            j = i - start
            rows[1 + i].append(body[j].ljust(w) if 0 <= j < len(body) else " " * w)
        bottom = piece["bottom"]
        rows[-1].append(bottom if bottom else " " * w)
    return [(" " * indent + " ".join(row)).rstrip() for row in rows]


def _is_number(text):
    try:
        float(text.replace("e", "E"))
    except ValueError:
        return "/" in text and text.replace("/", "").isdigit()
    return True


def _visible_width(text):
    return len(subscripts_to_unicode(text))


class _Painter:
    """ANSI colour, or nothing."""

    def __init__(self, colour):
        self.colour = colour

    def _wrap(self, code, text):
        return f"{code}{text}{RESET}" if self.colour else text

    def title(self, text):
        return self._wrap(BOLD, text)

    def equation(self, text):
        return self._wrap(YELLOW, text)

    def label(self, text):
        return self._wrap(CYAN, text)

    def dim(self, text):
        return self._wrap(DIM, text)

    def good(self, text):
        return self._wrap(GREEN, text)

    def bad(self, text):
        return self._wrap(RED, text)
