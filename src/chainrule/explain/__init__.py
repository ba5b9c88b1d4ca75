"""See backpropagation happen: the step-by-step explanation, in the book's terms.

- ``default_example(seed, sizes, loss)``: the text's three-layer network
  (3 → 4 → 4 → 4 → 2) with one seeded example.
- ``build_report(network, x, y, loss)``: the forward pass, the loss,
  backward passes 1 and 2, explicit versus pointwise products and a
  finite-difference check, as an ``ExplainReport`` of blocks.
- ``render_terminal``, ``render_markdown``, ``render_html``: lay a report
  out for a terminal (80 columns), a Markdown file, or a self-contained
  HTML page with MathML.
"""

from .render_html import render_html
from .render_markdown import render_markdown
from .render_terminal import render_terminal, use_colour
from .report import DEFAULT_SIZES, ExplainReport, build_report, default_example

__all__ = [
    "DEFAULT_SIZES",
    "ExplainReport",
    "build_report",
    "default_example",
    "render_html",
    "render_markdown",
    "render_terminal",
    "use_colour",
]
