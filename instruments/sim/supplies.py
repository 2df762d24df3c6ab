"""Simulated multi-output DC supplies: Rigol DP832 and Keysight E36312A, answering SCPI through
`ScpiServer`.

Each is built as SimX(name, clock, wiring, rng). Output n drives wiring.supply_outputs[f"{name}:{n}"]
(a SupplyLoad): every change of its setting calls the load's supply_changed, and its measurements
read the load's supply_operating_point(). With nothing connected the output is open: the set point
while on, 0 V while off, and no current.

What both do as the real supplies do:
- CV/CC: the load answers its operating point for the programmed setting, current limit
  included (the simulated FXO line does). A load that draws more than the limit anyway is taken
  as resistive at its operating point: the supply holds the limit and the voltage falls with it.
  At the limit the output is in CC, else in CV.
- Over-voltage protection: when on, it trips as soon as the set point or the output voltage is
  above its level, checked whenever the supply is spoken to. A trip switches the output off and
  latches until cleared; switching the output on while tripped leaves it off.
- Readback: each output's meter has a fixed calibration error (drawn once from the rng within
  half the data sheet's readback accuracy, gain and offset), a little noise, and the display
  resolution. Accuracy figures are those of the data sheets as read; treat them as approximate.
- Out of range parameters are -222; a channel that does not exist -224 (Rigol CH<n>) or -222
  (Keysight channel list).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from instruments.sim.clock import VirtualClock
from instruments.sim.scpi_instruments import quantize
from instruments.sim.scpi_server import (Call, ScpiDevice, ScpiError, format_reading, parse_bool,
                                         parse_number)
from instruments.sim.terminals import SimWiring, SupplySetting, SupplyLoad


@dataclass(frozen=True)
class OutputSpec:
    """One output: programming range, protection range, and readback accuracy
    +-(gain x reading + offset) with its display step, for volts and for amperes."""

    max_v: float
    max_a: float
    ovp_min_v: float
    ovp_max_v: float
    volts_gain: float
    volts_offset: float
    volts_step: float
    amps_gain: float
    amps_offset: float
    amps_step: float


@dataclass
class _Output:
    """What one output is programmed to, and its state."""

    voltage_v: float
    current_limit_a: float
    ovp_v: float
    ovp_on: bool
    output_on: bool = False
    tripped: bool = False
    on_before_trip: bool = False


@dataclass(frozen=True)
class _Calibration:
    """Fixed readback errors of one output's meter."""

    volts_gain: float
    volts_offset: float
    amps_gain: float
    amps_offset: float


def limit_current(volts: float, amps: float, limit_a: float) -> tuple[float, float]:
    """The operating point of a load at (volts, amps) on an output limited to limit_a: unchanged
    within the limit, else the load's resistance at the limit current."""
    if abs(amps) <= limit_a:
        return volts, amps
    return volts * limit_a / abs(amps), math.copysign(limit_a, amps)


