"""DTMF: a receiver that measures what it decodes, and a generator for every parameter a test varies.

Receiver (detect_dtmf), in two stages.

1. Scan. The capture is cut into 5 ms blocks; each block's DFT at the eight DTMF frequencies is
   one matrix product (a block Goertzel), and three consecutive blocks add coherently into a
   15 ms DFT every 5 ms. A window is "on" for a key when its strongest row and column tone are
   loud enough, stand 6 dB above the other rows and columns (as spandsp's relative-peak test) and
   hold a fair share of the window's power. Runs of windows on the same key are candidates. This
   costs a few multiply-adds per sample, at any sample rate.
2. Measure, then judge. Each candidate is measured on its own samples with a signal model: two
   sinusoids plus a DC level and slope, their frequencies found by nonlinear least squares
   (Gauss-Newton from the FFT peaks; the maximum-likelihood estimate in white noise, see Kay,
   "Fundamentals of Statistical Signal Processing: Estimation Theory", ch. 13). Its start and end
   are the switch-on and switch-off points that best explain the samples as noise plus that
   model while on (least-squares change points, one cumulative sum). Frequencies, levels, twist
   and the residual's spectrum come from a second fit over the steady part between the edges.
   The verdict is then explicit, against DtmfLimits: frequency deviation, twist, level, duration,
   and purity (talk-off): the residual must hold no spectral peak that stands out of its noise
   floor within max_other_peak_db of the weaker tone (speech always has other harmonics; a DUT's
   own distortion products are not counted), and not too much power in the band.
   Judging once over the whole steady tone is what lets this receiver decode at 6 dB SNR, where
   one that judges each 12.75 ms block against the block's total energy (spandsp) needs 9 dB.

Limits follow the receiver practice shared by ITU-T Q.24, TIA-464 and the spandsp/Asterisk
receivers (telephony-facts.md 3.1): accept within 1.5 % and reject beyond 3.5 % of each
frequency; accept the high tone from 4 dB above to 8 dB below the low tone; accept 40 ms tones,
reject 23 ms ones; a 40 ms gap separates digits, a 10 ms interruption does not. The default
decision points (DtmfLimits) lie halfway between each must-accept and must-reject value, except
duration: 35 ms, because the measured duration is good to 2 ms even at 6 dB SNR and every
millisecond asked of speech makes talk-off rarer.

Figures (benchmarks/dsp_dtmf.py, 50 ms digits at -7/-5 dBm, 200 of each key per SNR): every digit
decoded from 5 dB SNR up; no false digit in 20 min of white noise nor in 40 min of espeak-ng
speech; start/end within 0.3 ms RMS and frequencies within 0.5 Hz RMS at 6 dB SNR.

Levels are dBm into impedance_ohm (600 ohm by default): for a capture in volts at a 0 dBr point
they read as dBm0.

Generator (dtmf_signal, dtmf_waveform, dtmf_schedule): two gated sinusoids per digit with
settable level, twist, frequency offsets, per-digit timing, sample rate and seeded white noise
at a stated SNR (harness.dsp.noise, with the tones' on-power as the signal power).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from harness.dsp.levels import checked_samples, dbm_to_vrms, vrms_to_dbm
from harness.dsp.noise import add_white_noise
from harness.dsp.waveform import Waveform

ROWS_HZ = (697.0, 770.0, 852.0, 941.0)
COLUMNS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
_NOMINAL_HZ = np.array(ROWS_HZ + COLUMNS_HZ)

# Scan: 5 ms blocks, three (15 ms) per window. 15 ms keeps a tone 1.5 % off 1633 Hz within 2 dB
# of its on-frequency power and puts the neighbouring row 20 dB down.
_BLOCK_S = 0.005
_WINDOW_BLOCKS = 3
# Tones further off than this fall near the first null of their own 15 ms window (66.7 Hz away)
# and the scan loses them.
_SCAN_MAX_DEVIATION_PCT = 2.5
# Share of the window's power that the row and column tone must hold (0.8 for a digit at 6 dB
# SNR; a 1.5 % offset and partial windows at the edges cost part of it).
_SCAN_MIN_SHARE = 0.35
# Each of the two tones must be this much stronger than the other rows (columns); a tone 3.5 %
# off still leaks 10 dB below itself into the neighbour.
_SCAN_NEIGHBOUR_RATIO = 10 ** (6.0 / 10)
# The scan looks for tones down to this far below the level limit (partial windows at the edges).
_SCAN_LEVEL_MARGIN_DB = 6.0
# A candidate needs this many windows on (about 25 ms of tone); shorter ones cannot pass.
_SCAN_MIN_WINDOWS = 3
# The first fit of a candidate keeps this far inside the windows found on.
_EDGE_GUARD_S = 0.005
# The final fit leaves this much out after each start and before each end (switching transients).
_STEADY_GUARD_S = 0.002
# Shortest piece of a tone that the final fit uses, samples (an interrupted tone's fragments).
_MIN_PIECE = 16
# Purity is judged on the residual in this band.
_PURITY_BAND_HZ = (300.0, 3400.0)
# Dial, ringback and busy tone components (ITU-T E.180): a digit keyed over them is still a digit.
_CALL_PROGRESS_HZ = (350.0, 400.0, 425.0, 440.0, 450.0, 480.0, 620.0)
# Purity ignores this close to each tone (at least): a long tone's slow drift is not another signal.
_NEAR_TONE_HZ = 25.0
# A residual peak this far above the residual's median spectral level is a signal, not noise.
_PEAK_SIGNIFICANCE_DB = 15.0
# Gauss-Newton stops when the frequencies move less than this.
_CONVERGED_HZ = 0.01


@dataclass(frozen=True)
class DtmfLimits:
    """Decision points of the receiver; in brackets the must-accept / must-reject values.

    max_deviation_pct: largest accepted |measured/nominal - 1| of each tone, percent (1.5 / 3.5;
        at most 2.5, which the scan can still see).
    twist_min_db, twist_max_db: accepted high-group minus low-group level, dB (-8..+4 / -10..+6).
    min_level_dbm: weakest accepted tone, dBm into the receiver's impedance (-36 / -45).
    min_on_ms: shortest accepted tone, start to end, ms (40 / 23; 35 leaves margin for talk-off).
    max_interruption_ms: longer breaks end a digit, shorter ones are bridged, ms (10 / 40).
    max_other_peak_db: strongest significant other spectral peak allowed, dB relative to the
        weaker tone (talk-off guard; speech leaves its other harmonics within about 15 dB).
    max_other_power_db: other in-band power allowed, dB relative to both tones together
        (-7 dB at 6 dB SNR over 0-4 kHz).
    """

    max_deviation_pct: float = 2.5
    twist_min_db: float = -9.0
    twist_max_db: float = 5.0
    min_level_dbm: float = -40.5
    min_on_ms: float = 35.0
    max_interruption_ms: float = 25.0
    max_other_peak_db: float = -20.0
    max_other_power_db: float = -3.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in vars(self).values()):
            raise ValueError(f"DtmfLimits: every limit must be a finite number, got {self}")
        if not 0 < self.max_deviation_pct <= _SCAN_MAX_DEVIATION_PCT:
            raise ValueError(f"DtmfLimits: max_deviation_pct must lie in (0, {_SCAN_MAX_DEVIATION_PCT}] %, got "
                             f"{self.max_deviation_pct} (the scan's 15 ms windows lose tones further off; "
                             "measure such a generator with tones.tone_components)")
        if not self.twist_min_db < self.twist_max_db:
            raise ValueError(f"DtmfLimits: twist_min_db {self.twist_min_db} must be below twist_max_db "
                             f"{self.twist_max_db}")
        if not (self.min_on_ms > 0 and self.max_interruption_ms >= 0):
            raise ValueError(f"DtmfLimits: need min_on_ms > 0 and max_interruption_ms >= 0, got "
                             f"{self.min_on_ms}, {self.max_interruption_ms}")


@dataclass(frozen=True)
class DtmfDigit:
    """One detected DTMF digit, measured.

    digit: the key ("0".."9", "*", "#", "A".."D"). start_s, end_s: bench times of the tone's
    switch-on and switch-off (for a ramped tone, about the middle of each ramp), seconds;
    duration_ms: end minus start, ms (a bridged interruption included). low_hz, high_hz: measured
    frequencies of the row and column tone, Hz. low_dbm, high_dbm: their levels, dBm into the
    receiver's impedance. twist_db: high minus low, dB.
    """

    digit: str
    start_s: float
    end_s: float
    duration_ms: float
    low_hz: float
    high_hz: float
    low_dbm: float
    high_dbm: float
    twist_db: float


@dataclass(frozen=True)
class DtmfBurst:
    """One digit to generate: key, start (s from the capture's first sample) and tone-on time (ms)."""

    digit: str
    start_s: float
    on_ms: float


# ---------------------------------------------------------------------------------------------
# Generator


def dtmf_frequencies_hz(digit: str) -> tuple[float, float]:
    """Nominal (low, high) frequencies in Hz of a key; ValueError for anything else."""
    if isinstance(digit, str) and len(digit) == 1:
        for r, row in enumerate(KEYS):
            if digit in row:
                return ROWS_HZ[r], COLUMNS_HZ[row.index(digit)]
    raise ValueError(f"not a DTMF key: {digit!r} (use 0-9, *, #, A-D)")


def dtmf_schedule(digits: str, on_ms: float | Sequence[float] = 50.0, off_ms: float | Sequence[float] = 50.0,
                  lead_ms: float = 50.0) -> tuple[DtmfBurst, ...]:
    """Bursts for a dial string: lead_ms of silence, then each digit on_ms on and off_ms off.

    on_ms and off_ms are one value for every digit or a sequence with one per digit.
    """
    keys = _checked_keys(digits)
    ons = _per_digit(on_ms, len(keys), "on_ms")
    offs = _per_digit(off_ms, len(keys), "off_ms")
    if not all(v > 0 for v in ons):
        raise ValueError(f"dtmf_schedule: on_ms must be > 0, got {on_ms}")
    if not all(v >= 0 for v in offs):
        raise ValueError(f"dtmf_schedule: off_ms must be >= 0, got {off_ms}")
    if not lead_ms >= 0:
        raise ValueError(f"dtmf_schedule: lead_ms must be >= 0, got {lead_ms}")
    bursts, t_s = [], lead_ms / 1000.0
    for key, on, off in zip(keys, ons, offs):
        bursts.append(DtmfBurst(key, t_s, on))
        t_s += (on + off) / 1000.0
    return tuple(bursts)


def dtmf_waveform(bursts: Sequence[DtmfBurst], duration_s: float, sample_rate_hz: float = 8000.0,
                  level_dbm: float = -6.0, twist_db: float = 2.0,
                  freq_offsets_pct: tuple[float, float] = (0.0, 0.0), impedance_ohm: float = 600.0,
                  rng: np.random.Generator | None = None, snr_db: float | None = None,
                  rise_ms: float = 0.0, name: str = "dtmf") -> Waveform:
    """A capture in volts holding the bursts: each a low tone at level_dbm (dBm into impedance_ohm)
    plus a high tone twist_db above it.

    freq_offsets_pct: (low, high) offsets of the tones from nominal, percent. rng: draws each
    burst's starting phases (zero phase without it) and the noise. snr_db: white noise over the
    whole capture, snr_db below the power of both tones together while on; needs rng. rise_ms:
    raised-cosine rise at the start and fall at the end of each burst, inside its on_ms (0: the
    tones switch abruptly).
    """
    if not sample_rate_hz >= 8000.0:
        raise ValueError(f"dtmf_waveform: sample_rate_hz must be >= 8000, got {sample_rate_hz}")
    if not duration_s > 0:
        raise ValueError(f"dtmf_waveform: duration_s must be > 0, got {duration_s}")
    if snr_db is not None and rng is None:
        raise ValueError("dtmf_waveform: snr_db needs rng (a numpy Generator) for the noise")
    if len(freq_offsets_pct) != 2 or not all(abs(p) < 50 for p in freq_offsets_pct):
        raise ValueError(f"dtmf_waveform: freq_offsets_pct must be (low, high) within +-50 %, got {freq_offsets_pct}")
    if not rise_ms >= 0:
        raise ValueError(f"dtmf_waveform: rise_ms must be >= 0, got {rise_ms}")
    low_v = dbm_to_vrms(level_dbm, impedance_ohm) * math.sqrt(2)
    high_v = dbm_to_vrms(level_dbm + twist_db, impedance_ohm) * math.sqrt(2)
    n = int(round(duration_s * sample_rate_hz))
    x = np.zeros(n)
    for burst in bursts:
        low_hz, high_hz = dtmf_frequencies_hz(burst.digit)
        low_hz *= 1 + freq_offsets_pct[0] / 100
        high_hz *= 1 + freq_offsets_pct[1] / 100
        i0 = int(round(burst.start_s * sample_rate_hz))
        i1 = int(round((burst.start_s + burst.on_ms / 1000) * sample_rate_hz))
        if not 0 <= i0 < i1 <= n:
            raise ValueError(f"dtmf_waveform: burst {burst} does not fit in the {duration_s} s capture")
        phase = rng.uniform(0, 2 * np.pi, 2) if rng is not None else (0.0, 0.0)
        t = np.arange(i1 - i0) / sample_rate_hz
        if 2 * rise_ms > burst.on_ms:
            raise ValueError(f"dtmf_waveform: rise_ms {rise_ms} does not fit twice in the burst {burst}")
        envelope = np.clip(np.minimum(t, t[-1] - t) / (rise_ms / 1000), 0, 1) if rise_ms > 0 else 1.0
        envelope = 0.5 - 0.5 * np.cos(np.pi * envelope)
        x[i0:i1] += envelope * (low_v * np.sin(2 * np.pi * low_hz * t + phase[0])
                                + high_v * np.sin(2 * np.pi * high_hz * t + phase[1]))
    if snr_db is not None:
        x = add_white_noise(x, snr_db, rng, signal_power=(low_v**2 + high_v**2) / 2)
    return Waveform(x, sample_rate_hz, name=name)


def dtmf_signal(digits: str, sample_rate_hz: float = 8000.0, on_ms: float | Sequence[float] = 50.0,
                off_ms: float | Sequence[float] = 50.0, level_dbm: float = -6.0, twist_db: float = 2.0,
                freq_offsets_pct: tuple[float, float] = (0.0, 0.0), impedance_ohm: float = 600.0,
                lead_ms: float = 50.0, tail_ms: float = 50.0, rng: np.random.Generator | None = None,
                snr_db: float | None = None, rise_ms: float = 0.0) -> Waveform:
    """A dial string as a capture: lead_ms of silence, the digits (on_ms on, off_ms off, one value or
    one per digit), tail_ms of silence after the last tone. level_dbm is the low tone, dBm into
    impedance_ohm; twist_db is high minus low. See dtmf_waveform for the rest.
    """
    if not tail_ms >= 0:
        raise ValueError(f"dtmf_signal: tail_ms must be >= 0, got {tail_ms}")
    bursts = dtmf_schedule(digits, on_ms, off_ms, lead_ms)
    end_s = bursts[-1].start_s + bursts[-1].on_ms / 1000.0 if bursts else lead_ms / 1000.0
    return dtmf_waveform(bursts, end_s + tail_ms / 1000.0, sample_rate_hz, level_dbm, twist_db, freq_offsets_pct,
                         impedance_ohm, rng, snr_db, rise_ms)


def _checked_keys(digits: str) -> list[str]:
    if not isinstance(digits, str):
        raise ValueError(f"digits must be a string of DTMF keys, got {type(digits).__name__}")
    for key in digits:
        dtmf_frequencies_hz(key)
    return list(digits)


def _per_digit(value: float | Sequence[float], n: int, what: str) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)] * n
    values = [float(v) for v in value]
    if len(values) != n:
        raise ValueError(f"{what}: {len(values)} values for {n} digits")
    return values


