"""harness.dsp.dtmf: generator/receiver round trips, Q.24 accept/reject boundaries, sensitivity in
white noise, talk-off on synthetic speech (espeak-ng), and refusal of bad input."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import wavfile
from scipy.signal import resample_poly

from harness.dsp.dtmf import (DtmfBurst, DtmfLimits, detect_dtmf, dtmf_digits, dtmf_frequencies_hz, dtmf_schedule,
                              dtmf_signal, dtmf_waveform)
from harness.dsp.levels import dbm_to_vrms
from harness.dsp.waveform import Waveform

ALL_KEYS = "0123456789*#ABCD"
BENCH_T0 = 100.0  # captures start at this bench time, so every time result must include it
PROPERTY = settings(max_examples=100, deadline=None, derandomize=True)


def _at_bench_time(w: Waveform) -> Waveform:
    return Waveform(w.samples, w.sample_rate_hz, start_s=BENCH_T0)


# --- round trips over the generator's parameter space ------------------------------------------

@PROPERTY
@given(digits=st.text(alphabet=ALL_KEYS, min_size=1, max_size=4),
       sample_rate_hz=st.sampled_from([8000.0, 16000.0, 44100.0, 48000.0]),
       offsets_pct=st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)),
       twist_db=st.floats(-8.0, 4.0),
       weaker_dbm=st.floats(-36.0, -3.0),
       on_ms=st.floats(40.0, 120.0), off_ms=st.floats(40.0, 120.0),
       seed=st.integers(0, 2**16))
def test_round_trip_measures_every_parameter(digits, sample_rate_hz, offsets_pct, twist_db, weaker_dbm, on_ms,
                                             off_ms, seed):
    """Digits, times, frequencies, levels and twist come back from 30 dB SNR captures.

    Tolerances: the change-point edges land within a few samples at 30 dB SNR (asserted 1 ms,
    the issue asks 2 ms); the frequency fit's standard deviation at 30 dB SNR for the weakest
    allowed tone over 36 ms is below 0.1 Hz (asserted 0.5 Hz); levels within 0.3 dB.
    """
    level_dbm = weaker_dbm - min(twist_db, 0.0)  # the low tone; the weaker tone sits at weaker_dbm
    rng = np.random.default_rng(seed)
    w = _at_bench_time(dtmf_signal(digits, sample_rate_hz, on_ms, off_ms, level_dbm, twist_db, offsets_pct,
                                   rng=rng, snr_db=30.0))
    found = detect_dtmf(w)
    assert "".join(d.digit for d in found) == digits
    for d, burst in zip(found, dtmf_schedule(digits, on_ms, off_ms)):
        start_s = BENCH_T0 + round(burst.start_s * sample_rate_hz) / sample_rate_hz
        end_s = BENCH_T0 + round((burst.start_s + on_ms / 1000) * sample_rate_hz) / sample_rate_hz
        assert abs(d.start_s - start_s) < 1e-3 and abs(d.end_s - end_s) < 1e-3, (d, start_s, end_s)
        assert d.duration_ms == pytest.approx((d.end_s - d.start_s) * 1000)
        low_hz, high_hz = dtmf_frequencies_hz(d.digit)
        assert d.low_hz == pytest.approx(low_hz * (1 + offsets_pct[0] / 100), abs=0.5)
        assert d.high_hz == pytest.approx(high_hz * (1 + offsets_pct[1] / 100), abs=0.5)
        assert d.low_dbm == pytest.approx(level_dbm, abs=0.3)
        assert d.high_dbm == pytest.approx(level_dbm + twist_db, abs=0.3)
        assert d.twist_db == pytest.approx(twist_db, abs=0.3)


def test_per_digit_timing_and_levels_into_another_impedance():
    """Per-digit on/off lists place each burst; levels are read into the impedance given."""
    bursts = dtmf_schedule("159#", on_ms=[45, 60, 80, 100], off_ms=[40, 70, 55, 0], lead_ms=30)
    assert [b.start_s for b in bursts] == pytest.approx([0.030, 0.115, 0.245, 0.380])
    w = dtmf_waveform(bursts, 0.55, 16000.0, level_dbm=-10.0, twist_db=3.0, impedance_ohm=900.0)
    found = detect_dtmf(w, impedance_ohm=900.0)
    assert [d.digit for d in found] == list("159#")
    assert [d.duration_ms for d in found] == pytest.approx([45, 60, 80, 100], abs=0.5)
    assert all(d.low_dbm == pytest.approx(-10.0, abs=0.01) for d in found)
    # The same volts read into 600 ohm carry 10 log10(900/600) = 1.76 dB more power.
    assert detect_dtmf(w)[0].low_dbm == pytest.approx(-10.0 + 10 * math.log10(1.5), abs=0.01)


def test_capture_riding_on_loop_dc_keeps_bench_times():
    """An off-hook tip-ring capture: the digits sit on -8 V of loop voltage."""
    clean = dtmf_signal("42", level_dbm=-20.0)
    w = Waveform(clean.samples - 8.0, 8000.0, start_s=BENCH_T0)
    found = detect_dtmf(w)
    assert [d.digit for d in found] == ["4", "2"]
    assert found[0].start_s == pytest.approx(BENCH_T0 + 0.050, abs=1e-3)
    assert found[0].low_dbm == pytest.approx(-20.0, abs=0.05)


# --- Q.24 accept / reject boundaries (every key at once) ----------------------------------------

RATES = pytest.mark.parametrize("sample_rate_hz", [8000.0, 48000.0])


@RATES
@pytest.mark.parametrize("offsets_pct", [(1.5, 0), (-1.5, 0), (0, 1.5), (0, -1.5), (1.5, -1.5), (-1.5, 1.5)])
def test_frequency_within_1_5_percent_is_accepted(sample_rate_hz, offsets_pct):
    assert dtmf_digits(dtmf_signal(ALL_KEYS, sample_rate_hz, freq_offsets_pct=offsets_pct)) == ALL_KEYS


@RATES
@pytest.mark.parametrize("offsets_pct", [(3.5, 0), (-3.5, 0), (0, 3.5), (0, -3.5)])
def test_frequency_beyond_3_5_percent_is_rejected(sample_rate_hz, offsets_pct):
    assert dtmf_digits(dtmf_signal(ALL_KEYS, sample_rate_hz, freq_offsets_pct=offsets_pct)) == ""


@RATES
def test_twist_limits(sample_rate_hz):
    """High group accepted from 4 dB above to 8 dB below the low group; rejected at +6 / -10 dB."""
    for twist_db, expected in ((4.0, ALL_KEYS), (-8.0, ALL_KEYS), (6.0, ""), (-10.0, "")):
        assert dtmf_digits(dtmf_signal(ALL_KEYS, sample_rate_hz, twist_db=twist_db)) == expected, twist_db


@RATES
def test_level_limits(sample_rate_hz):
    """Both tones at -36 dBm accepted, at -45 dBm rejected; one tone at -45 dBm is enough to reject."""
    assert dtmf_digits(dtmf_signal(ALL_KEYS, sample_rate_hz, level_dbm=-36.0, twist_db=0.0)) == ALL_KEYS
    assert dtmf_digits(dtmf_signal(ALL_KEYS, sample_rate_hz, level_dbm=-45.0, twist_db=0.0)) == ""
    assert dtmf_digits(dtmf_signal(ALL_KEYS, sample_rate_hz, level_dbm=-37.0, twist_db=-8.0)) == ""


@RATES
def test_duration_limits(sample_rate_hz):
    """40 ms tones accepted, 23 ms tones rejected."""
    assert dtmf_digits(dtmf_signal(ALL_KEYS, sample_rate_hz, on_ms=40.0)) == ALL_KEYS
    assert dtmf_digits(dtmf_signal(ALL_KEYS, sample_rate_hz, on_ms=23.0)) == ""


@RATES
def test_40_ms_gap_separates_repeated_digits_and_10_ms_interruption_does_not(sample_rate_hz):
    assert dtmf_digits(dtmf_signal("5555", sample_rate_hz, on_ms=40.0, off_ms=40.0)) == "5555"
    # A 60 ms tone broken for 10 ms in its middle (resuming at another phase) is one digit.
    rng = np.random.default_rng(3)
    w = dtmf_waveform([DtmfBurst("8", 0.05, 25.0), DtmfBurst("8", 0.085, 25.0)], 0.2, sample_rate_hz, rng=rng)
    (digit,) = detect_dtmf(w)
    assert digit.digit == "8"
    assert digit.start_s == pytest.approx(0.05, abs=1e-3) and digit.end_s == pytest.approx(0.11, abs=1e-3)
    assert digit.low_dbm == pytest.approx(-6.0, abs=0.1)


def test_limits_can_be_widened_to_grade_an_out_of_tolerance_generator():
    """A DUT with 12 dB of twist at -42 dBm is rejected by default but measured under wider limits."""
    w = dtmf_signal("7", level_dbm=-30.0, twist_db=-12.0, freq_offsets_pct=(2.0, -2.0))
    assert detect_dtmf(w) == ()
    (digit,) = detect_dtmf(w, limits=DtmfLimits(twist_min_db=-15.0, min_level_dbm=-50.0))
    assert digit.twist_db == pytest.approx(-12.0, abs=0.01) and digit.high_dbm == pytest.approx(-42.0, abs=0.01)
    assert digit.low_hz == pytest.approx(852 * 1.02, abs=0.01)
    assert digit.high_hz == pytest.approx(1209 * 0.98, abs=0.01)
    # A tighter frequency window rejects what the default accepts.
    assert detect_dtmf(dtmf_signal("7", freq_offsets_pct=(2.0, 0.0)), limits=DtmfLimits(max_deviation_pct=1.8)) == ()


# --- what a real line adds ---------------------------------------------------------------------

def _tone(w: Waveform, freq_hz: float, level_dbm: float) -> np.ndarray:
    return dbm_to_vrms(level_dbm) * math.sqrt(2) * np.sin(2 * np.pi * freq_hz * np.arange(len(w)) / w.sample_rate_hz)


def test_generator_ramps_distortion_and_dial_tone_do_not_block_a_digit():
    """Raised-cosine ramps put the edges mid-ramp; a DUT's own harmonics and intermodulation, and
    dial tone under the digits, are not taken for speech."""
    ramped = detect_dtmf(dtmf_signal(ALL_KEYS, rise_ms=5.0, on_ms=60.0))
    assert "".join(d.digit for d in ramped) == ALL_KEYS
    assert ramped[0].start_s == pytest.approx(0.050 + 0.0025, abs=0.5e-3)
    assert ramped[0].end_s == pytest.approx(0.110 - 0.0025, abs=0.5e-3)
    clean = dtmf_signal(ALL_KEYS)
    x = clean.samples / np.abs(clean.samples).max()
    distorted = clean.samples + 0.1 * np.abs(clean.samples).max() * (x**2 + x**3)  # products about 20 dB down
    assert dtmf_digits(Waveform(distorted, 8000.0)) == ALL_KEYS
    dial_tone = _tone(clean, 350.0, -13.0) + _tone(clean, 440.0, -13.0)
    assert dtmf_digits(Waveform(clean.samples + dial_tone, 8000.0)) == ALL_KEYS


def test_a_third_tone_makes_it_not_a_digit():
    """Talk-off guard: a 1000 Hz tone 9 dB below the weaker DTMF tone is a sign of something else;
    at 24 dB below it is not."""
    clean = dtmf_signal(ALL_KEYS)  # low tone -6 dBm, high -4 dBm
    assert dtmf_digits(Waveform(clean.samples + _tone(clean, 1000.0, -15.0), 8000.0)) == ""
    assert dtmf_digits(Waveform(clean.samples + _tone(clean, 1000.0, -30.0), 8000.0)) == ALL_KEYS


# --- noise: sensitivity and false digits --------------------------------------------------------

def test_every_key_decodes_at_6_db_snr():
    """25 of each key, 50 ms on / 50 ms off, -7/-5 dBm, white noise 6 dB below the tones' power."""
    rng = np.random.default_rng(2024)
    digits = ALL_KEYS * 25
    w = dtmf_signal(digits, level_dbm=-7.0, twist_db=2.0, rng=rng, snr_db=6.0)
    assert dtmf_digits(w) == digits


