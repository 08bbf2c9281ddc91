"""How the hub carries out the logs family's head-end commands over the HAN.

Handlers register with `hub_services.handles`, like the core ones. Reads of
profiles and logs page through the meter's answers one frame at a time
(Get Profile by end time, Get Snapshot and Get Prepay Snapshot by offset,
Get Top Up Log and Get Debt Repayment Log by latest end time, the
management series by records skipped), so no answer outgrows an 802.15.4
frame; :mod:`emulator.meter_logs` says which command carries what. Each
handler returns its data in the units the device keeps (Wh, dm3, W,
decivolts) with UTC ``Z`` timestamps; the S1SP's builders
(``harness/dcc/service_logs.py``) put them in the MMC types.

The comms hub's own sub-GHz configuration (6.28-6.32) lives in the hub: a
SMETS1 comms hub has a 2.4 GHz HAN only, so it keeps the configuration the
DCC writes and reads it back, records scan requests in its channel log, and
reports no operating sub-GHz channel.
"""

from __future__ import annotations

import base64
import binascii
import json
import weakref
from datetime import datetime, time
from typing import Any

from cryptography import x509

from . import meter_logs as ml
from . import mgmt, se, zcl
from .devices import CHF, GSME
from .headend import OutcomeStatus, Refused, eui64_str
from .hub import CommsHub
from .hub_services import (
    _bad,
    _fingerprint,
    _mgmt,
    _read,
    _refused,
    _slot_material,
    _tunnel,
    handles,
)

#: The most any one read collects: the MMC types' maxima.
MAX_PROFILE = 19_056
MAX_REACTIVE_PROFILE = 4_464
MAX_DAILY_READS = 31
MAX_DAILY_CONSUMPTION = 731
MAX_BILLING = 12
MAX_VOLTAGE = 4_320
MAX_GAS_NETWORK = 41
MAX_TOP_UPS = 5
MAX_DEBT_PAYMENTS = 10
_LAST_ZIGBEE_TIME = 0xFFFFFFFE


def _fuel(kind: str) -> str:
    return "Gas" if kind == GSME else "Electricity"


def _zigbee(moment: datetime) -> int:
    """A request time as a ZigBee UTCTime, clamped to what 32 bits hold (3000-12-31 too)."""
    return max(0, min(_LAST_ZIGBEE_TIME, ml.zigbee_seconds(moment)))


def _window(p: dict[str, Any]) -> tuple[int, int]:
    """ReadLogPeriod's StartDateTime and EndDateTime as ZigBee times."""
    start, end = p.get("StartDateTime"), p.get("EndDateTime")
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        raise _bad("ReadLogPeriod needs StartDateTime and EndDateTime")
    first, last = _zigbee(start), _zigbee(end)
    if first > last:
        raise _bad("ReadLogPeriod: StartDateTime is after EndDateTime")
    return first, last


