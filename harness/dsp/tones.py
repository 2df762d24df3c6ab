"""Tone analysis: frequency, per-component level, unwanted power, and level over time.

Frequencies and levels: a Hann-windowed, zero-padded FFT finds each component to a fraction of
a bin; a nonlinear least-squares fit of `c + sum(a_k cos 2 pi f_k t + b_k sin 2 pi f_k t)` then
refines the frequencies (the maximum-likelihood estimate for tones in white noise; it models the
negative-frequency image and the DC level, so it stays exact for a 20 Hz ring burst of a few
cycles riding on the battery voltage). Levels are the fitted amplitudes, not FFT bin heights, so
they do not depend on where a tone falls between bins. Level over time: a sliding DFT
(tone_envelope).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import fft, ndimage, optimize, signal

from harness.dsp.levels import checked_samples, vrms_to_dbm
from harness.dsp.waveform import Waveform

# Shortest default demodulation window of tone_envelope: long enough to average the noise of
# one 440 Hz tone over a few periods, short against the 30 ms shortest interval of E.180 plans.
_MIN_ENVELOPE_WINDOW_S = 0.005
# Shortest running median that tone_envelope subtracts to remove DC steps (see there).
_MIN_MEDIAN_WINDOW_S = 0.05


@dataclass(frozen=True)
class ToneComponent:
    """One sinusoidal component of a tone.

    freq_hz: frequency, Hz. level_vrms: RMS of this component alone, in the waveform's unit
    (V RMS for a voltage capture). level_dbm: level_vrms as dBm into 600 ohm.
    """

    freq_hz: float
    level_vrms: float
    level_dbm: float


@dataclass(frozen=True)
class SinusoidFit:
    """Least-squares fit of a DC level plus sinusoids at given frequencies.

    dc: fitted DC level; amplitudes: fitted peak amplitude at each frequency, in the order given;
    both in the waveform's unit. residual: samples minus the fitted model.
    """

    dc: float
    amplitudes: tuple[float, ...]
    residual: np.ndarray


def fit_sinusoids(samples: np.ndarray, sample_rate_hz: float, freqs_hz: Sequence[float]) -> SinusoidFit:
    """Fit samples = dc + sum_k A_k cos(2 pi f_k t + phi_k) by linear least squares (f_k fixed)."""
    x = np.asarray(samples, dtype=float)
    basis = _basis(_centred_time_s(len(x), sample_rate_hz), freqs_hz)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    amplitudes = tuple(float(a) for a in np.hypot(coef[1::2], coef[2::2]))
    return SinusoidFit(float(coef[0]), amplitudes, x - basis @ coef)


def tone_frequency_hz(w: Waveform, f_min_hz: float, f_max_hz: float) -> float:
    """Frequency in Hz of the strongest tone between f_min_hz and f_max_hz.

    FFT peak, then a least-squares single-tone fit (with a DC term) refines it; the error is near
    the Cramer-Rao bound, e.g. about 1e-4 Hz for 1 s of 20 Hz ringing at 8 kS/s with 1 % noise.
    The capture must hold at least two periods of f_min_hz.
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "tone_frequency_hz", min_samples=16)
    if not 0 < f_min_hz < f_max_hz <= fs / 2:
        raise ValueError(f"tone_frequency_hz: need 0 < f_min_hz < f_max_hz <= {fs / 2:g} Hz (half the "
                         f"sample rate), got {f_min_hz}..{f_max_hz}")
    if w.duration_s < 2.0 / f_min_hz:
        raise ValueError(f"tone_frequency_hz: waveform {w.name!r} lasts {w.duration_s:.4g} s, needs at "
                         f"least two periods of {f_min_hz:g} Hz ({2.0 / f_min_hz:.4g} s)")
    _require_ac(w, x, "tone_frequency_hz")
    freqs, mag = _spectrum(x, fs)
    coarse = _peak_in(freqs, mag, f_min_hz, f_max_hz)
    t = _centred_time_s(len(x), fs)
    return _refine_frequency(x, t, [coarse], 0, f_min_hz, f_max_hz, fs / len(x))


