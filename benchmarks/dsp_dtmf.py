"""How well harness.dsp.dtmf decodes and measures DTMF: sensitivity, false digits, accuracy, speed.

Prints
  - the decode rate against SNR (white noise over 0-4 kHz at 8 kS/s, snr_db below the power of
    both tones while on; 50 ms on / 50 ms off, -7 / -5 dBm), trials per key as given, and the
    lowest SNR from which every higher one decodes every digit (spandsp needs 9 dB on this
    definition);
  - false digits per hour in white noise and in espeak-ng speech (several voices, low and high
    pitch, -25 / -15 / -5 dBm active level; also with white noise 20 and 10 dB below the speech,
    for information);
  - timing, frequency, level and twist errors against the generator's truth;
  - CPU time to scan one minute of 16 kS/s audio (noise, speech) and per decoded digit.

    .venv/bin/python benchmarks/dsp_dtmf.py [--trials 200]

figures() returns the same numbers as a dict (for benchmarks/dsp_accuracy.py).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # CPU figures are for one core

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from harness.dsp.dtmf import detect_dtmf, dtmf_frequencies_hz, dtmf_schedule, dtmf_signal
from harness.dsp.levels import dbm_to_vrms
from harness.dsp.waveform import Waveform
from sweep import lowest_snr_holding  # benchmarks/ is on sys.path when this file is run as a script

KEYS = "0123456789*#ABCD"
FS = 8000.0
SNRS_DB = tuple(range(0, 13))
ON_MS = OFF_MS = 50.0
LOW_DBM, TWIST_DB = -7.0, 2.0

SPEECH_TEXTS = (
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore, and the shells "
    "she sells are surely sea shells.",
    "Please hold the line while we connect your call. Your call is important to us. Press one for sales, "
    "two for support, or stay on the line for an operator.",
    "Four score and seven years ago our fathers brought forth on this continent a new nation, conceived in "
    "liberty, and dedicated to the proposition that all men are created equal.",
    "Hello, hello? Can you hear me now? I am calling about the invoice from last Tuesday; the number is "
    "nine eight seven six five four three two one zero.",
    "Mary had a little lamb, its fleece was white as snow. Oooh, aaah, eeee, mmmm, la la la la la, do re mi "
    "fa so la ti do.",
)
SPEECH_VOICES = ("en-us", "en-gb", "en-us+f2", "en-gb+f4", "en-us+m3", "en-us+f5", "en-gb-x-rp+f1",
                 "en-us+croak")
FOREIGN = {"de": "Guten Tag, hier spricht der automatische Anrufbeantworter. Bitte hinterlassen Sie eine "
                 "Nachricht nach dem Signalton. Vielen Dank fuer Ihren Anruf.",
           "fr": "Bonjour, vous etes bien sur la messagerie vocale. Veuillez laisser un message apres le bip "
                 "sonore. Merci et a bientot."}


def decode_rate(snr_db: float, trials_per_key: int, rng: np.random.Generator, low_dbm: float = LOW_DBM,
                twist_db: float = TWIST_DB, offsets_pct: tuple[float, float] = (0.0, 0.0)) -> tuple[float, int]:
    """(share of digits decoded once as the right key, digits reported that were not sent).

    A reported digit counts for the sent one whose tone it overlaps.
    """
    digits = KEYS * trials_per_key
    w = dtmf_signal(digits, FS, ON_MS, OFF_MS, low_dbm, twist_db, offsets_pct, rng=rng, snr_db=snr_db)
    starts = np.array([b.start_s for b in dtmf_schedule(digits, ON_MS, OFF_MS)])
    hit = np.zeros(len(digits), bool)
    wrong = 0
    for d in detect_dtmf(w):
        k = int(np.argmin(np.abs(starts + ON_MS / 2000 - (d.start_s + d.end_s) / 2)))
        if d.start_s < starts[k] + ON_MS / 1000 and d.end_s > starts[k] and digits[k] == d.digit and not hit[k]:
            hit[k] = True
        else:
            wrong += 1
    return float(hit.mean()), wrong


def errors(snr_db: float, trials_per_key: int, rng: np.random.Generator, random_params: bool) -> dict:
    """RMS and largest errors of start/end (ms), frequencies (Hz), levels and twist (dB) of decoded
    digits, one key at a time with (optionally) random offsets within 1.5 %, twist in -8..+4 dB and
    weaker tone in -36..-6 dBm."""
    t_err, f_err, l_err, tw_err = [], [], [], []
    for _ in range(trials_per_key):
        for key in KEYS:
            if random_params:
                offsets = tuple(rng.uniform(-1.5, 1.5, 2))
                twist = rng.uniform(-8, 4)
                low = rng.uniform(-36, -6) - min(twist, 0.0)
            else:
                offsets, twist, low = (0.0, 0.0), TWIST_DB, LOW_DBM
            w = dtmf_signal(key, FS, ON_MS, OFF_MS, low, twist, offsets, rng=rng, snr_db=snr_db)
            found = detect_dtmf(w)
            if len(found) != 1 or found[0].digit != key:
                continue
            d = found[0]
            start = round(0.05 * FS) / FS
            t_err += [d.start_s - start, d.end_s - start - ON_MS / 1000]
            nominal = dtmf_frequencies_hz(key)
            f_err += [d.low_hz - nominal[0] * (1 + offsets[0] / 100), d.high_hz - nominal[1] * (1 + offsets[1] / 100)]
            l_err += [d.low_dbm - low, d.high_dbm - low - twist]
            tw_err.append(d.twist_db - twist)

    def rms(v):
        return float(np.sqrt(np.mean(np.square(v))))

    return {"timing_rms_ms": rms(t_err) * 1e3, "timing_max_ms": float(np.max(np.abs(t_err))) * 1e3,
            "freq_rms_hz": rms(f_err), "freq_max_hz": float(np.max(np.abs(f_err))),
            "level_rms_db": rms(l_err), "twist_rms_db": rms(tw_err)}


def speech_8k(active_dbm: float = -15.0) -> np.ndarray | None:
    """espeak-ng speech at 8 kS/s with an active level of active_dbm into 600 ohm; None without espeak-ng."""
    if shutil.which("espeak-ng") is None:
        return None
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.wav"
        jobs = [(v, t, p) for v in SPEECH_VOICES for t in SPEECH_TEXTS for p in ("30", "90")]
        jobs += [(v + s, t, p) for v, t in FOREIGN.items() for s in ("", "+f2") for p in ("40", "85")]
        jobs += [(v, SPEECH_TEXTS[4] + " " + SPEECH_TEXTS[4], "99") for v in ("en-us+f2", "en-us+f4", "en-gb")]
        for voice, text, pitch in jobs:
            subprocess.run(["espeak-ng", "-v", voice, "-p", pitch, "-w", str(out), text], check=True,
                           capture_output=True)
            rate, x = wavfile.read(out)
            g = math.gcd(int(FS), rate)
            parts.append(resample_poly(x.astype(float), int(FS) // g, rate // g))
    x = np.concatenate(parts)
    envelope = np.sqrt(np.convolve(x**2, np.ones(160) / 160, "same"))
    active = envelope > envelope.max() * 0.01
    return x * dbm_to_vrms(active_dbm) / np.sqrt(np.mean(x[active] ** 2))


def cpu_ms(w: Waveform, repeats: int = 5) -> tuple[float, int]:
    """(least CPU time of detect_dtmf over repeats, ms; digits found)."""
    best, found = math.inf, 0
    for _ in range(repeats):
        t0 = time.process_time()
        found = len(detect_dtmf(w))
        best = min(best, time.process_time() - t0)
    return best * 1e3, found


def figures(trials_per_key: int = 200, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    out: dict = {"trials_per_key": trials_per_key}
    rates, extras = {}, {}
    for snr in SNRS_DB:
        rates[snr], extras[snr] = decode_rate(snr, trials_per_key, rng)
    out["decode_rate_vs_snr_db"] = rates
    out["false_digits_vs_snr_db"] = extras
    out["snr_for_100pct_db"] = lowest_snr_holding(rates, 1.0)
    edge_cases = {}  # the corners of the accepted range, a quarter of the trials
    for name, low, twist, offsets in (("twist -8 dB, +1.5 %", LOW_DBM, -8.0, (1.5, 1.5)),
                                      ("twist +4 dB, -1.5 %", LOW_DBM - 4, 4.0, (-1.5, -1.5))):
        edge_cases[name] = {snr: decode_rate(snr, max(1, trials_per_key // 4), rng, low, twist, offsets)[0]
                            for snr in (6, 9, 12)}
    out["decode_rate_corners"] = edge_cases

    noise_minutes = 10.0
    false = 0
    for rms_v in (0.3, 0.01):  # about -8 dBm and -38 dBm of noise
        false += len(detect_dtmf(Waveform(rng.normal(0, rms_v, int(noise_minutes * 60 * FS)), FS)))
    out["noise_minutes"] = 2 * noise_minutes
    out["false_per_hour_noise"] = false / (2 * noise_minutes / 60)

    speech = speech_8k()
    if speech is not None:
        minutes = len(speech) / FS / 60
        out["speech_minutes_per_condition"] = minutes
        clean = sum(len(detect_dtmf(Waveform(speech * 10 ** (g / 20), FS))) for g in (-10.0, 0.0, 10.0))
        out["false_per_hour_speech"] = clean / (3 * minutes / 60)
        noisy = {}
        for snr in (20.0, 10.0):
            noise_rms = dbm_to_vrms(-15.0 - snr)
            noisy[snr] = len(detect_dtmf(Waveform(speech + rng.normal(0, noise_rms, len(speech)), FS))) / (minutes / 60)
        out["false_per_hour_speech_plus_noise_by_snr_db"] = noisy

    out["errors_nominal_6db"] = errors(6.0, max(1, trials_per_key // 10), rng, random_params=False)
    out["errors_random_params_20db"] = errors(20.0, max(1, trials_per_key // 10), rng, random_params=True)

    fs16 = 16000.0
    noise16 = Waveform(rng.normal(0, 0.05, int(60 * fs16)), fs16)
    out["scan_cpu_ms_per_minute_16k_noise"] = cpu_ms(noise16)[0]
    if speech is not None:
        speech16 = Waveform(resample_poly(speech[:int(60 * FS)], 2, 1), fs16)
        out["scan_cpu_ms_per_minute_16k_speech"] = cpu_ms(speech16)[0]
    dialling = dtmf_signal(KEYS * 37, fs16, ON_MS, OFF_MS, LOW_DBM, TWIST_DB, rng=rng, snr_db=20.0)  # 10 digits/s
    ms, n = cpu_ms(dialling, repeats=2)
    out["cpu_ms_per_minute_16k_dialling_10_per_s"] = ms * 60 / dialling.duration_s
    out["cpu_ms_per_digit_16k"] = (ms - out["scan_cpu_ms_per_minute_16k_noise"] * dialling.duration_s / 60) / n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per key and SNR (default 200)")
    args = parser.parse_args()
    started = time.perf_counter()
    f = figures(args.trials)
    print(f"DTMF decode rate, {f['trials_per_key']} of each key per SNR "
          "(50 ms on/off, -7/-5 dBm, white noise 0-4 kHz):")
    for snr, rate in f["decode_rate_vs_snr_db"].items():
        print(f"  {snr:3d} dB  {100 * rate:7.2f} %   wrong digits: {f['false_digits_vs_snr_db'][snr]}")
    print(f"  every digit decoded from {f['snr_for_100pct_db']} dB SNR up (spandsp is quoted at 9 dB; "
          "benchmarks/dsp_accuracy.py runs it on the same captures)")
    for name, rates in f["decode_rate_corners"].items():
        print(f"  {name}: " + ", ".join(f"{100 * r:.2f} % at {snr} dB" for snr, r in rates.items()))
    print(f"false digits per hour: white noise {f['false_per_hour_noise']:.1f} ({f['noise_minutes']:.0f} min)")
    if "false_per_hour_speech" in f:
        print(f"  espeak-ng speech {f['false_per_hour_speech']:.1f} "
              f"({f['speech_minutes_per_condition']:.1f} min at each of -25/-15/-5 dBm)")
        for snr, rate in f["false_per_hour_speech_plus_noise_by_snr_db"].items():
            print(f"  speech at -15 dBm with white noise {snr:.0f} dB below it: {rate:.1f}")
    else:
        print("  speech: espeak-ng not installed, skipped")
    for name, e in (("nominal digits at 6 dB SNR", f["errors_nominal_6db"]),
                    ("random offsets/twist/levels at 20 dB SNR", f["errors_random_params_20db"])):
        print(f"errors, {name}: start/end {e['timing_rms_ms']:.3f} ms RMS ({e['timing_max_ms']:.2f} max), "
              f"frequency {e['freq_rms_hz']:.3f} Hz RMS ({e['freq_max_hz']:.2f} max), "
              f"level {e['level_rms_db']:.3f} dB RMS, twist {e['twist_rms_db']:.3f} dB RMS")
    print(f"CPU, one minute at 16 kS/s: noise {f['scan_cpu_ms_per_minute_16k_noise']:.1f} ms", end="")
    if "scan_cpu_ms_per_minute_16k_speech" in f:
        print(f", speech {f['scan_cpu_ms_per_minute_16k_speech']:.1f} ms", end="")
    print(f", dialling at 10 digits/s {f['cpu_ms_per_minute_16k_dialling_10_per_s']:.0f} ms "
          f"({f['cpu_ms_per_digit_16k']:.2f} ms per digit)")
    print(f"(benchmark ran {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
