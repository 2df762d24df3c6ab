"""Ringing voltage: level, DC offset, frequency, crest factor and distortion of one ring burst."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.dsp.levels import checked_samples
from harness.dsp.tones import fit_sinusoids, fundamental_frequency_hz, tone_frequency_hz
from harness.dsp.waveform import Waveform

# A harmonic joins the frequency fit when its power stands 13 dB above what noise alone gives
# it: weaker ones would only add their noise to the estimate.
_HARMONIC_SNR = 20.0


@dataclass(frozen=True)
class RingBurst:
    """What one capture of the ON part of a ring burst shows.

    vrms: AC RMS (V), over the whole ringing periods in the capture (what a true-RMS meter on AC
    coupling reads; 50 Vrms sine = 70.7 Vpk). dc_offset_v: the DC level (V) the ringing rides on.
    freq_hz: ringing frequency (Hz). crest_factor: peak of the AC part over its RMS, of the
    period-averaged waveform cleared of noise (1.414 for a sine, ~1.2-1.3 for trapezoidal ringing). peak_v: largest
    |voltage| reached, DC included (V); what a SLIC's Vpk limit is about. thd_pct: harmonics
    2..max_harmonic relative to the fundamental, % (THD-F). periods: whole periods analysed.
    clipped: the capture hit its input range, so none of the numbers can be trusted.
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

    Frequency: the maximum-likelihood fit of tone_frequency_hz within freq_range_hz (default
    10-100 Hz, the span ATAs can be set to), then refined with the harmonics that stand clear of
    the noise fitted too (so a trapezoidal or clipped ring's harmonics sharpen the estimate rather
    than pull it). DC offset and harmonic amplitudes: a least-squares fit of the DC level and
    harmonics 1..max_harmonic (below 0.45 x the sample rate) over the whole capture. THD: the
    harmonics' power, each less the part that the residual noise alone adds to it. vrms: over the
    largest whole number of periods, so a partial period does not bias it. Crest factor: of the
    waveform averaged period by period (synchronous average) and cleared of the harmonics that
    do not stand out of the noise, so noise does not lift the peak.
    The capture must hold at least two periods.
    """
    x = checked_samples(w, "ring_burst", min_samples=16)
    if w.unit != "V":
        raise ValueError(f"ring_burst: waveform {w.name!r} is in {w.unit!r}, needs volts ('V')")
    if max_harmonic < 2:
        raise ValueError(f"ring_burst: max_harmonic must be >= 2, got {max_harmonic}")
    fs = w.sample_rate_hz
    n = len(x)
    freq_hz = tone_frequency_hz(w, *freq_range_hz)
    periods = int(w.duration_s * freq_hz)
    if periods < 2:
        raise ValueError(f"ring_burst: waveform {w.name!r} holds {w.duration_s * freq_hz:.2f} periods of "
                         f"{freq_hz:.2f} Hz, needs at least 2")
    orders = [k for k in range(1, max_harmonic + 1) if k * freq_hz < 0.45 * fs]
    fit = fit_sinusoids(x, fs, [k * freq_hz for k in orders])
    # Each fitted amplitude^2 carries 4 sigma^2 / N of noise (two coefficients of variance 2 sigma^2 / N).
    noise_var = float(fit.residual @ fit.residual) / max(n - 2 * len(orders) - 1, 1)
    noise_power = 4 * noise_var / n
    amplitudes = np.array(fit.amplitudes)
    strong = [k for k, a in zip(orders[1:], amplitudes[1:]) if a * a > _HARMONIC_SNR * noise_power]
    if strong:
        freq_hz = fundamental_frequency_hz(x, fs, freq_hz, [1] + strong)
        fit = fit_sinusoids(x, fs, [k * freq_hz for k in orders])
        amplitudes = np.array(fit.amplitudes)
    harmonic_power = np.clip(amplitudes[1:] ** 2 - noise_power, 0.0, None)
    thd_pct = 100.0 * math.sqrt(float(np.sum(harmonic_power))) / amplitudes[0]
    dc = fit.dc
    whole = min(n, round(periods * fs / freq_hz))
    ac = x[:whole] - dc
    vrms = float(np.sqrt(np.mean(ac * ac)))
    return RingBurst(vrms=vrms, dc_offset_v=dc, freq_hz=freq_hz,
                     crest_factor=_synchronous_crest_factor(ac, fs, freq_hz),
                     peak_v=float(np.max(np.abs(x))), thd_pct=thd_pct, periods=periods, clipped=w.clipped)


def _synchronous_crest_factor(ac: np.ndarray, fs: float, freq_hz: float) -> float:
    """Crest factor of ac (whole periods, DC removed) averaged over its periods at freq_hz.

    The samples are binned by their phase into one period's worth of bins and averaged per bin;
    of that average's harmonics only the fundamental and those standing 13 dB above the noise
    left in the average (the samples' scatter about their bin's average, over the samples per
    bin) are kept, so that noise does not lift the peak.
    """
    bins = max(8, int(round(fs / freq_hz)))
    phase = np.mod(np.arange(len(ac)) * (freq_hz / fs), 1.0)
    index = np.minimum((phase * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    if np.any(counts == 0):
        raise ValueError("ring_burst: the burst is too short to average over its periods")
    average = np.bincount(index, weights=ac, minlength=bins) / counts
    scatter = ac - average[index]
    noise_var = float(scatter @ scatter) / max(len(ac) - bins, 1)
    spectrum = np.fft.rfft(average)
    noise_power = bins * noise_var / counts.min()  # expected |coefficient|^2 of the averaged noise
    keep = np.abs(spectrum) ** 2 > _HARMONIC_SNR * noise_power
    keep[0], keep[1] = False, True
    shape = np.fft.irfft(np.where(keep, spectrum, 0.0), bins)
    rms = float(np.sqrt(np.mean(shape * shape)))
    if rms == 0:
        raise ValueError("ring_burst: the burst has no AC component")
    return float(np.max(np.abs(shape)) / rms)
