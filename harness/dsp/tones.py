"""Tone analysis: frequency, per-component level, AM tones, purity, and level over time.

Frequencies are maximum-likelihood estimates for tones in white noise: the model
`c + sum_k (a_k cos 2 pi f_k t + b_k sin 2 pi f_k t)` (a DC level and each tone with its own
amplitude and phase, the tones' negative-frequency images included) is fitted by least squares
and the frequencies are moved until the fitted power is largest. A Hann-windowed, zero-padded
FFT gives the starting point; successive parabolic steps on the fitted power then climb to its
peak, one frequency at a time until none moves. This reaches the Cramer-Rao bound (e.g. 1 s of
20 Hz ringing riding on the battery voltage, or 50 ms of a 440 Hz tone at 0 dB SNR; see
benchmarks/dsp_tones.py).

Speed: the fit needs each tone's correlation with the capture (a DTFT at one frequency, done as
one matrix product over blocks of the capture) and the model's Gram matrix, which has a closed
form (Dirichlet kernels). Captures longer than 2 s have their frequencies refined over their
strongest 2 s (the error there is already ~1e-4 Hz at 20 dB SNR) and their levels fitted over
the whole.

Levels are the fitted amplitudes, not FFT bin heights, so they do not depend on where a tone
falls between bins. Level over time: a sliding DFT (tone_envelope).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import fft, ndimage, signal

from harness.dsp.levels import checked_samples, vrms_to_dbm
from harness.dsp.waveform import Waveform

# Shortest default demodulation window of tone_envelope: long enough to average the noise of
# one 440 Hz tone over a few periods, short against the 30 ms shortest interval of E.180 plans.
_MIN_ENVELOPE_WINDOW_S = 0.005
# Shortest running median that tone_envelope subtracts to remove DC steps (see there).
_MIN_MEDIAN_WINDOW_S = 0.05
# Longest stretch over which frequencies are refined (see the module docstring).
_LONGEST_FIT_S = 2.0
# Parabolic climb (in FFT bins of the analysed stretch): first step (the zero-padded FFT's peak
# is closer than that), the step below which a parabola's vertex is exact to ~1e-9 bins, the
# smallest step, and the shift below which it stops. 1e-7 bins is a hundredth of the smallest
# Cramer-Rao bound here (1e-5 bins at 40 dB SNR over 2 s at 48 kS/s).
_CLIMB_FIRST_STEP_BINS = 0.02
_CLIMB_EXACT_STEP_BINS = 1e-4
_CLIMB_MIN_STEP_BINS = 1e-6
_CLIMB_TOLERANCE_BINS = 1e-7
# Coordinate sweeps over several tones stop when no frequency moves more than this (bins).
_SWEEP_TOLERANCE_BINS = 1e-7
_MAX_SWEEPS = 20
# An unwanted component is reported when its spectral peak would be reached by the noise alone
# with odds below 1 in 100 anywhere in the band.
_FALSE_PEAK_ODDS = 100.0


@dataclass(frozen=True)
class ToneComponent:
    """One sinusoidal component of a tone.

    freq_hz: frequency, Hz. level_vrms: RMS of this component alone, in the waveform's unit
    (V RMS for a voltage capture). level_dbm: level_vrms as dBm into the stated impedance
    (600 ohm unless the analysis was given another).
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


@dataclass(frozen=True)
class AmTone:
    """An amplitude-modulated tone, A (1 + m cos 2 pi fm t) cos 2 pi fc t (India's 400 Hz x 25 Hz).

    carrier_hz, modulation_hz: fc and fm (Hz). depth: m, from the sidebands (sum of the two
    sideband amplitudes over the carrier's; 0.9 for Asterisk's "400*25"). level_vrms, level_dbm:
    the whole tone's RMS (V) and its dBm, what a true-RMS level meter reads. carrier_vrms,
    carrier_dbm: the carrier alone. sideband_vrms: (lower, upper) sideband RMS (V); unequal
    sidebands mean the modulation is not pure AM.
    """

    carrier_hz: float
    modulation_hz: float
    depth: float
    level_vrms: float
    level_dbm: float
    carrier_vrms: float
    carrier_dbm: float
    sideband_vrms: tuple[float, float]


