"""Keysight 33500B Trueform generator: one channel as a SignalSource.

On the jig the generator drives the ring amplifier, whose input is high impedance, so the driver
sets OUTPn:LOAD INF at open: programmed volts are then the volts at the amplifier input.

    SOUR1:FUNC SIN; SOUR1:FREQ 20; SOUR1:VOLT 2.5; SOUR1:VOLT:OFFS 0     a 20 Hz sine, 2.5 Vpp
    SOUR1:BURS:MODE TRIG; SOUR1:BURS:NCYC 40; SOUR1:BURS:INT:PER 6;
    TRIG1:SOUR IMM; SOUR1:BURS:STAT ON                                  40 cycles every 6 s
    OUTP1 ON
"""

from __future__ import annotations

from instruments.scpi import ScpiInstrument, scpi_number


class Keysight33500B(ScpiInstrument):
    """One channel (1 or 2) of a 33500B-series generator; other keyword arguments as ScpiInstrument."""

    models = ("33509B", "33510B", "33511B", "33512B", "33519B", "33520B", "33521B", "33522B")

    def __init__(self, address: str, name: str = "gen", *, channel: int = 1, **kwargs):
        if channel not in (1, 2):
            raise ValueError(f"channel must be 1 or 2, got {channel}")
        self.channel = channel
        super().__init__(address, name, **kwargs)

    def _configure(self) -> None:
        ch = self.channel
        self.write(f"OUTP{ch}:LOAD INF")
        self.write(f"SOUR{ch}:VOLT:UNIT VPP")

    def set_sine(self, freq_hz: float, amplitude_vpp: float, offset_v: float = 0.0) -> None:
        """A continuous sine of amplitude_vpp (peak to peak) around offset_v, both in volts."""
        ch = self.channel
        frequency = f"SOUR{ch}:FREQ {scpi_number(freq_hz, 'freq_hz')}"
        amplitude = f"SOUR{ch}:VOLT {scpi_number(amplitude_vpp, 'amplitude_vpp')}"
        offset = f"SOUR{ch}:VOLT:OFFS {scpi_number(offset_v, 'offset_v')}"
        self.write(f"SOUR{ch}:FUNC SIN")
        self.write(frequency)
        # Amplitude and offset share the +-10 V output span. Changing the one that does not
        # grow the peak first keeps every intermediate setting inside it (no settings conflict).
        if amplitude_vpp <= self.query_float(f"SOUR{ch}:VOLT?"):
            self.write(amplitude)
            self.write(offset)
        else:
            self.write(offset)
            self.write(amplitude)

    def set_burst(self, cycles: int | None, period_s: float = 0.0) -> None:
        """`cycles` whole cycles every period_s seconds, repeating on the internal timer;
        cycles=None turns burst mode off (continuous output)."""
        ch = self.channel
        if cycles is None:
            self.write(f"SOUR{ch}:BURS:STAT OFF")
            return
        if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
            raise ValueError(f"cycles must be a whole number >= 1 (or None), got {cycles!r}")
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0 for a burst, got {period_s}")
        self.write(f"SOUR{ch}:BURS:MODE TRIG")
        self.write(f"SOUR{ch}:BURS:NCYC {cycles}")
        self.write(f"SOUR{ch}:BURS:INT:PER {scpi_number(period_s, 'period_s')}")
        # The internal burst period only paces bursts when the trigger source is IMMediate.
        self.write(f"TRIG{ch}:SOUR IMM")
        self.write(f"SOUR{ch}:BURS:STAT ON")

    def set_output(self, on: bool) -> None:
        self.write(f"OUTP{self.channel} {'ON' if on else 'OFF'}")
