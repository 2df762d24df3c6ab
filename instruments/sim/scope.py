"""Simulated oscilloscopes: a Rigol DS1000Z (SimRigolDs1000z) and a Keysight InfiniiVision
DSOX1204G (SimInfiniiVision), answering SCPI through `ScpiServer` the way the programming guides
describe. Each is built as SimX(name, clock, wiring, rng) and sees the jig only through
wiring.scope_inputs[f"{name}:{channel}"]: volts at its input connector (unconnected: 0 V).

How an acquisition happens (both models):
- The timebase sets the record: `points` samples at `rate_hz` spanning the screen (12 divisions
  on the Rigol, 10 on the Keysight), its first sample `first_s` = delay - half a screen from the
  trigger. Rigol: rate = memory depth / (12 x s/div); Keysight: rate = 1 Mpts / (10 x s/div);
  both at most the model's highest sample rate.
- RUN or :SINGle arms the scope at the bench time they arrive. The scope first fills its
  pre-trigger memory, then waits for the trigger: the trigger source's probe is searched forward
  in bench time, from the last point searched to the present (in chunks, at the record rate
  bounded to SEARCH_RATE_HZ), and the crossing is refined by bisection, so the trigger time is
  exact. Sweep AUTO triggers by itself AUTO_TRIGGER_S after the scope is ready; a forced trigger
  (:TFORce, :TRIGger:FORCe) triggers at once. Bench time passes only when the bench sleeps, so the
  acquisition completes when the clock passes the end of its record, and it is digitised (from
  the probes' history) when its data is first asked for.
- Front end, per sample: the probe's volts (AC coupling: a first-order high-pass at
  AC_CUTOFF_HZ), a gain error around the screen centre that is fixed per channel (drawn at
  construction, never beyond GAIN_ACCURACY_FS of full scale at the screen edge, i.e. inside the
  data sheet's DC gain accuracy), white noise of hypot(NOISE_FLOOR_V, NOISE_DIV x volts/div) rms,
  then the model's codes, which stop at the rails when the trace leaves the ADC's range. The
  probe setting only rescales what the scope reports (scale, offset, level, preamble).
- The trigger compares the noiseless probe signal with its level (its hysteresis rejects the
  noise); the bandwidth limit is kept and reported but changes nothing below 20 MHz.

Only the commands tipring's drivers send (and their query forms) are simulated; anything else is
-113 "Undefined header". Values out of range are -222, unknown choices -224, a channel that does
not exist -114, and asking for data the scope does not have -221.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.signal import lfilter

from instruments.sim.clock import VirtualClock
from instruments.sim.scpi_server import Call, ScpiDevice, ScpiError, parse_bool, parse_choice, parse_number
from instruments.sim.terminals import Probe, SimWiring, unconnected

ONE_TWO_FIVE = (1.0, 2.0, 5.0)


def step_at_or_above(value: float) -> float:
    """The smallest 1-2-5 step >= value (> 0): how a coarse knob settles."""
    decade = 10.0 ** math.floor(math.log10(value))
    return next(m * decade for m in (*ONE_TWO_FIVE, 10.0) if m * decade >= value * (1 - 1e-9))


def fixed_block(data: bytes, digits: int) -> str:
    """A definite-length block with a fixed number of length digits, as the scopes send it:
    digits=9 -> "#9000001200" + data (Rigol), digits=8 -> "#800001000" + data (Keysight)."""
    return f"#{digits}{len(data):0{digits}d}" + data.decode("latin-1")


@dataclass
class SimChannel:
    """One channel's front end as the instrument holds it; volts at the input connector.

    centre_v: the volts on the screen's centre line.
    """

    display: bool = False
    coupling: str = "DC"
    scale_v: float = 0.1
    centre_v: float = 0.0
    probe: float = 10.0
    bandwidth_limit: bool = False


@dataclass
class Acquisition:
    """One armed (then triggered, then complete) acquisition and its codes once read.

    first_s: time of the first sample from the trigger; screen_s: the screen's width in s;
    channels: the displayed channels' settings when it was armed; high_resolution: averaged
    samples (Keysight HRES).
    """

    armed_s: float
    rate_hz: float
    points: int
    first_s: float
    screen_s: float
    channels: dict[int, SimChannel]
    high_resolution: bool
    search_from_s: float
    trigger_s: float | None = None
    codes: dict = field(default_factory=dict)

    @property
    def ready_s(self) -> float:
        """When the pre-trigger memory is full and a trigger is accepted."""
        return self.armed_s + max(0.0, -self.first_s)

    @property
    def end_s(self) -> float:
        return self.trigger_s + self.first_s + self.points / self.rate_hz

    def times(self, first: int, stop: int, spacing_s: float) -> np.ndarray:
        """Bench times of points first..stop-1 of a record whose points are spacing_s apart."""
        return self.trigger_s + self.first_s + np.arange(first, stop) * spacing_s


class SimScope(ScpiDevice, abc.ABC):
    """What both simulated scopes share: channels, timebase, edge trigger and acquisition.

    A model sets its limits and its command table, and provides _layout (rate and points),
    _digitise (connector volts to codes) and its waveform transfer.
    """

    CHANNELS = (1, 2, 3, 4)
    DIVISIONS_X = 10
    DIVISIONS_Y = 8
    SCALE_LIMITS_V = (1e-3, 10.0)  # volts/div at the input connector
    TIMEBASE_LIMITS_S = (5e-9, 50.0)
    DEFAULT_TIMEBASE_S = 1e-6  # after *RST
    MAX_SAMPLE_RATE_HZ = {1: 1e9, 2: 500e6, 3: 250e6, 4: 250e6}
    TRIGGER_LEVEL_DIVS = 5.0  # the level may lie this far from the centre line
    GAIN_ACCURACY_FS = 0.03  # DC gain accuracy, fraction of full scale (8 divisions) [data sheet]
    NOISE_FLOOR_V = 0.5e-3  # rms at the input connector [assumed]
    NOISE_DIV = 0.02  # rms in divisions [assumed]
    AC_CUTOFF_HZ = 5.0  # AC coupling, -3 dB [data sheet]
    AUTO_TRIGGER_S = 0.1  # sweep AUTO triggers by itself after this long without an edge [assumed]
    SEARCH_RATE_HZ = (100e3, 1e6)  # the trigger search samples the probe this fast (bounds)
    SEARCH_CHUNK = 1 << 16  # samples per step of the trigger search
    DIGITISE_CHUNK = 1 << 20  # samples per probe call when a record is digitised
    AC_HISTORY_RATE_HZ = 10e3  # the AC coupling's settling before a record, sampled this fast

    def __init__(self, identity: str, name: str, clock: VirtualClock, wiring: SimWiring,
                 rng: np.random.Generator):
        super().__init__(identity)
        self.name, self.clock, self.wiring, self.rng = name, clock, wiring, rng
        # A fixed gain error per channel, at most GAIN_ACCURACY_FS of full scale at the screen edge
        # (4 divisions from the centre): |gain error| <= 2 x GAIN_ACCURACY_FS, drawn narrower.
        limit = 2 * self.GAIN_ACCURACY_FS
        self.gain_error = {n: float(np.clip(rng.normal(0.0, limit / 4), -limit, limit)) for n in self.CHANNELS}
        # Bench time of the trigger of the latest complete acquisition (None: none yet).
        self.last_trigger_s: float | None = None

    # -- state -----------------------------------------------------------------------------------

    def reset(self) -> None:
        self.channels = {n: SimChannel(display=n == 1) for n in self.CHANNELS}
        self.timebase_s = self.DEFAULT_TIMEBASE_S
        self.delay_s = 0.0
        self.trigger_source = 1
        self.trigger_level_v = 0.0  # at the source's input connector
        self.trigger_slope = "POS"
        self.sweep = "AUTO"
        self.high_resolution = False
        self.running = True
        self.single = False
        self.record: Acquisition | None = None
        self.acquisition: Acquisition | None = self._new_acquisition(self.clock.now())

    def _new_acquisition(self, armed_s: float) -> Acquisition:
        rate_hz, points = self._layout()
        channels = {n: replace(ch) for n, ch in self.channels.items() if ch.display}
        return Acquisition(armed_s, rate_hz, points, self.delay_s - self.DIVISIONS_X / 2 * self.timebase_s,
                           self.DIVISIONS_X * self.timebase_s, channels, self.high_resolution,
                           search_from_s=armed_s)

    def _channels_on(self) -> int:
        return max(1, sum(ch.display for ch in self.channels.values()))

    @abc.abstractmethod
    def _layout(self) -> tuple[float, int]:
        """(sample rate, points) of a record at the present settings."""

    @abc.abstractmethod
    def _digitise(self, volts: np.ndarray, ch: SimChannel, acq: Acquisition) -> np.ndarray:
        """Codes of measured connector volts."""

    def _probe(self, n: int) -> Probe:
        return self.wiring.scope_inputs.get(f"{self.name}:{n}", unconnected)

    def _settings_changed(self) -> None:
        """A setting changed: an armed acquisition starts again with it (as on the real scope)."""
        self._catch_up()
        if self.acquisition is not None:
            self.acquisition = self._new_acquisition(self.clock.now())

    def _run(self, single: bool) -> None:
        self._catch_up()
        self.running, self.single = True, single
        self.acquisition = self._new_acquisition(self.clock.now())

    def _stop(self) -> None:
        self._catch_up()
        self.running, self.acquisition = False, None

    def _force(self) -> None:
        self._catch_up()
        acq = self.acquisition
        if acq is not None and acq.trigger_s is None:
            acq.trigger_s = max(self.clock.now(), acq.ready_s)

    # -- acquisition -----------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """Let the armed acquisition see the bench time that has passed: trigger, complete, and
        (running continuously) arm the next."""
        now = self.clock.now()
        while self.acquisition is not None:
            acq = self.acquisition
            if acq.trigger_s is None:
                auto_s = acq.ready_s + self.AUTO_TRIGGER_S
                until_s = min(now, auto_s) if self.sweep == "AUTO" else now
                acq.trigger_s = self._search_trigger(acq, until_s)
                if acq.trigger_s is None:
                    if self.sweep != "AUTO" or now < auto_s:
                        return
                    acq.trigger_s = auto_s  # no edge came: the scope triggers itself
            if now < acq.end_s:
                return
            self.record, self.last_trigger_s = acq, acq.trigger_s
            if self.single:
                self.running, self.acquisition = False, None
            else:
                # Only the latest acquisitions of a long run can still be seen: skip the others.
                lookback_s = max(0.0, -acq.first_s) + self.AUTO_TRIGGER_S + acq.points / acq.rate_hz
                self.acquisition = self._new_acquisition(max(acq.end_s, now - lookback_s))

    def _search_trigger(self, acq: Acquisition, until_s: float) -> float | None:
        """Bench time of the first trigger edge between the last point searched and until_s."""
        start_s = max(acq.search_from_s, acq.ready_s)
        if until_s <= start_s:
            return None
        probe, level = self._probe(self.trigger_source), self.trigger_level_v
        step_s = 1.0 / min(max(acq.rate_hz, self.SEARCH_RATE_HZ[0]), self.SEARCH_RATE_HZ[1])
        t_s = start_s
        while t_s < until_s:
            count = min(self.SEARCH_CHUNK, math.ceil((until_s - t_s) / step_s))
            times = np.minimum(t_s + np.arange(count + 1) * step_s, until_s)
            above = probe(times) >= level
            rising, falling = ~above[:-1] & above[1:], above[:-1] & ~above[1:]
            edges = {"POS": rising, "NEG": falling}.get(self.trigger_slope, rising | falling)
            hits = np.flatnonzero(edges)
            if len(hits):
                return self._crossing_s(probe, level, times[hits[0]], times[hits[0] + 1])
            t_s = times[-1]
        acq.search_from_s = until_s
        return None

    @staticmethod
    def _crossing_s(probe: Probe, level: float, before_s: float, after_s: float) -> float:
        """Where the probe crosses level between two times on either side of it (bisection)."""
        below_before = probe(np.array([before_s]))[0] < level
        for _ in range(60):
            if after_s - before_s <= 1e-12:
                break
            middle_s = 0.5 * (before_s + after_s)
            if (probe(np.array([middle_s]))[0] < level) == below_before:
                before_s = middle_s
            else:
                after_s = middle_s
        return after_s

    def _completed_record(self, raw: bool) -> Acquisition:
        """The latest complete acquisition for a waveform read; -221 if there is none to give."""
        self._catch_up()
        if self.record is None:
            raise ScpiError(-221, "no acquisition yet")
        if raw and self.running:
            raise ScpiError(-221, "the acquisition memory is read when stopped (:STOP or a single)")
        return self.record

    def _codes(self, acq: Acquisition, n: int, count: int, spacing_s: float) -> np.ndarray:
        """Codes of channel n at `count` points spacing_s apart from the record's start, digitised
        once and kept (a record read in several parts is one record)."""
        if n not in acq.channels:
            raise ScpiError(-221, f"CHAN{n} was off during the acquisition")
        key = (n, count, spacing_s)
        if key not in acq.codes:
            ch = acq.channels[n]
            probe = self._probe(n)
            noise_v = self._noise_rms(ch, acq)
            chunks, capacitor_v = [], None
            for first in range(0, count, self.DIGITISE_CHUNK):
                times = acq.times(first, min(first + self.DIGITISE_CHUNK, count), spacing_s)
                if ch.coupling == "GND":
                    volts = np.zeros_like(times)
                else:
                    volts = probe(times)
                    if ch.coupling == "AC":
                        volts, capacitor_v = self._ac_coupled(probe, times, volts, spacing_s, capacitor_v)
                volts = ch.centre_v + (volts - ch.centre_v) * (1.0 + self.gain_error[n])
                volts = volts + self.rng.normal(0.0, noise_v, len(times))
                chunks.append(self._digitise(volts, ch, acq))
            acq.codes[key] = np.concatenate(chunks)
        return acq.codes[key]

    def _noise_rms(self, ch: SimChannel, acq: Acquisition) -> float:
        return math.hypot(self.NOISE_FLOOR_V, self.NOISE_DIV * ch.scale_v)

    def _ac_coupled(self, probe: Probe, times: np.ndarray, volts: np.ndarray, spacing_s: float,
                    capacitor_v: float | None) -> tuple[np.ndarray, float]:
        """The probe through the AC-coupling capacitor (a first-order high-pass), and the
        capacitor's voltage after the last sample. The first part of a record starts from the
        capacitor charged by the signal's recent history (ten time constants of it)."""
        tau_s = 1.0 / (2 * math.pi * self.AC_CUTOFF_HZ)
        if capacitor_v is None:
            history_start_s = max(0.0, times[0] - 10 * tau_s)
            history = np.arange(history_start_s, times[0], 1.0 / self.AC_HISTORY_RATE_HZ)
            capacitor_v = float(volts[0])
            if len(history):
                past = probe(history)
                alpha = 1.0 - math.exp(-1.0 / (self.AC_HISTORY_RATE_HZ * tau_s))
                charge = lfilter([alpha], [1.0, alpha - 1.0], past, zi=[(1.0 - alpha) * past[0]])[0]
                capacitor_v = float(charge[-1])
        alpha = 1.0 - math.exp(-spacing_s / tau_s)
        charge = lfilter([alpha], [1.0, alpha - 1.0], volts, zi=[(1.0 - alpha) * capacitor_v])[0]
        return volts - charge, float(charge[-1])

    # -- handlers both models share --------------------------------------------------------------

    def _channel(self, call: Call) -> tuple[int, SimChannel]:
        n = call.suffixes[0]
        if n not in self.channels:
            raise ScpiError(-114, f"channel {n}")
        return n, self.channels[n]

    def _source_channel(self, text: str) -> int:
        """CHANnel<n> as a trigger or waveform source."""
        word = text.strip().upper()
        for n in self.CHANNELS:
            if word in (f"CHAN{n}", f"CHANNEL{n}"):
                return n
        raise ScpiError(-224, f"{text!r} is not one of CHANnel1..{self.CHANNELS[-1]}")

    def _set_display(self, call: Call) -> None:
        _, ch = self._channel(call)
        ch.display = parse_bool(call.one())
        self._settings_changed()

    def _get_display(self, call: Call) -> str:
        _, ch = self._channel(call)
        call.none()
        return "1" if ch.display else "0"

    def _set_coupling(self, call: Call, choices: list[str]) -> None:
        _, ch = self._channel(call)
        ch.coupling = parse_choice(call.one(), choices)
        self._settings_changed()

    def _get_coupling(self, call: Call) -> str:
        _, ch = self._channel(call)
        call.none()
        return ch.coupling

    def _scale_at_tip(self, call: Call, ch: SimChannel) -> float:
        """A volts/div parameter, at the probe tip, within the model's limits."""
        low, high = self.SCALE_LIMITS_V
        return parse_number(call.one(), low * ch.probe, high * ch.probe)

    def _set_trigger_source(self, call: Call) -> None:
        self.trigger_source = self._source_channel(call.one())
        self._settings_changed()

    def _set_waveform_source(self, call: Call) -> None:
        self.waveform_source = self._source_channel(call.one())

    def _set_waveform_format(self, call: Call) -> None:
        self.waveform_format = parse_choice(call.one(), ["WORD", "BYTE"])  # ASCii: not simulated

    def _set_trigger_level(self, call: Call) -> None:
        ch = self.channels[self.trigger_source]
        span_v = self.TRIGGER_LEVEL_DIVS * ch.scale_v * ch.probe
        centre_v = ch.centre_v * ch.probe
        self.trigger_level_v = parse_number(call.one(), centre_v - span_v, centre_v + span_v) / ch.probe
        self._settings_changed()

    def _trigger_level_at_tip(self) -> float:
        return self.trigger_level_v * self.channels[self.trigger_source].probe

    def _set_trigger_mode(self, call: Call) -> None:
        parse_choice(call.one(), ["EDGE"])  # the other trigger types are not simulated

    def _set_delay(self, call: Call) -> None:
        self.delay_s = parse_number(call.one(), *self._delay_limits_s())
        self._settings_changed()

    def _delay_limits_s(self) -> tuple[float, float]:
        """From the trigger at the right edge to max(1 s, 100 div) of delay [assumed]."""
        return -self.DIVISIONS_X / 2 * self.timebase_s, max(1.0, 100 * self.timebase_s)

    def _timebase_changed(self, seconds_per_div: float) -> None:
        self.timebase_s = seconds_per_div
        low, high = self._delay_limits_s()
        self.delay_s = min(max(self.delay_s, low), high)
        self._settings_changed()


