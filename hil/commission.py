"""Commissioning through the hub: how a host learns devices that must join.

On a dongle (or the emulated NCP) no meter is on the HAN until it joins, and
the host hears of a device only through its join. The hub does it as it
would in the field, through its own device log: each device's install code
(from its label) goes in, one join window opens (re-sent past 254 s), and
the device's Device_annce marks it joined. Going through the hub rather
than around it means the same CHF device log, quirks and events as on the
emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from s1bench.emulator.headend import eui64_int
from s1bench.emulator.installation import Installation

POLL_S = 0.05


async def commission(installation: Installation, euis: Iterable[str], *,
                     window_s: int = 60, timeout_s: float = 20.0) -> dict[str, int | None]:
    """Add each device to the hub's log with its label's install code and wait for its join.

    Returns {EUI: short address, or None for a device that did not join in time}.
    A device already joined is left as it is.
    """
    hub = installation.hub
    wanted = [eui.upper() for eui in euis]
    for eui in wanted:
        label = installation.labels.get(eui)
        if label is None or label.install_code is None:
            raise ValueError(f"{eui}: no install code on its label; it cannot join by one")
        if hub.short_of(eui64_int(eui)) is None:
            hub.add_to_log(eui64_int(eui), label.device_type, label.install_code)
    hub.open_join_window(window_s)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if all(hub.short_of(eui64_int(eui)) is not None for eui in wanted):
            break
        await asyncio.sleep(POLL_S)
    return {eui: hub.short_of(eui64_int(eui)) for eui in wanted}
