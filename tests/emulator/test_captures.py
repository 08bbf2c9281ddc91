"""Replay the reference captures through our codec: recorded bytes stay readable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from s1bench.emulator import aps, mac, mgmt, nwk, se, zcl
from s1bench.emulator.capture import key_file_for, read_key_file, tshark_key_args
from scapy.utils import RawPcapReader

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
CAPTURE_110031 = CAPTURES / "110031.pcap"


def _frames(path: Path) -> list[bytes]:
    return [bytes(data) for data, _meta in RawPcapReader(str(path))]


def _network_key(path: Path) -> bytes:
    keys = read_key_file(key_file_for(path))
    return bytes.fromhex(next(k for k, label in keys if "network key" in label))


def test_110031_capture_decodes_and_shows_the_unanswered_rotation() -> None:
    key = _network_key(CAPTURE_110031)
    to_esme, from_esme = [], []
    for raw in _frames(CAPTURE_110031):
        m = mac.MacFrame.decode(raw)
        n = nwk.NwkFrame.decode(m.payload, key)
        a = aps.decode(n.payload)
        assert isinstance(a, aps.ApsData)
        if a.cluster != se.TUNNELING:
            continue
        z = zcl.ZclFrame.decode(a.payload)
        _, data = se.parse_transfer_data(z.payload)
        (to_esme if n.src == 0 else from_esme).append(data[0])
    # The hub sends the rotation twice (two attempts) and never hears an answer to it,
    # while the credential reads before and after are answered.
    assert to_esme.count(mgmt.UPDATE_CREDENTIAL) == 2
    assert mgmt.UPDATE_CREDENTIAL | mgmt.RESPONSE not in from_esme
    assert from_esme.count(mgmt.READ_CREDENTIALS | mgmt.RESPONSE) == 2


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_110031_capture_dissects_in_wireshark() -> None:
    out = subprocess.run(
        ["tshark", "-r", str(CAPTURE_110031), *tshark_key_args(CAPTURE_110031), "-T", "fields",
         "-e", "frame.number", "-e", "_ws.malformed", "-e", "zbee_zcl_se.tun.cmd.srv_rx.id"],
        capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    assert rows and all(row[1] == "" for row in rows)
    assert any(row[2] == "0x02" for row in rows)  # Transfer Data, decrypted
