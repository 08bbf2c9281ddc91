"""The catalogue's JSON Schemas: what editors are given must accept every shipped file.

The loader and the schemas come from the same models, so a schema that
refused a file the loader accepts (or the reverse) would mean the models no
longer describe the files.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from s1bench.firmware_profiles.catalogue import (
    DEFAULT_DIRECTORY,
    DEVICE_TYPES,
    DMC_FILE_PREFIX,
    CatalogueError,
    load_catalogue,
)
from s1bench.firmware_profiles.quirk_base import QUIRKS

from s1bench.filecheck import json_schema, schema_kinds

SHIPPED = sorted(DEFAULT_DIRECTORY.glob("*.toml"))


def validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def kind_of(path: Path) -> str:
    return "dmcs" if path.name.startswith(DMC_FILE_PREFIX) else "profile"


def errors(kind: str, data: dict[str, Any]) -> list[str]:
    return [error.message for error in validator(kind).iter_errors(data)]


def test_both_kinds_are_registered() -> None:
    kinds = schema_kinds()
    assert {"profile", "dmcs"} <= set(kinds)
    assert "dmcs" in kinds["dmcs"].describes


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_file_is_valid_against_its_schema(path: Path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert errors(kind_of(path), data) == []


def shipped_profile() -> dict[str, Any]:
    return tomllib.loads((DEFAULT_DIRECTORY / "aclara-ioc-esme.toml").read_text(encoding="utf-8"))


def test_profile_schema_refuses_an_unknown_top_level_key() -> None:
    data = {**shipped_profile(), "manufacturor": "Aclara"}
    assert any("manufacturor" in message for message in errors("profile", data))


def test_profile_schema_refuses_an_unknown_device_type() -> None:
    data = {**shipped_profile(), "device_type": "WATER"}
    assert any("WATER" in message for message in errors("profile", data))


def test_enumerations_reach_the_schema_for_completion() -> None:
    profile = json_schema("profile")
    assert profile["properties"]["device_type"]["enum"] == list(DEVICE_TYPES)
    srvs = profile["properties"]["srvs"]["anyOf"][0]  # a list, or omitted: the whole service
    assert "6.15.1" in srvs["items"]["enum"]
    entry = profile["$defs"]["FirmwareFile"]["properties"]
    table = entry["quirks"]["oneOf"][0]
    assert table["propertyNames"]["enum"] == sorted(QUIRKS)
    assert entry["range"]["description"]
    dmc = json_schema("dmcs")["$defs"]["DmcFile"]["properties"]
    assert dmc["installation_status"]["enum"] == ["Active", "Dormant", "Mixed"]
    assert dmc["epcl_id"]["pattern"]
    assert all(field.get("description") for field in dmc.values())


def test_dmcs_schema_refuses_an_unknown_device_and_a_short_epcl_id() -> None:
    data = tomllib.loads((DEFAULT_DIRECTORY / "dmcs.toml").read_text(encoding="utf-8"))
    dmc = data["dmc"]["reference"]
    dmc["devices"]["WATER"] = {"profile": "reference-esme", "firmware": "1.0.0"}
    dmc["epcl_id"] = "12345"
    messages = errors("dmcs", data)
    assert any("WATER" in m for m in messages)
    assert any("12345" in m for m in messages)


def test_nested_unknown_keys_name_what_is_allowed(tmp_path: Path) -> None:
    for path in SHIPPED:
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    dmcs = tmp_path / "dmcs.toml"
    dmcs.write_text(
        dmcs.read_text(encoding="utf-8").replace(
            'devices.CHF = { profile = "reference-chf", firmware = "1.0.0" }',
            'devices.CHF = { profile = "reference-chf", firmware = "1.0.0", staus = "Active" }',
            1,
        ),
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tmp_path)
    assert [(p.key, p.reason) for p in info.value.problems] == [
        ("dmc.reference.devices.CHF.staus", "unknown key (allowed here: profile, firmware, status)")
    ]
