"""A simulated LabJack T7 behind the real labjack.ljm wrapper.

Three layers, like the real stack:

* `SimT7` is the device: its registers, its ADC (noise, 16-bit steps, clipping), its digital
  lines driving the jig's relay coils, and its stream engine, all on the bench's virtual clock.
* `SimLjmLibrary` stands in for libLabJackM: it has the C entry points that labjack/ljm/ljm.py
  calls on `_staticLib`, resolves register names like LJM's constants file does, and answers with
  real LJM error codes.
* `sim_ljm(devices)` loads a private copy of the installed labjack/ljm/ljm.py bound to that
  library, so the real wrapper code (marshalling, LJMError, return tuples) runs unchanged while the
  process-wide `labjack.ljm` stays untouched (a real T7 can be used alongside).

Modelled figures (chosen, documented here; the T7 datasheet is the source of the orders of size):

* Command-response: every LJM call that talks to the device costs COMMAND_S = 1 ms of bench time
  (datasheet A-1: 0.6 ms USB high-speed hub to 2.2 ms other USB). Inputs are sampled at the start
  of the call. Command-response readings use resolution index 8 (the T7's default for index 0).
* Noise at resolution index 1, rms at the input: +-10 V range 150 uV, +-1 V 20 uV, +-0.1 V 8 uV,
  +-0.01 V 5 uV; with the 16-bit steps a +-10 V stream reads ~175 uV rms. Higher resolution
  indices average 2**(index-1) conversions (the T7 oversamples): ~15 uV rms at index 8.
* 16-bit conversions over the range (LSB = 2 * range / 65536, 305 uV on +-10 V), clipped at
  exactly +-1.01 x range (+-10.1 V on the +-10 V range), then rounded to float32 as LJM returns it.
* Digital lines start as inputs; an input reads 1 (the T7's pull-ups). Writing a line makes it an
  output; reading a single line (FIO3, DIO3) makes it an input again (ecosystem.md gotcha 4).
  A relay coil is energised while its line is an output driven high.
* Streaming: the scan interval is a whole number of ticks of a 40 MHz clock, so the actual scan
  rate can differ slightly from the requested one. Channels in a scan are sampled 15 us apart
  (8 us above 60 kS/s; STREAM_SETTLING_US when set). Aggregate limit 100 kS/s. There is no
  background reader: unread scans stay in the buffer and are rendered from the probes (the past)
  when read; deviceScanBacklog counts the scans the bench clock is ahead of the read position.
* Not modelled: externally clocked or triggered streams (eStreamStart answers NOT_IMPLEMENTED),
  streaming anything but AIN0-AIN13, the lower stream rate limits of narrow ranges and high
  resolution indices, refusing AIN command-response reads during a stream, and LJM's host buffer
  filling up (LJM_BUFFER_FULL). A device buffer overflow is injected with
  `SimT7.overflow_stream_buffer`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import io
import itertools
import math
import types
from dataclasses import dataclass

import numpy as np

from instruments.sim.clock import VirtualClock
from instruments.sim.terminals import SimWiring, unconnected

with contextlib.redirect_stdout(io.StringIO()):  # importing labjack.ljm prints when libLabJackM is absent
    from labjack.ljm import constants, errorcodes

COMMAND_S = 0.001
AIN_COUNT = 14
RANGES_V = (0.01, 0.1, 1.0, 10.0)
NOISE_RMS_V = {10.0: 150e-6, 1.0: 20e-6, 0.1: 8e-6, 0.01: 5e-6}  # at resolution index 1
ADC_BITS = 16
CLIP_FRACTION = 1.01  # readings saturate at +-1.01 x range
COMMAND_RESOLUTION_INDEX = 8  # what the T7 uses for AIN#_RESOLUTION_INDEX = 0
MAX_RESOLUTION_INDEX = 8  # T7 (the T7-Pro goes to 12)
STREAM_CLOCK_HZ = 40e6
MAX_STREAM_SAMPLES_PER_S = 100_000.0
FIRMWARE_VERSION = 1.0299

# Digital ports: name -> (first DIO number, number of lines). DIO0-7 = FIO0-7, DIO8-15 = EIO0-7,
# DIO16-19 = CIO0-3, DIO20-22 = MIO0-2.
DIO_PORTS = {"FIO": (0, 8), "EIO": (8, 8), "CIO": (16, 4), "MIO": (20, 3)}
DIO_LINES = [f"{port}{i}" for port, (_, count) in DIO_PORTS.items() for i in range(count)]

# Stream configuration registers the simulated device keeps (they persist, as on the T7).
STREAM_CONFIG_DEFAULTS = {"STREAM_SETTLING_US": 0.0, "STREAM_RESOLUTION_INDEX": 0,
                          "STREAM_CLOCK_SOURCE": 0, "STREAM_TRIGGER_INDEX": 0}


@dataclass(frozen=True)
class Register:
    """One entry of the T7's Modbus map as LJM's constants file describes it."""

    name: str
    address: int
    data_type: int  # constants.UINT16 / UINT32 / FLOAT32
    writable: bool = False


def _t7_registers() -> dict[str, Register]:
    """The part of the T7 Modbus map the simulator implements (addresses as in LabJackMModbusMap.h)."""
    u16, u32, f32 = constants.UINT16, constants.UINT32, constants.FLOAT32
    regs = [Register("FIRMWARE_VERSION", 60004, f32), Register("SERIAL_NUMBER", 60028, u32)]
    for n in range(AIN_COUNT):
        regs += [Register(f"AIN{n}", 2 * n, f32),
                 Register(f"AIN{n}_RANGE", 40000 + 2 * n, f32, writable=True),
                 Register(f"AIN{n}_NEGATIVE_CH", 41000 + n, u16, writable=True)]
    for dio, line in enumerate(DIO_LINES):
        regs += [Register(line, 2000 + dio, u16, writable=True),
                 Register(f"DIO{dio}", 2000 + dio, u16, writable=True)]
    for i, port in enumerate(DIO_PORTS):
        regs += [Register(f"{port}_STATE", 2500 + i, u16), Register(f"{port}_DIRECTION", 2600 + i, u16)]
    regs += [Register("STREAM_SETTLING_US", 4008, f32, writable=True),
             Register("STREAM_RESOLUTION_INDEX", 4010, u32, writable=True),
             Register("STREAM_CLOCK_SOURCE", 4014, u32, writable=True),
             Register("STREAM_TRIGGER_INDEX", 4024, u32, writable=True)]
    return {r.name: r for r in regs}


T7_REGISTERS = _t7_registers()
_AIN_BY_ADDRESS = {2 * n: n for n in range(AIN_COUNT)}


class LjmFailure(Exception):
    """A device or library call failed with an LJM error code (returned to the wrapper as an int)."""

    def __init__(self, code: int, address: int = -1):
        super().__init__(code)
        self.code = code
        self.address = address


def adc_reading(volts: np.ndarray, range_v: float, resolution_index: int,
                rng: np.random.Generator) -> np.ndarray:
    """What the T7 reports (volts, float32 precision) for the true input volts `volts`.

    Each reading averages 2**(resolution_index - 1) conversions; each conversion adds Gaussian
    noise (NOISE_RMS_V for the range), is rounded to a 16-bit step over the range and saturates
    at +-CLIP_FRACTION x range.
    """
    volts = np.asarray(volts, dtype=float)
    conversions = 2 ** (max(resolution_index, 1) - 1)
    noisy = volts[:, None] + rng.normal(0.0, NOISE_RMS_V[range_v], (volts.size, conversions))
    lsb_v = 2 * range_v / 2 ** ADC_BITS
    clip_v = CLIP_FRACTION * range_v
    codes = np.clip(np.round(noisy / lsb_v) * lsb_v, -clip_v, clip_v)
    return codes.mean(axis=1).astype(np.float32).astype(float)


def coerce_range(range_v: float) -> float:
    """The range the T7 selects when AIN#_RANGE is written: the smallest that holds range_v (0 = +-10 V)."""
    wanted = abs(range_v)
    if wanted == 0:
        return 10.0
    return next((r for r in RANGES_V if wanted <= r * (1 + 1e-6)), 10.0)


