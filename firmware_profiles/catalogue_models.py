"""What a catalogue file may say, as typed models: the loader checks with them, editors complete.

Why models: the shape of a profile file and of a ``dmcs*.toml`` file is
written down once, so the checks ``load_catalogue`` makes and the JSON Schema
``s1bench schema profile|dmcs`` prints cannot drift apart. The models stop at
one value's own rules (types, enumerations, version format, EPCL id format);
what needs several values or several files (a quirk's parameters and side,
SRVs valid for the device type, fixes, DMC references) is checked by
``catalogue`` afterwards, in the same words as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar, get_args

from annotated_types import Len
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    PlainValidator,
    Strict,
    StringConstraints,
    Tag,
    WithJsonSchema,
)
from pydantic_core import CoreSchema
from s1bench.harness.dcc.srvs import SRVS

from s1bench.filecheck import OneOf, register_schema

DeviceType = Literal["ESME", "GSME", "CHF", "PPMID", "IHD"]
Capability = Literal["IOC", "MOC", "FOC"]
InstallationStatus = Literal["Active", "Dormant", "Mixed"]
Severity = Literal["1", "2", "3", "4", "5"]
DEVICE_TYPES: tuple[str, ...] = get_args(DeviceType)
OPERATING_CAPABILITIES: tuple[str, ...] = get_args(Capability)
INSTALLATION_STATUSES: tuple[str, ...] = get_args(InstallationStatus)
#: Severities a Testing Issue Threshold may name (SEC Testing Issue severities).
SEVERITIES: tuple[int, ...] = tuple(int(s) for s in get_args(Severity))

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


def _pair(value: object) -> object:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError('must be a two-element array ["low", "high"] (inclusive)')
    return value


def _ordered(pair: list[Version]) -> list[Version]:
    if pair[0] > pair[1]:
        raise ValueError(f"low end {pair[0]} is above high end {pair[1]}")
    return pair


def _epcl(text: str) -> str:
    if not re.fullmatch(r"\d{6}", text):
        raise ValueError(f"{text!r} is not a six-digit EPCL entry id")
    return text


def _quirk_names() -> list[str]:
    from . import quirks  # noqa: F401  (importing the behaviours registers them)
    from .quirk_base import QUIRKS

    return sorted(QUIRKS)


def _quirk_form(value: object) -> str | None:
    return "[array]" if isinstance(value, list) else "[table]" if isinstance(value, dict) else None


class _NoNull:
    """TOML has no null, so an optional field's schema offers editors only the value."""

    @staticmethod
    def __get_pydantic_json_schema__(
        schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        out = handler(schema)
        options = [option for option in out.pop("anyOf", []) if option != {"type": "null"}]
        return {**options[0], **out} if len(options) == 1 else out


T = TypeVar("T")
Maybe = Annotated[T | None, _NoNull()]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
VersionText = Annotated[
    Version,
    PlainValidator(Version.parse),
    WithJsonSchema({"type": "string", "pattern": r"^\s*\d+(\.\d+)*\s*$"}),
]
Range = Annotated[list[VersionText], BeforeValidator(_pair), AfterValidator(_ordered), Len(2, 2)]
SrvId = Annotated[
    Text,
    OneOf(
        lambda: SRVS, lambda s: f"unknown SRV {s!r} (the emulator implements: {', '.join(SRVS)})"
    ),
]
#: Checked by the quirk registry (``make_quirk``); the enum is for editors.
QuirkName = Annotated[Text, OneOf(_quirk_names)]
#: Either ``{ name = { param = value } }`` or ``["name", ...]`` (default parameters); errors
#: follow the form written. Bracketed tags are dropped from error paths by ``filecheck``.
Quirks = Annotated[
    Annotated[dict[QuirkName, dict[str, Any]], Tag("[table]")]
    | Annotated[list[QuirkName], Tag("[array]")],
    Discriminator(
        _quirk_form,
        custom_error_type="quirks_form",
        custom_error_message="must be a table of quirk names or an array of names",
    ),
]
Threshold = dict[Severity, Annotated[int, Strict(), Field(ge=0)]]


class _File(BaseModel):
    """A misspelt key would silently mean 'not set', so every table refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class FirmwareFile(_File):
    """One ``[[firmware]]`` entry: a firmware range and the quirks switched on in it."""

    range: Range
    """Inclusive span of firmware versions, ["low", "high"]; ranges of one model never overlap."""
    quirks: Quirks = Field(default_factory=dict)
    """Quirks switched on in this range: name -> parameters ({} for the defaults)."""
    fixes: list[Text] = Field(default_factory=list)
    """Quirks an earlier range switches on that this one is the first without (fixed firmware)."""
    note: Text = ""
    """What this firmware is, for `s1bench profiles show`."""


class ProfileFile(_File):
    """One profile file: a manufacturer + model, its SRVs and its firmware ranges."""

    manufacturer: Text
    """Manufacturer as the device reports it (matched ignoring case and runs of spaces)."""
    model: Text
    """Model as the device reports it (matched ignoring case and runs of spaces)."""
    device_type: DeviceType
    """The device type this model is."""
    operating_capability: Literal[Capability, "none"]
    """Operating capability, or "none" where the seeds name none."""
    source: Text
    """Where the facts come from (seed and section)."""
    srvs: list[SrvId] | None = None
    """SRVs the device supports, each valid for the type; omitted: the whole SMETS1 service
    s1bench defines for the type (as a reference device supports it)."""
    firmware: list[FirmwareFile] = Field(min_length=1)
    """The firmware ranges; every quirky range needs a later one marked as fixing it."""
    note: Text = ""
    """Free text for `s1bench profiles show`."""


class SlotFile(_File):
    """One device of a DMC: a profile at a firmware version."""

    profile: Text
    """Id of the profile (its file name without .toml)."""
    firmware: VersionText
    """Firmware version the device runs: inside one of the profile's ranges."""
    status: Maybe[Literal["Active", "Dormant"]] = None
    """This device's installation status; only in a Mixed DMC."""


class DevicesFile(_File):
    """The devices of a DMC, by device type: a comms hub and at least one meter."""

    ESME: Maybe[SlotFile] = None
    """The electricity meter."""
    GSME: Maybe[SlotFile] = None
    """The gas meter."""
    CHF: Maybe[SlotFile] = None
    """The communications hub (every installation has one)."""
    PPMID: Maybe[SlotFile] = None
    """The prepayment meter interface device."""
    IHD: Maybe[SlotFile] = None
    """The in-home display."""

    def declared(self) -> dict[str, SlotFile]:
        """The devices the DMC has, in ``DEVICE_TYPES`` order whatever the file's order."""
        return {t: slot for t in DEVICE_TYPES if (slot := getattr(self, t)) is not None}


class EquivalenceFile(_File):
    """Substantive Equivalence declared by a tested DMC (seed 002)."""

    ranges: dict[DeviceType, Range] = Field(default_factory=dict)
    """Firmware range within which an untested child is Substantively Equivalent to this DMC."""
    children: list[Text] = Field(default_factory=list)
    """Those children: untested DMCs of the catalogue."""


class DmcFile(_File):
    """One ``[dmc.ID]`` table: a Device Model Combination and its EPCL entry facts."""

    title: Text
    """What the DMC is."""
    installation_status: InstallationStatus
    """Active, Dormant, or Mixed (devices then say their own status)."""
    epcl_id: Annotated[Text, AfterValidator(_epcl)] = Field(
        json_schema_extra={"pattern": r"^\d{6}$"}
    )
    """EPCL entry id: six digits, unique in the catalogue."""
    source: Text
    """Where the facts come from (seed and section)."""
    devices: DevicesFile
    """devices.TYPE = { profile = "<profile id>", firmware = "x.y.z" }."""
    dcc_quirks: Quirks = Field(default_factory=dict)
    """DCC-side defects that apply to this DMC (never firmware ones)."""
    testing_issue_threshold: Maybe[Threshold] = None
    """Max open Testing Issues per severity (unnamed: no limit); else [defaults]'s."""
    equivalence: Maybe[EquivalenceFile] = None
    """Substantively Equivalent untested children of this tested DMC."""
    tested: Annotated[bool, Strict()] = True
    """false for an entry resting on other evidence (an equivalence parent or covered_by)."""
    covered_by: Maybe[Text] = None
    """The tested Dormant DMC whose DMCT this Active or Mixed entry rests on (seed 002 Annex D)."""
    note: Text = ""
    """Free text for `s1bench profiles show`."""


class DefaultsFile(_File):
    """Values every DMC of the file takes unless it sets its own."""

    testing_issue_threshold: Maybe[Threshold] = None
    """Max open Testing Issues per severity (unnamed: no limit)."""


class DmcsFile(_File):
    """A dmcs*.toml file: [defaults] and one [dmc.ID] table per DMC."""

    defaults: DefaultsFile = Field(default_factory=DefaultsFile)
    """Values every DMC of this file takes unless it sets its own."""
    dmc: dict[str, DmcFile] = Field(default_factory=dict)
    """The DMCs, by id (distinct from every profile id)."""


@register_schema("profile", "firmware_profiles/catalogue/*.toml: one firmware profile")
def _profile_model() -> type[BaseModel]:
    return ProfileFile


@register_schema("dmcs", "firmware_profiles/catalogue/dmcs*.toml: Device Model Combinations")
def _dmcs_model() -> type[BaseModel]:
    return DmcsFile
