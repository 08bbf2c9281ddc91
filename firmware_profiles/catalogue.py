"""The firmware profile catalogue: profile files and DMC files, loaded and checked as one.

Why a catalogue and not code: a Testing Issue belongs to a manufacturer, a
model and a span of firmware (DOMAIN.md's quirk table), and the scenarios
that matter are the three-way ones: the quirky firmware fails, a fixed
firmware passes, the quirky firmware passes once the DCC side mitigates. So a
profile is a record keyed on manufacturer + model + firmware range (the
zha-quirks registry idea, plus the firmware ranges it lacks), the quirks it
switches on are names resolved through the registry in ``quirk_base``, and
every quirky range must name the later range that fixes it.

A DMC (Device Model Combination) composes profiles at given firmware versions
into one installation, with the EPCL facts the harness needs: installation
status, EPCL entry id, DCC-side defects that apply to it, the Testing Issue
Threshold, and the Substantive Equivalence declaration (seed 002) that lets
untested child DMCs stand on a tested parent.

What a file may say is ``catalogue_models`` (also the JSON Schema editors
use); this module turns valid files into records and checks what spans
values, files and DMCs. Loading returns a complete ``Catalogue`` or raises
one ``CatalogueError`` listing every problem, each with file, dotted key,
line and reason: a catalogue that half-loads would let a scenario run
against a profile its author believes is different.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError
from s1bench.harness.dcc.srvs import CHF, ESME, GSME, SRVS

from s1bench.filecheck import (
    Fault,
    FileError,
    KeyPath,
    Problem,
    Problems,
    TomlLines,
    format_key,
    read_toml,
)

from .catalogue_models import DEVICE_TYPES as DEVICE_TYPES
from .catalogue_models import INSTALLATION_STATUSES as INSTALLATION_STATUSES
from .catalogue_models import OPERATING_CAPABILITIES as OPERATING_CAPABILITIES
from .catalogue_models import SEVERITIES as SEVERITIES
from .catalogue_models import (
    DefaultsFile,
    DmcFile,
    DmcsFile,
    FirmwareRange,
    ProfileFile,
    SlotFile,
    Version,
)
from .quirk_base import Quirk, QuirkError, make_quirk

#: The catalogue shipped with s1bench.
DEFAULT_DIRECTORY = Path(__file__).with_name("catalogue")
#: Files whose name starts with this hold DMCs; every other ``*.toml`` is one profile.
DMC_FILE_PREFIX = "dmcs"


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


# --------------------------------------------------------------------------- loading


@functools.cache
def _default_catalogue() -> Catalogue:
    return _load(DEFAULT_DIRECTORY)


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """Load and check every file of a catalogue directory (default: the shipped one, cached).

    Raises ``CatalogueError`` listing every problem; never returns a partial catalogue.
    """
    return _default_catalogue() if directory is None else _load(Path(directory))


def _load(directory: Path) -> Catalogue:
    if not directory.is_dir():
        raise CatalogueError([Problem(directory, "", None, "catalogue directory not found")])
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CatalogueError([Problem(directory, "", None, "no *.toml files in the catalogue")])
    problems = Problems()
    # Profile id -> record, or None for a file with problems (its DMCs are then not checked).
    loaded = {
        path.stem: _load_profile(path, problems)
        for path in files
        if not path.name.startswith(DMC_FILE_PREFIX)
    }
    profiles = {k: profile for k, profile in loaded.items() if profile is not None}
    _check_profile_overlaps(profiles, problems)
    dmcs: dict[str, tuple[Dmc, TomlLines]] = {}
    declared: dict[str, TomlLines] = {}
    for path in files:
        if path.name.startswith(DMC_FILE_PREFIX):
            _load_dmc_file(path, loaded, dmcs, declared, problems)
    _check_dmc_relations(dmcs, set(declared), problems)
    if problems.items:
        raise CatalogueError(problems.items)
    return Catalogue(
        directory,
        MappingProxyType(dict(sorted(profiles.items()))),
        MappingProxyType({dmc_id: dmc for dmc_id, (dmc, _) in dmcs.items()}),
    )


def _load_profile(path: Path, problems: Problems) -> Profile | None:
    read = read_toml(path, problems)
    if read is None:
        return None
    lines, data = read
    model = problems.validate(lines, ProfileFile, data)
    if model is not None:
        with problems.collect(lines):
            return _profile(lines, model)
    return None


def _whole_service(device_type: str) -> list[str]:
    """Every SRV the DCC defines for a device type: the SMETS1 service and s1bench's own.

    A reference device supports all of it; the S1SP answers E11 for what
    s1bench does not carry out yet, so the gap shows instead of hiding.
    """
    from s1bench.harness.dcc.service_catalogue import smets1_service

    srvs = {srv for srv, spec in SRVS.items() if device_type in spec.targets}
    # An SRV s1bench knows carries its own targets; the table speaks for the rest.
    srvs |= {srv for srv, entry in smets1_service().items()
             if srv not in SRVS and device_type in entry["targets"]}  # type: ignore[operator]
    return sorted(srvs, key=lambda s: [int(p) for p in s.split(".") if p])


def _profile(lines: TomlLines, m: ProfileFile) -> Profile:
    """The record of a valid profile file, once the rules spanning its values hold."""
    srvs = m.srvs if m.srvs is not None else _whole_service(m.device_type)
    for index, srv in enumerate(m.srvs or ()):
        spec = SRVS[srv]
        if m.device_type not in spec.targets:
            raise Fault(
                ("srvs", index),
                f"SRV {srv} ({spec.name}) is not valid for a"
                f" {m.device_type} (it targets {', '.join(spec.targets)})",
            )
        if srv in m.srvs[:index]:
            raise Fault(("srvs", index), f"SRV {srv} listed twice")
    entries = [
        FirmwareEntry(
            index,
            FirmwareRange(*raw.range),
            _quirks(raw.quirks, ("firmware", index, "quirks"), "device", (m.device_type,)),
            tuple(raw.fixes),
            raw.note,
            Origin(lines.path, lines.line_of(("firmware", index))),
        )
        for index, raw in enumerate(m.firmware)
    ]
    ordered = sorted(entries, key=lambda e: e.range.low)
    for earlier, later in itertools.pairwise(ordered):
        if earlier.range.overlaps(later.range):
            raise Fault(
                ("firmware", later.index, "range"),
                f"range {later.range} overlaps firmware[{earlier.index}] range"
                f" {earlier.range} (line {earlier.origin.line})",
            )
    _check_fixes(ordered)
    capability = None if m.operating_capability == "none" else m.operating_capability
    return Profile(
        lines.path.stem,
        m.manufacturer,
        m.model,
        m.device_type,
        capability,
        m.source,
        tuple(srvs),
        tuple(ordered),
        Origin(lines.path, lines.line_of(("manufacturer",))),
        m.note,
    )


_PARAM_IN_MESSAGE = re.compile(r"parameter '?(\w+)'?")


def _quirks(
    value: dict[str, dict[str, Any]] | list[str],
    path: KeyPath,
    side: str,
    device_types: Sequence[str],
) -> tuple[QuirkSpec, ...]:
    """Build each quirk through the registry now, so its parameters are checked at load time.

    ``device_types`` are the types the quirk lands on: the profile's one
    type for a device quirk, the DMC's types for a DCC quirk (any overlap
    will do: the DCC defect touches the installation, not one device).
    """
    named = (
        [(name, params, (*path, name)) for name, params in value.items()]
        if isinstance(value, dict)
        else [(n, {}, (*path, i)) for i, n in enumerate(value)]
    )
    specs: list[QuirkSpec] = []
    for name, params, where in named:
        if any(spec.name == name for spec in specs):
            raise Fault(where, f"quirk {name} listed twice")
        try:
            cls = type(quirk := make_quirk(name, params))
        except QuirkError as exc:
            param = _PARAM_IN_MESSAGE.search(str(exc))
            at = (*where, param.group(1)) if param and param.group(1) in params else where
            raise Fault(at, str(exc)) from None
        if cls.side != side:
            home = (
                "a DMC's dcc_quirks, not in firmware"
                if cls.side == "dcc"
                else "a profile's firmware entry, not in dcc_quirks"
            )
            raise Fault(
                where,
                f"{name} is a {'DCC' if cls.side == 'dcc' else 'device'}-side quirk"
                f" (issue {cls.issue}); it belongs in {home}",
            )
        if not set(device_types) & set(cls.device_types):
            raise Fault(
                where,
                f"quirk {name} applies to {', '.join(cls.device_types)}, not to"
                f" {', '.join(device_types)}",
            )
        specs.append(QuirkSpec(name, MappingProxyType(dict(quirk.values)), cls.side, cls.issue))
    return tuple(specs)


def _check_fixes(ordered: Sequence[FirmwareEntry]) -> None:
    """Every quirk needs exactly one later entry marked as fixing it, and stays fixed after.

    This is what makes the three-way scenario (quirky fails, fixed passes,
    mitigated passes) possible for every quirky profile.
    """
    for position, entry in enumerate(ordered):
        where: KeyPath = ("firmware", entry.index, "fixes")
        for name in entry.fixes:
            if name in entry.quirk_names:
                raise Fault(where, f"the entry that fixes {name} also switches it on")
            if not any(name in e.quirk_names for e in ordered[:position]):
                raise Fault(where, f"{name} is not switched on by any earlier firmware entry")
            later = next((e for e in ordered[position + 1 :] if name in e.quirk_names), None)
            if later is not None:
                raise Fault(
                    ("firmware", later.index, "quirks", name),
                    f"{name} comes back after firmware[{entry.index}] ({entry.range}) fixed it",
                )
            other = next((e for e in ordered if e is not entry and name in e.fixes), None)
            if other is not None:
                raise Fault(where, f"{name} is already marked fixed by firmware[{other.index}]")
    for entry in ordered:
        for name in entry.quirk_names:
            if not any(name in e.fixes for e in ordered):
                raise Fault(
                    ("firmware", entry.index, "quirks", name),
                    f"quirk {name} has no fixed firmware: add a later [[firmware]] entry"
                    f' without it, marked fixes = ["{name}"]',
                )


def _check_profile_overlaps(profiles: Mapping[str, Profile], problems: Problems) -> None:
    """Two files for the same manufacturer + model must not claim the same firmware."""
    by_model: dict[tuple[str, str], list[Profile]] = {}
    for profile in profiles.values():
        key = (_normalise(profile.manufacturer), _normalise(profile.model))
        by_model.setdefault(key, []).append(profile)
    for group in by_model.values():
        for first, second in itertools.combinations(group, 2):
            for a, b in itertools.product(first.firmware, second.firmware):
                if a.range.overlaps(b.range):
                    problems.items.append(
                        Problem(
                            second.origin.file,
                            format_key(("firmware", b.index, "range")),
                            b.origin.line,
                            f"{second.manufacturer} {second.model} range {b.range}"
                            f" overlaps {a.range} of profile {first.id} ({a.origin})",
                        )
                    )


def _load_dmc_file(
    path: Path,
    loaded: Mapping[str, Profile | None],
    dmcs: dict[str, tuple[Dmc, TomlLines]],
    declared: dict[str, TomlLines],
    problems: Problems,
) -> None:
    """Add a file's DMCs to ``declared`` (all) and ``dmcs`` (those without problems).

    The file is validated whole, which reports every problem of its shape;
    then each DMC on its own, so the good ones still meet the later checks.
    """
    read = read_toml(path, problems)
    if read is None:
        return
    lines, data = read
    problems.validate(lines, DmcsFile, data)
    try:
        threshold = DefaultsFile.model_validate(data.get("defaults", {})).testing_issue_threshold
    except ValidationError:
        threshold = None  # reported with the file; DMCs that need it say so
    tables = data.get("dmc") if isinstance(data.get("dmc"), dict) else {}
    profiles = {k: profile for k, profile in loaded.items() if profile is not None}
    for dmc_id, raw in tables.items():
        where: KeyPath = ("dmc", dmc_id)
        if dmc_id in declared:
            problems.add(lines, where, f"DMC {dmc_id} is also declared in {declared[dmc_id].path}")
            continue
        declared[dmc_id] = lines
        if dmc_id in loaded:
            problems.add(
                lines,
                where,
                f"DMC id {dmc_id} is also a profile id;"
                " `s1bench profiles show` needs them distinct",
            )
            continue
        try:
            table = DmcFile.model_validate(raw)
        except ValidationError:
            continue  # reported with the file
        if any(
            slot.profile in loaded and slot.profile not in profiles
            for slot in table.devices.declared().values()
        ):
            continue  # its profile's own problem is already reported
        with problems.collect(lines):
            dmcs[dmc_id] = (_dmc(lines, dmc_id, table, profiles, threshold), lines)


def _dmc(
    lines: TomlLines,
    dmc_id: str,
    d: DmcFile,
    profiles: Mapping[str, Profile],
    default_threshold: Mapping[str, int] | None,
) -> Dmc:
    """The record of a valid DMC table, its devices resolved to profile firmware entries."""
    root: KeyPath = ("dmc", dmc_id)
    own = d.testing_issue_threshold
    threshold = default_threshold if own is None else own
    if threshold is None:
        raise Fault(
            (*root, "testing_issue_threshold"),
            "required field is missing (set it here or in [defaults])",
        )
    status = d.installation_status
    slots = {
        kind: _slot(lines, (*root, "devices", kind), slot, status, profiles)
        for kind, slot in d.devices.declared().items()
    }
    if CHF not in slots:
        raise Fault((*root, "devices"), "a SMETS1 installation needs its comms hub (CHF)")
    if ESME not in slots and GSME not in slots:
        raise Fault(
            (*root, "devices"), "a SMETS1 installation needs at least one meter (ESME or GSME)"
        )
    if status == "Mixed" and not {"Active", "Dormant"} <= {s.status for s in slots.values()}:
        raise Fault(
            (*root, "devices"),
            "a Mixed DMC must mark at least one device status ="
            ' "Active" and one status = "Dormant"',
        )
    dcc_quirks = _quirks(d.dcc_quirks, (*root, "dcc_quirks"), "dcc", tuple(slots))
    equivalence = None
    if d.equivalence is not None:
        ranges = {
            kind: _equivalence_range((*root, "equivalence", "ranges", kind), span, slots.get(kind))
            for kind, span in d.equivalence.ranges.items()
        }
        equivalence = Equivalence(MappingProxyType(ranges), tuple(d.equivalence.children))
    return Dmc(
        dmc_id,
        d.title,
        status,
        d.epcl_id,
        MappingProxyType(slots),
        dcc_quirks,
        MappingProxyType(dict(sorted((int(k), n) for k, n in threshold.items()))),
        equivalence,
        d.tested,
        d.covered_by,
        d.source,
        Origin(lines.path, lines.line_of(root)),
        d.note,
    )


def _slot(
    lines: TomlLines, where: KeyPath, slot: SlotFile, status: str, profiles: Mapping[str, Profile]
) -> DeviceSlot:
    """One device, at ``dmc.ID.devices.TYPE``: its profile and the entry covering its firmware."""
    kind = str(where[-1])
    profile = profiles.get(slot.profile)
    if profile is None:
        raise Fault(
            (*where, "profile"),
            f"unknown profile {slot.profile!r} (known: {', '.join(sorted(profiles))})",
        )
    if profile.device_type != kind:
        raise Fault(
            (*where, "profile"), f"profile {slot.profile} is a {profile.device_type}, not a {kind}"
        )
    entry = next((e for e in profile.firmware if slot.firmware in e.range), None)
    if entry is None:
        raise Fault(
            (*where, "firmware"),
            f"no firmware entry of profile {slot.profile} covers"
            f" {slot.firmware} (entries: {', '.join(str(e.range) for e in profile.firmware)})",
        )
    if slot.status is not None and status != "Mixed":
        raise Fault(
            (*where, "status"), f"per-device status is only for Mixed DMCs; this one is {status}"
        )
    own_status = slot.status if status == "Mixed" else status
    return DeviceSlot(
        kind,
        profile,
        str(slot.firmware),
        entry,
        own_status,
        Origin(lines.path, lines.line_of(where)),
    )


def _equivalence_range(
    where: KeyPath, pair: Sequence[Version], own: DeviceSlot | None
) -> FirmwareRange:
    """A declared equivalence range: it may not reach firmware that behaves differently."""
    if own is None:
        raise Fault(where, f"this DMC has no {where[-1]}")
    span = FirmwareRange(*pair)
    for other in own.profile.firmware:
        if other.range.overlaps(span) and other.quirks != own.entry.quirks:
            raise Fault(
                where,
                f"range {span} reaches firmware {other.range} of profile"
                f" {own.profile.id}, whose quirks ({_names(other.quirk_names)}) differ from this"
                f" DMC's ({_names(own.quirk_names)}):"
                " Substantive Equivalence cannot span a change of behaviour",
            )
    if own.firmware_version not in span:
        raise Fault(
            where,
            f"the DMC's own {where[-1]} firmware {own.firmware_version}"
            f" is outside its equivalence range {span}",
        )
    return span


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) or "none"


def _combination(dmc: Dmc) -> dict[str, tuple[str, str]]:
    return {kind: (s.profile.id, s.firmware_version) for kind, s in dmc.devices.items()}


def _check_dmc_relations(
    dmcs: Mapping[str, tuple[Dmc, TomlLines]], declared: set[str], problems: Problems
) -> None:
    """Checks that need more than one DMC: EPCL ids, equivalence children, covered_by.

    A reference to a DMC that was declared but failed its own checks is
    skipped: its problem is already reported, and a second "unknown DMC"
    would only send the author looking in the wrong place.
    """
    seen_epcl: dict[str, Dmc] = {}
    parents: dict[str, str] = {}
    for dmc_id, (dmc, lines) in dmcs.items():
        root: KeyPath = ("dmc", dmc_id)
        with problems.collect(lines):
            if (other := seen_epcl.setdefault(dmc.epcl_id, dmc)) is not dmc:
                raise Fault(
                    (*root, "epcl_id"),
                    f"EPCL entry {dmc.epcl_id} is already used by DMC {other.id} ({other.origin})",
                )
        with problems.collect(lines):
            _check_children(dmc, dmcs, declared, parents)
        with problems.collect(lines):
            _check_covered_by(dmc, dmcs, declared)
    if declared - set(dmcs):
        return  # a DMC that failed its own checks may be the missing parent: wait for its fix
    for dmc_id, (dmc, lines) in dmcs.items():
        if not dmc.tested and dmc_id not in parents and dmc.covered_by is None:
            problems.add(
                lines,
                ("dmc", dmc_id, "tested"),
                "an untested DMC must be a"
                " Substantively Equivalent child of a tested one or be covered_by a"
                " tested Dormant entry",
            )


def _check_children(
    dmc: Dmc, dmcs: Mapping[str, tuple[Dmc, TomlLines]], declared: set[str], parents: dict[str, str]
) -> None:
    """A parent's children: declared, untested, unclaimed, and within its equivalence."""
    if dmc.equivalence is None:
        return
    if not dmc.tested:
        raise Fault(
            ("dmc", dmc.id, "equivalence"),
            "only a tested DMC can be the parent of Substantively Equivalent children",
        )
    for index, child_id in enumerate(dmc.equivalence.children):
        where: KeyPath = ("dmc", dmc.id, "equivalence", "children", index)
        if child_id == dmc.id:
            raise Fault(where, "a DMC cannot be its own equivalent child")
        if child_id not in dmcs:
            if child_id in declared:
                continue
            raise Fault(where, f"unknown DMC {child_id!r} (children are DMCs of the catalogue)")
        child = dmcs[child_id][0]
        if child.tested:
            raise Fault(
                where,
                f"child {child_id} is marked tested; a Substantively Equivalent"
                " child is an untested entry (set tested = false)",
            )
        if child_id in parents:
            raise Fault(where, f"child {child_id} is already a child of {parents[child_id]}")
        # Claimed even if refused below, so it is not reported again as an orphan.
        parents[child_id] = dmc.id
        if reasons := dmc.equivalence.admits(dmc, child):
            raise Fault(
                where, f"child {child_id} is not Substantively Equivalent: " + "; ".join(reasons)
            )


