"""Cadence: on/off segments of ringing or a tone, and matching them to a cadence pattern.

Method. (1) The signal's components are found in its spectrum (or given). (2) Its level over
time comes from a block envelope: the capture is differenced (which removes any constant DC
exactly), correlated with each tone over blocks of about a sixteenth of the envelope window
(one matrix product), and the block results are summed under a triangular window whose halves
are whole periods of the tones' beats (envelope_window_s). That is a few passes over the capture
(a minute at 16 kS/s in a few ms). (3) The envelope is split into on and off at a threshold
halfway between the on and off levels (hysteresis of +-10 % of the threshold against chatter;
stretches shorter than min_gap_s are merged away); each edge is first placed where the envelope
crosses the threshold, which a clean edge does within half an envelope window. (4) Each edge is
then refined by a change-point fit on the capture itself: around the edge, the samples left and
right of every candidate split are fitted with their own DC level, drift and tones (with any
strong harmonics, as in trapezoidal ringing, and any steady hum below the band), the new state
also with RC-like settling where the DC level steps and the settling terms pay for themselves,
and the split with the least total squared error wins. Edges with the same window are fitted
together: the Gram matrices of every split are built and inverted once. An envelope alone
cannot place the edge of a 20 Hz burst to better than a few ms (the few samples that tell where
it starts are averaged over a period, and the DC step from battery to ringing offset that comes
with the edge pulls it); the fit places edges to about a sample (0.125 ms at 8 kS/s) at 20 dB
SNR, or a few where the signal itself gives little away (a 20 Hz burst starting where it meets
the battery voltage, a dual tone switching in a null of its beat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from harness.dsp.levels import checked_samples, on_off_levels
from harness.dsp.tones import (bandpass, envelope_window_s, fit_frequencies_hz, sinusoid_amplitudes,
                               spectral_peaks_hz)
from harness.dsp.waveform import Waveform

# Ringing can be set as low as 10 Hz on ATAs; nothing slower is a signal we segment.
_LOWEST_SIGNAL_HZ = 10.0
# The on level must stand 10 dB above the off level for an automatic threshold to mean anything.
_MIN_CONTRAST = 10 ** (10 / 20)
_HYSTERESIS = 0.10
# Envelope blocks per half window: the envelope's time step is a sixteenth of its window.
_BLOCKS_PER_HALF_WINDOW = 8
# The edge fit searches half an envelope window plus 2 ms either side of the envelope's edge,
# and fits at least two periods of the lowest tone (and 10 ms) beyond that on each side.
_SEARCH_MARGIN_S = 0.002
_FIT_BEYOND_SEARCH_S = 0.010
# Model frequencies are refined over at most this much of the longest on stretch.
_MODEL_STRETCH_S = 0.5
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
    level_vrms: typical AC level (V RMS, mean of the settled envelope) inside it. partial: cut by the
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
    interval in the E.180 tone plans). The first and last segments are flagged partial. Edges
    are placed to 0.05-0.3 ms RMS at 8 kS/s and 20 dB SNR (benchmarks/dsp_tones.py); a minute
    at 16 kS/s takes ~12 ms of CPU.
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "segments", min_samples=64)
    if min_gap_s < 0:
        raise ValueError(f"segments: min_gap_s must be >= 0, got {min_gap_s}")
    if freqs_hz is None:
        search = band_hz if band_hz is not None else (_LOWEST_SIGNAL_HZ, 0.45 * fs)
        freqs = spectral_peaks_hz(w, search)
        if not freqs:
            raise ValueError(f"segments: no ringing or tone stands out between {search[0]:g} and "
                             f"{search[1]:g} Hz in waveform {w.name!r}")
    else:
        freqs = sorted(float(f) for f in freqs_hz)
        if not freqs or not all(0 < f < fs / 2 for f in freqs):
            raise ValueError(f"segments: freqs_hz must be non-empty and between 0 and {fs / 2:g} Hz, "
                             f"got {list(freqs_hz)}")
    window_s = envelope_window_s(freqs)
    envelope = _block_envelope(x, fs, freqs, window_s, w.name)

    if threshold_vrms is None:
        off, on = on_off_levels(envelope.values[::_BLOCKS_PER_HALF_WINDOW // 2])  # 8 values per window
        if on < _MIN_CONTRAST * off or on == 0:
            raise ValueError(f"segments: waveform {w.name!r} shows no on/off contrast (levels {off:.4g} and "
                             f"{on:.4g} V RMS); pass threshold_vrms to segment a steady signal")
        threshold = (off + on) / 2
    elif not threshold_vrms > 0:
        raise ValueError(f"segments: threshold_vrms must be > 0, got {threshold_vrms}")
    else:
        threshold = float(threshold_vrms)

    first_on, crossings = _threshold_edges(envelope.values, threshold)
    edges = [envelope.position(c) for c in crossings]
    first_on, edges = _merge_short(first_on, edges, len(x), min_gap_s * fs)
    model_freqs = _model_freqs(x, fs, freqs, first_on, edges, window_s * fs)
    settling = _dc_steps(x, first_on, edges, window_s * fs, threshold)
    first_on, bounds = _refined_bounds(x, fs, model_freqs, freqs[0], window_s, first_on, edges, settling)
    levels = _levels_between(envelope, bounds)
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


@dataclass(frozen=True)
class _Envelope:
    """The signal's AC level (V RMS) on a grid of `hop` samples: values[i] is centred on sample
    position first_centre + i * hop, over a triangular window of window_samples."""

    values: np.ndarray
    first_centre: float
    hop: int
    window_samples: int

    def position(self, index: float) -> float:
        return self.first_centre + index * self.hop

    def index(self, position: float) -> float:
        return (position - self.first_centre) / self.hop


def _block_envelope(x: np.ndarray, fs: float, freqs: Sequence[float], window_s: float, name: str) -> _Envelope:
    """Level over time (V RMS) of the tones at freqs (Hz), see the module docstring.

    The first difference y of the capture holds each tone scaled by 2 sin(pi f / fs) and no DC.
    Block b's correlation with tone f is sum over the block of y_n exp(-j 2 pi f n / fs): one
    matrix product of the blocks with a block-long phasor, then each block's start phase. Two
    moving sums of half a window make the triangular window, and each tone's amplitude is
    |sum| / (its gain): RMS sqrt(sum_f 2 |z_f|^2).
    """
    half = _BLOCKS_PER_HALF_WINDOW
    hop = max(1, int(round(window_s * fs / (2 * half))))
    y = np.diff(x)
    count = len(y) // hop
    if count < 2 * half:
        raise ValueError(f"segments: waveform {name!r} lasts {len(x) / fs:.4g} s, needs at least one envelope "
                         f"window ({2 * half * hop / fs:.4g} s)")
    theta = 2 * np.pi * np.asarray(freqs) / fs
    phase = np.outer(np.arange(hop), theta)
    inner = y[:count * hop].reshape(count, hop) @ np.concatenate((np.cos(phase), np.sin(phase)), axis=1)
    k = len(theta)
    z = _phasors(-hop * theta, count) * (inner[:, :k] - 1j * inner[:, k:])
    for _ in range(2):
        running = np.concatenate((np.zeros((1, k)), np.cumsum(z, axis=0)))
        z = running[half:] - running[:-half]
    gain = hop * half * half * 2 * np.sin(theta / 2)
    values = np.sqrt((z.real**2 + z.imag**2) @ (2 / gain**2))
    # Block b is centred on difference b * hop + (hop - 1) / 2, i.e. half a sample later in x.
    return _Envelope(values, (half - 1) * hop + hop / 2, hop, 2 * half * hop)


def _phasors(step_rad: np.ndarray, count: int) -> np.ndarray:
    """exp(j step b) for b = 0..count-1 (rows) and each step (columns), as products of two short
    tables (b = q size + r) rather than count complex exponentials per column."""
    size = max(1, math.isqrt(count))
    rows = -(-count // size)
    fine = np.exp(1j * np.outer(step_rad, np.arange(size)))
    coarse = np.exp(1j * np.outer(step_rad, np.arange(rows) * size))
    return (coarse[:, :, None] * fine[:, None, :]).reshape(len(step_rad), rows * size)[:, :count].T


def _refined_bounds(x: np.ndarray, fs: float, model_freqs: Sequence[float], lowest_hz: float, window_s: float,
                    first_on: bool, edges: list[float], settling: bool) -> tuple[bool, list[float]]:
    """(state of the first segment, segment bounds in samples from 0 to len(x)) after each
    envelope edge is refined on the capture itself (_change_points).

    Each edge's fit window reaches at most halfway to its neighbours (and not past the capture's
    ends); edges with the same window are fitted together. An edge whose window leaves no room
    to search, or where the fit finds no clear change, is dropped when it is the first or last
    (the partial segment there takes in its neighbour) and keeps its envelope position otherwise.
    """
    n = len(x)
    period = fs / lowest_hz
    margin = max(period, 16.0)  # each side of a split keeps at least a period
    search = window_s * fs / 2 + _SEARCH_MARGIN_S * fs
    wanted = search + max(2 * period, _FIT_BEYOND_SEARCH_S * fs)
    places = np.array(edges, dtype=float)
    room = np.minimum(np.diff(np.concatenate(([0.0], places))), np.diff(np.concatenate((places, [float(n)]))))
    if len(places) > 1:  # between two edges the room is shared
        gaps = np.diff(places) / 2
        room[1:] = np.minimum(room[1:], gaps)
        room[:-1] = np.minimum(room[:-1], gaps)
    halves = np.floor(np.minimum(room, wanted)).astype(int)
    refined = np.full(len(places), np.nan)
    for half in np.unique(halves):
        fitted = halves == half
        span = int(min(search, half - margin))
        if span >= 3:
            refined[fitted] = _change_points(x, fs, model_freqs, period, places[fitted], int(half), span, settling)
    kept = []
    for i, (coarse, edge) in enumerate(zip(edges, refined)):
        if not math.isnan(edge):
            kept.append(float(edge))
        elif 0 < i < len(edges) - 1:
            kept.append(coarse)
        elif i == 0:
            first_on = not first_on
    return first_on, [0.0] + kept + [float(n)]


def _dc_steps(x: np.ndarray, first_on: bool, edges: Sequence[float], window: float, threshold_vrms: float) -> bool:
    """True when the DC level while on differs from that while off by more than a tenth of the
    on/off threshold (V): ringing on another offset than the battery. The means are taken over
    the longest on and the longest off stretch, half an envelope window in from their edges."""
    bounds = [0.0] + list(edges) + [float(len(x))]
    longest = {}
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        state = first_on ^ (k % 2 == 1)
        if b - a > longest.get(state, (0.0, 0.0))[1] - longest.get(state, (0.0, 0.0))[0]:
            longest[state] = (a, b)
    if len(longest) < 2:
        return False
    means = []
    for a, b in longest.values():
        inner = x[int(a + window / 2):int(b - window / 2)]
        if inner.size == 0:
            return False
        means.append(float(np.mean(inner)))
    return abs(means[0] - means[1]) > 0.1 * threshold_vrms


def _model_freqs(x: np.ndarray, fs: float, freqs: Sequence[float], first_on: bool, edges: Sequence[float],
                 window: float) -> list[float]:
    """The frequencies (Hz) the edge fit models: the tones, refined to their maximum-likelihood
    values over (up to 0.5 s of) the longest on stretch, their strong harmonics, and hum."""
    bounds = [0.0] + list(edges) + [float(len(x))]
    on_stretches = [(a, b) for k, (a, b) in enumerate(zip(bounds, bounds[1:])) if first_on ^ (k % 2 == 1)]
    if not on_stretches:
        return list(freqs)
    a, b = max(on_stretches, key=lambda ab: ab[1] - ab[0])
    a, b = int(a + window / 2), int(min(b - window / 2, a + window / 2 + _MODEL_STRETCH_S * fs))
    stretch = x[a:b]
    if len(stretch) < max(64, 4 * fs / min(freqs)):
        return list(freqs)
    # A nominal frequency can be a few Hz off; over the fit's window that would show as a change.
    bin_hz = fs / len(stretch)
    spacing = min(np.diff(freqs)) / 2 if len(freqs) > 1 else math.inf
    reach = min(max(2 * bin_hz, 0.02 * min(freqs)), spacing)
    windows = [(max(f - reach, bin_hz), min(f + reach, fs / 2 - bin_hz)) for f in freqs]
    tones = fit_frequencies_hz(stretch, fs, windows)
    return tones + _harmonics_present(stretch, fs, tones) + _interference_hz(stretch, fs, tones)


def _harmonics_present(x: np.ndarray, fs: float, freqs: Sequence[float]) -> list[float]:
    """Harmonics (2nd to 5th) of freqs within 30 dB of their fundamental in x, Hz.

    Trapezoidal ringing carries strong odd harmonics; the edge fit must model them.
    """
    found = []
    for f in freqs:
        harmonics = [k * f for k in range(2, _MODEL_HARMONICS + 1) if k * f < 0.45 * fs]
        if harmonics:
            _, amplitudes = sinusoid_amplitudes(x, fs, [f] + harmonics)
            found += [h for h, a in zip(harmonics, amplitudes[1:]) if a > _HARMONIC_FLOOR * amplitudes[0]]
    return found


def _interference_hz(x: np.ndarray, fs: float, freqs: Sequence[float]) -> list[float]:
    """Steady tones below the signal band (mains hum and its harmonics) in x, Hz.

    Looked for between 20 Hz and half the lowest signal frequency, in x low-pass filtered there,
    and kept when above 1 % of the signal's amplitude: the edge fit models them so that they do
    not pull the edges.
    """
    top = min(freqs) / 2
    if top <= 2 * _INTERFERENCE_FROM_HZ:
        return []
    slow = bandpass(x, fs, (0.0, top))
    candidates = spectral_peaks_hz(Waveform(slow, fs), (_INTERFERENCE_FROM_HZ, top), within_db=40.0,
                                   min_spacing_hz=5.0)
    if not candidates:
        return []
    signal_amplitude = max(sinusoid_amplitudes(x, fs, freqs)[1])
    _, amplitudes = sinusoid_amplitudes(slow, fs, candidates)
    return [f for f, a in zip(candidates, amplitudes) if a > _INTERFERENCE_FLOOR * signal_amplitude]


def _levels_between(envelope: _Envelope, bounds: Sequence[float]) -> list[float]:
    """Mean envelope (V RMS) between successive bounds, half a window away from each edge (where
    the envelope has settled), or at the middle of a stretch too short for that."""
    values = envelope.values
    running = np.concatenate(([0.0], np.cumsum(values)))
    levels = []
    for a, b in zip(bounds, bounds[1:]):
        first = max(0, math.ceil(envelope.index(a + envelope.window_samples / 2)))
        last = min(len(values), int(envelope.index(b - envelope.window_samples / 2)))
        if last <= first:
            first = int(np.clip(round(envelope.index((a + b) / 2)), 0, len(values) - 1))
            last = first + 1
        levels.append(float((running[last] - running[first]) / (last - first)))
    return levels


def _change_points(x: np.ndarray, fs: float, freqs: Sequence[float], period: float, edges: np.ndarray,
                   half: int, search: int, settling: bool) -> np.ndarray:
    """Sample positions of the changes of state near each of `edges`, by two-segment least squares.

    Each edge's window is x[e - half : e + half]. Left of a candidate split the window is
    modelled as DC + linear drift + sinusoids at freqs (free amplitudes and phases), and right
    of it likewise. When the DC level steps at the edges (`settling`), the right side may also
    have decaying exponentials starting at the split (time constants 1/16, 1/4 and 1 `period` of
    the signal's lowest tone, in samples), so that a DC level that settles like an RC (feed
    resistance into ringer capacitance) after the edge is modelled rather than mistaken for the
    edge; an edge keeps them only where they pay for themselves (they would otherwise soak up
    the first samples of the new state and pull the edge early). Splits within `search` samples
    of the window's middle are tried; the one with the least summed squared error wins and the
    edge is placed halfway between the last sample of one state and the first of the other.
    Running sums of the normal equations make each split one small solve, and as every window
    has the same basis, the Gram matrices are built and inverted once for all edges. nan where
    the best split is at the limit of the search: no clear change there.
    """
    m = 2 * half
    starts = np.round(edges).astype(int) - half
    windows = x[starts[:, None] + np.arange(m)]
    windows = windows - windows.mean(axis=1, keepdims=True)  # the fit has a DC term; this keeps sums small
    n = np.arange(m)
    t = (n - (m - 1) / 2) / fs
    columns = [np.ones(m), 2 * t * fs / m]
    for f in freqs:
        columns += [np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)]
    basis = np.column_stack(columns)
    first, last = half - search, half + search
    # Left sums run over samples [0, split), right ones over [split, m), for split = first..last.
    left = _unexplained(basis, windows, first, last)
    cost = left + _unexplained(basis[::-1], windows[:, ::-1], m - last, m - first)[:, ::-1]
    if settling:
        # Exponentials referred to the first candidate split; zero before it (never left of a split).
        for tau in (period / 16, period / 4, period):
            tau = max(tau, 2 * (last - first) / 300)  # keeps exp(-2 search / tau) clear of underflow
            columns.append(np.where(n >= first, np.exp(-np.clip(n - first, 0, None) / tau), 0.0))
        settled = np.column_stack(columns)
        cost_settled = left + _unexplained(settled[::-1], windows[:, ::-1], m - last, m - first)[:, ::-1]
        # Keep the settling terms for an edge only where they explain more than three parameters
        # of noise would (Bayesian information criterion), else they pull a clean edge early.
        noise_var = cost.min(axis=1) / (m - 2 * basis.shape[1])
        gain = cost.min(axis=1) - cost_settled.min(axis=1)
        cost = np.where((gain > 3 * math.log(m) * noise_var)[:, None], cost_settled, cost)
    best = np.argmin(cost, axis=1)
    refined = starts + first + best - 0.5
    return np.where((best == 0) | (best == last - first), np.nan, refined)


def _unexplained(basis: np.ndarray, windows: np.ndarray, first: int, last: int) -> np.ndarray:
    """Residual energy of the least-squares fit of basis to the first k samples of each window,
    for k = first..last: shape (edges, last - first + 1)."""
    p = basis.shape[1]
    head, body = basis[:first], basis[first:last]
    gram = np.concatenate(((head.T @ head)[None], body[:, :, None] * body[:, None, :]))
    gram = np.cumsum(gram, axis=0)  # (splits, p, p)
    moment = np.concatenate(((windows[:, :first] @ head)[:, None, :],
                             windows[:, first:last, None] * body[None, :, :]), axis=1)
    moment = np.cumsum(moment, axis=1)  # (edges, splits, p)
    squares = windows * windows
    energy = np.cumsum(np.concatenate((squares[:, :first].sum(axis=1, keepdims=True), squares[:, first:last]),
                                      axis=1), axis=1)
    # Scale to unit diagonal (the exponential columns are tiny far from their start), then a tiny
    # ridge keeps a column that is all zero from making the system singular.
    scale = np.sqrt(np.einsum("kii->ki", gram))
    scale[scale == 0] = 1.0
    inverse = np.linalg.inv(gram / (scale[:, :, None] * scale[:, None, :]) + 1e-10 * np.eye(p))
    h = (moment / scale[None]).transpose(1, 0, 2)  # (splits, edges, p): one batched product per split
    return energy - np.sum((h @ inverse) * h, axis=2).T
