"""How the hub carries out each head-end command over the HAN.

One coroutine per command, registered in :data:`HANDLERS` under the
command's name (the S1SP's service definition says which SRV becomes which
command). Each turns the arguments into ZCL frames (or s1bench management
operations in the Tunneling cluster, see :mod:`mgmt`), reads the device's
answer and returns its data. A device's refusal raises :class:`Refused`
with the status it answered; silence raises :class:`NoResponse`. No DUIS
code is known here: the S1SP translates outcomes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from . import credentials as creds
from . import mgmt, se, zcl
from .devices import CHF
from .headend import NoResponse, OutcomeStatus, Refused, eui64_int, eui64_str
from .hub import CommsHub
from .node import PAYLOAD_ERRORS

Handler = Callable[[CommsHub, int, str, dict[str, Any]], Awaitable[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {}


def handles(op: str) -> Callable[[Handler], Handler]:
    def wrap(fn: Handler) -> Handler:
        HANDLERS[op] = fn
        return fn

    return wrap


def _refused(reason: str, zcl_status: int | None = None) -> Refused:
    return Refused(f"device refused: {reason}", OutcomeStatus.REFUSED, zcl_status)


def _bad(reason: str) -> Refused:
    return Refused(reason, OutcomeStatus.BAD_ARGUMENT)


async def _read(hub: CommsHub, ieee: int, cluster: int, attrs: list[int]) -> dict[int, Any]:
    answer = await hub.exchange(ieee, cluster, zcl.TYPE_GLOBAL, zcl.READ_ATTRIBUTES,
                                zcl.read_attributes(attrs))
    values = zcl.parse_read_attributes_response(answer.payload)
    missing = [a for a in attrs if values.get(a, (1, None))[0] != zcl.STATUS_SUCCESS]
    if missing:
        raise _refused(f"attributes {', '.join(f'{a:#06x}' for a in missing)} unsupported")
    return {a: v for a, (_, v) in values.items()}


async def _write(hub: CommsHub, ieee: int, cluster: int, records: list[tuple[int, int, Any]],
                 what: str) -> None:
    answer = await hub.exchange(ieee, cluster, zcl.TYPE_GLOBAL, zcl.WRITE_ATTRIBUTES,
                                zcl.write_attributes(records))
    failures = zcl.parse_write_attributes_response(answer.payload)
    if failures:
        raise _refused(f"{what} not accepted (ZCL status {failures[0][0]:#04x})", failures[0][0])


async def _request_tunnel(hub: CommsHub, ieee: int) -> int:
    """Ask the device for a tunnel for s1bench's operations (SE 1.x Request Tunnel)."""
    answer = await hub.exchange(ieee, se.TUNNELING, zcl.TYPE_CLUSTER, se.TUN_REQUEST_TUNNEL,
                                se.REQUEST_TUNNEL.build({
                                    "protocol_id": mgmt.PROTOCOL_ID,
                                    "manufacturer_code": mgmt.MANUFACTURER_CODE,
                                    "flow_control": 0,
                                    "max_incoming_transfer_size": mgmt.MAX_TRANSFER}))
    if answer.frame_type != zcl.TYPE_CLUSTER or answer.command != se.TUN_REQUEST_TUNNEL_RESPONSE:
        raise _refused("the device opens no tunnel (Request Tunnel not supported)")
    r = se.REQUEST_TUNNEL_RESPONSE.parse(answer.payload)
    if r.status != se.TUNNEL_SUCCESS:
        raise _refused("tunnel refused: " + se.TUNNEL_STATUS_TEXT.get(r.status,
                                                                     f"status {r.status}"))
    entry = hub.device_log.get(ieee)
    if entry is not None:
        entry.tunnel = r.tunnel_id
    return int(r.tunnel_id)


