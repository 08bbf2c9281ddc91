"""The S1SP: SRVs become head-end commands; device outcomes become Service Responses.

Per DMC the S1SP holds a service definition (which SRVs exist for it: the
catalogue's per-model SRV lists, less what a DCC-side restriction such as
Liberty 110's leaves out). For each validated request it sends one head-end
command to the installation's hub and translates the device-level outcome
into DUIS, which is where every response code is decided:

========================  =====================================================
hub outcome               Service Response
========================  =====================================================
done                      I0, the device's data, ``MessageSuccess`` true
refused / unsupported     I0 with ``MessageSuccess`` false and the device's
                          status (the MMC schema's SMETS1Debug): the DCC
                          delivered the command and the device said no
silent, malformed         E21 (no response from the device)
unreachable               E20 (cannot establish communications)
unknown device            E19
bad argument              E12 (command variant not applicable)
unknown command           E11
========================  =====================================================

A device's refusal of a command's authorisation (see :mod:`.authority`) is
not the device saying no to the function: the signer is not authorised for
that device at that time. A wrong signer or a wrong role is answered E4
(user role not authorised for the device at that time); a stale or replayed
counter E1, as the DSP answers a replayed RequestID counter.

DCC-side defects of the S1SP (91339/91340's missing codes) act here, after
the translation; CoS loss alerts (61224) are written here too.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import structlog
from s1bench.emulator.credentials import CREDENTIAL_OPS
from s1bench.emulator.headend import Command, DeviceOutcome, OutcomeStatus

from .authority import DccAuthority
from .dco import Dco, is_critical
from .messages import ResponseCode, ServiceRequest, ServiceResponse
from .srvs import SRVS

log = structlog.get_logger("s1bench.s1sp")

#: SRV -> (head-end command, fixed arguments): the S1SP's translation table.
HEADEND: dict[str, tuple[str, dict[str, Any]]] = {
    "1.2.1": ("publish_price", {}),
    "2.2": ("top_up", {}),
    "2.5": ("activate_emergency_credit", {}),
    "3.1": ("display_message", {}),
    "4.1.1": ("read_import_registers", {}),
    "4.3": ("read_prepay_values", {}),
    "4.18": ("read_meter_balance", {}),
    "6.5": ("set_voltage_thresholds", {}),
    "6.7": ("set_gas_flow", {}),
    "6.11": ("set_clock", {}),
    "6.12": ("set_power_thresholds", {}),
    "6.13": ("read_log", {}),
    "6.15.1": ("update_credential", {}),
    "6.22": ("configure_alerts", {}),
    "6.23": ("change_of_supplier", {}),
    "6.24.1": ("read_credentials", {}),
    "7.1": ("change_supply", {"Supply": "Enabled"}),
    "7.2": ("change_supply", {"Supply": "Disabled"}),
    "7.3": ("change_supply", {"Supply": "Armed"}),
    "7.4": ("read_supply", {}),
    "7.5": ("aux_load", {"On": True}),
    "7.6": ("aux_load", {"On": False}),
    "7.9": ("boost_config", {"Add": True}),
    "7.10": ("boost_config", {"Add": False}),
    "7.11": ("read_boost", {}),
    "8.2": ("read_inventory", {}),
    "8.7.1": ("join_service", {}),
    "8.7.2": ("join_service", {}),
    "8.8.1": ("unjoin_service", {}),
    "8.8.2": ("unjoin_service", {}),
    "8.9": ("read_device_log", {}),
    "8.11": ("update_device_log", {}),
    "11.2": ("read_firmware", {}),
}

_CODES = {
    OutcomeStatus.SILENT: ResponseCode.NO_RESPONSE,
    OutcomeStatus.MALFORMED: ResponseCode.NO_RESPONSE,
    OutcomeStatus.UNREACHABLE: ResponseCode.NO_COMMS,
    OutcomeStatus.UNKNOWN_DEVICE: ResponseCode.UNKNOWN_DEVICE,
    OutcomeStatus.BAD_ARGUMENT: ResponseCode.NOT_APPLICABLE,
    OutcomeStatus.UNKNOWN_COMMAND: ResponseCode.SRV_NOT_FOR_DEVICE,
    OutcomeStatus.WRONG_SIGNER: ResponseCode.USER_NOT_AUTHORISED,
    OutcomeStatus.WRONG_ROLE: ResponseCode.USER_NOT_AUTHORISED,
    OutcomeStatus.STALE_COUNTER: ResponseCode.INVALID_USER,
}


@dataclass
class S1sp:
    """The S1SP for one installation: its service definition, head-end and alerts."""

    installation: Any
    dcc_quirks: tuple[Any, ...] = ()
    seed: int = 0
    dco: Dco = field(default_factory=Dco)
    dcc_alerts: list[dict[str, Any]] = field(default_factory=list)
    s1sp_alerts: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"s1sp:{self.seed}:{self.installation.hub_eui}")
        self.authority = DccAuthority(self.seed)
        #: The last signed command sent (a test replays it as a WAN attacker would).
        self.last_signed: Command | None = None
        #: Device EUI -> (its loop, the lock its signed commands take turns on).
        self._signing: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}

    def quirk(self, name: str) -> Any | None:
        return next((q for q in self.dcc_quirks if q.name == name), None)

    def device_info(self, device_type: str) -> Any:
        if device_type == "CHF":
            return self.installation.hub.info
        return self.installation.hub.known.get(
            int(self.installation.eui_of(device_type).replace("-", ""), 16))

    def not_in_service(self, srv: str, device_type: str) -> str | None:
        """Why this DMC's service definition has no such SRV for this device, if so."""
        spec = SRVS.get(srv)
        if spec is None or srv not in HEADEND:
            return f"SRV {srv} is not in the DCC SMETS1 service s1bench provides"
        if device_type not in spec.targets:
            return f"SRV {srv} does not apply to a {device_type}"
        info = self.device_info(device_type)
        if info is not None and info.srvs and srv not in info.srvs:
            return (f"SRV {srv} is not in the DCC SMETS1 service definition for "
                    f"{info.manufacturer} {info.model} firmware {info.firmware_version}")
        for quirk in self.dcc_quirks:
            reason = quirk.restricts(srv, device_type)
            if reason:
                return reason
        return None

    def _response(self, request: ServiceRequest, code: str, body: dict[str, Any],
                  reason: str | None = None, **extra: Any) -> ServiceResponse:
        return ServiceResponse(request.request_id, request.srv, code, body,
                               self.installation.clock.now(), reason, **extra)

    async def carry_out(self, request: ServiceRequest, device_type: str,
                        role: str | None = None) -> ServiceResponse:
        """One validated request: service definition, dual control, head-end, translation.

        ``role`` is the sender's DUIS user role: a critical command is signed
        with the key of that role's slot (see :meth:`_execute`).
        """
        missing = self.not_in_service(request.srv, device_type)
        if missing:
            return self._response(request, ResponseCode.SRV_NOT_FOR_DEVICE, {}, missing)
        denied = self.dco.check(request.srv, str(request.request_id))
        if denied:
            # The public DUIS table has no dual-control code; a denied critical
            # command is not authorised for the device at that time (E4).
            return self._response(request, ResponseCode.USER_NOT_AUTHORISED, {}, denied,
                                  answered_by="dco")
        op, fixed = HEADEND[request.srv]
        command = Command(op, request.target, {**request.params, **fixed},
                          str(request.request_id))
        outcome = await self._execute(request, command, role)
        self.outcomes.append({"request_id": str(request.request_id), "op": op,
                              "target": request.target, "status": str(outcome.status),
                              "reason": outcome.reason})
        if request.srv == "6.24.1" and outcome.done:
            self.authority.read_back(request.target, outcome.data.get("Credentials", {}))
        response = self.translate(request, outcome)
        for quirk in self.dcc_quirks:
            response = quirk.s1sp_response(self.rng, request, response)
        if response.response_code is None:
            self.s1sp_alerts.append({"request_id": str(request.request_id),
                                     "device": request.target, "code": None,
                                     "detail": response.reason})
        return response

    async def _execute(self, request: ServiceRequest, command: Command,
                       role: str | None) -> DeviceOutcome:
        """Send one command; a signed one waits for the device's signed commands before it.

        A signature names the key the DCC believes the slot holds and the
        signer's next counter. Two signed commands to one device in flight at
        once would race: the second signed under a key the first is replacing,
        or its counter overtaken by the one after it (a replay, to the device).
        A head-end sends a device's critical commands one after another, so
        the S1SP does too; reads and other unsigned commands go straight on.
        """
        if not (is_critical(request.srv) or command.op in CREDENTIAL_OPS):
            return await self.installation.execute(command)
        loop = asyncio.get_running_loop()
        held = self._signing.get(command.target)
        if held is None or held[0] is not loop:  # a lock belongs to one event loop
            held = self._signing[command.target] = (loop, asyncio.Lock())
        async with held[1]:
            return await self._execute_signed(request, command, role)

    async def _execute_signed(self, request: ServiceRequest, command: Command,
                              role: str | None) -> DeviceOutcome:
        """Send one command, signed if it is critical, and learn what the slots now hold.

        Only critical commands (:func:`.dco.is_critical`: supply control,
        credential updates, the prepayment and tariff families) and every
        replacement of a credential (6.21 and 8.5 too) are signed.
        The others ride the WAN session the hub and the head-end share, which
        authenticates them; an ECDSA signature and its check on every read a
        fleet sends would cost more than the rest of the command.

        When the device refuses the key the DCC believed in and a replacement
        of that slot went unconfirmed (110031: rotated, never confirmed), the
        refusal is how the DCC learns the rotation took: it adopts the new key
        and sends the command once more, signed with it.
        """
        authority = self.authority
        placing = authority.prepare(command)
        signed = (is_critical(request.srv) or command.op in CREDENTIAL_OPS) \
            and authority.sign(command, role)
        if signed:
            self.last_signed = command
        outcome = await self.installation.execute(command)
        auth = command.authorisation
        if signed and auth is not None and outcome.status is OutcomeStatus.WRONG_SIGNER \
                and authority.adopt_pending(command.target, auth.role) is not None:
            self.outcomes.append({"request_id": str(request.request_id), "op": command.op,
                                  "target": command.target, "status": str(outcome.status),
                                  "reason": f"{outcome.reason}; the unconfirmed {auth.role} "
                                            "replacement took: signing with its key"})
            command.authorisation = None
            command.args.pop("__public_key", None)
            placing = authority.prepare(command)
            authority.sign(command, role)
            self.last_signed = command
            outcome = await self.installation.execute(command)
        if placing is not None and outcome.status in (OutcomeStatus.DONE, OutcomeStatus.SILENT):
            authority.placed(command, placing, confirmed=outcome.done)
        return outcome

    def translate(self, request: ServiceRequest, outcome: DeviceOutcome) -> ServiceResponse:
        status = outcome.status
        if status is OutcomeStatus.DONE:
            return self._response(request, ResponseCode.SUCCESS, outcome.data,
                                  device_success=True, outcome=str(status))
        if status in (OutcomeStatus.REFUSED, OutcomeStatus.UNSUPPORTED):
            return self._response(request, ResponseCode.SUCCESS, {}, outcome.reason,
                                  device_success=False, outcome=str(status),
                                  device_status=outcome.zcl_status)
        return self._response(request, _CODES[status], {}, outcome.reason, outcome=str(status))

    # ---- DCC alerts ------------------------------------------------------------
    def after(self, request: ServiceRequest, response: ServiceResponse) -> None:
        if request.srv != "6.23" or not response.ok:
            return
        defect = self.quirk("cos_alert_dropped")
        if defect is not None and defect.drops(self.rng):
            return
        self.dcc_alerts.append({"alert": "CoS loss alert", "device": request.target,
                                "request_id": str(request.request_id),
                                "raised_at": self.installation.clock.now().isoformat()})
