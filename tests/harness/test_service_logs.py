"""The logs family of the SMETS1 service: profiles and logs that agree with the register.

The acceptance's profile point first: after seven virtual days a 4.8.1 over
them returns 336 half-hours that sum to the register's advance, and the
4.6.1 daily reads are the register at each midnight, all read over real HAN
exchanges (Get Profile, Get Snapshot). Then each other SRV of the family:
what a write sets, a read returns, and every response renders as a
schema-valid signed SMETS1 response, refusals included.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lxml import etree
from s1bench.emulator import meter_logs as ml
from s1bench.emulator.clock import VirtualClock
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.cli import main
from s1bench.harness.dcc import DccRole
from s1bench.harness.dcc.documents import SMETS1, render_service_response
from s1bench.harness.dcc.messages import ServiceResponse
from s1bench.harness.dcc.s1sp import HEADEND
from s1bench.harness.dcc.service_logs import EXAMPLE_BODIES
from s1bench.harness.dcc.signing import S1spSigner
from s1bench.harness.dcc.smets_response import (
    RA_NS,
    SMETS_ELEMENT,
    render_smets1_response,
    verify_smets1_response,
)
from s1bench.harness.dcc.srvs import SRVS
from s1bench.harness.duis_xml import load_schema, parse_request, validate

SHARED = Path(os.environ.get("S1BENCH_SHARED") or Path(__file__).resolve().parents[3] / "shared")
TEMPLATES = SHARED / "duis-templates" / "templates"
RA = f"{{{RA_NS}}}"
WEEK = 7 * 86_400
HALF_HOUR = 1800

FAMILY = ("4.2", "4.4.2", "4.4.3", "4.4.4", "4.4.5", "4.6.1", "4.6.2", "4.8.1", "4.8.2",
          "4.8.3", "4.10", "4.12.1", "4.12.2", "4.14", "4.16", "4.17", "6.14.1", "6.14.2",
          "6.15.2", "6.17", "6.18.1", "6.18.2", "6.21", "6.24.2", "6.28", "6.29", "6.30",
          "6.31", "6.32", "7.7", "7.8", "7.12", "7.13", "7.14", "7.15", "7.16", "8.1.1", "8.5",
          "8.12.1", "8.12.2", "11.3", "14.1")


def on(body: Callable[[DccRole], Awaitable[Any]], dmc: str = "reference") -> Any:
    clock = VirtualClock()
    spec = resolve_dmc(dmc)

    async def run() -> Any:
        inst = build_installation(spec, clock, seed=4)
        inst.start()
        try:
            return await body(DccRole(inst, spec.dcc_quirks, seed=4))
        finally:
            inst.medium.close()

    return clock.run(run())


def boundary(now: datetime) -> datetime:
    """The next half-hour boundary (or now, when on one)."""
    floor = now.replace(minute=now.minute // 30 * 30, second=0, microsecond=0)
    return floor if floor == now else floor + timedelta(minutes=30)


async def register(dcc: DccRole, device: str) -> int:
    """The import register in Wh (or dm3), read with 4.1.1 (reported in kWh or m3)."""
    response = await dcc.send("4.1.1", device)
    assert response.ok, response.reason
    return round(response.body["ImportRegister"] * 1000)


def signed(response: ServiceResponse, device_type: str) -> etree._Element:
    """The response's SMETSData member, after schema validation and signature check."""
    signer = S1spSigner(0)
    xml, shape = render_service_response(response, signer, device_type=device_type)
    assert shape == SMETS1
    assert validate(xml) == [], response.srv
    name, smets1 = verify_smets1_response(xml, signer.certificate_pem())
    assert name == SMETS_ELEMENT[response.srv]
    return smets1.find(f".//{RA}SMETSData")[0]


# --------------------------------------------------------------------------- the acceptance


