"""DMCT Testing Reports rendered from a run's record.jsonl, and from nothing else.

A report must be reproducible by anyone who holds the record: a TAG reviewer
or a Supplier refering a draft report should be able to regenerate the same
summary from the same evidence. So this module never talks to the emulator or
the runner; it reads the append-only record the runner leaves in its run
directory and turns it into three artefacts:

- ``summary.json``: machine-readable counts and the exit-criteria verdict per
  DMC. Deterministic (sorted keys, no wall-clock fields) so two runs with the
  same seed can be compared byte for byte.
- ``junit.xml``: one testsuite per (DMC, pack) so CI systems show the result.
- ``report.html``: a self-contained page laid out like a DMCT Testing Report
  (header block, every test with its verdict and reason, Testing Issues,
  Testing Issue Threshold with what is reported beside it, verdict, migration
  outcomes, mitigations, alert volumes, Substantive Equivalence).

Only Testing Issues count against the threshold (DOMAIN.md): residual risks,
restrictions, blockers, migration outcomes and issues the run recorded as
agreed not counted (seed 002) are listed beside it, and a severity s1bench
assumed is marked wherever one is shown.

The record is written while the run happens and may be cut short by a crash,
so the reader tolerates damaged lines and a missing ``end`` line; a run without
``end`` is reported as incomplete and can never meet the exit criteria.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dcc.alerts import LEVEL_OF_CONCERN

__all__ = [
    "KIND_LABELS",
    "SEVERITIES",
    "Record",
    "read_record",
    "render_html",
    "render_junit",
    "severity_label",
    "summarise",
    "write_reports",
]

#: Testing Issue severities, 1 (most severe) to 4, as string keys the way the
#: record's ``testing_issue_threshold`` spells them.
SEVERITIES: tuple[str, ...] = ("1", "2", "3", "4")

TestKey = tuple[str, str, str]


@dataclass
class Record:
    """Everything a report may use, parsed from one record.jsonl.

    ``tests`` holds only the last ``test`` line per (dmc, pack, test) because a
    resumed run re-executes tests and the latest verdict is the one that counts.
    ``steps`` likewise keeps only the latest attempt of each test.
    """

    path: Path
    run: dict[str, Any] = field(default_factory=dict)
    dmcs: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[TestKey, list[dict[str, Any]]] = field(default_factory=dict)
    tests: dict[TestKey, dict[str, Any]] = field(default_factory=dict)
    complete: bool = False
    end: dict[str, Any] | None = None
    resumes: int = 0
    damaged_lines: list[int] = field(default_factory=list)

    def dmc_ids(self) -> list[str]:
        """DMC ids in a stable order: the run's declared order, then any others seen."""
        ids: list[str] = []
        for source in (self.run.get("dmcs") or [], self.dmcs, (k[0] for k in self.tests)):
            for dmc in source:
                if dmc not in ids:
                    ids.append(str(dmc))
        return ids


def _key(line: dict[str, Any]) -> TestKey:
    return (str(line.get("dmc", "")), str(line.get("pack", "")), str(line.get("test", "")))


def read_record(path: str | os.PathLike[str]) -> Record:
    """Parse a record.jsonl, skipping damaged lines instead of failing.

    A crash mid-write leaves a truncated last line; a resume that then appends
    can even glue the fragment to the next line. Either way the line is not
    evidence, so it is skipped and its line number kept in ``damaged_lines``
    for the report to disclose.
    """
    record = Record(path=Path(path))
    raw = record.path.read_bytes().decode("utf-8", errors="replace")
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            record.damaged_lines.append(number)
            continue
        if not isinstance(line, dict):
            record.damaged_lines.append(number)
            continue
        kind = line.get("kind")
        if kind == "run":
            if record.run:
                record.resumes += 1
            else:
                record.run = line
            # A run line after an end line means the run was restarted; it is
            # complete only if that restart also finished.
            record.complete = False
            record.end = None
        elif kind == "dmc" and "dmc" in line:
            record.dmcs[str(line["dmc"])] = line
        elif kind == "step":
            _add_step(record, line)
        elif kind == "test":
            key = _key(line)
            record.tests.pop(key, None)  # re-insert so order follows the latest attempt
            record.tests[key] = line
        elif kind == "end":
            record.complete = True
            record.end = line
    return record


def _add_step(record: Record, line: dict[str, Any]) -> None:
    """Append a step, starting a fresh attempt when the index goes backwards.

    Step indexes rise within one execution of a test; a repeated or lower
    index means the test was re-run after a resume, and the earlier partial
    attempt is no longer the evidence behind the verdict.
    """
    held = record.steps.setdefault(_key(line), [])
    index = line.get("index")
    if held and isinstance(index, int):
        last = max(
            (s.get("index", -1) for s in held if isinstance(s.get("index"), int)), default=-1
        )
        if index <= last:
            held.clear()
    held.append(line)


def _severity(issue: dict[str, Any]) -> str:
    try:
        return str(int(issue.get("severity", 4)))
    except (TypeError, ValueError):
        return str(issue.get("severity"))


def _sev_rank(sev: str) -> int:
    """Lower rank = more severe; unparseable severities sort as least severe."""
    try:
        return int(sev)
    except ValueError:
        return 99


def _allowed(threshold: dict[str, Any], sev: str) -> int | None:
    """Max open issues for a severity; ``None`` means the threshold sets no limit."""
    value = threshold.get(sev)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


