"""The tipring pytest plugin: options, markers, fixtures, measurements and Allure output.

    pytest testplans                       # the simulated bench in fixtures/sim.yaml, its profile
    pytest testplans --bench lab3.yaml --profile de --port fxs1 -m fxs
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import allure
import pytest

from harness import report
from harness.dut import DutControlError
from harness.fixture import FixtureError, load_bench
from harness.measurement import Measurement, MeasurementLog, Outcome
from harness.profile import load_profile
from harness.run_record import RunRecord, default_operator
from instruments.errors import BenchFault

DEFAULT_BENCH = "fixtures/sim.yaml"
# Before each test the line rests on hook longer than the longest hook flash, so the DUT has
# surely seen the previous test's hang-up: [S30] TLS-4A hook-flash window 300-1100 ms.
IDLE_SETTLE_S = 1.5
_LOG = pytest.StashKey[MeasurementLog]()
_STATE = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("tipring", "tipring telephony bench")
    g.addoption("--bench", metavar="PATH", help=f"bench (test-jig) file; default: ini tipring_bench or {DEFAULT_BENCH}")
    g.addoption("--profile", metavar="NAME", help="limit profile (testplans/profiles/NAME.yaml or a path); default: the bench file's")
    g.addoption("--port", action="append", default=[], metavar="NAME", help="run only on this port (repeatable)")
    g.addoption("--tipring-summary", metavar="PATH", help="write the run's bench and wall seconds as JSON")
    g.addoption("--operator", metavar="NAME", help="who runs the test, for the report (default: the login name)")
    g.addoption("--dut-serial", metavar="SERIAL", help="the DUT's serial number (overrides the bench file's)")
    g.addoption("--dut-firmware", metavar="VERSION", help="the DUT's firmware (overrides the bench file's)")
    g.addoption("--accept-overdue-calibration", action="store_true",
                help="run although an instrument's calibration is overdue (the report still says so)")
    parser.addini("tipring_bench", "bench (test-jig) file used when --bench is not given")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fxs: a test of an FXS port (the DUT supplies the line)")
    config.addinivalue_line("markers", "fxo: a test of an FXO port (the bench supplies the line)")
    config.addinivalue_line("markers", "requirement(*ids): the profile requirements this test verifies")
    report.collecting = bool(config.getoption("allure_report_dir", None))
    state = {"bench_path": None, "bench": None, "profile": None, "started": time.monotonic()}
    config.stash[_STATE] = state
    explicit = config.getoption("--bench") or config.getini("tipring_bench")
    path = Path(explicit) if explicit else config.rootpath / DEFAULT_BENCH
    if not path.is_absolute() and not path.exists():
        path = config.rootpath / path
    state["bench_path"] = path
    # Validate everything before a single relay can switch: a bad file is a usage error (exit 4).
    if explicit or path.exists():
        try:
            state["bench"] = load_bench(path)
            state["profile"] = load_profile(config.getoption("--profile") or state["bench"].bench.default_profile)
        except FixtureError as exc:
            raise pytest.UsageError(str(exc)) from None
        dut = state["bench"].dut
        state["record"] = RunRecord(
            state["bench"], path, state["profile"], config.getoption("--operator") or default_operator(),
            {"maker": dut.maker, "model": dut.model, "serial": config.getoption("--dut-serial") or dut.serial,
             "firmware": config.getoption("--dut-firmware") or dut.firmware})
        unknown = [p for p in config.getoption("--port") if p not in state["bench"].ports]
        if unknown:
            raise pytest.UsageError(f"{path}: --port {unknown[0]}: no such port (ports: {', '.join(state['bench'].ports)})")
    elif config.getoption("--profile") or config.getoption("--port"):
        raise pytest.UsageError(f"{path}: no bench file (give --bench PATH or set tipring_bench in the ini file)")


def _ports(config: pytest.Config, kind: str) -> list[str]:
    bench = config.stash[_STATE]["bench"]
    if bench is None:
        return []
    chosen = config.getoption("--port")
    return [name for name, p in bench.ports.items() if p.kind == kind and (not chosen or name in chosen)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for kind in ("fxs", "fxo"):
        if kind in metafunc.fixturenames:
            metafunc.parametrize(f"{kind}_port", _ports(metafunc.config, kind))


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config):
    """The active limit profile (harness.profile.Profile)."""
    state = pytestconfig.stash[_STATE]
    if state["profile"] is None:
        pytest.fail(f"{state['bench_path']}: no bench file (give --bench PATH)", pytrace=False)
    return state["profile"]


@pytest.fixture(scope="session")
def bench(pytestconfig: pytest.Config, profile):
    """The assembled bench: instruments open, DUT provisioned for the profile, safe state owned."""
    from harness.bench import open_bench  # imported late: `pytest tests` need not load drivers

    state = pytestconfig.stash[_STATE]
    overdue = overdue_calibrations(state["bench"], dt.date.today())
    if overdue and not pytestconfig.getoption("--accept-overdue-calibration"):
        pytest.fail(f"bench fault: {overdue[0]} (--accept-overdue-calibration to run anyway)", pytrace=False)
    try:
        b, fault = open_bench(state["bench"], state["bench_path"]), None
    except (BenchFault, FixtureError, DutControlError) as exc:
        fault = str(exc)
    if fault:
        pytest.fail(fault, pytrace=False)  # one line on every test that needs the bench
    state["open_bench"] = b
    state["record"].identities = {name: str(ident) for name, ident in b.identities.items()}
    state["record"].addresses = dict(b.addresses)
    b.safety.install_sigterm()
    try:
        b.dut.provision(profile)
        b.restore_safe_state()
        yield b
    finally:
        problems = b.restore_safe_state()
        state["safe_state"] = "NOT restored: " + "; ".join(problems) if problems else "restored"
        b.safety.uninstall_sigterm()
        b.close()
        state["open_bench"] = None
        if problems:
            pytest.fail("safe state not fully restored: " + "; ".join(problems), pytrace=False)


def overdue_calibrations(bench, today: dt.date) -> list[str]:
    """One line per instrument whose calibration due date has passed."""
    return [f"{name} at {inst.address}: calibration overdue since {inst.calibration_due}"
            for name, inst in bench.instruments.items() if inst.calibration_due and inst.calibration_due < today]


def _port_role(request, bench, kind: str, port: str):
    role = bench.fxs(port) if kind == "fxs" else bench.fxo(port)
    t0 = bench.clock.now()
    bench.restore_safe_state()
    bench.clock.sleep(IDLE_SETTLE_S)
    yield role
    problems = bench.restore_safe_state()
    bench_s = bench.clock.now() - t0
    request.node.user_properties.append(("bench_seconds", round(bench_s, 3)))
    allure.dynamic.label("bench_seconds", f"{bench_s:.1f}")  # what the test takes on hardware
    request.config.stash[_STATE].setdefault("bench_seconds", 0.0)
    request.config.stash[_STATE]["bench_seconds"] += bench_s
    if problems:
        raise RuntimeError("safe state not restored after the test: " + "; ".join(problems))


@pytest.fixture
def fxs(request, bench, fxs_port):
    """The FXS port under test seen from the phone side (harness.roles.FxsPhoneSide)."""
    yield from _port_role(request, bench, "fxs", fxs_port)


@pytest.fixture
def fxo(request, bench, fxo_port):
    """The line the bench presents to the FXO port under test (harness.roles.FxoLineSide)."""
    yield from _port_role(request, bench, "fxo", fxo_port)


class Recorder:
    """`measure(name, value)`: record a measurement against the profile's limit of that name.

    nominal: for tolerance limits whose nominal comes from the signals (each dial-tone frequency);
    at: the other measurement's value for a mask limit; label: the name shown when one limit is
    used for several values (e.g. "ring_cadence_ms[on 1]"); clipped: the capture hit its range.
    """

    def __init__(self, log: MeasurementLog, profile):
        self._log = log
        self._profile = profile

    def __call__(self, key: str, value: float | None, *, nominal: float | None = None, at: float | None = None,
                 label: str | None = None, clipped: bool = False, note: str = "") -> Measurement:
        limit = self._profile.limit(key, nominal=nominal, at=at)
        m = self._log.add(label or key, value, limit, clipped=clipped, note=note)
        try:
            with allure.step(m.describe()):
                if m.outcome is Outcome.FAIL:
                    raise MeasurementFailed(m.describe())  # marks the step failed; the test goes on
        except MeasurementFailed:
            pass
        return m


class LimitsFailed(AssertionError):
    """The DUT failed measurements (or the test measured nothing); the message lists them."""


class MeasurementFailed(AssertionError):
    """Raised inside a measurement's Allure step so the step tree shows which one failed."""


