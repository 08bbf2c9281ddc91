"""The bench file: which dongle reaches which physical devices, and the DMC they form.

Why a file (labgrid's idea): a hardware-in-the-loop run is only as good as
the engineer's description of the bench. A wrong EUI-64 or a mistyped install
code shows up, without a file, as a device that "never joins" twenty minutes
into a run; a DMC id nobody has profiled makes a differential run compare
against nothing. So the bench is YAML described once as a pydantic model
(``s1bench schema bench`` exports it for editors), and ``load_bench`` refuses
a broken file whole, every fault at once with file, line and dotted key, as
packs do. Install codes are checked the way the trust centre will check them
(length and CRC-16/X-25); EUIs must be written the way DUIS and the head-end
write them; the DMC must be one the catalogue knows, and each device's type
one that DMC has.

The comms hub is never listed: on a bench the hub is s1bench's emulated hub,
coordinator and trust centre, talking through the dongle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.functional_validators import AfterValidator
from s1bench.emulator import mmo

from s1bench import filecheck

#: Device types a bench may hold: every HAN device but the hub, which s1bench plays.
BenchDeviceType = Literal["ESME", "GSME", "PPMID", "IHD"]
#: What the radio libraries call the two dongle families (zigpy-znp, bellows).
RadioKind = Literal["znp", "ezsp"]
#: A TCP dongle (ser2net, a network coordinator, ``s1bench ncp``) is named like this.
SOCKET_SCHEMES = ("socket://", "tcp://")

_DUIS_EUI = re.compile(r"^[0-9A-F]{2}(-[0-9A-F]{2}){7}$")
_OTHER_EUI = re.compile(r"^[0-9A-Fa-f]{2}([:._ ]?[0-9A-Fa-f]{2}){7}$")


class BenchError(filecheck.FileError):
    what = "the bench file"


def _text(value: Any) -> Any:
    """YAML reads 1.10 and 0123 as numbers; a silently changed version or code must not pass."""
    if isinstance(value, int | float):  # bool is an int too
        raise ValueError(f"must be a string; YAML read {value!r} as a number: put it in quotes")
    return value


def _duis_eui(value: str) -> str:
    """DUIS form only: the bench file is compared with records that spell EUIs this way."""
    text = value.strip().upper()
    if _DUIS_EUI.match(text):
        return text
    if _OTHER_EUI.match(value.strip()):
        digits = re.sub(r"[^0-9A-F]", "", text)
        duis = "-".join(digits[i:i + 2] for i in range(0, 16, 2))
        raise ValueError(f"{value!r}: write the EUI-64 in DUIS form, {duis}")
    raise ValueError(f"{value!r} is not an EUI-64 in DUIS form (8 dash-separated hex bytes, "
                     "such as 00-DB-12-00-00-00-00-01)")


def install_code_bytes(text: str) -> bytes:
    """A printed install code (hex, grouped with spaces or dashes as labels print it)."""
    digits = re.sub(r"[\s:-]", "", text)
    if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", digits):
        raise ValueError(f"{text!r} is not hex bytes (an install code reads like "
                         "83FE D340 7A93 9723 A5C6 39B2 6916 D505 C3B5)")
    return bytes.fromhex(digits)


def _install_code(value: str) -> str:
    """Checked as the trust centre will: a bad code would only show as a device never joining."""
    code = install_code_bytes(value)
    try:
        mmo.check_install_code(code)
    except ValueError as exc:
        hint = " (check it against the device's label)" if "does not match" in str(exc) else ""
        raise ValueError(f"{exc}{hint}") from None
    return code.hex().upper()


def _device_type(value: Any) -> Any:
    """Any case; the hub named here is the one mistake worth explaining."""
    text = str(value).upper()
    if text == "CHF":
        raise ValueError("the comms hub is s1bench's emulated hub on the dongle: list only the "
                         "devices on its HAN (ESME, GSME, PPMID, IHD)")
    return text


def _dmc_ids() -> list[str]:
    from s1bench.firmware_profiles.catalogue import load_catalogue

    return sorted(load_catalogue().dmcs)


def _unknown_dmc(value: str) -> str:
    return f"unknown DMC {value!r} (known: {', '.join(_dmc_ids())})"


Text = Annotated[str, BeforeValidator(_text), Field(min_length=1)]
Eui = Annotated[str, BeforeValidator(_text), AfterValidator(_duis_eui),
                Field(json_schema_extra={"pattern": _DUIS_EUI.pattern})]
InstallCode = Annotated[str, BeforeValidator(_text), AfterValidator(_install_code)]
DmcId = Annotated[str, filecheck.OneOf(_dmc_ids, _unknown_dmc)]


class _Strict(BaseModel):
    """A misspelt key would read as 'not set' and a device be checked against nothing."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class DongleFile(_Strict):
    """The Zigbee USB dongle (or network coordinator) the emulated hub talks through."""

    radio: RadioKind = "znp"
    """Dongle family: znp (TI Z-Stack, zigpy-znp) or ezsp (Silicon Labs, bellows)."""
    port: Text
    """Serial device (/dev/ttyUSB0, /dev/serial/by-id/..., COM3) or socket://HOST:PORT."""
    baudrate: int = Field(115200, gt=0)
    """Serial speed; ignored over TCP."""
    database: str | None = None
    """zigpy's network database (SQLite), relative to this file: keeps the formed network,
    so the next run resumes it instead of forming a new one and re-joining every device."""


