import math

import pytest

from bench.audio.budget import air_time_s, uplink_budget


def test_air_time_matches_the_core_spec_figures():
    assert air_time_s(251, "1M", encrypted=True) == pytest.approx(2120e-6)
    assert air_time_s(251, "2M", encrypted=True) == pytest.approx(1064e-6)
    with pytest.raises(ValueError, match="phy"):
        air_time_s(10, "coded")


@pytest.mark.parametrize("block,frame", [(128, 160), (256, 320), (160, 160), (100, 120)])
def test_adc_wait_is_the_mean_over_frame_phases(block, frame):
    waits = [(math.ceil((k + 1) * frame / block) * block - (k + 1) * frame) / 16000 for k in range(10000)]
    b = uplink_budget(frame_samples=frame, lookahead_samples=0, sample_rate_hz=16000,
                      adc_block_samples=block, encode_s=0.0, interval_s=0.0075, packet_bytes=43)
    assert b.parts_s["adc_block_wait_s"] == pytest.approx(sum(waits) / len(waits), abs=1e-6)
    assert b.total_s == pytest.approx(sum(b.parts_s.values()))
