"""A fleet run's summary, report and pacing graph, rendered from its record alone.

Seed 002 Annex C ends: "There is no current install volume on which to base a
pacing graph". A fleet run has one: the graph shows, per day, the volume
migrated per DMC (stacked bars), the failures (a line), and each throttle,
halt, pause and resume as a marker with its DMC, so a reader sees at once when
the MCC held a DMC back and why (the reasons are in the table beneath).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..reports import atomic_write
from ..runner import read_lines
from .pacing import DEFAULT_COHORT, FAILED

OUTCOMES = ("migrated", "fixed forward", "rolled back", "stalled", "dumb", "rejected")
#: Decisions drawn on the graph (go and scale-up are the normal course of a day).
MARKED = {"throttle": "v", "halt": "X", "no-go": "s", "resume": "^", "scale-down": "1"}


def summarise(record: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals per DMC and per day, the decisions, Testing Issues and alerts seen."""
    header = next((line for line in record if line.get("kind") == "fleet"), {})
    lines = [line for line in record if line.get("kind") == "installation"]
    decisions = [line for line in record if line.get("kind") == "decision"]
    per_dmc: dict[str, Counter[str]] = {dmc: Counter() for dmc in header.get("mix", {})}
    per_day: dict[int, dict[str, Counter[str]]] = {}
    issues: dict[str, Counter[str]] = {}
    unknown: dict[str, list[str]] = {}
    alerts: dict[str, Counter[str]] = {}
    for line in lines:
        dmc = line["dmc"]
        per_dmc.setdefault(dmc, Counter())[line["outcome"]] += 1
        per_day.setdefault(line.get("day", 0), {}).setdefault(dmc, Counter())[
            line["outcome"]] += 1
        for issue in line.get("issues", []):
            issues.setdefault(dmc, Counter())[issue] += 1
        if line.get("unknown_error"):
            unknown.setdefault(dmc, []).append(line["unknown_error"])
        for code, n in line.get("alerts", {}).items():
            alerts.setdefault(dmc, Counter())[code] += n
    taken = len(lines)
    return {
        "installations": header.get("installations"), "taken": taken,
        "not_taken": (header.get("installations") or 0) - taken,
        "complete": any(line.get("kind") == "end" for line in record),
        "seed": header.get("seed"), "per_day": header.get("per_day"),
        "days": header.get("days"), "mix": header.get("mix"), "pacing": header.get("pacing"),
        "cohorts": {dmc: (header.get("cohorts") or {}).get(dmc, DEFAULT_COHORT)
                    for dmc in sorted(header.get("mix", {}))},
        "outcomes": {dmc: {o: c.get(o, 0) for o in OUTCOMES} for dmc, c in
                     sorted(per_dmc.items())},
        "days_run": {str(day): {dmc: {o: c.get(o, 0) for o in OUTCOMES if c.get(o)}
                                for dmc, c in sorted(dmcs.items())}
                     for day, dmcs in sorted(per_day.items())},
        "testing_issues": {dmc: dict(sorted(c.items())) for dmc, c in sorted(issues.items())},
        "unknown_errors": {dmc: {"count": len(v), "first": v[0]} for dmc, v in
                           sorted(unknown.items())},
        "alerts": {dmc: dict(sorted(c.items())) for dmc, c in sorted(alerts.items())},
        "decisions": [{k: d[k] for k in ("day", "wave", "dmc", "action", "volume", "reason")}
                      for d in decisions if d["action"] != "go"],
    }


