"""Caller ID on an analog line: FSK messages, alert tones and DTMF CLIP; decoded, measured, generated.

Facts: telephony-facts.md section 4. The FSK modem (Bell 202, V.23) is harness.dsp.fsk.

FSK (callerid_bursts, callerid_messages). Each burst found in a capture is demodulated, then read
as caller ID: channel seizure (alternating bits), mark signal (a run of 1s), then asynchronous
characters (start bit, 8 data bits LSB first, stop bit) forming [type][length][payload][checksum].
The checksum is the two's complement of the modulo-256 sum of the bytes before it, so all bytes
of a good message sum to 0 mod 256. A message that does not add up is returned with
checksum_ok False and the burst status "bad checksum": never as a valid message. The bits are
read once (no retries, no bit flipping to make a checksum fit), and a stop bit read as 0 marks
the whole message as a framing error, which catches part of the bit errors that happen to keep
the 8-bit sum (two errors in the same bit of two bytes cancel). Below about 4 dB SNR, where most
messages fail, about 1 decode in 600 still adds up over wrong bytes; none did at 4 dB and up.

Message codings: Bellcore SDMF 0x04 (MMDDhhmm + number, or O/P), SDMF 0x06 message waiting,
MDMF / ETSI EN 300 659-3 type-length-value messages 0x80 (call set-up), 0x82 (message waiting),
0x86 (advice of charge), 0x89 (SMS), with the parameter codes of both (section 4.3).

Alert signals (alert_signals): the dual tone 2130 + 2750 Hz sent before on-hook FSK (ETSI DT-AS,
about 100 ms) and as the off-hook CPE alerting signal (CAS, 80 +- 5 ms): start, end, frequencies
and the level of each tone, so that its timing against the rings and the FSK can be checked.

DTMF CLIP (parse_dtmf_clip, dtmf_clip_messages): the framings A<number>[D<redirect>][B<info>]C,
B<code>C, D<number>C, A<number>#, D1#/D2#/D3#, <number>#.

Levels are dBm into impedance_ohm (600 ohm by default) of a capture in volts.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from harness.dsp.dtmf import detect_dtmf
from harness.dsp.fsk import (FSK_STANDARDS, FskBits, async_frame, demodulate_fsk, fsk_modulate, fsk_spans_s)
from harness.dsp.levels import checked_samples, dbm_to_vrms, vrms_to_dbm
from harness.dsp.noise import add_white_noise
from harness.dsp.waveform import Waveform

MESSAGE_TYPES = {
    0x04: "SDMF call",
    0x06: "SDMF message waiting",
    0x80: "MDMF call / ETSI call set-up",
    0x82: "MDMF / ETSI message waiting",
    0x86: "ETSI advice of charge",
    0x89: "ETSI short message",
}

# Parameter codes of MDMF (Bellcore) and ETSI EN 300 659-3 messages; 05, 06 and 09 are Bellcore only.
PARAMETER_NAMES = {
    0x01: "date_time", 0x02: "number", 0x03: "called_number", 0x04: "number_absent",
    0x05: "redirect_reason", 0x06: "long_distance", 0x07: "name", 0x08: "name_absent",
    0x09: "alternate_route", 0x0B: "visual_indicator", 0x0D: "message_id",
    0x10: "complementary_number", 0x11: "call_type", 0x13: "message_count",
    0x15: "forwarded_call_type", 0x16: "calling_user_type", 0x1A: "redirecting_number",
    0x20: "charge", 0x21: "additional_charge", 0x23: "call_duration",
    0x50: "display_information", 0x55: "service_information",
}
_PARAMETER_CODES = {name: code for code, name in PARAMETER_NAMES.items()}
_TEXT_PARAMETERS = {"number", "called_number", "complementary_number", "redirecting_number", "name",
                    "charge", "additional_charge", "call_duration", "display_information", "alternate_route"}
_BYTE_PARAMETERS = {"call_type", "message_count", "forwarded_call_type", "calling_user_type", "redirect_reason"}

# Reason-for-absence letters (O, P: Bellcore and ETSI; C, S: NTT).
ABSENCE_REASONS = {"O": "unavailable", "P": "private", "C": "coin/public", "S": "service conflict"}
_ABSENCE_LETTERS = {"unavailable": "O", "private": "P"}

# Message waiting values (not in telephony-facts.md; themuffin.net "cidinfo", a secondary source):
# parameter 0x0B 0xFF on / 0x00 off; SDMF 0x06 payload three bytes 0x42 on / 0x6F off.
_INDICATOR = {0xFF: True, 0x00: False}
_SDMF_INDICATOR = {0x42: True, 0x6F: False}

_MIN_MARK_BITS = 10     # a mark run this long before a start bit marks the start of the data
_MAX_IDLE_BITS = 40     # mark bits allowed between characters before the message counts as cut off
_STOP_BITS_AFTER_CHECKSUM = 2


# ---------------------------------------------------------------------------------------------
# Messages


@dataclass(frozen=True)
class CallTime:
    """Date and time of a caller ID message (no year is sent): month 1-12, day 1-31, hour 0-23, minute 0-59."""

    month: int
    day: int
    hour: int
    minute: int

    def __post_init__(self) -> None:
        for name, value, lo, hi in (("month", self.month, 1, 12), ("day", self.day, 1, 31),
                                    ("hour", self.hour, 0, 23), ("minute", self.minute, 0, 59)):
            if not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"CallTime: {name} must be an integer {lo}..{hi}, got {value!r}")

    @classmethod
    def of(cls, when: "CallTime | _dt.datetime") -> "CallTime":
        """when as a CallTime (a datetime loses its year and seconds)."""
        if isinstance(when, CallTime):
            return when
        if isinstance(when, _dt.datetime):
            return cls(when.month, when.day, when.hour, when.minute)
        raise ValueError(f"date/time must be a CallTime or datetime, got {type(when).__name__}")

    @property
    def text(self) -> str:
        """The 8 ASCII digits MMDDhhmm that the messages carry."""
        return f"{self.month:02d}{self.day:02d}{self.hour:02d}{self.minute:02d}"


@dataclass(frozen=True)
class CallerIdParameter:
    """One parameter of a message. code: parameter type byte; name: from PARAMETER_NAMES ("0x.."
    when unknown); data: its bytes; value: decoded (str for numbers and names, CallTime, "private"/
    "unavailable" for absence reasons, bool for the visual indicator, int for one-byte codes, else bytes).
    """

    code: int
    name: str
    data: bytes
    value: object


@dataclass(frozen=True)
class CallerIdMessage:
    """A caller ID message as received: [type][length][payload][checksum].

    checksum_ok False: the bytes do not add up; its fields must not be trusted.
    parameters: decoded payload (SDMF payloads are given as date_time and number/number_absent
    parameters too, so the properties below work for every type).
    """

    message_type: int
    payload: bytes
    checksum: int
    checksum_ok: bool
    parameters: tuple[CallerIdParameter, ...]

    @property
    def kind(self) -> str:
        return MESSAGE_TYPES.get(self.message_type, f"unknown type 0x{self.message_type:02X}")

    @property
    def raw(self) -> bytes:
        """The message bytes as sent, checksum included."""
        return bytes([self.message_type, len(self.payload)]) + self.payload + bytes([self.checksum])

    def value(self, name: str) -> object | None:
        """Decoded value of the first parameter called name, None when absent."""
        for p in self.parameters:
            if p.name == name:
                return p.value
        return None

    @property
    def number(self) -> str | None:
        """Calling number, None when not sent (see number_absent)."""
        return self.value("number")

    @property
    def number_absent(self) -> str | None:
        """Why the number is not sent: "private", "unavailable", ...; None when not stated."""
        return self.value("number_absent")

    @property
    def name(self) -> str | None:
        return self.value("name")

    @property
    def name_absent(self) -> str | None:
        return self.value("name_absent")

    @property
    def when(self) -> CallTime | None:
        return self.value("date_time")

    @property
    def message_waiting(self) -> bool | None:
        """Visual indicator: True on, False off, None when the message has none."""
        v = self.value("visual_indicator")
        return v if isinstance(v, bool) else None


def checksum(data: bytes) -> int:
    """The caller ID checksum of data: two's complement of the modulo-256 sum of its bytes."""
    return -sum(_checked_bytes(data, "checksum")) & 0xFF