def test_a_minute_of_white_noise_holds_no_digit():
    rng = np.random.default_rng(7)
    for sample_rate_hz, rms_v in ((8000.0, 0.3), (16000.0, 0.01)):
        noise = Waveform(rng.normal(0.0, rms_v, int(60 * sample_rate_hz)), sample_rate_hz)
        assert detect_dtmf(noise) == ()


# --- talk-off on speech -------------------------------------------------------------------------

SPEECH_TEXTS = (
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore.",
    "Please hold the line while we connect your call. Press one for sales, two for support, or stay on "
    "the line for an operator.",
    "Hello, can you hear me now? The number is nine eight seven six five four three two one zero.",
    "Mary had a little lamb, its fleece was white as snow. Oooh, aaah, eeee, mmmm, la la la la, do re mi fa so.",
)
SPEECH_VOICES = {
    "en-us": SPEECH_TEXTS, "en-gb": SPEECH_TEXTS, "en-us+f2": SPEECH_TEXTS, "en-gb+f4": SPEECH_TEXTS,
    "en-us+m3": SPEECH_TEXTS,
    "de+f2": ("Guten Tag, hier spricht der automatische Anrufbeantworter. Bitte hinterlassen Sie eine Nachricht.",),
    "fr": ("Bonjour, vous etes bien sur la messagerie vocale. Veuillez laisser un message apres le bip sonore.",),
}


