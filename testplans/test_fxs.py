"""FXS port compliance, seen from the phone side: DC feed, off-hook detection, ringing, dial tone,
caller ID, DTMF reception.

Every test records measurements against the active profile's limits (`measure`) and attaches its
captures with those limits drawn. Nothing here knows whether the bench is real or simulated.
"""

import math

import allure
import pytest

from harness.dsp.cadence import cadence_intervals, match_cadence, segments
from harness.dsp.callerid import callerid_bursts
from harness.dsp.dtmf import dtmf_signal
from harness.dsp.edges import first_crossing_s, tone_onset_s
from harness.dsp.ringing import ring_burst
from harness.dsp.tones import tone_components
from harness.report import PlotMarks, attach_capture, attach_spectrum, limit_lines

pytestmark = [allure.epic("FXS port"), pytest.mark.fxs]

SETTLE_S = 0.2  # capture this long before acting, so the edge lies inside the capture
EDGE_TRIM_S = 0.05  # analyse a ring burst away from its switching transients


def ring_capture(fxs, profile, cycles: float, caller=None):
    """Ring the port into the profile's REN load and capture `cycles` cadence periods; with a
    caller (the profile's caller_id signal) the call presents its number and name."""
    ring = profile.signals.ring
    fxs.set_ren_load(ring.load_ren)
    period_s = sum(ring.cadence_ms) / 1000.0
    started = {}

    def start_ringing(elapsed, now, chunk):
        if not started and elapsed >= SETTLE_S:
            if caller is None:
                fxs.ring()
            else:
                fxs.ring(caller.number, caller.name)
            started["at"] = now
        return False

    try:
        cap = fxs.record(SETTLE_S + cycles * period_s + 0.3, start_ringing)
    finally:
        fxs.stop_ringing()
    cap.events = [(started["at"], "ring command")]
    try:
        bursts = segments(cap.line_v, band_hz=(ring.freq_hz * 0.5, ring.freq_hz * 3))
    except ValueError:  # no on/off contrast at all: the port did not ring
        bursts = []
    return cap, bursts


def lift_handset(fxs, profile, detect_ma: float):
    """Go off-hook SETTLE_S into a capture; return the capture, the loop-closure time (loop current
    crossing detect_ma), the settled loop current (mA) and the dial-tone onset (nan if none)."""

    def close_hook(elapsed, now, chunk):
        if elapsed >= SETTLE_S and not fxs.off_hook():
            fxs.go_off_hook()
        return False

    cap = fxs.record(SETTLE_S + 1.5, close_hook)
    closed_s = first_crossing_s(cap.loop_i, level=detect_ma / 1e3, rising=True)
    tail = cap.loop_i.slice_s(cap.loop_i.start_s + cap.loop_i.duration_s - 0.5, math.inf)
    onset_s = tone_onset_s(cap.line_v, profile.signals.dial_tone.freqs_hz, after_s=closed_s)
    cap.events = [(closed_s, "loop closed")] + ([] if math.isnan(onset_s) else [(onset_s, "dial tone")])
    return cap, closed_s, abs(float(tail.samples.mean())) * 1e3, onset_s


def first_whole_burst(bursts):
    return next((s for s in bursts if s.on and not s.partial), None)


@allure.feature("DC feed")
@allure.story("On-hook battery voltage")
@pytest.mark.requirement("FXS-FEED-1")
def test_on_hook_battery_voltage(fxs, measure):
    volts, overload = fxs.on_hook_voltage_v()
    m = measure("on_hook_voltage_v", volts, clipped=overload)
    cap = fxs.capture(0.5)
    polarity = -1.0 if cap.line_v.samples.mean() < 0 else 1.0  # limits are on the magnitude
    attach_capture(cap, "idle line", PlotMarks(line_v=limit_lines(m, scale=polarity)))


@allure.feature("Supervision")
@allure.story("Off-hook detection")
@pytest.mark.requirement("FXS-FEED-2", "FXS-SUP-1")
def test_off_hook_detection(fxs, measure, profile):
    cap, closed_s, loop_ma, onset_s = lift_handset(fxs, profile, detect_ma=profile.limit("loop_current_ma").low / 2)
    m_i = measure("loop_current_ma", loop_ma, clipped=cap.loop_i.clipped)
    measure("dial_tone_delay_ms", (onset_s - closed_s) * 1e3)
    measure("dial_tone_present", 0.0 if math.isnan(onset_s) else 1.0)
    attach_capture(cap, "off-hook", PlotMarks(loop_ma=limit_lines(m_i)))


