"""Oscilloscope drivers (Rigol DS1000Z, Keysight InfiniiVision) and their simulators: the preamble
scaling, the drivers' exact command traffic per the programming guides, and the drivers against
the simulators through pyvisa-py over loopback TCP."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import pyvisa

from instruments.errors import BenchFault
from instruments.keysight_infiniivision import KeysightInfiniiVision
from instruments.protocols import AnalogInput, Oscilloscope
from instruments.rigol_ds1000z import RigolDs1000z
from instruments.scope import (Preamble, infiniivision_volts, is_one_two_five, one_two_five_at_or_above,
                               parse_preamble, rigol_volts, sample_times_s, unpack_codes)
from instruments.sim.clock import VirtualClock
from instruments.sim.scope import SimInfiniiVision, SimRigolDs1000z
from instruments.sim.scpi_server import ScpiServer
from instruments.sim.terminals import Probe, SimWiring
from scpi_replay import NO_ERROR, AnsweringResource, ReplayResource

RIGOL_IDN = "RIGOL TECHNOLOGIES,DS1104Z,DS1ZA000000001,00.04.05.SP2"
KEYSIGHT_IDN = "KEYSIGHT TECHNOLOGIES,DSOX1204G,CN60000001,02.12.2021071625"
RIGOL_NO_ERROR = ("SYST:ERR?", '0,"No error"')  # the DS1000Z's empty queue
ADDRESS = "TCPIP::192.0.2.20::5555::SOCKET"  # never opened: the replay resource stands in


def ring_on_battery_v(t: np.ndarray) -> np.ndarray:
    """Tip-ring volts: -48 V battery with 70 Vrms of 20 Hz ringing."""
    return -48.0 + 70.0 * math.sqrt(2) * np.sin(2 * np.pi * 20.0 * t + 0.3)


def through_100_to_1(line: Probe) -> Probe:
    """What the scope's input connector sees of `line` through a 100:1 probe."""
    return lambda t: line(t) / 100.0


def ac_rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - x.mean()) ** 2)))


def frequency_hz(w) -> float:
    """From the first to the last rise of the AC part through half its peak, counted only after it
    was below minus half its peak (so noise near the level is not counted twice)."""
    ac = w.samples - w.samples.mean()
    half_peak = 0.5 * math.sqrt(2) * ac_rms(w.samples)
    beyond = np.flatnonzero(np.abs(ac) > half_peak)
    high = ac[beyond] > 0
    rises_s = w.times_s[beyond[1:][high[1:] & ~high[:-1]]]
    return (len(rises_s) - 1) / (rises_s[-1] - rises_s[0])


# =============================================================================================
# 1. Scaling codes with the preamble (pure)


def test_preamble_fields_are_parsed_in_the_guides_order():
    pre = parse_preamble("0,2,1200,1,1.000000e-05,-6.000000e-03,0,4.000000e-02,50,127")
    assert pre == Preamble(0, 2, 1200, 1, 1e-5, -6e-3, 0, 0.04, 50, 127)
    assert pre.sample_rate_hz == pytest.approx(100e3)
    keysight = parse_preamble("+1,+3,+1000,+1,+2.00000000E-07,-1.00000000E-04,+0,+6.10351562E-03,-4.80000000E+01,+32768")
    assert (keysight.format, keysight.type, keysight.points, keysight.yorigin, keysight.yreference) == \
        (1, 3, 1000, -48.0, 32768)


@pytest.mark.parametrize("reply, message", [
    ("0,2,1200,1,1e-05,-0.006,0,0.04,50", "9 fields, not 10"),
    ("0,2,1200,1,1e-05,-0.006,0,0.04,50,x", "not a number"),
    ("0,2,1200,1,0,-0.006,0,0.04,50,127", "xincrement must be > 0"),
])
def test_a_malformed_preamble_is_a_value_error(reply, message):
    with pytest.raises(ValueError, match=message):
        parse_preamble(reply)


def test_rigol_volts_take_yorigin_in_codes():
    # 50 V/div with a 100:1 probe: 2 V per code; the centre line at -48 V is 24 codes of offset.
    pre = Preamble(0, 2, 4, 1, 2e-5, -0.12, 0, 2.0, 24, 127)
    # (code - 24 - 127) * 2 V
    assert rigol_volts(np.array([127, 151, 0, 255]), pre).tolist() == [-48.0, 0.0, -302.0, 208.0]


def test_infiniivision_volts_take_yorigin_in_volts():
    # 50 V/div: 400 V over 256 codes = 1.5625 V per code, centre line (code 128) at -48 V.
    pre = Preamble(0, 0, 4, 1, 2e-7, -0.1, 0, 1.5625, -48.0, 128)
    # (code - 128) * 1.5625 V - 48 V
    assert infiniivision_volts(np.array([128, 160, 96, 1]), pre).tolist() == [-48.0, 2.0, -98.0, -246.4375]


def test_sample_times_count_from_the_trigger():
    pre = Preamble(0, 2, 600_000, 1, 1e-5, -6e-3, 0, 0.04, 0, 127)
    # time = (i - xreference) * xincrement + xorigin; point 250 000 is the first of the 2nd read
    assert sample_times_s(pre, 250_000, 3) == pytest.approx([2.494, 2.49401, 2.49402])
    assert sample_times_s(Preamble(0, 0, 10, 1, 1e-3, 0.5, 2, 1.0, 0.0, 0), 0, 2) == pytest.approx([0.498, 0.499])


