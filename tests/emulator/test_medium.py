"""The in-memory HAN: seeded latency, jitter and loss; routing; malformed frames."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from emu_helpers import build, dcc
from s1bench.emulator import aps, mac, mgmt, nwk, se, zcl
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.medium import available_media, make_medium
from s1bench.emulator.medium_memory import MemoryMedium


class Station:
    """A bare station that records what reaches it and when."""

    def __init__(self, short: int, clock: VirtualClock, pan: int = 0x1000) -> None:
        self.short = short
        self.pan = pan
        self.ieee = 0x00DB_0000_0000_0000 | short
        self.clock = clock
        self.received: list[tuple[float, bytes]] = []

    def frame_received(self, frame: bytes) -> None:
        self.received.append((self.clock.monotonic(), frame))


def frame_to(dst: int, src: int, seq: int, payload: bytes = b"x", pan: int = 0x1000) -> bytes:
    return mac.MacFrame(seq % 256, pan, dst, src, payload + seq.to_bytes(2, "little")).encode()


def run_traffic(seed: int, *, latency: float = 0.01, jitter: float = 0.02, loss: float = 0.3,
                count: int = 200) -> dict[str, Any]:
    """Send ``count`` unicasts A->B and broadcasts from C; return who got what, when."""
    clock = VirtualClock()

    async def main() -> dict[str, Any]:
        medium = make_medium("memory", clock=clock, seed=seed, latency=latency, jitter=jitter,
                             loss=loss)
        a, b, c = Station(1, clock), Station(2, clock), Station(3, clock)
        for s in (a, b, c):
            medium.attach(s)
        sent_at: dict[bytes, float] = {}
        for i in range(count):
            raw = frame_to(2, 1, i)
            sent_at[raw] = clock.monotonic()
            medium.send(a, raw)
            if i % 4 == 0:
                raw = frame_to(0xFFFF, 3, i, b"bc")
                sent_at[raw] = clock.monotonic()
                medium.send(c, raw)
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)
        return {"a": a.received, "b": b.received, "c": c.received, "stats": medium.stats,
                "sent_at": sent_at}

    return clock.run(main())


def test_same_seed_gives_the_same_deliveries_losses_and_times() -> None:
    first, second = run_traffic(7), run_traffic(7)
    for name in "abc":
        assert first[name] == second[name]
    assert first["stats"] == second["stats"]
    assert 0 < first["stats"].lost < first["stats"].sent


def test_different_seed_gives_different_losses_or_times() -> None:
    first, other = run_traffic(7), run_traffic(8)
    assert first["b"] != other["b"]
    assert [f for _, f in first["b"]] != [f for _, f in other["b"]]  # different frames lost


def test_delivery_delay_is_latency_plus_bounded_jitter() -> None:
    out = run_traffic(3, latency=0.01, jitter=0.02, loss=0.0, count=100)
    delays = [when - out["sent_at"][raw] for when, raw in out["b"]]
    assert all(0.01 - 1e-9 <= d <= 0.03 + 1e-9 for d in delays)
    assert len({round(d, 9) for d in delays}) > 20  # jitter really varies


def test_no_jitter_means_exactly_the_latency() -> None:
    out = run_traffic(3, latency=0.05, jitter=0.0, loss=0.0, count=20)
    assert {round(when - out["sent_at"][raw], 9) for when, raw in out["b"]} == {0.05}


def test_loss_zero_delivers_everything_and_counts_it() -> None:
    out = run_traffic(11, loss=0.0, count=100)
    stats = out["stats"]
    broadcasts = 25
    assert len(out["b"]) == 100 + broadcasts  # every unicast plus every broadcast
    assert len(out["a"]) == broadcasts and len(out["c"]) == 0
    assert stats.sent == 100 + broadcasts
    assert stats.lost == 0
    assert stats.delivered == 100 + 2 * broadcasts


def test_loss_rate_is_roughly_the_configured_probability() -> None:
    out = run_traffic(5, loss=0.3, jitter=0.0, count=1000)
    stats = out["stats"]
    attempts = stats.delivered + stats.lost
    assert 0.25 < stats.lost / attempts < 0.35


def test_unicast_reaches_only_the_addressed_station_and_broadcast_all_but_sender() -> None:
    clock = VirtualClock()

    async def main() -> list[Station]:
        medium = make_medium("memory", clock=clock, seed=0)
        stations = [Station(s, clock) for s in (1, 2, 3, 4)]
        for s in stations:
            medium.attach(s)
        medium.send(stations[0], frame_to(3, 1, 1, b"uni"))
        medium.send(stations[1], frame_to(0xFFFF, 2, 2, b"bc"))
        medium.send(stations[0], frame_to(0x0999, 1, 3, b"nobody"))
        await asyncio.sleep(1)
        return stations

    s1, s2, s3, s4 = clock.run(main())
    payloads = [[mac.MacFrame.decode(f).payload[:-2] for _, f in s.received]
                for s in (s1, s2, s3, s4)]
    assert payloads == [[b"bc"], [], [b"uni", b"bc"], [b"bc"]]


def test_hans_sharing_one_medium_stay_apart_by_pan() -> None:
    clock = VirtualClock()

    async def main() -> tuple[Station, Station, Station]:
        medium = make_medium("memory", clock=clock, seed=0)
        a, b = Station(1, clock, pan=0x1000), Station(2, clock, pan=0x1000)
        other = Station(2, clock, pan=0x2000)  # same short address, other installation
        for s in (a, b, other):
            medium.attach(s)
        medium.send(a, frame_to(2, 1, 1))
        medium.send(a, frame_to(0xFFFF, 1, 2))
        medium.send(other, frame_to(0xFFFF, 2, 3, pan=0x2000))
        await asyncio.sleep(1)
        return a, b, other

    a, b, other = clock.run(main())
    assert [mac.MacFrame.decode(f).seq for _, f in b.received] == [1, 2]
    assert a.received == []
    assert other.received == []


def test_detach_and_readdress() -> None:
    clock = VirtualClock()

    async def main() -> tuple[Station, Station]:
        medium = MemoryMedium(clock=clock, seed=0)
        a, b = Station(1, clock), Station(0x9A2D, clock)
        medium.attach(a)
        medium.attach(b)
        medium.attach(b)  # attaching twice does not double deliveries
        medium.send(a, frame_to(0x9A2D, 1, 1))
        old, b.short = b.short, 0x0100
        medium.readdress(b, old)
        medium.send(a, frame_to(0x9A2D, 1, 2))  # old address: nobody
        medium.send(a, frame_to(0x0100, 1, 3))
        await asyncio.sleep(1)
        medium.detach(b)
        medium.send(a, frame_to(0x0100, 1, 4))
        medium.send(a, frame_to(0xFFFF, 1, 5))
        await asyncio.sleep(1)
        return a, b

    _, b = clock.run(main())
    assert [mac.MacFrame.decode(f).seq for _, f in b.received] == [1, 3]


def test_frames_to_one_station_with_equal_latency_arrive_in_send_order() -> None:
    clock = VirtualClock()

    async def main() -> Station:
        medium = make_medium("memory", clock=clock, seed=0, latency=0.005)
        a, b = Station(1, clock), Station(2, clock)
        medium.attach(a)
        medium.attach(b)
        for i in range(8):
            medium.send(a, frame_to(2, 1, i))
        await asyncio.sleep(1)
        return b

    b = clock.run(main())
    assert [mac.MacFrame.decode(f).seq for _, f in b.received] == list(range(8))


@pytest.mark.parametrize("options, name", [
    ({"latency": -0.001}, "latency"),
    ({"jitter": -1.0}, "jitter"),
    ({"loss": 1.0}, "loss"),
    ({"loss": -0.1}, "loss"),
    ({"loss": 7}, "loss"),
])
def test_bad_options_raise_value_error_naming_the_option(options: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make_medium("memory", clock=VirtualClock(), **options)


@pytest.mark.parametrize("options, name", [
    ({"latency": float("nan")}, "latency"),
    ({"jitter": float("nan")}, "jitter"),
    ({"latency": "5ms"}, "latency"),
])
def test_non_numeric_options_raise_value_error_naming_the_option(options: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make_medium("memory", clock=VirtualClock(), **options)


def test_unknown_option_is_named() -> None:
    with pytest.raises((TypeError, ValueError), match="latncy"):
        make_medium("memory", clock=VirtualClock(), latncy=0.1)


def test_unknown_medium_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        make_medium("carrier-pigeon")
    message = str(info.value)
    assert "carrier-pigeon" in message
    assert "memory" in message
    assert "memory" in available_media()


def test_close_is_idempotent_and_closes_taps() -> None:
    closed: list[int] = []

    class Tap:
        def frame(self, data: bytes, when: Any) -> None: ...

        def close(self) -> None:
            closed.append(1)

    medium = make_medium("memory", clock=VirtualClock())
    medium.add_tap(Tap())  # type: ignore[arg-type]
    medium.close()
    medium.close()
    assert closed == [1]


# ------------------------------------------------ malformed frames reach a node ---

class Outsider:
    """A transmitter that is not attached: injects bytes onto the medium."""

    short = 0x7777
    ieee = 0x7777
    pan = 0x1000

    def frame_received(self, frame: bytes) -> None: ...


#: Each frame a fresh NWK counter: a repeated one is a replay the receiver drops (han_guard)
#: before its payload is read, so the payload fault under test would go unseen.
_COUNTERS = itertools.count(900)
#: The sender the faulty frames claim: the GSME of seed 2's installation, in the device
#: log (else the hub drops them unread). Not the ESME: counters this far ahead of its own
#: would leave the real ESME's frames stale, and the tests still read the ESME afterwards.
_SENDER = 0x00DB120000000002


def secured(key: bytes, payload: bytes, *, src: int = 0x0001, dst: int = 0x0000,
            ieee: int = _SENDER, counter: int | None = None) -> bytes:
    counter = next(_COUNTERS) if counter is None else counter
    n = nwk.NwkFrame(nwk.FRAME_DATA, dst, src, 30, 1, payload, src_ieee=ieee, secured=True,
                     frame_counter=counter, sec_source=ieee)
    return mac.MacFrame(1, 0x1000, dst, src, n.encode(key)).encode()


def zcl_frame(key: bytes, cluster: int, frame: zcl.ZclFrame, link_key: bytes | None = None,
              **kw: Any) -> bytes:
    """An SE frame under the network key and, as SE requires, APS-secured with ``link_key``."""
    data = aps.ApsData(1, cluster, aps.PROFILE_SE, 1, 1, frame.encode())
    if link_key is None:
        return secured(key, data.encode(), **kw)
    ieee = kw.get("ieee", 0x00DB120000000001)
    data.security = aps.ApsSecurity(aps.KEY_ID_DATA, kw.get("counter", 900), ieee)
    return secured(key, data.encode(link_key), **kw)


def _sealed(link_key: bytes, data: aps.ApsData, ieee: int = 0x00DB120000000001) -> bytes:
    data.security = aps.ApsSecurity(aps.KEY_ID_DATA, 900, ieee)
    return data.encode(link_key)


def _malformed_cases(key: bytes, link_key: bytes) -> dict[str, bytes]:
    good = zcl_frame(key, se.METERING, zcl.ZclFrame(zcl.TYPE_GLOBAL, zcl.TO_CLIENT, 200,
                                                    zcl.DEFAULT_RESPONSE, b"\x00\x00"))
    bad_fcs = bytearray(good)
    bad_fcs[-1] ^= 0xFF
    version = bytearray(good[:-2])
    version[9] = (version[9] & ~0x3C) | (1 << 2)
    tampered = bytearray(good[:-2])
    tampered[40] ^= 0x01
    return {
        "bad FCS": bytes(bad_fcs),
        "truncated MAC": good[:8],
        "NWK protocol version 1": bytes(version) + mac.fcs(bytes(version)).to_bytes(2, "little"),
        "NWK truncated": mac.MacFrame(1, 0x1000, 0, 1, b"\x48\x12\x00").encode(),
        "MIC failure (tampered)": bytes(tampered) + mac.fcs(bytes(tampered)).to_bytes(2, "little"),
        "wrong network key": zcl_frame(bytes(16), se.METERING, zcl.ZclFrame(
            zcl.TYPE_GLOBAL, zcl.TO_CLIENT, 200, zcl.DEFAULT_RESPONSE, b"\x00\x00")),
        "APS truncated": secured(key, b"\x00\x01\x02"),
        "APS-secured data frame": secured(key, bytes([0x20]) + bytes(7)),
        "ZCL truncated": secured(key, _sealed(link_key, aps.ApsData(1, se.METERING,
                                                                    aps.PROFILE_SE, 1, 1,
                                                                    b"\x08"))),
        "ZDO truncated": secured(key, aps.ApsData(0, 0x0013, aps.PROFILE_ZDP, 0, 1, b"\x01\x02")
                                 .encode()),
    }


def test_malformed_frames_are_counted_and_dropped_without_raising() -> None:
    clock = VirtualClock()

    async def main() -> tuple[dict[str, int], list[Any], bool]:
        inst = build(clock, seed=2)
        loop = asyncio.get_running_loop()
        errors: list[Any] = []
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        counts: dict[str, int] = {}
        link_key = inst.hub.link.link_key_at(0x0001)  # type: ignore[attr-defined]
        for name, raw in _malformed_cases(inst.hub.network_key, link_key).items():
            before = inst.medium.stats.malformed
            inst.medium.send(Outsider(), raw)
            await asyncio.sleep(0.1)
            counts[name] = inst.medium.stats.malformed - before
        ok = (await dcc(inst).send("4.1.1", "ESME")).ok
        return counts, errors, ok

    counts, errors, still_works = clock.run(main())
    assert errors == []
    assert counts == {name: 1 for name in counts}, counts
    assert still_works


def test_a_short_802154_ack_frame_does_not_break_the_medium() -> None:
    clock = VirtualClock()

    async def main() -> int:
        inst = build(clock, seed=2)
        inst.medium.send(Outsider(), bytes.fromhex("0200052A3C"))  # Ack, seq 5, with FCS
        await asyncio.sleep(0.1)
        return inst.medium.stats.sent

    assert clock.run(main()) == 1


def _payload_faults(key: bytes, link_key: bytes, tunnel: int) -> dict[str, tuple[str, bytes]]:
    hub = {"src": 0x0000, "dst": 0x0001, "ieee": 0x00DB120000000000, "link_key": link_key}
    return {
        # A Publish Event (alert) to the hub with a 2-byte payload.
        "truncated Publish Event to hub": ("hub", zcl_frame(key, se.EVENTS, zcl.ZclFrame(
            zcl.TYPE_CLUSTER, zcl.TO_CLIENT, 9, se.EVT_PUBLISH_EVENT, b"\x03\x84"),
            link_key=link_key)),
        # A Change Supply to the ESME cut short.
        "truncated Change Supply to ESME": ("esme", zcl_frame(key, se.METERING, zcl.ZclFrame(
            zcl.TYPE_CLUSTER, zcl.TO_SERVER, 9, se.MET_CHANGE_SUPPLY, b"\x01\x00\x00"),
            **hub)),
        # A management Update Credential with no body, in the tunnel the hub opened.
        "empty credential update to ESME": ("esme", zcl_frame(key, se.TUNNELING, zcl.ZclFrame(
            zcl.TYPE_CLUSTER, zcl.TO_SERVER, 9, se.TUN_TRANSFER_DATA_TO_SERVER,
            se.transfer_data(tunnel, bytes([mgmt.UPDATE_CREDENTIAL]))), **hub)),
    }


@pytest.mark.parametrize("case", ["truncated Publish Event to hub",
                                  "truncated Change Supply to ESME",
                                  "empty credential update to ESME"])
def test_malformed_se_payload_is_counted_not_raised(case: str) -> None:
    clock = VirtualClock()

    async def main() -> tuple[int, Exception | None]:
        inst = build(clock, seed=2)
        esme = inst.devices[inst.eui_of("ESME")]
        esme.tunnels[7] = 0x0000  # a tunnel the hub opened earlier
        target_name, raw = _payload_faults(inst.hub.network_key, esme.link_key, 7)[case]
        target = inst.hub if target_name == "hub" else inst.devices[inst.eui_of("ESME")]
        before = inst.medium.stats.malformed
        try:
            target.frame_received(raw)
        except Exception as exc:
            return inst.medium.stats.malformed - before, exc
        return inst.medium.stats.malformed - before, None

    counted, raised = clock.run(main())
    assert raised is None, f"frame_received raised {raised!r}"
    assert counted == 1
