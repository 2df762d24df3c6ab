"""The LabJack T7 driver: its exact LJM exchanges against a replaying stand-in, then end to end
against the simulated T7 through the real labjack.ljm wrapper code."""

from __future__ import annotations

import contextlib
import ctypes.util
import io
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from instruments.errors import BenchFault
from instruments.labjack_t7 import DioEdge, LabJackT7, StreamOut, dio_number
from instruments.protocols import AnalogInput
from instruments.sim.clock import VirtualClock
from instruments.sim.ljm import SimT7, noise_rms_v, sim_ljm, sustained_stream_rate
from instruments.sim.t7_stream import TRIGGER_GRID_S
from instruments.sim.terminals import SimWiring

with contextlib.redirect_stdout(io.StringIO()):  # importing labjack.ljm prints when libLabJackM is absent
    from labjack.ljm import constants, errorcodes
    from labjack.ljm.ljm import LJMError

REPO = Path(__file__).resolve().parents[1]

RING_FREQ_HZ = 20.0
RING_PEAK_V = 2.0  # at the input; 40 V peak on the line through a 20:1 divider
BATTERY_INPUT_V = 2.4  # 48 V battery through the 20:1 divider
LOOP_SENSE_V = 0.25  # volts across the loop-current sense resistor (10 ohm -> 25 mA)
RISING_AT_S = 1.2345  # FIO0 goes high here
FALLING_AT_S = 0.7  # FIO1 goes low here


def sine(peak_v: float, freq_hz: float):
    """Probe: peak_v * sin(2 pi f t), volts at the input, t in bench seconds."""
    return lambda t: peak_v * np.sin(2 * np.pi * freq_hz * np.asarray(t, dtype=float))


def dc(volts: float):
    """Probe: a constant voltage at the input."""
    return lambda t: np.full(np.shape(t), volts, dtype=float)


def step(at_s: float, rising: bool = True):
    """Probe: a logic level that changes at bench time at_s."""
    return lambda t: (np.asarray(t) >= at_s) == rising


RING = AnalogInput("fxs1.ring_v", "AIN0", range_v=10.0, scale=20.0)
LOOP = AnalogInput("fxs1.loop_i", "AIN1", range_v=1.0, scale=0.1, unit="A")
BATTERY = AnalogInput("fxs1.battery_v", "AIN4", range_v=10.0)


# -- exact exchanges against a replaying stand-in ------------------------------------------------

class ReplayLjm:
    """A stand-in for labjack.ljm that expects exactly the calls in `exchanges`, in order.

    Each exchange is ((function, *args), reply): the reply is returned, or raised when it is an
    exception. constants, errorcodes and LJMError are the real package's.
    """

    constants, errorcodes, LJMError = constants, errorcodes, LJMError

    def __init__(self, exchanges: list):
        self.expected = list(exchanges)
        self.calls: list[tuple] = []

    def __getattr__(self, function: str):
        def call(*args):
            self.calls.append((function, *args))
            assert self.expected, f"unexpected call {(function, *args)}"
            want, reply = self.expected.pop(0)
            assert (function, *args) == want, f"called {(function, *args)}, expected {want}"
            if isinstance(reply, Exception):
                raise reply
            return reply
        return call


OPENING = [(("openS", "T7", "ANY", "ANY"), 1), (("getHandleInfo", 1), (7, 1, 470012345, 0, 0, 64)),
           (("eReadNames", 1, 1, ["FIRMWARE_VERSION"]), [1.0299])]
STREAM_DEFAULTS = ["STREAM_SETTLING_US", "STREAM_RESOLUTION_INDEX", "STREAM_BUFFER_SIZE_BYTES",
                   "STREAM_CLOCK_SOURCE", "STREAM_TRIGGER_INDEX"]
LJM_SAVED = [("LJM_STREAM_SCANS_RETURN", 1.0), ("LJM_STREAM_RECEIVE_TIMEOUT_MS", 0.0),
             ("LJM_STREAM_RECEIVE_TIMEOUT_MODE", 1.0)]  # LJM's defaults, read before a triggered stream


def replay(exchanges: list, start_s: float = 5.0) -> tuple[LabJackT7, ReplayLjm, VirtualClock]:
    clock = VirtualClock(start_s)
    ljm = ReplayLjm(OPENING + exchanges)
    return LabJackT7(ljm, name="daq", clock=clock), ljm, clock


