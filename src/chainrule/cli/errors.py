"""Errors the command line reports as one line, without a traceback."""


class CommandError(Exception):
    """A problem with the user's data or files: exit status 1."""


class UsageError(CommandError):
    """An impossible option or a bad combination of options: exit status 2."""
