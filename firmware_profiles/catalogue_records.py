"""What a loaded firmware catalogue holds: profiles, DMCs, and the lookups the harness makes.

:mod:`s1bench.firmware_profiles.catalogue` builds these records from checked files;
everything else (the builder, the CLI, the runner) only reads them. Records are frozen:
a DMC or profile a scenario runs against cannot change under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from s1bench.filecheck import FileError, Problem

from .catalogue_models import FirmwareRange, Version
from .quirk_base import Quirk, make_quirk


class CatalogueError(FileError):
    """The catalogue cannot be loaded; ``problems`` lists every fault found."""

    what = "the firmware profile catalogue"


class CatalogueLookupError(KeyError):
    """A lookup in a loaded catalogue found nothing (unknown id, uncovered firmware).

    A KeyError so ``except KeyError`` code keeps working, but printed as a
    sentence rather than KeyError's quoted repr.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not in the catalogue"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was declared, for error messages and reports."""

    file: Path
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else str(self.file)


@dataclass(frozen=True, slots=True)
class QuirkSpec:
    """A quirk named by a profile or DMC, with its checked parameter values.

    Only the data is kept: quirk objects may hold per-device state (a first
    key rotation seen, a day's 6.7 count), so every device gets fresh ones
    from ``make()``.
    """

    name: str
    params: Mapping[str, Any]
    side: str
    issue: str

    def make(self) -> Quirk:
        return make_quirk(self.name, dict(self.params))


@dataclass(frozen=True, slots=True)
class FirmwareEntry:
    """One ``[[firmware]]`` entry: a range and the quirks switched on in it.

    ``fixes`` names the quirks an earlier range had and this one no longer
    has: the marker ``Profile.fixed_version_for`` follows.
    """

    index: int
    range: FirmwareRange
    quirks: tuple[QuirkSpec, ...]
    fixes: tuple[str, ...]
    note: str
    origin: Origin

    @property
    def quirk_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.quirks)

    def make_quirks(self) -> tuple[Quirk, ...]:
        return tuple(spec.make() for spec in self.quirks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "range": self.range.as_list(),
            "quirks": {spec.name: dict(spec.params) for spec in self.quirks},
            "fixes": list(self.fixes),
            "note": self.note,
            "line": self.origin.line,
        }


@dataclass(frozen=True, slots=True)
class Profile:
    """One manufacturer + model, its supported SRVs and its firmware entries (sorted)."""

    id: str
    manufacturer: str
    model: str
    device_type: str
    operating_capability: str | None
    source: str
    srvs: tuple[str, ...]
    firmware: tuple[FirmwareEntry, ...]
    origin: Origin
    note: str = ""

    @property
    def quirk_names(self) -> tuple[str, ...]:
        """Every quirk any firmware entry of this profile switches on, first seen first."""
        seen: dict[str, None] = {}
        for entry in self.firmware:
            seen.update(dict.fromkeys(entry.quirk_names))
        return tuple(seen)

    @property
    def is_quirky(self) -> bool:
        return bool(self.quirk_names)

    def covers(self, version: object) -> bool:
        return any(version in entry.range for entry in self.firmware)

    def entry_for(self, version: object) -> FirmwareEntry:
        """The firmware entry whose range holds ``version``."""
        try:
            parsed = Version.parse(version)
        except ValueError as exc:
            raise CatalogueLookupError(f"profile {self.id}: {exc}") from None
        for entry in self.firmware:
            if parsed in entry.range:
                return entry
        ranges = ", ".join(str(entry.range) for entry in self.firmware)
        raise CatalogueLookupError(
            f"profile {self.id} ({self.manufacturer} {self.model}) has no firmware entry"
            f" covering {parsed} (entries: {ranges})"
        )

    def fixed_entry_for(self, quirk: str) -> FirmwareEntry:
        """The entry marked ``fixes = [quirk]``; the loader guarantees one per quirk."""
        for entry in self.firmware:
            if quirk in entry.fixes:
                return entry
        raise CatalogueLookupError(
            f"profile {self.id} has no quirk {quirk!r}"
            f" (its quirks: {', '.join(self.quirk_names) or 'none'})"
        )

    def fixed_version_for(self, quirk: str) -> str:
        """The first firmware version without ``quirk``: the low end of the fixing entry."""
        return str(self.fixed_entry_for(quirk).range.low)

    def resolve(self, version: object) -> ResolvedProfile:
        entry = self.entry_for(version)
        return ResolvedProfile(self, entry, str(Version.parse(version)), entry.make_quirks())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "device_type": self.device_type,
            "operating_capability": self.operating_capability,
            "source": self.source,
            "note": self.note,
            "srvs": list(self.srvs),
            "firmware": [entry.as_dict() for entry in self.firmware],
            "fixed_versions": {name: self.fixed_version_for(name) for name in self.quirk_names},
            "file": str(self.origin.file),
            "line": self.origin.line,
        }


