"""Lay an ``ExplainReport`` out as one self-contained HTML page.

Equations and matrices are MathML, which current browsers draw natively;
prose uses HTML subscripts. The page has its styles inline and loads no
script, font or image, so it reads the same with no network access.
"""

from __future__ import annotations

import html
import re

from .blocks import (
    SUBSCRIPT_PATTERN,
    Check,
    Equation,
    Numbers,
    Operand,
    Paragraph,
    Table,
    visible_cells,
)

STYLE = """
body { font-family: serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.5em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 2em; }
math[display="block"] { margin: 0.8em 0; overflow-x: auto; overflow-y: hidden;
       padding: 0.2em 0; }
mtable.matrix { padding: 0.1em 0.35em; border-left: 1.5px solid currentColor;
       border-right: 1.5px solid currentColor;
       --tick: linear-gradient(currentColor, currentColor);
       background: var(--tick) left top / 0.3em 1.5px no-repeat,
         var(--tick) left bottom / 0.3em 1.5px no-repeat,
         var(--tick) right top / 0.3em 1.5px no-repeat,
         var(--tick) right bottom / 0.3em 1.5px no-repeat; }
mtable.matrix mtd { padding: 0.12em 0.35em; text-align: right; }
mn.entry { font-variant-numeric: tabular-nums; white-space: pre; }
table.data { border-collapse: collapse; margin: 0.8em 0; }
table.data th, table.data td { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd;
       text-align: left; }
table.data td.number { text-align: right; font-variant-numeric: tabular-nums; }
p.check { margin: 0.4em 0; }
p.check.pass::before { content: "\\2713  "; color: #17803d; font-weight: bold; }
p.check.fail::before { content: "\\2717  "; color: #b3261e; font-weight: bold; }
"""

# A derivative written ∂x/∂y, each side a symbol with an optional subscript.
_SYMBOL = r"[^\W\d_]+(?:_(?:\{[^}]*\}|[A-Za-z0-9]+))?"
DERIVATIVE = re.compile(rf"∂({_SYMBOL})/∂({_SYMBOL})")

TOKEN = re.compile(
    rf"(?P<derivative>∂{_SYMBOL}/∂{_SYMBOL})"
    r"|(?P<subscript>_(?:\{[^}]*\}|[A-Za-z0-9]+))"
    r"|(?P<superscript>[ᵀ²])"
    r"|(?P<number>\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
    r"|(?P<word>[^\W\d_]+)"
    r"|(?P<space>\s{2,})"
    r"|(?P<blank>\s)"
    r"|(?P<other>.)"
)

SUPERSCRIPTS = {"ᵀ": "T", "²": "2"}

# U+2007, a space as wide as a digit.
FIGURE_SPACE = "\u2007"


def render_html(report, *, decimals=4, max_shown=6):
    """Return the report as a self-contained HTML document (UTF-8 text).

    Parameters
    ----------
    report : ExplainReport
    decimals : int, default 4
    max_shown : int, default 6
        Larger matrices show their first rows and columns, an ellipsis and
        the last.

    Returns
    -------
    str
    """
    title = html.escape(report.title)
    body = [f"<h1>{title}</h1>"]
    for section in report.sections:
        body.append(f"<h2>{_prose(section.title)}</h2>")
        for block in section.blocks:
            body.append(_block(block, decimals, max_shown))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _block(block, decimals, max_shown):
    if isinstance(block, Paragraph):
        return f"<p>{_prose(block.text)}</p>"
    if isinstance(block, Equation):
        return f'<math display="block">{equation_mathml(block.text)}</math>'
    if isinstance(block, Check):
        state = "pass" if block.passed else "fail"
        return f'<p class="check {state}">{_prose(block.text)}</p>'
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Numbers):
        parts = []
        for item in block.items:
            if isinstance(item, Operand):
                parts.append(_operand(item, decimals, max_shown))
            elif item.strip():
                parts.append(equation_mathml(item))
            else:
                parts.append('<mspace width="0.3em"/>')
        return f'<math display="block"><mrow>{"".join(parts)}</mrow></math>'
    raise TypeError(f"unknown block type {type(block).__name__}")


def _prose(text):
    """Escape text and write its subscripts as <sub>."""
    pieces, start = [], 0
    for match in SUBSCRIPT_PATTERN.finditer(text):
        pieces.append(html.escape(text[start : match.start()]))
        body = match.group(1)
        if body.startswith("{"):
            body = body[1:-1]
        pieces.append(f"<sub>{html.escape(body)}</sub>")
        start = match.end()
    pieces.append(html.escape(text[start:]))
    return "".join(pieces)


