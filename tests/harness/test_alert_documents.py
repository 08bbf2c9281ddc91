"""What a run raised besides responses, written as the DUIS documents a user would receive.

Each kind is checked the way a DUIS adaptor would check it: validate against
the DUIS 5.4 schema, verify the S1SP signature where there is one, and read
the values back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from s1bench.emulator.headend import Alert
from s1bench.harness import duis_xml
from s1bench.harness.dcc.alert_documents import (
    DCC_ALERT,
    DEVICE_ALERT,
    S1SP_ALERT,
    S1SP_CODELESS_RESPONSE,
    dcc_alert_documents,
    device_alert_documents,
    s1sp_alert_documents,
    write_alert_documents,
)
from s1bench.harness.dcc.signing import S1spSigner, SignatureInvalid, verify
from s1bench.harness.dcc.smets_response import COS_LOSS_ALERT_CODE, verify_smets1_device_alert

SR = f"{{{duis_xml.SR_NS}}}"
USER = "90-B3-D5-1F-30-01-00-00"
METER = "00-DB-12-00-00-00-00-01"
HUB = "00-DB-12-00-00-00-00-00"
COS_RID = f"{USER}:{METER}:25769803786"
WHEN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def signer() -> S1spSigner:
    return S1spSigner(seed=11)


@pytest.fixture(scope="module")
def certificate(signer: S1spSigner) -> bytes:
    return signer.certificate_pem()


def _cos_record(**extra: Any) -> dict[str, Any]:
    return {"alert": "CoS loss alert", "device": METER, "request_id": COS_RID,
            "raised_at": "2026-01-05T09:00:00.070000+00:00", **extra}


def test_device_alerts_are_numbered_per_device_in_order_raised(
    signer: S1spSigner, certificate: bytes
) -> None:
    alerts = [Alert("8014", METER, WHEN, "voltage"), Alert("8F84", HUB, WHEN, "power"),
              Alert("8F84", METER, WHEN, "power")]
    documents = device_alert_documents(alerts, signer, service_user_eui=USER)
    assert [(d.kind, d.device, d.code, d.extra["counter"]) for d in documents] == [
        (DEVICE_ALERT, METER, "8014", 1), (DEVICE_ALERT, HUB, "8F84", 1),
        (DEVICE_ALERT, METER, "8F84", 2)]
    for document in documents:
        assert document.xml is not None
        assert duis_xml.validate(document.xml) == []
        code, smets1 = verify_smets1_device_alert(document.xml, certificate)
        assert code == document.code
        assert smets1.findtext(".//{*}BusinessOriginatorID") == document.device


def test_one_bad_device_alert_is_recorded_and_the_rest_written(signer: S1spSigner) -> None:
    documents = device_alert_documents(
        [Alert("XYZ", METER, WHEN), Alert("8F84", METER, WHEN, "power")], signer,
        service_user_eui=USER)
    assert documents[0].xml is None and "not hex" in (documents[0].error or "")
    assert documents[1].xml is not None and documents[1].error is None


def test_cos_loss_alert_is_a_dcc_alert_naming_the_6_23_request() -> None:
    (document,) = dcc_alert_documents([_cos_record()])
    assert document.kind == DCC_ALERT and document.error is None and document.xml is not None
    assert duis_xml.validate(document.xml) == []
    root = etree.fromstring(document.xml)
    assert root.findtext(f".//{SR}DCCAlertCode") == COS_LOSS_ALERT_CODE
    assert root.findtext(f".//{SR}DCCAlert/{SR}ChangeOfSupplier/"
                         f"{SR}ChangeOfSupplierServiceRequestID") == COS_RID
    assert root.findtext(f"{SR}Header/{SR}ResponseDateTime") == "2026-01-05T09:00:00.070Z"
    assert document.index_entry("alerts/x.xml") == {
        "file": "alerts/x.xml", "kind": DCC_ALERT, "device": METER,
        "code": COS_LOSS_ALERT_CODE, "time": "2026-01-05T09:00:00.070Z", "signed": False,
        "request_id": COS_RID, "alert": "CoS loss alert"}


def test_reconciled_cos_alert_says_so_and_unknown_records_are_reported() -> None:
    reconciled, unknown = dcc_alert_documents([_cos_record(reconciled=True),
                                               {"alert": "Something else", "device": METER}])
    assert reconciled.extra["reconciled"] is True
    assert reconciled.xml is not None and b"reconciliation" in reconciled.xml
    assert duis_xml.validate(reconciled.xml) == []
    assert unknown.xml is None and "Something else" in (unknown.error or "")


def test_codeless_response_becomes_a_signed_s1sp_alert(signer: S1spSigner,
                                                       certificate: bytes) -> None:
    rid = f"{USER}:{METER}:25769803793"
    record = {"request_id": rid, "device": METER, "code": None,
              "detail": "S1SP wrote the response without a response code (91339)"}
    (document,) = s1sp_alert_documents([record], signer, times={rid: WHEN})
    assert document.kind == S1SP_ALERT and document.xml is not None
    assert duis_xml.validate(document.xml) == []
    content = verify(document.xml, certificate)
    assert content.findtext(f"{SR}S1SPAlertCode") == S1SP_CODELESS_RESPONSE
    assert content.findtext(f"{SR}RequestID") == rid
    assert "91339" in (content.findtext(f"{SR}AdditionalInformation") or "")
    with pytest.raises(SignatureInvalid):
        verify(document.xml.replace(b"(91339)", b"(91340)"), certificate)
    # No time, no invented one.
    (timeless,) = s1sp_alert_documents([record], signer, times={})
    assert timeless.xml is None and "no response time" in (timeless.error or "")


def test_written_files_are_numbered_per_kind_and_stale_ones_removed(
    tmp_path: Path, signer: S1spSigner
) -> None:
    stale = tmp_path / "alerts" / "dcc-alert-0009.xml"
    stale.parent.mkdir()
    stale.write_text("from an earlier run")
    keep = tmp_path / "alerts" / "notes.txt"
    keep.write_text("not ours")
    documents = [*device_alert_documents([Alert("8F84", METER, WHEN, "power")], signer,
                                         service_user_eui=USER),
                 *dcc_alert_documents([_cos_record(), _cos_record(), {"alert": "?"}])]
    entries = write_alert_documents(documents, tmp_path)
    assert [e["file"] for e in entries] == [
        "alerts/device-alert-0001.xml", "alerts/dcc-alert-0001.xml",
        "alerts/dcc-alert-0002.xml", None]
    assert not stale.exists() and keep.exists()
    for entry in entries[:3]:
        assert set(entry) >= {"file", "kind", "device", "code", "time"}
        assert duis_xml.validate((tmp_path / entry["file"]).read_bytes()) == []
