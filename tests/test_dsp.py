"""harness.dsp on synthesized tip-ring captures with seeded noise: every result against its truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.dsp import (Waveform, ac_rms, cadence_intervals, crest_factor, dbm_to_vrms, dc_step, dc_v,
                         first_crossing_s, match_cadence, peak, ring_burst, segments, tone_components,
                         tone_envelope, tone_frequency_hz, tone_onset_s, true_rms, unwanted_power_db,
                         vrms_to_dbm)
from harness.dsp.cadence import Interval

FS = 8000.0
BENCH_T0 = 100.0  # captures start at this bench time, so every time result must include it
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)


def _sine(t, freq_hz, amplitude, phase_rad=0.0):
    return amplitude * np.sin(2 * np.pi * freq_hz * t + phase_rad)


def _capture(samples, fs=FS, **kw) -> Waveform:
    return Waveform(samples, fs, start_s=BENCH_T0, **kw)


def _cadenced(pattern_ms, tones, duration_s, rng, phase_s, dc_on=0.0, dc_off=0.0, noise_vrms=0.0):
    """Tones [(freq_hz, amplitude)] keyed on/off by a repeating pattern [on, off, ...] (ms).

    The capture starts phase_s into the pattern. Returns the Waveform and the true edge times.
    """
    t = np.arange(int(duration_s * FS)) / FS
    bounds_s = np.cumsum([0.0] + list(pattern_ms)) / 1000.0
    cycle_s = bounds_s[-1]
    position = (t + phase_s) % cycle_s
    on = np.zeros(t.size, bool)
    for k in range(0, len(pattern_ms), 2):
        on |= (position >= bounds_s[k]) & (position < bounds_s[k + 1])
    signal = sum(_sine(t, f, a, rng.uniform(0, 2 * np.pi)) for f, a in tones)
    x = np.where(on, dc_on + signal, dc_off) + rng.normal(0, noise_vrms, t.size)
    edges = [c * cycle_s + b - phase_s for c in range(int(duration_s / cycle_s) + 2) for b in bounds_s[:-1]]
    edges = sorted(e for e in edges if 0 < e < duration_s)
    return _capture(x), BENCH_T0 + np.array(edges)


def _check_edges(segs, true_edges, w, tolerance_ms):
    """Every true edge away from the capture ends was found, each found edge is within tolerance."""
    found = np.array([s.start_s for s in segs[1:]])
    end = w.start_s + w.duration_s
    for edge in true_edges:
        if w.start_s + 0.2 < edge < end - 0.2:
            assert found.size and np.min(np.abs(found - edge)) * 1000 < tolerance_ms, (edge, found)
    for edge in found:
        assert np.min(np.abs(true_edges - edge)) * 1000 < tolerance_ms, (edge, true_edges)
    assert segs[0].partial and segs[-1].partial
    assert not any(s.partial for s in segs[1:-1])
    assert segs[0].start_s == w.start_s and segs[-1].end_s == pytest.approx(end)
    assert all(a.on != b.on and a.end_s == b.start_s for a, b in zip(segs, segs[1:]))


# ---------------------------------------------------------------- levels


def test_levels_of_a_sine_on_dc():
    t = np.arange(8000) / FS
    w = _capture(-48.0 + _sine(t, 20.0, 70.0))  # 20 whole periods
    assert dc_v(w) == pytest.approx(-48.0, abs=1e-9)
    assert ac_rms(w) == pytest.approx(70.0 / math.sqrt(2), rel=1e-9)
    assert true_rms(w) == pytest.approx(math.sqrt(48.0 ** 2 + 70.0 ** 2 / 2), rel=1e-9)
    assert peak(w) == pytest.approx(118.0, rel=1e-6)
    assert crest_factor(w) == pytest.approx(math.sqrt(2), rel=1e-6)


def test_crest_factor_of_a_square_wave_and_of_no_ac():
    square = _capture(np.tile([5.0, 5.0, -5.0, -5.0], 100) + 3.0)
    assert crest_factor(square) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no AC"):
        crest_factor(_capture(np.full(100, -48.0)))


def test_dbm_conversions():
    assert vrms_to_dbm(math.sqrt(0.6)) == pytest.approx(0.0, abs=1e-12)  # 1 mW in 600 ohm
    assert dbm_to_vrms(-13.0) == pytest.approx(0.1733, abs=5e-4)
    assert dbm_to_vrms(0.0, impedance_ohm=900.0) == pytest.approx(0.9487, abs=5e-4)
    for dbm in (-40.0, -13.5, 0.0, 7.0):
        assert vrms_to_dbm(dbm_to_vrms(dbm, 900.0), 900.0) == pytest.approx(dbm, abs=1e-12)
    assert vrms_to_dbm(0.0) == -math.inf
    with pytest.raises(ValueError, match="vrms"):
        vrms_to_dbm(-1.0)
    with pytest.raises(ValueError, match="impedance"):
        dbm_to_vrms(0.0, impedance_ohm=0.0)


# ---------------------------------------------------------------- tones


@PROPERTY
@given(freq=st.floats(15.0, 68.0), vrms=st.floats(1.0, 100.0), phase=st.floats(0.0, 2 * np.pi),
       dc=st.floats(-60.0, 60.0), seed=st.integers(0, 2 ** 32 - 1))
def test_ring_frequency_is_exact_to_a_hundredth_of_a_hertz(freq, vrms, phase, dc, seed):
    # 1 s burst at 8 kS/s with 1 % noise: the brief asks for << 0.1 Hz.
    rng = np.random.default_rng(seed)
    t = np.arange(8000) / FS
    w = _capture(dc + _sine(t, freq, vrms * math.sqrt(2), phase) + rng.normal(0, 0.01 * vrms, t.size))
    assert abs(tone_frequency_hz(w, 10.0, 100.0) - freq) < 0.01


@PROPERTY
@given(freq=st.floats(300.0, 3400.0), amplitude=st.floats(0.01, 2.0), phase=st.floats(0.0, 2 * np.pi),
       seed=st.integers(0, 2 ** 32 - 1))
def test_voiceband_frequency_is_exact_to_a_twentieth_of_a_hertz(freq, amplitude, phase, seed):
    # 0.5 s of tone with 1 % noise: the brief asks for << 0.5 Hz.
    rng = np.random.default_rng(seed)
    t = np.arange(4000) / FS
    w = _capture(_sine(t, freq, amplitude, phase) + rng.normal(0, 0.01 * amplitude, t.size))
    assert abs(tone_frequency_hz(w, 200.0, 3600.0) - freq) < 0.05


@pytest.mark.parametrize("seed", range(8))
def test_dial_tone_levels_within_0_2_db_at_20_db_snr(seed):
    rng = np.random.default_rng(seed)
    t = np.arange(4000) / FS
    a = dbm_to_vrms(-13.0) * math.sqrt(2)
    tone = _sine(t, 350.0, a, rng.uniform(0, 6.3)) + _sine(t, 440.0, a, rng.uniform(0, 6.3))
    noise = rng.normal(0, np.std(tone) / 10, t.size)  # 20 dB SNR
    w = _capture(-8.0 + tone + noise)  # off-hook loop voltage under the tone
    low, high = tone_components(w, [350.0, 440.0])
    for c, f in ((low, 350.0), (high, 440.0)):
        assert abs(c.freq_hz - f) < 0.5
        assert abs(c.level_dbm - -13.0) < 0.2
        assert c.level_vrms == pytest.approx(dbm_to_vrms(c.level_dbm), rel=1e-9)


def test_unequal_tone_levels_are_reported_in_the_order_asked():
    rng = np.random.default_rng(11)
    t = np.arange(4000) / FS
    x = _sine(t, 440.0, dbm_to_vrms(-18.0) * math.sqrt(2)) + _sine(t, 350.0, dbm_to_vrms(-22.0) * math.sqrt(2), 1.0)
    found = tone_components(_capture(x + rng.normal(0, 0.002, t.size)), [440.0, 350.0])
    assert [round(c.freq_hz) for c in found] == [440, 350]
    assert found[0].level_dbm == pytest.approx(-18.0, abs=0.1)
    assert found[1].level_dbm == pytest.approx(-22.0, abs=0.1)


def test_wrong_dial_tone_frequency_is_visible():
    # 360 + 440 Hz where 350 + 440 Hz is expected.
    rng = np.random.default_rng(3)
    t = np.arange(4000) / FS
    a = dbm_to_vrms(-13.0) * math.sqrt(2)
    w = _capture(_sine(t, 360.0, a) + _sine(t, 440.0, a, 2.0) + rng.normal(0, 0.001, t.size))
    low, high = tone_components(w, [350.0, 440.0])
    assert low.freq_hz == pytest.approx(360.0, abs=0.05)  # a 10 Hz frequency error, at full level
    assert low.level_dbm == pytest.approx(-13.0, abs=0.1)
    assert high.freq_hz == pytest.approx(440.0, abs=0.05)
    assert unwanted_power_db(w, [350.0, 440.0]) > -3.0  # the 360 Hz tone is unwanted power
    assert unwanted_power_db(w, [low.freq_hz, high.freq_hz]) < -35.0
    # A search window too narrow to reach 360 Hz reports a weak component instead.
    assert tone_components(w, [350.0, 440.0], search_hz=5.0)[0].level_dbm < -20.0


def test_unwanted_power_counts_a_harmonic():
    t = np.arange(8000) / FS
    a = 0.25
    x = _sine(t, 480.0, a) + _sine(t, 620.0, a) + _sine(t, 1440.0, a * 10 ** (-30 / 20))  # 3rd of 480 at -30 dB
    # harmonic power / both tones' power = 10^-3 / 2
    assert unwanted_power_db(_capture(x), [480.0, 620.0]) == pytest.approx(-30.0 - 10 * math.log10(2), abs=0.1)
    # The same harmonic outside the band counted does not count.
    assert unwanted_power_db(_capture(x), [480.0, 620.0], band_hz=(300.0, 1000.0)) < -100


def test_tone_envelope_follows_a_tone_in_vrms_on_the_bench_clock():
    t = np.arange(16000) / FS
    x = np.where(t >= 1.0, _sine(t, 440.0, 0.3), 0.0) - 8.0
    env = tone_envelope(_capture(x, name="fxs1.line_v"), [440.0])
    assert env.start_s == BENCH_T0 and env.name == "fxs1.line_v.envelope"
    assert np.median(env.samples[t > 1.1]) == pytest.approx(0.3 / math.sqrt(2), rel=0.02)
    assert np.max(env.samples[t < 0.9]) < 0.003


# ---------------------------------------------------------------- ringing


@PROPERTY
@given(freq=st.floats(15.0, 68.0), vrms=st.floats(20.0, 100.0), phase=st.floats(0.0, 2 * np.pi),
       dc=st.floats(-60.0, 0.0), duration=st.floats(0.4, 1.0), seed=st.integers(0, 2 ** 32 - 1))
def test_ring_burst_recovers_a_sine_burst_on_dc(freq, vrms, phase, dc, duration, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * FS)) / FS
    a = vrms * math.sqrt(2)
    r = ring_burst(_capture(dc + _sine(t, freq, a, phase) + rng.normal(0, 0.01 * vrms, t.size)))
    assert r.vrms == pytest.approx(vrms, rel=2e-3)
    assert r.dc_offset_v == pytest.approx(dc, abs=0.1)
    assert abs(r.freq_hz - freq) < 0.01
    assert 1.40 < r.crest_factor < 1.47  # sine; 1 % noise lifts the peak a little
    assert abs(r.peak_v - (abs(dc) + a)) < 0.04 * a
    assert r.thd_pct < 0.5
    assert r.periods == int(len(t) / FS * r.freq_hz)
    assert not r.clipped


def test_ring_burst_measures_harmonic_distortion_and_crest_factor():
    t = np.arange(8000) / FS
    fundamental = 70.0
    x = (-48.0 + _sine(t, 25.0, fundamental) + _sine(t, 75.0, 0.08 * fundamental, 0.3)
         + _sine(t, 125.0, 0.06 * fundamental))
    r = ring_burst(_capture(x))
    assert r.thd_pct == pytest.approx(10.0, abs=0.01)
    assert r.vrms == pytest.approx(fundamental * math.sqrt(1 + 0.08 ** 2 + 0.06 ** 2) / math.sqrt(2), rel=1e-4)
    assert r.crest_factor == pytest.approx(crest_factor(_capture(x)), rel=1e-3)


def test_clipped_ring_burst_is_analysed_and_flagged():
    t = np.arange(8000) / FS
    w = _capture(np.clip(_sine(t, 20.0, 90.0), -80.0, 80.0), clipped=True)
    r = ring_burst(w)
    assert r.clipped and w.clipped
    assert r.freq_hz == pytest.approx(20.0, abs=0.01)
    assert r.vrms < 90.0 / math.sqrt(2)  # the clipped value reads low: the flag is what tells
    assert r.peak_v == pytest.approx(80.0)


def test_ring_burst_refuses_a_current_capture_and_a_too_short_one():
    t = np.arange(8000) / FS
    with pytest.raises(ValueError, match="volts"):
        ring_burst(_capture(_sine(t, 20.0, 0.04), unit="A"))
    with pytest.raises(ValueError, match="at least"):
        ring_burst(_capture(_sine(t[:800], 20.0, 70.0)))  # 0.1 s, two periods of 10 Hz need 0.2 s


# ---------------------------------------------------------------- cadence


@pytest.mark.parametrize("seed", range(3))
def test_us_ringing_cadence_at_a_random_phase(seed):
    # 20 Hz, 2 s on / 4 s off; ringing at 0 V offset, battery -48 V between bursts (a DC step at
    # every edge), 1 % noise.
    rng = np.random.default_rng(seed)
    w, edges = _cadenced([2000, 4000], [(20.0, 70.7)], 12.0, rng, rng.uniform(0, 6), dc_on=0.0, dc_off=-48.0,
                         noise_vrms=0.5)
    segs = segments(w, band_hz=(10.0, 100.0))
    _check_edges(segs, edges, w, tolerance_ms=2.0)
    match = match_cadence(cadence_intervals(segs), [2000, 4000])
    assert len(match.pairs) >= 2 and match.max_error_ms < 2.0
    assert all(s.level_vrms == pytest.approx(50.0, rel=0.05) for s in segs if s.on)


@pytest.mark.parametrize("seed", range(3))
def test_uk_ringing_cadence_at_a_random_phase(seed):
    # 25 Hz, 400/200/400/2000 ms, riding on -48 V with 15 V of offset change while ringing.
    rng = np.random.default_rng(100 + seed)
    phase_s = rng.uniform(0, 3)
    w, edges = _cadenced([400, 200, 400, 2000], [(25.0, 106.0)], 6.0, rng, phase_s, dc_on=-33.0, dc_off=-48.0,
                         noise_vrms=0.75)
    segs = segments(w)
    _check_edges(segs, edges, w, tolerance_ms=2.0)
    match = match_cadence(cadence_intervals(segs), [400, 200, 400, 2000])
    assert match.max_error_ms < 2.0
    # The first complete interval is the one after the interval the capture started in (or the
    # one after that when the capture starts within 0.2 s of an edge, which is dropped).
    first_complete = cadence_intervals(segs)[0].start_s - BENCH_T0 + phase_s
    assert np.cumsum([0, 400, 200, 400, 2000])[match.phase_index] / 1000 == pytest.approx(first_complete % 3.0,
                                                                                            abs=0.002)


@pytest.mark.parametrize("tones, pattern", [
    ([(440.0, 0.3)], [300, 700]),
    ([(440.0, 0.12), (480.0, 0.12)], [2000, 4000]),  # US ringback
    ([(400.0, 0.18), (450.0, 0.18)], [400, 200, 400, 2000]),  # UK ringback
])
def test_tone_cadence_edges_within_a_millisecond(tones, pattern):
    rng = np.random.default_rng(int(sum(pattern)))
    signal_vrms = math.sqrt(sum(a * a / 2 for _, a in tones))
    w, edges = _cadenced(pattern, tones, 7.0, rng, rng.uniform(0, sum(pattern) / 1000), dc_on=-8.0, dc_off=-8.0,
                         noise_vrms=signal_vrms / 30)  # 30 dB SNR
    segs = segments(w, band_hz=(300.0, 3400.0))
    _check_edges(segs, edges, w, tolerance_ms=1.0)
    complete = cadence_intervals(segs)
    if complete:
        assert match_cadence(complete, pattern).max_error_ms < 1.0


def test_short_capture_edge_segments_are_partial_and_not_intervals():
    # 1.5 s of 500/500 busy tone: two partial ends, whole intervals in between.
    rng = np.random.default_rng(5)
    w, edges = _cadenced([500, 500], [(480.0, 0.08), (620.0, 0.08)], 1.5, rng, 0.3, noise_vrms=0.001)
    segs = segments(w, band_hz=(300.0, 3400.0))
    assert segs[0].partial and segs[-1].partial
    assert segs[0].duration_ms == pytest.approx(200.0, abs=1.0) and segs[0].on
    intervals = cadence_intervals(segs)
    assert [iv.on for iv in intervals] == [False, True]
    assert all(iv.duration_ms == pytest.approx(500.0, abs=1.0) for iv in intervals)


def test_steady_tone_needs_a_threshold_and_then_is_one_segment():
    t = np.arange(16000) / FS
    w = _capture(_sine(t, 350.0, 0.245) + _sine(t, 440.0, 0.245))
    with pytest.raises(ValueError, match="no on/off contrast"):
        segments(w, band_hz=(300.0, 3400.0))
    (only,) = segments(w, band_hz=(300.0, 3400.0), threshold_vrms=0.05)
    assert only.on and only.partial and only.duration_ms == pytest.approx(2000.0)
    (silent,) = segments(_capture(np.zeros(16000)), freqs_hz=[350.0, 440.0], threshold_vrms=0.05)
    assert not silent.on


def test_short_glitches_are_merged_not_reported():
    t = np.arange(24000) / FS
    on = (t > 0.5) & (t < 2.5) & ~((t > 1.0) & (t < 1.01))  # a 10 ms dropout inside the burst
    w = _capture(np.where(on, _sine(t, 440.0, 0.3), 0.0))
    assert [s.on for s in segments(w, band_hz=(300.0, 3400.0))] == [False, True, False]


def test_match_cadence_aligns_any_starting_point():
    pattern = [400, 200, 400, 2000]
    measured = [Interval(True, 401.0, 0.0), Interval(False, 1999.0, 0.0), Interval(True, 399.5, 0.0),
                Interval(False, 200.5, 0.0)]
    match = match_cadence(measured, pattern)
    assert match.phase_index == 2
    assert [p.nominal_ms for p in match.pairs] == [400, 2000, 400, 200]
    assert match.max_error_ms == pytest.approx(1.0)
    assert match_cadence(measured[1:], pattern).phase_index == 3
    with pytest.raises(ValueError, match="no complete"):
        match_cadence([], pattern)
    with pytest.raises(ValueError, match="on/off pairs"):
        match_cadence(measured, [400, 200, 400])


# ---------------------------------------------------------------- edges


def _loop_current(step_at_s, rng, noise_a=0.001, duration_s=0.5, fs=10000.0):
    """Loop current stepping 0 -> 25 mA with a ~2 ms rise at step_at_s (relative), with noise."""
    t = np.arange(int(duration_s * fs)) / fs
    i = 0.025 / (1 + np.exp(-np.clip((t - step_at_s) / 0.0005, -50, 50)))
    return t, i + rng.normal(0, noise_a, t.size)


def test_first_crossing_with_noise_and_a_glitch():
    rng = np.random.default_rng(21)
    for step_at in rng.uniform(0.15, 0.4, size=5):
        t, i = _loop_current(step_at, rng)
        i[(t > step_at - 0.1) & (t < step_at - 0.097)] = 0.02  # 3 ms contact bounce before the real rise
        w = _capture(i, fs=10000.0, unit="A")
        assert first_crossing_s(w, 0.0125) < BENCH_T0 + step_at - 0.09  # the bounce, without hold
        for crossing in (first_crossing_s(w, 0.0125, hold_s=0.01),
                         first_crossing_s(w, 0.0125, hold_s=0.01, lowpass_hz=500.0)):
            assert crossing - BENCH_T0 == pytest.approx(step_at, abs=5e-4)


def test_first_crossing_is_nan_when_it_cannot_be_seen():
    rng = np.random.default_rng(22)
    t, i = _loop_current(0.3, rng)
    w = _capture(i, fs=10000.0, unit="A")
    assert math.isnan(first_crossing_s(w, 0.030))  # never reaches 30 mA
    assert math.isnan(first_crossing_s(w, 0.0125, after_s=BENCH_T0 + 0.35))  # already above
    assert math.isnan(first_crossing_s(w, 0.0125, hold_s=0.25))  # capture ends before the hold
    assert math.isnan(first_crossing_s(w, 0.0125, rising=False, hold_s=0.01))  # no fall that holds


def test_falling_crossing_and_after_s():
    t = np.arange(10000) / 10000.0
    v = np.where((t > 0.2) & (t < 0.6), -8.0, -48.0)  # off-hook for 0.4 s: line voltage rises then falls
    w = _capture(v, fs=10000.0)
    assert first_crossing_s(w, -28.0) == pytest.approx(BENCH_T0 + 0.2, abs=1e-4)
    assert first_crossing_s(w, -28.0, rising=False) == pytest.approx(BENCH_T0 + 0.6, abs=1e-4)
    assert math.isnan(first_crossing_s(w, -28.0, after_s=BENCH_T0 + 0.3))


def test_dc_step_of_loop_current_on_off_hook():
    rng = np.random.default_rng(23)
    t, i = _loop_current(0.2137, rng)
    s = dc_step(_capture(i, fs=10000.0, unit="A"))
    assert s.time_s - BENCH_T0 == pytest.approx(0.2137, abs=3e-4)
    assert s.level_before == pytest.approx(0.0, abs=5e-4) and s.level_after == pytest.approx(0.025, abs=5e-4)
    assert s.step == pytest.approx(0.025, abs=1e-3) and s.unit == "A"


def test_dc_step_under_ringing_current_at_ring_trip():
    # 30 mA rms of 20 Hz ringing current, then the set goes off-hook: 25 mA DC and ringing stops.
    rng = np.random.default_rng(24)
    fs = 2000.0
    t = np.arange(int(2 * fs)) / fs
    trip_s = 1.234
    i = np.where(t < trip_s, _sine(t, 20.0, 0.0424), 0.025) + rng.normal(0, 0.0005, t.size)
    s = dc_step(_capture(i, fs=fs, unit="A"), lowpass_hz=5.0)
    assert s.time_s - BENCH_T0 == pytest.approx(trip_s, abs=0.01)
    assert s.level_after == pytest.approx(0.025, abs=1e-3)


def test_dial_tone_onset_after_the_hook_transition():
    rng = np.random.default_rng(25)
    t = np.arange(int(2 * FS)) / FS
    hook = np.where(t < 0.3, -48.0, -8.0 - 40.0 * np.exp(-np.clip(t - 0.3, 0, None) / 0.001))
    a = dbm_to_vrms(-13.0) * math.sqrt(2)
    for tone_at in rng.uniform(0.5, 1.5, size=3):
        tone = (t >= tone_at) * (_sine(t, 350.0, a, rng.uniform(0, 6.3)) + _sine(t, 440.0, a, rng.uniform(0, 6.3)))
        w = _capture(hook + tone + rng.normal(0, 0.005, t.size))
        assert tone_onset_s(w, [350.0, 440.0]) - BENCH_T0 == pytest.approx(tone_at, abs=0.003)
        assert tone_onset_s(w, [350.0, 440.0], min_level_vrms=0.12) - BENCH_T0 == pytest.approx(tone_at, abs=0.006)
    silent = _capture(hook + rng.normal(0, 0.005, t.size))
    assert math.isnan(tone_onset_s(silent, [350.0, 440.0]))
    assert math.isnan(tone_onset_s(silent, [350.0, 440.0], min_level_vrms=0.05))


# ---------------------------------------------------------------- bad input


ANALYSES = {
    "dc_v": dc_v,
    "ac_rms": ac_rms,
    "true_rms": true_rms,
    "peak": peak,
    "crest_factor": crest_factor,
    "tone_frequency_hz": lambda w: tone_frequency_hz(w, 10.0, 100.0),
    "tone_components": lambda w: tone_components(w, [350.0, 440.0]),
    "unwanted_power_db": lambda w: unwanted_power_db(w, [440.0]),
    "tone_envelope": lambda w: tone_envelope(w, [440.0]),
    "ring_burst": ring_burst,
    "segments": segments,
    "first_crossing_s": lambda w: first_crossing_s(w, 1.0),
    "dc_step": dc_step,
    "tone_onset_s": lambda w: tone_onset_s(w, [440.0]),
}
BAD = {
    "empty": (np.array([]), "0 samples"),
    "one sample": (np.array([1.0]), "1 samples"),
    "all NaN": (np.full(8000, np.nan), "8000 of 8000 samples NaN"),
    "a NaN gap": (np.concatenate([np.sin(np.arange(8000) / 20.0), [np.nan], np.zeros(99)]), "1 of 8100 samples NaN"),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("analysis", ANALYSES)
def test_unusable_captures_are_refused_with_a_reason(analysis, bad):
    samples, reason = BAD[bad]
    with pytest.raises(ValueError, match=reason):
        ANALYSES[analysis](_capture(samples, name="fxs1.line_v"))


@pytest.mark.parametrize("analysis", ["tone_frequency_hz", "tone_components", "ring_burst", "segments", "dc_step"])
def test_a_flat_capture_is_refused(analysis):
    with pytest.raises(ValueError):
        ANALYSES[analysis](_capture(np.full(8000, -48.0)))


def test_analyses_refuse_nonsense_arguments():
    w = _capture(_sine(np.arange(8000) / FS, 440.0, 0.3))
    with pytest.raises(ValueError, match="f_min_hz"):
        tone_frequency_hz(w, 500.0, 400.0)
    with pytest.raises(ValueError, match="expected_hz"):
        tone_components(w, [])
    with pytest.raises(ValueError, match="duplicates"):
        tone_components(w, [440.0, 440.0])
    with pytest.raises(ValueError, match="hold_s"):
        first_crossing_s(w, 0.0, hold_s=-1.0)
    with pytest.raises(ValueError, match="threshold_vrms"):
        segments(w, threshold_vrms=0.0)
    with pytest.raises(ValueError, match="lowpass_hz"):
        dc_step(w, lowpass_hz=4000.0)
    with pytest.raises(ValueError, match="pattern_ms"):
        match_cadence([Interval(True, 400.0, 0.0)], [400, -200])
