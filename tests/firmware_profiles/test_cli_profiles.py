"""`s1bench profiles list | show`: text, JSON, and exit codes on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s1bench.firmware_profiles.catalogue import load_catalogue
from s1bench.firmware_profiles.quirk_base import make_quirk
from s1bench.harness.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["profiles", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_prints_both_tables(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "list")
    assert code == 0
    assert err == ""
    assert "ID" in out and "MANUFACTURER" in out and "FIRMWARE" in out and "QUIRKS" in out
    catalogue = load_catalogue()
    for profile_id in catalogue.profiles:
        assert profile_id in out
    for dmc_id in catalogue.dmcs:
        assert dmc_id in out
    aclara = next(line for line in out.splitlines() if line.startswith("aclara-ioc-esme "))
    assert "Aclara" in aclara and "ACL-E1" in aclara and "ESME" in aclara and "IOC" in aclara
    assert "4.0.0..4.2.99" in aclara and "key_rotation_unconfirmed" in aclara
    assert "(fixes key_rotation_unconfirmed)" in out
    assert "covered by secure-liberty-100-dormant" in out
    assert "SE child of secure-liberty-110-dormant" in out


def test_list_json_has_every_profile_and_dmc(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    data = json.loads(out)
    catalogue = load_catalogue()
    assert [p["id"] for p in data["profiles"]] == list(catalogue.profiles)
    assert [d["id"] for d in data["dmcs"]] == list(catalogue.dmcs)
    itron = next(p for p in data["profiles"] if p["id"] == "itron-esme")
    assert itron["firmware"][0]["quirks"] == {
        "alert_flood": {"alerts_per_hour": 4.0, "reject_thresholds": True}
    }
    assert itron["fixed_versions"] == {"alert_flood": "3.0.0", "dumb_after_migration": "3.0.0"}
    active = next(d for d in data["dmcs"] if d["id"] == "itron-active")
    assert active["devices"]["GSME"]["quirks"] == {"gas_flow_once_per_day": {}}
    assert list(active["dcc_quirks"]) == ["cos_alert_dropped"]


def test_show_profile_explains_each_quirk(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", "honeywell-elster-chf")
    assert code == 0, err
    assert "Honeywell Elster" in out and "HE-CH1" in out
    described = make_quirk("join_window_limit").describe()
    assert described["title"] in out
    assert described["behaviour"] in out
    assert described["mitigation"] in out
    assert "fixed in firmware 5.2.0" in out
    assert "honeywell-elster-dormant (CHF 5.0.3)" in out


def test_show_profile_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "aclara-ioc-gsme", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["kind"] == "profile"
    assert data["device_type"] == "GSME"
    quirk = data["firmware"][0]["quirks"][0]
    assert quirk["name"] == "key_rotation_unconfirmed"
    assert quirk["issue"] == "110031"
    assert quirk["params"] == {"retry_after_s": 300}
    assert quirk["fixed_in"] == "4.3.0"
    assert data["firmware"][1]["fixes"] == ["key_rotation_unconfirmed"]
    assert {u["dmc"] for u in data["used_by"]} == {
        "aclara-ioc-dormant",
        "aclara-ioc-active",
        "aclara-ioc-mixed",
    }


def test_show_dmc_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "aclara-ioc-mixed")
    assert code == 0
    assert out.startswith("DMC aclara-ioc-mixed:")
    assert "Mixed" in out and "900303" in out
    assert "ESME  Aclara ACL-E1 firmware 4.1.0" in out
    assert "Active)" in out and "Dormant)" in out
    described = make_quirk("mixed_supplier_unidentified").describe()
    assert described["behaviour"] in out
    assert "DCC-side quirks" in out


def test_show_dmc_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "secure-liberty-110-dormant", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["kind"] == "dmc"
    assert data["evidence"] == "tested"
    assert data["covers"] == ["secure-liberty-110-active"]
    assert data["equivalence"] == {
        "ranges": {"ESME": ["1.0.0", "1.4.99"]},
        "children": ["secure-liberty-110-dormant-se1"],
    }
    esme = data["devices"]["ESME"]
    assert esme["model"] == "Liberty 110"
    assert {"7.5", "7.6", "7.9", "7.10", "7.11"} <= set(esme["srvs"])
    # The device has no quirk: the restriction is the S1SP's service definition.
    assert esme["quirks"] == []
    assert [q["name"] for q in data["dcc_quirks"]] == ["boost_services_restricted"]

    code, out, _ = run(capsys, "show", "secure-liberty-110-dormant-se1", "--json")
    assert json.loads(out)["parent"] == "secure-liberty-110-dormant"


def test_show_unknown_id_exits_2_with_the_known_ids(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", "no-such-thing")
    assert code == 2
    assert out == ""
    assert "unknown id 'no-such-thing'" in err
    assert "itron-esme" in err and "itron-active" in err


def test_broken_catalogue_exits_2_naming_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "acme-esme.toml").write_text(
        'manufacturer = "Acme"\nmodel = "A-1"\ndevice_type = "ESME"\n'
        'operating_capability = "none"\nsource = "test"\nsrvs = ["11.2", "42"]\n\n'
        '[[firmware]]\nrange = ["1.0.0", "1.9.99"]\n',
        encoding="utf-8",
    )
    code, out, err = run(capsys, "list", "--catalogue", str(tmp_path))
    assert code == 2
    assert out == ""
    assert f"{tmp_path / 'acme-esme.toml'}:6: srvs[1]: unknown SRV '42'" in err


def test_an_action_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert code == 2
    assert "list" in out + err and "show" in out + err
