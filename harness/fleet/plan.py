"""The fleet: which DMC each installation is, and the order the DCC takes them in.

Each installation is a number, 0 to N-1; everything about it (its EUI-64s,
its seed, its DMC) derives from that number and the run's seed, so any worker
can build it alone and a resumed run builds the same one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


class MixError(ValueError):
    """A --mix the fleet cannot use; the message names the part at fault."""


def parse_mix(text: str, known: set[str] | None = None) -> dict[str, float]:
    """``DMC=share,...`` as {dmc: share}; shares are normalised to sum to 1.

    Shares may be fractions (0.5) or weights (3): an engineer thinks in either.
    """
    shares: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        dmc, sep, value = part.partition("=")
        dmc = dmc.strip()
        if not sep or not dmc:
            raise MixError(f"--mix part {part!r}: expected DMC=share")
        try:
            share = float(value)
        except ValueError:
            raise MixError(f"--mix {dmc}: share {value.strip()!r} is not a number") from None
        if not math.isfinite(share) or share <= 0:
            raise MixError(f"--mix {dmc}: share must be above 0, got {value.strip()}")
        if known is not None and dmc not in known:
            raise MixError(f"--mix {dmc}: unknown DMC (known: {', '.join(sorted(known))})")
        if dmc in shares:
            raise MixError(f"--mix {dmc}: given twice")
        shares[dmc] = share
    if not shares:
        raise MixError("--mix names no DMC")
    total = sum(shares.values())
    return {dmc: share / total for dmc, share in shares.items()}


def parse_cohorts(parts: list[str], mix: dict[str, float]) -> dict[str, str]:
    """``NAME=DMC,DMC`` options as {dmc: cohort name}: a DMC in one cohort at most,
    and only DMCs of the mix (a cohort of DMCs not migrated would judge nothing)."""
    cohorts: dict[str, str] = {}
    for part in parts:
        name, sep, dmcs = part.partition("=")
        name = name.strip()
        members = [d.strip() for d in dmcs.split(",") if d.strip()]
        if not sep or not name or not members:
            raise MixError(f"--cohort {part!r}: expected NAME=DMC,DMC,...")
        for dmc in members:
            if dmc not in mix:
                raise MixError(f"--cohort {name}: {dmc} is not in --mix "
                               f"({', '.join(sorted(mix))})")
            if dmc in cohorts:
                raise MixError(f"--cohort {name}: {dmc} is already in cohort {cohorts[dmc]}")
            cohorts[dmc] = name
    return cohorts


def apportion(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Whole numbers in proportion to ``shares`` summing to ``total`` (largest remainder)."""
    exact = {dmc: total * share for dmc, share in shares.items()}
    out = {dmc: int(value) for dmc, value in exact.items()}
    left = total - sum(out.values())
    for dmc in sorted(exact, key=lambda d: (out[d] - exact[d], d))[:left]:
        out[dmc] += 1
    return out


@dataclass(frozen=True)
class Fleet:
    """N installations split over DMCs; ``queues`` holds each DMC's numbers in DCC order."""

    size: int
    mix: dict[str, float]
    queues: dict[str, tuple[int, ...]]


def plan_fleet(size: int, mix: dict[str, float], seed: int) -> Fleet:
    """Number the installations and give each a DMC.

    Numbers are handed out in a seeded interleaving, so installation 0..k of a
    run are a fair sample of the mix rather than all of one DMC; each DMC's
    queue is its numbers in increasing order (the order it migrates).
    """
    counts = apportion(size, mix)
    labels = [dmc for dmc in sorted(counts) for _ in range(counts[dmc])]
    random.Random(f"fleet-plan:{seed}").shuffle(labels)
    queues: dict[str, list[int]] = {dmc: [] for dmc in sorted(counts)}
    for index, dmc in enumerate(labels):
        queues[dmc].append(index)
    return Fleet(size, dict(mix), {dmc: tuple(q) for dmc, q in queues.items()})