@dataclass(frozen=True)
class TonePurity:
    """What else is in the band besides the wanted tones.

    wanted_vrms: RMS of the wanted tones together (V). unwanted_vrms: RMS of everything else in
    band_hz (harmonics, other tones, noise; V). unwanted_db: unwanted power over wanted power, dB
    (the Precise Tone Plan asks for distortion 30 dB below the tone). unwanted: the strongest
    discrete unwanted components (tones standing clear of the noise), strongest first.
    """

    wanted_vrms: float
    unwanted_vrms: float
    unwanted_db: float
    unwanted: tuple[ToneComponent, ...]
    band_hz: tuple[float, float]


def fit_sinusoids(samples: np.ndarray, sample_rate_hz: float, freqs_hz: Sequence[float]) -> SinusoidFit:
    """Fit samples = dc + sum_k A_k cos(2 pi f_k t + phi_k) by linear least squares (f_k fixed)."""
    x = np.asarray(samples, dtype=float)
    nus = [f / sample_rate_hz for f in freqs_hz]
    fit = _fit(x, nus)
    u = _centred_index(len(x))
    model = np.full(len(x), fit.dc)
    for nu, a, b in zip(nus, fit.cos, fit.sin):
        phase = 2 * np.pi * nu * u
        model += a * np.cos(phase) + b * np.sin(phase)
    return SinusoidFit(fit.dc, fit.amplitudes, x - model)


def sinusoid_amplitudes(samples: np.ndarray, sample_rate_hz: float,
                        freqs_hz: Sequence[float]) -> tuple[float, tuple[float, ...]]:
    """(dc, peak amplitudes) of fit_sinusoids without forming the residual: a few passes over the
    samples whatever their number of frequencies."""
    fit = _fit(np.asarray(samples, dtype=float), [f / sample_rate_hz for f in freqs_hz])
    return fit.dc, fit.amplitudes


def fit_frequencies_hz(samples: np.ndarray, sample_rate_hz: float,
                       windows_hz: Sequence[tuple[float, float]]) -> list[float]:
    """Joint maximum-likelihood frequencies (Hz) of the strongest tone in each window (lo, hi).

    Each starts at the highest peak of a Hann-windowed, zero-padded spectrum in its window; the
    tones and a DC level are then fitted together and each frequency in turn climbs to where the
    fitted power peaks (staying in its window), until none moves. Windows should not overlap.
    """
    x = np.asarray(samples, dtype=float)
    fs = sample_rate_hz
    freqs, mag = _spectrum(x, fs)
    starts = [_peak_in(freqs, mag, lo, hi) / fs for lo, hi in windows_hz]
    return [nu * fs for nu in _refine(x, starts, [(lo / fs, hi / fs) for lo, hi in windows_hz])]


def fundamental_frequency_hz(samples: np.ndarray, sample_rate_hz: float, start_hz: float,
                             orders: Sequence[int]) -> float:
    """Maximum-likelihood fundamental (Hz) of a periodic signal made of the given harmonic orders
    (e.g. [1, 3, 5] for trapezoidal ringing) on a DC level, within one FFT bin of start_hz."""
    x = np.asarray(samples, dtype=float)
    x = x - x.mean()
    n = len(x)
    bin_width = 1.0 / n
    nu0 = start_hz / sample_rate_hz
    # Harmonic k sharpens the peak k times: the first step shrinks to match.
    nu = _climb(lambda v: _fit(x, [k * v for k in orders]).explained, nu0,
                _CLIMB_FIRST_STEP_BINS * bin_width / max(orders), nu0 - bin_width, nu0 + bin_width, bin_width)
    return nu * sample_rate_hz


