"""Progress for long commands: a bar redrawn in place on a terminal, a line every few
seconds otherwise (logs, CI, cron)."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    def __init__(self, out: TextIO, *, label: str, interval: float = 5.0, enabled: bool = True):
        self.out = out
        self.label = label
        self.interval = interval
        self.enabled = enabled
        self.tty = enabled and hasattr(out, "isatty") and out.isatty()
        self.started = time.monotonic()
        # The first line comes after one interval: short runs print only their summary.
        self._last = self.started
        self._drawn = False

    def update(self, done: int, fraction: float | None = None, detail: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not self.tty and now - self._last < self.interval:
            return
        if self.tty and now - self._last < 0.1:
            return
        self._last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.tty:
            bar = ""
            if fraction is not None:
                filled = int(fraction * 30)
                bar = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%} "
            self.out.write(f"\r{self.label}: {bar}{done:,} records, {rate:,.0f}/s {detail}\x1b[K")
            self.out.flush()
            self._drawn = True
        else:
            percent = f" ({fraction:.0%})" if fraction is not None else ""
            self.out.write(f"{self.label}: {done:,} records{percent}, {rate:,.0f}/s {detail}\n")

    def note(self, text: str) -> None:
        """A line of its own (a step inside the work); the bar comes back on the next update."""
        if not self.enabled:
            return
        if self._drawn:
            self.out.write("\r\x1b[K")
            self._drawn = False
        self.out.write(f"{self.label}: {text}\n")
        self.out.flush()

    def close(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self._drawn = False
