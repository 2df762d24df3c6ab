"""Caller ID FSK receiver: decode rate against SNR, timing accuracy, false messages, throughput.

    .venv/bin/python benchmarks/dsp_callerid.py [--trials 200]

Messages: 42 bytes (date/time, 10-digit number, 15-character name): MDMF on Bell 202, ETSI call
set-up on V.23, random contents, carrier at a random phase, 300 seizure and 180 mark bits. SNR:
FSK power while on against white noise over 0..4 kHz at 8 kS/s (harness.dsp.noise). A message
counts as decoded when the burst's status is "ok" (checksum good); "wrong but ok" counts decodes
whose checksum adds up over bytes that were not sent. Requirement: 95 % at 7 dB (Bell 202) and
9 dB (V.23); spandsp's demodulator is quoted at 10 and 12 dB. When benchmarks/spandsp_ref.py
finds libspandsp, every capture also goes to spandsp's adsi_rx (same samples, scaled so that
the FSK reads -13.5 dBm0), for a like-for-like column.
figures() returns everything printed, for benchmarks/dsp_accuracy.py.
"""

from __future__ import annotations

import argparse
import string
import time

import numpy as np
from scipy import signal

from harness.dsp.callerid import CallTime, callerid_bursts, callerid_signal, etsi_call_setup, mdmf
from harness.dsp.levels import dbm_to_vrms
from harness.dsp.waveform import Waveform
from sweep import lowest_snr_holding  # benchmarks/ is on sys.path when this file is run as a script

try:
    import spandsp_ref   # benchmarks/ is on sys.path when this file is run as a script
except ImportError:
    spandsp_ref = None

SNRS_DB = tuple(range(2, 15))
LEVEL_DBM = -13.5
REQUIRED_DB = {"bell202": 7.0, "v23": 9.0}
SPANDSP_DB = {"bell202": 10.0, "v23": 12.0}
BIT_S = 1 / 1200


def _message(rng: np.random.Generator, standard: str) -> bytes:
    number = "".join(rng.choice(list("0123456789"), 10))
    name = "".join(rng.choice(list(string.ascii_uppercase + " "), 15))
    when = CallTime(int(rng.integers(1, 13)), int(rng.integers(1, 29)), int(rng.integers(0, 24)),
                    int(rng.integers(0, 60)))
    return (mdmf if standard == "bell202" else etsi_call_setup)(number, name, when)


def _spandsp_ready() -> bool:
    return spandsp_ref is not None and spandsp_ref.available()


def decode_rate(standard: str, snr_db: float, trials: int, seed: int) -> dict:
    """Share of messages decoded at snr_db, decodes that add up over wrong bytes, and spandsp's share."""
    rng = np.random.default_rng(seed)
    good = wrong = spandsp_good = 0
    # spandsp takes int16 units in which a sine of peak sine_peak(L) is L dBm0.
    to_pcm = spandsp_ref.sine_peak(LEVEL_DBM) / (np.sqrt(2) * dbm_to_vrms(LEVEL_DBM)) if _spandsp_ready() else None
    for _ in range(trials):
        message = _message(rng, standard)
        w = callerid_signal(message, standard, level_dbm=LEVEL_DBM, rng=rng, snr_db=snr_db, lead_ms=40, trail_ms=40)
        ok = [b for b in callerid_bursts(w) if b.status == "ok"]
        good += any(b.raw == message for b in ok)
        wrong += sum(b.raw != message for b in ok)
        if to_pcm is not None:
            # spandsp delivers type, length and payload; the checksum byte is stripped.
            spandsp_good += message[:-1] in spandsp_ref.callerid_messages(w.samples * to_pcm, standard)
    return {"rate": good / trials, "wrong_but_ok": wrong,
            "spandsp_rate": spandsp_good / trials if to_pcm is not None else None}


def timing_accuracy(standard: str, snr_db: float, trials: int, seed: int) -> dict:
    """Errors of the measured burst and data edges (in bits) and of the seizure/mark counts."""
    rng = np.random.default_rng(seed)
    edges, counts = [], []
    for _ in range(trials):
        w = callerid_signal(_message(rng, standard), standard, rng=rng, snr_db=snr_db, lead_ms=40, trail_ms=40)
        bursts = [b for b in callerid_bursts(w) if b.status == "ok"]
        if not bursts:
            continue
        b, t = bursts[0], w.meta
        edges.append([(b.start_s - t["burst_start_s"]) / BIT_S, (b.end_s - t["burst_end_s"]) / BIT_S,
                      (b.data_start_s - t["data_start_s"]) / BIT_S, (b.data_end_s - t["data_end_s"]) / BIT_S])
        counts.append([b.seizure_bits - t["seizure_bits"], b.mark_bits - t["mark_bits"]])
    e, c = np.abs(np.array(edges)), np.abs(np.array(counts))
    names = ("carrier_on", "carrier_off", "data_start", "data_end")
    out = {f"{n}_rms_bits": float(np.sqrt(np.mean(e[:, i] ** 2))) for i, n in enumerate(names)}
    out.update({f"{n}_max_bits": float(e[:, i].max()) for i, n in enumerate(names)})
    out["seizure_count_max_error_bits"] = int(c[:, 0].max())
    out["mark_count_max_error_bits"] = int(c[:, 1].max())
    return out