class SimMultiOutputSupply(ScpiDevice):
    """What the simulated multi-output supplies share; subclasses register their dialect."""

    IDENTITY = ""
    OUTPUTS: dict[int, OutputSpec] = {}
    OVP_ON_AT_RESET = False
    CLEAR_RESTORES_OUTPUT = False

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__(self.IDENTITY)
        self.name, self.clock, self.wiring, self.rng = name, clock, wiring, rng
        self._calibration = {n: self._draw_calibration(spec) for n, spec in self.OUTPUTS.items()}
        self._published: dict[int, SupplySetting] = {}
        self.reset()

    def _draw_calibration(self, spec: OutputSpec) -> _Calibration:
        half = self.rng.uniform(-0.5, 0.5, size=4)
        return _Calibration(half[0] * spec.volts_gain, half[1] * spec.volts_offset,
                            half[2] * spec.amps_gain, half[3] * spec.amps_offset)

    def reset(self) -> None:
        self.selected = 1
        self.outputs = {n: _Output(0.0, spec.max_a, spec.ovp_max_v, self.OVP_ON_AT_RESET)
                        for n, spec in self.OUTPUTS.items()}
        for n in self.OUTPUTS:
            self._publish(n)

    # ---- what the handlers share ---------------------------------------------------------------

    def _load(self, n: int) -> SupplyLoad | None:
        return self.wiring.supply_outputs.get(f"{self.name}:{n}")

    def _publish(self, n: int) -> None:
        out = self.outputs[n]
        setting = SupplySetting(voltage_v=out.voltage_v, current_limit_a=out.current_limit_a,
                                output_on=out.output_on)
        if setting == self._published.get(n):
            return
        self._published[n] = setting
        load = self._load(n)
        if load is not None:
            load.supply_changed(setting)

    def operating_point(self, n: int) -> tuple[float, float]:
        """(volts, amps) at output n's terminals now, noise-free."""
        out, load = self.outputs[n], self._load(n)
        if load is None:
            return (out.voltage_v if out.output_on else 0.0), 0.0
        volts, amps = load.supply_operating_point()
        return limit_current(volts, amps, out.current_limit_a) if out.output_on else (volts, amps)

    def in_current_limit(self, n: int) -> bool:
        out = self.outputs[n]
        return out.output_on and abs(self.operating_point(n)[1]) >= out.current_limit_a * (1 - 1e-9)

    def _changed(self, n: int) -> None:
        """After any change of output n: publish it, then let the protection act."""
        self._publish(n)
        self._check_protection(n)

    def _check_protection(self, n: int) -> None:
        out = self.outputs[n]
        if out.ovp_on and out.output_on and (out.voltage_v > out.ovp_v
                                             or self.operating_point(n)[0] > out.ovp_v):
            out.tripped, out.on_before_trip, out.output_on = True, True, False
            self._publish(n)

    def _set_voltage(self, n: int, text: str) -> None:
        self.outputs[n].voltage_v = parse_number(text, 0.0, self.OUTPUTS[n].max_v, default=0.0)
        self._changed(n)

    def _set_current(self, n: int, text: str) -> None:
        max_a = self.OUTPUTS[n].max_a
        self.outputs[n].current_limit_a = parse_number(text, 0.0, max_a, default=max_a)
        self._changed(n)

    def _set_output(self, n: int, on: bool) -> None:
        out = self.outputs[n]
        out.output_on = on and not out.tripped
        self._changed(n)

    def _set_ovp_level(self, n: int, text: str) -> None:
        spec = self.OUTPUTS[n]
        self.outputs[n].ovp_v = parse_number(text, spec.ovp_min_v, spec.ovp_max_v, default=spec.ovp_max_v)
        self._changed(n)

    def _set_ovp_state(self, n: int, on: bool) -> None:
        self.outputs[n].ovp_on = on
        self._changed(n)

    def _clear_protection(self, n: int) -> None:
        out = self.outputs[n]
        if out.tripped:
            out.tripped = False
            out.output_on = self.CLEAR_RESTORES_OUTPUT and out.on_before_trip
            self._changed(n)

    def _output_on(self, n: int) -> bool:
        self._check_protection(n)
        return self.outputs[n].output_on

    def _tripped(self, n: int) -> bool:
        self._check_protection(n)
        return self.outputs[n].tripped

    def _measured(self, n: int) -> tuple[float, float]:
        """(volts, amps) as output n's meter reads them."""
        self._check_protection(n)
        spec, cal = self.OUTPUTS[n], self._calibration[n]
        volts, amps = self.operating_point(n)
        volts = volts * (1 + cal.volts_gain) + cal.volts_offset + self.rng.normal(0.0, spec.volts_step / 2)
        amps = amps * (1 + cal.amps_gain) + cal.amps_offset + self.rng.normal(0.0, spec.amps_step / 2)
        return quantize(volts, spec.volts_step), quantize(amps, spec.amps_step)

    def _select(self, call: Call) -> None:
        self.selected = round(parse_number(call.one(), 1, max(self.OUTPUTS)))

    def _get_selected(self, call: Call) -> str:
        call.none()
        return str(self.selected)


# --------------------------------------------------------------------------------------------
# Rigol DP832


