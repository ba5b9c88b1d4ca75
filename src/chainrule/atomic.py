"""Atomic file writes: a reader sees the old file or the new one, never half.

Every file chainrule writes goes through ``atomic_write``: the content is
written to a temporary file in the same folder, flushed to disk, and then
renamed over the target in one step. A crash or Ctrl-C mid-write leaves
the old file in place and removes the temporary one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file that replaces ``path`` when the block ends.

    If the block raises (KeyboardInterrupt included), ``path`` is left as
    it was and the temporary file is removed. An ``OSError`` from creating,
    syncing or renaming the temporary file names ``path`` (as its
    ``filename``), not the temporary file, whose name means nothing to
    the user.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    with _naming(path):
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=folder
        )
    try:
        with _naming(path):
            # mkstemp creates the file readable by its owner only; give
            # the final file the usual permissions (0666 less the umask).
            os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(descriptor, mode) as handle:
            yield handle
            with _naming(path):
                handle.flush()
                os.fsync(handle.fileno())
        with _naming(path):
            os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _naming(path):
    """Re-raise an OSError with ``path`` as its file name."""
    try:
        yield
    except OSError as error:
        if error.errno is None:
            raise
        reason = error.strerror
        folder = Path(path).parent
        if isinstance(error, FileNotFoundError) and not folder.is_dir():
            reason = f"the folder {folder} does not exist"
        raise type(error)(error.errno, reason, str(path)) from None


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)
