"""The SMETS1 comms hub: WAN endpoint, HAN coordinator and trust centre.

Head-end commands arrive on the WAN side (:meth:`CommsHub.execute`) and are
carried out over the HAN to the target device; the hub never touches a
device object. What comes back is a device-level outcome (done, refused,
silent, unreachable), never a DUIS code: the DCC's S1SP translates it. The
CHF device log (whitelist) holds install-code link keys; a join window
longer than one PermitDuration (254 s since R21) is opened by re-sending
Mgmt_Permit_Joining_req.

The HAN itself is a :class:`~s1bench.emulator.han_link.HanLink`: s1bench's
frame stack (:class:`~s1bench.emulator.coordinator.HanCoordinator`) on the
emulator, a Zigbee dongle through zigpy on a bench. Everything here (the
device log, join windows, request/response matching, alerts, the handlers
of :mod:`hub_services` and the hub's quirks) is the same on both.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from . import mmo, se, zcl, zdo
from .credentials import CredentialSlots
from .devices import CHF, DeviceInfo, QuirkContext, initial_credentials
from .han_link import HanLink
from .headend import (
    Alert,
    Command,
    DeviceOutcome,
    NoResponse,
    OutcomeStatus,
    Refused,
    eui64_int,
    eui64_str,
)
from .node import PAYLOAD_ERRORS, LazySlot, seeded

log = structlog.get_logger("s1bench.hub")


@dataclass(slots=True)
class LogEntry:
    """One row of the CHF device log."""

    ieee: int
    device_type: str
    short: int | None = None
    link_key: bytes | None = None
    joined: bool = False
    #: The Tunneling cluster tunnel the device opened for the hub (hub_services._tunnel).
    tunnel: int | None = None


class CommsHub:
    """The hub's WAN side, device log and request/response matching.

    Slotted, with its seeded generator and credential slots built on first
    use (as :class:`~s1bench.emulator.devices.Device`): a fleet run holds a
    hub per installation, mostly idle. ``rng`` is a ``random.Random`` or the
    seed material of one.
    """

    __slots__ = ("__weakref__", "_deadline_loop", "_deadline_timer", "_deadlines",
                 "_lazy_credentials", "_lazy_event_log", "_lazy_permit_durations_sent",
                 "_lazy_quirk_memory", "_lazy_security_log", "_pending", "_rng", "_rng_seed",
                 "alert_sink", "clock", "device_log", "dumb", "enrolled", "ieee", "info", "known",
                 "link")

    #: Made on first use (see LazySlot): what an idle hub never touches.
    event_log: LazySlot[list[tuple[int, int, int, str]]] = LazySlot(lambda h: [])
    security_log: LazySlot[list[tuple[int, int, int, str]]] = LazySlot(lambda h: [])
    permit_durations_sent: LazySlot[list[int]] = LazySlot(lambda h: [])
    quirk_memory: LazySlot[dict[str, Any]] = LazySlot(lambda h: {})
    #: Credential slots: role -> fingerprint of the public key in the slot (and the keys).
    credentials: LazySlot[CredentialSlots] = LazySlot(lambda h: initial_credentials(h.ieee))

    device_type = CHF

    #: How long the hub waits for a device's answer, and how often it asks.
    response_timeout = 10.0
    attempts = 2

    def __init__(self, ieee: int, clock: Any, info: DeviceInfo, rng: random.Random | str,
                 link: HanLink) -> None:
        self.ieee = ieee
        self.clock = clock
        self.info = info
        self._rng, self._rng_seed = seeded(rng)
        self.link = link
        link.bind(self)
        self.device_log: dict[int, LogEntry] = {}
        self.known: dict[int, DeviceInfo] = {}
        self.alert_sink: Callable[[Alert], None] | None = None
        self._pending: dict[tuple[int, int, int], asyncio.Future[zcl.ZclFrame]] = {}
        # Answers awaited, oldest first: (deadline, future), made at the first
        # exchange on a loop. One timer serves them all (see _await_until).
        self._deadlines: deque[tuple[float, asyncio.Future[zcl.ZclFrame]]] | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._deadline_loop: asyncio.AbstractEventLoop | None = None
        #: The DCC holds the hub once its management (ACB) credential is the DCC's.
        self.enrolled = False
        self.dumb = False

    @property
    def eui(self) -> str:
        return eui64_str(self.ieee)

    @property
    def rng(self) -> random.Random:
        """The hub's seeded generator, built on first use (head-end ids, quirks)."""
        rng = self._rng
        if rng is None:
            rng = self._rng = random.Random(self._rng_seed)
        return rng

    @property
    def network_key(self) -> bytes | None:
        """The HAN's network key when the link holds one (a dongle keeps its own)."""
        return getattr(self.link, "network_key", None)

    def frame_received(self, frame: bytes) -> None:
        """A raw frame for the hub's radio: only a frame-stack link can take one."""
        receive = getattr(self.link, "frame_received", None)
        if receive is None:
            raise TypeError(f"the hub's HAN link {type(self.link).__name__} takes no raw frames")
        receive(frame)

    # ---- device log ----------------------------------------------------------
    def add_known(self, ieee: int, info: DeviceInfo) -> None:
        """The DMC: which device models make up this installation (S1SP inventory)."""
        self.known[ieee] = info

    def enrol_joined(self, ieee: int, device_type: str, short: int) -> None:
        """A device already on the HAN when the installation was built."""
        self.device_log[ieee] = LogEntry(ieee, device_type, short, None, True)

    def short_of(self, ieee: int) -> int | None:
        entry = self.device_log.get(ieee)
        return entry.short if entry and entry.joined else None

    def in_device_log(self, ieee: int) -> bool:
        """HanSecurityEvents: the CHF acts only on frames from devices in its log."""
        return ieee in self.device_log

    def security_event(self, event_id: int, detail: str) -> None:
        """HanSecurityEvents: the HAN dropped a secured frame; it goes in the security log."""
        self._log(event_id, detail, security=True)

    def _log(self, event_id: int, data: str, security: bool = False) -> None:
        target = self.security_log if security else self.event_log
        target.append((se.LOG_SECURITY if security else se.LOG_GENERAL, event_id,
                       zcl.zigbee_time(self.clock.now()), data))
        del target[:-100]

    # ---- WAN side -------------------------------------------------------------
    async def execute(self, command: Command) -> DeviceOutcome:
        """Carry out one head-end command; always returns an outcome, never raises."""
        outcome = await self._carry_out(command)
        outcome.at = self.clock.now()
        log.info("head-end outcome", ref=command.ref, op=command.op, target=command.target,
                 status=str(outcome.status), reason=outcome.reason)
        return outcome

    def _target(self, eui: str) -> tuple[int, str, DeviceInfo] | None:
        ieee = eui64_int(eui)
        if ieee == self.ieee:
            return ieee, CHF, self.info
        info = self.known.get(ieee)
        if info is None:
            return None
        return ieee, info.device_type, info

    async def _carry_out(self, command: Command) -> DeviceOutcome:
        from .hub_services import HANDLERS

        handler = HANDLERS.get(command.op)
        if handler is None:
            return DeviceOutcome(OutcomeStatus.UNKNOWN_COMMAND,
                                 reason=f"the hub has no head-end command {command.op!r}")
        try:
            target = self._target(command.target)
        except ValueError as exc:
            return DeviceOutcome(OutcomeStatus.UNKNOWN_DEVICE, reason=str(exc))
        if target is None:
            return DeviceOutcome(OutcomeStatus.UNKNOWN_DEVICE,
                                 reason=f"device {command.target} is not part of this installation")
        ieee, device_type, _ = target
        if self.info.quirks:
            ctx = QuirkContext(self.clock.monotonic(), self, self.quirk_memory)
            for quirk in self.info.quirks:
                early = quirk.hub_command(ctx, command)
                if early is not None and not early.apply:
                    return DeviceOutcome(OutcomeStatus.REFUSED, reason=early.reason,
                                         zcl_status=early.status)
        try:
            if command.authorisation is not None:
                # The target checks a signed command before acting on it (hub_authority).
                from .hub_authority import authorise

                await authorise(self, ieee, device_type, command)
            data = await handler(self, ieee, device_type, dict(command.args))
        except NoResponse as exc:
            return DeviceOutcome(OutcomeStatus.SILENT,
                                 reason=str(exc) or "no response from the device")
        except PAYLOAD_ERRORS as exc:
            return DeviceOutcome(OutcomeStatus.MALFORMED,
                                 reason=f"malformed answer from the device "
                                        f"({type(exc).__name__}: {exc})")
        except Refused as exc:
            return DeviceOutcome(exc.status, reason=exc.reason, zcl_status=exc.zcl_status)
        return DeviceOutcome(OutcomeStatus.DONE, data)

    def own_outcome(self, op: str, args: dict[str, Any]) -> Any:
        """The hub's own firmware answering a command aimed at the CHF (110031 on a CHF)."""
        if not self.info.quirks:
            return None
        ctx = QuirkContext(self.clock.monotonic(), self, self.quirk_memory)
        result = None
        for quirk in self.info.quirks:
            change = quirk.device_command(ctx, self, op, args)
            if change is not None:
                result = change
        return result

    # ---- HAN request/response --------------------------------------------------
    async def exchange(self, ieee: int, cluster: int, frame_type: int, command: int,
                       payload: bytes, *, direction: int = zcl.TO_SERVER,
                       want_default_response: bool = False) -> zcl.ZclFrame:
        """Send one ZCL command and wait for the answer with the same sequence number.

        Commands with no response command of their own (Publish Price, Select
        Available Emergency Credit) ask for a ZCL Default Response instead.
        """
        short = self.short_of(ieee)
        if short is None:
            raise Refused(f"device {eui64_str(ieee)} is not joined", OutcomeStatus.UNREACHABLE)
        loop = asyncio.get_running_loop()
        for _ in range(self.attempts):
            seq = self.link.next_zcl_seq()
            key = (short, cluster, seq)
            future: asyncio.Future[zcl.ZclFrame] = loop.create_future()
            self._pending[key] = future
            self.link.send_zcl(short, cluster, zcl.ZclFrame(
                frame_type, direction, seq, command, payload,
                disable_default_response=not want_default_response))
            self._await_until(loop, loop.time() + self.response_timeout, future)
            try:
                return await future
            except TimeoutError:
                continue
            finally:
                self._pending.pop(key, None)
        raise NoResponse(f"no response from {eui64_str(ieee)} after {self.attempts} attempts")

    def _await_until(self, loop: asyncio.AbstractEventLoop, deadline: float,
                     future: asyncio.Future[zcl.ZclFrame]) -> None:
        """Fail ``future`` with TimeoutError at ``deadline`` unless answered by then.

        A timer per exchange would be created and cancelled for nearly every
        exchange (devices answer); cancelled timers stay in the loop's heap
        until it prunes them. Every exchange waits the same
        :attr:`response_timeout`, so deadlines arrive in send order: a queue
        and one timer for its head serve them all, and answered exchanges are
        dropped when the head reaches them, with no call at all.

        A hub outlives a loop when it is driven by one ``clock.run`` after
        another: what was queued on an earlier loop is dropped, not awaited.
        """
        queue = self._deadlines
        if queue is None or self._deadline_loop is not loop:
            queue = self._deadlines = deque()
            self._deadline_timer, self._deadline_loop = None, loop
        # Answered exchanges at the head hold their answers: let them go now.
        while queue and queue[0][1].done():
            queue.popleft()
        queue.append((deadline, future))
        if self._deadline_timer is None:
            self._deadline_timer = loop.call_at(deadline, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        queue = self._deadlines
        if loop is not self._deadline_loop or queue is None:
            return  # a timer of a loop the hub has since left
        now = loop.time()
        while queue and (queue[0][1].done() or queue[0][0] <= now):
            _, future = queue.popleft()
            if not future.done():
                future.set_exception(TimeoutError())
        if queue:
            self._deadline_timer = loop.call_at(queue[0][0], self._expire, loop)
        else:
            # Nothing awaited: an idle hub keeps neither a timer nor an empty queue.
            self._deadline_timer = self._deadlines = None

    def zcl_received(self, src: int, cluster: int, frame: zcl.ZclFrame) -> None:
        future = self._pending.get((src, cluster, frame.seq))
        if future is not None and not future.done():
            future.set_result(frame)
            return
        if (cluster == se.EVENTS and frame.frame_type == zcl.TYPE_CLUSTER
                and frame.command == se.EVT_PUBLISH_EVENT):
            self._relay_alert(src, frame)

    def _relay_alert(self, src: int, frame: zcl.ZclFrame) -> None:
        event = se.PUBLISH_EVENT.parse(frame.payload)
        device = next((e.ieee for e in self.device_log.values() if e.short == src), None)
        if device is None or self.alert_sink is None:
            return
        self.alert_sink(Alert(f"{event.event_id:04X}", eui64_str(device), self.clock.now(),
                              event.event_data))

    # ---- joining ---------------------------------------------------------------
    def add_to_log(self, ieee: int, device_type: str, install_code: bytes) -> None:
        link_key = mmo.link_key_from_install_code(install_code)
        entry = self.device_log.get(ieee)
        if entry is not None:
            # CCS01: a device already in the log keeps its key; the add still succeeds.
            return
        self.device_log[ieee] = LogEntry(ieee, device_type, None, link_key, False)
        self.link.add_link_key(ieee, link_key)
        self._log(0x8F14, f"device {eui64_str(ieee)} added to the device log")

    def open_join_window(self, seconds: int) -> list[int]:
        """Permit joining for ``seconds``, re-sending Mgmt_Permit_Joining_req as needed."""
        durations = zdo.permit_durations(seconds)
        offset = 0.0
        for duration in durations:
            self.clock.call_later(offset, self._send_permit, duration)
            offset += duration
        return durations

    def _send_permit(self, duration: int) -> None:
        self.permit_durations_sent.append(duration)
        self.link.permit_joining(duration)

    def device_joined(self, ieee: int, short: int) -> None:
        entry = self.device_log.get(ieee)
        if entry is None:
            return
        entry.short = short
        entry.joined = True
        self._log(0x8F15, f"device {eui64_str(entry.ieee)} joined")
        log.info("device joined the HAN", ieee=eui64_str(entry.ieee), short=f"{entry.short:04X}")

    def reset_device(self, ieee: int) -> bool:
        """Send Mgmt_Leave_req with rejoin set: the device resets and stays on the HAN."""
        short = self.short_of(ieee)
        if short is None:
            return False
        self.link.reset_device(ieee, short)
        self.device_log[ieee].tunnel = None  # a reset closes the device's tunnels
        return True

    def remove_from_log(self, ieee: int) -> bool:
        entry = self.device_log.pop(ieee, None)
        if entry is None:
            return False
        self.link.remove_device(ieee, entry.short if entry.joined else None)
        self._log(0x8F16, f"device {eui64_str(ieee)} removed from the device log")
        return True