class SimSupplyDp832(SimMultiOutputSupply):
    """A DP832: outputs CH1..CH3, named in the header ([:SOURce<n>]) or as an optional first
    parameter CH<n> (else the output chosen with :INST:NSEL). Replies as the DP800 guide shows
    them: ON/OFF, YES/NO, CV/CC/UR, and plain decimals ("47.9990").

    Assumed (not from the guide): *RST sets 0 V, the full current, the protection off at its
    highest level; :OUTP:OVP:CLEAR leaves the output off. A header without <n> on SOURce means
    output 1 here (the parser cannot tell it from SOURce1), not the selected output.
    Readback accuracy: +-(0.05 % + 10 mV), +-(0.15 % + 5 mA); display 1 mV, 1 mA.
    """

    IDENTITY = "RIGOL TECHNOLOGIES,DP832,DP8C180400001,00.01.16"
    OUTPUTS = {1: OutputSpec(32.0, 3.2, 0.01, 33.0, 5e-4, 0.010, 1e-3, 1.5e-3, 0.005, 1e-3),
               2: OutputSpec(32.0, 3.2, 0.01, 33.0, 5e-4, 0.010, 1e-3, 1.5e-3, 0.005, 1e-3),
               3: OutputSpec(5.3, 3.2, 0.01, 5.5, 5e-4, 0.010, 1e-3, 1.5e-3, 0.005, 1e-3)}

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__(name, clock, wiring, rng)
        level = "[SOURce#:]{}[:LEVel][:IMMediate][:AMPLitude]"
        self.command(level.format("VOLTage"), lambda call: self._set_voltage(self._source(call), call.one()))
        self.command(level.format("VOLTage") + "?", lambda call: _decimal(self._source_query(call).voltage_v))
        self.command(level.format("CURRent"), lambda call: self._set_current(self._source(call), call.one()))
        self.command(level.format("CURRent") + "?", lambda call: _decimal(self._source_query(call).current_limit_a))
        # Commands taking [CH<n>,]<value>: act(n, value).
        for pattern, act in (
            ("OUTPut[:STATe]", lambda n, text: self._set_output(n, parse_bool(text))),
            ("OUTPut:OVP[:STATe]", lambda n, text: self._set_ovp_state(n, parse_bool(text))),
            ("OUTPut:OVP:VALue", self._set_ovp_level),
        ):
            self.command(pattern, lambda call, act=act: self._with_channel(call, act))
        # Commands and queries taking [CH<n>]: answer(n).
        for pattern, answer in (
            ("OUTPut[:STATe]?", lambda n: "ON" if self._output_on(n) else "OFF"),
            ("OUTPut:OVP[:STATe]?", lambda n: "ON" if self.outputs[n].ovp_on else "OFF"),
            ("OUTPut:OVP:VALue?", lambda n: _decimal(self.outputs[n].ovp_v)),
            ("OUTPut:OVP:QUEStion?", lambda n: "YES" if self._tripped(n) else "NO"),
            ("OUTPut:OVP:CLEar", self._clear_protection),
            ("OUTPut:MODE?", self._mode),
            ("MEASure[:VOLTage][:DC]?", lambda n: _decimal(self._measured(n)[0])),
            ("MEASure:CURRent[:DC]?", lambda n: _decimal(self._measured(n)[1])),
            ("MEASure:ALL[:DC]?", self._measure_all),
        ):
            self.command(pattern, lambda call, answer=answer: answer(self._query_channel(call)))
        self.command("INSTrument:NSELect", self._select)
        self.command("INSTrument:NSELect?", self._get_selected)

    def _channel_name(self, text: str) -> int:
        match = re.fullmatch(r"CH(\d)", text.strip().upper())
        if not match or int(match[1]) not in self.OUTPUTS:
            raise ScpiError(-224, f"{text!r} is not CH1, CH2 or CH3")
        return int(match[1])

    def _source(self, call: Call) -> int:
        n = call.suffixes[0]
        if n not in self.OUTPUTS:
            raise ScpiError(-114, f"output {n}")
        return n

    def _source_query(self, call: Call) -> _Output:
        call.none()
        return self.outputs[self._source(call)]

    def _with_channel(self, call: Call, act) -> None:
        """Run act(n, value) for a command taking [CH<n>,]<value>."""
        params = call.at_most(2)
        if not params:
            raise ScpiError(-109)
        n = self._channel_name(params[0]) if len(params) == 2 else self.selected
        act(n, params[-1])

    def _query_channel(self, call: Call) -> int:
        """The output a query's optional CH<n> names."""
        params = call.at_most(1)
        return self._channel_name(params[0]) if params else self.selected

    def _mode(self, n: int) -> str:
        self._check_protection(n)
        return "CC" if self.in_current_limit(n) else "CV"

    def _measure_all(self, n: int) -> str:
        volts, amps = self._measured(n)
        return f"{volts:.4f},{amps:.4f},{volts * amps:.4f}"


def _decimal(value: float) -> str:
    """A number as the DP800 answers it: "47.9990"."""
    return f"{value:.4f}"


# --------------------------------------------------------------------------------------------
# Keysight E36312A


