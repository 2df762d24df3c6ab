"""`tipring bench check` and `tipring sim serve` on the simulated bench."""

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pyvisa

from harness import cli

ROOT = Path(__file__).resolve().parent.parent
SIM_PATH = ROOT / "fixtures" / "sim.yaml"
SIM = SIM_PATH.read_text()
HOOK_SELF_TEST = "\nself_tests:\n  - {port: fxs1, check: hook_relay_loop_current, min_ma: 15}\n"


def bench_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(text)
    return path


def edited(old: str, new: str) -> str:
    assert SIM.count(old) == 1, old
    return SIM.replace(old, new)


def check(capsys, path: Path) -> tuple[int, str, list[str]]:
    code = cli.main(["bench", "check", "--bench", str(path)])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def table_row(out: str, role: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"{role} "))


def test_sim_bench_checks_out(capsys):
    code, out, err = check(capsys, SIM_PATH)
    assert (code, err) == (0, [])
    for role, model in (("dmm", "Keysight Technologies 34461A"), ("gen", "Keysight Technologies 33522B"),
                        ("psu", "Agilent Technologies E3634A")):
        row = table_row(out, role)
        assert model in row and "TCPIP::127.0.0.1::" in row and row.endswith("empty"), row
        assert "2027-11-30 ok" in row
    daq = table_row(out, "daq")
    assert "LabJack T7" in daq and daq.endswith("n/a")
    assert "RIGOL TECHNOLOGIES DS1104Z" in table_row(out, "scope")
    assert "tipring-sim: 5 instruments, 2 self-tests: OK" in out


AGREEMENT = "\nself_tests:\n  - {port: fxs1, check: line_voltage_agreement, max_difference_v: %s}\n"


def agreement_readings(out: str) -> dict[str, float]:
    line = next(line for line in out.splitlines() if "line_voltage_agreement" in line)
    return {name: float(volts) for name, volts in re.findall(r"(\w+ \S+) (-?[\d.]+) V\b", line)}


def test_labjack_dmm_and_scope_agree_on_the_idle_line_within_their_accuracy(tmp_path, capsys):
    code, out, err = check(capsys, bench_file(tmp_path, SIM + AGREEMENT % 2.0))
    assert (code, err) == (0, [])
    readings = agreement_readings(out)
    assert set(readings) == {"daq daq:AIN0", "dmm dmm", "scope scope:1"}
    dmm = readings["dmm dmm"]
    assert 47.0 < dmm < 49.0
    # T7 +-10 V range: about 0.01 % of span at the input, times the 20:1 divider.
    assert abs(readings["daq daq:AIN0"] - dmm) < 20 * 0.002 + 0.01
    # DS1000Z DC gain: +-3 % of full scale (8 div x 0.1 V/div at the connector, x100 probe).
    assert abs(readings["scope scope:1"] - dmm) < 0.03 * 8 * 0.1 * 100


def test_instruments_that_disagree_beyond_the_allowance_fail_naming_the_worst(tmp_path, capsys):
    code, out, err = check(capsys, bench_file(tmp_path, SIM + AGREEMENT % 0.001))
    assert code == 1
    assert "line_voltage_agreement" in out and ": FAIL" in out
    [problem] = err
    assert problem.startswith("tipring bench check: fxs1: scope scope:1 reads ")
    assert problem.endswith("from dmm dmm (47.995 V); at most 0.001 V allowed")


def test_agreement_needs_a_second_instrument_on_the_line(tmp_path, capsys):
    text = edited("    voltmeter: dmm\n    scope: {input: scope:1, probe_attenuation: 100}   # a x100 probe across tip-ring\n", "")
    path = bench_file(tmp_path, text + AGREEMENT % 1.0)
    code, out, err = check(capsys, path)
    assert code == 4
    assert err == [f"tipring bench check: {path}: self_tests[0].check: port 'fxs1' has neither a voltmeter "
                   "nor a scope to compare its line_voltage input with"]


def test_a_probe_that_would_clip_the_scope_is_a_bad_bench_file(tmp_path, capsys):
    path = bench_file(tmp_path, edited("scope: {input: scope:1, probe_attenuation: 100}",
                                       "scope: {input: scope:1, probe_attenuation: 1}"))
    code, out, err = check(capsys, path)
    assert code == 4
    assert err == [f"tipring bench check: {path}: ports.fxs1.scope.probe_attenuation: 200 V peak on the line / "
                   "1 = 200 V at the scope would clip at any V/div (the screen holds +-40 V); use a x100 probe"]


