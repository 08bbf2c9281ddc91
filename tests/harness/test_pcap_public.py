"""`s1bench pcap show` on a capture it did not make, and the SE command names it prints.

The public capture is KillerBee's Control4 sample (tests/harness/data): a real
ZigBee network with source-routed, NWK-secured traffic, MAC acks, association,
and 30 frames the sniffer cut short (their FCS is wrong). Its network key is in
the capture itself, sent in clear in an APS Transport Key, which is what an
engineer handed a bench capture without a key file has to go on.

The names: every SE command s1bench names is named the same by Wireshark's
dissector, and a capture of s1bench's own SE traffic has no command left
unnamed.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from s1bench.emulator import aps, mac, nwk, se_names, zcl
from s1bench.harness.cli import main

CONTROL4 = Path(__file__).parent / "data" / "control4-sample.pcap"
CONTROL4_NETWORK_KEY = "26546B723B396A727B5D5271517D392F"  # what tshark shows in frame 151


def show(capsys, *args: str) -> tuple[int, dict]:
    code = main(["pcap", "show", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_public_capture_decrypts_with_the_key_it_carries(capsys) -> None:
    code, doc = show(capsys, str(CONTROL4))
    frames = doc["frames"]
    assert len(frames) == 407 and doc["keys"] == 0 and doc["keys_from_capture"] == 1
    failed = [f for f in frames if not f["ok"]]
    # Every failure is a frame the sniffer cut short, reported as such; the ones after
    # each are still decoded (the run does not stop at the first).
    assert failed and all(f["error"]["layer"] == "ieee802154"
                          and f["error"]["reason"].startswith("bad FCS") for f in failed)
    assert code == 1 and doc["failed"] == len(failed) == 30
    assert frames[-1]["ok"] and failed[0]["frame"] < frames[-1]["frame"]
    # Every frame with a good FCS decodes to its last layer, secured ones included.
    secured = [f for f in frames if f["ok"] and len(f["layers"]) > 1
               and "frame_counter" in f["layers"][1]]
    assert len(secured) > 150
    opened = [f for f in secured if (f["layers"][1]["type"] == "command"
              and "command" in f["layers"][1]) or len(f["layers"]) > 2]
    assert opened == secured
    kinds = {f["layers"][0]["type"] for f in frames if f["ok"]}
    assert kinds >= {"data", "ack", "command"}
    commands = {f["layers"][0].get("command") for f in frames if f["ok"]}
    assert {"association request", "association response", "data request"} <= commands
    assert any("source_route" in f["layers"][1] for f in secured)


def test_the_key_learned_opens_the_frames_before_the_transport_key(capsys) -> None:
    _, learned = show(capsys, str(CONTROL4))
    _, given = show(capsys, str(CONTROL4), "--key", CONTROL4_NETWORK_KEY)
    assert given["keys_from_capture"] == 0
    assert [f["ok"] for f in learned["frames"]] == [f["ok"] for f in given["frames"]]
    first = learned["frames"][0]  # a broadcast NWK command, long before frame 151
    assert first["ok"] and first["layers"][1]["command"]


def test_the_text_summary_says_where_the_keys_came_from(capsys) -> None:
    assert main(["pcap", "show", str(CONTROL4)]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == ("407 frames, 377 decoded, 30 failed (0 keys given, 1 from the capture's "
                    "Transport Key frames)")


def _se_frame(seq: int, cluster: int, direction: int, command: int) -> bytes:
    z = zcl.ZclFrame(zcl.TYPE_CLUSTER, direction, seq & 0xFF, command, b"",
                     disable_default_response=True)
    a = aps.ApsData(1, cluster, aps.PROFILE_SE, 1, seq & 0xFF, z.encode())
    n = nwk.NwkFrame(nwk.FRAME_DATA, 0x0001, 0x0000, 30, seq & 0xFF, a.encode())
    return mac.MacFrame(seq & 0xFF, 0x1234, 0x0001, 0x0000, n.encode()).encode()


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_every_se_command_name_is_wiresharks(tmp_path: Path, capsys) -> None:
    table = sorted(se_names.COMMANDS.items())
    pcap = tmp_path / "se.pcap"
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 195)
    for i, ((cluster, direction, command), _) in enumerate(table):
        raw = _se_frame(i, cluster, direction, command)
        out += struct.pack("<IIII", 1_767_603_600, i, len(raw), len(raw)) + raw
    pcap.write_bytes(out)
    info = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "_ws.col.Info"],
                          capture_output=True, text=True, check=True, timeout=120).stdout
    theirs = [line.split(",")[0].split(": ", 1)[1] for line in info.splitlines()]
    _, doc = show(capsys, str(pcap))
    ours = [f["layers"][-1]["command"] for f in doc["frames"]]
    assert ours == theirs == [name for _, name in table]


def test_an_s1bench_capture_names_every_se_command(tmp_path: Path, capsys) -> None:
    """The SRV pack's captures: every SE command s1bench sends or answers, named."""
    out = tmp_path / "run"
    main(["run", "standard-srv", "--dmc", "reference", "--out", str(out), "--quiet",
          "--capture"])
    capsys.readouterr()
    pcaps = sorted(out.rglob("*.pcap"))
    assert len(pcaps) > 100
    names: set[str] = set()
    for pcap in pcaps:
        _, doc = show(capsys, str(pcap))
        for frame in doc["frames"]:
            last = frame["layers"][-1]
            if last["layer"] == "zcl" and last["command"] not in GLOBAL_COMMANDS:
                names.add(last["command"])
    assert not [n for n in names if n.startswith("cluster 0x")]
    assert {"Change Supply", "Supply Status Response", "Get Profile", "Get Profile Response",
            "Publish Prepay Snapshot", "Display Message", "Get Event Log",
            "Transfer Data"} <= names
    assert len(names) >= 25


GLOBAL_COMMANDS = {"Read Attributes", "Read Attributes Response", "Write Attributes",
                   "Write Attributes Response", "Default Response"}