def test_exchange_capture_of_two_inputs():
    data = list(np.arange(20) / 100)  # scan k: AIN0 = 0.02 k, AIN2 = 0.02 k + 0.01
    loop = AnalogInput("loop_i", "AIN2", range_v=1.0, scale=0.1, unit="A", negative="AIN3")
    t7, ljm, clock = replay([
        (("eWriteNames", 1, 9, ["AIN0_RANGE", "AIN0_NEGATIVE_CH", "AIN2_RANGE", "AIN2_NEGATIVE_CH", *STREAM_DEFAULTS],
          [10.0, 199, 1.0, 3, 0.0, 0, 32768, 0, 0]), None),
        (("namesToAddresses", 2, ["AIN0", "AIN2"]), ([0, 4], [3, 3])),
        (("eStreamStart", 1, 10, 2, [0, 4], 1000.0), 1000.0),
        (("eStreamRead", 1), (data, 0, 0)),
        (("eStreamStop", 1), None)])
    waves = t7.capture([RING, loop], duration_s=0.01, sample_rate_hz=1000.0)
    assert ljm.expected == []
    np.testing.assert_allclose(waves["fxs1.ring_v"].samples, 20.0 * np.array(data[0::2]))
    np.testing.assert_allclose(waves["loop_i"].samples, 0.1 * np.array(data[1::2]))
    assert waves["loop_i"].start_s == pytest.approx(clock.now() - 0.010)  # the newest scan is now


def test_exchange_triggered_capture_polls_and_puts_ljm_back():
    no_scans = LJMError(errorcodes.NO_SCANS_RETURNED)
    t7, ljm, clock = replay([
        (("nameToAddress", "DIO0"), (2000, 0)),
        (("eWriteNames", 1, 10, ["AIN0_RANGE", "AIN0_NEGATIVE_CH", *STREAM_DEFAULTS, "DIO0_EF_ENABLE",
                                 "DIO0_EF_INDEX", "DIO0_EF_ENABLE"],
          [10.0, 199, 0.0, 0, 32768, 0, 2000, 0, 3, 1]), None),
        (("namesToAddresses", 1, ["AIN0"]), ([0], [3])),
        (("readLibraryConfigS", "LJM_STREAM_SCANS_RETURN"), 1.0),
        (("readLibraryConfigS", "LJM_STREAM_RECEIVE_TIMEOUT_MS"), 0.0),
        (("readLibraryConfigS", "LJM_STREAM_RECEIVE_TIMEOUT_MODE"), 1.0),
        (("writeLibraryConfigS", "LJM_STREAM_SCANS_RETURN", 2), None),
        (("writeLibraryConfigS", "LJM_STREAM_RECEIVE_TIMEOUT_MS", 0), None),
        (("eStreamStart", 1, 10, 1, [0], 1000.0), 1000.0),
        (("eStreamRead", 1), no_scans),
        (("eStreamRead", 1), no_scans),
        (("eStreamRead", 1), ([0.5] * 10, 0, 3)),
        (("eStreamStop", 1), None),
        (("writeLibraryConfigS", "LJM_STREAM_SCANS_RETURN", 1.0), None),
        (("writeLibraryConfigS", "LJM_STREAM_RECEIVE_TIMEOUT_MS", 0.0), None),
        (("writeLibraryConfigS", "LJM_STREAM_RECEIVE_TIMEOUT_MODE", 1.0), None),
        (("eWriteNames", 1, 2, ["DIO0_EF_ENABLE", "STREAM_TRIGGER_INDEX"], [0, 0]), None)])
    wave = t7.capture([RING], 0.01, 1000.0, trigger=DioEdge("FIO0"), timeout_s=1.0)["fxs1.ring_v"]
    assert ljm.expected == []
    assert clock.now() == pytest.approx(5.02)  # two polls 10 ms apart
    assert wave.start_s == pytest.approx(5.02 - 0.013)  # 10 scans read and 3 still in LJM's buffer


def test_exchange_a_triggered_stream_that_stops_delivering_is_a_bench_fault():
    """After its first read, a polled stream gives up once scans are STALL_S (1 s) overdue."""
    no_scans = (("eStreamRead", 1), LJMError(errorcodes.NO_SCANS_RETURNED))
    t7, ljm, clock = replay([
        (("nameToAddress", "DIO1"), (2001, 0)),
        (("eWriteNames", 1, 10, ["AIN0_RANGE", "AIN0_NEGATIVE_CH", *STREAM_DEFAULTS, "DIO1_EF_ENABLE",
                                 "DIO1_EF_INDEX", "DIO1_EF_ENABLE"],
          [10.0, 199, 0.0, 0, 32768, 0, 2001, 0, 4, 1]), None),
        (("namesToAddresses", 1, ["AIN0"]), ([0], [3])),
        *[(("readLibraryConfigS", setting), value) for setting, value in LJM_SAVED],
        (("writeLibraryConfigS", "LJM_STREAM_SCANS_RETURN", 2), None),
        (("writeLibraryConfigS", "LJM_STREAM_RECEIVE_TIMEOUT_MS", 0), None),
        (("eStreamStart", 1, 500, 1, [0], 1000.0), 1000.0),
        (("eStreamRead", 1), ([0.5] * 500, 0, 0)),
        *[no_scans] * 150,  # 1.5 s of polls every 10 ms: the read's 0.5 s and STALL_S
        (("eStreamStop", 1), None),
        *[(("writeLibraryConfigS", setting, value), None) for setting, value in LJM_SAVED],
        (("eWriteNames", 1, 2, ["DIO1_EF_ENABLE", "STREAM_TRIGGER_INDEX"], [0, 0]), None)])
    with pytest.raises(BenchFault, match="'eStreamRead': no scans for 1 s after they were due: the stream stalled"):
        t7.capture([RING], 1.0, 1000.0, trigger=DioEdge("FIO1", rising=False))
    assert ljm.expected == []
    assert clock.now() == pytest.approx(5.0 + 1.5)


