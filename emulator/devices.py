"""SMETS1 devices as actors on the HAN: ESME, GSME, PPMID and IHD.

Each device answers real ZCL frames from the hub. State a DCC could read
(registers, credit, supply status, thresholds, credentials' fingerprints,
logs) lives here and is reachable only through frames. Firmware quirks are
consulted at one point, :meth:`Device.outcome`, with the name of the
operation being carried out; the device does not know which quirk answers.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

import structlog

from . import aps, key_agreement, mac, mgmt, mmo, nwk, se, zcl, zdo
from . import credentials as creds
from .meter_logs import LogsMixin
from .meter_tariff import TariffMixin
from .node import COORDINATOR, HanNode, LazySlot, seeded

#: Device._join_state bits: rejoin rather than associate; an active scan is listening.
_REJOIN = 1
_SCANNING = 2

log = structlog.get_logger("s1bench.device")

#: Device types of a SMETS1 installation (the comms hub is the CHF).
ESME, GSME, CHF, PPMID, IHD = "ESME", "GSME", "CHF", "PPMID", "IHD"
DEVICE_TYPES = (CHF, ESME, GSME, PPMID, IHD)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a DMC says about one device: model, firmware, and its quirks."""

    device_type: str
    manufacturer: str
    model: str
    firmware_version: str
    quirks: tuple[Any, ...] = ()
    srvs: frozenset[str] = frozenset()
    profile_id: str = "reference"


@dataclass(slots=True)
class Outcome:
    """How a device carries out one operation: quirks may change any part."""

    apply: bool = True
    confirm: bool = True
    status: int = zcl.STATUS_SUCCESS
    reason: str | None = None


class QuirkContext:
    """What a quirk hook may look at: the device's time, its seeded RNG, its memory.

    The RNG is the owner's, reached only when a quirk draws: most quirk
    consultations draw nothing, and an owner's generator is built on first
    use (:class:`Device`), so asking a quirk must not build it.
    """

    __slots__ = ("_owner", "memory", "now")

    def __init__(self, now: float, owner: Any, memory: dict[str, Any]) -> None:
        self.now = now
        self._owner = owner
        self.memory = memory

    @property
    def rng(self) -> random.Random:
        return self._owner.rng


def fingerprint(material: bytes) -> str:
    """A short public identifier of a credential: never the credential itself."""
    return hashlib.sha256(material).hexdigest()[:16].upper()


def initial_credentials(ieee: int) -> creds.CredentialSlots:
    """The slots as the pre-migration operator left them: its public key per role."""
    return creds.initial_slots(ieee)


