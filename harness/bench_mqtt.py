"""What batching buys the MQTT medium: HAN frames/s across two processes.

One publish per frame caps a medium at what aiomqtt can publish (a few
thousand a second, docs/architecture.md), far below the broker; the MQTT
medium batches the frames of a loop turn per topic. This bench measures both
on the same broker in the same run, so the ratio holds on any machine:

- the medium: a station in this process keeps ``WINDOW`` frames outstanding
  to a station in a child process, which echoes each one back; every echo
  that arrives sends a new frame (a HAN under load, request and answer);
- the baseline: the same exchange written as a plain aiomqtt loop, one frame
  per publish, one publish per received message.

Frames/s counts frames delivered to a station across the process boundary,
both directions, over the wall time of the exchange. ``mosquitto_broker``
is also what the tests use to run their own broker.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from s1bench.emulator import mac

PAN = 0x4242
HOST = "127.0.0.1"
#: Frames each way in one measurement, and frames kept outstanding.
FRAMES = 40_000
WINDOW = 512
BASELINE_FRAMES = 6_000
#: Frames each way per worker when measuring scaling: a second or more of work, so the
#: workers' staggered starts (a spawned interpreter each) do not weigh on the figure.
SCALING_FRAMES = 100_000


def find_mosquitto() -> str | None:
    """The broker binary; Debian puts it in /usr/sbin, which a user's PATH may lack."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """A private mosquitto on 127.0.0.1 that a test can kill and start again on its port.

    Never the system broker on 1883: a test or a bench must not depend on, or
    disturb, whatever else runs on the machine. ``anonymous=False`` with a
    ``password_file`` line in ``listener_config`` admits only its users;
    ``cafile``/``certfile``/``keyfile`` lines make the listener TLS. A restart
    (:meth:`kill` then :meth:`start` with the same port) is what a broker
    outage looks like to its clients: connections dropped, every queued
    message and subscription forgotten (no persistence).
    """

    def __init__(self, folder: Path, *, anonymous: bool = True, listener_config: str = "",
                 timeout: float = 10.0) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError("mosquitto is not installed: `make system-deps` installs "
                               "Debian's mosquitto package (or: apt-get install mosquitto)")
        self.binary, self.folder, self.timeout = binary, folder, timeout
        self.access = f"allow_anonymous {'true' if anonymous else 'false'}\n{listener_config}"
        # Started as root, mosquitto drops to user "mosquitto", who cannot read
        # files in a private temporary folder; stay who we are.
        if os.geteuid() == 0:
            self.access += "user root\n"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, port: int | None = None) -> int:
        """Start listening (on ``port``, else a free one); returns the port."""
        conf, log = self.folder / "mosquitto.conf", self.folder / "mosquitto.log"
        for _attempt in range(3 if port is None else 1):  # a free port can be taken meanwhile
            chosen = port or free_port()
            conf.write_text(f"listener {chosen} {HOST}\n{self.access}")
            with log.open("ab") as out:
                proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=out,
                                        stderr=subprocess.STDOUT)
            if _wait_listening(proc, chosen, self.timeout):
                self.proc, self.port = proc, chosen
                return chosen
            _stop(proc)
        raise RuntimeError(f"mosquitto ({self.binary}) did not start listening on {HOST}; "
                           f"its log: {log.read_text(errors='replace').strip()[-500:]}")

    def kill(self) -> None:
        """Die at once, as a crashed broker does (SIGKILL: no goodbye to clients)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


@contextmanager
def mosquitto_broker(workdir: Path | None = None, timeout: float = 10.0, *,
                     anonymous: bool = True, listener_config: str = "") -> Iterator[int]:
    """A private :class:`Mosquitto` on a free port (yielded) for the block's duration."""
    with tempfile.TemporaryDirectory(prefix="s1bench-mosquitto-") as scratch:
        broker = Mosquitto(Path(workdir or scratch), anonymous=anonymous,
                           listener_config=listener_config, timeout=timeout)
        port = broker.start()
        try:
            yield port
        finally:
            broker.stop()


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return True
        time.sleep(0.02)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Station:
    """A bare station: counts what arrives and hands it to ``on_frame``."""

    def __init__(self, short: int, on_frame: Any = None) -> None:
        self.short, self.pan, self.ieee = short, PAN, 0x00DB_0000_0000_0000 | short
        self.received = 0
        self.on_frame = on_frame

    def frame_received(self, frame: bytes) -> None:
        self.received += 1
        if self.on_frame is not None:
            self.on_frame(frame)


