"""The `tipring` command.

    tipring report [RESULTS_DIR] [-o OUT] [--single-file]   build the Allure HTML report
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import harness

REPO_ROOT = Path(__file__).resolve().parent.parent
# Allure 3 injects a Google Analytics loader into every page it writes; a compliance report is
# opened on air-gapped lab PCs and must not phone home.
ANALYTICS = re.compile(r"<script[^>]*googletagmanager[^>]*>\s*</script>\s*(<script>[^<]*gtag\([^<]*</script>)?", re.S)


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


def report(args: argparse.Namespace) -> int:
    results = Path(args.results)
    if not results.is_dir() or not any(results.glob("*-result.json")):
        print(f"tipring report: {results}: no Allure results here (run pytest with --alluredir={results})", file=sys.stderr)
        return 2
    allure = find_allure()
    if allure is None:
        print("tipring report: the Allure 3 generator is not installed (run `make demo`, or `npm ci` in the tipring checkout)",
              file=sys.stderr)
        return 2
    out = Path(args.output)
    cmd = [str(allure), "awesome", str(results), "-o", str(out), "--report-name", args.name]
    if args.single_file:
        cmd.append("--single-file")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"tipring report: allure failed ({done.returncode}): {last[0]}", file=sys.stderr)
        return 1
    strip_analytics(out)
    print(out.resolve() / "index.html")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tipring", description="Analog telephony bench harness")
    parser.add_argument("--version", action="version", version=f"tipring {harness.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="build the Allure HTML report from a results directory")
    rep.add_argument("results", nargs="?", default="allure-results")
    rep.add_argument("-o", "--output", default="allure-report")
    rep.add_argument("--single-file", action="store_true", help="one self-contained index.html")
    rep.add_argument("--name", default="tipring compliance report")
    rep.set_defaults(run=report)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
