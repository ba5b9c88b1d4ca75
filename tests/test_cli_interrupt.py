"""Ctrl-C while ``chainrule`` starts: one line and status 130, no traceback.

The package imports lazily (PEP 562), so the entry point's ``try`` is
entered before NumPy and the command line load; these tests interrupt
real processes at several moments of that loading.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import chainrule

PACKAGE = str(Path(chainrule.__file__).parent) + os.sep

# The console script the package installs calls chainrule.__main__:main.
CONSOLE_SCRIPT = "import sys; from chainrule.__main__ import main; sys.exit(main())"


def _environment():
    environment = dict(os.environ)
    source = str(Path(__file__).resolve().parents[1] / "src")
    environment["PYTHONPATH"] = source + os.pathsep + environment.get("PYTHONPATH", "")
    return environment


def _interrupt(launcher, delay, out):
    """Start ``chainrule train``, send SIGINT after ``delay`` s; return
    (exit status, standard error)."""
    command = [sys.executable, *launcher, "train", "--data", "iris", "--quiet"]
    command += ["--hidden", "8", "--epochs", "200", "--out", str(out)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    try:
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stderr


def _before_our_code(status, stderr):
    """True when the interrupt landed before Python ran any chainrule code.

    That window (interpreter start-up, ``site``, ``runpy`` finding the
    package) is Python's own: it dies by the signal silently, or prints a
    traceback none of whose frames is in the package.
    """
    if status == -signal.SIGINT and not stderr.strip():
        return True
    return "Traceback" in stderr and PACKAGE not in stderr


@pytest.mark.parametrize(
    "launcher", [["-m", "chainrule"], ["-c", CONSOLE_SCRIPT]], ids=["m", "script"]
)
@pytest.mark.parametrize("delay", [0.05, 0.1, 0.2, 0.3])
def test_ctrl_c_during_start_up_is_one_line(launcher, delay, tmp_path):
    # A loaded machine may still be starting the interpreter at the
    # earliest delays: try again, later each time, up to three times.
    for attempt in range(3):
        # Each attempt gets its own output folder: an earlier attempt may
        # have got far enough to leave a checkpoint in its folder.
        out = tmp_path / f"run-{attempt}"
        status, stderr = _interrupt(launcher, delay * (attempt + 1), out)
        if not _before_our_code(status, stderr):
            break
    assert "Traceback" not in stderr, stderr
    assert status == 130, stderr
    lines = stderr.strip().splitlines()
    # One line, from the entry point, the command line or train's own
    # handler, depending on how far it got.
    assert len(lines) == 1, stderr
    assert lines[0] in (
        "chainrule: interrupted",
        "chainrule train: interrupted",
    ) or lines[0].startswith("chainrule train: interrupted "), stderr


def test_importing_the_package_loads_nothing_heavy():
    probe = (
        "import sys, chainrule; "
        "print(sorted(m for m in ('numpy', 'chainrule.network') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_lazy_names_are_the_real_ones():
    from chainrule import losses, network, verification

    assert chainrule.Network is network.Network
    assert chainrule.Trace is network.Trace
    assert chainrule.Gradients is network.Gradients
    assert chainrule.gradcheck is verification.gradcheck
    assert chainrule.losses is losses
    assert chainrule.__version__ == "0.1.0"
    # Subpackages load on first use too.
    assert chainrule.training.train.__module__ == "chainrule.training.loop"
    assert set(chainrule.__all__) <= set(dir(chainrule))
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        _ = chainrule.no_such_name
