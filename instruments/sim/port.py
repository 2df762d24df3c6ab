"""The event-driven core that the simulated FXS and FXO ports share: named timers, the event log,
and advancing through time.

A port keeps a table of named timers, each due at a bench time. advance_to(t_s) fires the timers
due up to t_s in time order (timers due at the same instant in the order of _TIMER_ORDER), with the
port's time set to each timer's due time while it fires, so that what the timer does happens at
that instant; afterwards the port's time is t_s. DUT-control calls act at the port's time, which
the SimModel keeps equal to the bench clock's now.

It also holds the port's parameters (a frozen dataclass), the names the fixture overrode on
purpose (a defective DUT), and provision(), which sets the provisionable ones except those.

A subclass provides:
    _TIMER_ORDER   every timer name it uses, in the order timers due at the same instant fire
    _PROVISIONABLE the parameter names its DUT accepts from provisioning
    _fire(timer)   what a due timer does (it may set or cancel entries of self._timers)
    line           its FxsLine or FxoLine, which render() reads; built after TimedPort.__init__,
                   as the line starts at the port's time
and takes self._lock in each of its public methods.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from dataclasses import fields, replace

import numpy as np

from instruments.sim.line import TIME_EPS_S, FxoLine, FxsLine


class TimedPort(ABC):
    """A simulated port advanced from one timer to the next.

    label: how messages name the port ("FXS port 'fxs1'"); start_s: bench time the port starts
    at; lock: shared with the bench clock, so that DUT control and advancing do not interleave.
    """

    _TIMER_ORDER: tuple[str, ...]
    _PROVISIONABLE: frozenset[str]
    line: FxsLine | FxoLine

    def __init__(self, label: str, start_s: float, lock: threading.RLock | None, params,
                 overridden: set[str] | frozenset[str]):
        self._label = label
        unknown = sorted(set(overridden) - {f.name for f in fields(params)})
        if unknown:
            raise ValueError(f"{label}: unknown overridden parameter {unknown[0]!r}")
        self.params = params
        self.overridden = frozenset(overridden)
        self._lock = lock or threading.RLock()
        self._t = float(start_s)
        self._timers: dict[str, float] = {}  # timer name -> bench time it is due
        self._events: list[tuple[float, str]] = []

    def events(self, since_s: float = -math.inf) -> list[tuple[float, str]]:
        """(bench time, event) pairs at or after since_s, oldest first (the port's class
        docstring lists its events)."""
        with self._lock:
            return [event for event in self._events if event[0] >= since_s]

    def provision(self, **settings) -> dict[str, object]:
        """Set provisionable settings except those the fixture overrode; returns those applied."""
        unknown = sorted(set(settings) - self._PROVISIONABLE)
        if unknown:
            raise ValueError(f"{self._label}: cannot provision {unknown[0]!r} "
                             f"(provisionable: {', '.join(sorted(self._PROVISIONABLE))})")
        applied = {name: value for name, value in settings.items() if name not in self.overridden}
        with self._lock:
            self.params = replace(self.params, **applied)
        return applied

    def render(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(v_tr volts, i_loop amperes) at bench times t, none of them after now."""
        with self._lock:
            t = np.asarray(t, dtype=float)
            if t.size and t.max() > self._t + TIME_EPS_S:
                raise ValueError(f"{self._label}: asked for t={t.max():.6f} s, after now ({self._t:.6f} s)")
            return self.line.render(t)

    def advance_to(self, t_s: float) -> None:
        """Run the port up to bench time t_s, timer by timer."""
        with self._lock:
            while self._timers:
                name = min(self._timers, key=lambda n: (self._timers[n], self._TIMER_ORDER.index(n)))
                due = self._timers[name]
                if due > t_s:
                    break
                del self._timers[name]
                self._t = max(self._t, due)
                self._fire(name)
            self._t = max(self._t, t_s)

    def _event(self, what: str) -> None:
        """Log an event at the port's time."""
        self._events.append((self._t, what))

    @abstractmethod
    def _fire(self, timer: str) -> None:
        """Act on a timer now due (it has already left self._timers)."""
