"""OTA benchmark: a signed MCUboot image uploaded over SMP to the stock reference device, against the radio.

Prints one JSON line:
  upload_bytes, upload_s, upload_rate_Bps   a signed 96 KiB image through the harness's SMP client
  chunk_bytes                               image bytes per SMP request (the device's buffer, MCUMgr parameters)
  ideal_rate_Bps                            the same request/response exchange at the link's parameters, from
                                            the Core spec's packet arithmetic written out below (not the bench's
                                            radio model): each chunk = its LL data PDUs in as few connection
                                            events as fit, then one event for the response notification
  efficiency                                upload_rate / ideal_rate (target >= 0.75: little idle time beyond the ideal per
                                            chunk)
Exit 1 when the target is missed.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smp import image_management as img  # noqa: E402

from bench import project  # noqa: E402
from bench.config import load_bench  # noqa: E402
from bench.dut import mcuboot  # noqa: E402
from bench.session import BenchSession  # noqa: E402

TARGET_EFFICIENCY = 0.75
IMAGE_BYTES = 96 * 1024

# Core spec v5.4, Vol 6, Part B, 2.1 and 2.4: LE data PDU on air = preamble + access address (4) + header (2)
# + payload + MIC (4, encrypted links) + CRC (3); 1M: 1 us/bit, 1-byte preamble; 2M: 0.5 us/bit, 2-byte preamble.
T_IFS_US = 150.0
US_PER_BYTE = {"1M": 8.0, "2M": 4.0}
PREAMBLE = {"1M": 1, "2M": 2}
L2CAP_HEADER, ATT_WRITE_HEADER = 4, 3  # L2CAP basic header; ATT Write Command opcode + handle


def pdu_us(payload: int, phy: str, encrypted: bool) -> float:
    return (PREAMBLE[phy] + 4 + 2 + payload + (4 if encrypted and payload else 0) + 3) * US_PER_BYTE[phy]


def chunk_events(request_bytes: int, mtu: int, data_length: int, interval_us: float, phy: str, encrypted: bool) -> int:
    """Connection events the central needs to send one SMP request as ATT Write Commands."""
    att_payload = mtu - 3
    writes = [min(att_payload, request_bytes - i) for i in range(0, request_bytes, att_payload)]
    ll = [min(data_length, left) for w in writes for left in range(w + ATT_WRITE_HEADER + L2CAP_HEADER, 0, -data_length)]
    pair_us = [pdu_us(n, phy, encrypted) + T_IFS_US + pdu_us(0, phy, encrypted) + T_IFS_US for n in ll]
    events, used = 1, 0.0
    for us in pair_us:  # as many central/peripheral pairs per event as fit in the interval
        if used and used + us > interval_us:
            events, used = events + 1, 0.0
        used += us
    return events


def main() -> int:
    config = load_bench(os.environ.get("OTA_BENCH", "reference-stock.yaml"))
    key = mcuboot.load_key(project.builtin_folder("keys") / "ota-test-ed25519.pem")
    image = mcuboot.sign(os.urandom(IMAGE_BYTES - 1024), key, "9.0.0")
    with tempfile.TemporaryDirectory() as tmp, BenchSession(config, tmp) as session:
        dut = session.dut
        dut.connect()
        ota = dut.need("ota")
        buf_size, _count = ota.parameters()
        t0 = time.monotonic()
        ota.upload(image, timeout_s=120)
        upload_s = time.monotonic() - t0
        link = dut.link
        interval_s = link.interval_s or session.reference.ready["link"]["interval_s"]
        phy = link.phy or session.reference.ready["link"]["phy"]
        data_length = session.reference.ready["link"]["data_length"]
        mtu = dut.mtu
        encrypted = bool(dut.encrypted)
    overhead = len(bytes(img.ImageUploadWriteRequest(off=1 << 20, data=b""))) + 4
    chunk = buf_size - overhead
    events = chunk_events(buf_size, mtu, data_length, interval_s * 1e6, phy, encrypted) + 1  # + the response
    ideal = chunk / (events * interval_s)
    rate = len(image) / upload_s
    figures = {"upload_bytes": len(image), "upload_s": round(upload_s, 3), "upload_rate_Bps": round(rate),
               "chunk_bytes": chunk, "events_per_chunk": events, "link": f"{interval_s * 1000:g} ms {phy} dl {data_length} "
               f"mtu {mtu}{' encrypted' if encrypted else ''}", "ideal_rate_Bps": round(ideal),
               "efficiency": round(rate / ideal, 3), "target_efficiency": TARGET_EFFICIENCY,
               "chunks": math.ceil(len(image) / chunk)}
    print(json.dumps(figures))
    return 0 if rate / ideal >= TARGET_EFFICIENCY else 1


if __name__ == "__main__":
    sys.exit(main())
