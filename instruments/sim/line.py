"""The circuits of the simulated bench: a port's source, the jig's loads, and what they make of
tip-ring voltage and loop current over time.

A line is linear between state changes (a relay, a cadence edge, a new setting), so its history
is a list of segments, each holding a DC operating point and a few sinusoids solved as phasors
when the segment began. Rendering any time array is then analytic and vectorised: no stepping.

Conventions: v_tr is tip minus ring at the jig node (after the sense resistor), positive with
forward battery feed; i_loop is the current through the sense resistor, positive when it leaves
the port on tip. Transients (a ringer capacitor charging, a relay bouncing) are not modelled:
each segment is the steady state of its circuit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from instruments.sim.jig import FxoJig, FxsJig
from instruments.sim.terminals import SourceSetting, SupplySetting

# 1 REN, classic FCC model: 6930 ohm in series with 8 uF (telephony-facts 1.3, [S52]).
REN_SERIES_OHM = 6930.0
REN_SERIES_F = 8e-6

# Keysight 34461A DC-volts input resistance, default setting (10 Mohm on every range).
DMM_INPUT_OHM = 10e6
# Where a phone-side signal (DTMF from the jig's DAC) is solved: the middle of the DTMF band.
PHONE_SOURCE_HZ = 1100.0

# What the line carries besides the signals: mains hum and broadband noise (seeded).
HUM_FREQ_HZ = 50.0
HUM_VRMS = 0.5e-3
NOISE_VRMS = 1e-3
NOISE_ARMS = 1e-6

# Times within this of `now` count as `now` (float rounding in callers' time arrays).
TIME_EPS_S = 1e-9


def ren_admittance(ren: float, freq_hz: float) -> complex:
    """Admittance (siemens) of `ren` REN of US-model ringer at freq_hz; zero at DC."""
    if freq_hz == 0 or ren == 0:
        return 0j
    z_one_ren = REN_SERIES_OHM + 1 / (2j * math.pi * freq_hz * REN_SERIES_F)
    return ren / z_one_ren


def dbm_to_vrms(level_dbm: float, load_ohm: float = 600.0) -> float:
    """RMS volts across load_ohm that dissipate level_dbm."""
    return math.sqrt(1e-3 * 10 ** (level_dbm / 10) * load_ohm)


def sine_phasor(vrms: float) -> complex:
    """Peak phasor E of vrms*sqrt(2)*sin(w*(t - t_ref)), written as Re(E * exp(j*w*(t - t_ref)))."""
    return -1j * math.sqrt(2) * vrms


@dataclass(frozen=True)
class Tone:
    """One sinusoidal source: emf_vrms at freq_hz, rising through zero at t_ref_s."""

    freq_hz: float
    emf_vrms: float
    t_ref_s: float


@dataclass(frozen=True)
class LineDrive:
    """What a port puts behind its terminals.

    DC: dc_emf_v behind dc_source_ohm, the current limited to current_limit_a (None: no limit).
    AC: the tones behind ac_source_ohm (a SLIC synthesises its AC impedance apart from its DC
    feed, so the two are solved separately and superposed), and a voice-band waveform (an FSK
    caller ID burst): its emf in volts at bench times, solved at waveform_hz, the middle of its
    band (the jig's loads are flat across a data signal's 1-2 kHz).
    """

    dc_emf_v: float
    dc_source_ohm: float
    current_limit_a: float | None = None
    tones: tuple[Tone, ...] = ()
    ac_source_ohm: float = 600.0
    waveform: Callable[[np.ndarray], np.ndarray] | None = None
    waveform_hz: float = 1700.0


@dataclass(frozen=True)
class LineTone:
    """A sinusoid on the line: v = Re(v_peak * exp(j*w*(t - t_ref_s))), likewise i."""

    freq_hz: float
    t_ref_s: float
    v_peak: complex
    i_peak: complex

    @property
    def vrms(self) -> float:
        return abs(self.v_peak) / math.sqrt(2)


@dataclass(frozen=True)
class LineWaveform:
    """A voice-band waveform on the line: v = v_gain * emf(t), i = i_gain * emf(t), where emf
    gives volts at bench times. from_phone: sent by the far side (the jig), not by the port."""

    emf: Callable[[np.ndarray], np.ndarray]
    v_gain: float
    i_gain: float
    from_phone: bool = False


@dataclass(frozen=True)
class Segment:
    """The line from t_start_s until the next segment: DC operating point plus tones."""

    t_start_s: float
    v_dc: float
    i_dc: float
    tones: tuple[LineTone, ...] = ()
    waveforms: tuple[LineWaveform, ...] = ()

    def tone_vrms(self) -> float:
        """RMS volts of the AC part (tones of distinct frequencies add in power)."""
        return math.sqrt(sum(tone.vrms ** 2 for tone in self.tones))

    def evaluate(self, t: np.ndarray, received: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(v_tr, i_loop) at times t (seconds), as if this segment lasted for all of them.

        received: only what the port's receive path hears, i.e. without the tones and waveforms
        the port itself sends (its hybrid and echo canceller take those out)."""
        v = np.full(t.shape, self.v_dc)
        i = np.full(t.shape, self.i_dc)
        for waveform in self.waveforms:
            if waveform.from_phone or not received:
                emf = waveform.emf(t)
                v += waveform.v_gain * emf
                i += waveform.i_gain * emf
        if received:
            return v, i
        for tone in self.tones:
            phase = 2 * np.pi * tone.freq_hz * (t - tone.t_ref_s)
            v += abs(tone.v_peak) * np.cos(phase + np.angle(tone.v_peak))
            i += abs(tone.i_peak) * np.cos(phase + np.angle(tone.i_peak))
        return v, i


