"""A station on the HAN: addresses, keys, counters, and the frame stack.

Every device and the hub are HanNodes. A node turns "send this ZCL command
to that device" into real 802.15.4 / NWK / APS / ZCL bytes on the medium,
and turns received bytes back into a call to ``on_zcl`` / ``on_zdo``.
Smart Energy unicasts are APS-secured with the link key the two ends share
and acknowledged with an APS ack (secured the same way); an SE frame that
arrives in the clear or under another key is refused, as SE requires. A
frame that fails to decode is counted and logged with its layer and offset
(never with key material) and dropped, as a radio would.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

import structlog
from construct import ConstructError

from . import aps, han_guard, mac, mmo, nwk, zcl, zdo
from .codec_errors import CodecError
from .medium import BROADCAST, Medium

log = structlog.get_logger("s1bench.han")

COORDINATOR = 0x0000

#: What a command payload parser can raise on short or garbled bytes.
PAYLOAD_ERRORS = (ConstructError, struct.error, IndexError, ValueError, UnicodeDecodeError)


T = TypeVar("T")


class LazySlot(Generic[T]):
    """A slotted attribute whose value is made on first read (``factory(instance)``).

    Most of a fleet's devices never have an event logged, an alert
    configured or a message shown; an empty list, dict or set per device
    and per purpose is most of what an idle device would hold. The class
    declares the slot ``_lazy_<name>`` and a ``LazySlot`` named ``<name>``: until
    read, the slot is unset and costs its pointer. Assignment works as for
    a plain attribute.
    """

    __slots__ = ("_factory", "_member")

    def __init__(self, factory: Callable[[Any], T]) -> None:
        self._factory = factory
        self._member: Any = None

    def __set_name__(self, owner: type, name: str) -> None:
        self._member = owner.__dict__["_lazy_" + name]

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> LazySlot[T]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> T: ...

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return self._member.__get__(obj, objtype)
        except AttributeError:
            value = self._factory(obj)
            self._member.__set__(obj, value)
            return value

    def __set__(self, obj: Any, value: T) -> None:
        self._member.__set__(obj, value)


def seeded(rng: random.Random | str) -> tuple[random.Random | None, str]:
    """(generator, seed) for a slotted owner that builds its generator on first use.

    Given a generator, the owner keeps it; given seed material, it keeps only
    the text until something draws (most of a fleet's devices never do).
    """
    if isinstance(rng, random.Random):
        return rng, ""
    return None, rng


class HanNode:
    """Shared stack for the hub and devices; subclasses implement the handlers.

    Slotted: a fleet run holds a node per device of every installation, and
    a per-instance dict is most of what an idle node would otherwise cost.

    ``extended_pan`` is the 64-bit extended PAN id of the HAN the node is on
    (ZigBee's default: the coordinator's EUI-64). PAN ids are 16 bits, so a
    medium carrying more HANs than there are PAN ids has HANs sharing one;
    the memory medium routes on the extended PAN as well, so a frame never
    reaches another HAN that happens to use the same PAN id and short
    address. 0 means "not given" (a node built outside an installation).
    """

    __slots__ = (
        "_aps_counter",
        "_frame_counter",
        "_lazy_rx_counters",
        "_mac_seq",
        "_nwk_seq",
        "_zcl_seq",
        "_zdo_seq",
        "clock",
        "extended_pan",
        "ieee",
        "key_seq",
        "medium",
        "network_key",
        "pan",
        "powered",
        "short",
    )

    device_type = "NODE"

    #: NWK incoming frame counters per sender (see han_guard), made on the first secured frame.
    rx_counters: LazySlot[han_guard.IncomingCounters] = LazySlot(
        han_guard.IncomingCounters.for_node)

    def __init__(self, ieee: int, short: int, pan: int, medium: Medium, clock: Any,
                 extended_pan: int = 0) -> None:
        self.ieee = ieee
        self.short = short
        self.pan = pan
        self.extended_pan = extended_pan
        self.medium = medium
        self.clock = clock
        self.network_key: bytes | None = None
        self.key_seq = 0
        self._frame_counter = self._mac_seq = self._nwk_seq = 0
        self._aps_counter = self._zcl_seq = self._zdo_seq = 0
        self.seed_counters()
        self.powered = True

    # ---- counters --------------------------------------------------------
    def seed_counters(self, seed: int = 0) -> None:
        """Start every counter where a radio in the field would have it, independently.

        802.15.4 starts macDSN at a random value (7.4.2, table 86) and ZigBee
        nwkSequenceNumber likewise (3.5.2); the APS counter and the ZCL and ZDO
        transaction sequences are free-running bytes a powered-up device has
        moved on; and a meter that has talked on its HAN for years has sent
        millions of NWK-secured frames, so its outgoing frame counter is far
        above 1. Each is drawn from a hash of the EUI-64 and the run seed (no
        generator held per node: fleets keep millions of nodes), so two nodes
        differ, a seed replays, and no counter moves with another.
        """
        h = _mix64(self.ieee ^ _mix64(seed + 0x5331))
        self._mac_seq = h & 0xFF
        self._nwk_seq = (h >> 8) & 0xFF
        self._aps_counter = (h >> 16) & 0xFF
        self._zcl_seq = (h >> 24) & 0xFF
        self._zdo_seq = (h >> 32) & 0xFF
        # 2^16 .. 2^24 + 2^16: tens of thousands to millions of frames already sent.
        self._frame_counter = 0x10000 + ((h >> 40) & 0xFFFFFF)

    # Each counter is a byte stepped in place: every frame the node sends steps
    # three of them, and a getattr/setattr step by name showed in a fleet's profile.
    def _next_mac_seq(self) -> int:
        self._mac_seq = value = (self._mac_seq + 1) & 0xFF
        return value

    def _next_nwk_seq(self) -> int:
        self._nwk_seq = value = (self._nwk_seq + 1) & 0xFF
        return value

    def _next_aps_counter(self) -> int:
        self._aps_counter = value = (self._aps_counter + 1) & 0xFF
        return value

    def next_zcl_seq(self) -> int:
        """ZCL transaction sequence number (ZCL 2.4.1.3): one per node, not shared with ZDO."""
        self._zcl_seq = value = (self._zcl_seq + 1) & 0xFF
        return value

    def next_zdo_seq(self) -> int:
        """ZDP transaction sequence number (ZigBee spec 2.4.2.8), separate from ZCL's."""
        self._zdo_seq = value = (self._zdo_seq + 1) & 0xFF
        return value

    # ---- sending ---------------------------------------------------------
    def _send_nwk(self, frame: nwk.NwkFrame, mac_dst: int) -> None:
        key = self.network_key if frame.secured else None
        payload = frame.encode(key)
        m = mac.MacFrame(self._next_mac_seq(), self.pan, mac_dst, self.short, payload,
                         ack_request=mac_dst != BROADCAST)
        self.medium.send(self, m.encode())

    def send_mac(self, frame: mac.MacFrame) -> None:
        """A MAC command or beacon (joining): the node's own DSN, stamped here."""
        frame.seq = self._next_mac_seq()
        self.medium.send(self, frame.encode())

    def send_aps(self, dst: int, payload: bytes, cluster: int, profile: int, endpoint: int,
                 *, broadcast_to: int | None = None) -> None:
        """Send an APS data frame, NWK-secured under the network key.

        A Smart Energy unicast (:func:`aps.link_secured`) also asks for an APS
        ack and is APS-secured with the link key shared with ``dst``; with no
        such key it is not sent (logged): SE forbids it in the clear, and the
        sender's own timeout turns the silence into an outcome.
        """
        if self.network_key is None:
            raise RuntimeError(f"{self.device_type} {self.ieee:016x} has no network key yet")
        broadcast = broadcast_to is not None
        frame = aps.ApsData(endpoint, cluster, profile, endpoint, self._next_aps_counter(),
                            payload, broadcast=broadcast)
        if broadcast or profile != aps.PROFILE_SE:
            self._send_aps_frame(broadcast_to if broadcast else dst, frame.encode(), broadcast)
            return
        frame.ack_request = True
        if cluster in aps.NWK_ONLY_SE_CLUSTERS:
            self._send_aps_frame(dst, frame.encode(), False)
            return
        key = self.link_key_at(dst)
        if key is None:
            log.warning("no link key: SE frame not sent", node=f"{self.ieee:016X}",
                        dst=f"{dst:04X}", cluster=f"{cluster:04X}")
            return
        self._frame_counter += 1
        frame.security = aps.ApsSecurity(aps.KEY_ID_DATA, self._frame_counter, self.ieee)
        self._send_aps_frame(dst, frame.encode(key), False)

    def _send_aps_frame(self, dst: int, data: bytes, broadcast: bool) -> None:
        """An encoded APS frame in a NWK data frame under the network key."""
        self._frame_counter += 1
        n = nwk.NwkFrame(nwk.FRAME_DATA, dst, self.short, 30, self._next_nwk_seq(), data,
                         src_ieee=self.ieee, secured=True, frame_counter=self._frame_counter,
                         sec_source=self.ieee, key_seq=self.key_seq)
        self._send_nwk(n, BROADCAST if broadcast else dst)

    def link_key_at(self, short: int) -> bytes | None:
        """The APS link key this node shares with the node at ``short``, if any.

        The trust centre keeps one per device (coordinator.py); a device holds
        the one it shares with the trust centre (devices.py).
        """
        return None

    def _ack(self, dst: int, frame: aps.ApsData, key: bytes | None) -> None:
        """Acknowledge a data frame that asked for it (ZigBee 2.2.5.2.3).

        The ack names the frame's cluster, profile and APS counter with the
        endpoints swapped; it is secured with the key that secured the frame.
        """
        ack = aps.ApsAck(frame.counter, frame.src_ep, frame.cluster, frame.profile,
                         frame.dst_ep)
        if key is not None:
            self._frame_counter += 1
            ack.security = aps.ApsSecurity(aps.KEY_ID_DATA, self._frame_counter, self.ieee)
        self._send_aps_frame(dst, ack.encode(key), False)

    def send_zcl(self, dst: int, cluster: int, frame: zcl.ZclFrame, endpoint: int = 1) -> None:
        self.send_aps(dst, frame.encode(), cluster, aps.PROFILE_SE, endpoint)

    def send_zdo(self, dst: int, message: zdo.ZdoMessage, *,
                 broadcast_to: int | None = None) -> None:
        self.send_aps(dst, message.encode(), message.cluster, aps.PROFILE_ZDP, 0,
                      broadcast_to=broadcast_to)

    def send_nwk_command(self, dst: int, payload: bytes, *, with_ieee: bool = True) -> None:
        """Unsecured NWK command (rejoin), used before the device holds the key."""
        n = nwk.NwkFrame(nwk.FRAME_COMMAND, dst, self.short, 1, self._next_nwk_seq(),
                         payload, src_ieee=self.ieee if with_ieee else None, discover_route=0)
        self._send_nwk(n, dst)

    def send_aps_command(self, dst: int, data: bytes) -> None:
        """An APS command already sealed at APS level, in an unsecured NWK frame."""
        n = nwk.NwkFrame(nwk.FRAME_DATA, dst, self.short, 1, self._next_nwk_seq(), data,
                         src_ieee=self.ieee, discover_route=0)
        self._send_nwk(n, dst)

    # ---- receiving -------------------------------------------------------
    def frame_received(self, frame: bytes) -> None:
        if not self.powered:
            return
        try:
            m = mac.MacFrame.decode(frame)
            if m.frame_type != 1:  # mac.FRAME_DATA, literal on the hot path
                self._mac_frame_received(m)
                return
            if m.dst not in (self.short, BROADCAST):
                return
            n = nwk.NwkFrame.decode(m.payload, self.network_key, base=mac.HEADER_LEN)
            if n.src == self.short and n.src_ieee == self.ieee:
                return
            if n.frame_type == nwk.FRAME_COMMAND:
                self.on_nwk_command(n)
                return
            if not n.secured:
                self.on_unsecured_aps(n)
                return
            fc = n.payload[0] if n.payload else 0
            if fc & 0x03 == aps.FRAME_ACK:
                return  # nothing waits on APS acks: the hub retries at the ZCL level
            key = None
            if fc & aps.FC_SECURITY:
                key = self.link_key_at(n.src)
                if key is None:
                    han_guard.refuse(self, han_guard.UNAUTHORISED_SOURCE, n.sec_source or 0,
                                     "APS-secured frame and no link key with the sender")
                    return
            a = aps.decode(n.payload, key, source_ieee=n.src_ieee)
            if isinstance(a, aps.ApsCommand):
                return
            if not han_guard.admit(self, n, a):
                return
            if a.profile == aps.PROFILE_ZDP:
                self.on_zdo(n.src, zdo.ZdoMessage.decode(a.cluster, a.payload))
                return
            if a.security is None and not a.broadcast and aps.link_secured(a.profile, a.cluster):
                han_guard.refuse(self, han_guard.UNAUTHORISED_SOURCE, n.sec_source or 0,
                                 f"Smart Energy frame (cluster 0x{a.cluster:04X}) without APS "
                                 "security")
                return
            if a.ack_request and not a.broadcast:
                self._ack(n.src, a, key)
            self.on_zcl(n.src, a.cluster, zcl.ZclFrame.decode(a.payload))
        except CodecError as exc:
            if self.network_key is None and exc.reason.startswith("secured frame and no"):
                return  # not on the network yet: it cannot read the traffic, as a radio
            if exc.layer == aps.LAYER and exc.reason.startswith("APS MIC"):
                # Another link key than this node's: a security refusal, not a bad frame.
                han_guard.refuse(self, han_guard.MIC_FAILED, han_guard.claimed_source(frame),
                                 "APS MIC check failed (another link key)")
                return
            self.medium.stats.malformed += 1
            log.warning("frame dropped", node=f"{self.ieee:016X}", layer=exc.layer,
                        offset=exc.offset, reason=exc.reason)
            han_guard.mic_failed(self, exc, frame)
        except PAYLOAD_ERRORS as exc:
            # A well-formed frame whose command payload is short or garbled: drop
            # it as a radio would, and count it, rather than crash the actor.
            self.medium.stats.malformed += 1
            log.warning("frame dropped", node=f"{self.ieee:016X}", layer="zbee_zcl_se",
                        reason=f"{type(exc).__name__}: {exc}")

    def _mac_frame_received(self, m: mac.MacFrame) -> None:
        """Beacons and MAC commands: joining's frames, addressed by EUI-64 or broadcast."""
        if m.dst_mode == mac.ADDR_EXT:
            if m.dst != self.ieee:
                return
        elif m.dst_mode == mac.ADDR_SHORT and m.dst not in (self.short, BROADCAST):
            return
        if m.frame_type == mac.FRAME_BEACON:
            self.on_beacon(m)
        elif m.frame_type == mac.FRAME_COMMAND:
            self.on_mac_command(m)
        # An ack is the medium's business (it retries on a missing one), not the node's.

    # Hooks for subclasses.
    def on_beacon(self, frame: mac.MacFrame) -> None:
        return None

    def on_mac_command(self, frame: mac.MacFrame) -> None:
        return None

    def on_nwk_command(self, frame: nwk.NwkFrame) -> None:
        return None

    def on_unsecured_aps(self, frame: nwk.NwkFrame) -> None:
        return None

    def on_zdo(self, src: int, message: zdo.ZdoMessage) -> None:
        return None

    def on_zcl(self, src: int, cluster: int, frame: zcl.ZclFrame) -> None:
        return None


def _mix64(x: int) -> int:
    """SplitMix64's finaliser: a cheap, well-spread 64-bit hash of an int."""
    x &= 0xFFFF_FFFF_FFFF_FFFF
    x = ((x ^ (x >> 30)) * 0xBF58_476D_1CE4_E5B9) & 0xFFFF_FFFF_FFFF_FFFF
    x = ((x ^ (x >> 27)) * 0x94D0_49BB_1331_11EB) & 0xFFFF_FFFF_FFFF_FFFF
    return x ^ (x >> 31)


def derive_key_transport(link_key: bytes) -> bytes:
    return mmo.key_transport_key(link_key)
