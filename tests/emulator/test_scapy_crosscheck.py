"""A second opinion on our bytes: scapy's 802.15.4 / ZigBee layers.

scapy parses what we encode and we decode what scapy builds. scapy's FCS is
its own (nibble-table) CRC-16/KERMIT, so agreeing on it is an independent
check. scapy cannot decrypt ZigBee, so secured payloads are opened with our
codec (and, separately, with AES-CCM* built here from scapy's parsed fields).
"""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from emu_helpers import UTRN, build, dcc
from s1bench.emulator import aps, mac, nwk, se, zcl, zdo
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.codec_errors import CodecError
from s1bench.emulator.han_hostile import FrameRecorder

scapy_config = pytest.importorskip("scapy.config")
from scapy.layers.dot15d4 import Dot15d4Data, Dot15d4FCS  # noqa: E402
from scapy.layers.zigbee import (  # noqa: E402
    ZCLGeneralReadAttributes,
    ZCLGeneralReadAttributesResponse,
    ZCLReadAttributeStatusRecord,
    ZDPDeviceAnnce,
    ZigbeeAppDataPayload,
    ZigbeeClusterLibrary,
    ZigbeeDeviceProfile,
    ZigbeeNWK,
    ZigbeeSecurityHeader,
)
from scapy.packet import Raw  # noqa: E402

KEY = bytes.fromhex("D5B0FA35205689C01C537AAC93E6D9ED")
HUB_IEEE = 0x00DB120000000000
DEV_IEEE = 0x00DB120000000003


@pytest.fixture(autouse=True)
def zigbee_over_dot15d4():
    previous = getattr(scapy_config.conf, "dot15d4_protocol", None)
    scapy_config.conf.dot15d4_protocol = "zigbee"
    yield
    scapy_config.conf.dot15d4_protocol = previous


def scapy_fcs(body: bytes) -> bytes:
    return Dot15d4FCS().compute_fcs(body)


def _stack(payload_nwk: nwk.NwkFrame, *, mac_dst: int = 0x0001, ack: bool = True,
           key: bytes | None = None) -> bytes:
    return mac.MacFrame(0x5A, 0x1000, mac_dst, payload_nwk.src, payload_nwk.encode(key),
                        ack_request=ack).encode()


# ------------------------------------------------------------- our bytes -> scapy ---

@pytest.mark.parametrize("dst, ack", [(0x0001, True), (0x8123, False), (0xFFFF, False)])
def test_mac_fields_and_fcs_agree_with_scapy(dst: int, ack: bool) -> None:
    raw = mac.MacFrame(0xC3, 0x1A2B, dst, 0x0002, b"\x08\x02\x01\x00", ack).encode()
    pkt = Dot15d4FCS(raw)
    assert pkt.fcf_frametype == 1  # data
    assert pkt.fcf_panidcompress == 1
    assert pkt.fcf_ackreq == int(ack)
    assert pkt.fcf_security == 0 and pkt.fcf_pending == 0
    assert pkt.fcf_destaddrmode == 2 and pkt.fcf_srcaddrmode == 2
    assert pkt.fcf_framever == 0
    assert pkt.seqnum == 0xC3
    data = pkt[Dot15d4Data]
    assert (data.dest_panid, data.dest_addr, data.src_addr) == (0x1A2B, dst, 0x0002)
    assert raw[-2:] == scapy_fcs(raw[:-2])
    assert pkt.fcs == int.from_bytes(raw[-2:], "little")


def test_nwk_unsecured_fields_agree_with_scapy() -> None:
    frame = nwk.NwkFrame(nwk.FRAME_DATA, 0x0001, 0x0000, 30, 0x77,
                         aps.ApsData(1, se.METERING, aps.PROFILE_SE, 1, 9, b"\x10\x01\x00\x00\x00")
                         .encode(), src_ieee=HUB_IEEE, dst_ieee=DEV_IEEE)
    pkt = Dot15d4FCS(_stack(frame))
    n = pkt[ZigbeeNWK]
    assert n.frametype == 0 and n.proto_version == 2 and n.discover_route == 1
    assert "extended_src" in n.flags and "extended_dst" in n.flags and "security" not in n.flags
    assert (n.destination, n.source, n.radius, n.seqnum) == (0x0001, 0x0000, 30, 0x77)
    assert n.ext_src == HUB_IEEE and n.ext_dst == DEV_IEEE


