"""Packs as an author meets them: the schema editors use, and every fault named with its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from s1bench.harness.packs import PackError, builtin_pack_dir, load_pack

from s1bench.filecheck import json_schema

SHIPPED = sorted(builtin_pack_dir().glob("*.yaml"))


def _validator() -> jsonschema.Draft202012Validator:
    schema = json_schema("pack")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _pack_with_step(step: dict[str, Any]) -> dict[str, Any]:
    return {"pack": "p", "tests": [{"name": "t", "steps": [step]}]}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_schema_accepts_every_shipped_pack(path: Path) -> None:
    errors = list(_validator().iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert not errors, [error.message for error in errors]


@pytest.mark.parametrize("step", [
    {"frobnicate": 1},
    {"srv": "4.1.1", "colour": "red"},
    {"srv": "4.1.1", "wait": 5},
    {"srv": "99.9"},
    {"migrate": "fly"},
    {"check": "alerts"},
    {"wait": -1},
], ids=["unknown-kind", "unknown-key", "two-kinds", "unknown-srv", "bad-migration",
        "check-without-expect", "negative-wait"])
def test_schema_refuses_what_the_loader_refuses(step: dict[str, Any], tmp_path: Path) -> None:
    assert not _validator().is_valid(_pack_with_step(step))
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(_pack_with_step(step)), encoding="utf-8")
    with pytest.raises(PackError):
        load_pack(str(path))


def _line_of(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


BROKEN = """\
pack: broken
tests:
  - name: first
    steps:
      - migrate: request
      - srv: "4.1.1"
        colour: red
      - wait: 60
        expect: {response_code: I0, tone: loud}
  - name: second
    steps:
      - teleport: mars
      - check: alerts
        expect: {alerts: {max: 2, per: hour}}
  - steps: []
"""


def test_every_fault_of_a_pack_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_pack(str(path))
    found = {(p.key, p.line) for p in caught.value.problems}
    assert found == {
        ("tests[0].steps[1].colour", _line_of(BROKEN, "colour")),
        ("tests[0].steps[2].expect", _line_of(BROKEN, "tone")),
        ("tests[1].steps[0]", _line_of(BROKEN, "teleport")),
        ("tests[1].steps[1].expect.alerts.per", _line_of(BROKEN, "per: hour")),
        ("tests[2].name", _line_of(BROKEN, "steps: []")),
        ("tests[2].steps", _line_of(BROKEN, "steps: []")),
    }
    assert all(p.file == path for p in caught.value.problems)
    message = str(caught.value)
    assert message.startswith("6 problems in the pack:")
    assert f"{path}:{_line_of(BROKEN, 'teleport')}: tests[1].steps[0]: " in message
    assert "unknown expectation 'tone'" in message
    assert "exactly one of srv, migrate, wait, reproduce, each_srv, check" in message


#: The step under test starts on line 6; each case: the step, the key and line blamed, the reason.
BAD_STEPS = [
    ('srv: "99.9"', "srv", 6, "unknown SRV '99.9'"),
    ("migrate: fly", "migrate", 6, "'fly' is not one of request, validate, credentials"),
    ("check: foo\n        expect: {alerts: {max: 1}}", "check", 6, "'foo' is not one of alerts"),
    ("check: alerts", "expect", 6, "required field is missing"),
    ("wait: -5", "wait", 6, "must be at least 0"),
    ("wait: soon", "wait", 6, "must be a number"),
    ('srv: "8.11"\n        device: ESME', "", 6, "SRV 8.11 does not apply to a ESME"),
    ('srv: "4.1.1"\n        device: toaster', "device", 7, "'TOASTER' is not one of ESME"),
]


@pytest.mark.parametrize("step, key, line, reason", BAD_STEPS)
def test_a_bad_step_names_its_line_key_and_reason(
    tmp_path: Path, step: str, key: str, line: int, reason: str
) -> None:
    text = f"pack: p\ntests:\n  - name: t\n    steps:\n      - migrate: request\n      - {step}\n"
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_pack(str(path))
    error = caught.value
    assert len(error.problems) == 1, str(error)
    assert (error.key, error.line) == ("tests[0].steps[1]" + (f".{key}" if key else ""), line)
    assert reason in error.reason
    assert str(error).startswith(f"{path}:{line}: {error.key}: ")


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("pack: p\ntests:\n  - name: t\n    steps: [\n", encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_pack(str(path))
    assert caught.value.line == 5 and "YAML error" in caught.value.reason


def test_a_good_pack_loads_as_the_runner_takes_it(tmp_path: Path) -> None:
    text = (
        "pack: p\ntests:\n  - name: t\n    steps:\n"
        "      - wait: 3600\n"
        "      - srv: 8.11\n        device: chf\n        expect: {response_code: I0}\n"
        "      - check: alerts\n        expect: {alerts: {max: 24, within_s: 86400}}\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    pack = load_pack(str(path))
    assert (pack.id, pack.title, pack.file) == ("p", "p", str(path))
    wait, srv, check = pack.tests[0].steps
    assert (wait.kind, wait.value, wait.device, wait.expect) == ("wait", 3600, "ESME", {})
    assert (srv.kind, srv.value, srv.device) == ("srv", "8.11", "CHF")
    assert srv.expect == {"response_code": "I0"}
    assert (wait.line, srv.line, check.line) == (5, 6, 9)
    assert check.expect == {"alerts": {"max": 24, "within_s": 86400}}
    assert pack.tests[0].line == 3
