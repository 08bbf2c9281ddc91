"""Meter state and behaviour for tariffs, prices, prepayment configuration and payment mode.

A mixin of :class:`emulator.devices.Meter`: what a write sets, a read returns,
and every write and read is a real ZCL exchange with the hub.

Where Smart Energy 1.x has a home for a value, the meter keeps it there, so a
capture shows it under Wireshark's own name (the ids below carry those names,
from ``tshark -G values | grep zbee_zcl_se``):

* **Price cluster (0x0700) attributes** hold the price matrix, block
  thresholds, standing charge, currency, price trailing digit and the gas
  conversion values. A SMETS1 meter is its installation's price source for
  the IHD, so it keeps the tariff as Price server attributes; the hub (the
  DCC's head-end) sets them with Write Attributes and reads them back with
  Read Attributes. Writing *Number of Price Tiers in Use* starts a new price
  matrix and writing *Number of Block Thresholds in Use* a new threshold
  matrix: ZCL cannot delete attributes, and a tariff replaces the old one,
  so the meter forgets the previous prices or thresholds at that point and
  answers *unsupported attribute* for a tier it no longer holds.
* **Prepayment cluster (0x0705) commands** carry the payment mode (Change
  Payment Mode), meter balance (Credit Adjustment), debts (Change Debt),
  emergency credit (Emergency Credit Setup), low credit (Set Low Credit
  Warning Level) and maximum credit (Set Maximum Credit Limit); the results
  are the cluster's attributes.
* **Metering (0x0702)**: Set Supply Status (tamper and load-limit supply
  states), Reset Load Limit Counter, the Site ID (the import MPxN), tier and
  tier-block summations.
* **Device Management (0x0708)**: Publish Change Of Tenancy, provider name
  and contact details. **Events (0x0709)**: Clear Event Log Request.

What SE 1.x has no command or attribute for (a TOU switching table with its
seasons and special days, a twin element's secondary tariff, a non-disablement
calendar, debt recovery rate caps, load-limit periods, billing calendars,
privacy PINs, block counter resets) travels as s1bench management operations
in the Tunneling cluster, op codes 0x20-0x2F, as the credential operations
do (:mod:`emulator.mgmt`). A configuration *item* is canonical JSON,
zlib-compressed and cut into chunks of :data:`CHUNK` bytes, so each frame
stays within an 802.15.4 frame as it would on a real radio.
"""

from __future__ import annotations

import json
import zlib
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, ClassVar

from construct import Int8ul, Int16ul, Int32sl, Int32ul, PascalString, Struct

from . import mgmt, se, zcl

# --------------------------------------------------------------------------- SE ids
# Price cluster (0x0700) server attributes; per-tier ids are computed below.
PRICE_TIER_BLOCK_THRESHOLD = 0x0110  # Tier 1 Block 1 Threshold (+16 per tier, +1 per block)
PRICE_TIER_BLOCK_THRESHOLD_COUNT = 0x011F  # Tier 1 Block Threshold Count (+16 per tier)
PRICE_STANDING_CHARGE = 0x0301  # Standing Charge
PRICE_CONVERSION_FACTOR = 0x0302  # Conversion Factor
PRICE_CONVERSION_FACTOR_DIGIT = 0x0303  # Conversion Factor TrailingDigit
PRICE_CALORIFIC_VALUE = 0x0304  # Calorific Value
PRICE_CALORIFIC_VALUE_DIGIT = 0x0306  # Calorific Value Trailing Digit
PRICE_TIER_BLOCK_PRICE = 0x0410  # Tier 1 Block 1 Price (+16 per tier, +1 per block)
PRICE_TIER_16 = 0x050F  # Price Tier 16 (tiers 16..48 follow)
PRICE_TARIFF_LABEL = 0x0610  # Tariff Label
PRICE_TIERS_IN_USE = 0x0611  # Number of Price Tiers in Use
PRICE_BLOCK_THRESHOLDS_IN_USE = 0x0612  # Number of Block Thresholds in Use
PRICE_TIER_BLOCK_MODE = 0x0613  # Tier Block Mode
PRICE_CURRENCY = 0x0616  # Currency
PRICE_TRAILING_DIGIT = 0x0617  # Price Trailing Digit

# Tier Block Mode values: thresholds per tier, or no blocks at all (a TOU-only tariff).
TIER_BLOCK_MODE_THRESHOLDS_PER_TIER = 0x02
TIER_BLOCK_MODE_TOU_ONLY = 0xFF

# Prepayment cluster (0x0705) server attributes.
PP_PAYMENT_CONTROL_CONFIGURATION = 0x0000  # Payment Control Configuration
PP_EMERGENCY_CREDIT_LIMIT = 0x0010  # Emergency Credit Limit / Allowance
PP_EMERGENCY_CREDIT_THRESHOLD = 0x0011  # Emergency Credit Threshold
PP_MAX_CREDIT_LIMIT = 0x0021  # Max Credit Limit
PP_MAX_CREDIT_PER_TOP_UP = 0x0022  # Max Credit Per Top Up
PP_LOW_CREDIT_WARNING = 0x0031  # Low Credit Warning
PP_CUT_OFF_VALUE = 0x0040  # Cut Off Value
PP_DEBT_AMOUNT = 0x0211  # Debt Amount #1 (+16 per debt register)
PP_DEBT_RECOVERY_METHOD = 0x0212  # Debt Recovery Method #1
PP_DEBT_RECOVERY_FREQUENCY = 0x0216  # Debt Recovery Frequency #1
PP_DEBT_RECOVERY_AMOUNT = 0x0217  # Debt Recovery Amount #1
PP_DEBT_RECOVERY_TOP_UP_PERCENTAGE = 0x0219  # Debt Recovery Top Up Percentage #1
# Prepayment commands, client -> server, and the one answer of its own.
PP_CHANGE_DEBT = 0x02  # Change Debt
PP_EMERGENCY_CREDIT_SETUP = 0x03  # Emergency Credit Setup
PP_CREDIT_ADJUSTMENT = 0x05  # Credit Adjustment
PP_CHANGE_PAYMENT_MODE = 0x06  # Change Payment Mode
PP_SET_LOW_CREDIT_WARNING_LEVEL = 0x09  # Set Low Credit Warning Level
PP_SET_MAXIMUM_CREDIT_LIMIT = 0x0B  # Set Maximum Credit Limit
PP_CHANGE_PAYMENT_MODE_RESPONSE = 0x02  # Change Payment Mode Response (server -> client)

