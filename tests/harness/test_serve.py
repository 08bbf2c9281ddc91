"""`s1bench serve`: DUIS over HTTP in DCC Boxed's shape, with outcomes posted and never lost.

The acceptance test starts the real command in a subprocess on a free port,
with a receiver on another, and sends all 297 DUIS templates with httpx,
unchanged (the site from `s1bench site from-templates` adopts their ids and
checks replays per request, because the templates reuse counters). The
receiver is stopped for a while in the middle; every outcome must still
arrive. Smaller in-process tests cover what the templates cannot: signature
checks, strict counters, the site file's errors, and an outbox that outlives
its process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from s1bench.harness.cli import main
from s1bench.harness.dcc.signing import DS_NS, EXC_C14N, verify
from s1bench.harness.duis_xml import RESPONSE_CODES, SR_NS, validate

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("S1BENCH_SHARED") or ROOT.parent / "shared")
TEMPLATES = SHARED / "duis-templates" / "templates"

pytestmark = pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")

#: DUIS's web service per command variant (the endpoint a template is posted to).
ENDPOINT = {1: "serviceS", 3: "serviceS", 5: "serviceS", 7: "serviceS", 4: "serviceT",
            2: "serviceD", 6: "serviceD", 8: "serviceD"}
SPEED = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _text(xml: bytes, path: str) -> str | None:
    root = etree.fromstring(xml)
    return root.findtext(path, namespaces={"sr": SR_NS})


def _request_id_in(request: bytes) -> str:
    found = re.search(rb"<(?:\w+:)?RequestID>([^<]+)<", request)
    assert found, request[:300]
    return found.group(1).decode().strip()


def _cv(xml: bytes) -> int:
    found = re.search(rb"<(?:\w+:)?CommandVariant>(\d+)<", xml)
    assert found, xml[:300]
    return int(found.group(1))


def _code(xml: bytes) -> str | None:
    return _text(xml, "sr:Header/sr:ResponseCode")


def _request_id(xml: bytes) -> str | None:
    return _text(xml, "sr:Header/sr:RequestID")


class Receiver:
    """A user's Receive Response endpoint that can be switched off and on again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/receive"
        self.documents: list[bytes] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        received, lock = self.documents, self._lock

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    received.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> list[bytes]:
        with self._lock:
            return list(self.documents)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(_free_port())
    found.start()
    yield found
    found.stop()


class Served:
    """`s1bench serve` in a subprocess; its output goes to a file the test can read."""

    def __init__(self, site: Path, state: Path, log: Path, *extra: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.state = state
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "s1bench.harness.cli", "serve", "--site", str(site),
             "--port", str(self.port), "--state", str(state), "--speed", str(SPEED),
             "--retry-max", "0.5", *extra],
            stdout=self._out, stderr=subprocess.STDOUT, cwd=state.parent)

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "ready:" not in self.output():
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._out.close()
        return code


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _future_dated(xml: bytes, now: datetime) -> bool:
    """Dated after now, and not the 3000-12-31 cancellation: its outcome comes years later."""
    found = re.search(rb"<(?:\w+:)?ExecutionDateTime>([^<]+)<", xml)
    if not found:
        return False
    when = datetime.fromisoformat(found.group(1).decode().replace("Z", "+00:00"))
    return now < when and when.year < 3000


# --------------------------------------------------------------------------- acceptance


