"""The MCC's pacing of migrations, seed 002 Annex C, as decisions with reasons.

What the Annex says, and how s1bench reads it (each number is a setting of
:class:`PacingPolicy`, recorded in the run's first line):

* "Hold a daily Go / No-go to review progress of previous migrations and
  approve the progress of the proposed migrations for that day": before
  each day, :meth:`Pacer.go_no_go` proposes each DMC's volume and says go
  (something to migrate) or no-go (nothing approved), with the reasons.
* "If any anomalous behaviour is detected these DMCs will be throttled or
  halted in day until diagnosis can be made and future migrations will be
  paused": a day runs in waves; after each wave a DMC whose failure rate
  in the day passed ``halt_failure_rate`` (with at least
  ``min_sample`` migrations to judge by), or that hit a *new or unknown
  error* (a failure no known Testing Issue of the DMC explains), is halted
  for the rest of the day and paused for ``diagnosis_days``; one whose rate
  passed ``expected_failure_rate`` is throttled in day (its remaining waves
  halved).
* "Increase volumes if deemed appropriate due to the results of previous
  migrations. Decrease volumes if previous migrations have not resulted in
  expected results ... Higher than expected failure rates for that DMC":
  at the end of a day a DMC at or below the expected rate is scaled up by
  ``scale_up`` (never beyond its share of the daily capacity times
  ``max_share_factor``), one above it is scaled down by ``scale_down``.
  After diagnosis a DMC restarts at ``restart_fraction`` of its first
  day's volume.
* "Higher than expected failure rates for that cohort": a cohort is a group
  of DMCs migrated as one programme (seed 002 names IOC, MDS and MOC Secure;
  seed 001 the IOC Aclara DMCs). ``fleet --cohort NAME=DMC,DMC`` names them;
  DMCs no cohort names form the cohort ``fleet``. A cohort whose day's failure
  rate passes ``halt_failure_rate`` scales every one of its DMCs down, each
  decision naming the cohort; the other cohorts go on as their own results say.

The expected rate's default, 7 %, is seed 000's November 2019 figure (93 %
overall success for 2,139 dormant Itron migrations); the halt threshold's
20 % is s1bench's assumption, as are the factors: the Annex gives none.

Only the DMC's own results decide; nothing here reads a device. The pacer is
deterministic: the same results give the same decisions, whatever the
number of workers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: The cohort of the DMCs no ``--cohort`` names.
DEFAULT_COHORT = "fleet"

#: Outcomes that count as a failed migration (fixed forward succeeded, with interruptions).
FAILED = frozenset({"rolled back", "stalled", "dumb", "rejected"})


@dataclass(frozen=True)
class PacingPolicy:
    """The numbers behind the pacing decisions (see the module docstring)."""

    expected_failure_rate: float = 0.07
    halt_failure_rate: float = 0.20
    min_sample: int = 20
    waves: int = 4
    scale_up: float = 1.5
    scale_down: float = 0.5
    max_share_factor: float = 1.0
    diagnosis_days: int = 2
    restart_fraction: float = 0.25

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> None:
        for name in ("expected_failure_rate", "halt_failure_rate", "scale_down",
                     "restart_fraction"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"pacing {name} must be in (0, 1], got {value}")
        if self.expected_failure_rate > self.halt_failure_rate:
            raise ValueError("pacing expected_failure_rate must not exceed halt_failure_rate")
        if self.waves < 1 or self.min_sample < 1 or self.diagnosis_days < 0:
            raise ValueError("pacing waves and min_sample must be >= 1, diagnosis_days >= 0")
        if self.scale_up < 1 or self.max_share_factor <= 0:
            raise ValueError("pacing scale_up must be >= 1 and max_share_factor above 0")


@dataclass
class DmcPace:
    """One DMC's standing with the MCC."""

    first_volume: int
    volume: int
    paused_until_day: int = 0
    halted_reason: str | None = None
    #: Today's tally: migrations judged, failures, unknown errors seen.
    done: int = 0
    failed: int = 0
    unknown: list[str] = field(default_factory=list)
    halted_today: bool = False
    throttled_today: bool = False


@dataclass(frozen=True)
class Decision:
    """One pacing decision, as the record keeps it."""

    day: int
    dmc: str
    action: str  # go, no-go, throttle, halt, scale-up, scale-down, resume, done
    volume: int
    reason: str
    wave: int | None = None

    def line(self) -> dict[str, Any]:
        return {"kind": "decision", **asdict(self)}


