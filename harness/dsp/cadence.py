"""Cadence: on/off segments of ringing or a tone, and matching them to a cadence pattern.

Method. (1) The signal's components are found in its spectrum (or given), and tone_envelope
gives its AC level over time, with a window that cancels the tones' own beats. (2) The envelope
is split into on and off at a threshold halfway between the on and off levels (hysteresis of
+-10 % of the threshold against chatter; stretches shorter than min_gap_s are merged away); each
edge is first placed where the envelope crosses the threshold, interpolated between samples.
(3) Each edge is then refined by a change-point fit on the capture itself: around the edge, the
samples left and right of every candidate split are fitted with their own DC level, drift and
tones (with any strong harmonics, as in trapezoidal ringing, and any steady hum below the band),
the new state also with RC-like settling, and the split with the least total squared error wins.
An envelope alone cannot place the edge of a 20 Hz burst to better than a few ms: the few
samples that tell where it starts are averaged over a period, and the DC step from battery to
ringing offset that comes with the same edge pulls it by 10-20 ms. The fit places clean edges to
within a sample (0.125 ms at 8 kS/s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from harness.dsp.levels import checked_samples, on_off_levels
from harness.dsp.tones import bandpass, envelope_window_s, fit_sinusoids, spectral_peaks_hz, tone_envelope
from harness.dsp.waveform import Waveform

# Ringing can be set as low as 10 Hz on ATAs; nothing slower is a signal we segment.
_LOWEST_SIGNAL_HZ = 10.0
# The on level must stand 10 dB above the off level for an automatic threshold to mean anything.
_MIN_CONTRAST = 10 ** (10 / 20)
_HYSTERESIS = 0.10
# Half-width of the raw-capture window fitted around each edge: several periods of ringing.
_REFINE_HALF_WINDOW_S = 0.25
# A DC step can pull an envelope edge by up to the envelope's median window (50 ms): the fit
# searches at least that far either side.
_MIN_SEARCH_S = 0.05
# Harmonics modelled in the edge fit when they stand within 30 dB of their fundamental.
_MODEL_HARMONICS = 5
_HARMONIC_FLOOR = 10 ** (-30 / 20)
# Lowest frequency of interference (hum) modelled in the edge fit; below it is drift and steps.
_INTERFERENCE_FROM_HZ = 20.0
_INTERFERENCE_FLOOR = 0.01


@dataclass(frozen=True)
class Segment:
    """One stretch of the capture in which the signal is on or off.

    start_s, end_s: bench times (s) of its edges; duration_ms: their difference in ms.
    level_vrms: typical AC level (V RMS, median of the envelope) inside it. partial: cut by the
    start or end of the capture, so its duration says nothing about the cadence.
    """

    on: bool
    start_s: float
    end_s: float
    level_vrms: float
    partial: bool
    duration_ms: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "duration_ms", (self.end_s - self.start_s) * 1000.0)


@dataclass(frozen=True)
class Interval:
    """A complete on or off interval: on, duration_ms, and bench time start_s (s)."""

    on: bool
    duration_ms: float
    start_s: float


@dataclass(frozen=True)
class IntervalMatch:
    """A measured interval next to the pattern interval it was aligned with (both ms)."""

    on: bool
    measured_ms: float
    nominal_ms: float
    error_ms: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "error_ms", self.measured_ms - self.nominal_ms)


@dataclass(frozen=True)
class CadenceMatch:
    """Measured intervals aligned to a pattern.

    phase_index: index into the pattern of the first measured interval (where in the cadence the
    capture's first complete interval fell). pairs: each interval with its nominal duration.
    max_error_ms: largest |measured - nominal|.
    """

    phase_index: int
    pairs: tuple[IntervalMatch, ...]
    max_error_ms: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_error_ms", max(abs(p.error_ms) for p in self.pairs))


def segments(w: Waveform, band_hz: tuple[float, float] | None = None, threshold_vrms: float | None = None,
             min_gap_s: float = 0.02, freqs_hz: Sequence[float] | None = None) -> list[Segment]:
    """Split a capture of ringing or a cadenced tone into on and off segments, in time order.

    band_hz: where the signal is (e.g. (10, 100) for ringing, (300, 3400) for tones); None looks
    from 10 Hz up. freqs_hz: the signal's component frequencies if known (e.g. [440, 480]); else
    the strong spectral peaks in the band. threshold_vrms: on/off threshold on the envelope (V
    RMS); None puts it halfway between the on and off levels, which is where the envelope
    crosses at an edge, and needs the on level 10 dB above the off level (a steady signal raises
    ValueError: give a threshold to segment it). min_gap_s: on or off stretches shorter than this
    are glitches and merged into their neighbours (default 20 ms, below the 30 ms shortest
    interval in the E.180 tone plans). The first and last segments are flagged partial.
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "segments", min_samples=64)
    if freqs_hz is None:
        search = band_hz if band_hz is not None else (_LOWEST_SIGNAL_HZ, 0.45 * fs)
        freqs = spectral_peaks_hz(w, search)
        if not freqs:
            raise ValueError(f"segments: no ringing or tone stands out between {search[0]:g} and "
                             f"{search[1]:g} Hz in waveform {w.name!r}")
    else:
        freqs = sorted(float(f) for f in freqs_hz)
    if min_gap_s < 0:
        raise ValueError(f"segments: min_gap_s must be >= 0, got {min_gap_s}")
    envelope = tone_envelope(w, freqs, band_hz).samples
    model_freqs = freqs + _harmonics_present(x, fs, freqs) + _interference_hz(w, freqs)
    window = envelope_window_s(freqs) * fs  # samples

    if threshold_vrms is None:
        off, on = on_off_levels(envelope)
        if on < _MIN_CONTRAST * off or on == 0:
            raise ValueError(f"segments: waveform {w.name!r} shows no on/off contrast (levels {off:.4g} and "
                             f"{on:.4g} V RMS); pass threshold_vrms to segment a steady signal")
        threshold = (off + on) / 2
    elif not threshold_vrms > 0:
        raise ValueError(f"segments: threshold_vrms must be > 0, got {threshold_vrms}")
    else:
        threshold = float(threshold_vrms)

    first_on, edges = _threshold_edges(envelope, threshold)
    first_on, edges = _merge_short(first_on, edges, len(x), min_gap_s * fs)
    first_on, bounds = _refined_bounds(x, fs, model_freqs, freqs[0], window, first_on, edges)
    levels = _levels_between(envelope, bounds, window)
    return [Segment(on=first_on ^ (k % 2 == 1), start_s=float(w.start_s + bounds[k] / fs),
                    end_s=float(w.start_s + bounds[k + 1] / fs), level_vrms=levels[k],
                    partial=(k == 0 or k == len(levels) - 1))
            for k in range(len(levels))]


