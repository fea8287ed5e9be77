"""Link requests: what each backend can apply, refusal or record, BlueZ's debugfs, MTU acquisition, config."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from bench.config import BleSpec
from bench.errors import ConfigError
from bench.links import link_params
from bench.links.ble import BleLink
from bench.links.link_params import LinkRequest, LinkState

CONN = LinkRequest(interval_s=0.015, latency=0, supervision_timeout_s=4.0)


def test_bumble_applies_everything_but_the_radio_model_off_the_reference_bench():
    full = LinkRequest(interval_s=0.015, phy="2M", mtu=247, data_length=251, per=0.1)
    assert link_params.unsupported(full, "bumble", reference=True) == {}
    assert set(link_params.unsupported(full, "bumble", reference=False)) == {"data_length", "per"}


def test_bluez_without_root_cannot_set_parameters_phy_or_mtu(tmp_path):
    (tmp_path / "hci1").mkdir()  # no conn_min_interval file: as for a user without debugfs access
    missing = link_params.unsupported(LinkRequest(interval_s=0.015, phy="2M", mtu=247), "default",
                                      reference=False, adapter="hci1", debugfs=tmp_path, platform="linux")
    assert set(missing) == {"interval_s", "phy", "mtu"}
    assert "hci1/conn_*_interval needs root" in missing["interval_s"]


def test_bluez_with_a_writable_debugfs_can_set_connection_parameters_but_not_phy(tmp_path):
    folder = tmp_path / "hci0"
    folder.mkdir()
    (folder / "conn_min_interval").write_text("24\n")
    missing = link_params.unsupported(LinkRequest(interval_s=0.015, phy="1M"), "default", reference=False,
                                      debugfs=tmp_path, platform="linux")
    assert set(missing) == {"phy"}


def test_other_platforms_cannot_set_anything():
    missing = link_params.unsupported(CONN, "default", reference=True, platform="darwin")
    assert set(missing) == {"interval_s", "latency", "supervision_timeout_s"}
    assert "darwin" in missing["latency"]


def test_refuse_names_each_setting_and_record_lets_the_run_go_on():
    missing = {"phy": "bleak on BlueZ cannot set the PHY"}
    with pytest.raises(ConfigError, match=r"bench 'x': .*phy='2M': bleak on BlueZ cannot set the PHY.*unapplied: record"):
        link_params.refuse_or_record(LinkRequest(phy="2M"), missing, "refuse", "bench 'x'")
    link_params.refuse_or_record(LinkRequest(phy="2M"), missing, "record", "bench 'x'")


@pytest.mark.parametrize("current_min, current_max, ms", [(24, 40, 50.0), (24, 40, 7.5), (6, 6, 15.0)])
def test_debugfs_writes_keep_min_below_max_at_every_step(tmp_path, current_min, current_max, ms):
    folder = tmp_path / "hci0"
    folder.mkdir()
    for name, value in (("conn_min_interval", current_min), ("conn_max_interval", current_max),
                        ("conn_latency", 0), ("supervision_timeout", 42)):
        (folder / name).write_text(f"{value}\n")
    values = {"min": current_min, "max": current_max}
    written = link_params.apply_debugfs(LinkRequest(interval_s=ms / 1000, latency=2, supervision_timeout_s=6.0),
                                        debugfs=tmp_path)
    units = round(ms / 1.25)
    for name in written[:2]:  # replay the writes as the kernel checks them
        key = name.split("_")[1]
        values[key] = units
        assert values["min"] <= values["max"], f"{name} made min > max"
    assert (folder / "conn_min_interval").read_text() == (folder / "conn_max_interval").read_text() == f"{units}\n"
    assert (folder / "conn_latency").read_text() == "2\n" and (folder / "supervision_timeout").read_text() == "600\n"


def test_environment_says_unknown_and_what_was_not_applied():
    env = LinkState(phy="2M", not_applied={"interval_s": "no"}).environment()
    assert env["link.interval_ms"] == "unknown" and env["link.phy"] == "2M"
    assert env["link.not_applied.interval_s"] == "no" and env["link.source"] == "unknown"


def test_adapter_reaches_bleak_as_bluez_adapter_and_is_refused_with_bumble():
    link = BleLink(name="g", adapter="hci1")
    assert link._client_kwargs() == {"bluez": {"adapter": "hci1"}}
    assert link._scanner_kwargs() == {"bluez": {"adapter": "hci1"}}
    with pytest.raises(ValidationError, match="names a BlueZ adapter"):
        BleSpec(name="g", backend="bumble", hci="usb:0", adapter="hci1")
    with pytest.raises(ValidationError, match="adapter"):
        BleSpec(name="g", adapter="usb1")


class _BlueZLike:
    """The part of bleak's BlueZ backend the link uses: mtu_size is 23 until _acquire_mtu()."""

    def __init__(self, fail: bool = False) -> None:
        self._mtu_size: int | None = None
        self.fail = fail

    async def _acquire_mtu(self) -> None:
        if self.fail:
            raise StopIteration  # bleak's own failure when no characteristic can be acquired
        self._mtu_size = 247


class _Client:
    def __init__(self, backend: _BlueZLike) -> None:
        self._backend = backend
        self.is_connected = True

    @property
    def mtu_size(self) -> int:
        return self._backend._mtu_size or 23


@pytest.mark.parametrize("fail", [False, True])
def test_mtu_is_acquired_after_connect_on_bluez_and_a_failure_is_recorded(fail):
    link = BleLink(name="g", link_request=LinkRequest(phy="2M"), not_applied={"phy": "BlueZ"})
    client = _Client(_BlueZLike(fail))
    link.client = client  # type: ignore[assignment]
    asyncio.run(link._after_connect(client))  # type: ignore[arg-type]
    assert link.mtu == (23 if fail else 247) and link.link_state.mtu == link.mtu
    assert (link.mtu_note is not None) == fail
    assert link.link_state.not_applied == {"phy": "BlueZ"} and link.link_state.source == "unknown"


def _bench(tmp_path, unapplied: str):
    from bench.config import BenchConfig

    return BenchConfig.model_validate({
        "name": "lab", "out_dir": str(tmp_path),
        "dut": {"board": "nrf52840dk", "sku": "camera",
                "ble": {"name": "Glasses", "link": {"phy": "2M"}, "unapplied": unapplied}}})


def test_a_bench_asking_for_what_bleak_cannot_set_refuses_to_start(tmp_path):
    from bench.session import BenchSession

    with BenchSession(_bench(tmp_path, "refuse"), tmp_path) as session:
        with pytest.raises(ConfigError, match=r"bench 'lab'.*phy='2M'.*cannot set the PHY"):
            session.dut  # noqa: B018 - building the DUT is what refuses


def test_with_record_the_run_starts_and_the_setting_is_listed_as_not_applied(tmp_path):
    from bench.session import BenchSession

    with BenchSession(_bench(tmp_path, "record"), tmp_path) as session:
        dut = session.dut
        assert dut.ble.not_applied.keys() == {"phy"}
        assert dut.ble.link_request.phy == "2M"
        assert dut.link.environment()["link.not_applied.phy"].startswith("bleak on BlueZ")
