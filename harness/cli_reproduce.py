"""`s1bench reproduce ISSUE_ID [--mitigate | --fixed] [--json]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .cli_common import (
    EXIT_NOT_MET,
    EXIT_OK,
    PANEL_RUN,
    BadInput,
    JsonOpt,
    SeedOpt,
    print_table,
    settings,
    writable_file,
)


def register(app: typer.Typer) -> None:
    app.command("reproduce", rich_help_panel=PANEL_RUN, epilog=(
        "Examples:\n\n    s1bench reproduce --list\n\n"
        "    s1bench reproduce 110031 --mitigate --json"))(reproduce)


def reproduce(
    ctx: typer.Context,
    issue: Annotated[str | None, typer.Argument(
        help="Testing Issue id, e.g. 110031 (omit with --list).")] = None,
    mitigate: Annotated[bool, typer.Option(help="Apply the DCC-side mitigation.")] = False,
    fixed: Annotated[bool, typer.Option(help="Use the fixed firmware.")] = False,
    seed: SeedOpt = None,
    capture: Annotated[Path | None, typer.Option(
        metavar="OUT.pcap", help="Write a pcap and its key file.")] = None,
    list_issues: Annotated[bool, typer.Option("--list", help="List the Testing Issues.")] = False,
    as_json: JsonOpt = False,
) -> int:
    """Reproduce a Testing Issue on the virtual clock: quirky, mitigated or fixed.

    Runs the Testing Issue's scenario against the quirky firmware (default),
    with the DCC-side mitigation, or on the fixed firmware; prints the steps,
    the responses and the verdict.
    """
    from .reproduce import SCENARIOS
    from .reproduce import reproduce as run_scenario

    if list_issues or not issue:
        print_table(["ISSUE", "QUIRK", "DMC", "SUMMARY"],
                    [(sc.issue, sc.quirk, sc.dmc, sc.summary) for sc in SCENARIOS.values()],
                    wrap=("SUMMARY",))
        return EXIT_OK
    if mitigate and fixed:
        raise BadInput("--mitigate and --fixed: choose one")
    cfg = settings(ctx, seed=seed)
    if capture is not None:
        writable_file(capture, "--capture")
    variant = "mitigated" if mitigate else "fixed" if fixed else "quirky"
    try:
        result = run_scenario(issue, variant, seed=cfg.seed,
                              capture=str(capture) if capture else None)
    except (KeyError, ValueError) as exc:
        raise BadInput(str(exc).strip("'\"")) from None
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        ti = result.testing_issue
        print(f"Testing Issue {ti['id']}: {ti['title']} (severity {ti['severity']})")
        print(f"DMC {result.dmc}, {variant} firmware/DCC\n")
        for i, step in enumerate(result.steps, 1):
            line = f"{i:3}. {step['at'][11:19]}  {step['step']}"
            if "response" in step:
                r = step["response"]
                line += f"  -> {r['srv']} {r['response_code'] or '(no response code)'}"
                if r.get("reason"):
                    line += f" ({r['reason']})"
            print(line)
        print(f"\n{result.evidence}")
        print(f"verdict: {result.verdict}")
    return EXIT_OK if result.ok else EXIT_NOT_MET
