"""Plain-text tables for the reports the subcommands print."""

from __future__ import annotations


def aligned_table(rows):
    """Lines of a table whose first row is the header, cells left-aligned.

    Each column is as wide as its widest cell; trailing spaces are cut.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def labelled_table(row_names, column_names, body):
    """Lines of a table with named rows and columns, values right-aligned.

    Every value column is as wide as the widest value or column name, so
    that a matrix (a confusion matrix, say) reads as a square.
    """
    width = max(len(name) for name in row_names)
    cells = [[str(value) for value in row] for row in body]
    column_width = max(
        [len(name) for name in column_names]
        + [len(cell) for row in cells for cell in row]
    )
    lines = [
        " " * width + "  " + "  ".join(n.rjust(column_width) for n in column_names)
    ]
    for name, row in zip(row_names, cells, strict=True):
        lines.append(
            name.ljust(width) + "  " + "  ".join(c.rjust(column_width) for c in row)
        )
    return lines
