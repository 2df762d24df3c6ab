"""The `tipring` command.

    tipring report [RESULTS_DIR ...] [-o OUT] [--single-file] [--name NAME]
        build one Allure HTML report (and OUT/traceability.csv) from one or several runs' results
    tipring bench check [--bench PATH]
        open every instrument, print who and where they are, run the bench file's self-tests
    tipring sim serve [--bench PATH]
        serve the simulated bench's SCPI instruments on loopback until Ctrl-C
    tipring analyze {levels,tones,ringing,cadence,dtmf,callerid} FILE [options]
        analyse a WAV or CSV recording; one JSON object per finding
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import harness
from harness import analyze, bench_check, sim_serve, traceability
from harness.run_record import RUN_FILE

REPO_ROOT = Path(__file__).resolve().parent.parent
# Allure 3 injects a Google Analytics loader into every page it writes; a compliance report is
# opened on air-gapped lab PCs and must not phone home.
ANALYTICS = re.compile(r"<script[^>]*googletagmanager[^>]*>\s*</script>\s*(<script>[^<]*gtag\([^<]*</script>)?", re.S)
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def find_allure() -> Path | None:
    """The pinned npm `allure` installed by `make` (./node_modules), else one on PATH."""
    for root in (Path.cwd(), REPO_ROOT):
        local = root / "node_modules" / ".bin" / "allure"
        if local.exists():
            return local
    found = shutil.which("allure")
    return Path(found) if found else None


def strip_analytics(report_dir: Path) -> int:
    """Remove the analytics script from every HTML file of a report; returns how many changed."""
    changed = 0
    for page in report_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = ANALYTICS.sub("", text)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")
            changed += 1
    return changed


def merge_environment(runs: list[tuple[str, str]]) -> str:
    """One environment.properties for several runs, from (run label, file text) pairs.

    A key all runs agree on keeps its one value. A key whose values differ (instrument addresses,
    start times, another DUT or profile) or that some runs lack lists each run's value as
    "[1] value | [2] value", numbered as the `runs` key lists the runs, so a value stays tied to
    its run. Values are copied as written (no re-escaping).
    """
    values: dict[str, dict[int, str]] = {}
    for n, (_, text) in enumerate(runs, 1):
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith(("#", "!")) and "=" in line:
                key, value = line.split("=", 1)
                values.setdefault(key.strip(), {})[n] = value
    lines = [f"runs={' | '.join(f'[{n}] {label}' for n, (label, _) in enumerate(runs, 1))}"] if len(runs) > 1 else []
    for key, per_run in values.items():
        distinct = set(per_run.values())
        if len(distinct) == 1 and len(per_run) == len(runs):
            lines.append(f"{key}={distinct.pop()}")
        else:
            lines.append(f"{key}={' | '.join(f'[{n}] {v}' for n, v in per_run.items())}")
    return "\n".join(lines) + "\n"


def merge_results(results_dirs: list[Path], merged: Path) -> None:
    """Copy every run's results into one directory (names are UUIDs, so nothing collides) and
    write one environment.properties for all of them. tipring-run.json stays behind: it is per run
    and is read from the original directories.

    With several runs, each test result gets a parameter `run` (its results directory): Allure 3
    takes results with the same test and parameters for retries of one test and shows only the
    last, which would hide one bench's (or one DUT's) failure behind another's pass.
    """
    merged.mkdir(parents=True, exist_ok=True)
    for d in results_dirs:
        for f in d.iterdir():
            if f.name.endswith("-result.json") and len(results_dirs) > 1:
                result = json.loads(f.read_text(encoding="utf-8"))
                result["parameters"] = [*result.get("parameters", []), {"name": "run", "value": str(d)}]
                (merged / f.name).write_text(json.dumps(result), encoding="utf-8")
            elif f.is_file() and f.name not in ("environment.properties", RUN_FILE):
                shutil.copyfile(f, merged / f.name)
    environments = [(str(d), _read_if_any(d / "environment.properties")) for d in results_dirs]
    if any(text for _, text in environments):
        (merged / "environment.properties").write_text(merge_environment(environments), encoding="utf-8")


def _read_if_any(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def add_global_attachments(results: Path, attachments: list[tuple[str, str, str, str]]) -> None:
    """Attach (name, body, MIME type, extension) files to the whole run, in the format
    allure-python-commons' `allure.global_attach` writes: <uuid>-attachment.<ext> files listed in a
    <uuid>-globals.json. Allure 3 Awesome shows them under the "Global Attachments" tab."""
    listed = []
    for name, body, mime, ext in attachments:
        source = f"{uuid.uuid4()}-attachment.{ext}"
        (results / source).write_text(body, encoding="utf-8")
        listed.append({"name": name, "source": source, "type": mime, "timestamp": int(time.time() * 1000)})
    (results / f"{uuid.uuid4()}-globals.json").write_text(json.dumps({"attachments": listed}), encoding="utf-8")


def allure_config(allure: Path, name: str, output: Path, single_file: bool) -> str:
    """allurerc.mjs for `allure generate`: the Awesome report and the three failure categories.

    Awesome ignores a categories.json in the results (only the allure2 plugin reads it), so they go
    here, with the compatibility keys matchedStatuses/messageRegex. "allure" is imported from the
    generator's own package by file URL: the config lives in a temporary directory, where Node
    could not resolve the bare package name.
    """
    package = allure.resolve().parent  # node_modules/.bin/allure links to the package's cli.js
    entry = json.loads((package / "package.json").read_text(encoding="utf-8"))["main"]
    config = {
        "name": name,
        "output": str(output),
        "plugins": {"awesome": {"options": {"singleFile": single_file, "reportName": name}}},
        "categories": [{"name": c.name, "matchedStatuses": list(c.statuses),
                        **({"messageRegex": c.message_regex} if c.message_regex else {})}
                       for c in traceability.CATEGORIES],
    }
    return (f'import {{ defineConfig }} from {json.dumps((package / entry).resolve().as_uri())};\n\n'
            f"export default defineConfig({json.dumps(config, indent=2)});\n")


def allure_error(done: subprocess.CompletedProcess) -> str:
    """The generator's error in one line: it prints a coloured message and a Node stack trace."""
    text = ANSI_COLOUR.sub("", f"{done.stderr}\n{done.stdout}")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("at ")]
    return next((line for line in lines if "error" in line.lower()), lines[0] if lines else "no output")