def test_word_codes_in_either_byte_order():
    assert unpack_codes(bytes([0x80, 0x00, 0x01, 0xFF]), word=True).tolist() == [0x0080, 0xFF01]
    assert unpack_codes(bytes([0x80, 0x00, 0x01, 0xFF]), word=True, little_endian=False).tolist() == [0x8000, 0x01FF]
    assert unpack_codes(bytes([0, 127, 255]), word=False).tolist() == [0, 127, 255]
    with pytest.raises(ValueError, match="even number of bytes"):
        unpack_codes(b"\x01\x02\x03", word=True)


@pytest.mark.parametrize("value, step", [(0.375, 0.5), (0.5, 0.5), (0.083, 0.1), (3e-4, 5e-4), (6.0, 10.0), (1.0001, 2.0)])
def test_one_two_five_steps(value, step):
    assert one_two_five_at_or_above(value) == pytest.approx(step)
    assert is_one_two_five(step)
    assert not is_one_two_five(step * 1.5)


# =============================================================================================
# 2. The drivers' traffic, replayed against the programming guides


def rigol(exchanges, clock=None):
    resource = ReplayResource([("*IDN?", RIGOL_IDN), ("*CLS", None), *exchanges])
    return RigolDs1000z(ADDRESS, resource=resource, clock=clock or VirtualClock()), resource


def keysight(exchanges, clock=None):
    resource = ReplayResource([("*IDN?", KEYSIGHT_IDN), ("*CLS", None),
                               (":WAV:UNS ON", None), NO_ERROR,
                               (":WAV:BYT LSBF", None), NO_ERROR, *exchanges])
    return KeysightInfiniiVision(ADDRESS, resource=resource, clock=clock or VirtualClock()), resource


def writes(*commands, no_error=NO_ERROR):
    """Each command followed by the error-queue check the base class makes."""
    return [step for command in commands for step in ((command, None), no_error)]


@pytest.mark.parametrize("driver", [RigolDs1000z, KeysightInfiniiVision])
def test_drivers_have_the_oscilloscope_protocols_methods(driver):
    methods = [name for name, value in vars(Oscilloscope).items() if callable(value) and not name.startswith("_")]
    assert "capture" in methods and "wait_for_acquisition" in methods
    for name in methods:
        assert inspect.signature(getattr(driver, name)).parameters.keys() == \
            inspect.signature(getattr(Oscilloscope, name)).parameters.keys(), name


def test_drivers_refuse_another_model():
    scope, _ = rigol([])
    assert (scope.name, scope.identity.model) == ("scope", "DS1104Z")
    with pytest.raises(BenchFault, match="expected model"):
        RigolDs1000z(ADDRESS, resource=ReplayResource([("*IDN?", KEYSIGHT_IDN)]))
    with pytest.raises(BenchFault, match="expected model"):
        KeysightInfiniiVision(ADDRESS, resource=ReplayResource([("*IDN?", RIGOL_IDN)]))


def test_rigol_setup_single_capture_and_byte_transfer_replay():
    clock = VirtualClock()
    scope, resource = rigol([
        *writes(":CHAN1:DISP ON", ":CHAN1:PROB 100", ":CHAN1:SCAL 50", ":CHAN1:OFFS 48", ":CHAN1:COUP DC",
                ":CHAN1:BWL OFF", no_error=RIGOL_NO_ERROR),
        *writes(":TIM:MAIN:SCAL 0.02", ":TIM:MAIN:OFFS 0", ":ACQ:MDEP 12000", no_error=RIGOL_NO_ERROR),
        *writes(":TRIG:MODE EDGE", ":TRIG:EDG:SOUR CHAN1", ":TRIG:EDG:SLOP POS", ":TRIG:EDG:LEV -20",
                ":TRIG:SWE NORM", ":SING", no_error=RIGOL_NO_ERROR),
        (":TRIG:STAT?", "WAIT"), (":TRIG:STAT?", "TD"), (":TRIG:STAT?", "STOP"),
        *writes(":WAV:SOUR CHAN1", ":WAV:MODE RAW", ":WAV:FORM BYTE", no_error=RIGOL_NO_ERROR),
        (":WAV:PRE?", "0,2,6,1,2.000000e-05,-1.200000e-01,0,2.000000e+00,24,127"),
        *writes(":WAV:STAR 1", ":WAV:STOP 6", no_error=RIGOL_NO_ERROR),
        (":WAV:DATA?", bytes([103, 113, 127, 151, 0, 255])),
    ], clock)
    scope.setup_channel(1, 50, centre_v=-48, probe=100)
    scope.set_timebase(0.02)
    scope.set_memory_depth(12_000)
    scope.set_edge_trigger(1, -20, "POS", "NORM")
    scope.arm_single()
    scope.wait_for_acquisition(timeout_s=1.0)
    assert clock.now() == pytest.approx(2 * scope.poll_s)
    wf = scope.read_waveform(1)
    # (code - 24 - 127) * 2 V; codes 0 and 255 are the rails
    assert wf.samples.tolist() == [-96.0, -76.0, -48.0, 0.0, -302.0, 208.0]
    assert (wf.sample_rate_hz, wf.start_s, wf.clipped, wf.name) == (pytest.approx(50e3), -0.12, True, "CHAN1")
    assert wf.meta["time_reference"] == "trigger"
    resource.assert_done()


