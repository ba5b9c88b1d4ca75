"""The ``chainrule`` command line: one module per subcommand.

Each subcommand module has ``add_parser(subparsers)``, which registers its
flags, and sets ``handler`` on its parser to a function ``run(args)`` that
returns the exit status. Errors a user can fix are raised as
``UsageError`` (exit 2) or ``DataError`` (exit 1) and printed as one line,
without a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .. import __version__
from .errors import CommandError, UsageError

# The subcommands, in the order ``--help`` lists them.
SUBCOMMANDS = [
    "train",
    "explain",
    "init-study",
    "gradcheck",
    "export",
    "compare",
    "evaluate",
    "predict",
]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    parser = OneLineParser(
        prog="chainrule",
        description=(
            "Backpropagation for deep ReLU networks, as the book "
            "Understanding Deep Learning (section 7.4) writes it."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"chainrule {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = __import__(f"chainrule.cli.{name.replace('-', '_')}", fromlist=["x"])
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    """Run the command line; return the exit status.

    Under MPI (``mpiexec -n P chainrule …``), a rank that fails ends the
    whole job at once with a line naming the rank, instead of leaving the
    other ranks waiting in an all-reduce.
    """
    from ..parallel import abort_on_failure, install_excepthook

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    install_excepthook()
    warnings.formatwarning = _one_line_warning
    status, message = _run(args)
    return abort_on_failure(status, message)


def _one_line_warning(message, category, filename, lineno, line=None):
    return f"chainrule: warning: {message}\n"


def _run(args):
    """Run the subcommand; return (exit status, one-line reason or None)."""
    try:
        return args.handler(args), None
    except UsageError as error:
        message = f"chainrule {args.command}: error: {error}"
        print(message, file=sys.stderr)
        return 2, str(error)
    except CommandError as error:
        message = f"chainrule {args.command}: error: {error}"
        print(message, file=sys.stderr)
        return 1, str(error)
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130, "interrupted"
