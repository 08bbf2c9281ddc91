"""The SMETS1 service, logs family: SRV specs, head-end commands and SMETSData builders.

Each family module extends the shared tables by registration (`SRVS`,
`HEADEND`, `SMETS_ELEMENT` and its builders, `duis_xml.NESTED_PARSERS`), so
the families grow side by side without editing one another's files.

This family reads what a meter records over time (profiles, daily reads,
billing data logs, maximum demand, network data, prepayment history), the
auxiliary load control switches and controllers of an ESME, the device's own
credentials and firmware activation, and the comms hub's device-log restore
and sub-GHz configuration. The meter side is :mod:`s1bench.emulator.meter_logs`
(a seeded consumption model the register follows) and the HAN side
:mod:`s1bench.emulator.hub_services_logs`.

Handlers report values in the units the device keeps: Wh for electricity,
dm3 for gas (written here as m3 with three decimals), W for power, V for
voltage, pence for prepayment registers; timestamps are UTC. Where an MMC
type needs a value no handler reports, :data:`FILLED` says what is written.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import serialization
from lxml import etree
from s1bench.emulator.meter_logs import ASN1, ASN1_STATUSES
from s1bench.harness import duis_xml

from . import smets_response as sr
from .s1sp import HEADEND
from .signing import S1spSigner
from .smets_response import (
    _ASN1_NOT_REPORTED,
    _DEVICE_TYPE_ALIASES,
    _DEVICE_TYPES,
    _ROLES,
    _builds,
    _Context,
    _decimal,
    _eui,
    _integer,
    _moment,
    _ra,
    _status_asn1,
    _sub,
    _text,
)
from .srvs import CHF, ESME, GSME, SRVS, ParamSpec, SrvSpec

METERS = (ESME, GSME)

# --------------------------------------------------------------------------- SRV specs


def _period(**extra: ParamSpec) -> dict[str, ParamSpec]:
    """ReadLogPeriod: the DUIS leaves StartDateTime and EndDateTime."""
    return {"StartDateTime": ParamSpec("datetime", required=True),
            "EndDateTime": ParamSpec("datetime", required=True), **extra}


_CREDENTIAL_TYPE = ParamSpec("enum", required=True,
                             choices=("Digital Signature", "Key Agreement"))
_CONTROLLER_STATE = {
    "StartDateTime": ParamSpec("datetime", required=True),
    "EndDateTime": ParamSpec("datetime", required=True),
    "CommandedStateLevel": ParamSpec("int", required=True, minimum=0, maximum=100),
}

#: (SRV, DUIS name, targets, head-end command, fixed arguments, summary, parameters).
_FAMILY: tuple[tuple[str, str, tuple[str, ...], str, dict[str, Any], str,
                     dict[str, ParamSpec]], ...] = (
    ("4.2", "ReadInstantaneousExportRegisters", (ESME,), "read_export_register", {},
     "Read the export register", {}),
    ("4.4.2", "RetrieveCoMOrTariffTriggeredBillingDataLog", METERS, "read_billing_log",
     {"Trigger": "Tariff"}, "Billing data captured at tariff and payment-mode changes",
     _period()),
    ("4.4.3", "RetrieveBillingCalendarTriggeredBillingDataLog", METERS, "read_billing_log",
     {"Trigger": "Calendar"}, "Billing data captured by the billing calendar", _period()),
    ("4.4.4", "RetrieveBillingDataLogDebtPayments", METERS, "read_debt_log", {},
     "Payment-based debt repayments", _period()),
    ("4.4.5", "RetrieveBillingDataLogPrepaymentCredits", METERS, "read_top_up_log", {},
     "Prepayment credits (top-ups)", _period()),
    ("4.6.1", "RetrieveImportDailyReadLog", METERS, "read_daily_reads", {},
     "The import register at each midnight", _period()),
    ("4.6.2", "RetrieveExportDailyReadLog", (ESME,), "read_export_daily_reads", {},
     "The export register at each midnight", _period()),
    ("4.8.1", "ReadActiveImportProfileData", METERS, "read_profile", {"Channel": "Import"},
     "Half-hour active import profile", _period()),
    ("4.8.2", "ReadReactiveImportProfileData", (ESME,), "read_reactive_profile", {},
     "Half-hour reactive import profile", _period()),
    ("4.8.3", "ReadExportProfileData", (ESME,), "read_profile", {"Channel": "Export"},
     "Half-hour export profile", _period()),
    ("4.10", "ReadNetworkData", METERS, "read_network_data", {},
     "Voltage data (ESME) or the gas network data log (GSME)", _period()),
    ("4.12.1", "ReadMaximumDemandImportRegisters", (ESME,), "read_max_demand",
     {"Direction": "Import"}, "Maximum demand import registers", {}),
    ("4.12.2", "ReadMaximumDemandExportRegisters", (ESME,), "read_max_demand",
     {"Direction": "Export"}, "Maximum demand export register", {}),
    ("4.14", "ReadPrepaymentDailyReadLog", METERS, "read_prepay_daily_reads", {},
     "Prepayment values at each midnight", _period()),
    ("4.16", "ReadActivePowerImport", (ESME,), "read_active_power", {},
     "Instantaneous active power import", {}),
    ("4.17", "RetrieveDailyConsumptionLog", METERS, "read_daily_consumption", {},
     "Each day's consumption", _period()),
    ("6.14.1", "UpdateDeviceConfigurationALCDescriptions", (ESME,), "alc_descriptions", {},
     "Describe the auxiliary load control switches", {}),
    ("6.14.2", "UpdateDeviceConfigurationALCScheduler", (ESME,), "alc_schedule", {},
     "Set the auxiliary load control switching schedule", {}),
    ("6.15.2", "UpdateSecurityCredentialsDevice", METERS, "update_device_credential", {},
     "Replace the device's own certificate",
     {"DeviceCertificate": ParamSpec("str", required=True)}),
    ("6.17", "IssueSecurityCredentials", METERS, "issue_device_credential", {},
     "The device generates a key pair and a certification request",
     {"CredentialType": _CREDENTIAL_TYPE}),
    ("6.18.1", "SetMaximumDemandConfigurableTimePeriod", (ESME,), "set_max_demand_period", {},
     "The daily period of the configurable maximum demand register",
     {"StartTime": ParamSpec("str", required=True, maximum=20),
      "EndTime": ParamSpec("str", required=True, maximum=20)}),
    ("6.18.2", "ResetMaximumDemandRegisters", (ESME,), "reset_max_demand", {},
     "Reset maximum demand registers", {}),
    ("6.21", "RequestHandoverOfDCCControlledDevice", METERS, "replace_party_credentials", {},
     "Hand a device over: replace a supplier's or network operator's credentials",
     {"RemotePartyRole": ParamSpec("enum", required=True,
                                   choices=("Supplier", "NetworkOperator")),
      "RemotePartyFloorSeqNumber": ParamSpec("int", minimum=0, maximum=2**64 - 1),
      "RemotePartyPrepaymentTopUpFloorSeqNumber": ParamSpec("int", minimum=0,
                                                            maximum=2**64 - 1)}),
    ("6.24.2", "RetrieveDeviceSecurityCredentialsDevice", METERS, "read_device_credential",
     {}, "Read the device's own certificate", {"CredentialType": _CREDENTIAL_TYPE}),
    ("6.28", "SetCHFSubGHzConfiguration", (CHF,), "sub_ghz", {"Action": "Set"},
     "Set the comms hub's sub-GHz configuration", {}),
    ("6.29", "RequestCHFSubGHzChannelScan", (CHF,), "sub_ghz", {"Action": "Scan"},
     "Ask the comms hub for a sub-GHz channel scan", {}),
    ("6.30", "ReadCHFSubGHzConfiguration", (CHF,), "sub_ghz",
     {"Action": "ReadConfiguration"}, "Read the comms hub's sub-GHz configuration", {}),
    ("6.31", "ReadCHFSubGHzChannel", (CHF,), "sub_ghz", {"Action": "ReadChannel"},
     "Read the comms hub's operating sub-GHz channel", {}),
    ("6.32", "ReadCHFSubGHzChannelLog", (CHF,), "sub_ghz", {"Action": "ReadLog"},
     "Read the comms hub's sub-GHz channel log", _period()),
    ("7.7", "ReadALCSData", (ESME,), "read_alc", {"Part": "All"},
     "Read the auxiliary load control switches", {}),
    ("7.8", "ResetAuxiliaryLoad", (ESME,), "alc_action", {"Action": "Reset"},
     "Return an auxiliary load to its schedule",
     {"AuxiliaryLoad": ParamSpec("int", minimum=1, maximum=5,
                                 aliases=("ResetALCSHCALCS@index",))}),
    ("7.12", "SetRandomisedOffsetLimit", (ESME,), "alc_action",
     {"Action": "RandomisedOffsetLimit"}, "Set the randomised offset limit",
     {"RandomisedOffsetLimit": ParamSpec("int", required=True, minimum=0, maximum=65535)}),
    ("7.13", "SetAuxiliaryControllerState", (ESME,), "alc_action", {"Action": "State"},
     "Command an auxiliary controller's state for a period",
     {"AuxiliaryController": ParamSpec(
         "int", minimum=1, maximum=5,
         aliases=("SetAuxiliaryControllerState@auxiliaryControllerN",)),
      **_CONTROLLER_STATE}),
    ("7.14", "ReadAuxiliaryControllerConfigurationData", (ESME,), "read_alc",
     {"Part": "Configuration"}, "Read the auxiliary controllers' configuration", {}),
    ("7.15", "ReadAuxiliaryControllerOperationalData", (ESME,), "read_alc",
     {"Part": "Operational"}, "Read the auxiliary controllers' states", {}),
    ("7.16", "LimitAPCLevel", (ESME,), "alc_action", {"Action": "Limit"},
     "Limit an auxiliary proportional controller's level for a period",
     {"AuxiliaryController": ParamSpec(
         "int", minimum=1, maximum=5, aliases=("LimitAPCLevel@auxiliaryControllerN",)),
      **_CONTROLLER_STATE}),
    ("8.1.1", "CommissionDeviceSynchroniseClock", METERS, "commission_device", {},
     "Commission a device and set its clock",
     {"CurrentDateTime": ParamSpec("datetime"),
      "TolerancePeriod": ParamSpec("int", minimum=0, maximum=86_400, default=60)}),
    ("8.5", "ServiceOptOut", METERS, "replace_party_credentials",
     {"RemotePartyRole": "ACB"}, "Opt out: replace the ACB's key agreement credentials",
     {"RemotePartyFloorSeqNumber": ParamSpec("int", minimum=0, maximum=2**64 - 1,
                                             aliases=("ACBFloorSeqNumber",))}),
    ("8.12.1", "RestoreHANDeviceLog", (CHF,), "restore_device_log", {},
     "Restore the comms hub's device log", {"OldCHFID": ParamSpec("eui64")}),
    ("8.12.2", "RestoreGPFDeviceLog", (GSME,), "restore_meter_joins", {},
     "Restore the gas meter's joins (SMETS1 has no GPF)", {"OldGPFID": ParamSpec("eui64")}),
    ("11.3", "ActivateFirmware", METERS, "activate_firmware", {},
     "Activate the firmware image the device holds",
     {"FirmwareHash": ParamSpec("hex", required=True, minimum=32, maximum=32)}),
    ("14.1", "RecordNetworkDataGAS", (GSME,), "record_network_data", {},
     "Record a gas network data sample", {}),
)

for _srv, _name, _targets, _op, _fixed, _summary, _params in _FAMILY:
    SRVS[_srv] = SrvSpec(_srv, _name, _targets, dict(_params), _summary)
    HEADEND[_srv] = (_op, dict(_fixed))
    sr.SMETS_ELEMENT[_srv] = f"{_name}Rsp"

#: SRV -> what the MMC type needed that no handler reports, and what is written instead.
FILLED: dict[str, str] = {
    "4.8.1": "Gas PrimaryValue is m3: the GSME's dm3 with three decimals. Timestamp is the "
             "period's start; a period is returned when it lies wholly in ReadLogPeriod.",
    "4.10": "The voltage counters carry no Unit (they count half-hours).",
    "4.12.1": "Value is W: the highest half-hour's energy times two (its average power). "
              "CaptureTime is the end of that half-hour; none before the first completes.",
    "6.15.2": "UpdateSecurityCredentialsResponseCode is ASN1Status success; a refusal "
              "carries the device's ASN.1 status. ResponseCode is the status's place in the "
              "MMC ASN1Status enumeration (s1bench's numbering: GBCS numbers are not in its "
              "sources).",
    "6.17": "As 6.15.2 for IssueCredentialsResponseCode.",
    "6.21": "Each ReplacementOutcome is ASN1Status success for a certificate the request "
            "carried; CredentialsReplacementMode follows the role (SupplierBySupplier, "
            "NetworkOperatorByNetworkOperator).",
    "6.24.2": "As 6.15.2 for RetrieveDeviceSecurityCredentialsStatusCode.",
    "8.1.1": "ElecClockTimeStatus TimeStatusCode and GasClockTimeStatus ResponseCode are the "
             "status's place in the MMC ASN1Status enumeration.",
    "8.5": "As 6.21, with CredentialsReplacementMode ACBByACB.",
    "8.12.2": "joinResponseCode is ASN1Status success, or notKnown with the device's "
              "management status as ResponseCode.",
    "11.3": "As 6.15.2 for ActivateImageResponseCode.",
}
sr.FILLED_GAPS.update(FILLED)

# --------------------------------------------------------------------------- values


def _fuel(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> etree._Element:
    """The Electricity or Gas member of a type that has both: from the body, else the
    device type (a refusal's body is empty)."""
    fuel = body.get("Fuel") or ("Gas" if ctx.device_type == GSME else "Electricity")
    if fuel not in ("Electricity", "Gas"):
        raise ctx.error(f"Fuel {fuel!r} is not Electricity or Gas")
    return _sub(el, _ra(fuel))


def _m3(ctx: _Context, name: str, dm3: Any) -> str:
    return format(Decimal(_integer(ctx, name, dm3)) / 1000, "f")


def _energy(ctx: _Context, fuel: str, name: str, value: Any) -> str:
    """Wh as an integer, or gas dm3 as m3."""
    return _m3(ctx, name, value) if fuel == "Gas" else _integer(ctx, name, value)


def _rows(body: Mapping[str, Any], key: str, limit: int, ctx: _Context) -> list[Mapping[str, Any]]:
    rows = body.get(key) or []
    if len(rows) > limit:
        raise ctx.error(f"{len(rows)} {key} entries; the MMC type holds at most {limit}")
    return rows


def _asn1(parent: etree._Element, tag: str, ctx: _Context, ok: bool = True) -> None:
    """A StatusASN1: success, or the device's refusal status."""
    if ok and ctx.message_success:
        _status_asn1(parent, _ra(tag), "success", ASN1["success"])
        return
    code = ctx.device_status if ctx.device_status is not None else _ASN1_NOT_REPORTED
    name = ASN1_STATUSES[code] if 0 < code < len(ASN1_STATUSES) else "notKnown"
    _status_asn1(parent, _ra(tag), name, code)


def _prepayment(parent: etree._Element, tag: str, row: Mapping[str, Any],
                ctx: _Context) -> None:
    entry = _sub(parent, _ra(tag))
    for key, element in (("AccumulatedDebt", "AccumulatedDebtRegister"),
                         ("EmergencyCredit", "EmergencyCreditBalance"),
                         ("MeterBalance", "MeterBalance")):
        if row.get(key) is not None:
            _sub(entry, _ra(element), _integer(ctx, key, row[key]))
    _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))



