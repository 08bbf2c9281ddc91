"""Frame codecs: round trips for every layer, published vectors, malformed input.

Expected values here come from outside the code under test: published
ZigBee vectors (install code -> link key, AES-MMO and HMAC-MMO from ZigBee
spec Annex C), CRC catalogue check values, the 802.15.4 / ZigBee field layouts,
and an independently written CRC and AES-CCM* nonce (codec_helpers.py).
Property-based round trips and fuzzing live in test_codec_fuzz.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from codec_helpers import (
    DEV_IEEE,
    HUB_IEEE,
    INSTALL_CODE_VECTORS,
    KEY,
    OTHER_KEY,
    expect_codec_error,
    install_code_keys,
    kermit,
    sample_nwk,
    sample_transport_key,
    with_fcs,
)
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from s1bench.emulator import aps, mac, mmo, nwk, se, zcl, zdo

# ------------------------------------------------------------- MAC / FCS ---

def test_kermit_reference_is_the_catalogue_crc() -> None:
    assert kermit(b"123456789") == 0x2189  # CRC-16/KERMIT check value


def test_fcs_matches_catalogue_check_value() -> None:
    assert mac.fcs(b"123456789") == 0x2189
    assert mac.fcs_fast(b"123456789") == 0x2189


@pytest.mark.parametrize("ack", [False, True])
def test_mac_frame_layout_is_802154_data_frame_with_short_addresses(ack: bool) -> None:
    raw = mac.MacFrame(0x42, 0x1A2B, 0x0001, 0xFFFE, b"\xAA\xBB", ack_request=ack).encode()
    fcf = int.from_bytes(raw[:2], "little")
    # data frame, PAN ID compression, short dst and src; ack request bit 5
    assert fcf == (0x8861 if ack else 0x8841)
    assert raw[2] == 0x42
    assert raw[3:5] == bytes.fromhex("2B1A")
    assert raw[5:7] == bytes.fromhex("0100")
    assert raw[7:9] == bytes.fromhex("FEFF")
    assert raw[9:-2] == b"\xAA\xBB"
    assert raw[-2:] == kermit(raw[:-2]).to_bytes(2, "little")


def test_mac_truncated_at_every_length() -> None:
    raw = mac.MacFrame(1, 0x1000, 1, 0, b"").encode()
    assert len(raw) == 11
    for cut in range(len(raw)):
        err = expect_codec_error("ieee802154", mac.MacFrame.decode, raw[:cut])
        assert err.offset <= cut


def test_mac_bad_fcs_points_at_the_fcs() -> None:
    raw = bytearray(mac.MacFrame(1, 0x1000, 1, 0, b"hello").encode())
    raw[-1] ^= 0x01
    err = expect_codec_error("ieee802154", mac.MacFrame.decode, bytes(raw))
    assert err.offset == len(raw) - 2
    assert "FCS" in err.reason


def test_mac_payload_corruption_is_caught_by_fcs() -> None:
    raw = bytearray(mac.MacFrame(1, 0x1000, 1, 0, b"hello").encode())
    raw[10] ^= 0x20
    expect_codec_error("ieee802154", mac.MacFrame.decode, bytes(raw))


# Security (0x8849), a 2015 frame version (0xA841), reserved frame type 4 (0x8844),
# reserved addressing mode 1 (0x8441), PAN ID compression without a source
# address (0x0841), an ack with addresses (0x8842). Beacons, acks, commands,
# EUI-64 addresses and the 2006 version are read since issue 13
# (test_codec_frames.py).
@pytest.mark.parametrize("fcf", [0x8849, 0xA841, 0x8844, 0x8441, 0x0841, 0x8842])
def test_mac_rejects_unsupported_frame_control(fcf: int) -> None:
    body = fcf.to_bytes(2, "little") + bytes([7]) + bytes(6) + b"x"
    err = expect_codec_error("ieee802154", mac.MacFrame.decode, with_fcs(body))
    assert err.offset == 0


# ------------------------------------------------------------------- NWK ---

def test_nwk_frame_control_and_header_layout() -> None:
    raw = sample_nwk(secured=False, dst_ieee=DEV_IEEE).encode()
    fcf = int.from_bytes(raw[:2], "little")
    assert fcf & 0x3 == 0  # data
    assert (fcf >> 2) & 0xF == 2  # ZigBee PRO protocol version
    assert (fcf >> 6) & 0x3 == 1  # discover route enabled
    assert fcf & 0x0200 == 0  # not secured
    assert fcf & 0x0800 and fcf & 0x1000  # both IEEE addresses present
    assert raw[2:4] == b"\x01\x00" and raw[4:6] == b"\x00\x00"
    assert raw[6] == 30 and raw[7] == 9
    assert raw[8:16] == DEV_IEEE.to_bytes(8, "little")
    assert raw[16:24] == HUB_IEEE.to_bytes(8, "little")


def test_nwk_security_header_on_air_and_independent_ccm_star() -> None:
    """Nonce and AAD rebuilt here from the ZigBee spec (4.5.2.2, A.2) open the frame."""
    frame = sample_nwk()
    raw = frame.encode(KEY)
    header_len = 8 + 8  # fixed + extended source
    aux = raw[header_len : header_len + 14]
    ctl = aux[0]
    assert ctl & 0x07 == 0  # security level is sent as 0
    assert (ctl >> 3) & 0x3 == 1  # key identifier: network key
    assert ctl & 0x20  # extended nonce
    assert aux[1:5] == (0x01020304).to_bytes(4, "little")
    assert aux[5:13] == HUB_IEEE.to_bytes(8, "little")
    assert aux[13] == 3
    patched = ctl | 0x05  # ENC-MIC-32
    nonce = HUB_IEEE.to_bytes(8, "little") + (0x01020304).to_bytes(4, "little") + bytes([patched])
    aad = raw[:header_len] + bytes([patched]) + aux[1:]
    plain = AESCCM(KEY, tag_length=4).decrypt(nonce, raw[header_len + 14 :], aad)
    assert plain == frame.payload
    assert len(raw) == header_len + 14 + len(frame.payload) + 4


def test_nwk_secured_encode_needs_a_key() -> None:
    with pytest.raises(ValueError, match="key"):
        sample_nwk().encode()


def test_nwk_truncated_at_every_length() -> None:
    raw = sample_nwk().encode(KEY)
    for cut in range(len(raw)):
        err = expect_codec_error("zbee_nwk", nwk.NwkFrame.decode, raw[:cut], KEY)
        assert err.offset <= max(cut, 8 + 8 + 14)


@pytest.mark.parametrize("version", [0, 1, 3, 15])
def test_nwk_wrong_protocol_version(version: int) -> None:
    raw = bytearray(sample_nwk(secured=False).encode())
    raw[0] = (raw[0] & ~0x3C) | (version << 2)
    err = expect_codec_error("zbee_nwk", nwk.NwkFrame.decode, bytes(raw), KEY, base=9)
    assert err.offset == 9
    assert str(version) in err.reason


@pytest.mark.parametrize("position", ["header", "aux", "ciphertext", "mic"])
def test_nwk_tampering_anywhere_authenticated_fails_the_mic(position: str) -> None:
    raw = bytearray(sample_nwk().encode(KEY))
    index = {"header": 6, "aux": 17, "ciphertext": 30, "mic": len(raw) - 1}[position]
    raw[index] ^= 0x01
    err = expect_codec_error("zbee_nwk", nwk.NwkFrame.decode, bytes(raw), KEY, base=9)
    assert err.offset == 9 + 16 + 14  # where the encrypted payload starts
    assert "MIC" in err.reason


def test_nwk_wrong_key_fails_the_mic() -> None:
    raw = sample_nwk().encode(KEY)
    err = expect_codec_error("zbee_nwk", nwk.NwkFrame.decode, raw, OTHER_KEY)
    assert "MIC" in err.reason


def test_nwk_secured_without_a_key_is_a_codec_error_not_a_crash() -> None:
    raw = sample_nwk().encode(KEY)
    err = expect_codec_error("zbee_nwk", nwk.NwkFrame.decode, raw, None)
    assert "key" in err.reason


@pytest.mark.parametrize("ctl", [0x00, 0x08, 0x10, 0x18, 0x30])
def test_nwk_unsupported_security_control(ctl: int) -> None:
    raw = bytearray(sample_nwk().encode(KEY))
    raw[16] = ctl
    err = expect_codec_error("zbee_nwk", nwk.NwkFrame.decode, bytes(raw), KEY, base=9)
    assert err.offset == 9 + 16


def test_nwk_truncation_offset_is_relative_to_the_whole_frame_like_other_errors() -> None:
    raw = sample_nwk().encode(KEY)
    err = expect_codec_error("zbee_nwk", nwk.NwkFrame.decode, raw[:5], KEY, base=9)
    assert err.offset == 9  # the NWK header starts at byte 9 of the MAC frame
    assert "at byte 9:" in str(err)
    err = expect_codec_error("zbee_nwk", nwk.NwkFrame.decode, raw[:20], KEY, base=9)
    assert err.offset == 9 + 16  # the auxiliary header that is cut short


# ------------------------------------------------------------------- APS ---

def test_aps_unsecured_command_round_trip() -> None:
    decoded = aps.decode(bytes([0x01, 0x33, 0x05, 0xAA, 0xBB]))
    assert decoded == aps.ApsCommand(0x33, 0x05, b"\xAA\xBB")


def test_transport_key_round_trip_with_keysample_transport_key() -> None:
    _tk, raw = sample_transport_key()
    _, ktk = install_code_keys()
    assert raw[0] == 0x21  # APS command frame, security
    assert raw[1] == 0x17
    ctl = raw[2]
    assert ctl & 0x7 == 0 and (ctl >> 3) & 0x3 == 2 and ctl & 0x20  # key-transport key, ext nonce
    assert raw[3:7] == (0x2A).to_bytes(4, "little")
    assert raw[7:15] == HUB_IEEE.to_bytes(8, "little")
    command = aps.decode(raw, ktk)
    assert isinstance(command, aps.ApsCommand)
    assert command.counter == 0x17 and command.command == aps.CMD_TRANSPORT_KEY
    key_type, key, key_seq, dest, source = aps.parse_transport_key(command.payload)
    assert (key_type, key, key_seq, dest, source) == (aps.KEY_TYPE_NETWORK, KEY, 2, DEV_IEEE,
                                                     HUB_IEEE)


def test_transport_key_carries_the_network_key_byte_for_byte() -> None:
    _tk, raw = sample_transport_key()
    _, ktk = install_code_keys()
    nonce = HUB_IEEE.to_bytes(8, "little") + (0x2A).to_bytes(4, "little") + bytes([raw[2] | 5])
    aad = raw[:2] + bytes([raw[2] | 5]) + raw[3:15]
    plain = AESCCM(ktk, tag_length=4).decrypt(nonce, raw[15:], aad)
    assert plain[0] == 0x05 and plain[1] == 0x01
    assert plain[2:18] == KEY


def test_transport_key_is_not_readable_with_the_raw_link_key() -> None:
    """The key-transport key (HMAC-MMO(link, 0x00)), not the link key itself, seals it."""
    _, raw = sample_transport_key()
    link, _ = install_code_keys()
    expect_codec_error("zbee_aps", aps.decode, raw, link)
    nonce = HUB_IEEE.to_bytes(8, "little") + (0x2A).to_bytes(4, "little") + bytes([raw[2] | 5])
    with pytest.raises(InvalidTag):
        AESCCM(link, tag_length=4).decrypt(nonce, raw[15:], raw[:2] + bytes([raw[2] | 5])
                                           + raw[3:15])


def test_transport_key_wrong_key_tampered_missing_key() -> None:
    _, raw = sample_transport_key()
    _, ktk = install_code_keys()
    err = expect_codec_error("zbee_aps", aps.decode, raw, OTHER_KEY, base=33)
    assert err.offset == 33 + 15
    tampered = bytearray(raw)
    tampered[20] ^= 0x80
    expect_codec_error("zbee_aps", aps.decode, bytes(tampered), ktk)
    expect_codec_error("zbee_aps", aps.decode, raw, None)


def test_aps_truncated_at_every_length() -> None:
    _, raw = sample_transport_key()
    _, ktk = install_code_keys()
    for cut in range(len(raw)):  # short: truncation; long enough: the MIC fails
        err = expect_codec_error("zbee_aps", aps.decode, raw[:cut], ktk)
        assert err.offset <= len(raw)
    data = aps.ApsData(1, 0x0702, aps.PROFILE_SE, 1, 5, b"").encode()
    for cut in range(len(data)):
        expect_codec_error("zbee_aps", aps.decode, data[:cut])


# Inter-PAN (0x03), indirect delivery (0x04), the ack format bit on a data frame
# (0x10), a group-delivered command (0x0D), an ack asking for an ack (0x42).
# APS acks, group delivery and APS-secured data are read since issue 13.
@pytest.mark.parametrize("fc", [0x03, 0x04, 0x10, 0x0D, 0x42])
def test_aps_unsupported_frames(fc: int) -> None:
    raw = bytes([fc]) + bytes(7) + b"xx"
    err = expect_codec_error("zbee_aps", aps.decode, raw, None, base=25)
    assert err.offset == 25


def test_parse_transport_key_truncated() -> None:
    expect_codec_error("zbee_aps", aps.parse_transport_key, bytes(33))


# ------------------------------------------------------------------- ZDO ---

ZDO_MESSAGES = [
    zdo.ZdoMessage(zdo.MGMT_PERMIT_JOINING_REQ, 1, {"duration": 0, "tc_significance": 1}),
    zdo.ZdoMessage(zdo.MGMT_PERMIT_JOINING_REQ, 2, {"duration": 254, "tc_significance": 0}),
    zdo.ZdoMessage(zdo.MGMT_PERMIT_JOINING_RSP, 3, {"status": 0x00}),
    zdo.ZdoMessage(zdo.MGMT_LEAVE_REQ, 4, {"ieee": DEV_IEEE, "flags": 0x40}),
    zdo.ZdoMessage(zdo.MGMT_LEAVE_RSP, 5, {"status": 0x84}),
    zdo.ZdoMessage(zdo.DEVICE_ANNCE, 6, {"nwk": 0x1234, "ieee": DEV_IEEE, "capability": 0x8E}),
]


@pytest.mark.parametrize("message", ZDO_MESSAGES, ids=lambda m: zdo.NAMES[m.cluster])
def test_zdo_round_trip(message: zdo.ZdoMessage) -> None:
    raw = message.encode()
    assert raw[0] == message.tsn
    assert zdo.ZdoMessage.decode(message.cluster, raw) == message
    for cut in range(len(raw)):
        expect_codec_error("zbee_zdp", zdo.ZdoMessage.decode, message.cluster, raw[:cut])


def test_zdo_wire_layouts() -> None:
    assert ZDO_MESSAGES[1].encode() == bytes([2, 254, 0])
    assert ZDO_MESSAGES[5].encode() == (bytes([6, 0x34, 0x12]) + DEV_IEEE.to_bytes(8, "little")
                                        + bytes([0x8E]))


@pytest.mark.parametrize("duration", [255, -1, 1000])
def test_permit_duration_above_254_is_refused_on_encode(duration: int) -> None:
    with pytest.raises(ValueError, match="PermitDuration"):
        zdo.ZdoMessage(zdo.MGMT_PERMIT_JOINING_REQ, 1, {"duration": duration}).encode()


def test_zdo_unsupported_cluster() -> None:
    err = expect_codec_error("zbee_zdp", zdo.ZdoMessage.decode, 0x0005, b"\x01\x02", base=40)
    assert err.offset == 40
    with pytest.raises(ValueError):
        zdo.ZdoMessage(0x0005, 1, {}).encode()


@pytest.mark.parametrize("total, expected", [(0, []), (1, [1]), (254, [254]), (255, [254, 1]),
                                             (600, [254, 254, 92]), (3600, [254] * 14 + [44])])
def test_permit_durations_examples(total: int, expected: list[int]) -> None:
    assert zdo.permit_durations(total) == expected


# ------------------------------------------------------------------- ZCL ---

def test_zcl_manufacturer_specific_layout() -> None:
    raw = zcl.ZclFrame(zcl.TYPE_CLUSTER, zcl.TO_CLIENT, 0x55, 0x07, b"\x99", False, 0x10F2).encode()
    assert raw == bytes([0x01 | 0x04 | 0x08, 0xF2, 0x10, 0x55, 0x07, 0x99])


def test_zcl_header_truncated_and_reserved_type() -> None:
    for raw in (b"", b"\x00", b"\x00\x01", b"\x04\x01\x02", b"\x04\x01\x02\x03"):
        expect_codec_error("zbee_zcl", zcl.ZclFrame.decode, raw)
    for fc in (0x02, 0x03):
        err = expect_codec_error("zbee_zcl", zcl.ZclFrame.decode, bytes([fc, 1, 0]), base=30)
        assert err.offset == 30


def _fixed_cases() -> list[tuple[int, int]]:
    cases = []
    for type_id, (width, signed) in zcl._FIXED_TYPES.items():
        if signed:
            lo, hi = -(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1
        else:
            lo, hi = 0, (1 << (8 * width)) - 1
        if type_id == zcl.BOOL:
            hi = 1
        for value in sorted({lo, hi, 0, 1 if hi >= 1 else 0, -1 if signed else hi // 3}):
            cases.append((type_id, value))
    return cases


FIXED_CASES = _fixed_cases()


@pytest.mark.parametrize("type_id, value", FIXED_CASES,
                         ids=[f"{t:#04x}={v}" for t, v in FIXED_CASES])
def test_read_attributes_response_round_trip_fixed_types(type_id: int, value: int) -> None:
    width, _ = zcl._FIXED_TYPES[type_id]
    payload = zcl.read_attributes_response([(0x0400, zcl.STATUS_SUCCESS, type_id, value)])
    assert payload[:4] == bytes([0x00, 0x04, 0x00, type_id])
    assert len(payload) == 4 + width
    assert zcl.parse_read_attributes_response(payload) == {0x0400: (zcl.STATUS_SUCCESS, value)}
    written = zcl.write_attributes([(0x0601, type_id, value)])
    assert zcl.parse_write_attributes(written) == [(0x0601, type_id, value)]


def test_known_zcl_type_ids_and_widths() -> None:
    """The ZCL spec's ids and sizes (ZCL r7 table 2-10) for the types s1bench uses."""
    spec = {0x10: 1, 0x18: 1, 0x19: 2, 0x20: 1, 0x21: 2, 0x22: 3, 0x23: 4, 0x25: 6,
            0x28: 1, 0x29: 2, 0x2A: 3, 0x2B: 4, 0x30: 1, 0xE2: 4}
    assert {t: w for t, (w, _) in zcl._FIXED_TYPES.items()} == spec
    assert {t for t, (_, s) in zcl._FIXED_TYPES.items() if s} == {0x28, 0x29, 0x2A, 0x2B}