@pytest.mark.parametrize("device", ["ESME", "GSME"])
def test_a_week_of_half_hours_sums_to_the_register_advance(device: str) -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        start = boundary(dcc.clock.now())
        await dcc.clock.sleep((start - dcc.clock.now()).total_seconds())
        before = await register(dcc, device)
        await dcc.clock.sleep(WEEK - (dcc.clock.now() - start).total_seconds())
        after = await register(dcc, device)
        end = start + timedelta(seconds=WEEK)
        profile = await dcc.send("4.8.1", device, StartDateTime=start, EndDateTime=end)
        reads = await dcc.send("4.6.1", device, StartDateTime=start, EndDateTime=end)
        return {"advance": after - before, "profile": profile, "reads": reads, "start": start,
                "now": await register(dcc, device)}

    got = on(body)
    profile, reads = got["profile"], got["reads"]
    assert profile.ok and reads.ok, (profile.reason, reads.reason)
    periods = profile.body["Periods"]
    assert len(periods) == 336
    assert sum(p["Value"] for p in periods) == got["advance"]
    # Consecutive, oldest first, on the half-hours of the window.
    stamps = [datetime.fromisoformat(p["Timestamp"]) for p in periods]
    assert stamps[0] == got["start"]
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(stamps))
    # A realistic day has a shape: the half-hours are not all the same.
    assert len({p["Value"] for p in periods}) > 48
    # 4.6.1: the register at each midnight; a day's reads differ by its 48 half-hours.
    daily = reads.body["Reads"]
    assert len(daily) == 7
    by_time = {p["Timestamp"]: p["Value"] for p in periods}
    for earlier, later in itertools.pairwise(daily):
        day = datetime.fromisoformat(earlier["Timestamp"])
        halves = [by_time[(day + timedelta(minutes=30 * i)).isoformat().replace("+00:00", "Z")]
                  for i in range(48)]
        assert later["Register"] - earlier["Register"] == sum(halves)
    assert daily[-1]["Register"] <= got["now"]
    # Both render as the MMC types, schema-valid and signed.
    member = signed(profile, device)
    assert len(member.findall(f"{RA}LogEntry")) == 336
    fuel = "Gas" if device == "GSME" else "Electricity"
    assert member.find(f"{RA}LogEntry/{RA}{fuel}/{RA}PrimaryValue") is not None
    assert len(signed(reads, device).findall(f"{RA}LogEntry")) == 7


def test_profile_is_read_over_get_profile_and_reads_over_get_snapshot() -> None:
    """The reads are HAN exchanges: Get Profile pages of at most 16 intervals."""
    seen: list[tuple[int, int]] = []

    async def body(dcc: DccRole) -> None:
        await dcc.clock.sleep(86_400)
        link = dcc.installation.hub.link
        send = link.send_zcl

        def spy(short: int, cluster: int, frame: Any) -> None:
            seen.append((cluster, frame.command))
            send(short, cluster, frame)

        link.send_zcl = spy
        end = boundary(dcc.clock.now()) - timedelta(minutes=30)
        await dcc.send("4.8.1", "ESME", StartDateTime=end - timedelta(days=1), EndDateTime=end)
        await dcc.send("4.6.1", "ESME", StartDateTime=end - timedelta(days=1), EndDateTime=end)

    on(body)
    from s1bench.emulator import se

    assert seen.count((se.METERING, se.MET_GET_PROFILE)) == 48 // ml.MAX_PROFILE_PERIODS
    assert seen.count((se.METERING, se.MET_GET_SNAPSHOT)) == 1


def test_supply_off_records_nothing_and_the_register_stands_still() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        start = boundary(dcc.clock.now())
        await dcc.clock.sleep((start - dcc.clock.now()).total_seconds())
        assert (await dcc.send("7.2", "ESME")).ok
        before = await register(dcc, "ESME")
        demand = (await dcc.send("4.16", "ESME")).body["ActivePowerImport"]
        await dcc.clock.sleep(3 * 3600)
        during = await register(dcc, "ESME")
        assert (await dcc.send("7.1", "ESME")).ok
        await dcc.clock.sleep(3 * 3600)
        profile = await dcc.send("4.8.1", "ESME", StartDateTime=start,
                                 EndDateTime=start + timedelta(hours=6))
        return {"before": before, "during": during, "demand": demand,
                "periods": [p["Value"] for p in profile.body["Periods"]]}

    got = on(body)
    assert got["during"] == got["before"]
    assert got["demand"] == 0
    assert got["periods"][:6] == [0] * 6
    assert all(v > 0 for v in got["periods"][7:])


