"""What the drivers add to the instrument traffic they cause, and the LabJack stream rate they keep up with.

SCPI drivers: each case runs one driver operation against its simulated instrument (SCPI over
loopback TCP through pyvisa-py), records the exact traffic it causes, then sends that same traffic
through a bare pyvisa session, interleaving the two. The driver's own Python cost is the
difference of the medians; it is reported as % added to the raw round trips (target: under 10 %).
The raw traffic includes the SYST:ERR? check after every write; what those checks cost is
reported apart: the time of their round trips within the raw traffic (each also waits for the
instrument to finish the write before it).

LabJack T7: the driver's stream loop (LabJackT7.stream, as the roles use it) on the simulated T7,
in scans per wall second: end to end (driver + labjack.ljm wrapper + simulated device), and the
driver alone (the time outside ljm.eStreamRead), against the scan rate it must sustain.

    .venv/bin/python benchmarks/instruments.py [--bench PATH ...] [--repeat 300]

By default it runs on fixtures/sim.yaml and fixtures/sim-families.yaml, which between them hold
every family tipring drives.

A new driver is one line in CASES, naming its instrument in the bench file (a bench whose
simulation serves it, given with --bench); cases whose instrument the bench lacks are listed as
skipped.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# Run as a script, this file's folder heads sys.path, and this file's name would hide the
# `instruments` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import pyvisa  # noqa: E402

from harness.bench import CLOCKED, SCPI_DRIVERS  # noqa: E402
from harness.fixture import load_bench  # noqa: E402
from harness.simbench import SimulatedBench  # noqa: E402
from instruments.labjack_t7 import LabJackT7  # noqa: E402
from instruments.protocols import AnalogInput  # noqa: E402
from instruments.sim.ljm import sustained_stream_rate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    """One driver operation: the bench file's instrument, what is shown, the call, keyword
    arguments for the driver's constructor (e.g. {"channel": 2}), and the driver it needs (when
    the operation is one only that family has)."""

    instrument: str
    operation: str
    run: Callable[[object], object]
    options: dict = field(default_factory=dict)
    driver: str | None = None


ARB_SAMPLES_V = 0.5 * np.sin(np.arange(8000) * 0.1)  # made once: only the driver's own work is timed

CASES = [
    Case("dmm", "query('*IDN?')", lambda dmm: dmm.query("*IDN?")),
    Case("dmm", "measure_dc_volts(100)", lambda dmm: dmm.measure_dc_volts(100.0)),
    Case("dmm", "measure_frequency_hz()", lambda dmm: dmm.measure_frequency_hz()),
    Case("gen", "set_sine(20 Hz, 2 Vpp)", lambda gen: gen.set_sine(20.0, 2.0)),
    Case("gen", "set_burst(40, 6 s)", lambda gen: gen.set_burst(40, 6.0)),
    Case("gen", "set_output(False)", lambda gen: gen.set_output(False)),
    Case("psu", "set_voltage(48)", lambda psu: psu.set_voltage(48.0)),
    Case("psu", "measure_voltage()", lambda psu: psu.measure_voltage()),
    Case("aux", "set_voltage(12)", lambda psu: psu.set_voltage(12.0)),
    Case("aux", "measure_current()", lambda psu: psu.measure_current()),
    Case("aux2", "set_voltage(5)", lambda psu: psu.set_voltage(5.0)),
    Case("aux2", "measure_voltage()", lambda psu: psu.measure_voltage()),
    # Channel 1 of sim-families.yaml's 33600A is free (its ring source is channel 2).
    Case("gen", "burst off, set_arb(8000 points)",
         lambda gen: (gen.set_burst(None), gen.set_arb(ARB_SAMPLES_V, 8000.0)),
         {"channel": 1}, driver="keysight_33600a"),
    Case("scope", "setup_channel(1, 0.5 V/div)", lambda scope: scope.setup_channel(1, 0.5)),
    Case("scope", "set_timebase(10 ms/div)", lambda scope: scope.set_timebase(0.01)),
]

# (inputs, scan rate Hz, chunk s): the roles' captures (2 inputs at 8 kHz in 20 ms chunks), and the
# T7's aggregate limit of 100 kS/s.
STREAMS = [(2, 8000.0, 0.02), (2, 8000.0, 0.5), (2, 50_000.0, 0.1)]
STREAM_BENCH_S = 4.0  # bench seconds streamed per configuration

SENDS = ("write", "query", "write_binary_values", "query_binary_values")


class TrafficRecorder:
    """A pyvisa resource stand-in that passes everything through and records what is sent."""

    def __init__(self, resource):
        object.__setattr__(self, "_resource", resource)
        object.__setattr__(self, "traffic", [])

    def __getattr__(self, name: str):
        attribute = getattr(self._resource, name)
        if name not in SENDS:
            return attribute

        def send(*args, **kwargs):
            self.traffic.append((name, args, kwargs))
            return attribute(*args, **kwargs)
        return send

    def __setattr__(self, name: str, value) -> None:
        setattr(self._resource, name, value)


def is_error_check(exchange: tuple) -> bool:
    name, args, _ = exchange
    return name == "query" and args[0] == "SYST:ERR?"


def replay(resource, traffic: list) -> float:
    """Send `traffic` again; the seconds its SYST:ERR? checks took (each also waits for the
    instrument to finish the write before it, which is what checking costs)."""
    checks_s = 0.0
    for exchange in traffic:
        name, args, kwargs = exchange
        started = time.perf_counter()
        getattr(resource, name)(*args, **kwargs)
        if is_error_check(exchange):
            checks_s += time.perf_counter() - started
    return checks_s


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def open_session(rm: pyvisa.ResourceManager, address: str, timeout_ms: int):
    return rm.open_resource(address, read_termination="\n", write_termination="\n", timeout=timeout_ms)


def scpi_case(case: Case, sim: SimulatedBench, config, rm: pyvisa.ResourceManager, repeat: int) -> dict:
    """Medians (s) of the driver operation, of its raw traffic, and of the SYST:ERR? checks in it."""
    inst = config.instruments[case.instrument]
    driver_class = SCPI_DRIVERS[inst.driver]
    address = sim.addresses[case.instrument]
    recorder = TrafficRecorder(open_session(rm, address, inst.timeout_ms))
    options = {**case.options, **({"clock": sim.clock} if inst.driver in CLOCKED else {})}
    with driver_class(address, case.instrument, resource=recorder, **options) as recording:
        case.run(recording)  # the state the timed calls start from
        del recorder.traffic[:]
        case.run(recording)
        traffic = list(recorder.traffic)
    session = open_session(rm, address, inst.timeout_ms)
    driver_s, raw_s, checks_s = [], [], []
    with driver_class(address, case.instrument, resource=session, **options) as driver:
        gc.disable()  # a collection landing in one sample and not the other would be noise
        try:
            for i in range(repeat):
                if i % 2:  # alternate which goes first
                    driver_s.append(timed(lambda: case.run(driver)))
                started = time.perf_counter()
                checks_s.append(replay(session, traffic))
                raw_s.append(time.perf_counter() - started)
                if not i % 2:
                    driver_s.append(timed(lambda: case.run(driver)))
        finally:
            gc.enable()
    return {"driver": statistics.median(driver_s), "raw": statistics.median(raw_s),
            "checks_s": statistics.median(checks_s), "exchanges": len(traffic),
            "checks": sum(map(is_error_check, traffic))}


def stream_case(sim: SimulatedBench, config, inputs_n: int, rate_hz: float, chunk_s: float) -> dict:
    """Wall time of streaming STREAM_BENCH_S through the driver, and the part spent in eStreamRead."""
    name = next(n for n, inst in config.instruments.items() if inst.driver == "labjack_t7")
    ljm = sim.ljm
    in_library = []
    library_read = ljm.eStreamRead

    def timed_read(handle):
        started = time.perf_counter()
        try:
            return library_read(handle)
        finally:
            in_library.append(time.perf_counter() - started)

    ljm.eStreamRead = timed_read  # this bench's private copy of the wrapper, nobody else's
    ains = ["AIN0", "AIN4", "AIN2", "AIN6"][:inputs_n]  # wired on fixtures/sim.yaml's jig
    inputs = [AnalogInput(f"in{i}", ain, 10.0, 20.0, "V") for i, ain in enumerate(ains)]
    daq = LabJackT7(ljm, identifier=sim.addresses[name], name=name, clock=sim.clock)
    try:
        chunks = round(STREAM_BENCH_S / chunk_s)
        stream = daq.stream(inputs, rate_hz, chunk_s)
        started = time.perf_counter()
        try:
            for _ in zip(range(chunks), stream):
                pass
        finally:
            stream.close()
        wall_s = time.perf_counter() - started
    finally:
        daq.close()
        ljm.eStreamRead = library_read
    scans = chunks * round(chunk_s * rate_hz)
    return {"scans": scans, "wall": wall_s, "library": sum(in_library), "reads": len(in_library)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="append", help="a simulated bench file (repeatable; default: "
                                                              "fixtures/sim.yaml and fixtures/sim-families.yaml)")
    parser.add_argument("--repeat", type=int, default=300, help="samples per median (default 300)")
    args = parser.parse_args()
    benches = args.bench or [str(ROOT / "fixtures" / "sim.yaml"), str(ROOT / "fixtures" / "sim-families.yaml")]
    print(f"SCPI drivers over pyvisa-py on the simulators, median of {args.repeat}; raw = the same")
    print("traffic through a bare pyvisa session; exch = exchanges, chk = of them SYST:ERR? checks;")
    print("added = the driver's own cost; checks = what the SYST:ERR? round trips take of the raw time.")
    print(f"{'driver':22} {'operation':27} {'exch':>4} {'chk':>3} {'raw ms':>7} {'driver ms':>9} "
          f"{'added':>7} {'added us':>8} {'checks ms':>9} {'checks %':>8}")
    for path in benches:
        config = load_bench(path)
        if not config.simulated:
            parser.error(f"{path}: not a simulated bench")
        sim = SimulatedBench(config, Path(path))
        sim.start()
        try:
            rm = pyvisa.ResourceManager("@py")
            for case in CASES:
                inst = config.instruments.get(case.instrument)
                if inst is None or case.driver not in (None, inst.driver):
                    continue
                r = scpi_case(case, sim, config, rm, args.repeat)
                added = (r["driver"] - r["raw"]) / r["raw"] * 100
                checks_s = r["checks_s"]
                print(f"{config.instruments[case.instrument].driver:22} {case.operation:27} {r['exchanges']:4d} "
                      f"{r['checks']:3d} {r['raw'] * 1e3:7.3f} {r['driver'] * 1e3:9.3f} {added:+6.1f}% "
                      f"{(r['driver'] - r['raw']) * 1e6:+8.1f} {checks_s * 1e3:9.3f} "
                      f"{checks_s / r['raw'] * 100:7.0f}%")
        finally:
            sim.stop()
    print()
    config = load_bench(benches[0])
    sim = SimulatedBench(config, Path(benches[0]))
    sim.start()
    try:
        print(f"LabJack T7 stream through the driver on the simulated T7, {STREAM_BENCH_S:g} bench s each;")
        print("x real time = scans per wall second / scan rate (>= 1: keeps up without backlog).")
        print(f"{'inputs':>6} {'rate Hz':>8} {'chunk s':>7} {'end-to-end scans/s':>18} {'x real time':>11} "
              f"{'driver us/read':>14} {'driver-only scans/s':>19} {'x real time':>11}")
        for inputs_n, rate_hz, chunk_s in STREAMS:
            r = stream_case(sim, config, inputs_n, rate_hz, chunk_s)
            driver_s = r["wall"] - r["library"]
            print(f"{inputs_n:6d} {rate_hz:8.0f} {chunk_s:7.2f} {r['scans'] / r['wall']:18.0f} "
                  f"{r['scans'] / r['wall'] / rate_hz:11.1f} {driver_s / r['reads'] * 1e6:14.0f} "
                  f"{r['scans'] / driver_s:19.0f} {r['scans'] / driver_s / rate_hz:11.1f}")
    finally:
        sim.stop()
    print()
    print("LabJack T7 stream in real time: the simulated T7 fills its buffer on the wall clock and the")
    print("driver must keep up (a backlog that would lose data is a bench fault, so a row is a pass).")
    print(f"{'inputs':>6} {'rate Hz':>8} {'chunk s':>7} {'sustainable scans/s':>19} {'x needed':>8}")
    for inputs_n, rate_hz, chunk_s in [(2, 8000.0, 0.02), (2, 50_000.0, 0.0005)]:
        r = sustained_stream_rate(scan_rate_hz=rate_hz, inputs=inputs_n, chunk_s=chunk_s, duration_s=1.0)
        print(f"{inputs_n:6d} {rate_hz:8.0f} {chunk_s:7.4f} {r.sustainable_scans_per_s:19.0f} "
              f"{r.sustainable_scans_per_s / rate_hz:8.1f}")


if __name__ == "__main__":
    main()
