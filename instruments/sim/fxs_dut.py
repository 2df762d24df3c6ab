"""A simulated FXS port: a SLIC with its firmware's state machine, driving an `FxsLine`.

States:
    idle       on-hook; forward battery feed (VOC behind the feed resistance, current-limited).
    ringing    cadenced bursts. Ring-on: balanced sine ringing (ring_vrms at ring_freq_hz, rising
               through zero at the burst start) riding on ring_dc_offset_v, behind
               ring_source_ohm; the battery is removed. Ring-off: battery feed is back (the
               cadence timer switches the linefeed between RINGING and ACTIVE, as ProSLIC and
               Microsemi parts do).
    off_hook   off-hook qualified; dial tone follows after dial_tone_delay_ms.
    dial_tone  battery feed with the dial-tone frequencies superimposed, each at
               dial_tone_level_dbm into 600 ohm, from a source of ac_source_ohm.
    DTMF       while off-hook the port's receiver listens to the line (harness.dsp's DTMF
               receiver with the dtmf_* limits); received_digits() says what it heard.
    caller ID  (on-hook, Type 1, "after the first ring") when a ring() names the caller: once
               the first burst ends, caller_id_delay_ms later the port sends an FSK burst in
               caller_id_standard (seizure, mark, then the caller_id_format message) at
               caller_id_level_dbm into 900 ohm from a 900 ohm source, during the ring-off.
    talk       off-hook after a ring trip (answered call): battery feed, no tone.

Hook detection follows the loop's DC current through a comparator (off-hook at
offhook_threshold_ma, back on-hook below threshold - hysteresis), a debounce (the raw state must
hold hook_debounce_ms) and the firmware's qualification (the debounced state must hold
hook_qualify_ms); only then does hook_state() change. While ringing, answering is seen by the
ring-trip detector instead: during ring-on the loop impedance at the ringing frequency must fall
to ring_trip_ohm or below, during ring-off the DC comparator must see the loop closed; once that
has held for ring_trip_ms the ringing stops (ring trip) and the port goes to talk. Hook flash,
pulse dialing, dial-tone timeout and the ringing current limit are not modelled.

The port advances by jumping from one timer (cadence edge, debounce, qualification, dial-tone
delay, ring trip) to the next (see `port.TimedPort`). DUT-control calls (ring(), stop_ringing(),
provision(), relay changes) act at the time the port was last advanced to, which the SimModel
keeps equal to the bench clock's now.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy.signal import resample_poly

from harness.dsp.callerid import CallTime, callerid_signal, etsi_call_setup, mdmf, sdmf
from harness.dsp.dtmf import DtmfLimits, detect_dtmf
from harness.dsp.waveform import Waveform
from instruments.sim.jig import FxsJig
from instruments.sim.line import FxsLine, LineDrive, Tone, dbm_to_vrms
from instruments.sim.port import TimedPort

# Source tags [Sx] refer to reference/telephony-facts.md (sections 1.x, 2.x, 6.1).


@dataclass(frozen=True)
class SlicParams:
    """What an FXS port does, as its SLIC and firmware are configured. Units in the names."""

    # DC feed
    voc_v: float = 48.0  # open-circuit tip-ring volts, VOC 48 V +-4 V [S20][S21]
    feed_resistance_ohm: float = 160.0  # DC feed slope, Si3210 [S21]
    current_limit_ma: float = 25.0  # loop current limit ILA, ZL88701 "USA DC FXS 25 mA" [S20]
    # hook detection
    offhook_threshold_ma: float = 11.0  # switch-hook threshold [S20]
    hook_hysteresis_ma: float = 2.0  # [S20]
    hook_debounce_ms: float = 8.0  # SLIC hook debounce [S20]
    # Firmware qualification after the debounce: an assumption, well inside the <= 100 ms
    # off-hook detection of a line simulator [S30].
    hook_qualify_ms: float = 30.0
    # ringing
    ring_vrms: float = 50.0  # 70.7 Vpk sine [S20]
    ring_dc_offset_v: float = 0.0  # 0 V DC bias [S20] (the Mediatrix DE profile uses 15 V [S31])
    ring_freq_hz: float = 20.0  # USA [S20c]
    ring_cadence_ms: tuple[float, ...] = (2000.0, 4000.0)  # on/off pairs, US (section 2.2) [S1]
    ring_source_ohm: float = 100.0  # assumption, chosen so that 5 REN still get >= 44 Vrms [S21]
    ring_trip_ohm: float = 1100.0  # ring-trip threshold RTHR, Si3210 [S21]; 5 REN is ~1400 ohm
    # Off-hook must persist this long during ringing: 2 ring cycles at 20 Hz [S20]; >= 71 ms is
    # an answer [S54]; ringing is removed within 200 ms [S24b].
    ring_trip_ms: float = 100.0
    # dial tone
    dial_tone_delay_ms: float = 150.0  # assumption (no source read gives one)
    dial_tone_freqs_hz: tuple[float, ...] = (350.0, 440.0)  # Precise Tone Plan [S60]
    dial_tone_level_dbm: float = -13.0  # per tone, into 600 ohm [S60]
    ac_source_ohm: float = 600.0  # AC impedance, default 600 ohm [S20c]
    # caller ID after the first ring: Bellcore in North America, ETSI V.23 in Europe (4.3)
    caller_id_standard: str = "bell202"  # bell202, v23, or none
    caller_id_format: str = "mdmf"  # sdmf, mdmf (Bellcore) or etsi (ETSI call set-up)
    caller_id_delay_ms: float = 600.0  # after the first ring ends: Lantiq default afterFirstRing [S9]
    caller_id_level_dbm: float = -13.5  # into 900 ohm [S90]
    caller_id_seizure_bits: int = 300  # 30 bytes of 0x55 [S7]
    caller_id_mark_bits: int = 180  # on-hook [S7]
    caller_id_corrupt_checksum: bool = False  # a defect: the message does not add up
    # DTMF receiver: a Q.24-style receiver accepts +-1.5 % / 40 ms / twist -8..+4 dB and rejects
    # +-3.5 % / 23 ms (reference 3.1 [S3][S69]); these are its decision points between them.
    dtmf_max_deviation_pct: float = 2.5
    dtmf_min_on_ms: float = 35.0
    dtmf_twist_min_db: float = -9.0
    dtmf_twist_max_db: float = 5.0
    # The codec's sample clock error: the receiver hears every tone off by this much (a defect).
    dtmf_clock_error_pct: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "ring_cadence_ms", tuple(float(x) for x in self.ring_cadence_ms))
        object.__setattr__(self, "dial_tone_freqs_hz", tuple(float(x) for x in self.dial_tone_freqs_hz))
        for name in ("voc_v", "feed_resistance_ohm", "current_limit_ma", "offhook_threshold_ma",
                     "ring_freq_hz", "ring_source_ohm", "ring_trip_ohm", "ac_source_ohm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SlicParams.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("hook_hysteresis_ma", "hook_debounce_ms", "hook_qualify_ms", "ring_vrms",
                     "ring_trip_ms", "dial_tone_delay_ms"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SlicParams.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.hook_hysteresis_ma >= self.offhook_threshold_ma:
            raise ValueError(f"SlicParams.hook_hysteresis_ma ({self.hook_hysteresis_ma}) must be below "
                             f"offhook_threshold_ma ({self.offhook_threshold_ma})")
        cadence = self.ring_cadence_ms
        if not cadence or len(cadence) % 2 or min(cadence) <= 0:
            raise ValueError(f"SlicParams.ring_cadence_ms must be on/off pairs of positive ms, got {cadence}")
        if not self.dial_tone_freqs_hz or min(self.dial_tone_freqs_hz) <= 0:
            raise ValueError(f"SlicParams.dial_tone_freqs_hz must be positive frequencies, got {self.dial_tone_freqs_hz}")
        if self.caller_id_standard not in ("bell202", "v23", "none"):
            raise ValueError(f"SlicParams.caller_id_standard must be bell202, v23 or none, got {self.caller_id_standard!r}")
        if self.caller_id_format not in CALLER_ID_MESSAGES:
            raise ValueError(f"SlicParams.caller_id_format must be one of {', '.join(CALLER_ID_MESSAGES)}, "
                             f"got {self.caller_id_format!r}")
        self.dtmf_limits()  # DtmfLimits checks the receiver's decision points
        for name in ("caller_id_delay_ms", "caller_id_seizure_bits", "caller_id_mark_bits"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SlicParams.{name} must be >= 0, got {getattr(self, name)!r}")


    def dtmf_limits(self) -> DtmfLimits:
        return DtmfLimits(max_deviation_pct=self.dtmf_max_deviation_pct, min_on_ms=self.dtmf_min_on_ms,
                          twist_min_db=self.dtmf_twist_min_db, twist_max_db=self.dtmf_twist_max_db)


# Region settings a gateway accepts from its provisioning; anything else is a hardware property.
PROVISIONABLE = frozenset({"ring_freq_hz", "ring_cadence_ms", "ring_vrms", "ring_dc_offset_v",
                           "dial_tone_freqs_hz", "dial_tone_level_dbm", "caller_id_standard", "caller_id_format"})

# The message each caller ID format sends for (number, name, time of the call).
CALLER_ID_MESSAGES = {
    "sdmf": lambda number, name, when, corrupt: sdmf(number, when, corrupt_checksum=corrupt),
    "mdmf": lambda number, name, when, corrupt: mdmf(number=number, name=name, when=when, corrupt_checksum=corrupt),
    "etsi": lambda number, name, when, corrupt: etsi_call_setup(number=number, name=name, when=when,
                                                               corrupt_checksum=corrupt),
}
# The simulated DUT's clock: every call is stamped with this date and time.
CALLER_ID_TIME = CallTime(month=11, day=27, hour=9, minute=30)
CALLER_ID_RATE_HZ = 48_000.0  # the burst is synthesised at this rate and interpolated
DTMF_RECEIVER_RATE_HZ = 8000.0  # the SLIC's codec
CODEC_OVERSAMPLING = 4
CALLER_ID_SOURCE_OHM = 900.0  # Bellcore caller ID source impedance (900 ohm + 2.16 uF) [S90]



class SlicState(str, Enum):
    IDLE = "idle"
    RINGING = "ringing"
    OFF_HOOK = "off_hook"
    DIAL_TONE = "dial_tone"
    TALK = "talk"


class FxsPort(TimedPort):
    """One simulated FXS port and the line it feeds.

    params: the port's configuration; overridden: names of params the fixture set on purpose (a
    defective DUT), which provision() leaves alone.

    Events (see events()): ringing_start, ring_on, ring_off, ringing_stop, ring_trip, off_hook,
    on_hook, dial_tone_on, dial_tone_off, ring_ignored_off_hook, caller_id_start, caller_id_end.
    """

    # Order in which timers due at the same instant fire: a ring trip wins over a cadence edge.
    _PROVISIONABLE = PROVISIONABLE  # provisioned settings take effect at the next ringing or dial tone
    _TIMER_ORDER = ("debounce", "qualify", "ring_trip", "cadence", "dial_tone", "caller_id", "caller_id_end")

    def __init__(self, jig: FxsJig, params: SlicParams, overridden: set[str] | frozenset[str] = frozenset(),
                 *, rng: np.random.Generator | None = None, start_s: float = 0.0,
                 lock: threading.RLock | None = None):
        super().__init__(f"FXS port {jig.name!r}", start_s, lock, params, overridden)
        self.jig = jig
        self._state = SlicState.IDLE
        self._raw_off_hook = False  # comparator output
        self._debounced_off_hook = False
        self._off_hook = False  # qualified: what the DUT believes
        # ringing session: settings frozen at ring(), start time, cadence edge count, ring-on?
        self._ring_params = params
        self._ring_start_s = 0.0
        self._ring_edges = 0
        self._burst_on = False
        self._ring_loop_closed = False
        self._dial_tone_start_s = 0.0
        self._caller: tuple[str, str | None] | None = None  # (number, name) of the call ringing
        self._caller_id_emf = None  # the FSK burst's emf while it is being sent
        self._dtmf_heard_to_s = self._t  # the DTMF receiver has reported the line up to here
        self.line = FxsLine(jig, self._battery_drive(), self._t, rng)

    # ---- DUT control -------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The firmware state: idle, ringing, off_hook, dial_tone or talk."""
        return self._state.value

    def hook_state(self) -> bool:
        """True when the DUT believes the line is off-hook."""
        with self._lock:
            return self._off_hook


    def ring(self, caller_number: str | None = None, caller_name: str | None = None) -> None:
        """Start cadenced ringing now (an incoming call); with caller_number, caller ID follows
        the first ring. Ignored while the DUT believes off-hook."""
        with self._lock:
            if self._state is SlicState.RINGING:
                return
            if self._off_hook:
                self._event("ring_ignored_off_hook")
                return
            # The hook chain pauses while ringing; the ring-trip detector watches the loop.
            self._timers.pop("debounce", None)
            self._timers.pop("qualify", None)
            self._raw_off_hook = self._debounced_off_hook = False
            self._ring_params = self.params
            self._ring_start_s = self._t
            self._ring_edges = 0
            self._burst_on = True
            self._ring_loop_closed = False
            self._caller = (caller_number, caller_name) if caller_number else None
            self._state = SlicState.RINGING
            self._event("ringing_start")
            self._event("ring_on")
            self._timers["cadence"] = self._cadence_edge_time(1)
            self._update_line()

    def stop_ringing(self) -> None:
        """Stop ringing now (the caller gave up). No effect unless ringing."""
        with self._lock:
            if self._state is not SlicState.RINGING:
                return
            self._end_ringing()
            self._state = SlicState.IDLE
            self._update_line()

    def received_digits(self) -> str:
        """The DTMF digits the port's receiver heard since the last call (or since it went
        off-hook); it listens only while off-hook."""
        with self._lock:
            start_s, self._dtmf_heard_to_s = self._dtmf_heard_to_s, self._t
            if not self._off_hook or self._t - start_s < 0.05:
                return ""
            # A codec clock fast by e samples 1 + e times as often as it believes: every
            # frequency it measures is low by that factor. The codec oversamples and filters to
            # the voice band before it decimates, as a real one does against aliasing.
            codec_rate_hz = DTMF_RECEIVER_RATE_HZ * (1 + self.params.dtmf_clock_error_pct / 100)
            times_s = np.arange(start_s, self._t, 1 / (CODEC_OVERSAMPLING * codec_rate_hz))
            line_v, _ = self.line.render(times_s, received=True)
        heard = Waveform(resample_poly(line_v, 1, CODEC_OVERSAMPLING), DTMF_RECEIVER_RATE_HZ, start_s=start_s)
        return "".join(d.digit for d in detect_dtmf(heard, limits=self.params.dtmf_limits()))

    # ---- the jig (render() and advance_to() come from TimedPort) -----------------------------

    def set_relay(self, relay: str, closed: bool) -> None:
        """A jig relay on this port's line changed (now)."""
        with self._lock:
            self.line.set_relay(self._t, relay, closed)
            self._loop_changed()

    # ---- internals ---------------------------------------------------------------------------

    def _fire(self, timer: str) -> None:
        if timer == "debounce":
            self._debounced_off_hook = self._raw_off_hook
            if self._debounced_off_hook != self._off_hook:
                self._timers["qualify"] = self._t + self.params.hook_qualify_ms / 1e3
            else:
                self._timers.pop("qualify", None)
        elif timer == "qualify":
            self._hook_qualified(self._debounced_off_hook)
        elif timer == "dial_tone":
            self._state = SlicState.DIAL_TONE
            self._dial_tone_start_s = self._t
            self._event("dial_tone_on")
            self._update_line()
        elif timer == "cadence":
            self._ring_edges += 1
            self._burst_on = self._ring_edges % 2 == 0
            self._event("ring_on" if self._burst_on else "ring_off")
            self._timers["cadence"] = self._cadence_edge_time(self._ring_edges + 1)
            if self._ring_edges == 1 and self._caller and self._ring_params.caller_id_standard != "none":
                self._timers["caller_id"] = self._t + self._ring_params.caller_id_delay_ms / 1e3
            self._update_line()
        elif timer == "caller_id":
            duration_s = self._start_caller_id()
            self._event("caller_id_start")
            self._timers["caller_id_end"] = self._t + duration_s
            self._update_line()
        elif timer == "caller_id_end":
            self._caller_id_emf = None
            self._event("caller_id_end")
            self._update_line()
        elif timer == "ring_trip":
            self._event("ring_trip")
            self._end_ringing()
            self._raw_off_hook = self._debounced_off_hook = self._off_hook = True
            self._state = SlicState.TALK
            self._event("off_hook")
            self._update_line()

    def _hook_qualified(self, off_hook: bool) -> None:
        self._off_hook = off_hook
        self._dtmf_heard_to_s = self._t  # the receiver starts listening afresh
        if off_hook:
            self._event("off_hook")
            if self._state is SlicState.IDLE:
                self._state = SlicState.OFF_HOOK
                self._timers["dial_tone"] = self._t + self.params.dial_tone_delay_ms / 1e3
            return
        self._event("on_hook")
        self._timers.pop("dial_tone", None)
        if self._state is SlicState.DIAL_TONE:
            self._event("dial_tone_off")
        self._state = SlicState.IDLE
        self._update_line()

    def _end_ringing(self) -> None:
        if self._burst_on:
            self._event("ring_off")
        self._event("ringing_stop")
        self._burst_on = False
        for timer in ("cadence", "ring_trip", "caller_id", "caller_id_end"):
            self._timers.pop(timer, None)
        self._caller_id_emf = None

    def _cadence_edge_time(self, edge: int) -> float:
        """Bench time of the edge-th cadence edge since ringing started (edge 0 = first ring-on),
        computed from the start so that hours of cadence do not drift."""
        cadence_s = [ms / 1e3 for ms in self._ring_params.ring_cadence_ms]
        cycle, step = divmod(edge, len(cadence_s))
        return self._ring_start_s + cycle * sum(cadence_s) + sum(cadence_s[:step])

    def _start_caller_id(self) -> float:
        """Synthesise the caller ID burst starting now; returns its duration (s)."""
        p = self._ring_params
        number, name = self._caller
        message = CALLER_ID_MESSAGES[p.caller_id_format](number, name, CALLER_ID_TIME, p.caller_id_corrupt_checksum)
        burst = callerid_signal(message, p.caller_id_standard, CALLER_ID_RATE_HZ, level_dbm=p.caller_id_level_dbm,
                                seizure_bits=p.caller_id_seizure_bits, mark_bits=p.caller_id_mark_bits,
                                lead_ms=0.0, trail_ms=0.0, impedance_ohm=CALLER_ID_SOURCE_OHM)
        # The level is stated into 900 ohm from a 900 ohm source: the emf is twice that voltage.
        emf = 2.0 * burst.samples
        start_s = self._t
        self._caller_id_emf = lambda t: np.interp((t - start_s) * CALLER_ID_RATE_HZ, np.arange(len(emf)), emf,
                                                  left=0.0, right=0.0)
        return len(emf) / CALLER_ID_RATE_HZ

    def _battery_drive(self) -> LineDrive:
        p = self.params
        tones = ()
        if self._state is SlicState.DIAL_TONE:
            # emf that puts dial_tone_level_dbm across a 600 ohm load through ac_source_ohm
            emf_vrms = dbm_to_vrms(p.dial_tone_level_dbm) * (p.ac_source_ohm + 600.0) / 600.0
            tones = tuple(Tone(f, emf_vrms, self._dial_tone_start_s) for f in p.dial_tone_freqs_hz)
        if self._caller_id_emf is not None:
            return LineDrive(p.voc_v, p.feed_resistance_ohm, p.current_limit_ma / 1e3, tones, CALLER_ID_SOURCE_OHM,
                             waveform=self._caller_id_emf)
        return LineDrive(p.voc_v, p.feed_resistance_ohm, p.current_limit_ma / 1e3, tones, p.ac_source_ohm)

    def _ringing_drive(self) -> LineDrive:
        p = self._ring_params
        burst_start_s = self._cadence_edge_time(self._ring_edges)
        return LineDrive(p.ring_dc_offset_v, p.ring_source_ohm, None,
                         (Tone(p.ring_freq_hz, p.ring_vrms, burst_start_s),), p.ring_source_ohm)

    def _update_line(self) -> None:
        ringing = self._state is SlicState.RINGING and self._burst_on
        self.line.set_drive(self._t, self._ringing_drive() if ringing else self._battery_drive())
        self._loop_changed()

    def _comparator(self, was_off_hook: bool) -> bool:
        """Loop-closure comparator on the present DC loop current, with hysteresis."""
        i_ma = abs(self.line.present.i_dc) * 1e3
        p = self.params
        threshold = p.offhook_threshold_ma - (p.hook_hysteresis_ma if was_off_hook else 0.0)
        return i_ma >= threshold

    def _loop_changed(self) -> None:
        """Re-run the detectors after anything on the line changed."""
        if self._state is SlicState.RINGING:
            if self._burst_on:
                z = self.line.loop_impedance(self._ring_params.ring_freq_hz)
                closed = abs(z) <= self.params.ring_trip_ohm
            else:
                closed = self._comparator(self._ring_loop_closed)
            self._ring_loop_closed = closed
            if not closed:
                self._timers.pop("ring_trip", None)
            elif "ring_trip" not in self._timers:
                self._timers["ring_trip"] = self._t + self.params.ring_trip_ms / 1e3
            return
        raw = self._comparator(self._raw_off_hook)
        if raw == self._raw_off_hook:
            return
        self._raw_off_hook = raw
        if raw != self._debounced_off_hook:
            self._timers["debounce"] = self._t + self.params.hook_debounce_ms / 1e3
        else:
            self._timers.pop("debounce", None)