@pytest.mark.parametrize("type_id, value, expected", [
    (zcl.CHAR_STR, "s1bench ESME", "s1bench ESME"),
    (zcl.CHAR_STR, "caf\u00e9 \u00a3", "caf\u00e9 \u00a3"),
    (zcl.CHAR_STR, "", ""),
    (zcl.OCTET_STR, b"\x00\xff\x10", b"\x00\xff\x10"),
    (zcl.OCTET_STR, b"x" * 254, b"x" * 254),
])
def test_string_attributes_round_trip(type_id: int, value, expected) -> None:
    payload = zcl.read_attributes_response([(0x0005, zcl.STATUS_SUCCESS, type_id, value)])
    raw = value.encode() if isinstance(value, str) else value
    assert payload[4] == len(raw)
    assert zcl.parse_read_attributes_response(payload) == {0x0005: (0, expected)}
    assert zcl.parse_write_attributes(zcl.write_attributes([(5, type_id, value)])) == [
        (5, type_id, expected)]


def test_string_longer_than_254_bytes_is_refused() -> None:
    with pytest.raises(ValueError):
        zcl.encode_value(zcl.OCTET_STR, b"x" * 255)


def test_read_attributes_and_mixed_response_round_trip() -> None:
    ids = [0x0000, 0x0400, 0x0014, 0xFFFF]
    assert zcl.parse_read_attributes(zcl.read_attributes(ids)) == ids
    records = [(0x0000, 0, zcl.UINT48, 123_456_789_012), (0x0001, zcl.STATUS_UNSUPPORTED_ATTRIBUTE,
                                                          None, None),
               (0x0004, 0, zcl.CHAR_STR, "s1bench"), (0x0400, 0, zcl.INT24, -5)]
    parsed = zcl.parse_read_attributes_response(zcl.read_attributes_response(records))
    assert parsed == {0x0000: (0, 123_456_789_012), 0x0001: (0x86, None),
                      0x0004: (0, "s1bench"), 0x0400: (0, -5)}


