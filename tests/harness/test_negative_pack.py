"""The negative pack: what the DCC must refuse, per SRV, and with which code and reason;
and the HAN security negatives, which the emulator's HAN must drop, log and not act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s1bench.emulator import han_guard
from s1bench.harness.builder import resolve_dmc
from s1bench.harness.cli import main
from s1bench.harness.dcc import dsp
from s1bench.harness.dcc.srvs import SRVS
from s1bench.harness.packs import Pack, PackError, load_pack
from s1bench.harness.runner import expand, out_of_range, run_packs

HAN_KINDS = {"bad_mic", "wrong_network_key", "unknown_device", "replayed_counter"}
#: The GBCS alert code each hostile frame must leave in the target's security log.
HAN_CODES = {"bad_mic": "8F53", "wrong_network_key": "8F53", "unknown_device": "8F3E",
             "replayed_counter": "8F60"}


def _steps(out: Path) -> list[dict]:
    lines = [json.loads(line) for line in (out / "record.jsonl").read_text().splitlines()]
    return [line for line in lines if line.get("kind") == "step"]


def test_every_srv_carried_out_gets_its_refusals() -> None:
    spec = resolve_dmc("reference")
    tests = {t.name: t for t in expand(load_pack("negative"), spec)}
    for srv, srv_spec in SRVS.items():
        if not any(srv in spec.devices[t].srvs for t in srv_spec.targets if t in spec.devices):
            continue
        test = tests[f"Refused {srv} {srv_spec.name}"]
        codes = [step.expect["response_code"] for step in test.steps]
        bounded = [n for n, p in srv_spec.params.items() if out_of_range(p) is not None]
        assert codes.count("E12") == len(bounded), srv
        assert codes[-1] == "E2", srv  # every SRV has a role that may not send it


def test_negative_pack_passes_on_the_reference(tmp_path: Path) -> None:
    assert main(["run", "negative", "--dmc", "reference", "--out", str(tmp_path),
                 "--quiet"]) == 0
    steps = _steps(tmp_path)
    codes = {step["response"]["response_code"] for step in steps if step["response"]}
    assert {"E2", "E12"} <= codes
    assert (tmp_path / "report.html").is_file()
    han = [step["han_inject"] for step in steps if "han_inject" in step]
    assert {(h["kind"], h["device"]) for h in han} == {
        (kind, device) for kind in HAN_KINDS for device in ("ESME", "GSME", "CHF")}
    for h in han:
        assert h["acted_on"] is False, h
        assert h["security_log_gained"] == [HAN_CODES[h["kind"]]], h


def _han_pack() -> Pack:
    pack = load_pack("negative")
    return Pack(pack.id, pack.title, tuple(t for t in pack.tests if t.name.startswith("HAN ")),
                pack.file)


def test_a_han_that_checks_no_security_fails_the_han_tests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the guard: a replayed or stranger's alert is obeyed, nothing is logged.

    A meter still keeps its supply: a supply change needs the slot holder's
    signed authorisation as well (emulator/credentials.py), which no HAN frame
    carries, so the guard is not the meter's only defence there.
    """
    monkeypatch.setattr(han_guard, "admit", lambda node, frame, data: True)
    monkeypatch.setattr(han_guard, "mic_failed", lambda node, exc, frame: None)
    run_packs([_han_pack()], ["reference"], tmp_path)
    steps = _steps(tmp_path)
    assert len(steps) == 12
    assert all(s["verdict"] == "fail" for s in steps)
    for step in steps:
        h = step["han_inject"]
        obeyed = h["kind"] in ("unknown_device", "replayed_counter") and h["device"] == "CHF"
        assert h["acted_on"] is obeyed, h
        # Nothing of the guard's (a refused authorisation, 8F1F, is the meter's own).
        assert not set(h["security_log_gained"]) & {"8F53", "8F60", "8F3E"}, h
        assert any("security log gained no" in f for f in step["failures"])


def test_a_replayed_frame_is_one_the_target_accepted(tmp_path: Path) -> None:
    """The replay step makes its genuine frame in the open: the DCC's SRVs are recorded."""
    pack = _han_pack()
    replay = Pack(pack.id, pack.title, tuple(t for t in pack.tests
                                             if t.name == "HAN replayed_counter to the ESME"),
                  pack.file)
    run_packs([replay], ["reference"], tmp_path)
    (step,) = _steps(tmp_path)
    assert step["verdict"] == "pass"
    sent = [(s["srv"], s["response_code"]) for s in step["sent"]]
    assert sent[:2] == [("7.2", "I0"), ("7.1", "I0")]


@pytest.mark.parametrize(("step", "reason"), [
    ("{han_inject: {kind: bad_mic}, device: PPMID, expect: {acted_on: false}}",
     "not a PPMID"),
    ("{han_inject: {kind: bad_mic, command: publish_alert}, device: ESME, "
     "expect: {acted_on: false}}", "does not take publish_alert"),
    ("{han_inject: {kind: bad_mic}, device: ESME}", "checks nothing"),
    ("{han_inject: {kind: sniff}, device: ESME, expect: {acted_on: false}}", "bad_mic"),
    ("{han_inject: {kind: bad_mic}, device: ESME, expect: {security_log: 8G53}}",
     "4-digit hex alert code"),
    ("{srv: '4.1.1', device: ESME, expect: {acted_on: false}}", "belong to han_inject"),
])
def test_a_broken_han_inject_step_is_refused_with_its_reason(
        tmp_path: Path, step: str, reason: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"pack: p\ntests:\n  - name: t\n    steps:\n      - {step}\n",
                    encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_pack(str(path))
    assert reason in str(caught.value)


def test_a_dsp_that_checks_no_roles_fails_it(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    everyone = frozenset({"Supplier", "NetworkOperator", "LoadController", "OtherUser"})
    check = dsp.Dsp.check

    def lax(self: dsp.Dsp, *args: object) -> object:
        saved, self.role_table = self.role_table, {srv: everyone for srv in self.role_table}
        try:
            return check(self, *args)
        finally:
            self.role_table = saved

    monkeypatch.setattr(dsp.Dsp, "check", lax)
    assert main(["run", "negative", "--dmc", "reference", "--out", str(tmp_path),
                 "--quiet"]) == 1
    failed = [s for s in _steps(tmp_path) if s["verdict"] == "fail"]
    assert len(failed) > 50
    assert all(s["step"].startswith("sent by") or "E2" in s["failures"][0] for s in failed)


def test_a_dsp_that_checks_no_ranges_fails_it(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from s1bench.harness.dcc.srvs import SrvSpec

    monkeypatch.setattr(SrvSpec, "validate", lambda self, params: dict(params))
    assert main(["run", "negative", "--dmc", "reference", "--out", str(tmp_path),
                 "--quiet"]) == 1
    failed = [s for s in _steps(tmp_path) if s["verdict"] == "fail"]
    # Some get past the DSP only to be refused later for another reason: still failures.
    assert len(failed) > 30
    assert all(not s["step"].startswith("sent by") for s in failed)
