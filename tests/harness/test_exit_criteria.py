"""Exit criteria as a DMCT reviewer reads them: what counts, what is only reported.

DOMAIN.md: only Testing Issues count against the Testing Issue Threshold;
residual risks (9, 11) and the other kinds are reported beside it; every
severity the seeds do not give is s1bench's assumption and says so; seed 002
lets an open Testing Issue be agreed "not counted"; risk 11 is answered by
alert volumes per DMC and day against a level of concern.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path
from typing import Any

import pytest
from s1bench.harness.cli import main
from s1bench.harness.reports import read_record, render_html, summarise

MIGRATION = "standard-dormant-migration"


def _run(capsys: pytest.CaptureFixture[str], out: Path, *args: str) -> tuple[int, str]:
    code = main(["run", *args, "--out", str(out), "--quiet"])
    return code, capsys.readouterr().out


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def _record(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "record.jsonl").read_text().splitlines()]


def _table_row(text: str, first_cell: str) -> dict[str, str]:
    """A row of a plain exit table as {header: cell}, cut at the header's columns."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("DMC "))
    header, rule = lines[head], lines[head + 1]
    spans, start = [], 0
    for dashes in rule.split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    row = next(line for line in lines[head + 2:] if line.split("  ")[0].strip() == first_cell)
    last = spans[-1]
    return {header[a:b].strip(): (row[a:] if (a, b) == last else row[a:b]).strip()
            for a, b in spans}


def _section(page: str, dmc: str) -> str:
    start = page.index(f'<section id="dmc-{dmc}">')
    return page[start:page.index("</section>", start)]


# --------------------------------------------------------------------------- residual risks


