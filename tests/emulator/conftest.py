"""Fixtures for the emulator tests; helpers live in emu_helpers.py."""

from __future__ import annotations

import pytest
from s1bench.emulator.clock import VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()
