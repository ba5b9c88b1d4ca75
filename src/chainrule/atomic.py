"""Atomic file writes: a reader sees the old file or the new one, never half.

Every file chainrule writes goes through ``atomic_write``: the content is
written to a temporary file in the same folder, flushed to disk, and then
renamed over the target in one step. A crash or Ctrl-C mid-write leaves
the old file in place and removes the temporary one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file that replaces ``path`` when the block ends.

    If the block raises (KeyboardInterrupt included), ``path`` is left as
    it was and the temporary file is removed.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=folder
    )
    try:
        # mkstemp creates the file readable by its owner only; give the
        # final file the usual permissions (0666 less the umask).
        os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(descriptor, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)
