"""The Service Reference Variants the DCC side knows: names, targets, parameters.

Names are DUIS's own (from the request templates' body element). Parameter
names are the DUIS leaf element names, so a DUIS XML body maps onto them
without a translation table. Validation here is the DCC-side check every
request passes before it reaches a hub; a failure is a rejection with a
reason, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from s1bench.emulator.devices import CHF, ESME, GSME, IHD, PPMID

__all__ = ["CHF", "ESME", "GSME", "IHD", "PPMID", "SRVS", "ParamSpec", "SrvSpec"]
METERS = (ESME, GSME)


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: its kind and the range the DCC would accept."""

    kind: str  # int | str | hex | datetime | enum | bool | cert | eui64 | digits
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    #: Other names DUIS bodies use for this parameter (flattened leaf or ``leaf@attr``).
    aliases: tuple[str, ...] = ()

    def coerce(self, name: str, value: Any) -> Any:
        """Return the value in its Python type, or raise ValueError naming the parameter."""
        if isinstance(value, list) and self.kind != "str":
            # A repeated DUIS leaf (e.g. one per boost load): s1bench acts on the first.
            value = value[0] if value else None
        try:
            return self._coerce(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"parameter {name}: {exc}") from None

    def _coerce(self, value: Any) -> Any:
        if self.kind == "int":
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise ValueError(f"{value!r} is not a whole number") from None
            if self.minimum is not None and number < self.minimum:
                raise ValueError(f"{number} is below the minimum {self.minimum}")
            if self.maximum is not None and number > self.maximum:
                raise ValueError(f"{number} is above the maximum {self.maximum}")
            return number
        if self.kind == "float":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{value!r} is not a number") from None
        if self.kind == "enum":
            text = str(value)
            if text not in self.choices:
                raise ValueError(f"{text!r} is not one of {', '.join(self.choices)}")
            return text
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise ValueError(f"{value!r} is not a boolean")
        if self.kind == "hex":
            text = str(value).strip()
            raw = bytes.fromhex(text)
            if self.minimum is not None and len(raw) < self.minimum:
                raise ValueError(f"{len(raw)} bytes is shorter than {self.minimum}")
            if self.maximum is not None and len(raw) > self.maximum:
                raise ValueError(f"{len(raw)} bytes is longer than {self.maximum}")
            return raw
        if self.kind == "datetime":
            if isinstance(value, datetime):
                return value
            try:
                return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
        if self.kind == "digits":
            text = str(value).strip()
            if not text.isdigit():
                raise ValueError(f"{text!r} is not all digits")
            if self.minimum is not None and len(text) < self.minimum:
                raise ValueError(f"{text!r} has fewer than {self.minimum} digits")
            if self.maximum is not None and len(text) > self.maximum:
                raise ValueError(f"{text!r} has more than {self.maximum} digits")
            return text
        if self.kind == "eui64":
            from s1bench.emulator.headend import eui64_int, eui64_str

            return eui64_str(eui64_int(str(value)))
        text = str(value)
        if self.maximum is not None and len(text) > self.maximum:
            raise ValueError(f"{len(text)} characters is longer than {self.maximum}")
        return text


