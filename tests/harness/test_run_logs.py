"""One run's log and record can be read per installation.

Every installation of a run used to have the same EUI-64s, so one RequestID
(originator, target EUI, counter) stood for hundreds of different requests,
and log lines said nothing of the DMC, test or virtual time they belonged to.
"""

from __future__ import annotations

import io
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from s1bench.emulator import logs
from s1bench.emulator.clock import DEFAULT_EPOCH
from s1bench.emulator.headend import eui64_int
from s1bench.harness.packs import load_pack
from s1bench.harness.runner import run_packs

DMCS = ["reference", "itron-dormant"]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """structlog as the CLI sets it up for --log-format json, into a buffer."""
    stream = io.StringIO()
    logs.configure("info", json=True, stream=stream)
    try:
        yield stream
    finally:
        structlog.contextvars.clear_contextvars()
        logs.configure("warning", stream=sys.__stderr__)


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _request_lines(out: Path) -> list[dict[str, Any]]:
    return [line for line in _records(out / "record.jsonl")
            if line.get("kind") == "step" and line.get("request")]


def test_each_installation_of_a_run_has_its_own_euis_and_request_ids(tmp_path: Path) -> None:
    run_packs([load_pack("standard-srv")], DMCS, tmp_path / "a", seed=1)
    steps = _request_lines(tmp_path / "a")
    targets: dict[tuple[str, str], set[str]] = defaultdict(set)
    for step in steps:
        targets[(step["dmc"], step["test"])].add(step["request"]["target"])
    assert {dmc for dmc, _ in targets} == set(DMCS)
    assert len(targets) > 10

    owners: dict[str, tuple[str, str]] = {}
    for installation, euis in targets.items():
        for eui in euis:
            assert owners.setdefault(eui, installation) == installation, (
                f"{eui} is used by {owners[eui]} and {installation}")
            assert eui.startswith("00-DB-12-")  # still the emulator's OUI
            assert 0 <= eui64_int(eui) < 2**64
    request_ids = [step["request"]["request_id"] for step in steps]
    assert len(request_ids) == len(set(request_ids)), "a RequestID repeats within the run"

    # The EUIs come from (seed, DMC, test): the same seed gives the same record.
    run_packs([load_pack("standard-srv")], DMCS, tmp_path / "b", seed=1)
    again = [step["request"]["request_id"] for step in _request_lines(tmp_path / "b")]
    assert again == request_ids
    run_packs([load_pack("standard-srv")], DMCS, tmp_path / "c", seed=2)
    other = {step["request"]["request_id"] for step in _request_lines(tmp_path / "c")}
    assert not other & set(request_ids)


def _log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(text) for text in stream.getvalue().splitlines() if text.strip()]


def test_log_lines_carry_dmc_test_and_virtual_time(tmp_path: Path,
                                                   log_stream: io.StringIO) -> None:
    run_packs([load_pack("standard-dormant-migration")], DMCS, tmp_path, seed=1)
    lines = _log_lines(log_stream)
    responses = [line for line in lines if line["event"] == "service response"]
    joins = [line for line in lines if line["event"] == "device joined the HAN"]
    assert responses and joins  # joins are logged from timer callbacks, not the test's task
    tests = {t.name for t in load_pack("standard-dormant-migration").tests}
    for line in responses + joins:
        assert line["dmc"] in DMCS
        assert line["pack"] == "standard-dormant-migration"
        assert line["test"] in tests
        at = datetime.fromisoformat(line["virtual_time"])
        assert DEFAULT_EPOCH <= at < DEFAULT_EPOCH.replace(year=DEFAULT_EPOCH.year + 1)
    assert {line["dmc"] for line in responses} == set(DMCS)
    # The time is read as each line is emitted: the hour's wait before the rotation shows.
    one = [line for line in responses if line["test"].startswith("Rotate the management")
           and line["dmc"] == "reference"]
    times = [datetime.fromisoformat(line["virtual_time"]) for line in one]
    assert times == sorted(times) and (times[-1] - times[0]).total_seconds() >= 3600

    # Nothing stays bound once the run is over.
    structlog.get_logger("s1bench.test").warning("after the run")
    after = _log_lines(log_stream)[-1]
    assert after["event"] == "after the run"
    assert not {"dmc", "pack", "test", "virtual_time"} & set(after)


def test_scenario_lines_carry_the_scenarios_own_virtual_time(tmp_path: Path,
                                                              log_stream: io.StringIO) -> None:
    """A reproduce step runs its own installation and clock; its lines say so too."""
    run_packs([load_pack("testing-issues")], ["aclara-ioc-dormant"], tmp_path, seed=1)
    responses = [line for line in _log_lines(log_stream)
                 if line["event"] == "service response"]
    assert responses
    for line in responses:
        assert line["dmc"] == "aclara-ioc-dormant" and line["pack"] == "testing-issues"
        assert line["test"] and datetime.fromisoformat(line["virtual_time"])


def test_no_key_material_in_the_bound_log_lines(tmp_path: Path,
                                                 log_stream: io.StringIO) -> None:
    run_packs([load_pack("standard-dormant-migration")], ["reference"], tmp_path, seed=1)
    text = log_stream.getvalue()
    codes = [step["request"]["params"].get("InstallCode") for step in _request_lines(tmp_path)]
    assert any(codes)
    for line in _log_lines(log_stream):
        assert not any("key" in name.lower() and line[name] != "<redacted>" for name in line)
    assert "InstallCode" not in text
