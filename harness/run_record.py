"""What a run was: bench, instruments, DUT, profile, software, operator, time.

Written into the Allure results as environment.properties (shown as the report's metadata) and
as tipring-run.json (read by `tipring report` for the requirement traceability matrix).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness.fixture import Bench
from harness.profile import Profile

REPO_ROOT = Path(harness.__file__).resolve().parent.parent
RUN_FILE = "tipring-run.json"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tipring_commit() -> str:
    """The git commit tipring runs from (with "+changes" for a dirty tree), or "unknown"."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def default_operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class RunRecord:
    bench: Bench
    bench_path: Path
    profile: Profile
    operator: str
    dut: dict[str, str]  # maker, model, serial, firmware (bench file, overridden from the command line)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    finished: dt.datetime | None = None
    identities: dict[str, str] = field(default_factory=dict)  # instrument name -> "maker model s/n fw"
    addresses: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        b, p = self.bench, self.profile
        env = {
            "bench": b.bench.name,
            "bench_file": f"{self.bench_path} (sha256 {file_sha256(self.bench_path)[:16]})",
            "simulated": str(b.simulated).lower(),
            "station": b.bench.station,
            "operator": self.operator,
            "dut": "{maker} {model} s/n {serial} fw {firmware}".format(**self.dut),
            "profile": f"{p.name} {p.version}",
            "tipring": f"{harness.__version__} ({tipring_commit()})",
            "python": platform.python_version(),
            "started": self.started.isoformat(timespec="seconds"),
            "finished": self.finished.isoformat(timespec="seconds") if self.finished else "",
        }
        for name, inst in b.instruments.items():
            due = f", calibration due {inst.calibration_due}" if inst.calibration_due else ""
            if inst.calibration_due and inst.calibration_due < self.started.date():
                due += " (OVERDUE)"
            who = self.identities.get(name, f"{inst.driver} (not opened)")
            env[f"instrument.{name}"] = f"{who} at {self.addresses.get(name, inst.address)}{due}"
        return env

    def as_json(self) -> dict:
        p = self.profile
        return {
            "environment": self.environment(),
            "bench": self.bench.bench.name,
            "dut": self.dut,
            "profile": {"name": p.name, "version": p.version, "title": p.title,
                        "requirements": {k: r.model_dump() for k, r in p.requirements.items()}},
        }

    def write(self, alluredir: Path) -> None:
        alluredir.mkdir(parents=True, exist_ok=True)
        lines = [f"{k.replace(' ', '_')}={str(v).replace(chr(10), ' ')}" for k, v in self.environment().items()]
        (alluredir / "environment.properties").write_text("\n".join(lines) + "\n")
        (alluredir / RUN_FILE).write_text(json.dumps(self.as_json(), indent=1))