def tone_frequency_hz(w: Waveform, f_min_hz: float, f_max_hz: float) -> float:
    """Frequency in Hz of the strongest tone between f_min_hz and f_max_hz.

    Maximum likelihood for one tone on a DC level in white noise: its RMS error is the
    Cramer-Rao bound, e.g. 6e-5 Hz for 1 s of 20 Hz ringing at 40 dB SNR, 0.055 Hz for 50 ms of
    a voice-band tone at 20 dB SNR (both at 8 kS/s). The capture must hold at least two periods
    of f_min_hz.
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
    stretch = _strongest_stretch(x, fs)
    freqs, mag = _spectrum(stretch, fs)
    coarse = _peak_in(freqs, mag, f_min_hz, f_max_hz)
    (nu,) = _refine(stretch, [coarse / fs], [(f_min_hz / fs, f_max_hz / fs)])
    return nu * fs


def tone_components(w: Waveform, expected_hz: Sequence[float], search_hz: float = 25.0,
                    impedance_ohm: float = 600.0) -> list[ToneComponent]:
    """The strongest component within search_hz of each expected frequency, in the order given.

    For US dial tone call tone_components(w, [350, 440]). Each search window stops halfway to the
    neighbouring expected frequency, so one strong tone is never reported twice. Frequencies are
    the joint maximum-likelihood estimate of all components (at the Cramer-Rao bound); levels
    their fitted amplitudes (dBm into impedance_ohm), within 0.1 dB RMS at 20 dB SNR from 80 ms
    of 2130 + 2750 Hz up. A wrong tone (360 Hz where 350 Hz is expected) shows as a frequency
    error; a missing one as a very low level.
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

    stretch = _strongest_stretch(x, fs)
    bin_hz = fs / len(stretch)
    windows = []
    for i, f in enumerate(ordered):
        lo = max(f - search_hz, bin_hz)
        hi = min(f + search_hz, fs / 2 - bin_hz)
        if i > 0:
            lo = max(lo, (ordered[i - 1] + f) / 2)
        if i < len(ordered) - 1:
            hi = min(hi, (f + ordered[i + 1]) / 2)
        windows.append((lo, hi))
    found = fit_frequencies_hz(stretch, fs, windows)
    amplitudes = _fit(x, [f / fs for f in found]).amplitudes
    by_freq = {}
    for f, f_found, a in zip(ordered, found, amplitudes):
        vrms = a / math.sqrt(2)
        by_freq[f] = ToneComponent(f_found, vrms, vrms_to_dbm(vrms, impedance_ohm))
    return [by_freq[f] for f in expected]


