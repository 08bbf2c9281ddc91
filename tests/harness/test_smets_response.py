"""SMETS1 responses in their signed DUIS shape, S1SP alerts and DCC alerts.

Each document is checked as a user's DUIS adaptor would check it: validate
it against the DUIS 5.4 schema, then verify the S1SP signature with the
certificate file s1bench writes.
"""

from __future__ import annotations

import hashlib
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from s1bench.emulator.headend import Alert
from s1bench.emulator.hub_services import HANDLERS
from s1bench.harness import duis_xml
from s1bench.harness.dcc.s1sp import HEADEND
from s1bench.harness.dcc.service_logs import EXAMPLE_BODIES as LOGS_BODIES
from s1bench.harness.dcc.service_tariff import EXAMPLE_BODIES as TARIFF_BODIES
from s1bench.harness.dcc.signing import S1spSigner, SignatureInvalid, verify
from s1bench.harness.dcc.smets_response import (
    COS_LOSS_ALERT_CODE,
    DCC_ALERT_CODES,
    FILLED_GAPS,
    NO_SMETS_ELEMENT,
    RA_NS,
    SMETS_ELEMENT,
    render_dcc_alert,
    render_s1sp_alert,
    render_smets1_device_alert,
    render_smets1_response,
    verify_smets1_device_alert,
    verify_smets1_response,
)

XS = "http://www.w3.org/2001/XMLSchema"
SR = f"{{{duis_xml.SR_NS}}}"
RA = f"{{{RA_NS}}}"
USER = "90-B3-D5-1F-30-01-00-00"
METER = "00-DB-12-34-56-78-90-A0"
IHD = "00-DB-12-34-56-78-90-A5"
RID = f"{USER}:{METER}:1000"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# One success body per SRV, in the shape its hub_services handler returns.
BODIES: dict[str, dict[str, Any]] = {
    "1.2.1": {"Tariff": "TOU", "Price": 1234, "PriceScale": -5, "StandingCharge": 25},
    "2.2": {"TopUpValue": 1000, "CreditRemaining": 2500},
    "2.5": {"EmergencyCreditActivated": True, "EmergencyCreditRemaining": 500},
    "3.1": {"MessageDisplayed": True},
    "4.1.1": {"ImportRegister": 12.345, "ImportRegisterUnit": "kWh", "InstantaneousDemand": 2024},
    "4.3": {"CreditRemaining": 1500, "EmergencyCreditRemaining": 500, "AccumulatedDebt": 200,
            "Currency": "GBP pence"},
    "4.18": {"MeterBalance": 1300, "EmergencyCreditBalance": 500, "Currency": "GBP pence"},
    "6.5": {"RMSExtremeOverVoltageThreshold": 280, "RMSVoltageSagThreshold": 200},
    "6.7": {"UncontrolledGasFlowRate": 61680},
    "6.11": {"DeviceDateTime": "2024-05-01T11:59:58Z"},
    "6.12": {"LowMediumPowerThreshold": 1000, "MediumHighPowerThreshold": 5000},
    "6.13": {"LogToRead": "Event", "Events": [
        {"EventCode": "8F20", "DateTime": "2024-05-01T11:00:00Z",
         "Detail": "device reset by the hub"},
        {"EventCode": "8F84", "DateTime": "2024-05-01T11:30:00Z", "Detail": ""},
    ]},
    "6.15.1": {"RemotePartyRole": "Supplier", "CredentialFingerprint": "0123456789ABCDEF"},
    "6.22": {"AlertSettings": {"8F84": "Enable"}},
    "6.23": {"RemotePartyRole": "Supplier", "CredentialFingerprint": "FEDCBA9876543210"},
    "6.24.1": {"Credentials": {"Supplier": "0123456789ABCDEF", "NetworkOperator":
                               "1111111111111111", "ACB": "2222222222222222"}},
    "7.1": {"SupplyStatus": "Enabled"},
    "7.2": {"SupplyStatus": "Disabled"},
    "7.3": {"SupplyStatus": "Armed"},
    "7.4": {"SupplyStatus": "Armed"},
    "7.5": {"AuxiliaryLoad": 1, "State": "On"},
    "7.6": {"AuxiliaryLoad": 1, "State": "Off"},
    "7.9": {"AuxiliaryLoad": 2, "OnBoostButton": True},
    "7.10": {"AuxiliaryLoad": 2, "OnBoostButton": False},
    "7.11": {"BoostLoads": [1, 3]},
    "8.7.1": {"OtherDeviceID": IHD, "Joined": True},
    "8.7.2": {"OtherDeviceID": IHD, "Joined": True},
    "8.8.1": {"OtherDeviceID": IHD, "Joined": False},
    "8.8.2": {"OtherDeviceID": IHD, "Joined": False},
    "8.9": {"DeviceLog": [{"DeviceID": METER, "DeviceType": "ESME", "Joined": True},
                          {"DeviceID": IHD, "DeviceType": "IHD", "Joined": False}]},
    "8.11": {"DeviceID": IHD, "RequestType": "Add", "JoinTimePeriod": 90,
             "PermitJoinRequests": 1},
    "11.2": {"FirmwareVersion": "2.31.4"},
}
# The SMETS1 service families keep an example body per SRV they add.
BODIES.update(LOGS_BODIES)
BODIES.update(TARIFF_BODIES)


