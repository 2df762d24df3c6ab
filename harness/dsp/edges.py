"""Event times in a capture: level crossings, DC steps, tone onsets. All times are bench times (s).

A time is w.start_s plus the position in the capture, so it lines up with the bench clock that
stamped the stimulus (hook relay closed at t, dial tone seen at t + delay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from harness.dsp.levels import checked_samples, on_off_levels
from harness.dsp.tones import bandpass, tone_envelope
from harness.dsp.waveform import Waveform

# The on level must stand 10 dB above the off level for an automatic onset threshold.
_MIN_CONTRAST = 10 ** (10 / 20)


@dataclass(frozen=True)
class DcStep:
    """The largest step of a DC level (loop current on off-hook, line voltage on a battery switch).

    time_s: bench time (s) where the signal crosses halfway between the two levels.
    level_before, level_after: typical (median) levels either side, in `unit`; step: their
    difference.
    """

    time_s: float
    level_before: float
    level_after: float
    unit: str
    step: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", self.level_after - self.level_before)


def first_crossing_s(w: Waveform, level: float, rising: bool = True, after_s: float | None = None,
                     hold_s: float = 0.0, lowpass_hz: float | None = None) -> float:
    """Bench time (s) at which the signal first crosses `level` and stays beyond it for hold_s.

    level is in the waveform's unit. rising=True looks for a crossing from below to above, else
    from above to below. after_s: ignore everything before this bench time. hold_s: the signal
    must stay beyond the level this long (debounce against noise and contact bounce); a crossing
    the capture ends too soon to confirm does not count. lowpass_hz: smooth first with a zero-phase
    low-pass (which does not shift a step in time). The time is interpolated between the two
    samples either side of the crossing. Returns nan when there is no such crossing, including when
    the signal is already beyond the level at the start of the search (the event happened earlier).
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "first_crossing_s")
    if not math.isfinite(level):
        raise ValueError(f"first_crossing_s: level must be finite, got {level}")
    if not hold_s >= 0:
        raise ValueError(f"first_crossing_s: hold_s must be >= 0, got {hold_s}")
    x = _lowpassed(x, fs, lowpass_hz, "first_crossing_s")
    first = _first_index(w, after_s)
    beyond = x[first:] > level if rising else x[first:] < level
    if beyond.size < 2:
        return math.nan
    starts = np.flatnonzero(~beyond[:-1] & beyond[1:]) + 1  # first sample beyond, per crossing
    ends = np.flatnonzero(beyond[:-1] & ~beyond[1:]) + 1  # first sample back, per return
    hold = math.ceil(hold_s * fs - 1e-9)
    for j in starts:
        k = np.searchsorted(ends, j)
        held = (ends[k] if k < ends.size else beyond.size) - j  # samples beyond, from j on
        if held >= hold:
            i = first + j
            fraction = (level - x[i - 1]) / (x[i] - x[i - 1])
            return float(w.start_s + (i - 1 + fraction) / fs)
    return math.nan


def dc_step(w: Waveform, after_s: float | None = None, lowpass_hz: float | None = None) -> DcStep:
    """The single largest DC step in the capture (after bench time after_s).

    Found as the split that best divides the capture into two constant levels (least squares),
    then timed where the signal crosses halfway between the median levels either side, at the
    crossing nearest that split. Pass lowpass_hz to look through AC on the signal (e.g. 5 Hz to
    see the loop current under 20 Hz ringing current at ring trip). Raises ValueError when the
    capture is flat.
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "dc_step", min_samples=4)
    x = _lowpassed(x, fs, lowpass_hz, "dc_step")
    first = _first_index(w, after_s)
    x = x[first:]
    if x.size < 4:
        raise ValueError(f"dc_step: waveform {w.name!r} has {x.size} samples after {after_s} s, needs at least 4")
    if np.ptp(x) == 0:
        raise ValueError(f"dc_step: waveform {w.name!r} is flat ({x[0]:g} {w.unit}); there is no step")
    # Two-level least squares: maximise n_left * mean_left^2 + n_right * mean_right^2.
    total = np.cumsum(x)
    n = np.arange(1, x.size)
    left_mean = total[:-1] / n
    right_mean = (total[-1] - total[:-1]) / (x.size - n)
    split = int(np.argmax(n * left_mean ** 2 + (x.size - n) * right_mean ** 2)) + 1
    before, after = float(np.median(x[:split])), float(np.median(x[split:]))
    middle = (before + after) / 2
    above = x > middle
    crossings = np.flatnonzero(above[1:] != above[:-1])  # between i and i + 1
    if before == after or crossings.size == 0:
        raise ValueError(f"dc_step: waveform {w.name!r} has no step between two levels")
    i = int(crossings[np.argmin(np.abs(crossings + 0.5 - split))])
    fraction = (middle - x[i]) / (x[i + 1] - x[i])
    return DcStep(time_s=float(w.start_s + (first + i + fraction) / fs), level_before=before, level_after=after,
                  unit=w.unit)


def tone_onset_s(w: Waveform, freqs_hz: Sequence[float], after_s: float | None = None,
                 min_level_vrms: float | None = None, hold_s: float = 0.05,
                 band_hz: tuple[float, float] | None = None) -> float:
    """Bench time (s) at which a tone made of freqs_hz appears, or nan if it never does.

    The tone's level over time comes from tone_envelope (sliding Goertzel/DFT at freqs_hz); the
    onset is where it first rises through the threshold and stays above it for hold_s (default
    50 ms, which rides over the clicks of a hook transition), interpolated between samples.
    Threshold: min_level_vrms (V RMS) if given; else halfway between the off and on levels of the
    envelope, which is where a clean onset crosses; then the tone must rise 10 dB above the off
    level somewhere after after_s, else nan (a tone present from the start also gives nan, as its
    onset is not in the capture).
    """
    envelope = tone_envelope(w, freqs_hz, band_hz)
    if min_level_vrms is None:
        first = _first_index(w, after_s)
        if envelope.samples.size - first < 2:
            return math.nan
        off, on = on_off_levels(envelope.samples[first:])
        if on < _MIN_CONTRAST * off or on == 0:
            return math.nan
        threshold = (off + on) / 2
    elif not min_level_vrms > 0:
        raise ValueError(f"tone_onset_s: min_level_vrms must be > 0, got {min_level_vrms}")
    else:
        threshold = float(min_level_vrms)
    return first_crossing_s(envelope, threshold, rising=True, after_s=after_s, hold_s=hold_s)


def _lowpassed(x: np.ndarray, fs: float, lowpass_hz: float | None, purpose: str) -> np.ndarray:
    if lowpass_hz is None:
        return x
    if not 0 < lowpass_hz < fs / 2:
        raise ValueError(f"{purpose}: lowpass_hz must lie between 0 and {fs / 2:g} Hz (half the sample rate), "
                         f"got {lowpass_hz}")
    return bandpass(x, fs, (0.0, lowpass_hz))


def _first_index(w: Waveform, after_s: float | None) -> int:
    """Index of the first sample at or after bench time after_s (0 for None)."""
    if after_s is None:
        return 0
    return max(0, math.ceil((after_s - w.start_s) * w.sample_rate_hz - 1e-9))
