"""How much faster than a real bench the simulated bench runs the compliance suite.

Runs `pytest testplans` on fixtures/sim.yaml for each profile and prints the wall seconds, the
bench seconds the same run needs on hardware (the virtual clock's total), their ratio, and the
peak memory of the run. Target: the simulated run at least 20 times faster than the bench time.

    .venv/bin/python benchmarks/sim_suite.py [--profile us --profile de]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The run happens in a child so that its peak resident memory is its own.
CHILD = ("import resource, sys, pytest; rc = pytest.main(sys.argv[1:]); "
         "print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")


def run(profile: str, allure: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        extra = [f"--alluredir={tmp}/allure-results"] if allure else []
        started = time.perf_counter()
        # hypothesis is a dev dependency of tipring's own tests; a bench install does not load it.
        done = subprocess.run([sys.executable, "-c", CHILD, "testplans", "-q", "-p", "no:cacheprovider",
                               "-p", "no:hypothesispytest",
                               "--profile", profile, f"--tipring-summary={summary}", *extra],
                              cwd=ROOT, capture_output=True, text=True)
        process_s = time.perf_counter() - started
        if done.returncode != 0 or not summary.exists():
            sys.exit(f"profile {profile}: pytest exited {done.returncode}\n{done.stdout[-2000:]}")
        result = json.loads(summary.read_text())
    peak_kib = int(done.stdout.rsplit("PEAK_RSS_KIB", 1)[1].split()[0])  # ru_maxrss is KiB on Linux
    result["peak_rss_mib"] = peak_kib / 1024
    result["process_seconds"] = process_s  # interpreter start to exit, imports and all
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", help="profile(s) to run (default: us and de)")
    profiles = parser.parse_args().profile or ["us", "de"]
    print("wall s: the whole pytest process (start-up, collection, tests, exit); bench s: what the same")
    print("run needs on hardware (the virtual clock); Allure: with --alluredir (plots and CSV rendered).")
    print(f"{'profile':8} {'Allure':6} {'tests':>5} {'wall s':>8} {'bench s':>8} {'speed-up':>9} {'peak MiB':>9}")
    for profile in profiles:
        for allure in (False, True):
            r = run(profile, allure)
            print(f"{profile:8} {'yes' if allure else 'no':6} {r['tests']:5d} {r['process_seconds']:8.2f} "
                  f"{r['bench_seconds']:8.1f} {r['bench_seconds'] / r['process_seconds']:8.1f}x {r['peak_rss_mib']:9.0f}")


if __name__ == "__main__":
    main()
