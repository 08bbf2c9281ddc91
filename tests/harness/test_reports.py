"""DMCT Testing Reports are rendered from record.jsonl alone.

Records here are written by hand so the tests pin the record contract the
runner writes against, not whatever the runner happens to do today.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from s1bench.harness.reports import (
    read_record,
    render_html,
    render_junit,
    summarise,
    write_reports,
)

RUN = {
    "kind": "run",
    "run_id": "r-001",
    "seed": 7,
    "packs": ["dormant_migration", "srv_variants"],
    "dmcs": ["DMC-A", "DMC-B"],
    "mitigations": False,
    "started_at": "2024-01-01T00:00:00Z",
    "version": "0.1.0",
}
DEVICE = {
    "device_type": "ESME",
    "manufacturer": "Secure",
    "model": "Liberty 100",
    "firmware": "0x0112",
}
DMC_A = {
    "kind": "dmc",
    "dmc": "DMC-A",
    "title": "Secure ESME + GSME",
    "status": "Dormant",
    "epcl_id": "002255",
    "testing_issue_threshold": {"1": 0, "2": 0, "3": 5, "4": 10},
    "children": [{"id": "DMC-A2", "reason": "firmware 0x0113 within declared range"}],
    "devices": [DEVICE],
}
DMC_B = {
    **DMC_A,
    "dmc": "DMC-B",
    "title": "Aclara ESME",
    "epcl_id": "002370",
    "children": [],
    "devices": [{**DEVICE, "manufacturer": "Aclara", "model": "SGM1411"}],
}
ISSUE_3 = {
    "id": "110031",
    "title": "Join window too short",
    "severity": 3,
    "evidence": "<script>alert(1)</script>",
    # The record contract: whether it counts, and whose severity it is (seed 001's).
    "kind": "testing-issue",
    "counts": True,
    "severity_assumed": False,
    "severity_source": "seed 001 (downgraded from Severity 2)",
}
ISSUE_2 = {
    "id": "120002",
    "title": "Wrong response code to 6.23",
    "severity": 2,
    "evidence": "E50 not I0",
}


def _step(
    dmc: str, pack: str, test: str, index: int, verdict: str = "pass", **extra: Any
) -> dict[str, Any]:
    return {
        "kind": "step",
        "dmc": dmc,
        "pack": pack,
        "test": test,
        "index": index,
        "step": f"step-{index}",
        "request": {"srv": "8.11", "InstallCode": "REDACTED"},
        "response": {"response_code": "I0" if verdict == "pass" else "E50"},
        "verdict": verdict,
        "failures": [] if verdict == "pass" else ["expected I0 got E50"],
        "virtual_time": "2024-01-01T00:00:01Z",
        "wall_ms": 12.5,
        **extra,
    }


def _test(
    dmc: str, pack: str, test: str, verdict: str, issues: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "kind": "test",
        "dmc": dmc,
        "pack": pack,
        "test": test,
        "verdict": verdict,
        "testing_issues": issues or [],
        "virtual_time": "2024-01-01T00:00:02Z",
    }


def _lines(end: bool = True) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [RUN, DMC_A, DMC_B]
    for name in ("join", "add_device"):
        lines += [
            _step("DMC-A", "dormant_migration", name, 0),
            _test("DMC-A", "dormant_migration", name, "pass"),
        ]
    lines += [_test("DMC-A", "srv_variants", "8.11", "skip")]
    lines += [
        _step("DMC-B", "dormant_migration", "join", 0),
        _test("DMC-B", "dormant_migration", "join", "pass", [ISSUE_3]),
    ]
    lines += [
        _step("DMC-B", "srv_variants", "6.23", 0),
        _step("DMC-B", "srv_variants", "6.23", 1, "fail"),
        _test("DMC-B", "srv_variants", "6.23", "fail", [ISSUE_2, {**ISSUE_3, "severity": 4}]),
    ]
    if end:
        lines.append({"kind": "end", "finished_at": "2024-01-01T00:10:00Z"})
    return lines


def _write(tmp_path: Path, lines: list[dict[str, Any]], tail: str = "") -> Path:
    path = tmp_path / "record.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + tail, encoding="utf-8")
    return path


def test_summary_counts_and_exit_criteria(tmp_path: Path) -> None:
    s = summarise(read_record(_write(tmp_path, _lines())))
    assert s["complete"] is True
    a, b = s["dmcs"]["DMC-A"], s["dmcs"]["DMC-B"]
    assert (a["tests_run"], a["passed"], a["failed"], a["skipped"]) == (3, 2, 0, 1)
    assert a["exit_criteria_met"] is True and a["breaches"] == []
    assert a["epcl_id"] == "002255" and a["status"] == "Dormant"
    # A child is shown as covered by its tested parent, with the parent's verdict.
    assert a["equivalent_children"] == [
        {"id": "DMC-A2", "reason": "firmware 0x0113 within declared range",
         "covered_by": "DMC-A", "parent_exit_criteria_met": True, "run_here": False,
         "own_exit_criteria_met": None}
    ]
    assert (b["tests_run"], b["passed"], b["failed"], b["skipped"]) == (2, 1, 1, 0)
    issues = {i["id"]: i for i in b["testing_issues"]}
    assert issues["110031"]["severity"] == 3  # deduplicated, highest severity (3 over 4) kept
    assert issues["110031"]["tests"] == ["dormant_migration/join", "srv_variants/6.23"]
    assert b["open_by_severity"] == {"1": 0, "2": 1, "3": 1, "4": 0}
    assert b["breaches"] == [{"severity": "2", "open": 1, "allowed": 0}]
    assert b["exit_criteria_met"] is False
    assert s["exit_criteria_met"] is False
    assert "started_at" not in s["run"] and s["run"]["seed"] == 7


def test_missing_severity_in_threshold_means_no_limit(tmp_path: Path) -> None:
    lines = _lines()
    lines[2] = {**DMC_B, "testing_issue_threshold": {"1": 0, "3": 5}}
    s = summarise(read_record(_write(tmp_path, lines)))
    assert s["dmcs"]["DMC-B"]["exit_criteria_met"] is True
    assert s["exit_criteria_met"] is True


def test_last_test_line_wins_after_resume(tmp_path: Path) -> None:
    lines = _lines()[:-1]
    lines += [
        RUN,
        _step("DMC-B", "srv_variants", "6.23", 0),
        _step("DMC-B", "srv_variants", "6.23", 1),
        _test("DMC-B", "srv_variants", "6.23", "pass"),
        {"kind": "end", "finished_at": "x"},
    ]
    record = read_record(_write(tmp_path, lines))
    assert record.resumes == 1
    assert len(record.steps[("DMC-B", "srv_variants", "6.23")]) == 2  # only the latest attempt
    b = summarise(record)["dmcs"]["DMC-B"]
    assert (b["tests_run"], b["passed"], b["failed"]) == (2, 2, 0)
    assert [i["id"] for i in b["testing_issues"]] == ["110031"]
    assert b["exit_criteria_met"] is True


def test_truncated_final_line_is_ignored(tmp_path: Path) -> None:
    record = read_record(
        _write(tmp_path, _lines(end=False), tail='{"kind":"test","dmc":"DMC-A","pa')
    )
    assert record.damaged_lines == [len(_lines(end=False)) + 1]
    assert len(record.tests) == 5
    render_html(record)
    render_junit(record)


def test_no_end_line_means_incomplete_and_not_met(tmp_path: Path) -> None:
    record = read_record(_write(tmp_path, _lines(end=False)))
    s = summarise(record)
    assert s["complete"] is False
    assert s["dmcs"]["DMC-A"]["exit_criteria_met"] is False
    assert s["exit_criteria_met"] is False
    assert "Incomplete run" in render_html(record)


def test_dmc_without_tests_cannot_meet_exit_criteria(tmp_path: Path) -> None:
    lines = [RUN, DMC_A, DMC_B, {"kind": "end", "finished_at": "x"}]
    s = summarise(read_record(_write(tmp_path, lines)))
    assert s["dmcs"]["DMC-A"]["tests_run"] == 0
    assert s["exit_criteria_met"] is False


def test_junit_counts(tmp_path: Path) -> None:
    root = ET.fromstring(render_junit(read_record(_write(tmp_path, _lines()))))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("5", "1", "1")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {
        "DMC-A/dormant_migration",
        "DMC-A/srv_variants",
        "DMC-B/dormant_migration",
        "DMC-B/srv_variants",
    }
    assert suites["DMC-A/srv_variants"].find("testcase/skipped") is not None
    failing = suites["DMC-B/srv_variants"].find("testcase")
    assert failing is not None and failing.get("classname") == "DMC-B.srv_variants"
    failure = failing.find("failure")
    assert failure is not None and "E50" in failure.get("message", "")
    assert "120002" in (failure.text or "") and "110031" in (failure.text or "")


def test_html_content_and_escaping(tmp_path: Path) -> None:
    page = render_html(read_record(_write(tmp_path, _lines())))
    assert "<title>DMCT Testing Report</title>" in page
    assert "DMC-A" in page and "DMC-B" in page
    assert "Exit criteria NOT met" in page and "Exit criteria met" in page
    assert "<td>110031</td><td>Join window too short</td><td>3</td>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "InstallCode" not in page and "REDACTED" not in page
    assert "<details><summary>srv_variants / 6.23</summary>" in page
    for heading in (
        "Test execution summary",
        "Testing Issues",
        "Testing Issue Threshold",
        "Substantive Equivalence",
        "002255",
        "Liberty 100",
        "DMC-A2",
    ):
        assert heading in page
    assert "<link" not in page and "src=" not in page


def test_summary_json_is_deterministic(tmp_path: Path) -> None:
    _write(tmp_path, _lines())
    first = write_reports(tmp_path)["summary"].read_bytes()
    second = write_reports(tmp_path)["summary"].read_bytes()
    assert first == second
    assert b"wall_ms" not in first and b"started_at" not in first and b"finished_at" not in first


def test_write_reports_is_atomic_and_tidy(tmp_path: Path) -> None:
    _write(tmp_path, _lines())
    paths = write_reports(tmp_path)
    assert set(paths) == {"junit", "summary", "html"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "junit.xml",
        "record.jsonl",
        "report.html",
        "summary.json",
    ]
    assert json.loads(paths["summary"].read_text())["dmcs"]["DMC-B"]["exit_criteria_met"] is False


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_html_screenshot(tmp_path: Path) -> None:
    _write(tmp_path, _lines())
    html_path = write_reports(tmp_path)["html"]
    png = tmp_path / "report.png"
    subprocess.run(
        [
            str(shutil.which("chromium")),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            "--window-size=1200,1600",
            html_path.resolve().as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert png.exists() and png.stat().st_size > 10_000
