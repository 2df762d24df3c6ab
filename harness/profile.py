"""Limit profiles: what a country's (or a standard's) lines must look like, with sources.

A profile names requirements (id, text, source), the nominal signals a DUT provisioned for that
country produces (ring frequency and cadence, dial tone), the line conditions the bench applies to
an FXO port, and the limits of every measurement, each traced to a requirement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.fixture import FixtureError, _where
from harness.measurement import Limit

PROFILE_DIR = Path(__file__).resolve().parent.parent / "testplans" / "profiles"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Requirement(_Strict):
    text: str
    source: str


class RingSignal(_Strict):
    freq_hz: float = Field(gt=0)
    cadence_ms: list[float] = Field(min_length=2)  # on, off, [on, off, ...]
    vrms: float | None = None
    dc_offset_v: float | None = None
    load_ren: float = Field(default=1.0, ge=0)  # REN connected while ring is measured

    @model_validator(mode="after")
    def _pairs(self) -> "RingSignal":
        if len(self.cadence_ms) % 2:
            raise ValueError("cadence_ms lists on/off pairs: it needs an even number of intervals")
        return self


class DialTone(_Strict):
    freqs_hz: list[float] = Field(min_length=1, max_length=3)
    level_dbm: float  # per frequency, into 600 ohm


class CallerId(_Strict):
    """Caller ID the DUT sends after the first ring, and the test call's caller.

    standard: bell202 (North America) or v23 (ETSI countries); format: sdmf or mdmf (Bellcore)
    or etsi (ETSI call set-up); number and name: what the test call presents.
    """

    standard: Literal["bell202", "v23"]
    format: Literal["sdmf", "mdmf", "etsi"]
    number: str = Field(pattern=r"^[0-9]{1,20}$")
    name: str | None = Field(default=None, max_length=15)


class DtmfSignal(_Strict):
    """How the phone side dials in the DTMF reception test: level of the low tone (dBm into
    600 ohm), twist (high minus low, dB) and nominal timing."""

    level_dbm: float
    twist_db: float = 0.0
    on_ms: float = Field(default=60.0, gt=0)
    off_ms: float = Field(default=60.0, gt=0)


class FxoLine(_Strict):
    """What the bench applies to an FXO port: battery feed and ringing."""

    battery_v: float = Field(gt=0)
    current_limit_a: float = Field(gt=0)
    ring_vrms: float = Field(gt=0)  # nominal ringing the port must answer
    must_ignore_vrms: float = Field(gt=0)  # ringing the port must not detect


class Signals(_Strict):
    ring: RingSignal
    dial_tone: DialTone
    fxo_line: FxoLine
    caller_id: CallerId | None = None
    dtmf: DtmfSignal | None = None


class LimitSpec(_Strict):
    """One measurement's window: low/high, or nominal with a tolerance. With a tolerance and no
    nominal, the nominal comes from the signals (e.g. each dial-tone frequency)."""

    low: float | None = None
    high: float | None = None
    nominal: float | None = None
    tolerance: float | None = Field(default=None, ge=0)
    tolerance_pct: float | None = Field(default=None, ge=0)
    unit: str
    requirement: str
    guard_band_pct: float = Field(default=5.0, ge=0, lt=50)
    # A mask: the upper limit as a function of another measurement (e.g. the DC voltage of an
    # off-hook FXO port against its loop current), linear between [x, high] points.
    high_mask: list[tuple[float, float]] | None = Field(default=None, min_length=2)
    mask_over: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> "LimitSpec":
        if (self.high_mask is None) != (self.mask_over is None):
            raise ValueError("high_mask and mask_over go together")
        if self.high_mask is not None and [p[0] for p in self.high_mask] != sorted(p[0] for p in self.high_mask):
            raise ValueError("high_mask points must be in increasing x")
        window = self.low is not None or self.high is not None or self.high_mask is not None
        tol = self.tolerance is not None or self.tolerance_pct is not None
        if window == tol:
            raise ValueError("give either low/high or a tolerance (with or without nominal)")
        if self.tolerance is not None and self.tolerance_pct is not None:
            raise ValueError("give tolerance or tolerance_pct, not both")
        return self


class Profile(_Strict):
    name: str
    title: str
    version: str
    requirements: dict[str, Requirement]
    signals: Signals
    limits: dict[str, LimitSpec]

    @model_validator(mode="after")
    def _requirements_exist(self) -> "Profile":
        for key, spec in self.limits.items():
            if spec.requirement not in self.requirements:
                raise ValueError(f"limits.{key}.requirement: {spec.requirement!r} is not in requirements")
        return self

    def limit(self, key: str, nominal: float | None = None, at: float | None = None) -> Limit:
        """The Limit for measurement `key`; `nominal` fills a tolerance-only spec, `at` is the
        value of the mask's other measurement for a masked limit."""
        spec = self.limits.get(key)
        if spec is None:
            raise KeyError(f"profile {self.name!r} has no limit {key!r}; it has: {', '.join(sorted(self.limits))}")
        req = self.requirements[spec.requirement]
        kw = dict(unit=spec.unit, requirement=spec.requirement, source=req.source,
                  guard_band_pct=spec.guard_band_pct)
        if spec.high_mask is not None:
            if at is None or not np.isfinite(at):
                raise ValueError(f"profile {self.name!r}: limit {key!r} is a mask over {spec.mask_over} and needs its value")
            xs, highs = zip(*spec.high_mask)
            # Outside its x-range the mask holds its end values; the x measurement has its own limit.
            return Limit(low=spec.low, high=float(np.interp(at, xs, highs)), **kw)
        if spec.low is not None or spec.high is not None:
            return Limit(low=spec.low, high=spec.high, nominal=spec.nominal, **kw)
        nominal = spec.nominal if spec.nominal is not None else nominal
        if nominal is None:
            raise ValueError(f"profile {self.name!r}: limit {key!r} is a tolerance and needs a nominal value")
        return Limit.around(nominal, spec.tolerance, spec.tolerance_pct, **kw)


def profile_path(name_or_path: str, search_dir: Path = PROFILE_DIR) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        return p
    return search_dir / f"{name_or_path}.yaml"


def available_profiles(search_dir: Path = PROFILE_DIR) -> list[str]:
    return sorted(p.stem for p in search_dir.glob("*.yaml"))


def load_profile(name_or_path: str, search_dir: Path = PROFILE_DIR) -> Profile:
    """Load a profile by name (testplans/profiles/NAME.yaml) or path; FixtureError on any problem."""
    path = profile_path(name_or_path, search_dir)
    if not path.is_file():
        known = ", ".join(available_profiles(search_dir)) or "none"
        raise FixtureError(f"{path}: no such profile (available: {known})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise FixtureError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _where(err["loc"])
        msg = {"extra_forbidden": "unknown key", "missing": "missing"}.get(
            err["type"], err["msg"].removeprefix("Value error, "))
        raise FixtureError(f"{path}: {where + ': ' if where else ''}{msg}") from None
