"""The stateful fuzz model: a hypothesis RuleBasedStateMachine playing the phone against a DUT.

Every rule is one step: a batch of frames sent back to back (valid requests, invalid fields, frame
mutations, audio and photo traffic, settings, events, reconnects, sequence jumps), followed by two
probes, Ping and SettingsGet, so that after every step the DUT is checked alive, its replies against
the model and its settings read back as written. Each example starts from a deterministic reset, so
hypothesis can replay and shrink a failure to the shortest sequence of steps that still fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from bench.fuzz.corpus import CORPUS_KEY
from bench.fuzz.oracles import failure_for
from bench.fuzz.runner import Stats, stateful_chunk
from bench.profiles.glp import messages as m
from bench.profiles.glp.frames import OVERHEAD, Frame, encode_frame, fragment
from bench.profiles.glp.fuzz_coverage import DeviceCoverage
from bench.profiles.glp.fuzz_steps import StepRecord, dump_steps, event_check, load_steps, replay_steps
from bench.profiles.glp.fuzz_target import Target, unanswered
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.mutations import MUTATIONS, invalid_request_frame, mutate, out_of_range, request_classes
from bench.profiles.glp.strategies import boundary_first, length_strategy, message_strategy, wire_strategy

REQUESTS = st.one_of([message_strategy(c) for c in request_classes()])  # type: ignore[arg-type]  # class objects are hashable; mypy reads Message.__hash__ as unbound
LC3: dict[str, Any] = dict(codec=m.Codec.LC3, sample_rate_hz=16000, frame_duration_us=10000)
LC3_10MS = (m.Codec.LC3, 16000, 10000)
STREAM_CONTROL = [m.AudioUplinkStart(**LC3), m.AudioUplinkStop(), m.AudioDownlinkStart(**LC3), m.AudioDownlinkStop()]
OFFSETS = ["zero", "last", "size", "past", "inside"]
PHOTO_TYPES = {bytes((m.PhotoCapture.TYPE,)), bytes((m.FactoryReset.TYPE,))}  # requests that change the photos
PIPELINE_FRAMES = 96  # unanswered frames the machine lets be in flight before it waits for the oldest answers
SETTLE_FRAMES = 256  # frames sent between full settles: where a failure seen while pipelining is raised
EVENTS = [(k, d) for k, ds in m.EVENT_DETAILS.items() for d in ds]
AUDIO_MIN = OVERHEAD + 5  # an AudioFrame: capture time + at least one data byte
BURSTS = {"text": m.TextNotify(m.TextMode.DISPLAY, "fuzz"), "ping": m.Ping(7), "battery": m.BatteryGet(),
          "settings": m.SettingsGet()}
# Long sequences are dear over BLE (~360 frames/s): one in three crosses an 8-bit wrap, the rest are short
LONG = st.one_of(st.just(256), st.integers(8, 64), st.integers(8, 64))
WRAPS = [0xFFFF - 4, 0xFFFF, 0xFF - 4, 0x7FFF - 4]  # frame_index starts that cross a u16/u8/i16 edge in 8 frames
WRAP_START = st.one_of(*[st.sampled_from(WRAPS)] * 3, st.integers(0, 0xFFFF))  # three in four at an edge


def make_machine(target: Target, stats: Stats, coverage: DeviceCoverage | None = None) -> type[RuleBasedStateMachine]:
    """A machine class bound to `target` (hypothesis instantiates it once per example); with `coverage`
    each example ends by reading the device's coverage and steering hypothesis by it."""

    class GlpSession(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.target, self.stats = target, stats
            self.steps: list[StepRecord] = []
            self.writes = 0
            self.seq = {Channel.CONTROL_IN: 1, Channel.AUDIO_DOWN: 0}
            self.capture_us = 0
            self.unsettled = 0  # frames sent since the last full settle (draws alone decide it)
            self.photo_source = -1  # the last write that may change the photos (PhotoCapture, FactoryReset)
            self.failed: Any = None
            self.raised = False
            self.model = None if stats.over else target.reset()
            stats.examples += 1

        # -- plumbing ----------------------------------------------------------------------------------
        def _frame(self, type_code: int, payload: bytes, channel: Channel = Channel.CONTROL_IN) -> bytes:
            seq = self.seq[channel]
            self.seq[channel] = (seq + 1) & 0xFF
            self.stats.cover("message types", type_code)
            return encode_frame(Frame(type_code, seq, payload))

        def _msg(self, msg: m.Message, channel: Channel = Channel.CONTROL_IN, check: bool = True) -> bytes:
            return self._frame(msg.TYPE, msg.encode(check), channel)

        def _settle(self) -> None:
            """Wait for every outstanding answer (before a rule that reads state learned from replies).

            Failures seen while pipelining are raised only here, at points that depend on the drawn data
            alone, so that a replay draws exactly as much as the first run (hypothesis needs that)."""
            self.unsettled = 0
            if self.failed is not None:
                self._judge(self.failed)
            if self.model is not None and not self.model.done:
                self._judge(self.target.settle(self.model))

        def _learn_photos(self) -> None:
            """Wait for the answers the photo list depends on (not for everything in flight)."""
            if self.model is not None and self.failed is None:
                outcome = self.target.answered_through(self.model, self.photo_source)
                if not outcome.ok:
                    self.failed = outcome  # timing-dependent: raised at the next settle

        def teardown(self) -> None:
            if not self.raised:  # raising again would chain the failures: hypothesis would see two bugs
                self._settle()
                if coverage is not None and self.model is not None:
                    coverage.observe(self.stats)

        def _judge(self, outcome: Any) -> None:
            if not outcome.ok:
                self.stats.failed()
                self.raised = True
                raise failure_for(outcome, self.steps, self.target)

        def _step(self, rule: str, frames: list[tuple[Channel, bytes]], split: bool = True,
                  action: tuple[str, ...] = ()) -> None:
            """Send frames (fragmented to the link unless already fragments), flush, probe, judge."""
            if self.model is None:
                return
            mp = self.target.max_payload
            writes = [(ch, part) for ch, raw in frames for part in (fragment(raw, mp) if split else [raw])]
            probes = [(Channel.CONTROL_IN, self._msg(m.Ping(len(self.steps)))),
                      (Channel.CONTROL_IN, self._msg(m.SettingsGet()))]
            record = StepRecord(rule if self.failed is None else f"{rule} (not sent: the DUT had failed)", [], action)
            self.steps.append(record)
            first = self.writes
            self.unsettled += len(writes) + len(probes)
            if any(ch is Channel.CONTROL_IN and raw[1:2] in PHOTO_TYPES for ch, raw in frames):
                self.photo_source = first + len(writes) - 1
            if self.failed is None:
                outcome = self.target.exchange(self.model, writes, first, probes, wait=False)
                for i, (ch, data, note) in enumerate(self.target.last_writes):
                    record.writes.append((first + i, ch, data, note))
                self.writes += len(self.target.last_writes)
                self.stats.step()
                if not outcome.ok:
                    self.failed = outcome  # stop sending; raised at the next settle point
            if self.unsettled >= SETTLE_FRAMES:
                self._settle()  # a raise point that depends on the draws alone, close enough to keep shrinking quick
            elif self.failed is None and unanswered(self.model) >= PIPELINE_FRAMES:
                # a sliding window, not a full settle: the link never runs dry. What the wait sees
                # depends on timing, so a failure is only kept here and raised at the next settle.
                outcome = self.target.drain_to(self.model, PIPELINE_FRAMES // 2)
                if not outcome.ok:
                    self.failed = outcome

        # -- rules -------------------------------------------------------------------------------------
        @rule(msgs=st.lists(REQUESTS, min_size=1, max_size=16))
        def requests(self, msgs: list[m.Message]) -> None:
            self._step("requests", [(Channel.CONTROL_IN, self._msg(x)) for x in msgs])

        @rule(valid=st.booleans(), min_v=st.sampled_from([0, 2, 15]), max_v=st.sampled_from([1, 0, 15]),
              frame_len=st.sampled_from([8192, 512, 27, 26, 0xFFFF]))
        def hello(self, valid: bool, min_v: int, max_v: int, frame_len: int) -> None:
            """Half the time a Hello that works (most requests need one), else boundary versions."""
            if valid:
                min_v, max_v, frame_len = 1, max(1, max_v), max(27, min(frame_len, 8192))
            payload = bytes((min_v, max_v)) + frame_len.to_bytes(2, "little")
            self._step("hello", [(Channel.CONTROL_IN, self._frame(m.Hello.TYPE, payload))])

        @rule(data=st.data(), n=st.integers(1, 4))
        def invalid_fields(self, data: st.DataObject, n: int) -> None:
            frames = []
            for _ in range(n):
                raw = data.draw(invalid_request_frame(self.seq[Channel.CONTROL_IN]))
                self._frame(raw[1], b"")  # advance seq, count the type
                frames.append((Channel.CONTROL_IN, raw))
            self._step("invalid_fields", frames)

        @rule(data=st.data(), base=REQUESTS)
        def mutated(self, data: st.DataObject, base: m.Message) -> None:
            params = self.target.params
            assert params is not None
            self._mutated(data.draw(mutate(self._msg(base), self.target.max_payload, params.hello.max_frame_len)))

        def _mutated(self, mut: Any) -> None:
            self.stats.cover("mutations", mut.name)
            self._step(f"mutated:{mut.name}", [(Channel.CONTROL_IN, f) for f in mut.fragments], split=False)

        @rule(msg=message_strategy(m.TextNotify), size=boundary_first([1], st.integers(1, 8)))
        def fragmented(self, msg: m.Message, size: int) -> None:
            """A long frame written in many small fragments (reassembly under stress)."""
            raw = self._msg(msg)
            parts = [raw[:5]] + [raw[i:i + size] for i in range(5, len(raw), size)]
            self.stats.cover("mutations", "tiny_fragments")
            self._step(f"fragmented:{size}", [(Channel.CONTROL_IN, p) for p in parts], split=False)

        @rule(key=st.sampled_from(list(m.SettingKey)), data=st.data())
        def setting(self, key: m.SettingKey, data: st.DataObject) -> None:
            """A valid value (its boundaries first) or one just outside the key's range: refused, and the
            probe's SettingsGet then reads back that nothing changed (a write that half-happened shows)."""
            rng = m.SETTING_RANGES[key]
            value = data.draw(st.one_of(wire_strategy(rng), st.sampled_from(out_of_range(rng))))
            self._step("setting", [(Channel.CONTROL_IN, self._msg(m.SettingSet(key, value), check=False))])

        @rule(msg=st.sampled_from(STREAM_CONTROL))
        def audio(self, msg: m.Message) -> None:
            self._step("audio", [(Channel.CONTROL_IN, self._msg(msg))])

        @rule(n=st.integers(1, 12), size=boundary_first([40, 1], st.integers(1, 120)))
        def audio_frames(self, n: int, size: int) -> None:
            frames = []  # the model decides per frame whether the phone held a credit (else BUSY may come)
            for _ in range(n):
                self.capture_us = (self.capture_us + 10_000) & 0xFFFFFFFF
                frames.append((Channel.AUDIO_DOWN, self._msg(m.AudioFrame(self.capture_us, bytes(size)),
                                                             Channel.AUDIO_DOWN)))
            self._step("audio_frames", frames)

        @rule(quality=boundary_first([1, 100], st.integers(1, 100)))
        def photo_capture(self, quality: int) -> None:
            self._step("photo_capture", [(Channel.CONTROL_IN, self._msg(m.PhotoCapture(quality)))])

        @rule(which=boundary_first([0], st.integers(0, 4)), where=boundary_first(["size", "past"], st.sampled_from(OFFSETS)),
              fraction=st.integers(0, 1 << 16),
              credits=boundary_first([1, 8], st.integers(1, 8)))
        def photo_read(self, which: int, where: str, fraction: int, credits: int) -> None:
            """Read a photo the model knows (or one past them) at an offset relative to its size.

            The draws never depend on what the DUT answered (hypothesis replays choices, not answers);
            they are mapped onto the learned photos once the answers to the captures are in."""
            self._learn_photos()
            photos = sorted(self.model.photos) if self.model is not None else []
            photo_id = photos[which] if which < len(photos) else max(photos, default=0) + 1
            size = self.model.photos[photo_id][0] if self.model is not None and photo_id in self.model.photos else 1000
            offset = {"zero": 0, "last": size - 1, "size": size, "past": size + 1,
                      "inside": fraction * (size - 1) >> 16}[where]
            self._step("photo_read", [(Channel.CONTROL_IN, self._msg(m.PhotoRead(photo_id, offset, credits)))])

        @rule(quality=boundary_first([1, 100], st.integers(1, 100)), where=st.sampled_from(["size", "past", "last"]))
        def photo_edge(self, quality: int, where: str) -> None:
            """Capture, then read the new photo right at its end (size - 1, size, size + 1): the offset
            boundary, two steps apart instead of a lucky order of three rules."""
            self._step("photo_capture", [(Channel.CONTROL_IN, self._msg(m.PhotoCapture(quality)))])
            self._learn_photos()
            photos = self.model.photos if self.model is not None else {}
            photo_id = next(reversed(photos), 1)
            size = photos[photo_id][0] if photo_id in photos else 1000
            offset = {"last": size - 1, "size": size, "past": size + 1}[where]
            self._step(f"photo_read:{where}", [(Channel.CONTROL_IN, self._msg(m.PhotoRead(photo_id, offset, 1)))])

        @rule(n=st.integers(1, 8))
        def photo_credit(self, n: int) -> None:
            self._step("photo_credit", [(Channel.CONTROL_IN, self._msg(m.Credit(m.CreditChannel.MEDIA, n)))])

        @rule(photo_id=st.integers(1, 6))
        def photo_abort(self, photo_id: int) -> None:
            self._step("photo_abort", [(Channel.CONTROL_IN, self._msg(m.PhotoAbort(photo_id)))])

        @rule(seq=boundary_first([255, 0, 254], st.integers(0, 255)))
        def seq_jump(self, seq: int) -> None:
            self.seq[Channel.CONTROL_IN] = seq
            self._step(f"seq_jump:{seq}", [])

        @rule(event=st.sampled_from(EVENTS))
        def device_event(self, event: tuple[m.EventKind, m.EventDetail]) -> None:
            self._settle()
            kind, detail = event
            if self.model is None or m.EVENT_CAPABILITY.get(kind, 0) & ~self.model.caps:
                return
            if self.target.trigger_event(kind.name.lower(), detail.name.lower()):
                self.model.expect_event(f"DeviceEvent({kind.name}, {detail.name})",
                                        event_check(kind, detail), self.writes)
            self._step(f"event:{kind.name.lower()}-{detail.name.lower()}", [],
                       action=("event", kind.name.lower(), detail.name.lower()))

        @rule(go=st.integers(0, 15))
        def reconnect(self, go: int) -> None:
            if go == 15 and self.model is not None:
                self._settle()
                self.target.reconnect(self.model)
                self._step("reconnect", [], action=("reconnect",))

        # Four arguments and a name after photo_read: hypothesis orders rules by (arguments, name), so this
        # rule comes last and the committed corpus (choice sequences of rule indices) still replays.
        @rule(where=st.sampled_from(["all", "all but one", "one over"]), size=boundary_first([43, 3], st.integers(3, 120)),
              config=boundary_first([LC3_10MS], st.sampled_from(sorted(m.AUDIO_CONFIGS))), fresh=st.booleans())
        def spend_credit(self, where: str, size: int, config: tuple[m.Codec, int, int], fresh: bool) -> None:
            """Spend exactly the downlink credit the phone holds (docs/protocol.md §5.5), or one less or
            one more: within it every frame must be taken, beyond it BUSY is due. The count is learned
            after settling (draws never depend on it); a stopped downlink (or, if `fresh`, any) is started
            in a new session first and its first CreditGrant awaited."""
            self._settle()
            if self.model is not None and (fresh or not (self.model.downlink and self.model.device_downlink)):
                codec, rate_hz, frame_us = config
                start = m.AudioDownlinkStart(codec, rate_hz, frame_us)
                self._step("spend_credit:start", [(Channel.CONTROL_IN, self._msg(m.Hello(1, 1, 8192))),
                                                  (Channel.CONTROL_IN, self._msg(start))])
                self._settle()
            held = max(0, self.model.down_credits) if self.model is not None else 0
            frames = []
            for _ in range(held + {"all": 0, "all but one": -1, "one over": 1}[where]):
                self.capture_us = (self.capture_us + 10_000) & 0xFFFFFFFF
                frames.append((Channel.AUDIO_DOWN, self._msg(m.AudioFrame(self.capture_us, bytes(size)), Channel.AUDIO_DOWN)))
            self._step(f"spend_credit:{where}", frames)

        # -- where firmware breaks: boundary lengths, long sequences, empty payloads ---------------------
        @rule(data=st.data(), audio=st.booleans())
        def sized_frame(self, data: st.DataObject, audio: bool) -> None:
            """One frame whose whole length sits on a boundary of the link or the receiver's buffer
            (MTU-3 and fragment edges, max_frame_len, each +-1): an AudioFrame on AUDIO_DOWN, or on
            CONTROL_IN a TextNotify (a Ping padded past its fields when the text cannot be that long)."""
            params = self.target.params
            assert params is not None
            mp, mfl = self.target.max_payload, params.hello.max_frame_len
            length = data.draw(length_strategy(mp, mfl, lo=AUDIO_MIN if audio else OVERHEAD))
            if audio:
                self.capture_us = (self.capture_us + 10_000) & 0xFFFFFFFF
                msg: m.Message = m.AudioFrame(self.capture_us, bytes(length - AUDIO_MIN + 1))
                frames = [(Channel.AUDIO_DOWN, self._msg(msg, Channel.AUDIO_DOWN))]
            elif 2 <= length - OVERHEAD <= 202:
                frames = [(Channel.CONTROL_IN, self._msg(m.TextNotify(m.TextMode.DISPLAY, "x" * (length - OVERHEAD - 2))))]
            else:
                payload = m.Ping(0).encode()
                payload = (payload + bytes(max(0, length - OVERHEAD - len(payload))))[:max(0, length - OVERHEAD)]
                frames = [(Channel.CONTROL_IN, self._frame(m.Ping.TYPE, payload))]
            self.stats.cover("lengths", "max_frame_len" if length == mfl else "other")
            self._step(f"sized_frame:{length}", frames)

        @rule(n=LONG, start=WRAP_START,
              size=boundary_first([3, 40], st.integers(3, 60)))
        def long_stream(self, n: int, start: int, size: int) -> None:
            """A new session (Hello) and a downlink stream of AudioFrames in one step (256 one time in three: the 8-bit frame
            seq wraps); the 16-bit frame_index (§5.8) runs from `start` across its 65535 -> 0 wrap where near."""
            frames = [(Channel.CONTROL_IN, self._msg(m.Hello(1, 1, 8192))),  # its own session: one step is enough
                      (Channel.CONTROL_IN, self._msg(m.AudioDownlinkStart(**LC3)))]
            for k in range(n):
                self.capture_us = (self.capture_us + 10_000) & 0xFFFFFFFF
                packet = ((start + k) & 0xFFFF).to_bytes(2, "little") + b"\x00" + bytes(size - 3)
                frames.append((Channel.AUDIO_DOWN, self._msg(m.AudioFrame(self.capture_us, packet), Channel.AUDIO_DOWN)))
            self.stats.cover("long sequences", "audio stream")
            self._step(f"long_stream:{n}@{start}", frames)

        @rule(kind=st.sampled_from(sorted(BURSTS)), n=LONG)
        def burst(self, kind: str, n: int) -> None:
            """One valid request back to back, 256 times one time in three (the request seq wraps 255 -> 0)."""
            self.stats.cover("long sequences", kind)
            self._step(f"burst:{kind}x{n}", [(Channel.CONTROL_IN, self._msg(BURSTS[kind])) for _ in range(n)])

        @rule(cls=st.sampled_from(request_classes()))
        def zero_payload(self, cls: type[m.Message]) -> None:
            """A frame of any request type with an empty payload (valid only for types without fields)."""
            self.stats.cover("zero payloads", cls.TYPE)
            self._step(f"zero_payload:{cls.__name__}", [(Channel.CONTROL_IN, self._frame(cls.TYPE, b""))])

        @rule(data=st.data(), base=REQUESTS)
        def zz_mutation_sweep(self, data: st.DataObject, base: m.Message) -> None:
            """Every frame-level mutation once, each its own step. Hypothesis picks rules unevenly (swarm
            testing turns rules off per example, its mutator copies runs of earlier examples): a 60 s BLE
            run, seed 3, made 7 `mutated` steps in 2043 and no frame of an unknown type. Delta debugging
            cuts a failing sweep down to its guilty step. Named to sort last: hypothesis orders rules by
            name, and the committed corpus's choice sequences index them."""
            params = self.target.params
            assert params is not None
            for name in MUTATIONS:
                self._mutated(data.draw(mutate(self._msg(base), self.target.max_payload, params.hello.max_frame_len, name)))

    return GlpSession


class GlpFuzzModel:
    """The GLP fuzz model on one target (BLE or serial), as bench.fuzz.runner drives it."""

    corpus_key = CORPUS_KEY

    def __init__(self, target: Target) -> None:
        self.target, self.kind = target, target.kind
        self.axes = {"message types": frozenset(c.TYPE for c in request_classes()), "mutations": frozenset(MUTATIONS),
                     "zero payloads": frozenset(c.TYPE for c in request_classes()),
                     "long sequences": frozenset([*BURSTS, "audio stream"]), "lengths": frozenset(["max_frame_len"])}
        self.coverage = DeviceCoverage(target)  # the reference bench's side channel; hardware has none
        self.axes.update(self.coverage.axes)
        self._machine: tuple[Stats, type[RuleBasedStateMachine]] | None = None

    def frames_sent(self) -> int:
        return self.target.frames_sent

    def whole_frames_sent(self) -> int:
        return self.target.whole_frames_sent

    def run_chunk(self, stats: Stats, config: Any, seed: int) -> None:
        if self._machine is None or self._machine[0] is not stats:  # one machine class per run
            self._machine = (stats, make_machine(self.target, stats, self.coverage if self.coverage.available else None))
        stateful_chunk(self._machine[1], config, seed)

    # -- bench.fuzz.runner.Replayable: delta debugging on a fresh device, pipelining off ------------------
    def steps_of(self, failure: Any) -> list[Any]:
        return [s for s in failure.steps if s.writes or s.action]  # steps never sent add nothing

    def replay(self, steps: list[Any], stats: Stats) -> Any:
        return replay_steps(self.target, steps, stats)

    @staticmethod
    def merge(a: StepRecord, b: StepRecord) -> StepRecord | None:
        """One step: a's writes without its probes, then b's writes and probes (b's event or reconnect
        cannot move into the middle of a, so such a pair stays two steps)."""
        if b.action:
            return None
        writes = [w for w in a.writes if w[3] != "probe"] + b.writes
        return StepRecord(f"{a.rule} + {b.rule}", writes, a.action)

    def dump_steps(self, steps: list[StepRecord], path: Path) -> Path:
        return dump_steps(steps, path, self.kind)

    def load_steps(self, path: Path) -> list[StepRecord]:
        return load_steps(path)

    def close(self) -> None:
        self.target.close()
