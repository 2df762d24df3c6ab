"""SCPI over loopback TCP for the simulated instruments, and the small parser they share.

`ScpiServer` puts a `ScpiDevice` on 127.0.0.1 as a raw SCPI socket, like port 5025 of a real
Keysight instrument: newline-terminated commands in, newline-terminated replies out, one thread per
connection. pyvisa-py reaches it at `server.address`, "TCPIP::127.0.0.1::<port>::SOCKET".

`ScpiDevice` is a real instrument's command parser, in small:

- A command table of patterns in the notation of the programming guides,
  "[SOURce#:]VOLTage[:LEVel][:IMMediate][:AMPLitude]": upper case is the short form, [..] an
  optional node, # a numeric suffix (1 when left out), a trailing ? a query. A received header
  matches in short or long form, in any case.
- A program message is commands separated by ';'. A command without a leading ':' continues from
  the previous command's path ("TRIG:SOUR EXT;SLOP NEG" sets TRIG:SLOP), and falls back to the
  root when that finds nothing, as Keysight's parsers do; a leading ':' starts from the root.
  Common commands (*IDN?) leave the path alone. The replies of several queries in one message go
  back on one line, joined by ';'.
- *IDN?, *RST, *CLS, *OPC? and SYSTem:ERRor[:NEXT]? with an error queue of standard SCPI numbers.
  An unknown header queues -113 and sends nothing back, so a query for it times out as it does
  on a real instrument. A command error (-1xx) drops the rest of the message; others do not.
- Numeric parameters take SCPI numbers without units ("20", "2.5E+01", ".5") and MIN, MAX, DEF.
- IEEE 488.2 definite-length blocks ("#3123" then 123 bytes of any value, newlines included)
  pass through both ways: bytes travel as latin-1 characters (one per byte), `parse_block` turns a
  parameter back into bytes and `definite_length_block` makes a reply of bytes.
- Injected faults (`ScpiDevice.inject(ScpiFault(...))`), so tests can prove the harness reports a
  misbehaving instrument as a bench fault: a query that never answers, a connection the
  instrument resets, an error queued for a command.
"""

from __future__ import annotations

import math
import re
import socket
import socketserver
import struct
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Sequence

ERROR_MESSAGES = {
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -114: "Header suffix out of range",
    -160: "Block data error",
    -161: "Invalid block data",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -300: "Device-specific error",
    -350: "Queue overflow",
}

# A Keysight error queue holds 20 entries; when full, the newest becomes -350.
ERROR_QUEUE_DEPTH = 20

NO_ERROR = '+0,"No error"'


class ScpiError(Exception):
    """An error for the instrument's queue: a standard SCPI number and an optional detail."""

    def __init__(self, code: int, detail: str = ""):
        self.code = code
        self.message = ERROR_MESSAGES[code] + (f";{detail}" if detail else "")
        super().__init__(self.entry)

    @property
    def entry(self) -> str:
        """As SYST:ERR? reports it: -222,"Data out of range"."""
        return f'{self.code:+d},"{self.message}"'

    @property
    def is_command_error(self) -> bool:
        return -199 <= self.code <= -100


# ---------------------------------------------------------------------------------------------
# Parameters


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_number(text: str, minimum: float, maximum: float, default: float | None = None,
                 infinity: bool = False) -> float:
    """A numeric parameter: a SCPI number, MIN, MAX, DEF (when there is a default), or INF
    (when `infinity`); outside minimum..maximum is -222."""
    word = text.strip().upper()
    if word in ("MIN", "MINIMUM"):
        return minimum
    if word in ("MAX", "MAXIMUM"):
        return maximum
    if word in ("DEF", "DEFAULT") and default is not None:
        return default
    if word in ("INF", "INFINITY") and infinity:
        return math.inf
    if not _NUMBER.fullmatch(word):
        raise ScpiError(-104, f"{text!r} is not a number")
    value = float(word)
    if not minimum <= value <= maximum:
        raise ScpiError(-222, f"{value:g} is outside {minimum:g}..{maximum:g}")
    return value


def parse_bool(text: str) -> bool:
    """ON/OFF/1/0."""
    word = text.strip().upper()
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    raise ScpiError(-224, f"{text!r} is not ON or OFF")


