"""HAN security negatives (issue 13, point 4): hostile frames are dropped, logged, never acted on.

Each hostile frame goes on the installation's medium from an outsider in
range; what a user would notice is read back over the head-end, as a DCC
would: the meter's supply status, the alerts the WAN side received, and the
target's security log (6.13's read).
"""

from __future__ import annotations

from typing import Any

import pytest
from emu_helpers import build
from s1bench.emulator import han_guard, han_hostile, nwk, se, zcl
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.headend import Command, OutcomeStatus, eui64_int
from s1bench.emulator.installation import REFERENCE_DMC, Installation
from s1bench.emulator.medium import make_medium
from s1bench.harness.dcc.authority import DccAuthority

#: The supplier's signing keys (the pre-migration operator's, as the installation holds).
_SUPPLIER = DccAuthority()

FORGED = ("bad_mic", "wrong_network_key", "unknown_device")
CODE = {"bad_mic": "8F53", "wrong_network_key": "8F53", "unknown_device": "8F3E",
        "replayed_counter": "8F60"}


async def _supply(inst: Installation, device: str) -> str:
    outcome = await inst.execute(Command("read_supply", inst.eui_of(device)))
    assert outcome.status == OutcomeStatus.DONE, outcome.reason
    return str(outcome.data["SupplyStatus"])


async def _security_codes(inst: Installation, device: str) -> list[str]:
    outcome = await inst.execute(Command("read_log", inst.eui_of(device),
                                         {"LogToRead": "Security"}))
    assert outcome.status == OutcomeStatus.DONE, outcome.reason
    return [e["EventCode"] for e in outcome.data["Events"]]


async def _change(inst: Installation, device: str, supply: str) -> None:
    """A supply change as the supplier sends it: signed (a meter acts on no unsigned one)."""
    command = Command("change_supply", inst.eui_of(device), {"Supply": supply})
    assert _SUPPLIER.sign(command, "Supplier")
    outcome = await inst.execute(command)
    assert outcome.status == OutcomeStatus.DONE, outcome.reason


async def _replayable_disable(inst: Installation, device: str) -> bytes:
    """A genuine Disable Supply the meter accepted, captured off the air; supply back on."""
    recorder = han_hostile.FrameRecorder()
    assert inst.medium is not None
    inst.medium.add_tap(recorder)
    await _change(inst, device, "Disabled")
    await _change(inst, device, "Enabled")
    command = han_hostile.COMMANDS["disable_supply"]
    where = han_hostile.aim(inst, device, command)
    assert inst.hub.network_key is not None
    raw = han_hostile.captured(recorder, inst.hub.network_key, where.target_short, command,
                               where.link_key)
    assert raw is not None
    return raw


@pytest.mark.parametrize("device", ["ESME", "GSME"])
@pytest.mark.parametrize("kind", [*FORGED, "replayed_counter"])
def test_a_hostile_disable_supply_is_dropped_logged_and_not_acted_on(
        clock: VirtualClock, kind: str, device: str) -> None:
    async def main() -> tuple[str, list[str], list[str], str]:
        inst = build(clock)
        if kind == "replayed_counter":
            raw = await _replayable_disable(inst, device)
        else:
            raw = han_hostile.forge(inst, kind, device, han_hostile.COMMANDS["disable_supply"])
        before = await _security_codes(inst, device)
        han_hostile.transmit(inst, raw)
        await clock.sleep(1)
        supply = await _supply(inst, device)
        after = await _security_codes(inst, device)
        # A genuine command afterwards is carried out: the meter is not wedged.
        await _change(inst, device, "Disabled")
        return supply, before, after, await _supply(inst, device)

    supply, before, after, later = clock.run(main())
    assert supply == "Enabled"
    assert after.count(CODE[kind]) == before.count(CODE[kind]) + 1
    assert later == "Disabled"


@pytest.mark.parametrize("kind", [*FORGED, "replayed_counter"])
def test_a_hostile_alert_to_the_hub_is_dropped_logged_and_not_relayed(
        clock: VirtualClock, kind: str) -> None:
    command = han_hostile.COMMANDS["publish_alert"]

    async def main() -> tuple[int, int, list[str]]:
        inst = build(clock)
        if kind == "replayed_counter":
            recorder = han_hostile.FrameRecorder()
            assert inst.medium is not None and inst.hub.network_key is not None
            inst.medium.add_tap(recorder)
            esme = inst.devices[inst.eui_of("ESME")]
            esme.raise_alert(han_hostile.ALERT_CODE, "power")  # a genuine one, relayed
            await clock.sleep(1)
            where = han_hostile.aim(inst, "CHF", command)
            raw = han_hostile.captured(recorder, inst.hub.network_key, 0, command,
                                       where.link_key)
            assert raw is not None
        else:
            raw = han_hostile.forge(inst, kind, "CHF", command)
        relayed = len(inst.alerts)
        han_hostile.transmit(inst, raw)
        await clock.sleep(1)
        return relayed, len(inst.alerts), await _security_codes(inst, "CHF")

    relayed, after, codes = clock.run(main())
    assert after == relayed
    assert codes.count(CODE[kind]) == 1


