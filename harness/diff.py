"""Where two runs of one pack disagree, step by step: the emulator against a bench.

Why: a firmware profile is s1bench's claim about how a device model behaves.
Running the same pack on the emulator and on a bench of the real devices, and
lining the two records up, shows an engineer exactly where the claim is wrong:
this SRV got E21 on the bench but I0 on the emulator, that response had a
field the profile never produces, an alert the meter raised that the profile
does not, a step that takes 40 s on the hardware.

It compares two run records (``record.jsonl`` as ``reports.read_record``
reads them) and nothing else, so it needs no hardware to test and an engineer
can re-compare recorded runs with another tolerance. Tests are matched by
(pack, test name) and steps by index. Compared per step: whether it ran,
its verdict, the DUIS response code, the device's MessageSuccess, the
head-end outcome (done, refused, silent, ...), the body's field names (not
their values: readings differ between any two meters), the migration
outcome, the alerts that arrived during it (code and device type), and its
duration beyond a tolerance. EUIs, RequestIDs and values never are: they
differ between any two installations.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .reports import Record

#: Seconds two sides' step durations may differ before it is reported.
DEFAULT_TOLERANCE_S = 2.0

#: What is compared, in the order differences are listed for one step.
ASPECTS = ("test", "step", "verdict", "response_code", "device_success", "outcome",
           "body_fields", "migration", "alerts", "timing")


@dataclass(frozen=True)
class Difference:
    """One way one step (or test, when ``index`` is None) differs between the sides."""

    pack: str
    test: str
    index: int | None
    step: str
    aspect: str
    left: str
    right: str

    def __str__(self) -> str:
        where = f"{self.pack} / {self.test}" + (
            f" / step {self.index} ({self.step})" if self.index is not None else "")
        return f"{where}: {self.aspect}: {self.left} vs {self.right}"


@dataclass
class DiffResult:
    """Every difference found, and how much was compared (a clean diff of nothing is no news)."""

    left_name: str
    right_name: str
    tolerance_s: float
    tests_compared: int = 0
    steps_compared: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def differing_steps(self) -> list[tuple[str, str, int | None]]:
        """(pack, test, step index) of each step (or whole test) that differs, once each."""
        return list(dict.fromkeys((d.pack, d.test, d.index) for d in self.differences))

    def as_dict(self) -> dict[str, Any]:
        return {"left": self.left_name, "right": self.right_name,
                "tolerance_s": self.tolerance_s, "tests_compared": self.tests_compared,
                "steps_compared": self.steps_compared,
                "differing_steps": len(self.differing_steps),
                "differences": [asdict(d) for d in self.differences]}


def _tests_of(record: Record, dmc: str | None) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(pack, test) -> the record's key, for the one DMC compared."""
    dmcs = sorted({key[0] for key in record.tests} | {key[0] for key in record.steps})
    if dmc is None and len(dmcs) > 1:
        raise ValueError(f"{record.path} holds runs of several DMCs ({', '.join(dmcs)}): "
                         "name the one to compare")
    out = {}
    for key in itertools.chain(record.tests, record.steps):
        if (dmc is None or key[0] == dmc) and (key[1], key[2]) not in out:
            out[(key[1], key[2])] = key
    return out


def _response(step: dict[str, Any]) -> dict[str, Any]:
    response = step.get("response")
    return response if isinstance(response, dict) else {}


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _elapsed(steps: list[dict[str, Any]], position: int) -> float | None:
    """A step's duration: recorded, or the gap from the previous step's end (older records)."""
    step = steps[position]
    if isinstance(step.get("elapsed_s"), int | float):
        return float(step["elapsed_s"])
    if position == 0:
        return None
    try:
        now = datetime.fromisoformat(str(step.get("virtual_time")))
        before = datetime.fromisoformat(str(steps[position - 1].get("virtual_time")))
    except ValueError:
        return None
    return (now - before).total_seconds()


def _alerts(step: dict[str, Any]) -> Counter[str]:
    return Counter(f"{a.get('code')}@{a.get('device')}" for a in step.get("alerts") or []
                   if isinstance(a, dict))


def _alert_text(alerts: Counter[str]) -> str:
    if not alerts:
        return "none"
    return ", ".join(f"{name} x{n}" if n > 1 else name for name, n in sorted(alerts.items()))