@allure.feature("Supervision")
@allure.story("Off-hook detection on the longest loop")
@pytest.mark.requirement("FXS-SUP-2")
def test_off_hook_detection_on_long_loop(fxs, measure, profile):
    if not fxs.has_long_loop:
        pytest.skip(f"the jig of {fxs.name} has no long-loop resistor (ports.{fxs.name}.long_loop)")
    fxs.set_long_loop(True)
    cap, closed_s, loop_ma, onset_s = lift_handset(fxs, profile, detect_ma=profile.limit("long_loop_current_ma").low / 2)
    m_i = measure("long_loop_current_ma", loop_ma, clipped=cap.loop_i.clipped)
    measure("long_loop_dial_tone_present", 0.0 if math.isnan(onset_s) else 1.0,
            note="" if math.isnan(onset_s) else f"dial tone {(onset_s - closed_s) * 1e3:.0f} ms after loop closure")
    attach_capture(cap, "off-hook on the long loop", PlotMarks(loop_ma=limit_lines(m_i)))


@allure.feature("Call-progress tones")
@allure.story("Dial tone frequencies and level")
@pytest.mark.requirement("FXS-TONE-1", "FXS-TONE-2")
def test_dial_tone(fxs, measure, profile):
    tone = profile.signals.dial_tone
    fxs.go_off_hook()
    fxs.clock.sleep(1.0)  # past any dial-tone delay
    cap = fxs.capture(1.0)
    found = tone_components(cap.line_v, tone.freqs_hz)
    boxes = []
    for nominal, comp in zip(tone.freqs_hz, found):
        m_f = measure("dial_tone_freq_hz", comp.freq_hz, nominal=nominal, label=f"dial_tone_freq_hz[{nominal:g}]",
                      clipped=cap.line_v.clipped)
        m_l = measure("dial_tone_level_dbm", comp.level_dbm, nominal=tone.level_dbm,
                      label=f"dial_tone_level_dbm[{nominal:g}]", clipped=cap.line_v.clipped)
        boxes.append((m_f.limit.low, m_f.limit.high, m_l.limit.low, m_l.limit.high, f"{nominal:g} Hz"))
    attach_capture(cap, "dial tone")
    attach_spectrum(cap.line_v, "dial tone spectrum", boxes)


@allure.feature("Ringing")
@allure.story("Ring voltage, DC offset and crest factor")
@pytest.mark.requirement("FXS-RING-1", "FXS-RING-2", "FXS-RING-3")
def test_ring_voltage(fxs, measure, profile):
    cap, bursts = ring_capture(fxs, profile, cycles=1.0)
    burst = first_whole_burst(bursts)
    if burst is None:
        for key in ("ring_vrms", "ring_dc_offset_v", "ring_crest_factor"):
            measure(key, None, note="no whole ring burst in the capture")
        attach_capture(cap, "ringing")
        return
    w = cap.line_v.slice_s(burst.start_s + EDGE_TRIM_S, burst.end_s - EDGE_TRIM_S)
    rb = ring_burst(w)
    m = measure("ring_vrms", rb.vrms, clipped=w.clipped)
    measure("ring_dc_offset_v", rb.dc_offset_v, clipped=w.clipped)
    measure("ring_crest_factor", rb.crest_factor, clipped=w.clipped)
    peaks = [(rb.dc_offset_v + s * v * math.sqrt(2), f"{'+' if s > 0 else '-'}{v:g} Vrms peak")
             for v in (m.limit.low, m.limit.high) if v is not None for s in (1, -1)]
    attach_capture(cap, "ringing", PlotMarks(line_v=peaks, spans=[(burst.start_s, burst.end_s, f"{rb.vrms:.1f} Vrms")]))


