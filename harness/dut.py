"""DUT control: how a test makes the DUT act (ring an FXS port) and learns what it saw.

The simulated DUT is driven through its model; a real DUT through shell command templates from
the bench file (for example an Asterisk `channel originate` that makes an ATA ring its port).
"""

from __future__ import annotations

import shlex
import subprocess
from typing import Protocol

from harness.fixture import CommandControl
from harness.profile import Profile


class DutControlError(RuntimeError):
    """The DUT's management interface did not do what was asked (a bench problem, not a limit)."""


class DutControl(Protocol):
    def provision(self, profile: Profile) -> None:
        """Configure the DUT for the profile's country (ring cadence, tones)."""

    def ring(self, port: str, caller_number: str | None = None, caller_name: str | None = None) -> None:
        """Start an incoming call on FXS port `port`: the DUT rings it until answered or stopped,
        presenting the caller (caller ID) when one is given."""

    def stop_ringing(self, port: str) -> None: ...

    def received_digits(self, port: str) -> str:
        """The DTMF digits the DUT received on FXS port `port` since the last call (off-hook)."""

    def reset(self, port: str) -> None:
        """Clear any call on the port: back to idle."""

    def events(self, port: str) -> list[tuple[float, str]]:
        """What the DUT reports it saw on the port (bench time, event), if it can tell."""


class SimDutControl:
    """Drives the simulated SLIC and DAA models (their management interface, not the line)."""

    def __init__(self, model, port_kinds: dict[str, str]):
        self._model = model
        self._kinds = port_kinds

    def provision(self, profile: Profile) -> None:
        ring, tone = profile.signals.ring, profile.signals.dial_tone
        settings = dict(ring_freq_hz=ring.freq_hz, ring_cadence_ms=tuple(ring.cadence_ms),
                        dial_tone_freqs_hz=tuple(tone.freqs_hz), dial_tone_level_dbm=tone.level_dbm)
        if ring.vrms is not None:
            settings["ring_vrms"] = ring.vrms
        if ring.dc_offset_v is not None:
            settings["ring_dc_offset_v"] = ring.dc_offset_v
        if profile.signals.caller_id is not None:
            settings["caller_id_standard"] = profile.signals.caller_id.standard
            settings["caller_id_format"] = profile.signals.caller_id.format
        for port, kind in self._kinds.items():
            if kind == "fxs":
                self._model.fxs_port(port).provision(**settings)

    def ring(self, port: str, caller_number: str | None = None, caller_name: str | None = None) -> None:
        self._model.fxs_port(port).ring(caller_number, caller_name)

    def stop_ringing(self, port: str) -> None:
        self._model.fxs_port(port).stop_ringing()

    def received_digits(self, port: str) -> str:
        return self._model.fxs_port(port).received_digits()

    def reset(self, port: str) -> None:
        if self._kinds[port] == "fxs":
            self._model.fxs_port(port).stop_ringing()
        else:
            self._model.fxo_port(port).reset()

    def events(self, port: str) -> list[tuple[float, str]]:
        p = self._model.fxs_port(port) if self._kinds[port] == "fxs" else self._model.fxo_port(port)
        return list(p.events())


class CommandDutControl:
    """Runs the bench file's shell templates; {port} and {profile} are substituted, and in `ring`
    {caller_number} and {caller_name} (empty when the test presents no caller)."""

    def __init__(self, spec: CommandControl):
        self._spec = spec
        self._profile = ""

    def _run(self, what: str, template: str | None, port: str = "", **fields: str) -> str:
        if template is None:
            return ""
        cmd = template.format(port=port, profile=self._profile, **fields)
        try:
            done = subprocess.run(shlex.split(cmd), capture_output=True, text=True, timeout=self._spec.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DutControlError(f"DUT control {what}: {cmd!r}: {exc}") from None
        if done.returncode != 0:
            err = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            raise DutControlError(f"DUT control {what}: {cmd!r} exited {done.returncode}: {err[0]}")
        return done.stdout

    def provision(self, profile: Profile) -> None:
        self._profile = profile.name
        self._run("provision", self._spec.provision)

    def ring(self, port: str, caller_number: str | None = None, caller_name: str | None = None) -> None:
        self._run("ring", self._spec.ring, port, caller_number=caller_number or "", caller_name=caller_name or "")

    def stop_ringing(self, port: str) -> None:
        self._run("stop_ringing", self._spec.stop_ringing, port)

    def received_digits(self, port: str) -> str:
        if self._spec.received_digits is None:
            raise DutControlError("DUT control received_digits: the bench file's dut.control has no "
                                  "received_digits command (one that prints the digits the DUT received)")
        return self._run("received_digits", self._spec.received_digits, port).strip()

    def reset(self, port: str) -> None:
        self._run("stop_ringing", self._spec.stop_ringing, port)

    def events(self, port: str) -> list[tuple[float, str]]:
        return []  # a shell template cannot report line events; the harness measures them
