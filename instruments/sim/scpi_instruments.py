"""Simulated Keysight 34461A, 33500B and E3634A, answering SCPI through `ScpiServer`.

Each is built as SimX(name, clock, wiring, rng) and sees the jig only through `SimWiring`, keyed by
its name. Measurements let bench time pass on the shared VirtualClock before they sample a probe,
so a 10 PLC reading takes 200 ms of bench time as on the real meter, and the line model moves on.
Noise comes from the numpy Generator passed in, so a seeded bench reads the same every run.

Only the commands tipring's drivers send (and their obvious query forms) are simulated; anything
else is -113 "Undefined header", as a real instrument answers a command it does not know.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from instruments.sim.clock import VirtualClock
from instruments.sim.scpi_server import (Call, ScpiDevice, ScpiError, format_reading, parse_bool,
                                         parse_choice, parse_number)
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
# Keysight 34461A


# Ranges of each measurement function, in volts or amperes.
_RANGES = {
    "VOLT:DC": (0.1, 1.0, 10.0, 100.0, 1000.0),
    "VOLT:AC": (0.1, 1.0, 10.0, 100.0, 750.0),
    "CURR:DC": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0),
}


class SimDmm34461a(ScpiDevice):
    """A 34461A whose HI-LO input is wiring.dmm_inputs[name] and whose current input is
    wiring.dmm_current_inputs[name] (unconnected inputs read zero).

    Timing and noise (documented choices, of the order of the real meter's, not its data sheet):
    - DC: the window is NPLC power-line cycles at MAINS_HZ (10 PLC = 200 ms); the reading is the
      mean over it, so whole mains (and 20/25 Hz ringing) cycles average out as on the real meter.
    - AC: the default 20 Hz AC filter; the reading settles over AC_WINDOW_S.
    - Frequency: a FREQ_GATE_S gate, extended up to FREQ_TIMEOUT_S until two rising edges are seen
      (0.0 if never, like the meter's low-frequency timeout); below FREQ_MIN_RMS there is no signal.
    - Noise: Gaussian, DC_NOISE_PPM (by NPLC) or AC_NOISE_PPM of the range, then rounded to the
      display resolution (6.5 digits at >= 1 PLC). Beyond OVERRANGE x range: +-9.9E+37.
    """

    MAINS_HZ = 50.0
    DEFAULT_NPLC = 10.0
    NPLC_STEPS = (0.02, 0.2, 1.0, 10.0, 100.0)
    DC_NOISE_PPM = {0.02: 30.0, 0.2: 6.0, 1.0: 2.0, 10.0: 0.6, 100.0: 0.2}
    RESOLUTION_PPM = {0.02: 100.0, 0.2: 10.0, 1.0: 1.0, 10.0: 1.0, 100.0: 1.0}
    AC_WINDOW_S = 0.5
    AC_NOISE_PPM = 20.0
    FREQ_GATE_S = 0.1
    FREQ_TIMEOUT_S = 1.0
    FREQ_MIN_RMS = 0.01
    OVERRANGE = 1.2
    OVERLOAD = 9.9e37

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__("Keysight Technologies,34461A,MY53200001,A.03.01-03.15-03.01-00.52-02-01")
        self.name, self.clock, self.wiring, self.rng = name, clock, wiring, rng
        self.command("CONFigure:VOLTage[:DC]", lambda call: self._configure(call, "VOLT:DC"))
        self.command("CONFigure:VOLTage:AC", lambda call: self._configure(call, "VOLT:AC"))
        self.command("CONFigure:CURRent[:DC]", lambda call: self._configure(call, "CURR:DC"))
        self.command("CONFigure:FREQuency", lambda call: self._configure(call, "FREQ"))
        self.command("[SENSe:]VOLTage[:DC]:NPLCycles", lambda call: self._set_nplc(call, "VOLT:DC"))
        self.command("[SENSe:]VOLTage[:DC]:NPLCycles?", lambda call: self._get_nplc(call, "VOLT:DC"))
        self.command("[SENSe:]CURRent[:DC]:NPLCycles", lambda call: self._set_nplc(call, "CURR:DC"))
        self.command("[SENSe:]CURRent[:DC]:NPLCycles?", lambda call: self._get_nplc(call, "CURR:DC"))
        self.command("READ?", self._read)
        self.reset()

    def reset(self) -> None:
        self.function = "VOLT:DC"
        self.range: float | None = None  # None: autorange
        self.nplc = {"VOLT:DC": self.DEFAULT_NPLC, "CURR:DC": self.DEFAULT_NPLC}

    def _configure(self, call: Call, function: str) -> None:
        # CONF <range>[,<resolution>]: the resolution is accepted and left to NPLC.
        params = call.at_most(2)
        range_ = None
        if params and params[0].upper() not in ("AUTO", "DEF", "DEFAULT"):
            if function == "FREQ":  # the expected frequency; the meter autoranges its volts
                parse_number(params[0], 0.0, math.inf)
            else:
                ranges = _RANGES[function]
                wanted = parse_number(params[0], 0.0, ranges[-1])
                range_ = min(r for r in ranges if r >= wanted)
        if len(params) == 2:
            parse_number(params[1], 0.0, math.inf, default=0.0)
        self.function = function
        self.range = range_
        if function in self.nplc:
            self.nplc[function] = self.DEFAULT_NPLC

    def _set_nplc(self, call: Call, function: str) -> None:
        wanted = parse_number(call.one(), self.NPLC_STEPS[0], self.NPLC_STEPS[-1],
                              default=self.DEFAULT_NPLC)
        # The meter takes the next integration time at or above the one asked for.
        self.nplc[function] = min(n for n in self.NPLC_STEPS if n >= wanted * (1 - 1e-9))

    def _get_nplc(self, call: Call, function: str) -> str:
        call.none()
        return format_reading(self.nplc[function])

    def _read(self, call: Call) -> str:
        call.none()
        if self.function == "FREQ":
            return format_reading(self._frequency_hz())
        if self.function == "CURR:DC":
            probe = self.wiring.dmm_current_inputs.get(self.name, unconnected)
        else:
            probe = self.wiring.dmm_inputs.get(self.name, unconnected)
        if self.function == "VOLT:AC":
            value = ac_rms(probe(self._wait_window(self.AC_WINDOW_S)))
            noise_ppm, resolution_ppm = self.AC_NOISE_PPM, 1.0
        else:
            nplc = self.nplc[self.function]
            value = float(np.mean(probe(self._wait_window(nplc / self.MAINS_HZ))))
            noise_ppm, resolution_ppm = self.DC_NOISE_PPM[nplc], self.RESOLUTION_PPM[nplc]
        range_ = self.range or self._autorange(value)
        if abs(value) > self.OVERRANGE * range_:
            return format_reading(math.copysign(self.OVERLOAD, value))
        reading = value + self.rng.normal(0.0, noise_ppm * 1e-6 * range_)
        if self.function == "VOLT:AC":
            reading = abs(reading)  # an RMS reading is never negative
        return format_reading(quantize(reading, resolution_ppm * 1e-6 * range_))

    def _autorange(self, value: float) -> float:
        """The smallest range that holds the value (the largest if none does)."""
        ranges = _RANGES[self.function]
        return next((r for r in ranges if abs(value) <= self.OVERRANGE * r), ranges[-1])

    def _wait_window(self, seconds: float) -> np.ndarray:
        """Let `seconds` of bench time pass; the probe times that span them."""
        start = self.clock.now()
        self.clock.sleep(seconds)
        return window_times(start, seconds)

    def _frequency_hz(self) -> float:
        probe = self.wiring.dmm_inputs.get(self.name, unconnected)
        times = self._wait_window(self.FREQ_GATE_S)
        values = probe(times)
        edges = rising_edges_s(times, values, self.FREQ_MIN_RMS)
        while len(edges) < 2 and times[-1] - times[0] < self.FREQ_TIMEOUT_S:
            more = self._wait_window(self.FREQ_GATE_S)
            times, values = np.concatenate([times, more]), np.concatenate([values, probe(more)])
            edges = rising_edges_s(times, values, self.FREQ_MIN_RMS)
        if len(edges) < 2:
            return 0.0
        freq_hz = (len(edges) - 1) / (edges[-1] - edges[0])
        return freq_hz * (1.0 + self.rng.normal(0.0, 1e-6))


# --------------------------------------------------------------------------------------------
# Keysight 33500B


@dataclass
class _GeneratorChannel:
    """One output as the instrument holds it. Volts are open-circuit (what a high-impedance input
    sees); the programmed value is that scaled by the load setting, as on the real generator,
    where changing OUTP:LOAD changes the displayed amplitude and not the output."""

    function: str = "SIN"
    freq_hz: float = 1000.0
    open_vpp: float = 0.2  # *RST: 0.1 Vpp into the default 50 ohm load, 0.2 V open circuit
    open_offset_v: float = 0.0
    load_ohms: float = 50.0
    output_on: bool = False
    burst_on: bool = False
    burst_cycles: int = 1
    burst_period_s: float = 0.01

    def volts_per_programmed_volt(self) -> float:
        """Open-circuit volts per programmed volt: 2 into 50 ohm (the 50 ohm source divides), 1 for INF."""
        if math.isinf(self.load_ohms):
            return 1.0
        return (self.load_ohms + SimGenerator33500b.SOURCE_OHMS) / self.load_ohms


class SimGenerator33500b(ScpiDevice):
    """A two-channel 33522B. Every change of a channel calls
    wiring.generator_outputs[f"{name}:{channel}"] with the new SourceSetting (open-circuit volts).

    Limits of the real instrument (sine, up to 20 MHz): 1 mVpp..10 Vpp into 50 ohm, i.e. 2 mVpp..
    20 Vpp open circuit, and |offset| + Vpp/2 <= 10 V open circuit. Out of range is -222; an
    amplitude and offset that together leave the span are -221 and change nothing. A burst period
    too short for its cycles is lengthened to fit, with -221, as the real instrument does.
    Simulated subset: triggered bursts paced by the internal period (TRIG:SOUR IMM), amplitude in
    VPP.
    """

    CHANNELS = (1, 2)
    SOURCE_OHMS = 50.0
    MAX_FREQ_HZ = 30e6
    MIN_OPEN_VPP = 0.002
    MAX_OPEN_VPP = 20.0
    MAX_OPEN_PEAK_V = 10.0

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__("Keysight Technologies,33522B,MY52300001,4.00-1.19-2.00-58-00")
        self.name, self.clock, self.wiring, self.rng = name, clock, wiring, rng
        self._published: dict[int, SourceSetting] = {}
        self.command("[SOURce#:]FUNCtion[:SHAPe]", self._set_function)
        self.command("[SOURce#:]FREQuency", self._set_frequency)
        self.command("[SOURce#:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", self._set_amplitude)
        self.command("[SOURce#:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?", self._get_amplitude)
        self.command("[SOURce#:]VOLTage[:LEVel][:IMMediate]:OFFSet", self._set_offset)
        self.command("[SOURce#:]VOLTage:UNIT", self._set_unit)
        self.command("[SOURce#:]BURSt:MODE", self._set_burst_mode)
        self.command("[SOURce#:]BURSt:NCYCles", self._set_burst_cycles)
        self.command("[SOURce#:]BURSt:INTernal:PERiod", self._set_burst_period)
        self.command("[SOURce#:]BURSt[:STATe]", self._set_burst_state)
        self.command("TRIGger#:SOURce", self._set_trigger_source)
        self.command("OUTPut#[:STATe]", self._set_output)
        self.command("OUTPut#:LOAD", self._set_load)
        self.reset()

    def reset(self) -> None:
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
                                                "PULSe", "NOISe", "DC"])
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
        self._fit_burst(ch)
        self._publish(n)

    def _fit_burst(self, ch: _GeneratorChannel) -> None:
        needed_s = ch.burst_cycles / ch.freq_hz
        if ch.burst_on and needed_s > ch.burst_period_s:
            ch.burst_period_s = needed_s
            self.push_error(ScpiError(-221, "burst period increased to fit entire burst"))

    def _set_trigger_source(self, call: Call) -> None:
        self._channel(call)
        parse_choice(call.one(), ["IMMediate"])  # bursts on external or bus triggers: not simulated

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
        setting = SourceSetting(function=ch.function, freq_hz=ch.freq_hz, amplitude_vpp=ch.open_vpp,
                                offset_v=ch.open_offset_v, output_on=ch.output_on,
                                burst_cycles=ch.burst_cycles if ch.burst_on else None,
                                burst_period_s=ch.burst_period_s, since_s=self.clock.now())
        last = self._published.get(n)
        if last is not None and replace(last, since_s=setting.since_s) == setting:
            return
        self._published[n] = setting
        sink = self.wiring.generator_outputs.get(f"{self.name}:{n}")
        if sink is not None:
            sink(setting)


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