#: How each kind of issue stands against the Testing Issue Threshold (DOMAIN.md:
#: only Testing Issues count; the rest are reported beside it).
KIND_LABELS: dict[str, str] = {
    "testing-issue": "Testing Issue",
    "residual-risk": "residual risk",
    "restriction": "restriction",
    "blocker": "blocker",
    "migration-outcome": "migration outcome",
}
_NOT_COUNTED_BECAUSE: dict[str, str] = {
    "residual-risk": "residual risk: reported beside the threshold, not counted",
    "restriction": "documented restriction of the DCC's service: reported, not counted",
    "blocker": "DCC defect that keeps EPCL entries from being requested: reported, not counted",
    "migration-outcome": "migration outcome: reported with the outcomes, not counted",
    "testing-issue": "recorded as not counting against the threshold",
}
#: Seed 002: an open Testing Issue may be agreed "should not be counted against
#: the Testing Issue Threshold"; the run records which (``--not-counted``).
AGREED_NOT_COUNTED = "agreed not counted (seed 002)"
#: Alerts per installation and day flagged by a record that names no level.
DEFAULT_ALERT_LEVEL = LEVEL_OF_CONCERN


def severity_label(severity: Any, assumed: bool) -> str:
    """"S2", or "S2 (assumed)" when the seeds give no severity and s1bench chose it."""
    return f"S{severity}" + (" (assumed)" if assumed else "")


def _issue_facts(issue: dict[str, Any]) -> dict[str, Any]:
    """How a recorded issue stands against the threshold, filling in what old records lack.

    A record written before issues carried ``kind`` / ``counts`` /
    ``severity_assumed`` treated every issue as a counted Testing Issue, so
    that is the default; its severity is taken as assumed, because a report
    must never present a severity as given by the seeds without a source.
    """
    kind = str(issue.get("kind") or "testing-issue")
    counts = issue.get("counts")
    return {
        "kind": kind,
        "counts": bool(kind == "testing-issue" if counts is None else counts),
        "severity_assumed": bool(issue.get("severity_assumed", True)),
        "severity_source": str(issue.get("severity_source") or ""),
        "mitigation": str(issue.get("mitigation") or ""),
    }


def agreed_not_counted(record: Record) -> list[str]:
    """The Testing Issue ids the run recorded as agreed not counted (seed 002)."""
    return [str(i) for i in record.run.get("not_counted") or []]


def alert_level(record: Record) -> int:
    try:
        return int(record.run.get("alert_level_of_concern", DEFAULT_ALERT_LEVEL))
    except (TypeError, ValueError):
        return DEFAULT_ALERT_LEVEL


def _alert_volumes(tests: list[dict[str, Any]], dmc: str, level: int) -> list[dict[str, Any]]:
    """Device alerts per calendar day for one DMC, against the level of concern.

    Each test ran its own installation and recorded its alerts per day. The
    level is per installation and day (``dcc.alerts.LEVEL_OF_CONCERN``), so a
    day is over the level when one installation went over it; summing the
    installations of several tests would flag a DMC for running more tests.
    """
    days: dict[str, list[int]] = {}
    for t in tests:
        for day, count in sorted((t.get("alerts") or {}).items()):
            try:
                n = int(count)
            except (TypeError, ValueError):
                continue
            if n > 0:
                days.setdefault(str(day), []).append(n)
    return [{"dmc": dmc, "day": day, "alerts": sum(counts), "installations": len(counts),
             "max_per_installation": max(counts), "level": level,
             "over_level": max(counts) > level}
            for day, counts in sorted(days.items())]


def _migration_outcomes(record: Record, dmc: str) -> dict[str, int]:
    """How each test's migration ended, counted per outcome.

    A migration outcome (a device left dumb) is not a Testing Issue: the
    seeds count it with the outcomes (migrated, rolled back, stalled, dumb,
    rejected...), so the report needs those counts to put it beside.
    """
    counts: dict[str, int] = {}
    for key, steps in record.steps.items():
        if key[0] != dmc or key not in record.tests:
            continue
        stages = [s["migration"] for s in steps if isinstance(s.get("migration"), dict)]
        if stages:
            outcome = str(stages[-1].get("outcome") or "not finished")
            counts[outcome] = counts.get(outcome, 0) + 1
    return dict(sorted(counts.items()))


