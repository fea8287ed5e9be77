"""The console's bounded record store: marks stay absolute, records that fell out fail clearly."""

import os
import time
import tty

import pytest

from bench.dut.console import Console
from bench.dut.records import RecordRing, RecordsLost
from bench.links.serial import SerialLink


def test_ring_keeps_absolute_positions():
    ring: RecordRing[int] = RecordRing(3)
    for k in range(10):
        ring.append(k)
    assert len(ring) == 10 and ring.first == 7 and list(ring) == [7, 8, 9]
    assert ring[8] == 8 and ring[-1] == 9 and ring[7:] == [7, 8, 9] and ring[9:20] == [9] and ring[10:] == []
    with pytest.raises(RecordsLost, match="record 2 fell out.*newest 3.*console.log"):
        ring[2:]
    with pytest.raises(RecordsLost):
        ring[6]
    with pytest.raises(IndexError):
        ring[10]


def test_console_marks_work_for_recent_records_and_fail_for_old_ones(tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    console = Console(SerialLink(os.ttyname(slave), log_path=tmp_path / "console.log"), max_records=50)
    try:
        old = console.mark()
        for k in range(200):
            os.write(master, f"[00:00:01.000,000] <inf> main: line {k}\r\n".encode())
        console.expect("line 199", 2)
        time.sleep(0.05)
        recent = console.mark() - 5
        assert [r.message for r in console.records_since(recent)] == [f"line {k}" for k in range(195, 200)]
        with pytest.raises(RecordsLost, match="fell out"):
            console.records_since(old)
        assert b"line 0\r\n" in (tmp_path / "console.log").read_bytes()   # the whole output is still on disk
    finally:
        console.close()
        os.close(master)
        os.close(slave)