def parse_callerid_message(data: bytes) -> CallerIdMessage:
    """Decode one message [type][length][payload][checksum] (checksum checked, never raised on).

    Raises ValueError when the bytes cannot be a message: fewer than 3, a length byte that does
    not match, a parameter running past the payload, a date that is not MMDDhhmm.
    """
    data = _checked_bytes(data, "parse_callerid_message")
    if len(data) < 3:
        raise ValueError(f"parse_callerid_message: {len(data)} bytes, a message has at least 3")
    if data[1] != len(data) - 3:
        raise ValueError(f"parse_callerid_message: length byte says {data[1]} payload bytes, "
                         f"the message carries {len(data) - 3}")
    message_type, payload = data[0], data[2:-1]
    if message_type == 0x04:
        parameters = _sdmf_parameters(payload)
    elif message_type == 0x06:
        parameters = _sdmf_waiting_parameters(payload)
    else:
        parameters = _tlv_parameters(payload)
    return CallerIdMessage(message_type, payload, data[-1], sum(data) & 0xFF == 0, parameters)


def _checked_bytes(data, purpose: str) -> bytes:
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"{purpose}: expected bytes, got {type(data).__name__}")
    return bytes(data)


def _sdmf_parameters(payload: bytes) -> tuple[CallerIdParameter, ...]:
    if len(payload) < 9:
        raise ValueError(f"SDMF payload has {len(payload)} bytes, needs MMDDhhmm and a number")
    number = payload[8:]
    code = 0x04 if len(number) == 1 and chr(number[0]) in ABSENCE_REASONS else 0x02
    return _parameter(0x01, payload[:8]), _parameter(code, number)


def _sdmf_waiting_parameters(payload: bytes) -> tuple[CallerIdParameter, ...]:
    if len(payload) != 3 or len(set(payload)) != 1 or payload[0] not in _SDMF_INDICATOR:
        raise ValueError(f"SDMF message waiting payload must be 3 x 0x42 or 3 x 0x6F, got {payload.hex(' ')}")
    return (CallerIdParameter(0x0B, "visual_indicator", payload, _SDMF_INDICATOR[payload[0]]),)


def _tlv_parameters(payload: bytes) -> tuple[CallerIdParameter, ...]:
    out, i = [], 0
    while i < len(payload):
        if i + 2 > len(payload):
            raise ValueError(f"parameter at payload offset {i} has no length byte")
        code, length = payload[i], payload[i + 1]
        if i + 2 + length > len(payload):
            raise ValueError(f"parameter 0x{code:02X} at payload offset {i} claims {length} bytes, "
                             f"{len(payload) - i - 2} left")
        out.append(_parameter(code, payload[i + 2:i + 2 + length]))
        i += 2 + length
    return tuple(out)


def _parameter(code: int, data: bytes) -> CallerIdParameter:
    name = PARAMETER_NAMES.get(code, f"0x{code:02X}")
    value: object = data
    text = data.decode("latin-1")
    if name == "date_time":
        if len(data) != 8 or not text.isdigit():
            raise ValueError(f"date/time parameter must be 8 digits MMDDhhmm, got {data!r}")
        value = CallTime(int(text[0:2]), int(text[2:4]), int(text[4:6]), int(text[6:8]))
    elif name in ("number_absent", "name_absent"):
        value = ABSENCE_REASONS.get(text, text)
    elif name == "long_distance":
        value = text == "L"
    elif name == "visual_indicator" and len(data) == 1 and data[0] in _INDICATOR:
        value = _INDICATOR[data[0]]
    elif name in _BYTE_PARAMETERS and len(data) == 1:
        value = data[0]
    elif name in _TEXT_PARAMETERS:
        value = text
    return CallerIdParameter(code, name, data, value)


