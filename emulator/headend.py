"""The comms hub's WAN side: head-end commands in, device-level outcomes out.

A SMETS1 hub never sees DUIS (DOMAIN.md, "Who answers what"). The DCC's
S1SP turns a Service Request into commands of the hub maker's head-end
protocol; the hub carries each one out over the HAN and reports what the
device did: done (with data), refused (with the ZCL or device status),
silent after N attempts, or not reachable at all. Turning that into a DUIS
response code is the S1SP's job, so nothing here knows one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .credentials import Authorisation

_EUI_RE = re.compile(r"^[0-9A-F]{2}(-[0-9A-F]{2}){7}$")


def eui64_str(value: int) -> str:
    """Format an EUI-64 the way DUIS and the head-end write it: eight dash-separated bytes."""
    raw = value.to_bytes(8, "big").hex().upper()
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


def eui64_int(text: str) -> int:
    """Parse an EUI-64; raises ValueError naming the bad text."""
    norm = text.strip().upper()
    if not _EUI_RE.match(norm):
        raise ValueError(f"not an EUI-64 (expected 8 dash-separated hex bytes): {text!r}")
    return int(norm.replace("-", ""), 16)


class OutcomeStatus(StrEnum):
    """What happened to one head-end command, as the hub can tell."""

    #: Carried out and confirmed; ``data`` holds what the device answered.
    DONE = "done"
    #: The device (or the hub) answered with a refusal: ``zcl_status`` / ``reason`` say why.
    REFUSED = "refused"
    #: The device offers this function to no remote party (a management refusal).
    UNSUPPORTED = "unsupported"
    #: No answer after every attempt (the command may or may not have been applied).
    SILENT = "silent"
    #: The device is in the hub's inventory but not on the HAN (not joined).
    UNREACHABLE = "unreachable"
    #: The EUI is not a device of this installation.
    UNKNOWN_DEVICE = "unknown-device"
    #: The command's arguments cannot be carried out as given.
    BAD_ARGUMENT = "bad-argument"
    #: The hub has no such head-end command.
    UNKNOWN_COMMAND = "unknown-command"
    #: The device answered, but not in a form the hub could read.
    MALFORMED = "malformed"
    #: The command's authorisation does not verify under the key in the slot of
    #: its role (signed by someone else, or by a key rotated out of the slot).
    WRONG_SIGNER = "wrong-signer"
    #: The authorisation verifies, but that slot's role may not authorise this command.
    WRONG_ROLE = "wrong-role"
    #: The authorisation's counter is not above the last one the slot accepted (a replay).
    STALE_COUNTER = "stale-counter"


@dataclass(slots=True)
class Command:
    """One head-end command for one device of the installation.

    ``op`` names the hub's function (``read_import_registers``,
    ``update_device_log``...); ``args`` use the DUIS leaf names the S1SP
    already validated, so no translation table sits between them. ``ref``
    lets the S1SP correlate the outcome with its request in logs.
    ``authorisation`` is the slot holder's signature on a critical command
    (:mod:`credentials`): the target verifies it before acting on the command.
    """

    op: str
    target: str
    args: dict[str, Any] = field(default_factory=dict)
    ref: str = ""
    authorisation: Authorisation | None = None


@dataclass(slots=True)
class DeviceOutcome:
    """The hub's report of one command, in device terms."""

    status: OutcomeStatus
    data: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    #: The ZCL or management status the device answered with, when it refused.
    zcl_status: int | None = None
    at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status is OutcomeStatus.DONE


class Refused(Exception):
    """Raised inside a hub handler: the command ends with this outcome status."""

    def __init__(self, reason: str, status: OutcomeStatus = OutcomeStatus.REFUSED,
                 zcl_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.zcl_status = zcl_status


class NoResponse(Exception):
    """The device stayed silent through every attempt."""


@dataclass(slots=True, frozen=True)
class Alert:
    """A device or hub alert relayed to the WAN side.

    ``code`` is the alert code in hex as the head-end carries it (e.g. ``8F84``).
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
