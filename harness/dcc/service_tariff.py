"""The SMETS1 service, tariff family: SRV specs, head-end commands and SMETSData builders.

Each family module extends the shared tables by registration (`SRVS`,
`HEADEND`, `SMETS_ELEMENT` and its builders, `duis_xml.NESTED_PARSERS`), so
the families grow side by side without editing one another's files.

This family: tariffs and prices (1.1.x, 1.2.x, 4.11.x), meter balance,
payment mode and block counters (1.5, 1.6, 1.7), prepayment configuration
and debt (2.1, 2.3, 4.13), supplier-side settings (3.2-3.5, 9.1), tariff
registers (4.1.2-4.1.4), load limiting (4.15, 6.4.x) and the device
configuration reads and writes (6.2.x, 6.6, 6.8, 6.20.x, 6.25-6.27). How
each travels over the HAN is in :mod:`s1bench.emulator.hub_services_tariff`.

Nested DUIS structures (switching tables, calendars) are parsed into trees
``[name, {attributes}, text | [children]]`` that keep the request's shape;
the meter stores them and the read builders write them back under the
response type's element names (:func:`_emit`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree
from s1bench.harness import duis_xml

from .s1sp import HEADEND
from .smets_response import (
    FILLED_GAPS,
    SMETS_ELEMENT,
    _builds,
    _Context,
    _decimal,
    _eui,
    _integer,
    _ra,
    _sub,
)
from .srvs import CHF, ESME, GSME, SRVS, ParamSpec, SrvSpec

METERS = (ESME, GSME)
_U32 = 2**32 - 1
_I32 = 2**31 - 1


def _add(srv: str, name: str, targets: tuple[str, ...], summary: str, op: str,
         fixed: dict[str, Any] | None = None, **params: ParamSpec) -> None:
    SRVS[srv] = SrvSpec(srv, name, targets, dict(params), summary)
    HEADEND[srv] = (op, dict(fixed or {}))
    SMETS_ELEMENT[srv] = f"{name}Rsp"


# --------------------------------------------------------------------------- SRVs

_add("1.1.1", "UpdateImportTariffPrimaryElement", METERS,
     "Replace the tariff: switching table, special days, block thresholds and prices",
     "update_tariff")
_add("1.1.2", "UpdateImportTariffSecondaryElement", (ESME,),
     "Replace a twin element's secondary tariff", "update_tariff_secondary")
_add("1.2.2", "UpdatePriceSecondaryElement", (ESME,),
     "Replace a twin element's secondary prices", "update_price_secondary")
# 1.2.1 is a core SRV; its prices now reach the meter's price matrix whole, so
# that 4.11.1 reads back what it set (the Publish Price it always sent stays).
HEADEND["1.2.1"] = ("update_price_primary", {})
_add("1.5", "UpdateMeterBalance", METERS, "Adjust or reset the meter balance",
     "update_meter_balance",
     AdjustMeterBalance=ParamSpec("int", minimum=-(2**31), maximum=_I32))
_add("1.6", "UpdatePaymentMode", METERS, "Switch between credit and prepayment",
     "update_payment_mode",
     PaymentMode=ParamSpec("enum", required=True, choices=("Credit", "Prepayment")),
     SuspendDebtDisabled=ParamSpec("bool"), SuspendDebtEmergency=ParamSpec("bool"),
     DisablementThreshold=ParamSpec("int", minimum=-(2**31), maximum=_I32))
_add("1.7", "ResetTariffBlockCounterMatrix", (ESME,), "Reset the tariff block counters",
     "reset_block_counters")
_add("2.1", "UpdatePrepayConfiguration", METERS,
     "Emergency credit, low credit, maximum credit, debt recovery cap, non-disablement "
     "calendar", "update_prepay_configuration",
     **{name: ParamSpec("int", minimum=0, maximum=_U32) for name in (
         "DebtRecoveryRateCap", "EmergencyCreditLimit", "EmergencyCreditThreshold",
         "LowCreditThreshold", "MaxMeterBalance", "MaxCreditThreshold")})
_add("2.3", "UpdateDebt", METERS, "Set the time and payment debt registers", "update_debt",
     **{name: ParamSpec("int", minimum=0, maximum=_I32) for name in (
         "TimeDebtRegister1", "TimeDebtRegister2", "PaymentDebtRegister")},
     DebtRecoveryPerPayment=ParamSpec("int", minimum=0, maximum=65535))
_add("3.2", "RestrictAccessForChangeOfTenancy", METERS,
     "Hide the previous tenant's data from a time on", "restrict_access_cot",
     RestrictionDateTime=ParamSpec("datetime"))
_add("3.3", "ClearEventLog", METERS, "Clear the event log (or an ESME's ALCS log)",
     "clear_event_log", ESMEEventLogType=ParamSpec("enum", choices=("ESME", "ALCS")))
_add("3.4", "UpdateSupplierName", METERS, "Set the supplier name and telephone number",
     "update_supplier_name", SupplierName=ParamSpec("str", required=True, maximum=254),
     SupplierTelephoneNumber=ParamSpec("str", maximum=254))
_add("3.5", "DisablePrivacyPIN", METERS, "Disable the consumer's privacy PIN",
     "disable_privacy_pin")
_add("4.1.2", "ReadInstantaneousImportTOUMatrices", METERS, "Read the TOU registers",
     "read_tou_registers")
_add("4.1.3", "ReadInstantaneousImportTOUWithBlocksMatrices", (ESME,),
     "Read the TOU-with-blocks registers and block counters", "read_tou_block_registers")
_add("4.1.4", "ReadInstantaneousImportBlockCounters", (GSME,), "Read the block counters",
     "read_block_counters")
_add("4.11.1", "ReadTariffPrimaryElement", METERS, "Read the tariff", "read_tariff")
_add("4.11.2", "ReadTariffSecondaryElement", (ESME,), "Read a twin element's secondary tariff",
     "read_tariff_secondary")
_add("4.13", "ReadPrepaymentConfiguration", METERS, "Read the prepayment configuration",
     "read_prepay_configuration")
_add("4.15", "ReadLoadLimitData", (ESME,), "Read the load limiting settings and counter",
     "read_load_limit")
_add("6.2.1", "ReadDeviceConfigurationVoltage", (ESME,), "Read the voltage thresholds",
     "read_voltage_config")
_add("6.2.2", "ReadDeviceConfigurationRandomisation", (ESME,),
     "Read the randomised offset settings", "read_randomisation")
_add("6.2.4", "ReadDeviceConfigurationIdentityExcMPxN", (ESME, GSME, CHF),
     "Read the device identity and supply states", "read_identity")
_add("6.2.5", "ReadDeviceConfigurationInstantaneousPowerThresholds", (ESME,),
     "Read the power thresholds", "read_power_thresholds")
_add("6.2.7", "ReadDeviceConfigurationMPxN", METERS, "Read the MPxNs", "read_mpxn")
_add("6.2.8", "ReadDeviceConfigurationGas", (GSME,),
     "Read the gas conversion and uncontrolled-flow settings", "read_gas_config")
_add("6.2.9", "ReadDeviceConfigurationPaymentMode", METERS, "Read the payment mode",
     "read_payment_mode")
_add("6.2.10", "ReadDeviceConfigurationEventAndAlertBehaviours", METERS,
     "Read which alerts the meter sends", "read_alert_config")
_add("6.4.1", "UpdateDeviceConfigurationLoadLimitingGeneralSettings", (ESME,),
     "Set the load limiting threshold, periods and supply state", "update_load_limit",
     LoadLimitPeriod=ParamSpec("int", minimum=0, maximum=_U32),
     LoadLimitPowerThreshold=ParamSpec("int", minimum=0, maximum=_U32),
     LoadLimitRestorationPeriod=ParamSpec("int", minimum=0, maximum=_U32),
     LoadLimitSupplyState=ParamSpec("enum", choices=("Disable", "Unchanged")))
_add("6.4.2", "UpdateDeviceConfigurationLoadLimitingCounterReset", (ESME,),
     "Reset the load limit counter", "reset_load_limit_counter")
_add("6.6", "UpdateDeviceConfigurationGasConversion", (GSME,),
     "Set the calorific value and conversion factor", "update_gas_conversion",
     CalorificValue=ParamSpec("str", maximum=20), ConversionFactor=ParamSpec("str", maximum=20))
_add("6.8", "UpdateDeviceConfigurationBillingCalendar", METERS, "Set the billing calendar",
     "update_billing_calendar")
_add("6.20.1", "SetDeviceConfigurationImportMPxN", METERS, "Set the import MPAN or MPRN",
     "set_import_mpxn", ImportMPAN=ParamSpec("digits", minimum=13, maximum=13),
     SecondaryImportMPAN=ParamSpec("digits", minimum=13, maximum=13),
     ImportMPRN=ParamSpec("digits", minimum=6, maximum=10))
_add("6.20.2", "SetDeviceConfigurationExportMPAN", (ESME,), "Set the export MPAN",
     "set_export_mpan", ExportMPAN=ParamSpec("digits", required=True, minimum=13, maximum=13))
_add("6.25", "SetElectricitySupplyTamperState", (ESME,), "Set the supply tamper state",
     "set_tamper_state",
     SupplyTamperState=ParamSpec("enum", required=True, choices=("Unchanged", "Locked")))
_add("6.26", "UpdateDeviceConfigurationDailyResettingOfTariffBlockCounterMatrix", (ESME,),
     "Set daily resetting of the block counters", "set_block_counter_reset",
     DailyTariffBlockCounterMatrixReset=ParamSpec("bool", required=True))
_add("6.27", "UpdateDeviceConfigurationRMSVoltageCounterReset", (ESME,),
     "Reset the RMS voltage counters", "reset_rms_voltage_counters")
_add("9.1", "RequestCustomerIdentificationNumber", METERS,
     "Have the meter show a new customer identification number", "request_cin")


# --------------------------------------------------------------------------- parsing

Tree = list[Any]  # [name, {attributes}, text | [children]]


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _elements(node: etree._Element) -> list[etree._Element]:
    return [c for c in node if isinstance(c.tag, str)]


def tree(node: etree._Element) -> Tree:
    """A DUIS element as ``[name, {attributes}, text | [children]]``."""
    children = _elements(node)
    attrs = {etree.QName(k).localname: v for k, v in node.attrib.items()}
    return [_local(node), attrs, [tree(c) for c in children] if children
            else (node.text or "").strip()]


def _find(node: etree._Element | None, name: str) -> etree._Element | None:
    if node is None:
        return None
    return next((c for c in node.iter() if isinstance(c.tag, str) and _local(c) == name), None)


def _child(node: etree._Element | None, name: str) -> etree._Element | None:
    if node is None:
        return None
    return next((c for c in _elements(node) if _local(c) == name), None)


def _number(text: str | None) -> int | str | None:
    """A whole number when it is one; the text as given otherwise (the handler refuses it)."""
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return text.strip()


def _index(node: etree._Element) -> int | str | None:
    return _number(node.get("index"))


def _leaf(node: etree._Element | None, name: str) -> int | str | None:
    found = _child(node, name)
    return None if found is None else _number(found.text or "")


def _prices(body: etree._Element) -> dict[str, Any]:
    """PriceElements (electricity or gas) as the handlers' ``Prices``."""
    elements = _find(body, "ElectricityPriceElements")
    commodity = "Electricity"
    if elements is None:
        elements, commodity = _find(body, "GasPriceElements"), "Gas"
    prices: dict[str, Any] = {"Commodity": commodity}
    if elements is None:
        return prices
    for name in ("StandingCharge", "StandingChargeScale", "PriceScale"):
        prices[name] = _leaf(elements, name)
    currency = _child(elements, "CurrencyUnits")
    if currency is not None:
        prices["CurrencyUnits"] = (currency.text or "").strip()
    tou = _child(elements, "TOUTariff")
    if tou is not None:
        prices["TOU"] = [[_index(p), _number(p.text)] for p in _elements(tou)
                         if _local(p) == "TOUPrice"]
    block = _child(elements, "BlockTariff")
    if block is not None:
        rows = [r for r in _elements(block) if _local(r) == "BlockPrices"]
        if rows:  # electricity: rows of block prices
            prices["Block"] = [[_index(r), _index(p), _number(p.text)] for r in rows
                               for p in _elements(r) if _local(p) == "BlockPrice"]
        else:  # gas: one row
            prices["Block"] = [[1, _index(p), _number(p.text)] for p in _elements(block)
                               if _local(p) == "BlockPrice"]
            prices["NumberOfThresholds"] = _leaf(block, "NumberOfThresholds")
    return prices


