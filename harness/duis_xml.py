"""DUIS XML in and out: read Service Requests, write Service Responses.

Test engineers already hold DUIS request files (the Reference Test Data Set
templates); reading those directly, and answering in the DUIS response shape,
lets a supplier's DUIS tooling talk to emulated SMETS1 installations without a
translation layer of its own.

Writing is held to one rule: every document this module writes validates
against the DUIS 5.4 schema (``DUIS Schema V5.4.xsd``). The schema is large
and ``xmlschema`` is a test dependency, so the writer is valid *by
construction*: the closed lists it depends on (``ResponseCode``,
``ServiceReference``, ``ServiceReferenceVariant``) are held here as constants,
and the test suite checks them against the schema so a schema update cannot
drift past unnoticed. :func:`load_schema` and :func:`validate` exist for tests
and for checking documents from elsewhere.
"""

from __future__ import annotations

import base64
import enum
import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree
from s1bench.emulator.headend import eui64_int

# The dcc messages are imported where used at run time: importing the dcc package
# from here would import the SMETS1 service families (harness/dcc/__init__.py),
# which register parsers into this module while it is still half-imported.
if TYPE_CHECKING:
    import xmlschema
    from s1bench.harness.dcc.messages import RequestID, ServiceRequest, ServiceResponse

SR_NS = "http://www.dccinterface.co.uk/ServiceUserGateway"
SCHEMA_ENTRY = "DUIS Schema V5.4.xsd"
SCHEMA_DIR_ENV = "S1BENCH_DUIS_SCHEMA_DIR"

# The DUIS 5.4 closed lists, in schema order. Held as data so writing needs no
# schema at run time; tests/harness/test_duis_xml.py compares them with the
# schema's own enumerations.
RESPONSE_CODES: frozenset[str] = frozenset(
    (
        "I0", "I99", "E1", "E2", "E3", "E4", "E5", "E11", "E12", "E13", "E17", "E19", "E20",
        "E21", "E30", "E31", "E40", "E41", "E42", "E43", "E44", "E45", "E46", "E47", "E48",
        "E49", "E50", "E51", "E52", "E53", "E54", "E55", "E56", "E57", "E58", "E59", "E60",
        "E61", "E62", "E63", "E64", "E65", "E66", "E67", "E68", "E69", "E70", "E71", "E100",
        "E1000", "E1001", "E1003", "E1004", "E1006", "E1007", "E1008", "E1010", "E1011",
        "E010101", "E010102", "E010201", "E030301", "E030302", "E040101", "E041701",
        "E050101", "E050102", "E050103", "E050105", "E050107", "E050108", "E050109",
        "E050110", "E050111", "E050112", "E050201", "E050202", "W050201", "E050301",
        "E050302", "W050301", "E060501", "E060502", "E060701", "E060801", "E060802",
        "E060803", "E061301", "E061304", "E061305", "E061501", "E061504", "E061505",
        "E061506", "E061507", "E061508", "E061509", "E061801", "E061802", "E061803",
        "E062101", "E062102", "E062103", "E062105", "E062201", "E062202", "E062203",
        "E062301", "E062302", "E062303", "E062304", "E062305", "E062306", "E062401",
        "E062402", "E062403", "E062801", "E062802", "E062803", "E080201", "E080202",
        "E080301", "E080302", "E080405", "E080406", "E080407", "E080408", "E080409",
        "E080410", "E080411", "E080412", "E080413", "E080414", "E080415", "E080501",
        "E080502", "E080503", "E080601", "E080602", "E080604", "E080606", "E080607",
        "E080702", "E080721", "E080722", "E080723", "E080801", "E080821", "E080822",
        "E080901", "E080902", "E080903", "E081101", "E081102", "E081104", "E081105",
        "E081106", "E081107", "E081108", "E081109", "E081110", "E081111", "E081202",
        "E081204", "E081205", "E081221", "E081222", "E081223", "E081301", "E081302",
        "E081303", "E081401", "E081402", "E081405", "E081406", "W081401", "E110101",
        "E110102", "E110103", "E110105", "E110106", "W110101", "E110401", "E110402",
        "E110403", "E110405", "W110401", "E120101", "E120102", "E120103", "E120201",
        "E120203", "E120204", "E120207"
    )
)

