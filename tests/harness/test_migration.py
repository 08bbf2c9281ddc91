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
             steps: tuple[str, ...] = ALL_STEPS) -> tuple[MigrationState, list[tuple[bool, str]],
                                                          dict[str, Any]]:
    clock = VirtualClock()

    async def main() -> tuple[MigrationState, list[tuple[bool, str]], dict[str, Any]]:
        inst = build_installation(spec, clock)
        inst.start()
        dcc = DccRole(inst, spec.dcc_quirks, mitigations=mitigations)
        state = MigrationState(dcc, on_epcl=on_epcl)
        results = [await state.step(name) for name in steps]
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
