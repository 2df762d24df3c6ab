"""The DMM, the scope and the LabJack on the same tip-ring pair agree within their accuracy.

All three simulators read the one line model, each through its own front end (range,
quantisation, noise, gain error), so on the simulated bench they must agree the way real
instruments do: within the sum of their specified accuracies, never exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.bench import open_bench
from harness.dsp.ringing import ring_burst
from harness.fixture import Bench as BenchFile
from harness.roles import analog_input
from instruments.protocols import AnalogInput

ROOT = Path(__file__).resolve().parent.parent

# One-year accuracy, as fractions: 34461A AC volts 100 V range (0.06 % of reading + 0.03 % of
# range, 10 Hz - 20 kHz); DS1000Z DC gain 3 % of full scale (8 divisions); T7 +-10 V range about
# 0.01 % of span at the input, which the jig's 20:1 divider multiplies.
DMM_AC = (0.0006, 0.0003 * 100)
SCOPE_GAIN_OF_FULL_SCALE = 0.03
T7_INPUT_V = 0.002


@pytest.fixture(scope="module")
def ringing_bench(tmp_path_factory):
    """The simulated bench with the FXS port ringing a long burst (10 s on) into 1 REN."""
    config = yaml.safe_load((ROOT / "fixtures" / "sim.yaml").read_text())
    config["simulation"]["ports"]["fxs1"] = {"ring_cadence_ms": [10_000.0, 4000.0]}
    path = tmp_path_factory.mktemp("bench") / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    bench = open_bench(BenchFile.model_validate(config), path)
    try:
        fxs = bench.fxs("fxs1")
        fxs.set_ren_load(1)
        fxs.ring()
        bench.clock.sleep(0.5)
        yield bench, fxs
    finally:
        bench.restore_safe_state()
        bench.close()


def test_ringing_vrms_agrees_between_dmm_scope_and_labjack(ringing_bench):
    bench, fxs = ringing_bench
    dmm_vrms = fxs.voltmeter.measure_ac_volts(range_v=100.0)
    cfg = fxs.cfg
    daq_w = fxs.daq.capture([analog_input("line", cfg.line_voltage, cfg.line_voltage.divider, "V")], 1.0,
                            8000.0)["line"]
    probe = AnalogInput("scope", f"CHAN{cfg.scope.channel}", range_v=1.2, scale=cfg.scope.probe_attenuation)
    scope_w = bench.instruments[cfg.scope.instrument].capture([probe], 1.0, 10_000.0)["scope"]
    daq_vrms, scope_vrms = ring_burst(daq_w).vrms, ring_burst(scope_w).vrms
    print(f"ringing: DMM {dmm_vrms:.4f}, LabJack {daq_vrms:.4f}, scope {scope_vrms:.4f} Vrms")

    dmm_error = DMM_AC[0] * dmm_vrms + DMM_AC[1]
    # The scope's error is a fraction of its full scale (8 divisions of at least 2 * 1.2 / 8 V),
    # seen on the line through the x100 probe; a Vrms reading carries it once.
    scope_error = SCOPE_GAIN_OF_FULL_SCALE * 8 * (2 * 1.2 / 8) * cfg.scope.probe_attenuation / np.sqrt(2)
    daq_error = T7_INPUT_V * cfg.line_voltage.divider
    assert 40.0 < dmm_vrms < 55.0
    assert abs(daq_vrms - dmm_vrms) <= daq_error + dmm_error
    assert abs(scope_vrms - dmm_vrms) <= scope_error + dmm_error
    # Each front end is its own: the readings agree, but none equals another to the digit.
    assert len({round(v, 4) for v in (dmm_vrms, daq_vrms, scope_vrms)}) == 3


def test_ringing_frequency_agrees_between_dmm_and_captures(ringing_bench):
    bench, fxs = ringing_bench
    dmm_hz = fxs.voltmeter.measure_frequency_hz()
    cfg = fxs.cfg
    daq_w = fxs.daq.capture([analog_input("line", cfg.line_voltage, cfg.line_voltage.divider, "V")], 1.0,
                            8000.0)["line"]
    assert dmm_hz == pytest.approx(20.0, rel=1e-3)
    assert ring_burst(daq_w).freq_hz == pytest.approx(dmm_hz, rel=1e-3)
