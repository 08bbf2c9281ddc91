"""An installation: a comms hub and its devices on one HAN, built from a DMC.

The builder is deterministic: EUIs, short addresses, the network key,
install codes and each device's RNG all derive from the seed and the
installation's index, so a fleet of thousands is reproducible. The index
alone sets the EUIs (00-DB-12, the index in four bytes, the device type in
the last), so installations that must be told apart in one run's records and
logs take distinct indexes; the pack runner derives one per test. What a
supplier would know from the premises (device EUIs, types, install codes on
labels) is exposed as :class:`Label`; everything else is reachable only
through head-end commands (:meth:`Installation.execute`): the DCC side
above it (``s1bench.harness.dcc``) turns Service Requests into those.

Two variations serve hardware in the loop. ``commissioned=False`` builds the
HAN as it is before commissioning: every device, meters included, holds an
install code and joins through the trust centre (an emulated NCP needs
that, as a dongle's host learns devices only by their joins). And
:meth:`Installation.on_link` builds the hub side alone on another HAN link
(a dongle), with the same EUIs, labels and install codes as the emulated
devices of the same seed and index.

A site that names its own devices (``s1bench serve``) passes ``euis``: each
device type listed adopts that EUI-64 instead of the derived one, so the
RequestIDs a DUIS user already writes reach it unchanged. Everything else
(keys, install codes, addresses, RNGs) still derives from seed and index,
and types not listed keep their derived EUIs.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import key_agreement, mmo
from .capture import CaptureTap
from .coordinator import HanCoordinator
from .devices import CHF, DEVICE_CLASSES, Device, DeviceInfo
from .han_link import HanLink
from .headend import Alert, Command, DeviceOutcome, eui64_int, eui64_str
from .hub import CommsHub
from .medium import Medium

STATUSES = ("Active", "Dormant", "Mixed")
TYPE_OFFSETS = {CHF: 0x00, "ESME": 0x01, "GSME": 0x02, "PPMID": 0x03, "IHD": 0x04}
#: The last EUI byte no device type uses: the installation's "unknown device".
UNKNOWN_OFFSET = 0xFF
#: Devices that join the HAN after migration (8.11 + 8.7); meters are already on it.
LATE_JOINERS = ("PPMID", "IHD")


def _reference_info(device_type: str) -> DeviceInfo:
    # No SRV list: the reference offers every SRV the DCC defines for its type.
    return DeviceInfo(device_type, "s1bench", f"reference-{device_type.lower()}", "1.0.0", (),
                      frozenset(), "reference")


#: The built-in DMC with no quirks, so the spine runs before any profile exists.
REFERENCE_DMC: dict[str, DeviceInfo] = {t: _reference_info(t) for t in TYPE_OFFSETS}


@dataclass(frozen=True, slots=True)
class Label:
    """What is printed on a device: enough for a supplier to add it to the log."""

    eui: str
    device_type: str
    install_code: bytes | None = field(repr=False, default=None)


def _uncommissioned_code(seed: int, index: int, device_type: str) -> tuple[bytes, int]:
    """Install code and pre-join address of a device that is normally on the HAN already.

    Drawn from an RNG of its own so that the commissioned build's draws (and
    so every seeded record) stay exactly as they were.
    """
    rng = random.Random(f"install-code:{seed}:{index}:{device_type}")
    return mmo.with_crc(rng.randbytes(16)), 0x8000 | rng.randrange(0x7FF0)


class Installation:
    """A hub and devices on one medium; the DCC side talks only to :meth:`execute`.

    Its HAN's extended PAN id is the hub's EUI-64 (ZigBee's default for a
    coordinator). The 16-bit PAN id is derived from the index and repeats
    every 57,344 installations; the extended PAN does not, and a memory
    medium routes on it, so installations sharing a PAN id on one medium
    never receive each other's frames.
    """

    __slots__ = ("alerts", "clock", "devices", "dmc_id", "extended_pan", "hub", "labels",
                 "medium", "pan", "status")

    def __init__(self, devices: dict[str, DeviceInfo], medium: Medium | None, clock: Any, *,
                 seed: int = 0, index: int = 0, status: str = "Dormant",
                 dmc_id: str = "reference", capture: CaptureTap | None = None,
                 enrolled: bool = False, commissioned: bool = True,
                 link: HanLink | None = None, euis: Mapping[str, str] | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"installation status {status!r} is not one of {STATUSES}")
        if CHF not in devices:
            raise ValueError("an installation needs a comms hub (CHF)")
        if (medium is None) == (link is None):
            raise ValueError("an installation needs either a medium or a HAN link, not both")
        self.dmc_id = dmc_id
        self.status = status
        self.medium = medium
        self.clock = clock
        self.alerts: list[Alert] = []
        rng = random.Random(f"installation:{seed}:{index}")
        base = 0x00DB_1200_0000_0000 | ((index & 0xFFFF_FFFF) << 8)
        adopted = {t.upper(): eui64_int(e) for t, e in (euis or {}).items()}
        unknown = sorted(set(adopted) - set(devices))
        if unknown:
            raise ValueError(f"EUIs given for {', '.join(unknown)}, which this DMC does not have")

        def ieee_of(device_type: str) -> int:
            return adopted.get(device_type, base | TYPE_OFFSETS[device_type])

        if len({ieee_of(t) for t in devices}) != len(devices):
            raise ValueError("two devices would have the same EUI (one given twice, or one "
                             "given that another device of this installation derives)")

        self.pan = 0x1000 + (index % 0xE000)
        network_key = rng.randbytes(16)
        hub_ieee = ieee_of(CHF)
        self.extended_pan = hub_ieee
        if link is None:
            assert medium is not None
            coordinator = HanCoordinator(hub_ieee, self.pan, medium, clock, network_key)
            coordinator.extended_pan = hub_ieee
            coordinator.seed_counters(seed)
            medium.attach(coordinator)
            link = coordinator
        # Seed material, not generators: each is built on first draw (see Device).
        self.hub = CommsHub(hub_ieee, clock, devices[CHF], f"hub:{seed}:{index}", link)
        self.hub.alert_sink = self.alerts.append
        self.hub.enrolled = enrolled
        if capture is not None:
            capture.add_key(network_key, f"s1bench network key {eui64_str(hub_ieee)}")
        self.devices: dict[str, Device] = {}
        self.labels: dict[str, Label] = {eui64_str(hub_ieee): Label(eui64_str(hub_ieee), CHF)}
        short = 0x0001
        short_of = self.hub.short_of  # one bound method for every device, not one each
        for device_type, info in devices.items():
            if device_type == CHF:
                continue
            ieee = ieee_of(device_type)
            eui = eui64_str(ieee)
            self.hub.add_known(ieee, info)
            code: bytes | None = None
            join_short = 0
            if device_type in LATE_JOINERS:
                code = mmo.with_crc(rng.randbytes(16))
                join_short = 0x8000 | rng.randrange(0x7FF0)
            elif not commissioned:
                code, join_short = _uncommissioned_code(seed, index, device_type)
            elif medium is None:
                # Already on the dongle's HAN: the hub knows its address.
                self.hub.enrol_joined(ieee, device_type, short)
            self.labels[eui] = Label(eui, device_type, code)
            if capture is not None and code is not None:
                install_key = mmo.link_key_from_install_code(code)
                capture.add_key(install_key, f"link key {eui}")
                capture.add_key(key_agreement.agreed_link_key(ieee, hub_ieee, install_key),
                                f"agreed link key {eui}")
            if medium is None:
                if code is None:
                    short += 1
                continue
            cls = DEVICE_CLASSES[device_type]
            device = cls(ieee, short, self.pan, medium, clock, info,
                         f"device:{seed}:{index}:{device_type}", hub_ieee)
            if code is not None:
                device.install_code = code
                device.short = join_short
            else:
                device.network_key = network_key
                # Its key establishment ran at commissioning: both ends hold the agreed key.
                device.link_key = key_agreement.commissioned_link_key(
                    f"link-key:{seed}:{index}:{device_type}")
                if isinstance(link, HanCoordinator):
                    link.enrol(ieee, short, device.link_key)
                if capture is not None:
                    capture.add_key(device.link_key, f"agreed link key {eui}")
                self.hub.enrol_joined(ieee, device_type, short)
                short += 1
            device.seed_counters(seed)  # where its MAC/NWK/APS/ZCL/ZDO counters stand today
            device.peer_lookup = short_of
            # An installation built "already migrated" has DCC-placed credentials.
            device.enrolled = enrolled
            medium.attach(device)
            self.devices[eui] = device

    @classmethod
    def on_link(cls, devices: dict[str, DeviceInfo], link: HanLink, clock: Any, *,
                seed: int = 0, index: int = 0, status: str = "Dormant",
                dmc_id: str = "reference", enrolled: bool = False,
                commissioned: bool = False) -> Installation:
        """The hub side alone, its HAN behind ``link`` (a dongle): no local devices.

        With ``commissioned=False`` (the default) the device log starts empty:
        devices are added with their install codes and join, as on a bench.
        """
        return cls(devices, None, clock, seed=seed, index=index, status=status, dmc_id=dmc_id,
                   enrolled=enrolled, commissioned=commissioned, link=link)

    @property
    def hub_eui(self) -> str:
        return self.hub.eui

    @property
    def unknown_eui(self) -> str:
        """An EUI beside this installation's devices that none of them has.

        Addressing it is how the harness sees the hub's E19. It is derived
        from the installation, like the device EUIs, so requests to it carry
        RequestIDs no other installation of a run uses.
        """
        return eui64_str(self.hub.ieee | UNKNOWN_OFFSET)

    def eui_of(self, device_type: str) -> str:
        """The EUI of this installation's device of a type (CHF for the hub)."""
        for eui, label in self.labels.items():
            if label.device_type == device_type:
                return eui
        raise KeyError(f"this installation has no {device_type}")

    def start(self) -> None:
        """Power the devices up: late joiners try to join, quirks start their timers.

        Needs a running loop (virtual or wall).
        """
        for device in self.devices.values():
            device.start()
            if device.install_code is not None:
                device.start_joining()

    def recover(self, eui: str) -> bool:
        """The DCC's recovery of a device left operating dumb (seed 000: "not bricked").

        Modelled as a HAN reset from the hub: the device comes back smart with
        the credentials it holds. Returns whether the hub could reach it.
        """
        return self.hub.reset_device(eui64_int(eui))

    async def execute(self, command: Command) -> DeviceOutcome:
        """One head-end command through the hub's WAN side."""
        return await self.hub.execute(command)