# ---------------------------------------------------------------------------------------------
# Receiver


def detect_dtmf(w: Waveform, impedance_ohm: float = 600.0,
                limits: DtmfLimits = DtmfLimits()) -> tuple[DtmfDigit, ...]:
    """The DTMF digits in a capture (volts), in time order, each measured; see the module docstring.

    Any sample rate of 8 kS/s or more. Levels are dBm into impedance_ohm. The capture's mean is
    removed first (a tip-ring capture rides on the loop's DC voltage). A tone already on at the
    start or still on at the end of the capture is measured over the part that was captured.
    """
    x = checked_samples(w, "detect_dtmf", min_samples=1)
    fs = float(w.sample_rate_hz)
    if fs < 8000.0:
        raise ValueError(f"detect_dtmf: sample_rate_hz must be >= 8000, got {fs:g}")
    if not isinstance(limits, DtmfLimits):
        raise ValueError(f"detect_dtmf: limits must be a DtmfLimits, got {type(limits).__name__}")
    min_power = dbm_to_vrms(limits.min_level_dbm - _SCAN_LEVEL_MARGIN_DB, impedance_ohm) ** 2
    x = x - x.mean()
    judged = (_judge(x, fs, key, pieces, impedance_ohm, limits)
              for key, pieces in _digit_pieces(x, fs, _candidates(x, fs, min_power), limits))
    return tuple(replace(d, start_s=w.start_s + d.start_s, end_s=w.start_s + d.end_s) for d in judged if d)


