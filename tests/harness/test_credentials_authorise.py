"""Credentials that authorise (issue 13, point 3).

A critical command reaches its target signed by the DCC's key for a slot;
the target verifies it against the key in that slot and refuses a wrong
signer, a wrong role and a stale or replayed counter, each with its own
outcome and a security-log entry. After a rotation the old key stops working.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from s1bench.emulator import credentials as creds
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.headend import Command, OutcomeStatus
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.dcc import DccRole
from s1bench.harness.dcc.authority import DccAuthority, KeyRef
from s1bench.harness.migration import MigrationState


def on(dmc: str, body: Callable[[DccRole], Awaitable[Any]], *, enrolled: bool = False,
       mitigations: bool = False) -> Any:
    clock = VirtualClock()
    spec = resolve_dmc(dmc)

    async def main() -> Any:
        inst = build_installation(spec, clock, seed=5, enrolled=enrolled)
        inst.start()
        try:
            return await body(DccRole(inst, spec.dcc_quirks, seed=5, mitigations=mitigations))
        finally:
            inst.medium.close()

    return clock.run(main())


async def migrate(dcc: DccRole) -> None:
    migration = MigrationState(dcc)
    for step in ("request", "validate", "credentials", "commission"):
        ok, text = await migration.step(step)
        assert ok, text


async def security_log(dcc: DccRole, device: str) -> list[str]:
    """The device's security log as a DCC user reads it (6.13)."""
    read = await dcc.send("6.13", device, LogToRead="Security")
    assert read.ok, read.reason
    return [f"{e['EventCode']} {e['Detail']}" for e in read.body["Events"]]


async def supply(dcc: DccRole) -> str:
    return str((await dcc.send("7.4", "ESME")).body["SupplyStatus"])


REFUSED = f"{creds.EVENT_AUTHORISATION_REFUSED:04X} authorisation refused"


def test_a_signed_disable_supply_works_and_its_replay_is_refused_and_logged() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        disable = await dcc.send("7.2", "ESME")
        captured = dcc.s1sp.last_signed
        assert captured is not None and captured.authorisation is not None
        enable = await dcc.send("7.1", "ESME")
        # Someone on the WAN sends the captured, validly signed 7.2 again.
        replay = await dcc.installation.execute(dataclasses.replace(captured))
        request = dcc.request("7.2", "ESME")
        return {"disable": disable, "enable": enable, "replay": replay,
                "duis": dcc.s1sp.translate(request, replay), "supply": await supply(dcc),
                "log": await security_log(dcc, "ESME"), "role": captured.authorisation.role}

    out = on("reference", body)
    assert out["disable"].ok and out["enable"].ok
    assert out["role"] == "Supplier"
    assert out["replay"].status is OutcomeStatus.STALE_COUNTER
    assert "counter" in out["replay"].reason
    assert out["duis"].response_code == "E1"
    assert out["supply"] == "Enabled"  # the replayed disable was not acted on
    assert [e for e in out["log"] if e.startswith(REFUSED)] == [
        f"{REFUSED}: Supplier counter 1 is not above 2"]


def test_a_signature_made_for_another_command_does_not_verify() -> None:
    async def body(dcc: DccRole) -> Any:
        await dcc.send("7.1", "ESME")
        enable = dcc.s1sp.last_signed
        assert enable is not None
        forged = Command("change_supply", enable.target, {"Supply": "Disabled"},
                         authorisation=enable.authorisation)
        outcome = await dcc.installation.execute(forged)
        return outcome, await supply(dcc)

    outcome, status = on("reference", body)
    assert outcome.status is OutcomeStatus.WRONG_SIGNER
    assert status == "Enabled"