def test_rigol_word_transfer_and_screen_read_replay():
    scope, resource = rigol([
        *writes(":WAV:SOUR CHAN2", ":WAV:MODE NORM", ":WAV:FORM WORD", no_error=RIGOL_NO_ERROR),
        (":WAV:PRE?", "1,0,3,1,1.000000e-04,-6.000000e-02,0,4.000000e-02,-25,127"),
        *writes(":WAV:STAR 1", ":WAV:STOP 3", no_error=RIGOL_NO_ERROR),
        # WORD: the code in the low byte, low byte first
        (":WAV:DATA?", bytes([102, 0, 127, 0, 152, 0])),
    ])
    wf = scope.read_waveform(2, raw=False, word=True)
    # (code + 25 - 127) * 0.04 V: the centre line at +1 V
    assert wf.samples == pytest.approx([0.0, 1.0, 2.0])
    assert (wf.sample_rate_hz, wf.start_s, wf.clipped) == (pytest.approx(10e3), -0.06, False)
    resource.assert_done()


def test_rigol_raw_read_of_a_long_record_is_done_in_guide_sized_batches():
    codes = (np.arange(600_000) % 251).astype(np.uint8)
    scope, resource = rigol([
        *writes(":WAV:SOUR CHAN1", ":WAV:MODE RAW", ":WAV:FORM BYTE", no_error=RIGOL_NO_ERROR),
        (":WAV:PRE?", "0,2,600000,1,1.000000e-06,-3.000000e-01,0,4.000000e-02,0,127"),
        *writes(":WAV:STAR 1", ":WAV:STOP 250000", no_error=RIGOL_NO_ERROR),
        (":WAV:DATA?", codes[:250_000].tobytes()),
        *writes(":WAV:STAR 250001", ":WAV:STOP 500000", no_error=RIGOL_NO_ERROR),
        (":WAV:DATA?", codes[250_000:500_000].tobytes()),
        *writes(":WAV:STAR 500001", ":WAV:STOP 600000", no_error=RIGOL_NO_ERROR),
        (":WAV:DATA?", codes[500_000:].tobytes()),
    ])
    wf = scope.read_waveform(1)
    assert len(wf) == 600_000
    assert np.array_equal(wf.samples, (codes - 127.0) * 0.04)
    resource.assert_done()


def test_rigol_short_block_is_a_bench_fault():
    scope, _ = rigol([
        *writes(":WAV:SOUR CHAN1", ":WAV:MODE NORM", ":WAV:FORM BYTE", no_error=RIGOL_NO_ERROR),
        (":WAV:PRE?", "0,0,1200,1,1.000000e-04,-6.000000e-02,0,4.000000e-02,0,127"),
        *writes(":WAV:STAR 1", ":WAV:STOP 1200", no_error=RIGOL_NO_ERROR),
        (":WAV:DATA?", bytes(1000)),
    ])
    with pytest.raises(BenchFault, match="block holds 1000 points, expected 1200") as fault:
        scope.read_waveform(1, raw=False)
    assert fault.value.command == ":WAV:DATA?"


def test_rigol_capture_replay():
    clock = VirtualClock(5.0)
    codes = np.full(12_000, 127, dtype=np.uint8)
    codes[0], codes[9_999], codes[10_000] = 177, 77, 255  # the last beyond duration_s
    scope, resource = rigol([
        *writes(":CHAN2:DISP OFF", ":CHAN3:DISP OFF", ":CHAN4:DISP OFF", no_error=RIGOL_NO_ERROR),
        *writes(":CHAN1:DISP ON", ":CHAN1:PROB 1", ":CHAN1:SCAL 0.5", ":CHAN1:OFFS 0", ":CHAN1:COUP DC",
                ":CHAN1:BWL OFF", no_error=RIGOL_NO_ERROR),
        # 1 s fits 12 div of 100 ms; trigger at the first point; 12 000 points = 10 kSa/s
        *writes(":TIM:MAIN:SCAL 0.1", ":TIM:MAIN:OFFS 0.6", ":ACQ:MDEP 12000", ":SING", ":TFOR",
                no_error=RIGOL_NO_ERROR),
        (":TRIG:STAT?", "STOP"),
        *writes(":WAV:SOUR CHAN1", ":WAV:MODE RAW", ":WAV:FORM BYTE", no_error=RIGOL_NO_ERROR),
        (":WAV:PRE?", "0,2,12000,1,1.000000e-04,0.000000e+00,0,2.000000e-02,0,127"),
        *writes(":WAV:STAR 1", ":WAV:STOP 12000", no_error=RIGOL_NO_ERROR),
        (":WAV:DATA?", codes.tobytes()),
    ], clock)
    # +-1.5 V at the connector: 2 * 1.5 / 8 = 0.375 -> 0.5 V/div; a 100:1 probe on the jig
    waveforms = scope.capture([AnalogInput("fxs1.line_v", "CHAN1", 1.5, scale=100.0)], 1.0, 10e3)
    wf = waveforms["fxs1.line_v"]
    assert (len(wf), wf.sample_rate_hz, wf.start_s, wf.clipped) == (10_000, pytest.approx(10e3), 5.0, False)
    # (code - 127) * 0.02 V * 100
    assert (wf.samples[0], wf.samples[1], wf.samples[9_999]) == pytest.approx((100.0, 0.0, -100.0))
    resource.assert_done()