class Device(HanNode):
    """Behaviour shared by every HAN device; subclasses add their clusters.

    A fleet run holds every device of every installation, most of them idle,
    so what an idle device holds is kept small: slots, and state nobody has
    asked for yet (the seeded generator, the credential slots) built on
    first use. ``rng`` may be a ``random.Random`` or the seed material of
    one: a generator's state is 2.5 KiB, more than the rest of an idle
    device, and it is built only when something draws from it. A meter
    draws its registers at construction from a throwaway generator; the
    kept one replays those draws (:meth:`_replay_draws`) when it is built,
    so every seeded value is what it was with a generator held throughout.
    """

    __slots__ = ("_join_backoff", "_join_draws", "_join_handle", "_join_state",
                 "_lazy_alerts_enabled", "_lazy_credentials", "_lazy_event_log", "_lazy_messages",
                 "_lazy_quirk_memory", "_lazy_security_log", "_lazy_services", "_lazy_tunnels",
                 "_link_ktk", "_rng", "_rng_seed", "_tunnel_seq", "clock_offset", "dumb",
                 "enrolled", "info", "install_code", "link_key", "peer_lookup")

    #: Made on first use (see LazySlot): what most idle devices never touch.
    event_log: LazySlot[list[tuple[int, int, int, str]]] = LazySlot(lambda d: [])
    security_log: LazySlot[list[tuple[int, int, int, str]]] = LazySlot(lambda d: [])
    alerts_enabled: LazySlot[dict[int, bool]] = LazySlot(lambda d: {})
    services: LazySlot[set[int]] = LazySlot(lambda d: set())
    messages: LazySlot[list[str]] = LazySlot(lambda d: [])
    quirk_memory: LazySlot[dict[str, Any]] = LazySlot(lambda d: {})
    #: Credential slots: role -> fingerprint of the public key in the slot (and the keys).
    credentials: LazySlot[creds.CredentialSlots] = LazySlot(
        lambda d: initial_credentials(d.ieee))
    #: Open Tunneling cluster tunnels: tunnel id -> the client's short address.
    tunnels: LazySlot[dict[int, int]] = LazySlot(lambda d: {})

    device_type = "DEVICE"

    def __init__(self, ieee: int, short: int, pan: int, medium: Any, clock: Any,
                 info: DeviceInfo, rng: random.Random | str, extended_pan: int = 0) -> None:
        super().__init__(ieee, short, pan, medium, clock, extended_pan)
        self.info = info
        self._rng, self._rng_seed = seeded(rng)
        #: Draws the join start took from a throwaway generator (replayed, see rng).
        self._join_draws = 0
        self.enrolled = False
        self.dumb = False
        self.clock_offset = 0.0
        self.install_code: bytes | None = None
        self._join_handle: Any = None
        self._link_ktk: bytes | None = None
        #: The APS link key shared with the trust centre (key_agreement.py); None: none yet.
        self.link_key: bytes | None = None
        #: The last tunnel id handed out; kept across resets (NV), so ids are not reused.
        self._tunnel_seq = 0
        self._join_state = 0
        self.peer_lookup: Any = None

    # ---- seeded generator and credentials, built on first use ---------------
    @property
    def rng(self) -> random.Random:
        """The device's seeded generator, built (and brought up to date) on first use."""
        rng = self._rng
        if rng is None:
            rng = self._rng = self._fresh_rng()
        return rng

    def _fresh_rng(self) -> random.Random:
        """A generator at the point the device's draws so far have left it."""
        rng = random.Random(self._rng_seed)
        self._replay_draws(rng)
        for _ in range(self._join_draws):
            rng.uniform(1.0, self.attempt_interval)
        return rng

    def _replay_draws(self, rng: random.Random) -> None:
        """Repeat the draws construction took from a throwaway generator (meters do)."""

    # ---- quirks ----------------------------------------------------------
    def outcome(self, op: str, args: dict[str, Any] | None = None) -> Outcome:
        """Ask each quirk how this operation goes; the reference says 'as asked'."""
        result = Outcome()
        if self.dumb:
            return Outcome(apply=False, confirm=False, reason="device operating dumb")
        if not self.info.quirks:
            return result
        ctx = QuirkContext(self.clock.monotonic(), self, self.quirk_memory)
        for quirk in self.info.quirks:
            change = quirk.device_command(ctx, self, op, args or {})
            if change is not None:
                result = change
        return result

    def start(self) -> None:
        """Let each quirk start what it runs on its own (timers, floods)."""
        if self.info.quirks:
            ctx = QuirkContext(self.clock.monotonic(), self, self.quirk_memory)
            for quirk in self.info.quirks:
                quirk.on_start(ctx, self)

    def on_zdo(self, src: int, message: zdo.ZdoMessage) -> None:
        # Mgmt_Leave_req with the rejoin flag is the hub's reset of a device.
        if (message.cluster == zdo.MGMT_LEAVE_REQ and message.fields["ieee"] == self.ieee
                and message.fields.get("flags", 0) & 0x80):
            self.dumb = False
            self.reset_tunnels()
            self.log_event(0x8F20, "device reset by the hub")

    # ---- link key with the trust centre (key_agreement.py) -----------------
    def link_key_at(self, short: int) -> bytes | None:
        return self.link_key if short == COORDINATOR else None

    def start_key_establishment(self) -> None:
        """Just joined with the install-code key: agree the SE link key with the trust centre.

        The install-code key secures SE traffic until the trust centre answers
        the Initiate Key Establishment Request (the modelled CBKE).
        """
        if self.install_code is None:
            return
        self.link_key = mmo.link_key_from_install_code(self.install_code)
        self.send_zcl(COORDINATOR, se.KEY_ESTABLISHMENT, zcl.ZclFrame(
            zcl.TYPE_CLUSTER, zcl.TO_SERVER, self.next_zcl_seq(), se.KE_INITIATE_REQUEST,
            se.KE_INITIATE.build({"suite": 1, "ephemeral_data_generate_time": 10,
                                  "confirm_key_generate_time": 10,
                                  "identity": key_agreement.certificate(self.ieee)})))

    def _key_established(self, frame: zcl.ZclFrame) -> None:
        """The trust centre's Initiate Key Establishment Response: switch to the agreed key."""
        if self.install_code is None or frame.command != se.KE_INITIATE_RESPONSE:
            return
        trust_centre = key_agreement.certificate_subject(
            se.KE_INITIATE.parse(frame.payload).identity)
        if trust_centre is None:
            return
        self.link_key = key_agreement.agreed_link_key(
            self.ieee, trust_centre, mmo.link_key_from_install_code(self.install_code))

    # ---- logs ------------------------------------------------------------
    def _zigbee_now(self) -> int:
        return zcl.zigbee_time(self.clock.now())

    def log_event(self, event_id: int, data: str = "", security: bool = False) -> None:
        target = self.security_log if security else self.event_log
        entry = (se.LOG_SECURITY if security else se.LOG_GENERAL, event_id, self._zigbee_now(),
                 data)
        target.append(entry)
        del target[:-100]  # devices keep a bounded log

    def raise_alert(self, event_id: int, data: str = "") -> None:
        """Publish an event to the hub, which relays it as a WAN alert."""
        if self.alerts_enabled.get(event_id) is False or self.network_key is None:
            return
        payload = se.PUBLISH_EVENT.build(
            {"log_id": se.LOG_GENERAL, "event_id": event_id, "event_time": self._zigbee_now(),
             "event_control": 0, "event_data": data[:40]}
        )
        self.send_zcl(COORDINATOR, se.EVENTS, zcl.ZclFrame(
            zcl.TYPE_CLUSTER, zcl.TO_CLIENT, self.next_zcl_seq(), se.EVT_PUBLISH_EVENT, payload))

    # ---- ZCL dispatch ----------------------------------------------------
    def on_zcl(self, src: int, cluster: int, frame: zcl.ZclFrame) -> None:
        if cluster == se.KEY_ESTABLISHMENT and src == COORDINATOR and \
                frame.direction == zcl.TO_CLIENT:
            self._key_established(frame)
            return
        if self.dumb:
            return
        if frame.frame_type == zcl.TYPE_GLOBAL:
            if frame.command == zcl.READ_ATTRIBUTES:
                self._read_attributes(src, cluster, frame)
            elif frame.command == zcl.WRITE_ATTRIBUTES:
                self._write_attributes(src, cluster, frame)
            return
        handler = getattr(self, f"cmd_{cluster:04x}_{frame.command:02x}", None)
        if handler is None and frame.direction == zcl.TO_CLIENT:
            return  # an answer to something this device did not ask for: ignore it
        if handler is None:
            self.reply(src, cluster, frame, zcl.DEFAULT_RESPONSE,
                       zcl.default_response(frame.command, zcl.STATUS_UNSUP_CLUSTER_COMMAND),
                       global_=True)
            return
        handler(src, frame)

    def reply(self, dst: int, cluster: int, request: zcl.ZclFrame, command: int, payload: bytes,
              *, global_: bool = False) -> None:
        """Answer with the request's sequence number, in the other direction."""
        self.send_zcl(dst, cluster, zcl.ZclFrame(
            zcl.TYPE_GLOBAL if global_ else zcl.TYPE_CLUSTER, 1 - request.direction, request.seq,
            command, payload))

    def answer_default(self, src: int, cluster: int, request: zcl.ZclFrame,
                       result: Outcome) -> None:
        """Answer a command that has no response of its own with a Default Response.

        Silent when a quirk withholds the confirmation.
        """
        if not result.confirm:
            return
        status = zcl.STATUS_SUCCESS if result.apply else (result.status or zcl.STATUS_FAILURE)
        self.reply(src, cluster, request, zcl.DEFAULT_RESPONSE,
                   zcl.default_response(request.command, status), global_=True)

    def attributes(self, cluster: int) -> dict[int, tuple[int, Any]]:
        """Readable attributes: id -> (ZCL type, value). Subclasses extend."""
        if cluster == se.BASIC:
            return {
                se.BASIC_MANUFACTURER: (zcl.CHAR_STR, self.info.manufacturer),
                se.BASIC_MODEL: (zcl.CHAR_STR, self.info.model),
                se.BASIC_SW_BUILD: (zcl.CHAR_STR, self.info.firmware_version),
            }
        if cluster == se.TIME:
            return {se.TIME_TIME: (zcl.UTC_TIME, self._zigbee_now() + int(self.clock_offset))}
        return {}

    def _read_attributes(self, src: int, cluster: int, frame: zcl.ZclFrame) -> None:
        table = self.attributes(cluster)
        records = []
        for attr in zcl.parse_read_attributes(frame.payload):
            if attr in table:
                type_id, value = table[attr]
                records.append((attr, zcl.STATUS_SUCCESS, type_id, value))
            else:
                records.append((attr, zcl.STATUS_UNSUPPORTED_ATTRIBUTE, None, None))
        self.reply(src, cluster, frame, zcl.READ_ATTRIBUTES_RESPONSE,
                   zcl.read_attributes_response(records), global_=True)

    def write_attribute(self, cluster: int, attr: int, value: Any) -> int:
        """Apply one write; return a ZCL status. Subclasses accept their own."""
        if cluster == se.TIME and attr == se.TIME_TIME:
            self.clock_offset = value - self._zigbee_now()
            return zcl.STATUS_SUCCESS
        return zcl.STATUS_UNSUPPORTED_ATTRIBUTE

    def write_op(self, cluster: int, attrs: list[int]) -> str:
        """The quirk operation name for a write to these attributes."""
        if cluster == se.TIME:
            return "synchronise_clock"
        return f"write_{cluster:04x}"

    def _write_attributes(self, src: int, cluster: int, frame: zcl.ZclFrame) -> None:
        records = zcl.parse_write_attributes(frame.payload)
        op = self.write_op(cluster, [a for a, _, _ in records])
        result = self.outcome(op, {"attributes": {a: v for a, _, v in records}})
        if not result.confirm and result.apply:
            for attr, _, value in records:
                self.write_attribute(cluster, attr, value)
            return
        if not result.confirm:
            return
        if not result.apply:
            failures = [(result.status or zcl.STATUS_FAILURE, a) for a, _, _ in records]
        else:
            failures = []
            for attr, _, value in records:
                status = self.write_attribute(cluster, attr, value)
                if status != zcl.STATUS_SUCCESS:
                    failures.append((status, attr))
        self.reply(src, cluster, frame, zcl.WRITE_ATTRIBUTES_RESPONSE,
                   zcl.write_attributes_response(failures), global_=True)

    # ---- Events cluster: Get Event Log -> Publish Event Log ---------------
    def cmd_0709_00(self, src: int, frame: zcl.ZclFrame) -> None:
        req = se.GET_EVENT_LOG.parse(frame.payload)
        log_id = req.event_control_log_id & 0x0F
        source = self.security_log if log_id == se.LOG_SECURITY else self.event_log
        limit = min(req.number_of_events or 10, se.MAX_EVENTS_PER_LOG)
        events = source[-limit:]
        self.reply(src, se.EVENTS, frame, se.EVT_PUBLISH_EVENT_LOG,
                   se.publish_event_log(events, total=len(source)))

    # ---- Tunneling: s1bench management operations --------------------------
    def cmd_0704_00(self, src: int, frame: zcl.ZclFrame) -> None:
        """Request Tunnel: open one for s1bench's operations (mgmt.py), one per client."""
        req = se.REQUEST_TUNNEL.parse(frame.payload)
        tunnel = se.NO_TUNNEL
        if req.protocol_id != mgmt.PROTOCOL_ID or req.manufacturer_code != mgmt.MANUFACTURER_CODE:
            status = se.TUNNEL_PROTOCOL_NOT_SUPPORTED
        elif req.flow_control:
            status = se.TUNNEL_FLOW_CONTROL_NOT_SUPPORTED
        else:
            status = se.TUNNEL_SUCCESS
            tunnels = self.tunnels
            for old in [t for t, client in tunnels.items() if client == src]:
                del tunnels[old]  # the client's earlier tunnel: it asks again when it lost it
            self._tunnel_seq = self._tunnel_seq % (se.NO_TUNNEL - 1) + 1
            tunnel = self._tunnel_seq
            tunnels[tunnel] = src
        self.reply(src, se.TUNNELING, frame, se.TUN_REQUEST_TUNNEL_RESPONSE,
                   se.REQUEST_TUNNEL_RESPONSE.build({
                       "tunnel_id": tunnel, "status": status,
                       "max_incoming_transfer_size": mgmt.MAX_TRANSFER}))

    def reset_tunnels(self) -> None:
        """A reset closes every tunnel (they live in RAM); clients must ask again."""
        self.tunnels = {}

    def cmd_0704_02(self, src: int, frame: zcl.ZclFrame) -> None:
        tunnel, data = se.parse_transfer_data(frame.payload)
        client = self.tunnels.get(tunnel)
        if client != src:
            status = se.TRANSFER_NO_SUCH_TUNNEL if client is None else se.TRANSFER_WRONG_DEVICE
            self.reply(src, se.TUNNELING, frame, se.TUN_TRANSFER_DATA_ERROR_TO_CLIENT,
                       se.TRANSFER_DATA_ERROR.build({"tunnel_id": tunnel, "status": status}))
            return
        if not data:
            return
        op, body = data[0], data[1:]
        handler = getattr(self, f"mgmt_{op:02x}", None)
        if handler is None:
            answer: bytes | None = mgmt.response(op, mgmt.UNSUPPORTED)
        else:
            answer = handler(body)
        if answer is not None:
            self.reply(src, se.TUNNELING, frame, se.TUN_TRANSFER_DATA_TO_CLIENT,
                       se.transfer_data(tunnel, answer))

    def mgmt_10(self, body: bytes) -> bytes | None:
        """Update a credential slot (6.15.1 / 6.23): the new key (or a bare digest).

        Authority to replace it was checked by the authorisation that came
        before (:meth:`mgmt_18`); from here on only the new key verifies.
        """
        role = mgmt.ROLE_NAMES.get(body[0], "")
        material = body[1:]
        if len(material) not in (creds.PUBLIC_KEY_LEN, creds.DIGEST_LEN):
            raise ValueError(f"credential update carries {len(material)} bytes, not a "
                             f"{creds.PUBLIC_KEY_LEN}-byte key or {creds.DIGEST_LEN}-byte digest")
        if not self.credentials.authorised(creds.ACTION_CREDENTIAL | body[0], body):
            self.log_event(creds.EVENT_AUTHORISATION_REFUSED,
                           f"credential update {role or body[0]} without authorisation refused",
                           security=True)
            return mgmt.response(mgmt.UPDATE_CREDENTIAL, mgmt.WRONG_SIGNER)
        result = self.outcome("update_credential", {"role": role})
        if result.apply and role:
            if len(material) == creds.PUBLIC_KEY_LEN:
                self.credentials.place(role, material)
            else:
                self.credentials.place_digest(role, material)
            # The DCC holds the device once its management credential is its own.
            if role == "ACB":
                self.enrolled = True
            self.log_event(0x8F1C, f"credential {role} replaced", security=True)
        if not result.confirm:
            return None
        status = mgmt.OK if result.apply and role else mgmt.REFUSED
        return mgmt.response(mgmt.UPDATE_CREDENTIAL, status)

    def mgmt_11(self, body: bytes) -> bytes | None:
        """Read credential fingerprints (6.24.1): of the public keys, never the keys."""
        data = bytearray([len(self.credentials)])
        for role, fp in self.credentials.items():
            data += bytes([mgmt.ROLES[role]]) + bytes.fromhex(fp)
        return mgmt.response(mgmt.READ_CREDENTIALS, mgmt.OK, bytes(data))

    def mgmt_18(self, body: bytes) -> bytes | None:
        """A signed authorisation for the critical command that follows.

        Accepted, it grants the one command it was made for (see
        :meth:`CredentialSlots.authorised`). A refusal is answered with its own
        status and written to the security log with the reason; no key is logged.
        """
        status, why = creds.take(self.credentials, self.ieee, body)
        if status not in (mgmt.OK, mgmt.FAILED):
            self.log_event(creds.EVENT_AUTHORISATION_REFUSED,
                           f"authorisation refused: {why}", security=True)
        return mgmt.response(mgmt.AUTHORISE, status)

    def mgmt_12(self, body: bytes) -> bytes | None:
        """Configure one alert (6.22)."""
        code = int.from_bytes(body[:2], "little")
        result = self.outcome("configure_alert", {"code": code})
        if result.apply:
            self.alerts_enabled[code] = bool(body[2])
        if not result.confirm:
            return None
        return mgmt.response(mgmt.CONFIGURE_ALERT, mgmt.OK if result.apply else mgmt.REFUSED)

    # ---- joining (devices that are not yet on the HAN) ---------------------
    attempt_interval = 30.0

    def start_joining(self, *, rejoin: bool = False) -> None:
        """Look for the network until the trust centre's key arrives.

        A device that has never been on a network associates (802.15.4-2006
        7.5.3: Beacon Request, then Association Request to a coordinator whose
        beacon permits it); one that was on the network and lost it
        (``rejoin``) sends an unsecured NWK Rejoin Request (ZigBee spec
        3.6.1.4.2) instead. Either way the key comes in an APS Transport Key.
        """
        if self.network_key is not None or self.install_code is None:
            return
        self._join_state = _REJOIN if rejoin else 0
        self._link_ktk = mmo.key_transport_key(mmo.link_key_from_install_code(self.install_code))
        if self._rng is None:
            # Every late joiner draws this at power-up: take it from a throwaway
            # generator (replayed if the device ever needs one) rather than keep one.
            delay = self._fresh_rng().uniform(1.0, self.attempt_interval)
            self._join_draws += 1
        else:
            delay = self._rng.uniform(1.0, self.attempt_interval)
        self._join_handle = self.clock.call_later(delay, self._attempt_join)

    def resume_network(self, short: int, network_key: bytes, key_seq: int = 0) -> None:
        """Back on the network it was on, at its old address: a meter keeps both in its NV.

        What a restarted coordinator finds when its own NVRAM says the device
        joined earlier: no join exchange, the device simply is there.
        """
        if self._join_handle is not None:
            self._join_handle.cancel()
        self._readdress(short)
        self.network_key = network_key
        self.key_seq = key_seq

    def _readdress(self, short: int) -> None:
        old, self.short = self.short, short
        readdress = getattr(self.medium, "readdress", None)
        if readdress:
            readdress(self, old)

    def join_now(self) -> None:
        """Try at once: the device has seen a beacon saying the network permits joining.

        Without it a device that backed off (up to four minutes) would sit out
        a join window a host opened just now; a real device scanning for a
        network notices the permit bit in the beacons.
        """
        if self.network_key is not None or self._link_ktk is None:
            return
        if self._join_handle is not None:
            self._join_handle.cancel()
        self._attempt_join()

    def _attempt_join(self) -> None:
        if self.network_key is not None or not self.powered:
            return
        # Back off while nobody answers, as real devices do, up to four minutes.
        self._join_backoff = min(getattr(self, "_join_backoff", self.attempt_interval) * 2, 240.0)
        self._join_handle = self.clock.call_later(self._join_backoff, self._attempt_join)
        if self._join_state & _REJOIN:
            self.send_nwk_command(COORDINATOR, nwk.rejoin_request(mac.CAP_ALLOCATE_ADDRESS))
        else:
            # An active scan of the HAN's channel: listen for beacons for the scan's time.
            self._join_state |= _SCANNING
            self.send_mac(mac.beacon_request(0))
            self.clock.call_later(mac.SCAN_S, self._end_scan, self._join_handle)

    def on_beacon(self, frame: mac.MacFrame) -> None:
        """Associate with a coordinator of our network whose beacon permits it."""
        if (not self._join_state & _SCANNING or self.network_key is not None
                or frame.src_mode != mac.ADDR_SHORT or frame.pan is None):
            return
        beacon = mac.parse_beacon(frame.payload)
        network = mac.parse_zigbee_beacon(beacon.payload)
        if self.extended_pan and network.extended_pan_id != self.extended_pan:
            return  # another premises' network
        if not beacon.superframe & mac.SUPERFRAME_ASSOCIATION_PERMIT:
            return  # closed (so far): another beacon of this scan may say otherwise
        self._join_state &= ~_SCANNING  # the scan found its network open
        coordinator, pan = frame.src, frame.pan
        assert coordinator is not None
        self.send_mac(mac.association_request(0, pan, coordinator, self.ieee,
                                              mac.CAP_ALLOCATE_ADDRESS))
        # The response is held for us (indirect): poll once macResponseWaitTime is up.
        self.clock.call_later(mac.RESPONSE_WAIT_S, self._poll_association, pan, coordinator)

    def _end_scan(self, attempt: Any) -> None:
        if attempt is self._join_handle:  # not a scan a later attempt has restarted
            self._join_state &= ~_SCANNING

    def _poll_association(self, pan: int, coordinator: int) -> None:
        if self.network_key is None and self.powered:
            self.send_mac(mac.data_request(0, pan, coordinator, self.ieee))

    def on_mac_command(self, frame: mac.MacFrame) -> None:
        if frame.command != mac.CMD_ASSOCIATION_RESPONSE or self.network_key is not None:
            return
        short, status = mac.parse_association_response(frame.payload)
        if status == mac.ASSOC_SUCCESS:
            self._readdress(short)  # the key follows from the trust centre
        else:
            log.info("association refused", device=self.device_type, status=status)

    def on_nwk_command(self, frame: nwk.NwkFrame) -> None:
        if frame.payload[:1] == bytes([nwk.CMD_REJOIN_RESPONSE]) and len(frame.payload) >= 4:
            status = frame.payload[3]
            if status == 0:
                self._readdress(int.from_bytes(frame.payload[1:3], "little"))

    def on_unsecured_aps(self, frame: nwk.NwkFrame) -> None:
        ktk = self._link_ktk
        if ktk is None:
            return
        command = aps.decode(frame.payload, ktk)
        if isinstance(command, aps.ApsCommand) and command.command == aps.CMD_TRANSPORT_KEY:
            _, key, key_seq, dest, _ = aps.parse_transport_key(command.payload)
            if dest != self.ieee:
                return
            self.network_key = key
            self.key_seq = key_seq
            if self._join_handle is not None:
                self._join_handle.cancel()
            self.send_zdo(COORDINATOR, zdo.ZdoMessage(zdo.DEVICE_ANNCE, self.next_zdo_seq(), {
                "nwk": self.short, "ieee": self.ieee, "capability": 0x80}),
                broadcast_to=nwk.RX_ON_WHEN_IDLE)
            log.info("device joined", device=self.device_type, ieee=f"{self.ieee:016X}",
                     short=f"{self.short:04X}")
            self.start_key_establishment()


