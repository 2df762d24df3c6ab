"""IEEE 488.2 definite-length blocks through the simulated instruments' SCPI server.

Scope waveforms come back and arbitrary waveforms go out as blocks whose bytes may be anything,
newlines and quotes included; the server must neither cut a message at such a byte nor strip it.
"""

from __future__ import annotations

import pytest
import pyvisa
from scpi_replay import NO_ERROR, BlockWrite, ReplayResource

from instruments.errors import BenchFault
from instruments.scpi import ScpiInstrument
from instruments.sim.scpi_server import (ScpiDevice, ScpiError, ScpiServer, definite_length_block,
                                         parse_block, split_program_messages)

# Every byte value, a quote, a ';', a ',' and data that ends in whitespace and a newline.
AWKWARD = bytes(range(256)) + b'";,\'#9  \n'


class BlockStore(ScpiDevice):
    def __init__(self):
        super().__init__("Tipring,BLOCK1,0001,1.0")
        self.stored: dict[str, bytes] = {}
        self.command("DATA:ARBitrary", self._store)
        self.command("DATA:ARBitrary?", lambda call: definite_length_block(self.stored[call.one()]))

    def _store(self, call):
        name, block = call.params
        self.stored[name] = parse_block(block)


def test_a_block_holding_newlines_is_one_message_and_the_next_message_follows():
    messages, rest = split_program_messages("DATA:ARB w,#15a\nb\nc;*OPC?\n*IDN?\nDATA:AR")
    assert messages == ["DATA:ARB w,#15a\nb\nc;*OPC?", "*IDN?"]
    assert rest == "DATA:AR"


def test_an_incomplete_block_waits_for_the_rest_of_its_bytes():
    assert split_program_messages("DATA:ARB w,#210abc\n") == ([], "DATA:ARB w,#210abc\n")


def test_block_parameter_round_trip_keeps_every_byte():
    device = BlockStore()
    device.handle("DATA:ARB wave," + definite_length_block(AWKWARD) + ";:DATA:ARB other,#13abc")
    assert device.stored == {"wave": AWKWARD, "other": b"abc"}
    assert device.handle("SYST:ERR?") == '+0,"No error"'


@pytest.mark.parametrize("parameter", ["#", "#3", "#210abc", "#0abc", "abc", "#13abcd"])
def test_a_malformed_block_is_161(parameter):
    with pytest.raises(ScpiError) as caught:
        parse_block(parameter)
    assert caught.value.code == -161


def test_blocks_travel_both_ways_over_pyvisa():
    device = BlockStore()
    with ScpiServer(device) as server:
        rm = pyvisa.ResourceManager("@py")
        session = rm.open_resource(server.address, read_termination="\n", write_termination="\n")
        try:
            session.write_binary_values("DATA:ARB wave,", list(AWKWARD), datatype="B")
            assert session.query("SYST:ERR?") == '+0,"No error"'
            back = session.query_binary_values("DATA:ARB? wave", datatype="B", container=bytes)
        finally:
            session.close()
    assert back == AWKWARD


def test_driver_block_write_checks_the_error_queue_and_block_query_returns_bytes():
    resource = ReplayResource([
        ("*IDN?", "Tipring,BLOCK1,0001,1.0"), ("*CLS", None),
        ("DATA:ARB wave,", BlockWrite(AWKWARD)), NO_ERROR,
        ("DATA:ARB? wave", AWKWARD),
        ("DATA:ARB bad,", BlockWrite(b"x")), ("SYST:ERR?", '-161,"Invalid block data"'), NO_ERROR,
    ])
    store = ScpiInstrument("TCPIP::192.0.2.10::5025::SOCKET", "store", resource=resource)
    store.write_block("DATA:ARB wave,", AWKWARD)
    assert store.query_block("DATA:ARB? wave") == AWKWARD
    with pytest.raises(BenchFault, match=r"store at .* 'DATA:ARB bad,': instrument error -161"):
        store.write_block("DATA:ARB bad,", b"x")
    resource.assert_done()


def test_driver_blocks_against_the_simulated_server():
    with ScpiServer(BlockStore()) as server:
        with ScpiInstrument(server.address, "store") as store:
            store.write_block("DATA:ARB wave,", AWKWARD)
            assert store.query_block("DATA:ARB? wave") == AWKWARD