def _frame(dst: int, src: int, seq: int) -> bytes:
    """A 32-byte HAN frame, the size of a Metering read (docs/architecture.md)."""
    return mac.MacFrame(seq & 0xFF, PAN, dst, src, seq.to_bytes(4, "little") * 5 + b"s1").encode()


def _echo(frame: bytes) -> bytes:
    """The same frame with destination and source swapped: the answer."""
    return frame[:5] + frame[7:9] + frame[5:7] + frame[9:]


def _pinger(medium: Any, frames: int) -> tuple[_Station, Callable[[], None],
                                                asyncio.Future[None]]:
    """Station 1, sending ``frames`` frames to station 2, the next each time an answer
    comes back: (the station, the call that sends one more, done when all are answered).
    Calling it ``window`` times first keeps that many frames outstanding."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sent = 0

    def next_frame(_answer: bytes | None = None) -> None:
        nonlocal sent
        if sent < frames:
            medium.send(station, _frame(2, 1, sent))
            sent += 1
        elif station.received >= frames and not done.done():
            done.set_result(None)

    station = _Station(1, next_frame)
    return station, next_frame, done


# -- the medium -------------------------------------------------------------------


def _medium_child(port: int, frames: int, ready: Any) -> None:
    """The far process: a station at short 2 that echoes every frame to short 1."""
    from s1bench.emulator.clock import WallClock
    from s1bench.emulator.medium import make_medium

    clock = WallClock()

    async def main() -> None:
        medium: Any = make_medium("mqtt", port=port, clock=clock, latency=0)
        station = _Station(2)
        station.on_frame = lambda frame: medium.send(station, _echo(frame))
        medium.attach(station)
        await medium.flush()
        ready.set()
        while station.received < frames:
            await asyncio.sleep(0.01)
        await medium.aclose()

    clock.run(main())


def _measure_medium(port: int, frames: int, window: int) -> float:
    from s1bench.emulator.clock import WallClock
    from s1bench.emulator.medium import make_medium

    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_medium_child, args=(port, frames, ready), daemon=True)
    child.start()
    clock = WallClock()

    async def main() -> float:
        medium: Any = make_medium("mqtt", port=port, clock=clock, latency=0)
        station, next_frame, done = _pinger(medium, frames)
        medium.attach(station)
        await medium.flush()
        if not await asyncio.to_thread(ready.wait, 30):
            raise RuntimeError("the echo process did not come up within 30 s")
        start = time.perf_counter()
        for _ in range(window):
            next_frame()
        await asyncio.wait_for(done, 120)
        elapsed = time.perf_counter() - start
        await medium.aclose()
        return 2 * frames / elapsed

    try:
        return clock.run(main())
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()


# -- scaling: one HAN per worker process, all on the same broker ------------------


def _worker_child(port: int, frames: int, window: int, site: str, ready: Any, go: Any,
                  out: Any) -> None:
    """A worker as a fleet runs one over MQTT: both stations in this process, every
    frame through the broker (the medium never shortcuts a local station), on a
    site of its own. Puts (start, end) in real seconds on ``out``."""
    from s1bench.emulator.clock import WallClock
    from s1bench.emulator.medium import make_medium

    clock = WallClock()

    async def main() -> tuple[float, float]:
        medium: Any = make_medium("mqtt", port=port, clock=clock, latency=0, site=site)
        near, next_frame, done = _pinger(medium, frames)
        far = _Station(2)
        far.on_frame = lambda frame: medium.send(far, _echo(frame))
        medium.attach(near)
        medium.attach(far)
        await medium.flush()
        ready.set()
        await asyncio.to_thread(go.wait, 60)
        start = time.perf_counter()
        for _ in range(window):
            next_frame()
        await asyncio.wait_for(done, 120)
        end = time.perf_counter()
        await medium.aclose()
        return start, end

    out.put(clock.run(main()))


def _measure_workers(port: int, workers: int, frames: int, window: int) -> float:
    """Frames/s delivered by ``workers`` processes together, from the first start to the
    last end (a worker that finishes early does not flatter the figure)."""
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(workers)]
    children = [ctx.Process(target=_worker_child, daemon=True,
                            args=(port, frames, window, f"bench-w{n}", readies[n], go, out))
                for n in range(workers)]
    for child in children:
        child.start()
    try:
        for ready in readies:
            if not ready.wait(30):
                raise RuntimeError("a bench worker did not come up within 30 s")
        go.set()
        try:
            spans = [out.get(timeout=180) for _ in children]
        except queue.Empty:
            codes = [child.exitcode for child in children]
            raise RuntimeError(f"a bench worker did not finish within 180 s (exit codes "
                               f"{codes}: None is still running)") from None
        return 2 * frames * workers / (max(e for _, e in spans) - min(s for s, _ in spans))
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()


def bench_mqtt_workers(frames: int = SCALING_FRAMES, window: int = WINDOW,
                       counts: tuple[int, ...] | None = None) -> dict[str, Any]:
    """HAN frames/s through the broker with 1, 2, .. workers, up to the cores.

    Each worker is a process hosting a whole HAN (as a fleet worker hosts its
    installations), so the figure is what ``s1bench fleet --medium mqtt`` can
    carry per worker count. The broker is one more process on the same cores:
    on a 2-core machine two workers and mosquitto share two cores, so the
    growth from 1 to 2 is bounded by the broker's own share.
    """
    counts = counts or tuple(range(1, (os.cpu_count() or 1) + 1))
    with mosquitto_broker() as port:
        rates = {n: _measure_workers(port, n, frames, window) for n in counts}
    first = rates[counts[0]]
    return {"cores": os.cpu_count(),
            "frames_per_s_by_workers": {str(n): round(rate) for n, rate in rates.items()},
            "vs_one_worker": {str(n): round(rate / first, 2) for n, rate in rates.items()}}


# -- the baseline: plain aiomqtt, one frame per publish ---------------------------


def _topic(short: int) -> str:
    return f"s1bench/bench/han/{PAN:04x}/{short:04x}"


def _baseline_child(port: int, frames: int, ready: Any) -> None:
    import aiomqtt

    async def main() -> None:
        async with aiomqtt.Client(HOST, port) as client:
            await client.subscribe(_topic(2))
            ready.set()
            seen = 0
            async for message in client.messages:
                await client.publish(_topic(1), _echo(bytes(message.payload)))  # type: ignore[arg-type]
                seen += 1
                if seen >= frames:
                    break

    asyncio.run(main())


def _measure_baseline(port: int, frames: int, window: int) -> float:
    import aiomqtt

    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_baseline_child, args=(port, frames, ready), daemon=True)
    child.start()

    async def main() -> float:
        async with aiomqtt.Client(HOST, port) as client:
            await client.subscribe(_topic(1))
            if not await asyncio.to_thread(ready.wait, 30):
                raise RuntimeError("the baseline echo process did not come up within 30 s")
            start = time.perf_counter()
            sent = received = 0
            for _ in range(min(window, frames)):
                await client.publish(_topic(2), _frame(2, 1, sent))
                sent += 1
            async for _message in client.messages:
                received += 1
                if received >= frames:
                    break
                if sent < frames:
                    await client.publish(_topic(2), _frame(2, 1, sent))
                    sent += 1
            return 2 * frames / (time.perf_counter() - start)

    try:
        return asyncio.run(main())
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()


def bench_mqtt(frames: int = FRAMES, baseline_frames: int = BASELINE_FRAMES,
               window: int = WINDOW) -> dict[str, float]:
    """HAN frames/s through the MQTT medium across two processes, and the baseline
    (one frame per publish), measured on the same private broker in the same run.

    ``window`` is how many frames are outstanding at once: batching needs
    several frames per loop turn to gather, so with ``window=1`` (strict
    ping-pong) each batch carries one frame and the two come out alike.
    """
    with mosquitto_broker() as port:
        baseline = _measure_baseline(port, baseline_frames, window)
        medium = _measure_medium(port, frames, window)
    return {"mqtt_frames_per_s": round(medium),
            "baseline_one_per_publish_frames_per_s": round(baseline),
            "ratio": round(medium / baseline, 2),
            "scaling": bench_mqtt_workers()}


if __name__ == "__main__":
    import json

    print(json.dumps(bench_mqtt(), indent=2))
