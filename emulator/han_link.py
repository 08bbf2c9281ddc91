"""The seam between the comms hub and whatever carries its HAN traffic.

The hub's head-end handlers, quirks and device log must run unchanged
whether the HAN is s1bench's own frame stack on a medium
(:class:`~s1bench.emulator.coordinator.HanCoordinator`) or a real Zigbee
dongle that works at the APS level (``s1bench.hil.radio.RadioLink``). So the
hub asks the HAN for exactly what both can do: send a Smart Energy ZCL frame
to a short address, open joining for a while, let a device in with its
install-code link key, and make a device leave (or reset). What comes back
is as small: a ZCL frame from a short address, and "this device joined".
"""

from __future__ import annotations

from typing import Protocol

from . import zcl


class HanEvents(Protocol):
    """What a HAN link reports to the hub."""

    def zcl_received(self, src: int, cluster: int, frame: zcl.ZclFrame) -> None:
        """A Smart Energy ZCL frame from the device at short address ``src``.

        May raise the payload errors of :data:`~s1bench.emulator.node.PAYLOAD_ERRORS`:
        the link counts and drops the frame, as a radio would.
        """
        ...

    def device_joined(self, ieee: int, short: int) -> None:
        """A device announced itself on the HAN (Device_annce)."""
        ...


class HanSecurityEvents(HanEvents, Protocol):
    """What a hub with a CHF device log adds, for a link that checks NWK security itself.

    s1bench's own coordinator (see :mod:`~s1bench.emulator.han_guard`) asks
    these when its events have them; a dongle's firmware checks frames
    itself and reports nothing of it (``hil.radio`` binds plain HanEvents),
    and the emulated NCP's host keeps its own device log.
    """

    def in_device_log(self, ieee: int) -> bool:
        """Whether a secured frame from ``ieee`` may be acted on: it is in the device log."""
        ...

    def security_event(self, event_id: int, detail: str) -> None:
        """A secured frame was dropped (``event_id`` a GBCS alert code): log it as security."""
        ...


class HanLink(Protocol):
    """What the hub asks of the HAN.

    Every method is synchronous and never blocks: a link that talks to real
    hardware queues the work and reports failures in its own log, and the
    hub's own timeouts and retries stay the one place where silence becomes
    an outcome.
    """

    def bind(self, events: HanEvents) -> None:
        """Send received frames and joins to ``events`` from now on."""
        ...

    def next_zcl_seq(self) -> int:
        """The next ZCL transaction sequence number of the hub's side of the HAN."""
        ...

    def send_zcl(self, dst: int, cluster: int, frame: zcl.ZclFrame) -> None:
        """Send one ZCL frame (profile 0x0109, the SE endpoint) to a short address."""
        ...

    def permit_joining(self, duration: int) -> None:
        """Permit joining for ``duration`` seconds (one Mgmt_Permit_Joining_req, <= 254 s)."""
        ...

    def add_link_key(self, ieee: int, link_key: bytes) -> None:
        """Let ``ieee`` join with this install-code link key (trust centre key table)."""
        ...

    def remove_device(self, ieee: int, short: int | None) -> None:
        """Forget the device's key; if it is on the HAN (``short``), ask it to leave."""
        ...

    def reset_device(self, ieee: int, short: int) -> None:
        """Mgmt_Leave_req with the rejoin flag: the device resets and stays on the HAN."""
        ...
