"""SMETS1 Service Responses and device alerts in their real DUIS shape, signed by the S1SP;
S1SP and DCC alerts.

:func:`s1bench.harness.duis_xml.render_response` carries a device's data as
base64 JSON in ``GBCSPayload``, because the real place for it needs a
signature. This module writes that real place. An I0 response to a SMETS1
device is ``sr:Response/Body/SMETS1ResponseMessage``. It holds an
``SMETS1SignedResponse`` that the S1SP signed (``ds:Signature`` is required),
and inside it the MMC schema's typed ``SMETSData`` element for the SRV, e.g.
``ReadInstantaneousImportRegistersRsp``. With the certificate of
:class:`~s1bench.harness.dcc.signing.S1spSigner`, a supplier's DUIS adaptor
can parse and check these responses exactly as it would the DCC's.

Namespaces follow the two schemas, both ``elementFormDefault="qualified"``.
Elements declared in the DUIS schema are ``sr:``, including
``SMETS1Response``'s own ``Header``/``Body``/``ResponseMessage``. Their
content, from MMC types, is ``ra:``. The ``SMETS1SignedResponse`` is signed
as a document of its own with exclusive C14N and then placed in the outer
``sr:Response``. The outer document's namespace declarations and
indentation are outside the signed bytes, so the subtree taken back out of
the outer document still verifies (:func:`verify_smets1_response`). A SMETS1
device's alert takes the same signed path, with the MMC ``DeviceAlertMessage``
in place of the response payload (:func:`render_smets1_device_alert`).

Every document written here validates against the DUIS 5.4 schema. Anything
that would break that raises :class:`~s1bench.harness.duis_xml.DuisError`
naming the value. Where an MMC type needs a value the emulator's handler does
not report, the value is filled and the gap is listed in :data:`FILLED_GAPS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree
from s1bench.emulator.headend import Alert, eui64_int, eui64_str
from s1bench.harness.duis_xml import (
    _DECIMAL_RE,
    RESPONSE_CODES,
    SERVICE_REFERENCE_VARIANTS,
    SR_NS,
    DuisError,
    _checked_ids,
    _comment_text,
    _parser,
    _utc_z,
    service_reference,
)

from .messages import RequestID
from .signing import S1spSigner, signature_placeholder, verify

__all__ = [
    "COS_LOSS_ALERT_CODE",
    "DCC_ALERT_CODES",
    "DCC_ALERT_MEMBERS",
    "FILLED_GAPS",
    "NO_SMETS_ELEMENT",
    "RA_NS",
    "SMETS_ELEMENT",
    "render_dcc_alert",
    "render_s1sp_alert",
    "render_smets1_device_alert",
    "render_smets1_response",
    "smets_data",
    "verify_smets1_device_alert",
    "verify_smets1_response",
]

RA_NS = "http://www.dccinterface.co.uk/ResponseAndAlert"

#: SRV -> the MMC ``SMETSData`` member that answers it, for every SRV the
#: emulated installation carries out. Each name is the DUIS request body name
#: plus ``Rsp``. The test suite checks every one against the schema's
#: ``ra:ResponsePayload/SMETSData`` choice.
SMETS_ELEMENT: dict[str, str] = {
    "1.2.1": "UpdatePricePrimaryElementRsp",
    "2.2": "TopUpDeviceRsp",
    "2.5": "ActivateEmergencyCreditRsp",
    "3.1": "DisplayMessageRsp",
    "4.1.1": "ReadInstantaneousImportRegistersRsp",
    "4.3": "ReadInstantaneousPrepayValuesRsp",
    "4.18": "ReadMeterBalanceRsp",
    "6.5": "UpdateDeviceConfigurationVoltageRsp",
    "6.7": "UpdateDeviceConfigurationGasFlowRsp",
    "6.11": "SynchroniseClockRsp",
    "6.12": "UpdateDeviceConfigurationInstantaneousPowerThresholdRsp",
    "6.13": "ReadEventOrSecurityLogRsp",
    "6.15.1": "UpdateSecurityCredentialsKRPRsp",
    "6.22": "ConfigureAlertBehaviourRsp",
    "6.23": "UpdateSecurityCredentialsCoSRsp",
    "6.24.1": "RetrieveDeviceSecurityCredentialsKRPRsp",
    "7.1": "EnableSupplyRsp",
    "7.2": "DisableSupplyRsp",
    "7.3": "ArmSupplyRsp",
    "7.4": "ReadSupplyStatusRsp",
    "7.5": "ActivateAuxiliaryLoadRsp",
    "7.6": "DeactivateAuxiliaryLoadRsp",
    "7.9": "AddAuxiliaryLoadToBoostButtonRsp",
    "7.10": "RemoveAuxiliaryLoadFromBoostButtonRsp",
    "7.11": "ReadBoostButtonDetailsRsp",
    "8.7.1": "JoinServiceCriticalRsp",
    "8.7.2": "JoinServiceNonCriticalRsp",
    "8.8.1": "UnjoinServiceCriticalRsp",
    "8.8.2": "UnjoinServiceNonCriticalRsp",
    "8.9": "ReadDeviceLogRsp",
    "8.11": "UpdateHANDeviceLogRsp",
    "11.2": "ReadFirmwareVersionRsp",
}

#: SRVs the emulator answers that have no ``SMETSData`` member, and why.
NO_SMETS_ELEMENT: dict[str, str] = {
    "8.2": (
        "ReadInventory is a non-device SRV answered by the DSP from the SMI inventory "
        "(sr:ResponseMessage/DSPInventory); the MMC SMETSData choice has no ReadInventoryRsp, "
        "so it is never a signed SMETS1 response"
    ),
}

#: SRV -> the values the MMC type needed that the handler's body does not
#: give, what s1bench writes instead, and why. These are the places where
#: the device handlers in ``emulator/hub_services.py`` could report more.
FILLED_GAPS: dict[str, str] = {
    "4.1.1": (
        "The Electricity|Gas choice is required. It follows ImportRegisterUnit (kWh -> "
        "Electricity, m3 -> Gas). A refusal has an empty body, and then it comes from the "
        "caller's device_type (ESME/GSME). The ESME register is reported in kWh but the MMC "
        "type takes whole Wh, so it is converted, and a value with a fraction of a Wh is refused."
    ),
    "4.3": (
        "MeterBalance: the handler reports CreditRemaining and AccumulatedDebt but no balance. "
        "s1bench writes CreditRemaining - AccumulatedDebt, the arithmetic of the 4.18 handler, "
        "so the two reads agree. A body with MeterBalance is used as given."
    ),
    "6.15.1": (
        "ExecutionOutcome/ReplacementOutcome: the handler reports only the role and a "
        "fingerprint, not per-certificate outcomes. StatusCode is written as ASN1Status "
        "success (ResponseCode 0), because a body exists only when the device accepted the "
        "credential. CredentialsReplacementMode comes from the role as the schema's comments "
        "pair them (Supplier -> SupplierBySupplier, NetworkOperator -> "
        "NetworkOperatorByNetworkOperator, LoadController -> LoadControllerBySupplier) and is "
        "left out for other roles. The fingerprint is not a certificate hash, so it is not written."
    ),
    "6.23": (
        "As 6.15.1. CredentialsReplacementMode is SupplierByTransCoS, the only mode the "
        "schema gives SR 6.23."
    ),
    "8.7.1": (
        "joinResponseCode (ra:StatusASN1) is required. The hub reports only Joined. Success is "
        "ASN1Status success with ResponseCode 0. A refusal is ASN1Status notKnown with "
        "ResponseCode = the device's status (device_status), or 255 when the hub reported none "
        "(255 has no GBCS meaning)."
    ),
    "8.7.2": "As 8.7.1.",
    "8.8.1": "As 8.7.1, for unjoinResponseCode: success means the body says Joined false.",
    "8.8.2": "As 8.8.1.",
}

#: The DUIS 5.4 ``DCCAlertCode`` enumeration, in schema order (the test suite
#: compares it with the schema).
DCC_ALERT_CODES: tuple[str, ...] = (
    "AD1", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9", "N10", "N11", "N12", "N13",
    "N14", "N15", "N16", "N17", "N18", "N19", "N20", "N21", "N22", "N23", "N24", "N25", "N26",
    "N27", "N28", "N29", "N30", "N31", "N33", "N34", "N35", "N36", "N37", "N38", "N39", "N40",
    "N41", "N42", "N43", "N44", "N45", "N46", "N47", "N48", "N49", "N50", "N51", "N52", "N53",
    "N54", "N55", "N56", "N57", "N58", "N59", "N60", "N61", "N62", "N63", "N64", "N65", "N999",
)

#: The DCCAlertCode s1bench writes for a change-of-supplier loss alert (61224).
#:
#: **The meaning is assumed, not sourced.** The DUIS schema lists the codes
#: without meanings, and the DUIS table that gives them is not among
#: s1bench's sources (DOMAIN.md lists AD1, N1-N65 only). What the schema does
#: fix is the alert's content: ``DCCAlert/ChangeOfSupplier`` carrying the
#: 6.23 request's id, and that part is not a guess. N16 is the code the suite
#: already paired with ChangeOfSupplier. Keeping the choice in one named
#: constant means a user holding the DUIS table changes one line, and a
#: DUIS adaptor test that keys on the member rather than the code is unaffected.
COS_LOSS_ALERT_CODE = "N16"

#: The ``sr:DCCAlert`` members :func:`render_dcc_alert` can write, and what each carries.
DCC_ALERT_MEMBERS: dict[str, str] = {
    "CommandFailure": "CommandRequestID (the request) and DeviceID",
    "ChangeOfSupplier": (
        "ChangeOfSupplierServiceRequestID (the 6.23 request; the CoS alerts of 61224)"
    ),
    "UpdateHANDeviceLogResult": "UpdateHANDeviceLogServiceRequestID (the 8.11 request)",
    "CoSCertificateAlert": "DeviceID only",
}
_NEEDS_REQUEST = ("CommandFailure", "ChangeOfSupplier", "UpdateHANDeviceLogResult")

# The credential replacement mode the MMC schema's comments pair with each KRP role.
_KRP_MODE = {
    "Supplier": "SupplierBySupplier",
    "NetworkOperator": "NetworkOperatorByNetworkOperator",
    "LoadController": "LoadControllerBySupplier",
}
# MMC ra:RemotePartyRole, ra:SupplyStateType and ra:DeviceType.
_ROLES = frozenset(
    ("ACB", "NetworkOperator", "Recovery", "Root", "Supplier", "TransCoS", "LoadController")
)
_SUPPLY_STATES = frozenset(("Enabled", "Disabled", "Armed"))
_DEVICE_TYPES = frozenset(("ESME", "GSME", "GPF", "CHF", "HCALCS", "PPMID", "Type2"))
# DUIS has no "IHD" device type: an IHD is a Type 2 device.
_DEVICE_TYPE_ALIASES = {"IHD": "Type2"}
# GBCS success for an ASN.1 status. Used where the hub says "done" but gives no number.
_ASN1_SUCCESS = 0
_ASN1_NOT_REPORTED = 255
_MAX_LOG_ENTRIES = 100  # ra:LogType
_MAX_CHF_LOG_ENTRIES = 16  # ra:CHFDeviceLogType
_MAX_TEXT = 200  # ra:EventCodeDescription
_MAX_DEBUG_TEXT = 250  # ra:StatusSMETS1/Error
_MAX_ALERT_TEXT = 250  # ra:DeviceAlertContentType/AlertDescription
_UTRN_RE = re.compile(r"^[0-9]{20}$")
_HEX_RE = re.compile(r"^(?:[0-9A-Fa-f]{2})*$")


def _sr(local: str) -> str:
    return f"{{{SR_NS}}}{local}"


def _ra(local: str) -> str:
    return f"{{{RA_NS}}}{local}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, tag)
    if text is not None:
        node.text = text
    return node


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class _Context:
    """What a builder needs besides the body, and what its errors should name."""

    srv: str
    device: str
    device_type: str | None
    message_success: bool
    device_status: int | None

    def error(self, reason: str) -> DuisError:
        return DuisError(f"SRV {self.srv} ({SMETS_ELEMENT[self.srv]}) for {self.device}: {reason}")


def _number(ctx: _Context, name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ctx.error(f"{name} {value!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ctx.error(f"{name} {value!r} is not a number") from None
    if not number.is_finite():
        raise ctx.error(f"{name} {value!r} is not a finite number")
    return number


def _integer(ctx: _Context, name: str, value: Any) -> str:
    number = _number(ctx, name, value)
    if number != number.to_integral_value():
        raise ctx.error(f"{name} {value!r} is not a whole number (xs:integer)")
    return str(int(number))


def _decimal(ctx: _Context, name: str, value: Any) -> str:
    return format(_number(ctx, name, value), "f")


def _watt_hours(ctx: _Context, name: str, kwh: Any) -> str:
    wh = _number(ctx, name, kwh) * 1000
    if wh != wh.to_integral_value():
        raise ctx.error(f"{name} {kwh!r} kWh is not a whole number of Wh (ra:ActiveEnergyUnit)")
    return str(int(wh))


def _moment(ctx: _Context, name: str, value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ctx.error(f"{name} {value!r} is not an ISO 8601 date and time") from None
    if not isinstance(value, datetime):
        raise ctx.error(f"{name} {value!r} is not a date and time")
    if value.tzinfo is None:
        raise ctx.error(f"{name} {value.isoformat()} has no time zone")
    return _utc_z(value)


def _eui(name: str, value: Any) -> str:
    try:
        return eui64_str(eui64_int(str(value).strip()))
    except ValueError as exc:
        raise DuisError(f"{name} {value!r} is not an EUI-64: {exc}") from None


def _text(value: Any, limit: int) -> str:
    # Descriptive text only: cutting it keeps the entry (code, time) and the document valid.
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _status_asn1(parent: etree._Element, tag: str, status: str, code: int) -> None:
    node = _sub(parent, tag)
    node.set("ResponseCode", str(code))
    _sub(node, _ra("ASN1Status"), status)


# --------------------------------------------------------------------------- builders

Builder = Callable[[etree._Element, Mapping[str, Any], _Context], None]
_BUILDERS: dict[str, Builder] = {}


def _builds(*srvs: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        for srv in srvs:
            _BUILDERS[srv] = fn
        return fn

    return register


@_builds("4.1.1")
def _import_registers(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """InstantaneousDemand has no place here (it belongs to 4.16), so it is not carried."""
    unit = body.get("ImportRegisterUnit")
    if unit == "kWh" or (unit is None and ctx.device_type == "ESME"):
        electricity = _sub(el, _ra("Electricity"))
        if body.get("ImportRegister") is not None:
            register = _sub(electricity, _ra("ActiveImportRegister"))
            _sub(register, _ra("Value"), _watt_hours(ctx, "ImportRegister",
                                                       body["ImportRegister"]))
            _sub(register, _ra("ActiveEnergyUnit"), "Wh")
    elif unit == "m3" or (unit is None and ctx.device_type == "GSME"):
        gas = _sub(el, _ra("Gas"))
        if body.get("ImportRegister") is not None:
            register = _sub(gas, _ra("ConsumptionRegister"))
            _sub(register, _ra("Value"), _decimal(ctx, "ImportRegister", body["ImportRegister"]))
            _sub(register, _ra("Unit"), "m3")
    else:
        raise ctx.error(
            f"cannot tell Electricity from Gas: ImportRegisterUnit is {unit!r} (kWh or m3 "
            f"expected) and device_type is {ctx.device_type!r} (ESME or GSME expected)"
        )


@_builds("4.3")
def _prepay_values(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """Currency is not carried: the MMC registers are plain integers in the meter's currency."""
    if body.get("EmergencyCreditRemaining") is not None:
        _sub(el, _ra("EmergencyCreditBalance"),
             _integer(ctx, "EmergencyCreditRemaining", body["EmergencyCreditRemaining"]))
    if body.get("AccumulatedDebt") is not None:
        _sub(el, _ra("AccumulatedDebtRegister"),
             _integer(ctx, "AccumulatedDebt", body["AccumulatedDebt"]))
    balance = body.get("MeterBalance")
    if balance is None and body.get("CreditRemaining") is not None:
        credit = int(_integer(ctx, "CreditRemaining", body["CreditRemaining"]))
        debt = int(_integer(ctx, "AccumulatedDebt", body.get("AccumulatedDebt") or 0))
        balance = credit - debt
    if balance is not None:
        _sub(el, _ra("MeterBalance"), _integer(ctx, "MeterBalance", balance))


