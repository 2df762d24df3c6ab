"""Keysight Truevolt digital multimeters (34461A, 34465A; also 34460A, 34470A) as a Voltmeter
and an Ammeter, with timed series of readings.

Every single measurement is one CONFigure (function and range), the integration time or AC
filter (CONFigure resets both, so they follow it), and READ?:

    CONF:VOLT:DC 100        fixed 100 V range (AUTO for autorange)
    VOLT:DC:NPLC 10         integrate over 10 power-line cycles
    READ?                   -> "-4.79823100E+01"

    CONF:VOLT:AC AUTO
    VOLT:AC:BAND 20         the 20 Hz AC filter: right for 20/25 Hz ringing
    READ?                   -> "+7.00123400E+01"

A timed series is CONFigure, then the trigger and sample system, INIT and FETC? of a comma list.
The 34465A/34470A pace samples with their sample timer; the 34460A/34461A have none, so the
sample count with a trigger delay between samples paces them (the delay is the interval less the
integration time, so readings are only as evenly spaced as the meter's per-reading overhead,
about a millisecond). Both switch autozero to ONCE, because autozero would add a zero reading to
every sample and double the interval:

    34465A: CONF:VOLT:DC 100; VOLT:DC:NPLC 1; VOLT:DC:ZERO:AUTO ONCE; TRIG:SOUR IMM; TRIG:DEL 0;
            SAMP:SOUR TIM; SAMP:TIM 0.1; SAMP:COUN 50; INIT; FETC?
    34461A: CONF:VOLT:DC 100; VOLT:DC:NPLC 1; VOLT:DC:ZERO:AUTO ONCE; TRIG:SOUR IMM;
            TRIG:DEL 0.08; SAMP:COUN 50; INIT; FETC?

AC plus DC: the Truevolt meters have no AC+DC function, so measure_acdc_volts takes one DC and
one AC reading and returns sqrt(dc^2 + ac^2), the true RMS of a signal that holds still for both.

A reading beyond the range comes back as +-9.9E+37 (overload); the driver returns it as +-inf so
any limit check on it fails rather than passing on a huge number.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from instruments.errors import BenchFault
from instruments.scpi import ScpiInstrument, scpi_number

# Integration times every Truevolt meter accepts, in power-line cycles.
NPLC_CHOICES = (0.02, 0.2, 1.0, 10.0, 100.0)
# The 34465A/34470A add 0.06 PLC (0.001..0.006 PLC need the DIG option and are left out).
NPLC_CHOICES_34465A = (0.02, 0.06, 0.2, 1.0, 10.0, 100.0)

# AC filters, named by the lowest signal frequency they measure accurately.
AC_BANDWIDTH_CHOICES_HZ = (3.0, 20.0, 200.0)

# What the meter returns for an overloaded input, in reading units.
OVERLOAD_READING = 9.9e37

# Reading memory, in readings (the 34465A's MEM option's 2 M is not assumed).
READING_MEMORY = {"34460A": 1_000, "34461A": 10_000, "34465A": 50_000, "34470A": 50_000}

# Models with SAMPle:SOURce TIMer.
SAMPLE_TIMER_MODELS = ("34465A", "34470A")

# The functions a timed series can take: (CONFigure node, sense node). DC only: an AC reading
# needs its filter to settle, so AC readings come from measure_ac_volts one at a time.
SERIES_FUNCTIONS = {"dc_volts": ("VOLT:DC", "VOLT:DC"), "dc_amps": ("CURR:DC", "CURR:DC")}


class Readings(NamedTuple):
    """A timed series: times_s from the start of the first reading (nominal, seconds) and the
    readings (volts or amperes, overloads as +-inf)."""

    times_s: np.ndarray
    values: np.ndarray


def range_parameter(range_: float | None, what: str) -> str:
    """The CONFigure range argument: the expected magnitude, or AUTO for autoranging."""
    if range_ is None:
        return "AUTO"
    if not range_ > 0:
        raise ValueError(f"{what} must be > 0 (or None for autorange), got {range_}")
    return scpi_number(range_, what)


def reading_value(reading: float) -> float:
    """A reading in volts/amperes/hertz, with the overload value turned into +-inf."""
    if abs(reading) >= OVERLOAD_READING:
        return math.copysign(math.inf, reading)
    return reading


def parse_readings(reply: str) -> np.ndarray:
    """A FETC?/READ? comma list ("+1.0E+00,-2.0E-01") as floats, overloads as +-inf."""
    values = np.array([float(text) for text in reply.split(",")])
    overloaded = np.abs(values) >= OVERLOAD_READING
    values[overloaded] = np.copysign(np.inf, values[overloaded])
    return values


def _checked_choice(value: float, choices: tuple[float, ...], what: str) -> float:
    if value not in choices:
        raise ValueError(f"{what} must be one of {choices}, got {value}")
    return float(value)


class Keysight34461A(ScpiInstrument):
    """A 34461A or 34465A (or 34460A/34470A: same commands) on the bench.

    nplc: integration time for DC volts and DC current, in power-line cycles (one of
    NPLC_CHOICES; 10 is the meter's default and rejects mains hum well; the 34465A's extra 0.06
    can be set with set_nplc once open). ac_bandwidth_hz: the AC filter (3, 20 or 200 Hz).
    """

    models = ("34460A", "34461A", "34465A", "34470A")

    def __init__(self, address: str, name: str = "dmm", *, nplc: float = 10.0,
                 ac_bandwidth_hz: float = 20.0, **kwargs):
        self.nplc = _checked_choice(nplc, NPLC_CHOICES, "nplc")
        self.ac_bandwidth_hz = _checked_choice(ac_bandwidth_hz, AC_BANDWIDTH_CHOICES_HZ, "ac_bandwidth_hz")
        self._line_hz: float | None = None
        super().__init__(address, name, **kwargs)

    @property
    def nplc_choices(self) -> tuple[float, ...]:
        """Integration times this model accepts, in power-line cycles."""
        return NPLC_CHOICES_34465A if self.identity.model in SAMPLE_TIMER_MODELS else NPLC_CHOICES

    @property
    def reading_memory(self) -> int:
        """How many readings one series can hold."""
        return READING_MEMORY[self.identity.model]

    def set_nplc(self, nplc: float) -> None:
        """Integration time for the next DC measurements, in power-line cycles."""
        self.nplc = _checked_choice(nplc, self.nplc_choices, "nplc")

    def set_ac_bandwidth(self, bandwidth_hz: float) -> None:
        """AC filter for the next AC measurements: 3 Hz (slow, settles in seconds), 20 Hz (for
        ringing) or 200 Hz (fast, voice-band tones only)."""
        self.ac_bandwidth_hz = _checked_choice(bandwidth_hz, AC_BANDWIDTH_CHOICES_HZ, "bandwidth_hz")

    def measure_dc_volts(self, range_v: float | None = None) -> float:
        """DC volts across HI-LO, averaged over the integration time."""
        return self._read_dc("VOLT:DC", range_parameter(range_v, "range_v"))

    def measure_ac_volts(self, range_v: float | None = None) -> float:
        """AC-coupled true-RMS volts across HI-LO, through the AC filter."""
        return self._read_ac("VOLT:AC", range_parameter(range_v, "range_v"))

    def measure_acdc_volts(self, range_v: float | None = None) -> float:
        """True RMS of AC plus DC across HI-LO, from one DC and one AC reading:
        sqrt(dc^2 + ac^2). The signal must hold still for both readings."""
        dc = self.measure_dc_volts(range_v)
        ac = self.measure_ac_volts(range_v)
        return math.hypot(dc, ac)

    def measure_dc_amps(self, range_a: float | None = None) -> float:
        """DC amperes through the current terminals, averaged over the integration time."""
        return self._read_dc("CURR:DC", range_parameter(range_a, "range_a"))

    def measure_ac_amps(self, range_a: float | None = None) -> float:
        """AC-coupled true-RMS amperes through the current terminals."""
        return self._read_ac("CURR:AC", range_parameter(range_a, "range_a"))

    def measure_frequency_hz(self) -> float:
        """Frequency of the AC-coupled signal across HI-LO (ring frequency); 0.0 if there is none."""
        self.write("CONF:FREQ")
        return reading_value(self.query_float("READ?"))

    def measure_series(self, function: str, count: int, interval_s: float,
                       range_: float | None = None) -> Readings:
        """`count` readings of `function` ("dc_volts" or "dc_amps") every interval_s seconds,
        each integrated over the present NPLC; range_ None autoranges (the guide advises a fixed
        range, so that no reading waits for a range change)."""
        if function not in SERIES_FUNCTIONS:
            raise ValueError(f"function must be one of {tuple(SERIES_FUNCTIONS)}, got {function!r}")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= self.reading_memory:
            raise ValueError(f"count must be a whole number 1..{self.reading_memory} "
                             f"(the {self.identity.model}'s reading memory), got {count!r}")
        if not (math.isfinite(interval_s) and interval_s > 0):
            raise ValueError(f"interval_s must be a finite number > 0, got {interval_s}")
        range_text = range_parameter(range_, "range_")
        integration_s = self.nplc / self.line_frequency_hz()
        if interval_s < integration_s:
            raise ValueError(f"interval_s {interval_s:g} is shorter than the integration time "
                             f"({self.nplc:g} PLC = {integration_s:g} s)")
        conf, sense = SERIES_FUNCTIONS[function]
        self.write(f"CONF:{conf} {range_text}")
        self.write(f"{sense}:NPLC {scpi_number(self.nplc)}")
        self.write(f"{sense}:ZERO:AUTO ONCE")
        self.write("TRIG:SOUR IMM")
        if self.identity.model in SAMPLE_TIMER_MODELS:
            self.write("TRIG:DEL 0")
            self.write("SAMP:SOUR TIM")
            self.write(f"SAMP:TIM {scpi_number(interval_s, 'interval_s')}")
        else:
            self.write(f"TRIG:DEL {scpi_number(interval_s - integration_s, 'interval_s')}")
        self.write(f"SAMP:COUN {count}")
        self.write("INIT")
        values = self._fetch(count * interval_s)
        return Readings(np.arange(len(values)) * interval_s, values)

    def line_frequency_hz(self) -> float:
        """The mains frequency the meter integrates against (50 or 60), asked once (a query
        that changes nothing, so measure_series may send it before refusing a too-short interval)."""
        if self._line_hz is None:
            self._line_hz = self.query_float("SYST:LFR?")
        return self._line_hz

    def _read_dc(self, function: str, range_text: str) -> float:
        self.write(f"CONF:{function} {range_text}")
        self.write(f"{function}:NPLC {scpi_number(self.nplc)}")
        return reading_value(self.query_float("READ?"))

    def _read_ac(self, function: str, range_text: str) -> float:
        self.write(f"CONF:{function} {range_text}")
        self.write(f"{function}:BAND {scpi_number(self.ac_bandwidth_hz)}")
        return reading_value(self.query_float("READ?"))

    def _fetch(self, duration_s: float) -> np.ndarray:
        """FETC? waits for the whole series, so the timeout grows by its duration."""
        timeout_ms = self._resource.timeout
        self._resource.timeout = timeout_ms + math.ceil(duration_s * 1000)
        try:
            reply = self.query("FETC?")
        finally:
            self._resource.timeout = timeout_ms
        try:
            return parse_readings(reply)
        except ValueError as err:
            raise BenchFault(self.name, self.address, "FETC?",
                             f"reply {reply[:40]!r} is not a list of readings") from err
