"""The simulated bench described by a bench file: line model, DUT models and simulated
instruments, started for a session and stopped with it.

A bench file with a `simulation` section gets, for every instrument, the simulator of its family
(SCPI over loopback TCP, or the LJM stand-in), all observing one line model on one virtual clock.
The drivers then open the addresses printed here exactly as they would open real instruments.
The section's `faults` are armed in the simulators before the drivers connect, and `live()` tells
what the instruments drive on the jig, as the jig sees it, whatever the drivers believe.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from harness.fixture import Bench, Fault, FxoPort, FxsPort
from instruments.sim.clock import VirtualClock
from instruments.sim.fxo_dut import DaaParams
from instruments.sim.fxs_dut import SlicParams
from instruments.sim.jig import FxoJig, FxsJig
from instruments.sim.ljm import SimT7, sim_ljm
from instruments.sim.model import SimModel
from instruments.sim.scpi_instruments import (SimDmm34461a, SimDmm34465a, SimGenerator33500b, SimGenerator33600a,
                                             SimSupplyE3634a)
from instruments.sim.scope import SimInfiniiVision, SimRigolDs1000z
from instruments.sim.supplies import SimSupplyDp832, SimSupplyE36312a
from instruments.sim.scpi_server import ScpiDevice, ScpiFault, ScpiServer
from instruments.sim.terminals import SimWiring, SourceSetting, SupplyLoad, SupplySetting

SCPI_SIMULATORS = {"keysight_34461a": SimDmm34461a, "keysight_33500b": SimGenerator33500b,
                   "rigol_ds1000z": SimRigolDs1000z, "keysight_infiniivision": SimInfiniiVision,
                   "keysight_34465a": SimDmm34465a, "keysight_33600a": SimGenerator33600a,
                   "rigol_dp832": SimSupplyDp832, "keysight_e36312a": SimSupplyE36312a,
                   "keysight_e3634a": SimSupplyE3634a}


def _line(ref: str) -> str:
    return ref.partition(":")[2].upper()


def fxs_jig(name: str, p: FxsPort) -> FxsJig:
    return FxsJig(name=name, hook_relay=_line(p.hook_relay), line_v_ain=p.line_voltage.ain,
                  line_v_divider=p.line_voltage.divider, loop_i_ain=p.loop_current.ain,
                  loop_i_negative=p.loop_current.negative.upper() if p.loop_current.negative else None,
                  sense_ohm=p.loop_current.sense_ohm, hook_load_ohm=p.hook_load_ohm,
                  ren_relays=tuple(_line(r) for r in p.ren_relays), ren_per_relay=p.ren_per_relay,
                  divider_input_ohm=p.line_voltage.divider_input_ohm, dmm=p.voltmeter,
                  long_loop_relay=_line(p.long_loop.relay) if p.long_loop else None,
                  long_loop_ohm=p.long_loop.ohm if p.long_loop else 0.0, **_scope(p),
                  dtmf_dac=f"DAC{p.dtmf_source.dac}" if p.dtmf_source else None,
                  dtmf_gain=p.dtmf_source.gain if p.dtmf_source else 1.0)


def fxo_jig(name: str, p: FxoPort) -> FxoJig:
    return FxoJig(name=name, supply=f"{p.battery.supply}:{p.battery.channel}",
                  generator=f"{p.ringer.generator}:{p.ringer.channel}", amplifier_gain=p.ringer.amplifier_gain,
                  feed_ohm=p.battery.feed_ohm, line_v_ain=p.line_voltage.ain, line_v_divider=p.line_voltage.divider,
                  loop_i_ain=p.loop_current.ain,
                  loop_i_negative=p.loop_current.negative.upper() if p.loop_current.negative else None,
                  sense_ohm=p.loop_current.sense_ohm, divider_input_ohm=p.line_voltage.divider_input_ohm,
                  dmm=p.voltmeter, **_scope(p))


def _scope(p: FxsPort | FxoPort) -> dict:
    if p.scope is None:
        return {}
    return {"scope": p.scope.input, "scope_probe_attenuation": p.scope.probe_attenuation}


def port_params(name: str, port: FxsPort | FxoPort, overrides: dict) -> tuple[object, frozenset[str]]:
    """The DUT model parameters of a port: defaults, the port's provisioning from the bench file,
    then the simulation overrides (how a defective DUT is described). Raises ValueError naming
    the parameter."""
    cls = SlicParams if isinstance(port, FxsPort) else DaaParams
    known = {f.name for f in dataclasses.fields(cls)}
    for key in overrides:
        if key not in known:
            raise ValueError(f"simulation.ports.{name}.{key}: not a parameter of the simulated "
                             f"{port.kind.upper()} port (see {cls.__module__}.{cls.__name__})")
    values = {}
    if isinstance(port, FxoPort):
        values["answer_after_rings"] = port.answer_after_rings
    values.update(overrides)
    try:
        return cls(**values), frozenset(overrides)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"simulation.ports.{name}: {exc}") from None


def scpi_fault(where: str, fault: Fault, driver: str) -> ScpiFault:
    """The bench file's fault as the simulator of `driver` takes it; ValueError naming the field
    when it is not one that simulator can show (e.g. `on` is not one of its commands)."""
    try:
        injected = ScpiFault(fault.fault, fault.on, fault.after, fault.repeat, fault.error)
    except ValueError as exc:  # its message starts with the field: "on: ..."
        raise ValueError(f"{where}.{exc}") from None
    simulator = SCPI_SIMULATORS[driver]("check", VirtualClock(), SimWiring(), np.random.default_rng(0))
    try:
        simulator.inject(injected)
    except ValueError as exc:
        raise ValueError(f"{where}.on: {exc} (simulated {driver})") from None
    return injected


class JigMonitor:
    """What the simulated instruments drive on the jig, seen from the jig's side of the wiring.

    It sits between the instruments and the line model, so it shows the bench's real state: a
    generator left on because its connection dropped is live here whatever its driver believes.
    """

    def __init__(self, wiring: SimWiring):
        self._live: dict[str, bool] = {}
        for line, coil in list(wiring.relay_coils.items()):
            wiring.relay_coils[line] = self._coil(f"relay {line} closed", coil)
        for channel, sink in list(wiring.generator_outputs.items()):
            wiring.generator_outputs[channel] = self._generator(f"generator {channel} output on", sink)
        for channel, load in list(wiring.supply_outputs.items()):
            wiring.supply_outputs[channel] = _WatchedSupply(self._live, f"supply {channel} output on", load)

    def _coil(self, what: str, coil):
        def energise(energised: bool) -> None:
            self._live[what] = energised
            coil(energised)
        return energise

    def _generator(self, what: str, sink):
        def changed(setting: SourceSetting) -> None:
            self._live[what] = setting.output_on
            sink(setting)
        return changed

    def live(self) -> list[str]:
        """Everything live now ("relay FIO0 closed", "generator gen:1 output on", ...), sorted."""
        return sorted(what for what, on in self._live.items() if on)


class _WatchedSupply:
    """A supply's load (terminals.SupplyLoad) that also notes whether the output is on."""

    def __init__(self, live: dict[str, bool], what: str, load: SupplyLoad):
        self._live, self._what, self._load = live, what, load

    def supply_changed(self, setting: SupplySetting) -> None:
        self._live[self._what] = setting.output_on
        self._load.supply_changed(setting)

    def supply_operating_point(self) -> tuple[float, float]:
        return self._load.supply_operating_point()


