"""The one exception the protocol decoders raise, and the wire error codes."""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """Error codes carried by an ErrorReply (u8 on the wire); see docs/protocol.md §7."""

    MALFORMED = 0x01  # payload does not decode against the schema
    BAD_CRC = 0x02  # frame CRC mismatch
    UNKNOWN_TYPE = 0x03  # message type not in the schema
    UNSUPPORTED = 0x04  # capability not present on this SKU
    OUT_OF_RANGE = 0x05  # a field outside its stated range
    INVALID_STATE = 0x06  # request not valid now (e.g. before hello)
    BUSY = 0x07  # window exceeded or resource busy
    NOT_FOUND = 0x08  # e.g. unknown photo id
    VERSION = 0x09  # no common protocol version
    TOO_LARGE = 0x0A  # frame longer than the receiver's max_frame_len
    INTERNAL = 0x0B  # the device hit an unexpected condition and recovered
    INSUFFICIENT_SECURITY = 0x0C  # a privileged request on a link below the device's privileged security level


class ProtocolError(Exception):
    """Malformed input: `offset` is the byte offset where decoding failed, `reason` says why.

    `code` maps the problem onto the wire error code the device answers with.
    """

    def __init__(self, offset: int, reason: str, code: ErrorCode = ErrorCode.MALFORMED) -> None:
        super().__init__(f"at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason
        self.code = code