def am_tone_components(w: Waveform, carrier_hz: float, modulation_hz: float, search_hz: float | None = None,
                       impedance_ohm: float = 600.0) -> AmTone:
    """Carrier, modulation frequency, depth and level of an AM tone near carrier_hz x modulation_hz.

    E.g. am_tone_components(w, 400, 25) for India's dial tone. The carrier and the two sidebands
    (fc - fm, fc, fc + fm) are fitted together, fc and fm by maximum likelihood, each component
    with its own amplitude and phase. search_hz (default half of modulation_hz, at most 25 Hz):
    how far fc and fm may lie from the nominal values. The capture must hold two periods of the
    modulation, so that each sideband is two FFT bins from the carrier.
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "am_tone_components", min_samples=16)
    if not 0 < modulation_hz < carrier_hz or carrier_hz + modulation_hz >= fs / 2:
        raise ValueError(f"am_tone_components: need 0 < modulation_hz < carrier_hz and carrier_hz + "
                         f"modulation_hz below {fs / 2:g} Hz, got {carrier_hz} and {modulation_hz}")
    search = min(modulation_hz / 2, 25.0) if search_hz is None else float(search_hz)
    if not 0 < search <= modulation_hz / 2:
        raise ValueError(f"am_tone_components: search_hz must lie in (0, {modulation_hz / 2:g}] Hz (half the "
                         f"modulation frequency), got {search_hz}")
    needed_s = 2.0 / (modulation_hz - search)
    if w.duration_s < needed_s:
        raise ValueError(f"am_tone_components: waveform {w.name!r} lasts {w.duration_s:.4g} s, needs at least "
                         f"{needed_s:.4g} s to resolve sidebands {modulation_hz:g} Hz from the carrier")
    _require_ac(w, x, "am_tone_components")

    stretch = _strongest_stretch(x, fs)
    stretch = stretch - stretch.mean()
    freqs, mag = _spectrum(stretch, fs)
    fc = _peak_in(freqs, mag, carrier_hz - search, carrier_hz + search)
    upper = _peak_in(freqs, mag, fc + modulation_hz - search, fc + modulation_hz + search)
    lower = _peak_in(freqs, mag, fc - modulation_hz - search, fc - modulation_hz + search)
    fm = (upper - lower) / 2
    nu_c, nu_m = fc / fs, fm / fs
    c_window = ((carrier_hz - search) / fs, (carrier_hz + search) / fs)
    m_window = ((modulation_hz - search) / fs, (modulation_hz + search) / fs)
    step = _CLIMB_FIRST_STEP_BINS / len(stretch)
    for _sweep in range(_MAX_SWEEPS):
        new_c = _climb(lambda v: _fit(stretch, [v - nu_m, v, v + nu_m]).explained, nu_c, step, *c_window,
                       1.0 / len(stretch))
        new_m = _climb(lambda v: _fit(stretch, [new_c - v, new_c, new_c + v]).explained, nu_m, step, *m_window,
                       1.0 / len(stretch))
        moved = max(abs(new_c - nu_c), abs(new_m - nu_m)) * len(stretch)
        nu_c, nu_m = new_c, new_m
        if moved < _SWEEP_TOLERANCE_BINS:
            break
    a_lower, a_carrier, a_upper = _fit(x, [nu_c - nu_m, nu_c, nu_c + nu_m]).amplitudes
    level = math.sqrt((a_lower**2 + a_carrier**2 + a_upper**2) / 2)
    carrier = a_carrier / math.sqrt(2)
    return AmTone(carrier_hz=nu_c * fs, modulation_hz=nu_m * fs,
                  depth=(a_lower + a_upper) / a_carrier if a_carrier > 0 else math.inf,
                  level_vrms=level, level_dbm=vrms_to_dbm(level, impedance_ohm), carrier_vrms=carrier,
                  carrier_dbm=vrms_to_dbm(carrier, impedance_ohm),
                  sideband_vrms=(a_lower / math.sqrt(2), a_upper / math.sqrt(2)))


def tone_purity(w: Waveform, freqs_hz: Sequence[float], band_hz: tuple[float, float] = (300.0, 3400.0),
                max_unwanted: int = 3, impedance_ohm: float = 600.0) -> TonePurity:
    """Power in band_hz that is not the tones at freqs_hz, and the strongest unwanted components.

    The tones (with the DC level) are fitted at exactly freqs_hz and subtracted; what remains in
    band_hz (harmonics, other tones, noise) is compared with the tones' power. Pass the
    frequencies found by tone_components for a distortion/purity figure, or the nominal ones to
    see a tone that is off frequency (360 Hz where 350 Hz was meant leaves close to 0 dB).
    Unwanted components: peaks of the remainder's spectrum that noise alone would reach with odds
    below 1 in 100, each refined to its maximum-likelihood frequency and fitted level (dBm into
    impedance_ohm); at most max_unwanted, strongest first.
    """
    x, freqs = _purity_inputs(w, freqs_hz, band_hz, "tone_purity")
    if max_unwanted < 0:
        raise ValueError(f"tone_purity: max_unwanted must be >= 0, got {max_unwanted}")
    return _purity(w, x, freqs, band_hz, max_unwanted, impedance_ohm, "tone_purity")


def unwanted_power_db(w: Waveform, freqs_hz: Sequence[float],
                      band_hz: tuple[float, float] = (300.0, 3400.0)) -> float:
    """Power in band_hz that is not the tones at freqs_hz, in dB relative to the tones' power.

    tone_purity(w, freqs_hz, band_hz).unwanted_db without the search for unwanted components.
    """
    x, freqs = _purity_inputs(w, freqs_hz, band_hz, "unwanted_power_db")
    return _purity(w, x, freqs, band_hz, 0, 600.0, "unwanted_power_db").unwanted_db


def _purity_inputs(w: Waveform, freqs_hz: Sequence[float], band_hz: tuple[float, float],
                   purpose: str) -> tuple[np.ndarray, list[float]]:
    """The samples and tone frequencies of a purity analysis, checked (one-line ValueError)."""
    fs = w.sample_rate_hz
    x = checked_samples(w, purpose, min_samples=16)
    freqs = [float(f) for f in freqs_hz]
    if not freqs:
        raise ValueError(f"{purpose}: freqs_hz is empty")
    lo, hi = band_hz
    if not 0 <= lo < hi <= fs / 2:
        raise ValueError(f"{purpose}: band_hz must satisfy 0 <= low < high <= {fs / 2:g} Hz, got {band_hz}")
    return x, freqs


def spectral_peaks_hz(w: Waveform, band_hz: tuple[float, float], within_db: float = 12.0,
                      min_spacing_hz: float = 20.0, max_count: int = 4) -> list[float]:
    """Frequencies (Hz, ascending) of the strong spectral peaks in band_hz.

    A peak counts when it stands 10 dB above its surroundings (so the 1/f spectrum of a DC step
    does not count), lies within within_db of the strongest peak, and is min_spacing_hz away from
    every stronger one (so the sidebands that on/off keying puts around a tone do not count).
    Accuracy is a small fraction of 1/duration Hz (of the strongest 2 s of a longer capture).
    Returns [] when nothing stands out.
    """
    fs = w.sample_rate_hz
    x = checked_samples(w, "spectral_peaks_hz", min_samples=16)
    lo, hi = band_hz
    if not 0 <= lo < hi <= fs / 2:
        raise ValueError(f"spectral_peaks_hz: band_hz must satisfy 0 <= low < high <= {fs / 2:g} Hz, got {band_hz}")
    freqs, mag = _spectrum(_strongest_stretch(x, fs), fs, pad=2)
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


# ------------------------------------------------------------------ the least-squares tone model
# Frequencies are in cycles per sample (nu = f / fs) and time is the sample index counted from
# the middle of the capture, u = n - (N - 1) / 2: about that centre the sine columns are odd and
# the DC and cosine columns even, so the Gram matrix splits into two small blocks.


@dataclass(frozen=True)
class _Fit:
    """Least-squares fit of dc + sum_k cos_k cos(2 pi nu_k u) + sin_k sin(2 pi nu_k u).

    explained: energy of the fitted model (sum of squares), the quantity the frequencies maximise.
    """

    dc: float
    cos: np.ndarray
    sin: np.ndarray
    explained: float

    @property
    def amplitudes(self) -> tuple[float, ...]:
        return tuple(float(a) for a in np.hypot(self.cos, self.sin))


def _fit(x: np.ndarray, nus: Sequence[float], correlations: np.ndarray | None = None,
         total: float | None = None) -> _Fit:
    """Least-squares fit of a DC level and tones at nus (cycles/sample) to x.

    correlations: _dtft(x, nus), total: sum(x), when the caller already has them.
    """
    nus = np.asarray(nus, dtype=float)
    z = _dtft(x, nus) if correlations is None else correlations
    even_gram, odd_gram = _gram(nus, len(x))
    even = np.concatenate(([float(np.sum(x)) if total is None else total], z.real))
    even_coef = _solve(even_gram, even)
    odd_coef = _solve(odd_gram, z.imag)
    return _Fit(dc=float(even_coef[0]), cos=even_coef[1:], sin=odd_coef,
                explained=float(even @ even_coef + z.imag @ odd_coef))


def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(gram, rhs)
    except np.linalg.LinAlgError:  # two tones at one frequency: any split of the power will do
        return np.linalg.lstsq(gram, rhs, rcond=None)[0]


def _dirichlet(a: np.ndarray, n: int) -> np.ndarray:
    """sum over u of cos(a u), u = -(n-1)/2 .. (n-1)/2: sin(n a / 2) / sin(a / 2)."""
    half = np.asarray(a, dtype=float) / 2
    s = np.sin(half)
    regular = np.abs(s) > 1e-12
    return np.where(regular, np.sin(n * half) / np.where(regular, s, 1.0), n * np.cos((n - 1) * half))


def _gram(nus: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gram matrices of [1, cos_1 .. cos_K] and of [sin_1 .. sin_K] over n centred samples."""
    theta = 2 * np.pi * nus
    k = len(nus)
    kernels = _dirichlet(np.concatenate(((theta[:, None] - theta[None, :]).ravel(),
                                         (theta[:, None] + theta[None, :]).ravel(), theta)), n)
    difference = kernels[:k * k].reshape(k, k)
    total = kernels[k * k:2 * k * k].reshape(k, k)
    even = np.empty((k + 1, k + 1))
    even[0, 0] = n
    even[0, 1:] = even[1:, 0] = kernels[2 * k * k:]
    even[1:, 1:] = (difference + total) / 2
    return even, (difference - total) / 2


