"""The DSP: the DUIS front door of the DCC (DOMAIN.md, "Who answers what").

Before anything reaches the S1SP or a comms hub the DSP checks who is
asking and whether they may: the user and their status (E1, E3), the role
against the SRV (E2, from a role table kept as data), the RequestID counter
(each originator's must increase; a replay is rejected and security-logged),
the device (E19 unknown, E5 a status that cannot take the SRV) and the
registration data (E4: risk 9's DNO check). It holds future-dated requests
until their execution time on the virtual clock. Every rejection names its
reason, so a test engineer can act on it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import structlog

from .messages import ResponseCode, ServiceRequest, ServiceResponse
from .srvs import SRVS

log = structlog.get_logger("s1bench.dsp")

ROLE_TABLE_FILE = Path(__file__).with_name("roles.toml")

#: User ids (RequestID originators) of the DCC Boxed reference test data and
#: the role each one's certificates carry (remote party roles 2, 3, 4, 8 in
#: SmartDCCInnovation/dccboxed-keystore; 90-B3-D5-1F-30-03-00-00 sends only
#: an unknown-remote-party template, so s1bench calls it OtherUser).
TEMPLATE_USERS = {
    "90-B3-D5-1F-30-01-00-00": "Supplier",
    "90-B3-D5-1F-30-02-00-00": "NetworkOperator",
    "90-B3-D5-1F-30-03-00-00": "OtherUser",
    "90-B3-D5-1F-30-00-00-02": "DCC",
    "90-B3-D5-1F-30-01-00-08": "LoadController",
}


@dataclass(frozen=True, slots=True)
class User:
    """One DCC user as the DSP knows it."""

    name: str
    eui: str
    role: str
    status: str = "active"


def default_users() -> dict[str, User]:
    """The users the harness sends as; DNOs are named ``dno:<operator>``."""
    users = [
        User("supplier", "90-B3-D5-1F-30-01-00-00", "Supplier"),
        User("dno:ukpn", "90-B3-D5-1F-30-02-00-00", "NetworkOperator"),
        User("dno:enwl", "90-B3-D5-1F-30-02-00-01", "NetworkOperator"),
        User("other", "90-B3-D5-1F-30-03-00-00", "OtherUser"),
        User("dcc", "90-B3-D5-1F-30-00-00-02", "DCC"),
        User("load-controller", "90-B3-D5-1F-30-01-00-08", "LoadController"),
    ]
    return {u.name: u for u in users}


def derive_role_table(templates: Iterable[Path]) -> dict[str, list[str]]:
    """SRV -> roles seen sending it in the DUIS templates (the table's source).

    The DUIS eligibility table itself is not among the sources, so s1bench's
    table is what the DCC Boxed reference test data shows each role sending:
    a role allowed there is allowed here; any other role gets E2.
    """
    import re

    table: dict[str, set[str]] = {}
    for path in templates:
        text = path.read_text(encoding="utf-8", errors="replace")
        rid = re.search(r"<(?:\w+:)?RequestID>([0-9A-F-]{23}):", text)
        srv = re.search(r"<(?:\w+:)?ServiceReferenceVariant>([0-9.]+)<", text)
        if not rid or not srv or rid.group(1) not in TEMPLATE_USERS:
            continue
        table.setdefault(srv.group(1), set()).add(TEMPLATE_USERS[rid.group(1)])
    ordered = sorted(table.items(), key=lambda kv: _srv_key(kv[0]))
    return {srv: sorted(roles) for srv, roles in ordered}


def _srv_key(srv: str) -> tuple[int, ...]:
    return tuple(int(p) for p in srv.split("."))


def render_role_table(table: dict[str, list[str]]) -> str:
    lines = [
        "# The DSP's role table: which user roles may send each SRV.",
        "# Derived from the DUIS templates' originators (DCC Boxed reference test data)",
        "# by s1bench.harness.dcc.dsp.derive_role_table; a test keeps it current.",
        "# A role not listed for an SRV is rejected with E2.",
        "",
    ]
    lines += [f'"{srv}" = [{", ".join(repr(r).replace(chr(39), chr(34)) for r in roles)}]'
              for srv, roles in table.items()]
    return "\n".join(lines) + "\n"


def load_role_table(path: Path = ROLE_TABLE_FILE) -> dict[str, frozenset[str]]:
    """The role table, as a fresh dict each DSP may change (tests deny a role).

    The file is parsed once per path: every installation of a fleet has its
    own DSP, and parsing the TOML each time was a quarter of a migration's cost.
    """
    return dict(_parsed_role_table(path))


@cache
def _parsed_role_table(path: Path) -> dict[str, frozenset[str]]:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return {srv: frozenset(roles) for srv, roles in data.items()}


@dataclass
class SecurityEvent:
    """One line of the DSP's security log (replays, unknown users)."""

    at: str
    kind: str
    request_id: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"at": self.at, "kind": self.kind, "request_id": self.request_id,
                "detail": self.detail}