def test_the_model_is_seeded_and_costs_nothing_while_idle() -> None:
    one = ml.ConsumptionModel(7, 500.0, gas=False)
    assert one.day(9500) == ml.ConsumptionModel(7, 500.0, gas=False).day(9500)
    assert one.day(9500) != ml.ConsumptionModel(8, 500.0, gas=False).day(9500)
    # Winter above summer, and gas more so than electricity.
    winter, summer = 9497, 9497 + 182
    gas = ml.ConsumptionModel(7, 500.0, gas=True)
    assert sum(one.day(winter)) > sum(one.day(summer))
    assert sum(gas.day(winter)) / sum(gas.day(summer)) > sum(one.day(winter)) / sum(
        one.day(summer))


# --------------------------------------------------------------------------- logs


def test_maximum_demand_follows_the_profile_and_resets() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        start = boundary(dcc.clock.now())
        await dcc.clock.sleep((start - dcc.clock.now()).total_seconds() + 86_400)
        first = await dcc.send("4.12.1", "ESME")
        since = datetime.fromisoformat(first.body["LastReset"])
        profile = await dcc.send("4.8.1", "ESME", StartDateTime=since,
                                 EndDateTime=start + timedelta(days=1))
        set_period = await dcc.send("6.18.1", "ESME", StartTime="17:00:00.00Z",
                                    EndTime="22:00:00.00Z")
        reset = await dcc.send("6.18.2", "ESME", MaxDemandActivePowerImportValue="")
        after_reset = await dcc.send("4.12.1", "ESME")
        await dcc.clock.sleep(86_400)
        later = await dcc.send("4.12.1", "ESME")
        export = await dcc.send("4.12.2", "ESME")
        return {"first": first, "profile": profile, "set": set_period, "reset": reset,
                "after": after_reset, "later": later, "export": export}

    got = on(body)
    assert all(r.ok for r in got.values()), {k: r.reason for k, r in got.items()}
    periods = got["profile"].body["Periods"]
    best = max(periods, key=lambda p: p["Value"])
    assert got["first"].body["MaxDemand"] == best["Value"] * 2  # W over that half-hour
    assert got["after"].body["MaxDemand"] == 0
    assert got["after"].body["CaptureTime"] is None
    later = got["later"].body
    assert later["MaxDemand"] > 0
    window = later["Configurable"]
    assert (window["StartTime"], window["EndTime"]) == ("17:00:00Z", "22:00:00Z")
    assert "17:00" <= window["CaptureTime"][11:16] <= "22:00"
    assert got["export"].body["MaxDemand"] == 0
    member = signed(got["later"], "ESME")
    assert member.find(f"{RA}MaxDemandConfigurableTimePeriod/{RA}StartTime").text == "17:00:00Z"


def test_top_ups_and_tariff_changes_land_in_the_billing_logs() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        start = dcc.clock.now()
        top_up = await dcc.send("2.2", "ESME", UTRN="73946144332040217315")
        price = await dcc.send("1.2.1", "ESME", TOUPrice=1234)
        await dcc.clock.sleep(2 * 86_400)
        end = dcc.clock.now()
        return {"top_up": top_up, "price": price,
                "credits": await dcc.send("4.4.5", "ESME", StartDateTime=start,
                                          EndDateTime=end),
                "tariff_log": await dcc.send("4.4.2", "ESME", StartDateTime=start,
                                             EndDateTime=end),
                "prepay": await dcc.send("4.14", "ESME", StartDateTime=start, EndDateTime=end),
                "balance": await dcc.send("4.18", "ESME")}

    got = on(body)
    assert got["top_up"].ok and got["price"].ok
    credits = got["credits"].body["TopUps"]
    assert [c["Amount"] for c in credits] == [got["top_up"].body["TopUpValue"]]
    billing = got["tariff_log"].body
    assert len(billing["Billing"]) == 1 and len(billing["Prepayment"]) == 1
    daily = got["prepay"].body["Prepayment"]
    assert len(daily) == 2
    assert daily[-1]["MeterBalance"] == got["balance"].body["MeterBalance"]
    for name in ("credits", "tariff_log", "prepay"):
        signed(got[name], "ESME")


