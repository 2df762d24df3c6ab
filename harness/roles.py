"""What test plans drive: the FXS port seen from the phone side, and the line seen by an FXO port.

Roles are built from the bench file's wiring and the drivers' protocols; test plans use only
these and the measurement API, never an instrument, so the same plan runs on any bench.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from harness.dsp.waveform import Waveform
from harness.dut import DutControl
from harness.fixture import Channel, FxoPort, FxsPort
from instruments.clock import Clock
from instruments.labjack_t7 import STREAM_OUT_MAX_VALUES, StreamOut
from instruments.protocols import AnalogInput, DcSupply, Digitizer, RelayBank, SignalSource, Voltmeter

SAMPLE_RATE_HZ = 8000.0  # covers ringing and call-progress tones (< 3.4 kHz); 2 inputs = 16 kS/s
CHUNK_S = 0.02  # how often a recording can act (switch a relay, toggle ringing), bench seconds
# A line simulator sees an FXO port off-hook from this loop current: [S30] TLS-4A detects
# off-hook at >= 15 mA and on-hook at <= 10 mA; 10 mA is also the least a DAA holds the line with [S32].
LOOP_DETECT_A = 0.010


def analog_input(name: str, ch: Channel, scale: float, unit: str) -> AnalogInput:
    return AnalogInput(name=name, ain=ch.ain, range_v=ch.range_v, scale=scale, unit=unit,
                       negative=ch.negative.upper() if ch.negative else None)


@dataclass
class Capture:
    """Simultaneous captures of one port: tip-ring voltage and loop current."""

    line_v: Waveform
    loop_i: Waveform
    events: list[tuple[float, str]] = field(default_factory=list)  # what the harness did, when

    @property
    def waveforms(self) -> list[Waveform]:
        return [self.line_v, self.loop_i]


def _join(chunks: list[Waveform]) -> Waveform:
    first = chunks[0]
    return Waveform(np.concatenate([c.samples for c in chunks]), first.sample_rate_hz, first.start_s,
                    first.unit, first.name, any(c.clipped for c in chunks))


class _Port:
    def __init__(self, name: str, cfg: FxsPort | FxoPort, daq: Digitizer, clock: Clock):
        self.name = name
        self.cfg = cfg
        self.daq = daq
        self.clock = clock
        self.line_v_input = analog_input(f"{name}.line_v", cfg.line_voltage, cfg.line_voltage.divider, "V")
        self.loop_i_input = analog_input(f"{name}.loop_i", cfg.loop_current, 1.0 / cfg.loop_current.sense_ohm, "A")

    def record(self, duration_s: float, act: Callable[[float, float, dict], bool] | None = None,
               sample_rate_hz: float = SAMPLE_RATE_HZ) -> Capture:
        """Capture both inputs for up to duration_s, streaming. Between chunks (every CHUNK_S)
        act(elapsed_s, bench_now_s, chunk) may switch things while the capture runs; it returns
        True to end the capture early."""
        inputs = [self.line_v_input, self.loop_i_input]
        chunks: dict[str, list[Waveform]] = {i.name: [] for i in inputs}
        stream = self.daq.stream(inputs, sample_rate_hz, CHUNK_S)
        samples = 0
        try:
            for chunk in stream:
                for key, w in chunk.items():
                    chunks[key].append(w)
                first = chunks[self.line_v_input.name][0]
                samples += len(chunk[self.line_v_input.name])
                elapsed = samples / first.sample_rate_hz
                if elapsed >= duration_s - 1e-9:
                    break
                if act is not None and act(elapsed, first.start_s + elapsed, chunk):
                    break
        finally:
            stream.close()  # stops the device's stream now, not when the generator is collected
        return Capture(_join(chunks[self.line_v_input.name]), _join(chunks[self.loop_i_input.name]))

    def capture(self, duration_s: float, sample_rate_hz: float = SAMPLE_RATE_HZ) -> Capture:
        w = self.daq.capture([self.line_v_input, self.loop_i_input], duration_s, sample_rate_hz)
        return Capture(w[self.line_v_input.name], w[self.loop_i_input.name])


class FxsPhoneSide(_Port):
    """An FXS port seen from the phone side: hook switch, REN loads, voltmeter and captures."""

    def __init__(self, name: str, cfg: FxsPort, daq: Digitizer, relays: RelayBank,
                 voltmeter: Voltmeter | None, dut: DutControl, clock: Clock):
        super().__init__(name, cfg, daq, clock)
        self.relays = relays
        self.voltmeter = voltmeter
        self.dut = dut
        self._hook_line = cfg.hook_relay.partition(":")[2]
        self._ren_lines = [r.partition(":")[2] for r in cfg.ren_relays]
        self._long_loop_line = cfg.long_loop.relay.partition(":")[2] if cfg.long_loop else None

    def go_off_hook(self) -> None:
        self.relays.set_relay(self._hook_line, True)

    def go_on_hook(self) -> None:
        self.relays.set_relay(self._hook_line, False)

    def off_hook(self) -> bool:
        """The hook relay as read back from the digitizer (not as commanded)."""
        return self.relays.relay_closed(self._hook_line)

    @property
    def has_long_loop(self) -> bool:
        return self._long_loop_line is not None

    def set_long_loop(self, inserted: bool) -> None:
        """Put the jig's long-loop resistor in series with the off-hook load (or take it out)."""
        if self._long_loop_line is None:
            raise ValueError(f"port {self.name}: the jig has no long-loop resistor (ports.{self.name}.long_loop)")
        self.relays.set_relay(self._long_loop_line, inserted)

    def send(self, signal: Waveform) -> Capture:
        """Play `signal` onto the line as the phone would (its volts into 600 ohm from a 600 ohm
        source, e.g. a dtmf_signal) from the jig's DTMF DAC, capturing the line meanwhile. The
        signal should start and end in silence; the DUT hears it only while off-hook."""
        source = self.cfg.dtmf_source
        if source is None:
            raise ValueError(f"port {self.name}: the jig has no signal source (ports.{self.name}.dtmf_source)")
        if signal.sample_rate_hz != SAMPLE_RATE_HZ:
            raise ValueError(f"port {self.name}: send a signal sampled at {SAMPLE_RATE_HZ:g} Hz "
                             f"(the stream's scan rate), not {signal.sample_rate_hz:g} Hz")
        if not 1 <= len(signal) <= STREAM_OUT_MAX_VALUES:
            raise ValueError(f"port {self.name}: a signal of {signal.duration_s:.3f} s does not fit the T7's "
                             f"stream-out loop ({STREAM_OUT_MAX_VALUES / SAMPLE_RATE_HZ:.3f} s)")
        emf_v = 2.0 * signal.samples  # a 600 ohm source that puts these volts into 600 ohm
        dac_v = source.bias_v + emf_v / source.gain
        if dac_v.min() < 0.0 or dac_v.max() > 5.0:
            raise ValueError(f"port {self.name}: the signal needs {dac_v.min():.2f}..{dac_v.max():.2f} V at "
                             f"{source.output}, beyond its 0-5 V (lower the level or raise dtmf_source.gain)")
        self.daq.set_dac(source.dac, source.bias_v)
        w = self.daq.capture([self.line_v_input, self.loop_i_input], signal.duration_s, SAMPLE_RATE_HZ,
                             stream_out=StreamOut(source.dac, tuple(dac_v)))
        return Capture(w[self.line_v_input.name], w[self.loop_i_input.name])

    def received_digits(self) -> str:
        """The DTMF digits the DUT says it received on this port since the last call."""
        return self.dut.received_digits(self.name)

    def set_ren_load(self, ren: float) -> None:
        """Connect `ren` REN of ringer load (a whole number of the jig's REN relays)."""
        per = self.cfg.ren_per_relay
        n = round(ren / per)
        if not math.isclose(n * per, ren) or n > len(self._ren_lines):
            raise ValueError(f"port {self.name}: the jig cannot present {ren:g} REN "
                             f"({len(self._ren_lines)} relays of {per:g} REN)")
        for i, line in enumerate(self._ren_lines):
            self.relays.set_relay(line, i < n)

    def on_hook_voltage_v(self) -> tuple[float, bool]:
        """Tip-ring DC volts (DMM where wired, else the digitizer); and whether it clipped."""
        if self.voltmeter is not None:
            v = self.voltmeter.measure_dc_volts(range_v=100.0)
            return abs(v), not math.isfinite(v) or abs(v) > 1e30
        w = self.capture(0.2).line_v
        return abs(float(np.mean(w.samples))), w.clipped

    def ring(self, caller_number: str | None = None, caller_name: str | None = None) -> None:
        """Make the DUT ring this port (an incoming call), presenting the caller when given."""
        self.dut.ring(self.name, caller_number, caller_name)

    def stop_ringing(self) -> None:
        self.dut.stop_ringing(self.name)


