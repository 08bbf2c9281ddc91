"""DUIS XML reading and writing, checked against the shared corpus and the DUIS 5.4 schema.

The templates and schema live beside the repository (../shared); they are the
inputs test engineers already hold, so these tests read them in place.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from s1bench.harness import duis_xml
from s1bench.harness.dcc.messages import RequestID, ResponseCode, ServiceResponse
from s1bench.harness.dcc.srvs import SRVS
from s1bench.harness.duis_xml import (
    DuisError,
    iter_templates,
    load_schema,
    parse_request,
    render_missing_code_note,
    render_response,
    validate,
)

SHARED = Path(__file__).resolve().parents[3] / "shared"
TEMPLATES = SHARED / "duis-templates" / "templates"
RESPONSES = SHARED / "duis-templates" / "responses"
SR = "{http://www.dccinterface.co.uk/ServiceUserGateway}"

RID = RequestID.parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A2:1002")
WHEN = datetime(2026, 1, 5, 9, 0, 0, 250_000, tzinfo=UTC)

@pytest.fixture(scope="module")
def schema():
    return load_schema()


@pytest.fixture(scope="module")
def templates() -> dict[str, duis_xml.DuisRequest]:
    return {path.name: parse_request(path) for path in iter_templates(TEMPLATES)}


def _response(
    code: str | None, srv: str = "4.1.1", body: dict | None = None, **kw
) -> ServiceResponse:
    return ServiceResponse(
        request_id=RID,
        srv=srv,
        response_code=code,
        body={"ImportRegister": 12345} if body is None else body,
        response_datetime=kw.pop("when", WHEN),
        **kw,
    )


def _payload(xml: bytes) -> dict | None:
    text = etree.fromstring(xml).findtext(f"{SR}Body/{SR}ResponseMessage/{SR}GBCSPayload")
    return None if text is None else json.loads(base64.b64decode(text))


# --------------------------------------------------------------------------- requests


def test_every_template_parses(templates):
    assert len(templates) == 297
    for name, request in templates.items():
        assert request.source.endswith(name)
        assert request.srv.startswith(request.service_reference), name
        assert request.body_element, name
        assert request.command_variant >= 1, name


@pytest.mark.parametrize("srv", sorted(SRVS))
def test_catalogue_name_matches_template_body(templates, srv):
    bodies = {r.body_element for r in templates.values() if r.srv == srv}
    assert bodies, f"no template for SRV {srv}"
    assert bodies == {SRVS[srv].name}


def test_ccs01_update_han_device_log(templates):
    request = templates["CCS01_8.11_SUCCESS_REQUEST_DUIS.XML"]
    assert request.srv == "8.11"
    assert request.service_reference == "8.11"
    assert request.command_variant == 1
    assert request.body_element == "UpdateHANDeviceLog"
    assert request.request_id.target == "00-DB-12-34-56-78-90-A2"
    assert request.request_id.counter == 1002
    params = request.params
    assert params["JoinTimePeriod"] == "90"
    assert params["InstallCode"] == "30313233343536373839414243444546"
    assert params["DeviceID"] == "00-DB-12-34-56-78-90-A0"
    assert params["RequestType"] == "Add"


def test_template_request_feeds_the_srv_catalogue(templates):
    service = templates["CCS01_8.11_SUCCESS_REQUEST_DUIS.XML"].to_service_request()
    assert service.srv == "8.11"
    assert service.target == "00-DB-12-34-56-78-90-A2"
    checked = SRVS[service.srv].validate(service.params)
    assert checked["JoinTimePeriod"] == 90
    assert checked["InstallCode"] == bytes.fromhex("30313233343536373839414243444546")


def test_repeated_leaves_become_lists_and_attributes_fold_in(templates):
    params = templates["ECS62Add_7.9_SUCCESS_REQUEST_DUIS.XML"].params
    assert params["AddToBoostButton"] == ["true"] * 5
    assert params["AddToBoostButton@index"] == ["1", "2", "3", "4", "5"]


def test_empty_body_element_gives_no_params_and_empty_markers_give_empty_text():
    doc = f"""<sr:Request xmlns:sr="{SR[1:-1]}" schemaVersion="5.4"><sr:Header>
      <sr:RequestID>{RID}</sr:RequestID><sr:CommandVariant>1</sr:CommandVariant>
      <sr:ServiceReference>4.18</sr:ServiceReference>
      <sr:ServiceReferenceVariant>4.18</sr:ServiceReferenceVariant>
      </sr:Header><sr:Body><sr:ReadMeterBalance/></sr:Body></sr:Request>"""
    assert parse_request(doc.encode()).params == {}
    marker = doc.replace("<sr:ReadMeterBalance/>", "<sr:X><sr:NonSpecifiedYear/></sr:X>")
    assert parse_request(marker.encode()).params == {"NonSpecifiedYear": ""}


GOOD = """<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">
  <sr:Header>
    <sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A2:7</sr:RequestID>
    <sr:CommandVariant>1</sr:CommandVariant>
    <sr:ServiceReference>11.2</sr:ServiceReference>
    <sr:ServiceReferenceVariant>11.2</sr:ServiceReferenceVariant>
  </sr:Header>
  <sr:Body>
    <sr:ReadFirmwareVersion/>
  </sr:Body>
