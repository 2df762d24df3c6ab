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

    function "ARB" plays arb_samples (normalised -1..+1, as the generator's DAC codes / 32767)
    at arb_sample_rate_hz, looping; the output is offset_v + amplitude_vpp / 2 * sample, and one
    burst cycle is one pass through the samples.

    burst_trigger "IMM" paces bursts by burst_period_s from since_s. "BUS" or "EXT": one burst
    starts at each trigger; burst_triggered_s is the bench time of the latest one (None: no
    trigger yet, the output rests at its start-phase level).
    """

    function: str = "SIN"
    freq_hz: float = 1000.0
    amplitude_vpp: float = 0.1
    offset_v: float = 0.0
    output_on: bool = False
    burst_cycles: int | None = None
    burst_period_s: float = 0.01
    since_s: float = 0.0  # bench time at which this setting took effect
    arb_samples: tuple[float, ...] | None = None
    arb_sample_rate_hz: float = 40e3
    burst_trigger: str = "IMM"
    burst_triggered_s: float | None = None

    @property
    def cycle_s(self) -> float:
        """Duration of one cycle of the waveform: 1/freq_hz, or one pass through the arb samples."""
        if self.function.upper() == "ARB":
            return len(self.arb_samples or ()) / self.arb_sample_rate_hz
        return 1.0 / self.freq_hz


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
    dac_outputs: LabJack DAC name ("DAC0") -> probe of that output's AC part as a capacitor-coupled
        circuit sees it, filled by the simulated T7 and read by the jig where a DAC drives a
        signal onto a line.
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
    dac_outputs: dict[str, Probe] = field(default_factory=dict)
    generator_outputs: dict[str, Callable[[SourceSetting], None]] = field(default_factory=dict)
    supply_outputs: dict[str, SupplyLoad] = field(default_factory=dict)


def unconnected(t: np.ndarray) -> np.ndarray:
    """A floating input: reads (nearly) zero."""
    return np.zeros_like(np.asarray(t, dtype=float))


def _waveform_v(setting: SourceSetting, since_start_s: np.ndarray) -> np.ndarray:
    """The repeating waveform (offset included) at times measured from a phase-0 instant."""
    half_vpp = setting.amplitude_vpp / 2
    function = setting.function.upper()
    if function == "SIN":
        return setting.offset_v + half_vpp * np.sin(2 * np.pi * setting.freq_hz * since_start_s)
    if function == "DC":
        return np.full_like(since_start_s, setting.offset_v)
    if function == "ARB":
        if not setting.arb_samples:
            raise ValueError("an ARB source setting needs arb_samples")
        samples = np.asarray(setting.arb_samples, dtype=float)
        # The generator's normal filter smooths between samples; linear interpolation stands in.
        position = np.mod(since_start_s * setting.arb_sample_rate_hz, len(samples))
        wrapped = np.append(samples, samples[0])
        return setting.offset_v + half_vpp * np.interp(position, np.arange(len(wrapped)), wrapped)
    raise ValueError(f"cannot render generator function {setting.function!r} (only SIN, DC, ARB)")


def source_output_v(setting: SourceSetting, times_s: np.ndarray) -> np.ndarray:
    """Volts on a generator output (open circuit) at the given bench times, for times from
    setting.since_s on: 0 V while the output is off; continuous from since_s, or whole bursts
    (at the start-phase level in between) as SourceSetting describes."""
    t = np.asarray(times_s, dtype=float)
    if not setting.output_on:
        return np.zeros_like(t)
    if setting.burst_cycles is None:
        return _waveform_v(setting, t - setting.since_s)
    idle_v = _waveform_v(setting, np.zeros(1))[0]
    on_s = setting.burst_cycles * setting.cycle_s
    if setting.burst_trigger.upper() == "IMM":
        period = setting.burst_period_s
        since_burst = np.mod(t - setting.since_s, period)
        in_burst = (t >= setting.since_s) & (since_burst < min(on_s, period))
    elif setting.burst_triggered_s is None:
        return np.full_like(t, idle_v)
    else:
        since_burst = t - setting.burst_triggered_s
        in_burst = (since_burst >= 0) & (since_burst < on_s)
    return np.where(in_burst, _waveform_v(setting, since_burst), idle_v)
