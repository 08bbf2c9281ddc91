"""The firmware profile catalogue: the shipped data, matching, DMC composition, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from s1bench.firmware_profiles.catalogue import (
    DEVICE_TYPES,
    Catalogue,
    CatalogueError,
    CatalogueLookupError,
    Version,
    load_catalogue,
)
from s1bench.firmware_profiles.quirk_base import QUIRKS, Quirk
from s1bench.harness.dcc.srvs import SRVS


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


SHIPPED = load_catalogue()
QUIRKY_PROFILES = [p.id for p in SHIPPED.profiles.values() if p.is_quirky]


# --------------------------------------------------------------------------- the shipped data


def test_shipped_catalogue_loads_and_is_cached(cat: Catalogue) -> None:
    assert load_catalogue() is cat
    for profile_id in (
        "reference-esme",
        "reference-gsme",
        "reference-chf",
        "reference-ppmid",
        "reference-ihd",
        "aclara-ioc-esme",
        "aclara-ioc-gsme",
        "aclara-ioc-chf",
        "itron-esme",
        "itron-gsme",
        "honeywell-elster-esme",
        "honeywell-elster-chf",
        "secure-liberty-100-esme",
        "secure-liberty-110-esme",
        "landis-gyr-esme",
        "edmi-esme",
        "secure-ppmid",
        "secure-ihd",
    ):
        assert profile_id in cat.profiles
    for dmc_id in (
        "reference",
        "itron-active",
        "itron-dormant",
        "honeywell-elster-dormant",
        "aclara-ioc-active",
        "aclara-ioc-dormant",
        "aclara-ioc-mixed",
        "secure-liberty-100-dormant",
        "secure-liberty-100-active",
        "secure-liberty-100-mixed",
        "secure-liberty-110-dormant",
        "secure-liberty-110-active",
    ):
        assert dmc_id in cat.dmcs


def test_explicit_directory_is_loaded_afresh(cat: Catalogue) -> None:
    again = load_catalogue(cat.directory)
    assert again is not cat
    assert list(again.profiles) == list(cat.profiles)
    assert list(again.dmcs) == list(cat.dmcs)


@pytest.mark.parametrize("device_type", DEVICE_TYPES)
def test_reference_profiles_have_every_srv_of_their_type_and_no_quirk(
    cat: Catalogue, device_type: str
) -> None:
    profile = cat.profile(f"reference-{device_type.lower()}")
    assert profile.device_type == device_type
    assert not profile.is_quirky
    from s1bench.harness.dcc.service_catalogue import smets1_service

    # The whole service: what s1bench carries out, and the SMETS1 service it does not yet.
    implemented = {s for s, spec in SRVS.items() if device_type in spec.targets}
    service = {s for s, e in smets1_service().items()
               if s not in SRVS and device_type in e["targets"]}
    assert set(profile.srvs) == implemented | service


def test_every_profile_srv_is_valid_for_its_type(cat: Catalogue) -> None:
    from s1bench.harness.dcc.service_catalogue import smets1_service

    service = smets1_service()
    for profile in cat.profiles.values():
        assert profile.srvs, profile.id
        for srv in profile.srvs:
            targets = SRVS[srv].targets if srv in SRVS else tuple(service[srv]["targets"])
            assert profile.device_type in targets, (profile.id, srv)


def test_boost_and_override_srvs_only_on_liberty_110_and_reference(cat: Catalogue) -> None:
    boost = {"7.5", "7.6", "7.9", "7.10", "7.11"}
    for profile in cat.profiles_for("ESME"):
        has = boost <= set(profile.srvs)
        assert has == (profile.id in {"secure-liberty-110-esme", "reference-esme"}), profile.id


def test_quirks_sit_where_the_seeds_put_them(cat: Catalogue) -> None:
    expected = {
        "aclara-ioc-esme": {"key_rotation_unconfirmed"},
        "aclara-ioc-gsme": {"key_rotation_unconfirmed"},
        "aclara-ioc-chf": {"key_rotation_unconfirmed"},
        "itron-esme": {"alert_flood", "dumb_after_migration"},
        "itron-gsme": {"gas_flow_once_per_day"},
        # 91339/91340 and Liberty 110's restriction are the DCC's (dmcs.toml), not firmware.
        "honeywell-elster-chf": {"join_window_limit"},
    }
    actual = {p.id: set(p.quirk_names) for p in cat.profiles.values() if p.is_quirky}
    assert actual == expected


def test_operating_capabilities(cat: Catalogue) -> None:
    assert cat.profile("aclara-ioc-esme").operating_capability == "IOC"
    assert cat.profile("secure-liberty-110-esme").operating_capability == "MOC"
    assert cat.profile("landis-gyr-esme").operating_capability == "FOC"
    assert cat.profile("itron-esme").operating_capability is None


# --------------------------------------------------------------------------- versions and match


def test_versions_compare_numerically() -> None:
    assert Version.parse("1.9.99") < Version.parse("1.10")
    assert Version.parse("1.0") == Version.parse("1.0.0")
    assert Version.parse("2") > Version.parse("1.99.99")
    for bad in ("1.x", "", "v1.0", "1..2", 1):
        with pytest.raises(ValueError):
            Version.parse(bad)


@pytest.mark.parametrize(
    ("version", "quirky"),
    [
        ("4.0.0", True),
        ("4.1.7", True),
        ("4.2.99", True),
        ("4.3.0", False),
        ("4.3", False),
        ("4.9.99", False),
    ],
)
def test_match_picks_the_entry_covering_the_version(
    cat: Catalogue, version: str, quirky: bool
) -> None:
    resolved = cat.match("Aclara", "ACL-E1", version)
    assert resolved.profile.id == "aclara-ioc-esme"
    assert version in resolved.entry.range
    assert resolved.firmware_version == version
    assert ("key_rotation_unconfirmed" in resolved.quirk_names) is quirky
    assert all(isinstance(q, Quirk) for q in resolved.quirks)
    if quirky:
        assert resolved.quirks[0].values == {"retry_after_s": 300}
    else:
        assert resolved.quirks == ()


def test_match_ignores_case_and_spacing_and_gives_fresh_quirks(cat: Catalogue) -> None:
    first = cat.match("  honeywell   ELSTER ", "he-ch1", "5.0.3")
    second = cat.match("Honeywell Elster", "HE-CH1", "5.0.3")
    assert first.profile is second.profile
    assert first.quirk_names == ("join_window_limit",)
    assert first.quirks[0] is not second.quirks[0]


@pytest.mark.parametrize(
    ("manufacturer", "model", "version", "words"),
    [
        ("Aclara", "ACL-E1", "3.9.99", "no firmware entry covers 3.9.99"),
        ("Aclara", "ACL-E1", "4.10.0", "no firmware entry covers 4.10.0"),
        ("Aclara", "NOPE", "4.0.0", "no profile for manufacturer"),
        ("Aclara", "ACL-E1", "four", "not a dotted numeric"),
    ],
)
def test_match_failures_are_clear_key_errors(
    cat: Catalogue, manufacturer: str, model: str, version: str, words: str
) -> None:
    with pytest.raises(CatalogueLookupError) as info:
        cat.match(manufacturer, model, version)
    assert isinstance(info.value, KeyError)
    assert words in str(info.value)


@pytest.mark.parametrize("profile_id", QUIRKY_PROFILES)
def test_every_quirk_has_a_fixed_version_without_it(cat: Catalogue, profile_id: str) -> None:
    profile = cat.profile(profile_id)
    for name in profile.quirk_names:
        fixed = profile.fixed_version_for(name)
        resolved = cat.match(profile.manufacturer, profile.model, fixed)
        assert name not in resolved.quirk_names
        assert name in resolved.entry.fixes
        last_quirky = max(e.range.high for e in profile.firmware if name in e.quirk_names)
        assert Version.parse(fixed) > last_quirky


def test_fixed_version_for_an_absent_quirk_is_a_lookup_error(cat: Catalogue) -> None:
    with pytest.raises(CatalogueLookupError, match="has no quirk 'alert_flood'"):
        cat.profile("aclara-ioc-esme").fixed_version_for("alert_flood")


def test_honeywell_elster_hub_fixes_91342_in_5_2(cat: Catalogue) -> None:
    hub = cat.profile("honeywell-elster-chf")
    assert hub.fixed_version_for("join_window_limit") == "5.2.0"
    assert cat.match("Honeywell Elster", "HE-CH1", "5.1.5").quirk_names == ("join_window_limit",)
    assert cat.match("Honeywell Elster", "HE-CH1", "5.2.0").quirk_names == ()


# --------------------------------------------------------------------------- DMCs


def test_a_dmc_resolves_to_its_devices(cat: Catalogue) -> None:
    dmc = cat.dmc("itron-active")
    assert dmc.installation_status == "Active"
    assert list(dmc.devices) == ["ESME", "GSME", "CHF"]
    assert [slot.device_type for slot in dmc.slots] == ["ESME", "GSME", "CHF"]
    esme = dmc.device("ESME")
    assert (esme.device_type, esme.manufacturer, esme.model, esme.firmware_version) == (
        "ESME",
        "Itron",
        "ITR-E1",
        "2.1.0",
    )
    assert esme.quirk_names == ("alert_flood",)
    assert "6.5" in esme.srvs
    resolved = esme.resolve()
    assert [q.name for q in resolved.quirks] == ["alert_flood"]
    assert esme.make_quirks()[0] is not esme.make_quirks()[0]
    assert dmc.device("GSME").quirk_names == ("gas_flow_once_per_day",)
    assert dmc.dcc_quirk_names == ("cos_alert_dropped",)
    assert [q.name for q in dmc.make_dcc_quirks()] == ["cos_alert_dropped"]
    with pytest.raises(CatalogueLookupError, match="has no PPMID"):
        dmc.device("PPMID")


@pytest.mark.parametrize(
    ("dmc_id", "dcc"),
    [
        ("itron-active", ("cos_alert_dropped",)),
        ("honeywell-elster-dormant", ("cos_alert_dropped", "response_code_missing_91339",
                                      "response_code_missing_91340")),
        ("secure-liberty-110-dormant", ("boost_services_restricted",)),
        ("reference-wrong-dno", ("dno_certificate_locked",)),
        ("aclara-ioc-mixed", ("mixed_supplier_unidentified",)),
        ("itron-dormant", ()),
        ("aclara-ioc-active", ()),
        ("reference", ()),
    ],
)
def test_dcc_quirks_follow_the_seeds(cat: Catalogue, dmc_id: str, dcc: tuple[str, ...]) -> None:
    dmc = cat.dmc(dmc_id)
    assert dmc.dcc_quirk_names == dcc
    assert all(QUIRKS[name].side == "dcc" for name in dmc.dcc_quirk_names)


def test_itron_dumb_device_has_a_dmc_of_its_own(cat: Catalogue) -> None:
    dumb = [d for d in cat.dmcs.values() if "dumb_after_migration" in d.device("ESME").quirk_names]
    assert [d.id for d in dumb] == ["itron-dormant-dumb"]
    assert dumb[0].installation_status == "Dormant"
    assert "dumb_after_migration" not in cat.dmc("itron-dormant").device("ESME").quirk_names


def test_mixed_dmcs_mark_device_statuses(cat: Catalogue) -> None:
    mixed = cat.dmc("aclara-ioc-mixed")
    assert mixed.device("ESME").status == "Active"
    assert mixed.device("GSME").status == "Dormant"
    assert cat.dmc("aclara-ioc-dormant").device("ESME").status == "Dormant"


def test_reference_dmc_has_every_device_type_and_no_quirks(cat: Catalogue) -> None:
    dmc = cat.dmc("reference")
    assert tuple(dmc.devices) == DEVICE_TYPES
    assert not dmc.device_quirk_names
    assert not dmc.dcc_quirks


def test_epcl_ids_are_six_digits_and_unique_with_the_seed_002_ids(cat: Catalogue) -> None:
    ids = [d.epcl_id for d in cat.dmcs.values()]
    assert len(ids) == len(set(ids))
    assert all(len(i) == 6 and i.isdigit() for i in ids)
    assert cat.dmc("secure-liberty-100-active").epcl_id == "002255"
    assert cat.dmc("secure-liberty-110-active").epcl_id == "002370"


def test_unknown_dmc_lists_known_ids(cat: Catalogue) -> None:
    with pytest.raises(KeyError) as info:
        cat.dmc("no-such-dmc")
    assert "unknown DMC 'no-such-dmc'" in str(info.value)
    assert "itron-active" in str(info.value)


@pytest.mark.parametrize("dmc_id", list(SHIPPED.dmcs))
def test_fixed_variant_has_no_device_quirks(cat: Catalogue, dmc_id: str) -> None:
    original = cat.dmc(dmc_id)
    fixed = cat.fixed_variant(dmc_id)
    assert not fixed.device_quirk_names
    assert fixed.derived_from == dmc_id
    assert fixed.id != dmc_id
    assert fixed.epcl_id == original.epcl_id
    assert fixed.dcc_quirks == original.dcc_quirks
    assert cat.fixed_variant(dmc_id, dcc_fixed=True).dcc_quirks == ()
    for device_type, slot in fixed.devices.items():
        assert slot.profile is original.devices[device_type].profile
        assert slot.firmware_version in slot.entry.range
        if not original.devices[device_type].quirks:
            assert slot == original.devices[device_type]
    assert cat.dmc(dmc_id) is original  # the catalogue is untouched


def test_fixed_variant_versions(cat: Catalogue) -> None:
    fixed = cat.fixed_variant("itron-dormant-dumb")
    assert fixed.device("ESME").firmware_version == "3.0.0"
    # The dormant entry's GSME carries no quirk (91333 is Itron Active's): nothing to fix.
    assert fixed.device("GSME").firmware_version == "2.1.0"
    assert cat.fixed_variant("itron-active").device("GSME").firmware_version == "3.0.0"
    assert cat.fixed_variant("honeywell-elster-dormant").device("CHF").firmware_version == "5.2.0"


def test_dmc_with_firmware_moves_one_device(cat: Catalogue) -> None:
    derived = cat.dmc_with_firmware("itron-active", "ESME", "3.1.0")
    assert derived.device("ESME").firmware_version == "3.1.0"
    assert derived.device("ESME").quirk_names == ()
    assert derived.device("GSME") == cat.dmc("itron-active").device("GSME")
    assert derived.derived_from == "itron-active"
    chained = cat.dmc_with_firmware(derived, "GSME", "3.0.0")
    assert not chained.device_quirk_names
    assert chained.derived_from == "itron-active"
    with pytest.raises(CatalogueLookupError, match=r"covering 9\.0\.0"):
        cat.dmc_with_firmware("itron-active", "ESME", "9.0.0")
    with pytest.raises(CatalogueLookupError, match="has no IHD"):
        cat.dmc_with_firmware("itron-active", "IHD", "1.0.0")


def test_children_are_inside_the_parents_equivalence_range(cat: Catalogue) -> None:
    parents = [d for d in cat.dmcs.values() if d.equivalence and d.equivalence.children]
    assert {d.id for d in parents} >= {"secure-liberty-100-dormant", "secure-liberty-110-dormant"}
    for parent in parents:
        assert parent.tested
        assert parent.equivalence is not None
        for child in cat.children_of(parent.id):
            assert not child.tested
            assert cat.parent_of(child.id) is parent
            assert set(child.devices) == set(parent.devices)
            for device_type, slot in child.devices.items():
                own = parent.devices[device_type]
                assert slot.profile is own.profile
                span = parent.equivalence.ranges.get(device_type)
                if span is None:
                    assert slot.firmware_version == own.firmware_version
                else:
                    assert slot.firmware_version in span
                    assert own.firmware_version in span
                assert slot.quirk_names == own.quirk_names
    assert cat.children_of("itron-active") == ()
    assert cat.parent_of("itron-active") is None


def test_active_and_mixed_secure_entries_rest_on_the_dormant_dmct(cat: Catalogue) -> None:
    for status in ("active", "mixed"):
        dmc = cat.dmc(f"secure-liberty-100-{status}")
        assert not dmc.tested
        assert dmc.covered_by == "secure-liberty-100-dormant"
    covered = {d.id for d in cat.covered("secure-liberty-100-dormant")}
    assert covered == {"secure-liberty-100-active", "secure-liberty-100-mixed"}


def test_threshold_breaches(cat: Catalogue) -> None:
    dmc = cat.dmc("honeywell-elster-dormant")
    assert dict(dmc.testing_issue_threshold) == {1: 0, 2: 0, 3: 5, 4: 10}
    assert dmc.threshold_breaches({2: 1, 3: 5, 5: 99}) == {2: (1, 0)}
    assert dmc.threshold_breaches({3: 2}) == {}


# --------------------------------------------------------------------------- bad input

GOOD_ESME = """\
manufacturer = "Acme"
model = "A-1"
device_type = "ESME"
operating_capability = "IOC"
source = "test profile"
srvs = ["6.15.1", "11.2"]