def test_write_attributes_response_round_trip() -> None:
    assert zcl.write_attributes_response([]) == b"\x00"
    assert zcl.parse_write_attributes_response(zcl.write_attributes_response([])) == []
    failures = [(zcl.STATUS_READ_ONLY, 0x0000), (zcl.STATUS_INVALID_VALUE, 0x0807)]
    raw = zcl.write_attributes_response(failures)
    assert raw == bytes([0x88, 0x00, 0x00, 0x87, 0x07, 0x08])
    assert zcl.parse_write_attributes_response(raw) == failures


def test_empty_write_attributes_response_is_malformed() -> None:
    expect_codec_error("zbee_zcl", zcl.parse_write_attributes_response, b"")


def test_default_response_round_trip() -> None:
    raw = zcl.default_response(0x0E, zcl.STATUS_UNSUP_CLUSTER_COMMAND)
    assert raw == b"\x0e\x81"
    assert zcl.parse_default_response(raw) == (0x0E, 0x81)
    expect_codec_error("zbee_zcl", zcl.parse_default_response, b"\x0e")


@pytest.mark.parametrize("type_id", [0x00, 0x08, 0x38, 0x39, 0x43, 0x48, 0xE0, 0xF0, 0xFF])
def test_unknown_zcl_data_type_names_its_offset(type_id: int) -> None:
    good = zcl.read_attributes_response([(0x0000, 0, zcl.UINT8, 7)])
    payload = good + bytes([0x01, 0x00, 0x00, type_id, 0x00, 0x00])
    err = expect_codec_error("zbee_zcl", zcl.parse_read_attributes_response, payload)
    assert err.offset == len(good) + 3  # the type byte of the second record
    assert f"{type_id:#04x}" in err.reason
    err = expect_codec_error("zbee_zcl", zcl.parse_read_attributes_response, payload, 50)
    assert err.offset == 50 + len(good) + 3
    err = expect_codec_error("zbee_zcl", zcl.parse_write_attributes,
                             bytes([0x01, 0x00, type_id, 0x00]))
    assert err.offset == 2