def test_exchange_relay_set_and_read_back_through_dio_state():
    t7, ljm, _ = replay([
        (("eWriteName", 1, "FIO2", 1), None),
        (("eReadNames", 1, 2, ["DIO_STATE", "DIO_DIRECTION"]), [0b100, 0b100]),
        (("eReadNames", 1, 2, ["DIO_STATE", "DIO_DIRECTION"]), [0b100, 0b000])])
    t7.set_relay("FIO2", True)
    assert t7.relay_closed("FIO2")
    assert not t7.relay_closed("FIO2")  # high, but an input (pulled up): no relay driven
    assert ljm.expected == []


def test_exchange_stream_out_loads_the_loop_and_reads_only_the_inputs():
    inputs = [0.25] * 10
    t7, ljm, _ = replay([
        (("eWriteNames", 1, 7, ["AIN0_RANGE", "AIN0_NEGATIVE_CH", *STREAM_DEFAULTS], [10.0, 199, 0.0, 0, 32768, 0, 0]),
         None),
        (("nameToAddress", "DAC0"), (1000, 3)),
        (("eWriteNames", 1, 5, ["STREAM_OUT0_ENABLE", "STREAM_OUT0_TARGET", "STREAM_OUT0_BUFFER_SIZE",
                                "STREAM_OUT0_ENABLE", "STREAM_OUT0_LOOP_SIZE"], [0, 1000, 8, 1, 3]), None),
        (("eWriteNameArray", 1, "STREAM_OUT0_BUFFER_F32", 3, [0.0, 2.5, 5.0]), None),
        (("eWriteName", 1, "STREAM_OUT0_SET_LOOP", 1), None),
        (("namesToAddresses", 2, ["AIN0", "STREAM_OUT0"]), ([0, 4800], [3, 0])),
        (("eStreamStart", 1, 10, 2, [0, 4800], 1000.0), 1000.0),
        (("eStreamRead", 1), (inputs + [0.0] * 10, 0, 0)),  # LJM's list has room for the output too
        (("eStreamStop", 1), None),
        (("eWriteNames", 1, 1, ["STREAM_OUT0_ENABLE"], [0]), None)])
    wave = t7.capture([RING], 0.01, 1000.0, stream_out=StreamOut(0, [0.0, 2.5, 5.0]))["fxs1.ring_v"]
    assert ljm.expected == []
    np.testing.assert_allclose(wave.samples, 20.0 * 0.25)


def test_exchange_dac_and_read_volts_settings():
    battery = AnalogInput("battery_v", "AIN4", range_v=1.0, scale=20.0)
    t7, ljm, _ = replay([
        (("eWriteName", 1, "DAC1", 1.25), None),
        (("eReadNames", 1, 1, ["DAC1"]), [1.2497]),
        (("eWriteNames", 1, 4, ["AIN4_RANGE", "AIN4_NEGATIVE_CH", "AIN4_RESOLUTION_INDEX", "AIN4_SETTLING_US"],
          [1.0, 199, 5, 100.0]), None),
        (("eReadNames", 1, 1, ["AIN4"]), [0.5])])
    t7.set_dac(1, 1.25)
    assert t7.dac_volts(1) == 1.2497
    assert t7.read_volts(battery, resolution_index=5, settling_us=100.0) == 10.0
    assert ljm.expected == []


def test_exchange_an_ljm_error_mid_stream_is_a_bench_fault_and_the_stream_stops():
    t7, ljm, _ = replay([
        (("eWriteNames", 1, 7, ["AIN0_RANGE", "AIN0_NEGATIVE_CH", *STREAM_DEFAULTS], [10.0, 199, 0.0, 0, 32768, 0, 0]),
         None),
        (("namesToAddresses", 1, ["AIN0"]), ([0], [3])),
        (("eStreamStart", 1, 10, 1, [0], 1000.0), 1000.0),
        (("eStreamRead", 1), LJMError(errorcodes.LJM_BUFFER_FULL)),
        (("eStreamStop", 1), None)])
    with pytest.raises(BenchFault, match=r"^bench fault: LabJack T7 'daq' at ANY:ANY: 'eStreamRead': .*1301"):
        t7.capture([RING], 0.01, 1000.0)
    assert ljm.expected == []


