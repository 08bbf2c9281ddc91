"""`s1bench demo`: the main job `make run` performs on the embedded defaults.

1. Commission the reference installation and run a handful of SRVs over the
   HAN with a capture, printing a readable table (the spine at work).
2. Run the three shipped packs against every DMC in the catalogue on the
   in-memory HAN and print the exit criteria per DMC and the report's path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEMO_SRVS: list[tuple[str, str, dict[str, Any]]] = [
    ("8.2", "CHF", {}),
    ("4.1.1", "ESME", {}),
    ("4.18", "GSME", {}),
    ("2.2", "ESME", {"UTRN": "73946144332040217315"}),
    ("3.1", "ESME", {"SupplierMessage": "Welcome to the DCC"}),
    ("6.7", "GSME", {}),
    ("7.4", "ESME", {}),
    ("6.15.1", "ESME", {"RemotePartyRole": "ACB"}),
    ("11.2", "CHF", {}),
]
PACKS = ("standard-dormant-migration", "standard-srv", "testing-issues")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="the main job: SRV tour with a capture, then every "
                                    "pack on every DMC")
    p.add_argument("--out", default="out", help="output directory (default out)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _srv_tour(out: Path, seed: int) -> None:
    from s1bench.emulator.clock import VirtualClock

    from .builder import build_installation, resolve_dmc

    clock = VirtualClock()
    capture = out / "reference.pcap"

    async def main() -> list[tuple[str, str, str, str]]:
        inst = build_installation(resolve_dmc("reference"), clock, seed=seed,
                                  capture=str(capture))
        inst.start()
        rows = []
        try:
            for srv, device, params in DEMO_SRVS:
                r = await inst.submit(inst.request(srv, device, **params))
                body = ", ".join(f"{k}={v}" if not isinstance(v, list | dict)
                                 else f"{k}: {len(v)} entries" for k, v in r.body.items())
                rows.append((srv, device, r.response_code or "-", (body or r.reason or "")[:70]))
            ppmid = inst.eui_of("PPMID")
            code = inst.labels[ppmid].install_code
            r = await inst.submit(inst.request("8.11", "CHF", DeviceID=ppmid, JoinTimePeriod=600,
                                               InstallCode=code.hex() if code else None))
            rows.append(("8.11", "CHF", r.response_code or "-",
                         f"PPMID join window 600 s in {r.body.get('PermitJoinRequests')} "
                         "permit-join requests"))
            await clock.sleep(605)
            r = await inst.submit(inst.request("8.7.1", "ESME", OtherDeviceID=ppmid))
            rows.append(("8.7.1", "ESME", r.response_code or "-", "PPMID joined to the ESME"))
        finally:
            inst.medium.close()
        return rows

    rows = clock.run(main())
    print("Reference installation, virtual clock, in-memory HAN:")
    print(f"  {'SRV':7} {'device':6} {'code':5} result")
    for srv, device, code, text in rows:
        print(f"  {srv:7} {device:6} {code:5} {text}")
    print(f"  capture: {capture} (Wireshark keys: {capture}.keys)\n")


def run(args: argparse.Namespace) -> int:
    from s1bench.firmware_profiles.catalogue import load_catalogue

    from .cli import EXIT_OK
    from .cli_run import print_exit_table
    from .packs import load_pack
    from .reports import write_reports
    from .runner import run_packs

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _srv_tour(out, args.seed)
    dmcs = sorted(load_catalogue().dmcs)
    packs = [load_pack(name) for name in PACKS]
    print(f"Running {len(packs)} packs against {len(dmcs)} DMCs ...", file=sys.stderr)
    run_dir = out / "run"
    run_packs(packs, dmcs, run_dir, seed=args.seed)
    paths = write_reports(run_dir)
    import json

    print_exit_table(json.loads(Path(paths["summary"]).read_text()))
    print(f"\nDMCT Testing Report: {paths['html']}")
    return EXIT_OK
