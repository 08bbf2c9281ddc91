"""`s1bench reproduce ISSUE_ID [--mitigate | --fixed] [--json]`."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("reproduce", help="reproduce a Testing Issue on the virtual clock",
                       description="Run the Testing Issue's scenario against the quirky "
                                   "firmware (default), with the DCC-side mitigation, or on "
                                   "the fixed firmware; print the steps, the responses and "
                                   "the verdict.")
    p.add_argument("issue", nargs="?", help="Testing Issue id, e.g. 110031 (omit with --list)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--mitigate", action="store_true", help="apply the DCC-side mitigation")
    group.add_argument("--fixed", action="store_true", help="use the fixed firmware")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--capture", metavar="OUT.pcap", help="write a pcap and its key file")
    p.add_argument("--list", action="store_true", help="list the Testing Issues")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .cli import EXIT_NOT_MET, EXIT_OK, BadInput
    from .reproduce import SCENARIOS, reproduce

    if args.list or not args.issue:
        for sc in SCENARIOS.values():
            print(f"{sc.issue:13} {sc.quirk:34} {sc.dmc:28} {sc.summary}")
        return EXIT_OK
    variant = "mitigated" if args.mitigate else "fixed" if args.fixed else "quirky"
    try:
        result = reproduce(args.issue, variant, seed=args.seed, capture=args.capture)
    except (KeyError, ValueError) as exc:
        raise BadInput(str(exc).strip("'\"")) from None
    if args.json:
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
