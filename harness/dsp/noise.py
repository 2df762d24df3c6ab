"""White noise at a stated signal-to-noise ratio, for generators, tests and benchmarks.

SNR here is the definition the telephony receivers are specified with: the mean power of the
signal while it is on, against white Gaussian noise over the whole band 0..fs/2 (at 8 kS/s,
0-4 kHz). A gated signal (a DTMF digit, an FSK burst) states its on-power explicitly, because
the mean over a capture that includes silence would understate it.
"""

from __future__ import annotations

import numpy as np


def noise_rms_for_snr(signal_power: float, snr_db: float) -> float:
    """RMS of white noise that sits snr_db below a signal of mean power signal_power (units^2)."""
    if not signal_power > 0:
        raise ValueError(f"signal power must be positive, got {signal_power}")
    return float(np.sqrt(signal_power / 10 ** (snr_db / 10)))


def white_noise(n: int, rms: float, rng: np.random.Generator) -> np.ndarray:
    """n samples of zero-mean white Gaussian noise of the given RMS (same units as the signal)."""
    return rng.normal(0.0, rms, n)


def add_white_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator,
                    signal_power: float | None = None) -> np.ndarray:
    """samples plus white noise at snr_db below signal_power (default: the mean power of samples)."""
    x = np.asarray(samples, dtype=float)
    power = float(np.mean(x**2)) if signal_power is None else signal_power
    return x + white_noise(len(x), noise_rms_for_snr(power, snr_db), rng)