# Payment Control Configuration bits (SE Prepayment). s1bench reads SuspendDebtDisabled
# as "Debt Configuration" cleared and SuspendDebtEmergency as "Emergency Debt
# Configuration" cleared: both bits say whether debt is collected in that state.
PCC_DISCONNECTION_ENABLED = 0x0001
PCC_PREPAYMENT_ENABLED = 0x0002
PCC_CREDIT_MANAGEMENT_ENABLED = 0x0004
PCC_DEBT_CONFIGURATION = 0x0400
PCC_EMERGENCY_DEBT_CONFIGURATION = 0x0800

# Debt Recovery Method and Frequency values (SE Prepayment).
DEBT_TIME_BASED, DEBT_PERCENTAGE_BASED = 0x00, 0x01
DEBT_FREQUENCY = {"HOURLY": 0x01, "DAILY": 0x02}
DEBT_FREQUENCY_NAMES = {v: k for k, v in DEBT_FREQUENCY.items()}
# Credit Adjustment Type values.
CREDIT_INCREMENTAL, CREDIT_ABSOLUTE = 0x00, 0x01

# Metering cluster (0x0702).
MET_TIER_SUMMATION = 0x0100  # Current Tier 1 Summation Delivered (+2 per tier)
MET_SITE_ID = 0x0307  # Site ID
MET_CUSTOMER_ID_NUMBER = 0x0311  # Customer ID Number
MET_LOAD_LIMIT_SUPPLY_STATE = 0x0605  # Load Limit Supply State
MET_LOAD_LIMIT_COUNTER = 0x0606  # Load Limit Counter
MET_SUPPLY_TAMPER_STATE = 0x0607  # Supply Tamper State
MET_SUPPLY_DEPLETION_STATE = 0x0608  # Supply Depletion State
MET_BLOCK_SUMMATION = 0x0700  # Current No Tier Block 1 Summation Delivered (tier t: +16t)
MET_UNCONTROLLED_FLOW_THRESHOLD = 0x0B10  # Uncontrolled Flow Threshold
MET_FLOW_STABILISATION_PERIOD = 0x0B14  # Flow Stabilisation Period
MET_FLOW_MEASUREMENT_PERIOD = 0x0B15  # Flow Measurement Period
MET_RESET_LOAD_LIMIT_COUNTER = 0x0A  # Reset Load Limit Counter
MET_SET_SUPPLY_STATUS = 0x0D  # Set Supply Status
# Supply, tamper, depletion and load-limit state values (SE 1.x): 0 supply on (DUIS
# "Unchanged"), 2 supply off (DUIS "Locked" for tamper, "Disable" for the load limit).
STATE_UNCHANGED, STATE_OFF = 0x00, 0x02

# Device Management cluster (0x0708).
DM_PROVIDER_NAME = 0x0101  # Provider Name
DM_PROVIDER_CONTACT_DETAILS = 0x0102  # Provider Contact Details
DM_CHANGE_OF_TENANCY_TIME = 0x0200  # Change of Tenancy Update Date/Time
DM_PROPOSED_TENANCY_CHANGE_CONTROL = 0x0201  # Proposed Tenancy Change control
DM_PUBLISH_CHANGE_OF_TENANCY = 0x00  # Publish Change Of Tenancy (server -> client)
DM_UPDATE_SITE_ID = 0x03  # Update Site ID (server -> client)

# Events cluster (0x0709).
EVT_CLEAR_EVENT_LOG_REQUEST = 0x01  # Clear Event Log Request (client -> server)
EVT_CLEAR_EVENT_LOG_RESPONSE = 0x02  # Clear Event Log Response (server -> client)

MAX_TOU_TIERS = 48
MAX_BLOCK_TIERS = 8
MAX_BLOCKS = 4
MAX_THRESHOLDS = 3


def tier_price_attr(tier: int, block: int = 1) -> int:
    """Tier ``tier`` Block ``block`` Price; TOU tiers above 15 are Price Tier 16..48."""
    if tier > 15:
        return PRICE_TIER_16 + tier - 16
    return PRICE_TIER_BLOCK_PRICE + 16 * (tier - 1) + block - 1


def threshold_attr(tier: int, block: int) -> int:
    return PRICE_TIER_BLOCK_THRESHOLD + 16 * (tier - 1) + block - 1


def threshold_count_attr(tier: int) -> int:
    return PRICE_TIER_BLOCK_THRESHOLD_COUNT + 16 * (tier - 1)


def debt_attr(base: int, register: int) -> int:
    return base + 16 * (register - 1)


def tier_summation_attr(tier: int) -> int:
    return MET_TIER_SUMMATION + 2 * (tier - 1)


def block_summation_attr(tier: int, block: int) -> int:
    """Current Tier ``tier`` Block ``block`` Summation Delivered; tier 0 is No Tier."""
    return MET_BLOCK_SUMMATION + 16 * tier + block - 1


# --------------------------------------------------------------------------- payloads
CHANGE_PAYMENT_MODE = Struct(
    "provider_id" / Int32ul,
    "issuer_event_id" / Int32ul,
    "implementation_time" / Int32ul,
    "proposed_payment_control_configuration" / Int16ul,
    "cut_off_value" / Int32sl,
).compile()

CHANGE_PAYMENT_MODE_RESPONSE = Struct(
    "friendly_credit" / Int8ul,
    "friendly_credit_calendar_id" / Int32ul,
    "emergency_credit_limit" / Int32ul,
    "emergency_credit_threshold" / Int32ul,
).compile()

