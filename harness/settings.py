"""One settings object for the options several commands share, and where each value came from.

Why: a test engineer runs the same DMC, seed and HAN conditions all day, from
a terminal, a Makefile and CI. Typing ``--dmc aclara-ioc-dormant --latency
0.05`` on every command invites a run that silently differs from the last.
So the shared options are read, in rising order of precedence, from:

1. s1bench's defaults;
2. ``s1bench.toml`` in the working directory (or ``--config FILE`` /
   ``S1BENCH_CONFIG``), top-level keys named as the fields below;
3. ``S1BENCH_<FIELD>`` environment variables (``S1BENCH_SEED=3``);
4. the command line.

``s1bench config show`` prints the effective values and the source of each,
so "why did this run use 50 ms latency?" has an answer.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from s1bench.harness.dcc.alerts import LEVEL_OF_CONCERN

from s1bench.filecheck import (
    FileError,
    Problem,
    Problems,
    TomlLines,
    problems_from,
    read_toml,
    register_schema,
)

CONFIG_FILE = "s1bench.toml"
ENV_PREFIX = "S1BENCH_"

_ISSUE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def _issue_id(value: str) -> str:
    if not _ISSUE_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Testing Issue id (letters, digits and . _ / -, "
                         "as in 91333, risk-11 or NEW-6.7)")
    return value


#: A Testing Issue id as records spell them: 110031, risk-11, NEW-6.7, MIG-request.
IssueId = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_issue_id),
                    Field(json_schema_extra={"pattern": f"^{_ISSUE_ID.pattern}$"})]


class Settings(BaseModel):
    """The options shared by ``srv``, ``run``, ``duis``, ``demo`` and ``reproduce``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dmc: str = Field("reference", description="DMC id to build installations of "
                     "(see `s1bench profiles list`).")
    seed: int = Field(0, description="Seed for every random choice (latency jitter, loss, "
                      "keys, consumption): the same seed replays a run byte for byte.")
    medium: Literal["memory"] = Field("memory", description="HAN medium: 'memory' "
                                      "(in-process, virtual clock).")
    latency: float = Field(0.005, ge=0, description="HAN frame latency in seconds.")
    jitter: float = Field(0.0, ge=0, description="Extra random latency up to this many "
                          "seconds per frame (seeded).")
    loss: float = Field(0.0, ge=0, lt=1, description="Probability a HAN frame is lost, "
                        "0 <= loss < 1 (seeded).")
    out: Path = Field(Path("out"), description="Folder commands write under when not given "
                      "--out: run -> OUT/run, duis -> OUT/duis, demo -> OUT.")
    not_counted: list[IssueId] = Field(
        default_factory=list, description="Testing Issue ids agreed not to count against "
        "the Testing Issue Threshold (seed 002); reported as 'agreed not counted'. "
        "S1BENCH_NOT_COUNTED takes a comma-separated list.")
    alert_level_of_concern: int = Field(
        LEVEL_OF_CONCERN, ge=0, description="Device alerts per installation and calendar day "
        "above which the report flags a day (risk 11's monitoring); flagged, never counted.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "warning", description="Lowest log level printed on stderr.")
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", description="'json' lines, 'console' text, or 'auto': text on a terminal, "
                            "JSON otherwise.")

    @model_validator(mode="before")
    @classmethod
    def _lower_case_words(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v.lower() if k in ("log_level", "log_format", "medium")
                    and isinstance(v, str) else v for k, v in data.items()}
        return data

    @field_validator("not_counted", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """An environment variable is one string; a list is what TOML and the CLI give."""
        if isinstance(value, str):
            return [part for part in (p.strip() for p in value.split(",")) if part]
        return value

    @field_validator("not_counted")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def medium_options(self) -> dict[str, float]:
        return {"latency": self.latency, "jitter": self.jitter, "loss": self.loss}


@register_schema("config", "s1bench.toml: shared defaults for every command")
def _config_model() -> type[BaseModel]:
    return Settings


class SettingsError(FileError):
    what = "the settings"


@dataclass
class Resolved:
    """Effective settings plus, per field, where its value came from."""

    settings: Settings
    sources: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.settings, name)


def _env_values(environ: dict[str, str]) -> dict[str, str]:
    fields = Settings.model_fields
    return {name: environ[ENV_PREFIX + name.upper()] for name in fields
            if ENV_PREFIX + name.upper() in environ}


def resolve(cli: dict[str, Any] | None = None, *, config: Path | None = None,
            environ: dict[str, str] | None = None, cwd: Path | None = None) -> Resolved:
    """Merge defaults < config file < environment < command line; every fault reported at once.

    ``cli`` holds only the options the user gave (``None`` values are "not given").
    """
    environ = dict(os.environ if environ is None else environ)
    problems = Problems()
    layers: list[tuple[str, dict[str, Any], TomlLines | None]] = []
    explicit = config or (Path(environ["S1BENCH_CONFIG"]) if environ.get("S1BENCH_CONFIG")
                          else None)
    path = explicit or (cwd or Path.cwd()) / CONFIG_FILE
    if explicit is not None and not path.is_file():
        problems.add(path, (), "config file not found")
    elif path.is_file():
        read = read_toml(path, problems)
        if read is not None:
            layers.append((str(path), read[1], read[0]))
    layers.append(("env", _env_values(environ), None))
    layers.append(("command line", {k: v for k, v in (cli or {}).items() if v is not None},
                   None))
    merged: dict[str, Any] = {}
    sources = dict.fromkeys(Settings.model_fields, "default")
    for origin, values, lines in layers:
        try:
            Settings.model_validate({**merged, **values})
        except ValidationError as exc:
            for key, reason in problems_from(exc, Settings):
                if not key or key[0] not in values:
                    continue
                if lines is not None:
                    problems.add(lines, key, reason)
                elif origin == "env":
                    problems.items.append(Problem(Path(f"{ENV_PREFIX}{str(key[0]).upper()}"),
                                                  "", None, reason))
                else:
                    problems.items.append(Problem(Path(f"--{str(key[0]).replace('_', '-')}"),
                                                  "", None, reason))
            values = {k: v for k, v in values.items() if k in Settings.model_fields}
        for name in values:
            if name not in sources:
                continue
            if lines is not None:
                sources[name] = f"{origin}:{lines.line_of((name,))}"
            else:
                sources[name] = f"{ENV_PREFIX}{name.upper()}" if origin == "env" else origin
        merged.update(values)
    if problems.items:
        raise SettingsError(problems.items)
    return Resolved(Settings.model_validate(merged), sources)
