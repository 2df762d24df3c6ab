"""The LabJack T7 driver against the simulated T7, through the real labjack.ljm wrapper code."""

from __future__ import annotations

import ctypes.util
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from instruments.errors import BenchFault
from instruments.labjack_t7 import LabJackT7, port_bit
from instruments.protocols import AnalogInput
from instruments.sim.clock import VirtualClock
from instruments.sim.ljm import SimT7, sim_ljm
from instruments.sim.terminals import SimWiring

REPO = Path(__file__).resolve().parents[1]

RING_FREQ_HZ = 20.0
RING_PEAK_V = 2.0  # at the input; 40 V peak on the line through a 20:1 divider
BATTERY_INPUT_V = 2.4  # 48 V battery through the 20:1 divider
LOOP_SENSE_V = 0.25  # volts across the loop-current sense resistor (10 ohm -> 25 mA)


def sine(peak_v: float, freq_hz: float):
    """Probe: peak_v * sin(2 pi f t), volts at the input, t in bench seconds."""
    return lambda t: peak_v * np.sin(2 * np.pi * freq_hz * np.asarray(t, dtype=float))


def dc(volts: float):
    """Probe: a constant voltage at the input."""
    return lambda t: np.full(np.shape(t), volts, dtype=float)


@dataclass
class Bench:
    clock: VirtualClock
    sim: SimT7
    ljm: object
    t7: LabJackT7
    coil_log: list = field(default_factory=list)


@pytest.fixture
def bench():
    clock = VirtualClock()
    coil_log: list[bool] = []
    wiring = SimWiring(
        analog_inputs={"AIN0": sine(RING_PEAK_V, RING_FREQ_HZ), "AIN1": dc(LOOP_SENSE_V),
                       "AIN2": dc(3.0), "AIN3": dc(1.0), "AIN4": dc(BATTERY_INPUT_V), "AIN5": dc(12.0)},
        relay_coils={"FIO2": coil_log.append})
    sim = SimT7(clock, wiring, np.random.default_rng(7))
    ljm = sim_ljm({"jig-daq": sim})
    t7 = LabJackT7(ljm, identifier="ANY", name="daq", clock=clock)
    yield Bench(clock, sim, ljm, t7, coil_log)
    t7.close()


RING = AnalogInput("fxs1.ring_v", "AIN0", range_v=10.0, scale=20.0)
LOOP = AnalogInput("fxs1.loop_i", "AIN1", range_v=1.0, scale=0.1, unit="A")


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
    direction = int(ljm.eReadName(t7._handle, "FIO_DIRECTION"))
    assert direction & 0b100
    t7.set_relay("FIO2", False)
    assert not t7.relay_closed("FIO2")
    assert bench.coil_log == [True, False]


def test_single_line_read_turns_the_line_into_an_input(bench):
    """The gotcha relay_closed avoids: eReadName("FIO2") drops the relay."""
    bench.t7.set_relay("FIO2", True)
    bench.ljm.eReadName(bench.t7._handle, "FIO2")
    assert bench.coil_log == [True, False]
    assert not bench.t7.relay_closed("FIO2")


def test_port_bit_maps_dio_numbers_and_rejects_non_lines():
    assert port_bit("FIO3") == ("FIO", 3)
    assert port_bit("DIO9") == ("EIO", 1)
    assert port_bit("DIO22") == ("MIO", 2)
    with pytest.raises(ValueError, match="'FIO8' is not a T7 digital line"):
        port_bit("FIO8")


def test_read_volts_through_divider_within_noise(bench):
    battery = AnalogInput("fxs1.battery_v", "AIN4", range_v=10.0, scale=20.0)
    t0 = bench.clock.now()
    volts = bench.t7.read_volts(battery)
    assert volts == pytest.approx(20.0 * BATTERY_INPUT_V, abs=20.0 * 100e-6)
    assert bench.clock.now() - t0 == pytest.approx(0.002)  # two LJM calls of ~1 ms each
    assert int(bench.ljm.eReadName(bench.t7._handle, "AIN4_NEGATIVE_CH")) == 199


def test_read_volts_differential(bench):
    across = AnalogInput("fxs1.tip_ring_v", "AIN2", range_v=10.0, scale=20.0, negative="AIN3")
    assert bench.t7.read_volts(across) == pytest.approx(20.0 * (3.0 - 1.0), abs=20.0 * 100e-6)


def test_read_volts_rejects_a_non_partner_negative_input(bench):
    with pytest.raises(ValueError, match="AIN2-AIN5 is not a T7 differential pair"):
        bench.t7.read_volts(AnalogInput("x", "AIN2", range_v=10.0, negative="AIN5"))


def test_read_volts_over_range_is_flagged_as_inf(bench):
    over = AnalogInput("fxs1.ring_v", "AIN5", range_v=10.0, scale=20.0)
    assert bench.t7.read_volts(over) == math.inf
    assert bench.t7.read_volts(AnalogInput("fxs1.battery_v", "AIN4", range_v=1.0)) == math.inf
    raw = bench.ljm.eReadName(bench.t7._handle, "AIN4")
    assert raw == pytest.approx(1.01, abs=1e-6)  # the simulated T7 saturates at 1.01 x range


