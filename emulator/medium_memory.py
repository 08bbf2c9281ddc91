"""The in-memory HAN: seeded latency, jitter and loss, routed by MAC address.

Delivery is a ``loop.call_later`` per recipient (no task per device, no
queue hop), which is the cheapest faithful way to carry a frame on the
event loop (docs/architecture.md). Loss and jitter draw from one seeded RNG
in send order, so a run with the same seed delivers the same frames at the
same virtual instants.
"""

from __future__ import annotations

import asyncio
import math
import random
from datetime import datetime

from .medium import BROADCAST, Medium, Station, mac_destination

#: Frame control, sequence, PAN id, destination and source: the least we route.
MIN_FRAME = 9


def _number(name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds (or a probability), "
                         f"got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


class MemoryMedium(Medium):
    name = "memory"

    def __init__(self, latency: float = 0.005, jitter: float = 0.0, loss: float = 0.0,
                 seed: int = 0, clock: object | None = None) -> None:
        super().__init__()
        latency, jitter, loss = (_number("latency", latency), _number("jitter", jitter),
                                 _number("loss", loss))
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter must be >= 0 seconds")
        if not 0.0 <= loss < 1.0:
            raise ValueError("loss must be a probability in [0, 1)")
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self._rng = random.Random(f"medium:{seed}")
        # (PAN id, short address) -> stations; PAN id -> every station on that HAN.
        self._stations: dict[tuple[int, int], list[Station]] = {}
        self._pans: dict[int, list[Station]] = {}
        self._clock = clock

    def attach(self, station: Station) -> None:
        members = self._pans.setdefault(station.pan, [])
        if station in members:
            return
        members.append(station)
        self._stations.setdefault((station.pan, station.short), []).append(station)

    def detach(self, station: Station) -> None:
        members = self._pans.get(station.pan, [])
        if station in members:
            members.remove(station)
            self._stations[(station.pan, station.short)].remove(station)

    def readdress(self, station: Station, old_short: int) -> None:
        """A station changed its short address (joined, or rejoined)."""
        bucket = self._stations.get((station.pan, old_short), [])
        if station in bucket:
            bucket.remove(station)
        self._stations.setdefault((station.pan, station.short), []).append(station)

    def _now(self) -> datetime:
        return self._clock.now()  # type: ignore[attr-defined]

    def send(self, sender: Station, frame: bytes) -> None:
        self.stats.sent += 1
        if self._taps:
            self._tap(frame, self._now())
        if len(frame) < MIN_FRAME:
            self.stats.malformed += 1  # an Ack or a runt: nothing to route on
            return
        pan, dst = mac_destination(frame)
        if dst == BROADCAST:
            recipients = [s for s in self._pans.get(pan, ()) if s is not sender]
        else:
            recipients = [s for s in self._stations.get((pan, dst), ()) if s is not sender]
        loop = asyncio.get_running_loop()
        rng = self._rng
        for station in recipients:
            if self.loss and rng.random() < self.loss:
                self.stats.lost += 1
                continue
            delay = self.latency + (rng.uniform(0.0, self.jitter) if self.jitter else 0.0)
            loop.call_later(delay, self._deliver, station, frame)

    def _deliver(self, station: Station, frame: bytes) -> None:
        self.stats.delivered += 1
        station.frame_received(frame)