def test_keysight_setup_single_capture_and_byte_transfer_replay():
    clock = VirtualClock()
    scope, resource = keysight([
        *writes(":CHAN1:DISP ON", ":CHAN1:PROB 100", ":CHAN1:SCAL 50", ":CHAN1:OFFS -48", ":CHAN1:COUP DC",
                ":CHAN1:BWL OFF"),
        *writes(":TIM:SCAL 0.02", ":TIM:POS 0.1"),
        *writes(":TRIG:MODE EDGE", ":TRIG:EDGE:SOUR CHAN1", ":TRIG:EDGE:SLOP NEG", ":TRIG:EDGE:LEV -20",
                ":TRIG:SWE NORM", ":SING"),
        (":OPER:COND?", "+40"), (":OPER:COND?", "+8"), (":OPER:COND?", "+0"),  # Run + Wait Trig, Run, done
        *writes(":WAV:SOUR CHAN1", ":WAV:FORM BYTE", ":WAV:POIN:MODE RAW", ":WAV:POIN MAX"),
        (":WAV:PRE?", "+0,+0,+5,+1,+2.00000000E-07,+0.00000000E+00,+0,+1.56250000E+00,-4.80000000E+01,+128"),
        (":WAV:DATA?", bytes([128, 160, 96, 1, 255])),
    ], clock)
    scope.setup_channel(1, 50, centre_v=-48, probe=100)
    scope.set_timebase(0.02, delay_s=0.1)
    scope.set_edge_trigger(1, -20, "NEG", "NORM")
    scope.arm_single()
    scope.wait_for_acquisition(timeout_s=1.0)
    wf = scope.read_waveform(1)
    # (code - 128) * 1.5625 V - 48 V; 1 is clipped low, 255 clipped high
    assert wf.samples.tolist() == [-48.0, 2.0, -98.0, -246.4375, 150.4375]
    assert (wf.sample_rate_hz, wf.start_s, wf.clipped) == (pytest.approx(5e6), 0.0, True)
    resource.assert_done()


def test_keysight_word_transfer_replay():
    scope, resource = keysight([
        *writes(":WAV:SOUR CHAN3", ":WAV:FORM WORD", ":WAV:POIN:MODE NORM", ":WAV:POIN 1000"),
        (":WAV:PRE?", "+1,+3,+3,+1,+2.00000000E-04,-1.00000000E-01,+0,+6.10351562E-03,-4.80000000E+01,+32768"),
        # LSBFirst: 32768, 40960, 28672
        (":WAV:DATA?", bytes([0x00, 0x80, 0x00, 0xA0, 0x00, 0x70])),
    ])
    wf = scope.read_waveform(3, raw=False, word=True)
    # (code - 32768) * 400 V / 65536 - 48 V
    assert wf.samples == pytest.approx([-48.0, 2.0, -73.0], abs=1e-5)
    assert (wf.sample_rate_hz, wf.start_s, wf.clipped) == (pytest.approx(5e3), -0.1, False)
    resource.assert_done()


def test_keysight_holes_are_a_bench_fault():
    scope, _ = keysight([
        *writes(":WAV:SOUR CHAN1", ":WAV:FORM BYTE", ":WAV:POIN:MODE RAW", ":WAV:POIN MAX"),
        (":WAV:PRE?", "+0,+0,+3,+1,+2.00000000E-07,+0.00000000E+00,+0,+1.56250000E+00,+0.00000000E+00,+128"),
        (":WAV:DATA?", bytes([128, 0, 0])),
    ])
    with pytest.raises(BenchFault, match="2 of 3 points are holes"):
        scope.read_waveform(1)


@pytest.mark.parametrize("make, status, command", [
    (rigol, "WAIT", ":TRIG:STAT?"),
    (keysight, "+40", ":OPER:COND?"),
])
def test_a_trigger_that_never_comes_is_a_bench_fault_naming_it(make, status, command):
    clock = VirtualClock()
    # Polls at 0, 0.05 and 0.1 s of bench time; the third is at the deadline.
    scope, resource = make([(command, status)] * 3, clock)
    with pytest.raises(BenchFault, match=r"no trigger within 0\.1 s") as fault:
        scope.wait_for_acquisition(0.1)
    assert fault.value.command == command
    assert clock.now() == pytest.approx(0.1)
    resource.assert_done()


def inp(ain="CHAN1", range_v=1.5, name="v", negative=None):
    return AnalogInput(name, ain, range_v, negative=negative)