def test_network_data_samples_and_voltage() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        start = dcc.clock.now()
        first = await dcc.send("14.1", "GSME", user="dno:ukpn")
        await dcc.clock.sleep(3600)
        second = await dcc.send("14.1", "GSME", user="dno:ukpn")
        end = boundary(dcc.clock.now())
        await dcc.clock.sleep((end - dcc.clock.now()).total_seconds())
        return {"samples": [first, second],
                "gas": await dcc.send("4.10", "GSME", StartDateTime=start, EndDateTime=end),
                "elec": await dcc.send("4.10", "ESME", StartDateTime=end - timedelta(hours=2),
                                       EndDateTime=end)}

    got = on(body)
    assert [s.body["SampleID"] for s in got["samples"]] == [1, 2]
    gas = got["gas"].body["NetworkData"]
    assert len(gas) == 2 and gas[1]["Value"] > gas[0]["Value"]
    voltage = got["elec"].body["Voltage"]
    assert len(voltage) == 4 and all(216 < v["Value"] < 253 for v in voltage)
    signed(got["gas"], "GSME")
    signed(got["elec"], "ESME")


# --------------------------------------------------------------------------- ALCS, credentials


def template(name: str) -> dict[str, Any]:
    return dict(parse_request(TEMPLATES / name).params)


async def sleep_then(dcc: DccRole, seconds: float, srv: str) -> ServiceResponse:
    await dcc.clock.sleep(seconds)
    return await dcc.send(srv, "ESME")


@pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")
def test_alc_descriptions_and_schedule_read_back() -> None:
    descriptions = template("ECS46a_6.14.1_ALL_OPTIONALS_SUCCESS_REQUEST_DUIS.XML")
    schedule = template("ECS46c_6.14.2_IMMEDIATE_SOME_OPTIONALS_SUCCESS_REQUEST_DUIS.XML")
    assert descriptions["Descriptions"]["5"] == "ALCS_5_Description"
    assert [e["SwitchTime"] for e in schedule["Schedule"]][:2] == ["06:00:00Z", "10:00:00Z"]

    async def body(dcc: DccRole) -> dict[str, ServiceResponse]:
        return {"6.14.1": await dcc.send("6.14.1", "ESME", **descriptions),
                "6.14.2": await dcc.send("6.14.2", "ESME", **schedule),
                "7.13": await dcc.send("7.13", "ESME", AuxiliaryController=2,
                                       StartDateTime=dcc.clock.now(),
                                       EndDateTime=dcc.clock.now() + timedelta(hours=1),
                                       CommandedStateLevel=100),
                "7.7": await dcc.send("7.7", "ESME"),
                "7.14": await dcc.send("7.14", "ESME"),
                "7.15": await dcc.send("7.15", "ESME"),
                "7.8": await dcc.send("7.8", "ESME", AuxiliaryLoad=2),
                "7.15 after": await dcc.send("7.15", "ESME"),
                "7.15 at 11": await sleep_then(dcc, 2 * 3600, "7.15")}

    got = on(body)
    assert all(r.ok for r in got.values()), {k: r.reason for k, r in got.items()}
    read = got["7.7"].body
    assert read["Descriptions"] == descriptions["Descriptions"]
    assert read["Schedule"] == schedule["Schedule"]
    levels = {s["Switch"]: s["Level"] for s in got["7.15"].body["Switches"]}
    # At 09:00 the schedule has switch 1 on since 06:00; switch 2 is commanded on, and
    # its own schedule (a summer one) does not switch it in January.
    assert (levels[1], levels[2]) == (100, 100)
    after = {s["Switch"]: s["Level"] for s in got["7.15 after"].body["Switches"]}
    assert (after[1], after[2]) == (100, 0)
    assert {s["Switch"]: s["Level"] for s in got["7.15 at 11"].body["Switches"]}[1] == 0
    member = signed(got["7.7"], "ESME")
    assert member.find(f"{RA}AuxiliaryLoadControlSwitch/{RA}Description").text == \
        "ALCS_1_Description"
    assert len(member.findall(f"{RA}ALCSScheduler")) == len(schedule["Schedule"])
    for srv in ("7.14", "7.15"):
        signed(got[srv], "ESME")


