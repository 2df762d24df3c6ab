"""How close harness.dsp's tone, level, ringing and cadence analyses come to the physical limit.

Signals come from harness.dsp.generate with seeded white noise (harness.dsp.noise: SNR is the
signal's power while on against noise over 0..fs/2). Tables:

  1. single-tone frequency: RMS error over the Cramer-Rao bound, by SNR and window, at 8 kS/s,
     16 and 48 kS/s, and for 20 Hz ringing on -48 V from 1 s bursts (2 and 8 kS/s);
  2. levels of the dual tones and the India AM tone at 20 dB SNR;
  3. cadence edge errors at 8 kS/s and 20 dB SNR (US ringback and busy, UK ringing);
  4. throughput: levels + cadence segments + tone components over one minute at 16 kS/s, CPU
     time on one core (BLAS limited to one thread when this file is run as a script).

    .venv/bin/python benchmarks/dsp_tones.py           # about 30 s
    .venv/bin/python benchmarks/dsp_tones.py --quick   # fewer trials, rougher figures, ~5 s

figures() returns the same numbers as a dict for benchmarks/dsp_accuracy.py.
"""

from __future__ import annotations

import os

# One core: BLAS must not spread a matrix product over threads (only effective before numpy loads).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from harness.dsp import (am_tone_components, level_summary, segments, tone_components,  # noqa: E402
                         tone_frequency_hz)
from harness.dsp import generate as gen  # noqa: E402

SNRS_DB = (0.0, 10.0, 20.0, 30.0, 40.0)
WINDOWS_S = (0.05, 0.2, 1.0, 2.0)
# (label, sample rate, window) rows besides the 8 kS/s table, and the ringing rows.
EXTRA_ROWS = (("16 kS/s", 16000.0, 1.0), ("48 kS/s", 48000.0, 0.2))
RING_ROWS = (("ring 2 kS/s", 2000.0), ("ring 8 kS/s", 8000.0))
DUAL_TONES = (("US dial 350+440", (350.0, 440.0), -13.0, 0.5), ("US busy 480+620", (480.0, 620.0), -24.0, 0.5),
              ("UK ringback 400+450", (400.0, 450.0), -18.0, 0.5), ("CAS 2130+2750", (2130.0, 2750.0), -15.0, 0.08))
CADENCES = (("US ringback 440+480", [2000, 4000], 13.0), ("US busy 480+620", [500, 500], 4.0),
            ("UK ring 25 Hz", [400, 200, 400, 2000], 7.0))


def crb_hz(snr_db: float, n: int, fs: float) -> float:
    """Cramer-Rao bound (standard deviation, Hz) of one sinusoid's frequency in white noise."""
    snr = 10 ** (snr_db / 10)
    return math.sqrt(12.0 / ((2 * math.pi) ** 2 * snr * n * (n * n - 1))) * fs


def _rms(values) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def frequency_vs_crb(fs: float, window_s: float, snr_db: float, trials: int, seed: int) -> float:
    """RMS frequency error / CRB of tone_frequency_hz for one voice-band tone (300-3400 Hz,
    random phase, on a random DC level)."""
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(trials):
        f = rng.uniform(300.0, 3400.0)
        w = gen.tone([f], None, window_s, fs, amplitudes_v=1.0, phases_rad=rng.uniform(0, 2 * np.pi),
                     dc_v=rng.uniform(-48.0, 0.0), rng=rng, snr_db=snr_db)
        errors.append(tone_frequency_hz(w, 200.0, 3600.0) - f)
    return _rms(errors) / crb_hz(snr_db, round(window_s * fs), fs)


def ring_frequency_vs_crb(fs: float, snr_db: float, trials: int, seed: int) -> float:
    """RMS frequency error / CRB for 1 s of 50 Vrms ringing at 20 +- 0.5 Hz on -48 V."""
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(trials):
        f = rng.uniform(19.5, 20.5)
        w = gen.ringing(50.0, f, 1.0, fs, battery_v=-48.0, phase_rad=rng.uniform(0, 2 * np.pi), rng=rng,
                        snr_db=snr_db)
        errors.append(tone_frequency_hz(w, 10.0, 100.0) - f)
    return _rms(errors) / crb_hz(snr_db, round(fs), fs)