# --------------------------------------------------------------------------- builders


@_builds("4.2")
def _export_register(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if body.get("ExportRegister") is not None:
        register = _sub(el, _ra("ActiveExportRegister"))
        _sub(register, _ra("Value"), _integer(ctx, "ExportRegister", body["ExportRegister"]))
        _sub(register, _ra("ActiveEnergyUnit"), "Wh")


@_builds("4.4.2")
def _tariff_billing(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """Register entries first, then the prepayment state at each change."""
    fuel = _fuel(el, body, ctx)
    gas = etree.QName(fuel).localname == "Gas"
    for row in _rows(body, "Billing", 12, ctx):
        if gas:
            entry = _sub(fuel, _ra("LogEntryConsumptionRegister"))
            _sub(entry, _ra("ConsumptionRegister"), _m3(ctx, "Register", row["Register"]))
            _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))
        else:
            entry = _sub(fuel, _ra("LogEntryConsumptionAndTariffRegistersData"))
            _sub(entry, _ra("ActiveImportRegisterConsumption"),
                 _integer(ctx, "Register", row["Register"]))
            _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))
    for row in _rows(body, "Prepayment", 12, ctx):
        _prepayment(fuel, "LogEntryPrepaymentData", row, ctx)


@_builds("4.4.3")
def _calendar_billing(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    fuel = _fuel(el, body, ctx)
    prefix = "GSME" if etree.QName(fuel).localname == "Gas" else "ESME"
    for row in _rows(body, "Billing", 12, ctx):
        entry = _sub(fuel, _ra(f"{prefix}BillingDataLogEntry"))
        _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))
        _sub(entry, _ra("ActiveImportRegisterValueConsumption"),
             _energy(ctx, "Gas" if prefix == "GSME" else "Electricity", "Register",
                     row["Register"]))
    for row in _rows(body, "Prepayment", 12, ctx):
        _prepayment(fuel, f"{prefix}BillingPrepaymentDataLogEntry", row, ctx)


