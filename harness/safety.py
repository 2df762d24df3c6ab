"""The bench's safe state: ringing and generator outputs off, supplies off, relays open.

Ringing reaches ~90 Vrms on a 48 V battery. The harness restores the safe state after every
test, on failure, at the end of the session, on Ctrl-C and on SIGTERM. Each step runs even when an
earlier one fails (an instrument that stopped answering must not keep the others live).
"""

from __future__ import annotations

import signal
import sys
from typing import Callable


class SafeState:
    """An ordered list of actions that together make the bench safe."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], None]]] = []
        self._previous_sigterm = None

    def add(self, what: str, action: Callable[[], None]) -> None:
        """Register a step; steps run in the order added (sources first, then relays)."""
        self._steps.append((what, action))

    @property
    def steps(self) -> list[str]:
        return [what for what, _ in self._steps]

    def restore(self) -> list[str]:
        """Run every step; return one line per step that failed (never raises)."""
        problems = []
        for what, action in self._steps:
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - every step must run whatever the others do
                problems.append(f"{what}: {exc}")
        return problems

    def install_sigterm(self) -> None:
        """On SIGTERM: restore the safe state, then stop the way Ctrl-C does (teardown runs too)."""

        def on_sigterm(signum, frame):
            self.restore()
            raise KeyboardInterrupt("SIGTERM")

        if sys.platform != "win32":
            self._previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)

    def uninstall_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