def tone_components(w: Waveform, expected_hz: Sequence[float], search_hz: float = 25.0) -> list[ToneComponent]:
    """The strongest component within search_hz of each expected frequency, in the order given.

    For US dial tone call tone_components(w, [350, 440]). Each search window stops halfway to the
    neighbouring expected frequency, so one strong tone is never reported twice. Frequencies and
    levels come from a joint least-squares fit of all components (within about 0.05 dB and
    0.01 Hz for dial tone at 20 dB SNR over 0.5 s). A wrong tone (360 Hz where 350 Hz is expected) shows as a
    frequency error; a missing one as a very low level.
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "tone_components", min_samples=16)
    expected = [float(f) for f in expected_hz]
    if not expected:
        raise ValueError("tone_components: expected_hz is empty")
    if not all(0 < f < fs / 2 for f in expected):
        raise ValueError(f"tone_components: expected_hz must lie between 0 and {fs / 2:g} Hz, got {expected}")
    if len(set(expected)) != len(expected):
        raise ValueError(f"tone_components: expected_hz has duplicates: {expected}")
    if not search_hz > 0:
        raise ValueError(f"tone_components: search_hz must be > 0, got {search_hz}")
    ordered = sorted(expected)
    needed_s = 3.0 / ordered[0]
    if len(ordered) > 1:
        needed_s = max(needed_s, 2.0 / min(np.diff(ordered)))  # two FFT bins between neighbours
    if w.duration_s < needed_s:
        raise ValueError(f"tone_components: waveform {w.name!r} lasts {w.duration_s:.4g} s, needs at least "
                         f"{needed_s:.4g} s to resolve {expected} Hz")
    _require_ac(w, x, "tone_components")

    freqs, mag = _spectrum(x, fs)
    bin_hz = fs / len(x)
    windows = []
    for i, f in enumerate(ordered):
        lo = max(f - search_hz, bin_hz)
        hi = min(f + search_hz, fs / 2 - bin_hz)
        if i > 0:
            lo = max(lo, (ordered[i - 1] + f) / 2)
        if i < len(ordered) - 1:
            hi = min(hi, (f + ordered[i + 1]) / 2)
        windows.append((lo, hi))
    found = [_peak_in(freqs, mag, lo, hi) for lo, hi in windows]
    t = _centred_time_s(len(x), fs)
    for _sweep in range(2):  # each tone leaks a little into the others' fit: refine them in turn
        for k, (lo, hi) in enumerate(windows):
            found[k] = _refine_frequency(x, t, found, k, lo, hi, bin_hz)
    fit = fit_sinusoids(x, fs, found)
    by_freq = {f: ToneComponent(fk, a / math.sqrt(2), vrms_to_dbm(a / math.sqrt(2)))
               for f, fk, a in zip(ordered, found, fit.amplitudes)}
    return [by_freq[f] for f in expected]


def unwanted_power_db(w: Waveform, freqs_hz: Sequence[float],
                      band_hz: tuple[float, float] = (300.0, 3400.0)) -> float:
    """Power in band_hz that is not the tones at freqs_hz, in dB relative to the tones' power.

    The tones (with the DC level) are fitted at exactly freqs_hz and subtracted; what remains in
    band_hz (harmonics, other tones, noise) is compared with the tones' total power. Pass the
    frequencies found by tone_components for a distortion/purity figure (the Precise Tone Plan asks
    for distortion 30 dB below the tone), or the nominal ones to see a tone that is off frequency
    (360 Hz where 350 Hz was meant leaves close to 0 dB).
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "unwanted_power_db", min_samples=16)
    freqs = [float(f) for f in freqs_hz]
    if not freqs:
        raise ValueError("unwanted_power_db: freqs_hz is empty")
    lo, hi = band_hz
    if not 0 <= lo < hi <= fs / 2:
        raise ValueError(f"unwanted_power_db: band_hz must satisfy 0 <= low < high <= {fs / 2:g} Hz, got {band_hz}")
    fit = fit_sinusoids(x, fs, freqs)
    tones_power = sum(a * a / 2 for a in fit.amplitudes)
    if tones_power == 0:
        raise ValueError(f"unwanted_power_db: waveform {w.name!r} has no power at {freqs} Hz")
    spectrum = np.fft.rfft(fit.residual)
    f = np.fft.rfftfreq(len(x), 1.0 / fs)
    in_band = (f >= lo) & (f <= hi) & (f > 0) & (f < fs / 2)
    band_power = 2.0 * float(np.sum(np.abs(spectrum[in_band]) ** 2)) / len(x) ** 2
    if band_power == 0:
        return -math.inf
    return 10.0 * math.log10(band_power / tones_power)


