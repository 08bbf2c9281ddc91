"""The DCC side (DSP / S1SP) as the harness plays it.

It sends Service Requests to an installation's WAN side and sees only what
a real DCC sees: responses, alerts, timings. It also owns the DCC's own
behaviour that is not firmware: the DSP's access checks, DCC alerts such as
the change-of-supplier loss alert, and the DCC-side defects DOMAIN.md lists
(61224, risk 9, mixed-Aclara), switched on per DMC and fixable or
mitigable like firmware quirks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from s1bench.emulator.installation import Installation
from s1bench.emulator.service import ResponseCode, ServiceRequest, ServiceResponse

#: Request parameters that carry key material: recorded as a length only.
SECRET_PARAMS = ("InstallCode",)


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

    @property
    def code(self) -> str | None:
        return self.response.get("response_code")


@dataclass
class DccRole:
    installation: Installation
    dcc_quirks: tuple[Any, ...] = ()
    seed: int = 0
    mitigations: bool = False
    dcc_alerts: list[dict[str, Any]] = field(default_factory=list)
    #: DSP registration data: which network operator's certificate each device holds.
    dno_registration: dict[str, str] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"dcc:{self.seed}:{self.installation.hub_eui}")

    def quirk(self, name: str) -> Any | None:
        return next((q for q in self.dcc_quirks if q.name == name), None)

    @property
    def clock(self) -> Any:
        return self.installation.clock

    def request(self, srv: str, device_type: str, **params: Any) -> ServiceRequest:
        return self.installation.request(srv, device_type, **params)

    async def send(self, srv: str, device_type: str, *, user: str = "supplier",
                   **params: Any) -> ServiceResponse:
        return await self.submit(self.request(srv, device_type, **params), user=user)

    async def submit(self, request: ServiceRequest, *, user: str = "supplier") -> ServiceResponse:
        """DSP checks first, then the installation; DCC alerts follow the response."""
        refusal = self._dsp_check(request, user)
        response = refusal or await self.installation.submit(request)
        self._after(request, response, user)
        self.exchanges.append(Exchange(
            {"request_id": str(request.request_id), "srv": request.srv,
             "target": request.target, "params": redacted_params(request.params)},
            response.to_dict(), user))
        return response

    # ---- DSP access control ----------------------------------------------------
    def _dsp_check(self, request: ServiceRequest, user: str) -> ServiceResponse | None:
        if request.srv != "6.15.1" or request.params.get("RemotePartyRole") != "NetworkOperator":
            return None
        if not user.startswith("dno:"):
            return None
        holder = self.dno_registration.get(request.target)
        if self.quirk("dno_certificate_locked") and holder is not None and holder != user:
            return ServiceResponse(
                request.request_id, request.srv, ResponseCode.USER_NOT_AUTHORISED, {},
                self.clock.now(),
                f"DSP registration-data check: {user} does not match the certificate in the "
                f"DNO slot ({holder})")
        return None

    # ---- DCC alerts --------------------------------------------------------------
    def _after(self, request: ServiceRequest, response: ServiceResponse, user: str) -> None:
        if not response.ok:
            return
        if request.srv == "6.15.1" and request.params.get("RemotePartyRole") == "NetworkOperator":
            # Registration data: who placed the certificate now in the DNO slot.
            self.dno_registration[request.target] = user
        if request.srv == "6.23":
            defect = self.quirk("cos_alert_dropped")
            if defect is not None and defect.drops(self._rng):
                return
            self.dcc_alerts.append({"alert": "CoS loss alert", "device": request.target,
                                    "request_id": str(request.request_id),
                                    "raised_at": self.clock.now().isoformat()})

    def reconcile_cos_alerts(self) -> int:
        """61224 mitigation: send the loss alert for every completed CoS that lacks one."""
        alerted = {a["request_id"] for a in self.dcc_alerts}
        sent = 0
        for ex in self.exchanges:
            if ex.request["srv"] == "6.23" and ex.code == "I0" and \
                    ex.request["request_id"] not in alerted:
                self.dcc_alerts.append({"alert": "CoS loss alert", "device": ex.request["target"],
                                        "request_id": ex.request["request_id"],
                                        "raised_at": self.clock.now().isoformat(),
                                        "reconciled": True})
                sent += 1
        return sent