def test_nwk_command_frame_agrees_with_scapy() -> None:
    frame = nwk.NwkFrame(nwk.FRAME_COMMAND, 0x0000, 0x9A2D, 1, 3, nwk.rejoin_request(0x80),
                         src_ieee=DEV_IEEE, discover_route=0)
    n = Dot15d4FCS(_stack(frame, mac_dst=0)).getlayer(ZigbeeNWK)
    assert n.frametype == 1 and n.discover_route == 0
    assert n.source == 0x9A2D and n.ext_src == DEV_IEEE
    assert bytes(n.payload)[:1] == bytes([nwk.CMD_REJOIN_REQUEST])


@pytest.mark.parametrize("dst", [0x0001, nwk.ALL_DEVICES, nwk.RX_ON_WHEN_IDLE, nwk.ALL_ROUTERS])
def test_secured_nwk_security_header_agrees_with_scapy(dst: int) -> None:
    inner = aps.ApsData(0, zdo.MGMT_PERMIT_JOINING_REQ, aps.PROFILE_ZDP, 0, 4,
                        zdo.ZdoMessage(zdo.MGMT_PERMIT_JOINING_REQ, 4, {"duration": 254})
                        .encode(), broadcast=dst >= 0xFFF8).encode()
    frame = nwk.NwkFrame(nwk.FRAME_DATA, dst, 0x0000, 30, 4, inner, src_ieee=HUB_IEEE,
                         secured=True, frame_counter=0xA1B2C3D4, sec_source=HUB_IEEE, key_seq=7)
    mac_dst = 0xFFFF if dst >= 0xFFF8 else dst
    raw = _stack(frame, mac_dst=mac_dst, ack=mac_dst != 0xFFFF, key=KEY)
    pkt = Dot15d4FCS(raw)
    n = pkt[ZigbeeNWK]
    assert "security" in n.flags and n.destination == dst
    sec = pkt[ZigbeeSecurityHeader]
    assert sec.extended_nonce == 1
    assert sec.key_type == 1  # network key
    assert sec.nwk_seclevel == 0  # level is not sent on air
    assert sec.fc == 0xA1B2C3D4
    assert sec.source == HUB_IEEE
    assert sec.key_seqnum == 7
    assert len(sec.data) + len(sec.mic) == len(inner) + 4  # ciphertext + MIC-32

    # Open it with AES-CCM* built from scapy's fields (nonce: ext source, counter, ctl|5).
    ctl = raw[9 + 16]
    nonce = sec.source.to_bytes(8, "little") + sec.fc.to_bytes(4, "little") + bytes([ctl | 5])
    aad = raw[9 : 9 + 16] + bytes([ctl | 5]) + raw[9 + 17 : 9 + 16 + 14]
    plain = AESCCM(KEY, tag_length=4).decrypt(nonce, bytes(sec.data) + bytes(sec.mic), aad)
    assert plain == inner
    app = ZigbeeAppDataPayload(plain)
    assert app.delivery_mode == (2 if dst >= 0xFFF8 else 0)
    assert app.cluster == zdo.MGMT_PERMIT_JOINING_REQ and app.profile == 0


@pytest.mark.parametrize("manufacturer", [None, 0x10F2])
@pytest.mark.parametrize("direction", [zcl.TO_SERVER, zcl.TO_CLIENT])
def test_aps_and_zcl_fields_agree_with_scapy(manufacturer, direction) -> None:
    z = zcl.ZclFrame(zcl.TYPE_CLUSTER, direction, 0x44, se.MSG_DISPLAY_MESSAGE, b"\x01\x02",
                     disable_default_response=False, manufacturer=manufacturer)
    a = aps.ApsData(1, se.MESSAGING, aps.PROFILE_SE, 2, 0x99, z.encode())
    frame = nwk.NwkFrame(nwk.FRAME_DATA, 0x0001, 0x0000, 30, 1, a.encode())
    pkt = Dot15d4FCS(_stack(frame))
    app = pkt[ZigbeeAppDataPayload]
    assert app.aps_frametype == 0 and app.delivery_mode == 0 and app.frame_control == 0
    assert (app.dst_endpoint, app.cluster, app.profile, app.src_endpoint, app.counter) == (
        1, se.MESSAGING, 0x0109, 2, 0x99)
    c = pkt[ZigbeeClusterLibrary]
    assert c.zcl_frametype == 1
    assert c.command_direction == direction
    assert c.disable_default_response == 0
    assert c.manufacturer_specific == (manufacturer is not None)
    if manufacturer is not None:
        assert c.manufacturer_code == manufacturer
    assert c.transaction_sequence == 0x44 and c.command_identifier == se.MSG_DISPLAY_MESSAGE


