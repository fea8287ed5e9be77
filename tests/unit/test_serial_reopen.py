"""A USB-CDC port that re-enumerates: the by-id path vanishes and comes back on another device node.

Played with ptys: a symlink (the by-id path) points at one pty's slave; closing the master makes the
harness's reads fail (EIO); the symlink is moved to a fresh pty. The link must pick that up.
"""

from __future__ import annotations

import os
import time
import tty

import pytest

from bench.links.serial import SerialLink


class Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def point(link_path: str, target: str) -> None:
    tmp = link_path + ".new"
    os.symlink(target, tmp)
    os.replace(tmp, link_path)


def wait_until(predicate, timeout_s: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_link_reopens_the_by_id_path_after_re_enumeration(tmp_path):
    by_id = str(tmp_path / "usb-SEGGER_J-Link_000683000000-if00")
    first = Pty()
    point(by_id, first.path)
    link = SerialLink(by_id, reopen_timeout_s=5.0)
    second = None
    try:
        os.write(first.master, b"before\r\n")
        assert link.wait_for(lambda b: (True, len(b)) if b"before" in b else None, 2)
        # unplug: the device node goes away (the harness's read fails), then a new one appears
        os.unlink(by_id)
        first.close()
        time.sleep(0.2)
        second = Pty()
        point(by_id, second.path)
        assert wait_until(lambda: link.reopens == 1, 5), f"not re-opened; error: {link.error}"
        os.write(second.master, b"after\r\n")
        assert link.wait_for(lambda b: (True, len(b)) if b"after" in b else None, 2)
        link.write(b"kernel uptime\r")
        assert os.read(second.master, 64) == b"kernel uptime\r"
        assert link.error is None
    finally:
        link.close()
        first.close()
        if second is not None:
            second.close()


def test_a_port_that_stays_away_fails_waiters_with_the_port_named_but_is_still_watched(tmp_path):
    by_id = str(tmp_path / "ttyACM-dk")
    first = Pty()
    point(by_id, first.path)
    link = SerialLink(by_id, reopen_timeout_s=0.3)
    later = None
    try:
        os.unlink(by_id)
        first.close()
        with pytest.raises(ConnectionError, match="ttyACM-dk went away .* did not come back within 0.3 s"):
            link.wait_for(lambda b: None, 5)
        later = Pty()  # it comes back after all: the reader thread is still alive and takes it
        point(by_id, later.path)
        assert wait_until(lambda: link.reopens == 1 and link.error is None, 5)
    finally:
        link.close()
        first.close()
        if later is not None:
            later.close()
