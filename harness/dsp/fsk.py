"""1200 bit/s FSK as caller ID uses it (Bell 202, ITU-T V.23): find bursts, demodulate, modulate.

Receiver, in three steps (telephony-facts.md 4.2 for the signal):

1. Screen (fsk_spans_s). The capture is cut into 10 ms blocks; a Hann-windowed FFT of each block
   gives the power in the FSK band (1000-2400 Hz) and in the rest of the voice band (300-1000 and
   2400-3400 Hz). A burst is a run of blocks loud enough whose power sits mostly in the FSK band
   (white noise puts 45 % there, an FSK burst about 90 %). One FFT per 10 ms: a minute of audio
   at 16 kS/s takes about 10 ms, and only the bursts go on to step 2.
2. Bit clock and tones (demodulate_fsk). Each burst becomes an analytic signal of 16 samples per
   bit (one FFT does the Hilbert transform, the 200-3600 Hz band limit and the resampling). A
   one-bit sliding correlation with each tone gives mark-minus-space energy at every sample;
   its zero crossings are the bit edges. The bit clock is the strongest line of that edge train
   near the nominal bit rate (an edge periodogram over +-2.5 %), so every edge of the burst,
   seizure and data, sets the clock and its rate. The carrier on/off times are the change
   points of the signal power. The mark and space frequencies are then measured from the phase
   advance of the tones from bit to bit (continuous-phase FSK carries the phase over), which
   also tells Bell 202 (1200/2200 Hz) from V.23 (1300/2100 Hz).
3. Decisions. Each bit is integrated and dumped against both tones at the measured frequencies,
   its phase referred to the bit start. The coherent decision compares the real parts against
   a carrier phase reference carried from bit to bit (decision feedback: each decided bit
   rotates the reference by its tone's phase advance and refreshes it), looking one bit ahead
   because the phase at the next bit depends on this one. For continuous-phase FSK in white
   noise this decodes 95 % of 42-byte messages at 2.5 dB (Bell 202) to 4 dB (V.23) less SNR
   than the plain energy comparison (|mark|^2 against |space|^2) with the same clock. The
   energy comparison is used instead when the burst shows that its modulator does not keep the
   phase across tone changes (two switched oscillators): step 2 measures that too. One decision
   per burst, so a caller ID checksum is tested once (a corrupted message can pass an 8-bit sum:
   about 1 in 256, more when two errors hit the same bit of two bytes).

Modulator (fsk_modulate): continuous-phase FSK, exact at any sample rate, with settable tone and
bit-rate offsets. async_frame adds the start and stop bits of asynchronous characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from harness.dsp.levels import checked_samples, dbm_to_vrms, vrms_to_dbm
from harness.dsp.waveform import Waveform


@dataclass(frozen=True)
class FskStandard:
    """An FSK modem: name, mark (binary 1) and space (binary 0) frequencies in Hz, bit rate in bit/s."""

    name: str
    mark_hz: float
    space_hz: float
    bit_rate_bps: float = 1200.0


BELL202 = FskStandard("bell202", 1200.0, 2200.0)
V23 = FskStandard("v23", 1300.0, 2100.0)
FSK_STANDARDS = {s.name: s for s in (BELL202, V23)}

# Screen: block length, and the bands that tell an FSK burst from noise (see the module docstring).
_BLOCK_S = 0.010
_FSK_BAND_HZ = (1000.0, 2400.0)
_VOICE_BAND_HZ = (300.0, 3400.0)
_MIN_FSK_SHARE = 0.62
_MIN_BURST_BLOCKS = 8        # 80 ms: shorter than any caller ID burst (CIDCW: 67 ms of mark, then data)
_MAX_GAP_BLOCKS = 2          # a 20 ms dip in a burst (noise) does not split it
_MARGIN_S = 0.030            # kept on each side of a screened burst for the demodulator
_MAX_BURST_S = 4.0           # longer than the longest caller ID burst (255-byte message: 2.6 s)

# Demodulator.
_SAMPLES_PER_BIT = 16        # working rate 19.2 kS/s: bit windows within 1/32 bit of the true edges
_ANALYTIC_BAND_HZ = (200.0, 3600.0)  # drops DC, ringing and its low harmonics; keeps the FSK main lobes
_MAX_RATE_OFFSET = 0.025     # bit clock searched within +-2.5 % of nominal
_MAX_TONE_OFFSET = 0.04      # measured tones must be within 4 % of a standard's
_MIN_STEADINESS = 0.8        # FSK keeps its phase from bit to bit, noise does not (see _tone_frequencies)
_REFERENCE_MEMORY = 0.9      # decision-feedback phase reference: weight kept per bit (about 10 bits)
_MIN_EDGES = 8
# Bits read past the carrier-off change point: in noise the power can dip for a few bits before
# the true end (at 7 dB SNR, 3 bits in about 1 burst of 200); the framing stops at the message end.
_END_SLACK_BITS = 6


@dataclass(frozen=True)
class FskBits:
    """A demodulated FSK burst.

    standard: "bell202" or "v23", from the measured mark frequency.
    start_s, end_s: bench times the carrier turned on and off, seconds.
    level_dbm: power of the FSK signal while on, noise power subtracted, dBm into the impedance.
    mark_freq_hz, space_freq_hz, bit_rate_bps: as measured.
    first_bit_s: bench time the first bit starts; bit k starts at first_bit_s + k / bit_rate_bps.
    phase_continuous: the phase carries over tone changes (then bits are coherent decisions,
    else energy comparisons).
    bits: decisions, 1 = mark, one per bit from carrier on to 6 bits after carrier off.
    """

    standard: str
    start_s: float
    end_s: float
    level_dbm: float
    mark_freq_hz: float
    space_freq_hz: float
    bit_rate_bps: float
    first_bit_s: float
    phase_continuous: bool
    bits: np.ndarray = field(compare=False, repr=False)

    def bit_start_s(self, k: float) -> float:
        """Bench time bit k starts (k may be len(bits) for the end of the last bit), seconds."""
        return self.first_bit_s + k / self.bit_rate_bps


def async_frame(data: bytes) -> np.ndarray:
    """Bits of asynchronous characters: per byte a start bit (0), 8 data bits LSB first, a stop bit (1)."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"async_frame: data must be bytes, got {type(data).__name__}")
    b = np.frombuffer(bytes(data), dtype=np.uint8)
    data_bits = (b[:, None] >> np.arange(8)) & 1
    chars = np.hstack([np.zeros((len(b), 1), np.uint8), data_bits, np.ones((len(b), 1), np.uint8)])
    return chars.ravel()