def dio_number(line: str) -> int:
    """DIO number of a digital line name ("FIO3" -> 3, "EIO0" -> 8, "DIO21" -> 21)."""
    if line.startswith("DIO"):
        return int(line[3:])
    return DIO_LINES.index(line)


@dataclass
class _Stream:
    """A running stream session on the simulated device."""

    ains: list[int]
    ranges_v: list[float]
    negatives: list[int]
    resolution_index: int
    scan_rate_hz: float
    scans_per_read: int
    start_s: float
    interchannel_s: float
    scans_read: int = 0
    lost_from: int = 0  # scans [lost_from, lost_to) were lost to a device buffer overflow
    lost_to: int = 0


class SimT7:
    """A LabJack T7 on the simulated jig.

    clock: the bench's virtual clock (reads cost time; streams advance it); wiring: the jig
    (analog_inputs "AIN0".."AIN13" in volts at the input, relay_coils keyed by line "FIO0");
    rng: seeded noise source; serial: what SERIAL_NUMBER and getHandleInfo report.
    """

    def __init__(self, clock: VirtualClock, wiring: SimWiring, rng: np.random.Generator,
                 serial: int = 470012345):
        for ain in wiring.analog_inputs:
            if ain not in {f"AIN{n}" for n in range(AIN_COUNT)}:
                raise ValueError(f"SimT7: wiring.analog_inputs has {ain!r}; the T7 has AIN0-AIN{AIN_COUNT - 1}")
        for line in wiring.relay_coils:
            if line not in T7_REGISTERS or T7_REGISTERS[line].address not in range(2000, 2000 + len(DIO_LINES)):
                raise ValueError(f"SimT7: wiring.relay_coils has {line!r}, which is not a T7 digital line")
        self.clock = clock
        self.serial = serial
        self._wiring = wiring
        self._rng = rng
        self._ranges_v = [10.0] * AIN_COUNT
        self._negatives = [constants.GND] * AIN_COUNT
        self._stream_config: dict[str, float] = dict(STREAM_CONFIG_DEFAULTS)
        self._dio_output = [False] * len(DIO_LINES)
        self._dio_high = [False] * len(DIO_LINES)
        self._stream: _Stream | None = None

    # -- command-response ------------------------------------------------------------------

    def read(self, names: list[str]) -> list[float]:
        """One Modbus transaction reading registers by name (names already checked by LJM)."""
        with self.clock.lock:
            values = [self._read_register(name) for name in names]
            self.clock.advance_to(self.clock.now() + COMMAND_S)
            return values

    def write(self, names: list[str], values: list[float]) -> None:
        """One Modbus transaction writing registers in order; stops at the first refused value."""
        with self.clock.lock:
            try:
                for name, value in zip(names, values):
                    self._write_register(name, value)
            finally:
                self.clock.advance_to(self.clock.now() + COMMAND_S)

    def _read_register(self, name: str) -> float:
        reg = T7_REGISTERS[name]
        if name == "SERIAL_NUMBER":
            return float(self.serial)
        if name == "FIRMWARE_VERSION":
            return float(np.float32(FIRMWARE_VERSION))
        if name in self._stream_config:
            return float(np.float32(self._stream_config[name]))
        if reg.address in _AIN_BY_ADDRESS:
            n = _AIN_BY_ADDRESS[reg.address]
            t = np.array([self.clock.now()])
            volts = self._input_volts(n, self._negatives[n], t)
            return float(adc_reading(volts, self._ranges_v[n], COMMAND_RESOLUTION_INDEX, self._rng)[0])
        if name.endswith("_RANGE"):
            return self._ranges_v[int(name[3:-6])]
        if name.endswith("_NEGATIVE_CH"):
            return float(self._negatives[int(name[3:-12])])
        if name.endswith("_STATE") or name.endswith("_DIRECTION"):
            return float(self._port_bits(name))
        dio = dio_number(name)  # a single line: reading it makes it an input
        self._drive(dio, output=False, high=self._dio_high[dio])
        return 1.0  # pulled up

    def _write_register(self, name: str, value: float) -> None:
        reg = T7_REGISTERS[name]
        if name.endswith("_RANGE"):
            self._ranges_v[int(name[3:-6])] = coerce_range(value)
        elif name.endswith("_NEGATIVE_CH"):
            n = int(name[3:-12])
            differential_partner = n + 1 if n % 2 == 0 else None  # AIN0-AIN1, AIN2-AIN3, ...
            if value not in (constants.GND, differential_partner):
                raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE, reg.address)
            self._negatives[n] = int(value)
        elif name in self._stream_config:
            self._write_stream_config(reg, value)
        else:
            self._drive(dio_number(name), output=True, high=value != 0)

    def _write_stream_config(self, reg: Register, value: float) -> None:
        if reg.name == "STREAM_SETTLING_US":
            valid = 0 <= value <= 4400
        elif reg.name == "STREAM_RESOLUTION_INDEX":
            valid = value in range(MAX_RESOLUTION_INDEX + 1)
        else:
            valid = value >= 0 and value == int(value)
        if not valid:
            raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE, reg.address)
        self._stream_config[reg.name] = value

    def _input_volts(self, n: int, negative: int, times_s: np.ndarray) -> np.ndarray:
        """Volts between AIN<n> and its negative input (GND or AIN<n+1>) at bench times times_s."""
        positive = self._wiring.analog_inputs.get(f"AIN{n}", unconnected)(times_s)
        if negative == constants.GND:
            return np.asarray(positive, dtype=float)
        return positive - self._wiring.analog_inputs.get(f"AIN{negative}", unconnected)(times_s)

    def _port_bits(self, name: str) -> int:
        """FIO_STATE / FIO_DIRECTION (and EIO, CIO, MIO) as bitmasks of the port's lines."""
        port, kind = name.split("_")
        first, count = DIO_PORTS[port]
        bits = 0
        for i in range(count):
            dio = first + i
            level = self._dio_high[dio] if self._dio_output[dio] else True  # inputs read the pull-up
            bits |= int(self._dio_output[dio] if kind == "DIRECTION" else level) << i
        return bits

    def _drive(self, dio: int, output: bool, high: bool) -> None:
        """Set a line's direction and output latch; tell its relay coil when that changes it."""
        was_energised = self._dio_output[dio] and self._dio_high[dio]
        self._dio_output[dio], self._dio_high[dio] = output, high
        energised = output and high
        coil = self._wiring.relay_coils.get(DIO_LINES[dio]) or self._wiring.relay_coils.get(f"DIO{dio}")
        if coil is not None and energised != was_energised:
            coil(energised)

    # -- streaming ---------------------------------------------------------------------------

    def stream_start(self, addresses: list[int], scans_per_read: int, scan_rate_hz: float) -> float:
        """Start streaming the AINs at `addresses`; returns the actual scan rate (Hz)."""
        with self.clock.lock:
            if self._stream is not None:
                raise LjmFailure(errorcodes.COULD_NOT_START_STREAM)
            if not addresses or scans_per_read < 1 or not scan_rate_hz > 0:
                raise LjmFailure(errorcodes.INVALID_PARAMETER)
            for address in addresses:
                if address not in _AIN_BY_ADDRESS:
                    raise LjmFailure(errorcodes.INVALID_ADDRESS, address)
            if self._stream_config["STREAM_TRIGGER_INDEX"] or self._stream_config["STREAM_CLOCK_SOURCE"]:
                raise LjmFailure(errorcodes.NOT_IMPLEMENTED)  # triggered / external clock not simulated
            ticks = max(1, round(STREAM_CLOCK_HZ / scan_rate_hz))
            actual_hz = STREAM_CLOCK_HZ / ticks
            samples_per_s = actual_hz * len(addresses)
            settling_s = self._stream_config["STREAM_SETTLING_US"] * 1e-6
            interchannel_s = settling_s or (8e-6 if samples_per_s > 60e3 else 15e-6)
            if samples_per_s > MAX_STREAM_SAMPLES_PER_S or len(addresses) * interchannel_s > 1 / actual_hz:
                raise LjmFailure(errorcodes.COULD_NOT_START_STREAM)
            self.clock.advance_to(self.clock.now() + COMMAND_S)
            ains = [_AIN_BY_ADDRESS[a] for a in addresses]
            resolution = int(self._stream_config["STREAM_RESOLUTION_INDEX"]) or 1
            self._stream = _Stream(ains, [self._ranges_v[n] for n in ains], [self._negatives[n] for n in ains],
                                   resolution, actual_hz, scans_per_read, self.clock.now(), interchannel_s)
            return actual_hz

    def stream_read(self) -> tuple[np.ndarray, int]:
        """The next scans_per_read scans, interleaved, and the device scan backlog after them.

        Waits (advances the clock) until the last of those scans has been taken; if the clock is
        already later, the scans come from the buffer.
        """
        with self.clock.lock:
            s = self._require_stream()
            first, end = s.scans_read, s.scans_read + s.scans_per_read
            self.clock.advance_to(s.start_s + end / s.scan_rate_hz)
            scan_times_s = s.start_s + np.arange(first, end) / s.scan_rate_hz
            block = np.empty((end - first, len(s.ains)))
            for j, n in enumerate(s.ains):
                volts = self._input_volts(n, s.negatives[j], scan_times_s + j * s.interchannel_s)
                block[:, j] = adc_reading(volts, s.ranges_v[j], s.resolution_index, self._rng)
            scan_index = np.arange(first, end)
            block[(scan_index >= s.lost_from) & (scan_index < s.lost_to)] = constants.DUMMY_VALUE
            s.scans_read = end
            taken = math.floor((self.clock.now() - s.start_s) * s.scan_rate_hz + 1e-6)
            return block.ravel(), max(0, taken - end)

    def stream_stop(self) -> None:
        with self.clock.lock:
            self._require_stream()
            self._stream = None
            self.clock.advance_to(self.clock.now() + COMMAND_S)

    def overflow_stream_buffer(self, scans: int) -> None:
        """Model a USB stall that overflowed the T7's stream buffer: the next `scans` unread scans
        were lost, and the device's auto-recovery returns them as DUMMY_VALUE (-9999)."""
        with self.clock.lock:
            s = self._require_stream()
            s.lost_from, s.lost_to = s.scans_read, s.scans_read + scans

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def _require_stream(self) -> _Stream:
        if self._stream is None:
            raise LjmFailure(errorcodes.STREAM_NOT_RUNNING)
        return self._stream


