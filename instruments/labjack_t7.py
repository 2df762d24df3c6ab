"""LabJack T7 over labjack-ljm: analog captures through the jig's dividers, the relay lines, the
DACs, and waveforms streamed out of a DAC while capturing.

`ljm` is the labjack.ljm module (get it with `load_ljm()`, which fails clearly when libLabJackM is
missing) or `instruments.sim.ljm.sim_ljm(...)`, which runs the same wrapper code against a
simulated T7. The driver cannot tell the two apart. Every LJM error becomes a BenchFault naming
the T7, its address and the call.

Streams follow LabJack's examples: the stream settings persist on the device, so every stream
writes all of them (trigger, clock source, resolution, settling, buffer size); a triggered stream
polls eStreamRead with LJM_STREAM_SCANS_RETURN_ALL_OR_NONE and puts LJM's settings back after.
A stream the T7 could not sustain (datasheet A-1 rates) is refused before it starts, and lost
scans or a backlog that would lose them end the stream with a BenchFault, never silently.
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

RANGES_V = (10.0, 1.0, 0.1, 0.01)  # AIN#_RANGE
GND_CHANNEL = 199  # AIN#_NEGATIVE_CH for a single-ended input (ljm.constants.GND)
MAX_RESOLUTION_INDEX = 8  # T7; 0 means 8 for command-response and 1 for streams
MAX_AIN_SETTLING_US = 50_000.0  # AIN#_SETTLING_US; 0 = automatic
MAX_STREAM_SETTLING_US = 4_400.0  # STREAM_SETTLING_US; 0 = automatic
STREAM_BUFFER_BYTES = 32_768  # the T7's largest stream buffer (2 bytes a sample): most room for a USB stall
SAMPLE_BYTES = 2
DAC_MAX_V = 5.0  # DAC0/DAC1 are 0-5 V, 12-bit
STREAM_OUT_MAX_VALUES = 8_192  # a 16384-byte STREAM_OUT#_BUFFER_SIZE, 2 bytes a value
BACKLOG_GROWTH_READS = 5  # a backlog of more than one read that grew on this many reads in a row: host too slow
READ_S = 0.5  # capture reads about this much per eStreamRead, like LabJack's examples
POLL_S = 0.01  # a polled (triggered) stream asks LJM for scans this often
STALL_S = 1.0  # a polled stream with no scans this long after they were due has stalled
LJM_INSTALLER = "https://labjack.com/support/software/installers/ljm"

# Digital lines: name -> (first DIO number, number of lines). FIO0-7 = DIO0-7, EIO0-7 = DIO8-15,
# CIO0-3 = DIO16-19, MIO0-2 = DIO20-22.
DIO_PORTS = {"FIO": (0, 8), "EIO": (8, 8), "CIO": (16, 4), "MIO": (20, 3), "DIO": (0, 23)}

# A stream trigger needs a DIO extended feature that sees edges: Frequency In (DIO#_EF_INDEX 3 on
# rising, 4 on falling edges), which the T7 has on DIO0 and DIO1 only. (From the T7's DIO-EF
# table as remembered, not re-read: check on hardware. LabJack's example triggers DIO0 with
# index 5, Pulse Width In, on either edge.)
TRIGGER_DIOS = (0, 1)
EF_INDEX_RISING, EF_INDEX_FALLING = 3, 4

# Aggregate stream rates (samples/s over all addresses of a scan) by STREAM_RESOLUTION_INDEX:
# LabJack T7 datasheet appendix A-1, as transcribed in labjack-controller's calculate_max_speed.
# One address reaches the single-address rate at any range. Several addresses need settling
# after every mux switch, so their rate depends on the narrowest range in the scan; the
# datasheet gives no multi-address rate for the missing entries.
SINGLE_ADDRESS_SAMPLES_PER_S = {1: 100_000, 2: 48_000, 3: 22_000, 4: 11_000,
                                5: 5_500, 6: 2_500, 7: 1_200, 8: 600}
MULTI_ADDRESS_SAMPLES_PER_S = {
    10.0: {1: 100_000, 2: 39_600, 3: 19_800, 4: 9_800, 5: 4_400, 6: 2_600, 7: 1_300, 8: 630},
    1.0: {1: 8_200, 2: 7_200, 3: 2_800, 4: 2_600, 5: 1_300, 6: 640, 7: 440, 8: 400},
    0.1: {1: 1_700, 2: 800},
    0.01: {},
}

# LJM's library settings a triggered stream changes, in the order they are put back (writing
# the timeout switches LJM to a manual timeout, so the mode goes last).
LJM_STREAM_SETTINGS = ("LJM_STREAM_SCANS_RETURN", "LJM_STREAM_RECEIVE_TIMEOUT_MS", "LJM_STREAM_RECEIVE_TIMEOUT_MODE")


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


def dio_number(line: str) -> int:
    """The DIO number of a digital line ("FIO3" -> 3, "EIO1" -> 9, "DIO22" -> 22)."""
    match = re.fullmatch(r"(FIO|EIO|CIO|MIO|DIO)(\d+)", line)
    if match and int(match[2]) < DIO_PORTS[match[1]][1]:
        return DIO_PORTS[match[1]][0] + int(match[2])
    raise ValueError(f"{line!r} is not a T7 digital line (FIO0-7, EIO0-7, CIO0-3, MIO0-2 or DIO0-22)")


def max_stream_samples_per_s(ranges_v: Sequence[float], resolution_index: int, addresses: int) -> float | None:
    """The most samples/s a T7 stream of `addresses` addresses can take (datasheet A-1), or None
    when the datasheet gives no rate. ranges_v: the ranges of the analog inputs in the scan;
    resolution_index: STREAM_RESOLUTION_INDEX (0 means 1)."""
    index = resolution_index or 1
    if addresses == 1:
        return SINGLE_ADDRESS_SAMPLES_PER_S[index]
    return MULTI_ADDRESS_SAMPLES_PER_S[min(ranges_v)].get(index)


def check_resolution(resolution_index: int, settling_us: float, max_settling_us: float) -> None:
    """One-line ValueError unless the resolution index and settling time are ones a T7 takes."""
    if resolution_index not in range(MAX_RESOLUTION_INDEX + 1):
        raise ValueError(f"resolution index {resolution_index!r} is not a T7 index (0-{MAX_RESOLUTION_INDEX})")
    if not 0 <= settling_us <= max_settling_us:
        raise ValueError(f"settling {settling_us!r} us is outside the T7's 0-{max_settling_us:g} us (0 = automatic)")


def check_range(inp: AnalogInput) -> None:
    if inp.range_v not in RANGES_V:
        raise ValueError(f"input {inp.name!r}: range_v {inp.range_v!r} is not a T7 range; use one of {list(RANGES_V)}")


def range_text(range_v: float) -> str:
    return f"+-{range_v:g} V"


@dataclass(frozen=True)
class DioEdge:
    """A stream trigger: the first rising (or falling) edge on digital input `line` ("FIO0")."""

    line: str
    rising: bool = True

    @property
    def edge(self) -> str:
        return "rising" if self.rising else "falling"


@dataclass(frozen=True)
class StreamOut:
    """A waveform DAC `dac` (0 or 1) plays during a stream: one of `volts` per scan, over and over."""

    dac: int
    volts: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "volts", tuple(float(v) for v in self.volts))
        if self.dac not in (0, 1):
            raise ValueError(f"stream-out: DAC{self.dac} is not a T7 DAC (DAC0 or DAC1)")
        if not 1 <= len(self.volts) <= STREAM_OUT_MAX_VALUES:
            raise ValueError(f"stream-out: {len(self.volts)} values; the T7 loops 1-{STREAM_OUT_MAX_VALUES}")
        if not all(0.0 <= v <= DAC_MAX_V for v in self.volts):
            raise ValueError(f"stream-out: DAC{self.dac} values must lie in 0-{DAC_MAX_V:g} V")

    @property
    def buffer_bytes(self) -> int:
        """STREAM_OUT#_BUFFER_SIZE: a power of two that holds the loop."""
        return 1 << math.ceil(math.log2(SAMPLE_BYTES * len(self.volts)))


