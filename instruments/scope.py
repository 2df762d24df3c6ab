"""What the oscilloscope drivers share: the waveform preamble, the scaling of raw codes to volts
and times, 1-2-5 steps, and a base class with the trigger wait, the waveform read-out and a
Digitizer-style capture.

Both families (Rigol DS1000Z, Keysight InfiniiVision) hand over a waveform the same way:

    :WAV:SOUR CHAN1      the channel to read
    :WAV:FORM BYTE       one byte per point (WORD: two)
    :WAV:PRE?            ten numbers that scale the codes (see Preamble)
    :WAV:DATA?           a definite-length block of codes ("#9000001200" + 1200 bytes)

and each programming guide gives the formula that turns codes into volts; they differ in what
yorigin is:

    Rigol DS1000Z           volts = (code - yorigin - yreference) * yincrement   (yorigin in codes)
    Keysight InfiniiVision  volts = (code - yreference) * yincrement + yorigin   (yorigin in volts)
    both                    time  = (i - xreference) * xincrement + xorigin     (i from 0; seconds
                                                                                  from the trigger)

Volts are at the probe tip: the scope's probe setting is already in yincrement.
"""

from __future__ import annotations

import abc
import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from harness.dsp.waveform import Waveform
from instruments.clock import Clock, MonotonicClock
from instruments.errors import BenchFault
from instruments.protocols import AnalogInput
from instruments.scpi import ScpiInstrument, scpi_number

VERTICAL_DIVISIONS = 8


@dataclass(frozen=True)
class Preamble:
    """The ten fields of :WAVeform:PREamble?, in the guides' order.

    format: 0 BYTE, 1 WORD. type: the acquisition or read mode (model-specific numbers).
    points: points in the record. count: averages (1 for a normal acquisition).
    xincrement: seconds between points; xorigin: time of point xreference from the trigger, s.
    yincrement: volts per code; yorigin, yreference: see the module docstring (per model).
    """

    format: int
    type: int
    points: int
    count: int
    xincrement: float
    xorigin: float
    xreference: float
    yincrement: float
    yorigin: float
    yreference: float

    @property
    def sample_rate_hz(self) -> float:
        return 1.0 / self.xincrement


def parse_preamble(reply: str) -> Preamble:
    """A :WAV:PRE? reply ("0,2,1200,1,1.000000e-05,-6.000000e-03,0,4.000000e-02,0,127") as a
    Preamble; ValueError naming what is wrong."""
    fields = reply.strip().split(",")
    if len(fields) != 10:
        raise ValueError(f"preamble {reply!r} has {len(fields)} fields, not 10")
    try:
        numbers = [float(field) for field in fields]
    except ValueError:
        raise ValueError(f"preamble {reply!r} has a field that is not a number") from None
    if not numbers[4] > 0:
        raise ValueError(f"preamble {reply!r}: xincrement must be > 0")
    return Preamble(*(int(n) for n in numbers[:4]), *numbers[4:])


def rigol_volts(codes: np.ndarray, pre: Preamble) -> np.ndarray:
    """Volts of Rigol DS1000Z codes: (code - yorigin - yreference) * yincrement."""
    return (np.asarray(codes, dtype=float) - pre.yorigin - pre.yreference) * pre.yincrement


def infiniivision_volts(codes: np.ndarray, pre: Preamble) -> np.ndarray:
    """Volts of Keysight InfiniiVision codes: (code - yreference) * yincrement + yorigin."""
    return (np.asarray(codes, dtype=float) - pre.yreference) * pre.yincrement + pre.yorigin


def sample_times_s(pre: Preamble, first_index: int, count: int) -> np.ndarray:
    """Seconds from the trigger of points first_index .. first_index+count-1 (0 is the record's
    first point): (i - xreference) * xincrement + xorigin."""
    i = first_index + np.arange(count)
    return (i - pre.xreference) * pre.xincrement + pre.xorigin


def unpack_codes(data: bytes, word: bool, little_endian: bool = True) -> np.ndarray:
    """Unsigned codes of a waveform block: one byte per point, or two (WORD) in the byte order
    given."""
    if not word:
        return np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    if len(data) % 2:
        raise ValueError(f"a WORD block has an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<u2" if little_endian else ">u2").astype(np.int64)


