"""Signal analysis of sampled tip-ring waveforms: pure numpy/scipy, no I/O."""

from harness.dsp.waveform import Waveform

__all__ = ["Waveform"]
