"""The bench (test-jig) file: which instruments, where they are, and how the jig is wired.

A bench file is validated completely before anything is switched: a malformed file, an unknown
key, a reference to an instrument that is not declared, or a divider that would put more than an
input's range on a LabJack channel stops the run with one line naming the file, the field and the
reason (`FixtureError`).
"""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Which driver module serves each instrument family, and which roles it can play on the jig.
DRIVERS: dict[str, str] = {
    "keysight_34461a": "voltmeter",
    "keysight_33500b": "generator",
    "keysight_e3634a": "supply",
    "keysight_34465a": "voltmeter",
    "keysight_33600a": "generator",
    "rigol_dp832": "supply",
    "keysight_e36312a": "supply",
    "labjack_t7": "daq",
    "rigol_ds1000z": "scope",
    "keysight_infiniivision": "scope",
}
# Output channels of the sources (a model of a family with fewer is refused when it is opened).
OUTPUT_CHANNELS = {"keysight_e3634a": 1, "rigol_dp832": 3, "keysight_e36312a": 3,
                   "keysight_33500b": 2, "keysight_33600a": 2}
# The most either scope family shows on screen at its largest V/div (10 V/div x 8 divisions),
# in volts at the input connector: beyond it a capture clips whatever the settings.
SCOPE_SCREEN_PEAK_V = 40.0
T7_RANGES_V = (10.0, 1.0, 0.1, 0.01)


