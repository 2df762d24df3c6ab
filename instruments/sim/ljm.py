"""A simulated LabJack T7 behind the real labjack.ljm wrapper.

Three layers, like the real stack:

* `SimT7` is the device: its registers, its ADC (noise by resolution index, steps, clipping), its
  digital lines (relay coils out, logic levels in, the stream trigger), its DACs and stream-outs,
  and its stream engine (`t7_stream.py`), all on the bench's clock.
* `SimLjmLibrary` stands in for libLabJackM: it has the C entry points that labjack/ljm/ljm.py
  calls on `_staticLib`, resolves register names like LJM's constants file does, keeps LJM's
  stream settings (LJM_STREAM_SCANS_RETURN, LJM_STREAM_RECEIVE_TIMEOUT_MS/_MODE), and answers
  with real LJM error codes.
* `sim_ljm(devices)` loads a private copy of the installed labjack/ljm/ljm.py bound to that
  library, so the real wrapper code (marshalling, LJMError, return tuples) runs unchanged while the
  process-wide `labjack.ljm` stays untouched (a real T7 can be used alongside).

Figures, from LabJack where marked [LJ], else chosen:

* Command-response: every LJM call that talks to the device costs COMMAND_S = 1 ms of bench time
  (datasheet A-1: 0.6 ms USB high-speed to 2.2 ms other USB), plus, per AIN read, its sample time
  at its resolution index [LJ A-3-1, as transcribed in labjack-controller] and its
  AIN#_SETTLING_US. Inputs are sampled at the start of
  the call. AIN#_RESOLUTION_INDEX 0 means 8, STREAM_RESOLUTION_INDEX 0 means 1 [LJ].
* Noise: RMS = 2 x range / 2**bits, bits the effective resolution of the index at +-10 V [LJ,
  A-3-1: 16.0 at index 1 (305 uV) to 19.1 at index 8 (36 uV)], less RANGE_BITS_LOST on the narrower
  ranges (chosen). Readings come in steps of a 16-bit LSB (305 uV on +-10 V) at index 1, finer by
  2 per index above it (the T7 averages conversions), clip at exactly +-1.01 x range, and are
  rounded to float32 as LJM returns them.
* Stream rates: refused beyond the datasheet's (instruments.labjack_t7.max_stream_samples_per_s)
  with LJME_COULD_NOT_START_STREAM; the scan interval is a whole number of ticks of a 40 MHz
  clock, so the actual scan rate can differ slightly from the one asked for.
* Digital lines start as inputs; an input reads its wired logic level, or 1 (the T7's pull-ups)
  if none. Writing a line makes it an output; reading a single line (FIO3, DIO3) makes it an input
  again (ecosystem.md gotcha 4). A relay coil is energised while its line is an output driven high.
* Stream trigger: DIO0/DIO1 with DIO#_EF_INDEX 5 (either edge) [LJ example], 3 (rising) or 4
  (falling) (Frequency In, unverified), written while the feature is disabled [LJ example]; other
  lines refuse those features.
* STREAM_BUFFER_SIZE_BYTES 0 means 4096 (chosen, as a public T7 wrapper notes) and takes powers of
  two up to 32768 [LJ example].
* Stream-out: STREAM_OUT0-3 with DAC0/DAC1 targets, in LabJack's register sequence (TARGET,
  BUFFER_SIZE, ENABLE, LOOP_SIZE, BUFFER_F32 values, SET_LOOP=1); buffers up to 16384 bytes,
  2 bytes a value. Only the analog inputs' samples come back from eStreamRead, first [LJ].
* Not simulated, answered with LJME_NOT_IMPLEMENTED: externally clocked streams, stream-outs to
  anything but a DAC, out-only streams, other DIO extended features, and
  LJM_STREAM_SCANS_RETURN_AVAILABLE. Not modelled at all: refusing AIN command-response reads
  during a stream, and array writes costing more than one command.
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
from dataclasses import dataclass, field

import numpy as np

from instruments.labjack_t7 import MULTI_ADDRESS_SAMPLES_PER_S, LabJackT7, max_stream_samples_per_s
from instruments.protocols import AnalogInput
from instruments.sim.clock import VirtualClock
from instruments.sim.t7_stream import (DacTrack, Probe, SimStream, StreamSlot, Trigger, WallClock, dac_volts,
                                       interchannel_delays_s)
from instruments.sim.terminals import SimWiring, unconnected

with contextlib.redirect_stdout(io.StringIO()):  # importing labjack.ljm prints when libLabJackM is absent
    from labjack.ljm import constants, errorcodes

COMMAND_S = 0.001
AIN_COUNT = 14
RANGES_V = (0.01, 0.1, 1.0, 10.0)
EFFECTIVE_BITS_10V = {1: 16.0, 2: 16.5, 3: 17.0, 4: 17.5, 5: 17.9, 6: 18.3, 7: 18.8, 8: 19.1}
RANGE_BITS_LOST = {10.0: 0.0, 1.0: 0.5, 0.1: 2.0, 0.01: 4.5}
AIN_SAMPLE_MS = {1: 0.04, 2: 0.04, 3: 0.1, 4: 0.1, 5: 0.2, 6: 0.3, 7: 0.6, 8: 1.1}  # command-response
ADC_BITS = 16
CLIP_FRACTION = 1.01  # readings saturate at +-1.01 x range
COMMAND_RESOLUTION_INDEX = 8  # what the T7 uses for AIN#_RESOLUTION_INDEX = 0
MAX_RESOLUTION_INDEX = 8  # T7 (the T7-Pro goes to 12)
MAX_AIN_SETTLING_US = 50_000
MAX_STREAM_SETTLING_US = 4_400
STREAM_CLOCK_HZ = 40e6
DEFAULT_STREAM_BUFFER_BYTES = 4096
MAX_STREAM_BUFFER_BYTES = 32768
MAX_STREAM_OUT_BUFFER_BYTES = 16384
STREAM_OUT_COUNT = 4
DAC_ADDRESSES = (1000, 1002)
TRIGGER_EF_INDEXES = {3: True, 4: False, 5: None}  # DIO#_EF_INDEX -> rising edge (None: either)
TRIGGER_DIOS = (0, 1)
EF_DIOS = range(8)
CALCULATED_TIMEOUT_S = 1.0  # LJM's calculated receive timeout, beyond a read's own duration
FOREVER_S = 60.0  # how long "no timeout" waits for a trigger on a simulated bench
FIRMWARE_VERSION = 1.0299

# Digital ports: name -> (first DIO number, number of lines). DIO0-7 = FIO0-7, DIO8-15 = EIO0-7,
# DIO16-19 = CIO0-3, DIO20-22 = MIO0-2.
DIO_PORTS = {"FIO": (0, 8), "EIO": (8, 8), "CIO": (16, 4), "MIO": (20, 3)}
DIO_LINES = [f"{port}{i}" for port, (_, count) in DIO_PORTS.items() for i in range(count)]

# Stream configuration registers the simulated device keeps (they persist, as on the T7).
STREAM_CONFIG_DEFAULTS = {"STREAM_SETTLING_US": 0.0, "STREAM_RESOLUTION_INDEX": 0, "STREAM_BUFFER_SIZE_BYTES": 0,
                          "STREAM_CLOCK_SOURCE": 0, "STREAM_TRIGGER_INDEX": 0}

# LJM's library settings for streams, with LJM's defaults.
LJM_STREAM_DEFAULTS = {constants.STREAM_SCANS_RETURN: constants.STREAM_SCANS_RETURN_ALL,
                       constants.STREAM_RECEIVE_TIMEOUT_MS: 0.0,
                       constants.STREAM_RECEIVE_TIMEOUT_MODE: constants.STREAM_RECEIVE_TIMEOUT_MODE_CALCULATED}
LJM_CONFIG_NAMES = {v for k, v in vars(constants).items() if isinstance(v, str) and v.startswith("LJM_")}


@dataclass(frozen=True)
class Register:
    """One entry of the T7's Modbus map as LJM's constants file describes it, and what it is."""

    name: str
    address: int
    data_type: int  # constants.UINT16 / UINT32 / FLOAT32
    kind: str  # what the device does with it ("ain", "ain_range", "dio", "dac", "out_target", ...)
    n: int = 0  # which one of its kind (AIN number, DIO number, DAC, stream-out, port)
    writable: bool = False
    readable: bool = True


def _t7_registers() -> dict[str, Register]:
    """The part of the T7 Modbus map the simulator implements (addresses as in LabJackMModbusMap.h)."""
    u16, u32, f32 = constants.UINT16, constants.UINT32, constants.FLOAT32
    regs = [Register("FIRMWARE_VERSION", 60004, f32, "firmware"), Register("SERIAL_NUMBER", 60028, u32, "serial")]
    for n in range(AIN_COUNT):
        regs += [Register(f"AIN{n}", 2 * n, f32, "ain", n),
                 Register(f"AIN{n}_RANGE", 40000 + 2 * n, f32, "ain_range", n, writable=True),
                 Register(f"AIN{n}_NEGATIVE_CH", 41000 + n, u16, "ain_negative", n, writable=True),
                 Register(f"AIN{n}_RESOLUTION_INDEX", 41500 + n, u16, "ain_resolution", n, writable=True),
                 Register(f"AIN{n}_SETTLING_US", 42000 + 2 * n, f32, "ain_settling", n, writable=True)]
    regs += [Register(f"DAC{n}", address, f32, "dac", n, writable=True) for n, address in enumerate(DAC_ADDRESSES)]
    for dio, line in enumerate(DIO_LINES):
        regs += [Register(line, 2000 + dio, u16, "dio", dio, writable=True),
                 Register(f"DIO{dio}", 2000 + dio, u16, "dio", dio, writable=True)]
    for i, port in enumerate(DIO_PORTS):
        regs += [Register(f"{port}_STATE", 2500 + i, u16, "port_state", i),
                 Register(f"{port}_DIRECTION", 2600 + i, u16, "port_direction", i)]
    regs += [Register("DIO_STATE", 2800, u32, "dio_state"), Register("DIO_DIRECTION", 2850, u32, "dio_direction")]
    for dio in EF_DIOS:
        regs += [Register(f"DIO{dio}_EF_ENABLE", 44000 + 2 * dio, u32, "ef_enable", dio, writable=True),
                 Register(f"DIO{dio}_EF_INDEX", 44100 + 2 * dio, u32, "ef_index", dio, writable=True)]
    regs += [Register("STREAM_SETTLING_US", 4008, f32, "stream_config", writable=True),
             Register("STREAM_RESOLUTION_INDEX", 4010, u32, "stream_config", writable=True),
             Register("STREAM_BUFFER_SIZE_BYTES", 4012, u32, "stream_config", writable=True),
             Register("STREAM_CLOCK_SOURCE", 4014, u32, "stream_config", writable=True),
             Register("STREAM_TRIGGER_INDEX", 4024, u32, "stream_config", writable=True)]
    for i in range(STREAM_OUT_COUNT):
        out = f"STREAM_OUT{i}"
        regs += [Register(f"{out}_TARGET", 4040 + 2 * i, u32, "out_target", i, writable=True),
                 Register(f"{out}_BUFFER_SIZE", 4050 + 2 * i, u32, "out_buffer_size", i, writable=True),
                 Register(f"{out}_LOOP_SIZE", 4060 + 2 * i, u32, "out_loop_size", i, writable=True),
                 Register(f"{out}_SET_LOOP", 4070 + 2 * i, u32, "out_set_loop", i, writable=True, readable=False),
                 Register(f"{out}_BUFFER_STATUS", 4080 + 2 * i, u32, "out_buffer_status", i),
                 Register(f"{out}_ENABLE", 4090 + 2 * i, u32, "out_enable", i, writable=True),
                 Register(f"{out}_BUFFER_F32", 4400 + 2 * i, f32, "out_buffer", i, writable=True, readable=False),
                 Register(out, 4800 + i, u16, "out_scan", i, readable=False)]
    return {r.name: r for r in regs}


T7_REGISTERS = _t7_registers()
_AIN_BY_ADDRESS = {2 * n: n for n in range(AIN_COUNT)}
_OUT_BY_ADDRESS = {4800 + i: i for i in range(STREAM_OUT_COUNT)}


class LjmFailure(Exception):
    """A device or library call failed with an LJM error code (returned to the wrapper as an int)."""

    def __init__(self, code: int, address: int = -1):
        super().__init__(code)
        self.code = code
        self.address = address


def noise_rms_v(range_v: float, resolution_index: int) -> float:
    """RMS noise of a reading, volts at the input (effective resolution, steps included)."""
    return 2 * range_v / 2 ** (EFFECTIVE_BITS_10V[resolution_index] - RANGE_BITS_LOST[range_v])


def adc_reading(volts: np.ndarray, range_v: float, resolution_index: int,
                rng: np.random.Generator) -> np.ndarray:
    """What the T7 reports (volts, float32 precision) for the true input volts `volts` at a
    resolution index of 1-8: noise_rms_v in all, in steps of the index, clipped at +-CLIP_FRACTION x range."""
    volts = np.asarray(volts, dtype=float)
    step_v = 2 * range_v / 2 ** ADC_BITS / 2 ** (resolution_index - 1)
    rms_v = noise_rms_v(range_v, resolution_index)
    noise_v = math.sqrt(max(rms_v ** 2 - step_v ** 2 / 12, 0.0))  # the steps add the rest
    codes = np.round((volts + rng.normal(0.0, noise_v, volts.shape)) / step_v) * step_v
    clip_v = CLIP_FRACTION * range_v
    return np.clip(codes, -clip_v, clip_v).astype(np.float32).astype(float)


def coerce_range(range_v: float) -> float:
    """The range the T7 selects when AIN#_RANGE is written: the smallest that holds range_v (0 = +-10 V)."""
    wanted = abs(range_v)
    if wanted == 0:
        return 10.0
    return next((r for r in RANGES_V if wanted <= r * (1 + 1e-6)), 10.0)