def test_all_templates_over_http_and_no_outcome_lost(tmp_path: Path, receiver: Receiver) -> None:
    site = tmp_path / "site.yaml"
    assert main(["site", "from-templates", str(TEMPLATES), "--out", str(site),
                 "--receive-url", receiver.url]) == 0
    served = Served(site, tmp_path / "state", tmp_path / "serve.log")
    try:
        served.wait_ready()
        # Non-device requests last: among them are 8.3 (decommission) and 8.14.3 (hub
        # returned), after which the DSP answers E5 for the devices they name.
        templates = sorted((p for p in TEMPLATES.iterdir() if p.suffix.lower() == ".xml"),
                           key=lambda p: (ENDPOINT[_cv(p.read_bytes())] == "serviceD", p.name))
        assert len(templates) == 297
        answers: list[tuple[Path, bytes, httpx.Response]] = []
        half = len(templates) // 2
        with httpx.Client(timeout=30) as client:
            def post(endpoint: str, body: bytes) -> httpx.Response:
                return client.post(f"{served.base}/{endpoint}", content=body,
                                   headers={"Content-Type": "application/xml"})

            for n, path in enumerate(templates):
                if n == half:
                    # The receiver goes down; everything from here on must wait on disk.
                    receiver.stop()
                body = path.read_bytes()
                answers.append((path, body, post(ENDPOINT[_cv(body)], body)))
            _wait_for(lambda: "cannot deliver" in served.output(), 20,
                      "a failed delivery while the receiver is down")
            time.sleep(1.0)
            receiver.start()

            # Bad input is a DUIS answer too: garbage, schema-invalid, wrong endpoint, replay.
            first_ok = next(body for _, body, answer in answers if _code(answer.content) == "I99")
            bad = {
                "garbage": post("serviceS", b"\x00this is not a DUIS request"),
                "not_a_request": post("serviceS", b"<hello/>"),
                "schema_invalid": post("serviceS", re.sub(
                    rb"<sr:ServiceReference>[^<]*</sr:ServiceReference>", b"", first_ok)),
                "wrong_endpoint": post("serviceD", first_ok),
                "replay": post(ENDPOINT[_cv(first_ok)], first_ok),
                "unknown_device": post("serviceS", re.sub(
                    rb"(<sr:RequestID>[^:]+:)[^:]+:\d+", rb"\g<1>00-DB-12-34-56-78-90-EE:2000",
                    first_ok, count=1)),
            }
        now = datetime.now(UTC)

        # Every synchronous answer: HTTP 200, DUIS XML, schema-valid, the template's RequestID.
        expected: Counter[str] = Counter()
        for path, body, answer in answers:
            assert answer.status_code == 200, (path.name, answer.text)
            assert answer.headers["content-type"].startswith("application/xml")
            assert validate(answer.content) == [], path.name
            sent = _request_id_in(body)
            assert _request_id(answer.content) == sent, path.name
            code = _code(answer.content)
            assert code in RESPONSE_CODES, path.name
            if code == "I99" and not _future_dated(body, now):
                expected[sent] += 1
        codes = Counter(_code(answer.content) for _, _, answer in answers)
        assert codes["I99"] > 150, codes
        assert expected, codes

        for name, answer in bad.items():
            assert answer.status_code == 200, (name, answer.text)
            assert validate(answer.content) == [], name
        assert _code(bad["garbage"].content) == "E13"
        assert _request_id(bad["garbage"].content) is None
        assert _code(bad["not_a_request"].content) == "E13"
        assert _code(bad["schema_invalid"].content) == "E12"
        assert _code(bad["wrong_endpoint"].content) == "E13"
        assert _code(bad["replay"].content) == "E1"
        assert _code(bad["unknown_device"].content) == "E19"
        first_rid = _request_id(first_ok)
        for name in ("schema_invalid", "wrong_endpoint", "replay"):
            assert _request_id(bad[name].content) == first_rid, name

        # Every outcome arrives once the receiver is back, each schema-valid and echoing.
        # (A DSP schedule the 5.1 template creates may also post its reads, under the DCC's
        # own RequestIDs: only the templates' are counted.)
        sent_ids = {_request_id_in(body) for _, body, _ in answers}

        def responses() -> Counter[str]:
            return Counter(rid for rid in map(_request_id, receiver.snapshot())
                           if rid in sent_ids)

        with contextlib.suppress(AssertionError):
            _wait_for(lambda: responses() == expected, 20, "the posted responses")
        got = responses()
        assert got == expected, (f"missing {expected - got}, unexpected {got - expected}",
                                 served.output()[-3000:])
        # Alerts raised with the last outcomes may still be on their way: let the outbox empty.
        _wait_for(lambda: not list((served.state / "outbox").glob("*.xml")), 10,
                  "an empty outbox")
        documents = receiver.snapshot()
        for xml in documents:
            assert validate(xml) == [], xml[:400]
        assert "is back" in served.output()
        signed = next(xml for xml in documents if b"SMETS1SignedResponse" in xml)
        element = etree.fromstring(signed).find(f".//{{{SR_NS}}}SMETS1SignedResponse")
        verify(element, (served.state / "s1sp-certificate.pem").read_bytes())
    finally:
        code = served.stop()
    assert code == 0, served.output()
    assert "stopped:" in served.output()
    # One line per request, and the URLs and certificate printed at start.
    lines = re.findall(r"^\d\d:\d\d:\d\d\.\d{3} service[STD] .* -> [IEW]\d+",
                       served.output(), re.MULTILINE)
    assert len(lines) == len(templates) + len(bad)
    assert "s1sp-certificate.pem" in served.output()


