"""One frame of each kind a bench capture holds beyond s1bench's own traffic.

Built with the codec and shared by the Wireshark cross-check
(test_codec_frames.py) and `pcap show` (tests/harness/test_pcap_show.py).
NWK frames are secured with codec_helpers.KEY; the APS-secured one with
LINK_KEY (the published install-code vector's link key).
"""

from __future__ import annotations

from codec_helpers import DEV_IEEE, HUB_IEEE, KEY
from s1bench.emulator import aps, mac, nwk

LINK_KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")
EXT_PAN = 0x00DB120000001A2B


def _nwk(payload: bytes, dst: int = 0x0001, **kw) -> bytes:
    frame = nwk.NwkFrame(nwk.FRAME_DATA, dst, 0x0000, 30, 1, payload, src_ieee=HUB_IEEE,
                         secured=True, frame_counter=kw.pop("counter", 1), sec_source=HUB_IEEE,
                         **kw)
    return mac.MacFrame(1, 0x1A2B, kw.get("mac_dst", dst), 0x0000, frame.encode(KEY)).encode()


def frame_kinds() -> dict[str, bytes]:
    zigbee = mac.ZigbeeBeacon(2, 2, True, 0, True, EXT_PAN).encode()
    data = aps.ApsData(1, 0x0702, aps.PROFILE_SE, 1, 5, b"\x00\x01\x00\x00\x00")
    return {
        "beacon request": mac.MacFrame(1, 0xFFFF, 0xFFFF, None, b"\x07", frame_type=3,
                                       src_mode=mac.ADDR_NONE).encode(),
        "beacon": mac.MacFrame(2, 0x1A2B, None, 0x0000, mac.Beacon(0xCFFF, payload=zigbee)
                               .encode(), frame_type=mac.FRAME_BEACON,
                               dst_mode=mac.ADDR_NONE).encode(),
        "association request": mac.MacFrame(3, 0x1A2B, 0x0000, DEV_IEEE, b"\x01\x8e", True,
                                            mac.FRAME_COMMAND, src_mode=mac.ADDR_EXT,
                                            src_pan=0xFFFF).encode(),
        "ack": mac.MacFrame(3, None, None, None, b"", frame_type=mac.FRAME_ACK,
                            dst_mode=mac.ADDR_NONE, src_mode=mac.ADDR_NONE).encode(),
        "source route": _nwk(data.encode(), 0x0003, counter=2,
                             source_route=nwk.SourceRoute(1, (0x0005, 0x0004))),
        "multicast group": _nwk(aps.ApsData(None, 0x0702, aps.PROFILE_SE, 1, 6, b"\x00\x02\x00"
                                            b"\x00\x00", group=0x1234).encode(), 0x1234,
                                counter=3, multicast=0x01 | (3 << 2) | (7 << 5)),
        "fragment": _nwk(aps.ApsData(1, 0x0704, aps.PROFILE_SE, 1, 7, b"abcd",
                                     fragmentation=aps.FRAG_FIRST, block=3).encode(), counter=4),
        "aps ack": _nwk(aps.ApsAck(7, 1, 0x0704, aps.PROFILE_SE, 1, aps.FRAG_FIRST, 0, 0x01)
                        .encode(), counter=5),
        "aps command": _nwk(aps.ApsCommand(8, 0x08, b"\x04").encode(), counter=6),
        "aps secured": _nwk(aps.ApsData(1, 0x0702, aps.PROFILE_SE, 1, 9, b"\x00\x03\x00\x00\x00",
                                        security=aps.ApsSecurity(aps.KEY_ID_DATA, 1, HUB_IEEE))
                            .encode(LINK_KEY), counter=7),
    }


