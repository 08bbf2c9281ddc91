"""`s1bench bench check` as an engineer at a bench sees it: a missing or refused port is
one line naming it (exit 2); a bench that comes up lists who answered (exit 0), and a
device that never joins, or reports other firmware than the file says, is shown (exit 1)."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hil_helpers import free_port
from s1bench.harness.cli import main
from s1bench.hil import check as check_mod
from s1bench.hil.bench import load_bench
from s1bench.hil.ports import PortError, check_port

BENCH = """\
bench: desk-2
dmc: itron-dormant
dongle:
  radio: znp
  port: {port}
join_timeout_s: 0.5
devices:
  - type: ESME
    eui: 00-DB-12-00-00-00-00-01
    install_code: 83FED3407A939723A5C639B26916D505C3B5
    manufacturer: Itron
    model: ITR-E1
    firmware: "2.1.0"
  - type: GSME
    eui: 00-DB-12-00-00-00-00-02
    install_code: 83FED3407A939723A5C639B26916D505C3B5
    manufacturer: Itron
    model: ITR-G1
    firmware: "2.1.0"
"""


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port that accepts (and drops) connections: a dongle behind ser2net, as far
    as opening the port goes."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        server.close()


class FakeLink:
    """Stands in for s1bench.hil.radio's link: devices join when permitted, if present."""

    def __init__(self, present: dict[str, dict[str, Any]]) -> None:
        self.present = present
        self.joined: dict[str, int] = {}
        self.permitted: list[tuple[str, bytes, int]] = []
        self.formed = self.closed = False

    async def form_or_resume(self) -> None:
        self.formed = True

    async def permit_install_code(self, eui: str, install_code: bytes, seconds: int) -> None:
        self.permitted.append((eui, install_code, seconds))
        if eui in self.present:
            self.joined[eui] = 0x0100 + len(self.joined)

    def devices(self) -> list[tuple[str, int]]:
        # zigpy spells EUI-64s with colons, lower case: the check must not care.
        return [(eui.replace("-", ":").lower(), short) for eui, short in self.joined.items()]

    async def read_basic(self, eui: str) -> dict[str, Any]:
        return self.present[eui]

    async def close(self) -> None:
        self.closed = True


def bench_file(tmp_path: Path, port: str) -> Path:
    path = tmp_path / "desk-2.yaml"
    path.write_text(BENCH.format(port=port))
    return path


def test_a_missing_serial_port_is_named_with_the_ports_present(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("s1bench.hil.ports.present_serial_ports",
                        lambda: ["/dev/ttyACM0 (Sonoff Zigbee 3.0 USB Dongle Plus)"])
    path = bench_file(tmp_path, str(tmp_path / "ttyUSB7"))
    assert main(["bench", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{tmp_path / 'ttyUSB7'}: no such serial port" in err
    assert "serial ports present: /dev/ttyACM0 (Sonoff Zigbee 3.0 USB Dongle Plus)" in err


def test_a_refused_tcp_port_is_named(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    port = f"socket://127.0.0.1:{free_port()}"
    assert main(["bench", "check", str(bench_file(tmp_path, port))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{port}: connection refused" in err and "s1bench ncp" in err


def test_a_port_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(PortError, match="expected socket://HOST:PORT"):
        check_port("socket://127.0.0.1")


def test_every_device_answering_lists_them_and_exits_0(
        tmp_path: Path, listener: int, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    link = FakeLink({
        "00-DB-12-00-00-00-00-01": {"manufacturer": "Itron", "model": "ITR-E1",
                                    "firmware": "2.1.0"},
        "00-DB-12-00-00-00-00-02": {"manufacturer_name": b"Itron\x00",
                                    "model_identifier": "ITR-G1", "sw_build_id": "2.1.0"},
    })

    async def opener(bench: Any) -> FakeLink:
        return link

    monkeypatch.setattr(check_mod, "open_bench_radio", opener)
    path = bench_file(tmp_path, f"socket://127.0.0.1:{listener}")
    assert main(["bench", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 device(s) answered" in out
    for line in ("00-DB-12-00-00-00-00-01  ESME  answered  Itron         ITR-E1",
                 "00-DB-12-00-00-00-00-02  GSME  answered  Itron         ITR-G1"):
        assert line in out
    assert link.formed and link.closed
    assert [(eui, seconds) for eui, _, seconds in link.permitted] == [
        ("00-DB-12-00-00-00-00-01", 1), ("00-DB-12-00-00-00-00-02", 1)]
    assert link.permitted[0][1] == bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")


def test_a_silent_device_and_a_firmware_mismatch_are_shown_and_exit_1(
        tmp_path: Path, listener: int, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    link = FakeLink({"00-DB-12-00-00-00-00-01": {"manufacturer": "Itron", "model": "ITR-E1",
                                                 "firmware": "2.2.0"}})

    async def opener(bench: Any) -> FakeLink:
        return link

    monkeypatch.setattr(check_mod, "open_bench_radio", opener)
    path = bench_file(tmp_path, f"socket://127.0.0.1:{listener}")
    assert main(["bench", "check", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    esme, gsme = report["devices"]
    assert esme["answered"] and not esme["matches_bench_file"]
    assert esme["mismatches"] == ["firmware '2.2.0', bench file says '2.1.0'"]
    assert not gsme["joined"] and not gsme["answered"]
    assert gsme["status"] == "not joined: did not join within 0.5 s"
    assert report["answered"] == 1


def test_a_dongle_that_fails_under_the_check_is_exit_2_naming_the_port(
        tmp_path: Path, listener: int, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def opener(bench: Any) -> FakeLink:
        raise ConnectionResetError("connection lost")

    monkeypatch.setattr(check_mod, "open_bench_radio", opener)
    port = f"socket://127.0.0.1:{listener}"
    assert main(["bench", "check", str(bench_file(tmp_path, port))]) == 2
    err = capsys.readouterr().err
    assert f"{port}: the radio link failed: ConnectionResetError: connection lost" in err


def test_without_the_radio_link_the_check_says_what_to_install(
        tmp_path: Path, listener: int, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s1bench.hil.radio", None)
    path = bench_file(tmp_path, f"socket://127.0.0.1:{listener}")
    assert main(["bench", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bench runs need the hil extra / radio link" in err and "[hil]" in err


def test_the_example_bench_against_the_emulated_ncp(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Unmodified zigpy-znp on s1bench's emulated Z-Stack NCP: the meters join and answer."""
    pytest.importorskip("s1bench.hil.radio")
    from hil_helpers import running_ncp

    with running_ncp("reference") as port:
        text = Path(load_bench("example-znp").file).read_text()
        path = tmp_path / "ncp.yaml"
        path.write_text(text.replace("socket://127.0.0.1:6638", f"socket://127.0.0.1:{port}"))
        assert main(["bench", "check", str(path), "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 device(s) answered" in out
    assert "00-DB-12-00-00-00-00-01  ESME  answered  s1bench" in out