class _ProfileView:
    """Facts read through to the profile and firmware entry a record points at."""

    __slots__ = ()
    profile: Profile
    entry: FirmwareEntry

    @property
    def manufacturer(self) -> str:
        return self.profile.manufacturer

    @property
    def model(self) -> str:
        return self.profile.model

    @property
    def srvs(self) -> tuple[str, ...]:
        return self.profile.srvs

    @property
    def quirk_names(self) -> tuple[str, ...]:
        return self.entry.quirk_names


@dataclass(frozen=True, slots=True)
class ResolvedProfile(_ProfileView):
    """A profile at one firmware version, with fresh quirk objects for one device."""

    profile: Profile
    entry: FirmwareEntry
    firmware_version: str
    quirks: tuple[Quirk, ...]

    @property
    def device_type(self) -> str:
        return self.profile.device_type


@dataclass(frozen=True, slots=True)
class DeviceSlot(_ProfileView):
    """One device of a DMC: a profile at a firmware version (already resolved to its entry).

    ``status`` is the device's own installation status: the DMC's for an
    Active or Dormant DMC, as declared (or None) in a Mixed one.
    """

    device_type: str
    profile: Profile
    firmware_version: str
    entry: FirmwareEntry
    status: str | None
    origin: Origin

    @property
    def profile_id(self) -> str:
        return self.profile.id

    @property
    def quirks(self) -> tuple[QuirkSpec, ...]:
        return self.entry.quirks

    def make_quirks(self) -> tuple[Quirk, ...]:
        return self.entry.make_quirks()

    def resolve(self) -> ResolvedProfile:
        return ResolvedProfile(self.profile, self.entry, self.firmware_version, self.make_quirks())

    def as_dict(self) -> dict[str, Any]:
        return {
            "device_type": self.device_type,
            "profile": self.profile.id,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "firmware": self.firmware_version,
            "firmware_range": self.entry.range.as_list(),
            "status": self.status,
            "quirks": {spec.name: dict(spec.params) for spec in self.quirks},
            "srvs": list(self.srvs),
        }


@dataclass(frozen=True, slots=True)
class Equivalence:
    """Substantive Equivalence declared by a tested DMC (seed 002 Group 2).

    A child is the same models with each device's firmware inside ``ranges``
    (a device without a range must have the parent's exact firmware). The
    loader checks every listed child against that rule.
    """

    ranges: Mapping[str, FirmwareRange]
    children: tuple[str, ...]

    def admits(self, parent: Dmc, other: Dmc) -> list[str]:
        """Why ``other`` is not a Substantively Equivalent child of ``parent`` (empty: it is)."""
        reasons: list[str] = []
        if other.installation_status != parent.installation_status:
            reasons.append(
                f"installation status {other.installation_status} differs from the parent's"
                f" {parent.installation_status}"
            )
        if set(other.devices) != set(parent.devices):
            reasons.append(
                f"device types {sorted(other.devices)} differ from the parent's"
                f" {sorted(parent.devices)}"
            )
            return reasons
        for device_type, slot in parent.devices.items():
            child = other.devices[device_type]
            if child.profile.id != slot.profile.id:
                reasons.append(
                    f"{device_type} is profile {child.profile.id},"
                    f" the parent's is {slot.profile.id}"
                )
                continue
            span = self.ranges.get(device_type)
            if span is None:
                if Version.parse(child.firmware_version) != Version.parse(slot.firmware_version):
                    reasons.append(
                        f"{device_type} firmware {child.firmware_version} differs from the"
                        f" parent's {slot.firmware_version} and no equivalence range is declared"
                    )
            elif child.firmware_version not in span:
                reasons.append(
                    f"{device_type} firmware {child.firmware_version} is outside the"
                    f" equivalence range {span}"
                )
            if child.quirk_names != slot.quirk_names:
                reasons.append(
                    f"{device_type} quirks {list(child.quirk_names)} differ from the parent's"
                    f" {list(slot.quirk_names)}: not equivalent behaviour"
                )
        return reasons

    def as_dict(self) -> dict[str, Any]:
        return {
            "ranges": {kind: span.as_list() for kind, span in self.ranges.items()},
            "children": list(self.children),
        }


