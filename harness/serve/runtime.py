"""The site's DCC and installations, running on their own thread in (scaled) real time.

Why a thread of its own: the emulator and the DCC side run on one asyncio
loop whose clock is the site's (:mod:`.clock`, scaled by ``--speed``), while
the HTTP server and the outgoing posts need an unscaled loop (their timeouts
and retry backoff are real seconds). The HTTP side hands each request over
with :meth:`SiteRuntime.admit` and gets back what the DSP decided; what
happens after (the device's outcome, a future-dated request's outcome at its
time, alerts the devices and the DCC raise) comes back through ``emit``,
called on this thread, so the receiver must hand it to its own loop.

One DCC serves every installation of the site: each installation has its
:class:`~s1bench.harness.dcc.DccRole` (its S1SP, DCO and DMC-specific DSP
checks), but the DSP's users, RequestID counters and security log are one
set shared by all, so a counter replayed to another installation is still a
replay.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from s1bench.emulator.headend import Alert, Command, eui64_int
from s1bench.emulator.installation import LATE_JOINERS, Installation

from ..dcc import DccRole
from ..dcc.dsp import User
from ..dcc.messages import ResponseCode, ServiceRequest, ServiceResponse
from .clock import ScaledClock
from .site import Site, SiteInstallation

log = structlog.get_logger("s1bench.serve")

#: The join window the start-up join opens (as `s1bench duis`'s setup step does).
SETUP_JOIN_PERIOD = 60
#: Body parameters that name a device: where a non-device request says which one it is about.
_DEVICE_PARAMS = ("DeviceID", "DeviceIDList", "OtherDeviceID", "CHFID", "MeterID")


@dataclass(frozen=True)
class Admission:
    """What the DSP made of a request, which is what the synchronous answer says.

    ``accepted``: it passed the DSP and is being carried out now; the answer is
    I99 and the outcome follows through ``emit``. Otherwise ``response`` is
    the DCC's whole answer so far (a DSP rejection, a future-dated request's
    acknowledgement, or what the DSP or S1SP answered without reaching a
    device), and the HTTP side decides whether it is the synchronous answer.
    """

    accepted: bool
    response: ServiceResponse | None
    installation: str
    device_type: str | None


@dataclass(frozen=True)
class Outcome:
    """Something to POST to the user: a response (``token`` names its request) or an alert."""

    kind: str  # response | device-alert | dcc-alert | s1sp-alert | error
    installation: str
    token: int | None = None
    response: ServiceResponse | None = None
    device_type: str | None = None
    alert: Any = None
    when: datetime | None = None


class _ServedRole(DccRole):
    """A DccRole that reports the two moments serving needs and DccRole keeps to itself.

    Admission (the DSP let a request through and it is being carried out:
    the moment to answer I99) and every recorded response (including a
    future-dated request's outcome at its execution time, which no caller
    awaits). Everything else is DccRole's own behaviour, unchanged.
    """

    def bind(self, name: str, emit: Callable[[Outcome], None], replay_check: str,
             seen: set[str]) -> None:
        """Serve as installation ``name``; ``seen`` is the site's one memory of requests."""
        self.site_name = name
        self._emit = emit
        self._replay_check = replay_check
        self._admissions: dict[int, asyncio.Future[None]] = {}
        self._tokens: dict[int, int] = {}
        self._scheduled: dict[int, tuple[ServiceRequest, int]] = {}
        self._seen_requests = seen
        self._digests: dict[int, str] = {}
        self._dcc_alerts_sent = len(self.dcc_alerts)
        self._s1sp_alerts_sent = len(self.s1sp.s1sp_alerts)
        self._codeless: dict[str, datetime] = {}
        #: False while the runtime sets the installation up: its own exchanges go to no user.
        self.serving = False

    def expect(self, request: ServiceRequest, token: int, admitted: asyncio.Future[None],
               digest: str | None = None) -> None:
        """Watch for this request: its admission, its outcome, and what makes it itself.

        ``digest`` identifies the request's content for the ``document`` replay
        check (the gateway digests the XML header and body, which the flattened
        parameters alone cannot tell apart).
        """
        self._tokens[id(request)] = token
        self._admissions[id(request)] = admitted
        if digest is not None:
            self._digests[id(request)] = digest

    def forget(self, request: ServiceRequest) -> None:
        self._tokens.pop(id(request), None)
        self._admissions.pop(id(request), None)
        self._digests.pop(id(request), None)

    async def submit(self, request: ServiceRequest, *, user: str | None = None
                     ) -> ServiceResponse:
        # Runs in the same step as the DSP's counter check inside DccRole.submit.
        self._apply_replay_check(request)
        return await super().submit(request, user=user)

    def _apply_replay_check(self, request: ServiceRequest) -> None:
        """``document``: a counter may repeat on a different request; the same request may not.

        The DSP keeps the rule "a counter must rise per originator". Here the
        DSP is made to forget an originator's last counter before a request
        it has not seen, and to remember one at least as high before a
        request it has seen, so the replay is still the DSP's own E1.
        """
        digest = self._digests.pop(id(request), None)
        if self._replay_check != "document":
            return
        rid = request.request_id
        if digest is None:
            key = json.dumps([str(rid), request.srv, request.command_variant, request.params],
                             sort_keys=True, default=str)
            digest = hashlib.sha256(key.encode()).hexdigest()
        counters = self.dsp.counters
        if digest in self._seen_requests:
            counters[rid.originator] = max(counters.get(rid.originator, rid.counter),
                                           rid.counter)
        else:
            counters.pop(rid.originator, None)
            self._seen_requests.add(digest)

    async def _carry_out(self, request: ServiceRequest, who: User,
                         device_type: str) -> ServiceResponse:
        admitted = self._admissions.pop(id(request), None)
        if admitted is not None and not admitted.done():
            admitted.set_result(None)
        return await super()._carry_out(request, who, device_type)

    def _record(self, request: ServiceRequest, response: ServiceResponse, who: User | None,
                user: str | None, latency_s: float = 0.0) -> None:
        super()._record(request, response, who, user, latency_s)
        key = id(request)
        if response.response_code is None:
            self._codeless[str(request.request_id)] = response.response_datetime
        if key in self._scheduled:
            _, token = self._scheduled.pop(key)
            self._emit(Outcome("response", self.site_name, token, response,
                               self.device_type(request.target)))
        elif key in self._tokens:
            token = self._tokens.pop(key)
            if response.response_code == ResponseCode.ACKNOWLEDGED:
                # Future-dated: the outcome is recorded again at its execution time.
                self._admissions.pop(key, None)
                self._scheduled[key] = (request, token)
            elif self._admissions.pop(key, None) is None:
                # Admitted (carried out): nobody awaits this but the user's receiver.
                self._emit(Outcome("response", self.site_name, token, response,
                                   self.device_type(request.target)))
        elif self.serving:
            # The DCC's own exchange for a user (a DSP schedule's read): the owner receives it.
            self._emit(Outcome("response", self.site_name, None, response,
                               self.device_type(request.target)))
        self._emit_dcc_side_alerts()

    def _emit_dcc_side_alerts(self) -> None:
        for record in self.dcc_alerts[self._dcc_alerts_sent:]:
            self._emit(Outcome("dcc-alert", self.site_name, alert=record))
        self._dcc_alerts_sent = len(self.dcc_alerts)
        for record in self.s1sp.s1sp_alerts[self._s1sp_alerts_sent:]:
            when = self._codeless.get(str(record.get("request_id")))
            self._emit(Outcome("s1sp-alert", self.site_name, alert=record, when=when))
        self._s1sp_alerts_sent = len(self.s1sp.s1sp_alerts)

    def device_type(self, eui: str) -> str | None:
        label = self.installation.labels.get(eui.upper())
        return label.device_type if label else None