async def _chunked_get(hub: CommsHub, ieee: int, op: int, head: bytes,
                       first: tuple[int, bytes] | None = None) -> bytes:
    """Read a chunked item: ``head`` then the offset (u16) in each request."""
    out = bytearray()
    total: int | None = None
    for _ in range(16_384 // ml.CHUNK + 2):
        if first is not None:
            status, data = first
            first = None
        else:
            status, data = await _tunnel(hub, ieee, op, head + len(out).to_bytes(2, "little"))
        if status != mgmt.OK:
            raise _refused(mgmt.STATUS_TEXT.get(status, f"status {status}"), status)
        total = int.from_bytes(data[:2], "little")
        out += data[2:]
        if len(out) >= total or len(data) <= 2:
            break
    return bytes(out[:total])


async def _chunked_put(hub: CommsHub, ieee: int, op: int, item: int, raw: bytes) -> bytes:
    """Write a chunked item; returns the last answer's data (an ASN.1 status on refusal)."""
    offset = 0
    while True:
        chunk = raw[offset:offset + ml.CHUNK]
        last = offset + len(chunk) >= len(raw)
        status, data = await _tunnel(hub, ieee, op, bytes([item]) + offset.to_bytes(2, "little")
                                     + bytes([last]) + chunk)
        if status == mgmt.NOT_AUTHORISED:
            raise Refused("the device does not make this function available to remote parties",
                          OutcomeStatus.UNSUPPORTED, status)
        if status != mgmt.OK:
            code = data[0] if data else status
            name = ml.ASN1_STATUSES[code] if data and code < len(ml.ASN1_STATUSES) \
                else mgmt.STATUS_TEXT.get(status, f"status {status}")
            raise _refused(name, code)
        if last:
            return data
        offset += len(chunk)


async def _series(hub: CommsHub, ieee: int, series: int, start: int, end: int,
                  limit: int) -> list[tuple[int, int]]:
    """A management time series: the newest ``limit`` records of [start, end], oldest first."""
    head = bytes([series]) + start.to_bytes(4, "little") + end.to_bytes(4, "little")
    status, data = await _tunnel(hub, ieee, ml.READ_SERIES, head + (0).to_bytes(2, "little"))
    if status != mgmt.OK:
        raise _refused(mgmt.STATUS_TEXT.get(status, f"status {status}"), status)
    total = int.from_bytes(data[:2], "little")
    skip = max(0, total - limit)
    out: list[tuple[int, int]] = []
    if skip:
        status, data = await _tunnel(hub, ieee, ml.READ_SERIES,
                                     head + skip.to_bytes(2, "little"))
    while True:
        if status != mgmt.OK:
            raise _refused(mgmt.STATUS_TEXT.get(status, f"status {status}"), status)
        count = data[2]
        for i in range(count):
            record = data[3 + 8 * i:11 + 8 * i]
            if len(record) != 8:
                raise ValueError("management series record cut short")
            out.append((int.from_bytes(record[:4], "little"),
                        int.from_bytes(record[4:], "little")))
        if not count or skip + len(out) >= total:
            return out
        status, data = await _tunnel(hub, ieee, ml.READ_SERIES,
                                     head + (skip + len(out)).to_bytes(2, "little"))


# --------------------------------------------------------------------------- profiles


async def _profile(hub: CommsHub, ieee: int, channel: int, start: int, end: int,
                   limit: int) -> list[tuple[int, int]]:
    """(period start, value) of the complete half-hours in [start, end], oldest first,
    by Get Profile requests walking back from ``end``."""
    first = -(-start // ml.PERIOD)
    cursor = end
    collected: list[tuple[int, int]] = []
    while len(collected) < limit:
        wanted = min(ml.MAX_PROFILE_PERIODS, cursor // ml.PERIOD - first, limit - len(collected))
        if wanted <= 0:
            break
        answer = await hub.exchange(ieee, se.METERING, zcl.TYPE_CLUSTER, se.MET_GET_PROFILE,
                                    ml.GET_PROFILE.build({"channel": channel,
                                                          "end_time": cursor,
                                                          "number_of_periods": wanted}))
        end_time, status, values = ml.parse_get_profile_response(answer.payload)
        if status == ml.PROFILE_NONE_AVAILABLE or not values:
            break
        if status != ml.PROFILE_SUCCESS:
            raise _refused(f"Get Profile status {status:#04x}", status)
        last_k = end_time // ml.PERIOD  # the first period after the newest delivered
        collected += [((last_k - 1 - i) * ml.PERIOD, v) for i, v in enumerate(values)
                      if last_k - 1 - i >= first]
        cursor = (last_k - len(values)) * ml.PERIOD
    collected.reverse()
    return collected


def _rows(records: list[tuple[int, int]], key: str = "Value") -> list[dict[str, Any]]:
    return [{"Timestamp": ml.iso(t), key: v} for t, v in records]


@handles("read_profile")
async def read_profile(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.8.1 (import, channel consumption delivered) and 4.8.3 (export, received)."""
    start, end = _window(p)
    export = p.get("Channel") == "Export"
    periods = await _profile(hub, ieee, ml.CHANNEL_RECEIVED if export else ml.CHANNEL_DELIVERED,
                             start, end, MAX_REACTIVE_PROFILE if export else MAX_PROFILE)
    return {"Fuel": _fuel(kind), "Unit": "dm3" if kind == GSME else "Wh",
            "Periods": _rows(periods)}


@handles("read_reactive_profile")
async def read_reactive_profile(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.8.2: varh per half-hour (no SE channel carries reactive energy)."""
    start, end = _window(p)
    return {"Unit": "varh", "Periods": _rows(await _series(
        hub, ieee, ml.SERIES_REACTIVE_IMPORT, start, end, MAX_REACTIVE_PROFILE))}


# --------------------------------------------------------------------------- snapshots


async def _snapshots(hub: CommsHub, ieee: int, cause: int, start: int, end: int,
                     limit: int) -> list[tuple[int, int]]:
    """(time, summation) of the newest ``limit`` snapshots with ``cause``, oldest first."""
    out: list[tuple[int, int]] = []
    offset = 0
    while len(out) < limit and offset < 255:
        answer = await hub.exchange(ieee, se.METERING, zcl.TYPE_CLUSTER, se.MET_GET_SNAPSHOT,
                                    ml.GET_SNAPSHOT.build({"start_time": start, "end_time": end,
                                                           "offset": offset, "cause": cause}))
        head, summation = ml.parse_publish_snapshot(answer.payload)
        if summation is None:
            break
        out.append((head.snapshot_time, summation))
        offset += 1
        if offset >= head.found:
            break
    out.reverse()
    return out


async def _prepay_snapshots(hub: CommsHub, ieee: int, cause: int, start: int, end: int,
                            limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` prepayment snapshots with ``cause``, oldest first."""
    out: list[dict[str, Any]] = []
    offset = 0
    while len(out) < limit and offset < 255:
        answer = await hub.exchange(ieee, se.PREPAYMENT, zcl.TYPE_CLUSTER,
                                    se.PP_GET_PREPAY_SNAPSHOT,
                                    ml.GET_SNAPSHOT.build({"start_time": start, "end_time": end,
                                                           "offset": offset, "cause": cause}))
        head, status = ml.parse_publish_prepay_snapshot(answer.payload)
        if status is None:
            break
        out.append({"Timestamp": ml.iso(head.snapshot_time),
                    "AccumulatedDebt": status.accumulated_debt,
                    "EmergencyCredit": status.emergency_credit,
                    "MeterBalance": status.credit - status.accumulated_debt})
        offset += 1
        if offset >= head.found:
            break
    out.reverse()
    return out


@handles("read_daily_reads")
async def read_daily_reads(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.6.1: the register at each midnight in the period (the newest 31)."""
    start, end = _window(p)
    reads = await _snapshots(hub, ieee, ml.DAILY_CAUSE, start, end, MAX_DAILY_READS)
    return {"Fuel": _fuel(kind), "Unit": "dm3" if kind == GSME else "Wh",
            "Reads": _rows(reads, "Register")}


@handles("read_export_daily_reads")
async def read_export_daily_reads(hub: CommsHub, ieee: int, kind: str,
                                  p: dict[str, Any]) -> dict:
    """4.6.2: the export register at each midnight (the newest 31)."""
    start, end = _window(p)
    return {"Unit": "Wh", "Reads": _rows(await _series(
        hub, ieee, ml.SERIES_EXPORT_DAILY, start, end, MAX_DAILY_READS), "Register")}


@handles("read_daily_consumption")
async def read_daily_consumption(hub: CommsHub, ieee: int, kind: str,
                                 p: dict[str, Any]) -> dict:
    """4.17: each day's consumption, logged at the midnight that ends the day."""
    start, end = _window(p)
    return {"Fuel": _fuel(kind), "Unit": "dm3" if kind == GSME else "Wh",
            "Days": _rows(await _series(hub, ieee, ml.SERIES_DAILY_CONSUMPTION, start, end,
                                        MAX_DAILY_CONSUMPTION))}


@handles("read_billing_log")
async def read_billing_log(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.4.2 (tariff or payment-mode triggered) and 4.4.3 (billing calendar)."""
    start, end = _window(p)
    cause = ml.TARIFF_CAUSES if p.get("Trigger") == "Tariff" else ml.CAUSE_END_OF_BILLING_PERIOD
    reads = await _snapshots(hub, ieee, cause, start, end, MAX_BILLING)
    prepay = await _prepay_snapshots(hub, ieee, cause, start, end, MAX_BILLING)
    return {"Fuel": _fuel(kind), "Unit": "dm3" if kind == GSME else "Wh",
            "Billing": _rows(reads, "Register"), "Prepayment": prepay}


@handles("read_prepay_daily_reads")
async def read_prepay_daily_reads(hub: CommsHub, ieee: int, kind: str,
                                  p: dict[str, Any]) -> dict:
    """4.14: the prepayment values at each midnight (the newest 31)."""
    start, end = _window(p)
    return {"Fuel": _fuel(kind), "Prepayment": await _prepay_snapshots(
        hub, ieee, ml.PREPAY_DAILY_CAUSE, start, end, MAX_DAILY_READS)}


@handles("read_top_up_log")
async def read_top_up_log(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.4.5: the prepayment credits (top-ups) in the period, newest five."""
    start, end = _window(p)
    out: list[tuple[int, int]] = []
    latest = end
    while len(out) < MAX_TOP_UPS:
        answer = await hub.exchange(ieee, se.PREPAYMENT, zcl.TYPE_CLUSTER, se.PP_GET_TOP_UP_LOG,
                                    ml.GET_TOP_UP_LOG.build({"latest_end_time": latest,
                                                             "number_of_records":
                                                             ml.TOP_UPS_PER_FRAME}))
        records = [r for r in ml.parse_publish_top_up_log(answer.payload) if r[2] >= start]
        out += [(when, amount) for _, amount, when in records]
        if len(records) < ml.TOP_UPS_PER_FRAME or records[-1][2] == 0:
            break
        latest = records[-1][2] - 1
    out = sorted(out[:MAX_TOP_UPS])
    return {"TopUps": _rows(out, "Amount")}


@handles("read_debt_log")
async def read_debt_log(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.4.4: payment-based debt repayments in the period, newest ten."""
    start, end = _window(p)
    out: list[tuple[int, int]] = []
    latest = end
    while len(out) < MAX_DEBT_PAYMENTS:
        answer = await hub.exchange(ieee, se.PREPAYMENT, zcl.TYPE_CLUSTER,
                                    se.PP_GET_DEBT_REPAYMENT_LOG,
                                    ml.GET_DEBT_REPAYMENT_LOG.build({
                                        "latest_end_time": latest,
                                        "number_of_records": ml.DEBTS_PER_FRAME,
                                        "debt_type": ml.DEBT_TYPE_ALL}))
        records = [r for r in ml.parse_publish_debt_log(answer.payload) if r[0] >= start]
        out += [(when, amount) for when, amount, _, _ in records]
        if len(records) < ml.DEBTS_PER_FRAME or records[-1][0] == 0:
            break
        latest = records[-1][0] - 1
    return {"DebtPayments": _rows(sorted(out[:MAX_DEBT_PAYMENTS]), "Amount")}


# --------------------------------------------------------------------------- registers


@handles("read_export_register")
async def read_export_register(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.2: Current Summation Received (Wh)."""
    values = await _read(hub, ieee, se.METERING, [se.MET_CURRENT_SUMMATION_RECEIVED])
    return {"ExportRegister": values[se.MET_CURRENT_SUMMATION_RECEIVED], "Unit": "Wh"}


@handles("read_active_power")
async def read_active_power(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.16: Instantaneous Demand (W)."""
    values = await _read(hub, ieee, se.METERING, [se.MET_INSTANTANEOUS_DEMAND])
    return {"ActivePowerImport": values[se.MET_INSTANTANEOUS_DEMAND], "Unit": "W"}


def _time_or_none(value: int) -> str | None:
    return None if value in (ml.NO_TIME, 0) else ml.iso(value)


def _clock_time(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


async def _demand_settings(hub: CommsHub, ieee: int) -> list[int]:
    status, data = await _tunnel(hub, ieee, ml.READ_DEMAND_SETTINGS, b"")
    if status != mgmt.OK or len(data) < 28:
        raise _refused(mgmt.STATUS_TEXT.get(status, f"status {status}"), status)
    return [int.from_bytes(data[i:i + 4], "little") for i in range(0, 28, 4)]


@handles("read_max_demand")
async def read_max_demand(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.12.1 (import) and 4.12.2 (export): W, averaged over the highest half-hour."""
    export = p.get("Direction") == "Export"
    value_attr, time_attr = (
        (se.MET_CURRENT_MAX_DEMAND_RECEIVED, se.MET_CURRENT_MAX_DEMAND_RECEIVED_TIME) if export
        else (se.MET_CURRENT_MAX_DEMAND_DELIVERED, se.MET_CURRENT_MAX_DEMAND_DELIVERED_TIME))
    values = await _read(hub, ieee, se.METERING, [value_attr, time_attr])
    start, end, window_value, window_at, import_reset, export_reset, window_reset = \
        await _demand_settings(hub, ieee)
    body: dict[str, Any] = {"MaxDemand": values[value_attr],
                            "CaptureTime": _time_or_none(values[time_attr]),
                            "LastReset": ml.iso(export_reset if export else import_reset)}
    if not export and start != ml.NO_TIME:
        body["Configurable"] = {"MaxDemand": window_value, "CaptureTime":
                                _time_or_none(window_at), "LastReset": ml.iso(window_reset),
                                "StartTime": _clock_time(start), "EndTime": _clock_time(end)}
    return body


def _seconds_of_day(text: Any, name: str) -> int:
    """An xs:time such as 17:00:00.00Z as seconds after midnight UTC."""
    value = str(text or "").strip()
    try:
        parsed = time.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"{name} {value!r} is not a time of day (hh:mm:ss)") from None
    return parsed.hour * 3600 + parsed.minute * 60 + parsed.second


@handles("set_max_demand_period")
async def set_max_demand_period(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.18.1: the daily period the configurable maximum demand register watches."""
    start = _seconds_of_day(p.get("StartTime"), "StartTime")
    end = _seconds_of_day(p.get("EndTime"), "EndTime")
    await _mgmt(hub, ieee, ml.SET_DEMAND_PERIOD, start.to_bytes(4, "little")
                + end.to_bytes(4, "little"))
    return {"StartTime": _clock_time(start), "EndTime": _clock_time(end)}


_RESETS = {"MaxDemandActivePowerImportValue": ml.DEMAND_IMPORT,
           "MaxDemandActivePowerExportValue": ml.DEMAND_EXPORT,
           "MaxDemandConfigTimeActivePowerImportValue": ml.DEMAND_CONFIGURABLE}


@handles("reset_max_demand")
async def reset_max_demand(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.18.2: each register named (an empty element) is reset."""
    which = sum(bit for name, bit in _RESETS.items() if p.get(name) is not None)
    if not which:
        raise _bad("ResetMaximumDemandRegisters names no register")
    await _mgmt(hub, ieee, ml.RESET_DEMAND, bytes([which]))
    return {"Reset": [name for name, bit in _RESETS.items() if which & bit]}


# --------------------------------------------------------------------------- network data


@handles("read_network_data")
async def read_network_data(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.10: an ESME's voltage counters and average RMS voltage profile; a GSME's network
    data log (the samples 14.1 recorded)."""
    start, end = _window(p)
    if kind == GSME:
        samples = await _series(hub, ieee, ml.SERIES_GAS_NETWORK, start, end, MAX_GAS_NETWORK)
        return {"Fuel": "Gas", "NetworkData": _rows(samples)}
    values = await _read(hub, ieee, se.ELECTRICAL_MEASUREMENT, [
        se.EM_AVERAGE_RMS_VOLTAGE_PERIOD, se.EM_AVERAGE_RMS_OVER_VOLTAGE_COUNTER,
        se.EM_AVERAGE_RMS_UNDER_VOLTAGE_COUNTER])
    voltage = await _series(hub, ieee, ml.SERIES_VOLTAGE, start, end, MAX_VOLTAGE)
    return {"Fuel": "Electricity",
            "OverVoltageCounter": values[se.EM_AVERAGE_RMS_OVER_VOLTAGE_COUNTER],
            "UnderVoltageCounter": values[se.EM_AVERAGE_RMS_UNDER_VOLTAGE_COUNTER],
            "MeasurementPeriod": values[se.EM_AVERAGE_RMS_VOLTAGE_PERIOD],
            "Voltage": [{"Timestamp": ml.iso(t), "Value": v / 10} for t, v in voltage]}


@handles("record_network_data")
async def record_network_data(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """14.1: the GSME records a network data sample."""
    data = await _mgmt(hub, ieee, ml.RECORD_NETWORK_DATA)
    return {"SampleID": int.from_bytes(data[:2], "little")}


# --------------------------------------------------------------------------- ALCS


@handles("alc_descriptions")
async def alc_descriptions(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.14.1: a description per switch (1-5)."""
    descriptions = p.get("Descriptions")
    if not isinstance(descriptions, dict) or not descriptions:
        raise _bad("no ALCSHCALCSDescription given")
    bad = [n for n in descriptions if str(n) not in {"1", "2", "3", "4", "5"}]
    if bad:
        raise _bad(f"ALCSHCALCSDescription index {bad[0]} is not 1-5")
    raw = json.dumps({str(n): str(t) for n, t in descriptions.items()}, sort_keys=True,
                     separators=(",", ":")).encode()
    await _chunked_put(hub, ieee, ml.PUT_ALC, ml.ALC_ITEM_DESCRIPTIONS, raw)
    return {"Descriptions": {str(n): str(t) for n, t in descriptions.items()}}


@handles("alc_schedule")
async def alc_schedule(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.14.2: the switching schedule (at most 48 entries) replaces the last."""
    schedule = p.get("Schedule")
    if not isinstance(schedule, list) or not schedule:
        raise _bad("no ALCSHCALCSConnectionSchedule given")
    if len(schedule) > 48:
        raise _bad(f"{len(schedule)} schedule entries; at most 48")
    raw = json.dumps(schedule, sort_keys=True, separators=(",", ":")).encode()
    await _chunked_put(hub, ieee, ml.PUT_ALC, ml.ALC_ITEM_SCHEDULE, raw)
    return {"Entries": len(schedule)}


async def _alc_item(hub: CommsHub, ieee: int, item: int) -> dict[str, Any]:
    raw = await _chunked_get(hub, ieee, ml.GET_ALC, bytes([item]))
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("ALCS data is not an object")
    return value


@handles("read_alc")
async def read_alc(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """7.7 and 7.14 (configuration) and 7.15 (operational data)."""
    body: dict[str, Any] = {}
    if p.get("Part") in (None, "Configuration", "All"):
        body.update(await _alc_item(hub, ieee, ml.ALC_ITEM_CONFIGURATION))
    if p.get("Part") in ("Operational", "All"):
        body.update(await _alc_item(hub, ieee, ml.ALC_ITEM_OPERATIONAL))
    return body


def _switch(p: dict[str, Any], *names: str) -> int:
    for name in names:
        value = p.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                number = int(value)
            except ValueError:
                break
            if number in ml.ALC_SWITCHES:
                return number
            raise _bad(f"{name} {number} is not 1-5")
    raise _bad(f"no switch index ({names[0]})")


@handles("alc_action")
async def alc_action(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """7.8 reset a load, 7.13 command a state, 7.16 limit an APC, 7.12 randomised offset."""
    action = p.get("Action")
    if action == "RandomisedOffsetLimit":
        limit = p.get("RandomisedOffsetLimit")
        if not isinstance(limit, int):
            raise _bad("RandomisedOffsetLimit is required")
        await _mgmt(hub, ieee, ml.ALC_ACTION, bytes([ml.ALC_RANDOMISED_OFFSET_LIMIT])
                    + limit.to_bytes(2, "little"))
        return {"RandomisedOffsetLimit": limit}
    if action == "Reset":
        switch = _switch(p, "ResetALCSHCALCS@index", "AuxiliaryLoad")
        await _mgmt(hub, ieee, ml.ALC_ACTION, bytes([ml.ALC_RESET, switch]))
        return {"Switch": switch, "Reset": True}
    switch = _switch(p, "SetAuxiliaryControllerState@auxiliaryControllerN",
                     "LimitAPCLevel@auxiliaryControllerN", "AuxiliaryController")
    level = p.get("CommandedStateLevel")
    start, end = p.get("StartDateTime"), p.get("EndDateTime")
    if not isinstance(level, int) or not isinstance(start, datetime) \
            or not isinstance(end, datetime):
        raise _bad("StartDateTime, EndDateTime and CommandedStateLevel are required")
    if start > end:
        raise _bad("StartDateTime is after EndDateTime")
    code = ml.ALC_LIMIT_APC if action == "Limit" else ml.ALC_SET_STATE
    await _mgmt(hub, ieee, ml.ALC_ACTION, bytes([code, switch, level,
                                                 p.get("InputFromControlledLoad") is not None])
                + _zigbee(start).to_bytes(4, "little") + _zigbee(end).to_bytes(4, "little"))
    return {"Switch": switch, "Level": level}


# --------------------------------------------------------------------------- credentials


def _der(text: Any, name: str) -> bytes:
    try:
        return base64.b64decode(str(text or ""), validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{name} is not base64") from None


@handles("update_device_credential")
async def update_device_credential(hub: CommsHub, ieee: int, kind: str,
                                   p: dict[str, Any]) -> dict:
    """6.15.2: the device's own certificate; its key usage says which one it replaces."""
    raw = _der(p.get("DeviceCertificate"), "DeviceCertificate")
    if not raw:
        raise _bad("DeviceCertificate is required")
    certificate_kind = ml.CREDENTIAL_KINDS["Digital Signature"]
    try:
        usage = x509.load_der_x509_certificate(raw).extensions.get_extension_for_class(
            x509.KeyUsage).value
        if usage.key_agreement:
            certificate_kind = ml.CREDENTIAL_KINDS["Key Agreement"]
    except (ValueError, x509.ExtensionNotFound):
        pass  # the device judges the certificate itself
    await _chunked_put(hub, ieee, ml.PUT_DEVICE_CREDENTIAL, certificate_kind, raw)
    return {"CredentialType": ml.CREDENTIAL_KIND_NAMES[certificate_kind]}


def _credential_kind(p: dict[str, Any]) -> int:
    kind = ml.CREDENTIAL_KINDS.get(str(p.get("CredentialType")))
    if kind is None:
        raise _bad(f"CredentialType must be one of {', '.join(ml.CREDENTIAL_KINDS)}")
    return kind


@handles("issue_device_credential")
async def issue_device_credential(hub: CommsHub, ieee: int, kind: str,
                                  p: dict[str, Any]) -> dict:
    """6.17: the device makes a key pair and answers with its certification request."""
    credential = _credential_kind(p)
    head = bytes([ml.CREDENTIAL_ISSUE, credential])
    status, data = await _tunnel(hub, ieee, ml.GET_DEVICE_CREDENTIAL, head + bytes(2))
    if status != mgmt.OK:
        code = data[0] if data else status
        raise _refused(ml.ASN1_STATUSES[code] if data else "key pair not generated", code)
    raw = await _chunked_get(hub, ieee, ml.GET_DEVICE_CREDENTIAL,
                             bytes([ml.CREDENTIAL_READ_REQUEST, credential]), (status, data))
    return {"CredentialType": ml.CREDENTIAL_KIND_NAMES[credential],
            "CertificationRequest": base64.b64encode(raw).decode()}


@handles("read_device_credential")
async def read_device_credential(hub: CommsHub, ieee: int, kind: str,
                                 p: dict[str, Any]) -> dict:
    """6.24.2: the device's certificate of the type asked."""
    credential = _credential_kind(p)
    raw = await _chunked_get(hub, ieee, ml.GET_DEVICE_CREDENTIAL,
                             bytes([ml.CREDENTIAL_READ_CERTIFICATE, credential]))
    return {"CredentialType": ml.CREDENTIAL_KIND_NAMES[credential],
            "Certificate": base64.b64encode(raw).decode()}


_CERTIFICATES = (("DigitalSigningCertificate", "DigitalSigning"),
                 ("KeyAgreementCertificate", "KeyAgreement"),
                 ("KeyAgreementTopUpCertificate", "KeyAgreementTopUp"))


@handles("replace_party_credentials")
async def replace_party_credentials(hub: CommsHub, ieee: int, kind: str,
                                    p: dict[str, Any]) -> dict:
    """6.21 (handover of a supplier's or network operator's device) and 8.5 (service opt
    out: the ACB's key agreement certificate). The device's slot for the role takes the
    fingerprint of the first certificate given, as 6.15.1 does."""
    role = str(p.get("RemotePartyRole") or "")
    if role not in mgmt.ROLES:
        raise _bad(f"RemotePartyRole must be one of {', '.join(mgmt.ROLES)}")
    given = [(param, name) for param, name in _CERTIFICATES if p.get(param)]
    if not given:
        raise _bad("ReplacementCertificates holds no certificate")
    # The DCC side sends the key it places (__public_key); else the certificate's own.
    material = _slot_material(hub, {"DigitalSigningCertificate": p[given[0][0]],
                                    "__public_key": p.get("__public_key")}, role)
    await _mgmt(hub, ieee, mgmt.UPDATE_CREDENTIAL, bytes([mgmt.ROLES[role]]) + material)
    body: dict[str, Any] = {"RemotePartyRole": role,
                            "Certificates": [name for _, name in given],
                            "CredentialFingerprint": _fingerprint(material)}
    for name in ("RemotePartyFloorSeqNumber", "RemotePartyPrepaymentTopUpFloorSeqNumber"):
        if p.get(name) is not None:
            body[name] = p[name]
    return body


# --------------------------------------------------------------------------- lifecycle


@handles("commission_device")
async def commission_device(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """8.1.1: set the meter's clock, read it back, and judge it within the tolerance."""
    moment: datetime = p.get("CurrentDateTime") or hub.clock.now()
    answer = await hub.exchange(ieee, se.TIME, zcl.TYPE_GLOBAL, zcl.WRITE_ATTRIBUTES,
                                zcl.write_attributes([(se.TIME_TIME, zcl.UTC_TIME,
                                                       _zigbee(moment))]))
    failures = zcl.parse_write_attributes_response(answer.payload)
    if failures:
        raise _refused(f"clock not accepted (ZCL status {failures[0][0]:#04x})", failures[0][0])
    device_time = (await _read(hub, ieee, se.TIME, [se.TIME_TIME]))[se.TIME_TIME]
    drift = abs(device_time - _zigbee(moment))
    return {"Fuel": _fuel(kind), "DeviceDateTime": ml.iso(device_time),
            "ClockStatus": "reliable" if drift <= int(p.get("TolerancePeriod") or 0)
            else "unreliable"}


@handles("restore_device_log")
async def restore_device_log(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """8.12.1 on the CHF: the new hub's device log takes the DCC's record of the
    installation's devices. Every device the hub already holds stays as it is (an add of
    a logged device keeps its key), so a restore onto the same hub changes nothing."""
    restored = [eui64_str(e.ieee) for e in sorted(hub.device_log.values(), key=lambda e: e.ieee)]
    hub._log(0x8F17, f"device log restored from {p.get('OldCHFID') or 'the DCC record'}")
    return {"OldCHFID": p.get("OldCHFID"), "Restored": restored}


@handles("restore_meter_joins")
async def restore_meter_joins(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """8.12.2 on a GSME (SMETS1 has no GPF): the meter re-joins each PPMID and IHD the
    hub's device log holds, as the old one had them."""
    outcomes = []
    for entry in sorted(hub.device_log.values(), key=lambda e: e.ieee):
        if entry.device_type not in ("PPMID", "IHD") or not entry.joined:
            continue
        status, _ = await _tunnel(hub, ieee, mgmt.JOIN_SERVICE, entry.ieee.to_bytes(8, "little"))
        outcomes.append({"DeviceID": eui64_str(entry.ieee), "DeviceType": entry.device_type,
                         "Joined": status == mgmt.OK, "Status": status})
    return {"OldGPFID": p.get("OldGPFID"), "Outcomes": outcomes}


@handles("distribute_firmware")
async def distribute_firmware(hub: CommsHub, ieee: int, kind: str,
                              p: dict[str, Any]) -> dict:
    """After an 11.1: the S1SP sends the image to the meter through the hub, in chunks;
    the meter holds it until an 11.3 names its SHA-256."""
    image, version = p.get("FirmwareImage"), str(p.get("FirmwareVersion") or "")
    if not isinstance(image, bytes) or not image:
        raise _bad("FirmwareImage must be the image's bytes")
    raw = bytes([len(version.encode())]) + version.encode() + image
    await _chunked_put(hub, ieee, ml.PUT_FIRMWARE_IMAGE, 0, raw)
    return {"FirmwareVersion": version, "Size": len(image)}


@handles("activate_firmware")
async def activate_firmware(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """11.3: the meter activates the image it holds if its SHA-256 is the one given."""
    wanted = p.get("FirmwareHash")
    if not isinstance(wanted, bytes) or len(wanted) != 32:
        raise _bad("FirmwareHash must be 32 bytes of hex")
    status, data = await _tunnel(hub, ieee, ml.ACTIVATE_FIRMWARE, wanted)
    if not data:
        raise _refused(mgmt.STATUS_TEXT.get(status, f"status {status}"), status)
    code = data[0]
    version = data[2:2 + data[1]].decode("utf-8", "replace") if len(data) > 1 else ""
    if status != mgmt.OK or code != ml.ASN1["success"]:
        name = ml.ASN1_STATUSES[code] if code < len(ml.ASN1_STATUSES) else f"status {code}"
        raise _refused(f"firmware not activated: {name}", code)
    return {"FirmwareVersion": version, "Activated": True}


# --------------------------------------------------------------------------- CHF sub-GHz

_SUB_GHZ: weakref.WeakKeyDictionary[CommsHub, dict[str, Any]] = weakref.WeakKeyDictionary()


def _sub_ghz(hub: CommsHub) -> dict[str, Any]:
    state = _SUB_GHZ.get(hub)
    if state is None:
        state = {"Configuration": {}, "Log": []}
        _SUB_GHZ[hub] = state
    return state


@handles("sub_ghz")
async def sub_ghz(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.28-6.32 on the CHF: its sub-GHz configuration, channel and channel log."""
    if kind != CHF:
        raise _bad("sub-GHz services are the comms hub's")
    state = _sub_ghz(hub)
    action = p.get("Action")
    if action == "Set":
        configuration = p.get("SubGHzConfiguration")
        if not isinstance(configuration, dict) or not configuration:
            raise _bad("SetCHFSubGHzConfiguration sets nothing")
        state["Configuration"] = dict(configuration)
        return {"Configuration": state["Configuration"]}
    if action == "Scan":
        state["Log"].append({"Timestamp": ml.iso(zcl.zigbee_time(hub.clock.now())),
                             "Description": "channel scan requested: this comms hub has no "
                                            "sub-GHz radio, its HAN stays on 2.4 GHz",
                             "ScanTrigger": "RemotePartyCommand"})
        del state["Log"][:-100]
        return {"ScanRequested": True}
    if action == "ReadConfiguration":
        return {"Configuration": state["Configuration"]}
    if action == "ReadChannel":
        return {"OperatingChannel": None}
    start, end = _window(p)
    return {"Log": [e for e in state["Log"]
                    if start <= ml.zigbee_seconds(datetime.fromisoformat(e["Timestamp"]))
                    <= end]}