def dtmf_digits(w: Waveform, impedance_ohm: float = 600.0, limits: DtmfLimits = DtmfLimits()) -> str:
    """The dialled string in a capture, e.g. "5551234#" (detect_dtmf's digits joined)."""
    return "".join(d.digit for d in detect_dtmf(w, impedance_ohm, limits))


@dataclass(frozen=True)
class _Candidate:
    """Where the scan saw a key: its first fit uses samples [i0, i1), its edges lie in [s0, s1)."""

    key: tuple[int, int]  # (row, column)
    i0: int
    i1: int
    s0: int
    s1: int


@dataclass(frozen=True)
class _Fit:
    """Least-squares fit of two tones to pieces of a capture: common frequencies, and for each piece
    its own amplitudes, phases and DC level (an interrupted tone may resume with any phase), plus
    one slope.

    centre: sample index where the model's time is zero; span: samples from the first piece's
    start to the last one's end; freqs_hz: the two frequencies; coef: per piece the cos and sin
    amplitude of each tone about centre and the DC level (five values), then the slope;
    lengths: samples in each piece; residual: the samples of the pieces minus the model.
    """

    centre: float
    span: int
    freqs_hz: np.ndarray
    coef: np.ndarray
    lengths: np.ndarray
    residual: np.ndarray

    def tones(self, index: np.ndarray, fs: float) -> np.ndarray:
        """The first piece's two tones (no DC or slope) at the sample indices given."""
        basis = _basis(index - self.centre, self.freqs_hz / fs, self.span)
        return basis[:, :4] @ self.coef[:4]

    @property
    def dc(self) -> float:
        """The first piece's DC level."""
        return float(self.coef[4])

    @property
    def amplitudes(self) -> np.ndarray:
        """Peak amplitudes of the low and the high tone (power average over the pieces)."""
        per_piece = self.coef[:-1].reshape(-1, 5)
        power = per_piece[:, 0:4:2] ** 2 + per_piece[:, 1:4:2] ** 2
        return np.sqrt(self.lengths @ power / self.lengths.sum())


