"""Bench faults: a simulated instrument told to misbehave (the bench file's simulation.faults) is
reported as a bench fault naming the instrument, its address and the command, apart from a DUT
failing its limits; the harness restores the safe state and never turns a fault into a pass.

The plan-level tests run `pytest testplans` the way a user does, with a small probe plugin that
records what is live on the simulated jig (JigMonitor: relay coils, generator and supply outputs,
seen from the jig's side of the wiring, not through the drivers) when each test's call ends and
after its teardown.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import pyvisa
import yaml
from pyvisa.constants import StatusCode

from harness.fixture import FixtureError, load_bench
from harness.simbench import SimulatedBench
from instruments.errors import BenchFault
from instruments.keysight_e3634a import KeysightE3634A
from instruments.labjack_t7 import LabJackT7
from instruments.protocols import AnalogInput
from instruments.sim.clock import VirtualClock
from instruments.sim.scpi_instruments import SimSupplyE3634a
from instruments.sim.scpi_server import (Call, ConnectionDropped, InstrumentStalled, ScpiDevice, ScpiFault,
                                         ScpiServer, format_reading, parse_bool)
from instruments.sim.terminals import SimWiring

ROOT = Path(__file__).resolve().parent.parent
SIM = yaml.safe_load((ROOT / "fixtures" / "sim.yaml").read_text())
SCPI_ADDRESS = r"TCPIP::127\.0\.0\.1::\d+::SOCKET"
NO_ERROR = '+0,"No error"'

# =============================================================================================
# 1. Injection in the SCPI simulator


class Outputs(ScpiDevice):
    """Two switched outputs and a counting voltmeter: enough to inject faults into."""

    def __init__(self):
        super().__init__("Tipring,FAULTY1,0001,1.0")
        self.outputs = {1: False, 2: False}
        self.readings = 0
        self.command("OUTPut#[:STATe]", self._set_output)
        self.command("MEASure:VOLTage[:DC]?", self._measure)

    def _set_output(self, call: Call) -> None:
        self.outputs[call.suffixes[0]] = parse_bool(call.one())

    def _measure(self, call: Call) -> str:
        call.none()
        self.readings += 1
        return format_reading(self.readings)


def queued(device: ScpiDevice) -> list[str]:
    errors = []
    while (entry := device.handle("SYST:ERR?")) != NO_ERROR:
        errors.append(entry)
    return errors


def test_a_stall_strikes_the_matching_query_after_those_that_pass_and_only_once():
    device = Outputs()
    device.inject(ScpiFault("stall", "meas:volt?", after=2))
    assert device.handle("MEAS:VOLT?") == format_reading(1)
    assert device.handle("MEASure:VOLTage:DC?") == format_reading(2)  # long form, optional node: same query
    with pytest.raises(InstrumentStalled):
        device.handle("OUTP ON;MEAS:VOLT?")
    assert device.outputs[1] and device.readings == 2  # done before the stall; the stalled query is not
    assert device.handle("MEAS:VOLT?") == format_reading(3)
    assert queued(device) == []


def test_repeat_strikes_every_later_match_and_suffixes_tell_commands_apart():
    device = Outputs()
    device.inject(ScpiFault("queue_error", "OUTP", error=-221, repeat=True))
    for command in ("OUTP1 ON", "outp on", "OUTP2 ON", ":OUTPut1:STATe ON"):
        assert device.handle(command) is None
    assert device.outputs == {1: False, 2: True}  # OUTP is OUTP1; refused commands change nothing
    assert queued(device) == ['-221,"Settings conflict;injected fault"'] * 3


@pytest.mark.parametrize("error,reply", [(-113, None), (-221, format_reading(1))])
def test_an_injected_error_ends_the_message_only_when_it_is_a_command_error(error, reply):
    device = Outputs()
    device.inject(ScpiFault("queue_error", "OUTP", error=error))
    assert device.handle("OUTP ON;MEAS:VOLT?") == reply
    assert len(queued(device)) == 1


def test_a_dropped_connection_is_raised_before_the_command_runs():
    device = Outputs()
    device.inject(ScpiFault("drop_connection", "OUTP2", after=1))
    device.handle("OUTP2 ON")
    with pytest.raises(ConnectionDropped):
        device.handle("OUTP1 ON;OUTP2 OFF;OUTP1 OFF")
    assert device.outputs == {1: True, 2: True}  # before the drop: done; the dropped one and after: not


@pytest.mark.parametrize("make,message", [
    (lambda: Outputs().inject(ScpiFault("stall", "MEAS:CURR?")), "'MEAS:CURR?' is not a command this instrument knows"),
    (lambda: Outputs().inject(ScpiFault("queue_error", "OUTP ON")), "'OUTP ON': give the header alone, without parameters"),
    (lambda: ScpiFault("stall", "OUTP"), "on: a stall needs a query (a header ending in '?'); 'OUTP' has no reply to withhold"),
    (lambda: ScpiFault("queue_error", "OUTP", error=-999), "error: -999 is not an error the simulators queue; use one of -104,"),
    (lambda: ScpiFault("hang", "OUTP"), "kind: unknown fault 'hang'; known: stall, drop_connection, queue_error"),
    (lambda: ScpiFault("stall", " "), "on: no header given for the fault to fire on"),
], ids=["unknown header", "parameters", "stall on a command", "unknown error", "unknown kind", "empty header"])
def test_a_fault_that_cannot_happen_is_refused_in_one_line(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert str(err.value).startswith(message)


def open_session(server: ScpiServer, timeout_ms: int = 300):
    return pyvisa.ResourceManager("@py").open_resource(server.address, read_termination="\n",
                                                       write_termination="\n", timeout=timeout_ms)


def test_over_tcp_a_stalled_query_times_out_and_the_next_query_gets_its_own_reply():
    device = Outputs()
    device.inject(ScpiFault("stall", "MEAS:VOLT?"))
    with ScpiServer(device) as server:
        session = open_session(server)
        try:
            with pytest.raises(pyvisa.errors.VisaIOError) as err:
                session.query("MEAS:VOLT?")
            assert err.value.error_code == StatusCode.error_timeout
            assert session.query("*IDN?") == device.identity  # no late reply in the way
            assert session.query("MEAS:VOLT?") == format_reading(1)
        finally:
            session.close()


def test_over_tcp_a_dropped_connection_is_reset_and_the_instrument_takes_a_new_one():
    device = Outputs()
    device.inject(ScpiFault("drop_connection", "OUTP"))
    with ScpiServer(device) as server:
        first = open_session(server, timeout_ms=2000)
        try:
            first.write("OUTP ON")
            with pytest.raises(ConnectionError):  # reset at once, not a 2 s timeout
                first.query("*IDN?")
        finally:
            first.close()
        assert device.outputs[1] is False  # the command was lost with the connection
        second = open_session(server)
        try:
            second.write("OUTP ON")
            assert second.query("SYST:ERR?") == NO_ERROR
        finally:
            second.close()
    assert device.outputs[1] is True


@pytest.mark.parametrize("fault,operation,reason", [
    (ScpiFault("queue_error", "VOLT", error=-222), lambda psu: psu.set_voltage(48),
     r"'VOLT 48': instrument error -222,\"Data out of range;injected fault\""),
    (ScpiFault("stall", "MEAS:VOLT?"), lambda psu: psu.measure_voltage(),
     r"'MEAS:VOLT\?': no reply within 300 ms \(VISA timeout\)"),
    (ScpiFault("drop_connection", "OUTP"), lambda psu: psu.set_output(True),
     r"'OUTP ON': connection failed: (Connection reset by peer|Broken pipe)"),
], ids=["queue_error", "stall", "drop_connection"])
def test_the_driver_reports_each_fault_naming_instrument_address_and_command(fault, operation, reason):
    device = SimSupplyE3634a("psu", VirtualClock(), SimWiring(), np.random.default_rng(1))
    device.inject(fault)
    with ScpiServer(device) as server:
        with KeysightE3634A(server.address, "psu", timeout_ms=300) as psu:
            with pytest.raises(BenchFault) as err:
                operation(psu)
    assert re.fullmatch(rf"bench fault: psu at {re.escape(server.address)}: {reason}", str(err.value)), str(err.value)
    assert not device.output_on and device.voltage_v == 0.0  # a faulted command does not take effect


# =============================================================================================
# 2. The bench file


def bench_with_faults(tmp_path: Path, faults: list[dict], timeouts_ms: dict[str, int] | None = None,
                      defects: dict[str, dict] | None = None) -> Path:
    bench = json.loads(json.dumps(SIM, default=str))  # a deep copy; dates as text
    bench["simulation"]["faults"] = faults
    bench["simulation"]["ports"].update(defects or {})
    for name, timeout_ms in (timeouts_ms or {}).items():
        bench["instruments"][name]["timeout_ms"] = timeout_ms
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    return path


GOOD = {"instrument": "dmm", "fault": "stall", "on": "READ?", "after": 2}

# (case, the second fault entry, the one line after "<file>: ")
BAD_FAULTS = [
    ("undeclared instrument", {"instrument": "dmm2", "fault": "stall", "on": "READ?"},
     "simulation.faults[1].instrument: no instrument 'dmm2' in instruments"),
    ("unknown fault", {"instrument": "dmm", "fault": "hang", "on": "READ?"},
     "simulation.faults[1].fault: Input should be 'stall', 'drop_connection', 'queue_error' or 'stream_overflow'"),
    ("missing on", {"instrument": "gen", "fault": "drop_connection"},
     "simulation.faults[1].on: missing (the command drop_connection fires on, e.g. READ?)"),
    ("unknown command", {"instrument": "dmm", "fault": "stall", "on": "REED?"},
     "simulation.faults[1].on: 'REED?' is not a command this instrument knows (simulated keysight_34461a)"),
    ("command of another instrument", {"instrument": "gen", "fault": "queue_error", "on": "READ?"},
     "simulation.faults[1].on: 'READ?' is not a command this instrument knows (simulated keysight_33500b)"),
    ("parameters in on", {"instrument": "gen", "fault": "drop_connection", "on": "OUTP ON"},
     "simulation.faults[1].on: 'OUTP ON': give the header alone, without parameters (simulated keysight_33500b)"),
    ("stall on a command", {"instrument": "psu", "fault": "stall", "on": "OUTP"},
     "simulation.faults[1].on: a stall needs a query (a header ending in '?'); 'OUTP' has no reply to withhold"),
    ("overflow on a meter", {"instrument": "dmm", "fault": "stream_overflow", "after_s": 1},
     "simulation.faults[1].fault: stream_overflow is a LabJack T7 fault; 'dmm' is a keysight_34461a"),
    ("SCPI fault on the T7", {"instrument": "daq", "fault": "stall", "on": "READ?"},
     "simulation.faults[1].fault: stall is a fault of an SCPI instrument; 'daq' is a labjack_t7 (its fault is stream_overflow)"),
    ("unknown error number", {"instrument": "psu", "fault": "queue_error", "on": "VOLT", "error": -999},
     "simulation.faults[1].error: -999 is not an error the simulators queue; use one of -104, -108, -109, -113, "
     "-114, -160, -161, -221, -222, -224, -300, -350"),
    ("error on a stall", {"instrument": "dmm", "fault": "stall", "on": "READ?", "error": -222},
     "simulation.faults[1].error: not used by stall (it takes after, on, repeat)"),
    ("after_s on an SCPI fault", {"instrument": "dmm", "fault": "stall", "on": "READ?", "after_s": 1.0},
     "simulation.faults[1].after_s: not used by stall (it takes after, on, repeat)"),
    ("on for the T7", {"instrument": "daq", "fault": "stream_overflow", "on": "eStreamRead"},
     "simulation.faults[1].on: not used by stream_overflow (it takes after_s)"),
    ("negative after", {"instrument": "dmm", "fault": "stall", "on": "READ?", "after": -1},
     "simulation.faults[1].after: Input should be greater than or equal to 0"),
    ("unknown key", {"instrument": "dmm", "fault": "stall", "on": "READ?", "times": 3},
     "simulation.faults[1].times: unknown key"),
]


@pytest.mark.parametrize("case,fault,expected", BAD_FAULTS, ids=[c[0] for c in BAD_FAULTS])
def test_a_bad_fault_entry_is_one_line_naming_file_and_field(tmp_path, case, fault, expected):
    path = bench_with_faults(tmp_path, [GOOD, fault])
    with pytest.raises(FixtureError) as err:
        load_bench(path)
    assert str(err.value) == f"{path}: {expected}"


def test_fault_entries_load_with_their_defaults(tmp_path):
    path = bench_with_faults(tmp_path, [GOOD, {"instrument": "psu", "fault": "queue_error", "on": "volt"},
                                        {"instrument": "daq", "fault": "stream_overflow", "after_s": 2.0}])
    faults = load_bench(path).simulation.faults
    assert [(f.instrument, f.fault, f.on, f.after, f.repeat, f.error, f.after_s) for f in faults] == [
        ("dmm", "stall", "READ?", 2, False, -300, 0.0), ("psu", "queue_error", "volt", 0, False, -300, 0.0),
        ("daq", "stream_overflow", None, 0, False, -300, 2.0)]


# =============================================================================================
# 3. The test plans on a misbehaving bench

PROBE = '''
"""Records what is live on the simulated jig when each test's call ends and after its teardown."""
import json
import os

