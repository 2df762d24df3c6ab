"""Bad bench and profile files stop the run before anything switches, with one line naming the
file, the field and the reason (pytest usage error, exit code 4), never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness.fixture import DRIVERS, FixtureError, load_bench
from harness.profile import load_profile

ROOT = Path(__file__).resolve().parent.parent
SIM = (ROOT / "fixtures" / "sim.yaml").read_text()
SIM_LINES = SIM.splitlines()  # YAML reports an unclosed '[' on the line after it

# (case, edit of fixtures/sim.yaml, the one line expected after "<file>: ")
BAD_BENCHES = [
    ("unknown key", ("hook_load_ohm: 600", "hook_load_ohm: 600\n    hook_lod: 3"), "ports.fxs1.hook_lod: unknown key"),
    ("overranging divider", ("{input: daq:AIN0, divider: 20", "{input: daq:AIN0, divider: 10"),
     "ports.fxs1.line_voltage.divider: 200 V peak on the line / 10 = 20 V would overrange the +-10 V input daq:AIN0"),
    ("overranging sense resistor", ("negative: AIN3, sense_ohm: 10", "negative: AIN3, sense_ohm: 200"),
     "ports.fxs1.loop_current.sense_ohm: 100 mA peak * 200 ohm = 20 V would overrange the +-10 V input daq:AIN2"),
    ("missing channel", ("    line_voltage: {input: daq:AIN4, divider: 20, range_v: 10}\n", ""),
     "ports.fxo1.line_voltage: missing"),
    ("undeclared instrument", ("voltmeter: dmm", "voltmeter: dmm2"), "ports.fxs1.voltmeter: no instrument 'dmm2' in instruments"),
    ("wrong instrument kind", ("battery: {supply: psu", "battery: {supply: gen"),
     "ports.fxo1.battery.supply: instrument 'gen' is a keysight_33500b, not a supply"),
    ("unknown driver", ("driver: keysight_33500b", "driver: keysight_33600x"),
     f"instruments.gen.driver: unknown instrument driver 'keysight_33600x'; known: {', '.join(sorted(DRIVERS))}"),
    ("not a T7 range", ("divider: 20, range_v: 10}\n    loop_current: {input: daq:AIN2", "divider: 20, range_v: 5}\n    loop_current: {input: daq:AIN2"),
     "ports.fxs1.line_voltage.range_v: 5.0 is not a LabJack T7 input range; use one of [10.0, 1.0, 0.1, 0.01]"),
    ("malformed YAML", ("kind: fxs", "kind: [fxs"), f"line {SIM_LINES.index('    kind: fxs') + 2}: not valid YAML: expected ',' or ']', but got ':'"),
    ("relay wired twice", ("ren_relays: [daq:FIO1]", "ren_relays: [daq:FIO0]"),
     "ports.fxs1.ren_relays[0]: daq:FIO0 is already wired to ports.fxs1.hook_relay"),
    ("single-output supply", ("battery: {supply: psu, channel: 1", "battery: {supply: psu, channel: 2"),
     "ports.fxo1.battery.channel: psu (keysight_e3634a) has one output"),
    ("scope channel wired twice", ("    answer_after_rings: 2", "    answer_after_rings: 2\n    scope: {input: scope:1}"),
     "ports.fxo1.scope.input: scope:1 is already wired to ports.fxs1.scope.input"),
    ("DTMF source on no DAC", ("dtmf_source: {output: daq:DAC0", "dtmf_source: {output: daq:DAC2"),
     "ports.fxs1.dtmf_source.output: 'daq:DAC2' is not of the form instrument:DACn (e.g. daq:DAC0; the T7 has DAC0 and DAC1)"),
    ("DTMF source on a DMM", ("dtmf_source: {output: daq:DAC0", "dtmf_source: {output: dmm:DAC0"),
     "ports.fxs1.dtmf_source.output: instrument 'dmm' is a keysight_34461a, not a daq"),
    ("unknown simulation port", ("    fxo1: {}      # DAA", "    fxo9: {}      # DAA"), "simulation.ports.fxo9: no port 'fxo9' in ports"),
    ("unknown model parameter", ("fxs1: {}      # SLIC", "fxs1: {ring_vrmss: 30}      # SLIC"),
     "simulation.ports.fxs1.ring_vrmss: not a parameter of the simulated FXS port (see instruments.sim.fxs_dut.SlicParams)"),
]


def write_bench(tmp_path: Path, edit: tuple[str, str]) -> Path:
    old, new = edit
    assert old in SIM, f"test edit no longer matches fixtures/sim.yaml: {old!r}"
    path = tmp_path / "bench.yaml"
    path.write_text(SIM.replace(old, new, 1))
    return path


@pytest.mark.parametrize("case,edit,expected", BAD_BENCHES, ids=[c[0] for c in BAD_BENCHES])
def test_bad_bench_file_is_one_line(tmp_path, case, edit, expected):
    path = write_bench(tmp_path, edit)
    with pytest.raises(FixtureError) as err:
        load_bench(path)
    assert str(err.value) == f"{path}: {expected}"


def test_missing_bench_file(tmp_path):
    with pytest.raises(FixtureError, match=r"nope\.yaml: cannot read bench file: No such file"):
        load_bench(tmp_path / "nope.yaml")


def test_sim_bench_is_valid():
    bench = load_bench(ROOT / "fixtures" / "sim.yaml")
    assert bench.simulated and set(bench.ports) == {"fxs1", "fxo1"}


def test_example_bench_is_valid():
    bench = load_bench(ROOT / "fixtures" / "example-bench.yaml")
    assert not bench.simulated


def test_bad_profile_is_one_line(tmp_path):
    text = (ROOT / "testplans" / "profiles" / "us.yaml").read_text()
    bad = tmp_path / "xx.yaml"
    bad.write_text(text.replace("requirement: FXS-FEED-1}", "requirement: FXS-FEED-9}", 1))
    with pytest.raises(FixtureError) as err:
        load_profile(str(bad))
    assert str(err.value) == f"{bad}: limits.on_hook_voltage_v.requirement: 'FXS-FEED-9' is not in requirements"
    with pytest.raises(FixtureError, match=r"no such profile \(available: de, us\)"):
        load_profile("zz")


@pytest.mark.parametrize("edit, message", [
    (("standard: bell202", "standard: bell103"), "signals.caller_id.standard: Input should be 'bell202' or 'v23'"),
    (('number: "8005551212"', 'number: "800-555-1212"'), "signals.caller_id.number: String should match pattern"),
])
def test_a_bad_caller_id_signal_is_one_line(tmp_path, edit, message):
    text = (ROOT / "testplans" / "profiles" / "us.yaml").read_text()
    assert text.count(edit[0]) == 1
    bad = tmp_path / "xx.yaml"
    bad.write_text(text.replace(*edit))
    with pytest.raises(FixtureError) as err:
        load_profile(str(bad))
    assert str(err.value).startswith(f"{bad}: {message}")


def run_pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "testplans", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case,edit,expected", [BAD_BENCHES[1], BAD_BENCHES[8]], ids=["overrange", "yaml"])
def test_pytest_stops_with_usage_error(tmp_path, case, edit, expected):
    """The whole run stops before collection: exit code 4, one line, no traceback."""
    path = write_bench(tmp_path, edit)
    done = run_pytest("--bench", str(path))
    assert done.returncode == 4, done.stdout + done.stderr
    assert f"ERROR: {path}: {expected}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr


def test_unknown_profile_and_port_are_usage_errors():
    done = run_pytest("--profile", "xx")
    assert done.returncode == 4 and "no such profile (available: de, us)" in done.stderr
    done = run_pytest("--port", "fxs7")
    assert done.returncode == 4 and "--port fxs7: no such port (ports: fxs1, fxo1)" in done.stderr
