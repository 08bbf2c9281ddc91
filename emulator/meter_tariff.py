"""Meter state and behaviour for tariffs, prices, prepayment configuration and payment mode.

A mixin of :class:`emulator.devices.Meter`: what a write sets, a read returns.
Its management operations use tunnel op codes 0x20-0x2F.
"""

from __future__ import annotations


class TariffMixin:
    """Nothing yet: the tariff family adds state and ``mgmt_2x`` operations here."""
