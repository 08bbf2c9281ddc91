"""Smart Energy's APS security, APS acks and Request Tunnel, as a user of the HAN sees them.

SE cluster frames between the hub and a device are APS-secured with their
link key (install-code key, then the key agreed by the modelled key
establishment) and acknowledged; a device without that key does not act on
them; management operations run in a tunnel the hub requests, and requests
again when the device lost it.
"""

from __future__ import annotations

from typing import Any

from emu_helpers import build
from s1bench.emulator import aps, key_agreement, mac, mgmt, mmo, nwk, se, zcl
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.codec_errors import CodecError
from s1bench.emulator.han_hostile import FrameRecorder
from s1bench.emulator.headend import Command, OutcomeStatus
from s1bench.emulator.installation import Installation


def _aps_frames(frames: list[bytes], network_key: bytes, link_keys: list[bytes]
                ) -> list[tuple[int, int, aps.ApsFrame]]:
    """(NWK src, NWK dst, APS frame) of every data frame, opened with whichever link key fits."""
    out = []
    for raw in frames:
        m = mac.MacFrame.decode(raw)
        if m.frame_type != mac.FRAME_DATA:  # MAC acks, beacons, joining's commands
            continue
        n = nwk.NwkFrame.decode(m.payload, network_key)
        if n.frame_type != nwk.FRAME_DATA or not n.secured:
            continue
        if not n.payload[0] & aps.FC_SECURITY:
            out.append((n.src, n.dst, aps.decode(n.payload)))
            continue
        for key in link_keys:
            try:
                out.append((n.src, n.dst, aps.decode(n.payload, key)))
                break
            except CodecError:  # another link key: try the next
                continue
        else:
            raise AssertionError("an APS-secured frame no link key of the HAN opens")
    return out


def _run(clock: VirtualClock, body: Any) -> Any:
    async def main() -> Any:
        inst = build(clock, seed=4)
        recorder = FrameRecorder(limit=1 << 30)
        inst.medium.add_tap(recorder)  # type: ignore[arg-type]
        result = await body(inst)
        await clock.sleep(1)  # the last APS ack lands
        return inst, recorder.frames, result

    return clock.run(main())


def _command(op: str, target: str, **args: Any) -> Command:
    return Command(op, target, args)


def test_se_frames_are_link_key_secured_and_acknowledged_in_both_directions() -> None:
    async def body(inst: Installation) -> Any:
        return await inst.execute(_command("read_import_registers", inst.eui_of("ESME")))

    inst, frames, outcome = _run(VirtualClock(), body)
    assert outcome.status == OutcomeStatus.DONE
    esme = inst.devices[inst.eui_of("ESME")]
    decoded = _aps_frames(frames, inst.hub.network_key, [esme.link_key])
    data = [(s, d, a) for s, d, a in decoded if isinstance(a, aps.ApsData)]
    acks = [(s, d, a) for s, d, a in decoded if isinstance(a, aps.ApsAck)]
    assert [(s, d) for s, d, _ in data] == [(0x0000, esme.short), (esme.short, 0x0000)]
    for src, dst, frame in data:
        assert frame.profile == aps.PROFILE_SE and frame.ack_request
        assert frame.security is not None and frame.security.key_id == aps.KEY_ID_DATA
        # Each is acknowledged by its receiver, under the same link key, naming its counter.
        ack = next(a for s, d, a in acks if (s, d) == (dst, src) and a.counter == frame.counter)
        assert ack.cluster == frame.cluster and ack.profile == aps.PROFILE_SE
        assert ack.security is not None and ack.security.key_id == aps.KEY_ID_DATA
    kinds = [mac.MacFrame.decode(f).frame_type for f in frames]
    # Request, APS ack, answer, APS ack; each MAC-acknowledged on air as well.
    assert kinds.count(mac.FRAME_DATA) == 4 and kinds.count(mac.FRAME_ACK) == 4


