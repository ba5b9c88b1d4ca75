"""The one error the data layer raises for bad input."""


class DataError(ValueError):
    """A problem with a data set or a data file, told in one line.

    The message names the file, the line and column (or the array and
    index) where the problem is, what was found, and what was expected.
    The command line reports it without a traceback and exits with
    status 1.
    """
