"""The radio link: the comms hub's HAN on a real Zigbee dongle through zigpy.

A dongle runs NWK, APS and security itself and takes APS payloads from its
host (HIL.md, "The layer a dongle works at"), so this link sits where the
emulator's frame stack sits: it implements
:class:`~s1bench.emulator.han_link.HanLink` on zigpy's ``ControllerApplication``
and the hub, its quirks and its handlers run on it unchanged
(``Installation.on_link``). zigpy-znp (TI Z-Stack) is the radio supported.

Smart Energy needs three things zigpy does not do by itself:

- Sending as profile 0x0109: the link registers an SE endpoint
  (:data:`SE_ENDPOINT`) and turns zigpy-znp's ``prefer_endpoint_1`` off, so
  each frame leaves from the endpoint registered for its profile.
- Receiving: zigpy's device model drops profile 0x0109 frames, and Z-Stack
  reports no profile at all; the link takes every packet for its SE endpoint,
  and every non-ZDO packet from a device it commissioned, before zigpy's
  device model sees it.
- Joining with install codes: keys go in with ``permit_with_link_key``, and a
  join window longer than zigpy's 254 s limit is re-sent.

The link runs on the wall clock: it is real I/O. Failures to send are logged
(never with key material) and left to the hub's own timeouts and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Coroutine
from typing import Any

import structlog
import zigpy.config as zconf
import zigpy.exceptions
import zigpy.types as zt
from s1bench.emulator import aps, mmo, se, zcl, zdo
from s1bench.emulator.codec_errors import CodecError
from s1bench.emulator.han_link import HanEvents
from s1bench.emulator.headend import eui64_int, eui64_str
from s1bench.emulator.node import PAYLOAD_ERRORS
from zigpy_znp.zigbee.application import ControllerApplication as ZnpApplication

log = structlog.get_logger("s1bench.radio")

#: The coordinator's Smart Energy endpoint: one zigpy does not use itself.
SE_ENDPOINT = 9
#: Where s1bench expects a device's SE clusters unless it has answered from elsewhere.
DEVICE_ENDPOINT = 1
#: zigpy's PermitDuration limit.
MAX_PERMIT = zdo.MAX_PERMIT_DURATION
#: How long ``open_radio`` waits for a dongle to answer before calling it silent.
CONNECT_TIMEOUT_S = 20.0
RADIOS = ("znp",)
#: Clusters the coordinator's SE endpoint serves and uses (its simple descriptor).
SE_CLUSTERS = [se.BASIC, se.TIME, se.PRICE, se.METERING, se.MESSAGING, se.TUNNELING,
               se.PREPAYMENT, se.DEVICE_MANAGEMENT, se.EVENTS, se.KEY_ESTABLISHMENT,
               se.ELECTRICAL_MEASUREMENT]


class RadioError(RuntimeError):
    """The dongle cannot be used; the message names the port and what went wrong."""


def _eui(ieee: int) -> zt.EUI64:
    return zt.EUI64(ieee.to_bytes(8, "little"))


def _ieee(eui: zt.EUI64) -> int:
    return int.from_bytes(eui.serialize(), "little")


def _ieee_of(eui: str | int) -> int:
    """An EUI-64 in any spelling (DUIS dashes, zigpy colons, bare hex, an int)."""
    if isinstance(eui, int):
        return eui
    digits = "".join(ch for ch in str(eui) if ch not in "-: ")
    if len(digits) != 16:
        return eui64_int(str(eui))  # raises, naming the text
    return eui64_int("-".join(digits[i:i + 2] for i in range(0, 16, 2)))


class SeApplication(ZnpApplication):
    """zigpy-znp's application with Smart Energy packets handed to the radio link first."""

    link: RadioLink | None = None

    def packet_received(self, packet: zt.ZigbeePacket) -> None:
        if self.link is not None and self.link.take_packet(packet):
            return
        super().packet_received(packet)

    def handle_join(self, nwk: zt.NWK, ieee: zt.EUI64, parent_nwk: zt.NWK | None, *,
                    handle_rejoin: bool = True) -> None:
        super().handle_join(nwk, ieee, parent_nwk, handle_rejoin=handle_rejoin)
        if self.link is not None:
            self.link.joined(_ieee(ieee), int(nwk))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.lost(exc)
        super().connection_lost(exc)


