"""IEEE 802.15.4 frames (2003/2006 formats): the outermost layer of every HAN frame.

s1bench itself sends data frames with short source and destination addresses
and PAN ID compression, the form a ZigBee PRO network uses once devices have
joined; that header is decoded with one ``struct`` call (the hot path). A
capture from a bench also holds acknowledgements, beacons and MAC commands
(beacon requests, association, data requests), and data frames addressed by
EUI-64 during joining, so :meth:`MacFrame.decode` reads every frame type and
addressing mode of 802.15.4-2006 section 7.2 (frame control: type bits 0-2,
security 3, frame pending 4, ack request 5, PAN ID compression 6, destination
addressing mode 10-11, frame version 12-13, source addressing mode 14-15).
What ZigBee PRO never sends is refused with a :class:`CodecError`: MAC-layer
security (ZigBee secures at NWK/APS), the reserved addressing mode 1, the
802.15.4-2015 frame version and reserved frame types.

Captures use link type 195 (802.15.4 with FCS), so the FCS is real; link
type 230 captures carry no FCS and are decoded with ``with_fcs=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from construct import Int8ul, Int16ul, Struct

from .codec_errors import CodecError, need
from .crc import crc16_reflected, crc16_reflected_bitwise
from .layout import unpacker

LAYER = "ieee802154"
BROADCAST = 0xFFFF
FRAME_BEACON = 0
FRAME_DATA = 1
FRAME_ACK = 2
FRAME_COMMAND = 3
FRAME_NAMES = {FRAME_BEACON: "beacon", FRAME_DATA: "data", FRAME_ACK: "ack",
               FRAME_COMMAND: "command"}

ADDR_NONE = 0
ADDR_SHORT = 2
ADDR_EXT = 3

#: MAC command identifiers, 802.15.4-2006 table 82.
COMMAND_NAMES = {
    0x01: "association request", 0x02: "association response",
    0x03: "disassociation notification", 0x04: "data request",
    0x05: "PAN ID conflict notification", 0x06: "orphan notification",
    0x07: "beacon request", 0x08: "coordinator realignment", 0x09: "GTS request",
}

_COMMAND_IDS = {bytes([c]) for c in COMMAND_NAMES}

# Frame control: data frame, PAN ID compression, short dst and src, version 0.
_FCF_BASE = FRAME_DATA | 0x0040 | (2 << 10) | (2 << 14)
_FCF_ACK_REQUEST = 0x0020
# The literals MacFrame's hot paths use.
assert _FCF_BASE == 0x8841 and _FCF_BASE | _FCF_ACK_REQUEST == 0x8861
_FCF_SECURITY = 0x0008
_FCF_PENDING = 0x0010
_FCF_PANID_COMP = 0x0040

_HEADER = Struct(
    "fcf" / Int16ul,
    "seq" / Int8ul,
    "pan" / Int16ul,
    "dst" / Int16ul,
    "src" / Int16ul,
).compile()
HEADER_LEN = 9  # the short/short/compressed header s1bench sends (node.py's NWK base)
_HEADER_FAST = unpacker(_HEADER)


def fcs(data: bytes) -> int:
    """ITU-T CRC-16 as 802.15.4 computes it (reflected 0x1021, init 0), bit by bit."""
    return crc16_reflected_bitwise(data)


def fcs_fast(data: bytes) -> int:
    """The same FCS at C speed, for the hot path."""
    return crc16_reflected(data)


@dataclass(slots=True)
class MacFrame:
    """One 802.15.4 frame; the defaults are the data frame s1bench sends.

    ``pan`` is the destination PAN ID, or the source PAN ID when the frame has
    no destination address (a beacon), or None when it has neither (an ack).
    ``src_pan`` is set only when both addresses are present and PAN ID
    compression is off, so compression is implied by it being None. ``dst``
    and ``src`` are None when their addressing mode is "not present"; an
    extended address is an int like a short one, told apart by the mode.
    """

    seq: int
    pan: int | None
    dst: int | None
    src: int | None
    payload: bytes
    ack_request: bool = False
    frame_type: int = FRAME_DATA
    dst_mode: int = ADDR_SHORT
    src_mode: int = ADDR_SHORT
    src_pan: int | None = None
    version: int = 0
    frame_pending: bool = False

    @property
    def header_len(self) -> int:
        """Bytes before the MAC payload: where the NWK frame starts in the MAC frame."""
        n = 3
        if self.dst_mode:
            n += 2 + (2 if self.dst_mode == ADDR_SHORT else 8)
        if self.src_mode:
            n += (2 if self.src_pan is not None or not self.dst_mode else 0)
            n += 2 if self.src_mode == ADDR_SHORT else 8
        return n

    @property
    def command(self) -> int | None:
        """The MAC command identifier of a command frame (its first payload byte)."""
        return self.payload[0] if self.frame_type == FRAME_COMMAND and self.payload else None

    def encode(self, with_fcs: bool = True) -> bytes:
        # Literals, not the named constants, on this path: every frame s1bench sends
        # takes it, and a global lookup per constant showed in `make bench`.
        if (self.frame_type == 1 and self.dst_mode == 2 and self.src_mode == 2
                and self.src_pan is None and not self.version and not self.frame_pending):
            body = _HEADER_FAST.pack(0x8861 if self.ack_request else 0x8841, self.seq, self.pan,
                                     self.dst, self.src) + self.payload
        else:
            body = self._encode_general()
        if not with_fcs:
            return body
        return body + crc16_reflected(body).to_bytes(2, "little")

    def _encode_general(self) -> bytes:
        if self.frame_type not in FRAME_NAMES:
            raise ValueError(f"802.15.4 frame type {self.frame_type} is not one ZigBee uses")
        if self.dst_mode not in (ADDR_NONE, ADDR_SHORT, ADDR_EXT) or self.src_mode not in (
                ADDR_NONE, ADDR_SHORT, ADDR_EXT):
            raise ValueError(f"addressing modes {self.dst_mode}/{self.src_mode}: need 0, 2 or 3")
        if self.version not in (0, 1):
            raise ValueError(f"frame version {self.version}: only 2003 (0) and 2006 (1)")
        if self.frame_type == FRAME_ACK and (self.dst_mode or self.src_mode or self.payload):
            raise ValueError("an 802.15.4 ack carries no addresses and no payload")
        both = bool(self.dst_mode and self.src_mode)
        if self.src_pan is not None and not both:
            raise ValueError("src_pan is only sent when both addresses are present")
        compress = both and self.src_pan is None
        fcf = (self.frame_type | (_FCF_PENDING if self.frame_pending else 0)
               | (_FCF_ACK_REQUEST if self.ack_request else 0)
               | (_FCF_PANID_COMP if compress else 0)
               | (self.dst_mode << 10) | (self.version << 12) | (self.src_mode << 14))
        out = bytearray(fcf.to_bytes(2, "little"))
        out.append(self.seq)
        if self.dst_mode:
            out += _pan_bytes(self.pan)
            out += _addr_bytes(self.dst, self.dst_mode)
        if self.src_mode:
            if not self.dst_mode:
                out += _pan_bytes(self.pan)
            elif self.src_pan is not None:
                out += self.src_pan.to_bytes(2, "little")
            out += _addr_bytes(self.src, self.src_mode)
        if self.frame_type == FRAME_COMMAND and not self.payload:
            raise ValueError("a MAC command frame needs its command identifier")
        return bytes(out + self.payload)

    @classmethod
    def decode(cls, data: bytes, with_fcs: bool = True) -> MacFrame:
        """Check the FCS (unless ``with_fcs`` is False) and parse any ZigBee MAC frame."""
        if with_fcs:
            need(LAYER, data, 0, 5, "802.15.4 frame control, sequence number and FCS")
            body, got = data[:-2], int.from_bytes(data[-2:], "little")
            want = crc16_reflected(body)  # fcs_fast without its call, on the hot path
            if want != got:
                raise CodecError(LAYER, len(data) - 2, f"bad FCS {got:04x}, expected {want:04x}")
        else:
            need(LAYER, data, 0, 3, "802.15.4 frame control and sequence number")
            body = data
        fcf = body[0] | (body[1] << 8)
        if fcf | 0x0020 == 0x8861 and len(body) >= HEADER_LEN:  # _FCF_BASE with an ack request
            _, seq, pan, dst, src = _HEADER_FAST.unpack_from(body)
            return cls(seq, pan, dst, src, bytes(body[HEADER_LEN:]), fcf != _FCF_BASE)
        return cls._decode_general(body, fcf)

    @classmethod
    def _decode_general(cls, body: bytes, fcf: int) -> MacFrame:
        frame_type = fcf & 0x7
        if frame_type not in FRAME_NAMES:
            raise CodecError(LAYER, 0, f"reserved frame type {frame_type}")
        if fcf & _FCF_SECURITY:
            raise CodecError(LAYER, 0, "MAC security enabled (ZigBee PRO secures at NWK and APS)")
        dst_mode, version, src_mode = (fcf >> 10) & 3, (fcf >> 12) & 3, (fcf >> 14) & 3
        if version > 1:
            raise CodecError(LAYER, 0, f"frame version {version} (only 802.15.4-2003/2006)")
        if ADDR_NONE < dst_mode < ADDR_SHORT or ADDR_NONE < src_mode < ADDR_SHORT:
            raise CodecError(LAYER, 0, "reserved addressing mode 1")
        if fcf & 0x0380:
            raise CodecError(LAYER, 0, f"reserved frame control bits set ({fcf:04x})")
        compress = bool(fcf & _FCF_PANID_COMP)
        both = bool(dst_mode and src_mode)
        if compress and not both:
            raise CodecError(LAYER, 0, "PAN ID compression without both addresses")
        if frame_type == FRAME_ACK and (dst_mode or src_mode):
            raise CodecError(LAYER, 0, "an ack frame with addresses")
        pos = 3
        pan = dst = src = src_pan = None
        if dst_mode:
            need(LAYER, body, pos, 2, "destination PAN ID")
            pan = body[pos] | (body[pos + 1] << 8)
            pos += 2
            dst, pos = _read_addr(body, pos, dst_mode, "destination")
        if src_mode:
            if not compress:
                need(LAYER, body, pos, 2, "source PAN ID")
                value = body[pos] | (body[pos + 1] << 8)
                pos += 2
                if dst_mode:
                    src_pan = value
                else:
                    pan = value
            src, pos = _read_addr(body, pos, src_mode, "source")
        payload = bytes(body[pos:])
        if frame_type == FRAME_ACK and payload:
            raise CodecError(LAYER, pos, f"an ack frame with {len(payload)} bytes of payload")
        if frame_type == FRAME_COMMAND and payload[:1] not in _COMMAND_IDS:
            if not payload:
                raise CodecError(LAYER, pos, "truncated MAC command: no command identifier")
            raise CodecError(LAYER, pos, f"reserved MAC command identifier {payload[0]:#04x}")
        return cls(body[2], pan, dst, src, payload, bool(fcf & _FCF_ACK_REQUEST), frame_type,
                   dst_mode, src_mode, src_pan, version, bool(fcf & _FCF_PENDING))


def _read_addr(body: bytes, pos: int, mode: int, what: str) -> tuple[int, int]:
    width = 2 if mode == ADDR_SHORT else 8
    need(LAYER, body, pos, width, f"{what} address")
    return int.from_bytes(body[pos : pos + width], "little"), pos + width


def _pan_bytes(pan: int | None) -> bytes:
    if pan is None:
        raise ValueError("a frame with an address needs a PAN ID")
    return pan.to_bytes(2, "little")


def _addr_bytes(addr: int | None, mode: int) -> bytes:
    if addr is None:
        raise ValueError("addressing mode given without an address")
    return addr.to_bytes(2 if mode == ADDR_SHORT else 8, "little")


# ---------------------------------------------------------------- beacons ---

@dataclass(slots=True)
class Beacon:
    """A beacon frame's MAC payload (802.15.4-2006 7.2.2.1) and ZigBee's beacon payload.

    ZigBee PRO beacons are non-beacon-enabled: no GTS, no pending addresses
    in practice, but both lists are read so an unusual coordinator still
    decodes. ``gts`` keeps the GTS directions and descriptors as raw bytes
    (ZigBee has no use for them); ``payload`` is the beacon payload, which
    :func:`parse_zigbee_beacon` reads.
    """

    superframe: int
    gts_spec: int = 0
    gts: bytes = b""
    pending_short: tuple[int, ...] = ()
    pending_ext: tuple[int, ...] = ()
    payload: bytes = b""

    def encode(self) -> bytes:
        count = self.gts_spec & 0x7
        if len(self.gts) != (1 + 3 * count if count else 0):
            raise ValueError(f"{count} GTS descriptors need {1 + 3 * count} bytes of GTS fields")
        if len(self.pending_short) > 7 or len(self.pending_ext) > 7:
            raise ValueError("at most 7 short and 7 extended pending addresses")
        out = bytearray(self.superframe.to_bytes(2, "little"))
        out.append(self.gts_spec)
        out += self.gts
        out.append(len(self.pending_short) | (len(self.pending_ext) << 4))
        for a in self.pending_short:
            out += a.to_bytes(2, "little")
        for a in self.pending_ext:
            out += a.to_bytes(8, "little")
        return bytes(out + self.payload)


def parse_beacon(payload: bytes, base: int = 0) -> Beacon:
    """Read a beacon frame's MAC payload; ``base`` is its offset in the MAC frame."""
    try:
        need(LAYER, payload, 0, 4, "beacon superframe, GTS and pending address fields")
        superframe = payload[0] | (payload[1] << 8)
        gts_spec = payload[2]
        if gts_spec & 0x78:
            raise CodecError(LAYER, 2, f"reserved GTS specification bits ({gts_spec:02x})")
        pos = 3
        count = gts_spec & 0x7
        gts = b""
        if count:
            need(LAYER, payload, pos, 1 + 3 * count, "GTS directions and list")
            gts = bytes(payload[pos : pos + 1 + 3 * count])
            pos += 1 + 3 * count
        need(LAYER, payload, pos, 1, "pending address specification")
        spec = payload[pos]
        if spec & 0x88:
            raise CodecError(LAYER, pos, f"reserved pending address bits ({spec:02x})")
        pos += 1
        n_short, n_ext = spec & 0x7, (spec >> 4) & 0x7
        need(LAYER, payload, pos, 2 * n_short + 8 * n_ext, "pending address list")
        shorts = tuple(int.from_bytes(payload[pos + 2 * i : pos + 2 * i + 2], "little")
                       for i in range(n_short))
        pos += 2 * n_short
        exts = tuple(int.from_bytes(payload[pos + 8 * i : pos + 8 * i + 8], "little")
                     for i in range(n_ext))
        pos += 8 * n_ext
        return Beacon(superframe, gts_spec, gts, shorts, exts, bytes(payload[pos:]))
    except CodecError as exc:
        exc.shift(base)
        raise


