"""ZigBee APS frames: data, acknowledgements and commands (ZigBee spec 2.2.5).

s1bench's own traffic is data frames under NWK security, with Smart Energy
unicasts also APS-secured with the link key (key id 0, see
:func:`link_secured`) and acknowledged by APS acks secured the same way; ZDP
frames and broadcasts are unsecured at APS and decoded with one ``struct``
call. The Transport Key command is secured at APS with the key-transport key
(HMAC-MMO of the install-code link key, key id 2) as ZigBee PRO does. A
bench capture also holds APS acks, other APS commands, group-addressed data,
frames secured with a link key (key id 0) or the key-load key (3), and the
extended header of fragmented transfers, so :func:`decode` reads them all.

Frame control (2.2.5.1.1): frame type bits 0-1 (data, command, ack;
inter-PAN is refused), delivery mode 2-3 (unicast, broadcast, group;
indirect is not in ZigBee PRO and is refused), ack format 4 (acks only),
security 5, ack request 6, extended header present 7.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from construct import Int8ul, Int16ul, Struct
from cryptography.exceptions import InvalidTag

from . import mmo
from .codec_errors import CodecError, need
from .layout import unpacker
from .nwk import (
    EXT_NONCE,
    KEY_ID_KEY_TRANSPORT,
    KEY_ID_NETWORK,
    MIC_LEN,
    SEC_LEVEL,
    ccm_nonce,
    cipher,
)

LAYER = "zbee_aps"
FRAME_DATA = 0
FRAME_COMMAND = 1
FRAME_ACK = 2
FRAME_INTERPAN = 3
DELIVERY_UNICAST = 0
DELIVERY_INDIRECT = 1
DELIVERY_BROADCAST = 2
DELIVERY_GROUP = 3
FRAG_NONE = 0
FRAG_FIRST = 1
FRAG_MORE = 2
KEY_ID_DATA = 0
KEY_ID_KEY_LOAD = 3
KEY_NAMES = {KEY_ID_DATA: "link", KEY_ID_NETWORK: "network",
             KEY_ID_KEY_TRANSPORT: "key-transport", KEY_ID_KEY_LOAD: "key-load"}
CMD_TRANSPORT_KEY = 0x05
KEY_TYPE_NETWORK = 0x01
#: APS command identifiers (ZigBee spec table 4-27, R21 numbering).
COMMAND_NAMES = {
    0x05: "transport key", 0x06: "update device", 0x07: "remove device",
    0x08: "request key", 0x09: "switch key", 0x0E: "tunnel", 0x0F: "verify key",
    0x10: "confirm key",
}

PROFILE_ZDP = 0x0000
PROFILE_SE = 0x0109
#: Smart Energy clusters carried under NWK security alone. SE 1.x requires APS
#: security with the link key on its cluster traffic (link keys are optional in
#: ZigBee PRO, required in SE); Key Establishment is the exception, as it runs
#: before the link key it agrees exists. ZDP (profile 0) is never APS-secured.
NWK_ONLY_SE_CLUSTERS = frozenset({0x0800})


def link_secured(profile: int, cluster: int) -> bool:
    """Whether a unicast on this profile and cluster travels APS-secured with the link key."""
    return profile == PROFILE_SE and cluster not in NWK_ONLY_SE_CLUSTERS

_FC_SECURITY = 0x20
#: The APS frame control bit saying the frame is APS-secured (2.2.5.1.1).
FC_SECURITY = _FC_SECURITY
_FC_ACK_REQUEST = 0x40
_FC_ACK_FORMAT = 0x10
_FC_EXT_HEADER = 0x80
#: Frame control bits whose absence makes the frame s1bench's own kind of data frame:
#: frame type, the low delivery mode bit (indirect, group), ack format, security, ext header.
_FAST_MASK = 0x03 | 0x04 | _FC_ACK_FORMAT | _FC_SECURITY | _FC_EXT_HEADER

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
_TAIL = struct.Struct("<HHBB")  # cluster, profile, source endpoint, counter
_ADDR = struct.Struct("<BHHB")  # destination endpoint, cluster, profile, source endpoint


@dataclass(frozen=True, slots=True)
class ApsSecurity:
    """The APS auxiliary header (4.5.1): which key, the sender's counter and nonce source.

    ``source`` is the sender's EUI-64 when the extended nonce bit is set (the
    frame carries it); otherwise the receiver takes it from the NWK header.
    ``key_seq`` is sent only with the network key (key id 1).
    """

    key_id: int
    frame_counter: int
    source: int | None = None
    key_seq: int | None = None

    def aux(self) -> bytes:
        if (self.key_seq is not None) != (self.key_id == KEY_ID_NETWORK):
            raise ValueError("key_seq is sent with the network key (key id 1) and only then")
        ctl = (self.key_id << 3) | (EXT_NONCE if self.source is not None else 0)
        out = bytes([ctl]) + self.frame_counter.to_bytes(4, "little")
        if self.source is not None:
            out += self.source.to_bytes(8, "little")
        if self.key_seq is not None:
            out += bytes([self.key_seq])
        return out


@dataclass(slots=True)
class ApsData:
    """An APS data frame; ``dst_ep`` is None for group delivery (``group`` is set then).

    ``fragmentation`` is None without an extended header, else 0 (none),
    1 (first block: ``block`` is the number of blocks) or 2 (``block`` is
    this block's number).
    """

    dst_ep: int | None
    cluster: int
    profile: int
    src_ep: int
    counter: int
    payload: bytes
    broadcast: bool = False
    ack_request: bool = False
    group: int | None = None
    fragmentation: int | None = None
    block: int = 0
    security: ApsSecurity | None = None

    def encode(self, key: bytes | None = None, source_ieee: int | None = None) -> bytes:
        """Build the frame; with ``security`` it is sealed with ``key`` (see :func:`decode`)."""
        if self.group is None and self.security is None and self.fragmentation is None:
            # s1bench's own kind (literals: every frame it sends): data, unicast (0x00) or
            # broadcast (0x08), ack request 0x40.
            fc = 0x08 if self.broadcast else 0x00
            if self.ack_request:
                fc |= 0x40
            return _DATA_FAST.pack(fc, self.dst_ep, self.cluster, self.profile, self.src_ep,
                                   self.counter) + self.payload
        if self.group is not None:
            if self.broadcast:
                raise ValueError("a data frame is either broadcast or group-addressed")
            fc = FRAME_DATA | (DELIVERY_GROUP << 2)
            header = self.group.to_bytes(2, "little")
        else:
            fc = FRAME_DATA | ((DELIVERY_BROADCAST if self.broadcast else DELIVERY_UNICAST) << 2)
            if self.dst_ep is None:
                raise ValueError("a unicast or broadcast data frame needs dst_ep")
            header = bytes([self.dst_ep])
        if self.ack_request:
            fc |= _FC_ACK_REQUEST
        header += _TAIL.pack(self.cluster, self.profile, self.src_ep, self.counter)
        if self.fragmentation is not None:
            fc |= _FC_EXT_HEADER
            header += _ext_header(self.fragmentation, self.block, 0, ack=False)
        return _finish(fc, header, self.payload, self.security, key, source_ieee)


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
    security: ApsSecurity | None = None
    ack_request: bool = False
    broadcast: bool = False

    def encode(self, key: bytes | None = None, source_ieee: int | None = None) -> bytes:
        """Build the command, sealed with ``key`` when ``security`` is set (see ApsSecurity)."""
        fc = FRAME_COMMAND | ((DELIVERY_BROADCAST if self.broadcast else DELIVERY_UNICAST) << 2)
        if self.ack_request:
            fc |= _FC_ACK_REQUEST
        return _finish(fc, bytes([self.counter]), bytes([self.command]) + self.payload,
                       self.security, key, source_ieee)


@dataclass(slots=True)
class ApsAck:
    """An APS acknowledgement (2.2.5.2.3).

    A data ack names the endpoints, cluster and profile of the frame it
    acknowledges; a command ack (ack format bit set) names none, which is
    how ``dst_ep is None`` reads here. ``fragmentation``/``block``/``ack_bits``
    acknowledge blocks of a fragmented transfer.
    """

    counter: int
    dst_ep: int | None = None
    cluster: int | None = None
    profile: int | None = None
    src_ep: int | None = None
    fragmentation: int | None = None
    block: int = 0
    ack_bits: int = 0
    security: ApsSecurity | None = None

    @property
    def payload(self) -> bytes:
        """Always empty: lets a receiver that reads ``.payload`` of any decoded frame (node.py)
        fail on the empty ZCL/ZDP payload with a CodecError instead of an AttributeError."""
        return b""

    def encode(self, key: bytes | None = None, source_ieee: int | None = None) -> bytes:
        fields = (self.dst_ep, self.cluster, self.profile, self.src_ep)
        fc = FRAME_ACK
        if all(f is None for f in fields):
            fc |= _FC_ACK_FORMAT
            header = b""
        elif any(f is None for f in fields):
            raise ValueError("a data ack names dst_ep, cluster, profile and src_ep, or none")
        else:
            header = _ADDR.pack(self.dst_ep, self.cluster, self.profile, self.src_ep)
        header += bytes([self.counter])
        if self.fragmentation is not None:
            fc |= _FC_EXT_HEADER
            header += _ext_header(self.fragmentation, self.block, self.ack_bits, ack=True)
        return _finish(fc, header, b"", self.security, key, source_ieee)


ApsFrame = ApsData | ApsCommand | ApsAck


def decode(data: bytes, key: bytes | None = None, base: int = 0, *,
           source_ieee: int | None = None) -> ApsFrame:
    """Parse any APS frame; open an APS-secured one with ``key`` when given.

    ``key`` is the key the frame's key identifier calls for, already derived:
    the link key itself for key id 0 (data), HMAC-MMO(link, 0x00) for key id 2
    (key-transport, what a joining device holds), HMAC-MMO(link, 0x02) for key
    id 3 (key-load), the network key for id 1 (see :func:`key_for`). A
    secured frame without an extended nonce needs ``source_ieee``, the
    sender's EUI-64 (the NWK source IEEE address), to build the nonce.
    Without a key, the CodecError for the missing key carries the decoded
    header (ciphertext left out) as ``partial``.
    """
    try:
        need(LAYER, data, 0, 2, "APS frame control and counter")
        fc = data[0]
        if not fc & _FAST_MASK:  # unsecured unicast/broadcast data, no extended header
            need(LAYER, data, 0, _DATA_LEN, "APS data header")
            _, dst_ep, cluster, profile, src_ep, counter = _DATA_FAST.unpack_from(data)
            return ApsData(dst_ep, cluster, profile, src_ep, counter, bytes(data[_DATA_LEN:]),
                           bool(fc & 0x08), bool(fc & _FC_ACK_REQUEST))
        return _decode_general(data, fc, key, source_ieee)
    except CodecError as exc:
        exc.shift(base)
        raise


def _decode_general(data: bytes, fc: int, key: bytes | None,
                    source_ieee: int | None) -> ApsFrame:
    frame_type, delivery = fc & 0x3, (fc >> 2) & 0x3
    if frame_type == FRAME_INTERPAN:
        raise CodecError(LAYER, 0, "APS frame type 3 (inter-PAN) not supported")
    if delivery == DELIVERY_INDIRECT:
        raise CodecError(LAYER, 0, "indirect delivery mode (not in ZigBee PRO)")
    if fc & _FC_ACK_FORMAT and frame_type != FRAME_ACK:
        raise CodecError(LAYER, 0, f"ack format bit set on a non-ack frame ({fc:02x})")
    pos = 1
    frame: ApsFrame
    if frame_type == FRAME_DATA:
        group = dst_ep = None
        if delivery == DELIVERY_GROUP:
            need(LAYER, data, pos, 2 + 6, "APS group data header")
            group = data[pos] | (data[pos + 1] << 8)
            pos += 2
        else:
            need(LAYER, data, pos, 1 + 6, "APS data header")
            dst_ep = data[pos]
            pos += 1
        cluster, profile, src_ep, counter = _TAIL.unpack_from(data, pos)
        pos += 6
        frame = ApsData(dst_ep, cluster, profile, src_ep, counter, b"",
                        delivery == DELIVERY_BROADCAST, bool(fc & _FC_ACK_REQUEST), group)
    elif frame_type == FRAME_ACK:
        if delivery != DELIVERY_UNICAST or fc & _FC_ACK_REQUEST:
            raise CodecError(LAYER, 0, f"an APS ack must be unicast and ask no ack ({fc:02x})")
        if fc & _FC_ACK_FORMAT:
            frame = ApsAck(data[pos])
            pos += 1
        else:
            need(LAYER, data, pos, 7, "APS ack header")
            dst_ep, cluster, profile, src_ep = _ADDR.unpack_from(data, pos)
            frame = ApsAck(data[pos + 6], dst_ep, cluster, profile, src_ep)
            pos += 7
    else:
        if delivery == DELIVERY_GROUP or fc & _FC_EXT_HEADER:
            raise CodecError(LAYER, 0, f"APS command with group delivery or extended header "
                                       f"({fc:02x})")
        frame = ApsCommand(data[1], 0, b"", None, bool(fc & _FC_ACK_REQUEST),
                           delivery == DELIVERY_BROADCAST)
        pos = 2
    if fc & _FC_EXT_HEADER:
        pos = _read_ext_header(data, pos, frame)  # type: ignore[arg-type]
    if fc & _FC_SECURITY:
        payload = _open(data, pos, frame, key, source_ieee)
        pos = len(data) - len(payload) - MIC_LEN
    else:
        payload = bytes(data[pos:])
    if isinstance(frame, ApsData):
        frame.payload = payload
    elif isinstance(frame, ApsAck):
        if payload:
            raise CodecError(LAYER, pos, f"an APS ack with {len(payload)} bytes of payload")
    else:
        if not payload:
            raise CodecError(LAYER, pos, "truncated APS command: no command identifier")
        frame.command, frame.payload = payload[0], payload[1:]
    return frame


def _ext_header(fragmentation: int, block: int, ack_bits: int, ack: bool) -> bytes:
    if fragmentation not in (FRAG_NONE, FRAG_FIRST, FRAG_MORE):
        raise ValueError(f"fragmentation {fragmentation}: 0 none, 1 first, 2 not first")
    if fragmentation == FRAG_NONE:
        return b"\x00"
    return bytes([fragmentation, block]) + (bytes([ack_bits]) if ack else b"")


def _read_ext_header(data: bytes, pos: int, frame: ApsData | ApsAck) -> int:
    """The extended header (2.2.5.1.8): fragmentation, block number, ack bitfield (acks)."""
    need(LAYER, data, pos, 1, "APS extended frame control")
    efc = data[pos]
    if efc & 0xFC or efc & 0x3 == 0x3:
        raise CodecError(LAYER, pos, f"reserved extended frame control {efc:02x}")
    frame.fragmentation = efc
    pos += 1
    if efc:
        need(LAYER, data, pos, 1, "APS block number")
        frame.block = data[pos]
        pos += 1
        if isinstance(frame, ApsAck):
            need(LAYER, data, pos, 1, "APS ack bitfield")
            frame.ack_bits = data[pos]
            pos += 1
    return pos


def _finish(fc: int, header: bytes, plain: bytes, security: ApsSecurity | None,
            key: bytes | None, source_ieee: int | None) -> bytes:
    """The frame on air: header then plaintext, or header, auxiliary header and sealed payload."""
    if security is None:
        return bytes([fc]) + header + plain
    if key is None:
        raise ValueError("an APS-secured frame needs its key to encode")
    fc |= _FC_SECURITY
    aux = security.aux()
    source = security.source if security.source is not None else source_ieee
    if source is None:
        raise ValueError("no extended nonce: give the sender's EUI-64 (source_ieee)")
    patched = aux[0] | SEC_LEVEL
    aad = bytes([fc]) + header + bytes([patched]) + aux[1:]
    nonce = ccm_nonce(source, security.frame_counter, patched)
    return bytes([fc]) + header + aux + cipher(key).encrypt(nonce, plain, aad)


def _open(data: bytes, pos: int, frame: ApsFrame, key: bytes | None,
          source_ieee: int | None) -> bytes:
    """Read the auxiliary header at ``pos`` into ``frame`` and return the opened payload."""
    need(LAYER, data, pos, 1, "APS security control")
    ctl = data[pos]
    if ctl & 0xC7:  # level is sent as 0 (4.4.1.1); bits 6-7 reserved
        raise CodecError(LAYER, pos, f"unsupported APS security control {ctl:02x}")
    key_id, ext = (ctl >> 3) & 0x3, bool(ctl & EXT_NONCE)
    aux_len = 5 + (8 if ext else 0) + (1 if key_id == KEY_ID_NETWORK else 0)
    need(LAYER, data, pos, aux_len + MIC_LEN, "APS auxiliary header and MIC")
    counter = int.from_bytes(data[pos + 1 : pos + 5], "little")
    source = int.from_bytes(data[pos + 5 : pos + 13], "little") if ext else None
    key_seq = data[pos + aux_len - 1] if key_id == KEY_ID_NETWORK else None
    frame.security = ApsSecurity(key_id, counter, source, key_seq)
    start = pos + aux_len
    if key is None:
        exc = CodecError(LAYER, start, f"APS-secured frame ({KEY_NAMES[key_id]} key) and no key "
                                       "to open it")
        exc.partial = frame
        raise exc
    nonce_source = source if ext else source_ieee
    if nonce_source is None:
        raise CodecError(LAYER, pos, "no extended nonce and no sender EUI-64 to build the nonce")
    patched = ctl | SEC_LEVEL
    aad = bytes(data[:pos]) + bytes([patched]) + bytes(data[pos + 1 : start])
    try:
        return cipher(key).decrypt(ccm_nonce(nonce_source, counter, patched),
                                   bytes(data[start:]), aad)
    except InvalidTag:
        raise CodecError(LAYER, start, "APS MIC check failed (wrong link key)") from None


def key_for(key_id: int, link_or_network_key: bytes) -> bytes:
    """The key that opens a frame with ``key_id``, from the link key (or the network key)."""
    if key_id == KEY_ID_KEY_TRANSPORT:
        return mmo.key_transport_key(link_or_network_key)
    if key_id == KEY_ID_KEY_LOAD:
        return mmo.key_load_key(link_or_network_key)
    return link_or_network_key


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
