"""Every frame kind the HAN carries survives encode -> decode, and no bytes crash a decoder.

Round trips build frames from their fields (any value the field can hold on
air) and check ``decode(encode(x)) == x`` for MAC data/ack/beacon/command
frames in every addressing mode, beacon and ZigBee beacon payloads, NWK data
and command frames with multicast control and source routes, secured or not,
and APS data (unicast, broadcast, group, fragmented, APS-secured with any key
id), acks and commands. The fuzz half feeds arbitrary bytes, and mutations of
valid frames, to every decoder: the only exception allowed out is
CodecError, which the medium and `s1bench pcap show` catch per frame.

Budget: codec_budget.py (200 examples each; `make fuzz-codec` runs 20000).
"""

from __future__ import annotations

import contextlib

import pytest
from codec_budget import CODEC
from hypothesis import given
from hypothesis import strategies as st
from s1bench.emulator import aps, mac, nwk
from s1bench.emulator.codec_errors import CodecError

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
keys = st.binary(min_size=16, max_size=16)


# ------------------------------------------------------------ strategies ---

@st.composite
def mac_frames(draw: st.DrawFn) -> mac.MacFrame:
    frame_type = draw(st.sampled_from([mac.FRAME_BEACON, mac.FRAME_DATA, mac.FRAME_ACK,
                                       mac.FRAME_COMMAND]))
    seq, pending, version = draw(u8), draw(st.booleans()), draw(st.sampled_from([0, 1]))
    ack_request = draw(st.booleans())
    if frame_type == mac.FRAME_ACK:
        return mac.MacFrame(seq, None, None, None, b"", ack_request, frame_type, 0, 0, None,
                            version, pending)
    modes = st.sampled_from([mac.ADDR_NONE, mac.ADDR_SHORT, mac.ADDR_EXT])
    dst_mode, src_mode = draw(modes), draw(modes)

    def addr(mode: int) -> int | None:
        return None if mode == mac.ADDR_NONE else draw(u16 if mode == mac.ADDR_SHORT else u64)

    dst, src = addr(dst_mode), addr(src_mode)
    pan = draw(u16) if dst_mode or src_mode else None
    src_pan = draw(st.none() | u16) if dst_mode and src_mode else None
    payload = draw(st.binary(max_size=100))
    if frame_type == mac.FRAME_COMMAND:
        payload = bytes([draw(st.sampled_from(sorted(mac.COMMAND_NAMES)))]) + payload
    return mac.MacFrame(seq, pan, dst, src, payload, ack_request, frame_type, dst_mode,
                        src_mode, src_pan, version, pending)


@st.composite
def beacons(draw: st.DrawFn) -> mac.Beacon:
    count = draw(st.integers(0, 7))
    gts = draw(st.binary(min_size=1 + 3 * count, max_size=1 + 3 * count)) if count else b""
    return mac.Beacon(draw(u16), count | (0x80 if draw(st.booleans()) else 0), gts,
                      tuple(draw(st.lists(u16, max_size=7))),
                      tuple(draw(st.lists(u64, max_size=7))), draw(st.binary(max_size=52)))


zigbee_beacons = st.builds(mac.ZigbeeBeacon, st.integers(0, 15), st.integers(0, 15),
                           st.booleans(), st.integers(0, 15), st.booleans(), u64,
                           st.integers(0, 2**24 - 1), u8, st.binary(max_size=8))


@st.composite
def nwk_frames(draw: st.DrawFn) -> nwk.NwkFrame:
    frame = nwk.NwkFrame(
        draw(st.sampled_from([nwk.FRAME_DATA, nwk.FRAME_COMMAND])), draw(u16), draw(u16),
        draw(u8), draw(u8), draw(st.binary(max_size=80)), draw(st.none() | u64),
        draw(st.none() | u64), draw(st.integers(0, 3)))
    if draw(st.booleans()):
        frame.secured = True
        frame.frame_counter, frame.sec_source, frame.key_seq = draw(u32), draw(u64), draw(u8)
    frame.multicast = draw(st.none() | u8)
    if draw(st.booleans()):
        relays = tuple(draw(st.lists(u16, max_size=12)))
        frame.source_route = nwk.SourceRoute(draw(u8), relays)
    frame.end_device_initiator = draw(st.booleans())
    return frame