@dataclass
class _StreamSession:
    """What one running stream needs to turn eStreamRead data into Waveforms."""

    inputs: list[AnalogInput]
    rate_hz: float  # actual scan rate = samples per second per input
    scans_per_read: int
    trigger: DioEdge | None
    timeout_s: float  # how long a triggered stream waits for its edge
    start_s: float | None = None  # bench time of the first scan, known from the first read
    scans_read: int = 0
    backlog_scans: int = 0
    backlog_growths: int = 0

    @property
    def device_buffer_scans(self) -> int:
        return STREAM_BUFFER_BYTES // SAMPLE_BYTES // len(self.inputs)

    @property
    def read_s(self) -> float:
        return self.scans_per_read / self.rate_hz


class LabJackT7:
    """A LabJack T7: a Digitizer (AIN captures and readings), a RelayBank (DIO lines) and two DACs.

    ljm: the labjack.ljm module or a stand-in with its functions; identifier / connection_type:
    as for ljm.openS ("ANY", a serial number, an IP address or a device name / "USB", "ETHERNET");
    name: what the bench calls it; clock: the bench clock, read when stream data arrives.
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

    def read_volts(self, inp: AnalogInput, resolution_index: int = 0, settling_us: float = 0.0) -> float:
        """One command-response reading of `inp`, in line units (volts x scale).

        resolution_index: AIN#_RESOLUTION_INDEX (0 = the T7's default, 8); settling_us:
        AIN#_SETTLING_US (0 = automatic). An input at or beyond its range returns +-inf (over
        range, like a DMM's overload), so no limit can pass it.
        """
        check_resolution(resolution_index, settling_us, MAX_AIN_SETTLING_US)
        check_range(inp)
        self._write([(f"{inp.ain}_RANGE", inp.range_v), (f"{inp.ain}_NEGATIVE_CH", negative_channel(inp)),
                     (f"{inp.ain}_RESOLUTION_INDEX", resolution_index), (f"{inp.ain}_SETTLING_US", settling_us)])
        raw_v = self._read([inp.ain])[0]
        if abs(raw_v) >= inp.range_v:
            return math.copysign(math.inf, raw_v * inp.scale)
        return raw_v * inp.scale

    def capture(self, inputs: Sequence[AnalogInput], duration_s: float, sample_rate_hz: float, *,
                resolution_index: int = 0, settling_us: float = 0.0, trigger: DioEdge | None = None,
                timeout_s: float = 10.0, stream_out: StreamOut | None = None) -> dict[str, Waveform]:
        """Stream all inputs together for duration_s at sample_rate_hz each; one Waveform per input.

        resolution_index / settling_us: STREAM_RESOLUTION_INDEX (0 = 1) and STREAM_SETTLING_US
        (0 = automatic) for all inputs; trigger: start at that edge, waiting up to timeout_s bench
        seconds for it; stream_out: a waveform a DAC plays meanwhile.
        """
        total_scans = round(duration_s * sample_rate_hz)
        if total_scans < 1:
            raise ValueError(f"{self.name}: a capture of {duration_s} s at {sample_rate_hz} Hz has no samples")
        reads = math.ceil(total_scans / max(1, round(sample_rate_hz * READ_S)))
        scans_per_read = math.ceil(total_scans / reads)
        with self._streaming(inputs, sample_rate_hz, scans_per_read, resolution_index, settling_us,
                             trigger, timeout_s, stream_out) as session:
            blocks = [self._read_stream(session) for _ in range(reads)]
        return self._waveforms(session, 0, np.concatenate(blocks)[:total_scans])

    def stream(self, inputs: Sequence[AnalogInput], sample_rate_hz: float, chunk_s: float, *,
               resolution_index: int = 0, settling_us: float = 0.0,
               stream_out: StreamOut | None = None) -> Iterator[dict[str, Waveform]]:
        """Stream continuously, yielding chunk_s of every input at a time, until the generator is closed.
        The keywords are as for capture()."""
        scans_per_chunk = round(chunk_s * sample_rate_hz)
        if scans_per_chunk < 1:
            raise ValueError(f"{self.name}: a chunk of {chunk_s} s at {sample_rate_hz} Hz has no samples")
        with self._streaming(inputs, sample_rate_hz, scans_per_chunk, resolution_index, settling_us,
                             None, 0.0, stream_out) as session:
            while True:
                first_scan = session.scans_read
                block = self._read_stream(session)
                yield self._waveforms(session, first_scan, block)

    # -- RelayBank -----------------------------------------------------------------------------

    def set_relay(self, line: str, closed: bool) -> None:
        """Drive digital line `line` high (relay closed) or low; writing makes it an output."""
        dio_number(line)  # a one-line error for a name that is not a digital line
        with self._ljm_call(f"eWriteName({line!r}, {int(closed)})"):
            self._ljm.eWriteName(self._handle, line, 1 if closed else 0)

    def relay_closed(self, line: str) -> bool:
        """Whether `line` is an output driven high, read through the DIO_STATE and DIO_DIRECTION
        bitmasks: reading the line's own register would turn it into an input."""
        bit = dio_number(line)
        state, direction = self._read(["DIO_STATE", "DIO_DIRECTION"])
        return bool(int(state) >> bit & 1 and int(direction) >> bit & 1)

    # -- DACs ----------------------------------------------------------------------------------

    def set_dac(self, dac: int, volts: float) -> None:
        """Set DAC0 or DAC1 to `volts` (0-5 V, 12-bit steps of ~1.2 mV)."""
        name = self._dac_name(dac)
        if not 0.0 <= volts <= DAC_MAX_V:
            raise ValueError(f"{self.name}: {name} cannot output {volts} V (0-{DAC_MAX_V:g} V)")
        with self._ljm_call(f"eWriteName({name!r}, {volts})"):
            self._ljm.eWriteName(self._handle, name, volts)

    def dac_volts(self, dac: int) -> float:
        """What DAC0 or DAC1 reports it outputs, volts."""
        return self._read([self._dac_name(dac)])[0]

    # -- internals -----------------------------------------------------------------------------

    def _dac_name(self, dac: int) -> str:
        if dac not in (0, 1):
            raise ValueError(f"{self.name}: DAC{dac} is not a T7 DAC (0 or 1)")
        return f"DAC{dac}"

    def _fault(self, command: str, reason: str) -> BenchFault:
        return BenchFault(f"LabJack T7 {self.name!r}", self.address, command, reason)

    @contextlib.contextmanager
    def _ljm_call(self, command: str):
        """Turn an LJMError from `command` into a BenchFault naming this T7 and the call."""
        try:
            yield
        except self._ljm.LJMError as err:
            raise self._fault(command, str(err).strip() or "LJM error") from err

    def _read(self, names: list[str]) -> list[float]:
        with self._ljm_call(f"eReadNames({names})"):
            return self._ljm.eReadNames(self._handle, len(names), names)

    def _write(self, settings: list[tuple[str, float]]) -> None:
        """Write registers in this order in one call (a name may come twice)."""
        names, values = [n for n, _ in settings], [v for _, v in settings]
        with self._ljm_call(f"eWriteNames({names}, {values})"):
            self._ljm.eWriteNames(self._handle, len(names), names, values)

    def _check_stream(self, inputs: list[AnalogInput], sample_rate_hz: float, resolution_index: int,
                      settling_us: float, stream_out: StreamOut | None) -> None:
        """Refuse, in one line, a stream the T7 could not take or sustain."""
        names = [inp.name for inp in inputs]
        if not inputs or len(set(names)) != len(names):
            raise ValueError(f"{self.name}: stream inputs must be at least one, with distinct names; got {names}")
        check_resolution(resolution_index, settling_us, MAX_STREAM_SETTLING_US)
        for inp in inputs:
            check_range(inp)
        addresses = len(inputs) + (stream_out is not None)
        samples_per_s = sample_rate_hz * addresses
        ranges_v = [inp.range_v for inp in inputs]
        limit = max_stream_samples_per_s(ranges_v, resolution_index, addresses)
        command = f"eStreamStart({[inp.ain for inp in inputs]}, {sample_rate_hz:g} Hz)"
        where = (f"for a {addresses}-address stream with a {range_text(min(ranges_v))} input at resolution "
                 f"index {resolution_index or 1} (datasheet A-1)")
        if limit is None:
            raise self._fault(command, f"the T7 gives no stream rate {where}")
        if samples_per_s > limit:
            raise self._fault(command, f"{samples_per_s:.0f} samples/s ({addresses} addresses at "
                                       f"{sample_rate_hz:g} Hz) exceeds the T7's {limit} samples/s {where}")

    @contextlib.contextmanager
    def _streaming(self, inputs: Sequence[AnalogInput], sample_rate_hz: float, scans_per_read: int,
                   resolution_index: int, settling_us: float, trigger: DioEdge | None, timeout_s: float,
                   stream_out: StreamOut | None):
        """Configure and start a stream of `inputs`; stop it and undo its settings however it ends."""
        inputs = list(inputs)
        self._check_stream(inputs, sample_rate_hz, resolution_index, settling_us, stream_out)
        trigger_address, trigger_settings, undo = 0, [], []
        if trigger:
            dio = self._trigger_dio(trigger)
            trigger_address = self._address(f"DIO{dio}")
            ef = f"DIO{dio}_EF"
            edge_index = EF_INDEX_RISING if trigger.rising else EF_INDEX_FALLING
            trigger_settings = [(f"{ef}_ENABLE", 0), (f"{ef}_INDEX", edge_index), (f"{ef}_ENABLE", 1)]
            undo += [(f"{ef}_ENABLE", 0), ("STREAM_TRIGGER_INDEX", 0)]
        settings: list[tuple[str, float]] = []
        for inp in inputs:
            settings += [(f"{inp.ain}_RANGE", inp.range_v), (f"{inp.ain}_NEGATIVE_CH", negative_channel(inp))]
        # The stream settings persist on the device: write every one of them every time.
        settings += [("STREAM_SETTLING_US", settling_us), ("STREAM_RESOLUTION_INDEX", resolution_index),
                     ("STREAM_BUFFER_SIZE_BYTES", STREAM_BUFFER_BYTES), ("STREAM_CLOCK_SOURCE", 0),
                     ("STREAM_TRIGGER_INDEX", trigger_address), *trigger_settings]
        if stream_out:
            undo += [("STREAM_OUT0_ENABLE", 0)]
        scan_names = [inp.ain for inp in inputs] + (["STREAM_OUT0"] if stream_out else [])
        with contextlib.ExitStack() as cleanup:
            if undo:
                cleanup.callback(self._undo, undo)
            self._write(settings)
            if stream_out:
                self._load_stream_out(stream_out)
            addresses = self._addresses(scan_names)
            if trigger:
                self._set_polled_reads(cleanup)
            command = f"eStreamStart({scan_names}, {sample_rate_hz:g} Hz)"
            with self._ljm_call(command):
                rate_hz = self._ljm.eStreamStart(self._handle, scans_per_read, len(addresses), addresses,
                                                 sample_rate_hz)
            cleanup.callback(self._stop_stream)
            yield _StreamSession(inputs, rate_hz, scans_per_read, trigger, timeout_s)

    def _trigger_dio(self, trigger: DioEdge) -> int:
        """The DIO number of the trigger's line, if that line can trigger a stream."""
        dio = dio_number(trigger.line)
        if dio not in TRIGGER_DIOS:
            raise ValueError(f"{self.name}: {trigger.line} cannot trigger a T7 stream; only DIO0/DIO1 (FIO0/FIO1) "
                             "have the Frequency In feature that detects an edge")
        return dio

    def _address(self, name: str) -> int:
        with self._ljm_call(f"nameToAddress({name!r})"):
            return self._ljm.nameToAddress(name)[0]

    def _addresses(self, names: list[str]) -> list[int]:
        with self._ljm_call(f"namesToAddresses({names})"):
            addresses = self._ljm.namesToAddresses(len(names), names)[0]
        unknown = [n for n, a in zip(names, addresses) if a == self._ljm.constants.INVALID_NAME_ADDRESS]
        if unknown:
            raise self._fault(f"namesToAddresses({names})", f"unknown register name(s) {unknown}")
        return addresses

    def _load_stream_out(self, out: StreamOut) -> None:
        """Give STREAM_OUT0 its target DAC and its loop of values (LabJack's stream-out sequence)."""
        self._write([("STREAM_OUT0_ENABLE", 0), ("STREAM_OUT0_TARGET", self._address(f"DAC{out.dac}")),
                     ("STREAM_OUT0_BUFFER_SIZE", out.buffer_bytes), ("STREAM_OUT0_ENABLE", 1),
                     ("STREAM_OUT0_LOOP_SIZE", len(out.volts))])
        with self._ljm_call(f"eWriteNameArray('STREAM_OUT0_BUFFER_F32', {len(out.volts)}, ...)"):
            self._ljm.eWriteNameArray(self._handle, "STREAM_OUT0_BUFFER_F32", len(out.volts), list(out.volts))
        with self._ljm_call("eWriteName('STREAM_OUT0_SET_LOOP', 1)"):
            self._ljm.eWriteName(self._handle, "STREAM_OUT0_SET_LOOP", 1)

    def _set_polled_reads(self, cleanup: contextlib.ExitStack) -> None:
        """Make eStreamRead answer at once (NO_SCANS_RETURNED until a read's worth is there), so a
        stream waiting for its trigger can be given up; LJM's settings are put back afterwards."""
        c = self._ljm.constants
        saved = []
        for setting in LJM_STREAM_SETTINGS:
            with self._ljm_call(f"readLibraryConfigS({setting!r})"):
                saved.append((setting, self._ljm.readLibraryConfigS(setting)))
        cleanup.callback(self._set_library, saved)
        self._set_library([(c.STREAM_SCANS_RETURN, c.STREAM_SCANS_RETURN_ALL_OR_NONE),
                           (c.STREAM_RECEIVE_TIMEOUT_MS, 0)])

    def _set_library(self, settings: list[tuple[str, float]]) -> None:
        for setting, value in settings:
            with self._ljm_call(f"writeLibraryConfigS({setting!r}, {value:g})"):
                self._ljm.writeLibraryConfigS(setting, value)

    def _stop_stream(self) -> None:
        if self._handle is not None:  # close() ends the stream with the connection
            with self._ljm_call("eStreamStop"):
                self._ljm.eStreamStop(self._handle)

    def _undo(self, settings: list[tuple[str, float]]) -> None:
        if self._handle is not None:
            self._write(settings)

    def _next_read(self, session: _StreamSession):
        """eStreamRead's (data, deviceScanBacklog, ljmScanBacklog). A triggered (polled) stream asks
        every POLL_S until a read's worth of scans is there, giving up after its timeout."""
        if session.trigger is None:
            with self._ljm_call("eStreamRead"):
                return self._ljm.eStreamRead(self._handle)
        waiting = session.start_s is None
        wait_s = session.read_s + (session.timeout_s if waiting else STALL_S)
        for _ in range(max(1, round(wait_s / POLL_S))):
            try:
                return self._ljm.eStreamRead(self._handle)
            except self._ljm.LJMError as err:
                if err.errorCode != self._ljm.errorcodes.NO_SCANS_RETURNED:
                    raise self._fault("eStreamRead", str(err).strip()) from err
            self._clock.sleep(POLL_S)
        t = session.trigger
        raise self._fault("eStreamRead", f"no {t.edge} edge on {t.line} within {session.timeout_s:g} s" if waiting
                          else f"no scans for {STALL_S:g} s after they were due: the stream stalled")

    def _read_stream(self, session: _StreamSession) -> np.ndarray:
        """The next read as an array (scans x inputs). Lost scans, or a backlog that would lose
        some, are faults."""
        data, device_backlog, ljm_backlog = self._next_read(session)
        n = len(session.inputs)
        # LJM's list holds scans x all addresses, but only the inputs' samples come first and are valid.
        block = np.asarray(data[:session.scans_per_read * n], dtype=float).reshape(-1, n)
        dummy = self._ljm.constants.DUMMY_VALUE
        lost = int(np.count_nonzero(np.all(block == dummy, axis=1)))
        if lost:
            raise self._fault("eStreamRead", f"{lost} scans are {dummy} dummies: the T7's stream buffer "
                                             "overflowed and scans were lost")
        if device_backlog > session.device_buffer_scans // 2:
            raise self._fault("eStreamRead", f"deviceScanBacklog {device_backlog} scans: the T7's stream buffer "
                                             f"({session.device_buffer_scans} scans) is over half full and would "
                                             "overflow; LJM is not keeping up")
        backlog = device_backlog + ljm_backlog
        grew = backlog > session.backlog_scans and backlog > session.scans_per_read
        session.backlog_growths = session.backlog_growths + 1 if grew else 0
        session.backlog_scans = backlog
        if session.backlog_growths >= BACKLOG_GROWTH_READS:
            raise self._fault("eStreamRead", f"stream backlog grew on {BACKLOG_GROWTH_READS} reads in a row to "
                                             f"{backlog} scans: the host is not keeping up and the buffer "
                                             "will overflow")
        if session.start_s is None:  # the newest scan is now, less what is still buffered
            session.start_s = self._clock.now() - (len(block) + backlog) / session.rate_hz
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
