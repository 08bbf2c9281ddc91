"""The virtual clock warps; the wall clock waits; both order timers the same way."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from emu_helpers import wall_deadline
from s1bench.emulator.clock import (
    DEFAULT_EPOCH,
    VirtualClock,
    VirtualTimeDeadlock,
    WallClock,
    make_clock,
)

SEVEN_DAYS = 7 * 24 * 3600


def test_sleeping_seven_days_is_instant_and_exact() -> None:
    clock = VirtualClock()

    async def main() -> tuple[datetime, datetime, float, float]:
        start, t0 = clock.now(), clock.monotonic()
        await clock.sleep(SEVEN_DAYS)
        return start, clock.now(), t0, clock.monotonic()

    wall = time.perf_counter()
    start, end, t0, t1 = clock.run(main())
    wall = time.perf_counter() - wall

    assert wall < 0.5, f"a virtual week took {wall:.3f} s of wall time"
    assert start == DEFAULT_EPOCH
    assert end - start == timedelta(days=7)
    assert t1 - t0 == SEVEN_DAYS


def test_plain_asyncio_sleep_is_virtual_too() -> None:
    clock = VirtualClock(epoch=datetime(2030, 6, 1, tzinfo=UTC))

    async def main() -> datetime:
        await asyncio.sleep(3 * 3600)
        await asyncio.sleep(0.25)
        return clock.now()

    assert clock.run(main()) == datetime(2030, 6, 1, 3, 0, 0, 250_000, tzinfo=UTC)


def test_asyncio_timeout_fires_at_the_virtual_deadline() -> None:
    clock = VirtualClock()

    async def main() -> tuple[bool, float]:
        t0 = clock.monotonic()
        timed_out = False
        try:
            async with asyncio.timeout(3600):
                await asyncio.sleep(SEVEN_DAYS)
        except TimeoutError:
            timed_out = True
        return timed_out, clock.monotonic() - t0

    wall = time.perf_counter()
    timed_out, elapsed = clock.run(main())
    assert time.perf_counter() - wall < 0.5
    assert timed_out
    assert elapsed == pytest.approx(3600, abs=1e-6)


def test_asyncio_timeout_does_not_fire_when_the_work_finishes_first() -> None:
    clock = VirtualClock()

    async def main() -> float:
        t0 = clock.monotonic()
        async with asyncio.timeout(60):
            await asyncio.sleep(59.5)
        return clock.monotonic() - t0

    assert clock.run(main()) == pytest.approx(59.5, abs=1e-9)


def test_wait_for_times_out_virtually() -> None:
    clock = VirtualClock()

    async def main() -> float:
        t0 = clock.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(1000), timeout=10)
        return clock.monotonic() - t0

    assert clock.run(main()) == pytest.approx(10, abs=1e-9)


def _order_of(delays: list[float]) -> list[tuple[int, float]]:
    """Schedule one call_later per delay (in list order); return (index, fire time)."""
    clock = VirtualClock()

    async def main() -> list[tuple[int, float]]:
        fired: list[tuple[int, float]] = []
        loop = asyncio.get_running_loop()
        for i, delay in enumerate(delays):
            clock.call_later(delay, lambda i=i: fired.append((i, loop.time())))
        await asyncio.sleep(max(delays) + 1)
        return fired

    return clock.run(main())


def test_call_later_with_different_delays_runs_in_deadline_order_at_the_right_time() -> None:
    delays = [5.0, 1.0, 3.0, 0.5, 4.0, 2.0, 86_400.0]
    fired = _order_of(delays)
    assert [i for i, _ in fired] == sorted(range(len(delays)), key=lambda i: delays[i])
    for i, when in fired:
        assert when == pytest.approx(delays[i], abs=1e-9)


def test_call_later_order_is_deterministic_between_runs() -> None:
    delays = [1.0] * 9 + [0.5, 2.0] + [1.0] * 5 + [0.5] * 4
    first = _order_of(delays)
    for _ in range(3):
        assert _order_of(delays) == first


def test_call_later_with_equal_delays_runs_in_scheduling_order() -> None:
    fired = _order_of([1.0] * 8)
    assert [i for i, _ in fired] == list(range(8))


def test_waiting_on_a_future_nobody_resolves_raises_deadlock_instead_of_hanging() -> None:
    clock = VirtualClock()

    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with wall_deadline(10), pytest.raises(VirtualTimeDeadlock):
        clock.run(main())


def test_deadlock_is_detected_after_the_last_timer_has_run() -> None:
    clock = VirtualClock()
    seen: list[float] = []

    async def waiter(event: asyncio.Event) -> None:
        await event.wait()

    async def main() -> None:
        event = asyncio.Event()
        task = asyncio.create_task(waiter(event))
        await asyncio.sleep(120)
        seen.append(clock.monotonic())
        await task  # nobody will ever set the event

    with wall_deadline(10), pytest.raises(VirtualTimeDeadlock):
        clock.run(main())
    assert seen == [pytest.approx(120)]


def test_virtual_clock_can_run_again_after_a_deadlock() -> None:
    clock = VirtualClock()

    async def stuck() -> None:
        await asyncio.get_running_loop().create_future()

    async def fine() -> float:
        await asyncio.sleep(5)
        return clock.monotonic()

    with wall_deadline(10), pytest.raises(VirtualTimeDeadlock):
        clock.run(stuck())
    assert clock.run(fine()) == pytest.approx(5)


def test_wall_clock_really_waits() -> None:
    clock = WallClock()

    async def main() -> tuple[float, float, datetime]:
        t0 = clock.monotonic()
        await clock.sleep(0.05)
        return t0, clock.monotonic(), clock.now()

    wall = time.perf_counter()
    t0, t1, now = clock.run(main())
    wall = time.perf_counter() - wall
    assert wall >= 0.045
    assert t1 - t0 >= 0.045
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5


def test_virtual_and_wall_flags_and_make_clock() -> None:
    assert VirtualClock().virtual is True
    assert WallClock().virtual is False
    assert isinstance(make_clock("virtual"), VirtualClock)
    assert isinstance(make_clock("wall"), WallClock)
    with pytest.raises(ValueError, match="sundial"):
        make_clock("sundial")