def test_a_device_without_the_hubs_link_key_does_not_act() -> None:
    async def body(inst: Installation) -> Any:
        esme = inst.devices[inst.eui_of("ESME")]
        esme.link_key = bytes(16)  # some other key than the one agreed with the hub
        return await inst.execute(_command("change_supply", inst.eui_of("ESME"), Supply="Disabled"))

    inst, _, outcome = _run(VirtualClock(), body)
    assert outcome.status == OutcomeStatus.SILENT
    assert inst.devices[inst.eui_of("ESME")].supply == se.SUPPLY_ON  # type: ignore[attr-defined]
    assert inst.medium.stats.malformed == 0  # refused for security, not counted as garbled


def test_a_device_gone_from_the_key_table_can_no_longer_be_read() -> None:
    async def body(inst: Installation) -> Any:
        esme = inst.eui_of("ESME")
        before = await inst.execute(_command("read_import_registers", esme))
        # The trust centre forgets the device's key (the link's removal; the hub's device
        # log still lists it, so the hub still tries).
        inst.hub.link.remove_device(inst.devices[esme].ieee, None)
        after = await inst.execute(_command("read_import_registers", esme))
        return before, after

    _, _, (before, after) = _run(VirtualClock(), body)
    assert before.status == OutcomeStatus.DONE
    assert after.status == OutcomeStatus.SILENT


def test_se_frame_without_aps_security_is_refused_by_the_device() -> None:
    clock = VirtualClock()

    async def main() -> int:
        inst = build(clock, seed=4)
        esme = inst.devices[inst.eui_of("ESME")]
        change = se.CHANGE_SUPPLY.build({"provider_id": 1, "issuer_event_id": 1,
                                         "request_time": 0, "implementation_time": 0,
                                         "proposed_status": se.SUPPLY_OFF, "control_bits": 0})
        frame = aps.ApsData(1, se.METERING, aps.PROFILE_SE, 1, 1, zcl.ZclFrame(
            zcl.TYPE_CLUSTER, zcl.TO_SERVER, 5, se.MET_CHANGE_SUPPLY, change).encode())
        n = nwk.NwkFrame(nwk.FRAME_DATA, esme.short, 0x0000, 30, 1, frame.encode(),
                         src_ieee=inst.hub.ieee, secured=True, frame_counter=10_000,
                         sec_source=inst.hub.ieee)
        esme.frame_received(mac.MacFrame(1, inst.pan, esme.short, 0x0000,
                                         n.encode(inst.hub.network_key)).encode())
        return esme.supply  # type: ignore[attr-defined]

    assert clock.run(main()) == se.SUPPLY_ON


def test_a_late_joiner_agrees_a_link_key_with_the_hub_and_uses_it() -> None:
    clock = VirtualClock()

    async def main() -> tuple[Installation, Any]:
        inst = build(clock, seed=4)
        inst.start()
        ppmid = inst.eui_of("PPMID")
        added = await inst.execute(_command("update_device_log", inst.hub_eui, DeviceID=ppmid,
                                            RequestType="Add", JoinTimePeriod=300,
                                            InstallCode=inst.labels[ppmid].install_code))
        assert added.status == OutcomeStatus.DONE, added.reason
        await clock.sleep(310)
        shown = await inst.execute(_command("display_message", ppmid, SupplierMessage="Hi"))
        return inst, shown

    inst, shown = clock.run(main())
    assert shown.status == OutcomeStatus.DONE
    device = inst.devices[inst.eui_of("PPMID")]
    install_key = mmo.link_key_from_install_code(inst.labels[inst.eui_of("PPMID")].install_code)
    agreed = key_agreement.agreed_link_key(device.ieee, inst.hub.ieee, install_key)
    assert device.link_key == agreed != install_key
    assert inst.hub.link.link_key_at(device.short) == agreed  # type: ignore[attr-defined]


def _tunnel_commands(frames: list[bytes], inst: Installation) -> list[tuple[int, int, int]]:
    """(direction, command, tunnel id or status) of every Tunneling cluster command, in order."""
    keys = [d.link_key for d in inst.devices.values() if d.link_key is not None]
    out = []
    for _, _, a in _aps_frames(frames, inst.hub.network_key, keys):
        if isinstance(a, aps.ApsData) and a.cluster == se.TUNNELING:
            z = zcl.ZclFrame.decode(a.payload)
            out.append((z.direction, z.command, int.from_bytes(z.payload[:2], "little")))
    return out