class Meter(TariffMixin, LogsMixin, Device):
    """What ESME and GSME share: registers, prepayment, supply, services.

    The mixins keep their state in the instance dict (they are not slotted);
    what Meter and its subclasses add is slotted.
    """

    __slots__ = ("_lazy_tariff", "credit", "debt", "demand", "emergency_credit",
                 "emergency_credit_active", "register_base", "supply")

    tariff: LazySlot[dict[str, Any]] = LazySlot(
        lambda m: {"label": "Standard", "price": 0, "trailing_digit": 5})

    unit_of_measure = 0x00

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rng = self._rng if self._rng is not None else random.Random(self._rng_seed)
        self.register_base, self.demand, self.credit = self._initial_draws(rng)
        self.emergency_credit = 500
        self.debt = 0
        self.supply = se.SUPPLY_ON
        self.emergency_credit_active = False

    def _initial_draws(self, rng: random.Random) -> tuple[int, int, int]:
        """Register base (Wh or dm3), demand (W, or dm3/h for gas) and credit (pence)."""
        return (rng.randint(1_000_000, 40_000_000), rng.randint(200, 2500),
                rng.randint(500, 5000))

    def _replay_draws(self, rng: random.Random) -> None:
        self._initial_draws(rng)

    def register(self) -> int:
        """The import register: what the seeded consumption model (meter_logs) has delivered."""
        return self.modelled_register()

    def attributes(self, cluster: int) -> dict[int, tuple[int, Any]]:
        table = super().attributes(cluster)
        if cluster == se.METERING:
            table.update({
                se.MET_CURRENT_SUMMATION_DELIVERED: (zcl.UINT48, self.register()),
                se.MET_INSTANTANEOUS_DEMAND: (zcl.INT24, self.instantaneous_demand()),
                se.MET_SUPPLY_STATUS: (zcl.ENUM8, self.supply),
                se.MET_UNIT_OF_MEASURE: (zcl.ENUM8, self.unit_of_measure),
            })
        elif cluster == se.PREPAYMENT:
            table.update({
                se.PP_CREDIT_REMAINING: (zcl.INT32, self.credit),
                se.PP_EMERGENCY_CREDIT_REMAINING: (zcl.INT32, self.emergency_credit),
                # Credit Status bits: 0 credit OK, 2 emergency credit selected.
                se.PP_CREDIT_STATUS: (zcl.BITMAP8, 0x01 | (0x04 * self.emergency_credit_active)),
                se.PP_ACCUMULATED_DEBT: (zcl.INT32, self.debt),
            })
        return table

    # Price: Publish Price (server -> client) -> Default Response
    def cmd_0700_00(self, src: int, frame: zcl.ZclFrame) -> None:
        price = se.PUBLISH_PRICE.parse(frame.payload)
        result = self.outcome("update_price", {"price": price.price})
        if result.apply:
            self.tariff = {"label": price.rate_label, "price": price.price,
                           "trailing_digit": price.trailing_digit_and_tier >> 4}
            self.log_event(0x8F40, f"price {price.rate_label} {price.price}")
        self.answer_default(src, se.PRICE, frame, result)

    # Prepayment: Select Available Emergency Credit -> Default Response
    def cmd_0705_00(self, src: int, frame: zcl.ZclFrame) -> None:
        se.SELECT_EMERGENCY_CREDIT.parse(frame.payload)
        result = self.outcome("emergency_credit", {})
        if result.apply and not self.emergency_credit_active:
            self.emergency_credit_active = True
            self.log_event(0x8F41, "emergency credit activated")
        self.answer_default(src, se.PREPAYMENT, frame, result)

    # Metering: Change Supply -> Supply Status Response
    def cmd_0702_0b(self, src: int, frame: zcl.ZclFrame) -> None:
        req = se.CHANGE_SUPPLY.parse(frame.payload)
        if not self.credentials.authorised(creds.ACTION_SUPPLY, frame.payload):
            # Supply control is the supplier's, signed (see mgmt_18): the status stays.
            self.log_event(creds.EVENT_AUTHORISATION_REFUSED,
                           "supply change without authorisation refused", security=True)
            result = Outcome(apply=False, reason="not authorised")
        else:
            result = self.outcome("change_supply", {"status": req.proposed_status})
        if result.apply:
            self.supply = req.proposed_status
            self.log_event(0x8100 + req.proposed_status, "supply changed")
        if not result.confirm:
            return
        self.reply(src, se.METERING, frame, se.MET_SUPPLY_STATUS_RESPONSE,
                   se.SUPPLY_STATUS_RESPONSE.build({
                       "provider_id": req.provider_id, "issuer_event_id": req.issuer_event_id,
                       "implementation_time": req.implementation_time, "status": self.supply}))

    # Prepayment: Consumer Top Up -> Consumer Top Up Response
    def cmd_0705_04(self, src: int, frame: zcl.ZclFrame) -> None:
        req = se.CONSUMER_TOP_UP.parse(frame.payload)
        used = self.quirk_memory.setdefault("utrns", set())
        amount = int(req.top_up_code[-5:]) % 100_000 or 1000
        result = self.outcome("top_up", {"utrn": req.top_up_code})
        accepted = result.apply and req.top_up_code not in used
        if accepted:
            used.add(req.top_up_code)
            self.credit += amount
            self.log_event(0x8F3F, "top up")
        if not result.confirm:
            return
        self.reply(src, se.PREPAYMENT, frame, se.PP_CONSUMER_TOP_UP_RESPONSE,
                   se.CONSUMER_TOP_UP_RESPONSE.build({
                       "result": 0x00 if accepted else 0x02, "top_up_value": amount if accepted
                       else 0, "source": req.originating_device, "credit_remaining": self.credit}))

    # Management: join / unjoin services (8.7 / 8.8) with modelled CBKE.
    def mgmt_13(self, body: bytes) -> bytes | None:
        other = int.from_bytes(body[:8], "little")
        result = self.outcome("join_service", {"other": other})
        if not result.confirm:
            return None
        if not result.apply:
            return mgmt.response(mgmt.JOIN_SERVICE, mgmt.REFUSED)
        short = self.peer_short(other)
        if short is None:
            return mgmt.response(mgmt.JOIN_SERVICE, mgmt.FAILED)
        # CBKE's curve arithmetic (sect163k1) is modelled, not computed: the
        # Initiate exchange goes on air, the agreed link key is an outcome.
        identity = hashlib.sha256(f"cert:{self.ieee:016x}".encode()).digest()
        identity = (identity * 2)[:48]
        self.send_zcl(short, se.KEY_ESTABLISHMENT, zcl.ZclFrame(
            zcl.TYPE_CLUSTER, zcl.TO_SERVER, self.next_zcl_seq(), se.KE_INITIATE_REQUEST,
            se.KE_INITIATE.build({"suite": 1, "ephemeral_data_generate_time": 10,
                                  "confirm_key_generate_time": 10, "identity": identity})))
        self.services.add(other)
        self.log_event(0x8F5D, f"service joined {other:016X}")
        return mgmt.response(mgmt.JOIN_SERVICE, mgmt.OK)

    def mgmt_14(self, body: bytes) -> bytes | None:
        other = int.from_bytes(body[:8], "little")
        result = self.outcome("unjoin_service", {"other": other})
        if not result.confirm:
            return None
        if other not in self.services or not result.apply:
            return mgmt.response(mgmt.UNJOIN_SERVICE, mgmt.FAILED)
        self.services.discard(other)
        return mgmt.response(mgmt.UNJOIN_SERVICE, mgmt.OK)

    def peer_short(self, ieee: int) -> int | None:
        """The HAN address of another device (the meter learns it from the hub's log)."""
        return self.peer_lookup(ieee) if self.peer_lookup else None


