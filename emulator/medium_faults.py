"""Faults on a schedule, around any medium: frames dropped, delayed, duplicated, reordered.

Why a wrapper and not options of each medium: a fault schedule is about the
run (what the HAN suffers, and when), not about how frames travel, so one
implementation serves the memory medium, the MQTT medium and any medium an
entry point adds. :func:`s1bench.emulator.medium.make_medium` wraps the
medium it builds when its options carry ``faults`` (a list of rules, as the
``faults:`` block of a ``--faults`` file or a pack test gives them).

A rule says what happens to a frame (``kind``), how likely (``probability``,
drawn from a RNG seeded by the medium's seed, in send order, so a seed
replays the same faults), when (``from_s``/``until_s``: virtual seconds
since the medium carried its first frame, so each test's or installation's
HAN suffers the same window whenever it starts) and which way
(``direction``: frames to the hub's coordinator, short address 0x0000, or
from it). A frame suffers at most one fault: the first rule, in file order,
whose window and direction match and whose draw hits.

- ``drop``: the frame never reaches the air;
- ``delay``: it goes ``delay_s`` virtual seconds late;
- ``duplicate``: it goes now and again ``delay_s`` later (0: twice at once);
- ``reorder``: it is held until the next frame to the same destination has
  gone (that one overtakes it), or ``delay_s`` at most.

Capture taps sit on the wrapped medium, so a capture shows what went on the
air: a dropped frame is absent, a duplicate appears twice. A frame no rule
hits costs one loop over the rules and nothing else: no timer, no task.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from .capture import CaptureTap
from .medium import MIN_FRAME, Medium, Station

#: The hub's coordinator: the one short address a direction is judged by.
COORDINATOR = 0x0000

Kind = Literal["drop", "delay", "duplicate", "reorder"]
KINDS: tuple[str, ...] = ("drop", "delay", "duplicate", "reorder")


class FaultRule(BaseModel):
    """One fault and when it strikes; the first matching rule decides a frame's fate."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    kind: Kind
    """drop, delay, duplicate or reorder."""
    probability: Annotated[float, Field(gt=0, le=1)] = 1.0
    """Chance a frame in the window suffers it (seeded by the run's seed)."""
    from_s: Annotated[float, Field(ge=0)] = 0.0
    """Start of the window, virtual seconds after the HAN's first frame."""
    until_s: Annotated[float, Field(gt=0)] | None = None
    """End of the window (exclusive); unset: to the end of the run."""
    delay_s: Annotated[float, Field(ge=0, le=86_400)] = 0.5
    """delay: how late; duplicate: gap before the copy; reorder: longest hold."""
    direction: Literal["any", "to_hub", "from_hub"] = "any"
    """Only frames to the hub's coordinator, only frames from it, or any."""

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.until_s is not None and self.until_s <= self.from_s:
            raise ValueError(f"until_s ({self.until_s:g}) must be after from_s "
                             f"({self.from_s:g})")
        return self


Schedule = list[FaultRule]
_SCHEDULE = TypeAdapter(Schedule)


class FaultScheduleError(ValueError):
    """A fault schedule that cannot be used; the message names the rule and key."""


def parse_schedule(rules: Any, where: str = "faults") -> list[FaultRule]:
    """The rules of a schedule given as plain data (a record, a job message), checked."""
    from s1bench.filecheck import format_key, problems_from

    try:
        return _SCHEDULE.validate_python(rules)
    except ValidationError as exc:
        key, reason = problems_from(exc)[0]
        raise FaultScheduleError(f"{format_key((where, *key))}: {reason}") from None


def schedule_data(rules: list[FaultRule]) -> list[dict[str, Any]]:
    """Rules as the plain data a record or a job message carries (defaults left out)."""
    return [rule.model_dump(exclude_defaults=True) | {"kind": rule.kind} for rule in rules]


