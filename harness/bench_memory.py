"""What an installation costs in memory, and whether a big fleet's HANs stay apart.

A fleet run holds every installation it has built, so resident bytes per
installation decide how many one machine can carry (issue 12: a million
in 8 GiB means about 8 KiB each). Figures are RSS deltas read from
``/proc/self/statm`` around building N installations, because RSS is what
the machine runs out of (tracemalloc would miss allocator overhead and
C-level buffers such as a ``random.Random``'s state). Machines are shared
and allocators keep freed pages, so each figure sits beside a baseline
taken the same way in the same run: N small Python objects with an empty
dict each, and N ``random.Random`` (what the per-device generators used to
cost).

The fleet check puts every installation on ONE memory medium, whatever the
PAN ids derived from their indexes, and sends each a unicast read and a
broadcast; a frame that reaches a station of another installation is a
misdelivery and must never happen.

``bench_memory()`` returns a JSON-able dict; ``python -m
s1bench.harness.bench_memory [N ...]`` prints it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.headend import Command, OutcomeStatus
from s1bench.emulator.installation import Installation
from s1bench.emulator.medium_memory import MemoryMedium
from s1bench.harness.builder import DmcSpec, build_installation, resolve_dmc

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_kib() -> float:
    """Resident set size now, in KiB (Linux ``/proc/self/statm``, second field)."""
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 1024


class _Empty:
    """The least a Python object with attributes costs: the baseline's unit."""

    def __init__(self) -> None:
        self.d: dict[str, Any] = {}


def _per_item_kib(make: Any, n: int) -> float:
    """RSS KiB per item of ``n`` items built by ``make`` (kept alive while measured)."""
    before = _rss_kib()
    items = [make(i) for i in range(n)]
    after = _rss_kib()
    del items
    return round((after - before) / n, 3)


