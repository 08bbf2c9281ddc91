"""The tariff family of the SMETS1 service: what a write sets, a read returns.

Each write is sent as its DUIS template (parsed with the nested parsers),
carried out over the HAN by the reference installation and read back with
the SRV that reads it; the read's body is compared with the request's values
and its signed SMETS1 response is checked against the DUIS schema.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.headend import Command
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.dcc import DccRole
from s1bench.harness.dcc.documents import SMETS1, render_service_response
from s1bench.harness.dcc.messages import ServiceResponse
from s1bench.harness.dcc.service_tariff import (
    ESME_SUPPLIER_ALERTS,
    ESME_SUPPLIER_POLYPHASE_ALERTS,
)
from s1bench.harness.dcc.signing import S1spSigner
from s1bench.harness.dcc.smets_response import RA_NS, SMETS_ELEMENT, verify_smets1_response
from s1bench.harness.duis_xml import load_schema, parse_request, validate

SHARED = Path(os.environ.get("S1BENCH_SHARED") or Path(__file__).resolve().parents[3] / "shared")
TEMPLATES = SHARED / "duis-templates" / "templates"
RA = f"{{{RA_NS}}}"

pytestmark = pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")

FAMILY = ("1.1.1", "1.1.2", "1.2.2", "1.5", "1.6", "1.7", "2.1", "2.3", "3.2", "3.3", "3.4",
          "3.5", "4.1.2", "4.1.3", "4.1.4", "4.11.1", "4.11.2", "4.13", "4.15", "6.2.1",
          "6.2.2", "6.2.4", "6.2.5", "6.2.7", "6.2.8", "6.2.9", "6.2.10", "6.4.1", "6.4.2",
          "6.6", "6.8", "6.20.1", "6.20.2", "6.25", "6.26", "6.27", "9.1")


def template(name: str) -> dict[str, Any]:
    """A template's parameters as the DSP receives them (nested structures included)."""
    return dict(parse_request(TEMPLATES / name).params)


class Bench:
    """One reference installation behind the DCC role; every response is kept."""

    def __init__(self, dcc: DccRole) -> None:
        self.dcc = dcc
        self.signer = S1spSigner(0)

    async def send(self, srv: str, device: str, params: dict[str, Any] | None = None,
                   **extra: Any) -> ServiceResponse:
        response = await self.dcc.send(srv, device, **{**(params or {}), **extra})
        assert response.response_code == "I0", (srv, response.reason)
        assert response.device_success is not False, (srv, response.reason)
        return response

    async def read(self, srv: str, device: str) -> dict[str, Any]:
        """A read's body, after checking its signed SMETS1 document."""
        response = await self.send(srv, device)
        xml, shape = render_service_response(response, self.signer, device_type=device)
        assert shape == SMETS1
        assert validate(xml) == [], srv
        name, _ = verify_smets1_response(xml, self.signer.certificate_pem())
        assert name == SMETS_ELEMENT[srv]
        return response.body


def on(body: Callable[[Bench], Awaitable[Any]], *, capture: str | None = None) -> Any:
    clock = VirtualClock()
    spec = resolve_dmc("reference")

    async def main() -> Any:
        inst = build_installation(spec, clock, seed=5, **({"capture": capture} if capture
                                                          else {}))
        inst.start()
        try:
            return await body(Bench(DccRole(inst, spec.dcc_quirks, seed=5)))
        finally:
            inst.medium.close()

    return clock.run(main())


@pytest.fixture(scope="module")
def schema() -> Any:
    return load_schema()


# --------------------------------------------------------------------------- tariff


def test_tou_tariff_written_by_1_1_1_reads_back_whole_with_4_11_1() -> None:
    written = template("ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML")

    async def body(b: Bench) -> dict[str, Any]:
        await b.send("1.1.1", "ESME", written)
        return await b.read("4.11.1", "ESME")

    read = on(body)
    tariff, prices = written["Tariff"], written["Prices"]
    assert read["TOUPrices"] == prices["TOU"] == [[1, 2121], [2, 3127], [3, 4744]]
    assert "BlockPrices" not in read
    assert (read["StandingCharge"], read["StandingChargeScale"], read["PriceScale"],
            read["CurrencyUnits"]) == (20000, -5, -5, "GBP")
    assert read["Thresholds"] == tariff["Thresholds"]
    assert read["SwitchingTable"] == tariff["SwitchingTable"]
    assert read["SpecialDays"] == tariff["SpecialDays"]


