"""bench doctor: bench files and plans are checked, problems name file:line and the fix."""

from __future__ import annotations

import os

from bench.doctor import check_bench, check_plan, doctor_main


def test_bench_file_device_paths_checked_with_line(tmp_path):
    """A bench file in the real schema: a present pty passes, a missing port and VISA address do not."""
    master, slave = os.openpty()
    try:
        bench = tmp_path / "bench.yaml"
        bench.write_text(
            "name: lab-1\n"
            "dut:\n  board: nrf52840dk\n  sku: audio\n"
            f"  console:\n    port: {os.ttyname(slave)}\n"
            "  ble:\n    backend: default\n    name: GB-1\n"
            "power:\n  kind: n6705c\n  resource: USB0::0x2A8D::0x0102::MY1::INSTR\n"
            "other:\n  port: /dev/ttyACM97\n")
        findings = check_bench(bench, visa=[])
    finally:
        os.close(master)
        os.close(slave)
    errors = [f.text for f in findings if f.level == "error"]
    device_errors = [e for e in errors if "does not exist" in e or "not found" in e]
    assert device_errors == [f"{bench}:12: VISA resource USB0::0x2A8D::0x0102::MY1::INSTR not found",
                             f"{bench}:14: /dev/ttyACM97 does not exist"]
    assert all(f.fix for f in findings if f.text in device_errors)


def test_bench_file_yaml_error(tmp_path):
    bench = tmp_path / "bench.yaml"
    bench.write_text("dut: [unclosed\n")
    (finding,) = check_bench(bench, visa=[])
    assert finding.level == "error" and f"{bench}:2" in finding.text


def test_plan_check(tmp_path):
    assert check_plan("smoke")[0].level == "ok"
    bad = tmp_path / "p.yaml"
    bad.write_text("name: p\nsuites: [tests]\nlimits:\n  connect_time_s: {low: 2, high: 1}\n")
    (finding,) = check_plan(bad)
    assert finding.level == "error" and f"{bad}:4" in finding.text and "inverted" in finding.text


def test_doctor_main_exit_code(tmp_path, capsys):
    bench = tmp_path / "bench.yaml"
    bench.write_text("console: /dev/ttyACM98\n")
    assert doctor_main(bench, None) == 1
    out = capsys.readouterr().out
    assert "serial ports:" in out and "VISA resources:" in out and "MISSING" in out and "fix:" in out