# ---------------------------------------------------------------------------------------------
# Message builders


def message_bytes(message_type: int, payload: bytes, corrupt_checksum: bool = False) -> bytes:
    """[type][length][payload][checksum]; corrupt_checksum sends the checksum plus one (a bad message)."""
    if not (isinstance(message_type, int) and 0 <= message_type <= 255):
        raise ValueError(f"message_type must be a byte 0..255, got {message_type!r}")
    payload = _checked_bytes(payload, "message_bytes")
    if len(payload) > 255:
        raise ValueError(f"message_bytes: payload of {len(payload)} bytes, at most 255 fit the length byte")
    head = bytes([message_type, len(payload)]) + payload
    return head + bytes([(checksum(head) + int(bool(corrupt_checksum))) & 0xFF])


def parameter_bytes(code: int | str, value: bytes | str) -> bytes:
    """One type-length-value parameter; code as a byte or a PARAMETER_NAMES name, value as bytes or ASCII text."""
    if isinstance(code, str):
        if code not in _PARAMETER_CODES:
            raise ValueError(f"unknown parameter name {code!r}; known: {', '.join(_PARAMETER_CODES)}")
        code = _PARAMETER_CODES[code]
    if not (isinstance(code, int) and 0 <= code <= 255):
        raise ValueError(f"parameter code must be a byte 0..255, got {code!r}")
    data = _ascii(value, f"parameter 0x{code:02X}") if isinstance(value, str) else _checked_bytes(value, "parameter")
    if len(data) > 255:
        raise ValueError(f"parameter 0x{code:02X}: {len(data)} bytes, at most 255")
    return bytes([code, len(data)]) + data


def sdmf(number: str, when: CallTime | _dt.datetime, corrupt_checksum: bool = False) -> bytes:
    """Bellcore SDMF call message 0x04: MMDDhhmm and the number, or "P" (private) / "O" (unavailable)."""
    return message_bytes(0x04, _ascii(CallTime.of(when).text + _text(number, "number"), "SDMF"), corrupt_checksum)


def sdmf_message_waiting(active: bool, corrupt_checksum: bool = False) -> bytes:
    """Bellcore SDMF message waiting 0x06: three bytes 0x42 (on) or 0x6F (off)."""
    return message_bytes(0x06, bytes([0x42 if active else 0x6F] * 3), corrupt_checksum)


def mdmf(number: str | None = None, name: str | None = None, when: CallTime | _dt.datetime | None = None, *,
         long_distance: bool = False, corrupt_checksum: bool = False) -> bytes:
    """Bellcore MDMF call message 0x80: date/time, number, name as given.

    number or name "P" / "O" send the reason-for-absence parameter (04 / 08: private / unavailable)
    instead. Conventional lengths: number up to 20 digits, name up to 15 characters.
    """
    params = _call_parameters(number, name, when)
    if long_distance:
        params += parameter_bytes(0x06, "L")
    return message_bytes(0x80, params, corrupt_checksum)


def mdmf_message_waiting(active: bool, corrupt_checksum: bool = False) -> bytes:
    """Bellcore MDMF message waiting 0x82 with the visual indicator 0x0B (0xFF on, 0x00 off)."""
    return message_bytes(0x82, parameter_bytes(0x0B, bytes([0xFF if active else 0x00])), corrupt_checksum)


def etsi_call_setup(number: str | None = None, name: str | None = None,
                    when: CallTime | _dt.datetime | None = None, *, called_number: str | None = None,
                    redirecting_number: str | None = None, call_type: int | None = None,
                    corrupt_checksum: bool = False) -> bytes:
    """ETSI EN 300 659-3 call set-up message 0x80: date/time, calling line identity (or "P"/"O"),
    calling party name (or "P"/"O"), and optionally called number, redirecting number and call
    type (1 voice, 2 ring-back-when-free, 3 calling name delivery, 0x81 message waiting)."""
    params = _call_parameters(number, name, when)
    if called_number is not None:
        params += parameter_bytes(0x03, _text(called_number, "called_number"))
    if redirecting_number is not None:
        params += parameter_bytes(0x1A, _text(redirecting_number, "redirecting_number"))
    if call_type is not None:
        params += parameter_bytes(0x11, bytes([_byte(call_type, "call_type")]))
    return message_bytes(0x80, params, corrupt_checksum)


def etsi_message_waiting(active: bool, message_count: int | None = None,
                         when: CallTime | _dt.datetime | None = None, corrupt_checksum: bool = False) -> bytes:
    """ETSI message waiting 0x82: visual indicator (0xFF on, 0x00 off), number of messages, date/time."""
    params = b""
    if when is not None:
        params += parameter_bytes(0x01, CallTime.of(when).text)
    params += parameter_bytes(0x0B, bytes([0xFF if active else 0x00]))
    if message_count is not None:
        params += parameter_bytes(0x13, bytes([_byte(message_count, "message_count")]))
    return message_bytes(0x82, params, corrupt_checksum)


def _call_parameters(number: str | None, name: str | None, when: CallTime | _dt.datetime | None) -> bytes:
    params = b""
    if when is not None:
        params += parameter_bytes(0x01, CallTime.of(when).text)
    if number is not None:
        number = _text(number, "number")
        params += parameter_bytes(0x04 if number in _ABSENCE_LETTERS.values() else 0x02, number)
    if name is not None:
        name = _text(name, "name")
        params += parameter_bytes(0x08 if name in _ABSENCE_LETTERS.values() else 0x07, name)
    return params


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _ascii(text: str, what: str) -> bytes:
    if not all(" " <= c <= "~" for c in text):
        raise ValueError(f"{what}: {text!r} has characters outside printable ASCII")
    return text.encode("ascii")


