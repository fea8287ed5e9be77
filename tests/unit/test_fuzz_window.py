"""The fuzz target's sliding window: what counts as unanswered, waits that stop early, one write per step on serial."""

from __future__ import annotations

import threading

import serial
from fuzz_loopback import LoopTarget

from bench.links.loop import LoopThread
from bench.profiles.glp import messages as m
from bench.profiles.glp.frames import encode_frame
from bench.profiles.glp.fuzz_target import first_unanswered_input, unanswered
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.transport import SerialTransport


def _request(msg: m.Message, seq: int) -> bytes:
    return encode_frame(m.encode_message(msg, seq))


def _reply(msg: m.Message, seq: int) -> bytes:
    return encode_frame(m.encode_message(msg, seq, reply=True))


def test_unanswered_counts_inputs_until_their_replies_match():
    target = LoopTarget()
    try:
        target.discover()
        model = target.reset()  # its sync Ping is answered already
        assert unanswered(model) == 0 and first_unanswered_input(model) is None
        for source, token in enumerate((11, 12, 13)):
            model.write(Channel.CONTROL_IN, _request(m.Ping(token), 1 + source), source)
        assert unanswered(model) == 3 and first_unanswered_input(model) == 0
        assert model.receive(Channel.CONTROL_OUT, _reply(m.Pong(11, 5), 1)) is None
        assert unanswered(model) == 2 and first_unanswered_input(model) == 1
        model.write(Channel.CONTROL_IN, _request(m.Credit(m.CreditChannel.MEDIA, 1), 4), 3)  # a command: no reply
        for seq, token in ((2, 12), (3, 13)):
            assert model.receive(Channel.CONTROL_OUT, _reply(m.Pong(token, 5), seq)) is None
        assert unanswered(model) == 0 and model.done
    finally:
        target.close()


def test_window_and_answer_waits_return_once_enough_has_come():
    target = LoopTarget()
    try:
        target.discover()
        model = target.reset()
        pings = [(Channel.CONTROL_IN, _request(m.Ping(i), 1 + i)) for i in range(40)]
        assert target.exchange(model, pings, 0, wait=False).ok
        assert target.drain_to(model, 10).ok
        assert unanswered(model) <= 10
        assert target.answered_through(model, 39).ok
        assert first_unanswered_input(model) is None and model.done
    finally:
        target.close()


def test_window_wait_runs_the_hang_oracle():
    target = LoopTarget(("text-queue-stall",))  # the 100th TextNotify of a session blocks the control task
    try:
        target.discover()
        model = target.reset()
        writes = [(Channel.CONTROL_IN, _request(m.Hello(1, 1, 8192), 1))]
        writes += [(Channel.CONTROL_IN, _request(m.TextNotify(m.TextMode.DISPLAY, "x"), 2 + i)) for i in range(110)]
        assert target.exchange(model, writes, 0, wait=False).ok
        outcome = target.drain_to(model, 0)
        assert outcome.kind == "hang", outcome
        assert "no answer within" in outcome.reason
    finally:
        target.close()


def test_serial_send_many_puts_the_same_packets_on_the_port_in_order():
    loop = LoopThread("send-many")
    port = serial.serial_for_url("loop://", timeout=0.01)
    items = [(Channel.CONTROL_IN, _request(m.Ping(i), i)) for i in range(20)]
    items.insert(7, (Channel.AUDIO_DOWN, _request(m.AudioFrame(10_000, b"\x01\x00\x00abc"), 0)))
    got: list[tuple[Channel, bytes]] = []
    all_in = threading.Event()

    def receive(channel: Channel, data: bytes) -> None:
        got.append((channel, data))
        if len(got) >= len(items):
            all_in.set()
    transport = SerialTransport(port, loop.loop)
    transport.set_receiver(receive)
    try:
        loop.run(transport.send_many(items), 2)
        assert all_in.wait(5), f"{len(got)} of {len(items)} packets came back"
        assert got == items and not transport.errors
    finally:
        transport.close()
        port.close()
        loop.close()