class Esme(Meter):
    __slots__ = ("_lazy_aux_loads", "_lazy_boost_loads", "_lazy_voltage", "demand_limit",
                 "power_overload")

    #: Voltage thresholds (attribute id -> volts), as the meter leaves the factory.
    voltage: LazySlot[dict[int, int]] = LazySlot(lambda m: {
        se.EM_RMS_EXTREME_OVER_VOLTAGE: 287, se.EM_RMS_EXTREME_UNDER_VOLTAGE: 180,
        se.EM_RMS_VOLTAGE_SAG: 216, se.EM_RMS_VOLTAGE_SWELL: 253,
    })
    boost_loads: LazySlot[set[int]] = LazySlot(lambda m: set())
    aux_loads: LazySlot[dict[int, bool]] = LazySlot(lambda m: {})

    device_type = "ESME"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.power_overload = 0
        self.demand_limit = 0

    def attributes(self, cluster: int) -> dict[int, tuple[int, Any]]:
        table = super().attributes(cluster)
        if cluster == se.ELECTRICAL_MEASUREMENT:
            table.update({a: (zcl.INT16, v) for a, v in self.voltage.items()})
            table[se.EM_AC_ACTIVE_POWER_OVERLOAD] = (zcl.INT16, self.power_overload)
        elif cluster == se.METERING:
            table[se.MET_DEMAND_LIMIT] = (zcl.UINT24, self.demand_limit)
        return table

    def write_op(self, cluster: int, attrs: list[int]) -> str:
        if cluster == se.ELECTRICAL_MEASUREMENT and se.EM_AC_ACTIVE_POWER_OVERLOAD in attrs:
            return "power_thresholds"
        if cluster == se.ELECTRICAL_MEASUREMENT:
            return "voltage_thresholds"
        if cluster == se.METERING and se.MET_DEMAND_LIMIT in attrs:
            return "power_thresholds"
        return super().write_op(cluster, attrs)

    def write_attribute(self, cluster: int, attr: int, value: Any) -> int:
        if cluster == se.ELECTRICAL_MEASUREMENT and attr in self.voltage:
            self.voltage[attr] = int(value)
            return zcl.STATUS_SUCCESS
        if cluster == se.ELECTRICAL_MEASUREMENT and attr == se.EM_AC_ACTIVE_POWER_OVERLOAD:
            self.power_overload = int(value)
            return zcl.STATUS_SUCCESS
        if cluster == se.METERING and attr == se.MET_DEMAND_LIMIT:
            self.demand_limit = int(value)
            return zcl.STATUS_SUCCESS
        return super().write_attribute(cluster, attr, value)

    def mgmt_15(self, body: bytes) -> bytes | None:
        """Boost button configuration (7.9 add / 7.10 remove)."""
        load, add = body[0], bool(body[1])
        result = self.outcome("boost_config", {"load": load, "add": add})
        if not result.confirm:
            return None
        if not result.apply:
            return mgmt.response(mgmt.BOOST_CONFIG, mgmt.NOT_AUTHORISED)
        (self.boost_loads.add if add else self.boost_loads.discard)(load)
        return mgmt.response(mgmt.BOOST_CONFIG, mgmt.OK)

    def mgmt_16(self, body: bytes) -> bytes | None:
        """Auxiliary load remote override (7.5 on / 7.6 off)."""
        load, on = body[0], bool(body[1])
        result = self.outcome("aux_load_override", {"load": load, "on": on})
        if not result.confirm:
            return None
        if not result.apply:
            return mgmt.response(mgmt.AUX_LOAD, mgmt.NOT_AUTHORISED)
        self.aux_loads[load] = on
        return mgmt.response(mgmt.AUX_LOAD, mgmt.OK)

    #: How long one press of the boost button keeps its loads on (seconds).
    boost_period = 3600.0

    def press_boost(self) -> list[int]:
        """The consumer presses the boost button on the meter: its loads switch on.

        This is a premises action, not a remote one, so no quirk can refuse
        it: a Liberty 110 keeps boosting with whatever loads it was given
        before migration (seed 002). Each switch is logged, so a 6.13 read
        shows it, and the loads switch off again after :attr:`boost_period`.
        """
        loads = sorted(self.boost_loads)
        for load in loads:
            self.aux_loads[load] = True
            self.log_event(0x8F30, f"boost: auxiliary load {load} on")
        if loads:
            self.clock.call_later(self.boost_period, self._boost_ends, loads)
        return loads

    def _boost_ends(self, loads: list[int]) -> None:
        for load in loads:
            self.aux_loads[load] = False
            self.log_event(0x8F31, f"boost: auxiliary load {load} off")

    def mgmt_17(self, body: bytes) -> bytes | None:
        """Read the boost button configuration (7.11)."""
        bitmap = sum(1 << (load - 1) for load in self.boost_loads if 1 <= load <= 8)
        return mgmt.response(mgmt.READ_BOOST, mgmt.OK, bytes([bitmap]))