def is_one_two_five(value: float) -> bool:
    """True for 1, 2 or 5 times a power of ten (0.02, 0.5, 100)."""
    if not value > 0 or not math.isfinite(value):
        return False
    decade = 10.0 ** math.floor(math.log10(value) + 1e-9)
    return any(math.isclose(value, m * decade, rel_tol=1e-9) for m in (1, 2, 5, 10))


def one_two_five_at_or_above(value: float) -> float:
    """The smallest 1-2-5 step (..., 0.1, 0.2, 0.5, 1, 2, ...) that is >= value (> 0)."""
    decade = 10.0 ** math.floor(math.log10(value))
    for m in (1, 2, 5, 10):
        if m * decade >= value * (1 - 1e-9):
            return m * decade
    raise AssertionError("unreachable: 10 x decade is always >= value")


def channel_number(ain: str) -> int:
    """The channel of an AnalogInput.ain spelt the SCPI way: "CHAN2" or "CHANnel2" -> 2."""
    match = re.fullmatch(r"CHAN(?:NEL)?([1-9])", ain.strip().upper())
    if not match:
        raise ValueError(f"ain {ain!r} is not a scope channel (CHAN1, CHAN2, ...)")
    return int(match[1])


@dataclass(frozen=True)
class ChannelSettings:
    """One channel as the scope reports it. Volts are at the probe tip.

    centre_v: the volts on the screen's centre line (each driver converts its model's OFFSet).
    """

    display: bool
    coupling: str
    volts_per_div: float
    centre_v: float
    probe: float
    bandwidth_limit: bool


@dataclass(frozen=True)
class EdgeTrigger:
    """An edge trigger: channel, level (volts at the probe tip), slope POS/NEG, sweep."""

    channel: int
    level_v: float
    slope: str
    sweep: str

    def __str__(self) -> str:
        edge = {"POS": "rising", "NEG": "falling"}.get(self.slope, self.slope)
        return f"{edge} edge through {self.level_v:g} V on CHAN{self.channel}, sweep {self.sweep}"


@dataclass(frozen=True)
class Record:
    """A channel's record as read: volts at the probe tip, which points sat at a rail, and its
    preamble (times from the trigger)."""

    volts: np.ndarray
    clipped: np.ndarray
    preamble: Preamble


@dataclass(frozen=True)
class _CapturePlan:
    """What capture() will set: (input, channel, volts/div) for each input, and the timebase."""

    channels: tuple[tuple[AnalogInput, int, float], ...]
    seconds_per_div: float