# -- end to end against the simulated T7 ---------------------------------------------------------

@dataclass
class Bench:
    clock: VirtualClock
    sim: SimT7
    ljm: object
    t7: LabJackT7
    coil_log: list = field(default_factory=list)


def make_bench(analog_inputs: dict, digital_inputs: dict | None = None) -> Bench:
    clock = VirtualClock()
    coil_log: list[bool] = []
    wiring = SimWiring(analog_inputs=analog_inputs, relay_coils={"FIO2": coil_log.append})
    sim = SimT7(clock, wiring, np.random.default_rng(7), digital_inputs=digital_inputs)
    ljm = sim_ljm({"jig-daq": sim})
    return Bench(clock, sim, ljm, LabJackT7(ljm, identifier="ANY", name="daq", clock=clock), coil_log)


@pytest.fixture
def bench():
    b = make_bench({"AIN0": sine(RING_PEAK_V, RING_FREQ_HZ), "AIN1": dc(LOOP_SENSE_V), "AIN2": dc(3.0),
                    "AIN3": dc(1.0), "AIN4": dc(BATTERY_INPUT_V), "AIN5": dc(12.0)},
                   {"FIO0": step(RISING_AT_S), "FIO1": step(FALLING_AT_S, rising=False)})
    yield b
    b.t7.close()


def test_identity_from_handle_info_and_firmware_register(bench):
    ident = bench.t7.identity
    assert (ident.maker, ident.model, ident.serial, ident.firmware) == ("LabJack", "T7", "470012345", "1.0299")


def test_opens_by_serial_or_name_and_faults_on_unknown_identifier(bench):
    by_serial = LabJackT7(bench.ljm, identifier="470012345", clock=bench.clock)
    by_name = LabJackT7(bench.ljm, identifier="jig-daq", clock=bench.clock)
    assert by_serial.identity == by_name.identity == bench.t7.identity
    by_serial.close()
    by_name.close()
    with pytest.raises(BenchFault, match=r"470099999.*1227 LJME_DEVICE_NOT_FOUND"):
        LabJackT7(bench.ljm, identifier="470099999", name="daq2")


def test_relay_set_and_read_back_keeps_line_an_output(bench):
    t7, ljm = bench.t7, bench.ljm
    assert not t7.relay_closed("FIO2")  # power-up: an input, even though it reads high
    t7.set_relay("FIO2", True)
    assert t7.relay_closed("FIO2")
    assert t7.relay_closed("FIO2")  # reading back did not turn it into an input
    assert bench.coil_log == [True]
    assert int(ljm.eReadName(t7._handle, "FIO_DIRECTION")) & 0b100
    t7.set_relay("FIO2", False)
    assert not t7.relay_closed("FIO2")
    assert bench.coil_log == [True, False]


def test_single_line_read_turns_the_line_into_an_input(bench):
    """The gotcha relay_closed avoids: eReadName("FIO2") drops the relay."""
    bench.t7.set_relay("FIO2", True)
    bench.ljm.eReadName(bench.t7._handle, "FIO2")
    assert bench.coil_log == [True, False]
    assert not bench.t7.relay_closed("FIO2")


def test_dio_state_shows_a_wired_input_level(bench):
    assert int(bench.ljm.eReadName(bench.t7._handle, "DIO_STATE")) & 0b1 == 0  # FIO0 still low
    bench.clock.sleep(RISING_AT_S)
    assert int(bench.ljm.eReadName(bench.t7._handle, "DIO_STATE")) & 0b1 == 1


def test_dio_number_maps_line_names_and_rejects_non_lines():
    assert dio_number("FIO3") == 3
    assert dio_number("EIO1") == 9
    assert dio_number("MIO2") == 22
    with pytest.raises(ValueError, match="'FIO8' is not a T7 digital line"):
        dio_number("FIO8")


def test_read_volts_through_divider_within_noise(bench):
    battery = AnalogInput("fxs1.battery_v", "AIN4", range_v=10.0, scale=20.0)
    t0 = bench.clock.now()
    volts = bench.t7.read_volts(battery)
    assert volts == pytest.approx(20.0 * BATTERY_INPUT_V, abs=20.0 * 5 * noise_rms_v(10.0, 8))
    assert bench.clock.now() - t0 == pytest.approx(0.0031)  # two LJM calls of 1 ms, 1.1 ms at index 8
    assert int(bench.ljm.eReadName(bench.t7._handle, "AIN4_NEGATIVE_CH")) == 199


