"""The bench file as an engineer writes it: the shipped example loads, and each mistake
is named with its file, line and key before any port is opened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s1bench.emulator import mmo
from s1bench.harness.cli import main
from s1bench.hil.bench import BenchError, builtin_bench_dir, load_bench

GOOD = """\
dmc: itron-dormant
dongle:
  port: socket://127.0.0.1:1
devices:
  - type: esme
    eui: 00-db-12-00-00-00-00-01
    install_code: 83FE D340 7A93 9723 A5C6 39B2 6916 D505 C3B5
    manufacturer: Itron
    model: ITR-E1
    firmware: "2.1.0"
"""


def write(tmp_path: Path, text: str, name: str = "bench.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_example_loads_by_name() -> None:
    bench = load_bench("example-znp")
    assert bench.dongle.port == "socket://127.0.0.1:6638" and bench.dongle.is_socket
    assert bench.dmc == "reference"
    assert [d.type for d in bench.devices] == ["ESME", "GSME"]
    for device in bench.devices:
        mmo.check_install_code(device.install_code)  # what the trust centre will check
    assert (builtin_bench_dir() / "example-znp.yaml").is_file()


def test_a_good_file_is_normalised_and_defaults_filled(tmp_path: Path) -> None:
    bench = load_bench(write(tmp_path, GOOD, "lab-3.yaml"))
    assert bench.id == "lab-3"
    assert bench.dongle.radio == "znp" and bench.dongle.baudrate == 115200
    device = bench.device("ESME")
    assert device.eui == "00-DB-12-00-00-00-00-01"
    # The ZigBee application note's install code: its link key is the known test vector.
    assert mmo.link_key_from_install_code(device.install_code).hex().upper() \
        == "66B6900981E1EE3CA4206B6B861C02BB"
    assert device.line == 5


def test_every_fault_is_reported_at_once_with_line_and_key(tmp_path: Path) -> None:
    text = """\
dmc: itron-dormantt
dongle:
  radio: zstack
  port: /dev/ttyUSB0
devices:
  - type: ESME
    eui: 00:db:12:00:00:00:00:01
    install_code: 83FE D340 7A93 9723 A5C6 39B2 6916 D505 C3B6
    manufacturer: Itron
    model: ITR-E1
    firmware: 2.10
  - type: CHF
    eui: 00-DB-12-00-00-00-00-00
    install_code: 83FED3
    manufacturer: Itron
    model: ITR-CH1
    firmware: "2.1.0"
    colour: red
"""
    with pytest.raises(BenchError) as caught:
        load_bench(write(tmp_path, text))
    found = {(p.line, p.key): p.reason for p in caught.value.problems}
    assert "unknown DMC 'itron-dormantt'" in found[(1, "dmc")]
    assert "'zstack' is not one of znp, ezsp" in found[(3, "dongle.radio")]
    assert "00-DB-12-00-00-00-00-01" in found[(7, "devices[0].eui")]  # the DUIS spelling
    assert "CRC does not match" in found[(8, "devices[0].install_code")]
    assert "put it in quotes" in found[(11, "devices[0].firmware")]  # 2.10 read as 2.1
    assert "emulated hub" in found[(12, "devices[1].type")]
    assert "3 bytes" in found[(14, "devices[1].install_code")]
    assert "unknown key" in found[(18, "devices[1].colour")]
    assert len(found) == 8


def test_devices_must_fit_the_dmc_once_each(tmp_path: Path) -> None:
    text = GOOD + """\
  - type: PPMID
    eui: 00-DB-12-00-00-00-00-01
    install_code: 83FED3407A939723A5C639B26916D505C3B5
    manufacturer: Itron
    model: P
    firmware: "1.0.0"
  - type: ESME
    eui: 00-DB-12-00-00-00-00-09
    install_code: 83FED3407A939723A5C639B26916D505C3B5
    manufacturer: Itron
    model: ITR-E1
    firmware: "2.1.0"
"""
    with pytest.raises(BenchError) as caught:
        load_bench(write(tmp_path, text))
    reasons = [(p.line, p.reason) for p in caught.value.problems]
    assert (11, "DMC itron-dormant has no PPMID (its devices: ESME, GSME)") in reasons
    assert any(line == 12 and "also devices[0]'s EUI-64" in r for line, r in reasons)
    assert any(line == 17 and "a second ESME" in r for line, r in reasons)


def test_bench_check_refuses_a_broken_file_with_exit_2(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD.replace("C3B5", "C3B4"))
    assert main(["bench", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:7: devices[0].install_code: install code CRC does not match" in err
    assert main(["bench", "check", str(tmp_path / "nowhere.yaml")]) == 2
    assert "no such bench file or shipped bench (shipped: example-znp" in capsys.readouterr().err


def test_schema_bench_is_exported_for_editors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "bench"]) == 0
    schema = json.loads(capsys.readouterr().out)
    device = schema["$defs"]["BenchDeviceFile"]
    assert device["properties"]["type"]["enum"] == ["ESME", "GSME", "PPMID", "IHD"]
    assert "reference" in schema["properties"]["dmc"]["enum"]
    assert set(schema["required"]) == {"dmc", "dongle", "devices"}
    committed = Path(__file__).parents[2] / "schemas" / "bench.schema.json"
    assert json.loads(committed.read_text()) == schema, \
        "schemas/ is stale: s1bench schema --all --out schemas"
