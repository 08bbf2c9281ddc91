"""ZigBee APS frames: data frames to endpoints, and the Transport Key command.

The trust centre delivers the network key to a joining device in an APS
Transport Key command secured with the key-transport key (HMAC-MMO of the
install-code link key, key id 2), as ZigBee PRO does.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Int8ul, Int16ul, Struct
from cryptography.exceptions import InvalidTag

from .codec_errors import CodecError, need
from .layout import unpacker
from .nwk import EXT_NONCE, KEY_ID_KEY_TRANSPORT, MIC_LEN, SEC_LEVEL, ccm_nonce, cipher

LAYER = "zbee_aps"
FRAME_DATA = 0
FRAME_COMMAND = 1
DELIVERY_UNICAST = 0
DELIVERY_BROADCAST = 2
CMD_TRANSPORT_KEY = 0x05
KEY_TYPE_NETWORK = 0x01

PROFILE_ZDP = 0x0000
PROFILE_SE = 0x0109

_DATA = Struct(
    "fc" / Int8ul,
    "dst_ep" / Int8ul,
    "cluster" / Int16ul,
    "profile" / Int16ul,
    "src_ep" / Int8ul,
    "counter" / Int8ul,
).compile()
_DATA_LEN = 8
_DATA_FAST = unpacker(_DATA)


@dataclass(slots=True)
class ApsData:
    dst_ep: int
    cluster: int
    profile: int
    src_ep: int
    counter: int
    payload: bytes
    broadcast: bool = False
    ack_request: bool = False

    def encode(self) -> bytes:
        fc = FRAME_DATA | ((DELIVERY_BROADCAST if self.broadcast else DELIVERY_UNICAST) << 2)
        if self.ack_request:
            fc |= 0x40
        return _DATA_FAST.pack(fc, self.dst_ep, self.cluster, self.profile, self.src_ep,
                               self.counter) + self.payload


@dataclass(slots=True)
class TransportKey:
    """APS Transport Key carrying the standard network key to one device."""

    counter: int
    network_key: bytes
    key_seq: int
    dest_ieee: int
    source_ieee: int
    frame_counter: int = 0

    def encode(self, key_transport: bytes) -> bytes:
        """Seal with the key-transport key, HMAC-MMO(link key, 0x00).

        The caller derives it once per device: HMAC-MMO costs four AES blocks.
        """
        fc = FRAME_COMMAND | 0x20  # command frame, security
        header = bytes([fc, self.counter])
        on_air_ctl = (KEY_ID_KEY_TRANSPORT << 3) | EXT_NONCE
        aux_tail = self.frame_counter.to_bytes(4, "little") + self.source_ieee.to_bytes(8, "little")
        patched = on_air_ctl | SEC_LEVEL
        aad = header + bytes([patched]) + aux_tail
        plain = (
            bytes([CMD_TRANSPORT_KEY, KEY_TYPE_NETWORK])
            + self.network_key  # byte for byte, as the key is used (DOMAIN.md)
            + bytes([self.key_seq])
            + self.dest_ieee.to_bytes(8, "little")
            + self.source_ieee.to_bytes(8, "little")
        )
        nonce = ccm_nonce(self.source_ieee, self.frame_counter, patched)
        return header + bytes([on_air_ctl]) + aux_tail + cipher(key_transport).encrypt(
            nonce, plain, aad
        )


@dataclass(slots=True)
class ApsCommand:
    counter: int
    command: int
    payload: bytes


def decode(data: bytes, key_transport: bytes | None = None, base: int = 0) -> ApsData | ApsCommand:
    """Parse an APS frame; secured commands need the receiver's key-transport key."""
    try:
        need(LAYER, data, 0, 2, "APS frame control and counter")
        fc = data[0]
        frame_type = fc & 0x3
        if frame_type == FRAME_DATA:
            if fc & 0x20:
                raise CodecError(LAYER, 0, "APS-secured data frames are not used by s1bench")
            if (fc >> 2) & 0x3 not in (DELIVERY_UNICAST, DELIVERY_BROADCAST):
                raise CodecError(LAYER, 0, f"delivery mode {(fc >> 2) & 3} not supported")
            need(LAYER, data, 0, _DATA_LEN, "APS data header")
            _, dst_ep, cluster, profile, src_ep, counter = _DATA_FAST.unpack_from(data)
            return ApsData(dst_ep, cluster, profile, src_ep, counter, bytes(data[_DATA_LEN:]),
                           (fc >> 2) & 0x3 == DELIVERY_BROADCAST, bool(fc & 0x40))
        if frame_type != FRAME_COMMAND:
            raise CodecError(LAYER, 0, f"APS frame type {frame_type} not supported")
        counter = data[1]
        if not fc & 0x20:
            need(LAYER, data, 2, 1, "APS command id")
            return ApsCommand(counter, data[2], bytes(data[3:]))
        need(LAYER, data, 2, 13 + 1 + MIC_LEN, "APS auxiliary header, command and MIC")
        ctl = data[2]
        if (ctl >> 3) & 3 != KEY_ID_KEY_TRANSPORT or not ctl & EXT_NONCE:
            raise CodecError(LAYER, 2, f"unsupported APS security control {ctl:02x}")
        fcount = int.from_bytes(data[3:7], "little")
        source = int.from_bytes(data[7:15], "little")
        if key_transport is None:
            raise CodecError(LAYER, 15, "secured APS command and no key-transport key")
        patched = ctl | SEC_LEVEL
        aad = bytes(data[:2]) + bytes([patched]) + bytes(data[3:15])
        try:
            plain = cipher(key_transport).decrypt(ccm_nonce(source, fcount, patched),
                                                  bytes(data[15:]), aad)
        except InvalidTag:
            raise CodecError(LAYER, 15, "APS MIC check failed (wrong link key)") from None
        return ApsCommand(counter, plain[0], plain[1:])
    except CodecError as exc:
        exc.shift(base)
        raise


def parse_transport_key(payload: bytes, base: int = 0) -> tuple[int, bytes, int, int, int]:
    """(key type, key, key seq, dest ieee, source ieee) from a Transport Key payload."""
    try:
        need(LAYER, payload, 0, 1 + 16 + 1 + 16, "Transport Key payload")
        key_type = payload[0]
        key = bytes(payload[1:17])
        return (key_type, key, payload[17], int.from_bytes(payload[18:26], "little"),
                int.from_bytes(payload[26:34], "little"))
    except CodecError as exc:
        exc.shift(base)
        raise
