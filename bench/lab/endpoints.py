"""Bench-file endpoints marked ``lab``, from an acquired place's resources (bench/lab/resources.py names).

| bench file field | place resource | value |
| --- | --- | --- |
| dut.console.port | ``console`` (NetworkSerialPort) | ``rfc2217://host:port`` (``socket://`` for protocol raw) |
| dut.glp_port | ``glp_serial`` (NetworkSerialPort) | same |
| dut.ble.name / address / hci / pairing | ``ble`` (BleDevice) | advertised_name / address / hci / pairing |
| power.resource (visa) | ``scpi`` (TcpEndpoint) | ``TCPIP0::host::port::SOCKET`` |
| power.resource (ppk2) | ``ppk2`` (NetworkSerialPort) | ``rfc2217://host:port`` |
| rig.address | ``rig`` (TcpEndpoint) | ``host:port`` |
"""

from __future__ import annotations

from typing import Any

from bench.lab.place import LabError

# session endpoint key -> (resource name, how to turn its parameters into the value)
SERIAL = {"console": "console", "glp_serial": "glp_serial", "ppk2": "ppk2"}
BLE = {"hci": "hci", "name": "advertised_name", "address": "address", "pairing": "pairing"}


def _serial_url(params: dict[str, Any]) -> str:
    scheme = "socket" if params.get("protocol") == "raw" else "rfc2217"
    if scheme == "socket":
        return f"socket://{params['host']}:{params['port']}"
    # ser2net does not answer SET_CONTROL the way pyserial waits for (labgrid's SerialDriver does the same)
    return f"rfc2217://{params['host']}:{params['port']}?ign_set_control"


def endpoint_of(place: Any, key: str) -> str:
    def resource(name: str) -> dict[str, Any]:
        if name not in place.resources:
            raise LabError(f"place {place.name} has no resource named {name!r} for the bench file's {key!r} "
                           f"(it has: {', '.join(sorted(place.resources)) or 'none'})")
        return dict(place.resources[name][1])

    if key in SERIAL:
        return _serial_url(resource(SERIAL[key]))
    if key in BLE:
        value = resource("ble").get(BLE[key])
        if value is None:
            raise LabError(f"place {place.name}: its ble resource has no {BLE[key]!r}")
        return str(value)
    if key == "scpi":
        p = resource("scpi")
        return f"TCPIP0::{p['host']}::{p['port']}::SOCKET"
    if key == "rig":
        p = resource("rig")
        return f"{p['host']}:{p['port']}"
    raise LabError(f"no lab endpoint for {key!r}")