class SimSupplyE36312a(SimMultiOutputSupply):
    """An E36312A: outputs 1..3 named by a trailing channel list "(@1)", "(@1,3)" or "(@1:3)"
    (else the output chosen with INST:NSEL); queries of several outputs answer a comma list.
    Replies as Keysight supplies give them: 0/1 and "+4.79990000E+01".

    The protection is always on (no state command). Assumed (not from the guide): protection
    levels 0.5 V..110 % of the nominal rating, *RST at the highest; clearing restores the output
    to its state before the trip.
    Readback accuracy: output 1 +-(0.04 % + 5 mV), +-(0.1 % + 4 mA); outputs 2, 3
    +-(0.04 % + 10 mV), +-(0.1 % + 1 mA); display 1 mV and 1 mA (0.1 mA on outputs 2, 3).
    """

    IDENTITY = "Keysight Technologies,E36312A,MY59001234,2.1.3-1.0.4-1.12"
    OUTPUTS = {1: OutputSpec(6.18, 5.15, 0.5, 6.6, 4e-4, 0.005, 1e-3, 1e-3, 0.004, 1e-3),
               2: OutputSpec(25.75, 1.03, 0.5, 27.5, 4e-4, 0.010, 1e-3, 1e-3, 0.001, 1e-4),
               3: OutputSpec(25.75, 1.03, 0.5, 27.5, 4e-4, 0.010, 1e-3, 1e-3, 0.001, 1e-4)}
    OVP_ON_AT_RESET = True
    CLEAR_RESTORES_OUTPUT = True

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__(name, clock, wiring, rng)
        level = "[SOURce:]{}[:LEVel][:IMMediate][:AMPLitude]"
        # Commands taking <value>[,(@<list>)]: act(n, value) for each output listed.
        for pattern, act in (
            (level.format("VOLTage"), self._set_voltage),
            (level.format("CURRent"), self._set_current),
            ("[SOURce:]VOLTage:PROTection[:LEVel]", self._set_ovp_level),
            ("OUTPut[:STATe]", lambda n, text: self._set_output(n, parse_bool(text))),
        ):
            self.command(pattern, lambda call, act=act: self._set_each(call, act))
        # Queries taking [(@<list>)]: answer(n) for each output listed, comma-separated.
        for pattern, answer in (
            (level.format("VOLTage") + "?", lambda n: format_reading(self.outputs[n].voltage_v)),
            (level.format("CURRent") + "?", lambda n: format_reading(self.outputs[n].current_limit_a)),
            ("[SOURce:]VOLTage:PROTection[:LEVel]?", lambda n: format_reading(self.outputs[n].ovp_v)),
            ("[SOURce:]VOLTage:PROTection:TRIPped?", lambda n: "1" if self._tripped(n) else "0"),
            ("OUTPut[:STATe]?", lambda n: "1" if self._output_on(n) else "0"),
            ("MEASure[:SCALar]:VOLTage[:DC]?", lambda n: format_reading(self._measured(n)[0])),
            ("MEASure[:SCALar]:CURRent[:DC]?", lambda n: format_reading(self._measured(n)[1])),
        ):
            self.command(pattern, lambda call, answer=answer: self._reply_each(call, answer))
        self.command("OUTPut:PROTection:CLEar", self._clear_each)
        self.command("INSTrument:NSELect", self._select)
        self.command("INSTrument:NSELect?", self._get_selected)

    def _outputs_and_values(self, call: Call) -> tuple[list[str], list[int]]:
        """The parameters before a channel list, and the outputs it names (the selected one
        when there is none)."""
        params = call.params
        start = next((i for i, p in enumerate(params) if p.lstrip().startswith("(")), len(params))
        if start == len(params):
            return params, [self.selected]
        text = ",".join(params[start:]).replace(" ", "")
        match = re.fullmatch(r"\(@([\d,:]+)\)", text)
        if not match:
            raise ScpiError(-104, f"{text!r} is not a channel list")
        outputs = []
        for item in match[1].split(","):
            first, _, last = item.partition(":")
            if not first.isdigit() or (last and not last.isdigit()):
                raise ScpiError(-104, f"{text!r} is not a channel list")
            outputs += range(int(first), int(last or first) + 1)
        if any(n not in self.OUTPUTS for n in outputs):
            raise ScpiError(-222, f"{text} names an output other than 1..3")
        return params[:start], outputs

    def _set_each(self, call: Call, act) -> None:
        values, outputs = self._outputs_and_values(call)
        if not values:
            raise ScpiError(-109)
        if len(values) > 1:
            raise ScpiError(-108)
        for n in outputs:
            act(n, values[0])

    def _reply_each(self, call: Call, reply) -> str:
        values, outputs = self._outputs_and_values(call)
        if values:
            raise ScpiError(-108)
        return ",".join(reply(n) for n in outputs)

    def _clear_each(self, call: Call) -> None:
        values, outputs = self._outputs_and_values(call)
        if values:
            raise ScpiError(-108)
        for n in outputs:
            self._clear_protection(n)
