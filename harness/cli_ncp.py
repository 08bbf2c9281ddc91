"""`s1bench ncp`: an emulated Z-Stack 3 dongle on a TCP port, for CI and for trying a bench.

Unmodified zigpy-znp (so ``s1bench bench check``, or any zigpy host)
connects to ``socket://HOST:PORT`` as to a dongle, forms or resumes a network, permits
joins and exchanges Smart Energy frames with the DMC's emulated devices.
Every device starts off the HAN and joins with the install code of its
label (the same seed and index give the same EUIs and codes as the
emulator), as physical meters on a bench do.

Runs until interrupted (Ctrl-C or SIGTERM: exit 0). A port that cannot be
listened on is exit 2 with the port named.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from .cli_common import EXIT_OK, PANEL_HIL, BadInput, DmcOpt, SeedOpt, settings


def register(app: typer.Typer) -> None:
    app.command("ncp", rich_help_panel=PANEL_HIL, epilog=(
        "Examples:\n\n"
        "    s1bench ncp --port 6638 --dmc reference\n\n"
        "    s1bench bench check hil/benches/example-znp.yaml   # in another shell"))(ncp)


def ncp(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(
        "--port", min=0, max=65535, help="TCP port to listen on (0: any free one).")],
    dmc: DmcOpt = None,
    seed: SeedOpt = None,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on.")] = "127.0.0.1",
    index: Annotated[int, typer.Option(
        "--index", min=0, help="Installation index: sets the EUIs (00-DB-12-<index>-<type>).")
    ] = 0,
    nvram: Annotated[Path | None, typer.Option(
        "--nvram", metavar="FILE", help="Keep the NCP's NVRAM (network, keys) in this file, "
                                        "so a restarted NCP resumes the network.")] = None,
) -> int:
    """Serve an emulated Z-Stack 3 NCP (zigpy-znp's dongle) backed by emulated devices."""
    try:
        from s1bench.hil.ncp import run_ncp
    except ImportError as exc:
        raise BadInput(f"s1bench ncp needs the hil extra (pip install 's1bench[hil]'): "
                       f"{exc}") from None

    from .builder import resolve_dmc

    cfg = settings(ctx, dmc=dmc, seed=seed)
    try:
        spec = resolve_dmc(cfg.dmc)
    except (KeyError, ValueError) as exc:
        raise BadInput(f"--dmc {cfg.dmc!r}: {exc}") from None
    if nvram is not None and nvram.exists() and not nvram.is_file():
        raise BadInput(f"--nvram {nvram}: not a file")

    def ready(server: object) -> None:
        url = getattr(server, "url", "")
        print(f"s1bench ncp: {cfg.dmc} (seed {cfg.seed}, installation {index}) listening on "
              f"{url}  port {getattr(server, 'port', port)}", flush=True)

    async def serve() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel if task else lambda: None)
        with contextlib.suppress(asyncio.CancelledError):
            await run_ncp(spec, host=host, port=port, seed=cfg.seed, index=index,
                          nvram=nvram, ready=ready)

    try:
        asyncio.run(serve())
    except OSError as exc:
        raise BadInput(f"--port {port}: {exc}") from None
    except ValueError as exc:  # an unreadable --nvram file
        raise BadInput(str(exc)) from None
    except KeyboardInterrupt:
        pass
    return EXIT_OK