@pytest.mark.parametrize("driver, act, message", [
    (RigolDs1000z, lambda s: s.setup_channel(5, 1.0), r"channel must be one of \(1, 2, 3, 4\), got 5"),
    (RigolDs1000z, lambda s: s.setup_channel(1, 0.3), "volts_per_div must be a 1-2-5 step"),
    (RigolDs1000z, lambda s: s.setup_channel(1, 20.0), r"volts_per_div must be 0.001..10 V/div with a 1:1 probe"),
    (RigolDs1000z, lambda s: s.setup_channel(1, 2000.0, probe=100), r"0.1..1000 V/div with a 100:1 probe"),
    (RigolDs1000z, lambda s: s.setup_channel(1, 1.0, probe=3), "probe must be one of"),
    (RigolDs1000z, lambda s: s.setup_channel(1, 0.1, centre_v=5.0), r"centre_v must be within \+-2 V"),
    (RigolDs1000z, lambda s: s.setup_channel(1, 1.0, coupling="GND"), "coupling must be one of DC, AC"),
    (RigolDs1000z, lambda s: s.set_timebase(0.03), "seconds_per_div must be a 1-2-5 step"),
    (RigolDs1000z, lambda s: s.set_timebase(100.0), r"seconds_per_div must be 5e-09..50 s/div"),
    (RigolDs1000z, lambda s: s.set_timebase(0.01, delay_s=-0.1), r"delay_s must be -0.06..1 s"),
    (RigolDs1000z, lambda s: s.set_memory_depth(5000), "memory depth must be one of"),
    (RigolDs1000z, lambda s: s.set_edge_trigger(1, 0.0, slope="EITHER"), "slope must be one of POS, NEG"),
    (RigolDs1000z, lambda s: s.set_edge_trigger(1, math.nan), "level_v must be a finite number"),
    (RigolDs1000z, lambda s: s.wait_for_acquisition(0), "timeout_s must be > 0"),
    (RigolDs1000z, lambda s: s.capture([inp("AIN0")], 1.0, 1e3), "ain 'AIN0' is not a scope channel"),
    (RigolDs1000z, lambda s: s.capture([inp(negative="CHAN2")], 1.0, 1e3), "single-ended"),
    (RigolDs1000z, lambda s: s.capture([inp(), inp("CHAN2")], 1.0, 1e3), "distinct names"),
    (RigolDs1000z, lambda s: s.capture([inp(), inp(name="w")], 1.0, 1e3), "CHAN1 is given to two inputs"),
    (RigolDs1000z, lambda s: s.capture([inp(range_v=60.0)], 1.0, 1e3), "does not fit the screen"),
    (RigolDs1000z, lambda s: s.capture([inp()], 1.0, 50e6), r"needs more than 12000000 points"),
    (RigolDs1000z, lambda s: s.capture([inp()], 1.0, 0.0), "must be > 0"),
    (KeysightInfiniiVision, lambda s: s.setup_channel(1, 1.0, probe=1e5), r"probe must be 0.001..10000"),
    (KeysightInfiniiVision, lambda s: s.setup_channel(1, 5.0, centre_v=60.0), r"centre_v must be within \+-50 V"),
    (KeysightInfiniiVision, lambda s: s.set_edge_trigger(1, 0.0, sweep="SING"), "sweep must be one of AUTO, NORM"),
    (KeysightInfiniiVision, lambda s: s.set_acquisition_type("PEAK"), "acquisition type must be one of NORM, HRES"),
    (KeysightInfiniiVision, lambda s: s.capture([inp()], 1.0, 3e9), "above the 2e\\+09 Sa/s"),
])
def test_bad_arguments_are_a_one_line_value_error_before_anything_is_sent(driver, act, message):
    resource = AnsweringResource(RIGOL_IDN if driver is RigolDs1000z else KEYSIGHT_IDN)
    scope = driver(ADDRESS, resource=resource, clock=VirtualClock())
    resource.sent.clear()
    with pytest.raises(ValueError, match=message) as error:
        act(scope)
    assert "\n" not in str(error.value)
    assert resource.sent == []


# =============================================================================================
# 3. Drivers against their simulators, through pyvisa-py over loopback TCP


MODELS = [pytest.param(SimRigolDs1000z, RigolDs1000z, id="rigol"),
          pytest.param(SimInfiniiVision, KeysightInfiniiVision, id="keysight")]


@pytest.fixture(scope="module")
def rm():
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


class ScopeBench:
    """One simulated scope named "scope" on a loopback port, on its own virtual clock."""

    def __init__(self, sim_class, seed: int = 11):
        self.clock = VirtualClock()
        self.wiring = SimWiring()
        self.sim = sim_class("scope", self.clock, self.wiring, np.random.default_rng(seed))
        self.server = ScpiServer(self.sim).start()

    def open(self, driver, rm, **kwargs):
        return driver(self.server.address, clock=self.clock, resource_manager=rm, **kwargs)


@pytest.fixture
def bench(request):
    benches = []

    def make(sim_class, seed=11):
        benches.append(ScopeBench(sim_class, seed))
        return benches[-1]

    yield make
    for made in benches:
        made.server.stop()


