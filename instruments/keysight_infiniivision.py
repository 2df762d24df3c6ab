"""Keysight InfiniiVision X-series oscilloscope (DSOX1204G, DSO-X 2000A, DSOX3000T: the same
:WAVeform subsystem), from the InfiniiVision Programmer's Guides. A screen is 10 divisions wide
and 8 high.

    :CHAN1:PROB 100; :CHAN1:SCAL 50; :CHAN1:OFFS -48     volts at the probe tip; OFFSet is the
                                                         value at the screen's centre line
    :TIM:SCAL 0.02; :TIM:POS 0                           s/div; delay trigger -> screen centre
    :TRIG:MODE EDGE; :TRIG:EDGE:SOUR CHAN1; :TRIG:EDGE:SLOP POS; :TRIG:EDGE:LEV -20; :TRIG:SWE NORM
    :SING, then :OPER:COND? until the Run bit (8) clears (the guide's "polling synchronization
        with timeout"; :DIGitize and *OPC? would block the interface until a trigger that may
        never come)
    :WAV:SOUR CHAN1; :WAV:FORM WORD; :WAV:POIN:MODE RAW; :WAV:POIN MAX; :WAV:PRE?; :WAV:DATA?

The driver sets :WAV:UNS ON and :WAV:BYT LSBF at open, so codes are unsigned and low byte first.
Codes 0 are holes (no data), 1 clipped low and 255 / 65535 clipped high. WORD codes carry up to
12 bits (high-resolution acquisition) left-aligned in 16.
"""

from __future__ import annotations

import math

import numpy as np

from instruments.errors import BenchFault
from instruments.scope import ChannelSettings, ScpiOscilloscope, Record, infiniivision_volts
from instruments.scpi import scpi_number

PROBE_RATIO_LIMITS = (0.001, 10_000.0)

# Highest sample rate by number of channels switched on, Sa/s (DSOX1204G: 2 GSa/s half-channel).
MAX_SAMPLE_RATE_HZ = {1: 2e9, 2: 1e9, 3: 1e9, 4: 1e9}

# Points of a screen (NORMal) record.
SCREEN_POINTS = 1000

HOLE = 0
RAILS = {False: (1, 255), True: (1, 65535)}  # BYTE, WORD


def offset_limit_v(volts_per_div: float, probe: float) -> float:
    """Largest |OFFSet|: 2 V up to 200 mV/div, 50 V above (at 1:1) [1000X/2000X data sheets]."""
    return (2.0 if volts_per_div / probe <= 0.2 * (1 + 1e-9) else 50.0) * probe


def _model_names(numbers: tuple[str, ...]) -> tuple[str, ...]:
    """Each model number as *IDN? may spell it: "DSOX3034T", "DSO-X 3034T", "MSOX...", "MSO-X ..."."""
    return tuple(f"{kind}{sep}{number}" for number in numbers for kind in ("DSO", "MSO")
                 for sep in ("X", "-X "))