def _tariff(body: etree._Element) -> dict[str, Any]:
    elements = _find(body, "ElecTariffElements")
    commodity = "Electricity"
    if elements is None:
        elements, commodity = _find(body, "GasTariffElements"), "Gas"
    tariff: dict[str, Any] = {"Commodity": commodity}
    if elements is None:
        return tariff
    currency = _child(elements, "CurrencyUnits")
    if currency is not None:
        tariff["CurrencyUnits"] = (currency.text or "").strip()
    for name in ("SwitchingTable", "SpecialDays"):
        found = _child(elements, name)
        tariff[name] = tree(found) if found is not None else None
    thresholds: list[list[Any]] = []
    matrix = _child(elements, "ThresholdMatrix")
    for entry in _elements(matrix) if matrix is not None else []:
        if _local(entry) == "Thresholds":
            thresholds += [[_index(entry), _index(t), _number(t.text)] for t in _elements(entry)]
        elif _local(entry) == "BlockThreshold":  # gas: one row
            thresholds.append([1, _index(entry), _number(entry.text)])
    tariff["Thresholds"] = thresholds
    return tariff


def _parse_1_1_1(body: etree._Element) -> dict[str, Any]:
    tariff = _tariff(body)
    prices = _prices(body)
    if tariff.get("CurrencyUnits") and not prices.get("CurrencyUnits"):
        prices["CurrencyUnits"] = tariff["CurrencyUnits"]
    return {"Tariff": tariff, "Prices": prices}


