"""`tipring sim serve`: the simulated bench's SCPI instruments as servers on loopback.

Anyone can then talk to them with pyvisa (`ResourceManager("@py")`, "\\n" terminations) or any
VISA tool at the printed addresses, while the simulated DUT behaves as the bench file configures
it. The LabJack T7 stand-in is a Python object behind the labjack.ljm functions, not a network
device, so it exists only inside a process that imports it and is not served.

Exit codes: 0 stopped by Ctrl-C or SIGTERM; 2 the bench file is not a simulated bench; 4 the bench
file is unusable.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TextIO

from harness.fixture import FixtureError, load_bench
from harness.simbench import SimulatedBench

EXIT_OK, EXIT_NOT_SIMULATED, EXIT_BAD_FILE = 0, 2, 4
POLL_S = 0.2  # how often the main thread looks at the stop flag (signals are handled between waits)


def serve(path: Path, out: TextIO, err: TextIO) -> int:
    """Start the servers, print one "name  driver  address" line per instrument, and serve until
    SIGINT (Ctrl-C) or SIGTERM. Returns the exit code."""
    try:
        config = load_bench(path)
    except FixtureError as exc:
        print(f"tipring sim serve: {exc}", file=err)
        return EXIT_BAD_FILE
    if not config.simulated:
        print(f"tipring sim serve: {path}: not a simulated bench (it has no simulation section)", file=err)
        return EXIT_NOT_SIMULATED
    sim = SimulatedBench(config, path)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    sim.start()
    try:
        width = max(len(name) for name in config.instruments)
        for name, inst in config.instruments.items():
            where = ("in-process only (the LJM stand-in cannot be served to another process)"
                     if inst.driver == "labjack_t7" else sim.addresses[name])
            print(f"{name.ljust(width)}  {inst.driver.ljust(15)}  {where}", file=out)
        print(f"serving {config.bench.name} from {path}; Ctrl-C or SIGTERM stops", file=out, flush=True)
        while not stop.wait(POLL_S):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", file=out, flush=True)
    return EXIT_OK