def _candidates(x: np.ndarray, fs: float, min_power: float) -> list[_Candidate]:
    """Runs of 15 ms windows (5 ms apart) on the same key; see the module docstring."""
    block = int(round(_BLOCK_S * fs))
    nb = len(x) // block
    nw = nb - _WINDOW_BLOCKS + 1
    if nw < _SCAN_MIN_WINDOWS:
        return []
    blocks = x[:nb * block].reshape(nb, block)
    omega = 2 * np.pi * _NOMINAL_HZ / fs
    m = np.arange(block)[:, None]
    prod = blocks @ np.hstack([np.cos(omega * m), -np.sin(omega * m)])
    coef = prod[:, :8] + 1j * prod[:, 8:]  # each block's DFT, phase referred to the block's start
    step = np.exp(-1j * omega * block)
    window = coef[:nw].copy()
    for k in range(1, _WINDOW_BLOCKS):
        window += coef[k:k + nw] * step**k
    n_win = block * _WINDOW_BLOCKS
    power = 2 * np.abs(window) ** 2 / n_win**2  # the power of a sinusoid at the nominal frequency
    block_energy = np.einsum("ij,ij->i", blocks, blocks)
    total = np.convolve(block_energy, np.ones(_WINDOW_BLOCKS), "valid") / n_win
    rows, cols = np.sort(power[:, :4], axis=1), np.sort(power[:, 4:], axis=1)
    row, col = np.argmax(power[:, :4], axis=1), np.argmax(power[:, 4:], axis=1)
    p_row, p_col = rows[:, 3], cols[:, 3]
    on = ((p_row >= min_power) & (p_col >= min_power) & (p_row + p_col >= _SCAN_MIN_SHARE * total)
          & (rows[:, 2] * _SCAN_NEIGHBOUR_RATIO <= p_row) & (cols[:, 2] * _SCAN_NEIGHBOUR_RATIO <= p_col))
    key = np.where(on, row * 4 + col, -1)
    # A single window lost in noise does not split a run.
    lost = (key[1:-1] != key[:-2]) & (key[:-2] == key[2:]) & (key[:-2] >= 0)
    key[1:-1][lost] = key[:-2][lost]
    change = np.flatnonzero(np.diff(key)) + 1
    guard = int(round(_EDGE_GUARD_S * fs))
    out = []
    for a, b in zip(np.concatenate([[0], change]), np.concatenate([change, [nw]])):
        if key[a] < 0 or b - a < _SCAN_MIN_WINDOWS:
            continue
        c0, c1 = a * block + n_win // 2, (b - 1) * block + n_win // 2  # centres of first and last window on
        i0, i1 = (c0 + guard, c1 - guard) if c1 - c0 >= 4 * guard else (c0, c1)
        out.append(_Candidate(divmod(int(key[a]), 4), int(i0), int(i1), int(max(0, c0 - n_win)),
                              int(min(len(x), c1 + n_win))))
    return out


