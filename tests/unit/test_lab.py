"""labgrid for many hosts (bench/lab): a real coordinator and exporter on 127.0.0.1 export a reference
bench's console (ser2net), SCPI socket, rig and radio; the harness reserves the place by tags, runs the
smoke suite on it, and releases it, also when the harness is killed -9 (the guard process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bench import project
from bench.config import ReferenceSpec
from bench.errors import ConfigError
from bench.lab import services
from bench.lab.place import LabError, LabPlace

ROOT = Path(__file__).resolve().parents[2]
TAGS = {"board": "nrf52840dk", "sku": "camera"}

pytestmark = pytest.mark.skipif(services.missing() is not None, reason=f"labgrid cannot run here: {services.missing()}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from bench.lab.exporter import reference_exporter_config
    from bench.session import ReferenceProcess

    folder = tmp_path_factory.mktemp("lab")
    ref = ReferenceProcess(ReferenceSpec(), folder / "reference-bench.log")
    local = services.LocalLab(folder)
    try:
        local.export("bench-pc-1", reference_exporter_config(ref.ready, "ref-a"))
        local.add_place("ref-a", "bench-pc-1", "ref-a", TAGS)
        yield local
    finally:
        local.close()
        ref.stop()


def _released(lab, place: str, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while lab.acquired_by(place) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_place_by_tags_gives_network_endpoints_and_is_released(lab):
    place = LabPlace(lab.address, tags=TAGS).acquire()
    try:
        assert place.name == "ref-a"
        assert lab.acquired_by("ref-a") is not None
        assert place.endpoint("console").startswith("rfc2217://127.0.0.1:")
        assert place.endpoint("scpi").startswith("TCPIP0::127.0.0.1::")
        assert place.endpoint("name") == "GB-Camera-0001"
        with pytest.raises(LabError, match="no resource named 'ppk2'"):
            place.endpoint("ppk2")
    finally:
        place.release()
    assert lab.acquired_by("ref-a") is None


def test_the_smoke_suite_runs_on_the_place_and_releases_it(lab, tmp_path):
    bench = yaml.safe_load(project.current().find("benches", "lab-reference").read_text())
    bench["lab"]["coordinator"] = lab.address
    bench_file = tmp_path / "lab.yaml"
    bench_file.write_text(yaml.safe_dump(bench))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(ROOT),
                           "--bench", str(bench_file), "--bench-out", str(tmp_path / "out"),
                           str(ROOT / "tests" / "dut" / "test_smoke.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
    assert lab.acquired_by("ref-a") is None
    assert (tmp_path / "out" / "console.log").stat().st_size > 0


def test_a_harness_killed_minus_9_leaves_no_place_acquired(lab):
    code = ("import os, signal, sys; from bench.lab.place import LabPlace\n"
            f"p = LabPlace({lab.address!r}, tags={TAGS!r}).acquire(); print(p.name, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.returncode == -signal.SIGKILL and child.stdout.strip() == "ref-a", child.stderr
    assert _released(lab, "ref-a"), "the guard did not release the dead harness's place"


def test_no_matching_place_is_one_clear_line_after_the_reserve_timeout(lab):
    with pytest.raises(LabError, match=r"no place for board=esp32s3 within 2 s"):
        LabPlace(lab.address, tags={"board": "esp32s3"}, reserve_timeout_s=2).acquire()
    assert "esp32s3" not in lab.client("reservations")  # the queued reservation was cancelled


def test_lg_place_needs_a_lab_section():
    from bench.config import load_bench
    from bench.lab.config import with_place

    with pytest.raises(ConfigError, match="has no 'lab:' section"):
        with_place(load_bench("reference"), "ref-a")
    assert with_place(load_bench("lab-reference"), "kit-7").lab.place == "kit-7"