@dataclass(frozen=True, slots=True)
class Dmc:
    """A Device Model Combination with its EPCL entry facts.

    ``tested`` is False for an entry that rests on other evidence: a
    Substantively Equivalent child, or an Active/Mixed entry ``covered_by``
    the Dormant DMCT of the same devices (seed 002 Annex D). ``derived_from``
    is set on DMCs built by ``Catalogue.dmc_with_firmware`` and
    ``fixed_variant``: they keep the EPCL entry id of the DMC they derive
    from so a scenario can migrate them, though that combination itself was
    never listed.
    """

    id: str
    title: str
    installation_status: str
    epcl_id: str
    devices: Mapping[str, DeviceSlot]
    dcc_quirks: tuple[QuirkSpec, ...]
    testing_issue_threshold: Mapping[int, int]
    equivalence: Equivalence | None
    tested: bool
    covered_by: str | None
    source: str
    origin: Origin
    note: str = ""
    derived_from: str | None = None

    @property
    def slots(self) -> tuple[DeviceSlot, ...]:
        """The device slots in device-type order (``devices`` keyed by type holds the same)."""
        return tuple(self.devices.values())

    def device(self, device_type: str) -> DeviceSlot:
        try:
            return self.devices[device_type]
        except KeyError:
            raise CatalogueLookupError(
                f"DMC {self.id} has no {device_type} (it has {', '.join(self.devices)})"
            ) from None

    @property
    def device_quirk_names(self) -> Mapping[str, tuple[str, ...]]:
        """Device type -> quirks of its firmware, for the devices that have any."""
        return MappingProxyType(
            {kind: slot.quirk_names for kind, slot in self.devices.items() if slot.quirk_names}
        )

    @property
    def dcc_quirk_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.dcc_quirks)

    def make_dcc_quirks(self) -> tuple[Quirk, ...]:
        return tuple(spec.make() for spec in self.dcc_quirks)

    def threshold_breaches(self, open_issues: Mapping[int, int]) -> dict[int, tuple[int, int]]:
        """Severity -> (open, allowed) for every severity over the Testing Issue Threshold.

        A severity the threshold does not name has no limit.
        """
        return {
            severity: (count, self.testing_issue_threshold[severity])
            for severity, count in sorted(open_issues.items())
            if severity in self.testing_issue_threshold
            and count > self.testing_issue_threshold[severity]
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "epcl_id": self.epcl_id,
            "installation_status": self.installation_status,
            "tested": self.tested,
            "covered_by": self.covered_by,
            "derived_from": self.derived_from,
            "source": self.source,
            "note": self.note,
            "devices": {kind: slot.as_dict() for kind, slot in self.devices.items()},
            "dcc_quirks": {spec.name: dict(spec.params) for spec in self.dcc_quirks},
            "testing_issue_threshold": {
                str(severity): limit for severity, limit in self.testing_issue_threshold.items()
            },
            "equivalence": self.equivalence.as_dict() if self.equivalence else None,
            "file": str(self.origin.file),
            "line": self.origin.line,
        }