def dio_number(line: str) -> int:
    """DIO number of a digital line name ("FIO3" -> 3, "EIO0" -> 8, "DIO21" -> 21)."""
    return T7_REGISTERS[line].n


def _whole(value: float, allowed) -> int:
    """value as an int if it is a whole number in `allowed`, else the device refuses it."""
    if value != int(value) or int(value) not in allowed:
        raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)
    return int(value)


@dataclass
class _StreamOut:
    """One STREAM_OUT# as its registers set it up."""

    target: int = 0
    buffer_bytes: int = 0
    enabled: bool = False
    loop_size: int = 0
    written: list[float] = field(default_factory=list)
    loop: np.ndarray | None = None

    @property
    def dac(self) -> int:
        return DAC_ADDRESSES.index(self.target)


class SimT7:
    """A LabJack T7 on the simulated jig.

    clock: the bench's virtual clock (reads cost time; streams advance it), or a WallClock to run
    in real time; wiring: the jig (analog_inputs "AIN0".."AIN13" in volts at the input,
    relay_coils keyed by line "FIO0"); rng: seeded noise source; serial: what SERIAL_NUMBER and
    getHandleInfo report; digital_inputs: line ("FIO0") -> probe of its logic level (non-zero =
    high) at bench times, for lines the jig drives (a stream trigger).
    """

    def __init__(self, clock: VirtualClock | WallClock, wiring: SimWiring, rng: np.random.Generator,
                 serial: int = 470012345, digital_inputs: dict[str, Probe] | None = None):
        for ain in wiring.analog_inputs:
            if ain not in {f"AIN{n}" for n in range(AIN_COUNT)}:
                raise ValueError(f"SimT7: wiring.analog_inputs has {ain!r}; the T7 has AIN0-AIN{AIN_COUNT - 1}")
        for where, lines in (("wiring.relay_coils", wiring.relay_coils), ("digital_inputs", digital_inputs or {})):
            for line in lines:
                if line not in T7_REGISTERS or T7_REGISTERS[line].kind != "dio":
                    raise ValueError(f"SimT7: {where} has {line!r}, which is not a T7 digital line")
        self.clock = clock
        self.serial = serial
        self._wiring = wiring
        self._rng = rng
        self._digital_inputs = {dio_number(line): probe for line, probe in (digital_inputs or {}).items()}
        self._ranges_v = [10.0] * AIN_COUNT
        self._negatives = [constants.GND] * AIN_COUNT
        self._resolution = [0] * AIN_COUNT
        self._settling_us = [0.0] * AIN_COUNT
        self._stream_config: dict[str, float] = dict(STREAM_CONFIG_DEFAULTS)
        self._dio_output = [False] * len(DIO_LINES)
        self._dio_high = [False] * len(DIO_LINES)
        self._ef_enabled = [False] * len(EF_DIOS)
        self._ef_index = [0] * len(EF_DIOS)
        self._dacs = [DacTrack(), DacTrack()]
        for n, track in enumerate(self._dacs):
            wiring.dac_outputs[f"DAC{n}"] = track.ac_coupled  # what the jig's coupled circuits see
        self._outs = [_StreamOut() for _ in range(STREAM_OUT_COUNT)]
        self._stream: SimStream | None = None
        self._overflow_after_s: float | None = None

    # -- what the jig sees -------------------------------------------------------------------

    def dac_output(self, dac: int) -> Probe:
        """Volts at DAC0/DAC1's terminal at bench times: set values and stream-out waveforms."""
        return self._dacs[dac]

    def inject_stream_overflow(self, after_s: float) -> None:
        """Make the next stream's device buffer overflow after_s bench seconds after its first scan
        (a USB stall): one buffer's worth of scans is lost, and LJM returns them as DUMMY_VALUE
        (-9999) after the T7's auto-recovery."""
        if not after_s >= 0:
            raise ValueError(f"SimT7.inject_stream_overflow: after_s must be >= 0, got {after_s}")
        self._overflow_after_s = after_s

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    # -- command-response ------------------------------------------------------------------

    def read(self, names: list[str]) -> list[float]:
        """One Modbus transaction reading registers by name (names already checked by LJM)."""
        with self.clock.lock:
            values = [self._read_register(T7_REGISTERS[name]) for name in names]
            sampling_s = sum(self._ain_sample_s(T7_REGISTERS[name].n) for name in names
                             if T7_REGISTERS[name].kind == "ain")
            self.clock.advance_to(self.clock.now() + COMMAND_S + sampling_s)
            return values

    def write(self, names: list[str], values: list[float]) -> None:
        """One Modbus transaction writing registers in order; stops at the first refused value."""
        with self.clock.lock:
            try:
                for name, value in zip(names, values):
                    reg = T7_REGISTERS[name]
                    try:
                        self._write_register(reg, value)
                    except LjmFailure as failure:
                        raise LjmFailure(failure.code, reg.address) from None
            finally:
                self.clock.advance_to(self.clock.now() + COMMAND_S)

    def _ain_sample_s(self, n: int) -> float:
        return AIN_SAMPLE_MS[self._resolution[n] or COMMAND_RESOLUTION_INDEX] / 1e3 + self._settling_us[n] / 1e6

    def _read_register(self, reg: Register) -> float:
        now = np.array([self.clock.now()])
        match reg.kind:
            case "serial":
                return float(self.serial)
            case "firmware":
                return float(np.float32(FIRMWARE_VERSION))
            case "stream_config":
                return float(np.float32(self._stream_config[reg.name]))
            case "ain":
                n = reg.n
                volts = self._input_volts(n, self._negatives[n], now)
                index = self._resolution[n] or COMMAND_RESOLUTION_INDEX
                return float(adc_reading(volts, self._ranges_v[n], index, self._rng)[0])
            case "ain_range":
                return self._ranges_v[reg.n]
            case "ain_negative":
                return float(self._negatives[reg.n])
            case "ain_resolution":
                return float(self._resolution[reg.n])
            case "ain_settling":
                return float(np.float32(self._settling_us[reg.n]))
            case "dac":
                return float(np.float32(self._dacs[reg.n](now)[0]))
            case "port_state" | "port_direction":
                first, count = list(DIO_PORTS.values())[reg.n]
                return float(self._bits(range(first, first + count), reg.kind == "port_direction"))
            case "dio_state" | "dio_direction":
                return float(self._bits(range(len(DIO_LINES)), reg.kind == "dio_direction"))
            case "ef_enable":
                return float(self._ef_enabled[reg.n])
            case "ef_index":
                return float(self._ef_index[reg.n])
            case "out_target" | "out_buffer_size" | "out_loop_size" | "out_enable" | "out_buffer_status":
                out = self._outs[reg.n]
                return float({"out_target": out.target, "out_buffer_size": out.buffer_bytes,
                              "out_loop_size": out.loop_size, "out_enable": out.enabled,
                              "out_buffer_status": out.buffer_bytes // 2 - len(out.written)}[reg.kind])
            case "dio":  # a single line: reading it makes it an input
                self._drive(reg.n, output=False, high=self._dio_high[reg.n])
                return float(self._level(reg.n))
        raise LjmFailure(errorcodes.MBE2_ILLEGAL_DATA_ADDRESS)

    def _write_register(self, reg: Register, value: float) -> None:
        match reg.kind:
            case "ain_range":
                self._ranges_v[reg.n] = coerce_range(value)
            case "ain_negative":
                differential_partner = reg.n + 1 if reg.n % 2 == 0 else None  # AIN0-AIN1, AIN2-AIN3, ...
                if value not in (constants.GND, differential_partner):
                    raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)
                self._negatives[reg.n] = int(value)
            case "ain_resolution":
                self._resolution[reg.n] = _whole(value, range(MAX_RESOLUTION_INDEX + 1))
            case "ain_settling":
                if not 0 <= value <= MAX_AIN_SETTLING_US:
                    raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)
                self._settling_us[reg.n] = value
            case "stream_config":
                self._write_stream_config(reg.name, value)
            case "dac":
                self._dacs[reg.n].hold(self.clock.now(), float(dac_volts(value)))
            case "dio":
                self._drive(reg.n, output=True, high=value != 0)
            case "ef_index":
                if self._ef_enabled[reg.n]:  # LabJack: disable the feature before changing it
                    raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)
                self._ef_index[reg.n] = _whole(value, range(256))
            case "ef_enable":
                self._enable_ef(reg.n, _whole(value, (0, 1)) == 1)
            case _ if reg.kind.startswith("out_"):
                self._write_stream_out(self._outs[reg.n], reg.kind, value)

    def _write_stream_config(self, name: str, value: float) -> None:
        if name == "STREAM_SETTLING_US":
            if not 0 <= value <= MAX_STREAM_SETTLING_US:
                raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)
        elif name == "STREAM_RESOLUTION_INDEX":
            _whole(value, range(MAX_RESOLUTION_INDEX + 1))
        elif name == "STREAM_BUFFER_SIZE_BYTES":
            _whole(value, [0] + [2 ** k for k in range(4, 16)])
        elif name == "STREAM_TRIGGER_INDEX":
            _whole(value, [0] + [2000 + dio for dio in range(len(DIO_LINES))])
        else:
            _whole(value, range(2 ** 16))
        self._stream_config[name] = value

    def _enable_ef(self, dio: int, enable: bool) -> None:
        if enable:
            if self._ef_index[dio] not in TRIGGER_EF_INDEXES:
                raise LjmFailure(errorcodes.NOT_IMPLEMENTED)  # other extended features are not simulated
            if dio not in TRIGGER_DIOS:  # Frequency In / Pulse Width In exist on DIO0 and DIO1 only
                raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)
            self._drive(dio, output=False, high=self._dio_high[dio])
        self._ef_enabled[dio] = enable

    def _write_stream_out(self, out: _StreamOut, kind: str, value: float) -> None:
        if kind == "out_enable":
            enable = _whole(value, (0, 1)) == 1
            if enable and not (out.target in DAC_ADDRESSES and out.buffer_bytes):
                raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)
            out.enabled, out.written, out.loop = enable, [], None
        elif kind in ("out_target", "out_buffer_size") and out.enabled:
            raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)  # set up while disabled
        elif kind == "out_target":
            if _whole(value, range(2 ** 16)) not in DAC_ADDRESSES:
                raise LjmFailure(errorcodes.NOT_IMPLEMENTED)  # DIO targets are not simulated
            out.target = int(value)
        elif kind == "out_buffer_size":
            out.buffer_bytes = _whole(value, [2 ** k for k in range(1, 15)])
        elif kind == "out_loop_size":
            out.loop_size = _whole(value, range(MAX_STREAM_OUT_BUFFER_BYTES // 2 + 1))
        elif kind == "out_buffer":
            if not out.enabled or 2 * (len(out.written) + 1) > out.buffer_bytes:
                raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)
            out.written.append(float(dac_volts(value)))
        elif kind == "out_set_loop":
            if _whole(value, range(4)) != 1:
                raise LjmFailure(errorcodes.NOT_IMPLEMENTED)  # only "use the new loop at once"
            if not 1 <= out.loop_size <= len(out.written):
                raise LjmFailure(errorcodes.MBE3_ILLEGAL_DATA_VALUE)
            out.loop = np.array(out.written[-out.loop_size:])
        else:
            raise LjmFailure(errorcodes.INVALID_DIRECTION)

    def _input_volts(self, n: int, negative: int, times_s: np.ndarray) -> np.ndarray:
        """Volts between AIN<n> and its negative input (GND or AIN<n+1>) at bench times times_s."""
        positive = self._wiring.analog_inputs.get(f"AIN{n}", unconnected)(times_s)
        if negative == constants.GND:
            return np.asarray(positive, dtype=float)
        return positive - self._wiring.analog_inputs.get(f"AIN{negative}", unconnected)(times_s)

    def _level(self, dio: int) -> bool:
        """The logic level of a line now: its output latch, its wired input, or the pull-up."""
        if self._dio_output[dio]:
            return self._dio_high[dio]
        probe = self._digital_inputs.get(dio)
        return True if probe is None else bool(np.asarray(probe(np.array([self.clock.now()])))[0])

    def _bits(self, dios: range, direction: bool) -> int:
        """A *_STATE or *_DIRECTION bitmask over `dios`, bit 0 = the first."""
        return sum(int(self._dio_output[d] if direction else self._level(d)) << i for i, d in enumerate(dios))

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
        """Start streaming the addresses (AINs, STREAM_OUT#); returns the actual scan rate (Hz)."""
        with self.clock.lock:
            if self._stream is not None:
                raise LjmFailure(errorcodes.COULD_NOT_START_STREAM)
            if not addresses or scans_per_read < 1 or not scan_rate_hz > 0:
                raise LjmFailure(errorcodes.INVALID_PARAMETER)
            for address in addresses:
                if address not in _AIN_BY_ADDRESS and address not in _OUT_BY_ADDRESS:
                    raise LjmFailure(errorcodes.INVALID_ADDRESS, address)
            config = self._stream_config
            ains = [_AIN_BY_ADDRESS[a] for a in addresses if a in _AIN_BY_ADDRESS]
            if config["STREAM_CLOCK_SOURCE"] or not ains:
                raise LjmFailure(errorcodes.NOT_IMPLEMENTED)  # external clocks, out-only streams
            for a in addresses:
                if a in _OUT_BY_ADDRESS and self._outs[_OUT_BY_ADDRESS[a]].loop is None:
                    raise LjmFailure(errorcodes.COULD_NOT_START_STREAM)
            actual_hz = STREAM_CLOCK_HZ / max(1, round(STREAM_CLOCK_HZ / scan_rate_hz))
            index = int(config["STREAM_RESOLUTION_INDEX"]) or 1
            ranges_v = [self._ranges_v[n] for n in ains]
            limit = max_stream_samples_per_s(ranges_v, index, len(addresses))
            samples_per_s = actual_hz * len(addresses)
            if limit is None or samples_per_s > limit * (1 + 1e-4):
                raise LjmFailure(errorcodes.COULD_NOT_START_STREAM)
            slots = self._slots(addresses, index, samples_per_s)
            if slots[-1].offset_s >= 1 / actual_hz:
                raise LjmFailure(errorcodes.COULD_NOT_START_STREAM)  # the scan does not fit its interval
            trigger = self._armed_trigger()
            self.clock.advance_to(self.clock.now() + COMMAND_S)
            buffer_bytes = int(config["STREAM_BUFFER_SIZE_BYTES"]) or DEFAULT_STREAM_BUFFER_BYTES
            stream = SimStream(slots, actual_hz, scans_per_read, index, buffer_bytes // 2 // len(ains),
                               start_s=None if trigger else self.clock.now(), trigger=trigger)
            if self._overflow_after_s is not None:
                first_lost = math.ceil(self._overflow_after_s * actual_hz)
                stream.lost = range(first_lost, first_lost + stream.device_buffer_scans)
                self._overflow_after_s = None
            if trigger is None:
                self._play_stream_outs(stream)
            self._stream = stream
            return actual_hz

    def _slots(self, addresses: list[int], index: int, samples_per_s: float) -> list[StreamSlot]:
        """The scan list with each address's place in time."""
        slots, sample_times_s = [], []
        for a in addresses:
            if a in _AIN_BY_ADDRESS:
                n = _AIN_BY_ADDRESS[a]
                slots.append(StreamSlot(0.0, ain=n, range_v=self._ranges_v[n], negative=self._negatives[n]))
                rate = MULTI_ADDRESS_SAMPLES_PER_S[self._ranges_v[n]].get(index)  # None: a lone address, no delay
                sample_times_s.append(1 / rate if rate else 0.0)
            else:
                slots.append(StreamSlot(0.0, out=_OUT_BY_ADDRESS[a]))
                sample_times_s.append(0.0)
        delays = interchannel_delays_s(sample_times_s, samples_per_s, self._stream_config["STREAM_SETTLING_US"] * 1e-6)
        for slot, offset_s in zip(slots, itertools.accumulate(delays)):
            slot.offset_s = offset_s
        return slots

    def _armed_trigger(self) -> Trigger | None:
        """The trigger STREAM_TRIGGER_INDEX and the line's extended feature ask for, if any."""
        index = int(self._stream_config["STREAM_TRIGGER_INDEX"])
        if not index:
            return None
        dio = index - 2000
        if dio not in TRIGGER_DIOS or not self._ef_enabled[dio]:
            raise LjmFailure(errorcodes.COULD_NOT_START_STREAM)
        level = self._digital_inputs.get(dio, lambda t: np.ones(np.shape(t)))
        now = self.clock.now()
        return Trigger(level, TRIGGER_EF_INDEXES[self._ef_index[dio]], now, bool(np.asarray(level(np.array([now])))[0]))

    def _play_stream_outs(self, s: SimStream) -> None:
        for slot in s.slots:
            if slot.out >= 0:
                out = self._outs[slot.out]
                self._dacs[out.dac].play(s.start_s + slot.offset_s, s.scan_rate_hz, out.loop)

    def stream_read(self, wait: bool, timeout_s: float | None) -> tuple[np.ndarray, int, int]:
        """The next scans_per_read scans of the inputs, interleaved, and (deviceScanBacklog,
        ljmScanBacklog) after them.

        wait: block (advancing the clock) until the scans have been taken, else answer
        NO_SCANS_RETURNED when they have not; timeout_s: how long a blocked read waits for the
        trigger (None: LJM's calculated timeout; 0: no timeout). Scans taken before now come
        from the buffer.
        """
        with self.clock.lock:
            s = self._require_stream()
            if s.start_s is None:
                self._wait_for_trigger(s, wait, timeout_s)
            first, end = s.scans_read, s.scans_read + s.scans_per_read
            if self.clock.now() < s.ready_s(end):
                if not wait:
                    raise LjmFailure(errorcodes.NO_SCANS_RETURNED)
                self.clock.advance_to(s.ready_s(end))
            if s.overflowed(self.clock.now()):
                raise LjmFailure(errorcodes.LJM_BUFFER_FULL)
            scan_times_s = s.scan_times_s(first, end)
            inputs = s.input_slots
            block = np.empty((end - first, len(inputs)))
            for j, slot in enumerate(inputs):
                volts = self._input_volts(slot.ain, slot.negative, scan_times_s + slot.offset_s)
                block[:, j] = adc_reading(volts, slot.range_v, s.resolution_index, self._rng)
            scans = np.arange(first, end)
            block[(scans >= s.lost.start) & (scans < s.lost.stop)] = constants.DUMMY_VALUE
            s.scans_read = end
            device_backlog, ljm_backlog = s.backlogs(self.clock.now())
            return block.ravel(), device_backlog, ljm_backlog

    def _wait_for_trigger(self, s: SimStream, wait: bool, timeout_s: float | None) -> None:
        """Look for the trigger edge up to now, or (wait) on until it comes or the timeout passes."""
        if timeout_s is None:
            timeout_s = s.scans_per_read / s.scan_rate_hz + CALCULATED_TIMEOUT_S
        give_up_s = self.clock.now() + (timeout_s or FOREVER_S)
        while (edge_s := s.trigger.look(self.clock.now())) is None:
            if not wait:
                raise LjmFailure(errorcodes.NO_SCANS_RETURNED)
            if self.clock.now() >= give_up_s:
                raise LjmFailure(errorcodes.NO_RESPONSE_BYTES_RECEIVED)
            self.clock.advance_to(min(self.clock.now() + 0.01, give_up_s))
        s.start_s, s.trigger = edge_s, None
        self._play_stream_outs(s)

    def stream_stop(self) -> None:
        with self.clock.lock:
            s = self._require_stream()
            self._stream = None
            if s.start_s is not None:
                for slot in s.slots:
                    if slot.out >= 0:
                        self._dacs[self._outs[slot.out].dac].stop(self.clock.now())
            self.clock.advance_to(self.clock.now() + COMMAND_S)

    def _require_stream(self) -> SimStream:
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
        self._config: dict[str, float] = dict(LJM_STREAM_DEFAULTS)

    def _device(self, handle: int) -> SimT7:
        if handle not in self._handles:
            raise LjmFailure(errorcodes.INVALID_HANDLE)
        return self._handles[handle][0]

    @staticmethod
    def _register(name: bytes, writing: bool) -> Register:
        reg = T7_REGISTERS.get(name.decode("ascii"))
        if reg is None:
            raise LjmFailure(errorcodes.INVALID_NAME)
        if not (reg.writable if writing else reg.readable):
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
    def LJM_eWriteNameArray(self, handle, name, num_values, p_values, p_error_address):
        """Only buffer registers (STREAM_OUT#_BUFFER_F32): each value goes to the same register."""
        device = self._device(handle)
        reg = self._register(name, writing=True)
        if reg.kind != "out_buffer":
            raise LjmFailure(errorcodes.NOT_IMPLEMENTED)  # consecutive-register arrays are not simulated
        count = _int(num_values)
        try:
            device.write([reg.name] * count, list(_out(p_values)[:count]))
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
        reg = T7_REGISTERS.get(name.decode("ascii"))
        if reg is None:
            raise LjmFailure(errorcodes.INVALID_NAME)
        _out(p_address).value = reg.address
        _out(p_type).value = reg.data_type

    @_returns_error_code
    def LJM_WriteLibraryConfigS(self, parameter, value):
        name, value = parameter.decode("ascii").upper(), _out(value).value
        if name not in LJM_CONFIG_NAMES:
            raise LjmFailure(errorcodes.INVALID_CONFIG_NAME)
        if name not in self._config or (name == constants.STREAM_SCANS_RETURN
                                        and value == constants.STREAM_SCANS_RETURN_AVAILABLE):
            raise LjmFailure(errorcodes.NOT_IMPLEMENTED)
        allowed = {constants.STREAM_SCANS_RETURN: (constants.STREAM_SCANS_RETURN_ALL,
                                                   constants.STREAM_SCANS_RETURN_ALL_OR_NONE),
                   constants.STREAM_RECEIVE_TIMEOUT_MODE: (constants.STREAM_RECEIVE_TIMEOUT_MODE_CALCULATED,
                                                           constants.STREAM_RECEIVE_TIMEOUT_MODE_MANUAL)}
        if (value not in allowed[name]) if name in allowed else not value >= 0:
            raise LjmFailure(errorcodes.INVALID_VALUE)
        self._config[name] = value
        if name == constants.STREAM_RECEIVE_TIMEOUT_MS:  # a timeout given is a manual timeout
            self._config[constants.STREAM_RECEIVE_TIMEOUT_MODE] = constants.STREAM_RECEIVE_TIMEOUT_MODE_MANUAL

    @_returns_error_code
    def LJM_ReadLibraryConfigS(self, parameter, p_value):
        name = parameter.decode("ascii").upper()
        if name not in LJM_CONFIG_NAMES:
            raise LjmFailure(errorcodes.INVALID_CONFIG_NAME)
        if name not in self._config:
            raise LjmFailure(errorcodes.NOT_IMPLEMENTED)
        _out(p_value).value = self._config[name]

    @_returns_error_code
    def LJM_eStreamStart(self, handle, scans_per_read, num_addresses, p_scan_list, p_scan_rate):
        device = self._device(handle)
        addresses = list(_out(p_scan_list)[:_int(num_addresses)])
        rate = _out(p_scan_rate)
        rate.value = device.stream_start(addresses, _int(scans_per_read), rate.value)

    @_returns_error_code
    def LJM_eStreamRead(self, handle, p_data, p_device_backlog, p_ljm_backlog):
        c = self._config
        wait = c[constants.STREAM_SCANS_RETURN] == constants.STREAM_SCANS_RETURN_ALL
        manual = c[constants.STREAM_RECEIVE_TIMEOUT_MODE] == constants.STREAM_RECEIVE_TIMEOUT_MODE_MANUAL
        timeout_s = c[constants.STREAM_RECEIVE_TIMEOUT_MS] / 1e3 if manual else None
        data, device_backlog, ljm_backlog = self._device(handle).stream_read(wait, timeout_s)
        _out(p_data)[:data.size] = data.tolist()  # the stream-outs' places in the list stay unused
        _out(p_device_backlog).value = device_backlog
        _out(p_ljm_backlog).value = ljm_backlog

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


# -- benchmark: the driver against the simulated T7 in real time ------------------------------

@dataclass(frozen=True)
class StreamThroughput:
    """How LabJackT7.stream kept up with a simulated T7 running in wall-clock time.

    busy_s: the wall time not spent waiting for scans to be taken (driver, LJM wrapper and the
    simulator's rendering); sustainable_scans_per_s: the scan rate that would keep it busy all
    the time, i.e. the most it can follow without a growing backlog.
    """

    scan_rate_hz: float
    inputs: int
    chunk_s: float
    scans_read: int
    wall_s: float
    busy_s: float

    @property
    def sustainable_scans_per_s(self) -> float:
        return self.scans_read / self.busy_s


def sustained_stream_rate(scan_rate_hz: float = 8000.0, inputs: int = 2, chunk_s: float = 0.02,
                          duration_s: float = 1.0) -> StreamThroughput:
    """Stream `inputs` +-10 V inputs at scan_rate_hz in chunks of chunk_s through LabJackT7.stream
    from a simulated T7 on a WallClock for duration_s wall seconds. Raises the driver's BenchFault
    if it fell behind (a growing backlog, lost scans)."""
    clock = WallClock()
    wiring = SimWiring(analog_inputs={f"AIN{n}": (lambda t: np.sin(2 * np.pi * 50.0 * np.asarray(t)))
                                      for n in range(inputs)})
    t7 = LabJackT7(sim_ljm({"bench": SimT7(clock, wiring, np.random.default_rng(0))}), name="bench", clock=clock)
    ains = [AnalogInput(f"in{n}", f"AIN{n}", 10.0) for n in range(inputs)]
    scans = 0
    try:
        chunks = t7.stream(ains, scan_rate_hz, chunk_s)
        started_s, waited_s = clock.now(), clock.waited_s
        try:
            for chunk in chunks:
                scans += len(chunk["in0"])
                if clock.now() - started_s >= duration_s:
                    break
        finally:
            chunks.close()
        wall_s = clock.now() - started_s
        return StreamThroughput(scan_rate_hz, inputs, chunk_s, scans, wall_s, wall_s - (clock.waited_s - waited_s))
    finally:
        t7.close()
