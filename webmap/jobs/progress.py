"""The progress object handed to a job: percentage and step, written to the job's record."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Progress:
    """Report how far a job has gone (like the CLI's tqdm bars, for the web pages).

    Parameters
    ----------
    write : callable
        Called with ``(percent, step)`` to store them (the job's record).
    min_interval : float, default 0.5
        Seconds between two writes of the same step (a new step is always written).
    """

    def __init__(self, write: Callable[[int, str], None], *, min_interval: float = 0.5) -> None:
        self._write = write
        self._min_interval = min_interval
        self._last = -1.0
        self.percent = 0
        self.step = ""

    def __call__(self, percent: float, step: str | None = None) -> None:
        """Record ``percent`` (0–100, never going back) and, when given, the new ``step`` (French)."""
        value = int(max(self.percent, min(100.0, max(0.0, float(percent)))))
        new_step = step is not None and step != self.step
        if value == self.percent and not new_step:
            return
        self.percent = value
        if step is not None:
            self.step = step
        now = time.monotonic()
        if new_step or now - self._last >= self._min_interval or value == 100:
            self._last = now
            self._write(self.percent, self.step)

    def part(self, start: float, end: float) -> Callable[[int, int], None]:
        """Return a ``(done, total)`` callback mapping a sub-task onto ``start``–``end`` percent."""
        def report(done: int, total: int) -> None:
            if total > 0:
                self(start + (end - start) * min(done, total) / total)
        return report