def test_read_volts_resolution_index_and_settling_cost_time_and_set_the_input(bench):
    t0 = bench.clock.now()
    bench.t7.read_volts(BATTERY, resolution_index=1, settling_us=500.0)
    assert bench.clock.now() - t0 == pytest.approx(0.002 + 0.00004 + 0.0005)
    assert bench.ljm.eReadNames(bench.t7._handle, 2, ["AIN4_RESOLUTION_INDEX", "AIN4_SETTLING_US"]) == [1, 500]
    with pytest.raises(ValueError, match="resolution index 9 is not a T7 index"):
        bench.t7.read_volts(BATTERY, resolution_index=9)
    with pytest.raises(ValueError, match="settling 60000.0 us is outside the T7's 0-50000 us"):
        bench.t7.read_volts(BATTERY, settling_us=60000.0)


def test_read_volts_differential(bench):
    across = AnalogInput("fxs1.tip_ring_v", "AIN2", range_v=10.0, scale=20.0, negative="AIN3")
    assert bench.t7.read_volts(across) == pytest.approx(20.0 * (3.0 - 1.0), abs=20.0 * 200e-6)


def test_read_volts_rejects_a_non_partner_negative_input_and_a_non_t7_range(bench):
    with pytest.raises(ValueError, match="AIN2-AIN5 is not a T7 differential pair"):
        bench.t7.read_volts(AnalogInput("x", "AIN2", range_v=10.0, negative="AIN5"))
    with pytest.raises(ValueError, match="range_v 5.0 is not a T7 range"):
        bench.t7.read_volts(AnalogInput("x", "AIN2", range_v=5.0))


def test_read_volts_over_range_is_flagged_as_inf(bench):
    over = AnalogInput("fxs1.ring_v", "AIN5", range_v=10.0, scale=20.0)
    assert bench.t7.read_volts(over) == math.inf
    assert bench.t7.read_volts(AnalogInput("fxs1.battery_v", "AIN4", range_v=1.0)) == math.inf
    raw = bench.ljm.eReadName(bench.t7._handle, "AIN4")
    assert raw == pytest.approx(1.01, abs=1e-6)  # the simulated T7 saturates at 1.01 x range


def test_capture_two_inputs(bench):
    t_before = bench.clock.now()
    waves = bench.t7.capture([RING, LOOP], duration_s=2.0, sample_rate_hz=4000.0)
    ring, loop = waves["fxs1.ring_v"], waves["fxs1.loop_i"]

    assert len(ring) == len(loop) == 8000
    assert ring.sample_rate_hz == loop.sample_rate_hz == 4000.0
    assert ring.start_s == loop.start_s
    assert t_before < ring.start_s < t_before + 0.005  # after the configuration and start commands
    assert bench.clock.now() - ring.start_s == pytest.approx(2.0, abs=0.002)
    assert not ring.clipped and not loop.clipped
    assert (ring.unit, loop.unit) == ("V", "A")

    # The samples are the probe at the waveform's own bench times: start_s and rate are right.
    expected_v = 20.0 * sine(RING_PEAK_V, RING_FREQ_HZ)(ring.times_s)
    assert np.max(np.abs(ring.samples - expected_v)) < 20.0 * 2e-3
    assert np.sqrt(2) * np.std(ring.samples) == pytest.approx(20.0 * RING_PEAK_V, rel=0.002)
    spectrum = np.abs(np.fft.rfft(ring.samples * np.hanning(len(ring))))
    assert np.fft.rfftfreq(len(ring), 1 / ring.sample_rate_hz)[np.argmax(spectrum)] == RING_FREQ_HZ
    assert np.mean(loop.samples) == pytest.approx(0.1 * LOOP_SENSE_V, abs=0.1 * 20e-6)


def test_stream_noise_is_labjacks_effective_resolution_and_falls_with_the_index(bench):
    """+-10 V: 16.0 effective bits (305 uV rms) at index 1, 19.1 (36 uV) at index 8."""
    fast = bench.t7.capture([BATTERY], duration_s=0.5, sample_rate_hz=4000.0)["fxs1.battery_v"]
    slow = bench.t7.capture([BATTERY], duration_s=2.0, sample_rate_hz=500.0, resolution_index=8)["fxs1.battery_v"]
    assert np.mean(fast.samples) == pytest.approx(BATTERY_INPUT_V, abs=30e-6)
    assert np.std(fast.samples) == pytest.approx(20 / 2 ** 16.0, rel=0.1)
    assert np.std(slow.samples) == pytest.approx(20 / 2 ** 19.1, rel=0.15)
    assert bench.ljm.eReadName(bench.t7._handle, "STREAM_RESOLUTION_INDEX") == 8


def test_stream_settling_spaces_the_channels_of_a_scan():
    sawtooth = lambda t: 1000.0 * np.mod(np.asarray(t), 0.01) - 5.0  # noqa: E731 - 1 V per ms
    b = make_bench({"AIN0": sawtooth, "AIN2": sawtooth})
    first, second = AnalogInput("a", "AIN0", 10.0), AnalogInput("b", "AIN2", 10.0)
    for settling_us, delay_s in ((0.0, 15e-6), (200.0, 200e-6)):  # automatic: 15 us below 60 kS/s
        waves = b.t7.capture([first, second], 0.2, 1000.0, settling_us=settling_us)
        lag_v = np.median(waves["b"].samples - waves["a"].samples)
        assert lag_v == pytest.approx(1000.0 * delay_s, abs=2e-3)