class FixtureError(ValueError):
    """A bench file that cannot be used; str() is the one-line message for the user."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Instrument(_Strict):
    """One instrument on the bench.

    address: a VISA resource string ("TCPIP::192.0.2.10::5025::SOCKET") or, for the LabJack, an
    LJM identifier (serial number, IP address, or "ANY"); "sim" on the simulated bench.
    """

    driver: str
    address: str
    calibration_due: dt.date | None = None
    timeout_ms: int = Field(default=5000, gt=0)

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        if v not in DRIVERS:
            raise ValueError(f"unknown instrument driver {v!r}; known: {', '.join(sorted(DRIVERS))}")
        return v


class Channel(_Strict):
    """A LabJack input as wired: `input` is "daq:AIN0" (instrument:input)."""

    input: str
    negative: str | None = None  # the other input of a differential pair ("AIN3")
    range_v: float = 10.0

    @field_validator("input")
    @classmethod
    def _instrument_and_input(cls, v: str) -> str:
        inst, _, ain = v.partition(":")
        if not inst or not ain.upper().startswith("AIN"):
            raise ValueError(f"{v!r} is not of the form instrument:AINn (e.g. daq:AIN0)")
        return v

    @field_validator("range_v")
    @classmethod
    def _t7_range(cls, v: float) -> float:
        if v not in T7_RANGES_V:
            raise ValueError(f"{v} is not a LabJack T7 input range; use one of {list(T7_RANGES_V)}")
        return v

    @property
    def instrument(self) -> str:
        return self.input.partition(":")[0]

    @property
    def ain(self) -> str:
        return self.input.partition(":")[2].upper()


class VoltageTap(Channel):
    """Tip-ring voltage through a resistive divider: line volts = input volts * divider."""

    divider: float = Field(gt=0)
    divider_input_ohm: float = Field(default=2e6, gt=0)


class CurrentSense(Channel):
    """Loop current as the drop across a series sense resistor."""

    sense_ohm: float = Field(gt=0)


class ScopeProbe(_Strict):
    """An oscilloscope channel across tip-ring through a passive probe: `input` is "scope:1"."""

    input: str
    probe_attenuation: float = Field(default=100.0, gt=0)  # line volts per volt at the connector

    @field_validator("input")
    @classmethod
    def _instrument_and_channel(cls, v: str) -> str:
        inst, _, channel = v.partition(":")
        if not inst or channel not in ("1", "2", "3", "4"):
            raise ValueError(f"{v!r} is not of the form instrument:channel (e.g. scope:1, channels 1-4)")
        return v

    @property
    def instrument(self) -> str:
        return self.input.partition(":")[0]

    @property
    def channel(self) -> int:
        return int(self.input.partition(":")[2])


class DtmfSource(_Strict):
    """A LabJack DAC that sends signals onto an FXS line as the phone's keypad would: through a
    coupling capacitor and transformer in series with the hook load, heard only off-hook.

    output: "daq:DAC0"; gain: emf on the line per volt at the DAC (the transformer's ratio);
    bias_v: the DAC level signals are centred on (its mid-scale, so they swing both ways).
    """

    output: str
    gain: float = Field(default=1.0, gt=0)
    bias_v: float = Field(default=2.5, ge=0, le=5)

    @field_validator("output")
    @classmethod
    def _instrument_and_dac(cls, v: str) -> str:
        inst, _, dac = v.partition(":")
        if not inst or dac.upper() not in ("DAC0", "DAC1"):
            raise ValueError(f"{v!r} is not of the form instrument:DACn (e.g. daq:DAC0; the T7 has DAC0 and DAC1)")
        return v

    @property
    def instrument(self) -> str:
        return self.output.partition(":")[0]

    @property
    def dac(self) -> int:
        return int(self.output.partition(":")[2][-1])


class LongLoop(_Strict):
    """A resistor the jig can put in series with the off-hook load, standing for a long line."""

    relay: str  # "daq:FIO2": closed = the resistor is in the loop
    ohm: float = Field(gt=0)


class FxsPort(_Strict):
    """An FXS port of the DUT and the phone-side jig around it."""

    kind: Literal["fxs"]
    hook_relay: str  # "daq:FIO0": closes the off-hook load across tip-ring
    hook_load_ohm: float = Field(default=600.0, gt=0)
    long_loop: LongLoop | None = None
    ren_relays: list[str] = []  # each switches in `ren_per_relay` REN (6930 ohm + 8 uF each)
    ren_per_relay: float = Field(default=1.0, gt=0)
    line_voltage: VoltageTap
    loop_current: CurrentSense
    voltmeter: str | None = None  # DMM across tip-ring
    scope: ScopeProbe | None = None  # oscilloscope channel across tip-ring
    dtmf_source: DtmfSource | None = None  # a DAC that dials like the phone's keypad


class Battery(_Strict):
    """The bench's battery feed for an FXO port: a supply through feed resistors."""

    supply: str
    channel: int = Field(default=1, ge=1)  # E3634A: 1; DP832 and E36312A: 1-3
    feed_ohm: float = Field(gt=0)


class Ringer(_Strict):
    """The bench's ring source: a generator channel through a ring amplifier of the given gain."""

    generator: str
    channel: int = Field(default=1, ge=1)  # 33500B/33600A: 1 or 2
    amplifier_gain: float = Field(gt=0)


class FxoPort(_Strict):
    """An FXO port of the DUT and the line-side jig (battery feed + ring source) around it."""

    kind: Literal["fxo"]
    battery: Battery
    ringer: Ringer
    line_voltage: VoltageTap
    loop_current: CurrentSense
    voltmeter: str | None = None
    scope: ScopeProbe | None = None
    answer_after_rings: int = Field(default=2, ge=1)  # how the DUT is provisioned


Port = Annotated[FxsPort | FxoPort, Field(discriminator="kind")]


class Jig(_Strict):
    """Ratings the jig is built for: what the overrange check assumes can appear on the line."""

    max_line_voltage_v: float = Field(default=200.0, gt=0)  # peak, ringing on battery
    max_loop_current_a: float = Field(default=0.1, gt=0)  # peak


class CommandControl(_Strict):
    """DUT control through shell commands (e.g. an Asterisk originate), with {port} and {profile}
    substituted, and in `ring` also {caller_number} and {caller_name} (the caller ID to present)."""

    ring: str
    stop_ringing: str
    provision: str | None = None
    received_digits: str | None = None  # prints the DTMF digits the DUT received on {port} since the last call
    timeout_s: float = 20.0

    @model_validator(mode="after")
    def _known_fields(self) -> "CommandControl":
        for name in ("ring", "stop_ringing", "provision", "received_digits"):
            template = getattr(self, name)
            allowed = {"port", "profile"} | ({"caller_number", "caller_name"} if name == "ring" else set())
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(template or "") if f is not None}
            except ValueError as exc:
                raise ValueError(f"{name}: {exc} (write {{{{ and }}}} for literal braces)") from None
            unknown = sorted(fields - allowed)
            if unknown:
                raise ValueError(f"{name}: unknown field {{{unknown[0]}}}; it may use "
                                 f"{', '.join('{' + a + '}' for a in sorted(allowed))}")
        return self


class Dut(_Strict):
    maker: str = "unknown"
    model: str = "unknown"
    serial: str = "unknown"
    firmware: str = "unknown"
    control: Literal["sim"] | CommandControl = "sim"


