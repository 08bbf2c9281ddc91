"""Service Requests and Responses as they cross the hub's WAN side.

Shapes follow DUIS (see ../shared/DOMAIN.md): a RequestID is
``originator:target:counter`` in EUI-64 form, a response echoes the SRV and
carries a ResponseCode from the DUIS 5.4 schema's closed list. A response may
arrive *without* a code (Testing Issues 91339/91340), so ``response_code`` is
optional and consumers must treat ``None`` as an unconfirmed outcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

_EUI_RE = re.compile(r"^[0-9A-F]{2}(-[0-9A-F]{2}){7}$")


def eui64_str(value: int) -> str:
    """Format an EUI-64 the way DUIS writes it: eight dash-separated hex bytes."""
    raw = value.to_bytes(8, "big").hex().upper()
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


def eui64_int(text: str) -> int:
    """Parse a DUIS EUI-64; raises ValueError naming the bad text."""
    norm = text.strip().upper()
    if not _EUI_RE.match(norm):
        raise ValueError(f"not an EUI-64 (expected 8 dash-separated hex bytes): {text!r}")
    return int(norm.replace("-", ""), 16)


class ResponseCode(StrEnum):
    """The DUIS codes s1bench uses, each one from the schema's closed list.

    Meanings follow public copies of the DUIS table (DOMAIN.md). s1bench never
    invents codes; where it has to choose (a bad parameter) the choice is
    documented here.
    """

    SUCCESS = "I0"
    ACKNOWLEDGED = "I99"
    #: SRV not compatible with the target device type, or not supported by the DMC.
    SRV_NOT_FOR_DEVICE = "E11"
    #: Command variant not applicable. s1bench also uses it when the request's
    #: parameters fail validation (missing, malformed, out of range) because
    #: the public DUIS table gives no closer general code.
    NOT_APPLICABLE = "E12"
    #: User role not authorised for the device at that time (DSP access control).
    USER_NOT_AUTHORISED = "E4"
    #: Device SMI status incompatible with the SRV (e.g. a dumb device).
    DEVICE_STATUS = "E5"
    #: Device does not exist (not in the installation / inventory).
    UNKNOWN_DEVICE = "E19"
    #: Cannot establish communications with the device.
    NO_COMMS = "E20"
    #: No response from the device.
    NO_RESPONSE = "E21"


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

    @property
    def target(self) -> str:
        return self.request_id.target


@dataclass(slots=True)
class ServiceResponse:
    """What comes back on the WAN side; ``response_code`` None means it was lost."""

    request_id: RequestID
    srv: str
    response_code: str | None
    body: dict[str, Any]
    response_datetime: datetime
    #: Why a rejection happened, in words a test engineer can act on.
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.response_code == ResponseCode.SUCCESS

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "request_id": str(self.request_id),
            "response_id": self.request_id.response_id(),
            "srv": self.srv,
            "response_code": self.response_code,
            "response_datetime": self.response_datetime.isoformat().replace("+00:00", "Z"),
            "body": self.body,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(slots=True, frozen=True)
class Alert:
    """A device or hub alert relayed to the WAN side (DUIS DeviceAlertMessage).

    ``code`` is the alert code in hex as DUIS writes it (e.g. ``8F84``).
    """

    code: str
    device: str
    raised_at: datetime
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "device": self.device,
            "raised_at": self.raised_at.isoformat().replace("+00:00", "Z"),
            "detail": self.detail,
        }
