"""The DUIS front door of `s1bench serve`: what is checked before the DSP sees a request.

Why before the DSP: the DSP (``harness/dcc/dsp.py``) judges a request it
can read, from a user it knows. What arrives over HTTP may be neither, and
whatever it is, the answer must be a DUIS document (never an HTTP error a
DUIS adaptor cannot parse). The checks, in order, and the code each gives:

========================================  ====  =================================
what arrived                              code  why this code
========================================  ====  =================================
not XML, or XML that is not sr:Request    E13   "request type not valid for the
                                                URL": it is no request at all
an sr:Request that fails the schema       E12   s1bench's documented use of E12
                                                for requests whose parameters
                                                fail validation (``messages.py``)
a command variant of another endpoint     E13   the DUIS meaning, exactly
(CV 1, 3, 5, 7 serviceS; 4 serviceT;
2, 6, 8 serviceD)
CV 2 or 3 (a command for local delivery)  E17   "not available for local delivery":
                                                an S1SP has no command to hand
                                                back for a SMETS1 device
CV 5, 6 or 7 (a signed pre-command)       E12   "command variant not applicable":
                                                SMETS1 requests get no pre-command,
                                                so there is none to sign
a ds:Signature that does not verify with  E1    the DSP cannot authenticate the
the user's configured certificate               user, as for a replayed counter
========================================  ====  =================================

Everything else is the DSP's and the S1SP's to answer (E1 unknown user or a
replayed counter, E2 role, E19 unknown device...). Every code is from the
DUIS 5.4 list with a meaning in ``../shared/DOMAIN.md``; none is invented.

A critical SMETS1 request (CV 4) goes to serviceT as DUIS routes it, and is
answered I99 like any other: the user's signature on the XML is what the
DCC checks for SMETS1, so no pre-command comes back to be signed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from s1bench.harness.dcc.messages import RequestID, ResponseCode, ServiceRequest, ServiceResponse
from s1bench.harness.duis_xml import (
    SERVICE_REFERENCE_VARIANTS,
    SR_NS,
    DuisError,
    DuisRequest,
    parse_request,
    render_response,
    validate,
)

from .site import Site

#: Two DUIS codes the DCC side itself never needs (``ResponseCode`` holds those it does).
REQUEST_TYPE_NOT_VALID = "E13"
NOT_FOR_LOCAL_DELIVERY = "E17"

#: The DCC Boxed paths (DOMAIN.md, "DUIS messages") and the command variants each takes
#: (DUIS's web service per command variant, as SmartDCCInnovation/duis-parser lists them).
ENDPOINTS: dict[str, frozenset[int]] = {
    "serviceS": frozenset({1, 3, 5, 7}),
    "serviceT": frozenset({4}),
    "serviceD": frozenset({2, 6, 8}),
}
LOCAL_DELIVERY_CVS = frozenset({2, 3})
PRE_COMMAND_CVS = frozenset({5, 6, 7})
#: The schema requires a ServiceReferenceVariant in every response; an answer to a body
#: that names none readable echoes this one (Read Inventory, a DSP service), and says so.
UNREADABLE_SRV = "8.2"
#: A RequestID for rendering only; removed from the document (RequestID is optional there).
NO_REQUEST_ID = RequestID("00-00-00-00-00-00-00-00", "00-00-00-00-00-00-00-00", 0)

_RID_RE = re.compile(rb"<(?:[\w.-]+:)?RequestID>\s*([^<\s]+)\s*<")
_SRV_RE = re.compile(rb"<(?:[\w.-]+:)?ServiceReferenceVariant>\s*([0-9.]+)\s*<")


@dataclass(frozen=True)
class Checked:
    """A request that passed the front door, or the DUIS answer that refuses it."""

    duis: DuisRequest | None = None
    request: ServiceRequest | None = None
    refusal: ServiceResponse | None = None
    #: What makes the request itself: a digest of its canonical Header and Body (the replay
    #: check's ``document`` mode); the signature is left out, so re-signing is no disguise.
    digest: str | None = None


def _root(body: bytes) -> etree._Element | None:
    """The parsed document, entities and DTDs left alone (as ``duis_xml`` reads), or None."""
    try:
        return etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True,
                                                      load_dtd=False))
    except (etree.LxmlError, ValueError):
        return None


def _clip(text: str, width: int = 300) -> str:
    """Schema messages can list a whole enumeration; the answer needs the start of it."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _echoable(rid: RequestID | None) -> RequestID | None:
    """A RequestID the answer can carry: the schema caps the counter at 2**64 - 1."""
    return rid if rid is not None and rid.counter <= 2**64 - 1 else None