def false_messages(minutes: float, seed: int) -> dict:
    """Bursts and messages found in white noise (three levels) and in gated noise filtered to the FSK band."""
    rng = np.random.default_rng(seed)
    fs = 8000.0
    n = int(minutes * 60 * fs)
    out = {}
    for vrms in (0.3, 0.03, 0.003):
        found = callerid_bursts(Waveform(rng.normal(0.0, vrms, n), fs))
        out[f"white_{vrms}V"] = (len(found), sum(b.message is not None for b in found))
    sos = signal.butter(4, [1000, 2400], "bandpass", fs=fs, output="sos")
    gate = np.repeat(rng.random(n // 2000 + 1) < 0.5, 2000)[:n]   # on/off in 250 ms steps
    found = callerid_bursts(Waveform(signal.sosfilt(sos, rng.normal(0.0, 0.3, n)) * gate, fs))
    out["fsk_band_gated"] = (len(found), sum(b.message is not None for b in found))
    return out


def throughput(seed: int) -> dict:
    """Time to scan one minute of 16 kS/s audio (noise at -40 dBm, one burst), best of 5 (wall and CPU)."""
    rng = np.random.default_rng(seed)
    fs = 16000.0
    x = rng.normal(0.0, 0.0077, int(60 * fs))
    burst = callerid_signal(_message(rng, "bell202"), "bell202", fs, rng=rng).samples
    x[int(30 * fs):int(30 * fs) + burst.size] += burst
    w = Waveform(x, fs)
    walls, cpus = [], []
    for _ in range(5):
        w0, c0 = time.perf_counter(), time.process_time()
        found = callerid_bursts(w)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    assert len(found) == 1 and found[0].status == "ok"
    return {"wall_ms": 1000 * min(walls), "cpu_ms": 1000 * min(cpus)}


def figures(trials: int = 200) -> dict:
    """Every number the benchmark prints, as a dict."""
    out: dict = {"trials_per_point": trials, "snrs_db": list(SNRS_DB)}
    for standard in ("bell202", "v23"):
        points = {snr: decode_rate(standard, snr, trials, seed=1000 + snr) for snr in SNRS_DB}
        rates = {snr: p["rate"] for snr, p in points.items()}
        spandsp = {snr: p["spandsp_rate"] for snr, p in points.items()} if _spandsp_ready() else None
        out[standard] = {
            "decode_rate": rates,
            "spandsp_decode_rate": spandsp,
            "spandsp_snr_95_db": lowest_snr_holding(spandsp, 0.95) if spandsp else None,
            "wrong_but_ok": sum(p["wrong_but_ok"] for p in points.values()),
            "snr_95_db": lowest_snr_holding(rates, 0.95),
            "snr_100_db": lowest_snr_holding(rates, 1.0),
            "required_db": REQUIRED_DB[standard],
            "spandsp_db": SPANDSP_DB[standard],
            "timing_at_required_snr": timing_accuracy(standard, REQUIRED_DB[standard], 100, seed=7),
            "timing_at_20db": timing_accuracy(standard, 20.0, 50, seed=8),
        }
    out["false_in_10_min"] = false_messages(10.0, seed=9)
    out["throughput_1min_16k"] = throughput(seed=10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="messages per SNR point (default 200)")
    started = time.perf_counter()
    f = figures(parser.parse_args().trials)
    print(f"decode rate of 42-byte messages, {f['trials_per_point']} per point (SNR dB over 0-4 kHz at 8 kS/s)")
    if not _spandsp_ready():
        print("spandsp column skipped: " + (spandsp_ref.unavailable_reason() if spandsp_ref else "no spandsp_ref.py"))
    print("SNR dB    " + "".join(f"{s:>6}" for s in f["snrs_db"]))
    for standard in ("bell202", "v23"):
        r = f[standard]
        print(f"{standard:<10}" + "".join(f"{100 * r['decode_rate'][s]:>5.1f}%" for s in f["snrs_db"]))
        if r["spandsp_decode_rate"]:
            print(f"{'  spandsp':<10}" + "".join(f"{100 * r['spandsp_decode_rate'][s]:>5.1f}%" for s in f["snrs_db"]))
    for standard in ("bell202", "v23"):
        r = f[standard]
        print(f"{standard}: >= 95 % from {r['snr_95_db']} dB, 100 % from {r['snr_100_db']} dB "
              f"(required {r['required_db']} dB; spandsp quoted {r['spandsp_db']} dB, measured here "
              f"{r['spandsp_snr_95_db']} dB); checksum good over wrong bytes: {r['wrong_but_ok']}")
    for standard in ("bell202", "v23"):
        for key in ("timing_at_required_snr", "timing_at_20db"):
            t = f[standard][key]
            label = f"{f[standard]['required_db']:g} dB" if key == "timing_at_required_snr" else "20 dB"
            print(f"{standard} timing at {label}: rms/max error in bits: "
                  + ", ".join(f"{n} {t[n + '_rms_bits']:.2f}/{t[n + '_max_bits']:.2f}"
                              for n in ("carrier_on", "carrier_off", "data_start", "data_end"))
                  + f"; seizure count max error {t['seizure_count_max_error_bits']}, "
                    f"mark count max error {t['mark_count_max_error_bits']}")
    print("10 min of noise, (bursts, messages): "
          + ", ".join(f"{k} {v}" for k, v in f["false_in_10_min"].items()))
    t = f["throughput_1min_16k"]
    print(f"scan 1 min at 16 kS/s (one burst): {t['wall_ms']:.1f} ms wall, {t['cpu_ms']:.1f} ms CPU (best of 5)")
    print(f"benchmark run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
