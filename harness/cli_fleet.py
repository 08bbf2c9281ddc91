"""`s1bench fleet`: paced migration days for a fleet of installations (seed 002 Annex C).

Exit 0 when every installation was taken and none failed for a new or
unknown error; 1 when the run ended with installations not taken (paused
DMCs, too few days) or an unknown error was seen; 2 on bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_common import (
    EXIT_BAD_INPUT,
    EXIT_NOT_MET,
    EXIT_OK,
    PANEL_RUN,
    BadInput,
    SeedOpt,
    is_terminal,
    note,
    print_table,
    progress_bar,
    settings,
    writable_dir,
)


def register(app: typer.Typer) -> None:
    app.command("fleet", rich_help_panel=PANEL_RUN, epilog=(
        "Example:\n\n    s1bench fleet --installations 50000 --mix "
        "itron-dormant=0.5,honeywell-elster-dormant=0.5 --per-day 50000 --days 1 "
        "--workers 2"))(fleet)
    app.command("fleet-worker", rich_help_panel=PANEL_RUN, epilog=(
        "Example:\n\n    s1bench fleet-worker --broker broker.lab:1883 --run RUN"))(
        fleet_worker)


def _broker(text: str | None) -> tuple[str, int]:
    host, _, port = (text or "127.0.0.1:1883").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"--broker {text!r}: expected HOST:PORT")
    return host, int(port)


BrokerUserOpt = Annotated[str | None, typer.Option(
    "--broker-user", metavar="USER",
    help="Log in to the broker as USER; the password comes from S1BENCH_BROKER_PASSWORD "
         "(never an argument: `ps` shows those).", show_default=False)]
BrokerCaOpt = Annotated[Path | None, typer.Option(
    "--broker-ca", metavar="CA.pem",
    help="Connect to the broker over TLS, trusting this CA.", show_default=False)]


def _auth(user: str | None, ca: Path | None) -> dict[str, str]:
    """The broker's credentials: options and S1BENCH_BROKER_PASSWORD (never recorded)."""
    import os

    from .fleet.broker import PASSWORD_ENV

    auth: dict[str, str] = {}
    if user:
        auth["username"] = user
        password = os.environ.get(PASSWORD_ENV)
        if password:
            auth["password"] = password
    if ca is not None:
        if not ca.is_file():
            raise BadInput(f"--broker-ca {ca}: no such file")
        auth["ca_file"] = str(ca)
    return auth


def _reachable(where: tuple[str, int]) -> None:
    """Fail at once on a broker nobody runs: the fleet's media wait a minute for one that
    restarts mid-run (connect_retry_s), which is no way to learn of a typo."""
    import socket

    try:
        with socket.create_connection(where, timeout=5):
            pass
    except OSError as exc:
        raise BadInput(f"--medium mqtt: cannot reach the MQTT broker at {where[0]}:{where[1]}: "
                       f"{exc.strerror or exc}") from None


def fleet_worker(
    broker: Annotated[str, typer.Option(metavar="HOST:PORT", help="The fleet's MQTT broker.")],
    run: Annotated[str, typer.Option(help="The run id `s1bench fleet --broker` printed.")],
    broker_user: BrokerUserOpt = None,
    broker_ca: BrokerCaOpt = None,
) -> int:
    """Take shards of a fleet run from its MQTT broker (MQTT 5 shared subscription).

    Start one per core on any machine that reaches the broker; each takes
    shards as the broker hands them out and publishes the results. Stop with
    Ctrl-C.
    """
    import asyncio

    from .fleet.broker import serve_worker

    host, port = _broker(broker)
    note(f"fleet worker on {host}:{port}, run {run}")
    try:
        asyncio.run(serve_worker(host, port, run, auth=_auth(broker_user, broker_ca)))
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        raise BadInput(f"--broker {broker}: {exc}") from None
    return EXIT_OK