def test_truncated_attribute_records() -> None:
    payload = zcl.read_attributes_response([(0x0000, 0, zcl.UINT48, 5),
                                            (0x0004, 0, zcl.CHAR_STR, "abc")])
    for cut in range(1, len(payload)):
        if cut in (10,):  # a complete first record: the rest parses as nothing missing
            continue
        expect_codec_error("zbee_zcl", zcl.parse_read_attributes_response, payload[:cut])
    expect_codec_error("zbee_zcl", zcl.parse_read_attributes, b"\x00\x00\x01")
    expect_codec_error("zbee_zcl", zcl.parse_write_attributes_response, b"\x86\x00")


def test_zigbee_time_epoch_is_2000() -> None:
    assert zcl.zigbee_time(datetime(2000, 1, 1, tzinfo=UTC)) == 0
    moment = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert zcl.zigbee_time(moment) == int((moment - datetime(2000, 1, 1, tzinfo=UTC))
                                          .total_seconds())
    assert zcl.from_zigbee_time(zcl.zigbee_time(moment)) == moment
    assert zcl.from_zigbee_time(86_400) == datetime(2000, 1, 2, tzinfo=UTC)
    assert zcl.from_zigbee_time(1) - zcl.from_zigbee_time(0) == timedelta(seconds=1)