@pytest.mark.parametrize("sim_class, driver", MODELS)
def test_ringing_on_battery_through_a_100_to_1_probe(bench, rm, sim_class, driver):
    b = bench(sim_class)
    b.wiring.scope_inputs["scope:1"] = through_100_to_1(ring_on_battery_v)
    b.clock.sleep(0.37)
    gain = 1 + b.sim.gain_error[1]
    with b.open(driver, rm) as scope:
        scope.setup_channel(1, 50, centre_v=-48, probe=100)  # the probe setting scales to line volts
        scope.set_timebase(0.05)  # 12 (Rigol) or 10 (Keysight) whole cycles on the screen
        scope.set_edge_trigger(1, -48, "POS", "NORM")
        scope.arm_single()
        scope.wait_for_acquisition(timeout_s=1.0)
        wf = scope.read_waveform(1)
    # Within the data sheet's DC gain accuracy (3 % of 8 divisions of 50 V), the DMM cross-check ...
    full_scale_v = 8 * 50.0
    assert abs(ac_rms(wf.samples) - 70.0) <= sim_class.GAIN_ACCURACY_FS * full_scale_v
    assert abs(wf.samples.mean() + 48.0) <= sim_class.GAIN_ACCURACY_FS * full_scale_v
    # ... and exactly the simulated channel's gain error, up to noise and 8-bit steps.
    assert ac_rms(wf.samples) == pytest.approx(70.0 * gain, rel=3e-3)
    assert wf.samples.mean() == pytest.approx(-48.0, abs=0.5)  # the gain works around the centre line
    assert frequency_hz(wf) == pytest.approx(20.0, abs=0.02)
    assert not wf.clipped
    # Triggered on the rising edge through -48 V: the record crosses it at t = 0.
    before, after = wf.samples[wf.times_s < -1e-3][-5:], wf.samples[wf.times_s > 1e-3][:5]
    assert before.max() < -48.0 < after.min()


@pytest.mark.parametrize("sim_class, driver", MODELS)
def test_capture_stands_in_for_the_labjack(bench, rm, sim_class, driver):
    b = bench(sim_class)
    b.wiring.scope_inputs["scope:2"] = through_100_to_1(ring_on_battery_v)
    b.clock.sleep(1.25)
    with b.open(driver, rm) as scope:
        waveforms = scope.capture([AnalogInput("fxs1.line_v", "CHAN2", range_v=1.5, scale=100.0)], 1.0, 10e3)
    wf = waveforms["fxs1.line_v"]
    assert (len(wf), wf.sample_rate_hz, wf.start_s, wf.unit) == (10_000, pytest.approx(10e3), 1.25, "V")
    record_end_s = 1.25 + scope.horizontal_divisions * 0.1
    assert record_end_s - 1e-9 <= b.clock.now() <= record_end_s + scope.poll_s + 1e-9  # seen at the next poll
    # Bench times are right: the samples are the line at wf.times_s, with the channel's gain error.
    expected = ring_on_battery_v(wf.times_s) * (1 + b.sim.gain_error[2])
    assert ac_rms(wf.samples - expected) < 1.5  # noise and 2 V steps (Rigol), far less (Keysight HRES)
    assert ac_rms(wf.samples) == pytest.approx(70.0, rel=2 * sim_class.GAIN_ACCURACY_FS)
    assert not b.sim.channels[1].display  # the unused channels were switched off


@pytest.mark.parametrize("sim_class, driver, rail_v", [
    pytest.param(SimRigolDs1000z, RigolDs1000z, (0 - 127) * 10 / 25, id="rigol"),   # code 0
    pytest.param(SimInfiniiVision, KeysightInfiniiVision, (1 - 128) * 80 / 256, id="keysight"),  # code 1
])
def test_too_few_volts_per_div_clips_at_the_rail(bench, rm, sim_class, driver, rail_v):
    b = bench(sim_class)
    b.wiring.scope_inputs["scope:1"] = through_100_to_1(ring_on_battery_v)
    with b.open(driver, rm) as scope:
        scope.setup_channel(1, 10, probe=100)  # +-40 V on screen; the line swings -147..+51 V
        scope.set_timebase(0.01)
        scope.arm_single()
        scope.force_trigger()
        scope.wait_for_acquisition(1.0)
        wf = scope.read_waveform(1)
    assert wf.clipped
    assert wf.samples.min() == pytest.approx(rail_v)
    assert np.mean(wf.samples == wf.samples.min()) > 0.2  # a third of the ring lies below the screen


@pytest.mark.parametrize("sim_class, driver", MODELS)
def test_single_capture_triggers_at_the_right_bench_time(bench, rm, sim_class, driver):
    ring_start_s = 0.7371

    def ring_burst_v(t):
        """Battery, then ringing from ring_start_s on (line volts)."""
        return -48.0 + np.where(t >= ring_start_s, 99.0 * np.sin(2 * np.pi * 20.0 * (t - ring_start_s)), 0.0)

    b = bench(sim_class)
    b.wiring.scope_inputs["scope:1"] = through_100_to_1(ring_burst_v)
    with b.open(driver, rm) as scope:
        scope.setup_channel(1, 50, centre_v=-48, probe=100)
        scope.set_timebase(0.002)
        scope.set_edge_trigger(1, -20, "POS", "NORM")
        scope.arm_single()
        scope.wait_for_acquisition(timeout_s=3.0)
        wf = scope.read_waveform(1)
    trigger_s = ring_start_s + math.asin(28.0 / 99.0) / (2 * math.pi * 20.0)  # 99 sin = -20 - (-48)
    assert b.sim.last_trigger_s == pytest.approx(trigger_s, abs=1e-9)
    record_end_s = trigger_s + scope.horizontal_divisions / 2 * 0.002
    assert record_end_s <= b.clock.now() < record_end_s + scope.poll_s
    # Times from the trigger are exact: the record is the burst seen from trigger_s.
    expected = ring_burst_v(trigger_s + wf.times_s) * (1 + b.sim.gain_error[1]) + 48.0 * b.sim.gain_error[1]
    assert ac_rms(wf.samples - expected) < 1.5
    assert np.all(np.abs(wf.samples[wf.times_s < ring_start_s - trigger_s] + 48.0) < 5.0)  # before the burst


