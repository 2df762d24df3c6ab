"""Synthetic tip-ring signals with known truth: tones, AM tones, cadenced tones, ringing.

Every generator returns a Waveform in volts, sampled at sample_rate_hz from bench time start_s.
Pass rng (a numpy Generator) together with snr_db to add white Gaussian noise at that SNR
(harness.dsp.noise: the signal's AC power while it is on, against noise over 0..fs/2); without
them the signal is exact. The same rng state gives the same samples.

Levels are dBm into impedance_ohm (600 ohm unless stated); a tone's level is its own power, so
a dual tone at -13 dBm per frequency carries -10 dBm in all.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from harness.dsp.levels import dbm_to_vrms
from harness.dsp.noise import add_white_noise
from harness.dsp.waveform import Waveform

SignalFunction = Callable[[np.ndarray], np.ndarray]


def tone(freqs_hz: Sequence[float] | float, levels_dbm: Sequence[float] | float | None, duration_s: float,
         sample_rate_hz: float, *, amplitudes_v: Sequence[float] | float | None = None,
         impedance_ohm: float = 600.0, phases_rad: Sequence[float] | float | None = None, dc_v: float = 0.0,
         rng: np.random.Generator | None = None, snr_db: float | None = None, start_s: float = 0.0,
         name: str = "tone") -> Waveform:
    """Sum of cosines dc_v + sum_k A_k cos(2 pi f_k t + phase_k), t = 0 at the first sample.

    Give each tone's level either as levels_dbm (dBm into impedance_ohm; one value for all tones
    or one per tone) or as amplitudes_v (peak volts), not both. phases_rad: one per tone (or one
    for all), default 0. snr_db is against the tones' summed power; dc_v does not count.
    """
    freqs = _per_tone(freqs_hz, None, "freqs_hz")
    _check_timebase(duration_s, sample_rate_hz, "tone")
    if not all(0 < f < sample_rate_hz / 2 for f in freqs):
        raise ValueError(f"tone: freqs_hz must lie between 0 and {sample_rate_hz / 2:g} Hz (half the sample "
                         f"rate), got {freqs}")
    amplitudes = _amplitudes(levels_dbm, amplitudes_v, len(freqs), impedance_ohm, "tone")
    phases = _per_tone(0.0 if phases_rad is None else phases_rad, len(freqs), "phases_rad")
    t = _times_s(duration_s, sample_rate_hz)
    x = np.zeros(t.size)
    for f, a, p in zip(freqs, amplitudes, phases):
        x += a * np.cos(2 * np.pi * f * t + p)
    power = sum(a * a / 2 for a in amplitudes)
    return _finish(x, dc_v, power, rng, snr_db, sample_rate_hz, start_s, name)


def am_tone(carrier_hz: float, modulation_hz: float, depth: float, level_dbm: float, duration_s: float,
            sample_rate_hz: float, *, impedance_ohm: float = 600.0, carrier_phase_rad: float = 0.0,
            modulation_phase_rad: float = 0.0, dc_v: float = 0.0, rng: np.random.Generator | None = None,
            snr_db: float | None = None, start_s: float = 0.0, name: str = "am_tone") -> Waveform:
    """Amplitude-modulated tone A (1 + depth cos(2 pi fm t + pm)) cos(2 pi fc t + pc) + dc_v.

    E.g. India dial tone: am_tone(400, 25, 0.9, -13, ...) (Asterisk's "400*25", 90 % depth).
    level_dbm is the mean power of the whole modulated tone, A^2/2 (1 + depth^2/2), in dBm into
    impedance_ohm: what a true-RMS level meter reads. Its spectrum: the carrier at fc with
    amplitude A and two sidebands at fc -+ fm with amplitude A depth / 2 each.
    """
    _check_timebase(duration_s, sample_rate_hz, "am_tone")
    if not 0 < modulation_hz < carrier_hz and carrier_hz + modulation_hz < sample_rate_hz / 2:
        raise ValueError(f"am_tone: need 0 < modulation_hz < carrier_hz and carrier_hz + modulation_hz below "
                         f"{sample_rate_hz / 2:g} Hz, got {carrier_hz} and {modulation_hz}")
    if not 0 <= depth <= 1:
        raise ValueError(f"am_tone: depth must lie between 0 and 1, got {depth}")
    vrms = dbm_to_vrms(level_dbm, impedance_ohm)
    carrier = vrms * math.sqrt(2 / (1 + depth * depth / 2))
    t = _times_s(duration_s, sample_rate_hz)
    envelope = 1 + depth * np.cos(2 * np.pi * modulation_hz * t + modulation_phase_rad)
    x = carrier * envelope * np.cos(2 * np.pi * carrier_hz * t + carrier_phase_rad)
    return _finish(x, dc_v, vrms * vrms, rng, snr_db, sample_rate_hz, start_s, name)


def cadence_gate(times_s: np.ndarray, pattern_ms: Sequence[float], start_phase_ms: float = 0.0,
                 edge_ms: float = 0.0) -> np.ndarray:
    """Gain (0 off .. 1 on) of a repeating cadence [on, off, on, off, ...] (ms) at times_s (s).

    Time 0 is start_phase_ms into the pattern. edge_ms > 0 turns each switch into a raised-cosine
    ramp of that length centred on the nominal edge (the gain passes 0.5 at the edge itself).
    """
    pattern = _checked_pattern(pattern_ms, "cadence_gate")
    if not 0 <= edge_ms <= min(pattern):
        raise ValueError(f"cadence_gate: edge_ms must lie between 0 and the shortest interval "
                         f"({min(pattern):g} ms), got {edge_ms}")
    cycle_s = sum(pattern) / 1000.0
    bounds_s = np.cumsum([0.0] + pattern) / 1000.0
    position = (np.asarray(times_s, dtype=float) + start_phase_ms / 1000.0) % cycle_s
    gate = np.zeros(position.shape)
    ramp_s = edge_ms / 1000.0
    for k in range(0, len(pattern), 2):
        # The on interval of this cycle and its copies one cycle either side, for ramps that wrap.
        for shift in (-cycle_s, 0.0, cycle_s):
            gate += _ramp(position - bounds_s[k] - shift, ramp_s) * _ramp(bounds_s[k + 1] + shift - position, ramp_s)
    return gate


def cadence_edges_s(pattern_ms: Sequence[float], duration_s: float, start_phase_ms: float = 0.0) -> np.ndarray:
    """Times (s from the first sample) of the cadence's switches inside (0, duration_s), ascending.

    The first capture state is on when start_phase_ms falls in an on interval; the states then
    alternate at each edge.
    """
    pattern = _checked_pattern(pattern_ms, "cadence_edges_s")
    cycle_ms = sum(pattern)
    bounds_ms = np.cumsum([0.0] + pattern[:-1])
    cycles = np.arange(-1, int(duration_s * 1000.0 / cycle_ms) + 2)
    edges_s = ((cycles[:, None] * cycle_ms + bounds_ms[None, :]).ravel() - start_phase_ms) / 1000.0
    return np.sort(edges_s[(edges_s > 0) & (edges_s < duration_s)])


def cadenced(signal: Waveform | SignalFunction, pattern_ms: Sequence[float], duration_s: float | None = None,
             sample_rate_hz: float | None = None, *, start_phase_ms: float = 0.0, edge_ms: float = 0.0,
             dc_v: float = 0.0, rng: np.random.Generator | None = None, snr_db: float | None = None,
             start_s: float | None = None, name: str | None = None) -> Waveform:
    """signal switched on and off by a repeating cadence [on, off, on, off, ...] (ms), plus dc_v.

    signal: a noise-free Waveform (its rate, length and start time are kept; e.g. from tone()),
    or a function of time (s, from the first sample) giving samples, with duration_s and
    sample_rate_hz. The capture starts start_phase_ms into the pattern, so it can begin mid-burst
    or mid-silence. edge_ms: raised-cosine switching ramps (see cadence_gate). snr_db is against
    the signal's power while on. The result's meta holds the truth: "edges_s" (bench times of the
    switches), "on_at_start", "pattern_ms" and "start_phase_ms".
    """
    if isinstance(signal, Waveform):
        fs, x_on, t0 = signal.sample_rate_hz, signal.samples, signal.start_s
        label = signal.name
    elif callable(signal):
        if duration_s is None or sample_rate_hz is None:
            raise ValueError("cadenced: a signal function needs duration_s and sample_rate_hz")
        _check_timebase(duration_s, sample_rate_hz, "cadenced")
        fs, t0, label = sample_rate_hz, 0.0, "cadenced"
        x_on = np.asarray(signal(_times_s(duration_s, sample_rate_hz)), dtype=float)
    else:
        raise ValueError(f"cadenced: signal must be a Waveform or a function of time, got {type(signal).__name__}")
    if x_on.size == 0 or not np.all(np.isfinite(x_on)):
        raise ValueError("cadenced: the signal must have finite samples")
    t = np.arange(x_on.size) / fs
    gate = cadence_gate(t, pattern_ms, start_phase_ms, edge_ms)
    power = float(np.mean((x_on - x_on.mean()) ** 2))
    t0 = t0 if start_s is None else start_s
    w = _finish(gate * x_on, dc_v, power, rng, snr_db, fs, t0, name or label)
    edges = cadence_edges_s(pattern_ms, x_on.size / fs, start_phase_ms)
    w.meta.update(edges_s=t0 + edges, on_at_start=bool(_phase_is_on(pattern_ms, start_phase_ms)),
                  pattern_ms=[float(p) for p in pattern_ms], start_phase_ms=float(start_phase_ms))
    return w


def ringing(vrms: float, freq_hz: float, duration_s: float, sample_rate_hz: float, *, battery_v: float = -48.0,
            offset_v: float | None = None, cadence_ms: Sequence[float] | None = None, start_phase_ms: float = 0.0,
            shape: str = "sine", crest_factor: float | None = None, phase_rad: float = 0.0, edge_ms: float = 0.0,
            rng: np.random.Generator | None = None, snr_db: float | None = None, start_s: float = 0.0,
            name: str = "ringing") -> Waveform:
    """Ringing voltage (V) on the line: vrms at freq_hz riding on offset_v, battery_v between bursts.

    offset_v: DC level during ringing (default battery_v: ringing superimposed on the battery;
    0 for balanced ringing). cadence_ms: [on, off, ...] (ms) with start_phase_ms as in cadenced;
    None rings for the whole capture. shape "sine" (crest factor sqrt 2) or "trapezoid", whose
    crest_factor (between 1, a square wave, and sqrt 3, a triangle; default 1.25) sets the
    ramps: each ramp (from -peak to +peak) lasts 3 (1 - 1/cf^2) / 4 of a period. vrms is the AC RMS of the waveform
    whatever its shape. phase_rad: phase of the ringing at t = 0 (a sine starts at sin(phase)).
    snr_db is against the ringing's AC power. meta holds the cadence truth as in cadenced.
    """
    _check_timebase(duration_s, sample_rate_hz, "ringing")
    if not vrms > 0 or not 0 < freq_hz < sample_rate_hz / 2:
        raise ValueError(f"ringing: need vrms > 0 and 0 < freq_hz < {sample_rate_hz / 2:g} Hz, got {vrms} V, "
                         f"{freq_hz} Hz")
    t = _times_s(duration_s, sample_rate_hz)
    cycles = freq_hz * t + phase_rad / (2 * np.pi)
    if shape == "sine":
        if crest_factor is not None and abs(crest_factor - math.sqrt(2)) > 1e-9:
            raise ValueError(f"ringing: a sine has crest factor sqrt 2, got crest_factor={crest_factor}; "
                             f"use shape='trapezoid'")
        ac = vrms * math.sqrt(2) * np.sin(2 * np.pi * cycles)
    elif shape == "trapezoid":
        cf = 1.25 if crest_factor is None else float(crest_factor)
        if not 1 < cf < math.sqrt(3):
            raise ValueError(f"ringing: a trapezoid's crest factor lies between 1 and sqrt 3, got {cf}")
        ac = vrms * cf * trapezoid_wave(cycles, trapezoid_ramp_fraction(cf))
    else:
        raise ValueError(f"ringing: shape must be 'sine' or 'trapezoid', got {shape!r}")
    offset = battery_v if offset_v is None else offset_v
    if cadence_ms is None:
        gate = np.ones(t.size)
    else:
        gate = cadence_gate(t, cadence_ms, start_phase_ms, edge_ms)
    x = gate * (ac + offset - battery_v)
    w = _finish(x, battery_v, vrms * vrms, rng, snr_db, sample_rate_hz, start_s, name)
    if cadence_ms is not None:
        w.meta.update(edges_s=start_s + cadence_edges_s(cadence_ms, duration_s, start_phase_ms),
                      on_at_start=bool(_phase_is_on(cadence_ms, start_phase_ms)),
                      pattern_ms=[float(p) for p in cadence_ms], start_phase_ms=float(start_phase_ms))
    return w


def trapezoid_ramp_fraction(crest_factor: float) -> float:
    """Length of each ramp of a symmetric trapezoidal wave, as a fraction of the period, that gives
    crest_factor (peak over RMS): mean square 1 - 4 r / 3 for ramps of r periods, peak 1."""
    return 3.0 * (1.0 - 1.0 / crest_factor**2) / 4.0


def trapezoid_wave(cycles: np.ndarray, ramp_fraction: float) -> np.ndarray:
    """Unit-peak trapezoidal wave at phase `cycles` (periods), shaped like a sine: rising through
    0 at whole cycles, flat at +1 and -1 between ramps of ramp_fraction of a period each."""
    if not 0 < ramp_fraction <= 0.5:
        raise ValueError(f"trapezoid_wave: ramp_fraction must lie in (0, 0.5], got {ramp_fraction}")
    # Distance in periods from the nearest rising zero crossing, folded to a quarter-wave shape.
    phase = np.mod(np.asarray(cycles, dtype=float) + 0.25, 1.0) - 0.25  # -0.25 .. 0.75
    half = np.where(phase < 0.25, phase, 0.5 - phase)  # odd about 0, even about 0.25: -0.25 .. 0.25
    return np.clip(half / (ramp_fraction / 2), -1.0, 1.0)


def _ramp(distance_s: np.ndarray, ramp_s: float) -> np.ndarray:
    """0 before, 1 after an edge `distance_s` ago; a raised cosine of ramp_s centred on it."""
    if ramp_s == 0:
        return (distance_s >= 0).astype(float)
    u = np.clip(distance_s / ramp_s + 0.5, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def _phase_is_on(pattern_ms: Sequence[float], start_phase_ms: float) -> bool:
    pattern = [float(p) for p in pattern_ms]
    position = start_phase_ms % sum(pattern)
    k = int(np.searchsorted(np.cumsum(pattern), position, side="right"))
    return k % 2 == 0


def _checked_pattern(pattern_ms: Sequence[float], purpose: str) -> list[float]:
    pattern = [float(p) for p in pattern_ms]
    if not pattern or len(pattern) % 2 or not all(math.isfinite(p) and p > 0 for p in pattern):
        raise ValueError(f"{purpose}: pattern_ms must be on/off pairs of durations > 0 ms, got {list(pattern_ms)}")
    return pattern


def _per_tone(values: Sequence[float] | float, count: int | None, what: str) -> list[float]:
    """values as a list of floats, one per tone (a single value is used for every tone)."""
    listed = [float(values)] * (count or 1) if np.ndim(values) == 0 else [float(v) for v in values]
    if not listed or (count is not None and len(listed) != count):
        raise ValueError(f"{what}: need {count or 'at least one'} value(s), got {values}")
    if not all(math.isfinite(v) for v in listed):
        raise ValueError(f"{what}: values must be finite, got {values}")
    return listed


def _amplitudes(levels_dbm, amplitudes_v, count: int, impedance_ohm: float, purpose: str) -> list[float]:
    """Peak amplitude (V) of each tone from levels in dBm or amplitudes in V (exactly one given)."""
    if (levels_dbm is None) == (amplitudes_v is None):
        raise ValueError(f"{purpose}: give exactly one of levels_dbm and amplitudes_v")
    if amplitudes_v is not None:
        amplitudes = _per_tone(amplitudes_v, count, "amplitudes_v")
        if not all(a >= 0 for a in amplitudes):
            raise ValueError(f"{purpose}: amplitudes_v must be >= 0, got {amplitudes_v}")
        return amplitudes
    return [math.sqrt(2) * dbm_to_vrms(level, impedance_ohm) for level in _per_tone(levels_dbm, count, "levels_dbm")]


def _check_timebase(duration_s: float, sample_rate_hz: float, purpose: str) -> None:
    if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise ValueError(f"{purpose}: sample_rate_hz must be a finite value > 0, got {sample_rate_hz}")
    if not (math.isfinite(duration_s) and duration_s * sample_rate_hz >= 1):
        raise ValueError(f"{purpose}: duration_s must hold at least one sample, got {duration_s} s at "
                         f"{sample_rate_hz:g} S/s")


def _times_s(duration_s: float, sample_rate_hz: float) -> np.ndarray:
    return np.arange(int(round(duration_s * sample_rate_hz))) / sample_rate_hz


def _finish(x: np.ndarray, dc_v: float, power: float, rng: np.random.Generator | None, snr_db: float | None,
            fs: float, start_s: float, name: str) -> Waveform:
    """x + dc_v, with white noise at snr_db below `power` when rng and snr_db are given."""
    if (rng is None) != (snr_db is None):
        raise ValueError("noise needs both rng and snr_db (or neither)")
    if snr_db is not None:
        if not math.isfinite(snr_db):
            raise ValueError(f"snr_db must be finite, got {snr_db}")
        x = add_white_noise(x, snr_db, rng, signal_power=power)
    return Waveform(x + dc_v, fs, start_s=start_s, unit="V", name=name)
