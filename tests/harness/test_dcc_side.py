"""The DCC side above the hub: who answers what (DOMAIN.md, "Who answers what").

The hub is driven with head-end commands and answers device-level outcomes;
the DSP rejects users, roles and replays with DUIS codes and records them;
the S1SP's service definition and the DCO act before anything reaches a
device; each Testing Issue shows on its true side.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.headend import Command, OutcomeStatus
from s1bench.emulator.zcl import STATUS_INVALID_VALUE
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.dcc import DccRole
from s1bench.harness.dcc.dsp import derive_role_table, load_role_table
from s1bench.harness.migration import MigrationState
from s1bench.harness.reproduce import reproduce

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT.parent / "shared" / "duis-templates" / "templates"


def on(dmc: str, body: Callable[[DccRole], Awaitable[Any]], *, enrolled: bool = False,
       mitigations: bool = False) -> Any:
    clock = VirtualClock()
    spec = resolve_dmc(dmc)

    async def main() -> Any:
        inst = build_installation(spec, clock, seed=3, enrolled=enrolled)
        inst.start()
        try:
            return await body(DccRole(inst, spec.dcc_quirks, seed=3, mitigations=mitigations))
        finally:
            inst.medium.close()

    return clock.run(main())


# ------------------------------------------------------------- the hub's head-end side

def test_the_hub_answers_head_end_commands_with_device_outcomes() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        inst = dcc.installation
        esme, ppmid = inst.eui_of("ESME"), inst.eui_of("PPMID")
        return {
            "read": await inst.execute(Command("read_import_registers", esme)),
            "not joined": await inst.execute(Command("read_import_registers", ppmid)),
            "unknown": await inst.execute(Command("read_supply", inst.unknown_eui)),
            "no such command": await inst.execute(Command("make_tea", esme)),
            "bad": await inst.execute(Command("change_supply", esme, {"Supply": "Sideways"})),
        }

    got = on("reference", body)
    assert got["read"].status is OutcomeStatus.DONE and got["read"].data["ImportRegister"] >= 0
    assert got["not joined"].status is OutcomeStatus.UNREACHABLE
    assert got["unknown"].status is OutcomeStatus.UNKNOWN_DEVICE
    assert got["no such command"].status is OutcomeStatus.UNKNOWN_COMMAND
    assert got["bad"].status is OutcomeStatus.BAD_ARGUMENT and "Sideways" in got["bad"].reason


def test_a_hub_firmware_refusal_is_a_device_outcome_with_its_status() -> None:
    async def body(dcc: DccRole) -> Any:
        inst = dcc.installation
        return await inst.execute(Command("update_device_log", inst.hub_eui, {
            "DeviceID": "00-DB-12-00-00-00-00-03", "RequestType": "Add",
            "JoinTimePeriod": 300, "InstallCode": b"\x00" * 18}))

    outcome = on("honeywell-elster-dormant", body)
    assert outcome.status is OutcomeStatus.REFUSED
    assert outcome.zcl_status == STATUS_INVALID_VALUE and "255" in outcome.reason


_DUIS_CODE = re.compile(r"""["'](I0|I99|E\d{1,4}|E\d{6}|W\d{6})["']|\bResponseCode\b""")


@pytest.mark.parametrize("room", ["emulator", "firmware_profiles"])
def test_no_duis_response_code_below_the_dcc(room: str) -> None:
    hits = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            for path in sorted((ROOT / room).rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if _DUIS_CODE.search(line)]
    assert hits == []


# ------------------------------------------------------------------------ the DSP

def test_a_replayed_counter_is_rejected_and_security_logged() -> None:
    async def body(dcc: DccRole) -> tuple[Any, Any, Any]:
        first = dcc.request("4.1.1", "ESME")
        again = dcc.request("4.1.1", "ESME")
        again.request_id = first.request_id
        return await dcc.submit(first), await dcc.submit(again), dcc

    first, replay, dcc = on("reference", body)
    assert first.ok
    assert (replay.response_code, replay.answered_by) == ("E1", "dsp")
    assert "replayed" in replay.reason
    assert [e.kind for e in dcc.dsp.security_log] == ["replayed-counter"]
    assert dcc.exchanges[-1].response["response_code"] == "E1"


def test_a_role_not_allowed_for_an_srv_is_e2_and_an_allowed_one_passes() -> None:
    async def body(dcc: DccRole) -> tuple[Any, Any]:
        as_supplier = await dcc.send("6.5", "ESME", user="supplier",
                                     RMSVoltageSagThreshold=210)
        as_dno = await dcc.send("6.5", "ESME", user="dno:ukpn", RMSVoltageSagThreshold=210)
        return as_supplier, as_dno

    supplier, dno = on("reference", body)
    assert (supplier.response_code, supplier.answered_by) == ("E2", "dsp")
    assert "NetworkOperator" in supplier.reason
    assert dno.ok


def test_an_unknown_originator_is_e1() -> None:
    async def body(dcc: DccRole) -> Any:
        request = dcc.request("4.1.1", "ESME")
        request.request_id = type(request.request_id)("90-B3-D5-1F-30-09-09-09",
                                                      request.target, 7)
        return await dcc.submit(request)

    response = on("reference", body)
    assert response.response_code == "E1" and "not a registered DCC user" in response.reason


@pytest.mark.skipif(not TEMPLATES.is_dir(), reason="no DUIS templates beside the project")
def test_the_role_table_is_the_templates_own() -> None:
    derived = derive_role_table(sorted(TEMPLATES.glob("*.XML")))
    assert {srv: frozenset(roles) for srv, roles in derived.items()} == load_role_table()


# ------------------------------------------------------------ S1SP and DCO

def test_the_dco_can_deny_a_critical_command_and_passes_the_rest() -> None:
    async def body(dcc: DccRole) -> tuple[Any, Any]:
        dcc.dco.deny.add("7.2")
        return await dcc.send("7.2", "ESME"), await dcc.send("7.4", "ESME")

    denied, read = on("reference", body)
    assert (denied.response_code, denied.answered_by) == ("E4", "dco")
    assert read.ok and read.body["SupplyStatus"] == "Enabled"  # the disable never went out


def test_liberty_110_restriction_is_the_s1sp_and_the_boost_still_switches() -> None:
    result = reproduce("liberty-110", "quirky")
    assert result.verdict == "reproduced", result.evidence
    assert "switches load 1 on the HAN: True" in result.evidence
    change = next(s for s in result.steps if s["step"].startswith("add load 2"))
    assert change["response"]["response_code"] == "E11"
    assert change["response"]["answered_by"] == "s1sp"
    assert reproduce("liberty-110", "fixed").verdict == "passed"


# ------------------------------------------------- Testing Issues on their true side

def test_risk_9_never_follows_a_correct_migration() -> None:
    async def body(dcc: DccRole) -> Any:
        migration = MigrationState(dcc)
        for step in ("request", "validate", "credentials", "commission"):
            ok, text = await migration.step(step)
            assert ok, text
        return await dcc.send("6.15.1", "ESME", user="dno:ukpn",
                              RemotePartyRole="NetworkOperator")

    # The DSP defect is switched on, but the DCC placed the right certificate.
    dcc_quirks = resolve_dmc("reference-wrong-dno").dcc_quirks
    quirk = dcc_quirks[0]
    assert quirk.name == "dno_certificate_locked"
    change = on("reference-wrong-dno", body, mitigations=True)
    assert change.ok, change.reason
    assert on("reference", body).ok


def test_risk_9_with_a_wrong_certificate_left_in_the_slot() -> None:
    quirky = reproduce("risk-9", "quirky")
    assert quirky.verdict == "reproduced" and "E4" in quirky.evidence
    assert "dno:enwl" in quirky.evidence
    assert reproduce("risk-9", "fixed").verdict == "passed"
    assert reproduce("risk-9", "mitigated").verdict == "mitigated"


def test_91333_is_itron_active_only_and_counts_calendar_days() -> None:
    async def body(dcc: DccRole) -> list[Any]:
        now = dcc.clock.now()
        late = now.replace(hour=23, minute=0, second=0, microsecond=0)
        if late <= now:
            late += timedelta(days=1)
        await dcc.clock.sleep((late - now).total_seconds())
        first = await dcc.send("6.7", "GSME")
        await dcc.clock.sleep(2 * 3600)  # 01:00 the next day: a new calendar day
        second = await dcc.send("6.7", "GSME")
        third = await dcc.send("6.7", "GSME")
        return [first, second, third]

    active = on("itron-active", body)
    assert [r.ok for r in active] == [True, True, False]
    assert active[2].device_success is False
    assert all(r.ok for r in on("itron-dormant", body))


def test_110031_acts_on_the_aclara_hub_too() -> None:
    async def body(dcc: DccRole) -> tuple[Any, Any, Any]:
        before = (await dcc.send("6.24.1", "CHF")).body["Credentials"]["ACB"]
        first = await dcc.send("6.15.1", "CHF", RemotePartyRole="ACB")
        after = (await dcc.send("6.24.1", "CHF")).body["Credentials"]["ACB"]
        return first, before, after

    first, before, after = on("aclara-ioc-dormant", body, enrolled=True)
    assert first.response_code == "E21"  # applied but not confirmed
    assert before != after
    first_ref, *_ = on("reference", body, enrolled=True)
    assert first_ref.ok


def test_mixed_aclara_is_rejected_before_any_change() -> None:
    quirky = reproduce("mixed-aclara", "quirky")
    assert quirky.verdict == "reproduced"
    assert "devices untouched: True" in quirky.evidence and "rejected" in quirky.evidence
    assert reproduce("mixed-aclara", "mitigated").verdict == "mitigated"
    assert reproduce("mixed-aclara", "fixed").verdict == "passed"


def test_91339_and_91340_are_kept_apart() -> None:
    a = reproduce("91339", "quirky")
    b = reproduce("91340", "quirky")
    assert "(91339)" in a.evidence and "(91340)" in b.evidence
    assert a.testing_issue["id"] == "91339" and b.testing_issue["id"] == "91340"
    assert a.testing_issue["kind"] == "testing-issue" and a.testing_issue["severity_assumed"]


def test_a_future_dated_request_is_acknowledged_then_run_at_its_time() -> None:
    async def body(dcc: DccRole) -> tuple[Any, list[Any], Any, Any]:
        when = dcc.clock.now() + timedelta(hours=6)
        before = (await dcc.send("6.24.1", "ESME")).body["Credentials"]["Supplier"]
        ack = await dcc.send("6.15.1", "ESME", RemotePartyRole="Supplier",
                             ExecutionDateTime=when.isoformat().replace("+00:00", "Z"))
        early = (await dcc.send("6.24.1", "ESME")).body["Credentials"]["Supplier"]
        await dcc.clock.sleep(7 * 3600)
        late = (await dcc.send("6.24.1", "ESME")).body["Credentials"]["Supplier"]
        runs = [e for e in dcc.exchanges if e.request["request_id"] == str(ack.request_id)]
        return ack, runs, (before, early), late

    ack, runs, (before, early), late = on("reference", body)
    assert (ack.response_code, ack.answered_by) == ("I99", "dsp")
    assert early == before != late  # nothing changed until the execution time
    assert [r.response["response_code"] for r in runs] == ["I99", "I0"]
    assert runs[1].response["response_datetime"] > runs[0].response["response_datetime"]


def test_a_cancellation_drops_the_pending_future_dated_request() -> None:
    async def body(dcc: DccRole) -> tuple[Any, Any, Any, Any]:
        when = dcc.clock.now() + timedelta(hours=6)
        before = (await dcc.send("6.24.1", "ESME")).body["Credentials"]["Supplier"]
        await dcc.send("6.15.1", "ESME", RemotePartyRole="Supplier",
                       ExecutionDateTime=when.isoformat())
        cancel = await dcc.send("6.15.1", "ESME", RemotePartyRole="Supplier",
                                ExecutionDateTime="3000-12-31T00:00:00Z")
        # 6.14.3 (auxiliary controller scheduler) has no MMC response: not SMETS1.
        unoffered = await dcc.send("6.14.3", "ESME", ExecutionDateTime=when.isoformat())
        await dcc.clock.sleep(7 * 3600)
        after = (await dcc.send("6.24.1", "ESME")).body["Credentials"]["Supplier"]
        return cancel, unoffered, before, after

    cancel, unoffered, before, after = on("reference", body)
    assert cancel.ok and "1 pending" in cancel.reason
    assert before == after  # the cancelled rotation never ran
    assert unoffered.response_code == "E11"  # not acknowledged: not in the service


@pytest.mark.skipif(not TEMPLATES.is_dir(), reason="no DUIS templates beside the project")
def test_the_smets1_service_table_is_the_schemas_and_templates_own() -> None:
    from s1bench.harness.dcc.service_catalogue import derive_service, smets1_service

    mmc = TEMPLATES.parents[1] / "duis-schema" / "MMC Schema V5.4.xsd"
    assert derive_service(sorted(TEMPLATES.glob("*.XML")), mmc) == smets1_service()


def test_the_srv_pack_lists_the_whole_service_and_fails_what_is_not_carried_out() -> None:
    from s1bench.harness.dcc.service_catalogue import smets1_service
    from s1bench.harness.packs import load_pack
    from s1bench.harness.runner import expand

    tests = expand(load_pack("standard-srv"), resolve_dmc("reference"))
    listed = {t.steps[-2].value for t in tests}  # each ends with its success and reject
    # Every SRV of the SMETS1 service is a test on the reference DMC (joins aside).
    assert set(smets1_service()) - {"8.7.1", "8.7.2", "8.8.1", "8.8.2", "8.11"} <= listed


def test_the_srv_pack_passes_on_the_reference_dmc(tmp_path: Path) -> None:
    """Every SRV of the reference DMC's service definition is carried out, over the HAN."""
    import json

    from s1bench.harness.cli import main

    assert main(["run", "standard-srv", "--dmc", "reference", "--seed", "4", "--out",
                 str(tmp_path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())["dmcs"]["reference"]
    verdicts = [json.loads(line) for line in (tmp_path / "record.jsonl").read_text().splitlines()]
    failed = [(v.get("test"), v.get("failures")) for v in verdicts if v.get("failures")]
    assert failed == []
    assert summary["exit_criteria_met"] is True
    assert summary["tests_run"] >= 100 and summary["passed"] == summary["tests_run"]