def fsk_modulate(bits, standard: FskStandard, sample_rate_hz: float, amplitude: float,
                 freq_offset_pct: float = 0.0, bit_rate_offset_pct: float = 0.0,
                 phase_rad: float = 0.0) -> np.ndarray:
    """Continuous-phase FSK samples for bits (1 = mark), amplitude in the unit wanted (peak).

    Both tones are moved by freq_offset_pct and the bit rate by bit_rate_offset_pct (percent of
    nominal). The phase is carried exactly across every bit edge, even where an edge falls
    between samples. Sample n (time n / sample_rate_hz) belongs to the bit under way then.
    """
    b = np.asarray(bits)
    if b.ndim != 1 or b.size == 0 or not np.all((b == 0) | (b == 1)):
        raise ValueError("fsk_modulate: bits must be a non-empty 1-D sequence of 0 and 1")
    if not sample_rate_hz >= 2 * (standard.space_hz + standard.bit_rate_bps):
        raise ValueError(f"fsk_modulate: sample_rate_hz {sample_rate_hz} too low for {standard.name}")
    rate = standard.bit_rate_bps * (1 + bit_rate_offset_pct / 100)
    tone_hz = np.where(b == 1, standard.mark_hz, standard.space_hz) * (1 + freq_offset_pct / 100)
    bit_start_phase = phase_rad + np.concatenate([[0.0], np.cumsum(2 * np.pi * tone_hz / rate)[:-1]])
    n = int(round(b.size * sample_rate_hz / rate))
    t = np.arange(n) / sample_rate_hz
    k = np.minimum((t * rate).astype(int), b.size - 1)
    return amplitude * np.cos(bit_start_phase[k] + 2 * np.pi * tone_hz[k] * (t - k / rate))


