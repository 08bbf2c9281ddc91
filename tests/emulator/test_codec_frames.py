"""The frame kinds a bench capture holds beyond s1bench's own traffic (issue 13).

Two outside opinions: byte strings written out here from the 802.15.4-2006
and ZigBee field layouts (a beacon request, an ack, an association request
from an EUI-64, a coordinator's ZigBee beacon) decode to the fields those
layouts say; and frames s1bench encodes (beacons, MAC commands, source-routed
and multicast NWK frames, APS acks, group and fragmented data, APS-secured
data under a link key) are read the same way by Wireshark's dissectors.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from codec_helpers import DEV_IEEE, HUB_IEEE, KEY, expect_codec_error, with_fcs
from codec_kinds import EXT_PAN, LINK_KEY, frame_kinds
from s1bench.emulator import aps, mac, nwk
from s1bench.emulator.capture import CaptureTap

# ------------------------------------------------------------ MAC layouts ---

def test_beacon_request_is_a_broadcast_command_without_source() -> None:
    # fcf 0x0803: command, dst short, no src, 2003; seq 0x42; PAN and dst 0xFFFF; id 7
    frame = mac.MacFrame.decode(with_fcs(bytes.fromhex("0308 42 FFFF FFFF 07")))
    assert (frame.frame_type, frame.seq, frame.pan, frame.dst, frame.src) == (
        mac.FRAME_COMMAND, 0x42, 0xFFFF, 0xFFFF, None)
    assert frame.command == 0x07 and mac.COMMAND_NAMES[frame.command] == "beacon request"
    assert frame.encode() == with_fcs(bytes.fromhex("0308 42 FFFF FFFF 07"))


def test_ack_is_frame_control_and_sequence_only() -> None:
    raw = with_fcs(bytes.fromhex("1200 17"))  # ack, frame pending
    frame = mac.MacFrame.decode(raw)
    assert (frame.frame_type, frame.seq, frame.frame_pending, frame.pan) == (
        mac.FRAME_ACK, 0x17, True, None)
    assert frame.encode() == raw
    assert len(raw) == 5
    err = expect_codec_error("ieee802154", mac.MacFrame.decode,
                             with_fcs(bytes.fromhex("0200 17 99")))
    assert err.offset == 3 and "payload" in err.reason


def test_association_request_from_an_eui64_carries_both_pan_ids() -> None:
    # fcf 0xC823: command, ack request, dst short, src extended, no PAN ID compression
    body = (bytes.fromhex("23C8 05 2B1A 0000 FFFF") + DEV_IEEE.to_bytes(8, "little")
            + bytes.fromhex("01 8E"))
    frame = mac.MacFrame.decode(with_fcs(body))
    assert (frame.pan, frame.dst, frame.src_pan, frame.src) == (0x1A2B, 0x0000, 0xFFFF, DEV_IEEE)
    assert frame.src_mode == mac.ADDR_EXT and frame.ack_request
    assert frame.payload == b"\x01\x8e" and frame.header_len == 3 + 4 + 2 + 8
    assert frame.encode() == with_fcs(body)


def test_coordinator_beacon_with_zigbee_payload() -> None:
    # fcf 0x8000: beacon, src short; superframe 0xCFFF (BO=SO=15, coordinator, assoc permit)
    zigbee = bytes.fromhex("00 22 84") + EXT_PAN.to_bytes(8, "little") + bytes.fromhex("FFFFFF 00")
    body = bytes.fromhex("0080 09 2B1A 0000 FFCF 00 00") + zigbee
    frame = mac.MacFrame.decode(with_fcs(body))
    assert (frame.frame_type, frame.pan, frame.src, frame.dst) == (mac.FRAME_BEACON, 0x1A2B, 0,
                                                                   None)
    beacon = mac.parse_beacon(frame.payload)
    assert beacon.superframe == 0xCFFF and beacon.payload == zigbee
    zb = mac.parse_zigbee_beacon(beacon.payload)
    assert (zb.stack_profile, zb.protocol_version) == (2, 2)  # ZigBee PRO, protocol version 2
    assert zb.router_capacity and zb.end_device_capacity and zb.device_depth == 0
    assert zb.extended_pan_id == EXT_PAN


@pytest.mark.parametrize("command", [0x00, 0x0A, 0xFF])
def test_reserved_mac_command_ids_are_refused_at_the_command_byte(command: int) -> None:
    err = expect_codec_error("ieee802154", mac.MacFrame.decode,
                             with_fcs(bytes.fromhex("0308 42 FFFF FFFF") + bytes([command])))
    assert err.offset == 7


# ------------------------------------------------------------ NWK and APS ---

def test_source_route_and_multicast_sit_after_the_ieee_addresses() -> None:
    frame = nwk.NwkFrame(nwk.FRAME_DATA, 0x1234, 0x0000, 5, 7, b"x", src_ieee=HUB_IEEE,
                         multicast=0xED, source_route=nwk.SourceRoute(1, (0x0005, 0x0004)))
    raw = frame.encode()
    assert int.from_bytes(raw[:2], "little") & 0x0500 == 0x0500
    assert raw[16] == 0xED  # multicast control, after the fixed header and source IEEE
    assert raw[17:23] == bytes([2, 1, 0x05, 0x00, 0x04, 0x00])
    assert nwk.NwkFrame.decode(raw) == frame
    err = expect_codec_error("zbee_nwk", nwk.NwkFrame.decode, raw[:21], None, base=9)
    assert err.offset == 9 + 19 and "relay list" in err.reason


def test_aps_fragmented_data_and_ack_layouts() -> None:
    data = aps.ApsData(1, 0x0702, aps.PROFILE_SE, 1, 0x33, b"part", ack_request=True,
                       fragmentation=aps.FRAG_FIRST, block=3)
    assert data.encode() == bytes([0xC0, 1, 0x02, 0x07, 0x09, 0x01, 1, 0x33, 0x01, 3]) + b"part"
    ack = aps.ApsAck(0x33, 1, 0x0702, aps.PROFILE_SE, 1, fragmentation=aps.FRAG_MORE, block=1,
                     ack_bits=0x03)
    assert ack.encode() == bytes([0x82, 1, 0x02, 0x07, 0x09, 0x01, 1, 0x33, 0x02, 1, 0x03])
    assert aps.decode(ack.encode()) == ack
    assert aps.decode(bytes([0x12, 0x44])) == aps.ApsAck(0x44)  # a command ack
    assert aps.decode(bytes([0x12, 0x44])).payload == b""  # node.py reads any frame's payload


def test_aps_data_secured_with_the_link_key_opens_only_with_it() -> None:
    frame = aps.ApsData(1, 0x0702, aps.PROFILE_SE, 1, 5, b"\x00\x01\x00\x00\x00",
                        security=aps.ApsSecurity(aps.KEY_ID_DATA, 77, HUB_IEEE))
    raw = frame.encode(LINK_KEY)
    assert raw[0] == 0x20 and raw[8] == 0x20  # security bit; data key, extended nonce
    assert aps.decode(raw, LINK_KEY) == frame
    err = expect_codec_error("zbee_aps", aps.decode, raw, KEY)
    assert "MIC" in err.reason
    err = expect_codec_error("zbee_aps", aps.decode, raw, None, 40)
    assert err.partial.security == frame.security and err.offset == 40 + 8 + 13


def test_aps_secured_without_extended_nonce_needs_the_sender() -> None:
    frame = aps.ApsData(1, 0x0702, aps.PROFILE_SE, 1, 5, b"abc",
                        security=aps.ApsSecurity(aps.KEY_ID_DATA, 9))
    raw = frame.encode(LINK_KEY, source_ieee=DEV_IEEE)
    assert aps.decode(raw, LINK_KEY, source_ieee=DEV_IEEE) == frame
    err = expect_codec_error("zbee_aps", aps.decode, raw, LINK_KEY)
    assert "nonce" in err.reason


# ------------------------------------------------------ Wireshark's opinion ---

FIELDS = ["_ws.malformed", "_ws.expert.severity", "wpan.fcs_ok", "wpan.frame_type", "wpan.cmd",
          "wpan.src64", "wpan.src_pan", "zbee_beacon.ext_panid", "zbee_beacon.profile",
          "zbee_nwk.relay.count", "zbee_nwk.relay.index", "zbee_nwk.relay",
          "zbee_nwk.multicast.mode", "zbee_nwk.multicast.max_radius", "zbee_aps.type",
          "zbee_aps.delivery", "zbee_aps.group", "zbee_aps.fragmentation", "zbee_aps.block",
          "zbee_aps.ack_format", "zbee_aps.cmd.id", "zbee.sec.key_id", "zbee_aps.cluster"]
SEP = "\x1f"
PI_ERROR = 0x00800000


@pytest.fixture(scope="module")
def wireshark(tmp_path_factory) -> dict[str, dict[str, str]]:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    frames = frame_kinds()
    path = Path(tmp_path_factory.mktemp("frames")) / "kinds.pcap"
    tap = CaptureTap(path)
    for raw in frames.values():
        tap.frame(raw, datetime(2026, 1, 5, tzinfo=UTC))
    tap.close()
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", f"separator={SEP}",
            "-E", "occurrence=a", "-E", "aggregator=,",
            "-o", f'uat:zigbee_pc_keys:"{KEY.hex()}","Normal","network"',
            "-o", f'uat:zigbee_pc_keys:"{LINK_KEY.hex()}","Normal","link"']
    for name in FIELDS:
        args += ["-e", name]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    rows = [dict(zip(FIELDS, line.split(SEP), strict=True)) for line in proc.stdout.splitlines()]
    assert len(rows) == len(frames)
    return dict(zip(frames, rows, strict=True))


def test_wireshark_finds_nothing_malformed(wireshark: dict[str, dict[str, str]]) -> None:
    for name, row in wireshark.items():
        assert not row["_ws.malformed"], name
        assert not any(int(s, 0) >= PI_ERROR for s in row["_ws.expert.severity"].split(",") if s),\
            name
        assert row["wpan.fcs_ok"] in ("1", "True"), name


def num(row: dict[str, str], name: str) -> list[int]:
    """A tshark field's values as numbers (it prints 0x0003 or 0x3, and relays in decimal)."""
    return [int(v, 0) for v in row[name].split(",") if v]


