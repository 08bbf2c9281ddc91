"""The DMCT test pack file, described once as pydantic models that both check and document.

Why models: a broken pack must be refused whole before anything runs, every fault at once with
its file, line and dotted key, and the schema ``s1bench schema pack`` gives editors must accept
exactly what the loader (:mod:`s1bench.harness.packs`) accepts. A file keys a step by its kind
(``srv: "4.1.1"``), one model per kind.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model, model_validator
from pydantic.functional_validators import AfterValidator, BeforeValidator
from s1bench.emulator.medium_faults import FaultRule
from s1bench.firmware_profiles.catalogue_models import DeviceType, SrvId
from s1bench.harness.dcc.srvs import SRVS

from s1bench import filecheck

#: Whole seconds stay integers, so a record still reads "wait 3600".
Seconds = Annotated[float, Field(ge=0), AfterValidator(lambda s: int(s) if s.is_integer() else s)]


class _Strict(BaseModel):
    """A misspelt key would read as 'not set' and a step check nothing, so none is let through."""

    model_config = ConfigDict(
        extra="forbid", coerce_numbers_to_str=True, use_attribute_docstrings=True
    )


class Alerts(_Strict):
    """Alerts the WAN side received: after migration, a flood or a silence is a defect."""

    code: str | None = None
    """Count only this alert code (hex, such as 8F84); unset counts every alert."""
    min: int | None = None
    """Fewest alerts that must have arrived."""
    max: int | None = None
    """Most alerts that may arrive; more is an alert flood (risk 11)."""
    within_s: Seconds | None = None
    """Count only the alerts of the last N seconds of virtual time."""


def _alert_code(code: str) -> str:
    """Four hex digits, upper case: how a 6.13 read writes an EventCode."""
    text = str(code).strip().upper().removeprefix("0X")
    if len(text) != 4 or any(c not in "0123456789ABCDEF" for c in text):
        raise ValueError(f"{code!r} is not a 4-digit hex alert code (such as 8F53)")
    return text


class Expect(_Strict):
    """What must hold after the step; an unmet expectation fails the step."""

    response_code: str | list[str] | None = None
    """DUIS response code wanted (I0 success, E11 wrong device, ...); a list accepts any of them."""
    body: dict[str, Any] | None = None
    """Response body fields: each equal to the value given, or there at all if it is 'present'."""
    outcome: str | None = None
    """Migration outcome wanted after a migrate step, such as migrated."""
    alerts: Alerts | None = None
    """Alert counts the WAN side must have received; what a `check: alerts` step checks."""
    joined: str | None = None
    """Device (such as $PPMID) the CHF's device log must show as joined."""
    reason: str | None = None
    """Words the response's reason must contain: a rejection for another fault is no pass."""
    acted_on: bool | None = None
    """han_inject: whether the target carried the hostile command out (read over the head-end:
    supply status for a meter, alerts relayed for the CHF); false for every HAN negative."""
    security_log: Annotated[str, AfterValidator(_alert_code)] | None = None
    """han_inject: GBCS alert code (hex, such as 8F53) one new entry of the target's security
    log must carry, read with SRV 6.13."""

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        """In the words packs always used: a misspelt expectation would pass unchecked."""
        unknown = sorted(set(data) - set(cls.model_fields)) if isinstance(data, dict) else []
        if unknown:
            known = ", ".join(cls.model_fields)
            raise ValueError(f"unknown expectation {unknown[0]!r} (known: {known})")
        return data


#: The hostile frames a han_inject step can send (s1bench.emulator.han_hostile.KINDS).
HanKind = Literal["bad_mic", "wrong_network_key", "unknown_device", "replayed_counter"]
#: The Smart Energy commands a hostile frame can carry, and the device types that take each.
HAN_COMMANDS: dict[str, tuple[str, ...]] = {"disable_supply": ("ESME", "GSME"),
                                            "publish_alert": ("CHF",)}


class HanInject(_Strict):
    """A hostile frame on the installation's HAN, from an outsider in radio range."""

    kind: HanKind
    """bad_mic (tampered), wrong_network_key, unknown_device (an outsider holding the network
    key, not in the CHF device log) or replayed_counter (a frame the target accepted, resent)."""
    command: Literal["disable_supply", "publish_alert"] | None = None
    """What it asks: disable_supply (Change Supply, to a meter) or publish_alert (a Publish
    Event, to the CHF); unset, whichever the step's device takes."""


class AlertsExpect(Expect):
    """A `check: alerts` step's expectations: without alert counts it would check nothing."""

    alerts: Alerts
    """The alert counts to check."""


def _user_names() -> list[str]:
    from s1bench.harness.dcc.dsp import default_users

    return list(default_users())


def _unknown_user(value: str) -> str:
    return f"unknown DCC user {value!r} (known: {', '.join(_user_names())})"


