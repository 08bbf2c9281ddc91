"""Every quirk in DOMAIN.md's table, as registered behaviours.

Each class carries its Testing Issue id, the seed it comes from, and the
DCC-side mitigation, so `s1bench profiles show` and the reports can say what
a quirk does without a second table to keep in step.
"""

from __future__ import annotations

from .quirk_base import Quirk, QuirkParam, register

ALL_DEVICES = ("ESME", "GSME", "CHF", "PPMID", "IHD")


@register
class KeyRotationUnconfirmed(Quirk):
    name = "key_rotation_unconfirmed"
    issue = "110031"
    title = "Key rotation applied but the first confirmation is missing"
    device_types = ("ESME", "GSME", "CHF")
    severity = 3
    behaviour = (
        "SRV 6.15.1 rotates the key but the device sends no confirmation the first time; "
        "a repeat at least retry_after_s later is confirmed"
    )
    mitigation = "repeat the rotation >= 5 min later, within the 7-day window"
    source = "seed 001 (SEC Panel letter, 21 April 2020)"
    params = {
        "retry_after_s": QuirkParam(
            "int", 300, "seconds after the first attempt before a repeat is confirmed", 0, 86_400
        ),
    }


@register
class JoinWindowLimit(Quirk):
    name = "join_window_limit"
    issue = "91342"
    title = "SR 8.11 rejected when JoinTimePeriod exceeds 255 s"
    device_types = ("CHF",)
    severity = 2
    behaviour = "the hub refuses an 8.11 Add whose JoinTimePeriod is above max_join_s; no join"
    mitigation = "clamp JoinTimePeriod to 255"
    source = "seed 000 §3 risk 10, §4.4"
    params = {
        "max_join_s": QuirkParam("int", 255, "largest JoinTimePeriod the hub accepts", 1, 3600),
    }


@register
class GasFlowOncePerDay(Quirk):
    name = "gas_flow_once_per_day"
    issue = "91333"
    title = "SR 6.7 can only be run once per day"
    device_types = ("GSME",)
    severity = 2
    behaviour = "a second 6.7 within period_s of the last accepted one is refused by the device"
    mitigation = "accept as a documented limitation (space 6.7 at least a day apart)"
    source = "seed 000 §4.4 (Itron Active)"
    params = {
        "period_s": QuirkParam("int", 86_400, "seconds before 6.7 is accepted again", 1, 7 * 86_400),
    }


@register
class ResponseCodeMissing(Quirk):
    name = "response_code_missing"
    issue = "91339"
    title = "A small proportion of Service Responses lack response codes (91339 / 91340)"
    device_types = ("CHF",)
    severity = 2
    behaviour = "a seeded proportion of responses leave the hub with no ResponseCode"
    mitigation = "treat a response without a code as unconfirmed and re-read the outcome"
    source = "seed 000 §4.4 (Honeywell Elster Dormant)"
    params = {
        "proportion": QuirkParam("float", 0.05, "share of responses without a code", 0.0, 1.0),
    }


@register
class AlertFlood(Quirk):
    name = "alert_flood"
    issue = "risk-11"
    title = "Power and voltage alerts flood; DNO threshold changes rejected"
    device_types = ("ESME",)
    severity = 3
    behaviour = (
        "the meter raises power and voltage alerts on its own (alerts_per_hour) and refuses "
        "voltage (6.5) and power threshold (6.12) changes"
    )
    mitigation = "monitor alert volumes with regular reports; BEIS device issue process"
    source = "seed 000 §3 risk 11"
    params = {
        "alerts_per_hour": QuirkParam("float", 4.0, "power/voltage alerts raised per hour", 0, 3600),
        "reject_thresholds": QuirkParam("bool", True, "refuse 6.5 and 6.12"),
    }


@register
class BoostUnavailableAfterEnrolment(Quirk):
    name = "boost_unavailable_after_enrolment"
    issue = "liberty-110"
    title = "Boost configuration and remote override unavailable after enrolment"
    device_types = ("ESME",)
    severity = 4
    behaviour = (
        "after the device is enrolled (commissioned by the DCC), boost configuration and "
        "remote override requests are not reachable; boost keeps its pre-migration settings"
    )
    mitigation = "documented restriction (DCC letter to suppliers, 8 March 2021)"
    source = "seed 002 §1"
    params = {}


@register
class DumbAfterMigration(Quirk):
    name = "dumb_after_migration"
    issue = "dumb-mode"
    title = "Migration leaves the device operating dumb"
    device_types = ("ESME", "GSME")
    severity = 2
    behaviour = (
        "when its credentials are replaced during migration a seeded proportion of devices "
        "stop answering WAN-side requests (not bricked: a recovery restores them)"
    )
    mitigation = "recover the device (it is not bricked); neither rolled back nor fixed forward"
    source = "seed 000 LSC 1 and residual risk 8"
    params = {
        "proportion": QuirkParam("float", 1.0, "share of migrations that leave it dumb", 0.0, 1.0),
    }


@register
class CosAlertDropped(Quirk):
    name = "cos_alert_dropped"
    issue = "61224"
    title = "Change-of-supplier loss alerts not sent in 1/3 of CoS events"
    side = "dcc"
    device_types = ALL_DEVICES
    severity = 2
    behaviour = "the DCC drops the CoS loss alert for a seeded proportion of 6.23 events"
    mitigation = "fix in the DCC; until then the DMC waits"
    source = "seed 000 §4.4"
    params = {
        "proportion": QuirkParam("float", 1 / 3, "share of CoS events without the alert", 0.0, 1.0),
    }


@register
class DnoCertificateLocked(Quirk):
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
    params = {}


@register
class MixedSupplierUnidentified(Quirk):
    name = "mixed_supplier_unidentified"
    issue = "mixed-aclara"
    title = "Responsible supplier of dormant devices in a mixed installation not identified"
    side = "dcc"
    device_types = ALL_DEVICES
    severity = 2
    behaviour = "a migration of a Mixed installation stalls: no supplier for its dormant devices"
    mitigation = "fix before mixed entries go on the EPCL"
    source = "seed 001"
    params = {}
