"""The declarative machinery behind messages.py: typed, ranged fields and a message registry.

A message is a frozen dataclass whose fields carry a wire type (`Int`, `Enum`, `Str`, ...) in their
metadata. Encoding, decoding, range checks and hypothesis strategies are all derived from that one
definition, so a field's size, byte order and range are written down exactly once.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, TypeVar, cast, dataclass_transform

from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.gatt import Channel


class WireType:
    """A field's encoding. `boundaries` are the values strategies try first."""

    def encode(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def decode(self, data: bytes, off: int) -> tuple[Any, int]:
        raise NotImplementedError

    def problem(self, value: Any) -> str | None:
        """Why `value` is not valid for this field, or None."""
        raise NotImplementedError

    def boundaries(self) -> list[Any]:
        return []

    def _need(self, data: bytes, off: int, n: int, what: str) -> None:
        if len(data) - off < n:
            raise ProtocolError(off, f"{what} needs {n} bytes, only {max(0, len(data) - off)} left")


@dataclass(frozen=True)
class Int(WireType):
    """Little-endian integer of `size` bytes, valid in lo..hi (or only the `allowed` values)."""

    size: int
    signed: bool = False
    lo: int | None = None
    hi: int | None = None
    allowed: tuple[int, ...] | None = None
    unit: str = ""

    @property
    def min(self) -> int:
        full = -(1 << (8 * self.size - 1)) if self.signed else 0
        return full if self.lo is None else self.lo

    @property
    def max(self) -> int:
        full = (1 << (8 * self.size - (1 if self.signed else 0))) - 1
        return full if self.hi is None else self.hi

    def encode(self, value: int, out: bytearray) -> None:
        out += int(value).to_bytes(self.size, "little", signed=self.signed)

    def decode(self, data: bytes, off: int) -> tuple[int, int]:
        self._need(data, off, self.size, f"u{8 * self.size}" if not self.signed else f"i{8 * self.size}")
        return int.from_bytes(data[off:off + self.size], "little", signed=self.signed), off + self.size

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"expected an integer, got {type(value).__name__}"
        if self.allowed is not None and value not in self.allowed:
            return f"{value} not one of {list(self.allowed)}"
        if not self.min <= value <= self.max:
            return f"{value} outside {self.min}..{self.max}{' ' + self.unit if self.unit else ''}"
        return None

    def boundaries(self) -> list[int]:
        if self.allowed is not None:
            return list(self.allowed)
        vals = [self.min, self.max, self.min + 1, self.max - 1, 0]
        return list(dict.fromkeys(v for v in vals if self.min <= v <= self.max))


@dataclass(frozen=True)
class Enum(WireType):
    """An enum.IntEnum stored as an unsigned integer of `size` bytes; unknown values are errors."""

    cls: type[enum.IntEnum]
    size: int = 1

    def encode(self, value: enum.IntEnum, out: bytearray) -> None:
        out += int(value).to_bytes(self.size, "little")

    def decode(self, data: bytes, off: int) -> tuple[enum.IntEnum, int]:
        self._need(data, off, self.size, self.cls.__name__)
        raw = int.from_bytes(data[off:off + self.size], "little")
        try:
            return self.cls(raw), off + self.size
        except ValueError:
            raise ProtocolError(off, f"{raw} is not a {self.cls.__name__} ({[int(m) for m in self.cls]})",
                                ErrorCode.OUT_OF_RANGE) from None

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, self.cls) else f"expected a {self.cls.__name__}, got {value!r}"

    def boundaries(self) -> list[Any]:
        return list(self.cls)


@dataclass(frozen=True)
class Bool(WireType):
    """One byte, 0 or 1 (anything else is an error)."""

    def encode(self, value: bool, out: bytearray) -> None:
        out.append(1 if value else 0)

    def decode(self, data: bytes, off: int) -> tuple[bool, int]:
        self._need(data, off, 1, "bool")
        if data[off] > 1:
            raise ProtocolError(off, f"bool must be 0 or 1, got {data[off]}", ErrorCode.OUT_OF_RANGE)
        return data[off] == 1, off + 1

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"expected a bool, got {value!r}"

    def boundaries(self) -> list[bool]:
        return [False, True]


@dataclass(frozen=True)
class Str(WireType):
    """UTF-8 text after a u8 byte count, at most `max_len` bytes."""

    max_len: int = 255

    def encode(self, value: str, out: bytearray) -> None:
        raw = value.encode("utf-8")
        out.append(len(raw))
        out += raw

    def decode(self, data: bytes, off: int) -> tuple[str, int]:
        self._need(data, off, 1, "string length")
        n = data[off]
        if n > self.max_len:
            raise ProtocolError(off, f"string of {n} bytes exceeds {self.max_len}", ErrorCode.OUT_OF_RANGE)
        self._need(data, off + 1, n, "string")
        try:
            return data[off + 1:off + 1 + n].decode("utf-8"), off + 1 + n
        except UnicodeDecodeError as exc:
            raise ProtocolError(off + 1 + exc.start, f"invalid UTF-8: {exc.reason}") from None

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected str, got {type(value).__name__}"
        n = len(value.encode("utf-8", "surrogatepass"))
        if n > self.max_len:
            return f"{n} UTF-8 bytes exceed {self.max_len}"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "not encodable as UTF-8"
        return None


