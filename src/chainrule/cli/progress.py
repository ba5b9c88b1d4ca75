"""Progress display for long commands: a bar on a terminal, lines otherwise."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Shows training progress on ``stream``.

    On a terminal, one line is redrawn in place with the epoch, a bar and
    the running loss, at most ten times a second. When the output is not a
    terminal (a pipe or a log file) nothing is drawn between epochs, so
    logs stay readable: the caller prints one line per epoch instead.
    """

    width = 24

    def __init__(self, stream=None, enabled=True):
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, progress):
        if not self.enabled:
            return
        now = time.monotonic()
        last_step = progress.step + 1 == progress.n_steps
        if now - self._last_draw < 0.1 and not last_step:
            return
        self._last_draw = now
        done = (progress.epoch * progress.n_steps + progress.step + 1) / (
            progress.n_epochs * progress.n_steps
        )
        filled = int(round(done * self.width))
        bar = "█" * filled + "·" * (self.width - filled)
        line = (
            f"epoch {progress.epoch + 1:>3}/{progress.n_epochs} {bar} "
            f"{100 * done:5.1f}%  loss {progress.running_loss:.4f}"
        )
        self.stream.write("\r" + line)
        self.stream.flush()
        self._drawn = True

    def clear(self):
        """Erase the bar so that a normal line can be printed."""
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