@dataclass(slots=True)
class ZigbeeBeacon:
    """The 15-byte ZigBee beacon payload (ZigBee spec 3.6.7, NWK information in the beacon).

    Byte 0 protocol id (0); byte 1 stack profile (bits 0-3) and nwkcProtocolVersion
    (4-7); byte 2 router capacity (bit 2), device depth (3-6), end device
    capacity (7); then the 64-bit extended PAN ID, the 24-bit TX offset and the
    nwkUpdateId.
    """

    stack_profile: int
    protocol_version: int
    router_capacity: bool
    device_depth: int
    end_device_capacity: bool
    extended_pan_id: int
    tx_offset: int = 0xFFFFFF
    update_id: int = 0
    extra: bytes = field(default=b"")

    def encode(self) -> bytes:
        return (bytes([0, self.stack_profile | (self.protocol_version << 4),
                       (0x04 if self.router_capacity else 0) | (self.device_depth << 3)
                       | (0x80 if self.end_device_capacity else 0)])
                + self.extended_pan_id.to_bytes(8, "little")
                + self.tx_offset.to_bytes(3, "little") + bytes([self.update_id]) + self.extra)


def parse_zigbee_beacon(payload: bytes, base: int = 0) -> ZigbeeBeacon:
    """Read ZigBee's beacon payload; another protocol id is refused."""
    try:
        need(LAYER, payload, 0, 15, "ZigBee beacon payload")
        if payload[0] != 0:
            raise CodecError(LAYER, 0, f"beacon protocol id {payload[0]} is not ZigBee (0)")
        if payload[2] & 0x03:
            raise CodecError(LAYER, 2, f"reserved ZigBee beacon bits ({payload[2]:02x})")
        return ZigbeeBeacon(payload[1] & 0xF, payload[1] >> 4, bool(payload[2] & 0x04),
                            (payload[2] >> 3) & 0xF, bool(payload[2] & 0x80),
                            int.from_bytes(payload[3:11], "little"),
                            int.from_bytes(payload[11:14], "little"), payload[14],
                            bytes(payload[15:]))
    except CodecError as exc:
        exc.shift(base)
        raise


