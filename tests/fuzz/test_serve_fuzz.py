"""`s1bench serve`'s front door, fuzzed: whatever is POSTed, the answer is a DUIS document.

A supplier's DUIS adaptor parses every answer as DUIS; an HTTP 500 with a
Python traceback is an answer it cannot read, and the request's fate is then
unknown to it. So any body, to any of the three endpoints, must be answered
with HTTP 200 and a schema-valid ``sr:Response`` carrying a DUIS response
code: a refusal for what cannot be read, I99 (or the answer itself) for what
can. The service runs in process (httpx's ASGI transport) on a site holding
every device the DUIS templates address, so mutated templates reach the DSP,
the S1SP and the emulated devices, not only the parser.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fuzz_helpers import PROFILE, TEMPLATE_BYTES, TEMPLATES, duis_documents, note_input
from hypothesis import event, given
from hypothesis import strategies as st
from lxml import etree
from s1bench.harness.duis_xml import RESPONSE_CODES, SR_NS, iter_templates, validate

pytestmark = pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")


@dataclass
class Served:
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    lines: list[str]

    def __repr__(self) -> str:  # hypothesis prints fixtures with a failing input
        return f"Served({len(self.lines)} log lines)"

    def post(self, endpoint: str, body: bytes) -> httpx.Response:
        return self.loop.run_until_complete(self.client.post(f"/{endpoint}", content=body))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One service for every example: building the site's installations takes seconds."""
    from s1bench.harness.dcc.signing import S1spSigner
    from s1bench.harness.serve.app import DuisService
    from s1bench.harness.serve.delivery import Outbox
    from s1bench.harness.serve.runtime import SiteRuntime
    from s1bench.harness.serve.site import load_site, render_site_yaml, site_from_templates

    folder = Path(tempfile.mkdtemp(prefix="s1bench-fuzz-serve-"))
    made = site_from_templates(list(iter_templates(TEMPLATES)), "reference",
                               "http://127.0.0.1:9/receive")
    for installation in made.data["installations"]:
        installation["join_at_start"] = False
    (folder / "site.yaml").write_text(render_site_yaml(made.data), encoding="utf-8")
    site = load_site(folder / "site.yaml")
    lines: list[str] = []
    # Outcomes queue in the outbox folder; nothing posts them (no worker), which is all
    # this test needs: the synchronous answer is what it checks.
    outbox = Outbox(folder / "outbox", site.receive_response_url, log=lines.append)
    service: DuisService | None = None
    runtime = SiteRuntime(site, lambda o: service.emit(o) if service else None, speed=30)
    service = DuisService(site, runtime, outbox, S1spSigner(0), log=lines.append)
    loop = asyncio.new_event_loop()
    service.attach(loop)
    runtime.start(120)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=service),
                               base_url="http://s1bench/api/v1")
    try:
        yield Served(loop, client, lines)
    finally:
        loop.run_until_complete(client.aclose())
        runtime.stop()
        loop.close()
        shutil.rmtree(folder, ignore_errors=True)


@PROFILE
@given(endpoint=st.sampled_from(["serviceS", "serviceT", "serviceD"]),
       body=duis_documents(TEMPLATE_BYTES))
def test_any_body_gets_a_duis_answer(endpoint: str, body: bytes, served: Served) -> None:
    note_input(f"serve/{endpoint}", body)
    answer = served.post(endpoint, body)
    assert answer.status_code == 200, (answer.status_code, answer.text[:500], served.lines[-3:])
    assert answer.headers["content-type"] == "application/xml"
    assert validate(answer.content) == [], answer.text[:500]
    code = etree.fromstring(answer.content).findtext(f"{{{SR_NS}}}Header/{{{SR_NS}}}"
                                                     "ResponseCode")
    assert code in RESPONSE_CODES
    event(f"answered {code}")
