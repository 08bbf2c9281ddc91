"""NWK incoming-frame security a node applies before it acts on a frame.

The codec (:mod:`.nwk`) already refuses a frame whose MIC does not verify
under the node's network key: a tampered frame and one sealed under another
key look the same to a receiver. What a codec cannot know is the receiver's
history and its view of the HAN, so that part lives here:

* Freshness (ZigBee spec 05-3474, 4.3.1.2, incoming frame security): the
  network key's security material keeps, per sender EUI-64, the incoming
  frame counter; a frame whose counter is below the next one expected from
  that sender (so not above the last one accepted), or is 0xFFFFFFFF, fails.
  The counter table belongs to the key (nwkSecurityMaterialDescriptor,
  IncomingFrameCounterSet, spec 4.3.1 / Table 4.2), so it restarts only when
  another network key is active; a device that rejoins under the same key
  keeps its outgoing counter (it is persistent, 4.3.1.1) and the receivers
  keep their entries for it.
* Membership: the comms hub acts only on frames from devices in the CHF
  device log (SMETS1 CHTS: the log is the HAN's whitelist). A device holds
  an APS link key only with the trust centre and the devices it has joined
  a service with (SE 1.x: Smart Energy clusters need that link key; ZDO and
  Key Establishment, which is how a link key is made, need only the network
  key), so it acts on Smart Energy commands from no one else.

Every frame refused here, and every MIC failure, leaves an entry in the
receiving node's security log (devices: ``Device.log_event(...,
security=True)``; the hub: its ``HanEvents.security_event``) with a GBCS
alert code, and a warning in the run log naming the node, the claimed
sender and the reason; never the key or the frame's bytes.

GBCS alert codes used (GBCS table of alert codes; the same names Wireshark's
GBZ dissector carries):

* 0x8F53 "Failed Authentication or Authorisation not covered by other codes":
  a MIC that does not verify (bad MIC, or a wrong network key).
* 0x8F60 "Unusual numbers of malformed, out-of-order or unexpected Commands
  received": a stale (replayed) frame counter, which is an out-of-order
  command; s1bench logs each one rather than a count.
* 0x8F3E "Unauthorised Communication Access attempted": a secured frame from
  a sender outside the CHF device log (hub), or a Smart Energy command from
  a sender the device holds no link key with (devices).

This runs for every secured frame a node receives, so the fresh, admitted
case is a slot read, a dict lookup, two comparisons and a dict store.
"""

from __future__ import annotations

from typing import Any

import structlog

from . import aps, mac, nwk, se
from .codec_errors import CodecError

log = structlog.get_logger("s1bench.han")

MIC_FAILED = 0x8F53
REPLAYED_COUNTER = 0x8F60
UNAUTHORISED_SOURCE = 0x8F3E

#: A counter that may never be accepted (4.3.1.2: it would leave no next value).
COUNTER_MAX = 0xFFFF_FFFF
#: The hub's device type (devices.CHF; not imported: devices imports the node stack).
_CHF = "CHF"


class IncomingCounters(dict[int, int]):
    """Sender EUI-64 -> the lowest frame counter still acceptable from it, under ``key``.

    One entry per sender, never per frame. Made on a node's first secured
    frame (``HanNode.rx_counters``), so a node that never received one
    holds no table.
    """

    __slots__ = ("key",)

    def __init__(self, key: bytes | None) -> None:
        super().__init__()
        self.key = key

    @classmethod
    def for_node(cls, node: Any) -> IncomingCounters:
        return cls(node.network_key)


def admit(node: Any, frame: nwk.NwkFrame, data: aps.ApsData) -> bool:
    """Whether a NWK-secured frame whose MIC verified may be acted on.

    A refused frame is logged (see the module docstring) and must be dropped
    by the caller. The counter is stored only for an admitted frame, so a
    stranger's frames leave no entry.
    """
    try:
        table: IncomingCounters = node._lazy_rx_counters
    except AttributeError:
        table = node.rx_counters
    key = node.network_key
    if table.key is not key and table.key != key:
        # Another network key is active: its security material starts empty.
        table.clear()
        table.key = key
    source = frame.sec_source
    counter = frame.frame_counter
    if counter < table.get(source, 0) or counter == COUNTER_MAX:
        refuse(node, REPLAYED_COUNTER, source,
               f"stale NWK frame counter {counter} (next acceptable {table.get(source, 0)})")
        return False
    if source != node.extended_pan or node.device_type == _CHF:
        reason = _stranger(node, source, data)
        if reason is not None:
            refuse(node, UNAUTHORISED_SOURCE, source, reason)
            return False
    table[source] = counter + 1
    return True


def _stranger(node: Any, source: int, data: aps.ApsData) -> str | None:
    """Why ``source`` may not have this frame acted on by ``node``; None if it may."""
    if node.device_type == _CHF:
        events = getattr(node, "_events", None)
        known = getattr(events, "in_device_log", None)
        # A HAN link bound to something with no device log (the emulated NCP's host
        # keeps its own) has nothing to check against here.
        if known is None or known(source):
            return None
        return "sender not in the CHF device log"
    if data.profile != aps.PROFILE_SE or data.cluster == se.KEY_ESTABLISHMENT:
        return None  # network-key traffic: ZDO, and CBKE that makes a link key
    if not node.extended_pan:
        return None  # built outside an installation: no trust centre to tell apart
    if source in getattr(node, "_lazy_services", ()):  # read, never made, here
        return None
    return "no link key with the sender (not the trust centre or a service peer)"


def mic_failed(node: Any, exc: CodecError, frame: bytes) -> None:
    """Log a frame the codec refused for its MIC in ``node``'s security log.

    Called for every CodecError a node drops; only a MIC failure is a
    security event (a short or garbled frame is the radio's, not an
    attacker's). The sender named is the one the frame claims, read from
    its unauthenticated auxiliary header.
    """
    if exc.layer != nwk.LAYER or not exc.reason.startswith("MIC check failed"):
        return
    _record(node, MIC_FAILED, claimed_source(frame),
            "NWK MIC check failed (tampered, or another network key)")


def claimed_source(frame: bytes) -> int:
    """The sender EUI-64 a secured frame's auxiliary header names (0 if unreadable)."""
    try:
        nwk.NwkFrame.decode(mac.MacFrame.decode(frame).payload, None)
    except CodecError as exc:
        partial = getattr(exc, "partial", None)
        return partial.sec_source if partial is not None else 0
    return 0


def refuse(node: Any, event_id: int, source: int, reason: str) -> None:
    """Warn in the run log and write the security-log entry for a dropped frame."""
    log.warning("secured frame dropped", node=f"{node.ieee:016X}", source=f"{source:016X}",
                reason=reason)
    _record(node, event_id, source, reason)


def _record(node: Any, event_id: int, source: int, reason: str) -> None:
    detail = f"{reason}; from {source:016X}"
    log_event = getattr(node, "log_event", None)
    if log_event is not None:
        log_event(event_id, detail, security=True)
        return
    events = getattr(node, "_events", None)
    report = getattr(events, "security_event", None)
    if report is not None:
        report(event_id, detail)
