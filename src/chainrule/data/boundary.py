"""The one place where rows become columns: the orientation boundary.

Files, scikit-learn and the command line hold data in rows: an array of
shape (N, D), one row per example. The math core follows the book, where
an input is a column vector x of D entries and a batch stacks N examples
as columns: shape (D, N), so that f_0 = β_0 + Ω_0 x is one matrix
product for the whole batch.

``to_columns`` converts rows to the book's columns and ``to_rows`` goes
back. Both return a transposed view when no cast is needed: no data are
copied, and BLAS reads the transposed layout directly in the products.
The dtype is always named by the caller, so that float32 and float64
never mix silently (see DESIGN.md, "orientation" and "dtype").
"""

from __future__ import annotations

from ..arrays import namespace_of


def to_columns(rows, dtype):
    """Rows (N, D) to the book's columns (D, N), cast to ``dtype``.

    Parameters
    ----------
    rows : array of shape (N, D)
        One example per row: NumPy, or any array API array.
    dtype : dtype
        The dtype the math core will use (for example ``numpy.float32``).

    Returns
    -------
    array of shape (D, N)
        One example per column. A view of ``rows`` when it already has
        ``dtype``; otherwise the cast makes one copy, then a view of it.

    Raises
    ------
    ValueError
        If ``rows`` is not 2-D; a single example or feature must be given
        as shape (1, D) or (N, 1).
    """
    xp = namespace_of(rows)
    if len(rows.shape) != 2:
        raise ValueError(
            f"to_columns expects rows of shape (N, D); got {tuple(rows.shape)}; "
            "reshape one example to (1, D) or one feature to (N, 1)"
        )
    cast = xp.astype(rows, dtype, copy=False)
    return xp.permute_dims(cast, (1, 0))


def to_rows(columns):
    """The book's columns (D, N) back to rows (N, D), as a view.

    Parameters
    ----------
    columns : array of shape (D, N)

    Returns
    -------
    array of shape (N, D)
    """
    xp = namespace_of(columns)
    if len(columns.shape) != 2:
        raise ValueError(
            f"to_rows expects columns of shape (D, N); got {tuple(columns.shape)}"
        )
    return xp.permute_dims(columns, (1, 0))
