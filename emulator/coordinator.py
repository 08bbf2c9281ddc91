"""The hub's HAN part on s1bench's own frame stack: coordinator and trust centre.

This is the default :class:`~s1bench.emulator.han_link.HanLink`: a HanNode at
short address 0x0000 that turns the hub's requests into real NWK/APS/ZCL
bytes on a medium.

A first join is 802.15.4 association (802.15.4-2006 7.5.3, ZigBee spec
3.6.1.4.1): the joiner's Beacon Request is answered with a beacon whose
association-permit bit says whether the join window is open, and whose
ZigBee payload names the network (extended PAN id = the hub's EUI-64). An
Association Request while the window is closed is refused with "PAN access
denied" (table 83); while it is open the coordinator allocates a short
address and holds the Association Response until the joiner's Data Request
polls for it (indirect transmission, 7.5.6.3). Association is the parent's
decision and authentication the trust centre's (ZigBee spec 4.6.3.2): the
network key follows in an APS Transport Key sealed with the key-transport
key only to a device whose install-code link key the trust centre holds;
any other device is associated but never gets the key, so it cannot talk
on the network, and tries again later. A device that was on the network and lost
it rejoins (NWK Rejoin Request, 3.6.1.4.2): the coordinator answers every
rejoin with a Rejoin Response (rejoining needs no join window), and the
trust centre sends the key under the same rule. Its key table holds each
device's APS link key: the install-code key until the device's (modelled)
key establishment, the agreed key after it (key_agreement.py); Smart Energy
frames to and from a device are secured with it, and a device gone from the
table can no longer be read or written. The emulated NCP (``s1bench.hil.ncp``)
reuses it unchanged, so a dongle's joins run through the same code as the
emulated hub's.
"""

from __future__ import annotations

from typing import Any

import structlog

from . import aps, key_agreement, mac, mmo, nwk, se, zcl, zdo
from .devices import CHF
from .han_link import HanEvents
from .node import COORDINATOR, HanNode

log = structlog.get_logger("s1bench.han")

#: Where the trust centre starts handing out short addresses to joiners.
FIRST_JOINER_SHORT = 0x0100


