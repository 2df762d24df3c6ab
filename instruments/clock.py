"""The bench clock: all waiting in tipring goes through one of these.

On hardware it is the monotonic clock. The simulated bench uses `instruments.sim.clock.VirtualClock`,
whose sleep returns at once and advances the line model instead.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on this bench's time line."""

    def sleep(self, seconds: float) -> None:
        """Let `seconds` of bench time pass."""


class MonotonicClock:
    """Wall time, for a real bench."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
