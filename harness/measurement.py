"""Measurements with limits, units, requirement references and outcomes.

A test records measurements instead of asserting: each has a name, value, unit, limits, the
requirement it traces to, and an outcome (pass / marginal / fail). Everything is recorded; the
test fails at its end if any measurement failed, with values and limits in the message. A missing,
NaN or clipped value never passes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum


class Outcome(str, Enum):
    PASS = "pass"
    MARGINAL = "marginal"  # inside the limits but within the guard band of one of them
    FAIL = "fail"


@dataclass(frozen=True)
class Limit:
    """An acceptance window. low/high may be None for a one-sided limit.

    guard_band_pct: the part of the window (as % of high - low, at each edge) in which a passing
    value is called marginal, so a drifting DUT is noticed before it fails.
    """

    low: float | None = None
    high: float | None = None
    unit: str = ""
    requirement: str = ""
    source: str = ""
    nominal: float | None = None
    guard_band_pct: float = 5.0

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise ValueError("a limit needs low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"limit low {self.low} is above high {self.high}")

    @classmethod
    def around(cls, nominal: float, tolerance: float | None = None, tolerance_pct: float | None = None,
               **kw) -> "Limit":
        """nominal +- tolerance (absolute, in the unit) or +- tolerance_pct % of nominal."""
        if (tolerance is None) == (tolerance_pct is None):
            raise ValueError("give exactly one of tolerance and tolerance_pct")
        tol = tolerance if tolerance is not None else abs(nominal) * tolerance_pct / 100.0
        return cls(low=nominal - tol, high=nominal + tol, nominal=nominal, **kw)

    def judge(self, value: float | None) -> Outcome:
        if value is None or not math.isfinite(value):
            return Outcome.FAIL
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            return Outcome.FAIL
        if self.low is not None and self.high is not None:
            band = (self.high - self.low) * self.guard_band_pct / 100.0
            if value < self.low + band or value > self.high - band:
                return Outcome.MARGINAL
        return Outcome.PASS

    def describe(self) -> str:
        u = f" {self.unit}" if self.unit else ""
        if self.nominal is not None and self.low is not None and self.high is not None:
            return f"{_fmt(self.nominal)}{u} ({_fmt(self.low)} .. {_fmt(self.high)})"
        if self.low is None:
            return f"<= {_fmt(self.high)}{u}"
        if self.high is None:
            return f">= {_fmt(self.low)}{u}"
        return f"{_fmt(self.low)} .. {_fmt(self.high)}{u}"


def _fmt(x: float | None) -> str:
    if x is None:
        return "none"
    return f"{x:.4g}"


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float | None
    unit: str
    limit: Limit
    outcome: Outcome
    note: str = ""

    @property
    def requirement(self) -> str:
        return self.limit.requirement

    def describe(self) -> str:
        value = "missing" if self.value is None or not math.isfinite(self.value) else f"{self.value:.4g} {self.unit}".rstrip()
        note = f" ({self.note})" if self.note else ""
        return f"{self.name} = {value}, limit {self.limit.describe()}: {self.outcome.value.upper()}{note}"

    def as_record(self) -> dict:
        d = asdict(self)
        d["outcome"] = self.outcome.value
        d["value"] = None if self.value is None or not math.isfinite(self.value) else self.value
        return d


@dataclass
class MeasurementLog:
    """The measurements of one test, in the order they were taken."""

    measurements: list[Measurement] = field(default_factory=list)

    def add(self, name: str, value: float | None, limit: Limit, *, clipped: bool = False,
            note: str = "") -> Measurement:
        outcome = limit.judge(value)
        if clipped:
            outcome, note = Outcome.FAIL, (note + "; " if note else "") + "capture clipped at the input range"
        elif value is None or not math.isfinite(value):
            note = note or "no value"
        m = Measurement(name, None if value is None else float(value), limit.unit, limit, outcome, note)
        self.measurements.append(m)
        return m

    @property
    def failed(self) -> list[Measurement]:
        return [m for m in self.measurements if m.outcome is Outcome.FAIL]

    def failure_message(self) -> str:
        lines = [f"{len(self.failed)} of {len(self.measurements)} measurements failed:"]
        lines += [f"  {m.describe()}" for m in self.failed]
        return "\n".join(lines)