def fsk_spans_s(w: Waveform, min_level_dbm: float = -48.0, impedance_ohm: float = 600.0) -> list[tuple[float, float]]:
    """Bench-time spans (start_s, end_s) of w that may hold an FSK burst, with 30 ms margins.

    A burst is 80 ms to 4 s of 10 ms blocks whose FSK-band power is at least min_level_dbm
    (dBm into impedance_ohm) and at least 62 % of the voice-band power. Cheap; the demodulator
    decides what the span holds.
    """
    x = checked_samples(w, "fsk_spans_s", min_samples=2)
    fs = _check_rate(w.sample_rate_hz, "fsk_spans_s")
    block = int(round(fs * _BLOCK_S))
    n_blocks = len(x) // block
    if n_blocks < _MIN_BURST_BLOCKS:
        return []
    window = np.hanning(block + 2)[1:-1]
    freqs = np.fft.rfftfreq(block, 1.0 / fs)
    # The voice band is a contiguous run of bins and holds the FSK band: square only those.
    v0, v1 = np.searchsorted(freqs, _VOICE_BAND_HZ[0]), np.searchsorted(freqs, _VOICE_BAND_HZ[1], side="right")
    f0, f1 = np.searchsorted(freqs, _FSK_BAND_HZ[0]), np.searchsorted(freqs, _FSK_BAND_HZ[1], side="right")
    spectrum = np.fft.rfft(x[:n_blocks * block].reshape(n_blocks, block) * window, axis=1)[:, v0:v1]
    power = spectrum.real**2 + spectrum.imag**2
    fsk_power = power[:, f0 - v0:f1 - v0].sum(axis=1)
    voice_power = power.sum(axis=1)
    # Parseval for a windowed one-sided spectrum: mean square = 2 * sum |X|^2 / (N * sum w^2).
    fsk_ms = 2 * fsk_power / (block * float(np.sum(window**2)))
    min_ms = dbm_to_vrms(min_level_dbm, impedance_ohm) ** 2
    loud = (fsk_ms >= min_ms) & (fsk_power >= _MIN_FSK_SHARE * voice_power)
    spans = []
    for b0, b1 in _runs(loud, _MAX_GAP_BLOCKS):
        if _MIN_BURST_BLOCKS <= b1 - b0 <= _MAX_BURST_S / _BLOCK_S:
            spans.append((w.start_s + max(0.0, b0 * _BLOCK_S - _MARGIN_S),
                          w.start_s + min(w.duration_s, b1 * block / fs + _MARGIN_S)))
    return spans