@pytest.mark.parametrize("sim_class, driver", MODELS)
def test_a_trigger_that_never_comes_times_out_in_bench_time(bench, rm, sim_class, driver):
    b = bench(sim_class)
    b.wiring.scope_inputs["scope:1"] = through_100_to_1(ring_on_battery_v)  # peaks at +51 V
    with b.open(driver, rm, name="ring_scope") as scope:
        scope.setup_channel(1, 50, centre_v=-48, probe=100)
        scope.set_timebase(0.01)
        scope.set_edge_trigger(1, 100, "POS", "NORM")
        scope.arm_single()
        start_s = b.clock.now()
        with pytest.raises(BenchFault) as fault:
            scope.wait_for_acquisition(timeout_s=2.0)
    assert fault.value.instrument == "ring_scope"
    assert fault.value.command == scope._status_query
    assert fault.value.reason.startswith("no trigger within 2 s")
    assert fault.value.reason.endswith("trigger: rising edge through 100 V on CHAN1, sweep NORM")
    assert b.clock.now() - start_s == pytest.approx(2.0, abs=scope.poll_s)
    assert b.sim.last_trigger_s is None


@pytest.mark.parametrize("sim_class, driver, bad_value, unknown", [
    pytest.param(SimRigolDs1000z, RigolDs1000z, ":TIM:MAIN:SCAL 500", ":CHAN1:IMP FIFT", id="rigol"),
    pytest.param(SimInfiniiVision, KeysightInfiniiVision, ":TIM:SCAL 500", ":CHAN1:IMP FIFT", id="keysight"),
])
def test_instrument_errors_are_bench_faults_naming_the_command(bench, rm, sim_class, driver, bad_value, unknown):
    b = bench(sim_class)
    with b.open(driver, rm) as scope:
        with pytest.raises(BenchFault, match='-222,"Data out of range') as fault:
            scope.write(bad_value)
        assert fault.value.command == bad_value
        with pytest.raises(BenchFault, match='-113,"Undefined header"') as fault:
            scope.write(unknown)
        assert fault.value.command == unknown
        scope.setup_channel(1, 1.0)  # +-5 (Rigol) or +-6 (Keysight) divisions of trigger level
        with pytest.raises(BenchFault, match="-222") as fault:
            scope.set_edge_trigger(1, 7.5)
        assert fault.value.command.endswith(":LEV 7.5")


class CountingResource:
    """A pyvisa resource that records the commands written and the block queries."""

    def __init__(self, resource):
        object.__setattr__(self, "_resource", resource)
        object.__setattr__(self, "sent", [])

    def __getattr__(self, name):
        return getattr(self._resource, name)

    def __setattr__(self, name, value):
        setattr(self._resource, name, value)

    def write(self, command):
        self.sent.append(command)
        return self._resource.write(command)

    def query_binary_values(self, command, **kwargs):
        self.sent.append(command)
        return self._resource.query_binary_values(command, **kwargs)


def test_rigol_raw_read_of_a_long_record_in_batches(bench, rm):
    b = bench(SimRigolDs1000z)
    b.wiring.scope_inputs["scope:1"] = through_100_to_1(ring_on_battery_v)
    resource = CountingResource(rm.open_resource(b.server.address))
    with RigolDs1000z(b.server.address, clock=b.clock, resource=resource) as scope:
        scope.setup_channel(1, 50, centre_v=-48, probe=100)
        scope.set_timebase(0.01)
        scope.set_memory_depth(1_200_000)  # 10 MSa/s over 120 ms
        scope.arm_single()
        scope.force_trigger()  # taken once the pre-trigger half of the memory is full
        scope.wait_for_acquisition(1.0)
        resource.sent.clear()
        wf = scope.read_waveform(1)
    batches = [c for c in resource.sent if c.startswith((":WAV:STAR", ":WAV:STOP"))]
    assert batches == [f":WAV:{which} {n}" for first in range(1, 1_200_000, 250_000)
                       for which, n in (("STAR", first), ("STOP", min(first + 249_999, 1_200_000)))]
    assert resource.sent.count(":WAV:DATA?") == 5
    assert (len(wf), wf.sample_rate_hz) == (1_200_000, pytest.approx(10e6))
    assert b.sim.last_trigger_s == pytest.approx(0.06)
    expected = ring_on_battery_v(0.06 + wf.times_s) * (1 + b.sim.gain_error[1]) + 48.0 * b.sim.gain_error[1]
    assert ac_rms(wf.samples - expected) < 1.5  # one record, seamless across the five reads