SERVICE_REFERENCE_VARIANTS: frozenset[str] = frozenset(
    (
        "1.1.1", "1.1.2", "1.2.1", "1.2.2", "1.5", "1.6", "1.7", "2.1", "2.2", "2.3", "2.5",
        "3.1", "3.2", "3.3", "3.4", "3.5", "4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.2", "4.3",
        "4.4.2", "4.4.3", "4.4.4", "4.4.5", "4.6.1", "4.6.2", "4.8.1", "4.8.2", "4.8.3",
        "4.10", "4.11.1", "4.11.2", "4.12.1", "4.12.2", "4.13", "4.14", "4.15", "4.16",
        "4.17", "4.18", "5.1", "5.2", "5.3", "6.2.1", "6.2.2", "6.2.3", "6.2.4", "6.2.5",
        "6.2.7", "6.2.8", "6.2.9", "6.2.10", "6.4.1", "6.4.2", "6.5", "6.6", "6.7", "6.8",
        "6.11", "6.12", "6.13", "6.14.1", "6.14.2", "6.14.3", "6.15.1", "6.15.2", "6.17",
        "6.18.1", "6.18.2", "6.20.1", "6.20.2", "6.21", "6.22", "6.23", "6.24.1", "6.24.2",
        "6.25", "6.26", "6.27", "6.28", "6.29", "6.30", "6.31", "6.32", "7.1", "7.2", "7.3",
        "7.4", "7.5", "7.6", "7.7", "7.8", "7.9", "7.10", "7.11", "7.12", "7.13", "7.14",
        "7.15", "7.16", "8.1.1", "8.2", "8.3", "8.4", "8.5", "8.6", "8.7.1", "8.7.2",
        "8.8.1", "8.8.2", "8.9", "8.11", "8.12.1", "8.12.2", "8.13", "8.14.1", "8.14.2",
        "8.14.3", "8.14.4", "9.1", "11.1", "11.2", "11.3", "11.4", "12.1", "12.2", "14.1"
    )
)

SERVICE_REFERENCES: frozenset[str] = frozenset(
    (
        "1.1", "1.2", "1.5", "1.6", "1.7", "2.1", "2.2", "2.3", "2.5", "3.1", "3.2", "3.3",
        "3.4", "3.5", "4.1", "4.2", "4.3", "4.4", "4.6", "4.8", "4.10", "4.11", "4.12",
        "4.13", "4.14", "4.15", "4.16", "4.17", "4.18", "5.1", "5.2", "5.3", "6.2", "6.4",
        "6.5", "6.6", "6.7", "6.8", "6.11", "6.12", "6.13", "6.14", "6.15", "6.17", "6.18",
        "6.20", "6.21", "6.22", "6.23", "6.24", "6.25", "6.26", "6.27", "6.28", "6.29",
        "6.30", "6.31", "6.32", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "7.7", "7.8",
        "7.9", "7.10", "7.11", "7.12", "7.13", "7.14", "7.15", "7.16", "8.1", "8.2", "8.3",
        "8.4", "8.5", "8.6", "8.7", "8.8", "8.9", "8.11", "8.12", "8.13", "8.14", "9.1",
        "11.1", "11.2", "11.3", "11.4", "12.1", "12.2", "14.1"
    )
)

# RequestIDType / ResponseIDType cap the counter at 2**64 - 1.
_MAX_COUNTER = 2**64 - 1
_PAYLOAD_NOTE = " s1bench: GBCSPayload is base64 of the body as canonical JSON, not GBCS "
_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _sr(local: str) -> str:
    return f"{{{SR_NS}}}{local}"


class DuisError(ValueError):
    """A DUIS document that cannot be read, or a response that cannot be written.

    ``source`` and ``line`` say where, so a test engineer can open the file at
    the fault; both also appear in the message.
    """

    def __init__(self, reason: str, *, source: str | None = None, line: int | None = None):
        self.reason = reason
        self.source = source
        self.line = line
        where = source or ""
        if line is not None:
            where = f"{where}, line {line}" if where else f"line {line}"
        super().__init__(f"{where}: {reason}" if where else reason)


# --------------------------------------------------------------------------- requests

Params = dict[str, str | list[str]]