def _insider_frame(inst: Installation, clock: VirtualClock, device: str,
                   command: han_hostile.Command) -> bytes:
    """The frame a forger builds, sealed properly: right keys, a fresh counter."""
    where = han_hostile.aim(inst, device, command)
    assert inst.hub.network_key is not None
    sender: Any = inst.hub.link if command.sender == "hub" else next(
        d for d in inst.devices.values() if d.ieee == where.claimed_ieee)
    # The sender's next counter, taken as it would take it, so its own frames stay fresh.
    sender._frame_counter += 1
    return han_hostile.seal(pan=inst.pan, dst=where.target_short, src=where.claimed_short,
                            source_ieee=where.claimed_ieee, key=inst.hub.network_key,
                            counter=sender._frame_counter, key_seq=0, cluster=command.cluster,
                            frame=command.build(clock), link_key=where.link_key)


def test_a_forged_frame_would_be_acted_on_without_its_fault(clock: VirtualClock) -> None:
    """The forger is not broken: an alert sealed properly by an insider is relayed."""
    async def main() -> tuple[int, int]:
        inst = build(clock)
        before = len(inst.alerts)
        han_hostile.transmit(inst, _insider_frame(inst, clock, "CHF",
                                                  han_hostile.COMMANDS["publish_alert"]))
        await clock.sleep(1)
        return before, len(inst.alerts)

    before, after = clock.run(main())
    assert after == before + 1


def test_even_a_properly_sealed_disable_supply_needs_its_signed_authorisation(
        clock: VirtualClock) -> None:
    """HAN keys are not authority: a meter switches its supply only under a signed command."""
    async def main() -> str:
        inst = build(clock)
        han_hostile.transmit(inst, _insider_frame(inst, clock, "ESME",
                                                  han_hostile.COMMANDS["disable_supply"]))
        await clock.sleep(1)
        return await _supply(inst, "ESME")

    assert clock.run(main()) == "Enabled"


def test_a_device_removed_from_the_device_log_is_not_heard(clock: VirtualClock) -> None:
    async def main() -> tuple[int, list[str]]:
        inst = build(clock)
        esme = inst.devices[inst.eui_of("ESME")]
        assert inst.hub.remove_from_log(esme.ieee)
        esme.raise_alert(han_hostile.ALERT_CODE, "power")
        await clock.sleep(1)
        return len(inst.alerts), await _security_codes(inst, "CHF")

    alerts, codes = clock.run(main())
    assert alerts == 0
    assert codes == ["8F3E"]


def test_counters_are_per_sender_and_one_entry_each(clock: VirtualClock) -> None:
    """Many frames from two senders leave two entries, not one per frame."""
    async def main() -> dict[int, int]:
        inst = build(clock)
        for _ in range(5):
            await _supply(inst, "ESME")
            await _supply(inst, "GSME")
        return dict(inst.hub.link.rx_counters)  # type: ignore[attr-defined]

    table = clock.run(main())
    assert len(table) == 2


def test_an_idle_node_holds_no_counter_table(clock: VirtualClock) -> None:
    async def main() -> bool:
        inst = build(clock)
        ihd = inst.devices[inst.eui_of("IHD")]
        return hasattr(ihd, "_lazy_rx_counters")

    assert clock.run(main()) is False


def _joined_installation(clock: VirtualClock) -> Installation:
    """Every device joins through the trust centre (as on a bench), so it can rejoin."""
    medium = make_medium("memory", clock=clock, seed=3)
    return Installation(dict(REFERENCE_DMC), medium, clock, seed=3, commissioned=False)


async def _join(inst: Installation, device: str) -> None:
    label = inst.labels[inst.eui_of(device)]
    assert label.install_code is not None
    inst.hub.add_to_log(eui64_int(label.eui), device, label.install_code)
    inst.hub.open_join_window(300)
    node = inst.devices[label.eui]
    for _ in range(200):
        if inst.hub.short_of(node.ieee) is not None:
            return
        node.join_now()
        await inst.clock.sleep(1)
    raise AssertionError(f"the {device} did not join")


