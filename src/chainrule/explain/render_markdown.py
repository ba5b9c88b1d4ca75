"""Lay an ``ExplainReport`` out as Markdown.

Prose becomes paragraphs with Unicode subscripts; equations and matrices
go into ``text`` code blocks, drawn exactly as on the terminal (without
colour), so they read the same on GitHub, in an editor, or printed.
Tables become Markdown tables and checks a list.
"""

from __future__ import annotations

from .blocks import (
    Check,
    Equation,
    Numbers,
    Paragraph,
    Table,
    subscripts_to_unicode,
)
from .render_terminal import _Painter, render_block


def render_markdown(report, *, width=80, decimals=4, max_shown=6):
    """Return the report as a Markdown document.

    Parameters
    ----------
    report : ExplainReport
    width : int, default 80
        Width of the drawn matrices in code blocks.
    decimals : int, default 4
    max_shown : int, default 6

    Returns
    -------
    str
    """
    plain = _Painter(colour=False)
    out = [f"# {_escape(report.title)}", ""]
    for section in report.sections:
        out += [f"## {_escape(subscripts_to_unicode(section.title))}", ""]
        fence = []
        for block in section.blocks:
            if isinstance(block, (Equation, Numbers)):
                fence += render_block(block, width, plain, decimals, max_shown)
                continue
            if fence:
                out += _fenced(fence)
                fence = []
            if isinstance(block, Paragraph):
                out += [_escape(subscripts_to_unicode(block.text)), ""]
            elif isinstance(block, Table):
                out += _table(block)
            elif isinstance(block, Check):
                mark = "✓" if block.passed else "✗ (failed)"
                out += [f"- {mark} {_escape(subscripts_to_unicode(block.text))}", ""]
        if fence:
            out += _fenced(fence)
    return "\n".join(out).rstrip() + "\n"


def _fenced(lines):
    return ["```text", *lines, "```", ""]


def _table(table):
    header = [_escape(subscripts_to_unicode(cell)) for cell in table.header]
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---" for _ in header) + " |")
    for row in table.rows:
        cells = [_escape(subscripts_to_unicode(cell)) for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _escape(text):
    """Escape the characters Markdown would read as formatting."""
    for char in "\\`*_[]<>|":
        text = text.replace(char, "\\" + char)
    return text
