"""Reports are shared artefacts: readable by the group, and a skip says why.

Records are written by hand, in the shape the runner writes, so these pin
the record contract rather than whatever the runner does today.
"""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from s1bench.harness.reports import read_record, render_html, render_junit, write_reports

NO_GSME = "the DMC has no GSME"
NO_QUIRK = "the DMC does not carry <join_window_limit> & co"


def _lines() -> list[dict[str, Any]]:
    base = {"dmc": "DMC-A", "pack": "srv"}
    return [
        {"kind": "run", "run_id": "r-1", "seed": 1, "packs": ["srv"], "dmcs": ["DMC-A"],
         "mitigations": False, "version": "0.1.0"},
        {"kind": "dmc", "dmc": "DMC-A", "title": "ESME only", "status": "Dormant",
         "epcl_id": "1", "testing_issue_threshold": {"1": 0}, "children": [], "devices": []},
        {"kind": "step", **base, "test": "read gas", "index": 0, "step": "4.1.1 on the GSME",
         "verdict": "skip", "failures": [NO_GSME], "virtual_time": ""},
        {"kind": "step", **base, "test": "read gas", "index": 1, "step": "4.1.1 again",
         "verdict": "skip", "failures": [NO_GSME], "virtual_time": ""},
        {"kind": "test", **base, "test": "read gas", "verdict": "skip", "testing_issues": []},
        {"kind": "step", **base, "test": "join window", "index": 0, "step": "reproduce 91342",
         "verdict": "skip", "failures": [NO_QUIRK], "virtual_time": ""},
        {"kind": "test", **base, "test": "join window", "verdict": "skip", "testing_issues": []},
        {"kind": "step", **base, "test": "read power", "index": 0, "step": "4.1.1 on the ESME",
         "verdict": "pass", "failures": [], "virtual_time": ""},
        {"kind": "test", **base, "test": "read power", "verdict": "pass", "testing_issues": []},
        {"kind": "end", "finished_at": "2024-01-01T00:00:01Z"},
    ]


def _write_record(directory: Path) -> Path:
    path = directory / "record.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in _lines()), encoding="utf-8")
    return path


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)],
                         ids=["umask-022", "umask-027", "umask-002"])
def test_reports_get_the_mode_the_umask_gives(tmp_path: Path, mask: int, mode: int) -> None:
    _write_record(tmp_path)
    with _umask(mask):
        written = write_reports(tmp_path)
        again = write_reports(tmp_path)  # replacing an existing report keeps the mode
    assert set(written) == {"junit", "summary", "html"}
    for path in [*written.values(), *again.values()]:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_junit_skipped_element_carries_the_reason(tmp_path: Path) -> None:
    root = ET.fromstring(render_junit(read_record(_write_record(tmp_path))))
    cases = {case.get("name"): case for case in root.iter("testcase")}
    gas = cases["read gas"].find("skipped")
    assert gas is not None and gas.get("message") == NO_GSME  # said once, not per step
    join = cases["join window"].find("skipped")
    assert join is not None and join.get("message") == NO_QUIRK
    assert cases["read power"].find("skipped") is None
    assert root.get("skipped") == "2"


def test_junit_skip_without_a_recorded_reason_says_so(tmp_path: Path) -> None:
    path = tmp_path / "record.jsonl"
    lines = [line for line in _lines() if not (line.get("kind") == "step"
                                               and line.get("verdict") == "skip")]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    root = ET.fromstring(render_junit(read_record(path)))
    skipped = next(root.iter("skipped"))
    assert skipped.get("message") == "no reason recorded"


def test_html_shows_each_skipped_test_beside_its_reason(tmp_path: Path) -> None:
    page = render_html(read_record(_write_record(tmp_path)))
    assert "Skipped tests" in page
    rows = page.split("<h3>Skipped tests</h3>", 1)[1].split("</table>", 1)[0]
    assert "<td>read gas</td><td>the DMC has no GSME</td>" in rows
    # The reason is escaped like every other record field.
    assert ("<td>join window</td><td>the DMC does not carry &lt;join_window_limit&gt; "
            "&amp; co</td>") in rows
    assert "read power" not in rows
