"""Smart Energy (profile 0x0109) cluster, attribute and command ids, and payloads.

Ids are those Wireshark's ZigBee dissectors name (``tshark -G values | grep
zbee_zcl_se``), which DOMAIN.md makes the reference table. Payload layouts
are construct Structs compiled once, so building and parsing a command on
the hot path costs one compiled call.
"""

from __future__ import annotations

from construct import Bytes, Int8ul, Int16ul, Int32sl, Int32ul, PascalString, Struct

from .codec_errors import need

# ---- clusters ----
BASIC = 0x0000
IDENTIFY = 0x0003
TIME = 0x000A
OTA = 0x0019
PRICE = 0x0700
METERING = 0x0702
MESSAGING = 0x0703
TUNNELING = 0x0704
PREPAYMENT = 0x0705
DEVICE_MANAGEMENT = 0x0708
EVENTS = 0x0709
KEY_ESTABLISHMENT = 0x0800
ELECTRICAL_MEASUREMENT = 0x0B04

SE_ENDPOINT = 1

# ---- attributes ----
BASIC_MANUFACTURER = 0x0004
BASIC_MODEL = 0x0005
BASIC_SW_BUILD = 0x4000
TIME_TIME = 0x0000
MET_CURRENT_SUMMATION_DELIVERED = 0x0000
MET_CURRENT_SUMMATION_RECEIVED = 0x0001  # Current Summation Received
MET_CURRENT_MAX_DEMAND_DELIVERED = 0x0002  # Current Max Demand Delivered
MET_CURRENT_MAX_DEMAND_RECEIVED = 0x0003  # Current Max Demand Received
MET_CURRENT_MAX_DEMAND_DELIVERED_TIME = 0x0008  # Current Max Demand Delivered Time
MET_CURRENT_MAX_DEMAND_RECEIVED_TIME = 0x0009  # Current Max Demand Received Time
MET_SUPPLY_STATUS = 0x0014
MET_UNIT_OF_MEASURE = 0x0300
MET_DEMAND_LIMIT = 0x0601
MET_INSTANTANEOUS_DEMAND = 0x0400
PP_CREDIT_REMAINING = 0x0001
PP_EMERGENCY_CREDIT_REMAINING = 0x0002
PP_CREDIT_STATUS = 0x0003
PP_ACCUMULATED_DEBT = 0x0005
EM_AVERAGE_RMS_VOLTAGE_PERIOD = 0x0511  # Average RMS Voltage Measurement Period
EM_AVERAGE_RMS_OVER_VOLTAGE_COUNTER = 0x0512  # Average RMS Over Voltage Counter
EM_AVERAGE_RMS_UNDER_VOLTAGE_COUNTER = 0x0513  # Average RMS Under Voltage Counter
EM_AC_ACTIVE_POWER_OVERLOAD = 0x0803
EM_RMS_EXTREME_OVER_VOLTAGE = 0x0807
EM_RMS_EXTREME_UNDER_VOLTAGE = 0x0808
EM_RMS_VOLTAGE_SAG = 0x0809
EM_RMS_VOLTAGE_SWELL = 0x080A

# Supply Status attribute values (SE 1.2 Metering).
SUPPLY_OFF = 0x00
SUPPLY_ARMED = 0x01
SUPPLY_ON = 0x02

# ---- commands (client->server = "rx" at the server, server->client = "tx") ----
PRICE_GET_CURRENT_PRICE = 0x00  # client -> server
PRICE_PUBLISH_PRICE = 0x00  # server -> client
MET_GET_PROFILE = 0x00  # client -> server: Get Profile
MET_GET_PROFILE_RESPONSE = 0x00  # server -> client: Get Profile Response
MET_GET_SNAPSHOT = 0x06  # client -> server: Get Snapshot
MET_PUBLISH_SNAPSHOT = 0x06  # server -> client: Publish Snapshot
MET_CHANGE_SUPPLY = 0x0B  # client -> server
MET_SET_UNCONTROLLED_FLOW_THRESHOLD = 0x0E  # client -> server
MET_SUPPLY_STATUS_RESPONSE = 0x0C  # server -> client
MSG_DISPLAY_MESSAGE = 0x00  # server -> client
MSG_MESSAGE_CONFIRMATION = 0x01  # client -> server
TUN_REQUEST_TUNNEL = 0x00  # client -> server
TUN_REQUEST_TUNNEL_RESPONSE = 0x00  # server -> client
TUN_TRANSFER_DATA_TO_SERVER = 0x02  # client -> server
TUN_TRANSFER_DATA_TO_CLIENT = 0x01  # server -> client
TUN_TRANSFER_DATA_ERROR_TO_CLIENT = 0x02  # server -> client
PP_SELECT_EMERGENCY_CREDIT = 0x00  # client -> server
PP_CONSUMER_TOP_UP = 0x04  # client -> server
PP_CONSUMER_TOP_UP_RESPONSE = 0x03  # server -> client
PP_GET_PREPAY_SNAPSHOT = 0x07  # client -> server: Get Prepay Snapshot
PP_PUBLISH_PREPAY_SNAPSHOT = 0x01  # server -> client: Publish Prepay Snapshot
PP_GET_TOP_UP_LOG = 0x08  # client -> server: Get Top Up Log
PP_PUBLISH_TOP_UP_LOG = 0x05  # server -> client: Publish Top Up Log
PP_GET_DEBT_REPAYMENT_LOG = 0x0A  # client -> server: Get Debt Repayment Log
PP_PUBLISH_DEBT_LOG = 0x06  # server -> client: Publish Debt Log
EVT_GET_EVENT_LOG = 0x00  # client -> server
EVT_PUBLISH_EVENT = 0x00  # server -> client
EVT_PUBLISH_EVENT_LOG = 0x01  # server -> client
KE_INITIATE_REQUEST = 0x00  # client -> server
KE_INITIATE_RESPONSE = 0x00  # server -> client

