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

* ``s1bench/fleet/RUN/taken``: a worker says which shard it started, so the
  coordinator knows what a lost worker had in hand;
* ``s1bench/fleet/RUN/gone/WORKER``: the worker's MQTT will, which the broker
  publishes when the worker's connection drops without a goodbye (killed).

QoS 1 both ways: a shard or its result must not be lost on a reconnect, and
a duplicate (QoS 1's price) is harmless because the coordinator keys results
by job number and keeps the first. Jobs are not retained: a worker that joins
late takes only what is still queued for the group.

**Outages.** A broker restart forgets queued jobs and subscriptions. Both
sides reconnect with backoff: a worker subscribes again and publishes the
results it could not send; the coordinator waits for the workers to say they
are back, then sends every shard it has no result for again. A worker that
dies mid-shard is named by its will: its shard is sent again (a local worker
is replaced first). Either way a result that arrives twice is kept once, and
the shard's lines carry ``resent`` (why it was sent again), so the record
says which installations were migrated from the start a second time.

The coordinator (:class:`BrokerPool`) offers the one call the fleet runner
uses of a process pool, ``imap``: results come back in job order whatever
worker ran them, so a run over the broker writes the same record as one in
a single process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
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


#: Where a worker finds the broker's credentials: its environment, never a job message
#: (which any subscriber could read) or the record. The password is never a command-line
#: argument either (``ps`` shows those).
USER_ENV, PASSWORD_ENV, CA_ENV = ("S1BENCH_BROKER_USER", "S1BENCH_BROKER_PASSWORD",
                                  "S1BENCH_BROKER_CA")


def auth_from_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """username / password / ca_file for the broker, from the environment (empty: none)."""
    env = os.environ if environ is None else environ
    names = {"username": USER_ENV, "password": PASSWORD_ENV, "ca_file": CA_ENV}
    return {key: env[name] for key, name in names.items() if env.get(name)}


def auth_env(auth: dict[str, str]) -> dict[str, str]:
    """The environment that hands ``auth`` to a worker process."""
    names = {"username": USER_ENV, "password": PASSWORD_ENV, "ca_file": CA_ENV}
    return {names[key]: value for key, value in auth.items() if key in names and value}


def _client(host: str, port: int, identifier: str | None = None, will: Any = None,
            auth: dict[str, str] | None = None) -> Any:
    import aiomqtt
    from paho.mqtt.client import MQTTv5

    auth = auth or {}
    tls = aiomqtt.TLSParameters(ca_certs=auth["ca_file"]) if auth.get("ca_file") else None
    return aiomqtt.Client(host, port, identifier=identifier, protocol=aiomqtt.ProtocolVersion(
        MQTTv5), keepalive=30, will=will, username=auth.get("username"),
        password=auth.get("password"), tls_params=tls)


#: Real seconds a coordinator or worker keeps trying to reach a broker that went away.
RECONNECT_TIMEOUT = 120.0
_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 2.0


def _taken_topic(run: str) -> str:
    return f"s1bench/fleet/{run}/taken"


def _gone_topic(run: str, worker: str = "+") -> str:
    return f"s1bench/fleet/{run}/gone/{worker}"


def _safe(name: str) -> str:
    return name.replace("/", "_").replace(":", "-")


class _Backoff:
    """Reconnect pacing: doubling waits, and a limit counted from the first loss."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lost_at: float | None = None
        self.wait = _BACKOFF_FIRST

    def connected(self) -> None:
        self.lost_at, self.wait = None, _BACKOFF_FIRST

    async def lost(self, exc: Exception, ever_connected: bool) -> None:
        """Wait before the next attempt; raise BrokerError when there is no point."""
        if not ever_connected:
            raise BrokerError(f"broker {self.where}: {exc}") from None
        now = time.monotonic()
        if self.lost_at is None:
            self.lost_at = now
        elif now - self.lost_at > RECONNECT_TIMEOUT:
            raise BrokerError(f"lost broker {self.where} and could not reconnect within "
                              f"{RECONNECT_TIMEOUT:.0f} s: {exc}") from None
        await asyncio.sleep(self.wait)
        self.wait = min(self.wait * 2, _BACKOFF_MAX)


class BrokerPool:
    """``imap`` over fleet shards through a broker, with ``workers`` local worker processes."""

    def __init__(self, host: str, port: int, workers: int = 0, run: str | None = None,
                 auth: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self._auth = dict(auth or {})
        self.run = run or uuid.uuid4().hex[:12]
        self._wanted = max(1, workers)
        self._ready = False
        #: Each local worker's log file, by process id.
        self._logs: dict[int, Any] = {}
        self._procs = [self._spawn(n) for n in range(workers)]
        #: Job number -> why it was sent again (a restarted broker, a lost worker).
        self.resent: dict[int, str] = {}
        self._issued = 0
        self._connected = False  # ever: until then an unreachable broker is an error at once

    def _spawn(self, n: int) -> subprocess.Popen[bytes]:
        # The worker's log goes to a file, not a pipe: nobody reads a pipe while the worker
        # runs, and a worker whose HAN logs warnings (a broker restart makes many) would
        # fill it and block on its next line, alive and silent. The file's last line says
        # why a worker died (see _stalled).
        log_file = tempfile.TemporaryFile()  # noqa: SIM115 (open while the worker lives)
        proc = subprocess.Popen(
            [sys.executable, "-m", "s1bench.harness.fleet.broker", self.host, str(self.port),
             self.run], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=log_file,
            env={**os.environ, "S1BENCH_WORKER": str(n), **auth_env(self._auth)})
        self._logs[proc.pid] = log_file
        return proc

    def _last_line(self, proc: subprocess.Popen[bytes]) -> list[str]:
        """The last line a local worker wrote to its log (as a list: empty if none)."""
        log_file = self._logs.get(proc.pid)
        if log_file is None:
            return []
        log_file.seek(0)
        return log_file.read().decode(errors="replace").strip().splitlines()[-1:]

    def imap(self, fn: Callable[..., Any], jobs: Iterable[Any]) -> Iterator[Any]:
        """Results of ``fn`` (the fleet's run_shard, by contract) over ``jobs``, in order."""
        del fn  # the workers run run_shard; the parameter keeps Pool.imap's shape
        jobs = list(jobs)
        if not jobs:
            return iter(())
        out: queue.Queue[Any] = queue.Queue()
        # Job numbers run on across calls (waves): a late duplicate of an earlier wave's
        # shard must not pass for this wave's shard of the same position.
        base, self._issued = self._issued, self._issued + len(jobs)
        thread = threading.Thread(target=lambda: asyncio.run(self._exchange(jobs, out, base)),
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
        dead = [self._last_line(p) for p in self._procs if p.poll() is not None]
        why = f"; a worker died: {dead[0][0]}" if dead and dead[0] else ""
        return (f"no fleet worker answered for {STALL_TIMEOUT:.0f} s on broker "
                f"{self.host}:{self.port}{why}")

    async def _exchange(self, jobs: list[Any], out: queue.Queue[Any], base: int) -> None:
        """Send the shards, collect results; across broker restarts (see the module).

        Job ``base + n`` is ``jobs[n]``; results go to ``out`` as ``(n, result)``."""
        import aiomqtt

        left = set(range(base, base + len(jobs)))
        backoff = _Backoff(f"{self.host}:{self.port}")
        # sent: the shards went out once (a later send is a resend); trouble: the broker
        # went away since, so the workers must say they are back before anything is sent.
        state = {"sent": False, "trouble": False}
        try:
            while left:
                try:
                    async with _client(self.host, self.port, auth=self._auth) as client:
                        self._connected = True
                        backoff.connected()
                        await self._session(client, jobs, base, left, out, state)
                except aiomqtt.MqttError as exc:
                    state["trouble"] = True
                    await backoff.lost(exc, self._connected)
        except BrokerError as exc:
            out.put(exc)

    async def _session(self, client: Any, jobs: list[Any], base: int, left: set[int],
                       out: queue.Queue[Any], state: dict[str, bool]) -> None:
        jobs_topic, results_topic = _topics(self.run)
        await client.subscribe([(results_topic, 1), (_taken_topic(self.run), 1),
                                (_gone_topic(self.run), 1)])
        taken: dict[int, str] = {}

        async def send(numbers: Iterable[int], why: str | None) -> None:
            for number in sorted(numbers):
                if why is not None:
                    self.resent.setdefault(number, why)
                items, seed, settle_s, medium, options = jobs[number - base]
                # Credentials stay out of the message: the worker has its own.
                options = {k: v for k, v in options.items() if k != "password"}
                await client.publish(jobs_topic, json.dumps({
                    "job": number, "items": items, "seed": seed, "settle_s": settle_s,
                    "medium": medium, "options": options}), qos=1)

        async def handle(message: Any) -> bool:
            """One message of the run; True once every shard has its result."""
            topic = str(message.topic)
            if topic == _taken_topic(self.run):
                note = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                taken[note["job"]] = note["worker"]
                return False
            if topic.startswith(_gone_topic(self.run, "")):
                worker = bytes(message.payload).decode()  # type: ignore[arg-type]
                # What it had started, and what the broker had already handed it but it had
                # not started (a client takes delivery while busy): every shard not started
                # by a worker still here. One done twice is kept once.
                lost = {job for job in left if taken.get(job, worker) == worker}
                for job in lost:
                    taken.pop(job, None)
                if lost:
                    await self._replace_dead_workers(client, handle)
                    await send(lost, f"worker {worker} lost; its shards sent again")
                return False
            if not topic.endswith("/results"):
                return False
            result = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            if result["job"] not in left:
                return False  # a QoS 1 duplicate, or a shard sent again and done twice
            left.discard(result["job"])
            latencies = {(srv, dmc): values for srv, dmc, values in result["latencies"]}
            sample: dict[str, Any] = {"latencies": latencies}
            if result["job"] in self.resent:
                sample["resent"] = self.resent[result["job"]]
            out.put((result["job"] - base, (result["lines"], sample)))
            return not left

        if not self._ready or state["trouble"]:
            # After a restart the broker knows no worker: a shard sent now would reach none.
            # A worker busy with a shard says it is back only when the shard is done (its
            # HAN may wait for the broker too), so allow it a shard's time, not a start's.
            await self._await_workers(client, handle,
                                      timeout=STALL_TIMEOUT if state["trouble"] else 60.0)
            if not left:
                return
        # A local worker that died while no shard was out (between waves) left a will
        # nobody was subscribed to hear: replace it before it is counted on.
        await self._replace_dead_workers(client, handle)
        again = state["sent"]
        state["sent"] = True  # before the first publish: a shard half sent counts as sent
        await send(left, "broker connection lost; shard sent again" if again else None)
        async for message in client.messages:
            if await handle(message):
                return

    async def _replace_dead_workers(self, client: Any, handle: Any) -> None:
        """A local worker killed: start another in its place and wait until it listens."""
        dead = [n for n, proc in enumerate(self._procs) if proc.poll() is not None]
        for n in dead:
            self._procs[n] = self._spawn(n)
        if dead:
            await self._await_workers(client, handle, len(dead), fresh=True)

    async def _respawn_dead(self) -> None:
        """While workers are awaited: start another in place of a local one that died.

        A worker whose shard's HAN lost the broker for good exits; its will went
        to the broker that died with it, so only its process tells. The one in its
        place says it is ready like any other, and the shards go out again.
        """
        spare = 2 * len(self._procs)  # a worker that dies at every start is not retried forever
        while spare:
            await asyncio.sleep(0.5)
            for n, proc in enumerate(self._procs):
                if proc.poll() is not None and spare:
                    spare -= 1
                    self._procs[n] = self._spawn(n)

    async def _await_workers(self, client: Any, handle: Any, wanted: int | None = None, *,
                             fresh: bool = False, timeout: float = 60.0) -> None:
        """Wait until ``wanted`` workers say (retained) they subscribed to the jobs; other
        messages (results meanwhile) go to ``handle``. ``fresh``: count only new workers."""
        wanted = wanted or self._wanted
        ready = _ready_topic(self.run, "")
        await client.subscribe(_ready_topic(self.run), qos=1)
        seen: set[str] = set()
        watchdog = asyncio.get_running_loop().create_task(self._respawn_dead())
        try:
            async with asyncio.timeout(timeout):
                async for message in client.messages:
                    if not str(message.topic).startswith(ready):
                        if await handle(message):
                            break
                    elif message.payload and not (fresh and message.retain):
                        seen.add(str(message.topic))
                    if len(seen) >= wanted:
                        break
        except TimeoutError:
            raise BrokerError(f"{len(seen)} of {wanted} fleet worker(s) subscribed on "
                              f"broker {self.host}:{self.port} within {timeout:.0f} s"
                              + (f" ({self._stalled()})" if self._procs else "")) from None
        finally:
            watchdog.cancel()
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
        for log_file in self._logs.values():
            log_file.close()


async def serve_worker(host: str, port: int, run: str, *, once: bool = False,
                       auth: dict[str, str] | None = None) -> None:
    """Take shards of run ``run`` from the broker until stopped; publish each result.

    Shards run one at a time in this process (a shard is CPU work; more
    processes, not more tasks, use more cores). A lost broker is reconnected
    to; a result that could not be published waits for the connection.
    """
    import aiomqtt

    jobs_topic, results_topic = _topics(run)
    name = f"{os.uname().nodename}:{os.getpid()}"
    ready = _ready_topic(run, _safe(name))
    will = aiomqtt.Will(_gone_topic(run, _safe(name)), name, qos=1)
    unsent: list[str] = []
    backoff = _Backoff(f"{host}:{port}")
    ever = False
    while True:
        try:
            async with _client(host, port, will=will, auth=auth) as client:
                ever = True
                backoff.connected()
                await client.subscribe(f"$share/{GROUP}/{jobs_topic}", qos=1)
                await client.publish(ready, name, qos=1, retain=True)
                while unsent:
                    await client.publish(results_topic, unsent[0], qos=1)
                    unsent.pop(0)
                try:
                    await _take_jobs(client, run, name, once, unsent, auth or {})
                finally:
                    with contextlib.suppress(aiomqtt.MqttError):  # clear the retained flag
                        await client.publish(ready, b"", qos=1, retain=True)
                return
        except aiomqtt.MqttError as exc:
            await backoff.lost(exc, ever)


async def _take_jobs(client: Any, run: str, name: str, once: bool, unsent: list[str],
                     auth: dict[str, str]) -> None:
    from .work import run_shard

    _, results_topic = _topics(run)
    async for message in client.messages:
        job = json.loads(bytes(message.payload))  # type: ignore[arg-type]
        await client.publish(_taken_topic(run), json.dumps(
            {"job": job["job"], "worker": name}), qos=1)
        items = [tuple(item) for item in job["items"]]
        options = job["options"]
        if job["medium"] == "mqtt":  # the HAN's broker is the fleet's: the same credentials
            options = {**options, **auth}
        lines, sample = await asyncio.to_thread(
            run_shard, (items, job["seed"], job["settle_s"], job["medium"], options))
        latencies = [[srv, dmc, values] for (srv, dmc), values in
                     sample["latencies"].items()]
        unsent.append(json.dumps({"job": job["job"], "lines": lines, "latencies": latencies,
                                  "worker": name}))
        await client.publish(results_topic, unsent[0], qos=1)
        unsent.pop(0)
        if once:
            return


def main(argv: list[str]) -> int:
    """``python -m s1bench.harness.fleet.broker HOST PORT RUN``: one local worker."""
    host, port, run = argv[0], int(argv[1]), argv[2]
    try:
        asyncio.run(serve_worker(host, port, run, auth=auth_from_env()))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # one line for the coordinator to show, no traceback
        print(f"fleet worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