def _dtft(x: np.ndarray, nus: Sequence[float]) -> np.ndarray:
    """sum_n x_n exp(j 2 pi nu u_n) for each nu (cycles/sample), u centred: the cosine
    correlations in the real part, the sine correlations in the imaginary part.

    The capture is cut into about sqrt(N) blocks: one matrix product correlates every block
    with the phasor of one block length, and the blocks' start phases combine the results; that
    needs ~2 sqrt(N) complex exponentials per frequency instead of N.
    """
    nus = np.asarray(nus, dtype=float)
    n = len(x)
    size = max(1, math.isqrt(n))
    count = n // size
    theta = 2 * np.pi * nus
    phase = np.outer(np.arange(size), theta)
    inner = x[:count * size].reshape(count, size) @ np.concatenate((np.cos(phase), np.sin(phase)), axis=1)
    k = len(nus)
    starts = np.arange(count) * size - (n - 1) / 2
    total = np.sum(np.exp(1j * np.outer(starts, theta)) * (inner[:, :k] + 1j * inner[:, k:]), axis=0)
    tail = np.arange(count * size, n) - (n - 1) / 2
    if tail.size:
        total += x[count * size:] @ np.exp(1j * np.outer(tail, theta))
    return total


def _climb(cost: Callable[[float], float], start: float, step: float, lo: float, hi: float,
           bin_width: float) -> float:
    """Where cost (a smooth function of one frequency, cycles/sample) peaks near start, within [lo, hi].

    Three points `step` apart: while the middle is not the highest, move uphill (doubling the
    step); else jump to the vertex of the parabola through them. The next three points are the
    vertex and the vertex -+ the jump, so the old middle is one of them (two new evaluations per
    jump, and each jump about squares the error), with the step kept at or above
    _CLIMB_MIN_STEP_BINS; it stops once a jump on a step of _CLIMB_EXACT_STEP_BINS or less is
    below _CLIMB_TOLERANCE_BINS. bin_width: one FFT bin (1/N).
    """
    values: dict[float, float] = {}

    def at(v: float) -> float:
        if v not in values:
            values[v] = cost(v)
        return values[v]

    v = min(max(start, lo), hi)
    smallest = _CLIMB_MIN_STEP_BINS * bin_width
    step = max(step, smallest)
    for _ in range(100):
        left, middle, right = at(v - step), at(v), at(v + step)
        if middle < max(left, right):
            uphill = min(max(v + step if right > left else v - step, lo), hi)
            if uphill == v:  # the peak lies beyond the window: report the window's edge
                return v
            v, step = uphill, 2 * step
            continue
        curvature = left - 2 * middle + right
        shift = 0.5 * step * (left - right) / curvature if curvature < 0 else 0.0
        if step <= _CLIMB_EXACT_STEP_BINS * bin_width and abs(shift) < _CLIMB_TOLERANCE_BINS * bin_width:
            return min(max(v + shift, lo), hi)
        if v + shift < lo or v + shift > hi:
            return min(max(v + shift, lo), hi)
        v, step = v + shift, max(abs(shift), smallest)
    return v