def _digit_pieces(x: np.ndarray, fs: float, cands: list[_Candidate],
                  limits: DtmfLimits) -> list[tuple[tuple[int, int], list[tuple[int, int]]]]:
    """Each candidate's measured (start, end) samples; runs of one key broken by interruptions of at
    most limits.max_interruption_ms become one digit. Returns [(key, [(start, end), ...])]."""
    digits: list[tuple[tuple[int, int], list[tuple[int, int]]]] = []
    bridge = limits.max_interruption_ms / 1000 * fs
    for k, c in enumerate(cands):
        # An edge search stops where a neighbour's first fit begins.
        s0 = max(c.s0, cands[k - 1].i1) if k else c.s0
        s1 = min(c.s1, cands[k + 1].i0) if k + 1 < len(cands) else c.s1
        fit = _fit_two_tones(x, fs, [(c.i0, c.i1)], c.key, iterations=0)
        start, end = _edges(x, fs, fit, c.i0, c.i1, s0, s1)
        if digits and digits[-1][0] == c.key and start - digits[-1][1][-1][1] <= bridge:
            pieces = digits[-1][1]
            if start <= pieces[-1][1]:  # the scan split one tone: its two halves meet
                pieces[-1] = (pieces[-1][0], max(end, pieces[-1][1]))
            else:
                pieces.append((start, end))
        else:
            digits.append((c.key, [(start, end)]))
    return digits


