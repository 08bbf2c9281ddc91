"""The negative pack: what the DCC must refuse, per SRV, and with which code and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s1bench.harness.builder import resolve_dmc
from s1bench.harness.cli import main
from s1bench.harness.dcc import dsp
from s1bench.harness.dcc.srvs import SRVS
from s1bench.harness.packs import load_pack
from s1bench.harness.runner import expand, out_of_range


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
    codes = {step["response"]["response_code"] for step in _steps(tmp_path)}
    assert {"E2", "E12"} <= codes
    assert (tmp_path / "report.html").is_file()


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