def _digest(body: bytes) -> str | None:
    root = _root(body)
    if root is None:
        return None
    digest = hashlib.sha256()
    for child in root:
        if isinstance(child.tag, str) and etree.QName(child).localname in ("Header", "Body"):
            try:
                digest.update(etree.tostring(child, method="c14n", exclusive=True))
            except etree.C14NError:
                # libxml2's C14N refuses a relative namespace URI (xmlns:x="//host/..."),
                # which XML allows; the plain serialisation still names the request exactly.
                digest.update(etree.tostring(child))
    return digest.hexdigest()


def _salvage(body: bytes) -> tuple[RequestID | None, str]:
    """RequestID and SRV from a document too broken to parse: the answer should echo them."""
    rid: RequestID | None = None
    found = _RID_RE.search(body)
    if found:
        try:
            rid = _echoable(RequestID.parse(found.group(1).decode("ascii", "replace")))
        except ValueError:
            rid = None
    srv = _SRV_RE.search(body)
    text = srv.group(1).decode("ascii") if srv else ""
    return rid, text if text in SERVICE_REFERENCE_VARIANTS else UNREADABLE_SRV


def refuse(rid: RequestID | None, srv: str, code: str, reason: str,
           now: datetime) -> ServiceResponse:
    return ServiceResponse(rid or NO_REQUEST_ID, srv, code, {}, now, reason,
                           answered_by="dsp")


def render_answer(response: ServiceResponse) -> bytes:
    """A plain DUIS response; without a readable RequestID the header carries none."""
    xml = render_response(response)
    if response.request_id is not NO_REQUEST_ID:
        return xml
    root = etree.fromstring(xml)
    header = root[0]
    for child in list(header):
        if etree.QName(child).localname in ("RequestID", "ResponseID"):
            header.remove(child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _is_request(body: bytes) -> bool:
    """Well-formed XML whose root is sr:Request (schema validity aside)."""
    root = _root(body)
    return root is not None and root.tag == f"{{{SR_NS}}}Request"


def check(body: bytes, endpoint: str, site: Site, now: datetime) -> Checked:
    """Every front-door check, in the order of the table above."""
    try:
        duis: DuisRequest | None = parse_request(body)
        unreadable: DuisError | None = None
    except DuisError as exc:
        duis, unreadable = None, exc
    if unreadable is not None and not _is_request(body):
        rid, srv = _salvage(body)
        return Checked(refusal=refuse(rid, srv, REQUEST_TYPE_NOT_VALID,
                                      f"not a DUIS Service Request: {unreadable.reason}", now))
    errors = validate(body)
    if errors or duis is None:
        rid, srv = _salvage(body)
        if duis is not None:
            rid = _echoable(duis.request_id)
            srv = duis.srv if duis.srv in SERVICE_REFERENCE_VARIANTS else srv
        reason = (f"the request does not validate against the DUIS 5.4 schema: "
                  f"{_clip(errors[0])}"
                  + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")) if errors \
            else f"the request cannot be read: {unreadable.reason if unreadable else ''}"
        return Checked(refusal=refuse(rid, srv, ResponseCode.NOT_APPLICABLE, reason, now))
    rid, srv, cv = duis.request_id, duis.srv, duis.command_variant
    if cv not in ENDPOINTS[endpoint]:
        right = next((name for name, cvs in ENDPOINTS.items() if cv in cvs), None)
        hint = f"; send it to /api/v1/{right}" if right else ""
        return Checked(duis, refusal=refuse(
            rid, srv, REQUEST_TYPE_NOT_VALID,
            f"command variant {cv} is not taken by /api/v1/{endpoint}{hint}", now))
    if cv in LOCAL_DELIVERY_CVS:
        return Checked(duis, refusal=refuse(
            rid, srv, NOT_FOR_LOCAL_DELIVERY,
            f"command variant {cv} asks for a command for local delivery, which the S1SP "
            "does not return for SMETS1 devices", now))
    if cv in PRE_COMMAND_CVS:
        return Checked(duis, refusal=refuse(rid, srv, ResponseCode.NOT_APPLICABLE,
                                            f"command variant {cv} carries a signed "
                                            "pre-command; SMETS1 requests get none to sign "
                                            "(send CV 4 to serviceT)", now))
    user = site.user_by_eui(rid.originator)
    if user is not None and user.certificate_pem is not None:
        from s1bench.harness.dcc.signing import SignatureInvalid, verify

        try:
            verify(body, user.certificate_pem)
        except SignatureInvalid as exc:
            return Checked(duis, refusal=refuse(rid, srv, ResponseCode.INVALID_USER,
                                                f"the request's signature does not verify "
                                                f"with {user.name}'s certificate: {exc}", now))
    return Checked(duis, duis.to_service_request(), digest=_digest(body))