import pytest

_seen = {}


@pytest.fixture(autouse=True)
def _jig_probe(bench):
    _seen["bench"] = bench


def pytest_runtest_makereport(item, call):
    if call.when in ("call", "teardown") and "bench" in _seen:
        with open(os.environ["TIPRING_JIG_LOG"], "a") as log:
            live = _seen["bench"].simulation.live()
            log.write(json.dumps([item.name.split("[")[0], call.when, live]) + "\\n")
'''


@dataclass
class PlanRun:
    stdout: str
    junit: dict[str, list[tuple[str, str]]]  # test -> [("failure", message) | ("error", message + text)]; [] passed
    allure: dict[str, tuple[str, str]]  # test -> (status, message)
    jig: dict[tuple[str, str], list[str]]  # (test, "call" | "teardown") -> what was live

    def passed(self) -> list[str]:
        return [test for test, problems in self.junit.items() if not problems]


def run_plans(tmp_path: Path, faults: list[dict], select: str, timeouts_ms: dict[str, int] | None = None,
              defects: dict[str, dict] | None = None) -> PlanRun:
    bench = bench_with_faults(tmp_path, faults, timeouts_ms, defects)
    (tmp_path / "jig_probe.py").write_text(PROBE)
    junit, allure_dir, jig_log = tmp_path / "junit.xml", tmp_path / "allure", tmp_path / "jig.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "TIPRING_JIG_LOG": str(jig_log)}
    done = subprocess.run([sys.executable, "-m", "pytest", "testplans", "--bench", str(bench), "-k", select,
                           "-p", "jig_probe", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}",
                           f"--alluredir={allure_dir}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert junit.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    outcomes: dict[str, list[tuple[str, str]]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):  # a teardown error is a testcase of its own
        assert case.find("skipped") is None, ET.tostring(case)[:500]
        outcomes.setdefault(case.get("name").split("[")[0], []).extend(
            (bad.tag, (bad.get("message") or "") if bad.tag == "failure" else f"{bad.get('message')}\n{bad.text}")
            for bad in case if bad.tag in ("failure", "error"))
    reports = {}
    for result in allure_dir.glob("*-result.json"):
        data = json.loads(result.read_text())
        reports[data["name"].split("[")[0]] = (data["status"], data.get("statusDetails", {}).get("message", ""))
    jig = {}
    for line in jig_log.read_text().splitlines() if jig_log.exists() else []:
        test, when, live = json.loads(line)
        jig[(test, when)] = live
    return PlanRun(done.stdout, outcomes, reports, jig)


ANSWERS = "test_answers_after_configured_rings"
IGNORES = "test_ignores_ringing_below_must_ignore"
DIAL_TONE = "test_dial_tone"
RING_VOLTAGE = "test_ring_voltage"
BATTERY_ON = ["supply psu:1 output on"]


def assert_bench_fault(run: PlanRun, test: str, pattern: str) -> None:
    """The test's call is a bench fault matching `pattern` in JUnit and 'broken' in Allure."""
    call = run.junit[test][0]
    assert call[0] == "failure" and re.fullmatch(pattern, call[1]), run.junit[test]
    status, message = run.allure[test]
    assert status == "broken" and re.fullmatch("instruments.errors.BenchFault: " + pattern, message), (status, message)


def test_a_query_stalling_while_the_battery_is_on(tmp_path):
    # VOLT:PROT:TRIP? is asked after VOLT 48 and again after OUTP ON: the second one stalls.
    run = run_plans(tmp_path, [{"instrument": "psu", "fault": "stall", "on": "VOLT:PROT:TRIP?", "after": 1}],
                    f"{ANSWERS} or {DIAL_TONE}", timeouts_ms={"psu": 1000})
    assert_bench_fault(run, ANSWERS, rf"bench fault: psu at {SCPI_ADDRESS}: 'VOLT:PROT:TRIP\?': "
                                     r"no reply within 1000 ms \(VISA timeout\)")
    assert run.jig[(ANSWERS, "call")] == BATTERY_ON  # live when the fault struck
    assert run.jig[(ANSWERS, "teardown")] == []
    assert run.passed() == [DIAL_TONE] and run.jig[(DIAL_TONE, "teardown")] == []
    assert "tipring: safe state restored" in run.stdout


def test_a_queued_error_is_a_bench_fault_in_every_test_it_strikes_apart_from_a_dut_failure(tmp_path):
    run = run_plans(tmp_path, [{"instrument": "gen", "fault": "queue_error", "on": "FREQ", "error": -222,
                                "repeat": True}], f"{ANSWERS} or {IGNORES} or {DIAL_TONE} or {RING_VOLTAGE}",
                    defects={"fxs1": {"ring_vrms": 30.0}})
    for test in (ANSWERS, IGNORES):
        assert_bench_fault(run, test, rf"bench fault: gen at {SCPI_ADDRESS}: 'SOUR1:FREQ 20': "
                                      r"instrument error -222,\"Data out of range;injected fault\"")
        assert run.jig[(test, "call")] == BATTERY_ON
        assert run.jig[(test, "teardown")] == []
    [(tag, message)] = run.junit[RING_VOLTAGE]  # the DUT's own failure: failed, not broken
    assert tag == "failure" and "ring_vrms = " in message and "bench fault" not in message
    assert run.allure[RING_VOLTAGE][0] == "failed"
    assert run.passed() == [DIAL_TONE]
    assert "tipring: safe state restored" in run.stdout


def test_a_dropped_connection_is_a_bench_fault_and_the_safe_state_reconnects_to_switch_off(tmp_path):
    run = run_plans(tmp_path, [{"instrument": "gen", "fault": "drop_connection", "on": "FREQ"}],
                    f"{ANSWERS} or {IGNORES} or {DIAL_TONE}")
    refused = r"connection failed: (Connection reset by peer|Broken pipe)"
    assert_bench_fault(run, ANSWERS, rf"bench fault: gen at {SCPI_ADDRESS}: 'SOUR1:FREQ 20': {refused}")
    for test in (ANSWERS, IGNORES, DIAL_TONE):
        assert run.jig[(test, "teardown")] == []  # the ring source was reached again and switched off
    # The instrument answers again once reconnected, so the tests after the fault measure normally.
    assert run.passed() == [IGNORES, DIAL_TONE]
    assert "tipring: safe state restored" in run.stdout
    assert "NOT restored" not in run.stdout


def test_a_connection_dropped_while_ringing_is_reopened_to_stop_the_ringing(tmp_path):
    # OUTP commands to the generator: 1 safe state at session start, 2 safe state before the
    # test, 3 ringing on, 4 the first cadence off: dropped, with the generator still ringing.
    run = run_plans(tmp_path, [{"instrument": "gen", "fault": "drop_connection", "on": "OUTP", "after": 3}], ANSWERS)
    assert_bench_fault(run, ANSWERS, rf"bench fault: gen at {SCPI_ADDRESS}: 'OUTP1 OFF': connection failed: .+")
    assert run.jig[(ANSWERS, "call")] == ["generator gen:1 output on", "supply psu:1 output on"]
    assert run.jig[(ANSWERS, "teardown")] == []  # reconnected, then ringing and battery off
    assert run.passed() == []
    assert "NOT restored" not in run.stdout


def test_a_safe_state_step_that_cannot_recover_is_reported(tmp_path):
    # Every OUTP from the third on drops the connection: reconnecting cannot help.
    run = run_plans(tmp_path, [{"instrument": "gen", "fault": "drop_connection", "on": "OUTP", "after": 3,
                                "repeat": True}], ANSWERS)
    assert run.jig[(ANSWERS, "teardown")] == ["generator gen:1 output on"]  # battery off; the ringer out of reach
    assert run.passed() == []
    assert "tipring: safe state NOT restored: fxo1: ring source off: bench fault: gen at" in run.stdout


def test_the_bench_file_overflows_the_next_stream_of_the_simulated_t7(tmp_path):
    path = bench_with_faults(tmp_path, [{"instrument": "daq", "fault": "stream_overflow", "after_s": 0.5}])
    sim = SimulatedBench(load_bench(path), path)
    try:
        daq = LabJackT7(sim.ljm, identifier=sim.addresses["daq"], name="daq", clock=sim.clock)
        line = [AnalogInput("line_v", "AIN0", range_v=10.0, scale=20.0)]
        with pytest.raises(BenchFault) as err:
            daq.capture(line, duration_s=1.0, sample_rate_hz=1000.0)
        assert re.fullmatch(r"bench fault: LabJack T7 'daq' at ANY:\d+: 'eStreamRead': 500 scans are -9999(\.0)? "
                            r"dummies: the T7's stream buffer overflowed and scans were lost", str(err.value)), str(err.value)
        assert daq.capture(line, duration_s=1.0, sample_rate_hz=1000.0)["line_v"].samples.min() > -100  # once only
        daq.close()
    finally:
        sim.stop()


def test_a_stream_overflow_is_a_bench_fault_and_the_next_capture_is_clean(tmp_path):
    # The dial-tone test's 1 s capture is the session's first stream: it overflows half way.
    run = run_plans(tmp_path, [{"instrument": "daq", "fault": "stream_overflow", "after_s": 0.5}],
                    f"{DIAL_TONE} or {RING_VOLTAGE}")
    assert_bench_fault(run, DIAL_TONE, r"bench fault: LabJack T7 'daq' at ANY:\d+: 'eStreamRead': \d+ scans are "
                                       r"-9999(\.0)? dummies: the T7's stream buffer overflowed and scans were lost")
    assert run.jig[(DIAL_TONE, "call")] == ["relay FIO0 closed"]  # off-hook when the fault struck
    assert run.jig[(DIAL_TONE, "teardown")] == []
    assert run.passed() == [RING_VOLTAGE]
    assert "tipring: safe state restored" in run.stdout
