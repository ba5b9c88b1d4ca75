"""``python -m chainrule`` and the ``chainrule`` command: the command line.

``main`` is the console script's entry point. It imports nothing before
its ``try``, and the command line (NumPy and the subcommands' modules, a
few tenths of a second) inside it, so that Ctrl-C while they load ends
with one line and status 130 instead of a traceback.

Notes
-----
Ctrl-C before Python has started running this module still ends the way
Python ends it: while the interpreter starts (before it installs its own
handler) the process dies by the signal, silently; while ``site`` reads
the environment's ``.pth`` files, or ``runpy`` finds the package, Python
prints a KeyboardInterrupt traceback. On a quiet machine that window is
the first ~20 ms.
"""

import sys


def main():
    """Run the command line; return its exit status (130 on Ctrl-C)."""
    try:
        from .cli import main as run_command_line

        return run_command_line()
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130


def _forget_handled_interrupt():
    """Keep ``python -m`` from ending by SIGINT after a handled Ctrl-C.

    CPython records a KeyboardInterrupt that escapes code it runs through
    ``PyRun_String``, which compiled (Cython) extension modules such as
    scikit-learn's use while they load, and under ``python -m`` it ends
    the process by SIGINT at exit when that record is set, even though
    the command line caught the interrupt and returned 130. The record is
    cleared by the next such run: running an empty string clears it.
    """
    try:
        import ctypes

        ctypes.pythonapi.PyRun_SimpleString(b"")
    except (ImportError, AttributeError, OSError):
        pass


if __name__ == "__main__":
    status = main()
    if status == 130:
        _forget_handled_interrupt()
    sys.exit(status)