def _refine(x: np.ndarray, nus: Sequence[float], windows: Sequence[tuple[float, float]]) -> list[float]:
    """Joint maximum-likelihood frequencies (cycles/sample) of tones starting at nus, each kept in
    its window: each frequency in turn climbs the fitted energy with the others held, until no
    frequency moves by more than a hundredth of its Cramer-Rao bound (or _SWEEP_TOLERANCE_BINS)."""
    nus = [float(v) for v in nus]
    n = len(x)
    x = x - x.mean()  # the DC column stays in the model; this keeps the fitted energy well scaled
    total = float(np.sum(x))
    energy = float(x @ x)
    correlations = _dtft(x, nus)
    # Later sweeps only follow the small shifts the other tones' moves cause: a small first step
    # (the climb doubles it while it walks uphill).
    step = _CLIMB_FIRST_STEP_BINS
    for _sweep in range(_MAX_SWEEPS):
        moved = 0.0
        for k, (lo, hi) in enumerate(windows):
            def explained(v: float, k: int = k) -> float:
                trial_nus = nus[:k] + [v] + nus[k + 1:]
                trial = correlations.copy()
                trial[k] = _dtft(x, [v])[0]
                return _fit(x, trial_nus, trial, total).explained

            new = _climb(explained, nus[k], step / n, lo, hi, 1.0 / n)
            moved = max(moved, abs(new - nus[k]) * n)
            nus[k] = new
            correlations[k] = _dtft(x, [new])[0]
        if len(nus) == 1 or moved < max(_SWEEP_TOLERANCE_BINS, _tolerance_bins(x, nus, correlations, total, energy)):
            break
        step = min(_CLIMB_EXACT_STEP_BINS, max(moved, _CLIMB_MIN_STEP_BINS))
    return nus