@st.composite
def aps_security(draw: st.DrawFn) -> aps.ApsSecurity | None:
    if not draw(st.booleans()):
        return None
    key_id = draw(st.integers(0, 3))
    return aps.ApsSecurity(key_id, draw(u32), draw(st.none() | u64),
                           draw(u8) if key_id == nwk.KEY_ID_NETWORK else None)


fragmentation = st.none() | st.sampled_from([aps.FRAG_NONE, aps.FRAG_FIRST, aps.FRAG_MORE])


@st.composite
def aps_data(draw: st.DrawFn) -> aps.ApsData:
    delivery = draw(st.sampled_from(["unicast", "broadcast", "group"]))
    frag = draw(fragmentation)
    return aps.ApsData(
        None if delivery == "group" else draw(u8), draw(u16), draw(u16), draw(u8), draw(u8),
        draw(st.binary(max_size=80)), delivery == "broadcast", draw(st.booleans()),
        draw(u16) if delivery == "group" else None, frag, draw(u8) if frag else 0,
        draw(aps_security()))


@st.composite
def aps_acks(draw: st.DrawFn) -> aps.ApsAck:
    frag = draw(fragmentation)
    ack = aps.ApsAck(draw(u8), fragmentation=frag, block=draw(u8) if frag else 0,
                     ack_bits=draw(u8) if frag else 0, security=draw(aps_security()))
    if draw(st.booleans()):  # a data ack; otherwise a command ack
        ack.dst_ep, ack.cluster, ack.profile, ack.src_ep = draw(u8), draw(u16), draw(u16), draw(u8)
    return ack


aps_commands = st.builds(aps.ApsCommand, u8, u8, st.binary(max_size=60), aps_security(),
                         st.booleans(), st.booleans())

aps_frames = st.one_of(aps_data(), aps_acks(), aps_commands)


def _security_args(frame: aps.ApsFrame, key: bytes, sender: int) -> dict:
    """The key and, without an extended nonce, the sender's EUI-64 a receiver takes from NWK."""
    if frame.security is None:
        return {}
    return {"key": key, "source_ieee": None if frame.security.source is not None else sender}


# ----------------------------------------------------------- round trips ---

@given(mac_frames(), st.booleans())
@CODEC
def test_mac_round_trip_every_frame_type_and_addressing_mode(frame: mac.MacFrame,
                                                             with_fcs: bool) -> None:
    raw = frame.encode(with_fcs)
    assert mac.MacFrame.decode(raw, with_fcs) == frame
    assert len(raw) == frame.header_len + len(frame.payload) + (2 if with_fcs else 0)


@given(beacons())
@CODEC
def test_beacon_payload_round_trip(beacon: mac.Beacon) -> None:
    assert mac.parse_beacon(beacon.encode()) == beacon


@given(zigbee_beacons)
@CODEC
def test_zigbee_beacon_payload_round_trip(beacon: mac.ZigbeeBeacon) -> None:
    assert mac.parse_zigbee_beacon(beacon.encode()) == beacon


@given(nwk_frames(), keys)
@CODEC
def test_nwk_round_trip_with_multicast_source_route_and_security(frame: nwk.NwkFrame,
                                                                  key: bytes) -> None:
    raw = frame.encode(key)
    assert nwk.NwkFrame.decode(raw, key) == frame


@given(aps_frames, keys, u64)
@CODEC
def test_aps_round_trip_every_frame_kind(frame: aps.ApsFrame, key: bytes, sender: int) -> None:
    args = _security_args(frame, key, sender)
    raw = frame.encode(**args)
    assert aps.decode(raw, **args) == frame


