"""One output of a multi-output DC supply as a DcSupply, whatever the maker's command dialect.

A driver is a table of each output's ratings and a table of the commands for each operation
(`rigol_dp832.py`, `keysight_e36312a.py`); this base does the rest the same way for both:
- refuses a setting outside the output's rating with a one-line ValueError before sending it;
- checks the over-voltage protection after every change that can trip it (a new set point, a
  lower protection level, switching the output on) and raises BenchFault if it tripped, since
  the DUT has lost power;
- reads measured volts and amperes as plain numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from instruments.errors import BenchFault
from instruments.scpi import ScpiInstrument, scpi_number


@dataclass(frozen=True)
class OutputRating:
    """What one output can be programmed to: volts and amperes up to max_v and max_a, and an
    over-voltage protection level of ovp_min_v..ovp_max_v."""

    max_v: float
    max_a: float
    ovp_min_v: float
    ovp_max_v: float


@dataclass(frozen=True)
class SupplyCommands:
    """Each operation as the supply spells it: {ch} is the output number, {value} the number or
    ON/OFF. ovp_state None: the protection is always on. tripped_reply: what ovp_tripped answers
    when the protection has tripped."""

    voltage: str
    current: str
    output: str
    ovp_level: str
    ovp_state: str | None
    ovp_tripped: str
    ovp_clear: str
    measure_voltage: str
    measure_current: str
    tripped_reply: str


def _checked(value: float, low: float, high: float, what: str) -> float:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{what} must be {low:g}..{high:g} on this output, got {value}")
    return value


class MultiChannelSupply(ScpiInstrument):
    """One output (`channel`) of a multi-output supply; other keyword arguments as ScpiInstrument.
    Subclasses set `models`, RATINGS (output number -> OutputRating) and COMMANDS."""

    RATINGS: dict[int, OutputRating] = {}
    COMMANDS: SupplyCommands

    def __init__(self, address: str, name: str = "psu", *, channel: int = 1, **kwargs):
        if channel not in self.RATINGS:
            raise ValueError(f"channel must be one of {tuple(self.RATINGS)}, got {channel}")
        self.channel = channel
        super().__init__(address, name, **kwargs)

    @property
    def rating(self) -> OutputRating:
        return self.RATINGS[self.channel]

    def set_voltage(self, volts: float) -> None:
        """Output set point in volts."""
        command = self._command(self.COMMANDS.voltage, _checked(volts, 0.0, self.rating.max_v, "volts"))
        self.write(command)
        self._check_protection(command)

    def set_current_limit(self, amps: float) -> None:
        """Constant-current limit in amperes: above it the output holds the current and its
        voltage falls (CC mode)."""
        self.write(self._command(self.COMMANDS.current, _checked(amps, 0.0, self.rating.max_a, "amps")))

    def set_output(self, on: bool) -> None:
        command = self._command(self.COMMANDS.output, "ON" if on else "OFF")
        self.write(command)
        if on:
            self._check_protection(command)

    def set_overvoltage_protection(self, volts: float) -> None:
        """Switch the output off (and latch it off) if its voltage goes above `volts`."""
        rating = self.rating
        level = _checked(volts, rating.ovp_min_v, rating.ovp_max_v, "volts")
        command = self._command(self.COMMANDS.ovp_level, level)
        self.write(command)
        if self.COMMANDS.ovp_state is not None:
            command = self._command(self.COMMANDS.ovp_state, "ON")
            self.write(command)
        self._check_protection(command)

    def disable_overvoltage_protection(self) -> None:
        """Turn the over-voltage protection off (not every supply can)."""
        if self.COMMANDS.ovp_state is None:
            raise ValueError(f"the {self.identity.model}'s over-voltage protection is always on; "
                             f"set its level to {self.rating.ovp_max_v:g} V instead")
        self.write(self._command(self.COMMANDS.ovp_state, "OFF"))

    def protection_tripped(self) -> bool:
        """True when the over-voltage protection has switched the output off (until cleared)."""
        command = self._command(self.COMMANDS.ovp_tripped)
        return self.query(command).strip().upper() == self.COMMANDS.tripped_reply

    def clear_protection(self) -> None:
        """Clear a tripped protection (lower the set point or raise the level first, or it trips
        again). Whether the output comes back on is the supply's business; see its driver."""
        self.write(self._command(self.COMMANDS.ovp_clear))

    def measure_voltage(self) -> float:
        """Volts at the output terminals."""
        return self.query_float(self._command(self.COMMANDS.measure_voltage))

    def measure_current(self) -> float:
        """Amperes out of the output terminals."""
        return self.query_float(self._command(self.COMMANDS.measure_current))

    def _command(self, template: str, value: float | str = "") -> str:
        text = scpi_number(value) if isinstance(value, float | int) else value
        return template.format(ch=self.channel, value=text)

    def _check_protection(self, command: str) -> None:
        if self.protection_tripped():
            raise BenchFault(self.name, self.address, command,
                             f"over-voltage protection of output {self.channel} tripped; the output is off")