class LineHistory:
    """The segments a line went through, oldest first; renders any past time.

    Grows by one segment per state change (about two per ring cycle): small for hours of bench
    time. Times before the first segment render as the first segment (the line was in that
    state before the model started).
    """

    def __init__(self, first: Segment):
        self._starts: list[float] = [first.t_start_s]
        self._segments: list[Segment] = [first]
        self._starts_array: np.ndarray | None = None

    @property
    def present(self) -> Segment:
        return self._segments[-1]

    def record(self, segment: Segment) -> None:
        """Append a segment; one starting at the same time as the last replaces it."""
        last = self._starts[-1]
        if segment.t_start_s < last:
            raise ValueError(f"line history: segment at {segment.t_start_s} s is before the last one at {last} s")
        if segment.t_start_s == last:
            self._segments[-1] = segment
        else:
            self._starts.append(segment.t_start_s)
            self._segments.append(segment)
            self._starts_array = None

    def render(self, t: np.ndarray, received: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(v_tr, i_loop) at bench times t (seconds), noiseless; received: as the port's receive
        path hears it (see Segment.evaluate)."""
        t = np.asarray(t, dtype=float)
        if self._starts_array is None:
            self._starts_array = np.asarray(self._starts)
        index = np.clip(np.searchsorted(self._starts_array, t, side="right") - 1, 0, None)
        first, last = (int(index.min()), int(index.max())) if index.size else (0, 0)
        if first == last:
            return self._segments[first].evaluate(t, received)
        v = np.empty(t.shape)
        i = np.empty(t.shape)
        for k in np.unique(index):
            sel = index == k
            v[sel], i[sel] = self._segments[k].evaluate(t[sel], received)
        return v, i


class LineNoise:
    """Mains hum and white noise riding on a line (the instruments add their own on top)."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._hum_phase = rng.uniform(0, 2 * np.pi)

    def add(self, t: np.ndarray, v: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hum = math.sqrt(2) * HUM_VRMS * np.sin(2 * np.pi * HUM_FREQ_HZ * t + self._hum_phase)
        v = v + hum + self._rng.normal(0.0, NOISE_VRMS, t.shape)
        i = i + self._rng.normal(0.0, NOISE_ARMS, t.shape)
        return v, i


def _solve_tone(tone_phasor: complex, freq_hz: float, t_ref_s: float, series_ohm: float,
                load_admittance: complex) -> LineTone:
    """Node voltage and loop current of a sinusoidal emf behind series_ohm into load_admittance."""
    v = tone_phasor / (1 + series_ohm * load_admittance)
    return LineTone(freq_hz, t_ref_s, v, v * load_admittance)


class _Line:
    """Shared parts of a line: history, noise, rendering."""

    def __init__(self, first: Segment, rng: np.random.Generator | None):
        self._history = LineHistory(first)
        self._noise = LineNoise(rng) if rng is not None else None

    @property
    def present(self) -> Segment:
        """The operating point now (the last segment)."""
        return self._history.present

    def render(self, t: np.ndarray, received: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(v_tr volts, i_loop amperes) at bench times t, with the line's hum and noise;
        received: as the port's receive path hears it (without what the port sends).

        The caller (the port) makes sure t is not after now; the history answers any past time.
        """
        t = np.asarray(t, dtype=float)
        v, i = self._history.render(t, received)
        if self._noise is not None:
            v, i = self._noise.add(t, v, i)
        return v, i


class FxsLine(_Line):
    """An FXS port's source, the jig's sense resistor and its switchable loads.

    Across the jig node: the hook load (via hook_relay, behind the long-loop resistor when that
    relay is closed), ren_per_relay REN per closed REN relay, the divider and, when the jig names a
    DMM, its 10 Mohm input.
    """

    def __init__(self, jig: FxsJig, drive: LineDrive, start_s: float = 0.0,
                 rng: np.random.Generator | None = None):
        self.jig = jig
        self._closed = {relay: False for relay in jig.relays}
        self._drive = drive
        self._phone_emf: Callable[[np.ndarray], np.ndarray] | None = None
        super().__init__(self._solve(start_s), rng)

    def set_relay(self, t_s: float, relay: str, closed: bool) -> None:
        if relay not in self._closed:
            raise ValueError(f"FXS jig {self.jig.name!r} has no relay {relay!r} (has {sorted(self._closed)})")
        self._closed[relay] = bool(closed)
        self._history.record(self._solve(t_s))

    def set_drive(self, t_s: float, drive: LineDrive) -> None:
        self._drive = drive
        self._history.record(self._solve(t_s))

    def connect_phone_source(self, t_s: float, emf: Callable[[np.ndarray], np.ndarray]) -> None:
        """A signal source in series with the hook load (volts at bench times): what a phone's
        keypad puts on the line, heard by the port only while the hook relay is closed."""
        self._phone_emf = emf
        self._history.record(self._solve(t_s))

    def _hook_ohm(self) -> float | None:
        """The off-hook load in the loop (with the long loop when switched in), None on-hook."""
        jig = self.jig
        if not self._closed[jig.hook_relay]:
            return None
        long_loop = jig.long_loop_relay is not None and self._closed[jig.long_loop_relay]
        return jig.hook_load_ohm + (jig.long_loop_ohm if long_loop else 0.0)

    def load_admittance(self, freq_hz: float) -> complex:
        """Admittance (S) across the jig node at freq_hz, from the relays' present positions."""
        jig = self.jig
        y = 1 / jig.divider_input_ohm + (1 / DMM_INPUT_OHM if jig.dmm else 0.0)
        hook_ohm = self._hook_ohm()
        if hook_ohm is not None:
            y += 1 / hook_ohm
        rens = sum(jig.ren_per_relay for relay in jig.ren_relays if self._closed[relay])
        return y + ren_admittance(rens, freq_hz)

    def loop_impedance(self, freq_hz: float) -> complex:
        """Impedance (ohm) the port sees at its terminals: sense resistor plus jig loads."""
        return self.jig.sense_ohm + 1 / self.load_admittance(freq_hz)

    def _solve(self, t_s: float) -> Segment:
        drive, sense = self._drive, self.jig.sense_ohm
        g_dc = self.load_admittance(0.0).real
        i_dc = drive.dc_emf_v * g_dc / (1 + (drive.dc_source_ohm + sense) * g_dc)
        if drive.current_limit_a is not None and abs(i_dc) > drive.current_limit_a:
            i_dc = math.copysign(drive.current_limit_a, i_dc)
        tones = tuple(
            _solve_tone(sine_phasor(tone.emf_vrms), tone.freq_hz, tone.t_ref_s,
                        drive.ac_source_ohm + sense, self.load_admittance(tone.freq_hz))
            for tone in drive.tones)
        waveforms = []
        if drive.waveform is not None:
            solved = _solve_tone(1.0, drive.waveform_hz, t_s, drive.ac_source_ohm + sense,
                                 self.load_admittance(drive.waveform_hz))
            waveforms.append(LineWaveform(drive.waveform, abs(solved.v_peak), abs(solved.i_peak)))
        hook_ohm = self._hook_ohm()
        if self._phone_emf is not None and hook_ohm is not None:
            # Millman at the jig node: the phone source behind the hook load against the port's
            # AC impedance (and sense resistor) and the other loads, at mid voice band.
            y_port = 1 / (drive.ac_source_ohm + sense)
            y_node = abs(self.load_admittance(PHONE_SOURCE_HZ)) + y_port
            v_gain = (1 / hook_ohm) / y_node
            waveforms.append(LineWaveform(self._phone_emf, v_gain, -v_gain * y_port, from_phone=True))
        return Segment(t_s, i_dc / g_dc, i_dc, tones, tuple(waveforms))


@dataclass(frozen=True)
class DaaLoad:
    """What an FXO port puts across the line, as a circuit.

    On-hook: leakage_ohm in parallel with ringer_ren REN of ringer. Off-hook, in addition: DC
    v_tr = knee_v + i * slope_ohm (no current below the knee; a diode bridge makes it polarity
    independent) and an AC termination of ac_termination_ohm (the DC holding circuit is a
    gyrator, high impedance at voice and ringing frequencies).
    """

    leakage_ohm: float
    ringer_ren: float
    knee_v: float
    slope_ohm: float
    ac_termination_ohm: float


@dataclass(frozen=True)
class FxoLineState:
    """The inputs of an FXO line at one moment.

    burst_start_s: None while the generator puts out no sine (off, DC, or between bursts), else
    the time its sine rose through zero (the burst start, or since_s when continuous).
    """

    supply: SupplySetting
    generator: SourceSetting
    burst_start_s: float | None
    daa_off_hook: bool


class FxoLine(_Line):
    """The bench line source (supply + amplified generator, through feed_ohm and the sense
    resistor) feeding an FXO port's DAA, with the divider and DMM across the DAA."""

    def __init__(self, jig: FxoJig, daa: DaaLoad, state: FxoLineState, start_s: float = 0.0,
                 rng: np.random.Generator | None = None):
        self.jig = jig
        self.daa = daa
        self._state = state
        self._supply_point = (0.0, 0.0)
        super().__init__(self._solve(start_s), rng)

    @property
    def state(self) -> FxoLineState:
        return self._state

    def apply(self, t_s: float, state: FxoLineState) -> None:
        self._state = state
        self._history.record(self._solve(t_s))

    def supply_operating_point(self) -> tuple[float, float]:
        """(volts, amps) at the supply's terminals now (DC)."""
        return self._supply_point

    def _measurement_conductance(self) -> float:
        return 1 / self.jig.divider_input_ohm + (1 / DMM_INPUT_OHM if self.jig.dmm else 0.0)

    def load_admittance(self, freq_hz: float) -> complex:
        """AC admittance (S) across the DAA terminals at freq_hz (freq_hz > 0)."""
        daa = self.daa
        y = self._measurement_conductance() + 1 / daa.leakage_ohm + ren_admittance(daa.ringer_ren, freq_hz)
        if self._state.daa_off_hook:
            y += 1 / daa.ac_termination_ohm
        return y

    def _dc_emf(self) -> tuple[float, float]:
        """(supply volts, amplifier DC volts) in series around the loop."""
        state, gain = self._state, self.jig.amplifier_gain
        supply_v = state.supply.voltage_v if state.supply.output_on else 0.0
        generator_dc = state.generator.offset_v if state.generator.output_on else 0.0
        return supply_v, gain * generator_dc

    def _node_voltage_for_current(self, i_a: float, g_linear: float) -> float:
        """DAA-node volts that draw i_a (amperes) into the measurement + DAA loads."""
        v = i_a / g_linear
        daa = self.daa
        if self._state.daa_off_hook and abs(v) > daa.knee_v:
            s = math.copysign(1.0, i_a)
            v = (i_a + s * daa.knee_v / daa.slope_ohm) / (g_linear + 1 / daa.slope_ohm)
        return v

    def _solve_dc(self) -> tuple[float, float, float]:
        """(v_tr, i_loop, supply terminal volts) with the supply in CV, or CC when limited."""
        daa, state = self.daa, self._state
        supply_v, amplifier_v = self._dc_emf()
        emf = supply_v + amplifier_v
        series = self.jig.feed_ohm + self.jig.sense_ohm
        g_linear = self._measurement_conductance() + (0.0 if state.daa_off_hook else 1 / daa.leakage_ohm)
        v = emf / (1 + series * g_linear)
        if state.daa_off_hook and abs(v) > daa.knee_v:
            s = math.copysign(1.0, emf)
            v = (emf / series + s * daa.knee_v / daa.slope_ohm) / (1 / series + g_linear + 1 / daa.slope_ohm)
        i = (emf - v) / series
        limit = state.supply.current_limit_a
        if state.supply.output_on and abs(i) > limit:
            i = math.copysign(limit, i)
            v = self._node_voltage_for_current(i, g_linear)
            supply_v = v + i * series - amplifier_v
        return v, i, supply_v

    def _solve(self, t_s: float) -> Segment:
        v_dc, i_dc, supply_v = self._solve_dc()
        self._supply_point = (supply_v, i_dc)
        state, tones = self._state, ()
        if state.burst_start_s is not None:
            generator = state.generator
            emf_vrms = self.jig.amplifier_gain * generator.amplitude_vpp / (2 * math.sqrt(2))
            tones = (_solve_tone(sine_phasor(emf_vrms), generator.freq_hz, state.burst_start_s,
                                 self.jig.feed_ohm + self.jig.sense_ohm,
                                 self.load_admittance(generator.freq_hz)),)
        return Segment(t_s, v_dc, i_dc, tones)
