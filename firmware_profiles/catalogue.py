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

Loading either returns a complete ``Catalogue`` or raises one
``CatalogueError`` listing every problem found, each with file, dotted key,
line (best effort: tomllib gives none, so the key is looked up in the text)
and reason. A catalogue that half-loads would let a scenario run against a
profile its author believes is different.
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from s1bench.emulator.srv_catalogue import CHF, ESME, GSME, IHD, PPMID, SRVS

from .quirk_base import Quirk, QuirkError, make_quirk

DEVICE_TYPES: tuple[str, ...] = (ESME, GSME, CHF, PPMID, IHD)
OPERATING_CAPABILITIES: tuple[str, ...] = ("IOC", "MOC", "FOC")
INSTALLATION_STATUSES: tuple[str, ...] = ("Active", "Dormant", "Mixed")
#: Severities a Testing Issue Threshold may name (SEC Testing Issue severities).
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: The catalogue shipped with s1bench.
DEFAULT_DIRECTORY = Path(__file__).with_name("catalogue")
#: Files whose name starts with this hold DMCs; every other ``*.toml`` is one profile.
DMC_FILE_PREFIX = "dmcs"

KeyPath = tuple[str | int, ...]


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault in one file: where (file, dotted key, line) and why."""

    file: Path
    key: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.key}: {self.reason}" if self.key else f"{where}: {self.reason}"


class CatalogueError(ValueError):
    """The catalogue cannot be loaded; ``problems`` lists every fault found.

    ``file``, ``key``, ``line`` and ``reason`` repeat the first problem so a
    caller that only cares about one fault does not need to index.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("CatalogueError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        first = self.problems[0]
        self.file: Path = first.file
        self.key: str = first.key
        self.line: int | None = first.line
        self.reason: str = first.reason
        if len(self.problems) == 1:
            message = str(first)
        else:
            message = f"{len(self.problems)} problems in the firmware profile catalogue:\n" + (
                "\n".join(f"  {problem}" for problem in self.problems)
            )
        super().__init__(message)


class CatalogueLookupError(KeyError):
    """A lookup in a loaded catalogue found nothing (unknown id, uncovered firmware).

    A KeyError so ``except KeyError`` code keeps working, but printed as a
    sentence rather than KeyError's quoted repr.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not in the catalogue"


class _Fault(Exception):
    """Raised inside the loader; turned into a ``Problem`` with the file's line."""

    def __init__(self, key: KeyPath, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


def format_key(key: KeyPath) -> str:
    """``("firmware", 1, "quirks", "x")`` -> ``firmware[1].quirks.x``."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


# --------------------------------------------------------------------------- versions


_VERSION_RE = re.compile(r"\d+(?:\.\d+)*")


@dataclass(frozen=True, order=True, slots=True)
class Version:
    """A dotted numeric firmware version, compared number by number.

    Trailing zero parts are dropped from the comparison key, so ``1.0`` and
    ``1.0.0`` are the same version and ``1.9.99 < 1.10``. The text is kept as
    written for messages and reports.
    """

    key: tuple[int, ...]
    text: str = field(compare=False)

    @classmethod
    def parse(cls, value: object) -> Version:
        if isinstance(value, Version):
            return value
        if not isinstance(value, str) or not _VERSION_RE.fullmatch(value.strip()):
            raise ValueError(
                f"{value!r} is not a dotted numeric firmware version (such as '1.2.3')"
            )
        text = value.strip()
        parts = [int(part) for part in text.split(".")]
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        return cls(tuple(parts), text)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class FirmwareRange:
    """An inclusive span of firmware versions."""

    low: Version
    high: Version

    def __contains__(self, version: object) -> bool:
        try:
            parsed = Version.parse(version)
        except ValueError:
            return False
        return self.low <= parsed <= self.high

    def overlaps(self, other: FirmwareRange) -> bool:
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return f"{self.low}..{self.high}"

    def as_list(self) -> list[str]:
        return [str(self.low), str(self.high)]


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
    if directory is None:
        return _default_catalogue()
    return _load(Path(directory))


_HEADER_RE = re.compile(r"^\s*(\[\[?)([^\[\]]+)\]\]?\s*(?:#.*)?$")
_HEADER_PART_RE = re.compile(r'"[^"]*"|\'[^\']*\'|[^.]+')
_TOML_LINE_RE = re.compile(r"at line (\d+)")
#: A key name as written before ``=`` or a dot, bare or quoted (KEY is replaced).
_KEY_PATTERN = r"""(?:^|[\s{,.])(?:"KEY"|'KEY'|KEY)\s*[=.]"""


class _Source:
    """One catalogue file: its text and a best-effort key -> line finder.

    tomllib reports no positions, so a dotted key is found by walking the
    table headers (counting ``[[array]]`` elements) and then searching the
    section for each remaining key name. Good enough to point an author at
    the right line; never used for anything but messages.
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self._lines: list[str] | None = None
        self._headers: list[tuple[int, KeyPath]] | None = None

    def _index(self) -> tuple[list[str], list[tuple[int, KeyPath]]]:
        if self._lines is None or self._headers is None:
            self._lines = self.text.splitlines()
            self._headers = []
            arrays: dict[KeyPath, int] = {}
            for number, line in enumerate(self._lines):
                match = _HEADER_RE.match(line)
                if not match:
                    continue
                is_array = match.group(1) == "[["
                names = [
                    part.strip().strip("\"'")
                    for part in _HEADER_PART_RE.findall(match.group(2))
                    if part.strip()
                ]
                path: list[str | int] = []
                for position, name in enumerate(names):
                    path.append(name)
                    last = position == len(names) - 1
                    if tuple(path) in arrays and not (is_array and last):
                        path.append(arrays[tuple(path)])
                if is_array:
                    arrays[tuple(path)] = arrays.get(tuple(path), -1) + 1
                    path.append(arrays[tuple(path)])
                self._headers.append((number, tuple(path)))
        return self._lines, self._headers

    def line_of(self, key: KeyPath) -> int | None:
        lines, headers = self._index()
        best: tuple[int, KeyPath] | None = None
        for number, path in headers:
            if key[: len(path)] == path and (best is None or len(path) >= len(best[1])):
                best = (number, path)
        if best is None:
            start, found, rest = 0, None, key
        else:
            start, found, rest = best[0] + 1, best[0], key[len(best[1]) :]
        end = next((number for number, _ in headers if number >= start), len(lines))
        cursor = start
        for part in rest:
            if isinstance(part, int):
                continue
            pattern = re.compile(_KEY_PATTERN.replace("KEY", re.escape(part)))
            hit = next(
                (number for number in range(cursor, end) if pattern.search(lines[number])), None
            )
            if hit is None:
                break
            found = cursor = hit
        return found + 1 if found is not None else None


class _Problems:
    """Collects problems across files so one load reports them all."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, source: _Source | Path, key: KeyPath, reason: str) -> None:
        if isinstance(source, _Source):
            self.items.append(Problem(source.path, format_key(key), source.line_of(key), reason))
        else:
            self.items.append(Problem(source, format_key(key), None, reason))

    @contextmanager
    def collect(self, source: _Source) -> Iterator[None]:
        try:
            yield
        except _Fault as fault:
            self.add(source, fault.key, fault.reason)


def _describe_type(value: object) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) or "none"


def _required(table: Mapping[str, Any], key: str, path: KeyPath) -> Any:
    if key not in table:
        raise _Fault((*path, key), "required field is missing")
    return table[key]


def _string(value: object, path: KeyPath) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Fault(path, f"must be a non-empty string, got {_describe_type(value)}")
    return value.strip()


def _table(value: object, path: KeyPath) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Fault(path, f"must be a table, got {_describe_type(value)}")
    return value


def _no_unknown_keys(table: Mapping[str, Any], allowed: Sequence[str], path: KeyPath) -> None:
    """A misspelt key would silently mean 'not set'; refuse it instead."""
    for key in table:
        if key not in allowed:
            raise _Fault((*path, key), f"unknown key (allowed here: {', '.join(allowed)})")


def _choice(value: object, choices: Sequence[str], path: KeyPath) -> str:
    text = _string(value, path)
    if text not in choices:
        raise _Fault(path, f"{text!r} is not one of {', '.join(choices)}")
    return text


def _version(value: object, path: KeyPath) -> Version:
    try:
        return Version.parse(value)
    except ValueError as exc:
        raise _Fault(path, str(exc)) from None


def _range(value: object, path: KeyPath) -> FirmwareRange:
    if not isinstance(value, list) or len(value) != 2:
        raise _Fault(path, 'must be a two-element array ["low", "high"] (inclusive)')
    low = _version(value[0], (*path, 0))
    high = _version(value[1], (*path, 1))
    if low > high:
        raise _Fault(path, f"low end {low} is above high end {high}")
    return FirmwareRange(low, high)


_PARAM_IN_MESSAGE = re.compile(r"parameter '?(\w+)'?")


def _quirks(
    value: object, path: KeyPath, *, side: str, device_types: Sequence[str]
) -> tuple[QuirkSpec, ...]:
    """Parse a quirk list (defaults) or table (name -> parameters) and check each via the registry.

    ``device_types`` are the types the quirk lands on: the profile's one
    type for a device quirk, the DMC's types for a DCC quirk (any overlap
    will do: the DCC defect touches the installation, not one device).
    """
    if isinstance(value, list):
        items: list[tuple[str, object, KeyPath]] = []
        for index, name in enumerate(value):
            items.append((_string(name, (*path, index)), {}, (*path, index)))
    elif isinstance(value, dict):
        items = [(name, params, (*path, name)) for name, params in value.items()]
    else:
        raise _Fault(
            path,
            f"must be a table of quirk names or an array of names, got {_describe_type(value)}",
        )
    specs: list[QuirkSpec] = []
    for name, params, where in items:
        if any(spec.name == name for spec in specs):
            raise _Fault(where, f"quirk {name} listed twice")
        params_table = _table(params, where)
        try:
            quirk = make_quirk(name, params_table)
        except QuirkError as exc:
            reason = str(exc)
            param = _PARAM_IN_MESSAGE.search(reason)
            key = (*where, param.group(1)) if param and param.group(1) in params_table else where
            raise _Fault(key, reason) from None
        cls = type(quirk)
        if cls.side != side:
            if side == "device":
                reason = (
                    f"{name} is a DCC-side quirk (issue {cls.issue}); it belongs in a DMC's"
                    " dcc_quirks, not in firmware"
                )
            else:
                reason = (
                    f"{name} is a device-side quirk (issue {cls.issue}); it belongs in a"
                    " profile's firmware entry, not in dcc_quirks"
                )
            raise _Fault(where, reason)
        if not set(device_types) & set(cls.device_types):
            raise _Fault(
                where,
                f"quirk {name} applies to {', '.join(cls.device_types)}, not to"
                f" {', '.join(device_types)}",
            )
        specs.append(QuirkSpec(name, MappingProxyType(dict(quirk.values)), cls.side, cls.issue))
    return tuple(specs)


_PROFILE_KEYS = (
    "manufacturer",
    "model",
    "device_type",
    "operating_capability",
    "source",
    "srvs",
    "firmware",
    "note",
)
_ENTRY_KEYS = ("range", "quirks", "fixes", "note")


def _parse_profile(source: _Source, data: dict[str, Any]) -> Profile:
    root: KeyPath = ()
    _no_unknown_keys(data, _PROFILE_KEYS, root)
    manufacturer = _string(_required(data, "manufacturer", root), ("manufacturer",))
    model = _string(_required(data, "model", root), ("model",))
    device_type = _choice(_required(data, "device_type", root), DEVICE_TYPES, ("device_type",))
    capability_text = _choice(
        _required(data, "operating_capability", root),
        (*OPERATING_CAPABILITIES, "none"),
        ("operating_capability",),
    )
    capability = None if capability_text == "none" else capability_text
    source_text = _string(_required(data, "source", root), ("source",))
    note = _string(data["note"], ("note",)) if "note" in data else ""

    srvs_value = _required(data, "srvs", root)
    if not isinstance(srvs_value, list):
        raise _Fault(("srvs",), f"must be an array of SRV ids, got {_describe_type(srvs_value)}")
    srvs: list[str] = []
    for index, srv in enumerate(srvs_value):
        srv_id = _string(srv, ("srvs", index))
        spec = SRVS.get(srv_id)
        if spec is None:
            raise _Fault(
                ("srvs", index),
                f"unknown SRV {srv_id!r} (the emulator implements: {', '.join(SRVS)})",
            )
        if device_type not in spec.targets:
            raise _Fault(
                ("srvs", index),
                f"SRV {srv_id} ({spec.name}) is not valid for a {device_type}"
                f" (it targets {', '.join(spec.targets)})",
            )
        if srv_id in srvs:
            raise _Fault(("srvs", index), f"SRV {srv_id} listed twice")
        srvs.append(srv_id)

    entries_value = _required(data, "firmware", root)
    if not isinstance(entries_value, list) or not entries_value:
        raise _Fault(("firmware",), "must be one or more [[firmware]] entries")
    entries: list[FirmwareEntry] = []
    for index, raw in enumerate(entries_value):
        where: KeyPath = ("firmware", index)
        entry = _table(raw, where)
        _no_unknown_keys(entry, _ENTRY_KEYS, where)
        span = _range(_required(entry, "range", where), (*where, "range"))
        quirks = (
            _quirks(entry["quirks"], (*where, "quirks"), side="device", device_types=(device_type,))
            if "quirks" in entry
            else ()
        )
        fixes_value = entry.get("fixes", [])
        if not isinstance(fixes_value, list):
            raise _Fault((*where, "fixes"), "must be an array of quirk names")
        fixes = tuple(_string(name, (*where, "fixes", i)) for i, name in enumerate(fixes_value))
        entry_note = _string(entry["note"], (*where, "note")) if "note" in entry else ""
        entries.append(
            FirmwareEntry(
                index, span, quirks, fixes, entry_note, Origin(source.path, source.line_of(where))
            )
        )

    ordered = sorted(entries, key=lambda e: e.range.low)
    for earlier, later in itertools.pairwise(ordered):
        if earlier.range.overlaps(later.range):
            raise _Fault(
                ("firmware", later.index, "range"),
                f"range {later.range} overlaps firmware[{earlier.index}] range {earlier.range}"
                f" (line {earlier.origin.line})",
            )
    _check_fixes(ordered)
    return Profile(
        id=source.path.stem,
        manufacturer=manufacturer,
        model=model,
        device_type=device_type,
        operating_capability=capability,
        source=source_text,
        srvs=tuple(srvs),
        firmware=tuple(ordered),
        origin=Origin(source.path, source.line_of(("manufacturer",))),
        note=note,
    )


def _check_fixes(ordered: Sequence[FirmwareEntry]) -> None:
    """Every quirk needs exactly one later entry marked as fixing it, and stays fixed after.

    This is what makes the three-way scenario (quirky fails, fixed passes,
    mitigated passes) possible for every quirky profile.
    """
    for position, entry in enumerate(ordered):
        for name in entry.fixes:
            where: KeyPath = ("firmware", entry.index, "fixes")
            if name in entry.quirk_names:
                raise _Fault(where, f"the entry that fixes {name} also switches it on")
            if not any(name in e.quirk_names for e in ordered[:position]):
                raise _Fault(where, f"{name} is not switched on by any earlier firmware entry")
            later = next((e for e in ordered[position + 1 :] if name in e.quirk_names), None)
            if later is not None:
                raise _Fault(
                    ("firmware", later.index, "quirks", name),
                    f"{name} comes back after firmware[{entry.index}] ({entry.range}) fixed it",
                )
            other = next((e for e in ordered if e is not entry and name in e.fixes), None)
            if other is not None:
                raise _Fault(where, f"{name} is already marked fixed by firmware[{other.index}]")
    for entry in ordered:
        for name in entry.quirk_names:
            if not any(name in e.fixes for e in ordered):
                raise _Fault(
                    ("firmware", entry.index, "quirks", name),
                    f"quirk {name} has no fixed firmware: add a later [[firmware]] entry"
                    f' without it, marked fixes = ["{name}"]',
                )


_DMC_FILE_KEYS = ("defaults", "dmc")
_DEFAULTS_KEYS = ("testing_issue_threshold",)
_DMC_KEYS = (
    "title",
    "installation_status",
    "epcl_id",
    "source",
    "devices",
    "dcc_quirks",
    "testing_issue_threshold",
    "equivalence",
    "tested",
    "covered_by",
    "note",
)
_SLOT_KEYS = ("profile", "firmware", "status")
_EQUIVALENCE_KEYS = ("ranges", "children")
_EPCL_RE = re.compile(r"\d{6}")


def _threshold(value: object, path: KeyPath) -> Mapping[int, int]:
    table = _table(value, path)
    out: dict[int, int] = {}
    for key, limit in table.items():
        if not key.isdigit() or int(key) not in SEVERITIES:
            raise _Fault((*path, key), f"severity must be one of {', '.join(map(str, SEVERITIES))}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise _Fault((*path, key), "must be a non-negative integer (open issues allowed)")
        out[int(key)] = limit
    return MappingProxyType(dict(sorted(out.items())))


def _parse_dmc(
    source: _Source,
    dmc_id: str,
    raw: object,
    profiles: Mapping[str, Profile],
    defaults: Mapping[str, Any],
) -> Dmc:
    root: KeyPath = ("dmc", dmc_id)
    data = _table(raw, root)
    _no_unknown_keys(data, _DMC_KEYS, root)
    title = _string(_required(data, "title", root), (*root, "title"))
    status = _choice(
        _required(data, "installation_status", root),
        INSTALLATION_STATUSES,
        (*root, "installation_status"),
    )
    epcl_id = _string(_required(data, "epcl_id", root), (*root, "epcl_id"))
    if not _EPCL_RE.fullmatch(epcl_id):
        raise _Fault((*root, "epcl_id"), f"{epcl_id!r} is not a six-digit EPCL entry id")
    source_text = _string(_required(data, "source", root), (*root, "source"))
    note = _string(data["note"], (*root, "note")) if "note" in data else ""
    tested = data.get("tested", True)
    if not isinstance(tested, bool):
        raise _Fault((*root, "tested"), "must be true or false")
    covered_by = (
        _string(data["covered_by"], (*root, "covered_by")) if "covered_by" in data else None
    )
    if "testing_issue_threshold" in data:
        threshold = _threshold(data["testing_issue_threshold"], (*root, "testing_issue_threshold"))
    elif "testing_issue_threshold" in defaults:
        threshold = defaults["testing_issue_threshold"]
    else:
        raise _Fault(
            (*root, "testing_issue_threshold"),
            "required field is missing (set it here or in [defaults])",
        )

    devices_table = _table(_required(data, "devices", root), (*root, "devices"))
    slots: dict[str, DeviceSlot] = {}
    for device_type in devices_table:
        if device_type not in DEVICE_TYPES:
            raise _Fault(
                (*root, "devices", device_type),
                f"unknown device type (one of {', '.join(DEVICE_TYPES)})",
            )
    for device_type in DEVICE_TYPES:
        if device_type not in devices_table:
            continue
        where: KeyPath = (*root, "devices", device_type)
        slot = _table(devices_table[device_type], where)
        _no_unknown_keys(slot, _SLOT_KEYS, where)
        profile_id = _string(_required(slot, "profile", where), (*where, "profile"))
        profile = profiles.get(profile_id)
        if profile is None:
            raise _Fault(
                (*where, "profile"),
                f"unknown profile {profile_id!r} (known: {', '.join(sorted(profiles))})",
            )
        if profile.device_type != device_type:
            raise _Fault(
                (*where, "profile"),
                f"profile {profile_id} is a {profile.device_type}, not a {device_type}",
            )
        version = _version(_required(slot, "firmware", where), (*where, "firmware"))
        entry = next((e for e in profile.firmware if version in e.range), None)
        if entry is None:
            ranges = ", ".join(str(e.range) for e in profile.firmware)
            raise _Fault(
                (*where, "firmware"),
                f"no firmware entry of profile {profile_id} covers {version} (entries: {ranges})",
            )
        slot_status: str | None = status
        if "status" in slot:
            declared = _choice(slot["status"], ("Active", "Dormant"), (*where, "status"))
            if status != "Mixed":
                raise _Fault(
                    (*where, "status"),
                    f"per-device status is only for Mixed DMCs; this one is {status}",
                )
            slot_status = declared
        elif status == "Mixed":
            slot_status = None
        slots[device_type] = DeviceSlot(
            device_type,
            profile,
            str(version),
            entry,
            slot_status,
            Origin(source.path, source.line_of(where)),
        )
    if CHF not in slots:
        raise _Fault((*root, "devices"), "a SMETS1 installation needs its comms hub (CHF)")
    if ESME not in slots and GSME not in slots:
        raise _Fault(
            (*root, "devices"), "a SMETS1 installation needs at least one meter (ESME or GSME)"
        )
    if status == "Mixed":
        declared_statuses = {slot.status for slot in slots.values()}
        if not {"Active", "Dormant"} <= declared_statuses:
            raise _Fault(
                (*root, "devices"),
                'a Mixed DMC must mark at least one device status = "Active" and one'
                ' status = "Dormant"',
            )

    dcc_quirks = (
        _quirks(data["dcc_quirks"], (*root, "dcc_quirks"), side="dcc", device_types=tuple(slots))
        if "dcc_quirks" in data
        else ()
    )

    equivalence = None
    if "equivalence" in data:
        where = (*root, "equivalence")
        table = _table(data["equivalence"], where)
        _no_unknown_keys(table, _EQUIVALENCE_KEYS, where)
        ranges: dict[str, FirmwareRange] = {}
        for device_type, span_value in _table(table.get("ranges", {}), (*where, "ranges")).items():
            span_where: KeyPath = (*where, "ranges", device_type)
            if device_type not in slots:
                raise _Fault(span_where, f"this DMC has no {device_type}")
            span = _range(span_value, span_where)
            own = slots[device_type]
            for other in own.profile.firmware:
                if other.range.overlaps(span) and other.quirks != own.entry.quirks:
                    raise _Fault(
                        span_where,
                        f"range {span} reaches firmware {other.range} of profile"
                        f" {own.profile.id}, whose quirks ({_names(other.quirk_names)})"
                        f" differ from this DMC's ({_names(own.quirk_names)}):"
                        " Substantive Equivalence cannot span a change of behaviour",
                    )
            if own.firmware_version not in span:
                raise _Fault(
                    span_where,
                    f"the DMC's own {device_type} firmware {slots[device_type].firmware_version}"
                    f" is outside its equivalence range {span}",
                )
            ranges[device_type] = span
        children_value = table.get("children", [])
        if not isinstance(children_value, list):
            raise _Fault((*where, "children"), "must be an array of DMC ids")
        children = tuple(
            _string(child, (*where, "children", i)) for i, child in enumerate(children_value)
        )
        equivalence = Equivalence(MappingProxyType(ranges), children)

    return Dmc(
        id=dmc_id,
        title=title,
        installation_status=status,
        epcl_id=epcl_id,
        devices=MappingProxyType(slots),
        dcc_quirks=dcc_quirks,
        testing_issue_threshold=threshold,
        equivalence=equivalence,
        tested=tested,
        covered_by=covered_by,
        source=source_text,
        origin=Origin(source.path, source.line_of(root)),
        note=note,
    )


def _check_dmc_relations(
    dmcs: Mapping[str, tuple[Dmc, _Source]], declared: set[str], problems: _Problems
) -> None:
    """Checks that need more than one DMC: EPCL ids, equivalence children, covered_by.

    A reference to a DMC that was declared but failed its own checks is
    skipped: its problem is already reported, and a second "unknown DMC"
    would only send the author looking in the wrong place.
    """
    seen_epcl: dict[str, Dmc] = {}
    parents: dict[str, str] = {}
    for dmc_id, (dmc, source) in dmcs.items():
        root: KeyPath = ("dmc", dmc_id)
        with problems.collect(source):
            other = seen_epcl.get(dmc.epcl_id)
            if other is not None:
                raise _Fault(
                    (*root, "epcl_id"),
                    f"EPCL entry {dmc.epcl_id} is already used by DMC {other.id} ({other.origin})",
                )
            seen_epcl[dmc.epcl_id] = dmc
        with problems.collect(source):
            if dmc.equivalence is not None:
                if not dmc.tested:
                    raise _Fault(
                        (*root, "equivalence"),
                        "only a tested DMC can be the parent of Substantively Equivalent children",
                    )
                for index, child_id in enumerate(dmc.equivalence.children):
                    where: KeyPath = (*root, "equivalence", "children", index)
                    if child_id == dmc_id:
                        raise _Fault(where, "a DMC cannot be its own equivalent child")
                    if child_id in declared and child_id not in dmcs:
                        continue
                    if child_id not in dmcs:
                        raise _Fault(
                            where, f"unknown DMC {child_id!r} (children are DMCs of the catalogue)"
                        )
                    child = dmcs[child_id][0]
                    if child.tested:
                        raise _Fault(
                            where,
                            f"child {child_id} is marked tested; a Substantively Equivalent"
                            " child is an untested entry (set tested = false)",
                        )
                    if child_id in parents:
                        raise _Fault(
                            where, f"child {child_id} is already a child of {parents[child_id]}"
                        )
                    # Claimed even if refused below, so it is not reported again as an orphan.
                    parents[child_id] = dmc_id
                    reasons = dmc.equivalence.admits(dmc, child)
                    if reasons:
                        raise _Fault(
                            where,
                            f"child {child_id} is not Substantively Equivalent: "
                            + "; ".join(reasons),
                        )
        with problems.collect(source):
            if dmc.covered_by is not None:
                where = (*root, "covered_by")
                target = dmcs.get(dmc.covered_by, (None, None))[0]
                if target is None and dmc.covered_by in declared:
                    continue
                if target is None:
                    raise _Fault(where, f"unknown DMC {dmc.covered_by!r}")
                if dmc.tested:
                    raise _Fault(
                        where, "a tested DMC is covered by its own testing (set tested = false)"
                    )
                if dmc.installation_status == "Dormant" or target.installation_status != "Dormant":
                    raise _Fault(
                        where,
                        "covered_by is an Active or Mixed entry resting on a tested Dormant"
                        f" entry's DMCT (seed 002 Annex D); here {dmc.installation_status} rests on"
                        f" {target.installation_status}",
                    )
                if not target.tested:
                    raise _Fault(where, f"DMC {target.id} is not tested, so it covers nothing")
                same = {k: (s.profile.id, s.firmware_version) for k, s in dmc.devices.items()}
                theirs = {k: (s.profile.id, s.firmware_version) for k, s in target.devices.items()}
                if same != theirs:
                    raise _Fault(
                        where,
                        f"DMC {target.id} has different devices or firmware; covered_by needs the"
                        " same combination",
                    )
    if declared - set(dmcs):
        # A DMC that failed its own checks may be the missing parent: wait for its fix.
        return
    for dmc_id, (dmc, source) in dmcs.items():
        if not dmc.tested and dmc_id not in parents and dmc.covered_by is None:
            problems.add(
                source,
                ("dmc", dmc_id, "tested"),
                "an untested DMC must be a Substantively Equivalent child of a tested one"
                " or be covered_by a tested Dormant entry",
            )


def _read(path: Path, problems: _Problems) -> tuple[_Source, dict[str, Any]] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(path, (), f"cannot read: {exc}")
        return None
    source = _Source(path, text)
    try:
        return source, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE_RE.search(str(exc))
        problems.items.append(
            Problem(path, "", int(found.group(1)) if found else None, f"TOML syntax error: {exc}")
        )
        return None


def _load(directory: Path) -> Catalogue:
    problems = _Problems()
    if not directory.is_dir():
        raise CatalogueError([Problem(directory, "", None, "catalogue directory not found")])
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CatalogueError([Problem(directory, "", None, "no *.toml files in the catalogue")])
    profile_files = [p for p in files if not p.name.startswith(DMC_FILE_PREFIX)]
    dmc_files = [p for p in files if p.name.startswith(DMC_FILE_PREFIX)]

    profiles: dict[str, Profile] = {}
    broken_profiles: set[str] = set()
    for path in profile_files:
        loaded = _read(path, problems)
        if loaded is None:
            broken_profiles.add(path.stem)
            continue
        source, data = loaded
        with problems.collect(source):
            profiles[path.stem] = _parse_profile(source, data)
        if path.stem not in profiles:
            broken_profiles.add(path.stem)
    _check_profile_overlaps(profiles, problems)

    dmcs: dict[str, tuple[Dmc, _Source]] = {}
    dmc_places: dict[str, _Source] = {}
    for path in dmc_files:
        loaded = _read(path, problems)
        if loaded is None:
            continue
        source, data = loaded
        with problems.collect(source):
            _no_unknown_keys(data, _DMC_FILE_KEYS, ())
        defaults: dict[str, Any] = {}
        with problems.collect(source):
            defaults_table = _table(data.get("defaults", {}), ("defaults",))
            _no_unknown_keys(defaults_table, _DEFAULTS_KEYS, ("defaults",))
            if "testing_issue_threshold" in defaults_table:
                defaults["testing_issue_threshold"] = _threshold(
                    defaults_table["testing_issue_threshold"],
                    ("defaults", "testing_issue_threshold"),
                )
        dmc_tables: dict[str, Any] = {}
        with problems.collect(source):
            dmc_tables = _table(data.get("dmc", {}), ("dmc",))
        for dmc_id, raw in dmc_tables.items():
            if dmc_id in dmc_places:
                problems.add(
                    source,
                    ("dmc", dmc_id),
                    f"DMC {dmc_id} is also declared in {dmc_places[dmc_id].path}",
                )
                continue
            dmc_places[dmc_id] = source
            if dmc_id in profiles or dmc_id in broken_profiles:
                problems.add(
                    source,
                    ("dmc", dmc_id),
                    f"DMC id {dmc_id} is also a profile id;"
                    " `s1bench profiles show` needs them distinct",
                )
                continue
            if _mentions_broken_profile(raw, broken_profiles):
                continue  # its profile's own problem is already reported
            with problems.collect(source):
                dmcs[dmc_id] = (_parse_dmc(source, dmc_id, raw, profiles, defaults), source)
    _check_dmc_relations(dmcs, set(dmc_places), problems)
    if problems.items:
        raise CatalogueError(problems.items)
    return Catalogue(
        directory=directory,
        profiles=MappingProxyType(dict(sorted(profiles.items()))),
        dmcs=MappingProxyType({dmc_id: dmc for dmc_id, (dmc, _) in dmcs.items()}),
    )


def _mentions_broken_profile(raw: object, broken: set[str]) -> bool:
    if not broken or not isinstance(raw, dict) or not isinstance(raw.get("devices"), dict):
        return False
    return any(
        isinstance(slot, dict) and slot.get("profile") in broken for slot in raw["devices"].values()
    )


def _check_profile_overlaps(profiles: Mapping[str, Profile], problems: _Problems) -> None:
    """Two files for the same manufacturer + model must not claim the same firmware."""
    by_model: dict[tuple[str, str], list[Profile]] = {}
    for profile in profiles.values():
        key = (_normalise(profile.manufacturer), _normalise(profile.model))
        by_model.setdefault(key, []).append(profile)
    for group in by_model.values():
        for position, first in enumerate(group):
            for second in group[position + 1 :]:
                for a in first.firmware:
                    for b in second.firmware:
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
