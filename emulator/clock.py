"""Injected time: a virtual clock that warps, and a wall clock for benches.

Virtual time lives in the event loop itself (see docs/architecture.md): the
loop's selector never blocks; when nothing is ready it jumps ``loop.time()``
to the next timer. Every ``asyncio.sleep``, ``asyncio.timeout`` and
``loop.call_later`` in the emulator and harness is therefore virtual without
special calls, and the same code runs unchanged on a normal loop in wall time.
Ordering is the loop's own (a heap of timers fed in program order), so a run
with the same seed replays identically.

A warping loop hosts real I/O only through a *network probe*
(:meth:`VirtualEventLoop.add_network_probe`): while a probe says something is
in flight (the MQTT medium's frames on their way through a broker), the loop
waits for the network in real time instead of warping, so virtual time stands
still while frames travel. Other real I/O (serial) uses :class:`WallClock`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import selectors
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

#: Where virtual runs start unless told otherwise: a fixed instant keeps
#: records byte-identical between runs.
DEFAULT_EPOCH = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


class VirtualTimeDeadlock(RuntimeError):
    """Raised when a virtual run waits on something that can never happen.

    Under wall time the loop would block forever; under virtual time there is
    no outside world to wake it, so we fail loudly instead of hanging CI.
    """


class DelegatingSelector(selectors.BaseSelector):
    """The platform selector behind a ``select`` a subclass changes (how long it waits).

    The virtual loop's selector warps the wait into a jump of virtual time; a
    served site's (``harness/serve/clock.py``) scales it. Everything but the
    wait goes to the real selector, so file descriptors still work.
    """

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self._real.select(timeout)

    def close(self) -> None:
        self._real.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Any:
        return self._real.get_map()


class _WarpSelector(DelegatingSelector):
    """A selector that advances virtual time instead of sleeping.

    It still polls real file descriptors (the loop's self-pipe, anything a
    test registered) without blocking, so ``call_soon_threadsafe`` works.
    """

    def __init__(self, loop: VirtualEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._probes: list[Callable[[], float]] = []

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        # A loop with only its self-pipe registered has nothing real to poll;
        # skipping the syscall keeps the hot path (one select per loop turn) cheap.
        events = self._real.select(0) if len(self._real.get_map()) > 1 else []
        if events:
            return events
        if timeout is None:
            raise VirtualTimeDeadlock(
                "virtual clock: every task is waiting and no timer is scheduled"
            )
        if timeout > 0:
            self._loop._advance(timeout)
        return []

    def _select_with_network(self, timeout: float | None = None
                             ) -> list[tuple[selectors.SelectorKey, int]]:
        """:meth:`select` while a network probe is registered (installed per instance).

        Only a turn that would warp (or declare a deadlock) asks the probes; a
        probe answers how many real seconds the network may still deliver
        something (0: nothing in flight), and the loop then blocks on its real
        file descriptors for that long instead of moving virtual time. Kept
        off the plain :meth:`select` so a loop without probes pays nothing.
        """
        if timeout == 0:
            return self._real.select(0)
        wait = max(probe() for probe in self._probes)
        if wait > 0:
            return self._real.select(wait)
        return _WarpSelector.select(self, timeout)


class _OrderedTimer(asyncio.TimerHandle):
    """A timer that, at equal deadlines, runs in the order it was scheduled.

    asyncio's heap breaks ties arbitrarily; under virtual time ties are the
    rule (time does not move between two sends), and frames sent back to back
    must arrive in order.
    """

    __slots__ = ("_seq",)

    def __init__(self, seq: int, *args: Any) -> None:
        super().__init__(*args)
        self._seq = seq

    def __lt__(self, other: object) -> bool:
        # The heap compares timers ~10 times per timer pushed with 50 installations
        # on a loop: no super() call or isinstance here (every timer of a virtual
        # loop is an _OrderedTimer, see call_at), which was 4 % of a fleet shard.
        when, other_when = self._when, other._when  # type: ignore[attr-defined]
        if when == other_when:
            return self._seq < other._seq  # type: ignore[attr-defined,no-any-return]
        return when < other_when  # type: ignore[no-any-return]


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose ``time()`` is virtual and jumps to the next timer."""

    def __init__(self) -> None:
        self._virtual_now = 0.0
        self._timer_seq = itertools.count()
        super().__init__(selector=_WarpSelector(self))
        # Timers due within this much of "now" run together; virtual time is
        # exact, so no slack is needed.
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual_now

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,
                context: Any = None) -> asyncio.TimerHandle:
        self._check_closed()  # type: ignore[attr-defined]
        timer = _OrderedTimer(next(self._timer_seq), when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)  # type: ignore[attr-defined]
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def _advance(self, seconds: float) -> None:
        self._virtual_now += seconds

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Join the executor's threads in place: their work is real, not virtual.

        asyncio waits for them through a future another thread resolves; a
        virtual loop with nothing else to do would call that a deadlock (it
        skips polling its self-pipe). Only a run that used ``run_in_executor``
        (the MQTT client connects that way) has an executor to shut down.
        """
        self._executor_shutdown_called = True
        executor, self._default_executor = self._default_executor, None  # type: ignore[has-type]
        if executor is not None:
            executor.shutdown(wait=True)

    def add_network_probe(self, probe: Callable[[], float]) -> None:
        """Wait for real I/O while ``probe()`` > 0 instead of warping or deadlocking.

        ``probe`` returns the real seconds worth waiting for the network (0
        when nothing is in flight); it may raise to abort the run (a broker
        that stopped answering), as a deadlock does. The first probe swaps the
        selector's ``select`` for the probing one and the last one removed
        swaps it back, so a loop that never hosts a real medium runs the
        unchanged warp path.
        """
        selector: _WarpSelector = self._selector  # type: ignore[attr-defined]
        selector._probes.append(probe)
        selector.select = selector._select_with_network  # type: ignore[method-assign]

    def remove_network_probe(self, probe: Callable[[], float]) -> None:
        selector: _WarpSelector = self._selector  # type: ignore[attr-defined]
        if probe in selector._probes:
            selector._probes.remove(probe)
        if not selector._probes and "select" in vars(selector):
            del selector.select


class Clock(Protocol):
    """What the emulator and harness are given instead of reading time directly."""

    def monotonic(self) -> float:
        """Seconds on the running loop's clock (virtual or real)."""
        ...

    def now(self) -> datetime:
        """The current instant as a UTC datetime, for records and DUIS headers."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait; under virtual time this returns at once with time advanced."""
        ...

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Any:
        """Schedule a callback; the cheap path for device latency (no task)."""
        ...

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to completion on a loop of this clock's kind."""
        ...

    @property
    def virtual(self) -> bool:
        """True when time warps, so callers can refuse real I/O."""
        ...