@given(aps_frames, keys, u64, st.integers(1, 40))
@CODEC
def test_aps_secured_frames_hide_their_payload_without_the_key(frame: aps.ApsFrame,
                                                               key: bytes, sender: int,
                                                               base: int) -> None:
    """Without a key the error still carries the readable header, at the ciphertext."""
    if frame.security is None:
        return
    raw = frame.encode(**_security_args(frame, key, sender))
    with pytest.raises(CodecError) as info:
        aps.decode(raw, None, base)
    err = info.value
    assert err.layer == aps.LAYER and "no key" in err.reason
    partial = err.partial
    assert type(partial) is type(frame) and partial.security == frame.security
    assert err.offset == base + len(raw) - MIC - _plain_len(frame)


MIC = nwk.MIC_LEN


def _plain_len(frame: aps.ApsFrame) -> int:
    if isinstance(frame, aps.ApsData):
        return len(frame.payload)
    if isinstance(frame, aps.ApsCommand):
        return 1 + len(frame.payload)
    return 0


# ------------------------------------------------------------------ fuzz ---

def _only_codec_error(fn, *args, **kwargs) -> None:
    with contextlib.suppress(CodecError):
        fn(*args, **kwargs)


_KEY = bytes(range(16))


@given(st.binary(max_size=140))
@CODEC
def test_fuzz_mac_decoders_raise_only_codec_errors(data: bytes) -> None:
    _only_codec_error(mac.MacFrame.decode, data)
    _only_codec_error(mac.MacFrame.decode, data, False)
    _only_codec_error(mac.MacFrame.decode, data + mac.fcs(data).to_bytes(2, "little"))
    _only_codec_error(mac.parse_beacon, data)
    _only_codec_error(mac.parse_zigbee_beacon, data)


@given(st.binary(max_size=120), st.none() | st.just(_KEY))
@CODEC
def test_fuzz_nwk_decoder_raises_only_codec_errors(data: bytes, key: bytes | None) -> None:
    _only_codec_error(nwk.NwkFrame.decode, data, key)
    # A valid version and routing flags in front, so the random bytes reach deeper.
    for fcf in (0x0508, 0x2708, 0x1D08):
        _only_codec_error(nwk.NwkFrame.decode, fcf.to_bytes(2, "little") + data, key)


@given(st.binary(max_size=120), st.none() | st.just(_KEY), st.none() | u64)
@CODEC
def test_fuzz_aps_decoder_raises_only_codec_errors(data: bytes, key: bytes | None,
                                                  sender: int | None) -> None:
    _only_codec_error(aps.decode, data, key, source_ieee=sender)
    for fc in (0x22, 0x8C, 0x92, 0xA2, 0x21, 0xE0):
        _only_codec_error(aps.decode, bytes([fc]) + data, key, source_ieee=sender)


@given(st.one_of(mac_frames().map(lambda f: ("mac", f.encode())),
                 nwk_frames().map(lambda f: ("nwk", f.encode(_KEY))),
                 aps_frames.map(lambda f: ("aps", f.encode(**_security_args(f, _KEY, 1))))),
       st.data())
@CODEC
def test_fuzz_mutated_valid_frames_raise_only_codec_errors(kind_raw: tuple[str, bytes],
                                                           data: st.DataObject) -> None:
    kind, raw = kind_raw
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        how = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        index = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if how == "flip" and buf:
            buf[index] ^= data.draw(st.integers(1, 255))
        elif how == "cut":
            del buf[index:]
        else:
            buf[index:index] = data.draw(st.binary(min_size=1, max_size=4))
    mutated = bytes(buf)
    if kind == "mac":
        _only_codec_error(mac.MacFrame.decode, mutated)
        _only_codec_error(mac.MacFrame.decode, mutated, False)
    elif kind == "nwk":
        _only_codec_error(nwk.NwkFrame.decode, mutated, _KEY)
    else:
        _only_codec_error(aps.decode, mutated, _KEY, source_ieee=1)
