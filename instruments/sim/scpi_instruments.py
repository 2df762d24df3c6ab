"""Simulated Keysight 34461A/34465A, 33500B/33600A and E3634A, answering SCPI through `ScpiServer`.

Each is built as SimX(name, clock, wiring, rng) and sees the jig only through `SimWiring`, keyed by
its name. Measurements let bench time pass on the shared VirtualClock before they sample a probe,
so a 10 PLC reading takes 200 ms of bench time as on the real meter, and the line model moves on.
Noise comes from the numpy Generator passed in, so a seeded bench reads the same every run.

Only the commands tipring's drivers send (and their obvious query forms) are simulated; anything
else is -113 "Undefined header", as a real instrument answers a command it does not know.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

from instruments.sim.clock import VirtualClock
from instruments.sim.scpi_server import (Call, ScpiDevice, ScpiError, format_reading, parse_block,
                                         parse_bool, parse_choice, parse_number)
from instruments.sim.terminals import SimWiring, SourceSetting, SupplySetting, unconnected

# How often a simulated input is sampled within a measurement window: fast enough for every
# voice-band signal tipring measures (ringing, tones up to 3.4 kHz).
PROBE_RATE_HZ = 10_000.0


def window_times(start_s: float, seconds: float, rate_hz: float = PROBE_RATE_HZ) -> np.ndarray:
    """Sample times (bench seconds) at the middle of `rate_hz` steps spanning start_s..start_s+seconds."""
    count = max(1, round(seconds * rate_hz))
    return start_s + (np.arange(count) + 0.5) * (seconds / count)


def ac_rms(values: np.ndarray) -> float:
    """AC-coupled true RMS of a window.

    The meter filters the squared signal; a Hann-weighted mean stands in for that filter and keeps
    the reading steady when the window does not hold a whole number of cycles.
    """
    weights = np.hanning(len(values) + 2)[1:-1]
    mean = np.average(values, weights=weights)
    return float(np.sqrt(np.average((values - mean) ** 2, weights=weights)))


def rising_edges_s(times: np.ndarray, values: np.ndarray, min_rms: float) -> np.ndarray:
    """Bench times at which the AC-coupled signal rises through zero (linearly interpolated).

    An edge counts only after the signal has been below -1/4 of its peak since the last edge, so
    noise riding on a zero crossing is not counted twice. A signal under min_rms has no edges.
    """
    ac = values - values.mean()
    rms = float(np.sqrt(np.mean(ac**2)))
    if rms < min_rms:
        return np.empty(0)
    armed = np.cumsum(ac < -0.25 * math.sqrt(2) * rms)
    edges, armed_at_last_edge = [], 0
    for i in np.flatnonzero((ac[:-1] < 0) & (ac[1:] >= 0)):
        if armed[i] > armed_at_last_edge:
            fraction = -ac[i] / (ac[i + 1] - ac[i])
            edges.append(times[i] + fraction * (times[i + 1] - times[i]))
            armed_at_last_edge = armed[i]
    return np.asarray(edges)


def quantize(value: float, step: float) -> float:
    """value rounded to a whole number of display counts of size `step`."""
    return round(value / step) * step


# --------------------------------------------------------------------------------------------
# Keysight 34461A / 34465A


@dataclass(frozen=True)
class _Window:
    """One scheduled reading: its function, range (None: autorange), the bench times it spans,
    and its noise and display resolution in ppm of range."""

    function: str
    range: float | None
    start_s: float
    seconds: float
    noise_ppm: float
    resolution_ppm: float


class SimDmm34461a(ScpiDevice):
    """A 34461A whose HI-LO input is wiring.dmm_inputs[name] and whose current input is
    wiring.dmm_current_inputs[name] (unconnected inputs read zero).

    Readings (documented choices, of the order of the real meter's):
    - DC: the window is NPLC power-line cycles at MAINS_HZ (10 PLC = 200 ms); the reading is the
      mean over it, so whole mains (and 20/25 Hz ringing) cycles average out as on the real meter.
      Autozero is accepted but takes no extra time.
    - AC: the reading settles over AC_WINDOW_S, ten periods of the AC filter's lowest frequency.
    - Frequency: a FREQ_GATE_S gate, extended up to FREQ_TIMEOUT_S until two rising edges are seen
      (0.0 if never, like the meter's low-frequency timeout); below FREQ_MIN_RMS there is no signal.
    - Noise: Gaussian, DC_NOISE_PPM (by NPLC) or AC_NOISE_PPM of the range, then rounded to the
      display resolution RESOLUTION_PPM (4.5 digits at 0.02 PLC, 6.5 at >= 1 PLC). Beyond
      OVERRANGE x range: +-9.9E+37. The meter is otherwise perfectly calibrated.
    Trigger system: INIT takes SAMP:COUN samples for each of TRIG:COUN immediate triggers; each
    trigger waits TRIG:DEL (AUTO: none) before its first sample and, with SAMP:SOUR IMM, between
    samples. The samples are taken when FETC? asks for them, at the bench times INIT scheduled
    (waiting for the last one if it still lies ahead), so the bench may act between INIT and FETC?.
    (Frequency readings in a series are scheduled one gate apart even when one extends its gate.)
    Reading memory keeps the newest READING_MEMORY readings. FETC? with nothing initiated is -221.
    CONFigure presets range, NPLC, AC filter, autozero and the trigger and sample system.
    """

    IDENTITY = "Keysight Technologies,34461A,MY53200001,A.03.01-03.15-03.01-00.52-02-01"
    MAINS_HZ = 50.0
    RANGES = {
        "VOLT:DC": (0.1, 1.0, 10.0, 100.0, 1000.0),
        "VOLT:AC": (0.1, 1.0, 10.0, 100.0, 750.0),
        "CURR:DC": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0),
        "CURR:AC": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0),
    }
    DEFAULT_NPLC = 10.0
    NPLC_STEPS = (0.02, 0.2, 1.0, 10.0, 100.0)
    DC_NOISE_PPM = {0.02: 30.0, 0.2: 6.0, 1.0: 2.0, 10.0: 0.6, 100.0: 0.2}
    RESOLUTION_PPM = {0.02: 100.0, 0.2: 10.0, 1.0: 1.0, 10.0: 1.0, 100.0: 1.0}
    AC_BANDWIDTHS_HZ = (3.0, 20.0, 200.0)
    DEFAULT_AC_BANDWIDTH_HZ = 20.0
    AC_WINDOW_S = {3.0: 10 / 3.0, 20.0: 0.5, 200.0: 0.05}
    AC_NOISE_PPM = 20.0
    AC_RESOLUTION_PPM = 1.0
    FREQ_GATE_S = 0.1
    FREQ_TIMEOUT_S = 1.0
    FREQ_MIN_RMS = 0.01
    OVERRANGE = 1.2
    OVERLOAD = 9.9e37
    READING_MEMORY = 10_000
    MAX_SAMPLE_COUNT = 1_000_000
    MAX_TRIGGER_COUNT = 1_000_000
    MAX_TRIGGER_DELAY_S = 3600.0

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__(self.IDENTITY)
        self.name, self.clock, self.wiring, self.rng = name, clock, wiring, rng
        for function in self.RANGES:
            self.command(f"CONFigure:{_long(function)}", lambda call, f=function: self._configure(call, f))
        self.command("CONFigure:FREQuency", lambda call: self._configure(call, "FREQ"))
        for function in ("VOLT:DC", "CURR:DC"):
            sense = f"[SENSe:]{_long(function)}"
            self.command(f"{sense}:NPLCycles", lambda call, f=function: self._set_nplc(call, f))
            self.command(f"{sense}:NPLCycles?", lambda call, f=function: self._get_nplc(call, f))
            self.command(f"{sense}:ZERO:AUTO", lambda call, f=function: self._set_autozero(call, f))
        for function in ("VOLT:AC", "CURR:AC"):
            sense = f"[SENSe:]{_long(function)}"
            self.command(f"{sense}:BANDwidth", lambda call, f=function: self._set_bandwidth(call, f))
            self.command(f"{sense}:BANDwidth?", lambda call, f=function: self._get_bandwidth(call, f))
        self.command("TRIGger:SOURce", self._set_trigger_source)
        self.command("TRIGger:DELay", self._set_trigger_delay)
        self.command("TRIGger:COUNt", self._set_trigger_count)
        self.command("SAMPle:COUNt", self._set_sample_count)
        self.command("SAMPle:COUNt?", lambda call: _integer_reply(call, self.sample_count))
        self.command("SYSTem:LFRequency?", lambda call: _integer_reply(call, self.MAINS_HZ))
        self.command("INITiate[:IMMediate]", self._initiate)
        self.command("FETCh?", self._fetch)
        self.command("READ?", self._read)
        self.reset()

    def reset(self) -> None:
        self.nplc = {"VOLT:DC": self.DEFAULT_NPLC, "CURR:DC": self.DEFAULT_NPLC}
        self.bandwidth_hz = {"VOLT:AC": self.DEFAULT_AC_BANDWIDTH_HZ, "CURR:AC": self.DEFAULT_AC_BANDWIDTH_HZ}
        self._preset("VOLT:DC", None)

    def _preset(self, function: str, range_: float | None) -> None:
        """What CONFigure sets besides its function and range."""
        self.function, self.range = function, range_
        if function in self.nplc:
            self.nplc[function] = self.DEFAULT_NPLC
        if function in self.bandwidth_hz:
            self.bandwidth_hz[function] = self.DEFAULT_AC_BANDWIDTH_HZ
        self.autozero = {"VOLT:DC": "ON", "CURR:DC": "ON"}
        self.trigger_delay_s: float | None = None  # None: AUTO
        self.trigger_count = 1
        self.sample_count = 1
        self.sample_source = "IMM"
        self.sample_timer_s = 1.0
        self._schedule: list[_Window] = []
        self._readings: list[float] | None = None

    # ---- configuration ------------------------------------------------------------------------

    def _configure(self, call: Call, function: str) -> None:
        # CONF <range>[,<resolution>]: the resolution is accepted and left to NPLC.
        params = call.at_most(2)
        range_ = None
        if params and params[0].upper() not in ("AUTO", "DEF", "DEFAULT"):
            if function == "FREQ":  # the expected frequency; the meter autoranges its volts
                parse_number(params[0], 0.0, math.inf)
            else:
                ranges = self.RANGES[function]
                wanted = parse_number(params[0], 0.0, ranges[-1])
                range_ = min(r for r in ranges if r >= wanted)
        if len(params) == 2:
            parse_number(params[1], 0.0, math.inf, default=0.0)
        self._preset(function, range_)

    def _set_nplc(self, call: Call, function: str) -> None:
        wanted = parse_number(call.one(), self.NPLC_STEPS[0], self.NPLC_STEPS[-1],
                              default=self.DEFAULT_NPLC)
        # The meter takes the next integration time at or above the one asked for.
        self.nplc[function] = min(n for n in self.NPLC_STEPS if n >= wanted * (1 - 1e-9))

    def _get_nplc(self, call: Call, function: str) -> str:
        call.none()
        return format_reading(self.nplc[function])

    def _set_autozero(self, call: Call, function: str) -> None:
        self.autozero[function] = parse_choice(call.one(), ["ON", "OFF", "ONCE"])

    def _set_bandwidth(self, call: Call, function: str) -> None:
        lowest = self.AC_BANDWIDTHS_HZ
        wanted = parse_number(call.one(), lowest[0], lowest[-1], default=self.DEFAULT_AC_BANDWIDTH_HZ)
        # The filter for the lowest frequency expected: the widest whose corner is at or below it.
        self.bandwidth_hz[function] = max(b for b in lowest if b <= wanted * (1 + 1e-9))

    def _get_bandwidth(self, call: Call, function: str) -> str:
        call.none()
        return format_reading(self.bandwidth_hz[function])

    def _set_trigger_source(self, call: Call) -> None:
        parse_choice(call.one(), ["IMMediate"])  # bus, external and level triggers: not simulated

    def _set_trigger_delay(self, call: Call) -> None:
        text = call.one()
        if text.strip().upper() == "AUTO":
            self.trigger_delay_s = None
        else:
            self.trigger_delay_s = parse_number(text, 0.0, self.MAX_TRIGGER_DELAY_S, default=0.0)

    def _set_trigger_count(self, call: Call) -> None:
        self.trigger_count = round(parse_number(call.one(), 1, self.MAX_TRIGGER_COUNT, default=1))

    def _set_sample_count(self, call: Call) -> None:
        self.sample_count = round(parse_number(call.one(), 1, self.MAX_SAMPLE_COUNT, default=1))

    # ---- measuring ----------------------------------------------------------------------------

    def _initiate(self, call: Call) -> None:
        call.none()
        reading_s, noise_ppm, resolution_ppm = self._reading_s(), *self._accuracy_ppm()
        if self.sample_source == "TIM" and self.sample_count > 1 and self.sample_timer_s < reading_s:
            raise ScpiError(-221, f"sample timer {self.sample_timer_s:g} s is shorter than a reading "
                                  f"({reading_s:g} s)")
        delay_s = self.trigger_delay_s or 0.0
        windows, t = [], self.clock.now()
        for _ in range(self.trigger_count):
            first = t + delay_s
            for k in range(self.sample_count):
                start = first + k * self.sample_timer_s if self.sample_source == "TIM" else t + delay_s
                windows.append(_Window(self.function, self.range, start, reading_s, noise_ppm, resolution_ppm))
                t = start + reading_s
        self._schedule, self._readings = windows, None

    def _fetch(self, call: Call) -> str:
        call.none()
        if self._readings is None:
            if not self._schedule:
                raise ScpiError(-221, "no readings: INIT first")
            self._readings = [self._take(window) for window in self._schedule][-self.READING_MEMORY:]
            self._schedule = []
        return ",".join(format_reading(r) for r in self._readings)

    def _read(self, call: Call) -> str:
        self._initiate(call)
        return self._fetch(call)

    def _reading_s(self) -> float:
        """How long one reading of the present function takes (frequency: its first gate)."""
        if self.function in self.nplc:
            return self.nplc[self.function] / self.MAINS_HZ
        if self.function in self.bandwidth_hz:
            return self.AC_WINDOW_S[self.bandwidth_hz[self.function]]
        return self.FREQ_GATE_S

    def _accuracy_ppm(self) -> tuple[float, float]:
        """(noise, display resolution) of the present function, ppm of range."""
        if self.function in self.nplc:
            nplc = self.nplc[self.function]
            return self.DC_NOISE_PPM[nplc], self.RESOLUTION_PPM[nplc]
        return self.AC_NOISE_PPM, self.AC_RESOLUTION_PPM

    def _probe(self, function: str):
        if function.startswith("CURR"):
            return self.wiring.dmm_current_inputs.get(self.name, unconnected)
        return self.wiring.dmm_inputs.get(self.name, unconnected)

    def _take(self, window: _Window) -> float:
        """One reading over `window`, once bench time has passed its end."""
        if window.function == "FREQ":
            return self._frequency_hz(window.start_s)
        self.clock.advance_to(window.start_s + window.seconds)
        values = self._probe(window.function)(window_times(window.start_s, window.seconds))
        is_ac = window.function.endswith("AC")
        value = ac_rms(values) if is_ac else float(np.mean(values))
        range_ = window.range or self._autorange(window.function, value)
        if abs(value) > self.OVERRANGE * range_:
            return math.copysign(self.OVERLOAD, value)
        reading = value + self.rng.normal(0.0, window.noise_ppm * 1e-6 * range_)
        if is_ac:
            reading = abs(reading)  # an RMS reading is never negative
        return quantize(reading, window.resolution_ppm * 1e-6 * range_)

    def _autorange(self, function: str, value: float) -> float:
        """The smallest range that holds the value (the largest if none does)."""
        ranges = self.RANGES[function]
        return next((r for r in ranges if abs(value) <= self.OVERRANGE * r), ranges[-1])

    def _frequency_hz(self, start_s: float) -> float:
        probe = self._probe("FREQ")
        end_s = start_s + self.FREQ_GATE_S
        self.clock.advance_to(end_s)
        times = window_times(start_s, self.FREQ_GATE_S)
        values = probe(times)
        edges = rising_edges_s(times, values, self.FREQ_MIN_RMS)
        while len(edges) < 2 and end_s - start_s < self.FREQ_TIMEOUT_S - 1e-9:
            more = window_times(end_s, self.FREQ_GATE_S)
            end_s += self.FREQ_GATE_S
            self.clock.advance_to(end_s)
            times, values = np.concatenate([times, more]), np.concatenate([values, probe(more)])
            edges = rising_edges_s(times, values, self.FREQ_MIN_RMS)
        if len(edges) < 2:
            return 0.0
        freq_hz = (len(edges) - 1) / (edges[-1] - edges[0])
        return freq_hz * (1.0 + self.rng.normal(0.0, 1e-6))


class SimDmm34465a(SimDmm34461a):
    """A 34465A: as the 34461A, plus the 0.06 PLC integration time, the 1 uA and 10 uA DC
    current ranges, less noise per NPLC (the data sheet's resolution table, read as RMS noise in
    ppm of range), 50 000 readings of memory, sample counts up to 1e9, and the sample timer
    (SAMP:SOUR TIM, SAMP:TIM: the first sample one trigger delay after the trigger, then one every
    SAMP:TIM; a timer shorter than a reading is -221 at INIT)."""

    IDENTITY = "Keysight Technologies,34465A,MY57500001,A.02.17-02.40-02.17-00.52-03-01"
    RANGES = {**SimDmm34461a.RANGES, "CURR:DC": (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0)}
    NPLC_STEPS = (0.02, 0.06, 0.2, 1.0, 10.0, 100.0)
    DC_NOISE_PPM = {0.02: 3.0, 0.06: 1.5, 0.2: 0.7, 1.0: 0.3, 10.0: 0.1, 100.0: 0.03}
    RESOLUTION_PPM = {0.02: 10.0, 0.06: 10.0, 0.2: 1.0, 1.0: 1.0, 10.0: 1.0, 100.0: 1.0}
    READING_MEMORY = 50_000
    MAX_SAMPLE_COUNT = 1_000_000_000
    MIN_SAMPLE_TIMER_S = 20e-6
    MAX_SAMPLE_TIMER_S = 3600.0

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__(name, clock, wiring, rng)
        self.command("SAMPle:SOURce", self._set_sample_source)
        self.command("SAMPle:TIMer", self._set_sample_timer)

    def _set_sample_source(self, call: Call) -> None:
        self.sample_source = parse_choice(call.one(), ["IMMediate", "TIMer"])

    def _set_sample_timer(self, call: Call) -> None:
        self.sample_timer_s = parse_number(call.one(), self.MIN_SAMPLE_TIMER_S, self.MAX_SAMPLE_TIMER_S,
                                           default=1.0)


def _long(function: str) -> str:
    """A function's header in guide notation: "VOLT:DC" -> "VOLTage[:DC]", "CURR:AC" -> "CURRent:AC"."""
    quantity, kind = function.split(":")
    quantity = {"VOLT": "VOLTage", "CURR": "CURRent"}[quantity]
    return f"{quantity}[:DC]" if kind == "DC" else f"{quantity}:AC"


def _integer_reply(call: Call, value: float) -> str:
    call.none()
    return f"{value:+.0f}"


# --------------------------------------------------------------------------------------------
# Keysight 33500B / 33600A


def exponential_rise(points: int = 1000) -> tuple[float, ...]:
    """An exponential rise from -1 to +1: a stand-in for the generator's built-in default arb."""
    x = np.linspace(0.0, 1.0, points)
    return tuple((2 * (1 - np.exp(-5 * x)) / (1 - math.exp(-5)) - 1).tolist())


DEFAULT_ARB_NAME = "EXP_RISE"
DEFAULT_ARB = exponential_rise()


@dataclass
class _GeneratorChannel:
    """One output as the instrument holds it. Volts are open-circuit (what a high-impedance input
    sees); the programmed value is that scaled by the load setting, as on the real generator,
    where changing OUTP:LOAD changes the displayed amplitude and not the output.

    arbs: the arbitrary waveforms in the channel's volatile memory, name -> samples -1..+1;
    arb_name: the one FUNC ARB plays."""

    function: str = "SIN"
    freq_hz: float = 1000.0
    open_vpp: float = 0.2  # *RST: 0.1 Vpp into the default 50 ohm load, 0.2 V open circuit
    open_offset_v: float = 0.0
    load_ohms: float = 50.0
    output_on: bool = False
    burst_on: bool = False
    burst_cycles: int = 1
    burst_period_s: float = 0.01
    trigger_source: str = "IMM"
    triggered_s: float | None = None
    arbs: dict[str, tuple[float, ...]] = field(default_factory=dict)
    arb_name: str = DEFAULT_ARB_NAME
    arb_sample_rate_hz: float = 40e3

    def volts_per_programmed_volt(self) -> float:
        """Open-circuit volts per programmed volt: 2 into 50 ohm (the 50 ohm source divides), 1 for INF."""
        if math.isinf(self.load_ohms):
            return 1.0
        return (self.load_ohms + SimGenerator33500b.SOURCE_OHMS) / self.load_ohms

    def arb_samples(self) -> tuple[float, ...]:
        return self.arbs.get(self.arb_name, DEFAULT_ARB)

    def cycle_s(self) -> float:
        """One cycle of the present function: a sine period or one pass through the arb."""
        if self.function == "ARB":
            return len(self.arb_samples()) / self.arb_sample_rate_hz
        return 1.0 / self.freq_hz


class SimGenerator33500b(ScpiDevice):
    """A two-channel 33522B. Every change of a channel calls
    wiring.generator_outputs[f"{name}:{channel}"] with the new SourceSetting (open-circuit volts).

    Limits of the real instrument (sine, up to 30 MHz): 1 mVpp..10 Vpp into 50 ohm, i.e. 2 mVpp..
    20 Vpp open circuit, and |offset| + Vpp/2 <= 10 V open circuit. Out of range is -222; an
    amplitude and offset that together leave the span are -221 and change nothing. A burst period
    too short for its cycles is lengthened to fit, with -221, as the real instrument does.

    Arbitrary waveforms: DATA:ARB:DAC <name>,<block of int16> (byte order per FORM:BORD, NORMal =
    big-endian at *RST) or DATA:ARB <name>,<block of float32 -1..+1>, into the channel's volatile
    memory of ARB_MEMORY_POINTS; ARB_MIN_POINTS..ARB_MEMORY_POINTS points per waveform. Numbers
    standing in for the instrument's device-specific errors: a block that is not whole values is
    -161, codes beyond +-32767 (or floats beyond +-1), too few points or no room left -222, a
    name already loaded -221, a bad name or FUNC:ARB of a name not loaded -224. DATA:VOL:CLE
    empties the memory and selects the built-in default arb. A burst cycle of an arb is one pass.
    Simulated subset: triggered bursts (TRIG:SOUR IMM paced by the internal period; BUS started by
    *TRG; EXT accepted, but nothing drives Trig In), amplitude in VPP.
    """

    IDENTITY = "Keysight Technologies,33522B,MY52300001,4.00-1.19-2.00-58-00"
    CHANNELS = (1, 2)
    SOURCE_OHMS = 50.0
    MAX_FREQ_HZ = 30e6
    MIN_OPEN_VPP = 0.002
    MAX_OPEN_VPP = 20.0
    MAX_OPEN_PEAK_V = 10.0
    ARB_MIN_POINTS = 8
    ARB_MEMORY_POINTS = 1_000_000
    MAX_SAMPLE_RATE_HZ = 250e6

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__(self.IDENTITY)
        self.name, self.clock, self.wiring, self.rng = name, clock, wiring, rng
        self._published: dict[int, SourceSetting] = {}
        self.command("[SOURce#:]FUNCtion[:SHAPe]", self._set_function)
        self.command("[SOURce#:]FUNCtion:ARBitrary", self._select_arb)
        self.command("[SOURce#:]FUNCtion:ARBitrary:SRATe", self._set_sample_rate)
        self.command("[SOURce#:]FREQuency", self._set_frequency)
        self.command("[SOURce#:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._set_amplitude)
        self.command("[SOURce#:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?", self._get_amplitude)
        self.command("[SOURce#:]VOLTage[:LEVel][:IMMediate]:OFFSet", self._set_offset)
        self.command("[SOURce#:]VOLTage:UNIT", self._set_unit)
        self.command("[SOURce#:]DATA:VOLatile:CLEar", self._clear_arbs)
        self.command("[SOURce#:]DATA:ARBitrary#:DAC", self._load_dac_codes)
        self.command("[SOURce#:]DATA:ARBitrary#", self._load_floats)
        self.command("FORMat:BORDer", self._set_byte_order)
        self.command("[SOURce#:]BURSt:MODE", self._set_burst_mode)
        self.command("[SOURce#:]BURSt:NCYCles", self._set_burst_cycles)
        self.command("[SOURce#:]BURSt:INTernal:PERiod", self._set_burst_period)
        self.command("[SOURce#:]BURSt[:STATe]", self._set_burst_state)
        self.command("TRIGger#:SOURce", self._set_trigger_source)
        self.command("*TRG", self._bus_trigger)
        self.command("OUTPut#[:STATe]", self._set_output)
        self.command("OUTPut#:LOAD", self._set_load)
        self.reset()

    def reset(self) -> None:
        self.byte_order = "NORM"
        self._channels = {n: _GeneratorChannel() for n in self.CHANNELS}
        for n in self.CHANNELS:
            self._publish(n)

    def _channel(self, call: Call) -> tuple[int, _GeneratorChannel]:
        n = call.suffixes[0]
        if n not in self._channels:
            raise ScpiError(-114, f"channel {n}")
        return n, self._channels[n]

    def _set_function(self, call: Call) -> None:
        n, ch = self._channel(call)
        ch.function = parse_choice(call.one(), ["SINusoid", "SQUare", "TRIangle", "RAMP",
                                                "PULSe", "NOISe", "DC", "ARBitrary"])
        self._fit_burst(ch)
        self._publish(n)

    def _set_frequency(self, call: Call) -> None:
        n, ch = self._channel(call)
        ch.freq_hz = parse_number(call.one(), 1e-6, self.MAX_FREQ_HZ, default=1000.0)
        self._fit_burst(ch)
        self._publish(n)

    def _set_amplitude(self, call: Call) -> None:
        n, ch = self._channel(call)
        k = ch.volts_per_programmed_volt()
        open_vpp = k * parse_number(call.one(), self.MIN_OPEN_VPP / k, self.MAX_OPEN_VPP / k,
                                    default=_GeneratorChannel.open_vpp / k)
        self._check_span(open_vpp, ch.open_offset_v)
        ch.open_vpp = open_vpp
        self._publish(n)

    def _get_amplitude(self, call: Call) -> str:
        _, ch = self._channel(call)
        call.none()
        return f"{ch.open_vpp / ch.volts_per_programmed_volt():+.14E}"

    def _set_offset(self, call: Call) -> None:
        n, ch = self._channel(call)
        k = ch.volts_per_programmed_volt()
        limit = self.MAX_OPEN_PEAK_V / k
        open_offset_v = k * parse_number(call.one(), -limit, limit, default=0.0)
        self._check_span(ch.open_vpp, open_offset_v)
        ch.open_offset_v = open_offset_v
        self._publish(n)

    def _check_span(self, open_vpp: float, open_offset_v: float) -> None:
        if abs(open_offset_v) + open_vpp / 2 > self.MAX_OPEN_PEAK_V * (1 + 1e-12):
            raise ScpiError(-221, "amplitude and offset exceed the +-10 V output span")

    def _set_unit(self, call: Call) -> None:
        self._channel(call)
        parse_choice(call.one(), ["VPP"])  # VRMS and DBM are not simulated

    # ---- arbitrary waveforms ------------------------------------------------------------------

    def _set_byte_order(self, call: Call) -> None:
        self.byte_order = parse_choice(call.one(), ["NORMal", "SWAPped"])

    def _clear_arbs(self, call: Call) -> None:
        n, ch = self._channel(call)
        call.none()
        ch.arbs.clear()
        ch.arb_name = DEFAULT_ARB_NAME
        self._publish(n)

    def _load_dac_codes(self, call: Call) -> None:
        n, ch = self._channel(call)
        name, data = self._name_and_block(call)
        if len(data) % 2:
            raise ScpiError(-161, f"{len(data)} bytes are not whole 16-bit codes")
        codes = np.frombuffer(data, dtype=">i2" if self.byte_order == "NORM" else "<i2")
        if codes.size and np.max(np.abs(codes.astype(np.int32))) > 32767:
            raise ScpiError(-222, "DAC codes must lie within -32767..+32767")
        self._store_arb(ch, name, codes / 32767.0)

    def _load_floats(self, call: Call) -> None:
        n, ch = self._channel(call)
        name, data = self._name_and_block(call)
        if len(data) % 4:
            raise ScpiError(-161, f"{len(data)} bytes are not whole 32-bit floats")
        values = np.frombuffer(data, dtype=">f4" if self.byte_order == "NORM" else "<f4").astype(float)
        if values.size and not np.all(np.abs(values) <= 1.0):
            raise ScpiError(-222, "arb values must lie within -1..+1")
        self._store_arb(ch, name, values)

    def _name_and_block(self, call: Call) -> tuple[str, bytes]:
        if len(call.params) != 2:
            raise ScpiError(-109 if len(call.params) < 2 else -108)
        name = call.params[0].strip().strip('"').upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,11}", name):
            raise ScpiError(-224, f"{call.params[0]!r} is not an arb name")
        return name, parse_block(call.params[1])

    def _store_arb(self, ch: _GeneratorChannel, name: str, samples: np.ndarray) -> None:
        if name in ch.arbs:
            raise ScpiError(-221, f"arb {name} is already loaded; DATA:VOL:CLE first")
        used = sum(len(s) for s in ch.arbs.values())
        if not self.ARB_MIN_POINTS <= len(samples) <= self.ARB_MEMORY_POINTS - used:
            raise ScpiError(-222, f"{len(samples)} points; {self.ARB_MIN_POINTS}.."
                                  f"{self.ARB_MEMORY_POINTS - used} fit")
        ch.arbs[name] = tuple(samples.tolist())

    def _select_arb(self, call: Call) -> None:
        n, ch = self._channel(call)
        name = call.one().strip().strip('"').upper()
        if name not in ch.arbs and name != DEFAULT_ARB_NAME:
            raise ScpiError(-224, f"arb {name} is not loaded")
        ch.arb_name = name
        self._fit_burst(ch)
        self._publish(n)

    def _set_sample_rate(self, call: Call) -> None:
        n, ch = self._channel(call)
        ch.arb_sample_rate_hz = parse_number(call.one(), 1e-6, self.MAX_SAMPLE_RATE_HZ, default=40e3)
        self._fit_burst(ch)
        self._publish(n)

    # ---- bursts and output --------------------------------------------------------------------

    def _set_burst_mode(self, call: Call) -> None:
        self._channel(call)
        parse_choice(call.one(), ["TRIGgered"])  # gated bursts are not simulated

    def _set_burst_cycles(self, call: Call) -> None:
        n, ch = self._channel(call)
        ch.burst_cycles = round(parse_number(call.one(), 1, 1e8, default=1))
        self._fit_burst(ch)
        self._publish(n)

    def _set_burst_period(self, call: Call) -> None:
        n, ch = self._channel(call)
        ch.burst_period_s = parse_number(call.one(), 1e-6, 8000.0, default=0.01)
        self._fit_burst(ch)
        self._publish(n)

    def _set_burst_state(self, call: Call) -> None:
        n, ch = self._channel(call)
        ch.burst_on = parse_bool(call.one())
        ch.triggered_s = None
        self._fit_burst(ch)
        self._publish(n)

    def _fit_burst(self, ch: _GeneratorChannel) -> None:
        needed_s = ch.burst_cycles * ch.cycle_s()
        if ch.burst_on and ch.trigger_source == "IMM" and needed_s > ch.burst_period_s:
            ch.burst_period_s = needed_s
            self.push_error(ScpiError(-221, "burst period increased to fit entire burst"))

    def _set_trigger_source(self, call: Call) -> None:
        n, ch = self._channel(call)
        ch.trigger_source = parse_choice(call.one(), ["IMMediate", "BUS", "EXTernal"])
        ch.triggered_s = None
        self._fit_burst(ch)
        self._publish(n)

    def _bus_trigger(self, call: Call) -> None:
        call.none()
        for n, ch in self._channels.items():
            if ch.trigger_source == "BUS":
                ch.triggered_s = self.clock.now()
                self._publish(n)

    def _set_output(self, call: Call) -> None:
        n, ch = self._channel(call)
        ch.output_on = parse_bool(call.one())
        self._publish(n)

    def _set_load(self, call: Call) -> None:
        n, ch = self._channel(call)
        ch.load_ohms = parse_number(call.one(), 1.0, 10e3, default=50.0, infinity=True)

    def _publish(self, n: int) -> None:
        """Tell the jig what channel n now carries, if that changed."""
        ch = self._channels[n]
        is_arb = ch.function == "ARB"
        setting = SourceSetting(function=ch.function, freq_hz=ch.freq_hz, amplitude_vpp=ch.open_vpp,
                                offset_v=ch.open_offset_v, output_on=ch.output_on,
                                burst_cycles=ch.burst_cycles if ch.burst_on else None,
                                burst_period_s=ch.burst_period_s, since_s=self.clock.now(),
                                arb_samples=ch.arb_samples() if is_arb else None,
                                arb_sample_rate_hz=ch.arb_sample_rate_hz, burst_trigger=ch.trigger_source,
                                burst_triggered_s=ch.triggered_s)
        last = self._published.get(n)
        if last is not None and replace(last, since_s=setting.since_s) == setting:
            return
        self._published[n] = setting
        sink = self.wiring.generator_outputs.get(f"{self.name}:{n}")
        if sink is not None:
            sink(setting)


class SimGenerator33600a(SimGenerator33500b):
    """A two-channel 33622A: as the 33522B, up to 120 MHz, with 4 M points of arb memory per
    channel (32 at least) and sample rates up to 1 GSa/s."""

    IDENTITY = "Keysight Technologies,33622A,MY53800001,A.02.03-3.15-03.64-52-52"
    MAX_FREQ_HZ = 120e6
    ARB_MIN_POINTS = 32
    ARB_MEMORY_POINTS = 4_000_000
    MAX_SAMPLE_RATE_HZ = 1e9


# --------------------------------------------------------------------------------------------
# Keysight E3634A


class SimSupplyE3634a(ScpiDevice):
    """An E3634A whose output drives wiring.supply_outputs[f"{name}:1"] (a SupplyLoad).

    Every change of setting calls the load's supply_changed; MEAS:VOLT? and MEAS:CURR? read its
    supply_operating_point() plus readback noise. With nothing connected the output is open:
    the set point while on, 0 V while off, and no current.
    Programming limits of the real supply: P25V range 0..25.75 V, 0..7.21 A; P50V range 0..51.5 V,
    0..4.12 A; over-voltage protection 1..55 V. Assumed (not from the guide): *RST leaves the
    protection off at 55 V; a trip switches the output off until *RST; the trip compares the set
    point with the protection level.
    """

    RANGES = {"P25V": (25.75, 7.21), "P50V": (51.5, 4.12)}
    OVP_LIMITS_V = (1.0, 55.0)
    READBACK_V = (0.5e-3, 1e-3)  # noise sigma, display step
    READBACK_A = (0.05e-3, 0.1e-3)

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__("Agilent Technologies,E3634A,0,2.4-6.1-2.1")
        self.name, self.clock, self.wiring, self.rng = name, clock, wiring, rng
        self._published: SupplySetting | None = None
        self.command("[SOURce:]VOLTage:RANGe", self._set_range)
        self.command("[SOURce:]VOLTage:RANGe?", self._get_range)
        self.command("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._set_voltage)
        self.command("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]", self._set_current)
        self.command("[SOURce:]VOLTage:PROTection[:LEVel]", self._set_protection_level)
        self.command("[SOURce:]VOLTage:PROTection:STATe", self._set_protection_state)
        self.command("[SOURce:]VOLTage:PROTection:TRIPped?", self._get_tripped)
        self.command("OUTPut[:STATe]", self._set_output)
        self.command("OUTPut[:STATe]?", self._get_output)
        self.command("MEASure[:SCALar]:VOLTage[:DC]?", self._measure_voltage)
        self.command("MEASure[:SCALar]:CURRent[:DC]?", self._measure_current)
        self.reset()

    def reset(self) -> None:
        self.range = "P25V"
        self.voltage_v = 0.0
        self.current_limit_a = self.RANGES["P25V"][1]
        self.output_on = False
        self.protection_v = self.OVP_LIMITS_V[1]
        self.protection_on = False
        self.tripped = False
        self._publish()

    @property
    def _load(self):
        return self.wiring.supply_outputs.get(f"{self.name}:1")

    def _set_range(self, call: Call) -> None:
        chosen = parse_choice(call.one(), ["P25V", "P50V", "LOW", "HIGH"])
        self.range = {"LOW": "P25V", "HIGH": "P50V"}.get(chosen, chosen)
        max_v, max_a = self.RANGES[self.range]
        self.voltage_v = min(self.voltage_v, max_v)
        self.current_limit_a = min(self.current_limit_a, max_a)
        self._changed()

    def _get_range(self, call: Call) -> str:
        call.none()
        return self.range

    def _set_voltage(self, call: Call) -> None:
        self.voltage_v = parse_number(call.one(), 0.0, self.RANGES[self.range][0], default=0.0)
        self._changed()

    def _set_current(self, call: Call) -> None:
        max_a = self.RANGES[self.range][1]
        self.current_limit_a = parse_number(call.one(), 0.0, max_a, default=max_a)
        self._changed()

    def _set_protection_level(self, call: Call) -> None:
        low_v, high_v = self.OVP_LIMITS_V
        self.protection_v = parse_number(call.one(), low_v, high_v, default=high_v)
        self._changed()

    def _set_protection_state(self, call: Call) -> None:
        self.protection_on = parse_bool(call.one())
        self._changed()

    def _get_tripped(self, call: Call) -> str:
        call.none()
        return "1" if self.tripped else "0"

    def _set_output(self, call: Call) -> None:
        self.output_on = parse_bool(call.one()) and not self.tripped
        self._changed()

    def _get_output(self, call: Call) -> str:
        call.none()
        return "1" if self.output_on else "0"

    def _changed(self) -> None:
        if self.protection_on and self.output_on and self.voltage_v > self.protection_v:
            self.tripped = True
            self.output_on = False
        self._publish()

    def _publish(self) -> None:
        setting = SupplySetting(voltage_v=self.voltage_v, current_limit_a=self.current_limit_a,
                                output_on=self.output_on)
        if setting == self._published:
            return
        self._published = setting
        if self._load is not None:
            self._load.supply_changed(setting)

    def _operating_point(self) -> tuple[float, float]:
        if self._load is not None:
            return self._load.supply_operating_point()
        return (self.voltage_v if self.output_on else 0.0), 0.0

    def _measure_voltage(self, call: Call) -> str:
        call.none()
        sigma, step = self.READBACK_V
        volts = self._operating_point()[0] + self.rng.normal(0.0, sigma)
        return format_reading(quantize(volts, step))

    def _measure_current(self, call: Call) -> str:
        call.none()
        sigma, step = self.READBACK_A
        amps = self._operating_point()[1] + self.rng.normal(0.0, sigma)
        return format_reading(quantize(amps, step))
