"""Real time for a served site, optionally scaled: the emulator's loop runs X times faster.

Why not the virtual clock: a DUIS user's adaptor lives in real time. Its
requests arrive whenever it sends them and it waits in seconds, so the
installations it talks to must age in step with it (a join window of 60 s
closes after 60 s, not when the loop has nothing else to do). ``--speed``
keeps that relation but shortens it: at 60, a minute of device time passes
each real second, so a day's half-hour profile fills in 24 real minutes.

How: an asyncio loop whose ``time()`` is real monotonic time multiplied by
the speed, and whose selector divides every wait by the speed. Every
``asyncio.sleep``, timeout and ``call_later`` in the emulator and the DCC
side is therefore scaled with no special calls, exactly as the virtual loop
warps them (``emulator/clock.py``). ``now()`` reads the same arithmetic
without the loop, so the HTTP side (another thread) can stamp an I99 with
the site's time.

Only the emulator runs on this loop; the HTTP server and the outgoing posts
keep their own unscaled loop, so their timeouts and retry backoff stay in
real seconds whatever the speed.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from s1bench.emulator.clock import DelegatingSelector

T = TypeVar("T")


class _ScaledSelector(DelegatingSelector):
    """The platform selector, waiting ``timeout / speed`` real seconds."""

    def __init__(self, speed: float) -> None:
        super().__init__()
        self._speed = speed

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self._real.select(None if timeout is None else max(timeout, 0) / self._speed)


class _ScaledLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: ScaledClock) -> None:
        self._scaled_clock = clock
        super().__init__(selector=_ScaledSelector(clock.speed))

    def time(self) -> float:
        return self._scaled_clock.elapsed()


class ScaledClock:
    """The :class:`~s1bench.emulator.clock.Clock` of a served site: real time times ``speed``.

    Starts at ``epoch`` (default: the real time when it is made), so DUIS
    response times read as today's at speed 1.
    """

    virtual = False

    def __init__(self, speed: float = 1.0, epoch: datetime | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be above 0, got {speed}")
        self.speed = float(speed)
        self._epoch = epoch or datetime.now(UTC)
        self._origin = time.monotonic()

    def elapsed(self) -> float:
        """Site seconds since the epoch; the loop's ``time()``."""
        return (time.monotonic() - self._origin) * self.speed

    def monotonic(self) -> float:
        return self.elapsed()

    def now(self) -> datetime:
        """The site's current instant; safe to call from any thread."""
        return self._epoch + timedelta(seconds=self.elapsed())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Any:
        return asyncio.get_running_loop().call_later(delay, callback, *args)

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return _ScaledLoop(self)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        with asyncio.Runner(loop_factory=self.new_loop) as runner:
            return runner.run(main)
