"""ZigBee NWK frames, with level-5 AES-CCM* security under the network key.

Security follows the ZigBee PRO rules DOMAIN.md records: the nonce is the
source EUI-64 (little-endian, as on air) + frame counter + the security
control byte with its level field set to 5; that patched byte is also used in
the authenticated header, while on air the level field is sent as 0. The
auxiliary header always carries the source EUI-64 (extended nonce) so a
capture decrypts in Wireshark without address learning.

Frames from a real network also carry what s1bench never sends: the
multicast control byte (frame control bit 8) and the source route subframe
(bit 10: relay count, relay index, relay list of short addresses), which
follow the IEEE addresses in that order (ZigBee spec 3.3.1.8-3.3.1.9), and
the R21 end device initiator bit (13). Those are decoded and re-encoded;
frame types 2 and 3 (reserved, inter-PAN: the NWK header is absent there),
reserved frame control bits 14-15 and security controls other than the
network key with an extended nonce (4.3.1.1: NWK frames always carry one)
are refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from construct import Int8ul, Int16ul, Int32ul, Int64ul, Struct
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from .codec_errors import CodecError, need
from .layout import unpacker

LAYER = "zbee_nwk"
FRAME_DATA = 0
FRAME_COMMAND = 1
PROTOCOL_VERSION = 2
SEC_LEVEL = 5  # ENC-MIC-32
MIC_LEN = 4
KEY_ID_NETWORK = 1
KEY_ID_KEY_TRANSPORT = 2
EXT_NONCE = 0x20

# Broadcast addresses (ZigBee PRO).
ALL_DEVICES = 0xFFFF
RX_ON_WHEN_IDLE = 0xFFFD
ALL_ROUTERS = 0xFFFC

CMD_REJOIN_REQUEST = 0x06
CMD_REJOIN_RESPONSE = 0x07
#: NWK command identifiers (ZigBee spec 3.4; 0x0b-0x0d came with R21/R22).
COMMAND_NAMES = {
    0x01: "route request", 0x02: "route reply", 0x03: "network status", 0x04: "leave",
    0x05: "route record", 0x06: "rejoin request", 0x07: "rejoin response",
    0x08: "link status", 0x09: "network report", 0x0A: "network update",
    0x0B: "end device timeout request", 0x0C: "end device timeout response",
    0x0D: "link power delta",
}

_FC_MULTICAST = 0x0100
_FC_SOURCE_ROUTE = 0x0400
_FC_END_DEVICE_INITIATOR = 0x2000
_NWK_SEC_CTL = (KEY_ID_NETWORK << 3) | EXT_NONCE
_NWK_SEC_CTL_PATCHED = _NWK_SEC_CTL | SEC_LEVEL
_NWK_SEC_CTL_BYTE = bytes([_NWK_SEC_CTL])
_NWK_SEC_CTL_PATCHED_BYTE = bytes([_NWK_SEC_CTL_PATCHED])
_AUX_TAIL = struct.Struct("<IQB")  # frame counter, source EUI-64, key sequence number
_NONCE = struct.Struct("<QIB")  # what ccm_nonce builds

_FIXED = Struct(
    "fcf" / Int16ul,
    "dst" / Int16ul,
    "src" / Int16ul,
    "radius" / Int8ul,
    "seq" / Int8ul,
).compile()
_FIXED_LEN = 8
_FIXED_FAST = unpacker(_FIXED)
_AUX = Struct("sec_ctl" / Int8ul, "counter" / Int32ul, "source" / Int64ul).compile()
_AUX_LEN = 13
_AUX_FAST = unpacker(_AUX)


def ccm_nonce(source_ieee: int, counter: int, sec_ctl: int) -> bytes:
    return source_ieee.to_bytes(8, "little") + counter.to_bytes(4, "little") + bytes([sec_ctl])


#: How many keys' AESCCM objects are kept (about 0.5 KiB each, so at most ~0.5 MiB).
#: A fleet has a network key per installation and a key-transport key per
#: joiner: unbounded, the cache grew by half a KiB for every installation that
#: ever sent a frame. Building one costs about a third of a seal (~0.4 us), so
#: a fleet whose active keys outnumber the bound loses little.
CIPHER_CACHE_SIZE = 1024
_CIPHERS: dict[bytes, AESCCM] = {}


def cipher(key: bytes) -> AESCCM:
    """One AESCCM object per key, the oldest dropped past :data:`CIPHER_CACHE_SIZE`."""
    c = _CIPHERS.get(key)
    if c is None:
        if len(_CIPHERS) >= CIPHER_CACHE_SIZE:
            del _CIPHERS[next(iter(_CIPHERS))]  # insertion order: the oldest first
        c = _CIPHERS[key] = AESCCM(key, tag_length=MIC_LEN)
    return c


@dataclass(frozen=True, slots=True)
class SourceRoute:
    """The source route subframe: ``relays`` in the order they are listed on air.

    ZigBee lists the relays from the destination side (index count-1 is the
    first hop) and each relay decrements ``index`` as it forwards; the codec
    keeps both exactly as sent.
    """

    index: int
    relays: tuple[int, ...]

    def encode(self) -> bytes:
        if len(self.relays) > 255:
            raise ValueError(f"{len(self.relays)} relays: a source route holds at most 255")
        return (bytes([len(self.relays), self.index])
                + b"".join(r.to_bytes(2, "little") for r in self.relays))


@dataclass(slots=True)
class NwkFrame:
    """A NWK frame; ``payload`` is plaintext (APS frame or NWK command)."""

    frame_type: int
    dst: int
    src: int
    radius: int
    seq: int
    payload: bytes
    src_ieee: int | None = None
    dst_ieee: int | None = None
    discover_route: int = 1
    # Security: set ``secured`` and the codec seals with the key given to encode().
    secured: bool = False
    frame_counter: int = 0
    sec_source: int = 0
    key_seq: int = 0
    # What s1bench never sends but a bench capture may hold (see the module docstring).
    multicast: int | None = None
    source_route: SourceRoute | None = None
    end_device_initiator: bool = False

    def encode(self, key: bytes | None = None) -> bytes:
        # Frame control built inline with literal bits (security 0x0200, IEEE
        # addresses 0x0800/0x1000, multicast 0x0100, source route 0x0400, end
        # device initiator 0x2000): this runs for every frame s1bench sends.
        if self.frame_type > 1:
            raise ValueError(f"NWK frame type {self.frame_type}: only data (0) and command (1)")
        fcf = self.frame_type | 0x0008 | (self.discover_route << 6)  # protocol version 2
        if self.secured:
            fcf |= 0x0200
        if self.dst_ieee is not None:
            fcf |= 0x0800
        if self.src_ieee is not None:
            fcf |= 0x1000
        routed = self.multicast is not None or self.source_route is not None
        if routed or self.end_device_initiator:
            if self.multicast is not None:
                fcf |= _FC_MULTICAST
            if self.source_route is not None:
                fcf |= _FC_SOURCE_ROUTE
            if self.end_device_initiator:
                fcf |= _FC_END_DEVICE_INITIATOR
        header = _FIXED_FAST.pack(fcf, self.dst, self.src, self.radius, self.seq)
        if self.dst_ieee is not None:
            header += self.dst_ieee.to_bytes(8, "little")
        if self.src_ieee is not None:
            header += self.src_ieee.to_bytes(8, "little")
        if routed:
            if self.multicast is not None:
                header += bytes([self.multicast])
            if self.source_route is not None:
                header += self.source_route.encode()
        if not self.secured:
            return header + self.payload
        if key is None:
            raise ValueError("a secured NWK frame needs the network key to encode")
        # The auxiliary header as sent (level 0) and as authenticated (level 5),
        # and the nonce (source, counter, patched control): one pack each.
        tail = _AUX_TAIL.pack(self.frame_counter, self.sec_source, self.key_seq)
        nonce = _NONCE.pack(self.sec_source, self.frame_counter, _NWK_SEC_CTL_PATCHED)
        return (header + _NWK_SEC_CTL_BYTE + tail
                + cipher(key).encrypt(nonce, self.payload, header + _NWK_SEC_CTL_PATCHED_BYTE
                                      + tail))

    @classmethod
    def decode(cls, data: bytes, key: bytes | None = None, base: int = 0) -> NwkFrame:
        """Parse (and open, when secured) a NWK frame; ``base`` is its offset in the MAC frame."""
        try:
            need(LAYER, data, 0, _FIXED_LEN, "NWK header")
            fcf, dst, src, radius, seq = _FIXED_FAST.unpack_from(data)
            version = (fcf >> 2) & 0xF
            if version != PROTOCOL_VERSION:
                raise CodecError(LAYER, 0,
                                 f"protocol version {version}, expected {PROTOCOL_VERSION}")
            if fcf & 0xC002:  # reserved bits 14-15, frame types 2-3 (literal: hot path)
                if fcf & 0x2:
                    raise CodecError(LAYER, 0, f"NWK frame type {fcf & 3} (reserved or inter-PAN)")
                raise CodecError(LAYER, 1, f"reserved frame control bits set ({fcf:04x})")
            pos = _FIXED_LEN
            dst_ieee = src_ieee = None
            if fcf & 0x0800:
                need(LAYER, data, pos, 8, "destination IEEE address")
                dst_ieee = int.from_bytes(data[pos : pos + 8], "little")
                pos += 8
            if fcf & 0x1000:
                need(LAYER, data, pos, 8, "source IEEE address")
                src_ieee = int.from_bytes(data[pos : pos + 8], "little")
                pos += 8
            frame = cls(fcf & 0x3, dst, src, radius, seq, b"", src_ieee, dst_ieee, (fcf >> 6) & 0x3)
            if fcf & 0x2500:  # multicast, source route, end device initiator: not s1bench's own
                pos = _read_routing(frame, fcf, data, pos)
            if not fcf & 0x0200:  # security
                frame.payload = bytes(data[pos:])
                return frame
            header_end = pos
            need(LAYER, data, pos, 1, "security control")
            ctl = data[pos]
            if ctl != _NWK_SEC_CTL:  # level sent as 0 (4.3.1.1), network key, extended nonce
                raise CodecError(LAYER, pos, f"unsupported security control {ctl:02x}")
            need(LAYER, data, pos, _AUX_LEN + 1 + MIC_LEN, "auxiliary security header and MIC")
            _, counter, source = _AUX_FAST.unpack_from(data, pos)
            frame.secured = True
            frame.frame_counter = counter
            frame.sec_source = source
            frame.key_seq = data[pos + _AUX_LEN]
            pos += _AUX_LEN + 1
            if key is None:
                exc = CodecError(LAYER, pos, "secured frame and no network key to open it")
                exc.partial = frame  # the header is known: a capture reader still shows it
                raise exc
            # ctl is _NWK_SEC_CTL here, so its patched form is a constant.
            aad = (bytes(data[:header_end]) + _NWK_SEC_CTL_PATCHED_BYTE
                   + bytes(data[header_end + 1 : pos]))
            nonce = _NONCE.pack(source, counter, _NWK_SEC_CTL_PATCHED)
            try:
                frame.payload = cipher(key).decrypt(nonce, bytes(data[pos:]), aad)
            except InvalidTag:
                raise CodecError(LAYER, pos,
                                 "MIC check failed (wrong key or tampered)") from None
            return frame
        except CodecError as exc:
            exc.shift(base)
            raise


def _read_routing(frame: NwkFrame, fcf: int, data: bytes, pos: int) -> int:
    """Fill the multicast control and source route of ``frame``; the position after them."""
    frame.end_device_initiator = bool(fcf & _FC_END_DEVICE_INITIATOR)
    if fcf & _FC_MULTICAST:
        need(LAYER, data, pos, 1, "multicast control")
        frame.multicast = data[pos]
        pos += 1
    if fcf & _FC_SOURCE_ROUTE:
        need(LAYER, data, pos, 2, "source route relay count and index")
        count, index = data[pos], data[pos + 1]
        need(LAYER, data, pos + 2, 2 * count, "source route relay list")
        relays = tuple(int.from_bytes(data[pos + 2 + 2 * i : pos + 4 + 2 * i], "little")
                       for i in range(count))
        frame.source_route = SourceRoute(index, relays)
        pos += 2 + 2 * count
    return pos


def rejoin_request(capability: int) -> bytes:
    return bytes([CMD_REJOIN_REQUEST, capability])


def rejoin_response(short: int, status: int = 0) -> bytes:
    return bytes([CMD_REJOIN_RESPONSE]) + short.to_bytes(2, "little") + bytes([status])