def _check_covered_by(
    dmc: Dmc, dmcs: Mapping[str, tuple[Dmc, TomlLines]], declared: set[str]
) -> None:
    """An Active or Mixed entry resting on a tested Dormant DMCT of the same combination."""
    where: KeyPath = ("dmc", dmc.id, "covered_by")
    if dmc.covered_by is None or (dmc.covered_by in declared and dmc.covered_by not in dmcs):
        return
    if dmc.covered_by not in dmcs:
        raise Fault(where, f"unknown DMC {dmc.covered_by!r}")
    target = dmcs[dmc.covered_by][0]
    if dmc.tested:
        raise Fault(where, "a tested DMC is covered by its own testing (set tested = false)")
    if dmc.installation_status == "Dormant" or target.installation_status != "Dormant":
        raise Fault(
            where,
            "covered_by is an Active or Mixed entry resting on a tested Dormant"
            f" entry's DMCT (seed 002 Annex D); here {dmc.installation_status} rests on"
            f" {target.installation_status}",
        )
    if not target.tested:
        raise Fault(where, f"DMC {target.id} is not tested, so it covers nothing")
    if _combination(dmc) != _combination(target):
        raise Fault(
            where,
            f"DMC {target.id} has different devices or firmware; covered_by needs"
            " the same combination",
        )
