"""Property-based round trips and fuzzing of every decoder (hypothesis).

Decoders must only ever raise CodecError on arbitrary bytes: the medium and
the capture tap catch that one type and carry on with the next frame.
"""

from __future__ import annotations

import contextlib
import math

import pytest

pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install hypothesis)")

from codec_helpers import (
    KEY,
    install_code_keys,
    kermit,
    sample_nwk,
    sample_transport_key,
    with_fcs,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from s1bench.emulator import aps, mac, nwk, se, zcl, zdo
from s1bench.emulator.codec_errors import CodecError

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@given(st.binary(max_size=130))
@FUZZ
def test_fcs_matches_independent_crc(data: bytes) -> None:
    assert mac.fcs(data) == kermit(data)
    assert mac.fcs_fast(data) == kermit(data)


@given(seq=st.integers(0, 255), pan=st.integers(0, 0xFFFF), dst=st.integers(0, 0xFFFF),
       src=st.integers(0, 0xFFFF), payload=st.binary(max_size=100), ack=st.booleans())
@FUZZ
def test_mac_round_trip(seq, pan, dst, src, payload, ack) -> None:
    frame = mac.MacFrame(seq, pan, dst, src, payload, ack)
    assert mac.MacFrame.decode(frame.encode()) == frame


@given(frame_type=st.sampled_from([nwk.FRAME_DATA, nwk.FRAME_COMMAND]),
       dst=st.integers(0, 0xFFFF), src=st.integers(0, 0xFFFF), radius=st.integers(0, 255),
       seq=st.integers(0, 255), payload=st.binary(max_size=80),
       src_ieee=st.none() | st.integers(0, 2**64 - 1),
       dst_ieee=st.none() | st.integers(0, 2**64 - 1), route=st.integers(0, 3))
@FUZZ
def test_nwk_unsecured_round_trip(frame_type, dst, src, radius, seq, payload, src_ieee,
                                  dst_ieee, route) -> None:
    frame = nwk.NwkFrame(frame_type, dst, src, radius, seq, payload, src_ieee, dst_ieee, route)
    assert nwk.NwkFrame.decode(frame.encode()) == frame
    # A key given to decode does not matter for an unsecured frame.
    assert nwk.NwkFrame.decode(frame.encode(), KEY) == frame


@given(dst=st.sampled_from([0x0001, 0x8123, nwk.ALL_DEVICES, nwk.RX_ON_WHEN_IDLE,
                            nwk.ALL_ROUTERS]),
       counter=st.integers(0, 2**32 - 1), source=st.integers(0, 2**64 - 1),
       key_seq=st.integers(0, 255), payload=st.binary(max_size=80),
       key=st.binary(min_size=16, max_size=16))
@FUZZ
def test_nwk_secured_round_trip_unicast_and_broadcast(dst, counter, source, key_seq, payload,
                                                      key) -> None:
    frame = sample_nwk(dst=dst, frame_counter=counter, sec_source=source, key_seq=key_seq,
                 payload=payload)
    raw = frame.encode(key)
    ciphertext = raw[8 + 8 + 14 : -4]
    assert len(ciphertext) == len(payload)
    if len(payload) >= 4:
        assert ciphertext != payload  # encrypted on air
    assert nwk.NwkFrame.decode(raw, key) == frame


@given(dst_ep=st.integers(0, 255), cluster=st.integers(0, 0xFFFF),
       profile=st.sampled_from([aps.PROFILE_SE, aps.PROFILE_ZDP, 0x0104]),
       src_ep=st.integers(0, 255), counter=st.integers(0, 255), payload=st.binary(max_size=60),
       broadcast=st.booleans(), ack=st.booleans())
@FUZZ
def test_aps_data_round_trip(dst_ep, cluster, profile, src_ep, counter, payload, broadcast,
                             ack) -> None:
    frame = aps.ApsData(dst_ep, cluster, profile, src_ep, counter, payload, broadcast, ack)
    raw = frame.encode()
    assert raw[0] & 0x3 == 0 and (raw[0] >> 2) & 0x3 == (2 if broadcast else 0)
    assert bool(raw[0] & 0x40) == ack
    assert raw[2:4] == cluster.to_bytes(2, "little") and raw[4:6] == profile.to_bytes(2, "little")
    assert aps.decode(raw) == frame


@given(st.integers(1, 100_000))
def test_permit_durations_cover_the_window_with_legal_values(total: int) -> None:
    parts = zdo.permit_durations(total)
    assert sum(parts) == total
    assert all(1 <= p <= 254 for p in parts)
    assert len(parts) == math.ceil(total / 254)


@given(frame_type=st.sampled_from([zcl.TYPE_GLOBAL, zcl.TYPE_CLUSTER]),
       direction=st.sampled_from([zcl.TO_SERVER, zcl.TO_CLIENT]), seq=st.integers(0, 255),
       command=st.integers(0, 255), payload=st.binary(max_size=40), ddr=st.booleans(),
       manufacturer=st.none() | st.integers(0, 0xFFFF))
@FUZZ
def test_zcl_header_round_trip(frame_type, direction, seq, command, payload, ddr,
                               manufacturer) -> None:
    frame = zcl.ZclFrame(frame_type, direction, seq, command, payload, ddr, manufacturer)
    raw = frame.encode()
    assert raw[0] & 0x3 == frame_type
    assert (raw[0] >> 3) & 1 == direction
    assert bool(raw[0] & 0x10) == ddr
    assert bool(raw[0] & 0x04) == (manufacturer is not None)
    assert zcl.ZclFrame.decode(raw) == frame


def _only_codec_error(fn, *args, **kwargs) -> None:
    with contextlib.suppress(CodecError):
        fn(*args, **kwargs)


SECURED_SAMPLE = sample_nwk().encode(KEY)


_TK_RAW = sample_transport_key()[1]


_KTK = install_code_keys()[1]


@given(st.binary(max_size=140))
@FUZZ
def test_fuzz_mac_decode(data: bytes) -> None:
    _only_codec_error(mac.MacFrame.decode, data)
    _only_codec_error(mac.MacFrame.decode, with_fcs(data))


@given(st.binary(max_size=120))
@FUZZ
def test_fuzz_nwk_decode_with_key(data: bytes) -> None:
    _only_codec_error(nwk.NwkFrame.decode, data, KEY)
    _only_codec_error(nwk.NwkFrame.decode, data, None)
    # Random bytes behind a valid-looking secured header reach the crypto.
    _only_codec_error(nwk.NwkFrame.decode, SECURED_SAMPLE[:30] + data, KEY)
    _only_codec_error(nwk.NwkFrame.decode, bytes([0x08, 0x12]) + data, KEY)


@given(st.data())
@FUZZ
def test_fuzz_nwk_bit_flips_of_a_real_frame(data) -> None:
    raw = bytearray(SECURED_SAMPLE)
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    _only_codec_error(nwk.NwkFrame.decode, bytes(raw), KEY)


@given(st.binary(max_size=100))
@FUZZ
def test_fuzz_aps_decode(data: bytes) -> None:
    _only_codec_error(aps.decode, data, _KTK)
    _only_codec_error(aps.decode, data, None)
    _only_codec_error(aps.decode, bytes([0x21]) + data, _KTK)
    _only_codec_error(aps.decode, _TK_RAW[:15] + data, _KTK)
    _only_codec_error(aps.parse_transport_key, data)


@given(st.binary(max_size=80))
@FUZZ
def test_fuzz_zcl_decoders(data: bytes) -> None:
    _only_codec_error(zcl.ZclFrame.decode, data)
    _only_codec_error(zcl.parse_read_attributes, data)
    _only_codec_error(zcl.parse_read_attributes_response, data)
    _only_codec_error(zcl.parse_write_attributes, data)
    _only_codec_error(zcl.parse_write_attributes_response, data)
    _only_codec_error(zcl.parse_default_response, data)


@given(st.sampled_from([zdo.MGMT_PERMIT_JOINING_REQ, zdo.MGMT_PERMIT_JOINING_RSP,
                        zdo.MGMT_LEAVE_REQ, zdo.MGMT_LEAVE_RSP, zdo.DEVICE_ANNCE, 0x0000,
                        0x8000]), st.binary(max_size=20))
@FUZZ
def test_fuzz_zdo_decode(cluster: int, data: bytes) -> None:
    _only_codec_error(zdo.ZdoMessage.decode, cluster, data)


@given(st.binary(max_size=40))
@settings(max_examples=200, deadline=None)
def test_fuzz_parse_publish_event_log(data: bytes) -> None:
    _only_codec_error(se.parse_publish_event_log, data)
