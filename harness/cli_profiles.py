"""`s1bench profiles`: read the firmware profile catalogue from the command line.

A test engineer choosing a DMC for a run, or checking what a quirk does
before trusting a red result, should not have to open TOML files and the
quirk classes side by side: ``list`` shows every profile and DMC in two
tables, ``show ID`` everything about one of them, including what each quirk
does and how the DCC side mitigates it (``Quirk.describe()``). ``--json``
gives the same facts to scripts. Loading the catalogue is also its check:
a broken catalogue is reported with file, key and line, exit code 2.

The main CLI calls ``register`` with its typer app.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from s1bench.firmware_profiles.catalogue import (
    Catalogue,
    CatalogueError,
    DeviceSlot,
    Dmc,
    Profile,
    QuirkSpec,
    load_catalogue,
)

from .cli_common import EXIT_OK, PANEL_LOOK, BadInput, JsonOpt, print_table

CatalogueOpt = Annotated[Path | None, typer.Option(
    "--catalogue", metavar="DIR",
    help="Catalogue folder to read. [default: the one shipped with s1bench]")]


def register(app: typer.Typer) -> None:
    profiles = typer.Typer(help="List and show firmware profiles and DMCs.",
                           no_args_is_help=True)
    profiles.command("list")(list_profiles)
    profiles.command("show")(show_profile)
    app.add_typer(profiles, name="profiles", rich_help_panel=PANEL_LOOK)


def _load(directory: Path | None) -> Catalogue:
    try:
        return load_catalogue(directory)
    except CatalogueError as exc:
        raise BadInput(f"the catalogue cannot be loaded:\n{exc}") from None


def list_profiles(catalogue: CatalogueOpt = None, as_json: JsonOpt = False) -> int:
    """A table of every profile and every DMC."""
    _print_list(_load(catalogue), as_json)
    return EXIT_OK


def show_profile(
    item_id: Annotated[str, typer.Argument(metavar="ID", help="A profile id or a DMC id.")],
    catalogue: CatalogueOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Everything about one profile or DMC, what each quirk does and how it is mitigated."""
    return _show(_load(catalogue), item_id, as_json)


# --------------------------------------------------------------------------- list


def _entry_quirks(quirk_names: Sequence[str], fixes: Sequence[str]) -> str:
    parts = list(quirk_names)
    if fixes:
        parts.append(f"(fixes {', '.join(fixes)})")
    return ", ".join(parts) if parts else "-"


def _evidence(catalogue: Catalogue, dmc: Dmc) -> str:
    if dmc.tested:
        return "tested"
    parent = catalogue.parent_of(dmc)
    if parent is not None:
        return f"SE child of {parent.id}"
    if dmc.covered_by:
        return f"covered by {dmc.covered_by}"
    return "untested"