def _step_aspects(left: dict[str, Any], right: dict[str, Any], left_s: float | None,
                  right_s: float | None, tolerance_s: float) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    if left.get("verdict") != right.get("verdict"):
        out.append(("verdict", _text(left.get("verdict")), _text(right.get("verdict"))))
    lr, rr = _response(left), _response(right)
    if lr or rr:
        for aspect, key in (("response_code", "response_code"),
                            ("device_success", "device_success"), ("outcome", "outcome")):
            if lr.get(key) != rr.get(key):
                out.append((aspect, _text(lr.get(key)), _text(rr.get(key))))
        lbody, rbody = set(lr.get("body") or {}), set(rr.get("body") or {})
        if lbody != rbody:
            out.append(("body_fields",
                        "only " + ", ".join(sorted(lbody - rbody)) if lbody - rbody else "-",
                        "only " + ", ".join(sorted(rbody - lbody)) if rbody - lbody else "-"))
    lm, rm = left.get("migration") or {}, right.get("migration") or {}
    if lm.get("outcome") != rm.get("outcome"):
        out.append(("migration", _text(lm.get("outcome")), _text(rm.get("outcome"))))
    la, ra = _alerts(left), _alerts(right)
    if la != ra:
        out.append(("alerts", _alert_text(la), _alert_text(ra)))
    if left_s is not None and right_s is not None and abs(left_s - right_s) > tolerance_s:
        out.append(("timing", f"{left_s:.3f} s", f"{right_s:.3f} s"))
    return out


def _test_alerts(test: dict[str, Any] | None) -> int:
    return sum(int(n) for n in ((test or {}).get("alerts") or {}).values())


def diff_records(left: Record, right: Record, *, tolerance_s: float = DEFAULT_TOLERANCE_S,
                 left_dmc: str | None = None, right_dmc: str | None = None,
                 left_name: str = "emulator", right_name: str = "bench") -> DiffResult:
    """Every difference between two records' runs of the same tests, in the left's order.

    ``left_dmc`` / ``right_dmc`` pick one DMC of a record that holds several.
    Raises ValueError when a record holds several DMCs and none is named.
    """
    result = DiffResult(left_name, right_name, tolerance_s)
    lt, rt = _tests_of(left, left_dmc), _tests_of(right, right_dmc)
    for name in [*lt, *(k for k in rt if k not in lt)]:
        pack, test = name
        if name not in rt or name not in lt:
            result.differences.append(Difference(
                pack, test, None, "", "test",
                "ran" if name in lt else "not run", "ran" if name in rt else "not run"))
            continue
        result.tests_compared += 1
        lsteps = left.steps.get(lt[name], [])
        rsteps = right.steps.get(rt[name], [])
        per_step_alerts = any("alerts" in s for s in itertools.chain(lsteps, rsteps))
        for position in range(max(len(lsteps), len(rsteps))):
            ls = lsteps[position] if position < len(lsteps) else None
            rs = rsteps[position] if position < len(rsteps) else None
            label = str((ls or rs or {}).get("step", ""))
            index = (ls or rs or {}).get("index", position)
            if ls is None or rs is None:
                # One side's test ended earlier (a failing step ends a test): one row
                # says which steps only the other side ran, rather than one per step.
                ran, ended = (lsteps, rsteps) if rs is None else (rsteps, lsteps)
                rest = ran[position:]
                ran_text = f"ran: {rest[0].get('verdict')}" + (
                    f" (and {len(rest) - 1} step(s) after it)" if len(rest) > 1 else "")
                last = ended[-1] if ended else {}
                not_run = (f"not run: the test ended at step {last.get('index')} "
                           f"({last.get('verdict')})" if ended else "not run")
                result.differences.append(Difference(
                    pack, test, index, label, "step",
                    ran_text if rs is None else not_run, ran_text if ls is None else not_run))
                break
            result.steps_compared += 1
            aspects = _step_aspects(ls, rs, _elapsed(lsteps, position),
                                    _elapsed(rsteps, position), tolerance_s)
            result.differences.extend(Difference(pack, test, index, label, aspect, a, b)
                                      for aspect, a, b in aspects)
        if not per_step_alerts:
            # A record from before per-step alerts: compare the test's total instead.
            la, ra = _test_alerts(left.tests.get(lt[name])), _test_alerts(right.tests.get(rt[name]))
            if la != ra:
                result.differences.append(Difference(pack, test, None, "", "alerts",
                                                     f"{la} alert(s)", f"{ra} alert(s)"))
    return result
