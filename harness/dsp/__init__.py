"""Signal analysis of sampled tip-ring waveforms: pure numpy/scipy, no I/O."""

from harness.dsp.cadence import (CadenceMatch, Interval, IntervalMatch, Segment, cadence_intervals,
                                 match_cadence, segments)
from harness.dsp.edges import DcStep, dc_step, first_crossing_s, tone_onset_s
from harness.dsp.levels import (ac_rms, crest_factor, dbm_to_vrms, dc_v, on_off_levels, peak, true_rms,
                                vrms_to_dbm)
from harness.dsp.ringing import RingBurst, ring_burst
from harness.dsp.tones import (SinusoidFit, ToneComponent, fit_sinusoids, spectral_peaks_hz, tone_components,
                               tone_envelope, tone_frequency_hz, unwanted_power_db)
from harness.dsp.waveform import Waveform

__all__ = [
    "Waveform",
    # levels
    "dc_v", "ac_rms", "true_rms", "peak", "crest_factor", "vrms_to_dbm", "dbm_to_vrms", "on_off_levels",
    # tones
    "ToneComponent", "SinusoidFit", "tone_frequency_hz", "tone_components", "unwanted_power_db",
    "spectral_peaks_hz", "tone_envelope", "fit_sinusoids",
    # ringing
    "RingBurst", "ring_burst",
    # cadence
    "Segment", "Interval", "IntervalMatch", "CadenceMatch", "segments", "cadence_intervals", "match_cadence",
    # edges
    "DcStep", "first_crossing_s", "dc_step", "tone_onset_s",
]