def test_read_attributes_and_response_payloads_agree_with_scapy() -> None:
    req = ZigbeeClusterLibrary(zcl.ZclFrame(zcl.TYPE_GLOBAL, zcl.TO_SERVER, 3, zcl.READ_ATTRIBUTES,
                                            zcl.read_attributes([0x0000, 0x0400])).encode())
    assert req.zcl_frametype == 0 and req.command_identifier == 0
    assert list(req[ZCLGeneralReadAttributes].attribute_identifiers) == [0x0000, 0x0400]

    payload = zcl.read_attributes_response([
        (0x0000, zcl.STATUS_SUCCESS, zcl.UINT48, 0x060504030201),
        (0x0400, zcl.STATUS_SUCCESS, zcl.INT24, 1736),
        (0x0014, zcl.STATUS_UNSUPPORTED_ATTRIBUTE, None, None),
    ])
    rsp = ZigbeeClusterLibrary(zcl.ZclFrame(zcl.TYPE_GLOBAL, zcl.TO_CLIENT, 3,
                                            zcl.READ_ATTRIBUTES_RESPONSE, payload).encode())
    records = rsp[ZCLGeneralReadAttributesResponse].read_attribute_status_record
    assert [r.attribute_identifier for r in records] == [0x0000, 0x0400, 0x0014]
    assert [r.status for r in records] == [0, 0, 0x86]
    assert records[0].attribute_data_type == 0x25
    assert bytes(records[0].attribute_value) == bytes([1, 2, 3, 4, 5, 6])
    assert records[1].attribute_data_type == 0x2A
    assert int.from_bytes(bytes(records[1].attribute_value), "little") == 1736


def test_device_announce_agrees_with_scapy() -> None:
    msg = zdo.ZdoMessage(zdo.DEVICE_ANNCE, 6, {"nwk": 0x0100, "ieee": DEV_IEEE, "capability": 0x80})
    a = aps.ApsData(0, zdo.DEVICE_ANNCE, aps.PROFILE_ZDP, 0, 2, msg.encode(), broadcast=True)
    frame = nwk.NwkFrame(nwk.FRAME_DATA, nwk.RX_ON_WHEN_IDLE, 0x0100, 30, 1, a.encode())
    pkt = Dot15d4FCS(_stack(frame, mac_dst=0xFFFF, ack=False))
    assert pkt[ZigbeeDeviceProfile].trans_seqnum == 6
    ann = pkt[ZDPDeviceAnnce]
    assert ann.nwk_addr == 0x0100 and ann.ieee_addr == DEV_IEEE
    assert ann.allocate_address == 1


