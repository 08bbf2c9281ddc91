"""`s1bench duis`: DUIS request templates in, schema-valid DUIS responses out."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from s1bench.harness.cli import main
from s1bench.harness.dcc.srvs import SRVS
from s1bench.harness.duis_xml import RESPONSE_CODES, SR_NS, load_schema, validate

SHARED = Path(os.environ.get("S1BENCH_SHARED") or Path(__file__).resolve().parents[3] / "shared")
TEMPLATES = SHARED / "duis-templates" / "templates"

pytestmark = pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")

#: SRVs whose every template executes to I0 on the reference DMC (checked by hand
#: against srv_catalogue: the templates' parameters fit the catalogue's specs).
I0_SRVS = {
    "2.2", "3.1", "4.1.1", "4.3", "4.18", "6.5", "6.7", "6.11", "6.12", "6.23", "6.24.1",
    "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "7.9", "7.10", "7.11", "8.2", "8.7.1",
    "8.7.2", "8.9", "8.11", "11.2", "1.2.1", "2.5",
}
#: Implemented SRVs whose templates are rejected, and why (template vs catalogue).
KNOWN_REJECTIONS = {
    # WANAlert/HANAlert lists, not the catalogue's AlertCode/Setting.
    "GCS20_6.22_SUCCESS_REQUEST_DUIS.XML": "E12",
}
#: Delivered by the DCC (I0) but refused by the device (MessageSuccess false).
DEVICE_REFUSALS = {
    # Runs after CS04ACCritical (8.8.1) already unjoined the PPMID from the ESME.
    "CS04ACNonCritical_8.8.2_SUCCESS_REQUEST_DUIS.XML",
}


def _code(xml_path: Path) -> str:
    root = etree.parse(str(xml_path)).getroot()
    return root.findtext(f"{{{SR_NS}}}Header/{{{SR_NS}}}ResponseCode")


@pytest.fixture(scope="module")
def schema() -> Any:
    return load_schema()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("duis-reference")
    code = main(["duis", str(TEMPLATES), "--dmc", "reference", "--out", str(out)])
    index = json.loads((out / "index.json").read_text())
    return code, out, index


def _by_name(index: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {Path(e["file"]).name: e for e in index["files"]}


def test_all_templates_run_without_a_crash(reference_run: Any) -> None:
    code, out, index = reference_run
    assert code in (0, 1)
    assert len(index["files"]) == 297
    for entry in index["files"]:
        written = out / entry["output"]
        assert written.is_file()
        if entry["response_code"] is None:
            assert entry["output"].endswith(".missing-code.json")
            assert json.loads(written.read_text())["outcome"] == "unconfirmed"
        else:
            assert entry["response_code"] in RESPONSE_CODES
            assert entry["output"].endswith(".response.xml")
            assert _code(written) == entry["response_code"]
        assert not entry.get("error"), entry


def test_ppmid_is_joined_in_setup(reference_run: Any) -> None:
    _, _, index = reference_run
    assert [s["response_code"] for s in index["setup"]] == ["I0"]


def test_8_11_template_succeeds(reference_run: Any) -> None:
    _, out, index = reference_run
    entry = _by_name(index)["CCS01_8.11_SUCCESS_REQUEST_DUIS.XML"]
    assert _code(out / "CCS01_8.11_SUCCESS_REQUEST_DUIS.response.xml") == "I0"
    # Retargeted: the template's hub and device are not ours.
    assert entry["original_target"] == "00-DB-12-34-56-78-90-A2"
    assert entry["emulated_device_type"] == "CHF"
    assert entry["emulated_target"] != entry["original_target"]
    assert set(entry["param_mapping"]) == {"DeviceID", "InstallCode"}


def test_every_response_is_schema_valid(reference_run: Any, schema: Any) -> None:
    _, out, _ = reference_run
    files = sorted(out.glob("*.response.xml"))
    assert len(files) == 297
    for path in files:  # all of them: about 0.3 s once the schema is loaded
        assert validate(path.read_bytes()) == [], path.name


def test_supported_srvs_execute_to_i0_rest_are_rejected(reference_run: Any) -> None:
    _, _, index = reference_run
    assert set(SRVS) >= I0_SRVS
    for name, entry in _by_name(index).items():
        srv, code = entry["srv"], entry["response_code"]
        if name in KNOWN_REJECTIONS:
            assert code == KNOWN_REJECTIONS[name], (name, entry["reason"])
        elif name in DEVICE_REFUSALS:
            assert (code, entry["device_success"]) == ("I0", False), (name, entry["reason"])
        elif "_FUTURE_DATED_" in name and "_DSP_" not in name and srv in SRVS:
            # The DSP acknowledges a future-dated request; it runs in 2030, after this run.
            # (The DSP-future-dated 4.1.1 template's 2015 is past: it runs at once.)
            assert (code, entry["answered_by"]) == ("I99", "dsp"), (name, entry["reason"])
        elif "CANCELLATION" in name and srv in SRVS:
            assert (code, entry["answered_by"]) == ("I0", "dsp"), (name, entry["reason"])
        elif srv in I0_SRVS:
            assert code == "I0", (name, entry["reason"])
        elif srv not in SRVS:
            assert code == "E11", (name, entry["reason"])
        else:
            assert code == "I0", (name, entry["reason"])  # e.g. 6.13, 6.15.1, 6.22, 8.8.x
        if code == "I0" and name not in DEVICE_REFUSALS and entry["answered_by"] == "s1sp":
            assert entry["device_success"] is True, (name, entry["reason"])
    counts = Counter(e["response_code"] for e in index["files"])
    assert counts == {"I0": 91, "E11": 200, "I99": 5, "E12": 1}


def test_absent_device_type_gets_e19(tmp_path: Path) -> None:
    # honeywell-elster-dormant has no gas meter: the 6.7 (GSME-only) template cannot be retargeted.
    src = TEMPLATES / "GCS24_6.7_SUCCESS_REQUEST_DUIS.XML"
    code = main(["duis", str(src), "--dmc", "honeywell-elster-dormant", "--out", str(tmp_path)])
    assert code == 0
    entry = json.loads((tmp_path / "index.json").read_text())["files"][0]
    assert entry["response_code"] == "E19"
    assert entry["emulated_target"] == entry["original_target"]


def test_malformed_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "in" / "broken.xml"
    bad.parent.mkdir()
    bad.write_text("<sr:Request xmlns:sr='x'><unclosed>")
    out = tmp_path / "out"
    good = TEMPLATES / "CCS01_8.11_SUCCESS_REQUEST_DUIS.XML"
    assert main(["duis", str(good), str(bad), "--dmc", "reference", "--out", str(out)]) == 2
    assert "broken.xml" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_dmc_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = TEMPLATES / "CCS01_8.11_SUCCESS_REQUEST_DUIS.XML"
    out = tmp_path / "out"
    assert main(["duis", str(good), "--dmc", "no-such-dmc", "--out", str(out)]) == 2
    assert "no-such-dmc" in capsys.readouterr().err
    assert not out.exists()


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = TEMPLATES / "ECS42_7.1_SUCCESS_REQUEST_DUIS.XML"
    assert main(["duis", str(good), "--dmc", "reference", "--out", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["files"][0]["response_code"] == "I0"
    assert printed["files"][0]["output"] == "ECS42_7.1_SUCCESS_REQUEST_DUIS.response.xml"


def test_device_answers_are_signed_smets1_responses(reference_run: Any) -> None:
    from s1bench.harness.dcc.smets_response import SMETS_ELEMENT, verify_smets1_response

    _, out, index = reference_run
    certificate = (out / index["s1sp_certificate"]).read_bytes()
    assert b"PRIVATE" not in certificate
    signed = [e for e in index["files"] if e.get("shape") == "SMETS1ResponseMessage"]
    assert len(signed) == 85
    for entry in index["files"]:
        # Every I0 the S1SP wrote for a device with an MMC element is signed SMETS1 data.
        if entry["response_code"] == "I0" and entry["srv"] in SMETS_ELEMENT \
                and entry["answered_by"] == "s1sp":
            assert entry["shape"] == "SMETS1ResponseMessage", entry["file"]
    for entry in signed:
        xml = (out / entry["output"]).read_bytes()
        element, _ = verify_smets1_response(xml, certificate)
        assert element == SMETS_ELEMENT[entry["srv"]], entry["file"]
    refused = next(e for e in signed if e["device_success"] is False)
    assert b'MessageSuccess="false"' in (out / refused["output"]).read_bytes()


def test_a_tampered_signed_response_fails_verification(reference_run: Any) -> None:
    from s1bench.harness.dcc.signing import SignatureInvalid
    from s1bench.harness.dcc.smets_response import verify_smets1_response

    _, out, index = reference_run
    certificate = (out / index["s1sp_certificate"]).read_bytes()
    entry = next(e for e in index["files"] if e["srv"] == "4.1.1"
                 and e.get("shape") == "SMETS1ResponseMessage")
    xml = (out / entry["output"]).read_bytes()
    value = re.search(rb"<ra:Value>(\d+)</ra:Value>", xml) or re.search(
        rb"Value>(\d+)<", xml)
    assert value is not None
    tampered = xml.replace(value.group(0), value.group(0).replace(
        value.group(1), str(int(value.group(1)) + 1).encode()), 1)
    with pytest.raises(SignatureInvalid):
        verify_smets1_response(tampered, certificate)
