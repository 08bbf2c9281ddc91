"""Service Requests and Responses as the DCC's DUIS interface carries them.

Shapes follow DUIS (see ../shared/DOMAIN.md): a RequestID is
``originator:target:counter`` in EUI-64 form, a response echoes the SRV and
carries a ResponseCode from the DUIS 5.4 schema's closed list. A response may
arrive *without* a code (Testing Issues 91339/91340, an S1SP defect), so
``response_code`` is optional and consumers must treat ``None`` as an
unconfirmed outcome. These live on the DCC side: the comms hub speaks
head-end commands (:mod:`s1bench.emulator.headend`) and never sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from s1bench.emulator.headend import eui64_int


class ResponseCode(StrEnum):
    """The DUIS codes s1bench uses, each one from the schema's closed list.

    Meanings follow public copies of the DUIS table (DOMAIN.md). s1bench never
    invents codes; where it has to choose (a bad parameter) the choice is
    documented here.
    """

    SUCCESS = "I0"
    ACKNOWLEDGED = "I99"
    #: Invalid user or user role (the originator is not a known DCC user).
    INVALID_USER = "E1"
    #: The user's role is not eligible for this SRV (the DSP's role table).
    ROLE_NOT_PERMITTED = "E2"
    #: Invalid user status (a suspended user).
    USER_STATUS = "E3"
    #: User role not authorised for the device at that time (DSP access control).
    USER_NOT_AUTHORISED = "E4"
    #: Device SMI status incompatible with the SRV (e.g. not commissioned).
    DEVICE_STATUS = "E5"
    #: SRV not compatible with the target device type, or not in the DMC's service definition.
    SRV_NOT_FOR_DEVICE = "E11"
    #: Command variant not applicable. s1bench also uses it when the request's
    #: parameters fail validation (missing, malformed, out of range) because
    #: the public DUIS table gives no closer general code.
    NOT_APPLICABLE = "E12"
    #: Device does not exist (not in the installation / inventory).
    UNKNOWN_DEVICE = "E19"
    #: Cannot establish communications with the device.
    NO_COMMS = "E20"
    #: No response from the device.
    NO_RESPONSE = "E21"
    #: Time-out of a future-dated command.
    FUTURE_DATED_TIMEOUT = "E30"


@dataclass(frozen=True, slots=True)
class RequestID:
    """``originator:target:counter``; the ResponseID swaps the two EUIs."""

    originator: str
    target: str
    counter: int

    @classmethod
    def parse(cls, text: str) -> RequestID:
        parts = text.strip().split(":")
        if len(parts) != 3:
            raise ValueError(f"RequestID must be originator:target:counter, got {text!r}")
        orig, target, counter = parts
        eui64_int(orig)
        eui64_int(target)
        if not counter.isdigit():
            raise ValueError(f"RequestID counter must be a non-negative integer, got {counter!r}")
        return cls(orig.upper(), target.upper(), int(counter))

    def __str__(self) -> str:
        return f"{self.originator}:{self.target}:{self.counter}"

    def response_id(self) -> str:
        return f"{self.target}:{self.originator}:{self.counter}"


@dataclass(slots=True)
class ServiceRequest:
    """One SRV aimed at one device, with DUIS-named parameters."""

    request_id: RequestID
    srv: str
    params: dict[str, Any] = field(default_factory=dict)
    command_variant: int = 1
    #: A future-dated request's execution time (DUIS ExecutionDateTime), if any.
    execution_datetime: datetime | None = None

    @property
    def target(self) -> str:
        return self.request_id.target


@dataclass(slots=True)
class ServiceResponse:
    """What the DCC answers; ``response_code`` None means the S1SP lost it.

    ``device_success`` is the SMETS1 response's ``MessageSuccess``: the DCC
    carried the command (I0) but the device refused it. ``outcome`` is the
    hub's device-level status the S1SP translated (``done``, ``refused``...).
    """

    request_id: RequestID
    srv: str
    response_code: str | None
    body: dict[str, Any]
    response_datetime: datetime
    #: Why a rejection happened, in words a test engineer can act on.
    reason: str | None = None
    device_success: bool | None = None
    outcome: str | None = None
    #: Which DCC part answered: dsp, s1sp or dco.
    answered_by: str = "s1sp"
    #: The ZCL / device status of a refusal (SMETS1Debug's ResponseCode).
    device_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.response_code == ResponseCode.SUCCESS and self.device_success is not False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "request_id": str(self.request_id),
            "response_id": self.request_id.response_id(),
            "srv": self.srv,
            "response_code": self.response_code,
            "response_datetime": self.response_datetime.isoformat().replace("+00:00", "Z"),
            "body": self.body,
            "answered_by": self.answered_by,
        }
        if self.device_success is not None:
            out["device_success"] = self.device_success
        if self.outcome:
            out["outcome"] = self.outcome
        if self.device_status is not None:
            out["device_status"] = self.device_status
        if self.reason:
            out["reason"] = self.reason
        return out
