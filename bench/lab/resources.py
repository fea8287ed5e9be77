"""Resources labgrid lacks, registered with labgrid's own ``target_factory``: a TCP endpoint (SCPI
instrument socket, acoustic rig) and the DUT's BLE identity (name/address, host adapter or HCI).

A labgrid exporter exports them as they are (its generic entry: the parameters pass through); a
labgrid environment or ``labgrid-client`` on the client side can build them after
``imports: [bench.lab.resources]``. glassbench reads their parameters from the acquired place.
"""

from __future__ import annotations

from typing import Optional

import attr
from labgrid.factory import target_factory
from labgrid.resource.common import Resource

_opt_str = attr.validators.optional(attr.validators.instance_of(str))


@target_factory.reg_resource
@attr.s(eq=False)
class TcpEndpoint(Resource):
    """A service on host:port, e.g. a SCPI instrument's raw socket (``protocol: scpi``) or the rig."""

    host = attr.ib(validator=attr.validators.instance_of(str))
    port = attr.ib(validator=attr.validators.instance_of(int))
    protocol = attr.ib(default="tcp", validator=attr.validators.instance_of(str))

    def visa_resource(self) -> str:
        """The pyvisa resource string of a SCPI socket."""
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"


@target_factory.reg_resource
@attr.s(eq=False)
class BleDevice(Resource):
    """The DUT's radio identity and the host's way to reach it: a BlueZ ``adapter`` or a Bumble ``hci``.
    (``advertised_name``: labgrid's own ``name`` is the resource's name in its group.)"""

    advertised_name: Optional[str] = attr.ib(default=None, validator=_opt_str)
    address: Optional[str] = attr.ib(default=None, validator=_opt_str)
    adapter: Optional[str] = attr.ib(default=None, validator=_opt_str)
    hci: Optional[str] = attr.ib(default=None, validator=_opt_str)
    pairing: Optional[str] = attr.ib(default=None, validator=_opt_str)
