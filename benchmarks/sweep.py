"""What the benchmarks read off an SNR sweep."""

from __future__ import annotations


def lowest_snr_holding(rates: dict[float, float], required: float) -> float | None:
    """Lowest SNR of the sweep from which the rate is >= required at that and every higher SNR;
    None when even the highest SNR falls short."""
    lowest = None
    for snr in sorted(rates, reverse=True):
        if rates[snr] < required:
            break
        lowest = snr
    return lowest