def _fail(message: str, code: int) -> int:
    print(f"tipring report: {message}", file=sys.stderr)
    return code


def report(args: argparse.Namespace) -> int:
    results_dirs = [Path(r) for r in dict.fromkeys(args.results or ["allure-results"])]
    for results in results_dirs:
        if not results.is_dir() or not any(results.glob("*-result.json")):
            return _fail(f"{results}: no Allure results here (run pytest with --alluredir={results})", 2)
    allure = find_allure()
    if allure is None:
        return _fail("the Allure 3 generator is not installed (run `make demo`, or `npm ci` in the tipring checkout)", 2)
    out = Path(args.output).resolve()
    rows = traceability.matrix_rows(results_dirs)
    matrix_csv = traceability.to_csv(rows)
    matrix_html = traceability.to_html(rows, f"Requirement traceability: {args.name}", [str(d) for d in results_dirs])
    with tempfile.TemporaryDirectory(prefix="tipring-report-") as tmp:
        merged = Path(tmp) / "results"
        merge_results(results_dirs, merged)
        add_global_attachments(merged, [("Requirement traceability", matrix_html, "text/html", "html"),
                                        ("traceability.csv", matrix_csv, "text/csv", "csv")])
        config = Path(tmp) / "allurerc.mjs"
        config.write_text(allure_config(allure, args.name, out, args.single_file), encoding="utf-8")
        done = subprocess.run([str(allure), "generate", str(merged), "--config", str(config)], cwd=tmp,
                              capture_output=True, text=True)
    if done.returncode != 0:
        return _fail(f"allure failed ({done.returncode}): {allure_error(done)}", 1)
    strip_analytics(out)
    (out / "traceability.csv").write_text(matrix_csv, encoding="utf-8")
    print(out / "index.html")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tipring", description="Analog telephony bench harness")
    parser.add_argument("--version", action="version", version=f"tipring {harness.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="build the Allure HTML report from one or several results directories")
    rep.add_argument("results", nargs="*", metavar="RESULTS_DIR",
                     help="Allure results of one run each (default: allure-results)")
    rep.add_argument("-o", "--output", default="allure-report", metavar="OUT",
                     help="report directory; traceability.csv is written into it too (default: allure-report)")
    rep.add_argument("--single-file", action="store_true", help="one self-contained index.html")
    rep.add_argument("--name", default="tipring compliance report", help="the report's title")
    rep.set_defaults(run=report)
    bench = sub.add_parser("bench", help="check the bench").add_subparsers(dest="action", required=True)
    check = bench.add_parser("check", help="open every instrument, print identities and calibration, run self-tests")
    check.add_argument("--bench", default="fixtures/sim.yaml", metavar="PATH", help="bench file (default: fixtures/sim.yaml)")
    check.set_defaults(run=lambda a: bench_check.check_bench(Path(a.bench), dt.date.today(), sys.stdout, sys.stderr))
    sim = sub.add_parser("sim", help="the simulated bench").add_subparsers(dest="action", required=True)
    serve = sim.add_parser("serve", help="serve the simulated SCPI instruments on loopback until Ctrl-C")
    serve.add_argument("--bench", default="fixtures/sim.yaml", metavar="PATH", help="bench file (default: fixtures/sim.yaml)")
    serve.set_defaults(run=lambda a: sim_serve.serve(Path(a.bench), sys.stdout, sys.stderr))
    analyze.add_parser(sub)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