def _amount_log(el: etree._Element, container: str, rows: list[Mapping[str, Any]],
                ctx: _Context) -> None:
    log = _sub(el, _ra(container))
    for row in rows:
        entry = _sub(log, _ra("LogEntry"))
        _sub(entry, _ra("Amount"), _integer(ctx, "Amount", row["Amount"]))
        _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))


@_builds("4.4.4")
def _debt_payments(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if "DebtPayments" in body:
        _amount_log(el, "PaymentBasedDebtRepayment", _rows(body, "DebtPayments", 10, ctx), ctx)


@_builds("4.4.5")
def _top_ups(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if "TopUps" in body:
        _amount_log(el, "PrepaymentCredits", _rows(body, "TopUps", 5, ctx), ctx)


@_builds("4.6.1")
def _daily_reads(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for row in _rows(body, "Reads", 31, ctx):
        entry = _sub(el, _ra("LogEntry"))
        _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))
        fuel = _fuel(entry, body, ctx)
        if etree.QName(fuel).localname == "Gas":
            _sub(fuel, _ra("GasActiveImportRegisterConsumption"),
                 _m3(ctx, "Register", row["Register"]))
        else:
            _sub(fuel, _ra("ElecActiveImportRegisterConsumption"),
                 _integer(ctx, "Register", row["Register"]))


@_builds("4.6.2")
def _export_daily_reads(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for row in _rows(body, "Reads", 31, ctx):
        entry = _sub(el, _ra("LogEntry"))
        _sub(entry, _ra("ActiveExportRegisterValue"), _integer(ctx, "Register", row["Register"]))
        _sub(entry, _ra("TimeStamp"), _moment(ctx, "Timestamp", row["Timestamp"]))


@_builds("4.8.1")
def _import_profile(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    fuel = body.get("Fuel") or ("Gas" if ctx.device_type == GSME else "Electricity")
    for row in _rows(body, "Periods", 19_056, ctx):
        entry = _sub(el, _ra("LogEntry"))
        _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))
        _sub(_sub(entry, _ra(fuel)), _ra("PrimaryValue"),
             _energy(ctx, fuel, "Value", row["Value"]))


@_builds("4.8.2")
def _reactive_profile(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for row in _rows(body, "Periods", 4_464, ctx):
        entry = _sub(el, _ra("LogEntry"))
        _sub(entry, _ra("ReactiveEnergyImportedValue"), _integer(ctx, "Value", row["Value"]))
        _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))


