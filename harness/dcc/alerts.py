"""Alert volumes per DMC and day: risk 11's mitigation as seed 000 gives it.

Seed 000 answers the alerts of migrated Itron meters with "monitoring with
regular reports", against volumes "below the level which would be of
concern". s1bench counts alerts per DMC and calendar day (UTC) and compares
each day with a level of concern the engineer sets; the report shows the
table. Risk 11 is a residual risk: this never counts against the Testing
Issue Threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

#: Alerts per installation and day above which a day is flagged (a setting; the
#: seeds give no number: one an hour is s1bench's default).
LEVEL_OF_CONCERN = 24


def alert_volumes(alerts: Iterable[Any], dmc: str, *,
                  level: int = LEVEL_OF_CONCERN) -> list[dict[str, Any]]:
    """One row per calendar day: the alert count, the level, and whether it is over."""
    days: Counter[str] = Counter()
    for alert in alerts:
        raised = alert.raised_at if hasattr(alert, "raised_at") else alert["raised_at"]
        day = raised.date().isoformat() if hasattr(raised, "date") else str(raised)[:10]
        days[day] += 1
    return [{"dmc": dmc, "day": day, "alerts": count, "level": level,
             "over_level": count > level} for day, count in sorted(days.items())]