# ------------------------------------------------------- timing and joining ---
# IEEE 802.15.4-2006 at 2.4 GHz (O-QPSK, 62.5 ksymbol/s: 16 us a symbol, 2 symbols
# an octet, 6.5.3.2). The MAC constants are table 85 (aTurnaroundTime, aUnitBackoffPeriod,
# aBaseSuperframeDuration) and the PIB defaults table 86 (macMaxFrameRetries 3,
# macResponseWaitTime 32); macAckWaitDuration is 7.4.2's aUnitBackoffPeriod (20) +
# aTurnaroundTime (12) + phySHRDuration (10) + 6 * phySymbolsPerOctet (2) = 54 symbols.
SYMBOL_S = 16e-6
TURNAROUND_S = 12 * SYMBOL_S
ACK_WAIT_S = 54 * SYMBOL_S
MAX_FRAME_RETRIES = 3
RESPONSE_WAIT_S = 32 * 960 * SYMBOL_S  # macResponseWaitTime * aBaseSuperframeDuration
#: How long an active scan listens on a channel (7.5.2.1.2): aBaseSuperframeDuration *
#: (2^n + 1) symbols, with the scan duration n = 3 stacks commonly join with: 138 ms.
SCAN_S = 960 * (2**3 + 1) * SYMBOL_S
#: Preamble (4), SFD (1) and PHR (1) go on air before the PSDU (6.3.1).
_PHY_OVERHEAD = 6
_OCTET_S = 2 * SYMBOL_S