# ----------------------------------------------------------- SE payloads ---

SE_CASES = {
    "PUBLISH_PRICE": dict(provider_id=1, rate_label="Standard \u00a3", issuer_event_id=2**31,
                          current_time=0xFFFFFFFF, unit_of_measure=0, currency=826,
                          trailing_digit_and_tier=0x21, tiers_and_register_tier=0x11,
                          start_time=0, duration_minutes=0xFFFF, price=1234, price_ratio=0xFF,
                          generation_price=0xFFFFFFFF, generation_price_ratio=0xFF,
                          alternate_cost_delivered=0, alternate_cost_unit=1,
                          alternate_cost_trailing_digit=0x20, number_of_block_thresholds=0,
                          price_control=0),
    "GET_CURRENT_PRICE": dict(options=1),
    "CHANGE_SUPPLY": dict(provider_id=1, issuer_event_id=77, request_time=800_000_000,
                          implementation_time=0, proposed_status=se.SUPPLY_ARMED, control_bits=1),
    "SUPPLY_STATUS_RESPONSE": dict(provider_id=1, issuer_event_id=77, implementation_time=5,
                                   status=se.SUPPLY_OFF),
    "SET_UNCONTROLLED_FLOW_THRESHOLD": dict(provider_id=1, issuer_event_id=3, threshold=61680,
                                            unit_of_measure=1, multiplier=1, divisor=10000,
                                            stabilisation_period=60, measurement_period=300),
    "DISPLAY_MESSAGE": dict(message_id=0x7FFFFFFF, control=0x80, start_time=0,
                            duration_minutes=0xFFFF, message="Top up soon \u20ac",
                            extended_control=0),
    "MESSAGE_CONFIRMATION": dict(message_id=9, confirmation_time=1, confirmation_control=0,
                                 response="ok"),
    "CONSUMER_TOP_UP": dict(originating_device=se.ORIGIN_ESI, top_up_code="73946144332040217315"),
    "SELECT_EMERGENCY_CREDIT": dict(issue_time=812_345_678, originating_device=se.ORIGIN_ESI),
    "CONSUMER_TOP_UP_RESPONSE": dict(result=0, top_up_value=-17315, source=0,
                                     credit_remaining=-2**31),
    "GET_EVENT_LOG": dict(event_control_log_id=se.LOG_SECURITY, event_id=0, start_time=0,
                          end_time=0xFFFFFFFF, number_of_events=20, event_offset=0),
    "PUBLISH_EVENT": dict(log_id=se.LOG_GENERAL, event_id=0x8F84, event_time=1, event_control=0,
                          event_data="tamper"),
    "KE_INITIATE": dict(suite=1, ephemeral_data_generate_time=10, confirm_key_generate_time=10,
                        identity=bytes(range(48))),
    "REQUEST_TUNNEL": dict(protocol_id=200, manufacturer_code=0xFFF1, flow_control=0,
                           max_incoming_transfer_size=0xFFFF),
    "REQUEST_TUNNEL_RESPONSE": dict(tunnel_id=0xFFFF, status=se.TUNNEL_PROTOCOL_NOT_SUPPORTED,
                                    max_incoming_transfer_size=128),
    "TRANSFER_DATA_ERROR": dict(tunnel_id=1, status=se.TRANSFER_NO_SUCH_TUNNEL),
}