def test_capture_two_inputs(bench):
    t_before = bench.clock.now()
    waves = bench.t7.capture([RING, LOOP], duration_s=2.0, sample_rate_hz=8000.0)
    ring, loop = waves["fxs1.ring_v"], waves["fxs1.loop_i"]

    assert len(ring) == len(loop) == 16000
    assert ring.sample_rate_hz == loop.sample_rate_hz == 8000.0
    assert ring.start_s == loop.start_s
    assert t_before < ring.start_s < t_before + 0.005  # after the configuration and start commands
    assert bench.clock.now() - ring.start_s == pytest.approx(2.0, abs=0.002)
    assert not ring.clipped and not loop.clipped
    assert (ring.unit, loop.unit) == ("V", "A")

    # The samples are the probe at the waveform's own bench times: start_s and rate are right.
    expected_v = 20.0 * sine(RING_PEAK_V, RING_FREQ_HZ)(ring.times_s)
    assert np.max(np.abs(ring.samples - expected_v)) < 20.0 * 1e-3
    assert np.sqrt(2) * np.std(ring.samples) == pytest.approx(20.0 * RING_PEAK_V, rel=0.002)
    spectrum = np.abs(np.fft.rfft(ring.samples * np.hanning(len(ring))))
    assert np.fft.rfftfreq(len(ring), 1 / ring.sample_rate_hz)[np.argmax(spectrum)] == RING_FREQ_HZ
    assert np.mean(loop.samples) == pytest.approx(0.1 * LOOP_SENSE_V, abs=0.1 * 20e-6)


def test_simulated_stream_noise_is_the_documented_figure(bench):
    """+-10 V range at stream resolution index 1: 150 uV rms plus 16-bit steps (305 uV) ~ 175 uV."""
    battery = AnalogInput("fxs1.battery_v", "AIN4", range_v=10.0)
    wave = bench.t7.capture([battery], duration_s=0.5, sample_rate_hz=4000.0)["fxs1.battery_v"]
    assert np.mean(wave.samples) == pytest.approx(BATTERY_INPUT_V, abs=20e-6)
    assert 150e-6 < np.std(wave.samples) < 200e-6


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
    assert np.max(np.abs(second.samples - expected_v)) < 20.0 * 1e-3


def test_closing_the_stream_stops_it_on_the_device(bench):
    chunks = bench.t7.stream([LOOP], sample_rate_hz=1000.0, chunk_s=0.05)
    next(chunks)
    assert bench.sim.streaming
    chunks.close()
    assert not bench.sim.streaming
    assert bench.t7.read_volts(LOOP) == pytest.approx(0.1 * LOOP_SENSE_V, abs=1e-4)


def test_over_rate_stream_is_a_bench_fault(bench):
    with pytest.raises(BenchFault, match="120000 samples/s over 2 inputs exceeds the T7's 100000"):
        bench.t7.capture([RING, LOOP], duration_s=0.1, sample_rate_hz=60e3)
    with pytest.raises(BenchFault, match="exceeds"):
        next(bench.t7.stream([RING, LOOP], sample_rate_hz=60e3, chunk_s=0.1))
    assert not bench.sim.streaming


def test_simulated_t7_refuses_over_rate_like_ljm(bench):
    ljm, handle = bench.ljm, bench.t7._handle
    addresses = ljm.namesToAddresses(2, ["AIN0", "AIN1"])[0]
    with pytest.raises(ljm.LJMError) as refused:
        ljm.eStreamStart(handle, 100, 2, addresses, 60e3)
    assert refused.value.errorCode == ljm.errorcodes.COULD_NOT_START_STREAM


def test_lost_scans_are_a_bench_fault_not_silent(bench):
    chunks = bench.t7.stream([RING, LOOP], sample_rate_hz=2000.0, chunk_s=0.1)
    next(chunks)
    bench.sim.overflow_stream_buffer(50)
    with pytest.raises(BenchFault, match="100 samples are -9999 dummies"):
        next(chunks)
    assert not bench.sim.streaming


def test_growing_backlog_is_a_bench_fault(bench):
    chunks = bench.t7.stream([LOOP], sample_rate_hz=1000.0, chunk_s=0.1)
    with pytest.raises(BenchFault, match="backlog grew on 5 reads in a row"):
        for _ in range(20):
            next(chunks)
            bench.clock.sleep(0.2)  # the consumer takes twice as long as a chunk lasts
    assert not bench.sim.streaming


def test_invalid_register_name_is_a_bench_fault_naming_it(bench):
    with pytest.raises(BenchFault, match=r"'daq'.*ANY:ANY.*TIP_RANGE.*1294 LJME_INVALID_NAME"):
        bench.t7.read_volts(AnalogInput("fxs1.tip_v", "TIP", range_v=10.0))


def test_sim_ljm_leaves_the_process_wide_wrapper_alone(bench):
    from labjack.ljm import ljm as process_wrapper

    assert bench.ljm is not process_wrapper
    assert bench.ljm.LJMError is not process_wrapper.LJMError
    assert bench.ljm.constants.DUMMY_VALUE == -9999
    assert process_wrapper._staticLib is not bench.ljm._staticLib


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
