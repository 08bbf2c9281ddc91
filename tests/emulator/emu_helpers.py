"""Shared helpers for the emulator tests (imported by name: tests/emulator is on sys.path).

Tests stay synchronous and drive their own loops through ``clock.run(...)``,
so each one chooses virtual or wall time explicitly (pytest-asyncio's loop is
a wall-clock loop and would make a seven-day wait real).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from s1bench.emulator.capture import CaptureTap
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.installation import REFERENCE_DMC, Installation
from s1bench.emulator.medium import make_medium

# A UTRN the reference ESME accepts (20 digits).
UTRN = "73946144332040217315"


def build(clock: VirtualClock, *, seed: int = 1, capture: str | None = None,
          **medium_options: Any) -> Installation:
    """The reference installation on its own memory medium (call inside a running loop)."""
    medium = make_medium("memory", clock=clock, seed=seed, **medium_options)
    tap = None
    if capture is not None:
        tap = CaptureTap(capture)
        medium.add_tap(tap)
    return Installation(dict(REFERENCE_DMC), medium, clock, seed=seed, capture=tap)


@contextmanager
def wall_deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block takes longer than ``seconds``."""

    def _expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"test still running after {seconds} s of wall time")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_DCC: dict[int, Any] = {}


def dcc(inst: Installation) -> Any:
    """The DCC side (DSP, S1SP, DCO) in front of an installation, one per installation.

    The hub speaks head-end commands only; tests that send Service Requests
    go through the harness's DCC role, as a supplier would.
    """
    from s1bench.harness.dcc import DccRole

    role = _DCC.get(id(inst))
    if role is None or role.installation is not inst:
        role = _DCC[id(inst)] = DccRole(inst)
    return role
