"""Bench assembly: from a validated bench file to open drivers, roles, DUT control and safe state.

This is the one place that knows whether a bench is simulated: for `address: sim` it starts the
simulated instruments (SCPI servers on loopback, the LJM stand-in) around a line model and hands
their addresses to the same drivers a real bench uses.
"""

from __future__ import annotations

from pathlib import Path

import pyvisa

from harness.dut import CommandDutControl, DutControl, SimDutControl
from harness.fixture import Bench as BenchFile
from harness.fixture import FixtureError, FxoPort, FxsPort
from harness.roles import FxoLineSide, FxsPhoneSide
from harness.safety import SafeState
from instruments.clock import Clock, MonotonicClock
from instruments.keysight_33500b import Keysight33500B
from instruments.keysight_34461a import Keysight34461A
from instruments.keysight_e3634a import KeysightE3634A
from instruments.keysight_e36312a import KeysightE36312A
from instruments.keysight_infiniivision import KeysightInfiniiVision
from instruments.labjack_t7 import LabJackT7, load_ljm
from instruments.protocols import InstrumentIdentity
from instruments.rigol_dp832 import RigolDP832
from instruments.rigol_ds1000z import RigolDs1000z

SCPI_DRIVERS = {"keysight_34461a": Keysight34461A, "keysight_33500b": Keysight33500B,
                "keysight_e3634a": KeysightE3634A, "rigol_ds1000z": RigolDs1000z,
                "keysight_infiniivision": KeysightInfiniiVision, "keysight_34465a": Keysight34461A,
                "keysight_33600a": Keysight33500B, "rigol_dp832": RigolDP832, "keysight_e36312a": KeysightE36312A}
# The E3634A has one output and its driver takes no channel.
SINGLE_OUTPUT = ("keysight_e3634a",)
# Scopes wait for their trigger on the bench clock (virtual on the simulated bench).
CLOCKED = ("rigol_ds1000z", "keysight_infiniivision")


class Bench:
    """An open bench. Test plans reach it only through roles (`fxs(port)`, `fxo(port)`)."""

    def __init__(self, config: BenchFile, path: Path, clock: Clock, instruments: dict, dut: DutControl,
                 addresses: dict[str, str], simulation=None):
        self.config = config
        self.path = path
        self.clock = clock
        self.instruments = instruments
        self.dut = dut
        self.addresses = addresses
        self.simulation = simulation  # the running simulated bench, or None
        self.safety = SafeState()
        self._roles: dict[str, FxsPhoneSide | FxoLineSide] = {}
        self._register_safe_state()

    @property
    def identities(self) -> dict[str, InstrumentIdentity]:
        return {name: inst.identity for name, inst in self.instruments.items()}

    def _relay_bank(self, ref: str):
        return self.instruments[ref.partition(":")[0]]

    def fxs(self, port: str) -> FxsPhoneSide:
        if port not in self._roles:
            cfg = self.config.ports[port]
            assert isinstance(cfg, FxsPort)
            self._roles[port] = FxsPhoneSide(
                port, cfg, self.instruments[cfg.line_voltage.instrument], self._relay_bank(cfg.hook_relay),
                self.instruments.get(cfg.voltmeter) if cfg.voltmeter else None, self.dut, self.clock)
        return self._roles[port]

    def fxo(self, port: str) -> FxoLineSide:
        if port not in self._roles:
            cfg = self.config.ports[port]
            assert isinstance(cfg, FxoPort)
            self._roles[port] = FxoLineSide(
                port, cfg, self.instruments[cfg.line_voltage.instrument], self.instruments[cfg.battery.supply],
                self.instruments[cfg.ringer.generator],
                self.instruments.get(cfg.voltmeter) if cfg.voltmeter else None, self.clock)
        return self._roles[port]

    def _register_safe_state(self) -> None:
        """Ring sources first, then supplies, then relays: nothing is switched while live."""
        ports = self.config.ports
        for name, p in ports.items():
            self.safety.add(f"{name}: DUT call cleared", lambda n=name: self.dut.reset(n))
        for name, p in ports.items():
            if isinstance(p, FxoPort):
                generator = self.instruments[p.ringer.generator]
                self.safety.add(f"{name}: ring source off", lambda g=generator: g.set_output(False),
                                recover=generator.reconnect)
        for name, p in ports.items():
            if isinstance(p, FxoPort):
                supply = self.instruments[p.battery.supply]
                self.safety.add(f"{name}: battery off", lambda s=supply: s.set_output(False), recover=supply.reconnect)
        for name, p in ports.items():
            if isinstance(p, FxsPort):
                for ref in [p.hook_relay, *p.ren_relays, *([p.long_loop.relay] if p.long_loop else [])]:
                    self.safety.add(f"{name}: relay {ref} open",
                                    lambda r=ref: self._relay_bank(r).set_relay(r.partition(":")[2], False))

    def restore_safe_state(self) -> list[str]:
        return self.safety.restore()

    def close(self) -> None:
        for inst in self.instruments.values():
            try:
                inst.close()
            except Exception:  # noqa: BLE001 - closing the rest matters more
                pass
        if self.simulation is not None:
            self.simulation.stop()


