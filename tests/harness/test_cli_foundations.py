"""The CLI as a new user meets it: terminal vs pipe, settings, schemas, guards on outputs."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from s1bench.harness.cli import main
from s1bench.harness.packs import builtin_pack_dir

from s1bench.filecheck import json_schema, schema_kinds

ROOT = Path(__file__).resolve().parents[2]
S1BENCH = [sys.executable, "-m", "s1bench.harness.cli"]
ESCAPE = re.compile(r"\x1b\[")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("S1BENCH_")}
    env.update(COLUMNS="80", TERM="xterm-256color", **extra)
    return env


# --------------------------------------------------------------------------- terminal and pipe


def test_run_through_a_pipe_has_no_escape_codes_and_no_progress(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*S1BENCH, "run", "standard-dormant-migration", "--dmc", "reference",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    assert not ESCAPE.search(proc.stdout) and not ESCAPE.search(proc.stderr)
    assert "━" not in proc.stderr, "no progress bar through a pipe"
    assert "reference" in proc.stdout and "report:" in proc.stdout


def _run_in_pty(argv: list[str], cwd: Path) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=_env(),
                            cwd=cwd, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_run_on_a_terminal_shows_the_progress_bar(tmp_path: Path) -> None:
    code, screen = _run_in_pty(
        [*S1BENCH, "run", "standard-dormant-migration", "--dmc", "reference",
         "--out", str(tmp_path / "run")], tmp_path)
    assert code in (0, 1), screen
    assert "━" in screen, "rich's bar is drawn on a terminal"
    counts = re.findall(r"(\d+)/(\d+)", screen)
    assert any(done == total != "0" for done, total in counts), f"the bar ends full: {counts}"
    assert "report:" in screen


def test_shell_completion_completes_subcommands(tmp_path: Path) -> None:
    env = _env(_S1BENCH_COMPLETE="complete_bash", COMP_WORDS="s1bench pro", COMP_CWORD="1")
    proc = subprocess.run([str(Path(sys.executable).with_name("s1bench"))],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0
    assert "profiles" in proc.stdout.split()


# --------------------------------------------------------------------------- schemas


def test_schema_pack_from_the_cli_validates_shipped_packs_and_rejects_unknown_steps(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "pack"]) == 0
    schema = json.loads(capsys.readouterr().out)
    validator = jsonschema.Draft202012Validator(schema)
    packs = sorted(builtin_pack_dir().glob("*.yaml"))
    assert packs
    for pack in packs:
        errors = list(validator.iter_errors(yaml.safe_load(pack.read_text())))
        assert not errors, f"{pack.name}: {errors[0].message}"
    broken = {"pack": "p", "title": "t",
              "tests": [{"name": "x", "steps": [{"frobnicate": True}]}]}
    assert list(validator.iter_errors(broken)), "an unknown step kind must not validate"


def test_committed_schemas_are_current() -> None:
    """schemas/ is what editors read: regenerate with `s1bench schema --all --out schemas`."""
    for name in schema_kinds():
        committed = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
        assert committed == json.loads(json.dumps(json_schema(name))), (
            f"schemas/{name}.schema.json is stale: run `s1bench schema --all --out schemas`")


def test_unknown_schema_kind_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "bench-of-nothing"]) == 2
    assert "known: " in capsys.readouterr().err


# --------------------------------------------------------------------------- settings


def test_config_show_names_the_source_of_each_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s1bench.toml").write_text('dmc = "aclara-ioc-dormant"\nlatency = 0.05\n')
    monkeypatch.setenv("S1BENCH_SEED", "7")
    monkeypatch.setenv("S1BENCH_LATENCY", "0.02")
    assert main(["config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["dmc"] == {"value": "aclara-ioc-dormant",
                            "source": f"{tmp_path / 's1bench.toml'}:1"}
    assert shown["seed"] == {"value": 7, "source": "S1BENCH_SEED"}
    assert shown["latency"] == {"value": 0.02, "source": "S1BENCH_LATENCY"}  # env beats file
    assert shown["loss"]["source"] == "default"


def test_command_line_beats_environment_beats_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s1bench.toml").write_text("seed = 1\n")
    monkeypatch.setenv("S1BENCH_SEED", "2")
    results = {}
    for args in ([], ["--seed", "3"]):
        assert main(["srv", "--srv", "4.1.1", "--json", *args]) == 0
        results[tuple(args)] = json.loads(capsys.readouterr().out)
    monkeypatch.delenv("S1BENCH_SEED")
    assert main(["srv", "--srv", "4.1.1", "--json", "--seed", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == results[()], "env seed 2 was used"
    assert results[("--seed", "3")] != results[()]


def test_a_broken_settings_file_is_bad_input_with_file_line_and_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s1bench.toml").write_text('dmc = "reference"\nloss = 2\ncolour = "red"\n')
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert "s1bench.toml:2: loss:" in err and "s1bench.toml:3: colour: unknown key" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- outputs


def test_run_refuses_to_overwrite_a_recorded_run_unless_forced(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["run", "standard-dormant-migration", "--dmc", "reference", "--out", str(out),
            "--quiet"]
    assert main([*args, "--capture"]) in (0, 1)
    record = (out / "record.jsonl").read_bytes()
    assert (out / "captures").is_dir()
    capsys.readouterr()
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "record.jsonl").read_bytes() == record, "nothing recorded is lost"
    assert main([*args, "--force"]) in (0, 1)
    assert not (out / "captures").exists(), "old captures do not mix with the new run"


def test_resume_refuses_options_that_contradict_the_record(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "standard-dormant-migration", "--dmc", "reference", "--seed", "4",
                 "--out", str(out), "--quiet"]) in (0, 1)
    capsys.readouterr()
    before = (out / "record.jsonl").read_bytes()
    code = main(["run", "--resume", str(out), "--dmc", "itron-dormant", "--seed", "5",
                 "--mitigations", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    for word in ("--dmc", "--seed 5", "--mitigations"):
        assert word in err
    assert (out / "record.jsonl").read_bytes() == before
    # The same options as recorded are fine.
    assert main(["run", "--resume", str(out), "--dmc", "reference", "--seed", "4",
                 "--quiet"]) in (0, 1)


@pytest.mark.parametrize("argv", [
    ["srv", "--srv", "4.1.1", "--capture", "{file}/x.pcap"],
    ["run", "standard-srv", "--dmc", "reference", "--out", "{file}/run"],
    ["duis", str(ROOT.parent / "shared" / "duis-templates" / "templates"
                 / "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML"),
     "--dmc", "reference", "--out", "{file}/duis"],
    ["reproduce", "110031", "--capture", "{file}/x.pcap"],
])
def test_an_output_path_under_a_file_is_one_line_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    assert main([arg.format(file=a_file) for arg in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a file, not a folder" in err, err


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs Wireshark's tshark")
def test_pcap_tshark_args_work_as_pasted_into_a_shell(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pcap = tmp_path / "join.pcap"
    assert main(["srv", "--device", "chf", "--srv", "8.11", "--param", "JoinTimePeriod=60",
                 "--capture", str(pcap)]) == 0
    capsys.readouterr()
    assert main(["pcap", "tshark-args", str(pcap)]) == 0
    assert "zigbee_pc_keys" in capsys.readouterr().out
    # The README's recipe, as a user pastes it into bash.
    recipe = 'eval "tshark -r \\"$PCAP\\" $($S1BENCH pcap tshark-args "$PCAP") -Y zbee_aps"'
    env = {**os.environ, "PCAP": str(pcap), "S1BENCH": shlex.join(S1BENCH)}
    proc = subprocess.run(["bash", "-c", recipe], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Invalid -o flag" not in proc.stderr
    assert "Transport Key" in proc.stdout or "APS" in proc.stdout


def test_demo_table_never_cuts_a_value_in_the_middle() -> None:
    from s1bench.harness.cli_common import ellipsise

    parts = ["ImportRegister=6831.877", "ImportRegisterUnit=kWh", "InstantaneousDemand=2024"]
    text = ellipsise(parts, 60)
    assert text.endswith("…")
    shown = [p for p in text.removesuffix(", …").split(", ")]
    assert all(p in parts for p in shown), "each shown value is whole"
    assert ellipsise(parts, 200) == ", ".join(parts)
