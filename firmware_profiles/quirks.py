"""Every quirk in DOMAIN.md's table, as registered behaviours.

Each class carries its Testing Issue id, the seed it comes from, and the
DCC-side mitigation, so `s1bench profiles show` and the reports can say what
a quirk does without a second table to keep in step. Hooks get a
QuirkContext (``now`` on the device's clock, a seeded RNG, a per-device
memory dict) and return an :class:`Outcome` or a response; they never raise.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from s1bench.emulator.clock import DEFAULT_EPOCH
from s1bench.emulator.devices import Outcome
from s1bench.emulator.service import ResponseCode, ServiceResponse
from s1bench.emulator.zcl import STATUS_FAILURE, STATUS_NOT_AUTHORIZED

from .quirk_base import Quirk, QuirkParam, register

ALL_DEVICES = ("ESME", "GSME", "CHF", "PPMID", "IHD")

#: Illustrative alert codes for the flood (risk 11): the seeds name none.
POWER_ALERT = 0x8F84
VOLTAGE_ALERT = 0x8014


@register
class KeyRotationUnconfirmed(Quirk):
    affects = ("6.15.1",)
    name = "key_rotation_unconfirmed"
    issue = "110031"
    title = "Key rotation applied but the first confirmation is missing"
    device_types = ("ESME", "GSME", "CHF")
    severity = 3
    behaviour = (
        "SRV 6.15.1 on the management (ACB) credential of an enrolled device "
        "rotates the key but sends no confirmation; a repeat at least retry_after_s after the "
        "first attempt is confirmed"
    )
    mitigation = "repeat the rotation >= 5 min later, within the 7-day window"
    source = "seed 001 (SEC Panel letter, 21 April 2020)"
    params: ClassVar[dict[str, QuirkParam]] = {
        "retry_after_s": QuirkParam(
            "int", 300, "seconds after the first attempt before a repeat is confirmed", 0, 86_400
        ),
    }

    def device_command(self, ctx: Any, device: Any, op: str, args: dict[str, Any]) -> Any:
        # A rotation replaces the management credential of a device the DCC
        # already controls; the migration's first replacement is not one.
        if op != "update_credential" or args.get("role") != "ACB":
            return None
        if not device.enrolled:
            return None
        first = ctx.memory.get("rotation_first_attempt")
        if first is None:
            ctx.memory["rotation_first_attempt"] = ctx.now
            return Outcome(apply=True, confirm=False, reason="first rotation not confirmed")
        if ctx.now - first >= self.values["retry_after_s"]:
            ctx.memory.pop("rotation_first_attempt", None)
            return None
        return Outcome(apply=True, confirm=False, reason="repeat too soon to be confirmed")


@register
class JoinWindowLimit(Quirk):
    affects = ("8.11",)
    name = "join_window_limit"
    issue = "91342"
    title = "SR 8.11 rejected when JoinTimePeriod exceeds 255 s"
    device_types = ("CHF",)
    severity = 2
    behaviour = "the hub refuses an 8.11 Add whose JoinTimePeriod is above max_join_s; no join"
    mitigation = "clamp JoinTimePeriod to 255"
    source = "seed 000 §3 risk 10, §4.4"
    params: ClassVar[dict[str, QuirkParam]] = {
        "max_join_s": QuirkParam("int", 255, "largest JoinTimePeriod the hub accepts", 1, 3600),
    }

    def hub_request(self, ctx: Any, request: Any) -> ServiceResponse | None:
        if request.srv != "8.11" or request.params.get("RequestType", "Add") != "Add":
            return None
        try:
            period = int(request.params.get("JoinTimePeriod", 0))
        except (TypeError, ValueError):
            return None
        limit = self.values["max_join_s"]
        if period <= limit:
            return None
        return ServiceResponse(request.request_id, request.srv, ResponseCode.NOT_APPLICABLE, {},
                               DEFAULT_EPOCH,
                               f"hub rejected JoinTimePeriod {period} s: above its {limit} s limit")


@register
class GasFlowOncePerDay(Quirk):
    affects = ("6.7",)
    name = "gas_flow_once_per_day"
    issue = "91333"
    title = "SR 6.7 can only be run once per day"
    device_types = ("GSME",)
    severity = 2
    behaviour = "a second 6.7 within period_s of the last accepted one is refused by the device"
    mitigation = "accept as a documented limitation (space 6.7 at least a day apart)"
    source = "seed 000 §4.4 (Itron Active)"
    params: ClassVar[dict[str, QuirkParam]] = {
        "period_s": QuirkParam("int", 86_400, "seconds before 6.7 is accepted again",
                               1, 7 * 86_400),
    }

    def device_command(self, ctx: Any, device: Any, op: str, args: dict[str, Any]) -> Any:
        if op != "gas_flow":
            return None
        last = ctx.memory.get("gas_flow_accepted_at")
        if last is not None and ctx.now - last < self.values["period_s"]:
            return Outcome(apply=False, confirm=True, status=STATUS_FAILURE,
                           reason="6.7 already run in the last day")
        ctx.memory["gas_flow_accepted_at"] = ctx.now
        return None


@register
class ResponseCodeMissing(Quirk):
    affects = ("*",)
    name = "response_code_missing"
    issue = "91339"
    title = "A small proportion of Service Responses lack response codes (91339 / 91340)"
    device_types = ("CHF",)
    severity = 2
    behaviour = "a seeded proportion of responses leave the hub with no ResponseCode"
    mitigation = "treat a response without a code as unconfirmed and re-read the outcome"
    source = "seed 000 §4.4 (Honeywell Elster Dormant)"
    params: ClassVar[dict[str, QuirkParam]] = {
        "proportion": QuirkParam("float", 0.05, "share of responses without a code", 0.0, 1.0),
    }

    def hub_response(self, ctx: Any, request: Any, response: ServiceResponse) -> ServiceResponse:
        rng = ctx.memory.get("missing_code_rng")
        if rng is None:
            rng = ctx.memory["missing_code_rng"] = random.Random(ctx.rng.getrandbits(64))
        if response.response_code is not None and rng.random() < self.values["proportion"]:
            response.response_code = None
            response.reason = "response arrived without a response code"
        return response


@register
class AlertFlood(Quirk):
    affects = ("6.5", "6.12")
    name = "alert_flood"
    issue = "risk-11"
    title = "Power and voltage alerts flood; DNO threshold changes rejected"
    device_types = ("ESME",)
    severity = 3
    behaviour = (
        "once migrated the meter raises power and voltage alerts on its own (alerts_per_hour) "
        "and refuses voltage (6.5) and power threshold (6.12) changes"
    )
    mitigation = "monitor alert volumes with regular reports; disable the alerts (6.22)"
    source = "seed 000 §3 risk 11"
    params: ClassVar[dict[str, QuirkParam]] = {
        "alerts_per_hour": QuirkParam("float", 4.0, "power/voltage alerts raised per hour",
                                      0, 3600),
        "reject_thresholds": QuirkParam("bool", True, "refuse 6.5 and 6.12"),
    }

    def on_start(self, ctx: Any, device: Any) -> None:
        rate = self.values["alerts_per_hour"]
        if rate <= 0:
            return

        def tick() -> None:
            if device.enrolled and not device.dumb:
                code = POWER_ALERT if ctx.rng.random() < 0.5 else VOLTAGE_ALERT
                device.raise_alert(code, "power" if code == POWER_ALERT else "voltage")
            device.clock.call_later(ctx.rng.expovariate(rate / 3600.0), tick)

        device.clock.call_later(ctx.rng.expovariate(rate / 3600.0), tick)

    def device_command(self, ctx: Any, device: Any, op: str, args: dict[str, Any]) -> Any:
        if self.values["reject_thresholds"] and op in ("voltage_thresholds", "power_thresholds"):
            return Outcome(apply=False, confirm=True, status=STATUS_NOT_AUTHORIZED,
                           reason="threshold changes are not accepted")
        return None


@register
class BoostUnavailableAfterEnrolment(Quirk):
    affects = ("7.5", "7.6", "7.9", "7.10")
    name = "boost_unavailable_after_enrolment"
    issue = "liberty-110"
    title = "Boost configuration and remote override unavailable after enrolment"
    device_types = ("ESME",)
    severity = 4
    behaviour = (
        "after the device is enrolled (its credentials replaced by the DCC), boost configuration "
        "(7.9/7.10) and remote override (7.5/7.6) are refused; boost keeps its earlier settings"
    )
    mitigation = "documented restriction (DCC letter to suppliers, 8 March 2021)"
    source = "seed 002 §1"
    params: ClassVar[dict[str, QuirkParam]] = {}

    def device_command(self, ctx: Any, device: Any, op: str, args: dict[str, Any]) -> Any:
        if op in ("boost_config", "aux_load_override") and device.enrolled:
            return Outcome(apply=False, confirm=True, status=STATUS_NOT_AUTHORIZED,
                           reason="not available once enrolled")
        return None


@register
class DumbAfterMigration(Quirk):
    affects = ("*",)
    name = "dumb_after_migration"
    issue = "dumb-mode"
    title = "Migration leaves the device operating dumb"
    device_types = ("ESME", "GSME")
    severity = 2
    behaviour = (
        "when its credentials are first replaced (migration) a seeded proportion of devices "
        "stop answering WAN-side requests (not bricked: a recovery restores them)"
    )
    mitigation = "recover the device (it is not bricked); neither rolled back nor fixed forward"
    source = "seed 000 LSC 1 and residual risk 8"
    params: ClassVar[dict[str, QuirkParam]] = {
        "proportion": QuirkParam("float", 1.0, "share of migrations that leave it dumb", 0.0, 1.0),
    }

    def device_command(self, ctx: Any, device: Any, op: str, args: dict[str, Any]) -> Any:
        if op != "update_credential" or device.enrolled:
            return None
        if ctx.rng.random() < self.values["proportion"]:
            device.dumb = True
            return Outcome(apply=True, confirm=False, reason="device stopped operating smart")
        return None


@register
class CosAlertDropped(Quirk):
    affects = ("6.23",)
    name = "cos_alert_dropped"
    issue = "61224"
    title = "Change-of-supplier loss alerts not sent in 1/3 of CoS events"
    side = "dcc"
    device_types = ALL_DEVICES
    severity = 2
    behaviour = "the DCC drops the CoS loss alert for a seeded proportion of 6.23 events"
    mitigation = "reconcile completed CoS requests against alerts sent and send the missing ones"
    source = "seed 000 §4.4"
    params: ClassVar[dict[str, QuirkParam]] = {
        "proportion": QuirkParam("float", 1 / 3, "share of CoS events without the alert", 0.0, 1.0),
    }

    def drops(self, rng: random.Random) -> bool:
        """DCC role: is this change-of-supplier loss alert lost?"""
        return rng.random() < self.values["proportion"]


@register
class DnoCertificateLocked(Quirk):
    affects = ("6.15.1",)
    name = "dno_certificate_locked"
    issue = "risk-9"
    title = "A wrong DNO certificate cannot be replaced (DSP registration-data check)"
    side = "dcc"
    device_types = ("ESME",)
    severity = 3
    behaviour = (
        "the DSP rejects a NetworkOperator credential change unless the requesting DNO "
        "matches the certificate already in the slot"
    )
    mitigation = "the DCC places the DNO certificate during migration"
    source = "seed 000 §3 risk 9"
    params: ClassVar[dict[str, QuirkParam]] = {}


@register
class MixedSupplierUnidentified(Quirk):
    name = "mixed_supplier_unidentified"
    issue = "mixed-aclara"
    title = "Responsible supplier of dormant devices in a mixed installation not identified"
    side = "dcc"
    device_types = ALL_DEVICES
    severity = 2
    behaviour = "a migration of a Mixed installation stalls: no supplier for its dormant devices"
    mitigation = "the migration request names the responsible supplier for the dormant devices"
    source = "seed 001"
    params: ClassVar[dict[str, QuirkParam]] = {}