def spectral_peaks_hz(w: Waveform, band_hz: tuple[float, float], within_db: float = 12.0,
                      min_spacing_hz: float = 20.0, max_count: int = 4) -> list[float]:
    """Frequencies (Hz, ascending) of the strong spectral peaks in band_hz.

    A peak counts when it stands 10 dB above its surroundings (so the 1/f spectrum of a DC step
    does not count), lies within within_db of the strongest peak, and is min_spacing_hz away from
    every stronger one (so the sidebands that on/off keying puts around a tone do not count).
    Accuracy is a small fraction of 1/duration Hz. Returns [] when nothing stands out.
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "spectral_peaks_hz", min_samples=16)
    lo, hi = band_hz
    if not 0 <= lo < hi <= fs / 2:
        raise ValueError(f"spectral_peaks_hz: band_hz must satisfy 0 <= low < high <= {fs / 2:g} Hz, got {band_hz}")
    freqs, mag = _spectrum(x, fs, pad=2)
    db = 20.0 * np.log10(mag + 1e-300)
    first, last = np.searchsorted(freqs, [lo, hi])
    peaks, _ = signal.find_peaks(db[first:last], prominence=10.0)
    peaks = peaks + first
    kept: list[float] = []
    for p in sorted(peaks, key=lambda p: -db[p]):
        if db[p] < db[peaks].max() - within_db or len(kept) == max_count:
            break
        f = _parabolic_peak_hz(freqs, db, p)
        if all(abs(f - k) >= min_spacing_hz for k in kept):
            kept.append(f)
    return sorted(kept)


def tone_envelope(w: Waveform, freqs_hz: Sequence[float], band_hz: tuple[float, float] | None = None,
                  window_s: float | None = None) -> Waveform:
    """Level over time of the tone made of freqs_hz: a Waveform of V RMS on the same clock as w.

    Sliding-DFT (Goertzel bank) envelope. A running median over one window (at least 50 ms) is
    subtracted, which removes DC steps without their broadband burst; a zero-phase band-pass to
    band_hz (default: an octave below the lowest to an octave above the highest tone) drops hum;
    each tone is demodulated, z_f(t) = mean of x(u) exp(-j 2 pi f u) over window_s centred on t,
    and the envelope is sqrt(sum_f 2 |z_f|^2) (the tones' RMS, to a few per cent). The default
    window is the shortest (>= 5 ms) whose half is a whole number of periods of the lowest beat
    between the tones or their images (2 f): e.g. 50 ms for 20 Hz ringing, 22 ms for 350+440 Hz.
    A clean on/off edge then makes the envelope rise over window_s and pass exactly halfway
    between its off and on values at the edge itself; how steeply depends on the tone's phase at
    the edge, so noise can move that crossing by a few per cent of the window.
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "tone_envelope", min_samples=16)
    freqs = sorted(float(f) for f in freqs_hz)
    if not freqs or not all(0 < f < fs / 2 for f in freqs):
        raise ValueError(f"tone_envelope: freqs_hz must be non-empty and between 0 and {fs / 2:g} Hz, "
                         f"got {list(freqs_hz)}")
    if window_s is None:
        window_s = envelope_window_s(freqs)
    if not window_s > 0:
        raise ValueError(f"tone_envelope: window_s must be > 0, got {window_s}")
    if w.duration_s < 2 * window_s:
        raise ValueError(f"tone_envelope: waveform {w.name!r} lasts {w.duration_s:.4g} s, needs at least "
                         f"two envelope windows ({2 * window_s:.4g} s)")
    if band_hz is None:
        band_hz = (freqs[0] / 2, min(2 * freqs[-1], 0.45 * fs))
    # A running median follows a DC step (a hook transition, battery to ringing offset) without
    # smearing it, so subtracting it first keeps the step's broadband burst out of the envelope.
    # Over 50 ms or more it holds still under a tone (a shorter one wobbles with the tone and
    # biases the level by a few per cent).
    median_samples = 2 * int(max(window_s, _MIN_MEDIAN_WINDOW_S) * fs / 2) + 1
    y = bandpass(x - ndimage.median_filter(x, size=median_samples, mode="nearest"), fs, band_hz)
    n = np.arange(len(y))
    power = np.zeros(len(y))
    for f in freqs:
        z = _centred_moving_mean(y * np.exp(-2j * np.pi * f / fs * n), window_s * fs)
        power += 2.0 * np.abs(z) ** 2
    return Waveform(np.sqrt(power), fs, w.start_s, w.unit, f"{w.name}.envelope", w.clipped, dict(w.meta))


def envelope_window_s(freqs_hz: Sequence[float]) -> float:
    """Default tone_envelope window (s): >= 5 ms, each half a whole number of periods of the
    lowest beat among the tones and their images (2 f), e.g. 50 ms for 20 Hz ringing."""
    freqs = sorted(float(f) for f in freqs_hz)
    beats = [2 * f for f in freqs] + [b - a for a, b in zip(freqs, freqs[1:])]
    half_period_s = 1.0 / min(beats)
    return 2 * half_period_s * math.ceil(_MIN_ENVELOPE_WINDOW_S / (2 * half_period_s))


