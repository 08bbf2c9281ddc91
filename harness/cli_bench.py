"""`s1bench bench ...`: benches of physical devices behind a Zigbee dongle.

``bench check BENCH.yaml`` is the minute an engineer spends before hours on
hardware: the bench file is valid, the dongle's port opens, the network forms
or resumes, each device joins with the install code on its label and reports
the manufacturer, model and firmware the file promises.

Exit status: 0 every device answered, 1 some did not, 2 bad input (the bench
file, or a port that is missing, refused or lost: one line naming the port).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_common import EXIT_NOT_MET, EXIT_OK, PANEL_HIL, BadInput, JsonOpt, note, print_table

bench_app = typer.Typer(
    help="Benches of physical devices behind a Zigbee dongle (hardware in the loop).",
    no_args_is_help=True)

BenchArg = Annotated[Path, typer.Argument(
    metavar="BENCH.yaml", help="A bench file (see hil/benches/example-znp.yaml), or the name "
                               "of a shipped bench.", show_default=False)]


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench", rich_help_panel=PANEL_HIL)


@bench_app.callback()
def _bench() -> None:
    """Benches of physical devices behind a Zigbee dongle (hardware in the loop)."""


def load_bench_file(path: Path | str) -> Any:
    """The bench (a BenchError, exit 2, lists every fault of the file)."""
    from s1bench.hil.bench import load_bench

    return load_bench(path)


def port_or_bad_input(bench: Any) -> None:
    """Open the bench's port once; a missing, refused or busy port is exit 2 naming it."""
    from s1bench.hil.ports import PortError, check_port

    try:
        check_port(bench.dongle.port, bench.dongle.baudrate)
    except PortError as exc:
        raise BadInput(f"bench {bench.id}: {exc}") from None


@bench_app.command("check", epilog=(
    "Examples:\n\n"
    "    s1bench bench check hil/benches/example-znp.yaml\n\n"
    "    s1bench ncp --port 6638 --dmc reference &   # an emulated dongle, no hardware\n\n"
    "    s1bench bench check example-znp --timeout 30 --json"))
def check(
    bench: BenchArg,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", metavar="S", help="Seconds to wait for the devices to join. "
        "[default: the bench's join_timeout_s]", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> int:
    """Open the dongle, form or resume the network, and report which devices answered."""
    from s1bench.hil.check import RadioUnavailable, check_bench

    loaded = load_bench_file(bench)
    if timeout is not None and timeout <= 0:
        raise BadInput(f"--timeout {timeout:g}: must be above 0")
    port_or_bad_input(loaded)
    wait = loaded.join_timeout_s if timeout is None else timeout
    if not as_json:
        note(f"bench {loaded.id}: {loaded.dongle.radio} dongle at {loaded.dongle.port}; "
             f"waiting up to {wait:g} s for {len(loaded.devices)} device(s)")
    try:
        results = asyncio.run(check_bench(loaded, timeout_s=wait))
    except RadioUnavailable as exc:
        raise BadInput(str(exc)) from None
    except (KeyboardInterrupt, typer.Abort):
        raise
    except Exception as exc:  # the dongle failed under us: say which port, never a traceback
        text = str(exc)
        if not text.startswith(loaded.dongle.port):  # the radio link's own errors name it
            text = f"{loaded.dongle.port}: the radio link failed: {type(exc).__name__}: {exc}"
        raise BadInput(f"bench {loaded.id}: {text}") from None
    answered = sum(1 for r in results if r.answered)
    if as_json:
        print(json.dumps({"bench": loaded.id, "dmc": loaded.dmc, "port": loaded.dongle.port,
                          "radio": loaded.dongle.radio, "answered": answered,
                          "devices": [r.as_dict() for r in results]}, indent=2))
    else:
        rows = []
        for r in results:
            read = r.read
            matches = "-" if not r.answered else "yes" if not r.mismatches else \
                "NO: " + "; ".join(r.mismatches)
            rows.append((r.device.eui, r.device.type, r.status,
                         read.get("manufacturer") or "-", read.get("model") or "-",
                         read.get("firmware") or "-", matches))
        print_table(["EUI", "TYPE", "STATUS", "MANUFACTURER", "MODEL", "FIRMWARE",
                     "MATCHES BENCH FILE"], rows, wrap=("STATUS", "MATCHES BENCH FILE"))
        print(f"{answered} of {len(results)} device(s) answered")
        if any(not r.joined for r in results):
            note("a device is seen when it joins: one already on a resumed network does not "
                 "announce itself again (restart it, or `s1bench ncp`, and check again)")
    return EXIT_OK if answered == len(results) else EXIT_NOT_MET


def bench_target(path: Path | str) -> Any:
    """A ready bench target for run/diff: file valid, port opens, radio link installed.

    Each fault is exit 2 before anything runs: a bench run that dies at its
    first test would leave a record of nothing.
    """
    from s1bench.hil.check import RadioUnavailable
    from s1bench.hil.target import BenchTarget

    loaded = load_bench_file(path)
    port_or_bad_input(loaded)
    target = BenchTarget(loaded)
    try:
        target.require_radio()
    except RadioUnavailable as exc:
        raise BadInput(str(exc)) from None
    return target


def lost_message(exc: BaseException, out: Path) -> str:
    """One line for a dongle lost mid-run: the port, and how to go on."""
    return (f"{exc}. The run stopped; every step that ran is recorded in {out}/record.jsonl. "
            f"Once the dongle is back: s1bench run --resume {out}")
