"""Keysight 34461A digital multimeter (Truevolt family) as a Voltmeter and an Ammeter.

Every measurement is one CONFigure (function and range), the integration time, and READ?:

    CONF:VOLT:DC 100        fixed 100 V range (AUTO for autorange)
    VOLT:DC:NPLC 10         integrate over 10 power-line cycles (CONF resets it, so it follows CONF)
    READ?                   -> "-4.79823100E+01"

A reading beyond the range comes back as +-9.9E+37 (overload); the driver returns it as +-inf so
any limit check on it fails rather than passing on a huge number.
"""

from __future__ import annotations

import math

from instruments.scpi import ScpiInstrument, scpi_number

# Integration times the Truevolt meters accept, in power-line cycles.
NPLC_CHOICES = (0.02, 0.2, 1.0, 10.0, 100.0)

# What the meter returns for an overloaded input, in reading units.
OVERLOAD_READING = 9.9e37


def range_parameter(range_: float | None, what: str) -> str:
    """The CONFigure range argument: the expected magnitude, or AUTO for autoranging."""
    if range_ is None:
        return "AUTO"
    if not range_ > 0:
        raise ValueError(f"{what} must be > 0 (or None for autorange), got {range_}")
    return scpi_number(range_, what)


def reading_value(reading: float) -> float:
    """A reading in volts/amperes/hertz, with the overload value turned into +-inf."""
    if abs(reading) >= OVERLOAD_READING:
        return math.copysign(math.inf, reading)
    return reading


class Keysight34461A(ScpiInstrument):
    """A 34461A (or 34460A/34465A/34470A: same commands) on the bench.

    nplc: integration time for DC volts and DC current, in power-line cycles (one of
    NPLC_CHOICES; 10 is the meter's default and rejects mains hum well).
    """

    models = ("34460A", "34461A", "34465A", "34470A")

    def __init__(self, address: str, name: str = "dmm", *, nplc: float = 10.0, **kwargs):
        self.nplc = self._checked_nplc(nplc)
        super().__init__(address, name, **kwargs)

    @staticmethod
    def _checked_nplc(nplc: float) -> float:
        if nplc not in NPLC_CHOICES:
            raise ValueError(f"nplc must be one of {NPLC_CHOICES}, got {nplc}")
        return float(nplc)

    def set_nplc(self, nplc: float) -> None:
        """Integration time for the next DC measurements, in power-line cycles."""
        self.nplc = self._checked_nplc(nplc)

    def measure_dc_volts(self, range_v: float | None = None) -> float:
        """DC volts across HI-LO, averaged over the integration time."""
        self.write(f"CONF:VOLT:DC {range_parameter(range_v, 'range_v')}")
        self.write(f"VOLT:DC:NPLC {scpi_number(self.nplc)}")
        return reading_value(self.query_float("READ?"))

    def measure_ac_volts(self, range_v: float | None = None) -> float:
        """AC-coupled true-RMS volts across HI-LO (the default 20 Hz AC filter, right for ringing)."""
        self.write(f"CONF:VOLT:AC {range_parameter(range_v, 'range_v')}")
        return reading_value(self.query_float("READ?"))

    def measure_dc_amps(self, range_a: float | None = None) -> float:
        """DC amperes through the current terminals, averaged over the integration time."""
        self.write(f"CONF:CURR:DC {range_parameter(range_a, 'range_a')}")
        self.write(f"CURR:DC:NPLC {scpi_number(self.nplc)}")
        return reading_value(self.query_float("READ?"))

    def measure_frequency_hz(self) -> float:
        """Frequency of the AC-coupled signal across HI-LO (ring frequency); 0.0 if there is none."""
        self.write("CONF:FREQ")
        return reading_value(self.query_float("READ?"))
