"""Keysight (Agilent) E3634A DC power supply on its 50 V range, as a DcSupply.

The E3634A has GPIB and RS-232 only; on a LAN bench it sits behind a GPIB or serial gateway,
which pyvisa reaches as an ordinary resource. Over RS-232 it must first be put in remote mode.

    VOLT:RANG P50V          0..50 V at up to 4 A (the 25 V range gives 7 A)
    VOLT 48; CURR 0.1       set point and current limit
    VOLT:PROT 52; VOLT:PROT:STAT ON     over-voltage protection
    OUTP ON
    MEAS:VOLT?              -> "+4.79990000E+01"

If the over-voltage protection trips, the supply switches its output off; the driver checks for
that after every change that can trip it and raises BenchFault, since the DUT has lost power.
"""

from __future__ import annotations

from instruments.errors import BenchFault
from instruments.scpi import ScpiInstrument, scpi_number


class KeysightE3634A(ScpiInstrument):
    """An E3634A on the bench; keyword arguments as ScpiInstrument."""

    models = ("E3634A",)

    def __init__(self, address: str, name: str = "psu", **kwargs):
        super().__init__(address, name, **kwargs)

    def _configure(self) -> None:
        if self.address.upper().startswith("ASRL"):
            self.write("SYST:REM")
        self.write("VOLT:RANG P50V")

    def set_voltage(self, volts: float) -> None:
        """Output set point in volts (0..51.5 on the 50 V range)."""
        command = f"VOLT {scpi_number(volts, 'volts')}"
        self.write(command)
        self._check_protection(command)

    def set_current_limit(self, amps: float) -> None:
        """Constant-current limit in amperes (0..4.12 on the 50 V range)."""
        self.write(f"CURR {scpi_number(amps, 'amps')}")

    def set_output(self, on: bool) -> None:
        command = f"OUTP {'ON' if on else 'OFF'}"
        self.write(command)
        if on:
            self._check_protection(command)

    def set_overvoltage_protection(self, volts: float) -> None:
        """Trip the output off above `volts` (1..55 V)."""
        self.write(f"VOLT:PROT {scpi_number(volts, 'volts')}")
        self.write("VOLT:PROT:STAT ON")

    def protection_tripped(self) -> bool:
        """True when the over-voltage protection has switched the output off."""
        return self.query_float("VOLT:PROT:TRIP?") == 1

    def measure_voltage(self) -> float:
        """Volts at the output terminals."""
        return self.query_float("MEAS:VOLT?")

    def measure_current(self) -> float:
        """Amperes out of the output terminals."""
        return self.query_float("MEAS:CURR?")

    def _check_protection(self, command: str) -> None:
        if self.protection_tripped():
            raise BenchFault(self.name, self.address, command,
                             "over-voltage protection tripped; the output is off")