@allure.feature("Ringing")
@allure.story("Ring frequency")
@pytest.mark.requirement("FXS-RING-4")
def test_ring_frequency(fxs, measure, profile):
    cap, bursts = ring_capture(fxs, profile, cycles=1.0)
    burst = first_whole_burst(bursts)
    nominal = profile.signals.ring.freq_hz
    if burst is None:
        measure("ring_freq_hz", None, nominal=nominal, note="no whole ring burst in the capture")
    else:
        w = cap.line_v.slice_s(burst.start_s + EDGE_TRIM_S, burst.end_s - EDGE_TRIM_S)
        measure("ring_freq_hz", ring_burst(w).freq_hz, nominal=nominal, clipped=w.clipped)
    attach_capture(cap, "ringing")


@allure.feature("Ringing")
@allure.story("Ring cadence")
@pytest.mark.requirement("FXS-RING-5")
def test_ring_cadence(fxs, measure, profile):
    pattern = profile.signals.ring.cadence_ms
    cap, bursts = ring_capture(fxs, profile, cycles=2.0)
    intervals = cadence_intervals(bursts)
    match = match_cadence(intervals, pattern) if intervals else None
    pairs = list(match.pairs) if match else []
    # Two whole cycles: every on and off interval of the pattern, twice.
    for k in range(2 * len(pattern)):
        pos = ((match.phase_index if match else 0) + k) % len(pattern)
        label = f"ring_cadence_ms[{'on' if pos % 2 == 0 else 'off'} {pos // 2 + 1}, cycle {k // len(pattern) + 1}]"
        if k < len(pairs):
            measure("ring_cadence_ms", pairs[k].measured_ms, nominal=pairs[k].nominal_ms, label=label)
        else:
            measure("ring_cadence_ms", None, nominal=pattern[pos], label=label, note="interval not found in the capture")
    spans = [(s.start_s, s.end_s, f"{s.duration_ms:.0f} ms") for s in bursts if s.on and not s.partial]
    attach_capture(cap, "ring cadence", PlotMarks(spans=spans))


CALLER_ID_MEASUREMENTS = ("caller_id_message_ok", "caller_id_delay_ms", "caller_id_ring_gap_ms", "caller_id_mark_bits")


def caller_id_verdict(burst, expected) -> tuple[float, str]:
    """1 when the burst carries a valid message of the expected standard with the calling number
    the test call presented, else 0; and what was received, for the report."""
    message = burst.message
    received = (f"{burst.standard} {burst.status}" + (f", {message.kind}, number {message.number!r}, "
                                                      f"name {message.name!r}" if message else ""))
    ok = (burst.standard == expected.standard and burst.status == "ok" and message.number == expected.number)
    return (1.0 if ok else 0.0), received


@allure.feature("Caller ID")
@allure.story("Caller ID after the first ring")
@pytest.mark.requirement("FXS-CID-1", "FXS-CID-2", "FXS-CID-3", "FXS-CID-4")
def test_caller_id_after_first_ring(fxs, measure, profile):
    expected = profile.signals.caller_id
    if expected is None:
        pytest.skip(f"profile {profile.name!r} has no caller_id signal")
    on_ms, off_ms = profile.signals.ring.cadence_ms[:2]
    # The first ring, the silence after it, and the start of the second ring.
    cycles = (on_ms + off_ms + 300.0) / sum(profile.signals.ring.cadence_ms)
    cap, rings = ring_capture(fxs, profile, cycles, caller=expected)
    whole = [s for s in rings if s.on and not s.partial]
    first = whole[0] if whole else None
    second = next((s for s in rings if s.on and first is not None and s.start_s > first.end_s), None)
    if first is None or second is None:
        for key in CALLER_ID_MEASUREMENTS:
            measure(key, None, note="the first two rings were not both found in the capture")
        attach_capture(cap, "ringing with caller ID")
        return
    between = cap.line_v.slice_s(first.end_s, second.start_s)
    found = callerid_bursts(between)
    if not found:
        for key in CALLER_ID_MEASUREMENTS:
            measure(key, None, note="no caller ID burst between the first and second rings")
        attach_capture(cap, "ringing with caller ID")
        return
    burst = found[0]
    ok, received = caller_id_verdict(burst, expected)
    measure("caller_id_message_ok", ok, note=f"expected {expected.standard} {expected.format} number "
                                            f"{expected.number!r}; received {received}")
    measure("caller_id_delay_ms", (burst.start_s - first.end_s) * 1e3)
    measure("caller_id_ring_gap_ms", (second.start_s - burst.end_s) * 1e3)
    measure("caller_id_mark_bits", burst.mark_bits, note=f"channel seizure {burst.seizure_bits} bits, "
                                                          f"level {burst.level_dbm:.1f} dBm across the line")
    attach_capture(cap, "ringing with caller ID", PlotMarks(spans=[
        (first.start_s, first.end_s, "ring 1"), (burst.start_s, burst.end_s, f"caller ID {burst.standard}"),
        (second.start_s, second.end_s, "ring 2")]))