def _secondary_prices(body: etree._Element) -> dict[str, Any]:
    elements = _find(body, "PriceElements")
    if elements is None:
        return {}
    return {"PriceScale": _leaf(elements, "PriceScale"),
            "TOU": [[_index(p), _number(p.text)] for p in _elements(elements)
                    if _local(p) == "ElectricityPriceElement"]}


def _parse_1_1_2(body: etree._Element) -> dict[str, Any]:
    tariff = {name: tree(found) if (found := _child(body, name)) is not None else None
              for name in ("SwitchingTable", "SpecialDays")}
    return {"SecondaryTariff": tariff, "SecondaryPrices": _secondary_prices(body)}


def _parse_1_6(body: etree._Element) -> dict[str, Any]:
    for name in ("Credit", "Prepayment"):
        if _child(body, name) is not None:
            return {"PaymentMode": name}
    return {}


def _parse_2_1(body: etree._Element) -> dict[str, Any]:
    for name in ("ElectricityNonDisablementCalendar", "GasNonDisablementCalendar"):
        found = _find(body, name)
        if found is not None:
            return {"NonDisablementCalendar": tree(found)}
    return {}


def _parse_2_3(body: etree._Element) -> dict[str, Any]:
    recovery: dict[str, dict[str, Any]] = {}
    for node in _elements(body):
        match = re.fullmatch(r"(?:Elec|Gas)DebtRecovery([12])", _local(node))
        if match:
            recovery[match.group(1)] = {_local(c): _number(c.text) for c in _elements(node)}
    return {"DebtRecovery": recovery} if recovery else {}


def _parse_6_8(body: etree._Element) -> dict[str, Any]:
    for name in ("ElectricityBillingCalendar", "GasBillingCalendar"):
        found = _child(body, name)
        if found is not None:
            return {"BillingCalendar": tree(found)}
    return {}


_ALERT_CODE = re.compile(r"x[0-9A-Fa-f]{4}")


def _parse_6_22(body: etree._Element) -> dict[str, Any]:
    """Per-alert settings given as WAN/HAN/EventLog/Alarm flags (gas) become the one
    setting the meter acts on, its WAN alert, under the code's element name."""
    out: dict[str, Any] = {}
    for node in body.iter():
        if isinstance(node.tag, str) and _ALERT_CODE.fullmatch(_local(node)):
            wan = _child(node, "WANAlert")
            if wan is not None:
                out[_local(node)] = (wan.text or "").strip()
    return out


