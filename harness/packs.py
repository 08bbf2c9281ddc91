"""DMCT test packs as YAML data: loading and checking before anything runs.

A pack is a list of named tests; a test is a list of steps. Each step is one
of: ``srv`` (a Service Request with ``device``, ``params`` and ``expect``),
``migrate`` (a migration state-machine step), ``wait`` (seconds on the
clock), ``check: alerts`` (alerts the WAN side received, with ``expect``),
``reproduce`` (a Testing Issue scenario) or ``each_srv`` (every SRV the DMC
supports, a success and a rejection case). A broken pack (YAML
error, unknown SRV, unknown step kind, bad expectation) is rejected with the
file, line and reason before any test runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from s1bench.emulator.srv_catalogue import SRVS

STEP_KINDS = ("srv", "migrate", "wait", "reproduce", "each_srv", "check")
DEVICE_TYPES = ("CHF", "ESME", "GSME", "PPMID", "IHD")
EXPECT_KEYS = ("response_code", "body", "outcome", "alerts", "joined")
MIGRATION_STEPS = ("request", "validate", "credentials", "commission", "activate")


class PackError(ValueError):
    """A pack that cannot run: names the file, the line and the reason."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {reason}")
        self.file, self.line, self.reason = file, line, reason


class _LineLoader(yaml.SafeLoader):
    """Keeps each mapping's line so errors can point at it."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    data = loader.construct_mapping(node, deep=True)
    data["__line__"] = node.start_mark.line + 1
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


@dataclass(frozen=True)
class Step:
    kind: str
    value: Any
    device: str = "ESME"
    params: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    raises: str | None = None
    mitigate: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    line: int | None = None


@dataclass(frozen=True)
class PackTest:
    name: str
    steps: tuple[Step, ...]
    line: int | None = None


@dataclass(frozen=True)
class Pack:
    id: str
    title: str
    tests: tuple[PackTest, ...]
    file: str


def builtin_pack_dir() -> Path:
    return Path(str(resources.files("s1bench.harness") / "packs"))


def resolve_pack(name: str) -> Path:
    """A path, or the name of a shipped pack (with or without .yaml)."""
    path = Path(name)
    if path.exists():
        return path
    candidate = builtin_pack_dir() / (name if name.endswith(".yaml") else f"{name}.yaml")
    if candidate.exists():
        return candidate
    known = ", ".join(sorted(p.stem for p in builtin_pack_dir().glob("*.yaml")))
    raise PackError(name, None, f"no such pack file or shipped pack (shipped: {known})")


def _clean(value: Any) -> Any:
    """Drop the loader's line markers from nested values."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _step(file: str, raw: Any, index: int, test_line: int | None) -> Step:
    if not isinstance(raw, dict):
        raise PackError(file, test_line, f"step {index + 1} must be a mapping")
    line = raw.get("__line__")
    kinds = [k for k in STEP_KINDS if k in raw]
    if len(kinds) != 1:
        raise PackError(file, line, f"step {index + 1} needs exactly one of "
                                    f"{', '.join(STEP_KINDS)}")
    kind = kinds[0]
    known = {*STEP_KINDS, "device", "params", "expect", "raises", "mitigate", "label",
             "__line__"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PackError(file, line, f"unknown key {unknown[0]!r} in step {index + 1}")
    value = raw[kind]
    if kind == "srv":
        value = str(value)
        if value not in SRVS:
            raise PackError(file, line, f"unknown SRV {value!r}")
    if kind == "migrate" and value not in MIGRATION_STEPS:
        raise PackError(file, line, f"unknown migration step {value!r} "
                                    f"(known: {', '.join(MIGRATION_STEPS)})")
    if kind == "check" and value != "alerts":
        raise PackError(file, line, f"check {value!r}: only 'alerts' can be checked")
    if kind == "check" and "alerts" not in (raw.get("expect") or {}):
        raise PackError(file, line, "check alerts needs expect.alerts")
    if kind == "wait" and (not isinstance(value, int | float) or value < 0):
        raise PackError(file, line, f"wait must be a number of seconds >= 0, got {value!r}")
    device = str(raw.get("device", "ESME")).upper()
    if device not in DEVICE_TYPES:
        raise PackError(file, line, f"unknown device {device!r}")
    expect = raw.get("expect") or {}
    if not isinstance(expect, dict):
        raise PackError(file, line, "expect must be a mapping")
    expect = _clean(expect)
    alerts = expect.get("alerts")
    if alerts is not None and (not isinstance(alerts, dict) or set(alerts) - {
            "code", "min", "max", "within_s"}):
        raise PackError(file, line, "expect.alerts takes code, min, max and within_s")
    bad = sorted(set(expect) - set(EXPECT_KEYS))
    if bad:
        raise PackError(file, line, f"unknown expectation {bad[0]!r} "
                                    f"(known: {', '.join(EXPECT_KEYS)})")
    params = _clean(raw.get("params") or {})
    mitigate = _clean(raw.get("mitigate") or {})
    if kind == "srv":
        spec = SRVS[value]
        if device not in spec.targets:
            raise PackError(file, line, f"SRV {value} does not apply to a {device}")
    return Step(kind, value, device, params, expect,
                str(raw["raises"]) if raw.get("raises") is not None else None,
                mitigate, str(raw.get("label", "")), line)


def load_pack(name: str) -> Pack:
    path = resolve_pack(name)
    file = str(path)
    try:
        data = yaml.load(path.read_text(), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PackError(file, mark.line + 1 if mark else None, f"YAML error: {exc}") from None
    if not isinstance(data, dict) or "tests" not in data:
        raise PackError(file, None, "a pack is a mapping with 'pack', 'title' and 'tests'")
    tests = []
    for raw in data.get("tests") or []:
        if not isinstance(raw, dict) or "name" not in raw:
            raise PackError(file, raw.get("__line__") if isinstance(raw, dict) else None,
                            "each test needs a name and steps")
        steps = tuple(_step(file, s, i, raw.get("__line__"))
                      for i, s in enumerate(raw.get("steps") or []))
        if not steps:
            raise PackError(file, raw.get("__line__"), f"test {raw['name']!r} has no steps")
        tests.append(PackTest(str(raw["name"]), steps, raw.get("__line__")))
    return Pack(str(data.get("pack", path.stem)), str(data.get("title", path.stem)),
                tuple(tests), file)