# --------------------------------------------------------------------------- in process


def _site_yaml(tmp_path: Path, url: str, *, replay_check: str = "counter",
               certificate: Path | None = None) -> Path:
    cert = f"\n    certificate: {certificate.name}" if certificate else ""
    path = tmp_path / "site.yaml"
    path.write_text(f"""\
receive_response_url: {url}
replay_check: {replay_check}
users:
  - name: supplier
    eui: 90-B3-D5-1F-30-01-00-00
    role: Supplier{cert}
installations:
  - name: home
    dmc: reference
    join_at_start: false
    devices:
      CHF: 00-DB-12-34-56-78-90-A2
      ESME: 00-DB-12-34-56-78-90-A0
""")
    return path


class InProcess:
    """The service on an in-process ASGI transport: no sockets but the receiver's."""

    def __init__(self, site_file: Path, state: Path) -> None:
        from s1bench.harness.dcc.signing import S1spSigner
        from s1bench.harness.serve.app import DuisService
        from s1bench.harness.serve.delivery import Outbox
        from s1bench.harness.serve.runtime import SiteRuntime
        from s1bench.harness.serve.site import load_site

        self.site = load_site(site_file)
        self.lines: list[str] = []
        self.outbox = Outbox(state / "outbox", self.site.receive_response_url, retry_max=0.5,
                             log=self.lines.append)
        self.runtime = SiteRuntime(self.site, lambda o: self.service.emit(o), speed=SPEED)
        self.service = DuisService(self.site, self.runtime, self.outbox, S1spSigner(0),
                                   log=self.lines.append)

    async def __aenter__(self) -> httpx.AsyncClient:
        self.service.attach(asyncio.get_running_loop())
        await asyncio.to_thread(self.runtime.start, 30)
        self.worker = asyncio.create_task(self.outbox.run())
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.service),
                                        base_url="http://s1bench/api/v1")
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        self.worker.cancel()
        await asyncio.gather(self.worker, return_exceptions=True)
        await asyncio.to_thread(self.runtime.stop)


def _template(name: str, counter: int | None = None) -> bytes:
    body = (TEMPLATES / name).read_bytes()
    if counter is not None:
        body = re.sub(rb"(<sr:RequestID>[^<]+:)\d+<", rb"\g<1>" + str(counter).encode() + b"<",
                      body)
    return body


#: A supplier's 4.1.1 to the ESME (00-DB-12-34-56-78-90-A0), command variant 1.
READ = "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"


async def test_strict_counters_and_command_variants(tmp_path: Path, receiver: Receiver) -> None:
    name = READ
    served = InProcess(_site_yaml(tmp_path, receiver.url), tmp_path / "state")
    async with served as client:
        first = await client.post("/serviceS", content=_template(name, 5000))
        assert _code(first.content) == "I99"
        # DUIS's rule: the counter must rise, whatever the request; a lower one is a replay.
        again = await client.post("/serviceS", content=_template(name, 4999))
        assert _code(again.content) == "E1"
        assert b"replayed" in again.content
        local = _template(name, 5001).replace(b"<sr:CommandVariant>1<",
                                               b"<sr:CommandVariant>2<")
        assert _code((await client.post("/serviceD", content=local)).content) == "E17"
        pre = _template(name, 5002).replace(b"<sr:CommandVariant>1<", b"<sr:CommandVariant>5<")
        assert _code((await client.post("/serviceS", content=pre)).content) == "E12"
        assert (await client.get("/serviceS")).status_code == 405
        assert (await client.post("/elsewhere", content=b"")).status_code == 404
        for _ in range(200):  # the outcome follows the I99: give it up to 10 s to arrive
            if any(_request_id(xml) for xml in receiver.snapshot()):
                break
            await asyncio.sleep(0.05)
    posted = [xml for xml in receiver.snapshot() if _request_id(xml)]
    assert [_request_id(xml) for xml in posted] == [_request_id(first.content)]
    assert _code(posted[0]) == "I0"


