import numpy as np
import pytest

from bench.audio.signals import (STIMULI, click_train, from_pcm16, log_sweep, make_stimulus, mls,
                                 speech_bursts, speech_shaped_noise, to_pcm16)


def dominant_hz(x, fs=16000):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / fs)[np.argmax(spec)]


def test_log_sweep_rises_from_f0_to_f1():
    x = log_sweep(1.0, 200.0, 4000.0)
    assert len(x) == 16000 and np.max(np.abs(x)) <= 0.5 + 1e-12
    assert dominant_hz(x[1000:1400]) == pytest.approx(200 * (4000 / 200) ** (1200 / 16000), rel=0.15)
    assert dominant_hz(x[-1400:-1000]) > 3000
    assert x[0] == 0.0 and abs(x[-1]) < 1e-3  # faded


def test_log_sweep_rejects_bad_band():
    with pytest.raises(ValueError, match="f0 < f1"):
        log_sweep(0.1, 100.0, 9000.0, sample_rate_hz=16000)


def test_mls_is_white_and_binary():
    x = mls(order=10)
    assert len(x) == 1023 and set(np.unique(x)) == {-0.5, 0.5}
    circ = np.fft.irfft(np.abs(np.fft.rfft(x)) ** 2, len(x))
    assert abs(circ[1:]).max() < 0.01 * circ[0]  # impulse-like periodic autocorrelation


def test_click_train_spacing():
    x = click_train(n_clicks=4, period_s=0.05)
    peaks = np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]) & (x[1:-1] > 0.5)) + 1
    assert np.allclose(np.diff(peaks), 800)


def test_speech_shaped_noise_spectrum_falls_off():
    x = speech_shaped_noise(32000, seed=3)
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    assert p[(f > 200) & (f < 500)].mean() > 30 * p[(f > 4000) & (f < 6000)].mean()
    assert np.array_equal(x, speech_shaped_noise(32000, seed=3))


def test_speech_bursts_have_gaps():
    x = speech_bursts(n_bursts=2, burst_s=0.1, gap_s=0.05)
    assert len(x) == 2 * (1600 + 800)
    assert np.all(x[1600:2400] == 0) and np.abs(x[:1600]).max() > 0.1


def test_registry_and_pcm16_round_trip():
    assert {"log_sweep", "mls", "click_train", "speech_bursts"} <= set(STIMULI)
    x = make_stimulus("log_sweep", duration_s=0.1)
    assert np.max(np.abs(from_pcm16(to_pcm16(x)) - x)) < 1 / 32767
    with pytest.raises(KeyError, match="expected one of"):
        make_stimulus("nope")
    with pytest.raises(ValueError, match="even length"):
        from_pcm16(b"\x00")
