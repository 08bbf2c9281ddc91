"""`s1bench serve`: DUIS over HTTP in DCC Boxed's shape, in front of emulated installations.

Why: a supplier's DUIS adaptor already speaks HTTP to DCC Boxed (the DCC's
SMETS2 simulator). Pointing it at ``s1bench serve`` instead lets it run
against emulated SMETS1 installations unchanged: the same paths
(``/api/v1/serviceS``, ``serviceT``, ``serviceD`` on port 8079), I99 now and
the outcome POSTed to its Receive Response URL, its own device ids and
RequestIDs (the site file names them). See README, "DUIS over HTTP".

Prints the URLs, the S1SP certificate to verify signed responses with, and
the devices served, then ``ready``; then one line per request. Stops on
Ctrl-C or SIGTERM; documents not yet delivered stay in ``STATE/outbox`` and
go out when serving starts again.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_common import EXIT_OK, PANEL_RUN, BadInput, SeedOpt, settings, writable_dir


def register(app: typer.Typer) -> None:
    app.command("serve", rich_help_panel=PANEL_RUN, epilog=(
        "Example:\n\n    s1bench site from-templates ../shared/duis-templates/templates "
        "--out site.yaml\n\n    s1bench serve --site site.yaml --speed 10\n\n"
        "    s1bench hubs --site site.yaml --wan mqtt://127.0.0.1:1883/lab &\n\n"
        "    s1bench serve --site site.yaml --wan mqtt://127.0.0.1:1883/lab"))(serve)
    app.command("hubs", rich_help_panel=PANEL_RUN, epilog=(
        "Example:\n\n    s1bench hubs --site site.yaml --wan mqtt://127.0.0.1:1883/lab"))(hubs)


WanOpt = Annotated[str | None, typer.Option(
    "--wan", metavar="URL", help="Carry the head-end WAN through an MQTT broker: "
    "mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT][/SITE][?ca=FILE]. `serve` runs the DCC side and "
    "`hubs` the installations, in separate processes or machines.", show_default=False)]


def _wan_options(url: str | None) -> dict[str, Any] | None:
    if url is None:
        return None
    from s1bench.emulator.wan_mqtt import parse_url

    try:
        return parse_url(url)
    except ValueError as exc:
        raise BadInput(f"--wan {exc}") from None


def serve(
    ctx: typer.Context,
    site: Annotated[Path, typer.Option(
        "--site", metavar="SITE.yaml", help="The site: installations, users, Receive Response "
                                            "URL (`s1bench site from-templates` writes one).")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535,
                                      help="Port (DCC Boxed's is 8079; 0 picks a free one).")
                    ] = 8079,
    speed: Annotated[float, typer.Option(
        min=0.001, help="Site time runs this many times faster than real time.")] = 1.0,
    state: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Where undelivered documents and the S1SP certificate are kept. "
                            "[default: OUT/serve from settings, i.e. out/serve]")] = None,
    seed: SeedOpt = None,
    retry_max: Annotated[float, typer.Option(
        metavar="SECONDS", min=0.25,
        help="Longest wait between two delivery attempts while the receiver is down.")
    ] = 30.0,
    wan: WanOpt = None,
) -> int:
    """Serve DUIS over HTTP (DCC Boxed's paths) in front of a site's emulated installations.

    Requests get I99 (or the DUIS rejection) at once; outcomes and alerts are
    POSTed to the site's Receive Response URL, kept on disk until delivered.
    """
    from .serve.site import load_site

    cfg = settings(ctx, seed=seed)
    loaded = load_site(site)
    folder = writable_dir(state or cfg.out / "serve", "--state")
    try:
        from .duis_xml import load_schema

        load_schema()  # seconds: paid once, before the first request waits for it
    except (ImportError, FileNotFoundError) as exc:
        raise BadInput(f"cannot check requests against the DUIS schema: {exc}") from None
    wan_options = _wan_options(wan)
    listener = _bind(host, port)
    return asyncio.run(_serve(loaded, listener, folder, cfg.seed, speed, retry_max,
                              wan_options))


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is one line and --port 0 works."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BadInput(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise BadInput(f"--host {host} --port {port}: cannot listen: "
                       f"{exc.strerror or exc}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _say(line: str) -> None:
    print(line, flush=True)


async def _serve(site: Any, listener: socket.socket, folder: Path, seed: int, speed: float,
                 retry_max: float, wan: dict[str, Any] | None = None) -> int:
    import uvicorn

    from .dcc.signing import S1spSigner
    from .serve.app import DuisService
    from .serve.delivery import Outbox
    from .serve.runtime import SiteRuntime

    signer = S1spSigner(seed)
    certificate = signer.write_certificate(folder / "s1sp-certificate.pem")
    outbox = Outbox(folder / "outbox", site.receive_response_url, retry_max=retry_max,
                    log=_say)
    service: DuisService | None = None
    runtime = SiteRuntime(site, lambda outcome: service.emit(outcome) if service else None,
                          seed=seed, speed=speed, wan=wan)
    service = DuisService(site, runtime, outbox, signer, log=_say)
    service.attach(asyncio.get_running_loop())
    host, port = listener.getsockname()[:2]
    base = f"http://{host}:{port}/api/v1"
    _say(f"s1bench serve: site {site.id} ({len(site.installations)} installation(s), "
         f"{len(site.users)} user(s)), seed {seed}, speed {speed:g}")
    if wan is not None:
        _say(f"  head-end WAN: MQTT broker {wan['host']}:{wan['port']}, site {wan['site']} "
             "(the hubs run in `s1bench hubs`)")
    joining = [i.name for i in site.installations if i.join_at_start]
    if joining:
        _say(f"  starting installations; joining PPMID/IHD of {', '.join(joining)} "
             f"(up to {60 / speed:.0f} s)")
    try:
        await asyncio.to_thread(runtime.start)
    except Exception as exc:
        raise BadInput(f"--site {site.file}: cannot build the site: {exc}") from exc
    for line in runtime.setup:
        _say(f"  setup: {line}")
    for name, device_type, eui in runtime.devices():
        _say(f"  device {eui} {device_type:<5} {name}")
    _say(f"  POST {base}/serviceS  (send command: CV 1)")
    _say(f"  POST {base}/serviceT  (transform: CV 4, critical)")
    _say(f"  POST {base}/serviceD  (non-device: CV 8)")
    _say(f"  outcomes and alerts -> {site.receive_response_url} (kept in {outbox.folder} "
         f"until delivered{f'; {outbox.resumed} resumed' if outbox.resumed else ''})")
    _say(f"  S1SP certificate: {certificate} (sha256 {signer.fingerprint[:16]}…)")
    worker = asyncio.create_task(outbox.run())
    server = uvicorn.Server(uvicorn.Config(service, lifespan="off", log_level="warning",
                                           access_log=False))
    # uvicorn re-raises the signal that stopped it once it has shut down; these keep that
    # from killing the process before the site is stopped.
    previous = {sig: signal.signal(sig, lambda *_: None)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    _say(f"ready: {base}")
    try:
        await server.serve(sockets=[listener])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await asyncio.to_thread(runtime.stop)
        left = outbox.pending
        answered = ", ".join(f"{code} {n}" for code, n in sorted(service.answered.items()))
        _say(f"stopped: {sum(service.answered.values())} request(s) answered"
             + (f" ({answered})" if answered else "")
             + f", {outbox.delivered} document(s) delivered"
             + (f", {left} kept in {outbox.folder} for next time" if left else ""))
    sys.stdout.flush()
    return EXIT_OK


def hubs(
    ctx: typer.Context,
    site: Annotated[Path, typer.Option(
        "--site", metavar="SITE.yaml", help="The site whose installations to run (the same file "
                                            "`serve` is given).")],
    wan: WanOpt = None,
    speed: Annotated[float, typer.Option(
        min=0.001, help="Device time runs this many times faster than real time (as serve's).")
    ] = 1.0,
    seed: SeedOpt = None,
) -> int:
    """Run a site's installations (hubs and devices) behind a head-end WAN over MQTT.

    The DCC side is `s1bench serve --wan` with the same site, seed and broker, in
    another process or on another machine. Stops on Ctrl-C or SIGTERM.
    """
    from .serve.site import load_site

    cfg = settings(ctx, seed=seed)
    loaded = load_site(site)
    options = _wan_options(wan)
    if options is None:
        raise BadInput("--wan is required: the broker the DCC side (`s1bench serve --wan`) uses")
    from .serve.clock import ScaledClock

    clock = ScaledClock(speed)
    return clock.run(_hubs(loaded, options, cfg.seed, clock))


async def _hubs(site: Any, wan: dict[str, Any], seed: int, clock: Any) -> int:
    from s1bench.emulator.wan_mqtt import HubEndpoint, WanError

    from .serve.runtime import build_site_installation

    installations = {}
    for index, entry in enumerate(site.installations):
        inst = build_site_installation(entry, index, clock, seed)
        inst.start()
        installations[inst.hub_eui] = inst
    endpoint = HubEndpoint(installations, **wan)
    try:
        await endpoint.start()
    except WanError as exc:
        raise BadInput(str(exc)) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _say(f"s1bench hubs: site {site.id}, {len(installations)} hub(s), seed {seed}; head-end "
         f"WAN on MQTT broker {wan['host']}:{wan['port']}, site {wan['site']}")
    for eui, inst in installations.items():
        _say(f"  hub {eui} ({inst.dmc_id}, {len(inst.labels) - 1} device(s))")
    _say("ready")
    try:
        await stop.wait()
    finally:
        await endpoint.aclose()
        for inst in installations.values():
            inst.medium.close()
    _say(f"stopped: {endpoint.commands} head-end command(s) carried out")
    sys.stdout.flush()
    return EXIT_OK
