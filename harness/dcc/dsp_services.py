"""The DSP's own services, and its answer to SRVs the SMETS1 service does not have.

Some SRVs never reach a device: DUIS sends them with command variant 8
("Service Response from DCC", DCC only) and the DSP answers them from its
own data, synchronously. s1bench's DSP keeps that data here:

* the **inventory** (the DCC's Smart Metering Inventory for the installation
  it serves): each device's id, type and SMI status, and the manufacturer,
  model and firmware the DMC's catalogue gives it. 8.2 ReadInventory reads
  it (``DSPInventory``); 8.3 DecommissionDevice, 8.4 UpdateInventory, 8.6
  ServiceOptIn, 8.14.x Communications Hub status updates and 12.2 Device
  Pre-notification change it. A device the inventory no longer holds in
  service gets E5 from the DSP for every later SRV (the DSP checks SMI
  status before anything reaches the S1SP);
* the **schedules** of 5.1 CreateSchedule (``DSPScheduleID``), read by 5.2
  (``DSPSchedulesRead``) and deleted by 5.3. A schedule runs on the virtual
  clock: at each occurrence the DSP sends the scheduled read to the S1SP as
  itself (the MMC schema: for a DSP-scheduled request the response is
  "between the device and the DSP"), and the outcome is recorded like any
  other exchange;
* the **WAN matrix** of 12.1 RequestWANMatrix (``DSPWANMatrix``);
* **firmware images** of 11.1 UpdateFirmware: the DSP takes the image and
  answers at once (the template's command variant 8; ``DSPUpdateFirmwareWarning``
  names the devices it will not send to), then the S1SP distributes it over the
  HAN to each listed meter, which holds it until 11.3 ActivateFirmware (in the
  SMETS1 service) activates it by its SHA-256. The MMC schema has no
  ``SMETSData`` for 11.1 because no device answers it.

Every answer carries the payload element ``sr:ResponseMessage`` allows for
it (schema order, schema limits), or none where the schema gives none
(8.3, 8.4, 8.14.x, 12.2, 5.3), so each document validates against DUIS 5.4.

**SRVs outside the SMETS1 service.** The SMETS1 service is the set of SRVs
whose response the MMC schema types as ``SMETSData``
(:func:`~s1bench.harness.dcc.service_catalogue.smets1_service`). Any other
DUIS SRV (11.4 UpdatePPMIDFirmware, 8.13
ReturnLocalCommandResponse, 6.2.3, 6.14.3, ...) exists only for SMETS2
devices or DCC systems s1bench does not emulate, and is not one of the DSP's
own. The DSP answers it itself, before the S1SP, with **E11** ("SRV not
compatible with the device type", DOMAIN.md): the devices s1bench emulates
are SMETS1, and E11 is the code the DUIS table gives for an SRV the target
device's type cannot take. The response says so in its reason.

**Codes.** Only codes whose meaning DOMAIN.md gives are used: E5 (SMI status
incompatible with the SRV), E11 (SRV or variant not for this device type),
E12 (a parameter the DSP cannot accept, as s1bench uses it everywhere) and
E19 (device not in the inventory). DUIS also has SRV-specific codes for
these services (E0501xx, E0502xx, W050201, E0803xx, E0804xx, E1202xx...),
but their meanings are not in s1bench's sources, so s1bench does not use
them. Where a read or delete matches nothing (a schedule id nobody created,
an address the inventory does not hold) the DSP answers I0 without a payload
and says so in the reason: the schema has no empty ``DSPInventory`` or
``DSPSchedulesRead`` (both need at least one entry).

Status rules where DUIS's own are not in the sources are s1bench's model and
are stated at each service; each one is the least surprising reading of the
service's name and the schema's enumerations.
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from .messages import RequestID, ResponseCode, ServiceRequest, ServiceResponse
from .service_catalogue import smets1_service

log = structlog.get_logger("s1bench.dsp")

#: The DCC's own EUI-64: DCC-only requests (command variant 8) name it as their
#: RequestID target (every such DUIS template does), and the DSP signs scheduled
#: requests with it.
DCC_EUI = "90-B3-D5-1F-30-00-00-02"
#: The device type the DSP's checks see for a request addressed to the DCC itself.
DCC_TARGET = "DCC"

#: SRV -> its DUIS request body element: the services the DSP carries out itself.
DSP_SRVS: dict[str, str] = {
    "5.1": "CreateSchedule",
    "5.2": "ReadSchedule",
    "5.3": "DeleteSchedule",
    "8.2": "ReadInventory",
    "8.3": "DecommissionDevice",
    "8.4": "UpdateInventory",
    "8.6": "ServiceOptIn",
    "8.14.1": "CHFInstallSuccessSMWAN",
    "8.14.2": "CHFInstallSuccessNoSMWAN",
    "8.14.3": "CHFFaultReturn",
    "8.14.4": "CHFNoFaultReturn",
    "12.1": "RequestWANMatrix",
    "12.2": "DevicePrenotification",
    "11.1": "UpdateFirmware",
}

#: SRVs the DCC's own processes still send to the installation: the migration's
#: validation reads "the installation's inventory from the CH and devices"
#: (DOMAIN.md, migration step 2), which is a head-end read of what the devices
#: report, not the DSP's records (which would always match the request).
DCC_PROCESS_HEADEND = frozenset({"8.2"})

#: DSP SRVs whose success can take a device out of service (decommission, a hub's
#: return, an inventory status change or deletion): every later SRV to that device
#: gets E5 or E19. A runner of a request corpus that wants the other requests to
#: find the installation in service sends these last.
TAKES_OUT_OF_SERVICE = frozenset({"8.3", "8.4", "8.14.3", "8.14.4"})

#: The ``sr:ResponseMessage`` payload elements the DSP writes.
PAYLOAD_ELEMENTS = frozenset({"DSPUpdateFirmwareWarning", "DSPInventory", "DSPOptIn",
                              "DSPScheduleID", "DSPSchedulesRead", "DSPWANMatrix"})

#: sr:DeviceType and sr:DeviceStatus, in schema order.
DEVICE_TYPES = ("ESME", "GSME", "GPF", "CHF", "HCALCS", "PPMID", "IHD", "CAD")
DEVICE_STATUSES = ("Pending", "Whitelisted", "InstalledNotCommissioned", "Commissioned",
                   "Decommissioned", "Withdrawn", "Suspended", "Recovery", "Recovered")
#: SMI statuses in which a device takes SRVs (s1bench's model: a device the DCC
#: has installed or commissioned; every other status is E5).
IN_SERVICE = frozenset({"Commissioned", "InstalledNotCommissioned"})
#: sr:ESMEVariant.
ESME_VARIANTS = frozenset({"A", "B", "C", "AD", "BD", "CD", "ADE", "BDE", "CDE", "ADF", "BDF",
                           "CDF", "ADEF", "BDEF", "CDEF", "ADG", "ADEG", "AF", "BF", "CF", "AEF",
                           "BEF", "CEF", "AG", "AEG"})
#: sr:ScheduleFrequency -> months between runs (0: days, see _FREQUENCY_DAYS).
_FREQUENCY_MONTHS = {"Daily": 0, "Weekly": 0, "Monthly": 1, "Quarterly": 3, "Half-Yearly": 6,
                     "Yearly": 12}
_FREQUENCY_DAYS = {"Daily": 1, "Weekly": 7}

#: Scheduled SRV variant -> whether its DSPSchedule choice carries a read-log
#: period (sr:ReadLogPeriodOffset) or is empty (sr:DSPReadData, sr:RecordNetworkDataGAS).
#: The variants are the schema's DSPScheduledServiceReferenceVariant list; the
#: choice element is "DSP" + the SRV's DUIS name (a test checks both against the schema).
SCHEDULABLE: dict[str, bool] = {
    "4.2": False, "4.6.1": True, "4.6.2": True, "4.8.1": True, "4.8.2": True, "4.8.3": True,
    "4.10": True, "4.12.1": False, "4.12.2": False, "4.14": True, "4.15": False,
    "4.16": False, "4.17": True, "14.1": False,
}
_PERIOD_FIELDS = ("StartDateOffset", "StartTime", "EndDateOffset", "EndTime")
#: DSPSchedulesRead holds at most 99 schedules; DSPInventory at most 17 devices.
_MAX_SCHEDULES_READ = 99
_MAX_INVENTORY = 17
#: What the inventory says serves a device's installation (sr:Device/S1SP).
S1SP_NAME = "s1bench"


class Refusal(Exception):
    """A DSP service refusing a request: the DUIS code and why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class InventoryRecord:
    """One device as the DSP's inventory holds it (the fields of sr:Device it can fill)."""

    device_id: str
    device_type: str
    status: str
    manufacturer: str
    model: str
    firmware_version: str | None = None
    #: The comms hub of the installation the device belongs to (None: not installed).
    installation: str | None = None
    smets_chts_version: str | None = None
    esme_variant: str | None = None
    import_mpxn: str | None = None
    secondary_import_mpan: str | None = None
    export_mpan: str | None = None
    #: What the 8.6 / 8.14.x notifications told the DSP, kept for the record.
    notes: dict[str, Any] = field(default_factory=dict)

    def as_device(self) -> dict[str, Any]:
        """sr:Device, in schema order, with only what the DSP knows.

        Manufacturer and model are clipped to the schema's 30 characters; a
        firmware version longer than the schema's 8 is left out rather than
        clipped, because a shortened version would name another firmware.
        """
        out: dict[str, Any] = {
            "DeviceID": self.device_id, "DeviceType": self.device_type,
            "DeviceStatus": self.status, "DeviceManufacturer": self.manufacturer[:30],
            "DeviceModel": self.model[:30],
        }
        if self.smets_chts_version:
            out["SMETSCHTSVersion"] = self.smets_chts_version
        if self.firmware_version and 1 <= len(self.firmware_version) <= 8:
            out["DeviceFirmwareVersion"] = self.firmware_version
        for key, value in (("ImportMPxN", self.import_mpxn),
                           ("SecondaryImportMPAN", self.secondary_import_mpan),
                           ("ExportMPAN", self.export_mpan), ("ESMEVariant", self.esme_variant)):
            if value:
                out[key] = value
        if self.installation is not None:
            # The schema's CSPRegion names SMETS1 installations as a region of their own.
            out["CSPRegion"] = "SMETS1"
            out["S1SP"] = S1SP_NAME
        return out


