"""Requirement traceability: for every requirement of a profile, the tests that verify it, what they
measured, and the result; requirements that no test covers are listed as such.

Read from the Allure results directories the tipring plugin writes: each *-result.json (labels
`requirement`, parameters `profile` and `fxs_port`/`fxo_port`, the attachment measurements.json)
and tipring-run.json (the profile and its full requirement list, so uncovered ones show up).

One row per measurement a covering test took for the requirement; a covering test that took none
for it gets one row without a measurement; an uncovered requirement gets one row with no test.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import astuple, dataclass, fields
from itertools import groupby
from pathlib import Path

from harness.measurement import Limit
from harness.run_record import RUN_FILE

MEASUREMENTS_ATTACHMENT = "measurements.json"


@dataclass(frozen=True)
class FailureCategory:
    """Why a test did not pass, told apart by Allure status and message.

    message_regex must mean the same in Python `re` and JavaScript RegExp: Allure applies it in
    the report, `failure_category` applies it here. allure-pytest puts the exception type in
    front of the message ("harness.plugin.LimitsFailed: ...", "Failed: ..."), hence the prefix.
    """

    name: str
    statuses: tuple[str, ...]
    message_regex: str | None = None

    def matches(self, status: str, message: str) -> bool:
        return status in self.statuses and (self.message_regex is None or re.search(self.message_regex, message) is not None)


DUT_FAILED = FailureCategory("DUT failed its limits", ("failed",), r"^(?:[\w.]+: )?\d+ of \d+ measurements failed:")
BENCH_FAULT = FailureCategory("Bench fault: instrument error, timeout or calibration overdue", ("failed", "broken"),
                              r"^(?:[\w.]+: )?bench fault: ")
HARNESS_ERROR = FailureCategory("Harness or test error", ("failed", "broken"))
CATEGORIES = (DUT_FAILED, BENCH_FAULT, HARNESS_ERROR)  # first match wins, in Allure as here

# A requirement's result is the worst of its tests' results, in this order.
RESULT_ORDER = ("failed", "broken", "skipped", "marginal", "passed")
NOT_COVERED = "not covered"


def failure_category(status: str, message: str) -> str:
    """The name of the first category a non-passing test falls in; "" for a passed test."""
    return next((c.name for c in CATEGORIES if c.matches(status, message)), "")


@dataclass(frozen=True)
class Requirement:
    id: str
    text: str
    source: str


@dataclass(frozen=True)
class ProfileSeen:
    """A profile as a run recorded it (tipring-run.json)."""

    name: str
    version: str
    requirements: tuple[Requirement, ...]


@dataclass(frozen=True)
class CaseResult:
    """One test result of one run."""

    run: str  # the results directory it came from, as given
    name: str  # as Allure shows it, e.g. "test_ring_voltage[fxs1]"
    profile: str
    port: str
    status: str  # passed / failed / broken / skipped / unknown
    failure: str  # the failure category's name; "" when passed
    requirements: tuple[str, ...]
    measurements: tuple[dict, ...]  # measurement records (harness.measurement.Measurement.as_record)

    def measured(self, requirement: str) -> list[dict]:
        return [m for m in self.measurements if (m.get("limit") or {}).get("requirement") == requirement]

    def traced(self) -> tuple[str, ...]:
        """The requirements this test is labelled with or took measurements for."""
        measured = (m["limit"]["requirement"] for m in self.measurements if (m.get("limit") or {}).get("requirement"))
        return tuple(dict.fromkeys([*self.requirements, *measured]))

    def covers(self, requirement: str) -> bool:
        """Labelled with the requirement, or took a measurement traced to it."""
        return requirement in self.traced()

    def result_for(self, requirement: str) -> str:
        """passed / marginal / failed / broken / skipped, for this one requirement: a test whose DUT
        failed another requirement's limit still passes this one if its own measurements pass; a
        bench fault or a harness error leaves the DUT unjudged (broken)."""
        if self.status == "skipped":
            return "skipped"
        if self.status != "passed" and self.failure != DUT_FAILED.name:
            return "broken"
        outcomes = [m.get("outcome") for m in self.measured(requirement)]
        if "fail" in outcomes or (self.status != "passed" and not outcomes):
            return "failed"
        return "marginal" if "marginal" in outcomes else "passed"


@dataclass(frozen=True)
class TraceRow:
    """One row of the matrix (and of traceability.csv, in this column order)."""

    profile: str
    profile_version: str
    requirement: str
    text: str
    source: str
    result: str  # the requirement's: worst of its tests' (RESULT_ORDER), or "not covered"
    test: str = ""
    port: str = ""
    run: str = ""
    test_status: str = ""  # the test's Allure status
    failure: str = ""  # the test's failure category
    measurement: str = ""
    value: float | None = None  # in `unit`; None when the measurement had no value
    unit: str = ""
    limit: str = ""
    outcome: str = ""  # pass / marginal / fail


def _param(result: dict, name: str) -> str:
    # allure-pytest stores parameter values as their repr ("'fxs1'").
    for p in result.get("parameters", []):
        if p.get("name") == name:
            return str(p.get("value", "")).strip("'\"")
    return ""


def read_profile(results_dir: Path) -> ProfileSeen | None:
    """The profile the run recorded in tipring-run.json; None when the run wrote none."""
    path = results_dir / RUN_FILE
    if not path.is_file():
        return None
    prof = json.loads(path.read_text(encoding="utf-8"))["profile"]
    reqs = tuple(Requirement(rid, r.get("text", ""), r.get("source", "")) for rid, r in prof["requirements"].items())
    return ProfileSeen(prof["name"], str(prof.get("version", "")), reqs)


def read_cases(results_dir: Path, run: str, default_profile: str) -> list[CaseResult]:
    """Every test result in a results directory, with its measurements."""
    cases = []
    for path in results_dir.glob("*-result.json"):
        r = json.loads(path.read_text(encoding="utf-8"))
        status = r.get("status", "unknown")
        message = (r.get("statusDetails") or {}).get("message", "")
        records: list[dict] = []
        for a in r.get("attachments", []):
            if a.get("name") == MEASUREMENTS_ATTACHMENT and (results_dir / a["source"]).is_file():
                records += json.loads((results_dir / a["source"]).read_text(encoding="utf-8"))
        cases.append(CaseResult(
            run=run, name=r.get("name", r.get("fullName", path.name)),
            profile=_param(r, "profile") or default_profile,
            port=_param(r, "fxs_port") or _param(r, "fxo_port"),
            status=status, failure="" if status == "passed" else failure_category(status, message),
            requirements=tuple(lb["value"] for lb in r.get("labels", []) if lb.get("name") == "requirement"),
            measurements=tuple(records)))
    return sorted(cases, key=lambda c: c.name)


def _limit_text(record: dict) -> str:
    lim = record.get("limit")
    if not lim:
        return ""
    return Limit(**{f.name: lim[f.name] for f in fields(Limit) if f.name in lim}).describe()


def requirement_rows(profile: ProfileSeen, req: Requirement, cases: list[CaseResult]) -> list[TraceRow]:
    """The rows of one requirement of one profile, from the test results of that profile."""
    covering = [c for c in cases if c.profile == profile.name and c.covers(req.id)]
    head = dict(profile=profile.name, profile_version=profile.version, requirement=req.id, text=req.text,
                source=req.source)
    if not covering:
        return [TraceRow(**head, result=NOT_COVERED)]
    result = min((c.result_for(req.id) for c in covering), key=RESULT_ORDER.index)
    rows = []
    for c in covering:
        test = dict(test=c.name, port=c.port, run=c.run, test_status=c.status, failure=c.failure)
        rows += [TraceRow(**head, result=result, **test, measurement=m.get("name", ""), value=m.get("value"),
                          unit=m.get("unit", ""), limit=_limit_text(m), outcome=m.get("outcome", ""))
                 for m in c.measured(req.id)] or [TraceRow(**head, result=result, **test)]
    return rows


def merge_profiles(profiles: list[ProfileSeen]) -> list[ProfileSeen]:
    """One entry per profile name: several runs of one profile list every requirement any of
    them listed, and every version seen ("2026.11.0 | 2027.1.0")."""
    merged: dict[str, ProfileSeen] = {}
    for p in profiles:
        seen = merged.get(p.name, ProfileSeen(p.name, "", ()))
        versions = list(dict.fromkeys([*filter(None, seen.version.split(" | ")), p.version]))
        known = {r.id for r in seen.requirements}
        merged[p.name] = ProfileSeen(p.name, " | ".join(versions),
                                     seen.requirements + tuple(r for r in p.requirements if r.id not in known))
    return list(merged.values())


def build_matrix(profiles: list[ProfileSeen], cases: list[CaseResult]) -> list[TraceRow]:
    """Rows for every requirement of every profile, in the profile's order. Requirements that
    tests trace to but no recorded profile lists (a run without tipring-run.json) follow, without text."""
    merged = merge_profiles(profiles)
    merged += [ProfileSeen(name, "", ()) for name in dict.fromkeys(c.profile for c in cases)
               if name not in {p.name for p in merged}]
    rows = []
    for p in merged:
        listed = {r.id for r in p.requirements}
        traced = dict.fromkeys(rid for c in cases if c.profile == p.name for rid in c.traced())
        extra = tuple(Requirement(rid, "", "") for rid in traced if rid not in listed)
        for req in p.requirements + extra:
            rows += requirement_rows(p, req, cases)
    return rows


def matrix_rows(results_dirs: list[Path]) -> list[TraceRow]:
    """The traceability matrix of one or several runs' results directories."""
    profiles, cases = [], []
    for d in results_dirs:
        profile = read_profile(d)
        if profile is not None:
            profiles.append(profile)
        cases += read_cases(d, str(d), profile.name if profile else "")
    return build_matrix(profiles, cases)


