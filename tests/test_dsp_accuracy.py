"""harness.dsp at the physical limit.

Round trips through harness.dsp.generate over the parameter space (hypothesis), statistical
accuracy against the Cramer-Rao bound with seeded noise, worked dBm / dBm0 values, distortion
of known ring shapes, and one-line refusals of unusable input.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from harness.dsp import (Waveform, am_tone_components, cadence_intervals, dbm0_to_dbm, dbm0_to_vrms, dbm_to_dbm0,
                         dbm_to_vrms, level_summary, match_cadence, ring_burst, segments, tone_components,
                         tone_frequency_hz, tone_purity, vrms_to_dbm, vrms_to_dbm0)
from harness.dsp import generate as gen
from harness.dsp.generate import trapezoid_ramp_fraction

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)
BENCH_T0 = 50.0  # generated captures start at this bench time: every time result must include it


def crb_hz(snr_db: float, n: int, fs: float) -> float:
    """Cramer-Rao bound (standard deviation, Hz) of the frequency of one sinusoid in white noise,
    SNR = A^2 / (2 sigma^2)."""
    snr = 10 ** (snr_db / 10)
    return math.sqrt(12.0 / ((2 * math.pi) ** 2 * snr * n * (n * n - 1))) * fs


def rms(values) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


# ---------------------------------------------------------------- levels: worked values


def test_dbm_worked_values():
    assert dbm_to_vrms(0.0) == pytest.approx(0.7746, abs=1e-4)  # 1 mW in 600 ohm
    assert dbm_to_vrms(0.0, 900.0) == pytest.approx(0.9487, abs=1e-4)  # 1 mW in 900 ohm
    assert dbm_to_vrms(-13.0) == pytest.approx(0.1734, abs=1e-4)  # US dial tone, per frequency
    assert vrms_to_dbm(1.0) == pytest.approx(2.218, abs=1e-3)
    assert vrms_to_dbm(1.0, 900.0) == pytest.approx(0.458, abs=1e-3)


def test_dbm0_worked_values():
    # -13 dBm0 at a -7 dBr point is -20 dBm there: 77.5 mV in 600 ohm.
    assert dbm0_to_dbm(-13.0, -7.0) == -20.0
    assert dbm0_to_vrms(-13.0, -7.0) == pytest.approx(0.07746, abs=1e-5)
    # -9 dBm measured at a +4 dBr point is -13 dBm0.
    assert dbm_to_dbm0(-9.0, 4.0) == -13.0
    assert vrms_to_dbm0(dbm_to_vrms(-9.0, 900.0), 4.0, 900.0) == pytest.approx(-13.0, abs=1e-12)
    for level in (-40.0, -13.0, 0.0, 3.0):
        assert vrms_to_dbm0(dbm0_to_vrms(level, -3.5, 900.0), -3.5, 900.0) == pytest.approx(level, abs=1e-12)
    with pytest.raises(ValueError, match="dBr"):
        dbm_to_dbm0(-13.0, math.nan)


def test_level_summary_of_ringing_on_the_battery():
    # 50 Vrms 25 Hz sine on -48 V, 40 whole periods at 8 kS/s.
    w = gen.ringing(50.0, 25.0, 1.6, 8000.0, battery_v=-48.0, phase_rad=0.7)
    s = level_summary(w)
    assert s.dc == pytest.approx(-48.0, abs=1e-9)
    assert s.ac_rms == pytest.approx(50.0, rel=1e-9)
    assert s.true_rms == pytest.approx(math.hypot(48.0, 50.0), rel=1e-9)
    assert s.peak == pytest.approx(48.0 + 50.0 * math.sqrt(2), rel=1e-4)  # samples miss the crest a little
    assert s.crest_factor == pytest.approx(math.sqrt(2), rel=1e-4)
    assert s.unit == "V"
    assert math.isnan(level_summary(Waveform(np.full(100, 3.0), 8000.0)).crest_factor)


@pytest.mark.parametrize("crest", [1.1, 1.25, 1.5])
def test_trapezoidal_ringing_has_the_crest_factor_asked(crest):
    w = gen.ringing(60.0, 20.0, 1.0, 8000.0, battery_v=0.0, shape="trapezoid", crest_factor=crest)
    s = level_summary(w)
    assert s.ac_rms == pytest.approx(60.0, rel=2e-3)  # sampled ramps: 400 samples a period
    assert s.crest_factor == pytest.approx(crest, rel=2e-3)


# ---------------------------------------------------------------- generators


def test_tone_generator_levels_phases_and_noise():
    rng = np.random.default_rng(1)
    clean = gen.tone([350.0, 440.0], -13.0, 2.0, 8000.0, phases_rad=[0.5, 1.0], dc_v=-8.0, start_s=BENCH_T0)
    noisy = gen.tone([350.0, 440.0], -13.0, 2.0, 8000.0, phases_rad=[0.5, 1.0], dc_v=-8.0, start_s=BENCH_T0,
                     rng=rng, snr_db=20.0)
    a = dbm_to_vrms(-13.0) * math.sqrt(2)
    assert clean.samples[0] == pytest.approx(-8.0 + a * (math.cos(0.5) + math.cos(1.0)))
    assert clean.start_s == BENCH_T0 and clean.unit == "V" and len(clean) == 16000
    noise = noisy.samples - clean.samples
    assert np.var(noise) == pytest.approx(2 * a * a / 2 / 100, rel=0.03)  # 20 dB below both tones' power
    again = gen.tone([350.0, 440.0], -13.0, 2.0, 8000.0, phases_rad=[0.5, 1.0], dc_v=-8.0, start_s=BENCH_T0,
                     rng=np.random.default_rng(1), snr_db=20.0)
    assert np.array_equal(again.samples, noisy.samples)  # deterministic given the rng


def test_cadenced_generator_states_its_truth():
    base = gen.tone([400.0], None, 4.0, 8000.0, amplitudes_v=1.0, start_s=BENCH_T0)
    w = gen.cadenced(base, [400, 200, 400, 2000], start_phase_ms=500.0, edge_ms=4.0)
    # 500 ms into the cycle is 100 ms into the 200 ms off interval.
    assert w.meta["on_at_start"] is False
    assert w.meta["edges_s"] == pytest.approx(BENCH_T0 + np.array([0.1, 0.5, 2.5, 2.9, 3.1, 3.5]))
    t = np.arange(len(w)) / 8000.0
    envelope = np.abs(w.samples)
    assert np.max(envelope[(t > 0.0) & (t < 0.098)]) == 0.0
    assert np.max(envelope[(t > 0.102) & (t < 0.498)]) == pytest.approx(1.0, abs=1e-3)
    gate = gen.cadence_gate(np.array([0.1, 0.5]), [400, 200, 400, 2000], 500.0, edge_ms=4.0)
    assert gate == pytest.approx([0.5, 0.5])  # smooth edges pass halfway at the nominal edge
    assert list(gen.cadence_edges_s([2000, 4000], 12.0, 1000.0)) == pytest.approx([1.0, 5.0, 7.0, 11.0])
    # A function of time works as well as a Waveform; ringing carries the same truth.
    keyed = gen.cadenced(lambda t: np.sin(2 * np.pi * 440.0 * t), [500, 500], 2.0, 8000.0, start_phase_ms=750.0)
    assert keyed.meta["edges_s"] == pytest.approx([0.25, 0.75, 1.25, 1.75]) and not keyed.meta["on_at_start"]
    ring = gen.ringing(50.0, 25.0, 6.0, 8000.0, battery_v=-48.0, offset_v=0.0, cadence_ms=[2000, 4000])
    assert ring.meta["edges_s"] == pytest.approx([2.0]) and ring.meta["on_at_start"]
    assert ring.samples[-1] == -48.0 and level_summary(ring.slice_s(0.0, 2.0)).ac_rms == pytest.approx(50.0, rel=1e-3)


def test_am_tone_generator_level_is_the_meter_reading():
    w = gen.am_tone(400.0, 25.0, 0.9, -13.0, 2.0, 8000.0)  # 50 whole modulation periods
    assert level_summary(w).ac_rms == pytest.approx(dbm_to_vrms(-13.0), rel=1e-6)


# ---------------------------------------------------------------- single-tone frequency vs the CRB


@pytest.mark.parametrize("fs, duration_s, snr_db", [
    (8000.0, 0.05, 0.0), (8000.0, 0.2, 10.0), (8000.0, 1.0, 20.0), (8000.0, 2.0, 40.0),
    (16000.0, 0.05, 30.0), (16000.0, 1.0, 0.0), (48000.0, 0.2, 20.0),
])
def test_tone_frequency_rms_error_is_within_1_2_of_the_cramer_rao_bound(fs, duration_s, snr_db):
    rng = np.random.default_rng(int(fs + 1000 * duration_s + snr_db))
    errors = []
    for _ in range(200):
        f = rng.uniform(300.0, 3400.0)
        w = gen.tone([f], None, duration_s, fs, amplitudes_v=1.0, phases_rad=rng.uniform(0, 2 * np.pi),
                     dc_v=rng.uniform(-48.0, 0.0), rng=rng, snr_db=snr_db)
        errors.append(tone_frequency_hz(w, 200.0, 3600.0) - f)
    bound = crb_hz(snr_db, round(duration_s * fs), fs)
    # 200 trials: the RMS is known to about 5 %, so a ratio of 1.0 lands within 0.85..1.15.
    assert 0.8 < rms(errors) / bound < 1.2
    assert np.max(np.abs(errors)) < 5 * bound  # no outliers


@pytest.mark.parametrize("fs, snr_db", [(2000.0, 20.0), (8000.0, 0.0), (8000.0, 40.0)])
def test_ring_frequency_from_a_1_s_burst_is_within_1_2_of_the_cramer_rao_bound(fs, snr_db):
    # 16-50 Hz on a -48 V battery: a non-integer number of cycles, a few of them at 16 Hz.
    rng = np.random.default_rng(int(fs + snr_db))
    errors = []
    for _ in range(200):
        f = rng.uniform(16.0, 50.0)
        w = gen.ringing(rng.uniform(40.0, 90.0), f, 1.0, fs, battery_v=-48.0, phase_rad=rng.uniform(0, 2 * np.pi),
                        rng=rng, snr_db=snr_db)
        errors.append(tone_frequency_hz(w, 10.0, 100.0) - f)
    bound = crb_hz(snr_db, round(fs), fs)
    assert 0.8 < rms(errors) / bound < 1.2
    assert np.max(np.abs(errors)) < 5 * bound


# ---------------------------------------------------------------- dual tones, AM tones, purity


@pytest.mark.parametrize("freqs, level_dbm, duration_s", [
    ((350.0, 440.0), -13.0, 0.5),  # US dial
    ((480.0, 620.0), -24.0, 0.5),  # US busy
    ((400.0, 450.0), -18.0, 0.5),  # UK ringback
    ((2130.0, 2750.0), -15.0, 0.08),  # CAS, 80 ms
])
def test_dual_tone_levels_within_a_tenth_of_a_db_at_20_db_snr(freqs, level_dbm, duration_s):
    rng = np.random.default_rng(int(sum(freqs)))
    level_errors, freq_errors = [], []
    for _ in range(100):
        w = gen.tone(freqs, level_dbm, duration_s, 8000.0, phases_rad=rng.uniform(0, 2 * np.pi, 2), dc_v=-8.0,
                     rng=rng, snr_db=20.0)
        found = tone_components(w, freqs)
        level_errors += [c.level_dbm - level_dbm for c in found]
        freq_errors += [c.freq_hz - f for c, f in zip(found, freqs)]
    assert rms(level_errors) < 0.1
    assert abs(np.mean(level_errors)) < 0.02  # no bias
    # Each tone carries half the power: its own SNR is 17 dB.
    assert rms(freq_errors) < 1.2 * crb_hz(20.0 - 10 * math.log10(2), round(duration_s * 8000.0), 8000.0)


def test_india_am_tone_carrier_modulation_depth_and_level_at_20_db_snr():
    rng = np.random.default_rng(400)
    errors = {"level_db": [], "depth": [], "carrier_hz": [], "modulation_hz": []}
    for _ in range(100):
        w = gen.am_tone(400.0, 25.0, 0.9, -13.0, 0.5, 8000.0, carrier_phase_rad=rng.uniform(0, 2 * np.pi),
                        modulation_phase_rad=rng.uniform(0, 2 * np.pi), rng=rng, snr_db=20.0)
        am = am_tone_components(w, 400.0, 25.0)
        errors["level_db"].append(am.level_dbm + 13.0)
        errors["depth"].append(am.depth - 0.9)
        errors["carrier_hz"].append(am.carrier_hz - 400.0)
        errors["modulation_hz"].append(am.modulation_hz - 25.0)
    assert rms(errors["level_db"]) < 0.05
    assert rms(errors["depth"]) < 0.01
    assert rms(errors["carrier_hz"]) < 0.01
    assert rms(errors["modulation_hz"]) < 0.01


def test_am_tone_reports_carrier_and_sidebands_apart():
    w = gen.am_tone(425.0, 24.0, 1.0, -10.0, 1.0, 8000.0)  # Singapore-style, 100 % depth
    am = am_tone_components(w, 425.0, 24.0)
    carrier = dbm_to_vrms(-10.0) * math.sqrt(2 / 1.5) / math.sqrt(2)
    assert am.depth == pytest.approx(1.0, abs=1e-6)
    assert am.carrier_vrms == pytest.approx(carrier, rel=1e-6)
    assert am.sideband_vrms == pytest.approx((carrier / 2, carrier / 2), rel=1e-6)
    assert am.level_dbm == pytest.approx(-10.0, abs=1e-6)
    assert am.carrier_dbm == pytest.approx(vrms_to_dbm(carrier), abs=1e-9)


def test_purity_lists_the_harmonic_and_the_spur_at_their_levels():
    rng = np.random.default_rng(31)
    tone_v = dbm_to_vrms(-24.0) * math.sqrt(2)
    wanted = gen.tone([480.0, 620.0], None, 1.0, 8000.0, amplitudes_v=tone_v, phases_rad=[0.1, 0.2])
    extra = gen.tone([1440.0, 1000.0], None, 1.0, 8000.0, amplitudes_v=[tone_v * 10 ** (-30 / 20),
                                                                     tone_v * 10 ** (-45 / 20)])
    noise = rng.normal(0.0, tone_v * 10 ** (-50 / 20), len(wanted))
    w = Waveform(wanted.samples + extra.samples + noise, 8000.0)
    p = tone_purity(w, [480.0, 620.0])
    assert [round(c.freq_hz) for c in p.unwanted] == [1440, 1000]  # strongest first
    assert p.unwanted[0].level_dbm == pytest.approx(-54.0, abs=0.1)
    assert p.unwanted[1].level_dbm == pytest.approx(-69.0, abs=0.3)
    assert p.unwanted[0].freq_hz == pytest.approx(1440.0, abs=0.01)
    # harmonic + spur + in-band noise (3100 of 4000 Hz) against both tones
    unwanted = 10 ** -3 + 10 ** -4.5 + 2 * 10 ** -5 * 3100 / 4000
    assert p.unwanted_db == pytest.approx(10 * math.log10(unwanted / 2), abs=0.2)
    assert p.wanted_vrms == pytest.approx(tone_v, rel=1e-3)


@pytest.mark.parametrize("seed", range(4))
def test_purity_of_a_clean_tone_in_noise_lists_nothing(seed):
    rng = np.random.default_rng(seed)
    w = gen.tone([350.0, 440.0], -13.0, 1.0, 8000.0, phases_rad=rng.uniform(0, 6, 2), rng=rng, snr_db=30.0)
    found = [c.freq_hz for c in tone_components(w, [350.0, 440.0])]
    p = tone_purity(w, found)
    assert p.unwanted == ()
    assert p.unwanted_db == pytest.approx(-30.0 + 10 * math.log10(3100 / 4000), abs=0.3)


# ---------------------------------------------------------------- ringing: THD and crest factor


def _trapezoid_thd_pct(crest: float, max_harmonic: int) -> float:
    # A trapezoid is a square wave smoothed by a box as long as its ramp: odd harmonics
    # 4 / (pi k) * sinc(k r) for a ramp of r periods.
    r = trapezoid_ramp_fraction(crest)
    b = {k: 4 / (math.pi * k) * np.sinc(k * r) for k in range(1, max_harmonic + 1, 2)}
    return 100 * math.sqrt(sum(b[k] ** 2 for k in b if k > 1)) / b[1]


@pytest.mark.parametrize("crest", [1.1, 1.2, 1.3, 1.5])
def test_thd_and_crest_factor_of_trapezoidal_ringing(crest):
    rng = np.random.default_rng(int(crest * 10))
    w = gen.ringing(60.0, 20.0, 1.0, 8000.0, battery_v=-48.0, shape="trapezoid", crest_factor=crest,
                    phase_rad=1.0, rng=rng, snr_db=40.0)
    r = ring_burst(w)
    assert r.thd_pct == pytest.approx(_trapezoid_thd_pct(crest, 10), abs=0.1)
    assert r.crest_factor == pytest.approx(crest, abs=0.01)
    assert r.vrms == pytest.approx(60.0, rel=2e-3)
    assert r.dc_offset_v == pytest.approx(-48.0, abs=0.02)
    assert r.freq_hz == pytest.approx(20.0, abs=1e-3)


def test_thd_and_crest_factor_of_a_clipped_sine_ring():
    # 90 Vpk 25 Hz flattened at 80 V (a ring generator out of headroom), on -48 V, 2 kS/s.
    peak, clip = 90.0, 80.0
    phase = np.arange(2 ** 16) / 2 ** 16  # one period, finely: the reference
    shape = np.clip(peak * np.sin(2 * np.pi * phase), -clip, clip)
    harmonics = np.abs(np.fft.rfft(shape))[1:11]
    reference_thd = 100 * math.sqrt(float(np.sum(harmonics[1:] ** 2))) / harmonics[0]
    reference_crest = clip / math.sqrt(float(np.mean(shape ** 2)))
    fs = 2000.0
    t = np.arange(int(fs)) / fs
    x = -48.0 + np.clip(peak * np.sin(2 * np.pi * 25.0 * t + 0.3), -clip, clip)
    r = ring_burst(Waveform(x + np.random.default_rng(2).normal(0, 0.05, t.size), fs))
    assert reference_thd > 3.0  # a clear distortion, not a rounding error
    assert r.thd_pct == pytest.approx(reference_thd, abs=0.02)
    assert r.crest_factor == pytest.approx(reference_crest, abs=0.005)


@PROPERTY
@given(vrms=st.floats(20.0, 100.0), freq=st.floats(15.0, 68.0), battery=st.floats(-60.0, -20.0),
       balanced=st.booleans(), duration=st.floats(0.5, 1.5), fs=st.sampled_from([2000.0, 4000.0, 8000.0]),
       snr_db=st.floats(30.0, 60.0), phase=st.floats(0.0, 2 * np.pi), seed=st.integers(0, 2 ** 32 - 1))
def test_ring_burst_round_trip(vrms, freq, battery, balanced, duration, fs, snr_db, phase, seed):
    rng = np.random.default_rng(seed)
    w = gen.ringing(vrms, freq, duration, fs, battery_v=battery, offset_v=0.0 if balanced else None,
                    phase_rad=phase, rng=rng, snr_db=snr_db)
    r = ring_burst(w)
    noise_v = vrms * 10 ** (-snr_db / 20)
    assert r.vrms == pytest.approx(math.hypot(vrms, noise_v), rel=2e-3)
    assert r.dc_offset_v == pytest.approx(0.0 if balanced else battery, abs=6 * noise_v / math.sqrt(len(w)) + 1e-9)
    assert abs(r.freq_hz - freq) < 6 * crb_hz(snr_db, len(w), fs)
    assert r.crest_factor == pytest.approx(math.sqrt(2), abs=0.02)
    assert r.thd_pct < 0.5


# ---------------------------------------------------------------- round trips over the parameter space


@PROPERTY
@given(f1=st.floats(100.0, 3400.0), spacing_bins=st.floats(10.0, 200.0), level=st.floats(-40.0, 0.0),
       twist_db=st.floats(-6.0, 6.0), duration=st.floats(0.05, 2.0), fs=st.sampled_from([8000.0, 16000.0, 48000.0]),
       snr_db=st.floats(0.0, 40.0), seed=st.integers(0, 2 ** 32 - 1))
def test_dual_tone_round_trip(f1, spacing_bins, level, twist_db, duration, fs, snr_db, seed):
    rng = np.random.default_rng(seed)
    f2 = f1 + spacing_bins / duration
    if f2 > 0.45 * fs:
        f2 = f1 - spacing_bins / duration
    if f2 < 100.0:
        return
    levels = [level, level + twist_db]
    w = gen.tone([f1, f2], levels, duration, fs, phases_rad=rng.uniform(0, 2 * np.pi, 2), rng=rng, snr_db=snr_db)
    n = len(w)
    noise_var = sum(dbm_to_vrms(v) ** 2 for v in levels) / 10 ** (snr_db / 10)
    for component, f, v in zip(tone_components(w, [f1, f2], search_hz=0.45 * abs(f2 - f1)), [f1, f2], levels):
        tone_snr_db = 10 * math.log10(dbm_to_vrms(v) ** 2 / noise_var)
        assert abs(component.freq_hz - f) < 6 * crb_hz(tone_snr_db, n, fs)
        # amplitude std / amplitude = 1 / sqrt(N SNR); in dB times 8.69
        level_std_db = 8.69 / math.sqrt(n * 10 ** (tone_snr_db / 10))
        assert abs(component.level_dbm - v) < 6 * level_std_db + 1e-6


@PROPERTY
@given(carrier=st.floats(300.0, 1000.0), modulation=st.floats(15.0, 50.0), depth=st.floats(0.2, 1.0),
       level=st.floats(-30.0, -5.0), duration=st.floats(0.3, 1.5), fs=st.sampled_from([8000.0, 16000.0]),
       snr_db=st.floats(20.0, 40.0), seed=st.integers(0, 2 ** 32 - 1))
def test_am_tone_round_trip(carrier, modulation, depth, level, duration, fs, snr_db, seed):
    rng = np.random.default_rng(seed)
    w = gen.am_tone(carrier, modulation, depth, level, duration, fs, carrier_phase_rad=rng.uniform(0, 2 * np.pi),
                    modulation_phase_rad=rng.uniform(0, 2 * np.pi), rng=rng, snr_db=snr_db)
    am = am_tone_components(w, carrier, modulation)
    assert am.level_dbm == pytest.approx(level, abs=0.1)
    assert am.depth == pytest.approx(depth, abs=0.03)
    assert am.carrier_hz == pytest.approx(carrier, abs=0.1)
    assert am.modulation_hz == pytest.approx(modulation, abs=0.1)


# ---------------------------------------------------------------- cadence


def _edge_errors_ms(w: Waveform, segs) -> list[float]:
    """Found edge minus true edge (ms) for every true edge 0.3 s or more from the capture's ends;
    fails on an edge missed or an edge found where there is none."""
    true = np.asarray(w.meta["edges_s"])
    found = np.array([s.start_s for s in segs[1:]])
    errors = []
    for edge in true:
        if w.start_s + 0.3 < edge < w.start_s + w.duration_s - 0.3:
            nearest = found[np.argmin(np.abs(found - edge))] if found.size else math.inf
            assert abs(nearest - edge) < 0.005, f"edge at {edge:.4f} s not found ({found})"
            errors.append((nearest - edge) * 1000)
    for edge in found:
        assert np.min(np.abs(true - edge)) < 0.005, f"edge found at {edge:.4f} s where there is none"
    return errors


def _ringback(rng, pattern, duration_s, fs=8000.0, snr_db=20.0):
    base = gen.tone([440.0, 480.0], -19.0, duration_s, fs, phases_rad=rng.uniform(0, 2 * np.pi, 2), start_s=BENCH_T0)
    return gen.cadenced(base, pattern, start_phase_ms=rng.uniform(0, sum(pattern)), dc_v=-8.0, rng=rng,
                        snr_db=snr_db)


def _busy(rng, pattern, duration_s, fs=8000.0, snr_db=20.0):
    base = gen.tone([480.0, 620.0], -24.0, duration_s, fs, phases_rad=rng.uniform(0, 2 * np.pi, 2), start_s=BENCH_T0)
    return gen.cadenced(base, pattern, start_phase_ms=rng.uniform(0, sum(pattern)), dc_v=-8.0, rng=rng,
                        snr_db=snr_db)


def _balanced_ring(rng, pattern, duration_s, fs=8000.0, snr_db=20.0):
    return gen.ringing(50.0, 25.0, duration_s, fs, battery_v=-48.0, offset_v=0.0, cadence_ms=pattern,
                       start_phase_ms=rng.uniform(0, sum(pattern)), phase_rad=rng.uniform(0, 2 * np.pi), rng=rng,
                       snr_db=snr_db, start_s=BENCH_T0)


def test_cadence_edges_within_half_a_millisecond_rms_at_8k_and_20_db_snr():
    rng = np.random.default_rng(8000)
    errors = []
    for make, pattern, duration_s in ((_ringback, [2000, 4000], 13.0), (_busy, [500, 500], 4.0),
                                      (_balanced_ring, [400, 200, 400, 2000], 7.0)):
        for _ in range(6):
            w = make(rng, pattern, duration_s)
            segs = segments(w, band_hz=(10.0, 100.0) if "ring" in w.name else (300.0, 3400.0))
            errors += _edge_errors_ms(w, segs)
    assert len(errors) > 80
    assert rms(errors) < 0.5
    assert abs(np.mean(errors)) < 0.1


@pytest.mark.parametrize("tau_ms", [2.0, 10.0, 30.0])
def test_ring_edges_hold_when_the_dc_level_settles_like_an_rc(tau_ms):
    # Balanced ringing: the line goes from -48 V to 0 V at each burst and back, through an RC.
    rng = np.random.default_rng(int(tau_ms))
    fs, pattern = 8000.0, [400, 200, 400, 2000]
    errors = []
    for _ in range(3):
        w = gen.ringing(60.0, 20.0, 6.5, fs, battery_v=0.0, cadence_ms=pattern, start_phase_ms=rng.uniform(0, 3000),
                        phase_rad=rng.uniform(0, 2 * np.pi), rng=rng, snr_db=20.0, start_s=BENCH_T0)
        step = -48.0 * (1 - gen.cadence_gate(np.arange(len(w)) / fs, pattern, w.meta["start_phase_ms"]))
        a = math.exp(-1 / (tau_ms / 1000 * fs))
        dc = signal.lfilter([1 - a], [1, -a], step, zi=[step[0] * a])[0]
        settled = Waveform(w.samples + dc, fs, w.start_s, meta=w.meta)
        errors += _edge_errors_ms(settled, segments(settled, band_hz=(10.0, 100.0)))
    assert len(errors) >= 9 and rms(errors) < 0.5


def test_cadence_edges_hold_when_the_given_frequencies_are_a_little_off():
    # The profile says 440 + 480 Hz; the port makes 443 + 483 Hz (0.7 % off).
    rng = np.random.default_rng(443)
    errors = []
    for _ in range(3):
        base = gen.tone([443.0, 483.0], -19.0, 13.0, 8000.0, phases_rad=rng.uniform(0, 2 * np.pi, 2),
                        start_s=BENCH_T0)
        w = gen.cadenced(base, [2000, 4000], start_phase_ms=rng.uniform(0, 6000), dc_v=-8.0, rng=rng, snr_db=20.0)
        errors += _edge_errors_ms(w, segments(w, freqs_hz=[440.0, 480.0]))
    assert len(errors) >= 9 and rms(errors) < 0.5


PATTERNS = {"us ring": [2000, 4000], "uk ring": [400, 200, 400, 2000], "busy": [500, 500], "reorder": [250, 250],
            "de call waiting": [200, 200, 200, 5000], "it dial": [200, 200, 600, 1000]}


@PROPERTY
@given(name=st.sampled_from(sorted(PATTERNS)), signal=st.sampled_from(["ringback", "busy", "ring"]),
       phase=st.floats(0.0, 1.0), fs=st.sampled_from([8000.0, 16000.0]), snr_db=st.floats(20.0, 40.0),
       seed=st.integers(0, 2 ** 32 - 1))
def test_cadence_round_trip_from_any_phase(name, signal, phase, fs, snr_db, seed):
    rng = np.random.default_rng(seed)
    pattern = PATTERNS[name]
    duration_s = 2 * sum(pattern) / 1000 + 0.5
    start_ms = phase * sum(pattern)
    if signal == "ring":
        w = gen.ringing(60.0, 20.0, duration_s, fs, battery_v=-48.0, offset_v=0.0, cadence_ms=pattern,
                        start_phase_ms=start_ms, phase_rad=rng.uniform(0, 2 * np.pi), rng=rng, snr_db=snr_db,
                        start_s=BENCH_T0)
        band = (10.0, 100.0)
    else:
        freqs = [440.0, 480.0] if signal == "ringback" else [480.0, 620.0]
        base = gen.tone(freqs, -20.0, duration_s, fs, phases_rad=rng.uniform(0, 2 * np.pi, 2), start_s=BENCH_T0)
        w = gen.cadenced(base, pattern, start_phase_ms=start_ms, dc_v=-8.0, rng=rng, snr_db=snr_db)
        band = (300.0, 3400.0)
    segs = segments(w, band_hz=band)
    tolerance_ms = 3.0 if signal == "ring" else 2.0  # a 20 Hz burst can start with no step in voltage
    assert all(abs(e) < tolerance_ms for e in _edge_errors_ms(w, segs))
    assert segs[0].partial and segs[-1].partial and not any(s.partial for s in segs[1:-1])
    assert segs[0].on == w.meta["on_at_start"] or segs[0].duration_ms < 310  # a first edge too near is dropped
    intervals = cadence_intervals(segs)
    match = match_cadence(intervals, pattern)
    assert match.max_error_ms < 2 * tolerance_ms
    # The first whole interval starts at an edge; where that edge sits in the cycle names its index.
    cycle_position_ms = ((intervals[0].start_s - BENCH_T0) * 1000 + start_ms) % sum(pattern)
    starts_ms = np.cumsum([0] + pattern[:-1])
    distance = np.abs((cycle_position_ms - starts_ms + sum(pattern) / 2) % sum(pattern) - sum(pattern) / 2)
    assert match.phase_index == int(np.argmin(distance))
    assert [p.nominal_ms for p in match.pairs] == [pattern[(match.phase_index + i) % len(pattern)]
                                                   for i in range(len(match.pairs))]


def test_a_minute_of_ringback_at_16k_is_analysed_quickly():
    # The budget: levels, segments and tone components of a minute at 16 kS/s in well
    # under 60 ms (benchmarks/dsp_tones.py measures it); this guards against an O(N^2) slip.
    rng = np.random.default_rng(60)
    w = _ringback(rng, [2000, 4000], 60.0, fs=16000.0)
    started = time.process_time()
    level_summary(w)
    segs = segments(w, freqs_hz=[440.0, 480.0])
    found = tone_components(w, [440.0, 480.0])
    assert time.process_time() - started < 1.0
    assert len(cadence_intervals(segs)) >= 17
    assert [round(c.freq_hz, 2) for c in found] == [440.0, 480.0]


# ---------------------------------------------------------------- unusable input


ANALYSES = {
    "level_summary": level_summary,
    "tone_frequency_hz": lambda w: tone_frequency_hz(w, 300.0, 3400.0),
    "tone_components": lambda w: tone_components(w, [350.0, 440.0]),
    "am_tone_components": lambda w: am_tone_components(w, 400.0, 25.0),
    "tone_purity": lambda w: tone_purity(w, [440.0]),
    "ring_burst": ring_burst,
    "segments": lambda w: segments(w, freqs_hz=[440.0]),
}
BAD = {
    "empty": (np.array([]), "0 samples"),
    "a NaN": (np.concatenate([np.sin(np.arange(8000) / 3.0), [np.nan]]), "1 of 8001 samples NaN"),
    "an infinity": (np.concatenate([[np.inf], np.sin(np.arange(8000) / 3.0)]), "1 of 8001 samples NaN or infinite"),
}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("analysis", ANALYSES)
def test_unusable_captures_are_refused_in_one_line(analysis, bad):
    samples, reason = BAD[bad]
    with pytest.raises(ValueError, match=reason) as refused:
        ANALYSES[analysis](Waveform(samples, 8000.0, name="fxs1.line_v"))
    assert "\n" not in str(refused.value) and "fxs1.line_v" in str(refused.value)


@pytest.mark.parametrize("analysis, duration_s, reason", [
    (lambda w: tone_components(w, [350.0, 440.0]), 0.01, "needs at least 0.02222 s"),
    (lambda w: am_tone_components(w, 400.0, 25.0), 0.05, "needs at least 0.16 s"),
    (lambda w: tone_frequency_hz(w, 300.0, 3400.0), 0.005, "needs at least two periods"),
    (ring_burst, 0.05, "needs at least"),
    (lambda w: segments(w, freqs_hz=[20.0]), 0.04, "needs at least one envelope window"),
])
def test_too_short_captures_are_refused_in_one_line(analysis, duration_s, reason):
    w = gen.tone([440.0, 20.0], None, duration_s, 8000.0, amplitudes_v=[1.0, 50.0])
    with pytest.raises(ValueError, match=reason) as refused:
        analysis(w)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("make, reason", [
    (lambda: gen.tone([5000.0], -13.0, 1.0, 8000.0), "half the sample rate"),
    (lambda: gen.tone([400.0], -13.0, 0.0, 8000.0), "at least one sample"),
    (lambda: gen.tone([400.0], -13.0, 1.0, 8000.0, amplitudes_v=1.0), "exactly one of"),
    (lambda: gen.tone([400.0, 450.0], [-13.0], 1.0, 8000.0), "need 2 value"),
    (lambda: gen.tone([400.0], -13.0, 1.0, 8000.0, rng=np.random.default_rng(0)), "both rng and snr_db"),
    (lambda: gen.am_tone(400.0, 25.0, 1.5, -13.0, 1.0, 8000.0), "depth"),
    (lambda: gen.ringing(50.0, 20.0, 1.0, 8000.0, shape="square"), "shape"),
    (lambda: gen.ringing(50.0, 20.0, 1.0, 8000.0, shape="trapezoid", crest_factor=2.0), "between 1 and sqrt 3"),
    (lambda: gen.ringing(50.0, 20.0, 1.0, 8000.0, crest_factor=1.2), "use shape='trapezoid'"),
    (lambda: gen.ringing(50.0, 20.0, 1.0, 8000.0, cadence_ms=[400, 200, 400]), "on/off pairs"),
    (lambda: gen.cadenced(lambda t: np.sin(t), [500, 500]), "needs duration_s and sample_rate_hz"),
    (lambda: gen.cadence_gate(np.zeros(3), [500, 500], edge_ms=600.0), "edge_ms"),
])
def test_generators_refuse_bad_parameters_in_one_line(make, reason):
    with pytest.raises(ValueError, match=reason) as refused:
        make()
    assert "\n" not in str(refused.value)


def test_analyses_refuse_bad_parameters():
    w = gen.am_tone(400.0, 25.0, 0.9, -13.0, 1.0, 8000.0)
    with pytest.raises(ValueError, match="modulation_hz"):
        am_tone_components(w, 400.0, 500.0)
    with pytest.raises(ValueError, match="search_hz"):
        am_tone_components(w, 400.0, 25.0, search_hz=20.0)
    with pytest.raises(ValueError, match="band_hz"):
        tone_purity(w, [400.0], band_hz=(3000.0, 300.0))
    with pytest.raises(ValueError, match="max_harmonic"):
        ring_burst(w, max_harmonic=1)
    with pytest.raises(ValueError, match="freqs_hz"):
        segments(w, freqs_hz=[5000.0])
