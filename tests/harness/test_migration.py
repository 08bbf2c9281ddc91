"""The migration state machine's outcomes, as the DCC sees them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.devices import Outcome
from s1bench.emulator.zcl import STATUS_FAILURE
from s1bench.firmware_profiles.quirk_base import Quirk
from s1bench.harness.builder import DmcSpec, build_installation, resolve_dmc
from s1bench.harness.dcc import DccRole
from s1bench.harness.migration import MigrationState

ALL_STEPS = ("request", "validate", "credentials", "commission")


class RefuseNetworkOperatorOnce(Quirk):
    """Test-only fault (not registered): the first DNO credential change is refused."""

    name = "test_refuse_dno_once"
    issue = "TEST"
    title = "refuses the first network operator credential"

    def __init__(self, *, always: bool = False) -> None:
        super().__init__()
        self.always = always

    def device_command(self, ctx: Any, device: Any, op: str, args: dict[str, Any]) -> Any:
        dno = op == "update_credential" and args.get("role") == "NetworkOperator"
        if dno and (self.always or not ctx.memory.get("refused")):
            ctx.memory["refused"] = True
            return Outcome(apply=False, confirm=True, status=STATUS_FAILURE)
        return None


def _faulty(always: bool) -> DmcSpec:
    spec = resolve_dmc("reference-dormant")
    esme = replace(spec.devices["ESME"], quirks=(RefuseNetworkOperatorOnce(always=always),))
    return replace(spec, devices={**spec.devices, "ESME": esme})


def _migrate(spec: DmcSpec, *, mitigations: bool = False, on_epcl: bool = True,
             steps: tuple[str, ...] = ALL_STEPS, wait_before_last: float = 0.0,
             **request: Any) -> tuple[MigrationState, list[tuple[bool, str]], dict[str, Any]]:
    clock = VirtualClock()

    async def main() -> tuple[MigrationState, list[tuple[bool, str]], dict[str, Any]]:
        inst = build_installation(spec, clock)
        inst.start()
        dcc = DccRole(inst, spec.dcc_quirks, mitigations=mitigations)
        state = MigrationState(dcc, on_epcl=on_epcl, **request)
        results = []
        for number, name in enumerate(steps):
            if number == len(steps) - 1 and wait_before_last:
                await clock.sleep(wait_before_last)
            results.append(await state.step(name))
        after = (await dcc.send("6.24.1", "ESME")).body.get("Credentials", {})
        inst.medium.close()
        return state, results, after

    return clock.run(main())


def test_reference_migrates_and_holds_dcc_credentials() -> None:
    state, results, after = _migrate(resolve_dmc("reference-dormant"))
    assert all(ok for ok, _ in results)
    assert state.outcome == "migrated"
    assert set(after) >= {"Supplier", "NetworkOperator", "ACB"}
    assert after != state.before["ESME"]  # every slot now holds a DCC-placed credential
    assert all(after[r] != state.before["ESME"][r] for r in ("Supplier", "NetworkOperator",
                                                              "ACB"))


def test_refused_credential_rolls_back_and_reads_back_the_old_credentials() -> None:
    state, results, after = _migrate(_faulty(always=True))
    assert state.outcome == "rolled back"
    assert results[2][0] is False and "rolled back: True" in results[2][1]
    assert after == state.before["ESME"]  # verified by reading them back


def test_with_mitigations_a_passing_retry_fixes_forward() -> None:
    state, _, _ = _migrate(_faulty(always=False), mitigations=True)
    assert state.outcome == "fixed forward"
    assert any("fixed forward" in line for line in state.evidence)


def test_dumb_device_is_the_dumb_outcome() -> None:
    state, results, _ = _migrate(resolve_dmc("itron-dormant-dumb"))
    assert state.outcome == "dumb"
    assert "dumb" in results[2][1]


def test_mixed_aclara_is_rejected_before_any_change() -> None:
    # Seed 001: "unable to progress", mixed entries not requested: rejected, not stalled.
    state, results, _ = _migrate(resolve_dmc("aclara-ioc-mixed"))
    assert state.outcome == "rejected"
    assert results[0][0] is False
    assert "no responsible supplier" in results[0][1] and "not on the EPCL" in results[0][1]
    assert all(ok is False for ok, _ in results[1:])  # nothing after the request ran


def test_not_on_the_epcl_is_rejected() -> None:
    state, results, _ = _migrate(resolve_dmc("reference"), on_epcl=False)
    assert state.outcome == "rejected"
    assert all(ok is False for ok, _ in results)


def test_dormant_installation_is_activated_after_migration() -> None:
    _, results, _ = _migrate(resolve_dmc("reference-dormant"), steps=(*ALL_STEPS, "activate"))
    assert results[-1] == (True, "clock synchronised, price published, supply enabled: active")


def test_unknown_step_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown migration step"):
        _migrate(resolve_dmc("reference"), steps=("teleport",))


def test_credentials_are_replaced_on_the_hub_too() -> None:
    state, results, _ = _migrate(resolve_dmc("reference-dormant"))
    assert "CHF" in state.before and "on CHF, ESME, GSME" in results[2][1]


def test_validation_compares_models_and_firmware_with_the_requested_dmc() -> None:
    # The premises run the dormant entry's firmware; the request names the active entry's.
    claimed = resolve_dmc("itron-active").devices
    state, results, _ = _migrate(resolve_dmc("itron-dormant"), requested=claimed)
    assert state.outcome == "rejected" and results[1][0] is False
    assert "GSME FirmwareVersion '2.1.0', the DMC says '2.2.0'" in results[1][1]
    assert results[2] == (False, "migration already ended: rejected")  # nothing changed


def test_a_split_supply_point_is_rejected_before_any_change() -> None:
    state, results, _ = _migrate(resolve_dmc("reference-dormant"), split_supply=True)
    assert state.outcome == "rejected" and "split supply" in results[0][1]
    assert not state.before  # credentials were never read, let alone replaced


def test_the_key_rotation_window_is_seven_days_on_the_virtual_clock() -> None:
    steps = (*ALL_STEPS, "rotate")
    _, results, _ = _migrate(resolve_dmc("reference-dormant"), steps=steps,
                                 wait_before_last=6 * 86400)
    assert results[-1][0] is True and "within the 7-day window" in results[-1][1]
    _, results, _ = _migrate(resolve_dmc("reference-dormant"), steps=steps,
                                 wait_before_last=8 * 86400)
    assert results[-1] == (False, "ESME: key rotation outside the 7-day window "
                                  "(8.0 days after migration)")


def test_110031_rotation_is_repeated_five_minutes_later_under_mitigations() -> None:
    steps = (*ALL_STEPS, "rotate")
    _, quirky, _ = _migrate(resolve_dmc("aclara-ioc-dormant"), steps=steps)
    assert quirky[-1][0] is False and "E21" in quirky[-1][1]
    _, mitigated, _ = _migrate(resolve_dmc("aclara-ioc-dormant"), steps=steps, mitigations=True)
    assert mitigated[-1][0] is True


def test_anomaly_detection_hold_stalls_unless_the_dcc_changes_its_settings() -> None:
    from s1bench.firmware_profiles.quirk_base import make_quirk

    spec = replace(resolve_dmc("itron-dormant"), dcc_quirks=(make_quirk("anomaly_detection_hold"),))
    state, results, _ = _migrate(spec)
    assert state.outcome == "stalled" and "anomaly detection" in results[3][1]
    state, results, _ = _migrate(spec, mitigations=True)
    assert state.outcome == "migrated"
    assert any("changed its anomaly detection settings" in line for line in state.evidence)


def test_fixing_an_active_installation_forward_records_the_interruption() -> None:
    spec = replace(_faulty(always=False), status="Active")
    state, _, _ = _migrate(spec, mitigations=True)
    assert state.outcome == "fixed forward"
    [gap] = state.interruptions
    assert (gap["device"], gap["role"], gap["active"]) == ("ESME", "NetworkOperator", True)
    assert 300 <= gap["seconds"] < 301  # the wait, then the retry's round trip
    assert any("smart functions interrupted for 300" in line for line in state.evidence)
