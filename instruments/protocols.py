"""The small interfaces the harness drives. Tests never see these directly; roles do.

Drivers implement them (`keysight_34461a.py`, `labjack_t7.py`, ...), and the same drivers run on
the simulated bench, so these are the only seam between the harness and an instrument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

from harness.dsp.waveform import Waveform


@dataclass(frozen=True)
class InstrumentIdentity:
    """Who an instrument says it is (from *IDN? or the device's serial registers)."""

    maker: str
    model: str
    serial: str
    firmware: str

    def __str__(self) -> str:
        return f"{self.maker} {self.model} s/n {self.serial} fw {self.firmware}"


class Instrument(Protocol):
    identity: InstrumentIdentity
    address: str

    def close(self) -> None: ...


class Voltmeter(Instrument, Protocol):
    def measure_dc_volts(self, range_v: float | None = None) -> float:
        """DC volts at the input, averaged over the meter's integration time."""

    def measure_ac_volts(self, range_v: float | None = None) -> float:
        """AC-coupled true-RMS volts at the input."""


class Ammeter(Instrument, Protocol):
    def measure_dc_amps(self, range_a: float | None = None) -> float: ...


@dataclass(frozen=True)
class AnalogInput:
    """One digitizer input as wired on the jig.

    ain: the positive input ("AIN0"); negative: the other input of a differential pair, or None
    for single-ended; range_v: the input range (+-volts); scale: line units per input volt (a
    20:1 divider gives 20.0; a 10 ohm sense resistor gives 0.1 A/V); unit: "V" or "A" on the line.
    """

    name: str
    ain: str
    range_v: float
    scale: float = 1.0
    unit: str = "V"
    negative: str | None = None


class Digitizer(Instrument, Protocol):
    def capture(self, inputs: Sequence[AnalogInput], duration_s: float,
                sample_rate_hz: float) -> dict[str, Waveform]:
        """Sample all inputs together for duration_s; one Waveform per input name."""

    def stream(self, inputs: Sequence[AnalogInput], sample_rate_hz: float,
               chunk_s: float) -> Iterator[dict[str, Waveform]]:
        """Sample continuously, yielding chunk_s of every input at a time; stops when closed."""

    def read_volts(self, inp: AnalogInput) -> float:
        """One command-response reading of an input, scaled to the line."""


class Oscilloscope(Instrument, Protocol):
    """A scope (instruments/scope.py): channels 1..n, volts at the probe tip, times in seconds.

    capture() stands in for Digitizer.capture (inputs with ain "CHAN1"); the rest is the scope's
    own single-shot: set up, arm, wait for the trigger, read the record.
    """

    def capture(self, inputs: Sequence[AnalogInput], duration_s: float,
                sample_rate_hz: float) -> dict[str, Waveform]:
        """Sample all inputs together for duration_s; one Waveform per input name (bench time)."""

    def setup_channel(self, channel: int, volts_per_div: float, *, centre_v: float = 0.0,
                      coupling: str = "DC", probe: float = 1.0, bandwidth_limit: bool = False) -> None:
        """Switch a channel on; centre_v is the volts on the screen's centre line."""

    def set_channel_display(self, channel: int, on: bool) -> None: ...

    def set_timebase(self, seconds_per_div: float, delay_s: float = 0.0) -> None:
        """s/div, and the delay from the trigger to the screen centre (> 0 shows later times)."""

    def set_edge_trigger(self, channel: int, level_v: float, slope: str = "POS", sweep: str = "NORM") -> None: ...

    def arm_single(self) -> None: ...

    def force_trigger(self) -> None: ...

    def wait_for_acquisition(self, timeout_s: float) -> None:
        """Until the record is complete; BenchFault naming the trigger if it never comes."""

    def read_waveform(self, channel: int, *, raw: bool = True, word: bool = False) -> Waveform:
        """The last record of a channel; start_s is seconds from the trigger."""


class RelayBank(Instrument, Protocol):
    def set_relay(self, line: str, closed: bool) -> None:
        """Drive the relay on digital line `line` ("FIO0")."""

    def relay_closed(self, line: str) -> bool:
        """What the line is driving, read back without changing its direction."""


class SignalSource(Instrument, Protocol):
    """A function generator channel (through the jig's amplifier; the role applies the gain)."""

    def set_sine(self, freq_hz: float, amplitude_vpp: float, offset_v: float = 0.0) -> None: ...

    def set_burst(self, cycles: int | None, period_s: float = 0.0) -> None:
        """cycles per burst every period_s; None turns burst mode off (continuous output)."""

    def set_output(self, on: bool) -> None: ...


class DcSupply(Instrument, Protocol):
    def set_voltage(self, volts: float) -> None: ...

    def set_current_limit(self, amps: float) -> None: ...

    def set_output(self, on: bool) -> None: ...

    def measure_voltage(self) -> float: ...

    def measure_current(self) -> float: ...