def _summarise_dmc(record: Record, dmc: str) -> dict[str, Any]:
    info = record.dmcs.get(dmc, {})
    tests = [t for k, t in record.tests.items() if k[0] == dmc]
    verdicts = [str(t.get("verdict")) for t in tests]
    agreed = set(agreed_not_counted(record))

    issues: dict[str, dict[str, Any]] = {}
    for t in tests:
        name = f"{t.get('pack', '')}/{t.get('test', '')}"
        for issue in t.get("testing_issues") or []:
            iid = str(issue.get("id", ""))
            sev = _severity(issue)
            held = issues.get(iid)
            if held is None or _sev_rank(sev) < _sev_rank(held["severity"]):
                names = held["tests"] if held else []
                held = {
                    "id": iid,
                    "title": str(issue.get("title", "")),
                    "severity": sev,
                    "evidence": str(issue.get("evidence", "")),
                    "tests": names,
                    **_issue_facts(issue),
                }
                issues[iid] = held
            if name not in held["tests"]:
                held["tests"].append(name)
    issue_list = sorted(issues.values(), key=lambda i: (_sev_rank(i["severity"]), i["id"]))
    counted: list[dict[str, Any]] = []
    beside: list[dict[str, Any]] = []
    for i in issue_list:
        i["tests"] = sorted(i["tests"])
        i["severity"] = int(i["severity"]) if i["severity"].isdigit() else i["severity"]
        i["severity_label"] = severity_label(i["severity"], i["severity_assumed"])
        if not i["counts"]:
            i["reason"] = _NOT_COUNTED_BECAUSE.get(i["kind"], f"{i['kind']}: not counted")
            beside.append(i)
        elif i["id"] in agreed:
            i["counts"] = False
            i["reason"] = AGREED_NOT_COUNTED
            beside.append(i)
        else:
            counted.append(i)

    open_by: dict[str, int] = {s: 0 for s in SEVERITIES}
    for i in counted:
        open_by[str(i["severity"])] = open_by.get(str(i["severity"]), 0) + 1

    threshold = {str(k): v for k, v in (info.get("testing_issue_threshold") or {}).items()}
    breaches = []
    for sev in sorted(open_by, key=_sev_rank):
        allowed = _allowed(threshold, sev)
        if allowed is not None and open_by[sev] > allowed:
            breaches.append({"severity": sev, "open": open_by[sev], "allowed": allowed})

    raised = set(issues)
    mitigations_on = bool(record.run.get("mitigations"))
    mitigations = [
        {"id": str(k.get("id", "")), "title": str(k.get("title", "")),
         "kind": str(k.get("kind") or "testing-issue"), "mitigation": str(k["mitigation"]),
         "applied": mitigations_on, "raised": str(k.get("id", "")) in raised}
        for k in info.get("known_issues") or [] if k.get("mitigation")
    ]
    level = alert_level(record)
    volumes = _alert_volumes(tests, dmc, level)
    packs = sorted({str(t.get("pack", "")) for t in tests})
    return {
        "title": info.get("title"),
        "status": info.get("status"),
        "epcl_id": info.get("epcl_id"),
        "devices": list(info.get("devices") or []),
        "packs": packs,
        "tests_run": len(tests),
        "passed": verdicts.count("pass"),
        "failed": verdicts.count("fail"),
        "skipped": verdicts.count("skip"),
        # Only these count against the Testing Issue Threshold.
        "testing_issues": counted,
        # Residual risks, restrictions, blockers, migration outcomes and Testing
        # Issues agreed not counted: listed beside the threshold, each with why.
        "not_counted": beside,
        "open_by_severity": open_by,
        "threshold": threshold,
        "breaches": breaches,
        # A blocker (seed 001: mixed entries "not currently" requested) is not counted
        # against the threshold, but no entry it blocks can meet its exit criteria.
        "blocked_by": sorted({i["id"] for i in beside if i.get("kind") == "blocker"}),
        # No executed test is no evidence: a DMC whose tests never ran cannot pass.
        "exit_criteria_met": record.complete and not breaches and len(tests) > 0
        and not any(i.get("kind") == "blocker" for i in beside),
        "mitigations": mitigations,
        "migration_outcomes": _migration_outcomes(record, dmc),
        "alert_volumes": volumes,
        "alert_days_over_level": sum(1 for v in volumes if v["over_level"]),
        "alert_tests_observed": sum(1 for t in tests if "alerts" in t),
        "equivalent_children": [dict(c) for c in info.get("children") or []],
        "equivalence_parent": dict(info["equivalence_parent"])
        if info.get("equivalence_parent") else None,
    }


def _link_equivalence(dmcs: dict[str, dict[str, Any]]) -> None:
    """Give each Substantively Equivalent child its tested parent's verdict.

    Seed 002 lists children "not tested but ... proposed as Substantively
    Equivalent to EPCL entries ... that have been tested": their evidence is
    the parent's DMCT. A child runs only when named with --dmc; if it ran
    here too, its own verdict is shown beside the parent's, never instead.
    """
    for parent_id, s in dmcs.items():
        for child in s["equivalent_children"]:
            child_id = str(child.get("id"))
            child["covered_by"] = parent_id
            child["parent_exit_criteria_met"] = s["exit_criteria_met"]
            child["run_here"] = child_id in dmcs
            child["own_exit_criteria_met"] = (dmcs[child_id]["exit_criteria_met"]
                                              if child_id in dmcs else None)
    for s in dmcs.values():
        parent = s["equivalence_parent"]
        if parent is not None:
            held = dmcs.get(str(parent.get("id")))
            parent["run_here"] = held is not None
            parent["parent_exit_criteria_met"] = held["exit_criteria_met"] if held else None


def summarise(record: Record) -> dict[str, Any]:
    """Counts, Testing Issues and the exit-criteria verdict per DMC.

    Exit criteria are met for a DMC when, for every severity with a threshold,
    the open Testing Issues that count (not residual risks, restrictions,
    blockers, migration outcomes, nor issues agreed not counted) do not
    exceed it, at least one test ran, and the run is complete. Wall-clock
    fields are left out so the output depends only on what the run did, not
    when.
    """
    run = {k: v for k, v in record.run.items() if k not in ("kind", "started_at")}
    dmcs = {dmc: _summarise_dmc(record, dmc) for dmc in record.dmc_ids()}
    _link_equivalence(dmcs)
    return {
        "run": run,
        "complete": record.complete,
        "resumes": record.resumes,
        "damaged_lines": list(record.damaged_lines),
        "not_counted": agreed_not_counted(record),
        "alert_level_of_concern": alert_level(record),
        "dmcs": dmcs,
        "exit_criteria_met": record.complete
        and bool(dmcs)
        and all(d["exit_criteria_met"] for d in dmcs.values()),
    }