def _normalise(text: str) -> str:
    """Manufacturer and model strings match ignoring case and runs of spaces."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Catalogue:
    """Every profile and DMC of one catalogue directory, all checked."""

    directory: Path
    profiles: Mapping[str, Profile]
    dmcs: Mapping[str, Dmc]

    # ---- profiles

    def profile(self, profile_id: str) -> Profile:
        try:
            return self.profiles[profile_id]
        except KeyError:
            raise CatalogueLookupError(
                f"unknown profile {profile_id!r} (known: {', '.join(sorted(self.profiles))})"
            ) from None

    def profiles_for(self, device_type: str) -> tuple[Profile, ...]:
        """The profiles of one device type, in id order: a list to parametrize tests over."""
        return tuple(p for _, p in sorted(self.profiles.items()) if p.device_type == device_type)

    def match(self, manufacturer: str, model: str, firmware_version: str) -> ResolvedProfile:
        """The profile and firmware entry a device reporting these three strings runs.

        Manufacturer and model match ignoring case and extra spaces; the
        version must fall inside exactly one entry's range.
        """
        wanted = (_normalise(manufacturer), _normalise(model))
        candidates = [
            p
            for p in self.profiles.values()
            if (_normalise(p.manufacturer), _normalise(p.model)) == wanted
        ]
        if not candidates:
            known = sorted({f"{p.manufacturer} / {p.model}" for p in self.profiles.values()})
            raise CatalogueLookupError(
                f"no profile for manufacturer {manufacturer!r} model {model!r}"
                f" (known: {'; '.join(known)})"
            )
        try:
            version = Version.parse(firmware_version)
        except ValueError as exc:
            raise CatalogueLookupError(f"{manufacturer} {model}: {exc}") from None
        hits = [
            (profile, entry)
            for profile in candidates
            for entry in profile.firmware
            if version in entry.range
        ]
        if not hits:
            ranges = ", ".join(
                f"{entry.range} ({profile.id})"
                for profile in candidates
                for entry in profile.firmware
            )
            raise CatalogueLookupError(
                f"{manufacturer} {model}: no firmware entry covers {version} (entries: {ranges})"
            )
        if len(hits) > 1:
            # The loader refuses overlapping ranges, so this means a catalogue built by hand.
            places = "; ".join(f"{p.id} {e.range} at {e.origin}" for p, e in hits)
            raise CatalogueError(
                [
                    Problem(
                        hits[0][1].origin.file,
                        "firmware",
                        hits[0][1].origin.line,
                        f"{manufacturer} {model} {version} matches more than one entry: {places}",
                    )
                ]
            )
        profile, entry = hits[0]
        return ResolvedProfile(profile, entry, str(version), entry.make_quirks())

    # ---- DMCs

    def dmc(self, dmc_id: str | Dmc) -> Dmc:
        if isinstance(dmc_id, Dmc):
            return dmc_id
        try:
            return self.dmcs[dmc_id]
        except KeyError:
            raise CatalogueLookupError(
                f"unknown DMC {dmc_id!r} (known: {', '.join(sorted(self.dmcs))})"
            ) from None

    def children_of(self, dmc_id: str | Dmc) -> tuple[Dmc, ...]:
        """The untested DMCs declared Substantively Equivalent to this one."""
        parent = self.dmc(dmc_id)
        if parent.equivalence is None:
            return ()
        return tuple(self.dmcs[child] for child in parent.equivalence.children)

    def parent_of(self, dmc_id: str | Dmc) -> Dmc | None:
        """The tested DMC this one is a Substantively Equivalent child of, if any."""
        child = self.dmc(dmc_id)
        for dmc in self.dmcs.values():
            if dmc.equivalence and child.id in dmc.equivalence.children:
                return dmc
        return None

    def covered(self, dmc_id: str | Dmc) -> tuple[Dmc, ...]:
        """The Active/Mixed entries whose evidence is this DMC's Dormant DMCT."""
        tested = self.dmc(dmc_id)
        return tuple(d for d in self.dmcs.values() if d.covered_by == tested.id)

    def dmc_with_firmware(self, dmc_id: str | Dmc, device_type: str, version: str) -> Dmc:
        """The DMC with one device's firmware changed (e.g. to test a fixed release)."""
        base = self.dmc(dmc_id)
        slot = base.device(device_type)
        entry = slot.profile.entry_for(version)
        text = str(Version.parse(version))
        devices = dict(base.devices)
        devices[device_type] = replace(slot, entry=entry, firmware_version=text)
        return _derived(base, f"{base.id}[{device_type}={text}]", devices)

    def fixed_variant(self, dmc_id: str | Dmc, *, dcc_fixed: bool = False) -> Dmc:
        """The DMC with every quirky device moved to the first firmware free of its quirks.

        DCC-side quirks stay unless ``dcc_fixed``: they are fixed in the DCC,
        not by a firmware release, and the harness scenario for them is separate.
        """
        base = self.dmc(dmc_id)
        devices = dict(base.devices)
        for device_type, slot in base.devices.items():
            entry = slot.entry
            # A fixing entry may itself bring a later quirk; versions only go up, so this ends.
            while entry.quirks:
                target = max(
                    Version.parse(slot.profile.fixed_version_for(name))
                    for name in entry.quirk_names
                )
                entry = slot.profile.entry_for(target)
            if entry is not slot.entry:
                devices[device_type] = replace(
                    slot, entry=entry, firmware_version=str(entry.range.low)
                )
        derived = _derived(base, f"{base.id}[fixed]", devices)
        return replace(derived, dcc_quirks=()) if dcc_fixed else derived


def _derived(base: Dmc, new_id: str, devices: dict[str, DeviceSlot]) -> Dmc:
    return replace(
        base,
        id=new_id,
        devices=MappingProxyType(devices),
        equivalence=None,
        tested=False,
        covered_by=None,
        derived_from=base.derived_from or base.id,
    )