def dual_tone_levels(freqs: tuple[float, float], level_dbm: float, window_s: float, trials: int,
                     seed: int) -> dict:
    """Level and frequency errors of tone_components at 20 dB SNR, 8 kS/s."""
    rng = np.random.default_rng(seed)
    level_errors, freq_errors = [], []
    for _ in range(trials):
        w = gen.tone(freqs, level_dbm, window_s, 8000.0, phases_rad=rng.uniform(0, 2 * np.pi, 2), dc_v=-8.0,
                     rng=rng, snr_db=20.0)
        found = tone_components(w, freqs)
        level_errors += [c.level_dbm - level_dbm for c in found]
        freq_errors += [c.freq_hz - f for c, f in zip(found, freqs)]
    return {"window_ms": window_s * 1000, "level_rms_db": _rms(level_errors),
            "level_p95_db": float(np.percentile(np.abs(level_errors), 95)),
            "level_bias_db": float(np.mean(level_errors)), "freq_rms_hz": _rms(freq_errors)}


def am_tone_levels(trials: int, seed: int, window_s: float = 0.5) -> dict:
    """India dial tone (400 Hz x 25 Hz, 90 %, -13 dBm) at 20 dB SNR, 8 kS/s."""
    rng = np.random.default_rng(seed)
    level, depth, carrier, modulation = [], [], [], []
    for _ in range(trials):
        w = gen.am_tone(400.0, 25.0, 0.9, -13.0, window_s, 8000.0, carrier_phase_rad=rng.uniform(0, 2 * np.pi),
                        modulation_phase_rad=rng.uniform(0, 2 * np.pi), rng=rng, snr_db=20.0)
        am = am_tone_components(w, 400.0, 25.0)
        level.append(am.level_dbm + 13.0)
        depth.append(am.depth - 0.9)
        carrier.append(am.carrier_hz - 400.0)
        modulation.append(am.modulation_hz - 25.0)
    return {"window_ms": window_s * 1000, "level_rms_db": _rms(level),
            "level_p95_db": float(np.percentile(np.abs(level), 95)), "level_bias_db": float(np.mean(level)),
            "depth_rms": _rms(depth), "carrier_rms_hz": _rms(carrier), "modulation_rms_hz": _rms(modulation)}


def _cadenced_capture(label: str, pattern: list[int], duration_s: float, rng: np.random.Generator):
    start_ms = rng.uniform(0, sum(pattern))
    if label.startswith("UK ring"):
        w = gen.ringing(50.0, 25.0, duration_s, 8000.0, battery_v=-48.0, offset_v=0.0, cadence_ms=pattern,
                        start_phase_ms=start_ms, phase_rad=rng.uniform(0, 2 * np.pi), rng=rng, snr_db=20.0)
        return w, (10.0, 100.0)
    freqs, level = ([440.0, 480.0], -19.0) if "ringback" in label else ([480.0, 620.0], -24.0)
    base = gen.tone(freqs, level, duration_s, 8000.0, phases_rad=rng.uniform(0, 2 * np.pi, 2))
    return gen.cadenced(base, pattern, start_phase_ms=start_ms, dc_v=-8.0, rng=rng, snr_db=20.0), (300.0, 3400.0)


def cadence_edges(label: str, pattern: list[int], duration_s: float, captures: int, seed: int) -> dict:
    """Edge time errors of segments (found - true, ms) at 8 kS/s and 20 dB SNR, captures starting
    anywhere in the cadence; edges within 0.3 s of a capture's ends are not graded."""
    rng = np.random.default_rng(seed)
    errors, missed, extra = [], 0, 0
    for _ in range(captures):
        w, band = _cadenced_capture(label, pattern, duration_s, rng)
        true = np.asarray(w.meta["edges_s"])
        found = np.array([s.start_s for s in segments(w, band_hz=band)[1:]])
        for edge in true[(true > w.start_s + 0.3) & (true < w.start_s + w.duration_s - 0.3)]:
            nearest = found[np.argmin(np.abs(found - edge))] if found.size else math.inf
            if abs(nearest - edge) < 0.005:
                errors.append((nearest - edge) * 1000)
            else:
                missed += 1
        extra += sum(1 for e in found if np.min(np.abs(true - e)) >= 0.005)
    return {"rms_ms": _rms(errors), "max_ms": float(np.max(np.abs(errors))), "bias_ms": float(np.mean(errors)),
            "edges": len(errors), "missed": missed, "extra": extra}


