"""`s1bench site`: site files for `s1bench serve`.

Why a command: the quickest way to try ``s1bench serve`` is with the DUIS
templates a test engineer already holds, and those address devices by ids
of their own (00-DB-12-34-56-78-90-A0 ...). ``site from-templates`` writes
the site in which exactly those ids exist, so the templates can be POSTed
unchanged and their RequestIDs come back as sent.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    PANEL_FILES,
    BadInput,
    DmcOpt,
    note,
    settings,
    writable_file,
)

site_app = typer.Typer(help="Site files for `s1bench serve`: installations by your device ids.",
                       no_args_is_help=True)

DEFAULT_RECEIVE_URL = "http://127.0.0.1:8080/receive"


def register(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site", rich_help_panel=PANEL_FILES)


@site_app.command("from-templates", epilog=(
    "Example:\n\n    s1bench site from-templates ../shared/duis-templates/templates "
    "--receive-url http://127.0.0.1:8080/receive --out site.yaml"))
def from_templates(
    ctx: typer.Context,
    templates: Annotated[Path, typer.Argument(
        metavar="DIR", help="Folder of DUIS request templates (*.xml), or one file.")],
    out: Annotated[Path | None, typer.Option(
        metavar="SITE.yaml", help="Write the site here. [default: print it]")] = None,
    dmc: DmcOpt = None,
    receive_url: Annotated[str, typer.Option(
        metavar="URL", help="The Receive Response URL the site names.")] = DEFAULT_RECEIVE_URL,
) -> int:
    """Write a site in which every device the templates address exists, under their own ids.

    Each RequestID target becomes a device of the type the template
    addresses (the RTDS EUI convention: A0 ESME, A1 GSME, A2 CHF, A3 GSME,
    A4 PPMID; otherwise the SRVs' target types); ids are dealt into as many
    installations as needed for one device of each type per premises. The
    templates' originators become the users, with their DCC Boxed roles.
    """
    from .duis_xml import DuisError
    from .serve.site import http_url, render_site_yaml, site_from_templates

    cfg = settings(ctx, dmc=dmc)
    try:
        http_url(receive_url)
    except ValueError as exc:
        raise BadInput(f"--receive-url: {exc}") from None
    paths = sorted(p for p in templates.iterdir() if p.is_file() and p.suffix.lower() == ".xml") \
        if templates.is_dir() else [templates]
    if not paths or not paths[0].exists():
        raise BadInput(f"{templates}: no DUIS XML files there")
    if out is not None:
        writable_file(out, "--out")
    try:
        found = site_from_templates(paths, cfg.dmc, receive_url)
    except DuisError as exc:
        where = f"{exc.source}, line {exc.line}" if exc.line else (exc.source or str(templates))
        print(f"{where}: {exc.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyError, ValueError) as exc:
        raise BadInput(f"--dmc {cfg.dmc!r}: {exc}") from None
    header = (f"s1bench site from-templates {templates} (DMC {cfg.dmc})\n"
              f"Every RequestID target of {len(paths)} templates is a device here, under its "
              "own id,\nso RequestIDs echo as sent. replay_check is document because the "
              "templates reuse\nRequestID counters 1000-1003 per originator; a real DUIS "
              "user's counters rise,\nand `replay_check: counter` (the default) holds them "
              "to it.")
    text = render_site_yaml(found.data, header)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        installations = found.data["installations"]
        note(f"wrote {out}: {len(installations)} installation(s), "
             f"{sum(len(i['devices']) for i in installations)} device id(s), "
             f"{len(found.data['users'])} user(s)")
    for eui, why in sorted(found.skipped.items()):
        note(f"  not a device: {eui}: {why}")
    return EXIT_OK