def short_form(mnemonic: str) -> str:
    """The short form of a mnemonic in guide notation: its upper-case part ("SOURce" -> "SOUR")."""
    return "".join(c for c in mnemonic if not c.islower())


def parse_choice(text: str, choices: Sequence[str]) -> str:
    """One of `choices` (guide notation, "TRIGgered"), given in short or long form; returns its
    short form ("TRIG")."""
    word = text.strip().upper()
    for choice in choices:
        if word in (short_form(choice), choice.upper()):
            return short_form(choice)
    raise ScpiError(-224, f"{text!r} is not one of {', '.join(choices)}")


def format_reading(value: float) -> str:
    """A reading the way Keysight meters send it: "+4.79823100E+01"."""
    return f"{value:+.8E}"


def block_end(text: str, start: int) -> int | None:
    """If a definite-length block ("#<d><d digits of length><bytes>") starts at text[start], the
    index just after it (len(text) + 1 when it is not all there yet); else None."""
    if text[start:start + 1] != "#" or not "1" <= text[start + 1:start + 2] <= "9":
        return None
    digits = int(text[start + 1])
    length_text = text[start + 2:start + 2 + digits]
    if len(length_text) < digits:
        return len(text) + 1
    if not length_text.isdigit():
        return None
    end = start + 2 + digits + int(length_text)
    return end if end <= len(text) else len(text) + 1


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on `separator` except inside "..." or '...' strings and binary blocks."""
    pieces, start, quote, i = [], 0, None, 0
    while i < len(text):
        char = text[i]
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and (end := block_end(text, i)) is not None:
            i = end
            continue
        elif char == separator:
            pieces.append(text[start:i])
            start = i + 1
        i += 1
    pieces.append(text[start:])
    return pieces


def split_program_messages(received: str) -> tuple[list[str], str]:
    """Complete newline-terminated program messages in `received`, and the incomplete rest.

    A newline inside a binary block is data, not a terminator."""
    messages, start, i = [], 0, 0
    while i < len(received):
        if received[i] == "#" and (end := block_end(received, i)) is not None:
            if end > len(received):
                break
            i = end
            continue
        if received[i] == "\n":
            messages.append(received[start:i].removesuffix("\r"))
            start = i + 1
        i += 1
    return messages, received[start:]


def _strip_parameter(text: str) -> str:
    """Whitespace off a parameter, but not off the data of a block (which may end in a space)."""
    text = text.lstrip()
    end = block_end(text, 0)
    return text[:end] if end is not None and end <= len(text) else text.rstrip()


def parse_block(text: str) -> bytes:
    """The bytes of a definite-length block parameter; -161 when it is not one."""
    end = block_end(text, 0)
    if end is None or end != len(text):
        raise ScpiError(-161, "expected a definite-length block")
    digits = int(text[1])
    return text[2 + digits:].encode("latin-1")


def definite_length_block(data: bytes) -> str:
    """A reply carrying `data` as a definite-length block, e.g. b"abc" -> "#13abc"."""
    length = str(len(data))
    return f"#{len(length)}{length}" + data.decode("latin-1")


@dataclass
class Call:
    """One received command, as its handler sees it.

    suffixes: the numeric suffix of every '#' node in the pattern, in order (1 when left out).
    params: the parameters as sent, whitespace stripped.
    """

    suffixes: list[int]
    params: list[str]

    def one(self) -> str:
        """The single parameter this command takes."""
        if not self.params:
            raise ScpiError(-109)
        if len(self.params) > 1:
            raise ScpiError(-108)
        return self.params[0]

    def at_most(self, count: int) -> list[str]:
        """The parameters of a command that takes up to `count` of them."""
        if len(self.params) > count:
            raise ScpiError(-108)
        return self.params

    def none(self) -> None:
        """For a command that takes no parameter."""
        self.at_most(0)


Handler = Callable[[Call], "str | None"]


# ---------------------------------------------------------------------------------------------
# Injected faults

FAULT_KINDS = ("stall", "drop_connection", "queue_error")

# Marks an injected error in the queue, so a report shows it was not the instrument's own.
INJECTED = "injected fault"


@dataclass(frozen=True)
class ScpiFault:
    """A misbehaviour to inject into a simulated instrument.

    kind: "stall": a query that never answers (neither it nor the rest of its program message is
        executed, and nothing of that message's replies is sent; later messages are answered).
        "drop_connection": the instrument resets the client's connection as the command arrives,
        without executing it (it accepts new ones).
        "queue_error": the command is refused with `error` queued, as for a bad command.
    on: the header it fires on, as a client would send it ("READ?", "outp", "SOURce1:VOLTage");
        it matches every header the instrument takes for that command: short or long form, any
        case, optional nodes left out, the same numeric suffixes ("OUTP" is OUTP1, not OUTP2).
    after: how many matching commands pass unharmed first.
    repeat: fire on every matching command after those, not only once.
    error: the SCPI error number queue_error queues (one of ERROR_MESSAGES).
    """

    kind: str
    on: str
    after: int = 0
    repeat: bool = False
    error: int = -300

    def __post_init__(self) -> None:
        if not self.on.strip():
            raise ValueError("on: no header given for the fault to fire on")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind: unknown fault {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.after < 0:
            raise ValueError(f"after: must be >= 0, got {self.after}")
        if self.error not in ERROR_MESSAGES:
            raise ValueError(f"error: {self.error} is not an error the simulators queue; use one of "
                             f"{', '.join(str(code) for code in ERROR_MESSAGES)}")
        if self.kind == "stall" and not self.on.strip().endswith("?"):
            raise ValueError(f"on: a stall needs a query (a header ending in '?'); {self.on!r} has no reply to withhold")


class ConnectionFault(Exception):
    """Raised out of ScpiDevice.handle by an injected fault: the connection must misbehave."""


class InstrumentStalled(ConnectionFault):
    """No reply to this program message, ever."""


class ConnectionDropped(ConnectionFault):
    """Reset the client's connection."""


@dataclass
class _ArmedFault:
    fault: ScpiFault
    entry: int  # index of the command in the device's table
    suffixes: list[int]
    seen: int = 0
    fired: bool = False

    def fires(self, entry: int, suffixes: list[int]) -> bool:
        """Count a received command; True if the fault strikes it."""
        if (entry, suffixes) != (self.entry, self.suffixes):
            return False
        self.seen += 1
        if self.seen <= self.fault.after or (self.fired and not self.fault.repeat):
            return False
        self.fired = True
        return True


# ---------------------------------------------------------------------------------------------
# Headers


@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    optional: bool
    numbered: bool

    def accepts(self, mnemonic: str, suffix: int | None) -> bool:
        return mnemonic in (self.short, self.long) and (suffix is None or self.numbered)


_PATTERN_NODE = re.compile(r"(?P<open>\[)?:?(?P<name>\*?[A-Za-z][A-Za-z0-9]*)(?P<numbered>#)?:?"
                           r"(?(open)\])")
_HEADER_AND_ARGUMENTS = re.compile(r"(\S+)[ \t]*(.*)", re.DOTALL)
_HEADER_PART = re.compile(r"(\*?[A-Z]+)(\d*)")


def compile_pattern(pattern: str) -> tuple[tuple[_Node, ...], bool]:
    """The nodes of a command pattern, and whether it is a query (ends in '?')."""
    is_query = pattern.endswith("?")
    body = pattern[:-1] if is_query else pattern
    nodes, position = [], 0
    for match in _PATTERN_NODE.finditer(body):
        if match.start() != position:
            break
        name = match["name"]
        nodes.append(_Node(short_form(name), name.upper(), bool(match["open"]),
                           bool(match["numbered"])))
        position = match.end()
    if position != len(body) or not nodes or "::" in body:
        raise ValueError(f"cannot read SCPI pattern {pattern!r}")
    return tuple(nodes), is_query


def _split_header(header: str) -> list[tuple[str, int | None]] | None:
    """'SOUR2:VOLT' -> [("SOUR", 2), ("VOLT", None)]; None if it is not a header at all."""
    parts = []
    for text in header.upper().split(":"):
        match = _HEADER_PART.fullmatch(text)
        if not match:
            return None
        parts.append((match[1], int(match[2]) if match[2] else None))
    return parts


def _match(nodes: tuple[_Node, ...], parts: list[tuple[str, int | None]]) -> list[int] | None:
    """The suffixes of the numbered nodes if `parts` spell `nodes`, else None."""
    if not nodes:
        return [] if not parts else None
    node, rest = nodes[0], nodes[1:]
    if parts and node.accepts(*parts[0]):
        tail = _match(rest, parts[1:])
        if tail is not None:
            return ([parts[0][1] or 1] if node.numbered else []) + tail
    if node.optional:
        tail = _match(rest, parts)
        if tail is not None:
            return ([1] if node.numbered else []) + tail
    return None


# ---------------------------------------------------------------------------------------------
# The device


class ScpiDevice:
    """The SCPI side every simulated instrument shares.

    A subclass registers its commands with `command(pattern, handler)` and overrides `reset()`
    (what *RST does). A handler gets a `Call`, raises ScpiError to queue an error, and returns the
    reply of a query (None for a command). `inject` arms a fault; `handle` then raises
    InstrumentStalled or ConnectionDropped for the connection to act on.
    """

    def __init__(self, identity: str):
        self.identity = identity
        self._table: list[tuple[tuple[_Node, ...], bool, Handler]] = []
        self._errors: deque[str] = deque()
        self._faults: list[_ArmedFault] = []
        self._lock = threading.Lock()
        self.command("*IDN?", self._identify)
        self.command("*RST", self._reset)
        self.command("*CLS", self._clear)
        self.command("*OPC?", self._operation_complete)
        self.command("SYSTem:ERRor[:NEXT]?", self._next_error)

    def command(self, pattern: str, handler: Handler) -> None:
        """Answer headers that spell `pattern` with `handler`."""
        nodes, is_query = compile_pattern(pattern)
        self._table.append((nodes, is_query, handler))

    def reset(self) -> None:
        """Return to the power-on state (*RST)."""

    def inject(self, fault: ScpiFault) -> None:
        """Arm `fault`; ValueError if its header is not one of this instrument's commands."""
        header, argument_text = _HEADER_AND_ARGUMENTS.fullmatch(fault.on.strip()).groups()
        if argument_text:
            raise ValueError(f"{fault.on!r}: give the header alone, without parameters")
        is_query = header.endswith("?")
        found = self._lookup(header.removeprefix(":").removesuffix("?"), is_query)
        if found is None:
            raise ValueError(f"{fault.on!r} is not a command this instrument knows")
        with self._lock:
            self._faults.append(_ArmedFault(fault, *found))

    def push_error(self, error: ScpiError) -> None:
        """Queue an error for SYST:ERR? (the newest becomes -350 when the queue is full)."""
        if len(self._errors) >= ERROR_QUEUE_DEPTH:
            self._errors[-1] = ScpiError(-350).entry
        else:
            self._errors.append(error.entry)

    def handle(self, message: str) -> str | None:
        """Execute one program message; the reply line to send, or None for none."""
        replies = []
        path: list[str] = []
        with self._lock:
            for command in split_outside_quotes(message, ";"):
                command = command.lstrip()  # the right side may be the data of a block
                if not command.strip():
                    continue
                try:
                    reply, path = self._execute(command, path)
                except ScpiError as error:
                    self.push_error(error)
                    if error.is_command_error:
                        break
                    continue
                except ConnectionFault:
                    raise
                except Exception as error:  # a simulator bug: report it the way firmware would
                    self.push_error(ScpiError(-300, f"{type(error).__name__}: {error}"))
                    break
                if reply is not None:
                    replies.append(reply)
        return ";".join(replies) if replies else None

    def _execute(self, command: str, path: list[str]) -> tuple[str | None, list[str]]:
        """Run one command; its reply and the path the next command continues from."""
        header, argument_text = _HEADER_AND_ARGUMENTS.fullmatch(command).groups()
        is_query = header.endswith("?")
        name = header[:-1] if is_query else header
        if name.startswith("*"):
            candidates = [name]
        elif name.startswith(":"):
            candidates = [name[1:]]
        else:
            candidates = [":".join(path + [name]), name] if path else [name]
        for candidate in candidates:
            found = self._lookup(candidate, is_query)
            if found:
                entry, suffixes = found
                break
        else:
            raise ScpiError(-113)
        self._strike(entry, suffixes)
        params = [_strip_parameter(p) for p in split_outside_quotes(argument_text, ",")] if argument_text.strip() else []
        reply = self._table[entry][2](Call(suffixes, params))
        return reply, (path if name.startswith("*") else candidate.split(":")[:-1])

    def _lookup(self, header: str, is_query: bool) -> tuple[int, list[int]] | None:
        """The table entry that answers `header` and its numeric suffixes, or None."""
        parts = _split_header(header)
        if parts is None:
            return None
        for entry, (nodes, query, _) in enumerate(self._table):
            if query == is_query:
                suffixes = _match(nodes, parts)
                if suffixes is not None:
                    return entry, suffixes
        return None

    def _strike(self, entry: int, suffixes: list[int]) -> None:
        """Let an armed fault act on this command instead of its handler."""
        # Every armed fault counts the command, also when an earlier one strikes it.
        striking = [armed.fault for armed in self._faults if armed.fires(entry, suffixes)]
        if not striking:
            return
        fault = striking[0]
        if fault.kind == "queue_error":
            raise ScpiError(fault.error, INJECTED)
        if fault.kind == "stall":
            raise InstrumentStalled(fault.on)
        raise ConnectionDropped(fault.on)

    def _identify(self, call: Call) -> str:
        call.none()
        return self.identity

    def _reset(self, call: Call) -> None:
        call.none()
        self.reset()

    def _clear(self, call: Call) -> None:
        call.none()
        self._errors.clear()

    def _operation_complete(self, call: Call) -> str:
        # Every simulated operation has finished by the time its command returns.
        call.none()
        return "1"

    def _next_error(self, call: Call) -> str:
        call.none()
        return self._errors.popleft() if self._errors else NO_ERROR


# ---------------------------------------------------------------------------------------------
# The server


class _Connection(socketserver.BaseRequestHandler):
    """One client: read lines, let the device handle them, send back any reply."""

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.request)

    def handle(self) -> None:
        pending = ""
        try:
            while True:
                self._acknowledge_at_once()
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                # latin-1 maps each byte to one character, so binary blocks survive as text.
                lines, pending = split_program_messages(pending + chunk.decode("latin-1"))
                for line in lines:
                    try:
                        reply = self.server.device.handle(line) if line.strip() else None
                    except InstrumentStalled:
                        continue  # this reply never comes
                    except ConnectionDropped:
                        self._reset_connection()
                        return
                    if reply is not None:
                        self.request.sendall(reply.encode("latin-1") + b"\n")
        except OSError:
            pass  # the client went away or the server is stopping

    def _reset_connection(self) -> None:
        # Linger 0: close sends a TCP reset, so the client's next call fails at once instead
        # of reading an orderly end of stream (which pyvisa-py waits out until its timeout).
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.request.close()

    def _acknowledge_at_once(self) -> None:
        # pyvisa-py leaves Nagle's algorithm on, so a command followed at once by SYST:ERR?
        # waits for the ACK of the command; Linux would delay that ACK by up to 40 ms. Quick
        # ACK mode ends after each read, hence before every read. (Elsewhere: only slower.)
        if hasattr(socket, "TCP_QUICKACK"):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    def finish(self) -> None:
        self.server.untrack(self.request)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], device: ScpiDevice):
        self.device = device
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Connection)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def drop_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the client


class ScpiServer:
    """A simulated instrument on a loopback TCP port (port=0 picks a free one).

    The port is bound at construction, so `address` is known before start(). stop() closes the
    port and drops every client, who then sees a dead instrument. Faults armed on the instrument
    (`instrument.inject`) act on every connection: a stall sends no reply, a dropped connection
    is reset.
    """

    def __init__(self, instrument: ScpiDevice, host: str = "127.0.0.1", port: int = 0):
        self.instrument = instrument
        self.host = host
        self._server = _TcpServer((host, port), instrument)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        """The VISA resource name pyvisa-py opens: "TCPIP::127.0.0.1::<port>::SOCKET"."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    def start(self) -> ScpiServer:
        # A short poll interval makes stop() quick; it costs nothing while a client is connected.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name=f"scpi-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.drop_connections()
        self._server.server_close()

    def __enter__(self) -> ScpiServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