SCPI_FAULTS = ("stall", "drop_connection", "queue_error")
# The fields each kind of fault takes besides instrument and fault.
FAULT_FIELDS = {"stall": ("after", "on", "repeat"), "drop_connection": ("after", "on", "repeat"),
                "queue_error": ("after", "error", "on", "repeat"), "stream_overflow": ("after_s",)}


class Fault(_Strict):
    """A simulated instrument told to misbehave, to prove the harness reports it as a bench fault.

    SCPI instruments (fire on the command `on`, a header as sent: "READ?", "OUTP", "SOUR1:VOLT"):
      stall            that query never answers (the driver times out)
      drop_connection  the instrument resets the connection as the command arrives
      queue_error      the command is refused with SCPI error `error` queued (default -300)
    `after` matching commands pass first; the fault fires once, or on every later match with
    `repeat: true`.
    LabJack T7: stream_overflow, the next stream (the first once the bench is open) overflows
    the T7's buffer `after_s` bench seconds after its first scan; the lost scans read as dummies.
    """

    instrument: str
    fault: Literal["stall", "drop_connection", "queue_error", "stream_overflow"]
    on: str | None = None
    after: int = Field(default=0, ge=0)
    repeat: bool = False
    error: int = -300  # Device-specific error
    after_s: float = Field(default=0.0, ge=0)


class Simulation(_Strict):
    """Present only on a simulated bench: seed, DUT model parameters per port (a defective DUT is
    a DUT whose parameters are out of spec), and instrument faults to inject."""

    seed: int = 1
    ports: dict[str, dict[str, Any]] = {}
    faults: list[Fault] = []


class SelfTest(_Strict):
    """A check `tipring bench check` runs on the jig before any test: proof that it is wired.

    hook_relay_loop_current (FXS ports): close the hook relay and see, on the port's loop_current
    input, at least min_ma of loop current fed by the DUT; then open it again.
    line_voltage_agreement: read the idle line's DC voltage with every instrument that sees it
    (the LabJack through its divider, the voltmeter, the scope through its probe) and require
    each to lie within max_difference_v of the voltmeter (of the LabJack when there is none).
    """

    port: str
    check: Literal["hook_relay_loop_current", "line_voltage_agreement"]
    min_ma: float | None = Field(default=None, gt=0)
    max_difference_v: float | None = Field(default=None, gt=0)


class BenchInfo(_Strict):
    name: str
    default_profile: str = "us"
    station: str = ""


