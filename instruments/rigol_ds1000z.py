"""Rigol DS1000Z / MSO1000Z oscilloscope (DS1054Z, DS1104Z, ...), from the DS1000Z Programming
Guide. A screen is 12 divisions wide and 8 high; an 8-bit code is 1/25 of a division.

    :CHAN1:PROB 100; :CHAN1:SCAL 50; :CHAN1:OFFS 48       volts at the probe tip; OFFSet moves the
                                                          trace up, so the centre line is -OFFSet
    :TIM:MAIN:SCAL 0.02; :TIM:MAIN:OFFS 0                 s/div; delay trigger -> screen centre
    :TRIG:MODE EDGE; :TRIG:EDG:SOUR CHAN1; :TRIG:EDG:SLOP POS; :TRIG:EDG:LEV -20; :TRIG:SWE NORM
    :ACQ:MDEP 12000                                       memory depth = Sa/s x 12 div x s/div
    :SING, then :TRIG:STAT? until STOP (TD/WAIT/RUN/AUTO/STOP)
    :WAV:SOUR CHAN1; :WAV:MODE RAW; :WAV:FORM BYTE; :WAV:PRE?;
    :WAV:STAR 1; :WAV:STOP 250000; :WAV:DATA?; :WAV:STAR 250001; ...   at most 250 000 BYTE
                                                          (125 000 WORD) points per read

WORD points are two bytes, low byte first, of which only the low 8 bits carry the code: the
DS1000Z digitises to 8 bits, so WORD only doubles the transfer.
"""

from __future__ import annotations

import numpy as np

from instruments.errors import BenchFault
from instruments.scope import (ChannelSettings, ScpiOscilloscope, Record,
                               is_one_two_five, rigol_volts)
from instruments.scpi import scpi_number

# Probe ratios the channel menu offers.
PROBE_RATIOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# Memory depths (points) by number of channels switched on; standard 12 Mpts memory.
MEMORY_DEPTHS = {
    1: (12_000, 120_000, 1_200_000, 12_000_000),
    2: (6_000, 60_000, 600_000, 6_000_000),
    3: (3_000, 30_000, 300_000, 3_000_000),
    4: (3_000, 30_000, 300_000, 3_000_000),
}

# Highest sample rate by number of channels switched on, Sa/s.
MAX_SAMPLE_RATE_HZ = {1: 1e9, 2: 500e6, 3: 250e6, 4: 250e6}

# Most points one :WAV:DATA? may carry in RAW mode.
MAX_POINTS_PER_READ = {"BYTE": 250_000, "WORD": 125_000}

SCREEN_POINTS = 1200
RAILS = (0, 255)  # codes of a trace beyond the ADC's range


def capture_memory_depth(channel_count: int, seconds_per_div: float, sample_rate_hz: float) -> int | None:
    """The smallest memory depth that samples at >= sample_rate_hz at that timebase with that many
    channels on (the rate is depth / (12 x s/div), at most MAX_SAMPLE_RATE_HZ); None if none does."""
    record_s = 12 * seconds_per_div
    for depth in MEMORY_DEPTHS[channel_count]:
        if min(MAX_SAMPLE_RATE_HZ[channel_count], depth / record_s) >= sample_rate_hz * (1 - 1e-9):
            return depth
    return None


def offset_limit_v(volts_per_div: float, probe: float) -> float:
    """Largest |OFFSet| at that scale: 2 V below 500 mV/div, 100 V from there (at 1:1)."""
    return (2.0 if volts_per_div / probe < 0.5 * (1 - 1e-9) else 100.0) * probe