# ----------------------------------------------------------------------------------------------
# Rigol DS1000Z


class SimRigolDs1000z(SimScope):
    """A DS1104Z (4 channels, 100 MHz, 1 GSa/s, standard 12 Mpts memory).

    Codes: 8 bits, 25 per division, 127 at the screen centre (yreference), so the screen is
    codes 27..227 and the trace clips at 0 and 255 about 5 divisions from the centre. The
    centre line sits on a whole code (yorigin is an integer). WORD points are the code in the low
    byte and 0 in the high byte, low byte first. A RAW read asks for more than 250 000 BYTE
    (125 000 WORD) points at once: -221 [assumed; the guide only gives the limit].
    Volts/div and s/div settle on the 1-2-5 step at or above the value sent (the coarse knob)
    [assumed]. Memory depth AUTO takes the smallest depth [assumed: the real scope picks one by
    sample rate; the smallest keeps an unplanned read short]; a depth is kept as its place in the
    list, so switching channels on or off scales it. :SYST:ERR? answers 0,"No error" when the
    queue is empty, as the DS1000Z does. *RST: CH1 on at 1 V/div with a 10:1 probe setting,
    1 us/div, edge trigger on CH1 at 0 V, sweep AUTO, running [assumed].
    """

    DIVISIONS_X = 12
    MAX_SAMPLE_RATE_HZ = {1: 1e9, 2: 500e6, 3: 250e6, 4: 250e6}
    MEMORY_DEPTHS = {
        1: (12_000, 120_000, 1_200_000, 12_000_000),
        2: (6_000, 60_000, 600_000, 6_000_000),
        3: (3_000, 30_000, 300_000, 3_000_000),
        4: (3_000, 30_000, 300_000, 3_000_000),
    }
    PROBE_RATIOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
    CODES_PER_DIV = 25
    Y_REFERENCE = 127
    SCREEN_POINTS = 1200
    MAX_POINTS_PER_READ = {"BYTE": 250_000, "WORD": 125_000}
    TRIGGER_LEVEL_DIVS = 5.0
    GAIN_ACCURACY_FS = 0.03
    NOISE_FLOOR_V = 0.5e-3
    NOISE_DIV = 0.02
    AC_CUTOFF_HZ = 5.0

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__("RIGOL TECHNOLOGIES,DS1104Z,DS1ZA000000001,00.04.05.SP2", name, clock, wiring, rng)
        self.command("CHANnel#:DISPlay", self._set_display)
        self.command("CHANnel#:DISPlay?", self._get_display)
        self.command("CHANnel#:COUPling", lambda call: self._set_coupling(call, ["AC", "DC", "GND"]))
        self.command("CHANnel#:COUPling?", self._get_coupling)
        self.command("CHANnel#:PROBe", self._set_probe)
        self.command("CHANnel#:PROBe?", lambda call: self._channel_number(call, "probe"))
        self.command("CHANnel#:SCALe", self._set_scale)
        self.command("CHANnel#:SCALe?", lambda call: self._channel_number(call, "scale"))
        self.command("CHANnel#:OFFSet", self._set_offset)
        self.command("CHANnel#:OFFSet?", lambda call: self._channel_number(call, "offset"))
        self.command("CHANnel#:BWLimit", self._set_bandwidth_limit)
        self.command("CHANnel#:BWLimit?", self._get_bandwidth_limit)
        self.command("TIMebase[:MAIN]:SCALe", self._set_timebase)
        self.command("TIMebase[:MAIN]:SCALe?", lambda call: self._number(call, self.timebase_s))
        self.command("TIMebase[:MAIN]:OFFSet", self._set_delay)
        self.command("TIMebase[:MAIN]:OFFSet?", lambda call: self._number(call, self.delay_s))
        self.command("ACQuire:MDEPth", self._set_memory_depth)
        self.command("ACQuire:MDEPth?", self._get_memory_depth)
        self.command("TRIGger:MODE", self._set_trigger_mode)
        self.command("TRIGger:MODE?", lambda call: call.none() or "EDGE")
        self.command("TRIGger:SWEep", self._set_sweep)
        self.command("TRIGger:SWEep?", lambda call: call.none() or self.sweep)
        self.command("TRIGger:EDGe:SOURce", self._set_trigger_source)
        self.command("TRIGger:EDGe:SOURce?", lambda call: call.none() or f"CHAN{self.trigger_source}")
        self.command("TRIGger:EDGe:SLOPe", self._set_trigger_slope)
        self.command("TRIGger:EDGe:SLOPe?", lambda call: call.none() or self.trigger_slope)
        self.command("TRIGger:EDGe:LEVel", self._set_trigger_level)
        self.command("TRIGger:EDGe:LEVel?", lambda call: self._number(call, self._trigger_level_at_tip()))
        self.command("TRIGger:STATus?", self._trigger_status)
        self.command("RUN", lambda call: call.none() or self._run(single=self.sweep == "SING"))
        self.command("STOP", lambda call: call.none() or self._stop())
        self.command("SINGle", self._single)
        self.command("TFORce", lambda call: call.none() or self._force())
        self.command("WAVeform:SOURce", self._set_waveform_source)
        self.command("WAVeform:SOURce?", lambda call: call.none() or f"CHAN{self.waveform_source}")
        self.command("WAVeform:MODE", self._set_waveform_mode)
        self.command("WAVeform:MODE?", lambda call: call.none() or self.waveform_mode)
        self.command("WAVeform:FORMat", self._set_waveform_format)
        self.command("WAVeform:FORMat?", lambda call: call.none() or self.waveform_format)
        self.command("WAVeform:STARt", lambda call: self._set_read_point(call, "start"))
        self.command("WAVeform:STARt?", lambda call: call.none() or str(self.read_start))
        self.command("WAVeform:STOP", lambda call: self._set_read_point(call, "stop"))
        self.command("WAVeform:STOP?", lambda call: call.none() or str(self.read_stop))
        self.command("WAVeform:PREamble?", self._preamble)
        self.command("WAVeform:DATA?", self._data)
        self.reset()

    def reset(self) -> None:
        self.memory_index: int | None = None  # into MEMORY_DEPTHS[channels on]; None: AUTO
        super().reset()
        self.waveform_source, self.waveform_mode, self.waveform_format = 1, "NORM", "BYTE"
        self.read_start, self.read_stop = 1, self.SCREEN_POINTS

    def _next_error(self, call: Call) -> str:
        reply = super()._next_error(call)
        return '0,"No error"' if reply.startswith("+0,") else reply

    @staticmethod
    def _number(call: Call, value: float) -> str:
        call.none()
        return f"{value:.6e}"

    def _channel_number(self, call: Call, what: str) -> str:
        _, ch = self._channel(call)
        value = {"probe": ch.probe, "scale": ch.scale_v * ch.probe, "offset": -ch.centre_v * ch.probe}[what]
        return self._number(call, value + 0.0)

    # -- settings --------------------------------------------------------------------------------

    def _set_probe(self, call: Call) -> None:
        _, ch = self._channel(call)
        ratio = parse_number(call.one(), self.PROBE_RATIOS[0], self.PROBE_RATIOS[-1])
        if not any(math.isclose(ratio, r, rel_tol=1e-9) for r in self.PROBE_RATIOS):
            raise ScpiError(-224, f"probe ratio {ratio:g} is not one of {self.PROBE_RATIOS}")
        ch.probe = ratio
        self._settings_changed()

    def _set_scale(self, call: Call) -> None:
        _, ch = self._channel(call)
        ch.scale_v = step_at_or_above(self._scale_at_tip(call, ch)) / ch.probe
        self._settings_changed()

    def _set_offset(self, call: Call) -> None:
        _, ch = self._channel(call)
        limit_v = (2.0 if ch.scale_v < 0.5 * (1 - 1e-9) else 100.0) * ch.probe
        ch.centre_v = -parse_number(call.one(), -limit_v, limit_v) / ch.probe
        self._settings_changed()

    def _set_bandwidth_limit(self, call: Call) -> None:
        _, ch = self._channel(call)
        ch.bandwidth_limit = parse_choice(call.one(), ["20M", "OFF"]) == "20M"
        self._settings_changed()

    def _get_bandwidth_limit(self, call: Call) -> str:
        _, ch = self._channel(call)
        call.none()
        return "20M" if ch.bandwidth_limit else "OFF"

    def _set_timebase(self, call: Call) -> None:
        self._timebase_changed(step_at_or_above(parse_number(call.one(), *self.TIMEBASE_LIMITS_S)))

    def _set_memory_depth(self, call: Call) -> None:
        text = call.one()
        depths = self.MEMORY_DEPTHS[self._channels_on()]
        if text.strip().upper() == "AUTO":
            self.memory_index = None
        else:
            points = parse_number(text, 1, depths[-1] * 2)
            if points not in depths:
                raise ScpiError(-224, f"memory depth {points:g} is not one of {depths} "
                                      f"with {self._channels_on()} channel(s) on")
            self.memory_index = depths.index(points)
        self._settings_changed()

    def _get_memory_depth(self, call: Call) -> str:
        call.none()
        return "AUTO" if self.memory_index is None else str(self.MEMORY_DEPTHS[self._channels_on()][self.memory_index])

    def _set_sweep(self, call: Call) -> None:
        self.sweep = parse_choice(call.one(), ["AUTO", "NORMal", "SINGle"])
        self.single = self.sweep == "SING"
        self._settings_changed()

    def _set_trigger_slope(self, call: Call) -> None:
        self.trigger_slope = parse_choice(call.one(), ["POSitive", "NEGative", "RFALl"])
        self._settings_changed()

    def _single(self, call: Call) -> None:
        call.none()
        self.sweep = "SING"
        self._run(single=True)

    def _trigger_status(self, call: Call) -> str:
        call.none()
        self._catch_up()
        acq = self.acquisition
        if not self.running or acq is None:
            return "STOP"
        if acq.trigger_s is not None:
            return "TD"
        return "AUTO" if self.sweep == "AUTO" else "WAIT"

    # -- acquisition and transfer ------------------------------------------------------------------

    def _layout(self) -> tuple[float, int]:
        on = self._channels_on()
        depth = self.MEMORY_DEPTHS[on][self.memory_index or 0]
        record_s = self.DIVISIONS_X * self.timebase_s
        rate_hz = min(self.MAX_SAMPLE_RATE_HZ[on], depth / record_s)
        return rate_hz, max(1, round(rate_hz * record_s))

    def _digitise(self, volts: np.ndarray, ch: SimChannel, acq: Acquisition) -> np.ndarray:
        y_increment = ch.scale_v / self.CODES_PER_DIV
        codes = np.round(self.Y_REFERENCE + self._y_origin(ch) + volts / y_increment)
        return np.clip(codes, 0, 255).astype(np.uint8)

    def _y_origin(self, ch: SimChannel) -> int:
        """The centre line in codes: the offset, on a whole code."""
        return round(-ch.centre_v / (ch.scale_v / self.CODES_PER_DIV))

    def _set_waveform_mode(self, call: Call) -> None:
        self.waveform_mode = parse_choice(call.one(), ["NORMal", "MAXimum", "RAW"])

    def _reads_memory(self) -> bool:
        """RAW, or MAXimum while stopped, read the acquisition memory; else the screen."""
        return self.waveform_mode == "RAW" or (self.waveform_mode == "MAX" and not self.running)

    def _set_read_point(self, call: Call, which: str) -> None:
        most = self._layout()[1] if self._reads_memory() else self.SCREEN_POINTS
        point = round(parse_number(call.one(), 1, most))
        if which == "start":
            self.read_start = point
        else:
            self.read_stop = point

    def _transfer(self) -> tuple[Acquisition, np.ndarray, float]:
        """The record to read, its codes (memory or screen), and their spacing in s."""
        raw = self._reads_memory()
        acq = self._completed_record(raw)
        if raw:
            spacing_s, count = 1.0 / acq.rate_hz, acq.points
        else:
            spacing_s, count = acq.screen_s / self.SCREEN_POINTS, self.SCREEN_POINTS
        return acq, self._codes(acq, self.waveform_source, count, spacing_s), spacing_s

    def _preamble(self, call: Call) -> str:
        call.none()
        acq, codes, spacing_s = self._transfer()
        ch = acq.channels[self.waveform_source]
        fields = [0 if self.waveform_format == "BYTE" else 1, 2 if self._reads_memory() else 0,
                  len(codes), 1, f"{spacing_s:.6e}", f"{acq.first_s:.6e}", 0,
                  f"{ch.scale_v * ch.probe / self.CODES_PER_DIV:.6e}", self._y_origin(ch), self.Y_REFERENCE]
        return ",".join(str(f) for f in fields)

    def _data(self, call: Call) -> str:
        call.none()
        _, codes, _ = self._transfer()
        start, stop = self.read_start, self.read_stop
        if not 1 <= start <= stop <= len(codes):
            raise ScpiError(-221, f"points {start}..{stop} are not within 1..{len(codes)}")
        if stop - start + 1 > self.MAX_POINTS_PER_READ[self.waveform_format]:
            raise ScpiError(-221, f"at most {self.MAX_POINTS_PER_READ[self.waveform_format]} points "
                                  f"per {self.waveform_format} read")
        part = codes[start - 1:stop]
        data = part.tobytes() if self.waveform_format == "BYTE" else part.astype("<u2").tobytes()
        return fixed_block(data, 9)


