"""Hostile HAN frames for negative tests: what an attacker in radio range could send.

Four kinds, each a real 802.15.4 / NWK / APS / ZCL frame put on the
installation's medium by a transmitter that is no member of the HAN:

``bad_mic``
    Sealed under the right network key as the claimed sender would seal it,
    then one MIC byte changed (a tampered frame).
``wrong_network_key``
    Sealed under a key that is not the network's (an attacker's guess, or
    a stale key). To a receiver it is a MIC failure too.
``unknown_device``
    Sealed correctly, by an outsider holding the network key (extracted from
    a device, say) under its own EUI-64, not one in the CHF device log. It
    borrows the claimed sender's short address, which costs nothing on air.
``replayed_counter``
    A frame the target accepted earlier, captured off the air and resent
    verbatim (:class:`FrameRecorder`, :func:`captured`): its counter is one
    the target has already seen.

The frames claim to come from whoever would genuinely send the command: the
hub (short 0x0000) to a meter, a meter to the hub. Keys are used only to
seal; none is ever logged or returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import aps, mac, nwk, se, zcl
from .codec_errors import CodecError
from .node import COORDINATOR, PAYLOAD_ERRORS

if TYPE_CHECKING:
    from .installation import Installation

KINDS = ("bad_mic", "wrong_network_key", "unknown_device", "replayed_counter")
#: The outsider's short address when it has no one to impersonate.
OUTSIDER_SHORT = 0x7FFE
#: The alert a forged Publish Event carries (the power alert SMETS1 meters raise).
ALERT_CODE = 0x8F84


@dataclass(frozen=True, slots=True)
class Command:
    """A Smart Energy command an attacker would want acted on, and who sends it genuinely."""

    name: str
    cluster: int
    #: Who sends it for real: "hub" (to a meter) or "meter" (to the hub).
    sender: str
    build: Callable[[Any], zcl.ZclFrame]
    #: Whether a captured frame is this command (a replay must resend the same one).
    matches: Callable[[zcl.ZclFrame], bool]


def _disable_supply(clock: Any) -> zcl.ZclFrame:
    payload = se.CHANGE_SUPPLY.build({
        "provider_id": 1, "issuer_event_id": 0x5EC0, "request_time": zcl.zigbee_time(clock.now()),
        "implementation_time": 0, "proposed_status": se.SUPPLY_OFF, "control_bits": 0x01})
    return zcl.ZclFrame(zcl.TYPE_CLUSTER, zcl.TO_SERVER, 0xA5, se.MET_CHANGE_SUPPLY, payload)


def _is_disable_supply(frame: zcl.ZclFrame) -> bool:
    return (frame.frame_type == zcl.TYPE_CLUSTER and frame.command == se.MET_CHANGE_SUPPLY
            and se.CHANGE_SUPPLY.parse(frame.payload).proposed_status == se.SUPPLY_OFF)


def _publish_alert(clock: Any) -> zcl.ZclFrame:
    payload = se.PUBLISH_EVENT.build({
        "log_id": se.LOG_GENERAL, "event_id": ALERT_CODE,
        "event_time": zcl.zigbee_time(clock.now()), "event_control": 0, "event_data": "power"})
    return zcl.ZclFrame(zcl.TYPE_CLUSTER, zcl.TO_CLIENT, 0xA5, se.EVT_PUBLISH_EVENT, payload)


def _is_alert(frame: zcl.ZclFrame) -> bool:
    return (frame.frame_type == zcl.TYPE_CLUSTER and frame.command == se.EVT_PUBLISH_EVENT
            and se.PUBLISH_EVENT.parse(frame.payload).event_id == ALERT_CODE)


COMMANDS: dict[str, Command] = {
    "disable_supply": Command("disable_supply", se.METERING, "hub", _disable_supply,
                              _is_disable_supply),
    "publish_alert": Command("publish_alert", se.EVENTS, "meter", _publish_alert, _is_alert),
}


class Outsider:
    """A transmitter in range of the HAN that is not one of its members (never attached)."""

    __slots__ = ("extended_pan", "ieee", "pan", "short")

    def __init__(self, pan: int, extended_pan: int, short: int, ieee: int) -> None:
        self.pan, self.extended_pan, self.short, self.ieee = pan, extended_pan, short, ieee

    def frame_received(self, frame: bytes) -> None:
        return None  # it only transmits


def seal(*, pan: int, dst: int, src: int, source_ieee: int, key: bytes, counter: int,
         key_seq: int, cluster: int, frame: zcl.ZclFrame, tamper: bool = False,
         link_key: bytes | None = None) -> bytes:
    """One NWK-secured ZCL frame as s1bench's own stack would send it; optionally tampered.

    With ``link_key`` the APS frame is secured with it too, as Smart Energy
    requires (an insider's frame); without, it goes with network security
    only, which a device refuses for an SE cluster. Tampering changes the
    last MIC byte, then the MAC FCS is computed over the result, so the frame
    reaches the NWK layer and fails only its MIC.
    """
    data = aps.ApsData(1, cluster, aps.PROFILE_SE, 1, counter & 0xFF, frame.encode(),
                       ack_request=True)
    if link_key is not None:
        data.security = aps.ApsSecurity(aps.KEY_ID_DATA, counter, source_ieee)
    secured = nwk.NwkFrame(nwk.FRAME_DATA, dst, src, 30, counter & 0xFF,
                           data.encode(link_key),
                           src_ieee=source_ieee, secured=True, frame_counter=counter,
                           sec_source=source_ieee, key_seq=key_seq).encode(key)
    if tamper:
        secured = secured[:-1] + bytes([secured[-1] ^ 0x5A])
    return mac.MacFrame(counter & 0xFF, pan, dst, src, secured, ack_request=True).encode()


def wrong_key(network_key: bytes) -> bytes:
    """A 16-byte key that is not the network's, derived so a run stays seeded."""
    other = hashlib.sha256(b"s1bench wrong network key" + network_key).digest()[:16]
    return other if other != network_key else bytes(16)


class FrameRecorder:
    """A medium tap that keeps the frames sent while it is on: the attacker's capture.

    It implements what the medium asks of a tap (``frame``, ``close``), so
    it adds no cost to a medium it is not on. ``limit`` bounds what it keeps.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.frames: list[bytes] = []
        self.limit = limit

    def frame(self, data: bytes, when: Any) -> None:
        if len(self.frames) < self.limit:
            self.frames.append(bytes(data))

    def close(self) -> None:
        return None


def captured(recorder: FrameRecorder, key: bytes, dst: int, command: Command,
             link_key: bytes | None = None) -> bytes | None:
    """The last recorded frame to short address ``dst`` that carried ``command``, verbatim.

    ``link_key`` opens the APS payload of Smart Energy frames (the analyst's key
    file); the replay itself needs no key: it resends the bytes as captured.
    """
    for raw in reversed(recorder.frames):
        try:
            m = mac.MacFrame.decode(raw)
            if m.dst != dst or m.frame_type != mac.FRAME_DATA:
                continue
            n = nwk.NwkFrame.decode(m.payload, key)
            if not n.secured or n.frame_type != nwk.FRAME_DATA:
                continue
            a = aps.decode(n.payload, link_key, source_ieee=n.src_ieee)
            if (isinstance(a, aps.ApsData) and a.profile == aps.PROFILE_SE
                    and a.cluster == command.cluster
                    and command.matches(zcl.ZclFrame.decode(a.payload))):
                return raw
        except (CodecError, *PAYLOAD_ERRORS):
            continue  # a frame the recorder's key cannot read: not the one sought
    return None


def hostile_frame(kind: str, command: Command, *, pan: int, dst: int, claimed_short: int,
                  claimed_ieee: int, outsider_ieee: int, network_key: bytes, key_seq: int,
                  clock: Any, link_key: bytes | None = None) -> bytes:
    """A forged frame of ``kind`` (not ``replayed_counter``: that one is captured).

    ``link_key``: the forger knows the APS link key (an insider), so the APS
    layer is right and only the fault under test can fail.
    """
    if kind not in KINDS or kind == "replayed_counter":
        raise ValueError(f"cannot forge a {kind!r} frame (forged kinds: bad_mic, "
                         "wrong_network_key, unknown_device)")
    frame = command.build(clock)
    # A counter far above any this HAN has used: only the fault under test can fail.
    counter = 0x00F0_0000
    if kind == "unknown_device":
        return seal(pan=pan, dst=dst, src=claimed_short, source_ieee=outsider_ieee,
                    key=network_key, counter=1, key_seq=key_seq, cluster=command.cluster,
                    frame=frame, link_key=link_key)
    key = wrong_key(network_key) if kind == "wrong_network_key" else network_key
    return seal(pan=pan, dst=dst, src=claimed_short, source_ieee=claimed_ieee, key=key,
                counter=counter, key_seq=key_seq, cluster=command.cluster, frame=frame,
                tamper=kind == "bad_mic", link_key=link_key)


@dataclass(frozen=True, slots=True)
class Aim:
    """Where a hostile frame goes on one installation, and whom it claims to be from."""

    target_ieee: int
    target_short: int
    claimed_short: int
    claimed_ieee: int
    #: The APS link key the hub and the meter at either end share (the hub's key table).
    link_key: bytes | None = None


def aim(inst: Installation, device_type: str, command: Command) -> Aim:
    """Addresses for ``command`` to the installation's ``device_type`` (CHF: the hub)."""
    from .headend import eui64_int

    hub = inst.hub
    if device_type == "CHF":
        target_ieee, target_short = hub.ieee, COORDINATOR
    else:
        target_ieee = eui64_int(inst.eui_of(device_type))
        short = hub.short_of(target_ieee)
        if short is None:
            raise ValueError(f"the {device_type} is not on the HAN: nothing to aim at")
        target_short = short
    if command.sender == "hub":
        if device_type == "CHF":
            raise ValueError(f"{command.name} goes from the hub to a meter, not to the CHF")
        return Aim(target_ieee, target_short, COORDINATOR, hub.ieee,
                   _link_key(inst, target_short))
    if device_type != "CHF":
        raise ValueError(f"{command.name} goes from a meter to the CHF, not to a {device_type}")
    meter = next((t for t in ("ESME", "GSME") if t in {lb.device_type for lb in
                                                     inst.labels.values()}), None)
    if meter is None:
        raise ValueError(f"{command.name} claims to come from a meter; the installation has none")
    meter_ieee = eui64_int(inst.eui_of(meter))
    meter_short = hub.short_of(meter_ieee)
    if meter_short is None:
        raise ValueError(f"the {meter} is not on the HAN: no one to impersonate")
    return Aim(target_ieee, target_short, meter_short, meter_ieee,
               _link_key(inst, meter_short))


def _link_key(inst: Installation, meter_short: int) -> bytes | None:
    link_key_at = getattr(inst.hub.link, "link_key_at", None)
    return link_key_at(meter_short) if link_key_at is not None else None


def forge(inst: Installation, kind: str, device_type: str, command: Command) -> bytes:
    """A forged ``kind`` frame carrying ``command`` to the installation's ``device_type``."""
    from .headend import eui64_int

    key = inst.hub.network_key
    if key is None:
        raise ValueError("the installation's HAN link holds no network key (a dongle's "
                         "firmware keeps its own): frames cannot be forged for it")
    where = aim(inst, device_type, command)
    return hostile_frame(kind, command, pan=inst.pan, dst=where.target_short,
                         claimed_short=where.claimed_short, claimed_ieee=where.claimed_ieee,
                         outsider_ieee=eui64_int(inst.unknown_eui), network_key=key,
                         key_seq=getattr(inst.hub.link, "key_seq", 0), clock=inst.clock,
                         link_key=where.link_key)


def transmit(inst: Installation, frame: bytes) -> None:
    """Put raw bytes on the installation's HAN from an outsider in range."""
    from .headend import eui64_int

    if inst.medium is None:
        raise ValueError("the installation has no emulated medium (a bench's HAN is on air)")
    inst.medium.send(Outsider(inst.pan, inst.extended_pan, OUTSIDER_SHORT,
                              eui64_int(inst.unknown_eui)), frame)