@dataclass
class RingSession:
    """What happened while the bench rang an FXO port."""

    capture: Capture
    ring_starts_s: list[float]
    answer_s: float  # bench time the loop current crossed LOOP_DETECT_A, nan if never

    @property
    def answered(self) -> bool:
        return not math.isnan(self.answer_s)

    @property
    def rings_before_answer(self) -> int:
        return sum(1 for t in self.ring_starts_s if t < self.answer_s)


class FxoLineSide(_Port):
    """The line seen by an FXO port: the bench's battery feed and ring source."""

    def __init__(self, name: str, cfg: FxoPort, daq: Digitizer, supply: DcSupply,
                 ringer: SignalSource, voltmeter: Voltmeter | None, clock: Clock):
        super().__init__(name, cfg, daq, clock)
        self.supply = supply
        self.ringer = ringer
        self.voltmeter = voltmeter

    def apply_battery(self, volts: float, current_limit_a: float) -> None:
        self.supply.set_voltage(volts)
        self.supply.set_current_limit(current_limit_a)
        self.supply.set_output(True)

    def remove_battery(self) -> None:
        self.supply.set_output(False)

    def set_ringing(self, vrms: float, freq_hz: float) -> None:
        """Program the ring source for vrms on the line (open circuit), output still off."""
        vpp = vrms * 2 * math.sqrt(2) / self.cfg.ringer.amplifier_gain
        self.ringer.set_burst(None)
        self.ringer.set_sine(freq_hz, vpp, 0.0)

    def ring_until_answer(self, vrms: float, freq_hz: float, cadence_ms: list[float], max_rings: int,
                          after_answer_s: float = 0.5) -> RingSession:
        """Ring with the cadence until the port draws loop current (answers) or max_rings have
        passed, removing ringing at once on answer as a line would (ring trip); keep capturing
        after_answer_s for the off-hook operating point."""
        self.set_ringing(vrms, freq_hz)
        pattern_s = [ms / 1000.0 for ms in cadence_ms]
        period_s = sum(pattern_s)
        edges = np.cumsum([0.0] + pattern_s)  # on at edges[0], off at edges[1], ...
        starts: list[float] = []
        answer = math.nan
        state = {"on": False, "stop_at": None}
        total_s = max_rings * period_s + after_answer_s

        def act(elapsed: float, now: float, chunk: dict[str, Waveform]) -> bool:
            nonlocal answer
            i_dc = float(np.mean(chunk[self.loop_i_input.name].samples))
            if math.isnan(answer) and abs(i_dc) >= LOOP_DETECT_A:
                answer = chunk[self.loop_i_input.name].start_s
                self.ringer.set_output(False)
                state["on"] = False
                state["stop_at"] = elapsed + after_answer_s
            if state["stop_at"] is not None:
                return elapsed >= state["stop_at"]
            cycle, t_in = divmod(elapsed, period_s)
            if cycle >= max_rings:
                if state["on"]:
                    self.ringer.set_output(False)
                    state["on"] = False
                return elapsed >= max_rings * period_s + after_answer_s
            want_on = int(np.searchsorted(edges, t_in, side="right") - 1) % 2 == 0
            if want_on != state["on"]:
                self.ringer.set_output(want_on)
                state["on"] = want_on
                if want_on:
                    starts.append(now)
            return False

        try:
            self.ringer.set_output(True)
            state["on"] = True
            starts.append(self.clock.now())
            cap = self.record(total_s, act)
        finally:
            self.ringer.set_output(False)
        cap.events = [(t, "ring on") for t in starts] + ([(answer, "answer")] if not math.isnan(answer) else [])
        return RingSession(cap, starts, answer)
