"""The simulated bench as one model: every port's DUT and line, advanced by the virtual clock,
and the SimWiring through which the simulated instruments see them.

What each instrument input sees:
    line_v_ain       v_tr / line_v_divider (volts at the LabJack input)
    loop_i_ain       i_loop * sense_ohm (volts across the sense resistor)
    loop_i_negative  0 V (the low side of the sense resistor is the input's reference)
    dmm              v_tr
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from instruments.sim.clock import VirtualClock
from instruments.sim.fxo_dut import DaaParams, FxoPort
from instruments.sim.fxs_dut import FxsPort, SlicParams
from instruments.sim.jig import FxoJig, FxsJig
from instruments.sim.terminals import Probe, SimWiring, SupplySetting, unconnected

Port = FxsPort | FxoPort


class _SupplyTerminals:
    """The jig's connection of a supply channel to an FXO line (a terminals.SupplyLoad)."""

    def __init__(self, port: FxoPort):
        self._port = port

    def supply_changed(self, setting: SupplySetting) -> None:
        self._port.supply_changed(setting)

    def supply_operating_point(self) -> tuple[float, float]:
        return self._port.supply_operating_point()


def _voltage_probe(port: Port, scale: float) -> Probe:
    """Probe of v_tr / scale."""
    return lambda t: port.render(t)[0] / scale


def _current_probe(port: Port, ohm: float) -> Probe:
    """Probe of the volts across `ohm` carrying the loop current."""
    return lambda t: port.render(t)[1] * ohm


class SimModel:
    """All simulated ports of a bench.

    fxs_params / fxo_params: port name -> (params, names of params the fixture overrode); a port
    not listed gets the defaults. rng_seed seeds the line noise of every port.
    """

    def __init__(self, clock: VirtualClock, fxs: list[FxsJig], fxo: list[FxoJig],
                 fxs_params: dict[str, tuple[SlicParams, set[str]]] | None = None,
                 fxo_params: dict[str, tuple[DaaParams, set[str]]] | None = None,
                 rng_seed: int = 0):
        fxs_params, fxo_params = fxs_params or {}, fxo_params or {}
        names = [jig.name for jig in (*fxs, *fxo)]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"sim model: port name {name!r} is used twice")
        for kind, given, jigs in (("FXS", fxs_params, fxs), ("FXO", fxo_params, fxo)):
            stray = sorted(set(given) - {jig.name for jig in jigs})
            if stray:
                raise ValueError(f"sim model: parameters given for {stray[0]!r}, which is no {kind} port")

        self.clock = clock
        rngs = iter(np.random.default_rng(seed) for seed in np.random.SeedSequence(rng_seed).spawn(len(names)))
        start_s = clock.now()
        self._fxs: dict[str, FxsPort] = {}
        self._fxo: dict[str, FxoPort] = {}
        for jig in fxs:
            params, overridden = fxs_params.get(jig.name, (SlicParams(), set()))
            self._fxs[jig.name] = FxsPort(jig, params, overridden, rng=next(rngs), start_s=start_s,
                                          lock=clock.lock)
        for jig in fxo:
            params, overridden = fxo_params.get(jig.name, (DaaParams(), set()))
            self._fxo[jig.name] = FxoPort(jig, params, overridden, rng=next(rngs), start_s=start_s,
                                          lock=clock.lock)
        self.wiring = self._wire()
        clock.add_listener(self.advance_to)

    def fxs_port(self, name: str) -> FxsPort:
        """DUT control of an FXS port."""
        if name not in self._fxs:
            raise KeyError(f"sim model: no FXS port {name!r} (have {sorted(self._fxs)})")
        return self._fxs[name]

    def fxo_port(self, name: str) -> FxoPort:
        """DUT control of an FXO port."""
        if name not in self._fxo:
            raise KeyError(f"sim model: no FXO port {name!r} (have {sorted(self._fxo)})")
        return self._fxo[name]

    def advance_to(self, t_s: float) -> None:
        """Clock listener: run every port up to t_s."""
        for port in (*self._fxs.values(), *self._fxo.values()):
            port.advance_to(t_s)

    def _wire(self) -> SimWiring:
        wiring = SimWiring()
        owners: dict[str, str] = {}

        def connect(table: dict, key: str, sink: Callable, owner: str) -> None:
            if key in owners:
                raise ValueError(f"sim model: {key!r} is wired to both {owners[key]} and {owner}")
            owners[key] = owner
            table[key] = sink

        for port in (*self._fxs.values(), *self._fxo.values()):
            jig = port.jig
            connect(wiring.analog_inputs, jig.line_v_ain, _voltage_probe(port, jig.line_v_divider),
                    f"{jig.name}.line_v")
            connect(wiring.analog_inputs, jig.loop_i_ain, _current_probe(port, jig.sense_ohm),
                    f"{jig.name}.loop_i")
            if jig.loop_i_negative is not None:
                connect(wiring.analog_inputs, jig.loop_i_negative, unconnected, f"{jig.name}.loop_i (low side)")
            if jig.dmm is not None:
                connect(wiring.dmm_inputs, jig.dmm, _voltage_probe(port, 1.0), f"{jig.name}.tip_ring")
            if jig.scope is not None:
                # A x100 probe's 10s of megohms load the line far less than the divider: not modelled.
                connect(wiring.scope_inputs, jig.scope, _voltage_probe(port, jig.scope_probe_attenuation),
                        f"{jig.name}.tip_ring (scope probe)")
        for port in self._fxs.values():
            if port.jig.dtmf_dac is not None:
                port.line.connect_phone_source(self.clock.now(), self._phone_source(port.jig, wiring))
            for relay in port.jig.relays:
                connect(wiring.relay_coils, relay, self._relay_coil(port, relay), f"{port.jig.name} relay")
        for port in self._fxo.values():
            connect(wiring.generator_outputs, port.jig.generator, port.generator_changed,
                    f"{port.jig.name} ring amplifier")
            connect(wiring.supply_outputs, port.jig.supply, _SupplyTerminals(port), f"{port.jig.name} feed")
        return wiring

    @staticmethod
    def _phone_source(jig: FxsJig, wiring: SimWiring) -> Probe:
        """The emf the jig's DAC puts in series with the hook load; the T7 that owns the DAC is
        built after the model, so its output is looked up when the line is rendered."""
        def emf(t: np.ndarray) -> np.ndarray:
            dac = wiring.dac_outputs.get(jig.dtmf_dac)
            return np.zeros(np.shape(t)) if dac is None else jig.dtmf_gain * dac(t)
        return emf

    @staticmethod
    def _relay_coil(port: FxsPort, relay: str) -> Callable[[bool], None]:
        return lambda energised: port.set_relay(relay, energised)
