"""How close harness.dsp comes to the physical limit, beside spandsp, and how fast it is.

Prints, in turn:
  1. tones, levels, ringing and cadence (benchmarks/dsp_tones.py): frequency RMS error over the
     Cramer-Rao bound by SNR and window, level errors, cadence edge errors;
  2. DTMF (benchmarks/dsp_dtmf.py): decode rate against SNR, timing/frequency/level errors,
     false digits per hour of noise and speech; then tipring and spandsp on the same captures;
  3. caller ID (benchmarks/dsp_callerid.py): decode rate against SNR for Bell 202 and V.23,
     tipring and spandsp on the same captures, timing, false messages;
  4. throughput: one minute of three channels at 16 kS/s fully analysed, on one core.

spandsp's columns need Debian's libspandsp2 (`make benchmarks` installs it as root); without it
they are left out and say why.

    .venv/bin/python benchmarks/dsp_accuracy.py [--quick]
"""

from __future__ import annotations

import os

# One core, as the throughput target states: no BLAS or FFT threads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

import dsp_callerid  # noqa: E402
import dsp_dtmf  # noqa: E402
import dsp_tones  # noqa: E402
import spandsp_ref  # noqa: E402
from sweep import lowest_snr_holding  # noqa: E402

from harness.dsp import generate, levels  # noqa: E402
from harness.dsp.cadence import segments  # noqa: E402
from harness.dsp.callerid import CallTime, alert_signals, callerid_bursts, callerid_signal, mdmf  # noqa: E402
from harness.dsp.dtmf import detect_dtmf, dtmf_signal  # noqa: E402
from harness.dsp.tones import tone_components  # noqa: E402
from harness.dsp.waveform import Waveform  # noqa: E402

FS_HZ = 16_000.0
KEYS = "123A456B789C*0#D"


def run_section(title: str, module, argv: list[str]) -> None:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}", flush=True)
    saved = sys.argv
    sys.argv = [module.__file__, *argv]
    try:
        module.main()
    finally:
        sys.argv = saved


# --------------------------------------------------------------------------------------------
# DTMF: tipring and spandsp on identical captures


def _spandsp_int16_scale() -> float:
    """int16 units per volt, so that a tone of L dBm into 600 ohm is L dBm0 to spandsp (0 dBr)."""
    return spandsp_ref.sine_peak(0.0) / (levels.dbm_to_vrms(0.0) * np.sqrt(2))


def dtmf_side_by_side(trials: int, snrs_db: range, seed: int = 11) -> dict[int, tuple[float, float]]:
    """Share of the 16 keys decoded right by tipring and by spandsp, per SNR, on the same
    captures: all 16 keys, 50 ms on / 50 ms off, -7 dBm per tone, white noise over 0-4 kHz."""
    rng = np.random.default_rng(seed)
    scale = _spandsp_int16_scale()
    rates = {}
    for snr in snrs_db:
        ours = theirs = 0
        for _ in range(trials):
            w = dtmf_signal(KEYS, sample_rate_hz=8000.0, level_dbm=-7.0, twist_db=0.0, rng=rng, snr_db=snr)
            got = "".join(d.digit for d in detect_dtmf(w))
            ours += spandsp_ref._common_digits(KEYS, got)
            theirs += spandsp_ref._common_digits(KEYS, spandsp_ref.dtmf_digits(w.samples * scale))
        rates[snr] = (ours / (trials * len(KEYS)), theirs / (trials * len(KEYS)))
    return rates


def print_dtmf_side_by_side(trials: int) -> None:
    print(f"\nDTMF, tipring and spandsp on the same captures ({trials} x 16 keys per SNR, 50/50 ms, "
          "-7 dBm per tone, SNR = on-power / white noise 0-4 kHz):")
    if not spandsp_ref.available():
        print(f"  spandsp left out: {spandsp_ref.unavailable_reason()}")
        return
    rates = dtmf_side_by_side(trials, range(0, 15))
    print(f"  {'SNR dB':>7} " + " ".join(f"{snr:>6}" for snr in rates))
    print(f"  {'tipring':>7} " + " ".join(f"{r[0]:6.1%}" for r in rates.values()))
    print(f"  {'spandsp':>7} " + " ".join(f"{r[1]:6.1%}" for r in rates.values()))
    ours = lowest_snr_holding({s: r[0] for s, r in rates.items()}, 1.0)
    theirs = lowest_snr_holding({s: r[1] for s, r in rates.items()}, 1.0)
    print(f"  every key decoded from: tipring {ours} dB, spandsp {theirs} dB "
          f"(spandsp {spandsp_ref.spandsp_version()})")