def test_capture_uses_the_actual_scan_rate(bench):
    wave = bench.t7.capture([LOOP], duration_s=0.5, sample_rate_hz=3000.0)["fxs1.loop_i"]
    assert wave.sample_rate_hz == pytest.approx(40e6 / 13333)  # 40 MHz clock / whole ticks
    assert wave.sample_rate_hz != 3000.0


def test_capture_flags_clipping(bench):
    over = AnalogInput("fxs1.ring_v", "AIN5", range_v=10.0, scale=20.0)
    waves = bench.t7.capture([over, LOOP], duration_s=0.1, sample_rate_hz=1000.0)
    assert waves["fxs1.ring_v"].clipped and not waves["fxs1.loop_i"].clipped


def test_capture_resets_stream_settings_left_on_the_device(bench):
    handle = bench.t7._handle
    bench.ljm.eWriteNames(handle, 2, ["STREAM_TRIGGER_INDEX", "STREAM_CLOCK_SOURCE"], [2000, 2])
    bench.t7.capture([LOOP], duration_s=0.1, sample_rate_hz=1000.0)
    assert bench.ljm.eReadNames(handle, 2, ["STREAM_TRIGGER_INDEX", "STREAM_CLOCK_SOURCE"]) == [0, 0]


def test_stream_chunk_read_after_the_clock_moved_on_is_the_past(bench):
    chunks = bench.t7.stream([RING], sample_rate_hz=4000.0, chunk_s=0.1)
    first = next(chunks)["fxs1.ring_v"]
    bench.clock.sleep(0.5)  # the harness was busy; the T7 kept sampling into its buffer
    second = next(chunks)["fxs1.ring_v"]
    chunks.close()
    assert len(first) == len(second) == 400
    assert second.start_s == pytest.approx(first.start_s + 0.1)
    assert second.start_s + second.duration_s < bench.clock.now() - 0.4
    expected_v = 20.0 * sine(RING_PEAK_V, RING_FREQ_HZ)(second.times_s)
    assert np.max(np.abs(second.samples - expected_v)) < 20.0 * 2e-3


def test_closing_the_stream_stops_it_on_the_device(bench):
    chunks = bench.t7.stream([LOOP], sample_rate_hz=1000.0, chunk_s=0.05)
    next(chunks)
    assert bench.sim.streaming
    chunks.close()
    assert not bench.sim.streaming
    assert bench.t7.read_volts(LOOP) == pytest.approx(0.1 * LOOP_SENSE_V, abs=1e-4)


@pytest.mark.parametrize("inputs, rate_hz, keywords, reason", [
    ([RING, BATTERY], 60e3, {}, "120000 samples/s (2 addresses at 60000 Hz) exceeds the T7's 100000 samples/s "
                                "for a 2-address stream with a +-10 V input at resolution index 1"),
    ([RING, LOOP], 8000.0, {}, "16000 samples/s (2 addresses at 8000 Hz) exceeds the T7's 8200 samples/s "
                               "for a 2-address stream with a +-1 V input at resolution index 1"),
    ([BATTERY], 1000.0, {"resolution_index": 8}, "exceeds the T7's 600 samples/s for a 1-address stream"),
    ([RING], 60e3, {"stream_out": StreamOut(0, [1.0])}, "exceeds the T7's 100000 samples/s for a 2-address"),
    ([RING, AnalogInput("mv", "AIN6", 0.01)], 10.0, {}, "the T7 gives no stream rate for a 2-address stream "
                                                        "with a +-0.01 V input"),
])
def test_a_stream_the_t7_cannot_sustain_is_refused_in_one_line(bench, inputs, rate_hz, keywords, reason):
    with pytest.raises(BenchFault) as refused:
        bench.t7.capture(inputs, 0.1, rate_hz, **keywords)
    assert reason in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(BenchFault, match="exceeds|gives no"):
        next(bench.t7.stream(inputs, rate_hz, 0.1, **keywords))
    assert not bench.sim.streaming


def test_simulated_t7_refuses_what_the_datasheet_does_not_allow(bench):
    ljm, handle = bench.ljm, bench.t7._handle
    addresses = ljm.namesToAddresses(2, ["AIN0", "AIN1"])[0]
    for rate_hz in (60e3, 5000.0):  # 120 kS/s; then 10 kS/s with AIN1 on +-1 V
        ljm.eWriteName(handle, "AIN1_RANGE", 10.0 if rate_hz > 10e3 else 1.0)
        with pytest.raises(ljm.LJMError) as refused:
            ljm.eStreamStart(handle, 100, 2, addresses, rate_hz)
        assert refused.value.errorCode == ljm.errorcodes.COULD_NOT_START_STREAM


