"""The HAN over an MQTT broker: stations in different processes share one HAN.

Why MQTT: a fleet or a mixed bench (an emulated hub in one process, meters
in others, a sniffer on the side) needs a medium that crosses process
boundaries; a broker gives every process the same routing by name, and
``mosquitto_sub -t 's1bench/#'`` shows the traffic.

Topics. A frame addressed to short address ``S`` on PAN ``P`` is published
to ``s1bench/<site>/han/<P as 4 hex digits>/<S as 4 hex digits>``; the
802.15.4 broadcast address gives each PAN its broadcast topic,
``s1bench/<site>/han/<P>/ffff``. A station subscribes to its own unicast
topic and to its PAN's broadcast topic, and to nothing else, so a process
only receives the frames of the stations it hosts. ``site`` (option) keeps
several benches on one broker apart. Routing uses the frame's own MAC header
(as the memory medium does), so the topic only decides who hears it.

Payloads are binary batches: a header ``<B version><I origin>`` (origin: a
random 32-bit id of the publishing medium), then per frame ``<H length><H
sender slot>`` and the frame's bytes. One publish per HAN frame caps a
medium far below the broker (docs/architecture.md: ~3,200 publishes/s for
aiomqtt against ~150,000 for mosquitto's own clients), so frames for one
topic are gathered and published together when the loop turn ends (a
``call_soon`` flush) or when a batch fills (``batch_frames`` frames or
``batch_bytes`` bytes); while one publish is on its way, the next batch keeps
filling, so batches grow with load by themselves. The sender slot lets the
origin leave the sender out of its own broadcast, as a radio does.

QoS 0. A HAN is a lossy radio and the layers above it (APS retries, the
hub's and the harness's timeouts) already deal with a frame that never
arrives; QoS 1 would add broker acknowledgements and redelivery the radio
does not have, and duplicates the ZigBee stack would then have to drop. So
QoS 0 is the honest analogue. What a lost batch means: every frame in it is
lost together, as a burst of interference would lose them; on a local broker
that happens only when it drops a client or overflows its queues.

Virtual time. On s1bench's virtual clock the loop warps whenever nothing is
ready; with frames inside the broker that would fire timeouts before the
answer could arrive. So the medium registers a network probe with the
loop (:meth:`VirtualEventLoop.add_network_probe`): while it is connecting,
publishing, subscribing, or waiting for a batch it sent to a station it
hosts itself to come back from the broker, the loop waits for the socket in
real time instead of warping. A batch for a station in another process
keeps the loop waiting up to ``remote_wait`` real seconds, or until a batch
from another process arrives (most likely the answer); the medium cannot
tell a station hosted elsewhere from an address nobody hosts (a meter
powered off), so on a virtual run where every station is in this process,
``remote_wait=0`` saves that wait on frames to nobody. Virtual time stands
still while frames travel; ``latency`` (virtual seconds, as on the memory
medium) is added when a batch arrives. A broker that makes no progress for
``stall_timeout`` real seconds aborts the run with :class:`MqttMediumError`
instead of hanging it. aiomqtt's once-a-second housekeeping would be a
virtual timer that never lets time jump further than a second, so on a
virtual loop the probe runs it instead, at most once a real second.

A broker that goes away mid-run (restarted, a network blip) is reconnected
to, with backoff, for up to ``reconnect_timeout`` real seconds; virtual time
stands still meanwhile and the stations' subscriptions are made again (see
``_run``). A broker that refuses the credentials or the certificate is not
retried: that is a configuration error, reported at once.

Options (the medium options dict): ``host`` (127.0.0.1), ``port`` (1883),
``username``/``password``, ``ca_file`` (TLS with that CA; ``tls=True`` for
the system CAs), ``site``, ``latency``, ``batch_frames``, ``batch_bytes``,
``connect_timeout``, ``remote_wait``, ``stall_timeout``, ``keepalive``,
``reconnect_timeout``, ``connect_retry_s`` (real seconds a first connection
is retried for; 0, the default, reports an unreachable broker at once: a
fleet's installations, started while the broker restarts, use more).

The medium connects on first use (or ``await medium.start()``, which raises
a one-line :class:`MqttMediumError` naming host and port when the broker
cannot be reached); ``await medium.aclose()`` disconnects cleanly,
``close()`` is the synchronous best effort the other media offer.

MAC acknowledgements. Here the MAC ack is generated on the receiving side:
a unicast frame asking for one, delivered to a powered station, puts its
Imm-Ack on the air of the receiving process (counted in ``stats.acks`` and
tapped there), and it travels no further. Retransmission on a missing ack
is not modelled over MQTT: a lost batch is lost as a burst, and the layers
above retry. Joining's frames (Beacon Request, beacon, frames addressed by
EUI-64) go to the PAN's broadcast topic; a Beacon Request, sent on the
broadcast PAN, reaches the coordinators (short address 0) of the PANs a
process hosts, and an EUI-64-addressed frame the station with that EUI-64.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
from collections import deque
from pathlib import Path
from typing import Any

import aiomqtt
import structlog

from .mac import ACKS
from .medium import BROADCAST, MIN_FRAME, Medium, Station

log = structlog.get_logger("s1bench.medium.mqtt")

VERSION = 1
_HEADER = struct.Struct("<BI")
_ENTRY = struct.Struct("<HH")
#: Sender slot of a frame whose sender this medium does not host.
NO_SLOT = 0xFFFF

_SUB, _UNSUB, _PUB = 0, 1, 2
#: Real seconds between reconnect attempts: doubling from the first to the last.
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 2.0


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _refused(reason: str) -> bool:
    """A broker that answers but refuses us (credentials, authorisation): retrying won't help."""
    words = reason.lower()
    return any(w in words for w in ("not authori", "bad user name", "bad username",
                                    "certificate verify", "ssl"))


