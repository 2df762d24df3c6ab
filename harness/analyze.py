"""`tipring analyze`: the harness's signal analysis on a user's own recording.

    tipring analyze {levels,tones,ringing,cadence,dtmf,callerid} FILE [options]

Reads a WAV (any sample rate, any channel with --channel) or a CSV of time,value, runs the same
`harness.dsp` analysis the test plans use, and prints one JSON object per finding (per tone
component, segment, interval, digit or message, or one summary), each with a "finding" key
naming what it is. A file that cannot be read is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from harness.dsp import levels, tones
from harness.dsp.cadence import cadence_intervals, match_cadence, segments
from harness.dsp.callerid import CallerIdMessage, alert_signals, callerid_bursts, dtmf_clip_messages
from harness.dsp.dtmf import detect_dtmf
from harness.dsp.ringing import ring_burst
from harness.dsp.waveform import Waveform
from harness.recording import RecordingError, read_recording

Finding = dict[str, Any]

# Where `tones` looks for components when none are named: the telephone voice band.
VOICE_BAND_HZ = (200.0, 3400.0)


def jsonable(value: Any) -> Any:
    """A result (dataclass, numpy scalar, tuple ...) as plain JSON types; NaN and inf become null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), np.ndarray)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finding(kind: str, result: Any = None, **extra: Any) -> Finding:
    """One line of output: {"finding": kind, **fields of result, **extra}."""
    fields = jsonable(result) if result is not None else {}
    return {"finding": kind, **fields, **jsonable(extra)}


# --------------------------------------------------------------------------------------------
# One function per analysis: (waveform, options) -> findings


def analyze_levels(w: Waveform, args: argparse.Namespace) -> Iterator[Finding]:
    summary = levels.level_summary(w)
    level_dbm = levels.vrms_to_dbm(summary.ac_rms, args.impedance)
    yield finding("levels", dc_v=summary.dc, ac_rms_v=summary.ac_rms, true_rms_v=summary.true_rms,
                  peak_v=summary.peak, crest_factor=summary.crest_factor, level_dbm=level_dbm,
                  level_dbm0=levels.dbm_to_dbm0(level_dbm, args.dbr), impedance_ohm=args.impedance,
                  duration_s=w.duration_s, sample_rate_hz=w.sample_rate_hz)


def analyze_tones(w: Waveform, args: argparse.Namespace) -> Iterator[Finding]:
    expected = args.freqs or tones.spectral_peaks_hz(w, tuple(args.band))
    if not expected:
        yield finding("tones", components=0, note=f"no tone in {args.band[0]:g}-{args.band[1]:g} Hz")
        return
    for component in tones.tone_components(w, expected, impedance_ohm=args.impedance):
        yield finding("tone", component, level_dbm0=levels.dbm_to_dbm0(component.level_dbm, args.dbr))
    yield finding("purity", tones.tone_purity(w, expected, impedance_ohm=args.impedance))


def analyze_ringing(w: Waveform, args: argparse.Namespace) -> Iterator[Finding]:
    yield finding("ringing", ring_burst(w))


def analyze_cadence(w: Waveform, args: argparse.Namespace) -> Iterator[Finding]:
    segs = segments(w, freqs_hz=args.freqs)
    for seg in segs:
        yield finding("segment", seg)
    if args.pattern:
        intervals = cadence_intervals(segs)
        if not intervals:
            yield finding("cadence", note="no complete on or off interval to match against the pattern")
            return
        match = match_cadence(intervals, args.pattern)
        for pair in match.pairs:
            yield finding("interval", pair)
        yield finding("cadence", pattern_ms=args.pattern, phase_index=match.phase_index,
                      max_error_ms=match.max_error_ms)


def analyze_dtmf(w: Waveform, args: argparse.Namespace) -> Iterator[Finding]:
    for digit in detect_dtmf(w, impedance_ohm=args.impedance):
        yield finding("digit", digit)


def caller_id_message(message: CallerIdMessage | None) -> dict | None:
    """A decoded message as the user reads it: type, checksum verdict, parameters by name."""
    if message is None:
        return None
    return {"type": message.kind, "checksum_ok": message.checksum_ok, "raw": message.raw.hex(),
            "parameters": {p.name: jsonable(p.value) for p in message.parameters}}