def zigpy_config(path: str, *, baudrate: int, database: str | None,
                 channel: int | None) -> dict[str, Any]:
    """zigpy settings for a bench: SE endpoint, no OTA, no topology scans, no auto backups."""
    network: dict[str, Any] = {}
    if channel is not None:
        network[zconf.CONF_NWK_CHANNEL] = channel
    return {
        zconf.CONF_DEVICE: {zconf.CONF_DEVICE_PATH: path,
                            zconf.CONF_DEVICE_BAUDRATE: baudrate},
        zconf.CONF_DATABASE: database,
        zconf.CONF_NWK: network,
        zconf.CONF_NWK_BACKUP_ENABLED: False,
        zconf.CONF_TOPO_SCAN_ENABLED: False,
        zconf.CONF_OTA: {zconf.CONF_OTA_ENABLED: False},
        zconf.CONF_ADDITIONAL_ENDPOINTS: [{
            "endpoint": SE_ENDPOINT, "profile": aps.PROFILE_SE, "device_type": 0x0500,
            "device_version": 0, "input_clusters": SE_CLUSTERS,
            "output_clusters": SE_CLUSTERS}],
        "znp_config": {"prefer_endpoint_1": False},
    }


class RadioLink:
    """The hub's HAN on a dongle, and what a bench check asks of the dongle."""

    def __init__(self, app: SeApplication, path: str) -> None:
        self.app = app
        self.path = path
        app.link = self
        self._events: HanEvents | None = None
        self._seq = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._control = asyncio.Lock()
        #: ieee -> short of devices that joined or answered.
        self._devices: dict[int, int] = {}
        #: short -> the endpoint a device sends its SE frames from.
        self._endpoints: dict[int, int] = {}
        self._probes: dict[tuple[int, int, int], asyncio.Future[zcl.ZclFrame]] = {}
        #: Why the dongle is gone (None while connected); the port is not repeated in it.
        self.lost_reason: str | None = None
        self.malformed = 0
        self.formed = False

    # ---- lifecycle -----------------------------------------------------------------
    def connected(self) -> bool:
        return self.lost_reason is None

    def lost(self, exc: Exception | None) -> None:
        self.lost_reason = "the dongle connection was lost" + (
            f" ({type(exc).__name__}: {exc})" if exc else "")
        log.warning("radio link lost", port=self.path, reason=str(exc) if exc else None)

    async def form_or_resume(self) -> None:
        """Start the network stored on the dongle, forming a new one if it holds none."""
        try:
            await self.app.initialize(auto_form=True)
        except Exception as exc:  # zigpy's, zigpy-znp's and the port's errors alike
            raise RadioError(f"{self.path}: forming or resuming the network failed: "
                             f"{type(exc).__name__}: {exc}") from None
        self.formed = True
        # Devices the dongle already has on its network (its address manager, read
        # as zigpy reads it for a backup) or that zigpy's database knows: on a
        # resumed network they do not join again.
        with contextlib.suppress(zigpy.exceptions.ZigbeeException, TimeoutError, KeyError):
            await self.app.load_network_info(load_devices=True)
        for eui, nwk in self.app.state.network_info.nwk_addresses.items():
            self._devices.setdefault(_ieee(eui), int(nwk))
        for eui, device in self.app.devices.items():
            if device.nwk not in (0x0000, None) and eui != self.app.state.node_info.ieee:
                self._devices.setdefault(_ieee(eui), int(device.nwk))
        info = self.app.state.network_info
        log.info("network up", port=self.path, channel=info.channel,
                 pan=f"{int(info.pan_id):04X}")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.app.link = None
        with contextlib.suppress(Exception):
            await self.app.shutdown()

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed send must not stop the hub
                log.warning("radio request failed", port=self.path, what=what,
                            error=f"{type(exc).__name__}: {exc}")

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- HanLink: what the hub asks ------------------------------------------------
    def bind(self, events: HanEvents) -> None:
        self._events = events

    def next_zcl_seq(self) -> int:
        self._seq = (self._seq + 1) % 256
        return self._seq

    def send_zcl(self, dst: int, cluster: int, frame: zcl.ZclFrame) -> None:
        self._spawn(self._send(dst, cluster, frame), f"ZCL {cluster:#06x} to {dst:#06x}")

    def permit_joining(self, duration: int) -> None:
        self._spawn(self._permit(duration), f"permit joining {duration} s")

    def add_link_key(self, ieee: int, link_key: bytes) -> None:
        self._spawn(self._add_key(ieee, link_key), f"install code of {eui64_str(ieee)}")

    def remove_device(self, ieee: int, short: int | None) -> None:
        # Z-Stack has no MT command to drop one install code: the key stays in the
        # dongle's table until its next clear-state reset. The device is told to leave.
        self._devices.pop(ieee, None)
        if short is not None:
            self._spawn(self._leave(ieee, short, rejoin=False), f"leave {eui64_str(ieee)}")

    def reset_device(self, ieee: int, short: int) -> None:
        self._spawn(self._leave(ieee, short, rejoin=True), f"reset {eui64_str(ieee)}")

    # ---- what goes out -----------------------------------------------------------------
    async def _send(self, dst: int, cluster: int, frame: zcl.ZclFrame) -> None:
        await self.app.send_packet(zt.ZigbeePacket(
            src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=0x0000),
            src_ep=SE_ENDPOINT,
            dst=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=dst),
            dst_ep=self._endpoints.get(dst, DEVICE_ENDPOINT), tsn=frame.seq,
            profile_id=aps.PROFILE_SE, cluster_id=cluster,
            data=zt.SerializableBytes(frame.encode()), tx_options=zt.TransmitOptions.NONE,
            radius=0))

    async def _permit(self, duration: int) -> None:
        async with self._control:
            await self.app.permit(min(duration, MAX_PERMIT))

    async def _add_key(self, ieee: int, link_key: bytes) -> None:
        # zigpy's permit_with_link_key puts the key in and then permits for time_s
        # and sleeps through it: with 0 s it only puts the key in. The hub opens
        # its own window next.
        async with self._control:
            await self.app.permit_with_link_key(_eui(ieee), zt.KeyData(link_key), time_s=0)

    async def _leave(self, ieee: int, short: int, *, rejoin: bool) -> None:
        tsn = self.app.get_sequence()
        payload = bytes([tsn]) + ieee.to_bytes(8, "little") + bytes([0x80 if rejoin else 0])
        await self.app.send_packet(zt.ZigbeePacket(
            src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=0x0000), src_ep=0,
            dst=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=short), dst_ep=0,
            tsn=tsn, profile_id=aps.PROFILE_ZDP, cluster_id=zdo.MGMT_LEAVE_REQ,
            data=zt.SerializableBytes(payload), tx_options=zt.TransmitOptions.NONE, radius=0))

    # ---- what comes in -------------------------------------------------------------------
    def joined(self, ieee: int, short: int) -> None:
        self._devices[ieee] = short
        log.info("device on the dongle's network", port=self.path, ieee=eui64_str(ieee),
                 short=f"{short:04X}")
        if self._events is not None:
            self._events.device_joined(ieee, short)

    def take_packet(self, packet: zt.ZigbeePacket) -> bool:
        """Take a Smart Energy packet away from zigpy's device model; False leaves it there."""
        if packet.src is None or packet.src.addr_mode != zt.AddrMode.NWK:
            return False
        short = int(packet.src.address)
        ours = packet.dst_ep == SE_ENDPOINT or (
            packet.dst_ep != 0 and packet.src_ep != 0 and short in self._devices.values())
        if not ours:
            return False
        self._endpoints[short] = int(packet.src_ep)
        if short not in self._devices.values():
            # A device that answers without having joined in this session (a resumed
            # network): zigpy's database may know its EUI.
            with contextlib.suppress(KeyError):
                self._devices[_ieee(self.app.get_device(nwk=short).ieee)] = short
        cluster = int(packet.cluster_id)
        try:
            frame = zcl.ZclFrame.decode(packet.data.serialize())
            probe = self._probes.get((short, cluster, frame.seq))
            if probe is not None and not probe.done():
                probe.set_result(frame)
            elif self._events is not None:
                self._events.zcl_received(short, cluster, frame)
        except (CodecError, *PAYLOAD_ERRORS) as exc:
            self.malformed += 1
            log.warning("SE frame dropped", port=self.path, src=f"{short:04X}",
                        cluster=f"{cluster:#06x}", reason=f"{type(exc).__name__}: {exc}")
        return True

    # ---- the bench's questions ----------------------------------------------------------
    def devices(self) -> list[tuple[str, int]]:
        """(EUI, short) of each device that joined or answered, in DUIS spelling."""
        return [(eui64_str(ieee), short) for ieee, short in sorted(self._devices.items())]

    async def permit_install_code(self, eui: str | int, install_code: bytes,
                                  seconds: int) -> None:
        """Let one device join with the code on its label for ``seconds`` (re-sent past 254 s)."""
        ieee = _ieee_of(eui)
        try:
            link_key = mmo.link_key_from_install_code(bytes(install_code))
        except ValueError as exc:
            raise ValueError(f"{eui64_str(ieee)}: {exc}") from None
        async with self._control:
            await self.app.permit_with_link_key(_eui(ieee), zt.KeyData(link_key), time_s=0)
            await self.app.permit(min(seconds, MAX_PERMIT))
        if seconds > MAX_PERMIT:
            self._spawn(self._keep_permitting(seconds - MAX_PERMIT), "join window")

    async def _keep_permitting(self, remaining: int) -> None:
        while remaining > 0:
            await asyncio.sleep(MAX_PERMIT)
            duration = min(remaining, MAX_PERMIT)
            async with self._control:
                await self.app.permit(duration)
            remaining -= duration

    async def read_basic(self, eui: str | int, *, timeout: float = 10.0) -> dict[str, Any]:
        """Manufacturer, model and firmware (``sw_build_id`` as zigpy names it) from Basic."""
        ieee = _ieee_of(eui)
        short = self._devices.get(ieee)
        if short is None:
            raise RadioError(f"{self.path}: {eui64_str(ieee)} has not joined")
        attrs = [se.BASIC_MANUFACTURER, se.BASIC_MODEL, se.BASIC_SW_BUILD]
        seq = self.next_zcl_seq()
        key = (short, se.BASIC, seq)
        future: asyncio.Future[zcl.ZclFrame] = asyncio.get_running_loop().create_future()
        self._probes[key] = future
        try:
            await self._send(short, se.BASIC, zcl.ZclFrame(
                zcl.TYPE_GLOBAL, zcl.TO_SERVER, seq, zcl.READ_ATTRIBUTES,
                zcl.read_attributes(attrs), disable_default_response=True))
            async with asyncio.timeout(timeout):
                answer = await future
        except TimeoutError:
            raise RadioError(f"{self.path}: {eui64_str(ieee)} did not answer a Basic read "
                             f"within {timeout:g} s") from None
        finally:
            self._probes.pop(key, None)
        values = zcl.parse_read_attributes_response(answer.payload)

        def value(attr: int) -> Any:
            status, got = values.get(attr, (zcl.STATUS_UNSUPPORTED_ATTRIBUTE, None))
            return got if status == zcl.STATUS_SUCCESS else None

        return {"manufacturer": value(se.BASIC_MANUFACTURER), "model": value(se.BASIC_MODEL),
                "sw_build_id": value(se.BASIC_SW_BUILD)}


