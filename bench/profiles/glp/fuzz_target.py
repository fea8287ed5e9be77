"""What the fuzzer talks to: a DUT over BLE or serial, its console, and a deterministic reset.

A target sends raw fragments without waiting per frame (BLE writes without response go out in the
same connection events), reassembles what comes back, hands every frame to the model, and watches the
oracles: the console (fatal-error dump, boot banner), the link (unexpected disconnect) and the clock
(no progress in time = hang). ``reset()`` returns the DUT to its power-on protocol state between
examples: console ``glp reset`` on the reference glasses (``reboot`` as the fallback, as on hardware).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.dut.console import Console
from bench.errors import BenchError
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import Frame, Reassembler, WholeFrames, decode_frame, encode_frame
from bench.profiles.glp.fuzz_model import DeviceParams, SessionModel
from bench.profiles.glp.gatt import GLASSES_TO_PHONE, Channel
from bench.profiles.glp.transcript import Transcript

SYNC_TOKEN = 0xFFFFFFFF
DRAIN_TOKEN = 0xFFFFFFFE


@dataclass
class Outcome:
    """How one step ended: ok, or the oracle that fired (crash | hang | violation) and why."""

    kind: str = "ok"
    reason: str = ""
    source: int = -1  # index of the write the failure is tied to (-1: not known)
    console: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class Target:
    """Base of the BLE and serial targets. Subclasses provide the link: `_send`, `_link_up`, `_relink`."""

    kind = ""
    reset_command = ""

    whole_frames = False  # serial targets: one frame per packet, nothing reassembled (docs/protocol.md §2)

    def __init__(self, loop: Any, console: Console | None, reply_timeout_s: float = 2.0) -> None:
        self.loop = loop  # bench.links.loop.LoopThread
        self.console = console
        self.reply_timeout_s = reply_timeout_s
        self.frames_sent = 0  # writes (fragments, probes and fillers included)
        self.whole_frames_sent = 0  # complete GLP frames those writes carried (the fuzz rate's unit)
        self.link_counts = {"writes": 0, "write_bytes": 0, "notifications": 0, "notification_bytes": 0}  # every
        # write and notification on the link, syncs included (the fuzz rate benchmark's air-time bound)
        self._tx_reasm: dict[Channel, Reassembler | WholeFrames] = {}
        self.transcript = Transcript(max_entries=5000)
        self.params: DeviceParams | None = None
        self.max_payload = 20
        self._rx: deque[tuple[Channel, bytes]] = deque()
        self._rx_event: asyncio.Event | None = None
        self._reasm = {ch: (WholeFrames() if self.whole_frames else Reassembler()) for ch in GLASSES_TO_PHONE}
        self.mark = 0
        self._last_progress = time.monotonic()
        self._settled = False  # every write so far is answered and no oracle fired (reset may skip its drain)

    # -- subclass contract ---------------------------------------------------------------------------
    async def _send(self, channel: Channel, data: bytes) -> None:
        raise NotImplementedError

    def _link_up(self) -> bool:
        raise NotImplementedError

    def _relink(self) -> None:
        """Re-establish the link after a reboot (synchronous; runs on the caller's thread)."""

    def reconnect(self, model: SessionModel) -> None:
        """Drop the session and start a new one (the DUT forgets per-session state)."""
        raise NotImplementedError

    # -- receiving -----------------------------------------------------------------------------------
    def _on_fragment(self, channel: Channel, data: bytes) -> None:
        self.link_counts["notifications"] += 1
        self.link_counts["notification_bytes"] += len(data)
        try:
            raw = self._reasm[channel].feed(data)
        except ProtocolError as exc:
            self.transcript.add(time.monotonic(), "rx", channel, data, f"dropped: {exc}")
            raw = bytes(data)  # the model reports it as a malformed frame
        if raw is not None:
            self._rx.append((channel, raw))
            if self._rx_event is not None:
                self._rx_event.set()

    async def _init_rx(self) -> None:
        self._rx_event = asyncio.Event()

    def _fresh_rx(self) -> None:
        self._reasm = {ch: (WholeFrames() if self.whole_frames else Reassembler()) for ch in GLASSES_TO_PHONE}
        self._rx.clear()

    # -- one step ------------------------------------------------------------------------------------
    def exchange(self, model: SessionModel, writes: list[tuple[Channel, bytes]], first_source: int = 0,
                 probes: list[tuple[Channel, bytes]] = (), wait: bool = True) -> Outcome:  # type: ignore[assignment]
        """Send `writes` back to back, complete any partial frame, send `probes`, then judge what came
        back. wait=True waits until the model has everything it expects; wait=False only takes what has
        arrived (pipelining: later steps go out before earlier answers are in). `last_writes` holds
        what went out, with notes."""
        n = len(writes) + len(probes)
        budget = self.reply_timeout_s * 4 + 0.01 * n + 5
        return self.loop.run(self._exchange(model, list(writes), first_source, list(probes), wait), budget,
                             f"{self.kind} fuzz step")

    def settle(self, model: SessionModel) -> Outcome:
        """Wait until every answer the model expects has come (or an oracle fires)."""
        return self.exchange(model, [], 0, [], wait=True)

    def drain_to(self, model: SessionModel, backlog: int) -> Outcome:
        """Wait until at most `backlog` inputs are still unanswered (a sliding window: the link stays
        busy while the oldest answers come in), or an oracle fires."""
        return self._wait_until(model, lambda: unanswered(model) <= backlog, "window")

    def answered_through(self, model: SessionModel, source: int) -> Outcome:
        """Wait until every input up to write #`source` is answered (what the model learns from those
        replies is then known; later inputs may still be in flight), or an oracle fires."""
        def through() -> bool:
            first = first_unanswered_input(model)
            return first is None or first > source

        return self._wait_until(model, through, "answers")

    def _wait_until(self, model: SessionModel, enough: Callable[[], bool], what: str) -> Outcome:
        if enough():
            return Outcome()
        return self.loop.run(self._exchange(model, [], 0, [], True, enough), self.reply_timeout_s * 4 + 5,
                             f"{self.kind} fuzz {what}")

    async def _exchange(self, model: SessionModel, writes: list[tuple[Channel, bytes]], first: int,
                        probes: list[tuple[Channel, bytes]], wait: bool,
                        enough: Callable[[], bool] | None = None) -> Outcome:
        assert self._rx_event is not None
        self._settled = False
        self.last_writes: list[tuple[Channel, bytes, str]] = []
        if model.done:
            self._last_progress = time.monotonic()
        sent = await self._write_all(model, writes, first, "")
        if sent:
            for channel in (Channel.CONTROL_IN, Channel.AUDIO_DOWN):
                missing = model.flush_bytes(channel)  # complete a partial frame: no state leaks to later steps
                filler = [bytes(min(self.max_payload, missing - i)) for i in range(0, missing, self.max_payload)]
                sent = sent and await self._write_all(model, [(channel, f) for f in filler], first, "filler")
        if sent:
            await self._write_all(model, probes, first, "probe")
        while True:
            self._rx_event.clear()
            while self._rx:
                channel, raw = self._rx.popleft()
                now = time.monotonic()
                if channel is not Channel.AUDIO_UP:  # a running mic stream is no answer: a stalled device still streams
                    self._last_progress = now
                bad = model.receive(channel, raw)
                self.transcript.add(now, "rx", channel, raw, bad[0] if bad else "")
                if bad is not None:
                    return self._judged(Outcome(bad.kind, bad.why, bad.source))
            crash = self._console_crash()
            if crash:
                return Outcome("crash", crash, model.matcher.first_unanswered_source(), self.console_tail())
            if not self._link_up():
                return Outcome("crash", "unexpected disconnect", model.matcher.first_unanswered_source(),
                               self.console_tail())
            if model.done or (enough is not None and enough()):
                self._settled = model.done
                return Outcome()
            if time.monotonic() - self._last_progress > self.reply_timeout_s:
                waiting = "; ".join(e.what for e in model.matcher.outstanding()[:3]) or "queued inputs"
                return self._judged(Outcome("hang", f"no answer within {self.reply_timeout_s:g} s; waiting for "
                                                    f"{waiting}", model.matcher.first_unanswered_source()))
            if not wait:
                return Outcome()
            try:
                async with asyncio.timeout(0.02):
                    await self._rx_event.wait()
            except asyncio.TimeoutError:
                pass

    async def _write_all(self, model: SessionModel, writes: list[tuple[Channel, bytes]], first: int,
                         note: str) -> bool:
        for channel, data in writes:
            index = first + len(self.last_writes)
            self.last_writes.append((channel, data, note))
            self.transcript.add(time.monotonic(), "tx", channel, data, f"write {index} {note}".strip())
            model.write(channel, data, index)
        sent = await self._send_all(writes)
        for channel, data in writes[:sent]:
            self.frames_sent += 1
            self._count_whole(channel, data)
        self._last_progress = time.monotonic()  # no answer is due before the input is out (long steps)
        return sent == len(writes)

    async def _send_all(self, writes: list[tuple[Channel, bytes]]) -> int:
        """Put `writes` on the link in order; how many went out (fewer only when the link went down).
        A target whose link takes one buffer for many writes (serial) overrides this."""
        for i, (channel, data) in enumerate(writes):
            try:
                await self._send(channel, data)
            except Exception as exc:  # noqa: BLE001 - a dead link is judged by the caller
                if self._link_up():
                    raise BenchError(f"{self.kind} write failed while the link is up: {exc}") from exc
                return i
        return len(writes)

    def _count_whole(self, channel: Channel, data: bytes) -> None:
        """Count a complete frame when this write finishes one, as the device's reassembler would."""
        reasm = self._tx_reasm.get(channel)
        if reasm is None:
            reasm = self._tx_reasm[channel] = WholeFrames() if self.whole_frames else Reassembler()
        try:
            if reasm.feed(data) is not None:
                self.whole_frames_sent += 1
        except ProtocolError:
            pass

    def _judged(self, outcome: Outcome) -> Outcome:
        """A violation or hang that coincides with a crash is a crash."""
        crash = self._console_crash()
        if crash:
            outcome.kind, outcome.reason = "crash", f"{crash} (seen as: {outcome.reason})"
        outcome.console = self.console_tail()
        return outcome

    # -- console oracle -------------------------------------------------------------------------------
    def _console_crash(self) -> str:
        if self.console is None:
            return ""
        for rec in self.console.records_since(self.mark):
            if self.console.driver.crash(rec.text):
                return f"fatal error on the console: {rec.text}"
            if self.console.driver.boot(rec.text):
                return f"unexpected reboot: {rec.text}"
        return ""

    def console_tail(self, n: int = 30) -> list[str]:
        if self.console is None:
            return []
        own = ("glp ", "event sent", "event not sent")  # the fuzzer's own reset/event commands and answers
        return [r.text for r in self.console.records_since(max(0, self.mark - 20))
                if not r.text.startswith(own)][-n:]

    def trigger_event(self, kind: str, detail: str) -> bool:
        """Make the DUT raise a device event (console `glp event`); False when it had no session."""
        self._settled = False
        return "event sent" in self.command(f"glp event {self.kind} {kind} {detail}")

    def command(self, cmd: str, timeout_s: float = 3.0) -> str:
        if self.console is None:
            raise BenchError(f"the {self.kind} target has no console for {cmd!r}")
        return self.console.command(cmd, timeout_s)

    # -- reset ---------------------------------------------------------------------------------------
    def reset(self) -> SessionModel:
        """Known state before each example; returns the model for it (its first frame is a sync Ping)."""
        settled, self._settled = self._settled, False
        for attempt in range(3):
            if self._console_crash() or not self._link_up():
                self._recover()
                settled = False
            if not (attempt == 0 and settled):  # the last example ended with every answer in: nothing to drain
                self._device_reset()  # revive a hung or silenced protocol
                # frames of the last example may still be on their way: let the DUT take them all, then reset
                drained = self.loop.run(self._sync(DRAIN_TOKEN), self.reply_timeout_s + 3, "drain before reset")
                if drained is None or self._console_crash():
                    continue
            self._device_reset()
            self.loop.run(_call(self._fresh_rx), 2)
            self.transcript = Transcript(max_entries=5000)
            pong = self.loop.run(self._sync(), self.reply_timeout_s + 3, "sync after reset")
            if pong is not None:
                model = SessionModel(self.params) if self.params is not None else None
                if model is not None:  # the sync Ping is the example's first frame (seq 0, in the reply cache)
                    model.write(Channel.CONTROL_IN, _ping(0), -1)
                    if model.receive(Channel.CONTROL_OUT, pong) is None:
                        return model
                else:
                    return None  # type: ignore[return-value]
            if attempt == 1 and self.console is not None:
                self.console.link.write(self.console.driver.reboot_command.encode() + b"\r")  # as on hardware: a reboot is the last resort
                time.sleep(0.05)
        raise BenchError(f"{self.kind} target: the DUT did not come back to a known state after 3 resets")

    def _device_reset(self) -> None:
        """Put the DUT's protocol in its power-on state, keeping the link (console `glp reset`)."""
        if self.console is not None:
            self.command(self.reset_command)
            self.mark = self.console.mark()

    def _recover(self) -> None:
        """After a crash: wait for the boot banner, then bring the link back."""
        if self.console is not None:
            fatal = self.console.crash_line(self.mark) is not None
            booted = any(self.console.driver.boot(r.text) for r in self.console.records_since(self.mark))
            if fatal and not booted:
                self.console.wait_for_boot(15.0, since=self.mark)
            self.mark = self.console.mark()
        self._relink()

    async def _sync(self, token: int = SYNC_TOKEN) -> bytes | None:
        """Ping with seq 0 and drop everything that arrives before its Pong (stale frames of the last example)."""
        assert self._rx_event is not None
        await self._send(Channel.CONTROL_IN, _ping(0, token))
        deadline = time.monotonic() + self.reply_timeout_s
        while time.monotonic() < deadline:
            while self._rx:
                channel, raw = self._rx.popleft()
                try:
                    frame = decode_frame(raw)
                    msg = m.decode_message(frame)
                except ProtocolError:
                    continue
                if frame.is_reply and frame.seq == 0 and isinstance(msg, m.Pong) and msg.token == token:
                    return raw
            self._rx_event.clear()
            try:
                async with asyncio.timeout(0.05):
                    await self._rx_event.wait()
            except asyncio.TimeoutError:
                pass
        return None

    def discover(self) -> DeviceParams:
        """Ask the DUT once who it is (HelloReply, DeviceInfo); every later answer is checked against it."""
        self.reset()
        replies = self.loop.run(self._ask([m.Hello(1, 1, 8192), m.DeviceInfoGet()]), 10, "discover")
        hello, info = replies
        if not isinstance(hello, m.HelloReply) or not isinstance(info, m.DeviceInfo):
            raise BenchError(f"{self.kind} target: unexpected answers to Hello/DeviceInfoGet: {replies}")
        # Are privileged requests accepted on this link (§5.11)? Setting the volume it already has changes nothing.
        current = self.loop.run(self._ask([m.SettingsGet()]), 10, "discover")[0]
        volume = current.volume_pct if isinstance(current, m.Settings) else m.DEFAULT_SETTINGS.volume_pct
        probe = self.loop.run(self._ask([m.SettingSet(m.SettingKey.VOLUME_PCT, volume)]), 10, "discover")[0]
        refused = isinstance(probe, m.ErrorReply) and probe.code == ErrorCode.INSUFFICIENT_SECURITY
        self.params = DeviceParams(hello, info, self.max_payload, self.whole_frames, privileged=not refused)
        return self.params

    async def _ask(self, msgs: list[m.Message]) -> list[m.Message]:
        assert self._rx_event is not None
        out = []
        for i, msg in enumerate(msgs):
            await self._send(Channel.CONTROL_IN, encode_frame(m.encode_message(msg, 100 + i)))
            while True:
                while not self._rx:
                    self._rx_event.clear()
                    async with asyncio.timeout(5):
                        await self._rx_event.wait()
                channel, raw = self._rx.popleft()
                frame = decode_frame(raw)
                if frame.is_reply and frame.seq == 100 + i:
                    out.append(m.decode_message(frame))
                    break
        return out

    def close(self) -> None:
        """Leave the DUT as fuzzing found it: protocol in its power-on state (no stream left running)."""
        try:
            self._device_reset()
        except Exception:  # noqa: BLE001 - a DUT that cannot be reset is the next test's finding
            pass


def unanswered(model: SessionModel) -> int:
    """Inputs the DUT has not answered yet: frames not yet predicted plus replies due (optional ones,
    e.g. a tolerated BUSY, excluded)."""
    matcher = model.matcher
    return len(matcher.pending) + sum(not e.optional for e in matcher.replies)


def first_unanswered_input(model: SessionModel) -> int | None:
    """The write index of the oldest input still waiting for its reply (None when none is)."""
    matcher = model.matcher
    sources = [i.source for i in matcher.pending] + [e.source for e in matcher.replies if not e.optional]
    return min(sources, default=None)


def _ping(seq: int, token: int = SYNC_TOKEN) -> bytes:
    return encode_frame(Frame(m.Ping.TYPE, seq, m.Ping(token).encode()))


async def _call(fn: Any) -> Any:
    return fn()