def pacing_graph(summary: dict[str, Any]) -> bytes:
    """The pacing graph as PNG bytes (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    last = max([int(d) for d in summary["days_run"]] + [d["day"] for d in summary["decisions"]]
               + [1])
    days = list(range(1, last + 1))  # a paused day shows as an empty bar, not a gap
    dmcs = sorted(summary["outcomes"])
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    bottom = [0] * len(days)
    colours = plt.get_cmap("tab10")
    for n, dmc in enumerate(dmcs):
        heights = [sum(summary["days_run"].get(str(day), {}).get(dmc, {}).values())
                   for day in days]
        ax.bar(days, heights, bottom=bottom, label=dmc, color=colours(n % 10), alpha=0.8)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    failures = [sum(n for dmc in summary["days_run"].get(str(day), {}).values()
                    for o, n in dmc.items() if o in FAILED) for day in days]
    ax.plot(days, failures, color="black", marker="o", label="failed migrations")
    top = max([*bottom, 1])
    for n, decision in enumerate(d for d in summary["decisions"] if d["action"] in MARKED):
        ax.scatter([decision["day"]], [top * (1.04 + 0.05 * (n % 4))],
                   marker=MARKED[decision["action"]], color="crimson", zorder=3)
        ax.annotate(f"{decision['action']} {decision['dmc']}",
                    (decision["day"], top * (1.04 + 0.05 * (n % 4))), fontsize=7,
                    xytext=(6, -3), textcoords="offset points")
    ax.set_xlabel("migration day")
    ax.set_ylabel("installations migrated")
    ax.set_title("Migration pacing per day and DMC (seed 002 Annex C)")
    ax.set_xticks(days)
    ax.set_ylim(0, top * 1.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def render_html(summary: dict[str, Any], graph: bytes) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(dmc)}</td>" + "".join(f"<td>{counts[o]}</td>" for o in OUTCOMES)
        + f"<td>{esc(', '.join(f'{i} ×{n}' for i, n in summary['testing_issues'].get(dmc, {}).items()) or '-')}</td>"  # noqa: E501
        + f"<td>{esc(', '.join(f'{c} ×{n}' for c, n in summary['alerts'].get(dmc, {}).items()) or '-')}</td></tr>"  # noqa: E501
        for dmc, counts in summary["outcomes"].items())
    day_rows = "".join(
        f"<tr><td>{esc(day)}</td><td>{esc(dmc)}</td>"
        + "".join(f"<td>{counts.get(o, 0)}</td>" for o in OUTCOMES) + "</tr>"
        for day, dmcs in summary["days_run"].items() for dmc, counts in dmcs.items())
    decision_rows = "".join(
        f"<tr><td>{d['day']}</td><td>{d['wave'] or ''}</td><td>{esc(d['dmc'])}</td>"
        f"<td>{esc(d['action'])}</td><td>{d['volume']}</td><td>{esc(d['reason'])}</td></tr>"
        for d in summary["decisions"])
    head = "".join(f"<th>{o}</th>" for o in OUTCOMES)
    unknown = "".join(f"<li>{esc(dmc)}: {v['count']} (first: {esc(v['first'])})</li>"
                      for dmc, v in summary["unknown_errors"].items()) or "<li>none</li>"
    state = "complete" if summary["complete"] else "INCOMPLETE (resume with --resume)"
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>s1bench fleet</title><style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:2px 6px;text-align:right}} td:first-child{{text-align:left}}
</style></head><body>
<h1>Fleet: {summary['taken']} of {summary['installations']} installations taken ({state})</h1>
<p>Seed {summary['seed']}, {summary['per_day']} per day for up to {summary['days']} day(s),
mix {esc(json.dumps(summary['mix']))}. Cohorts: {esc(json.dumps(summary['cohorts']))}.
Pacing: {esc(json.dumps(summary['pacing']))}.</p>
<img alt="pacing graph" src="data:image/png;base64,{base64.b64encode(graph).decode()}">
<h2>Outcomes per DMC</h2><table><tr><th>DMC</th>{head}<th>Testing Issues</th><th>Alerts</th></tr>
{rows}</table>
<h2>New or unknown errors</h2><ul>{unknown}</ul>
<h2>Pacing decisions</h2><table><tr><th>day</th><th>wave</th><th>DMC</th><th>action</th>
<th>volume</th><th>reason</th></tr>{decision_rows}</table>
<h2>Per day</h2><table><tr><th>day</th><th>DMC</th>{head}</tr>{day_rows}</table>
</body></html>
"""


def write_reports(out: Path) -> dict[str, Any]:
    """summary.json and report.html (with the graph) beside the record; returns the summary."""
    summary = summarise(read_lines(out / "record.jsonl"))
    graph = pacing_graph(summary)
    atomic_write(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    atomic_write(out / "pacing.png", graph)
    atomic_write(out / "report.html", render_html(summary, graph).encode())
    return summary
