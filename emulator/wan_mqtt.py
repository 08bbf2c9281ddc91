"""The head-end WAN over an MQTT broker: the DCC side in one process, the hubs in others.

A SMETS1 hub talks to its head-end over a WAN (GPRS, a long-range radio); the
DCC's S1SP is on the other end (DOMAIN.md, "Who answers what"). In one process
that link is a method call (:meth:`Installation.execute`). Here it crosses
processes and machines through a broker, so ``s1bench serve`` can run the DCC
side while ``s1bench hubs`` runs the installations elsewhere, and
``mosquitto_sub -v -t 's1bench/+/wan/#'`` shows every command and outcome.

Topics, per hub (its EUI-64 as 16 hex digits)::

    s1bench/<site>/wan/<hub>/cmd   DCC -> hub: head-end commands
    s1bench/<site>/wan/<hub>/up    hub -> DCC: outcomes of commands, alerts

The hubs' process subscribes to ``s1bench/<site>/wan/+/cmd`` and the DCC's to
``.../+/up``: one subscription each, whatever the number of hubs.

Payloads are binary batches: ``<B version>``, then per record ``<I length><B
kind>`` and the record's body, UTF-8 JSON of the dataclass
(:class:`~.headend.Command`, :class:`~.headend.DeviceOutcome`,
:class:`~.headend.Alert`) with its correlation id. Bytes, dates, datetimes,
tuples and enums are tagged so they come back as they went: a signed
command's digest is over its arguments' exact form (credentials.py). Records
for one topic made in one loop turn go in one publish.

QoS 1. Unlike a HAN frame, a head-end command must not vanish: a lost
command or outcome would leave the DCC not knowing whether a meter's supply
was cut. QoS 1 delivers at least once; the hub remembers the outcomes of the
last :data:`REMEMBERED` command ids and answers a redelivered command from
that memory instead of carrying it out twice, and the DCC side ignores an
outcome for a command already answered. That gives each command one effect
for two packets per message where QoS 2 needs four.

Time. Both ends run on real (or scaled real) time, as ``s1bench serve``
does: a broker cannot carry one process's virtual clock to another, so a
virtual-time run keeps its WAN in process. A command unanswered for
``timeout`` seconds of the DCC side's clock ends as SILENT, naming the hub
and the broker, as a real head-end's WAN timeout does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import date, datetime
from enum import Enum
from typing import Any

import aiomqtt
import structlog

from .credentials import Authorisation
from .headend import Alert, Command, DeviceOutcome, OutcomeStatus, eui64_int, eui64_str

log = structlog.get_logger("s1bench.wan")

VERSION = 1
_RECORD = struct.Struct("<IB")
COMMAND, OUTCOME, ALERT = 1, 2, 3
#: Outcomes a hub keeps to answer a redelivered command without carrying it out again.
REMEMBERED = 1024


class WanError(RuntimeError):
    """The broker could not be reached or dropped the link: names host and port."""


# ------------------------------------------------------------------ codec ---

def _tag(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b": value.hex()}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): _tag(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return {"$tu": [_tag(v) for v in value]}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            if "$b" in value:
                return bytes.fromhex(value["$b"])
            if "$t" in value:
                return datetime.fromisoformat(value["$t"])
            if "$d" in value:
                return date.fromisoformat(value["$d"])
            if "$tu" in value:
                return tuple(_untag(v) for v in value["$tu"])
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


def encode_record(kind: int, ident: int, item: Any) -> bytes:
    body = json.dumps({"id": ident, **_tag(asdict(item))}, separators=(",", ":")).encode()
    return _RECORD.pack(len(body) + 1, kind) + body


def encode_batch(records: list[bytes]) -> bytes:
    return bytes([VERSION]) + b"".join(records)


def decode_batch(payload: bytes) -> list[tuple[int, int, Any]]:
    """(kind, id, object) per record; ValueError naming the offset on a bad batch."""
    if not payload or payload[0] != VERSION:
        raise ValueError(f"WAN batch version {payload[:1].hex() or 'missing'}, "
                         f"expected {VERSION:02x}")
    out, pos = [], 1
    while pos < len(payload):
        if len(payload) - pos < _RECORD.size:
            raise ValueError(f"WAN batch cut short at byte {pos}")
        length, kind = _RECORD.unpack_from(payload, pos)
        start, pos = pos + _RECORD.size, pos + 4 + length
        if length < 1 or pos > len(payload):
            raise ValueError(f"WAN record at byte {start - _RECORD.size} claims {length} bytes")
        data = _untag(json.loads(payload[start:pos]))
        ident = data.pop("id")
        if kind == COMMAND:
            signed = data.get("authorisation")
            if signed is not None:  # the slot holder's signature travels with its command
                data["authorisation"] = Authorisation(**_known(Authorisation, signed))
            out.append((kind, ident, Command(**_known(Command, data))))
        elif kind == OUTCOME:
            data["status"] = OutcomeStatus(data["status"])
            out.append((kind, ident, DeviceOutcome(**_known(DeviceOutcome, data))))
        elif kind == ALERT:
            out.append((kind, ident, Alert(**_known(Alert, data))))
        else:
            raise ValueError(f"WAN record of unknown kind {kind} at byte {start - 1}")
    return out


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


# ------------------------------------------------------------- the link ---

class _Link:
    """One broker connection: batched QoS 1 publishes, one wildcard subscription."""

    def __init__(self, host: str, port: int, site: str, subscribe: str,
                 on_records: Callable[[int, list[tuple[int, int, Any]]], None], *,
                 username: str | None = None,
                 password: str | None = None, ca_file: str | None = None,
                 connect_timeout: float = 5.0) -> None:
        if not site or any(c in site for c in "/#+"):
            raise ValueError(f"WAN site must be a topic level without '/', '#' or '+', "
                             f"got {site!r}")
        self.host, self.port = host, port
        self.prefix = f"s1bench/{site}/wan/"
        self._subscribe = self.prefix + subscribe
        self._on_records = on_records
        options: dict[str, Any] = {"username": username, "password": password,
                                   "timeout": connect_timeout}
        if ca_file is not None:
            options["tls_params"] = aiomqtt.TLSParameters(ca_certs=ca_file)
        self._options = options
        self._open: dict[str, list[bytes]] = {}
        self._client: aiomqtt.Client | None = None
        self._reader: asyncio.Task[None] | None = None
        self._flushing = False
        self.publishes = 0
        self.records = 0

    @property
    def where(self) -> str:
        return f"MQTT broker {self.host}:{self.port}"

    async def start(self) -> None:
        client = aiomqtt.Client(self.host, self.port, protocol=aiomqtt.ProtocolVersion.V5,
                                **self._options)
        try:
            await client.__aenter__()
            await client.subscribe(self._subscribe, qos=1)
        except (aiomqtt.MqttError, OSError) as exc:
            raise WanError(f"cannot reach the {self.where} for the WAN: {exc}") from None
        self._client = client
        self._reader = asyncio.get_running_loop().create_task(self._read(client))

    async def _read(self, client: aiomqtt.Client) -> None:
        try:
            async for message in client.messages:
                payload = message.payload
                if isinstance(payload, bytes | bytearray):
                    self._on_batch(str(message.topic), bytes(payload))
        except aiomqtt.MqttError as exc:
            log.error("WAN link lost", broker=self.where, error=str(exc))

    def _on_batch(self, topic: str, payload: bytes) -> None:
        """A batch from the broker: its hub (from the topic) and records, or a warning."""
        try:
            hub = int(topic[len(self.prefix):].split("/", 1)[0], 16)
            records = decode_batch(payload)
        except ValueError as exc:
            log.warning("WAN batch dropped", topic=topic, reason=str(exc))
            return
        self._on_records(hub, records)

    def send(self, topic: str, record: bytes) -> None:
        """Queue a record for ``topic``; the loop turn's records go in one publish."""
        batch = self._open.get(topic)
        if batch is None:
            batch = self._open[topic] = []
        batch.append(record)
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        batches, self._open = self._open, {}
        client = self._client
        if client is None:
            log.error("WAN record dropped: not connected", broker=self.where)
            return
        for topic, records in batches.items():
            self.publishes += 1
            self.records += len(records)
            asyncio.get_running_loop().create_task(
                client.publish(topic, encode_batch(records), qos=1))

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await self._client.__aexit__(None, None, None)
            self._client = None