def _fit_two_tones(x: np.ndarray, fs: float, pieces: Sequence[tuple[int, int]], key: tuple[int, int],
                   iterations: int) -> _Fit:
    """Fit the row and column tone of key to x over the pieces [start, end) (see _Fit).

    Starts from the largest peak of the longest piece's spectrum within 5 % of each nominal
    frequency (parabolic interpolation of the log magnitude), then takes Gauss-Newton steps on
    the two frequencies with the linear terms solved jointly (normal equations of columns
    scaled to order one).
    """
    lengths = np.array([b - a for a, b in pieces])
    index = np.concatenate([np.arange(a, b) for a, b in pieces])
    which = np.repeat(np.arange(len(pieces)), lengths)  # the piece of each sample
    seg = x[index]
    span = int(pieces[-1][1] - pieces[0][0])
    centre = (pieces[0][0] + pieces[-1][1] - 1) / 2
    u = index - centre
    longest = pieces[int(np.argmax(lengths))]
    nominal = np.array([ROWS_HZ[key[0]], COLUMNS_HZ[key[1]]])
    nu = _spectral_peaks(x[longest[0]:longest[1]], nominal / fs)
    for _ in range(iterations):
        columns = _basis(u, nu, span)
        basis = _piecewise(columns, lengths)
        coef = _solve(basis, seg)
        per_piece = coef[:-1].reshape(-1, 5)
        per_sample = per_piece if len(lengths) == 1 else per_piece[which]
        jac = (2 * np.pi * u / span)[:, None] * (per_sample[:, 1:4:2] * columns[:, 0:4:2]
                                                 - per_sample[:, 0:4:2] * columns[:, 1:4:2])
        step = _solve(np.hstack([basis, jac]), seg - basis @ coef)[-2:] / span  # d/d(nu * span)
        nu = nu + step
        if np.max(np.abs(step)) * fs < _CONVERGED_HZ:
            break
    basis = _piecewise(_basis(u, nu, span), lengths)
    coef = _solve(basis, seg)
    return _Fit(centre, span, nu * fs, coef, lengths, seg - basis @ coef)


