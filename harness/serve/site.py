"""The site file: the installations a DUIS user addresses, by the user's own device ids.

Why a file: a supplier's DUIS adaptor already holds its device ids (the
EUI-64s in its RequestIDs), its users and their certificates, and the URL
it receives responses on. ``s1bench serve`` must answer *those* ids, so the
emulated installations adopt them (RequestIDs echo unchanged) rather than
the adaptor being reconfigured for s1bench's derived ones. The file says,
once: which installations exist, of which DMC, which device of each has
which EUI; which users may send (EUI-64, role, optionally a certificate to
check signatures with); and where responses go. Like packs and bench files
it is a pydantic model (``s1bench schema site``), and a broken file is
refused whole with file, line and dotted key.

``s1bench site from-templates DIR`` writes one that makes every device the
DUIS templates address reachable (see :func:`site_from_templates`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from s1bench.firmware_profiles.catalogue_models import DeviceType
from s1bench.hil.bench import DmcId, Eui, Text

from s1bench import filecheck

#: How the DSP tells a replay from a new request (see README "DUIS over HTTP").
ReplayCheck = Literal["counter", "document"]


class SiteError(filecheck.FileError):
    what = "the site file"


def _roles() -> list[str]:
    from s1bench.harness.dcc.dsp import load_role_table

    return sorted({"DCC"}.union(*load_role_table().values()))


def _unknown_role(value: str) -> str:
    return f"unknown user role {value!r} (known: {', '.join(_roles())})"


def http_url(value: str) -> str:
    """Checked now: a typo would only show as responses that never arrive."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


Role = Annotated[str, filecheck.OneOf(_roles, _unknown_role)]
Url = Annotated[str, AfterValidator(http_url)]


class _Strict(BaseModel):
    """A misspelt key would read as 'not set' and a device be served under a derived id."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class SiteUserFile(_Strict):
    """A DCC user that may send requests: the RequestID originator, its role, its certificate."""

    name: Text
    """Name in logs and records (supplier, dno:ukpn...)."""
    eui: Eui
    """The user's EUI-64 as its RequestIDs name it (the originator), in DUIS form."""
    role: Role
    """The user's role, as the DSP's role table names it (Supplier, NetworkOperator...)."""
    certificate: str | None = None
    """PEM certificate (path relative to this file) that the user's ds:Signature must verify
    with. Unset: signatures are not checked (the DUIS templates carry placeholders)."""


class SiteInstallationFile(_Strict):
    """One premises: a DMC and the EUI-64 each of its devices answers to."""

    name: Text
    """Name in logs (one line per request names the installation)."""
    dmc: DmcId
    """The catalogue DMC the installation is built from."""
    devices: dict[DeviceType, Eui] = Field(default_factory=dict)
    """Device type (CHF, ESME, GSME, PPMID, IHD) -> the EUI-64 it adopts. A type of the DMC
    not listed keeps an EUI derived from the installation's position (printed at start)."""
    migrated: bool = False
    """Build it as the DCC leaves it after migration (DCC credentials in place), as
    `s1bench duis --migrated` does; devices then raise their own alerts (risk 11)."""
    join_at_start: bool = True
    """Join the PPMID and IHD to the HAN when serving starts (8.11 with their label install
    codes, then their join), so the installation is a live premises; false leaves them for
    the user's own 8.11."""


class SiteFileModel(_Strict):
    """A site for `s1bench serve`: installations, users and the Receive Response URL."""

    site: str | None = None
    """Id of the site in logs; defaults to the file name."""
    receive_response_url: Url
    """Where the outcome of each request (and every alert) is POSTed as DUIS XML."""
    replay_check: ReplayCheck = "counter"
    """counter: each originator's RequestID counter must rise (DUIS's rule; a repeat is a
    replay, E1). document: a counter may repeat on a different request, and only the same
    request sent again is a replay (for request sets such as the DUIS templates, which reuse
    counters 1000-1003)."""
    users: list[SiteUserFile] = Field(min_length=1)
    """The DCC users that may send; any other originator is answered E1."""
    installations: list[SiteInstallationFile] = Field(min_length=1)
    """The emulated installations; a RequestID naming no device of theirs is answered E19."""


