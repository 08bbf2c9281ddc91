"""The DSP's own services and its answer to SRVs outside the SMETS1 service.

The DSP answers 5.x schedules, 8.2/8.3/8.4/8.6 inventory, 8.14.x hub status
updates and 12.x from its own data, in the payload elements the DUIS schema
gives them; an SRV the SMETS1 service does not have is refused E11 by the
DSP before the S1SP. Every document validates against DUIS 5.4.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lxml import etree
from s1bench.emulator.clock import VirtualClock
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.cli import main
from s1bench.harness.dcc import DccRole
from s1bench.harness.dcc.documents import render_service_response
from s1bench.harness.dcc.dsp_services import (
    DCC_EUI,
    DEVICE_STATUSES,
    DEVICE_TYPES,
    DSP_SRVS,
    PAYLOAD_ELEMENTS,
    SCHEDULABLE,
    outside_service_reason,
)
from s1bench.harness.dcc.messages import RequestID, ServiceRequest, ServiceResponse
from s1bench.harness.dcc.s1sp import HEADEND
from s1bench.harness.dcc.service_catalogue import smets1_service
from s1bench.harness.dcc.signing import S1spSigner
from s1bench.harness.duis_xml import SR_NS, load_schema, parse_request, validate

SHARED = Path(os.environ.get("S1BENCH_SHARED") or Path(__file__).resolve().parents[3] / "shared")
TEMPLATES = SHARED / "duis-templates" / "templates"
needs_templates = pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")

#: Each DSP-answered template, run alone on a fresh reference installation:
#: (file, response code, payload element or None). 8.4 deletes a device and 12.2
#: pre-notifies one; the templates aim both at a device the DCC already serves
#: (s1bench duis maps the body's DeviceID onto the emulated ESME), which the
#: DSP's inventory holds Commissioned, so both are E5. 5.2 and 5.3 name schedule
#: 123, which nobody created.
TEMPLATE_ANSWERS = [
    ("ECS21a_5.1._DCC_SCHEDULED_REQUEST_DUIS.XML", "I0", "DSPScheduleID"),
    ("5.2_READ_SCHEDULE_REQUEST_DUIS.XML", "I0", None),
    ("5.3_DELETE_SCHEDULE_REQUEST_DUIS.XML", "I0", None),
    ("8.2_READ_INVENTORY_REQUEST_DUIS.XML", "I0", "DSPInventory"),
    ("8.3_DECOMMISSION_DEVICE_REQUEST_DUIS.XML", "I0", None),
    ("8.4_UPDATE_INVENTORY_REQUEST_DUIS.XML", "E5", None),
    ("8.6_SERVICE_OPTIN_REQUEST_DUIS.XML", "I0", "DSPOptIn"),
    ("8.14.1_COMMUNICATIONS_HUB_STATUS_UPDATE_INSTALL_SUCCESS_REQUEST_DUIS.XML", "I0", None),
    ("8.14.2_COMMUNICATIONS_HUB_STATUS_UPDATE_INSTALL_NO_SM_WAN_REQUEST_DUIS.XML", "I0", None),
    ("8.14.3_COMMUNICATIONS_HUB_STATUS_UPDATE_FAULT_RETURN_REQUEST_DUIS.XML", "I0", None),
    ("8.14.4_COMMUNICATIONS_HUB_STATUS_UPDATE_NO_FAULT_RETURN_REQUEST_DUIS.XML", "I0", None),
    ("12.1_REQUEST_WAN_MATRIX_ADDRESS_REQUEST_DUIS.XML", "I0", "DSPWANMatrix"),
    ("12.2_DEVICE_PRE_NOTIFICATION_REQUEST_DUIS.XML", "E5", None),
    ("11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML", "I0", None),
    ("11.4_UPDATE_PPMID_FIRMWARE_REQUEST_DUIS.XML", "E11", None),
    ("8.13_RETURN_LOCAL_COMMAND_RESPONSE_CS06_REQUEST_DUIS.XML", "E11", None),
]

SIGNER = S1spSigner(3)


@pytest.fixture(scope="module")
def schema() -> Any:
    return load_schema()


def on(body: Callable[[DccRole], Awaitable[Any]], dmc: str = "reference") -> Any:
    clock = VirtualClock()
    spec = resolve_dmc(dmc)

    async def run() -> Any:
        inst = build_installation(spec, clock, seed=3)
        inst.start()
        try:
            return await body(DccRole(inst, spec.dcc_quirks, seed=3))
        finally:
            inst.medium.close()

    return clock.run(run())


def to_dcc(dcc: DccRole, srv: str, **params: Any) -> ServiceRequest:
    """A DCC-only request as DUIS addresses it: the RequestID target is the DCC itself."""
    sent = dcc.request(srv, "CHF", user="supplier")
    rid = sent.request_id
    return ServiceRequest(RequestID(rid.originator, DCC_EUI, rid.counter), srv, params)


def document(response: ServiceResponse) -> etree._Element:
    """The response as DUIS XML, after checking it validates."""
    xml, _ = render_service_response(response, SIGNER)
    assert validate(xml) == [], xml.decode()
    return etree.fromstring(xml)


def payload_of(root: etree._Element) -> str | None:
    message = root.find(f"{{{SR_NS}}}Body/{{{SR_NS}}}ResponseMessage")
    assert message is not None
    names = [etree.QName(c).localname for c in message if isinstance(c.tag, str)]
    assert names[:2] == ["ServiceReference", "ServiceReferenceVariant"]
    return names[2] if len(names) > 2 else None


# ------------------------------------------------------------------ the templates

@needs_templates
@pytest.mark.parametrize(("name", "code", "payload"), TEMPLATE_ANSWERS,
                         ids=[t[0].split("_REQUEST")[0] for t in TEMPLATE_ANSWERS])
def test_each_dsp_template_is_answered_by_the_dsp_in_its_duis_shape(
        tmp_path: Path, schema: Any, name: str, code: str, payload: str | None) -> None:
    assert main(["duis", str(TEMPLATES / name), "--dmc", "reference", "--out", str(tmp_path),
                 "--json", "--quiet"]) == 0
    entry, = json.loads((tmp_path / "index.json").read_text())["files"]
    assert (entry["response_code"], entry["answered_by"]) == (code, "dsp"), entry
    xml = (tmp_path / entry["output"]).read_bytes()
    assert validate(xml) == []
    assert payload_of(etree.fromstring(xml)) == payload
    if code != "I0" or payload is None:
        assert entry["reason"], "a DSP answer without a payload says why"


@needs_templates
def test_every_template_srv_outside_the_smets1_service_is_the_dsps() -> None:
    srvs = {parse_request(p).srv for p in TEMPLATES.glob("*.XML")}
    outside = {s for s in srvs if s not in smets1_service()}
    assert set(DSP_SRVS) <= srvs
    assert {s for s in outside if outside_service_reason(s)} == outside - set(DSP_SRVS)
    # Nothing the S1SP carries out today is refused as outside the service.
    assert not [s for s in HEADEND if outside_service_reason(s)]


# ------------------------------------------------------------------ the schema

def test_the_dsp_tables_follow_the_schema(schema: Any) -> None:
    payloads = {e.local_name for e in schema.types["ResponseMessage"].content.iter_elements()}
    assert payloads >= PAYLOAD_ELEMENTS
    assert tuple(schema.types["DeviceType"].enumeration) == DEVICE_TYPES
    assert tuple(schema.types["DeviceStatus"].enumeration) == DEVICE_STATUSES
    variants = schema.types["DSPScheduledServiceReferenceVariant"].enumeration
    assert sorted(SCHEDULABLE) == sorted(variants)
    choice = {e.local_name: e.type.local_name
              for e in schema.types["DSPSchedule"].content.iter_elements()}
    for variant, has_period in SCHEDULABLE.items():
        element = "DSP" + str(smets1_service()[variant]["name"])
        assert element in choice, variant
        assert (choice[element] == "ReadLogPeriodOffset") == has_period, variant


# ------------------------------------------------------------------ inventory

def test_read_inventory_lists_the_installations_devices_as_the_catalogue_says(
        schema: Any) -> None:
    async def body(dcc: DccRole) -> tuple[ServiceResponse, ...]:
        esme = dcc.installation.eui_of("ESME")
        by_device = await dcc.submit(to_dcc(dcc, "8.2", DeviceID=esme))
        by_target = await dcc.send("8.2", "CHF")  # the harness API: the hub stands for the DCC
        to_a_meter = await dcc.send("8.2", "GSME", DeviceID=esme)
        return by_device, by_target, to_a_meter

    by_device, by_target, to_a_meter = on(body)
    assert by_device.answered_by == "dsp" and by_device.response_code == "I0"
    assert by_device.body == by_target.body
    assert (to_a_meter.response_code, to_a_meter.answered_by) == ("E11", "dsp")
    devices = by_device.body["DSPInventory"]["Device"]
    spec = resolve_dmc("reference")

    def expected() -> list[tuple[str, str, str, str]]:
        clock = VirtualClock()
        inst = build_installation(spec, clock, seed=3)
        inst.medium.close()
        return sorted((eui, label.device_type, spec.devices[label.device_type].model,
                       spec.devices[label.device_type].firmware_version)
                      for eui, label in inst.labels.items())

    assert sorted((d["DeviceID"], d["DeviceType"], d["DeviceModel"], d["DeviceFirmwareVersion"])
                  for d in devices) == expected()
    assert devices[0]["DeviceType"] == "CHF"
    assert {d["DeviceStatus"] for d in devices} == {"Commissioned"}
    assert {d["CSPRegion"] for d in devices} == {"SMETS1"}
    root = document(by_device)
    assert payload_of(root) == "DSPInventory"
    assert len(root.findall(f".//{{{SR_NS}}}Device")) == len(devices)


def test_the_dccs_own_migration_read_still_goes_to_the_hub() -> None:
    async def body(dcc: DccRole) -> ServiceResponse:
        return await dcc.send("8.2", "CHF", user="dcc")

    response = on(body)
    assert response.answered_by == "s1sp" and "Devices" in response.body


def test_a_decommissioned_device_gets_e5_from_the_dsp_afterwards(schema: Any) -> None:
    async def body(dcc: DccRole) -> dict[str, ServiceResponse]:
        esme = dcc.installation.eui_of("ESME")
        return {
            "before": await dcc.send("4.1.1", "ESME"),
            "decommission": await dcc.submit(to_dcc(dcc, "8.3", DeviceID=esme)),
            "after": await dcc.send("4.1.1", "ESME"),
            "again": await dcc.submit(to_dcc(dcc, "8.3", DeviceID=esme)),
            "inventory": await dcc.submit(to_dcc(dcc, "8.2", DeviceID=esme)),
            "hub": await dcc.submit(to_dcc(dcc, "8.3", DeviceID=dcc.installation.hub_eui)),
        }

    got = on(body)
    assert got["before"].response_code == "I0"
    assert (got["decommission"].response_code, got["decommission"].answered_by) == ("I0", "dsp")
    assert (got["after"].response_code, got["after"].answered_by) == ("E5", "dsp")
    assert got["again"].response_code == "E5"
    status = {d["DeviceType"]: d["DeviceStatus"]
              for d in got["inventory"].body["DSPInventory"]["Device"]}
    assert status["ESME"] == "Decommissioned" and status["GSME"] == "Commissioned"
    assert got["hub"].response_code == "E11"  # a hub leaves through 8.14, not 8.3
    for response in got.values():
        document(response)


def test_a_returned_hub_is_withdrawn_and_refuses_later_srvs() -> None:
    async def body(dcc: DccRole) -> list[ServiceResponse]:
        hub = dcc.installation.hub_eui
        return [
            await dcc.submit(to_dcc(dcc, "8.14.1", DeviceID=hub, CHFInstallType="New CHF Install",
                                    MPxN="1000999888", AerialInstall="true",
                                    CHFLocation="Deep indoors")),
            await dcc.submit(to_dcc(dcc, "8.14.3", DeviceID=hub, OtherDeviceID=hub,
                                    CHFFaultReturnType="Fault identified post installation",
                                    CHFConnectionMethod="Cradle", CHFFaultReason="LED Fault")),
            await dcc.send("8.9", "CHF"),
            await dcc.submit(to_dcc(dcc, "8.14.4", DeviceID=hub)),
            await dcc.submit(to_dcc(dcc, "8.14.1", DeviceID=dcc.installation.eui_of("ESME"))),
        ]

    install, returned, later, again, not_a_hub = on(body)
    assert install.response_code == returned.response_code == "I0"
    assert (later.response_code, later.answered_by) == ("E5", "dsp")
    assert again.response_code == "E5"
    assert not_a_hub.response_code == "E11"


def test_a_prenotified_device_is_pending_until_deleted(schema: Any) -> None:
    new = "00-DB-12-99-99-99-99-01"

    async def body(dcc: DccRole) -> list[ServiceResponse]:
        return [
            await dcc.submit(to_dcc(dcc, "12.2", DeviceID=new, DeviceManufacturer="AB01",
                                    DeviceModel="010A030B", DeviceType="ESME",
                                    FirmwareVersion="0002012F", ESMEVariant="AD")),
            await dcc.submit(to_dcc(dcc, "12.2", DeviceID=new, DeviceManufacturer="AB01",
                                    DeviceModel="010A030B", DeviceType="ESME")),
            await dcc.submit(to_dcc(dcc, "8.2", DeviceID=new)),
            await dcc.submit(to_dcc(dcc, "8.4", DeviceID=new, DeviceModel="010A030C")),
            await dcc.submit(to_dcc(dcc, "8.4", DeviceID=new, UpdateMPxN="",
                                    ImportMPxN="1312345678111")),
            await dcc.submit(to_dcc(dcc, "8.2", MPxN="1312345678111")),
            await dcc.submit(to_dcc(dcc, "8.4", DeviceID=new, DeleteDevice="")),
            await dcc.submit(to_dcc(dcc, "8.2", DeviceID=new)),
        ]

    added, twice, read, details, mpxn, by_mpxn, deleted, gone = on(body)
    assert added.response_code == "I0" and twice.response_code == "E5"
    device, = read.body["DSPInventory"]["Device"]
    assert (device["DeviceStatus"], device["DeviceModel"], device["ESMEVariant"]) == (
        "Pending", "010A030B", "AD")
    assert "CSPRegion" not in device  # not installed in a SMETS1 installation
    assert details.response_code == mpxn.response_code == deleted.response_code == "I0"
    device, = by_mpxn.body["DSPInventory"]["Device"]
    assert (device["DeviceModel"], device["ImportMPxN"]) == ("010A030C", "1312345678111")
    assert gone.response_code == "E19"
    for response in (added, twice, read, details, by_mpxn, deleted, gone):
        document(response)


def test_opt_in_hands_out_the_brokers_key_agreement_certificate(schema: Any) -> None:
    async def body(dcc: DccRole) -> list[ServiceResponse]:
        esme = dcc.installation.eui_of("ESME")
        return [await dcc.submit(to_dcc(dcc, "8.6", DeviceID=esme, DeviceType=kind,
                                        ImportMPxN="1312345678111", OptInDate="2015-02-01"))
                for kind in ("ESME", "GSME")]

    opted, wrong_type = on(body)
    assert opted.response_code == "I0" and wrong_type.response_code == "E12"
    root = document(opted)
    der = root.findtext(f".//{{{SR_NS}}}DSPBrokerSecurityCredentialsKeyAgreement")
    certificate = x509.load_der_x509_certificate(base64.b64decode(der))
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_agreement
    assert "not a DCC key" in certificate.subject.rfc4514_string()


def test_wan_matrix_echoes_the_request(schema: Any) -> None:
    async def body(dcc: DccRole) -> list[ServiceResponse]:
        return [await dcc.submit(to_dcc(dcc, "12.1", UPRN="100023336956")),
                await dcc.submit(to_dcc(dcc, "12.1", PostCode="M2", AddressIdentifier="x"))]

    by_uprn, short = on(body)
    assert by_uprn.body["DSPWANMatrix"]["Request"] == {"UPRN": "100023336956"}
    assert by_uprn.body["DSPWANMatrix"]["DSPWANMatrixResponse"][0]["CSPRegion"] == "SMETS1"
    assert short.response_code == "E12"  # a post code the schema would not take
    document(by_uprn)


# ------------------------------------------------------------------ schedules

def test_schedules_are_created_read_run_on_the_virtual_clock_and_deleted(schema: Any) -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        esme = dcc.installation.eui_of("ESME")
        today = dcc.clock.now().date().isoformat()
        create = dict(ScheduleFrequency="Daily", ScheduleStartDate=today,
                      DSPScheduledServiceReference="4.6",
                      DSPScheduledServiceReferenceVariant="4.6.1", DeviceID=esme,
                      StartDateOffset="-1", StartTime="00:00:00.00Z", EndDateOffset="0",
                      EndTime="00:00:00.00Z")
        out: dict[str, Any] = {"created": await dcc.submit(to_dcc(dcc, "5.1", **create))}
        out["ppmid"] = await dcc.submit(to_dcc(dcc, "5.1", **{
            **create, "DeviceID": dcc.installation.eui_of("PPMID")}))
        schedule_id = str(out["created"].body["DSPScheduleID"])
        out["read"] = await dcc.submit(to_dcc(dcc, "5.2", DSPScheduleID=schedule_id))
        out["by_device"] = await dcc.submit(to_dcc(dcc, "5.2", DeviceID=esme))
        before = len(dcc.exchanges)
        await dcc.clock.sleep(2 * 86_400)
        out["runs"] = [e for e in dcc.exchanges[before:] if e.request["srv"] == "4.6.1"]
        out["deleted"] = await dcc.submit(to_dcc(dcc, "5.3", DSPScheduleID=schedule_id))
        out["read_again"] = await dcc.submit(to_dcc(dcc, "5.2", DSPScheduleID=schedule_id))
        return out

    got = on(body)
    assert got["created"].response_code == "I0" and got["created"].body == {"DSPScheduleID": 1}
    assert got["ppmid"].response_code == "E11"  # 4.6.1 does not apply to a PPMID
    assert payload_of(document(got["created"])) == "DSPScheduleID"
    schedules = got["read"].body["DSPSchedulesRead"]["DSPSchedules"]
    assert [s["DSPScheduleID"] for s in schedules] == [1]
    details = schedules[0]["DSPScheduleDetails"]
    assert details["DSPRetrieveImportDailyReadLog"]["StartDateOffset"] == -1
    assert got["by_device"].body == got["read"].body
    assert payload_of(document(got["read"])) == "DSPSchedulesRead"
    # Two virtual days: two runs, sent by the DSP itself, each reading the day before.
    assert len(got["runs"]) == 2
    for run in got["runs"]:
        assert run.request["request_id"].startswith(DCC_EUI + ":")
        start = run.request["params"]["StartDateTime"]
        end = run.request["params"]["EndDateTime"]
        assert start.endswith("T00:00:00Z") and end.endswith("T00:00:00Z") and start < end
    assert got["deleted"].response_code == got["read_again"].response_code == "I0"
    assert got["read_again"].body == {} and "no schedule" in got["read_again"].reason


# ------------------------------------------------------------------ outside the service

def test_an_srv_outside_the_smets1_service_is_refused_e11_by_the_dsp(schema: Any) -> None:
    async def body(dcc: DccRole) -> list[ServiceResponse]:
        return [
            await dcc.submit(to_dcc(dcc, "8.13")),
            await dcc.send("6.2.3", "ESME"),
            await dcc.send("11.4", "PPMID", user="dno:ukpn"),  # access control comes first
        ]

    local_response, billing_calendar, wrong_role = on(body)
    for response in (local_response, billing_calendar):
        assert (response.response_code, response.answered_by) == ("E11", "dsp")
        assert "outside the DCC's SMETS1 service" in (response.reason or "")
        root = document(response)
        assert payload_of(root) is None
    assert wrong_role.response_code == "E2"


def test_a_schedules_next_run_is_never_the_one_just_run() -> None:
    """A run that takes no virtual time must not fire the same occurrence again."""
    from datetime import UTC, date, datetime, time

    from s1bench.harness.dcc.dsp_services import Schedule

    async def body(dcc: DccRole) -> None:
        services = dcc.dsp_services
        monthly = Schedule(1, "supplier", "x", "4.6.1", "y", "Monthly", date(2024, 1, 31), None,
                           time(tzinfo=UTC), {})
        first = datetime(2024, 1, 31, tzinfo=UTC)
        assert services.next_run(monthly, first) == first
        # Day 31 clamps to the month's last day, counted from the start date each time.
        assert services.next_run(monthly, first, strictly=True) == datetime(2024, 2, 29,
                                                                            tzinfo=UTC)
        assert services.next_run(monthly, datetime(2024, 3, 1, tzinfo=UTC)) == datetime(
            2024, 3, 31, tzinfo=UTC)
        ended = Schedule(2, "supplier", "x", "4.6.1", "y", "Weekly", date(2024, 1, 1),
                         date(2024, 1, 10), time(tzinfo=UTC), {})
        assert services.next_run(ended, datetime(2024, 1, 9, tzinfo=UTC)) is None

    on(body)


def test_update_firmware_is_taken_by_the_dsp_and_distributed_to_the_listed_meters(
        schema: Any) -> None:
    image = b"s1bench image 2.0"

    async def body(dcc: DccRole) -> tuple[ServiceResponse, ServiceResponse, list[Any]]:
        inst = dcc.installation
        listed = ",".join([inst.eui_of("ESME"), inst.eui_of("GSME"), inst.eui_of("IHD"),
                           "00-11-22-33-44-55-66-77"])
        update = await dcc.submit(to_dcc(dcc, "11.1", FirmwareVersion="2.0",
                                         FirmwareImage=base64.b64encode(image).decode(),
                                         DeviceIDList=listed))
        await dcc.clock.sleep(60)
        gas = await dcc.send("11.3", "GSME",
                             FirmwareHash=hashlib.sha256(image).hexdigest())
        return update, gas, dcc.dsp_services.firmware_deliveries

    update, gas, deliveries = on(body)
    assert (update.response_code, update.answered_by) == ("I0", "dsp")
    root = document(update)
    assert payload_of(root) == "DSPUpdateFirmwareWarning"
    warning = update.body["DSPUpdateFirmwareWarning"]
    assert warning["InvalidDeviceIDList"] == "00-11-22-33-44-55-66-77"
    assert "NotApplicableFirmwareDeviceIDList" in warning  # the IHD's firmware is not sent
    assert sorted(d["delivered"] for d in deliveries) == [True, True]
    assert gas.ok and gas.device_success and gas.body["FirmwareVersion"] == "2.0"