duis_xml.NESTED_PARSERS.update({
    "1.1.1": _parse_1_1_1,
    "1.2.1": lambda body: {"Prices": _prices(body)},
    "1.1.2": _parse_1_1_2,
    "1.2.2": lambda body: {"SecondaryPrices": _secondary_prices(body)},
    "1.6": _parse_1_6,
    "2.1": _parse_2_1,
    "2.3": _parse_2_3,
    "6.8": _parse_6_8,
    "6.22": _parse_6_22,
})


# --------------------------------------------------------------------------- emitting

#: (original parent, original name) -> response name; "" writes the children in its place.
Renames = Mapping[tuple[str, str], str]

_ELEC_TABLE: Renames = {
    ("SwitchingTable", "SwitchingTable"): "TariffSwitchingTable",
    ("DayProfile", "DayName"): "Day",
    ("WeekProfile", "ReferencedDayName"): "ReferencedElecDay",
    ("SpecialDays", "SpecialDays"): "TariffSwitchingTableSpecialDays",
    ("SpecialDay", "ReferencedDayName"): "ReferencedDay",
}
_GAS_TABLE: Renames = {
    ("SwitchingTable", "SwitchingTable"): "TariffSwitchingTable",
    ("WeekProfile", "ReferencedDayName"): "ReferencedDay",
    ("SpecialDays", "SpecialDays"): "TariffSwitchingTableSpecialDays",
    ("SpecialDay", "ReferencedDayName"): "ReferencedDay",
    ("GasDayOfMonthWithWildcards", "NonSpecifiedDayOfMonth"): "GasNonSpecifiedDayOfMonth",
}
_ELEC_CALENDAR: Renames = {
    ("ElectricityNonDisablementCalendar", "ElectricityNonDisablementCalendar"):
        "NonDisablementCalendar",
    # ra:ElecSpecialDaysPrepayment's SpecialDay is itself a Date.
    ("SpecialDay", "Date"): "",
}
_GAS_CALENDAR: Renames = {
    ("GasNonDisablementCalendar", "GasNonDisablementCalendar"): "NonDisablementCalendar",
    ("GasDayOfMonthWithWildcards", "NonSpecifiedDayOfMonth"): "GasNonSpecifiedDayOfMonth",
}
#: Elements the response type numbers (``index``) though the request does not.
_NUMBERED = frozenset({"TimeStartAction"})


def _emit(parent: etree._Element, node: Tree, renames: Renames, above: str | None = None) -> None:
    """Write a stored DUIS tree under ``parent`` in the ``ra:`` namespace, renamed."""
    name, attrs, content = node
    tag = renames.get((above or name, name), name)
    target = parent if tag == "" else _sub(parent, _ra(tag))
    if tag != "" and "index" in attrs:
        target.set("index", str(attrs["index"]))
    if isinstance(content, list):
        counts: dict[str, int] = {}
        for child in content:
            _emit(target, child, renames, name)
            if child[0] in _NUMBERED and "index" not in child[1]:
                counts[child[0]] = counts.get(child[0], 0) + 1
                target[-1].set("index", str(counts[child[0]]))
    elif tag != "":
        target.text = str(content)


def _indexed(parent: etree._Element, tag: str, index: Any, value: str) -> etree._Element:
    node = _sub(parent, _ra(tag), value)
    node.set("index", str(index))
    return node


def _opt(el: etree._Element, tag: str, body: Mapping[str, Any], name: str, ctx: _Context,
         kind: str = "int") -> None:
    value = body.get(name)
    if value is None:
        return
    if kind == "int":
        _sub(el, _ra(tag), _integer(ctx, name, value))
    elif kind == "dec":
        _sub(el, _ra(tag), _decimal(ctx, name, value))
    elif kind == "bool":
        _sub(el, _ra(tag), "true" if value else "false")
    else:
        _sub(el, _ra(tag), str(value))


# --------------------------------------------------------------------------- builders