# ------------------------------------------------------------- hub side ---

class HubEndpoint:
    """The hubs' end: carries out commands arriving for the hubs it hosts, reports back.

    ``installations`` maps each hub's EUI-64 (DUIS form) to its
    :class:`~.installation.Installation`. Alerts the hub relays go up too.
    """

    def __init__(self, installations: dict[str, Any], host: str, port: int, *,
                 site: str = "default", **options: Any) -> None:
        self.installations = {eui64_int(eui): inst for eui, inst in installations.items()}
        self._link = _Link(host, port, site, "+/cmd", self._on_records, **options)
        self._answered: OrderedDict[tuple[int, int], DeviceOutcome | None] = OrderedDict()
        self.commands = 0
        for hub, inst in self.installations.items():
            self._relay_alerts(hub, inst)

    async def start(self) -> None:
        await self._link.start()

    async def aclose(self) -> None:
        await self._link.aclose()

    def _up(self, hub: int) -> str:
        return f"{self._link.prefix}{hub:016X}/up"

    def _relay_alerts(self, hub: int, inst: Any) -> None:
        sink = inst.hub.alert_sink
        ids = itertools.count(1)

        def relay(alert: Alert) -> None:
            if sink is not None:
                sink(alert)
            self._link.send(self._up(hub), encode_record(ALERT, next(ids), alert))

        inst.hub.alert_sink = relay

    def _on_records(self, hub: int, records: list[tuple[int, int, Any]]) -> None:
        inst = self.installations.get(hub)
        if inst is None:
            return  # a hub another process hosts
        for kind, ident, command in records:
            if kind != COMMAND:
                continue
            key = (hub, ident)
            if key in self._answered:
                done = self._answered[key]
                if done is not None:  # redelivered: answer again, do not carry it out twice
                    self._link.send(self._up(hub), encode_record(OUTCOME, ident, done))
                continue
            self._answered[key] = None
            while len(self._answered) > REMEMBERED:
                self._answered.popitem(last=False)
            self.commands += 1
            asyncio.get_running_loop().create_task(self._carry_out(hub, inst, ident, command))

    async def _carry_out(self, hub: int, inst: Any, ident: int, command: Command) -> None:
        outcome = await inst.execute(command)
        if (hub, ident) in self._answered:
            self._answered[(hub, ident)] = outcome
        self._link.send(self._up(hub), encode_record(OUTCOME, ident, outcome))


