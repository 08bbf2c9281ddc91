"""A bench as a run target: the emulated hub on the dongle, the bench's meters as its devices.

Why this shape: ``s1bench run --bench``, the pytest plugin's ``--s1-bench``
and ``s1bench diff`` all run a pack the way the emulator does (the same DCC
role, steps, checks and record), so only the installation differs. On a
bench it is the emulated comms hub alone (its firmware profile, quirks and
head-end handlers, from the bench's DMC) with its HAN behind the radio link,
and labels taken from the bench file, because a physical meter's EUI-64 and
install code are printed on it rather than derived from a seed.

One link for a whole run: the dongle is opened, the network formed or
resumed and the meters joined once, at the first test. A meter that joined
does not announce itself again, so a link opened per test would not know
it; and a dongle's start costs seconds. zigpy's application lives on one
event loop, so every test of the run runs on that loop (``BenchClock``), on
the wall clock: a ``wait`` step takes real time. Each test still gets a
fresh hub (an empty device log, with the joined meters enrolled as
commissioned), as each emulated test gets a fresh installation.

Faults: a device that stops answering is the hub's business (no answer after
its attempts: ``silent``, E21, recorded; the run goes on). A dongle that goes
away is ``LinkLost`` (a ``TargetLost``), raised when the link cannot be
opened or says after a step that it lost its dongle: the runner records that
step as an error naming the port and stops, and ``s1bench run --resume``
re-runs the interrupted test on a newly opened link.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from s1bench.emulator.clock import WallClock
from s1bench.emulator.devices import CHF, DeviceInfo
from s1bench.emulator.headend import eui64_int
from s1bench.emulator.installation import LATE_JOINERS, Installation, Label
from s1bench.harness.builder import DmcSpec
from s1bench.harness.targets import TargetLost

from .bench import Bench
from .check import Opener, RadioUnavailable, bring_up, open_bench_radio, radio_module
from .ports import PortError, check_port

T = TypeVar("T")


class LinkLost(TargetLost):
    """The dongle went away (unplugged, ser2net stopped, NCP gone); names the port."""


class BenchClock(WallClock):
    """Wall time on the bench target's one event loop, so the radio link outlives a test."""

    def __init__(self, target: BenchTarget) -> None:
        super().__init__()
        self._target = target

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        self._origin = None
        return self._target.loop().run_until_complete(self._anchored(main))


class BenchTarget:
    """Runs each test's installation on the bench named by ``bench``; ``close()`` at the end."""

    kind = "bench"

    def __init__(self, bench: Bench, *, opener: Opener | None = None,
                 join_timeout_s: float | None = None) -> None:
        self.bench = bench
        self.opener = opener
        self.join_timeout_s = bench.join_timeout_s if join_timeout_s is None \
            else join_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._link: Any = None
        self._formed = False

    @property
    def port(self) -> str:
        return self.bench.dongle.port

    def require_radio(self) -> None:
        """RadioUnavailable now rather than at the first test, when the link is missing."""
        if self.opener is None:
            radio_module()

    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop

    def new_clock(self) -> BenchClock:
        return BenchClock(self)

    def describe(self) -> dict[str, Any]:
        return {"kind": "bench", **self.bench.describe()}

    def spec_for(self, spec: DmcSpec) -> DmcSpec:
        """The DMC narrowed to the hub and the bench's devices, as the bench reports them.

        A step for a device the bench lacks is then skipped ("the DMC has no
        PPMID") rather than failed, and ``each_srv`` expands only to the
        devices that are there.
        """
        devices = {CHF: spec.devices[CHF]}
        for device in self.bench.devices:
            devices[device.type] = self.device_info(spec, device.type)
        return dataclasses.replace(spec, devices=devices)

    def device_info(self, spec: DmcSpec, device_type: str) -> DeviceInfo:
        """The DMC's view of a slot, with the model and firmware the bench's device runs."""
        device = self.bench.device(device_type)
        base = spec.devices.get(device_type) or DeviceInfo(device_type, "", "", "")
        return dataclasses.replace(base, manufacturer=device.manufacturer, model=device.model,
                                   firmware_version=device.firmware)

    def _lost(self, reason: str) -> LinkLost:
        """A LinkLost naming the port once, whoever wrote the reason."""
        return LinkLost(reason if reason.startswith(self.port) else f"{self.port}: {reason}")

    async def _open(self) -> Any:
        try:
            check_port(self.port, self.bench.dongle.baudrate)
        except PortError as exc:
            raise LinkLost(str(exc)) from None
        try:
            return await (self.opener or open_bench_radio)(self.bench)
        except RadioUnavailable:
            raise
        except Exception as exc:
            raise self._lost(f"the radio link did not start: {exc}") from None

    async def _up(self) -> dict[str, int | None]:
        """The open link's joined devices, opening it and joining the meters the first time."""
        if self._link is None:
            self._link = await self._open()
            self._formed = False
        meters = [d for d in self.bench.devices if d.type not in LATE_JOINERS]
        try:
            joined = await bring_up(self._link, meters, self.join_timeout_s,
                                    form=not self._formed)
        except Exception as exc:
            await self._drop_link()
            raise self._lost(f"forming or resuming the network failed: {exc}") from None
        self._formed = True
        return joined

    async def _drop_link(self) -> None:
        link, self._link, self._formed = self._link, None, False
        if link is not None:
            # Closing a link whose dongle has gone can fail; it is gone either way.
            with contextlib.suppress(Exception):
                await link.close()

    @asynccontextmanager
    async def installation(self, spec: DmcSpec, clock: Any, *, seed: int, index: int,
                           capture: str | None = None,
                           medium_options: dict[str, Any] | None = None,
                           enrolled: bool = False) -> AsyncIterator[Installation]:
        if capture:
            raise ValueError("a bench has no frames to capture: the dongle works at APS level")
        joined = await self._up()
        inst = Installation.on_link({CHF: spec.devices[CHF]}, self._link, clock, seed=seed,
                                    index=index, status=spec.status, dmc_id=spec.id,
                                    enrolled=enrolled)
        for device in self.bench.devices:
            ieee = eui64_int(device.eui)
            inst.hub.add_known(ieee, self.device_info(spec, device.type))
            inst.labels[device.eui] = Label(device.eui, device.type, device.install_code)
            short = joined.get(device.eui)
            if device.type not in LATE_JOINERS and short is not None:
                # A commissioned meter is on the HAN already: the hub knows its address.
                inst.hub.enrol_joined(ieee, device.type, short)
        inst.start()
        yield inst

    async def verify(self) -> None:
        """LinkLost when the link says its dongle is gone (checked after every step)."""
        link = self._link
        if link is None:
            return
        state = getattr(link, "connected", None)
        if callable(state):
            state = state()
        if state is False:
            reason = getattr(link, "lost_reason", None) or "the dongle stopped answering"
            await self._drop_link()
            raise self._lost(str(reason))

    def close(self) -> None:
        """Close the link and the loop (the end of a run or a pytest session)."""
        if self._loop is None or self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(self._drop_link())
        self._loop.close()
        self._loop = None