def _byte(value, what: str) -> int:
    if not (isinstance(value, int) and 0 <= value <= 255):
        raise ValueError(f"{what} must be an integer 0..255, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# FSK generator


def callerid_signal(message: bytes, standard: str = "bell202", sample_rate_hz: float = 8000.0,
                    level_dbm: float = -13.5, seizure_bits: int = 300, mark_bits: int = 180,
                    lead_ms: float = 100.0, trail_ms: float = 100.0, freq_offset_pct: float = 0.0,
                    bit_rate_offset_pct: float = 0.0, rng: np.random.Generator | None = None,
                    snr_db: float | None = None, impedance_ohm: float = 600.0, start_s: float = 0.0) -> Waveform:
    """A caller ID FSK burst as a capture in volts: lead_ms of silence, channel seizure
    (seizure_bits alternating bits, first a 0), mark signal (mark_bits 1s), the message bytes as
    asynchronous characters with two stop bits after the checksum, then trail_ms of silence.

    Defaults follow telephony-facts.md 4.2: -13.5 dBm, 300 seizure bits, 180 mark bits (on-hook;
    80 for off-hook CIDCW, 0 seizure bits for CIDCW and NTT). freq_offset_pct moves both tones,
    bit_rate_offset_pct the bit rate. With rng the carrier starts at a random phase; with snr_db
    (rng required) white noise over 0..fs/2 sits snr_db below the FSK power while on (the
    receivers' SNR definition at 8 kS/s). meta holds the truth: burst and data times, bits, message.
    """
    message = _checked_bytes(message, "callerid_signal")
    if not message:
        raise ValueError("callerid_signal: message is empty")
    if standard not in FSK_STANDARDS:
        raise ValueError(f"callerid_signal: standard must be one of {sorted(FSK_STANDARDS)}, got {standard!r}")
    for what, value in (("seizure_bits", seizure_bits), ("mark_bits", mark_bits)):
        if not (isinstance(value, int) and value >= 0):
            raise ValueError(f"callerid_signal: {what} must be an integer >= 0, got {value!r}")
    for what, value in (("lead_ms", lead_ms), ("trail_ms", trail_ms)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"callerid_signal: {what} must be >= 0, got {value}")
    if snr_db is not None and rng is None:
        raise ValueError("callerid_signal: snr_db needs an rng (seeded noise)")
    if sample_rate_hz < 8000.0:
        raise ValueError(f"callerid_signal: sample_rate_hz must be >= 8000, got {sample_rate_hz}")
    fsk = FSK_STANDARDS[standard]
    data_bits = async_frame(message)
    bits = np.concatenate([np.arange(seizure_bits) % 2, np.ones(mark_bits, np.uint8), data_bits,
                           np.ones(_STOP_BITS_AFTER_CHECKSUM - 1, np.uint8)]).astype(np.uint8)
    amplitude = math.sqrt(2) * dbm_to_vrms(level_dbm, impedance_ohm)
    phase = float(rng.uniform(0, 2 * np.pi)) if rng is not None else 0.0
    burst = fsk_modulate(bits, fsk, sample_rate_hz, amplitude, freq_offset_pct, bit_rate_offset_pct, phase)
    lead = int(round(lead_ms / 1000 * sample_rate_hz))
    x = np.concatenate([np.zeros(lead), burst, np.zeros(int(round(trail_ms / 1000 * sample_rate_hz)))])
    if snr_db is not None:
        x = add_white_noise(x, snr_db, rng, signal_power=amplitude**2 / 2)
    bit_s = 1.0 / (fsk.bit_rate_bps * (1 + bit_rate_offset_pct / 100))
    burst_start_s = start_s + lead / sample_rate_hz
    meta = {"standard": standard, "message": message, "bits": bits, "burst_start_s": burst_start_s,
            "burst_end_s": burst_start_s + bits.size * bit_s,
            "data_start_s": burst_start_s + (seizure_bits + mark_bits) * bit_s,
            "data_end_s": burst_start_s + (seizure_bits + mark_bits + data_bits.size) * bit_s,
            "seizure_bits": seizure_bits, "mark_bits": mark_bits, "level_dbm": level_dbm}
    return Waveform(x, sample_rate_hz, start_s, "V", f"callerid {standard}", meta=meta)


# ---------------------------------------------------------------------------------------------
# FSK receiver


@dataclass(frozen=True)
class CallerIdBurst:
    """One caller ID FSK burst in a capture.

    standard: "bell202" or "v23" (from the measured mark frequency).
    start_s, end_s: bench times the carrier turned on and off; duration_ms between them.
    level_dbm: FSK power while on (noise subtracted), dBm into the impedance.
    mark_freq_hz, space_freq_hz, bit_rate_bps: measured.
    phase_continuous: the transmitter keeps the phase across tone changes (continuous-phase FSK).
    seizure_bits / seizure_ms: channel seizure (alternating bits) before the mark signal, 0 if none.
    mark_bits / mark_ms: mark signal before the first start bit.
    data_start_s, data_end_s: first start bit to the end of the last character's stop bit (None without data).
    raw: the bytes framed (a whole message when status is "ok" or "bad checksum").
    message: the decoded message (checksum_ok tells whether it adds up), None when there is none.
    status: "ok"; "bad checksum"; "framing error" (a stop bit read 0: bit errors or a faulty
    transmitter; message None, raw kept); "bad format" (adds up but is not a message);
    "truncated" (the carrier stopped before the length byte's count of bytes); "no data" (no
    start bit after the mark signal).
    """

    standard: str
    start_s: float
    end_s: float
    level_dbm: float
    mark_freq_hz: float
    space_freq_hz: float
    bit_rate_bps: float
    phase_continuous: bool
    seizure_bits: int
    seizure_ms: float
    mark_bits: int
    mark_ms: float
    data_start_s: float | None
    data_end_s: float | None
    raw: bytes
    message: CallerIdMessage | None
    status: str

    @property
    def duration_ms(self) -> float:
        return (self.end_s - self.start_s) * 1000.0


def callerid_bursts(w: Waveform, impedance_ohm: float = 600.0, min_level_dbm: float = -48.0) -> list[CallerIdBurst]:
    """Every caller ID FSK burst in w (volts, any rate >= 8 kS/s), in time order.

    A burst counts when its FSK band holds at least min_level_dbm and it demodulates to Bell 202
    or V.23 with a mark signal of at least 10 bits; see the module docstring for the rest.
    """
    checked_samples(w, "callerid_bursts", min_samples=2)
    bursts = []
    for t0, t1 in fsk_spans_s(w, min_level_dbm, impedance_ohm):
        fsk = demodulate_fsk(w.slice_s(t0, t1), impedance_ohm)
        if fsk is not None:
            burst = _read_burst(fsk)
            if burst is not None:
                bursts.append(burst)
    return bursts


def callerid_messages(w: Waveform, impedance_ohm: float = 600.0, min_level_dbm: float = -48.0) -> list[CallerIdMessage]:
    """The messages of callerid_bursts(w), bad checksums included (each says checksum_ok)."""
    return [b.message for b in callerid_bursts(w, impedance_ohm, min_level_dbm) if b.message is not None]


@dataclass(frozen=True)
class _Framing:
    mark_start: int
    data_start: int | None
    data_end: int | None
    raw: bytes
    complete: bool
    stop_errors: int = 0


def _read_burst(fsk: FskBits) -> CallerIdBurst | None:
    """The caller ID reading of a demodulated burst; None when it has no mark signal (not caller ID)."""
    framing = _frame(fsk.bits)
    if framing is None:
        return None
    message, status = _decode(framing)
    seizure = _seizure_bits(fsk.bits, framing.mark_start)
    bit_ms = 1000.0 / fsk.bit_rate_bps
    mark = (framing.data_start if framing.data_start is not None else len(fsk.bits)) - framing.mark_start
    return CallerIdBurst(
        standard=fsk.standard, start_s=fsk.start_s, end_s=fsk.end_s, level_dbm=fsk.level_dbm,
        mark_freq_hz=fsk.mark_freq_hz, space_freq_hz=fsk.space_freq_hz, bit_rate_bps=fsk.bit_rate_bps,
        phase_continuous=fsk.phase_continuous, seizure_bits=seizure, seizure_ms=seizure * bit_ms,
        mark_bits=mark, mark_ms=mark * bit_ms,
        data_start_s=None if framing.data_start is None else fsk.bit_start_s(framing.data_start),
        data_end_s=None if framing.data_end is None else fsk.bit_start_s(framing.data_end),
        raw=framing.raw, message=message, status=status)


def _frame(bits: np.ndarray) -> _Framing | None:
    """Find the mark signal and read asynchronous characters after it until the message is complete.

    Data starts at the first 0 after at least 10 consecutive 1s, unless what follows that 0 reads
    0xFF with a stop bit: that is a lone bit error in the mark signal. Each character is a start bit,
    8 data bits LSB first and a stop bit; the next start bit is the first 0 after that stop bit
    (idle marks between characters are allowed). A stop bit read as 0 is not trusted as a start bit.
    """
    b = bits.tolist()
    n = len(b)
    run, start = 0, None
    for k, bit in enumerate(b):
        if bit:
            run += 1
        elif run >= _MIN_MARK_BITS and not _lone_error(b, k):
            start = k
            break
        elif run < _MIN_MARK_BITS:
            run = 0
    if start is None:
        if run < _MIN_MARK_BITS:
            return None
        return _Framing(n - run, None, None, b"", False)
    mark_start = _mark_start(b, start)
    raw = bytearray()
    stop_errors = 0
    pos = start
    while pos + 9 <= n:
        raw.append(sum(bit << i for i, bit in enumerate(b[pos + 1:pos + 9])))
        stop_errors += pos + 9 < n and b[pos + 9] == 0
        if len(raw) >= 2 and len(raw) == raw[1] + 3:
            return _Framing(mark_start, start, min(pos + 10, n), bytes(raw), True, stop_errors)
        nxt = next((k for k in range(pos + 10, min(n, pos + 10 + _MAX_IDLE_BITS)) if b[k] == 0), None)
        if nxt is None:
            break
        pos = nxt
    return _Framing(mark_start, start, pos + 10 if raw else None, bytes(raw), False, stop_errors)


def _lone_error(b: list[int], k: int) -> bool:
    """True when the 0 at k is followed by nine 1s (it would frame as 0xFF): noise in a mark run."""
    return k + 10 <= len(b) and all(b[k + 1:k + 10])


def _mark_start(b: list[int], data_start: int) -> int:
    """First bit of the mark signal ending at data_start: walk back over 1s and isolated 0s
    (noise) until the alternation of the seizure (0 between two 1s and then a 0) or two 0s in a row."""
    k = data_start - 1
    while k >= 0:
        if b[k] == 0 and (k < 2 or b[k - 1] == 0 or b[k - 2] == 0):
            return k + 1
        k -= 1
    return 0


def _seizure_bits(b: np.ndarray, mark_start: int) -> int:
    """Alternating bits just before the mark signal (0 when fewer than 8).

    Walking back from the mark signal, two equal neighbours are a break in the alternation; one
    break is taken as a bit error, a second within four bits as the start of the seizure. The
    seizure's last 1 reads as mark, so the count can be one short.
    """
    last_break = None
    k = mark_start - 1
    while k >= 1:
        if b[k] == b[k - 1]:
            if last_break is not None and last_break - k < 4:
                return _at_least_8(mark_start - last_break)
            last_break = k
        k -= 1
    return _at_least_8(mark_start)


def _at_least_8(count: int) -> int:
    return count if count >= 8 else 0


def _decode(framing: _Framing) -> tuple[CallerIdMessage | None, str]:
    if framing.data_start is None:
        return None, "no data"
    if not framing.complete:
        return None, "truncated"
    if framing.stop_errors:
        return None, "framing error"
    try:
        message = parse_callerid_message(framing.raw)
    except ValueError:
        return None, "bad checksum" if sum(framing.raw) & 0xFF else "bad format"
    return message, "ok" if message.checksum_ok else "bad checksum"


# ---------------------------------------------------------------------------------------------
# Alert signals (DT-AS / CAS)

ALERT_FREQS_HZ = (2130.0, 2750.0)
_ALERT_DEFAULTS = {"dt-as": (100.0, -16.0), "cas": (80.0, -16.0)}
_ALERT_WINDOW_S = 0.005          # envelope averaging: edges to a fraction of this
_ALERT_SEARCH_HZ = 60.0          # each tone looked for within this of nominal (about 2.5 %)
_ALERT_MIN_MS = 20.0
_ALERT_MIN_PURITY = 0.7          # the two tones' share of the power while on (speech, noise: less)


@dataclass(frozen=True)
class AlertSignal:
    """A 2130 + 2750 Hz dual-tone alert (DT-AS on-hook, CAS off-hook).

    start_s, end_s: bench times of its edges; duration_ms between them.
    low_freq_hz, high_freq_hz: measured frequencies; low_level_dbm, high_level_dbm: each tone's level.
    """

    start_s: float
    end_s: float
    duration_ms: float
    low_freq_hz: float
    high_freq_hz: float
    low_level_dbm: float
    high_level_dbm: float


def alert_signal(kind: str = "dt-as", sample_rate_hz: float = 8000.0, level_dbm: float | None = None,
                 duration_ms: float | None = None, lead_ms: float = 50.0, trail_ms: float = 50.0,
                 freq_offset_pct: float = 0.0, twist_db: float = 0.0, rng: np.random.Generator | None = None,
                 snr_db: float | None = None, impedance_ohm: float = 600.0, start_s: float = 0.0) -> Waveform:
    """A dual-tone alert signal 2130 + 2750 Hz as a capture in volts.

    kind "dt-as": 100 ms, "cas": 80 ms (telephony-facts.md 4.5, Broadcom profile), both -16 dBm
    per tone unless level_dbm / duration_ms say otherwise. twist_db: 2750 Hz tone minus 2130 Hz
    tone, dB. snr_db (rng required): white noise below the power of both tones together.
    """
    if kind not in _ALERT_DEFAULTS:
        raise ValueError(f"alert_signal: kind must be one of {sorted(_ALERT_DEFAULTS)}, got {kind!r}")
    if snr_db is not None and rng is None:
        raise ValueError("alert_signal: snr_db needs an rng (seeded noise)")
    if sample_rate_hz < 8000.0:
        raise ValueError(f"alert_signal: sample_rate_hz must be >= 8000, got {sample_rate_hz}")
    default_ms, default_dbm = _ALERT_DEFAULTS[kind]
    duration_ms = default_ms if duration_ms is None else duration_ms
    level_dbm = default_dbm if level_dbm is None else level_dbm
    for what, value in (("duration_ms", duration_ms), ("lead_ms", lead_ms), ("trail_ms", trail_ms)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"alert_signal: {what} must be >= 0, got {value}")
    lead = int(round(lead_ms / 1000 * sample_rate_hz))
    n_on = int(round(duration_ms / 1000 * sample_rate_hz))
    t = np.arange(n_on) / sample_rate_hz
    a_low = math.sqrt(2) * dbm_to_vrms(level_dbm, impedance_ohm)
    a_high = a_low * 10 ** (twist_db / 20)
    phases = rng.uniform(0, 2 * np.pi, 2) if rng is not None else (0.0, 0.0)
    scale = 1 + freq_offset_pct / 100
    tone = (a_low * np.sin(2 * np.pi * ALERT_FREQS_HZ[0] * scale * t + phases[0])
            + a_high * np.sin(2 * np.pi * ALERT_FREQS_HZ[1] * scale * t + phases[1]))
    x = np.concatenate([np.zeros(lead), tone, np.zeros(int(round(trail_ms / 1000 * sample_rate_hz)))])
    if snr_db is not None:
        x = add_white_noise(x, snr_db, rng, signal_power=(a_low**2 + a_high**2) / 2)
    t0 = start_s + lead / sample_rate_hz
    meta = {"kind": kind, "start_s": t0, "end_s": t0 + n_on / sample_rate_hz}
    return Waveform(x, sample_rate_hz, start_s, "V", f"alert {kind}", meta=meta)


def alert_signals(w: Waveform, impedance_ohm: float = 600.0, min_level_dbm: float = -40.0) -> list[AlertSignal]:
    """Every 2130 + 2750 Hz alert in w (volts, rate >= 8 kS/s), in time order.

    Screen: 10 ms blocks whose spectrum holds both tones (each within 100 Hz, each at least
    min_level_dbm) and little else. Then on each candidate: both frequencies from a zero-padded
    FFT peak within 60 Hz; first edges as the least-squares step of the summed tone amplitudes
    (5 ms averaging, centred, so a gated tone crosses half its amplitude at its edge); the levels from
    a least-squares fit of both tones over the steady part, and the edges once more as the two
    switch points that best explain the samples with those tones (to a sample). Kept when at
    least 20 ms long and the two tones hold at least 70 % of the power while on.
    """
    x = checked_samples(w, "alert_signals", min_samples=2)
    fs = float(w.sample_rate_hz)
    if fs < 8000.0:
        raise ValueError(f"alert_signals: sample_rate_hz must be >= 8000, got {fs:g}")
    block = int(round(0.010 * fs))
    n_blocks = len(x) // block
    if n_blocks < 2:
        return []
    window = np.hanning(block + 2)[1:-1]
    spectrum = np.fft.rfft(x[:n_blocks * block].reshape(n_blocks, block) * window, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    freqs = np.fft.rfftfreq(block, 1.0 / fs)
    to_ms = 2 / (block * float(np.sum(window**2)))
    bands = [power[:, np.abs(freqs - f) <= 100.0].sum(axis=1) * to_ms for f in ALERT_FREQS_HZ]
    voice = power[:, (freqs >= 300.0) & (freqs <= 3400.0)].sum(axis=1) * to_ms
    floor = dbm_to_vrms(min_level_dbm, impedance_ohm) ** 2 / 2
    both = (bands[0] >= floor) & (bands[1] >= floor) & (bands[0] + bands[1] >= 0.6 * voice)
    found = []
    idx = np.flatnonzero(both)
    if idx.size == 0:
        return []
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 2) + 1)
    for run in runs:
        i0 = max(0, (int(run[0]) - 3) * block)
        i1 = min(len(x), (int(run[-1]) + 4) * block)
        alert = _measure_alert(x[i0:i1], fs, w.start_s + i0 / fs, impedance_ohm, min_level_dbm)
        if alert is not None:
            found.append(alert)
    return found