@_builds("4.11.1")
def _tariff_primary(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """The Electricity or Gas tariff, prices first, as the MMC type orders it.

    PrimaryActiveTariffPrice is not written: the meter keeps its price matrix,
    not which price is active (that follows from the switching table). A gas
    tariff has one row of block prices and thresholds.
    """
    commodity = body.get("Commodity") or ("Gas" if ctx.device_type == GSME else "Electricity")
    if commodity == "Gas":
        _gas_tariff(_sub(el, _ra("Gas")), body, ctx)
        return
    elec = _sub(el, _ra("Electricity"))
    _opt(elec, "CurrencyUnitsLabel", body, "CurrencyUnits", ctx, "str")
    _opt(elec, "StandingCharge", body, "StandingCharge", ctx)
    _opt(elec, "StandingChargeScale", body, "StandingChargeScale", ctx)
    _opt(elec, "PriceScale", body, "PriceScale", ctx)
    if body.get("BlockPrices"):
        matrix = _sub(elec, _ra("TariffBlockPriceMatrix"))
        rows: dict[int, etree._Element] = {}
        for row, block, value in body["BlockPrices"]:
            if row not in rows:
                rows[row] = _sub(matrix, _ra("TariffBlockPrices"))
                rows[row].set("index", str(row))
            _indexed(rows[row], "BlockPrice", block, _integer(ctx, "BlockPrice", value))
    if body.get("TOUPrices"):
        matrix = _sub(elec, _ra("TariffTOUPriceMatrix"))
        for tier, value in body["TOUPrices"]:
            _indexed(matrix, "TariffTOUPrice", tier, _integer(ctx, "TOUPrice", value))
    if body.get("SwitchingTable"):
        _emit(elec, body["SwitchingTable"], _ELEC_TABLE)
    if body.get("SpecialDays"):
        _emit(elec, body["SpecialDays"], _ELEC_TABLE)
    if body.get("Thresholds"):
        matrix = _sub(elec, _ra("TariffThresholdMatrix"))
        rows = {}
        for row, block, value in body["Thresholds"]:
            if row not in rows:
                rows[row] = _sub(matrix, _ra("ElecTariffThresholds"))
                rows[row].set("index", str(row))
            _indexed(rows[row], "BlockThreshold", block, _integer(ctx, "BlockThreshold", value))


def _gas_tariff(gas: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    _opt(gas, "CurrencyUnitsLabel", body, "CurrencyUnits", ctx, "str")
    _opt(gas, "StandingCharge", body, "StandingCharge", ctx)
    if body.get("SwitchingTable"):
        _emit(gas, body["SwitchingTable"], _GAS_TABLE)
    if body.get("SpecialDays"):
        _emit(gas, body["SpecialDays"], _GAS_TABLE)
    row_one = [t for t in body.get("Thresholds") or [] if t[0] == 1]
    if row_one:
        node = _sub(gas, _ra("TariffThresholds"))
        for _, block, value in row_one:
            _indexed(node, "BlockThreshold", block, _integer(ctx, "BlockThreshold", value))
    if body.get("TOUPrices"):
        node = _sub(gas, _ra("TOUTariff"))
        for tier, value in body["TOUPrices"]:
            _indexed(node, "TariffTOUPrice", tier, _integer(ctx, "TOUPrice", value))
    blocks = [b for b in body.get("BlockPrices") or [] if b[0] == 1]
    if blocks:
        node = _sub(gas, _ra("BlockTariff"))
        for _, block, value in blocks:
            _indexed(node, "BlockPrice", block, _integer(ctx, "BlockPrice", value))


@_builds("4.11.2")
def _tariff_secondary(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    _opt(el, "PriceScale", body, "PriceScale", ctx)
    if body.get("TOUPrices"):
        matrix = _sub(el, _ra("TariffTOUPriceMatrix"))
        for tier, value in body["TOUPrices"]:
            _indexed(matrix, "TariffTOUPrice", tier, _integer(ctx, "TOUPrice", value))
    if body.get("SwitchingTable"):
        _emit(el, body["SwitchingTable"], _ELEC_TABLE)
    if body.get("SpecialDays"):
        _emit(el, body["SpecialDays"], _ELEC_TABLE)


@_builds("4.13")
def _prepay_configuration(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for tag, name in (("DebtRecoveryPerPayment", "DebtRecoveryPerPayment"),
                      ("DebtRecoveryRateCap", "DebtRecoveryRateCap"),
                      ("DisablementThreshold", "DisablementThreshold"),
                      ("EmergencyCreditLimit", "EmergencyCreditLimit"),
                      ("EmergencyCreditThreshold", "EmergencyCreditThreshold"),
                      ("LowCreditThreshold", "LowCreditThreshold"),
                      ("CreditMaxCreditThreshold", "MaxCreditThreshold"),
                      ("MaxCreditMaxMeterBalance", "MaxMeterBalance")):
        _opt(el, tag, body, name, ctx)
    _opt(el, "SuspendDebtDisabled", body, "SuspendDebtDisabled", ctx, "bool")
    _opt(el, "SuspendDebtEmergency", body, "SuspendDebtEmergency", ctx, "bool")
    commodity = body.get("Commodity") or ("Gas" if ctx.device_type == GSME else "Electricity")
    calendar = body.get("NonDisablementCalendar")
    if commodity == "Gas":
        part = _sub(el, _ra("Gas"))
        if calendar and calendar[0] == "GasNonDisablementCalendar":
            _emit(part, calendar, _GAS_CALENDAR)
    else:
        part = _sub(el, _ra("Electricity"))
        _opt(part, "PaymentMode", body, "PaymentMode", ctx, "str")
        if calendar and calendar[0] == "ElectricityNonDisablementCalendar":
            _emit(part, calendar, _ELEC_CALENDAR)
    for register in ("1", "2"):
        rate = (body.get("DebtRecovery") or {}).get(register)
        if not rate:
            continue
        node = _sub(part, _ra(f"DebtRecovery{register}"))
        _opt(node, "DebtRecoveryRate", rate, "DebtRecoveryRate", ctx)
        if commodity != "Gas":
            _opt(node, "DebtRecoveryRatePriceScale", rate, "DebtRecoveryRatePriceScale", ctx)
        _opt(node, "DebtRecoveryRatePeriod", rate, "DebtRecoveryRatePeriod", ctx, "str")


@_builds("4.1.2")
def _tou_registers(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """ESME registers in Wh (integers), GSME ones in m3 (decimals)."""
    registers = body.get("TOURegisters") or []
    if body.get("Commodity") == "Gas" or ctx.device_type == GSME:
        matrix = _sub(_sub(el, _ra("Gas")), _ra("TariffTOURegisterMatrix"))
        for tier, value in registers:
            _indexed(matrix, "TOURegisterMatrixValue", tier, _decimal(ctx, "TOURegister", value))
        return
    collection = _sub(_sub(el, _ra("Electricity")), _ra("TariffTOURegisterCollection"))
    for tier, value in registers:
        _indexed(collection, "TOUPrimaryRegisterValue", tier,
                 _integer(ctx, "TOURegister", value))


@_builds("4.1.3")
def _tou_block_registers(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """One TariffBlock per block; within it the TOU rows' registers, then their counters."""
    registers = body.get("BlockRegisters") or []
    counters = body.get("BlockCounters") or []
    blocks = sorted({b for _, b, _ in registers} | {b for _, b, _ in counters})
    if not blocks:
        return
    collection = _sub(el, _ra("TariffBlockTOURegisterCollection"))
    for block in blocks:
        node = _sub(collection, _ra("TariffBlock"))
        node.set("index", str(block))
        for row, b, value in registers:
            if b == block:
                _indexed(node, "RegisterMatrixTOUValue", row, _integer(ctx, "Register", value))
        for row, b, value in counters:
            if b == block:
                _indexed(node, "CounterMatrixTOUValue", row, _integer(ctx, "Counter", value))


@_builds("4.1.4")
def _block_counters(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    node = _sub(el, _ra("ImportBlockCounters"))
    for block, value in body.get("BlockCounters") or []:
        _indexed(node, "TariffBlockCounterValue", block, _decimal(ctx, "BlockCounter", value))


@_builds("4.15")
def _load_limit(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    _opt(el, "LoadLimitCounterValue", body, "LoadLimitCounterValue", ctx)
    _opt(el, "LoadLimitPowerThreshold", body, "LoadLimitPowerThreshold", ctx)
    _opt(el, "LoadLimitPeriod", body, "LoadLimitPeriod", ctx)
    _opt(el, "LoadLimitRestorationPeriod", body, "LoadLimitRestorationPeriod", ctx)
    _opt(el, "LoadLimitSupplyState", body, "LoadLimitSupplyState", ctx, "str")


@_builds("6.2.1")
def _voltage(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """The RMS thresholds 6.5 sets; the meter keeps no measurement periods or averages."""
    names = ("RMSExtremeOverVoltageThreshold", "RMSExtremeUnderVoltageThreshold",
             "RMSVoltageSagThreshold", "RMSVoltageSwellThreshold")
    if not any(body.get(n) is not None for n in names):
        return
    settings = _sub(el, _ra("RMSVoltageSettings"))
    for name in names:
        _opt(settings, name, body, name, ctx)


@_builds("6.2.2")
def _randomisation(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    for name in ("RandomisedOffset", "RandomisedOffsetNumber", "RandomisedOffsetLimit"):
        _opt(el, name, body, name, ctx)


_MAX_MODEL_TYPE = 8  # ra:ReadDeviceConfigurationIdentityExcMPxNRsp/ModelType
_MAX_MANUFACTURER = 32


@_builds("6.2.4")
def _identity(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if body.get("DeviceIdentifier") is not None:
        _sub(el, _ra("DeviceIdentifier"), _eui("DeviceIdentifier", body["DeviceIdentifier"]))
    model = body.get("ModelType")
    if model is not None and len(str(model)) <= _MAX_MODEL_TYPE:
        _sub(el, _ra("ModelType"), str(model))
    maker = body.get("ManufacturerIdentifier")
    if maker is not None and len(str(maker)) <= _MAX_MANUFACTURER:
        _sub(el, _ra("ManufacturerIdentifier"), str(maker))
    if ctx.device_type == CHF or body.get("SupplyTamperState") is None:
        return
    part = _sub(el, _ra("Gas" if ctx.device_type == GSME else "Electricity"))
    _opt(part, "SupplyTamperState", body, "SupplyTamperState", ctx, "str")
    if ctx.device_type == GSME:
        _opt(part, "SupplyDepletionState", body, "SupplyDepletionState", ctx, "str")


@_builds("6.2.5")
def _power_thresholds(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    _opt(el, "LowMediumPowerThreshold", body, "LowMediumPowerThreshold", ctx)
    _opt(el, "MediumHighPowerThreshold", body, "MediumHighPowerThreshold", ctx)


@_builds("6.2.7")
def _mpxn(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    if body.get("Commodity") == "Gas" or ctx.device_type == GSME:
        _opt(_sub(el, _ra("Gas")), "MPRN", body, "MPRN", ctx, "str")
        return
    part = _sub(el, _ra("Electricity"))
    for name in ("ImportMPAN", "SecondaryImportMPAN", "ExportMPAN"):
        _opt(part, name, body, name, ctx, "str")


@_builds("6.2.8")
def _gas_configuration(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    _opt(el, "CalorificValue", body, "CalorificValue", ctx, "dec")
    _opt(el, "ConversionFactor", body, "ConversionFactor", ctx, "dec")
    _opt(el, "UncontrolledGasFlowRate", body, "UncontrolledGasFlowRate", ctx, "dec")
    _opt(el, "FlowStabilisationPeriod", body, "FlowStabilisationPeriod", ctx)
    _opt(el, "FlowMeasurementPeriod", body, "FlowMeasurementPeriod", ctx)


@_builds("6.2.9")
def _payment_mode(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    _opt(el, "PaymentMode", body, "PaymentMode", ctx, "str")
    _opt(el, "SuspendDebtEmergency", body, "SuspendDebtEmergency", ctx, "bool")
    _opt(el, "SuspendDebtDisabled", body, "SuspendDebtDisabled", ctx, "bool")


#: The alerts ra:SupplierESMECommon and ra:SupplierESMEPolyPhase list, in schema order
#: (a test compares them with the schema).
ESME_SUPPLIER_ALERTS: tuple[str, ...] = (
    "810D", "810E", "8119", "8145", "8154", "8155", "8161", "8162", "8168", "8183", "81A0",
    "81A1", "81A2", "81A3", "81A4", "81A5", "81A6", "81A7", "81A8", "81A9", "81AA", "81AB",
    "81AC", "81AD", "81AE", "81AF", "81B0", "81B1", "81B2", "81B3", "81B8", "81B9", "81BA",
    "81BB", "81BC", "81BD", "81BE", "81C0", "81C1", "81C4", "81C5", "81C6",
)
ESME_SUPPLIER_POLYPHASE_ALERTS: tuple[str, ...] = ("81B7",)


@_builds("6.2.10")
def _alert_behaviours(el: etree._Element, body: Mapping[str, Any], ctx: _Context) -> None:
    """An ESME's WAN alert settings for the supplier's alerts; a GSME's settings element
    stays empty (see FILLED_GAPS)."""
    settings = body.get("AlertSettings") or {}
    if body.get("Commodity") == "Gas" or ctx.device_type == GSME:
        _sub(el, _ra("GasSupplierAlertEventSettings"))
        return
    wan = _sub(_sub(el, _ra("ElectricitySupplierAlertEventSettings")),
               _ra("ElectricitySupplierWANAlertSettings"))
    for group, codes in (("SupplierESMECommon", ESME_SUPPLIER_ALERTS),
                         ("SupplierESMEPolyPhase", ESME_SUPPLIER_POLYPHASE_ALERTS)):
        known = [c for c in codes if c in settings]
        if known:
            node = _sub(wan, _ra(group))
            for code in known:
                _sub(node, _ra(f"x{code}"), "Enable" if settings[code] else "Disable")


FILLED_GAPS.update({
    "4.11.1": (
        "PrimaryActiveTariffPrice and CurrencyUnitsName are not written: the meter keeps its "
        "price matrix and currency, not which price is active now. A gas tariff's block prices "
        "and thresholds are its row 1."
    ),
    "4.13": (
        "MaxCreditMaxMeterBalance is the 2.1 MaxMeterBalance (Prepayment Max Credit Limit) and "
        "CreditMaxCreditThreshold the 2.1 MaxCreditThreshold (Max Credit Per Top Up). "
        "DebtRecoveryPerPayment is debt register 3's top-up percentage (2.3)."
    ),
    "6.2.4": (
        "ModelType is written only when the model name fits the type's 8 characters, and "
        "ManufacturerIdentifier only within 32; a longer name is left out rather than cut. "
        "MeterVariant is not written: the DMC catalogue names none."
    ),
    "6.2.10": (
        "The meter keeps one setting per alert, whether it goes to the WAN (6.22 sets it), so "
        "an ESME answers ElectricitySupplierWANAlertSettings for the supplier alerts it holds "
        "a setting for. A GSME's type needs WAN, HAN, event log and alarm flags for each alert; "
        "three of them the meter does not keep, so its GasSupplierAlertEventSettings is empty."
    ),
})


# --------------------------------------------------------------------------- examples

_TABLE: Tree = ["SwitchingTable", {}, [
    ["DayProfiles", {}, [["DayProfile", {}, [
        ["DayName", {}, "1"],
        ["ProfileSchedule", {}, [["StartTime", {}, "00:00:00.00Z"],
                                 ["TOUTariffAction", {}, "1"]]]]]]],
    ["WeekProfiles", {}, [["WeekProfile", {}, [
        ["WeekName", {}, "1"],
        *[["ReferencedDayName", {"index": str(d)}, "1"] for d in range(1, 8)]]]]],
]]

#: One success body per SRV of this family, in the shape its handler returns
#: (tests/harness/test_smets_response.py renders and validates each).
EXAMPLE_BODIES: dict[str, dict[str, Any]] = {
    "1.1.1": {"Commodity": "Electricity", "PriceAttributes": 12},
    "1.1.2": {"SecondaryPrices": 4},
    "1.2.2": {"SecondaryPrices": 4},
    "1.5": {"CreditAdjustment": "incremental", "Value": 1200},
    "1.6": {"PaymentMode": "Prepayment", "SuspendDebtDisabled": True,
            "SuspendDebtEmergency": False, "DisablementThreshold": 0},
    "1.7": {"BlockCountersReset": True},
    "2.1": {"Configured": ["EmergencyCreditLimit"]},
    "2.3": {"DebtRegisters": [1, 2, 3]},
    "3.2": {"RestrictionDateTime": "2024-05-01T00:00:00Z"},
    "3.3": {"Cleared": "Event"},
    "3.4": {"SupplierName": "E-ON"},
    "3.5": {"PrivacyPINDisabled": True},
    "4.1.2": {"Commodity": "Electricity", "TOURegisters": [[1, 1200], [2, 3400]]},
    "4.1.3": {"BlockRegisters": [[1, 1, 500], [1, 2, 80]], "BlockCounters": [[1, 1, 500]]},
    "4.1.4": {"BlockCounters": [[1, "12.345"], [2, "0.5"]]},
    "4.11.1": {"Commodity": "Electricity", "CurrencyUnits": "GBP", "StandingCharge": 20000,
               "StandingChargeScale": -5, "PriceScale": -5,
               "TOUPrices": [[1, 2121], [2, 3127]], "Thresholds": [[1, 1, 4294967295]],
               "SwitchingTable": _TABLE},
    "4.11.2": {"PriceScale": -5, "TOUPrices": [[1, 1010]], "SwitchingTable": _TABLE},
    "4.13": {"Commodity": "Electricity", "PaymentMode": "Credit", "SuspendDebtDisabled": False,
             "SuspendDebtEmergency": False, "DisablementThreshold": 0,
             "EmergencyCreditLimit": 500, "EmergencyCreditThreshold": 100,
             "LowCreditThreshold": 200, "MaxMeterBalance": 0, "MaxCreditThreshold": 0,
             "DebtRecoveryPerPayment": 0, "DebtRecoveryRateCap": 30,
             "DebtRecovery": {"1": {"DebtRecoveryRate": 3, "DebtRecoveryRatePeriod": "DAILY",
                                    "DebtRecoveryRatePriceScale": -1}}},
    "4.15": {"LoadLimitCounterValue": 0, "LoadLimitSupplyState": "Unchanged",
             "LoadLimitPeriod": 300, "LoadLimitPowerThreshold": 6900,
             "LoadLimitRestorationPeriod": 30},
    "6.2.1": {"RMSExtremeOverVoltageThreshold": 287, "RMSExtremeUnderVoltageThreshold": 180,
              "RMSVoltageSagThreshold": 216, "RMSVoltageSwellThreshold": 253},
    "6.2.2": {"RandomisedOffset": 0, "RandomisedOffsetNumber": 0, "RandomisedOffsetLimit": 0},
    "6.2.4": {"DeviceIdentifier": "00-DB-12-34-56-78-90-A0", "ModelType": "ACL-E1",
              "ManufacturerIdentifier": "Aclara", "Commodity": "Electricity",
              "SupplyTamperState": "Unchanged"},
    "6.2.5": {"LowMediumPowerThreshold": 2300, "MediumHighPowerThreshold": 4600},
    "6.2.7": {"Commodity": "Electricity", "ImportMPAN": "1312345678111",
              "SecondaryImportMPAN": None, "ExportMPAN": None},
    "6.2.8": {"CalorificValue": "40", "ConversionFactor": "1.02264",
              "UncontrolledGasFlowRate": 61680, "FlowStabilisationPeriod": 60,
              "FlowMeasurementPeriod": 300},
    "6.2.9": {"PaymentMode": "Credit", "SuspendDebtDisabled": False,
              "SuspendDebtEmergency": False, "DisablementThreshold": 0},
    "6.2.10": {"Commodity": "Electricity", "AlertSettings": {"810D": True, "81B7": False}},
    "6.4.1": {"LoadLimitPeriod": 300, "LoadLimitSupplyState": "Disable"},
    "6.4.2": {"LoadLimitCounterReset": True},
    "6.6": {"CalorificValue": "40.0", "ConversionFactor": "1.02264"},
    "6.8": {"BillingCalendar": "ElectricityBillingCalendar"},
    "6.20.1": {"ImportMPxN": "1312345678111"},
    "6.20.2": {"ExportMPAN": "1312345678333"},
    "6.25": {"SupplyTamperState": "Locked"},
    "6.26": {"DailyTariffBlockCounterMatrixReset": True},
    "6.27": {"RMSVoltageCountersReset": True},
    "9.1": {"CustomerIdentificationNumber": "0042"},
}

#: Success-case parameters for this family's SRVs that need some, in the shape the
#: nested parsers give (for the Standard DMCT SRV pack's ``each_srv`` tests; the
#: runner's ``SRV_CASES`` holds the core SRVs'). A meter gets these as its
#: targets' first type: an ESME where the SRV serves both.
PACK_CASES: dict[str, dict[str, Any]] = {
    "1.1.1": {"Tariff": {"Commodity": "Electricity", "CurrencyUnits": "GBP",
                         "SwitchingTable": _TABLE, "SpecialDays": None,
                         "Thresholds": [[1, 1, 4294967295]]},
              "Prices": {"Commodity": "Electricity", "CurrencyUnits": "GBP",
                         "StandingCharge": 20000, "StandingChargeScale": -5, "PriceScale": -5,
                         "TOU": [[1, 2121]]}},
    "1.1.2": {"SecondaryTariff": {"SwitchingTable": _TABLE, "SpecialDays": None},
              "SecondaryPrices": {"PriceScale": -5, "TOU": [[1, 1010]]}},
    "1.2.2": {"SecondaryPrices": {"PriceScale": -5, "TOU": [[1, 1010]]}},
    "1.5": {"AdjustMeterBalance": 1000},
    "1.6": {"PaymentMode": "Credit"},
    "2.3": {"TimeDebtRegister1": 3000,
            "DebtRecovery": {"1": {"DebtRecoveryRate": 3, "DebtRecoveryRatePeriod": "DAILY"}}},
    "3.4": {"SupplierName": "s1bench"},
    "6.6": {"CalorificValue": "39.5", "ConversionFactor": "1.02264"},
    "6.8": {"BillingCalendar": ["ElectricityBillingCalendar", {}, [
        ["BillingTime", {}, "00:00:00.00Z"], ["Monthly", {}, "1"]]]},
    "6.20.1": {"ImportMPAN": "1312345678111"},
    "6.20.2": {"ExportMPAN": "1312345678333"},
    "6.25": {"SupplyTamperState": "Locked"},
    "6.26": {"DailyTariffBlockCounterMatrixReset": True},
}

__all__ = ["ESME_SUPPLIER_ALERTS", "ESME_SUPPLIER_POLYPHASE_ALERTS", "EXAMPLE_BODIES",
           "PACK_CASES", "tree"]