def cadence_intervals(segs: Sequence[Segment]) -> list[Interval]:
    """The complete (not partial) on/off intervals, in time order."""
    return [Interval(s.on, s.duration_ms, s.start_s) for s in segs if not s.partial]


def match_cadence(intervals: Sequence[Interval], pattern_ms: Sequence[float]) -> CadenceMatch:
    """Align measured intervals to a repeating pattern [on, off, on, off, ...] (ms).

    The capture may have started anywhere in the cadence, so every starting point in the pattern
    that has the first interval's state (on at even indices) is tried, and the one with the least
    squared error wins. E.g. UK ringing [400, 200, 400, 2000], US [2000, 4000].
    """
    pattern = [float(p) for p in pattern_ms]
    if not pattern or len(pattern) % 2 or not all(p > 0 for p in pattern):
        raise ValueError(f"match_cadence: pattern_ms must be on/off pairs of durations > 0 ms, got {list(pattern_ms)}")
    if not intervals:
        raise ValueError("match_cadence: no complete on/off interval to match; capture at least one whole cadence")
    for a, b in zip(intervals, intervals[1:]):
        if a.on == b.on:
            raise ValueError("match_cadence: intervals must alternate on and off (pass cadence_intervals(...))")
    best: tuple[float, int] | None = None
    for phase in range(len(pattern)):
        if (phase % 2 == 0) != intervals[0].on:
            continue
        cost = sum((iv.duration_ms - pattern[(phase + i) % len(pattern)]) ** 2 for i, iv in enumerate(intervals))
        if best is None or cost < best[0]:
            best = (cost, phase)
    phase = best[1]
    pairs = tuple(IntervalMatch(iv.on, iv.duration_ms, pattern[(phase + i) % len(pattern)])
                  for i, iv in enumerate(intervals))
    return CadenceMatch(phase, pairs)