[[firmware]]
range = ["1.0.0", "1.9.99"]
quirks = { key_rotation_unconfirmed = { retry_after_s = 300 } }

[[firmware]]
range = ["2.0.0", "2.9.99"]
fixes = ["key_rotation_unconfirmed"]
"""

GOOD_CHF = """\
manufacturer = "Acme"
model = "H-1"
device_type = "CHF"
operating_capability = "none"
source = "test profile"
srvs = ["8.11", "11.2"]

[[firmware]]
range = ["1.0.0", "1.9.99"]
"""

GOOD_DMCS = """\
[defaults]
testing_issue_threshold = { 1 = 0, 2 = 0, 3 = 5 }

[dmc.acme-dormant]
title = "Acme dormant"
source = "test"
installation_status = "Dormant"
epcl_id = "123456"
devices.ESME = { profile = "acme-esme", firmware = "1.2.0" }
devices.CHF = { profile = "acme-chf", firmware = "1.0.0" }
equivalence.ranges.ESME = ["1.0.0", "1.5.99"]
equivalence.children = ["acme-dormant-se"]

[dmc.acme-dormant-se]
title = "Acme dormant, later ESME firmware"
source = "test"
installation_status = "Dormant"
epcl_id = "123457"
tested = false
devices.ESME = { profile = "acme-esme", firmware = "1.4.0" }
devices.CHF = { profile = "acme-chf", firmware = "1.0.0" }
"""

GOOD = {"acme-esme.toml": GOOD_ESME, "acme-chf.toml": GOOD_CHF, "dmcs.toml": GOOD_DMCS}


def write_catalogue(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def edited(file: str, old: str, new: str) -> dict[str, str]:
    files = dict(GOOD)
    assert old in files[file], (file, old)
    files[file] = files[file].replace(old, new, 1)
    return files


def line_of(text: str, marker: str | tuple[str, int]) -> int:
    """The line holding ``marker`` (or its n-th occurrence, for ``(marker, n)``)."""
    needle, nth = (marker, 1) if isinstance(marker, str) else marker
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def test_the_good_test_catalogue_loads(tmp_path: Path) -> None:
    cat = load_catalogue(write_catalogue(tmp_path, GOOD))
    assert set(cat.profiles) == {"acme-esme", "acme-chf"}
    assert cat.dmc("acme-dormant").testing_issue_threshold == {1: 0, 2: 0, 3: 5}
    assert [c.id for c in cat.children_of("acme-dormant")] == ["acme-dormant-se"]
    assert cat.profile("acme-esme").firmware[0].origin.line == 8


# (case id, file, old text, new text, expected key, marker on the expected line, reason
# words[, number of problems: 1 unless given, so a cascade of follow-on errors fails the test])
BROKEN = [
    (
        "unknown-quirk",
        "acme-esme.toml",
        "key_rotation_unconfirmed = { retry_after_s = 300 }",
        "no_such_quirk = {}",
        "firmware[0].quirks.no_such_quirk",
        "no_such_quirk",
        "unknown quirk 'no_such_quirk'",
    ),
    (
        "parameter-type",
        "acme-esme.toml",
        "retry_after_s = 300",
        'retry_after_s = "300"',
        "firmware[0].quirks.key_rotation_unconfirmed.retry_after_s",
        "retry_after_s",
        "must be int, got str",
    ),
    (
        "parameter-out-of-range",
        "acme-esme.toml",
        "retry_after_s = 300",
        "retry_after_s = -1",
        "firmware[0].quirks.key_rotation_unconfirmed.retry_after_s",
        "retry_after_s",
        "below 0",
    ),
    (
        "unknown-parameter",
        "acme-esme.toml",
        "retry_after_s = 300",
        "retry_after_minutes = 5",
        "firmware[0].quirks.key_rotation_unconfirmed.retry_after_minutes",
        "retry_after_minutes",
        "unknown parameter 'retry_after_minutes'",
    ),
    (
        "quirk-wrong-device-type",
        "acme-esme.toml",
        "key_rotation_unconfirmed = { retry_after_s = 300 }",
        "gas_flow_once_per_day = {}",
        "firmware[0].quirks.gas_flow_once_per_day",
        "gas_flow_once_per_day",
        "applies to GSME, not to ESME",
    ),
    (
        "dcc-quirk-in-firmware",
        "acme-esme.toml",
        "key_rotation_unconfirmed = { retry_after_s = 300 }",
        "cos_alert_dropped = {}",
        "firmware[0].quirks.cos_alert_dropped",
        "cos_alert_dropped",
        "DCC-side quirk",
    ),
    (
        "overlapping-ranges",
        "acme-esme.toml",
        'range = ["2.0.0", "2.9.99"]',
        'range = ["1.9.0", "2.9.99"]',
        "firmware[1].range",
        '"1.9.0"',
        "overlaps firmware[0] range 1.0.0..1.9.99",
    ),
    (
        "missing-field",
        "acme-esme.toml",
        'model = "A-1"\n',
        "",
        "model",
        None,
        "required field is missing",
    ),
    (
        "missing-range",
        "acme-esme.toml",
        'range = ["2.0.0", "2.9.99"]\n',
        "",
        "firmware[1].range",
        None,
        "required field is missing",
    ),
    (
        "unknown-srv",
        "acme-esme.toml",
        'srvs = ["6.15.1", "11.2"]',
        'srvs = ["6.15.1", "99.9"]',
        "srvs[1]",
        "srvs",
        "unknown SRV '99.9'",
    ),
    (
        "srv-wrong-device-type",
        "acme-esme.toml",
        'srvs = ["6.15.1", "11.2"]',
        'srvs = ["6.7"]',
        "srvs[0]",
        "srvs",
        "not valid for a ESME",
    ),
    (
        "toml-syntax",
        "acme-esme.toml",
        'source = "test profile"',
        'source = "test profile',
        "",
        "source =",
        "TOML syntax error",
    ),
    (
        "bad-version",
        "acme-esme.toml",
        '"1.9.99"',
        '"1.9.x"',
        "firmware[0].range[1]",
        '"1.9.x"',
        "not a dotted numeric firmware version",
    ),
    (
        "low-above-high",
        "acme-chf.toml",
        'range = ["1.0.0", "1.9.99"]',
        'range = ["1.9.99", "1.0.0"]',
        "firmware[0].range",
        "range",
        "low end 1.9.99 is above high end 1.0.0",
    ),
    (
        "misspelt-key",
        "acme-esme.toml",
        "fixes = [",
        "fixed = [",
        "firmware[1].fixed",
        "fixed =",
        "unknown key",
    ),
    (
        "quirk-never-fixed",
        "acme-esme.toml",
        'fixes = ["key_rotation_unconfirmed"]\n',
        "",
        "firmware[0].quirks.key_rotation_unconfirmed",
        "key_rotation_unconfirmed",
        "has no fixed firmware",
    ),
    (
        "fix-of-absent-quirk",
        "acme-esme.toml",
        'fixes = ["key_rotation_unconfirmed"]',
        'fixes = ["key_rotation_unconfirmed", "alert_flood"]',
        "firmware[1].fixes",
        "fixes",
        "alert_flood is not switched on by any earlier firmware entry",
    ),
    (
        "bad-operating-capability",
        "acme-chf.toml",
        'operating_capability = "none"',
        'operating_capability = "XOC"',
        "operating_capability",
        "operating_capability",
        "not one of IOC, MOC, FOC, none",
    ),
    (
        "dmc-unknown-profile",
        "dmcs.toml",
        'devices.CHF = { profile = "acme-chf", firmware = "1.0.0" }\nequivalence',
        'devices.CHF = { profile = "acme-hub", firmware = "1.0.0" }\nequivalence',
        "dmc.acme-dormant.devices.CHF.profile",
        "acme-hub",
        "unknown profile 'acme-hub'",
    ),
    (
        "dmc-uncovered-firmware",
        "dmcs.toml",
        'profile = "acme-esme", firmware = "1.2.0"',
        'profile = "acme-esme", firmware = "3.0.0"',
        "dmc.acme-dormant.devices.ESME.firmware",
        '"3.0.0"',
        "no firmware entry of profile acme-esme covers 3.0.0",
    ),
    (
        "dmc-profile-of-other-type",
        "dmcs.toml",
        'devices.CHF = { profile = "acme-chf", firmware = "1.0.0" }\nequivalence',
        'devices.CHF = { profile = "acme-esme", firmware = "1.0.0" }\nequivalence',
        "dmc.acme-dormant.devices.CHF.profile",
        'devices.CHF = { profile = "acme-esme"',
        "is a ESME, not a CHF",
    ),
    (
        "device-quirk-in-dcc-quirks",
        "dmcs.toml",
        'epcl_id = "123456"',
        'epcl_id = "123456"\ndcc_quirks = ["alert_flood"]',
        "dmc.acme-dormant.dcc_quirks[0]",
        "dcc_quirks",
        "device-side quirk",
    ),
    (
        "dcc-quirk-bad-parameter",
        "dmcs.toml",
        'epcl_id = "123456"',
        'epcl_id = "123456"\ndcc_quirks = { cos_alert_dropped = { proportion = 2.0 } }',
        "dmc.acme-dormant.dcc_quirks.cos_alert_dropped.proportion",
        "dcc_quirks",
        "above 1.0",
    ),
    (
        "bad-epcl-id",
        "dmcs.toml",
        'epcl_id = "123456"',
        'epcl_id = "12345"',
        "dmc.acme-dormant.epcl_id",
        '"12345"',
        "not a six-digit EPCL entry id",
    ),
    (
        "duplicate-epcl-id",
        "dmcs.toml",
        'epcl_id = "123457"',
        'epcl_id = "123456"',
        "dmc.acme-dormant-se.epcl_id",
        ('epcl_id = "123456"', 2),
        "already used by DMC acme-dormant",
    ),
    (
        "child-outside-range",
        "dmcs.toml",
        'profile = "acme-esme", firmware = "1.4.0"',
        'profile = "acme-esme", firmware = "1.7.0"',
        "dmc.acme-dormant.equivalence.children[0]",
        "equivalence.children",
        "outside the equivalence range 1.0.0..1.5.99",
    ),
    (
        "equivalence-range-across-a-fix",
        "dmcs.toml",
        'equivalence.ranges.ESME = ["1.0.0", "1.5.99"]',
        'equivalence.ranges.ESME = ["1.0.0", "2.5.99"]',
        "dmc.acme-dormant.equivalence.ranges.ESME",
        "equivalence.ranges.ESME",
        "cannot span a change of behaviour",
    ),
    (
        "equivalence-range-misses-own-firmware",
        "dmcs.toml",
        'equivalence.ranges.ESME = ["1.0.0", "1.5.99"]',
        'equivalence.ranges.ESME = ["1.3.0", "1.5.99"]',
        "dmc.acme-dormant.equivalence.ranges.ESME",
        "equivalence.ranges.ESME",
        "own ESME firmware 1.2.0 is outside",
    ),
    (
        "child-marked-tested",
        "dmcs.toml",
        "tested = false\n",
        "",
        "dmc.acme-dormant.equivalence.children[0]",
        "equivalence.children",
        "marked tested",
    ),
    (
        "unknown-child",
        "dmcs.toml",
        'equivalence.children = ["acme-dormant-se"]',
        'equivalence.children = ["acme-dormant-se", "acme-ghost"]',
        "dmc.acme-dormant.equivalence.children[1]",
        "equivalence.children",
        "unknown DMC 'acme-ghost'",
    ),
    (
        "untested-orphan",
        "dmcs.toml",
        'equivalence.children = ["acme-dormant-se"]',
        "equivalence.children = []",
        "dmc.acme-dormant-se.tested",
        "tested = false",
        "must be a Substantively Equivalent child",
    ),
    (
        "missing-threshold",
        "dmcs.toml",
        "[defaults]\ntesting_issue_threshold = { 1 = 0, 2 = 0, 3 = 5 }\n",
        "",
        "dmc.acme-dormant.testing_issue_threshold",
        None,
        "required field is missing",
        2,  # both DMCs relied on [defaults]
    ),
    (
        "mixed-without-statuses",
        "dmcs.toml",
        'installation_status = "Dormant"\nepcl_id = "123456"',
        'installation_status = "Mixed"\nepcl_id = "123456"',
        "dmc.acme-dormant.devices",
        "devices.ESME",
        "must mark at least one device",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "key", "marker", "words", "count"),
    [(*case[1:7], case[7] if len(case) > 7 else 1) for case in BROKEN],
    ids=[str(case[0]) for case in BROKEN],
)
def test_broken_files_are_refused_naming_file_key_and_line(
    tmp_path: Path,
    file: str,
    old: str,
    new: str,
    key: str,
    marker: str | tuple[str, int] | None,
    words: str | None,
    count: int,
) -> None:
    files = edited(file, old, new)
    write_catalogue(tmp_path, files)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tmp_path)
    error = info.value
    assert isinstance(error, ValueError)
    assert len(error.problems) == count, str(error)
    assert error.file == tmp_path / file
    assert error.key == key
    if marker is not None:
        assert error.line == line_of(files[file], marker), str(error)
    if words is not None:
        assert words in error.reason
    message = str(error)
    assert str(tmp_path / file) in message
    assert key in message


def test_overlap_between_two_files_of_one_model_names_both(tmp_path: Path) -> None:
    second = GOOD_CHF.replace('range = ["1.0.0", "1.9.99"]', 'range = ["1.5.0", "3.0.0"]')
    write_catalogue(tmp_path, {**GOOD, "acme-chf-late.toml": second})
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tmp_path)
    error = info.value
    assert len(error.problems) == 1
    assert error.file == tmp_path / "acme-chf.toml" or error.file == tmp_path / "acme-chf-late.toml"
    assert "acme-chf.toml" in str(error) and "acme-chf-late" in str(error)
    assert "Acme H-1" in error.reason


def test_subtable_quirks_get_their_line(tmp_path: Path) -> None:
    text = GOOD_ESME.replace(
        "quirks = { key_rotation_unconfirmed = { retry_after_s = 300 } }",
        "[firmware.quirks]\nkey_rotation_unconfirmed = { retry_after_s = 1e9 }",
    )
    write_catalogue(tmp_path, {**GOOD, "acme-esme.toml": text})
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tmp_path)
    assert info.value.key == "firmware[0].quirks.key_rotation_unconfirmed.retry_after_s"
    assert info.value.line == line_of(text, "1e9")


def test_every_problem_is_reported_and_nothing_half_loads(tmp_path: Path) -> None:
    esme = GOOD_ESME.replace("retry_after_s = 300", "retry_after_s = -5")
    chf = GOOD_CHF.replace('srvs = ["8.11", "11.2"]', 'srvs = ["8.11", "1.1"]')
    write_catalogue(tmp_path, {**GOOD, "acme-esme.toml": esme, "acme-chf.toml": chf})
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tmp_path)
    problems = info.value.problems
    # Both broken profiles; the DMCs naming them are skipped, not reported a second time.
    assert [(p.file.name, p.key) for p in problems] == [
        ("acme-chf.toml", "srvs[1]"),
        ("acme-esme.toml", "firmware[0].quirks.key_rotation_unconfirmed.retry_after_s"),
    ]
    assert "2 problems" in str(info.value)


def test_an_empty_or_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"no \*\.toml files"):
        load_catalogue(tmp_path)
    with pytest.raises(CatalogueError, match="not found"):
        load_catalogue(tmp_path / "absent")


def test_dmc_id_clashing_with_a_profile_id_is_refused(tmp_path: Path) -> None:
    files = edited("dmcs.toml", "[dmc.acme-dormant-se]", "[dmc.acme-chf]")
    files["dmcs.toml"] = files["dmcs.toml"].replace('"acme-dormant-se"', '"acme-chf"')
    write_catalogue(tmp_path, files)
    with pytest.raises(CatalogueError, match="also a profile id"):
        load_catalogue(tmp_path)
