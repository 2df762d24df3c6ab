"""The base every SCPI driver in tipring stands on: one pyvisa resource and four operations.

A driver is a short list of documented operations built from `write` and `query` (PyMeasure-like):

    class Keysight34461A(ScpiInstrument):
        def measure_dc_volts(self, range_v=None):
            self.write("CONF:VOLT:DC AUTO")
            return self.query_float("READ?")

What the base does for every driver:
- opens the address with pyvisa-py (`ResourceManager("@py")`), with "\\n" read and write
  terminations (pyvisa-py SOCKET sessions wait for the full timeout without them);
- asks *IDN? and refuses an instrument that answers as another model (a wrong address in the
  bench file), then clears the error queue with *CLS so old errors are not blamed on us;
- after every `write`, reads SYST:ERR? until "+0,..." and raises BenchFault if anything queued;
- turns pyvisa timeouts, I/O errors and refused connections into BenchFault, naming the
  instrument, its address and the command.
"""

from __future__ import annotations

import math

import pyvisa
from pyvisa.constants import StatusCode

from instruments.errors import BenchFault
from instruments.protocols import InstrumentIdentity

# Keysight instruments keep at most 20 errors; reading more than that means the instrument is not
# answering SYST:ERR? sensibly, and we stop rather than loop forever.
ERROR_QUEUE_DEPTH = 20


def parse_identity(idn_reply: str) -> InstrumentIdentity:
    """Split an *IDN? reply "maker,model,serial,firmware" into an InstrumentIdentity."""
    fields = [field.strip() for field in idn_reply.split(",")]
    if len(fields) != 4:
        raise ValueError(f"*IDN? reply {idn_reply!r} does not have 4 comma-separated fields")
    return InstrumentIdentity(*fields)


def scpi_number(value: float, what: str = "value") -> str:
    """A number as SCPI text, up to 10 significant digits ("20", "0.001", "1e-05")."""
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value}")
    return f"{value:.10g}"


def _is_no_error(entry: str) -> bool:
    """True for the SYST:ERR? reply that ends the queue: '+0,"No error"'."""
    code = entry.split(",", 1)[0].strip()
    try:
        return int(code) == 0
    except ValueError:
        return False