def _table(table):
    head = "".join(f"<th>{_prose(cell)}</th>" for cell in table.header)
    rows = []
    for row in table.rows:
        cells = []
        for cell in row:
            kind = ' class="number"' if _looks_numeric(cell) else ""
            cells.append(f"<td{kind}>{_prose(cell)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="data"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _operand(operand, decimals, max_shown):
    cells = visible_cells(operand.value, decimals, max_shown, operand.integers)
    widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))]
    rows = []
    for row in cells:
        entries = "".join(
            f"<mtd>{_entry(cell, width)}</mtd>"
            for cell, width in zip(row, widths, strict=True)
        )
        rows.append(f"<mtr>{entries}</mtr>")
    # The brackets are drawn by the page's CSS (class "matrix"): stretchy
    # bracket operators need a maths font, which a page with no external
    # font cannot count on.
    matrix = f'<mtable class="matrix" columnalign="right">{"".join(rows)}</mtable>'

    label = equation_mathml(operand.label, fractions=False)
    size = f'<mtext mathsize="70%">{html.escape(operand.shape_text)}</mtext>'
    return (
        '<munderover accent="true" accentunder="true">'
        f"{matrix}{size}<mrow>{label}</mrow></munderover>"
    )


def _entry(cell, width):
    """One matrix entry, padded with figure spaces to its column's width.

    Every entry of a column then has the same width in tabular figures,
    so the column lines up whatever alignment the browser gives cells.
    """
    if cell in ("⋮", "…", "⋱"):
        return f"<mo>{cell}</mo>"
    padding = FIGURE_SPACE * (width - len(cell))
    text = padding + cell.replace("-", "−")
    return f'<mn class="entry">{html.escape(text)}</mn>'


def equation_mathml(text, fractions=True):
    """MathML (the inside of a <math> element) for the report's notation.

    ``f_0`` becomes a subscript, ``∂ℓ/∂f_2`` a fraction, ``ᵀ`` and ``²``
    superscripts; words are identifiers, digits numbers, and every other
    character an operator. Runs of spaces become a small space. With
    ``fractions=False`` a derivative stays on one line, ∂ℓ/∂f₂, as in a
    label above a matrix.
    """
    elements = []
    # A single blank between two symbols (as in "log softmax") becomes a
    # thin space; operators space themselves.
    pending_space = False
    for match in TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        if pending_space and kind in ("derivative", "number", "word"):
            elements.append('<mspace width="0.2em"/>')
        pending_space = False
        if kind == "derivative" and not fractions:
            top, bottom = DERIVATIVE.fullmatch(value).groups()
            elements.append(
                f"<mrow><mo>∂</mo>{equation_mathml(top)}"
                '<mo lspace="0" rspace="0">/</mo>'
                f"<mo>∂</mo>{equation_mathml(bottom)}</mrow>"
            )
        elif kind == "derivative":
            top, bottom = DERIVATIVE.fullmatch(value).groups()
            elements.append(
                f"<mfrac><mrow><mo>∂</mo>{equation_mathml(top)}</mrow>"
                f"<mrow><mo>∂</mo>{equation_mathml(bottom)}</mrow></mfrac>"
            )
        elif kind == "subscript" and elements:
            body = value[1:]
            if body.startswith("{"):
                body = body[1:-1]
            base = elements.pop()
            elements.append(f"<msub>{base}<mrow>{equation_mathml(body)}</mrow></msub>")
        elif kind == "superscript" and elements:
            base = elements.pop()
            elements.append(f"<msup>{base}<mi>{SUPERSCRIPTS[value]}</mi></msup>")
        elif kind == "number":
            elements.append(f"<mn>{value}</mn>")
        elif kind == "word":
            elements.append(f"<mi>{html.escape(value)}</mi>")
        elif kind == "space":
            elements.append('<mspace width="1em"/>')
        elif kind == "blank":
            pending_space = bool(elements) and not elements[-1].startswith("<mo>")
        else:
            elements.append(f"<mo>{html.escape(value)}</mo>")
    return f"<mrow>{''.join(elements)}</mrow>"


def _looks_numeric(text):
    try:
        float(text)
    except ValueError:
        return False
    return True
