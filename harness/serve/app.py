"""DUIS over HTTP in DCC Boxed's shape: the ASGI app and what it does with each request.

A DUIS user's adaptor POSTs a Service Request to ``/api/v1/serviceS`` (send
command), ``/api/v1/serviceT`` (transform) or ``/api/v1/serviceD``
(non-device) and reads a DUIS document back, always with HTTP 200 and
``application/xml``:

* a request the front door (:mod:`.gateway`) or the DSP refuses gets that
  refusal, and nothing follows;
* a request the DSP lets through gets ``I99`` now, and its outcome (the
  S1SP-signed SMETS1 response, or a plain response for what no device
  answered) is POSTed to the site's Receive Response URL once the device has
  answered, after the I99 has gone out, so the adaptor knows the RequestID
  before its outcome arrives;
* a future-dated request gets the DSP's I99 and its outcome at its time;
* a non-device request (serviceD) is answered synchronously with its
  response when the DCC has it within ``SYNC_WAIT`` seconds (DUIS answers
  non-device requests in the HTTP exchange), else I99 and a post.

Alerts (device, DCC, S1SP) are POSTed to the same URL as they are raised.
Every POST goes through the :class:`~.delivery.Outbox`, so none is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from s1bench.harness.dcc.alert_documents import dcc_alert_documents, s1sp_alert_documents
from s1bench.harness.dcc.documents import render_service_response
from s1bench.harness.dcc.messages import ResponseCode, ServiceResponse
from s1bench.harness.dcc.signing import S1spSigner
from s1bench.harness.dcc.smets_response import render_smets1_device_alert
from s1bench.harness.duis_xml import DuisError

from . import gateway
from .delivery import Outbox
from .runtime import Outcome, SiteRuntime
from .site import Site

#: Largest request body read; DUIS requests are kilobytes (a firmware image is sent by 11.1
#: as base64, still far below this).
MAX_BODY = 16 * 1024 * 1024
#: How long a non-device request waits for its response before it is answered I99 instead:
#: under the 3 s DCC Boxed's own client (dccboxed-nodered-nodes) allows a request.
SYNC_WAIT = 2.5
PATH_PREFIX = "/api/v1/"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class DuisService:
    """The ASGI app: one instance serves one site."""

    def __init__(self, site: Site, runtime: SiteRuntime, outbox: Outbox, signer: S1spSigner,
                 *, log: Callable[[str], None] = print) -> None:
        self.site = site
        self.runtime = runtime
        self.outbox = outbox
        self.signer = signer
        self.log = log
        self.answered: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._early: list[Outcome] = []
        self._unanswered: set[int] = set()
        self._held: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
        self._sync: dict[int, asyncio.Future[ServiceResponse]] = {}
        self._alert_counters: Counter[str] = Counter()
        supplier = next((u for u in site.users if u.role == "Supplier"), site.users[0])
        self._alert_user = supplier.eui

    # ---------------------------------------------------------------- outcomes

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop outcomes are handled on; what was emitted before is handled now."""
        with self._lock:
            self._loop = loop
            early, self._early = self._early, []
        for outcome in early:
            loop.call_soon_threadsafe(self._accept, outcome)

    def emit(self, outcome: Outcome) -> None:
        """Called by the site's thread for every outcome and alert."""
        with self._lock:
            if self._loop is None:
                self._early.append(outcome)
                return
            loop = self._loop
        loop.call_soon_threadsafe(self._accept, outcome)

    def _accept(self, outcome: Outcome) -> None:
        token = outcome.token
        if (outcome.kind == "response" and token in self._sync and outcome.response is not None
                and outcome.response.response_code is not None):
            waiter = self._sync.pop(token)
            if not waiter.done():
                waiter.set_result(outcome.response)
                return
        document = self._render(outcome)
        if document is None:
            return
        if token is not None and token in self._unanswered:
            self._held[token].append(document)
        else:
            self.outbox.put(*document)

    def _render(self, outcome: Outcome) -> tuple[str, bytes] | None:
        if outcome.kind == "error":
            self.log(f"{_stamp()} s1bench internal error carrying out a request to "
                     f"{outcome.installation} (I99 was answered; no outcome will follow): "
                     f"{outcome.alert}")
            return None
        try:
            if outcome.kind == "response":
                response = outcome.response
                assert response is not None
                if response.response_code is None:
                    self.log(f"{_stamp()} {response.request_id}: the S1SP wrote the response "
                             "without a response code (no DUIS document exists for it; its "
                             "S1SP alert follows)")
                    return None
                xml, _ = render_service_response(response, self.signer,
                                                 device_type=outcome.device_type)
                return "response", xml
            if outcome.kind == "device-alert":
                alert = outcome.alert
                self._alert_counters[alert.device] += 1
                return "device-alert", render_smets1_device_alert(
                    alert, self.signer, service_user_eui=self._alert_user,
                    counter=self._alert_counters[alert.device])
            if outcome.kind == "dcc-alert":
                (doc,) = dcc_alert_documents([outcome.alert])
            else:
                rid = str(outcome.alert.get("request_id"))
                times = {rid: outcome.when} if outcome.when is not None else {}
                (doc,) = s1sp_alert_documents([outcome.alert], self.signer, times=times)
            if doc.xml is None:
                raise DuisError(doc.error or "no document")
            return outcome.kind, doc.xml
        except DuisError as exc:
            self.log(f"{_stamp()} cannot write the {outcome.kind} of {outcome.installation} as "
                     f"DUIS: {exc.reason}")
            return None

    def _release(self, token: int) -> None:
        """The synchronous answer has gone out: what the request produced may follow it."""
        self._unanswered.discard(token)
        for document in self._held.pop(token, []):
            self.outbox.put(*document)

    # ---------------------------------------------------------------- requests

    async def handle(self, endpoint: str, body: bytes) -> tuple[bytes, Callable[[], None]]:
        """The synchronous DUIS answer, and what to call once it has been sent."""
        now = self.runtime.clock.now()
        checked = gateway.check(body, endpoint, self.site, now)
        if checked.refusal is not None:
            self._log_line(endpoint, checked.refusal, None, None)
            return gateway.render_answer(checked.refusal), _nothing
        request = checked.request
        assert request is not None
        token = self.runtime.next_token()
        self._unanswered.add(token)
        waiter: asyncio.Future[ServiceResponse] | None = None
        if endpoint == "serviceD":
            waiter = asyncio.get_running_loop().create_future()
            self._sync[token] = waiter
        try:
            admission = await self.runtime.admit(request, token, checked.digest)
        except BaseException:
            self._sync.pop(token, None)
            self._release(token)
            raise
        where = (admission.installation, admission.device_type)
        answer: ServiceResponse
        if admission.accepted:
            answer = _acknowledgement(request.request_id, request.srv, self.runtime.clock.now())
            if waiter is not None:
                with contextlib.suppress(TimeoutError):  # then the outcome is posted instead
                    await asyncio.wait_for(asyncio.shield(waiter), SYNC_WAIT)
                self._sync.pop(token, None)
                if waiter.done():
                    answer = waiter.result()
        else:
            self._sync.pop(token, None)
            response = admission.response
            assert response is not None
            refused = response.answered_by == "dsp" and response.response_code != \
                ResponseCode.SUCCESS
            if refused or endpoint == "serviceD":
                answer = response  # a rejection, a future-dated I99, a non-device answer
            else:
                # Answered by the DCC without reaching a device: still an outcome to post.
                answer = _acknowledgement(request.request_id, request.srv,
                                          self.runtime.clock.now())
                self._accept(Outcome("response", admission.installation, token, response,
                                     admission.device_type))
        self._log_line(endpoint, answer, *where)
        try:
            if answer.response_code == ResponseCode.ACKNOWLEDGED or answer.answered_by == "dsp":
                xml = gateway.render_answer(answer)
            else:
                xml, _ = render_service_response(answer, self.signer,
                                                 device_type=admission.device_type)
        except BaseException:
            self._release(token)  # whatever the request produced still goes out
            raise
        return xml, lambda: self._release(token)

    def _log_line(self, endpoint: str, answer: ServiceResponse, installation: str | None,
                  device_type: str | None) -> None:
        self.answered[str(answer.response_code)] += 1
        rid = "-" if answer.request_id is gateway.NO_REQUEST_ID else str(answer.request_id)
        where = f" {installation}/{device_type or '?'}" if installation else ""
        why = f" ({_short(answer.reason)})" if answer.reason else ""
        self.log(f"{_stamp()} {endpoint} {answer.srv} {rid}{where} -> "
                 f"{answer.response_code}{why}")

    # ---------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"].rstrip("/")
        endpoint = path[len(PATH_PREFIX):] if path.startswith(PATH_PREFIX) else ""
        if endpoint not in gateway.ENDPOINTS:
            await _plain(send, 404, "POST DUIS XML to /api/v1/serviceS, /api/v1/serviceT or "
                                    "/api/v1/serviceD\n")
            return
        if scope["method"] != "POST":
            await _plain(send, 405, "POST only\n", [(b"allow", b"POST")])
            return
        body = await _read_body(receive, MAX_BODY)
        after = _nothing
        try:
            if body is None:
                refusal = gateway.refuse(None, gateway.UNREADABLE_SRV,
                                         gateway.REQUEST_TYPE_NOT_VALID,
                                         f"the body is larger than {MAX_BODY} bytes",
                                         self.runtime.clock.now())
                self._log_line(endpoint, refusal, None, None)
                xml = gateway.render_answer(refusal)
            else:
                xml, after = await self.handle(endpoint, body)
        except Exception as exc:  # an emulator fault, not the user's input: say so plainly
            self.log(f"{_stamp()} {endpoint}: internal error: {exc!r}")
            await _plain(send, 500, f"s1bench internal error: {exc!r}\n")
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/xml"),
                                (b"content-length", str(len(xml)).encode())]})
        await send({"type": "http.response.body", "body": xml})
        after()


def _acknowledgement(request_id: Any, srv: str, now: datetime) -> ServiceResponse:
    return ServiceResponse(request_id, srv, ResponseCode.ACKNOWLEDGED, {}, now,
                           answered_by="dsp")


def _nothing() -> None:
    return None


def _short(text: str | None, width: int = 140) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _stamp() -> str:
    return datetime.now().strftime("%H:%M:%S.%f")[:-3]


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks) if size <= limit else None


async def _plain(send: Send, status: int, text: str,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