@dataclass(frozen=True, slots=True)
class DuisRequest:
    """One DUIS Service Request as read from XML.

    ``params`` flattens the body for the emulator's SRV catalogue, which names
    parameters by their DUIS leaf element names. The flattening is lossy by
    design (nesting is dropped):

    * every leaf element (no element children) below the body element becomes
      ``{local_name: text}``, text stripped, an empty element giving ``""``
      (DUIS uses empty elements as choice markers, e.g. ``NonSpecifiedYear``);
    * a name seen more than once becomes a list in document order;
    * every attribute of the body element or any element below it becomes
      ``{"Element@attr": value}`` under the same list rule, so
      ``<AddToBoostButton index="1">`` gives ``AddToBoostButton@index``. The
      list for an attribute lines up with the element list only when every
      occurrence carries the attribute.
    """

    request_id: RequestID
    srv: str
    service_reference: str
    command_variant: int
    body_element: str
    params: Params = field(hash=False)
    source: str

    def to_service_request(self) -> ServiceRequest:
        """The emulator's view: parameters still text, to be coerced by the SRV catalogue."""
        from s1bench.harness.dcc.messages import ServiceRequest

        return ServiceRequest(
            request_id=self.request_id,
            srv=self.srv,
            params=dict(self.params),
            command_variant=self.command_variant,
        )


def _elements(parent: etree._Element) -> list[etree._Element]:
    # Comments and processing instructions are children too; DUIS meaning is in elements.
    return [child for child in parent if isinstance(child.tag, str)]


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _add(params: Params, key: str, value: str) -> None:
    if key not in params:
        params[key] = value
        return
    current = params[key]
    if isinstance(current, list):
        current.append(value)
    else:
        params[key] = [current, value]


#: SRV -> a parser of its body element's nested DUIS structures, registered by the
#: service modules (``harness/dcc/service_*.py``); its result is laid over the
#: flat leaf names, so a structure (a tariff's blocks, an alert list) arrives whole.
NESTED_PARSERS: dict[str, Any] = {}


#: What a nested parser raises when the body's structure is not the SRV's: an element it
#: reads as a number that is not one, an index past a list, a child missing.
_STRUCTURE_FAULTS = (ValueError, TypeError, KeyError, IndexError, AttributeError,
                     ArithmeticError)


def _params(srv: str, body_element: etree._Element, label: str) -> Params:
    params = _flatten(body_element)
    parser = NESTED_PARSERS.get(srv)
    if parser is not None:
        # The service modules' parsers read bodies the schema describes; this function's
        # promise is that malformed input is a DuisError, whatever parser met it.
        try:
            params.update(parser(body_element))
        except _STRUCTURE_FAULTS as exc:
            raise DuisError(
                f"SRV {srv}: the {_local(body_element)} body cannot be read "
                f"({type(exc).__name__}: {exc})", source=label, line=body_element.sourceline,
            ) from None
    return params


def _flatten(body_element: etree._Element) -> Params:
    params: Params = {}
    for node in body_element.iter():
        if not isinstance(node.tag, str):
            continue
        name = _local(node)
        for attr, value in node.attrib.items():
            _add(params, f"{name}@{etree.QName(attr).localname}", value)
        if node is not body_element and not _elements(node):
            _add(params, name, (node.text or "").strip())
    return params


def _read_source(source: bytes | str | Path) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, "<bytes>"
    if isinstance(source, str | Path):
        label = str(source)
        try:
            return Path(source).read_bytes(), label
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise DuisError(f"cannot read file: {reason}", source=label or "''") from None
    raise DuisError(f"expected bytes or a path, got {type(source).__name__}")


