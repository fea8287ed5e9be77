"""Board files: the one source of board knowledge, found in the project first, then the built-ins."""

from __future__ import annotations

import shutil

import pytest

from bench import boards, project
from bench.errors import ConfigError
from bench.profiles.glp import messages as m
from bench.profiles.glp.device import GlassesProtocol, board_limits
from bench.reference import audio_pipeline, power_profiles
from bench.reference import boards as ref_boards


@pytest.fixture
def product(tmp_path):
    """A product repo with one board of its own (a copy of the nRF52840 DK with a 30 ms interval)."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "acme"\n[tool.glassbench]\nboards = "hw/boards"\n')
    folder = tmp_path / "hw" / "boards"
    folder.mkdir(parents=True)
    text = (project.builtin_folder("boards") / "nrf52840dk.yaml").read_text()
    (folder / "acme-g1.yaml").write_text(text.replace("interval_s: 0.0075", "interval_s: 0.030"))
    before = project.current().root
    yield project.use(tmp_path)
    project.use(before)


def test_builtin_boards_keep_their_numbers():
    nrf, esp = boards.get("nrf52840dk"), boards.get("esp32s3")
    assert (nrf.link.interval_s, nrf.link.mtu, esp.link.interval_s, esp.link.mtu) == (0.0075, 247, 0.015, 517)
    assert ref_boards.BOARDS["nrf52840dk"].advertising_interval_s == 0.050
    assert audio_pipeline.BOARDS["esp32s3"].codec == "opus-20ms"
    assert power_profiles.BOARDS["nrf52840dk"].state_a["audio_streaming"] == 1.9e-3
    assert power_profiles.BOARDS["nrf52840dk"].bursts["display_tts"].period_s == 1 / 60
    assert board_limits("nrf52840dk") == (m.Board.NRF52840DK, 512, 4, m.Capability.CODEC_OPUS)
    assert board_limits(m.Board.ESP32S3) == (m.Board.ESP32S3, 2048, 8, m.Capability(0))


def test_glp_board_enum_agrees_with_the_board_files():
    for spec in boards.all_boards().values():
        if spec.name.upper() in m.Board.__members__:
            assert m.Board[spec.name.upper()] == spec.protocol.glp_board_id
    assert {b.name.lower() for b in m.Board} <= set(boards.names())


def test_unknown_board_is_an_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match="unknown board 'arduino'; known boards: esp32s3, nrf52840dk"):
        boards.get("arduino")
    with pytest.raises(KeyError):
        audio_pipeline.board_audio("arduino")


def test_a_project_board_is_found_and_read_everywhere(product):
    assert "acme-g1" in boards.names() and "nrf52840dk" in boards.names()
    assert ref_boards.BOARDS["acme-g1"].interval_s == 0.030
    assert power_profiles.BOARDS["acme-g1"].radio_tx_a == 4.8e-3
    proto = GlassesProtocol("acme-g1", "audio", lambda ch, data: None)
    assert (proto.board, proto.max_frame_len) == (m.Board.NRF52840DK, 512)


def test_board_file_errors_name_file_line_and_field(product):
    bad = product.folder("boards") / "broken.yaml"
    text = (product.folder("boards") / "acme-g1.yaml").read_text()
    bad.write_text(text.replace("  mtu: 247", "  mtu: 9000"))
    boards.reset()
    with pytest.raises(ConfigError) as e:
        boards.names()
    line = next(i for i, s in enumerate(bad.read_text().splitlines(), 1) if "mtu: 9000" in s)
    assert f"{bad}:{line}: link.mtu:" in str(e.value)


def test_a_board_may_not_shadow_a_builtin(product):
    shutil.copy(project.builtin_folder("boards") / "esp32s3.yaml", product.folder("boards"))
    boards.reset()
    with pytest.raises(ConfigError, match="board 'esp32s3' is already defined"):
        boards.names()


def test_wire_id_must_be_a_glp_board(product):
    path = product.folder("boards") / "acme-g1.yaml"
    path.write_text(path.read_text().replace("glp_board_id: 1", "glp_board_id: 9"))
    boards.reset()
    with pytest.raises(ConfigError, match="glp_board_id: 9 is not a GLP board id"):
        board_limits("acme-g1")