def test_wireshark_reads_the_mac_frame_kinds(wireshark: dict[str, dict[str, str]]) -> None:
    assert num(wireshark["beacon request"], "wpan.frame_type") == [mac.FRAME_COMMAND]
    assert num(wireshark["beacon request"], "wpan.cmd") == [0x07]
    assert num(wireshark["beacon"], "wpan.frame_type") == [mac.FRAME_BEACON]
    assert num(wireshark["beacon"], "zbee_beacon.profile") == [2]
    assert int(wireshark["beacon"]["zbee_beacon.ext_panid"].replace(":", ""), 16) == EXT_PAN
    assert num(wireshark["association request"], "wpan.cmd") == [0x01]
    assert num(wireshark["association request"], "wpan.src_pan") == [0xFFFF]
    assert int(wireshark["association request"]["wpan.src64"].replace(":", ""), 16) == DEV_IEEE
    assert num(wireshark["ack"], "wpan.frame_type") == [mac.FRAME_ACK]


def test_wireshark_reads_source_routes_and_multicast(wireshark: dict[str, dict[str, str]]
                                                     ) -> None:
    row = wireshark["source route"]
    assert num(row, "zbee_nwk.relay.count") == [2] and num(row, "zbee_nwk.relay.index") == [1]
    assert num(row, "zbee_nwk.relay") == [0x0005, 0x0004]
    row = wireshark["multicast group"]
    assert num(row, "zbee_nwk.multicast.mode") == [1]
    assert num(row, "zbee_nwk.multicast.max_radius") == [7]
    assert num(row, "zbee_aps.delivery") == [aps.DELIVERY_GROUP]
    assert num(row, "zbee_aps.group") == [0x1234]


