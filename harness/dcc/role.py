"""The DCC side as the harness plays it: DSP, then DCO and S1SP, then the hub.

A test sends Service Requests through :class:`DccRole` and sees only what a
DCC user sees: responses, alerts, timings. The DSP checks the request and
answers its own SRVs (inventory, schedules, WAN matrix) and those outside
the SMETS1 service itself (:mod:`.dsp_services`); the S1SP (with the DCO's
dual control for critical commands) turns the rest into a head-end command
for the installation's hub and writes the response. The
DCC-side defects of DOMAIN.md (61224, risk 9, 91339/91340, mixed-Aclara,
Liberty 110's restriction) are switched on per DMC and act in those parts,
never in the emulated hub or devices.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import structlog
from s1bench.emulator.installation import Installation

from .dco import Dco
from .dsp import Dsp, User
from .dsp_services import DCC_EUI, DCC_TARGET, DspServices, Schedule, outside_service_reason
from .messages import RequestID, ResponseCode, ServiceRequest, ServiceResponse
from .s1sp import S1sp

log = structlog.get_logger("s1bench.dcc")

#: Request parameters that carry key material: recorded as a length only.
SECRET_PARAMS = ("InstallCode",)

#: The execution date DUIS uses to cancel pending future-dated requests (the
#: templates' CANCELLATION variants carry it).
CANCEL_DATE = date(3000, 12, 31)

#: The DNO every emulated meter is registered to (registration data, risk 9).
REGISTERED_DNO = "dno:ukpn"


def redacted_params(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in params.items():
        if key.startswith("__"):
            continue
        if key in SECRET_PARAMS and value is not None:
            out[key] = f"<redacted {len(str(value)) // 2} bytes>"
        else:
            out[key] = value if isinstance(value, str | int | float | bool) or value is None \
                else str(value)
    return out


@dataclass(slots=True)
class Exchange:
    """One request and what came back, as the run record keeps it."""

    request: dict[str, Any]
    response: dict[str, Any]
    user: str
    #: Virtual seconds from submit to response (a fleet's SRV latency metric).
    latency_s: float = 0.0

    @property
    def code(self) -> str | None:
        return self.response.get("response_code")


@dataclass
class DccRole:
    installation: Installation
    dcc_quirks: tuple[Any, ...] = ()
    seed: int = 0
    mitigations: bool = False
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dco = Dco()
        self.dsp = Dsp(self.installation.clock, dcc_quirks=self.dcc_quirks)
        self.s1sp = S1sp(self.installation, self.dcc_quirks, self.seed, self.dco)
        self.dsp_services = DspServices(self.dsp, self.installation, seed=self.seed,
                                        runner=self._run_scheduled)
        self._counters: dict[str, int] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._pending: dict[tuple[str, str], list[dict[str, Any]]] = {}
        locked = self.quirk("dno_certificate_locked")
        for eui, label in self.installation.labels.items():
            if label.device_type == "ESME":
                self.dsp.registered_dno[eui] = REGISTERED_DNO
                if locked is not None and locked.values["wrong_dno"]:
                    # The pre-migration operator left another DNO's certificate in the slot.
                    self.dsp.dno_slot[eui] = locked.values["wrong_dno"]

    def quirk(self, name: str) -> Any | None:
        return next((q for q in self.dcc_quirks if q.name == name), None)

    @property
    def clock(self) -> Any:
        return self.installation.clock

    @property
    def dcc_alerts(self) -> list[dict[str, Any]]:
        return self.s1sp.dcc_alerts

    def user(self, name: str) -> User:
        found = self.dsp.user(name)
        if found is None:
            raise KeyError(f"no DCC user {name!r} (known: {', '.join(sorted(self.dsp.users))})")
        return found

    def request(self, srv: str, device_type: str, *, user: str | None = None,
                **params: Any) -> ServiceRequest:
        """A request with the user's next RequestID counter, as a DCC user would build it.

        Without ``user`` the request is sent as a user whose role may send the
        SRV (the supplier where it may), so a test is not rejected E2 by accident.
        """
        eui = self.user(user or self.dsp.sender_for(srv)).eui
        self._counters[eui] = self._counters.get(eui, 0) + 1
        target = self.installation.eui_of(device_type) if device_type != "UNKNOWN" \
            else self.installation.unknown_eui
        return ServiceRequest(RequestID(eui, target, self._counters[eui]), srv, params)

    async def send(self, srv: str, device_type: str, *, user: str | None = None,
                   **params: Any) -> ServiceResponse:
        user = user or self.dsp.sender_for(srv)
        return await self.submit(self.request(srv, device_type, user=user, **params), user=user)

    def _device_type(self, eui: str) -> str | None:
        label = self.installation.labels.get(eui.upper())
        return label.device_type if label else None

    async def submit(self, request: ServiceRequest, *, user: str | None = None) -> ServiceResponse:
        """DSP checks first; then the S1SP carries it out; DCC alerts follow the response.

        ``user`` names the sender; without it the RequestID's originator says
        who it is (as for a DUIS document).
        """
        started = self.clock.monotonic()
        who = self.dsp.user(user) if user else self.dsp.user_by_eui(request.request_id.originator)
        device_type = self._device_type(request.target)
        # The DSP answers its own SRVs and those outside the SMETS1 service, before the S1SP.
        own = self.dsp_services.answers(request.srv, who.role if who else None)
        outside = None if own else outside_service_reason(request.srv)
        if device_type is None and (own or outside) and request.target == DCC_EUI:
            device_type = DCC_TARGET  # a DCC-only request names the DCC, not a device
        _take_execution_time(request)
        refusal = self.dsp.check(request, who, device_type)
        if refusal is None and not own:
            refusal = (self.dsp_services.outside_service(request, outside) if outside
                       else self.dsp_services.status_refusal(request))
        if refusal is not None:
            response = refusal
        elif own:
            assert who is not None
            response = self.dsp_services.carry_out(request, who)
        else:
            assert who is not None and device_type is not None
            when = request.execution_datetime
            missing = self.s1sp.not_in_service(request.srv, device_type) if when else None
            if missing:
                response = ServiceResponse(request.request_id, request.srv,
                                           ResponseCode.SRV_NOT_FOR_DEVICE, {}, self.clock.now(),
                                           missing)
            elif when is not None and when.date() == CANCEL_DATE:
                response = self._cancel(request)
            elif when is not None and when > self.clock.now():
                response = self._schedule(request, who, device_type, when)
            else:
                response = await self._carry_out(request, who, device_type)
        self._record(request, response, who, user, self.clock.monotonic() - started)
        return response

    async def _carry_out(self, request: ServiceRequest, who: User,
                         device_type: str) -> ServiceResponse:
        response = await self.s1sp.carry_out(request, device_type, who.role)
        self.dsp.after(request, response, who)
        self.s1sp.after(request, response)
        return response

    async def _run_scheduled(self, request: ServiceRequest, schedule: Schedule) -> None:
        """One occurrence of a DSP schedule: the DSP sends the read, the S1SP carries it out.

        Access was checked when the schedule was created; the exchange is
        recorded for the schedule's owner, who receives its responses.
        """
        owner = self.dsp.user(schedule.owner) or self.dsp.user_by_eui(schedule.owner_eui)
        device_type = self._device_type(request.target)
        if owner is None or device_type is None:
            return
        response = await self._carry_out(request, owner, device_type)
        self._record(request, response, owner, owner.name)

    def _schedule(self, request: ServiceRequest, who: User, device_type: str,
                  when: datetime) -> ServiceResponse:
        """A future-dated request: the DSP acknowledges it now (I99) and runs it then.

        The outcome follows as a second exchange with the same RequestID at the
        execution time on the virtual clock, as DUIS's asynchronous response would.
        """
        pending = {"request": request, "cancelled": False}
        self._pending.setdefault((request.target, request.srv), []).append(pending)

        async def later() -> None:
            self._pending[(request.target, request.srv)].remove(pending)
            if pending["cancelled"]:
                return
            response = await self._carry_out(request, who, device_type)
            self._record(request, response, who, who.name)

        delay = (when - self.clock.now()).total_seconds()
        self.clock.call_later(delay, lambda: self._tasks.add(asyncio.ensure_future(later())))
        return ServiceResponse(request.request_id, request.srv, ResponseCode.ACKNOWLEDGED, {},
                               self.clock.now(),
                               f"future-dated: accepted, to run at {when.isoformat()}",
                               answered_by="dsp")

    def _cancel(self, request: ServiceRequest) -> ServiceResponse:
        """DUIS's cancellation: the same SRV to the same device dated 3000-12-31.

        Every future-dated request of that SRV still pending for the device is
        dropped; the response says how many.
        """
        pending = [p for p in self._pending.get((request.target, request.srv), [])
                   if not p["cancelled"]]
        for entry in pending:
            entry["cancelled"] = True
        return ServiceResponse(request.request_id, request.srv, ResponseCode.SUCCESS, {},
                               self.clock.now(),
                               f"cancellation: {len(pending)} pending future-dated "
                               f"{request.srv} request(s) cancelled", answered_by="dsp")

    def _record(self, request: ServiceRequest, response: ServiceResponse, who: User | None,
                user: str | None, latency_s: float = 0.0) -> None:
        log.info("service response", request_id=str(request.request_id), srv=request.srv,
                 response_code=response.response_code, answered_by=response.answered_by,
                 device_success=response.device_success, reason=response.reason)
        name = who.name if who else (user or request.request_id.originator)
        self.exchanges.append(Exchange(
            {"request_id": str(request.request_id), "srv": request.srv,
             "target": request.target, "params": redacted_params(request.params)},
            response.to_dict(), name, latency_s))

    def reconcile_cos_alerts(self) -> int:
        """61224 mitigation: send the loss alert for every completed CoS that lacks one."""
        alerted = {a["request_id"] for a in self.dcc_alerts}
        sent = 0
        for ex in self.exchanges:
            if ex.request["srv"] == "6.23" and ex.code == "I0" and \
                    ex.response.get("device_success", True) and \
                    ex.request["request_id"] not in alerted:
                self.dcc_alerts.append({"alert": "CoS loss alert", "device": ex.request["target"],
                                        "request_id": ex.request["request_id"],
                                        "raised_at": self.clock.now().isoformat(),
                                        "reconciled": True})
                sent += 1
        return sent


def _take_execution_time(request: ServiceRequest) -> None:
    """DUIS carries a future date as the body leaf ExecutionDateTime; lift it to the request."""
    text = request.params.pop("ExecutionDateTime", None)
    if text is None or request.execution_datetime is not None:
        return
    if isinstance(text, datetime):
        request.execution_datetime = text
        return
    try:
        request.execution_datetime = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        request.params["ExecutionDateTime"] = text  # the DSP's parameter check names it
