"""`s1bench diff` on two recorded runs: exactly the steps where the two sides disagree.

Two emulator runs of one pack on DMCs that differ in one quirk stand in for the
emulator and a bench: itron-active's GSME firmware carries 91333 (SRV 6.7 only once
per day), itron-dormant's does not, and nothing else in the pack tells them apart.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from s1bench.harness.cli import main
from s1bench.harness.diff import diff_records
from s1bench.harness.packs import load_pack
from s1bench.harness.reports import Record, read_record
from s1bench.harness.runner import run_packs

PACK = """\
pack: gas-and-reads
tests:
  - name: gas flow set twice
    steps:
      - srv: "4.1.1"
        expect: {response_code: I0}
      - srv: "6.7"
        device: GSME
        expect: {response_code: I0}
      - srv: "6.7"
        device: GSME
        expect: {response_code: I0}
  - name: reads
    steps:
      - srv: "4.1.1"
        expect: {response_code: I0}
      - wait: 60
      - srv: "4.1.1"
        device: GSME
        expect: {response_code: I0}
  - name: gas then read
    steps:
      - srv: "6.7"
        device: GSME
        expect: {response_code: I0}
      - srv: "6.7"
        device: GSME
        expect: {response_code: I0}
      - srv: "4.1.1"
        expect: {response_code: I0}
      - srv: "4.1.1"
        device: GSME
        expect: {response_code: I0}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("diff")
    (folder / "pack.yaml").write_text(PACK)
    pack = load_pack(str(folder / "pack.yaml"))
    out = {}
    for name, dmc in (("dormant", "itron-dormant"), ("active", "itron-active"),
                      ("dormant-again", "itron-dormant")):
        out[name] = folder / name
        run_packs([pack], [dmc], out[name])
    return out


def record(runs: dict[str, Path], name: str) -> Record:
    return read_record(runs[name] / "record.jsonl")


def test_exactly_the_step_the_quirk_changes_is_reported(runs: dict[str, Path]) -> None:
    result = diff_records(record(runs, "dormant"), record(runs, "active"))
    assert result.differing_steps == [("gas-and-reads", "gas flow set twice", 2),
                                      ("gas-and-reads", "gas then read", 1),
                                      ("gas-and-reads", "gas then read", 2)]
    first = {d.aspect: (d.left, d.right) for d in result.differences
             if d.test == "gas flow set twice"}
    assert first == {
        "verdict": ("pass", "fail"),
        "device_success": ("true", "false"),  # the GSME refused: I0, but not a success
        "outcome": ("done", "refused"),
        "body_fields": ("only UncontrolledGasFlowRate", "-"),
    }  # no response_code: both I0, the DCC delivered it either way
    assert result.tests_compared == 3


def test_steps_one_side_never_ran_are_one_row(runs: dict[str, Path]) -> None:
    result = diff_records(record(runs, "dormant"), record(runs, "active"))
    after = [d for d in result.differences if d.test == "gas then read" and d.aspect == "step"]
    assert [(d.index, d.left, d.right) for d in after] == [
        (2, "ran: pass (and 1 step(s) after it)", "not run: the test ended at step 1 (fail)")]


def test_two_runs_of_the_same_dmc_agree(runs: dict[str, Path]) -> None:
    result = diff_records(record(runs, "dormant"), record(runs, "dormant-again"))
    assert result.differences == []
    assert result.steps_compared == 10


def test_timings_beyond_the_tolerance_are_reported(runs: dict[str, Path],
                                                   tmp_path: Path) -> None:
    lines = (runs["dormant-again"] / "record.jsonl").read_text().splitlines()
    slowed = []
    for text in lines:
        line = json.loads(text)
        if line.get("kind") == "step" and line["test"] == "reads" and line["index"] == 2:
            line["elapsed_s"] = line["elapsed_s"] + 3.5  # a meter slow to answer
        slowed.append(json.dumps(line))
    (tmp_path / "record.jsonl").write_text("\n".join(slowed) + "\n")
    slow = read_record(tmp_path / "record.jsonl")
    within = diff_records(record(runs, "dormant"), slow, tolerance_s=5)
    assert within.differences == []
    beyond = diff_records(record(runs, "dormant"), slow, tolerance_s=2)
    assert [(d.test, d.index, d.aspect) for d in beyond.differences] == [("reads", 2, "timing")]
    assert beyond.differences[0].left == "0.010 s" and beyond.differences[0].right == "3.510 s"


def test_alerts_during_a_step_are_compared_by_code_and_device(runs: dict[str, Path],
                                                              tmp_path: Path) -> None:
    out = []
    for text in (runs["dormant-again"] / "record.jsonl").read_text().splitlines():
        line = json.loads(text)
        if line.get("kind") == "step" and line["test"] == "reads" and line["index"] == 0:
            line["alerts"] = [{"code": "8F84", "device": "ESME"}]
        out.append(json.dumps(line))
    (tmp_path / "record.jsonl").write_text("\n".join(out) + "\n")
    result = diff_records(record(runs, "dormant"), read_record(tmp_path / "record.jsonl"))
    assert [(d.index, d.aspect, d.left, d.right) for d in result.differences] == [
        (0, "alerts", "none", "8F84@ESME")]


def test_cli_compares_recorded_runs_and_exits_1_on_a_difference(
        runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["diff", "--emulator-run", str(runs["dormant"]),
                 "--bench-run", str(runs["active"])])
    out = capsys.readouterr().out
    assert code == 1
    rows = [line for line in out.splitlines() if line.startswith("gas-and-reads")]
    assert "3 step(s) differ" in out
    refused = [" ".join(row.split()) for row in rows if " device_success " in row]
    assert len(refused) == 2
    assert "gas flow set twice 2 srv 6.7 device_success true false" in refused[0]
    assert "gas then read 1 srv 6.7 device_success true false" in refused[1]
    assert main(["diff", "--emulator-run", str(runs["dormant"]),
                 "--bench-run", str(runs["dormant-again"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["differing_steps"] == 0


def test_cli_diff_runs_the_emulator_side_itself(runs: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pack = str(runs["dormant"].parent / "pack.yaml")
    assert main(["diff", pack, "--dmc", "itron-dormant", "--bench-run", str(runs["active"]),
                 "--out", str(tmp_path / "d"), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["emulator_run"] == str(tmp_path / "d" / "emulator")
    assert {(d["test"], d["index"]) for d in result["differences"]} == {
        ("gas flow set twice", 2), ("gas then read", 1), ("gas then read", 2)}
    assert (tmp_path / "d" / "emulator" / "report.html").is_file()


def test_cli_diff_on_a_bench_whose_port_is_refused_exits_2_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = f"socket://127.0.0.1:{free.getsockname()[1]}"
    bench = tmp_path / "bench.yaml"
    text = (Path(__file__).parents[2] / "hil" / "benches" / "example-znp.yaml").read_text()
    bench.write_text(text.replace("socket://127.0.0.1:6638", port))
    assert main(["diff", "--bench", str(bench), "standard-srv",
                 "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert f"{port}: connection refused" in err
    assert not (tmp_path / "d" / "emulator" / "record.jsonl").exists(), \
        "nothing runs before the bench is known to be reachable"


def test_cli_diff_needs_something_to_compare(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "standard-srv"]) == 2
    assert "--bench BENCH.yaml is needed" in capsys.readouterr().err
