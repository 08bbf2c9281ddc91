"""structlog set-up: JSON off a terminal, readable on one, and no key material.

Every log line passes through :func:`redact`, which masks values of keys that
name secrets (keys, install codes, private halves of certificates) wherever
they appear, so a careless ``log.info(..., network_key=...)`` cannot leak.

A run drives hundreds of installations through one process, so a bare line
("service response", a RequestID) cannot be traced to its test. While a test
runs, :func:`bound_to_test` binds its DMC, pack and test name to every line
(structlog contextvars, which asyncio tasks and timer callbacks inherit) and
points :func:`add_virtual_time` at the installation's clock, so each line also
says when it happened in virtual time: wall-clock timestamps of a run that
warps seven days into milliseconds say nothing about ordering within a test.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog

SECRET_WORDS = ("key", "installcode", "install_code", "private", "secret", "password")


def is_secret(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return any(word in lowered.replace("_", "") or word in lowered for word in SECRET_WORDS)


def redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<redacted>" if is_secret(str(k)) else redact_value(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: ("<redacted>" if is_secret(k) else redact_value(v)) for k, v in event.items()}


#: The clock of the installation whose test is running in this context, if any.
_scope_clock: ContextVar[Any | None] = ContextVar("s1bench_log_clock", default=None)


def add_virtual_time(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Stamp the line with the running test's virtual time (ISO 8601), when there is one.

    Reads the clock at emit time rather than binding a value, because virtual
    time moves on between lines; outside a running loop (set-up, tear-down)
    the clock cannot say, and the line goes out without it.
    """
    clock = _scope_clock.get()
    if clock is not None and "virtual_time" not in event:
        with contextlib.suppress(RuntimeError):  # no running loop
            event["virtual_time"] = clock.now().isoformat()
    return event


@contextmanager
def virtual_clock(clock: Any) -> Iterator[None]:
    """Stamp every line logged inside the block with ``clock``'s time (see add_virtual_time).

    Enter it before the clock's loop starts: tasks and callbacks copy the
    context they are created in, so everything the loop runs sees the clock.
    """
    token = _scope_clock.set(clock)
    try:
        yield
    finally:
        _scope_clock.reset(token)


@contextmanager
def bound_to_test(*, dmc: str, pack: str, test: str, clock: Any = None) -> Iterator[None]:
    """Bind DMC, pack and test (and ``clock``, when given) to every line logged inside.

    A scenario that runs on a clock of its own binds that clock itself, with
    :func:`virtual_clock`, inside this block. Leaving the block restores
    whatever was bound before, so tests that follow one another in a run
    never inherit each other's fields.
    """
    with structlog.contextvars.bound_contextvars(dmc=dmc, pack=pack, test=test):
        if clock is None:
            yield
            return
        with virtual_clock(clock):
            yield


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was set up.

    Holding the stream of the moment breaks as soon as it is swapped and closed
    (a test's capture, a redirected CLI run): the next warning would raise.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(level: str = "warning", json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog once per process; ``json=None`` decides by the terminal."""
    stream = stream or _CurrentStderr()
    if json is None:
        json = not stream.isatty()
    renderer: Any = (structlog.processors.JSONRenderer(sort_keys=True) if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_virtual_time,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.WARNING)),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
