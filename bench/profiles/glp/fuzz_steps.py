"""The steps of a GLP fuzz example as they went on the wire, and their replay on a fresh device.

The state machine (fuzz_machine.py) records every step as the exact writes it made (fragments, fillers
and the two liveness probes) plus any non-write action (a device event, a reconnect). Delta debugging
(bench/fuzz/shrink.py) replays subsequences of those records: each on a freshly reset DUT, one step at
a time with pipelining off, so the step whose probes first go unanswered (or whose answer is wrong) is
the one blamed. A record list is saved as JSON so that ``bench fuzz --replay FILE`` reruns it alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.fuzz.oracles import FuzzFailure, failure_for
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.frames import Frame, decode_frame
from bench.profiles.glp.gatt import Channel

STEPS_FORMAT = "glp-fuzz-steps-v1"


@dataclass
class StepRecord:
    rule: str
    writes: list[tuple[int, Channel, bytes, str]]  # (write index, channel, bytes, note)
    action: tuple[str, ...] = ()  # ("event", kind, detail) or ("reconnect",): done before the writes

    def lines(self, n: int, source: int) -> list[str]:
        """This step as written: one line per write, decoded and in hex; the write #source is marked."""
        out = [f"step {n}: {self.rule}"]
        shown = self.writes if len(self.writes) <= 24 else self.writes[:10] + self.writes[-10:]
        for i, (index, channel, data, note) in enumerate(shown):
            if len(self.writes) > 24 and i == 10:
                out.append(f"    ... {len(self.writes) - 20} more writes ...")
            mark = ">>" if index == source else "  "
            out.append(f" {mark} #{index:<4} {channel.name:<10} {note:<6} {decode_write(data)}")
            out.append(f"           {data.hex(' ') or '(zero-length write)'}")
        guilty = [w for w in self.writes if w[0] == source]
        if guilty and guilty[0] not in shown:
            index, channel, data, note = guilty[0]
            out.append(f" >> #{index:<4} {channel.name:<10} {note:<6} {decode_write(data)}")
        return out

    @property
    def bytes_written(self) -> int:
        return sum(len(w[2]) for w in self.writes)


def decode_write(data: bytes) -> str:
    """What a written fragment says, if it is a whole frame; otherwise its length."""
    try:
        frame = decode_frame(data)
    except ProtocolError as exc:
        return f"<{len(data)} B, not a frame: {exc.reason}>"
    try:
        msg: Any = m.decode_message(frame)
    except ProtocolError as exc:
        return f"<frame type 0x{frame.type:02x} seq={frame.seq} flags={frame.flags}: {exc.reason}>"
    return f"{'REPLY-flagged ' if frame.is_reply else ''}seq={frame.seq} {msg!r}"


def replay_steps(target: Any, steps: list[StepRecord], stats: Any) -> FuzzFailure | None:
    """Run `steps` on a freshly reset DUT, waiting for every answer after each step (no pipelining).

    Returns the failure (blamed on the step whose answers or probes failed), or None if all passed."""
    model = target.reset()
    done: list[StepRecord] = []
    writes = 0
    for rec in steps:
        new = StepRecord(rec.rule, [], rec.action)
        done.append(new)
        if rec.action[:1] == ("event",):
            kind, detail = rec.action[1], rec.action[2]
            if target.trigger_event(kind, detail):
                k, d = m.EventKind[kind.upper()], m.EventDetail[detail.upper()]
                model.expect_event(f"DeviceEvent({k.name}, {d.name})", event_check(k, d), writes)
        elif rec.action[:1] == ("reconnect",):
            target.reconnect(model)
        main = [(ch, data) for _, ch, data, note in rec.writes if note != "probe"]
        probes = [(ch, data) for _, ch, data, note in rec.writes if note == "probe"]
        outcome = target.exchange(model, main, writes, probes, wait=True)
        for i, (ch, data, note) in enumerate(target.last_writes):
            new.writes.append((writes + i, ch, data, note))
        writes += len(target.last_writes)
        stats.step()
        if not outcome.ok:
            stats.failed()
            return failure_for(outcome, done, target)
    return None


def event_check(kind: m.EventKind, detail: m.EventDetail) -> Any:
    def check(_frame: Frame, msg: m.Message | None) -> str | None:
        ok = isinstance(msg, m.DeviceEvent) and msg.kind is kind and msg.detail is detail
        return None if ok else f"expected DeviceEvent({kind.name}, {detail.name})"
    return check


def dump_steps(steps: list[StepRecord], path: Path, target: str) -> Path:
    """Save `steps` for ``bench fuzz --replay`` (JSON: rule, action, writes as [channel, hex, note])."""
    doc = {"format": STEPS_FORMAT, "target": target,
           "steps": [{"rule": s.rule, "action": list(s.action),
                      "writes": [[int(ch), data.hex(), note] for _, ch, data, note in s.writes]} for s in steps]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def load_steps(path: Path) -> list[StepRecord]:
    """Read a file written by dump_steps; a wrong file is one clear BenchError."""
    try:
        doc = json.loads(Path(path).read_text())
        if doc.get("format") != STEPS_FORMAT:
            raise ValueError(f"format is {doc.get('format')!r}, expected {STEPS_FORMAT!r}")
        out, index = [], 0
        for s in doc["steps"]:
            writes = []
            for ch, hexdata, note in s["writes"]:
                writes.append((index, Channel(ch), bytes.fromhex(hexdata), str(note)))
                index += 1
            out.append(StepRecord(str(s["rule"]), writes, tuple(s.get("action", ()))))
        return out
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{path}: not a GLP fuzz steps file: {exc}") from exc