def _threshold_edges(envelope: np.ndarray, threshold: float) -> tuple[bool, list[float]]:
    """(state of the first sample, edge positions in samples) of envelope against threshold."""
    decided = np.where(envelope > threshold * (1 + _HYSTERESIS), 1,
                       np.where(envelope < threshold * (1 - _HYSTERESIS), 0, -1))
    # Between the hysteresis limits the state holds: carry the last decided state forward.
    last = np.maximum.accumulate(np.where(decided >= 0, np.arange(len(decided)), 0))
    state = decided[last]
    state = np.where(state < 0, int(envelope[0] > threshold), state).astype(bool)
    changes = np.flatnonzero(state[1:] != state[:-1]) + 1
    edges = []
    previous = 0
    for c in changes:
        # The hysteresis limit was passed at c; the edge is the last crossing of the threshold
        # itself before it, interpolated linearly between the two samples around it.
        above = envelope[previous:c + 1] > threshold
        flips = np.flatnonzero(above[1:] != above[:-1])
        j = previous + (flips[-1] if flips.size else c - 1 - previous)
        e0, e1 = envelope[j], envelope[j + 1]
        edges.append(j + ((threshold - e0) / (e1 - e0) if e1 != e0 else 0.5))
        previous = c
    return bool(state[0]), edges


def _merge_short(first_on: bool, edges: list[float], n: int, min_samples: float) -> tuple[bool, list[float]]:
    """Remove on/off stretches shorter than min_samples, shortest first, joining their neighbours."""
    bounds = [0.0] + list(edges) + [float(n)]
    while len(bounds) > 2:
        durations = np.diff(bounds)
        k = int(np.argmin(durations))
        if durations[k] >= min_samples:
            break
        if k == 0:
            del bounds[1]
            first_on = not first_on
        elif k == len(durations) - 1:
            del bounds[-2]
        else:
            del bounds[k:k + 2]
    return first_on, bounds[1:-1]


def _refined_bounds(x: np.ndarray, fs: float, model_freqs: Sequence[float], lowest_hz: float, window: float,
                    first_on: bool, edges: list[float]) -> tuple[bool, list[float]]:
    """(state of the first segment, segment bounds in samples from 0 to len(x)) after each
    envelope edge is refined on the capture itself (_refine_edge).

    An edge too close to the capture's start or end to be placed reliably (within an envelope
    window or 2.5 periods, or where the fit finds no clear change) is dropped, so the partial
    segment there takes in its neighbour; an unplaceable edge between two whole segments keeps
    its envelope position.
    """
    n = len(x)
    end_guard = max(window, 2.5 * fs / lowest_hz, 16)
    if edges and edges[0] < end_guard:
        first_on, edges = not first_on, edges[1:]
    if edges and n - edges[-1] < end_guard:
        edges = edges[:-1]
    bounds = [0.0] + edges + [float(n)]
    half_window = int(max(_REFINE_HALF_WINDOW_S, 4.0 / lowest_hz) * fs)
    # How far a DC step can have pulled the envelope edge (the envelope's median window).
    search = max(window, _MIN_SEARCH_S * fs)
    refined = [0.0]
    last = len(bounds) - 2
    for i in range(1, last + 1):
        # The fit may reach halfway to the neighbouring edges, or to the capture's ends.
        lo = int(max(bounds[i] - half_window, (bounds[i - 1] + bounds[i]) / 2 if i > 1 else 0))
        hi = int(min(bounds[i] + half_window, (bounds[i] + bounds[i + 1]) / 2 if i < last else n))
        edge = _refine_edge(x, fs, model_freqs, fs / lowest_hz, lo, hi, bounds[i], search)
        if edge is not None:
            refined.append(edge)
        elif i not in (1, last):
            refined.append(bounds[i])
        elif i == 1:
            first_on = not first_on
    refined.append(float(n))
    return first_on, refined


def _harmonics_present(x: np.ndarray, fs: float, freqs: Sequence[float]) -> list[float]:
    """Harmonics (2nd to 5th) of freqs within 30 dB of their fundamental over the capture, Hz.

    Trapezoidal ringing carries strong odd harmonics; the edge fit must model them.
    """
    found = []
    for f in freqs:
        harmonics = [k * f for k in range(2, _MODEL_HARMONICS + 1) if k * f < 0.45 * fs]
        if harmonics:
            amplitudes = fit_sinusoids(x, fs, [f] + harmonics).amplitudes
            found += [h for h, a in zip(harmonics, amplitudes[1:]) if a > _HARMONIC_FLOOR * amplitudes[0]]
    return found


def _interference_hz(w: Waveform, freqs: Sequence[float]) -> list[float]:
    """Steady tones below the signal band (mains hum and its harmonics), Hz.

    Looked for between 20 Hz and half the lowest signal frequency, in the capture low-pass
    filtered there, and kept when above 1 % of the signal's amplitude: the edge fit models them
    so that they do not pull the edges.
    """
    fs = w.sample_rate_hz
    top = min(freqs) / 2
    if top <= 2 * _INTERFERENCE_FROM_HZ:
        return []
    slow = bandpass(w.samples, fs, (0.0, top))
    candidates = spectral_peaks_hz(Waveform(slow, fs), (_INTERFERENCE_FROM_HZ, top), within_db=40.0,
                                   min_spacing_hz=5.0)
    if not candidates:
        return []
    signal_amplitude = max(fit_sinusoids(w.samples, fs, freqs).amplitudes)
    amplitudes = fit_sinusoids(slow, fs, candidates).amplitudes
    return [f for f, a in zip(candidates, amplitudes) if a > _INTERFERENCE_FLOOR * signal_amplitude]