class Bench(_Strict):
    bench: BenchInfo
    instruments: dict[str, Instrument]
    ports: dict[str, Port]
    jig: Jig = Jig()
    dut: Dut = Dut()
    simulation: Simulation | None = None
    self_tests: list[SelfTest] = []

    @property
    def simulated(self) -> bool:
        return self.simulation is not None

    @model_validator(mode="after")
    def _wiring(self) -> "Bench":
        """Cross-field checks: references resolve, nothing is wired twice, and no input can be
        overranged."""
        used: dict[str, str] = {}  # "daq:FIO0" / "daq:AIN0" -> the field that uses it
        for pname, port in self.ports.items():
            where = f"ports.{pname}"
            taps = {"line_voltage": port.line_voltage, "loop_current": port.loop_current}
            for field_name, ch in taps.items():
                self._require(f"{where}.{field_name}.input", ch.instrument, "daq")
            relays = {}
            if isinstance(port, FxsPort):
                relays = {"hook_relay": port.hook_relay, **{f"ren_relays[{i}]": r for i, r in enumerate(port.ren_relays)}}
                if port.long_loop is not None:
                    relays["long_loop.relay"] = port.long_loop.relay
            for field_name, relay in relays.items():
                inst, _, line = relay.partition(":")
                if not line:
                    raise ValueError(f"{where}.{field_name}: {relay!r} is not of the form instrument:line (e.g. daq:FIO0)")
                self._require(f"{where}.{field_name}", inst, "daq")
            connections = {f"{where}.{f}": r for f, r in relays.items()}
            for field_name, ch in taps.items():
                connections[f"{where}.{field_name}.input"] = ch.input
                if ch.negative:
                    connections[f"{where}.{field_name}.negative"] = f"{ch.instrument}:{ch.negative}"
            if isinstance(port, FxsPort) and port.dtmf_source is not None:
                self._require(f"{where}.dtmf_source.output", port.dtmf_source.instrument, "daq")
                if port.dtmf_source.instrument != port.line_voltage.instrument:
                    raise ValueError(f"{where}.dtmf_source.output: the DAC must be on "
                                     f"{port.line_voltage.instrument}, the LabJack that captures the port "
                                     f"(it plays during that capture's stream)")
                connections[f"{where}.dtmf_source.output"] = port.dtmf_source.output
            if port.scope is not None:
                self._require(f"{where}.scope.input", port.scope.instrument, "scope")
                v_scope = self.jig.max_line_voltage_v / port.scope.probe_attenuation
                if v_scope > SCOPE_SCREEN_PEAK_V:
                    raise ValueError(
                        f"{where}.scope.probe_attenuation: {self.jig.max_line_voltage_v:g} V peak on the line / "
                        f"{port.scope.probe_attenuation:g} = {v_scope:.3g} V at the scope would clip at any "
                        f"V/div (the screen holds +-{SCOPE_SCREEN_PEAK_V:g} V); use a x100 probe")
                connections[f"{where}.scope.input"] = port.scope.input
            for field_name, conn in connections.items():
                key = conn.upper()  # LabJack names are case-insensitive
                if key in used:
                    raise ValueError(f"{field_name}: {conn} is already wired to {used[key]}")
                used[key] = field_name
            if port.voltmeter is not None:
                self._require(f"{where}.voltmeter", port.voltmeter, "voltmeter")
            if isinstance(port, FxoPort):
                self._require(f"{where}.battery.supply", port.battery.supply, "supply")
                self._require(f"{where}.ringer.generator", port.ringer.generator, "generator")
                for field_name, conn in ((f"{where}.battery", f"{port.battery.supply}:{port.battery.channel}"),
                                         (f"{where}.ringer", f"{port.ringer.generator}:{port.ringer.channel}")):
                    if conn.upper() in used:
                        raise ValueError(f"{field_name}: {conn} already drives {used[conn.upper()]}")
                    used[conn.upper()] = field_name
                for field_name, what in (("battery", "battery feed"), ("ringer", "ring source")):
                    inst, channel = _source(port, field_name)
                    outputs = OUTPUT_CHANNELS[self.instruments[inst].driver]
                    if channel > outputs:
                        raise ValueError(f"{where}.{field_name}.channel: {inst} ({self.instruments[inst].driver}) "
                                         f"has {'one output' if outputs == 1 else f'outputs 1-{outputs}'}")
                    # One driver session per instrument drives one output.
                    others = {_source(p, field_name)[1] for p in self.ports.values()
                              if isinstance(p, FxoPort) and _source(p, field_name)[0] == inst}
                    if len(others) > 1:
                        raise ValueError(f"{where}.{field_name}.channel: one {inst} serves one {what} "
                                         f"(it is used on channels {sorted(others)})")
            # Overrange: the worst the jig is rated for must stay inside each input's range.
            v_in = self.jig.max_line_voltage_v / port.line_voltage.divider
            if v_in > port.line_voltage.range_v:
                raise ValueError(
                    f"{where}.line_voltage.divider: {self.jig.max_line_voltage_v:g} V peak on the line / "
                    f"{port.line_voltage.divider:g} = {v_in:.3g} V would overrange the "
                    f"+-{port.line_voltage.range_v:g} V input {port.line_voltage.input}")
            v_sense = self.jig.max_loop_current_a * port.loop_current.sense_ohm
            if v_sense > port.loop_current.range_v:
                raise ValueError(
                    f"{where}.loop_current.sense_ohm: {self.jig.max_loop_current_a * 1e3:g} mA peak * "
                    f"{port.loop_current.sense_ohm:g} ohm = {v_sense:.3g} V would overrange the "
                    f"+-{port.loop_current.range_v:g} V input {port.loop_current.input}")
        for i, test in enumerate(self.self_tests):
            self._check_self_test(f"self_tests[{i}]", test)
        if self.simulation is not None:
            from harness.simbench import port_params, scpi_fault  # noqa: PLC0415 - the simulator only when asked for

            for pname, overrides in self.simulation.ports.items():
                if pname not in self.ports:
                    raise ValueError(f"simulation.ports.{pname}: no port {pname!r} in ports")
                port_params(pname, self.ports[pname], overrides)  # a defect must name real parameters
            for i, fault in enumerate(self.simulation.faults):
                where = f"simulation.faults[{i}]"
                self._check_fault(where, fault)
                if fault.fault in SCPI_FAULTS:
                    scpi_fault(where, fault, self.instruments[fault.instrument].driver)  # `on` must be a real command
        return self

    def _check_self_test(self, where: str, test: SelfTest) -> None:
        """The self-test's port exists and has what the check needs; it has the field it uses."""
        port = self.ports.get(test.port)
        needs = {"hook_relay_loop_current": "min_ma", "line_voltage_agreement": "max_difference_v"}[test.check]
        if test.check == "hook_relay_loop_current" and not isinstance(port, FxsPort):
            raise ValueError(f"{where}.port: no FXS port {test.port!r} in ports "
                             f"({test.check} closes an FXS port's hook relay)")
        if port is None:
            raise ValueError(f"{where}.port: no port {test.port!r} in ports")
        if test.check == "line_voltage_agreement" and port.voltmeter is None and port.scope is None:
            raise ValueError(f"{where}.check: port {test.port!r} has neither a voltmeter nor a scope "
                             f"to compare its line_voltage input with")
        if getattr(test, needs) is None:
            raise ValueError(f"{where}.{needs}: missing ({test.check} needs it)")
        other = ({"min_ma", "max_difference_v"} - {needs}) & test.model_fields_set
        if other:
            raise ValueError(f"{where}.{other.pop()}: not used by {test.check} (it takes {needs})")

    def _check_fault(self, where: str, fault: Fault) -> None:
        """The fault suits its instrument, and only the fields of its kind are given."""
        inst = self.instruments.get(fault.instrument)
        if inst is None:
            raise ValueError(f"{where}.instrument: no instrument {fault.instrument!r} in instruments")
        is_t7 = inst.driver == "labjack_t7"
        if fault.fault == "stream_overflow" and not is_t7:
            raise ValueError(f"{where}.fault: stream_overflow is a LabJack T7 fault; "
                             f"{fault.instrument!r} is a {inst.driver}")
        if fault.fault in SCPI_FAULTS and is_t7:
            raise ValueError(f"{where}.fault: {fault.fault} is a fault of an SCPI instrument; "
                             f"{fault.instrument!r} is a labjack_t7 (its fault is stream_overflow)")
        if fault.fault in SCPI_FAULTS and fault.on is None:
            raise ValueError(f"{where}.on: missing (the command {fault.fault} fires on, e.g. READ?)")
        takes = FAULT_FIELDS[fault.fault]
        unused = sorted(fault.model_fields_set - {"instrument", "fault"} - set(takes))
        if unused:
            raise ValueError(f"{where}.{unused[0]}: not used by {fault.fault} (it takes {', '.join(takes)})")

    def _require(self, where: str, name: str, role: str) -> None:
        inst = self.instruments.get(name)
        if inst is None:
            raise ValueError(f"{where}: no instrument {name!r} in instruments")
        if DRIVERS[inst.driver] != role:
            raise ValueError(f"{where}: instrument {name!r} is a {inst.driver}, not a {role}")