def test_the_counter_table_survives_a_rejoin_under_the_same_key(clock: VirtualClock) -> None:
    """ZigBee 4.3.1.1/4.3.1.2: counters belong to the key, so a rejoin keeps them.

    The meter's outgoing counter carries on, so it is still heard; a frame
    captured before the rejoin is still stale afterwards.
    """
    async def main() -> tuple[str, str, list[str]]:
        inst = _joined_installation(clock)
        inst.start()
        await _join(inst, "ESME")
        raw = await _replayable_disable(inst, "ESME")
        esme = inst.devices[inst.eui_of("ESME")]
        # A legitimate rejoin: the meter loses the key and joins again, getting the same one.
        esme.network_key = None
        esme.start_joining()
        inst.hub.open_join_window(300)
        for _ in range(60):
            esme.join_now()
            await clock.sleep(1)
            if esme.network_key is not None:
                break
        assert esme.network_key == inst.hub.network_key
        first = await _supply(inst, "ESME")  # the meter's answers are still heard
        han_hostile.transmit(inst, raw)
        await clock.sleep(1)
        return first, await _supply(inst, "ESME"), await _security_codes(inst, "ESME")

    first, after, codes = clock.run(main())
    assert (first, after) == ("Enabled", "Enabled")
    assert codes.count("8F60") == 1


def test_a_new_network_key_restarts_the_counters(clock: VirtualClock) -> None:
    """Another active key is other security material: its counters start afresh."""
    async def main() -> tuple[str, str]:
        inst = build(clock)
        await _change(inst, "ESME", "Disabled")  # the meter has a counter from the hub
        new_key = bytes(range(16))
        inst.hub.link.network_key = new_key  # type: ignore[attr-defined]
        inst.hub.link.key_seq = 1  # type: ignore[attr-defined]
        inst.hub.link._frame_counter = 0  # type: ignore[attr-defined]
        for device in inst.devices.values():
            if device.network_key is not None:
                device.network_key, device.key_seq = new_key, 1
        stale = await _supply(inst, "ESME")
        await _change(inst, "ESME", "Enabled")
        return stale, await _supply(inst, "ESME")

    assert clock.run(main()) == ("Disabled", "Enabled")


def test_a_counter_of_all_ones_is_never_accepted(clock: VirtualClock) -> None:
    async def main() -> tuple[str, list[str]]:
        inst = build(clock)
        command = han_hostile.COMMANDS["disable_supply"]
        where = han_hostile.aim(inst, "ESME", command)
        assert inst.hub.network_key is not None
        raw = han_hostile.seal(pan=inst.pan, dst=where.target_short, src=where.claimed_short,
                               source_ieee=where.claimed_ieee, key=inst.hub.network_key,
                               counter=han_guard.COUNTER_MAX, key_seq=0,
                               cluster=command.cluster, frame=command.build(clock),
                               link_key=where.link_key)
        han_hostile.transmit(inst, raw)
        await clock.sleep(1)
        return await _supply(inst, "ESME"), await _security_codes(inst, "ESME")

    supply, codes = clock.run(main())
    assert supply == "Enabled"
    assert codes == ["8F60"]


def test_a_mic_failure_names_the_claimed_sender_and_no_key(
        clock: VirtualClock, capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> list[Any]:
        inst = build(clock)
        raw = han_hostile.forge(inst, "wrong_network_key", "ESME",
                                han_hostile.COMMANDS["disable_supply"])
        han_hostile.transmit(inst, raw)
        await clock.sleep(1)
        esme = inst.devices[inst.eui_of("ESME")]
        assert inst.hub.network_key is not None
        secrets = (inst.hub.network_key.hex(), han_hostile.wrong_key(inst.hub.network_key).hex())
        return [list(esme.security_log), secrets, inst.hub.ieee]

    entries, secrets, hub_ieee = clock.run(main())
    assert len(entries) == 1 and entries[0][1] == 0x8F53
    assert f"{hub_ieee:016X}" in entries[0][3]
    printed = capsys.readouterr()
    for secret in secrets:
        for text in (printed.out, printed.err, entries[0][3]):
            assert secret.lower() not in text.lower() and secret.upper() not in text


def test_the_codec_still_refuses_what_the_guard_logs() -> None:
    """A MIC failure stays a CodecError of the NWK layer: capture readers see it as before."""
    frame = han_hostile.seal(pan=0x1000, dst=1, src=0, source_ieee=0x00DB120000000000,
                             key=bytes(16), counter=5, key_seq=0, cluster=0x0702,
                             frame=zcl.ZclFrame(zcl.TYPE_CLUSTER, zcl.TO_SERVER, 1,
                                                se.MET_CHANGE_SUPPLY, bytes(18)),
                             tamper=True)
    from s1bench.emulator import mac
    from s1bench.emulator.codec_errors import CodecError

    with pytest.raises(CodecError) as err:
        nwk.NwkFrame.decode(mac.MacFrame.decode(frame).payload, bytes(16))
    assert err.value.layer == nwk.LAYER
    assert han_guard.claimed_source(frame) == 0x00DB120000000000
