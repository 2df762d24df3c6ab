"""LabJack T7 over labjack-ljm: analog captures through the jig's dividers, and the relay lines.

`ljm` is the labjack.ljm module (get it with `load_ljm()`, which fails clearly when libLabJackM is
missing) or `instruments.sim.ljm.sim_ljm(...)`, which runs the same wrapper code against a
simulated T7. The driver cannot tell the two apart.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import math
import re
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from harness.dsp.waveform import Waveform
from instruments.clock import Clock, MonotonicClock
from instruments.errors import BenchFault, LjmUnavailable
from instruments.protocols import AnalogInput, InstrumentIdentity

MAX_STREAM_SAMPLES_PER_S = 100_000.0  # T7 aggregate over all stream channels (datasheet 3.2)
GND_CHANNEL = 199  # AIN#_NEGATIVE_CH for a single-ended input (ljm.constants.GND)
BACKLOG_GROWTH_READS = 5  # a backlog that grows on this many stream reads in a row: host too slow
READ_S = 0.5  # capture reads about this much per eStreamRead, like LabJack's examples
LJM_INSTALLER = "https://labjack.com/support/software/installers/ljm"

# Digital ports: name -> (first DIO number, number of lines), for the *_STATE bitmask registers.
DIO_PORTS = {"FIO": (0, 8), "EIO": (8, 8), "CIO": (16, 4), "MIO": (20, 3)}


def load_ljm():
    """The labjack.ljm module, once its native library libLabJackM is known to be there.

    labjack-ljm imports without libLabJackM: it prints the load error to stdout and the first call
    then fails with an AttributeError. This keeps stdout clean and raises one LjmUnavailable line.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            ljm = importlib.import_module("labjack.ljm")
            wrapper = importlib.import_module("labjack.ljm.ljm")
        except ImportError as err:
            raise LjmUnavailable("LabJack T7", "labjack-ljm", "import labjack.ljm",
                                 f"labjack-ljm is not installed ({err}); pip install labjack-ljm") from None
    if wrapper._staticLib is None:
        raise LjmUnavailable("LabJack T7", "libLabJackM", "import labjack.ljm",
                             f"libLabJackM is not installed; get it from LabJack's LJM installer ({LJM_INSTALLER})")
    return ljm


def negative_channel(inp: AnalogInput) -> int:
    """AIN#_NEGATIVE_CH for an input: 199 (GND) single-ended, else the odd partner of an even AIN."""
    if inp.negative is None:
        return GND_CHANNEL
    positive, negative = re.fullmatch(r"AIN(\d+)", inp.ain), re.fullmatch(r"AIN(\d+)", inp.negative)
    if not (positive and negative and int(positive[1]) % 2 == 0 and int(negative[1]) == int(positive[1]) + 1):
        raise ValueError(f"input {inp.name!r}: {inp.ain}-{inp.negative} is not a T7 differential pair "
                         "(an even AIN with the next odd one, e.g. AIN0-AIN1)")
    return int(negative[1])


def port_bit(line: str) -> tuple[str, int]:
    """The port ("FIO") and bit of a digital line ("FIO3" -> ("FIO", 3), "DIO9" -> ("EIO", 1))."""
    match = re.fullmatch(r"(FIO|EIO|CIO|MIO|DIO)(\d+)", line)
    if match and match[1] != "DIO" and int(match[2]) < DIO_PORTS[match[1]][1]:
        return match[1], int(match[2])
    if match and match[1] == "DIO":
        for port, (first, count) in DIO_PORTS.items():
            if first <= int(match[2]) < first + count:
                return port, int(match[2]) - first
    raise ValueError(f"{line!r} is not a T7 digital line (FIO0-7, EIO0-7, CIO0-3, MIO0-2 or DIO0-22)")


@dataclass
class _StreamSession:
    """What one running stream needs to turn eStreamRead data into Waveforms."""

    inputs: list[AnalogInput]
    rate_hz: float  # actual scan rate = samples per second per input
    start_s: float  # bench time of the first scan
    scans_read: int = 0
    backlog_scans: int = 0
    backlog_growths: int = 0


