"""Keysight E36312A triple-output DC supply: one output as a DcSupply (`channel=` 1, 2 or 3).

Outputs (E36300 programming guide; the ratings are the programmable maxima, 3 % over the
nominal): 1 is 6 V/5 A (to 6.18 V/5.15 A), 2 and 3 are 25 V/1 A (to 25.75 V/1.03 A). Every
command names its output with a channel list:

    VOLT 24,(@2); CURR 0.1,(@2)               set point and current limit of output 2
    VOLT:PROT 26,(@2)                          over-voltage protection level
    OUTP ON,(@2)
    MEAS:VOLT? (@2)                            -> "+2.39990000E+01"
    VOLT:PROT:TRIP? (@2)                       -> "0" (1 once tripped)
    OUTP:PROT:CLE (@2)                         clear a trip

The E36300's over-voltage protection is always on (there is no state command), so
disable_overvoltage_protection is refused; a level of ovp_max_v is as close to off as it gets.
Clearing a trip restores the output to the state it had before the trip (it comes back on).
The protection levels here are assumed (10 % over the nominal rating), not from the guide.
"""

from __future__ import annotations

from instruments.multichannel_supply import MultiChannelSupply, OutputRating, SupplyCommands


class KeysightE36312A(MultiChannelSupply):
    """One output of an E36312A on the bench; keyword arguments as MultiChannelSupply."""

    models = ("E36312A",)
    RATINGS = {1: OutputRating(6.18, 5.15, 0.5, 6.6),
               2: OutputRating(25.75, 1.03, 0.5, 27.5),
               3: OutputRating(25.75, 1.03, 0.5, 27.5)}
    COMMANDS = SupplyCommands(
        voltage="VOLT {value},(@{ch})",
        current="CURR {value},(@{ch})",
        output="OUTP {value},(@{ch})",
        ovp_level="VOLT:PROT {value},(@{ch})",
        ovp_state=None,
        ovp_tripped="VOLT:PROT:TRIP? (@{ch})",
        ovp_clear="OUTP:PROT:CLE (@{ch})",
        measure_voltage="MEAS:VOLT? (@{ch})",
        measure_current="MEAS:CURR? (@{ch})",
        tripped_reply="1",
    )