def test_wireshark_reads_the_aps_frame_kinds(wireshark: dict[str, dict[str, str]]) -> None:
    assert num(wireshark["fragment"], "zbee_aps.fragmentation") == [aps.FRAG_FIRST]
    assert num(wireshark["fragment"], "zbee_aps.block") == [3]
    assert num(wireshark["aps ack"], "zbee_aps.type") == [aps.FRAME_ACK]
    assert num(wireshark["aps ack"], "zbee_aps.ack_format") == [0]  # a data ack
    assert num(wireshark["aps command"], "zbee_aps.cmd.id") == [0x08]
    row = wireshark["aps secured"]
    assert num(row, "zbee.sec.key_id") == [nwk.KEY_ID_NETWORK, aps.KEY_ID_DATA]
    assert num(row, "zbee_aps.cluster") == [0x0702]  # Wireshark opened it with the link key


def test_the_general_aps_encoder_seals_transport_key_as_the_join_path_does() -> None:
    """ApsCommand with key-transport security reproduces TransportKey's bytes exactly."""
    from codec_helpers import install_code_keys, sample_transport_key

    _, raw = sample_transport_key()
    _, ktk = install_code_keys()
    decoded = aps.decode(raw, ktk)
    assert isinstance(decoded, aps.ApsCommand)
    assert decoded.security == aps.ApsSecurity(aps.KEY_ID_KEY_TRANSPORT, 0x2A, HUB_IEEE)
    assert decoded.encode(ktk) == raw