def test_overdue_calibration_fails_naming_the_instrument(tmp_path, capsys):
    path = bench_file(tmp_path, edited("keysight_34461a, address: sim, calibration_due: 2027-11-30",
                                       "keysight_34461a, address: sim, calibration_due: 2020-01-01"))
    code, out, err = check(capsys, path)
    assert code == 1
    assert err == ["tipring bench check: dmm (keysight_34461a): calibration overdue since 2020-01-01"]
    assert "2020-01-01 OVERDUE" in table_row(out, "dmm")
    assert "OK" not in out


def test_bad_bench_file_is_one_line_exit_4(tmp_path, capsys):
    path = bench_file(tmp_path, edited("voltmeter: dmm", "voltmeter: dmm2"))
    code, out, err = check(capsys, path)
    assert (code, out) == (4, "")
    assert err == [f"tipring bench check: {path}: ports.fxs1.voltmeter: no instrument 'dmm2' in instruments"]


def test_unreachable_instrument_is_named_and_the_table_still_prints(tmp_path, capsys):
    with socket.socket() as s:  # a loopback port nobody listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    real = SIM.partition("\nsimulation:")[0].replace(
        "keysight_34461a, address: sim", f"keysight_34461a, address: 'TCPIP::127.0.0.1::{port}::SOCKET'")
    code, out, err = check(capsys, bench_file(tmp_path, real))
    assert code == 1
    assert err == [f"tipring bench check: bench fault: dmm at TCPIP::127.0.0.1::{port}::SOCKET: '*IDN?': "
                   "connection failed: Connection refused"]
    assert table_row(out, "dmm").endswith("FAULT")
    assert table_row(out, "gen").endswith("not opened")


def test_hook_relay_self_test_sees_the_loop_current(tmp_path, capsys):
    code, out, err = check(capsys, bench_file(tmp_path, SIM + HOOK_SELF_TEST))
    assert (code, err) == (0, [])
    # The simulated SLIC limits the loop current at 25 mA; 600 ohm + 160 ohm feed on 48 V would draw more.
    assert "fxs1 hook_relay_loop_current: 25.0 mA (at least 15 mA): pass" in out
    assert "1 self-test: OK" in out


def test_hook_relay_self_test_fails_on_a_weak_feed(tmp_path, capsys):
    weak = edited("    fxs1: {}      # SLIC", "    fxs1: {current_limit_ma: 10}      # SLIC") + HOOK_SELF_TEST
    code, out, err = check(capsys, bench_file(tmp_path, weak))
    assert code == 1
    assert "fxs1 hook_relay_loop_current: 10.0 mA (at least 15 mA): FAIL" in out
    assert err == ["tipring bench check: fxs1: 10.0 mA of loop current on daq:AIN2 with the hook relay daq:FIO0 "
                   "closed, expected at least 15 mA"]


def test_self_test_on_an_fxo_port_is_a_bad_bench_file(tmp_path, capsys):
    path = bench_file(tmp_path, SIM + HOOK_SELF_TEST.replace("port: fxs1", "port: fxo1"))
    code, out, err = check(capsys, path)
    assert code == 4
    assert err == [f"tipring bench check: {path}: self_tests[0].port: no FXS port 'fxo1' in ports "
                   "(hook_relay_loop_current closes an FXS port's hook relay)"]


def test_sim_serve_refuses_a_real_bench(tmp_path, capsys):
    path = bench_file(tmp_path, SIM.partition("\nsimulation:")[0])
    assert cli.main(["sim", "serve", "--bench", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"tipring sim serve: {path}: not a simulated bench (it has no simulation section)"]


def test_sim_serve_answers_pyvisa_and_stops_on_sigterm():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "sim", "serve", "--bench", str(SIM_PATH)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("serving"):
            line = proc.stdout.readline()
            assert line, f"sim serve ended early: {proc.stderr.read()}"
            lines.append(line.rstrip("\n"))
        rows = {line.split()[0]: line.split(maxsplit=2) for line in lines[:-1]}
        assert set(rows) == {"dmm", "gen", "psu", "daq", "scope"}
        assert rows["dmm"][1] == "keysight_34461a" and rows["dmm"][2].startswith("TCPIP::127.0.0.1::")
        assert rows["daq"][2].startswith("in-process only")
        rm = pyvisa.ResourceManager("@py")
        dmm = rm.open_resource(rows["dmm"][2], read_termination="\n", write_termination="\n", timeout=2000)
        try:
            assert dmm.query("*IDN?").split(",")[:2] == ["Keysight Technologies", "34461A"]
        finally:
            dmm.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read().strip() == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