CREDIT_ADJUSTMENT = Struct(
    "issuer_event_id" / Int32ul,
    "start_time" / Int32ul,
    "credit_adjustment_type" / Int8ul,
    "credit_adjustment_value" / Int32sl,
).compile()

CHANGE_DEBT = Struct(
    "issuer_event_id" / Int32ul,
    "debt_label" / PascalString(Int8ul, "utf8"),
    "debt_amount" / Int32sl,
    "debt_recovery_method" / Int8ul,
    "debt_amount_type" / Int8ul,
    "debt_recovery_start_time" / Int32ul,
    "debt_recovery_collection_time" / Int16ul,
    "debt_recovery_frequency" / Int8ul,
    "debt_recovery_amount" / Int32sl,
    "debt_recovery_balance_percentage" / Int16ul,
).compile()

EMERGENCY_CREDIT_SETUP = Struct(
    "issuer_event_id" / Int32ul,
    "start_time" / Int32ul,
    "emergency_credit_limit" / Int32ul,
    "emergency_credit_threshold" / Int32ul,
).compile()

SET_LOW_CREDIT_WARNING_LEVEL = Struct("low_credit_warning_level" / Int32ul).compile()

SET_MAXIMUM_CREDIT_LIMIT = Struct(
    "provider_id" / Int32ul,
    "issuer_event_id" / Int32ul,
    "implementation_time" / Int32ul,
    "maximum_credit_level" / Int32ul,
    "maximum_credit_per_top_up" / Int32ul,
).compile()

RESET_LOAD_LIMIT_COUNTER = Struct("provider_id" / Int32ul, "issuer_event_id" / Int32ul).compile()

SET_SUPPLY_STATUS = Struct(
    "issuer_event_id" / Int32ul,
    "supply_tamper_state" / Int8ul,
    "supply_depletion_state" / Int8ul,
    "supply_uncontrolled_flow_state" / Int8ul,
    "load_limit_supply_state" / Int8ul,
).compile()

PUBLISH_CHANGE_OF_TENANCY = Struct(
    "provider_id" / Int32ul,
    "issuer_event_id" / Int32ul,
    "tariff_type" / Int8ul,
    "implementation_time" / Int32ul,
    "proposed_tenancy_change_control" / Int32ul,
).compile()

UPDATE_SITE_ID = Struct(
    "issuer_event_id" / Int32ul,
    "site_id_time" / Int32ul,
    "provider_id" / Int32ul,
    "site_id" / PascalString(Int8ul, "ascii"),
).compile()

CLEAR_EVENT_LOG_REQUEST = Struct("log_id" / Int8ul).compile()
CLEAR_EVENT_LOG_RESPONSE = Struct("cleared_event_logs" / Int8ul).compile()

# --------------------------------------------------------------------------- tunnel ops
PUT_ITEM = 0x20
GET_ITEM = 0x21
ACTION = 0x22
READ_ALERT_SETTINGS = 0x23

#: Configuration items (tunnel ops 0x20/0x21): id -> name.
ITEMS = {
    1: "tariff",
    2: "secondary_tariff",
    3: "prepay",
    4: "load_limit",
    5: "billing_calendar",
    6: "mpxn",
    7: "privacy_pin",
    8: "block_counter_reset",
    9: "randomisation",
    10: "block_counters",
    11: "debt_recovery",
}
ITEM_IDS = {name: number for number, name in ITEMS.items()}
#: Items a meter derives itself: the hub may read them, never write them.
READ_ONLY_ITEMS = frozenset({"randomisation", "block_counters"})
#: Tunnel actions (op 0x22).
ACTIONS = {1: "new_cin", 2: "reset_block_counters", 3: "reset_rms_voltage_counters",
           4: "clear_alcs_log"}
ACTION_IDS = {name: number for number, name in ACTIONS.items()}
#: Item bytes per Transfer Data frame: with the op, item, offset and flag bytes,
#: the tunnel and ZCL headers, APS, NWK (secured) and MAC, a frame stays under 127 bytes.
CHUNK = 48
#: The largest item a meter stores (compressed).
MAX_ITEM = 16_384