async def _tunnel(hub: CommsHub, ieee: int, op: int, data: bytes) -> tuple[int, bytes]:
    """One management operation: (status, data), whatever the status.

    It runs in the device's tunnel, requested before the first operation and
    again when the device has lost it (a reset, or Transfer Data Error 'no
    such tunnel' for the one the hub holds).
    """
    for _ in range(2):
        entry = hub.device_log.get(ieee)
        tunnel = entry.tunnel if entry is not None else None
        if tunnel is None:
            tunnel = await _request_tunnel(hub, ieee)
        answer = await hub.exchange(ieee, se.TUNNELING, zcl.TYPE_CLUSTER,
                                    se.TUN_TRANSFER_DATA_TO_SERVER,
                                    se.transfer_data(tunnel, mgmt.request(op, data)))
        if answer.frame_type == zcl.TYPE_CLUSTER and \
                answer.command == se.TUN_TRANSFER_DATA_ERROR_TO_CLIENT:
            error = se.TRANSFER_DATA_ERROR.parse(answer.payload)
            if entry is not None:
                entry.tunnel = None
            if error.status == se.TRANSFER_NO_SUCH_TUNNEL:
                continue
            raise _refused("tunnel transfer refused: " + se.TRANSFER_STATUS_TEXT.get(
                error.status, f"status {error.status}"))
        _, reply = se.parse_transfer_data(answer.payload)
        if len(reply) < 2 or reply[0] != op | mgmt.RESPONSE:
            raise _refused("malformed management response")
        return reply[1], reply[2:]
    raise _refused("the device lost the tunnel again as soon as it was opened")


async def _mgmt(hub: CommsHub, ieee: int, op: int, data: bytes = b"") -> bytes:
    """A management operation that must succeed: its data, or the device's refusal."""
    status, data = await _tunnel(hub, ieee, op, data)
    if status == mgmt.NOT_AUTHORISED:
        raise Refused("the device does not make this function available to remote parties",
                      OutcomeStatus.UNSUPPORTED, status)
    if status in _AUTHORITY_REFUSALS:
        raise Refused(f"device refused: {mgmt.STATUS_TEXT[status]}", _AUTHORITY_REFUSALS[status],
                      status)
    if status != mgmt.OK:
        raise _refused(mgmt.STATUS_TEXT.get(status, f"status {status}"), status)
    return data


#: A device's refusal on grounds of authority keeps its own outcome (see credentials).
_AUTHORITY_REFUSALS = {mgmt.WRONG_SIGNER: OutcomeStatus.WRONG_SIGNER,
                       mgmt.WRONG_ROLE: OutcomeStatus.WRONG_ROLE,
                       mgmt.STALE_COUNTER: OutcomeStatus.STALE_COUNTER}


def _kwh(wh: int) -> float:
    return round(wh / 1000.0, 3)