class ScpiOscilloscope(ScpiInstrument, abc.ABC):
    """What the Rigol and Keysight drivers share (see RigolDs1000z, KeysightInfiniiVision).

    clock: the bench clock the trigger wait sleeps on (a MonotonicClock by default; the
    simulated bench passes its VirtualClock). Other arguments as ScpiInstrument.

    A subclass provides the model's commands (the abstract methods below) and its limits.
    """

    channels: tuple[int, ...] = (1, 2, 3, 4)
    horizontal_divisions = 10
    volts_per_div_limits = (1e-3, 10.0)  # at the input connector (1:1 probe)
    seconds_per_div_limits = (5e-9, 50.0)
    # How often the trigger wait asks the scope for its state, bench seconds.
    poll_s = 0.05
    # How long capture() waits beyond its record for the forced acquisition to finish, s.
    capture_margin_s = 2.0

    def __init__(self, address: str, name: str = "scope", *, clock: Clock | None = None, **kwargs):
        self.clock = clock or MonotonicClock()
        self._trigger: EdgeTrigger | None = None
        super().__init__(address, name, **kwargs)

    # -- shared operations ---------------------------------------------------------------------

    def wait_for_acquisition(self, timeout_s: float) -> None:
        """Wait (on the bench clock) until the armed acquisition has triggered and its record is
        complete; a BenchFault naming the trigger if that takes longer than timeout_s."""
        if not timeout_s > 0:
            raise ValueError(f"{self.name}: timeout_s must be > 0, got {timeout_s}")
        deadline = self.clock.now() + timeout_s
        while True:
            done, waiting, state = self._acquisition_state()
            if done:
                return
            if self.clock.now() >= deadline:
                what = "no trigger" if waiting else "acquisition not complete"
                trigger = f"; trigger: {self._trigger}" if self._trigger else ""
                raise BenchFault(self.name, self.address, self._status_query,
                                 f"{what} within {timeout_s:g} s ({state}){trigger}")
            self.clock.sleep(self.poll_s)

    def read_waveform(self, channel: int, *, raw: bool = True, word: bool = False) -> Waveform:
        """The last acquisition of `channel` in volts at the probe tip.

        raw: the whole acquisition memory (the scope must be stopped, as after a single
        capture); else the screen record. word: transfer two bytes per point.
        start_s is the time of the first sample FROM THE TRIGGER (xorigin), not bench time;
        sample_rate_hz is 1/xincrement; clipped is True when any point sat at a rail.
        """
        record = self._read_record(self._checked_channel(channel), raw, word)
        pre = record.preamble
        return Waveform(record.volts, pre.sample_rate_hz, float(sample_times_s(pre, 0, 1)[0]),
                        "V", f"CHAN{channel}", clipped=bool(record.clipped.any()),
                        meta={"instrument": self.name, "channel": f"CHAN{channel}",
                              "time_reference": "trigger", "preamble": pre})

    def capture(self, inputs: Sequence[AnalogInput], duration_s: float,
                sample_rate_hz: float) -> dict[str, Waveform]:
        """Sample all inputs together for duration_s, like Digitizer.capture; one Waveform each.

        Each input is a channel (ain "CHAN1") at DC coupling, probe setting 1:1 (the jig's probe
        is in inp.scale, line units per volt at the connector), centred on 0 V, at the 1-2-5
        volts/div at or above 2 * range_v / 8 (so +-range_v fits the screen). Unused channels are
        switched off. The timebase is the 1-2-5 s/div whose screen holds duration_s, with the
        trigger at the record's first point; the trigger is forced at once, so start_s is the
        bench time the force was sent. The scope samples at the first rate it offers that is
        >= sample_rate_hz, and that rate is the Waveforms' sample_rate_hz.
        """
        plan = self._capture_plan(inputs, duration_s, sample_rate_hz)
        used = {channel for _, channel, _ in plan.channels}
        for channel in self.channels:
            if channel not in used:
                self.set_channel_display(channel, False)
        for _, channel, volts_per_div in plan.channels:
            self.setup_channel(channel, volts_per_div)
        record_s = self.horizontal_divisions * plan.seconds_per_div
        self.set_timebase(plan.seconds_per_div, delay_s=record_s / 2)
        points = self._prepare_capture(len(used), plan.seconds_per_div, sample_rate_hz)
        self.arm_single()
        start_s = self.clock.now()
        self.force_trigger()
        self.wait_for_acquisition(record_s + self.capture_margin_s)
        waveforms = {}
        for inp, channel, volts_per_div in plan.channels:
            record = self._read_record(channel, raw=True, word=self._capture_word, points=points)
            pre = record.preamble
            count = min(len(record.volts), round(duration_s * pre.sample_rate_hz))
            waveforms[inp.name] = Waveform(
                record.volts[:count] * inp.scale, pre.sample_rate_hz,
                start_s + float(sample_times_s(pre, 0, 1)[0]), inp.unit, inp.name,
                clipped=bool(record.clipped[:count].any()),
                meta={"instrument": self.name, "ain": inp.ain, "range_v": inp.range_v,
                      "volts_per_div": volts_per_div, "time_reference": "bench"})
        return waveforms

    # -- commands both families spell alike ----------------------------------------------------

    def set_channel_display(self, channel: int, on: bool) -> None:
        """Switch the channel on or off (only displayed channels are acquired)."""
        self.write(f":CHAN{self._checked_channel(channel)}:DISP {'ON' if on else 'OFF'}")

    def set_edge_trigger(self, channel: int, level_v: float, slope: str = "POS", sweep: str = "NORM") -> None:
        """Edge trigger on a channel at level_v (volts at the probe tip); slope POS or NEG; sweep
        one of the model's `_sweeps` (a single acquisition is arm_single)."""
        ch = self._checked_channel(channel)
        slope = self._checked_choice(slope, "slope", ("POS", "NEG"))
        sweep = self._checked_choice(sweep, "sweep", self._sweeps)
        level = scpi_number(level_v, "level_v")
        self.write(":TRIG:MODE EDGE")
        self.write(f"{self._edge_node}:SOUR CHAN{ch}")
        self.write(f"{self._edge_node}:SLOP {slope}")
        self.write(f"{self._edge_node}:LEV {level}")
        self.write(f":TRIG:SWE {sweep}")
        self._trigger = EdgeTrigger(ch, level_v, slope, sweep)

    def edge_trigger(self) -> EdgeTrigger:
        """The edge trigger as the scope reports it."""
        source = self.query(f"{self._edge_node}:SOUR?")
        return EdgeTrigger(int(source.removeprefix("CHAN")), self.query_float(f"{self._edge_node}:LEV?"),
                           self.query(f"{self._edge_node}:SLOP?"), self.query(":TRIG:SWE?"))

    def run(self) -> None:
        self.write(":RUN")

    def stop(self) -> None:
        self.write(":STOP")

    def arm_single(self) -> None:
        """:SINGle: one acquisition, then STOP (with sweep AUTO it triggers itself if no edge
        comes)."""
        self.write(":SING")

    # -- what each model provides -------------------------------------------------------------

    # The query the trigger wait polls (named in its BenchFault).
    _status_query = ""
    # Whether capture() reads two bytes per point.
    _capture_word = False
    # The edge-trigger node as the model's programming guide spells it, and its sweep modes.
    _edge_node = ":TRIG:EDGE"
    _sweeps: tuple[str, ...] = ("AUTO", "NORM")

    @abc.abstractmethod
    def setup_channel(self, channel: int, volts_per_div: float, *, centre_v: float = 0.0,
                      coupling: str = "DC", probe: float = 1.0, bandwidth_limit: bool = False) -> None:
        """Switch the channel on and set it up; volts at the probe tip."""

    @abc.abstractmethod
    def set_timebase(self, seconds_per_div: float, delay_s: float = 0.0) -> None:
        """s/div, and the delay from the trigger to the screen centre (> 0: later times)."""

    @abc.abstractmethod
    def force_trigger(self) -> None:
        """Trigger the armed acquisition now, edge or not."""

    @abc.abstractmethod
    def _acquisition_state(self) -> tuple[bool, bool, str]:
        """(record complete, waiting for a trigger, the scope's state in words)."""

    @abc.abstractmethod
    def _read_record(self, channel: int, raw: bool, word: bool, points: int | None = None) -> Record:
        """The channel's last record: volts, rail mask and preamble. points: fewer points of the
        raw record (the scope decimates), where the model can; None for all."""

    @abc.abstractmethod
    def _check_capture_rate(self, channel_count: int, seconds_per_div: float, sample_rate_hz: float) -> None:
        """ValueError if the model cannot sample that fast at that timebase."""

    @abc.abstractmethod
    def _prepare_capture(self, channel_count: int, seconds_per_div: float, sample_rate_hz: float) -> int | None:
        """Set what the model needs for a capture at sample_rate_hz (memory depth, ...); the
        points to read of each raw record (None: all of it)."""

    # -- checks --------------------------------------------------------------------------------

    def _checked_channel(self, channel: int) -> int:
        if isinstance(channel, bool) or channel not in self.channels:
            raise ValueError(f"{self.name}: channel must be one of {self.channels}, got {channel!r}")
        return channel

    def _checked_choice(self, value: str, what: str, choices: Sequence[str]) -> str:
        word = str(value).upper()
        if word not in choices:
            raise ValueError(f"{self.name}: {what} must be one of {', '.join(choices)}, got {value!r}")
        return word

    def _checked_volts_per_div(self, volts_per_div: float, probe: float) -> float:
        low, high = (limit * probe for limit in self.volts_per_div_limits)
        if not low * (1 - 1e-9) <= volts_per_div <= high * (1 + 1e-9):
            raise ValueError(f"{self.name}: volts_per_div must be {low:g}..{high:g} V/div with a "
                             f"{probe:g}:1 probe, got {volts_per_div}")
        return volts_per_div

    def _checked_seconds_per_div(self, seconds_per_div: float) -> float:
        low, high = self.seconds_per_div_limits
        if not low * (1 - 1e-9) <= seconds_per_div <= high * (1 + 1e-9):
            raise ValueError(f"{self.name}: seconds_per_div must be {low:g}..{high:g} s/div, got {seconds_per_div}")
        return seconds_per_div

    def _checked_delay(self, delay_s: float, seconds_per_div: float) -> float:
        """Delay from the trigger to the screen centre: from half a screen before it (trigger
        at the right edge) to max(1 s, 100 div) after it [assumed from the data sheets]."""
        earliest = -self.horizontal_divisions / 2 * seconds_per_div
        latest = max(1.0, 100 * seconds_per_div)
        if not math.isfinite(delay_s) or not earliest * (1 + 1e-9) <= delay_s <= latest:
            raise ValueError(f"{self.name}: delay_s must be {earliest:g}..{latest:g} s at "
                             f"{seconds_per_div:g} s/div, got {delay_s}")
        return delay_s

    def _capture_plan(self, inputs: Sequence[AnalogInput], duration_s: float,
                      sample_rate_hz: float) -> _CapturePlan:
        """Everything capture() will set, checked before anything is sent."""
        inputs = list(inputs)
        names = [inp.name for inp in inputs]
        if not inputs or len(set(names)) != len(names):
            raise ValueError(f"{self.name}: capture inputs must be at least one, with distinct names; got {names}")
        if not (math.isfinite(duration_s) and duration_s > 0 and math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
            raise ValueError(f"{self.name}: duration_s and sample_rate_hz must be > 0, got {duration_s}, {sample_rate_hz}")
        planned, seen = [], set()
        for inp in inputs:
            channel = self._checked_channel(channel_number(inp.ain))
            if channel in seen:
                raise ValueError(f"{self.name}: {inp.ain} is given to two inputs")
            seen.add(channel)
            if inp.negative is not None:
                raise ValueError(f"{self.name}: {inp.name}: scope inputs are single-ended (negative must be None)")
            if not inp.range_v > 0:
                raise ValueError(f"{self.name}: {inp.name}: range_v must be > 0, got {inp.range_v}")
            volts_per_div = one_two_five_at_or_above(2 * inp.range_v / VERTICAL_DIVISIONS)
            if volts_per_div > self.volts_per_div_limits[1] * (1 + 1e-9):
                raise ValueError(f"{self.name}: {inp.name}: range_v {inp.range_v:g} V does not fit the "
                                 f"screen at the largest {self.volts_per_div_limits[1]:g} V/div")
            planned.append((inp, channel, max(volts_per_div, self.volts_per_div_limits[0])))
        seconds_per_div = self._checked_seconds_per_div(
            max(one_two_five_at_or_above(duration_s / self.horizontal_divisions), self.seconds_per_div_limits[0]))
        self._check_capture_rate(len(planned), seconds_per_div, sample_rate_hz)
        return _CapturePlan(tuple(planned), seconds_per_div)

    def _block(self, command: str, expected_points: int, word: bool, little_endian: bool = True) -> np.ndarray:
        """The codes of one :WAV:DATA? block, which must hold expected_points points."""
        data = self.query_block(command)
        try:
            codes = unpack_codes(data, word, little_endian)
        except ValueError as err:
            raise BenchFault(self.name, self.address, command, str(err)) from err
        if len(codes) != expected_points:
            raise BenchFault(self.name, self.address, command,
                             f"block holds {len(codes)} points, expected {expected_points}")
        return codes

    def _preamble(self) -> Preamble:
        reply = self.query(":WAV:PRE?")
        try:
            return parse_preamble(reply)
        except ValueError as err:
            raise BenchFault(self.name, self.address, ":WAV:PRE?", str(err)) from err
