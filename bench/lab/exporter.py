"""The labgrid exporter configuration of a bench PC, and a ser2net that listens on loopback only.

On a lab bench PC the configuration is written by hand (fixtures/lab/exporter.example.yaml): the
DUT console and the PPK2 as ``RawSerialPort`` / ``USBSerialPort`` (the exporter serves them through
ser2net as ``NetworkSerialPort``), a SCPI instrument as a ``TcpEndpoint``, the DUT's radio as a
``BleDevice``. For a reference bench, ``reference_exporter_config`` writes it from the ready line.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

CONSOLE_BAUD = 115200


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def reference_exporter_config(ready: dict[str, Any], group: str) -> dict[str, Any]:
    """One exporter group (= the resources of one place) for a running reference bench."""
    resources: dict[str, Any] = {
        "location": f"reference bench pid {ready.get('pid')}",
        "console": {"cls": "RawSerialPort", "port": ready["console"], "speed": CONSOLE_BAUD},
        "ble": {"cls": "BleDevice", "advertised_name": ready.get("name"), "address": ready.get("address"),
                "hci": ready.get("hci"), "pairing": ready.get("pairing")},
    }
    if ready.get("glp_serial"):
        resources["glp_serial"] = {"cls": "RawSerialPort", "port": ready["glp_serial"], "speed": CONSOLE_BAUD}
    if ready.get("scpi"):
        _, host, port, _ = ready["scpi"].split("::")  # TCPIP0::127.0.0.1::PORT::SOCKET
        resources["scpi"] = {"cls": "TcpEndpoint", "host": host, "port": int(port), "protocol": "scpi"}
    if ready.get("rig"):
        host, port = _host_port(ready["rig"])
        resources["rig"] = {"cls": "TcpEndpoint", "host": host, "port": port, "protocol": "rig"}
    return {group: resources}


SHIM = '''#!{python}
# ser2net, listening on 127.0.0.1 only: labgrid's exporter starts ser2net with an accepter on every
# interface ("tcp,PORT"); this rewrites it to "tcp,127.0.0.1,PORT" and runs the real ser2net.
import os, re, sys
args = [re.sub(r",tcp,(\\d+)$", r",tcp,127.0.0.1,\\1", a) for a in sys.argv[1:]]
os.execv({real!r}, [{real!r}, *args])
'''


def loopback_ser2net(folder: Path) -> Path:
    """A ``ser2net`` in ``folder`` that binds 127.0.0.1 (put ``folder`` first on the exporter's PATH)."""
    real = shutil.which("ser2net") or "/usr/sbin/ser2net"
    if not os.path.exists(real):
        raise FileNotFoundError("ser2net is not installed (Debian package ser2net; ci/install-system-deps.sh)")
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "ser2net"
    shim.write_text(SHIM.format(python=sys.executable, real=real))
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return shim
