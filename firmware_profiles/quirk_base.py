"""Quirks as named, parameterised behaviours, registered once and reused.

A profile file names quirks and their parameters; this module owns the
registry that turns a name into a behaviour and checks the parameters, so a
profile with an unknown quirk or a bad parameter is refused at load time
(zha-quirks' registry idea, with the firmware range it lacks). Behaviours
override only the hooks they need; the devices and the hub call the hooks at
fixed points and never know which quirk is behind them.

Two sides:
- ``device`` quirks live in firmware and are switched on by a profile;
- ``dcc`` quirks are defects of the DCC's own systems (DOMAIN.md: 61224,
  mixed-Aclara, risk 9) and are switched on for the harness's DCC role by a
  DMC entry, never by firmware.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from s1bench.emulator.headend import Command


class QuirkError(ValueError):
    """A quirk name or parameter that cannot be used; the message names which."""


@dataclass(frozen=True, slots=True)
class QuirkParam:
    """One parameter a quirk takes, with its range and what it means."""

    kind: str  # int | float | bool | str
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None

    def check(self, quirk: str, name: str, value: Any) -> Any:
        expected = {"int": int, "float": (int, float), "bool": bool, "str": str}[self.kind]
        if isinstance(value, bool) and self.kind != "bool":
            raise QuirkError(f"quirk {quirk}: parameter {name} must be {self.kind}, got a boolean")
        if not isinstance(value, expected):
            raise QuirkError(
                f"quirk {quirk}: parameter {name} must be {self.kind}, got {type(value).__name__}"
            )
        if self.minimum is not None and value < self.minimum:
            raise QuirkError(f"quirk {quirk}: parameter {name}={value} is below {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise QuirkError(f"quirk {quirk}: parameter {name}={value} is above {self.maximum}")
        return float(value) if self.kind == "float" else value


class Quirk:
    """Base of every quirk behaviour; hooks default to 'behave like the reference'.

    Device-side hook points (called by the emulator for one head-end command):
    1. ``hub_command``: in the hub's firmware before any HAN frame is sent;
       return an :class:`Outcome` with ``apply=False`` to refuse it there
       (91342's join window).
    2. ``device_command``: on the device when the command arrives over the
       HAN; return an :class:`Outcome` to change how it goes (110031, 91333).
    ``on_start`` lets a device act on its own (risk 11's alerts).

    DCC-side quirks (``side = "dcc"``) are never given to a device: the
    harness's DSP / S1SP consult them by the hooks ``restricts`` (an SRV
    the S1SP's service definition leaves out) and ``s1sp_response`` (a
    response the S1SP writes differently), or by name.
    """

    name: ClassVar[str]
    issue: ClassVar[str]
    title: ClassVar[str]
    side: ClassVar[str] = "device"
    device_types: ClassVar[tuple[str, ...]] = ()
    severity: ClassVar[int] = 3
    behaviour: ClassVar[str] = ""
    mitigation: ClassVar[str] = ""
    source: ClassVar[str] = ""
    params: ClassVar[dict[str, QuirkParam]] = {}
    #: SRVs whose failure on a DMC with this quirk is this Testing Issue ("*": any).
    affects: ClassVar[tuple[str, ...]] = ()
    #: What the seeds make of it: only a ``testing-issue`` counts against the
    #: Testing Issue Threshold; the other kinds are reported beside it.
    kind: ClassVar[str] = "testing-issue"
    #: Where the severity comes from; empty means s1bench assumed it, and
    #: reports must say so (DOMAIN.md: only 110031, 91342 and 91333 have one).
    severity_source: ClassVar[str] = ""

    @classmethod
    def issue_meta(cls) -> dict[str, Any]:
        """The fields a run record keeps for an issue this quirk explains."""
        return {"id": cls.issue, "title": cls.title, "severity": cls.severity,
                "kind": cls.kind, "severity_assumed": not cls.severity_source,
                "counts": cls.kind == "testing-issue"}

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise QuirkError(
                f"quirk {self.name}: unknown parameter {unknown[0]!r}"
                f" (known: {', '.join(sorted(self.params)) or 'none'})"
            )
        self.values: dict[str, Any] = {
            key: spec.check(self.name, key, values.get(key, spec.default))
            for key, spec in self.params.items()
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.values})"

    # Hooks: the reference behaviour is to change nothing.
    def on_start(self, ctx: Any, device: Any) -> None:
        """Called once when the device powers up on a running loop (timers go here)."""
        return None

    def hub_command(self, ctx: Any, command: Command) -> Any:
        return None

    def device_command(self, ctx: Any, device: Any, op: str, args: dict[str, Any]) -> Any:
        return None

    # DCC-side hooks: the reference DCC changes nothing.
    def restricts(self, srv: str, device_type: str) -> str | None:
        """Why the S1SP's service definition leaves this SRV out for this DMC, if it does."""
        return None

    def s1sp_response(self, rng: Any, request: Any, response: Any) -> Any:
        return response

    def describe(self) -> dict[str, Any]:
        """What `s1bench profiles show` prints for this quirk."""
        return {
            "name": self.name,
            "issue": self.issue,
            "title": self.title,
            "side": self.side,
            "severity": self.severity,
            "severity_source": self.severity_source or "assumed by s1bench",
            "kind": self.kind,
            "behaviour": self.behaviour,
            "mitigation": self.mitigation,
            "source": self.source,
            "params": self.values,
        }


#: The kinds of issue the seeds distinguish (DOMAIN.md, "Quirks and Testing Issues").
ISSUE_KINDS = {
    "testing-issue": "a Testing Issue: counts against the Testing Issue Threshold",
    "residual-risk": "a residual risk: reported beside the threshold, never counted",
    "restriction": "a documented restriction of the DCC's service: reported, not counted",
    "blocker": "a DCC defect that keeps EPCL entries from being requested: reported, not counted",
    "migration-outcome": "a migration outcome (dumb device): counted with the outcomes",
}

QUIRKS: dict[str, type[Quirk]] = {}


def register(cls: type[Quirk]) -> type[Quirk]:
    """Class decorator: add a quirk to the registry; a second one of a name is a bug."""
    if cls.name in QUIRKS:
        raise QuirkError(f"quirk {cls.name} registered twice")
    if cls.kind not in ISSUE_KINDS:
        raise QuirkError(f"quirk {cls.name}: kind {cls.kind!r} is not one of {sorted(ISSUE_KINDS)}")
    QUIRKS[cls.name] = cls
    return cls


def make_quirk(name: str, values: dict[str, Any] | None = None) -> Quirk:
    """Build a registered quirk; the error names the quirk and what is wrong."""
    # Importing the behaviours fills the registry on first use.
    from . import quirks as _quirks  # noqa: F401

    cls = QUIRKS.get(name)
    if cls is None:
        raise QuirkError(f"unknown quirk {name!r} (known: {', '.join(sorted(QUIRKS))})")
    return cls(**(values or {}))
