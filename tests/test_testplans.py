"""The compliance test plans, run the way a user runs them, on the simulated bench.

Each plan passes on the compliant simulated DUT for both profiles; and for every test in
testplans/ there is a simulated DUT with the matching defect that makes that test fail, naming the
measurement, while every other test still passes.
"""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TESTS = {
    "test_fxs.py::test_on_hook_battery_voltage",
    "test_fxs.py::test_off_hook_detection",
    "test_fxs.py::test_off_hook_detection_on_long_loop",
    "test_fxs.py::test_dial_tone",
    "test_fxs.py::test_ring_voltage",
    "test_fxs.py::test_ring_frequency",
    "test_fxs.py::test_ring_cadence",
    "test_fxs.py::test_caller_id_after_first_ring",
    "test_fxs.py::test_dtmf_reception",
    "test_fxo.py::test_answers_after_configured_rings",
    "test_fxo.py::test_ignores_ringing_below_must_ignore",
    "test_fxo.py::test_off_hook_dc_operating_point",
}

# (test that must fail, port, DUT model parameters out of spec, measurements the failure names)
DEFECTS = [
    # Battery too high (a low one would also starve the long loop, failing that test as well).
    ("test_fxs.py::test_on_hook_battery_voltage", "fxs1", {"voc_v": 58.0}, ["on_hook_voltage_v"]),
    # Slow off-hook qualification: dial tone comes too late (a threshold above the loop current
    # would also silence dial tone, failing test_dial_tone as well, as it should).
    ("test_fxs.py::test_off_hook_detection", "fxs1", {"hook_qualify_ms": 600.0}, ["dial_tone_delay_ms"]),
    # Off-hook threshold too high: seen on a short loop (25 mA), missed on the long one (18.7 mA).
    ("test_fxs.py::test_off_hook_detection_on_long_loop", "fxs1", {"offhook_threshold_ma": 20.0},
     ["long_loop_dial_tone_present"]),
    ("test_fxs.py::test_dial_tone", "fxs1", {"dial_tone_freqs_hz": [360.0, 440.0]}, ["dial_tone_freq_hz[350]"]),
    ("test_fxs.py::test_ring_voltage", "fxs1", {"ring_vrms": 30.0}, ["ring_vrms"]),
    ("test_fxs.py::test_ring_frequency", "fxs1", {"ring_freq_hz": 25.0}, ["ring_freq_hz"]),
    ("test_fxs.py::test_ring_cadence", "fxs1", {"ring_cadence_ms": [2500.0, 4000.0]},
     ["ring_cadence_ms[on 1, cycle 1]", "ring_cadence_ms[on 1, cycle 2]"]),
    # Caller ID: a message that does not add up, sent too soon, running into the second ring,
    # or with too short a mark signal for an on-hook receiver.
    ("test_fxs.py::test_caller_id_after_first_ring", "fxs1", {"caller_id_corrupt_checksum": True},
     ["caller_id_message_ok"]),
    ("test_fxs.py::test_caller_id_after_first_ring", "fxs1", {"caller_id_delay_ms": 300.0}, ["caller_id_delay_ms"]),
    ("test_fxs.py::test_caller_id_after_first_ring", "fxs1", {"caller_id_delay_ms": 3200.0},
     ["caller_id_ring_gap_ms"]),
    ("test_fxs.py::test_caller_id_after_first_ring", "fxs1", {"caller_id_mark_bits": 80}, ["caller_id_mark_bits"]),
    # DTMF reception: a receiver too narrow, too slow, too quick, intolerant of twist, or whose
    # codec clock is 2 % fast (hearing +3.5 % tones as +1.5 % and -1.5 % as -3.5 %).
    ("test_fxs.py::test_dtmf_reception", "fxs1", {"dtmf_max_deviation_pct": 1.0},
     ["dtmf_accepts_offset_ok[+1.5 %]", "dtmf_accepts_offset_ok[-1.5 %]"]),
    ("test_fxs.py::test_dtmf_reception", "fxs1", {"dtmf_clock_error_pct": 2.0},
     ["dtmf_rejects_offset_ok[+3.5 %]", "dtmf_accepts_offset_ok[-1.5 %]"]),
    ("test_fxs.py::test_dtmf_reception", "fxs1", {"dtmf_min_on_ms": 45.0}, ["dtmf_timing_ok[40 ms on, 40 ms off]"]),
    ("test_fxs.py::test_dtmf_reception", "fxs1", {"dtmf_min_on_ms": 20.0}, ["dtmf_timing_ok[23 ms on]"]),
    ("test_fxs.py::test_dtmf_reception", "fxs1", {"dtmf_twist_min_db": -6.0}, ["dtmf_twist_ok[twist -8 dB]"]),
    ("test_fxo.py::test_answers_after_configured_rings", "fxo1", {"answer_after_rings": 3}, ["rings_before_answer"]),
    ("test_fxo.py::test_ignores_ringing_below_must_ignore", "fxo1", {"ring_detect_vrms": 8.0},
     ["answered_at_must_ignore"]),
    ("test_fxo.py::test_off_hook_dc_operating_point", "fxo1", {"v_knee_v": 14.0}, ["fxo_dc_voltage_v"]),
]


def run_plans(tmp_path: Path, *args: str, defect: tuple[str, dict] | None = None) -> dict[str, tuple[str, str]]:
    """Run `pytest testplans` on (a copy of) the simulated bench; test id -> (outcome, message)."""
    bench = yaml.safe_load((ROOT / "fixtures" / "sim.yaml").read_text())
    if defect is not None:
        port, params = defect
        bench["simulation"]["ports"][port] = params
    bench_file = tmp_path / "bench.yaml"
    bench_file.write_text(yaml.safe_dump(bench))
    junit = tmp_path / "junit.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "testplans", "--bench", str(bench_file), "-q",
                           "-p", "no:cacheprovider", f"--junitxml={junit}", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert junit.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname').rsplit('.', 1)[-1]}.py::{case.get('name').split('[')[0]}"
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        outcome = "passed" if bad is None and case.find("skipped") is None else (
            "skipped" if bad is None else bad.tag)
        results[test_id] = (outcome, "" if bad is None else (bad.get("message") or "") + (bad.text or ""))
    return results


@pytest.mark.parametrize("profile", ["us", "de"])
def test_compliant_dut_passes_every_plan(tmp_path, profile):
    results = run_plans(tmp_path, "--profile", profile)
    assert set(results) == TESTS
    failed = {t: msg[:600] for t, (outcome, msg) in results.items() if outcome != "passed"}
    assert not failed


def test_every_plan_has_a_defect_that_fails_it():
    assert {test_id for test_id, *_ in DEFECTS} == TESTS


@pytest.mark.parametrize("test_id, port, params, names", DEFECTS,
                         ids=[f"{t.split('::')[1]}[{','.join(f'{k}={v}' for k, v in p.items())}]"
                              for t, _, p, _ in DEFECTS])
def test_matching_defect_fails_only_its_test(tmp_path, test_id, port, params, names):
    results = run_plans(tmp_path, defect=(port, params))
    outcome, message = results[test_id]
    assert outcome == "failure", f"{test_id} did not fail on {params}: {outcome}"
    for name in names:
        assert f"{name} = " in message and ": FAIL" in message, f"{name} not named in: {message[:800]}"
    others = {t: msg[:300] for t, (o, msg) in results.items() if t != test_id and o != "passed"}
    assert not others, f"{params} also broke {others}"