</sr:Request>
"""

BAD_INPUTS = {
    # name: (document, line the error must name, words the reason must contain)
    "not_xml": ("this is not XML\n", 1, "not XML"),
    "truncated": (GOOD[: GOOD.index("</sr:Body>")], 11, "not XML"),
    "wrong_namespace": (GOOD.replace("ServiceUserGateway", "Elsewhere"), 2, "root element"),
    "wrong_root": (GOOD.replace("sr:Request", "sr:Response"), 2, "root element"),
    "no_header": (GOOD.replace("sr:Header>", "sr:Heading>"), 2, "missing Header"),
    "missing_request_id": (
        GOOD.replace(
            "<sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A2:7</sr:RequestID>", ""
        ),
        3,
        "missing Header field RequestID",
    ),
    "malformed_request_id": (GOOD.replace("-A2:7<", "-A2<"), 4, "bad RequestID"),
    "bad_eui_in_request_id": (GOOD.replace("90-B3-D5", "ZZ-B3-D5"), 4, "bad RequestID"),
    "missing_srv": (
        GOOD.replace("<sr:ServiceReferenceVariant>11.2</sr:ServiceReferenceVariant>", ""),
        3,
        "ServiceReferenceVariant",
    ),
    "bad_command_variant": (
        GOOD.replace(">1</sr:Command", ">one</sr:Command"), 5, "CommandVariant"
    ),
    "empty_body": (GOOD.replace("<sr:ReadFirmwareVersion/>", ""), 9, "Body has no child"),
    "no_body": (GOOD.replace("sr:Body>", "sr:Corpus>"), 2, "missing Body"),
    "two_bodies": (
        GOOD.replace("<sr:ReadFirmwareVersion/>", "<sr:ReadFirmwareVersion/><sr:X/>"),
        9,
        "2 child elements",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_file_line_and_reason(tmp_path, case):
    text, line, words = BAD_INPUTS[case]
    path = tmp_path / f"{case}_REQUEST_DUIS.XML"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DuisError) as caught:
        parse_request(path)
    message = str(caught.value)
    assert path.name in message
    assert f"line {line}" in message
    assert words in message
    assert caught.value.line == line


def test_good_document_behind_the_bad_cases_parses():
    request = parse_request(GOOD.encode())
    assert request.srv == "11.2"
    assert request.body_element == "ReadFirmwareVersion"
    assert request.source == "<bytes>"


def test_bad_bytes_and_missing_files_raise_duis_error_only(tmp_path):
    with pytest.raises(DuisError, match="<bytes>"):
        parse_request(b"")
    with pytest.raises(DuisError, match=r"nope\.xml"):
        parse_request(tmp_path / "nope.xml")
    with pytest.raises(DuisError):
        parse_request(b"\xff\xfe<not-really")


def test_doctype_is_refused_without_reading_entities(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    doc = GOOD.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>',
    ).replace("<sr:ReadFirmwareVersion/>", "<sr:Q><sr:Leaf>&x;</sr:Leaf></sr:Q>")
    with pytest.raises(DuisError, match="DOCTYPE") as caught:
        parse_request(doc.encode())
    assert "TOP-SECRET" not in str(caught.value)


def test_iter_templates_lists_only_xml_sorted(tmp_path):
    for name in ("b.XML", "a.xml", "notes.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "sub.xml").mkdir()
    assert [p.name for p in iter_templates(tmp_path)] == ["a.xml", "b.XML"]


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize(
    "code",
    [ResponseCode.SUCCESS, ResponseCode.SRV_NOT_FOR_DEVICE, ResponseCode.UNKNOWN_DEVICE,
     ResponseCode.NO_RESPONSE],
)
def test_rendered_responses_validate(schema, code):
    body = {"ImportRegister": 12345, "ReadAt": WHEN, "Raw": b"\x0a\xff", "Note": "£ ok"}
    xml = render_response(_response(code, body=body, reason="device said -- nothing"))
    assert validate(xml) == []
    root = etree.fromstring(xml)
    assert root.get("schemaVersion") == "5.4"
    assert root.findtext(f"{SR}Header/{SR}ResponseCode") == str(code)
    assert root.findtext(f"{SR}Header/{SR}RequestID") == str(RID)
    assert (
        root.findtext(f"{SR}Header/{SR}ResponseID")
        == "00-DB-12-34-56-78-90-A2:90-B3-D5-1F-30-01-00-00:1002"
    )
    assert root.findtext(f"{SR}Header/{SR}ResponseDateTime") == "2026-01-05T09:00:00.250Z"
    assert _payload(xml) == {
        "ImportRegister": 12345,
        "Note": "£ ok",
        "Raw": "0AFF",
        "ReadAt": "2026-01-05T09:00:00.250000Z",
    }
    assert b"device said" in xml


@pytest.mark.parametrize(
    ("srv", "reference"), [("8.11", "8.11"), ("4.1.1", "4.1"), ("6.15.1", "6.15"), ("11.2", "11.2")]
)
def test_service_reference_follows_duis(schema, srv, reference):
    xml = render_response(_response("I0", srv=srv))
    message = etree.fromstring(xml).find(f"{SR}Body/{SR}ResponseMessage")
    assert message.findtext(f"{SR}ServiceReference") == reference
    assert message.findtext(f"{SR}ServiceReferenceVariant") == srv
    assert validate(xml) == []


def test_every_catalogue_srv_renders_valid(schema):
    bad = {
        srv: errors
        for srv in SRVS
        if (errors := validate(render_response(_response("I0", srv=srv))))
    }
    assert bad == {}


def test_template_service_references_match_the_derivation(templates):
    for name, request in templates.items():
        assert duis_xml.service_reference(request.srv) == request.service_reference, name


def test_empty_body_has_no_payload_and_validates(schema):
    xml = render_response(_response("E19", body={}))
    assert _payload(xml) is None
    assert validate(xml) == []


def test_response_time_is_written_in_utc(schema):
    bst = timezone(timedelta(hours=1))
    xml = render_response(_response("I0", when=datetime(2026, 6, 1, 10, 30, tzinfo=bst)))
    assert etree.fromstring(xml).findtext(f"{SR}Header/{SR}ResponseDateTime") == (
        "2026-06-01T09:30:00.000Z"
    )
    with pytest.raises(DuisError, match="time zone"):
        render_response(_response("I0", when=datetime(2026, 6, 1, 10, 30)))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"code": "W1"}, "ResponseCode list"),
        ({"code": "I00"}, "ResponseCode list"),
        ({"srv": "99.9"}, "ServiceReferenceVariant"),
        ({"body": {"x": object()}}, "JSON"),
        ({"body": {"x": float("nan")}}, "JSON"),
    ],
)
def test_unwritable_responses_are_refused(change, words):
    response = _response(change.get("code", "I0"), srv=change.get("srv", "4.1.1"),
                         body=change.get("body"))
    with pytest.raises(DuisError, match=words):
        render_response(response)


def test_bad_schema_version_is_refused():
    with pytest.raises(DuisError, match="schemaVersion"):
        render_response(_response("I0"), schema_version="five")


def test_held_enumerations_match_the_schema(schema):
    assert set(schema.types["ResponseCode"].enumeration) == duis_xml.RESPONSE_CODES
    assert set(schema.types["ServiceReference"].enumeration) == duis_xml.SERVICE_REFERENCES
    variants = set(schema.types["ServiceReferenceVariant"].enumeration)
    assert variants == duis_xml.SERVICE_REFERENCE_VARIANTS
    assert {duis_xml.service_reference(v) for v in variants} <= duis_xml.SERVICE_REFERENCES
    assert {str(code) for code in ResponseCode} <= duis_xml.RESPONSE_CODES


def test_the_real_dcc_response_validates(schema):
    (sample,) = RESPONSES.glob("*.XML")
    assert validate(sample.read_bytes()) == []


def test_validate_reports_invalid_documents(schema):
    xml = render_response(_response("I0"))
    wrong_code = xml.replace(b">I0<", b">W1<")
    assert any("ResponseCode" in e for e in validate(wrong_code))
    assert validate(b"<unclosed") and validate(b"<unclosed")[0].startswith("line 1")


# --------------------------------------------------------------------------- missing code


def test_code_less_response_has_no_duis_document(schema):
    with pytest.raises(DuisError, match="no schema-valid DUIS response"):
        render_response(_response(None))
    # The claim behind that refusal: the schema rejects a Response without ResponseCode.
    root = etree.fromstring(render_response(_response("I0")))
    header = root.find(f"{SR}Header")
    header.remove(header.find(f"{SR}ResponseCode"))
    assert any("ResponseCode" in e for e in validate(etree.tostring(root)))


def test_missing_code_note_records_an_unconfirmed_outcome():
    note = render_missing_code_note(_response(None, body={"ReadAt": WHEN}, reason="quirk 91339"))
    assert note["response_code"] is None
    assert note["outcome"] == "unconfirmed"
    assert note["request_id"] == str(RID)
    assert note["response_id"] == RID.response_id()
    assert (note["srv"], note["service_reference"]) == ("4.1.1", "4.1")
    assert note["response_datetime"] == "2026-01-05T09:00:00.250Z"
    assert note["body"] == {"ReadAt": "2026-01-05T09:00:00.250000Z"}
    assert note["reason"] == "quirk 91339"
    json.dumps(note)


def test_missing_code_note_refuses_a_coded_response():
    with pytest.raises(DuisError, match="render_response"):
        render_missing_code_note(_response("I0"))


# --------------------------------------------------------------------------- schema loader


def test_schema_dir_env_var_is_honoured(schema, monkeypatch, tmp_path):
    monkeypatch.setenv(duis_xml.SCHEMA_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_schema()
    monkeypatch.setenv(duis_xml.SCHEMA_DIR_ENV, str(SHARED / "duis-schema"))
    assert load_schema() is schema
