"""bench doctor: bench files and plans are checked, problems name file:line and the fix."""

from __future__ import annotations

import os

from bench.doctor import check_bench, check_plan, doctor_main


def test_bench_file_device_paths_checked_with_line(tmp_path):
    master, slave = os.openpty()
    try:
        pty = os.ttyname(slave)
        bench = tmp_path / "bench.yaml"
        bench.write_text(f"id: lab-1\ndut:\n  console: {pty}\n  debug: /dev/ttyACM97\n"
                         "power: USB0::0x2A8D::0x0102::MY1::INSTR\nanalyzer: TCPIP0::127.0.0.1::5025::SOCKET\n")
        findings = check_bench(bench, visa=[])
    finally:
        os.close(master)
        os.close(slave)
    errors = [f.text for f in findings if f.level == "error"]
    assert errors == [f"{bench}:4: /dev/ttyACM97 does not exist",
                      f"{bench}:5: VISA resource USB0::0x2A8D::0x0102::MY1::INSTR not found"]
    assert all(f.fix for f in findings if f.level == "error")


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
