"""`make bench`: the hot path measured as ratios against baselines in the same run.

Machines are shared and noisy, so every figure is paired with a baseline
measured a moment before on the same interpreter: the codec against
``struct.Struct.unpack`` of the same bytes, an SRV round trip over the HAN
against a bare ``asyncio.Queue`` ping-pong on the same virtual loop. Prints
one JSON document.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from s1bench.emulator import aps, mac, nwk, se, zcl
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.installation import REFERENCE_DMC, Installation
from s1bench.emulator.medium import make_medium
from s1bench.harness.dcc import DccRole

KEY = bytes(range(16))


def _rate(fn: Callable[[], Any], seconds: float = 0.4) -> float:
    """Calls per second of ``fn`` over about ``seconds`` of wall time."""
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            fn()
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _metering_read_frame() -> bytes:
    z = zcl.ZclFrame(zcl.TYPE_GLOBAL, zcl.TO_SERVER, 1, zcl.READ_ATTRIBUTES,
                     zcl.read_attributes([se.MET_CURRENT_SUMMATION_DELIVERED]))
    a = aps.ApsData(1, se.METERING, aps.PROFILE_SE, 1, 1, z.encode())
    n = nwk.NwkFrame(nwk.FRAME_DATA, 1, 0, 30, 1, a.encode(), src_ieee=0x00DB120000000000,
                     secured=True, frame_counter=1, sec_source=0x00DB120000000000)
    return mac.MacFrame(1, 0x1000, 1, 0, n.encode(KEY)).encode()


def bench_codec() -> dict[str, float]:
    frame = _metering_read_frame()
    unpack = struct.Struct(f"<{len(frame)}B").unpack
    baseline = _rate(lambda: unpack(frame))

    def decode() -> None:
        m = mac.MacFrame.decode(frame)
        n = nwk.NwkFrame.decode(m.payload, KEY)
        a = aps.decode(n.payload)
        zcl.ZclFrame.decode(a.payload)  # type: ignore[union-attr]

    def encode() -> None:
        _metering_read_frame()

    dec, enc = _rate(decode), _rate(encode)
    scapy = _scapy_rate(frame)
    return {"frame_bytes": len(frame), "decode_per_s": round(dec),
            "encode_per_s": round(enc), "baseline_struct_unpack_per_s": round(baseline),
            "decode_vs_baseline": round(dec / baseline, 5),
            "encode_vs_baseline": round(enc / baseline, 5),
            # scapy dissects MAC and NWK headers only: it cannot decrypt the NWK payload,
            # which s1bench's decode also does (AES-CCM*), so this flatters scapy.
            "scapy_dissect_per_s": round(scapy),
            "decode_vs_scapy": round(dec / scapy, 3)}


def _scapy_rate(frame: bytes) -> float:
    """Frames per second scapy's ZigBee dissectors take the same frame apart."""
    from scapy.config import conf
    from scapy.layers.dot15d4 import Dot15d4

    conf.dot15d4_protocol = "zigbee"
    return _rate(lambda: Dot15d4(frame).payload.payload)


def bench_round_trips(installations: int = 50, reads: int = 10) -> dict[str, float]:
    clock = VirtualClock()

    async def pingpong(n: int) -> float:
        q1: asyncio.Queue[int] = asyncio.Queue()
        q2: asyncio.Queue[int] = asyncio.Queue()

        async def echo() -> None:
            for _ in range(n):
                q2.put_nowait(await q1.get())

        task = asyncio.create_task(echo())
        start = time.perf_counter()
        for i in range(n):
            q1.put_nowait(i)
            await q2.get()
        await task
        return n / (time.perf_counter() - start)

    async def fleet() -> tuple[float, float, float]:
        baseline = await pingpong(20_000)
        medium = make_medium("memory", clock=clock, seed=1)
        insts = [Installation(REFERENCE_DMC, medium, clock, seed=1, index=i)
                 for i in range(installations)]

        async def one(inst: Installation) -> None:
            dcc = DccRole(inst)
            for _ in range(reads):
                response = await dcc.send("4.1.1", "ESME")
                assert response.ok, response.reason

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in insts))
        wall = time.perf_counter() - start
        return baseline, installations * reads / wall, medium.stats.delivered / wall

    baseline, srvs, frames = clock.run(fleet())
    return {"installations": installations, "srv_round_trips_per_s": round(srvs),
            "han_frames_delivered_per_s": round(frames),
            "baseline_queue_pingpong_per_s": round(baseline),
            "round_trips_vs_baseline": round(srvs / baseline, 5)}


def main() -> int:
    """Every figure beside its baseline, as one JSON document on stdout.

    The fleet, memory and MQTT figures take minutes (100,000 installations,
    a broker); progress goes to stderr so stdout stays one JSON document.
    """
    from .bench_fleet import bench_fleet
    from .bench_memory import bench_memory
    from .bench_mqtt import bench_mqtt

    result: dict[str, Any] = {"python": sys.version.split()[0]}
    for name, run in (("codec", bench_codec), ("han", bench_round_trips),
                      ("fleet", bench_fleet), ("memory", bench_memory), ("mqtt", bench_mqtt)):
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        try:
            result[name] = run()
        except Exception as exc:  # one figure that cannot be had must not hide the others
            result[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