@filecheck.register_schema("site", "a site for `s1bench serve --site SITE.yaml` (written by "
                                   "`s1bench site from-templates`)")
def _site_model() -> type[BaseModel]:
    return SiteFileModel


# --------------------------------------------------------------------------- loaded form


@dataclass(frozen=True)
class SiteUser:
    name: str
    eui: str
    role: str
    certificate: Path | None = None
    certificate_pem: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SiteInstallation:
    name: str
    dmc: str
    devices: dict[str, str]
    migrated: bool = False
    join_at_start: bool = True
    line: int | None = None


@dataclass(frozen=True)
class Site:
    id: str
    file: Path
    receive_response_url: str
    replay_check: str
    users: tuple[SiteUser, ...]
    installations: tuple[SiteInstallation, ...]

    def user_by_eui(self, eui: str) -> SiteUser | None:
        return next((u for u in self.users if u.eui == eui.upper()), None)


def load_site(path: Path) -> Site:
    """The site, or every fault in it at once (a half-right site serves the wrong devices)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the path
        raise SiteError([filecheck.Problem(path, "", None, f"cannot read: {exc}")]) from None
    data = filecheck.read_yaml_mapping(
        path, text, SiteError,
        "a site is a mapping with 'receive_response_url', 'users' and 'installations'")
    problems, lines = filecheck.Problems(), filecheck.YamlLines(path, text)
    model = problems.validate(lines, SiteFileModel, data)
    if model is None:
        raise SiteError(problems.items)
    users = _cross_check(model, path, lines, problems)
    if problems.items:
        raise SiteError(problems.items)
    return Site(
        id=model.site or path.stem,
        file=path,
        receive_response_url=model.receive_response_url,
        replay_check=model.replay_check,
        users=users,
        installations=tuple(
            SiteInstallation(i.name, i.dmc, {str(t): e for t, e in i.devices.items()},
                             i.migrated, i.join_at_start, lines.line_of(("installations", n)))
            for n, i in enumerate(model.installations)),
    )


def _cross_check(model: SiteFileModel, path: Path, lines: filecheck.YamlLines,
                 problems: filecheck.Problems) -> tuple[SiteUser, ...]:
    """What spans entries or reaches outside the file: DMC device types, unique ids, PEMs."""
    from cryptography import x509
    from s1bench.firmware_profiles.catalogue import load_catalogue

    catalogue = load_catalogue()
    seen_euis: dict[str, str] = {}
    names: set[str] = set()
    for n, inst in enumerate(model.installations):
        if inst.name in names:
            problems.add(lines, ("installations", n, "name"), f"a second installation "
                                                               f"named {inst.name!r}")
        names.add(inst.name)
        dmc = catalogue.dmc(inst.dmc)
        for device_type, eui in inst.devices.items():
            key = ("installations", n, "devices", device_type)
            if device_type not in dmc.devices:
                problems.add(lines, key, f"DMC {dmc.id} has no {device_type} (its devices: "
                                         f"{', '.join(dmc.devices)})")
            if eui in seen_euis:
                problems.add(lines, key, f"{eui} is also {seen_euis[eui]}'s EUI-64")
            seen_euis.setdefault(eui, f"installations[{n}].devices.{device_type}")
    users: list[SiteUser] = []
    user_names: set[str] = set()
    user_euis: set[str] = set()
    for n, user in enumerate(model.users):
        if user.name in user_names:
            problems.add(lines, ("users", n, "name"), f"a second user named {user.name!r}")
        if user.eui in user_euis:
            problems.add(lines, ("users", n, "eui"), f"a second user with EUI-64 {user.eui}: "
                                                     "the DSP tells users apart by it")
        user_names.add(user.name)
        user_euis.add(user.eui)
        cert_path, pem = None, None
        if user.certificate:
            cert_path = (path.parent / user.certificate)
            try:
                pem = cert_path.read_bytes()
                x509.load_pem_x509_certificate(pem)
            except OSError as exc:
                problems.add(lines, ("users", n, "certificate"),
                             f"cannot read {cert_path}: {exc.strerror or exc}")
            except ValueError as exc:
                problems.add(lines, ("users", n, "certificate"),
                             f"{cert_path} is not a PEM X.509 certificate ({exc})")
        users.append(SiteUser(user.name, user.eui, user.role, cert_path, pem))
    return tuple(users)


# --------------------------------------------------------------------------- from templates


@dataclass
class TemplateSite:
    """What :func:`site_from_templates` found: the site's data and how each id was typed."""

    data: dict[str, Any]
    typed: dict[str, str]
    skipped: dict[str, str]