def _tolerance_bins(x: np.ndarray, nus: list[float], correlations: np.ndarray, total: float, energy: float) -> float:
    """A hundredth of the smallest Cramer-Rao bound (in FFT bins) among the tones, with the noise
    taken from the fit's residual: moves below it change nothing measurable."""
    fit = _fit(x, nus, correlations, total)
    n = len(x)
    noise_var = max(energy - fit.explained, 0.0) / max(n - 2 * len(nus) - 1, 1)
    strongest_snr = max(a * a / 2 for a in fit.amplitudes) / noise_var if noise_var > 0 else math.inf
    return 0.01 * math.sqrt(12.0 / ((2 * math.pi) ** 2 * strongest_snr * n))


def _strongest_stretch(x: np.ndarray, fs: float, longest_s: float = _LONGEST_FIT_S) -> np.ndarray:
    """The capture itself, or its most energetic longest_s (AC energy, in 1/32 steps) when longer."""
    n = int(longest_s * fs)
    if len(x) <= n:
        return x
    block = max(1, n // 32)
    blocks = x[:len(x) // block * block].reshape(-1, block)
    sums = blocks.sum(axis=1)
    energy = np.einsum("ij,ij->i", blocks, blocks) - sums * sums / block
    per_stretch = np.convolve(energy, np.ones(n // block), mode="valid")
    start = int(np.argmax(per_stretch)) * block
    return x[start:start + n]


def _purity(w: Waveform, x: np.ndarray, freqs: list[float], band_hz: tuple[float, float], max_unwanted: int,
            impedance_ohm: float, purpose: str) -> TonePurity:
    fs = w.sample_rate_hz
    fit = fit_sinusoids(x, fs, freqs)
    wanted_power = sum(a * a / 2 for a in fit.amplitudes)
    if wanted_power == 0:
        raise ValueError(f"{purpose}: waveform {w.name!r} has no power at {freqs} Hz")
    unwanted_power = _band_power(fit.residual, fs, band_hz)
    unwanted_db = 10.0 * math.log10(unwanted_power / wanted_power) if unwanted_power > 0 else -math.inf
    unwanted = _unwanted_components(fit.residual, fs, band_hz, max_unwanted, impedance_ohm) if max_unwanted else []
    return TonePurity(wanted_vrms=math.sqrt(wanted_power), unwanted_vrms=math.sqrt(unwanted_power),
                      unwanted_db=unwanted_db, unwanted=tuple(unwanted),
                      band_hz=(float(band_hz[0]), float(band_hz[1])))


def _band_power(residual: np.ndarray, fs: float, band_hz: tuple[float, float]) -> float:
    """Mean power of residual between band_hz[0] and band_hz[1] (units^2), from its spectrum."""
    spectrum = np.fft.rfft(residual)
    f = np.fft.rfftfreq(len(residual), 1.0 / fs)
    in_band = (f >= band_hz[0]) & (f <= band_hz[1]) & (f > 0) & (f < fs / 2)
    return 2.0 * float(np.sum(np.abs(spectrum[in_band]) ** 2)) / len(residual) ** 2


def _unwanted_components(residual: np.ndarray, fs: float, band_hz: tuple[float, float], count: int,
                         impedance_ohm: float) -> list[ToneComponent]:
    """Up to `count` tones in residual within band_hz that stand clear of its noise, strongest
    first: the strongest spectral peak is refined, fitted and subtracted, then the next is
    looked for, so a strong component's window sidelobes are never taken for others."""
    n = len(residual)
    bin_hz = fs / n
    # A periodogram bin of white noise is exponential: the median is ln 2 of the mean, and a bin
    # exceeds c times the mean with probability exp(-c).
    independent_bins = max(1.0, (band_hz[1] - band_hz[0]) / bin_hz)
    clear = math.log(independent_bins * _FALSE_PEAK_ODDS)
    remaining = residual - residual.mean()
    u = _centred_index(n)
    found = []
    for _ in range(count):
        freqs, mag = _spectrum(remaining, fs, pad=2)
        first, last = np.searchsorted(freqs, band_hz)
        power = mag[first:last] ** 2
        if power.size < 3:
            break
        p = int(np.argmax(power))
        if power[p] < clear * np.median(power) / math.log(2):
            break
        f = _parabolic_peak_hz(freqs, np.log(mag + 1e-300), first + p)
        window = (max(f - bin_hz, band_hz[0], bin_hz) / fs, min(f + bin_hz, band_hz[1], fs / 2 - bin_hz) / fs)
        (nu,) = _refine(remaining, [min(max(f / fs, window[0]), window[1])], [window])
        fit = _fit(remaining, [nu])
        vrms = fit.amplitudes[0] / math.sqrt(2)
        found.append(ToneComponent(nu * fs, vrms, vrms_to_dbm(vrms, impedance_ohm)))
        phase = 2 * np.pi * nu * u
        remaining = remaining - fit.dc - fit.cos[0] * np.cos(phase) - fit.sin[0] * np.sin(phase)
    return found


def _require_ac(w: Waveform, x: np.ndarray, purpose: str) -> None:
    if np.ptp(x) == 0:
        raise ValueError(f"{purpose}: waveform {w.name!r} is constant ({x[0]:g} {w.unit}); there is no tone")


def _centred_index(n: int) -> np.ndarray:
    return np.arange(n) - (n - 1) / 2


def _spectrum(x: np.ndarray, fs: float, pad: int = 2) -> tuple[np.ndarray, np.ndarray]:
    # Hann window: low leakage so one tone's skirt does not hide another; padding: fine grid.
    nfft = fft.next_fast_len(pad * len(x), real=True)
    mag = np.abs(fft.rfft((x - x.mean()) * np.hanning(len(x)), nfft))
    return np.fft.rfftfreq(nfft, 1.0 / fs), mag


def _peak_in(freqs: np.ndarray, mag: np.ndarray, lo: float, hi: float) -> float:
    """Frequency (Hz) of the largest spectral peak between lo and hi, between grid points."""
    first, last = np.searchsorted(freqs, [lo, hi], side="left")
    last = max(last, first + 1)
    p = first + int(np.argmax(mag[first:last]))
    f = _parabolic_peak_hz(freqs, np.log(mag + 1e-300), p)
    return min(max(f, lo), hi)


def _parabolic_peak_hz(freqs: np.ndarray, db: np.ndarray, p: int) -> float:
    if p == 0 or p == len(db) - 1:
        return float(freqs[p])
    a, b, c = db[p - 1], db[p], db[p + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return float(freqs[p] + shift * (freqs[1] - freqs[0]))


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