# ----------------------------------------------------------------------------------------------
# Keysight InfiniiVision


class SimInfiniiVision(SimScope):
    """A DSOX1204G (4 channels, 70 MHz, 2 GSa/s half-channel, 1 Mpts).

    Codes: the ADC's 8 bits left-aligned in 16 (WORD) or as they are (BYTE); 65536 (256) codes
    span the 8 divisions, the centre line is 32768 (128) = yreference, and yorigin is the
    centre line in volts. Beyond the screen a code is 1 (clipped low) or 65535/255 (clipped
    high); 0 is a hole and never sent. High resolution (:ACQ:TYPE HRES) averages the samples
    the ADC takes between two stored ones: the noise falls by the square root of their number
    and the codes gain a bit for every factor of four, up to 12 bits. Volts/div and s/div take
    any value in range (fine adjustment). NORMal reads give :WAV:POIN points across the screen;
    RAW reads the acquisition memory, decimated when :WAV:POIN asks for fewer points; a NORMal
    record holds up to NORMAL_MAX_POINTS [assumed]. RAW while running: -221 [assumed]. *RST: CH1
    on at 1 V/div with a 10:1 probe setting, 100 us/div, edge trigger on CH1 at 0 V, sweep AUTO,
    running, :WAV:BYT MSBF, :WAV:UNS ON [the last two from the guide's *RST example].
    """

    DIVISIONS_X = 10
    DEFAULT_TIMEBASE_S = 100e-6
    MAX_SAMPLE_RATE_HZ = {1: 2e9, 2: 1e9, 3: 1e9, 4: 1e9}
    RAW_POINTS = 1_000_000
    NORMAL_MAX_POINTS = 62_500  # a NORMal (screen) record [assumed]
    PROBE_LIMITS = (0.001, 10_000.0)
    TRIGGER_LEVEL_DIVS = 6.0
    GAIN_ACCURACY_FS = 0.03
    NOISE_FLOOR_V = 0.3e-3
    NOISE_DIV = 0.015
    AC_CUTOFF_HZ = 3.5
    MAX_BITS = 12
    RUN_BIT, WAIT_TRIG_BIT = 8, 32  # Operation Status Condition Register

    def __init__(self, name: str, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator):
        super().__init__("KEYSIGHT TECHNOLOGIES,DSOX1204G,CN60000001,02.12.2021071625", name, clock, wiring, rng)
        self.command("CHANnel#:DISPlay", self._set_display)
        self.command("CHANnel#:DISPlay?", self._get_display)
        self.command("CHANnel#:COUPling", lambda call: self._set_coupling(call, ["AC", "DC"]))
        self.command("CHANnel#:COUPling?", self._get_coupling)
        self.command("CHANnel#:PROBe", self._set_probe)
        self.command("CHANnel#:PROBe?", lambda call: self._channel_number(call, "probe"))
        self.command("CHANnel#:SCALe", self._set_scale)
        self.command("CHANnel#:SCALe?", lambda call: self._channel_number(call, "scale"))
        self.command("CHANnel#:OFFSet", self._set_offset)
        self.command("CHANnel#:OFFSet?", lambda call: self._channel_number(call, "offset"))
        self.command("CHANnel#:BWLimit", self._set_bandwidth_limit)
        self.command("CHANnel#:BWLimit?", self._get_bandwidth_limit)
        self.command("TIMebase:SCALe", lambda call: self._timebase_changed(
            parse_number(call.one(), *self.TIMEBASE_LIMITS_S)))
        self.command("TIMebase:SCALe?", lambda call: self._number(call, self.timebase_s))
        self.command("TIMebase:POSition", self._set_delay)
        self.command("TIMebase:POSition?", lambda call: self._number(call, self.delay_s))
        self.command("ACQuire:TYPE", self._set_acquisition_type)
        self.command("ACQuire:TYPE?", lambda call: call.none() or ("HRES" if self.high_resolution else "NORM"))
        self.command("ACQuire:SRATe?", lambda call: self._number(call, self._layout()[0]))
        self.command("TRIGger:MODE", self._set_trigger_mode)
        self.command("TRIGger:MODE?", lambda call: call.none() or "EDGE")
        self.command("TRIGger:SWEep", self._set_sweep)
        self.command("TRIGger:SWEep?", lambda call: call.none() or self.sweep)
        self.command("TRIGger[:EDGE]:SOURce", self._set_trigger_source)
        self.command("TRIGger[:EDGE]:SOURce?", lambda call: call.none() or f"CHAN{self.trigger_source}")
        self.command("TRIGger[:EDGE]:SLOPe", self._set_trigger_slope)
        self.command("TRIGger[:EDGE]:SLOPe?", lambda call: call.none() or self.trigger_slope)
        self.command("TRIGger[:EDGE]:LEVel", self._set_trigger_level)
        self.command("TRIGger[:EDGE]:LEVel?", lambda call: self._number(call, self._trigger_level_at_tip()))
        self.command("TRIGger:FORCe", lambda call: call.none() or self._force())
        self.command("RUN", lambda call: call.none() or self._run(single=False))
        self.command("STOP", lambda call: call.none() or self._stop())
        self.command("SINGle", lambda call: call.none() or self._run(single=True))
        self.command("OPERegister:CONDition?", self._operation_condition)
        self.command("WAVeform:SOURce", self._set_waveform_source)
        self.command("WAVeform:SOURce?", lambda call: call.none() or f"CHAN{self.waveform_source}")
        self.command("WAVeform:FORMat", self._set_waveform_format)
        self.command("WAVeform:FORMat?", lambda call: call.none() or self.waveform_format)
        self.command("WAVeform:POINts:MODE", self._set_points_mode)
        self.command("WAVeform:POINts:MODE?", lambda call: call.none() or self.points_mode)
        self.command("WAVeform:POINts", self._set_points)
        self.command("WAVeform:POINts?", self._get_points)
        self.command("WAVeform:BYTeorder", self._set_byte_order)
        self.command("WAVeform:BYTeorder?", lambda call: call.none() or self.byte_order)
        self.command("WAVeform:UNSigned", self._set_unsigned)
        self.command("WAVeform:UNSigned?", lambda call: call.none() or ("1" if self.unsigned else "0"))
        self.command("WAVeform:PREamble?", self._preamble)
        self.command("WAVeform:DATA?", self._data)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.waveform_source, self.waveform_format = 1, "BYTE"
        self.points_mode, self.points_wanted = "NORM", 1000  # points_wanted None: MAXimum
        self.byte_order, self.unsigned = "MSBF", True

    @staticmethod
    def _number(call: Call, value: float) -> str:
        call.none()
        return f"{value:+.5E}"

    def _channel_number(self, call: Call, what: str) -> str:
        _, ch = self._channel(call)
        value = {"probe": ch.probe, "scale": ch.scale_v * ch.probe, "offset": ch.centre_v * ch.probe}[what]
        return self._number(call, value)

    # -- settings --------------------------------------------------------------------------------

    def _set_probe(self, call: Call) -> None:
        _, ch = self._channel(call)
        ch.probe = parse_number(call.one(), *self.PROBE_LIMITS)
        self._settings_changed()

    def _set_scale(self, call: Call) -> None:
        _, ch = self._channel(call)
        ch.scale_v = self._scale_at_tip(call, ch) / ch.probe
        self._settings_changed()

    def _set_offset(self, call: Call) -> None:
        _, ch = self._channel(call)
        limit_v = (2.0 if ch.scale_v <= 0.2 * (1 + 1e-9) else 50.0) * ch.probe
        ch.centre_v = parse_number(call.one(), -limit_v, limit_v) / ch.probe
        self._settings_changed()

    def _set_bandwidth_limit(self, call: Call) -> None:
        _, ch = self._channel(call)
        ch.bandwidth_limit = parse_bool(call.one())
        self._settings_changed()

    def _get_bandwidth_limit(self, call: Call) -> str:
        _, ch = self._channel(call)
        call.none()
        return "1" if ch.bandwidth_limit else "0"

    def _set_acquisition_type(self, call: Call) -> None:
        self.high_resolution = parse_choice(call.one(), ["NORMal", "HRESolution"]) == "HRES"
        self._settings_changed()

    def _set_sweep(self, call: Call) -> None:
        self.sweep = parse_choice(call.one(), ["AUTO", "NORMal"])
        self._settings_changed()

    def _set_trigger_slope(self, call: Call) -> None:
        self.trigger_slope = parse_choice(call.one(), ["POSitive", "NEGative", "EITHer"])
        self._settings_changed()

    def _operation_condition(self, call: Call) -> str:
        call.none()
        self._catch_up()
        acq, condition = self.acquisition, 0
        if self.running:
            condition |= self.RUN_BIT
        if acq is not None and acq.trigger_s is None and self.clock.now() >= acq.ready_s:
            condition |= self.WAIT_TRIG_BIT
        return f"{condition:+d}"

    # -- acquisition and transfer ------------------------------------------------------------------

    def _layout(self) -> tuple[float, int]:
        record_s = self.DIVISIONS_X * self.timebase_s
        rate_hz = min(self.MAX_SAMPLE_RATE_HZ[self._channels_on()], self.RAW_POINTS / record_s)
        return rate_hz, max(1, round(rate_hz * record_s))

    def _averaged(self, acq: Acquisition) -> float:
        """How many ADC samples a high-resolution point averages (1 in normal acquisition)."""
        if not acq.high_resolution:
            return 1.0
        return max(1.0, self.MAX_SAMPLE_RATE_HZ[len(acq.channels) or 1] / acq.rate_hz)

    def _noise_rms(self, ch: SimChannel, acq: Acquisition) -> float:
        return super()._noise_rms(ch, acq) / math.sqrt(self._averaged(acq))

    def _digitise(self, volts: np.ndarray, ch: SimChannel, acq: Acquisition) -> np.ndarray:
        bits = min(self.MAX_BITS, 8 + int(math.log2(self._averaged(acq)) // 2))
        step = 2 ** (16 - bits)
        position = 32768 + (volts - ch.centre_v) / (ch.scale_v * self.DIVISIONS_Y / 65536)
        codes = np.clip(np.round(position / step) * step, step, 65536 - step)
        codes = np.where(position < 0, 1, np.where(position >= 65536, 65535, codes))
        return codes.astype(np.uint16)

    def _set_points_mode(self, call: Call) -> None:
        self.points_mode = parse_choice(call.one(), ["NORMal", "MAXimum", "RAW"])

    def _set_points(self, call: Call) -> None:
        text = call.one()
        if text.strip().upper() in ("MAX", "MAXIMUM"):
            self.points_wanted = None
        else:
            self.points_wanted = round(parse_number(text, 100, 8_000_000))

    def _get_points(self, call: Call) -> str:
        call.none()
        return f"{len(self._transfer()[1]):+d}"

    def _set_byte_order(self, call: Call) -> None:
        self.byte_order = parse_choice(call.one(), ["LSBFirst", "MSBFirst"])

    def _set_unsigned(self, call: Call) -> None:
        self.unsigned = parse_bool(call.one())

    def _reads_memory(self) -> bool:
        return self.points_mode == "RAW" or (self.points_mode == "MAX" and not self.running)

    def _transfer(self) -> tuple[Acquisition, np.ndarray, float]:
        """The record to read, its codes as :WAV:POIN asks for them, and their spacing in s."""
        raw = self._reads_memory()
        acq = self._completed_record(raw)
        if raw:
            wanted = acq.points if self.points_wanted is None else min(self.points_wanted, acq.points)
            every = math.ceil(acq.points / wanted)  # keep every n-th point of the memory
            count = math.ceil(acq.points / every)
            return acq, self._codes(acq, self.waveform_source, count, every / acq.rate_hz), every / acq.rate_hz
        count = min(self.points_wanted or self.NORMAL_MAX_POINTS, self.NORMAL_MAX_POINTS)
        spacing_s = acq.screen_s / count
        return acq, self._codes(acq, self.waveform_source, count, spacing_s), spacing_s

    def _preamble(self, call: Call) -> str:
        call.none()
        acq, codes, spacing_s = self._transfer()
        ch = acq.channels[self.waveform_source]
        word = self.waveform_format == "WORD"
        steps = 65536 if word else 256
        y_reference = steps // 2 if self.unsigned else 0
        fields = [f"{int(word):+d}", f"{3 if acq.high_resolution else 0:+d}", f"{len(codes):+d}", "+1",
                  f"{spacing_s:+.8E}", f"{acq.first_s:+.8E}", "+0",
                  f"{ch.scale_v * ch.probe * self.DIVISIONS_Y / steps:+.8E}", f"{ch.centre_v * ch.probe:+.8E}",
                  f"{y_reference:+d}"]
        return ",".join(fields)

    def _data(self, call: Call) -> str:
        call.none()
        _, codes, _ = self._transfer()
        if self.waveform_format == "BYTE":
            values = np.where(codes == 1, 1, np.where(codes == 65535, 255, codes >> 8)).astype(np.int64)
            values = values if self.unsigned else values - 128
            data = values.astype(np.uint8 if self.unsigned else np.int8).tobytes()
        else:
            values = codes.astype(np.int64) if self.unsigned else codes.astype(np.int64) - 32768
            order = "<" if self.byte_order == "LSBF" else ">"
            data = values.astype(f"{order}{'u2' if self.unsigned else 'i2'}").tobytes()
        return fixed_block(data, 8)