def test_block_tariff_replaces_the_tou_one_and_its_xml_follows_the_request() -> None:
    tou = template("ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML")
    block = template("ECS01a_1.1.1_IMMEDIATE_BLOCK_SUCCESS_REQUEST_DUIS.XML")

    async def body(b: Bench) -> tuple[dict[str, Any], bytes]:
        await b.send("1.1.1", "ESME", tou)
        await b.send("1.1.1", "ESME", block)
        response = await b.send("4.11.1", "ESME")
        return response.body, render_service_response(response, b.signer,
                                                       device_type="ESME")[0]

    read, xml = on(body)
    assert "TOUPrices" not in read  # the new tariff's price matrix replaced the old one
    assert read["BlockPrices"] == [[1, 1, 1361], [1, 2, 2289], [1, 3, 5566]]
    assert read["Thresholds"][:3] == [[1, 1, 10000], [1, 2, 20000], [1, 3, 4294967295]]
    assert read["SwitchingTable"] == block["Tariff"]["SwitchingTable"]
    root = etree.fromstring(xml)
    rsp = root.find(f".//{RA}ReadTariffPrimaryElementRsp/{RA}Electricity")
    assert rsp is not None
    prices = rsp.findall(f"{RA}TariffBlockPriceMatrix/{RA}TariffBlockPrices/{RA}BlockPrice")
    assert [(p.get("index"), p.text) for p in prices] == [("1", "1361"), ("2", "2289"),
                                                         ("3", "5566")]
    schedule = rsp.find(f"{RA}TariffSwitchingTable/{RA}DayProfiles/{RA}DayProfile")
    assert schedule is not None and schedule.findtext(f"{RA}Day") == "1"
    assert schedule.findtext(f"{RA}ProfileSchedule/{RA}BlockTariffAction") == "1"
    weeks = rsp.findall(f"{RA}TariffSwitchingTable/{RA}WeekProfiles/{RA}WeekProfile/"
                        f"{RA}ReferencedElecDay")
    assert len(weeks) == 7


@pytest.mark.parametrize("name", [
    "GCS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML",
    # Future-dated in the corpus; sent here for now, so it runs at once.
    "GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS_REQUEST_DUIS.XML",
])
def test_gas_tariff_round_trips(name: str) -> None:
    written = template(name)
    written.pop("ExecutionDateTime", None)

    async def body(b: Bench) -> dict[str, Any]:
        await b.send("1.1.1", "GSME", written)
        return await b.read("4.11.1", "GSME")

    read = on(body)
    assert read["Commodity"] == "Gas"
    assert (read.get("TOUPrices") or None) == written["Prices"].get("TOU")
    assert (read.get("BlockPrices") or None) == written["Prices"].get("Block")
    assert read["Thresholds"] == written["Tariff"]["Thresholds"]
    assert read["StandingCharge"] == int(written["Prices"]["StandingCharge"])
    assert read["SwitchingTable"] == written["Tariff"]["SwitchingTable"]
    assert read["SpecialDays"] == written["Tariff"]["SpecialDays"]


def test_prices_1_2_1_update_the_matrix_and_keep_the_switching_table() -> None:
    tariff = template("ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML")
    price = template("ECS01b_1.2.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML")

    async def body(b: Bench) -> dict[str, Any]:
        await b.send("1.1.1", "ESME", tariff)
        await b.send("1.2.1", "ESME", price)
        return await b.read("4.11.1", "ESME")

    read = on(body)
    assert read["TOUPrices"] == price["Prices"]["TOU"] == [[1, 3221], [2, 4327], [3, 5744]]
    assert read["SwitchingTable"] == tariff["Tariff"]["SwitchingTable"]


def test_a_flat_1_2_1_as_the_migration_sends_it_sets_tier_one() -> None:
    async def body(b: Bench) -> dict[str, Any]:
        await b.send("1.2.1", "ESME", TOUPrice=3221, StandingCharge=20000)
        return await b.read("4.11.1", "ESME")

    read = on(body)
    assert read["TOUPrices"] == [[1, 3221]]
    assert read["StandingCharge"] == 20000