def _spectral_peaks(seg: np.ndarray, nominal_nu: np.ndarray) -> np.ndarray:
    """Frequencies (cycles/sample) of the largest spectral peak within 5 % of each nominal one."""
    n = len(seg)
    nfft = 1 << int(math.ceil(math.log2(4 * n)))
    spec = np.log(np.abs(np.fft.rfft(seg * np.hanning(n), nfft)) + 1e-300)
    found = np.empty(len(nominal_nu))
    for k, nu in enumerate(nominal_nu):
        lo, hi = int(nu * 0.95 * nfft), int(math.ceil(nu * 1.05 * nfft)) + 1
        p = min(max(lo + int(np.argmax(spec[lo:hi])), 1), len(spec) - 2)
        a, b, c = spec[p - 1:p + 2]
        curvature = a - 2 * b + c
        found[k] = (p + (0.5 * (a - c) / curvature if curvature < 0 else 0.0)) / nfft
    return found


def _basis(u: np.ndarray, nu: np.ndarray, span: int) -> np.ndarray:
    """Columns cos, sin of each tone (nu in cycles/sample) at samples u from the centre, then 1 and u/span."""
    columns = np.empty((6, len(u)))
    arg = np.multiply.outer(2 * np.pi * nu, u)
    np.cos(arg, out=columns[0:4:2])
    np.sin(arg, out=columns[1:4:2])
    columns[4] = 1.0
    columns[5] = u / span
    return columns.T