@_builds("4.18")
def _meter_balance(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """EmergencyCreditBalance has no place in ReadMeterBalanceRsp, so it is not carried."""
    if body.get("MeterBalance") is not None:
        _sub(el, _ra("MeterBalance"), _integer(ctx, "MeterBalance", body["MeterBalance"]))


@_builds("6.11")
def _clock(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if body.get("DeviceDateTime") is not None:
        _sub(el, _ra("DeviceTime"), _moment(ctx, "DeviceDateTime", body["DeviceDateTime"]))


@_builds("6.13")
def _event_log(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """Each event becomes a LogEntry: DateTime, EventCode (hex), and Detail as its meaning text.

    Detail goes to ``OtherInformationLogMeaning`` rather than as hex in
    ``OtherInformation``, so a reader can see what the device recorded. It
    is cut at the type's 200 characters. Every log, ALCS included, is written
    as ``Log``, because the handler's events have no switch or outcome
    fields for ``ALCSEvent``.
    """
    events = body.get("Events")
    if events is None:
        return
    if len(events) > _MAX_LOG_ENTRIES:
        raise ctx.error(f"{len(events)} events; ra:LogType holds at most {_MAX_LOG_ENTRIES}")
    log = _sub(el, _ra("Log"))
    for index, event in enumerate(events):
        entry = _sub(log, _ra("LogEntry"))
        if event.get("DateTime") is not None:
            _sub(entry, _ra("Timestamp"), _moment(ctx, f"Events[{index}].DateTime",
                                                  event["DateTime"]))
        code = event.get("EventCode")
        if code is not None:
            text = str(code).strip()
            if not _HEX_RE.match(text):
                raise ctx.error(f"Events[{index}].EventCode {code!r} is not hex (xs:hexBinary)")
            _sub(entry, _ra("LogCode"), text.upper())
        if event.get("Detail"):
            _sub(entry, _ra("OtherInformationLogMeaning"), _text(event["Detail"], _MAX_TEXT))


def _replacement(el: etree._Element, role: str, mode: str | None, ctx: _Context) -> None:
    if role not in _ROLES:
        raise ctx.error(f"RemotePartyRole {role!r} is not one of {', '.join(sorted(_ROLES))}")
    outcome = _sub(el, _ra("ExecutionOutcome"))
    if mode is not None:
        _sub(outcome, _ra("CredentialsReplacementMode"), mode)
    replacement = _sub(outcome, _ra("ReplacementOutcome"))
    _status_asn1(replacement, _ra("StatusCode"), "success", _ASN1_SUCCESS)
    _sub(replacement, _ra("RemotePartyRole"), role)


@_builds("6.15.1")
def _krp_update(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    role = body.get("RemotePartyRole")
    if role is not None:
        _replacement(el, str(role), _KRP_MODE.get(str(role)), ctx)


@_builds("6.23")
def _cos_update(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if body.get("RemotePartyRole") is not None:
        _replacement(el, str(body["RemotePartyRole"]), "SupplierByTransCoS", ctx)


@_builds("6.24.1")
def _krp_read(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """One RemotePartyDetails per role the device holds. The fingerprints are not carried."""
    for role in body.get("Credentials") or {}:
        if role not in _ROLES:
            raise ctx.error(f"credential role {role!r} is not one of {', '.join(sorted(_ROLES))}")
        _sub(_sub(el, _ra("RemotePartyDetails")), _ra("RemotePartyRole"), role)


@_builds("7.4")
def _supply_status(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    state = body.get("SupplyStatus")
    if state is None:
        return
    if state not in _SUPPLY_STATES:
        raise ctx.error(f"SupplyStatus {state!r} is not one of {', '.join(sorted(_SUPPLY_STATES))}")
    _sub(el, _ra("SupplyState"), state)


@_builds("7.11")
def _boost(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """BoostLoads (the loads on the button) become the five BoostFunctionControlNValue flags."""
    loads = body.get("BoostLoads")
    if loads is None:
        return
    on_button = {int(_integer(ctx, "BoostLoads", load)) for load in loads}
    if not on_button <= set(range(1, 6)):
        raise ctx.error(f"BoostLoads {sorted(on_button)}: the MMC type has loads 1..5 only")
    for load in range(1, 6):
        _sub(el, _ra(f"BoostFunctionControl{load}Value"), "true" if load in on_button else "false")


def _join_outcome(el: etree._Element, tag: str, ok: bool, ctx: _Context) -> None:
    if ok:
        _status_asn1(el, _ra(tag), "success", _ASN1_SUCCESS)
    else:
        code = ctx.device_status if ctx.device_status is not None else _ASN1_NOT_REPORTED
        _status_asn1(el, _ra(tag), "notKnown", code)


@_builds("8.7.1", "8.7.2")
def _join(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    _join_outcome(el, "joinResponseCode",
                  ctx.message_success and body.get("Joined") is not False, ctx)


@_builds("8.8.1", "8.8.2")
def _unjoin(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    _join_outcome(el, "unjoinResponseCode",
                  ctx.message_success and body.get("Joined") is not True, ctx)


@_builds("8.9")
def _device_log(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """A CHF answers with its CHFDeviceLog (IDs only). A meter answers with DeviceLogEntries.

    The catalogue aims 8.9 at the CHF, so that is the shape without a
    device_type. A CHF log entry has no device type. The Joined flag has no
    place in either shape.
    """
    entries = body.get("DeviceLog")
    if entries is None:
        return
    if ctx.device_type in (None, "CHF"):
        if len(entries) > _MAX_CHF_LOG_ENTRIES:
            raise ctx.error(
                f"{len(entries)} devices; ra:CHFDeviceLogType holds at most {_MAX_CHF_LOG_ENTRIES}"
            )
        log = _sub(el, _ra("CHFDeviceLog"))
        for entry in entries:
            _sub(_sub(log, _ra("CHFDeviceLogEntry")), _ra("DeviceID"),
                 _eui("DeviceLog DeviceID", entry.get("DeviceID")))
        return
    log = _sub(el, _ra("DeviceLogEntries"))
    for entry in entries:
        kind = str(entry.get("DeviceType"))
        kind = _DEVICE_TYPE_ALIASES.get(kind, kind)
        if kind not in _DEVICE_TYPES:
            raise ctx.error(f"DeviceType {kind!r} is not one of {', '.join(sorted(_DEVICE_TYPES))}")
        row = _sub(log, _ra("LogEntry"))
        _sub(row, _ra("DeviceID"), _eui("DeviceLog DeviceID", entry.get("DeviceID")))
        _sub(row, _ra("DeviceType"), kind)


@_builds("11.2")
def _firmware(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if body.get("FirmwareVersion") is not None:
        _sub(el, _ra("FirmwareVersion"), str(body["FirmwareVersion"]))


# --------------------------------------------------------------------------- public


def _element_name(srv: str) -> str:
    if srv in SMETS_ELEMENT:
        return SMETS_ELEMENT[srv]
    if srv in NO_SMETS_ELEMENT:
        raise DuisError(f"SRV {srv} has no SMETS1 response element: {NO_SMETS_ELEMENT[srv]}")
    raise DuisError(
        f"SRV {srv!r} has no SMETSData element in s1bench; known: {', '.join(SMETS_ELEMENT)}"
    )


def smets_data(
    srv: str,
    body: Mapping[str, Any],
    *,
    device_id: str | None = None,
    device_type: str | None = None,
    message_success: bool = True,
    device_status: int | None = None,
) -> etree._Element:
    """The MMC ``SMETSData`` member for ``srv``, built from a device handler's body.

    Every member extends ``ra:ServiceRequestBaseType``, whose only content is
    the ``MessageSuccess`` attribute. That attribute is the device's own
    verdict (false: the DCC delivered the command and the device refused it),
    and it is always written. Body keys the type has no place for are left
    out. Values the type needs but the body lacks are filled as
    :data:`FILLED_GAPS` says. ``device_type`` (ESME, GSME, CHF...) settles
    the choices that depend on the device (4.1.1, 8.9). ``device_status`` is
    the device's refusal status, used where the type needs a status number.
    ``device_id`` only makes error messages name the device.
    """
    name = _element_name(srv)
    ctx = _Context(srv, device_id or "the device", device_type, message_success, device_status)
    element = etree.Element(_ra(name), nsmap={"ra": RA_NS})
    element.set("MessageSuccess", "true" if message_success else "false")
    builder = _BUILDERS.get(srv)
    if builder is not None:
        builder(element, body, ctx)
    return element


def _request_id(value: RequestID | str, what: str = "RequestID") -> RequestID:
    if isinstance(value, RequestID):
        return value
    try:
        return RequestID.parse(str(value))
    except ValueError as exc:
        raise DuisError(f"bad {what} {value!r}: {exc}") from None


def _aware(moment: datetime, what: str) -> str:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise DuisError(f"{what} {moment!r} has no time zone; DUIS times are written in UTC")
    return _utc_z(moment)


def _schema_version(value: str) -> str:
    if not _DECIMAL_RE.match(value):
        raise DuisError(f"schemaVersion {value!r} is not a decimal")
    return value


def _document(root: etree._Element) -> bytes:
    # No pretty_print: the signed parts are already laid out, and their whitespace is signed.
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _embed(slot: etree._Element, signed: etree._Element) -> None:
    signed.tail = slot.tail
    parent = slot.getparent()
    assert parent is not None
    parent.replace(slot, signed)


def render_smets1_response(
    request_id: RequestID | str,
    srv: str,
    response_code: str | None,
    response_datetime: datetime,
    body: Mapping[str, Any] | None,
    signer: S1spSigner,
    *,
    device_id: str | None = None,
    device_type: str | None = None,
    message_success: bool = True,
    device_status: int | None = None,
    device_error: str | None = None,
    schema_version: str = "5.4",
) -> bytes:
    """A DUIS Service Response for a SMETS1 device, as UTF-8 XML with the S1SP's signature.

    The outer ``sr:Response`` header is written as
    :func:`~s1bench.harness.duis_xml.render_response` writes it. The signed
    ``SMETS1Response`` header (``ra:HeaderType``) comes from the request. The
    device (``device_id``, default the request's target) is the
    BusinessOriginatorID, and the service user (the request's originator) is
    the BusinessTargetID. The request counter is the OriginatorCounter, and
    the response time is the Timestamp.

    ``body=None`` writes no ``SMETSData`` (a response that carries no device
    data). A dict is mapped by :func:`smets_data`. ``device_status`` (with
    ``device_error`` as its text) adds ``DebugInfo/SMETS1Debug``, where the
    MMC schema carries a SMETS1 device's refusal status. Do not pretty-print
    the result again: whitespace inside ``SMETS1SignedResponse`` is signed.
    """
    if response_code is None:
        raise DuisError("a SMETS1 response needs a response code: sr:Response/Header/"
                        "ResponseCode is mandatory (see duis_xml.render_missing_code_note)")
    code = str(response_code)
    if code not in RESPONSE_CODES:
        raise DuisError(f"response code {code!r} is not in the DUIS 5.4 ResponseCode list")
    if srv not in SERVICE_REFERENCE_VARIANTS:
        raise DuisError(f"SRV {srv!r} is not a DUIS 5.4 ServiceReferenceVariant")
    _element_name(srv)
    version = _schema_version(schema_version)
    rid = _request_id(request_id)
    request_text, response_text = _checked_ids(rid)
    when = _aware(response_datetime, "ResponseDateTime")
    device = _eui("device_id", device_id if device_id is not None else rid.target)

    signed_root = etree.Element(_sr("SMETS1SignedResponse"), nsmap={"sr": SR_NS, "ra": RA_NS})
    signed_root.set("schemaVersion", version)
    smets1 = _sub(signed_root, _sr("SMETS1Response"))
    header = _sub(smets1, _sr("Header"))
    for name, text in (
        ("BusinessOriginatorID", device),
        ("BusinessTargetID", rid.originator),
        ("OriginatorCounter", str(rid.counter)),
        ("ServiceReference", service_reference(srv)),
        ("ServiceReferenceVariant", srv),
        ("Timestamp", when),
    ):
        _sub(header, _ra(name), text)
    payload = _sub(_sub(smets1, _sr("Body")), _sr("ResponseMessage"))
    if body is not None:
        _sub(payload, _ra("SMETSData")).append(smets_data(
            srv, body, device_id=device, device_type=device_type,
            message_success=message_success, device_status=device_status))
    if device_status is not None:
        status = _sub(_sub(_sub(payload, _ra("DebugInfo")), _ra("SMETS1Debug")),
                      _ra("SMETS1Response"))
        status.set("ResponseCode", str(int(device_status)))
        status.set("Position", "1")  # one head-end command per SRV
        _sub(status, _ra("Error"), _text(device_error or "device refused", _MAX_DEBUG_TEXT))
    signed_root.append(signature_placeholder())
    etree.cleanup_namespaces(signed_root)
    etree.indent(signed_root, level=3)  # Response > Body > SMETS1ResponseMessage > here
    signed = signer.sign(signed_root)

    root = etree.Element(_sr("Response"), nsmap={"sr": SR_NS})
    root.set("schemaVersion", version)
    outer = _sub(root, _sr("Header"))
    for name, text in (
        ("RequestID", request_text),
        ("ResponseID", response_text),
        ("ResponseCode", code),
        ("ResponseDateTime", when),
    ):
        _sub(outer, _sr(name), text)
    message = _sub(_sub(root, _sr("Body")), _sr("SMETS1ResponseMessage"))
    _sub(message, _sr("ServiceReference"), service_reference(srv))
    _sub(message, _sr("ServiceReferenceVariant"), srv)
    slot = _sub(message, _sr("SMETS1SignedResponse"))
    etree.indent(root)
    _embed(slot, signed)
    return _document(root)


def _signed_smets1(
    xml_bytes: bytes, certificate_pem: bytes | str
) -> tuple[etree._Element, etree._Element, etree._Element]:
    """(outer root, SMETS1ResponseMessage, verified SMETS1Response) of a signed SMETS1 document.

    Everything returned from inside the signature comes from signxml's
    verified copy, so unsigned text beside it cannot slip in.
    """
    try:
        root = etree.fromstring(xml_bytes, _parser())
    except etree.XMLSyntaxError as exc:
        raise DuisError(f"not XML: {exc.msg}", line=exc.lineno) from None
    message = root.find(f"{_sr('Body')}/{_sr('SMETS1ResponseMessage')}")
    if root.tag != _sr("Response") or message is None:
        raise DuisError("not a DUIS response with Body/SMETS1ResponseMessage")
    signed = message.find(_sr("SMETS1SignedResponse"))
    if signed is None:
        raise DuisError("SMETS1ResponseMessage has no SMETS1SignedResponse")
    verified = verify(signed, certificate_pem)
    smets1 = verified.find(_sr("SMETS1Response"))
    if smets1 is None:
        raise DuisError("the signed SMETS1SignedResponse holds no SMETS1Response")
    return root, message, smets1


def verify_smets1_response(
    xml_bytes: bytes, certificate_pem: bytes | str
) -> tuple[str | None, etree._Element]:
    """Check a SMETS1 response's S1SP signature, and return the SMETSData member's name and the
    verified ``SMETS1Response``.

    Only the ``SMETS1SignedResponse`` subtree is signed. It is taken out of
    the document and verified on its own, and what is returned comes from
    the verified copy. The name is None for a response without
    ``SMETSData``. Raises :class:`~s1bench.harness.dcc.signing.SignatureInvalid`
    for a bad signature. Raises :class:`DuisError` when the document is not a
    SMETS1 response, or when its unsigned outer ServiceReferenceVariant
    disagrees with the signed one. A signed device alert is refused after its
    signature is checked (use :func:`verify_smets1_device_alert`): returning
    None for it would pass an alert off as a response that carried no data.
    """
    _, message, smets1 = _signed_smets1(xml_bytes, certificate_pem)
    if smets1.find(f"{_sr('Body')}/{_sr('DeviceAlertMessage')}") is not None:
        raise DuisError("this is a SMETS1 device alert, not a response: "
                        "use verify_smets1_device_alert")
    signed_srv = smets1.findtext(f"{_sr('Header')}/{_ra('ServiceReferenceVariant')}")
    outer_srv = message.findtext(_sr("ServiceReferenceVariant"))
    if outer_srv is not None and signed_srv is not None and outer_srv != signed_srv:
        raise DuisError(f"the unsigned ServiceReferenceVariant {outer_srv} disagrees with the "
                        f"signed one, {signed_srv}")
    data = smets1.find(f"{_sr('Body')}/{_sr('ResponseMessage')}/{_ra('SMETSData')}")
    members = [] if data is None else [c for c in data if isinstance(c.tag, str)]
    return (etree.QName(members[0]).localname if members else None), smets1


def render_smets1_device_alert(
    alert: Alert,
    signer: S1spSigner,
    *,
    service_user_eui: str,
    counter: int,
    schema_version: str = "5.4",
) -> bytes:
    """A SMETS1 device's alert as the DCC delivers it, signed by the S1SP (UTF-8 XML).

    A SMETS1 device has no GBCS signature of its own, so its alert reaches a
    DUIS user the way its responses do: ``sr:Response/Body/
    SMETS1ResponseMessage`` holding a signed ``SMETS1Response`` whose body
    is the MMC ``DeviceAlertMessage`` (the schema's second choice beside
    ``ResponseMessage``). ``DeviceAlertContent`` carries the alert code
    (``GBCSHexAlertCode``, the head-end's hex code), the device's ``detail``
    as ``AlertDescription`` (the code itself when there is none, since the
    element is required) and the time raised. No ``Payload``: the emulator's
    power and voltage alerts are none of the few codes the MMC schema gives
    extra data.

    Header choices, all schema-valid. The schema makes both RequestID and
    ResponseID optional in ``sr:Response`` and comments on neither.

    * RequestID is left out. An alert answers no request. An invented one
      would make an adaptor that pairs responses with requests by RequestID
      file the alert under a request the user never sent.
    * ResponseID is ``device:service user:counter``. That is a response's
      pattern (responder, recipient, counter), and it repeats the signed
      header's BusinessOriginatorID, BusinessTargetID and OriginatorCounter,
      so the unsigned copy can be checked against the signed one
      (:func:`verify_smets1_device_alert` does).
    * ``counter`` is the alert's OriginatorCounter. The emulator's Alert
      carries none, so the caller numbers them (s1bench: per device, in the
      order raised). ResponseCode is I0, as for every delivered alert in
      s1bench (:func:`render_dcc_alert`).
    * The outer ServiceReference/ServiceReferenceVariant are left out
      (optional): no SRV caused the alert.
    """
    code = str(alert.code).strip().upper()
    if not code or not _HEX_RE.match(code):
        raise DuisError(f"alert code {alert.code!r} is not hex bytes (GBCSHexAlertCode)")
    if isinstance(counter, bool) or not isinstance(counter, int) or not 0 <= counter < 2**64:
        raise DuisError(f"alert counter {counter!r} is outside 0..2**64-1")
    version = _schema_version(schema_version)
    device = _eui("alert device", alert.device)
    user = _eui("service_user_eui", service_user_eui)
    when = _aware(alert.raised_at, "alert raised_at")

    signed_root = etree.Element(_sr("SMETS1SignedResponse"), nsmap={"sr": SR_NS, "ra": RA_NS})
    signed_root.set("schemaVersion", version)
    smets1 = _sub(signed_root, _sr("SMETS1Response"))
    header = _sub(smets1, _sr("Header"))
    for name, text in (("BusinessOriginatorID", device), ("BusinessTargetID", user),
                       ("OriginatorCounter", str(counter)), ("Timestamp", when)):
        _sub(header, _ra(name), text)
    content = _sub(_sub(_sub(smets1, _sr("Body")), _sr("DeviceAlertMessage")),
                   _ra("DeviceAlertContent"))
    _sub(content, _ra("GBCSHexAlertCode"), code)
    _sub(content, _ra("AlertDescription"), _text(alert.detail or f"alert {code}", _MAX_ALERT_TEXT))
    _sub(content, _ra("Timestamp"), when)
    signed_root.append(signature_placeholder())
    etree.indent(signed_root, level=3)  # Response > Body > SMETS1ResponseMessage > here
    signed = signer.sign(signed_root)

    root = etree.Element(_sr("Response"), nsmap={"sr": SR_NS})
    root.set("schemaVersion", version)
    outer = _sub(root, _sr("Header"))
    _sub(outer, _sr("ResponseID"), f"{device}:{user}:{counter}")
    _sub(outer, _sr("ResponseCode"), "I0")
    _sub(outer, _sr("ResponseDateTime"), when)
    message = _sub(_sub(root, _sr("Body")), _sr("SMETS1ResponseMessage"))
    slot = _sub(message, _sr("SMETS1SignedResponse"))
    etree.indent(root)
    _embed(slot, signed)
    return _document(root)


def verify_smets1_device_alert(
    xml_bytes: bytes, certificate_pem: bytes | str
) -> tuple[str, etree._Element]:
    """Check a SMETS1 device alert's S1SP signature; return its alert code and the verified
    ``SMETS1Response``.

    The signature covers only ``SMETS1SignedResponse``, so the outer
    ResponseID, which an adaptor reads first, is compared with the signed
    header: a ResponseID naming another device, user or counter is refused
    with :class:`DuisError`, as is a document that is not a device alert.
    Raises :class:`~s1bench.harness.dcc.signing.SignatureInvalid` for a bad
    signature.
    """
    root, _, smets1 = _signed_smets1(xml_bytes, certificate_pem)
    content = smets1.find(f"{_sr('Body')}/{_sr('DeviceAlertMessage')}/{_ra('DeviceAlertContent')}")
    if content is None:
        raise DuisError("the signed SMETS1Response is not a device alert with DeviceAlertContent")
    code = content.findtext(_ra("GBCSHexAlertCode"))
    if not code:
        raise DuisError("the signed device alert has no GBCSHexAlertCode")
    header = smets1.find(_sr("Header"))
    assert header is not None  # required by the schema, and signed
    signed_id = ":".join(header.findtext(_ra(name)) or "" for name in
                         ("BusinessOriginatorID", "BusinessTargetID", "OriginatorCounter"))
    outer_id = root.findtext(f"{_sr('Header')}/{_sr('ResponseID')}")
    if outer_id is not None and outer_id.strip().upper() != signed_id.upper():
        raise DuisError(f"the unsigned ResponseID {outer_id} disagrees with the signed header, "
                        f"{signed_id}")
    return code, smets1


def render_s1sp_alert(
    code: str,
    when: datetime,
    signer: S1spSigner,
    *,
    request_id: RequestID | str | None = None,
    device_id: str | None = None,
    info: str | None = None,
    utrn: str | None = None,
    schema_version: str = "5.4",
) -> bytes:
    """A signed ``sr:S1SPAlert`` document (UTF-8 XML) from the S1SP.

    ``sr:S1SPAlert`` is a global element of the DUIS schema, so it stands as
    a document's root, and that is the document the S1SP signs. A DSP that
    forwards it wraps it in ``DCCAlertMessage/DCCAlert/S1SPAlertDSP``. The
    schema leaves S1SPAlertCode an open string. ``info`` becomes
    AdditionalInformation, and ``utrn`` must be the 20 digits of a UTRN.
    """
    text = str(code).strip()
    if not text:
        raise DuisError("S1SPAlertCode is empty")
    moment = _aware(when, "S1SPAlert DateTime")
    root = etree.Element(_sr("S1SPAlert"), nsmap={"sr": SR_NS})
    root.set("schemaVersion", _schema_version(schema_version))
    if request_id is not None:
        _sub(root, _sr("RequestID"), _checked_ids(_request_id(request_id))[0])
    if device_id is not None:
        _sub(root, _sr("DeviceID"), _eui("DeviceID", device_id))
    _sub(root, _sr("S1SPAlertCode"), text)
    if info is not None:
        _sub(root, _sr("AdditionalInformation"), str(info))
    if utrn is not None:
        if not _UTRN_RE.match(str(utrn)):
            raise DuisError(f"UTRN {utrn!r} is not 20 digits")
        _sub(root, _sr("UTRN"), str(utrn))
    _sub(root, _sr("DateTime"), moment)
    root.append(signature_placeholder())
    etree.indent(root)
    return _document(signer.sign(root))


def render_dcc_alert(
    code: str,
    when: datetime,
    *,
    device_id: str,
    request_id: RequestID | str | None = None,
    info: str | None = None,
    alert: str | None = None,
    schema_version: str = "5.4",
) -> bytes:
    """A DCC alert: ``sr:Response`` with ``Body/DCCAlertMessage`` (UTF-8 XML, unsigned).

    The code is the caller's choice. It must be in the schema's
    DCCAlertCode list (:data:`DCC_ALERT_CODES`), since s1bench holds no table
    of what each code means. The schema requires one ``sr:DCCAlert`` member,
    named by ``alert`` (:data:`DCC_ALERT_MEMBERS`). With a ``request_id``
    the default is CommandFailure. Without one, only CoSCertificateAlert fits,
    and it must be named. The header's ResponseCode is I0 (the alert itself is
    information), the time is ``when``, and RequestID/ResponseID are written
    when a request is given: such an alert is the DCC's later word on that
    request (a failed command, a completed 6.23), so an adaptor can file it
    with the request, while the body's member says it is an alert. A device
    alert answers no request and carries no RequestID
    (:func:`render_smets1_device_alert`). The schema has no free-text field
    for DCC alerts, so ``info`` is written as an XML comment. For the CoS loss
    alert use :data:`COS_LOSS_ALERT_CODE` and ``alert="ChangeOfSupplier"``.
    """
    if code not in DCC_ALERT_CODES:
        raise DuisError(
            f"DCC alert code {code!r} is not in the DUIS 5.4 DCCAlertCode list: "
            f"{', '.join(DCC_ALERT_CODES)}"
        )
    member = alert or ("CommandFailure" if request_id is not None else None)
    if member is None:
        raise DuisError("a DCC alert without a request_id must name its alert member; only "
                        "CoSCertificateAlert carries a device alone")
    if member not in DCC_ALERT_MEMBERS:
        raise DuisError(f"DCC alert member {member!r} is not one s1bench writes: "
                        f"{', '.join(DCC_ALERT_MEMBERS)}")
    if member in _NEEDS_REQUEST and request_id is None:
        raise DuisError(f"DCC alert {member} carries {DCC_ALERT_MEMBERS[member]}: give request_id")
    moment = _aware(when, "DCC alert time")
    device = _eui("device_id", device_id)
    ids = _checked_ids(_request_id(request_id)) if request_id is not None else None

    root = etree.Element(_sr("Response"), nsmap={"sr": SR_NS})
    root.set("schemaVersion", _schema_version(schema_version))
    header = _sub(root, _sr("Header"))
    if ids is not None:
        _sub(header, _sr("RequestID"), ids[0])
        _sub(header, _sr("ResponseID"), ids[1])
    _sub(header, _sr("ResponseCode"), "I0")
    _sub(header, _sr("ResponseDateTime"), moment)
    body = _sub(root, _sr("Body"))
    if info:
        body.append(etree.Comment(_comment_text(f"s1bench: {info}")))
    message = _sub(body, _sr("DCCAlertMessage"))
    _sub(message, _sr("DCCAlertCode"), code)
    content = _sub(_sub(message, _sr("DCCAlert")), _sr(member))
    if member == "CommandFailure":
        assert ids is not None
        _sub(content, _sr("CommandRequestID"), ids[0])
        _sub(content, _sr("DeviceID"), device)
    elif member == "ChangeOfSupplier":
        assert ids is not None
        _sub(content, _sr("ChangeOfSupplierServiceRequestID"), ids[0])
    elif member == "UpdateHANDeviceLogResult":
        assert ids is not None
        _sub(content, _sr("UpdateHANDeviceLogServiceRequestID"), ids[0])
    else:
        _sub(content, _sr("DeviceID"), device)
    etree.indent(root)
    return _document(root)