def test_keysight_word_carries_the_high_resolution_bits(bench, rm):
    b = bench(SimInfiniiVision)
    b.wiring.scope_inputs["scope:1"] = lambda t: 0.05 * np.sin(2 * np.pi * 20.0 * t)  # 1/20 of a division
    with b.open(KeysightInfiniiVision, rm) as scope:
        scope.setup_channel(1, 1.0)
        scope.set_timebase(0.05)  # 2 MSa/s: a thousand 2 GSa/s samples in each point, 12 bits
        scope.set_acquisition_type("HRES")
        scope.arm_single()
        scope.force_trigger()
        scope.wait_for_acquisition(1.0)
        byte, word = scope.read_waveform(1), scope.read_waveform(1, word=True)
        truth = 0.05 * np.sin(2 * np.pi * 20.0 * (b.sim.last_trigger_s + word.times_s)) * (1 + b.sim.gain_error[1])
        assert len(np.unique(byte.samples)) <= 5  # 31 mV steps: a few BYTE codes ...
        assert len(np.unique(word.samples)) >= 45  # ... 2 mV steps of 12-bit WORD codes
        assert ac_rms(word.samples - truth) < 0.2 * ac_rms(byte.samples - truth)
        # The byte order and signedness the guide describes: MSBFirst signed equals LSBFirst unsigned.
        scope.write(":WAV:BYT MSBF")
        scope.write(":WAV:UNS OFF")
        signed = scope._resource.query_binary_values(":WAV:DATA?", datatype="h", is_big_endian=True,
                                                     container=np.array)
        assert np.allclose((signed.astype(np.int64) + 32768) * (8.0 / 65536) - 4.0, word.samples)


@pytest.mark.parametrize("sim_class, driver", MODELS)
def test_settings_read_back_as_the_scope_reports_them(bench, rm, sim_class, driver):
    b = bench(sim_class)
    with b.open(driver, rm) as scope:
        scope.setup_channel(3, 20, centre_v=-48, coupling="AC", probe=10, bandwidth_limit=True)
        scope.set_timebase(0.005, delay_s=0.01)
        scope.set_edge_trigger(3, -30, "NEG", "AUTO")
        settings = scope.channel_settings(3)
        assert (settings.display, settings.coupling, settings.volts_per_div, settings.centre_v, settings.probe,
                settings.bandwidth_limit) == (True, "AC", 20.0, -48.0, 10.0, True)
        assert scope.timebase() == pytest.approx((0.005, 0.01))
        trigger = scope.edge_trigger()
        assert (trigger.channel, trigger.level_v, trigger.slope, trigger.sweep) == (3, -30.0, "NEG", "AUTO")
        scope.set_channel_display(3, False)
        assert not scope.channel_settings(3).display


def test_rigol_simulator_speaks_the_guides_scpi(bench, rm):
    b = bench(SimRigolDs1000z)
    visa = rm.open_resource(b.server.address, read_termination="\n", write_termination="\n", timeout=1000)
    try:
        assert visa.query("*IDN?") == RIGOL_IDN
        # Long or short form, any case, ;-chains; the coarse knob settles on a 1-2-5 step.
        assert visa.query("*RST;:timebase:main:scale 0.03;:TIM:SCAL?") == "5.000000e-02"
        assert visa.query(":CHANnel2:PROBe 100;SCALe 3;:CHAN2:SCAL?") == "5.000000e+00"
        assert visa.query("*OPC?") == "1"
        assert visa.query(":SYST:ERR?") == '0,"No error"'
        visa.write(":WAV:MODE RAW;:ACQ:MDEP 7000")
        assert visa.query(":SYSTem:ERRor?").startswith("-224,")
        visa.write(":CHAN5:SCAL 1")
        assert visa.query(":SYST:ERR?") == '-114,"Header suffix out of range;channel 5"'
        visa.write("*CLS")
        assert visa.query(":WAV:PRE?;:SYST:ERR?") == '-221,"Settings conflict;no acquisition yet"'
    finally:
        visa.close()


@pytest.mark.parametrize("sim_class, driver, points", [
    pytest.param(SimRigolDs1000z, RigolDs1000z, 1200, id="rigol"),
    pytest.param(SimInfiniiVision, KeysightInfiniiVision, 1000, id="keysight"),
])
def test_screen_records_and_ac_coupling(bench, rm, sim_class, driver, points):
    b = bench(sim_class)
    b.wiring.scope_inputs["scope:1"] = through_100_to_1(ring_on_battery_v)
    b.clock.sleep(1.0)
    with b.open(driver, rm) as scope:
        scope.setup_channel(1, 50, coupling="AC", probe=100)
        scope.set_timebase(0.05)
        scope.arm_single()
        scope.force_trigger()
        scope.wait_for_acquisition(2.0)
        wf = scope.read_waveform(1, raw=False)
    assert (len(wf), wf.sample_rate_hz) == (points, pytest.approx(points / (scope.horizontal_divisions * 0.05)))
    # The coupling capacitor removes the battery and takes a little of the 20 Hz (first-order high-pass).
    high_pass = 1 / math.sqrt(1 + (sim_class.AC_CUTOFF_HZ / 20.0) ** 2)
    assert abs(wf.samples.mean()) < 2.0
    assert ac_rms(wf.samples) == pytest.approx(70.0 * high_pass * (1 + b.sim.gain_error[1]), rel=0.01)
