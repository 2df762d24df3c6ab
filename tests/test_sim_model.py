"""Physics and timing of the simulated bench (instruments/sim: jig, line, fxs_dut, fxo_dut, model).

The expected values are computed here from the circuit as a bench engineer would, not read back
from the model's own helpers; the waveforms are analysed with least-squares sine fits.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.optimize import curve_fit

from harness.dsp.callerid import callerid_bursts
from harness.dsp.dtmf import detect_dtmf, dtmf_signal
from harness.dsp.waveform import Waveform
from instruments.sim.clock import VirtualClock
from instruments.sim.fxo_dut import DaaParams
from instruments.sim.fxs_dut import SlicParams
from instruments.sim.jig import FxoJig, FxsJig
from instruments.sim.model import SimModel
from instruments.sim.terminals import SourceSetting, SupplySetting

FS_HZ = 10_000.0
DMM_OHM = 10e6  # Keysight 34461A input resistance
DIVIDER_OHM = 2e6
SENSE_OHM = 10.0


def fxs_jig(**changes) -> FxsJig:
    fields = dict(name="fxs1", hook_relay="FIO0", line_v_ain="AIN0", line_v_divider=20.0,
                  loop_i_ain="AIN2", loop_i_negative="AIN3", ren_relays=("FIO1",), dmm="dmm1")
    return FxsJig(**(fields | changes))


def fxo_jig(**changes) -> FxoJig:
    fields = dict(name="fxo1", supply="psu:1", generator="gen:1", amplifier_gain=20.0, feed_ohm=400.0,
                  line_v_ain="AIN4", line_v_divider=20.0, loop_i_ain="AIN6", loop_i_negative=None,
                  dmm="dmm2")
    return FxoJig(**(fields | changes))


class Bench:
    """A clock, a model with one FXS and one FXO port, and helpers to act and capture."""

    def __init__(self, fxs: FxsJig | None = None, slic: SlicParams | None = None, slic_overridden=(),
                 daa: DaaParams | None = None, daa_overridden=()):
        self.clock = VirtualClock()
        self.model = SimModel(self.clock, [fxs or fxs_jig()], [fxo_jig()],
                              {"fxs1": (slic or SlicParams(), set(slic_overridden))},
                              {"fxo1": (daa or DaaParams(), set(daa_overridden))}, rng_seed=7)
        self.wiring = self.model.wiring
        self.fxs = self.model.fxs_port("fxs1")
        self.fxo = self.model.fxo_port("fxo1")

    def relay(self, line: str, closed: bool) -> None:
        self.wiring.relay_coils[line](closed)

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)

    def capture(self, t0: float, t1: float, dmm: str = "dmm1") -> tuple[np.ndarray, np.ndarray]:
        """(times, tip-ring volts) between bench times t0 and t1, as the DMM input sees them."""
        t = np.arange(t0, t1, 1 / FS_HZ)
        return t, self.wiring.dmm_inputs[dmm](t)

    def loop_current(self, t0: float, t1: float, ain: str = "AIN2") -> float:
        t = np.arange(t0, t1, 1 / FS_HZ)
        return float(np.mean(self.wiring.analog_inputs[ain](t)) / SENSE_OHM)

    def ring_bench(self, freq_hz: float, vrms_open: float, cycles: int | None = None,
                   period_s: float = 6.0) -> None:
        """FXO side: 48 V battery plus amplified sine of vrms_open (open circuit), bursts from now."""
        self.wiring.supply_outputs["psu:1"].supply_changed(SupplySetting(48.0, 0.1, True))
        vpp = vrms_open * math.sqrt(2) * 2 / fxo_jig().amplifier_gain
        self.wiring.generator_outputs["gen:1"](
            SourceSetting("SIN", freq_hz, vpp, 0.0, True, cycles, period_s, self.clock.now()))


def parallel(*ohms: float) -> float:
    return 1 / sum(1 / r for r in ohms)


def ren_ohm(ren: float, freq_hz: float) -> complex:
    """US REN model: 6930 ohm + 8 uF per REN."""
    return (6930 + 1 / (2j * math.pi * freq_hz * 8e-6)) / ren


def fit_tones(t: np.ndarray, v: np.ndarray, freqs_hz) -> tuple[float, list[float]]:
    """Least-squares fit of DC + sines at known frequencies: (dc volts, [vrms per frequency])."""
    columns = [np.ones_like(t)]
    for f in freqs_hz:
        columns += [np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)]
    coef, *_ = np.linalg.lstsq(np.column_stack(columns), v, rcond=None)
    return coef[0], [math.hypot(coef[1 + 2 * k], coef[2 + 2 * k]) / math.sqrt(2) for k in range(len(freqs_hz))]


def fit_ring(t: np.ndarray, v: np.ndarray, guess_hz: float) -> tuple[float, float, float]:
    """Nonlinear sine fit, started from a linear fit at guess_hz: (vrms, freq_hz, dc volts)."""
    tt = t - t[0]
    columns = np.column_stack([np.ones_like(tt), np.cos(2 * np.pi * guess_hz * tt), np.sin(2 * np.pi * guess_hz * tt)])
    (dc0, c, s), *_ = np.linalg.lstsq(columns, v, rcond=None)

    def sine(x, a, f, phi, dc):
        return a * np.sin(2 * np.pi * f * x + phi) + dc
    (a, f, _, dc), _ = curve_fit(sine, tt, v, p0=[math.hypot(c, s), guess_hz, math.atan2(c, s), dc0])
    return abs(a) / math.sqrt(2), f, dc


def dbm600(vrms: float) -> float:
    return 10 * math.log10(vrms ** 2 / 600 / 1e-3)


def ring_edges(t: np.ndarray, v: np.ndarray, idle_v: float) -> tuple[np.ndarray, np.ndarray]:
    """Burst (start, end) times: where tip-ring leaves the idle battery voltage, grouped into bursts."""
    active = np.flatnonzero(np.abs(v - idle_v) > 2.0)
    breaks = np.flatnonzero(np.diff(active) > 0.5 * FS_HZ)
    starts = t[np.r_[active[0], active[breaks + 1]]]
    ends = t[np.r_[active[breaks], active[-1]]] + 1 / FS_HZ
    return starts, ends


def names(events) -> list[str]:
    return [what for _, what in events]


# ---- FXS: DC feed and hook detection -----------------------------------------------------------

def test_on_hook_voltage_is_voc_less_the_drop_into_divider_and_dmm():
    bench = Bench()
    bench.sleep(0.2)
    _, v = bench.capture(0.1, 0.2)
    load = parallel(DIVIDER_OHM, DMM_OHM)
    expected = 48.0 * load / (load + 160 + SENSE_OHM)
    assert np.mean(v) == pytest.approx(expected, abs=1e-3)
    assert expected < 48.0 - 4e-3  # the loading is visible at this resolution
    assert bench.loop_current(0.1, 0.2) == pytest.approx(expected / load, abs=1e-6)
    assert not bench.fxs.hook_state()


@pytest.mark.parametrize("hook_load_ohm", [600.0, 3000.0])
def test_off_hook_loop_current_is_feed_limited_or_current_limited(hook_load_ohm):
    bench = Bench(fxs=fxs_jig(hook_load_ohm=hook_load_ohm))
    bench.relay("FIO0", True)
    bench.sleep(0.5)
    load = parallel(hook_load_ohm, DIVIDER_OHM, DMM_OHM)
    expected_a = min(48.0 / (160 + load + SENSE_OHM), 25e-3)
    assert bench.loop_current(0.3, 0.5) == pytest.approx(expected_a, rel=1e-3)
    _, v = bench.capture(0.3, 0.5)
    assert np.mean(v) == pytest.approx(expected_a * load, abs=2e-3)
    assert bench.fxs.hook_state()


def test_long_loop_resistor_lowers_the_loop_current_and_threshold_decides():
    """1800 ohm of line in series with a 600 ohm set: ~18.7 mA, seen by the default 11 mA
    threshold but not by a 20 mA one, which still sees the 25 mA of a short loop."""
    for threshold_ma, detected in ((11.0, True), (20.0, False)):
        bench = Bench(fxs=fxs_jig(long_loop_relay="FIO2", long_loop_ohm=1800.0),
                      slic=SlicParams(offhook_threshold_ma=threshold_ma))
        bench.relay("FIO2", True)
        bench.relay("FIO0", True)
        bench.sleep(0.5)
        load = parallel(600.0 + 1800.0, DIVIDER_OHM, DMM_OHM)
        assert bench.loop_current(0.3, 0.5) == pytest.approx(48.0 / (160 + load + SENSE_OHM), rel=1e-3)
        assert bench.fxs.hook_state() is detected
        bench.relay("FIO2", False)  # the set on a short loop: 25 mA, seen by both
        bench.sleep(0.5)
        assert bench.fxs.hook_state()


def test_off_hook_is_reported_after_debounce_plus_qualification():
    bench = Bench()
    bench.sleep(0.1)
    bench.relay("FIO0", True)
    bench.sleep(1.0)
    (t_off_hook, what), (t_tone, tone) = bench.fxs.events()
    assert (what, tone) == ("off_hook", "dial_tone_on")
    assert t_off_hook == pytest.approx(0.1 + 0.008 + 0.030, abs=1e-9)
    assert t_tone == pytest.approx(t_off_hook + 0.150, abs=1e-9)
    bench.relay("FIO0", False)
    bench.sleep(1.0)
    assert names(bench.fxs.events(since_s=1.0)) == ["on_hook", "dial_tone_off"]
    assert bench.fxs.state == "idle"


@pytest.mark.parametrize("closed_ms", [5.0, 30.0])
def test_short_closures_are_filtered(closed_ms):
    """5 ms is inside the debounce; 30 ms passes the debounce but not the qualification."""
    bench = Bench()
    bench.relay("FIO0", True)
    bench.sleep(closed_ms / 1e3)
    bench.relay("FIO0", False)
    bench.sleep(1.0)
    assert bench.fxs.events() == []
    assert not bench.fxs.hook_state()


@pytest.mark.parametrize("loop_ma, detected", [(10.0, False), (12.0, True)])
def test_hook_threshold_on_loop_current(loop_ma, detected):
    jig_ohm = 48.0 / (loop_ma / 1e3) - 160 - SENSE_OHM  # below the current limit
    hook_load_ohm = 1 / (1 / jig_ohm - 1 / DIVIDER_OHM - 1 / DMM_OHM)
    bench = Bench(fxs=fxs_jig(hook_load_ohm=hook_load_ohm))
    bench.relay("FIO0", True)
    bench.sleep(0.5)
    assert bench.loop_current(0.3, 0.5) * 1e3 == pytest.approx(loop_ma, rel=2e-3)
    assert bench.fxs.hook_state() is detected


def test_defective_hook_threshold_never_sees_off_hook():
    bench = Bench(slic=SlicParams(offhook_threshold_ma=40.0), slic_overridden={"offhook_threshold_ma"})
    bench.relay("FIO0", True)
    bench.sleep(2.0)
    assert bench.loop_current(1.0, 2.0) == pytest.approx(25e-3, rel=1e-3)
    assert not bench.fxs.hook_state()
    assert "dial_tone_on" not in names(bench.fxs.events())


# ---- FXS: dial tone ----------------------------------------------------------------------------

def test_dial_tone_frequencies_level_and_delay():
    bench = Bench()
    bench.relay("FIO0", True)
    bench.sleep(1.0)
    t_tone = dict((what, t) for t, what in bench.fxs.events())["dial_tone_on"]
    t, v = bench.capture(t_tone + 0.1, t_tone + 0.6)
    dc, (vrms_350, vrms_440) = fit_tones(t, v, (350.0, 440.0))
    # 600 ohm source, -13 dBm into 600 ohm; the jig's load is 600 ohm (|| divider, DMM) behind 10 ohm
    load = parallel(600.0, DIVIDER_OHM, DMM_OHM)
    expected_vrms = math.sqrt(600 * 1e-3 * 10 ** -1.3) * 2 * load / (load + SENSE_OHM + 600)
    for vrms in (vrms_350, vrms_440):
        assert vrms == pytest.approx(expected_vrms, rel=5e-3)
        assert dbm600(vrms) == pytest.approx(-13.0, abs=0.2)
    assert dc == pytest.approx(25e-3 * load, abs=2e-3)
    # nothing at neighbouring frequencies (the tones are where they should be)
    _, (stray,) = fit_tones(t, v, (400.0,))
    assert stray < 0.01
    # before the delay: DC only
    t, v = bench.capture(t_tone - 0.14, t_tone - 0.001)
    _, quiet = fit_tones(t, v, (350.0, 440.0))
    assert max(quiet) < 2e-3


def test_provisioned_dial_tone_and_defective_override():
    bench = Bench(slic=SlicParams(dial_tone_freqs_hz=(360.0, 440.0)), slic_overridden={"dial_tone_freqs_hz"})
    applied = bench.fxs.provision(dial_tone_freqs_hz=(425.0,), dial_tone_level_dbm=-16.0)
    assert applied == {"dial_tone_level_dbm": -16.0}
    bench.relay("FIO0", True)
    bench.sleep(1.0)
    t, v = bench.capture(0.5, 1.0)
    _, (vrms_360, vrms_440, vrms_350) = fit_tones(t, v, (360.0, 440.0, 350.0))
    assert dbm600(vrms_360) == pytest.approx(-16.0, abs=0.2)
    assert dbm600(vrms_440) == pytest.approx(-16.0, abs=0.2)
    assert vrms_350 < 0.01
    with pytest.raises(ValueError, match="voc_v"):
        bench.fxs.provision(voc_v=60.0)


# ---- FXS: ringing and ring trip ----------------------------------------------------------------

def expected_ring_vrms(vrms: float, ren: float, freq_hz: float, source_ohm: float = 100.0) -> float:
    load = 1 / (1 / ren_ohm(ren, freq_hz) + 1 / DIVIDER_OHM + 1 / DMM_OHM)
    return vrms * abs(load / (load + source_ohm + SENSE_OHM))


def test_ringing_into_one_ren_voltage_frequency_and_cadence():
    bench = Bench()
    bench.relay("FIO1", True)
    bench.sleep(0.1)
    t_ring = bench.clock.now()
    bench.fxs.ring()
    bench.sleep(20.0)
    t, v = bench.capture(t_ring + 0.5, t_ring + 1.5)
    vrms, freq_hz, dc = fit_ring(t, v, 20.0)
    assert vrms == pytest.approx(expected_ring_vrms(50.0, 1.0, 20.0), rel=2e-3)
    assert freq_hz == pytest.approx(20.0, abs=1e-3)
    assert dc == pytest.approx(0.0, abs=0.01)
    t, v = bench.capture(t_ring - 0.5, t_ring + 17.0)
    starts, ends = ring_edges(t, v, idle_v=np.median(v[: int(0.4 * FS_HZ)]))
    assert np.abs(starts - (t_ring + np.arange(3) * 6.0)).max() < 1e-3
    assert np.abs(ends - (t_ring + 2.0 + np.arange(3) * 6.0)).max() < 1e-3
    assert names(bench.fxs.events())[:4] == ["ringing_start", "ring_on", "ring_off", "ring_on"]
    bench.fxs.stop_ringing()
    assert bench.fxs.state == "idle"


def caller_id_on_the_line(bench: Bench, t0: float, t1: float):
    t = np.arange(t0, t1, 1 / 16_000)
    return callerid_bursts(Waveform(bench.wiring.dmm_inputs["dmm1"](t), 16_000.0, start_s=t0))


@pytest.mark.parametrize("standard, fmt", [("bell202", "mdmf"), ("bell202", "sdmf"), ("v23", "etsi")])
def test_caller_id_follows_the_first_ring_in_the_provisioned_standard(standard, fmt):
    bench = Bench(slic=SlicParams(caller_id_standard=standard, caller_id_format=fmt))
    bench.relay("FIO1", True)
    bench.fxs.ring("8005551212", "JOHN DOE")
    bench.sleep(6.5)
    [burst] = caller_id_on_the_line(bench, 0.0, 6.5)
    assert burst.standard == standard and burst.status == "ok"
    assert burst.message.number == "8005551212"
    assert burst.message.name == (None if fmt == "sdmf" else "JOHN DOE")
    assert burst.start_s == pytest.approx(2.0 + 0.6, abs=1e-3)  # caller_id_delay_ms after the first ring
    assert (burst.seizure_bits, burst.mark_bits) == (299, 181)  # the seizure's last 1 reads as mark
    caller_id = [t for t, name in bench.fxs.events() if name.startswith("caller_id")]
    assert caller_id[0] == pytest.approx(2.6) and caller_id[1] == pytest.approx(burst.end_s, abs=1e-3)


def test_caller_id_level_is_stated_into_900_ohm_from_900_ohm():
    bench = Bench()
    bench.relay("FIO1", True)
    bench.fxs.ring("8005551212")
    bench.sleep(6.5)
    [burst] = caller_id_on_the_line(bench, 0.0, 6.5)
    # -13.5 dBm into 900 ohm is 0.2 Vrms; behind 900 ohm the emf is 0.4 Vrms, which 1 REN
    # (6930 ohm + 8 uF), the 2 Mohm divider and the DMM divide down with the 910 ohm source + sense.
    load = parallel(abs(ren_ohm(1.0, 1700.0)), DIVIDER_OHM, DMM_OHM)
    expected_vrms = 2 * math.sqrt(10 ** (-13.5 / 10) * 1e-3 * 900) * load / (load + 900 + SENSE_OHM)
    assert burst.level_dbm == pytest.approx(dbm600(expected_vrms), abs=0.2)


def test_no_caller_no_caller_id_and_stopping_the_call_stops_the_burst():
    bench = Bench()
    bench.relay("FIO1", True)
    bench.fxs.ring()
    bench.sleep(6.5)
    assert caller_id_on_the_line(bench, 0.0, 6.5) == []
    bench.fxs.stop_ringing()
    start = bench.clock.now()
    bench.fxs.ring("8005551212")
    bench.sleep(2.7)  # 100 ms into the burst
    bench.fxs.stop_ringing()
    bench.sleep(1.0)
    assert all(b.status != "ok" for b in caller_id_on_the_line(bench, start, start + 3.7))
    assert "caller_id_end" not in names(bench.fxs.events())[-3:]


def dac_playing(bench: Bench, values: np.ndarray, rate_hz: float = 8000.0):
    """Stand in for the T7: DAC0 plays `values` (volts) once from now, AC-coupled."""
    start = bench.clock.now()
    mean = values.mean()

    def ac(t):
        k = np.floor((np.asarray(t) - start) * rate_hz + 1e-9).astype(int)
        inside = (k >= 0) & (k < len(values))
        return np.where(inside, values[np.clip(k, 0, len(values) - 1)] - mean, 0.0)
    bench.wiring.dac_outputs["DAC0"] = ac
    return start


def test_the_port_hears_phone_side_dtmf_only_off_hook_and_not_its_own_dial_tone():
    bench = Bench(fxs=fxs_jig(dtmf_dac="DAC0", dtmf_gain=1.0))
    keys = dtmf_signal("159#", sample_rate_hz=8000.0, level_dbm=-8.0, twist_db=2.0, lead_ms=40, tail_ms=60)
    dac_playing(bench, 2.5 + 2 * keys.samples)  # a 600 ohm source: emf twice the volts into 600
    bench.sleep(keys.duration_s)
    assert bench.fxs.received_digits() == ""  # on-hook: the receiver is not listening
    bench.relay("FIO0", True)
    bench.sleep(1.0)  # off-hook qualified, dial tone on
    assert bench.fxs.state == "dial_tone"
    start = dac_playing(bench, 2.5 + 2 * keys.samples)
    bench.sleep(keys.duration_s)
    assert bench.fxs.received_digits() == "159#"
    assert bench.fxs.received_digits() == ""  # each call reports what came since the last
    # On the line the digits arrive at the level sent into the port's 600 ohm (the line's own
    # dial tone underneath is the port's, which its receive path does not hear).
    t = np.arange(start, start + keys.duration_s, 1 / 8000)
    digits = detect_dtmf(Waveform(bench.wiring.dmm_inputs["dmm1"](t), 8000.0, start_s=start))
    assert [d.digit for d in digits] == list("159#")
    assert all(abs(d.low_dbm - (-8.0)) < 0.5 and abs(d.twist_db - 2.0) < 0.3 for d in digits)


def test_a_codec_clock_error_shifts_every_tone_the_receiver_hears():
    bench = Bench(fxs=fxs_jig(dtmf_dac="DAC0"), slic=SlicParams(dtmf_clock_error_pct=2.0))
    bench.relay("FIO0", True)
    bench.sleep(1.0)
    bench.fxs.received_digits()
    keys = dtmf_signal("5", sample_rate_hz=8000.0, level_dbm=-8.0, freq_offsets_pct=(3.5, 3.5), lead_ms=40, tail_ms=60)
    dac_playing(bench, 2.5 + 2 * keys.samples)
    bench.sleep(keys.duration_s)
    assert bench.fxs.received_digits() == "5"  # 3.5 % high, heard 1.5 % high: accepted


def test_ringing_with_dc_offset_and_region_settings():
    bench = Bench()
    bench.fxs.provision(ring_freq_hz=25.0, ring_vrms=45.0, ring_dc_offset_v=15.0, ring_cadence_ms=(1000, 4000))
    bench.relay("FIO1", True)
    bench.fxs.ring()
    bench.sleep(12.0)
    t, v = bench.capture(5.1, 5.9)
    vrms, freq_hz, dc = fit_ring(t, v, 25.0)
    assert vrms == pytest.approx(expected_ring_vrms(45.0, 1.0, 25.0), rel=2e-3)
    assert freq_hz == pytest.approx(25.0, abs=1e-3)
    load = parallel(DIVIDER_OHM, DMM_OHM)  # the ringer's capacitor blocks DC
    assert dc == pytest.approx(15.0 * load / (load + 110.0), abs=0.01)
    assert [t for t, what in bench.fxs.events() if what == "ring_on"] == pytest.approx([0.0, 5.0, 10.0])


def test_defective_ring_voltage_is_not_provisioned_away():
    good, bad = Bench(), Bench(slic=SlicParams(ring_vrms=30.0), slic_overridden={"ring_vrms"})
    levels = []
    for bench in (good, bad):
        assert bench.fxs.provision(ring_vrms=50.0, ring_freq_hz=20.0) == (
            {"ring_freq_hz": 20.0} if bench is bad else {"ring_vrms": 50.0, "ring_freq_hz": 20.0})
        bench.relay("FIO1", True)
        bench.fxs.ring()
        bench.sleep(2.0)
        t, v = bench.capture(0.2, 1.8)
        levels.append(fit_ring(t, v, 20.0)[0])
    assert levels[0] == pytest.approx(expected_ring_vrms(50.0, 1.0, 20.0), rel=2e-3)
    assert levels[1] == pytest.approx(expected_ring_vrms(30.0, 1.0, 20.0), rel=2e-3)


def test_five_ren_get_at_least_44_vrms_and_do_not_trip():
    bench = Bench(fxs=fxs_jig(ren_per_relay=5.0))
    bench.relay("FIO1", True)
    bench.fxs.ring()
    bench.sleep(13.0)
    t, v = bench.capture(0.2, 1.8)
    vrms = fit_ring(t, v, 20.0)[0]
    assert vrms == pytest.approx(expected_ring_vrms(50.0, 5.0, 20.0), rel=2e-3)
    assert vrms >= 44.0
    assert bench.fxs.state == "ringing"
    assert "ring_trip" not in names(bench.fxs.events())


@pytest.mark.parametrize("answer_at_s", [1.0, 3.5])  # during ring-on, during ring-off
def test_ring_trip_after_ring_trip_ms(answer_at_s):
    bench = Bench()
    bench.relay("FIO1", True)
    bench.fxs.ring()
    bench.sleep(answer_at_s)
    bench.relay("FIO0", True)
    bench.sleep(1.0)
    trips = [t for t, what in bench.fxs.events() if what == "ring_trip"]
    assert trips == [pytest.approx(answer_at_s + 0.100, abs=1e-3)]
    assert bench.fxs.hook_state() and bench.fxs.state == "talk"
    # ringing is gone: the loop carries the battery feed at the current limit, no tone
    t, v = bench.capture(trips[0] + 0.05, trips[0] + 0.5)
    dc, (ring,) = fit_tones(t, v, (20.0,))
    assert ring < 0.01
    assert bench.loop_current(trips[0] + 0.05, trips[0] + 0.5) == pytest.approx(25e-3, rel=1e-3)
    assert "dial_tone_on" not in names(bench.fxs.events())


def test_off_hook_blip_shorter_than_ring_trip_ms_is_ignored():
    bench = Bench()
    bench.fxs.ring()
    bench.sleep(0.5)
    bench.relay("FIO0", True)
    bench.sleep(0.05)
    bench.relay("FIO0", False)
    bench.sleep(7.0)
    assert "ring_trip" not in names(bench.fxs.events())
    assert bench.fxs.state == "ringing"


# ---- FXO: ring detection and answering ---------------------------------------------------------

@pytest.mark.parametrize("rings", [1, 3])
def test_fxo_answers_after_exactly_n_rings(rings):
    bench = Bench()
    assert bench.fxo.provision(answer_after_rings=rings) == {"answer_after_rings": rings}
    bench.ring_bench(20.0, 40.0, cycles=40)
    bench.sleep(6.0 * rings + 10)
    events = bench.fxo.events()
    ring_times = [t for t, what in events if what == "ring"]
    assert ring_times == pytest.approx([k * 6.0 + 0.256 for k in range(rings)], abs=1e-6)
    assert [t for t, what in events if what == "answer"] == pytest.approx([(rings - 1) * 6.0 + 2.0 + 0.3], abs=1e-6)
    assert bench.fxo.off_hook() and bench.fxo.rings_detected() == rings


@pytest.mark.parametrize("freq_hz, vrms", [(20.0, 10.0), (20.0, 13.5), (10.0, 40.0), (80.0, 40.0)])
def test_fxo_ignores_weak_or_off_frequency_ringing(freq_hz, vrms):
    bench = Bench()
    bench.ring_bench(freq_hz, vrms, cycles=int(2 * freq_hz))
    bench.sleep(30.0)
    assert bench.fxo.rings_detected() == 0
    assert not bench.fxo.off_hook()


def test_fxo_must_detect_level_and_validation_time():
    bench = Bench()
    bench.ring_bench(20.0, 16.5, cycles=40)
    bench.sleep(1.0)
    assert bench.fxo.rings_detected() == 1
    short = Bench()
    short.ring_bench(20.0, 40.0, cycles=4)  # 200 ms bursts, under the 256 ms validation
    short.sleep(30.0)
    assert short.fxo.rings_detected() == 0


def test_fxo_ring_voltage_at_the_daa():
    bench = Bench()
    bench.ring_bench(20.0, 40.0, cycles=40)
    bench.sleep(2.0)
    t, v = bench.capture(0.2, 1.8, dmm="dmm2")
    vrms, freq_hz, dc = fit_ring(t, v, 20.0)
    daa = 1 / (1 / ren_ohm(0.2, 20.0) + 1 / 9.6e6 + 1 / DIVIDER_OHM + 1 / DMM_OHM)
    assert vrms == pytest.approx(40.0 * abs(daa / (daa + 410.0)), rel=2e-3)
    assert freq_hz == pytest.approx(20.0, abs=1e-3)
    assert dc == pytest.approx(48.0, abs=0.02)


def test_fxo_count_resets_after_the_caller_gives_up():
    bench = Bench(daa=DaaParams(answer_after_rings=5))
    bench.ring_bench(20.0, 40.0, cycles=40)
    bench.sleep(8.0)
    assert bench.fxo.rings_detected() == 2
    bench.wiring.generator_outputs["gen:1"](SourceSetting(output_on=False, since_s=bench.clock.now()))
    bench.sleep(10.0)
    assert bench.fxo.rings_detected() == 0
    assert "ring_count_reset" in names(bench.fxo.events())


def test_fxo_off_hook_operating_point_and_supply_current_limit():
    bench = Bench()
    supply = bench.wiring.supply_outputs["psu:1"]
    supply.supply_changed(SupplySetting(5.9 + 0.020 * 410.0, 0.1, True))  # 20 mA through 410 ohm
    bench.fxo.seize()
    bench.sleep(0.5)
    _, v = bench.capture(0.2, 0.5, dmm="dmm2")
    i = bench.loop_current(0.2, 0.5, ain="AIN6")
    assert i == pytest.approx(20e-3, rel=2e-3)
    assert np.mean(v) == pytest.approx(5.9, abs=0.01)
    assert np.mean(v) <= 6.0  # Si2401: <= 6.0 V at 20 mA
    assert supply.supply_operating_point() == pytest.approx((14.1, 20e-3), rel=2e-3)
    # a 50 mA limit on a 48 V setting: the supply goes constant-current
    supply.supply_changed(SupplySetting(48.0, 0.05, True))
    bench.sleep(0.5)
    volts, amps = supply.supply_operating_point()
    assert amps == pytest.approx(0.05)
    assert volts == pytest.approx(5.0 + 0.05 * 45.0 + 0.05 * 410.0, rel=1e-3)
    bench.fxo.hang_up()
    bench.sleep(0.1)
    assert not bench.fxo.off_hook()
    assert bench.loop_current(1.001, 1.1, ain="AIN6") == pytest.approx(48.0 / parallel(9.6e6, DIVIDER_OHM, DMM_OHM), rel=0.01)


def test_fxo_reset_and_hang_up_clear_the_call():
    bench = Bench(daa=DaaParams(answer_after_rings=1))
    bench.ring_bench(20.0, 40.0, cycles=40)
    bench.sleep(3.0)
    assert bench.fxo.off_hook() and bench.fxo.rings_detected() == 1
    bench.fxo.hang_up()
    bench.sleep(0.001)
    assert not bench.fxo.off_hook() and bench.fxo.rings_detected() == 0
    bench.sleep(3.5)  # the next burst is counted again
    assert bench.fxo.rings_detected() == 1
    bench.fxo.reset()
    assert bench.fxo.rings_detected() == 0 and not bench.fxo.off_hook()


# ---- the model: wiring, history, speed ---------------------------------------------------------

def test_wiring_scales_inputs_and_rejects_double_use():
    bench = Bench()
    bench.relay("FIO0", True)
    bench.sleep(0.5)
    t = np.linspace(0.3, 0.5, 2000)
    inputs = bench.wiring.analog_inputs
    tip_ring = bench.wiring.dmm_inputs["dmm1"](t)
    assert np.mean(inputs["AIN0"](t)) == pytest.approx(np.mean(tip_ring) / 20.0, rel=1e-3)
    assert np.mean(inputs["AIN2"](t)) == pytest.approx(25e-3 * SENSE_OHM, rel=1e-3)
    assert np.all(inputs["AIN3"](t) == 0)
    assert set(bench.wiring.relay_coils) == {"FIO0", "FIO1"}
    with pytest.raises(ValueError, match="'AIN0' is wired to both"):
        SimModel(VirtualClock(), [fxs_jig()], [fxo_jig(line_v_ain="AIN0")])
    with pytest.raises(ValueError, match="unknown overridden parameter 'ring_volts'"):
        SimModel(VirtualClock(), [fxs_jig()], [], {"fxs1": (SlicParams(), {"ring_volts"})})


def test_render_reads_the_past_but_not_the_future():
    bench = Bench()
    bench.relay("FIO1", True)
    bench.fxs.ring()
    bench.sleep(120.0)
    t, v = bench.capture(0.2, 1.8)  # the first burst, two minutes later
    assert fit_ring(t, v, 20.0)[0] == pytest.approx(expected_ring_vrms(50.0, 1.0, 20.0), rel=2e-3)
    with pytest.raises(ValueError, match="after now"):
        bench.wiring.dmm_inputs["dmm1"](np.array([bench.clock.now() + 0.01]))


def test_twenty_minutes_of_ringing_simulate_in_under_two_seconds():
    bench = Bench()
    bench.relay("FIO1", True)
    bench.fxs.ring()
    bench.ring_bench(20.0, 40.0, cycles=40)
    bench.fxo.provision(answer_after_rings=1000)
    started = time.perf_counter()
    for _ in range(2400):  # a harness polling every 0.5 s, reading 100 ms each time
        bench.sleep(0.5)
        now = bench.clock.now()
        t = np.arange(now - 0.1, now, 1 / FS_HZ)
        bench.wiring.analog_inputs["AIN0"](t)
        bench.wiring.analog_inputs["AIN4"](t)
    elapsed = time.perf_counter() - started
    assert bench.clock.now() == pytest.approx(1200.0)
    assert elapsed < 2.0
    # no drift after 200 cadence cycles: every burst starts on the 6 s grid
    ring_on = [t for t, what in bench.fxs.events() if what == "ring_on"]
    assert ring_on == pytest.approx(np.arange(201) * 6.0, abs=1e-6)
    t, v = bench.capture(1193.5, 1196.5)
    starts, ends = ring_edges(t, v, idle_v=np.median(v[: int(0.4 * FS_HZ)]))
    assert starts == pytest.approx([1194.0], abs=1e-3)
    assert ends == pytest.approx([1196.0], abs=1e-3)
    assert bench.fxo.rings_detected() == 200
