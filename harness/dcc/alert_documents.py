"""The DUIS documents for what a run raised beside its responses: device, DCC and S1SP alerts.

A DUIS user sees more than answers to its requests. Devices raise alerts on
their own (risk 11's power and voltage alerts from migrated Itron meters),
the DCC sends its own alerts (the change-of-supplier loss alert that 61224
drops), and the S1SP records what went wrong on its side (91339/91340's
responses without a code). The emulator keeps these as Python records
(``installation.alerts``, ``S1sp.dcc_alerts``, ``S1sp.s1sp_alerts``). This
module writes each one as the document a DUIS adaptor would receive, so a
test of that adaptor can see the alerts as well as the responses, and can
see 61224 as missing documents rather than a count in a report.

==============  ==========================================  =================
kind            document                                    signed
==============  ==========================================  =================
device-alert    ``sr:Response/Body/SMETS1ResponseMessage``  yes, by the S1SP
                with the MMC ``DeviceAlertMessage``
dcc-alert       ``sr:Response/Body/DCCAlertMessage``        no (no DCC key)
s1sp-alert      ``sr:S1SPAlert``                            yes, by the S1SP
==============  ==========================================  =================

Every choice the sources do not settle is a named constant here or in
:mod:`.smets_response`, and :data:`ALERT_NOTES` repeats it for index.json.
One alert that cannot be written is recorded with its reason. It does not
stop the others.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from s1bench.emulator.headend import Alert
from s1bench.harness.duis_xml import DuisError, _utc_z

from .signing import S1spSigner
from .smets_response import (
    COS_LOSS_ALERT_CODE,
    render_dcc_alert,
    render_s1sp_alert,
    render_smets1_device_alert,
)

__all__ = [
    "ALERT_NOTES",
    "DCC_ALERT",
    "DCC_ALERTS",
    "DEVICE_ALERT",
    "S1SP_ALERT",
    "S1SP_CODELESS_RESPONSE",
    "AlertDocument",
    "dcc_alert_documents",
    "device_alert_documents",
    "run_alert_documents",
    "s1sp_alert_documents",
    "write_alert_documents",
]

DEVICE_ALERT = "device-alert"
DCC_ALERT = "dcc-alert"
S1SP_ALERT = "s1sp-alert"

#: S1SPAlertCode for the S1SP's record of a Service Response it wrote without a
#: response code (91339/91340). The schema leaves S1SPAlertCode an open string
#: and no source names the S1SP's codes. The ``S1BENCH-`` prefix keeps this one
#: from passing for a DCC code. The S1SPAlert can carry everything the record
#: holds: the RequestID of the code-less response, the device, and the detail
#: as AdditionalInformation.
S1SP_CODELESS_RESPONSE = "S1BENCH-RESPONSE-WITHOUT-CODE"

#: ``S1sp.dcc_alerts`` record name -> (DCCAlertCode, ``sr:DCCAlert`` member).
DCC_ALERTS: dict[str, tuple[str, str]] = {
    "CoS loss alert": (COS_LOSS_ALERT_CODE, "ChangeOfSupplier"),
}

#: What index.json says about each kind, so a reader of the output does not
#: take s1bench's choices for the DCC's.
ALERT_NOTES: dict[str, str] = {
    DEVICE_ALERT: (
        "SMETS1ResponseMessage holding an S1SP-signed SMETS1Response whose Body is the MMC "
        "DeviceAlertMessage (GBCSHexAlertCode, AlertDescription, Timestamp). Header: no "
        "RequestID (an alert answers no request); ResponseID = device:service user:counter, the "
        "signed header's BusinessOriginatorID:BusinessTargetID:OriginatorCounter; the counter "
        "numbers each device's alerts in the order raised; the service user is the supplier."
    ),
    DCC_ALERT: (
        f"DCCAlertMessage with DCCAlert/ChangeOfSupplier naming the 6.23 request. DCCAlertCode "
        f"{COS_LOSS_ALERT_CODE} is assumed: the DUIS table of DCC alert meanings is not among "
        "s1bench's sources. Unsigned: sr:Response's signature is optional and s1bench holds "
        "no DCC key. A CoS event without a document here is 61224's dropped alert."
    ),
    S1SP_ALERT: (
        f"S1SP-signed S1SPAlert for each Service Response the S1SP wrote without a response "
        f"code (91339/91340). S1SPAlertCode {S1SP_CODELESS_RESPONSE} is s1bench's label (the "
        "schema leaves the code open and no source names one); RequestID is the code-less "
        "response's; DateTime is that response's time."
    ),
}

_OUR_FILE = re.compile(rf"^(?:{DEVICE_ALERT}|{DCC_ALERT}|{S1SP_ALERT})-\d{{4,}}\.xml$")


@dataclass(frozen=True, slots=True)
class AlertDocument:
    """One alert as a DUIS document, or the reason it could not be written (``xml`` None)."""

    kind: str
    device: str
    code: str | None
    time: datetime | None
    xml: bytes | None
    signed: bool
    request_id: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def index_entry(self, file: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "file": file, "kind": self.kind, "device": self.device, "code": self.code,
            "time": _utc_z(self.time) if self.time is not None else None,
            "signed": self.signed,
        }
        if self.request_id is not None:
            entry["request_id"] = self.request_id
        entry.update(self.extra)
        if self.error is not None:
            entry["error"] = self.error
        return entry


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise DuisError(f"time {value!r} is not ISO 8601") from None


def device_alert_documents(alerts: Iterable[Alert], signer: S1spSigner, *,
                           service_user_eui: str) -> list[AlertDocument]:
    """One signed SMETS1 device alert per relayed Alert, counted per device in order raised."""
    counters: Counter[str] = Counter()
    out = []
    for alert in alerts:
        counters[alert.device] += 1
        counter = counters[alert.device]
        try:
            xml: bytes | None = render_smets1_device_alert(
                alert, signer, service_user_eui=service_user_eui, counter=counter)
            error = None
        except DuisError as exc:
            xml, error = None, exc.reason
        out.append(AlertDocument(DEVICE_ALERT, alert.device, alert.code, alert.raised_at, xml,
                                 True, error=error,
                                 extra={"counter": counter, "detail": alert.detail}))
    return out


def dcc_alert_documents(records: Iterable[Mapping[str, Any]]) -> list[AlertDocument]:
    """One DCCAlertMessage per DCC alert record (``S1sp.dcc_alerts``).

    A record's ``reconciled`` flag (the 61224 mitigation's late alert) is kept
    in the index entry and in the document's comment, because a reconciled
    alert is exactly what a user testing the mitigation looks for.
    """
    out = []
    for record in records:
        name = str(record.get("alert"))
        device = str(record.get("device"))
        request_id = record.get("request_id")
        extra = {"alert": name}
        if record.get("reconciled"):
            extra["reconciled"] = True
        code: str | None = None
        when: datetime | None = None
        try:
            if name not in DCC_ALERTS:
                raise DuisError(f"no DCC alert document is defined for {name!r} (known: "
                                f"{', '.join(DCC_ALERTS)})")
            code, member = DCC_ALERTS[name]
            when = _moment(record.get("raised_at"))
            info = f"{name}; sent late by reconciliation (61224 mitigation)" \
                if record.get("reconciled") else name
            xml: bytes | None = render_dcc_alert(code, when, device_id=device,
                                                 request_id=request_id, alert=member, info=info)
            error = None
        except DuisError as exc:
            xml, error = None, exc.reason
        out.append(AlertDocument(DCC_ALERT, device, code, when, xml, False,
                                 request_id=str(request_id) if request_id else None,
                                 error=error, extra=extra))
    return out


def s1sp_alert_documents(records: Iterable[Mapping[str, Any]], signer: S1spSigner, *,
                         times: Mapping[str, datetime]) -> list[AlertDocument]:
    """One signed S1SPAlert per S1SP record of a code-less response (``S1sp.s1sp_alerts``).

    The record has no time of its own, so ``times`` maps each RequestID to
    the time of the response that lost its code. A record without a time is
    reported, not given an invented one.
    """
    out = []
    for record in records:
        request_id = str(record.get("request_id"))
        device = str(record.get("device"))
        code = record.get("code") or S1SP_CODELESS_RESPONSE
        when = times.get(request_id)
        try:
            if when is None:
                raise DuisError(f"no response time found for {request_id}")
            xml: bytes | None = render_s1sp_alert(code, when, signer, request_id=request_id,
                                                  device_id=device, info=record.get("detail"))
            error = None
        except DuisError as exc:
            xml, error = None, exc.reason
        out.append(AlertDocument(S1SP_ALERT, device, code, when, xml, True,
                                 request_id=request_id, error=error))
    return out


def run_alert_documents(dcc: Any, signer: S1spSigner, *,
                        service_user: str = "supplier") -> list[AlertDocument]:
    """Everything a :class:`~s1bench.harness.dcc.DccRole` run raised, as documents, by time.

    Device alerts go to ``service_user``, the supplier by default. GBCS
    decides per alert code who receives it, and that table is not among
    s1bench's sources. The supplier is the one user every SMETS1
    installation has.
    """
    times: dict[str, datetime] = {}
    for exchange in dcc.exchanges:
        if exchange.code is None:
            times[exchange.request["request_id"]] = _moment(
                exchange.response["response_datetime"])
    documents = [
        *device_alert_documents(dcc.installation.alerts, signer,
                                service_user_eui=dcc.user(service_user).eui),
        *dcc_alert_documents(dcc.dcc_alerts),
        *s1sp_alert_documents(dcc.s1sp.s1sp_alerts, signer, times=times),
    ]
    # Stable: same-time alerts keep device, DCC, S1SP order and their order raised.
    return sorted(documents, key=lambda d: (d.time is None, d.time or datetime.min))


def write_alert_documents(documents: Iterable[AlertDocument], out: Path,
                          folder: str = "alerts") -> list[dict[str, Any]]:
    """Write each document to ``out/folder/<kind>-NNNN.xml``; return the index entries.

    Files are numbered per kind in the order given. Alert files that an
    earlier run left in the folder are removed first, because a stale
    ``dcc-alert-0003.xml`` beside this run's two would hide 61224. Only
    files named the way this function names them are removed.
    """
    target = out / folder
    if target.is_dir():
        for stale in target.iterdir():
            if stale.is_file() and _OUR_FILE.match(stale.name):
                stale.unlink()
    numbers: Counter[str] = Counter()
    entries = []
    for document in documents:
        file = None
        if document.xml is not None:
            numbers[document.kind] += 1
            target.mkdir(parents=True, exist_ok=True)
            name = f"{document.kind}-{numbers[document.kind]:04d}.xml"
            (target / name).write_bytes(document.xml)
            file = f"{folder}/{name}"
        entries.append(document.index_entry(file))
    return entries