@pytest.fixture(scope="module")
def speech_8k(tmp_path_factory) -> np.ndarray:
    """A few minutes of espeak-ng speech (several voices, low and high pitch) at 8 kS/s, scaled so
    that its active level is -15 dBm into 600 ohm."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    out = tmp_path_factory.mktemp("speech") / "speech.wav"
    parts = []
    for voice, texts in SPEECH_VOICES.items():
        for k, text in enumerate(texts):
            pitch = ("30", "90")[k % 2]
            subprocess.run(["espeak-ng", "-v", voice, "-p", pitch, "-w", str(out), text], check=True,
                           capture_output=True)
            rate, x = wavfile.read(out)
            g = math.gcd(8000, rate)
            parts.append(resample_poly(x.astype(float), 8000 // g, rate // g))
    x = np.concatenate(parts)
    envelope = np.sqrt(np.convolve(x**2, np.ones(160) / 160, "same"))
    active = envelope > envelope.max() * 0.01  # within 40 dB of the loudest 20 ms
    return x * dbm_to_vrms(-15.0) / np.sqrt(np.mean(x[active] ** 2))


def test_speech_causes_no_false_digit(speech_8k):
    assert len(speech_8k) > 8000 * 90  # minutes of speech, not seconds (about 2.3 min)
    for gain_db in (-10.0, 0.0, 10.0):  # -25, -15 and -5 dBm active level
        w = Waveform(speech_8k * 10 ** (gain_db / 20), 8000.0)
        assert detect_dtmf(w) == (), gain_db
    # The same speech at 16 kS/s (what a bench digitizer may capture).
    assert detect_dtmf(Waveform(resample_poly(speech_8k, 2, 1), 16000.0)) == ()


def test_digits_after_speech_still_decode(speech_8k):
    """Speech and digits in one capture: only the digits come out, at their times."""
    speech = speech_8k[:8000 * 5]
    digits = dtmf_signal("2580", level_dbm=-10.0, lead_ms=0.0)
    w = Waveform(np.concatenate([speech, digits.samples]), 8000.0)
    found = detect_dtmf(w)
    assert "".join(d.digit for d in found) == "2580"
    assert found[0].start_s == pytest.approx(5.0, abs=1e-3)


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: dtmf_signal("12E4"), "not a DTMF key: 'E'"),
    (lambda: dtmf_signal(1234), "digits must be a string"),
    (lambda: dtmf_signal("1", sample_rate_hz=6000), "sample_rate_hz must be >= 8000"),
    (lambda: dtmf_signal("1", on_ms=0), "on_ms must be > 0"),
    (lambda: dtmf_signal("12", on_ms=[50]), "on_ms: 1 values for 2 digits"),
    (lambda: dtmf_signal("1", snr_db=6), "snr_db needs rng"),
    (lambda: dtmf_signal("1", rise_ms=30), "rise_ms 30 does not fit"),
    (lambda: dtmf_signal("1", freq_offsets_pct=(1.0,)), "freq_offsets_pct must be (low, high)"),
    (lambda: dtmf_signal("1", impedance_ohm=0), "impedance_ohm must be a finite value > 0"),
    (lambda: dtmf_waveform([DtmfBurst("1", 0.9, 200)], 1.0), "does not fit in the 1.0 s capture"),
    (lambda: detect_dtmf(Waveform(np.zeros(100), 4000.0)), "sample_rate_hz must be >= 8000"),
    (lambda: detect_dtmf(Waveform(np.array([0.0, np.nan, 0.0]), 8000.0)), "1 of 3 samples NaN"),
    (lambda: detect_dtmf(np.zeros(100)), "expected a Waveform"),
    (lambda: detect_dtmf(Waveform(np.zeros(100), 8000.0), impedance_ohm=-600), "impedance_ohm must be"),
    (lambda: DtmfLimits(twist_min_db=5, twist_max_db=-5), "twist_min_db 5 must be below twist_max_db -5"),
    (lambda: DtmfLimits(max_deviation_pct=float("nan")), "every limit must be a finite number"),
    (lambda: DtmfLimits(max_deviation_pct=4.0), "max_deviation_pct must lie in (0, 2.5] %"),
])
def test_bad_input_is_refused_in_one_line(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_silence_and_short_captures_hold_no_digit():
    assert detect_dtmf(Waveform(np.zeros(8000), 8000.0)) == ()
    assert detect_dtmf(Waveform(np.zeros(10), 8000.0)) == ()