def analyze_callerid(w: Waveform, args: argparse.Namespace) -> Iterator[Finding]:
    for alert in alert_signals(w, impedance_ohm=args.impedance):
        yield finding("alert", alert)
    if args.standard == "dtmf":
        for clip in dtmf_clip_messages(w, impedance_ohm=args.impedance):
            yield finding("dtmf_clip", clip)
        return
    for burst in callerid_bursts(w, impedance_ohm=args.impedance):
        fields = jsonable(burst)
        fields["message"] = caller_id_message(burst.message)
        if args.standard and burst.standard != args.standard:
            fields["note"] = f"the burst is {burst.standard} FSK, not the expected {args.standard}"
        yield {"finding": "burst", **fields}


ANALYSES: dict[str, tuple[Callable[[Waveform, argparse.Namespace], Iterable[Finding]], str]] = {
    "levels": (analyze_levels, "DC, AC and true RMS, peak, crest factor, dBm and dBm0"),
    "tones": (analyze_tones, "frequency and level of each tone component, and what else is in the band"),
    "ringing": (analyze_ringing, "ring burst: Vrms, DC offset, frequency, crest factor, THD"),
    "cadence": (analyze_cadence, "on/off segments, and each interval against --pattern"),
    "dtmf": (analyze_dtmf, "each digit: start, end, both frequencies, levels and twist"),
    "callerid": (analyze_callerid, "alert tones and each FSK burst (timing, level, seizure, message) "
                                   "or DTMF caller ID with --standard dtmf"),
}


# --------------------------------------------------------------------------------------------
# Command line


def _numbers(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _band(text: str) -> list[float]:
    values = _numbers(text)
    if len(values) != 2 or not 0 <= values[0] < values[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not a band LOW,HIGH in Hz")
    return values


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`tipring analyze KIND FILE` and its options, on the tipring command's subparsers."""
    parser = sub.add_parser("analyze", help="analyse a recording (WAV or CSV) and print JSON lines",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("analysis", choices=sorted(ANALYSES),
                        help="; ".join(f"{name}: {text}" for name, (_, text) in sorted(ANALYSES.items())))
    parser.add_argument("file", type=Path, metavar="FILE", help="a .wav file, or a .csv of time (s),value (V)")
    parser.add_argument("--channel", type=int, default=0, help="WAV channel, from 0 (default 0)")
    parser.add_argument("--full-scale-v", type=float, default=1.0, metavar="VOLTS",
                        help="volts at a WAV file's digital full scale (default 1.0)")
    parser.add_argument("--impedance", type=float, default=600.0, metavar="OHM",
                        help="impedance for dBm (default 600; 900 for some networks)")
    parser.add_argument("--dbr", type=float, default=0.0,
                        help="relative level of the point recorded, for dBm0 = dBm - dBr (default 0)")
    parser.add_argument("--freqs", type=_numbers, metavar="HZ[,HZ...]",
                        help="expected tone frequencies (tones, cadence); default: found in --band")
    parser.add_argument("--band", type=_band, default=list(VOICE_BAND_HZ), metavar="LOW,HIGH",
                        help="band searched for tones when --freqs is not given (default 200,3400)")
    parser.add_argument("--pattern", type=_numbers, metavar="MS[,MS...]",
                        help="expected cadence, on and off alternately from an on interval, e.g. 400,200,400,2000")
    parser.add_argument("--standard", choices=("bell202", "v23", "dtmf"),
                        help="caller ID: the FSK standard expected (found from the mark frequency when not "
                             "given), or dtmf for DTMF caller ID")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        w = read_recording(args.file, channel=args.channel, full_scale_v=args.full_scale_v)
    except RecordingError as error:
        print(f"tipring analyze: {error}", file=err)
        return 2
    analysis, _ = ANALYSES[args.analysis]
    try:
        for item in analysis(w, args):
            print(json.dumps(item), file=out)
    except ValueError as error:  # the analysis refused the signal: say why in one line
        print(f"tipring analyze {args.analysis}: {args.file}: {error}", file=err)
        return 1
    return 0