class RigolDs1000z(ScpiOscilloscope):
    """A DS1000Z-series scope; address like "TCPIP::192.0.2.20::5555::SOCKET".

    clock: the bench clock (see ScpiOscilloscope); other arguments as ScpiInstrument.
    """

    models = ("DS1054Z", "DS1074Z", "DS1104Z", "DS1074Z-S", "DS1104Z-S", "DS1074Z Plus",
              "DS1104Z Plus", "DS1074Z-S Plus", "DS1104Z-S Plus", "MSO1074Z", "MSO1104Z",
              "MSO1074Z-S", "MSO1104Z-S")
    horizontal_divisions = 12
    volts_per_div_limits = (1e-3, 10.0)
    seconds_per_div_limits = (5e-9, 50.0)
    _status_query = ":TRIG:STAT?"
    _capture_word = False  # the codes are 8 bits either way
    _edge_node = ":TRIG:EDG"
    _sweeps = ("AUTO", "NORM", "SING")

    # -- channels ------------------------------------------------------------------------------

    def setup_channel(self, channel: int, volts_per_div: float, *, centre_v: float = 0.0,
                      coupling: str = "DC", probe: float = 1.0, bandwidth_limit: bool = False) -> None:
        """Switch the channel on: probe ratio, volts/div (a 1-2-5 step), centre line (volts at
        the probe tip), DC/AC coupling and the 20 MHz bandwidth limit."""
        ch = self._checked_channel(channel)
        if probe not in PROBE_RATIOS:
            raise ValueError(f"{self.name}: probe must be one of {PROBE_RATIOS}, got {probe}")
        coupling = self._checked_choice(coupling, "coupling", ("DC", "AC"))
        self._checked_volts_per_div(volts_per_div, probe)
        if not is_one_two_five(volts_per_div):
            raise ValueError(f"{self.name}: volts_per_div must be a 1-2-5 step (0.1, 0.2, 0.5, 1, ...), "
                             f"got {volts_per_div}")
        limit = offset_limit_v(volts_per_div, probe)
        if not abs(centre_v) <= limit:
            raise ValueError(f"{self.name}: centre_v must be within +-{limit:g} V at {volts_per_div:g} V/div, "
                             f"got {centre_v}")
        self.write(f":CHAN{ch}:DISP ON")
        self.write(f":CHAN{ch}:PROB {scpi_number(probe)}")  # the scale is at the tip: probe first
        self.write(f":CHAN{ch}:SCAL {scpi_number(volts_per_div)}")
        self.write(f":CHAN{ch}:OFFS {scpi_number(-centre_v + 0.0)}")  # the offset range follows the scale
        self.write(f":CHAN{ch}:COUP {coupling}")
        self.write(f":CHAN{ch}:BWL {'20M' if bandwidth_limit else 'OFF'}")

    def channel_settings(self, channel: int) -> ChannelSettings:
        """The channel's settings as the scope reports them."""
        ch = self._checked_channel(channel)
        return ChannelSettings(
            display=self.query(f":CHAN{ch}:DISP?") == "1",
            coupling=self.query(f":CHAN{ch}:COUP?"),
            volts_per_div=self.query_float(f":CHAN{ch}:SCAL?"),
            centre_v=-self.query_float(f":CHAN{ch}:OFFS?") + 0.0,
            probe=self.query_float(f":CHAN{ch}:PROB?"),
            bandwidth_limit=self.query(f":CHAN{ch}:BWL?") == "20M")

    # -- timebase, memory, trigger --------------------------------------------------------------

    def set_timebase(self, seconds_per_div: float, delay_s: float = 0.0) -> None:
        """s/div (a 1-2-5 step) and the delay from the trigger to the screen centre."""
        self._checked_seconds_per_div(seconds_per_div)
        if not is_one_two_five(seconds_per_div):
            raise ValueError(f"{self.name}: seconds_per_div must be a 1-2-5 step, got {seconds_per_div}")
        self._checked_delay(delay_s, seconds_per_div)
        self.write(f":TIM:MAIN:SCAL {scpi_number(seconds_per_div)}")
        self.write(f":TIM:MAIN:OFFS {scpi_number(delay_s)}")

    def timebase(self) -> tuple[float, float]:
        """(s/div, delay from the trigger to the screen centre in s) as the scope reports them."""
        return self.query_float(":TIM:MAIN:SCAL?"), self.query_float(":TIM:MAIN:OFFS?")

    def set_memory_depth(self, points: int | None) -> None:
        """Acquisition memory in points (see MEMORY_DEPTHS; it depends on how many channels are
        on), or None for AUTO."""
        if points is None:
            self.write(":ACQ:MDEP AUTO")
            return
        allowed = sorted({depth for depths in MEMORY_DEPTHS.values() for depth in depths})
        if points not in allowed:
            raise ValueError(f"{self.name}: memory depth must be one of {allowed} (or None for AUTO), got {points}")
        self.write(f":ACQ:MDEP {points}")

    # -- acquisition ---------------------------------------------------------------------------

    def force_trigger(self) -> None:
        self.write(":TFOR")

    def trigger_status(self) -> str:
        """TD (triggered), WAIT, RUN, AUTO or STOP."""
        return self.query(":TRIG:STAT?")

    def _acquisition_state(self) -> tuple[bool, bool, str]:
        status = self.trigger_status()
        return status == "STOP", status in ("WAIT", "AUTO"), f"trigger status {status}"

    def _read_record(self, channel: int, raw: bool, word: bool, points: int | None = None) -> Record:
        """:WAV:DATA? in as many reads as the guide allows, from point 1 to the last (the DS1000Z
        does not decimate a RAW read: points must be None)."""
        assert points is None, "a DS1000Z reads its whole memory"
        form = "WORD" if word else "BYTE"
        self.write(f":WAV:SOUR CHAN{channel}")
        self.write(f":WAV:MODE {'RAW' if raw else 'NORM'}")
        self.write(f":WAV:FORM {form}")
        pre = self._preamble()
        per_read = MAX_POINTS_PER_READ[form] if raw else SCREEN_POINTS
        chunks = []
        for first in range(1, pre.points + 1, per_read):
            last = min(first + per_read - 1, pre.points)
            self.write(f":WAV:STAR {first}")
            self.write(f":WAV:STOP {last}")
            chunks.append(self._block(":WAV:DATA?", last - first + 1, word))
        codes = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
        if len(codes) == 0:
            raise BenchFault(self.name, self.address, ":WAV:PRE?", "the record has no points")
        return Record(rigol_volts(codes, pre), np.isin(codes, RAILS), pre)

    def _check_capture_rate(self, channel_count: int, seconds_per_div: float, sample_rate_hz: float) -> None:
        if capture_memory_depth(channel_count, seconds_per_div, sample_rate_hz) is None:
            most = MEMORY_DEPTHS[channel_count][-1]
            best = min(MAX_SAMPLE_RATE_HZ[channel_count], most / (12 * seconds_per_div))
            raise ValueError(f"{self.name}: {sample_rate_hz:g} Sa/s over {12 * seconds_per_div:g} s needs more "
                             f"than {most} points with {channel_count} channel(s) on (at most {best:g} Sa/s)")

    def _prepare_capture(self, channel_count: int, seconds_per_div: float, sample_rate_hz: float) -> None:
        """The smallest memory depth that gives the rate; the whole memory is read."""
        depth = capture_memory_depth(channel_count, seconds_per_div, sample_rate_hz)
        assert depth is not None, "capture() checked the rate with _check_capture_rate"
        self.set_memory_depth(depth)
