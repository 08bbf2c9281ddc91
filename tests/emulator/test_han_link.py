"""The hub's HAN seam: the same hub and handlers on a link that carries no frames.

A dongle gives the hub nothing but "send this ZCL frame", "permit joining",
"take this link key", "leave" and, back, "a ZCL frame came" and "a device
joined". These tests drive the hub through a link that does exactly that
and no more, so anything the hub still needs of the frame stack shows up.
"""

from __future__ import annotations

from typing import Any

from s1bench.emulator import mmo, se, zcl
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.headend import Command, OutcomeStatus
from s1bench.emulator.installation import REFERENCE_DMC, Installation


class ScriptedLink:
    """A HAN link that records requests and answers Basic reads like a meter would."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.events: Any = None
        self.seq = 0
        self.sent: list[tuple[int, int, int]] = []
        self.permits: list[tuple[float, int]] = []
        self.keys: dict[int, bytes] = {}
        self.left: list[tuple[int, int | None, bool]] = []

    def bind(self, events: Any) -> None:
        self.events = events

    def next_zcl_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def send_zcl(self, dst: int, cluster: int, frame: zcl.ZclFrame) -> None:
        self.sent.append((dst, cluster, frame.command))
        if cluster == se.BASIC and frame.command == zcl.READ_ATTRIBUTES:
            answer = zcl.ZclFrame(zcl.TYPE_GLOBAL, zcl.TO_CLIENT, frame.seq,
                                  zcl.READ_ATTRIBUTES_RESPONSE, zcl.read_attributes_response(
                                      [(se.BASIC_SW_BUILD, zcl.STATUS_SUCCESS, zcl.CHAR_STR,
                                        "9.9.9")]))
            self.clock.call_later(0.1, self.events.zcl_received, dst, cluster, answer)

    def permit_joining(self, duration: int) -> None:
        self.permits.append((self.clock.monotonic(), duration))

    def add_link_key(self, ieee: int, link_key: bytes) -> None:
        self.keys[ieee] = link_key

    def remove_device(self, ieee: int, short: int | None) -> None:
        self.left.append((ieee, short, False))

    def reset_device(self, ieee: int, short: int) -> None:
        self.left.append((ieee, short, True))


def test_the_hub_runs_on_any_han_link() -> None:
    clock = VirtualClock()

    async def main() -> dict[str, Any]:
        link = ScriptedLink(clock)
        inst = Installation.on_link(dict(REFERENCE_DMC), link, clock, seed=1)
        esme = inst.eui_of("ESME")
        esme_ieee = int(esme.replace("-", ""), 16)
        before = await inst.execute(Command("read_firmware", esme))
        code = inst.labels[esme].install_code
        assert code is not None
        added = await inst.execute(Command("update_device_log", inst.hub_eui, {
            "DeviceID": esme, "RequestType": "Add", "JoinTimePeriod": 300, "InstallCode": code}))
        start = clock.monotonic()
        await clock.sleep(1)
        link.events.device_joined(esme_ieee, 0x0123)
        read = await inst.execute(Command("read_firmware", esme))
        await clock.sleep(300)
        removed = await inst.execute(Command("update_device_log", inst.hub_eui, {
            "DeviceID": esme, "RequestType": "Remove"}))
        return {"before": before, "added": added, "read": read, "removed": removed,
                "permits": [(round(at - start), d) for at, d in link.permits],
                "key": link.keys.get(esme_ieee) == mmo.link_key_from_install_code(code),
                "sent": link.sent, "left": link.left, "esme": esme_ieee,
                "network_key": inst.hub.network_key}

    got = clock.run(main())
    assert got["before"].status is OutcomeStatus.UNREACHABLE  # nothing joined yet
    assert got["added"].status is OutcomeStatus.DONE and got["key"]
    assert got["permits"] == [(0, 254), (254, 46)]
    assert got["read"].status is OutcomeStatus.DONE
    assert got["read"].data == {"FirmwareVersion": "9.9.9"}
    assert got["sent"] == [(0x0123, se.BASIC, zcl.READ_ATTRIBUTES)]
    assert got["removed"].status is OutcomeStatus.DONE
    assert got["left"] == [(got["esme"], 0x0123, False)]  # told to leave, no rejoin
    assert got["network_key"] is None  # the dongle keeps its own


def test_an_uncommissioned_installation_gives_every_device_an_install_code() -> None:
    """The NCP's installation: meters too join by install code; the commissioned draws stay."""
    clock = VirtualClock()

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        from s1bench.emulator.medium_memory import MemoryMedium

        def build(commissioned: bool) -> Installation:
            return Installation(dict(REFERENCE_DMC), MemoryMedium(clock=clock), clock, seed=4,
                                index=2, commissioned=commissioned)

        plain, bare = build(True), build(False)
        return ({e: (lbl.install_code, plain.hub.short_of(int(e.replace("-", ""), 16)))
                 for e, lbl in plain.labels.items()},
                {e: (lbl.install_code, bare.hub.short_of(int(e.replace("-", ""), 16)))
                 for e, lbl in bare.labels.items()})

    plain, bare = clock.run(main())
    assert plain.keys() == bare.keys()
    for eui, (code, short) in plain.items():
        kind = eui[-2:]
        if kind in ("01", "02"):  # the meters
            assert code is None and short is not None
            assert bare[eui][0] is not None and bare[eui][1] is None
        elif kind in ("03", "04"):  # PPMID and IHD: the same codes either way
            assert bare[eui][0] == code is not None