@pytest.fixture
def measure(request, profile) -> Recorder:
    """Record measurements (harness.measurement) against the active profile's limits."""
    log = MeasurementLog()
    request.node.stash[_LOG] = log
    for mark in request.node.iter_markers("requirement"):
        for req in mark.args:
            if req not in profile.requirements:
                pytest.fail(f"{request.node.nodeid}: requirement {req!r} is not in profile {profile.name!r}", pytrace=False)
    return Recorder(log, profile)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Requirement labels and the profile go on the test before any fixture can fail, so even a
    test that never ran (a bench fault) shows in the traceability matrix."""
    prof = item.config.stash[_STATE]["profile"]
    if prof is None:
        return
    allure.dynamic.parameter("profile", prof.name)
    for mark in item.iter_markers("requirement"):
        for req in mark.args:
            allure.dynamic.label("requirement", req)
            if req in prof.requirements:
                allure.dynamic.link(f"#{req}", link_type="requirement", name=f"{req}: {prof.requirements[req].text}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    result = yield
    log = item.stash.get(_LOG, None)
    if log is not None:
        records = [m.as_record() for m in log.measurements]
        for record in records:  # JUnit properties, for CI systems that read JUnit XML
            item.user_properties.append((f"measurement.{record['name']}", json.dumps(record)))
        if report.collecting:
            allure.attach(report.measurement_table_html(log.measurements), name="measurements",
                          attachment_type=allure.attachment_type.HTML)
            allure.attach(json.dumps(records, indent=1), name="measurements.json",
                          attachment_type=allure.attachment_type.JSON)
        if log.failed:
            raise LimitsFailed(log.failure_message())
        if not log.measurements:
            raise LimitsFailed("the test recorded no measurement")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    rep = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, BenchFault):
        # The bench's problem, not the DUT's: one line, no driver traceback.
        rep.longrepr = str(call.excinfo.value)
        item.user_properties.append(("bench_fault", str(call.excinfo.value)))
    elif call.excinfo is not None and isinstance(call.excinfo.value, LimitsFailed):
        rep.longrepr = str(call.excinfo.value)  # the values and limits, not the plugin's code
    return rep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    b = state.get("open_bench")
    if b is not None:
        # Ctrl-C and SIGTERM land here too; each step runs whatever the others do.
        problems = b.restore_safe_state()
        state["safe_state"] = "NOT restored: " + "; ".join(problems) if problems else "restored"
    if hasattr(session.config, "workerinput"):
        return
    alluredir = session.config.getoption("allure_report_dir", None)
    if alluredir and state.get("record") is not None:
        state["record"].finished = dt.datetime.now(dt.timezone.utc)
        state["record"].write(Path(alluredir))
    summary = session.config.getoption("--tipring-summary")
    if summary:
        Path(summary).write_text(json.dumps({
            "bench_seconds": state.get("bench_seconds", 0.0),
            "wall_seconds": time.monotonic() - state["started"],
            "tests": session.testscollected,
        }))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state and "safe_state" in state:
        terminalreporter.write_line(f"tipring: safe state {state['safe_state']}")
    if state and state.get("bench_seconds"):
        wall = time.monotonic() - state["started"]
        terminalreporter.write_line(
            f"tipring: {state['bench_seconds']:.1f} s of bench time in {wall:.1f} s wall "
            f"({'simulated' if state['bench'].simulated else 'hardware'} bench {state['bench'].bench.name!r}, "
            f"profile {state['profile'].name!r})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Auto-mark by the port kind a test uses so `-m fxs` works without decorating every test.
    for item in items:
        for kind in ("fxs", "fxo"):
            if kind in getattr(item, "fixturenames", ()) and not item.get_closest_marker(kind):
                item.add_marker(getattr(pytest.mark, kind))
    # --port deselects (like -k) the tests that have no chosen port of their kind.
    if config.getoption("--port"):
        chosen = set(config.getoption("--port"))
        keep, drop = [], []
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            ports = [params.get(f"{kind}_port") for kind in ("fxs", "fxo") if f"{kind}_port" in getattr(item, "fixturenames", ())]
            (drop if ports and not all(p in chosen for p in ports) else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

