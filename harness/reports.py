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
  (header block, test execution summary, Testing Issues, Testing Issue
  Threshold, verdict, Substantive Equivalence).

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

__all__ = [
    "SEVERITIES",
    "Record",
    "read_record",
    "render_html",
    "render_junit",
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


def _summarise_dmc(record: Record, dmc: str) -> dict[str, Any]:
    info = record.dmcs.get(dmc, {})
    tests = [t for k, t in record.tests.items() if k[0] == dmc]
    verdicts = [str(t.get("verdict")) for t in tests]

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
                }
                issues[iid] = held
            if name not in held["tests"]:
                held["tests"].append(name)
    issue_list = sorted(issues.values(), key=lambda i: (_sev_rank(i["severity"]), i["id"]))
    for i in issue_list:
        i["tests"] = sorted(i["tests"])
        i["severity"] = int(i["severity"]) if i["severity"].isdigit() else i["severity"]

    open_by: dict[str, int] = {s: 0 for s in SEVERITIES}
    for i in issue_list:
        open_by[str(i["severity"])] = open_by.get(str(i["severity"]), 0) + 1

    threshold = {str(k): v for k, v in (info.get("testing_issue_threshold") or {}).items()}
    breaches = []
    for sev in sorted(open_by, key=_sev_rank):
        allowed = _allowed(threshold, sev)
        if allowed is not None and open_by[sev] > allowed:
            breaches.append({"severity": sev, "open": open_by[sev], "allowed": allowed})

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
        "testing_issues": issue_list,
        "open_by_severity": open_by,
        "threshold": threshold,
        "breaches": breaches,
        # No executed test is no evidence: a DMC whose tests never ran cannot pass.
        "exit_criteria_met": record.complete and not breaches and len(tests) > 0,
        "equivalent_children": list(info.get("children") or []),
    }


def summarise(record: Record) -> dict[str, Any]:
    """Counts, Testing Issues and the exit-criteria verdict per DMC.

    Exit criteria are met for a DMC when, for every severity with a threshold,
    open Testing Issues do not exceed it, at least one test ran, and the run is
    complete. Wall-clock fields are left out so the output depends only on
    what the run did, not when.
    """
    run = {k: v for k, v in record.run.items() if k not in ("kind", "started_at")}
    dmcs = {dmc: _summarise_dmc(record, dmc) for dmc in record.dmc_ids()}
    return {
        "run": run,
        "complete": record.complete,
        "resumes": record.resumes,
        "damaged_lines": list(record.damaged_lines),
        "dmcs": dmcs,
        "exit_criteria_met": record.complete
        and bool(dmcs)
        and all(d["exit_criteria_met"] for d in dmcs.values()),
    }


def _step_failure_lines(steps: Iterable[dict[str, Any]]) -> list[str]:
    """One line per failed step: label, SRV, response code and the failures.

    Only those fields: request parameters may hold install codes or key
    material, so the request itself is never reproduced.
    """
    lines = []
    for s in steps:
        if s.get("verdict") != "fail":
            continue
        srv, code = _srv_and_code(s)
        detail = "; ".join(str(f) for f in s.get("failures") or []) or "failed"
        lines.append(
            f"step {s.get('index')} {s.get('step', '')} [SRV {srv}, code {code}]: {detail}"
        )
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


def _issue_lines(test: dict[str, Any]) -> list[str]:
    return [
        f"Testing Issue {i.get('id')} (Severity {i.get('severity')}): {i.get('title', '')}"
        for i in test.get("testing_issues") or []
    ]


def render_junit(record: Record) -> bytes:
    """JUnit XML with one testsuite per (DMC, pack), so CI shows DMCT results.

    Testing Issues go into the failure text (or system-out for a passing test
    that still carries an issue) so they are visible without the HTML report.
    """
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
            issues = _issue_lines(test)
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
.verdict{font-size:1.2em;padding:.5em;border:2px solid;display:inline-block}
.verdict.ok{border-color:#0a6b1f;background:#eaf6ec}
.verdict.bad{border-color:#a40000;background:#fbeaea}
.banner{background:#fff3cd;border:1px solid #c99a00;padding:.6em;margin:1em 0}
.classification{font-weight:bold;color:#555}
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


def _dmc_section(record: Record, dmc: str, s: dict[str, Any]) -> str:
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

    failed = [(k, t) for k, t in tests if t.get("verdict") == "fail"]
    if failed:
        parts.append("<h3>Failed tests</h3>")
        for key, test in failed:
            step_rows = []
            for st in record.steps.get(key, []):
                if st.get("verdict") != "fail":
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
            issues = _issue_lines(test)
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
            _table(
                ["Testing Issue", "Title", "Severity", "Evidence", "Tests"],
                [
                    [i["id"], i["title"], i["severity"], i["evidence"], ", ".join(i["tests"])]
                    for i in s["testing_issues"]
                ],
            )
        )
    else:
        parts.append("<p>No Testing Issues raised.</p>")

    parts.append("<h3>Testing Issue Threshold</h3>")
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
    parts.append(_table(["Severity", "Open", "Allowed", "Within threshold?"], t_rows, raw=True))
    reasons = []
    if not record.complete:
        reasons.append("the run is incomplete")
    if s["tests_run"] == 0:
        reasons.append("no tests were executed")
    for b in s["breaches"]:
        reasons.append(
            f"{b['open']} open Severity {b['severity']} issue(s) against {b['allowed']} allowed"
        )
    parts.append(_verdict(s["exit_criteria_met"]))
    if reasons:
        parts.append("<p>Reason: " + _e("; ".join(reasons)) + ".</p>")

    parts.append("<h3>Substantive Equivalence</h3>")
    if s["equivalent_children"]:
        parts.append(
            f"<p>The following DMCs have not been tested but are proposed as "
            f"Substantively Equivalent to DMC {_e(dmc)}, which has been tested.</p>"
        )
        parts.append(
            _table(
                ["Child DMC", "Reason"],
                [[c.get("id"), c.get("reason")] for c in s["equivalent_children"]],
            )
        )
    else:
        parts.append("<p>No child DMCs proposed.</p>")
    parts.append("</section>")
    return "\n".join(parts)


def render_html(record: Record) -> str:
    """A self-contained DMCT Testing Report page (inline CSS, no script, no assets).

    Everything from the record is escaped: evidence strings come from device
    responses and must not be able to inject markup into a reviewer's browser.
    """
    summary = summarise(record)
    run = record.run
    mitigations = run.get("mitigations")
    run_rows = [
        ["Run id", run.get("run_id", "(not recorded)")],
        ["Seed", run.get("seed", "(not recorded)")],
        [
            "Mitigations",
            "on" if mitigations else "off" if mitigations is not None else "(not recorded)",
        ],
        ["Test packs", ", ".join(map(str, run.get("packs") or []))],
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
        overview.append(
            [
                f'<a href="#dmc-{_e(dmc)}">{_e(dmc)}</a>',
                _e(s["epcl_id"]),
                _e(s["status"]),
                _e(f"{s['passed']}/{s['tests_run']}"),
                _e(open_counts),
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
            ["DMC", "EPCL entry", "Status", "Passed / run", "Open Testing Issues", "Exit criteria"],
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


def _atomic_write(path: Path, data: bytes) -> None:
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
        _atomic_write(path, data)
    return {name: path for name, (path, _) in outputs.items()}
