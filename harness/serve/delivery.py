"""Posting to the user's Receive Response URL: on disk first, delivered in order, never lost.

Why a folder and not a list: a DUIS user's receiver goes down (a redeploy,
a crash, a laptop lid) while responses keep coming, and s1bench itself may
be restarted; a response that existed only in memory would then vanish, and
the adaptor under test would be blamed for a missing response. So every
document is written to ``OUTBOX/<sequence>-<kind>.xml`` (to a temporary
name, then renamed, so a crash never leaves half a document) before anyone
tries to send it, and removed only once the receiver answered 2xx. A new
:class:`Outbox` on the same folder carries on from what is there.

Delivery is in order, one document at a time, because DUIS users match
outcomes to requests and alerts to what came before them. While the
receiver is down (refused, timed out, or answering anything but 2xx) the
head of the queue is retried with a backoff that doubles from
``RETRY_START`` up to ``retry_max`` seconds; everything behind it waits.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import deque
from collections.abc import Callable
from pathlib import Path

import httpx
from s1bench.harness.reports import atomic_write

RETRY_START = 0.25
_NAME = re.compile(r"^(\d{10})-([a-z0-9-]+)\.xml$")


class Outbox:
    """A folder of DUIS documents waiting for the receiver, and the task that posts them."""

    def __init__(self, folder: Path, url: str, *, retry_max: float = 30.0,
                 timeout: float = 10.0, log: Callable[[str], None] = print) -> None:
        self.folder = folder
        self.url = url
        self.retry_max = max(retry_max, RETRY_START)
        self.timeout = timeout
        self.log = log
        self.delivered = 0
        folder.mkdir(parents=True, exist_ok=True)
        waiting = sorted(p for p in folder.iterdir() if _NAME.match(p.name))
        self._queue: deque[Path] = deque(waiting)
        match = _NAME.match(waiting[-1].name) if waiting else None
        last = int(match.group(1)) if match else 0
        self._numbers = itertools.count(last + 1)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        if not waiting:
            self._idle.set()
        self.resumed = len(waiting)

    @property
    def pending(self) -> int:
        """Documents written and not yet delivered."""
        return len(self._queue)

    def put(self, kind: str, xml: bytes) -> Path:
        """Write a document to the folder (durably) and queue it; returns its file."""
        number = next(self._numbers)
        target = self.folder / f"{number:010d}-{kind}.xml"
        atomic_write(target, xml)  # a crash leaves the whole document or none of it
        self._queue.append(target)
        self._idle.clear()
        self._wake.set()
        return target

    async def wait_idle(self) -> None:
        """Until every document written so far has been delivered."""
        await self._idle.wait()

    async def run(self) -> None:
        """Deliver forever (cancel to stop; what is left stays in the folder)."""
        backoff = RETRY_START
        down_since: float | None = None
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                if not self._queue:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                path = self._queue[0]
                problem = await self._post(client, path)
                if problem is None:
                    path.unlink(missing_ok=True)
                    self._queue.popleft()
                    self.delivered += 1
                    if down_since is not None:
                        self.log(f"receiver {self.url} is back: delivered {path.name}, "
                                 f"{len(self._queue)} more queued")
                    down_since, backoff = None, RETRY_START
                    continue
                if down_since is None:
                    down_since = asyncio.get_running_loop().time()
                self.log(f"cannot deliver {path.name} to {self.url}: {problem}; "
                         f"{len(self._queue)} queued, retrying in {backoff:g} s")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.retry_max)

    async def _post(self, client: httpx.AsyncClient, path: Path) -> str | None:
        """None when delivered, else what went wrong (in words for the log)."""
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return None  # removed by hand: nothing left to deliver
        try:
            answer = await client.post(self.url, content=body,
                                       headers={"Content-Type": "application/xml"})
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code}"