class LabJackT7:
    """A LabJack T7: a Digitizer (AIN captures and readings) and a RelayBank (DIO lines).

    ljm: the labjack.ljm module or a stand-in with its functions; identifier / connection_type:
    as for ljm.openS ("ANY", a serial number, an IP address or a device name / "USB", "ETHERNET");
    name: what the bench calls it; clock: the bench clock, read when a stream starts.
    """

    def __init__(self, ljm, identifier: str = "ANY", connection_type: str = "ANY", name: str = "daq",
                 clock: Clock | None = None):
        self._ljm = ljm
        self.name = name
        self.address = f"{connection_type}:{identifier}"
        self._clock = clock or MonotonicClock()
        self._handle = None
        with self._ljm_call(f"openS('T7', {connection_type!r}, {identifier!r})"):
            self._handle = ljm.openS("T7", connection_type, identifier)
        try:
            with self._ljm_call("getHandleInfo"):
                serial = ljm.getHandleInfo(self._handle)[2]
            firmware = self._read(["FIRMWARE_VERSION"])[0]
        except BenchFault:
            self.close()
            raise
        self.identity = InstrumentIdentity("LabJack", "T7", str(serial), f"{firmware:.4f}")

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with self._ljm_call("close"):
                self._ljm.close(handle)

    # -- Digitizer -----------------------------------------------------------------------------

    def read_volts(self, inp: AnalogInput) -> float:
        """One command-response reading of `inp`, in line units (volts x scale).

        An input at or beyond its range returns +-inf (over range, like a DMM's overload), so no
        limit can pass it.
        """
        self._configure([inp])
        raw_v = self._read([inp.ain])[0]
        if abs(raw_v) >= inp.range_v:
            return math.copysign(math.inf, raw_v * inp.scale)
        return raw_v * inp.scale

    def capture(self, inputs: Sequence[AnalogInput], duration_s: float,
                sample_rate_hz: float) -> dict[str, Waveform]:
        """Stream all inputs together for duration_s at sample_rate_hz each; one Waveform per input."""
        total_scans = round(duration_s * sample_rate_hz)
        if total_scans < 1:
            raise ValueError(f"{self.name}: a capture of {duration_s} s at {sample_rate_hz} Hz has no samples")
        reads = math.ceil(total_scans / max(1, round(sample_rate_hz * READ_S)))
        scans_per_read = math.ceil(total_scans / reads)
        with self._streaming(inputs, sample_rate_hz, scans_per_read) as session:
            blocks = [self._read_stream(session) for _ in range(reads)]
        return self._waveforms(session, 0, np.concatenate(blocks)[:total_scans])

    def stream(self, inputs: Sequence[AnalogInput], sample_rate_hz: float,
               chunk_s: float) -> Iterator[dict[str, Waveform]]:
        """Stream continuously, yielding chunk_s of every input at a time, until the generator is closed."""
        scans_per_chunk = round(chunk_s * sample_rate_hz)
        if scans_per_chunk < 1:
            raise ValueError(f"{self.name}: a chunk of {chunk_s} s at {sample_rate_hz} Hz has no samples")
        with self._streaming(inputs, sample_rate_hz, scans_per_chunk) as session:
            while True:
                first_scan = session.scans_read
                yield self._waveforms(session, first_scan, self._read_stream(session))

    # -- RelayBank -----------------------------------------------------------------------------

    def set_relay(self, line: str, closed: bool) -> None:
        """Drive digital line `line` high (relay closed) or low; writing makes it an output."""
        with self._ljm_call(f"eWriteName({line!r}, {int(closed)})"):
            self._ljm.eWriteName(self._handle, line, 1 if closed else 0)

    def relay_closed(self, line: str) -> bool:
        """Whether `line` is an output driven high, read through the port's *_STATE and *_DIRECTION
        bitmasks: reading the line's own register would turn it into an input."""
        port, bit = port_bit(line)
        state, direction = self._read([f"{port}_STATE", f"{port}_DIRECTION"])
        return bool(int(state) >> bit & 1 and int(direction) >> bit & 1)

    # -- internals -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _ljm_call(self, command: str):
        """Turn an LJMError from `command` into a BenchFault naming this T7 and the call."""
        try:
            yield
        except self._ljm.LJMError as err:
            raise BenchFault(f"LabJack T7 {self.name!r}", self.address, command,
                             str(err).strip() or "LJM error") from err

    def _read(self, names: list[str]) -> list[float]:
        with self._ljm_call(f"eReadNames({names})"):
            return self._ljm.eReadNames(self._handle, len(names), names)

    def _write(self, settings: dict[str, float]) -> None:
        names, values = list(settings), list(settings.values())
        with self._ljm_call(f"eWriteNames({names}, {values})"):
            self._ljm.eWriteNames(self._handle, len(names), names, values)

    def _configure(self, inputs: Sequence[AnalogInput], stream_settings: dict[str, float] | None = None) -> None:
        """Write every input's range and negative channel (and the stream settings) in one call."""
        settings: dict[str, float] = {}
        for inp in inputs:
            settings[f"{inp.ain}_RANGE"] = inp.range_v
            settings[f"{inp.ain}_NEGATIVE_CH"] = negative_channel(inp)
        self._write(settings | (stream_settings or {}))

    @contextlib.contextmanager
    def _streaming(self, inputs: Sequence[AnalogInput], sample_rate_hz: float, scans_per_read: int):
        """Configure, start a stream of `inputs` and always stop it again."""
        inputs = list(inputs)
        names = [inp.name for inp in inputs]
        if not inputs or len(set(names)) != len(names):
            raise ValueError(f"{self.name}: stream inputs must be at least one, with distinct names; got {names}")
        samples_per_s = sample_rate_hz * len(inputs)
        command = f"eStreamStart({[inp.ain for inp in inputs]}, {sample_rate_hz} Hz)"
        if samples_per_s > MAX_STREAM_SAMPLES_PER_S:
            raise BenchFault(f"LabJack T7 {self.name!r}", self.address, command,
                             f"{samples_per_s:.0f} samples/s over {len(inputs)} inputs exceeds the T7's "
                             f"{MAX_STREAM_SAMPLES_PER_S:.0f} samples/s stream limit")
        # The stream settings persist on the device: reset trigger and clock source every time.
        self._configure(inputs, {"STREAM_RESOLUTION_INDEX": 0, "STREAM_SETTLING_US": 0,
                                 "STREAM_TRIGGER_INDEX": 0, "STREAM_CLOCK_SOURCE": 0})
        ains = [inp.ain for inp in inputs]
        with self._ljm_call(f"namesToAddresses({ains})"):
            addresses = self._ljm.namesToAddresses(len(ains), ains)[0]
        unknown = [ain for ain, address in zip(ains, addresses) if address == self._ljm.constants.INVALID_NAME_ADDRESS]
        if unknown:
            raise BenchFault(f"LabJack T7 {self.name!r}", self.address, f"namesToAddresses({ains})",
                             f"unknown register name(s) {unknown}")
        with self._ljm_call(command):
            rate_hz = self._ljm.eStreamStart(self._handle, scans_per_read, len(addresses), addresses, sample_rate_hz)
        session = _StreamSession(inputs, rate_hz, self._clock.now())
        try:
            yield session
        finally:
            if self._handle is not None:  # close() ends the stream with the connection
                with self._ljm_call("eStreamStop"):
                    self._ljm.eStreamStop(self._handle)

    def _read_stream(self, session: _StreamSession) -> np.ndarray:
        """The next eStreamRead as an array (scans x inputs); lost scans or a growing backlog are faults."""
        with self._ljm_call("eStreamRead"):
            data, device_backlog, ljm_backlog = self._ljm.eStreamRead(self._handle)
        block = np.asarray(data, dtype=float).reshape(-1, len(session.inputs))
        dummies = int(np.count_nonzero(block == self._ljm.constants.DUMMY_VALUE))
        if dummies:
            raise BenchFault(f"LabJack T7 {self.name!r}", self.address, "eStreamRead",
                             f"{dummies} samples are {self._ljm.constants.DUMMY_VALUE} dummies: the T7's "
                             "stream buffer overflowed and scans were lost")
        backlog = device_backlog + ljm_backlog
        session.backlog_growths = session.backlog_growths + 1 if backlog > session.backlog_scans else 0
        session.backlog_scans = backlog
        if session.backlog_growths >= BACKLOG_GROWTH_READS:
            raise BenchFault(f"LabJack T7 {self.name!r}", self.address, "eStreamRead",
                             f"stream backlog grew on {BACKLOG_GROWTH_READS} reads in a row to {backlog} "
                             "scans: the host is not keeping up and the buffer will overflow")
        session.scans_read += len(block)
        return block

    def _waveforms(self, session: _StreamSession, first_scan: int, block: np.ndarray) -> dict[str, Waveform]:
        """De-interleaved scans as one Waveform per input, scaled to the line."""
        start_s = session.start_s + first_scan / session.rate_hz
        waveforms = {}
        for j, inp in enumerate(session.inputs):
            raw_v = block[:, j]
            waveforms[inp.name] = Waveform(
                raw_v * inp.scale, session.rate_hz, start_s, inp.unit, inp.name,
                clipped=bool(np.any(np.abs(raw_v) >= inp.range_v)),
                meta={"instrument": self.name, "ain": inp.ain, "negative": inp.negative, "range_v": inp.range_v})
        return waveforms
