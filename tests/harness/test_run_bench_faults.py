"""The faults a bench has, through the runner's target seam, without hardware.

A device that stops answering is recorded (E21) and the run goes on; a dongle lost
mid-run stops the run with every step that ran recorded as it happened (the step in
flight as an error naming the port), and `--resume` finishes it once the dongle is back.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from s1bench.harness.cli import main
from s1bench.harness.packs import load_pack
from s1bench.harness.reports import read_record
from s1bench.harness.runner import read_lines, run_packs
from s1bench.harness.targets import EMULATOR, TargetLost

PACK = """\
pack: reads
tests:
  - name: first
    steps:
      - srv: "4.1.1"
        expect: {response_code: I0}
      - srv: "4.1.1"
        expect: {response_code: I0}
  - name: second
    steps:
      - srv: "4.1.1"
        expect: {response_code: I0}
      - srv: "4.1.1"
        expect: {response_code: I0}
      - srv: "4.1.1"
        expect: {response_code: I0}
"""
PORT = "socket://127.0.0.1:6638"


@dataclass
class FakeBench:
    id: str = "desk-1"
    dmc: str = "reference"


class FlakyBench:
    """The emulator, dressed as a bench whose dongle goes away after ``lose_after`` steps."""

    kind = "bench"

    def __init__(self, lose_after: int | None = None) -> None:
        self.bench = FakeBench()
        self.lose_after = lose_after
        self.steps = 0
        self.closed = False

    def new_clock(self) -> Any:
        return EMULATOR.new_clock()

    def spec_for(self, spec: Any) -> Any:
        return spec

    def installation(self, spec: Any, clock: Any, **kw: Any) -> Any:
        return EMULATOR.installation(spec, clock, **kw)

    async def verify(self) -> None:
        self.steps += 1
        if self.lose_after is not None and self.steps > self.lose_after:
            raise TargetLost(f"{PORT}: the dongle stopped answering")

    def describe(self) -> dict[str, Any]:
        return {"kind": "bench", "bench": self.bench.id, "port": PORT, "file": "desk-1.yaml"}

    def close(self) -> None:
        self.closed = True


class SilentAfterFirst:
    """The emulator, with the ESME unplugged after the first step of each test."""

    kind = "emulator"

    def new_clock(self) -> Any:
        return EMULATOR.new_clock()

    def spec_for(self, spec: Any) -> Any:
        return spec

    @asynccontextmanager
    async def installation(self, spec: Any, clock: Any, **kw: Any) -> AsyncIterator[Any]:
        async with EMULATOR.installation(spec, clock, **kw) as inst:
            self.inst = inst
            self.calls = 0
            yield inst

    async def verify(self) -> None:
        self.calls += 1
        if self.calls == 1:
            esme = next(d for d in self.inst.devices.values()
                        if d.info.device_type == "ESME")
            self.inst.medium.detach(esme)

    def describe(self) -> None:
        return None

    def close(self) -> None:
        return None


@pytest.fixture
def pack(tmp_path: Path) -> Any:
    (tmp_path / "reads.yaml").write_text(PACK)
    return load_pack(str(tmp_path / "reads.yaml"))


def kinds(path: Path) -> list[str]:
    return [line["kind"] for line in read_lines(path)]


def test_a_device_that_stops_answering_is_recorded_and_the_run_goes_on(
        pack: Any, tmp_path: Path) -> None:
    path = run_packs([pack], ["reference"], tmp_path / "run", target=SilentAfterFirst())
    steps = [line for line in read_lines(path) if line["kind"] == "step"]
    assert [(s["test"], s["index"], s["response"]["response_code"]) for s in steps] == [
        ("first", 0, "I0"), ("first", 1, "E21"), ("second", 0, "I0"), ("second", 1, "E21")]
    assert steps[1]["response"]["outcome"] == "silent"
    assert kinds(path)[-1] == "end"  # the run went on to the end


def test_a_lost_dongle_stops_the_run_with_the_truth_recorded_and_resume_finishes_it(
        pack: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    flaky = FlakyBench(lose_after=3)
    with pytest.raises(TargetLost, match=re.escape(PORT)):
        run_packs([pack], ["reference"], out, target=flaky)
    assert flaky.closed  # the dongle's port is let go, so it can be re-plugged and resumed
    lines = read_lines(out / "record.jsonl")
    assert lines[0]["target"]["port"] == PORT
    assert [line["kind"] for line in lines] == ["run", "dmc", "step", "step", "test",
                                                "step", "step"]
    lost = lines[-1]
    assert (lost["test"], lost["index"], lost["verdict"]) == ("second", 1, "error")
    assert lost["failures"][0] == ("target lost during this step: "
                                   "socket://127.0.0.1:6638: the dongle stopped answering")
    assert lost["response"]["response_code"] == "I0"  # what the DCC saw, kept as it was
    assert not read_record(out / "record.jsonl").complete

    run_packs([pack], ["reference"], out, resume=True, target=FlakyBench())
    record = read_record(out / "record.jsonl")
    assert record.complete
    second = record.steps[("reference", "reads", "second")]
    assert [s["verdict"] for s in second] == ["pass", "pass", "pass"]  # the re-run counts
    assert record.tests[("reference", "reads", "second")]["verdict"] == "pass"


def test_run_bench_cli_exits_2_naming_the_port_and_resumes_on_the_recorded_bench(
        pack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    bench_file = tmp_path / "desk-1.yaml"
    bench_file.write_text((Path(__file__).parents[2] / "hil" / "benches" /
                           "example-znp.yaml").read_text().replace("example-znp", "desk-1"))
    targets = iter([FlakyBench(lose_after=3), FlakyBench()])
    opened: list[str] = []

    def fake_bench_target(path: Any) -> FlakyBench:
        opened.append(str(path))
        target = next(targets)
        target.describe = lambda: {"kind": "bench", "bench": "desk-1",  # type: ignore[method-assign]
                                   "port": PORT, "file": str(bench_file)}
        return target

    monkeypatch.setattr("s1bench.harness.cli_bench.bench_target", fake_bench_target)
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "reads.yaml"), "--bench", str(bench_file),
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{PORT}: the dongle stopped answering" in err
    assert f"s1bench run --resume {out}" in err
    assert (out / "report.html").is_file()  # what ran, reported as incomplete

    # A pack of your own is named again on resume (shipped ones are found by id).
    assert main(["run", str(tmp_path / "reads.yaml"), "--resume", str(out), "--quiet"]) == 0
    assert opened == [str(bench_file), str(bench_file)]  # the recorded bench, again
    assert read_record(out / "record.jsonl").complete


def test_run_bench_refuses_another_dmc_and_captures(tmp_path: Path, pack: Any,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bench = Path(__file__).parents[2] / "hil" / "benches" / "example-znp.yaml"
    assert main(["run", str(tmp_path / "reads.yaml"), "--bench", str(bench),
                 "--dmc", "itron-dormant", "--out", str(tmp_path / "r")]) == 2
    assert "bench example-znp forms DMC reference" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "reads.yaml"), "--bench", str(bench), "--capture",
                 "--out", str(tmp_path / "r")]) == 2
    assert "a bench has no frames to capture" in capsys.readouterr().err