class Gsme(Meter):
    __slots__ = ("flow_periods", "flow_threshold")

    device_type = "GSME"
    unit_of_measure = 0x01  # m3

    def _initial_draws(self, rng: random.Random) -> tuple[int, int, int]:
        # A gas meter's demand is drawn after the three a meter draws (dm3/h).
        register_base, _, credit = super()._initial_draws(rng)
        return register_base, rng.randint(50, 600), credit

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flow_threshold = 61680
        self.flow_periods = (60, 300)

    # Metering: Set Uncontrolled Flow Threshold (6.7) -> Default Response
    def cmd_0702_0e(self, src: int, frame: zcl.ZclFrame) -> None:
        req = se.SET_UNCONTROLLED_FLOW_THRESHOLD.parse(frame.payload)
        result = self.outcome("gas_flow", {"threshold": req.threshold})
        if result.apply:
            self.flow_threshold = req.threshold
            self.flow_periods = (req.stabilisation_period, req.measurement_period)
        self.answer_default(src, se.METERING, frame, result)


class Ppmid(Device):
    """Prepayment meter interface device: joins via install code, shows messages."""

    __slots__ = ()

    device_type = "PPMID"

    def cmd_0703_00(self, src: int, frame: zcl.ZclFrame) -> None:
        msg = se.DISPLAY_MESSAGE.parse(frame.payload)
        self.messages.append(msg.message)
        self.reply(src, se.MESSAGING, frame, se.MSG_MESSAGE_CONFIRMATION,
                   se.MESSAGE_CONFIRMATION.build({
                       "message_id": msg.message_id, "confirmation_time": self._zigbee_now(),
                       "confirmation_control": 0, "response": ""}))

    # Key Establishment: answer a meter's Initiate request (modelled CBKE).
    def cmd_0800_00(self, src: int, frame: zcl.ZclFrame) -> None:
        identity = (hashlib.sha256(f"cert:{self.ieee:016x}".encode()).digest() * 2)[:48]
        self.reply(src, se.KEY_ESTABLISHMENT, frame, se.KE_INITIATE_RESPONSE,
                   se.KE_INITIATE.build({"suite": 1, "ephemeral_data_generate_time": 10,
                                         "confirm_key_generate_time": 10, "identity": identity}))


class Ihd(Ppmid):
    """In-home display: the same HAN behaviour as a PPMID for what s1bench models."""

    __slots__ = ()

    device_type = "IHD"


# Meters display supplier messages too (3.1 to an ESME or GSME).
Meter.cmd_0703_00 = Ppmid.cmd_0703_00  # type: ignore[attr-defined]

DEVICE_CLASSES: dict[str, type[Device]] = {"ESME": Esme, "GSME": Gsme, "PPMID": Ppmid, "IHD": Ihd}
