"""ZigBee NWK frames, with level-5 AES-CCM* security under the network key.

Security follows the ZigBee PRO rules DOMAIN.md records: the nonce is the
source EUI-64 (little-endian, as on air) + frame counter + the security
control byte with its level field set to 5; that patched byte is also used in
the authenticated header, while on air the level field is sent as 0. The
auxiliary header always carries the source EUI-64 (extended nonce) so a
capture decrypts in Wireshark without address learning.
"""

from __future__ import annotations

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

    def _fcf(self) -> int:
        fcf = self.frame_type | (PROTOCOL_VERSION << 2) | (self.discover_route << 6)
        if self.secured:
            fcf |= 0x0200
        if self.dst_ieee is not None:
            fcf |= 0x0800
        if self.src_ieee is not None:
            fcf |= 0x1000
        return fcf

    def encode(self, key: bytes | None = None) -> bytes:
        header = _FIXED_FAST.pack(self._fcf(), self.dst, self.src, self.radius, self.seq)
        if self.dst_ieee is not None:
            header += self.dst_ieee.to_bytes(8, "little")
        if self.src_ieee is not None:
            header += self.src_ieee.to_bytes(8, "little")
        if not self.secured:
            return header + self.payload
        if key is None:
            raise ValueError("a secured NWK frame needs the network key to encode")
        on_air_ctl = (KEY_ID_NETWORK << 3) | EXT_NONCE
        aux = (
            bytes([on_air_ctl])
            + self.frame_counter.to_bytes(4, "little")
            + self.sec_source.to_bytes(8, "little")
            + bytes([self.key_seq])
        )
        patched = on_air_ctl | SEC_LEVEL
        aad = header + bytes([patched]) + aux[1:]
        nonce = ccm_nonce(self.sec_source, self.frame_counter, patched)
        return header + aux + cipher(key).encrypt(nonce, self.payload, aad)

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
            if fcf & 0x0500:
                raise CodecError(LAYER, 0, "multicast and source-routed frames are not supported")
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
            if not fcf & 0x0200:
                frame.payload = bytes(data[pos:])
                return frame
            header_end = pos
            need(LAYER, data, pos, 1, "security control")
            ctl = data[pos]
            key_id = (ctl >> 3) & 0x3
            if key_id != KEY_ID_NETWORK or not ctl & EXT_NONCE:
                raise CodecError(LAYER, pos, f"unsupported security control {ctl:02x}")
            need(LAYER, data, pos, _AUX_LEN + 1 + MIC_LEN, "auxiliary security header and MIC")
            _, counter, source = _AUX_FAST.unpack_from(data, pos)
            frame.secured = True
            frame.frame_counter = counter
            frame.sec_source = source
            frame.key_seq = data[pos + _AUX_LEN]
            pos += _AUX_LEN + 1
            if key is None:
                raise CodecError(LAYER, pos, "secured frame and no network key to open it")
            patched = ctl | SEC_LEVEL
            aad = bytes(data[:header_end]) + bytes([patched]) + bytes(data[header_end + 1 : pos])
            nonce = ccm_nonce(source, counter, patched)
            try:
                frame.payload = cipher(key).decrypt(nonce, bytes(data[pos:]), aad)
            except InvalidTag:
                raise CodecError(LAYER, pos,
                                 "MIC check failed (wrong key or tampered)") from None
            return frame
        except CodecError as exc:
            exc.shift(base)
            raise


def rejoin_request(capability: int) -> bytes:
    return bytes([CMD_REJOIN_REQUEST, capability])


def rejoin_response(short: int, status: int = 0) -> bytes:
    return bytes([CMD_REJOIN_RESPONSE]) + short.to_bytes(2, "little") + bytes([status])
