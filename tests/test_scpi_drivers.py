"""The SCPI layer: the simulators' parser, the drivers' exact command traffic, the drivers against
the simulators through real pyvisa-py over loopback TCP, and bench faults."""

from __future__ import annotations

import math
import re
import struct
from dataclasses import replace

import numpy as np
import pytest
import pyvisa

from harness.dsp.waveform import Waveform
from instruments.errors import BenchFault
from instruments.keysight_33500b import Keysight33500B, arb_dac_codes, dual_tone_samples
from instruments.keysight_34461a import Keysight34461A
from instruments.keysight_e3634a import KeysightE3634A
from instruments.protocols import InstrumentIdentity
from instruments.sim.clock import VirtualClock
from instruments.sim.scpi_instruments import (DEFAULT_ARB, SimDmm34461a, SimDmm34465a, SimGenerator33500b,
                                              SimGenerator33600a, SimSupplyE3634a)
from instruments.sim.scpi_server import (Call, ScpiDevice, ScpiError, ScpiServer, compile_pattern,
                                         definite_length_block, format_reading, parse_choice, parse_number)
from instruments.sim.terminals import SimWiring, SourceSetting, SupplySetting, source_output_v
from scpi_replay import NO_ERROR, AnsweringResource, BlockWrite, ReplayResource

# =============================================================================================
# 1. The parser every simulated instrument shares