def airtime(frame_len: int) -> float:
    """Seconds a PSDU of ``frame_len`` octets (FCS included) occupies the channel."""
    return (frame_len + _PHY_OVERHEAD) * _OCTET_S


def ack_frame(seq: int, pending: bool = False) -> bytes:
    """An Imm-Ack (7.2.2.3); ``pending``: the acker holds data for the sender (7.5.6.3)."""
    body = bytes([FRAME_ACK | (_FCF_PENDING if pending else 0), 0, seq])
    return body + crc16_reflected(body).to_bytes(2, "little")


#: The Imm-Ack of every DSN, built once: a medium acks millions of frames.
ACKS: tuple[bytes, ...] = tuple(ack_frame(seq) for seq in range(256))

CMD_ASSOCIATION_REQUEST = 0x01
CMD_ASSOCIATION_RESPONSE = 0x02
CMD_DATA_REQUEST = 0x04
CMD_BEACON_REQUEST = 0x07
#: Association status, 802.15.4-2006 table 83.
ASSOC_SUCCESS = 0x00
ASSOC_PAN_AT_CAPACITY = 0x01
ASSOC_ACCESS_DENIED = 0x02
#: Capability information bits (7.3.1.2): allocate address, RX on when idle.
CAP_ALLOCATE_ADDRESS = 0x80
CAP_RX_ON_WHEN_IDLE = 0x08
#: Superframe specification (7.2.2.1.2) of a ZigBee PRO coordinator: beacon and
#: superframe order 15 (no beacons of its own), final CAP slot 15, PAN coordinator.
SUPERFRAME_COORDINATOR = 0x4FFF
SUPERFRAME_ASSOCIATION_PERMIT = 0x8000
BROADCAST_PAN = 0xFFFF