class _LoopClock:
    """Shared facade over the running loop; subclasses choose the loop."""

    virtual = False

    def __init__(self, epoch: datetime | None = None) -> None:
        self._epoch = epoch
        self._origin: float | None = None

    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def monotonic(self) -> float:
        return self._loop().time()

    def now(self) -> datetime:
        loop = self._loop()
        if self._origin is None:
            self._origin = loop.time()
        epoch = self._epoch or datetime.now(UTC)
        if self._epoch is None:
            self._epoch = epoch
        return epoch + timedelta(seconds=loop.time() - self._origin)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Any:
        return self._loop().call_later(delay, callback, *args)

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        self._origin = None
        with asyncio.Runner(loop_factory=self._new_loop) as runner:
            return runner.run(self._anchored(main))

    async def _anchored(self, main: Awaitable[T]) -> T:
        self._origin = asyncio.get_running_loop().time()
        return await main


class VirtualClock(_LoopClock):
    """Virtual time from a fixed epoch: seven days pass in milliseconds."""

    virtual = True

    def __init__(self, epoch: datetime = DEFAULT_EPOCH) -> None:
        super().__init__(epoch)

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        return VirtualEventLoop()


class WallClock(_LoopClock):
    """Real time, for hardware-in-the-loop benches and real I/O media."""


def make_clock(kind: str, epoch: datetime | None = None) -> VirtualClock | WallClock:
    """Build a clock by name ("virtual" or "wall"), as the CLI and bench files say it."""
    if kind == "virtual":
        return VirtualClock(epoch or DEFAULT_EPOCH)
    if kind == "wall":
        return WallClock(epoch)
    raise ValueError(f"unknown clock {kind!r}: expected 'virtual' or 'wall'")