class TinySource(ScpiDevice):
    """A two-channel source with a trigger subsystem: just enough to exercise the parser."""

    def __init__(self):
        super().__init__("Tipring,TINY1,0001,1.0")
        self.command("[SOURce#:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._set_volts)
        self.command("[SOURce#:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?", self._get_volts)
        self.command("TRIGger:SOURce", self._set_source)
        self.command("TRIGger:SOURce?", lambda call: self.trigger_source)
        self.command("TRIGger:SLOPe", self._set_slope)
        self.command("TRIGger:SLOPe?", lambda call: self.slope)
        self.reset()

    def reset(self):
        self.volts = {1: 0.0, 2: 0.0}
        self.trigger_source, self.slope = "IMM", "POS"

    def _channel(self, call: Call) -> int:
        if call.suffixes[0] not in self.volts:
            raise ScpiError(-114)
        return call.suffixes[0]

    def _set_volts(self, call):
        self.volts[self._channel(call)] = parse_number(call.one(), 0.0, 10.0, default=1.0)

    def _get_volts(self, call):
        return format_reading(self.volts[self._channel(call)])

    def _set_source(self, call):
        self.trigger_source = parse_choice(call.one(), ["IMMediate", "EXTernal", "BUS"])

    def _set_slope(self, call):
        self.slope = parse_choice(call.one(), ["POSitive", "NEGative"])


def errors_of(device: ScpiDevice) -> list[str]:
    """Drain the error queue the way a driver does: SYST:ERR? until +0."""
    entries = []
    while (entry := device.handle("SYST:ERR?")) != '+0,"No error"':
        entries.append(entry)
    return entries


@pytest.mark.parametrize("command", [
    "SOUR2:VOLT 5",
    "SOURCE2:VOLTAGE:LEVEL:IMMEDIATE:AMPLITUDE 5",
    "source2:volt:lev:ampl 5",
    "Sour2:Voltage:Imm 5",
    ":SOUR2:VOLT 5",
])
def test_header_matches_in_short_or_long_form_any_case(command):
    device = TinySource()
    assert device.handle(command) is None
    assert device.volts == {1: 0.0, 2: 5.0}
    assert device.handle("sour2:volt?") == "+5.00000000E+00"
    assert errors_of(device) == []


def test_an_omitted_numbered_node_is_suffix_1():
    device = TinySource()
    device.handle("VOLT 3")
    device.handle("SOUR:VOLT:AMPL 4")
    assert device.volts == {1: 4.0, 2: 0.0}


@pytest.mark.parametrize("command", ["VOLTA 1", "SOURC2:VOLT 1", "VOL 1", "SOUR2:VOLT:OFFS 1",
                                     "TRIGGER 1", "VOLT$ 1"])
def test_neither_short_nor_long_form_is_undefined_header(command):
    device = TinySource()
    assert device.handle(command) is None
    assert errors_of(device) == ['-113,"Undefined header"']
    assert device.volts == {1: 0.0, 2: 0.0}


def test_an_unknown_query_queues_113_and_sends_no_reply():
    device = TinySource()
    assert device.handle("MEAS:VOLT?") is None
    assert device.handle("SYST:ERR?") == '-113,"Undefined header"'
    assert device.handle("SYST:ERR?") == '+0,"No error"'


def test_chained_commands_continue_from_the_previous_path():
    device = TinySource()
    # SLOP continues from TRIG: (the guide's "TRIG:SOUR EXT;SLOP NEG").
    assert device.handle("TRIG:SOUR EXT;SLOP NEG") is None
    assert (device.trigger_source, device.slope) == ("EXT", "NEG")
    # A leading ':' starts again from the root; common commands leave the path alone.
    assert device.handle("TRIG:SOUR BUS;*CLS;:SOUR2:VOLT 2;VOLT?") == "+2.00000000E+00"
    assert device.trigger_source == "BUS"
    # Replies of several queries come back on one line, joined by ';'.
    assert device.handle("VOLT 1;VOLT?;SOUR2:VOLT?;*IDN?;TRIG:SLOP?") == \
        "+1.00000000E+00;+2.00000000E+00;Tipring,TINY1,0001,1.0;NEG"
    assert errors_of(device) == []


def test_a_relative_header_that_finds_nothing_falls_back_to_the_root():
    device = TinySource()
    device.handle("TRIG:SOUR BUS;VOLT 4")  # TRIG:VOLT does not exist; VOLT from the root does
    assert device.volts[1] == 4.0
    assert errors_of(device) == []


@pytest.mark.parametrize("command, entry", [
    ("VOLT", '-109,"Missing parameter"'),
    ("VOLT 1,2", '-108,"Parameter not allowed"'),
    ("VOLT abc", '-104,"Data type error;\'abc\' is not a number"'),
    ("VOLT 5 V", '-104,"Data type error;\'5 V\' is not a number"'),
    ("VOLT 11", '-222,"Data out of range;11 is outside 0..10"'),
    ("TRIG:SOUR NOWHERE", '-224,"Illegal parameter value;\'NOWHERE\' is not one of IMMediate, EXTernal, BUS"'),
    ("SOUR3:VOLT 1", '-114,"Header suffix out of range"'),
    ("*IDN? 1", '-108,"Parameter not allowed"'),
])
def test_errors_are_queued_with_standard_numbers(command, entry):
    device = TinySource()
    device.handle(command)
    assert errors_of(device) == [entry]
    assert device.volts == {1: 0.0, 2: 0.0}


@pytest.mark.parametrize("text, volts", [("MIN", 0.0), ("MAX", 10.0), ("DEF", 1.0), ("maximum", 10.0),
                                         (".5", 0.5), ("+2.5E+00", 2.5), ("25e-1", 2.5), ("7", 7.0)])
def test_numbers_take_min_max_def_and_unit_free_scpi_forms(text, volts):
    device = TinySource()
    device.handle(f"VOLT {text}")
    assert device.volts[1] == volts
    assert errors_of(device) == []


def test_error_queue_is_first_in_first_out_and_cleared_by_cls():
    device = TinySource()
    device.handle("VOLT 99")
    device.handle("FOO")
    assert device.handle("SYST:ERR?").startswith("-222,")
    assert device.handle("SYSTem:ERRor:NEXT?") == '-113,"Undefined header"'
    device.handle("FOO;BAR")
    device.handle("*CLS")
    assert device.handle("SYST:ERR?") == '+0,"No error"'


def test_a_command_error_drops_the_rest_of_the_message_an_execution_error_does_not():
    device = TinySource()
    device.handle("FOO 1;VOLT 7")
    assert device.volts[1] == 0.0
    device.handle("VOLT 99;VOLT 7")
    assert device.volts[1] == 7.0
    assert [e[:4] for e in errors_of(device)] == ["-113", "-222"]


def test_a_full_error_queue_ends_in_queue_overflow():
    device = TinySource()
    for _ in range(25):
        device.handle("FOO")
    entries = errors_of(device)
    assert len(entries) == 20
    assert entries[-1] == '-350,"Queue overflow"'


def test_common_commands():
    device = TinySource()
    device.handle("VOLT 3")
    assert device.handle("*IDN?") == "Tipring,TINY1,0001,1.0"
    assert device.handle("*OPC?") == "1"
    device.handle("*RST")
    assert device.volts[1] == 0.0


def test_a_pattern_that_is_not_scpi_notation_is_refused():
    with pytest.raises(ValueError, match="VOLT::AMPL"):
        compile_pattern("VOLT::AMPL")


# =============================================================================================
# 2. The drivers' command traffic, replayed against the programming guides


DMM_IDN = "Keysight Technologies,34461A,MY53220001,A.02.14-02.40-02.14-00.49-01-01"
GEN_IDN = "Keysight Technologies,33522B,MY52300001,4.00-1.19-2.00-58-00"
PSU_IDN = "Agilent Technologies,E3634A,0,2.4-6.1-2.1"
ADDRESS = "TCPIP::192.0.2.10::5025::SOCKET"  # never opened: the replay resource stands in


def test_open_sets_terminations_and_timeout_and_reads_identity():
    resource = ReplayResource([("*IDN?", DMM_IDN), ("*CLS", None)])
    dmm = Keysight34461A(ADDRESS, resource=resource, timeout_ms=2500)
    assert (resource.read_termination, resource.write_termination, resource.timeout) == ("\n", "\n", 2500)
    assert dmm.identity == InstrumentIdentity("Keysight Technologies", "34461A", "MY53220001",
                                              "A.02.14-02.40-02.14-00.49-01-01")
    assert (dmm.name, dmm.address) == ("dmm", ADDRESS)
    dmm.close()
    assert resource.closed
    resource.assert_done()


def test_34461a_dc_volts_replay():
    resource = ReplayResource([
        ("*IDN?", DMM_IDN), ("*CLS", None),
        ("CONF:VOLT:DC 100", None), NO_ERROR,
        ("VOLT:DC:NPLC 10", None), NO_ERROR,
        ("READ?", "-4.79823100E+01"),
        ("CONF:VOLT:DC AUTO", None), NO_ERROR,
        ("VOLT:DC:NPLC 1", None), NO_ERROR,
        ("READ?", "+9.90000000E+37"),       # overload
    ])
    dmm = Keysight34461A(ADDRESS, resource=resource)
    assert dmm.measure_dc_volts(range_v=100) == -47.98231
    dmm.set_nplc(1)
    assert dmm.measure_dc_volts() == math.inf
    resource.assert_done()


def test_34461a_ac_volts_dc_amps_and_frequency_replay():
    resource = ReplayResource([
        ("*IDN?", DMM_IDN), ("*CLS", None),
        ("CONF:VOLT:AC AUTO", None), NO_ERROR,
        ("VOLT:AC:BAND 20", None), NO_ERROR,
        ("READ?", "+7.00123400E+01"),
        ("CONF:CURR:DC 0.1", None), NO_ERROR,
        ("CURR:DC:NPLC 10", None), NO_ERROR,
        ("READ?", "+2.51234500E-02"),
        ("CONF:FREQ", None), NO_ERROR,
        ("READ?", "+2.00001200E+01"),
    ])
    dmm = Keysight34461A(ADDRESS, resource=resource)
    assert dmm.measure_ac_volts() == 70.01234
    assert dmm.measure_dc_amps(range_a=0.1) == 0.02512345
    assert dmm.measure_frequency_hz() == 20.00012
    resource.assert_done()


def test_33500b_ringing_setup_replay():
    resource = ReplayResource([
        ("*IDN?", GEN_IDN), ("*CLS", None),
        ("OUTP1:LOAD INF", None), NO_ERROR,
        ("SOUR1:VOLT:UNIT VPP", None), NO_ERROR,
        ("SOUR1:FUNC SIN", None), NO_ERROR,
        ("SOUR1:FREQ 20", None), NO_ERROR,
        ("SOUR1:VOLT?", "+1.00000000000000E-01"),
        ("SOUR1:VOLT:OFFS 1", None), NO_ERROR,   # the peak grows: offset first
        ("SOUR1:VOLT 5", None), NO_ERROR,
        ("SOUR1:BURS:MODE TRIG", None), NO_ERROR,
        ("SOUR1:BURS:NCYC 40", None), NO_ERROR,
        ("SOUR1:BURS:INT:PER 6", None), NO_ERROR,
        ("TRIG1:SOUR IMM", None), NO_ERROR,
        ("SOUR1:BURS:STAT ON", None), NO_ERROR,
        ("OUTP1 ON", None), NO_ERROR,
        ("SOUR1:FUNC SIN", None), NO_ERROR,
        ("SOUR1:FREQ 25", None), NO_ERROR,
        ("SOUR1:VOLT?", "+5.00000000000000E+00"),
        ("SOUR1:VOLT 0.5", None), NO_ERROR,      # the peak shrinks: amplitude first
        ("SOUR1:VOLT:OFFS 0", None), NO_ERROR,
        ("SOUR1:BURS:STAT OFF", None), NO_ERROR,
    ])
    gen = Keysight33500B(ADDRESS, resource=resource)
    gen.set_sine(20, 5.0, offset_v=1.0)
    gen.set_burst(40, 6.0)
    gen.set_output(True)
    gen.set_sine(25, 0.5)
    gen.set_burst(None)
    resource.assert_done()


def test_33500b_channel_2_replay():
    resource = ReplayResource([
        ("*IDN?", GEN_IDN), ("*CLS", None),
        ("OUTP2:LOAD INF", None), NO_ERROR,
        ("SOUR2:VOLT:UNIT VPP", None), NO_ERROR,
        ("OUTP2 OFF", None), NO_ERROR,
    ])
    Keysight33500B(ADDRESS, channel=2, resource=resource).set_output(False)
    resource.assert_done()


def test_e3634a_replay():
    resource = ReplayResource([
        ("*IDN?", PSU_IDN), ("*CLS", None),
        ("VOLT:RANG P50V", None), NO_ERROR,
        ("VOLT:PROT 52", None), NO_ERROR,
        ("VOLT:PROT:STAT ON", None), NO_ERROR,
        ("VOLT 48", None), NO_ERROR,
        ("VOLT:PROT:TRIP?", "0"),
        ("CURR 0.1", None), NO_ERROR,
        ("OUTP ON", None), NO_ERROR,
        ("VOLT:PROT:TRIP?", "0"),
        ("MEAS:VOLT?", "+4.79990000E+01"),
        ("MEAS:CURR?", "+2.50000000E-02"),
        ("OUTP OFF", None), NO_ERROR,
    ])
    psu = KeysightE3634A(ADDRESS, resource=resource)
    psu.set_overvoltage_protection(52)
    psu.set_voltage(48)
    psu.set_current_limit(0.1)
    psu.set_output(True)
    assert psu.measure_voltage() == 47.999
    assert psu.measure_current() == 0.025
    psu.set_output(False)
    resource.assert_done()


def test_e3634a_on_rs232_is_put_in_remote_mode_first():
    resource = ReplayResource([
        ("*IDN?", PSU_IDN), ("*CLS", None),
        ("SYST:REM", None), NO_ERROR,
        ("VOLT:RANG P50V", None), NO_ERROR,
    ])
    KeysightE3634A("ASRL/dev/ttyUSB0::INSTR", resource=resource)
    resource.assert_done()


def test_e3634a_tripped_protection_is_a_bench_fault():
    resource = ReplayResource([
        ("*IDN?", PSU_IDN), ("*CLS", None),
        ("VOLT:RANG P50V", None), NO_ERROR,
        ("VOLT 51", None), NO_ERROR,
        ("VOLT:PROT:TRIP?", "1"),
    ])
    psu = KeysightE3634A(ADDRESS, resource=resource)
    with pytest.raises(BenchFault, match="over-voltage protection tripped") as fault:
        psu.set_voltage(51)
    assert (fault.value.instrument, fault.value.command) == ("psu", "VOLT 51")


def test_a_queued_error_is_a_bench_fault_naming_the_command():
    resource = ReplayResource([
        ("*IDN?", GEN_IDN), ("*CLS", None),
        ("OUTP1:LOAD INF", None), NO_ERROR,
        ("SOUR1:VOLT:UNIT VPP", None), NO_ERROR,
        ("SOUR1:FUNC SIN", None), NO_ERROR,
        ("SOUR1:FREQ 20", None), NO_ERROR,
        ("SOUR1:VOLT?", "+1.00000000000000E-01"),
        ("SOUR1:VOLT:OFFS 0", None), NO_ERROR,
        ("SOUR1:VOLT 30", None),
        ("SYST:ERR?", '-222,"Data out of range"'),
        ("SYST:ERR?", '-221,"Settings conflict"'),
        NO_ERROR,
    ])
    gen = Keysight33500B(ADDRESS, name="ring_gen", resource=resource)
    with pytest.raises(BenchFault) as fault:
        gen.set_sine(20, 30.0)
    assert (fault.value.instrument, fault.value.address, fault.value.command) == \
        ("ring_gen", ADDRESS, "SOUR1:VOLT 30")
    assert fault.value.reason == 'instrument error -222,"Data out of range"; -221,"Settings conflict"'
    resource.assert_done()


def test_another_model_at_the_address_is_a_bench_fault_and_closes_the_connection():
    resource = ReplayResource([("*IDN?", PSU_IDN)])
    with pytest.raises(BenchFault, match=r"answers as .*E3634A.*, expected model .*34461A") as fault:
        Keysight34461A(ADDRESS, resource=resource)
    assert fault.value.command == "*IDN?"
    assert resource.closed


def test_a_garbled_identity_is_a_bench_fault():
    with pytest.raises(BenchFault, match="4 comma-separated fields"):
        Keysight34461A(ADDRESS, resource=ReplayResource([("*IDN?", "34461A")]))


DMM65_IDN = "Keysight Technologies,34465A,MY57500001,A.02.17-02.40-02.17-00.52-03-01"
GEN6_IDN = "Keysight Technologies,33622A,MY53800001,A.02.03-3.15-03.64-52-52"


def test_34461a_ac_amps_acdc_volts_and_ac_filter_replay():
    resource = ReplayResource([
        ("*IDN?", DMM_IDN), ("*CLS", None),
        ("CONF:CURR:AC 0.1", None), NO_ERROR,
        ("CURR:AC:BAND 200", None), NO_ERROR,
        ("READ?", "+1.23450000E-02"),
        ("CONF:VOLT:DC 100", None), NO_ERROR,     # AC+DC: one DC reading ...
        ("VOLT:DC:NPLC 10", None), NO_ERROR,
        ("READ?", "-4.80000000E+01"),
        ("CONF:VOLT:AC 100", None), NO_ERROR,     # ... and one AC reading
        ("VOLT:AC:BAND 200", None), NO_ERROR,
        ("READ?", "+1.40000000E+01"),
    ])
    dmm = Keysight34461A(ADDRESS, resource=resource, ac_bandwidth_hz=200)
    assert dmm.measure_ac_amps(range_a=0.1) == 0.012345
    assert dmm.measure_acdc_volts(range_v=100) == pytest.approx(50.0)  # sqrt(48^2 + 14^2)
    resource.assert_done()


def test_34465a_timed_series_uses_the_sample_timer_replay():
    resource = ReplayResource([
        ("*IDN?", DMM65_IDN), ("*CLS", None),
        ("SYST:LFR?", "+50"),
        ("CONF:CURR:DC 0.1", None), NO_ERROR,
        ("CURR:DC:NPLC 0.06", None), NO_ERROR,
        ("CURR:DC:ZERO:AUTO ONCE", None), NO_ERROR,
        ("TRIG:SOUR IMM", None), NO_ERROR,
        ("TRIG:DEL 0", None), NO_ERROR,
        ("SAMP:SOUR TIM", None), NO_ERROR,
        ("SAMP:TIM 0.005", None), NO_ERROR,
        ("SAMP:COUN 4", None), NO_ERROR,
        ("INIT", None), NO_ERROR,
        ("FETC?", "+2.50000000E-02,+2.60000000E-02,+9.90000000E+37,-1.00000000E-03"),
    ])
    dmm = Keysight34461A(ADDRESS, resource=resource, timeout_ms=2000)
    dmm.set_nplc(0.06)  # 34465A only
    times, values = dmm.measure_series("dc_amps", 4, 0.005, range_=0.1)
    np.testing.assert_allclose(times, [0.0, 0.005, 0.010, 0.015])
    np.testing.assert_array_equal(values, [0.025, 0.026, math.inf, -0.001])
    assert resource.timeout == 2000  # FETC? had more time; restored after it
    resource.assert_done()


def test_34461a_timed_series_paces_samples_with_the_trigger_delay_replay():
    resource = ReplayResource([
        ("*IDN?", DMM_IDN), ("*CLS", None),
        ("SYST:LFR?", "+60"),
        ("CONF:VOLT:DC 100", None), NO_ERROR,
        ("VOLT:DC:NPLC 1", None), NO_ERROR,
        ("VOLT:DC:ZERO:AUTO ONCE", None), NO_ERROR,
        ("TRIG:SOUR IMM", None), NO_ERROR,
        ("TRIG:DEL 0.08333333333", None), NO_ERROR,   # 0.1 s less 1 PLC at 60 Hz
        ("SAMP:COUN 3", None), NO_ERROR,
        ("INIT", None), NO_ERROR,
        ("FETC?", "-4.80000000E+01,-4.79000000E+01,-4.78000000E+01"),
    ])
    dmm = Keysight34461A(ADDRESS, resource=resource, nplc=1)
    times, values = dmm.measure_series("dc_volts", 3, 0.1, range_=100)
    np.testing.assert_allclose(times, [0.0, 0.1, 0.2])
    np.testing.assert_array_equal(values, [-48.0, -47.9, -47.8])
    resource.assert_done()


def test_a_series_interval_shorter_than_the_integration_is_refused_after_asking_the_mains():
    resource = ReplayResource([("*IDN?", DMM_IDN), ("*CLS", None), ("SYST:LFR?", "+50")])
    dmm = Keysight34461A(ADDRESS, resource=resource)  # 10 PLC = 0.2 s at 50 Hz
    with pytest.raises(ValueError, match=r"interval_s 0.1 is shorter than the integration time \(10 PLC = 0.2 s\)"):
        dmm.measure_series("dc_volts", 10, 0.1)
    resource.assert_done()


def test_33500b_arbitrary_waveform_upload_replay():
    samples_v = np.array([0.0, 0.5, 1.0, 0.5, 0.0, -0.5, -1.0, -0.5]) + 0.25
    codes = [0, 16384, 32767, 16384, 0, -16384, -32767, -16384]  # +-1 V around 0.25 V
    resource = ReplayResource([
        ("*IDN?", GEN_IDN), ("*CLS", None),
        ("OUTP1:LOAD INF", None), NO_ERROR,
        ("SOUR1:VOLT:UNIT VPP", None), NO_ERROR,
        ("SOUR1:DATA:VOL:CLE", None), NO_ERROR,
        ("FORM:BORD SWAP", None), NO_ERROR,
        ("SOUR1:DATA:ARB:DAC RING_1,", BlockWrite(struct.pack("<8h", *codes))), NO_ERROR,
        ("SOUR1:FUNC:ARB RING_1", None), NO_ERROR,
        ("SOUR1:FUNC:ARB:SRAT 8000", None), NO_ERROR,
        ("SOUR1:FUNC ARB", None), NO_ERROR,
        ("SOUR1:VOLT?", "+1.00000000000000E-01"),
        ("SOUR1:VOLT:OFFS 0.25", None), NO_ERROR,
        ("SOUR1:VOLT 2", None), NO_ERROR,
    ])
    gen = Keysight33500B(ADDRESS, resource=resource)
    gen.set_arb(Waveform(samples_v, 8000.0), name="RING_1")
    resource.assert_done()


def test_33600a_bus_triggered_burst_and_output_load_replay():
    resource = ReplayResource([
        ("*IDN?", GEN6_IDN), ("*CLS", None),
        ("OUTP2:LOAD INF", None), NO_ERROR,
        ("SOUR2:VOLT:UNIT VPP", None), NO_ERROR,
        ("SOUR2:BURS:MODE TRIG", None), NO_ERROR,
        ("SOUR2:BURS:NCYC 3", None), NO_ERROR,
        ("TRIG2:SOUR BUS", None), NO_ERROR,        # no internal period: each *TRG starts one burst
        ("SOUR2:BURS:STAT ON", None), NO_ERROR,
        ("*TRG", None), NO_ERROR,
        ("OUTP2:LOAD 50", None), NO_ERROR,
        ("SOUR2:BURS:MODE TRIG", None), NO_ERROR,
        ("SOUR2:BURS:NCYC 1", None), NO_ERROR,
        ("TRIG2:SOUR EXT", None), NO_ERROR,
        ("SOUR2:BURS:STAT ON", None), NO_ERROR,
    ])
    gen = Keysight33500B(ADDRESS, channel=2, resource=resource)
    assert gen.identity.model == "33622A" and gen.arb_limits.max_points == 4_000_000
    gen.set_burst(3, trigger="BUS")
    gen.trigger()
    gen.set_output_load(50)
    gen.set_burst(1, trigger="EXT")
    resource.assert_done()


def test_a_one_channel_generator_refuses_channel_2():
    resource = ReplayResource([("*IDN?", "Keysight Technologies,33521B,MY1,4.00"), ("*CLS", None)])
    with pytest.raises(BenchFault, match="the 33521B has one channel; channel 2 was asked for"):
        Keysight33500B(ADDRESS, channel=2, resource=resource)
    assert resource.closed


def test_dual_tone_samples_loop_seamlessly_at_whole_cycles():
    samples, f1, f2 = dual_tone_samples(697.3, 1209.0, 1.0, 2.0, 48_000.0, 1.0)
    assert (f1, f2) == (697.0, 1209.0)  # rounded to whole cycles per 1 s loop
    assert len(samples) == 48_000
    # One more sample after the end would be the first again: the loop has no step.
    t_next = len(samples) / 48_000.0
    assert 0.5 * math.sin(2 * math.pi * f1 * t_next) + math.sin(2 * math.pi * f2 * t_next) == \
        pytest.approx(samples[0], abs=1e-9)
    spectrum = np.abs(np.fft.rfft(samples)) / len(samples)
    assert spectrum[697] == pytest.approx(0.25) and spectrum[1209] == pytest.approx(0.5)


def test_arb_dac_codes_span_the_full_scale_with_amplitude_and_offset():
    codes, vpp, offset = arb_dac_codes(np.array([-3.0, -1.0, 1.0]), min_vpp=0.002)
    assert (list(codes), vpp, offset) == ([-32767, 0, 32767], 4.0, -1.0)
    codes, vpp, offset = arb_dac_codes(np.zeros(8), min_vpp=0.002)  # silence: the least amplitude
    assert (list(codes), vpp, offset) == ([0] * 8, 0.002, 0.0)


@pytest.mark.parametrize("driver, idn, kwargs, act, message", [
    (Keysight34461A, DMM_IDN, {"nplc": 3}, None, r"nplc must be one of \(0.02, 0.2, 1.0, 10.0, 100.0\), got 3"),
    (Keysight34461A, DMM_IDN, {}, lambda dmm: dmm.set_nplc(0.5), "nplc must be one of"),
    (Keysight34461A, DMM_IDN, {}, lambda dmm: dmm.measure_dc_volts(-10), "range_v must be > 0"),
    (Keysight34461A, DMM_IDN, {}, lambda dmm: dmm.measure_dc_amps(0), "range_a must be > 0"),
    (Keysight33500B, GEN_IDN, {"channel": 3}, None, "channel must be 1 or 2, got 3"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_burst(0, 6.0), "cycles must be a whole number >= 1"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_burst(2.5, 6.0), "cycles must be a whole number"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_burst(40), "period_s must be > 0 for a burst"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_sine(float("nan"), 1.0), "freq_hz must be a finite"),
    (KeysightE3634A, PSU_IDN, {}, lambda psu: psu.set_voltage(math.inf), "volts must be a finite number"),
    (Keysight34461A, DMM_IDN, {"ac_bandwidth_hz": 50}, None,
     r"ac_bandwidth_hz must be one of \(3.0, 20.0, 200.0\), got 50"),
    (Keysight34461A, DMM_IDN, {}, lambda dmm: dmm.set_nplc(0.06), r"nplc must be one of \(0.02, 0.2"),  # 34465A only
    (Keysight34461A, DMM_IDN, {}, lambda dmm: dmm.measure_series("ac_volts", 10, 1.0), "function must be one of"),
    (Keysight34461A, DMM_IDN, {}, lambda dmm: dmm.measure_series("dc_volts", 10_001, 1.0),
     r"count must be a whole number 1..10000 \(the 34461A's reading memory\), got 10001"),
    (Keysight34461A, DMM65_IDN, {}, lambda dmm: dmm.measure_series("dc_volts", 0, 1.0),
     "count must be a whole number 1..50000"),
    (Keysight34461A, DMM_IDN, {}, lambda dmm: dmm.measure_series("dc_volts", 10, math.nan),
     "interval_s must be a finite"),
    (Keysight34461A, DMM_IDN, {}, lambda dmm: dmm.measure_series("dc_volts", 10, 1.0, range_=0), "range_ must be > 0"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_sine(20, math.inf), "amplitude_vpp must be a finite"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_burst(3, trigger="TIM"),
     r"trigger must be one of \('IMM', 'BUS', 'EXT'\)"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_output_load(0.5), "load_ohms must be 1..10000 or math.inf"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_arb(np.zeros(7), 8000),
     r"8..1000000 points on the 33522B, got shape \(7,\)"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_arb(np.zeros((2, 8)), 8000), "must be 1-D"),
    (Keysight33500B, GEN6_IDN, {}, lambda gen: gen.set_arb(np.zeros(16), 8000), "32..4000000 points on the 33622A"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_arb(np.zeros(8)), r"sample_rate_hz must be 1e-06..2.5e\+08"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_arb(np.zeros(8), 300e6),
     r"sample_rate_hz must be 1e-06..2.5e\+08 on the 33522B"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_arb(Waveform(np.zeros(8), 8000.0), 16000),
     "differs from the Waveform's"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_arb(np.array([0.0] * 7 + [math.nan]), 8000),
     "must all be finite"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_arb(np.array([0.0] * 7 + [10.5]), 8000),
     r"reach 10.5 V; the output gives at most \+-10 V into the high-impedance load"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_arb(np.zeros(8), 8000, name="9LIVES"), "name must be a letter"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_arb(np.zeros(8), 8000, name="A_VERY_LONG_NAME"),
     "name must be a letter"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_dual_tone(697, 1209, 1, -1),
     "amplitude2_vpp must be a finite number >= 0"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_dual_tone(697, 0, 1, 1), "freq2_hz must be a finite number > 0"),
    (Keysight33500B, GEN_IDN, {}, lambda gen: gen.set_dual_tone(697, 1209, 1, 1, sample_rate_hz=2000),
     "sample_rate_hz 2000 must exceed twice the higher tone"),
])
def test_bad_input_is_a_one_line_value_error_and_nothing_is_sent(driver, idn, kwargs, act, message):
    resource = AnsweringResource(idn, other_reply="+1.0E-01")
    with pytest.raises(ValueError, match=message) as error:
        instrument = driver(ADDRESS, resource=resource, **kwargs)
        resource.sent.clear()
        act(instrument)
    assert "\n" not in str(error.value)
    assert resource.sent == []


# =============================================================================================
# 3. Drivers against their simulators, through pyvisa-py over loopback TCP


class RecordingLoad:
    """A supply load that drops 50 mV and draws 30 mA while the output is on."""

    def __init__(self):
        self.settings: list[SupplySetting] = []

    def supply_changed(self, setting: SupplySetting) -> None:
        self.settings.append(setting)

    def supply_operating_point(self) -> tuple[float, float]:
        setting = self.settings[-1]
        return (setting.voltage_v - 0.05, 0.03) if setting.output_on else (0.0, 0.0)


def ringing_on_battery(t: np.ndarray) -> np.ndarray:
    """-48 V battery with 70 Vrms of 20 Hz ringing on it, volts."""
    return -48.0 + 70.0 * math.sqrt(2) * np.sin(2 * np.pi * 20.0 * t)


def battery_with_hum(t: np.ndarray) -> np.ndarray:
    """-48 V battery with 0.5 V of 50 Hz hum, volts."""
    return -48.0 + 0.5 * np.sin(2 * np.pi * 50.0 * t + 0.3)


@pytest.fixture(scope="module")
def rm():
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


class SimBench:
    def __init__(self, seed: int = 7):
        self.clock = VirtualClock()
        self.wiring = SimWiring()
        self.generator_settings: dict[str, list[SourceSetting]] = {"gen:1": [], "gen:2": []}
        for key, settings in self.generator_settings.items():
            self.wiring.generator_outputs[key] = settings.append
        self.load = RecordingLoad()
        self.wiring.supply_outputs["psu:1"] = self.load
        rng = np.random.default_rng(seed)
        self.servers = {
            "dmm": ScpiServer(SimDmm34461a("dmm", self.clock, self.wiring, rng)).start(),
            "gen": ScpiServer(SimGenerator33500b("gen", self.clock, self.wiring, rng)).start(),
            "psu": ScpiServer(SimSupplyE3634a("psu", self.clock, self.wiring, rng)).start(),
        }

    def address(self, name: str) -> str:
        return self.servers[name].address

    def stop(self):
        for server in self.servers.values():
            server.stop()


@pytest.fixture
def sim():
    bench = SimBench()
    yield bench
    bench.stop()


def test_server_address_is_a_visa_socket_resource(sim):
    server = sim.servers["dmm"]
    assert server.port > 0
    assert server.address == f"TCPIP::127.0.0.1::{server.port}::SOCKET"


def test_dmm_dc_volts_average_out_hum_and_take_bench_time(sim, rm):
    sim.wiring.dmm_inputs["dmm"] = battery_with_hum
    with Keysight34461A(sim.address("dmm"), resource_manager=rm) as dmm:
        assert dmm.identity.model == "34461A"
        start = sim.clock.now()
        assert dmm.measure_dc_volts(range_v=100) == pytest.approx(-48.0, abs=1e-3)
        assert sim.clock.now() - start == pytest.approx(0.2)  # 10 PLC at 50 Hz
        dmm.set_nplc(0.02)
        start = sim.clock.now()
        dmm.measure_dc_volts(range_v=100)
        assert sim.clock.now() - start == pytest.approx(0.0004)
        assert dmm.measure_dc_volts() == pytest.approx(-48.0, abs=0.6)  # autorange, hum not averaged
        assert dmm.measure_dc_volts(range_v=10) == -math.inf  # -48 V overloads the 10 V range


def test_dmm_ac_volts_of_ringing_on_battery(sim, rm):
    sim.wiring.dmm_inputs["dmm"] = ringing_on_battery
    with Keysight34461A(sim.address("dmm"), resource_manager=rm) as dmm:
        start = sim.clock.now()
        assert dmm.measure_ac_volts() == pytest.approx(70.0, rel=1e-4)
        assert sim.clock.now() - start == pytest.approx(SimDmm34461a.AC_WINDOW_S[20.0])
        assert dmm.measure_dc_volts() == pytest.approx(-48.0, abs=1e-3)  # 200 ms = 4 ringing cycles
        assert dmm.measure_frequency_hz() == pytest.approx(20.0, abs=1e-3)


def test_dmm_frequency_of_no_signal_is_zero(sim, rm):
    sim.wiring.dmm_inputs["dmm"] = lambda t: np.full_like(t, -48.0)
    with Keysight34461A(sim.address("dmm"), resource_manager=rm) as dmm:
        start = sim.clock.now()
        assert dmm.measure_frequency_hz() == 0.0
        assert sim.clock.now() - start == pytest.approx(SimDmm34461a.FREQ_TIMEOUT_S, abs=0.11)


def test_dmm_dc_amps_from_the_current_input(sim, rm):
    sim.wiring.dmm_current_inputs["dmm"] = lambda t: np.full_like(t, 0.025)
    with Keysight34461A(sim.address("dmm"), resource_manager=rm) as dmm:
        assert dmm.measure_dc_amps(range_a=0.1) == pytest.approx(0.025, abs=1e-6)
        assert dmm.measure_dc_volts() == pytest.approx(0.0, abs=1e-5)  # the volts input is open


def test_dmm_readings_are_formatted_like_the_meter_and_seeded(rm):
    def readings(seed):
        bench = SimBench(seed)
        bench.wiring.dmm_inputs["dmm"] = lambda t: np.full_like(t, 47.98231)
        try:
            visa = rm.open_resource(bench.address("dmm"), read_termination="\n",
                                    write_termination="\n", timeout=1000)
            visa.write("CONF:VOLT:DC 100;VOLT:DC:NPLC 0.02")
            replies = [visa.query("READ?") for _ in range(5)]
            visa.close()
            return replies
        finally:
            bench.stop()

    first = readings(seed=1)
    assert all(re.fullmatch(r"[+-]\d\.\d{8}E[+-]\d\d", reply) for reply in first), first
    assert [float(r) for r in first] == pytest.approx([47.98] * 5, abs=0.02)  # 4.5 digits, noisy
    assert readings(seed=1) == first
    assert readings(seed=2) != first


def test_generator_settings_reach_the_jig(sim, rm):
    with Keysight33500B(sim.address("gen"), resource_manager=rm) as gen:
        gen.set_sine(20.0, 5.0, offset_v=1.0)
        gen.set_burst(40, 6.0)
        sim.clock.sleep(1.5)
        gen.set_output(True)
    settings = sim.generator_settings["gen:1"]
    assert settings[-1] == SourceSetting(function="SIN", freq_hz=20.0, amplitude_vpp=5.0, offset_v=1.0,
                                         output_on=True, burst_cycles=40, burst_period_s=6.0,
                                         since_s=1.5)
    assert settings[0].amplitude_vpp == pytest.approx(0.2)  # *RST: 0.1 Vpp into 50 ohm, open circuit
    assert all(not s.output_on for s in settings[:-1])
    assert sim.generator_settings["gen:2"] == [SourceSetting(amplitude_vpp=0.2, freq_hz=1000.0)]


def test_generator_channel_2_and_burst_off(sim, rm):
    with Keysight33500B(sim.address("gen"), channel=2, resource_manager=rm) as gen:
        gen.set_sine(25.0, 2.0)
        gen.set_burst(50, 6.0)
        gen.set_burst(None)
        gen.set_output(True)
    last = sim.generator_settings["gen:2"][-1]
    assert (last.freq_hz, last.amplitude_vpp, last.burst_cycles, last.output_on) == (25.0, 2.0, None, True)
    assert len(sim.generator_settings["gen:1"]) == 1  # channel 1 untouched since *RST


def test_generator_amplitude_beyond_20_vpp_is_a_bench_fault(sim, rm):
    with Keysight33500B(sim.address("gen"), resource_manager=rm) as gen:
        gen.set_sine(20.0, 20.0)  # the most a 33500B gives into a high-impedance input
        with pytest.raises(BenchFault, match=r"-222,\"Data out of range") as fault:
            gen.set_sine(20.0, 25.0)
        assert fault.value.command == "SOUR1:VOLT 25"
        with pytest.raises(BenchFault, match="-221") as fault:
            gen.set_sine(20.0, 16.0, offset_v=3.0)  # 3 V + 8 V peak leaves the +-10 V span
        assert fault.value.command == "SOUR1:VOLT:OFFS 3"
    last = sim.generator_settings["gen:1"][-1]
    assert (last.amplitude_vpp, last.offset_v) == (16.0, 0.0)  # the refused offset changed nothing


def test_generator_burst_period_too_short_is_lengthened_and_reported(sim, rm):
    with Keysight33500B(sim.address("gen"), resource_manager=rm) as gen:
        gen.set_sine(20.0, 5.0)
        with pytest.raises(BenchFault, match="burst period increased") as fault:
            gen.set_burst(40, 1.0)  # 40 cycles of 20 Hz need 2 s
        assert fault.value.command == "SOUR1:BURS:STAT ON"
    assert sim.generator_settings["gen:1"][-1].burst_period_s == pytest.approx(2.0)


def test_supply_settings_reach_the_load_and_measurements_read_it(sim, rm):
    with KeysightE3634A(sim.address("psu"), resource_manager=rm) as psu:
        psu.set_overvoltage_protection(52.0)
        psu.set_voltage(48.0)
        psu.set_current_limit(0.1)
        psu.set_output(True)
        assert sim.load.settings[-1] == SupplySetting(voltage_v=48.0, current_limit_a=0.1, output_on=True)
        assert psu.measure_voltage() == pytest.approx(47.95, abs=0.003)
        assert psu.measure_current() == pytest.approx(0.03, abs=0.0003)
        assert not psu.protection_tripped()
        with pytest.raises(BenchFault, match=r"-222.*51\.5") as fault:
            psu.set_voltage(60.0)  # above the 50 V range's 51.5 V
        assert fault.value.command == "VOLT 60"
        psu.set_output(False)
        assert psu.measure_voltage() == pytest.approx(0.0, abs=0.003)


def test_supply_over_voltage_protection_trips_the_output_off(sim, rm):
    with KeysightE3634A(sim.address("psu"), resource_manager=rm) as psu:
        psu.set_overvoltage_protection(40.0)
        psu.set_voltage(30.0)
        psu.set_output(True)
        with pytest.raises(BenchFault, match="over-voltage protection tripped") as fault:
            psu.set_voltage(48.0)
        assert fault.value.command == "VOLT 48"
        assert psu.protection_tripped()
    assert sim.load.settings[-1].output_on is False


def served(device: ScpiDevice, rm):
    """A driver-less pyvisa session on `device` over loopback, and its server (stop it after)."""
    server = ScpiServer(device).start()
    session = rm.open_resource(server.address, read_termination="\n", write_termination="\n", timeout=1000)
    return server, session


def truevolt(cls, probe=None, current_probe=None, seed=1):
    clock, wiring = VirtualClock(), SimWiring()
    if probe is not None:
        wiring.dmm_inputs["dmm"] = probe
    if current_probe is not None:
        wiring.dmm_current_inputs["dmm"] = current_probe
    return clock, cls("dmm", clock, wiring, np.random.default_rng(seed))


@pytest.mark.parametrize("cls, first_start_s", [
    (SimDmm34465a, 1.0),    # the sample timer: first sample at the trigger
    (SimDmm34461a, 1.08),   # trigger delay 0.08 s before each 0.02 s sample
])
def test_dmm_timed_series_samples_at_the_interval_and_takes_bench_time(rm, cls, first_start_s):
    clock, device = truevolt(cls, probe=lambda t: 2.0 * t)  # a 2 V/s ramp shows when each reading was
    with ScpiServer(device) as server, Keysight34461A(server.address, resource_manager=rm, nplc=1) as dmm:
        clock.sleep(1.0)
        times, values = dmm.measure_series("dc_volts", 5, 0.1, range_=10)
        np.testing.assert_allclose(times, [0.0, 0.1, 0.2, 0.3, 0.4])
        # Each reading is the ramp's mean over its 20 ms (1 PLC at 50 Hz) window.
        np.testing.assert_allclose(values, 2.0 * (first_start_s + times + 0.01), atol=1e-4)
        assert clock.now() == pytest.approx(first_start_s + 0.4 + 0.02)


def test_dmm_readings_are_taken_when_init_scheduled_them_even_if_fetched_late(rm):
    clock, device = truevolt(SimDmm34465a, probe=lambda t: np.where(t < 0.25, -48.0, 0.0))
    server, session = served(device, rm)
    try:
        session.write("CONF:VOLT:DC 100;:VOLT:DC:NPLC 1;:SAMP:SOUR TIM;SAMP:TIM 0.1;COUN 5;:INIT")
        assert session.query("*OPC?") == "1"  # INIT has run
        clock.sleep(3.0)  # the bench goes on (the line drops at 0.25 s) before FETC?
        readings = [float(r) for r in session.query("FETC?").split(",")]
        assert readings == pytest.approx([-48.0, -48.0, -48.0, 0.0, 0.0], abs=1e-3)
        assert session.query("FETC?").count(",") == 4  # the readings stay in memory
        assert session.query("SYST:ERR?") == NO_ERROR[1]
    finally:
        session.close()
        server.stop()
    assert clock.now() == 3.0


def test_dmm_series_overload_reads_as_infinity_and_memory_keeps_the_newest(rm):
    clock, device = truevolt(SimDmm34461a, probe=lambda t: np.full_like(t, -48.0))
    device.READING_MEMORY = 3
    server, session = served(device, rm)
    try:
        replies = session.query("conf:volt:dc 10;:sample:count 5;:read?").split(",")
        assert replies == ["-9.90000000E+37"] * 3
    finally:
        session.close()
        server.stop()
    with ScpiServer(device) as server, Keysight34461A(server.address, resource_manager=rm, nplc=0.02) as dmm:
        _, values = dmm.measure_series("dc_volts", 2, 0.01, range_=10)
        np.testing.assert_array_equal(values, [-math.inf, -math.inf])


@pytest.mark.parametrize("cls, command, code", [
    (SimDmm34461a, "SAMP:SOUR TIM", -113),                 # the 34461A has no sample timer
    (SimDmm34461a, "SAMP:COUN 1000001", -222),
    (SimDmm34465a, "SAMP:COUN 0", -222),
    (SimDmm34461a, "CONF:VOLT:DC 2000", -222),
    (SimDmm34461a, "CONF:CURR:AC 5", -222),
    (SimDmm34461a, "VOLT:DC:NPLC 200", -222),
    (SimDmm34461a, "VOLT:AC:BAND 1", -222),
    (SimDmm34461a, "TRIG:DEL 4000", -222),
    (SimDmm34465a, "SAMP:TIM 1E-6", -222),
    (SimDmm34461a, "TRIG:SOUR BUS", -224),
    (SimDmm34461a, "FETC?", -221),                         # nothing initiated
    (SimDmm34465a, "CONF:VOLT:DC 10;:SAMP:SOUR TIM;TIM 0.1;COUN 3;:INIT", -221),  # 10 PLC = 0.2 s > 0.1 s
])
def test_dmm_simulator_refuses_what_the_meter_refuses(cls, command, code):
    _, device = truevolt(cls)
    assert device.handle(command) is None
    assert [int(e.split(",")[0]) for e in errors_of(device)] == [code]


def test_34465a_has_finer_ranges_and_integration_times_than_the_34461a():
    def read(cls):
        clock, device = truevolt(cls, current_probe=lambda t: np.full_like(t, 0.5e-6))
        reply = device.handle("CONF:CURR:DC 1E-6;:CURR:DC:NPLC 0.06;NPLC?;:READ?")
        return reply.split(";"), clock.now(), errors_of(device)

    (nplc, reading), elapsed_s, errors = read(SimDmm34465a)
    assert (float(nplc), float(reading), elapsed_s, errors) == (0.06, pytest.approx(0.5e-6, abs=2e-11), 0.0012, [])
    (nplc, reading), elapsed_s, errors = read(SimDmm34461a)
    # The 34461A's least range is 100 uA, and it takes the next integration time up, 0.2 PLC.
    assert (float(nplc), elapsed_s, errors) == (0.2, 0.004, [])
    assert float(reading) == pytest.approx(0.5e-6, abs=1e-8)


@pytest.mark.parametrize("bandwidth_hz, window_s", [(3, 10 / 3), (20, 0.5), (200, 0.05)])
def test_dmm_ac_filter_sets_how_long_an_ac_reading_takes(sim, rm, bandwidth_hz, window_s):
    sim.wiring.dmm_inputs["dmm"] = ringing_on_battery
    with Keysight34461A(sim.address("dmm"), resource_manager=rm, ac_bandwidth_hz=bandwidth_hz) as dmm:
        start = sim.clock.now()
        vrms = dmm.measure_ac_volts(range_v=100)
        assert sim.clock.now() - start == pytest.approx(window_s)
    assert vrms == pytest.approx(70.0, rel=1e-3)


def test_dmm_ac_amps_and_acdc_volts(sim, rm):
    sim.wiring.dmm_current_inputs["dmm"] = lambda t: 0.025 + 0.02 * math.sqrt(2) * np.sin(2 * np.pi * 1000 * t)
    sim.wiring.dmm_inputs["dmm"] = ringing_on_battery
    with Keysight34461A(sim.address("dmm"), resource_manager=rm) as dmm:
        assert dmm.measure_ac_amps(range_a=0.1) == pytest.approx(0.02, rel=1e-4)
        assert dmm.measure_dc_amps(range_a=0.1) == pytest.approx(0.025, abs=1e-6)
        assert dmm.measure_acdc_volts(range_v=100) == pytest.approx(math.hypot(48.0, 70.0), rel=1e-4)


def test_generator_arb_upload_reaches_the_jig_and_renders_the_samples(sim, rm):
    rate = 8000.0
    t = np.arange(800) / rate
    volts = 0.2 + 1.5 * np.sin(2 * np.pi * 1000 * t) * (t < 0.05)  # 50 ms of 1 kHz, 50 ms of silence
    with Keysight33500B(sim.address("gen"), resource_manager=rm) as gen:
        gen.set_arb(Waveform(volts, rate))
        sim.clock.sleep(2.0)
        gen.set_output(True)
    setting = sim.generator_settings["gen:1"][-1]
    assert (setting.function, setting.arb_sample_rate_hz, setting.output_on, setting.since_s) == \
        ("ARB", 8000.0, True, 2.0)
    assert (len(setting.arb_samples), setting.amplitude_vpp, setting.offset_v) == (800, pytest.approx(3.0), 0.2)
    third_pass = 2.0 + 2 * 0.1 + t
    np.testing.assert_allclose(source_output_v(setting, third_pass), volts, atol=5e-5)  # 16-bit codes


def test_generator_dual_tone_is_an_arb_holding_both_tones(sim, rm):
    with Keysight33500B(sim.address("gen"), channel=2, resource_manager=rm) as gen:
        assert gen.set_dual_tone(350, 440, 1.0, 0.5, sample_rate_hz=40e3, segment_s=0.1) == (350.0, 440.0)
        gen.set_output(True)
    setting = sim.generator_settings["gen:2"][-1]
    assert len(setting.arb_samples) == 4000
    rate = 20e3
    played = source_output_v(setting, setting.since_s + np.arange(20_000) / rate)  # 1 s: ten loops
    spectrum = np.abs(np.fft.rfft(played)) * 2 / len(played)
    assert spectrum[350] == pytest.approx(0.5, rel=1e-3) and spectrum[440] == pytest.approx(0.25, rel=1e-3)
    assert np.sort(spectrum)[-3] < 1e-3  # nothing else: the loop joins without a step


def test_generator_arb_bursts_and_bus_triggers(sim, rm):
    ramp_v = np.linspace(-1.0, 1.0, 80)  # 10 ms per pass at 8 kSa/s
    with Keysight33500B(sim.address("gen"), resource_manager=rm) as gen:
        gen.set_arb(ramp_v, 8000.0)
        gen.set_burst(2, 1.0)
        gen.set_output(True)
        timed = sim.generator_settings["gen:1"][-1]
        gen.set_burst(1, trigger="BUS")
        waiting = sim.generator_settings["gen:1"][-1]
        sim.clock.sleep(3.0)
        gen.trigger()
    fired = sim.generator_settings["gen:1"][-1]
    t0 = timed.since_s
    at = t0 + np.array([0.0, 0.015, 0.5, 1.005])  # in pass 1, in pass 2, between bursts, next burst
    np.testing.assert_allclose(source_output_v(timed, at), [-1.0, ramp_v[40], -1.0, ramp_v[40]], atol=1e-4)
    assert (waiting.burst_trigger, waiting.burst_triggered_s) == ("BUS", None)
    assert source_output_v(waiting, np.array([waiting.since_s + 0.005]))[0] == pytest.approx(-1.0)
    assert fired.burst_triggered_s == pytest.approx(3.0 + t0)
    np.testing.assert_allclose(source_output_v(fired, fired.burst_triggered_s + np.array([0.005, 0.015])),
                               [ramp_v[40], -1.0], atol=1e-4)  # one pass per trigger


def arb_block(values, dtype) -> str:
    return definite_length_block(np.asarray(values, dtype=dtype).tobytes())


@pytest.mark.parametrize("commands, code", [
    (["FORM:BORD SWAP;:DATA:ARB:DAC W1,#13abc"], -161),                   # not whole int16 codes
    (["DATA:ARB:DAC W1," + arb_block([0, 1, 2, 3], ">i2")], -222),         # fewer than 8 points
    (["DATA:ARB:DAC W1," + arb_block([-32768] + [0] * 7, ">i2")], -222),   # beyond -32767
    (["DATA:ARB:DAC W1," + arb_block([0] * 8, ">i2")] * 2, -221),          # the name is loaded already
    (["DATA:ARB:DAC 1W," + arb_block([0] * 8, ">i2")], -224),              # not a name
    (["DATA:ARB W2," + arb_block([1.5] + [0] * 7, ">f4")], -222),          # floats beyond +-1
    (["FUNC:ARB NOPE"], -224),
    (["FUNC:ARB:SRAT 1E9"], -222),                                         # a 33600A rate
])
def test_generator_simulator_validates_arb_uploads(commands, code):
    device = SimGenerator33500b("gen", VirtualClock(), SimWiring(), np.random.default_rng(1))
    for command in commands:
        device.handle(command)
    assert [int(e.split(",")[0]) for e in errors_of(device)] == [code]


def test_generator_simulator_stores_arbs_in_the_byte_order_asked_and_clears_them():
    published = []
    wiring = SimWiring(generator_outputs={"gen:1": published.append})
    device = SimGenerator33600a("gen", VirtualClock(), wiring, np.random.default_rng(1))
    codes = [0, 32767, 0, -32767] * 8
    device.handle("DATA:ARB:DAC BIG," + arb_block(codes, ">i2"))   # NORMal: big-endian
    device.handle("form:bord swap;:source1:data:arbitrary:dac LITTLE," + arb_block(codes, "<i2"))
    device.handle("DATA:ARB FLOATS," + arb_block(np.array(codes) / 32767, "<f4"))
    device.handle("FUNC:ARB LITTLE;:FUNC:ARB:SRAT 1E9;:FUNC ARB")
    assert errors_of(device) == []
    assert published[-1].arb_samples == tuple(np.array(codes) / 32767)
    assert published[-1].arb_sample_rate_hz == 1e9
    device.handle("DATA:ARB:DAC SHORT," + arb_block(codes[:16], ">i2"))  # the 33600A needs 32 points
    device.handle("DATA:VOL:CLE;:FUNC:ARB BIG")
    assert [int(e.split(",")[0]) for e in errors_of(device)] == [-222, -224]
    assert published[-1].arb_samples == DEFAULT_ARB  # the built-in default plays after a clear
    device.ARB_MEMORY_POINTS = 50
    device.handle("DATA:ARB:DAC ONE," + arb_block(codes, ">i2"))
    device.handle("DATA:ARB:DAC TWO," + arb_block(codes, ">i2"))  # 64 points do not fit in 50
    assert [int(e.split(",")[0]) for e in errors_of(device)] == [-222]


def test_33600a_simulator_answers_as_a_33622a_to_the_driver(rm):
    device = SimGenerator33600a("gen", VirtualClock(), SimWiring(), np.random.default_rng(1))
    with ScpiServer(device) as server, Keysight33500B(server.address, resource_manager=rm) as gen:
        assert gen.identity.model == "33622A"
        gen.set_arb(np.linspace(-1, 1, 32), 500e6)
        assert gen.query("SYST:ERR?") == NO_ERROR[1]


def test_source_output_renders_sines_bursts_and_an_output_off():
    sine = SourceSetting("SIN", 20.0, 4.0, 1.0, True, None, 0.01, since_s=10.0)
    at = 10.0 + np.array([0.0, 0.0125, 0.025, 0.0375])
    np.testing.assert_allclose(source_output_v(sine, at), [1.0, 3.0, 1.0, -1.0], atol=1e-12)
    burst = replace(sine, burst_cycles=2, burst_period_s=1.0)
    np.testing.assert_allclose(source_output_v(burst, np.array([10.0125, 10.5, 11.0125])), [3.0, 1.0, 3.0])
    assert not source_output_v(replace(sine, output_on=False), at).any()
    dc = replace(sine, function="DC")
    np.testing.assert_allclose(source_output_v(dc, at), 1.0)
    with pytest.raises(ValueError, match="cannot render generator function 'SQU'"):
        source_output_v(replace(sine, function="SQU"), at)


# =============================================================================================
# 4. Bench faults over the wire


def test_an_unknown_query_times_out_and_names_the_queued_error(sim, rm):
    with Keysight34461A(sim.address("dmm"), resource_manager=rm, timeout_ms=200) as dmm:
        with pytest.raises(BenchFault) as fault:
            dmm.query("MEAS:RES?")  # not simulated: no reply, as on a real meter
        assert fault.value.command == "MEAS:RES?"
        assert fault.value.reason.startswith("no reply within 200 ms")
        assert '-113,"Undefined header"' in fault.value.reason
        dmm.write("CONF:VOLT:DC AUTO")  # the error was read with the timeout, not left for this


def test_a_stopped_instrument_is_a_bench_fault_naming_it(sim, rm):
    dmm = Keysight34461A(sim.address("dmm"), name="line_dmm", resource_manager=rm, timeout_ms=200)
    sim.servers["dmm"].stop()
    with pytest.raises(BenchFault) as fault:
        dmm.measure_dc_volts()
    assert (fault.value.instrument, fault.value.address) == ("line_dmm", sim.address("dmm"))
    assert fault.value.command == "CONF:VOLT:DC AUTO"
    assert "line_dmm" in str(fault.value) and sim.address("dmm") in str(fault.value)
    dmm.close()


def test_nobody_listening_is_a_bench_fault_at_open(sim, rm):
    address = sim.address("psu")
    sim.servers["psu"].stop()
    with pytest.raises(BenchFault, match="Connection refused") as fault:
        KeysightE3634A(address, resource_manager=rm, timeout_ms=200)
    assert (fault.value.instrument, fault.value.address, fault.value.command) == ("psu", address, "*IDN?")


def test_the_wrong_instrument_at_an_address_is_a_bench_fault(sim, rm):
    with pytest.raises(BenchFault, match=r"answers as Agilent Technologies E3634A.*expected model"):
        Keysight34461A(sim.address("psu"), resource_manager=rm)


def test_a_malformed_address_is_a_bench_fault():
    with pytest.raises(BenchFault, match="cannot open") as fault:
        Keysight34461A("TCPIP::127.0.0.1::notaport::SOCKET")
    assert fault.value.command == "open"
