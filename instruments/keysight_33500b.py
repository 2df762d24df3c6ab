"""Keysight Trueform generators (33500B and 33600A series): one channel as a SignalSource, with
arbitrary waveforms, dual tones and triggered bursts.

The driver works in volts at the generator's output terminals. At open it sets OUTPn:LOAD INF,
so programmed volts are open-circuit volts: what a high-impedance input (the jig's ring
amplifier, a coupling transformer's primary) sees. The jig's gain from there to the line belongs
to the fixture, not to this driver.

    SOUR1:FUNC SIN; SOUR1:FREQ 20; SOUR1:VOLT 2.5; SOUR1:VOLT:OFFS 0     a 20 Hz sine, 2.5 Vpp
    SOUR1:BURS:MODE TRIG; SOUR1:BURS:NCYC 40; SOUR1:BURS:INT:PER 6;
    TRIG1:SOUR IMM; SOUR1:BURS:STAT ON                                  40 cycles every 6 s
    OUTP1 ON

An arbitrary waveform (DTMF, FSK caller ID, a cadenced tone built by harness/dsp) goes up as
16-bit DAC codes, little-endian, into the channel's volatile memory, which is cleared first
because a name cannot be loaded twice:

    SOUR1:DATA:VOL:CLE; FORM:BORD SWAP; SOUR1:DATA:ARB:DAC TIPRING,#<block of int16>;
    SOUR1:FUNC:ARB TIPRING; SOUR1:FUNC:ARB:SRAT 8000; SOUR1:FUNC ARB; SOUR1:VOLT ..; SOUR1:VOLT:OFFS ..

The codes span -32767..+32767 over the samples' own range; amplitude and offset put that range
back in volts. The waveform loops; a burst of N cycles plays it N times.

Dual tones: neither series has a dual-tone function, so set_dual_tone builds one loop of the two
sines as an arbitrary waveform (one channel suffices; summing both channels with COMB:FEED would
cost the second channel and needs a two-channel model).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from harness.dsp.waveform import Waveform
from instruments.errors import BenchFault
from instruments.scpi import ScpiInstrument, scpi_number

DAC_FULL_SCALE = 32767
SOURCE_OHMS = 50.0
MAX_OPEN_PEAK_V = 10.0  # |offset| + Vpp/2 at the open-circuit output
MIN_OPEN_VPP = 0.002
ARB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,11}")
TRIGGER_SOURCES = ("IMM", "BUS", "EXT")


@dataclass(frozen=True)
class ArbLimits:
    """What one channel's volatile memory takes: points per waveform (standard memory, without
    the MEM option) and the highest sample rate, Sa/s."""

    min_points: int
    max_points: int
    max_sample_rate_hz: float


_33500B_20MHZ = ArbLimits(8, 1_000_000, 160e6)
_33500B_30MHZ = ArbLimits(8, 1_000_000, 250e6)
_33600A_80MHZ = ArbLimits(32, 4_000_000, 660e6)
_33600A_120MHZ = ArbLimits(32, 4_000_000, 1e9)

# Model -> (channels, arb limits), from the 33500B and 33600A data sheets as read.
MODEL_LIMITS = {
    "33509B": (1, _33500B_20MHZ), "33510B": (2, _33500B_20MHZ),
    "33511B": (1, _33500B_20MHZ), "33512B": (2, _33500B_20MHZ),
    "33519B": (1, _33500B_30MHZ), "33520B": (2, _33500B_30MHZ),
    "33521B": (1, _33500B_30MHZ), "33522B": (2, _33500B_30MHZ),
    "33611A": (1, _33600A_80MHZ), "33612A": (2, _33600A_80MHZ),
    "33621A": (1, _33600A_120MHZ), "33622A": (2, _33600A_120MHZ),
}


def open_circuit_factor(load_ohms: float) -> float:
    """Programmed volts per open-circuit volt for an OUTP:LOAD setting (1 for INF, 1/2 for 50 ohm)."""
    return 1.0 if math.isinf(load_ohms) else load_ohms / (load_ohms + SOURCE_OHMS)


def arb_dac_codes(samples_v: np.ndarray, min_vpp: float) -> tuple[np.ndarray, float, float]:
    """DAC codes (int16, -32767..+32767) for samples in volts, with the amplitude (Vpp, at
    least min_vpp) and offset (V) that turn the codes back into those volts."""
    high, low = float(np.max(samples_v)), float(np.min(samples_v))
    offset_v = (high + low) / 2
    vpp = max(high - low, min_vpp)
    codes = np.round((samples_v - offset_v) / (vpp / 2) * DAC_FULL_SCALE)
    return np.clip(codes, -DAC_FULL_SCALE, DAC_FULL_SCALE).astype(np.int16), vpp, offset_v


def dual_tone_samples(freq1_hz: float, freq2_hz: float, amplitude1_vpp: float, amplitude2_vpp: float,
                      sample_rate_hz: float, segment_s: float) -> tuple[np.ndarray, float, float]:
    """One loop of two summed sines, in volts, and the frequencies it really holds: each is
    rounded to a whole number of cycles per segment_s (to 1/segment_s Hz) so the loop joins
    without a step. Both sines start at phase 0."""
    count = round(segment_s * sample_rate_hz)
    t = np.arange(count) / sample_rate_hz
    real_s = count / sample_rate_hz
    f1 = round(freq1_hz * real_s) / real_s
    f2 = round(freq2_hz * real_s) / real_s
    samples = (amplitude1_vpp / 2 * np.sin(2 * np.pi * f1 * t)
               + amplitude2_vpp / 2 * np.sin(2 * np.pi * f2 * t))
    return samples, f1, f2


class Keysight33500B(ScpiInstrument):
    """One channel (1 or 2) of a 33500B- or 33600A-series generator; other keyword arguments as
    ScpiInstrument."""

    models = tuple(MODEL_LIMITS)

    def __init__(self, address: str, name: str = "gen", *, channel: int = 1, **kwargs):
        if channel not in (1, 2):
            raise ValueError(f"channel must be 1 or 2, got {channel}")
        self.channel = channel
        self.load_ohms = math.inf
        super().__init__(address, name, **kwargs)

    @property
    def arb_limits(self) -> ArbLimits:
        return MODEL_LIMITS[self.identity.model][1]

    def _configure(self) -> None:
        channels = MODEL_LIMITS[self.identity.model][0]
        if self.channel > channels:
            raise BenchFault(self.name, self.address, "*IDN?",
                             f"the {self.identity.model} has one channel; channel {self.channel} was asked for")
        ch = self.channel
        self.write(f"OUTP{ch}:LOAD INF")
        self.write(f"SOUR{ch}:VOLT:UNIT VPP")

    def set_sine(self, freq_hz: float, amplitude_vpp: float, offset_v: float = 0.0) -> None:
        """A continuous sine of amplitude_vpp (peak to peak) around offset_v, both in volts."""
        ch = self.channel
        frequency = f"SOUR{ch}:FREQ {scpi_number(freq_hz, 'freq_hz')}"
        scpi_number(amplitude_vpp, "amplitude_vpp")
        scpi_number(offset_v, "offset_v")
        self.write(f"SOUR{ch}:FUNC SIN")
        self.write(frequency)
        self._set_amplitude(amplitude_vpp, offset_v)

    def set_arb(self, samples_v: np.ndarray | Waveform, sample_rate_hz: float | None = None,
                name: str = "TIPRING") -> None:
        """Play `samples_v` (volts at the terminals, into the load setting) at sample_rate_hz
        (Sa/s), looping; a Waveform brings its own rate. The channel's other arbs are cleared."""
        samples_v, sample_rate_hz = self._arb_samples(samples_v, sample_rate_hz)
        if not ARB_NAME.fullmatch(name):
            raise ValueError(f"name must be a letter then up to 11 letters, digits or '_', got {name!r}")
        factor = open_circuit_factor(self.load_ohms)
        peak_v = MAX_OPEN_PEAK_V * factor
        if np.max(np.abs(samples_v)) > peak_v:
            raise ValueError(f"samples_v reach {np.max(np.abs(samples_v)):g} V; the output gives "
                             f"at most +-{peak_v:g} V into the {self._load_text()} load")
        codes, vpp, offset_v = arb_dac_codes(samples_v, MIN_OPEN_VPP * factor)
        ch = self.channel
        self.write(f"SOUR{ch}:DATA:VOL:CLE")
        self.write("FORM:BORD SWAP")
        self.write_block(f"SOUR{ch}:DATA:ARB:DAC {name},", codes.astype("<i2").tobytes())
        self.write(f"SOUR{ch}:FUNC:ARB {name}")
        self.write(f"SOUR{ch}:FUNC:ARB:SRAT {scpi_number(sample_rate_hz)}")
        self.write(f"SOUR{ch}:FUNC ARB")
        self._set_amplitude(vpp, offset_v)

    def set_dual_tone(self, freq1_hz: float, freq2_hz: float, amplitude1_vpp: float,
                      amplitude2_vpp: float, *, sample_rate_hz: float = 100e3,
                      segment_s: float = 1.0) -> tuple[float, float]:
        """Two summed sines (a DTMF digit, dial tone) as a looping arbitrary waveform of
        segment_s; returns the frequencies played, each within 1/(2 segment_s) Hz of the asked."""
        for value, what in ((freq1_hz, "freq1_hz"), (freq2_hz, "freq2_hz"), (sample_rate_hz, "sample_rate_hz"),
                            (segment_s, "segment_s")):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{what} must be a finite number > 0, got {value}")
        for value, what in ((amplitude1_vpp, "amplitude1_vpp"), (amplitude2_vpp, "amplitude2_vpp")):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{what} must be a finite number >= 0, got {value}")
        if max(freq1_hz, freq2_hz) * 2 >= sample_rate_hz:
            raise ValueError(f"sample_rate_hz {sample_rate_hz:g} must exceed twice the higher tone")
        samples, f1, f2 = dual_tone_samples(freq1_hz, freq2_hz, amplitude1_vpp, amplitude2_vpp,
                                            sample_rate_hz, segment_s)
        self.set_arb(samples, sample_rate_hz)
        return f1, f2

    def set_burst(self, cycles: int | None, period_s: float = 0.0, trigger: str = "IMM") -> None:
        """`cycles` whole cycles (arbs: passes) per burst; cycles=None turns burst mode off
        (continuous output). trigger "IMM" repeats the burst every period_s seconds on the
        internal timer; "BUS" starts one burst per trigger(); "EXT" one per edge on the rear
        Trig In connector."""
        ch = self.channel
        if cycles is None:
            self.write(f"SOUR{ch}:BURS:STAT OFF")
            return
        if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
            raise ValueError(f"cycles must be a whole number >= 1 (or None), got {cycles!r}")
        if trigger not in TRIGGER_SOURCES:
            raise ValueError(f"trigger must be one of {TRIGGER_SOURCES}, got {trigger!r}")
        if trigger == "IMM" and not period_s > 0:
            raise ValueError(f"period_s must be > 0 for a burst, got {period_s}")
        self.write(f"SOUR{ch}:BURS:MODE TRIG")
        self.write(f"SOUR{ch}:BURS:NCYC {cycles}")
        if trigger == "IMM":
            # The internal burst period only paces bursts when the trigger source is IMMediate.
            self.write(f"SOUR{ch}:BURS:INT:PER {scpi_number(period_s, 'period_s')}")
        self.write(f"TRIG{ch}:SOUR {trigger}")
        self.write(f"SOUR{ch}:BURS:STAT ON")

    def trigger(self) -> None:
        """Start one burst on every channel whose burst trigger is "BUS"."""
        self.write("*TRG")

    def set_output_load(self, load_ohms: float) -> None:
        """The load the programmed volts are into: math.inf (high impedance, the default at
        open) or 1..10000 ohm. Changing it rescales what the programmed numbers mean, not the
        output."""
        if math.isinf(load_ohms) and load_ohms > 0:
            text = "INF"
        elif 1.0 <= load_ohms <= 10e3:
            text = scpi_number(load_ohms)
        else:
            raise ValueError(f"load_ohms must be 1..10000 or math.inf, got {load_ohms}")
        self.write(f"OUTP{self.channel}:LOAD {text}")
        self.load_ohms = float(load_ohms)

    def set_output(self, on: bool) -> None:
        self.write(f"OUTP{self.channel} {'ON' if on else 'OFF'}")

    def _set_amplitude(self, amplitude_vpp: float, offset_v: float) -> None:
        ch = self.channel
        amplitude = f"SOUR{ch}:VOLT {scpi_number(amplitude_vpp, 'amplitude_vpp')}"
        offset = f"SOUR{ch}:VOLT:OFFS {scpi_number(offset_v, 'offset_v')}"
        # Amplitude and offset share the +-10 V output span. Changing the one that does not
        # grow the peak first keeps every intermediate setting inside it (no settings conflict).
        if amplitude_vpp <= self.query_float(f"SOUR{ch}:VOLT?"):
            self.write(amplitude)
            self.write(offset)
        else:
            self.write(offset)
            self.write(amplitude)

    def _arb_samples(self, samples_v, sample_rate_hz: float | None) -> tuple[np.ndarray, float]:
        """The samples as a float array and their rate, checked against the model's memory."""
        if isinstance(samples_v, Waveform):
            if sample_rate_hz is not None and sample_rate_hz != samples_v.sample_rate_hz:
                raise ValueError(f"sample_rate_hz {sample_rate_hz:g} differs from the Waveform's "
                                 f"{samples_v.sample_rate_hz:g}")
            samples_v, sample_rate_hz = samples_v.samples, samples_v.sample_rate_hz
        samples_v = np.asarray(samples_v, dtype=float)
        limits = self.arb_limits
        if sample_rate_hz is None or not (math.isfinite(sample_rate_hz)
                                          and 1e-6 <= sample_rate_hz <= limits.max_sample_rate_hz):
            raise ValueError(f"sample_rate_hz must be 1e-06..{limits.max_sample_rate_hz:g} on the "
                             f"{self.identity.model}, got {sample_rate_hz}")
        if samples_v.ndim != 1 or not limits.min_points <= len(samples_v) <= limits.max_points:
            raise ValueError(f"samples_v must be 1-D with {limits.min_points}..{limits.max_points} points "
                             f"on the {self.identity.model}, got shape {samples_v.shape}")
        if not np.all(np.isfinite(samples_v)):
            raise ValueError("samples_v must all be finite numbers")
        return samples_v, float(sample_rate_hz)

    def _load_text(self) -> str:
        return "high-impedance" if math.isinf(self.load_ohms) else f"{self.load_ohms:g} ohm"