class HanCoordinator(HanNode):
    device_type = CHF

    def __init__(self, ieee: int, pan: int, medium: Any, clock: Any,
                 network_key: bytes) -> None:
        super().__init__(ieee, COORDINATOR, pan, medium, clock)
        self.network_key = network_key
        #: Monotonic time until which the trust centre accepts joins.
        self.permit_until = 0.0
        self._events: HanEvents | None = None
        self._keys: dict[int, bytes] = {}
        #: APS link keys for SE traffic, by EUI-64: install-code key, then the agreed one.
        self._link_keys: dict[int, bytes] = {}
        #: Short address -> EUI-64, a cache over ``_shorts`` (see link_key_at).
        self._ieee_at: dict[int, int] = {}
        self._shorts: dict[int, int] = {}
        self._next_short = FIRST_JOINER_SHORT
        #: Association responses waiting for the joiner's Data Request: EUI-64 -> (short, status).
        self._pending_association: dict[int, tuple[int, int]] = {}
        #: macBSN, random at start like macDSN (802.15.4-2006 table 86).
        self._bsn = (self._mac_seq * 167 + 89) & 0xFF

    def bind(self, events: HanEvents) -> None:
        self._events = events

    def has_link_key(self, ieee: int) -> bool:
        return ieee in self._keys

    def keep_address(self, ieee: int, short: int) -> None:
        """A device already on the network at ``short``: new joiners get other addresses."""
        self._shorts[ieee] = short
        self._next_short = max(self._next_short, short + 1)

    # ---- what the hub asks ---------------------------------------------------
    def permit_joining(self, duration: int) -> None:
        now = self.clock.monotonic()
        # PermitDuration 0 closes joining; a re-sent window only ever extends it.
        self.permit_until = now if duration == 0 else max(self.permit_until, now + duration)
        self.send_zdo(COORDINATOR, zdo.ZdoMessage(zdo.MGMT_PERMIT_JOINING_REQ, self.next_zdo_seq(),
                                                  {"duration": duration, "tc_significance": 1}),
                      broadcast_to=nwk.ALL_ROUTERS)

    def add_link_key(self, ieee: int, link_key: bytes) -> None:
        self._keys[ieee] = link_key
        self._link_keys[ieee] = link_key

    def enrol(self, ieee: int, short: int, link_key: bytes) -> None:
        """A device on the network before the run, with the link key it agreed then."""
        self.keep_address(ieee, short)
        self._link_keys[ieee] = link_key

    def link_key_at(self, short: int) -> bytes | None:
        ieee = self._ieee_at.get(short)
        if ieee is None or self._shorts.get(ieee) != short:
            ieee = next((i for i, s in self._shorts.items() if s == short), None)
            if ieee is None:
                return None
            self._ieee_at[short] = ieee
        return self._link_keys.get(ieee)

    def link_keys(self) -> list[bytes]:
        """Every APS link key held (for decoding this HAN's own frames, never for logs)."""
        return list(self._link_keys.values())

    def remove_device(self, ieee: int, short: int | None) -> None:
        self._keys.pop(ieee, None)
        self._link_keys.pop(ieee, None)
        # A device added again later is a new joiner and gets a new address.
        self._shorts.pop(ieee, None)
        if short is not None:
            self.send_zdo(short, zdo.ZdoMessage(zdo.MGMT_LEAVE_REQ, self.next_zdo_seq(),
                                                {"ieee": ieee, "flags": 0}))

    def reset_device(self, ieee: int, short: int) -> None:
        self.send_zdo(short, zdo.ZdoMessage(zdo.MGMT_LEAVE_REQ, self.next_zdo_seq(),
                                            {"ieee": ieee, "flags": 0x80}))

    # ---- beacons and association (a first join) ---------------------------------
    def permits_joining(self) -> bool:
        return self.clock.monotonic() <= self.permit_until

    def on_mac_command(self, frame: mac.MacFrame) -> None:
        command = frame.command
        if command == mac.CMD_BEACON_REQUEST:
            self._send_beacon()
        elif command == mac.CMD_ASSOCIATION_REQUEST and frame.src_mode == mac.ADDR_EXT:
            self._associate(frame.src)  # type: ignore[arg-type]
        elif command == mac.CMD_DATA_REQUEST and frame.src_mode == mac.ADDR_EXT:
            pending = self._pending_association.pop(frame.src, None)  # type: ignore[arg-type]
            if pending is not None:
                self._send_association_response(frame.src, *pending)  # type: ignore[arg-type]

    def has_data_for(self, ieee: int) -> bool:
        """Whether a poll from ``ieee`` finds something held for it (its ack's pending bit)."""
        return ieee in self._pending_association

    def _send_beacon(self) -> None:
        """A beacon for an active scan: association permit from the join window."""
        superframe = mac.SUPERFRAME_COORDINATOR | (
            mac.SUPERFRAME_ASSOCIATION_PERMIT if self.permits_joining() else 0)
        # ZigBee spec 3.6.7: protocol id 0, stack profile 2 (ZigBee PRO), protocol
        # version 2; the coordinator is at depth 0 with room for routers and end devices.
        payload = mac.ZigbeeBeacon(2, nwk.PROTOCOL_VERSION, True, 0, True,
                                   self.extended_pan or self.ieee).encode()
        self._bsn = (self._bsn + 1) & 0xFF
        beacon = mac.MacFrame(self._bsn, self.pan, None, self.short,
                              mac.Beacon(superframe, payload=payload).encode(),
                              frame_type=mac.FRAME_BEACON, dst_mode=mac.ADDR_NONE)
        self.medium.send(self, beacon.encode())

    def _associate(self, ieee: int) -> None:
        """Decide an Association Request; the response waits for the joiner's poll."""
        if not self.permits_joining():
            self._pending_association[ieee] = (0xFFFF, mac.ASSOC_ACCESS_DENIED)
            return
        self._pending_association[ieee] = (self._address_for(ieee), mac.ASSOC_SUCCESS)

    def _send_association_response(self, ieee: int, short: int, status: int) -> None:
        self.send_mac(mac.association_response(0, self.pan, ieee, self.ieee, short, status))
        if status == mac.ASSOC_SUCCESS:
            self._authenticate(ieee)

    def _address_for(self, ieee: int) -> int:
        short = self._shorts.get(ieee)
        if short is None:
            short = self._shorts[ieee] = self._next_short
            self._next_short += 1
        return short

    def _authenticate(self, ieee: int) -> None:
        """The trust centre's part: the network key, only to a device it has a link key for."""
        if ieee in self._keys:
            # The device takes its new address when the response lands; the key follows.
            self.clock.call_later(0.05, self._send_transport_key, ieee)

    # ---- trust centre ----------------------------------------------------------
    def on_nwk_command(self, frame: nwk.NwkFrame) -> None:
        if frame.payload[:1] != bytes([nwk.CMD_REJOIN_REQUEST]) or frame.src_ieee is None:
            return
        ieee = frame.src_ieee
        self.send_nwk_command(frame.src, nwk.rejoin_response(self._address_for(ieee), 0))
        self._authenticate(ieee)

    def _send_transport_key(self, ieee: int) -> None:
        link_key = self._keys.get(ieee)
        short = self._shorts.get(ieee)
        if link_key is None or short is None or self.network_key is None:
            return  # removed from the key table meanwhile
        self._frame_counter += 1
        sealed = aps.TransportKey(self._next_aps_counter(), self.network_key,
                                  self.key_seq, ieee, self.ieee,
                                  self._frame_counter).encode(mmo.key_transport_key(link_key))
        self.send_aps_command(short, sealed)

    # ---- what comes back ---------------------------------------------------------
    def on_zdo(self, src: int, message: zdo.ZdoMessage) -> None:
        if message.cluster == zdo.DEVICE_ANNCE and self._events is not None:
            self._events.device_joined(message.fields["ieee"], message.fields["nwk"])

    def on_zcl(self, src: int, cluster: int, frame: zcl.ZclFrame) -> None:
        if cluster == se.KEY_ESTABLISHMENT:
            self._establish_key(src, frame)
            return
        if self._events is not None:
            self._events.zcl_received(src, cluster, frame)

    def _establish_key(self, src: int, frame: zcl.ZclFrame) -> None:
        """Answer a joined device's Initiate Key Establishment Request (modelled CBKE).

        The certificate names the device; it must hold an install-code key in
        the table and sit at the address it sends from. Both sides then use
        the agreed key: the response itself still goes under NWK security only.
        """
        if frame.direction != zcl.TO_SERVER or frame.command != se.KE_INITIATE_REQUEST:
            return
        ieee = key_agreement.certificate_subject(se.KE_INITIATE.parse(frame.payload).identity)
        install_key = self._keys.get(ieee) if ieee is not None else None
        if ieee is None or install_key is None or self._shorts.get(ieee) != src:
            return  # not a device this trust centre let in: no key to agree
        self.send_zcl(src, se.KEY_ESTABLISHMENT, zcl.ZclFrame(
            zcl.TYPE_CLUSTER, zcl.TO_CLIENT, frame.seq, se.KE_INITIATE_RESPONSE,
            se.KE_INITIATE.build({"suite": 1, "ephemeral_data_generate_time": 10,
                                  "confirm_key_generate_time": 10,
                                  "identity": key_agreement.certificate(self.ieee)}),
            disable_default_response=True))
        self._link_keys[ieee] = key_agreement.agreed_link_key(ieee, self.ieee, install_key)
