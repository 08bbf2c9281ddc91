"""The in-memory HAN: seeded latency, jitter and loss, routed by MAC address.

Delivery is a ``loop.call_later`` per recipient (no task per device, no
queue hop), which is the cheapest faithful way to carry a frame on the
event loop (docs/architecture.md). Loss and jitter draw from one seeded RNG
in send order, so a run with the same seed delivers the same frames at the
same virtual instants.

Each installation on a shared medium is its own HAN, in its own premises.
A 16-bit PAN id cannot tell more than 65,535 of them apart (s1bench's
derivation repeats every 57,344), so routing on (PAN id, short address)
alone delivered one installation's frames to another's devices in a large
fleet. A station's ``extended_pan`` (the 64-bit extended PAN id of its HAN,
the hub's EUI-64 for an installation) is part of the route: a frame reaches
the stations of the sender's HAN only, for any number of installations.
A transmitter that names no extended PAN (0: a test's injector, an
outsider) is heard, as before, by every HAN using the frame's PAN id.

The medium is also the MAC's acknowledgement machinery (802.15.4-2006
7.5.6.4). It already decides, per recipient, whether a frame arrives; so a
unicast frame asking for an ack that reaches a powered station is acked
here: the Imm-Ack (a prebuilt 5-byte frame with the acked DSN) goes on air
aTurnaroundTime after the frame ends and is counted (``stats.acks``) and tapped, with no
callback at all when nobody taps. A frame nobody acks is sent again, the
same bytes and DSN, macAckWaitDuration after it ended, up to
macMaxFrameRetries times; each retry draws its own loss. Acks themselves are
never lost (a lost ack would only repeat a frame the receiver already has).
A node never sees an ack: its transmissions need no timer of their own.
The ack to a Data Request sets frame pending when the polled station says
it holds data for the poller (``has_data_for``, 7.5.6.3).

Joining's frames are routed here too: a Beacon Request (broadcast PAN) and a
beacon (no destination) reach the sender's HAN, and a frame addressed to an
EUI-64 (the association response) reaches the station with that EUI-64.
"""

from __future__ import annotations

import asyncio
import math
import random
from datetime import datetime, timedelta

