"""The emulated NCP on a TCP port: what ``socket://HOST:PORT`` reaches.

One host at a time, as on a serial line: a second connection is refused
(closed at once, and logged) while the first is open. The NCP's state (its
NVRAM, the emulated devices and which of them joined) outlives a
connection, so a host that disconnects and reconnects resumes the network
it formed, and finds its devices still joined.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import structlog
import zigpy_znp.types as t
from s1bench.emulator.clock import WallClock
from s1bench.emulator.installation import Installation
from s1bench.emulator.medium_memory import MemoryMedium

from .han_side import NcpHan
from .mt import MtDecoder, encode
from .nvram import NvStore
from .zstack import ZStack

log = structlog.get_logger("s1bench.ncp")


def ncp_installation(spec: Any, clock: Any, *, seed: int = 0, index: int = 0) -> Installation:
    """The installation an NCP emulates: every device uncommissioned, joining by install code.

    On a bench the host learns devices only when they join, so meters that
    the in-memory installation starts with on the HAN start off it here; the
    host commissions them with the install codes of the same seed and index
    (``Installation.on_link`` derives the same labels).
    """
    medium = MemoryMedium(clock=clock, seed=seed)
    return Installation(spec.devices, medium, clock, seed=seed, index=index,
                        status=spec.status, dmc_id=spec.id, commissioned=False)


class _Connection(asyncio.Protocol):
    def __init__(self, server: NcpServer) -> None:
        self.server = server
        self.decoder = MtDecoder()
        self.transport: asyncio.Transport | None = None
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port, *_ = transport.get_extra_info("peername") or ("?", 0)
        self.peer = f"{host}:{port}"
        if not self.server._attach(self):
            log.warning("NCP: refused a second host; one is already connected", peer=self.peer)
            transport.close()

    def data_received(self, data: bytes) -> None:
        if self.server._client is not self:
            return
        faults = len(self.decoder.faults)
        for frame in self.decoder.feed(data):
            self.server.zstack.handle_frame(frame)
        for fault in self.decoder.faults[faults:]:
            log.warning("NCP: malformed MT bytes dropped", peer=self.peer,
                        stream_offset=fault.offset, reason=fault.reason)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._detach(self)

    def send(self, command: t.CommandBase) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode(command))


class NcpServer:
    """A Z-Stack 3 NCP backed by an emulated installation, listening on TCP."""

    def __init__(self, installation: Installation, *, host: str = "127.0.0.1", port: int = 0,
                 nvram: Path | None = None, seed: int = 0) -> None:
        self.installation = installation
        self.host = host
        self.requested_port = port
        self.nvram = NvStore(installation.hub.ieee, nvram, seed=seed)
        self.han = NcpHan(installation, self._indicate)
        self.zstack = ZStack(self.nvram, self.han, self._indicate)
        self._server: asyncio.Server | None = None
        self._client: _Connection | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    async def start(self) -> int:
        """Listen; returns the port (a free one when asked for port 0)."""
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: _Connection(self), self.host,
                                                    self.requested_port)
        except OSError as exc:
            raise OSError(f"NCP cannot listen on {self.host}:{self.requested_port}: "
                          f"{exc.strerror or exc}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        self.installation.start()
        log.info("NCP listening", url=self.url, dmc=self.installation.dmc_id)
        return self.port

    async def close(self) -> None:
        if self._client is not None and self._client.transport is not None:
            self._client.transport.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        self.nvram.flush()
        if self.installation.medium is not None:
            self.installation.medium.close()

    async def __aenter__(self) -> NcpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def serve_forever(self) -> None:
        assert self._server is not None, "start() first"
        await self._server.serve_forever()

    # ---- the one connection ------------------------------------------------------
    def _attach(self, connection: _Connection) -> bool:
        if self._client is not None:
            return False
        self._client = connection
        log.info("NCP: host connected", peer=connection.peer)
        return True

    def _detach(self, connection: _Connection) -> None:
        if self._client is connection:
            self._client = None
            self.nvram.flush()
            log.info("NCP: host disconnected", peer=connection.peer)

    def _indicate(self, command: t.CommandBase) -> None:
        if self._client is not None:
            self._client.send(command)


async def run_ncp(spec: Any, *, host: str = "127.0.0.1", port: int = 0, seed: int = 0,
                  index: int = 0, nvram: Path | None = None,
                  ready: Any = None) -> None:
    """Serve until cancelled; ``ready(server)`` is called once listening."""
    clock = WallClock()
    installation = ncp_installation(spec, clock, seed=seed, index=index)
    server = NcpServer(installation, host=host, port=port, nvram=nvram, seed=seed)
    await server.start()
    try:
        if ready is not None:
            ready(server)
        await server.serve_forever()
    finally:
        await server.close()