def test_transport_key_aps_security_header_agrees_with_scapy() -> None:
    from s1bench.emulator import mmo

    link = mmo.link_key_from_install_code(bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5"))
    sealed = aps.TransportKey(0x17, KEY, 0, DEV_IEEE, HUB_IEEE, 0x2A).encode(
        mmo.key_transport_key(link))
    frame = nwk.NwkFrame(nwk.FRAME_DATA, 0x0100, 0x0000, 1, 2, sealed, src_ieee=HUB_IEEE,
                         discover_route=0)
    pkt = Dot15d4FCS(_stack(frame, mac_dst=0x0100))
    app = pkt[ZigbeeAppDataPayload]
    assert app.aps_frametype == 1  # command
    assert "security" in app.frame_control
    assert app.counter == 0x17
    sec = pkt[ZigbeeSecurityHeader]
    assert sec.key_type == 2  # key-transport key
    assert sec.extended_nonce == 1 and sec.nwk_seclevel == 0
    assert sec.fc == 0x2A and sec.source == HUB_IEEE


# ----------------------------------------------------------- scapy bytes -> ours ---

def test_scapy_built_mac_frame_decodes_with_ours() -> None:
    pkt = (Dot15d4FCS(fcf_frametype=1, fcf_panidcompress=1, fcf_destaddrmode=2,
                      fcf_srcaddrmode=2, fcf_ackreq=1, seqnum=200)
           / Dot15d4Data(dest_panid=0xBEEF, dest_addr=0x0102, src_addr=0x0304)
           / Raw(b"opaque nwk"))
    frame = mac.MacFrame.decode(bytes(pkt))
    assert frame == mac.MacFrame(200, 0xBEEF, 0x0102, 0x0304, b"opaque nwk", True)


def test_scapy_built_unsecured_nwk_aps_zcl_frame_decodes_with_ours() -> None:
    pkt = (Dot15d4FCS(fcf_frametype=1, fcf_panidcompress=1, fcf_destaddrmode=2,
                      fcf_srcaddrmode=2, fcf_ackreq=1, seqnum=7)
           / Dot15d4Data(dest_panid=0x1000, dest_addr=0x0001, src_addr=0x0000)
           / ZigbeeNWK(frametype=0, proto_version=2, discover_route=1, destination=0x0001,
                       source=0x0000, radius=30, seqnum=5, flags="extended_src",
                       ext_src=HUB_IEEE)
           / ZigbeeAppDataPayload(frame_control=0, aps_frametype=0, delivery_mode=0,
                                  dst_endpoint=1, cluster=se.METERING, profile=0x0109,
                                  src_endpoint=1, counter=9)
           / ZigbeeClusterLibrary(zcl_frametype=0, command_direction=0,
                                  disable_default_response=1, transaction_sequence=3,
                                  command_identifier=0)
           / ZCLGeneralReadAttributes(attribute_identifiers=[0x0000, 0x0400]))
    m = mac.MacFrame.decode(bytes(pkt))
    assert (m.seq, m.pan, m.dst, m.src, m.ack_request) == (7, 0x1000, 1, 0, True)
    n = nwk.NwkFrame.decode(m.payload, KEY, base=mac.HEADER_LEN)
    assert (n.frame_type, n.dst, n.src, n.radius, n.seq, n.src_ieee, n.secured) == (
        nwk.FRAME_DATA, 1, 0, 30, 5, HUB_IEEE, False)
    a = aps.decode(n.payload)
    assert isinstance(a, aps.ApsData)
    assert (a.dst_ep, a.cluster, a.profile, a.src_ep, a.counter, a.broadcast) == (
        1, se.METERING, aps.PROFILE_SE, 1, 9, False)
    z = zcl.ZclFrame.decode(a.payload)
    assert (z.frame_type, z.direction, z.seq, z.command, z.disable_default_response) == (
        zcl.TYPE_GLOBAL, zcl.TO_SERVER, 3, zcl.READ_ATTRIBUTES, True)
    assert zcl.parse_read_attributes(z.payload) == [0x0000, 0x0400]


def test_scapy_built_read_attributes_response_parses_with_ours() -> None:
    pkt = (ZigbeeClusterLibrary(zcl_frametype=0, command_direction=1, transaction_sequence=3,
                                command_identifier=1)
           / ZCLGeneralReadAttributesResponse(read_attribute_status_record=[
               ZCLReadAttributeStatusRecord(attribute_identifier=0x0000, status=0,
                                            attribute_data_type=0x25,
                                            attribute_value=bytes([1, 2, 3, 4, 5, 6])),
               ZCLReadAttributeStatusRecord(attribute_identifier=0x0400, status=0x86)]))
    z = zcl.ZclFrame.decode(bytes(pkt))
    assert (z.direction, z.command) == (zcl.TO_CLIENT, zcl.READ_ATTRIBUTES_RESPONSE)
    assert zcl.parse_read_attributes_response(z.payload) == {
        0x0000: (0, 0x060504030201), 0x0400: (0x86, None)}


# ------------------------------------------------- every frame of a real session ---

@pytest.fixture(scope="module")
def session() -> tuple[list[bytes], bytes, list[bytes]]:
    clock = VirtualClock()

    async def main() -> tuple[list[bytes], bytes, list[bytes]]:
        inst = build(clock, seed=3)
        recorder = FrameRecorder(limit=1 << 30)
        inst.medium.add_tap(recorder)  # type: ignore[arg-type]
        inst.start()
        ppmid = inst.eui_of("PPMID")
        for srv, device, params in [
            ("4.1.1", "ESME", {}), ("2.2", "ESME", {"UTRN": UTRN}),
            ("3.1", "ESME", {"SupplierMessage": "Hello"}), ("6.7", "GSME", {}),
            ("7.2", "ESME", {}), ("6.13", "ESME", {}), ("6.15.1", "ESME", {}),
            ("8.11", "CHF", {"DeviceID": ppmid, "JoinTimePeriod": 300,
                             "InstallCode": inst.labels[ppmid].install_code.hex()}),
        ]:
            response = await dcc(inst).send(srv, device, **params)
            assert response.ok, (srv, response.reason)
        await asyncio.sleep(310)
        assert (await dcc(inst).send("3.1", "PPMID", SupplierMessage="Hi")).ok
        inst.medium.close()
        return recorder.frames, inst.hub.network_key, inst.hub.link.link_keys()

    return clock.run(main())


def _open_aps(payload: bytes, link_keys: list[bytes]) -> aps.ApsFrame:
    """Our APS decode, with whichever link key opens an APS-secured frame."""
    if not payload[0] & aps.FC_SECURITY:
        return aps.decode(payload)
    for key in link_keys:
        try:
            return aps.decode(payload, key)
        except CodecError:
            continue
    raise AssertionError(f"no link key opens APS frame {payload.hex()}")


def test_every_session_frame_parses_the_same_in_scapy(session) -> None:
    frames, key, link_keys = session
    assert len(frames) >= 20
    seen_clusters: set[int] = set()
    mac_kinds: set[int] = set()
    for raw in frames:
        ours = mac.MacFrame.decode(raw)
        pkt = Dot15d4FCS(raw)
        assert raw[-2:] == scapy_fcs(raw[:-2])
        assert (pkt.fcf_frametype, pkt.seqnum) == (ours.frame_type, ours.seq)
        if ours.frame_type != mac.FRAME_DATA:  # acks, beacons, joining's MAC commands
            mac_kinds.add(ours.frame_type)
            continue
        assert (pkt.seqnum, pkt[Dot15d4Data].dest_addr, pkt[Dot15d4Data].src_addr) == (
            ours.seq, ours.dst, ours.src)
        n = nwk.NwkFrame.decode(ours.payload, key)
        sn = pkt[ZigbeeNWK]
        assert (sn.frametype, sn.destination, sn.source, sn.radius, sn.seqnum) == (
            n.frame_type, n.dst, n.src, n.radius, n.seq)
        assert sn.proto_version == 2
        if n.src_ieee is not None:
            assert sn.ext_src == n.src_ieee
        if not n.secured:
            continue
        sec = pkt[ZigbeeSecurityHeader]
        assert (sec.fc, sec.source, sec.key_seqnum, sec.key_type) == (
            n.frame_counter, n.sec_source, n.key_seq, 1)
        app = ZigbeeAppDataPayload(n.payload)
        ours_aps = _open_aps(n.payload, link_keys)
        assert isinstance(ours_aps, aps.ApsData | aps.ApsAck)
        assert (app.dst_endpoint, app.cluster, app.profile, app.src_endpoint, app.counter) == (
            ours_aps.dst_ep, ours_aps.cluster, ours_aps.profile, ours_aps.src_ep,
            ours_aps.counter)
        if isinstance(ours_aps, aps.ApsAck):
            continue
        seen_clusters.add(ours_aps.cluster)
        if ours_aps.profile == aps.PROFILE_SE and ours_aps.security is not None:
            # Scapy cannot open APS security: check our own reading of the plaintext.
            zcl.ZclFrame.decode(ours_aps.payload)
        elif ours_aps.profile == aps.PROFILE_SE:
            z = zcl.ZclFrame.decode(ours_aps.payload)
            sz = app[ZigbeeClusterLibrary]
            assert (sz.zcl_frametype, sz.command_direction, sz.transaction_sequence,
                    sz.command_identifier) == (z.frame_type, z.direction, z.seq, z.command)
    assert {se.METERING, se.PREPAYMENT, se.MESSAGING, se.EVENTS, se.TUNNELING,
            zdo.MGMT_PERMIT_JOINING_REQ, zdo.DEVICE_ANNCE} <= seen_clusters
    assert mac_kinds == {mac.FRAME_ACK, mac.FRAME_BEACON, mac.FRAME_COMMAND}