class MqttMediumError(RuntimeError):
    """The broker cannot be reached or stopped answering; the message is one line."""


class _Client(aiomqtt.Client):
    """aiomqtt's client whose housekeeping can be run by the medium instead.

    aiomqtt runs paho's ``loop_misc`` (keepalive pings) from a task sleeping
    one second at a time; on a virtual loop that sleep is a virtual timer,
    which would make every long virtual wait a million one-second warps.
    This couples to aiomqtt 2.x's private ``_misc_loop`` and ``_client``.
    """

    def __init__(self, *args: Any, virtual: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._virtual = virtual

    async def _misc_loop(self) -> None:
        if not self._virtual:
            await super()._misc_loop()

    def housekeeping(self) -> None:
        self._client.loop_misc()


def _number(name: str, value: object, *, minimum: float = 0.0) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"MQTT medium option {name} must be a number, got {value!r}") from None
    if not number >= minimum or number == float("inf"):
        raise ValueError(f"MQTT medium option {name} must be a finite number >= {minimum}, "
                         f"got {value!r}")
    return number


class MqttMedium(Medium):
    """Stations on one broker share a HAN, whichever process hosts them (see the module)."""

    name = "mqtt"

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *,
                 username: str | None = None, password: str | None = None,
                 ca_file: str | None = None, tls: bool = False, site: str = "default",
                 latency: float = 0.005, jitter: float = 0.0, loss: float = 0.0,
                 batch_frames: int = 256, batch_bytes: int = 32_768,
                 connect_timeout: float = 5.0, remote_wait: float = 0.25,
                 stall_timeout: float = 10.0, keepalive: int = 60,
                 reconnect_timeout: float = 60.0, connect_retry_s: float = 0.0,
                 seed: int = 0, clock: object | None = None) -> None:
        super().__init__()
        if _number("jitter", jitter) or _number("loss", loss):
            raise ValueError("the MQTT medium simulates no jitter or loss (the broker is the "
                             "channel); use the memory medium for those")
        try:
            number = int(port)  # a settings file or the environment may give it as text
        except (TypeError, ValueError):
            number = 0
        if not 0 < number < 65536:
            raise ValueError(f"MQTT medium option port must be 1-65535, got {port!r}")
        port = number
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"MQTT medium option ca_file: no such file {ca_file}")
        if not site or any(c in site for c in "/#+"):
            raise ValueError(f"MQTT medium option site must be a non-empty topic level "
                             f"without '/', '#' or '+', got {site!r}")
        self.host, self.port = host, port
        self.latency = _number("latency", latency)
        self.batch_frames = int(_number("batch_frames", batch_frames, minimum=1))
        self.batch_bytes = int(_number("batch_bytes", batch_bytes, minimum=64))
        self.connect_timeout = _number("connect_timeout", connect_timeout)
        self.remote_wait = _number("remote_wait", remote_wait)
        self.stall_timeout = _number("stall_timeout", stall_timeout, minimum=0.1)
        self.reconnect_timeout = _number("reconnect_timeout", reconnect_timeout)
        self.connect_retry_s = _number("connect_retry_s", connect_retry_s)
        self._client_options: dict[str, Any] = {
            "username": username, "password": password, "keepalive": int(keepalive),
            "timeout": self.connect_timeout,
        }
        if ca_file is not None or tls:
            self._client_options["tls_params"] = aiomqtt.TLSParameters(ca_certs=ca_file)
        self._prefix = f"s1bench/{site}/han/"
        self._clock = clock
        self._seed = seed
        self._origin = int.from_bytes(os.urandom(4), "little")
        self._header = _HEADER.pack(VERSION, self._origin)

        # Who is here: (PAN, short) -> stations, PAN -> stations, slots for broadcasts.
        self._stations: dict[tuple[int, int], list[Station]] = {}
        self._pans: dict[int, list[Station]] = {}
        self._slot_of: dict[int, int] = {}
        self._by_slot: dict[int, Station] = {}
        self._free_slots: list[int] = []
        self._next_slot = 0
        self._topic_refs: dict[str, int] = {}
        self._topics: dict[int, str] = {}

        # What goes out: open batches per (PAN << 16 | destination), then the outbox.
        self._open: dict[int, list[Any]] = {}
        self._flush_scheduled = False
        self._outbox: deque[tuple[int, Any, bool]] = deque()
        self._wake: asyncio.Event | None = None
        self._in_call = False

        # What the probe watches (real seconds, time.monotonic()).
        self._echo_pending = 0
        self._echo_deadline = 0.0
        self._remote_until = 0.0
        self._progress_at = 0.0
        self._misc_due = 0.0
        self._connecting = False
        self._closing = False

        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._client: _Client | None = None
        self._probing = False
        self._awaited = False  # someone called start(), which reports a failure to connect
        self._error: MqttMediumError | None = None

        #: Publishes of frame batches, and the frames they carried (batching at work).
        self.publishes = 0
        self.frames_published = 0
        self.batches_received = 0
        #: Times the session came back after losing the broker.
        self.reconnects = 0

    # -- stations ---------------------------------------------------------------

    def _topic(self, pan: int, short: int) -> str:
        key = (pan << 16) | short
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = f"{self._prefix}{pan:04x}/{short:04x}"
        return topic

    def _ref(self, topic: str) -> None:
        count = self._topic_refs.get(topic, 0)
        self._topic_refs[topic] = count + 1
        if count == 0:
            self._queue(_SUB, topic, False)

    def _unref(self, topic: str) -> None:
        count = self._topic_refs.get(topic, 0) - 1
        if count > 0:
            self._topic_refs[topic] = count
            return
        self._topic_refs.pop(topic, None)
        if count == 0:
            self._queue(_UNSUB, topic, False)

    def attach(self, station: Station) -> None:
        members = self._pans.setdefault(station.pan, [])
        if station in members:
            return
        members.append(station)
        self._stations.setdefault((station.pan, station.short), []).append(station)
        slot = self._free_slots.pop() if self._free_slots else self._new_slot()
        self._slot_of[id(station)] = slot
        self._by_slot[slot] = station
        self._ref(self._topic(station.pan, station.short))
        self._ref(self._topic(station.pan, BROADCAST))

    def _new_slot(self) -> int:
        slot, self._next_slot = self._next_slot, self._next_slot + 1
        if slot >= NO_SLOT:
            raise RuntimeError("an MQTT medium hosts at most 65,535 stations")
        return slot

    def detach(self, station: Station) -> None:
        members = self._pans.get(station.pan, [])
        if station not in members:
            return
        members.remove(station)
        self._stations[(station.pan, station.short)].remove(station)
        slot = self._slot_of.pop(id(station))
        del self._by_slot[slot]
        self._free_slots.append(slot)
        self._unref(self._topic(station.pan, station.short))
        self._unref(self._topic(station.pan, BROADCAST))

    def readdress(self, station: Station, old_short: int) -> None:
        """A station changed its short address (joined, or rejoined): move its subscription."""
        bucket = self._stations.get((station.pan, old_short), [])
        if station not in bucket:
            return
        bucket.remove(station)
        self._stations.setdefault((station.pan, station.short), []).append(station)
        self._ref(self._topic(station.pan, station.short))
        self._unref(self._topic(station.pan, old_short))

    # -- sending ----------------------------------------------------------------

    def send(self, sender: Station, frame: bytes) -> None:
        if not self._admit(frame):
            return
        if self._error is not None:
            raise self._error
        if frame[1] == 0x88:  # short addresses, PAN ID compression: a joined node's frame
            key = frame[3] << 16 | frame[4] << 24 | frame[5] | frame[6] << 8
        else:
            key = self._joining_key(sender, frame)
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = [bytearray(self._header), 0]
        buf = batch[0]
        buf += _ENTRY.pack(len(frame), self._slot_of.get(id(sender), NO_SLOT))
        buf += frame
        batch[1] += 1
        if batch[1] >= self.batch_frames or len(buf) >= self.batch_bytes:
            del self._open[key]
            self._seal(key, buf, batch[1])
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._ensure_started().call_soon(self._flush)

    @staticmethod
    def _joining_key(sender: Station, frame: bytes) -> int:
        """The topic (PAN << 16 | address) of a beacon, beacon request or EUI-64-addressed frame."""
        pan = frame[3] | (frame[4] << 8)
        dst_mode = (frame[1] >> 2) & 3
        if pan == BROADCAST:
            pan = sender.pan  # a Beacon Request: the sender's own neighbourhood
        if dst_mode == 2 and frame[5] | (frame[6] << 8) != BROADCAST:
            return pan << 16 | frame[5] | (frame[6] << 8)
        return pan << 16 | BROADCAST

    def _seal(self, key: int, payload: bytearray, frames: int) -> None:
        topic = self._topic(key >> 16, key & 0xFFFF)
        self._queue(_PUB, (topic, bytes(payload), frames), topic in self._topic_refs)

    def _flush(self) -> None:
        """End of the loop turn: every open batch goes out."""
        self._flush_scheduled = False
        batches, self._open = self._open, {}
        for key, (buf, frames) in batches.items():
            self._seal(key, buf, frames)

    def _queue(self, kind: int, what: Any, echo: bool) -> None:
        self._outbox.append((kind, what, echo))
        if self._wake is not None:
            self._wake.set()
        elif kind != _PUB:
            self._ensure_started(required=False)

    async def flush(self) -> None:
        """Wait until every frame sent so far is published and every subscription acknowledged."""
        self._flush()
        await self.start()
        while (self._outbox or self._in_call) and self._error is None:
            await asyncio.sleep(0.001)
        if self._error is not None:
            raise self._error

    # -- the session ------------------------------------------------------------

    def _ensure_started(self, required: bool = True) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if required:
                raise RuntimeError("the MQTT medium sends from a running event loop only") from None
            return None  # type: ignore[return-value]  # attached before the loop runs
        self._loop = loop
        self._wake = asyncio.Event()
        self._ready = loop.create_future()
        self._connecting = True
        self._progress_at = time.monotonic()
        add_probe = getattr(loop, "add_network_probe", None)
        if add_probe is not None:
            add_probe(self._probe)
            self._probing = True
        self._session = loop.create_task(self._run(virtual=add_probe is not None),
                                         name=f"mqtt medium {self.host}:{self.port}")
        return loop

    async def start(self) -> None:
        """Connect (if not yet) and return once connected; raise a one-line error if not."""
        self._ensure_started()
        assert self._ready is not None
        self._awaited = True
        try:
            await asyncio.shield(self._ready)
        except MqttMediumError:
            self._stop_probing()  # reported here; the loop need not raise it again
            raise

    def _where(self) -> str:
        return f"MQTT broker at {self.host}:{self.port}"

    async def _run(self, *, virtual: bool) -> None:
        """Connect, carry frames, and reconnect when the broker goes away.

        A lost connection (the broker restarted, a network blip) is not the
        end of the run: the session reconnects with backoff (real seconds:
        virtual time stands still meanwhile, so no timeout fires for an
        outage) and subscribes again to every topic its stations use, since
        the broker forgot them. Batches in flight when the connection went
        are lost, as a burst of interference would lose them, and the layers
        above deal with it as they do with any lost frame; what was queued
        but not yet published goes once reconnected. Only a broker that stays
        away for ``reconnect_timeout`` real seconds (or cannot be reached at
        all at first) ends the run, with a one-line :class:`MqttMediumError`.
        """
        assert self._ready is not None
        lost_at: float | None = None
        first_failed_at = 0.0
        backoff = _BACKOFF_FIRST
        try:
            while True:
                if lost_at is not None and self._closing:
                    return  # closed while the broker was away: nothing left to carry
                client = _Client(self.host, self.port, virtual=virtual,
                                 identifier=f"s1bench-{self._origin:08x}", **self._client_options)
                try:
                    await client.__aenter__()
                except aiomqtt.MqttError as exc:
                    reason = _reason(exc)
                    if lost_at is None:
                        first_failed_at = first_failed_at or time.monotonic()
                        if _refused(reason) or (time.monotonic() - first_failed_at
                                                >= self.connect_retry_s):
                            raise MqttMediumError(
                                f"cannot connect to the {self._where()}: {reason}") from None
                    elif _refused(reason):
                        raise MqttMediumError(
                            f"the {self._where()} refused to reconnect: {reason}") from None
                    elif time.monotonic() - lost_at >= self.reconnect_timeout:
                        raise MqttMediumError(
                            f"lost the {self._where()} and could not reconnect within "
                            f"{self.reconnect_timeout:g} s: {reason}") from None
                    await asyncio.to_thread(time.sleep, backoff)  # real time: see the docstring
                    backoff = min(backoff * 2, _BACKOFF_MAX)
                    continue
                if lost_at is not None:
                    self.reconnects += 1
                    self._resubscribe()
                    log.info("mqtt medium reconnected", broker=self._where(),
                             outage_s=round(time.monotonic() - lost_at, 3))
                self._client = client
                self._connecting = False
                self._progress_at = time.monotonic()
                if not self._ready.done():
                    self._ready.set_result(None)
                if not await self._carry(client):
                    return
                lost_at, backoff = time.monotonic(), _BACKOFF_FIRST
                self._client = None
                self._connecting = True
                self._echo_pending = 0  # whatever was on its way back is gone
                self._progress_at = lost_at
        except MqttMediumError as exc:
            self._fail(exc)
        finally:
            self._connecting = False
            self._client = None
            if self._probing and self._error is None:
                self._stop_probing()

    async def _carry(self, client: _Client) -> bool:
        """Send and receive on one connection; True when it was lost (not closed by us)."""
        loop = asyncio.get_running_loop()
        workers = {loop.create_task(self._send_loop(client)),
                   loop.create_task(self._receive(client))}
        lost = False
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                try:
                    task.result()
                except aiomqtt.MqttError as exc:
                    if self._closing:
                        break
                    log.warning("mqtt medium lost its broker", broker=self._where(),
                                error=_reason(exc))
                    lost = True
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)
        return lost

    def _resubscribe(self) -> None:
        """Every topic a station here listens on, first in the outbox: a restarted broker
        knows no subscriptions, and the echo of a batch needs its own to come back."""
        subs = [(_SUB, topic, False) for topic in self._topic_refs]
        self._outbox.extendleft(reversed(subs))
        if self._wake is not None:
            self._wake.set()

    def _reconnecting(self) -> bool:
        """Reconnecting after a loss (not connecting for the first time)."""
        return self._ready is not None and self._ready.done() and self._error is None

    def _stop_probing(self) -> None:
        if self._probing and self._loop is not None:
            self._probing = False
            self._loop.remove_network_probe(self._probe)  # type: ignore[attr-defined]

    def _fail(self, error: MqttMediumError) -> None:
        """Record a failure; whoever notices first reports it, once.

        ``start()`` raises it to its caller; otherwise, on a virtual loop, the
        probe raises it out of the loop (the run stops with this one line, as
        a virtual deadlock does); on a wall loop the next ``send`` raises it.
        """
        self._error = error
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
            self._ready.exception()  # marked retrieved: no "never retrieved" spew
        if not self._probing and not self._awaited:
            log.error("mqtt medium failed", error=str(error))

    async def _send_loop(self, client: _Client) -> None:
        assert self._wake is not None
        outbox, wake = self._outbox, self._wake
        while True:
            if not outbox:
                if self._closing:
                    return
                wake.clear()
                await wake.wait()
                continue
            kind, what, echo = outbox.popleft()
            self._in_call = True
            try:
                if kind == _PUB:
                    topic, payload, frames = what
                    if echo:
                        self._echo_pending += 1
                        self._echo_deadline = time.monotonic() + self.stall_timeout
                    else:
                        self._remote_until = time.monotonic() + self.remote_wait
                    await client.publish(topic, payload, qos=0)
                    self.publishes += 1
                    self.frames_published += frames
                elif kind == _SUB:
                    topics = [(what, 0)]
                    while outbox and outbox[0][0] == _SUB:
                        topics.append((outbox.popleft()[1], 0))
                    await client.subscribe(topics)
                else:
                    await client.unsubscribe(what)
            finally:
                self._in_call = False
            self._progress_at = time.monotonic()

    async def _receive(self, client: _Client) -> None:
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                self._on_batch(bytes(payload))

    def _on_batch(self, payload: bytes) -> None:
        self._progress_at = time.monotonic()
        if len(payload) < _HEADER.size:
            self.stats.malformed += 1
            return
        version, origin = _HEADER.unpack_from(payload)
        if version != VERSION:
            self.stats.malformed += 1
            return
        mine = origin == self._origin
        if mine:
            if self._echo_pending:
                self._echo_pending -= 1
        else:
            self._remote_until = 0.0  # something came back from another process
        self.batches_received += 1
        deliveries: list[tuple[Station, bytes]] = []
        pos, end = _HEADER.size, len(payload)
        stations, pans, by_slot = self._stations, self._pans, self._by_slot
        while pos + _ENTRY.size <= end:
            length, slot = _ENTRY.unpack_from(payload, pos)
            pos += _ENTRY.size
            frame = payload[pos:pos + length]
            pos += length
            if len(frame) < MIN_FRAME:
                self.stats.malformed += 1
                continue
            pan, dst = frame[3] | (frame[4] << 8), frame[5] | (frame[6] << 8)
            sender = by_slot.get(slot) if mine else None
            if frame[1] == 0x88:
                recipients = (pans.get(pan, ()) if dst == BROADCAST
                              else stations.get((pan, dst), ()))
            else:
                recipients = self._joining_recipients(frame)
            for station in recipients:
                if station is not sender:
                    deliveries.append((station, frame))
        if pos != end:
            self.stats.malformed += 1
        if not deliveries:
            return
        if self.latency:
            asyncio.get_running_loop().call_later(self.latency, self._deliver, deliveries)
        else:
            self._deliver(deliveries)

    def _joining_recipients(self, frame: bytes) -> list[Station]:
        pan = frame[3] | (frame[4] << 8)
        dst_mode = (frame[1] >> 2) & 3
        if dst_mode == 0:  # a beacon: its PAN
            return list(self._pans.get(pan, ()))
        if pan == BROADCAST:  # a Beacon Request: every coordinator here
            return [s for p in self._pans for s in self._stations.get((p, 0), ())]
        if dst_mode == 3:
            eui = int.from_bytes(frame[5:13], "little")
            return [s for s in self._pans.get(pan, ()) if s.ieee == eui]
        dst = frame[5] | (frame[6] << 8)
        return list(self._pans.get(pan, ()) if dst == BROADCAST
                    else self._stations.get((pan, dst), ()))

    def _deliver(self, deliveries: list[tuple[Station, bytes]]) -> None:
        self.stats.delivered += len(deliveries)
        for station, frame in deliveries:
            station.frame_received(frame)
            # The receiver's Imm-Ack of a unicast that asks for one (see the module doc).
            if frame[0] & 0x20 and getattr(station, "powered", True):
                self.stats.acks += 1
                if self._taps:
                    self._tap(ACKS[frame[2]], self._clock.now())

    # -- virtual time -----------------------------------------------------------

    def _probe(self) -> float:
        """Real seconds the virtual loop should wait for the broker (0: let it warp)."""
        if self._error is not None:
            self._stop_probing()
            raise self._error
        now = time.monotonic()
        client = self._client
        if client is not None and now >= self._misc_due:
            self._misc_due = now + 1.0
            client.housekeeping()
        if self._connecting and self._reconnecting():
            # Virtual time stands still for an outage; a connect attempt that hangs
            # (its timeout is virtual too) is cut here, past the session's own limit.
            left = self.reconnect_timeout + _BACKOFF_MAX + self.connect_timeout - (
                now - self._progress_at)
            if left <= 0:
                self._error = MqttMediumError(
                    f"lost the {self._where()} and could not reconnect within "
                    f"{self.reconnect_timeout:g} s")
                raise self._error
            return left
        if self._connecting:
            # Past the connect timeout, let virtual time run so aiomqtt's own
            # timeout (a virtual one) fires and the session reports it.
            # (paho's TCP connect, in an executor thread, gives up after 5 s itself).
            return max(self.connect_timeout + 5.0 + self.connect_retry_s
                       - (now - self._progress_at), 0.0)
        if self._outbox or self._in_call or self._closing:
            left = self.stall_timeout - (now - self._progress_at)
            if left <= 0:
                self._error = MqttMediumError(
                    f"the {self._where()} made no progress for {self.stall_timeout:g} s")
                raise self._error
            return left
        if self._echo_pending:
            left = self._echo_deadline - now
            if left > 0:
                return left
            # QoS 0: the broker dropped a batch we were waiting for; stop waiting.
            self._echo_pending = 0
        return max(self._remote_until - now, 0.0)

    # -- closing ----------------------------------------------------------------

    async def aclose(self) -> None:
        """Publish what is queued, then disconnect; safe to call twice."""
        self._flush()
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self._session is not None:
            with contextlib.suppress(MqttMediumError):
                await self._session
        super().close()

    def close(self) -> None:
        """Stop the session without waiting (the loop finishes the disconnect if it runs on)."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        super().close()


__all__ = ["MqttMedium", "MqttMediumError"]
