"""What counts as a number in a text cell.

Python's ``float`` is more lenient than a data file should be: it reads
``1_000`` as 1000 (underscores group digits in Python source) and
accepts digits of other scripts, such as full-width ``１``. A cell of a
data file is a number only when it is ASCII text without underscores
that ``float`` reads.
"""

from __future__ import annotations


def parse_number(text: str) -> float | None:
    """Read a cell as a number, or return None when it is not one.

    Parameters
    ----------
    text : str
        The cell; surrounding whitespace is ignored.

    Returns
    -------
    float or None
        The value (possibly NaN or infinity, for ``nan`` and ``inf``),
        or None for text that is not a plain decimal number.
    """
    if "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def plain_number_text(text: str) -> bool:
    """Whether ``text`` holds no character that ``parse_number`` refuses.

    A fast test over many cells joined together: when it holds, ``float``
    reads every cell exactly as ``parse_number`` does.
    """
    return "_" not in text and text.isascii()