def to_csv(rows: list[TraceRow]) -> str:
    """traceability.csv: a header of the TraceRow fields, one line per row; values at full precision."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow([f.name for f in fields(TraceRow)])
    out.writerows(["" if v is None else v for v in astuple(r)] for r in rows)
    return buf.getvalue()


_STYLE = """
body { font: 13px/1.4 Arial, Helvetica, sans-serif; margin: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #c8c8c8; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef0f4; color: #222; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.src { color: #777; font-size: 11px; }
.passed, .pass { background: #dff0d8; color: #1d5a1d; }
.marginal { background: #fcf3cf; color: #6b5300; }
.failed, .fail { background: #f8d7da; color: #8a1c24; }
.broken, .skipped { background: #fde2c4; color: #7a4100; }
.not-covered { background: #e2e3e5; color: #383d41; font-weight: bold; }
"""


def _cell(value: str, cls: str = "", rowspan: int = 1) -> str:
    attrs = (f' class="{cls}"' if cls else "") + (f' rowspan="{rowspan}"' if rowspan > 1 else "")
    return f"<td{attrs}>{value}</td>"


def _value_text(row: TraceRow) -> str:
    if not row.measurement:
        return ""
    return "missing" if row.value is None else f"{row.value:.4g} {row.unit}".rstrip()


def summary(rows: list[TraceRow]) -> dict[str, dict[str, int]]:
    """Per profile, how many requirements have each result."""
    counts: dict[str, dict[str, int]] = {}
    for (profile, _req), result in {(r.profile, r.requirement): r.result for r in rows}.items():
        per = counts.setdefault(profile, {})
        per[result] = per.get(result, 0) + 1
    return counts


def to_html(rows: list[TraceRow], title: str, runs: list[str]) -> str:
    """A self-contained HTML page (inline CSS, no script: Allure shows attachments in a sandboxed
    frame) with a summary per profile and one table row per TraceRow, requirement cells spanning."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{e(title)}</title><style>{_STYLE}</style>"
             f"</head><body><h2>{e(title)}</h2>"]
    parts.append("<p>Runs: " + "; ".join(e(r) for r in runs) + "</p><ul>")
    versions = {r.profile: r.profile_version for r in rows}
    for profile, per in summary(rows).items():
        total = sum(per.values())
        told = ", ".join(f"{n} {res}" for res in (*RESULT_ORDER, NOT_COVERED) if (n := per.get(res)))
        parts.append(f"<li>profile <b>{e(profile)}</b> {e(versions[profile])}: {total} requirements: {e(told)}</li>")
    parts.append("</ul><table><tr><th>Requirement</th><th>Result</th><th>Test</th><th>Port</th><th>Run</th>"
                 "<th>Test status</th><th>Measurement</th><th>Value</th><th>Limit</th><th>Outcome</th></tr>")
    for _, group in groupby(rows, key=lambda row: (row.profile, row.requirement)):
        group = list(group)
        r, n = group[0], len(group)
        for k, row in enumerate(group):
            cells = []
            if k == 0:
                req = f"<b>{e(r.requirement)}</b> ({e(r.profile)})<br>{e(r.text)}<div class=\"src\">{e(r.source)}</div>"
                cells += [_cell(req, rowspan=n), _cell(e(r.result), r.result.replace(" ", "-"), n)]
            status = e(row.test_status) + (f"<br>{e(row.failure)}" if row.failure else "")
            cells += [_cell(e(row.test)), _cell(e(row.port)), _cell(e(row.run)),
                      _cell(status, row.test_status if row.test_status != "passed" else ""),
                      _cell(e(row.measurement)), _cell(e(_value_text(row)), "num"), _cell(e(row.limit)),
                      _cell(e(row.outcome), row.outcome)]
            parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)