def _levels_between(envelope: np.ndarray, bounds: Sequence[float], window: float) -> list[float]:
    """Median envelope (V RMS) between successive bounds, away from the edge ramps when possible."""
    levels = []
    for a, b in zip(bounds, bounds[1:]):
        inner = envelope[int(math.ceil(a + window / 2)):int(b - window / 2)]
        if inner.size == 0:
            inner = envelope[int(a):max(int(a) + 1, int(b))]
        levels.append(float(np.median(inner)))
    return levels


def _refine_edge(x: np.ndarray, fs: float, freqs: Sequence[float], period: float, lo: int, hi: int,
                 coarse: float, search: float) -> float | None:
    """Sample position of the change of state in x[lo:hi], by a two-segment least-squares fit.

    Left of a candidate split the capture is modelled as DC + linear drift + sinusoids at freqs
    (free amplitudes and phases); right of it the same plus decaying exponentials starting at the
    split (time constants 1/16, 1/4 and 1 `period`, in samples, of the signal's lowest tone), so
    each side keeps at least one period and a DC level that settles
    like an RC (feed resistance into ringer capacitance) after the edge is modelled rather than
    mistaken for the edge. Splits within `search` samples of `coarse` are tried; the one with the
    least summed squared error wins and the edge is placed halfway between the last sample of one
    state and the first of the other. Running sums of the normal equations make each candidate one
    small linear solve. Returns None when the best split is at the limit of the search (or there
    is no room to search): no clear change near `coarse`.
    """
    seg = x[lo:hi] - np.median(x[lo:hi])  # the fit has a DC term; this only keeps sums small
    m = len(seg)
    margin = int(max(period, 16))  # each side keeps at least one period
    first = int(max(margin, coarse - lo - search))
    last = int(min(m - margin, coarse - lo + search))
    if last - first < 3:
        return None
    n = np.arange(m)
    t = (n - (m - 1) / 2) / fs
    columns = [np.ones(m), 2 * t * fs / m]
    for f in freqs:
        columns += [np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)]
    left_basis = np.column_stack(columns)
    # Exponentials referred to the first candidate split; zero before it (never right of a split).
    span = last - first
    for tau in (period / 16, period / 4, period):
        tau = max(tau, 2 * span / 300)  # keeps exp(-2 span / tau) clear of underflow
        columns.append(np.where(n >= first, np.exp(-np.clip(n - first, 0, None) / tau), 0.0))
    right_basis = np.column_stack(columns)
    splits = np.arange(first, last + 1)
    left = _unexplained(_running_sums(left_basis, seg), splits)
    right = _unexplained(_running_sums(right_basis[::-1], seg[::-1]), m - splits)
    best = int(np.argmin(left + right))
    if best in (0, splits.size - 1):
        return None
    return lo + splits[best] - 0.5


def _running_sums(basis: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums over the first k samples (k = 0..m) of B B', B y and y^2: the normal equations."""
    p = basis.shape[1]
    gram = np.concatenate((np.zeros((1, p, p)), np.cumsum(basis[:, :, None] * basis[:, None, :], axis=0)))
    moment = np.concatenate((np.zeros((1, p)), np.cumsum(basis * y[:, None], axis=0)))
    energy = np.concatenate(([0.0], np.cumsum(y * y)))
    return gram, moment, energy


def _unexplained(sums: tuple[np.ndarray, np.ndarray, np.ndarray], counts: np.ndarray) -> np.ndarray:
    """Residual energy of the least-squares fit over the first `counts` samples, per count."""
    gram, moment, energy = (s[counts] for s in sums)
    p = gram.shape[1]
    # Scale to unit diagonal (the exponential columns are tiny far from their start), then a tiny
    # ridge keeps a column that is all zero from making the system singular.
    scale = np.sqrt(np.einsum("kii->ki", gram))
    scale[scale == 0] = 1.0
    g = gram / (scale[:, :, None] * scale[:, None, :]) + 1e-10 * np.eye(p)
    h = moment / scale
    return energy - np.einsum("ki,ki->k", h, np.linalg.solve(g, h[:, :, None])[:, :, 0])