def test_every_se_struct_has_a_case() -> None:
    structs = {name for name in dir(se) if name.isupper() and hasattr(getattr(se, name), "parse")}
    assert structs - {"TRANSFER_DATA"} == set(SE_CASES)


@pytest.mark.parametrize("name", sorted(SE_CASES))
def test_se_struct_round_trip(name: str) -> None:
    struct = getattr(se, name)
    values = SE_CASES[name]
    raw = struct.build(values)
    parsed = struct.parse(raw)
    assert {k: parsed[k] for k in values} == values
    assert struct.build(dict(parsed)) == raw


def test_se_wire_layouts() -> None:
    raw = se.CONSUMER_TOP_UP.build(SE_CASES["CONSUMER_TOP_UP"])
    assert raw == b"\x00\x14" + b"73946144332040217315"
    raw = se.PUBLISH_EVENT.build(SE_CASES["PUBLISH_EVENT"])
    assert raw == bytes([0x03, 0x84, 0x8F, 1, 0, 0, 0, 0, 6]) + b"tamper"
    assert len(se.KE_INITIATE.build(SE_CASES["KE_INITIATE"])) == 2 + 1 + 1 + 48


def test_transfer_data_round_trip() -> None:
    raw = se.transfer_data(0x0001, b"\x10\x01payload")
    assert raw == b"\x01\x00\x10\x01payload"
    assert se.parse_transfer_data(raw) == (1, b"\x10\x01payload")
    parsed = se.TRANSFER_DATA.parse(raw, length=len(raw) - 2)
    assert parsed.tunnel_id == 1 and parsed.data == b"\x10\x01payload"