@pytest.fixture(scope="module")
def schema() -> Any:
    return duis_xml.load_schema()


@pytest.fixture(scope="module")
def signer() -> S1spSigner:
    return S1spSigner(seed=7)


@pytest.fixture(scope="module")
def cert_file(signer: S1spSigner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return signer.write_certificate(tmp_path_factory.mktemp("s1sp") / "s1sp.pem")


def _valid(schema: Any, xml: bytes) -> list[str]:
    root = etree.fromstring(xml)
    return [f"{err.path}: {err.reason}" for err in schema.iter_errors(root)]


def _smets_member(xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    data = root.find(f".//{RA}SMETSData")
    assert data is not None
    return data[0]


def _render(signer: S1spSigner, srv: str, body: dict[str, Any] | None, **kw: Any) -> bytes:
    return render_smets1_response(RID, srv, "I0", WHEN, body, signer, **kw)


# --------------------------------------------------------------------------- the tables


def test_tables_cover_every_srv_the_emulator_carries_out() -> None:
    handled = {srv for srv, (op, _) in HEADEND.items() if op in HANDLERS}
    assert set(SMETS_ELEMENT) | set(NO_SMETS_ELEMENT) == handled
    assert not set(SMETS_ELEMENT) & set(NO_SMETS_ELEMENT)
    assert set(BODIES) == set(SMETS_ELEMENT)
    assert set(FILLED_GAPS) <= set(SMETS_ELEMENT)


def test_every_element_name_is_a_smetsdata_member_of_the_schema() -> None:
    mmc = etree.parse(str(duis_xml._default_schema_dir() / "MMC Schema V5.4.xsd"))
    members = set(mmc.xpath("//xs:element[@name='SMETSData']//xs:choice/xs:element/@name",
                            namespaces={"xs": XS}))
    assert len(members) == 112
    assert {name for name in SMETS_ELEMENT.values() if name not in members} == set()
    assert "ReadInventoryRsp" not in members  # why 8.2 is in NO_SMETS_ELEMENT


def test_dcc_alert_codes_match_the_schema() -> None:
    duis = etree.parse(str(duis_xml._default_schema_dir() / duis_xml.SCHEMA_ENTRY))
    codes = duis.xpath("//xs:element[@name='DCCAlertCode']//xs:enumeration/@value",
                       namespaces={"xs": XS})
    assert tuple(codes) == DCC_ALERT_CODES


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("srv", sorted(SMETS_ELEMENT, key=lambda s: tuple(map(int, s.split(".")))))
def test_success_response_validates_verifies_and_names_its_srv(
    srv: str, schema: Any, signer: S1spSigner, cert_file: Path
) -> None:
    xml = _render(signer, srv, BODIES[srv])
    assert _valid(schema, xml) == []
    name, smets1 = verify_smets1_response(xml, cert_file.read_bytes())
    assert name == SMETS_ELEMENT[srv]
    assert smets1.findtext(f"{SR}Header/{RA}ServiceReferenceVariant") == srv
    assert smets1.findtext(f"{SR}Header/{RA}BusinessOriginatorID") == METER
    assert smets1.findtext(f"{SR}Header/{RA}BusinessTargetID") == USER
    assert _smets_member(xml).get("MessageSuccess") == "true"


def test_device_values_land_in_the_typed_elements(signer: S1spSigner) -> None:
    elec = _smets_member(_render(signer, "4.1.1", BODIES["4.1.1"]))
    assert elec.findtext(f"{RA}Electricity/{RA}ActiveImportRegister/{RA}Value") == "12345"
    gas = _smets_member(_render(signer, "4.1.1", {"ImportRegister": 1.234,
                                                  "ImportRegisterUnit": "m3"}))
    assert gas.findtext(f"{RA}Gas/{RA}ConsumptionRegister/{RA}Value") == "1.234"
    prepay = _smets_member(_render(signer, "4.3", BODIES["4.3"]))
    assert prepay.findtext(f"{RA}MeterBalance") == "1300"  # credit 1500 - debt 200, as 4.18
    assert prepay.findtext(f"{RA}AccumulatedDebtRegister") == "200"
    log = _smets_member(_render(signer, "6.13", BODIES["6.13"]))
    assert log.findtext(f"{RA}Log/{RA}LogEntry/{RA}LogCode") == "8F20"
    assert log.findtext(f"{RA}Log/{RA}LogEntry/{RA}Timestamp") == "2024-05-01T11:00:00.000Z"
    boost = _smets_member(_render(signer, "7.11", BODIES["7.11"]))
    assert [boost.findtext(f"{RA}BoostFunctionControl{n}Value") for n in range(1, 6)] == [
        "true", "false", "true", "false", "false"]
    meter_log = _smets_member(_render(signer, "8.9", BODIES["8.9"], device_type="ESME"))
    assert [e.text for e in meter_log.iter(f"{RA}DeviceType")] == ["ESME", "Type2"]


def test_refusal_carries_message_success_false_and_device_status(
    schema: Any, signer: S1spSigner, cert_file: Path
) -> None:
    xml = _render(signer, "8.7.1", {}, message_success=False, device_status=0x87,
                  device_error="device refused: join not permitted")
    assert _valid(schema, xml) == []
    member = _smets_member(xml)
    assert member.get("MessageSuccess") == "false"
    assert member.find(f"{RA}joinResponseCode").get("ResponseCode") == "135"
    debug = etree.fromstring(xml).find(f".//{RA}SMETS1Debug/{RA}SMETS1Response")
    assert debug.get("ResponseCode") == "135"
    assert verify_smets1_response(xml, cert_file.read_bytes())[0] == "JoinServiceCriticalRsp"
    # An empty refusal of a register read still needs the Electricity|Gas choice.
    assert _valid(schema, _render(signer, "4.1.1", {}, message_success=False,
                                  device_type="GSME")) == []


def test_values_the_schema_cannot_hold_are_refused_by_name(signer: S1spSigner) -> None:
    with pytest.raises(duis_xml.DuisError, match=r"ImportRegister 12\.3456 kWh"):
        _render(signer, "4.1.1", {"ImportRegister": 12.3456, "ImportRegisterUnit": "kWh"})
    with pytest.raises(duis_xml.DuisError, match="SupplyStatus 'Unknown'"):
        _render(signer, "7.4", {"SupplyStatus": "Unknown"})
    with pytest.raises(duis_xml.DuisError, match="DSP"):
        _render(signer, "8.2", {"Devices": []})
    with pytest.raises(duis_xml.DuisError, match="ResponseCode list"):
        render_smets1_response(RID, "4.1.1", "W1", WHEN, {}, signer)
    with pytest.raises(duis_xml.DuisError, match="time zone"):
        render_smets1_response(RID, "11.2", "I0", datetime(2024, 5, 1), {}, signer)


# --------------------------------------------------------------------------- signatures


def test_changing_a_value_after_signing_fails_verification(
    signer: S1spSigner, cert_file: Path
) -> None:
    xml = _render(signer, "4.1.1", BODIES["4.1.1"])
    assert b"<ra:Value>12345</ra:Value>" in xml
    tampered = xml.replace(b"<ra:Value>12345</ra:Value>", b"<ra:Value>12346</ra:Value>")
    with pytest.raises(SignatureInvalid, match="digest mismatch"):
        verify_smets1_response(tampered, cert_file.read_bytes())


def test_another_signers_certificate_fails_verification(signer: S1spSigner) -> None:
    xml = _render(signer, "11.2", BODIES["11.2"])
    with pytest.raises(SignatureInvalid, match="does not verify with certificate"):
        verify_smets1_response(xml, S1spSigner(seed=8).certificate_pem())


def test_certificate_in_keyinfo_is_not_trusted_on_its_own(signer: S1spSigner) -> None:
    # A forger signs with their own key; the KeyInfo then holds their certificate.
    forged = _render(S1spSigner(seed="forger"), "11.2", BODIES["11.2"])
    with pytest.raises(SignatureInvalid):
        verify_smets1_response(forged, signer.certificate_pem())


def test_certificate_file_holds_the_certificate_only(
    signer: S1spSigner, cert_file: Path
) -> None:
    text = cert_file.read_text()
    assert text.startswith("-----BEGIN CERTIFICATE-----")
    assert text.count("-----BEGIN ") == 1
    assert "PRIVATE" not in text
    assert stat.S_IMODE(cert_file.stat().st_mode) == 0o644
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert cert.subject.rfc4514_string() == "CN=s1bench S1SP (emulated\\, not a DCC key)"


def test_repr_shows_no_key_material(signer: S1spSigner) -> None:
    # The key as S1spSigner documents it: sha256("s1bench-s1sp:<seed>") into 1..n-1.
    digest = hashlib.sha256(b"s1bench-s1sp:7").digest()
    scalar = int.from_bytes(digest, "big") % (P256_ORDER - 1) + 1
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    assert key.public_key() == signer.certificate.public_key()  # it is the real key
    shown = repr(signer) + str(signer)
    assert signer.fingerprint in shown
    for form in (str(scalar), f"{scalar:064x}", f"{scalar:064X}", digest.hex(), "PRIVATE"):
        assert form not in shown
    with pytest.raises(TypeError, match="not exportable"):
        signer._key.private_bytes(None, None, None)


def test_same_seed_gives_identical_bytes_and_another_seed_another_certificate() -> None:
    first = _render(S1spSigner(seed=3), "4.1.1", BODIES["4.1.1"])
    again = _render(S1spSigner(seed=3), "4.1.1", BODIES["4.1.1"])
    assert first == again
    assert S1spSigner(seed=3).certificate_pem() == S1spSigner(seed=3).certificate_pem()
    assert S1spSigner(seed=3).certificate_pem() != S1spSigner(seed=4).certificate_pem()


# --------------------------------------------------------------------------- alerts


def test_s1sp_alert_validates_and_verifies(schema: Any, signer: S1spSigner,
                                           cert_file: Path) -> None:
    xml = render_s1sp_alert("S1SP-MISSING-RESPONSE-CODE", WHEN, signer, request_id=RID,
                            device_id=METER, info="response lost its code",
                            utrn="12345678901234567890")
    assert _valid(schema, xml) == []
    content = verify(xml, cert_file.read_bytes())
    assert content.findtext(f"{SR}S1SPAlertCode") == "S1SP-MISSING-RESPONSE-CODE"
    with pytest.raises(SignatureInvalid):
        verify(xml.replace(b"lost its code", b"was fine"), cert_file.read_bytes())


def test_dcc_alerts_validate(schema: Any) -> None:
    failure = render_dcc_alert("N1", WHEN, device_id=METER, request_id=RID, info="no answer")
    cos = render_dcc_alert(COS_LOSS_ALERT_CODE, WHEN, device_id=METER, request_id=RID,
                           alert="ChangeOfSupplier")
    device_only = render_dcc_alert("AD1", WHEN, device_id=METER, alert="CoSCertificateAlert")
    for xml in (failure, cos, device_only):
        assert _valid(schema, xml) == []
    assert etree.fromstring(failure).findtext(f".//{SR}CommandRequestID") == RID


def test_unknown_dcc_alert_code_is_refused_with_the_allowed_list() -> None:
    with pytest.raises(ValueError, match=r"'N32'.*AD1, N1, N2.*N65, N999"):
        render_dcc_alert("N32", WHEN, device_id=METER, request_id=RID)


def test_cos_loss_alert_code_is_a_schema_code() -> None:
    assert COS_LOSS_ALERT_CODE in DCC_ALERT_CODES


# --------------------------------------------------------------------------- device alerts

POWER = Alert("8F84", METER, datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC), "power")


def _device_alert(signer: S1spSigner, alert: Alert = POWER, counter: int = 7) -> bytes:
    return render_smets1_device_alert(alert, signer, service_user_eui=USER, counter=counter)


def test_device_alert_validates_and_carries_the_alert(schema: Any, signer: S1spSigner,
                                                     cert_file: Path) -> None:
    xml = _device_alert(signer)
    assert _valid(schema, xml) == []
    root = etree.fromstring(xml)
    # Unsolicited: no RequestID; the ResponseID names device, recipient and counter.
    assert root.find(f"{SR}Header/{SR}RequestID") is None
    assert root.findtext(f"{SR}Header/{SR}ResponseID") == f"{METER}:{USER}:7"
    assert root.findtext(f"{SR}Header/{SR}ResponseCode") == "I0"
    assert root.findtext(f"{SR}Header/{SR}ResponseDateTime") == "2024-05-01T12:30:15.250Z"
    code, smets1 = verify_smets1_device_alert(xml, cert_file.read_bytes())
    assert code == "8F84"
    content = smets1.find(f"{SR}Body/{SR}DeviceAlertMessage/{RA}DeviceAlertContent")
    assert content.findtext(f"{RA}AlertDescription") == "power"
    assert content.findtext(f"{RA}Timestamp") == "2024-05-01T12:30:15.250Z"
    assert smets1.findtext(f"{SR}Header/{RA}BusinessOriginatorID") == METER
    assert smets1.findtext(f"{SR}Header/{RA}BusinessTargetID") == USER
    assert smets1.findtext(f"{SR}Header/{RA}OriginatorCounter") == "7"


def test_tampered_device_alert_fails_verification(signer: S1spSigner, cert_file: Path) -> None:
    xml = _device_alert(signer)
    signed_code = b"<ra:GBCSHexAlertCode>8F84</ra:GBCSHexAlertCode>"
    assert signed_code in xml
    with pytest.raises(SignatureInvalid, match="digest mismatch"):
        verify_smets1_device_alert(
            xml.replace(signed_code, b"<ra:GBCSHexAlertCode>8014</ra:GBCSHexAlertCode>"),
            cert_file.read_bytes())
    with pytest.raises(SignatureInvalid):
        verify_smets1_device_alert(xml, S1spSigner(seed=8).certificate_pem())
    # The outer ResponseID is not signed, so it is checked against the signed header.
    moved = xml.replace(f"<sr:ResponseID>{METER}:".encode(),
                        f"<sr:ResponseID>{IHD}:".encode())
    assert moved != xml
    with pytest.raises(duis_xml.DuisError, match="disagrees with the signed header"):
        verify_smets1_device_alert(moved, cert_file.read_bytes())


def test_alerts_and_responses_are_not_mistaken_for_each_other(
    signer: S1spSigner, cert_file: Path
) -> None:
    with pytest.raises(duis_xml.DuisError, match="device alert, not a response"):
        verify_smets1_response(_device_alert(signer), cert_file.read_bytes())
    with pytest.raises(duis_xml.DuisError, match="not a device alert"):
        verify_smets1_device_alert(_render(signer, "11.2", BODIES["11.2"]),
                                   cert_file.read_bytes())


def test_device_alert_values_the_schema_cannot_hold_are_refused(signer: S1spSigner) -> None:
    with pytest.raises(duis_xml.DuisError, match="not hex"):
        _device_alert(signer, Alert("8F8", METER, WHEN))
    with pytest.raises(duis_xml.DuisError, match="time zone"):
        _device_alert(signer, Alert("8F84", METER, datetime(2024, 5, 1)))
    with pytest.raises(duis_xml.DuisError, match="counter"):
        _device_alert(signer, counter=-1)
    # AlertDescription is required: an alert without detail is described by its code.
    bare = _device_alert(signer, Alert("8014", METER, WHEN))
    assert b"<ra:AlertDescription>alert 8014</ra:AlertDescription>" in bare