def test_an_injected_overflow_is_a_bench_fault_naming_the_t7_and_the_next_capture_is_clean(bench):
    bench.sim.inject_stream_overflow(after_s=0.3)
    with pytest.raises(BenchFault, match=r"^bench fault: LabJack T7 'daq' at ANY:ANY: 'eStreamRead': 1600 scans "
                                         r"are -9999 dummies: the T7's stream buffer overflowed"):
        bench.t7.capture([RING], duration_s=1.0, sample_rate_hz=8000.0)  # scans 2400-18783 lost
    assert not bench.sim.streaming
    assert len(bench.t7.capture([RING], duration_s=1.0, sample_rate_hz=8000.0)["fxs1.ring_v"]) == 8000


def test_growing_backlog_is_a_bench_fault(bench):
    chunks = bench.t7.stream([LOOP], sample_rate_hz=1000.0, chunk_s=0.1)
    with pytest.raises(BenchFault, match="backlog grew on 5 reads in a row"):
        for _ in range(20):
            next(chunks)
            bench.clock.sleep(0.2)  # the consumer takes twice as long as a chunk lasts
    assert not bench.sim.streaming


@pytest.mark.parametrize("pause_s, reason", [
    (19.0, r"deviceScanBacklog 8900 scans: the T7's stream buffer \(16384 scans\) is over half full"),
    (30.0, r"1301 LJME_LJM_BUFFER_FULL"),
])
def test_a_reader_stopped_long_enough_to_lose_scans_is_a_bench_fault(bench, pause_s, reason):
    """LJM's buffer holds 10 s; then the T7's own (32768 bytes = 16384 samples) fills."""
    chunks = bench.t7.stream([LOOP], sample_rate_hz=1000.0, chunk_s=0.1)
    next(chunks)
    bench.clock.sleep(pause_s)
    with pytest.raises(BenchFault, match=rf"'daq' at ANY:ANY: 'eStreamRead': .*{reason}"):
        next(chunks)
    assert not bench.sim.streaming


def probe_slope_v_per_s() -> float:
    return 20.0 * 2 * np.pi * RING_FREQ_HZ * RING_PEAK_V


@pytest.mark.parametrize("edge, at_s, duration_s", [(DioEdge("FIO0"), RISING_AT_S, 0.5),
                                                    (DioEdge("DIO1", rising=False), FALLING_AT_S, 1.2)])
def test_triggered_capture_starts_at_the_edge_to_a_sample(bench, edge, at_s, duration_s):
    wave = bench.t7.capture([RING], duration_s, 8000.0, trigger=edge, timeout_s=5.0)["fxs1.ring_v"]
    sample_s = 1 / wave.sample_rate_hz
    assert 0 <= wave.start_s - at_s < sample_s + TRIGGER_GRID_S  # the T7 looks at the line every 10 us
    expected_v = 20.0 * sine(RING_PEAK_V, RING_FREQ_HZ)(wave.times_s)
    assert np.max(np.abs(wave.samples - expected_v)) < probe_slope_v_per_s() * (sample_s + TRIGGER_GRID_S)
    assert len(wave) == round(duration_s * 8000)  # 1.2 s: three polled reads of 0.4 s
    handle = bench.t7._handle
    assert bench.ljm.eReadNames(handle, 2, ["DIO0_EF_ENABLE", "STREAM_TRIGGER_INDEX"]) == [0, 0]
    assert bench.ljm.readLibraryConfigS("LJM_STREAM_SCANS_RETURN") == constants.STREAM_SCANS_RETURN_ALL
    assert bench.t7.capture([RING], 0.1, 1000.0)["fxs1.ring_v"].start_s > wave.start_s  # untriggered again


def test_triggered_capture_without_its_edge_times_out_as_a_bench_fault(bench):
    with pytest.raises(BenchFault, match=r"'daq' at ANY:ANY: 'eStreamRead': no rising edge on FIO0 within 0.5 s"):
        bench.t7.capture([RING], 0.1, 1000.0, trigger=DioEdge("FIO0"), timeout_s=0.5)
    assert not bench.sim.streaming
    assert bench.clock.now() == pytest.approx(0.6, abs=0.02)  # waited the timeout and a read's worth
    assert bench.ljm.readLibraryConfigS("LJM_STREAM_RECEIVE_TIMEOUT_MODE") == 1  # LJM's setting is back