@dataclass
class Schedule:
    """One DSP schedule (5.1), as 5.2 reads it back."""

    schedule_id: int
    owner: str
    owner_eui: str
    srv: str
    device_id: str
    frequency: str
    start: date
    end: date | None
    at: time
    #: The sr:DSPSchedule fields in schema order (what 5.2 returns).
    details: dict[str, Any]
    runs: int = 0
    removed: str | None = None


Runner = Callable[[ServiceRequest, Any], Awaitable[Any]]


def _text(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    return str(value).strip()


def _required(params: dict[str, Any], name: str, srv: str) -> str:
    value = _text(params, name)
    if not value:
        raise Refusal(ResponseCode.NOT_APPLICABLE, f"parameter {name} is required for SRV {srv}")
    return value


def _bounded(name: str, value: str, low: int, high: int) -> str:
    if not low <= len(value) <= high:
        raise Refusal(ResponseCode.NOT_APPLICABLE,
                      f"parameter {name} {value!r} must be {low} to {high} characters")
    return value


def _one_of(name: str, value: str, allowed: Any) -> str:
    if value not in allowed:
        raise Refusal(ResponseCode.NOT_APPLICABLE,
                      f"parameter {name} {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def _eui(params: dict[str, Any], name: str, srv: str) -> str:
    from s1bench.emulator.headend import eui64_int, eui64_str

    text = _required(params, name, srv)
    try:
        return eui64_str(eui64_int(text))
    except ValueError as exc:
        raise Refusal(ResponseCode.NOT_APPLICABLE, f"parameter {name}: {exc}") from None


def _date(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise Refusal(ResponseCode.NOT_APPLICABLE, f"parameter {name} {text!r} is not a date"
                      ) from None


def _time(name: str, text: str) -> time:
    try:
        moment = time.fromisoformat(text.strip())
    except ValueError:
        raise Refusal(ResponseCode.NOT_APPLICABLE, f"parameter {name} {text!r} is not a time"
                      ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _xs_time(moment: time) -> str:
    """A time as xs:time writes it: what the DSP stores is what 5.2 can echo validly."""
    return moment.isoformat().replace("+00:00", "Z")


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@cache
def broker_key_agreement_certificate(seed: int | str = 0) -> bytes:
    """DER of the key-agreement certificate 8.6 hands out as the DSP broker's.

    A *test* identity (P-256, self-signed, derived from the seed so runs are
    reproducible), like the S1SP's signing identity: s1bench holds no DCC key.
    Its subject says so. Only the certificate ever leaves this function.
    """
    digest = hashlib.sha256(f"s1bench-dsp-broker-ka:{seed}".encode()).digest()
    # Any scalar in 1..2**255 lies below P-256's group order.
    key = ec.derive_private_key(int.from_bytes(digest, "big") % (2**255) + 1, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(
        NameOID.COMMON_NAME, "s1bench DSP broker key agreement (emulated, not a DCC key)")])
    public = key.public_key()
    spki = public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(int.from_bytes(hashlib.sha256(spki).digest()[:16], "big") >> 1 or 1)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def outside_service_reason(srv: str) -> str | None:
    """Why the DSP answers ``srv`` with E11 itself, or None when it is not its to refuse.

    SRVs of the SMETS1 service go on to the S1SP, the DSP's own SRVs to
    :class:`DspServices`; everything else DUIS defines exists only for SMETS2
    devices or DCC systems s1bench does not emulate.
    """
    if srv in DSP_SRVS or srv in smets1_service():
        return None
    return (f"SRV {srv} is outside the DCC's SMETS1 service (the MMC schema has no SMETS1 "
            "response, SMETSData, for it: it serves SMETS2 devices or DCC systems only) and "
            "is not a DSP service; the DSP answers E11, SRV not compatible with the device "
            "type, because the devices of a SMETS1 installation cannot take it")


class DspServices:
    """The DSP's inventory, schedules and WAN matrix for one installation, and their SRVs."""

    def __init__(self, dsp: Any, installation: Any, *, seed: int = 0,
                 runner: Runner | None = None) -> None:
        self.dsp = dsp
        self.installation = installation
        self.seed = seed
        #: Carries out a scheduled request (the DccRole's S1SP path); None: store only.
        self.runner = runner
        self.inventory: dict[str, InventoryRecord] = {}
        self.schedules: dict[int, Schedule] = {}
        self._next_schedule = 1
        self._scheduled_counter = 0
        self._tasks: set[asyncio.Future[Any]] = set()
        #: What the S1SP's distribution of each 11.1 image did, per device.
        self.firmware_deliveries: list[dict[str, Any]] = []
        self._build_inventory()

    # ---- what the DSP answers itself --------------------------------------------------
    @staticmethod
    def answers(srv: str, role: str | None) -> bool:
        """True when the DSP carries ``srv`` out itself for a sender of this role."""
        if srv not in DSP_SRVS:
            return False
        return not (role == "DCC" and srv in DCC_PROCESS_HEADEND)

    def _build_inventory(self) -> None:
        """The installation's devices, as the DCC knows them once it serves them.

        Every device starts Commissioned (the DSP's status check already treats
        a device it has no record for as commissioned); manufacturer, model and
        firmware are the DMC catalogue's, which is what the DCC registered.
        """
        inst = self.installation
        hub = inst.hub_eui
        order = {t: i for i, t in enumerate(dict.fromkeys(("CHF", *DEVICE_TYPES)))}
        for eui, label in sorted(inst.labels.items(),
                                 key=lambda kv: (order.get(kv[1].device_type, 99), kv[0])):
            info = self._device_info(label.device_type, eui)
            self.inventory[eui] = InventoryRecord(
                eui, label.device_type, "Commissioned",
                info.manufacturer if info else "unknown", info.model if info else "unknown",
                info.firmware_version if info else None, installation=hub)

    def _device_info(self, device_type: str, eui: str) -> Any:
        hub = self.installation.hub
        if device_type == "CHF":
            return hub.info
        return hub.known.get(int(eui.replace("-", ""), 16))

    def record(self, eui: str) -> InventoryRecord | None:
        return self.inventory.get(eui.upper())

    def status_refusal(self, request: ServiceRequest) -> ServiceResponse | None:
        """E5 for an SRV to a device the inventory holds outside service (s1bench's model)."""
        record = self.record(request.target)
        if record is None or record.status in IN_SERVICE:
            return None
        return self._response(request, ResponseCode.DEVICE_STATUS, {},
                              f"device {record.device_id} is {record.status} in the DSP's "
                              f"inventory; SRVs reach only {' or '.join(sorted(IN_SERVICE))} "
                              "devices")

    def outside_service(self, request: ServiceRequest, reason: str) -> ServiceResponse:
        return self._response(request, ResponseCode.SRV_NOT_FOR_DEVICE, {}, reason)

    def _response(self, request: ServiceRequest, code: str, body: dict[str, Any],
                  reason: str | None) -> ServiceResponse:
        return ServiceResponse(request.request_id, request.srv, code, body,
                               self.installation.clock.now(), reason, answered_by="dsp")

    def carry_out(self, request: ServiceRequest, user: Any) -> ServiceResponse:
        """One of the DSP's own SRVs, answered from its data (synchronously, as CV 8 is).

        DUIS addresses these to the DCC itself; s1bench's harness (and
        ``s1bench duis``) addresses them to the installation's comms hub, the
        device the DCC reaches the installation through. Addressed to any other
        device they are E11: the device's type cannot take a DCC-only request.
        """
        addressed = self.inventory.get(request.target)
        if request.target != DCC_EUI and addressed is not None \
                and addressed.device_type != "CHF":
            return self._response(
                request, ResponseCode.SRV_NOT_FOR_DEVICE, {},
                f"SRV {request.srv} is a DCC-only request, addressed to the DCC (or the "
                f"installation's comms hub), not to a {addressed.device_type}; the device it "
                "concerns goes in the body (DeviceID)")
        handler = getattr(self, "_srv_" + request.srv.replace(".", "_"))
        try:
            body, reason = handler(request, user)
        except Refusal as refusal:
            log.info("DSP service refused", request_id=str(request.request_id), srv=request.srv,
                     response_code=refusal.code, reason=refusal.reason)
            return self._response(request, refusal.code, {}, refusal.reason)
        return self._response(request, ResponseCode.SUCCESS, body, reason)

    def _device(self, params: dict[str, Any], srv: str, name: str = "DeviceID", *,
                target: str | None = None) -> InventoryRecord:
        """The inventory record a request's body names (E19 when the DSP has none).

        A request built through the harness API (``DccRole.send("8.2", "CHF")``)
        may name its device only as the RequestID target (the comms hub); a
        DUIS body always names it, so ``target`` is used only when the body has
        no such field.
        """
        if _text(params, name) is None and target is not None and target in self.inventory:
            return self.inventory[target]
        eui = _eui(params, name, srv)
        record = self.inventory.get(eui)
        if record is None:
            raise Refusal(ResponseCode.UNKNOWN_DEVICE,
                          f"device {eui} is not in the DSP's inventory")
        return record

    @staticmethod
    def _needs(record: InventoryRecord, statuses: Any, what: str) -> None:
        if record.status not in statuses:
            raise Refusal(ResponseCode.DEVICE_STATUS,
                          f"device {record.device_id} is {record.status}; {what} needs "
                          f"{' or '.join(sorted(statuses))}")

    @staticmethod
    def _not(record: InventoryRecord, statuses: Any, what: str) -> None:
        if record.status in statuses:
            raise Refusal(ResponseCode.DEVICE_STATUS,
                          f"device {record.device_id} is {record.status}; {what} is not "
                          "possible for it")

    @staticmethod
    def _hub_only(record: InventoryRecord, srv: str) -> None:
        if record.device_type != "CHF":
            raise Refusal(ResponseCode.SRV_NOT_FOR_DEVICE,
                          f"SRV {srv} updates a communications hub's status; device "
                          f"{record.device_id} is a {record.device_type}")

    # ---- 11.1 firmware ------------------------------------------------------------------
    #: The device types whose firmware s1bench's S1SP distributes (the meters; a SMETS1
    #: hub's own firmware and the PPMID's, 11.4, are outside what it models).
    FIRMWARE_TYPES = frozenset({"ESME", "GSME"})
    #: The largest image a meter takes (its upload buffer).
    MAX_FIRMWARE_IMAGE = 16_000

    def _srv_11_1(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """UpdateFirmware: the DSP takes the image and answers at once (command variant 8);
        the S1SP then distributes it over the HAN to each listed meter in service, which
        holds it until an 11.3 activates it by its SHA-256.

        Devices the DSP will not send to are named in ``DSPUpdateFirmwareWarning``
        under the schema's lists (not in the inventory, not in service, not a
        device whose firmware s1bench distributes); an I0 with that warning is the
        schema's shape for a partly accepted request.
        """
        params = request.params
        text = _required(params, "FirmwareImage", "11.1")
        try:
            image = base64.b64decode(text, validate=True)
        except (ValueError, TypeError):
            raise Refusal(ResponseCode.NOT_APPLICABLE, "FirmwareImage is not base64") from None
        if not image or len(image) > self.MAX_FIRMWARE_IMAGE:
            raise Refusal(ResponseCode.NOT_APPLICABLE,
                          f"FirmwareImage must hold 1 to {self.MAX_FIRMWARE_IMAGE} bytes "
                          f"(s1bench's meters' buffer), not {len(image)}")
        version = _required(params, "FirmwareVersion", "11.1")
        if len(version) > 8:
            raise Refusal(ResponseCode.NOT_APPLICABLE, "FirmwareVersion is 1 to 8 characters")
        listed = [eui.strip().upper() for eui in _required(params, "DeviceIDList", "11.1")
                  .split(",") if eui.strip()]
        invalid, dormant, other, sent = [], [], [], []
        for eui in listed:
            record = self.inventory.get(eui)
            if record is None:
                invalid.append(eui)
            elif record.status not in IN_SERVICE:
                dormant.append(eui)
            elif record.device_type not in self.FIRMWARE_TYPES:
                other.append(eui)
            else:
                sent.append(eui)
        for eui in sent:
            self._tasks.add(asyncio.ensure_future(
                self._distribute(request, eui, image, version)))
        warning = {name: ",".join(euis) for name, euis in (
            ("InvalidDeviceIDList", invalid), ("NotCommissionedDeviceIDList", dormant),
            ("NotApplicableFirmwareDeviceIDList", other)) if euis}
        reason = (f"image {hashlib.sha256(image).hexdigest()[:16]}... ({len(image)} bytes, "
                  f"version {version}) accepted; the S1SP distributes it to "
                  f"{', '.join(sent) or 'no device'}")
        return ({"DSPUpdateFirmwareWarning": warning} if warning else {}), reason

    async def _distribute(self, request: ServiceRequest, eui: str, image: bytes,
                          version: str) -> None:
        from s1bench.emulator.headend import Command, OutcomeStatus

        outcome = await self.installation.execute(Command(
            "distribute_firmware", eui, {"FirmwareImage": image, "FirmwareVersion": version},
            ref=str(request.request_id)))
        delivered = outcome.status == OutcomeStatus.DONE
        self.firmware_deliveries.append({
            "request_id": str(request.request_id), "device": eui, "version": version,
            "delivered": delivered, "reason": outcome.reason,
            "at": self.installation.clock.now().isoformat()})
        log.info("S1SP firmware distribution", request_id=str(request.request_id),
                 device=eui, version=version, delivered=delivered, reason=outcome.reason)

    # ---- 8.x inventory -----------------------------------------------------------------
    def _srv_8_2(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """ReadInventory: the devices of the installation the named device belongs to.

        By DeviceID the DSP lists the device's whole installation (comms hub
        first), as the DCC registered it, whatever each device's status; a
        device not installed anywhere (pre-notified) is listed alone. By MPxN
        it lists the installations of the meters registered with that MPxN.
        The inventory holds no addresses, so a UPRN or address filter matches
        nothing.
        """
        params = request.params
        if _text(params, "DeviceID"):
            found = [self._device(params, "8.2", target=request.target)]
        elif _text(params, "MPxN"):
            mpxn = _text(params, "MPxN")
            found = [r for r in self.inventory.values() if mpxn in (
                r.import_mpxn, r.secondary_import_mpan, r.export_mpan)]
            if not found:
                return {}, f"no device in the DSP's inventory is registered with MPxN {mpxn}"
        elif _text(params, "UPRN") or _text(params, "PostCode"):
            return {}, ("the DSP's inventory holds no addresses (UPRN, post code) for the "
                        "installations s1bench emulates: nothing matched")
        elif request.target in self.inventory:
            found = [self._device(params, "8.2", target=request.target)]
        else:
            raise Refusal(ResponseCode.NOT_APPLICABLE,
                          "ReadInventory needs a DeviceID, MPxN, UPRN or PropertyFilter")
        hubs = {r.installation for r in found if r.installation}
        ids = {r.device_id for r in found}
        devices = [r for r in self.inventory.values()
                   if r.device_id in ids or (r.installation is not None and r.installation in hubs)]
        reason = None
        if len(devices) > _MAX_INVENTORY:
            reason = f"{len(devices)} devices matched; DSPInventory holds {_MAX_INVENTORY}"
            devices = devices[:_MAX_INVENTORY]
        return {"DSPInventory": {"Device": [r.as_device() for r in devices]}}, reason

    def _srv_8_3(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """DecommissionDevice: the device leaves service; its schedules go with it.

        A comms hub leaves the inventory through the 8.14 status updates, so
        8.3 to a CHF is E11 (s1bench's model).
        """
        record = self._device(request.params, "8.3", target=request.target)
        if record.device_type == "CHF":
            raise Refusal(ResponseCode.SRV_NOT_FOR_DEVICE,
                          "a communications hub is not decommissioned with 8.3; its status "
                          "changes through the 8.14 Communications Hub Status Updates")
        self._needs(record, IN_SERVICE, "decommissioning")
        record.status = "Decommissioned"
        self.dsp.smi_status[record.device_id] = "decommissioned"
        removed = self._remove_schedules(record.device_id, "device decommissioned")
        return {}, (f"device {record.device_id} is now Decommissioned in the DSP's inventory; "
                    f"later SRVs to it get E5" + (f"; {removed} schedule(s) removed"
                                                    if removed else ""))

    def _srv_8_4(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """UpdateInventory: one of the schema's five changes to one device's record.

        s1bench's status rules: a device's status can be set back to Pending or
        InstalledNotCommissioned, its details changed, or the device deleted,
        only while it is not yet installed and commissioned (Pending,
        Whitelisted, InstalledNotCommissioned; details and deletion: Pending);
        a comms hub's status can be set to Commissioned, Withdrawn or
        InstalledNotCommissioned unless it is Decommissioned; MPxNs belong to
        meters.
        """
        params = request.params
        record = self._device(params, "8.4", target=request.target)
        eui = record.device_id
        details = ("DeviceManufacturer", "DeviceModel", "SMETSCHTSVersion", "FirmwareVersion",
                   "ESMEVariant")
        if "UpdateDeviceStatusExceptCH" in params:
            new = _one_of("UpdateDeviceStatusExceptCH",
                          _required(params, "UpdateDeviceStatusExceptCH", "8.4"),
                          {"Pending", "InstalledNotCommissioned"})
            if record.device_type == "CHF":
                raise Refusal(ResponseCode.SRV_NOT_FOR_DEVICE,
                              "UpdateDeviceStatusExceptCH does not apply to a comms hub")
            self._needs(record, {"Pending", "Whitelisted", "InstalledNotCommissioned"},
                        "a status change by 8.4")
            record.status = new
            return {}, f"device {eui} is now {new}"
        if "UpdateDeviceStatusCH" in params:
            new = _one_of("UpdateDeviceStatusCH", _required(params, "UpdateDeviceStatusCH", "8.4"),
                          {"Commissioned", "Withdrawn", "InstalledNotCommissioned"})
            self._hub_only(record, "8.4 UpdateDeviceStatusCH")
            self._not(record, {"Decommissioned"}, "a hub status change")
            record.status = new
            return {}, f"comms hub {eui} is now {new}"
        if "DeleteDevice" in params:
            self._needs(record, {"Pending"}, "deleting it from the inventory")
            del self.inventory[eui]
            return {}, f"device {eui} deleted from the DSP's inventory"
        if "UpdateDeviceDetails" in params or any(k in params for k in details):
            self._needs(record, {"Pending"}, "changing its details")
            self._details(record, params)
            return {}, f"details of device {eui} updated"
        mpxns = {k: _text(params, k) for k in ("ImportMPxN", "SecondaryImportMPAN", "ExportMPAN")}
        if any(mpxns.values()):
            if record.device_type not in ("ESME", "GSME"):
                raise Refusal(ResponseCode.SRV_NOT_FOR_DEVICE,
                              f"MPxNs belong to meters; device {eui} is a {record.device_type}")
            self._not(record, {"Decommissioned"}, "an MPxN change")
            self._mpxns(record, mpxns)
            return {}, f"MPxN of device {eui} updated"
        raise Refusal(ResponseCode.NOT_APPLICABLE, "UpdateInventory names no change to make")

    @staticmethod
    def _mpxns(record: InventoryRecord, mpxns: dict[str, str | None]) -> None:
        if mpxns.get("ImportMPxN"):
            record.import_mpxn = _bounded("ImportMPxN", str(mpxns["ImportMPxN"]), 1, 13)
        if mpxns.get("SecondaryImportMPAN"):
            record.secondary_import_mpan = _bounded(
                "SecondaryImportMPAN", str(mpxns["SecondaryImportMPAN"]), 13, 13)
        if mpxns.get("ExportMPAN"):
            record.export_mpan = _bounded("ExportMPAN", str(mpxns["ExportMPAN"]), 13, 13)

    @staticmethod
    def _details(record: InventoryRecord, params: dict[str, Any]) -> None:
        for name, attr, low, high in (("DeviceManufacturer", "manufacturer", 0, 30),
                                      ("DeviceModel", "model", 0, 30),
                                      ("SMETSCHTSVersion", "smets_chts_version", 1, 20),
                                      ("FirmwareVersion", "firmware_version", 1, 8)):
            value = _text(params, name)
            if value is not None:
                setattr(record, attr, _bounded(name, value, low, high))
        variant = _text(params, "ESMEVariant")
        if variant is not None:
            record.esme_variant = _one_of("ESMEVariant", variant, ESME_VARIANTS)

    def _srv_8_6(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """ServiceOptIn: the DSP records the MPxNs and hands out its broker's credential.

        The device must be in service and of the type the request states; the
        answer is ``DSPOptIn`` with the key-agreement certificate of the DSP's
        broker (a test identity, :func:`broker_key_agreement_certificate`).
        """
        params = request.params
        record = self._device(params, "8.6", target=request.target)
        stated = _required(params, "DeviceType", "8.6")
        if stated != record.device_type:
            raise Refusal(ResponseCode.NOT_APPLICABLE,
                          f"DeviceType {stated} is not device {record.device_id}'s type in the "
                          f"DSP's inventory ({record.device_type})")
        opt_in = _date("OptInDate", _required(params, "OptInDate", "8.6"))
        self._needs(record, IN_SERVICE, "opting in")
        self._mpxns(record, {k: _text(params, k)
                             for k in ("ImportMPxN", "SecondaryImportMPAN", "ExportMPAN")})
        record.notes["opt_in_date"] = opt_in.isoformat()
        certificate = base64.b64encode(broker_key_agreement_certificate(self.seed)).decode()
        return {"DSPOptIn": {"DeviceID": record.device_id,
                             "DSPBrokerSecurityCredentialsKeyAgreement": certificate}}, None

    @staticmethod
    def _note(record: InventoryRecord, request: ServiceRequest, what: str) -> None:
        record.notes[what] = {k: v for k, v in request.params.items()
                              if not k.startswith("__") and k != "DeviceID"}

    def _install_success(self, request: ServiceRequest) -> tuple[dict[str, Any], str | None]:
        """8.14.1 / 8.14.2: the hub is installed (s1bench's model of the status change).

        A hub not yet installed (Pending, Whitelisted) becomes
        InstalledNotCommissioned; an installed or commissioned one keeps its
        status; a withdrawn, suspended or decommissioned one cannot be installed
        (E5). The install details are kept on the record.
        """
        record = self._device(request.params, request.srv, target=request.target)
        self._hub_only(record, request.srv)
        self._needs(record, {"Pending", "Whitelisted", *IN_SERVICE}, "an install notice")
        self._note(record, request, "install")
        if record.status in ("Pending", "Whitelisted"):
            record.status = "InstalledNotCommissioned"
        return {}, f"install of comms hub {record.device_id} recorded; it is {record.status}"

    def _srv_8_14_1(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        return self._install_success(request)

    def _srv_8_14_2(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        return self._install_success(request)

    def _return(self, request: ServiceRequest) -> tuple[dict[str, Any], str | None]:
        """8.14.3 / 8.14.4: the hub goes back to the DCC, so it is Withdrawn (s1bench's model).

        Withdrawn is the hub status 8.4's UpdateDeviceStatusCH offers besides
        Commissioned and InstalledNotCommissioned; later SRVs to the hub get E5.
        """
        record = self._device(request.params, request.srv, target=request.target)
        self._hub_only(record, request.srv)
        self._not(record, {"Withdrawn", "Decommissioned"}, "a return notice")
        self._note(record, request, "return")
        record.status = "Withdrawn"
        return {}, (f"return of comms hub {record.device_id} recorded; it is Withdrawn and "
                    "later SRVs to it get E5")

    def _srv_8_14_3(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        return self._return(request)

    def _srv_8_14_4(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        return self._return(request)

    # ---- 12.x ---------------------------------------------------------------------------
    def _srv_12_1(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """RequestWANMatrix: the request echoed, and the DSP's coverage answer for it.

        s1bench has no CSP coverage data. Every installation it emulates is
        reached over the SMETS1 head-end WAN it emulates, so the matrix names
        the schema's ``SMETS1`` region with coverage, and says why.
        """
        params = request.params
        uprn = _text(params, "UPRN")
        if uprn:
            if not uprn.isdigit() or not 1 <= len(uprn) <= 12 or int(uprn) == 0:
                raise Refusal(ResponseCode.NOT_APPLICABLE,
                              f"UPRN {uprn!r} is not a positive number of up to 12 digits")
            asked: dict[str, Any] = {"UPRN": uprn}
        else:
            asked = {"PartialAddress": {
                "PostCode": _bounded("PostCode", _required(params, "PostCode", "12.1"), 6, 8),
                "AddressIdentifier": _bounded(
                    "AddressIdentifier", _required(params, "AddressIdentifier", "12.1"), 0, 30)}}
        answer = {"CSPRegion": "SMETS1", "CSPRegionResponseCode": ResponseCode.SUCCESS.value,
                  "CoverageAvailability": True, "WANTechnology": "SMETS1 head-end (emulated)",
                  "ConnectivityLikelihood": "High",
                  "AdditionalInformation": (
                      "s1bench holds no CSP coverage data: the installations it emulates are "
                      "reached over its emulated SMETS1 head-end WAN")}
        return {"DSPWANMatrix": {"Request": asked, "DSPWANMatrixResponse": [answer]}}, None

    def _srv_12_2(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """DevicePrenotification: a new device enters the inventory as Pending.

        A device the inventory already holds cannot be pre-notified again (E5:
        its status is past pre-notification, s1bench's model).
        """
        params = request.params
        eui = _eui(params, "DeviceID", "12.2")
        known = self.inventory.get(eui)
        if known is not None:
            raise Refusal(ResponseCode.DEVICE_STATUS,
                          f"device {eui} is already in the DSP's inventory ({known.status}); "
                          "only a new device is pre-notified")
        device_type = _one_of("DeviceType", _required(params, "DeviceType", "12.2"), DEVICE_TYPES)
        record = InventoryRecord(
            eui, device_type, "Pending",
            _bounded("DeviceManufacturer", _required(params, "DeviceManufacturer", "12.2"), 0, 30),
            _bounded("DeviceModel", _required(params, "DeviceModel", "12.2"), 0, 30))
        self._details(record, {k: v for k, v in params.items()
                               if k not in ("DeviceManufacturer", "DeviceModel")})
        self.inventory[eui] = record
        return {}, f"device {eui} ({device_type}) is in the DSP's inventory as Pending"

    # ---- 5.x schedules -----------------------------------------------------------------
    def _srv_5_1(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """CreateSchedule: checked as the scheduled SRV would be, stored, and set running.

        The device must be in service and able to take the scheduled SRV (its
        type among the SRV's targets, the SRV in its DMC's service definition),
        and the user's role must be one that may send it.
        """
        params = request.params
        variant = _one_of("DSPScheduledServiceReferenceVariant",
                          _required(params, "DSPScheduledServiceReferenceVariant", "5.1"),
                          SCHEDULABLE)
        reference = _required(params, "DSPScheduledServiceReference", "5.1")
        if reference != ".".join(variant.split(".")[:2]):
            raise Refusal(ResponseCode.NOT_APPLICABLE,
                          f"DSPScheduledServiceReference {reference} does not match variant "
                          f"{variant}")
        frequency = _one_of("ScheduleFrequency", _required(params, "ScheduleFrequency", "5.1"),
                            _FREQUENCY_MONTHS)
        start = _date("ScheduleStartDate", _required(params, "ScheduleStartDate", "5.1"))
        end_text = _text(params, "ScheduleEndDate")
        end = _date("ScheduleEndDate", end_text) if end_text else None
        if end is not None and end < start:
            raise Refusal(ResponseCode.NOT_APPLICABLE,
                          "ScheduleEndDate is before ScheduleStartDate")
        at_text = _text(params, "ScheduleExecutionStartTime")
        at = _time("ScheduleExecutionStartTime", at_text) if at_text else time(tzinfo=UTC)
        record = self._device(params, "5.1")
        self._needs(record, IN_SERVICE, "a schedule")
        self._schedulable(record, variant, user)
        period = self._period(params, variant)
        details: dict[str, Any] = {"ScheduleFrequency": frequency,
                                   "ScheduleStartDate": start.isoformat()}
        if end is not None:
            details["ScheduleEndDate"] = end.isoformat()
        if at_text:
            details["ScheduleExecutionStartTime"] = _xs_time(at)
        credential = _text(params, "KAPublicSecurityCredential")
        if credential:
            try:
                base64.b64decode(credential, validate=True)
            except ValueError:
                raise Refusal(ResponseCode.NOT_APPLICABLE,
                              "KAPublicSecurityCredential is not base64") from None
            details["KAPublicSecurityCredential"] = credential
        details.update({"DSPScheduledServiceReference": reference,
                        "DSPScheduledServiceReferenceVariant": variant,
                        "DeviceID": record.device_id,
                        "DSP" + str(smets1_service()[variant]["name"]): period})
        schedule = Schedule(self._next_schedule, user.name, user.eui, variant, record.device_id,
                            frequency, start, end, at, details)
        self._next_schedule += 1
        self.schedules[schedule.schedule_id] = schedule
        self._arm(schedule)
        return {"DSPScheduleID": schedule.schedule_id}, (
            f"schedule {schedule.schedule_id}: {variant} {frequency} on {record.device_id}")

    def _schedulable(self, record: InventoryRecord, variant: str, user: Any) -> None:
        entry = smets1_service()[variant]
        if record.device_type not in entry["targets"]:  # type: ignore[operator]
            raise Refusal(ResponseCode.SRV_NOT_FOR_DEVICE,
                          f"SRV {variant} does not apply to a {record.device_type}")
        info = self._device_info(record.device_type, record.device_id) \
            if record.installation else None
        if info is not None and info.srvs and variant not in info.srvs:
            raise Refusal(ResponseCode.SRV_NOT_FOR_DEVICE,
                          f"SRV {variant} is not in the DCC SMETS1 service definition for "
                          f"{info.manufacturer} {info.model}")
        roles = self.dsp.role_table.get(variant, frozenset())
        if user.role != "DCC" and user.role not in roles:
            raise Refusal(ResponseCode.ROLE_NOT_PERMITTED,
                          f"role {user.role} may not send SRV {variant}, so it may not "
                          "schedule it")

    @staticmethod
    def _period(params: dict[str, Any], variant: str) -> dict[str, Any]:
        if not SCHEDULABLE[variant]:
            return {}
        out: dict[str, Any] = {}
        for name in _PERIOD_FIELDS:
            text = _required(params, name, "5.1")
            if not name.endswith("Offset"):
                out[name] = _xs_time(_time(name, text))
            elif text.lstrip("-").isdigit() and -400 <= int(text) <= 0:
                out[name] = int(text)
            else:
                raise Refusal(ResponseCode.NOT_APPLICABLE,
                              f"{name} {text!r} must be a whole number from -400 to 0")
        return out

    def _owned(self, request: ServiceRequest, user: Any, srv: str) -> list[Schedule]:
        """The live schedules of this user the request names (by id or by device)."""
        params = request.params
        mine = [s for s in self.schedules.values() if s.owner_eui == user.eui and not s.removed]
        if _text(params, "DSPScheduleID"):
            text = _required(params, "DSPScheduleID", srv)
            if not text.isdigit():
                raise Refusal(ResponseCode.NOT_APPLICABLE, f"DSPScheduleID {text!r} is no id")
            return [s for s in mine if s.schedule_id == int(text)]
        if _text(params, "DeviceID"):
            eui = _eui(params, "DeviceID", srv)
            return [s for s in mine if s.device_id == eui]
        raise Refusal(ResponseCode.NOT_APPLICABLE, f"SRV {srv} needs a DSPScheduleID or DeviceID")

    def _srv_5_2(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """ReadSchedule: the user's own schedules, by id or by device."""
        found = self._owned(request, user, "5.2")
        if not found:
            return {}, "no schedule of this user matches; nothing to read"
        reason = None
        if len(found) > _MAX_SCHEDULES_READ:
            reason = f"{len(found)} schedules matched; DSPSchedulesRead holds 99"
        return {"DSPSchedulesRead": {"DSPSchedules": [
            {"DSPScheduleID": s.schedule_id, "DSPScheduleDetails": s.details}
            for s in found[:_MAX_SCHEDULES_READ]]}}, reason

    def _srv_5_3(self, request: ServiceRequest, user: Any) -> tuple[dict[str, Any], str | None]:
        """DeleteSchedule: the user's own schedules, by id or by device, stop and go."""
        found = self._owned(request, user, "5.3")
        for schedule in found:
            schedule.removed = "deleted by 5.3"
            del self.schedules[schedule.schedule_id]
        if not found:
            return {}, "no schedule of this user matches; nothing deleted"
        return {}, "deleted schedule(s) " + ", ".join(str(s.schedule_id) for s in found)

    def _remove_schedules(self, device_id: str, why: str) -> int:
        gone = [s for s in self.schedules.values() if s.device_id == device_id and not s.removed]
        for schedule in gone:
            schedule.removed = why
        return len(gone)

    # ---- running schedules on the virtual clock ------------------------------------------
    def next_run(self, schedule: Schedule, after: datetime, *, strictly: bool = False
                 ) -> datetime | None:
        """The first occurrence at (unless ``strictly``) or after ``after``; None once ended."""
        day, n = schedule.start, 0
        while True:
            moment = datetime.combine(day, schedule.at)
            if schedule.end is not None and day > schedule.end:
                return None
            if moment > after or (moment == after and not strictly):
                return moment
            n += 1
            months = _FREQUENCY_MONTHS[schedule.frequency]
            day = _add_months(schedule.start, months * n) if months else \
                schedule.start + timedelta(days=_FREQUENCY_DAYS[schedule.frequency] * n)

    def _arm(self, schedule: Schedule, last: datetime | None = None) -> None:
        """Set the schedule's next run on the virtual clock.

        After a run the next occurrence is the one after the run's own, never
        the same one again, however little virtual time the run took.
        """
        if self.runner is None:
            return
        clock = self.installation.clock
        when = self.next_run(schedule, max(clock.now(), last) if last else clock.now(),
                             strictly=last is not None)
        if when is None:
            return
        delay = max(0.0, (when - clock.now()).total_seconds())
        clock.call_later(delay, lambda: self._tasks.add(
            asyncio.ensure_future(self._fire(schedule, when))))

    async def _fire(self, schedule: Schedule, when: datetime) -> None:
        if schedule.removed or schedule.schedule_id not in self.schedules:
            return
        record = self.inventory.get(schedule.device_id)
        if record is None or record.status not in IN_SERVICE:
            schedule.removed = f"device {schedule.device_id} no longer in service"
            return
        self._scheduled_counter += 1
        params: dict[str, Any] = {}
        period = schedule.details.get("DSP" + str(smets1_service()[schedule.srv]["name"]))
        if period:
            day = when.date()
            for edge in ("Start", "End"):
                moment = datetime.combine(day + timedelta(days=period[f"{edge}DateOffset"]),
                                          _time(edge, period[f"{edge}Time"]))
                params[f"{edge}DateTime"] = moment.astimezone(UTC).isoformat().replace(
                    "+00:00", "Z")
        request = ServiceRequest(RequestID(DCC_EUI, schedule.device_id, self._scheduled_counter),
                                 schedule.srv, params)
        schedule.runs += 1
        log.info("DSP schedule runs", schedule_id=schedule.schedule_id, srv=schedule.srv,
                 device=schedule.device_id, at=when.isoformat())
        assert self.runner is not None
        await self.runner(request, schedule)
        self._arm(schedule, when)


# ---- the DUIS payload element ---------------------------------------------------------

def _append(parent: etree._Element, ns: str, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _append(parent, ns, name, item)
        return
    node = etree.SubElement(parent, f"{{{ns}}}{name}")
    if isinstance(value, dict):
        for key, item in value.items():
            _append(node, ns, key, item)
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    else:
        node.text = str(value)


def dsp_payload(response: ServiceResponse) -> etree._Element | None:
    """The schema payload element of a DSP answer (``DSPInventory``...), or None.

    The body of a DSP response holds exactly one key, the payload element's
    name, whose value is the element's content in schema order (dicts for
    sequences, lists for repeated elements); that is also how exchanges
    record it.
    """
    if response.answered_by != "dsp" or len(response.body) != 1:
        return None
    (name, value), = response.body.items()
    if name not in PAYLOAD_ELEMENTS:
        return None
    from s1bench.harness.duis_xml import SR_NS

    holder = etree.Element(f"{{{SR_NS}}}holder", nsmap={"sr": SR_NS})
    _append(holder, SR_NS, name, value)
    return holder[0]
