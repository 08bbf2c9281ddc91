"""One installation's migration, as a fleet worker runs it.

Each installation gets its own virtual clock and memory medium: nothing is
shared between two installations, so a worker can run any of them in any
order and the result depends only on (run seed, installation number, DMC).
That is what makes a fleet's outcome the same for 1 worker or 8.

The migration is the Standard Dormant DMCT pack's (request, validate,
credentials, commission); an installation that migrates is then made active
(seed 002: the DCC prefers dormant DMCs "made active immediately following
migration") and left for ``settle_s`` virtual seconds so the alerts its
devices raise once migrated (risk 11) are counted.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

STEPS = ("request", "validate", "credentials", "commission")


def installation_seed(seed: int, index: int) -> int:
    return zlib.crc32(f"fleet\x1f{seed}\x1f{index}".encode())


def migrate_one(dmc: str, index: int, seed: int, *, settle_s: float = 0.0,
                medium: str = "memory", medium_options: dict[str, Any] | None = None
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(record line, metrics sample) for one installation's migration, on its own clock."""
    from s1bench.emulator.clock import VirtualClock

    clock = VirtualClock()
    line, latencies = clock.run(_migrate(clock, dmc, index, seed, settle_s, medium,
                                         dict(medium_options or {})))
    return line, {"latencies": latencies}


async def _migrate(clock: Any, dmc: str, index: int, seed: int, settle_s: float, medium: str,
                   options: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, float]]]:
    """One installation's migration on ``clock``: its record line and SRV latencies.

    The installation has its own medium, seed and DCC role; it shares only the
    clock (and so the event loop) with the others of its shard.
    """
    from s1bench.emulator.medium_faults import fault_counts

    from ..builder import build_installation, resolve_dmc
    from ..dcc import DccRole
    from ..migration import MigrationState
    from ..runner import migration_issue

    spec = resolve_dmc(dmc)
    own_seed = installation_seed(seed, index)
    if medium == "memory":
        inst = build_installation(spec, clock, seed=own_seed, index=index,
                                  medium_options=options)
    else:
        inst = build_installation(spec, clock, seed=own_seed, index=index, medium=(
            _other_medium(medium, clock, own_seed, options, index)))
    inst.start()
    try:
        dcc = DccRole(inst, spec.dcc_quirks, seed=own_seed)
        migration = MigrationState(dcc)
        stage = "request"
        for stage in STEPS:
            ok, _ = await migration.step(stage)
            if not ok:
                break
        if migration.outcome in ("migrated", "fixed forward"):
            await migration.step("activate")
            if settle_s:
                await clock.sleep(settle_s)
        latencies = [(ex.request["srv"], ex.latency_s) for ex in dcc.exchanges]
        unknown = None
        issues: list[str] = []
        if migration.outcome not in ("migrated", "fixed forward", None):
            known = migration_issue(spec, migration, dcc.exchanges[-1] if dcc.exchanges else None)
            if known is None:
                unknown = f"{migration.outcome} at {stage}: {migration.evidence[-1]}"
            else:
                issues.append(str(known["id"]))
        alerts = Counter(a.code for a in inst.alerts)
        suffered = fault_counts(inst.medium)
        return {"kind": "installation", "i": index, "dmc": dmc,
                "outcome": migration.outcome or "stalled", "stage": migration.stage,
                "issues": issues, "unknown_error": unknown,
                "fixed_forward": migration.fixed_forward,
                "alerts": dict(sorted(alerts.items())),
                "srvs": len(dcc.exchanges), "frames": inst.medium.stats.sent,
                **({"faults": suffered} if suffered else {})}, latencies
    finally:
        inst.medium.close()


def _other_medium(name: str, clock: Any, seed: int, options: dict[str, Any],
                  index: int) -> Any:
    """A medium of its own for the installation: over MQTT, topics of its own too
    (``site``), so two installations never hear each other whatever their PAN ids.

    Every station of an installation lives in the same worker, so the medium need
    not wait for stations in other processes (``remote_wait`` 0): a frame to a
    device that is off would otherwise cost a quarter of a real second. An
    installation that starts while the broker restarts waits for it
    (``connect_retry_s``) rather than failing its whole shard.
    """
    from s1bench.emulator.medium import make_medium

    return make_medium(name, clock=clock, seed=seed,
                       **{"site": f"fleet-{index}", "remote_wait": 0.0,
                          "connect_retry_s": 60.0, **options})


#: Installations of one shard migrating at once on one loop. Sharing the loop
#: amortises its turns; the bound keeps a shard's memory flat.
CONCURRENT = 50


def run_shard(job: tuple[list[tuple[str, int]], int, float, str, dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A worker's unit: migrate each (dmc, index); returns lines and merged metrics.

    The shard's installations run side by side on one virtual clock, at most
    :data:`CONCURRENT` at a time, each started when one before it ends, in
    shard order. A shard is the same whatever the number of workers, so the
    interleaving, and every result, is too. Metrics travel back aggregated
    (per SRV and DMC) rather than per installation, so a shard of hundreds
    costs one small message.
    """
    from s1bench.emulator.clock import VirtualClock

    items, seed, settle_s, medium, options = job
    started = time.perf_counter()
    clock = VirtualClock()

    async def main() -> list[tuple[dict[str, Any], list[tuple[str, float]]]]:
        gate = asyncio.Semaphore(CONCURRENT)

        async def one(dmc: str, index: int) -> tuple[dict[str, Any], list[tuple[str, float]]]:
            async with gate:
                return await _migrate(clock, dmc, index, seed, settle_s, medium, dict(options))

        return list(await asyncio.gather(*(one(dmc, index) for dmc, index in items)))

    results = clock.run(main())
    lines: list[dict[str, Any]] = []
    samples: dict[tuple[str, str], list[float]] = {}
    for line, latencies in results:
        lines.append(line)
        for srv, latency in latencies:
            samples.setdefault((srv, line["dmc"]), []).append(latency)
    return lines, {"latencies": samples, "wall_s": time.perf_counter() - started}


def shards(items: Iterable[tuple[str, int]], size: int, at_least: int = 1
           ) -> list[list[tuple[str, int]]]:
    """``items`` in order, cut into at least ``at_least`` shards of at most ``size``,
    as even as whole installations allow.

    Even, because a wave ends when its last shard does: cut 500 into 200, 200
    and 100 and one of two workers migrates 300 while the other waits after
    200. The cut depends on the items alone, never on the number of workers,
    so the record stays the same for any ``--workers``.
    """
    batch = list(items)
    if not batch:
        return []
    count = max(-(-len(batch) // size), min(len(batch), at_least))
    base, extra = divmod(len(batch), count)
    out: list[list[tuple[str, int]]] = []
    start = 0
    for n in range(count):
        end = start + base + (1 if n < extra else 0)
        out.append(batch[start:end])
        start = end
    return out
