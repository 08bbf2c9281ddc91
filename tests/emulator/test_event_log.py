"""A device asked for more events than one Publish Event Log holds sends the newest 15.

GetEventLog.number_of_events is a full byte, but the Publish Event Log count
is a nibble; the device, not the codec, decides what to leave out.
"""

from __future__ import annotations

from emu_helpers import build
from s1bench.emulator import se, zcl
from s1bench.emulator.clock import VirtualClock


def test_device_asked_for_20_events_answers_with_the_newest_15() -> None:
    clock = VirtualClock()
    sent: list[bytes] = []

    async def main() -> None:
        inst = build(clock)
        esme = inst.devices[inst.eui_of("ESME")]
        esme.event_log[:] = [(se.LOG_GENERAL, 0x8100 + i, i, "supply changed")
                             for i in range(20)]
        esme.reply = lambda dst, cluster, request, command, payload, **kw: sent.append(payload)
        request = se.GET_EVENT_LOG.build({
            "event_control_log_id": se.LOG_GENERAL, "event_id": 0, "start_time": 0,
            "end_time": 0xFFFFFFFF, "number_of_events": 20, "event_offset": 0})
        esme.cmd_0709_00(0x0000, zcl.ZclFrame(zcl.TYPE_CLUSTER, zcl.TO_SERVER, 1,
                                              se.EVT_GET_EVENT_LOG, request))
        inst.medium.close()

    clock.run(main())
    assert len(sent) == 1
    assert int.from_bytes(sent[0][:2], "little") == 20  # total matches
    events = se.parse_publish_event_log(sent[0])
    assert [e[1] for e in events] == [0x8100 + i for i in range(5, 20)]