def fleet(
    ctx: typer.Context,
    installations: Annotated[int, typer.Option(
        "--installations", "-n", min=1, help="How many installations the fleet has.")] = 2000,
    mix: Annotated[str, typer.Option(
        metavar="DMC=SHARE,...", help="DMCs and their shares (fractions or weights).")
    ] = "itron-dormant=0.5,honeywell-elster-dormant=0.5",
    per_day: Annotated[int, typer.Option(
        "--per-day", min=1, help="The DCC's daily capacity (seed 002: up to 50,000).")] = 2000,
    days: Annotated[int, typer.Option(min=1, help="Migration days to run at most.")] = 1,
    workers: Annotated[int, typer.Option(
        min=0, help="Worker processes (whole installations are sharded over them); 0 only "
                    "with --broker, when workers elsewhere take the shards.")] = 1,
    medium: Annotated[str, typer.Option(
        help="HAN medium: memory, or mqtt (a broker from --broker).")] = "memory",
    broker: Annotated[str | None, typer.Option(
        metavar="HOST:PORT",
        help="Send shards through this MQTT broker (MQTT 5 shared subscriptions): --workers "
             "local workers take them, and so does any `s1bench fleet-worker` elsewhere. "
             "--medium mqtt uses it too. [default for --medium mqtt: 127.0.0.1:1883]")
    ] = None,
    run_id: Annotated[str | None, typer.Option(
        "--run", help="Run id on the broker (what `s1bench fleet-worker --run` names). "
                      "[default: a fresh one, printed]")] = None,
    out: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Output folder. [default: OUT/fleet from settings]")] = None,
    seed: SeedOpt = None,
    resume: Annotated[bool, typer.Option(
        help="Carry on a killed run in --out: what it recorded is kept, the rest is run.")
    ] = False,
    settle: Annotated[float, typer.Option(
        metavar="SECONDS", min=0,
        help="Virtual seconds each migrated installation runs on, so its alerts count.")
    ] = 0.0,
    metrics_port: Annotated[int | None, typer.Option(
        metavar="PORT", help="Serve Prometheus metrics on 127.0.0.1:PORT while running.")
    ] = None,
    expected_failure_rate: Annotated[float, typer.Option(
        metavar="RATE", help="Pacing: failure rate the MCC expects (seed 000: 7 %).")] = 0.07,
    halt_failure_rate: Annotated[float, typer.Option(
        metavar="RATE", help="Pacing: failure rate that halts a DMC in day.")] = 0.20,
    cohort: Annotated[list[str] | None, typer.Option(
        metavar="NAME=DMC,...",
        help="A cohort of DMCs judged together at the end of a day (repeatable): a cohort "
             "over the halt rate scales all its DMCs down. [default: one cohort, 'fleet']")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar or day lines.")] = False,
    broker_user: BrokerUserOpt = None,
    broker_ca: BrokerCaOpt = None,
    faults: Annotated[Path | None, typer.Option(
        "--faults", metavar="FAULTS.yaml",
        help="Drop, delay, duplicate or reorder HAN frames on this schedule (seeded per "
             "installation; recorded). See `s1bench schema faults`.", show_default=False)
    ] = None,
) -> int:
    """Simulate migration days for a fleet on the virtual clock, paced as seed 002 Annex C.

    A daily go/no-go proposes each DMC's volume; a DMC whose failure rate in
    the day passes the halt rate, or that fails with an error no known
    Testing Issue explains, is halted in day and paused until diagnosis;
    volumes grow after good days and shrink after bad ones. The record,
    summary.json, report.html (with the pacing graph) and metrics.prom go to
    --out.
    """
    from .fleet.broker import BrokerError
    from .fleet.metrics import FleetMetrics
    from .fleet.pacing import PacingPolicy
    from .fleet.plan import MixError, parse_cohorts, parse_mix
    from .fleet.report import write_reports
    from .fleet.run import FleetError, run_fleet

    cfg = settings(ctx, seed=seed)
    from s1bench.firmware_profiles.catalogue import load_catalogue

    try:
        shares = parse_mix(mix, set(load_catalogue().dmcs))
        cohorts = parse_cohorts(cohort or [], shares)
        policy = PacingPolicy(expected_failure_rate=expected_failure_rate,
                              halt_failure_rate=halt_failure_rate)
        policy.check()
    except (MixError, ValueError, KeyError) as exc:
        raise BadInput(str(exc).strip("'\"")) from None
    if medium not in ("memory", "mqtt"):
        raise BadInput(f"--medium {medium!r}: choose memory or mqtt")
    options: dict[str, object] = {}
    where = _broker(broker) if broker or medium == "mqtt" else None
    if medium == "mqtt":
        assert where is not None
        options = {"host": where[0], "port": where[1]}
        _reachable(where)
    if faults is not None:
        from .faults_file import FaultsError, load_faults

        try:
            options["faults"] = load_faults(faults)
        except FaultsError as exc:
            raise BadInput(f"--faults: {exc}") from None
    auth = _auth(broker_user, broker_ca)
    if workers == 0 and where is None:
        raise BadInput("--workers 0 needs --broker (workers elsewhere take the shards)")
    target = writable_dir(out or cfg.out / "fleet", "--out")
    metrics = FleetMetrics()
    if metrics_port is not None:
        try:
            port_served = metrics.serve(metrics_port)
        except OSError as exc:
            raise BadInput(f"--metrics-port {metrics_port}: {exc.strerror or exc}") from None
        note(f"metrics: http://127.0.0.1:{port_served}/metrics")
    plain = not quiet and not is_terminal(sys.stderr)

    def say(line: str) -> None:
        if plain:
            print(line, file=sys.stderr, flush=True)

    try:
        with progress_bar(f"fleet {installations} installation(s)", enabled=not quiet) as bar:
            run_fleet(target, installations=installations, mix=shares, per_day=per_day,
                      days=days, seed=cfg.seed, workers=workers, medium=medium,
                      medium_options=options, settle_s=settle, policy=policy, resume=resume,
                      metrics=metrics, progress=bar, say=say if not quiet else None,
                      broker=where if broker else None, broker_run=run_id, auth=auth,
                      cohorts=cohorts)
    except FleetError as exc:
        print(f"s1bench fleet: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokerError as exc:  # what was recorded stays: --resume carries on
        print(f"s1bench fleet: {exc}; what was recorded is kept (--resume)", file=sys.stderr)
        return EXIT_NOT_MET
    except RuntimeError as exc:
        # The HAN's broker (--medium mqtt, shards run here) unreachable or gone for good.
        from s1bench.emulator.medium_mqtt import MqttMediumError

        if not isinstance(exc, MqttMediumError):
            raise
        print(f"s1bench fleet: {exc}; what was recorded is kept (--resume)", file=sys.stderr)
        return EXIT_NOT_MET
    finally:
        metrics.write(target / "metrics.prom")
        metrics.stop()
    summary = write_reports(target)
    rows = [(dmc, *(str(counts[o]) for o in counts)) for dmc, counts in
            summary["outcomes"].items()]
    print_table(["DMC", "MIGRATED", "FIXED FWD", "ROLLED BACK", "STALLED", "DUMB", "REJECTED"],
                rows)
    for decision in summary["decisions"]:
        if decision["action"] in ("halt", "throttle", "no-go"):
            note(f"day {decision['day']} {decision['dmc']}: {decision['action']}: "
                 f"{decision['reason']}")
    note(f"{summary['taken']} of {summary['installations']} installations taken; "
         f"report: {target / 'report.html'}")
    if summary["not_taken"] or summary["unknown_errors"]:
        return EXIT_NOT_MET
    return EXIT_OK