class ScpiInstrument:
    """One SCPI instrument on the bench.

    address: a VISA resource name ("TCPIP::192.0.2.10::5025::SOCKET", "GPIB0::5::INSTR").
    name: what the bench calls it ("dmm"); every BenchFault names it.
    timeout_ms: how long a query may wait for its reply.
    resource_manager / resource: for tests, a pyvisa ResourceManager or an already open
    resource (or a stand-in with write/query/close) to use instead of opening the address.

    Subclasses set `models` (the *IDN? model fields they drive) and may override `_configure`
    to put the instrument in the state the driver assumes.
    """

    models: tuple[str, ...] = ()

    def __init__(self, address: str, name: str = "", *, timeout_ms: int = 5000,
                 resource_manager: pyvisa.ResourceManager | None = None, resource=None):
        self.address = address
        self.name = name or type(self).__name__
        self._resource_manager = resource_manager
        self._handed_in = resource is not None
        self._resource = resource if resource is not None else self._open(resource_manager)
        self._set_up_session(timeout_ms)
        try:
            self.identity = self._identify()
            self._send("*CLS")
            self._configure()
        except BaseException:
            self.close()
            raise

    def _set_up_session(self, timeout_ms: int) -> None:
        self._resource.read_termination = "\n"
        self._resource.write_termination = "\n"
        self._resource.timeout = timeout_ms

    def reconnect(self) -> None:
        """Open a new session after the instrument dropped the connection, and check it is still
        the same instrument. Used to make the bench safe; the test that saw the drop stays a
        bench fault."""
        if self._handed_in:
            raise BenchFault(self.name, self.address, "reconnect", "a session handed in cannot be reopened")
        timeout_ms = self._resource.timeout
        self.close()
        self._resource = self._open(self._resource_manager)
        self._set_up_session(timeout_ms)
        identity = self._identify()
        if identity != self.identity:
            raise BenchFault(self.name, self.address, "*IDN?", f"after reconnecting answers as {identity}, "
                                                               f"was {self.identity}")
        self._send("*CLS")

    def _open(self, resource_manager: pyvisa.ResourceManager | None):
        try:
            rm = resource_manager or pyvisa.ResourceManager("@py")
            return rm.open_resource(self.address)
        except Exception as err:  # pyvisa-py raises a bare Exception for some bad addresses
            raise BenchFault(self.name, self.address, "open", f"cannot open: {err}") from err

    def _identify(self) -> InstrumentIdentity:
        reply = self.query("*IDN?")
        try:
            identity = parse_identity(reply)
        except ValueError as err:
            raise BenchFault(self.name, self.address, "*IDN?", str(err)) from err
        if self.models and identity.model not in self.models:
            raise BenchFault(self.name, self.address, "*IDN?",
                             f"answers as {identity}, expected model {' or '.join(self.models)}")
        return identity

    def _configure(self) -> None:
        """Put the instrument in the state the driver assumes; called once after opening."""

    def write(self, command: str) -> None:
        """Send a command, then raise BenchFault if the instrument queued an error for it."""
        self._send(command)
        self._check_error_queue(command)

    def _check_error_queue(self, command: str) -> None:
        try:
            errors = self._read_error_queue()
        except (pyvisa.errors.Error, OSError) as err:
            raise BenchFault(self.name, self.address, command, self._reason(err)) from err
        if errors:
            raise BenchFault(self.name, self.address, command,
                             "instrument error " + "; ".join(errors))

    def query(self, command: str) -> str:
        """Send a query and return its reply line without the termination."""
        try:
            return self._resource.query(command).strip()
        except (pyvisa.errors.Error, OSError) as err:
            reason = self._reason(err)
            if self._timed_out(err):
                # A real instrument does not answer a query it did not understand; what it
                # queued says why, and reading it now keeps it from being blamed on the next write.
                reason += self._queued_errors_note()
            raise BenchFault(self.name, self.address, command, reason) from err

    def query_float(self, command: str) -> float:
        """A query whose reply is one number ("+4.79823100E+01")."""
        reply = self.query(command)
        try:
            return float(reply)
        except ValueError as err:
            raise BenchFault(self.name, self.address, command,
                             f"reply {reply!r} is not a number") from err

    def write_block(self, command: str, data: bytes) -> None:
        """Send `command` followed by `data` as a definite-length block ("DATA:ARB:DAC w,#3...")
        then check the error queue, as `write` does."""
        try:
            self._resource.write_binary_values(command, data, datatype="B")
        except (pyvisa.errors.Error, OSError) as err:
            raise BenchFault(self.name, self.address, command, self._reason(err)) from err
        self._check_error_queue(command)

    def query_block(self, command: str) -> bytes:
        """Send a query whose reply is one definite-length block (":WAV:DATA?"); its bytes."""
        try:
            return bytes(self._resource.query_binary_values(command, datatype="B", container=bytes))
        except (pyvisa.errors.Error, OSError) as err:
            raise BenchFault(self.name, self.address, command, self._reason(err)) from err
        except ValueError as err:  # pyvisa's block parser: a malformed header or short data
            raise BenchFault(self.name, self.address, command, f"malformed block reply: {err}") from err

    def close(self) -> None:
        try:
            self._resource.close()
        except (pyvisa.errors.Error, OSError):
            pass  # the connection is already gone; there is nothing left to release

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _send(self, command: str) -> None:
        try:
            self._resource.write(command)
        except (pyvisa.errors.Error, OSError) as err:
            raise BenchFault(self.name, self.address, command, self._reason(err)) from err

    def _read_error_queue(self) -> list[str]:
        """Every queued error, oldest first ('-222,"Data out of range"'); empties the queue."""
        errors = []
        for _ in range(ERROR_QUEUE_DEPTH):
            entry = self._resource.query("SYST:ERR?").strip()
            if _is_no_error(entry):
                return errors
            errors.append(entry)
        return errors

    def _queued_errors_note(self) -> str:
        try:
            errors = self._read_error_queue()
        except (pyvisa.errors.Error, OSError):
            return ""
        return f"; error queue: {'; '.join(errors)}" if errors else ""

    @staticmethod
    def _timed_out(err: Exception) -> bool:
        return (isinstance(err, pyvisa.errors.VisaIOError)
                and err.error_code == StatusCode.error_timeout)

    def _reason(self, err: Exception) -> str:
        if self._timed_out(err):
            return f"no reply within {self._resource.timeout} ms (VISA timeout)"
        if isinstance(err, pyvisa.errors.VisaIOError):
            return f"VISA I/O error {err.abbreviation}: {err.description}"
        if isinstance(err, OSError):
            return f"connection failed: {err.strerror or err}"
        return str(err)