def demodulate_fsk(w: Waveform, impedance_ohm: float = 600.0) -> FskBits | None:
    """Demodulate the one FSK burst in w (a span from fsk_spans_s); None if w holds no FSK burst.

    See the module docstring for the method. None when no carrier edge pair, too few bit edges
    for a clock, a phase that wanders from bit to bit (noise), or tones that are neither Bell 202
    nor V.23 within 4 %.
    """
    x = checked_samples(w, "demodulate_fsk", min_samples=16)
    fs = _check_rate(w.sample_rate_hz, "demodulate_fsk")
    z, work_hz = _analytic(x, fs, BELL202.bit_rate_bps * _SAMPLES_PER_BIT)
    carrier = _carrier_span(np.abs(z) ** 2)
    if carrier is None:
        return None
    on, off = carrier
    # First pass: tone references between the two standards' (1250/2150 Hz), good for either.
    guess_mark_hz = (BELL202.mark_hz + V23.mark_hz) / 2
    guess_space_hz = (BELL202.space_hz + V23.space_hz) / 2
    clock = _bit_clock(z, work_hz, on, off, guess_mark_hz, guess_space_hz)
    if clock is None:
        return None
    first_bit, bit_samples = clock
    carrier_bits = int((off - first_bit) / bit_samples + 0.5)
    if carrier_bits < _MIN_EDGES:
        return None
    n_bits = min(carrier_bits + _END_SLACK_BITS, int((len(z) - first_bit) / bit_samples))
    starts = first_bit + bit_samples * np.arange(n_bits)
    zm, zs = _bit_correlations(z, work_hz, starts, bit_samples, (guess_mark_hz, guess_space_hz))
    mark_hz, space_hz, steadiness, continuity = _tone_frequencies(
        zm[:carrier_bits], zs[:carrier_bits], bit_samples / work_hz, guess_mark_hz, guess_space_hz)
    if steadiness < _MIN_STEADINESS:
        return None
    standard = min(FSK_STANDARDS.values(), key=lambda s: abs(mark_hz - s.mark_hz))
    if (abs(mark_hz / standard.mark_hz - 1) > _MAX_TONE_OFFSET
            or abs(space_hz / standard.space_hz - 1) > _MAX_TONE_OFFSET):
        return None
    zm, zs = _bit_correlations(z, work_hz, starts, bit_samples, (mark_hz, space_hz))
    bit_s = bit_samples / work_hz
    phase_continuous = continuity >= _MIN_STEADINESS
    if phase_continuous:
        bits = _coherent_bits(zm, zs, np.exp(2j * np.pi * mark_hz * bit_s), np.exp(2j * np.pi * space_hz * bit_s))
    else:
        bits = (np.abs(zm) > np.abs(zs)).astype(np.uint8)
    return FskBits(standard=standard.name, start_s=w.start_s + on / work_hz, end_s=w.start_s + off / work_hz,
                   level_dbm=_level_dbm(np.abs(z) ** 2, on, off, impedance_ohm),
                   mark_freq_hz=mark_hz, space_freq_hz=space_hz, bit_rate_bps=work_hz / bit_samples,
                   first_bit_s=w.start_s + first_bit / work_hz, phase_continuous=phase_continuous, bits=bits)


def _check_rate(sample_rate_hz: float, purpose: str) -> float:
    if sample_rate_hz < 8000.0:
        raise ValueError(f"{purpose}: sample rate {sample_rate_hz:g} Hz is below the 8000 Hz that FSK caller ID needs")
    return float(sample_rate_hz)