async def test_bad_input_is_always_a_duis_answer(tmp_path: Path, receiver: Receiver) -> None:
    good = _template(READ, 7000)
    bodies = {
        "empty": b"",
        "binary": bytes(range(256)),
        "other namespace": good.replace(b"ServiceUserGateway", b"Elsewhere"),
        "doctype": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                   + good.split(b"?>", 1)[1].replace(b"<sr:UTRN>", b"<sr:UTRN>&x;"),
        "huge counter": _template(READ, 2**70),
        "two bodies": good.replace(b"</sr:Body>", b"</sr:Body><sr:Body/>"),
        "unknown SRV": good.replace(b">4.1.1<", b">4.1.9<"),
        "truncated": good[: len(good) // 2],
    }
    served = InProcess(_site_yaml(tmp_path, receiver.url), tmp_path / "state")
    async with served as client:
        for name, body in bodies.items():
            answer = await client.post("/serviceS", content=body)
            assert answer.status_code == 200, (name, answer.text)
            assert validate(answer.content) == [], name
            assert _code(answer.content) in {"E12", "E13"}, name


def _sign(xml: bytes, key: Any, cert: Any) -> bytes:
    from signxml import XMLSigner, methods

    root = etree.fromstring(xml)
    for old in root.findall(f"{{{DS_NS}}}Signature"):
        root.remove(old)
    signed = XMLSigner(method=methods.enveloped, signature_algorithm="ecdsa-sha256",
                       digest_algorithm="sha256", c14n_algorithm=EXC_C14N
                       ).sign(root, key=key, cert=[cert])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


async def test_signatures_are_checked_when_a_certificate_is_configured(
        tmp_path: Path, receiver: Receiver) -> None:
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "supplier test user")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256()))
    pem = tmp_path / "supplier.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    template = READ
    served = InProcess(_site_yaml(tmp_path, receiver.url, certificate=pem), tmp_path / "state")
    async with served as client:
        placeholder = await client.post("/serviceS", content=_template(template, 6000))
        assert _code(placeholder.content) == "E1"
        good = _sign(_template(template, 6001), key, cert)
        assert validate(good) == []
        assert _code((await client.post("/serviceS", content=good)).content) == "I99"
        tampered = _sign(_template(template, 6002), key, cert).replace(b":6002<", b":6003<")
        answer = await client.post("/serviceS", content=tampered)
        assert _code(answer.content) == "E1"
        assert b"signature" in answer.content


def test_site_file_faults_name_file_and_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "bad.yaml"
    site.write_text("""\
receive_response_url: ftp://nowhere
users:
  - name: supplier
    eui: 90-B3-D5-1F-30-01-00-00
    role: Shopkeeper
installations:
  - name: one
    dmc: reference
    devices:
      ESME: 00-DB-12-34-56-78-90-A0
  - name: two
    dmc: reference
    devices:
      ESME: 00-DB-12-34-56-78-90-A0
""")
    from s1bench.harness.serve.site import SiteError, load_site

    with pytest.raises(SiteError) as caught:
        load_site(site)
    text = str(caught.value)
    assert f"{site}:1: receive_response_url" in text
    assert "unknown user role 'Shopkeeper'" in text
    site.write_text(site.read_text().replace("ftp://nowhere", "http://127.0.0.1:9/r")
                    .replace("Shopkeeper", "Supplier"))
    with pytest.raises(SiteError) as caught:
        load_site(site)
    assert f"{site}:14: installations[1].devices.ESME: 00-DB-12-34-56-78-90-A0 is also" \
        in str(caught.value)
    assert main(["serve", "--site", str(site)]) == 2
    assert "is also" in capsys.readouterr().err


