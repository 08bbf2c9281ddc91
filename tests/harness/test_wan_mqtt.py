"""The head-end WAN over a real mosquitto: `s1bench serve --wan` and `s1bench hubs` apart.

The end-to-end test runs the DCC side and the installations as two processes
that share nothing but a broker, posts DUIS templates to the DCC side, and
requires the same response codes, request by request, as the same site served
in one process. Then the hubs' process is stopped: a request still gets a
schema-valid DUIS answer (the head-end's WAN timeout), not a hang.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from s1bench.emulator.credentials import Authorisation
from s1bench.emulator.headend import Alert, Command, DeviceOutcome, OutcomeStatus
from s1bench.emulator.wan_mqtt import (
    ALERT,
    COMMAND,
    OUTCOME,
    decode_batch,
    encode_batch,
    encode_record,
    parse_url,
)
from s1bench.harness.bench_mqtt import find_mosquitto, mosquitto_broker
from s1bench.harness.cli import main
from s1bench.harness.duis_xml import validate
from test_serve import (
    ENDPOINT,
    TEMPLATES,
    Receiver,
    Served,
    _code,
    _cv,
    _free_port,
    _future_dated,
    _request_id,
    _request_id_in,
    _wait_for,
)


def test_records_come_back_as_they_went() -> None:
    when = datetime(2026, 11, 25, 1, 2, 3, tzinfo=UTC)
    command = Command("update_credential", "00-DB-12-34-56-78-90-A0",
                      {"RemotePartyRole": "ACB", "Blob": b"\x00\x01", "At": when,
                       "On": when.date(), "Pair": (1, "x"), "List": [(2, 3)]}, ref="r1",
                      authorisation=Authorisation("ACB", 7, bytes(range(64))))
    outcome = DeviceOutcome(OutcomeStatus.REFUSED, {"Readings": [1, 2]}, "no", 0x87, when)
    alert = Alert("8F84", "00-DB-12-34-56-78-90-A0", when, "detail")
    batch = encode_batch([encode_record(COMMAND, 7, command), encode_record(OUTCOME, 7, outcome),
                          encode_record(ALERT, 1, alert)])
    assert decode_batch(batch) == [(COMMAND, 7, command), (OUTCOME, 7, outcome),
                                   (ALERT, 1, alert)]


@pytest.mark.parametrize("payload, words", [
    (b"", "version missing"), (b"\x09", "version 09"),
    (b"\x01\x05\x00", "cut short at byte 1"),
    (b"\x01\xff\x00\x00\x00\x01{}", "claims 255 bytes"),
])
def test_a_bad_batch_names_what_is_wrong(payload: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        decode_batch(payload)


def test_wan_urls() -> None:
    assert parse_url("mqtt://127.0.0.1:1999/lab") == {"host": "127.0.0.1", "port": 1999,
                                                      "site": "lab"}
    assert parse_url("mqtts://u:p%40ss@broker/x?ca=/tmp/ca.pem") == {
        "host": "broker", "port": 8883, "site": "x", "username": "u", "password": "p@ss",
        "ca_file": "/tmp/ca.pem"}
    for bad in ("http://x", "mqtt://", "mqtts://broker", "mqtt://h:99999"):
        with pytest.raises(ValueError):
            parse_url(bad)


# ----------------------------------------------------------------- two processes ---

@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed; run `make system-deps`", pytrace=False)
    with mosquitto_broker(tmp_path) as port:
        yield port


class Hubs:
    def __init__(self, site: Path, url: str, log: Path) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "s1bench.harness.cli", "hubs", "--site", str(site),
             "--wan", url, "--speed", "30"], stdout=self._out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self) -> None:
        _wait_for(lambda: "ready" in self.output() or self.proc.poll() is not None, 60,
                  "s1bench hubs")
        assert self.proc.poll() is None, self.output()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(timeout=20)
        self._out.close()
        return code


def _post_all(served: Served, templates: list[Path]) -> list[tuple[str, str | None]]:
    """(RequestID, synchronous response code) per template, in the order sent.

    The templates reuse RequestIDs, so a RequestID may come more than once.
    """
    codes = []
    with httpx.Client(timeout=60) as client:
        for path in templates:
            body = path.read_bytes()
            answer = client.post(f"{served.base}/{ENDPOINT[_cv(body)]}", content=body,
                                 headers={"Content-Type": "application/xml"})
            assert answer.status_code == 200 and validate(answer.content) == [], path.name
            code = _code(answer.content)
            if code == "I99" and _future_dated(body, datetime.now(UTC)):
                code = "I99 future-dated"  # its outcome comes in years
            codes.append((_request_id_in(body), code))
    return codes


def _outcomes(receiver: Receiver, sent: list[tuple[str, str | None]],
              timeout: float = 60) -> Counter[tuple[str, str | None]]:
    """(RequestID, response code) of every posted outcome, once each I99 has its outcome."""
    expected = Counter(rid for rid, code in sent if code == "I99")

    def got() -> Counter[tuple[str, str | None]]:
        return Counter((rid, _code(xml)) for xml in receiver.snapshot()
                       if (rid := _request_id(xml)) in expected)

    _wait_for(lambda: Counter(rid for rid, _ in got().elements()) == expected, timeout,
              "the posted outcomes")
    return got()


def test_dcc_and_hubs_in_two_processes_answer_as_one(tmp_path: Path, broker: int) -> None:
    receiver = Receiver(_free_port())
    receiver.start()
    site = tmp_path / "site.yaml"
    assert main(["site", "from-templates", str(TEMPLATES), "--out", str(site),
                 "--receive-url", receiver.url]) == 0
    # Device-addressed requests (send command, transform) to the hubs and meters: what the
    # PPMID and IHD answer depends on when, in real time, they joined at start.
    meters = {eui.encode() for entry in yaml.safe_load(site.read_text())["installations"]
              for kind, eui in entry["devices"].items() if kind in ("CHF", "ESME", "GSME")}
    templates = [p for p in sorted(TEMPLATES.iterdir()) if p.suffix.lower() == ".xml"
                 and ENDPOINT[_cv(p.read_bytes())] != "serviceD"
                 and _request_id_in(p.read_bytes()).split(":")[1].encode() in meters][:50]
    url = f"mqtt://127.0.0.1:{broker}/wan-test"
    hubs = Hubs(site, url, tmp_path / "hubs.log")
    try:
        hubs.wait_ready()
        remote = Served(site, tmp_path / "remote", tmp_path / "remote.log", "--wan", url)
        try:
            remote.wait_ready()
            assert "head-end WAN: MQTT broker" in remote.output()
            sent = _post_all(remote, templates)
            over_wan = _outcomes(receiver, sent)
        finally:
            assert remote.stop() == 0, remote.output()
    finally:
        assert hubs.stop() == 0, hubs.output()
    carried = re.search(r"stopped: (\d+) head-end command", hubs.output())
    assert carried and int(carried.group(1)) >= over_wan.total(), hubs.output()

    receiver.documents.clear()
    local = Served(site, tmp_path / "local", tmp_path / "local.log")
    try:
        local.wait_ready()
        sent_local = _post_all(local, templates)
        in_process = _outcomes(receiver, sent_local)
    finally:
        local.stop()
        receiver.stop()
    assert sent == sent_local
    assert over_wan == in_process
    assert sum(n for (_, code), n in over_wan.items() if code == "I0") > 20


def test_a_dead_wan_is_an_answer_not_a_hang(tmp_path: Path, broker: int) -> None:
    """The hubs' process is gone: the S1SP's command times out into a DUIS answer."""
    receiver = Receiver(_free_port())
    receiver.start()
    site = tmp_path / "site.yaml"
    assert main(["site", "from-templates", str(TEMPLATES), "--out", str(site),
                 "--receive-url", receiver.url]) == 0
    text = site.read_text().replace("join_at_start: true", "join_at_start: false")
    site.write_text(text)
    read = next(p for p in sorted(TEMPLATES.iterdir())
                if p.suffix.lower() == ".xml" and b"<sr:ServiceReferenceVariant>4.1.1<"
                in p.read_bytes())
    served = Served(site, tmp_path / "state", tmp_path / "serve.log", "--wan",
                    f"mqtt://127.0.0.1:{broker}/nobody")
    try:
        served.wait_ready()
        started = time.monotonic()
        sent = _post_all(served, [read])
        assert [code for _, code in sent] == ["I99"]
        outcome = _outcomes(receiver, sent, timeout=30)
        assert time.monotonic() - started < 30
    finally:
        served.stop()
        receiver.stop()
    xml = next(x for x in receiver.snapshot() if _request_id(x) == sent[0][0])
    assert validate(xml) == []
    [(_, code)] = outcome
    assert code is not None and code.startswith("E"), outcome