class _StepKeys(_Strict):
    """What any step may carry besides the one key naming its kind."""

    device: Annotated[DeviceType, BeforeValidator(lambda v: str(v).upper())] = "ESME"
    """Device type the step addresses (any case); for `srv`, one of the SRV's targets."""
    params: dict[str, Any] = Field(default_factory=dict)
    """SRV parameters; $PPMID stands for that device's id, $PPMID.install_code for its code."""
    expect: Expect = Field(default_factory=Expect)
    """What must hold after the step for it to pass."""
    raises: str | None = None
    """Known Testing Issue (or risk) a failure is, such as 110031; else a new one is raised."""
    mitigate: dict[str, Any] = Field(default_factory=dict)
    """DCC-side workarounds used under --mitigations: retry_after_s, clamp: {param: max}."""
    label: str = ""
    """What the step is for, shown in the record and reports."""
    user: Annotated[str, filecheck.OneOf(_user_names, _unknown_user)] | None = None
    """DCC user the step sends as (supplier, dno:ukpn, other...); unset: one whose role may
    send the SRV. A negative test names a user whose role may not, and expects E2."""

    @model_validator(mode="after")
    def _srv_reaches_device(self) -> Self:
        """Else the test would fail on the pack's typo, and blame the DMC for it."""
        srv = getattr(self, "srv", None)
        if srv is not None and self.device not in SRVS[srv].targets:
            raise ValueError(f"SRV {srv} does not apply to a {self.device}")
        inject = getattr(self, "han_inject", None)
        if inject is None:
            if self.expect.acted_on is not None or self.expect.security_log is not None:
                raise ValueError("expect.acted_on and expect.security_log belong to han_inject "
                                 "steps: another step would not check them")
            return self
        takes = [c for c, devices in HAN_COMMANDS.items() if self.device in devices]
        if not takes:
            raise ValueError(f"han_inject aims at a device that takes a hostile command "
                             f"(ESME, GSME or CHF), not a {self.device}")
        if inject.command is not None and inject.command not in takes:
            raise ValueError(f"a {self.device} does not take {inject.command} (it takes "
                             f"{', '.join(takes)})")
        if self.expect.acted_on is None and self.expect.security_log is None:
            raise ValueError("a han_inject step checks nothing without expect.acted_on or "
                             "expect.security_log")
        return self


#: Each step kind: the type of its value and what it does for a test.
STEP_KINDS: dict[str, tuple[Any, str]] = {
    "srv": (SrvId, "Send this Service Request Variant to the device, as the DCC would."),
    "migrate": (
        Literal["request", "validate", "credentials", "commission", "activate", "rotate"],
        "Run this migration step, in this order; rotate turns the management key within the "
        "7-day window after commissioning.",
    ),
    "wait": (Seconds, "Let this many seconds pass on the virtual clock."),
    "reproduce": (str, "Run this Testing Issue's scenario; such steps stand alone in a test."),
    "each_srv": (Literal[True], "One test per SRV the DMC supports: a success and a rejection."),
    "check": (Literal["alerts"], "Check the alerts the WAN side received against expect.alerts."),
    "each_srv_negative": (
        Literal[True],
        "One test per SRV s1bench carries out on the DMC: each bounded parameter out of range "
        "(E12) and a user whose role may not send it (E2).",
    ),
    "han_inject": (
        HanInject,
        "Put a hostile frame on the HAN to the step's device (emulator only), then read over "
        "the head-end whether it was acted on and what the device's security log gained.",
    ),
}
#: Keys a kind narrows beyond what any step may carry.
_NARROWED: dict[str, dict[str, Any]] = {
    "check": {"expect": (AlertsExpect, Field(description="What the check requires."))},
}
_STEP_MODELS = {
    kind: create_model(
        f"{kind.title().replace('_', '')}Step",
        __base__=_StepKeys,
        __doc__=why,
        **{kind: (value, Field(description=why))},
        **_NARROWED.get(kind, {}),
    )
    for kind, (value, why) in STEP_KINDS.items()
}


def _kind_tag(step: Any) -> str | None:
    """The tag of the one kind a step names; None (refused) for none, several or no mapping."""
    kinds = [kind for kind in STEP_KINDS if kind in step] if isinstance(step, dict) else []
    return f"[{kinds[0]}]" if len(kinds) == 1 else None


#: Built from the table, so spelt Union; tags are bracketed so error paths skip them.
StepFile = Annotated[
    Union[tuple(Annotated[m, Tag(f"[{kind}]")] for kind, m in _STEP_MODELS.items())],  # noqa: UP007
    Discriminator(
        _kind_tag,
        custom_error_type="step_kind",
        custom_error_message=f"a step is a mapping with exactly one of {', '.join(STEP_KINDS)}",
    ),
]


class PackTestFile(_Strict):
    """One test: its steps run in order on a fresh installation and virtual clock."""

    name: str = Field(min_length=1)
    """Names the test in records and reports; --resume matches tests by it."""
    steps: list[StepFile] = Field(min_length=1)
    """Run in order; the first failing step ends the test."""
    faults: list[FaultRule] | None = Field(default=None, min_length=1)
    """HAN faults this test's installation suffers (drop, delay, duplicate, reorder), before
    any --faults of the run; the test line records what struck."""


class PackFile(_Strict):
    """A DMCT test pack: named tests that s1bench runs against each DMC it is given."""

    pack: str | None = None
    """Id of the pack in records and reports; defaults to the file name."""
    title: str | None = None
    """Title reports give the pack; defaults to the file name."""
    tests: list[PackTestFile] = Field(min_length=1)
    """The tests; none depends on another, so any subset can run or resume."""


@filecheck.register_schema("pack", "harness/packs/*.yaml: a DMCT test pack (s1bench run PACK)")
def _pack_model() -> type[BaseModel]:
    return PackFile
