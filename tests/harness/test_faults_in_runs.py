"""Migrations on a HAN that drops, duplicates and reorders frames: one true outcome each.

"True" is checked against the devices themselves, not the DCC's view: a
migration recorded as migrated left DCC credentials in every holder it
replaced, one recorded as rolled back left every holder as the operator had
it before.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.devices import initial_credentials
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.cli import main
from s1bench.harness.dcc import DccRole
from s1bench.harness.migration import OUTCOMES, MigrationState
from s1bench.harness.runner import read_lines

HARSH = [{"kind": "drop", "probability": 0.08},
         {"kind": "duplicate", "probability": 0.08, "delay_s": 0.05},
         {"kind": "reorder", "probability": 0.08, "delay_s": 0.3}]

FAULTS_FILE = """\
faults:
  - kind: drop
    probability: 0.08
  - kind: duplicate
    probability: 0.08
    delay_s: 0.05
  - kind: reorder
    probability: 0.08
    delay_s: 0.3
"""


def _migrate(seed: int) -> tuple[str, dict[str, dict[str, str]], dict[str, dict[str, str]],
                                 dict[str, int]]:
    """One migration under HARSH: (outcome, credentials held before, held after, faults)."""
    spec = resolve_dmc("itron-dormant")
    clock = VirtualClock()

    async def run() -> tuple[str, dict[str, dict[str, str]], dict[str, dict[str, str]],
                             dict[str, int]]:
        inst = build_installation(spec, clock, seed=seed, index=seed,
                                  medium_options={"faults": HARSH})
        inst.start()
        holders = {"CHF": inst.hub, **{label.device_type: inst.devices[eui] for eui, label in
                                       inst.labels.items() if eui in inst.devices}}
        before = {kind: initial_credentials(node.ieee) for kind, node in holders.items()}
        migration = MigrationState(DccRole(inst, spec.dcc_quirks, seed=seed))
        for stage in ("request", "validate", "credentials", "commission"):
            ok, _ = await migration.step(stage)
            if not ok:
                break
        after = {kind: dict(node.credentials) for kind, node in holders.items()}
        counts = dict(inst.medium.faulted)
        inst.medium.close()
        return migration.outcome or "stalled", before, after, counts

    return clock.run(run())


def test_every_migration_under_faults_ends_in_the_state_its_outcome_says() -> None:
    seen: set[str] = set()
    struck = 0
    for seed in range(24):
        outcome, before, after, counts = _migrate(seed)
        assert outcome in OUTCOMES
        struck += sum(counts.values())
        seen.add(outcome)
        if outcome in ("migrated", "fixed forward"):
            for kind in ("CHF", "ESME"):
                changed = [role for role in before[kind] if after[kind][role] != before[kind][role]]
                assert changed, f"seed {seed}: {kind} recorded {outcome} but holds its old keys"
        elif outcome == "rolled back":
            assert after == before, f"seed {seed}: recorded rolled back, devices hold others"
    assert struck > 24, "the schedule must have struck"
    # The schedule is harsh enough to fail some migrations and gentle enough to let some through.
    assert "migrated" in seen and seen - {"migrated"}


def test_a_pack_run_records_its_faults_and_one_line_per_test(tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text(FAULTS_FILE)
    out = tmp_path / "run"
    code = main(["run", "standard-dormant-migration", "--dmc", "reference", "--out", str(out),
                 "--quiet", "--faults", str(faults)])
    assert code in (0, 1)
    lines = read_lines(out / "record.jsonl")
    run_line = next(line for line in lines if line["kind"] == "run")
    assert run_line["medium"]["faults"] == json.loads(json.dumps(HARSH))
    tests = [line["test"] for line in lines if line["kind"] == "test"]
    assert tests and len(tests) == len(set(tests))
    assert "faults: drop p 0.08; duplicate p 0.08 0.05 s; reorder p 0.08 0.3 s" in (
        out / "report.html").read_text()
    # A resume may not quietly drop or change the faults the run was started with.
    other = tmp_path / "other.yaml"
    other.write_text("faults:\n  - kind: drop\n")
    assert main(["run", "--resume", str(out), "--quiet", "--faults", str(other)]) == 2


def test_a_fleet_under_faults_records_one_outcome_per_installation(tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text(FAULTS_FILE)
    out = tmp_path / "fleet"
    args = ["fleet", "-n", "60", "--mix", "itron-dormant=1", "--per-day", "60", "--days", "1",
            "--out", str(out), "--quiet", "--faults", str(faults)]
    assert main(args) in (0, 1)
    lines = read_lines(out / "record.jsonl")
    assert lines[0]["medium_options"]["faults"] == json.loads(json.dumps(HARSH))
    installs = [line for line in lines if line["kind"] == "installation"]
    taken = [line["i"] for line in installs]
    assert taken and len(taken) == len(set(taken)), "an installation recorded twice"
    # A fault the DCC cannot explain is a new error: the DMC is halted, and says so.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["taken"] == len(taken)
    assert all(line["outcome"] in OUTCOMES for line in installs)
    assert sum(sum(line.get("faults", {}).values()) for line in installs) > 0
    # Seeded per installation: the same run again writes the same outcomes.
    again = tmp_path / "again"
    assert main([*args[:-5], "--out", str(again), "--quiet", "--faults", str(faults)]) in (0, 1)
    strip = [{k: v for k, v in line.items() if k != "wall_s"} for line in installs]
    assert strip == [{k: v for k, v in line.items() if k != "wall_s"} for line in
                     read_lines(again / "record.jsonl") if line["kind"] == "installation"]


@pytest.mark.parametrize(("text", "words"), [
    ("faults:\n  - kind: drop\n    probablity: 0.5\n", ":3: faults[0].probablity"),
    ("faults:\n  - kind: drop\n  - kind: melt\n", ":3: faults[1].kind"),
    ("faults: []\n", "faults"),
    ("- kind: drop\n", "a mapping with a 'faults' list"),
])
def test_a_bad_faults_file_is_one_clear_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: str) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text(text)
    for command in (["run", "standard-dormant-migration", "--out", str(tmp_path / "r")],
                    ["fleet", "-n", "5", "--out", str(tmp_path / "f")]):
        assert main([*command, "--quiet", "--faults", str(faults)]) == 2
        err = capsys.readouterr().err
        assert words in err and str(faults) in err and "Traceback" not in err




PACK_WITH_FAULTS = """\
pack: faulty-han
tests:
  - name: clean
    steps:
      - srv: "4.1.1"
        expect: {response_code: I0}
  - name: hub unheard
    faults:
      - kind: drop
        direction: from_hub
    steps:
      - srv: "4.1.1"
        expect: {response_code: I0}
  - name: duplicates are harmless
    faults:
      - kind: duplicate
    steps:
      - srv: "4.1.1"
        expect: {response_code: I0}
