"""`tipring bench check`: is this bench fit to test on?

Opens every instrument of a bench file, prints one table row per instrument (who it says it is,
where it is, its calibration, its error queue), runs the self-tests the bench file declares, and
names every problem found. The bench is put back in its safe state and closed whatever happens.

Exit codes: 0 all good; 1 an instrument is missing, faulty, out of calibration, or a self-test
failed; 4 the bench file itself is unusable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from harness.bench import Bench, open_bench
from harness.dut import DutControlError
from harness.fixture import Bench as BenchFile
from harness.fixture import FixtureError, SelfTest, load_bench
from instruments.errors import BenchFault
from instruments.protocols import AnalogInput
from instruments.scpi import ERROR_QUEUE_DEPTH, ScpiInstrument

EXIT_OK, EXIT_PROBLEM, EXIT_BAD_FILE = 0, 1, 4
# After the hook relay closes a SLIC settles its loop feed in tens of ms; wait well past that.
HOOK_SETTLE_S = 0.2
LOOP_CAPTURE_S = 0.1  # averaged: several periods of any 50/60 Hz pickup
COLUMNS = ("role", "driver", "address", "maker/model", "serial", "firmware", "calibration due", "error queue")


@dataclass
class Row:
    """One instrument's line in the table; '-' where it could not be read."""

    role: str
    driver: str
    address: str
    maker_model: str = "-"
    serial: str = "-"
    firmware: str = "-"
    calibration: str = "-"
    error_queue: str = "-"

    def cells(self) -> tuple[str, ...]:
        return (self.role, self.driver, self.address, self.maker_model, self.serial, self.firmware,
                self.calibration, self.error_queue)


def calibration_state(due: dt.date | None, today: dt.date) -> tuple[str, bool]:
    """The calibration cell ("2027-11-30 ok", "2020-01-01 OVERDUE") and whether it is overdue."""
    if due is None:
        return "not recorded", False
    if due < today:
        return f"{due} OVERDUE", True
    return f"{due} ok", False


def read_error_queue(inst: ScpiInstrument) -> list[str]:
    """Every error the instrument has queued, oldest first, read with SYST:ERR? until +0."""
    errors = []
    for _ in range(ERROR_QUEUE_DEPTH):
        entry = inst.query("SYST:ERR?")
        if entry.split(",", 1)[0].strip() in ("+0", "0", "-0"):
            return errors
        errors.append(entry)
    return errors