def test_only_dio0_and_dio1_can_trigger_a_stream(bench):
    with pytest.raises(ValueError, match="FIO4 cannot trigger a T7 stream; only DIO0/DIO1"):
        bench.t7.capture([RING], 0.1, 1000.0, trigger=DioEdge("FIO4"))
    handle = bench.t7._handle
    with pytest.raises(bench.ljm.LJMError) as refused:  # the simulated T7 refuses the feature there too
        bench.ljm.eWriteNames(handle, 2, ["DIO4_EF_INDEX", "DIO4_EF_ENABLE"], [3, 1])
    assert refused.value.errorCode == errorcodes.MBE3_ILLEGAL_DATA_VALUE
    bench.ljm.eWriteNames(handle, 2, ["DIO0_EF_INDEX", "DIO0_EF_ENABLE"], [3, 1])
    with pytest.raises(bench.ljm.LJMError) as refused:  # and a feature changed without disabling it first
        bench.ljm.eWriteName(handle, "DIO0_EF_INDEX", 4)
    assert refused.value.errorCode == errorcodes.MBE3_ILLEGAL_DATA_VALUE


def test_dac_set_and_read_back_and_loopback_into_an_input():
    b = make_bench({})
    b.sim._wiring.analog_inputs["AIN3"] = b.sim.dac_output(0)  # a wire from DAC0 to AIN3
    b.t7.set_dac(0, 2.5)
    assert b.t7.dac_volts(0) == pytest.approx(2.5, abs=5 / 4096)
    assert b.sim.dac_output(0)(np.array([b.clock.now()]))[0] == pytest.approx(2.5, abs=5 / 4096)
    assert b.t7.read_volts(AnalogInput("dac0", "AIN3", 10.0)) == pytest.approx(2.5, abs=2e-3)
    with pytest.raises(ValueError, match="DAC0 cannot output 5.5 V"):
        b.t7.set_dac(0, 5.5)
    with pytest.raises(ValueError, match="DAC2 is not a T7 DAC"):
        b.t7.set_dac(2, 1.0)


def test_stream_out_plays_its_loop_one_value_per_scan_and_holds_the_last():
    b = make_bench({})
    b.sim._wiring.analog_inputs["AIN0"] = b.sim.dac_output(0)
    tone = 2.5 + 2.0 * np.sin(2 * np.pi * np.arange(8) / 8)  # 1 kHz at 8000 scans/s
    b.t7.set_dac(0, 1.0)
    wave = b.t7.capture([AnalogInput("dac0", "AIN0", 10.0)], 0.1, 8000.0, stream_out=StreamOut(0, tone))["dac0"]
    # AIN0 comes first in each scan, DAC0's value of that scan 15 us later: each sample sees the last scan's value.
    assert wave.samples[0] == pytest.approx(1.0, abs=2e-3)
    np.testing.assert_allclose(wave.samples[1:], tone[np.arange(len(wave) - 1) % 8], atol=2e-3)
    assert b.t7.dac_volts(0) == pytest.approx(tone[(len(wave) - 1) % 8], abs=5 / 4096)
    chunks = b.t7.stream([AnalogInput("dac0", "AIN0", 10.0)], 8000.0, 0.01, stream_out=StreamOut(0, tone[::-1]))
    chunk = next(chunks)["dac0"]
    chunks.close()
    np.testing.assert_allclose(chunk.samples[1:], tone[::-1][np.arange(len(chunk) - 1) % 8], atol=2e-3)


def test_invalid_register_name_is_a_bench_fault_naming_it(bench):
    with pytest.raises(BenchFault, match=r"'daq'.*ANY:ANY.*TIP_RANGE.*1294 LJME_INVALID_NAME"):
        bench.t7.read_volts(AnalogInput("fxs1.tip_v", "TIP", range_v=10.0))


def test_sim_ljm_leaves_the_process_wide_wrapper_alone(bench):
    from labjack.ljm import ljm as process_wrapper

    assert bench.ljm is not process_wrapper
    assert bench.ljm.LJMError is not process_wrapper.LJMError
    assert bench.ljm.constants.DUMMY_VALUE == -9999
    assert process_wrapper._staticLib is not bench.ljm._staticLib


def test_the_driver_keeps_up_with_a_simulated_t7_in_real_time():
    result = sustained_stream_rate(scan_rate_hz=8000.0, inputs=2, chunk_s=0.02, duration_s=0.3)
    assert result.scans_read >= 0.3 * 8000
    assert result.busy_s < result.wall_s
    assert result.sustainable_scans_per_s > 8000.0


@pytest.mark.skipif(ctypes.util.find_library("LabJackM") is not None, reason="libLabJackM is installed here")
def test_load_ljm_without_native_library_raises_one_line_and_prints_nothing():
    script = ("from instruments.errors import LjmUnavailable\n"
              "from instruments.labjack_t7 import load_ljm\n"
              "try:\n    load_ljm()\nexcept LjmUnavailable as err:\n"
              "    import sys; sys.stderr.write(str(err))\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO)}, timeout=60)
    assert run.returncode == 0
    assert run.stdout == ""
    assert "\n" not in run.stderr.strip()
    assert "libLabJackM is not installed" in run.stderr and "LabJack's LJM installer" in run.stderr
