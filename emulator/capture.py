"""A capture tap on a HAN medium: a pcap Wireshark dissects, and its key file.

Frames are written with link type 195 (IEEE 802.15.4 with FCS) and virtual
timestamps, so a seven-day scenario opens in Wireshark with its real
spacing. The key file lists the network key, the install-code link keys of
joiners and every device's agreed SE link key (key_agreement.py) in
Wireshark's ``zigbee_pc_keys`` UAT format. That table names no device pair:
Wireshark tries each of its keys on an APS-secured frame (the extended nonce
gives the sender), so one line per key is enough; :func:`tshark_key_args` turns
it into the ``-o`` options tshark needs to decrypt. The pcap and key file are
test artefacts: they hold keys on purpose and must never be attached to a
report.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

from scapy.utils import RawPcapWriter

LINKTYPE_IEEE802_15_4_WITHFCS = 195


def key_file_for(pcap: Path) -> Path:
    return pcap.with_suffix(pcap.suffix + ".keys")


class CaptureTap:
    """Receives every frame the medium carries, once, with its send time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = RawPcapWriter(str(self.path), linktype=LINKTYPE_IEEE802_15_4_WITHFCS,
                                     sync=False)
        # The global header is written lazily by write(); write_packet() skips
        # that path, so write it now while the file is empty.
        self._writer.write_header(None)
        self._keys: dict[bytes, str] = {}
        self.frames = 0
        self._closed = False

    def add_key(self, key: bytes, label: str) -> None:
        """Record a key for the key file (never logged)."""
        self._keys.setdefault(bytes(key), label)

    def frame(self, data: bytes, when: datetime) -> None:
        stamp = when.timestamp()
        sec = int(stamp)
        self._writer.write_packet(data, sec=sec, usec=round((stamp - sec) * 1e6))
        self.frames += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._writer.flush()
        self._writer.close()
        lines = [f'"{key.hex().upper()}","Normal","{label}"' for key, label in self._keys.items()]
        key_file_for(self.path).write_text("\n".join(lines) + "\n")


def read_key_file(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        parts = [p.strip().strip('"') for p in line.split(",")]
        if len(parts) >= 3 and parts[0]:
            out.append((parts[0], parts[2]))
    return out


def tshark_key_args(pcap: Path) -> list[str]:
    """tshark options that load the capture's keys: one ``uat:zigbee_pc_keys`` per key."""
    args: list[str] = []
    for key, label in read_key_file(key_file_for(pcap)):
        args += ["-o", f'uat:zigbee_pc_keys:"{key}","Normal","{label}"']
    return args