def test_a_command_under_a_rotated_out_key_is_refused_until_the_dcc_learns_the_new_one() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        await migrate(dcc)
        esme = dcc.installation.eui_of("ESME")
        authority = dcc.s1sp.authority
        old = authority.current(esme, "Supplier")
        rotate = await dcc.send("6.15.1", "ESME", user="dcc", RemotePartyRole="Supplier")
        new = authority.current(esme, "Supplier")
        # A DCC (or anyone) still holding the rotated-out key signs a disable with it.
        authority.believed[(esme, "Supplier")] = old
        stale = await dcc.send("7.2", "ESME")
        after_stale = await supply(dcc)
        held = (await dcc.send("6.24.1", "ESME", user="dcc")).body["Credentials"]
        learned = authority.current(esme, "Supplier")
        fresh = await dcc.send("7.2", "ESME")
        return {"old": old, "new": new, "rotate": rotate, "stale": stale,
                "after_stale": after_stale, "held": held, "learned": learned, "fresh": fresh,
                "log": await security_log(dcc, "ESME"), "fp": authority.fingerprint(new)}

    out = on("reference", body)
    assert out["rotate"].ok
    assert out["old"] == KeyRef("dcc", "Supplier", 1) and out["new"] == KeyRef("dcc", "Supplier", 2)
    assert out["rotate"].body["CredentialFingerprint"] == out["fp"] == out["held"]["Supplier"]
    assert out["stale"].response_code == "E4"
    assert out["stale"].outcome == "wrong-signer"
    assert out["after_stale"] == "Enabled"
    assert out["learned"] == out["new"]  # the read-back settled it
    assert out["fresh"].ok
    assert any(e.startswith(REFUSED) and "signature does not verify" in e for e in out["log"])


def test_a_slot_whose_role_may_not_issue_the_command_is_refused() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        # The DCC's own user passes the DSP, but its ACB key may not switch a supply.
        by_acb = await dcc.send("7.2", "ESME", user="dcc")
        # A DSP that wrongly lets a network operator send 7.2: the meter still refuses.
        dcc.dsp.role_table["7.2"] = frozenset({"Supplier", "NetworkOperator"})
        by_dno = await dcc.send("7.2", "ESME", user="dno:ukpn")
        return {"acb": by_acb, "dno": by_dno, "supply": await supply(dcc),
                "log": await security_log(dcc, "ESME")}

    out = on("reference", body)
    for name in ("acb", "dno"):
        assert out[name].response_code == "E4", out[name].reason
        assert out[name].outcome == "wrong-role"
    assert out["supply"] == "Enabled"
    refused = [e for e in out["log"] if e.startswith(REFUSED)]
    assert [("ACB" in e, "NetworkOperator" in e) for e in refused] == [(True, False),
                                                                       (False, True)]
    assert all("may not authorise" in e for e in refused)


def test_the_hub_checks_a_command_for_itself_and_logs_a_replay() -> None:
    async def body(dcc: DccRole) -> tuple[Any, Any, list[str]]:
        rotate = await dcc.send("6.15.1", "CHF", user="dcc", RemotePartyRole="Supplier")
        captured = dcc.s1sp.last_signed
        assert captured is not None
        replay = await dcc.installation.execute(dataclasses.replace(captured))
        return rotate, replay, await security_log(dcc, "CHF")

    rotate, replay, log = on("reference", body)
    assert rotate.ok
    assert replay.status is OutcomeStatus.STALE_COUNTER
    assert any(e.startswith(REFUSED) and "ACB counter" in e for e in log)


def test_110031_the_unconfirmed_rotation_shows_as_a_refused_key_then_the_dcc_adopts_it() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        migration = MigrationState(dcc)
        for step in ("request", "validate", "credentials", "commission", "rotate"):
            ok, text = await migration.step(step)
        return {"ok": ok, "text": text, "log": await security_log(dcc, "ESME"),
                "outcomes": [o for o in dcc.s1sp.outcomes if o["status"] == "wrong-signer"]}

    mitigated = on("aclara-ioc-dormant", body, mitigations=True)
    assert mitigated["ok"], mitigated["text"]
    # The repeat was first signed with the key the DCC believed (the pre-rotation one):
    # the meter, which had rotated, refused it and logged it; the DCC then took the new key.
    assert any(e.startswith(REFUSED) and "ACB" in e for e in mitigated["log"])
    # The ESME's repeat and the GSME's, once each.
    assert len({o["target"] for o in mitigated["outcomes"]}) == 2
    assert all(o["op"] == "update_credential" and "replacement took" in o["reason"]
               for o in mitigated["outcomes"])
    quirky = on("aclara-ioc-dormant", body)
    assert not quirky["ok"] and "E21" in quirky["text"], quirky["text"]
    reference = on("reference", body)
    assert reference["ok"] and not reference["outcomes"]
    assert not any(e.startswith(REFUSED) for e in reference["log"])