def _driver_options(config: BenchFile, name: str, clock: Clock) -> dict:
    """Keyword arguments a driver needs beyond its address: its channel, or the bench clock."""
    if config.instruments[name].driver in CLOCKED:
        return {"clock": clock}
    return _channel(config, name)


def _channel(config: BenchFile, instrument: str) -> dict:
    """The output a generator or supply drives (the bench file allows one per instrument)."""
    if config.instruments[instrument].driver in SINGLE_OUTPUT:
        return {}
    channels = {p.ringer.channel for p in config.ports.values() if isinstance(p, FxoPort) and p.ringer.generator == instrument}
    channels |= {p.battery.channel for p in config.ports.values() if isinstance(p, FxoPort) and p.battery.supply == instrument}
    return {"channel": channels.pop()} if channels else {}


def open_bench(config: BenchFile, path: Path) -> Bench:
    """Open every instrument of the bench file (starting the simulation when it asks for one)."""
    if config.simulated:
        return _open_simulated(config, path)
    clock = MonotonicClock()
    instruments = {}
    try:
        for name, inst in config.instruments.items():
            if inst.driver == "labjack_t7":
                instruments[name] = LabJackT7(load_ljm(), identifier=inst.address, name=name, clock=clock)
            else:
                instruments[name] = SCPI_DRIVERS[inst.driver](inst.address, name, timeout_ms=inst.timeout_ms,
                                                              **_driver_options(config, name, clock))
    except BaseException:
        for opened in instruments.values():
            opened.close()
        raise
    dut = CommandDutControl(config.dut.control) if config.dut.control != "sim" else None
    if dut is None:
        raise FixtureError(f"{path}: dut.control: 'sim' needs a simulation section (a real DUT needs command templates)")
    return Bench(config, path, clock, instruments, dut, {n: i.address for n, i in config.instruments.items()})


def _open_simulated(config: BenchFile, path: Path) -> Bench:
    from harness.simbench import SimulatedBench  # noqa: PLC0415 - only a simulated bench needs it

    sim = SimulatedBench(config, path)
    sim.start()
    instruments = {}
    try:
        rm = pyvisa.ResourceManager("@py")
        for name, inst in config.instruments.items():
            if inst.driver == "labjack_t7":
                instruments[name] = LabJackT7(sim.ljm, identifier=sim.addresses[name], name=name, clock=sim.clock)
            else:
                instruments[name] = SCPI_DRIVERS[inst.driver](sim.addresses[name], name, timeout_ms=inst.timeout_ms,
                                                              resource_manager=rm,
                                                              **_driver_options(config, name, sim.clock))
    except BaseException:
        for opened in instruments.values():
            opened.close()
        sim.stop()
        raise
    kinds = {name: p.kind for name, p in config.ports.items()}
    dut = SimDutControl(sim.model, kinds) if config.dut.control == "sim" else CommandDutControl(config.dut.control)
    return Bench(config, path, sim.clock, instruments, dut, dict(sim.addresses), simulation=sim)
