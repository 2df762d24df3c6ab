"""A pyvisa resource stand-in that replays an exact command/response exchange.

Driver tests script what the programming guide says the instrument sees and answers, and the
driver must send exactly that, in that order (the PyMeasure way of testing drivers).
"""

from __future__ import annotations

from dataclasses import dataclass

NO_ERROR = ("SYST:ERR?", '+0,"No error"')


@dataclass(frozen=True)
class BlockWrite:
    """The data of a block the driver must send after the command."""

    data: bytes


class ReplayResource:
    """Stands in for a pyvisa resource that expects exactly `exchanges`, in order.

    An exchange is (command, reply): reply None for a write, the reply line for a query.
    Binary blocks: (command, BlockWrite(data)) for `write_binary_values`, and (command, bytes)
    for a query answered by a block (`query_binary_values`).
    """

    def __init__(self, exchanges):
        self.exchanges = list(exchanges)
        self.done = 0
        self.closed = False
        self.read_termination = self.write_termination = None
        self.timeout = None

    def _next(self, command, kind):
        assert self.done < len(self.exchanges), f"unexpected {kind} {command!r} after the script ended"
        expected, reply = self.exchanges[self.done]
        expected_kind = ("write" if reply is None else "block write" if isinstance(reply, BlockWrite)
                         else "block query" if isinstance(reply, bytes) else "query")
        assert (kind, command) == (expected_kind, expected), \
            f"exchange {self.done}: expected {expected_kind} {expected!r}, got {kind} {command!r}"
        self.done += 1
        return reply

    def write(self, command):
        self._next(command, "write")

    def query(self, command):
        return self._next(command, "query")

    def write_binary_values(self, command, values, datatype="B", is_big_endian=False):
        expected = self._next(command, "block write")
        assert bytes(values) == expected.data, f"{command!r}: block of {len(values)} bytes differs from the script"

    def query_binary_values(self, command, datatype="B", container=list, **kwargs):
        return container(self._next(command, "block query"))

    def close(self):
        self.closed = True

    def assert_done(self):
        assert self.done == len(self.exchanges), f"never sent: {self.exchanges[self.done:]}"


class AnsweringResource:
    """Answers *IDN? as `idn`, SYST:ERR? with no error and any other query with other_reply
    (None: the test expects no other query); records every command sent. For checking what a
    driver refuses before it sends anything."""

    def __init__(self, idn, other_reply=None):
        self.idn = idn
        self.other_reply = other_reply
        self.sent = []

    def write(self, command):
        self.sent.append(command)

    def query(self, command):
        self.sent.append(command)
        replies = {"*IDN?": self.idn, "SYST:ERR?": NO_ERROR[1]}
        if self.other_reply is None:
            return replies[command]
        return replies.get(command, self.other_reply)

    def close(self):
        pass
