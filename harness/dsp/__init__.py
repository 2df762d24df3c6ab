"""Signal analysis of sampled tip-ring waveforms: pure numpy/scipy, no I/O."""

from harness.dsp.cadence import (CadenceMatch, Interval, IntervalMatch, Segment, cadence_intervals,
                                 match_cadence, segments)
from harness.dsp.callerid import (AlertSignal, CallerIdBurst, CallerIdMessage, CallTime, DtmfClipMessage,
                                  alert_signal, alert_signals, callerid_bursts, callerid_messages, callerid_signal,
                                  dtmf_clip_digits, dtmf_clip_messages, etsi_call_setup, mdmf, parse_callerid_message,
                                  parse_dtmf_clip, sdmf)
from harness.dsp.dtmf import DtmfDigit, DtmfLimits, detect_dtmf, dtmf_digits, dtmf_signal, dtmf_waveform
from harness.dsp.edges import DcStep, dc_step, first_crossing_s, tone_onset_s
from harness.dsp.generate import am_tone, cadence_edges_s, cadence_gate, cadenced, ringing, tone
from harness.dsp.levels import (LevelSummary, ac_rms, crest_factor, dbm0_to_dbm, dbm0_to_vrms, dbm_to_dbm0,
                                dbm_to_vrms, dc_v, level_summary, on_off_levels, peak, true_rms, vrms_to_dbm,
                                vrms_to_dbm0)
from harness.dsp.noise import add_white_noise
from harness.dsp.ringing import RingBurst, ring_burst
from harness.dsp.tones import (AmTone, SinusoidFit, ToneComponent, TonePurity, am_tone_components,
                               fit_frequencies_hz, fit_sinusoids, fundamental_frequency_hz, sinusoid_amplitudes,
                               spectral_peaks_hz, tone_components, tone_envelope, tone_frequency_hz, tone_purity,
                               unwanted_power_db)
from harness.dsp.waveform import Waveform

__all__ = [
    "Waveform",
    # levels
    "dc_v", "ac_rms", "true_rms", "peak", "crest_factor", "LevelSummary", "level_summary", "vrms_to_dbm",
    "dbm_to_vrms", "dbm_to_dbm0", "dbm0_to_dbm", "vrms_to_dbm0", "dbm0_to_vrms", "on_off_levels",
    # tones
    "ToneComponent", "SinusoidFit", "AmTone", "TonePurity", "tone_frequency_hz", "tone_components",
    "am_tone_components", "tone_purity", "unwanted_power_db", "spectral_peaks_hz", "tone_envelope",
    "fit_sinusoids", "sinusoid_amplitudes", "fit_frequencies_hz", "fundamental_frequency_hz",
    # ringing
    "RingBurst", "ring_burst",
    # cadence
    "Segment", "Interval", "IntervalMatch", "CadenceMatch", "segments", "cadence_intervals", "match_cadence",
    # edges
    "DcStep", "first_crossing_s", "dc_step", "tone_onset_s",
    # DTMF
    "DtmfDigit", "DtmfLimits", "detect_dtmf", "dtmf_digits",
    # caller ID
    "CallerIdBurst", "CallerIdMessage", "CallTime", "AlertSignal", "DtmfClipMessage", "callerid_bursts",
    "callerid_messages", "parse_callerid_message", "alert_signals", "dtmf_clip_messages", "parse_dtmf_clip",
    # generators (synthetic signals with known truth)
    "tone", "am_tone", "cadenced", "cadence_gate", "cadence_edges_s", "ringing", "dtmf_signal", "dtmf_waveform",
    "callerid_signal", "sdmf", "mdmf", "etsi_call_setup", "alert_signal", "dtmf_clip_digits", "add_white_noise",
]