# -- the native library the wrapper calls ------------------------------------------------------

def _out(arg):
    """The ctypes object behind an out-parameter: byref(x) carries it as ._obj; arrays come bare."""
    return getattr(arg, "_obj", arg)


def _int(arg) -> int:
    return int(getattr(arg, "value", arg))


def _returns_error_code(method):
    """Turn an LjmFailure into the int error code a libLabJackM function returns (0 = success)."""
    @functools.wraps(method)
    def call(self, *args):
        try:
            method(self, *args)
        except LjmFailure as failure:
            return failure.code
        return errorcodes.NOERROR
    return call


def _type_name(text: bytes, prefix: str) -> str:
    """openS type argument without its optional "LJM_dt"/"LJM_ct" prefix; "" means ANY."""
    name = text.decode("ascii").upper()
    name = name[len(prefix):] if name.startswith(prefix.upper()) else name
    return name or "ANY"


def _error_names() -> dict[int, str]:
    """LJM error code -> name ("LJME_INVALID_NAME"), from the real package's errorcodes module."""
    names: dict[int, str] = {}
    for name, code in vars(errorcodes).items():
        if isinstance(code, int) and name.isupper() and not name.endswith(("_BEGIN", "_END")):
            names.setdefault(code, "LJME_" + name)  # first wins: the deprecated aliases come last
    return names