# --------------------------------------------------------------------------------------------
# Throughput


def _minute_channels(rng: np.random.Generator) -> list[Waveform]:
    """Three channels of one minute at 16 kS/s, with something in each for every analysis."""
    n = int(60 * FS_HZ)
    # The phone side of an FXS port: dial tone, a number dialled, then ringback.
    dial = generate.tone([350.0, 440.0], [-13.0, -13.0], 5.0, FS_HZ).samples
    digits = dtmf_signal("18005551212", sample_rate_hz=FS_HZ, on_ms=60, off_ms=60).samples
    ringback = generate.cadenced(generate.tone([440.0, 480.0], [-19.0, -19.0], 60.0, FS_HZ),
                                 [2000, 4000], 60.0).samples
    line = np.concatenate([dial, digits, ringback])[:n]
    # A ringing line with caller ID between the first and second rings.
    ring = generate.cadenced(generate.ringing(70.0, 20.0, 60.0, FS_HZ, battery_v=-48.0), [2000, 4000], 60.0).samples
    cid = callerid_signal(mdmf(number="8005551212", name="JOHN DOE", when=CallTime(3, 24, 9, 2)),
                          sample_rate_hz=FS_HZ).samples
    ring[int(2.5 * FS_HZ):int(2.5 * FS_HZ) + len(cid)] += cid
    # Busy tone.
    busy = generate.cadenced(generate.tone([480.0, 620.0], [-24.0, -24.0], 60.0, FS_HZ), [500, 500], 60.0).samples
    noise = lambda: rng.normal(0, 1e-4, n)  # noqa: E731 - three draws of the same noise
    return [Waveform(x[:n] + noise(), FS_HZ, name=name)
            for x, name in ((line, "line"), (ring, "ringing"), (busy, "busy"))]


def analyse_fully(w: Waveform) -> int:
    """Every analysis a test plan runs on a capture; returns how many findings (to keep it honest)."""
    findings = 1
    levels.level_summary(w)
    segs = segments(w)
    findings += len(segs)
    on = next((s for s in segs if s.on and not s.partial), None)
    if on is not None:
        findings += len(tone_components(w.slice_s(on.start_s, min(on.end_s, on.start_s + 1.0)),
                                        [350.0, 440.0, 480.0, 620.0]))
    findings += len(detect_dtmf(w))
    findings += len(callerid_bursts(w)) + len(alert_signals(w))
    return findings


def print_throughput(repeats: int = 3) -> None:
    channels = _minute_channels(np.random.default_rng(5))
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        findings = sum(analyse_fully(w) for w in channels)
        best = min(best, time.process_time() - started)
    print(f"\nThroughput: one minute of three channels at {FS_HZ / 1000:g} kS/s (dial tone + 11 DTMF digits + "
          "ringback; ringing with caller ID; busy tone), fully analysed (levels, cadence segments, tone "
          "components, DTMF, caller ID, alert tones) on one core:")
    print(f"  {best:.3f} s CPU (best of {repeats}), {findings} findings; target under 0.2 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials per point (a minute or two in all)")
    args = parser.parse_args()
    trials = ["--trials", "40"] if args.quick else []
    run_section("1. Tones, levels, ringing and cadence", dsp_tones, [])
    run_section("2. DTMF", dsp_dtmf, trials)
    print_dtmf_side_by_side(10 if args.quick else 60)
    run_section("3. Caller ID (tipring and spandsp on the same captures)", dsp_callerid, trials)
    print(f"\n{'=' * 100}\n4. Throughput\n{'=' * 100}")
    print_throughput()


if __name__ == "__main__":
    main()
