"""What the lean per-installation state must not change (issue 12, point 6).

Generators built on first draw, containers made on first use and one
deadline queue per hub instead of a timer per exchange save memory; what a
user sees must stay as it was: the same seeded values, the same timeouts,
frames that still decode however many keys a fleet uses. Resident bytes per
installation are measured in ``harness/bench_memory.py``, not here.
"""

from __future__ import annotations

import random

import pytest
from s1bench.emulator import mac, nwk
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.headend import Command, OutcomeStatus
from s1bench.emulator.hub import CommsHub
from s1bench.emulator.installation import REFERENCE_DMC, Installation
from s1bench.emulator.medium_memory import MemoryMedium


def _installation(clock: VirtualClock, seed: int = 7, index: int = 3) -> Installation:
    return Installation(dict(REFERENCE_DMC), MemoryMedium(clock=clock, seed=seed), clock,
                        seed=seed, index=index)


def test_meters_draw_what_a_generator_held_from_construction_would_draw() -> None:
    """Seeded registers, and every later draw, match the generator the meter used to hold."""
    clock = VirtualClock()

    async def main() -> dict[str, tuple[int, ...]]:
        inst = _installation(clock)
        out = {}
        for device_type in ("ESME", "GSME"):
            meter = inst.devices[inst.eui_of(device_type)]
            out[device_type] = (meter.register_base, meter.demand, meter.credit,  # type: ignore[attr-defined]
                                meter.rng.getrandbits(64))
        return out

    drawn = clock.run(main())
    esme = random.Random("device:7:3:ESME")
    assert drawn["ESME"] == (esme.randint(1_000_000, 40_000_000), esme.randint(200, 2500),
                             esme.randint(500, 5000), esme.getrandbits(64))
    gsme = random.Random("device:7:3:GSME")
    register, _, credit = (gsme.randint(1_000_000, 40_000_000), gsme.randint(200, 2500),
                           gsme.randint(500, 5000))
    assert drawn["GSME"] == (register, gsme.randint(50, 600), credit, gsme.getrandbits(64))


def test_a_late_joiner_draws_after_its_join_start_as_before() -> None:
    clock = VirtualClock()

    async def main() -> int:
        inst = _installation(clock)
        inst.start()  # the PPMID draws its first join attempt's delay
        return inst.devices[inst.eui_of("PPMID")].rng.getrandbits(64)

    held = random.Random("device:7:3:PPMID")
    held.uniform(1.0, 30.0)
    assert clock.run(main()) == held.getrandbits(64)


def test_answered_exchanges_leave_a_silent_device_its_full_timeout() -> None:
    """Deadlines queued behind answered reads still fire at response_timeout each attempt."""
    clock = VirtualClock()

    async def main() -> tuple[list[OutcomeStatus], float]:
        inst = _installation(clock)
        esme = inst.eui_of("ESME")
        statuses = [(await inst.execute(Command("read_import_registers", esme))).status
                    for _ in range(5)]
        inst.devices[esme].powered = False
        started = clock.monotonic()
        statuses.append((await inst.execute(Command("read_import_registers", esme))).status)
        return statuses, clock.monotonic() - started

    statuses, took = clock.run(main())
    assert statuses == [OutcomeStatus.DONE] * 5 + [OutcomeStatus.SILENT]
    assert took == pytest.approx(CommsHub.response_timeout * CommsHub.attempts)


def test_a_hub_driven_by_one_run_after_another_still_times_out() -> None:
    """A run that ends with a deadline pending must not leave the next run without one."""
    clock = VirtualClock()
    holder: list[Installation] = []

    async def first() -> OutcomeStatus:
        inst = _installation(clock)
        holder.append(inst)
        return (await inst.execute(Command("read_import_registers", inst.eui_of("ESME")))).status

    async def second() -> tuple[OutcomeStatus, float]:
        inst = holder[0]
        inst.devices[inst.eui_of("ESME")].powered = False
        started = clock.monotonic()
        outcome = await inst.execute(Command("read_import_registers", inst.eui_of("ESME")))
        return outcome.status, clock.monotonic() - started

    assert clock.run(first()) == OutcomeStatus.DONE
    status, took = clock.run(second())
    assert status == OutcomeStatus.SILENT
    assert took == pytest.approx(CommsHub.response_timeout * CommsHub.attempts)


def test_frames_decode_under_more_keys_than_the_cipher_cache_holds() -> None:
    """The cache is bounded; a key it dropped is simply built again."""
    keys = [i.to_bytes(16, "big") for i in range(nwk.CIPHER_CACHE_SIZE + 50)]

    def frame(key: bytes) -> bytes:
        n = nwk.NwkFrame(nwk.FRAME_DATA, 1, 0, 30, 1, b"payload", src_ieee=0x00DB120000000000,
                         secured=True, frame_counter=1, sec_source=0x00DB120000000000)
        return mac.MacFrame(1, 0x1000, 1, 0, n.encode(key)).encode()

    frames = [frame(key) for key in keys]
    for key, raw in [*zip(keys, frames, strict=True), (keys[0], frames[0])]:
        decoded = nwk.NwkFrame.decode(mac.MacFrame.decode(raw).payload, key)
        assert decoded.payload == b"payload"
    assert len(nwk._CIPHERS) <= nwk.CIPHER_CACHE_SIZE