def beacon_request(seq: int) -> MacFrame:
    """The active scan's Beacon Request: broadcast PAN and address, no source (7.3.7)."""
    return MacFrame(seq, BROADCAST_PAN, BROADCAST, None, bytes([CMD_BEACON_REQUEST]),
                    frame_type=FRAME_COMMAND, src_mode=ADDR_NONE)


def association_request(seq: int, pan: int, coordinator: int, ieee: int,
                        capability: int) -> MacFrame:
    """Association Request (7.3.1): source EUI-64 on the broadcast PAN, acked."""
    return MacFrame(seq, pan, coordinator, ieee, bytes([CMD_ASSOCIATION_REQUEST, capability]),
                    ack_request=True, frame_type=FRAME_COMMAND, src_mode=ADDR_EXT,
                    src_pan=BROADCAST_PAN)


def data_request(seq: int, pan: int, coordinator: int, ieee: int) -> MacFrame:
    """Data Request (7.3.4) polling for the association response, from the EUI-64."""
    return MacFrame(seq, pan, coordinator, ieee, bytes([CMD_DATA_REQUEST]), ack_request=True,
                    frame_type=FRAME_COMMAND, src_mode=ADDR_EXT)


def association_response(seq: int, pan: int, device: int, coordinator: int, short: int,
                         status: int) -> MacFrame:
    """Association Response (7.3.2): EUI-64 to EUI-64, the new short address and status."""
    payload = bytes([CMD_ASSOCIATION_RESPONSE]) + short.to_bytes(2, "little") + bytes([status])
    return MacFrame(seq, pan, device, coordinator, payload, ack_request=True,
                    frame_type=FRAME_COMMAND, dst_mode=ADDR_EXT, src_mode=ADDR_EXT)


def parse_association_response(payload: bytes) -> tuple[int, int]:
    """(short address, status) of an Association Response command payload."""
    need(LAYER, payload, 0, 4, "association response short address and status")
    return payload[1] | (payload[2] << 8), payload[3]