class FaultMedium(Medium):
    """``inner`` with ``rules`` applied to what its stations send (see the module)."""

    def __init__(self, inner: Medium, rules: Any, *, seed: int = 0,
                 clock: Any = None) -> None:
        super().__init__()
        self.inner = inner
        self.rules = rules if _all_rules(rules) else parse_schedule(rules)
        self.stats = inner.stats  # one count of frames, whichever object a station asks
        self.name = f"{inner.name}+faults"  # type: ignore[misc]
        self._clock = clock if clock is not None else getattr(inner, "_clock", None)
        self._rng = random.Random(f"faults:{seed}")
        self._start: float | None = None
        self._held: dict[tuple[int, bytes], tuple[Station, bytes, asyncio.TimerHandle]] = {}
        #: Frames each kind of fault struck: what a record says the run suffered.
        self.faulted: Counter[str] = Counter()

    # -- what a medium does, passed through -------------------------------------

    def attach(self, station: Station) -> None:
        self.inner.attach(station)

    def detach(self, station: Station) -> None:
        self.inner.detach(station)

    def readdress(self, station: Station, old_short: int) -> None:
        readdress = getattr(self.inner, "readdress", None)
        if readdress is not None:
            readdress(station, old_short)

    def add_tap(self, tap: CaptureTap) -> None:
        self.inner.add_tap(tap)

    def __getattr__(self, name: str) -> Any:
        # flush(), start(), aclose() and the counters of a medium that has them.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def close(self) -> None:
        for _sender, _frame, handle in self._held.values():
            handle.cancel()
        self._held.clear()
        self.inner.close()

    # -- the faults ---------------------------------------------------------------

    def _now(self) -> float:
        clock = self._clock
        now = clock.monotonic() if clock is not None else asyncio.get_running_loop().time()
        if self._start is None:
            self._start = now
        return now - self._start

    def send(self, sender: Station, frame: bytes) -> None:
        rule = self._strikes(frame)
        key = (getattr(sender, "extended_pan", 0), frame[3:7])
        if rule is None:
            self.inner.send(sender, frame)
            if self._held and key in self._held:
                self._release(key)  # this frame overtook the one held back
            return
        self.faulted[rule.kind] += 1
        kind = rule.kind
        if kind == "drop":
            return
        loop = asyncio.get_running_loop()
        if kind == "delay":
            loop.call_later(rule.delay_s, self.inner.send, sender, frame)
        elif kind == "duplicate":
            self.inner.send(sender, frame)
            if rule.delay_s:
                loop.call_later(rule.delay_s, self.inner.send, sender, frame)
            else:
                self.inner.send(sender, frame)
        else:  # reorder
            if key in self._held:
                self._release(key)  # one held frame per destination: the older goes first
            handle = loop.call_later(rule.delay_s, self._release, key)
            self._held[key] = (sender, frame, handle)

    def _release(self, key: tuple[int, bytes]) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            sender, frame, handle = held
            handle.cancel()
            self.inner.send(sender, frame)

    def _strikes(self, frame: bytes) -> FaultRule | None:
        """The rule this frame suffers, if any; draws only for rules whose window is open."""
        at = self._now()
        routable = len(frame) >= MIN_FRAME
        for rule in self.rules:
            if at < rule.from_s or (rule.until_s is not None and at >= rule.until_s):
                continue
            if rule.direction != "any":
                if not routable:
                    continue
                short = (frame[5] | frame[6] << 8) if rule.direction == "to_hub" else (
                    frame[7] | frame[8] << 8)
                if short != COORDINATOR:
                    continue
            if rule.probability >= 1.0 or self._rng.random() < rule.probability:
                return rule
        return None


def _all_rules(rules: Any) -> bool:
    return isinstance(rules, list) and bool(rules) and all(
        isinstance(rule, FaultRule) for rule in rules)


def fault_counts(medium: Any) -> dict[str, int]:
    """What faults a medium's frames suffered, by kind; {} for a medium without a schedule."""
    faulted = getattr(medium, "faulted", None)
    return {kind: faulted[kind] for kind in KINDS if faulted.get(kind)} if faulted else {}


__all__ = ["FaultMedium", "FaultRule", "FaultScheduleError", "fault_counts", "parse_schedule",
           "schedule_data"]