def _source(port: FxoPort, field_name: str) -> tuple[str, int]:
    """(instrument, channel) of an FXO port's battery feed or ring source."""
    if field_name == "battery":
        return port.battery.supply, port.battery.channel
    return port.ringer.generator, port.ringer.channel


def _where(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in ("FxsPort", "FxoPort", "fxs", "fxo", "function-after[_known_driver(), str]"):
            continue  # pydantic's union tags, not keys the user wrote
        elif str(item).startswith(("CommandControl", "function-after[_known_fields()")):
            continue
        else:
            parts.append(str(item))
    return ".".join(parts)


def load_bench(path: str | Path) -> Bench:
    """Read and validate a bench file; raise FixtureError with one line on any problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise FixtureError(f"{path}: cannot read bench file: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        raise FixtureError(f"{path}:{at}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise FixtureError(f"{path}: a bench file is a mapping with bench, instruments and ports")
    try:
        return Bench.model_validate(raw)
    except ValidationError as exc:
        # In a union (dut.control: 'sim' or commands) the branch the user meant is the one
        # that is not a bare literal.
        errors = [e for e in exc.errors() if not any(str(part).startswith("literal[") for part in e["loc"])]
        errors = errors or exc.errors()
        err = errors[0]
        where = _where(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "missing"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise FixtureError(f"{path}: {where + ': ' if where else ''}{msg}{more}") from None
