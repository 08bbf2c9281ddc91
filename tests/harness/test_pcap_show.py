"""`s1bench pcap show` and `pcap replay`, as an engineer with a bench capture uses them.

Captures come from `s1bench srv --capture` (the real path that writes pcaps
and key files), from frames built with the codec for the kinds s1bench never
sends, and from hand-made damage: a bad FCS, a cut-short record, a missing
or wrong key, another link type, files that are not pcaps at all.
"""

from __future__ import annotations

import json
import re
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from s1bench.emulator import mac
from s1bench.emulator.capture import key_file_for
from s1bench.harness.cli import main
from s1bench.harness.cli_pcap import FrameDecoder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "emulator"))
from codec_helpers import KEY
from codec_kinds import LINK_KEY, frame_kinds


def write_pcap(path: Path, frames: list[bytes], linktype: int = 195, *,
               big_endian: bool = False) -> Path:
    order = ">" if big_endian else "<"
    out = struct.pack(order + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for i, raw in enumerate(frames):
        out += struct.pack(order + "IIII", 1_767_603_600 + i, 0, len(raw), len(raw)) + raw
    path.write_bytes(out)
    return path


def pcap_records(path: Path) -> list[bytes]:
    data, pos, out = path.read_bytes(), 24, []
    while pos < len(data):
        length = struct.unpack_from("<I", data, pos + 8)[0]
        out.append(data[pos + 16 : pos + 16 + length])
        pos += 16 + length
    return out


@pytest.fixture(scope="module")
def srv_capture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("srv") / "read.pcap"
    assert main(["srv", "--dmc", "reference", "--device", "esme", "--srv", "4.1.1",
                 "--capture", str(path)]) == 0
    return path


def show(capsys, *args: str) -> tuple[int, dict]:
    code = main(["pcap", "show", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_an_s1bench_capture_decodes_with_its_key_file(srv_capture: Path, capsys) -> None:
    code = main(["pcap", "show", str(srv_capture)])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    data = [line for line in lines if "mac type=data" in line]
    acks = [line for line in lines if "mac type=ack" in line]
    # Request and answer, APS-secured with the ESME's link key, each APS-acknowledged;
    # the ZCL TSN and APS counter are the hub's own, seeded.
    tsn = re.search(r"Read Attributes seq=(\d+) direction=to server", data[0])
    counter = re.search(r"aps type=data counter=(\d+)", data[0])
    assert tsn is not None and counter is not None
    assert "key=link" in data[0]
    assert f"aps type=ack counter={counter.group(1)} cluster=0x0702 key=link" in data[1]
    assert f"Read Attributes Response seq={tsn.group(1)} direction=to client" in data[2]
    assert "cluster=0x0702 cluster_name=Metering" in data[2]
    assert "aps type=ack" in data[3]
    # And every one of the four MAC-acknowledged, with its own DSN.
    dsns = [re.search(r"mac type=data seq=(\d+)", line).group(1)  # type: ignore[union-attr]
            for line in data]
    assert sorted(line.rsplit("seq=", 1)[1] for line in acks) == sorted(dsns)
    assert lines[-1] == ("8 frames, 8 decoded, 0 failed (7 keys given, 0 from the capture's "
                         "Transport Key frames)")


def test_json_lists_every_layer_with_addresses_and_counters(srv_capture: Path, capsys) -> None:
    code, doc = show(capsys, str(srv_capture))
    assert code == 0 and doc["linktype"] == 195 and doc["failed"] == 0
    first = doc["frames"][0]
    assert [layer["layer"] for layer in first["layers"]] == ["mac", "nwk", "aps", "zcl"]
    nwk_layer = first["layers"][1]
    # The hub's one outgoing counter, far above 1 after years in the field: one value
    # went to the APS security header, the next to the NWK one.
    aps_counter = first["layers"][2]["aps_frame_counter"]
    assert aps_counter > 0xFFFF
    assert nwk_layer["src"] == "0x0000" and nwk_layer["frame_counter"] == aps_counter + 1
    assert nwk_layer["src_ieee"] == "00:DB:12:00:00:00:00:00"


def test_without_keys_each_frame_says_so_and_still_shows_its_headers(srv_capture: Path,
                                                                     tmp_path: Path,
                                                                     capsys) -> None:
    bare = tmp_path / "bare.pcap"
    bare.write_bytes(srv_capture.read_bytes())  # no key file beside it
    code, doc = show(capsys, str(bare))
    assert code == 1 and doc["failed"] == 4
    data = [f for f in doc["frames"] if f["layers"][0]["type"] == "data"]
    assert len(data) == 4  # the MAC acks have nothing to decrypt
    for frame in data:
        assert frame["error"]["layer"] == "zbee_nwk"
        assert "no network key" in frame["error"]["reason"]
        assert frame["layers"][1]["layer"] == "nwk"  # the readable header is reported
    keys = [line.split(",")[0].strip('"') for line in key_file_for(srv_capture).read_text()
            .splitlines()]
    # The network key alone opens NWK; the SE payloads need the ESME's link key as well.
    code, doc = show(capsys, str(bare), "--key", keys[0])
    assert code == 1 and "no link key" in doc["frames"][0]["error"]["reason"]
    assert show(capsys, str(bare), "--key", keys[0], "--key", keys[1])[0] == 0
    code, doc = show(capsys, str(bare), "--key", "00" * 16)
    assert code == 1 and "unknown key" in doc["frames"][0]["error"]["reason"]


def test_a_bad_frame_is_reported_and_the_rest_still_decode(srv_capture: Path, tmp_path: Path,
                                                           capsys) -> None:
    frames = pcap_records(srv_capture)
    broken = bytearray(frames[0])
    broken[-1] ^= 0xFF
    path = write_pcap(tmp_path / "fcs.pcap", [bytes(broken), frames[3], frames[0][:6]])
    key_file_for(path).write_text(key_file_for(srv_capture).read_text())
    code = main(["pcap", "show", str(path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert "ERROR ieee802154 at byte" in out[0] and "bad FCS" in out[0]
    assert "Read Attributes Response" in out[1]
    assert "ERROR ieee802154" in out[2]
    assert out[-1].startswith("3 frames, 1 decoded, 2 failed")


def test_a_record_cut_short_is_a_failure_not_a_crash(srv_capture: Path, tmp_path: Path,
                                                     capsys) -> None:
    path = tmp_path / "cut.pcap"
    path.write_bytes(srv_capture.read_bytes()[:-3])
    key_file_for(path).write_text(key_file_for(srv_capture).read_text())
    code, doc = show(capsys, str(path))
    # The last of the eight records (a MAC ack) is cut short: the seven before it decode.
    assert code == 1 and len(doc["frames"]) == 7 and all(f["ok"] for f in doc["frames"])
    assert "recorded" in doc["tail_error"]


def test_linktype_230_has_no_fcs_and_big_endian_files_read(srv_capture: Path, tmp_path: Path,
                                                           capsys) -> None:
    network, esme_link = [line.split(",")[0].strip('"') for line in
                          key_file_for(srv_capture).read_text().splitlines()[:2]]
    no_fcs = [raw[:-2] for raw in pcap_records(srv_capture)]
    path = write_pcap(tmp_path / "nofcs.pcap", no_fcs, 230, big_endian=True)
    code, doc = show(capsys, str(path), "--key", network, "--key", esme_link)
    assert code == 0 and doc["linktype"] == 230 and doc["decoded"] == 8


def test_every_frame_kind_of_a_bench_capture_is_named(tmp_path: Path, capsys) -> None:
    frames = frame_kinds()
    path = write_pcap(tmp_path / "kinds.pcap", list(frames.values()))
    code, doc = show(capsys, str(path), "--key", KEY.hex(), "--key", LINK_KEY.hex())
    assert code == 0, [f.get("error") for f in doc["frames"]]
    by_name = dict(zip(frames, doc["frames"], strict=True))
    assert by_name["beacon request"]["layers"][0]["command"] == "beacon request"
    assert by_name["beacon"]["layers"][1]["stack_profile"] == 2
    assert by_name["association request"]["layers"][0]["src"] == "00:DB:12:00:00:00:00:03"
    assert by_name["ack"]["layers"][0]["type"] == "ack"
    assert by_name["source route"]["layers"][1]["source_route"] == "0x0005,0x0004"
    assert by_name["multicast group"]["layers"][2]["group"] == "0x1234"
    assert by_name["fragment"]["layers"][2]["fragment"] == "first"
    assert by_name["aps ack"]["layers"][2]["type"] == "ack"
    assert by_name["aps command"]["layers"][2]["command"] == "request key"
    secured = by_name["aps secured"]["layers"]
    assert secured[2]["key"] == "link" and secured[3]["command"] == "Read Attributes"


@pytest.mark.parametrize("content, words", [
    (None, "no such capture"),
    (b"not a capture at all, just text", "not a pcap"),
    (bytes.fromhex("0a0d0d0a") + bytes(40), "pcapng"),
    ("linktype", "link type 1"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys, content, words: str) -> None:
    path = tmp_path / "x.pcap"
    if content == "linktype":
        write_pcap(path, [b"\x00" * 20], linktype=1)
    elif content is not None:
        path.write_bytes(content)
    assert main(["pcap", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_bad_key_is_bad_input(srv_capture: Path, capsys) -> None:
    assert main(["pcap", "show", str(srv_capture), "--key", "abcd"]) == 2
    assert "16" in capsys.readouterr().err


def test_replay_to_the_same_dmc_gives_the_same_answers(srv_capture: Path, capsys) -> None:
    code = main(["pcap", "replay", str(srv_capture), "--dmc", "reference", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [s["verdict"] for s in doc["steps"]] == ["same"]
    assert doc["steps"][0]["cluster"] == "0x0702"


def test_replay_shows_where_a_quirky_capture_differs_from_the_reference(capsys) -> None:
    """The shipped 110031 capture: the ESME left the key rotation unanswered."""
    capture = Path(__file__).resolve().parents[2] / "captures" / "110031.pcap"
    code = main(["pcap", "replay", str(capture), "--dmc", "reference", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    verdicts = [s["verdict"] for s in doc["steps"]]
    assert "same" in verdicts and "no answer recorded" in verdicts


def test_mac_header_len_matches_what_show_skips() -> None:
    """pcap show reports NWK offsets from the MAC header length; it must be exact."""
    frame = mac.MacFrame(1, 0x1A2B, 0x0001, 0x0000, b"xyz")
    assert frame.header_len == mac.HEADER_LEN



_DECODER = FrameDecoder([KEY, LINK_KEY])
_VALID = list(frame_kinds().values())


def _flip(frame: bytes, index: int, mask: int) -> bytes:
    index %= len(frame)
    return frame[:index] + bytes([frame[index] ^ mask]) + frame[index + 1:]


@given(st.one_of(st.binary(max_size=130),
                 st.builds(_flip, st.sampled_from(_VALID), st.integers(0, 200),
                           st.integers(1, 255))),
       st.booleans())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_show_reports_any_frame_bytes_as_a_result_or_an_error(raw: bytes, fcs: bool) -> None:
    """One bad frame must never stop `pcap show`: every failure is a reported CodecError."""
    _DECODER.with_fcs = fcs
    frame = _DECODER.decode(1, 0.0, raw)
    assert frame.ok or frame.error.layer in {"ieee802154", "zbee_nwk", "zbee_aps", "zbee_zcl",
                                             "zbee_zdp"}