@pytest.mark.parametrize("events", [
    [],
    [(se.LOG_GENERAL, 0x8F3F, 820_000_000, "top up")],
    [(se.LOG_SECURITY, 0x8F1C + i, 820_000_000 + i, f"credential {i} \u00e9") for i in range(15)],
])
def test_publish_event_log_round_trip(events) -> None:
    raw = se.publish_event_log(events, total=40)
    assert int.from_bytes(raw[:2], "little") == 40
    assert raw[4] >> 4 == len(events)
    assert se.parse_publish_event_log(raw) == events


def test_publish_event_log_refuses_more_events_than_the_count_nibble_holds() -> None:
    """The count shares a byte with the payload control, so 15 is the most one command holds.

    Asking for more is the caller's error and says so, rather than the old
    "bytes must be in range(0, 256)" from packing 16 << 4 into one byte;
    devices cap what they send at MAX_EVENTS_PER_LOG (test_event_log.py).
    """
    assert se.MAX_EVENTS_PER_LOG == 15
    events = [(se.LOG_GENERAL, 0x8100 + i, i, "supply changed") for i in range(20)]
    with pytest.raises(ValueError, match="at most 15 events"):
        se.publish_event_log(events)
    raw = se.publish_event_log(events[-15:], total=20)
    assert raw[4] >> 4 == 15
    assert se.parse_publish_event_log(raw) == events[-15:]


