"""`s1bench bench check`'s work: bring the bench's network up and see who answers.

Why a check of its own: before hours of a pack on hardware, an engineer
wants to know in a minute that the dongle is the one named, the network
forms (or resumes), each meter joins with the install code on its label and
reports the manufacturer, model and firmware the bench file promises. A
device that joins but reports another firmware is worth knowing before a
differential run blames the profile for it.

The radio link is reached through ``s1bench.hil.radio.open_radio`` (imported
only here, when needed); ``check_bench`` takes an opener so it can be tested
with a stand-in link.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .bench import Bench, BenchDevice
from .ports import HIL_EXTRA

#: How often the joined-device list is looked at while waiting.
POLL_S = 0.25
#: How long one Basic cluster read may take before the device counts as silent.
READ_TIMEOUT_S = 10.0


class RadioLink(Protocol):
    """What a bench check needs of the radio link (``s1bench.hil.radio``)."""

    async def form_or_resume(self) -> Any: ...

    def devices(self) -> Any: ...

    async def read_basic(self, eui: Any) -> dict[str, Any]: ...

    async def permit_install_code(self, eui: Any, install_code: bytes, seconds: int) -> Any: ...

    async def close(self) -> Any: ...


Opener = Callable[[Bench], Awaitable[RadioLink]]


class RadioUnavailable(RuntimeError):
    """The radio link (or the libraries under it) is not installed."""


RADIO_MISSING = ("bench runs need the hil extra / radio link (s1bench.hil.radio on "
                 f"zigpy-znp): {HIL_EXTRA}")


def radio_module() -> Any:
    """``s1bench.hil.radio``, or RadioUnavailable saying what to install."""
    try:
        radio = importlib.import_module("s1bench.hil.radio")
    except ImportError as exc:
        raise RadioUnavailable(f"{RADIO_MISSING} ({exc})") from None
    if not hasattr(radio, "open_radio"):
        raise RadioUnavailable(f"{RADIO_MISSING} (s1bench.hil.radio has no open_radio)")
    return radio


async def open_bench_radio(bench: Bench) -> RadioLink:
    """The real opener: the bench's dongle through ``open_radio``."""
    radio = radio_module()
    database = str(bench.dongle.database) if bench.dongle.database else None
    return await radio.open_radio(bench.dongle.port, baudrate=bench.dongle.baudrate,
                                  radio=bench.dongle.radio, database=database)


def duis_eui(value: Any) -> str:
    """Any EUI-64 spelling (zigpy's ``aa:bb:..``, an int, DUIS) in DUIS form."""
    if isinstance(value, int):
        raw = f"{value:016X}"
    else:
        raw = "".join(c for c in str(value).upper() if c in "0123456789ABCDEF")
    if len(raw) != 16:
        return str(value)
    return "-".join(raw[i:i + 2] for i in range(0, 16, 2))


#: Basic cluster attributes as the radio link may name them, by what the bench file says.
_BASIC_NAMES = {
    "manufacturer": ("manufacturer", "manufacturer_name", "ManufacturerName", "0x0004", 4),
    "model": ("model", "model_identifier", "ModelIdentifier", "0x0005", 5),
    "firmware": ("firmware", "firmware_version", "sw_build", "sw_build_id", "SWBuildID",
                 "0x4000", 0x4000),
}


def basic_facts(read: dict[Any, Any]) -> dict[str, str | None]:
    """manufacturer / model / firmware out of a Basic read, whichever names it used."""
    out: dict[str, str | None] = {}
    for name, keys in _BASIC_NAMES.items():
        value = next((read[k] for k in keys if k in read and read[k] is not None), None)
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        out[name] = None if value is None else str(value).strip().rstrip("\x00")
    return out


@dataclass
class DeviceCheck:
    """One bench device's result: did it join, did it answer, does it match the file."""

    device: BenchDevice
    joined: bool = False
    short: int | None = None
    answered: bool = False
    read: dict[str, str | None] = field(default_factory=dict)
    error: str = ""

    @property
    def mismatches(self) -> list[str]:
        """What the device reported that the bench file says otherwise."""
        if not self.answered:
            return []
        out = []
        for name in ("manufacturer", "model", "firmware"):
            want, got = getattr(self.device, name), self.read.get(name)
            if got is not None and " ".join(got.split()).casefold() != \
                    " ".join(want.split()).casefold():
                out.append(f"{name} {got!r}, bench file says {want!r}")
        return out

    @property
    def status(self) -> str:
        if self.answered:
            return "answered"
        if self.joined:
            return f"joined, no answer{': ' + self.error if self.error else ''}"
        return f"not joined{': ' + self.error if self.error else ''}"

    def as_dict(self) -> dict[str, Any]:
        return {"device_type": self.device.type, "eui": self.device.eui,
                "label": self.device.label, "joined": self.joined,
                "short": None if self.short is None else f"0x{self.short:04X}",
                "answered": self.answered, "reported": self.read,
                "matches_bench_file": self.answered and not self.mismatches,
                "mismatches": self.mismatches, "status": self.status}


def joined_devices(link: RadioLink) -> dict[str, int | None]:
    """The link's device list as {DUIS EUI: short address}."""
    out: dict[str, int | None] = {}
    for entry in link.devices() or ():
        if isinstance(entry, tuple | list) and len(entry) >= 2:
            eui, short = entry[0], entry[1]
        else:
            eui, short = entry, None
        out[duis_eui(eui)] = int(short) if isinstance(short, int) else None
    return out


async def bring_up(link: RadioLink, devices: Iterable[BenchDevice], timeout_s: float,
                   *, form: bool = True,
                   clock: Callable[[], float] = time.monotonic) -> dict[str, int | None]:
    """Form or resume, permit each missing device's install code, wait for all or timeout.

    Returns the joined devices (DUIS EUI -> short address) seen at the end.
    Used by the check and by a bench run (``form=False`` once the network is up:
    then only devices not yet joined are permitted, and none is waited for twice).
    """
    wanted = list(devices)
    if form:
        await link.form_or_resume()
    seconds = max(1, int(timeout_s + 0.999))
    already = joined_devices(link)
    for device in wanted:
        if device.eui not in already:
            await link.permit_install_code(device.eui, device.install_code, seconds)
    deadline = clock() + timeout_s
    while True:
        joined = joined_devices(link)
        if all(d.eui in joined for d in wanted) or clock() >= deadline:
            return joined
        await asyncio.sleep(POLL_S)


async def check_bench(bench: Bench, *, timeout_s: float | None = None,
                      opener: Opener | None = None,
                      read_timeout_s: float = READ_TIMEOUT_S) -> list[DeviceCheck]:
    """Each bench device's result, in the file's order (``opener``: the real link if None)."""
    timeout = bench.join_timeout_s if timeout_s is None else timeout_s
    link = await (opener or open_bench_radio)(bench)
    try:
        joined = await bring_up(link, bench.devices, timeout)
        results = []
        for device in bench.devices:
            result = DeviceCheck(device, joined=device.eui in joined,
                                 short=joined.get(device.eui))
            if result.joined:
                try:
                    async with asyncio.timeout(read_timeout_s):
                        result.read = basic_facts(await link.read_basic(device.eui))
                    result.answered = True
                except TimeoutError:
                    result.error = f"Basic cluster read timed out after {read_timeout_s:g} s"
                except Exception as exc:  # one silent meter must not hide the others
                    result.error = f"Basic cluster read failed: {type(exc).__name__}: {exc}"
            else:
                result.error = f"did not join within {timeout:g} s"
            results.append(result)
        return results
    finally:
        await link.close()
