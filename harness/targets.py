"""Where a test's installation comes from: the emulator, or a bench of real devices.

Why a seam here: the runner, the pytest plugin and ``s1bench diff`` should
run one pack the same way whether the devices are emulated on a virtual
clock or sit on a bench behind a Zigbee dongle on the wall clock. What
differs is only how an installation is built and torn down, which clock
runs it, and what can go wrong underneath (a dongle unplugged mid-run). A
``Target`` says exactly that; everything above it (the DCC role, steps,
checks, the record) is shared, so a differential run compares like with like.

The emulator target is here; the bench target lives in ``s1bench.hil`` and is
imported only when a bench is named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.installation import Installation

from .builder import DmcSpec, build_installation


class TargetLost(RuntimeError):
    """What the target stands on went away (the dongle): the run cannot go on.

    Unlike a silent device (E21, recorded, and the run goes on), nothing after
    this can be trusted, so the runner records the step it happened in as an
    error with this message and stops without an end line: ``--resume``
    re-runs the interrupted test once the target is back.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        #: The step lines the interrupted test recorded, for the runner to write.
        self.steps: list[dict[str, Any]] = []


class Target(Protocol):
    """Builds the installation a test runs on, and says what it is for the record."""

    #: "emulator" or "bench": how records and reports name the side.
    kind: str

    def new_clock(self) -> Any:
        """A fresh clock per test: virtual on the emulator, the wall clock on a bench."""
        ...

    def spec_for(self, spec: DmcSpec) -> DmcSpec:
        """The DMC as this target has it: a bench may hold only some of its devices."""
        ...

    def installation(self, spec: DmcSpec, clock: Any, *, seed: int, index: int,
                     capture: str | None = None, medium_options: dict[str, Any] | None = None,
                     enrolled: bool = False) -> AbstractAsyncContextManager[Installation]:
        """An installation for one test, started, and torn down on exit."""
        ...

    async def verify(self) -> None:
        """Raise TargetLost when the target stopped working (checked after each step)."""
        ...

    def describe(self) -> dict[str, Any] | None:
        """What the run line records of the target; None for the emulator (the default)."""
        ...

    def close(self) -> None:
        """Release what the target holds across tests (a bench's dongle) at a run's end."""
        ...


class EmulatorTarget:
    """Emulated installations on their own in-memory HAN and virtual clock.

    ``only`` keeps the hub and these device types of each DMC: the emulator
    side of a differential run holds what the bench holds, so a device the
    bench lacks is skipped on both sides rather than reported as a difference.
    """

    kind = "emulator"

    def __init__(self, only: frozenset[str] | None = None) -> None:
        self.only = only

    def new_clock(self) -> VirtualClock:
        return VirtualClock()

    def spec_for(self, spec: DmcSpec) -> DmcSpec:
        if self.only is None:
            return spec
        kept = {t: info for t, info in spec.devices.items() if t == "CHF" or t in self.only}
        return dataclasses.replace(spec, devices=kept)

    @asynccontextmanager
    async def installation(self, spec: DmcSpec, clock: Any, *, seed: int, index: int,
                           capture: str | None = None,
                           medium_options: dict[str, Any] | None = None,
                           enrolled: bool = False) -> AsyncIterator[Installation]:
        inst = build_installation(spec, clock, seed=seed, index=index, capture=capture,
                                  medium_options=medium_options, enrolled=enrolled)
        inst.start()
        try:
            yield inst
        finally:
            inst.medium.close()

    async def verify(self) -> None:
        return None

    def describe(self) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        return None


EMULATOR = EmulatorTarget()
