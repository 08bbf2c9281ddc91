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
    from s1bench.emulator.service import ServiceRequest, ServiceResponse


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

    Hook points (called by the emulator, in this order for one request):
    1. ``hub_request``: on the hub before any HAN frame is sent; return a
       response to refuse the request there (91342's join window).
    2. ``device_command``: on the device when the command arrives over the
       HAN; return ``(apply, confirm, reason)`` overrides (110031, 91333).
    3. ``hub_response``: on the hub just before the response leaves on the
       WAN side (91339/91340's missing codes).
    Alerts: ``alerts_per_hour`` lets a device raise alerts on its own (risk 11).
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

    def hub_request(self, ctx: Any, request: ServiceRequest) -> ServiceResponse | None:
        return None

    def device_command(self, ctx: Any, device: Any, srv: str, args: dict[str, Any]) -> Any:
        return None

    def hub_response(
        self, ctx: Any, request: ServiceRequest, response: ServiceResponse
    ) -> ServiceResponse:
        return response

    def describe(self) -> dict[str, Any]:
        """What `s1bench profiles show` prints for this quirk."""
        return {
            "name": self.name,
            "issue": self.issue,
            "title": self.title,
            "side": self.side,
            "severity": self.severity,
            "behaviour": self.behaviour,
            "mitigation": self.mitigation,
            "source": self.source,
            "params": self.values,
        }


QUIRKS: dict[str, type[Quirk]] = {}


def register(cls: type[Quirk]) -> type[Quirk]:
    """Class decorator: add a quirk to the registry; a second one of a name is a bug."""
    if cls.name in QUIRKS:
        raise QuirkError(f"quirk {cls.name} registered twice")
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
