"""Fuzzer parts: mutations, the model's reassembly rule, the corpus database, failure reports."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from bench.fuzz.allure_result import write_result
from bench.fuzz.corpus import CorpusDatabase
from bench.profiles.glp.fuzz_matcher import ModelReassembler
from bench.fuzz.oracles import FuzzCrash, FuzzHang, FuzzViolation
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.frames import Reassembler, crc16, decode_frame, encode_frame
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.mutations import MUTATIONS, invalid_request_frame, mutate
from bench.profiles.glp.strategies import requests
from bench.report.allure import classify


@settings(max_examples=150, deadline=None)
@given(msg=requests(), data=st.data(), max_payload=st.sampled_from([20, 244]))
def test_mutations_fit_the_link(msg, data, max_payload):
    raw = encode_frame(m.encode_message(msg, 7))
    mut = data.draw(mutate(raw, max_payload, 512))
    assert mut.name in MUTATIONS
    assert all(len(f) <= max_payload for f in mut.fragments)
    if mut.name in ("unknown_type", "bad_version", "reserved_flags", "reply_flag"):
        body = mut.fragments[0] if len(mut.fragments) == 1 else b"".join(mut.fragments)
        assert crc16(body[:-2]) == int.from_bytes(body[-2:], "little")  # reaches the layer it tests


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_invalid_fields_are_rejected_by_the_schema(data):
    raw = data.draw(invalid_request_frame(3))
    frame = decode_frame(raw)  # the frame itself is intact
    try:
        m.decode_message(frame)
    except ProtocolError:
        return
    raise AssertionError(f"{raw.hex(' ')} decoded although a field is out of range")


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=40), max_size=12))
def test_model_reassembly_agrees_with_the_devices(chunks):
    """Two independent writings of the spec's reassembly rule (no staleness within a burst)."""
    model, device = ModelReassembler(64), Reassembler(64, stale_after_s=1e9)
    for chunk in chunks:
        want = model.feed(chunk)
        try:
            got: object = device.feed(chunk)
        except ProtocolError as exc:
            got = exc
        if isinstance(want, ProtocolError):
            assert isinstance(got, ProtocolError) and got.code == want.code
        else:
            assert got == want


def test_corpus_keeps_committed_examples_and_adds_only_on_commit(tmp_path):
    db = CorpusDatabase(tmp_path)
    db.save(b"digest", b"example-1")
    db.save(b"digest.secondary", b"example-0")
    assert list(db.fetch(b"digest")) == [b"example-1"]
    assert db.committed() == []
    assert db.commit() == 1
    again = CorpusDatabase(tmp_path)
    assert list(again.fetch(b"any-other-digest")) == [b"example-1"]
    again.delete(b"any-other-digest", b"example-1")  # a passing replay must not erase the corpus
    assert CorpusDatabase(tmp_path).committed() == [b"example-1"]
    assert list(CorpusDatabase(tmp_path, read_corpus=False).fetch(b"x")) == []


def _failure(cls):
    exc = cls("fuzz thing at step 0 (requests), write #1: reason")
    from bench.profiles.glp.fuzz_machine import StepRecord

    steps = [StepRecord("requests", [(0, Channel.CONTROL_IN, encode_frame(m.encode_message(m.Ping(5), 1)), ""),
                                     (1, Channel.CONTROL_IN, b"", "")])]
    exc._fill("reason", 1, steps, "transcript text", ["<err> os: Halting system"], "ble")
    return exc


def test_failures_land_in_their_allure_category(tmp_path):
    cases = {FuzzCrash: "DUT crash", FuzzHang: "DUT hang", FuzzViolation: "Protocol violation"}
    for cls, category in cases.items():
        failure = _failure(cls)
        assert ">> #1" in failure.sequence() and "zero-length write" in failure.sequence()
        assert "Ping(token=5)" in failure.report()
        result = json.loads(write_result(failure, tmp_path).read_text())
        assert classify(result["status"], result["statusDetails"]["message"]) == category
        names = {a["name"] for a in result["attachments"]}
        assert names == {"minimal example", "transcript", "console log"}
        assert all((tmp_path / a["source"]).exists() for a in result["attachments"])
