"""A simulated FXO port: a DAA with its firmware's ring counting and answering, on an `FxoLine`.

Ring detection works on what reaches the DAA terminals: the generator's sine through the ring
amplifier and the feed resistance, divided against the DAA's ringer and leakage. A ring signal is
valid while its RMS volts are at or above ring_detect_vrms and its frequency lies within
ring_freq_min_hz..ring_freq_max_hz. A burst counts as a ring once it has been valid for
ring_validation_ms. answer_delay_ms after the end of the answer_after_rings-th ring the DAA goes
off-hook (answer). ring_timeout_ms without a ring signal resets the ring count (the caller gave
up). The detector uses a single threshold; a real part lands anywhere between its must-ignore
and must-detect voltages.

The DAA's DC characteristic, leakage, ringer and AC termination are in `line.DaaLoad`. Loop-
current supervision (disconnect on loss of loop current) and dialing are not modelled.

The port advances by jumping from one timer to the next (see `port.TimedPort`): generator burst
edges, the validation, answer, ring-timeout and release timers. DUT-control calls act at the time
the port was last advanced to, which the SimModel keeps equal to the bench clock's now.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace

import numpy as np

from instruments.sim.jig import FxoJig
from instruments.sim.line import TIME_EPS_S, DaaLoad, FxoLine, FxoLineState
from instruments.sim.port import TimedPort
from instruments.sim.terminals import SourceSetting, SupplySetting

# Source tags [Sx] refer to reference/telephony-facts.md (sections 1.2, 6.2).


@dataclass(frozen=True)
class DaaParams:
    """What an FXO port does, as its DAA and firmware are configured. Units in the names."""

    # ring detection
    ring_detect_vrms: float = 15.0  # Si2401 RT=0 typ 15; must-ignore 13.5, must-detect 16.5 [S33]
    ring_freq_min_hz: float = 15.0  # [S33][S34]
    ring_freq_max_hz: float = 68.0  # [S33][S34]
    ring_validation_ms: float = 256.0  # SPA3102 ring validation [S32]
    ring_timeout_ms: float = 6000.0  # no ring this long resets the count; HT503 PSTN ring timeout [S39]
    # answering
    answer_after_rings: int = 2  # assumption (a typical gateway setting)
    answer_delay_ms: float = 300.0  # after the end of the last counted burst; assumption
    onhook_release_ms: float = 0.5  # on-hook speed, SPA3102 default < 0.5 ms [S32]
    # the DAA as a circuit
    onhook_leakage_ua: float = 5.0  # <= 5 uA at 48 V (Si2401) [S33]; modelled as a resistance
    onhook_leakage_at_v: float = 48.0  # [S33]
    ringer_ren: float = 0.2  # [S33] (series RC, US REN model)
    # Off-hook DC: v_tr = v_knee_v + i * slope_ohm, so 5.9 V at 20 mA and 10.4 V at 120 mA,
    # inside Si2401's <= 6.0 V @ 20 mA and >= 9 V @ 120 mA [S33].
    v_knee_v: float = 5.0
    slope_ohm: float = 45.0
    ac_termination_ohm: float = 600.0  # FXO side GR-57 600 ohm [S20c]

    def __post_init__(self) -> None:
        for name in ("ring_detect_vrms", "ring_freq_min_hz", "ring_freq_max_hz", "onhook_leakage_ua",
                     "onhook_leakage_at_v", "slope_ohm", "ac_termination_ohm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DaaParams.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("ring_validation_ms", "ring_timeout_ms", "answer_delay_ms", "onhook_release_ms",
                     "ringer_ren", "v_knee_v"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"DaaParams.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.ring_freq_min_hz > self.ring_freq_max_hz:
            raise ValueError(f"DaaParams: ring_freq_min_hz ({self.ring_freq_min_hz}) is above "
                             f"ring_freq_max_hz ({self.ring_freq_max_hz})")
        if int(self.answer_after_rings) != self.answer_after_rings or self.answer_after_rings < 1:
            raise ValueError(f"DaaParams.answer_after_rings must be a whole number >= 1, got {self.answer_after_rings!r}")

    def load(self) -> DaaLoad:
        """The DAA as the line sees it."""
        return DaaLoad(leakage_ohm=self.onhook_leakage_at_v / (self.onhook_leakage_ua * 1e-6),
                       ringer_ren=self.ringer_ren, knee_v=self.v_knee_v, slope_ohm=self.slope_ohm,
                       ac_termination_ohm=self.ac_termination_ohm)


# Firmware settings a gateway accepts from its provisioning.
PROVISIONABLE = frozenset({"answer_after_rings", "answer_delay_ms", "ring_validation_ms",
                           "ring_timeout_ms", "ring_detect_vrms"})


# Generator functions the line model knows.
_FUNCTIONS = ("SIN", "DC")


def _carries_sine(setting: SourceSetting) -> bool:
    return setting.output_on and setting.function.upper() == "SIN"


def burst_start_at(setting: SourceSetting, t_s: float) -> float | None:
    """When the sine on the generator output at t_s rose through zero at its burst start (or
    since_s when continuous); None when the output carries no sine at t_s."""
    if not _carries_sine(setting):
        return None
    if setting.burst_cycles is None:
        return setting.since_s
    if t_s < setting.since_s - TIME_EPS_S:
        return None
    period, on_s = _burst_timing(setting)
    start = setting.since_s + math.floor((t_s - setting.since_s + TIME_EPS_S) / period) * period
    return start if t_s - start < on_s - TIME_EPS_S else None


def next_burst_edge(setting: SourceSetting, after_s: float) -> tuple[float, float | None] | None:
    """The first burst edge after after_s: (its time, the burst start in force from then, None
    between bursts); None when the output has no bursts."""
    if not _carries_sine(setting) or setting.burst_cycles is None:
        return None
    period, on_s = _burst_timing(setting)
    k = math.floor((after_s - setting.since_s) / period)
    for n in range(max(k - 1, 0), k + 3):
        start = setting.since_s + n * period
        if start > after_s + TIME_EPS_S:
            return start, start
        if start + on_s > after_s + TIME_EPS_S:
            return start + on_s, None
    raise AssertionError("a burst edge always lies within two periods")


def _burst_timing(setting: SourceSetting) -> tuple[float, float]:
    """(period, on-time) of a burst setting, seconds."""
    if not setting.burst_period_s > 0 or not setting.freq_hz > 0:
        raise ValueError(f"generator burst needs burst_period_s > 0 and freq_hz > 0, got {setting}")
    return setting.burst_period_s, min(setting.burst_cycles / setting.freq_hz, setting.burst_period_s)


class FxoPort(TimedPort):
    """One simulated FXO port and the bench line it is plugged into.

    params: the port's configuration; overridden: names of params the fixture set on purpose (a
    defective DUT), which provision() leaves alone.

    Events (see events()): ring (one per counted ring), answer, ring_count_reset, off_hook
    (seized), on_hook, reset.
    """

    # Order in which timers due at the same instant fire: a burst edge is seen before the timers.
    _PROVISIONABLE = PROVISIONABLE
    _TIMER_ORDER = ("generator", "validate", "answer", "ring_timeout", "release")

    def __init__(self, jig: FxoJig, params: DaaParams, overridden: set[str] | frozenset[str] = frozenset(),
                 *, rng: np.random.Generator | None = None, start_s: float = 0.0,
                 lock: threading.RLock | None = None):
        super().__init__(f"FXO port {jig.name!r}", start_s, lock, params, overridden)
        self.jig = jig
        self._next_burst_start: float | None = None  # what the pending "generator" edge brings
        self._rings = 0
        self._ring_valid = False
        self._burst_counted = False
        state = FxoLineState(SupplySetting(), SourceSetting(), burst_start_s=None, daa_off_hook=False)
        self.line = FxoLine(jig, params.load(), state, self._t, rng)

    # ---- DUT control -------------------------------------------------------------------------

    def rings_detected(self) -> int:
        """Rings counted in the present call (kept after answering, cleared on hang-up/reset)."""
        with self._lock:
            return self._rings

    def off_hook(self) -> bool:
        """True while the DAA holds the line (answered or seized)."""
        with self._lock:
            return self.line.state.daa_off_hook


    def seize(self) -> None:
        """Go off-hook now (an outgoing call)."""
        with self._lock:
            self._timers.pop("release", None)
            if not self.line.state.daa_off_hook:
                self._event("off_hook")
                self._set_hook(True)

    def hang_up(self) -> None:
        """Go on-hook, onhook_release_ms from now; the ring count starts again."""
        with self._lock:
            if self.line.state.daa_off_hook and "release" not in self._timers:
                self._timers["release"] = self._t + self.params.onhook_release_ms / 1e3

    def reset(self) -> None:
        """Back to on-hook idle at once, ring count 0."""
        with self._lock:
            for timer in ("validate", "answer", "ring_timeout", "release"):
                self._timers.pop(timer, None)
            self._rings = 0
            self._ring_valid = self._burst_counted = False
            self._event("reset")
            self._set_hook(False)

    # ---- the bench (render() and advance_to() come from TimedPort) ---------------------------

    def generator_changed(self, setting: SourceSetting) -> None:
        """The generator channel feeding the ring amplifier was set (now)."""
        if setting.function.upper() not in _FUNCTIONS:
            raise ValueError(f"FXO line {self.jig.name!r}: generator function {setting.function!r} "
                             f"is not modelled (only {', '.join(_FUNCTIONS)})")
        with self._lock:
            self._timers.pop("generator", None)
            self._schedule_burst_edge(setting)
            self._apply(generator=setting, burst_start_s=burst_start_at(setting, self._t))

    def supply_changed(self, setting: SupplySetting) -> None:
        """The DC supply channel in series with the line was set (now)."""
        with self._lock:
            self._apply(supply=setting)

    def supply_operating_point(self) -> tuple[float, float]:
        """(volts, amps) at the supply's terminals now."""
        with self._lock:
            return self.line.supply_operating_point()

    # ---- internals ---------------------------------------------------------------------------

    def _fire(self, timer: str) -> None:
        if timer == "generator":
            burst_start = self._next_burst_start
            self._schedule_burst_edge(self.line.state.generator)
            self._apply(burst_start_s=burst_start)
        elif timer == "validate":
            self._rings += 1
            self._burst_counted = True
            self._event("ring")
        elif timer == "answer":
            self._event("answer")
            self._set_hook(True)
        elif timer == "ring_timeout":
            self._rings = 0
            self._event("ring_count_reset")
        elif timer == "release":
            self._rings = 0
            self._event("on_hook")
            self._set_hook(False)
        else:
            raise AssertionError(f"unknown timer {timer!r}")

    def _schedule_burst_edge(self, setting: SourceSetting) -> None:
        edge = next_burst_edge(setting, self._t)
        if edge is not None:
            self._timers["generator"], self._next_burst_start = edge

    def _set_hook(self, off_hook: bool) -> None:
        self._apply(daa_off_hook=off_hook)

    def _apply(self, **changes) -> None:
        """Change the line's inputs now, then re-run the ring detector."""
        self.line.apply(self._t, replace(self.line.state, **changes))
        self._ring_detector()

    def _ring_signal_valid(self) -> bool:
        state, p = self.line.state, self.params
        if state.daa_off_hook or state.burst_start_s is None:
            return False
        if not p.ring_freq_min_hz <= state.generator.freq_hz <= p.ring_freq_max_hz:
            return False
        return self.line.present.tone_vrms() >= p.ring_detect_vrms

    def _ring_detector(self) -> None:
        p = self.params
        if self.line.state.daa_off_hook:
            for timer in ("validate", "answer", "ring_timeout"):
                self._timers.pop(timer, None)
            self._ring_valid = self._burst_counted = False
            return
        valid = self._ring_signal_valid()
        if valid == self._ring_valid:
            return
        self._ring_valid = valid
        if valid:
            self._timers["validate"] = self._t + p.ring_validation_ms / 1e3
            self._timers.pop("ring_timeout", None)
            return
        self._timers.pop("validate", None)
        if self._burst_counted and self._rings >= p.answer_after_rings:
            self._timers["answer"] = self._t + p.answer_delay_ms / 1e3
        if self._rings > 0:
            self._timers["ring_timeout"] = self._t + p.ring_timeout_ms / 1e3
        self._burst_counted = False