class Pacer:
    """The MCC for one fleet run: proposes each day's volumes and judges each wave."""

    def __init__(self, policy: PacingPolicy, per_day: int, mix: dict[str, float],
                 remaining: dict[str, int], cohorts: dict[str, str] | None = None) -> None:
        from .plan import apportion

        self.policy = policy
        #: Each DMC's cohort; DMCs no cohort names share the cohort "fleet".
        self.cohorts = {dmc: (cohorts or {}).get(dmc, DEFAULT_COHORT) for dmc in mix}
        self.per_day = per_day
        self.mix = mix
        self.remaining = dict(remaining)
        start = apportion(per_day, mix)
        self.dmcs = {dmc: DmcPace(start[dmc], start[dmc]) for dmc in sorted(mix)}

    def cap(self, dmc: str) -> int:
        return max(1, round(self.per_day * self.mix[dmc] * self.policy.max_share_factor))

    # ---- before a day ------------------------------------------------------------------
    def go_no_go(self, day: int) -> tuple[dict[str, int], list[Decision]]:
        """Each DMC's approved volume for the day, and the decisions that say why."""
        decisions: list[Decision] = []
        volumes: dict[str, int] = {}
        for dmc, pace in self.dmcs.items():
            pace.done = pace.failed = 0
            pace.unknown = []
            pace.halted_today = pace.throttled_today = False
            left = self.remaining[dmc]
            if left == 0:
                continue
            if day < pace.paused_until_day:
                decisions.append(Decision(day, dmc, "no-go", 0,
                                          f"paused until diagnosis ({pace.halted_reason}); "
                                          f"resumes on day {pace.paused_until_day}"))
                continue
            if pace.halted_reason is not None:
                pace.volume = max(1, round(pace.first_volume * self.policy.restart_fraction))
                decisions.append(Decision(day, dmc, "resume", pace.volume,
                                          f"diagnosis made after {self.policy.diagnosis_days} "
                                          f"day(s) ({pace.halted_reason}); restart at "
                                          f"{self.policy.restart_fraction:.0%} of the first "
                                          "day's volume"))
                pace.halted_reason = None
            volumes[dmc] = min(pace.volume, left)
        total = sum(volumes.values())
        if total > self.per_day:  # never more than the day's capacity
            volumes = _scaled(volumes, self.per_day)
        for dmc, volume in volumes.items():
            decisions.append(Decision(day, dmc, "go" if volume else "no-go", volume,
                                      f"approved {volume} of {self.remaining[dmc]} waiting"))
        return volumes, decisions

    # ---- during a day ------------------------------------------------------------------
    def judge_wave(self, day: int, wave: int, results: list[dict[str, Any]]
                   ) -> list[Decision]:
        """Tally a wave's results; halt or throttle a DMC in day on anomalous behaviour."""
        decisions: list[Decision] = []
        for result in results:
            pace = self.dmcs[result["dmc"]]
            pace.done += 1
            self.remaining[result["dmc"]] -= 1
            if result["outcome"] in FAILED:
                pace.failed += 1
            if result.get("unknown_error"):
                pace.unknown.append(result["unknown_error"])
        for dmc, pace in self.dmcs.items():
            if pace.halted_today or pace.done == 0:
                continue
            rate = pace.failed / pace.done
            if pace.unknown:
                why = f"new or unknown error: {pace.unknown[0]}"
            elif pace.done >= self.policy.min_sample and rate > self.policy.halt_failure_rate:
                why = (f"failure rate {rate:.1%} over {pace.done} migrations today is above "
                       f"the halt threshold {self.policy.halt_failure_rate:.0%}")
            else:
                why = None
            if why is not None:
                pace.halted_today = True
                pace.halted_reason = why
                pace.paused_until_day = day + 1 + self.policy.diagnosis_days
                decisions.append(Decision(day, dmc, "halt", 0, why + "; halted in day until "
                                          "diagnosis, future migrations paused", wave))
            elif (not pace.throttled_today and pace.done >= self.policy.min_sample
                  and rate > self.policy.expected_failure_rate):
                pace.throttled_today = True
                decisions.append(Decision(day, dmc, "throttle", 0,
                                          f"failure rate {rate:.1%} today is above the "
                                          f"expected {self.policy.expected_failure_rate:.0%}: "
                                          "the rest of today's volume is halved", wave))
        return decisions

    def wave_share(self, dmc: str, planned: int) -> int:
        """How many of a wave's ``planned`` migrations a DMC may still run today."""
        pace = self.dmcs[dmc]
        if pace.halted_today:
            return 0
        return max(1, planned // 2) if pace.throttled_today and planned else planned

    # ---- after a day -------------------------------------------------------------------
    def end_of_day(self, day: int) -> list[Decision]:
        """Scale each DMC's volume for tomorrow on today's results."""
        decisions: list[Decision] = []
        tally: dict[str, list[int]] = {}
        for dmc, pace in self.dmcs.items():
            counts = tally.setdefault(self.cohorts[dmc], [0, 0])
            counts[0] += pace.done
            counts[1] += pace.failed
        for dmc, pace in self.dmcs.items():
            cohort = self.cohorts[dmc]
            done, failed = tally[cohort]
            cohort_bad = done >= self.policy.min_sample and failed / done > \
                self.policy.halt_failure_rate
            if self.remaining[dmc] == 0:
                if pace.done:
                    decisions.append(Decision(day, dmc, "done", 0,
                                              "every installation of this DMC has been taken"))
                continue
            if pace.halted_today or pace.done == 0:
                continue
            rate = pace.failed / pace.done
            if rate > self.policy.expected_failure_rate or cohort_bad:
                pace.volume = max(1, round(pace.volume * self.policy.scale_down))
                why = (f"failure rate {rate:.1%} above the expected "
                       f"{self.policy.expected_failure_rate:.0%}" if not cohort_bad else
                       f"cohort {cohort}'s failure rate {failed / done:.1%} over {done} "
                       f"migrations is above {self.policy.halt_failure_rate:.0%}")
                decisions.append(Decision(day, dmc, "scale-down", pace.volume, why))
            else:
                grown = min(self.cap(dmc), max(pace.volume + 1,
                                               round(pace.volume * self.policy.scale_up)))
                if grown > pace.volume:
                    pace.volume = grown
                    decisions.append(Decision(day, dmc, "scale-up", grown,
                                              f"failure rate {rate:.1%} within the expected "
                                              f"{self.policy.expected_failure_rate:.0%}"))
        return decisions


def _scaled(volumes: dict[str, int], capacity: int) -> dict[str, int]:
    from .plan import apportion

    total = sum(volumes.values())
    return apportion(capacity, {dmc: v / total for dmc, v in volumes.items() if v}) | {
        dmc: 0 for dmc, v in volumes.items() if not v}