def format_table(rows: list[Row]) -> str:
    """Rows as a plain-text table with a header, columns padded to their widest cell."""
    lines = [COLUMNS, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


@dataclass(frozen=True)
class SelfTestResult:
    """What a self-test read (for the table) and the problem it found, if any."""

    reading: str
    problem: str | None = None


def hook_relay_loop_current(bench: Bench, test: SelfTest) -> SelfTestResult:
    """Close the port's hook relay, read the loop current (mA, mean over LOOP_CAPTURE_S) the DUT
    feeds through the off-hook load, open the relay again."""
    role = bench.fxs(test.port)
    role.go_off_hook()
    try:
        bench.clock.sleep(HOOK_SETTLE_S)
        if not role.off_hook():
            return SelfTestResult("-", f"{test.port}: hook relay {role.cfg.hook_relay} does not read back closed")
        loop_ma = abs(float(np.mean(role.capture(LOOP_CAPTURE_S).loop_i.samples))) * 1e3
    finally:
        role.go_on_hook()
    reading = f"{loop_ma:.1f} mA (at least {test.min_ma:g} mA)"
    if loop_ma < test.min_ma:
        return SelfTestResult(reading, f"{test.port}: {loop_ma:.1f} mA of loop current on {role.cfg.loop_current.input} "
                                       f"with the hook relay {role.cfg.hook_relay} closed, expected at least {test.min_ma:g} mA")
    return SelfTestResult(reading)


def line_voltage_agreement(bench: Bench, test: SelfTest) -> SelfTestResult:
    """Read the idle line's DC volts with the LabJack (through the divider), the voltmeter and
    the scope (through the probe) and compare each with the reference: the voltmeter, the most
    accurate of them, else the LabJack. A divider or probe of the wrong ratio, a swapped input or
    a miscalibrated instrument shows as a difference beyond max_difference_v."""
    role = bench.fxs(test.port)
    cfg = role.cfg
    readings = {f"daq {cfg.line_voltage.input}": float(np.mean(role.capture(LOOP_CAPTURE_S).line_v.samples))}
    if role.voltmeter is not None:
        readings[f"dmm {cfg.voltmeter}"] = role.voltmeter.measure_dc_volts(range_v=100.0)
    if cfg.scope is not None:
        scope = bench.instruments[cfg.scope.instrument]
        expected_v = abs(next(iter(readings.values()))) / cfg.scope.probe_attenuation
        # A range with a quarter to spare, so the whole idle level is on screen and well resolved.
        inp = AnalogInput(f"{test.port}.scope", f"CHAN{cfg.scope.channel}", range_v=max(1.25 * expected_v, 0.01),
                          scale=cfg.scope.probe_attenuation)
        line_v = scope.capture([inp], LOOP_CAPTURE_S, 10_000.0)[inp.name]
        readings[f"scope {cfg.scope.input}"] = float(np.mean(line_v.samples))
    reference_name = next((n for n in readings if n.startswith("dmm")), next(iter(readings)))
    reference = readings[reference_name]
    reading = ", ".join(f"{name} {v:.3f} V" for name, v in readings.items())
    worst = max(readings, key=lambda n: abs(readings[n] - reference))
    difference = abs(readings[worst] - reference)
    if difference > test.max_difference_v:
        return SelfTestResult(reading, f"{test.port}: {worst} reads {readings[worst]:.3f} V, {difference:.3f} V "
                                       f"from {reference_name} ({reference:.3f} V); at most "
                                       f"{test.max_difference_v:g} V allowed")
    return SelfTestResult(reading + f" (within {test.max_difference_v:g} V)")


SELF_TESTS = {"hook_relay_loop_current": hook_relay_loop_current, "line_voltage_agreement": line_voltage_agreement}


def _rows_from_file(config: BenchFile, today: dt.date) -> tuple[list[Row], list[str]]:
    """A row per instrument from the bench file alone, and the overdue calibrations."""
    rows, problems = [], []
    for name, inst in config.instruments.items():
        calibration, overdue = calibration_state(inst.calibration_due, today)
        rows.append(Row(name, inst.driver, inst.address, calibration=calibration))
        if overdue:
            problems.append(f"{name} ({inst.driver}): calibration overdue since {inst.calibration_due}")
    return rows, problems


def _fill_from_instruments(bench: Bench, rows: list[Row]) -> list[str]:
    """Identity, live address and error queue of every open instrument; the problems found."""
    problems = []
    for row in rows:
        inst = bench.instruments[row.role]
        ident = inst.identity
        row.address = bench.addresses[row.role]
        row.maker_model, row.serial, row.firmware = f"{ident.maker} {ident.model}", ident.serial, ident.firmware
        if not isinstance(inst, ScpiInstrument):
            row.error_queue = "n/a"  # the T7 reports errors per call, it keeps no queue
            continue
        try:
            errors = read_error_queue(inst)
        except BenchFault as fault:
            row.error_queue = "FAULT"
            problems.append(str(fault))
            continue
        row.error_queue = "; ".join(errors) if errors else "empty"
        if errors:
            problems.append(f"{row.role} at {row.address}: error queue holds {'; '.join(errors)}")
    return problems


def _run_self_tests(bench: Bench, out: TextIO) -> list[str]:
    problems = []
    if bench.config.self_tests:
        print("\nself-tests:", file=out)
    for test in bench.config.self_tests:
        try:
            result = SELF_TESTS[test.check](bench, test)
        except BenchFault as fault:
            result = SelfTestResult("-", f"{test.port} {test.check}: {fault}")
        verdict = "FAIL" if result.problem else "pass"
        print(f"  {test.port} {test.check}: {result.reading}: {verdict}", file=out)
        if result.problem:
            problems.append(result.problem)
    return problems


def check_bench(path: Path, today: dt.date, out: TextIO, err: TextIO) -> int:
    """Check the bench described by the file at `path`; print the table to `out` and one line per
    problem to `err`. Returns the exit code."""
    try:
        config = load_bench(path)
    except FixtureError as exc:
        print(f"tipring bench check: {exc}", file=err)
        return EXIT_BAD_FILE
    rows, problems = _rows_from_file(config, today)
    try:
        bench = open_bench(config, path)
    except (FixtureError, DutControlError) as exc:
        print(f"tipring bench check: {exc}", file=err)
        return EXIT_BAD_FILE
    except BenchFault as fault:
        for row in rows:
            row.error_queue = "FAULT" if row.role == fault.instrument else "not opened"
        print(format_table(rows), file=out)
        for problem in [str(fault), *problems]:
            print(f"tipring bench check: {problem}", file=err)
        return EXIT_PROBLEM
    try:
        problems += _fill_from_instruments(bench, rows)
        print(format_table(rows), file=out)
        problems += _run_self_tests(bench, out)
    finally:
        problems += [f"safe state not restored: {p}" for p in bench.restore_safe_state()]
        bench.close()
    for problem in problems:
        print(f"tipring bench check: {problem}", file=err)
    if problems:
        return EXIT_PROBLEM
    print(f"\n{config.bench.name}: {len(rows)} instruments, {len(config.self_tests)} self-test{'' if len(config.self_tests) == 1 else 's'}: OK", file=out)
    return EXIT_OK