class KeysightInfiniiVision(ScpiOscilloscope):
    """An InfiniiVision X-series scope; address like "TCPIP::192.0.2.21::5025::SOCKET".

    clock: the bench clock (see ScpiOscilloscope); other arguments as ScpiInstrument.
    capture() switches to high-resolution acquisition and reads WORD codes (up to 12 bits).
    """

    models = _model_names(("1102A", "1102G", "1202A", "1202G", "1204A", "1204G",
                           "2002A", "2004A", "2012A", "2014A", "2022A", "2024A",
                           "3012T", "3014T", "3022T", "3024T", "3032T", "3034T", "3052T", "3054T",
                           "3102T", "3104T"))
    horizontal_divisions = 10
    volts_per_div_limits = (1e-3, 10.0)
    seconds_per_div_limits = (5e-9, 50.0)
    _status_query = ":OPER:COND?"
    _capture_word = True  # high-resolution codes have more than 8 bits
    _edge_node = ":TRIG:EDGE"
    _sweeps = ("AUTO", "NORM")

    def _configure(self) -> None:
        self.write(":WAV:UNS ON")
        self.write(":WAV:BYT LSBF")

    # -- channels ------------------------------------------------------------------------------

    def setup_channel(self, channel: int, volts_per_div: float, *, centre_v: float = 0.0,
                      coupling: str = "DC", probe: float = 1.0, bandwidth_limit: bool = False) -> None:
        """Switch the channel on: probe ratio, volts/div (any value in range), centre line (volts
        at the probe tip), DC/AC coupling and the bandwidth limit (20/25 MHz by model)."""
        ch = self._checked_channel(channel)
        low, high = PROBE_RATIO_LIMITS
        if not low <= probe <= high:
            raise ValueError(f"{self.name}: probe must be {low:g}..{high:g}, got {probe}")
        coupling = self._checked_choice(coupling, "coupling", ("DC", "AC"))
        self._checked_volts_per_div(volts_per_div, probe)
        limit = offset_limit_v(volts_per_div, probe)
        if not abs(centre_v) <= limit:
            raise ValueError(f"{self.name}: centre_v must be within +-{limit:g} V at {volts_per_div:g} V/div, "
                             f"got {centre_v}")
        self.write(f":CHAN{ch}:DISP ON")
        self.write(f":CHAN{ch}:PROB {scpi_number(probe)}")  # the scale is at the tip: probe first
        self.write(f":CHAN{ch}:SCAL {scpi_number(volts_per_div)}")
        self.write(f":CHAN{ch}:OFFS {scpi_number(centre_v)}")  # the offset range follows the scale
        self.write(f":CHAN{ch}:COUP {coupling}")
        self.write(f":CHAN{ch}:BWL {'ON' if bandwidth_limit else 'OFF'}")

    def channel_settings(self, channel: int) -> ChannelSettings:
        """The channel's settings as the scope reports them."""
        ch = self._checked_channel(channel)
        return ChannelSettings(
            display=self.query(f":CHAN{ch}:DISP?") == "1",
            coupling=self.query(f":CHAN{ch}:COUP?"),
            volts_per_div=self.query_float(f":CHAN{ch}:SCAL?"),
            centre_v=self.query_float(f":CHAN{ch}:OFFS?"),
            probe=self.query_float(f":CHAN{ch}:PROB?"),
            bandwidth_limit=self.query(f":CHAN{ch}:BWL?") == "1")

    # -- timebase, acquisition type, trigger ----------------------------------------------------

    def set_timebase(self, seconds_per_div: float, delay_s: float = 0.0) -> None:
        """s/div and the delay from the trigger to the screen centre (:TIM:POS, reference centre)."""
        self._checked_seconds_per_div(seconds_per_div)
        self._checked_delay(delay_s, seconds_per_div)
        self.write(f":TIM:SCAL {scpi_number(seconds_per_div)}")
        self.write(f":TIM:POS {scpi_number(delay_s)}")

    def timebase(self) -> tuple[float, float]:
        """(s/div, delay from the trigger to the screen centre in s) as the scope reports them."""
        return self.query_float(":TIM:SCAL?"), self.query_float(":TIM:POS?")

    def set_acquisition_type(self, kind: str) -> None:
        """NORM (8-bit samples) or HRES (high resolution: averaged to up to 12 bits at slow
        timebases)."""
        self.write(f":ACQ:TYPE {self._checked_choice(kind, 'acquisition type', ('NORM', 'HRES'))}")

    def sample_rate_hz(self) -> float:
        """The sample rate the scope chose for the present timebase and channels."""
        return self.query_float(":ACQ:SRAT?")

    # -- acquisition ---------------------------------------------------------------------------

    def force_trigger(self) -> None:
        self.write(":TRIG:FORC")

    def operation_condition(self) -> int:
        """The Operation Status Condition Register: bit 3 (8) Run, bit 5 (32) Wait Trig."""
        return int(self.query_float(":OPER:COND?"))

    def _acquisition_state(self) -> tuple[bool, bool, str]:
        condition = self.operation_condition()
        return not condition & 8, bool(condition & 32), f"operation condition {condition}"

    def _read_record(self, channel: int, raw: bool, word: bool, points: int | None = None) -> Record:
        """One :WAV:DATA? of the raw acquisition record (all of it, or `points` of it: the scope
        decimates) or of the screen record."""
        self.write(f":WAV:SOUR CHAN{channel}")
        self.write(f":WAV:FORM {'WORD' if word else 'BYTE'}")
        self.write(f":WAV:POIN:MODE {'RAW' if raw else 'NORM'}")
        self.write(f":WAV:POIN {(points or 'MAX') if raw else SCREEN_POINTS}")
        pre = self._preamble()
        codes = self._block(":WAV:DATA?", pre.points, word, little_endian=True)
        holes = int(np.count_nonzero(codes == HOLE))
        if holes:
            raise BenchFault(self.name, self.address, ":WAV:DATA?",
                             f"{holes} of {len(codes)} points are holes (no data acquired)")
        return Record(infiniivision_volts(codes, pre), np.isin(codes, RAILS[word]), pre)

    def _check_capture_rate(self, channel_count: int, seconds_per_div: float, sample_rate_hz: float) -> None:
        if sample_rate_hz > MAX_SAMPLE_RATE_HZ[channel_count]:
            raise ValueError(f"{self.name}: {sample_rate_hz:g} Sa/s is above the {MAX_SAMPLE_RATE_HZ[channel_count]:g} "
                             f"Sa/s of {channel_count} channel(s)")

    def _prepare_capture(self, channel_count: int, seconds_per_div: float, sample_rate_hz: float) -> int:
        """High resolution; then, from the rate the scope chose (its memory sets it), the points
        to read so that the scope's decimation keeps at least sample_rate_hz."""
        self.set_acquisition_type("HRES")
        rate_hz = self.sample_rate_hz()
        if rate_hz < sample_rate_hz * (1 - 1e-9):
            raise BenchFault(self.name, self.address, ":ACQ:SRAT?",
                             f"samples at {rate_hz:g} Sa/s at {seconds_per_div:g} s/div, below the "
                             f"{sample_rate_hz:g} Sa/s asked for (not enough memory)")
        record_points = round(rate_hz * self.horizontal_divisions * seconds_per_div)
        every = max(1, math.floor(rate_hz / sample_rate_hz * (1 + 1e-9)))
        return math.ceil(record_points / every)
