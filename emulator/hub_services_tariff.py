"""How the hub carries out the tariff family's head-end commands over the HAN.

Handlers register with `hub_services.handles`, like the core ones. Each turns
the S1SP's arguments into Smart Energy frames where SE 1.x has them (Price
attributes, Prepayment and Metering commands, Device Management and Events
commands) and into the tunnel's configuration items where it has not (see
:mod:`emulator.meter_tariff`), then reads back what a read SRV asks for.

Arguments arrive under DUIS names. Nested DUIS structures come whole from the
DCC side's parsers (``harness/dcc/service_tariff.py``):

* ``Prices``: ``{"Commodity", "CurrencyUnits", "StandingCharge",
  "StandingChargeScale", "PriceScale", "TOU": [[tier, price]...],
  "Block": [[row, block, price]...]}``;
* ``Tariff``: ``{"Commodity", "CurrencyUnits", "SwitchingTable",
  "SpecialDays", "Thresholds": [[row, block, threshold]...]}``, the two
  tables as DUIS trees ``[name, {attributes}, text | [children]]``;
* ``SecondaryTariff`` / ``SecondaryPrices`` likewise for a twin element;
* ``PaymentMode``, ``NonDisablementCalendar``, ``DebtRecovery``,
  ``BillingCalendar`` as their service module documents.

Values the MMC response types carry are returned under the same DUIS names,
so the SMETSData builders map them without a table of their own.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from . import meter_tariff as mt
from . import se, zcl
from .devices import CHF
from .headend import eui64_str
from .hub import CommsHub
from .hub_services import _bad, _mgmt, _read, _refused, _write, handles, update_price

#: Attributes per Read Attributes frame, and records per Write Attributes frame. A
#: secured HAN frame spends about 56 bytes on MAC, NWK (with its auxiliary header and
#: MIC), APS and ZCL headers, so 6 answers of up to 10 bytes, or 7 records of up to
#: 9 bytes (a 48-bit block threshold), keep it within 802.15.4's 127 bytes.
READ_BATCH = 6
WRITE_BATCH = 7

_CURRENCIES = {"GBP": 826, "ECB": 978}
_CURRENCY_NAMES = {v: k for k, v in _CURRENCIES.items()}
_STATE_NAMES = {mt.STATE_UNCHANGED: "Unchanged", mt.STATE_OFF: "Locked"}


# --------------------------------------------------------------------------- plumbing


async def _command(hub: CommsHub, ieee: int, cluster: int, command: int, payload: bytes,
                   what: str, *, direction: int = zcl.TO_SERVER) -> None:
    """Send an SE command that has no response of its own; its Default Response must be success."""
    answer = await hub.exchange(ieee, cluster, zcl.TYPE_CLUSTER, command, payload,
                                direction=direction, want_default_response=True)
    if answer.frame_type != zcl.TYPE_GLOBAL or answer.command != zcl.DEFAULT_RESPONSE:
        raise _refused(f"unexpected answer to {what}")
    _, status = zcl.parse_default_response(answer.payload)
    if status != zcl.STATUS_SUCCESS:
        raise _refused(f"{what} not accepted (ZCL status {status:#04x})", status)


async def _read_some(hub: CommsHub, ieee: int, cluster: int, attrs: list[int]) -> dict[int, Any]:
    """Read attributes in frame-sized batches; those the device does not hold are left out.

    A meter holds only the tiers and blocks its tariff uses and answers
    *unsupported attribute* for the rest, which is how a reader learns the
    shape of a price matrix.
    """
    values: dict[int, Any] = {}
    for start in range(0, len(attrs), READ_BATCH):
        batch = attrs[start:start + READ_BATCH]
        answer = await hub.exchange(ieee, cluster, zcl.TYPE_GLOBAL, zcl.READ_ATTRIBUTES,
                                    zcl.read_attributes(batch))
        for attr, (status, value) in zcl.parse_read_attributes_response(answer.payload).items():
            if status == zcl.STATUS_SUCCESS:
                values[attr] = value
    return values


async def _write_all(hub: CommsHub, ieee: int, cluster: int,
                     records: list[tuple[int, int, Any]], what: str) -> None:
    """Write Attributes in frame-sized batches, in order (the first record may start a matrix)."""
    for start in range(0, len(records), WRITE_BATCH):
        await _write(hub, ieee, cluster, records[start:start + WRITE_BATCH], what)


async def _put_item(hub: CommsHub, ieee: int, name: str, value: dict[str, Any]) -> None:
    """Send a configuration item through the tunnel, one chunk per Transfer Data."""
    raw = mt.encode_item(value)
    if len(raw) > mt.MAX_ITEM:
        raise _bad(f"{name} is too large for the meter ({len(raw)} bytes compressed)")
    item = mt.ITEM_IDS[name]
    for offset in range(0, len(raw), mt.CHUNK):
        chunk = raw[offset:offset + mt.CHUNK]
        last = offset + mt.CHUNK >= len(raw)
        await _mgmt(hub, ieee, mt.PUT_ITEM, bytes([item]) + offset.to_bytes(2, "little")
                    + bytes([last]) + chunk)


async def _get_item(hub: CommsHub, ieee: int, name: str) -> Any:
    """Read a configuration item back, chunk by chunk; None when the meter holds none."""
    item = mt.ITEM_IDS[name]
    raw = bytearray()
    total: int | None = None
    while total is None or len(raw) < total:
        data = await _mgmt(hub, ieee, mt.GET_ITEM, bytes([item]) + len(raw).to_bytes(2, "little"))
        if len(data) < 2:
            raise _refused(f"malformed {name} item")
        total = int.from_bytes(data[:2], "little")
        if total == 0:
            return None
        if len(data) == 2:
            raise _refused(f"truncated {name} item")
        raw.extend(data[2:])
    try:
        return mt.decode_item(bytes(raw[:total]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _refused(f"unreadable {name} item ({exc})") from None


async def _action(hub: CommsHub, ieee: int, action: str) -> bytes:
    return await _mgmt(hub, ieee, mt.ACTION, bytes([mt.ACTION_IDS[action]]))


def _int(p: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = p.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _bad(f"parameter {name}: {value!r} is not a whole number") from None
    if not low <= number <= high:
        raise _bad(f"parameter {name}: {number} is outside {low}..{high}")
    return number


def _whole(value: Any, name: str) -> int:
    """A whole number from a parsed DUIS value; anything else is the DCC's bad argument."""
    if isinstance(value, bool):
        raise _bad(f"{name} {value!r} is not a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"{name} {value!r} is not a whole number") from None


def _digits(scale: int | None, name: str) -> int:
    """A DUIS price scale (a power of ten) as SE's trailing digit (decimal places)."""
    if scale is None:
        return 0
    scale = _whole(scale, name)
    if not -15 <= scale <= 0:
        raise _bad(f"{name} {scale}: a meter's trailing digit holds 0..15 decimal places")
    return -scale


def _scaled(value: Any, name: str) -> tuple[int, int]:
    """A positive decimal as (integer, trailing digits), e.g. 1.02264 -> (102264, 5)."""
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(f"parameter {name}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise _bad(f"parameter {name}: {value!r} is not a positive number")
    exponent = number.normalize().as_tuple().exponent
    digits = max(0, -int(exponent)) if isinstance(exponent, int) else 0
    if digits > 15:
        raise _bad(f"parameter {name}: {value!r} has more than 15 decimal places")
    raw = int(number.scaleb(digits))
    if raw > 2**32 - 1:
        raise _bad(f"parameter {name}: {value!r} does not fit the meter's register")
    return raw, digits


def _unscaled(raw: int, digits: int) -> str:
    return format(Decimal(raw).scaleb(-digits).normalize(), "f")


def _commodity(kind: str) -> str:
    return "Gas" if kind == "GSME" else "Electricity"


def _event_id(hub: CommsHub) -> int:
    return hub.rng.randint(1, 2**31)


# --------------------------------------------------------------------------- prices


def _price_records(prices: dict[str, Any]) -> list[tuple[int, int, Any]]:
    """Price attribute writes for a price set; the first record starts a new matrix."""
    tou = prices.get("TOU") or []
    block = prices.get("Block") or []
    if not tou and not block:
        raise _bad("no TOU or block prices given")
    records: list[tuple[int, int, Any]] = []
    if tou:
        tou = [[_whole(t, "TOUPrice index"), _whole(v, "TOUPrice")] for t, v in tou]
        tiers = [t for t, _ in tou]
        if min(tiers) < 1 or max(tiers) > mt.MAX_TOU_TIERS:
            raise _bad(f"TOU price index outside 1..{mt.MAX_TOU_TIERS}")
        records += [(mt.PRICE_TIERS_IN_USE, zcl.UINT8, max(tiers)),
                    (mt.PRICE_TIER_BLOCK_MODE, zcl.ENUM8, mt.TIER_BLOCK_MODE_TOU_ONLY),
                    (mt.PRICE_TARIFF_LABEL, zcl.CHAR_STR, "TOU")]
        cells = [(mt.tier_price_attr(t), v) for t, v in tou]
    else:
        block = [[_whole(r, "BlockPrices index"), _whole(b, "BlockPrice index"),
                  _whole(v, "BlockPrice")] for r, b, v in block]
        rows = [r for r, _, _ in block]
        blocks = [b for _, b, _ in block]
        if min(rows) < 1 or max(rows) > mt.MAX_BLOCK_TIERS or min(blocks) < 1 \
                or max(blocks) > mt.MAX_BLOCKS:
            raise _bad(f"block price outside {mt.MAX_BLOCK_TIERS} rows of {mt.MAX_BLOCKS} blocks")
        records += [(mt.PRICE_TIERS_IN_USE, zcl.UINT8, max(rows)),
                    (mt.PRICE_TIER_BLOCK_MODE, zcl.ENUM8, mt.TIER_BLOCK_MODE_THRESHOLDS_PER_TIER),
                    (mt.PRICE_TARIFF_LABEL, zcl.CHAR_STR, "Block")]
        cells = [(mt.tier_price_attr(r, b), v) for r, b, v in block]
    for _attr, value in cells:
        if not 0 <= value <= 2**32 - 1:
            raise _bad(f"price {value} is outside 0..4294967295")
    records.append((mt.PRICE_TRAILING_DIGIT, zcl.BITMAP8,
                    _digits(prices.get("PriceScale"), "PriceScale") << 4))
    if prices.get("StandingCharge") is not None:
        charge = _whole(prices["StandingCharge"], "StandingCharge")
        if not 0 <= charge <= 2**32 - 1:
            raise _bad(f"StandingCharge {charge} is outside 0..4294967295")
        records.append((mt.PRICE_STANDING_CHARGE, zcl.UINT32, charge))
    currency = prices.get("CurrencyUnits")
    if currency is not None:
        if currency not in _CURRENCIES:
            raise _bad(f"CurrencyUnits {currency!r} is not one of {', '.join(_CURRENCIES)}")
        records.append((mt.PRICE_CURRENCY, zcl.UINT16, _CURRENCIES[currency]))
    return records + [(attr, zcl.UINT32, value) for attr, value in cells]


def _threshold_records(thresholds: list[list[int]]) -> list[tuple[int, int, Any]]:
    per_tier: dict[int, int] = {}
    cells = []
    for row, block, value in ([_whole(x, "BlockThreshold") for x in t] for t in thresholds):
        if not 1 <= row <= mt.MAX_BLOCK_TIERS or not 1 <= block <= mt.MAX_THRESHOLDS:
            raise _bad(f"block threshold outside {mt.MAX_BLOCK_TIERS} rows of "
                       f"{mt.MAX_THRESHOLDS} thresholds")
        if not 0 <= value <= 2**32 - 1:
            raise _bad(f"block threshold {value} is outside 0..4294967295")
        per_tier[row] = max(per_tier.get(row, 0), block)
        cells.append((mt.threshold_attr(row, block), zcl.UINT48, value))
    return ([(mt.PRICE_BLOCK_THRESHOLDS_IN_USE, zcl.UINT8, max(per_tier.values(), default=0))]
            + [(mt.threshold_count_attr(t), zcl.UINT8, n) for t, n in sorted(per_tier.items())]
            + cells)


async def _write_prices(hub: CommsHub, ieee: int, prices: dict[str, Any]) -> None:
    await _write_all(hub, ieee, se.PRICE, _price_records(prices), "prices")


def _flat_prices(p: dict[str, Any]) -> dict[str, Any]:
    """1.2.1 as the harness sends it without DUIS XML: one TOUPrice or BlockPrice."""
    prices: dict[str, Any] = {"StandingCharge": p.get("StandingCharge"),
                              "PriceScale": p.get("PriceScale")}
    if p.get("TOUPrice") is not None:
        prices["TOU"] = [[1, int(p["TOUPrice"])]]
    elif p.get("BlockPrice") is not None:
        prices["Block"] = [[1, 1, int(p["BlockPrice"])]]
    return prices


@handles("update_tariff")
async def update_tariff(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """1.1.1: the switching table first (the meter books consumption to the old one), then
    prices and block thresholds as Price attributes."""
    tariff, prices = p.get("Tariff"), p.get("Prices")
    if not isinstance(tariff, dict) or not isinstance(prices, dict):
        raise _bad("no tariff and price elements given")
    commodity = tariff.get("Commodity") or _commodity(kind)
    if commodity != _commodity(kind):
        raise _bad(f"a {commodity} tariff cannot go to a {kind}")
    records = _price_records(prices)
    threshold_records = _threshold_records(tariff.get("Thresholds") or [])
    await _put_item(hub, ieee, "tariff", {
        "Commodity": commodity, "SwitchingTable": tariff.get("SwitchingTable"),
        "SpecialDays": tariff.get("SpecialDays"),
        "StandingChargeScale": prices.get("StandingChargeScale"),
        "PriceScale": prices.get("PriceScale")})
    await _write_all(hub, ieee, se.PRICE, records, "tariff prices")
    await _write_all(hub, ieee, se.PRICE, threshold_records, "block thresholds")
    return {"Commodity": commodity, "PriceAttributes": len(records) + len(threshold_records)}


@handles("update_price_primary")
async def update_price_primary(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """1.2.1: the whole price set as Price attributes, then Publish Price of the first price.

    Publish Price is what the hub sent for 1.2.1 before the price matrix was
    kept on the meter; it stays, so captures and firmware quirks keyed on it
    ("update_price") see the same exchange as before.
    """
    prices = p.get("Prices") if isinstance(p.get("Prices"), dict) else _flat_prices(p)
    await _write_prices(hub, ieee, prices)
    if prices.get("PriceScale") is not None:
        # The tariff item keeps the scales SE has no attribute for.
        tariff = await _get_item(hub, ieee, "tariff") or {"Commodity": _commodity(kind)}
        tariff.update({k: prices.get(k) for k in ("PriceScale", "StandingChargeScale")
                       if prices.get(k) is not None})
        await _put_item(hub, ieee, "tariff", tariff)
    first = (prices.get("TOU") or [[1, None]])[0][1]
    block = (prices.get("Block") or [[1, 1, None]])[0][2]
    scale = prices.get("PriceScale")
    return await update_price(hub, ieee, kind, {
        "TOUPrice": first, "BlockPrice": block if first is None else None,
        "PriceScale": -5 if scale is None else scale,
        "StandingCharge": prices.get("StandingCharge") or 0})


async def _read_prices(hub: CommsHub, ieee: int, kind: str) -> dict[str, Any]:
    head = await _read(hub, ieee, se.PRICE, [
        mt.PRICE_TIERS_IN_USE, mt.PRICE_BLOCK_THRESHOLDS_IN_USE, mt.PRICE_TIER_BLOCK_MODE,
        mt.PRICE_CURRENCY, mt.PRICE_TRAILING_DIGIT, mt.PRICE_STANDING_CHARGE])
    tiers = int(head[mt.PRICE_TIERS_IN_USE])
    body: dict[str, Any] = {"Commodity": _commodity(kind),
                            "CurrencyUnits": _CURRENCY_NAMES.get(head[mt.PRICE_CURRENCY]),
                            "StandingCharge": head[mt.PRICE_STANDING_CHARGE],
                            "PriceScale": -(int(head[mt.PRICE_TRAILING_DIGIT]) >> 4)}
    if head[mt.PRICE_TIER_BLOCK_MODE] == mt.TIER_BLOCK_MODE_TOU_ONLY:
        attrs = {mt.tier_price_attr(t): t for t in range(1, tiers + 1)}
        got = await _read_some(hub, ieee, se.PRICE, list(attrs))
        body["TOUPrices"] = [[attrs[a], v] for a, v in sorted(got.items(), key=lambda kv:
                                                              attrs[kv[0]])]
    else:
        cells = {mt.tier_price_attr(t, b): (t, b) for t in range(1, tiers + 1)
                 for b in range(1, mt.MAX_BLOCKS + 1)}
        got = await _read_some(hub, ieee, se.PRICE, list(cells))
        body["BlockPrices"] = [[*cells[a], v] for a, v in sorted(got.items(), key=lambda kv:
                                                                 cells[kv[0]])]
    if head[mt.PRICE_BLOCK_THRESHOLDS_IN_USE]:
        count = int(head[mt.PRICE_BLOCK_THRESHOLDS_IN_USE])
        cells = {mt.threshold_attr(t, b): (t, b) for t in range(1, mt.MAX_BLOCK_TIERS + 1)
                 for b in range(1, count + 1)}
        got = await _read_some(hub, ieee, se.PRICE, list(cells))
        body["Thresholds"] = [[*cells[a], v] for a, v in sorted(got.items(), key=lambda kv:
                                                                cells[kv[0]])]
    return body


@handles("read_tariff")
async def read_tariff(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.11.1: the Price attributes and the tariff item, as 1.1.1 and 1.2.1 left them."""
    body = await _read_prices(hub, ieee, kind)
    tariff = await _get_item(hub, ieee, "tariff") or {}
    for name in ("SwitchingTable", "SpecialDays", "StandingChargeScale"):
        if tariff.get(name) is not None:
            body[name] = tariff[name]
    if tariff.get("PriceScale") is not None:
        body["PriceScale"] = tariff["PriceScale"]
    return body


@handles("update_tariff_secondary")
async def update_tariff_secondary(hub: CommsHub, ieee: int, kind: str,
                                  p: dict[str, Any]) -> dict:
    """1.1.2: a twin element's secondary tariff. SE 1.x addresses one element per
    endpoint and the hub speaks to endpoint 1, so the secondary tariff is an item."""
    tariff, prices = p.get("SecondaryTariff"), p.get("SecondaryPrices")
    if not isinstance(tariff, dict) or not isinstance(prices, dict):
        raise _bad("no secondary tariff and price elements given")
    item = {"SwitchingTable": tariff.get("SwitchingTable"),
            "SpecialDays": tariff.get("SpecialDays"), **_secondary_prices(prices)}
    await _put_item(hub, ieee, "secondary_tariff", item)
    return {"SecondaryPrices": len(item["TOUPrices"])}


def _secondary_prices(prices: dict[str, Any]) -> dict[str, Any]:
    tou = prices.get("TOU") or []
    if not tou:
        raise _bad("no secondary element prices given")
    tou = [[_whole(i, "ElectricityPriceElement index"), _whole(v, "ElectricityPriceElement")]
           for i, v in tou]
    for index, value in tou:
        if not 1 <= index <= 4 or not 0 <= value <= 2**32 - 1:
            raise _bad(f"secondary price {index}: {value} is outside the element's 4 prices")
    scale = prices.get("PriceScale")
    _digits(scale, "PriceScale")
    return {"PriceScale": scale, "TOUPrices": tou}


@handles("update_price_secondary")
async def update_price_secondary(hub: CommsHub, ieee: int, kind: str,
                                 p: dict[str, Any]) -> dict:
    """1.2.2: the secondary element's prices; its switching table stays."""
    prices = p.get("SecondaryPrices")
    if not isinstance(prices, dict):
        raise _bad("no secondary price elements given")
    item = await _get_item(hub, ieee, "secondary_tariff") or {}
    item.update(_secondary_prices(prices))
    await _put_item(hub, ieee, "secondary_tariff", item)
    return {"SecondaryPrices": len(item["TOUPrices"])}


@handles("read_tariff_secondary")
async def read_tariff_secondary(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    return await _get_item(hub, ieee, "secondary_tariff") or {}


# --------------------------------------------------------------------------- prepayment


@handles("update_meter_balance")
async def update_meter_balance(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """1.5 with Credit Adjustment: an adjustment is incremental; a reset is absolute.

    s1bench's meter balance is credit less accumulated debt (the 4.3 and 4.18
    reads), so a reset sets the credit to the accumulated debt it reads first.
    """
    adjust = _int(p, "AdjustMeterBalance", -(2**31), 2**31 - 1)
    if adjust is None and "ResetMeterBalance" not in p:
        raise _bad("neither AdjustMeterBalance nor ResetMeterBalance given")
    if adjust is not None:
        kind_, value = mt.CREDIT_INCREMENTAL, adjust
    else:
        debt = await _read(hub, ieee, se.PREPAYMENT, [se.PP_ACCUMULATED_DEBT])
        kind_, value = mt.CREDIT_ABSOLUTE, int(debt[se.PP_ACCUMULATED_DEBT])
    await _command(hub, ieee, se.PREPAYMENT, mt.PP_CREDIT_ADJUSTMENT,
                   mt.CREDIT_ADJUSTMENT.build({
                       "issuer_event_id": _event_id(hub),
                       "start_time": zcl.zigbee_time(hub.clock.now()),
                       "credit_adjustment_type": kind_, "credit_adjustment_value": value}),
                   "meter balance adjustment")
    return {"CreditAdjustment": "absolute" if kind_ == mt.CREDIT_ABSOLUTE else "incremental",
            "Value": value}


def _payment_mode_of(configuration: int) -> dict[str, Any]:
    return {"PaymentMode": "Prepayment" if configuration & mt.PCC_PREPAYMENT_ENABLED
            else "Credit",
            "SuspendDebtDisabled": not configuration & mt.PCC_DEBT_CONFIGURATION,
            "SuspendDebtEmergency": not configuration & mt.PCC_EMERGENCY_DEBT_CONFIGURATION}


@handles("update_payment_mode")
async def update_payment_mode(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """1.6 with Change Payment Mode; the meter answers with Change Payment Mode Response."""
    mode = p.get("PaymentMode")
    if mode not in ("Credit", "Prepayment"):
        raise _bad(f"PaymentMode must be Credit or Prepayment, got {mode!r}")
    now = await _read(hub, ieee, se.PREPAYMENT, [mt.PP_PAYMENT_CONTROL_CONFIGURATION,
                                                 mt.PP_CUT_OFF_VALUE])
    configuration = int(now[mt.PP_PAYMENT_CONTROL_CONFIGURATION])
    cut_off = int(now[mt.PP_CUT_OFF_VALUE])
    configuration &= ~(mt.PCC_PREPAYMENT_ENABLED | mt.PCC_CREDIT_MANAGEMENT_ENABLED
                       | mt.PCC_DISCONNECTION_ENABLED)
    if mode == "Credit":
        configuration |= mt.PCC_CREDIT_MANAGEMENT_ENABLED
    else:
        configuration |= mt.PCC_PREPAYMENT_ENABLED | mt.PCC_DISCONNECTION_ENABLED
        for flag, bit in (("SuspendDebtDisabled", mt.PCC_DEBT_CONFIGURATION),
                          ("SuspendDebtEmergency", mt.PCC_EMERGENCY_DEBT_CONFIGURATION)):
            if p.get(flag) is not None:
                configuration = configuration & ~bit if p[flag] else configuration | bit
        threshold = _int(p, "DisablementThreshold", -(2**31), 2**31 - 1)
        if threshold is not None:
            cut_off = threshold
    answer = await hub.exchange(ieee, se.PREPAYMENT, zcl.TYPE_CLUSTER, mt.PP_CHANGE_PAYMENT_MODE,
                                mt.CHANGE_PAYMENT_MODE.build({
                                    "provider_id": 1, "issuer_event_id": _event_id(hub),
                                    "implementation_time": 0,
                                    "proposed_payment_control_configuration": configuration,
                                    "cut_off_value": cut_off}))
    if answer.frame_type == zcl.TYPE_GLOBAL and answer.command == zcl.DEFAULT_RESPONSE:
        _, status = zcl.parse_default_response(answer.payload)
        raise _refused(f"payment mode not accepted (ZCL status {status:#04x})", status)
    if answer.command != mt.PP_CHANGE_PAYMENT_MODE_RESPONSE:
        raise _refused("unexpected answer to Change Payment Mode")
    mt.CHANGE_PAYMENT_MODE_RESPONSE.parse(answer.payload)
    return {**_payment_mode_of(configuration), "DisablementThreshold": cut_off}


@handles("read_payment_mode")
async def read_payment_mode(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.2.9: Payment Control Configuration and Cut Off Value, as 1.6 left them."""
    now = await _read(hub, ieee, se.PREPAYMENT, [mt.PP_PAYMENT_CONTROL_CONFIGURATION,
                                                 mt.PP_CUT_OFF_VALUE])
    return {**_payment_mode_of(int(now[mt.PP_PAYMENT_CONTROL_CONFIGURATION])),
            "DisablementThreshold": int(now[mt.PP_CUT_OFF_VALUE])}


@handles("update_prepay_configuration")
async def update_prepay_configuration(hub: CommsHub, ieee: int, kind: str,
                                      p: dict[str, Any]) -> dict:
    """2.1: Emergency Credit Setup, Set Low Credit Warning Level and Set Maximum Credit
    Limit where SE has them; the rate cap and non-disablement calendar as an item."""
    u32 = 2**32 - 1
    limit = _int(p, "EmergencyCreditLimit", 0, u32)
    threshold = _int(p, "EmergencyCreditThreshold", 0, u32)
    low = _int(p, "LowCreditThreshold", 0, u32)
    max_balance = _int(p, "MaxMeterBalance", 0, u32)
    max_credit = _int(p, "MaxCreditThreshold", 0, u32)
    cap = _int(p, "DebtRecoveryRateCap", 0, u32)
    now = await _read(hub, ieee, se.PREPAYMENT, [
        mt.PP_EMERGENCY_CREDIT_LIMIT, mt.PP_EMERGENCY_CREDIT_THRESHOLD, mt.PP_MAX_CREDIT_LIMIT,
        mt.PP_MAX_CREDIT_PER_TOP_UP])
    moment = zcl.zigbee_time(hub.clock.now())
    if limit is not None or threshold is not None:
        await _command(hub, ieee, se.PREPAYMENT, mt.PP_EMERGENCY_CREDIT_SETUP,
                       mt.EMERGENCY_CREDIT_SETUP.build({
                           "issuer_event_id": _event_id(hub), "start_time": moment,
                           "emergency_credit_limit": limit if limit is not None
                           else now[mt.PP_EMERGENCY_CREDIT_LIMIT],
                           "emergency_credit_threshold": threshold if threshold is not None
                           else now[mt.PP_EMERGENCY_CREDIT_THRESHOLD]}),
                       "emergency credit setup")
    if low is not None:
        await _command(hub, ieee, se.PREPAYMENT, mt.PP_SET_LOW_CREDIT_WARNING_LEVEL,
                       mt.SET_LOW_CREDIT_WARNING_LEVEL.build({"low_credit_warning_level": low}),
                       "low credit warning level")
    if max_balance is not None or max_credit is not None:
        await _command(hub, ieee, se.PREPAYMENT, mt.PP_SET_MAXIMUM_CREDIT_LIMIT,
                       mt.SET_MAXIMUM_CREDIT_LIMIT.build({
                           "provider_id": 1, "issuer_event_id": _event_id(hub),
                           "implementation_time": 0,
                           "maximum_credit_level": max_balance if max_balance is not None
                           else now[mt.PP_MAX_CREDIT_LIMIT],
                           "maximum_credit_per_top_up": max_credit if max_credit is not None
                           else now[mt.PP_MAX_CREDIT_PER_TOP_UP]}),
                       "maximum credit limit")
    item = await _get_item(hub, ieee, "prepay") or {}
    if cap is not None:
        item["DebtRecoveryRateCap"] = cap
    if p.get("NonDisablementCalendar") is not None:
        item["NonDisablementCalendar"] = p["NonDisablementCalendar"]
    item["Commodity"] = _commodity(kind)
    await _put_item(hub, ieee, "prepay", item)
    return {"Configured": sorted(k for k in (
        "EmergencyCreditLimit", "EmergencyCreditThreshold", "LowCreditThreshold",
        "MaxMeterBalance", "MaxCreditThreshold", "DebtRecoveryRateCap",
        "NonDisablementCalendar") if p.get(k) is not None)}


@handles("update_debt")
async def update_debt(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """2.3 with one Change Debt per register: time-based registers 1 and 2, the
    payment-based register 3 (DebtRecoveryPerPayment as its top-up percentage)."""
    u31 = 2**31 - 1
    recovery: dict[str, Any] = p.get("DebtRecovery") or {}
    plan = [(1, _int(p, "TimeDebtRegister1", 0, u31), recovery.get("1")),
            (2, _int(p, "TimeDebtRegister2", 0, u31), recovery.get("2")),
            (3, _int(p, "PaymentDebtRegister", 0, u31), None)]
    per_payment = _int(p, "DebtRecoveryPerPayment", 0, 65535)
    if all(amount is None for _, amount, _ in plan) and per_payment is None:
        raise _bad("no debt register given")
    moment = zcl.zigbee_time(hub.clock.now())
    now = await _read(hub, ieee, se.PREPAYMENT, [mt.debt_attr(mt.PP_DEBT_AMOUNT, 3)])
    scales: dict[str, Any] = {}
    for register, amount, rate in plan:
        if register == 3 and amount is None and per_payment is not None:
            amount = int(now[mt.debt_attr(mt.PP_DEBT_AMOUNT, 3)])
        if amount is None:
            continue
        period = str((rate or {}).get("DebtRecoveryRatePeriod") or "DAILY")
        if period not in mt.DEBT_FREQUENCY:
            raise _bad(f"DebtRecoveryRatePeriod {period!r} is not HOURLY or DAILY")
        rate_value = int((rate or {}).get("DebtRecoveryRate") or 0)
        if not 0 <= rate_value <= u31:
            raise _bad(f"DebtRecoveryRate {rate_value} is outside 0..{u31}")
        if rate and rate.get("DebtRecoveryRatePriceScale") is not None:
            scales[str(register)] = int(rate["DebtRecoveryRatePriceScale"])
        await _command(hub, ieee, se.PREPAYMENT, mt.PP_CHANGE_DEBT, mt.CHANGE_DEBT.build({
            "issuer_event_id": _event_id(hub), "debt_label": f"Debt{register}",
            "debt_amount": amount,
            "debt_recovery_method": mt.DEBT_TIME_BASED if register < 3
            else mt.DEBT_PERCENTAGE_BASED,
            "debt_amount_type": 0x00,  # absolute amount
            "debt_recovery_start_time": moment, "debt_recovery_collection_time": 0,
            "debt_recovery_frequency": mt.DEBT_FREQUENCY[period],
            "debt_recovery_amount": rate_value if register < 3 else 0,
            "debt_recovery_balance_percentage": (per_payment or 0) if register == 3 else 0}),
            f"debt register {register}")
    if scales:
        item = await _get_item(hub, ieee, "debt_recovery") or {}
        item.update({"PriceScale": {**item.get("PriceScale", {}), **scales}})
        await _put_item(hub, ieee, "debt_recovery", item)
    return {"DebtRegisters": [r for r, amount, _ in plan if amount is not None]}


@handles("read_prepay_configuration")
async def read_prepay_configuration(hub: CommsHub, ieee: int, kind: str,
                                    p: dict[str, Any]) -> dict:
    """4.13: what 2.1, 2.3 and 1.6 set, from the Prepayment attributes and the items."""
    attrs = [mt.PP_PAYMENT_CONTROL_CONFIGURATION, mt.PP_CUT_OFF_VALUE,
             mt.PP_EMERGENCY_CREDIT_LIMIT, mt.PP_EMERGENCY_CREDIT_THRESHOLD,
             mt.PP_LOW_CREDIT_WARNING, mt.PP_MAX_CREDIT_LIMIT, mt.PP_MAX_CREDIT_PER_TOP_UP,
             mt.debt_attr(mt.PP_DEBT_RECOVERY_TOP_UP_PERCENTAGE, 3)]
    for register in (1, 2):
        attrs += [mt.debt_attr(mt.PP_DEBT_RECOVERY_AMOUNT, register),
                  mt.debt_attr(mt.PP_DEBT_RECOVERY_FREQUENCY, register)]
    values: dict[int, Any] = {}
    for start in range(0, len(attrs), READ_BATCH):
        values.update(await _read(hub, ieee, se.PREPAYMENT, attrs[start:start + READ_BATCH]))
    item = await _get_item(hub, ieee, "prepay") or {}
    scales = (await _get_item(hub, ieee, "debt_recovery") or {}).get("PriceScale", {})
    body: dict[str, Any] = {
        "Commodity": _commodity(kind),
        **_payment_mode_of(int(values[mt.PP_PAYMENT_CONTROL_CONFIGURATION])),
        "DisablementThreshold": values[mt.PP_CUT_OFF_VALUE],
        "EmergencyCreditLimit": values[mt.PP_EMERGENCY_CREDIT_LIMIT],
        "EmergencyCreditThreshold": values[mt.PP_EMERGENCY_CREDIT_THRESHOLD],
        "LowCreditThreshold": values[mt.PP_LOW_CREDIT_WARNING],
        "MaxMeterBalance": values[mt.PP_MAX_CREDIT_LIMIT],
        "MaxCreditThreshold": values[mt.PP_MAX_CREDIT_PER_TOP_UP],
        "DebtRecoveryPerPayment": values[mt.debt_attr(mt.PP_DEBT_RECOVERY_TOP_UP_PERCENTAGE, 3)],
        "DebtRecovery": {
            str(r): {"DebtRecoveryRate": values[mt.debt_attr(mt.PP_DEBT_RECOVERY_AMOUNT, r)],
                     "DebtRecoveryRatePeriod": mt.DEBT_FREQUENCY_NAMES.get(
                         values[mt.debt_attr(mt.PP_DEBT_RECOVERY_FREQUENCY, r)], "DAILY"),
                     **({"DebtRecoveryRatePriceScale": scales[str(r)]}
                        if str(r) in scales else {})}
            for r in (1, 2)},
    }
    for name in ("DebtRecoveryRateCap", "NonDisablementCalendar"):
        if item.get(name) is not None:
            body[name] = item[name]
    return body


# --------------------------------------------------------------------------- registers


def _register_value(kind: str, raw: int) -> int | str:
    """ESME registers count Wh (whole numbers in the MMC types); GSME ones dm3, as m3."""
    return raw if kind == "ESME" else _unscaled(raw, 3)


@handles("read_tou_registers")
async def read_tou_registers(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.1.2: Current Tier N Summation Delivered for the tiers the meter has booked."""
    tiers = mt.MAX_TOU_TIERS if kind == "ESME" else 4
    attrs = {mt.tier_summation_attr(t): t for t in range(1, tiers + 1)}
    got = await _read_some(hub, ieee, se.METERING, list(attrs))
    return {"Commodity": _commodity(kind),
            "TOURegisters": [[attrs[a], _register_value(kind, v)]
                             for a, v in sorted(got.items(), key=lambda kv: attrs[kv[0]])]}


@handles("read_tou_block_registers")
async def read_tou_block_registers(hub: CommsHub, ieee: int, kind: str,
                                   p: dict[str, Any]) -> dict:
    """4.1.3: Current Tier t Block b Summation Delivered, with the block counters."""
    cells = {mt.block_summation_attr(t, b): (t, b) for t in range(1, mt.MAX_BLOCK_TIERS + 1)
             for b in range(1, mt.MAX_BLOCKS + 1)}
    got = await _read_some(hub, ieee, se.METERING, list(cells))
    counters = (await _get_item(hub, ieee, "block_counters") or {}).get("counters", [])
    return {"BlockRegisters": [[*cells[a], v] for a, v in sorted(got.items(), key=lambda kv:
                                                                 cells[kv[0]])],
            "BlockCounters": counters}


@handles("read_block_counters")
async def read_block_counters(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.1.4: a gas meter's block counters (its block tariff has one row)."""
    counters = (await _get_item(hub, ieee, "block_counters") or {}).get("counters", [])
    return {"BlockCounters": [[b, _register_value(kind, v)] for t, b, v in counters if t == 1]}


@handles("reset_block_counters")
async def reset_block_counters(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """1.7: no SE command resets block counters; a tunnel action does."""
    await _action(hub, ieee, "reset_block_counters")
    return {"BlockCountersReset": True}


@handles("set_block_counter_reset")
async def set_block_counter_reset(hub: CommsHub, ieee: int, kind: str,
                                  p: dict[str, Any]) -> dict:
    """6.26: whether the meter resets its block counters daily (an item)."""
    daily = p.get("DailyTariffBlockCounterMatrixReset")
    if daily is None:
        raise _bad("DailyTariffBlockCounterMatrixReset is required")
    await _put_item(hub, ieee, "block_counter_reset", {"Daily": bool(daily)})
    return {"DailyTariffBlockCounterMatrixReset": bool(daily)}


# --------------------------------------------------------------------------- supplier side


@handles("restrict_access_cot")
async def restrict_access_cot(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """3.2 with Publish Change Of Tenancy; the restriction starts at RestrictionDateTime."""
    moment = p.get("RestrictionDateTime") or hub.clock.now()
    await _command(hub, ieee, se.DEVICE_MANAGEMENT, mt.DM_PUBLISH_CHANGE_OF_TENANCY,
                   mt.PUBLISH_CHANGE_OF_TENANCY.build({
                       "provider_id": 1, "issuer_event_id": _event_id(hub),
                       "tariff_type": 0x00,  # delivered (import) tariff
                       "implementation_time": zcl.zigbee_time(moment),
                       # Block historical load profile information (bit 7): the new
                       # tenant must not see the old one's data.
                       "proposed_tenancy_change_control": 0x80}),
                   "change of tenancy", direction=zcl.TO_CLIENT)
    return {"RestrictionDateTime": moment.isoformat().replace("+00:00", "Z")}


@handles("clear_event_log")
async def clear_event_log(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """3.3: Clear Event Log Request for the event log; the ALCS log by tunnel action."""
    which = p.get("ESMEEventLogType") or "Event"
    if which == "ALCS":
        await _action(hub, ieee, "clear_alcs_log")
        return {"Cleared": "ALCS"}
    answer = await hub.exchange(ieee, se.EVENTS, zcl.TYPE_CLUSTER, mt.EVT_CLEAR_EVENT_LOG_REQUEST,
                                mt.CLEAR_EVENT_LOG_REQUEST.build({"log_id": se.LOG_GENERAL}))
    if answer.command != mt.EVT_CLEAR_EVENT_LOG_RESPONSE or answer.frame_type != zcl.TYPE_CLUSTER:
        raise _refused("unexpected answer to Clear Event Log Request")
    cleared = mt.CLEAR_EVENT_LOG_RESPONSE.parse(answer.payload).cleared_event_logs
    if not cleared & (1 << se.LOG_GENERAL):
        raise _refused("event log not cleared")
    return {"Cleared": "Event"}


@handles("update_supplier_name")
async def update_supplier_name(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """3.4: Device Management's Provider Name and Provider Contact Details."""
    name = p.get("SupplierName")
    if not name:
        raise _bad("SupplierName is required")
    records = [(mt.DM_PROVIDER_NAME, zcl.CHAR_STR, str(name))]
    if p.get("SupplierTelephoneNumber"):
        records.append((mt.DM_PROVIDER_CONTACT_DETAILS, zcl.CHAR_STR,
                        str(p["SupplierTelephoneNumber"])))
    await _write(hub, ieee, se.DEVICE_MANAGEMENT, records, "supplier name")
    return {"SupplierName": name}


@handles("disable_privacy_pin")
async def disable_privacy_pin(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """3.5: SE 1.x has no privacy PIN; the meter keeps the setting as an item."""
    await _put_item(hub, ieee, "privacy_pin", {"Disabled": True})
    return {"PrivacyPINDisabled": True}


@handles("request_cin")
async def request_cin(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """9.1: the meter draws a new CIN and shows it; the DCC learns it on its display only.

    The MMC response carries nothing, so the body's CIN is for the test record.
    """
    cin = await _action(hub, ieee, "new_cin")
    return {"CustomerIdentificationNumber": cin.decode("ascii", "replace")}


# --------------------------------------------------------------------------- configuration


@handles("read_voltage_config")
async def read_voltage_config(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.2.1: the RMS voltage thresholds 6.5 wrote (Electrical Measurement attributes)."""
    names = {"RMSExtremeOverVoltageThreshold": se.EM_RMS_EXTREME_OVER_VOLTAGE,
             "RMSExtremeUnderVoltageThreshold": se.EM_RMS_EXTREME_UNDER_VOLTAGE,
             "RMSVoltageSagThreshold": se.EM_RMS_VOLTAGE_SAG,
             "RMSVoltageSwellThreshold": se.EM_RMS_VOLTAGE_SWELL}
    values = await _read(hub, ieee, se.ELECTRICAL_MEASUREMENT, list(names.values()))
    return {name: values[attr] for name, attr in names.items()}


@handles("read_power_thresholds")
async def read_power_thresholds(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.2.5: where 6.12 writes them (Metering Demand Limit, Electrical Measurement
    AC Active Power Overload)."""
    high = await _read(hub, ieee, se.METERING, [se.MET_DEMAND_LIMIT])
    low = await _read(hub, ieee, se.ELECTRICAL_MEASUREMENT, [se.EM_AC_ACTIVE_POWER_OVERLOAD])
    return {"LowMediumPowerThreshold": low[se.EM_AC_ACTIVE_POWER_OVERLOAD],
            "MediumHighPowerThreshold": high[se.MET_DEMAND_LIMIT]}


@handles("read_randomisation")
async def read_randomisation(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    return await _get_item(hub, ieee, "randomisation") or {}


@handles("read_identity")
async def read_identity(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.2.4: Basic cluster identity and the Metering tamper and depletion states."""
    if kind == CHF:
        return {"DeviceIdentifier": hub.eui, "ModelType": hub.info.model,
                "ManufacturerIdentifier": hub.info.manufacturer}
    basic = await _read(hub, ieee, se.BASIC, [se.BASIC_MANUFACTURER, se.BASIC_MODEL])
    states = await _read(hub, ieee, se.METERING, [mt.MET_SUPPLY_TAMPER_STATE,
                                                  mt.MET_SUPPLY_DEPLETION_STATE])
    body = {"DeviceIdentifier": eui64_str(ieee), "ModelType": basic[se.BASIC_MODEL],
            "ManufacturerIdentifier": basic[se.BASIC_MANUFACTURER],
            "Commodity": _commodity(kind),
            "SupplyTamperState": _STATE_NAMES.get(states[mt.MET_SUPPLY_TAMPER_STATE], "Locked")}
    if kind == "GSME":
        body["SupplyDepletionState"] = _STATE_NAMES.get(
            states[mt.MET_SUPPLY_DEPLETION_STATE], "Locked")
    return body


@handles("set_tamper_state")
async def set_tamper_state(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.25 with Set Supply Status; the other states are sent as the meter holds them."""
    wanted = p.get("SupplyTamperState")
    if wanted not in ("Unchanged", "Locked"):
        raise _bad(f"SupplyTamperState must be Unchanged or Locked, got {wanted!r}")
    await _set_supply_status(hub, ieee, tamper=mt.STATE_OFF if wanted == "Locked"
                             else mt.STATE_UNCHANGED)
    return {"SupplyTamperState": wanted}


async def _set_supply_status(hub: CommsHub, ieee: int, *, tamper: int | None = None,
                             load_limit: int | None = None) -> None:
    now = await _read(hub, ieee, se.METERING, [mt.MET_SUPPLY_TAMPER_STATE,
                                               mt.MET_SUPPLY_DEPLETION_STATE,
                                               mt.MET_LOAD_LIMIT_SUPPLY_STATE])
    await _command(hub, ieee, se.METERING, mt.MET_SET_SUPPLY_STATUS, mt.SET_SUPPLY_STATUS.build({
        "issuer_event_id": _event_id(hub),
        "supply_tamper_state": now[mt.MET_SUPPLY_TAMPER_STATE] if tamper is None else tamper,
        "supply_depletion_state": now[mt.MET_SUPPLY_DEPLETION_STATE],
        "supply_uncontrolled_flow_state": mt.STATE_UNCHANGED,
        "load_limit_supply_state": now[mt.MET_LOAD_LIMIT_SUPPLY_STATE] if load_limit is None
        else load_limit}), "supply status")


@handles("update_load_limit")
async def update_load_limit(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.4.1: the supply state with Set Supply Status; threshold and periods as an item.

    The threshold does not go to Metering's Demand Limit: 6.12 keeps its
    medium/high power threshold there, and 6.2.5 reads it back from there.
    """
    settings = {name: _int(p, name, 0, 2**32 - 1) for name in (
        "LoadLimitPeriod", "LoadLimitPowerThreshold", "LoadLimitRestorationPeriod")}
    state = p.get("LoadLimitSupplyState")
    if state not in (None, "Disable", "Unchanged"):
        raise _bad(f"LoadLimitSupplyState must be Disable or Unchanged, got {state!r}")
    await _put_item(hub, ieee, "load_limit", {k: v for k, v in settings.items() if v is not None})
    if state is not None:
        await _set_supply_status(hub, ieee, load_limit=mt.STATE_OFF if state == "Disable"
                                 else mt.STATE_UNCHANGED)
    return {k: v for k, v in {**settings, "LoadLimitSupplyState": state}.items() if v is not None}


@handles("reset_load_limit_counter")
async def reset_load_limit_counter(hub: CommsHub, ieee: int, kind: str,
                                   p: dict[str, Any]) -> dict:
    await _command(hub, ieee, se.METERING, mt.MET_RESET_LOAD_LIMIT_COUNTER,
                   mt.RESET_LOAD_LIMIT_COUNTER.build({"provider_id": 1,
                                                      "issuer_event_id": _event_id(hub)}),
                   "load limit counter reset")
    return {"LoadLimitCounterReset": True}


@handles("read_load_limit")
async def read_load_limit(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """4.15: Load Limit Counter and Supply State attributes, with the 6.4.1 settings."""
    values = await _read(hub, ieee, se.METERING, [mt.MET_LOAD_LIMIT_COUNTER,
                                                  mt.MET_LOAD_LIMIT_SUPPLY_STATE])
    settings = await _get_item(hub, ieee, "load_limit") or {}
    return {"LoadLimitCounterValue": values[mt.MET_LOAD_LIMIT_COUNTER],
            "LoadLimitSupplyState": "Disable"
            if values[mt.MET_LOAD_LIMIT_SUPPLY_STATE] == mt.STATE_OFF else "Unchanged",
            **settings}


@handles("reset_rms_voltage_counters")
async def reset_rms_voltage_counters(hub: CommsHub, ieee: int, kind: str,
                                     p: dict[str, Any]) -> dict:
    """6.27: the RMS voltage counters have no SE attribute; a tunnel action resets them."""
    await _action(hub, ieee, "reset_rms_voltage_counters")
    return {"RMSVoltageCountersReset": True}


@handles("update_gas_conversion")
async def update_gas_conversion(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.6: Price cluster Calorific Value and Conversion Factor with their trailing digits."""
    records: list[tuple[int, int, Any]] = []
    for name, attr, digit_attr in (
            ("CalorificValue", mt.PRICE_CALORIFIC_VALUE, mt.PRICE_CALORIFIC_VALUE_DIGIT),
            ("ConversionFactor", mt.PRICE_CONVERSION_FACTOR, mt.PRICE_CONVERSION_FACTOR_DIGIT)):
        if p.get(name) is not None:
            raw, digits = _scaled(p[name], name)
            records += [(attr, zcl.UINT32, raw), (digit_attr, zcl.BITMAP8, digits << 4)]
    if not records:
        raise _bad("neither CalorificValue nor ConversionFactor given")
    await _write(hub, ieee, se.PRICE, records, "gas conversion")
    return {name: str(p[name]) for name in ("CalorificValue", "ConversionFactor")
            if p.get(name) is not None}


@handles("read_gas_config")
async def read_gas_config(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.2.8: 6.6's conversion values and 6.7's uncontrolled-flow settings."""
    price = await _read_some(hub, ieee, se.PRICE, [
        mt.PRICE_CALORIFIC_VALUE, mt.PRICE_CALORIFIC_VALUE_DIGIT, mt.PRICE_CONVERSION_FACTOR,
        mt.PRICE_CONVERSION_FACTOR_DIGIT])
    flow = await _read(hub, ieee, se.METERING, [mt.MET_UNCONTROLLED_FLOW_THRESHOLD,
                                                mt.MET_FLOW_STABILISATION_PERIOD,
                                                mt.MET_FLOW_MEASUREMENT_PERIOD])
    body: dict[str, Any] = {
        "UncontrolledGasFlowRate": flow[mt.MET_UNCONTROLLED_FLOW_THRESHOLD],
        "FlowStabilisationPeriod": flow[mt.MET_FLOW_STABILISATION_PERIOD],
        "FlowMeasurementPeriod": flow[mt.MET_FLOW_MEASUREMENT_PERIOD]}
    for name, attr, digit_attr in (
            ("CalorificValue", mt.PRICE_CALORIFIC_VALUE, mt.PRICE_CALORIFIC_VALUE_DIGIT),
            ("ConversionFactor", mt.PRICE_CONVERSION_FACTOR, mt.PRICE_CONVERSION_FACTOR_DIGIT)):
        if attr in price:
            body[name] = _unscaled(int(price[attr]), int(price.get(digit_attr, 0)) >> 4)
    return body


@handles("update_billing_calendar")
async def update_billing_calendar(hub: CommsHub, ieee: int, kind: str,
                                  p: dict[str, Any]) -> dict:
    """6.8: the billing calendar as the DUIS request gives it, kept as an item."""
    calendar = p.get("BillingCalendar")
    if calendar is None:
        raise _bad("no billing calendar given")
    await _put_item(hub, ieee, "billing_calendar", {"Calendar": calendar})
    return {"BillingCalendar": str(calendar[0]) if isinstance(calendar, list) else "set"}


@handles("set_import_mpxn")
async def set_import_mpxn(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.20.1: Update Site ID for the import MPAN or MPRN; a secondary MPAN as an item."""
    site = p.get("ImportMPAN") or p.get("ImportMPRN")
    if not site:
        raise _bad("ImportMPAN or ImportMPRN is required")
    await _command(hub, ieee, se.DEVICE_MANAGEMENT, mt.DM_UPDATE_SITE_ID,
                   mt.UPDATE_SITE_ID.build({"issuer_event_id": _event_id(hub),
                                            "site_id_time": 0, "provider_id": 1,
                                            "site_id": str(site)}),
                   "site id", direction=zcl.TO_CLIENT)
    if p.get("SecondaryImportMPAN"):
        item = await _get_item(hub, ieee, "mpxn") or {}
        item["SecondaryImportMPAN"] = str(p["SecondaryImportMPAN"])
        await _put_item(hub, ieee, "mpxn", item)
    return {"ImportMPxN": str(site)}


@handles("set_export_mpan")
async def set_export_mpan(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.20.2: SE's Site ID is the import MPxN; the export MPAN is an item."""
    if not p.get("ExportMPAN"):
        raise _bad("ExportMPAN is required")
    item = await _get_item(hub, ieee, "mpxn") or {}
    item["ExportMPAN"] = str(p["ExportMPAN"])
    await _put_item(hub, ieee, "mpxn", item)
    return {"ExportMPAN": item["ExportMPAN"]}


@handles("read_mpxn")
async def read_mpxn(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.2.7: the Site ID (import) and the item (secondary import, export)."""
    site = await _read(hub, ieee, se.METERING, [mt.MET_SITE_ID])
    raw = site[mt.MET_SITE_ID]
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
    item = await _get_item(hub, ieee, "mpxn") or {}
    if kind == "GSME":
        return {"Commodity": "Gas", "MPRN": text or None}
    return {"Commodity": "Electricity", "ImportMPAN": text or None,
            "SecondaryImportMPAN": item.get("SecondaryImportMPAN"),
            "ExportMPAN": item.get("ExportMPAN")}


@handles("read_alert_config")
async def read_alert_config(hub: CommsHub, ieee: int, kind: str, p: dict[str, Any]) -> dict:
    """6.2.10: which alerts the meter sends to the WAN, as 6.22 configured them."""
    data = await _mgmt(hub, ieee, mt.READ_ALERT_SETTINGS)
    settings = {}
    for i in range(data[0] if data else 0):
        chunk = data[1 + 3 * i:4 + 3 * i]
        settings[f"{int.from_bytes(chunk[:2], 'little'):04X}"] = bool(chunk[2])
    return {"Commodity": _commodity(kind), "AlertSettings": settings}