from .mac import (
    ACK_WAIT_S,
    ACKS,
    ADDR_EXT,
    CMD_DATA_REQUEST,
    MAX_FRAME_RETRIES,
    TURNAROUND_S,
    MacFrame,
    ack_frame,
    airtime,
)
from .medium import BROADCAST, Medium, Station, mac_destination


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
        # Keys are ints: a HAN is (extended PAN << 16 | PAN id), a station's
        # address (HAN << 16 | short). HAN -> every station on it; address ->
        # the stations there (a tuple: nearly always one, and smaller than a list).
        self._stations: dict[int, tuple[Station, ...]] = {}
        self._pans: dict[int, list[Station]] = {}
        # PAN id -> the HANs using it, for transmitters outside any HAN.
        self._hans_of_pan: dict[int, list[int]] = {}
        self._clock = clock
        #: With jitter: when the last frame sent to each station reaches it (see _jittered).
        self._last_due: dict[Station, float] = {}
        #: Acks scheduled for the taps and not yet on air (close() writes them out).
        self._ack_timers: list[tuple[asyncio.TimerHandle, bytes, Station]] = []

    @staticmethod
    def _han(station: Station) -> int:
        return (getattr(station, "extended_pan", 0) << 16) | station.pan

    def _add(self, address: int, station: Station) -> None:
        self._stations[address] = (*self._stations.get(address, ()), station)

    def _remove(self, address: int, station: Station) -> None:
        bucket = tuple(s for s in self._stations.get(address, ()) if s is not station)
        if bucket:
            self._stations[address] = bucket
        else:
            self._stations.pop(address, None)

    def attach(self, station: Station) -> None:
        han = self._han(station)
        members = self._pans.get(han)
        if members is None:
            members = self._pans[han] = []
            self._hans_of_pan.setdefault(station.pan, []).append(han)
        if station in members:
            return
        members.append(station)
        self._add((han << 16) | station.short, station)

    def detach(self, station: Station) -> None:
        self._last_due.pop(station, None)
        han = self._han(station)
        members = self._pans.get(han, [])
        if station in members:
            members.remove(station)
            self._remove((han << 16) | station.short, station)
            if not members:
                del self._pans[han]
                hans = self._hans_of_pan[station.pan]
                hans.remove(han)
                if not hans:
                    del self._hans_of_pan[station.pan]

    def readdress(self, station: Station, old_short: int) -> None:
        """A station changed its short address (joined, or rejoined)."""
        han = self._han(station)
        self._remove((han << 16) | old_short, station)
        self._add((han << 16) | station.short, station)

    def send(self, sender: Station, frame: bytes) -> None:
        if not self._admit(frame):
            return
        if frame[1] == 0x88:
            # Short destination and source, 2003 frame: every joined node's frame.
            pan, dst = mac_destination(frame)
            recipients = self._recipients(sender, pan, dst)
            acked = dst != BROADCAST and frame[0] & 0x20
        else:
            recipients, acked = self._joining_recipients(sender, frame)
        if acked:
            self._unicast(frame, recipients, 0)
            return
        self._carry(asyncio.get_running_loop(), frame, recipients)

    def _carry(self, loop: asyncio.AbstractEventLoop, frame: bytes,
               recipients: list[Station]) -> Station | None:
        """Schedule ``frame``'s delivery to each recipient the seeded loss spares;
        returns the first powered one that will receive it (the one that acks)."""
        rng = self._rng
        receiver = None
        for station in recipients:
            if self.loss and rng.random() < self.loss:
                self.stats.lost += 1
                continue
            if self.jitter:
                loop.call_at(self._jittered(loop, station), self._deliver, station, frame)
            else:
                loop.call_later(self.latency, self._deliver, station, frame)
            if receiver is None and getattr(station, "powered", True):
                receiver = station
        return receiver

    def _jittered(self, loop: asyncio.AbstractEventLoop, station: Station) -> float:
        """When a frame sent now reaches ``station``: latency plus seeded jitter, and
        after every frame sent to it before. A radio receives one frame at a time, in
        the order they were sent; independent jitter per frame would deliver a
        sender's Device_annce after the request it sent next, and the receiver's
        incoming frame counter check would rightly drop the older one as a replay."""
        due = loop.time() + self.latency + self._rng.uniform(0.0, self.jitter)
        last = self._last_due.get(station)
        if last is not None and due <= last:
            due = last + 1e-6
        self._last_due[station] = due
        return due

    def _recipients(self, sender: Station, pan: int, dst: int) -> list[Station]:
        extended_pan = getattr(sender, "extended_pan", 0)
        if extended_pan:
            # The frame's PAN id on the sender's HAN: never another premises' HAN.
            han = (extended_pan << 16) | pan
            bucket = (self._pans.get(han, ()) if dst == BROADCAST
                      else self._stations.get((han << 16) | dst, ()))
            return [s for s in bucket if s is not sender]
        return self._outsider_recipients(sender, pan, dst)

    def _joining_recipients(self, sender: Station, frame: bytes) -> tuple[list[Station], int]:
        """Who hears a beacon, a MAC command or an ack sent by a station, and whether
        it is acked: the frames of joining, which the data path's routing cannot read."""
        fcf = frame[0] | (frame[1] << 8)
        dst_mode = (fcf >> 10) & 3
        ack_request = fcf & 0x20
        if dst_mode == 0 or (frame[3] | (frame[4] << 8)) == BROADCAST:
            # A beacon (source PAN only) or a beacon request (broadcast PAN): the
            # sender's own radio neighbourhood, its HAN.
            return self._recipients(sender, sender.pan, BROADCAST), 0
        pan = frame[3] | (frame[4] << 8)
        if dst_mode == 3:
            eui = int.from_bytes(frame[5:13], "little")
            return [s for s in self._recipients(sender, pan, BROADCAST) if s.ieee == eui], \
                ack_request
        dst = frame[5] | (frame[6] << 8)
        return self._recipients(sender, pan, dst), (dst != BROADCAST and ack_request)

    def _unicast(self, frame: bytes, recipients: list[Station], attempt: int) -> None:
        """One attempt at an acked unicast: deliver and ack, or schedule the retry."""
        loop = asyncio.get_running_loop()
        acker = self._carry(loop, frame, recipients)
        if acker is not None:
            # The Imm-Ack, aTurnaroundTime after the frame ends (7.5.6.4.2).
            if self._taps:
                handle = loop.call_later(airtime(len(frame)) + TURNAROUND_S, self._ack, frame,
                                         acker)
                self._ack_timers.append((handle, frame, acker))
            else:
                self.stats.acks += 1
        elif attempt < MAX_FRAME_RETRIES:
            loop.call_later(airtime(len(frame)) + ACK_WAIT_S, self._retransmit, frame,
                            recipients, attempt + 1)

    def _ack(self, frame: bytes, acker: Station, when: datetime | None = None) -> None:
        if self._closed:
            return
        if when is None:  # run by its timer: forget the timers due by now
            timers, now = self._ack_timers, asyncio.get_running_loop().time()
            while timers and timers[0][0].when() <= now:
                timers.pop(0)
        self.stats.acks += 1
        ack = ACKS[frame[2]]
        if frame[0] & 0x07 == 3:  # a MAC command: a Data Request's ack says if data waits
            command = MacFrame.decode(frame)
            has_data_for = getattr(acker, "has_data_for", None)
            if (command.command == CMD_DATA_REQUEST and command.src_mode == ADDR_EXT
                    and has_data_for is not None and has_data_for(command.src)):
                ack = ack_frame(frame[2], pending=True)
        self._tap(ack, when or self._clock.now())

    def close(self) -> None:
        """Write out the acks still due (a capture closed right after a frame keeps its
        ack), then close the taps."""
        timers, self._ack_timers = self._ack_timers, []
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:  # closed after its loop ended: nothing is due any more
            timers = []
        if timers and not self._closed:
            for handle, frame, acker in timers:
                handle.cancel()
                due = max(handle.when() - now, 0.0)
                self._ack(frame, acker, self._clock.now() + timedelta(seconds=due))
        super().close()

    def _retransmit(self, frame: bytes, recipients: list[Station], attempt: int) -> None:
        if self._closed:
            return
        self.stats.sent += 1
        self.stats.retries += 1
        if self._taps:
            self._tap(frame, self._clock.now())
        self._unicast(frame, recipients, attempt)

    def _outsider_recipients(self, sender: Station, pan: int, dst: int) -> list[Station]:
        """Who hears a transmitter of no HAN: every HAN using the frame's PAN id."""
        out: list[Station] = []
        for han in self._hans_of_pan.get(pan, ()):
            bucket = (self._pans.get(han, ()) if dst == BROADCAST
                      else self._stations.get((han << 16) | dst, ()))
            out.extend(s for s in bucket if s is not sender)
        return out

    def _deliver(self, station: Station, frame: bytes) -> None:
        self.stats.delivered += 1
        station.frame_received(frame)