def _measure_alert(x: np.ndarray, fs: float, t0: float, impedance_ohm: float,
                   min_level_dbm: float) -> AlertSignal | None:
    """Measure the alert in x (a candidate region with some silence around it), None if it is not one."""
    x = x - x.mean()
    n = len(x)
    tones = [_peak_frequency_hz(x, fs, f) for f in ALERT_FREQS_HZ]
    width = max(1, int(round(_ALERT_WINDOW_S * fs)))
    amplitude = sum(_moving_amplitude(x, fs, f, width) for f in tones)
    # On level: median over the samples above half the peak (the peak itself rides on ripple and noise).
    low = float(np.percentile(amplitude, 5))
    high = float(np.median(amplitude[amplitude > (low + float(np.max(amplitude))) / 2]))
    halfway = (low + high) / 2
    peak = int(np.argmax(amplitude))
    on = int(np.argmin(np.cumsum(amplitude[:peak + 1] - halfway))) + 1
    off = n - 1 - int(np.argmin(np.cumsum((amplitude[peak:] - halfway)[::-1])))
    if (off - on) / fs * 1000 < _ALERT_MIN_MS:
        return None
    steady = slice(on + width, off - width) if off - on > 4 * width else slice(on, off)
    basis = np.column_stack([g(2 * np.pi * f * np.arange(n) / fs) for f in tones for g in (np.cos, np.sin)])
    coef = np.linalg.lstsq(basis[steady], x[steady], rcond=None)[0]
    model = basis @ coef
    if float(np.mean(model[steady] ** 2)) < _ALERT_MIN_PURITY * float(np.mean(x[steady] ** 2)):
        return None
    levels = [vrms_to_dbm(float(np.hypot(*coef[2 * i:2 * i + 2])) / math.sqrt(2), impedance_ohm) for i in range(2)]
    if min(levels) < min_level_dbm:
        return None
    on, off = _switch_points(x, model, on, off, width)
    return AlertSignal(start_s=t0 + on / fs, end_s=t0 + off / fs, duration_ms=(off - on) / fs * 1000,
                       low_freq_hz=tones[0], high_freq_hz=tones[1], low_level_dbm=levels[0], high_level_dbm=levels[1])


