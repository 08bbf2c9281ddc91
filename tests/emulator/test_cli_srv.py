"""`s1bench srv`: one Service Request from the command line, exit codes, capture, logs."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest
from s1bench.emulator import logs
from s1bench.emulator.capture import read_key_file
from s1bench.emulator.clock import VirtualClock
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.cli import main


@pytest.fixture(autouse=True)
def reset_logging():
    """main() points structlog at pytest's captured stderr; undo that after each test."""
    yield
    logs.configure("warning", stream=sys.__stderr__)


def srv(*args: str) -> list[str]:
    return ["srv", "--dmc", "reference", *args]


def test_read_registers_as_json(capsys) -> None:
    code = main(srv("--device", "esme", "--srv", "4.1.1", "--json"))
    out = capsys.readouterr().out
    result = json.loads(out)
    assert code == 0
    assert result["response_code"] == "I0"
    assert result["srv"] == "4.1.1"
    assert isinstance(result["body"]["ImportRegister"], int | float)
    assert not isinstance(result["body"]["ImportRegister"], bool)
    assert result["body"]["ImportRegister"] > 0
    orig, target, counter = result["request_id"].split(":")
    assert result["response_id"] == f"{target}:{orig}:{counter}"


def test_text_output_names_the_code_and_body(capsys) -> None:
    assert main(srv("--device", "esme", "--srv", "7.4")) == 0
    out = capsys.readouterr().out
    assert "7.4" in out and "I0" in out and "SupplyStatus" in out


def test_same_seed_same_output_different_seed_different_output(capsys) -> None:
    def run(seed: str) -> dict:
        assert main(srv("--device", "esme", "--srv", "4.1.1", "--json", "--seed", seed)) == 0
        return json.loads(capsys.readouterr().out)

    a, b, c = run("3"), run("3"), run("4")
    assert a == b
    assert a["body"] != c["body"]


def test_unknown_device_type_exits_2_with_a_message(capsys) -> None:
    code = main(srv("--device", "toaster", "--srv", "4.1.1"))
    err = capsys.readouterr().err
    assert code == 2
    assert "toaster" in err and "esme" in err


def test_unknown_dmc_exits_2_naming_it(capsys) -> None:
    code = main(["srv", "--dmc", "no-such-dmc", "--srv", "4.1.1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-dmc" in err


def test_malformed_param_is_a_usage_error(capsys) -> None:
    assert main(srv("--device", "esme", "--srv", "2.2", "--param", "UTRN")) == 2
    err = capsys.readouterr().err
    assert "NAME=VALUE" in err and "--param" in err
    assert len(err.strip().splitlines()) == 1, "one line, no usage dump, no traceback"


def test_rejected_request_exits_1(capsys) -> None:
    code = main(srv("--device", "gsme", "--srv", "6.5", "--json"))
    result = json.loads(capsys.readouterr().out)
    assert code == 1
    assert result["response_code"] == "E11"
    assert "GSME" in result["reason"]


def test_bad_parameter_value_is_bad_input_naming_it(capsys) -> None:
    code = main(srv("--device", "esme", "--srv", "2.2", "--param", "UTRN=123", "--json"))
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "UTRN=123" in captured.err and "fewer than" in captured.err


@pytest.mark.parametrize(("param", "words"), [
    ("JoinTimePeriod=banana", ["JoinTimePeriod=banana", "'banana' is not a whole number"]),
    ("JoinTimePeriodd=5", ["JoinTimePeriodd", "its parameters:", "JoinTimePeriod", "DeviceID"]),
])
def test_misspelt_or_bad_param_exits_2_naming_it_and_the_known_ones(capsys, param, words):
    code = main(srv("--device", "chf", "--srv", "8.11", "--param", param))
    err = capsys.readouterr().err
    assert code == 2
    for word in words:
        assert word in err
    assert "invalid literal" not in err and "Traceback" not in err


def test_a_value_the_device_refuses_is_a_device_refusal_not_bad_input(capsys) -> None:
    # Within the DCC's ranges but refused by the hub's firmware (91342): the DCC delivered
    # it (I0) and the hub said no (MessageSuccess false); exit 1, not bad input.
    code = main(["srv", "--dmc", "honeywell-elster-dormant", "--device", "chf", "--srv", "8.11",
                 "--param", "JoinTimePeriod=300", "--param", "DeviceID=00-DB-12-34-56-78-90-A4",
                 "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["response_code"] == "I0"
    assert result["device_success"] is False and "255" in result["reason"]


def test_capture_writes_a_pcap_and_key_file(tmp_path: Path, capsys) -> None:
    pcap = tmp_path / "sub" / "run.pcap"
    assert main(srv("--device", "esme", "--srv", "4.1.1", "--capture", str(pcap))) == 0
    capsys.readouterr()
    data = pcap.read_bytes()
    magic, _major, _minor, _tz, _sig, _snap, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4
    assert linktype == 195  # IEEE 802.15.4 with FCS
    assert len(data) > 24 + 2 * 16  # at least the request and the answer
    keys = read_key_file(Path(str(pcap) + ".keys"))
    labels = [label for _, label in keys]
    assert any("network key" in label for label in labels)
    assert all(len(bytes.fromhex(key)) == 16 for key, _ in keys)


def _secrets(seed: int = 0) -> list[str]:
    """Install codes of the CLI's installation (labels), rebuilt the way the CLI builds it."""
    clock = VirtualClock()

    async def labels() -> list[bytes]:
        inst = build_installation(resolve_dmc("reference"), clock, seed=seed)
        return [label.install_code for label in inst.labels.values() if label.install_code]

    return [code.hex() for code in clock.run(labels())]


@pytest.mark.parametrize("args", [
    ("--device", "chf", "--srv", "8.11"),
    ("--device", "chf", "--srv", "8.11", "--param", "JoinTimePeriod=600"),
    ("--device", "chf", "--srv", "8.11", "--param",
     "InstallCode=83FED3407A939723A5C639B26916D505C3B6"),
    ("--device", "esme", "--srv", "6.15.1"),
    ("--device", "esme", "--srv", "8.7.1"),
])
def test_no_key_material_in_any_log_line(tmp_path: Path, capsys, args) -> None:
    pcap = tmp_path / "keys.pcap"
    main(["--log-level", "debug", "--log-json", "srv", "--dmc", "reference", *args,
          "--capture", str(pcap)])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("{")]
    assert lines, "expected JSON log lines on stderr at debug level"
    for line in lines:
        json.loads(line)
    keys = [key for key, _ in read_key_file(Path(str(pcap) + ".keys"))]
    secrets = keys + _secrets() + ["83FED3407A939723A5C639B26916D505C3B6"]
    assert len(keys) >= 3 and len(secrets) >= 5
    everything = (captured.err + captured.out).lower()
    for secret in secrets:
        assert secret.lower() not in everything, "key material leaked into the output"
        # Also not byte-reversed (keys travel little-endian in some places).
        assert bytes.fromhex(secret)[::-1].hex() not in everything
