"""Ringing voltage: level, DC offset, frequency, crest factor and distortion of one ring burst."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.dsp.levels import checked_samples
from harness.dsp.tones import fit_sinusoids, tone_frequency_hz
from harness.dsp.waveform import Waveform


@dataclass(frozen=True)
class RingBurst:
    """What one capture of the ON part of a ring burst shows.

    vrms: AC RMS (V), over the whole ringing periods in the capture (what a true-RMS meter on AC
    coupling reads; 50 Vrms sine = 70.7 Vpk). dc_offset_v: mean (V) over the same periods, the DC
    level the ringing rides on. freq_hz: ringing frequency (Hz). crest_factor: peak of the AC part
    over vrms (1.414 for a sine, ~1.2-1.3 for trapezoidal ringing). peak_v: largest |voltage|
    reached, DC included (V); what a SLIC's Vpk limit is about. thd_pct: harmonics 2..max_harmonic
    relative to the fundamental, % (THD-F). periods: whole periods analysed. clipped: the capture
    hit its input range, so none of the numbers can be trusted.
    """

    vrms: float
    dc_offset_v: float
    freq_hz: float
    crest_factor: float
    peak_v: float
    thd_pct: float
    periods: int
    clipped: bool


def ring_burst(w: Waveform, freq_range_hz: tuple[float, float] = (10.0, 100.0), max_harmonic: int = 10) -> RingBurst:
    """Analyse a capture (volts) of the ON part of a ring burst riding on a DC level.

    The ringing frequency is found within freq_range_hz (default 10-100 Hz, the span ATAs can be
    set to) by tone_frequency_hz. Levels are then taken over the largest whole number of periods
    from the start of the capture, so a partial period does not bias the RMS or the mean. THD
    comes from a least-squares fit of the harmonics up to max_harmonic (or 0.45 x the sample
    rate). The capture must hold at least two periods.
    """
    checked_samples(w, "ring_burst", min_samples=16)
    if w.unit != "V":
        raise ValueError(f"ring_burst: waveform {w.name!r} is in {w.unit!r}, needs volts ('V')")
    fs = w.sample_rate_hz
    freq_hz = tone_frequency_hz(w, *freq_range_hz)
    periods = int(w.duration_s * freq_hz)
    if periods < 2:
        raise ValueError(f"ring_burst: waveform {w.name!r} holds {w.duration_s * freq_hz:.2f} periods of "
                         f"{freq_hz:.2f} Hz, needs at least 2")
    n = min(len(w), round(periods * fs / freq_hz))
    x = w.samples[:n]
    dc = float(np.mean(x))
    ac = x - dc
    vrms = float(np.sqrt(np.mean(ac * ac)))
    harmonics = [k * freq_hz for k in range(1, max_harmonic + 1) if k * freq_hz < 0.45 * fs]
    amplitudes = fit_sinusoids(x, fs, harmonics).amplitudes
    thd_pct = 100.0 * math.sqrt(sum(a * a for a in amplitudes[1:])) / amplitudes[0]
    return RingBurst(vrms=vrms, dc_offset_v=dc, freq_hz=freq_hz, crest_factor=float(np.max(np.abs(ac)) / vrms),
                     peak_v=float(np.max(np.abs(x))), thd_pct=thd_pct, periods=periods, clipped=w.clipped)
