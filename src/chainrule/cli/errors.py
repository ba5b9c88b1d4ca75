"""Errors the command line reports as one line, without a traceback."""


class CommandError(Exception):
    """A problem with the user's data or files: exit status 1."""


class UsageError(CommandError):
    """An impossible option or a bad combination of options: exit status 2."""


def failure_status(error):
    """The exit status and one-line report of an error a user can fix.

    Returns (status, "error: …") for a ``UsageError`` (2), a
    ``CommandError`` or an ``OSError`` (1, naming the file and the
    system's reason), and (130, "interrupted") for Ctrl-C; None for any
    other exception.
    """
    if isinstance(error, UsageError):
        return 2, f"error: {error}"
    if isinstance(error, CommandError):
        return 1, f"error: {error}"
    if isinstance(error, KeyboardInterrupt):
        return 130, "interrupted"
    if isinstance(error, OSError) and not isinstance(error, BrokenPipeError):
        return 1, f"error: {describe_os_error(error)}"
    return None


def status_before_training(error):
    """For ``parallel.start_together``: (status, message) of an error every
    rank reports in one line, or None."""
    found = failure_status(error) if not isinstance(error, KeyboardInterrupt) else None
    if found is None:
        return None
    status, message = found
    return status, message.removeprefix("error: ")


def describe_os_error(error):
    """'PATH: reason' for an OSError, or its text when it names no file."""
    reason = error.strerror or str(error)
    if error.filename is None:
        return reason
    return f"{error.filename}: {reason}"
