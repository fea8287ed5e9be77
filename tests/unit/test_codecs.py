"""Codec round trips: sane SNR, and the lookahead each codec reports is the delay we measure."""
import numpy as np
import pytest

from bench.audio.codecs import CODECS, CodecError, code_stream, get_codec
from bench.audio.latency import estimate_delay
from bench.audio.signals import log_sweep

FS = 16000
EXPECTED = {  # name: (frame_s, lookahead_s, min SNR dB on a sweep)
    "lc3-10ms": (0.010, 0.0025, 15.0),
    "lc3-7.5ms": (0.0075, 0.004, 15.0),
    "opus-20ms": (0.020, 0.0025, 15.0),
    "pcm16": (0.010, 0.0, 80.0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_measured_delay_matches_reported(name):
    spec = get_codec(name)
    frame_s, look_s, min_snr = EXPECTED[name]
    assert spec.frame_s == pytest.approx(frame_s) and spec.lookahead_s == pytest.approx(look_s)
    assert spec.delay_s == pytest.approx(frame_s + look_s)
    x = np.round(log_sweep(0.4) * 32767).astype(np.int16)
    y = code_stream(spec, x).astype(float)
    est = estimate_delay(x.astype(float), y, FS, max_delay_s=0.05)
    assert est.delay_s == pytest.approx(look_s, abs=0.05 / FS)  # within 1/20 sample
    d = int(round(est.delay_samples))
    m = min(len(x), len(y) - d)
    err = y[d:d + m] - x[:m]
    assert 10 * np.log10(np.sum(x[:m].astype(float) ** 2) / max(np.sum(err ** 2), 1e-9)) > min_snr


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_lost_frame_is_concealed_with_one_frame(name):
    spec = get_codec(name)
    enc, dec = spec.encoder(), spec.decoder()
    frame = (np.sin(np.arange(spec.frame_samples) * 0.2) * 8000).astype(np.int16)
    dec.decode(enc.encode(frame))
    out = dec.decode(None)
    assert out.dtype == np.int16 and out.shape == (spec.frame_samples,)


def test_fixed_frame_sizes():
    assert get_codec("lc3-10ms").frame_bytes == 40 and get_codec("lc3-7.5ms").frame_bytes == 30
    assert get_codec("pcm16", frame_ms=7.5).frame_bytes == 240
    assert get_codec("opus-20ms").frame_bytes is None


def test_bad_input_is_a_codec_error():
    spec = get_codec("lc3-10ms")
    with pytest.raises(CodecError, match="160 samples"):
        spec.encoder().encode(np.zeros(100, dtype=np.int16))
    with pytest.raises(CodecError, match="empty frame"):
        spec.decoder().decode(b"")
    with pytest.raises(CodecError, match="320 bytes"):
        get_codec("pcm16").decoder().decode(b"\x00" * 10)
    with pytest.raises(KeyError, match="expected one of"):
        get_codec("aac")
    assert set(EXPECTED) <= set(CODECS)
