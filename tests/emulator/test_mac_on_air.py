"""The MAC and NWK as they are on air (issue 13, point 1).

MAC acks after every unicast that asks for one and retries when none comes
(802.15.4-2006 7.5.6.4), a first join by beacon and association, a rejoin
that is answered, and counters that start where a device in the field would
have them, each moving on its own.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from emu_helpers import build
from mqtt_broker import mqtt_broker_fixture  # noqa: F401  (the mqtt_broker fixture)
from s1bench.emulator import aps, mac, mmo, nwk, zcl, zdo
from s1bench.emulator.capture import CaptureTap
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.coordinator import FIRST_JOINER_SHORT
from s1bench.emulator.installation import Installation
from s1bench.emulator.medium import make_medium
from s1bench.emulator.medium_memory import MemoryMedium
from s1bench.emulator.node import HanNode
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.dcc import DccRole
from scapy.utils import RawPcapReader

NETWORK_KEY = bytes(range(16))
PAN = 0x1A2B


def _frames(path: Path) -> list[tuple[float, mac.MacFrame, bytes]]:
    out = []
    for data, meta in RawPcapReader(str(path)):
        raw = bytes(data)
        out.append((meta.sec + meta.usec / 1e6, mac.MacFrame.decode(raw), raw))
    return out


def _counters(node: HanNode) -> tuple[int, ...]:
    return (node._mac_seq, node._nwk_seq, node._frame_counter, node._aps_counter,
            node._zcl_seq, node._zdo_seq)


def _pair(clock: VirtualClock, medium: MemoryMedium) -> tuple[HanNode, HanNode]:
    a = HanNode(0x00DB_1200_0000_0A01, 0x0000, PAN, medium, clock, extended_pan=0xE1)
    b = HanNode(0x00DB_1200_0000_0A02, 0x0042, PAN, medium, clock, extended_pan=0xE1)
    for node in (a, b):
        node.network_key = NETWORK_KEY
        medium.attach(node)
    return a, b


def _read(seq: int) -> zcl.ZclFrame:
    return zcl.ZclFrame(zcl.TYPE_GLOBAL, zcl.TO_SERVER, seq, zcl.READ_ATTRIBUTES, b"\x00\x00")


#: Home Automation: a profile with no APS link-key security or APS acks, so these
#: MAC-level tests see only the MAC's frames (test_aps_security.py has the SE ones).
PROFILE_HA = 0x0104


def _send_read(a: HanNode, b: HanNode) -> None:
    a.send_aps(b.short, _read(a.next_zcl_seq()).encode(), 0x0702, PROFILE_HA, 1)


# ---- acks and retries ----------------------------------------------------------

def _lossy_session(tmp_path: Path, *, loss: float, powered: bool = True) -> dict[str, Any]:
    clock = VirtualClock()
    pcap = tmp_path / "lossy.pcap"

    async def main() -> dict[str, Any]:
        medium = MemoryMedium(clock=clock, seed=11, loss=loss)
        medium.add_tap(CaptureTap(pcap))
        a, b = _pair(clock, medium)
        b.powered = powered
        for _ in range(40):
            _send_read(a, b)
            await asyncio.sleep(1)
        medium.close()
        return {"stats": medium.stats, "a": a}

    out = clock.run(main())
    out["frames"] = _frames(pcap)
    return out


def test_a_lost_frame_is_sent_again_with_the_same_dsn_until_acked(tmp_path: Path) -> None:
    out = _lossy_session(tmp_path, loss=0.4)
    data = [(t, m, raw) for t, m, raw in out["frames"] if m.frame_type == mac.FRAME_DATA]
    acks = [(t, m) for t, m, _ in out["frames"] if m.frame_type == mac.FRAME_ACK]
    by_dsn: dict[int, list[tuple[float, bytes]]] = {}
    for t, m, raw in data:
        by_dsn.setdefault(m.seq, []).append((t, raw))
    assert len(by_dsn) == 40  # one DSN per frame the node sent, retries included
    repeated = {dsn: sends for dsn, sends in by_dsn.items() if len(sends) > 1}
    assert repeated, "with 40% loss some frame must have been retried"
    assert out["stats"].retries == sum(len(s) - 1 for s in by_dsn.values())
    for sends in by_dsn.values():
        assert len(sends) <= 1 + mac.MAX_FRAME_RETRIES
        assert len({raw for _, raw in sends}) == 1  # the same bytes each time
        # Each retry macAckWaitDuration (864 us) after the previous attempt ended.
        for (t0, raw), (t1, _) in itertools.pairwise(sends):
            assert t1 - t0 == pytest.approx(mac.airtime(len(raw)) + 864e-6, abs=2e-6)
    acked = {m.seq for _, m in acks}
    # A frame is acked once, on its last attempt; one never acked was sent four times.
    assert len(acks) == len(acked)
    for dsn, sends in by_dsn.items():
        assert dsn in acked or len(sends) == 1 + mac.MAX_FRAME_RETRIES


def test_a_receiver_that_is_off_never_acks_and_each_frame_goes_out_four_times(
        tmp_path: Path) -> None:
    out = _lossy_session(tmp_path, loss=0.0, powered=False)
    kinds = [m.frame_type for _, m, _ in out["frames"]]
    assert mac.FRAME_ACK not in kinds
    assert kinds.count(mac.FRAME_DATA) == 40 * (1 + mac.MAX_FRAME_RETRIES)


def test_without_loss_every_unicast_is_acked_once_and_broadcasts_never(tmp_path: Path) -> None:
    clock = VirtualClock()
    pcap = tmp_path / "clean.pcap"

    async def main() -> None:
        medium = MemoryMedium(clock=clock, seed=3)
        medium.add_tap(CaptureTap(pcap))
        a, b = _pair(clock, medium)
        _send_read(a, b)
        await asyncio.sleep(1)
        a.send_zdo(0, zdo.ZdoMessage(zdo.MGMT_PERMIT_JOINING_REQ, a.next_zdo_seq(),
                                     {"duration": 10, "tc_significance": 1}),
                   broadcast_to=nwk.ALL_ROUTERS)
        await asyncio.sleep(1)
        medium.close()

    clock.run(main())
    frames = _frames(pcap)
    assert [m.frame_type for _, m, _ in frames] == [mac.FRAME_DATA, mac.FRAME_ACK,
                                                    mac.FRAME_DATA]
    (t_data, data, raw), (t_ack, ack, ack_raw) = frames[0], frames[1]
    assert data.ack_request and ack.seq == data.seq and len(ack_raw) == 5
    assert t_ack - t_data == pytest.approx(mac.airtime(len(raw)) + 192e-6, abs=2e-6)
    assert not frames[2][1].ack_request


# ---- counters -------------------------------------------------------------------

def _installation_counters(seed: int) -> dict[str, tuple[int, ...]]:
    clock = VirtualClock()

    async def main() -> dict[str, tuple[int, ...]]:
        inst = build(clock, seed=seed)
        out = {"CHF": _counters(inst.hub.link)}  # type: ignore[arg-type]
        for eui, device in inst.devices.items():
            out[eui] = _counters(device)
        return out

    return clock.run(main())


def test_counters_start_at_seeded_field_values_that_differ_between_nodes() -> None:
    first = _installation_counters(5)
    assert first == _installation_counters(5)  # a seed replays
    other = _installation_counters(6)
    assert all(first[k] != other[k] for k in first)  # another seed, other values
    values = list(first.values())
    assert len(set(values)) == len(values)
    for counters in values:
        mac_seq, nwk_seq, frame_counter, aps_counter, zcl_seq, zdo_seq = counters
        assert frame_counter > 0xFFFF  # years of secured frames already sent
        # Independent draws: the byte counters do not all start together.
        assert len({mac_seq, nwk_seq, aps_counter, zcl_seq, zdo_seq}) >= 3
    assert {c[0] for c in values} != {1}


def test_counters_move_independently_and_zdo_is_not_zcl(tmp_path: Path) -> None:
    clock = VirtualClock()
    pcap = tmp_path / "hub.pcap"

    async def main() -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], bytes, Any]:
        inst = build(clock, seed=2, capture=str(pcap))
        coordinator = inst.hub.link
        start = _counters(coordinator)  # type: ignore[arg-type]
        coordinator.permit_joining(30)  # ZDO: Mgmt_Permit_Joining_req
        await asyncio.sleep(1)
        after_zdo = _counters(coordinator)  # type: ignore[arg-type]
        esme = inst.devices[inst.eui_of("ESME")]
        coordinator.send_zcl(esme.short, 0x0702, _read(coordinator.next_zcl_seq()))
        await asyncio.sleep(1)
        inst.medium.close()
        return (start, after_zdo, _counters(coordinator),  # type: ignore[arg-type]
                inst.hub.network_key, coordinator.link_key_at(esme.short))

    start, after_zdo, after_zcl, key, link_key = clock.run(main())
    moved = [b - a for a, b in zip(start, after_zdo, strict=True)]
    # MAC DSN, NWK seq, frame counter and APS counter moved by one frame; ZDO's TSN
    # moved, ZCL's did not.
    assert moved == [1, 1, 1, 1, 0, 1]
    moved = [b - a for a, b in zip(after_zdo, after_zcl, strict=True)]
    # Two frames: the read, and the APS ack of its answer. Each is APS-secured, so each
    # takes two frame counter values (APS header, then NWK); the ack reuses the answer's
    # APS counter; ZCL's TSN moved once and ZDO's not at all.
    assert moved == [2, 2, 4, 1, 1, 0]
    # On air: the hub's frames carry its own DSNs, NWK sequence numbers and TSNs.
    sent = [m for _, m, _ in _frames(pcap) if m.frame_type == mac.FRAME_DATA and m.src == 0]
    assert [m.seq for m in sent] == [after_zdo[0], (after_zdo[0] + 1) % 256, after_zcl[0]]
    permit, read, _ = (nwk.NwkFrame.decode(m.payload, key, base=mac.HEADER_LEN) for m in sent)
    assert (permit.seq, permit.frame_counter) == (after_zdo[1], after_zdo[2])
    assert (read.seq, read.frame_counter) == ((after_zdo[1] + 1) % 256, after_zdo[2] + 2)
    zdp_tsn = aps.decode(permit.payload).payload[0]  # type: ignore[union-attr]
    opened = aps.decode(read.payload, link_key, source_ieee=read.src_ieee)
    zcl_tsn = zcl.ZclFrame.decode(opened.payload).seq  # type: ignore[union-attr]
    assert (zdp_tsn, zcl_tsn) == (after_zdo[5], after_zcl[4])


# ---- joining ----------------------------------------------------------------------

def _join_session(tmp_path: Path, *, permit: int, ihd_key: bool = False) -> dict[str, Any]:
    clock = VirtualClock()
    pcap = tmp_path / "join.pcap"

    async def main() -> dict[str, Any]:
        inst: Installation = build(clock, seed=4, capture=str(pcap))
        ihd = inst.devices[inst.eui_of("IHD")]
        coordinator = inst.hub.link
        if ihd_key:
            assert ihd.install_code is not None
            coordinator.add_link_key(ihd.ieee,  # type: ignore[attr-defined]
                                     mmo.link_key_from_install_code(ihd.install_code))
        if permit:
            coordinator.permit_joining(permit)
        inst.start()
        await asyncio.sleep(60)
        inst.medium.close()
        return {"ihd": ihd, "inst": inst}

    out = clock.run(main())
    out["frames"] = _frames(pcap)
    return out


def _commands(frames: list[tuple[float, mac.MacFrame, bytes]]) -> list[mac.MacFrame]:
    return [m for _, m, _ in frames if m.frame_type == mac.FRAME_COMMAND]


def test_a_device_without_a_key_is_associated_but_never_gets_the_network_key(
        tmp_path: Path) -> None:
    """The IHD of the reference installation: its join is answered, the key withheld."""
    out = _join_session(tmp_path, permit=200)
    ihd = out["ihd"]
    responses = [m for m in _commands(out["frames"])
                 if m.command == mac.CMD_ASSOCIATION_RESPONSE and m.dst == ihd.ieee]
    assert responses
    short, status = mac.parse_association_response(responses[0].payload)
    assert status == mac.ASSOC_SUCCESS and short >= FIRST_JOINER_SHORT
    assert ihd.short == short and ihd.network_key is None
    nwk_frames = [mac.MacFrame.decode(raw) for _, m, raw in out["frames"]
                  if m.frame_type == mac.FRAME_DATA and m.dst == short]
    assert nwk_frames == []  # no Transport Key to it


def test_a_device_with_a_key_joins_by_association_and_announces_itself(tmp_path: Path) -> None:
    out = _join_session(tmp_path, permit=200, ihd_key=True)
    ihd, inst = out["ihd"], out["inst"]
    assert ihd.network_key == inst.hub.network_key
    order = [m.command for m in _commands(out["frames"])
             if m.src in (ihd.ieee, None) or m.dst == ihd.ieee]
    assert order[:4] == [mac.CMD_BEACON_REQUEST, mac.CMD_ASSOCIATION_REQUEST,
                         mac.CMD_DATA_REQUEST, mac.CMD_ASSOCIATION_RESPONSE]
    # Its Device_annce, from the address the association gave it, under the network key.
    announced = [nwk.NwkFrame.decode(m.payload, ihd.network_key,
                                     base=mac.HEADER_LEN)
                 for _, m, _ in out["frames"]
                 if m.frame_type == mac.FRAME_DATA and m.src == ihd.short]
    # Then key establishment with the trust centre (the modelled CBKE), to the hub.
    assert [n.dst for n in announced][:2] == [nwk.RX_ON_WHEN_IDLE, 0x0000]


def test_a_closed_window_beacons_no_permit_and_refuses_association(tmp_path: Path) -> None:
    out = _join_session(tmp_path, permit=0)
    frames = out["frames"]
    beacons = [m for _, m, _ in frames if m.frame_type == mac.FRAME_BEACON]
    assert beacons
    for beacon in beacons:
        superframe = mac.parse_beacon(beacon.payload).superframe
        assert not superframe & mac.SUPERFRAME_ASSOCIATION_PERMIT
        network = mac.parse_zigbee_beacon(mac.parse_beacon(beacon.payload).payload)
        assert (network.stack_profile, network.protocol_version) == (2, 2)
        assert network.extended_pan_id == out["inst"].hub.ieee
    # Seeing no permit, the joiners do not ask.
    assert not [m for m in _commands(frames) if m.command == mac.CMD_ASSOCIATION_REQUEST]
    assert out["ihd"].network_key is None


def test_an_association_request_while_closed_is_answered_access_denied(
        tmp_path: Path) -> None:
    clock = VirtualClock()
    pcap = tmp_path / "denied.pcap"

    async def main() -> int:
        inst = build(clock, seed=4, capture=str(pcap))
        ppmid = inst.devices[inst.eui_of("PPMID")]
        ppmid.send_mac(mac.association_request(0, inst.pan, 0, ppmid.ieee,
                                               mac.CAP_ALLOCATE_ADDRESS))
        await asyncio.sleep(mac.RESPONSE_WAIT_S)
        ppmid.send_mac(mac.data_request(0, inst.pan, 0, ppmid.ieee))
        await asyncio.sleep(1)
        inst.medium.close()
        return ppmid.ieee

    ieee = clock.run(main())
    responses = [m for m in _commands(_frames(pcap))
                 if m.command == mac.CMD_ASSOCIATION_RESPONSE]
    assert [(m.dst, mac.parse_association_response(m.payload)) for m in responses] == [
        (ieee, (0xFFFF, mac.ASSOC_ACCESS_DENIED))]


def test_a_device_that_lost_the_network_rejoins_and_is_answered(tmp_path: Path) -> None:
    clock = VirtualClock()
    pcap = tmp_path / "rejoin.pcap"

    async def main() -> tuple[Any, Any]:
        inst = build(clock, seed=4, capture=str(pcap))
        ppmid = inst.devices[inst.eui_of("PPMID")]
        assert ppmid.install_code is not None
        inst.hub.link.add_link_key(ppmid.ieee,  # type: ignore[attr-defined]
                                   mmo.link_key_from_install_code(ppmid.install_code))
        # No join window: a rejoin needs none.
        ppmid.start_joining(rejoin=True)
        await asyncio.sleep(60)
        inst.medium.close()
        return ppmid, inst

    ppmid, inst = clock.run(main())
    assert ppmid.network_key == inst.hub.network_key
    commands = [nwk.NwkFrame.decode(m.payload).payload[0] for _, m, _ in _frames(pcap)
                if m.frame_type == mac.FRAME_DATA and m.payload[0] & 0x03 == nwk.FRAME_COMMAND]
    assert commands == [nwk.CMD_REJOIN_REQUEST, nwk.CMD_REJOIN_RESPONSE]
    assert ppmid.short == FIRST_JOINER_SHORT


def test_a_ppmid_joins_by_association_over_mqtt(mqtt_broker: int) -> None:
    """The joining frames find their way over the broker too (topics of the PAN)."""
    clock = VirtualClock()
    spec = resolve_dmc("reference")

    async def run() -> tuple[str, int | None, int]:
        medium = make_medium("mqtt", port=mqtt_broker, clock=clock, seed=4, remote_wait=0)
        await medium.start()
        inst = build_installation(spec, clock, seed=4, medium=medium)
        inst.start()
        ppmid = inst.eui_of("PPMID")
        code = inst.labels[ppmid].install_code
        assert code is not None
        try:
            response = await DccRole(inst, spec.dcc_quirks, seed=4).send(
                "8.11", "CHF", DeviceID=ppmid, JoinTimePeriod=60, InstallCode=code.hex())
            await clock.sleep(65)
            device = inst.devices[ppmid]
            return (response.response_code or "", inst.hub.short_of(device.ieee),
                    device.short)
        finally:
            await medium.aclose()

    code, hub_knows, short = clock.run(run())
    assert code == "I0"
    assert hub_knows == short >= FIRST_JOINER_SHORT


def test_a_closed_beacon_does_not_end_a_scan_an_open_one_answers_later() -> None:
    """A host closes and reopens the window (zigpy's permit_with_link_key does): the
    scan that heard a stale "closed" beacon still associates on the open one."""
    clock = VirtualClock()

    async def main() -> tuple[bytes | None, bytes]:
        inst = build(clock, seed=4)
        ppmid = inst.devices[inst.eui_of("PPMID")]
        coordinator = inst.hub.link
        assert ppmid.install_code is not None
        coordinator.add_link_key(ppmid.ieee,  # type: ignore[attr-defined]
                                 mmo.link_key_from_install_code(ppmid.install_code))
        ppmid.start_joining()
        ppmid.join_now()  # scans while the window is closed: the beacon will say so
        # The "closed" beacon leaves the coordinator at 5 ms and lands at 10 ms.
        await asyncio.sleep(0.007)
        coordinator.permit_joining(60)  # type: ignore[attr-defined]
        ppmid.join_now()  # the permit's nudge: a second scan, the closed beacon in flight
        await asyncio.sleep(5)  # well inside the first back-off (60 s)
        return ppmid.network_key, inst.hub.network_key

    joined_key, network_key = clock.run(main())
    assert joined_key == network_key


def test_a_capture_closed_right_after_a_frame_still_holds_its_ack(tmp_path: Path) -> None:
    """`s1bench srv --capture` closes as soon as the answer is in: the ack is on air too."""
    clock = VirtualClock()
    pcap = tmp_path / "closed.pcap"

    async def main() -> None:
        medium = MemoryMedium(clock=clock, seed=3)
        medium.add_tap(CaptureTap(pcap))
        a, b = _pair(clock, medium)
        _send_read(a, b)
        await asyncio.sleep(0.006)  # delivered (5 ms); the ack was due at 2.3 ms... and
        _send_read(a, b)
        medium.close()  # ... this one's is still due when the capture closes

    clock.run(main())
    frames = _frames(pcap)
    assert [m.frame_type for _, m, _ in frames] == [mac.FRAME_DATA, mac.FRAME_ACK,
                                                    mac.FRAME_DATA, mac.FRAME_ACK]
    (t_data, data, raw), (t_ack, ack, _) = frames[2], frames[3]
    assert ack.seq == data.seq
    assert t_ack - t_data == pytest.approx(mac.airtime(len(raw)) + 192e-6, abs=2e-6)
