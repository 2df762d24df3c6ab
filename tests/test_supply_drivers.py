"""Multi-output DC supplies (Rigol DP832, Keysight E36312A): the drivers' exact command traffic,
the simulators' command trees, and the drivers against the simulators through pyvisa-py over
loopback TCP, with small hand-made loads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pyvisa
from scpi_replay import NO_ERROR, AnsweringResource, ReplayResource

from instruments.errors import BenchFault
from instruments.keysight_e36312a import KeysightE36312A
from instruments.rigol_dp832 import RigolDP832
from instruments.sim.clock import VirtualClock
from instruments.sim.scpi_server import ScpiDevice, ScpiServer
from instruments.sim.supplies import SimSupplyDp832, SimSupplyE36312a, limit_current
from instruments.sim.terminals import SimWiring, SupplySetting

DP832_IDN = "RIGOL TECHNOLOGIES,DP832,DP8C180400001,00.01.16"
E36312A_IDN = "Keysight Technologies,E36312A,MY59001234,2.1.3-1.0.4-1.12"
ADDRESS = "TCPIP::192.0.2.20::5555::SOCKET"  # never opened: the replay resource stands in


def errors_of(device: ScpiDevice) -> list[int]:
    """The numbers of the queued errors, oldest first; empties the queue."""
    codes = []
    while (entry := device.handle("SYST:ERR?")) != NO_ERROR[1]:
        codes.append(int(entry.split(",")[0]))
    return codes


# =============================================================================================
# 1. The drivers' command traffic, replayed against the programming guides


def test_dp832_output_2_replay():
    resource = ReplayResource([
        ("*IDN?", DP832_IDN), ("*CLS", None),
        (":OUTP:OVP:VAL CH2,13", None), NO_ERROR,
        (":OUTP:OVP CH2,ON", None), NO_ERROR,
        (":OUTP:OVP:QUES? CH2", "NO"),
        (":SOUR2:VOLT 12", None), NO_ERROR,
        (":OUTP:OVP:QUES? CH2", "NO"),
        (":SOUR2:CURR 0.5", None), NO_ERROR,
        (":OUTP CH2,ON", None), NO_ERROR,
        (":OUTP:OVP:QUES? CH2", "NO"),
        (":MEAS:VOLT? CH2", "11.9990"),
        (":MEAS:CURR? CH2", "0.2500"),
        (":OUTP:MODE? CH2", "CV"),
        (":OUTP:OVP CH2,OFF", None), NO_ERROR,
        (":OUTP:OVP:CLEAR CH2", None), NO_ERROR,
        (":OUTP CH2,OFF", None), NO_ERROR,
    ])
    psu = RigolDP832(ADDRESS, channel=2, resource=resource)
    assert (psu.identity.maker, psu.identity.model, psu.name) == ("RIGOL TECHNOLOGIES", "DP832", "psu")
    psu.set_overvoltage_protection(13)
    psu.set_voltage(12)
    psu.set_current_limit(0.5)
    psu.set_output(True)
    assert (psu.measure_voltage(), psu.measure_current(), psu.regulation_mode()) == (11.999, 0.25, "CV")
    psu.disable_overvoltage_protection()
    psu.clear_protection()
    psu.set_output(False)
    resource.assert_done()


def test_e36312a_output_3_replay():
    resource = ReplayResource([
        ("*IDN?", E36312A_IDN), ("*CLS", None),
        ("VOLT:PROT 26,(@3)", None), NO_ERROR,        # always on: no state command
        ("VOLT:PROT:TRIP? (@3)", "0"),
        ("VOLT 24,(@3)", None), NO_ERROR,
        ("VOLT:PROT:TRIP? (@3)", "0"),
        ("CURR 0.1,(@3)", None), NO_ERROR,
        ("OUTP ON,(@3)", None), NO_ERROR,
        ("VOLT:PROT:TRIP? (@3)", "0"),
        ("MEAS:VOLT? (@3)", "+2.39990000E+01"),
        ("MEAS:CURR? (@3)", "+2.50000000E-02"),
        ("VOLT:PROT:TRIP? (@3)", "1"),
        ("OUTP:PROT:CLE (@3)", None), NO_ERROR,
    ])
    psu = KeysightE36312A(ADDRESS, "battery", channel=3, resource=resource)
    psu.set_overvoltage_protection(26)
    psu.set_voltage(24)
    psu.set_current_limit(0.1)
    psu.set_output(True)
    assert (psu.measure_voltage(), psu.measure_current()) == (23.999, 0.025)
    assert psu.protection_tripped()
    psu.clear_protection()
    resource.assert_done()


@pytest.mark.parametrize("driver, idn, reply, command", [
    (RigolDP832, DP832_IDN, "YES", ":SOUR1:VOLT 5"),
    (KeysightE36312A, E36312A_IDN, "1", "VOLT 5,(@1)"),
])
def test_a_trip_after_a_change_is_a_bench_fault_naming_the_command(driver, idn, reply, command):
    query = ":OUTP:OVP:QUES? CH1" if driver is RigolDP832 else "VOLT:PROT:TRIP? (@1)"
    resource = ReplayResource([("*IDN?", idn), ("*CLS", None), (command, None), NO_ERROR, (query, reply)])
    psu = driver(ADDRESS, resource=resource)
    with pytest.raises(BenchFault, match="over-voltage protection of output 1 tripped; the output is off") as fault:
        psu.set_voltage(5)
    assert (fault.value.instrument, fault.value.command) == ("psu", command)
    resource.assert_done()


@pytest.mark.parametrize("driver, idn, kwargs, act, message", [
    (RigolDP832, DP832_IDN, {"channel": 4}, None, r"channel must be one of \(1, 2, 3\), got 4"),
    (KeysightE36312A, E36312A_IDN, {"channel": 0}, None, r"channel must be one of \(1, 2, 3\), got 0"),
    (RigolDP832, DP832_IDN, {"channel": 3}, lambda psu: psu.set_voltage(12),
     "volts must be 0..5.3 on this output, got 12"),
    (RigolDP832, DP832_IDN, {}, lambda psu: psu.set_voltage(-1), "volts must be 0..32"),
    (RigolDP832, DP832_IDN, {}, lambda psu: psu.set_current_limit(math.nan),
     "amps must be 0..3.2 on this output, got nan"),
    (RigolDP832, DP832_IDN, {}, lambda psu: psu.set_overvoltage_protection(40), "volts must be 0.01..33"),
    (KeysightE36312A, E36312A_IDN, {}, lambda psu: psu.set_voltage(12), "volts must be 0..6.18 on this output"),
    (KeysightE36312A, E36312A_IDN, {"channel": 2}, lambda psu: psu.set_current_limit(2), "amps must be 0..1.03"),
    (KeysightE36312A, E36312A_IDN, {"channel": 2}, lambda psu: psu.set_overvoltage_protection(30),
     "volts must be 0.5..27.5"),
    (KeysightE36312A, E36312A_IDN, {}, lambda psu: psu.disable_overvoltage_protection(),
     "the E36312A's over-voltage protection is always on; set its level to 6.6 V instead"),
])
def test_bad_input_is_a_one_line_value_error_and_nothing_is_sent(driver, idn, kwargs, act, message):
    resource = AnsweringResource(idn, other_reply="0")
    with pytest.raises(ValueError, match=message) as error:
        psu = driver(ADDRESS, resource=resource, **kwargs)
        resource.sent.clear()
        act(psu)
    assert "\n" not in str(error.value)
    assert resource.sent == []


def test_another_supply_at_the_address_is_a_bench_fault():
    with pytest.raises(BenchFault, match=r"answers as .*E36312A.*, expected model DP832 or DP832A"):
        RigolDP832(ADDRESS, resource=ReplayResource([("*IDN?", E36312A_IDN)]))


# =============================================================================================
# 2. The simulators' command trees


def dp832(wiring: SimWiring | None = None, seed: int = 1) -> SimSupplyDp832:
    return SimSupplyDp832("psu", VirtualClock(), wiring or SimWiring(), np.random.default_rng(seed))


def e36312a(wiring: SimWiring | None = None, seed: int = 1) -> SimSupplyE36312a:
    return SimSupplyE36312a("psu", VirtualClock(), wiring or SimWiring(), np.random.default_rng(seed))


def test_dp832_answers_short_and_long_forms_in_any_case_and_chains():
    device = dp832()
    assert device.handle("*IDN?") == DP832_IDN
    device.handle(":SOURCE2:VOLTAGE:LEVEL:IMMEDIATE:AMPLITUDE 5;:sour2:curr 1.5")
    device.handle(":outp ch2,on;:OUTPut:OVP:VALue CH2,6;:OUTP:OVP:STAT CH2,ON")
    assert device.handle(":SOUR2:VOLT?;:SOUR2:CURR?;:OUTP? CH2;:OUTPUT:STATE? CH1;:OUTP:OVP:VAL? CH2") == \
        "5.0000;1.5000;ON;OFF;6.0000"
    state, ovp, volts = device.handle(":INST:NSEL 2;:OUTP?;:OUTP:OVP?;:MEAS?").split(";")  # the selected output
    assert (state, ovp, float(volts)) == ("ON", "ON", pytest.approx(5.0, abs=0.02))
    assert device.handle("*OPC?") == "1"
    assert errors_of(device) == []
    device.handle("*RST")
    assert device.handle(":OUTP? CH2;:SOUR2:VOLT?;:OUTP:OVP? CH2;:OUTP:OVP:VAL? CH3") == "OFF;0.0000;OFF;5.5000"


@pytest.mark.parametrize("command, code", [
    (":SOUR1:VOLT 33", -222),
    (":SOUR3:VOLT 5.5", -222),          # CH3 is the 5 V output
    (":SOUR1:CURR 4", -222),
    (":OUTP:OVP:VAL CH3,6", -222),
    (":OUTP CH4,ON", -224),
    (":OUTP CH1,MAYBE", -224),
    (":SOUR4:VOLT 1", -114),
    (":OUTP:OVP:FOO CH1", -113),
    (":OUTP CH1", -224),                # a channel is no state
    (":MEAS:VOLT? CH1,CH2", -108),
])
def test_dp832_refuses_what_the_supply_refuses(command, code):
    device = dp832()
    device.handle(command)
    assert errors_of(device) == [code]
    assert not any(out.output_on for out in device.outputs.values())


def test_e36312a_takes_channel_lists_and_answers_each_output():
    device = e36312a()
    device.handle("VOLT 5,(@1,2);:CURR 0.5,(@1:3);:VOLTAGE:LEVEL 12, (@3)")
    device.handle("output:state on,(@2:3)")
    assert device.handle("VOLT? (@1:3);:CURR? (@2);:OUTP? (@1,2,3)") == \
        "+5.00000000E+00,+5.00000000E+00,+1.20000000E+01;+5.00000000E-01;0,1,1"
    assert device.handle("INST:NSEL 3;:VOLT?;:MEAS:VOLT?").split(";")[0] == "+1.20000000E+01"
    assert device.handle("VOLT:PROT? (@1,2)") == "+6.60000000E+00,+2.75000000E+01"  # *RST: the highest
    assert errors_of(device) == []


@pytest.mark.parametrize("command, code", [
    ("VOLT 7,(@1)", -222),
    ("VOLT 26,(@2)", -222),
    ("CURR 1.5,(@3)", -222),
    ("VOLT:PROT 30,(@2)", -222),
    ("VOLT 1,(@4)", -222),
    ("VOLT 1,(@1;2)", -104),
    ("VOLT 1,(@x)", -104),
    ("VOLT:PROT:STAT OFF,(@1)", -113),    # the E36300's protection has no state
    ("OUTP ON,OFF,(@1)", -108),
    ("MEAS:VOLT? 5,(@1)", -108),
])
def test_e36312a_refuses_what_the_supply_refuses(command, code):
    device = e36312a()
    device.handle(command)
    assert errors_of(device) == [code]


def test_limit_current_takes_a_load_that_draws_too_much_as_resistive():
    assert limit_current(12.0, 0.12, 0.5) == (12.0, 0.12)
    assert limit_current(12.0, 1.2, 0.5) == pytest.approx((5.0, 0.5))
    assert limit_current(-48.0, -0.1, 0.05) == pytest.approx((-24.0, -0.05))


# =============================================================================================
# 3. Drivers against their simulators, through pyvisa-py over loopback TCP


class Resistor:
    """A resistive load that knows nothing of current limits (the supply must apply them)."""

    def __init__(self, ohms: float):
        self.ohms = ohms
        self.settings: list[SupplySetting] = []

    def supply_changed(self, setting: SupplySetting) -> None:
        self.settings.append(setting)

    def supply_operating_point(self) -> tuple[float, float]:
        setting = self.settings[-1]
        if not setting.output_on:
            return 0.0, 0.0
        return setting.voltage_v, setting.voltage_v / self.ohms


class BackFeed:
    """A load holding its terminals at `volts` whatever the supply does (a charged line, a
    battery): it can push the output above the protection level."""

    def __init__(self, volts: float):
        self.volts = volts

    def supply_changed(self, setting: SupplySetting) -> None:
        pass

    def supply_operating_point(self) -> tuple[float, float]:
        return self.volts, 0.0


@pytest.fixture(scope="module")
def rm():
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


SUPPLIES = [
    # driver, simulator, output, volts, OVP level, readback volts / amps tolerance (within spec)
    pytest.param(RigolDP832, SimSupplyDp832, 2, 12.0, 13.0, 0.02, 0.01, id="DP832"),
    pytest.param(KeysightE36312A, SimSupplyE36312a, 3, 12.0, 13.0, 0.02, 0.002, id="E36312A"),
]


def serve(simulator, wiring: SimWiring, seed: int = 3) -> ScpiServer:
    return ScpiServer(simulator("psu", VirtualClock(), wiring, np.random.default_rng(seed))).start()


@pytest.mark.parametrize("driver, simulator, output, volts, ovp_v, tol_v, tol_a", SUPPLIES)
def test_supply_holds_voltage_then_current_at_the_limit(rm, driver, simulator, output, volts, ovp_v, tol_v, tol_a):
    load, other = Resistor(100.0), Resistor(100.0)
    wiring = SimWiring(supply_outputs={f"psu:{output}": load, "psu:1": other})
    server = serve(simulator, wiring)
    try:
        with driver(server.address, channel=output, resource_manager=rm) as psu:
            psu.set_voltage(volts)
            psu.set_current_limit(0.5)
            psu.set_output(True)
            assert load.settings[-1] == SupplySetting(voltage_v=volts, current_limit_a=0.5, output_on=True)
            # CV: 12 V across 100 ohm.
            assert psu.measure_voltage() == pytest.approx(volts, abs=tol_v)
            assert psu.measure_current() == pytest.approx(volts / 100.0, abs=tol_a)
            # CC: 10 ohm would draw 1.2 A; the supply holds 0.5 A, so 5 V.
            load.ohms = 10.0
            assert psu.measure_current() == pytest.approx(0.5, abs=tol_a)
            assert psu.measure_voltage() == pytest.approx(5.0, abs=tol_v)
            if driver is RigolDP832:
                assert psu.regulation_mode() == "CC"
            psu.set_output(False)
            assert psu.measure_voltage() == pytest.approx(0.0, abs=tol_v)
            assert psu.measure_current() == pytest.approx(0.0, abs=tol_a)
    finally:
        server.stop()
    assert other.settings == [SupplySetting(voltage_v=0.0, current_limit_a=other.settings[0].current_limit_a)]


@pytest.mark.parametrize("driver, simulator, output, volts, ovp_v, tol_v, tol_a", SUPPLIES)
def test_protection_trips_on_the_set_point_and_latches_until_cleared(rm, driver, simulator, output, volts,
                                                                     ovp_v, tol_v, tol_a):
    load = Resistor(1000.0)
    server = serve(simulator, SimWiring(supply_outputs={f"psu:{output}": load}))
    try:
        with driver(server.address, channel=output, resource_manager=rm) as psu:
            psu.set_overvoltage_protection(ovp_v)
            psu.set_voltage(volts)
            psu.set_output(True)
            assert not psu.protection_tripped()
            with pytest.raises(BenchFault, match="tripped; the output is off") as fault:
                psu.set_voltage(ovp_v + 1.0)
            assert fault.value.command == driver.COMMANDS.voltage.format(ch=output, value=f"{ovp_v + 1.0:g}")
            assert psu.protection_tripped() and not load.settings[-1].output_on
            with pytest.raises(BenchFault, match="tripped"):
                psu.set_output(True)  # a tripped output stays off
            with pytest.raises(BenchFault, match="tripped"):
                psu.set_voltage(volts)  # lowered, but latched off until cleared
            psu.clear_protection()
            assert not psu.protection_tripped()
            # The Rigol leaves the output off after a clear; the Keysight restores it.
            assert load.settings[-1].output_on is (driver is KeysightE36312A)
            psu.set_output(True)
            assert psu.measure_voltage() == pytest.approx(volts, abs=tol_v)
    finally:
        server.stop()


@pytest.mark.parametrize("driver, simulator, output, volts, ovp_v, tol_v, tol_a", SUPPLIES)
def test_protection_trips_on_the_measured_voltage(rm, driver, simulator, output, volts, ovp_v, tol_v, tol_a):
    line = BackFeed(volts)
    server = serve(simulator, SimWiring(supply_outputs={f"psu:{output}": line}))
    try:
        with driver(server.address, channel=output, resource_manager=rm) as psu:
            psu.set_overvoltage_protection(ovp_v)
            psu.set_voltage(volts)
            psu.set_output(True)
            assert psu.measure_voltage() == pytest.approx(volts, abs=tol_v)
            line.volts = ovp_v + 2.0  # the load drives the terminals above the level
            assert psu.protection_tripped()
    finally:
        server.stop()


def test_dp832_protection_off_lets_the_voltage_pass_the_level(rm):
    load = Resistor(1000.0)
    server = serve(SimSupplyDp832, SimWiring(supply_outputs={"psu:1": load}))
    try:
        with RigolDP832(server.address, resource_manager=rm) as psu:
            psu.set_overvoltage_protection(13.0)
            psu.disable_overvoltage_protection()
            psu.set_voltage(20.0)
            psu.set_output(True)
            assert not psu.protection_tripped() and load.settings[-1].output_on
    finally:
        server.stop()


@pytest.mark.parametrize("simulator, output, spec_v, spec_a", [
    (SimSupplyDp832, 1, 0.0005 * 24 + 0.010, 0.0015 * 0.24 + 0.005),
    (SimSupplyE36312a, 2, 0.0004 * 24 + 0.010, 0.001 * 0.24 + 0.001),
])
def test_readback_is_within_the_data_sheet_accuracy_and_seeded(rm, simulator, output, spec_v, spec_a):
    def readings(seed: int) -> list[str]:
        load = Resistor(100.0)
        server = serve(simulator, SimWiring(supply_outputs={f"psu:{output}": load}), seed)
        try:
            session = rm.open_resource(server.address, read_termination="\n", write_termination="\n")
            if simulator is SimSupplyDp832:
                session.write(f":SOUR{output}:VOLT 24;:OUTP CH{output},ON")
                replies = [session.query(f":MEAS:ALL? CH{output}") for _ in range(8)]
            else:
                session.write(f"VOLT 24,(@{output});:OUTP ON,(@{output})")
                replies = [session.query(f"MEAS:VOLT? (@{output});:MEAS:CURR? (@{output})") for _ in range(8)]
            session.close()
            return replies
        finally:
            server.stop()

    first = readings(seed=5)
    volts = np.array([float(r.replace(";", ",").split(",")[0]) for r in first])
    amps = np.array([float(r.replace(";", ",").split(",")[1]) for r in first])
    assert np.all(np.abs(volts - 24.0) <= spec_v) and np.all(np.abs(amps - 0.24) <= spec_a)
    assert volts.std() > 0  # the last digit moves
    assert readings(seed=5) == first
    assert readings(seed=6) != first
