"""Build emulated installations from DMC ids: the one place the harness turns
a catalogue entry into devices on a medium.

The harness only ever holds the returned :class:`Installation`'s WAN side
and labels; it never reaches into a device object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from s1bench.emulator.capture import CaptureTap
from s1bench.emulator.devices import DeviceInfo
from s1bench.emulator.installation import REFERENCE_DMC, Installation
from s1bench.emulator.medium import Medium, make_medium

log = structlog.get_logger("s1bench.harness")


@dataclass(frozen=True, slots=True)
class DmcSpec:
    """What the harness needs of a DMC: its devices and its DCC-side defects."""

    id: str
    title: str
    status: str
    devices: dict[str, DeviceInfo]
    dcc_quirks: tuple[Any, ...] = ()
    meta: dict[str, Any] | None = None


def resolve_dmc(dmc_id: str, *, fixed: bool = False) -> DmcSpec:
    """Look a DMC up in the catalogue; ``fixed`` swaps quirky firmware for fixed."""
    if dmc_id == "reference" and not fixed:
        try:
            return _from_catalogue(dmc_id, fixed)
        except Exception as exc:  # the spine runs even when the catalogue cannot load
            log.warning("catalogue unavailable; using the built-in reference DMC",
                        reason=str(exc))
            return DmcSpec("reference", "Reference installation (no quirks)", "Dormant",
                           dict(REFERENCE_DMC))
    return _from_catalogue(dmc_id, fixed)


def _from_catalogue(dmc_id: str, fixed: bool) -> DmcSpec:
    from s1bench.firmware_profiles.catalogue import load_catalogue

    catalogue = load_catalogue()
    dmc = catalogue.fixed_variant(dmc_id) if fixed else catalogue.dmc(dmc_id)
    return dmc_spec_from(catalogue, dmc)


def dmc_spec_from(catalogue: Any, dmc: Any) -> DmcSpec:
    devices: dict[str, DeviceInfo] = {}
    for slot in dmc.slots:
        devices[slot.device_type] = DeviceInfo(
            slot.device_type, slot.manufacturer, slot.model, slot.firmware_version,
            slot.make_quirks(), frozenset(slot.srvs), slot.profile_id)
    return DmcSpec(dmc.id, dmc.title, dmc.installation_status, devices,
                   tuple(dmc.make_dcc_quirks()), {"dmc": dmc})


def build_installation(spec: DmcSpec, clock: Any, *, seed: int = 0, index: int = 0,
                       medium: Medium | None = None, capture: str | None = None,
                       medium_options: dict[str, Any] | None = None,
                       enrolled: bool = False,
                       euis: dict[str, str] | None = None) -> Installation:
    """One installation on its own medium (or a shared one), with an optional capture.

    ``euis`` (device type -> EUI-64) makes those devices adopt a site's own
    ids (``s1bench serve``); without it every EUI derives from ``index``.
    """
    if medium is None:
        medium = make_medium("memory", clock=clock, seed=seed, **(medium_options or {}))
    tap = None
    if capture:
        tap = CaptureTap(capture)
        medium.add_tap(tap)
    return Installation(spec.devices, medium, clock, seed=seed, index=index,
                        status=spec.status, dmc_id=spec.id, capture=tap, enrolled=enrolled,
                        euis=euis)
