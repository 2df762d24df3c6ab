"""Virtual bench time shared by the line model and every simulated instrument."""

from __future__ import annotations

import threading
from typing import Callable


class VirtualClock:
    """Bench time that passes only when someone waits.

    sleep(6.0) returns at once; the listeners (the line model) are advanced to the new time first,
    so anything observed afterwards sees the state 6 s later. Thread-safe: the SCPI servers run in
    threads and read the clock while the test thread sleeps.
    """

    def __init__(self, start_s: float = 0.0):
        self._now = float(start_s)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[float], None]] = []

    @property
    def lock(self) -> threading.RLock:
        """Held while time advances; hold it to read a consistent model state."""
        return self._lock

    def add_listener(self, advance_to: Callable[[float], None]) -> None:
        """advance_to(t) is called, under the lock, whenever time moves forward to t."""
        with self._lock:
            self._listeners.append(advance_to)

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance_to(self, t: float) -> None:
        with self._lock:
            if t <= self._now:
                return
            for advance in self._listeners:
                advance(t)
            self._now = t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.advance_to(self._now + seconds)