"""


def test_a_pack_test_names_its_own_faults_and_its_line_says_what_struck(
        tmp_path: Path) -> None:
    pack = tmp_path / "faulty.yaml"
    pack.write_text(PACK_WITH_FAULTS)
    out = tmp_path / "run"
    assert main(["run", str(pack), "--dmc", "reference", "--out", str(out), "--quiet"]) == 1
    tests = {line["test"]: line for line in read_lines(out / "record.jsonl")
             if line["kind"] == "test"}
    assert tests["clean"]["verdict"] == "pass" and "faults" not in tests["clean"]
    assert tests["hub unheard"]["verdict"] == "fail"
    assert tests["hub unheard"]["faults"]["drop"] > 0
    assert tests["duplicates are harmless"]["verdict"] == "pass"
    assert tests["duplicates are harmless"]["faults"]["duplicate"] > 0


def test_a_bad_faults_block_in_a_pack_names_its_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pack = tmp_path / "faulty.yaml"
    pack.write_text(PACK_WITH_FAULTS.replace("kind: duplicate", "kind: duplicate\n"
                                             "        probability: 7"))
    assert main(["run", str(pack), "--dmc", "reference", "--out", str(tmp_path / "r"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{pack}:17: tests[2].faults[0].probability" in err, err


def test_a_fleet_resume_refuses_other_faults(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text(FAULTS_FILE)
    out = tmp_path / "fleet"
    args = ["fleet", "-n", "5", "--per-day", "5", "--out", str(out), "--quiet"]
    assert main([*args, "--faults", str(faults)]) in (0, 1)
    assert main([*args, "--resume"]) == 2
    assert "--faults" in capsys.readouterr().err
    assert main([*args, "--resume", "--faults", str(faults)]) in (0, 1)
