"""The ``--faults FILE`` of `s1bench run` and `s1bench fleet`: a HAN fault schedule in YAML.

The file is a mapping with one key, ``faults``, a list of rules
(:class:`~s1bench.emulator.medium_faults.FaultRule`)::

    faults:
      - kind: drop
        probability: 0.05
      - kind: reorder
        from_s: 60
        until_s: 600
        direction: from_hub

A pack test may carry the same list under its own ``faults`` key. The rules
travel as medium options, so the run's record (the run line's ``medium``,
the fleet line's ``medium_options``) says which faults were active.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from s1bench.emulator.medium_faults import FaultRule, schedule_data

from s1bench import filecheck


class FaultsError(filecheck.FileError):
    what = "the fault schedule"


class FaultsFile(BaseModel):
    """A HAN fault schedule: what frames suffer, and when, during a run."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    faults: list[FaultRule] = Field(min_length=1)
    """The rules, in order: a frame suffers the first whose window, direction and draw match."""


@filecheck.register_schema("faults", "--faults FILE: a HAN fault schedule (s1bench run, fleet)")
def _faults_model() -> type[BaseModel]:
    return FaultsFile


def load_faults(path: Path) -> list[dict[str, Any]]:
    """The schedule's rules as plain data (what medium options carry), or every fault at once."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise FaultsError([filecheck.Problem(path, "", None, f"cannot read: {exc}")]) from None
    data = filecheck.read_yaml_mapping(path, text, FaultsError,
                                       "a fault schedule is a mapping with a 'faults' list")
    problems, lines = filecheck.Problems(), filecheck.YamlLines(path, text)
    loaded = problems.validate(lines, FaultsFile, data)
    if loaded is None:
        raise FaultsError(problems.items)
    return schedule_data(loaded.faults)
