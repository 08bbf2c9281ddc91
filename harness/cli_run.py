"""`s1bench run PACK... --dmc ID...`: run packs, keep the record, render reports.

Exit status: 0 exit criteria met for every DMC, 1 not met, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run DMCT packs against emulated installations",
                       description="Run test packs against each DMC; every step is appended "
                                   "to DIR/record.jsonl; reports are rendered from it.")
    p.add_argument("packs", nargs="*", help="pack files or shipped pack names")
    p.add_argument("--dmc", action="append", default=[], help="DMC id (repeatable)")
    p.add_argument("--mitigations", action="store_true",
                   help="apply the DCC-side mitigations the packs name")
    p.add_argument("--capture", action="store_true", help="write a pcap per test")
    p.add_argument("--out", default="out/run", help="run directory (default out/run)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", metavar="DIR", help="continue the run recorded in DIR")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    from .cli import add_medium_options

    add_medium_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .cli import EXIT_NOT_MET, EXIT_OK, BadInput
    from .packs import PackError, load_pack
    from .runner import read_lines, run_packs

    out = Path(args.resume or args.out)
    head = None
    packs_arg, dmcs, seed, mitigations = args.packs, args.dmc, args.seed, args.mitigations
    if args.resume:
        lines = read_lines(out / "record.jsonl")
        head = next((line for line in lines if line.get("kind") == "run"), None)
        if head is None:
            raise BadInput(f"--resume {out}: no run record there")
        packs_arg = packs_arg or head["packs"]
        dmcs = dmcs or head["dmcs"]
        seed, mitigations = head["seed"], head["mitigations"]
    if not packs_arg or not dmcs:
        raise BadInput("name at least one pack and one --dmc")
    try:
        packs = [load_pack(name) for name in packs_arg]
    except PackError as exc:
        raise BadInput(str(exc)) from None
    try:
        from .builder import resolve_dmc

        for dmc in dmcs:
            resolve_dmc(dmc)
    except (KeyError, ValueError) as exc:
        raise BadInput(f"--dmc: {str(exc).strip(chr(39))}") from None

    def progress(done: int, total: int, line: str) -> None:
        if line and not args.quiet:
            print(line, file=sys.stderr, flush=True)

    from .cli import medium_options

    options = medium_options(args)
    if args.resume and head is not None:
        options = head.get("medium") or options
    try:
        from s1bench.emulator.medium_memory import MemoryMedium

        MemoryMedium(**options)  # check the options before anything runs
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    run_packs(packs, dmcs, out, seed=seed, mitigations=mitigations, capture=args.capture,
              resume=bool(args.resume), progress=progress, medium=options)
    from .reports import write_reports

    paths = write_reports(out)
    summary = json.loads(Path(paths["summary"]).read_text())
    print_exit_table(summary)
    print(f"report: {paths['html']}")
    return EXIT_OK if summary.get("exit_criteria_met") else EXIT_NOT_MET


def print_exit_table(summary: dict[str, Any]) -> None:
    print(f"{'DMC':31} {'tests':>5} {'pass':>5} {'fail':>5} {'skip':>5}  "
          f"{'exit criteria':13} Testing Issues (severity)")
    for dmc_id, d in sorted(summary["dmcs"].items()):
        issues = ", ".join(f"{i['id']} (S{i['severity']})" for i in d["testing_issues"]) or "-"
        print(f"{dmc_id:31} {d['tests_run']:>5} {d['passed']:>5} {d['failed']:>5} "
              f"{d['skipped']:>5}  {'met' if d['exit_criteria_met'] else 'NOT met':13} {issues}")
