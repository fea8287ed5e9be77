"""A corpus of bad input, fed to every entry point: each gets one clear line, never a traceback,
and nothing in out/ is touched by a run that never started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main

GOOD = """name: t
dut:
  board: nrf52840dk
  sku: camera
  ble: {name: GB-1}
"""
REF = """name: t
reference: {board: nrf52840dk}
dut:
  board: nrf52840dk
  sku: camera
  ble: {name: auto}
"""

# (bench file text or bytes, what the one line must say)
BENCH_FILES = {
    "not yaml": ("name: [unclosed\n", ":2: not valid YAML"),
    "not utf-8": (b"name: t\xff\n", ":1: not UTF-8"),
    "duplicate key": (GOOD + "name: again\n", ":6: name: duplicate key (first defined at line 1)"),
    "unknown key": (GOOD.replace("  sku: camera\n", "  sku: camera\n  colour: red\n"), ":5: dut.colour: Extra inputs"),
    "unknown board": (GOOD.replace("nrf52840dk", "nrf9999"), ":3: dut.board: unknown board 'nrf9999'"),
    "bad type": (GOOD.replace("  sku: camera\n", "  sku: camera\n  console: {port: x, baudrate: fast}\n"),
                 ":5: dut.console.baudrate"),
    "no ble name": (GOOD.replace("{name: GB-1}", "{}"), "dut.ble: give the DUT's BLE 'name' or 'address'"),
    "auto without reference": (GOOD.replace("GB-1", "auto"), "no 'reference:' section"),
    "unknown bug": (REF.replace("{board: nrf52840dk}", "{board: nrf52840dk, bugs: [nope]}"), ":2: reference.bugs: "
                    "unknown bug 'nope' for profile glp"),
    "unknown setting": (REF.replace("{board: nrf52840dk}", "{board: nrf52840dk, settings: {photo.sise_bytes: '3'}}"),
                        "reference.settings: photo.sise_bytes: unknown setting"),
    "bad setting value": (REF.replace("{board: nrf52840dk}", "{board: nrf52840dk, settings: {audio.noise_rms: lots}}"),
                          "audio.noise_rms: expected a number"),
    "per out of range": (REF.replace("{board: nrf52840dk}", "{board: nrf52840dk, link: {per: 2}}"),
                         ":2: reference.link.per: Input should be less than or equal to 1"),
    "empty file": ("", ":1: name: Field required; "),
    "a list": ("- a\n- b\n", "Input should be"),
}


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / (name.replace(" ", "-") + ".yaml")
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _one_line(capsys) -> str:
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1, out.err
    return lines[0]


@pytest.mark.parametrize("case", sorted(BENCH_FILES))
def test_bad_bench_file_is_one_line_in_bench_run(tmp_path, capsys, case, monkeypatch):
    content, expected = BENCH_FILES[case]
    path = _write(tmp_path, case, content)
    monkeypatch.chdir(tmp_path)  # out/ would land here: it must not appear
    assert main(["run", "smoke", "--bench", str(path)]) == 2
    line = _one_line(capsys)
    assert str(path) in line and expected in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,expected", [
    (["reference", "--board", "foo"], "--board: unknown board 'foo'"),
    (["reference", "--per", "2"], "--per: Input should be less than or equal to 1"),
    (["reference", "--data-length", "5"], "--data-length: Input should be greater than or equal to 27"),
    (["reference", "--interval-ms", "0"], "--interval-ms: Input should be greater than or equal to 7.5"),
    (["reference", "--bug", "nope"], "--bug: unknown bug 'nope'"),
    (["reference", "--profile", "stock", "--bug", "bad-crc-accepted"], "for profile stock (known: none)"),
    (["reference", "--set", "x=1"], "--set: x: unknown setting"),
    (["reference", "--set", "novalue"], "--set expects key=value"),
    (["fuzz", "--budget", "-1"], "--budget and --reply-timeout must be > 0"),
    (["fuzz", "--bug", "nope", "--budget", "1"], "--bug: unknown bug 'nope' for profile glp"),
    (["run", "no-such-plan"], "no-such-plan: cannot read: no such file"),
    (["demo", "--bench", "no-such-bench.yaml"], "no-such-bench.yaml: cannot read: no such file"),
])
def test_bad_arguments_are_one_line(capsys, tmp_path, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse-style exits carry their message
        code = 2 if exc.code not in (0, None) else 0
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
    assert code == 2
    line = _one_line(capsys)
    assert expected in line, line
    assert not (tmp_path / "out").exists()


def test_arguments_after_double_dash_go_to_pytest_only(capsys):
    with pytest.raises(SystemExit):
        main(["doctor", "--", "-x"])
    assert "after -- are for `bench run` only" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["duplicate key", "unknown bug"])
def test_bad_bench_file_is_one_usage_error_in_pytest(tmp_path, case):
    content, expected = BENCH_FILES[case]
    path = _write(tmp_path, case, content)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--bench", str(path),
                           str(Path(__file__).resolve().parents[1] / "dut" / "test_smoke.py")],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error, not 129 broken tests
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and expected in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