# DTMF reception cases: (measurement, label, keys sent, what the port must report, generator
# settings beyond the profile's nominal ones). Q.24 practice (reference 3.1): accept +-1.5 %,
# reject +-3.5 %; accept 40 ms tones and 40 ms gaps, reject 23 ms; accept twist +4..-8 dB.
DTMF_CASES = [
    ("dtmf_nominal_ok", "123A456B", "123A456B", {}),
    ("dtmf_nominal_ok", "789C*0#D", "789C*0#D", {}),
    ("dtmf_accepts_offset_ok", "+1.5 %", "159D", {"freq_offsets_pct": (1.5, 1.5)}),
    ("dtmf_accepts_offset_ok", "-1.5 %", "260#", {"freq_offsets_pct": (-1.5, -1.5)}),
    ("dtmf_rejects_offset_ok", "+3.5 %", "", {"freq_offsets_pct": (3.5, 3.5)}),
    ("dtmf_rejects_offset_ok", "-3.5 %", "", {"freq_offsets_pct": (-3.5, -3.5)}),
    ("dtmf_timing_ok", "40 ms on, 40 ms off", "1234", {"on_ms": 40.0, "off_ms": 40.0}),
    ("dtmf_timing_ok", "23 ms on", "", {"on_ms": 23.0}),
    ("dtmf_twist_ok", "twist +4 dB", "3", {"twist_db": 4.0}),
    # 4 dB above nominal, so the weaker (high) tone still stands above a dial tone the port has
    # not yet removed (-13 dBm per tone in the US).
    ("dtmf_twist_ok", "twist -8 dB", "9", {"twist_db": -8.0, "level_boost_db": 4.0}),
]
# Keys of the reject cases: sent, but the port must report nothing.
DTMF_REJECT_KEYS = {"+3.5 %": "48", "-3.5 %": "7*", "23 ms on": "5"}


@allure.feature("DTMF")
@allure.story("DTMF reception")
@pytest.mark.requirement("FXS-DTMF-1", "FXS-DTMF-2", "FXS-DTMF-3", "FXS-DTMF-4", "FXS-DTMF-5")
def test_dtmf_reception(fxs, measure, profile):
    nominal = profile.signals.dtmf
    if nominal is None:
        pytest.skip(f"profile {profile.name!r} has no dtmf signal")
    if fxs.cfg.dtmf_source is None:
        pytest.skip(f"the jig of {fxs.name} cannot dial (ports.{fxs.name}.dtmf_source)")
    fxs.go_off_hook()
    fxs.clock.sleep(1.0)  # past any dial-tone delay
    fxs.received_digits()  # what came before the test is not ours
    for key, label, expected, changes in DTMF_CASES:
        changes = dict(changes)
        settings = dict(on_ms=nominal.on_ms, off_ms=nominal.off_ms, twist_db=nominal.twist_db,
                        level_dbm=nominal.level_dbm + changes.pop("level_boost_db", 0.0)) | changes
        keys = DTMF_REJECT_KEYS.get(label, expected)
        cap = fxs.send(dtmf_signal(keys, sample_rate_hz=8000.0, lead_ms=40.0, tail_ms=60.0, **settings))
        received = fxs.received_digits()
        measure(key, 1.0 if received == expected else 0.0, label=f"{key}[{label}]",
                note=f"sent {keys!r}, the port reported {received!r}, expected {expected!r}")
        if received != expected or label == DTMF_CASES[0][1]:  # the first, and any the port got wrong
            attach_capture(cap, f"DTMF sent: {label}")