@_builds("4.8.3")
def _export_profile(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for row in _rows(body, "Periods", 4_464, ctx):
        entry = _sub(el, _ra("LogEntry"))
        _sub(entry, _ra("ActiveEnergyExportedValue"), _integer(ctx, "Value", row["Value"]))
        _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))


def _counter(parent: etree._Element, tag: str, value: Any, ctx: _Context) -> None:
    if value is not None:
        _sub(_sub(parent, _ra(tag)), _ra("Value"), _integer(ctx, tag, value))


@_builds("4.10")
def _network_data(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    fuel = _fuel(el, body, ctx)
    if etree.QName(fuel).localname == "Gas":
        if "NetworkData" in body:
            log = _sub(fuel, _ra("NetworkDataLog"))
            for row in _rows(body, "NetworkData", 41, ctx):
                entry = _sub(log, _ra("LogEntry"))
                _sub(entry, _ra("Value"), _m3(ctx, "Value", row["Value"]))
                _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))
        return
    if "Voltage" not in body and "OverVoltageCounter" not in body:
        return
    phase = _sub(fuel, _ra("SinglePhaseESME"))
    _counter(phase, "AvgRMSOverVoltageCounter", body.get("OverVoltageCounter"), ctx)
    _counter(phase, "AvgRMSUnderVoltageCounter", body.get("UnderVoltageCounter"), ctx)
    log = _sub(phase, _ra("AvgRMSVoltageProfileDataLog"))
    for row in _rows(body, "Voltage", 4_320, ctx):
        entry = _sub(log, _ra("LogEntry"))
        _sub(entry, _ra("Value"), _decimal(ctx, "Value", row["Value"]))
        _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))
    if body.get("MeasurementPeriod") is not None:
        _sub(log, _ra("MeasurementPeriod"),
             _integer(ctx, "MeasurementPeriod", body["MeasurementPeriod"]))


def _demand(parent: etree._Element, tag: str, values: Mapping[str, Any], ctx: _Context) -> None:
    register = _sub(parent, _ra(tag))
    _sub(register, _ra("Value"), _integer(ctx, "MaxDemand", values.get("MaxDemand", 0)))
    if values.get("CaptureTime"):
        _sub(register, _ra("CaptureTime"), _moment(ctx, "CaptureTime", values["CaptureTime"]))
    if values.get("LastReset"):
        _sub(register, _ra("LastResetDateTime"), _moment(ctx, "LastReset", values["LastReset"]))


def _clock_time(ctx: _Context, name: str, value: Any) -> str:
    text = str(value)
    if not text.endswith("Z") or len(text.split(":")) != 3:
        raise ctx.error(f"{name} {value!r} is not hh:mm:ssZ")
    return text


