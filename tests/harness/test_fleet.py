"""`s1bench fleet`: paced migration days, deterministic for any worker count, resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from s1bench.harness.cli import main
from s1bench.harness.fleet.pacing import Decision, Pacer, PacingPolicy
from s1bench.harness.fleet.plan import MixError, apportion, parse_mix, plan_fleet
from s1bench.harness.runner import read_lines

#: A quirky DMC (Honeywell Elster dormant: 91339/91340's missing response codes fail
#: migrations) beside a clean one.
MIX = "itron-dormant=0.5,honeywell-elster-dormant=0.5"


def _fleet(out: Path, *extra: str, n: int = 240, per_day: int = 120, days: int = 3) -> int:
    return main(["fleet", "-n", str(n), "--mix", MIX, "--per-day", str(per_day),
                 "--days", str(days), "--out", str(out), "--quiet", *extra])


def _lines(out: Path) -> list[dict[str, Any]]:
    return [line for line in read_lines(out / "record.jsonl") if line["kind"] != "end"]


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet") / "w1"
    _fleet(out)
    return out


def test_a_quirky_dmc_is_halted_with_its_reason_in_record_report_and_graph(
        one_worker: Path) -> None:
    summary = _summary(one_worker)
    halts = [d for d in summary["decisions"] if d["action"] == "halt"]
    assert [d["dmc"] for d in halts][:1] == ["honeywell-elster-dormant"]
    assert "failure rate" in halts[0]["reason"] and "halt threshold" in halts[0]["reason"]
    assert any(line["kind"] == "decision" and line["action"] == "halt"
               for line in _lines(one_worker))
    # The clean DMC goes on; the halted one is paused the next day, then resumes.
    assert summary["outcomes"]["itron-dormant"]["migrated"] == 120
    actions = [(d["day"], d["action"]) for d in summary["decisions"]
               if d["dmc"] == "honeywell-elster-dormant"]
    assert (2, "no-go") in actions
    report = (one_worker / "report.html").read_text()
    assert "data:image/png;base64," in report and "halted in day" in report
    assert (one_worker / "pacing.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Failures a known Testing Issue explains are counted under it, not as unknown.
    assert set(summary["testing_issues"]["honeywell-elster-dormant"]) <= {"91339", "91340"}
    assert summary["unknown_errors"] == {}


def test_two_workers_write_the_same_record_as_one(one_worker: Path, tmp_path: Path) -> None:
    assert _fleet(tmp_path / "w2", "--workers", "2") == _fleet(tmp_path / "w1b")
    assert _lines(tmp_path / "w2") == _lines(one_worker)
    assert _summary(tmp_path / "w2")["outcomes"] == _summary(one_worker)["outcomes"]


def test_metrics_snapshot_counts_what_the_summary_counts(one_worker: Path) -> None:
    text = (one_worker / "metrics.prom").read_text()
    summary = _summary(one_worker)
    for dmc, outcomes in summary["outcomes"].items():
        for outcome, n in outcomes.items():
            line = f's1bench_migrations_total{{dmc="{dmc}",outcome="{outcome}"}} {float(n)}'
            assert (line in text) == bool(n), line
    assert 's1bench_pacing_decisions_total{action="halt",dmc="honeywell-elster-dormant"}' in text
    assert 's1bench_srv_latency_seconds_bucket{dmc="itron-dormant"' in text
    assert "s1bench_han_frames_total" in text


def test_metrics_are_served_while_running(tmp_path: Path) -> None:
    import httpx
    from s1bench.harness.fleet.metrics import FleetMetrics

    metrics = FleetMetrics()
    port = metrics.serve(0)
    try:
        metrics.decision(Decision(1, "itron-dormant", "halt", 0, "test"))
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        metrics.stop()
    assert 's1bench_pacing_decisions_total{action="halt",dmc="itron-dormant"} 1.0' in body


def test_a_sigkill_mid_fleet_then_resume_gives_the_same_summary(
        one_worker: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "s1bench.harness.cli", "fleet", "-n", "240", "--mix", MIX,
            "--per-day", "120", "--days", "3", "--out", str(out), "--quiet"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    record = out / "record.jsonl"
    while time.monotonic() < deadline and process.poll() is None:
        if record.exists() and sum(1 for _ in record.open()) > 40:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    taken = [line for line in read_lines(record) if line["kind"] == "installation"]
    assert 0 < len(taken) < 240, "the kill must land mid-fleet"
    assert _fleet(out, "--resume") in (0, 1)
    lines = _lines(out)
    indices = [line["i"] for line in lines if line["kind"] == "installation"]
    assert len(indices) == len(set(indices)), "an installation was recorded twice"
    assert _summary(out)["outcomes"] == _summary(one_worker)["outcomes"]
    assert _summary(out)["decisions"] == _summary(one_worker)["decisions"]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "--mix", "no-such-dmc=1", "--out", str(tmp_path / "a")]) == 2
    assert "no-such-dmc" in capsys.readouterr().err
    assert main(["fleet", "--mix", "itron-dormant=banana", "--out", str(tmp_path / "b")]) == 2
    assert "banana" in capsys.readouterr().err
    out = tmp_path / "c"
    _fleet(out, n=20, per_day=20, days=1)
    assert _fleet(out, n=20, per_day=20, days=1) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["fleet", "-n", "20", "--mix", MIX, "--per-day", "20", "--days", "1",
                 "--out", str(out), "--seed", "9", "--resume", "--quiet"]) == 2
    assert "seed" in capsys.readouterr().err


def test_mix_parsing_and_apportioning() -> None:
    assert parse_mix("a=1,b=3") == {"a": 0.25, "b": 0.75}
    with pytest.raises(MixError, match="given twice"):
        parse_mix("a=1,a=2")
    with pytest.raises(MixError, match="above 0"):
        parse_mix("a=0")
    assert apportion(10, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == {"a": 4, "b": 3, "c": 3}
    fleet = plan_fleet(1001, {"a": 0.5, "b": 0.5}, seed=1)
    assert sorted(i for q in fleet.queues.values() for i in q) == list(range(1001))
    assert fleet.queues == plan_fleet(1001, {"a": 0.5, "b": 0.5}, seed=1).queues


def test_a_wave_is_cut_into_even_shards_so_workers_end_it_together() -> None:
    from s1bench.harness.fleet.work import shards

    wave = [("itron-dormant", i) for i in range(500)]
    cut = shards(wave, 200, 8)
    assert [len(s) for s in cut] == [63] * 4 + [62] * 4  # not 200, 200 and 100
    assert [item for s in cut for item in s] == wave  # in order, each once
    big = shards([("a", i) for i in range(12_500)], 200, 8)
    assert len(big) == 63 and max(map(len, big)) <= 200 and min(map(len, big)) >= 198
    assert shards([], 200, 8) == [] and len(shards(wave[:3], 200, 8)) == 3


def test_the_pacer_scales_up_after_good_days_and_down_after_bad_ones() -> None:
    pacer = Pacer(PacingPolicy(min_sample=5), per_day=100, mix={"a": 0.5, "b": 0.5},
                  remaining={"a": 1000, "b": 1000})
    volumes, _ = pacer.go_no_go(1)
    assert volumes == {"a": 50, "b": 50}
    ok = [{"dmc": "a", "outcome": "migrated"}] * 50
    meh = [{"dmc": "b", "outcome": "migrated"}] * 45 + [{"dmc": "b", "outcome": "rolled back"}] * 5
    during = pacer.judge_wave(1, 1, ok + meh)
    assert [(d.dmc, d.action) for d in during] == [("b", "throttle")]
    after = {d.dmc: d for d in pacer.end_of_day(1)}
    assert after["b"].action == "scale-down" and after["b"].volume == 25
    assert "a" not in after  # already at its share of the day's capacity
    unknown = [{"dmc": "a", "outcome": "stalled", "unknown_error": "stalled at commission"}]
    volumes, _ = pacer.go_no_go(2)
    halted = pacer.judge_wave(2, 1, unknown)
    assert [(d.dmc, d.action) for d in halted] == [("a", "halt")]
    assert "new or unknown error" in halted[0].reason
    assert pacer.wave_share("a", 10) == 0


def test_a_bad_cohort_scales_down_its_own_dmcs_and_no_other() -> None:
    """Seed 002 Annex C: "higher than expected failure rates for that cohort"."""
    mix = {"a": 0.25, "b": 0.25, "c": 0.5}
    pacer = Pacer(PacingPolicy(min_sample=5), per_day=100, mix=mix,
                  remaining=dict.fromkeys(mix, 1000), cohorts={"a": "MOC", "b": "MOC"})
    pacer.go_no_go(1)
    # a alone is within the expected rate; with b, cohort MOC is at 30 %.
    results = ([{"dmc": "a", "outcome": "migrated"}] * 10
               + [{"dmc": "b", "outcome": "migrated"}] * 4
               + [{"dmc": "b", "outcome": "rolled back"}] * 6
               + [{"dmc": "c", "outcome": "migrated"}] * 20)
    pacer.judge_wave(1, 1, results)
    after = {d.dmc: d for d in pacer.end_of_day(1)}
    assert after["a"].action == "scale-down" and "cohort MOC" in after["a"].reason
    assert "30.0%" in after["a"].reason
    assert "c" not in after or after["c"].action == "scale-up"  # cohort fleet did well


def test_cohorts_name_dmcs_of_the_mix_once(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from s1bench.harness.fleet.plan import parse_cohorts

    mix = parse_mix(MIX)
    assert parse_cohorts(["IOC=itron-dormant"], mix) == {"itron-dormant": "IOC"}
    with pytest.raises(MixError, match="already in cohort IOC"):
        parse_cohorts(["IOC=itron-dormant", "MOC=itron-dormant"], mix)
    assert main(["fleet", "-n", "20", "--mix", MIX, "--cohort", "MOC=edmi-esme",
                 "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "edmi-esme is not in --mix" in capsys.readouterr().err
    out = tmp_path / "cohorts"
    _fleet(out, "--cohort", "Elster=honeywell-elster-dormant", n=40, per_day=40, days=1)
    assert _summary(out)["cohorts"] == {"honeywell-elster-dormant": "Elster",
                                        "itron-dormant": "fleet"}
    assert "Elster" in (out / "report.html").read_text()
    assert _fleet(out, "--resume", n=40, per_day=40, days=1) == 2  # cohorts differ
    assert "cohorts" in capsys.readouterr().err


def test_the_grafana_dashboard_queries_only_what_a_run_exports(one_worker: Path) -> None:
    import re

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "grafana" /
                            "s1bench-fleet.json").read_text())
    exported = set()  # every family the run declares, whether or not it counted anything
    for name, kind in re.findall(r"^# TYPE (s1bench_\w+) (\w+)$",
                                 (one_worker / "metrics.prom").read_text(), re.M):
        exported |= {name.removesuffix("_total") + "_total"} if kind == "counter" else {
            f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"s1bench_\w+", target["expr"])}
    assert used and used <= exported, used - exported


@pytest.fixture
def broker_port(tmp_path: Path) -> Any:
    from s1bench.harness.bench_mqtt import find_mosquitto, mosquitto_broker

    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: `make system-deps` installs it", pytrace=False)
    with mosquitto_broker(tmp_path) as port:
        yield port


def test_shards_through_the_broker_and_han_over_mqtt_give_the_same_fleet(
        one_worker: Path, tmp_path: Path, broker_port: int) -> None:
    """Shards taken by shared subscription, then HAN frames over the broker too."""
    broker = f"127.0.0.1:{broker_port}"
    assert _fleet(tmp_path / "shards", "--broker", broker, "--workers", "2") in (0, 1)
    assert _lines(tmp_path / "shards") == _lines(one_worker)
    assert _fleet(tmp_path / "han", "--broker", broker, "--workers", "2",
                  "--medium", "mqtt") in (0, 1)
    assert _summary(tmp_path / "han")["outcomes"] == _summary(one_worker)["outcomes"]
    assert _summary(tmp_path / "han")["decisions"] == _summary(one_worker)["decisions"]


def test_a_dead_broker_is_one_line_and_keeps_the_record(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from s1bench.harness.bench_mqtt import free_port

    port = free_port()  # nothing listens there
    code = _fleet(tmp_path / "dead", "--broker", f"127.0.0.1:{port}", "--workers", "1",
                  n=20, per_day=20, days=1)
    err = capsys.readouterr().err
    assert code == 1 and f"127.0.0.1:{port}" in err and "Traceback" not in err
    assert read_lines(tmp_path / "dead" / "record.jsonl")[0]["kind"] == "fleet"