def _step_failure_lines(steps: Iterable[dict[str, Any]]) -> list[str]:
    """One line per failed (or errored) step: label, SRV, response code and the failures.

    Only those fields: request parameters may hold install codes or key
    material, so the request itself is never reproduced. A step that broke
    inside s1bench ("error") fails its test too, so it needs its line as much.
    """
    lines = []
    for s in steps:
        if s.get("verdict") not in ("fail", "error"):
            continue
        srv, code = _srv_and_code(s)
        detail = "; ".join(str(f) for f in s.get("failures") or []) or "failed"
        where = f" [SRV {srv}, code {code}]" if s.get("request") or s.get("response") else ""
        lines.append(f"step {s.get('index')} {s.get('step', '')}{where}: {detail}")
    return lines


def _srv_and_code(step: dict[str, Any]) -> tuple[str, str]:
    request = step.get("request") or {}
    response = step.get("response") or {}
    srv = request.get("srv") or response.get("srv") or "-"
    code = response.get("response_code") or "(none)"
    return str(srv), str(code)


def _skip_reason(steps: Iterable[dict[str, Any]]) -> str:
    """Why a test was skipped, from its skipped steps' recorded reasons.

    The runner records the reason of a skip in the step's ``failures`` (the
    DMC lacks the device, the quirk a scenario needs...); a test is skipped
    when any step was and none failed, so the distinct reasons explain it. A
    reviewer must see them to tell "not applicable" from "not tested".
    """
    reasons: list[str] = []
    for s in steps:
        if s.get("verdict") != "skip":
            continue
        for reason in s.get("failures") or []:
            if str(reason) not in reasons:
                reasons.append(str(reason))
    return "; ".join(reasons) or "no reason recorded"


def _issue_line(issue: dict[str, Any], agreed: set[str]) -> str:
    """One issue as a line of text, saying whether it counts and whose severity it is."""
    facts = _issue_facts(issue)
    iid = issue.get("id")
    sev = severity_label(_severity(issue), facts["severity_assumed"])
    if not facts["counts"]:
        label = KIND_LABELS.get(facts["kind"], facts["kind"])
        head = f"{label[:1].upper()}{label[1:]} {iid} [{sev}; reported, not counted]"
    elif str(iid) in agreed:
        head = f"Testing Issue {iid} [{sev}; {AGREED_NOT_COUNTED}]"
    elif facts["severity_source"] and not facts["severity_assumed"]:
        head = f"Testing Issue {iid} [{sev}, severity from {facts['severity_source']}]"
    else:
        head = f"Testing Issue {iid} [{sev}]"
    return f"{head}: {issue.get('title', '')}"


def _issue_lines(test: dict[str, Any], agreed: set[str] | None = None) -> list[str]:
    return [_issue_line(i, agreed or set()) for i in test.get("testing_issues") or []]


def _test_reason(test: dict[str, Any], steps: list[dict[str, Any]], agreed: set[str]) -> str:
    """Why a test has its verdict: skip reasons, failure lines and the issues raised."""
    verdict = test.get("verdict")
    if verdict == "skip":
        return _skip_reason(steps)
    if verdict == "fail":
        lines = _step_failure_lines(steps) or ["failed (no failed step recorded)"]
        return "; ".join(lines + _issue_lines(test, agreed))
    if verdict == "pass":
        return "every step passed"
    return f"verdict {verdict!r} not understood"