def _print_list(catalogue: Catalogue, as_json: bool) -> None:
    if as_json:
        payload = {
            "directory": str(catalogue.directory),
            "profiles": [profile.as_dict() for profile in catalogue.profiles.values()],
            "dmcs": [dmc.as_dict() for dmc in catalogue.dmcs.values()],
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    profile_rows: list[list[str]] = []
    for profile in catalogue.profiles.values():
        for position, entry in enumerate(profile.firmware):
            first = position == 0
            profile_rows.append(
                [
                    profile.id if first else "",
                    profile.manufacturer if first else "",
                    profile.model if first else "",
                    profile.device_type if first else "",
                    (profile.operating_capability or "-") if first else "",
                    str(entry.range),
                    _entry_quirks(entry.quirk_names, entry.fixes),
                ]
            )
    dmc_rows: list[list[str]] = []
    for dmc in catalogue.dmcs.values():
        first = True
        for device_type, slot in dmc.devices.items():
            dmc_rows.append(
                [
                    dmc.id if first else "",
                    dmc.epcl_id if first else "",
                    dmc.installation_status if first else "",
                    _evidence(catalogue, dmc) if first else "",
                    device_type
                    + (
                        f" ({slot.status})"
                        if dmc.installation_status == "Mixed" and slot.status
                        else ""
                    ),
                    slot.profile.id,
                    slot.firmware_version,
                    ", ".join(slot.quirk_names) or "-",
                ]
            )
            first = False
        if dmc.dcc_quirks:
            dmc_rows.append(["", "", "", "", "DCC side", "-", "-", ", ".join(dmc.dcc_quirk_names)])
    print_table(["ID", "MANUFACTURER", "MODEL", "TYPE", "OC", "FIRMWARE", "QUIRKS"],
                profile_rows, title=f"Profiles ({len(catalogue.profiles)}) in "
                f"{catalogue.directory}", wrap=("QUIRKS",))
    print()
    print_table(["ID", "EPCL", "STATUS", "EVIDENCE", "DEVICE", "PROFILE", "FIRMWARE", "QUIRKS"],
                dmc_rows, title=f"DMCs ({len(catalogue.dmcs)})", wrap=("QUIRKS",))


# --------------------------------------------------------------------------- show


def _described(spec: QuirkSpec) -> dict[str, Any]:
    return spec.make().describe()


def _quirk_lines(
    spec: QuirkSpec, indent: str, label: str = "", fixed_in: str | None = None
) -> list[str]:
    """A quirk as ``describe()`` tells it, plus the firmware that fixes it when known."""
    info = _described(spec)
    params = ", ".join(f"{k}={v}" for k, v in info["params"].items()) or "none"
    body = indent + "  "
    lines = [
        f"{indent}{label}{info['name']}  [issue {info['issue']}, severity {info['severity']},"
        f" {info['side']} side]",
        f"{body}{info['title']}",
        f"{body}behaviour:  {info['behaviour']}",
        f"{body}mitigation: {info['mitigation']}",
        f"{body}source:     {info['source']}",
        f"{body}parameters: {params}",
    ]
    if fixed_in is not None:
        lines.append(f"{body}fixed in firmware {fixed_in}")
    return lines


def _field_lines(pairs: Sequence[tuple[str, str]], indent: str = "  ") -> list[str]:
    width = max(len(name) for name, _ in pairs)
    return [f"{indent}{name.ljust(width)}  {value}" for name, value in pairs if value]


def _users_of(catalogue: Catalogue, profile: Profile) -> list[tuple[Dmc, DeviceSlot]]:
    return [
        (dmc, slot)
        for dmc in catalogue.dmcs.values()
        for slot in dmc.devices.values()
        if slot.profile.id == profile.id
    ]


def _show(catalogue: Catalogue, item_id: str, as_json: bool) -> int:
    views: tuple[tuple[Any, Any, Any], ...] = (
        (catalogue.profiles, _profile_json, _profile_text),
        (catalogue.dmcs, _dmc_json, _dmc_text),
    )
    for table, to_json, to_text in views:
        if item_id in table:
            if as_json:
                print(json.dumps(to_json(catalogue, table[item_id]), indent=2,
                                 ensure_ascii=False))
            else:
                print("\n".join(to_text(catalogue, table[item_id])))
            return EXIT_OK
    raise BadInput(
        f"unknown id {item_id!r}: not a profile or a DMC\n"
        f"  profiles: {', '.join(catalogue.profiles)}\n"
        f"  DMCs: {', '.join(catalogue.dmcs)}"
    )


def _profile_text(catalogue: Catalogue, profile: Profile) -> list[str]:
    lines = [f"Profile {profile.id}  ({profile.origin})"]
    lines += _field_lines(
        [
            ("manufacturer", profile.manufacturer),
            ("model", profile.model),
            ("device type", profile.device_type),
            ("operating capability", profile.operating_capability or "none"),
            ("source", profile.source),
            ("note", profile.note),
            ("SRVs", ", ".join(profile.srvs)),
        ]
    )
    lines.append("Firmware")
    for entry in profile.firmware:
        lines.append(f"  {entry.range}  (line {entry.origin.line})  {entry.note}".rstrip())
        for spec in entry.quirks:
            lines += _quirk_lines(spec, "    ", "quirk ", profile.fixed_version_for(spec.name))
        if entry.fixes:
            lines.append(f"    fixes {', '.join(entry.fixes)}")
        if not entry.quirks and not entry.fixes:
            lines.append("    no quirks")
    users = _users_of(catalogue, profile)
    lines.append("Used by DMCs")
    lines += [f"  {dmc.id} ({slot.device_type} {slot.firmware_version})" for dmc, slot in users]
    if not users:
        lines.append("  none")
    return lines


def _profile_json(catalogue: Catalogue, profile: Profile) -> dict[str, Any]:
    data = profile.as_dict()
    data["kind"] = "profile"
    for entry_data, entry in zip(data["firmware"], profile.firmware, strict=True):
        entry_data["quirks"] = [
            {**_described(spec), "fixed_in": profile.fixed_version_for(spec.name)}
            for spec in entry.quirks
        ]
    data["used_by"] = [
        {"dmc": dmc.id, "firmware": slot.firmware_version}
        for dmc, slot in _users_of(catalogue, profile)
    ]
    return data


def _threshold_text(dmc: Dmc) -> str:
    limits = ", ".join(
        f"severity {severity}: {limit}" for severity, limit in dmc.testing_issue_threshold.items()
    )
    return f"{limits} (unnamed severities: no limit)"


def _dmc_text(catalogue: Catalogue, dmc: Dmc) -> list[str]:
    lines = [f"DMC {dmc.id}: {dmc.title}  ({dmc.origin})"]
    covers = catalogue.covered(dmc)
    lines += _field_lines(
        [
            ("EPCL entry", dmc.epcl_id),
            ("installation status", dmc.installation_status),
            ("evidence", _evidence(catalogue, dmc)),
            ("source", dmc.source),
            ("note", dmc.note),
            ("testing issue threshold", _threshold_text(dmc)),
            ("covers", ", ".join(d.id for d in covers)),
        ]
    )
    lines.append("Devices")
    for device_type, slot in dmc.devices.items():
        status = f", {slot.status}" if dmc.installation_status == "Mixed" and slot.status else ""
        lines.append(
            f"  {device_type}  {slot.manufacturer} {slot.model} firmware {slot.firmware_version}"
            f"  (profile {slot.profile.id}, entry {slot.entry.range}{status})"
        )
        lines.append(f"    SRVs: {', '.join(slot.srvs)}")
        for spec in slot.quirks:
            lines += _quirk_lines(spec, "    ", "quirk ", slot.profile.fixed_version_for(spec.name))
        if not slot.quirks:
            lines.append("    no quirks")
    lines.append("DCC-side quirks")
    for spec in dmc.dcc_quirks:
        lines += _quirk_lines(spec, "  ")
    if not dmc.dcc_quirks:
        lines.append("  none")
    if dmc.equivalence is not None:
        lines.append("Substantive Equivalence")
        for device_type, span in dmc.equivalence.ranges.items():
            lines.append(f"  {device_type} firmware {span}")
        lines.append(f"  children: {', '.join(dmc.equivalence.children) or 'none'}")
    return lines


def _dmc_json(catalogue: Catalogue, dmc: Dmc) -> dict[str, Any]:
    data = dmc.as_dict()
    data["kind"] = "dmc"
    data["evidence"] = _evidence(catalogue, dmc)
    for device_type, slot in dmc.devices.items():
        data["devices"][device_type]["quirks"] = [
            {**_described(spec), "fixed_in": slot.profile.fixed_version_for(spec.name)}
            for spec in slot.quirks
        ]
    data["dcc_quirks"] = [_described(spec) for spec in dmc.dcc_quirks]
    parent = catalogue.parent_of(dmc)
    data["parent"] = parent.id if parent else None
    data["covers"] = [d.id for d in catalogue.covered(dmc)]
    return data