def test_randomised_offset_limit_is_what_the_randomisation_read_sees() -> None:
    """7.12 writes it; the tariff family's 6.2.2 ReadDeviceConfigurationRandomisation
    reads it back from the same meter."""
    async def body(dcc: DccRole) -> tuple[ServiceResponse, ServiceResponse]:
        return (await dcc.send("7.12", "ESME", RandomisedOffsetLimit=900),
                await dcc.send("6.2.2", "ESME"))

    written, read = on(body)
    assert written.ok and read.ok, (written.reason, read.reason)
    assert read.body["RandomisedOffsetLimit"] == 900


def test_device_credentials_issue_replace_and_read() -> None:
    async def body(dcc: DccRole) -> dict[str, ServiceResponse]:
        issued = await dcc.send("6.17", "ESME", CredentialType="Digital Signature")
        first = await dcc.send("6.24.2", "ESME", CredentialType="Digital Signature")
        request = x509.load_der_x509_csr(base64.b64decode(issued.body["CertificationRequest"]))
        # A certificate for the requested key (self-issued here: no CA in the test).
        certificate = x509.load_der_x509_certificate(base64.b64decode(first.body["Certificate"]))
        assert certificate.public_key() != request.public_key()
        return {"issued": issued, "first": first,
                "replace": await dcc.send("6.15.2", "ESME",
                                          DeviceCertificate=first.body["Certificate"]),
                "garbage": await dcc.send("6.15.2", "ESME",
                                          DeviceCertificate=base64.b64encode(b"no").decode()),
                "read": await dcc.send("6.24.2", "ESME", CredentialType="Digital Signature")}

    got = on(body)
    request = x509.load_der_x509_csr(base64.b64decode(got["issued"].body["CertificationRequest"]))
    assert request.is_signature_valid
    assert got["replace"].ok
    assert got["garbage"].device_success is False
    assert got["read"].body["Certificate"] == got["first"].body["Certificate"]
    member = signed(got["garbage"], "ESME")
    status = member.find(f"{RA}UpdateSecurityCredentialsResponseCode/{RA}ASN1Status")
    assert status.text == "badCertificate"
    signed(got["issued"], "ESME")


def test_firmware_activation_needs_a_held_image() -> None:
    image = b"s1bench test image"
    digest = __import__("hashlib").sha256(image).digest()

    async def body(dcc: DccRole) -> dict[str, ServiceResponse]:
        none = await dcc.send("11.3", "ESME", FirmwareHash=digest.hex())
        # 11.1 to the DSP; the S1SP distributes the image over the HAN to the meter.
        update = await dcc.send("11.1", "CHF", FirmwareImage=base64.b64encode(image).decode(),
                                FirmwareVersion="1.0.1",
                                DeviceIDList=dcc.installation.eui_of("ESME"))
        assert (update.response_code, update.answered_by) == ("I0", "dsp"), update.reason
        await dcc.clock.sleep(30)
        assert [d["delivered"] for d in dcc.dsp_services.firmware_deliveries] == [True]
        wrong = await dcc.send("11.3", "ESME", FirmwareHash="00" * 32)
        right = await dcc.send("11.3", "ESME", FirmwareHash=digest.hex())
        return {"none": none, "wrong": wrong, "right": right,
                "version": await dcc.send("11.2", "ESME")}

    got = on(body)
    assert got["none"].device_success is False and "noImageHeld" in got["none"].reason
    assert got["wrong"].device_success is False and "hashMismatch" in got["wrong"].reason
    assert got["right"].ok and got["right"].body["FirmwareVersion"] == "1.0.1"
    assert got["version"].body["FirmwareVersion"] == "1.0.1"
    status = signed(got["none"], "ESME").find(f"{RA}ActivateImageResponseCode")
    assert status.findtext(f"{RA}ASN1Status") == "noImageHeld"


