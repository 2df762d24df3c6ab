"""Rigol DP832 triple-output DC supply: one output as a DcSupply (`channel=` 1, 2 or 3).

Outputs (DP800 programming guide; the ratings are the programmable maxima): CH1 and CH2 30 V/3 A
(to 32 V/3.2 A), CH3 5 V/3 A (to 5.3 V/3.2 A). Commands name the output in the header
(SOURce<n>) or as the first parameter (CH<n>):

    :SOUR2:VOLT 48; :SOUR2:CURR 0.1           set point and current limit of CH2
    :OUTP:OVP:VAL CH2,52; :OUTP:OVP CH2,ON     over-voltage protection
    :OUTP CH2,ON
    :MEAS:VOLT? CH2                            -> "47.9990"
    :OUTP:OVP:QUES? CH2                        -> "NO" (YES once tripped)
    :OUTP:MODE? CH2                            -> "CV", "CC" (current limited) or "UR"

A tripped protection switches the output off; :OUTP:OVP:CLEAR clears the trip but leaves the
output off, so switch it on again afterwards.
"""

from __future__ import annotations

from instruments.multichannel_supply import MultiChannelSupply, OutputRating, SupplyCommands


class RigolDP832(MultiChannelSupply):
    """One output of a DP832 (or DP832A) on the bench; keyword arguments as MultiChannelSupply."""

    models = ("DP832", "DP832A")
    RATINGS = {1: OutputRating(32.0, 3.2, 0.01, 33.0),
               2: OutputRating(32.0, 3.2, 0.01, 33.0),
               3: OutputRating(5.3, 3.2, 0.01, 5.5)}
    COMMANDS = SupplyCommands(
        voltage=":SOUR{ch}:VOLT {value}",
        current=":SOUR{ch}:CURR {value}",
        output=":OUTP CH{ch},{value}",
        ovp_level=":OUTP:OVP:VAL CH{ch},{value}",
        ovp_state=":OUTP:OVP CH{ch},{value}",
        ovp_tripped=":OUTP:OVP:QUES? CH{ch}",
        ovp_clear=":OUTP:OVP:CLEAR CH{ch}",
        measure_voltage=":MEAS:VOLT? CH{ch}",
        measure_current=":MEAS:CURR? CH{ch}",
        tripped_reply="YES",
    )

    def regulation_mode(self) -> str:
        """"CV" (holding the set point), "CC" (holding the current limit) or "UR" (neither)."""
        return self.query(f":OUTP:MODE? CH{self.channel}").strip().upper()
