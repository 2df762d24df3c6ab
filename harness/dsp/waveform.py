"""The sampled signal every capture produces and every analysis consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Waveform:
    """Uniformly sampled signal.

    samples: values in `unit` (already scaled to the line: volts tip-ring, amperes of loop current).
    sample_rate_hz: samples per second.
    start_s: bench-clock time of the first sample, seconds.
    unit: "V" or "A".
    name: what was captured, e.g. "fxs1.line_v".
    clipped: True when any raw sample hit the input's range (the analysis must not pass such a value).
    """

    samples: np.ndarray
    sample_rate_hz: float
    start_s: float = 0.0
    unit: str = "V"
    name: str = ""
    clipped: bool = False
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", np.asarray(self.samples, dtype=float))
        if self.samples.ndim != 1:
            raise ValueError(f"Waveform {self.name!r}: samples must be 1-D, got shape {self.samples.shape}")
        if not self.sample_rate_hz > 0:
            raise ValueError(f"Waveform {self.name!r}: sample_rate_hz must be > 0, got {self.sample_rate_hz}")

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    @property
    def times_s(self) -> np.ndarray:
        """Bench-clock time of each sample, seconds."""
        return self.start_s + np.arange(len(self.samples)) / self.sample_rate_hz

    def slice_s(self, t0: float, t1: float) -> "Waveform":
        """The part between bench times t0 and t1 (seconds); either may lie outside the capture."""
        n = len(self.samples)
        i0 = int(np.clip(np.ceil((t0 - self.start_s) * self.sample_rate_hz), 0, n))
        i1 = int(np.clip(np.floor((t1 - self.start_s) * self.sample_rate_hz), 0, n))
        return Waveform(self.samples[i0:max(i0, i1)], self.sample_rate_hz,
                        self.start_s + i0 / self.sample_rate_hz, self.unit, self.name, self.clipped, self.meta)
