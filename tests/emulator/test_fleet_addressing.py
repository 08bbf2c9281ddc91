"""Installations that share a PAN id on one memory medium never hear each other.

PAN ids are 16 bits and derived from the installation index, so index ``i``
and ``i + 57,344`` get the same one, and every installation numbers its
devices from the same short addresses. Before the medium routed on each
HAN's extended PAN id, a read sent to one such installation's meter was
delivered to both meters, and both answers reached both hubs. The 100,000
installation check is in ``harness/bench_memory.py`` (misdelivered frames).
"""

from __future__ import annotations

from typing import Any

import pytest
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.headend import Command, OutcomeStatus
from s1bench.emulator.installation import REFERENCE_DMC, Installation
from s1bench.emulator.medium_memory import MemoryMedium

#: How often the derived PAN ids repeat.
PAN_PERIOD = 0xE000


def _pair(clock: VirtualClock, medium: MemoryMedium, index: int) -> tuple[Installation, ...]:
    return tuple(Installation(dict(REFERENCE_DMC), medium, clock, seed=1, index=i)
                 for i in (index, index + PAN_PERIOD))


@pytest.mark.parametrize("index", [0, 1, PAN_PERIOD - 1])
def test_reads_reach_only_the_meter_of_their_own_installation(index: int) -> None:
    clock = VirtualClock()
    medium = MemoryMedium(clock=clock, seed=1)

    async def main() -> tuple[tuple[Installation, ...], list[Any], int]:
        pair = _pair(clock, medium, index)
        before = medium.stats.delivered
        outcomes = [await inst.execute(Command("read_import_registers", inst.eui_of("ESME")))
                    for inst in pair]
        await clock.sleep(1)  # the hub's APS ack of the last answer lands
        return pair, outcomes, medium.stats.delivered - before

    (a, b), (read_a, read_b), delivered = clock.run(main())
    assert a.pan == b.pan  # the case that used to collide
    assert read_a.status == read_b.status == OutcomeStatus.DONE
    # One request and one answer per read, each APS-acknowledged: no copy reached the
    # other installation.
    assert delivered == 8
    # Each hub got its own meter's register (the meters' seeds differ).
    assert read_a.data != read_b.data


def test_a_broadcast_reaches_only_the_devices_of_its_own_han() -> None:
    clock = VirtualClock()
    medium = MemoryMedium(clock=clock, seed=1)

    async def main() -> tuple[int, int]:
        a, _ = _pair(clock, medium, 7)
        before = medium.stats.delivered
        a.hub.open_join_window(60)  # Mgmt_Permit_Joining_req, broadcast
        await clock.sleep(1)
        return medium.stats.delivered - before, len(a.devices)

    delivered, devices = clock.run(main())
    assert delivered == devices


def test_a_late_joiner_joins_its_own_hub_when_another_han_shares_its_pan_id() -> None:
    clock = VirtualClock()
    medium = MemoryMedium(clock=clock, seed=1)

    async def main() -> list[dict[str, Any]]:
        pair = _pair(clock, medium, 3)
        for inst in pair:
            inst.start()
            ppmid = inst.eui_of("PPMID")
            outcome = await inst.execute(Command("update_device_log", inst.hub_eui, {
                "DeviceID": ppmid, "RequestType": "Add", "JoinTimePeriod": 600,
                "InstallCode": inst.labels[ppmid].install_code}))
            assert outcome.status == OutcomeStatus.DONE, outcome.reason
        await clock.sleep(650)
        return [(await inst.execute(Command("read_device_log", inst.hub_eui))).data
                for inst in pair]

    logs = clock.run(main())
    for log in logs:
        joined = {row["DeviceType"] for row in log["DeviceLog"] if row["Joined"]}
        assert "PPMID" in joined, log