# External entities and network fetches have no place in a DUIS message and
# would let a crafted file read local files, so the parser resolves neither
# (and parse_request refuses any DOCTYPE outright).
def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def parse_request(source: bytes | str | Path) -> DuisRequest:
    """Read a DUIS Service Request.

    ``source`` is the document itself (``bytes``) or a path to it (``str`` or
    ``Path``; a ``str`` is always taken as a path). Every fault in the input
    raises :class:`DuisError` naming the file and, where the XML got that far,
    the line; nothing else escapes. This reads the shape the harness needs
    (header fields, one body element); it is not a schema validator.
    """
    data, label = _read_source(source)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise DuisError(f"not XML: {exc.msg}", source=label, line=exc.lineno) from None
    except (etree.LxmlError, ValueError) as exc:
        raise DuisError(f"not XML: {exc}", source=label) from None
    if root.getroottree().docinfo.doctype:
        # DUIS messages never carry a DTD; refusing one is simpler and safer
        # than deciding what unexpanded entity references should mean.
        raise DuisError("a DOCTYPE is not allowed in a DUIS message", source=label)

    if root.tag != _sr("Request"):
        qname = etree.QName(root)
        got = f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else qname.localname
        raise DuisError(
            f"root element is {got}, expected Request in namespace {SR_NS}",
            source=label,
            line=root.sourceline,
        )

    header = root.find(_sr("Header"))
    if header is None:
        raise DuisError("missing Header", source=label, line=root.sourceline)

    def field_text(name: str) -> tuple[str, int | None]:
        node = header.find(_sr(name))
        if node is None or not (node.text or "").strip():
            raise DuisError(
                f"missing Header field {name}", source=label, line=header.sourceline
            )
        return (node.text or "").strip(), node.sourceline

    from s1bench.harness.dcc.messages import RequestID

    rid_text, rid_line = field_text("RequestID")
    try:
        request_id = RequestID.parse(rid_text)
    except ValueError as exc:
        raise DuisError(f"bad RequestID: {exc}", source=label, line=rid_line) from None

    cv_text, cv_line = field_text("CommandVariant")
    if not cv_text.isdigit():
        raise DuisError(
            f"bad CommandVariant {cv_text!r}: not a positive integer", source=label, line=cv_line
        )
    service_reference, _ = field_text("ServiceReference")
    srv, _ = field_text("ServiceReferenceVariant")

    body = root.find(_sr("Body"))
    if body is None:
        raise DuisError("missing Body", source=label, line=root.sourceline)
    children = _elements(body)
    if len(children) != 1:
        reason = (
            "Body has no child element"
            if not children
            else f"Body has {len(children)} child elements, expected one"
        )
        raise DuisError(reason, source=label, line=body.sourceline)

    return DuisRequest(
        request_id=request_id,
        srv=srv,
        service_reference=service_reference,
        command_variant=int(cv_text),
        body_element=_local(children[0]),
        params=_params(srv, children[0], label),
        source=label,
    )


def iter_templates(templates_dir: str | Path) -> Iterator[Path]:
    """The DUIS XML files in a folder, sorted by name so runs are reproducible."""
    for path in sorted(Path(templates_dir).iterdir()):
        if path.is_file() and path.suffix.lower() == ".xml":
            yield path


# --------------------------------------------------------------------------- responses


def service_reference(srv: str) -> str:
    """The DUIS ServiceReference for an SRV: its first two dotted parts.

    Every pair in the request templates follows this (4.1.1 -> 4.1,
    6.15.1 -> 6.15, 8.11 -> 8.11).
    """
    return ".".join(srv.split(".")[:2])


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex().upper()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"a {type(value).__name__} has no JSON form")


def canonical_body_json(body: dict[str, Any]) -> str:
    """The body as canonical JSON: sorted keys, no spaces, UTF-8 text.

    Canonical so the same body always gives the same bytes, which keeps
    rendered responses diffable between runs. Datetimes become ISO 8601 (UTC
    with ``Z`` when aware), bytes upper-case hex, enums their value.
    """
    try:
        return json.dumps(
            body,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
        )
    except (TypeError, ValueError) as exc:
        raise DuisError(f"response body cannot be written as JSON: {exc}") from None


def _jsonable_body(body: dict[str, Any]) -> Any:
    return json.loads(canonical_body_json(body))


