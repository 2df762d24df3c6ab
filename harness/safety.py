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
        self._steps: list[tuple[str, Callable[[], None], Callable[[], None] | None]] = []
        self._previous_sigterm = None

    def add(self, what: str, action: Callable[[], None], recover: Callable[[], None] | None = None) -> None:
        """Register a step; steps run in the order added (sources first, then relays).

        recover: run once when the action fails (e.g. reopen an instrument's dropped connection),
        before the action is tried again: a live ring source must not stay live for want of a
        socket."""
        self._steps.append((what, action, recover))

    @property
    def steps(self) -> list[str]:
        return [what for what, _, _ in self._steps]

    def restore(self) -> list[str]:
        """Run every step; return one line per step that failed (never raises)."""
        problems = []
        for what, action, recover in self._steps:
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - every step must run whatever the others do
                if recover is None or not self._recovered(action, recover):
                    problems.append(f"{what}: {exc}")
        return problems

    @staticmethod
    def _recovered(action: Callable[[], None], recover: Callable[[], None]) -> bool:
        try:
            recover()
            action()
        except Exception:  # noqa: BLE001 - the first failure is the one reported
            return False
        return True

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