# ------------------------------------------------------------- DCC side ---

class HeadEnd:
    """The DCC's end: sends each hub's commands over the broker and awaits the outcomes."""

    def __init__(self, host: str, port: int, *, site: str = "default",
                 timeout: float = 120.0, **options: Any) -> None:
        self.timeout = timeout
        self._link = _Link(host, port, site, "+/up", self._on_records, **options)
        self._waiting: dict[tuple[int, int], asyncio.Future[DeviceOutcome]] = {}
        self._alert_sinks: dict[int, Callable[[Alert], None]] = {}
        self._ids = itertools.count(1)

    async def start(self) -> None:
        await self._link.start()

    async def aclose(self) -> None:
        await self._link.aclose()

    def on_alert(self, hub_eui: str, sink: Callable[[Alert], None]) -> None:
        self._alert_sinks[eui64_int(hub_eui)] = sink

    async def execute(self, hub_eui: str, command: Command) -> DeviceOutcome:
        hub = eui64_int(hub_eui)
        ident = next(self._ids)
        future: asyncio.Future[DeviceOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[(hub, ident)] = future
        self._link.send(f"{self._link.prefix}{hub:016X}/cmd",
                        encode_record(COMMAND, ident, command))
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            return DeviceOutcome(OutcomeStatus.SILENT, reason=(
                f"no answer over the WAN from hub {eui64_str(hub)} within {self.timeout:g} s "
                f"(via the {self._link.where})"))
        finally:
            self._waiting.pop((hub, ident), None)

    def _on_records(self, hub: int, records: list[tuple[int, int, Any]]) -> None:
        for kind, ident, item in records:
            if kind == OUTCOME:
                future = self._waiting.get((hub, ident))
                if future is not None and not future.done():
                    future.set_result(item)
            elif kind == ALERT:
                sink = self._alert_sinks.get(hub)
                if sink is not None:
                    sink(item)


class RemoteInstallation:
    """An installation as the DCC side sees it when its hub is across the WAN.

    The DCC keeps registration data of its own (the devices' EUIs, types,
    makes and models, from the DMC and the site file): that is ``twin``, the
    same installation built from the same site entry and never started.
    Everything the DCC asks the devices goes through ``head_end`` to the real
    hub, in whichever process hosts it; alerts it relays arrive into the
    twin's alert sink, where the DCC's alert handling already listens.
    """

    def __init__(self, twin: Any, head_end: HeadEnd) -> None:
        self._twin = twin
        self._head_end = head_end
        head_end.on_alert(twin.hub_eui, lambda alert: twin.hub.alert_sink(alert))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._twin, name)

    async def execute(self, command: Command) -> DeviceOutcome:
        return await self._head_end.execute(self._twin.hub_eui, command)


def parse_url(text: str) -> dict[str, Any]:
    """``mqtt[s]://[user[:password]@]host[:port][/site][?ca=FILE]`` as WAN options.

    mqtts (TLS) defaults to port 8883 and takes the CA file from ``ca``; the
    site (default ``default``) keeps several sites on one broker apart.
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"{text!r}: expected mqtt://HOST[:PORT][/SITE] or mqtts://...")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise ValueError(f"{text!r}: the port is not a number in 1-65535") from None
    options: dict[str, Any] = {"host": parts.hostname, "port": port,
                               "site": parts.path.strip("/") or "default"}
    if parts.username:
        options["username"] = unquote(parts.username)
        options["password"] = unquote(parts.password) if parts.password else None
    ca = parse_qs(parts.query).get("ca")
    if ca:
        options["ca_file"] = ca[0]
    elif parts.scheme == "mqtts":
        raise ValueError(f"{text!r}: mqtts needs the broker's CA: ?ca=FILE")
    return options