REQUEST = (zcl.TO_SERVER, se.TUN_REQUEST_TUNNEL)
TRANSFER = (zcl.TO_SERVER, se.TUN_TRANSFER_DATA_TO_SERVER)
ERROR = (zcl.TO_CLIENT, se.TUN_TRANSFER_DATA_ERROR_TO_CLIENT)


def test_the_hub_requests_a_tunnel_before_the_first_operation_and_then_reuses_it() -> None:
    async def body(inst: Installation) -> Any:
        esme = inst.eui_of("ESME")
        return [await inst.execute(_command("read_credentials", esme)) for _ in range(2)]

    inst, frames, outcomes = _run(VirtualClock(), body)
    assert all(o.status == OutcomeStatus.DONE for o in outcomes)
    kinds = [c[:2] for c in _tunnel_commands(frames, inst)]
    assert kinds == [REQUEST, (zcl.TO_CLIENT, se.TUN_REQUEST_TUNNEL_RESPONSE), TRANSFER,
                     (zcl.TO_CLIENT, se.TUN_TRANSFER_DATA_TO_CLIENT), TRANSFER,
                     (zcl.TO_CLIENT, se.TUN_TRANSFER_DATA_TO_CLIENT)]


def test_the_hub_requests_a_new_tunnel_after_it_reset_the_device() -> None:
    async def body(inst: Installation) -> Any:
        esme = inst.eui_of("ESME")
        first = await inst.execute(_command("read_credentials", esme))
        assert inst.recover(esme)  # Mgmt_Leave_req with rejoin: the device resets
        await inst.clock.sleep(1)
        second = await inst.execute(_command("read_credentials", esme))
        return first, second

    inst, frames, (first, second) = _run(VirtualClock(), body)
    assert first.status == second.status == OutcomeStatus.DONE
    commands = _tunnel_commands(frames, inst)
    assert [c[:2] for c in commands].count(REQUEST) == 2
    assert ERROR not in [c[:2] for c in commands]  # the hub knew: no failed transfer first
    transfers = [c[2] for c in commands if c[:2] == TRANSFER]
    assert transfers[0] != transfers[1]  # a new tunnel id, not the old one reused
    assert list(inst.devices[inst.eui_of("ESME")].tunnels) == [transfers[1]]


def test_no_such_tunnel_makes_the_hub_request_one_and_send_again() -> None:
    async def body(inst: Installation) -> Any:
        esme = inst.eui_of("ESME")
        await inst.execute(_command("read_credentials", esme))
        inst.devices[esme].reset_tunnels()  # a reset the hub did not cause (power cut)
        return await inst.execute(_command("read_credentials", esme))

    inst, frames, outcome = _run(VirtualClock(), body)
    assert outcome.status == OutcomeStatus.DONE
    kinds = [c[:2] for c in _tunnel_commands(frames, inst)]
    after = kinds[4:]  # the first operation: request, response, transfer, answer
    assert after[:4] == [TRANSFER, ERROR, REQUEST, (zcl.TO_CLIENT,
                                                     se.TUN_REQUEST_TUNNEL_RESPONSE)]
    error = next(c for c in _tunnel_commands(frames, inst) if c[:2] == ERROR)
    assert error[2] == 1  # the old tunnel id named back


def test_a_tunnel_for_another_protocol_is_refused() -> None:
    async def body(inst: Installation) -> Any:
        ieee = inst.devices[inst.eui_of("ESME")].ieee
        answer = await inst.hub.exchange(ieee, se.TUNNELING, zcl.TYPE_CLUSTER,
                                         se.TUN_REQUEST_TUNNEL, se.REQUEST_TUNNEL.build({
                                             "protocol_id": 6,  # GB-HRGP
                                             "manufacturer_code": 0xFFFF, "flow_control": 0,
                                             "max_incoming_transfer_size": 1500}))
        return se.REQUEST_TUNNEL_RESPONSE.parse(answer.payload)

    inst, _, response = _run(VirtualClock(), body)
    assert response.status == se.TUNNEL_PROTOCOL_NOT_SUPPORTED
    assert response.tunnel_id == se.NO_TUNNEL
    assert not inst.devices[inst.eui_of("ESME")].tunnels
    assert mgmt.PROTOCOL_ID >= 200  # s1bench's own operations: a manufacturer-defined id