def _connect_error(path: str, exc: BaseException) -> RadioError:
    if isinstance(exc, FileNotFoundError) or (
            isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.ENODEV)):
        return RadioError(f"{path}: no such serial port")
    if isinstance(exc, ConnectionRefusedError):
        return RadioError(f"{path}: connection refused (nothing listening there)")
    if isinstance(exc, PermissionError):
        return RadioError(f"{path}: permission denied (is the user in the dialout group?)")
    if isinstance(exc, TimeoutError):
        return RadioError(f"{path}: the dongle did not answer (no Z-Stack ping reply within "
                          f"{CONNECT_TIMEOUT_S:g} s); is it a Z-Stack coordinator at this baud "
                          f"rate?")
    text = str(exc) or type(exc).__name__
    return RadioError(f"{path}: cannot open the dongle: {text}")


async def open_radio(path: str, *, baudrate: int = 115200, radio: str = "znp",
                     database: str | None = None, channel: int | None = None) -> RadioLink:
    """Connect to a dongle (``/dev/tty…`` or ``socket://host:port``); not yet started.

    ``form_or_resume()`` then starts the network. ``channel`` fixes the channel a
    new network forms on (else zigpy scans for the quietest).
    """
    if radio not in RADIOS:
        raise RadioError(f"{path}: radio {radio!r} is not supported yet (supported: "
                         f"{', '.join(RADIOS)}; bellows/EZSP is planned)")
    config = zigpy_config(path, baudrate=baudrate, database=database, channel=channel)
    # new() without starting the radio: the database first, as zigpy orders it.
    app = await SeApplication.new(config, start_radio=False)
    assert isinstance(app, SeApplication)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await app.connect()
    except (OSError, TimeoutError, zigpy.exceptions.ZigbeeException, ValueError) as exc:
        with contextlib.suppress(Exception):
            await app.shutdown()
        raise _connect_error(path, exc) from None
    return RadioLink(app, path)
