"""The harness core: limits and outcomes, profiles, safe state, DUT control, and the plugin's
behaviour when the bench misbehaves or the run is interrupted."""

import math
import signal
import subprocess
import sys
from pathlib import Path

import re

import pytest
import yaml

from harness.dut import CommandDutControl, DutControlError
from harness.fixture import CommandControl
from harness.measurement import Limit, MeasurementLog, Outcome
from harness.profile import load_profile
from harness.safety import SafeState

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["pytester"]


@pytest.mark.parametrize("value,outcome", [
    (48.0, Outcome.PASS), (42.0, Outcome.MARGINAL), (42.5, Outcome.MARGINAL), (53.9, Outcome.MARGINAL),
    (41.99, Outcome.FAIL), (54.01, Outcome.FAIL), (math.nan, Outcome.FAIL), (None, Outcome.FAIL),
    (math.inf, Outcome.FAIL),
])
def test_limit_outcomes(value, outcome):
    # guard band 5 % of the 12 V window = 0.6 V inside each edge
    assert Limit(low=42, high=54, unit="V").judge(value) is outcome


def test_one_sided_and_nominal_limits():
    assert Limit(high=0).judge(0) is Outcome.PASS and Limit(high=0).judge(1) is Outcome.FAIL
    lim = Limit.around(440, tolerance_pct=0.5, unit="Hz")
    assert (lim.low, lim.high) == pytest.approx((437.8, 442.2))
    assert lim.describe() == "440 Hz (437.8 .. 442.2)"
    with pytest.raises(ValueError):
        Limit(low=2, high=1)


def test_clipped_or_missing_value_never_passes():
    log = MeasurementLog()
    log.add("ring_vrms", 50.0, Limit(low=40, high=90, unit="Vrms"), clipped=True)
    log.add("ring_freq_hz", None, Limit(low=17, high=23, unit="Hz"))
    assert [m.outcome for m in log.measurements] == [Outcome.FAIL, Outcome.FAIL]
    msg = log.failure_message()
    assert "ring_vrms = 50 Vrms, limit 40 .. 90 Vrms: FAIL (capture clipped at the input range)" in msg
    assert "ring_freq_hz = missing, limit 17 .. 23 Hz: FAIL (no value)" in msg


def test_profile_limits_trace_to_requirements_and_masks():
    us = load_profile("us")
    lim = us.limit("dial_tone_freq_hz", nominal=350)
    assert (lim.low, lim.high, lim.requirement) == (pytest.approx(348.25), pytest.approx(351.75), "FXS-TONE-1")
    assert "[S60]" in lim.source
    assert us.limit("fxo_dc_voltage_v", at=70).high == pytest.approx(12.7)  # 7.7 V + 50 mA * 100 ohm
    with pytest.raises(ValueError, match="needs a nominal"):
        us.limit("ring_freq_hz")
    de = load_profile("de")
    assert (de.signals.ring.freq_hz, de.signals.ring.cadence_ms, de.signals.dial_tone.freqs_hz) == (25, [1000, 4000], [425])


def test_safe_state_runs_every_step_whatever_fails():
    done = []
    safe = SafeState()
    safe.add("ring source off", lambda: done.append("ring"))
    safe.add("battery off", lambda: (_ for _ in ()).throw(TimeoutError("no answer")))
    safe.add("hook relay open", lambda: done.append("hook"))
    assert safe.restore() == ["battery off: no answer"]
    assert done == ["ring", "hook"]


def test_command_dut_control_runs_templates(tmp_path):
    log = tmp_path / "calls"
    ctl = CommandDutControl(CommandControl(
        ring=f"sh -c 'echo ring {{port}} {{profile}} from {{caller_number}} {{caller_name}} >> {log}'",
        stop_ringing=f"sh -c 'echo stop {{port}} >> {log}'",
        provision=f"sh -c 'echo provision {{profile}} >> {log}'"))
    ctl.provision(load_profile("de"))
    ctl.ring("fxs1")
    ctl.ring("fxs1", "0301234567", "TIPRING")
    ctl.stop_ringing("fxs1")
    assert log.read_text().split("\n")[:4] == ["provision de", "ring fxs1 de from", "ring fxs1 de from 0301234567 TIPRING",
                                              "stop fxs1"]


def test_command_dut_control_reads_the_digits_the_dut_received(tmp_path):
    ctl = CommandDutControl(CommandControl(ring="true", stop_ringing="true",
                                           received_digits="sh -c 'echo \" 123#\"; echo from {port} >&2'"))
    assert ctl.received_digits("fxs1") == "123#"
    without = CommandDutControl(CommandControl(ring="true", stop_ringing="true"))
    with pytest.raises(DutControlError, match=r"^DUT control received_digits: the bench file's dut.control has no "
                                              r"received_digits command"):
        without.received_digits("fxs1")


