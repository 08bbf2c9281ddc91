"""What every subcommand shares: exit codes, bad input, settings, tables, progress, paths.

Why here and not in each command: an engineer reads many commands' output in
one session and pipes it into others. Tables look the same everywhere (rich
on a terminal, plain aligned text through a pipe, so ``grep`` and ``awk``
work), long runs show one kind of progress bar (on a terminal only: a pipe
or a CI log gets nothing extra), and every unusable input gives one line
naming the option or file at fault, exit 2, before anything is written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_OK, EXIT_NOT_MET, EXIT_BAD_INPUT = 0, 1, 2

#: Help panels: commands are grouped by what an engineer is doing.
PANEL_RUN = "Run against emulated installations"
PANEL_LOOK = "Look things up"
PANEL_FILES = "Files and captures"
PANEL_HIL = "Hardware in the loop"


class BadInput(Exception):
    """User-facing input error: printed as one line without a traceback, exit status 2."""


@dataclass
class RootOptions:
    """Options given before the subcommand (``s1bench --log-level debug srv ...``)."""

    config: Path | None = None
    log_level: str | None = None
    log_format: str | None = None


# ---- shared option types: one definition, so help text and names never drift apart

DmcOpt = Annotated[str | None, typer.Option(
    "--dmc", help="DMC id (see `s1bench profiles list`). [default: reference, or settings]")]
SeedOpt = Annotated[int | None, typer.Option(
    "--seed", help="Seed: the same seed replays byte for byte. [default: 0, or settings]")]
LatencyOpt = Annotated[float | None, typer.Option(
    "--latency", metavar="S", help="HAN frame latency in seconds. [default: 0.005]",
    rich_help_panel="HAN medium")]
JitterOpt = Annotated[float | None, typer.Option(
    "--jitter", metavar="S", help="Extra random latency up to S seconds (seeded). [default: 0]",
    rich_help_panel="HAN medium")]
LossOpt = Annotated[float | None, typer.Option(
    "--loss", metavar="P", help="Probability a frame is lost, 0 <= P < 1 (seeded). [default: 0]",
    rich_help_panel="HAN medium")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def settings(ctx: typer.Context, **cli: Any) -> Any:
    """The effective shared settings for this command: defaults < s1bench.toml < env < CLI."""
    from .settings import SettingsError, resolve

    root: RootOptions = ctx.find_root().obj or RootOptions()
    given = {"log_level": root.log_level, "log_format": root.log_format, **cli}
    try:
        return resolve(given, config=root.config)
    except SettingsError as exc:
        raise BadInput(str(exc)) from None


# ---- output


def is_terminal(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned columns, no colour, no box: what a pipe, a diff or grep wants."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
                title: str | None = None, wrap: Sequence[str] = ()) -> None:
    """A rich table on a terminal (cells in ``wrap`` fold, others stay whole), else plain text."""
    if not is_terminal():
        if title:
            print(title)
        print(plain_table(headers, rows))
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold",
                         no_wrap=header not in wrap, max_width=None)
    for row in rows:
        table.add_row(*(str(c) for c in row))
    _console().print(table)


def ellipsise(parts: Sequence[str], width: int, sep: str = ", ") -> str:
    """Join whole parts up to ``width``; never cut a value in the middle (``…`` says more)."""
    out = ""
    for part in parts:
        candidate = f"{out}{sep}{part}" if out else part
        if len(candidate) > width:
            return f"{out}{sep}…" if out else part[: max(width - 1, 1)] + "…"
        out = candidate
    return out


@contextmanager
def progress_bar(description: str, *, enabled: bool = True
                 ) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar on stderr when it is a terminal; a no-op otherwise.

    The callback takes (done, total, last line), the runner's progress shape.
    """
    if not enabled or not is_terminal(sys.stderr):
        yield lambda done, total, line: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(),
                  TextColumn("{task.fields[last]}", style="dim"),
                  console=_console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=None, last="")

        def update(done: int, total: int, line: str) -> None:
            bar.update(task, completed=done, total=total, last=line[-40:])

        yield update


def note(message: str) -> None:
    """A line for the person at the terminal (stderr, so stdout stays the result)."""
    print(message, file=sys.stderr)


# ---- paths


def writable_dir(path: Path, option: str) -> Path:
    """Create ``path`` (and parents) or fail with a one-line error naming the option."""
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise BadInput(f"{option} {path}: {blocker} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{option} {path}: cannot create the folder: "
                       f"{exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"{option} {path}: the folder is not writable")
    return path


def writable_file(path: Path, option: str) -> Path:
    """Check a file can be written there (its folder created) before any work is done."""
    if path.is_dir():
        raise BadInput(f"{option} {path}: is a folder, expected a file name")
    writable_dir(path.parent, option)
    if path.exists() and not os.access(path, os.W_OK):
        raise BadInput(f"{option} {path}: the file is not writable")
    return path
