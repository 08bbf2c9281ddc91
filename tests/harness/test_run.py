"""`s1bench run`: packs as data, the durable record, resume, exit criteria."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s1bench.harness.cli import main
from s1bench.harness.packs import PackError, load_pack
from s1bench.harness.runner import run_packs

PACKS = ["standard-dormant-migration", "standard-srv", "testing-issues"]


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_aclara_raises_110031_at_severity_3_without_mitigations(tmp_path: Path) -> None:
    code = main(["run", *PACKS, "--dmc", "aclara-ioc-dormant", "--out", str(tmp_path),
                 "--quiet"])
    dmc = _summary(tmp_path)["dmcs"]["aclara-ioc-dormant"]
    issue = next(i for i in dmc["testing_issues"] if i["id"] == "110031")
    assert issue["severity"] == 3
    assert code == (0 if dmc["exit_criteria_met"] else 1)
    html = (tmp_path / "report.html").read_text()
    assert "110031" in html and "Exit criteria" in html


def test_aclara_with_mitigations_does_not_raise_110031(tmp_path: Path) -> None:
    main(["run", *PACKS, "--dmc", "aclara-ioc-dormant", "--mitigations", "--out",
          str(tmp_path), "--quiet"])
    dmc = _summary(tmp_path)["dmcs"]["aclara-ioc-dormant"]
    assert all(i["id"] != "110031" for i in dmc["testing_issues"])


def test_killed_run_resumes_to_the_same_summary(tmp_path: Path) -> None:
    packs = [load_pack(name) for name in PACKS]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    dmcs = ["aclara-ioc-dormant", "honeywell-elster-dormant"]
    run_packs(packs, dmcs, whole, seed=3)
    run_packs(packs, dmcs, broken, seed=3, stop_after=17)  # "killed" half-way
    record = broken / "record.jsonl"
    with record.open("a") as fh:
        fh.write('{"kind": "step", "dmc": "torn')  # a line cut by the crash
    lines_before = record.read_text().splitlines()[:-1]
    assert main(["run", "--resume", str(broken), "--quiet"]) in (0, 1)
    main(["run", *PACKS, *[arg for d in dmcs for arg in ("--dmc", d)], "--seed", "3",
          "--out", str(whole), "--force", "--quiet"])
    assert record.read_text().splitlines()[: len(lines_before)] == lines_before
    assert (broken / "summary.json").read_bytes() == (whole / "summary.json").read_bytes()


def test_broken_pack_is_rejected_before_anything_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pack: bad\ntests:\n  - name: x\n    steps:\n      - srv: '99.9'\n")
    with pytest.raises(PackError) as err:
        load_pack(str(bad))
    assert "bad.yaml:5" in str(err.value) and "99.9" in str(err.value)
    out = tmp_path / "out"
    assert main(["run", str(bad), "--dmc", "reference", "--out", str(out), "--quiet"]) == 2
    assert not (out / "record.jsonl").exists()


@pytest.mark.parametrize("text, needle", [
    ("pack: p\ntests: [\n", "YAML error"),
    ("pack: p\ntests:\n  - name: t\n    steps:\n      - srv: '4.1.1'\n"
     "        expect: {colour: red}\n",
     "unknown expectation"),
    ("pack: p\ntests:\n  - name: t\n    steps:\n      - teleport: 1\n", "exactly one of"),
])
def test_pack_errors_name_file_and_reason(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PackError) as err:
        load_pack(str(path))
    assert "p.yaml" in str(err.value) and needle in str(err.value)


def test_record_redacts_install_codes(tmp_path: Path) -> None:
    run_packs([load_pack("standard-dormant-migration")], ["reference"], tmp_path)
    text = (tmp_path / "record.jsonl").read_text()
    assert '"InstallCode": "<redacted' in text


def test_no_key_material_in_records_reports_or_duis_output(tmp_path: Path) -> None:
    """Keys live only in capture key files; nothing a reviewer reads carries them."""
    from s1bench.emulator.capture import read_key_file

    out = tmp_path / "run"
    main(["run", "standard-dormant-migration", "--dmc", "reference", "--capture", "--out",
          str(out), "--quiet"])
    duis = tmp_path / "duis"
    template = (Path(__file__).resolve().parents[3] / "shared" / "duis-templates" / "templates"
                / "CCS01_8.11_SUCCESS_REQUEST_DUIS.XML")
    main(["duis", str(template), "--dmc", "reference", "--out", str(duis)])
    from s1bench.emulator.clock import VirtualClock
    from s1bench.emulator.installation import REFERENCE_DMC, Installation
    from s1bench.emulator.medium import make_medium

    keys = {key.upper() for f in out.rglob("*.keys") for key, _ in read_key_file(f)}
    assert keys, "the capture should have written key files to compare against"
    clock = VirtualClock()
    duis_installation = Installation(REFERENCE_DMC, make_medium("memory", clock=clock), clock)
    keys |= {label.install_code.hex().upper() for label in duis_installation.labels.values()
             if label.install_code}
    readable = [f for d in (out, duis) for f in d.rglob("*")
                if f.is_file() and f.suffix not in (".pcap", ".keys")]
    assert any(f.name == "report.html" for f in readable)
    for f in readable:
        text = f.read_text(errors="replace").upper()
        leaked = [k for k in keys if k in text]
        assert not leaked, f"{f.name} carries key material"


def test_sigkill_mid_run_then_resume_gives_the_same_summary(tmp_path: Path) -> None:
    """A real kill (SIGKILL, no clean-up) half-way, then `--resume`."""
    import os
    import signal
    import subprocess
    import sys
    import time

    dmcs = ["reference", "aclara-ioc-dormant", "itron-active", "honeywell-elster-dormant",
            "secure-liberty-110-dormant", "itron-dormant-dumb"]
    dmc_args = [arg for d in dmcs for arg in ("--dmc", d)]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "s1bench.harness.cli", "run", *PACKS, *dmc_args, "--seed", "5",
         "--out", str(killed), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    record = killed / "record.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if record.exists() and record.read_text().count('"kind": "test"') >= 40:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    written = record.read_text()
    assert '"kind": "end"' not in written
    assert main(["run", "--resume", str(killed), "--quiet"]) in (0, 1)
    assert record.read_text().startswith(written.rsplit("\n", 1)[0])  # nothing lost
    whole = tmp_path / "whole"
    main(["run", *PACKS, *dmc_args, "--seed", "5", "--out", str(whole), "--quiet"])
    assert (killed / "summary.json").read_bytes() == (whole / "summary.json").read_bytes()


def test_medium_options_are_checked_and_recorded(tmp_path: Path) -> None:
    assert main(["run", "standard-srv", "--dmc", "reference", "--loss", "1.5", "--out",
                 str(tmp_path / "bad"), "--quiet"]) == 2
    assert not (tmp_path / "bad" / "record.jsonl").exists()
    out = tmp_path / "lossy"
    main(["run", "standard-srv", "--dmc", "reference", "--loss", "0.2", "--seed", "1",
          "--out", str(out), "--quiet"])
    head = json.loads((out / "record.jsonl").read_text().splitlines()[0])
    assert head["medium"]["loss"] == 0.2


def test_a_test_whose_checking_steps_were_skipped_is_skipped_not_passed(tmp_path: Path) -> None:
    """Honeywell Elster dormant has no PPMID: the join test proves nothing there."""
    import xml.etree.ElementTree as ET

    out = tmp_path / "hw"
    main(["run", "standard-dormant-migration", "--dmc", "honeywell-elster-dormant",
          "--out", str(out), "--quiet"])
    tests = [json.loads(line) for line in (out / "record.jsonl").read_text().splitlines()
             if '"kind": "test"' in line]
    join = next(t for t in tests if t["test"] == "Join a PPMID after migration")
    assert join["verdict"] == "skip"
    case = next(c for c in ET.parse(out / "junit.xml").iter("testcase")
                if c.get("name") == "Join a PPMID after migration")
    skipped = case.find("skipped")
    assert skipped is not None and "has no PPMID" in skipped.get("message", "")
    assert "has no PPMID" in (out / "report.html").read_text()
    # The reference DMC has a PPMID: there the same test runs its join steps and passes.
    ref = tmp_path / "ref"
    main(["run", "standard-dormant-migration", "--dmc", "reference", "--out", str(ref),
          "--quiet"])
    lines = [json.loads(x) for x in (ref / "record.jsonl").read_text().splitlines()]
    join_steps = [x for x in lines if x.get("kind") == "step"
                  and x["test"] == "Join a PPMID after migration"]
    assert {s["verdict"] for s in join_steps} == {"pass"}
