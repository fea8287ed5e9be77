"""Security by default: every socket the reference bench listens on is on 127.0.0.1 (or ::1), and the
radio's HCI is a Unix socket in a folder only this user can enter. Checked from the kernel's own
tables (/proc/net), not from what the bench says it did."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bench.config import load_bench
from bench.session import ReferenceProcess

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net")
LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1 as /proc/net prints them


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _listening(pid: int) -> list[tuple[str, int]]:
    """(local address hex, port) of every TCP socket of ``pid`` in LISTEN state."""
    inodes, found = _socket_inodes(pid), []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:
                address, port = local.split(":")
                found.append((address, int(port, 16)))
    return found


def test_reference_bench_listens_on_loopback_only(tmp_path):
    config = load_bench("reference-visa.yaml")  # HCI, rig, SCPI analyzer: every kind of server
    assert config.reference is not None
    ref = ReferenceProcess(config.reference, tmp_path / "reference-bench.log")
    try:
        listening = _listening(ref.proc.pid)
        assert listening, "the reference bench listens on no TCP socket at all (rig and SCPI should)"
        assert all(address in LOOPBACK for address, _ in listening), listening
        hci = ref.ready["hci"]
        assert hci.startswith("unix:"), hci
        path = Path(hci.removeprefix("unix:"))
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert all(port != 0 for _, port in listening)
    finally:
        ref.stop()
    assert not path.parent.exists(), "the HCI socket folder is left behind"
