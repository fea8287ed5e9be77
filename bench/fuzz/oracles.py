"""Fuzz failures, one class per oracle, each carrying the exact input that triggered it.

crash     a fatal-error dump or an unexpected boot on the console, or the link dropped   -> DUT CRASH
hang      no answer (no heartbeat Ping reply, no reply to a request) within the timeout  -> DUT TIMEOUT
violation an answer that disagrees with the model (wrong reply, unexpected frame)        -> PROTOCOL VIOLATION

The message starts with the bench's failure tag, so Allure files it under the matching category.
"""

from __future__ import annotations

from typing import Any

from bench.errors import DutCrash, DutTimeout, ProtocolViolation


class FuzzFailure:
    """Mixin: the oracle, the steps of the (minimal) example, the transcript and the console log."""

    kind = ""

    def _fill(self, reason: str, source: int, steps: list[Any], transcript: str, console: list[str],
              target: str) -> None:
        self.reason, self.source, self.steps = reason, source, steps
        self.transcript, self.console, self.target = transcript, console, target

    def sequence(self) -> str:
        """The example as written, the guilty write or step marked ``>>``. A profile's step renders itself
        (``lines(n, source)``: the GLP step decodes its frames); anything else is one line per step."""
        lines: list[str] = []
        for n, step in enumerate(self.steps):
            render = getattr(step, "lines", None)
            lines += render(n, self.source) if render is not None else [f"{'>>' if n == self.source else '  '} step {n}: {step}"]
        return "\n".join(lines)

    def report(self) -> str:
        return "\n".join([
            f"{self}", "", f"minimal example ({len(self.steps)} steps, target {self.target}):", self.sequence(),
            "", "console around the failure:", *("  " + line for line in self.console),
        ])


class FuzzCrash(FuzzFailure, DutCrash):
    kind = "crash"


class FuzzHang(FuzzFailure, DutTimeout):
    kind = "hang"


class FuzzViolation(FuzzFailure, ProtocolViolation):
    kind = "violation"


CLASSES: dict[str, type[FuzzCrash | FuzzHang | FuzzViolation]] = {"crash": FuzzCrash, "hang": FuzzHang, "violation": FuzzViolation}


def blamed_step(steps: list[Any], source: int) -> int:
    """The step that made write #source (its first unanswered or wrongly answered write), else the last."""
    for n, step in enumerate(steps):
        if any(w[0] == source for w in getattr(step, "writes", ())):
            return n
    return len(steps) - 1


def failure_for(outcome: Any, steps: list[Any], target: Any) -> FuzzCrash | FuzzHang | FuzzViolation:
    """The exception for a failed step (raised inside the state machine, so hypothesis shrinks it)."""
    n = blamed_step(steps, outcome.source)
    where = f"step {n} ({steps[n].rule})"
    if outcome.source >= 0:
        where += f", write #{outcome.source}"
    if outcome.kind == "hang":  # liveness: no crash, no wrong answer, just silence
        text = f"fuzz hang after {where}: the device stopped answering (liveness probe unanswered, no crash): {outcome.reason}"
    else:
        text = f"fuzz {outcome.kind} at {where}: {outcome.reason}"
    exc = CLASSES[outcome.kind](text)
    exc._fill(outcome.reason, outcome.source, list(steps), target.transcript.dump(), list(outcome.console),
              target.kind)
    return exc