@dataclass(frozen=True)
class Rest(WireType):
    """Raw bytes filling the rest of the payload (must be the last field), at most `max_len`."""

    max_len: int = 0xFFFF
    min_len: int = 0

    def encode(self, value: bytes, out: bytearray) -> None:
        out += value

    def decode(self, data: bytes, off: int) -> tuple[bytes, int]:
        n = len(data) - off
        if not self.min_len <= n <= self.max_len:
            raise ProtocolError(off, f"{n} data bytes, expected {self.min_len}..{self.max_len}", ErrorCode.OUT_OF_RANGE)
        return bytes(data[off:]), len(data)

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, (bytes, bytearray)):
            return f"expected bytes, got {type(value).__name__}"
        return None if self.min_len <= len(value) <= self.max_len else f"{len(value)} bytes outside {self.min_len}..{self.max_len}"


def F(wire: WireType, doc: str = "") -> Any:
    """Declare a message field: `volume_pct: int = F(Int(1, hi=100), "speaker volume")`."""
    return dataclasses.field(metadata={"wire": wire, "doc": doc})


class Role(enum.IntFlag):
    REQUEST = 1  # phone -> glasses on CONTROL_IN, answered by a REPLY-flagged frame
    REPLY = 2  # glasses -> phone with Flags.REPLY and the request's seq
    EVENT = 4  # glasses -> phone, unsolicited, own seq counter
    COMMAND = 8  # phone -> glasses, no reply (flow control)
    STREAM = 16  # bulk data on AUDIO_UP / AUDIO_DOWN / MEDIA, no reply


class Message:
    """Base of every GLP message; subclasses are made by @message."""

    TYPE: ClassVar[int]
    ROLE: ClassVar[Role]
    CHANNEL: ClassVar[Channel]
    REPLY: ClassVar[tuple[type["Message"], ...]] = ()
    REQUIRES: ClassVar[int] = 0  # capability bits the device must advertise
    PRIVILEGED: ClassVar[bool] = False  # needs the device's privileged link security (docs/protocol.md §5.6)

    def validate(self) -> None:
        """Cross-field checks; raise ProtocolError. Per-field ranges are checked by the schema."""

    def encode(self, check: bool = True) -> bytes:
        return encode_payload(self, check)


REGISTRY: dict[int, type[Message]] = {}
M = TypeVar("M", bound=type[Message])


@dataclass_transform(frozen_default=True, field_specifiers=(F,))
def message(type_code: int, role: Role, channel: Channel, reply: Iterable[type[Message]] = (),
            requires: int = 0, privileged: bool = False) -> Callable[[M], M]:
    """Register a message class under its one-byte type code (unique)."""

    def wrap(cls: M) -> M:
        if type_code in REGISTRY:
            raise ValueError(f"type 0x{type_code:02x} used by {REGISTRY[type_code].__name__} and {cls.__name__}")
        cls = cast(M, dataclass(frozen=True)(cls))
        cls.TYPE, cls.ROLE, cls.CHANNEL = type_code, role, channel
        cls.REPLY, cls.REQUIRES, cls.PRIVILEGED = tuple(reply), requires, privileged
        wires = [(f.name, f.metadata["wire"]) for f in dataclasses.fields(cast(Any, cls))]
        if any(isinstance(w, Rest) for _, w in wires[:-1]):
            raise ValueError(f"{cls.__name__}: a Rest field must be last")
        cls._wires = wires  # type: ignore[attr-defined]
        REGISTRY[type_code] = cls
        return cls

    return wrap


def wires(cls: type[Message]) -> list[tuple[str, WireType]]:
    """(field name, wire type) in wire order."""
    return cls._wires  # type: ignore[attr-defined]


def check_message(msg: Message) -> None:
    """Raise ProtocolError(OUT_OF_RANGE) naming the first invalid field (offset = field index)."""
    for i, (name, wire) in enumerate(wires(type(msg))):
        why = wire.problem(getattr(msg, name))
        if why:
            raise ProtocolError(i, f"{type(msg).__name__}.{name}: {why}", ErrorCode.OUT_OF_RANGE)
    msg.validate()


def encode_payload(msg: Message, check: bool = True) -> bytes:
    """Message -> payload bytes. check=False lets tests send out-of-range values on purpose."""
    if check:
        check_message(msg)
    out = bytearray()
    for name, wire in wires(type(msg)):
        wire.encode(getattr(msg, name), out)
    return bytes(out)


def decode_payload(type_code: int, data: bytes) -> Message:
    """Payload bytes of a frame of `type_code` -> message; ProtocolError(offset, reason) otherwise."""
    cls = REGISTRY.get(type_code)
    if cls is None:
        raise ProtocolError(1, f"unknown message type 0x{type_code:02x}", ErrorCode.UNKNOWN_TYPE)
    values: dict[str, Any] = {}
    off = 0
    for name, wire in wires(cls):
        start = off
        try:
            values[name], off = wire.decode(data, off)
        except ProtocolError as exc:
            raise ProtocolError(exc.offset, f"{cls.__name__}.{name}: {exc.reason}", exc.code) from None
        why = wire.problem(values[name])
        if why:
            raise ProtocolError(start, f"{cls.__name__}.{name}: {why}", ErrorCode.OUT_OF_RANGE)
    if off != len(data):
        raise ProtocolError(off, f"{cls.__name__}: {len(data) - off} unexpected trailing bytes")
    msg = cls(**values)
    msg.validate()
    return msg
