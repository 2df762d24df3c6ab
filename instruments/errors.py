"""Errors raised by the instrument layer.

A BenchFault is the bench's problem (an instrument timed out, refused the connection, or put an
error in its queue), never the DUT's: the harness reports it apart from a DUT failing its limits.
"""


class BenchFault(Exception):
    """An instrument misbehaved. Names the instrument, its address and the command."""

    def __init__(self, instrument: str, address: str, command: str, reason: str):
        self.instrument = instrument
        self.address = address
        self.command = command
        self.reason = reason
        super().__init__(f"bench fault: {instrument} at {address}: {command!r}: {reason}")


class LjmUnavailable(BenchFault):
    """labjack-ljm is installed but its native library libLabJackM is not."""
