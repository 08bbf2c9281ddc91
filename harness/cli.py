"""The `s1bench` command: one entry point, a subcommand per job (typer on click, rich output).

Exit codes: 0 success (or exit criteria met), 1 a run whose exit criteria are
not met / a request that was not successful, 2 bad input (one line on stderr
naming what and where, never a traceback).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from s1bench.emulator import logs

from s1bench.filecheck import FileError

from .cli_common import (
    EXIT_BAD_INPUT,
    EXIT_NOT_MET,
    EXIT_OK,
    PANEL_FILES,
    PANEL_LOOK,
    PANEL_RUN,
    BadInput,
    DmcOpt,
    JitterOpt,
    JsonOpt,
    LatencyOpt,
    LossOpt,
    RootOptions,
    SeedOpt,
    note,
    print_table,
    settings,
    writable_file,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_NOT_MET", "EXIT_OK", "BadInput", "app", "main"]

# typer bundles its own click in recent releases; reach its exception classes through
# typer's public BadParameter so this works with the bundled and the external click alike.
_MRO = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
ClickException: type[Exception] = _MRO["ClickException"]

app = typer.Typer(
    name="s1bench",
    help="SMETS1 device emulator and migration test harness.\n\n"
         "Shared options (--dmc, --seed, HAN medium, output folder, logging) also come from "
         "./s1bench.toml and S1BENCH_* environment variables; see `s1bench config show`.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


@app.callback()
def _root(
    ctx: typer.Context,
    log_level: Annotated[str | None, typer.Option(
        "--log-level", metavar="LEVEL",
        help="debug, info, warning or error. [default: warning]")] = None,
    log_json: Annotated[bool, typer.Option(
        "--log-json", help="JSON log lines even on a terminal.")] = False,
    log_format: Annotated[str | None, typer.Option(
        "--log-format", metavar="FORMAT", help="auto, console or json. [default: auto]")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", metavar="FILE", help="Settings file instead of ./s1bench.toml.")] = None,
) -> None:
    ctx.obj = RootOptions(config, log_level, "json" if log_json else log_format)
    try:
        resolved = settings(ctx).settings
        level, fmt = resolved.log_level, resolved.log_format
    except BadInput:
        level, fmt = "warning", "auto"  # the command that needs settings will say why
    logs.configure(level, json={"json": True, "console": False}.get(fmt))


# --------------------------------------------------------------------------- srv


def _param(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise typer.BadParameter(f"needs NAME=VALUE, got {text!r}", param_hint="'--param'")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


def _fill_defaults(inst: Any, srv: str, params: dict[str, Any]) -> None:
    """Convenience for a person at a terminal: 8.11 and 8.7/8.8 default to the PPMID (or IHD)."""
    present = {label.device_type for label in inst.labels.values()}
    joiner = next((t for t in ("PPMID", "IHD") if t in present), None)
    if srv == "8.11" and params.get("RequestType", "Add") == "Add" and "DeviceID" not in params:
        if joiner is None:
            raise BadInput("--srv 8.11: this DMC has no PPMID or IHD; give --param DeviceID=EUI")
        params["DeviceID"] = inst.eui_of(joiner)
    if srv == "8.11" and "InstallCode" not in params:
        label = inst.labels.get(str(params.get("DeviceID", "")).upper())
        if label is not None and label.install_code:
            params["InstallCode"] = label.install_code.hex()
    if srv.startswith(("8.7.", "8.8.")) and "OtherDeviceID" not in params:
        if joiner is None:
            raise BadInput(f"--srv {srv}: this DMC has no PPMID or IHD; "
                           "give --param OtherDeviceID=EUI")
        params["OtherDeviceID"] = inst.eui_of(joiner)


def check_params(srv: str, params: dict[str, str]) -> None:
    """A misspelt name or a value the SRV cannot take is the user's typo: say so, exit 2.

    An SRV the emulator does not carry out has no parameter list; it goes to
    the hub as given and is answered there (E11).
    """
    from s1bench.harness.dcc.srvs import SRVS

    spec = SRVS.get(srv)
    if spec is None:
        return
    known = {alias: name for name, p in spec.params.items() for alias in (name, *p.aliases)}
    listing = ", ".join(spec.params) or "none"
    for given, value in params.items():
        if given not in known:
            raise BadInput(f"--param {given}: SRV {srv} ({spec.name}) has no parameter "
                           f"{given!r} (its parameters: {listing})")
        try:
            spec.params[known[given]].coerce(known[given], value)
        except ValueError as exc:
            raise BadInput(f"--param {given}={value}: {str(exc).removeprefix('parameter ')}"
                           f" (SRV {srv} {spec.name})") from None


@app.command(rich_help_panel=PANEL_RUN, epilog=(
    "Examples:\n\n"
    "    s1bench srv --device esme --srv 4.1.1 --json\n\n"
    "    s1bench srv --device chf --srv 8.11 --param JoinTimePeriod=600 --capture join.pcap"))
def srv(
    ctx: typer.Context,
    srv: Annotated[str, typer.Option("--srv", help="Service Reference Variant, e.g. 4.1.1.")],
    dmc: DmcOpt = None,
    device: Annotated[str, typer.Option(
        help="Target device type: chf, esme, gsme, ppmid or ihd.")] = "esme",
    param: Annotated[list[str] | None, typer.Option(
        "--param", metavar="NAME=VALUE", help="A DUIS parameter (repeatable).")] = None,
    capture: Annotated[Path | None, typer.Option(
        metavar="OUT.pcap", help="Write a pcap and its key file.")] = None,
    seed: SeedOpt = None,
    fixed: Annotated[bool, typer.Option(help="Use the DMC with fixed firmware.")] = False,
    latency: LatencyOpt = None,
    jitter: JitterOpt = None,
    loss: LossOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Run one Service Request against an emulated installation and print the response."""
    from s1bench.emulator.clock import VirtualClock
    from s1bench.emulator.installation import TYPE_OFFSETS

    from .builder import build_installation, resolve_dmc
    from .dcc import DccRole

    cfg = settings(ctx, dmc=dmc, seed=seed, latency=latency, jitter=jitter, loss=loss)
    device_type = device.upper()
    if device_type not in TYPE_OFFSETS:
        raise BadInput(f"--device {device!r}: expected one of "
                       f"{', '.join(t.lower() for t in TYPE_OFFSETS)}")
    params = dict(_param(p) for p in param or [])
    check_params(srv, params)
    try:
        spec = resolve_dmc(cfg.dmc, fixed=fixed)
    except (KeyError, ValueError) as exc:
        raise BadInput(f"--dmc {cfg.dmc!r}: {exc}") from None
    if capture is not None:
        writable_file(capture, "--capture")
    clock = VirtualClock()
    body: dict[str, Any] = dict(params)

    async def run() -> dict[str, Any]:
        try:
            inst = build_installation(spec, clock, seed=cfg.seed,
                                      capture=str(capture) if capture else None,
                                      medium_options=cfg.medium_options())
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        inst.start()
        _fill_defaults(inst, srv, body)
        try:
            dcc = DccRole(inst, spec.dcc_quirks, seed=cfg.seed)
            user = dcc.dsp.sender_for(srv)
            response = await dcc.send(srv, device_type, user=user, **body)
            if srv == "8.11" and response.ok:
                # Let the join window run so the capture shows the whole join.
                await clock.sleep(int(response.body.get("JoinTimePeriod", 0)) + 1)
        finally:
            inst.medium.close()
        return response.to_dict()

    result = clock.run(run())
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"{result['srv']}  {result['response_code'] or '(no response code)'}  "
              f"{result['request_id']}")
        for key, value in result["body"].items():
            print(f"  {key}: {value}")
        if result.get("reason"):
            print(f"  reason: {result['reason']}")
    if capture:
        note(f"capture: {capture} (keys: {capture}.keys; open it: s1bench pcap tshark {capture})")
    ok = result["response_code"] == "I0" and result.get("device_success", True) is not False
    return EXIT_OK if ok else EXIT_NOT_MET