class BenchDeviceFile(_Strict):
    """A physical device on the bench, as its label and its firmware say."""

    type: Annotated[BenchDeviceType, BeforeValidator(_device_type)]
    """Device type (any case): ESME, GSME, PPMID or IHD; the hub is s1bench's."""
    eui: Eui
    """EUI-64 from the label, in DUIS form: 00-DB-12-00-00-00-00-01."""
    install_code: InstallCode
    """Install code from the label, hex with its CRC (8, 10, 14 or 18 bytes)."""
    manufacturer: Text
    """Basic cluster ManufacturerName the device should report."""
    model: Text
    """Basic cluster ModelIdentifier the device should report."""
    firmware: Text
    """Firmware version the device runs, as the catalogue's profiles number them."""
    label: str = ""
    """Where it sits on the bench, for people: shown in bench check's table."""


class BenchFileModel(_Strict):
    """A hardware-in-the-loop bench: one dongle, the physical devices, the DMC they form."""

    bench: str | None = None
    """Id of the bench in records and reports; defaults to the file name."""
    dmc: DmcId
    """The catalogue DMC these devices form (what the emulator side of a diff runs)."""
    dongle: DongleFile
    """The dongle the emulated hub talks through."""
    join_timeout_s: float = Field(120, gt=0)
    """How long bench check and a bench run wait for the devices to join and answer."""
    devices: list[BenchDeviceFile] = Field(min_length=1)
    """The physical devices, one per type."""


@filecheck.register_schema("bench", "hil/benches/*.yaml: a hardware-in-the-loop bench "
                                    "(s1bench bench check BENCH.yaml)")
def _bench_model() -> type[BaseModel]:
    return BenchFileModel


# --------------------------------------------------------------------------- loaded form


@dataclass(frozen=True)
class Dongle:
    radio: str
    port: str
    baudrate: int
    database: Path | None

    @property
    def is_socket(self) -> bool:
        return self.port.startswith(SOCKET_SCHEMES)


@dataclass(frozen=True)
class BenchDevice:
    type: str
    eui: str
    install_code: bytes
    manufacturer: str
    model: str
    firmware: str
    label: str = ""
    line: int | None = None


@dataclass(frozen=True)
class Bench:
    id: str
    dmc: str
    dongle: Dongle
    devices: tuple[BenchDevice, ...]
    join_timeout_s: float
    file: Path

    def device(self, device_type: str) -> BenchDevice:
        for device in self.devices:
            if device.type == device_type:
                return device
        raise KeyError(f"the bench has no {device_type}")

    def describe(self) -> dict[str, Any]:
        """What a run record keeps of the bench: enough to say what hardware answered."""
        return {"bench": self.id, "file": str(self.file), "dmc": self.dmc,
                "radio": self.dongle.radio, "port": self.dongle.port,
                "devices": [{"device_type": d.type, "eui": d.eui,
                             "manufacturer": d.manufacturer, "model": d.model,
                             "firmware": d.firmware} for d in self.devices]}


def builtin_bench_dir() -> Path:
    return Path(str(resources.files("s1bench.hil") / "benches"))


def resolve_bench(name: str | Path) -> Path:
    """A path, or the name of a shipped bench (with or without .yaml)."""
    text = str(name)
    shipped = builtin_bench_dir() / (text if text.endswith(".yaml") else f"{text}.yaml")
    for path in (Path(text), shipped):
        if path.is_file():
            return path
    known = ", ".join(sorted(p.stem for p in builtin_bench_dir().glob("*.yaml")))
    reason = f"no such bench file or shipped bench (shipped: {known})"
    raise BenchError([filecheck.Problem(Path(text), "", None, reason)])


def load_bench(name: str | Path) -> Bench:
    """The bench, or every fault in it at once (a half-right bench wastes a morning)."""
    path = resolve_bench(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError([filecheck.Problem(path, "", None, f"cannot read: {exc}")]) from None
    data = filecheck.read_yaml_mapping(
        path, text, BenchError, "a bench is a mapping with 'dmc', 'dongle' and 'devices'")
    problems, lines = filecheck.Problems(), filecheck.YamlLines(path, text)
    model = problems.validate(lines, BenchFileModel, data)
    if model is None:
        raise BenchError(problems.items)
    _cross_check(model, lines, problems)
    if problems.items:
        raise BenchError(problems.items)
    database = model.dongle.database
    return Bench(
        id=model.bench or path.stem,
        dmc=model.dmc,
        dongle=Dongle(model.dongle.radio, model.dongle.port, model.dongle.baudrate,
                      (path.parent / database) if database else None),
        devices=tuple(
            BenchDevice(d.type, d.eui, bytes.fromhex(d.install_code), d.manufacturer, d.model,
                        d.firmware, d.label, lines.line_of(("devices", i)))
            for i, d in enumerate(model.devices)),
        join_timeout_s=model.join_timeout_s,
        file=path,
    )


def _cross_check(model: BenchFileModel, lines: filecheck.YamlLines,
                 problems: filecheck.Problems) -> None:
    """What spans devices or reaches into the catalogue: one device per type and EUI."""
    from s1bench.firmware_profiles.catalogue import load_catalogue

    dmc = load_catalogue().dmc(model.dmc)
    seen_types: dict[str, int] = {}
    seen_euis: dict[str, int] = {}
    for i, device in enumerate(model.devices):
        if device.type not in dmc.devices:
            problems.add(lines, ("devices", i, "type"),
                         f"DMC {dmc.id} has no {device.type} (its devices: "
                         f"{', '.join(t for t in dmc.devices if t != 'CHF')})")
        if device.type in seen_types:
            problems.add(lines, ("devices", i, "type"),
                         f"a second {device.type} (devices[{seen_types[device.type]}] is one): "
                         "an installation has one device of each type")
        seen_types.setdefault(device.type, i)
        if device.eui in seen_euis:
            problems.add(lines, ("devices", i, "eui"),
                         f"{device.eui} is also devices[{seen_euis[device.eui]}]'s EUI-64")
        seen_euis.setdefault(device.eui, i)