ERROR_NAMES = _error_names()


class SimLjmLibrary:
    """The libLabJackM functions labjack/ljm/ljm.py calls, answered by SimT7 devices.

    The wrapper passes handles as ints, scalars as ctypes objects and out-parameters as
    ctypes.byref(...); each function returns an LJM error code. devices: identifier (device name)
    -> SimT7; openS finds a device by that name, by its serial number, or "ANY" for the first.
    """

    def __init__(self, devices: dict[str, SimT7]):
        self._devices = dict(devices)
        self._handles: dict[int, tuple[SimT7, int]] = {}  # handle -> (device, connection type)
        self._next_handle = itertools.count(1)

    def _device(self, handle: int) -> SimT7:
        if handle not in self._handles:
            raise LjmFailure(errorcodes.INVALID_HANDLE)
        return self._handles[handle][0]

    @staticmethod
    def _register(name: bytes, writing: bool) -> Register:
        reg = T7_REGISTERS.get(name.decode("ascii"))
        if reg is None:
            raise LjmFailure(errorcodes.INVALID_NAME)
        if writing and not reg.writable:
            raise LjmFailure(errorcodes.INVALID_DIRECTION, reg.address)
        return reg

    @_returns_error_code
    def LJM_OpenS(self, device_type, connection_type, identifier, p_handle):
        device_name = _type_name(device_type, "LJM_dt")
        connection_name = _type_name(connection_type, "LJM_ct")
        if not hasattr(constants, "dt" + device_name):
            raise LjmFailure(errorcodes.UNPARSABLE_DEVICE_TYPE)
        if not hasattr(constants, "ct" + connection_name):
            raise LjmFailure(errorcodes.UNPARSABLE_CONNECTION_TYPE)
        wanted = identifier.decode("ascii")
        if wanted.upper() in ("ANY", "LJM_IDANY", ""):
            device = next(iter(self._devices.values()))
        else:
            device = self._devices.get(wanted) or next(
                (d for d in self._devices.values() if str(d.serial) == wanted), None)
        if device is None or device_name not in ("ANY", "T7", "TSERIES"):
            raise LjmFailure(errorcodes.DEVICE_NOT_FOUND)
        # The simulated T7 answers on any connection; getHandleInfo reports the one asked for.
        connection = getattr(constants, "ct" + connection_name)
        handle = next(self._next_handle)
        self._handles[handle] = (device, constants.ctUSB if connection == constants.ctANY else connection)
        _out(p_handle).value = handle

    @_returns_error_code
    def LJM_Close(self, handle):
        device = self._device(handle)
        if device.streaming:
            device.stream_stop()
        del self._handles[handle]

    @_returns_error_code
    def LJM_GetHandleInfo(self, handle, p_device_type, p_connection_type, p_serial, p_ip, p_port, p_max_bytes):
        device = self._device(handle)
        connection = self._handles[handle][1]
        _out(p_device_type).value = constants.dtT7
        _out(p_connection_type).value = connection
        _out(p_serial).value = device.serial
        _out(p_ip).value = constants.NO_IP_ADDRESS
        _out(p_port).value = constants.NO_PORT
        _out(p_max_bytes).value = 64 if connection == constants.ctUSB else 1040

    @_returns_error_code
    def LJM_eReadName(self, handle, name, p_value):
        device = self._device(handle)
        reg = self._register(name, writing=False)
        _out(p_value).value = device.read([reg.name])[0]

    @_returns_error_code
    def LJM_eReadNames(self, handle, num_frames, names, p_values, p_error_address):
        device = self._device(handle)
        regs = [self._register(_out(names)[i], writing=False) for i in range(_int(num_frames))]
        _out(p_values)[:len(regs)] = device.read([r.name for r in regs])

    @_returns_error_code
    def LJM_eWriteName(self, handle, name, value):
        device = self._device(handle)
        reg = self._register(name, writing=True)
        device.write([reg.name], [value.value])

    @_returns_error_code
    def LJM_eWriteNames(self, handle, num_frames, p_names, p_values, p_error_address):
        device = self._device(handle)
        count = _int(num_frames)
        regs = [self._register(_out(p_names)[i], writing=True) for i in range(count)]
        try:
            device.write([r.name for r in regs], list(_out(p_values)[:count]))
        except LjmFailure as failure:
            _out(p_error_address).value = failure.address
            raise

    @_returns_error_code
    def LJM_NamesToAddresses(self, num_frames, p_names, p_addresses, p_types):
        names, addresses, data_types = _out(p_names), _out(p_addresses), _out(p_types)
        for i in range(_int(num_frames)):
            reg = T7_REGISTERS.get(names[i].decode("ascii"))
            addresses[i] = reg.address if reg else constants.INVALID_NAME_ADDRESS
            data_types[i] = reg.data_type if reg else constants.INVALID_NAME_ADDRESS

    @_returns_error_code
    def LJM_NameToAddress(self, name, p_address, p_type):
        reg = self._register(name, writing=False)
        _out(p_address).value = reg.address
        _out(p_type).value = reg.data_type

    @_returns_error_code
    def LJM_eStreamStart(self, handle, scans_per_read, num_addresses, p_scan_list, p_scan_rate):
        device = self._device(handle)
        addresses = list(_out(p_scan_list)[:_int(num_addresses)])
        rate = _out(p_scan_rate)
        rate.value = device.stream_start(addresses, _int(scans_per_read), rate.value)

    @_returns_error_code
    def LJM_eStreamRead(self, handle, p_data, p_device_backlog, p_ljm_backlog):
        data, backlog = self._device(handle).stream_read()
        _out(p_data)[:data.size] = data.tolist()
        _out(p_device_backlog).value = backlog
        _out(p_ljm_backlog).value = 0

    @_returns_error_code
    def LJM_eStreamStop(self, handle):
        self._device(handle).stream_stop()

    def LJM_ErrorToString(self, error_code, p_string):
        """Writes the error's name into the caller's buffer, as the C library does (the wrapper
        hands over a bytes object of MAX_NAME_SIZE NULs and decodes it afterwards)."""
        code = _int(error_code)
        text = ERROR_NAMES.get(code, f"error code {code} is not in the simulated LJM's error table")
        encoded = text.encode("ascii")[:constants.MAX_NAME_SIZE - 1] + b"\0"
        ctypes.memmove(p_string, encoded, len(encoded))


_private_copies = itertools.count(1)


def sim_ljm(devices: dict[str, SimT7]) -> types.ModuleType:
    """A private copy of the installed labjack.ljm wrapper whose native library is `devices`.

    Offers everything labjack.ljm does (openS, eReadName, eStreamRead, ..., `constants`,
    `errorcodes`) and its own LJMError. The process-wide labjack.ljm module is not changed.
    """
    if not devices:
        raise ValueError("sim_ljm: no simulated T7 given")
    with contextlib.redirect_stdout(io.StringIO()):  # the wrapper prints when libLabJackM is absent
        origin = importlib.util.find_spec("labjack.ljm.ljm").origin
        spec = importlib.util.spec_from_file_location(f"tipring_sim_labjack_ljm_{next(_private_copies)}", origin)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    module._staticLib = SimLjmLibrary(devices)
    return module