class _CheckedMedium(MemoryMedium):
    """A memory medium that counts frames handed to a station of another installation.

    An installation's EUIs share everything but the last byte (the device
    type), so ``ieee >> 8`` names the installation a station belongs to.
    Frames are immutable bytes held by their pending delivery, so the
    object's id identifies its sender until it is delivered.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.misdelivered = 0
        self._senders: dict[int, int] = {}

    def send(self, sender: Any, frame: bytes) -> None:
        self._senders[id(frame)] = sender.ieee >> 8
        super().send(sender, frame)

    def _deliver(self, station: Any, frame: bytes) -> None:
        owner = self._senders.get(id(frame))
        if owner is not None and station.ieee >> 8 != owner:
            self.misdelivered += 1
        super()._deliver(station, frame)


def _build(spec: DmcSpec, clock: VirtualClock, medium: MemoryMedium, n: int,
           seed: int) -> list[Installation]:
    return [build_installation(spec, clock, seed=seed, index=i, medium=medium)
            for i in range(n)]


def _idle(spec: DmcSpec, n: int, seed: int, probe: bool) -> dict[str, Any]:
    """``n`` idle installations on one medium; with ``probe``, the misdelivery check."""
    clock = VirtualClock()
    medium = _CheckedMedium(clock=clock, seed=seed, latency=0.005)

    async def main() -> dict[str, Any]:
        before = _rss_kib()
        started = time.perf_counter()
        insts = _build(spec, clock, medium, n, seed)
        built_s = time.perf_counter() - started
        after = _rss_kib()
        out: dict[str, Any] = {"installations": n,
                               "kib_per_idle_installation": round((after - before) / n, 3),
                               "build_s": round(built_s, 2)}
        if probe:
            out.update(await _probe(insts, medium))
        return out

    return clock.run(main())


async def _probe(insts: list[Installation], medium: _CheckedMedium) -> dict[str, Any]:
    """Each installation: a ZCL read of its ESME (unicast both ways) and a broadcast.

    Installations share PAN ids once there are more of them than PAN ids
    (``index`` and ``index + 57,344`` did); their frames must still reach
    only their own stations.
    """
    sent_before, delivered_before = medium.stats.sent, medium.stats.delivered
    started = time.perf_counter()
    failed = 0
    batch = 2_000
    for first in range(0, len(insts), batch):
        chunk = insts[first:first + batch]
        for inst in chunk:
            # A Mgmt_Permit_Joining broadcast to every router of the HAN.
            inst.hub.open_join_window(1)
        outcomes = await asyncio.gather(*(inst.execute(Command(
            "read_import_registers", inst.eui_of("ESME"))) for inst in chunk))
        failed += sum(o.status != OutcomeStatus.DONE for o in outcomes)
    return {"probe_frames_sent": medium.stats.sent - sent_before,
            "probe_frames_delivered": medium.stats.delivered - delivered_before,
            "misdelivered_frames": medium.misdelivered,
            "probe_reads_failed": failed,
            "probe_s": round(time.perf_counter() - started, 2)}


def _migrated(spec: DmcSpec, n: int, seed: int) -> dict[str, Any]:
    """``n`` installations migrated (request, validate, credentials, commission).

    Each installation's DCC side (DccRole, MigrationState) is still held when
    measured, as a run holds it while its installations live: the figure is
    what a migrated installation costs a run, not the emulator alone (RSS
    does not shrink when the DCC side is dropped, so that part cannot be
    told apart this way).
    """
    from s1bench.harness.dcc import DccRole
    from s1bench.harness.migration import MigrationState

    clock = VirtualClock()
    medium = MemoryMedium(clock=clock, seed=seed, latency=0.005)

    async def migrate(inst: Installation) -> tuple[Any, str | None]:
        dcc = DccRole(inst, spec.dcc_quirks, seed=seed)
        state = MigrationState(dcc)
        for step in ("request", "validate", "credentials", "commission"):
            ok, _ = await state.step(step)
            if not ok:
                break
        return (dcc, state), state.outcome

    async def main() -> dict[str, Any]:
        before = _rss_kib()
        insts = _build(spec, clock, medium, n, seed)
        for inst in insts:
            inst.start()
        started = time.perf_counter()
        held: list[Any] = []
        outcomes: dict[str, int] = {}
        for first in range(0, n, 1_000):
            results = await asyncio.gather(*(migrate(i) for i in insts[first:first + 1_000]))
            for pair, outcome in results:
                held.append(pair)
                outcomes[str(outcome)] = outcomes.get(str(outcome), 0) + 1
        took = time.perf_counter() - started
        after = _rss_kib()
        return {"installations": n, "outcomes": outcomes, "migrate_s": round(took, 2),
                "kib_per_migrated_installation_with_dcc_side": round((after - before) / n, 3)}

    return clock.run(main())


def _baselines(n: int) -> dict[str, Any]:
    return {"baseline_kib_per_empty_object": _per_item_kib(lambda i: _Empty(), n),
            "baseline_kib_per_random_Random": _per_item_kib(random.Random, min(n, 20_000))}


def _one(kind: str, n: int, dmc: str, seed: int, probe: bool) -> dict[str, Any]:
    """One measurement, in this process (a fresh one: see :func:`_isolated`)."""
    if kind == "baselines":
        return _baselines(n)
    spec = resolve_dmc(dmc)
    if kind == "idle":
        return _idle(spec, n, seed, probe)
    return _migrated(spec, n, seed)


def _isolated(kind: str, n: int, dmc: str, seed: int, probe: bool = False) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter.

    Pages an earlier measurement freed stay in this process and would be
    reused, making a later RSS delta look smaller than it is.
    """
    out = subprocess.run([sys.executable, "-m", "s1bench.harness.bench_memory", "--one", kind,
                          str(n), dmc, str(seed), "probe" if probe else "-"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def bench_memory(sizes: tuple[int, ...] = (10_000, 100_000), migrated: int = 10_000,
                 dmc: str = "reference", seed: int = 1) -> dict[str, Any]:
    """Resident KiB per idle installation at each size, per migrated one, and misdeliveries.

    Every installation of a size shares one memory medium and one virtual
    clock. The largest size is also probed for misdelivered frames (must be
    0). Baselines: RSS KiB per small object with an empty dict, and per
    ``random.Random``, measured the same way in the same run. Each figure
    comes from a fresh interpreter.
    """
    base_n = max(sizes) if sizes else 10_000
    result: dict[str, Any] = {
        "python": sys.version.split()[0], "dmc": resolve_dmc(dmc).id,
        "measure": "RSS delta (/proc/self/statm) after gc.collect(), divided by the number "
                   "built; each figure in a fresh interpreter",
        **_isolated("baselines", base_n, dmc, seed),
        "idle": [_isolated("idle", n, dmc, seed, probe=n == max(sizes)) for n in sizes],
    }
    if migrated:
        result["migrated"] = _isolated("migrated", migrated, dmc, seed)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--one"]:
        kind, n, dmc, seed, probe = args[1:6]
        print(json.dumps(_one(kind, int(n), dmc, int(seed), probe == "probe")))
        return 0
    sizes = tuple(int(a) for a in args if a.isdigit()) or (10_000, 100_000)
    dmc = next((a for a in args if not a.isdigit()), "reference")
    print(json.dumps(bench_memory(sizes, migrated=min(10_000, max(sizes)), dmc=dmc),
                     indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