# ------------------------------------------------ install codes and keys ---

@pytest.mark.parametrize("code, key", INSTALL_CODE_VECTORS)
def test_install_code_to_link_key_published_vectors(code: str, key: str) -> None:
    raw = bytes.fromhex(code)
    mmo.check_install_code(raw)
    assert mmo.with_crc(raw[:-2]) == raw
    assert mmo.link_key_from_install_code(raw) == bytes.fromhex(key)


def test_install_code_crc_is_x25_stored_little_endian() -> None:
    assert mmo.crc16_x25(b"123456789") == 0x906E  # CRC-16/X-25 check value
    assert mmo.crc16_x25(bytes.fromhex("83FED3407A939723A5C639B26916D505")) == 0xB5C3
    mmo.check_install_code(bytes.fromhex("83FED3407A932B70"))  # 6-byte code + CRC


def test_aes_mmo_and_hmac_mmo_zigbee_spec_annex_c_vectors() -> None:
    assert mmo.aes_mmo_hash(b"\xC0") == bytes.fromhex("AE3A102A28D43EE0D4A09E22788B206C")
    assert mmo.aes_mmo_hash(bytes(range(0xC0, 0xD0))) == bytes.fromhex(
        "A7977E88BC0B61E8210827109A228F2D")
    assert mmo.hmac_mmo(bytes(range(0x40, 0x50)), b"\xC0") == bytes.fromhex(
        "4512807BF94CB3400F0E2C25FB76E999")


def test_key_transport_and_key_load_keys_differ_and_are_hmac_mmo() -> None:
    link = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")
    assert mmo.key_transport_key(link) == mmo.hmac_mmo(link, b"\x00")
    assert mmo.key_load_key(link) == mmo.hmac_mmo(link, b"\x02")
    assert len({link, mmo.key_transport_key(link), mmo.key_load_key(link)}) == 3


@pytest.mark.parametrize("code, words", [
    ("83FED3407A939723A5C639B26916D505C3B6", "CRC"),
    ("83FED3407A939723A5C639B26916D505", "16 bytes"),
    ("83FE", "2 bytes"),
    ("", "0 bytes"),
])
def test_bad_install_codes_are_refused_with_a_reason(code: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        mmo.link_key_from_install_code(bytes.fromhex(code))
