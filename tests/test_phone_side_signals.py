"""The phone side sends signals (DTMF) onto an FXS line through the jig's LabJack DAC."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench import open_bench
from harness.dsp.dtmf import dtmf_signal
from harness.fixture import load_bench

SIM = Path(__file__).resolve().parent.parent / "fixtures" / "sim.yaml"


@pytest.fixture(scope="module")
def phone_side():  # not `fxs`: that name is the plugin's, parametrized over the bench's ports
    bench = open_bench(load_bench(SIM), SIM)
    try:
        yield bench.fxs("fxs1")
    finally:
        bench.restore_safe_state()
        bench.close()


def test_the_dut_receives_what_the_dac_dials_and_the_capture_shows_it(phone_side):
    phone_side.go_off_hook()
    phone_side.clock.sleep(1.0)
    phone_side.received_digits()
    keys = dtmf_signal("0#", sample_rate_hz=8000.0, level_dbm=-8.0, lead_ms=40, tail_ms=60)
    cap = phone_side.send(keys)
    assert phone_side.received_digits() == "0#"
    assert cap.line_v.duration_s == pytest.approx(keys.duration_s)  # captured while it played
    phone_side.go_on_hook()


@pytest.mark.parametrize("signal, message", [
    (dtmf_signal("1", sample_rate_hz=16_000.0), r"send a signal sampled at 8000 Hz .*not 16000 Hz"),
    (dtmf_signal("1234567890", sample_rate_hz=8000.0, on_ms=60, off_ms=60),
     r"a signal of 1\.240 s does not fit the T7's stream-out loop \(1\.024 s\)"),
    (dtmf_signal("1", sample_rate_hz=8000.0, level_dbm=6.0),
     r"the signal needs -7\.21\.\.12\.31 V at daq:DAC0, beyond its 0-5 V \(lower the level or raise "
     r"dtmf_source\.gain\)"),
])
def test_a_signal_the_dac_cannot_play_is_one_line(phone_side, signal, message):
    with pytest.raises(ValueError, match=message):
        phone_side.send(signal)
