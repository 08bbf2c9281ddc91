"""ZCL frames: the header, foundation commands and typed attribute values.

Only the data types the Smart Energy devices here use are implemented; an
unknown type in received bytes is a CodecError with its offset, so a capture
of a real meter that uses one shows exactly where s1bench stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .codec_errors import CodecError, need

LAYER = "zbee_zcl"

TYPE_GLOBAL = 0
TYPE_CLUSTER = 1
TO_SERVER = 0
TO_CLIENT = 1

READ_ATTRIBUTES = 0x00
READ_ATTRIBUTES_RESPONSE = 0x01
WRITE_ATTRIBUTES = 0x02
WRITE_ATTRIBUTES_RESPONSE = 0x04
REPORT_ATTRIBUTES = 0x0A
DEFAULT_RESPONSE = 0x0B

STATUS_SUCCESS = 0x00
STATUS_FAILURE = 0x01
STATUS_NOT_AUTHORIZED = 0x7E
STATUS_UNSUP_CLUSTER_COMMAND = 0x81
STATUS_INVALID_VALUE = 0x87
STATUS_READ_ONLY = 0x88
STATUS_UNSUPPORTED_ATTRIBUTE = 0x86

# ZigBee epoch for UTCTime: seconds since 2000-01-01T00:00:00Z.
ZIGBEE_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

BOOL, BITMAP8, BITMAP16 = 0x10, 0x18, 0x19
UINT8, UINT16, UINT24, UINT32, UINT48 = 0x20, 0x21, 0x22, 0x23, 0x25
INT8, INT16, INT24, INT32 = 0x28, 0x29, 0x2A, 0x2B
ENUM8 = 0x30
OCTET_STR, CHAR_STR = 0x41, 0x42
UTC_TIME = 0xE2

# type id -> (width, signed); strings are handled separately.
_FIXED_TYPES: dict[int, tuple[int, bool]] = {
    BOOL: (1, False), BITMAP8: (1, False), BITMAP16: (2, False),
    UINT8: (1, False), UINT16: (2, False), UINT24: (3, False), UINT32: (4, False),
    UINT48: (6, False), INT8: (1, True), INT16: (2, True), INT24: (3, True), INT32: (4, True),
    ENUM8: (1, False), UTC_TIME: (4, False),
}


def zigbee_time(moment: datetime) -> int:
    return int((moment - ZIGBEE_EPOCH).total_seconds())


def from_zigbee_time(seconds: int) -> datetime:
    from datetime import timedelta

    return ZIGBEE_EPOCH + timedelta(seconds=seconds)


def encode_value(type_id: int, value: Any) -> bytes:
    if type_id in (CHAR_STR, OCTET_STR):
        raw = value.encode() if isinstance(value, str) else bytes(value)
        if len(raw) > 254:
            raise ValueError("ZCL strings hold at most 254 bytes")
        return bytes([len(raw)]) + raw
    width, signed = _FIXED_TYPES[type_id]
    return int(value).to_bytes(width, "little", signed=signed)


def decode_value(type_id: int, data: bytes, pos: int, base: int = 0) -> tuple[Any, int]:
    """Return (value, new position); raise CodecError for unknown or short values."""
    try:
        if type_id in (CHAR_STR, OCTET_STR):
            need(LAYER, data, pos, 1, "string length")
            length = data[pos]
            need(LAYER, data, pos + 1, length, "string body")
            raw = bytes(data[pos + 1 : pos + 1 + length])
            value = raw.decode("utf-8", "replace") if type_id == CHAR_STR else raw
            return value, pos + 1 + length
        spec = _FIXED_TYPES.get(type_id)
        if spec is None:
            raise CodecError(LAYER, pos - 1, f"ZCL data type {type_id:#04x} not supported")
        width, signed = spec
        need(LAYER, data, pos, width, f"value of type {type_id:#04x}")
        return int.from_bytes(data[pos : pos + width], "little", signed=signed), pos + width
    except CodecError as exc:
        exc.shift(base)
        raise


@dataclass(slots=True)
class ZclFrame:
    frame_type: int
    direction: int
    seq: int
    command: int
    payload: bytes
    disable_default_response: bool = True
    manufacturer: int | None = None

    def encode(self) -> bytes:
        fc = self.frame_type | (self.direction << 3)
        if self.disable_default_response:
            fc |= 0x10
        if self.manufacturer is not None:
            fc |= 0x04
            return (bytes([fc]) + self.manufacturer.to_bytes(2, "little")
                    + bytes([self.seq, self.command]) + self.payload)
        return bytes([fc, self.seq, self.command]) + self.payload

    @classmethod
    def decode(cls, data: bytes, base: int = 0) -> ZclFrame:
        try:
            need(LAYER, data, 0, 3, "ZCL header")
            fc = data[0]
            frame_type = fc & 0x3
            if frame_type > TYPE_CLUSTER:
                raise CodecError(LAYER, 0, f"reserved ZCL frame type {frame_type}")
            pos = 1
            manufacturer = None
            if fc & 0x04:
                need(LAYER, data, 0, 5, "manufacturer-specific ZCL header")
                manufacturer = int.from_bytes(data[1:3], "little")
                pos = 3
            return cls(frame_type, (fc >> 3) & 1, data[pos], data[pos + 1], bytes(data[pos + 2 :]),
                       bool(fc & 0x10), manufacturer)
        except CodecError as exc:
            exc.shift(base)
            raise


# ---- foundation payloads -------------------------------------------------

def read_attributes(attr_ids: list[int]) -> bytes:
    return b"".join(a.to_bytes(2, "little") for a in attr_ids)


def parse_read_attributes(payload: bytes, base: int = 0) -> list[int]:
    if len(payload) % 2:
        raise CodecError(LAYER, base + len(payload) - 1, "odd length in Read Attributes")
    return [int.from_bytes(payload[i : i + 2], "little") for i in range(0, len(payload), 2)]


def read_attributes_response(records: list[tuple[int, int, int | None, Any]]) -> bytes:
    """records: (attr id, status, type id, value); type/value ignored unless status 0."""
    out = bytearray()
    for attr, status, type_id, value in records:
        out += attr.to_bytes(2, "little") + bytes([status])
        if status == STATUS_SUCCESS and type_id is not None:
            out += bytes([type_id]) + encode_value(type_id, value)
    return bytes(out)


def parse_read_attributes_response(payload: bytes, base: int = 0) -> dict[int, tuple[int, Any]]:
    """attr id -> (status, value)."""
    try:
        out: dict[int, tuple[int, Any]] = {}
        pos = 0
        while pos < len(payload):
            need(LAYER, payload, pos, 3, "attribute status record")
            attr = int.from_bytes(payload[pos : pos + 2], "little")
            status = payload[pos + 2]
            pos += 3
            if status != STATUS_SUCCESS:
                out[attr] = (status, None)
                continue
            need(LAYER, payload, pos, 1, "attribute data type")
            type_id = payload[pos]
            value, pos = decode_value(type_id, payload, pos + 1)
            out[attr] = (status, value)
        return out
    except CodecError as exc:
        exc.shift(base)
        raise


def write_attributes(records: list[tuple[int, int, Any]]) -> bytes:
    return b"".join(a.to_bytes(2, "little") + bytes([t]) + encode_value(t, v)
                    for a, t, v in records)


def parse_write_attributes(payload: bytes, base: int = 0) -> list[tuple[int, int, Any]]:
    try:
        out = []
        pos = 0
        while pos < len(payload):
            need(LAYER, payload, pos, 3, "write attribute record")
            attr = int.from_bytes(payload[pos : pos + 2], "little")
            type_id = payload[pos + 2]
            value, pos = decode_value(type_id, payload, pos + 3)
            out.append((attr, type_id, value))
        return out
    except CodecError as exc:
        exc.shift(base)
        raise


def write_attributes_response(failures: list[tuple[int, int]]) -> bytes:
    """An all-success response is a single status byte; failures list (status, attr)."""
    if not failures:
        return bytes([STATUS_SUCCESS])
    return b"".join(bytes([s]) + a.to_bytes(2, "little") for s, a in failures)


def parse_write_attributes_response(payload: bytes, base: int = 0) -> list[tuple[int, int]]:
    try:
        need(LAYER, payload, 0, 1, "Write Attributes Response status")
        if payload == bytes([STATUS_SUCCESS]):
            return []
        if len(payload) % 3:
            raise CodecError(LAYER, 0, "Write Attributes Response records are 3 bytes each")
        return [(payload[i], int.from_bytes(payload[i + 1 : i + 3], "little"))
                for i in range(0, len(payload), 3)]
    except CodecError as exc:
        exc.shift(base)
        raise


def default_response(command: int, status: int) -> bytes:
    return bytes([command, status])


def parse_default_response(payload: bytes, base: int = 0) -> tuple[int, int]:
    try:
        need(LAYER, payload, 0, 2, "Default Response")
        return payload[0], payload[1]
    except CodecError as exc:
        exc.shift(base)
        raise
