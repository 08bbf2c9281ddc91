"""A fleet run through a broker restart and a worker killed mid-shard.

What a user would check after either: the run completed, every installation
has exactly one outcome in the record, and nothing recorded before the fault
was lost or written again. Shards in flight are migrated from the start again
and their lines say so (``resent``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from s1bench.harness.bench_mqtt import Mosquitto
from s1bench.harness.runner import read_lines


def _fleet(out: Path, n: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "s1bench.harness.cli", "fleet", "-n", str(n), "--mix",
         "itron-dormant=1", "--per-day", str(n), "--days", "1", "--out", str(out), "--quiet",
         *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _installations(out: Path) -> list[dict[str, Any]]:
    return [line for line in read_lines(out / "record.jsonl") if line["kind"] == "installation"]


def _wait_for_lines(process: subprocess.Popen[bytes], out: Path, count: int,
                    timeout: float = 240) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        if (out / "record.jsonl").exists():
            lines = _installations(out)
            if len(lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} installations recorded in {timeout} s")


def _one_outcome_each(out: Path, n: int, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    after = _installations(out)
    indices = [line["i"] for line in after]
    assert len(indices) == len(set(indices)), "an installation was recorded twice"
    assert sorted(indices) == list(range(n)), "an installation has no outcome"
    assert after[:len(before)] == before, "a line recorded before the fault changed or was lost"
    assert read_lines(out / "record.jsonl")[-1]["kind"] == "end"
    return after


def test_a_fleet_over_mqtt_survives_a_broker_restart(tmp_path: Path) -> None:
    n = 2000
    broker = Mosquitto(tmp_path)
    port = broker.start()
    out = tmp_path / "fleet"
    process = _fleet(out, n, "--medium", "mqtt", "--broker", f"127.0.0.1:{port}",
                     "--workers", "2")
    try:
        before = _wait_for_lines(process, out, 200)
        assert len(before) < n, "the restart must land mid-run"
        broker.kill()
        time.sleep(1.0)
        broker.start(port)
        _, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
        broker.stop()
    assert process.returncode in (0, 1), err.decode()
    after = _one_outcome_each(out, n, before)
    assert all(line["outcome"] for line in after)
    # Shards the restart caught were sent again, and their lines say why.
    assert any("broker connection lost" in line.get("resent", "") for line in after[len(before):])


@pytest.mark.parametrize("pool", ["processes", "broker"])
def test_a_worker_killed_mid_shard_is_replaced_and_its_shard_run_once(
        tmp_path: Path, pool: str) -> None:
    n = 1200
    out = tmp_path / "fleet"
    broker = Mosquitto(tmp_path)
    extra = ("--broker", f"127.0.0.1:{broker.start()}") if pool == "broker" else ()
    process = _fleet(out, n, "--workers", "2", *extra)
    try:
        before = _wait_for_lines(process, out, 1)
        workers = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                                 text=True).stdout.split()
        # The pool's processes: the resource tracker is a child too, and is no worker.
        victims = [pid for pid in workers if "resource_tracker" not in Path(
            f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
        assert victims, "no worker process to kill"
        os.kill(int(victims[0]), signal.SIGKILL)
        _, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
        broker.stop()
    assert process.returncode in (0, 1), err.decode()
    after = _one_outcome_each(out, n, before)
    why = "worker process lost" if pool == "processes" else "lost; its shards sent again"
    assert any(why in line.get("resent", "") for line in after)


def test_a_pool_whose_idle_workers_died_runs_the_next_wave() -> None:
    """Killed between waves: the next wave still runs, with the same results."""
    import multiprocessing

    from s1bench.harness.fleet.run import ShardPool
    from s1bench.harness.fleet.work import run_shard

    pool = ShardPool(2)
    jobs = [([("itron-dormant", index)], 0, 0.0, "memory", {}) for index in range(3)]
    try:
        first = [lines for lines, _ in pool.imap(run_shard, jobs)]
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        # Until the executor has seen it (its private flag): a submit then fails at once,
        # the path a pool idle between waves takes.
        deadline = time.monotonic() + 30
        while not pool._executor._broken and time.monotonic() < deadline:
            time.sleep(0.01)
        second = list(pool.imap(run_shard, jobs))
    finally:
        pool.terminate()
    assert [lines for lines, _ in second] == first
    assert pool.rebuilt == 1


def test_a_fleet_over_a_broker_with_password_and_tls_keeps_the_password_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shards and HAN frames through a broker that wants a user, a password and TLS."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "emulator"))
    from test_medium_mqtt import write_test_pki

    ca, cert, key = write_test_pki(tmp_path)
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "fleet", "s3cret-pw"],
                   check=True, capture_output=True)
    passwords.chmod(0o600)
    broker = Mosquitto(tmp_path, anonymous=False, listener_config=(
        f"password_file {passwords}\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"))
    port = broker.start()
    env = {**os.environ, "S1BENCH_BROKER_PASSWORD": "s3cret-pw"}
    args = [sys.executable, "-m", "s1bench.harness.cli", "fleet", "-n", "20", "--mix",
            "itron-dormant=1", "--per-day", "20", "--quiet", "--medium", "mqtt",
            "--broker", f"127.0.0.1:{port}", "--workers", "2", "--broker-user", "fleet",
            "--broker-ca", str(ca)]
    try:
        good = subprocess.run([*args, "--out", str(tmp_path / "good")], env=env,
                              capture_output=True, timeout=300)
        bad = subprocess.run([*args, "--out", str(tmp_path / "bad")],
                             env={**env, "S1BENCH_BROKER_PASSWORD": "wrong-pw"},
                             capture_output=True, timeout=300)
    finally:
        broker.stop()
    assert good.returncode == 0, good.stderr.decode()
    assert sorted(line["i"] for line in _installations(tmp_path / "good")) == list(range(20))
    err = bad.stderr.decode()
    assert bad.returncode == 1 and f"127.0.0.1:{port}" in err and "Traceback" not in err
    assert "authori" in err.lower()
    for path in tmp_path.glob("good/**/*"):
        if path.is_file():
            assert b"s3cret-pw" not in path.read_bytes(), path
    assert b"s3cret-pw" not in good.stdout + good.stderr


def test_a_han_broker_nobody_runs_is_one_line_at_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The media wait for a broker that restarts, not for one that was never there."""
    from s1bench.harness.bench_mqtt import free_port
    from s1bench.harness.cli import main

    port = free_port()
    started = time.monotonic()
    assert main(["fleet", "-n", "2", "--per-day", "2", "--medium", "mqtt", "--broker",
                 f"127.0.0.1:{port}", "--out", str(tmp_path / "f"), "--quiet"]) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert f"cannot reach the MQTT broker at 127.0.0.1:{port}" in err and "Traceback" not in err
