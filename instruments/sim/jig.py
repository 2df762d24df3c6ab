"""How each port of the simulated bench is wired on the test jig.

The lead maps the YAML fixture onto these; the line model (`instruments.sim.line`) builds its
circuit from them. Relay lines and analog inputs use LabJack names ("FIO0", "AIN0"); instrument
channels use "instrument:channel" ("psu:1", "gen:1").

Both jigs put the loop-current sense resistor in series with the line, between the port and the
jig node, and measure tip-ring at the jig node (what a phone plugged into the jig sees). The sense
resistor therefore carries every current the jig draws: loads, divider and DMM.
"""

from __future__ import annotations

from dataclasses import dataclass


def _require_positive(owner: str, **values: float) -> None:
    for field_name, value in values.items():
        if not value > 0:
            raise ValueError(f"{owner}: {field_name} must be > 0, got {value!r}")


@dataclass(frozen=True)
class FxsJig:
    """The jig in front of one FXS port (the DUT feeds the line; the jig plays the phone).

    hook_relay: digital line whose relay puts hook_load_ohm across tip-ring (the phone off-hook).
    line_v_ain: analog input that sees tip-ring through a divider of line_v_divider : 1 (line
        volts per input volt) whose total input resistance is divider_input_ohm.
    loop_i_ain / loop_i_negative: analog input(s) across the sense_ohm loop-current resistor;
        loop_i_negative is the other input of a differential pair, or None (single-ended).
    ren_relays: digital lines each switching ren_per_relay REN of ringer load across tip-ring.
    long_loop_relay: digital line whose relay puts long_loop_ohm (a long line) in series with the
        hook load, or None.
    dmm: name of a DMM whose voltage input sits across tip-ring, or None.
    scope: "scope:1" (instrument:channel) of an oscilloscope channel across tip-ring through a
        probe of scope_probe_attenuation : 1, or None.
    dtmf_dac: LabJack DAC ("DAC0") that sends signals as the phone would, or None: the AC part
        of its output, times dtmf_gain, is an emf in series with the hook load (through a
        coupling capacitor and transformer), so the DUT hears it only while off-hook.
    """

    name: str
    hook_relay: str
    line_v_ain: str
    line_v_divider: float
    loop_i_ain: str
    loop_i_negative: str | None
    sense_ohm: float = 10.0
    hook_load_ohm: float = 600.0
    ren_relays: tuple[str, ...] = ()
    ren_per_relay: float = 1.0
    divider_input_ohm: float = 2e6
    dmm: str | None = None
    long_loop_relay: str | None = None
    long_loop_ohm: float = 0.0
    scope: str | None = None
    scope_probe_attenuation: float = 100.0
    dtmf_dac: str | None = None
    dtmf_gain: float = 1.0

    def __post_init__(self) -> None:
        owner = f"FXS jig {self.name!r}"
        if self.long_loop_relay is not None:
            _require_positive(owner, long_loop_ohm=self.long_loop_ohm)
        _require_positive(owner, line_v_divider=self.line_v_divider, sense_ohm=self.sense_ohm,
                          hook_load_ohm=self.hook_load_ohm, ren_per_relay=self.ren_per_relay,
                          divider_input_ohm=self.divider_input_ohm)
        object.__setattr__(self, "ren_relays", tuple(self.ren_relays))
        if len(set(self.relays)) != len(self.relays):
            raise ValueError(f"{owner}: a relay line is used twice in {self.relays}")

    @property
    def relays(self) -> tuple[str, ...]:
        """Every relay line of this jig."""
        return (self.hook_relay, *self.ren_relays, *((self.long_loop_relay,) if self.long_loop_relay else ()))


@dataclass(frozen=True)
class FxoJig:
    """The jig in front of one FXO port (the bench plays the exchange; the DUT takes the line).

    The bench line source is the DC supply channel `supply` in series with the ring amplifier,
    which multiplies the output of generator channel `generator` by amplifier_gain; together they
    feed the DUT through feed_ohm (plus the sense resistor). The measurement inputs are as for
    FxsJig.
    """

    name: str
    supply: str
    generator: str
    amplifier_gain: float
    feed_ohm: float
    line_v_ain: str
    line_v_divider: float
    loop_i_ain: str
    loop_i_negative: str | None
    sense_ohm: float = 10.0
    divider_input_ohm: float = 2e6
    dmm: str | None = None
    scope: str | None = None
    scope_probe_attenuation: float = 100.0

    def __post_init__(self) -> None:
        owner = f"FXO jig {self.name!r}"
        _require_positive(owner, amplifier_gain=self.amplifier_gain,
                          line_v_divider=self.line_v_divider, sense_ohm=self.sense_ohm,
                          divider_input_ohm=self.divider_input_ohm)
        if self.feed_ohm < 0:
            raise ValueError(f"{owner}: feed_ohm must be >= 0, got {self.feed_ohm!r}")