def _piecewise(basis: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The first five columns of basis repeated for each piece (zero outside it), then the last one."""
    if len(lengths) == 1:
        return basis
    out = np.zeros((len(basis), 5 * len(lengths) + 1))
    ends = np.cumsum(lengths)
    for p, (a, b) in enumerate(zip(ends - lengths, ends)):
        out[a:b, 5 * p:5 * p + 5] = basis[a:b, :5]
    out[:, -1] = basis[:, 5]
    return out


def _solve(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares solution of a @ c = y by the normal equations (columns are of order one)."""
    return np.linalg.solve(a.T @ a, a.T @ y)


def _edges(x: np.ndarray, fs: float, fit: _Fit, i0: int, i1: int, s0: int, s1: int) -> tuple[int, int]:
    """Start and end sample of the fitted tones, fitted on [i0, i1): the switch-on point in
    [s0, i0] and switch-off point in [i1, s1] that best explain x as noise plus the fitted tones
    while on. Least squares: maximise the sum of (2 x - m) m over the on part, m the model."""
    s0, s1 = min(s0, i0), max(s1, i1)
    index = np.arange(s0, s1)
    model = fit.tones(index, fs)
    gain = (2 * (x[s0:s1] - fit.dc) - model) * model
    prefix = np.concatenate([[0.0], np.cumsum(gain)])
    start = int(np.argmin(prefix[:i0 - s0 + 1]))
    end = i1 - s0 + int(np.argmax(prefix[i1 - s0:]))
    return int(s0 + start), int(s0 + end)


def _judge(x: np.ndarray, fs: float, key: tuple[int, int], pieces: list[tuple[int, int]], impedance_ohm: float,
           limits: DtmfLimits) -> DtmfDigit | None:
    """The digit, measured over the steady part of its pieces, if it meets the limits; else None."""
    start, end = pieces[0][0], pieces[-1][1]
    duration_ms = (end - start) / fs * 1000
    if duration_ms < limits.min_on_ms:
        return None
    guard = int(round(_STEADY_GUARD_S * fs))
    steady = [(a + guard, b - guard) for a, b in pieces if b - a >= 2 * guard + _MIN_PIECE]
    if not steady:
        return None
    fit = _fit_two_tones(x, fs, steady, key, iterations=3)
    amplitudes = fit.amplitudes
    if np.any(amplitudes <= 0):
        return None
    low_dbm, high_dbm = (vrms_to_dbm(float(a) / math.sqrt(2), impedance_ohm) for a in amplitudes)
    twist_db = high_dbm - low_dbm
    nominal = np.array([ROWS_HZ[key[0]], COLUMNS_HZ[key[1]]])
    if (np.any(np.abs(fit.freqs_hz / nominal - 1) * 100 > limits.max_deviation_pct)
            or not limits.twist_min_db <= twist_db <= limits.twist_max_db
            or min(low_dbm, high_dbm) < limits.min_level_dbm):
        return None
    other_peak_db, other_power_db = _impurity_db(fit, fs, amplitudes**2 / 2)
    if other_peak_db > limits.max_other_peak_db or other_power_db > limits.max_other_power_db:
        return None
    return DtmfDigit(KEYS[key[0]][key[1]], start / fs, end / fs, float(duration_ms), float(fit.freqs_hz[0]),
                     float(fit.freqs_hz[1]), low_dbm, high_dbm, twist_db)


def _impurity_db(fit: _Fit, fs: float, tone_powers: np.ndarray) -> tuple[float, float]:
    """(strongest significant other peak re the weaker tone, other in-band power re both tones), dB.

    From the periodogram (Hann window) of the fit's residual in _PURITY_BAND_HZ. A peak counts
    when it stands _PEAK_SIGNIFICANCE_DB above the band's median level (in 14,000 digits at 4-12 dB
    SNR no noise peak stood more than 13.6 dB above it) and lies away from the two tones, from the
    harmonic and intermodulation products a DUT's generator adds, and from call-progress tones that
    may be on the line at the same time. Speech leaves its other harmonics there; the peak is -inf
    when nothing stands out.
    """
    r = fit.residual
    n = len(r)
    win = np.hanning(n)
    nfft = 1 << int(math.ceil(math.log2(2 * n)))
    spec = np.abs(np.fft.rfft(r * win, nfft)) ** 2
    f = np.arange(len(spec)) * fs / nfft
    band = (f >= _PURITY_BAND_HZ[0]) & (f <= min(_PURITY_BAND_HZ[1], fs / 2))
    power_db = 10 * math.log10(2 * spec[band].sum() / (nfft * np.sum(win**2)) / tone_powers.sum() + 1e-300)
    f1, f2 = fit.freqs_hz
    away = band.copy()
    for tone_hz in (f1, f2, 2 * f1, 2 * f2, f2 - f1, f1 + f2, 2 * f1 - f2, 2 * f2 - f1, 3 * f1, 3 * f2,
                    *_CALL_PROGRESS_HZ):
        away &= np.abs(f - tone_hz) > max(2 * fs / n, _NEAR_TONE_HZ)
    peak = spec[away].max() if away.any() else 0.0
    if peak < np.median(spec[band]) * 10 ** (_PEAK_SIGNIFICANCE_DB / 10):
        return -math.inf, power_db
    return 10 * math.log10(2 * peak / win.sum() ** 2 / tone_powers.min()), power_db
