"""`tipring analyze` on recordings written the ways users bring them: WAV files and CSV exports."""

from __future__ import annotations

import json
import subprocess
import sys
import wave

import numpy as np
import pytest
from scipy.io import wavfile

from harness.cli import main
from harness.dsp.callerid import CallTime, callerid_signal, dtmf_clip_digits, etsi_call_setup, mdmf
from harness.dsp.dtmf import dtmf_signal
from harness.recording import RecordingError, read_recording

FS = 8000


def dial_tone(seconds: float = 1.0, fs: int = FS, vpk: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return vpk * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))


def run_cli(capsys, *argv: str) -> tuple[int, list[dict], str]:
    status = main(["analyze", *argv])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines()], captured.err


@pytest.mark.parametrize("dtype, full_scale", [(np.int16, 32767), (np.int32, 2**31 - 1), (np.float32, 1.0)])
def test_wav_of_any_sample_format_reads_in_volts_at_the_stated_full_scale(tmp_path, dtype, full_scale):
    x = dial_tone(fs=16_000)
    path = tmp_path / "tone.wav"
    wavfile.write(path, 16_000, (x * full_scale).astype(dtype))
    w = read_recording(path, full_scale_v=2.0)
    assert w.sample_rate_hz == 16_000
    np.testing.assert_allclose(w.samples, 2.0 * x, atol=2.0 * 2 / 32768)  # 2 LSB of int16


def test_a_stereo_wav_gives_the_chosen_channel(tmp_path, capsys):
    path = tmp_path / "two.wav"
    left, right = dial_tone(), np.zeros(FS)
    wavfile.write(path, FS, (np.c_[right, left] * 32767).astype(np.int16))
    status, findings, _ = run_cli(capsys, "tones", str(path), "--channel", "1", "--freqs", "350,440")
    assert status == 0
    tones = [f for f in findings if f["finding"] == "tone"]
    assert [round(f["freq_hz"], 2) for f in tones] == [350.0, 440.0]
    # 0.2 V peak each: 0.1414 Vrms = -14.77 dBm into 600 ohm
    assert all(abs(f["level_dbm"] - (-14.77)) < 0.02 for f in tones)


def test_levels_from_a_csv_export_with_header(tmp_path, capsys):
    t = np.arange(4000) / 4000
    path = tmp_path / "scope.csv"
    np.savetxt(path, np.c_[t, -48.0 + 70.7 * np.sin(2 * np.pi * 20 * t)], delimiter=",",
               header="Time (s),CH1 (V)", comments="")
    status, findings, _ = run_cli(capsys, "levels", str(path), "--impedance", "900", "--dbr", "-3")
    assert status == 0
    [levels] = findings
    assert levels["finding"] == "levels"
    assert levels["dc_v"] == pytest.approx(-48.0, abs=0.01)
    assert levels["ac_rms_v"] == pytest.approx(50.0, rel=1e-3)
    assert levels["level_dbm0"] == pytest.approx(levels["level_dbm"] + 3.0)
    assert levels["impedance_ohm"] == 900


def test_ringing_from_a_recording(tmp_path, capsys):
    fs = 2000
    t = np.arange(fs) / fs
    path = tmp_path / "ring.csv"
    np.savetxt(path, np.c_[t, -48.0 + 90 * np.sin(2 * np.pi * 25 * t)], delimiter=",")
    status, [ring], _ = run_cli(capsys, "ringing", str(path))
    assert status == 0
    assert ring["freq_hz"] == pytest.approx(25.0, abs=0.01)
    assert ring["vrms"] == pytest.approx(90 / np.sqrt(2), rel=1e-3)
    assert ring["dc_offset_v"] == pytest.approx(-48.0, abs=0.05)


def test_cadence_against_a_uk_pattern_from_mid_burst(tmp_path, capsys):
    fs = FS
    t = np.arange(int(6.5 * fs)) / fs
    pattern = [400, 200, 400, 2000]
    phase_ms = (t * 1000 + 700) % sum(pattern)  # the recording starts 700 ms into the cadence
    on = (phase_ms < 400) | ((phase_ms >= 600) & (phase_ms < 1000))
    x = 0.3 * (np.sin(2 * np.pi * 400 * t) + np.sin(2 * np.pi * 450 * t)) * on
    path = tmp_path / "uk.wav"
    wavfile.write(path, fs, (x * 32767 / 0.7).astype(np.int16))
    status, findings, _ = run_cli(capsys, "cadence", str(path), "--pattern", "400,200,400,2000",
                                  "--full-scale-v", "0.7")
    assert status == 0
    intervals = [f for f in findings if f["finding"] == "interval"]
    assert len(intervals) >= 6
    assert all(abs(f["error_ms"]) < 1.0 for f in intervals)
    assert sorted({f["nominal_ms"] for f in intervals}) == [200, 400, 2000]
    [summary] = [f for f in findings if f["finding"] == "cadence"]
    assert summary["max_error_ms"] < 1.0