def _utc_z(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise DuisError(
            "ResponseDateTime has no time zone; DUIS response times are written in UTC"
        )
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _comment_text(text: str) -> str:
    # XML comments may not contain "--" nor end in "-".
    while "--" in text:
        text = text.replace("--", "- -")
    return f" {text.rstrip('-')} "


def _checked_ids(request_id: RequestID) -> tuple[str, str]:
    try:
        eui64_int(request_id.originator)
        eui64_int(request_id.target)
    except ValueError as exc:
        raise DuisError(f"RequestID {request_id}: {exc}") from None
    if not 0 <= request_id.counter <= _MAX_COUNTER:
        raise DuisError(f"RequestID {request_id}: counter is outside 0..2**64-1")
    return str(request_id), request_id.response_id()


def render_response(response: ServiceResponse, *, schema_version: str = "5.4",
                    payload: etree._Element | None = None) -> bytes:
    """Write a DUIS Service Response (``sr:Response``) as UTF-8 XML.

    Shape: ``Header`` (RequestID, ResponseID with the two EUIs swapped,
    ResponseCode, ResponseDateTime in UTC with ``Z``) and a ``Body`` holding
    an ``sr:ResponseMessage`` (ServiceReference, ServiceReferenceVariant, then
    at most one payload element). The document is unsigned: ``ds:Signature``
    is optional in ``sr:Response`` and s1bench holds no DCC key.

    **The body travels as ``sr:GBCSPayload`` holding base64 of the body's
    canonical JSON** (:func:`canonical_body_json`); it is *not* GBCS, and a
    comment in the document says so. That is the only schema-valid place for a
    free-form body, because neither DUIS schema has an open (``xs:any``)
    element:

    * the other ``sr:ResponseMessage`` payloads (``DSPInventory``,
      ``DSPScheduleID``, ...) are DSP-generated content, not device data;
    * ``sr:SMETS1ResponseMessage`` is for what a SMETS1 device answered: the
      S1SP's signed, typed ``SMETSData`` (see
      :mod:`s1bench.harness.dcc.documents`, which uses this function only for
      rejections and for what has no SMETS1 element, such as 8.2);
    * ``ra:GBCSData`` is also base64 but its ``type`` attribute admits only
      gbcs|dlms|zigbeePlain|zigbeeCiphered, so it would be no more honest.

    An empty body writes no payload element, which is how DUIS error
    responses look. ``payload``, when given, is written instead of the JSON
    ``GBCSPayload``: one of the schema's own ``sr:ResponseMessage`` payload
    elements, built and kept valid by whoever answered (the DSP's
    ``DSPInventory``, ``DSPScheduleID``...; see
    :func:`s1bench.harness.dcc.dsp_services.dsp_payload`). ``response.reason``,
    when set, is written as an XML comment so a reader sees why; validators
    ignore comments.

    Raises :class:`DuisError` for anything that would make the document
    invalid: a response code outside the schema's ``ResponseCode`` list, an
    SRV outside ``ServiceReferenceVariant``, a naive datetime, a body with no
    JSON form. **A response without a response code** (Testing Issues
    91339/91340) also raises: ``sr:Response/Header/ResponseCode`` is
    mandatory (type ``sr:ResponseCode``, no ``minOccurs="0"``) and
    ``sr:Response`` is the only response document DUIS defines. The SMETS1
    header ``ra:HeaderType`` (MMC schema) carries no response code at all, so
    wrapping the reply in ``sr:SMETS1ResponseMessage`` does not help: the
    outer ``sr:Response`` header still needs one. Use
    :func:`render_missing_code_note` for that case.
    """
    code = response.response_code
    if code is None:
        raise DuisError(
            f"response to {response.request_id} (SRV {response.srv}) has no response code, "
            "and no schema-valid DUIS response exists for a code-less response: "
            "sr:Response/Header/ResponseCode is mandatory; record it with "
            "render_missing_code_note() instead"
        )
    code = str(code)
    if code not in RESPONSE_CODES:
        raise DuisError(f"response code {code!r} is not in the DUIS 5.4 ResponseCode list")
    if response.srv not in SERVICE_REFERENCE_VARIANTS:
        raise DuisError(f"SRV {response.srv!r} is not a DUIS 5.4 ServiceReferenceVariant")
    if not _DECIMAL_RE.match(schema_version):
        raise DuisError(f"schemaVersion {schema_version!r} is not a decimal")
    request_text, response_text = _checked_ids(response.request_id)
    when = _utc_z(response.response_datetime)
    body_json = canonical_body_json(response.body) if response.body and payload is None \
        else None

    root = etree.Element(_sr("Response"), nsmap={"sr": SR_NS})
    root.set("schemaVersion", schema_version)
    header = etree.SubElement(root, _sr("Header"))
    for name, text in (
        ("RequestID", request_text),
        ("ResponseID", response_text),
        ("ResponseCode", code),
        ("ResponseDateTime", when),
    ):
        etree.SubElement(header, _sr(name)).text = text
    body = etree.SubElement(root, _sr("Body"))
    if response.reason:
        body.append(etree.Comment(_comment_text(f"s1bench reason: {response.reason}")))
    message = etree.SubElement(body, _sr("ResponseMessage"))
    etree.SubElement(message, _sr("ServiceReference")).text = service_reference(response.srv)
    etree.SubElement(message, _sr("ServiceReferenceVariant")).text = response.srv
    if payload is not None:
        message.append(payload)
    elif body_json is not None:
        message.append(etree.Comment(_PAYLOAD_NOTE))
        etree.SubElement(message, _sr("GBCSPayload")).text = base64.b64encode(
            body_json.encode("utf-8")
        ).decode("ascii")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def render_missing_code_note(response: ServiceResponse) -> dict[str, Any]:
    """An index entry standing in for the DUIS document a code-less response cannot have.

    JSON-serialisable. ``outcome`` is ``"unconfirmed"`` because a response
    without a code says nothing about whether the command took effect; the
    harness must not count it as a success or a failure.
    """
    if response.response_code is not None:
        raise DuisError(
            f"response to {response.request_id} has code {response.response_code}; "
            "render it with render_response()"
        )
    note: dict[str, Any] = {
        "request_id": str(response.request_id),
        "response_id": response.request_id.response_id(),
        "srv": response.srv,
        "service_reference": service_reference(response.srv),
        "response_code": None,
        "outcome": "unconfirmed",
        "response_datetime": _utc_z(response.response_datetime),
        "body": _jsonable_body(response.body),
        "duis_xml": None,
        "why_no_duis_xml": (
            "no schema-valid DUIS response exists without a response code: "
            "sr:Response/Header/ResponseCode (type sr:ResponseCode) is mandatory"
        ),
    }
    if response.reason:
        note["reason"] = response.reason
    return note


# --------------------------------------------------------------------------- schema


def _default_schema_dir() -> Path:
    override = os.environ.get(SCHEMA_DIR_ENV)
    if override:
        return Path(override)
    # The schema is a shared input beside the repository (../shared/duis-schema),
    # not part of the package.
    for ancestor in Path(__file__).resolve().parents:
        candidate = ancestor / "shared" / "duis-schema"
        if (candidate / SCHEMA_ENTRY).is_file():
            return candidate
    raise FileNotFoundError(
        f"cannot find shared/duis-schema/{SCHEMA_ENTRY} above {Path(__file__).resolve()}; "
        f"set {SCHEMA_DIR_ENV}"
    )


@functools.lru_cache(maxsize=4)
def _load_schema_at(schema_dir: Path) -> xmlschema.XMLSchema:
    try:
        import xmlschema
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "xmlschema is needed to validate DUIS XML; install s1bench[test]"
        ) from exc
    entry = schema_dir / SCHEMA_ENTRY
    if not entry.is_file():
        raise FileNotFoundError(f"no {SCHEMA_ENTRY} in {schema_dir}")
    return xmlschema.XMLSchema(str(entry))


def load_schema(schema_dir: Path | None = None) -> xmlschema.XMLSchema:
    """The DUIS 5.4 schema, loaded once per folder (loading takes seconds).

    Without ``schema_dir``: ``$S1BENCH_DUIS_SCHEMA_DIR`` if set, else the first
    ``shared/duis-schema`` found walking up from this file.
    """
    folder = schema_dir if schema_dir is not None else _default_schema_dir()
    return _load_schema_at(Path(folder).resolve())


def validate(xml_bytes: bytes, *, schema_dir: Path | None = None) -> list[str]:
    """Schema errors in a DUIS document, as ``path: reason`` lines; empty when valid."""
    schema = load_schema(schema_dir)
    try:
        root = etree.fromstring(xml_bytes, _parser())
    except etree.XMLSyntaxError as exc:
        return [f"line {exc.lineno}: not XML: {exc.msg}"]
    except (etree.LxmlError, ValueError) as exc:
        return [f"not XML: {exc}"]
    return [f"{err.path}: {err.reason}" for err in schema.iter_errors(root)]