def test_secondary_element_1_1_2_and_1_2_2_read_back_with_4_11_2() -> None:
    tariff = template("ECS01c_1.1.2_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
    price = template("ECS01d_1.2.2_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")

    async def body(b: Bench) -> tuple[dict[str, Any], dict[str, Any]]:
        await b.send("1.1.2", "ESME", tariff)
        first = await b.read("4.11.2", "ESME")
        await b.send("1.2.2", "ESME", price)
        return first, await b.read("4.11.2", "ESME")

    first, second = on(body)
    assert first["TOUPrices"] == tariff["SecondaryPrices"]["TOU"]
    assert first["SwitchingTable"] == tariff["SecondaryTariff"]["SwitchingTable"]
    assert second["TOUPrices"] == [[1, 1010], [2, 1120], [3, 1230], [4, 1340]]
    assert second["SwitchingTable"] == first["SwitchingTable"]


# --------------------------------------------------------------------------- prepayment


def test_payment_mode_1_6_reads_back_with_6_2_9_and_4_13() -> None:
    prepay = template("ECS03_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML")
    credit = template("ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML")

    async def body(b: Bench) -> list[dict[str, Any]]:
        reads = [await b.read("6.2.9", "ESME")]
        await b.send("1.6", "ESME", prepay)
        reads += [await b.read("6.2.9", "ESME"), await b.read("4.13", "ESME")]
        await b.send("1.6", "ESME", credit)
        reads.append(await b.read("6.2.9", "ESME"))
        return reads

    before, after, config, back = on(body)
    assert before["PaymentMode"] == "Credit"
    assert (after["PaymentMode"], after["SuspendDebtDisabled"],
            after["SuspendDebtEmergency"]) == ("Prepayment", True, True)
    assert (config["PaymentMode"], config["DisablementThreshold"]) == ("Prepayment", 556677)
    assert back["PaymentMode"] == "Credit"
    assert back["SuspendDebtDisabled"] is True  # credit mode leaves the debt settings alone


@pytest.mark.parametrize(("name", "device"), [
    ("ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", "ESME"),
    ("GCS05_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", "GSME"),
])
def test_prepay_configuration_2_1_reads_back_with_4_13(name: str, device: str) -> None:
    written = template(name)

    async def body(b: Bench) -> dict[str, Any]:
        await b.send("2.1", device, written)
        return await b.read("4.13", device)

    read = on(body)
    for field in ("DebtRecoveryRateCap", "EmergencyCreditLimit", "EmergencyCreditThreshold",
                  "LowCreditThreshold", "MaxMeterBalance", "MaxCreditThreshold"):
        assert read[field] == int(written[field]), field
    assert read["NonDisablementCalendar"] == written["NonDisablementCalendar"]


@pytest.mark.parametrize(("name", "device"), [
    ("ECS07_2.3_SUCCESS_REQUEST_DUIS.XML", "ESME"),
    ("GCS04_2.3_SUCCESS_REQUEST_DUIS.XML", "GSME"),
])
def test_debt_2_3_reads_back_with_4_13_and_adds_to_the_accumulated_debt(
        name: str, device: str) -> None:
    written = template(name)

    async def body(b: Bench) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        before = await b.read("4.18", device)
        await b.send("2.3", device, written)
        return before, await b.read("4.13", device), await b.read("4.3", device)

    before, config, prepay = on(body)
    total = sum(int(written[k]) for k in ("TimeDebtRegister1", "TimeDebtRegister2",
                                          "PaymentDebtRegister"))
    assert prepay["AccumulatedDebt"] == total
    assert prepay["CreditRemaining"] - total == before["MeterBalance"] - total
    assert config["DebtRecoveryPerPayment"] == int(written["DebtRecoveryPerPayment"])
    for register in ("1", "2"):
        sent, got = written["DebtRecovery"][register], config["DebtRecovery"][register]
        assert got["DebtRecoveryRate"] == sent["DebtRecoveryRate"]
        assert got["DebtRecoveryRatePeriod"] == sent["DebtRecoveryRatePeriod"]
        if "DebtRecoveryRatePriceScale" in sent:
            assert got["DebtRecoveryRatePriceScale"] == sent["DebtRecoveryRatePriceScale"]


def test_meter_balance_1_5_adjusts_and_resets_what_4_18_reads() -> None:
    adjust = template("ECS04a_1.5_SUCCESS_REQUEST_DUIS.XML")
    reset = template("ECS04b_1.5_SUCCESS_REQUEST_DUIS.XML")

    async def body(b: Bench) -> list[int]:
        balances = [(await b.read("4.18", "ESME"))["MeterBalance"]]
        await b.send("1.5", "ESME", adjust)
        balances.append((await b.read("4.18", "ESME"))["MeterBalance"])
        await b.send("2.3", "ESME", template("ECS07_2.3_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("1.5", "ESME", reset)
        balances.append((await b.read("4.18", "ESME"))["MeterBalance"])
        return balances

    before, adjusted, after_reset = on(body)
    assert adjusted == before + 1_200_000
    assert after_reset == 0  # even with debt on the meter


# --------------------------------------------------------------------------- thresholds


def test_thresholds_written_by_6_5_and_6_12_read_back_with_6_2_1_and_6_2_5() -> None:
    voltage = template("ECS29a_6.5_SUCCESS_REQUEST_DUIS.XML")
    power = template("ECS34_6.12_SUCCESS_REQUEST_DUIS.XML")
    voltage = {k: v for k, v in voltage.items() if k.startswith("RMS")}
    voltage.update({k: int(v) + 1 for k, v in voltage.items() if k.endswith("Threshold")})

    async def body(b: Bench) -> tuple[dict[str, Any], dict[str, Any]]:
        await b.dcc.send("6.5", "ESME", **voltage)
        await b.send("6.12", "ESME", power)
        return await b.read("6.2.1", "ESME"), await b.read("6.2.5", "ESME")

    volts, watts = on(body)
    for name, value in voltage.items():
        if name.endswith("Threshold"):
            assert volts[name] == value, name
    assert watts == {"LowMediumPowerThreshold": 2300, "MediumHighPowerThreshold": 4600}


# --------------------------------------------------------------------------- breadth


def test_configuration_writes_read_back() -> None:
    async def body(b: Bench) -> dict[str, Any]:
        out: dict[str, Any] = {}
        await b.send("6.20.1", "ESME", template(
            "ECS39a_6.20.1_TWIN_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("6.20.2", "ESME", template("ECS39b_6.20.2_SUCCESS_REQUEST_DUIS.XML"))
        out["mpan"] = await b.read("6.2.7", "ESME")
        await b.send("6.20.1", "GSME", template("GCS41_6.20.1_SUCCESS_REQUEST_DUIS.XML"))
        out["mprn"] = await b.read("6.2.7", "GSME")
        await b.send("6.6", "GSME", template("GCS23_6.6_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("6.7", "GSME", UncontrolledGasFlowRate=1234, StabilisationPeriod=30,
                     MeasurementPeriod=600)
        out["gas"] = await b.read("6.2.8", "GSME")
        out["identity before"] = await b.read("6.2.4", "ESME")
        await b.send("6.25", "ESME", template("ECS81_6.25_SUCCESS_REQUEST_DUIS.XML"))
        out["identity"] = await b.read("6.2.4", "ESME")
        out["hub identity"] = await b.read("6.2.4", "CHF")
        await b.send("6.4.1", "ESME", template(
            "ECS28a_6.4.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"))
        out["load limit"] = await b.read("4.15", "ESME")
        await b.send("6.4.2", "ESME")
        out["load limit after reset"] = await b.read("4.15", "ESME")
        await b.send("6.22", "GSME", template("GCS20_6.22_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("6.22", "ESME", template("ECS25a_6.22_SUCCESS_REQUEST_DUIS.XML"))
        out["alerts"] = await b.read("6.2.10", "ESME")
        out["gas alerts"] = await b.read("6.2.10", "GSME")
        for srv, device, name in (("3.2", "ESME", "ECS12_3.2_SUCCESS_REQUEST_DUIS.XML"),
                                  ("3.4", "ESME", "ECS16_3.4_SUCCESS_REQUEST_DUIS.XML"),
                                  ("3.5", "GSME", "GCS11_3.5_SUCCESS_REQUEST_DUIS.XML"),
                                  ("6.8", "ESME", "ECS30a_6.8_SUCCESS_REQUEST_DUIS.XML"),
                                  ("6.8", "GSME", "GCS25_6.8_SUCCESS_REQUEST_DUIS.XML"),
                                  ("6.26", "ESME", "ECS48_6.26_SUCCESS_REQUEST_DUIS.XML"),
                                  ("6.27", "ESME", "ECS29e_6.27_SUCCESS_REQUEST_DUIS.XML")):
            await b.send(srv, device, template(name))
        out["cin"] = (await b.send("9.1", "ESME")).body
        return out

    out = on(body)
    assert out["mpan"] == {"Commodity": "Electricity", "ImportMPAN": "1312345678111",
                           "SecondaryImportMPAN": "1312345678222",
                           "ExportMPAN": "1312345678333"}
    assert out["mprn"]["MPRN"] == "1234567890"
    assert out["gas"] == {"CalorificValue": "40", "ConversionFactor": "1.02264",
                          "UncontrolledGasFlowRate": 1234, "FlowStabilisationPeriod": 30,
                          "FlowMeasurementPeriod": 600}
    assert out["identity before"]["SupplyTamperState"] == "Unchanged"
    assert out["identity"]["SupplyTamperState"] == "Locked"
    assert out["identity"]["ManufacturerIdentifier"] == "s1bench"
    assert out["hub identity"]["ModelType"] == "Reference CHF"
    assert out["load limit"] == {"LoadLimitCounterValue": 0, "LoadLimitSupplyState": "Disable",
                                 "LoadLimitPeriod": 300, "LoadLimitPowerThreshold": 6900,
                                 "LoadLimitRestorationPeriod": 30}
    assert out["load limit after reset"]["LoadLimitCounterValue"] == 0
    assert out["alerts"]["AlertSettings"]["810D"] is True
    assert out["alerts"]["AlertSettings"]["810E"] is False
    assert out["gas alerts"]["AlertSettings"]["810E"] is True  # GCS20's WANAlert
    assert out["gas alerts"]["AlertSettings"]["81C6"] is False
    assert len(out["cin"]["CustomerIdentificationNumber"]) == 4


def test_clear_event_log_3_3_empties_what_6_13_reads() -> None:
    async def body(b: Bench) -> tuple[int, int]:
        await b.send("7.2", "ESME")  # logs a supply event
        before = len((await b.send("6.13", "ESME")).body["Events"])
        await b.send("3.3", "ESME", template("ECS15a_3.3_SUCCESS_REQUEST_DUIS.XML"))
        return before, len((await b.send("6.13", "ESME")).body["Events"])

    before, after = on(body)
    assert before >= 1
    assert after == 0


@pytest.mark.parametrize("device", ["ESME", "GSME"])
def test_tier_registers_share_out_the_register(device: str) -> None:
    """4.1.2 after a day on a TOU tariff: the tiers add up to the 4.1.1 register."""
    name = ("ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML" if device == "ESME"
            else "GCS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_REQUEST_DUIS.XML")

    async def body(b: Bench) -> tuple[dict[str, Any], float]:
        await b.send("1.1.1", device, template(name))
        for _ in range(12):
            await b.dcc.installation.clock.sleep(7200)
            tiers = await b.read("4.1.2", device)
            register = (await b.send("4.1.1", device)).body["ImportRegister"]
        return tiers, register

    tiers, register = on(body)
    booked = sum(float(v) for _, v in tiers["TOURegisters"])
    scale = 1000 if device == "ESME" else 1  # Wh against kWh; m3 against m3
    assert booked == pytest.approx(register * scale, abs=0.01 * scale)
    assert len(tiers["TOURegisters"]) >= 2  # a day crosses the tariff's switch times


def test_block_tariff_fills_blocks_by_threshold_and_1_7_resets_the_counters() -> None:
    block = template("ECS01a_1.1.1_IMMEDIATE_BLOCK_SUCCESS_REQUEST_DUIS.XML")

    async def body(b: Bench) -> tuple[dict[str, Any], dict[str, Any]]:
        await b.send("1.1.1", "ESME", block)
        for _ in range(6):
            await b.dcc.installation.clock.sleep(4 * 3600)
            await b.read("4.1.2", "ESME")
        filled = await b.read("4.1.3", "ESME")
        await b.send("1.7", "ESME")
        return filled, await b.read("4.1.3", "ESME")

    filled, reset = on(body)
    counters = {(t, blk): v for t, blk, v in filled["BlockCounters"]}
    assert counters[(1, 1)] == 10000  # block 1 ends at the first threshold
    assert sum(counters.values()) == sum(v for _, _, v in filled["BlockRegisters"])
    assert reset["BlockCounters"] == []  # the counters restart; the registers keep counting
    assert sum(v for *_, v in reset["BlockRegisters"]) >= sum(counters.values())


def test_daily_block_counter_reset_6_26_restarts_the_counters_each_day() -> None:
    async def body(b: Bench) -> tuple[int, int]:
        await b.send("1.1.1", "ESME", template(
            "ECS01a_1.1.1_IMMEDIATE_BLOCK_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("6.26", "ESME", template("ECS48_6.26_SUCCESS_REQUEST_DUIS.XML"))
        for _ in range(16):
            await b.dcc.installation.clock.sleep(3 * 3600)
            read = await b.read("4.1.3", "ESME")
        return (sum(v for *_, v in read["BlockCounters"]),
                sum(v for *_, v in read["BlockRegisters"]))

    counted, registered = on(body)
    assert 0 < counted < registered  # two days registered, at most a day counted


# --------------------------------------------------------------------------- documents


def test_every_family_srv_has_an_element_and_validates_with_an_empty_body(schema: Any) -> None:
    signer = S1spSigner(0)
    for srv in FAMILY:
        assert srv in SMETS_ELEMENT, srv
        for device in ("ESME", "GSME"):
            response = ServiceResponse(
                _rid(), srv, "I0", {}, datetime(2024, 5, 1, tzinfo=UTC))
            xml, shape = render_service_response(response, signer, device_type=device)
            assert shape == SMETS1
            assert validate(xml) == [], (srv, device)


def _rid() -> Any:
    from s1bench.harness.dcc.messages import RequestID

    return RequestID("90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0", 1)


def test_alert_code_lists_match_the_schema(schema: Any) -> None:
    types = schema.maps.types
    common = types[f"{RA}SupplierESMECommon"]
    poly = types[f"{RA}SupplierESMEPolyPhase"]
    assert tuple(e.local_name[1:] for e in common.content.iter_elements()) == \
        ESME_SUPPLIER_ALERTS
    assert tuple(e.local_name[1:] for e in poly.content.iter_elements()) == \
        ESME_SUPPLIER_POLYPHASE_ALERTS


def test_a_refused_write_is_i0_with_message_success_false() -> None:
    async def body(b: Bench) -> Any:
        inst = b.dcc.installation
        return await inst.execute(Command("update_tariff", inst.eui_of("ESME"), {
            "Tariff": {"Commodity": "Electricity"},
            "Prices": {"TOU": [[49, 100]]}}))

    outcome = on(body)
    assert str(outcome.status) == "bad-argument"
    assert "TOU price index" in outcome.reason


def test_nested_parsers_leave_the_request_untouched() -> None:
    """Parsing twice gives the same trees: the parsers hold no state between requests."""
    name = "ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"
    first = template(name)
    assert template(name) == copy.deepcopy(first)


# --------------------------------------------------------------------------- the HAN


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_wireshark_names_the_se_commands_and_finds_nothing_malformed(tmp_path: Path) -> None:
    from s1bench.emulator.capture import tshark_key_args

    pcap = tmp_path / "tariff.pcap"

    async def body(b: Bench) -> None:
        await b.send("1.1.1", "ESME", template(
            "ECS01a_1.1.1_IMMEDIATE_BLOCK_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("1.6", "ESME", template(
            "ECS03_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("1.5", "ESME", template("ECS04a_1.5_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("2.1", "ESME", template("ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("2.3", "ESME", template("ECS07_2.3_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("3.2", "ESME", template("ECS12_3.2_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("3.3", "ESME", template("ECS15a_3.3_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("6.20.1", "ESME", template(
            "ECS39a_6.20.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("6.25", "ESME", template("ECS81_6.25_SUCCESS_REQUEST_DUIS.XML"))
        await b.send("6.4.2", "ESME")
        await b.read("4.11.1", "ESME")

    on(body, capture=str(pcap))
    proc = subprocess.run(["tshark", "-r", str(pcap), *tshark_key_args(pcap), "-T", "fields",
                           "-e", "_ws.malformed", "-e", "_ws.col.Info"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [r for r in rows if r[0]] == []
    info = "\n".join(r[1] for r in rows if len(r) > 1)
    for command in ("Change Payment Mode", "Change Payment Mode Response", "Credit Adjustment",
                    "Change Debt", "Emergency Credit Setup", "Set Low Credit Warning Level",
                    "Set Maximum Credit Limit", "Publish Change Of Tenancy",
                    "Clear Event Log Request", "Clear Event Log Response", "Update Site ID",
                    "Set Supply Status", "Reset Load Limit Counter", "Write Attributes",
                    "Transfer Data"):
        assert command in info, command