@pytest.mark.parametrize("name, content, message", [
    ("missing.wav", None, "no such file"),
    ("notes.txt", "hello,world\n1,2\n3,x\n", "data row 2 '3,x' is not time,value"),
    ("jitter.csv", "0,1\n0.001,1\n0.0025,1\n", "not uniformly increasing"),
    ("one.csv", "t,v\n0,1\n", "holds 1 samples"),
    ("junk.wav", "RIFF nonsense", "not a readable WAV file"),
    ("data.bin", "x", "not a recording tipring reads"),
])
def test_an_unreadable_file_is_one_line_and_exit_2(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    status, findings, err = run_cli(capsys, "levels", str(path))
    assert status == 2
    assert findings == []
    assert err.count("\n") == 1 and str(path) in err and message in err


def test_a_channel_the_wav_does_not_have_is_named(tmp_path):
    path = tmp_path / "mono.wav"
    wavfile.write(path, FS, np.zeros(100, dtype=np.int16))
    with pytest.raises(RecordingError, match=r"--channel 1 does not exist; the file has 1 channel \(0..0\)"):
        read_recording(path, channel=1)


def test_a_truncated_wav_is_refused(tmp_path):
    path = tmp_path / "cut.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(FS)
        out.writeframes((dial_tone() * 32767).astype(np.int16).tobytes())
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(RecordingError, match="cut.wav"):
        read_recording(path)


def test_the_installed_command_prints_json_lines(tmp_path):
    path = tmp_path / "tone.wav"
    wavfile.write(path, FS, (dial_tone() * 32767).astype(np.int16))
    done = subprocess.run([sys.executable, "-m", "harness.cli", "analyze", "tones", str(path)],
                          capture_output=True, text=True, check=True)
    kinds = [json.loads(line)["finding"] for line in done.stdout.splitlines()]
    assert kinds == ["tone", "tone", "purity"]


def test_dtmf_digits_from_a_48k_recording(tmp_path, capsys):
    w = dtmf_signal("5A#", sample_rate_hz=48_000, on_ms=60, off_ms=70, level_dbm=-10, twist_db=-3)
    path = tmp_path / "dtmf.wav"
    wavfile.write(path, 48_000, w.samples.astype(np.float32))
    status, findings, _ = run_cli(capsys, "dtmf", str(path))
    assert status == 0
    assert [f["digit"] for f in findings] == ["5", "A", "#"]
    assert all(abs(f["duration_ms"] - 60) < 2 and abs(f["twist_db"] - (-3)) < 0.2 for f in findings)


def test_caller_id_burst_with_its_message_and_a_bad_checksum_said_so(tmp_path, capsys):
    good = callerid_signal(mdmf(number="8005551212", name="JOHN DOE", when=CallTime(3, 24, 9, 2)))
    bad = callerid_signal(mdmf(number="8005551212", corrupt_checksum=True))
    path = tmp_path / "cid.wav"
    wavfile.write(path, FS, np.concatenate([good.samples, bad.samples]).astype(np.float32))
    status, findings, _ = run_cli(capsys, "callerid", str(path), "--standard", "bell202")
    assert status == 0
    first, second = [f for f in findings if f["finding"] == "burst"]
    assert first["status"] == "ok" and first["message"]["checksum_ok"] is True
    assert first["message"]["parameters"]["number"] == "8005551212"
    assert first["message"]["parameters"]["name"] == "JOHN DOE"
    assert first["seizure_bits"] >= 298 and "note" not in first
    assert second["status"] == "bad checksum" and second["message"]["checksum_ok"] is False


def test_caller_id_in_the_other_standard_is_noted(tmp_path, capsys):
    w = callerid_signal(etsi_call_setup(number="0123456789"), standard="v23")
    path = tmp_path / "v23.wav"
    wavfile.write(path, FS, w.samples.astype(np.float32))
    status, [burst], _ = run_cli(capsys, "callerid", str(path), "--standard", "bell202")
    assert burst["standard"] == "v23" and burst["message"]["parameters"]["number"] == "0123456789"
    assert burst["note"] == "the burst is v23 FSK, not the expected bell202"


def test_dtmf_caller_id(tmp_path, capsys):
    w = dtmf_signal(dtmf_clip_digits(number="0612345678", framing="A..C"), on_ms=70, off_ms=70)
    path = tmp_path / "clip.wav"
    wavfile.write(path, FS, w.samples.astype(np.float32))
    status, [clip], _ = run_cli(capsys, "callerid", str(path), "--standard", "dtmf")
    assert status == 0
    assert clip["number"] == "0612345678" and clip["complete"] is True