# --------------------------------------------------------------------------- tables, schema


def test_the_family_is_registered_everywhere() -> None:
    from s1bench.emulator.hub_services import HANDLERS

    for srv in FAMILY:
        assert srv in SRVS and srv in SMETS_ELEMENT and srv in EXAMPLE_BODIES, srv
        assert HEADEND[srv][0] in HANDLERS, srv
    assert set(EXAMPLE_BODIES) == set(FAMILY)


@pytest.mark.parametrize("srv", FAMILY)
def test_every_body_and_refusal_is_schema_valid(srv: str) -> None:
    """The example body, and an empty refusal for each device type, validate."""
    signer = S1spSigner(0)
    when = datetime(2026, 1, 6, tzinfo=UTC)
    rid = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:7"
    xml = render_smets1_response(rid, srv, "I0", when, EXAMPLE_BODIES[srv], signer,
                                 device_type=SRVS[srv].targets[0])
    assert validate(xml) == []
    for device in SRVS[srv].targets:
        xml = render_smets1_response(rid, srv, "I0", when, {}, signer, device_type=device,
                                     message_success=False, device_status=ml.ASN1["other"],
                                     device_error="refused")
        assert validate(xml) == [], (srv, device)


@pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")
def test_sub_ghz_configuration_reads_back() -> None:
    configuration = template("DBCH04_6.28_SUCCESS_REQUEST_DUIS.XML")

    async def body(dcc: DccRole) -> dict[str, ServiceResponse]:
        return {"set": await dcc.send("6.28", "CHF", **configuration),
                "scan": await dcc.send("6.29", "CHF"),
                "read": await dcc.send("6.30", "CHF"),
                "channel": await dcc.send("6.31", "CHF"),
                "log": await dcc.send("6.32", "CHF", StartDateTime=dcc.clock.now()
                                      - timedelta(hours=1), EndDateTime=dcc.clock.now())}

    got = on(body)
    assert all(r.ok for r in got.values()), {k: r.reason for k, r in got.items()}
    assert got["read"].body["Configuration"] == configuration["SubGHzConfiguration"]
    member = signed(got["read"], "CHF")
    assert [etree.QName(c).localname for c in member.find(f"{RA}LowerBandSubGHzChannels0To26")] \
        == ["Channel1", "Channel2"]
    assert member.findtext(f"{RA}NormalLimitedDutyCycleThreshold") == "1.3"
    assert len(got["log"].body["Log"]) == 1
    assert signed(got["channel"], "CHF").find(f"{RA}OperatingSubGHzChannel") is None


# --------------------------------------------------------------------------- the templates


@pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")
def test_the_family_templates_answer_i0_with_valid_signed_responses(tmp_path: Path) -> None:
    """Every SUCCESS template of the family, on the reference DMC, in one run.

    Future-dated ones are acknowledged (I99) and cancellations answered by the
    DSP; 11.3 IMMEDIATE is delivered and refused by the meter, which holds no
    image with that hash (the template's FirmwareHash is a placeholder).
    """
    chosen = tmp_path / "in"
    chosen.mkdir()
    for path in TEMPLATES.iterdir():
        request = parse_request(path)
        if request.srv in FAMILY and "SUCCESS" in path.name:
            (chosen / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "out"
    assert main(["duis", str(chosen), "--dmc", "reference", "--out", str(out), "--quiet"]) == 0
    index = json.loads((out / "index.json").read_text())
    certificate = (out / index["s1sp_certificate"]).read_bytes()
    schema = load_schema()
    refused = set()
    for entry in index["files"]:
        name = Path(entry["file"]).name
        xml = (out / entry["output"]).read_bytes()
        assert not list(schema.iter_errors(etree.fromstring(xml))), name
        if "_FUTURE_DATED_" in name:
            assert entry["response_code"] == "I99", name
            continue
        assert entry["response_code"] == "I0", (name, entry["reason"])
        if entry["answered_by"] == "dsp":
            assert "CANCELLATION" in name
            continue
        element, _ = verify_smets1_response(xml, certificate)
        assert element == SMETS_ELEMENT[entry["srv"]], name
        if not entry["device_success"]:
            refused.add(name)
    assert refused == {"CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"}
    assert {entry["srv"] for entry in index["files"]} == set(FAMILY)


# --------------------------------------------------------------------------- Wireshark


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs Wireshark's tshark")
def test_wireshark_names_the_log_commands_and_reads_the_intervals(tmp_path: Path) -> None:
    """The reads are Smart Energy commands Wireshark knows, with the values sent."""
    from s1bench.emulator.capture import tshark_key_args

    pcap = tmp_path / "logs.pcap"
    clock = VirtualClock()
    got: dict[str, ServiceResponse] = {}

    async def run() -> None:
        inst = build_installation(resolve_dmc("reference"), clock, seed=2, capture=str(pcap))
        medium = inst.medium
        inst.start()
        dcc = DccRole(inst)
        await dcc.clock.sleep(86_400)
        end = boundary(dcc.clock.now()) - timedelta(minutes=30)
        window = {"StartDateTime": end - timedelta(hours=8), "EndDateTime": end}
        got["top up"] = await dcc.send("2.2", "ESME", UTRN="73946144332040217315")
        got["4.8.1"] = await dcc.send("4.8.1", "ESME", **window)
        got["4.6.1"] = await dcc.send("4.6.1", "ESME", StartDateTime=end - timedelta(days=1),
                                      EndDateTime=end)
        got["4.14"] = await dcc.send("4.14", "ESME", StartDateTime=end - timedelta(days=1),
                                     EndDateTime=end)
        got["4.4.5"] = await dcc.send("4.4.5", "ESME", StartDateTime=end - timedelta(days=1),
                                      EndDateTime=dcc.clock.now())
        medium.close()

    clock.run(run())
    assert all(r.ok for r in got.values()), {k: r.reason for k, r in got.items()}
    fields = ("_ws.col.Info", "zbee_zcl_se.met.get_profile_response.intervals")
    proc = subprocess.run(["tshark", "-r", str(pcap), *tshark_key_args(pcap), "-T", "fields",
                           "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=|",
                           *(a for f in fields for a in ("-e", f))],
                          capture_output=True, text=True, timeout=120, check=True)
    rows = [line.split("|") for line in proc.stdout.splitlines()]
    info = "\n".join(r[0] for r in rows)
    for command in ("Get Profile", "Get Profile Response", "Get Snapshot", "Publish Snapshot",
                    "Get Prepay Snapshot", "Publish Prepay Snapshot", "Get Top Up Log",
                    "Publish Top Up Log"):
        assert command in info, command
    intervals = [int(v) for r in rows if r[1] for v in r[1].split(",")]
    # Most recent first in each response; the profile is oldest first.
    assert sorted(intervals) == sorted(p["Value"] for p in got["4.8.1"].body["Periods"])


@pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")
def test_a_new_tariff_and_a_payment_mode_change_each_capture_billing_data() -> None:
    """The tariff family's 1.1.1 and 1.6, a day apart, leave two 4.4.2 entries."""
    tariff = template("ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML")
    mode = template("ECS03_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML")  # to prepayment

    async def body(dcc: DccRole) -> list[ServiceResponse]:
        start = dcc.clock.now()
        first = await dcc.send("1.1.1", "ESME", **tariff)
        await dcc.clock.sleep(86_400)
        second = await dcc.send("1.6", "ESME", **mode)
        return [first, second, await dcc.send("4.4.2", "ESME", StartDateTime=start,
                                              EndDateTime=dcc.clock.now())]

    first, second, log = on(body)
    assert first.ok and second.ok, (first.reason, second.reason)
    billing = log.body["Billing"]
    assert len(billing) == 2 and billing[1]["Register"] > billing[0]["Register"]
    assert len(log.body["Prepayment"]) == 2
    signed(log, "ESME")