@pytest.mark.parametrize("field, template, message", [
    ("stop_ringing", "hangup {caller_number}", "stop_ringing: unknown field {caller_number}; it may use {port}, {profile}"),
    ("ring", "dial {number}", "ring: unknown field {number}; it may use {caller_name}, {caller_number}, {port}, {profile}"),
    ("ring", "dial {port", "ring: expected '}' before end of string (write {{ and }} for literal braces)"),
])
def test_a_dut_command_template_with_an_unknown_field_is_refused(field, template, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        CommandControl(**{"ring": "true", "stop_ringing": "true", field: template})
    bad = CommandDutControl(CommandControl(ring="sh -c 'echo no such channel >&2; exit 3'", stop_ringing="true"))
    with pytest.raises(DutControlError, match=r"DUT control ring: .* exited 3: no such channel$"):
        bad.ring("fxs1")


def test_failing_measurement_fails_the_test_with_values_and_limits(pytester):
    pytester.makepyfile(test_plan="""
        def test_feed(measure):
            measure("on_hook_voltage_v", 30.0)
            measure("loop_current_ma", 25.0)

        def test_nothing_recorded(measure):
            pass
    """)
    bench = pytester.path / "bench.yaml"
    bench.write_text((ROOT / "fixtures" / "sim.yaml").read_text())
    result = pytester.runpytest("--bench", str(bench), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=0, failed=2)
    result.stdout.fnmatch_lines([
        "*1 of 2 measurements failed:*",
        "*on_hook_voltage_v = 30 V, limit 42 .. 54 V: FAIL*",
        "*the test recorded no measurement*",
    ])


def _bench_with(tmp_path: Path, **addresses: str) -> Path:
    bench = yaml.safe_load((ROOT / "fixtures" / "sim.yaml").read_text())
    del bench["simulation"]
    bench["dut"]["control"] = {"ring": "true", "stop_ringing": "true"}
    for name, address in addresses.items():
        bench["instruments"][name]["address"] = address
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    return path


def _pytest(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "testplans", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_unreachable_instrument_is_a_one_line_bench_fault(tmp_path):
    path = _bench_with(tmp_path, dmm="TCPIP::127.0.0.1::9::SOCKET")  # discard port: nothing listens
    done = _pytest("--bench", str(path), "-k", "on_hook", "-q")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "bench fault: dmm at TCPIP::127.0.0.1::9::SOCKET: '*IDN?'" in done.stdout
    assert "Traceback" not in done.stdout and "passed" not in done.stdout.splitlines()[-1]


def test_overdue_calibration_is_a_bench_fault_unless_accepted(tmp_path):
    bench = yaml.safe_load((ROOT / "fixtures" / "sim.yaml").read_text())
    bench["instruments"]["dmm"]["calibration_due"] = "2026-01-31"
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench))
    done = _pytest("--bench", str(path), "-q", "-k", "on_hook_battery")
    assert done.returncode == 1
    assert "bench fault: dmm at sim: calibration overdue since 2026-01-31" in done.stdout
    results = tmp_path / "results"
    done = _pytest("--bench", str(path), "-q", "-k", "on_hook_battery", "--accept-overdue-calibration",
                   f"--alluredir={results}", "--operator", "ana", "--dut-serial", "X42")
    assert done.returncode == 0, done.stdout[-1500:]
    env = (results / "environment.properties").read_text()
    assert "calibration due 2026-01-31 (OVERDUE)" in env
    assert "operator=ana\n" in env and "s/n X42 fw" in env and "sha256 " in env


def test_missing_labjack_library_is_one_line(tmp_path):
    bench = yaml.safe_load(_bench_with(tmp_path).read_text())
    bench["instruments"] = {"daq": bench["instruments"].pop("daq"), **bench["instruments"]}  # opened first
    bench["instruments"]["daq"]["address"] = "ANY"
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    done = _pytest("--bench", str(path), "-q", "-k", "on_hook")
    assert done.returncode == 1
    assert "libLabJackM is not installed" in done.stdout
    assert "Cannot load the LJM library" not in done.stdout  # the wrapper's own print is swallowed


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_interrupted_run_restores_the_safe_state(sig):
    """Stopped while the port rings: the safe state is restored before the process ends."""
    proc = subprocess.Popen([sys.executable, "-u", "-m", "pytest", "testplans", "-v", "-p", "no:cacheprovider"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "test_ring_voltage" in line:
            proc.send_signal(sig)
            break
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 2, "".join(seen) + rest  # pytest's "interrupted"
    assert "tipring: safe state restored" in rest


def test_report_is_built_offline_without_analytics(tmp_path):
    results, out = tmp_path / "allure-results", tmp_path / "report"
    done = _pytest("-q", "-k", "on_hook or dial_tone", f"--alluredir={results}")
    assert done.returncode == 0, done.stdout[-2000:]
    env = (results / "environment.properties").read_text()
    assert "bench=tipring-sim" in env and "instrument.dmm=Keysight Technologies 34461A" in env
    built = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(results), "-o", str(out), "--single-file"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    page = (out / "index.html").read_text()
    assert built.stdout.strip() == str(out.resolve() / "index.html")
    assert "googletagmanager" not in page
    assert "<title> tipring compliance report" in page  # the data itself is embedded base64-encoded


def test_report_without_results_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(tmp_path / "none")],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == f"tipring report: {tmp_path / 'none'}: no Allure results here (run pytest with --alluredir={tmp_path / 'none'})"


def _collected(*args: str) -> list[str]:
    done = _pytest("--collect-only", "-q", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_markers_ports_and_ini_select_tests(tmp_path):
    everything = _collected()
    assert len(everything) == 12
    fxo = _collected("-m", "fxo")
    assert len(fxo) == 3 and all("[fxo1]" in t for t in fxo)
    assert _collected("--port", "fxs1") == [t for t in everything if "[fxs1]" in t]
    assert _collected("-m", "fxs", "-k", "cadence") == ["testplans/test_fxs.py::test_ring_cadence[fxs1]"]
    # The bench can come from the ini file instead of --bench.
    ini = tmp_path / "pytest.ini"
    bench = _bench_with(tmp_path)
    ini.write_text(f"[pytest]\ntipring_bench = {bench}\nmarkers =\n")
    done = _pytest("--collect-only", "-q", "-c", str(ini), "--rootdir", str(ROOT), "--port", "fxs9")
    assert done.returncode == 4 and f"{bench}: --port fxs9: no such port" in done.stderr