def throughput(repeats: int = 7) -> dict:
    """CPU ms (best of `repeats`) for one minute of US ringback at 16 kS/s, 20 dB SNR."""
    rng = np.random.default_rng(60)
    freqs = [440.0, 480.0]
    base = gen.tone(freqs, -19.0, 60.0, 16000.0, phases_rad=[0.3, 1.2])
    w = gen.cadenced(base, [2000, 4000], start_phase_ms=700.0, dc_v=-8.0, rng=rng, snr_db=20.0)

    def best_ms(analysis) -> float:
        analysis()  # warm caches
        times = []
        for _ in range(repeats):
            started = time.process_time()
            analysis()
            times.append(time.process_time() - started)
        return 1000 * min(times)

    result = {"level_summary_ms": best_ms(lambda: level_summary(w)),
              "segments_ms": best_ms(lambda: segments(w, freqs_hz=freqs)),
              "segments_found_freqs_ms": best_ms(lambda: segments(w, band_hz=(300.0, 3400.0))),
              "tone_components_ms": best_ms(lambda: tone_components(w, freqs))}
    result["total_ms"] = result["level_summary_ms"] + result["segments_ms"] + result["tone_components_ms"]
    result["samples"] = len(w)
    result["blas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "?")
    return result


def figures(quick: bool = False) -> dict:
    """All the benchmark's numbers: {"frequency_vs_crb", "levels", "cadence", "throughput"}."""
    trials = 60 if quick else 400  # the RMS of 400 errors is known to within about 3.5 %
    frequency = {}
    for window_s in WINDOWS_S:
        frequency[f"8 kS/s {window_s * 1000:g} ms"] = {
            snr: frequency_vs_crb(8000.0, window_s, snr, trials, seed=int(window_s * 1000 + snr)) for snr in SNRS_DB}
    for label, fs, window_s in EXTRA_ROWS:
        frequency[f"{label} {window_s * 1000:g} ms"] = {
            snr: frequency_vs_crb(fs, window_s, snr, trials, seed=int(fs + snr)) for snr in SNRS_DB}
    for label, fs in RING_ROWS:
        frequency[f"{label} 1000 ms"] = {snr: ring_frequency_vs_crb(fs, snr, trials, seed=int(fs + snr + 7))
                                         for snr in SNRS_DB}
    level_trials = 40 if quick else 300
    levels = {label: dual_tone_levels(freqs, level, window_s, level_trials, seed=int(sum(freqs)))
              for label, freqs, level, window_s in DUAL_TONES}
    levels["India AM 400x25"] = am_tone_levels(level_trials, seed=400)
    captures = 3 if quick else 20
    cadence = {label: cadence_edges(label, pattern, duration_s, captures, seed=len(label))
               for label, pattern, duration_s in CADENCES}
    return {"frequency_vs_crb": frequency, "levels": levels, "cadence": cadence, "throughput": throughput()}


def print_figures(result: dict) -> None:
    print("1. Single-tone frequency: RMS error / Cramer-Rao bound (1.00 = the bound; the target is <= 1.2)")
    print(f"   {'window':<24}" + "".join(f"{f'{snr:g} dB':>8}" for snr in SNRS_DB))
    for row, cells in result["frequency_vs_crb"].items():
        print(f"   {row:<24}" + "".join(f"{cells[snr]:>8.3f}" for snr in SNRS_DB))
    print("\n2. Levels at 20 dB SNR, 8 kS/s (target: level error < 0.1 dB)")
    print(f"   {'tone':<22}{'window':>8}{'RMS dB':>9}{'p95 dB':>9}{'bias dB':>9}  other")
    for label, r in result["levels"].items():
        if "depth_rms" in r:
            other = (f"depth RMS {r['depth_rms']:.4f}, carrier {r['carrier_rms_hz']:.4f} Hz, "
                     f"modulation {r['modulation_rms_hz']:.4f} Hz RMS")
        else:
            other = f"frequency {r['freq_rms_hz']:.4f} Hz RMS"
        print(f"   {label:<22}{r['window_ms']:>6.0f}ms{r['level_rms_db']:>9.4f}{r['level_p95_db']:>9.4f}"
              f"{r['level_bias_db']:>9.4f}  {other}")
    print("\n3. Cadence edges at 8 kS/s, 20 dB SNR, any start phase (target: < 0.5 ms RMS)")
    print(f"   {'signal':<22}{'RMS ms':>8}{'max ms':>8}{'bias ms':>9}{'edges':>7}{'missed':>8}{'extra':>7}")
    for label, r in result["cadence"].items():
        print(f"   {label:<22}{r['rms_ms']:>8.3f}{r['max_ms']:>8.3f}{r['bias_ms']:>9.3f}{r['edges']:>7d}"
              f"{r['missed']:>8d}{r['extra']:>7d}")
    t = result["throughput"]
    print(f"\n4. Throughput: one minute of US ringback at 16 kS/s ({t['samples']} samples), CPU ms on one core "
          f"(BLAS threads: {t['blas_threads']}; target: well under 60 ms)")
    print(f"   level_summary {t['level_summary_ms']:.1f}, segments {t['segments_ms']:.1f} "
          f"({t['segments_found_freqs_ms']:.1f} finding the tones itself), tone_components "
          f"{t['tone_components_ms']:.1f}: total {t['total_ms']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials (rougher figures, ~5 s)")
    started = time.perf_counter()
    print_figures(figures(quick=parser.parse_args().quick))
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