def _peak_frequency_hz(x: np.ndarray, fs: float, nominal_hz: float) -> float:
    """Strongest frequency within 60 Hz of nominal_hz: zero-padded Hann FFT peak and a parabola through it."""
    n = len(x)
    pad = 1 << int(math.ceil(math.log2(16 * n)))
    spec = np.log(np.abs(np.fft.rfft(x * np.hanning(n), pad)) + 1e-300)
    sel = np.flatnonzero(np.abs(np.arange(spec.size) * fs / pad - nominal_hz) <= _ALERT_SEARCH_HZ)
    k = int(sel[np.argmax(spec[sel])])
    a, b, c = spec[k - 1:k + 2]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
    return float((k + shift) * fs / pad)


def _moving_amplitude(x: np.ndarray, fs: float, freq_hz: float, width: int) -> np.ndarray:
    """Peak amplitude of the freq_hz component over a centred window of width samples, at every sample."""
    n = len(x)
    c = np.concatenate([[0], np.cumsum(x * np.exp(-2j * np.pi * freq_hz * np.arange(n) / fs))])
    lo = np.clip(np.arange(n) - width // 2, 0, n)
    hi = np.clip(lo + width, 0, n)
    return 2 * np.abs(c[hi] - c[lo]) / width


def _switch_points(x: np.ndarray, model: np.ndarray, on: int, off: int, reach: int) -> tuple[int, int]:
    """The on and off samples (within reach of the first guesses) that best explain x as silence, then
    the fitted tones, then silence: least squares over the two switch points."""
    gain = (x - model) ** 2 - x**2      # what having the model on at a sample changes in the residual
    lo, hi = max(0, on - reach), min(len(x), on + reach)
    from_here = np.concatenate([np.cumsum(gain[lo:hi][::-1])[::-1], [0.0]])   # on from sample lo + i
    on = lo + int(np.argmin(from_here))
    lo, hi = max(0, off - reach), min(len(x), off + reach)
    until_here = np.concatenate([[0.0], np.cumsum(gain[lo:hi])])               # off at sample lo + i
    off = lo + int(np.argmin(until_here))
    return on, off


# ---------------------------------------------------------------------------------------------
# DTMF CLIP

DTMF_CLIP_FRAMINGS = ("A..C", "A..#", "B..C", "D..C", "D.#", "..#")
# B<code>C absence codes (Lantiq defaults; the private code varies: 10 or 01) and D<code># (spandsp).
_B_ABSENCE = {"00": "unavailable", "10": "private", "01": "private"}
_D_ABSENCE = {"1": "private", "2": "international", "3": "unavailable"}
_B_ABSENCE_SENT = {"unavailable": "00", "private": "10"}
_D_ABSENCE_SENT = {reason: code for code, reason in _D_ABSENCE.items()}
_DTMF_KEYS = set("0123456789*#ABCD")


@dataclass(frozen=True)
class DtmfClipMessage:
    """A caller ID sent as DTMF digits.

    digits: the whole string received. framing: one of DTMF_CLIP_FRAMINGS.
    number, redirecting_number: the digits sent (None when none).
    number_absent: "private", "unavailable" or "international" when a code says so.
    information: digits after B in A..B..C (None when none). complete: the end key (C or #) came.
    start_s, end_s: bench times of the first digit's start and the last digit's end (None from a bare string).
    """

    digits: str
    framing: str
    number: str | None
    redirecting_number: str | None
    number_absent: str | None
    information: str | None
    complete: bool
    start_s: float | None = None
    end_s: float | None = None


def dtmf_clip_digits(number: str | None = None, framing: str = "A..C", number_absent: str | None = None,
                     redirecting_number: str | None = None) -> str:
    """The DTMF string for a caller ID: framing one of DTMF_CLIP_FRAMINGS.

    number_absent ("private" / "unavailable" / "international") instead of a number sends the
    absence code: B00C / B10C in "B..C" framing, D1# / D3# / D2# in "D.#" framing.
    redirecting_number is sent as D<digits> inside "A..C".
    """
    if framing not in DTMF_CLIP_FRAMINGS:
        raise ValueError(f"dtmf_clip_digits: framing must be one of {DTMF_CLIP_FRAMINGS}, got {framing!r}")
    if (number is None) == (number_absent is None):
        raise ValueError("dtmf_clip_digits: give either number or number_absent")
    if number_absent is not None:
        codes = {"B..C": _B_ABSENCE_SENT, "D.#": _D_ABSENCE_SENT}.get(framing, {})
        if number_absent not in codes:
            raise ValueError(f"dtmf_clip_digits: {framing} framing cannot say {number_absent!r}")
        return {"B..C": "B{}C", "D.#": "D{}#"}[framing].format(codes[number_absent])
    if framing in ("B..C", "D.#"):
        raise ValueError(f"dtmf_clip_digits: {framing} framing carries absence codes, not a number")
    if not (isinstance(number, str) and number.isdigit()):
        raise ValueError(f"dtmf_clip_digits: number must be a non-empty string of digits, got {number!r}")
    if redirecting_number is not None:
        if framing != "A..C" or not (isinstance(redirecting_number, str) and redirecting_number.isdigit()):
            raise ValueError("dtmf_clip_digits: redirecting_number must be digits, in A..C framing")
        return f"A{number}D{redirecting_number}C"
    return {"A..C": "A{}C", "A..#": "A{}#", "D..C": "D{}C", "..#": "{}#"}[framing].format(number)


def parse_dtmf_clip(digits: str, times_s: Sequence[tuple[float, float]] | None = None) -> DtmfClipMessage:
    """Read a DTMF caller ID string (see DTMF_CLIP_FRAMINGS); times_s: (start_s, end_s) of each digit.

    Raises ValueError for keys that are not DTMF, a string that fits no framing, or times_s of
    another length.
    """
    if not isinstance(digits, str) or not digits or not set(digits) <= _DTMF_KEYS:
        raise ValueError(f"parse_dtmf_clip: digits must be a non-empty string of DTMF keys, got {digits!r}")
    span = (None, None)
    if times_s is not None:
        if len(times_s) != len(digits):
            raise ValueError(f"parse_dtmf_clip: {len(times_s)} times for {len(digits)} digits")
        span = (float(times_s[0][0]), float(times_s[-1][1]))
    complete = digits.endswith(("C", "#"))
    body = digits[:-1] if complete else digits
    first = body[:1]
    number = redirect = absent = info = None
    if digits[0] == "A":
        framing = "A..#" if digits.endswith("#") else "A..C"
        for key, value in re.findall(r"([A-D])([0-9*#]*)", body):
            if key == "A":
                number = value or None
            elif key == "D":
                redirect = value or None
            elif key == "B":
                info = value
                if number is None:
                    absent = _B_ABSENCE.get(value)
    elif first == "B":
        framing, info = "B..C", body[1:]
        absent = _B_ABSENCE.get(info)
    elif first == "D" and digits.endswith("#") and len(body) == 2 and body[1] in _D_ABSENCE:
        framing, absent = "D.#", _D_ABSENCE[body[1]]
    elif first == "D":
        framing, number = "D..C", body[1:] or None
    elif body.isdigit() and not digits.endswith("C"):
        framing, number = "..#", body
    else:
        raise ValueError(f"parse_dtmf_clip: {digits!r} fits no DTMF CLIP framing")
    if number is not None and not number.isdigit():
        raise ValueError(f"parse_dtmf_clip: number {number!r} in {digits!r} is not all digits")
    return DtmfClipMessage(digits, framing, number, redirect, absent, info, complete, *span)


def dtmf_clip_messages(w: Waveform, impedance_ohm: float = 600.0, max_gap_s: float = 0.3) -> list[DtmfClipMessage]:
    """DTMF caller IDs in w: its DTMF digits (harness.dsp.dtmf.detect_dtmf) split where the gap
    between digits exceeds max_gap_s; each group that fits a DTMF CLIP framing (starts with A, B
    or D, or ends with #) is read with parse_dtmf_clip."""
    digits = detect_dtmf(w, impedance_ohm)
    groups: list[list] = []
    for d in digits:
        if groups and d.start_s - groups[-1][-1].end_s <= max_gap_s:
            groups[-1].append(d)
        else:
            groups.append([d])
    out = []
    for g in groups:
        text = "".join(d.digit for d in g)
        if text[0] in "ABD" or text.endswith("#"):
            try:
                out.append(parse_dtmf_clip(text, [(d.start_s, d.end_s) for d in g]))
            except ValueError:
                continue
    return out