def test_a_dmc_whose_only_issue_is_a_residual_risk_meets_its_exit_criteria(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Itron dormant raises only risk 11: reported beside the threshold, never counted."""
    code, printed = _run(capsys, tmp_path, MIGRATION, "testing-issues", "--dmc", "itron-dormant")
    dmc = _summary(tmp_path)["dmcs"]["itron-dormant"]
    assert code == 0 and dmc["exit_criteria_met"] is True
    assert dmc["testing_issues"] == []
    assert dmc["open_by_severity"] == {"1": 0, "2": 0, "3": 0, "4": 0}
    [risk] = dmc["not_counted"]
    assert (risk["id"], risk["kind"], risk["counts"]) == ("risk-11", "residual-risk", False)
    assert "residual risk" in risk["reason"]
    # The record itself says so: a report regenerated from it reaches the same verdict.
    issues = [i for line in _record(tmp_path) if line.get("kind") == "test"
              for i in line["testing_issues"]]
    assert issues and all(i["kind"] == "residual-risk" and i["counts"] is False for i in issues)
    beside = _section((tmp_path / "report.html").read_text(), "itron-dormant")
    beside = beside.split("Reported beside the threshold (not counted)", 1)[1]
    assert "<td>risk-11</td><td>residual risk</td>" in beside.split("</table>", 1)[0]
    row = _table_row(printed, "itron-dormant")
    assert row["EXIT CRITERIA"] == "met"
    assert row["TESTING ISSUES (COUNTED)"] == "-"
    assert row["REPORTED, NOT COUNTED"].startswith("risk-11 (residual")


def test_a_residual_risk_never_breaches_even_a_zero_threshold(tmp_path: Path) -> None:
    """Hand-written record: a Severity 3 residual risk against an S3 allowance of 0."""
    lines = [
        {"kind": "run", "run_id": "r", "seed": 0, "packs": ["p"], "dmcs": ["D"],
         "mitigations": False},
        {"kind": "dmc", "dmc": "D", "title": "t", "status": "Dormant", "epcl_id": "900001",
         "testing_issue_threshold": {"1": 0, "2": 0, "3": 0}, "children": [], "devices": []},
        {"kind": "test", "dmc": "D", "pack": "p", "test": "alerts", "verdict": "fail",
         "testing_issues": [{"id": "risk-11", "title": "alerts", "severity": 3,
                             "kind": "residual-risk", "counts": False,
                             "severity_assumed": True, "evidence": "98 alerts"}]},
        {"kind": "end"},
    ]
    path = tmp_path / "record.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    s = summarise(read_record(path))["dmcs"]["D"]
    assert s["exit_criteria_met"] is True and s["breaches"] == []
    assert [i["id"] for i in s["not_counted"]] == ["risk-11"]


def test_an_issue_from_an_older_record_counts_and_its_severity_is_marked_assumed(
        tmp_path: Path) -> None:
    """No kind, counts or severity_assumed: counted, as before; never shown as seed-given."""
    lines = [
        {"kind": "run", "run_id": "r", "seed": 0, "packs": ["p"], "dmcs": ["D"]},
        {"kind": "dmc", "dmc": "D", "testing_issue_threshold": {"2": 0}},
        {"kind": "test", "dmc": "D", "pack": "p", "test": "t", "verdict": "fail",
         "testing_issues": [{"id": "NEW-6.7", "title": "SRV 6.7 failed", "severity": 2}]},
        {"kind": "end"},
    ]
    path = tmp_path / "record.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    s = summarise(read_record(path))["dmcs"]["D"]
    [issue] = s["testing_issues"]
    assert issue["severity_label"] == "S2 (assumed)" and s["exit_criteria_met"] is False


# --------------------------------------------------------------------------- severities


def test_assumed_severities_are_marked_in_summary_report_and_junit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Itron active: 91333's Severity 2 comes from seed 000; 61224's is s1bench's."""
    code, printed = _run(capsys, tmp_path, "testing-issues", "--dmc", "itron-active")
    assert code == 1
    issues = {i["id"]: i for i in _summary(tmp_path)["dmcs"]["itron-active"]["testing_issues"]}
    assert issues["61224"]["severity_assumed"] is True
    assert issues["61224"]["severity_label"] == "S2 (assumed)"
    assert issues["91333"]["severity_assumed"] is False
    assert issues["91333"]["severity_label"] == "S2"
    assert issues["91333"]["severity_source"].startswith("seed 000")
    page = _section((tmp_path / "report.html").read_text(), "itron-active")
    counted = page.split("<h3>Testing Issues</h3>", 1)[1].split("</table>", 1)[0]
    row_61224 = counted.split("<td>61224</td>", 1)[1].split("</tr>", 1)[0]
    row_91333 = counted.split("<td>91333</td>", 1)[1].split("</tr>", 1)[0]
    assert "2 (assumed)</span>" in row_61224 and "assumed by s1bench" in row_61224
    assert "(assumed)" not in row_91333 and "seed 000 §4.4" in row_91333
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    texts = " ".join(f.text or "" for f in junit.iter("failure"))
    assert "Testing Issue 61224 [S2 (assumed)]" in texts
    assert "Testing Issue 91333 [S2, severity from seed 000" in texts
    assert "Residual risk risk-11 [S3 (assumed); reported, not counted]" in texts
    assert "61224 (S2 assumed)" in _table_row(printed, "itron-active")[
        "TESTING ISSUES (COUNTED)"]


def test_new_issues_are_counted_testing_issues_with_an_assumed_severity() -> None:
    from s1bench.harness.runner import _quirk_for_issue

    unknown = _quirk_for_issue("NEW-9.9")
    assert (unknown["kind"], unknown["counts"], unknown["severity"],
            unknown["severity_assumed"]) == ("testing-issue", True, 2, True)
    # 91339 and 91340 are two issue numbers: a record keeps them apart.
    assert _quirk_for_issue("91340")["id"] == "91340"
    assert _quirk_for_issue("risk-11")["kind"] == "residual-risk"


def test_a_rejected_mixed_aclara_request_is_the_mixed_aclara_blocker_not_a_new_issue(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, tmp_path, MIGRATION, "--dmc", "aclara-ioc-mixed")
    dmc = _summary(tmp_path)["dmcs"]["aclara-ioc-mixed"]
    ids = [i["id"] for i in dmc["testing_issues"] + dmc["not_counted"]]
    assert "MIG-request" not in ids and "mixed-aclara" in ids
    blocker = next(i for i in dmc["not_counted"] if i["id"] == "mixed-aclara")
    assert blocker["kind"] == "blocker"
    assert dmc["migration_outcomes"] == {"rejected": 4}


# --------------------------------------------------------------------------- seed 002


def test_not_counted_excludes_an_issue_and_is_recorded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "agreed"
    code, printed = _run(capsys, out, "testing-issues", "--dmc", "itron-active",
                         "--not-counted", "91333")
    head = _record(out)[0]
    assert head["kind"] == "run" and head["not_counted"] == ["91333"]
    summary = _summary(out)
    dmc = summary["dmcs"]["itron-active"]
    assert summary["not_counted"] == ["91333"]
    assert [i["id"] for i in dmc["testing_issues"]] == ["61224"]
    assert dmc["open_by_severity"]["2"] == 1
    agreed = next(i for i in dmc["not_counted"] if i["id"] == "91333")
    assert agreed["reason"] == "agreed not counted (seed 002)"
    assert "agreed not counted (seed 002)" in (out / "report.html").read_text()
    assert code == 1  # 61224 still counts
    assert "91333 (agreed not counted" in _table_row(printed, "itron-active")[
        "REPORTED, NOT COUNTED"]
    # With 61224 agreed too, nothing counts and the exit criteria are met.
    both = tmp_path / "both"
    code, _ = _run(capsys, both, "testing-issues", "--dmc", "itron-active",
                   "--not-counted", "91333", "--not-counted", "61224")
    assert code == 0 and _summary(both)["dmcs"]["itron-active"]["exit_criteria_met"] is True


def test_resume_refuses_a_not_counted_that_contradicts_the_record(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from s1bench.harness.packs import load_pack
    from s1bench.harness.runner import run_packs

    run_packs([load_pack("testing-issues")], ["itron-active"], tmp_path,
              not_counted=["91333"], stop_after=2)
    assert main(["run", "--resume", str(tmp_path), "--not-counted", "61224", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--not-counted 61224 (recorded: 91333)" in err and len(err.strip().splitlines()) == 1
    assert main(["run", "--resume", str(tmp_path), "--alert-level-of-concern", "5",
                 "--quiet"]) == 2
    assert "--alert-level-of-concern 5 (recorded: 24)" in capsys.readouterr().err
    # Without the option the recorded agreement carries on into the finished run.
    assert main(["run", "--resume", str(tmp_path), "--quiet"]) == 1
    assert _summary(tmp_path)["not_counted"] == ["91333"]


def test_not_counted_comes_from_the_settings_file_and_bad_ids_are_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "s1bench.toml"
    config.write_text('not_counted = ["91333"]\nalert_level_of_concern = 40\n')
    out = tmp_path / "run"
    assert main(["--config", str(config), "run", "testing-issues", "--dmc", "itron-active",
                 "--out", str(out), "--quiet"]) == 1
    head = _record(out)[0]
    assert (head["not_counted"], head["alert_level_of_concern"]) == (["91333"], 40)
    capsys.readouterr()
    assert main(["run", "testing-issues", "--dmc", "itron-active", "--not-counted", "91 333",
                 "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--not-counted" in err and "not a Testing Issue id" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "bad" / "record.jsonl").exists()


# --------------------------------------------------------------------------- risk 11


def test_alert_volumes_per_dmc_and_day_appear_with_the_level_of_concern(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed = _run(capsys, tmp_path, MIGRATION, "--dmc", "itron-dormant",
                         "--alert-level-of-concern", "30")
    tests = [line for line in _record(tmp_path) if line.get("kind") == "test"]
    assert all("alerts" in t for t in tests)
    assert sum(sum(t["alerts"].values()) for t in tests) > 30
    summary = _summary(tmp_path)
    dmc = summary["dmcs"]["itron-dormant"]
    assert summary["alert_level_of_concern"] == 30
    assert dmc["alert_volumes"] and {v["level"] for v in dmc["alert_volumes"]} == {30}
    assert all(v["over_level"] == (v["max_per_installation"] > 30)
               for v in dmc["alert_volumes"])
    assert dmc["alert_days_over_level"] >= 1
    # Flagged, never counted: the DMC still meets its exit criteria.
    assert code == 0 and dmc["exit_criteria_met"] is True
    page = _section((tmp_path / "report.html").read_text(), "itron-dormant")
    alerts = page.split("<h3>Device alert volumes</h3>", 1)[1]
    assert "level of concern of 30 alerts per installation and day" in alerts
    first = dmc["alert_volumes"][0]
    assert f"<td>{first['day']}</td><td>{first['alerts']}</td>" in alerts
    assert "over the level (flagged, not counted)" in alerts
    assert "itron-dormant" in printed.split("alert volumes over the level of concern", 1)[1]


def test_a_dmc_without_alerts_shows_the_level_and_no_rows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, tmp_path, MIGRATION, "--dmc", "reference")
    assert _summary(tmp_path)["dmcs"]["reference"]["alert_volumes"] == []
    page = (tmp_path / "report.html").read_text()
    assert "No device alerts seen (level of concern 24 a day)" in page


# --------------------------------------------------------------------------- the report


def test_report_lists_every_test_mitigations_medium_and_captures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, tmp_path, MIGRATION, "testing-issues", "--dmc", "aclara-ioc-dormant",
         "--mitigations", "--capture", "--latency", "0.02")
    record = read_record(tmp_path / "record.jsonl")
    page = render_html(record)
    tests = page.split("<h3>Tests</h3>", 1)[1].split("</table>", 1)[0]
    for (_, pack, name), test in record.tests.items():
        assert f"<td>{escape(pack)}</td><td>{escape(name)}</td><td>{test['verdict']}</td>" \
            in tests
    assert "the DMC does not carry join_window_limit" in tests  # a skip's reason
    # The run's medium settings.
    assert "latency 0.02 s, jitter 0.0 s, loss 0.0" in page
    # 110031's mitigation was applied (so the issue did not arise) and is named.
    dmc = summarise(record)["dmcs"]["aclara-ioc-dormant"]
    m110031 = next(m for m in dmc["mitigations"] if m["id"] == "110031")
    assert (m110031["applied"], m110031["raised"]) == (True, False)
    mitigations = page.split("<h3>Mitigations</h3>", 1)[1].split("</table>", 1)[0]
    assert "--mitigations" in mitigations and escape(m110031["mitigation"]) in mitigations
    # Each pcap the run wrote is linked, by a path inside the run folder.
    links = [part.split('"', 1)[0] for part in tests.split('<a href="')[1:]]
    assert links and all(link.startswith("captures/") for link in links)
    assert all((tmp_path / link).is_file() for link in links)
    assert ".keys" not in "".join(links)


def test_a_capture_path_from_outside_the_run_folder_is_not_linked(tmp_path: Path) -> None:
    lines = [
        {"kind": "run", "run_id": "r", "seed": 0, "packs": ["p"], "dmcs": ["D"],
         "capture": True},
        {"kind": "dmc", "dmc": "D"},
        {"kind": "test", "dmc": "D", "pack": "p", "test": "a", "verdict": "pass",
         "testing_issues": [], "capture": "../../secret.pcap"},
        {"kind": "test", "dmc": "D", "pack": "p", "test": "b", "verdict": "pass",
         "testing_issues": [], "capture": "javascript:alert(1)//x.pcap"},
        {"kind": "end"},
    ]
    path = tmp_path / "record.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    page = render_html(read_record(path))
    assert "<a href" not in page.split("<h2>Overview</h2>", 1)[1].replace(
        '<a href="#dmc-D">', "")
    assert page.count("not linked: not a path inside the run folder") == 2


def test_children_are_covered_by_their_tested_parent_and_run_only_when_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parent, child = "secure-liberty-100-dormant", "secure-liberty-100-dormant-se1"
    _run(capsys, tmp_path / "parent", MIGRATION, "--dmc", parent)
    summary = _summary(tmp_path / "parent")
    assert list(summary["dmcs"]) == [parent]  # the child was not run
    [entry] = summary["dmcs"][parent]["equivalent_children"]
    assert (entry["id"], entry["covered_by"], entry["run_here"]) == (child, parent, False)
    assert entry["parent_exit_criteria_met"] is summary["dmcs"][parent]["exit_criteria_met"]
    page = (tmp_path / "parent" / "report.html").read_text()
    row = page.split(f"<td>{child}</td>", 1)[1].split("</tr>", 1)[0]
    assert f"covered by {parent} (tested)" in row and "exit criteria met" in row
    # Named explicitly, the child runs, and its report says whose DMCT covers it.
    _run(capsys, tmp_path / "child", MIGRATION, "--dmc", child)
    alone = _summary(tmp_path / "child")["dmcs"][child]
    assert alone["equivalence_parent"]["id"] == parent
    assert alone["equivalence_parent"]["run_here"] is False
    assert f"covered by {parent}" in (tmp_path / "child" / "report.html").read_text()


# --------------------------------------------------------------------------- the demo


def test_demo_exit_table_shows_residual_items_beside_the_counted_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    itron = _table_row(printed, "itron-dormant")
    assert itron["EXIT CRITERIA"] == "met" and itron["TESTING ISSUES (COUNTED)"] == "-"
    assert "risk-11 (residual" in itron["REPORTED, NOT COUNTED"]
    liberty = _table_row(printed, "secure-liberty-110-dormant")
    assert "liberty-110 (restriction" in liberty["REPORTED, NOT COUNTED"]
    honeywell = _table_row(printed, "honeywell-elster-dormant")
    assert "91342 (S2)" in honeywell["TESTING ISSUES (COUNTED)"]
    assert "(S2 assumed)" in honeywell["TESTING ISSUES (COUNTED)"]


def test_a_blocker_is_not_counted_but_keeps_the_entry_from_meeting_its_criteria(
        tmp_path: Path) -> None:
    # Seed 001: mixed Aclara entries are "unable to progress" and not requested.
    from s1bench.harness.packs import load_pack
    from s1bench.harness.reports import read_record, summarise, write_reports
    from s1bench.harness.runner import run_packs

    run_packs([load_pack("standard-dormant-migration")], ["aclara-ioc-mixed"], tmp_path, seed=1)
    summary = summarise(read_record(tmp_path / "record.jsonl"))
    dmc = summary["dmcs"]["aclara-ioc-mixed"]
    assert [i["id"] for i in dmc["not_counted"]] == ["mixed-aclara"]
    assert dmc["testing_issues"] == [] and dmc["breaches"] == []
    assert dmc["blocked_by"] == ["mixed-aclara"] and dmc["exit_criteria_met"] is False
    html = write_reports(tmp_path)["html"].read_text()
    assert "blocked by mixed-aclara" in html
