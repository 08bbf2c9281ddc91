"""Meter logs and profiles: a seeded consumption model on the virtual clock.

A mixin of :class:`emulator.devices.Meter`: daily read logs, billing logs and
half-hour profiles derived from one seeded consumption model, so they agree
with the registers. Its management operations use tunnel op codes 0x30-0x3F.
"""

from __future__ import annotations


class LogsMixin:
    """Nothing yet: the logs family adds state and ``mgmt_3x`` operations here."""