@dataclass(frozen=True, slots=True)
class SrvSpec:
    """What one SRV is called, which device types it targets, what it takes."""

    srv: str
    name: str
    targets: tuple[str, ...]
    params: dict[str, ParamSpec] = field(default_factory=dict)
    summary: str = ""

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Coerce known parameters and fill defaults; raise ValueError on the first fault.

        Parameters the SRV does not define are kept as given: DUIS bodies carry
        fields (MPxNs, floor sequence numbers) the emulator does not act on.
        """
        out = dict(params)
        for name, spec in self.params.items():
            if params.get(name) is None:
                alias = next((a for a in spec.aliases if params.get(a) is not None), None)
                if alias is not None:
                    params = {**params, name: params[alias]}
            if name in params and params[name] is not None:
                out[name] = spec.coerce(name, params[name])
            elif spec.required:
                raise ValueError(f"parameter {name} is required for SRV {self.srv}")
            elif spec.default is not None:
                out[name] = spec.default
        return out


# DUIS 5.4 schema type RemotePartyRole.
_ROLES = ("ACB", "NetworkOperator", "Recovery", "Root", "Supplier", "TransCoS", "LoadController")


def _spec(
    srv: str, name: str, targets: tuple[str, ...], summary: str, **params: ParamSpec
) -> SrvSpec:
    return SrvSpec(srv, name, targets, dict(params), summary)


SRVS: dict[str, SrvSpec] = {
    s.srv: s
    for s in (
        _spec(
            "1.2.1",
            "UpdatePricePrimaryElement",
            METERS,
            "Publish a new price (TOU or block) to the meter",
            StandingCharge=ParamSpec("int", minimum=0, maximum=2**32 - 1, default=0),
            PriceScale=ParamSpec("int", minimum=-128, maximum=127, default=-5),
            TOUPrice=ParamSpec("int", minimum=0, maximum=2**32 - 1),
            BlockPrice=ParamSpec("int", minimum=0, maximum=2**32 - 1),
        ),
        _spec(
            "2.5",
            "ActivateEmergencyCredit",
            METERS,
            "Activate emergency credit on a prepayment meter",
        ),
        _spec(
            "2.2",
            "TopUpDevice",
            METERS,
            "Add credit from a UTRN",
            UTRN=ParamSpec("digits", required=True, minimum=20, maximum=20),
        ),
        _spec(
            "3.1",
            "DisplayMessage",
            (ESME, GSME, IHD, PPMID),
            "Show a supplier message",
            SupplierMessage=ParamSpec("str", required=True, maximum=80),
        ),
        _spec("4.1.1", "ReadInstantaneousImportRegisters", METERS, "Read import registers"),
        _spec("4.3", "ReadInstantaneousPrepayValues", METERS, "Read prepayment values"),
        _spec("4.18", "ReadMeterBalance", METERS, "Read the meter balance"),
        _spec(
            "6.5",
            "UpdateDeviceConfigurationVoltage",
            (ESME,),
            "Set voltage thresholds",
            RMSExtremeOverVoltageThreshold=ParamSpec("int", minimum=0, maximum=65535),
            RMSExtremeUnderVoltageThreshold=ParamSpec("int", minimum=0, maximum=65535),
            RMSVoltageSagThreshold=ParamSpec("int", minimum=0, maximum=65535),
            RMSVoltageSwellThreshold=ParamSpec("int", minimum=0, maximum=65535),
        ),
        _spec(
            "6.7",
            "UpdateDeviceConfigurationGasFlow",
            (GSME,),
            "Set uncontrolled gas flow",
            UncontrolledGasFlowRate=ParamSpec("int", minimum=0, maximum=65535, default=61680),
            StabilisationPeriod=ParamSpec("int", minimum=0, maximum=255, default=60),
            MeasurementPeriod=ParamSpec("int", minimum=0, maximum=65535, default=300),
        ),
        _spec(
            "6.11",
            "SynchroniseClock",
            (ESME, GSME),
            "Set the device clock",
            CurrentDateTime=ParamSpec("datetime"),
            TolerancePeriod=ParamSpec("int", minimum=0, maximum=86_400, default=60),
        ),
        _spec(
            "6.12",
            "UpdateDeviceConfigurationInstantaneousPowerThreshold",
            (ESME,),
            "Set power thresholds",
            LowMediumPowerThreshold=ParamSpec("int", required=True, minimum=0, maximum=2**31 - 1),
            MediumHighPowerThreshold=ParamSpec("int", required=True, minimum=0, maximum=2**31 - 1),
        ),
        _spec(
            "6.13",
            "ReadEventOrSecurityLog",
            (ESME, GSME, CHF),
            "Read a log",
            LogToRead=ParamSpec(
                "enum",
                choices=(
                    "Event",
                    "ALCSEvent",
                    "PowerEvent",
                    "Security",
                    "GSMEEvent",
                    "GSMESecurity",
                ),
                default="Event",
            ),
        ),
        _spec(
            "6.15.1",
            "UpdateSecurityCredentialsKRP",
            (ESME, GSME, CHF),
            "Replace a remote party's credentials (key rotation)",
            RemotePartyRole=ParamSpec("enum", choices=_ROLES, default="ACB"),
            DigitalSigningCertificate=ParamSpec("str"),
        ),
        _spec(
            "6.22",
            "ConfigureAlertBehaviour",
            (ESME, GSME),
            "Enable or disable alerts",
            AlertCode=ParamSpec("str", maximum=4),
            Setting=ParamSpec("enum", choices=("Enable", "Disable"), default="Enable"),
        ),
        _spec(
            "6.23",
            "UpdateSecurityCredentialsCoS",
            (ESME, GSME),
            "Change of supplier: replace the supplier credentials",
            DigitalSigningCertificate=ParamSpec("str"),
            ImportMPxN=ParamSpec("str", maximum=13),
        ),
        _spec(
            "6.24.1",
            "RetrieveDeviceSecurityCredentialsKRP",
            (ESME, GSME, CHF),
            "Read which credentials a device holds (fingerprints only)",
        ),
        _spec("7.1", "EnableSupply", (ESME, GSME), "Enable supply"),
        _spec("7.2", "DisableSupply", (ESME, GSME), "Disable supply"),
        _spec("7.3", "ArmSupply", (ESME, GSME), "Arm supply"),
        _spec("7.4", "ReadSupplyStatus", (ESME, GSME), "Read supply status"),
        _spec(
            "7.5",
            "ActivateAuxiliaryLoad",
            (ESME,),
            "Remote override: switch an auxiliary load on",
            AuxiliaryLoad=ParamSpec(
                "int", minimum=1, maximum=5, default=1, aliases=("ActivateALCSHCALCS@index",)
            ),
            DurationMinutes=ParamSpec(
                "int", minimum=1, maximum=1440, default=30, aliases=("Duration",)
            ),
        ),
        _spec(
            "7.6",
            "DeactivateAuxiliaryLoad",
            (ESME,),
            "Remote override: switch an auxiliary load off",
            AuxiliaryLoad=ParamSpec(
                "int", minimum=1, maximum=5, default=1, aliases=("DeactivateALCSHCALCS@index",)
            ),
        ),
        _spec(
            "7.9",
            "AddAuxiliaryLoadToBoostButton",
            (ESME,),
            "Add a load to the boost button",
            AuxiliaryLoad=ParamSpec(
                "int", minimum=1, maximum=5, default=1, aliases=("AddToBoostButton@index",)
            ),
        ),
        _spec(
            "7.10",
            "RemoveAuxiliaryLoadFromBoostButton",
            (ESME,),
            "Remove a load from the boost button",
            AuxiliaryLoad=ParamSpec(
                "int", minimum=1, maximum=5, default=1, aliases=("RemoveFromBoostButton@index",)
            ),
        ),
        _spec("7.11", "ReadBoostButtonDetails", (ESME,), "Read the boost button configuration"),
        _spec("8.2", "ReadInventory", (CHF,), "Read the installation's inventory over the HAN"),
        _spec(
            "8.7.1",
            "JoinServiceCritical",
            (ESME, GSME),
            "Join a PPMID or IHD to a meter",
            OtherDeviceID=ParamSpec("eui64", required=True),
        ),
        _spec(
            "8.7.2",
            "JoinServiceNonCritical",
            (ESME, GSME),
            "Join a meter to another device",
            OtherDeviceID=ParamSpec("eui64", required=True),
        ),
        _spec(
            "8.8.1",
            "UnjoinServiceCritical",
            (ESME, GSME),
            "Unjoin a device from a meter",
            OtherDeviceID=ParamSpec("eui64", required=True),
        ),
        _spec(
            "8.8.2",
            "UnjoinServiceNonCritical",
            (ESME, GSME),
            "Unjoin a device from a meter",
            OtherDeviceID=ParamSpec("eui64", required=True),
        ),
        _spec("8.9", "ReadDeviceLog", (CHF,), "Read the CHF device log"),
        _spec(
            "8.11",
            "UpdateHANDeviceLog",
            (CHF,),
            "Add a device to, or remove it from, the CHF device log",
            DeviceID=ParamSpec("eui64", required=True),
            RequestType=ParamSpec("enum", choices=("Add", "Remove"), default="Add"),
            # DUIS 5.4 allows up to 3600 s; the hub splits it into <= 254 s windows.
            JoinTimePeriod=ParamSpec("int", minimum=1, maximum=3600, default=90),
            InstallCode=ParamSpec("hex", minimum=6, maximum=18),
        ),
        _spec(
            "11.2", "ReadFirmwareVersion", (ESME, GSME, CHF, PPMID, IHD), "Read firmware version"
        ),
    )
}


def spec_for(srv: str) -> SrvSpec | None:
    return SRVS.get(srv)