@handles("read_import_registers")
async def read_import_registers(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    values = await _read(hub, ieee, se.METERING,
                         [se.MET_CURRENT_SUMMATION_DELIVERED, se.MET_INSTANTANEOUS_DEMAND])
    # The ESME counts Wh and the GSME dm3; both are reported in thousands.
    return {"ImportRegister": _kwh(values[se.MET_CURRENT_SUMMATION_DELIVERED]),
            "ImportRegisterUnit": "kWh" if kind == "ESME" else "m3",
            "InstantaneousDemand": values[se.MET_INSTANTANEOUS_DEMAND]}


async def _prepay(hub: CommsHub, ieee: int) -> dict[int, Any]:
    return await _read(hub, ieee, se.PREPAYMENT, [
        se.PP_CREDIT_REMAINING, se.PP_EMERGENCY_CREDIT_REMAINING, se.PP_ACCUMULATED_DEBT])


@handles("read_prepay_values")
async def read_prepay_values(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    v = await _prepay(hub, ieee)
    return {"CreditRemaining": v[se.PP_CREDIT_REMAINING],
            "EmergencyCreditRemaining": v[se.PP_EMERGENCY_CREDIT_REMAINING],
            "AccumulatedDebt": v[se.PP_ACCUMULATED_DEBT], "Currency": "GBP pence"}


@handles("read_meter_balance")
async def read_meter_balance(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    v = await _prepay(hub, ieee)
    return {"MeterBalance": v[se.PP_CREDIT_REMAINING] - v[se.PP_ACCUMULATED_DEBT],
            "EmergencyCreditBalance": v[se.PP_EMERGENCY_CREDIT_REMAINING],
            "Currency": "GBP pence"}


@handles("top_up")
async def top_up(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    answer = await hub.exchange(ieee, se.PREPAYMENT, zcl.TYPE_CLUSTER, se.PP_CONSUMER_TOP_UP,
                                se.CONSUMER_TOP_UP.build({"originating_device": se.ORIGIN_ESI,
                                                          "top_up_code": p["UTRN"]}))
    r = se.CONSUMER_TOP_UP_RESPONSE.parse(answer.payload)
    if r.result != 0:
        raise _refused("UTRN not accepted (already used or invalid)")
    return {"TopUpValue": r.top_up_value, "CreditRemaining": r.credit_remaining}


@handles("publish_price")
async def update_price(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    price = p.get("TOUPrice") if p.get("TOUPrice") is not None else p.get("BlockPrice")
    if price is None:
        raise _bad("no TOUPrice or BlockPrice given")
    tariff = "TOU" if p.get("TOUPrice") is not None else "Block"
    # Price Trailing Digit (high nibble) is the count of decimal places: -PriceScale.
    digits = max(0, min(15, -int(p["PriceScale"])))
    answer = await hub.exchange(
        ieee, se.PRICE, zcl.TYPE_CLUSTER, se.PRICE_PUBLISH_PRICE,
        se.PUBLISH_PRICE.build({
            "provider_id": 1, "rate_label": tariff, "issuer_event_id": hub.rng.randint(1, 2**31),
            "current_time": zcl.zigbee_time(hub.clock.now()),
            "unit_of_measure": 0x00 if kind == "ESME" else 0x01, "currency": 826,
            "trailing_digit_and_tier": (digits << 4) | 1, "tiers_and_register_tier": 0x11,
            "start_time": 0, "duration_minutes": 0xFFFF, "price": price, "price_ratio": 0xFF,
            "generation_price": 0xFFFFFFFF, "generation_price_ratio": 0xFF,
            "alternate_cost_delivered": 0xFFFFFFFF, "alternate_cost_unit": 0xFF,
            "alternate_cost_trailing_digit": 0xFF, "number_of_block_thresholds": 0,
            "price_control": 0}),
        direction=zcl.TO_CLIENT, want_default_response=True)
    _, status = zcl.parse_default_response(answer.payload)
    if status != zcl.STATUS_SUCCESS:
        raise _refused(f"price not accepted (ZCL status {status:#04x})", status)
    return {"Tariff": tariff, "Price": price, "PriceScale": p["PriceScale"],
            "StandingCharge": p["StandingCharge"]}


@handles("activate_emergency_credit")
async def activate_emergency_credit(hub: CommsHub, ieee: int, kind: str,
                                    p: dict[str, Any]) -> dict:
    answer = await hub.exchange(
        ieee, se.PREPAYMENT, zcl.TYPE_CLUSTER, se.PP_SELECT_EMERGENCY_CREDIT,
        se.SELECT_EMERGENCY_CREDIT.build({"issue_time": zcl.zigbee_time(hub.clock.now()),
                                          "originating_device": se.ORIGIN_ESI}),
        want_default_response=True)
    _, status = zcl.parse_default_response(answer.payload)
    if status != zcl.STATUS_SUCCESS:
        raise _refused("emergency credit not available", status)
    v = await _prepay(hub, ieee)
    return {"EmergencyCreditActivated": True,
            "EmergencyCreditRemaining": v[se.PP_EMERGENCY_CREDIT_REMAINING]}


@handles("display_message")
async def display_message(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    message_id = hub.rng.randint(1, 2**31)
    answer = await hub.exchange(
        ieee, se.MESSAGING, zcl.TYPE_CLUSTER, se.MSG_DISPLAY_MESSAGE,
        se.DISPLAY_MESSAGE.build({"message_id": message_id, "control": 0x80, "start_time": 0,
                                  "duration_minutes": 0xFFFF, "message": p["SupplierMessage"],
                                  "extended_control": 0}),
        direction=zcl.TO_CLIENT)
    confirmed = se.MESSAGE_CONFIRMATION.parse(answer.payload)
    if confirmed.message_id != message_id:
        raise _refused("confirmation for another message")
    return {"MessageDisplayed": True}


_VOLTAGE = {
    "RMSExtremeOverVoltageThreshold": se.EM_RMS_EXTREME_OVER_VOLTAGE,
    "RMSExtremeUnderVoltageThreshold": se.EM_RMS_EXTREME_UNDER_VOLTAGE,
    "RMSVoltageSagThreshold": se.EM_RMS_VOLTAGE_SAG,
    "RMSVoltageSwellThreshold": se.EM_RMS_VOLTAGE_SWELL,
}


@handles("set_voltage_thresholds")
async def update_voltage(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    records = [(attr, zcl.INT16, int(p[name])) for name, attr in _VOLTAGE.items()
               if p.get(name) is not None]
    if not records:
        raise _bad("no voltage threshold given")
    await _write(hub, ieee, se.ELECTRICAL_MEASUREMENT, records, "voltage thresholds")
    return {name: p[name] for name in _VOLTAGE if p.get(name) is not None}


@handles("set_gas_flow")
async def update_gas_flow(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    answer = await hub.exchange(ieee, se.METERING, zcl.TYPE_CLUSTER,
                                se.MET_SET_UNCONTROLLED_FLOW_THRESHOLD,
                                se.SET_UNCONTROLLED_FLOW_THRESHOLD.build({
                                    "provider_id": 1, "issuer_event_id": hub.rng.randint(1, 2**31),
                                    "threshold": p["UncontrolledGasFlowRate"],
                                    "unit_of_measure": 0x01, "multiplier": 1, "divisor": 10000,
                                    "stabilisation_period": p["StabilisationPeriod"],
                                    "measurement_period": p["MeasurementPeriod"]}))
    _, status = zcl.parse_default_response(answer.payload)
    if status != zcl.STATUS_SUCCESS:
        raise _refused(f"gas flow configuration not accepted (ZCL status {status:#04x})", status)
    return {"UncontrolledGasFlowRate": p["UncontrolledGasFlowRate"]}


@handles("set_clock")
async def synchronise_clock(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    moment: datetime = p.get("CurrentDateTime") or hub.clock.now()
    await _write(hub, ieee, se.TIME, [(se.TIME_TIME, zcl.UTC_TIME, zcl.zigbee_time(moment))],
                 "clock")
    return {"DeviceDateTime": moment.isoformat().replace("+00:00", "Z")}


@handles("set_power_thresholds")
async def update_power_threshold(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    low, high = p["LowMediumPowerThreshold"], p["MediumHighPowerThreshold"]
    if low > high:
        raise _bad("LowMediumPowerThreshold must not exceed MediumHighPowerThreshold")
    await _write(hub, ieee, se.METERING, [(se.MET_DEMAND_LIMIT, zcl.UINT24, min(high, 2**24 - 1))],
                 "power thresholds")
    await _write(hub, ieee, se.ELECTRICAL_MEASUREMENT,
                 [(se.EM_AC_ACTIVE_POWER_OVERLOAD, zcl.INT16, min(low, 32767))],
                 "power thresholds")
    return {"LowMediumPowerThreshold": low, "MediumHighPowerThreshold": high}


def _events(entries: list[tuple[int, int, int, str]]) -> list[dict[str, Any]]:
    return [{"EventCode": f"{event_id:04X}",
             "DateTime": zcl.from_zigbee_time(when).isoformat().replace("+00:00", "Z"),
             "Detail": data} for _, event_id, when, data in entries]


@handles("read_log")
async def read_log(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    security = p.get("LogToRead") in ("Security", "GSMESecurity")
    if kind == CHF:
        return {"LogToRead": p.get("LogToRead"),
                "Events": _events(hub.security_log if security else hub.event_log)}
    answer = await hub.exchange(ieee, se.EVENTS, zcl.TYPE_CLUSTER, se.EVT_GET_EVENT_LOG,
                                se.GET_EVENT_LOG.build({
                                    "event_control_log_id": se.LOG_SECURITY if security
                                    else se.LOG_GENERAL, "event_id": 0, "start_time": 0,
                                    "end_time": 0xFFFFFFFF,
                                    "number_of_events": se.MAX_EVENTS_PER_LOG,
                                    "event_offset": 0}))
    return {"LogToRead": p.get("LogToRead"), "Events": _events(se.parse_publish_event_log(
        answer.payload))}


def _credential_digest(hub: CommsHub, p: dict[str, Any], role: str) -> bytes:
    """A digest of the certificate, for a slot whose key the emulator cannot read.

    6.21 / 8.5 still place these; the credential handlers here place public
    keys (:func:`_slot_material`).
    """
    material = p.get("DigitalSigningCertificate") or f"{role}:{hub.rng.getrandbits(128):032x}"
    text = str(material)
    if text.startswith("restore:") and len(text) == 24:
        # A rollback re-places the credential the device held before: its
        # fingerprint is all the DCC kept, and all the device compares.
        return bytes.fromhex(text[8:]) + bytes(24)
    return hashlib.sha256(text.encode()).digest()


def _slot_material(hub: CommsHub, p: dict[str, Any], role: str) -> bytes:
    """What a slot is to hold: a public key (33 bytes), or a bare digest (32) as a last resort.

    The DCC side sends the new key's public half (``__public_key``) with the
    command, signed with it. A certificate given as DER/PEM gives its own
    key; a rollback names the key it restores by fingerprint. Other text is
    not a certificate: it stands for one, and a key is derived from it whose
    private half nobody holds (so nothing can be signed under it).
    """
    key = p.get("__public_key")
    if key is not None:
        key = bytes(key)
        if len(key) != creds.PUBLIC_KEY_LEN:
            raise _bad(f"the new {role} public key is {len(key)} bytes, not "
                       f"{creds.PUBLIC_KEY_LEN} (a compressed P-256 point)")
        return key
    text = p.get("DigitalSigningCertificate")
    if text is None:
        return creds.public_key_for(f"s1bench:certificate:{role}:{hub.rng.getrandbits(128):032x}")
    text = str(text)
    if text.startswith("restore:") and len(text) == 24:
        known = creds.known_key(text[8:])
        return known if known is not None else _credential_digest(hub, p, role)
    return creds.key_from_certificate(text) or creds.public_key_for(
        f"s1bench:certificate:{text}")


def _place(slots: creds.CredentialSlots, role: str, material: bytes) -> str:
    if len(material) == creds.PUBLIC_KEY_LEN:
        return slots.place(role, material)
    return slots.place_digest(role, material)


def _fingerprint(material: bytes) -> str:
    return creds.fingerprint_of(material) if len(material) == creds.PUBLIC_KEY_LEN \
        else material.hex()[:16].upper()


@handles("update_credential")
async def update_credentials(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    role = p["RemotePartyRole"]
    material = _slot_material(hub, p, role)
    if kind == CHF:
        if not hub.credentials.authorised(creds.ACTION_CREDENTIAL | mgmt.ROLES[role], material):
            hub._log(creds.EVENT_AUTHORISATION_REFUSED,
                     f"credential update {role} without authorisation refused", security=True)
            raise Refused(f"the hub refused a {role} credential update with no authorisation",
                          OutcomeStatus.WRONG_SIGNER, mgmt.WRONG_SIGNER)
        # The hub's own firmware carries out its rotation, quirks included (110031).
        own = hub.own_outcome("update_credential", {"role": role})
        if own is None or own.apply:
            _place(hub.credentials, role, material)
            if role == "ACB":
                hub.enrolled = True
        if own is not None and not own.confirm:
            raise NoResponse(own.reason or "the hub did not confirm the rotation")
        return {"RemotePartyRole": role, "CredentialFingerprint": hub.credentials[role]}
    await _mgmt(hub, ieee, mgmt.UPDATE_CREDENTIAL, bytes([mgmt.ROLES[role]]) + material)
    return {"RemotePartyRole": role, "CredentialFingerprint": _fingerprint(material)}


@handles("change_of_supplier")
async def change_of_supplier(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    material = _slot_material(hub, p, "Supplier")
    await _mgmt(hub, ieee, mgmt.UPDATE_CREDENTIAL, bytes([mgmt.ROLES["Supplier"]]) + material)
    return {"RemotePartyRole": "Supplier", "CredentialFingerprint": _fingerprint(material)}


@handles("read_credentials")
async def read_credentials(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    if kind == CHF:
        return {"Credentials": dict(hub.credentials)}
    data = await _mgmt(hub, ieee, mgmt.READ_CREDENTIALS)
    creds = {}
    for i in range(data[0]):
        chunk = data[1 + i * 9 : 10 + i * 9]
        creds[mgmt.ROLE_NAMES.get(chunk[0], str(chunk[0]))] = chunk[1:].hex().upper()
    return {"Credentials": creds}


@handles("configure_alerts")
async def configure_alerts(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    settings: dict[str, str] = {}
    if p.get("AlertCode"):
        settings[str(p["AlertCode"]).upper()] = p.get("Setting", "Enable")
    for key, value in p.items():
        if len(key) == 5 and key[0] == "x" and isinstance(value, str):
            settings[key[1:].upper()] = value
    if not settings:
        raise _bad("no alert setting given")
    for code, value in settings.items():
        try:
            number = int(code, 16)
        except ValueError:
            raise _bad(f"alert code {code!r} is not hex") from None
        await _mgmt(hub, ieee, mgmt.CONFIGURE_ALERT,
                    number.to_bytes(2, "little") + bytes([value == "Enable"]))
    return {"AlertSettings": settings}


_SUPPLY_NAMES = {se.SUPPLY_OFF: "Disabled", se.SUPPLY_ARMED: "Armed", se.SUPPLY_ON: "Enabled"}
_SUPPLY_BY_NAME = {name: status for status, name in _SUPPLY_NAMES.items()}


async def _change_supply(hub: CommsHub, ieee: int, status: int) -> dict:
    answer = await hub.exchange(ieee, se.METERING, zcl.TYPE_CLUSTER, se.MET_CHANGE_SUPPLY,
                                se.CHANGE_SUPPLY.build({
                                    "provider_id": 1, "issuer_event_id": hub.rng.randint(1, 2**31),
                                    "request_time": zcl.zigbee_time(hub.clock.now()),
                                    "implementation_time": 0, "proposed_status": status,
                                    "control_bits": 0x01}))
    result = se.SUPPLY_STATUS_RESPONSE.parse(answer.payload)
    if result.status != status:
        raise _refused(f"supply is {_SUPPLY_NAMES.get(result.status, result.status)}")
    return {"SupplyStatus": _SUPPLY_NAMES[status]}


@handles("change_supply")
async def change_supply(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    wanted = _SUPPLY_BY_NAME.get(str(p.get("Supply")))
    if wanted is None:
        raise _bad(f"Supply must be one of {', '.join(_SUPPLY_BY_NAME)}, got {p.get('Supply')!r}")
    return await _change_supply(hub, ieee, wanted)


@handles("read_supply")
async def read_supply(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    values = await _read(hub, ieee, se.METERING, [se.MET_SUPPLY_STATUS])
    status = values[se.MET_SUPPLY_STATUS]
    return {"SupplyStatus": _SUPPLY_NAMES.get(status, str(status))}


@handles("aux_load")
async def aux_load(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    on = bool(p.get("On"))
    duration = int(p.get("DurationMinutes") or 0)
    await _mgmt(hub, ieee, mgmt.AUX_LOAD, bytes([p["AuxiliaryLoad"], on])
                + duration.to_bytes(2, "little"))
    return {"AuxiliaryLoad": p["AuxiliaryLoad"], "State": "On" if on else "Off"}


@handles("boost_config")
async def boost_config(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    add = bool(p.get("Add"))
    await _mgmt(hub, ieee, mgmt.BOOST_CONFIG, bytes([p["AuxiliaryLoad"], add]))
    return {"AuxiliaryLoad": p["AuxiliaryLoad"], "OnBoostButton": add}


@handles("read_boost")
async def read_boost(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    data = await _mgmt(hub, ieee, mgmt.READ_BOOST)
    return {"BoostLoads": [i + 1 for i in range(8) if data[0] >> i & 1]}


@handles("read_inventory")
async def read_inventory(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    devices = [{"DeviceID": hub.eui, "DeviceType": CHF, "Manufacturer": hub.info.manufacturer,
                "Model": hub.info.model, "FirmwareVersion": hub.info.firmware_version,
                "Status": "Commissioned"}]
    for entry in sorted(hub.device_log.values(), key=lambda e: e.ieee):
        row: dict[str, Any] = {"DeviceID": eui64_str(entry.ieee), "DeviceType": entry.device_type}
        if not entry.joined:
            row["Status"] = "NotJoined"
        else:
            try:
                values = await _read(hub, entry.ieee, se.BASIC, [
                    se.BASIC_MANUFACTURER, se.BASIC_MODEL, se.BASIC_SW_BUILD])
            except (NoResponse, Refused, *PAYLOAD_ERRORS):
                row["Status"] = "NoResponse"
            else:
                row.update({"Manufacturer": values[se.BASIC_MANUFACTURER],
                            "Model": values[se.BASIC_MODEL],
                            "FirmwareVersion": values[se.BASIC_SW_BUILD], "Status": "Joined"})
        devices.append(row)
    return {"Devices": devices}


@handles("join_service")
async def join_service(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    other = eui64_int(p["OtherDeviceID"])
    if hub.short_of(other) is None:
        raise Refused(f"device {p['OtherDeviceID']} is not joined to this hub",
                      OutcomeStatus.UNREACHABLE)
    await _mgmt(hub, ieee, mgmt.JOIN_SERVICE, other.to_bytes(8, "little"))
    return {"OtherDeviceID": p["OtherDeviceID"], "Joined": True}


@handles("unjoin_service")
async def unjoin_service(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    other = eui64_int(p["OtherDeviceID"])
    await _mgmt(hub, ieee, mgmt.UNJOIN_SERVICE, other.to_bytes(8, "little"))
    return {"OtherDeviceID": p["OtherDeviceID"], "Joined": False}


@handles("read_device_log")
async def read_device_log(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    return {"DeviceLog": [{"DeviceID": eui64_str(e.ieee), "DeviceType": e.device_type,
                           "Joined": e.joined}
                          for e in sorted(hub.device_log.values(), key=lambda e: e.ieee)]}


@handles("update_device_log")
async def update_device_log(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    device = eui64_int(p["DeviceID"])
    if p["RequestType"] == "Remove":
        if not hub.remove_from_log(device):
            raise Refused(f"{p['DeviceID']} is not in the device log",
                          OutcomeStatus.UNKNOWN_DEVICE)
        return {"DeviceID": p["DeviceID"], "RequestType": "Remove"}
    code = p.get("InstallCode")
    if code is None:
        raise _bad("parameter InstallCode is required to Add")
    info = hub.known.get(device)
    try:
        hub.add_to_log(device, info.device_type if info else "HCALCS", code)
    except ValueError as exc:
        raise _bad(f"parameter InstallCode: {exc}") from None
    durations = hub.open_join_window(p["JoinTimePeriod"])
    return {"DeviceID": p["DeviceID"], "RequestType": "Add",
            "JoinTimePeriod": p["JoinTimePeriod"], "PermitJoinRequests": len(durations)}


@handles("read_firmware")
async def read_firmware(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    if kind == CHF:
        return {"FirmwareVersion": hub.info.firmware_version}
    values = await _read(hub, ieee, se.BASIC, [se.BASIC_SW_BUILD])
    return {"FirmwareVersion": values[se.BASIC_SW_BUILD]}


# The families register their handlers on import (after HANDLERS exists).
from . import hub_services_logs, hub_services_tariff  # noqa: E402, F401
