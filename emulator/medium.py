"""One medium interface, several media (python-can's Bus idea).

Devices attach to a medium and never know which one they are on: bytes go
in with :meth:`Medium.send` and come out through each station's
``frame_received``. Media are registered by name and imported only when
chosen, so a missing MQTT client or radio library fails only when that
medium is asked for; other packages can add media through the
``s1bench.media`` entry-point group.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol

import structlog

from .capture import CaptureTap

log = structlog.get_logger("s1bench.medium")

BROADCAST = 0xFFFF


class Station(Protocol):
    """What a medium needs of an attached device: its address and a receive hook."""

    short: int
    ieee: int
    pan: int

    def frame_received(self, frame: bytes) -> None: ...


@dataclass(slots=True)
class MediumStats:
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    malformed: int = 0
    #: Retransmissions after a missing MAC ack (counted in ``sent`` as well).
    retries: int = 0
    #: MAC acks on air: frames too, but counted apart so ``sent`` stays the frames
    #: stations sent (what the codec and the benchmarks measure).
    acks: int = 0


#: Frame control, sequence, PAN id, destination and source: the least a medium routes on.
MIN_FRAME = 9


class Medium(ABC):
    """Carries 802.15.4 frames between stations; subclasses choose how."""

    name: ClassVar[str] = "abstract"
    #: The clock stamping tapped frames (set by each medium from its options).
    _clock: Any = None

    def __init__(self) -> None:
        self.stats = MediumStats()
        self._taps: list[CaptureTap] = []
        self._closed = False

    @abstractmethod
    def attach(self, station: Station) -> None:
        """Start delivering frames addressed to ``station``."""

    @abstractmethod
    def detach(self, station: Station) -> None:
        """Stop delivering to ``station`` (leave, power-off)."""

    @abstractmethod
    def send(self, sender: Station, frame: bytes) -> None:
        """Put one frame on the air; never blocks, delivery happens later."""

    def _admit(self, frame: bytes) -> bool:
        """What every medium does with a frame before routing it: count it, hand it
        to the capture taps, and drop a runt (an Ack) that has no address to route on."""
        self.stats.sent += 1
        if self._taps:
            self._tap(frame, self._clock.now())
        if len(frame) < MIN_FRAME:
            self.stats.malformed += 1
            return False
        return True

    def add_tap(self, tap: CaptureTap) -> None:
        self._taps.append(tap)

    def _tap(self, frame: bytes, when: Any) -> None:
        for tap in self._taps:
            tap.frame(frame, when)

    def close(self) -> None:
        """Close taps; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for tap in self._taps:
            tap.close()


def mac_destination(frame: bytes) -> tuple[int, int]:
    """The 802.15.4 (PAN id, short destination), read without decoding the frame.

    A joined node's frames always use PAN ID compression with short
    addresses, so the PAN sits at bytes 3-4 and the destination at 5-6;
    routing on them keeps unicast delivery to one station per frame, and
    keeps the HANs of thousands of installations sharing one medium apart.
    Joining's frames (a Beacon Request on the broadcast PAN, a beacon with no
    destination, an association response to an EUI-64) have other headers
    (their second frame control byte is not 0x88); each medium routes those
    apart.
    """
    return frame[3] | (frame[4] << 8), frame[5] | (frame[6] << 8)


# name -> "module:Class"; imported on first use.
_BUILTIN_MEDIA = {
    "memory": "s1bench.emulator.medium_memory:MemoryMedium",
    "mqtt": "s1bench.emulator.medium_mqtt:MqttMedium",
}


def available_media() -> list[str]:
    names = set(_BUILTIN_MEDIA)
    names.update(ep.name for ep in entry_points(group="s1bench.media"))
    return sorted(names)


def make_medium(name: str, **options: Any) -> Medium:
    """Build a medium by name; an unknown name lists the known ones.

    A ``faults`` option (a fault schedule's rules) wraps the medium in
    :class:`~s1bench.emulator.medium_faults.FaultMedium`, so every medium
    can suffer one and none has to know about it.
    """
    faults = options.pop("faults", None)
    medium = _make_medium(name, options)
    if faults:
        from .medium_faults import FaultMedium

        return FaultMedium(medium, faults, seed=options.get("seed", 0),
                           clock=options.get("clock"))
    return medium


def _make_medium(name: str, options: dict[str, Any]) -> Medium:
    target = _BUILTIN_MEDIA.get(name)
    if target is None:
        for ep in entry_points(group="s1bench.media"):
            if ep.name == name:
                return ep.load()(**options)
        raise ValueError(f"unknown medium {name!r} (known: {', '.join(available_media())})")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(**options)