def bandpass(x: np.ndarray, sample_rate_hz: float, band_hz: tuple[float, float]) -> np.ndarray:
    """x filtered to band_hz (Hz) by a zero-phase 4th-order Butterworth (filtered twice: 8th).

    Zero phase keeps edges where they are in time. A low edge <= 0 gives a low-pass, a high edge
    at or above half the sample rate a high-pass.
    """
    lo, hi = band_hz
    nyquist = sample_rate_hz / 2
    if not lo < hi or hi <= 0 or lo >= nyquist:
        raise ValueError(f"bandpass: band_hz {band_hz} is empty below {nyquist:g} Hz (half the sample rate)")
    if lo <= 0 and hi >= nyquist:
        raise ValueError(f"bandpass: band_hz {band_hz} covers everything up to {nyquist:g} Hz (half the "
                         f"sample rate); there is nothing to filter")
    if lo <= 0:
        sos = signal.butter(4, hi, "lowpass", fs=sample_rate_hz, output="sos")
        slowest_hz = hi
    elif hi >= 0.99 * nyquist:
        sos = signal.butter(4, lo, "highpass", fs=sample_rate_hz, output="sos")
        slowest_hz = lo
    else:
        sos = signal.butter(2, [lo, hi], "bandpass", fs=sample_rate_hz, output="sos")
        slowest_hz = lo
    # Pad by two periods of the slowest frequency so the filter settles before the capture starts.
    padlen = min(len(x) - 1, int(2 * sample_rate_hz / slowest_hz))
    return signal.sosfiltfilt(sos, x, padlen=padlen)


def _require_ac(w: Waveform, x: np.ndarray, purpose: str) -> None:
    if np.ptp(x) == 0:
        raise ValueError(f"{purpose}: waveform {w.name!r} is constant ({x[0]:g} {w.unit}); there is no tone")


def _centred_time_s(n: int, sample_rate_hz: float) -> np.ndarray:
    # Time from the middle of the capture keeps the fit well conditioned.
    return (np.arange(n) - (n - 1) / 2) / sample_rate_hz


def _basis(t: np.ndarray, freqs_hz: Sequence[float]) -> np.ndarray:
    columns = [np.ones_like(t)]
    for f in freqs_hz:
        phase = 2 * np.pi * f * t
        columns += [np.cos(phase), np.sin(phase)]
    return np.column_stack(columns)


def _spectrum(x: np.ndarray, fs: float, pad: int = 8) -> tuple[np.ndarray, np.ndarray]:
    # Hann window: low leakage so one tone's skirt does not hide another; padding: fine grid.
    nfft = fft.next_fast_len(pad * len(x))
    mag = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x)), nfft))
    return np.fft.rfftfreq(nfft, 1.0 / fs), mag


def _peak_in(freqs: np.ndarray, mag: np.ndarray, lo: float, hi: float) -> float:
    first, last = np.searchsorted(freqs, [lo, hi], side="left")
    last = max(last, first + 1)
    return float(freqs[first + int(np.argmax(mag[first:last]))])


def _parabolic_peak_hz(freqs: np.ndarray, db: np.ndarray, p: int) -> float:
    if p == 0 or p == len(db) - 1:
        return float(freqs[p])
    a, b, c = db[p - 1], db[p], db[p + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    return float(freqs[p] + shift * (freqs[1] - freqs[0]))


def _refine_frequency(x: np.ndarray, t: np.ndarray, freqs: list[float], k: int,
                      lo: float, hi: float, bin_hz: float) -> float:
    """Least-squares refinement of freqs[k] within one FFT bin of its start, kept inside [lo, hi]."""
    trial = list(freqs)

    def residual_power(f: float) -> float:
        trial[k] = f
        basis = _basis(t, trial)
        coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
        r = x - basis @ coef
        return float(r @ r)

    start = freqs[k]
    a, b = max(lo, start - bin_hz), min(hi, start + bin_hz)
    if not a < b:
        return start
    # A coarse grid first: the fit error is only unimodal within the main lobe around the tone.
    grid = np.linspace(a, b, 11)
    best = int(np.argmin([residual_power(f) for f in grid]))
    step = grid[1] - grid[0]
    result = optimize.minimize_scalar(residual_power, bounds=(max(a, grid[best] - step), min(b, grid[best] + step)),
                                      method="bounded", options={"xatol": 1e-7 * max(1.0, start)})
    return float(result.x)


def _centred_moving_mean(y: np.ndarray, length: float) -> np.ndarray:
    """Mean of y over a window of `length` samples (fractional) centred on each sample.

    Near the ends the window is cut to the capture and the mean taken over what remains.
    """
    n = len(y)
    cumulative = np.concatenate(([0.0], np.cumsum(y)))
    grid = np.arange(n + 1)
    centre = np.arange(n) + 0.5
    a = np.clip(centre - length / 2, 0, n)
    b = np.clip(centre + length / 2, 0, n)

    def at(u: np.ndarray) -> np.ndarray:
        if np.iscomplexobj(cumulative):
            return np.interp(u, grid, cumulative.real) + 1j * np.interp(u, grid, cumulative.imag)
        return np.interp(u, grid, cumulative)

    return (at(b) - at(a)) / (b - a)