class SimulatedBench:
    """Line model + simulated instruments for one bench file."""

    def __init__(self, config: Bench, path: Path):
        sim = config.simulation
        assert sim is not None, "not a simulated bench"
        self.clock = VirtualClock()
        fxs = {n: p for n, p in config.ports.items() if isinstance(p, FxsPort)}
        fxo = {n: p for n, p in config.ports.items() if isinstance(p, FxoPort)}
        self.model = SimModel(
            self.clock,
            fxs=[fxs_jig(n, p) for n, p in fxs.items()],
            fxo=[fxo_jig(n, p) for n, p in fxo.items()],
            fxs_params={n: port_params(n, p, sim.ports.get(n, {})) for n, p in fxs.items()},
            fxo_params={n: port_params(n, p, sim.ports.get(n, {})) for n, p in fxo.items()},
            rng_seed=sim.seed,
        )
        self.jig = JigMonitor(self.model.wiring)
        self._servers: dict[str, ScpiServer] = {}
        self._t7s: dict[str, SimT7] = {}
        self.addresses: dict[str, str] = {}
        for i, (name, inst) in enumerate(config.instruments.items()):
            rng = np.random.default_rng([sim.seed, i])  # each instrument its own noise stream
            if inst.driver == "labjack_t7":
                serial = 470_000_001 + i
                self._t7s[str(serial)] = SimT7(self.clock, self.model.wiring, rng, serial=serial)
                self.addresses[name] = str(serial)
            else:
                device = SCPI_SIMULATORS[inst.driver](name, self.clock, self.model.wiring, rng)
                self._servers[name] = ScpiServer(device)
        for i, fault in enumerate(sim.faults):
            if fault.fault == "stream_overflow":
                self.simulator(fault.instrument).inject_stream_overflow(after_s=fault.after_s)
            else:
                driver = config.instruments[fault.instrument].driver
                self.simulator(fault.instrument).inject(scpi_fault(f"simulation.faults[{i}]", fault, driver))
        self.ljm = sim_ljm(self._t7s)

    def live(self) -> list[str]:
        """What the instruments drive on the jig now (JigMonitor.live); [] is the safe state."""
        return self.jig.live()

    def simulator(self, name: str) -> ScpiDevice | SimT7:
        """The simulated instrument the bench file calls `name` (for tests and benchmarks)."""
        if name in self._servers:
            return self._servers[name].instrument
        return self._t7s[self.addresses[name]]

    def start(self) -> None:
        for name, server in self._servers.items():
            server.start()
            self.addresses[name] = server.address

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()
