"""The report of a simulated run, opened in a real browser (Debian's chromium through playwright):
what a lab manager sees must actually be shown, not only be present in the results files."""

import json
import shutil
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags the sandbox needs: no setuid sandbox as root, and no background connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency (make test installs it)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make test installs it)")


def run_plans(results: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "pytest", "testplans", "-q", "-p", "no:cacheprovider",
                    f"--alluredir={results}", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert any(results.glob("*-result.json")), f"no results in {results}"


class _Silent(socketserver.BaseRequestHandler):
    """An instrument that accepts the connection and never answers: every query times out."""

    def handle(self):
        while self.request.recv(1024):
            pass


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A compliant run, a run with a defective DUT and a run whose DMM stops answering, merged
    into one single-file report."""
    tmp = tmp_path_factory.mktemp("report")
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Silent) as silent:
        silent.daemon_threads = True
        threading.Thread(target=silent.serve_forever, daemon=True).start()
        stalled = yaml.safe_load((ROOT / "fixtures" / "sim.yaml").read_text())
        del stalled["simulation"]
        stalled["dut"]["control"] = {"ring": "true", "stop_ringing": "true"}
        stalled["instruments"]["dmm"].update(address=f"TCPIP::127.0.0.1::{silent.server_address[1]}::SOCKET", timeout_ms=300)
        bench = tmp / "stalled.yaml"
        bench.write_text(yaml.safe_dump(stalled))
        run_plans(tmp / "stalled", "--bench", str(bench), "-k", "on_hook_battery")
        silent.shutdown()
    run_plans(tmp / "compliant", "-k", "ring_voltage or on_hook_battery or answers")
    defective = yaml.safe_load((ROOT / "fixtures" / "sim.yaml").read_text())
    defective["simulation"]["ports"]["fxs1"] = {"ring_vrms": 30.0}
    bench = tmp / "defective.yaml"
    bench.write_text(yaml.safe_dump(defective))
    run_plans(tmp / "defective", "--bench", str(bench), "-k", "ring_voltage")
    out = tmp / "out"
    done = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(tmp / "compliant"), str(tmp / "defective"),
                           str(tmp / "stalled"), "-o", str(out), "--single-file"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, report: Path, fragment: str, shown: str):
    """Open the report (at a deep link) and wait until the single-page app shows `shown`."""
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"file://{report / 'index.html'}{fragment}")
    page.get_by_text(shown).first.wait_for(timeout=20_000)
    return page


def result_id(report: Path, name: str, status: str) -> str:
    results = json.loads((report / "test-results.json").read_text())["byId"]
    return next(i for i, r in results.items() if r["name"].startswith(name) and r["status"] == status)


def test_overview_shows_the_bench_and_its_instruments(browser, report):
    page = open_page(browser, report, "", "Metadata")
    page.get_by_text("Show more").first.click()
    text = page.inner_text("body")
    for shown in ("tipring-sim", "us 2026.11.0", "tipring simulated SLIC/DAA s/n SIM-0001",
                  "Keysight Technologies 34461A", "LabJack T7", "calibration due 2027-11-30", "operator"):
        assert shown in text, shown


def test_a_failed_test_shows_its_measurement_table_and_plot(browser, report):
    page = open_page(browser, report, "#" + result_id(report, "test_ring_voltage", "failed"), "ring_vrms = ")
    body = page.inner_text("body")
    assert "ring_vrms = 29.54 Vrms, limit 40 .. 90 Vrms: FAIL" in body
    assert "FXS-RING-1" in body
    page.get_by_text("measurements", exact=True).first.click()
    rows = frame_text(page, "measurement\tvalue")
    assert "ring_vrms\t29.5" in rows and "FAIL" in rows and "ring_crest_factor\t1.41" in rows
    page.get_by_text("ringing.png").first.click()
    page.wait_for_function("() => [...document.images].some(i => i.naturalWidth >= 800)")


def frame_text(page, containing: str, timeout_s: float = 20.0) -> str:
    """The text of the attachment frame (Allure previews HTML in a sandboxed iframe) that shows
    `containing`, once it has loaded."""
    for _ in range(int(timeout_s * 10)):
        for frame in page.frames:
            try:
                text = frame.inner_text("body", timeout=100)
            except Exception:  # noqa: BLE001 - a frame still loading
                continue
            if containing in text:
                return text
        page.wait_for_timeout(100)
    raise AssertionError(f"no frame shows {containing!r}")


def test_categories_keep_dut_failures_apart_from_bench_faults(browser, report):
    page = open_page(browser, report, "#categories", "DUT failed its limits")
    text = page.inner_text("body")
    assert "DUT failed its limits\n1" in text  # the weak ringing
    assert "Bench fault: instrument error, timeout or calibration overdue\n1" in text  # the DMM that stopped answering


def test_traceability_matrix_is_shown(browser, report):
    page = open_page(browser, report, "", "Global Attachments")
    page.get_by_text("Global Attachments").first.click()
    page.get_by_text("Requirement traceability").first.click()
    matrix = frame_text(page, "Requirement\tResult")  # the matrix table, inside its preview frame
    assert "profile us 2026.11.0" in matrix and "not covered" in matrix
    ring = matrix[matrix.index("FXS-RING-1"):]
    assert "failed" in ring.split("FXS-RING-2")[0] and "ring_vrms" in ring  # the defective run's ring voltage
