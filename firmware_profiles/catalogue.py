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
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError
from s1bench.harness.dcc.srvs import CHF, ESME, GSME, SRVS

from s1bench.filecheck import (
    Fault,
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
from .catalogue_records import (
    Catalogue,
    CatalogueError,
    CatalogueLookupError,
    DeviceSlot,
    Dmc,
    Equivalence,
    FirmwareEntry,
    Origin,
    Profile,
    QuirkSpec,
    ResolvedProfile,
    _normalise,
)
from .quirk_base import QuirkError, make_quirk

#: The records live in catalogue_records; callers import them from here, beside the loader.
__all__ = ["DEFAULT_DIRECTORY", "DEVICE_TYPES", "DMC_FILE_PREFIX", "INSTALLATION_STATUSES",
           "OPERATING_CAPABILITIES", "SEVERITIES", "Catalogue", "CatalogueError",
           "CatalogueLookupError", "DeviceSlot", "Dmc", "Equivalence", "FirmwareEntry",
           "Origin", "Profile", "QuirkSpec", "ResolvedProfile", "Version", "load_catalogue"]

#: The catalogue shipped with s1bench.
DEFAULT_DIRECTORY = Path(__file__).with_name("catalogue")
#: Files whose name starts with this hold DMCs; every other ``*.toml`` is one profile.
DMC_FILE_PREFIX = "dmcs"


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
