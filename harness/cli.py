"""The `s1bench` command: one entry point, a subcommand per job.

Exit codes: 0 success (or exit criteria met), 1 a run whose exit criteria are
not met / a request that was not successful, 2 bad input (with a message on
stderr naming what and where).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from s1bench.emulator import logs

EXIT_OK, EXIT_NOT_MET, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """User-facing input error: printed without a traceback, exit status 2."""


def _param(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param needs NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


def _add_srv(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("srv", help="run one Service Request against an emulated installation",
                       description="Build an installation of a DMC, run one SRV on the virtual "
                                   "clock, print the response.")
    p.add_argument("--dmc", default="reference", help="DMC id (see `s1bench profiles list`)")
    p.add_argument("--device", default="esme",
                   help="target device type: chf, esme, gsme, ppmid or ihd")
    p.add_argument("--srv", required=True, help="Service Reference Variant, e.g. 4.1.1")
    p.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                   help="a DUIS parameter (repeatable)")
    p.add_argument("--capture", metavar="OUT.pcap", help="write a pcap and its key file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fixed", action="store_true", help="use the DMC with fixed firmware")
    add_medium_options(p)
    p.add_argument("--json", action="store_true", help="print the response as JSON")
    p.set_defaults(func=cmd_srv)


def add_medium_options(p: argparse.ArgumentParser) -> None:
    """The in-memory HAN's knobs, shared by every command that builds installations."""
    p.add_argument("--latency", type=float, default=0.005, metavar="S",
                   help="HAN frame latency in seconds (default 0.005)")
    p.add_argument("--jitter", type=float, default=0.0, metavar="S",
                   help="extra random latency up to S seconds (seeded)")
    p.add_argument("--loss", type=float, default=0.0, metavar="P",
                   help="probability a frame is lost, 0 <= P < 1 (seeded)")


def medium_options(args: argparse.Namespace) -> dict[str, float]:
    return {"latency": args.latency, "jitter": args.jitter, "loss": args.loss}


def _fill_defaults(inst: Any, srv: str, params: dict[str, Any]) -> None:
    """Convenience for a person at a terminal: 8.11 and 8.7 default to the PPMID."""
    if srv == "8.11" and params.get("RequestType", "Add") == "Add":
        eui = params.setdefault("DeviceID", inst.eui_of("PPMID"))
        label = inst.labels.get(str(eui).upper())
        if "InstallCode" not in params and label is not None and label.install_code:
            params["InstallCode"] = label.install_code.hex()
    if srv.startswith(("8.7.", "8.8.")):
        params.setdefault("OtherDeviceID", inst.eui_of("PPMID"))


def cmd_srv(args: argparse.Namespace) -> int:
    from s1bench.emulator.clock import VirtualClock
    from s1bench.emulator.installation import TYPE_OFFSETS

    from .builder import build_installation, resolve_dmc

    device_type = args.device.upper()
    if device_type not in TYPE_OFFSETS:
        raise BadInput(f"--device {args.device!r}: expected one of "
                       f"{', '.join(t.lower() for t in TYPE_OFFSETS)}")
    try:
        spec = resolve_dmc(args.dmc, fixed=args.fixed)
    except (KeyError, ValueError) as exc:
        raise BadInput(f"--dmc {args.dmc!r}: {exc}") from None
    clock = VirtualClock()
    params = dict(args.param)

    async def main() -> dict[str, Any]:
        try:
            inst = build_installation(spec, clock, seed=args.seed, capture=args.capture,
                                      medium_options=medium_options(args))
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        inst.start()
        _fill_defaults(inst, args.srv, params)
        try:
            response = await inst.submit(inst.request(args.srv, device_type, **params))
            if args.srv == "8.11" and response.ok:
                # Let the join window run so the capture shows the whole join.
                await clock.sleep(int(response.body.get("JoinTimePeriod", 0)) + 1)
        finally:
            inst.medium.close()
        return response.to_dict()

    result = clock.run(main())
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"{result['srv']}  {result['response_code'] or '(no response code)'}  "
              f"{result['request_id']}")
        for key, value in result["body"].items():
            print(f"  {key}: {value}")
        if result.get("reason"):
            print(f"  reason: {result['reason']}")
    if args.capture:
        print(f"capture: {args.capture} (keys: {args.capture}.keys)", file=sys.stderr)
    return EXIT_OK if result["response_code"] == "I0" else EXIT_NOT_MET


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s1bench", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="warning",
                        help="debug, info, warning (default) or error")
    parser.add_argument("--log-json", action="store_true", help="JSON logs even on a terminal")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_srv(sub)
    # Imported directly: a broken subcommand module must fail loudly, not vanish.
    from . import cli_demo, cli_duis, cli_profiles, cli_reproduce, cli_run

    for module in (cli_demo, cli_profiles, cli_reproduce, cli_run, cli_duis):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.log_level, json=True if args.log_json else None)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # `s1bench ... | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except BadInput as exc:
        print(f"s1bench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    # Run the imported module's main so BadInput is one class under `python -m` too.
    from s1bench.harness.cli import main as _main

    raise SystemExit(_main())