@_builds("4.12.1")
def _max_demand_import(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    configurable = body.get("Configurable")
    if configurable:
        _demand(el, "MaxDemandConfigurableTimeActivePowerImport", configurable, ctx)
    if "MaxDemand" in body:
        _demand(el, "MaxDemandActiveEnergyImport", body, ctx)
    if configurable:
        period = _sub(el, _ra("MaxDemandConfigurableTimePeriod"))
        _sub(period, _ra("StartTime"), _clock_time(ctx, "StartTime", configurable["StartTime"]))
        _sub(period, _ra("EndTime"), _clock_time(ctx, "EndTime", configurable["EndTime"]))


@_builds("4.12.2")
def _max_demand_export(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if "MaxDemand" in body:
        _demand(el, "MaxDemandActiveEnergyExport", body, ctx)


@_builds("4.14")
def _prepay_daily(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    fuel = _fuel(el, body, ctx)
    for row in _rows(body, "Prepayment", 31, ctx):
        _prepayment(fuel, "LogEntry", row, ctx)


@_builds("4.16")
def _active_power(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if body.get("ActivePowerImport") is None:
        return
    value = _integer(ctx, "ActivePowerImport", body["ActivePowerImport"])
    power = _sub(el, _ra("ActivePowerImport"))
    _sub(power, _ra("Value"), value)
    _sub(power, _ra("Unit"), str(body.get("Unit") or "W"))
    _sub(el, _ra("PrimaryActivePowerImportValue"), value)


@_builds("4.17")
def _daily_consumption(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    fuel = _fuel(el, body, ctx)
    name = etree.QName(fuel).localname
    for row in _rows(body, "Days", 731, ctx):
        entry = _sub(fuel, _ra("LogEntry"))
        _sub(entry, _ra("Value"), _energy(ctx, name, "Value", row["Value"]))
        _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))


@_builds("6.15.2")
def _device_credential_update(el: etree._Element, body: Mapping[str, Any],
                              ctx: _Context) -> None:
    _asn1(el, "UpdateSecurityCredentialsResponseCode", ctx)


@_builds("6.17")
def _device_credential_issue(el: etree._Element, body: Mapping[str, Any],
                             ctx: _Context) -> None:
    _asn1(el, "IssueCredentialsResponseCode", ctx)
    if body.get("CertificationRequest"):
        _sub(el, _ra("CertificationRequest"), str(body["CertificationRequest"]))


@_builds("6.24.2")
def _device_credential_read(el: etree._Element, body: Mapping[str, Any],
                            ctx: _Context) -> None:
    _asn1(el, "RetrieveDeviceSecurityCredentialsStatusCode", ctx)
    if body.get("Certificate"):
        _sub(el, _ra("Certificate"), str(body["Certificate"]))


_MODES = {"Supplier": "SupplierBySupplier", "NetworkOperator": "NetworkOperatorByNetworkOperator",
          "ACB": "ACBByACB"}


@_builds("6.21", "8.5")
def _party_credentials(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """ExecutionOutcome: the mode, the role's new floor sequence numbers, and one
    ReplacementOutcome per certificate replaced (at most three)."""
    role = body.get("RemotePartyRole")
    if role is None:
        return
    if role not in _ROLES:
        raise ctx.error(f"RemotePartyRole {role!r} is not one of {', '.join(sorted(_ROLES))}")
    outcome = _sub(el, _ra("ExecutionOutcome"))
    if role in _MODES:
        _sub(outcome, _ra("CredentialsReplacementMode"), _MODES[role])
    floors = [(name, body[name]) for name in ("RemotePartyFloorSeqNumber",
                                              "RemotePartyPrepaymentTopUpFloorSeqNumber")
              if body.get(name) is not None]
    if floors:
        change = _sub(outcome, _ra("RemotePartySeqNumberChange"))
        _sub(change, _ra("RemotePartyRole"), role)
        for name, value in floors:
            _sub(change, _ra(name), _integer(ctx, name, value))
    for certificate in (body.get("Certificates") or [])[:3]:
        replacement = _sub(outcome, _ra("ReplacementOutcome"))
        _status_asn1(replacement, _ra("StatusCode"), "success", ASN1["success"])
        _sub(replacement, _ra("CertificateType"), str(certificate))
        _sub(replacement, _ra("RemotePartyRole"), role)


_CHANNEL_SETS = ("LowerBandSubGHzChannels0To26", "LowerBandSubGHzChannels27To34",
                 "LowerBandSubGHzChannels35To61", "UpperBandSubGHzChannels0To26")
_SUB_GHZ_VALUES = ("NormalLimitedDutyCycleThreshold", "LimitedCriticalDutyCycleThreshold",
                   "MaximumSubGHzChannelChangesPerWeek", "GSMECurfew", "ChannelQuieterThreshold",
                   "ChannelNoisierThreshold", "NonGSMEPoorCommsPercentageThreshold",
                   "NonGSMEPoorCommsMeasurementPeriods", "LocalCHNoiseMeasurementPeriod",
                   "LocalCHFailurePercentage", "LocalCHRetryPercentage")
_SUB_GHZ_DECIMALS = frozenset({"NormalLimitedDutyCycleThreshold",
                               "LimitedCriticalDutyCycleThreshold",
                               "NonGSMEPoorCommsPercentageThreshold", "LocalCHFailurePercentage",
                               "LocalCHRetryPercentage"})


@_builds("6.30")
def _sub_ghz_configuration(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    configuration = body.get("Configuration") or {}
    for name in _CHANNEL_SETS:
        channels = configuration.get(name)
        if channels:
            group = _sub(el, _ra(name))
            for channel in sorted(int(c) for c in channels):
                _sub(group, _ra(f"Channel{channel}"))
    for name in _SUB_GHZ_VALUES:
        if configuration.get(name) is not None:
            value = configuration[name]
            _sub(el, _ra(name), _decimal(ctx, name, value) if name in _SUB_GHZ_DECIMALS
                 else _integer(ctx, name, value))


@_builds("6.32")
def _sub_ghz_log(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for row in _rows(body, "Log", 100, ctx):
        entry = _sub(el, _ra("LogEntry"))
        _sub(entry, _ra("Timestamp"), _moment(ctx, "Timestamp", row["Timestamp"]))
        if row.get("Description"):
            _sub(entry, _ra("EventDescription"), _text(row["Description"], 200))
        if row.get("ScanTrigger"):
            _sub(entry, _ra("ScanTrigger"), str(row["ScanTrigger"]))


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _date(parent: etree._Element, tag: str, value: Mapping[str, Any], ctx: _Context) -> None:
    """An MMC Date: each part specified or not."""
    node = _sub(parent, _ra(tag))
    for part, specified, unspecified in (("Year", "SpecifiedYear", "NonSpecifiedYear"),
                                         ("Month", "SpecifiedMonth", "NonSpecifiedMonth"),
                                         ("DayOfMonth", "SpecifiedDayOfMonth",
                                          "NonSpecifiedDayOfMonth"),
                                         ("DayOfWeek", "SpecifiedDayOfWeek",
                                          "NonSpecifiedDayOfWeek")):
        holder = _sub(node, _ra(part))
        given = value.get(part)
        if given in ("LastDayOfMonth", "SecondLastDayOfMonth"):
            _sub(holder, _ra(str(given)))
        elif given is None:
            _sub(holder, _ra(unspecified))
        else:
            _sub(holder, _ra(specified), _integer(ctx, part, given))


def _applicability(parent: etree._Element, entry: Mapping[str, Any], attr: str) -> None:
    for day in entry.get("SpecialDays") or []:
        _sub(parent, _ra("SpecialDaysApplicability")).set(attr, str(int(day)))
    days = entry.get("Days")
    if days:
        holder = _sub(parent, _ra("DaysOfWeekApplicability"))
        for day in sorted(days, key=_DAYS.index):
            _sub(_sub(holder, _ra("DayOfWeekApplicability")), _ra("DayOfWeekID"), day)


def _dates_and_time(parent: etree._Element, tag: str, entry: Mapping[str, Any],
                    ctx: _Context) -> None:
    node = _sub(parent, _ra(tag))
    _sub(node, _ra("SwitchTime"), _clock_time(ctx, "SwitchTime", entry["SwitchTime"]))
    _date(node, "StartDate", entry.get("StartDate") or {}, ctx)
    _date(node, "EndDate", entry.get("EndDate") or {}, ctx)


def _alc_schedule(parent: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for entry in (body.get("Schedule") or [])[:48]:
        schedule = _sub(parent, _ra("ALCSScheduler"))
        switch = _sub(schedule, _ra("ActivateDeactivateSwitch"))
        switch.set("index", str(int(entry["Switch"])))
        _sub(switch, _ra("ActivateSwitch" if entry.get("Activate") else "DeactivateSwitch"))
        _applicability(schedule, entry, "index")
        _dates_and_time(schedule, "ALCSScheduleDatesAndTime", entry, ctx)


def _switches(body: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    return {int(s["Switch"]): s for s in body.get("Switches") or []}


@_builds("7.7")
def _alcs_data(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """Each switch: its description, type (ALCS: s1bench's ESME switches are on the
    meter) and state; then the switching schedule."""
    if "Descriptions" not in body and "Switches" not in body:
        return
    descriptions = body.get("Descriptions") or {}
    states = _switches(body)
    for switch in range(1, 6):
        node = _sub(el, _ra("AuxiliaryLoadControlSwitch"))
        node.set("Index", str(switch))
        if descriptions.get(str(switch)):
            _sub(node, _ra("Description"), _text(descriptions[str(switch)], 22))
        _sub(_sub(node, _ra("TypeAndIdentifier")), _ra("ALCS"))
        if switch in states:
            _sub(node, _ra("State"), "true" if states[switch].get("Level") else "false")
    _alc_schedule(el, body, ctx)


@_builds("7.14")
def _controller_configuration(el: etree._Element, body: Mapping[str, Any],
                              ctx: _Context) -> None:
    """The ALCS descriptions and schedule, as auxiliary controllers (an activation is
    level 100, a deactivation level 0)."""
    for switch, text in sorted((body.get("Descriptions") or {}).items()):
        node = _sub(el, _ra("AuxiliaryControllerDescription"))
        node.set("auxiliaryControllerN", str(int(switch)))
        _sub(node, _ra("AuxiliaryControlDescription"), _text(text, 22))
    for entry in (body.get("Schedule") or [])[:120]:
        schedule = _sub(el, _ra("AuxiliaryControllerSchedule"))
        action = _sub(schedule, _ra("AuxiliaryControllerAction"))
        action.set("auxiliaryControllerN", str(int(entry["Switch"])))
        _sub(action, _ra("CommandedStateLevel"), "100" if entry.get("Activate") else "0")
        _applicability(schedule, entry, "identifier")
        _dates_and_time(schedule, "AuxiliaryControllerSchedulePeriodAndTime", entry, ctx)


@_builds("7.15")
def _controller_states(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for switch, state in sorted(_switches(body).items()):
        node = _sub(el, _ra("AuxiliaryControllerOperationalData"))
        node.set("auxiliaryControllerN", str(switch))
        _sub(_sub(node, _ra("TypeAndIdentifier")), _ra("AuxiliaryControllerType"), "ALCS")
        info = _sub(node, _ra("AuxiliaryControllerStateAndAssociatedInformation"))
        _sub(info, _ra("OutputState"), _integer(ctx, "Level", state.get("Level", 0)))


@_builds("8.1.1")
def _commission(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if body.get("DeviceDateTime") is None:
        return
    _sub(el, _ra("DeviceTime"), _moment(ctx, "DeviceDateTime", body["DeviceDateTime"]))
    status = str(body.get("ClockStatus") or "reliable")
    if status not in ASN1:
        raise ctx.error(f"ClockStatus {status!r} is not reliable, invalid or unreliable")
    fuel = _fuel(el, body, ctx)
    if etree.QName(fuel).localname == "Gas":
        _status_asn1(fuel, _ra("GasClockTimeStatus"), status, ASN1[status])
    else:
        node = _sub(fuel, _ra("ElecClockTimeStatus"))
        node.set("TimeStatusCode", str(ASN1[status]))
        _sub(node, _ra("TimeStatus"), status)


@_builds("8.12.2")
def _restore_joins(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for outcome in body.get("Outcomes") or []:
        node = _sub(el, _ra("RestoreDeviceLogOutcome"))
        entry = _sub(node, _ra("DeviceLogEntry"))
        _sub(entry, _ra("DeviceID"), _eui("DeviceID", outcome["DeviceID"]))
        kind = _DEVICE_TYPE_ALIASES.get(outcome["DeviceType"], outcome["DeviceType"])
        if kind not in _DEVICE_TYPES:
            raise ctx.error(f"DeviceType {kind!r} is not one of {', '.join(sorted(_DEVICE_TYPES))}")
        _sub(entry, _ra("DeviceType"), kind)
        if outcome.get("Joined"):
            _status_asn1(node, _ra("joinResponseCode"), "success", ASN1["success"])
        else:
            _status_asn1(node, _ra("joinResponseCode"), "notKnown",
                         int(outcome.get("Status") or _ASN1_NOT_REPORTED))


@_builds("11.3")
def _activate_firmware(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    _asn1(el, "ActivateImageResponseCode", ctx, ok=bool(body.get("Activated")))
    version = body.get("FirmwareVersion")
    if version:
        text = str(version)
        if len(text) > 8:
            raise ctx.error(f"FirmwareVersion {text!r} is longer than 8 characters")
        _sub(el, _ra("FirmwareVersion"), text)


@_builds("14.1")
def _network_sample(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if body.get("SampleID") is not None:
        _sub(el, _ra("SampleID"), _integer(ctx, "SampleID", body["SampleID"]))


# --------------------------------------------------------------------------- nested parsers


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in node if isinstance(c.tag, str) and _local(c) == name]


def _child(node: etree._Element, name: str) -> etree._Element | None:
    found = _children(node, name)
    return found[0] if found else None


def _leaf(node: etree._Element | None, name: str) -> str | None:
    found = None if node is None else _child(node, name)
    return None if found is None else (found.text or "").strip()


def _parse_date(node: etree._Element | None) -> dict[str, Any]:
    """An MMC/DUIS Date: {part: number, or a marker name; absent when not specified}."""
    out: dict[str, Any] = {}
    if node is None:
        return out
    for part, specified in (("Year", "SpecifiedYear"), ("Month", "SpecifiedMonth"),
                            ("DayOfMonth", "SpecifiedDayOfMonth"),
                            ("DayOfWeek", "SpecifiedDayOfWeek")):
        holder = _child(node, part)
        if holder is None:
            continue
        value = _leaf(holder, specified)
        if value is not None:
            out[part] = int(value)
        for marker in ("LastDayOfMonth", "SecondLastDayOfMonth"):
            if _child(holder, marker) is not None:
                out[part] = marker
    return out


def _switch_time(text: str | None) -> str:
    """hh:mm:ss(.ff)Z as hh:mm:ssZ."""
    value = (text or "").strip()
    return value.split(".")[0].rstrip("Z") + "Z" if value else value


def _parse_schedule_entry(node: etree._Element, action: str, attr: str,
                          dates: str) -> dict[str, Any]:
    switch = _child(node, action)
    entry: dict[str, Any] = {
        "Switch": int((switch.get(attr) if switch is not None else None) or 0),
        "Activate": switch is not None and _child(switch, "ActivateSwitch") is not None,
        "SpecialDays": [int(s.get(attr) or 0) for s in _children(node, "SpecialDaysApplicability")],
        "Days": [d for holder in _children(node, "DaysOfWeekApplicability")
                 for a in _children(holder, "DayOfWeekApplicability")
                 for d in [_leaf(a, "DayOfWeekID")] if d],
    }
    timing = _child(node, dates)
    entry["SwitchTime"] = _switch_time(_leaf(timing, "SwitchTime"))
    entry["StartDate"] = _parse_date(None if timing is None else _child(timing, "StartDate"))
    entry["EndDate"] = _parse_date(None if timing is None else _child(timing, "EndDate"))
    return entry


def _parse_alc_descriptions(body: etree._Element) -> dict[str, Any]:
    """6.14.1: {"Descriptions": {index: text}}."""
    return {"Descriptions": {node.get("index", ""): _leaf(node, "SwitchDescription") or ""
                             for node in _children(body, "ALCSHCALCSDescription")}}


def _parse_alc_schedule(body: etree._Element) -> dict[str, Any]:
    """6.14.2: {"Schedule": [entry]}: switch, activate or not, days, special days,
    switch time and the start and end dates."""
    return {"Schedule": [_parse_schedule_entry(node, "ActivateDeactivateSwitch", "index",
                                               "ALCSScheduleDatesAndTime")
                         for node in _children(body, "ALCSHCALCSConnectionSchedule")]}


def _parse_sub_ghz(body: etree._Element) -> dict[str, Any]:
    """6.28: {"SubGHzConfiguration": {channel set: [channel numbers], value name: text}}."""
    configuration: dict[str, Any] = {}
    for name in _CHANNEL_SETS:
        holder = _child(body, name)
        if holder is not None:
            configuration[name] = sorted(int(_local(c).removeprefix("Channel"))
                                         for c in holder if isinstance(c.tag, str))
    for name in _SUB_GHZ_VALUES:
        value = _leaf(body, name)
        if value is not None:
            configuration[name] = value
    return {"SubGHzConfiguration": configuration}


NESTED: dict[str, Callable[[etree._Element], dict[str, Any]]] = {
    "6.14.1": _parse_alc_descriptions,
    "6.14.2": _parse_alc_schedule,
    "6.28": _parse_sub_ghz,
}
duis_xml.NESTED_PARSERS.update(NESTED)

# --------------------------------------------------------------------------- examples

_T0, _T1 = "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"
_SCHEDULE_ENTRY = {"Switch": 1, "Activate": True, "SpecialDays": [], "Days": ["Monday"],
                   "SwitchTime": "06:00:00Z", "StartDate": {}, "EndDate": {"Year": 2030}}

#: One success body per SRV of this family, in the shape its handler returns (the test
#: suites render each through its builder and validate it against the schema).
EXAMPLE_BODIES: dict[str, dict[str, Any]] = {
    "4.2": {"ExportRegister": 0, "Unit": "Wh"},
    "4.4.2": {"Fuel": "Electricity", "Unit": "Wh",
              "Billing": [{"Timestamp": _T0, "Register": 1234567}],
              "Prepayment": [{"Timestamp": _T0, "AccumulatedDebt": 0, "EmergencyCredit": 500,
                              "MeterBalance": 1200}]},
    "4.4.3": {"Fuel": "Gas", "Unit": "dm3", "Billing": [{"Timestamp": _T0, "Register": 1234567}],
              "Prepayment": []},
    "4.4.4": {"DebtPayments": [{"Timestamp": _T0, "Amount": 150}]},
    "4.4.5": {"TopUps": [{"Timestamp": _T0, "Amount": 2000}]},
    "4.6.1": {"Fuel": "Electricity", "Unit": "Wh",
              "Reads": [{"Timestamp": _T0, "Register": 1234567},
                        {"Timestamp": _T1, "Register": 1244567}]},
    "4.6.2": {"Unit": "Wh", "Reads": [{"Timestamp": _T0, "Register": 0}]},
    "4.8.1": {"Fuel": "Gas", "Unit": "dm3", "Periods": [{"Timestamp": _T0, "Value": 73}]},
    "4.8.2": {"Unit": "varh", "Periods": [{"Timestamp": _T0, "Value": 40}]},
    "4.8.3": {"Fuel": "Electricity", "Unit": "Wh", "Periods": [{"Timestamp": _T0, "Value": 0}]},
    "4.10": {"Fuel": "Electricity", "OverVoltageCounter": 0, "UnderVoltageCounter": 0,
             "MeasurementPeriod": 1800, "Voltage": [{"Timestamp": _T0, "Value": 240.1}]},
    "4.12.1": {"MaxDemand": 2400, "CaptureTime": _T1, "LastReset": _T0,
               "Configurable": {"MaxDemand": 2000, "CaptureTime": _T1, "LastReset": _T0,
                                "StartTime": "17:00:00Z", "EndTime": "22:00:00Z"}},
    "4.12.2": {"MaxDemand": 0, "CaptureTime": None, "LastReset": _T0},
    "4.14": {"Fuel": "Gas", "Prepayment": [{"Timestamp": _T1, "AccumulatedDebt": 100,
                                            "EmergencyCredit": 500, "MeterBalance": 900}]},
    "4.16": {"ActivePowerImport": 1234, "Unit": "W"},
    "4.17": {"Fuel": "Electricity", "Unit": "Wh", "Days": [{"Timestamp": _T1, "Value": 9876}]},
    "6.14.1": {"Descriptions": {"1": "Immersion"}},
    "6.14.2": {"Entries": 1},
    "6.15.2": {"CredentialType": "Digital Signature"},
    "6.17": {"CredentialType": "Digital Signature", "CertificationRequest": "MIIB"},
    "6.18.1": {"StartTime": "17:00:00Z", "EndTime": "22:00:00Z"},
    "6.18.2": {"Reset": ["MaxDemandActivePowerImportValue"]},
    "6.21": {"RemotePartyRole": "Supplier", "Certificates": ["DigitalSigning", "KeyAgreement"],
             "CredentialFingerprint": "0123456789ABCDEF", "RemotePartyFloorSeqNumber": 0},
    "6.24.2": {"CredentialType": "Digital Signature", "Certificate": "MIIB"},
    "6.28": {"Configuration": {"GSMECurfew": "7"}},
    "6.29": {"ScanRequested": True},
    "6.30": {"Configuration": {"LowerBandSubGHzChannels0To26": [1, 2],
                               "NormalLimitedDutyCycleThreshold": "1.3", "GSMECurfew": "7"}},
    "6.31": {"OperatingChannel": None},
    "6.32": {"Log": [{"Timestamp": _T0, "Description": "channel scan requested",
                      "ScanTrigger": "RemotePartyCommand"}]},
    "7.7": {"Descriptions": {"1": "Immersion"}, "Schedule": [_SCHEDULE_ENTRY],
            "Switches": [{"Switch": 1, "Level": 100, "Input": False}],
            "RandomisedOffsetLimit": 0},
    "7.8": {"Switch": 5, "Reset": True},
    "7.12": {"RandomisedOffsetLimit": 900},
    "7.13": {"Switch": 5, "Level": 100},
    "7.14": {"Descriptions": {"1": "Immersion"}, "Schedule": [_SCHEDULE_ENTRY]},
    "7.15": {"Switches": [{"Switch": 1, "Level": 0, "Input": False}],
             "RandomisedOffsetLimit": 0},
    "7.16": {"Switch": 3, "Level": 50},
    "8.1.1": {"Fuel": "Gas", "DeviceDateTime": _T0, "ClockStatus": "reliable"},
    "8.5": {"RemotePartyRole": "ACB", "Certificates": ["KeyAgreement"],
            "CredentialFingerprint": "0123456789ABCDEF", "RemotePartyFloorSeqNumber": 0},
    "8.12.1": {"OldCHFID": "00-DB-12-34-56-78-90-95", "Restored": []},
    "8.12.2": {"OldGPFID": None, "Outcomes": [{"DeviceID": "00-DB-12-34-56-78-90-A4",
                                               "DeviceType": "PPMID", "Joined": True,
                                               "Status": 0}]},
    "11.3": {"FirmwareVersion": "1.0.1", "Activated": True},
    "14.1": {"SampleID": 1},
}

#: A whole-history window for the Standard DMCT SRV pack's log reads: every entry
#: the device holds, whatever the virtual clock's start (the logs' own limits apply).
_WHOLE_LOG = {"StartDateTime": "2000-01-01T00:00:00Z", "EndDateTime": "2099-12-31T23:30:00Z"}
#: A real, deterministic X.509 certificate (ECDSA P-256, digital signature) for the
#: pack's credential SRVs: a device refuses anything that is not DER (badCertificate).
_PACK_CERTIFICATE = base64.b64encode(S1spSigner("dmct-srv-pack").certificate.public_bytes(
    serialization.Encoding.DER)).decode()

#: Success-case parameters for this family's SRVs that need some, in the shape the DUIS
#: parser and nested parsers give (the Standard DMCT SRV pack's ``each_srv`` tests; the
#: runner merges these with the core SRVs' and the tariff family's).
PACK_CASES: dict[str, dict[str, Any]] = {
    **{srv: dict(_WHOLE_LOG) for srv in (
        "4.4.2", "4.4.3", "4.4.4", "4.4.5", "4.6.1", "4.6.2", "4.8.1", "4.8.2", "4.8.3",
        "4.10", "4.14", "4.17", "6.32")},
    "6.14.1": {"Descriptions": {"1": "Immersion heater", "2": "Storage heater"}},
    "6.14.2": {"Schedule": [dict(_SCHEDULE_ENTRY, Days=list(_DAYS), StartDate={},
                                 EndDate={})]},
    "6.15.2": {"DeviceCertificate": _PACK_CERTIFICATE},
    "6.17": {"CredentialType": "Digital Signature"},
    "6.18.1": {"StartTime": "17:00:00Z", "EndTime": "22:00:00Z"},
    "6.18.2": {"MaxDemandActivePowerImportValue": ""},
    "6.21": {"RemotePartyRole": "NetworkOperator", "RemotePartyFloorSeqNumber": "0",
             "DigitalSigningCertificate": _PACK_CERTIFICATE},
    "6.24.2": {"CredentialType": "Digital Signature"},
    "6.28": {"SubGHzConfiguration": {"GSMECurfew": "7",
                                     "NormalLimitedDutyCycleThreshold": "1.3"}},
    "7.8": {"ResetALCSHCALCS@index": "5", "ResetALCSHCALCS": ""},
    "7.12": {"RandomisedOffsetLimit": "900"},
    "7.13": {"SetAuxiliaryControllerState@auxiliaryControllerN": "5",
             "StartDateTime": "2000-01-01T00:00:00Z", "EndDateTime": "2099-12-31T00:00:00Z",
             "CommandedStateLevel": "100"},
    "7.16": {"LimitAPCLevel@auxiliaryControllerN": "3",
             "StartDateTime": "2000-01-01T00:00:00Z", "EndDateTime": "2099-12-31T00:00:00Z",
             "CommandedStateLevel": "50", "InputFromControlledLoad": ""},
    "8.5": {"ACBFloorSeqNumber": "0", "KeyAgreementCertificate": _PACK_CERTIFICATE},
}

#: The firmware image the pack's 11.3 activates: distributed first by an 11.1.
_PACK_IMAGE = b"s1bench DMCT pack firmware image"
PACK_CASES["11.3"] = {"FirmwareHash": hashlib.sha256(_PACK_IMAGE).hexdigest().upper()}
#: What an SRV's success case needs done first, as (SRV, device, parameters) steps:
#: ``$TYPE`` names the installation's device of that type. Virtual seconds to let
#: pass after them go in :data:`PACK_SETTLE`.
PACK_BEFORE: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "11.3": [("11.1", CHF, {"FirmwareImage": base64.b64encode(_PACK_IMAGE).decode(),
                            "FirmwareVersion": "2.0.0", "DeviceIDList": "$ESME"})],
}
PACK_SETTLE: dict[str, float] = {"11.3": 60.0}


__all__ = ["EXAMPLE_BODIES", "FILLED", "NESTED", "PACK_BEFORE", "PACK_CASES", "PACK_SETTLE"]