def test_site_from_templates_types_and_groups_the_ids(tmp_path: Path) -> None:
    from s1bench.harness.serve.site import load_site

    out = tmp_path / "site.yaml"
    assert main(["site", "from-templates", str(TEMPLATES), "--out", str(out)]) == 0
    site = load_site(out)
    assert site.replay_check == "document"
    devices = {eui: (inst.name, kind) for inst in site.installations
               for kind, eui in inst.devices.items()}
    prefix = "00-DB-12-34-56-78-90-"
    assert devices[prefix + "A0"][1] == "ESME"
    assert devices[prefix + "A2"][1] == "CHF"
    assert devices[prefix + "A4"][1] == "PPMID"
    # Two gas ids (A1 GSME, A3 the GPF taken as the GSME): two premises.
    assert devices[prefix + "A1"][1] == devices[prefix + "A3"][1] == "GSME"
    assert devices[prefix + "A1"][0] != devices[prefix + "A3"][0]
    targets = {re.search(rb"<sr:RequestID>[^:]+:([^:]+):", p.read_bytes()).group(1).decode()  # type: ignore[union-attr]
               for p in TEMPLATES.glob("*.XML")}
    assert targets - set(devices) == {"90-B3-D5-1F-30-00-00-02"}  # the DCC: non-device
    assert {u.role for u in site.users} == {"Supplier", "NetworkOperator", "OtherUser", "DCC",
                                            "LoadController"}


async def test_outbox_survives_a_restart(tmp_path: Path) -> None:
    from s1bench.harness.serve.delivery import Outbox

    port = _free_port()
    down = Outbox(tmp_path / "outbox", f"http://127.0.0.1:{port}/r", retry_max=0.25,
                  log=lambda _: None)
    for n in range(3):
        down.put("response", f"<doc n='{n}'/>".encode())
    worker = asyncio.create_task(down.run())
    await asyncio.sleep(0.3)  # nobody listening: everything stays queued
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    assert down.pending == 3 and down.delivered == 0

    receiver = Receiver(port)
    receiver.start()
    try:
        again = Outbox(tmp_path / "outbox", receiver.url, log=lambda _: None)
        assert again.resumed == 3
        again.put("dcc-alert", b"<doc n='3'/>")
        worker = asyncio.create_task(again.run())
        await asyncio.wait_for(again.wait_idle(), 10)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    finally:
        receiver.stop()
    assert receiver.documents == [f"<doc n='{n}'/>".encode() for n in range(4)]
    assert list((tmp_path / "outbox").iterdir()) == []


def test_installations_adopt_given_euis_and_keep_the_default_otherwise() -> None:
    from s1bench.emulator.clock import VirtualClock
    from s1bench.harness.builder import build_installation, resolve_dmc

    spec = resolve_dmc("reference")
    clock = VirtualClock()
    default = build_installation(spec, clock, index=7)
    adopted = build_installation(spec, clock, index=7,
                                 euis={"ESME": "00-DB-12-34-56-78-90-A0"})
    assert adopted.eui_of("ESME") == "00-DB-12-34-56-78-90-A0"
    assert adopted.eui_of("CHF") == default.eui_of("CHF") == "00-DB-12-00-00-00-07-00"
    with pytest.raises(ValueError, match="the same EUI"):
        build_installation(spec, clock, euis={"ESME": "00-DB-12-34-56-78-90-A0",
                                              "GSME": "00-DB-12-34-56-78-90-A0"})


def test_front_door_codes_are_duis_codes() -> None:
    from s1bench.harness.serve import gateway

    assert {gateway.REQUEST_TYPE_NOT_VALID, gateway.NOT_FOR_LOCAL_DELIVERY} <= RESPONSE_CODES
    assert gateway.UNREADABLE_SRV in gateway.SERVICE_REFERENCE_VARIANTS
    assert sorted(cv for cvs in gateway.ENDPOINTS.values() for cv in cvs) == list(range(1, 9))
