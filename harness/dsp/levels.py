"""Level measurements of a capture: DC, RMS, peak, crest factor, and dBm / dBm0 conversions.

Every function returns values in the waveform's unit (volts tip-ring or amperes of loop current).
Empty, too short or non-finite captures are refused with a ValueError; a clipped capture is
analysed as it is (its `clipped` flag tells the caller the value cannot be trusted).

dBm is power against 1 mW in a stated impedance (600 ohm unless given; 900 ohm for some
ports). dBm0 is a level referred to the 0 dBr point of the transmission plan: at a point whose
relative level is dbr (dBr), a signal of L dBm is L - dbr dBm0. A tone plan that asks for
-13 dBm0 at a -7 dBr port means -20 dBm there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.dsp.waveform import Waveform

# 0 dBm is 1 mW into the reference impedance.
_DBM_REFERENCE_W = 1e-3


def checked_samples(w: Waveform, purpose: str, min_samples: int = 2) -> np.ndarray:
    """The samples of w, after refusing what no analysis can use.

    Raises ValueError naming the analysis (`purpose`) and the waveform when w is not a Waveform,
    has fewer than min_samples samples, or holds NaN/inf samples (a capture with gaps must not
    yield a number that looks valid).
    """
    if not isinstance(w, Waveform):
        raise ValueError(f"{purpose}: expected a Waveform, got {type(w).__name__}")
    n = len(w.samples)
    if n < min_samples:
        raise ValueError(f"{purpose}: waveform {w.name!r} has {n} samples, needs at least {min_samples}")
    # A finite sum means every sample is finite (one fast pass); count only when it is not.
    if not math.isfinite(float(np.sum(w.samples))):
        bad = int(np.count_nonzero(~np.isfinite(w.samples)))
        if bad:
            raise ValueError(f"{purpose}: waveform {w.name!r} has {bad} of {n} samples NaN or infinite")
    return w.samples


@dataclass(frozen=True)
class LevelSummary:
    """All the level readings of one capture, in `unit` (V or A).

    dc: mean. ac_rms: RMS about the mean. true_rms: RMS including DC. peak: largest |sample|.
    crest_factor: largest |sample - mean| over ac_rms (nan when there is no AC).
    """

    dc: float
    ac_rms: float
    true_rms: float
    peak: float
    crest_factor: float
    unit: str


def level_summary(w: Waveform) -> LevelSummary:
    """dc_v, ac_rms, true_rms, peak and crest_factor of w in one pass each (a minute at 16 kS/s
    takes a few ms)."""
    x = checked_samples(w, "level_summary")
    dc = float(np.mean(x))
    ac = x - dc
    ac_rms = math.sqrt(float(np.dot(ac, ac)) / x.size)
    high, low = float(np.max(x)), float(np.min(x))
    crest = max(high - dc, dc - low) / ac_rms if ac_rms > 0 else math.nan
    return LevelSummary(dc=dc, ac_rms=ac_rms, true_rms=math.sqrt(ac_rms**2 + dc * dc), peak=max(high, -low),
                        crest_factor=crest, unit=w.unit)


def dc_v(w: Waveform) -> float:
    """Mean of the samples (the DC level), in the waveform's unit."""
    return float(np.mean(checked_samples(w, "dc_v")))


def ac_rms(w: Waveform) -> float:
    """RMS after removing the mean (what an AC-coupled true-RMS meter reads), in the waveform's unit.

    Exact for a periodic signal only over whole periods; callers that know the period should
    slice the capture to whole periods (ring_burst does).
    """
    x = checked_samples(w, "ac_rms")
    return float(np.sqrt(np.mean((x - x.mean()) ** 2)))


def true_rms(w: Waveform) -> float:
    """RMS including the DC component (a DC-coupled true-RMS reading), in the waveform's unit."""
    x = checked_samples(w, "true_rms")
    return float(np.sqrt(np.mean(x * x)))


def peak(w: Waveform) -> float:
    """Largest magnitude of any sample, max |x|, in the waveform's unit (DC included)."""
    return float(np.max(np.abs(checked_samples(w, "peak"))))