def test_signing_is_deterministic_for_a_seed_and_keys_stay_inside() -> None:
    def signature(seed: int) -> bytes:
        authority = DccAuthority(seed)
        command = Command("change_supply", "00-11-22-33-44-55-66-77", {"Supply": "Disabled"})
        assert authority.sign(command, "Supplier")
        assert command.authorisation is not None
        return command.authorisation.signature

    assert signature(1) == signature(1)
    # The SMSO key is the pre-migration operator's, whatever the seed: same key, same nonce.
    assert signature(1) == signature(2)
    dcc_one, dcc_two = DccAuthority(1), DccAuthority(2)
    ref = KeyRef("dcc", "Supplier", 1)
    assert dcc_one.public_key(ref) != dcc_two.public_key(ref)
    command = Command("change_supply", "00-11-22-33-44-55-66-77", {"Supply": "Disabled"})
    dcc_one.sign(command, "Supplier")
    assert "signature" not in repr(command.authorisation)
    assert "private" not in repr(dcc_one).lower()


def test_a_device_acts_on_no_unsigned_supply_or_credential_command() -> None:
    async def body(dcc: DccRole) -> dict[str, Any]:
        esme = dcc.installation.eui_of("ESME")
        meter = dcc.installation.devices[esme]
        before = dict(meter.credentials)
        # A head-end command that never went through the DCC: no authorisation at all.
        disable = await dcc.installation.execute(Command("change_supply", esme,
                                                         {"Supply": "Disabled"}))
        rotate = await dcc.installation.execute(Command(
            "update_credential", esme, {"RemotePartyRole": "ACB",
                                        "DigitalSigningCertificate": "attacker"}))
        hub = await dcc.installation.execute(Command(
            "update_credential", dcc.installation.hub_eui, {"RemotePartyRole": "ACB"}))
        return {"disable": disable, "rotate": rotate, "hub": hub, "supply": await supply(dcc),
                "same": dict(meter.credentials) == before,
                "log": await security_log(dcc, "ESME")}

    out = on("reference", body, enrolled=True)
    assert out["disable"].status is OutcomeStatus.REFUSED and out["supply"] == "Enabled"
    assert out["rotate"].status is OutcomeStatus.WRONG_SIGNER and out["same"]
    assert out["hub"].status is OutcomeStatus.WRONG_SIGNER
    refused = [e for e in out["log"] if e.startswith(f"{creds.EVENT_AUTHORISATION_REFUSED:04X}")]
    assert [e.split(" ", 1)[1] for e in refused] == [
        "supply change without authorisation refused",
        "credential update ACB without authorisation refused"]


def test_a_lost_answer_is_recovered_without_opening_a_replay() -> None:
    """The hub repeats a frame whose answer was lost; a repeat is not a replay of an older one."""
    ieee = 0x00DB120000000001
    slots = creds.initial_slots(ieee)
    authority = DccAuthority(9)

    def authorisation(supply: str) -> tuple[bytes, Command]:
        command = Command("change_supply", "00-DB-12-00-00-00-00-01", {"Supply": supply})
        authority.sign(command, "Supplier")
        auth = command.authorisation
        assert auth is not None
        return creds.encode(auth.role, creds.ACTION_SUPPLY, auth.counter,
                            creds.command_digest(command.op, command.args),
                            auth.signature), command

    first, _ = authorisation("Disabled")
    assert creds.take(slots, ieee, first)[0] == creds.ACCEPTED
    assert creds.take(slots, ieee, first)[0] == creds.ACCEPTED  # the same frame again
    assert slots.authorised(creds.ACTION_SUPPLY, b"zcl frame")
    assert slots.authorised(creds.ACTION_SUPPLY, b"zcl frame")  # its retransmission
    assert not slots.authorised(creds.ACTION_SUPPLY, b"another frame")
    second, _ = authorisation("Enabled")
    assert creds.take(slots, ieee, second)[0] == creds.ACCEPTED
    assert creds.take(slots, ieee, first)[0] == creds.STALE_COUNTER  # older: a replay
    assert not slots.authorised(creds.ACTION_SUPPLY, b"zcl frame")  # a refusal ends the grant
    # Re-placing the key a slot holds does not reopen its counter.
    slots.place("Supplier", slots.keys["Supplier"])
    assert creds.take(slots, ieee, first)[0] == creds.STALE_COUNTER