def site_from_templates(paths: list[Path], dmc_id: str, receive_url: str) -> TemplateSite:
    """A site in which every device the templates address exists, under the templates' ids.

    The device type of each RequestID target is read the way ``s1bench duis``
    retargets a template: the RTDS convention of the EUI's last byte (A0
    ESME, A1 GSME, A2 CHF, A3 the GPF taken as the SMETS1 GSME, A4 PPMID)
    where the DMC has that type; otherwise the type the SRVs sent to that id
    address (the first of each SRV's target types the DMC has, the hub for
    an SRV s1bench does not carry out), by majority. Ids are then dealt into
    installations in EUI order, each joining the first installation that
    lacks its type, because one premises has one device of each type: the
    templates' two gas ids (A1, A3) end up in two installations. Targets
    that are DCC users (non-device requests name the DCC) are not devices.
    Ids named only inside bodies (join partners such as OtherDeviceID) are
    not made devices: they are what a request would add to a HAN.

    Users are the templates' originators with the role the DCC Boxed
    reference data gives each (``TEMPLATE_USERS``), named as the harness
    names them. ``replay_check`` is ``document`` because the templates reuse
    counters 1000-1003 per originator (see README, "DUIS over HTTP").
    """
    from s1bench.harness.builder import resolve_dmc
    from s1bench.harness.cli_duis import _choose_type, _template_hint
    from s1bench.harness.dcc.dsp import TEMPLATE_USERS, default_users
    from s1bench.harness.duis_xml import parse_request

    present = set(resolve_dmc(dmc_id).devices)
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    originators: list[str] = []
    skipped: dict[str, str] = {}
    for path in paths:
        request = parse_request(path)
        rid = request.request_id
        if rid.originator not in originators:
            originators.append(rid.originator)
        if rid.target in TEMPLATE_USERS:
            skipped[rid.target] = "a DCC user (non-device requests), not a device"
            continue
        hint = _template_hint(rid.target)
        if hint in present:
            votes[rid.target][hint] += 1
            continue
        device_type, _ = _choose_type(request.srv, hint, present)
        if device_type is None:
            skipped[rid.target] = f"SRV {request.srv} targets no device type DMC {dmc_id} has"
            continue
        votes[rid.target][device_type] += 1
    typed = {eui: counts.most_common(1)[0][0] for eui, counts in sorted(votes.items())}
    installations: list[dict[str, str]] = []
    for eui, device_type in typed.items():
        home = next((inst for inst in installations if device_type not in inst), None)
        if home is None:
            home = {}
            installations.append(home)
        home[device_type] = eui
    by_eui = {u.eui: u.name for u in default_users().values()}
    users = []
    for eui in originators:
        role = TEMPLATE_USERS.get(eui)
        if role is None:
            skipped[eui] = "an originator with no role in the DCC Boxed reference data"
            continue
        users.append({"name": by_eui.get(eui, eui.lower()), "eui": eui, "role": role})
    order = ("CHF", "ESME", "GSME", "PPMID", "IHD")
    data = {
        "receive_response_url": receive_url,
        "replay_check": "document",
        "users": users,
        "installations": [
            {"name": f"templates-{n}", "dmc": dmc_id,
             "devices": {t: inst[t] for t in order if t in inst}}
            for n, inst in enumerate(installations, start=1)],
    }
    return TemplateSite(data, typed, skipped)


def render_site_yaml(data: dict[str, Any], header: str = "") -> str:
    """The site as YAML, keys in the model's order, with a comment header."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return ("\n".join(lines) + "\n" if lines else "") + body
