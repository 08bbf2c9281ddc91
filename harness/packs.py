"""DMCT test packs as YAML data: found by name, checked whole, handed to the runner as steps.

The file's shape lives in :mod:`s1bench.harness.pack_models`; this module turns a checked file
into what the runner takes, ``Step(kind, value, ...)``, which it also builds for ``each_srv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from s1bench.emulator.medium_faults import schedule_data

from s1bench import filecheck

from .pack_models import STEP_KINDS, PackFile, _StepKeys


@dataclass(frozen=True)
class Step:
    """A step as the runner sees it: its kind and value, whichever key the file used."""

    kind: str
    value: Any
    device: str = "ESME"
    params: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    raises: str | None = None
    mitigate: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    user: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class PackTest:
    name: str
    steps: tuple[Step, ...]
    line: int | None = None
    #: The test's HAN fault schedule (rules as medium options carry them); () for none.
    faults: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Pack:
    id: str
    title: str
    tests: tuple[PackTest, ...]
    file: str


class PackError(filecheck.FileError):
    what = "the pack"


def builtin_pack_dir() -> Path:
    return Path(str(resources.files("s1bench.harness") / "packs"))


def resolve_pack(name: str) -> Path:
    """A path, or the name of a shipped pack (with or without .yaml)."""
    shipped = builtin_pack_dir() / (name if name.endswith(".yaml") else f"{name}.yaml")
    for path in (Path(name), shipped):
        if path.exists():
            return path
    known = ", ".join(sorted(p.stem for p in builtin_pack_dir().glob("*.yaml")))
    reason = f"no such pack file or shipped pack (shipped: {known})"
    raise PackError([filecheck.Problem(Path(name), "", None, reason)])


def _step(step: _StepKeys, line: int | None) -> Step:
    kind = next(kind for kind in STEP_KINDS if kind in type(step).model_fields)
    keys = step.model_dump(exclude={kind}, exclude_unset=True)
    return Step(kind, getattr(step, kind), **keys, line=line)


def load_pack(name: str) -> Pack:
    """The pack, or every fault in it at once: a half-checked pack would fail hours into a run."""
    path = resolve_pack(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8
        # A pack saved in another encoding, or a folder named by mistake: still the pack's
        # fault, said as one, not a traceback from the codec.
        raise PackError([filecheck.Problem(path, "", None, f"cannot read: {exc}")]) from None
    data = filecheck.read_yaml_mapping(
        path, text, PackError, "a pack is a mapping with 'pack', 'title' and 'tests'")
    problems, lines = filecheck.Problems(), filecheck.YamlLines(path, text)
    pack = problems.validate(lines, PackFile, data)
    if pack is None:
        raise PackError(problems.items)
    tests = tuple(PackTest(test.name, tuple(_step(s, lines.line_of(("tests", i, "steps", j)))
                                            for j, s in enumerate(test.steps)),
                           lines.line_of(("tests", i)),
                           tuple(schedule_data(test.faults)) if test.faults else ())
             for i, test in enumerate(pack.tests))
    return Pack(pack.pack or path.stem, pack.title or path.stem, tests, str(path))
