"""`s1bench run PACK... --dmc ID...`: run packs, keep the record, render reports.

Exit status: 0 exit criteria met for every DMC, 1 not met, 2 bad input.

Two guards protect what a run has recorded: ``--out`` onto a folder that
already holds a run is refused unless ``--force`` (which clears that run's
record, captures and reports first, so old captures never mix with new
ones), and ``--resume`` refuses options that contradict the record, naming
them, rather than quietly running something else than was started.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_common import (
    EXIT_NOT_MET,
    EXIT_OK,
    PANEL_RUN,
    BadInput,
    JitterOpt,
    LatencyOpt,
    LossOpt,
    SeedOpt,
    print_table,
    progress_bar,
    settings,
    writable_dir,
)
from .dcc.alerts import LEVEL_OF_CONCERN

#: What a run folder holds that s1bench wrote; --force removes exactly these.
RUN_OUTPUTS = ("record.jsonl", "summary.json", "junit.xml", "report.html", "captures")

EPILOG = (
    "Examples:\n\n"
    "    s1bench run standard-dormant-migration standard-srv testing-issues "
    "--dmc aclara-ioc-dormant --out out/aclara\n\n"
    "    s1bench run --resume out/aclara")


def register(app: typer.Typer) -> None:
    app.command("run", rich_help_panel=PANEL_RUN, epilog=EPILOG)(run)


def run(
    ctx: typer.Context,
    packs: Annotated[list[str] | None, typer.Argument(
        metavar="PACK...", help="Pack files or shipped pack names.", show_default=False)] = None,
    dmc: Annotated[list[str] | None, typer.Option(
        "--dmc", help="DMC id (repeatable). [default: the settings' dmc]")] = None,
    mitigations: Annotated[bool | None, typer.Option(
        "--mitigations/--no-mitigations", help="Apply the DCC-side mitigations the packs name.",
        show_default=False)] = None,
    capture: Annotated[bool, typer.Option(
        help="Write a pcap per test (recorded: a resume keeps capturing).")] = False,
    out: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Run folder. [default: OUT/run from settings, i.e. out/run]")] = None,
    force: Annotated[bool, typer.Option(
        help="Replace a run already recorded in --out.")] = False,
    seed: SeedOpt = None,
    resume: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Continue the run recorded in DIR.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    latency: LatencyOpt = None,
    jitter: JitterOpt = None,
    loss: LossOpt = None,
    not_counted: Annotated[list[str] | None, typer.Option(
        "--not-counted", metavar="ISSUE_ID", rich_help_panel="Exit criteria and report",
        help="A Testing Issue agreed not to count against the Testing Issue Threshold "
             "(seed 002), e.g. 91333 (repeatable; recorded; reported as 'agreed not "
             "counted'). [default: the settings' not_counted]", show_default=False)] = None,
    alert_level: Annotated[int | None, typer.Option(
        "--alert-level-of-concern", metavar="N", rich_help_panel="Exit criteria and report",
        help="Device alerts per installation and day above which the report flags the "
             "day (risk 11; flagged, never counted). [default: 24, or settings]",
        show_default=False)] = None,
    bench: Annotated[Path | None, typer.Option(
        "--bench", metavar="BENCH.yaml", rich_help_panel="Hardware in the loop",
        help="Run on this bench's physical devices through its dongle, on the wall clock "
             "(the DMC is the bench's; needs the hil extra). See `s1bench bench check`.",
        show_default=False)] = None,
    faults: Annotated[Path | None, typer.Option(
        "--faults", metavar="FAULTS.yaml", rich_help_panel="HAN medium",
        help="Drop, delay, duplicate or reorder HAN frames on this schedule (seeded; "
             "recorded in the run line). See `s1bench schema faults`.",
        show_default=False)] = None,
) -> int:
    """Run DMCT packs against emulated installations; record every step; render reports.

    Every step is appended to DIR/record.jsonl as it happens; junit.xml,
    summary.json and report.html are rendered from that record.
    """
    from .packs import load_pack
    from .runner import read_lines, run_packs

    packs = list(packs or [])
    dmcs = list(dmc or [])
    medium_cli = {"latency": latency, "jitter": jitter, "loss": loss}
    report_cli = {"not_counted": not_counted, "alert_level_of_concern": alert_level}
    loaded = [load_pack(name) for name in packs]  # a PackError is bad input (exit 2)
    schedule = _load_faults(faults) if faults is not None else None
    target = None
    if resume is not None:
        head = _run_head(resume, read_lines)
        target = _resumed_target(head, bench, resume)
        cfg = settings(ctx, **report_cli)  # a malformed issue id or level is exit 2 first
        _refuse_contradictions(head, [p.id for p in loaded], dmcs, seed, mitigations,
                               medium_cli, capture=capture,
                               not_counted=cfg.not_counted if not_counted else None,
                               alert_level=alert_level)
        out_dir, dmcs = resume, list(head["dmcs"])
        loaded = loaded or [load_pack(name) for name in head["packs"]]
        seed_v, mitig_v = int(head["seed"]), bool(head["mitigations"])
        medium = head.get("medium") or cfg.medium_options()
        if schedule is not None and schedule != medium.get("faults"):
            raise BadInput(f"--faults {faults}: the recorded run ran "
                           + ("other faults" if medium.get("faults") else "without faults")
                           + "; drop --faults, or start a new run with --out")
        # What the record says wins; a record from before these options had none.
        capture = bool(head.get("capture", capture))
        agreed = list(head.get("not_counted") or [])
        level = int(head.get("alert_level_of_concern", LEVEL_OF_CONCERN))
    else:
        cfg = settings(ctx, seed=seed, **medium_cli, **report_cli)
        if bench is not None:
            target = _bench_target(bench, dmcs, capture)
            dmcs = [target.bench.dmc]
        dmcs = dmcs or [cfg.dmc]
        out_dir = out or cfg.out / "run"
        seed_v, mitig_v, medium = cfg.seed, bool(mitigations), cfg.medium_options()
        if schedule is not None:
            if bench is not None:
                raise BadInput("--faults: a bench's HAN is real radio; faults are for the "
                               "emulator's medium")
            medium = {**medium, "faults": schedule}
        agreed, level = list(cfg.not_counted), int(cfg.alert_level_of_concern)
    if not loaded:
        raise BadInput("name at least one pack (a file or a shipped pack: "
                       "standard-dormant-migration, standard-srv, testing-issues)")
    from .builder import resolve_dmc

    for dmc_id in dmcs:
        try:
            resolve_dmc(dmc_id)
        except (KeyError, ValueError) as exc:
            raise BadInput(f"--dmc: {str(exc).strip(chr(39))}") from None
    writable_dir(out_dir, "--resume" if resume else "--out")
    if resume is None:
        claim_run_folder(out_dir, force)
    from .reports import write_reports
    from .targets import EMULATOR, TargetLost

    where = f"on bench {target.bench.id}" if target is not None else f"x {len(dmcs)} DMC(s)"
    with progress_bar(f"run {len(loaded)} pack(s) {where}", enabled=not quiet) as progress:
        try:
            run_packs(loaded, dmcs, out_dir, seed=seed_v, mitigations=mitig_v,
                      capture=capture, resume=resume is not None, progress=progress,
                      medium=medium, not_counted=agreed, alert_level=level,
                      target=target or EMULATOR)
        except TargetLost as exc:
            from .cli_bench import lost_message

            write_reports(out_dir)  # what ran, marked incomplete
            raise BadInput(lost_message(exc, out_dir)) from None

    paths = write_reports(out_dir)
    summary = json.loads(Path(paths["summary"]).read_text())
    print_exit_table(summary)
    print(f"report: {paths['html']}")
    return EXIT_OK if summary.get("exit_criteria_met") else EXIT_NOT_MET


def _load_faults(path: Path) -> list[dict[str, Any]]:
    from .faults_file import FaultsError, load_faults

    try:
        return load_faults(path)
    except FaultsError as exc:
        raise BadInput(f"--faults: {exc}") from None


def _bench_target(bench: Path, dmcs: list[str], capture: bool) -> Any:
    """The bench's target; its DMC is the bench's, and a bench has no frames to capture."""
    from .cli_bench import bench_target, load_bench_file

    loaded = load_bench_file(bench)
    others = [d for d in dmcs if d != loaded.dmc]
    if others:
        raise BadInput(f"--dmc {others[0]}: bench {loaded.id} forms DMC {loaded.dmc}; a bench "
                       "run runs that one (compare with another DMC: s1bench diff)")
    if capture:
        raise BadInput("--capture: a bench has no frames to capture (the dongle works at the "
                       "APS level); capture on the emulator instead")
    return bench_target(bench)


def _resumed_target(head: dict[str, Any], bench: Path | None, folder: Path) -> Any:
    """A bench run resumes on its bench (the recorded file, or --bench naming the same)."""
    recorded = head.get("target") or {}
    if recorded.get("kind") != "bench":
        if bench is not None:
            raise BadInput(f"--resume {folder}: the recorded run ran on the emulator; "
                           "drop --bench, or start a bench run with --out")
        return None
    from .cli_bench import bench_target, load_bench_file

    path = bench if bench is not None else Path(str(recorded.get("file", "")))
    if bench is not None and load_bench_file(bench).id != recorded.get("bench"):
        raise BadInput(f"--bench {bench}: the recorded run ran on bench "
                       f"{recorded.get('bench')} ({recorded.get('file')})")
    if not path.is_file():
        raise BadInput(f"--resume {folder}: the run's bench file {path} is gone; "
                       "give it with --bench")
    return bench_target(path)


def _run_head(folder: Path, read_lines: Any) -> dict[str, Any]:
    record = folder / "record.jsonl"
    if not record.is_file():
        raise BadInput(f"--resume {folder}: no run record there ({record} not found)")
    head = next((line for line in read_lines(record) if line.get("kind") == "run"), None)
    if head is None:
        raise BadInput(f"--resume {folder}: {record} has no run line")
    return head


def _refuse_contradictions(head: dict[str, Any], pack_ids: list[str], dmcs: list[str],
                           seed: int | None, mitigations: bool | None,
                           medium: dict[str, float | None], *, capture: bool = False,
                           not_counted: list[str] | None = None,
                           alert_level: int | None = None) -> None:
    """A resumed run is the recorded run: an option that would change it is an error.

    ``--not-counted`` and the alert level change only the reports, but the
    record is what a reviewer regenerates them from: a resume may not quietly
    make the report say something the run line does not. A record from before
    these options counts every issue and uses the default level.
    """
    clashes: list[str] = []
    if pack_ids and pack_ids != list(head["packs"]):
        clashes.append(f"packs {pack_ids} (recorded: {head['packs']})")
    if dmcs and dmcs != list(head["dmcs"]):
        clashes.append(f"--dmc {dmcs} (recorded: {head['dmcs']})")
    if seed is not None and seed != head["seed"]:
        clashes.append(f"--seed {seed} (recorded: {head['seed']})")
    if mitigations is not None and mitigations != head["mitigations"]:
        clashes.append(f"--{'' if mitigations else 'no-'}mitigations "
                       f"(recorded: mitigations {head['mitigations']})")
    recorded = head.get("medium") or {}
    for name, value in medium.items():
        if value is not None and name in recorded and value != recorded[name]:
            clashes.append(f"--{name} {value} (recorded: {recorded[name]})")
    if capture and head.get("capture") is False:
        clashes.append("--capture (recorded: no captures)")
    agreed = list(head.get("not_counted") or [])
    if not_counted is not None and sorted(set(not_counted)) != sorted(agreed):
        clashes.append(f"--not-counted {' '.join(not_counted)} "
                       f"(recorded: {', '.join(agreed) or 'none'})")
    level = head.get("alert_level_of_concern", LEVEL_OF_CONCERN)
    if alert_level is not None and alert_level != level:
        clashes.append(f"--alert-level-of-concern {alert_level} (recorded: {level})")
    if clashes:
        raise BadInput("--resume continues the recorded run; these options contradict it: "
                       + "; ".join(clashes) + ". Drop them, or start a new run with --out.")


def claim_run_folder(folder: Path, force: bool) -> None:
    """Refuse to overwrite a recorded run unless forced; then clear all it wrote."""
    existing = [name for name in RUN_OUTPUTS if (folder / name).exists()]
    if not existing:
        return
    if not force:
        raise BadInput(f"--out {folder}: already holds a run ({', '.join(existing)}); "
                       "use --resume to continue it, --force to replace it, or another --out")
    for name in existing:
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _counted_cell(issue: dict[str, Any]) -> str:
    return f"{issue['id']} ({_severity_text(issue)})"


def _severity_text(issue: dict[str, Any]) -> str:
    """"S3", or "S2 assumed" where s1bench chose the severity (no seed gives one)."""
    assumed = issue.get("severity_assumed", True)
    return f"S{issue['severity']}" + (" assumed" if assumed else "")


#: Short words for the exit table; the report gives the full reason.
_KIND_WORD = {"residual-risk": "residual", "restriction": "restriction", "blocker": "blocker",
              "migration-outcome": "migration outcome", "testing-issue": "Testing Issue"}


def _beside_cell(issue: dict[str, Any]) -> str:
    if issue.get("reason", "").startswith("agreed not counted"):
        why = "agreed not counted"
    else:
        why = _KIND_WORD.get(str(issue.get("kind")), str(issue.get("kind")))
    return f"{issue['id']} ({why}, {_severity_text(issue)})"


def print_exit_table(summary: dict[str, Any]) -> None:
    """Exit criteria per DMC: what counts against the threshold, and what is only reported.

    Residual risks, restrictions, blockers, migration outcomes and Testing
    Issues agreed not counted (seed 002) sit in their own column, so nobody
    reads them as the reason a DMC did or did not meet its exit criteria.
    """
    counted_head, beside_head = "TESTING ISSUES (COUNTED)", "REPORTED, NOT COUNTED"
    rows = []
    for dmc_id, d in sorted(summary["dmcs"].items()):
        counted = ", ".join(_counted_cell(i) for i in d["testing_issues"]) or "-"
        beside = ", ".join(_beside_cell(i) for i in d.get("not_counted") or []) or "-"
        rows.append((dmc_id, d["tests_run"], d["passed"], d["failed"], d["skipped"],
                     "met" if d["exit_criteria_met"] else
                     "NOT met (blocked)" if d.get("blocked_by") else "NOT met", counted, beside))
    print_table(["DMC", "TESTS", "PASS", "FAIL", "SKIP", "EXIT CRITERIA", counted_head,
                 beside_head], rows, wrap=(counted_head, beside_head))
    over = {dmc_id: d["alert_days_over_level"] for dmc_id, d in sorted(summary["dmcs"].items())
            if d.get("alert_days_over_level")}
    if over:
        level = summary.get("alert_level_of_concern")
        print("alert volumes over the level of concern"
              + (f" ({level} per installation and day)" if level is not None else "")
              + ", flagged, not counted: "
              + ", ".join(f"{k} {n} day(s)" for k, n in over.items()))
