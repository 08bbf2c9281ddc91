"""A fleet run: days of paced migrations, sharded over worker processes, recorded durably.

The record (``OUT/record.jsonl``) is the run; the summary, report and
metrics snapshot are rendered from it. Its lines:

* ``fleet``: the options and pacing policy (the first line, committed alone);
* ``decision``: each pacing decision with its reason (day, DMC, wave);
* ``installation``: one per installation migrated (outcome, stage, Testing
  Issues, unknown error, alerts, SRVs and frames);
* ``day``: the day's totals once its last wave is in;
* ``end``.

**Resume.** The pacer is deterministic, so a resumed run replays the same
days and decisions: an installation whose line is in the record is taken
from it instead of being migrated again, and a decision or day line already
there is not written again. A kill loses at most the shard being written
(group commit, :class:`~s1bench.harness.runner.RecordWriter`), and those
installations are exactly the ones the resume migrates.

**Workers.** A wave's installations are cut into shards and handed to a
process pool (fork); results come back per shard and are put in installation
order before they are recorded or judged, so 1 worker and 8 give the same
record apart from wall times.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s1bench import __version__

from ..runner import RecordWriter, read_lines
from .pacing import FAILED, Decision, Pacer, PacingPolicy
from .plan import plan_fleet
from .work import run_shard, shards

#: Installations per shard: large enough that a pool message is cheap beside it,
#: small enough that a kill loses little and progress moves.
SHARD = 200
#: Shards a wave is cut into at least, so that workers up to this many end a wave
#: together (whatever the number of workers: the cut must not depend on it).
MIN_SHARDS = 8


class FleetError(ValueError):
    """A fleet the options cannot describe, or a record the options contradict."""


def run_fleet(out: Path, *, installations: int, mix: dict[str, float], per_day: int,
              days: int, seed: int = 0, workers: int = 1, medium: str = "memory",
              medium_options: dict[str, Any] | None = None, settle_s: float = 0.0,
              policy: PacingPolicy | None = None, resume: bool = False,
              metrics: Any = None, progress: Callable[[int, int, str], None] | None = None,
              say: Callable[[str], None] | None = None,
              broker: tuple[str, int] | None = None, broker_run: str | None = None,
              stop_after: int | None = None, auth: dict[str, str] | None = None,
              cohorts: dict[str, str] | None = None) -> Path:
    """Run (or resume) a fleet into ``out``; returns the record's path.

    ``stop_after`` ends the run after that many installations have been
    recorded in this call (tests use it to stand in for a kill). ``auth``
    (username, password, ca_file) reaches the broker and an MQTT medium but
    never the record: the fleet line names the user and CA file only.
    """
    policy = policy or PacingPolicy()
    policy.check()
    if installations < 1 or per_day < 1 or days < 1 or workers < (0 if broker else 1):
        raise FleetError("--installations, --per-day and --days must be >= 1, and --workers "
                         ">= 1 (>= 0 with --broker: workers elsewhere take the shards)")
    path = out / "record.jsonl"
    header = {"kind": "fleet", "version": __version__, "installations": installations,
              "mix": mix, "per_day": per_day, "days": days, "seed": seed, "medium": medium,
              "medium_options": medium_options or {}, "settle_s": settle_s,
              **({"broker_auth": {k: v for k, v in auth.items() if k != "password"}}
                 if auth else {}),
              "pacing": policy.as_dict(), **({"cohorts": cohorts} if cohorts else {})}
    existing = read_lines(path) if path.exists() else []
    if existing and not resume:
        raise FleetError(f"{path} already holds a fleet run: --resume it, or choose another "
                         "--out")
    if resume and existing:
        _check_resume(existing[0], header, path)
    out.mkdir(parents=True, exist_ok=True)
    recorded = {line["i"]: line for line in existing if line.get("kind") == "installation"}
    written = {_key(line) for line in existing if line.get("kind") in ("decision", "day")}
    fleet = plan_fleet(installations, mix, seed)
    pacer = Pacer(policy, per_day, mix, {d: len(q) for d, q in fleet.queues.items()},
                  cohorts)
    cursor = dict.fromkeys(fleet.queues, 0)
    writer = RecordWriter(path)
    # What an MQTT medium connects with: the recorded options and the credentials.
    job_options = {**(medium_options or {}), **(auth or {})} if medium == "mqtt" else (
        medium_options or {})
    done_now = 0
    finished = len(recorded)
    if broker is not None:
        from .broker import BrokerPool

        pool: Any = BrokerPool(broker[0], broker[1], workers, broker_run, auth)
        if say:
            say(f"shards go through broker {broker[0]}:{broker[1]} as run {pool.run}; "
                f"more workers: s1bench fleet-worker --broker {broker[0]}:{broker[1]} "
                f"--run {pool.run}")
    else:
        pool = _pool(workers) if workers > 1 else None

    def emit(line: dict[str, Any]) -> None:
        if _key(line) not in written:
            written.add(_key(line))
            writer.write(line)

    def tell(decisions: list[Decision]) -> None:
        for decision in decisions:
            emit(decision.line())
            if metrics is not None:
                metrics.decision(decision)
            if say and decision.action not in ("go",):
                say(f"day {decision.day} {decision.dmc}: {decision.action} "
                    f"({decision.reason})")

    try:
        if not existing:
            writer.write(header, commit=True)
        if progress:
            progress(finished, installations, "")
        for day in range(1, days + 1):
            volumes, decisions = pacer.go_no_go(day)
            tell(decisions)
            day_lines: list[dict[str, Any]] = []
            for wave in range(1, policy.waves + 1):
                items: list[tuple[str, int]] = []
                for dmc in sorted(volumes):
                    planned = _wave_part(volumes[dmc], policy.waves, wave)
                    allowed = pacer.wave_share(dmc, planned)
                    queue = fleet.queues[dmc]
                    take = queue[cursor[dmc]:cursor[dmc] + allowed]
                    cursor[dmc] += len(take)
                    items.extend((dmc, index) for index in take)
                if not items:
                    continue
                results = _migrate(items, recorded, pool, seed, settle_s, medium,
                                   job_options, metrics, writer, day, wave)
                for line in results:
                    if line["i"] not in recorded:
                        done_now += 1
                        finished += 1
                        recorded[line["i"]] = line
                    if progress:
                        progress(finished, installations,
                                 f"day {day} wave {wave}: {line['dmc']} {line['outcome']}")
                day_lines.extend(results)
                writer.commit()
                tell(pacer.judge_wave(day, wave, results))
                writer.commit()
                if stop_after is not None and done_now >= stop_after:
                    return path
            tell(pacer.end_of_day(day))
            emit(_day_line(day, day_lines))
            writer.commit()
            if say:
                counts = Counter(line["outcome"] for line in day_lines)
                say(f"day {day}: {len(day_lines)} migrations "
                    + ", ".join(f"{n} {o}" for o, n in sorted(counts.items())))
            if all(left == 0 for left in pacer.remaining.values()):
                break
        emit({"kind": "end", "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    finally:
        writer.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    return path


def _key(line: dict[str, Any]) -> tuple[Any, ...]:
    kind = line.get("kind")
    if kind == "decision":
        return (kind, line["day"], line["dmc"], line["action"], line.get("wave"))
    if kind == "day":
        return (kind, line["day"])
    return (kind,)


def _check_resume(first: dict[str, Any], header: dict[str, Any], path: Path) -> None:
    if first.get("kind") != "fleet":
        raise FleetError(f"{path} is not a fleet record (its first line is not 'fleet')")
    wrong = [name for name in ("installations", "mix", "per_day", "seed", "pacing", "settle_s",
                               "cohorts")
             if json.loads(json.dumps(first.get(name))) != json.loads(json.dumps(header.get(name)))]
    faults = (first.get("medium_options") or {}).get("faults")
    if json.loads(json.dumps(header["medium_options"].get("faults"))) != faults:
        # The installations still to run would suffer other faults than those recorded.
        wrong.append("--faults")
        first = {**first, "--faults": faults}
    if wrong:
        raise FleetError(f"--resume: {', '.join(wrong)} differ from the record in {path} "
                         f"(recorded: {', '.join(f'{n}={first.get(n)!r}' for n in wrong)})")


def _wave_part(volume: int, waves: int, wave: int) -> int:
    """Wave ``wave``'s part of a day's volume: the volume spread evenly, remainder first."""
    base, extra = divmod(volume, waves)
    return base + (1 if wave <= extra else 0)


def _pool(workers: int) -> Any:
    return ShardPool(workers)


class ShardPool:
    """``imap`` over shards in worker processes that survives a worker killed mid-shard.

    ``multiprocessing.Pool`` replaces a killed worker but loses the task it
    held, so ``imap`` would wait for it forever. A process pool executor
    says so instead (``BrokenProcessPool``): the pool is rebuilt and every
    shard without a result is submitted again. Nothing of a lost shard was
    recorded (only the coordinator writes the record), so it is migrated from
    the start, once, and its lines say ``resent``.
    """

    def __init__(self, workers: int) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self._context = multiprocessing.get_context(method)
        self._workers = workers
        self._executor = self._start()
        #: Times a killed worker broke the pool.
        self.rebuilt = 0

    def _start(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(self._workers, mp_context=self._context)

    def imap(self, fn: Callable[..., Any], jobs: Any) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        jobs = list(jobs)
        futures: dict[int, Any] = {}
        resent: set[int] = set()

        def submit(start: int) -> None:
            """Jobs ``start``.. to the pool; a pool a worker broke (even an idle one) is
            rebuilt first. A job submitted before is a resend."""
            while True:
                try:
                    for m in range(start, len(jobs)):
                        if m in futures:
                            resent.add(m)
                        futures[m] = self._executor.submit(fn, jobs[m])
                    return
                except BrokenProcessPool:
                    self._rebuild()

        submit(0)
        for n in range(len(jobs)):
            while True:
                try:
                    lines, sample = futures[n].result()
                    break
                except BrokenProcessPool:
                    self._rebuild()
                    submit(n)
            if n in resent:
                sample = {**sample, "resent": "worker process lost; shard sent again"}
            yield lines, sample

    def _rebuild(self) -> None:
        self.rebuilt += 1
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._start()

    def terminate(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def join(self) -> None:
        self._executor.shutdown(wait=True)


def _migrate(items: list[tuple[str, int]], recorded: dict[int, dict[str, Any]], pool: Any,
             seed: int, settle_s: float, medium: str, options: dict[str, Any], metrics: Any,
             writer: RecordWriter, day: int, wave: int) -> list[dict[str, Any]]:
    """The wave's lines in installation order: recorded ones reused, the rest migrated."""
    todo = [(dmc, index) for dmc, index in items if index not in recorded]
    jobs = [(batch, seed, settle_s, medium, options)
            for batch in shards(todo, SHARD, MIN_SHARDS)]
    fresh: dict[int, dict[str, Any]] = {}
    # imap, not imap_unordered: shards land in the record in the same order for any
    # number of workers, so two runs of one seed write the same record.
    results = pool.imap(run_shard, jobs) if pool is not None else map(run_shard, jobs)
    for lines, sample in results:
        for line in lines:
            line.update(day=day, wave=wave)
            if sample.get("resent"):
                # Migrated from the start again (a lost worker or broker): the record says so.
                line["resent"] = sample["resent"]
            fresh[line["i"]] = line
            writer.write(line)
        writer.commit()  # one fsync per shard: a kill loses at most the shard in flight
        if metrics is not None:
            metrics.shard(lines, sample)
    return [recorded[index] if index in recorded else fresh[index] for _, index in
            sorted(items, key=lambda item: item[1])]


def _day_line(day: int, lines: list[dict[str, Any]]) -> dict[str, Any]:
    per_dmc: dict[str, Counter[str]] = {}
    for line in lines:
        per_dmc.setdefault(line["dmc"], Counter())[line["outcome"]] += 1
    return {"kind": "day", "day": day, "migrations": len(lines),
            "failed": sum(line["outcome"] in FAILED for line in lines),
            "outcomes": {dmc: dict(sorted(c.items())) for dmc, c in sorted(per_dmc.items())}}

