"""FXO port compliance: the bench plays the exchange (battery feed, ringing) and watches the port
take the line: ring detection, answer after the provisioned rings, and its off-hook DC point."""

import math

import allure
import pytest

from harness.report import PlotMarks, attach_capture, limit_lines

pytestmark = [allure.epic("FXO port"), pytest.mark.fxo]

BATTERY_SETTLE_S = 1.0  # let the port see an idle line before the first ring
DC_WINDOW_S = 0.3  # off-hook DC point: the mean over the last part of the capture


def ring(fxo, profile, vrms: float, max_rings: int):
    line, ring_sig = profile.signals.fxo_line, profile.signals.ring
    fxo.apply_battery(line.battery_v, line.current_limit_a)
    fxo.clock.sleep(BATTERY_SETTLE_S)
    return fxo.ring_until_answer(vrms, ring_sig.freq_hz, ring_sig.cadence_ms, max_rings=max_rings)


@allure.feature("Ring detection")
@allure.story("Answers after the provisioned number of rings")
@pytest.mark.requirement("FXO-RING-1")
def test_answers_after_configured_rings(fxo, measure, profile):
    rings = fxo.cfg.answer_after_rings
    session = ring(fxo, profile, profile.signals.fxo_line.ring_vrms, max_rings=rings + 2)
    measure("rings_before_answer", session.rings_before_answer if session.answered else None, nominal=rings,
            note="" if session.answered else f"no answer after {rings + 2} rings")
    attach_capture(session.capture, "ringing until answer")


@allure.feature("Ring detection")
@allure.story("Ignores ringing below the must-ignore level")
@pytest.mark.requirement("FXO-RING-2")
def test_ignores_ringing_below_must_ignore(fxo, measure, profile):
    rings = fxo.cfg.answer_after_rings
    session = ring(fxo, profile, profile.signals.fxo_line.must_ignore_vrms, max_rings=rings + 1)
    measure("answered_at_must_ignore", 1.0 if session.answered else 0.0,
            note=f"answered after {session.rings_before_answer} rings" if session.answered else "")
    attach_capture(session.capture, "ringing at the must-ignore level")


@allure.feature("DC characteristic")
@allure.story("Off-hook loop current and DC operating point")
@pytest.mark.requirement("FXO-DC-1", "FXO-DC-2")
def test_off_hook_dc_operating_point(fxo, measure, profile):
    rings = fxo.cfg.answer_after_rings
    session = ring(fxo, profile, profile.signals.fxo_line.ring_vrms, max_rings=rings + 2)
    cap = session.capture
    if not session.answered:
        measure("fxo_loop_current_ma", None, note="the port never went off-hook")
        attach_capture(cap, "no answer")
        return
    end = cap.line_v.start_s + cap.line_v.duration_s
    v_mean = float(cap.line_v.slice_s(end - DC_WINDOW_S, end).samples.mean())
    i_mean = float(cap.loop_i.slice_s(end - DC_WINDOW_S, end).samples.mean())
    volts, loop_ma = abs(v_mean), abs(i_mean) * 1e3  # the mask is on magnitudes, either polarity
    m_i = measure("fxo_loop_current_ma", loop_ma, clipped=cap.loop_i.clipped)
    m_v = measure("fxo_dc_voltage_v", volts, at=loop_ma, clipped=cap.line_v.clipped)
    attach_capture(cap, "off-hook operating point",
                   PlotMarks(line_v=limit_lines(m_v, scale=math.copysign(1, v_mean)),
                             loop_ma=limit_lines(m_i, scale=math.copysign(1, i_mean)),
                             spans=[(end - DC_WINDOW_S, end, f"{volts:.2f} V at {loop_ma:.1f} mA")]))
