"""Failure classes of a bench run, one per Allure category.

A failed measurement is an ``AssertionError`` (Allure: failed); everything that stops a test from
measuring at all is another exception (Allure: broken). Each message starts with its category's
tag so ``categories.json`` can match it.
"""

from __future__ import annotations


class BenchError(Exception):
    """Base of every glassbench error; ``TAG`` prefixes the message."""

    TAG = "HARNESS ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(f"{self.TAG}: {message}")


class LimitExceeded(AssertionError):
    """A measurement outside its limits (the device is out of spec; the bench worked)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"LIMIT EXCEEDED: {message}")


class StreamCut(AssertionError):
    """An audio stream came out with a dropout (the stimulus not heard, or heard in pieces): a product
    failure, unless the host stalled during the stream for longer than the stream's buffers absorb
    (``stall_tolerance_s``: a jitter buffer of a few frames, so tens of ms, where any other test
    tolerates bench.stalls.OVERLOAD_S) -- then bench.faults calls it BENCH OVERLOADED."""

    def __init__(self, message: str, stall_tolerance_s: float | None = None) -> None:
        from bench.stalls import THRESHOLD_S  # the smallest stall recorded is already more than a 2-3 frame buffer holds

        super().__init__(message)
        self.stall_tolerance_s = THRESHOLD_S if stall_tolerance_s is None else stall_tolerance_s


class LinkLost(BenchError):
    """The BLE link or the radio went away under a test."""

    TAG = "LINK LOST"


class DutCrash(BenchError, AssertionError):
    """The device crashed: fatal-error dump or a boot with an unexpected reset reason. A product defect:
    an AssertionError too, so pytest and Allure file it as *failed*, not broken."""

    TAG = "DUT CRASH"


class ShellError(BenchError):
    """A console command the DUT's shell refused or failed (``foo: command not found``)."""

    TAG = "SHELL ERROR"

    def __init__(self, message: str, command: str = "", answer: str = "") -> None:
        super().__init__(message)
        self.command, self.answer = command, answer


class DutTimeout(BenchError):
    """The device did not answer in time (console or BLE)."""

    TAG = "DUT TIMEOUT"


class InstrumentFault(BenchError):
    """A bench instrument timed out, disconnected or answered nonsense."""

    TAG = "INSTRUMENT FAULT"


class ProtocolViolation(BenchError):
    """The device answered something the protocol does not allow."""

    TAG = "PROTOCOL VIOLATION"


class ConfigError(BenchError):
    """A bench file or test plan is malformed; the message names file, line and field."""

    TAG = "CONFIG ERROR"


class PairingFailed(BenchError):
    """Pairing or bonding with the device failed (refused, wrong passkey, lost bond)."""

    TAG = "PAIRING FAILED"


class BenchFault(BenchError):
    """The bench itself failed (the reference bench died or froze, a rig went away): nothing here says
    anything about the DUT. ``stop``: the remaining tests cannot run on this bench."""

    TAG = "BENCH FAULT"

    def __init__(self, message: str, stop: bool = False) -> None:
        super().__init__(message)
        self.stop = stop


class BenchOverloaded(BenchFault):
    """The host starved the bench or the harness during the test (an event-loop stall): the test's
    result is not evidence about the DUT."""

    TAG = "BENCH OVERLOADED"
