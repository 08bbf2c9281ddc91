"""IEEE 802.15.4 data frames with FCS: the outermost layer of every HAN frame.

s1bench sends data frames with short source and destination addresses and
PAN ID compression, the form a ZigBee PRO network uses once devices have
joined. Captures use link type 195 (802.15.4 with FCS), so the FCS is real.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Int8ul, Int16ul, Struct

from .codec_errors import CodecError, need
from .crc import crc16_reflected, crc16_reflected_bitwise
from .layout import unpacker

LAYER = "ieee802154"
BROADCAST = 0xFFFF
FRAME_DATA = 1

# Frame control: data frame, PAN ID compression, short dst and src, version 0.
_FCF_BASE = FRAME_DATA | 0x0040 | (2 << 10) | (2 << 14)
_FCF_ACK_REQUEST = 0x0020

_HEADER = Struct(
    "fcf" / Int16ul,
    "seq" / Int8ul,
    "pan" / Int16ul,
    "dst" / Int16ul,
    "src" / Int16ul,
).compile()
HEADER_LEN = 9
_HEADER_FAST = unpacker(_HEADER)


def fcs(data: bytes) -> int:
    """ITU-T CRC-16 as 802.15.4 computes it (reflected 0x1021, init 0), bit by bit."""
    return crc16_reflected_bitwise(data)


def fcs_fast(data: bytes) -> int:
    """The same FCS at C speed, for the hot path."""
    return crc16_reflected(data)


@dataclass(slots=True)
class MacFrame:
    seq: int
    pan: int
    dst: int
    src: int
    payload: bytes
    ack_request: bool = False

    def encode(self) -> bytes:
        fcf = _FCF_BASE | (_FCF_ACK_REQUEST if self.ack_request else 0)
        body = _HEADER_FAST.pack(fcf, self.seq, self.pan, self.dst, self.src) + self.payload
        return body + fcs_fast(body).to_bytes(2, "little")

    @classmethod
    def decode(cls, data: bytes) -> MacFrame:
        need(LAYER, data, 0, HEADER_LEN + 2, "802.15.4 header and FCS")
        body, got = data[:-2], int.from_bytes(data[-2:], "little")
        want = fcs_fast(body)
        if want != got:
            raise CodecError(LAYER, len(data) - 2, f"bad FCS {got:04x}, expected {want:04x}")
        fcf, seq, pan, dst, src = _HEADER_FAST.unpack_from(body)
        if fcf & 0x7 != FRAME_DATA:
            raise CodecError(LAYER, 0, f"frame type {fcf & 0x7} is not a data frame")
        if fcf & ~_FCF_ACK_REQUEST & 0xFFFF != _FCF_BASE:
            raise CodecError(LAYER, 0,
                             f"unsupported frame control {fcf:04x} (need short addresses)")
        return cls(seq, pan, dst, src, bytes(body[HEADER_LEN:]), bool(fcf & _FCF_ACK_REQUEST))
