"""structlog set-up: JSON off a terminal, readable on one, and no key material.

Every log line passes through :func:`redact`, which masks values of keys that
name secrets (keys, install codes, private halves of certificates) wherever
they appear, so a careless ``log.info(..., network_key=...)`` cannot leak.
"""

from __future__ import annotations

import logging
import sys
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


def configure(level: str = "warning", json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog once per process; ``json=None`` decides by the terminal."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    renderer: Any = (structlog.processors.JSONRenderer(sort_keys=True) if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
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