def build_site_installation(entry: SiteInstallation, index: int, clock: Any,
                            seed: int) -> Installation:
    """The installation a site entry describes, never started.

    `serve` (its DCC side's registration data, across a WAN) and `s1bench hubs`
    (the real hubs) both build through here: the two must agree on every EUI.
    """
    from ..builder import build_installation, resolve_dmc

    return build_installation(resolve_dmc(entry.dmc), clock, seed=seed, index=index,
                              enrolled=entry.migrated, euis=entry.devices)


@dataclass
class SiteRuntime:
    """Builds the site's installations on a thread of their own and carries requests to them."""

    site: Site
    emit: Callable[[Outcome], None]
    seed: int = 0
    speed: float = 1.0
    #: The head-end WAN over MQTT (options of :class:`~s1bench.emulator.wan_mqtt.HeadEnd`):
    #: the hubs run in another process (`s1bench hubs`); None keeps them in this one.
    wan: dict[str, Any] | None = None
    clock: ScaledClock = field(init=False)
    roles: list[_ServedRole] = field(default_factory=list, init=False)
    setup: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.clock = ScaledClock(self.speed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._thread_main, name="s1bench-site",
                                        daemon=True)
        self._by_eui: dict[str, _ServedRole] = {}
        self._tokens = iter(range(1, 2**63))
        self._head_end: Any = None

    # ---------------------------------------------------------------- lifecycle

    def start(self, timeout: float | None = None) -> None:
        """Build, start and set up every installation; returns when the site takes requests."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the site's installations did not start in time")
        if self._failed is not None:
            raise self._failed

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _thread_main(self) -> None:
        try:
            self.clock.run(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            if not self._ready.is_set():
                self._failed = exc
                self._ready.set()
            else:
                log.error("site runtime stopped", error=repr(exc))

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self._build()
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            self._close()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            self._close()
            if self._head_end is not None:
                await self._head_end.aclose()

    def _close(self) -> None:
        for role in self.roles:
            role.installation.medium.close()

    async def _build(self) -> None:
        from s1bench.harness.dcc.dsp import SecurityEvent

        from ..builder import resolve_dmc

        if self.wan is not None:
            from s1bench.emulator.wan_mqtt import HeadEnd

            self._head_end = HeadEnd(**self.wan)
            await self._head_end.start()
        seen: set[str] = set()
        for index, entry in enumerate(self.site.installations):
            inst = build_site_installation(entry, index, self.clock, self.seed)
            served: Any = inst
            if self._head_end is None:
                inst.start()
            else:
                from s1bench.emulator.wan_mqtt import RemoteInstallation

                # The DCC's registration data; the real hub is across the WAN.
                served = RemoteInstallation(inst, self._head_end)
            role = _ServedRole(served, resolve_dmc(entry.dmc).dcc_quirks, seed=self.seed)
            role.bind(entry.name, self.emit, self.site.replay_check, seen)
            self._relay_device_alerts(inst, entry.name)
            self.roles.append(role)
            for eui in inst.labels:
                self._by_eui[eui] = role
        await asyncio.gather(*(self._join_late_joiners(role, entry)
                               for role, entry in zip(self.roles, self.site.installations,
                                                      strict=True) if entry.join_at_start))
        # From here on the DSP knows the site's users, and one DCC's counters.
        users = {u.name: User(u.name, u.eui, u.role) for u in self.site.users}
        counters: dict[str, int] = {}
        security_log: list[SecurityEvent] = []
        for role in self.roles:
            role.dsp.users = users
            role.dsp.counters = counters
            role.dsp.security_log = security_log
            role.serving = True

    async def _join_late_joiners(self, role: _ServedRole, entry: SiteInstallation) -> None:
        """The premises as installed: PPMID and IHD on the HAN before the user's first request.

        Sent as the DCC itself, before the site's users replace the harness's
        (so no user's counter is spent), and waited for on the hub's device
        log, the DCC's view of who joined.
        """
        inst = role.installation
        present = {label.device_type for label in inst.labels.values()}
        added: dict[str, tuple[str, ServiceResponse]] = {}
        for device_type in LATE_JOINERS:
            if device_type not in present:
                continue
            eui = inst.eui_of(device_type)
            code = inst.labels[eui].install_code
            added[eui] = device_type, await role.send(
                "8.11", "CHF", user="dcc", DeviceID=eui, RequestType="Add",
                JoinTimePeriod=SETUP_JOIN_PERIOD, InstallCode=code.hex().upper() if code else "")
        waiting = {eui for eui, (_, response) in added.items() if response.ok}
        deadline = self.clock.monotonic() + SETUP_JOIN_PERIOD + 10
        while waiting and self.clock.monotonic() < deadline:
            waiting = await self._not_joined(inst, waiting)
            if waiting:
                await asyncio.sleep(0.5)
        for eui, (device_type, response) in added.items():
            if not response.ok:
                outcome = f"not added (8.11 {response.response_code}: {response.reason})"
            elif eui in waiting:
                outcome = f"did not join within the {SETUP_JOIN_PERIOD} s window"
            else:
                outcome = "joined"
            self.setup.append(f"{entry.name}: {device_type} {eui} {outcome}")

    async def _not_joined(self, inst: Any, euis: set[str]) -> set[str]:
        """Which of ``euis`` the hub's device log does not show joined yet.

        Across the WAN the log is the hub's, read with a head-end command (as the
        DCC would); in process it is read directly.
        """
        if self._head_end is None:
            return {eui for eui in euis if inst.hub.short_of(eui64_int(eui)) is None}
        outcome = await inst.execute(Command("read_device_log", inst.hub_eui))
        joined = {entry["DeviceID"] for entry in outcome.data.get("DeviceLog", [])
                  if entry.get("Joined")}
        return euis - joined

    def _relay_device_alerts(self, inst: Installation, name: str) -> None:
        sink = inst.hub.alert_sink

        def relay(alert: Alert) -> None:
            if sink is not None:
                sink(alert)
            self.emit(Outcome("device-alert", name, alert=alert, when=alert.raised_at))

        inst.hub.alert_sink = relay

    # ---------------------------------------------------------------- requests

    def devices(self) -> list[tuple[str, str, str]]:
        """(installation, device type, EUI) of every device served."""
        return [(role.site_name, label.device_type, eui)
                for role in self.roles for eui, label in role.installation.labels.items()]

    def route(self, request: ServiceRequest) -> _ServedRole:
        """The installation a request is for: its target, else a device its body names.

        A non-device request names the DCC as its target and the device (if
        any) in its body; one naming no served device, or an unknown target,
        still goes to a DccRole, whose DSP answers it (E19 for a device it
        does not know).
        """
        role = self._by_eui.get(request.target)
        if role is not None:
            return role
        for name in _DEVICE_PARAMS:
            values = request.params.get(name)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and value.upper() in self._by_eui:
                    return self._by_eui[value.upper()]
        return self.roles[0]

    def next_token(self) -> int:
        return next(self._tokens)

    async def admit(self, request: ServiceRequest, token: int,
                    digest: str | None = None) -> Admission:
        """Hand a request to the DCC (from the HTTP loop) and wait only for the DSP's decision."""
        assert self._loop is not None
        future: Future[Admission] = asyncio.run_coroutine_threadsafe(
            self._admit(request, token, digest), self._loop)
        return await asyncio.wrap_future(future)

    async def _admit(self, request: ServiceRequest, token: int,
                     digest: str | None) -> Admission:
        role = self.route(request)
        admitted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        role.expect(request, token, admitted, digest)
        task = asyncio.ensure_future(role.submit(request))

        def failed(done: asyncio.Future[ServiceResponse]) -> None:
            error = None if done.cancelled() else done.exception()
            if error is None:
                return
            log.error("request failed inside the emulator", request_id=str(request.request_id),
                      error=repr(error))
            if admitted.done():  # the user has its I99 and waits: say why nothing follows
                self.emit(Outcome("error", role.site_name, token, alert=repr(error)))

        task.add_done_callback(failed)
        await asyncio.wait({task, admitted}, return_when=asyncio.FIRST_COMPLETED)
        device_type = role.device_type(request.target)
        if admitted.done():
            return Admission(True, None, role.site_name, device_type)
        if task.exception() is not None:
            role.forget(request)
        return Admission(False, task.result(), role.site_name, device_type)

