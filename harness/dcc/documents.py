"""The DUIS document for one Service Response, in the shape of whoever answered it.

A response the S1SP writes for a SMETS1 device (I0, delivered to the device,
whether it did the work or refused) is a ``SMETS1ResponseMessage``: the MMC
schema's typed ``SMETSData`` for the SRV, signed by the S1SP. A rejection the
DSP, DCO or S1SP makes before or instead of reaching a device (E-codes) is a
plain ``sr:Response`` with no payload, as DUIS error responses are. The
DSP's own services answer with the payload element the schema gives them
(``DSPInventory``, ``DSPScheduleID``, ``DSPSchedulesRead``, ``DSPWANMatrix``,
``DSPOptIn``: :func:`~s1bench.harness.dcc.dsp_services.dsp_payload`). Any
other body without a SMETS1 element keeps the documented JSON ``GBCSPayload``
of :func:`~s1bench.harness.duis_xml.render_response`.
"""

from __future__ import annotations

from s1bench.harness.duis_xml import render_response

from .dsp_services import dsp_payload
from .messages import ResponseCode, ServiceResponse
from .signing import S1spSigner
from .smets_response import SMETS_ELEMENT, render_smets1_response

SMETS1 = "SMETS1ResponseMessage"
PLAIN = "ResponseMessage"


def shape_of(response: ServiceResponse) -> str:
    """Which DUIS body a response gets: signed SMETS1 data, or a plain response."""
    if (response.answered_by == "s1sp" and response.response_code == ResponseCode.SUCCESS
            and response.srv in SMETS_ELEMENT):
        return SMETS1
    return PLAIN


def render_service_response(response: ServiceResponse, signer: S1spSigner, *,
                            device_type: str | None = None) -> tuple[bytes, str]:
    """The document and its shape (``SMETS1ResponseMessage`` or ``ResponseMessage``)."""
    shape = shape_of(response)
    if shape == PLAIN:
        return render_response(response, payload=dsp_payload(response)), shape
    refused = response.device_success is False
    xml = render_smets1_response(
        response.request_id, response.srv, response.response_code,
        response.response_datetime, response.body, signer,
        device_id=response.request_id.target, device_type=device_type,
        message_success=not refused,
        device_status=(response.device_status if response.device_status is not None else 0)
        if refused else None,
        device_error=response.reason if refused else None)
    return xml, shape