# Events cluster log ids (low nibble of the log id / event control byte).
LOG_ALL, LOG_TAMPER, LOG_FAULT, LOG_GENERAL, LOG_SECURITY, LOG_NETWORK = 0, 1, 2, 3, 4, 5

# ---- payloads ----
PUBLISH_PRICE = Struct(
    "provider_id" / Int32ul,
    "rate_label" / PascalString(Int8ul, "utf8"),
    "issuer_event_id" / Int32ul,
    "current_time" / Int32ul,
    "unit_of_measure" / Int8ul,
    "currency" / Int16ul,
    "trailing_digit_and_tier" / Int8ul,
    "tiers_and_register_tier" / Int8ul,
    "start_time" / Int32ul,
    "duration_minutes" / Int16ul,
    "price" / Int32ul,
    "price_ratio" / Int8ul,
    "generation_price" / Int32ul,
    "generation_price_ratio" / Int8ul,
    "alternate_cost_delivered" / Int32ul,
    "alternate_cost_unit" / Int8ul,
    "alternate_cost_trailing_digit" / Int8ul,
    "number_of_block_thresholds" / Int8ul,
    "price_control" / Int8ul,
).compile()

GET_CURRENT_PRICE = Struct("options" / Int8ul).compile()

CHANGE_SUPPLY = Struct(
    "provider_id" / Int32ul,
    "issuer_event_id" / Int32ul,
    "request_time" / Int32ul,
    "implementation_time" / Int32ul,
    "proposed_status" / Int8ul,
    "control_bits" / Int8ul,
).compile()

SUPPLY_STATUS_RESPONSE = Struct(
    "provider_id" / Int32ul,
    "issuer_event_id" / Int32ul,
    "implementation_time" / Int32ul,
    "status" / Int8ul,
).compile()

SET_UNCONTROLLED_FLOW_THRESHOLD = Struct(
    "provider_id" / Int32ul,
    "issuer_event_id" / Int32ul,
    "threshold" / Int16ul,
    "unit_of_measure" / Int8ul,
    "multiplier" / Int16ul,
    "divisor" / Int16ul,
    "stabilisation_period" / Int8ul,
    "measurement_period" / Int16ul,
).compile()

DISPLAY_MESSAGE = Struct(
    "message_id" / Int32ul,
    "control" / Int8ul,
    "start_time" / Int32ul,
    "duration_minutes" / Int16ul,
    "message" / PascalString(Int8ul, "utf8"),
    "extended_control" / Int8ul,
).compile()

MESSAGE_CONFIRMATION = Struct(
    "message_id" / Int32ul,
    "confirmation_time" / Int32ul,
    "confirmation_control" / Int8ul,
    "response" / PascalString(Int8ul, "utf8"),
).compile()

# Tunneling (SE 1.x, cluster 0x0704): Request Tunnel and its response. Layouts as
# Wireshark's packet-zbee-zcl-se.c dissects them (6 and 5 bytes).
REQUEST_TUNNEL = Struct(
    "protocol_id" / Int8ul,
    "manufacturer_code" / Int16ul,
    "flow_control" / Int8ul,
    "max_incoming_transfer_size" / Int16ul,
).compile()

REQUEST_TUNNEL_RESPONSE = Struct(
    "tunnel_id" / Int16ul,
    "status" / Int8ul,
    "max_incoming_transfer_size" / Int16ul,
).compile()

#: Transfer Data Error: the tunnel id and why the data was not taken.
TRANSFER_DATA_ERROR = Struct("tunnel_id" / Int16ul, "status" / Int8ul).compile()

