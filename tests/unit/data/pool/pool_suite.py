"""Run by tests/unit/test_pool.py in a pytest subprocess with -n: records which DUT each test ran on;
test_kill kills its own worker once (SIGKILL, as a crash would), the replacement must lease a DUT."""

import json
import os
import signal
from pathlib import Path

import pytest

RECORD = Path(os.environ["POOL_TEST_RECORD"])


def _record(bench, name):
    with open(RECORD, "a") as f:
        f.write(json.dumps({"test": name, "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                            "dut": bench.out_dir.name, "sku": bench.config.dut.sku}) + "\n")


@pytest.mark.parametrize("n", range(3))
def test_before(dut, bench, n):
    _record(bench, f"before{n}")


def test_kill(dut, bench):
    marker = RECORD.with_suffix(".killed")
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("n", range(3))
def test_after(dut, bench, n):
    _record(bench, f"after{n}")


@pytest.mark.on_dut(sku="audio")
def test_audio_only(bench):
    _record(bench, "audio")
