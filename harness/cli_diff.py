"""`s1bench diff --bench BENCH.yaml PACK...`: the emulator against a bench, step by step.

Runs the packs on the emulator (the DMC given, by default the bench's) and
on the bench, each into its own run folder, then lists every step where the
two disagree (see ``harness/diff.py`` for what is compared). Either side can
be a run recorded earlier (``--emulator-run DIR``, ``--bench-run DIR``), so a
bench run of an hour is compared again, with another tolerance or against
another DMC, without running it again.

Exit status: 0 the runs agree, 1 they differ, 2 bad input (bench file,
port, a record that is not there, a dongle lost mid-run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_common import (
    EXIT_NOT_MET,
    EXIT_OK,
    PANEL_HIL,
    BadInput,
    JsonOpt,
    SeedOpt,
    note,
    print_table,
    settings,
    writable_dir,
)

EPILOG = (
    "Examples:\n\n"
    "    s1bench diff --bench hil/benches/example-znp.yaml standard-srv\n\n"
    "    s1bench diff --bench my-bench.yaml --dmc itron-active standard-srv --tolerance-s 5\n\n"
    "    s1bench diff --emulator-run out/diff/emulator --bench-run out/diff/bench")


def register(app: typer.Typer) -> None:
    app.command("diff", rich_help_panel=PANEL_HIL, epilog=EPILOG)(diff)


def diff(
    ctx: typer.Context,
    packs: Annotated[list[str] | None, typer.Argument(
        metavar="PACK...", help="Pack files or shipped pack names.", show_default=False)] = None,
    bench: Annotated[Path | None, typer.Option(
        "--bench", metavar="BENCH.yaml", help="The bench to run on.", show_default=False)] = None,
    dmc: Annotated[str | None, typer.Option(
        "--dmc", help="DMC the emulator side runs. [default: the bench's DMC]",
        show_default=False)] = None,
    tolerance_s: Annotated[float, typer.Option(
        "--tolerance-s", metavar="S", min=0,
        help="Step durations may differ this much before it is reported.")] = 2.0,
    out: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Folder for both runs (DIR/emulator, DIR/bench). "
        "[default: OUT/diff from settings]", show_default=False)] = None,
    force: Annotated[bool, typer.Option(help="Replace runs already recorded there.")] = False,
    emulator_run: Annotated[Path | None, typer.Option(
        "--emulator-run", metavar="DIR", help="Compare this recorded run instead of running "
        "the emulator side.", show_default=False)] = None,
    bench_run: Annotated[Path | None, typer.Option(
        "--bench-run", metavar="DIR", help="Compare this recorded run instead of running "
        "the bench side.", show_default=False)] = None,
    seed: SeedOpt = None,
    mitigations: Annotated[bool, typer.Option(
        help="Apply the DCC-side mitigations the packs name, on both sides.")] = False,
    as_json: JsonOpt = False,
) -> int:
    """Run packs on the emulator and on a bench; report each step where they disagree."""
    from .diff import diff_records
    from .reports import read_record
    from .targets import EmulatorTarget

    cfg = settings(ctx, seed=seed)
    folder = out or cfg.out / "diff"
    runs_needed = [side for side, given in (("emulator", emulator_run), ("bench", bench_run))
                   if given is None]
    loaded_packs = _packs(packs) if runs_needed else []
    if runs_needed and not loaded_packs:
        raise BadInput("name at least one pack (a file or a shipped pack such as standard-srv)"
                       ", or give both --emulator-run and --bench-run")
    target = None
    if "bench" in runs_needed:
        if bench is None:
            raise BadInput("--bench BENCH.yaml is needed to run the bench side "
                           "(or compare a recorded one with --bench-run DIR)")
        from .cli_bench import bench_target

        target = bench_target(bench)  # file, port and radio link checked before any run
    emulator_dmc = dmc or (target.bench.dmc if target is not None else
                           _bench_dmc(bench) if bench is not None else None)
    if "emulator" in runs_needed:
        if emulator_dmc is None:
            raise BadInput("--dmc ID (or --bench) is needed to run the emulator side")
        _known_dmc(emulator_dmc)
    for side, given in (("emulator", emulator_run), ("bench", bench_run)):
        if given is not None and not (given / "record.jsonl").is_file():
            raise BadInput(f"--{side}-run {given}: no run record there "
                           f"({given / 'record.jsonl'} not found)")
    # With a bench, the emulator holds what the bench holds (the hub and its device types).
    only = frozenset(d.type for d in target.bench.devices) if target is not None else \
        frozenset(d.type for d in _bench_devices(bench)) if bench is not None else None
    left_dir = emulator_run or _run_side("emulator", folder, force, loaded_packs,
                                         [str(emulator_dmc)], cfg.seed, mitigations,
                                         EmulatorTarget(only))
    right_dir = bench_run or _run_side("bench", folder, force, loaded_packs,
                                       [target.bench.dmc] if target else [], cfg.seed,
                                       mitigations, target)
    try:
        result = diff_records(read_record(left_dir / "record.jsonl"),
                              read_record(right_dir / "record.jsonl"), tolerance_s=tolerance_s)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if result.tests_compared == 0 and not result.differences:
        raise BadInput(f"the runs in {left_dir} and {right_dir} hold no test: nothing compared")
    if as_json:
        print(json.dumps({**result.as_dict(), "emulator_run": str(left_dir),
                          "bench_run": str(right_dir)}, indent=2))
    else:
        _print(result)
        note(f"runs: emulator {left_dir}, bench {right_dir}")
    return EXIT_NOT_MET if result.differences else EXIT_OK


def _packs(names: list[str] | None) -> list[Any]:
    from .packs import load_pack

    return [load_pack(name) for name in names or []]  # a PackError is exit 2


def _bench_dmc(path: Path) -> str:
    from .cli_bench import load_bench_file

    return str(load_bench_file(path).dmc)


def _bench_devices(path: Path) -> Any:
    from .cli_bench import load_bench_file

    return load_bench_file(path).devices


def _known_dmc(dmc_id: str) -> None:
    from .builder import resolve_dmc

    try:
        resolve_dmc(dmc_id)
    except (KeyError, ValueError) as exc:
        raise BadInput(f"--dmc: {str(exc).strip(chr(39))}") from None


def _run_side(side: str, folder: Path, force: bool, packs: list[Any], dmcs: list[str],
              seed: int, mitigations: bool, target: Any) -> Path:
    """One side's run into folder/side, its reports rendered; the folder is returned."""
    from .cli_run import claim_run_folder
    from .reports import write_reports
    from .runner import run_packs
    from .targets import TargetLost

    run_dir = writable_dir(folder / side, "--out")
    claim_run_folder(run_dir, force)
    note(f"running {', '.join(p.id for p in packs)} on the {side} ({', '.join(dmcs)})")
    try:
        run_packs(packs, dmcs, run_dir, seed=seed, mitigations=mitigations,
                  target=target)
    except TargetLost as exc:
        from .cli_bench import lost_message

        write_reports(run_dir)
        raise BadInput(lost_message(exc, run_dir) + f"; then compare: s1bench diff "
                       f"--emulator-run {folder / 'emulator'} --bench-run {run_dir}") from None
    write_reports(run_dir)
    return run_dir


def _print(result: Any) -> None:
    left, right = result.left_name.upper(), result.right_name.upper()
    rows = [(d.pack, d.test, "-" if d.index is None else f"{d.index} {d.step}", d.aspect,
             d.left, d.right) for d in result.differences]
    if rows:
        print_table(["PACK", "TEST", "STEP", "DIFFERS IN", left, right], rows,
                    wrap=("TEST", "STEP", left, right))
    print(f"{len(result.differing_steps)} step(s) differ, "
          f"{len(result.differences)} difference(s), over {result.steps_compared} step(s) of "
          f"{result.tests_compared} test(s) compared (timing tolerance {result.tolerance_s:g} s)")