# TunnelStatus of Request Tunnel Response.
TUNNEL_SUCCESS = 0x00
TUNNEL_BUSY = 0x01
TUNNEL_NO_MORE_IDS = 0x02
TUNNEL_PROTOCOL_NOT_SUPPORTED = 0x03
TUNNEL_FLOW_CONTROL_NOT_SUPPORTED = 0x04
TUNNEL_STATUS_TEXT = {TUNNEL_SUCCESS: "success", TUNNEL_BUSY: "busy",
                      TUNNEL_NO_MORE_IDS: "no more tunnel ids",
                      TUNNEL_PROTOCOL_NOT_SUPPORTED: "protocol not supported",
                      TUNNEL_FLOW_CONTROL_NOT_SUPPORTED: "flow control not supported"}
# TransferDataStatus of Transfer Data Error.
TRANSFER_NO_SUCH_TUNNEL = 0x00
TRANSFER_WRONG_DEVICE = 0x01
TRANSFER_DATA_OVERFLOW = 0x02
TRANSFER_STATUS_TEXT = {TRANSFER_NO_SUCH_TUNNEL: "no such tunnel",
                        TRANSFER_WRONG_DEVICE: "wrong device",
                        TRANSFER_DATA_OVERFLOW: "data overflow"}
#: The tunnel id a Request Tunnel Response carries when no tunnel was made.
NO_TUNNEL = 0xFFFF

TRANSFER_DATA = Struct("tunnel_id" / Int16ul, "data" / Bytes(lambda ctx: ctx._.length))

SELECT_EMERGENCY_CREDIT = Struct(
    "issue_time" / Int32ul,
    "originating_device" / Int8ul,
).compile()

CONSUMER_TOP_UP = Struct(
    "originating_device" / Int8ul,
    "top_up_code" / PascalString(Int8ul, "ascii"),
).compile()

CONSUMER_TOP_UP_RESPONSE = Struct(
    "result" / Int8ul,
    "top_up_value" / Int32sl,
    "source" / Int8ul,
    "credit_remaining" / Int32sl,
).compile()

GET_EVENT_LOG = Struct(
    "event_control_log_id" / Int8ul,
    "event_id" / Int16ul,
    "start_time" / Int32ul,
    "end_time" / Int32ul,
    "number_of_events" / Int8ul,
    "event_offset" / Int16ul,
).compile()

PUBLISH_EVENT = Struct(
    "log_id" / Int8ul,
    "event_id" / Int16ul,
    "event_time" / Int32ul,
    "event_control" / Int8ul,
    "event_data" / PascalString(Int8ul, "utf8"),
).compile()

KE_INITIATE = Struct(
    "suite" / Int16ul,
    "ephemeral_data_generate_time" / Int8ul,
    "confirm_key_generate_time" / Int8ul,
    "identity" / Bytes(48),
).compile()

# Originating device codes in Consumer Top Up (SE 1.2 Prepayment).
ORIGIN_ESI = 0
ORIGIN_METER = 1
ORIGIN_IHD = 2


def transfer_data(tunnel_id: int, data: bytes) -> bytes:
    return tunnel_id.to_bytes(2, "little") + data


def parse_transfer_data(payload: bytes) -> tuple[int, bytes]:
    return int.from_bytes(payload[:2], "little"), payload[2:]


#: The event count shares a byte with the log payload control: at most 15 per command.
MAX_EVENTS_PER_LOG = 15


def publish_event_log(events: list[tuple[int, int, int, str]], total: int | None = None) -> bytes:
    """Publish Event Log: total matches, command index, total commands,
    number of events + log payload control, then (log id, event id, time, data) each."""
    if len(events) > MAX_EVENTS_PER_LOG:
        raise ValueError(f"at most {MAX_EVENTS_PER_LOG} events fit one Publish Event Log")
    body = bytearray()
    body += (total if total is not None else len(events)).to_bytes(2, "little")
    body += bytes([0, 1])  # command index, total commands
    body += bytes([len(events) << 4])  # number of events in the high nibble, control low
    for log_id, event_id, when, data in events:
        raw = data.encode()[:254]
        body += bytes([log_id]) + event_id.to_bytes(2, "little") + when.to_bytes(4, "little")
        body += bytes([len(raw)]) + raw
    return bytes(body)


def parse_publish_event_log(payload: bytes) -> list[tuple[int, int, int, str]]:
    need("zbee_zcl_se", payload, 0, 5, "Publish Event Log header")
    count = payload[4] >> 4
    pos = 5
    out = []
    for _ in range(count):
        need("zbee_zcl_se", payload, pos, 8, "event record")
        need("zbee_zcl_se", payload, pos + 8, payload[pos + 7], "event data")
        log_id = payload[pos]
        event_id = int.from_bytes(payload[pos + 1 : pos + 3], "little")
        when = int.from_bytes(payload[pos + 3 : pos + 7], "little")
        length = payload[pos + 7]
        data = payload[pos + 8 : pos + 8 + length].decode("utf-8", "replace")
        out.append((log_id, event_id, when, data))
        pos += 8 + length
    return out
