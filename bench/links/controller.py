"""A Bumble controller for the timed radio: real buffer sizes, deferred flow control, real resets.

Bumble's controller acknowledges host data at once, reports the advertising data as the scan
response, and keeps its links through HCI_Reset. ``TimedController`` behaves like a controller
chip instead (docs/radio.md lists the differences it fixes).
"""

from __future__ import annotations

import collections
from typing import Any, Callable

from bumble import hci, ll
from bumble.controller import Controller

from bench.links.radio import TimedLink

_PHY = {"1M": hci.Phy.LE_1M, "2M": hci.Phy.LE_2M}


class TimedController(Controller):
    """A Bumble controller for a TimedLink: deferred HCI flow control, real buffer sizes, reset."""

    le_acl_data_packet_length = 251
    total_num_le_acl_data_packets = 64

    def __init__(self, *args, on_reset: Callable[["TimedController"], None] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._hci_packets: dict[int, int] = collections.defaultdict(int)
        self._on_reset = on_reset

    def take_hci_packets(self, handle: int) -> int:
        return self._hci_packets.pop(handle, 0) or 1

    def on_hci_acl_data_packet(self, packet: hci.HCI_AclDataPacket) -> None:
        connection = self.find_le_connection_by_handle(packet.connection_handle)
        if connection is None:
            super().on_hci_acl_data_packet(packet)
            return
        # Completion is reported by the link once the data has crossed the air.
        self._hci_packets[packet.connection_handle] += 1
        connection.assembler.feed_packet(packet)

    def on_le_disconnected(self, connection: Any, reason: int) -> None:
        """A handle's unsent packets are gone with it (the host flushes them on Disconnection Complete):
        they must not be reported as completed to the next connection that gets the same handle."""
        self._hci_packets.pop(connection.handle, None)
        super().on_le_disconnected(connection, reason)

    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        """Report advertising *and the advertiser's scan response* to an active scanner.

        Bumble's controller reports the advertising data twice, the second time labelled as the
        scan response, so a name in the advertising data and a service UUID in the scan response
        (the usual split: together they exceed 31 bytes) never both reach the host.
        """
        if self.le_scan_enable:
            self._report_advertisement(pdu)
            self.le_scan_enable = False
            try:
                super().on_advertising_pdu(pdu)  # periodic sync and pending connection only
            finally:
                self.le_scan_enable = True
            return
        super().on_advertising_pdu(pdu)

    def _scan_response_of(self, address: hci.Address) -> bytes:
        advertiser = self.link.find_le_controller(address)
        if advertiser is None:
            return b""
        if advertiser.le_legacy_advertiser.enabled and advertiser.le_legacy_advertiser.address == address:
            return bytes(advertiser.le_legacy_advertiser.scan_response_data)
        for adv in advertiser.advertising_sets.values():
            if adv.enabled and adv.address == address:
                return bytes(adv.scan_response_data)
        return b""

    def _report_advertisement(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        scan_rsp = self._scan_response_of(pdu.advertiser_address)
        address = pdu.advertiser_address
        reports: list[tuple[Any, bytes]]
        if self.le_features & hci.LeFeatureMask.LE_EXTENDED_ADVERTISING:
            Report = hci.HCI_LE_Extended_Advertising_Report_Event.Report
            kinds = hci.HCI_LE_Extended_Advertising_Report_Event.EventType
            reports = [(kinds.CONNECTABLE_ADVERTISING | kinds.SCANNABLE_ADVERTISING | kinds.LEGACY_ADVERTISING_PDU_USED, pdu.data)]
            if scan_rsp:
                reports.append((kinds.CONNECTABLE_ADVERTISING | kinds.SCANNABLE_ADVERTISING | kinds.SCAN_RESPONSE
                                | kinds.LEGACY_ADVERTISING_PDU_USED, scan_rsp))
            for event_type, data in reports:
                self.send_hci_packet(hci.HCI_LE_Extended_Advertising_Report_Event([Report(
                    event_type=event_type, address_type=address.address_type, address=address,
                    primary_phy=hci.Phy.LE_1M, secondary_phy=hci.Phy.LE_1M, advertising_sid=0, tx_power=0,
                    rssi=-50, periodic_advertising_interval=0, direct_address_type=0,
                    direct_address=hci.Address.ANY, data=data)]))
        else:
            Legacy = hci.HCI_LE_Advertising_Report_Event
            reports = [(Legacy.EventType.ADV_IND, pdu.data)] + ([(Legacy.EventType.SCAN_RSP, scan_rsp)] if scan_rsp else [])
            for event_type, data in reports:
                self.send_hci_packet(Legacy([Legacy.Report(event_type=event_type, address_type=address.address_type,
                                                           address=address, data=data, rssi=-50)]))

    # -- PHY (Bumble's controller has no LE Set PHY handler and always reads 1M) ---------------------
    def _timed_connection(self, handle: int) -> Any:
        connection = self.find_le_connection_by_handle(handle)
        if connection is None or not isinstance(self.link, TimedLink):
            return connection, None
        return connection, self.link.connection_between(connection.self_address, connection.peer_address)

    def on_hci_le_read_phy_command(self, command: hci.HCI_LE_Read_PHY_Command) -> hci.HCI_LE_Read_PHY_ReturnParameters:
        _connection, conn = self._timed_connection(command.connection_handle)
        phy = _PHY[conn.phy] if conn is not None else hci.Phy.LE_1M
        return hci.HCI_LE_Read_PHY_ReturnParameters(status=hci.HCI_ErrorCode.SUCCESS,
                                                   connection_handle=command.connection_handle,
                                                   tx_phy=phy, rx_phy=phy)

    def on_hci_le_set_phy_command(self, command: hci.HCI_LE_Set_PHY_Command) -> None:
        """LE Set PHY: the radio runs one PHY both ways, 2M if both directions allow it, else 1M."""
        connection, conn = self._timed_connection(command.connection_handle)
        if connection is None or conn is None:
            self._send_hci_command_status(hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, command.op_code)
            return
        self._send_hci_command_status(hci.HCI_COMMAND_STATUS_PENDING, command.op_code)
        any_tx, any_rx = command.all_phys & 1, command.all_phys & 2
        tx = hci.PhyBit.LE_1M | hci.PhyBit.LE_2M if any_tx else command.tx_phys
        rx = hci.PhyBit.LE_1M | hci.PhyBit.LE_2M if any_rx else command.rx_phys
        both = tx & rx
        status = hci.HCI_ErrorCode.SUCCESS
        if both & hci.PhyBit.LE_2M:
            conn.phy = "2M"
        elif both & hci.PhyBit.LE_1M:
            conn.phy = "1M"
        else:
            status = hci.HCI_ErrorCode.UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE_ERROR  # coded PHY: not modelled
        phy = _PHY[conn.phy]
        for own, peer in ((conn.central, conn.peripheral), (conn.peripheral, conn.central)):
            controller = self.link.find_le_controller(own)
            if controller is not None and (c := controller.le_connections.get(peer)) is not None:
                if controller is self or status == hci.HCI_ErrorCode.SUCCESS:
                    controller.send_hci_packet(hci.HCI_LE_PHY_Update_Complete_Event(
                        status=status, connection_handle=c.handle, tx_phy=phy, rx_phy=phy))

    def on_hci_reset_command(self, command: hci.HCI_Reset_Command) -> hci.HCI_StatusReturnParameters:
        """Bumble's reset keeps connections and scans alive; a real controller drops them."""
        self.reset_link_state()
        return super().on_hci_reset_command(command)

    def reset_link_state(self) -> None:
        if isinstance(self.link, TimedLink):
            self.link.drop_all(self)
        self.pending_le_connection = None
        self.le_scan_enable = False
        self.le_legacy_advertiser.stop()
        for adv in self.advertising_sets.values():
            adv.stop()
        self._hci_packets.clear()
        if self._on_reset is not None:
            self._on_reset(self)
