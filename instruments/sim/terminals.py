"""What a simulated instrument connects to on the simulated jig.

The line model (`instruments.sim.line`) exposes its circuit nodes through these, and the simulated
instruments (`scpi_instruments.py`, `ljm.py`) see nothing else of it. Every function of time takes
bench (virtual) seconds, which must not lie after `clock.now()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

# Volts (or amperes) at an instrument's input terminals at the given bench times.
Probe = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SourceSetting:
    """A function-generator channel as programmed (what its output terminals carry).

    amplitude_vpp is into the programmed load (the jig's amplifier input is high impedance and
    the generators are set to OUTP:LOAD INF in tipring). With burst_cycles set, the output carries
    that many whole cycles starting at phase 0 at the start of each burst_period_s, else it is
    continuous from `since_s`.
    """

    function: str = "SIN"
    freq_hz: float = 1000.0
    amplitude_vpp: float = 0.1
    offset_v: float = 0.0
    output_on: bool = False
    burst_cycles: int | None = None
    burst_period_s: float = 0.01
    since_s: float = 0.0  # bench time at which this setting took effect


@dataclass(frozen=True)
class SupplySetting:
    """A DC supply channel as programmed."""

    voltage_v: float = 0.0
    current_limit_a: float = 0.1
    output_on: bool = False


class SupplyLoad(Protocol):
    """What a supply's output sees: the model answers the operating point at the present time."""

    def supply_changed(self, setting: SupplySetting) -> None: ...

    def supply_operating_point(self) -> tuple[float, float]:
        """(volts, amps) at the supply's terminals now."""


@dataclass
class SimWiring:
    """Every connection of the simulated jig, keyed the way the instruments name them.

    analog_inputs: LabJack input name ("AIN0") -> probe in volts at that input, single-ended.
    relay_coils: LabJack digital line ("FIO0") -> called with True when the line drives its relay.
    dmm_inputs: DMM name -> probe in volts across its HI/LO terminals.
    dmm_current_inputs: DMM name -> probe in amperes through its current terminals.
    scope_inputs: "scope:1" (instrument name : channel) -> probe in volts at the scope's input
        connector, i.e. after the jig's probe attenuation (the scope's own probe-factor setting
        only rescales what it reports, as on a real scope).
    generator_outputs: "gen:1" (instrument name : channel) -> called on every change of setting.
    supply_outputs: "psu:1" -> the load the supply channel drives.
    """

    analog_inputs: dict[str, Probe] = field(default_factory=dict)
    relay_coils: dict[str, Callable[[bool], None]] = field(default_factory=dict)
    dmm_inputs: dict[str, Probe] = field(default_factory=dict)
    dmm_current_inputs: dict[str, Probe] = field(default_factory=dict)
    scope_inputs: dict[str, Probe] = field(default_factory=dict)
    generator_outputs: dict[str, Callable[[SourceSetting], None]] = field(default_factory=dict)
    supply_outputs: dict[str, SupplyLoad] = field(default_factory=dict)


def unconnected(t: np.ndarray) -> np.ndarray:
    """A floating input: reads (nearly) zero."""
    return np.zeros_like(np.asarray(t, dtype=float))