def _runs(mask: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """[start, end) index pairs of True runs in mask, joining runs separated by <= max_gap False."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    firsts = np.concatenate([[idx[0]], idx[breaks + 1]])
    lasts = np.concatenate([idx[breaks], [idx[-1]]])
    return [(int(a), int(b) + 1) for a, b in zip(firsts, lasts)]


def _analytic(x: np.ndarray, fs: float, work_hz: float) -> tuple[np.ndarray, float]:
    """Analytic signal of x limited to the FSK band and resampled to about work_hz, and its exact rate."""
    n = len(x)
    m = max(16, int(round(n * work_hz / fs)))
    spectrum = np.fft.rfft(x)
    freqs = np.arange(spectrum.size) * fs / n
    keep = np.flatnonzero((freqs >= _ANALYTIC_BAND_HZ[0]) & (freqs <= _ANALYTIC_BAND_HZ[1]))
    full = np.zeros(m, complex)
    full[keep] = 2 * spectrum[keep]
    return np.fft.ifft(full) * (m / n), fs * m / n


def _carrier_span(power: np.ndarray) -> tuple[int, int] | None:
    """(on, off) working-sample indices of the carrier: change points of the power |z|^2.

    The off (noise) and on levels are the two clusters of the power averaged over 8 bits, split
    in the log domain (the on level spreads by the noise cross term; the log keeps that spread
    from swallowing the split). Each edge is then where the running sum of (power - halfway
    level) turns: the least-squares step between the two levels, to a fraction of a bit.
    """
    reach = 8 * _SAMPLES_PER_BIT
    if len(power) < 4 * reach:
        return None
    c = np.concatenate([[0.0], np.cumsum(power)])
    smooth = (c[reach:] - c[:-reach])[::_SAMPLES_PER_BIT] / reach
    low, high = _two_levels(np.log(np.maximum(smooth, smooth.max() * 1e-12)))
    if not high > low + math.log(2):
        return None
    low, high = math.exp(low), math.exp(high)
    halfway = (low + high) / 2
    above = np.flatnonzero(smooth > halfway) * _SAMPLES_PER_BIT + reach // 2
    first, last = int(above[0]), int(above[-1])
    lo = max(0, first - reach)
    on = lo + int(np.argmin(np.cumsum(power[lo:first + reach] - halfway))) + 1
    hi = min(len(power), last + reach)
    tail = power[max(0, last - reach):hi] - halfway
    off = hi - int(np.argmin(np.cumsum(tail[::-1]))) - 1
    if off - on < 8 * _SAMPLES_PER_BIT:
        return None
    return on, off


def _two_levels(values: np.ndarray) -> tuple[float, float]:
    """(low, high) medians of a two-cluster split of values, the split starting halfway from min to max."""
    threshold = (values.min() + values.max()) / 2
    low = high = float(threshold)
    for _ in range(50):
        below, above = values[values <= threshold], values[values > threshold]
        if below.size == 0 or above.size == 0:
            break
        low, high = float(np.median(below)), float(np.median(above))
        if (low + high) / 2 == threshold:
            break
        threshold = (low + high) / 2
    return low, high


def _sliding_correlation(z: np.ndarray, work_hz: float, freq_hz: float, length: int) -> np.ndarray:
    """|sum over length samples from n of z e^{-j 2 pi f t}|^2 for every start n."""
    c = np.concatenate([[0], np.cumsum(z * _phasor(-freq_hz / work_hz, len(z)))])
    return np.abs(c[length:] - c[:-length]) ** 2


def _phasor(cycles_per_sample: float, n: int) -> np.ndarray:
    """e^{j 2 pi c k} for k = 0..n-1, as an outer product of two short exponentials (a complex
    exponential costs far more than a multiplication)."""
    rows = int(math.ceil(math.sqrt(n))) or 1
    cols = int(math.ceil(n / rows))
    fine = np.exp(2j * np.pi * cycles_per_sample * np.arange(cols))
    coarse = np.exp(2j * np.pi * cycles_per_sample * cols * np.arange(rows))
    return np.outer(coarse, fine).ravel()[:n]


def _bit_clock(z: np.ndarray, work_hz: float, on: int, off: int, mark_hz: float,
               space_hz: float) -> tuple[float, float] | None:
    """(first bit start, samples per bit) in working samples, from the edges between on and off.

    Edges are the zero crossings of mark-minus-space energy in a one-bit sliding window, placed
    half a window later (the window is then centred on the edge) and weighted by the slope there
    (a crossing made by noise is shallow). The clock is the peak of |sum w e^{j 2 pi r edge}|
    over bit rates r within +-2.5 % of nominal, refined by a parabola; its phase puts the bit starts.
    """
    length = _SAMPLES_PER_BIT
    seg = z[on:off]
    d = _sliding_correlation(seg, work_hz, mark_hz, length) - _sliding_correlation(seg, work_hz, space_hz, length)
    i = np.flatnonzero((np.signbit(d[:-1]) != np.signbit(d[1:])) & (d[:-1] != d[1:]))
    if i.size < _MIN_EDGES:
        return None
    slope = np.abs(d[i] - d[i + 1])
    edges = on + i + d[i] / (d[i] - d[i + 1]) + length / 2
    weights = slope / slope.max()
    # Edge times relative to the middle of the burst keep the phase error of a small period error small.
    centre = (on + off) / 2
    nominal = BELL202.bit_rate_bps / work_hz
    # Coarse grid of bit rates finer than the line's width (about 1/number of bits), then a fine
    # one around its peak, refined by a parabola.
    coarse_step = 2 * _MAX_RATE_OFFSET * nominal / 50
    coarse = _edge_lines(edges - centre, weights, nominal * (1 - _MAX_RATE_OFFSET), coarse_step, 51)
    best = nominal * (1 - _MAX_RATE_OFFSET) + coarse_step * int(np.argmax(coarse))
    fine_step = coarse_step / 10
    strength = _edge_lines(edges - centre, weights, best - coarse_step, fine_step, 21)
    k = int(np.argmax(strength))
    rate = best - coarse_step + k * fine_step
    if 0 < k < len(strength) - 1:
        a, b, c = strength[k - 1:k + 2]
        if a - 2 * b + c < 0:
            rate += 0.5 * (a - c) / (a - 2 * b + c) * fine_step
    period = 1 / rate
    phase = np.angle(np.exp(2j * np.pi * (edges - centre) / period) @ weights)
    first = centre + phase / (2 * np.pi) * period
    first -= np.floor((first - on) / period + 0.5) * period
    return float(first), float(period)


def _edge_lines(edges: np.ndarray, weights: np.ndarray, first_rate: float, step: float, count: int) -> np.ndarray:
    """|sum of weights e^{j 2 pi r edge}| for bit rates r = first_rate + k step (per sample), k < count:
    how well the edges fit each clock. Each step multiplies by e^{j 2 pi step edge} (no exponential
    in the loop)."""
    term = weights * np.exp(2j * np.pi * first_rate * edges)
    turn = np.exp(2j * np.pi * step * edges)
    out = np.empty(count)
    for k in range(count):
        out[k] = abs(term.sum())
        term *= turn
    return out


def _bit_correlations(z: np.ndarray, work_hz: float, starts: np.ndarray, bit_samples: float,
                      freqs_hz: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per bit and tone, sum of z e^{-j 2 pi f (t - bit start)} over the bit: phase referred to the bit start."""
    lo = np.clip(np.ceil(starts).astype(int), 0, len(z))
    hi = np.clip(np.ceil(starts + bit_samples).astype(int), 0, len(z))
    out = []
    for f in freqs_hz:
        c = np.concatenate([[0], np.cumsum(z * _phasor(-f / work_hz, len(z)))])
        out.append((c[hi] - c[lo]) * np.exp(2j * np.pi * f * starts / work_hz))
    return out[0], out[1]


def _tone_frequencies(zm: np.ndarray, zs: np.ndarray, bit_s: float, mark_ref_hz: float,
                      space_ref_hz: float) -> tuple[float, float, float, float]:
    """(mark_hz, space_hz, steadiness, continuity) from the phase advance between consecutive bits.

    With the phase of each bit's correlation referred to its start, continuous-phase FSK makes
    the step from bit k to k+1 (after removing the reference tone's advance over bit k) equal
    pi T (e_k + e_k+1), e being each bit's tone error. Least squares over all pairs of bits,
    twice, the second time without the pairs the first fit cannot explain (bit errors, or the
    tone changes of a modulator that is not phase-continuous).

    steadiness: share of the pairs of equal bits whose phase step the fit explains within 0.8 rad;
    about 1 for FSK (0.9 at 3 dB SNR, 0.85 at 2 dB), at most 0.7 for noise, even noise filtered to the
    FSK band (its phase wanders within a bit or two). continuity: the same share over the pairs of
    different bits; as high for continuous-phase FSK, about 0.25 when the phase jumps at tone changes.
    """
    mark = np.abs(zm) > np.abs(zs)
    z = np.where(mark, zm, zs)
    ref = np.where(mark[:-1], mark_ref_hz, space_ref_hz)
    step = np.angle(z[1:] * np.conj(z[:-1]) * np.exp(-2j * np.pi * ref * bit_s))
    marks_in_pair = mark[:-1].astype(float) + mark[1:]
    design = np.pi * bit_s * np.column_stack([marks_in_pair, 2 - marks_in_pair])
    use = np.ones(step.size, bool)
    for _ in range(2):
        if np.linalg.matrix_rank(design[use]) < 2:
            # No space bits (or no marks): the other tone moves by the same fraction.
            col = 0 if design[use, 0].any() else 1
            err = float(np.sum(design[use, col] * step[use]) / np.sum(design[use, col] ** 2))
            rel = err / (mark_ref_hz if col == 0 else space_ref_hz)
            errors = np.array([err, rel * space_ref_hz] if col == 0 else [rel * mark_ref_hz, err])
        else:
            errors = np.linalg.lstsq(design[use], step[use], rcond=None)[0]
        residual = np.angle(np.exp(1j * (step - design @ errors)))
        use = np.abs(residual) < 0.8
        if use.sum() < 4:
            break
    same = mark[:-1] == mark[1:]
    steadiness = float(np.mean(use[same])) if same.any() else 0.0
    continuity = float(np.mean(use[~same])) if (~same).any() else 1.0
    return mark_ref_hz + float(errors[0]), space_ref_hz + float(errors[1]), steadiness, continuity


def _coherent_bits(zm: np.ndarray, zs: np.ndarray, mark_turn: complex, space_turn: complex) -> np.ndarray:
    """Decision-feedback coherent decisions (1 = mark) with one bit of look-ahead.

    reference: running estimate of the carrier phasor at the start of the current bit. Each
    hypothesis for bit k scores Re(Z_k ref*) plus the best score of bit k+1 against the
    reference advanced by that hypothesis's tone over one bit. The decided bit's correlation
    refreshes the reference, which then advances by that tone (mark_turn, space_turn: e^{j 2 pi f T}).
    """
    m, s = zm.tolist(), zs.tolist()
    mark_turn, space_turn = complex(mark_turn), complex(space_turn)
    mark_back, space_back = mark_turn.conjugate(), space_turn.conjugate()
    n = len(m)
    bits = np.zeros(n, np.uint8)
    ref = m[0] if abs(m[0]) > abs(s[0]) else s[0]
    keep = _REFERENCE_MEMORY
    for k in range(n):
        rc = ref.conjugate()
        score_mark = (m[k] * rc).real
        score_space = (s[k] * rc).real
        if k + 1 < n:
            rm, rs = rc * mark_back, rc * space_back
            score_mark += max((m[k + 1] * rm).real, (s[k + 1] * rm).real)
            score_space += max((m[k + 1] * rs).real, (s[k + 1] * rs).real)
        if score_mark >= score_space:
            bits[k] = 1
            ref = (keep * ref + (1 - keep) * m[k]) * mark_turn
        else:
            ref = (keep * ref + (1 - keep) * s[k]) * space_turn
    return bits


def _level_dbm(power: np.ndarray, on: int, off: int, impedance_ohm: float) -> float:
    """dBm of the carrier: mean |z|^2 / 2 between on and off, less the same outside (noise)."""
    guard = 2 * _SAMPLES_PER_BIT
    inside = power[on + guard:off - guard] if off - on > 4 * guard else power[on:off]
    outside = np.concatenate([power[:max(0, on - guard)], power[off + guard:]])
    ms = float(np.mean(inside)) / 2
    if outside.size >= 4 * _SAMPLES_PER_BIT:
        ms = max(ms - float(np.mean(outside)) / 2, ms * 1e-3)
    return vrms_to_dbm(math.sqrt(ms), impedance_ohm)
