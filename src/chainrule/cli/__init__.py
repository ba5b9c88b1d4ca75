"""The ``chainrule`` command line: one module per subcommand.

Each subcommand module has ``add_parser(subparsers)``, which registers its
flags, and sets ``handler`` on its parser to a function ``run(args)`` that
returns the exit status. Errors a user can fix are raised as
``UsageError`` (exit 2) or ``DataError`` (exit 1) and printed as one line,
without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from .. import __version__
from .errors import CommandError, failure_status

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
    """An argument parser whose errors are one line and exit with 2.

    Under MPI every rank parses the same options and meets the same
    error; only rank 0 prints it (and --help, --version).
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def _print_message(self, message, file=None):
        # argparse prints help, usage, version and errors through here.
        from ..parallel import is_root

        if is_root():
            super()._print_message(message, file)


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
    # Each subcommand's parser by name, to report its own errors.
    parser.commands = subparsers.choices
    return parser


def main(argv=None):
    """Run the command line; return the exit status.

    Under MPI (``mpiexec -n P chainrule …``), an error every rank meets
    before training (options, data, output folder; see
    ``parallel.start_together``) is printed once, by rank 0, and every
    rank exits with its status; a rank that fails later ends the whole
    job at once (MPI_Abort) with a line naming the rank, instead of
    leaving the other ranks waiting in an all-reduce.

    Ctrl-C at any point, even while the subcommands' modules load, ends
    with one line and status 130. Output piped into a reader that stops
    early (``| head``) ends quietly with status 141, as a process killed
    by SIGPIPE does.
    """
    try:
        try:
            return _main(argv)
        finally:
            # Flush here, where a closed pipe can still be reported
            # quietly, rather than at interpreter exit.
            sys.stdout.flush()
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _discard_stdout()
        return 141


def _main(argv):
    from ..parallel import abort_on_failure, end_together, install_excepthook

    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            # Report from the subcommand's parser, whose --help lists the
            # options it takes (argparse would report from the top parser).
            reporter = parser.commands.get(args.command, parser)
            reporter.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as stop:
        # Every rank met the same options: they all end here, together.
        end_together(stop.code)
        raise
    if args.command is None:
        parser.print_help()
        return end_together(2)
    install_excepthook()
    warnings.formatwarning = _one_line_warning
    status, message, together = _run(args)
    if together:
        return end_together(status)
    return abort_on_failure(status, message)


def _discard_stdout():
    """Point standard output at /dev/null.

    The reader has gone: without this, Python's final flush of stdout at
    exit would fail again and print a second error.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _one_line_warning(message, category, filename, lineno, line=None):
    from ..parallel import is_root

    # Under MPI every rank meets the same warnings; rank 0 alone prints.
    if not is_root():
        return ""
    return f"chainrule: warning: {message}\n"


def _run(args):
    """Run the subcommand.

    Returns
    -------
    (exit status, one-line reason or None, together)
        ``together`` is True when every MPI rank ends here with the same
        status (a ``RanksStopError``), so none needs ending by MPI_Abort.
    """
    from ..parallel import RanksStopError, is_root

    try:
        return args.handler(args), None, False
    except RanksStopError as stop:
        if stop.message is not None and is_root():
            print(f"chainrule {args.command}: error: {stop.message}", file=sys.stderr)
        return stop.status, stop.message, True
    except BrokenPipeError:
        raise
    except (CommandError, OSError, KeyboardInterrupt) as error:
        status, message = failure_status(error)
        print(f"chainrule {args.command}: {message}", file=sys.stderr)
        return status, message.removeprefix("error: "), False
