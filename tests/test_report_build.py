"""`tipring report` over several real simulated runs: merged report, categories, traceability matrix.

Four runs go into one report: a good DUT; a DUT that rings too weakly (30 Vrms), tested against a
copy of the us profile with one requirement no test covers; a bench whose DMM calibration is
overdue; a test that asks the profile for a limit it does not have (a test error).
"""

from __future__ import annotations

import base64
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cli import merge_environment
from harness.traceability import BENCH_FAULT, DUT_FAILED, HARNESS_ERROR, failure_category

ROOT = Path(__file__).resolve().parent.parent
UNCOVERED = "FXS-MWI-1"

HARNESS_ERROR_TEST = '''
import pytest


@pytest.mark.requirement("FXS-FEED-1")
def test_unknown_limit(fxs, measure):
    measure("no_such_limit_v", 1.0)
'''


def _bench_copy(path: Path, change) -> Path:
    bench = yaml.safe_load((ROOT / "fixtures" / "sim.yaml").read_text())
    change(bench)
    path.write_text(yaml.safe_dump(bench))
    return path


def _pytest(results: Path, *args: str, cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--alluredir={results}", *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _tipring_report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "report", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The four runs (in parallel), and one single-file report of all of them."""
    tmp = tmp_path_factory.mktemp("report")
    weak = _bench_copy(tmp / "weak-ring.yaml", lambda b: b["simulation"]["ports"].update(fxs1={"ring_vrms": 30}))
    overdue = _bench_copy(tmp / "overdue.yaml", lambda b: b["instruments"]["dmm"].update(calibration_due="2020-01-31"))
    profile = yaml.safe_load((ROOT / "testplans" / "profiles" / "us.yaml").read_text())
    profile["requirements"][UNCOVERED] = {"text": "Message-waiting indication", "source": "added by the test"}
    (tmp / "us-plus.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    (tmp / "plan").mkdir()
    (tmp / "plan" / "test_harness_error.py").write_text(HARNESS_ERROR_TEST)
    runs = {name: tmp / name for name in ("good", "weak", "overdue", "error")}
    procs = [
        _pytest(runs["good"], "testplans"),
        _pytest(runs["weak"], "testplans", "--bench", str(weak), "--profile", str(tmp / "us-plus.yaml")),
        _pytest(runs["overdue"], "testplans", "--bench", str(overdue), "-k", "on_hook"),
        _pytest(runs["error"], "test_harness_error.py", "--bench", str(ROOT / "fixtures" / "sim.yaml"), cwd=tmp / "plan"),
    ]
    for p in procs:
        output = p.communicate(timeout=120)[0]
        assert p.returncode in (0, 1), output[-2000:]  # 1: the runs with a failing test
    out = tmp / "report"
    done = _tipring_report(*map(str, runs.values()), "-o", str(out), "--single-file", "--name", "merged runs")
    assert done.returncode == 0, done.stderr
    return {"runs": runs, "out": out, "stdout": done.stdout}


@pytest.fixture(scope="module")
def matrix(built) -> list[dict]:
    with open(built["out"] / "traceability.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def report_data(built) -> dict[str, bytes]:
    """The files a single-file report embeds (base64 in `d("path", "...")` calls)."""
    page = (built["out"] / "index.html").read_text(encoding="utf-8")
    return {name: base64.b64decode(b64) for name, b64 in re.findall(r'd\("([^"]+)","([A-Za-z0-9+/=]*)"\)', page)}


def _rows(matrix: list[dict], requirement: str, run: Path | None = None) -> list[dict]:
    return [r for r in matrix if r["requirement"] == requirement and (run is None or r["run"] == str(run))]


def test_prints_the_report_path_and_writes_the_csv_next_to_it(built):
    assert built["stdout"].strip() == str(built["out"].resolve() / "index.html")
    assert (built["out"] / "traceability.csv").is_file()


def test_a_covered_requirement_lists_tests_measurements_and_results(built, matrix):
    ring = _rows(matrix, "FXS-RING-1")
    assert {r["result"] for r in ring} == {"failed"}  # one requirement, one result: the worst of its tests'
    assert ring[0]["text"] == "Ringing voltage into the reference REN load" and ring[0]["profile"] == "us"
    good, = _rows(matrix, "FXS-RING-1", built["runs"]["good"])
    weak, = _rows(matrix, "FXS-RING-1", built["runs"]["weak"])
    assert (good["test"], good["port"], good["measurement"], good["unit"]) == (
        "test_ring_voltage[fxs1]", "fxs1", "ring_vrms", "Vrms")
    assert (good["test_status"], good["outcome"], good["failure"]) == ("passed", "pass", "")
    assert 45 < float(good["value"]) < 55 and good["limit"] == "40 .. 90 Vrms"
    assert (weak["test_status"], weak["outcome"], weak["failure"]) == ("failed", "fail", DUT_FAILED.name)
    assert 27 < float(weak["value"]) < 33


def test_a_requirement_passes_when_only_another_requirement_failed_in_its_test(built, matrix):
    offset = _rows(matrix, "FXS-RING-2", built["runs"]["weak"])
    assert [(r["test_status"], r["measurement"], r["outcome"], r["result"]) for r in offset] == [
        ("failed", "ring_dc_offset_v", "pass", "passed")]


def test_every_measurement_of_a_requirement_gets_a_row(built, matrix):
    cadence = _rows(matrix, "FXS-RING-5", built["runs"]["good"])
    assert len(cadence) >= 4 and all(r["measurement"].startswith("ring_cadence_ms[") for r in cadence)
    fxo = _rows(matrix, "FXO-DC-1", built["runs"]["good"])
    assert [(r["port"], r["measurement"], r["unit"]) for r in fxo] == [("fxo1", "fxo_loop_current_ma", "mA")]


def test_uncovered_requirements_are_listed(matrix):
    row, = _rows(matrix, UNCOVERED)
    assert (row["result"], row["test"], row["text"]) == ("not covered", "", "Message-waiting indication")


def test_a_test_error_leaves_its_requirement_unjudged(built, matrix):
    feed = _rows(matrix, "FXS-FEED-1")
    assert {r["result"] for r in feed} == {"broken"}
    error, = _rows(matrix, "FXS-FEED-1", built["runs"]["error"])
    assert (error["test"], error["test_status"], error["failure"], error["measurement"]) == (
        "test_unknown_limit[fxs1]", "broken", HARNESS_ERROR.name, "")


def test_report_categories_keep_dut_bench_and_harness_failures_apart(report_data):
    nodes = json.loads(report_data["widgets/categories.json"])["nodes"]

    def tests_in(category: str) -> set[str]:
        cat, = [n for n in nodes.values() if n["type"] == "category" and n["name"] == category]
        found, todo = set(), list(cat["childrenIds"])
        while todo:
            node = nodes[todo.pop()]
            found |= {node["name"]} if node["type"] == "tr" else set()
            todo += node.get("childrenIds", [])
        return found

    assert tests_in(DUT_FAILED.name) == {"test_ring_voltage[fxs1]"}
    assert tests_in(BENCH_FAULT.name) == {"test_on_hook_battery_voltage[fxs1]"}
    assert tests_in(HARNESS_ERROR.name) == {"test_unknown_limit[fxs1]"}


def test_runs_are_merged_without_hiding_one_behind_another(report_data):
    # The good and the weak run have the same tests on the same port: both must count.
    assert json.loads(report_data["widgets/statistic.json"])["total"] == 12 + 12 + 1 + 1
    env = {e["name"]: e["values"][0] for e in json.loads(report_data["widgets/allure_environment.json"])}
    assert env["runs"].startswith("[1] ") and "[4] " in env["runs"]
    assert env["bench"] == "tipring-sim"  # the same in every run: said once
    assert "[3] " in env["instrument.dmm"] and "2020-01-31" in env["instrument.dmm"]


def test_the_matrix_is_a_global_attachment_of_the_report(report_data):
    listed = json.loads(report_data["widgets/globals.json"])["attachments"]
    assert {(a["name"], a["contentType"]) for a in listed} == {("Requirement traceability", "text/html"),
                                                                ("traceability.csv", "text/csv")}
    matrix, = [a for a in listed if a["name"] == "Requirement traceability"]
    page = report_data[f"data/attachments/{matrix['id']}{matrix['ext']}"].decode()
    assert UNCOVERED in page and "not covered" in page and "<script" not in page


def test_analytics_script_is_removed(built):
    page = (built["out"] / "index.html").read_text(encoding="utf-8")
    assert "googletagmanager" not in page and "gtag(" not in page


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_a_missing_or_empty_results_dir_is_one_line(built, tmp_path, make):
    results = tmp_path / "results"
    if make == "empty":
        results.mkdir()
    expected = f"tipring report: {results}: no Allure results here (run pytest with --alluredir={results})\n"
    for args in ([str(results)], [str(built["runs"]["good"]), str(results)]):  # alone, or after a good run
        done = _tipring_report(*args, "-o", str(tmp_path / "report"))
        assert (done.returncode, done.stderr, done.stdout) == (2, expected, "")
    assert not (tmp_path / "report").exists()


def test_a_generator_failure_is_one_line(built, tmp_path):
    # A stand-in for node_modules/.bin/allure that fails the way Allure 3 does: a coloured message
    # on stdout, then a Node stack trace.
    package = tmp_path / "node_modules" / "allure"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"main": "./dist/index.js"}')
    cli = package / "cli.js"
    cli.write_text("#!/bin/sh\nprintf '\\033[31mInternal Error\\033[39m: disk full\\n    at write (file:///x.js:1:1)\\n'\nexit 1\n")
    cli.chmod(0o755)
    (tmp_path / "node_modules" / ".bin").mkdir()
    (tmp_path / "node_modules" / ".bin" / "allure").symlink_to(cli)
    done = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(built["runs"]["good"])], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (1, "tipring report: allure failed (1): Internal Error: disk full\n")


@pytest.mark.parametrize("status, message, category", [
    ("failed", "harness.plugin.LimitsFailed: 1 of 3 measurements failed:\n  ring_vrms = 29.54 Vrms", DUT_FAILED),
    ("broken", "instruments.errors.BenchFault: bench fault: dmm at x: 'READ?': timeout", BENCH_FAULT),
    ("failed", "Failed: bench fault: dmm at sim: calibration overdue since 2020-01-31", BENCH_FAULT),
    ("failed", "harness.plugin.LimitsFailed: the test recorded no measurement", HARNESS_ERROR),
    ("broken", "KeyError: 'x'", HARNESS_ERROR),
])
def test_failure_categories_follow_the_messages_allure_pytest_writes(status, message, category):
    assert failure_category(status, message) == category.name


def test_environment_values_that_differ_stay_tied_to_their_run():
    merged = merge_environment([("a", "bench=lab3\ndut=ATA s/n 1\n"), ("b", "bench=lab3\ndut=ATA s/n 2\nextra=x\n")])
    assert merged.splitlines() == ["runs=[1] a | [2] b", "bench=lab3", "dut=[1] ATA s/n 1 | [2] ATA s/n 2", "extra=[2] x"]
    assert merge_environment([("a", "bench=lab3\n")]) == "bench=lab3\n"
