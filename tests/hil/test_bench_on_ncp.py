"""A bench end to end without hardware: unmodified zigpy-znp on s1bench's emulated NCP.

The NCP serves itron-active's devices, whose GSME firmware carries 91333 (SRV 6.7 once
per day); the bench file says the devices form itron-dormant, whose GSME does not. A
differential run must report that one difference and nothing else, and a bench run of
the reads must pass through the dongle as it does on the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hil_helpers import running_ncp
from s1bench.harness.cli import main

pytest.importorskip("s1bench.hil.radio")
pytest_plugins = ["pytester"]

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
      - srv: "4.1.1"
        device: GSME
        expect: {response_code: I0}
"""


def bench_for(served_dmc: str, claimed_dmc: str, port: int, path: Path) -> Path:
    """A bench file for the devices an NCP of ``served_dmc`` emulates, claiming ``claimed_dmc``.

    The EUIs and install codes are the NCP's (its installation of seed 0, index 0); the
    models and firmware are what the claimed DMC says, as an engineer would copy them.
    """
    from s1bench.emulator.clock import WallClock
    from s1bench.harness.builder import resolve_dmc
    from s1bench.hil.ncp.server import ncp_installation

    served = ncp_installation(resolve_dmc(served_dmc), WallClock())
    claimed = resolve_dmc(claimed_dmc)
    devices = []
    for eui, label in served.labels.items():
        if label.device_type == "CHF":
            continue
        info = claimed.devices[label.device_type]
        devices.append({"type": label.device_type, "eui": eui,
                        "install_code": label.install_code.hex().upper(),
                        "manufacturer": info.manufacturer, "model": info.model,
                        "firmware": info.firmware_version})
    path.write_text(json.dumps({  # JSON is YAML
        "dmc": claimed_dmc, "join_timeout_s": 30,
        "dongle": {"radio": "znp", "port": f"socket://127.0.0.1:{port}"},
        "devices": devices}))
    return path


def test_diff_against_the_ncp_reports_exactly_the_quirk(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pack.yaml").write_text(PACK)
    with running_ncp("itron-active") as port:
        bench = bench_for("itron-active", "itron-dormant", port, tmp_path / "bench.yaml")
        code = main(["diff", "--bench", str(bench), str(tmp_path / "pack.yaml"),
                     "--out", str(tmp_path / "diff"), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1
    assert {(d["test"], d["index"]) for d in result["differences"]} == {
        ("gas flow set twice", 2)}
    assert {d["aspect"]: (d["left"], d["right"]) for d in result["differences"]}[
        "device_success"] == ("true", "false")
    assert result["tests_compared"] == 2 and result["steps_compared"] == 5
    head = json.loads((tmp_path / "diff" / "bench" / "record.jsonl").read_text()
                      .splitlines()[0])
    assert head["target"]["kind"] == "bench"
    assert head["target"]["port"] == f"socket://127.0.0.1:{port}"


def test_bench_check_shows_the_firmware_the_bench_file_got_wrong(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with running_ncp("itron-active") as port:
        bench = bench_for("itron-active", "itron-dormant", port, tmp_path / "bench.yaml")
        assert main(["bench", "check", str(bench), "--json"]) == 0  # all answered
    report = json.loads(capsys.readouterr().out)
    by_type = {d["device_type"]: d for d in report["devices"]}
    assert by_type["ESME"]["matches_bench_file"]
    assert by_type["GSME"]["mismatches"] == ["firmware '2.2.0', bench file says '2.1.0'"]


def test_pytest_s1_bench_runs_an_engineers_test_through_the_dongle(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile("""
        def test_register_read(s1bench, dmc):
            async def body(dcc):
                return await dcc.send("4.1.1", "ESME")
            assert s1bench.on_bench and dmc == "reference"
            response = s1bench.run(body)
            assert response.response_code == "I0", response.reason
            assert response.body["ImportRegister"] > 0

        def test_again_on_the_same_link(s1bench):
            async def body(dcc):
                return await dcc.send("4.1.1", "GSME")
            assert s1bench.run(body).response_code == "I0"
    """)
    with running_ncp("reference") as port:
        bench = bench_for("reference", "reference", port, tmp_path / "bench.yaml")
        result = pytester.runpytest(f"--s1-bench={bench}")
    result.assert_outcomes(passed=2)
