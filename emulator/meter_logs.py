"""Meter logs and profiles: a seeded consumption model on the virtual clock.

A mixin of :class:`emulator.devices.Meter`. One seeded model says how much
each half-hour of each day consumed (Wh on an ESME, dm3 on a GSME); the
import register, the half-hour profile, the daily read log, the daily
consumption log, the billing data logs and maximum demand all derive from it,
so they agree to the unit: the periods of any window sum to the register's
advance over it, and a daily read is the register at that midnight. Nothing
runs per interval: values are computed from time when asked (with small
caches), so a fleet of meters costs nothing while idle and the same seed
gives the same history.

The model (s1bench's, not a published load profile): a daily shape (an
electricity household's morning and evening peaks; gas heating mornings and
evenings), a seasonal swing (winter high, gas much more than electricity), a
weekend lift for electricity, and per-period seeded noise between 0.55 and
1.45. Its mean is the meter's seeded ``demand`` (W, or dm3/h for gas). While
supply is not on (disabled or armed) a meter records no consumption. Days
are UTC days and logs use the installation's clock (a device clock offset
set by 6.11 does not move them): a GB meter's local midnight differs in
summer, and s1bench keeps every timestamp in UTC as DUIS writes them.

How the hub reads them, on the HAN:

=====================================  =========================================================
read                                   carried by
=====================================  =========================================================
half-hour import / export profile      Metering Get Profile / Get Profile Response (channel 0
                                       consumption delivered, 1 received; 30-minute intervals,
                                       at most :data:`MAX_PROFILE_PERIODS` per response)
daily reads, billing-calendar and      Metering Get Snapshot / Publish Snapshot (cause
tariff/mode-triggered billing data     Scheduled Snapshot, End of Billing Period, Change of
                                       Tariff Information or Change of (Meter) Mode; payload
                                       "TOU Information Set Delivered (No Billing)")
prepayment daily reads and billing     Prepayment Get Prepay Snapshot / Publish Prepay Snapshot
prepayment data                        (payload Debt/Credit Status)
top-up log, debt repayment log         Prepayment Get Top Up Log / Publish Top Up Log, Get Debt
                                       Repayment Log / Publish Debt Log
export register, maximum demand,       Read Attributes (Metering Current Summation Received,
instantaneous power, voltage counters  Current Max Demand Delivered/Received and their times,
                                       Instantaneous Demand; Electrical Measurement Average
                                       RMS Over/Under Voltage Counter)
=====================================  =========================================================

What Smart Energy 1.x has no command for travels as s1bench management
operations in the Tunneling cluster (:mod:`emulator.mgmt`), op codes
0x30-0x3F, in chunks that keep each frame within an 802.15.4 frame:
reactive import profile, daily export reads, the daily consumption log, the
voltage profile and the gas network data log (:data:`READ_SERIES`), the
configurable-period maximum demand (:data:`READ_DEMAND_SETTINGS`,
:data:`SET_DEMAND_PERIOD`, :data:`RESET_DEMAND`), gas network data samples
(:data:`RECORD_NETWORK_DATA`), the auxiliary load control switches'
descriptions, schedule and commanded states (:data:`PUT_ALC`,
:data:`GET_ALC`, :data:`ALC_ACTION`), the device's own certificates
(:data:`PUT_DEVICE_CREDENTIAL`, :data:`GET_DEVICE_CREDENTIAL`), and firmware:
the image the S1SP distributes after an 11.1 (:data:`PUT_FIRMWARE_IMAGE`) and its
activation (:data:`ACTIVATE_FIRMWARE`).

An ESME's auxiliary load control switches follow their 6.14.2 schedule, worked out
from time when their state is read; a remote override (7.5, 7.6), a boost, a
commanded state (7.13) or an APC limit (7.16) takes precedence until reset (7.8).

Prepayment history is captured without timers too: each time a frame reaches
the meter, midnights that passed since the last one are snapshotted with the
state as it was (nothing changes a meter's credit but a frame), and a frame
that changed the tariff, payment mode, credit or debt leaves the record a
billing data log or top-up log keeps.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from construct import Int8ul, Int32sl, Int32ul, Struct
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from . import mgmt, se, zcl

# --------------------------------------------------------------------------- time
PERIOD = 1800  # seconds in a half-hour
PERIODS_PER_DAY = 48
DAY = 86_400
_DAY0 = zcl.ZIGBEE_EPOCH.date()  # day 0 of the ZigBee epoch, 2000-01-01

# --------------------------------------------------------------------------- capacities
#: How much each log holds (SMETS logs keep their newest entries).
PROFILE_CAPACITY_DAYS = 397  # 13 months of half-hours: 19 056 periods, the MMC type's maximum
DAILY_READ_CAPACITY = 731
BILLING_CAPACITY = 12
PREPAY_DAILY_CAPACITY = 31
TOP_UP_CAPACITY = 5
DEBT_LOG_CAPACITY = 10
VOLTAGE_PROFILE_CAPACITY = 4320
GAS_NETWORK_CAPACITY = 41
EVENT_SNAPSHOT_CAPACITY = 12
#: Tariff or payment-mode changes this close (seconds) are one billing capture.
EVENT_COALESCE = 60

# --------------------------------------------------------------------------- Get Profile
CHANNEL_DELIVERED, CHANNEL_RECEIVED = 0x00, 0x01
INTERVAL_30_MINUTES = 0x02  # Profile Interval Period
PROFILE_SUCCESS = 0x00
PROFILE_UNDEFINED_CHANNEL = 0x01
PROFILE_INVALID_END_TIME = 0x03
PROFILE_NONE_AVAILABLE = 0x05
#: Intervals per Get Profile Response (3 bytes each): the frame stays within 802.15.4.
MAX_PROFILE_PERIODS = 16

GET_PROFILE = Struct(
    "channel" / Int8ul,
    "end_time" / Int32ul,
    "number_of_periods" / Int8ul,
).compile()

_PROFILE_HEADER = Struct(
    "end_time" / Int32ul,
    "status" / Int8ul,
    "interval_period" / Int8ul,
    "periods_delivered" / Int8ul,
).compile()


def get_profile_response(end_time: int, status: int, values: list[int]) -> bytes:
    """Get Profile Response: end time, status, interval period, count, then uint24
    intervals, most recent first (SE Metering)."""
    head = _PROFILE_HEADER.build({"end_time": end_time, "status": status,
                                  "interval_period": INTERVAL_30_MINUTES,
                                  "periods_delivered": len(values)})
    return head + b"".join(min(v, 0xFFFFFF).to_bytes(3, "little") for v in values)


def parse_get_profile_response(payload: bytes) -> tuple[int, int, list[int]]:
    """(end time, status, intervals most recent first) of a Get Profile Response."""
    head = _PROFILE_HEADER.parse(payload[:7])
    body = payload[7:7 + 3 * head.periods_delivered]
    if len(body) != 3 * head.periods_delivered:
        raise ValueError("Get Profile Response shorter than its interval count")
    return head.end_time, head.status, [int.from_bytes(body[i:i + 3], "little")
                                        for i in range(0, len(body), 3)]


# --------------------------------------------------------------------------- snapshots
#: Snapshot Cause bits (SE Metering, Wireshark's zbee_zcl_se.met.snapshot_cause.*).
CAUSE_GENERAL = 1 << 0
CAUSE_END_OF_BILLING_PERIOD = 1 << 1
CAUSE_CHANGE_OF_TARIFF = 1 << 3
CAUSE_CHANGE_OF_METER_MODE = 1 << 14
CAUSE_SCHEDULED = 1 << 16
#: The daily read: a snapshot the meter schedules for each midnight.
DAILY_CAUSE = CAUSE_SCHEDULED
#: Prepayment snapshot causes have no "scheduled" bit: the daily one is General.
PREPAY_DAILY_CAUSE = CAUSE_GENERAL
TARIFF_CAUSES = CAUSE_CHANGE_OF_TARIFF | CAUSE_CHANGE_OF_METER_MODE
#: Snapshot Payload Type "TOU Information Set Delivered (No Billing)".
PAYLOAD_TOU_DELIVERED_NO_BILLING = 4
PAYLOAD_DATA_UNAVAILABLE = 0x80
#: Prepay Snapshot Payload Type "Debt/Credit Status".
PAYLOAD_DEBT_CREDIT_STATUS = 0

GET_SNAPSHOT = Struct(
    "start_time" / Int32ul,
    "end_time" / Int32ul,
    "offset" / Int8ul,
    "cause" / Int32ul,
).compile()

SNAPSHOT_HEADER = Struct(
    "snapshot_id" / Int32ul,
    "snapshot_time" / Int32ul,
    "found" / Int8ul,
    "command_index" / Int8ul,
    "total_commands" / Int8ul,
    "cause" / Int32ul,
    "payload_type" / Int8ul,
).compile()
_SNAPSHOT_HEADER_LEN = 16

DEBT_CREDIT_STATUS = Struct(
    "accumulated_debt" / Int32sl,
    "type1_debt" / Int32ul,
    "type2_debt" / Int32ul,
    "type3_debt" / Int32ul,
    "emergency_credit" / Int32sl,
    "credit" / Int32sl,
).compile()

GET_TOP_UP_LOG = Struct("latest_end_time" / Int32ul, "number_of_records" / Int8ul).compile()
GET_DEBT_REPAYMENT_LOG = Struct(
    "latest_end_time" / Int32ul,
    "number_of_records" / Int8ul,
    "debt_type" / Int8ul,
).compile()
_DEBT_RECORD = Struct(
    "collection_time" / Int32ul,
    "amount" / Int32sl,
    "debt_type" / Int8ul,
    "outstanding" / Int32ul,
).compile()
DEBT_TYPE_ALL = 0xFF
#: Records per Publish Top Up Log / Publish Debt Log, so each stays one frame; the hub
#: pages back in time with Latest End Time.
TOP_UPS_PER_FRAME = 2
DEBTS_PER_FRAME = 4


def publish_snapshot(snapshot_id: int, when: int, found: int, cause: int,
                     summation: int | None) -> bytes:
    """Publish Snapshot with a "TOU Information Set Delivered (No Billing)" sub-payload:
    Current Summation Delivered (uint48) and no tiers; "Data Unavailable" when none."""
    payload_type = PAYLOAD_DATA_UNAVAILABLE if summation is None \
        else PAYLOAD_TOU_DELIVERED_NO_BILLING
    head = SNAPSHOT_HEADER.build({"snapshot_id": snapshot_id, "snapshot_time": when,
                                  "found": found, "command_index": 0, "total_commands": 1,
                                  "cause": cause, "payload_type": payload_type})
    if summation is None:
        return head
    return head + summation.to_bytes(6, "little") + bytes([0])


def parse_publish_snapshot(payload: bytes) -> tuple[Any, int | None]:
    head = SNAPSHOT_HEADER.parse(payload[:_SNAPSHOT_HEADER_LEN])
    if head.payload_type != PAYLOAD_TOU_DELIVERED_NO_BILLING:
        return head, None
    body = payload[_SNAPSHOT_HEADER_LEN:_SNAPSHOT_HEADER_LEN + 6]
    if len(body) != 6:
        raise ValueError("Publish Snapshot sub-payload shorter than a summation")
    return head, int.from_bytes(body, "little")


def parse_publish_prepay_snapshot(payload: bytes) -> tuple[Any, Any | None]:
    head = SNAPSHOT_HEADER.parse(payload[:_SNAPSHOT_HEADER_LEN])
    if head.payload_type != PAYLOAD_DEBT_CREDIT_STATUS or head.found == 0:
        return head, None
    return head, DEBT_CREDIT_STATUS.parse(payload[_SNAPSHOT_HEADER_LEN:])


def publish_top_up_log(records: list[tuple[str, int, int]]) -> bytes:
    """Publish Top Up Log: command index, total commands, then (code, amount, time) each."""
    out = bytearray([0, 1])
    for code, amount, when in records:
        raw = code.encode()[:30]
        out += bytes([len(raw)]) + raw + amount.to_bytes(4, "little", signed=True)
        out += when.to_bytes(4, "little")
    return bytes(out)


def parse_publish_top_up_log(payload: bytes) -> list[tuple[str, int, int]]:
    pos, out = 2, []
    while pos < len(payload):
        length = payload[pos]
        end = pos + 1 + length + 8
        if end > len(payload):
            raise ValueError("Publish Top Up Log record cut short")
        code = payload[pos + 1:pos + 1 + length].decode("ascii", "replace")
        amount = int.from_bytes(payload[pos + 1 + length:pos + 5 + length], "little", signed=True)
        when = int.from_bytes(payload[pos + 5 + length:end], "little")
        out.append((code, amount, when))
        pos = end
    return out


def publish_debt_log(records: list[tuple[int, int, int, int]]) -> bytes:
    """Publish Debt Log: command index, total commands, then (time, amount collected,
    debt type, outstanding debt) each."""
    return bytes([0, 1]) + b"".join(
        _DEBT_RECORD.build({"collection_time": t, "amount": a, "debt_type": k,
                            "outstanding": max(0, o)}) for t, a, k, o in records)


def parse_publish_debt_log(payload: bytes) -> list[tuple[int, int, int, int]]:
    body = payload[2:]
    if len(body) % 13:
        raise ValueError("Publish Debt Log records are 13 bytes each")
    return [tuple(_DEBT_RECORD.parse(body[i:i + 13]).values())[1:5]  # type: ignore[misc]
            for i in range(0, len(body), 13)]


# --------------------------------------------------------------------------- tunnel ops
READ_SERIES = 0x30  # a time series SE has no command for (see SERIES_*)
READ_DEMAND_SETTINGS = 0x31  # configurable-period maximum demand and reset times
SET_DEMAND_PERIOD = 0x32  # 6.18.1
RESET_DEMAND = 0x33  # 6.18.2
RECORD_NETWORK_DATA = 0x34  # 14.1 on a GSME
PUT_ALC = 0x35  # ALCS descriptions and schedule (6.14.1, 6.14.2), chunked
GET_ALC = 0x36  # ALCS configuration or operational data (7.7, 7.14, 7.15), chunked
ALC_ACTION = 0x37  # reset a load, commanded state, APC limit, randomised offset limit
PUT_DEVICE_CREDENTIAL = 0x38  # the device's own certificate (6.15.2), chunked
GET_DEVICE_CREDENTIAL = 0x39  # issue a key pair (6.17) or read a certificate (6.24.2)
ACTIVATE_FIRMWARE = 0x3A  # 11.3
PUT_FIRMWARE_IMAGE = 0x3B  # the S1SP's distribution of an 11.1 image, chunked

SERIES_REACTIVE_IMPORT = 0
SERIES_EXPORT_DAILY = 1
SERIES_DAILY_CONSUMPTION = 2
SERIES_VOLTAGE = 3
SERIES_GAS_NETWORK = 4
#: (time u32, value u32) records per READ_SERIES answer.
SERIES_PER_FRAME = 8
#: Bytes of a chunked item per frame.
CHUNK = 48

ALC_ITEM_DESCRIPTIONS = 0
ALC_ITEM_SCHEDULE = 1
ALC_ITEM_CONFIGURATION = 0  # GET_ALC: descriptions and schedule
ALC_ITEM_OPERATIONAL = 1  # GET_ALC: states, commanded levels, limits
ALC_RESET = 0
ALC_SET_STATE = 1
ALC_LIMIT_APC = 2
ALC_RANDOMISED_OFFSET_LIMIT = 3
ALC_SWITCHES = range(1, 6)

CREDENTIAL_KINDS = {"Digital Signature": 0, "Key Agreement": 1}
CREDENTIAL_KIND_NAMES = {v: k for k, v in CREDENTIAL_KINDS.items()}
CREDENTIAL_ISSUE = 0
CREDENTIAL_READ_REQUEST = 1
CREDENTIAL_READ_CERTIFICATE = 2

DEMAND_IMPORT = 0x01
DEMAND_EXPORT = 0x02
DEMAND_CONFIGURABLE = 0x04
NO_TIME = 0xFFFFFFFF

#: The MMC schema's ASN1Status names, numbered by their place in its enumeration:
#: the number a refusal carries as its device status.
ASN1_STATUSES = (
    "success", "notKnown", "badCertificate", "noTrustAnchor", "insufficientMemory",
    "resourcesBusy", "other", "invalidCertificate", "wrongDeviceIdentity", "invalidKeyUsage",
    "noCorrespondingKeyPairGenerated", "wrongPublicKey", "certificateStorageFailed",
    "privateKeyChangeFailed", "keyPairGenerationFailed", "cRProductionFailed",
    "trustAnchorNotFound", "noCertificateHeld", "certificateRetrievalFailure",
    "invalidMessageCodeForJoinMethodAndRole", "invalidJoinMethodAndRole",
    "incompatibleWithExistingEntry", "deviceLogFull", "writeFailure",
    "keyAgreementNoResources", "keyAgreementUnknownIssuer", "keyAgreementUnsupportedSuite",
    "keyAgreementBadMessage", "keyAgreementBadKeyConfirm", "invalidOrMissingCertificate",
    "noPartnerLinkKeyReceived", "noCBKEResponse", "otherDeviceNotInDeviceLog", "otherFailure",
    "readFailure", "noImageHeld", "hashMismatch", "activationFailure", "reliable", "invalid",
    "unreliable",
)
ASN1 = {name: number for number, name in enumerate(ASN1_STATUSES)}

# --------------------------------------------------------------------------- the model
# Hourly weights of a day, each scaled to a mean of 1 below (s1bench's shapes).
_ELEC_HOURS = (0.45, 0.40, 0.38, 0.37, 0.37, 0.42, 0.70, 1.10, 1.20, 0.95, 0.85, 0.85,
               0.95, 0.90, 0.85, 0.90, 1.15, 1.60, 1.90, 1.80, 1.60, 1.35, 1.00, 0.65)
_GAS_HOURS = (0.10, 0.08, 0.08, 0.08, 0.10, 0.50, 1.90, 2.40, 1.80, 0.90, 0.60, 0.50,
              0.50, 0.50, 0.50, 0.70, 1.30, 2.00, 2.30, 2.10, 1.70, 1.20, 0.60, 0.20)


def _half_hours(hours: tuple[float, ...]) -> tuple[float, ...]:
    mean = sum(hours) / len(hours)
    return tuple(hours[i // 2] / mean for i in range(PERIODS_PER_DAY))


_ELEC_SHAPE = _half_hours(_ELEC_HOURS)
_GAS_SHAPE = _half_hours(_GAS_HOURS)
_MASK = (1 << 64) - 1


def _unit(seed: int, n: int) -> float:
    """A seeded value in [0, 1) for period ``n`` (splitmix64: cheap, no state)."""
    z = (seed + (n + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) / 2.0**64


class ConsumptionModel:
    """Half-hourly consumption of one meter as a pure function of the period index.

    ``mean`` is the average consumption of a half-hour (Wh or dm3); period
    ``k`` is the half-hour starting ``k * 1800`` seconds after 2000-01-01 UTC.
    """

    __slots__ = ("_season", "_shape", "gas", "mean", "seed")

    def __init__(self, seed: int, mean: float, gas: bool) -> None:
        self.seed = seed & _MASK
        self.mean = mean
        self.gas = gas
        self._shape = _GAS_SHAPE if gas else _ELEC_SHAPE
        self._season = 0.6 if gas else 0.2

    def day(self, day: int) -> list[int]:
        """The 48 half-hour values of a UTC day (day 0 is 2000-01-01)."""
        when = _DAY0 + timedelta(days=day)
        season = 1.0 + self._season * math.cos(2 * math.pi * (when.timetuple().tm_yday - 20)
                                               / 365.25)
        weekend = 1.1 if not self.gas and when.weekday() >= 5 else 1.0
        level = self.mean * season * weekend
        first = day * PERIODS_PER_DAY
        seed, shape = self.seed, self._shape
        return [int(level * shape[i] * (0.55 + 0.9 * _unit(seed, first + i)))
                for i in range(PERIODS_PER_DAY)]


def _days_in_month_start(moment: int) -> int:
    """The zigbee time of the first day of the month holding ``moment``, 00:00 UTC."""
    when = _DAY0 + timedelta(days=moment // DAY)
    return (date(when.year, when.month, 1) - _DAY0).days * DAY


def _previous_month_start(start: int) -> int:
    when = _DAY0 + timedelta(days=start // DAY) - timedelta(days=1)
    return (date(when.year, when.month, 1) - _DAY0).days * DAY


def iso(moment: int) -> str:
    """A zigbee time as DUIS writes a dateTime (UTC, ``Z``)."""
    return (zcl.ZIGBEE_EPOCH + timedelta(seconds=moment)).isoformat().replace("+00:00", "Z")


def zigbee_seconds(moment: datetime) -> int:
    return zcl.zigbee_time(moment.astimezone(UTC))


class _Deferred:
    """An attribute value computed only when a Read Attributes asks for it (ZCL encodes
    values with ``int()``): the Metering table is built for every read, and maximum
    demand need not be worked out for a register read."""

    __slots__ = ("_compute",)

    def __init__(self, compute: Any) -> None:
        self._compute = compute

    def __int__(self) -> int:
        return int(self._compute())

    __index__ = __int__


class LogsMixin:
    """The consumption model, its logs and the management operations 0x30-0x3F.

    State is created on first use (``_logs``), after :class:`Meter` has drawn
    its seeded ``register_base`` and ``demand``: the mixin draws nothing from
    the meter's RNG, so adding it changed no other seeded value.
    """

    # Provided by Device/Meter (declared for type checkers).
    clock: Any
    ieee: int
    register_base: int
    demand: int
    supply: int
    credit: int
    debt: int
    emergency_credit: int
    device_type: str

    if TYPE_CHECKING:
        def outcome(self, op: str, args: dict[str, Any] | None = None) -> Any: ...
        def reply(self, dst: int, cluster: int, request: zcl.ZclFrame, command: int,
                  payload: bytes, *, global_: bool = False) -> None: ...
        def log_event(self, event_id: int, data: str = "", security: bool = False) -> None: ...

    _logs_ready = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # When the meter came up: its logs start that day. Outside a running loop
        # (a meter built ahead of its run) the first use stands in for it.
        try:
            self._born: tuple[float, float] | None = (
                self.clock.monotonic(), (self.clock.now() - zcl.ZIGBEE_EPOCH).total_seconds())
        except RuntimeError:
            self._born = None

    # ---- lazy state -----------------------------------------------------------------
    def _logs(self) -> None:
        """Create the model and the logs' state at first use (cheap and seeded)."""
        if self._logs_ready:
            return
        self._logs_ready = True
        gas = self.device_type == "GSME"
        seed = int.from_bytes(hashlib.sha256(
            f"consumption:{self.ieee:016x}:{self.register_base}:{self.demand}".encode()
        ).digest()[:8], "big")
        self._seed = seed
        self._model = ConsumptionModel(seed, self.demand / 2.0, gas)
        self._mono0, self._zb0 = self._born or (
            self.clock.monotonic(), (self.clock.now() - zcl.ZIGBEE_EPOCH).total_seconds())
        self._origin_day = int(self._zb0) // DAY
        # How long the meter has been in: seeded, and never so long that the history
        # would take the register below zero.
        affordable = int(self.register_base // max(1.0, self._model.mean * PERIODS_PER_DAY * 2))
        self._installed_day = self._origin_day - max(1, min(400 + seed % 800, affordable))
        self._off: list[list[int | None]] = []  # supply not on: [start, end or None]
        self._cum: dict[int, list[int]] = {}
        self._totals: dict[int, int] = {}
        self._prefix: dict[int, int] = {self._origin_day: 0}
        self._power_factor = 0.90 + 0.09 * _unit(seed, -1)
        # Maximum demand: reset times and incremental maxima (period index, value).
        origin = self._origin_day * DAY
        self._demand_reset = {DEMAND_IMPORT: origin, DEMAND_EXPORT: origin,
                              DEMAND_CONFIGURABLE: origin}
        self._demand_window: tuple[int, int] | None = None  # seconds of day, start/end
        self._md: dict[int, tuple[int, int, int]] = {}  # kind -> (next k, best k, best W)
        # Prepayment and billing records, captured as frames arrive.
        self._next_midnight = (self._origin_day + 1) * DAY
        self._raw_day: tuple[int, list[int]] = (-1, [])
        self._volts: tuple[int, int, int] = (self._origin_day * PERIODS_PER_DAY, 0, 0)
        self._series_cache: tuple[Any, list[tuple[int, int]]] = (None, [])
        self._prepay_daily: list[tuple[int, int, tuple[int, ...]]] = []
        self._prepay_billing: list[tuple[int, int, tuple[int, ...]]] = []
        self._event_snapshots: list[tuple[int, int, int, tuple[int, ...]]] = []
        self._top_ups: list[tuple[str, int, int]] = []
        self._debt_payments: list[tuple[int, int, int, int]] = []
        self._network_samples: list[tuple[int, int, int]] = []  # (time, dm3, sample id)
        # Auxiliary load control switches (an ESME's), device credentials, firmware.
        self._alc_descriptions: dict[int, str] = {}
        self._alc_schedule: list[dict[str, Any]] = []
        self._alc_commands: dict[int, dict[str, int]] = {}
        self._alc_limits: dict[int, dict[str, int]] = {}
        self._randomised_offset_limit = 0
        self._upload: tuple[int, bytearray] | None = None
        self._device_keys: dict[int, ec.EllipticCurvePrivateKey] = {}
        self._device_certs: dict[int, bytes] = {}
        self._pending_keys: dict[int, ec.EllipticCurvePrivateKey] = {}
        self._requests: dict[int, bytes] = {}
        self._key_generation = 0
        #: An image the hub delivered and the meter holds, waiting for activation:
        #: (SHA-256 of the image, firmware version it carries). 11.1 would set it.
        self.pending_firmware: tuple[bytes, str] | None = None

    def _now(self) -> int:
        """Zigbee seconds now, from the loop clock (no datetime on the frame path)."""
        return int(self._zb0 + (self.clock.monotonic() - self._mono0))

    # ---- the register and the periods -----------------------------------------------
    def _on_seconds(self, start: int, end: int) -> int:
        """Seconds of [start, end) with supply on."""
        on = end - start
        for off_start, off_end in self._off:
            assert off_start is not None
            lo = max(start, off_start)
            hi = min(end, off_end if off_end is not None else end)
            if hi > lo:
                on -= hi - lo
        return on

    def _raw(self, day: int) -> list[int]:
        """The model's values of a day before supply interruptions (the last day kept)."""
        if self._raw_day[0] != day:
            self._raw_day = (day, self._model.day(day))
        return self._raw_day[1]

    def _day_cum(self, day: int) -> list[int]:
        """Cumulative consumption through a day's periods: 49 values, 0 first."""
        cum = self._cum.get(day)
        if cum is not None:
            return cum
        values = list(self._raw(day))
        if self._off:
            first = day * DAY
            for i, value in enumerate(values):
                start = first + i * PERIOD
                on = self._on_seconds(start, start + PERIOD)
                if on != PERIOD:
                    values[i] = value * on // PERIOD
        cum = [0] * (PERIODS_PER_DAY + 1)
        total = 0
        for i, value in enumerate(values):
            total += value
            cum[i + 1] = total
        if len(self._cum) >= 64:  # a bounded cache: the oldest inserted goes first
            del self._cum[next(iter(self._cum))]
        self._cum[day] = cum
        self._totals[day] = total
        return cum

    def _day_total(self, day: int) -> int:
        total = self._totals.get(day)
        return total if total is not None else self._day_cum(day)[-1]

    def _day_prefix(self, day: int) -> int:
        """Consumption from the origin day's midnight to this day's (negative before it)."""
        known = self._prefix.get(day)
        if known is not None:
            return known
        origin = self._origin_day
        if day > origin:
            d = day - 1
            while d not in self._prefix:
                d -= 1
            value = self._prefix[d]
            while d < day:
                value += self._day_total(d)
                d += 1
                self._prefix[d] = value
            return value
        d = day + 1
        while d not in self._prefix:
            d += 1
        value = self._prefix[d]
        while d > day:
            d -= 1
            value -= self._day_total(d)
            self._prefix[d] = value
        return value

    def delivered_at(self, moment: int) -> int:
        """What the meter had recorded at zigbee time ``moment``, from the origin midnight."""
        self._logs()
        k = moment // PERIOD
        day, index = divmod(k, PERIODS_PER_DAY)
        total = self._day_prefix(day) + self._day_cum(day)[index]
        into = moment - k * PERIOD
        if into:
            start = k * PERIOD
            on = self._on_seconds(start, moment) if self._off else into
            total += self._raw(day)[index] * on // PERIOD if on else 0
        return total

    def register_at(self, moment: int) -> int:
        """The import register (Current Summation Delivered) at zigbee time ``moment``."""
        return self.register_base + self.delivered_at(moment)

    def modelled_register(self) -> int:
        """The import register now: :meth:`Meter.register` is this."""
        self._logs()
        return self.register_at(self._now())

    def period_value(self, k: int) -> int:
        """Consumption of half-hour ``k`` (supply interruptions included)."""
        day, index = divmod(k, PERIODS_PER_DAY)
        cum = self._day_cum(day)
        return cum[index + 1] - cum[index]

    def instantaneous_demand(self) -> int:
        """W (dm3/h on a GSME): the current half-hour's average rate, 0 with supply off."""
        self._logs()
        if self.supply != se.SUPPLY_ON:
            return 0
        day, index = divmod(self._now() // PERIOD, PERIODS_PER_DAY)
        return self._raw(day)[index] * 2

    def _available_from(self, capacity_days: int) -> int:
        """The earliest zigbee time a log with this capacity still holds."""
        return max(self._installed_day * DAY, self._now() - capacity_days * DAY)

    # ---- supply: what the model records ---------------------------------------------
    def _supply_changed(self, before: int, after: int) -> None:
        now = self._now()
        if before == se.SUPPLY_ON and after != se.SUPPLY_ON:
            self._off.append([now, None])
        elif before != se.SUPPLY_ON and after == se.SUPPLY_ON and self._off \
                and self._off[-1][1] is None:
            self._off[-1][1] = now
        else:
            return
        day = now // DAY
        for cached in [d for d in self._cum if d >= day]:
            del self._cum[cached]
        for cached in [d for d in self._totals if d >= day]:
            del self._totals[cached]
        for cached in [d for d in self._prefix if d > day and d > self._origin_day]:
            del self._prefix[cached]

    # ---- frames: history capture and the ZCL commands --------------------------------
    def _prepay_state(self) -> tuple[int, ...]:
        debts = getattr(self, "debts", None) or {}
        return (int(getattr(self, "debt", 0)), *(int(debts.get(n, {}).get("amount", 0))
                                                 for n in (1, 2, 3)),
                int(getattr(self, "emergency_credit", 0)), int(getattr(self, "credit", 0)))

    def _tariff_state(self) -> tuple[Any, ...]:
        price_attrs = getattr(self, "price_attrs", None)
        items = getattr(self, "items", None) or {}
        return (getattr(self, "tariff", None), dict(price_attrs) if price_attrs else None,
                items.get("tariff"))

    def _catch_up(self, now: int) -> None:
        """Snapshot prepayment state at each midnight passed since the last frame."""
        state = self._prepay_state()
        first = max(self._next_midnight, now // DAY * DAY - PREPAY_DAILY_CAPACITY * DAY)
        for midnight in range(first, now + 1, DAY):
            self._prepay_daily.append((midnight, PREPAY_DAILY_CAUSE, state))
            if midnight == _days_in_month_start(midnight):
                self._prepay_billing.append((midnight, CAUSE_END_OF_BILLING_PERIOD, state))
        del self._prepay_daily[:-PREPAY_DAILY_CAPACITY]
        del self._prepay_billing[:-BILLING_CAPACITY]
        self._next_midnight = (now // DAY + 1) * DAY

    def on_zcl(self, src: int, cluster: int, frame: zcl.ZclFrame) -> None:
        """Capture what a frame changes that the logs keep, around the device's handling.

        One time comparison per frame; state is compared only for the clusters
        that can change it (Metering supply, Price, Prepayment, Tunneling).
        """
        self._logs()
        now = self._now()
        if now >= self._next_midnight:
            self._catch_up(now)
        if cluster not in _WATCHED or (frame.frame_type == zcl.TYPE_GLOBAL \
                and frame.command != zcl.WRITE_ATTRIBUTES):
            super().on_zcl(src, cluster, frame)  # type: ignore[misc]
            return
        supply, prepay, tariff = self.supply, self._prepay_state(), self._tariff_state()
        mode = getattr(self, "payment_control", None)
        super().on_zcl(src, cluster, frame)  # type: ignore[misc]
        if self.supply != supply:
            self._supply_changed(supply, self.supply)
        after = self._prepay_state()
        if cluster == se.PREPAYMENT and frame.command == se.PP_CONSUMER_TOP_UP \
                and frame.frame_type == zcl.TYPE_CLUSTER and after[-1] > prepay[-1]:
            code = se.CONSUMER_TOP_UP.parse(frame.payload).top_up_code
            paid = max(0, prepay[0] - after[0])
            self._top_ups.append((code, after[-1] - prepay[-1] + paid, now))
            del self._top_ups[:-TOP_UP_CAPACITY]
            if paid:
                self._debt_payments.append((now, paid, DEBT_TYPE_ALL, after[0]))
                del self._debt_payments[:-DEBT_LOG_CAPACITY]
        cause = 0
        if self._tariff_state() != tariff:
            cause |= CAUSE_CHANGE_OF_TARIFF
        if getattr(self, "payment_control", None) != mode:
            cause |= CAUSE_CHANGE_OF_METER_MODE
        if cause:
            last = self._event_snapshots[-1] if self._event_snapshots else None
            if last is not None and now - last[0] <= EVENT_COALESCE:
                # One tariff update is a burst of frames: one capture, as a meter takes.
                self._event_snapshots[-1] = (last[0], last[1] | cause, last[2], last[3])
            else:
                self._event_snapshots.append((now, cause, self.register_at(now), prepay))
                del self._event_snapshots[:-EVENT_SNAPSHOT_CAPACITY]

    def attributes(self, cluster: int) -> dict[int, tuple[int, Any]]:
        table: dict[int, tuple[int, Any]] = super().attributes(cluster)  # type: ignore[misc]
        if cluster == se.METERING:
            self._logs()
            table.update({
                se.MET_CURRENT_SUMMATION_RECEIVED: (zcl.UINT48, 0),
                se.MET_CURRENT_MAX_DEMAND_DELIVERED: (zcl.UINT24, _Deferred(
                    lambda: self.maximum_demand(DEMAND_IMPORT)[0])),
                se.MET_CURRENT_MAX_DEMAND_DELIVERED_TIME: (zcl.UTC_TIME, _Deferred(
                    lambda: self.maximum_demand(DEMAND_IMPORT)[1])),
                se.MET_CURRENT_MAX_DEMAND_RECEIVED: (zcl.UINT24, 0),
                se.MET_CURRENT_MAX_DEMAND_RECEIVED_TIME: (zcl.UTC_TIME, NO_TIME),
            })
        elif cluster == se.ELECTRICAL_MEASUREMENT and self.device_type == "ESME":
            self._logs()
            table.update({
                se.EM_AVERAGE_RMS_VOLTAGE_PERIOD: (zcl.UINT16, PERIOD),
                se.EM_AVERAGE_RMS_OVER_VOLTAGE_COUNTER: (zcl.UINT16, _Deferred(
                    lambda: self._voltage_counters()[0])),
                se.EM_AVERAGE_RMS_UNDER_VOLTAGE_COUNTER: (zcl.UINT16, _Deferred(
                    lambda: self._voltage_counters()[1])),
            })
        return table

    # Metering: Get Profile -> Get Profile Response
    def cmd_0702_00(self, src: int, frame: zcl.ZclFrame) -> None:
        req = GET_PROFILE.parse(frame.payload)
        if req.channel not in (CHANNEL_DELIVERED, CHANNEL_RECEIVED):
            self.reply(src, se.METERING, frame, se.MET_GET_PROFILE_RESPONSE,
                       get_profile_response(req.end_time, PROFILE_UNDEFINED_CHANNEL, []))
            return
        last = min(req.end_time, self._now()) // PERIOD  # the first period not complete
        first = max(-(-self._available_from(PROFILE_CAPACITY_DAYS) // PERIOD),
                    last - min(req.number_of_periods, MAX_PROFILE_PERIODS))
        if last <= first:
            self.reply(src, se.METERING, frame, se.MET_GET_PROFILE_RESPONSE,
                       get_profile_response(req.end_time, PROFILE_NONE_AVAILABLE, []))
            return
        values = [0] * (last - first) if req.channel == CHANNEL_RECEIVED \
            else [self.period_value(k) for k in range(last - 1, first - 1, -1)]
        self.reply(src, se.METERING, frame, se.MET_GET_PROFILE_RESPONSE,
                   get_profile_response(last * PERIOD, PROFILE_SUCCESS, values))

    def _snapshot_times(self, cause: int, start: int, end: int) -> list[tuple[int, int, int]]:
        """(time, cause, summation) of the snapshots matching, newest first."""
        now = self._now()
        end = min(end, now)
        out: list[tuple[int, int, int]] = []
        if cause & DAILY_CAUSE:
            low = max(start, self._available_from(DAILY_READ_CAPACITY))
            midnight = end // DAY * DAY
            while midnight >= low and len(out) < 255:
                out.append((midnight, DAILY_CAUSE, self.register_at(midnight)))
                midnight -= DAY
        if cause & CAUSE_END_OF_BILLING_PERIOD:
            low = max(start, self._installed_day * DAY)
            month = _days_in_month_start(end)
            for _ in range(BILLING_CAPACITY):
                if month < low:
                    break
                out.append((month, CAUSE_END_OF_BILLING_PERIOD, self.register_at(month)))
                month = _previous_month_start(month)
        if cause & TARIFF_CAUSES:
            out += [(t, c, r) for t, c, r, _ in reversed(self._event_snapshots)
                    if c & cause and start <= t <= end]
        out.sort(key=lambda s: -s[0])
        return out

    # Metering: Get Snapshot -> Publish Snapshot (one snapshot per request, by offset)
    def cmd_0702_06(self, src: int, frame: zcl.ZclFrame) -> None:
        req = GET_SNAPSHOT.parse(frame.payload)
        found = self._snapshot_times(req.cause, req.start_time, req.end_time)
        if req.offset >= len(found):
            payload = publish_snapshot(0, 0, len(found), req.cause, None)
        else:
            when, cause, summation = found[req.offset]
            payload = publish_snapshot(when // PERIOD, when, len(found), cause, summation)
        self.reply(src, se.METERING, frame, se.MET_PUBLISH_SNAPSHOT, payload)

    # Prepayment: Get Prepay Snapshot -> Publish Prepay Snapshot
    def cmd_0705_07(self, src: int, frame: zcl.ZclFrame) -> None:
        req = GET_SNAPSHOT.parse(frame.payload)
        records = [(t, c, s) for t, c, s in self._prepay_daily + self._prepay_billing
                   if c & req.cause and req.start_time <= t <= req.end_time]
        records += [(t, c, s) for t, c, _, s in self._event_snapshots
                    if c & req.cause and req.start_time <= t <= req.end_time]
        records.sort(key=lambda r: -r[0])
        head = {"snapshot_id": 0, "snapshot_time": 0, "found": len(records),
                "command_index": 0, "total_commands": 1, "cause": req.cause,
                "payload_type": PAYLOAD_DEBT_CREDIT_STATUS}
        body = b""
        if req.offset < len(records):
            when, cause, state = records[req.offset]
            head.update(snapshot_id=when // PERIOD, snapshot_time=when, cause=cause)
            body = DEBT_CREDIT_STATUS.build(dict(zip(
                ("accumulated_debt", "type1_debt", "type2_debt", "type3_debt",
                 "emergency_credit", "credit"), state, strict=True)))
        self.reply(src, se.PREPAYMENT, frame, se.PP_PUBLISH_PREPAY_SNAPSHOT,
                   SNAPSHOT_HEADER.build(head) + body)

    # Prepayment: Get Top Up Log -> Publish Top Up Log
    def cmd_0705_08(self, src: int, frame: zcl.ZclFrame) -> None:
        req = GET_TOP_UP_LOG.parse(frame.payload)
        records = [r for r in reversed(self._top_ups) if r[2] <= req.latest_end_time]
        self.reply(src, se.PREPAYMENT, frame, se.PP_PUBLISH_TOP_UP_LOG, publish_top_up_log(
            records[:min(req.number_of_records, TOP_UPS_PER_FRAME)]))

    # Prepayment: Get Debt Repayment Log -> Publish Debt Log
    def cmd_0705_0a(self, src: int, frame: zcl.ZclFrame) -> None:
        req = GET_DEBT_REPAYMENT_LOG.parse(frame.payload)
        records = [r for r in reversed(self._debt_payments) if r[0] <= req.latest_end_time
                   and req.debt_type in (DEBT_TYPE_ALL, r[2])]
        self.reply(src, se.PREPAYMENT, frame, se.PP_PUBLISH_DEBT_LOG, publish_debt_log(
            records[:min(req.number_of_records, DEBTS_PER_FRAME)]))

    # ---- maximum demand --------------------------------------------------------------
    def _in_window(self, k: int) -> bool:
        window = self._demand_window
        if window is None:
            return False
        start, end = window
        second = k * PERIOD % DAY
        return start <= second < end if start <= end else (second >= start or second < end)

    def maximum_demand(self, kind: int) -> tuple[int, int]:
        """(W, zigbee time the period ended) of the highest half-hour since the last reset.

        Export has nothing to record (the meter imports only): (0, NO_TIME). Kept
        incrementally, so a read costs only the periods completed since the last.
        """
        if kind == DEMAND_EXPORT:
            return 0, NO_TIME
        now_k = self._now() // PERIOD
        reset_k = -(-self._demand_reset[kind] // PERIOD)  # first period starting after it
        next_k, best_k, best = self._md.get(kind, (reset_k, -1, -1))
        for k in range(max(next_k, reset_k), now_k):
            if kind == DEMAND_CONFIGURABLE and not self._in_window(k):
                continue
            value = self.period_value(k)
            if value > best:
                best_k, best = k, value
        self._md[kind] = (max(next_k, now_k), best_k, best)
        if best_k < 0:
            return 0, NO_TIME
        return best * 2, (best_k + 1) * PERIOD

    def mgmt_31(self, body: bytes) -> bytes | None:
        """Configurable-period maximum demand and the registers' reset times."""
        self._logs()
        value, at = self.maximum_demand(DEMAND_CONFIGURABLE)
        start, end = self._demand_window if self._demand_window else (NO_TIME, NO_TIME)
        data = b"".join(v.to_bytes(4, "little") for v in (
            start, end, value if self._demand_window else NO_TIME, at,
            self._demand_reset[DEMAND_IMPORT], self._demand_reset[DEMAND_EXPORT],
            self._demand_reset[DEMAND_CONFIGURABLE]))
        return mgmt.response(READ_DEMAND_SETTINGS, mgmt.OK, data)

    def mgmt_32(self, body: bytes) -> bytes | None:
        """Set the configurable maximum demand period (6.18.1): two seconds-of-day."""
        self._logs()
        if len(body) < 8:
            return mgmt.response(SET_DEMAND_PERIOD, mgmt.FAILED)
        start, end = int.from_bytes(body[:4], "little"), int.from_bytes(body[4:8], "little")
        if start >= DAY or end > DAY:
            return mgmt.response(SET_DEMAND_PERIOD, mgmt.FAILED)
        result = self.outcome("set_max_demand_period", {"start": start, "end": end})
        if result.apply:
            self._demand_window = (start, end)
            self._demand_reset[DEMAND_CONFIGURABLE] = self._now()
            self._md.pop(DEMAND_CONFIGURABLE, None)
        if not result.confirm:
            return None
        return mgmt.response(SET_DEMAND_PERIOD, mgmt.OK if result.apply else mgmt.REFUSED)

    def mgmt_33(self, body: bytes) -> bytes | None:
        """Reset maximum demand registers (6.18.2): a bitmap of import/export/configurable."""
        self._logs()
        which = body[0] if body else 0
        result = self.outcome("reset_max_demand", {"registers": which})
        if result.apply:
            now = self._now()
            for kind in (DEMAND_IMPORT, DEMAND_EXPORT, DEMAND_CONFIGURABLE):
                if which & kind:
                    self._demand_reset[kind] = now
                    self._md.pop(kind, None)
            self.log_event(0x8F5A, f"maximum demand registers reset ({which:#04x})")
        if not result.confirm:
            return None
        return mgmt.response(RESET_DEMAND, mgmt.OK if result.apply else mgmt.REFUSED)

    # ---- time series SE has no command for ----------------------------------------------
    def _voltage(self, k: int) -> int:
        """Average RMS voltage of half-hour ``k`` in decivolts: 240 V, seeded wander,
        a little sag with load."""
        load = self.period_value(k) / max(1.0, self._model.mean)
        return int(2400 + 60 * (_unit(self._seed ^ 0x5A5A, k) - 0.5) - 25 * (load - 1.0))

    def _voltage_counters(self) -> tuple[int, int]:
        """Periods since the origin whose average voltage left 216-253 V (over, under),
        counted incrementally."""
        next_k, over, under = self._volts
        now_k = self._now() // PERIOD
        for k in range(next_k, now_k):
            volts = self._voltage(k)
            over += volts > 2530
            under += volts < 2160
        self._volts = (max(next_k, now_k), over, under)
        return over, under

    def _series(self, series: int, start: int, end: int) -> list[tuple[int, int]]:
        """The whole series for [start, end], computed once per read.

        A read pages through the series one management exchange at a time, and
        each page asks for the same series again with the clock a few
        milliseconds on. Within one half-hour nothing but gas network samples
        can change, so the last list is kept for the next page.
        """
        now = self._now()
        key = (series, start, min(end, now) // PERIOD, now // PERIOD)
        if series != SERIES_GAS_NETWORK and self._series_cache[0] == key:
            return self._series_cache[1]
        values = self._compute_series(series, start, end, now)
        if series != SERIES_GAS_NETWORK:
            self._series_cache = (key, values)
        return values

    def _compute_series(self, series: int, start: int, end: int,
                        now: int) -> list[tuple[int, int]]:
        end = min(end, now)
        if series == SERIES_REACTIVE_IMPORT:
            tan = math.tan(math.acos(self._power_factor))
            first = max(-(-start // PERIOD),
                        -(-self._available_from(PROFILE_CAPACITY_DAYS) // PERIOD))
            return [(k * PERIOD, int(self.period_value(k) * tan))
                    for k in range(first, end // PERIOD)]
        if series == SERIES_VOLTAGE:
            first = max(-(-start // PERIOD), now // PERIOD - VOLTAGE_PROFILE_CAPACITY,
                        self._installed_day * PERIODS_PER_DAY)
            return [(k * PERIOD, self._voltage(k)) for k in range(first, end // PERIOD)]
        if series == SERIES_GAS_NETWORK:
            return [(t, v) for t, v, _ in self._network_samples if start <= t <= end]
        low = max(start, self._available_from(DAILY_READ_CAPACITY))
        first = -(-low // DAY) * DAY
        if series == SERIES_EXPORT_DAILY:
            return [(m, 0) for m in range(first, end + 1, DAY)]
        # Daily consumption: each day's total, logged at the midnight that ends it.
        return [(m, self.delivered_at(m) - self.delivered_at(m - DAY))
                for m in range(max(first, (self._installed_day + 1) * DAY), end + 1, DAY)]

    def mgmt_30(self, body: bytes) -> bytes | None:
        """Read a time series: series, start, end (zigbee times), records to skip.

        Answer: total records (u16), count (u8), then (time u32, value u32) each,
        oldest first.
        """
        self._logs()
        if len(body) < 11 or body[0] > SERIES_GAS_NETWORK:
            return mgmt.response(READ_SERIES, mgmt.UNSUPPORTED)
        series = body[0]
        if (series == SERIES_GAS_NETWORK and self.device_type != "GSME") or \
                (series in (SERIES_REACTIVE_IMPORT, SERIES_VOLTAGE, SERIES_EXPORT_DAILY)
                 and self.device_type != "ESME"):
            return mgmt.response(READ_SERIES, mgmt.UNSUPPORTED)
        start, end = int.from_bytes(body[1:5], "little"), int.from_bytes(body[5:9], "little")
        skip = int.from_bytes(body[9:11], "little")
        records = self._series(series, start, end)
        page = records[skip:skip + SERIES_PER_FRAME]
        data = len(records).to_bytes(2, "little") + bytes([len(page)]) + b"".join(
            t.to_bytes(4, "little") + max(0, v).to_bytes(4, "little") for t, v in page)
        return mgmt.response(READ_SERIES, mgmt.OK, data)

    def mgmt_34(self, body: bytes) -> bytes | None:
        """Record a gas network data sample (14.1): the volume register now."""
        self._logs()
        if self.device_type != "GSME":
            return mgmt.response(RECORD_NETWORK_DATA, mgmt.UNSUPPORTED)
        result = self.outcome("record_network_data", {})
        sample = (self._network_samples[-1][2] + 1) & 0xFFFF if self._network_samples else 1
        if result.apply:
            now = self._now()
            self._network_samples.append((now, self.register_at(now), sample))
            del self._network_samples[:-GAS_NETWORK_CAPACITY]
        if not result.confirm:
            return None
        if not result.apply:
            return mgmt.response(RECORD_NETWORK_DATA, mgmt.REFUSED)
        return mgmt.response(RECORD_NETWORK_DATA, mgmt.OK, sample.to_bytes(2, "little"))

    # ---- auxiliary load control switches ------------------------------------------------
    def _alc_config(self) -> dict[str, Any]:
        return {"Descriptions": {str(n): t for n, t in sorted(self._alc_descriptions.items())},
                "Schedule": self._alc_schedule}

    def _scheduled(self, switch: int, now: int) -> bool | None:
        """What the 6.14.2 schedule has a switch doing now: the latest switching at or
        before now within the last week, or None when it has none."""
        entries = [e for e in self._alc_schedule if e.get("Switch") == switch]
        if not entries:
            return None
        today = now // DAY
        for back in range(8):
            day = _DAY0 + timedelta(days=today - back)
            latest: tuple[int, bool] | None = None
            for entry in entries:
                if not _applies(entry, day):
                    continue
                at = _seconds_of(entry.get("SwitchTime"))
                if at is None or (back == 0 and at > now % DAY):
                    continue
                if latest is None or at >= latest[0]:
                    latest = (at, bool(entry.get("Activate")))
            if latest is not None:
                return latest[1]
        return None

    def _alc_operational(self) -> dict[str, Any]:
        now = self._now()
        loads = getattr(self, "aux_loads", {})
        out = []
        for n in ALC_SWITCHES:
            on = loads.get(n)  # a remote override (7.5, 7.6) or a boost wins
            if on is None:
                on = self._scheduled(n, now)
            level = 100 if on else 0
            command = self._alc_commands.get(n)
            if command and command["start"] <= now < command["end"]:
                level = command["level"]
            limit = self._alc_limits.get(n)
            if limit and limit["start"] <= now < limit["end"]:
                level = min(level, limit["level"])
            out.append({"Switch": n, "Level": level,
                        "Input": bool(command and command.get("input"))})
        return {"Switches": out, "RandomisedOffsetLimit": self._randomised_offset_limit}

    def _chunk_answer(self, op: int, raw: bytes, offset: int) -> bytes:
        return mgmt.response(op, mgmt.OK, len(raw).to_bytes(2, "little")
                             + raw[offset:offset + CHUNK])

    def _take_upload(self, op: int, body: bytes) -> tuple[int, bytes] | bytes | None:
        """Collect a chunked put: (item, raw) on the last chunk, else the answer to send."""
        if len(body) < 4:
            return mgmt.response(op, mgmt.FAILED)
        item, offset, last, data = body[0], int.from_bytes(body[1:3], "little"), bool(body[3]), \
            body[4:]
        if offset == 0:
            self._upload = (op << 8 | item, bytearray())
        if self._upload is None or self._upload[0] != op << 8 | item \
                or len(self._upload[1]) != offset or offset + len(data) > 16_384:
            self._upload = None
            return mgmt.response(op, mgmt.FAILED)
        self._upload[1].extend(data)
        if not last:
            return mgmt.response(op, mgmt.OK)
        raw, self._upload = bytes(self._upload[1]), None
        return item, raw

    def mgmt_35(self, body: bytes) -> bytes | None:
        """Put ALCS descriptions (6.14.1) or schedule (6.14.2): chunked canonical JSON."""
        self._logs()
        if self.device_type != "ESME":
            return mgmt.response(PUT_ALC, mgmt.UNSUPPORTED)
        taken = self._take_upload(PUT_ALC, body)
        if not isinstance(taken, tuple):
            return taken
        item, raw = taken
        try:
            value = json.loads(raw)
        except ValueError:
            return mgmt.response(PUT_ALC, mgmt.FAILED)
        op = "alc_descriptions" if item == ALC_ITEM_DESCRIPTIONS else "alc_schedule"
        result = self.outcome(op, {})
        if result.apply:
            if item == ALC_ITEM_DESCRIPTIONS and isinstance(value, dict):
                self._alc_descriptions.update({int(n): str(t)[:22] for n, t in value.items()
                                               if int(n) in ALC_SWITCHES})
            elif item == ALC_ITEM_SCHEDULE and isinstance(value, list):
                self._alc_schedule = value[:48]
            else:
                return mgmt.response(PUT_ALC, mgmt.FAILED)
        if not result.confirm:
            return None
        return mgmt.response(PUT_ALC, mgmt.OK if result.apply else mgmt.REFUSED)

    def mgmt_36(self, body: bytes) -> bytes | None:
        """Get the ALCS configuration or operational data: chunked canonical JSON."""
        self._logs()
        if self.device_type != "ESME" or len(body) < 3:
            return mgmt.response(GET_ALC, mgmt.UNSUPPORTED)
        value = self._alc_config() if body[0] == ALC_ITEM_CONFIGURATION \
            else self._alc_operational()
        raw = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        return self._chunk_answer(GET_ALC, raw, int.from_bytes(body[1:3], "little"))

    def mgmt_37(self, body: bytes) -> bytes | None:
        """Reset a load (7.8), command a state (7.13), limit an APC (7.16), or set the
        randomised offset limit (7.12)."""
        self._logs()
        if self.device_type != "ESME" or len(body) < 2:
            return mgmt.response(ALC_ACTION, mgmt.UNSUPPORTED)
        action = body[0]
        if action == ALC_RANDOMISED_OFFSET_LIMIT:
            limit = int.from_bytes(body[1:3], "little")
            result = self.outcome("randomised_offset_limit", {"limit": limit})
            if result.apply:
                self._randomised_offset_limit = limit
                # The tariff family's 6.2.x randomisation read shows it too.
                items = getattr(self, "items", None)
                if isinstance(items, dict):
                    items.setdefault("randomisation", {})["RandomisedOffsetLimit"] = limit
        else:
            switch = body[1]
            if switch not in ALC_SWITCHES or action not in (ALC_RESET, ALC_SET_STATE,
                                                            ALC_LIMIT_APC):
                return mgmt.response(ALC_ACTION, mgmt.FAILED)
            result = self.outcome("aux_controller", {"switch": switch, "action": action})
            if result.apply and action == ALC_RESET:
                self._alc_commands.pop(switch, None)
                self._alc_limits.pop(switch, None)
                loads = getattr(self, "aux_loads", None)
                if isinstance(loads, dict):
                    loads.pop(switch, None)
                self.log_event(0x8F31, f"auxiliary load {switch} reset")
            elif result.apply:
                if len(body) < 12:
                    return mgmt.response(ALC_ACTION, mgmt.FAILED)
                command = {"level": min(100, body[2]), "input": body[3],
                           "start": int.from_bytes(body[4:8], "little"),
                           "end": int.from_bytes(body[8:12], "little")}
                (self._alc_commands if action == ALC_SET_STATE else
                 self._alc_limits)[switch] = command
        if not result.confirm:
            return None
        return mgmt.response(ALC_ACTION, mgmt.OK if result.apply else mgmt.NOT_AUTHORISED)

    # ---- the device's own credentials ------------------------------------------------
    def _device_key(self, kind: int) -> ec.EllipticCurvePrivateKey:
        """The key a device holds for a certificate type (seeded, so runs repeat)."""
        key = self._device_keys.get(kind)
        if key is None:
            key = _derive_key(f"{self._seed}:{kind}:factory")
            self._device_keys[kind] = key
        return key

    def _device_certificate(self, kind: int) -> bytes:
        """The device's certificate of a type: the one placed last, else its factory one."""
        cert = self._device_certs.get(kind)
        if cert is None:
            cert = _factory_certificate(self.ieee, kind, self._device_key(kind))
            self._device_certs[kind] = cert
        return cert

    def mgmt_38(self, body: bytes) -> bytes | None:
        """Put a device certificate (6.15.2): chunked DER; the last chunk replaces it."""
        self._logs()
        taken = self._take_upload(PUT_DEVICE_CREDENTIAL, body)
        if not isinstance(taken, tuple):
            return taken
        kind, raw = taken
        try:
            x509.load_der_x509_certificate(raw)
        except ValueError:
            return mgmt.response(PUT_DEVICE_CREDENTIAL, mgmt.REFUSED,
                                 bytes([ASN1["badCertificate"]]))
        result = self.outcome("update_device_credential", {"kind": kind})
        if result.apply:
            # The pending key pair of a 6.17, if one was issued, becomes the device's.
            pending = self._pending_keys.pop(kind, None)
            if pending is not None:
                self._device_keys[kind] = pending
            self._device_certs[kind] = raw
            self.log_event(0x8F1D, "device certificate replaced", security=True)
        if not result.confirm:
            return None
        if not result.apply:
            return mgmt.response(PUT_DEVICE_CREDENTIAL, mgmt.REFUSED,
                                 bytes([ASN1["certificateStorageFailed"]]))
        return mgmt.response(PUT_DEVICE_CREDENTIAL, mgmt.OK)

    def mgmt_39(self, body: bytes) -> bytes | None:
        """Issue a key pair and its certification request (6.17), or read a chunk of the
        request or of a certificate (6.24.2): sub-op, kind, offset."""
        self._logs()
        if len(body) < 4 or body[1] not in CREDENTIAL_KIND_NAMES:
            return mgmt.response(GET_DEVICE_CREDENTIAL, mgmt.UNSUPPORTED)
        sub, kind, offset = body[0], body[1], int.from_bytes(body[2:4], "little")
        if sub == CREDENTIAL_ISSUE:
            result = self.outcome("issue_device_credential", {"kind": kind})
            if result.apply:
                self._key_generation += 1
                key = _derive_key(f"{self._seed}:{kind}:{self._key_generation}")
                self._pending_keys[kind] = key
                self._requests[kind] = _certification_request(self.ieee, kind, key)
                self.log_event(0x8F1E, "key pair generated", security=True)
            if not result.confirm:
                return None
            if not result.apply:
                return mgmt.response(GET_DEVICE_CREDENTIAL, mgmt.REFUSED,
                                     bytes([ASN1["keyPairGenerationFailed"]]))
            return self._chunk_answer(GET_DEVICE_CREDENTIAL, self._requests[kind], 0)
        if sub == CREDENTIAL_READ_REQUEST:
            request = self._requests.get(kind)
            if request is None:
                return mgmt.response(GET_DEVICE_CREDENTIAL, mgmt.REFUSED,
                                     bytes([ASN1["noCorrespondingKeyPairGenerated"]]))
            return self._chunk_answer(GET_DEVICE_CREDENTIAL, request, offset)
        return self._chunk_answer(GET_DEVICE_CREDENTIAL, self._device_certificate(kind), offset)

    # ---- firmware ---------------------------------------------------------------------
    def mgmt_3b(self, body: bytes) -> bytes | None:
        """Take a distributed firmware image (after 11.1): chunked ``version length,
        version, image``. The meter holds it, by SHA-256, until an 11.3 activates it."""
        self._logs()
        taken = self._take_upload(PUT_FIRMWARE_IMAGE, body)
        if not isinstance(taken, tuple):
            return taken
        _, raw = taken
        size = raw[0] if raw else 0
        version, image = raw[1:1 + size].decode("utf-8", "replace"), raw[1 + size:]
        if not raw or len(raw) < 1 + size or not image:
            return mgmt.response(PUT_FIRMWARE_IMAGE, mgmt.FAILED)
        self.pending_firmware = (hashlib.sha256(image).digest(), version)
        self.log_event(0x8F72, f"firmware image {version} received")
        return mgmt.response(PUT_FIRMWARE_IMAGE, mgmt.OK)

    def mgmt_3a(self, body: bytes) -> bytes | None:
        """Activate the held image whose SHA-256 is given (11.3).

        Answer: the MMC ASN1Status number, then the running firmware version.
        A meter holds an image only after one was delivered to it (11.1).
        """
        self._logs()
        wanted = body[:32]
        held = self.pending_firmware
        if held is None:
            status = ASN1["noImageHeld"]
        elif held[0] != wanted:
            status = ASN1["hashMismatch"]
        else:
            result = self.outcome("activate_firmware", {"version": held[1]})
            if not result.confirm:
                return None
            status = ASN1["success"] if result.apply else ASN1["activationFailure"]
            if result.apply:
                self.info = _with_firmware(self.info, held[1])
                self.pending_firmware = None
                self.log_event(0x8F7D, f"firmware {held[1]} activated")
        version = str(getattr(getattr(self, "info", None), "firmware_version", "")).encode()
        data = bytes([status]) + bytes([len(version)]) + version
        return mgmt.response(ACTIVATE_FIRMWARE, mgmt.OK if status == 0 else mgmt.REFUSED, data)


_WATCHED = frozenset({se.METERING, se.PRICE, se.PREPAYMENT, se.TUNNELING})

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _seconds_of(text: Any) -> int | None:
    """hh:mm:ssZ as seconds after midnight, or None."""
    try:
        hours, minutes, seconds = str(text).rstrip("Z").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + int(float(seconds))
    except ValueError:
        return None


def _bound(value: Any) -> tuple[int, ...] | None:
    """A schedule date as a comparable key: (year, month, day) for a whole date,
    (month, day) for a date that recurs each year, None when it does not bound."""
    if not isinstance(value, dict):
        return None
    year, month, day = value.get("Year"), value.get("Month"), value.get("DayOfMonth")
    if not isinstance(month, int) or not isinstance(day, int):
        return None
    return (year, month, day) if isinstance(year, int) else (month, day)


def _within(day: date, start: tuple[int, ...] | None, end: tuple[int, ...] | None) -> bool:
    def key(bound: tuple[int, ...]) -> tuple[int, ...]:
        return (day.year, day.month, day.day) if len(bound) == 3 else (day.month, day.day)

    if start is not None and end is not None and len(start) == len(end) == 2 and start > end:
        return key(start) >= start or key(end) <= end  # a season across the new year
    return (start is None or key(start) >= start) and (end is None or key(end) <= end)


def _applies(entry: dict[str, Any], day: date) -> bool:
    """Whether a schedule entry switches on ``day``: its days of the week, within its
    start and end dates (a date without a year recurs each year; special days, which
    s1bench's ESME does not define, do not restrict it)."""
    days = entry.get("Days") or []
    if days and _WEEKDAYS[day.weekday()] not in days:
        return False
    return _within(day, _bound(entry.get("StartDate")), _bound(entry.get("EndDate")))

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_NOT_BEFORE = datetime(2015, 1, 1, tzinfo=UTC)
_NOT_AFTER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _derive_key(material: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key derived from seeded material: the same run makes the same keys."""
    digest = hashlib.sha256(f"s1bench-device:{material}".encode()).digest()
    return ec.derive_private_key(int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1,
                                 ec.SECP256R1())


def _device_name(ieee: int, kind: int) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{ieee:016X}"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                                         CREDENTIAL_KIND_NAMES[kind])])


def _factory_certificate(ieee: int, kind: int, key: ec.EllipticCurvePrivateKey) -> bytes:
    """The certificate a device leaves the factory with (self-issued: s1bench models no
    manufacturer CA)."""
    name = _device_name(ieee, kind)
    public = key.public_key()
    spki = public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(int.from_bytes(hashlib.sha256(spki).digest()[:16], "big") >> 1 or 1)
            .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
            .sign(key, hashes.SHA256(), ecdsa_deterministic=True))
    return cert.public_bytes(serialization.Encoding.DER)


def _certification_request(ieee: int, kind: int, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A PKCS #10 request for the new key pair, signed by it (RFC 6979 nonces)."""
    request = (x509.CertificateSigningRequestBuilder().subject_name(_device_name(ieee, kind))
               .sign(key, hashes.SHA256(), ecdsa_deterministic=True))
    return request.public_bytes(serialization.Encoding.DER)


def _with_firmware(info: Any, version: str) -> Any:
    from dataclasses import replace

    return replace(info, firmware_version=version)