def encode_item(value: Any) -> bytes:
    """Canonical JSON, compressed: the same value always gives the same bytes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode("utf-8"), 9)


def decode_item(raw: bytes) -> Any:
    return json.loads(zlib.decompress(raw).decode("utf-8"))


# --------------------------------------------------------------------------- trees
# Nested DUIS structures (switching tables, calendars) are kept as the DUIS
# request gave them: [name, {attributes}, text | [children]]. The meter looks
# inside only to find which tariff register is active now.

def kids(node: Any, name: str) -> list[Any]:
    if not isinstance(node, list) or len(node) != 3 or not isinstance(node[2], list):
        return []
    return [c for c in node[2] if isinstance(c, list) and c and c[0] == name]


def kid(node: Any, name: str) -> Any:
    found = kids(node, name)
    return found[0] if found else None


def text_of(node: Any, name: str) -> str | None:
    child = kid(node, name)
    if child is None or not isinstance(child[2], str):
        return None
    return child[2]


def _number(text: str | None) -> int | None:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


def _date_matches(node: Any, day: date) -> bool:
    """A DUIS Date (or gas wildcard date): every specified part must match ``day``."""
    parts = {"Year": day.year, "Month": day.month, "DayOfMonth": day.day,
             "DayOfWeek": day.isoweekday()}
    for wrapper in (node[2] if isinstance(node, list) and isinstance(node[2], list) else []):
        name = str(wrapper[0]).removeprefix("Gas").removesuffix("WithWildcards")
        wanted = parts.get(name)
        for choice in wrapper[2] if isinstance(wrapper[2], list) else []:
            if str(choice[0]).startswith("Specified") and wanted is not None:
                if _number(choice[2]) != wanted:
                    return False
            elif choice[0] == "LastDayOfMonth":
                nxt = date.fromordinal(day.toordinal() + 1)
                if nxt.month == day.month:
                    return False
    return True


def _season_start(node: Any, year: int) -> date | None:
    start = kid(node, "SeasonStartDate")
    if start is None:
        return None
    values: dict[str, int] = {}
    for wrapper in start[2] if isinstance(start[2], list) else []:
        name = str(wrapper[0]).removeprefix("Gas").removesuffix("WithWildcards")
        for choice in wrapper[2] if isinstance(wrapper[2], list) else []:
            if str(choice[0]).startswith("Specified"):
                number = _number(choice[2])
                if number is not None:
                    values[name] = number
    try:
        return date(values.get("Year", year), values.get("Month", 1), values.get("DayOfMonth", 1))
    except ValueError:
        return None


def active_action(table: Any, special_days: Any, moment: datetime) -> tuple[str, int] | None:
    """(``TOU`` or ``Block``, register) a switching table selects at ``moment``, if any.

    The season is the one with the latest start on or before the day (a start
    without a year recurs every year); its week profile gives the day profile
    for the weekday, unless a special day names one; the day profile's last
    schedule entry at or before the time of day gives the action. A gas day
    profile has one action for the whole day.
    """
    if table is None:
        return None
    day, clock_time = moment.date(), moment.time().replace(tzinfo=None)
    day_name: int | None = None
    for special in kids(special_days, "SpecialDay"):
        if _date_matches(kid(special, "Date"), day):
            day_name = _number(text_of(special, "ReferencedDayName"))
            break
    if day_name is None:
        seasons = kids(kid(table, "Seasons"), "Season")
        best: tuple[date, Any] | None = None
        for season in seasons:
            for year in (day.year, day.year - 1):
                start = _season_start(season, year)
                if start is not None and start <= day and (best is None or start > best[0]):
                    best = (start, season)
        season = best[1] if best else (seasons[0] if seasons else None)
        week_name = _number(text_of(season, "ReferencedWeekName")) if season else None
        weeks = kids(kid(table, "WeekProfiles"), "WeekProfile")
        week = next((w for w in weeks if _number(text_of(w, "WeekName")) == week_name),
                    weeks[0] if weeks else None)
        ref = next((r for r in kids(week, "ReferencedDayName")
                    if _number(r[1].get("index")) == day.isoweekday()), None)
        day_name = _number(ref[2]) if ref else None
    profiles = kids(kid(table, "DayProfiles"), "DayProfile")
    profile = next((p for p in profiles if _number(text_of(p, "DayName")) == day_name),
                   profiles[0] if profiles else None)
    if profile is None:
        return None
    chosen: Any = profile
    for entry in kids(profile, "ProfileSchedule"):
        start = text_of(entry, "StartTime") or "00:00:00"
        try:
            begins = time.fromisoformat(start.rstrip("Z")[:8])
        except ValueError:
            continue
        if begins <= clock_time:
            chosen = entry
    for kind in ("TOU", "Block"):
        number = _number(text_of(chosen, f"{kind}TariffAction"))
        if number is not None:
            return kind, number
    if kid(chosen, "BlockTariff") is not None:
        return "Block", 1
    return None


# --------------------------------------------------------------------------- the mixin


def _default_price_attrs() -> dict[int, tuple[int, Any]]:
    return {
        PRICE_TARIFF_LABEL: (zcl.CHAR_STR, "Standard"),
        PRICE_TIERS_IN_USE: (zcl.UINT8, 0),
        PRICE_BLOCK_THRESHOLDS_IN_USE: (zcl.UINT8, 0),
        PRICE_TIER_BLOCK_MODE: (zcl.ENUM8, TIER_BLOCK_MODE_TOU_ONLY),
        PRICE_CURRENCY: (zcl.UINT16, 826),
        PRICE_TRAILING_DIGIT: (zcl.BITMAP8, 5 << 4),
        PRICE_STANDING_CHARGE: (zcl.UINT32, 0),
    }


def _default_debts() -> dict[int, dict[str, int]]:
    return {n: {"amount": 0, "method": DEBT_TIME_BASED if n < 3 else DEBT_PERCENTAGE_BASED,
                "frequency": DEBT_FREQUENCY["DAILY"], "recovery": 0, "percentage": 0}
            for n in (1, 2, 3)}


def _default_items() -> dict[str, Any]:
    return {"randomisation": {"RandomisedOffset": 0, "RandomisedOffsetNumber": 0,
                              "RandomisedOffsetLimit": 0}}


#: TariffMixin's containers, made on first use (see TariffMixin.__getattr__).
_LAZY_DEFAULTS: dict[str, Any] = {
    "price_attrs": _default_price_attrs, "debts": _default_debts, "items": _default_items,
    "tier_registers": dict, "block_registers": dict, "block_counters": dict,
}


class TariffMixin:
    """Tariff, price, prepayment-configuration and payment-mode state of a meter.

    Values start as a meter leaves the factory in credit mode with no tariff
    beyond a single flat price; the DCC's writes replace them.
    """

    # Provided by Device/Meter (declared for type checkers).
    clock: Any
    rng: Any
    credit: int
    debt: int
    event_log: list[tuple[int, int, int, str]]
    alerts_enabled: dict[int, bool]
    messages: list[str]

    #: Price cluster attributes the hub wrote: id -> (ZCL type, value).
    price_attrs: dict[int, tuple[int, Any]]
    #: Debt registers 1..3: amount, method, frequency, recovery amount, top-up percentage.
    debts: dict[int, dict[str, int]]
    #: Configuration items (tunnel ops), as canonical JSON values.
    items: dict[str, Any]
    #: Register bookkeeping: how much of the register each tier and tier-block holds.
    tier_registers: dict[int, int]
    block_registers: dict[tuple[int, int], int]
    block_counters: dict[tuple[int, int], int]

    if not TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any:
            """The containers above, made as the factory leaves them on first use.

            A fleet holds every meter, most never written to; these defaults
            were about 2 KiB of each idle meter (issue 12). Only called for
            an attribute the meter does not hold yet.
            """
            factory = _LAZY_DEFAULTS.get(name)
            if factory is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            value = factory()
            setattr(self, name, value)
            return value

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.payment_control = PCC_CREDIT_MANAGEMENT_ENABLED | PCC_DEBT_CONFIGURATION \
            | PCC_EMERGENCY_DEBT_CONFIGURATION
        self.cut_off_value = 0
        self.emergency_credit_limit = 500
        self.emergency_credit_threshold = 100
        self.low_credit_warning = 200
        self.max_credit_limit = 0
        self.max_credit_per_top_up = 0
        self.load_limit_supply_state = STATE_UNCHANGED
        self.load_limit_counter = 0
        self.supply_tamper_state = STATE_UNCHANGED
        self.supply_depletion_state = STATE_UNCHANGED
        self.site_id = ""
        self.customer_id_number = ""
        self.provider_name = ""
        self.provider_contact = ""
        self.tenancy_change_time = 0
        self.tenancy_change_control = 0
        self.rms_voltage_counters = 0
        self._upload: tuple[str, bytearray] | None = None
        self._booked: int | None = None
        self._counter_day: date | None = None

    if TYPE_CHECKING:  # provided by Device and Meter
        def outcome(self, op: str, args: dict[str, Any] | None = None) -> Any: ...
        def reply(self, dst: int, cluster: int, request: zcl.ZclFrame, command: int,
                  payload: bytes, *, global_: bool = False) -> None: ...
        def answer_default(self, src: int, cluster: int, request: zcl.ZclFrame,
                           result: Any) -> None: ...
        def log_event(self, event_id: int, data: str = "", security: bool = False) -> None: ...
        def register(self) -> int: ...

    # ---- registers per tier and block ----------------------------------------
    def book_consumption(self) -> None:
        """Book the register's advance since the last booking to the register active now.

        The meter books lazily (at each read and before each tariff change): the
        advance since the last booking goes to the TOU tier the switching table
        selects now (tier 1 without one), and on a block tariff to the block its
        thresholds give, by that tier's block counter. The TOU tiers always sum
        to the register; a booking is as fine-grained as the reads, which is
        the model's simplification of a meter that switches registers on time.
        """
        now_register = self.register()
        if self._booked is None:
            # Before the first booking the meter ran a single-rate tariff: all it
            # has recorded is tier 1's, so the tiers sum to the register.
            self._booked = now_register
            self.tier_registers[1] = self.tier_registers.get(1, 0) + now_register
            return
        advance = now_register - self._booked
        self._booked = now_register
        today = self.clock.now().date()
        if (self.items.get("block_counter_reset") or {}).get("Daily") \
                and self._counter_day not in (None, today):
            # 6.26: the counters restart with each day. Booking is lazy, so the
            # advance booked when the day is found to have changed counts for today.
            self.block_counters.clear()
        self._counter_day = today
        if advance <= 0:
            return
        tariff = self.items.get("tariff") or {}
        action = active_action(tariff.get("SwitchingTable"), tariff.get("SpecialDays"),
                               self.clock.now())
        kind, register = action if action else ("TOU", 1)
        if kind == "TOU":
            self.tier_registers[register] = self.tier_registers.get(register, 0) + advance
            return
        thresholds = sorted(v for (t, _), v in self._thresholds().items() if t == register)
        block = 1
        while advance > 0:
            counter = self.block_counters.get((register, block), 0)
            limit = thresholds[block - 1] if block - 1 < len(thresholds) else None
            room = advance if limit is None or block >= MAX_BLOCKS else max(0, limit - counter)
            used = min(room, advance)
            if used:
                self.block_counters[(register, block)] = counter + used
                self.block_registers[(register, block)] = \
                    self.block_registers.get((register, block), 0) + used
                advance -= used
            block += 1

    def _thresholds(self) -> dict[tuple[int, int], int]:
        return {(t, b): int(self.price_attrs[threshold_attr(t, b)][1])
                for t in range(1, MAX_BLOCK_TIERS + 1) for b in range(1, MAX_THRESHOLDS + 1)
                if threshold_attr(t, b) in self.price_attrs}

    # ---- ZCL attributes ------------------------------------------------------
    def attributes(self, cluster: int) -> dict[int, tuple[int, Any]]:
        table: dict[int, tuple[int, Any]] = super().attributes(cluster)  # type: ignore[misc]
        if cluster == se.PRICE:
            table.update(self.price_attrs)
        elif cluster == se.PREPAYMENT:
            table.update({
                PP_PAYMENT_CONTROL_CONFIGURATION: (zcl.BITMAP16, self.payment_control),
                PP_EMERGENCY_CREDIT_LIMIT: (zcl.UINT32, self.emergency_credit_limit),
                PP_EMERGENCY_CREDIT_THRESHOLD: (zcl.UINT32, self.emergency_credit_threshold),
                PP_MAX_CREDIT_LIMIT: (zcl.UINT32, self.max_credit_limit),
                PP_MAX_CREDIT_PER_TOP_UP: (zcl.UINT32, self.max_credit_per_top_up),
                PP_LOW_CREDIT_WARNING: (zcl.UINT32, self.low_credit_warning),
                PP_CUT_OFF_VALUE: (zcl.INT32, self.cut_off_value),
            })
            for n, debt in self.debts.items():
                table.update({
                    debt_attr(PP_DEBT_AMOUNT, n): (zcl.UINT32, debt["amount"]),
                    debt_attr(PP_DEBT_RECOVERY_METHOD, n): (zcl.ENUM8, debt["method"]),
                    debt_attr(PP_DEBT_RECOVERY_FREQUENCY, n): (zcl.ENUM8, debt["frequency"]),
                    debt_attr(PP_DEBT_RECOVERY_AMOUNT, n): (zcl.UINT32, debt["recovery"]),
                    debt_attr(PP_DEBT_RECOVERY_TOP_UP_PERCENTAGE, n):
                        (zcl.UINT16, debt["percentage"]),
                })
        elif cluster == se.METERING:
            self.book_consumption()
            table.update({
                MET_SITE_ID: (zcl.OCTET_STR, self.site_id.encode()),
                MET_CUSTOMER_ID_NUMBER: (zcl.OCTET_STR, self.customer_id_number.encode()),
                MET_LOAD_LIMIT_SUPPLY_STATE: (zcl.ENUM8, self.load_limit_supply_state),
                MET_LOAD_LIMIT_COUNTER: (zcl.UINT8, min(self.load_limit_counter, 255)),
                MET_SUPPLY_TAMPER_STATE: (zcl.ENUM8, self.supply_tamper_state),
                MET_SUPPLY_DEPLETION_STATE: (zcl.ENUM8, self.supply_depletion_state),
            })
            table.update({tier_summation_attr(t): (zcl.UINT48, v)
                          for t, v in self.tier_registers.items()})
            table.update({block_summation_attr(t, b): (zcl.UINT48, v)
                          for (t, b), v in self.block_registers.items()})
            flow = getattr(self, "flow_threshold", None)
            if flow is not None:
                stabilisation, measurement = self.flow_periods  # type: ignore[attr-defined]
                table.update({
                    MET_UNCONTROLLED_FLOW_THRESHOLD: (zcl.UINT16, flow),
                    MET_FLOW_STABILISATION_PERIOD: (zcl.UINT8, stabilisation),
                    MET_FLOW_MEASUREMENT_PERIOD: (zcl.UINT16, measurement),
                })
        elif cluster == se.DEVICE_MANAGEMENT:
            table.update({
                DM_PROVIDER_NAME: (zcl.CHAR_STR, self.provider_name),
                DM_PROVIDER_CONTACT_DETAILS: (zcl.CHAR_STR, self.provider_contact),
                DM_CHANGE_OF_TENANCY_TIME: (zcl.UTC_TIME, self.tenancy_change_time),
                DM_PROPOSED_TENANCY_CHANGE_CONTROL: (zcl.UINT32, self.tenancy_change_control),
            })
        return table

    def write_op(self, cluster: int, attrs: list[int]) -> str:
        """Quirk operation names for this family's attribute writes."""
        if cluster == se.PRICE:
            if PRICE_CONVERSION_FACTOR in attrs or PRICE_CALORIFIC_VALUE in attrs:
                return "gas_conversion"
            return "update_tariff"
        if cluster == se.DEVICE_MANAGEMENT:
            return "update_supplier_name"
        return super().write_op(cluster, attrs)  # type: ignore[misc]

    def write_attribute(self, cluster: int, attr: int, value: Any) -> int:
        if cluster == se.PRICE:
            return self._write_price(attr, value)
        if cluster == se.DEVICE_MANAGEMENT and attr in (DM_PROVIDER_NAME,
                                                        DM_PROVIDER_CONTACT_DETAILS):
            if not isinstance(value, str):
                return zcl.STATUS_INVALID_VALUE
            if attr == DM_PROVIDER_NAME:
                self.provider_name = value
            else:
                self.provider_contact = value
            return zcl.STATUS_SUCCESS
        return super().write_attribute(cluster, attr, value)  # type: ignore[misc]

    #: Price attributes the hub may write, with their ZCL types.
    _PRICE_TYPES: ClassVar[dict[int, int]] = {
        PRICE_TARIFF_LABEL: zcl.CHAR_STR, PRICE_TIERS_IN_USE: zcl.UINT8,
        PRICE_BLOCK_THRESHOLDS_IN_USE: zcl.UINT8, PRICE_TIER_BLOCK_MODE: zcl.ENUM8,
        PRICE_CURRENCY: zcl.UINT16, PRICE_TRAILING_DIGIT: zcl.BITMAP8,
        PRICE_STANDING_CHARGE: zcl.UINT32, PRICE_CONVERSION_FACTOR: zcl.UINT32,
        PRICE_CONVERSION_FACTOR_DIGIT: zcl.BITMAP8, PRICE_CALORIFIC_VALUE: zcl.UINT32,
        PRICE_CALORIFIC_VALUE_DIGIT: zcl.BITMAP8,
        **{tier_price_attr(t, b): zcl.UINT32 for t in range(1, 16)
           for b in range(1, MAX_BLOCKS + 1)},
        **{tier_price_attr(t): zcl.UINT32 for t in range(16, MAX_TOU_TIERS + 1)},
        **{threshold_attr(t, b): zcl.UINT48 for t in range(1, MAX_BLOCK_TIERS + 1)
           for b in range(1, MAX_THRESHOLDS + 1)},
        **{threshold_count_attr(t): zcl.UINT8 for t in range(1, MAX_BLOCK_TIERS + 1)},
    }

    def _write_price(self, attr: int, value: Any) -> int:
        kind = self._PRICE_TYPES.get(attr)
        if kind is None:
            return zcl.STATUS_UNSUPPORTED_ATTRIBUTE
        if (kind == zcl.CHAR_STR) != isinstance(value, str):
            return zcl.STATUS_INVALID_VALUE
        if attr == PRICE_TIERS_IN_USE:
            # A new price matrix: the previous tiers' prices go.
            self.book_consumption()
            for tier in range(1, MAX_TOU_TIERS + 1):
                for block in range(1, MAX_BLOCKS + 1 if tier <= 15 else 2):
                    self.price_attrs.pop(tier_price_attr(tier, block), None)
        elif attr == PRICE_BLOCK_THRESHOLDS_IN_USE:
            self.book_consumption()
            for tier in range(1, MAX_BLOCK_TIERS + 1):
                self.price_attrs.pop(threshold_count_attr(tier), None)
                for block in range(1, MAX_THRESHOLDS + 1):
                    self.price_attrs.pop(threshold_attr(tier, block), None)
        self.price_attrs[attr] = (kind, value)
        return zcl.STATUS_SUCCESS

    # ---- Prepayment commands --------------------------------------------------
    def cmd_0705_06(self, src: int, frame: zcl.ZclFrame) -> None:
        """Change Payment Mode (1.6) -> Change Payment Mode Response."""
        req = CHANGE_PAYMENT_MODE.parse(frame.payload)
        result = self.outcome("update_payment_mode", {
            "configuration": req.proposed_payment_control_configuration})
        if result.apply:
            self.payment_control = req.proposed_payment_control_configuration
            self.cut_off_value = req.cut_off_value
            prepayment = bool(self.payment_control & PCC_PREPAYMENT_ENABLED)
            self.log_event(0x8F4A, f"payment mode {'prepayment' if prepayment else 'credit'}")
        if not result.confirm:
            return
        if not result.apply:
            self.answer_default(src, se.PREPAYMENT, frame, result)
            return
        self.reply(src, se.PREPAYMENT, frame, PP_CHANGE_PAYMENT_MODE_RESPONSE,
                   CHANGE_PAYMENT_MODE_RESPONSE.build({
                       "friendly_credit": 0, "friendly_credit_calendar_id": 0,
                       "emergency_credit_limit": self.emergency_credit_limit,
                       "emergency_credit_threshold": self.emergency_credit_threshold}))

    def cmd_0705_05(self, src: int, frame: zcl.ZclFrame) -> None:
        """Credit Adjustment (1.5): incremental adds to the credit, absolute sets it."""
        req = CREDIT_ADJUSTMENT.parse(frame.payload)
        result = self.outcome("update_meter_balance", {"value": req.credit_adjustment_value})
        if result.apply:
            if req.credit_adjustment_type == CREDIT_ABSOLUTE:
                self.credit = req.credit_adjustment_value
            else:
                self.credit += req.credit_adjustment_value
            self.log_event(0x8F3E, "meter balance adjusted")
        self.answer_default(src, se.PREPAYMENT, frame, result)

    def cmd_0705_02(self, src: int, frame: zcl.ZclFrame) -> None:
        """Change Debt (2.3): the label names the register (1, 2 or 3)."""
        req = CHANGE_DEBT.parse(frame.payload)
        register = _number(req.debt_label.removeprefix("Debt")) or 0
        result = self.outcome("update_debt", {"register": register, "amount": req.debt_amount})
        if result.apply and register in self.debts:
            self.debts[register] = {
                "amount": req.debt_amount, "method": req.debt_recovery_method,
                "frequency": req.debt_recovery_frequency,
                "recovery": req.debt_recovery_amount,
                "percentage": req.debt_recovery_balance_percentage}
            # Accumulated Debt is what the three registers hold together.
            self.debt = sum(d["amount"] for d in self.debts.values())
            self.log_event(0x8F3D, f"debt register {register} updated")
        elif result.apply:
            result.apply, result.status = False, zcl.STATUS_INVALID_VALUE
        self.answer_default(src, se.PREPAYMENT, frame, result)

    def cmd_0705_03(self, src: int, frame: zcl.ZclFrame) -> None:
        """Emergency Credit Setup (2.1)."""
        req = EMERGENCY_CREDIT_SETUP.parse(frame.payload)
        result = self.outcome("update_prepay_configuration", {"field": "emergency_credit"})
        if result.apply:
            self.emergency_credit_limit = req.emergency_credit_limit
            self.emergency_credit_threshold = req.emergency_credit_threshold
        self.answer_default(src, se.PREPAYMENT, frame, result)

    def cmd_0705_09(self, src: int, frame: zcl.ZclFrame) -> None:
        """Set Low Credit Warning Level (2.1)."""
        req = SET_LOW_CREDIT_WARNING_LEVEL.parse(frame.payload)
        result = self.outcome("update_prepay_configuration", {"field": "low_credit"})
        if result.apply:
            self.low_credit_warning = req.low_credit_warning_level
        self.answer_default(src, se.PREPAYMENT, frame, result)

    def cmd_0705_0b(self, src: int, frame: zcl.ZclFrame) -> None:
        """Set Maximum Credit Limit (2.1)."""
        req = SET_MAXIMUM_CREDIT_LIMIT.parse(frame.payload)
        result = self.outcome("update_prepay_configuration", {"field": "max_credit"})
        if result.apply:
            self.max_credit_limit = req.maximum_credit_level
            self.max_credit_per_top_up = req.maximum_credit_per_top_up
        self.answer_default(src, se.PREPAYMENT, frame, result)

    # ---- Metering commands ----------------------------------------------------
    def cmd_0702_0a(self, src: int, frame: zcl.ZclFrame) -> None:
        """Reset Load Limit Counter (6.4.2)."""
        RESET_LOAD_LIMIT_COUNTER.parse(frame.payload)
        result = self.outcome("reset_load_limit_counter", {})
        if result.apply:
            self.load_limit_counter = 0
        self.answer_default(src, se.METERING, frame, result)

    def cmd_0702_0d(self, src: int, frame: zcl.ZclFrame) -> None:
        """Set Supply Status (6.25 tamper state, 6.4.1 load-limit supply state)."""
        req = SET_SUPPLY_STATUS.parse(frame.payload)
        result = self.outcome("set_supply_status", {
            "tamper": req.supply_tamper_state, "load_limit": req.load_limit_supply_state})
        if result.apply:
            self.supply_tamper_state = req.supply_tamper_state
            self.supply_depletion_state = req.supply_depletion_state
            self.load_limit_supply_state = req.load_limit_supply_state
        self.answer_default(src, se.METERING, frame, result)

    # ---- Device Management and Events -------------------------------------------
    def cmd_0708_00(self, src: int, frame: zcl.ZclFrame) -> None:
        """Publish Change Of Tenancy (3.2): restrict access from the given time."""
        req = PUBLISH_CHANGE_OF_TENANCY.parse(frame.payload)
        result = self.outcome("change_of_tenancy", {"time": req.implementation_time})
        if result.apply:
            self.tenancy_change_time = req.implementation_time
            self.tenancy_change_control = req.proposed_tenancy_change_control
            self.log_event(0x8F4B, "change of tenancy")
        self.answer_default(src, se.DEVICE_MANAGEMENT, frame, result)

    def cmd_0708_03(self, src: int, frame: zcl.ZclFrame) -> None:
        """Update Site ID (6.20.1): the Site ID is the import MPAN or MPRN."""
        req = UPDATE_SITE_ID.parse(frame.payload)
        result = self.outcome("set_mpxn", {"site_id": req.site_id})
        if result.apply:
            self.site_id = req.site_id
        self.answer_default(src, se.DEVICE_MANAGEMENT, frame, result)

    def cmd_0709_01(self, src: int, frame: zcl.ZclFrame) -> None:
        """Clear Event Log Request (3.3); the security log is never cleared remotely.

        s1bench's meters keep one event log; an ESME's ALCS entries (boost and
        auxiliary-load switching, :data:`ALCS_EVENTS`) live in it too and have
        no SE log id of their own, so the general log id clears the rest and
        the tunnel action ``clear_alcs_log`` clears those.
        """
        req = CLEAR_EVENT_LOG_REQUEST.parse(frame.payload)
        result = self.outcome("clear_event_log", {"log": req.log_id})
        cleared = 0
        if result.apply and req.log_id == se.LOG_ALL:
            self.event_log.clear()
            cleared = 1 << se.LOG_GENERAL
        elif result.apply and req.log_id == se.LOG_GENERAL:
            self.event_log[:] = [e for e in self.event_log if e[1] in ALCS_EVENTS]
            cleared = 1 << se.LOG_GENERAL
        if not result.confirm:
            return
        self.reply(src, se.EVENTS, frame, EVT_CLEAR_EVENT_LOG_RESPONSE,
                   CLEAR_EVENT_LOG_RESPONSE.build({"cleared_event_logs": cleared}))

    # ---- Tunneling: configuration items and actions ------------------------------
    def mgmt_20(self, body: bytes) -> bytes | None:
        """Put one chunk of a configuration item; the last chunk applies it."""
        if len(body) < 4 or body[0] not in ITEMS or ITEMS[body[0]] in READ_ONLY_ITEMS:
            return mgmt.response(PUT_ITEM, mgmt.UNSUPPORTED)
        name, offset, last, data = ITEMS[body[0]], int.from_bytes(body[1:3], "little"), \
            bool(body[3]), body[4:]
        if offset == 0:
            self._upload = (name, bytearray())
        if self._upload is None or self._upload[0] != name or len(self._upload[1]) != offset \
                or offset + len(data) > MAX_ITEM:
            self._upload = None
            return mgmt.response(PUT_ITEM, mgmt.FAILED)
        self._upload[1].extend(data)
        if not last:
            return mgmt.response(PUT_ITEM, mgmt.OK)
        raw, self._upload = bytes(self._upload[1]), None
        try:
            value = decode_item(raw)
        except (zlib.error, ValueError, UnicodeDecodeError):
            return mgmt.response(PUT_ITEM, mgmt.FAILED)
        if not isinstance(value, dict):
            return mgmt.response(PUT_ITEM, mgmt.FAILED)
        result = self.outcome(f"update_{name}", {"item": name})
        if result.apply:
            if name == "tariff":
                self.book_consumption()
            self.items[name] = value
        if not result.confirm:
            return None
        return mgmt.response(PUT_ITEM, mgmt.OK if result.apply else mgmt.REFUSED)

    def mgmt_21(self, body: bytes) -> bytes | None:
        """Get one chunk of a configuration item: total length (u16), then the chunk."""
        if len(body) < 3 or body[0] not in ITEMS:
            return mgmt.response(GET_ITEM, mgmt.UNSUPPORTED)
        name, offset = ITEMS[body[0]], int.from_bytes(body[1:3], "little")
        if name == "block_counters":
            self.book_consumption()
            value: Any = {"counters": [[t, b, v] for (t, b), v in
                                       sorted(self.block_counters.items())]}
        else:
            value = self.items.get(name)
        if value is None:
            return mgmt.response(GET_ITEM, mgmt.OK, (0).to_bytes(2, "little"))
        raw = encode_item(value)
        return mgmt.response(GET_ITEM, mgmt.OK,
                             len(raw).to_bytes(2, "little") + raw[offset:offset + CHUNK])

    def mgmt_22(self, body: bytes) -> bytes | None:
        """An action with no SE command: a new CIN (9.1), a counter reset (1.7, 6.27), or
        clearing the ALCS entries of the event log (3.3)."""
        action = ACTIONS.get(body[0]) if body else None
        if action is None:
            return mgmt.response(ACTION, mgmt.UNSUPPORTED)
        result = self.outcome(action, {})
        data = b""
        if result.apply:
            if action == "new_cin":
                # A CIN the consumer reads off the display and quotes to the supplier.
                self.customer_id_number = f"{self.rng.randint(0, 9999):04d}"
                self.messages.append(f"CIN {self.customer_id_number}")
                data = self.customer_id_number.encode()
            elif action == "reset_block_counters":
                self.book_consumption()
                self.block_counters.clear()
            elif action == "clear_alcs_log":
                self.event_log[:] = [e for e in self.event_log if e[1] not in ALCS_EVENTS]
            else:
                self.rms_voltage_counters = 0
        if not result.confirm:
            return None
        return mgmt.response(ACTION, mgmt.OK if result.apply else mgmt.REFUSED, data)

    def mgmt_23(self, body: bytes) -> bytes | None:
        """Read the alert settings (6.2.10): count, then (code u16, enabled u8) each."""
        rows = sorted(self.alerts_enabled.items())
        data = bytes([len(rows)]) + b"".join(
            code.to_bytes(2, "little") + bytes([enabled]) for code, enabled in rows)
        return mgmt.response(READ_ALERT_SETTINGS, mgmt.OK, data)


#: The event ids s1bench's ESME logs for its auxiliary loads (its ALCS log).
ALCS_EVENTS = frozenset({0x8F30, 0x8F31})
