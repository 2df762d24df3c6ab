"""The simulated T7's stream engine: scan timing, the device and LJM buffers, the DIO trigger,
and the DAC outputs (set directly or played by a stream-out), all on the bench clock.

`SimT7` (in ljm.py) owns the registers and hands a running stream to a `SimStream`; this module
knows nothing of LJM's C interface. Modelled figures (chosen where LabJack gives none):

* Scan k is taken at start + k / scan rate; within a scan the addresses follow one another by
  the interchannel delay (see `interchannel_delays_s`). A read of scans [a, b) is complete at
  start + b / scan rate.
* LJM's background thread drains the device buffer as fast as it fills, into LJM's own buffer of
  LJM_BUFFER_S seconds of scans (chosen; LJM sizes it internally). Only when that is full does the
  device buffer (STREAM_BUFFER_SIZE_BYTES, 2 bytes a sample) fill; when that is full too the
  device loses scans and eStreamRead answers LJME_LJM_BUFFER_FULL.
* An injected overflow (a USB stall) loses one device buffer's worth of scans, which LJM returns
  as DUMMY_VALUE (-9999) after the T7's auto-recovery.
* The trigger line is looked at every TRIGGER_GRID_S; the first scan is taken at the first look
  that sees the edge.
* DACs: 12-bit over 0-5 V (LSB 5 V / 4096), clipped to 0-5 V; a stream-out outputs its loop one
  value per scan at its place in the scan list and holds the last value when the stream stops.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Probe = Callable[[np.ndarray], np.ndarray]

LJM_BUFFER_S = 10.0
SAMPLE_BYTES = 2
TRIGGER_GRID_S = 10e-6
DAC_MAX_V = 5.0
DAC_LSB_V = DAC_MAX_V / 4096
FAST_SAMPLE_RATE_HZ = 60e3  # above this aggregate rate the T7 shortens the interchannel delay
FAST_INTERCHANNEL_S = 8e-6  # (datasheet A-1-1: 8 us above 60 kS/s, 15 us below, at +-10 V and index 1)
SLOW_INTERCHANNEL_S = 15e-6


def dac_volts(volts: float | np.ndarray) -> float | np.ndarray:
    """What a T7 DAC outputs for `volts` asked: clipped to 0-5 V, in 12-bit steps."""
    return np.round(np.clip(volts, 0.0, DAC_MAX_V) / DAC_LSB_V) * DAC_LSB_V


def interchannel_delays_s(sample_time_s: list[float], samples_per_s: float, settling_s: float) -> list[float]:
    """Delay before each address of a scan (0 for the first), seconds.

    sample_time_s: per address, the time one sample of it takes at the stream's resolution and its
    range (1 / the datasheet's multi-address rate); settling_s: STREAM_SETTLING_US in seconds
    (0 = automatic). Automatic settling takes at least 15 us, or 8 us above 60 kS/s.
    """
    if settling_s:
        auto = [settling_s] * len(sample_time_s)
    elif samples_per_s > FAST_SAMPLE_RATE_HZ:
        auto = [FAST_INTERCHANNEL_S] * len(sample_time_s)
    else:
        auto = [max(SLOW_INTERCHANNEL_S, t) for t in sample_time_s]
    return [0.0] + auto[1:]


def first_edge(level: Probe, t0: float, t1: float, previous: bool,
               rising: bool | None) -> tuple[float | None, float, bool]:
    """Look at the logic level `level` every TRIGGER_GRID_S after t0 up to t1 for an edge.

    previous: the level at t0; rising: True, False (falling) or None (either). Returns the time of
    the first look that saw the edge (None if none did), the time of the last look and its level.
    """
    looks = int(math.floor((t1 - t0) / TRIGGER_GRID_S + 1e-9))
    if looks < 1:
        return None, t0, previous
    times = t0 + TRIGGER_GRID_S * np.arange(1, looks + 1)
    high = np.asarray(level(times)) != 0
    before = np.concatenate([[previous], high[:-1]])
    if rising is None:
        edges = high != before
    else:
        edges = high & ~before if rising else ~high & before
    hits = np.flatnonzero(edges)
    return (float(times[hits[0]]) if hits.size else None), float(times[-1]), bool(high[-1])


@dataclass
class Trigger:
    """A stream waiting for an edge on a digital line (STREAM_TRIGGER_INDEX)."""

    level: Probe  # logic level of the line at bench times
    rising: bool | None
    looked_s: float  # looked at the line up to here
    last_level: bool

    def look(self, until_s: float) -> float | None:
        """Bench time of the edge if there was one up to until_s, else None."""
        edge_s, self.looked_s, self.last_level = first_edge(self.level, self.looked_s, until_s,
                                                            self.last_level, self.rising)
        return edge_s


@dataclass
class StreamSlot:
    """One address of the scan list: an analog input (ain >= 0) or a stream-out (out >= 0)."""

    offset_s: float  # after the scan's start
    ain: int = -1
    range_v: float = 10.0
    negative: int = 199
    out: int = -1


@dataclass
class SimStream:
    """A running stream: which scans exist at a bench time, which were read, which were lost."""

    slots: list[StreamSlot]
    scan_rate_hz: float
    scans_per_read: int
    resolution_index: int
    device_buffer_scans: int
    start_s: float | None  # first scan; None while waiting for the trigger
    trigger: Trigger | None = None
    scans_read: int = 0
    lost: range = range(0)  # scan indices the device skipped after an overflow
    ljm_buffer_scans: int = field(init=False)

    def __post_init__(self) -> None:
        self.ljm_buffer_scans = max(self.scans_per_read, round(LJM_BUFFER_S * self.scan_rate_hz))

    @property
    def input_slots(self) -> list[StreamSlot]:
        return [s for s in self.slots if s.ain >= 0]

    def ready_s(self, end_scan: int) -> float:
        """When scans [0, end_scan) have all been taken."""
        return self.start_s + end_scan / self.scan_rate_hz

    def taken(self, now_s: float) -> int:
        """Scans complete at bench time now_s."""
        return max(0, math.floor((now_s - self.start_s) * self.scan_rate_hz + 1e-6))

    def overflowed(self, now_s: float) -> bool:
        """Whether unread scans have filled LJM's buffer and then the device's."""
        return self.taken(now_s) - self.scans_read > self.ljm_buffer_scans + self.device_buffer_scans

    def backlogs(self, now_s: float) -> tuple[int, int]:
        """(deviceScanBacklog, ljmScanBacklog) after the scans read so far."""
        unread = self.taken(now_s) - self.scans_read
        return max(0, unread - self.ljm_buffer_scans), min(unread, self.ljm_buffer_scans)

    def scan_times_s(self, first: int, end: int) -> np.ndarray:
        return self.start_s + np.arange(first, end) / self.scan_rate_hz


class DacTrack:
    """What one DAC outputs over bench time: held values and stream-out loops, in time order."""

    def __init__(self, volts: float = 0.0):
        self._starts: list[float] = [-math.inf]
        self._segments: list[tuple[float, float, np.ndarray]] = [(0.0, 0.0, np.array([volts]))]  # (t0, rate, values)

    def hold(self, t_s: float, volts: float) -> None:
        """From t_s on the DAC outputs `volts` (already a DAC value)."""
        self._append(t_s, 0.0, np.array([volts]))

    def play(self, t_s: float, rate_hz: float, values: np.ndarray) -> None:
        """From t_s on the DAC outputs values[k mod len] at t_s + k / rate_hz."""
        self._append(t_s, rate_hz, np.asarray(values, dtype=float))

    def stop(self, t_s: float) -> None:
        """A stream-out ended at t_s: the DAC keeps its last value."""
        self.hold(t_s, float(self(np.array([t_s]))[0]))

    def _append(self, t_s: float, rate_hz: float, values: np.ndarray) -> None:
        while len(self._starts) > 1 and self._starts[-1] >= t_s:  # a later setting replaces one not yet begun
            self._starts.pop()
            self._segments.pop()
        self._starts.append(t_s)
        self._segments.append((t_s, rate_hz, values))

    def ac_coupled(self, times_s: np.ndarray) -> np.ndarray:
        """What a capacitor-coupled circuit driven by the DAC sees at bench times times_s: a
        stream-out loop less its mean (the level the coupling capacitor charges to); held
        levels and steps between them are blocked (their transients are not modelled)."""
        times_s = np.asarray(times_s, dtype=float)
        which = np.searchsorted(self._starts, times_s, side="right") - 1
        out = np.zeros(times_s.shape)
        for i in np.unique(which):
            t0, rate_hz, values = self._segments[i]
            if rate_hz:
                here = which == i
                k = np.floor((times_s[here] - t0) * rate_hz + 1e-9).astype(int)
                out[here] = values[k % len(values)] - values.mean()
        return out

    def __call__(self, times_s: np.ndarray) -> np.ndarray:
        """Volts at the DAC terminal at bench times times_s."""
        times_s = np.asarray(times_s, dtype=float)
        which = np.searchsorted(self._starts, times_s, side="right") - 1
        out = np.empty(times_s.shape)
        for i in np.unique(which):
            t0, rate_hz, values = self._segments[i]
            here = which == i
            if rate_hz:
                k = np.floor((times_s[here] - t0) * rate_hz + 1e-9).astype(int)
                out[here] = values[k % len(values)]
            else:
                out[here] = values[0]
        return out


class WallClock:
    """Wall-clock time with the VirtualClock's interface, to run the simulated T7 in real time
    (benchmarks). waited_s: how long callers spent waiting for time to pass."""

    def __init__(self):
        self._t0 = time.monotonic()
        self._lock = threading.RLock()
        self.waited_s = 0.0

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def now(self) -> float:
        return time.monotonic() - self._t0

    def advance_to(self, t: float) -> None:
        self.sleep(t - self.now())

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            started = time.monotonic()
            time.sleep(seconds)
            self.waited_s += time.monotonic() - started
