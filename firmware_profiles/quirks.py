"""Every quirk in DOMAIN.md's table, as registered behaviours.

Each class carries its Testing Issue id, the seed it comes from, what kind
of issue the seeds make of it (only Testing Issues count against the
threshold), where its severity comes from, and the DCC-side mitigation, so
`s1bench profiles show` and the reports can say what a quirk does without a
second table to keep in step. Each sits on its true side (DOMAIN.md's
table): firmware behaviours are ``device`` quirks acting on head-end
commands and HAN frames; the DSP's and S1SP's defects are ``dcc`` quirks.
Hooks get a QuirkContext (``now`` on the device's clock, a seeded RNG, a
per-device memory dict) and return an :class:`Outcome`; they never raise.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from s1bench.emulator.devices import Outcome
from s1bench.emulator.zcl import STATUS_FAILURE, STATUS_INVALID_VALUE, STATUS_NOT_AUTHORIZED

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
    severity_source = "seed 001 (downgraded from Severity 2)"
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
    severity_source = "seed 000 §4.4 (Severity 2 until fixed or OPSG confirms)"
    behaviour = "the hub refuses an 8.11 Add whose JoinTimePeriod is above max_join_s; no join"
    mitigation = "clamp JoinTimePeriod to 255"
    source = "seed 000 §3 risk 10, §4.4"
    params: ClassVar[dict[str, QuirkParam]] = {
        "max_join_s": QuirkParam("int", 255, "largest JoinTimePeriod the hub accepts", 1, 3600),
    }

    def hub_command(self, ctx: Any, command: Any) -> Outcome | None:
        if command.op != "update_device_log" or command.args.get("RequestType", "Add") != "Add":
            return None
        try:
            period = int(command.args.get("JoinTimePeriod", 0))
        except (TypeError, ValueError):
            return None
        limit = self.values["max_join_s"]
        if period <= limit:
            return None
        return Outcome(apply=False, confirm=True, status=STATUS_INVALID_VALUE,
                       reason=f"hub refused JoinTimePeriod {period} s: above its {limit} s limit")


@register
class GasFlowOncePerDay(Quirk):
    affects = ("6.7",)
    name = "gas_flow_once_per_day"
    issue = "91333"
    title = "SR 6.7 can only be run once per day"
    device_types = ("GSME",)
    severity = 2
    severity_source = "seed 000 §4.4 (Severity 2 unless accepted as a documented limitation)"
    behaviour = "a second 6.7 on the same calendar day (UTC, device clock) is refused by the device"
    mitigation = "accept as a documented limitation (space 6.7 a calendar day apart)"
    source = "seed 000 §4.4 (listed under Itron Active only)"
    params: ClassVar[dict[str, QuirkParam]] = {}

    def device_command(self, ctx: Any, device: Any, op: str, args: dict[str, Any]) -> Any:
        if op != "gas_flow":
            return None
        today = device.clock.now().date().isoformat()
        if ctx.memory.get("gas_flow_accepted_on") == today:
            return Outcome(apply=False, confirm=True, status=STATUS_FAILURE,
                           reason=f"6.7 already run on {today}")
        ctx.memory["gas_flow_accepted_on"] = today
        return None


class _ResponseCodeMissing(Quirk):
    """91339 and 91340: the S1SP writes some Service Responses without a code.

    Two issue numbers for one symptom (seed 000 §4.4 lists both for the
    Honeywell Elster Dormant DMC); s1bench keeps them as two quirks so a
    record says which one a lost code belongs to. A Service Response is the
    DCC's document, so this is the S1SP's defect, not the hub's.
    """

    affects = ("*",)
    side = "dcc"
    device_types = ("CHF",)
    severity = 2
    behaviour = "a seeded proportion of Service Responses leave the S1SP without a response code"
    mitigation = "treat a response without a code as unconfirmed and re-read the outcome"
    source = "seed 000 §4.4 (Honeywell Elster Dormant)"
    params: ClassVar[dict[str, QuirkParam]] = {
        "proportion": QuirkParam("float", 0.05, "share of responses without a code", 0.0, 1.0),
    }

    def s1sp_response(self, rng: random.Random, request: Any, response: Any) -> Any:
        if response.response_code is not None and rng.random() < self.values["proportion"]:
            response.response_code = None
            response.reason = f"S1SP wrote the response without a response code ({self.issue})"
        return response


@register
class ResponseCodeMissing91339(_ResponseCodeMissing):
    name = "response_code_missing_91339"
    issue = "91339"
    title = "A small proportion of Service Responses lack response codes (91339)"


@register
class ResponseCodeMissing91340(_ResponseCodeMissing):
    name = "response_code_missing_91340"
    issue = "91340"
    title = "A small proportion of Service Responses lack response codes (91340)"


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
    mitigation = "monitoring with regular reports: alert volumes per DMC and day (report)"
    source = "seed 000 §3 risk 11"
    kind = "residual-risk"
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
class BoostServicesRestricted(Quirk):
    affects = ("7.5", "7.6", "7.9", "7.10")
    name = "boost_services_restricted"
    issue = "liberty-110"
    title = "Boost configuration and remote override not offered for an enrolled Liberty 110"
    side = "dcc"
    kind = "restriction"
    device_types = ("ESME",)
    severity = 4
    behaviour = (
        "the S1SP's service definition for the DMC leaves out boost configuration (7.9/7.10) "
        "and remote override (7.5/7.6): rejected before anything reaches the device, whose "
        "boost button keeps working with its pre-migration loads"
    )
    mitigation = "documented restriction (DCC letter to suppliers, 8 March 2021)"
    source = "seed 002 §1 (not 'accessible via the DCC SMETS1 Core Communication Services')"
    params: ClassVar[dict[str, QuirkParam]] = {}

    def restricts(self, srv: str, device_type: str) -> str | None:
        if device_type == "ESME" and srv in self.affects:
            return (f"SRV {srv} is not in the DCC SMETS1 service definition for this DMC "
                    "(Liberty 110 restriction, seed 002)")
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
    kind = "migration-outcome"
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
    title = "A wrong DNO certificate in the slot cannot be replaced (DSP registration-data check)"
    side = "dcc"
    kind = "residual-risk"
    device_types = ("ESME",)
    severity = 3
    behaviour = (
        "when the DNO slot holds a certificate that is not the registered DNO's (left by the "
        "pre-migration operator: wrong_dno), the DSP rejects the registered DNO's 6.15.1; a "
        "correct migration never triggers it"
    )
    mitigation = "the DCC places the right DNO certificate during migration"
    source = "seed 000 §3 risk 9"
    params: ClassVar[dict[str, QuirkParam]] = {
        "wrong_dno": QuirkParam(
            "str", "", "the DNO whose certificate the pre-migration operator left in the slot "
            "('' = none: the scenario does not arise)"),
    }


@register
class MixedSupplierUnidentified(Quirk):
    name = "mixed_supplier_unidentified"
    issue = "mixed-aclara"
    title = "Responsible supplier of dormant devices in a mixed installation not identified"
    side = "dcc"
    kind = "blocker"
    device_types = ALL_DEVICES
    severity = 2
    behaviour = (
        "a migration request for a Mixed installation is rejected before any change: the DCC "
        "cannot tell which supplier answers for its dormant devices, so it is not on the EPCL"
    )
    mitigation = "fix before mixed entries are requested; until then such requests are rejected"
    source = "seed 001"
    params: ClassVar[dict[str, QuirkParam]] = {}


@register
class AnomalyDetectionHold(Quirk):
    name = "anomaly_detection_hold"
    issue = "stalled-anomaly"
    title = "Migrations stalled awaiting a change to anomaly detection settings"
    side = "dcc"
    kind = "migration-outcome"
    device_types = ALL_DEVICES
    severity = 3
    behaviour = (
        "the DCC's anomaly detection holds a seeded proportion of migrations at commissioning: "
        "they stall until its settings change"
    )
    mitigation = "the DCC changes its anomaly detection settings; the migrations complete"
    source = "seed 000 (156 migrations 'awaiting a change to anomaly detection settings')"
    params: ClassVar[dict[str, QuirkParam]] = {
        "proportion": QuirkParam("float", 1.0, "share of migrations held", 0.0, 1.0),
    }

    def holds(self, rng: random.Random) -> bool:
        """DCC role: is this migration held by anomaly detection?"""
        return rng.random() < self.values["proportion"]