def render_junit(record: Record) -> bytes:
    """JUnit XML with one testsuite per (DMC, pack), so CI shows DMCT results.

    Testing Issues go into the failure text (or system-out for a passing test
    that still carries an issue) so they are visible without the HTML report;
    each line says whether the issue counts against the threshold and marks
    a severity s1bench assumed.
    """
    agreed = set(agreed_not_counted(record))
    suites: dict[tuple[str, str], list[tuple[TestKey, dict[str, Any]]]] = {}
    for key, test in record.tests.items():
        suites.setdefault((key[0], key[1]), []).append((key, test))

    root = ET.Element("testsuites", name="s1bench DMCT")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for (dmc, pack), cases in suites.items():
        suite = ET.SubElement(root, "testsuite", name=f"{dmc}/{pack}")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        seconds = 0.0
        for key, test in cases:
            steps = record.steps.get(key, [])
            case_s = sum(float(s.get("wall_ms") or 0.0) for s in steps) / 1000.0
            seconds += case_s
            case = ET.SubElement(
                suite, "testcase", name=key[2], classname=f"{dmc}.{pack}", time=f"{case_s:.3f}"
            )
            counts["tests"] += 1
            verdict = test.get("verdict")
            issues = _issue_lines(test, agreed)
            if verdict == "fail":
                counts["failures"] += 1
                lines = _step_failure_lines(steps) + issues
                message = lines[0] if lines else "test failed"
                fail = ET.SubElement(case, "failure", message=message, type="DMCTFailure")
                fail.text = "\n".join(lines) or "test failed"
            elif verdict == "skip":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=_skip_reason(steps))
            if issues and verdict != "fail":
                ET.SubElement(case, "system-out").text = "\n".join(issues)
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("errors", "0")
        suite.set("time", f"{seconds:.3f}")
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("errors", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


_CSS = """
body{font-family:Arial,Helvetica,sans-serif;margin:2em;color:#1a1a1a;max-width:1100px}
h1{color:#2b0a57;border-bottom:3px solid #2b0a57;padding-bottom:.2em}
h2{color:#2b0a57;margin-top:2em;border-bottom:1px solid #999}
h3{color:#333;margin-top:1.2em}
table{border-collapse:collapse;margin:.5em 0 1em 0;min-width:40%}
th,td{border:1px solid #888;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#e8e3f0}
.ok{color:#0a6b1f;font-weight:bold}
.bad{color:#a40000;font-weight:bold}
.flag{color:#8a5a00;font-weight:bold}
.assumed{font-style:italic}
.verdict{font-size:1.2em;padding:.5em;border:2px solid;display:inline-block}
.verdict.ok{border-color:#0a6b1f;background:#eaf6ec}
.verdict.bad{border-color:#a40000;background:#fbeaea}
.banner{background:#fff3cd;border:1px solid #c99a00;padding:.6em;margin:1em 0}
.classification{font-weight:bold;color:#555}
.note{color:#444}
details{margin:.3em 0}
summary{cursor:pointer}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(headers: list[str], rows: list[list[Any]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (pre-escaped markup)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _verdict(met: bool) -> str:
    if met:
        return '<p class="verdict ok">Exit criteria met</p>'
    return '<p class="verdict bad">Exit criteria NOT met</p>'


def _met(met: bool | None) -> str:
    if met is None:
        return "not run here"
    return "exit criteria met" if met else "exit criteria NOT met"


def _severity_cell(issue: dict[str, Any]) -> str:
    """The severity, marked when assumed (a given one's source is in the next column)."""
    if issue["severity_assumed"]:
        return (f'<span class="assumed" title="assumed by s1bench: the seeds give no '
                f'severity">{_e(issue["severity"])} (assumed)</span>')
    return _e(issue["severity"])


def _source_text(issue: dict[str, Any]) -> str:
    if issue["severity_assumed"]:
        return "assumed by s1bench (no seed gives it)"
    return issue["severity_source"] or "(source not recorded)"


def _mitigation_text(issue: dict[str, Any], mitigations: bool | None) -> str:
    if not issue.get("mitigation"):
        return "-"
    if mitigations:
        return f"applied (--mitigations): {issue['mitigation']}"
    return f"not applied (run without --mitigations): {issue['mitigation']}"


def _capture_link(test: dict[str, Any]) -> str:
    """A relative link to the test's pcap; anything but a plain relative path is refused.

    The path comes from the record, which a reviewer may receive from
    someone else: it must not become an absolute, parent or scheme URL.
    """
    path = str(test.get("capture") or "")
    if not path:
        return "-"
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or ":" in path or not path.endswith(".pcap"):
        return _e(path) + " (not linked: not a path inside the run folder)"
    return f'<a href="{_e(path)}">{_e(parts[-1])}</a>'


def _issue_table(issues: list[dict[str, Any]], mitigations: bool | None) -> str:
    return _table(
        ["Testing Issue", "Title", "Severity", "Severity source", "Evidence", "Tests",
         "Mitigation"],
        [
            [_e(i["id"]), _e(i["title"]), _severity_cell(i), _e(_source_text(i)),
             _e(i["evidence"]), _e(", ".join(i["tests"])),
             _e(_mitigation_text(i, mitigations))]
            for i in issues
        ],
        raw=True,
    )


def _beside_table(issues: list[dict[str, Any]], mitigations: bool | None) -> str:
    return _table(
        ["Issue", "Kind", "Why not counted", "Title", "Severity", "Severity source", "Evidence",
         "Tests", "Mitigation"],
        [
            [_e(i["id"]), _e(KIND_LABELS.get(i["kind"], i["kind"])), _e(i["reason"]),
             _e(i["title"]), _severity_cell(i), _e(_source_text(i)), _e(i["evidence"]),
             _e(", ".join(i["tests"])), _e(_mitigation_text(i, mitigations))]
            for i in issues
        ],
        raw=True,
    )


def _exit_criteria_section(record: Record, s: dict[str, Any], agreed: list[str]) -> list[str]:
    """The threshold table, what is reported beside it, and the verdict with its reasons."""
    mitigations = record.run.get("mitigations")
    parts = ["<h3>Testing Issue Threshold</h3>"]
    t_rows = []
    for sev in sorted(s["open_by_severity"], key=_sev_rank):
        allowed = _allowed(s["threshold"], sev)
        within = allowed is None or s["open_by_severity"][sev] <= allowed
        mark = '<span class="ok">Yes</span>' if within else '<span class="bad">No</span>'
        t_rows.append(
            [
                _e(sev),
                _e(s["open_by_severity"][sev]),
                _e("no limit" if allowed is None else allowed),
                mark,
            ]
        )
    parts.append(
        '<p class="note">Only Testing Issues count here. Residual risks, restrictions, '
        "blockers, migration outcomes and Testing Issues agreed not counted (seed 002) "
        "are reported beside the threshold, not counted.</p>"
    )
    parts.append(_table(["Severity", "Open", "Allowed", "Within threshold?"], t_rows, raw=True))
    parts.append("<h4>Reported beside the threshold (not counted)</h4>")
    if s["not_counted"]:
        parts.append(_beside_table(s["not_counted"], mitigations))
    else:
        parts.append("<p>Nothing reported beside the threshold.</p>")
    raised = {i["id"] for i in s["testing_issues"] + s["not_counted"]}
    idle = [i for i in agreed if i not in raised]
    if idle:
        parts.append(
            "<p>Agreed not counted (seed 002) but not raised for this DMC: "
            + _e(", ".join(idle)) + ".</p>"
        )
    reasons = []
    if not record.complete:
        reasons.append("the run is incomplete")
    if s["tests_run"] == 0:
        reasons.append("no tests were executed")
    for b in s["breaches"]:
        reasons.append(
            f"{b['open']} open Severity {b['severity']} Testing Issue(s) against "
            f"{b['allowed']} allowed"
        )
    for blocker in s.get("blocked_by") or []:
        reasons.append(f"blocked by {blocker}: a DCC defect keeps this entry from being "
                       "requested (not counted against the threshold)")
    parts.append(_verdict(s["exit_criteria_met"]))
    if reasons:
        parts.append("<p>Reason: " + _e("; ".join(reasons)) + ".</p>")
    return parts


def _alert_section(s: dict[str, Any], level: int) -> list[str]:
    """Risk 11's mitigation (seed 000): alert volumes per day against the level of concern."""
    parts = [
        "<h3>Device alert volumes</h3>",
        f'<p class="note">Monitoring with regular reports (seed 000, risk 11): device alerts '
        f"the run's installations received, per calendar day (UTC, virtual clock), against "
        f"a level of concern of {_e(level)} alerts per installation and day. A day over the "
        f"level is flagged, never counted against the threshold. "
        f"{_e(s['alert_tests_observed'])} test(s) recorded their installation's alerts; "
        f"scenario tests (testing-issues pack) run installations of their own and give "
        f"their counts in their evidence.</p>",
    ]
    if not s["alert_volumes"]:
        parts.append(f"<p>No device alerts seen (level of concern {_e(level)} a day).</p>")
        return parts
    rows = []
    for v in s["alert_volumes"]:
        flag = ('<span class="flag">over the level (flagged, not counted)</span>'
                if v["over_level"] else '<span class="ok">within</span>')
        rows.append([_e(v["day"]), _e(v["alerts"]), _e(v["installations"]),
                     _e(v["max_per_installation"]), _e(v["level"]), flag])
    parts.append(_table(["Day", "Alerts", "Installations with alerts",
                         "Most from one installation", "Level of concern", "Level"],
                        rows, raw=True))
    return parts


def _mitigation_section(s: dict[str, Any], mitigations: bool | None) -> list[str]:
    parts = ["<h3>Mitigations</h3>"]
    if not s["mitigations"]:
        parts.append("<p>No DCC-side mitigation is known for this DMC's issues.</p>")
        return parts
    if mitigations:
        parts.append("<p>The run applied the DCC-side mitigations (--mitigations):</p>")
    else:
        parts.append(
            "<p>Mitigations were not applied (run without --mitigations); the DCC-side "
            "mitigations known for this DMC's issues are:</p>"
        )
    parts.append(
        _table(
            ["Issue", "Kind", "Title", "Mitigation", "Applied", "Raised in this run"],
            [
                [m["id"], KIND_LABELS.get(m["kind"], m["kind"]), m["title"], m["mitigation"],
                 "yes" if m["applied"] else "no", "yes" if m["raised"] else "no"]
                for m in s["mitigations"]
            ],
        )
    )
    return parts


def _equivalence_section(dmc: str, s: dict[str, Any]) -> list[str]:
    parts = ["<h3>Substantive Equivalence</h3>"]
    parent = s["equivalence_parent"]
    if parent is not None:
        ran = parent.get("run_here")
        parts.append(
            f"<p>DMC {_e(dmc)} is an untested child proposed as Substantively Equivalent "
            f"to DMC {_e(parent.get('id'))} ({_e(parent.get('reason'))}): it is covered by "
            f"{_e(parent.get('id'))}'s DMCT"
            + (f", whose verdict in this run is: {_e(_met(parent.get('parent_exit_criteria_met')))}"
               if ran else ", which this run did not include")
            + ". It was run here because it was named with --dmc.</p>"
        )
    if s["equivalent_children"]:
        parts.append(
            f"<p>The following DMCs have not been tested but are proposed as "
            f"Substantively Equivalent to DMC {_e(dmc)}, which has been tested. Each is "
            f"covered by {_e(dmc)} and takes its verdict; a child runs only when named "
            f"with --dmc.</p>"
        )
        parts.append(
            _table(
                ["Child DMC", "Reason", "Evidence", "Verdict (parent's)", "Child run here"],
                [
                    [c.get("id"), c.get("reason"), f"covered by {dmc} (tested)",
                     _met(c.get("parent_exit_criteria_met")),
                     _met(c.get("own_exit_criteria_met")) if c.get("run_here") else "no"]
                    for c in s["equivalent_children"]
                ],
            )
        )
    elif parent is None:
        parts.append("<p>No child DMCs proposed.</p>")
    return parts


def _dmc_section(record: Record, dmc: str, s: dict[str, Any]) -> str:
    mitigations = record.run.get("mitigations")
    agreed = agreed_not_counted(record)
    parts = [f'<section id="dmc-{_e(dmc)}"><h2>DMC {_e(dmc)}: {_e(s["title"] or "")}</h2>']
    parts.append(
        _table(
            ["Field", "Value"],
            [
                ["DMC", dmc],
                ["Title", s["title"] or "(not recorded)"],
                ["EPCL entry", s["epcl_id"] or "(not recorded)"],
                ["Installation status", s["status"] or "(not recorded)"],
            ],
        )
    )
    parts.append("<h3>Devices</h3>")
    if s["devices"]:
        parts.append(
            _table(
                ["Device type", "Manufacturer", "Model", "Firmware"],
                [
                    [d.get("device_type"), d.get("manufacturer"), d.get("model"), d.get("firmware")]
                    for d in s["devices"]
                ],
            )
        )
    else:
        parts.append("<p>No devices recorded.</p>")

    parts.append("<h3>Test execution summary</h3>")
    tests = [(k, t) for k, t in record.tests.items() if k[0] == dmc]
    rows = []
    for pack in s["packs"]:
        verdicts = [str(t.get("verdict")) for k, t in tests if k[1] == pack]
        rows.append(
            [
                pack,
                len(verdicts),
                verdicts.count("pass"),
                verdicts.count("fail"),
                verdicts.count("skip"),
            ]
        )
    rows.append(["Total", s["tests_run"], s["passed"], s["failed"], s["skipped"]])
    parts.append(_table(["Test pack", "Tests run", "Passed", "Failed", "Skipped"], rows))

    if tests:
        parts.append("<h3>Tests</h3>")
        agreed_set = set(agreed)
        parts.append(
            _table(
                ["Test pack", "Test", "Verdict", "Reason", "Capture"],
                [
                    [_e(k[1]), _e(k[2]), _e(t.get("verdict")),
                     _e(_test_reason(t, record.steps.get(k, []), agreed_set)),
                     _capture_link(t)]
                    for k, t in tests
                ],
                raw=True,
            )
        )

    failed = [(k, t) for k, t in tests if t.get("verdict") == "fail"]
    if failed:
        parts.append("<h3>Failed tests</h3>")
        for key, test in failed:
            step_rows = []
            for st in record.steps.get(key, []):
                if st.get("verdict") not in ("fail", "error"):
                    continue
                srv, code = _srv_and_code(st)
                step_rows.append(
                    [
                        st.get("index"),
                        st.get("step"),
                        srv,
                        code,
                        "; ".join(map(str, st.get("failures") or [])),
                    ]
                )
            body = (
                _table(["#", "Step", "SRV", "Response code", "Failures"], step_rows)
                if step_rows
                else "<p>No failed step recorded.</p>"
            )
            issues = _issue_lines(test, set(agreed))
            if issues:
                body += "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in issues) + "</ul>"
            parts.append(f"<details><summary>{_e(key[1])} / {_e(key[2])}</summary>{body}</details>")

    skipped = [(k, t) for k, t in tests if t.get("verdict") == "skip"]
    if skipped:
        parts.append("<h3>Skipped tests</h3>")
        parts.append(
            _table(
                ["Test pack", "Test", "Reason skipped"],
                [[k[1], k[2], _skip_reason(record.steps.get(k, []))] for k, _ in skipped],
            )
        )

    parts.append("<h3>Testing Issues</h3>")
    if s["testing_issues"]:
        parts.append(
            '<p class="note">Counted against the Testing Issue Threshold. A severity marked '
            '"(assumed)" is s1bench\'s assumption; the seeds give the others (source in the '
            "next column).</p>"
        )
        parts.append(_issue_table(s["testing_issues"], mitigations))
    else:
        parts.append("<p>No Testing Issues counted against the threshold.</p>")

    parts += _exit_criteria_section(record, s, agreed)
    parts.append("<h3>Migration outcomes</h3>")
    if s["migration_outcomes"]:
        parts.append(_table(["Outcome", "Tests"], [[k, v] for k, v in
                                                     s["migration_outcomes"].items()]))
    else:
        parts.append("<p>No test of this DMC migrated an installation.</p>")
    parts += _mitigation_section(s, mitigations)
    parts += _alert_section(s, alert_level(record))
    parts += _equivalence_section(dmc, s)
    parts.append("</section>")
    return "\n".join(parts)


def _medium_text(run: dict[str, Any]) -> str:
    medium = run.get("medium")
    if not isinstance(medium, dict):
        return "(not recorded)"
    text = (f"in-memory HAN: latency {medium.get('latency', '?')} s, jitter "
            f"{medium.get('jitter', '?')} s, loss {medium.get('loss', '?')}")
    faults = medium.get("faults")
    if isinstance(faults, list) and faults:
        # A reader must know the HAN was made to fail on purpose, and how.
        text += "; faults: " + "; ".join(_fault_text(rule) for rule in faults
                                         if isinstance(rule, dict))
    return text


def _fault_text(rule: dict[str, Any]) -> str:
    words = [str(rule.get("kind", "?"))]
    if rule.get("probability", 1) != 1:
        words.append(f"p {rule['probability']}")
    if rule.get("direction", "any") != "any":
        words.append(str(rule["direction"]).replace("_", " "))
    if rule.get("from_s") or rule.get("until_s") is not None:
        words.append(f"{rule.get('from_s', 0):g}-{rule.get('until_s') or 'end'} s")
    if rule.get("kind") in ("delay", "duplicate", "reorder") and "delay_s" in rule:
        words.append(f"{rule['delay_s']:g} s")
    return " ".join(words)


def render_html(record: Record) -> str:
    """A self-contained DMCT Testing Report page (inline CSS, no script, no assets).

    Everything from the record is escaped: evidence strings come from device
    responses and must not be able to inject markup into a reviewer's browser.
    The only links are to the run's own captures, by relative path.
    """
    summary = summarise(record)
    run = record.run
    mitigations = run.get("mitigations")
    agreed = agreed_not_counted(record)
    capture = run.get("capture")
    run_rows = [
        ["Run id", run.get("run_id", "(not recorded)")],
        ["Seed", run.get("seed", "(not recorded)")],
        [
            "Mitigations",
            "on" if mitigations else "off" if mitigations is not None else "(not recorded)",
        ],
        ["Test packs", ", ".join(map(str, run.get("packs") or []))],
        ["Medium", _medium_text(run)],
        [
            "Captures",
            "one pcap per test, linked from the test tables (keys beside each, not linked)"
            if capture else "none" if capture is not None else "(not recorded)",
        ],
        [f"Testing Issues {AGREED_NOT_COUNTED}", ", ".join(agreed) or "none"],
        ["Alert level of concern", f"{alert_level(record)} device alerts per installation and day"],
        ["s1bench version", run.get("version", "(not recorded)")],
        ["Started", run.get("started_at", "(not recorded)")],
        ["Finished", (record.end or {}).get("finished_at", "(not finished)")],
        ["Run status", "complete" if record.complete else "INCOMPLETE"],
    ]
    if record.resumes:
        run_rows.append(["Resumes", record.resumes])
    overview = []
    for dmc, s in summary["dmcs"].items():
        open_counts = ", ".join(f"S{k}: {v}" for k, v in sorted(s["open_by_severity"].items()))
        beside = ", ".join(
            f"{i['id']} ({KIND_LABELS.get(i['kind'], i['kind'])}"
            + (f", {AGREED_NOT_COUNTED}" if i["reason"] == AGREED_NOT_COUNTED else "") + ")"
            for i in s["not_counted"]
        ) or "-"
        overview.append(
            [
                f'<a href="#dmc-{_e(dmc)}">{_e(dmc)}</a>',
                _e(s["epcl_id"]),
                _e(s["status"]),
                _e(f"{s['passed']}/{s['tests_run']}"),
                _e(open_counts),
                _e(beside),
                '<span class="ok">Met</span>'
                if s["exit_criteria_met"]
                else '<span class="bad">NOT met</span>',
            ]
        )

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>DMCT Testing Report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>DMCT Testing Report</h1>",
        '<p class="classification">s1bench emulated DMCT (not DCC-issued)</p>',
    ]
    if not record.complete:
        parts.append(
            '<div class="banner"><strong>Incomplete run:</strong> the record has no end line, '
            "so the run stopped before finishing. Exit criteria cannot be met.</div>"
        )
    if record.damaged_lines:
        parts.append(
            '<div class="banner">Damaged record lines ignored: '
            + _e(", ".join(map(str, record.damaged_lines)))
            + "</div>"
        )
    parts.append("<h2>Run</h2>")
    parts.append(_table(["Field", "Value"], run_rows))
    parts.append("<h2>Overview</h2>")
    parts.append(
        _table(
            ["DMC", "EPCL entry", "Status", "Passed / run", "Open Testing Issues (counted)",
             "Reported, not counted", "Exit criteria"],
            overview,
            raw=True,
        )
    )
    parts.append(
        _verdict(summary["exit_criteria_met"]).replace("Exit criteria", "Overall: exit criteria", 1)
    )
    for dmc, s in summary["dmcs"].items():
        parts.append(_dmc_section(record, dmc, s))
    parts.append("</body></html>\n")
    return "\n".join(parts)


#: Asked of open(); the process umask takes away what the user wants withheld.
_SHARED_MODE = 0o666


def _create_temp(path: Path) -> tuple[int, str]:
    """An exclusive temp file beside ``path``, created with the umask's usual mode.

    ``tempfile.mkstemp`` always creates 0600, which the ``os.replace`` then
    carries onto the report, so reviewers who share the run directory could
    not read it. ``os.open`` with 0666 lets the kernel apply the umask (0644
    under 022), the mode any other file the user writes would get, without
    reading the umask (which cannot be done without briefly changing it).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp"))
        try:
            return os.open(tmp, flags, _SHARED_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and os.replace it into place,
    so a reader (or a crash) never sees a half-written report."""
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_reports(run_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Render junit.xml, summary.json and report.html from ``run_dir/record.jsonl``."""
    directory = Path(run_dir)
    record = read_record(directory / "record.jsonl")
    outputs = {
        "junit": (directory / "junit.xml", render_junit(record)),
        "summary": (
            directory / "summary.json",
            (json.dumps(summarise(record), indent=2, sort_keys=True) + "\n").encode("utf-8"),
        ),
        "html": (directory / "report.html", render_html(record).encode("utf-8")),
    }
    for path, data in outputs.values():
        atomic_write(path, data)
    return {name: path for name, (path, _) in outputs.items()}