def crest_factor(w: Waveform) -> float:
    """Peak of the AC part over the AC RMS: max |x - mean| / ac_rms (1.414 for a sine).

    Raises ValueError for a capture without any AC component.
    """
    x = checked_samples(w, "crest_factor")
    ac = x - x.mean()
    rms = float(np.sqrt(np.mean(ac * ac)))
    if rms == 0.0:
        raise ValueError(f"crest_factor: waveform {w.name!r} has no AC component")
    return float(np.max(np.abs(ac)) / rms)


def vrms_to_dbm(vrms: float, impedance_ohm: float = 600.0) -> float:
    """Power in dBm of vrms (V RMS) across impedance_ohm; 0 dBm = 1 mW (0.7746 Vrms in 600 ohm).

    0 V gives -inf dBm.
    """
    _check_impedance(impedance_ohm)
    if not math.isfinite(vrms) or vrms < 0:
        raise ValueError(f"vrms_to_dbm: vrms must be a finite value >= 0, got {vrms}")
    if vrms == 0:
        return -math.inf
    return 10.0 * math.log10(vrms * vrms / impedance_ohm / _DBM_REFERENCE_W)


def dbm_to_vrms(dbm: float, impedance_ohm: float = 600.0) -> float:
    """V RMS across impedance_ohm that carries dbm (dBm, 0 dBm = 1 mW); -13 dBm/600 ohm = 0.173 V."""
    _check_impedance(impedance_ohm)
    if math.isnan(dbm) or dbm == math.inf:
        raise ValueError(f"dbm_to_vrms: dbm must be a number below +inf, got {dbm}")
    return math.sqrt(_DBM_REFERENCE_W * impedance_ohm * 10.0 ** (dbm / 10.0))


def dbm_to_dbm0(level_dbm: float, dbr: float) -> float:
    """Level in dBm0 of level_dbm (dBm) measured at a point of relative level dbr (dBr)."""
    _check_dbr(dbr)
    return level_dbm - dbr


def dbm0_to_dbm(level_dbm0: float, dbr: float) -> float:
    """Level in dBm at a point of relative level dbr (dBr) of a signal of level_dbm0 (dBm0)."""
    _check_dbr(dbr)
    return level_dbm0 + dbr


def vrms_to_dbm0(vrms: float, dbr: float, impedance_ohm: float = 600.0) -> float:
    """Level in dBm0 of vrms (V RMS) across impedance_ohm at a point of relative level dbr (dBr)."""
    return dbm_to_dbm0(vrms_to_dbm(vrms, impedance_ohm), dbr)


def dbm0_to_vrms(level_dbm0: float, dbr: float, impedance_ohm: float = 600.0) -> float:
    """V RMS across impedance_ohm of a level_dbm0 (dBm0) signal at a point of relative level dbr (dBr);
    -13 dBm0 at -7 dBr in 600 ohm = -20 dBm = 0.0775 V."""
    return dbm_to_vrms(dbm0_to_dbm(level_dbm0, dbr), impedance_ohm)


def _check_dbr(dbr: float) -> None:
    if not math.isfinite(dbr):
        raise ValueError(f"dbr (relative level of the point, dBr) must be finite, got {dbr}")


def _check_impedance(impedance_ohm: float) -> None:
    if not (math.isfinite(impedance_ohm) and impedance_ohm > 0):
        raise ValueError(f"impedance_ohm must be a finite value > 0, got {impedance_ohm}")


def on_off_levels(values: np.ndarray) -> tuple[float, float]:
    """(off, on): the typical low and high values of a two-state signal such as an envelope.

    Iterative two-cluster split: the threshold starts halfway between the 1st and 99th
    percentiles and moves to halfway between the medians of the values below and above it until
    it settles. Medians keep the ramps between states and short bursts from pulling the levels.
    """
    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError("on_off_levels: values must be non-empty and finite")
    low, high = np.percentile(v, [1, 99])
    threshold = (low + high) / 2
    off, on = float(low), float(high)
    for _ in range(100):
        k = int(np.searchsorted(v, threshold, side="right"))  # v[:k] <= threshold < v[k:]
        if k == 0 or k == v.size:
            break
        off, on = _sorted_median(v[:k]), _sorted_median(v[k:])
        if (off + on) / 2 == threshold:
            break
        threshold = (off + on) / 2
    return off, on


def _sorted_median(v: np.ndarray) -> float:
    middle = (v.size - 1) / 2
    return float((v[math.floor(middle)] + v[math.ceil(middle)]) / 2)
