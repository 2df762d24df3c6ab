"""Recordings a user brings to `tipring analyze`: WAV files and CSV files of time,value.

A recording becomes one `Waveform`. A WAV file carries no volts, so its samples are scaled so
that digital full scale (int16 32767, float 1.0) reads `full_scale_v` volts: calibrate it with
the recorder's gain to get true dBm. A CSV file is two columns, time in seconds and value in
volts (a header line is allowed), sampled at a uniform rate, as a scope or DAQ exports it.

Anything that cannot be read is a `RecordingError` whose text is one line naming the file and
what is wrong with it.
"""

from __future__ import annotations

import csv
import io
import struct
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from harness.dsp.waveform import Waveform

# A CSV time column may jitter by this fraction of the mean step (exporters round times).
_STEP_TOLERANCE = 0.01


class RecordingError(ValueError):
    """A recording that cannot be analysed; str() is the one-line message for the user."""


def read_recording(path: Path, channel: int = 0, full_scale_v: float = 1.0) -> Waveform:
    """The recording at `path` (.wav, or .csv/.txt of time,value) as a Waveform in volts.

    channel: which channel of a multi-channel WAV file, from 0.
    """
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    if path.suffix.lower() == ".wav":
        return read_wav(path, channel, full_scale_v)
    if path.suffix.lower() in (".csv", ".txt"):
        return read_csv(path)
    raise RecordingError(f"{path}: not a recording tipring reads (use .wav, or .csv of time,value)")


def read_wav(path: Path, channel: int = 0, full_scale_v: float = 1.0) -> Waveform:
    """A WAV file's channel, full scale = full_scale_v volts (PCM 8/16/24/32-bit or float)."""
    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError, struct.error) as err:
        raise RecordingError(f"{path}: not a readable WAV file ({_first_line(err)})") from None
    samples = data if data.ndim == 1 else None
    channels = 1 if data.ndim == 1 else data.shape[1]
    if not 0 <= channel < channels:
        raise RecordingError(f"{path}: --channel {channel} does not exist; the file has {channels} "
                             f"channel{'s' if channels != 1 else ''} (0..{channels - 1})")
    if samples is None:
        samples = data[:, channel]
    if len(samples) < 2:
        raise RecordingError(f"{path}: holds {len(samples)} samples; nothing to analyse")
    return Waveform(_to_unit_scale(samples) * full_scale_v, float(rate), unit="V")


def read_csv(path: Path) -> Waveform:
    """A CSV of time (s), value (V), uniformly sampled; a non-numeric first line is a header."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise RecordingError(f"{path}: cannot read ({_first_line(err)})") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
    if rows and not _is_number(rows[0][0]):
        rows = rows[1:]
    times, values = [], []
    for line_no, row in enumerate(rows, start=1):
        if len(row) < 2 or not (_is_number(row[0]) and _is_number(row[1])):
            raise RecordingError(f"{path}: data row {line_no} {','.join(row)[:40]!r} is not time,value")
        times.append(float(row[0]))
        values.append(float(row[1]))
    if len(times) < 2:
        raise RecordingError(f"{path}: holds {len(times)} samples; nothing to analyse")
    t = np.asarray(times)
    steps = np.diff(t)
    step = float(np.mean(steps))
    if not step > 0 or np.max(np.abs(steps - step)) > _STEP_TOLERANCE * step:
        raise RecordingError(f"{path}: the time column is not uniformly increasing "
                             f"(steps from {steps.min():.6g} to {steps.max():.6g} s)")
    return Waveform(np.asarray(values), 1.0 / step, start_s=float(t[0]), unit="V")


def _to_unit_scale(samples: np.ndarray) -> np.ndarray:
    """PCM codes or floats to -1..1 full scale."""
    if samples.dtype.kind == "f":
        return samples.astype(float)
    if samples.dtype == np.uint8:  # 8-bit WAV is offset binary
        return (samples.astype(float) - 128.0) / 128.0
    return samples.astype(float) / float(-np.iinfo(samples.dtype).min)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
