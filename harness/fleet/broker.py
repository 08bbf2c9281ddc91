"""Fleet shards through an MQTT broker: workers on any machine take them by shared subscription.

Why a broker and not a scheduler of our own: MQTT 5 shared subscriptions
(``$share/GROUP/TOPIC``) make the broker hand each message to one member of
the group, so every ``s1bench fleet-worker`` pointed at the broker, on this
machine or another, takes shards; a clustered broker spreads them further.

Topics (``RUN`` is the run's id, from its seed and options):

* ``s1bench/fleet/RUN/jobs``: one message per shard, JSON ``{"job", "items",
  "seed", "settle_s", "medium", "options"}``; workers subscribe to
  ``$share/s1bench-fleet/s1bench/fleet/RUN/jobs``;
* ``s1bench/fleet/RUN/results``: one message per shard done, JSON ``{"job",
  "lines", "latencies", "worker"}``.

QoS 1 both ways: a shard or its result must not be lost on a reconnect, and
a duplicate (QoS 1's price) is harmless because the coordinator keys results
by job number and keeps the first. Jobs are not retained: a worker that joins
late takes only what is still queued for the group.

The coordinator (:class:`BrokerPool`) offers the one call the fleet runner
uses of a process pool, ``imap``: results come back in job order whatever
worker ran them, so a run over the broker writes the same record as one in
a single process.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

GROUP = "s1bench-fleet"
#: Seconds without any result before the coordinator gives up on the workers.
STALL_TIMEOUT = 300.0


class BrokerError(RuntimeError):
    """The broker cannot be reached, or no worker answered; says which host and port."""


def _topics(run: str) -> tuple[str, str]:
    base = f"s1bench/fleet/{run}"
    return f"{base}/jobs", f"{base}/results"


def _ready_topic(run: str, worker: str = "+") -> str:
    """Where a worker says it is subscribed (retained): jobs published before any worker
    subscribes would reach nobody, since a broker queues only for existing subscribers."""
    return f"s1bench/fleet/{run}/ready/{worker}"


def _client(host: str, port: int, identifier: str | None = None) -> Any:
    import aiomqtt
    from paho.mqtt.client import MQTTv5

    return aiomqtt.Client(host, port, identifier=identifier, protocol=aiomqtt.ProtocolVersion(
        MQTTv5), keepalive=30)


class BrokerPool:
    """``imap`` over fleet shards through a broker, with ``workers`` local worker processes."""

    def __init__(self, host: str, port: int, workers: int = 0, run: str | None = None) -> None:
        self.host, self.port = host, port
        self.run = run or uuid.uuid4().hex[:12]
        self._wanted = max(1, workers)
        self._ready = False
        self._procs = [subprocess.Popen(
            [sys.executable, "-m", "s1bench.harness.fleet.broker", host, str(port), self.run],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "S1BENCH_WORKER": str(n)}) for n in range(workers)]

    def imap(self, fn: Callable[..., Any], jobs: Iterable[Any]) -> Iterator[Any]:
        """Results of ``fn`` (the fleet's run_shard, by contract) over ``jobs``, in order."""
        del fn  # the workers run run_shard; the parameter keeps Pool.imap's shape
        jobs = list(jobs)
        if not jobs:
            return iter(())
        out: queue.Queue[Any] = queue.Queue()
        thread = threading.Thread(target=lambda: asyncio.run(self._exchange(jobs, out)),
                                  daemon=True)
        thread.start()
        return self._ordered(len(jobs), out, thread)

    def _ordered(self, count: int, out: queue.Queue[Any], thread: threading.Thread
                 ) -> Iterator[Any]:
        got: dict[int, Any] = {}
        for n in range(count):
            while n not in got:
                try:
                    item = out.get(timeout=STALL_TIMEOUT)
                except queue.Empty:
                    raise BrokerError(self._stalled()) from None
                if isinstance(item, BaseException):
                    raise item
                got.setdefault(item[0], item[1])
            yield got.pop(n)
        thread.join(timeout=5)

    def _stalled(self) -> str:
        dead = [p.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
                for p in self._procs if p.poll() is not None and p.stderr]
        why = f"; a worker died: {dead[0][0]}" if dead and dead[0] else ""
        return (f"no fleet worker answered for {STALL_TIMEOUT:.0f} s on broker "
                f"{self.host}:{self.port}{why}")

    async def _exchange(self, jobs: list[Any], out: queue.Queue[Any]) -> None:
        import aiomqtt

        jobs_topic, results_topic = _topics(self.run)
        try:
            async with _client(self.host, self.port) as client:
                await client.subscribe(results_topic, qos=1)
                if not self._ready:
                    await self._await_workers(client)
                for number, (items, seed, settle_s, medium, options) in enumerate(jobs):
                    await client.publish(jobs_topic, json.dumps({
                        "job": number, "items": items, "seed": seed, "settle_s": settle_s,
                        "medium": medium, "options": options}), qos=1)
                left = set(range(len(jobs)))
                async for message in client.messages:
                    result = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                    if result["job"] not in left:
                        continue  # a QoS 1 duplicate
                    left.discard(result["job"])
                    latencies = {(srv, dmc): values for srv, dmc, values in result["latencies"]}
                    out.put((result["job"], (result["lines"], {"latencies": latencies})))
                    if not left:
                        return
        except aiomqtt.MqttError as exc:
            out.put(BrokerError(f"broker {self.host}:{self.port}: {exc}"))

    async def _await_workers(self, client: Any) -> None:
        await client.subscribe(_ready_topic(self.run), qos=1)
        seen: set[str] = set()
        try:
            async with asyncio.timeout(60):
                async for message in client.messages:
                    if str(message.topic).startswith(_ready_topic(self.run, "")) and \
                            message.payload:
                        seen.add(str(message.topic))
                    if len(seen) >= self._wanted:
                        break
        except TimeoutError:
            raise BrokerError(f"{len(seen)} of {self._wanted} fleet worker(s) subscribed on "
                              f"broker {self.host}:{self.port} within 60 s"
                              + (f" ({self._stalled()})" if self._procs else "")) from None
        await client.unsubscribe(_ready_topic(self.run))
        self._ready = True

    def terminate(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()

    def join(self) -> None:
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def serve_worker(host: str, port: int, run: str, *, once: bool = False) -> None:
    """Take shards of run ``run`` from the broker until stopped; publish each result.

    Shards run one at a time in this process (a shard is CPU work; more
    processes, not more tasks, use more cores).
    """
    jobs_topic, results_topic = _topics(run)
    name = f"{os.uname().nodename}:{os.getpid()}"
    async with _client(host, port) as client:
        await client.subscribe(f"$share/{GROUP}/{jobs_topic}", qos=1)
        ready = _ready_topic(run, name.replace("/", "_").replace(":", "-"))
        await client.publish(ready, name, qos=1, retain=True)
        try:
            await _take_jobs(client, results_topic, name, once)
        finally:
            await client.publish(ready, b"", qos=1, retain=True)  # clear the retained flag


async def _take_jobs(client: Any, results_topic: str, name: str, once: bool) -> None:
    from .work import run_shard

    async for message in client.messages:
        job = json.loads(bytes(message.payload))  # type: ignore[arg-type]
        items = [tuple(item) for item in job["items"]]
        lines, sample = await asyncio.to_thread(
            run_shard, (items, job["seed"], job["settle_s"], job["medium"], job["options"]))
        latencies = [[srv, dmc, values] for (srv, dmc), values in
                     sample["latencies"].items()]
        await client.publish(results_topic, json.dumps({
            "job": job["job"], "lines": lines, "latencies": latencies, "worker": name}),
            qos=1)
        if once:
            return


def main(argv: list[str]) -> int:
    """``python -m s1bench.harness.fleet.broker HOST PORT RUN``: one local worker."""
    host, port, run = argv[0], int(argv[1]), argv[2]
    try:
        asyncio.run(serve_worker(host, port, run))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # one line for the coordinator to show, no traceback
        print(f"fleet worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