@dataclass
class Dsp:
    """Access control and registration data for one DCC (the harness's)."""

    clock: Any
    users: dict[str, User] = field(default_factory=default_users)
    role_table: dict[str, frozenset[str]] = field(default_factory=load_role_table)
    #: Registration data: the DNO registered for each device (risk 9 checks against it).
    registered_dno: dict[str, str] = field(default_factory=dict)
    #: Whose DNO certificate each device's slot holds, as the DCC's records show it.
    dno_slot: dict[str, str] = field(default_factory=dict)
    #: Device SMI status per EUI (``commissioned``, ``installed``, ``decommissioned``...).
    smi_status: dict[str, str] = field(default_factory=dict)
    #: Highest RequestID counter accepted per originator EUI.
    counters: dict[str, int] = field(default_factory=dict)
    security_log: list[SecurityEvent] = field(default_factory=list)
    dcc_quirks: tuple[Any, ...] = ()

    def sender_for(self, srv: str) -> str:
        """The user a test sends an SRV as: the supplier where its role may, else one that may."""
        roles = self.role_table.get(srv, frozenset())
        for user in self.users.values():
            if user.role in roles and user.status == "active":
                return user.name
        return "supplier"

    def user(self, name: str) -> User | None:
        return self.users.get(name)

    def user_by_eui(self, eui: str) -> User | None:
        return next((u for u in self.users.values() if u.eui == eui.upper()), None)

    def quirk(self, name: str) -> Any | None:
        return next((q for q in self.dcc_quirks if q.name == name), None)

    def _reject(self, request: ServiceRequest, code: str, reason: str) -> ServiceResponse:
        log.info("DSP rejected", request_id=str(request.request_id), srv=request.srv,
                 response_code=code, reason=reason)
        return ServiceResponse(request.request_id, request.srv, code, {}, self.clock.now(),
                               reason, answered_by="dsp")

    def _security(self, kind: str, request: ServiceRequest, detail: str) -> None:
        self.security_log.append(SecurityEvent(self.clock.now().isoformat(), kind,
                                               str(request.request_id), detail))
        log.warning("DSP security event", kind=kind, request_id=str(request.request_id),
                    detail=detail)

    def check(self, request: ServiceRequest, user: User | None,
              device_type: str | None) -> ServiceResponse | None:
        """Every DSP check in DUIS order; a rejection, or None to pass the request on."""
        originator = request.request_id.originator
        if user is None:
            self._security("unknown-user", request, f"originator {originator} is no DCC user")
            return self._reject(request, ResponseCode.INVALID_USER,
                                f"originator {originator} is not a registered DCC user")
        if user.eui != originator:
            self._security("originator-mismatch", request,
                           f"{user.name} signs as {user.eui}, RequestID names {originator}")
            return self._reject(request, ResponseCode.INVALID_USER,
                                f"RequestID originator {originator} is not {user.name}'s id "
                                f"({user.eui})")
        if user.status != "active":
            return self._reject(request, ResponseCode.USER_STATUS,
                                f"user {user.name} is {user.status}")
        last = self.counters.get(originator)
        if last is not None and request.request_id.counter <= last:
            self._security("replayed-counter", request,
                           f"counter {request.request_id.counter} is not above {last}")
            # DOMAIN.md gives no code for a counter replay; a replay fails the DSP's
            # authentication of the user's request, so s1bench answers E1 (invalid user).
            return self._reject(request, ResponseCode.INVALID_USER,
                                f"RequestID counter {request.request_id.counter} replayed: "
                                f"{user.name}'s last accepted counter is {last}")
        self.counters[originator] = request.request_id.counter
        roles = self.role_table.get(request.srv)
        if roles is None and request.srv not in SRVS:
            return self._reject(request, ResponseCode.SRV_NOT_FOR_DEVICE,
                                f"SRV {request.srv} is not a service the DCC offers")
        # The DCC's own processes (migration, rollback) are not DUIS users' requests.
        if user.role != "DCC" and (roles is None or user.role not in roles):
            allowed = ", ".join(sorted(roles)) if roles else "no role in the DSP's table"
            return self._reject(request, ResponseCode.ROLE_NOT_PERMITTED,
                                f"role {user.role} may not send SRV {request.srv} "
                                f"(allowed: {allowed})")
        if device_type is None:
            return self._reject(request, ResponseCode.UNKNOWN_DEVICE,
                                f"device {request.target} is not in the DCC inventory")
        status = self.smi_status.get(request.target, "commissioned")
        if status == "decommissioned":
            return self._reject(request, ResponseCode.DEVICE_STATUS,
                                f"device {request.target} is {status}")
        spec = SRVS.get(request.srv)
        if spec is not None:
            try:
                request.params = spec.validate(request.params)
            except ValueError as exc:
                return self._reject(request, ResponseCode.NOT_APPLICABLE, str(exc))
        return self._registration_check(request, user)

    def _registration_check(self, request: ServiceRequest, user: User) -> ServiceResponse | None:
        """Risk 9: a DNO credential change is checked against registration data."""
        if request.srv != "6.15.1" or request.params.get("RemotePartyRole") != "NetworkOperator":
            return None
        registered = self.registered_dno.get(request.target)
        if user.role == "NetworkOperator" and registered is not None and user.name != registered:
            return self._reject(request, ResponseCode.USER_NOT_AUTHORISED,
                                f"registration data names {registered} as the device's network "
                                f"operator, not {user.name}")
        holder = self.dno_slot.get(request.target)
        if self.quirk("dno_certificate_locked") and user.role == "NetworkOperator" \
                and holder is not None and registered and holder != registered:
            return self._reject(request, ResponseCode.USER_NOT_AUTHORISED,
                                f"risk 9: the DNO slot holds {holder}'s certificate, not the "
                                f"registered {registered}'s, and the DSP will not replace it")
        return None

    def after(self, request: ServiceRequest, response: ServiceResponse, user: User) -> None:
        """Registration data follows what the devices accepted."""
        if response.ok and request.srv == "6.15.1" and \
                request.params.get("RemotePartyRole") == "NetworkOperator":
            self.dno_slot[request.target] = self.registered_dno.get(request.target, user.name) \
                if user.role != "NetworkOperator" else user.name