# --------------------------------------------------------------------------- config, schema, pcap

config_app = typer.Typer(help="Shared settings: s1bench.toml, S1BENCH_* variables, options.",
                         no_args_is_help=True)
app.add_typer(config_app, name="config", rich_help_panel=PANEL_LOOK)


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonOpt = False) -> int:
    """Print the effective settings and where each value came from."""
    resolved = settings(ctx)
    values = resolved.settings.model_dump(mode="json")
    if as_json:
        print(json.dumps({k: {"value": v, "source": resolved.sources[k]}
                          for k, v in values.items()}, indent=2))
        return EXIT_OK
    print_table(["SETTING", "VALUE", "SOURCE"],
                [(k, v, resolved.sources[k]) for k, v in values.items()])
    return EXIT_OK


@app.command(rich_help_panel=PANEL_FILES, epilog=(
    "Examples:\n\n"
    "    s1bench schema pack > pack.schema.json\n\n"
    "    s1bench schema --all --out schemas/"))
def schema(
    kind: Annotated[str | None, typer.Argument(
        help="File kind: pack, profile, dmcs, config (see --list).")] = None,
    all_kinds: Annotated[bool, typer.Option("--all", help="Write every kind to --out.")] = False,
    out: Annotated[Path | None, typer.Option(
        metavar="DIR", help="With --all: folder for KIND.schema.json files.")] = None,
    list_kinds: Annotated[bool, typer.Option("--list", help="List the kinds.")] = False,
) -> int:
    """Print the JSON Schema of a file kind engineers edit, for editors to validate and complete."""
    from s1bench.filecheck import json_schema, schema_kinds

    kinds = schema_kinds()
    if list_kinds or (kind is None and not all_kinds):
        print_table(["KIND", "DESCRIBES"], [(k.name, k.describes) for k in kinds.values()])
        return EXIT_OK
    if all_kinds:
        folder = out or Path("schemas")
        from .cli_common import writable_dir

        writable_dir(folder, "--out")
        for name in kinds:
            (folder / f"{name}.schema.json").write_text(
                json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n")
        note(f"{len(kinds)} schemas written to {folder}/")
        return EXIT_OK
    assert kind is not None
    if kind not in kinds:
        raise BadInput(f"schema {kind!r}: unknown kind (known: {', '.join(kinds)})")
    print(json.dumps(json_schema(kind), indent=2, sort_keys=True))
    return EXIT_OK


pcap_app = typer.Typer(help="Work with captures: s1bench's own (pcap + .keys) or a bench's.",
                       no_args_is_help=True)
app.add_typer(pcap_app, name="pcap", rich_help_panel=PANEL_FILES)

PcapArg = Annotated[Path, typer.Argument(metavar="FILE.pcap", help="A capture with its .keys.")]


def _key_args(pcap: Path) -> list[str]:
    from s1bench.emulator.capture import key_file_for, tshark_key_args

    if not pcap.is_file():
        raise BadInput(f"{pcap}: no such capture")
    if not key_file_for(pcap).is_file():
        raise BadInput(f"{pcap}: no key file beside it ({key_file_for(pcap)})")
    return tshark_key_args(pcap)


@pcap_app.command("tshark-args")
def pcap_tshark_args(pcap: PcapArg) -> int:
    """Print tshark's key options for a capture, shell-quoted (use with eval)."""
    import shlex

    print(shlex.join(_key_args(pcap)))
    return EXIT_OK


@pcap_app.command("tshark", context_settings={"allow_extra_args": True,
                                              "ignore_unknown_options": True})
def pcap_tshark(ctx: typer.Context, pcap: PcapArg) -> int:
    """Open a capture in tshark with its keys; arguments after the file go to tshark."""
    import shutil

    tshark = shutil.which("tshark")
    if tshark is None:
        raise BadInput("tshark is not installed (Debian package: tshark)")
    argv = [tshark, "-r", str(pcap), *_key_args(pcap), *ctx.args]
    sys.stdout.flush()
    os.execv(tshark, argv)
    return EXIT_OK  # pragma: no cover - execv does not return


# --------------------------------------------------------------------------- assembly

# Imported directly: a broken subcommand module must fail loudly, not vanish.
from . import (  # noqa: E402
    cli_bench,
    cli_demo,
    cli_diff,
    cli_duis,
    cli_fleet,
    cli_ncp,
    cli_pcap,
    cli_profiles,
    cli_reproduce,
    cli_run,
    cli_serve,
    cli_site,
)

for _module in (cli_demo, cli_run, cli_fleet, cli_reproduce, cli_duis, cli_serve, cli_site,
                cli_profiles, cli_bench, cli_diff, cli_ncp):
    _module.register(app)
cli_pcap.register(pcap_app)  # `pcap show`, `pcap replay`: the same group as `pcap tshark`


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of raising SystemExit (tests call this)."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command.main(args=args, prog_name="s1bench", standalone_mode=False)
    except ClickException as exc:  # usage errors name their command path
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "s1bench"
        print(f"{where}: error: {_one_line(exc.format_message())}",  # type: ignore[attr-defined]
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except typer.Abort:
        return 130
    except (BadInput, FileError) as exc:
        print(f"s1bench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # `s1bench ... | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return result if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    # Run the imported module's main so BadInput is one class under `python -m` too.
    from s1bench.harness.cli import main as _main

    raise SystemExit(_main())
