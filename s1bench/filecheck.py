"""Checked loading of the files engineers edit: one way to say what is wrong, and where.

Why one module: the catalogue (TOML), packs (YAML) and every file kind the
later commands add (site, bench, fleet mix, S1SP service definitions, DSP
role tables) are described once as pydantic models. Pydantic checks the shape
and s1bench exports the same models as JSON Schema for editors. What
pydantic cannot give is the author's view of an error: the file, the line,
the dotted key and a sentence. That translation lives here, once:

* ``Problem`` / ``FileError``: every fault of a load, reported together;
* ``TomlLines`` / ``YamlLines``: best-effort key path -> line number;
* ``problems_from``: a pydantic ``ValidationError`` as (key path, reason) pairs
  in the project's wording ("required field is missing", "unknown key
  (allowed here: ...)", "must be a string, got an integer");
* ``register_schema`` / ``schema_kinds`` / ``json_schema``: the registry behind
  ``s1bench schema KIND``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic_core import CoreSchema, core_schema

M = TypeVar("M", bound=BaseModel)

KeyPath = tuple[str | int, ...]


def format_key(key: Sequence[str | int]) -> str:
    """``("firmware", 1, "quirks", "x")`` -> ``firmware[1].quirks.x``."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault in one file: where (file, dotted key, line) and why."""

    file: Path
    key: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.key}: {self.reason}" if self.key else f"{where}: {self.reason}"


class FileError(ValueError):
    """A file (or set of files) cannot be used; ``problems`` lists every fault found.

    ``file``, ``key``, ``line`` and ``reason`` repeat the first problem, so a
    caller that only shows one fault need not index. Subclasses name what was
    being loaded in ``what`` ("the firmware profile catalogue", "the pack").
    """

    what = "the file"

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError(f"{type(self).__name__} needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        first = self.problems[0]
        self.file: Path = first.file
        self.key: str = first.key
        self.line: int | None = first.line
        self.reason: str = first.reason
        if len(self.problems) == 1:
            message = str(first)
        else:
            message = f"{len(self.problems)} problems in {self.what}:\n" + "\n".join(
                f"  {problem}" for problem in self.problems
            )
        super().__init__(message)


class Fault(Exception):
    """Raised by a cross-file check; becomes a ``Problem`` with the file's line."""

    def __init__(self, key: KeyPath, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


class Lines:
    """Maps a key path to a line of one file; ``None`` when it cannot tell."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def line_of(self, key: KeyPath) -> int | None:  # pragma: no cover - overridden
        return None


class Problems:
    """Collects problems across files so one load reports them all."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, source: Lines | Path, key: KeyPath, reason: str) -> None:
        if isinstance(source, Lines):
            self.items.append(Problem(source.path, format_key(key), source.line_of(key), reason))
        else:
            self.items.append(Problem(source, format_key(key), None, reason))

    @contextmanager
    def collect(self, source: Lines) -> Iterator[None]:
        try:
            yield
        except Fault as fault:
            self.add(source, fault.key, fault.reason)

    def validate(self, source: Lines, model: type[M], data: object,
                 prefix: KeyPath = ()) -> M | None:
        """``model`` of ``data``, or None with every validation error added as a problem."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for key, reason in problems_from(exc, model):
                self.add(source, (*prefix, *key), reason)
            return None


def read_toml(path: Path, problems: Problems) -> tuple[TomlLines, dict[str, Any]] | None:
    """A TOML file's line finder and data, or None with why it cannot be read added."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(path, (), f"cannot read: {exc}")
        return None
    try:
        return TomlLines(path, text), tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = TOML_ERROR_LINE_RE.search(str(exc))
        problems.items.append(Problem(path, "", int(found.group(1)) if found else None,
                                      f"TOML syntax error: {exc}"))
        return None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively.
        problems.add(path, (), NESTED_TOO_DEEPLY)
        return None


# --------------------------------------------------------------------------- line finders

_HEADER_RE = re.compile(r"^\s*(\[\[?)([^\[\]]+)\]\]?\s*(?:#.*)?$")
_HEADER_PART_RE = re.compile(r'"[^"]*"|\'[^\']*\'|[^.]+')
#: A key name as written before ``=`` or a dot, bare or quoted (KEY is replaced).
_KEY_PATTERN = r"""(?:^|[\s{,.])(?:"KEY"|'KEY'|KEY)\s*[=.]"""
TOML_ERROR_LINE_RE = re.compile(r"at line (\d+)")
#: Both parsers recurse per level of nesting; no file s1bench reads is nested this deep.
NESTED_TOO_DEEPLY = "nested too deeply to read (arrays or tables inside one another)"


class TomlLines(Lines):
    """TOML key -> line, best effort: tomllib reports no positions.

    A dotted key is found by walking the table headers (counting
    ``[[array]]`` elements), then searching the section for each remaining
    key name. Good enough to point an author at the right line; never used
    for anything but messages.
    """

    def __init__(self, path: Path, text: str) -> None:
        super().__init__(path, text)
        self._lines: list[str] | None = None
        self._headers: list[tuple[int, KeyPath]] = []

    def _index(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.splitlines()
            arrays: dict[KeyPath, int] = {}
            for number, line in enumerate(self._lines):
                match = _HEADER_RE.match(line)
                if not match:
                    continue
                is_array = match.group(1) == "[["
                names = [part.strip().strip("\"'")
                         for part in _HEADER_PART_RE.findall(match.group(2)) if part.strip()]
                path: list[str | int] = []
                for position, name in enumerate(names):
                    path.append(name)
                    last = position == len(names) - 1
                    if tuple(path) in arrays and not (is_array and last):
                        path.append(arrays[tuple(path)])
                if is_array:
                    arrays[tuple(path)] = arrays.get(tuple(path), -1) + 1
                    path.append(arrays[tuple(path)])
                self._headers.append((number, tuple(path)))
        return self._lines

    def line_of(self, key: KeyPath) -> int | None:
        lines = self._index()
        headers = self._headers
        best: tuple[int, KeyPath] | None = None
        for number, path in headers:
            if key[: len(path)] == path and (best is None or len(path) >= len(best[1])):
                best = (number, path)
        if best is None:
            start, found, rest = 0, None, key
        else:
            start, found, rest = best[0] + 1, best[0], key[len(best[1]):]
        end = next((number for number, _ in headers if number >= start), len(lines))
        cursor = start
        for part in rest:
            if isinstance(part, int):
                continue
            pattern = re.compile(_KEY_PATTERN.replace("KEY", re.escape(str(part))))
            hit = next((n for n in range(cursor, end) if pattern.search(lines[n])), None)
            if hit is None:
                break
            found = cursor = hit
        return found + 1 if found is not None else None


class YamlLines(Lines):
    """YAML key -> line from the composed node tree (exact, unlike TOML).

    A key that is absent (a missing field) gets the line of the nearest
    mapping that holds it, which is where the author must add it.
    """

    def __init__(self, path: Path, text: str) -> None:
        super().__init__(path, text)
        try:
            self._root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        except (yaml.YAMLError, RecursionError):
            self._root = None

    def line_of(self, key: KeyPath) -> int | None:
        node = self._root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in key:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if str(k.value) == str(part):
                        child = v if isinstance(v, yaml.CollectionNode) else k
                        break
            elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
                  and 0 <= part < len(node.value)):
                child = node.value[part]
            if child is None:
                break
            node, line = child, child.start_mark.line + 1
        return line


def yaml_error_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None)
    return mark.line + 1 if mark is not None else None


def _unbuildable_scalar_line(text: str) -> int | None:
    """The line of the first scalar PyYAML cannot build (such as a date that does not exist)."""
    try:
        node: yaml.Node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    loader = yaml.SafeLoader("")
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            try:
                loader.construct_object(node)
            except ValueError:
                return node.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in reversed(node.value) for part in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return None


def read_yaml_mapping(path: Path, text: str, error: type[FileError],
                      shape: str) -> dict[str, Any]:
    """YAML text that must be a mapping, or ``error`` naming the file and line.

    Every YAML file kind (packs, benches) starts the same way; the model
    checks what is inside the mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = yaml_error_line(exc)
        raise error([Problem(path, "", line, f"YAML error: {exc}")]) from None
    except ValueError as exc:
        # PyYAML builds dates as it reads them: 2024-02-30 is well-formed YAML whose date
        # does not exist, and datetime's ValueError carries no position of its own.
        raise error([Problem(path, "", _unbuildable_scalar_line(text),
                             f"YAML value cannot be read: {exc}")]) from None
    except RecursionError:
        raise error([Problem(path, "", None, NESTED_TOO_DEEPLY)]) from None
    if not isinstance(data, dict):
        raise error([Problem(path, "", 1, shape)])
    return data


# --------------------------------------------------------------------------- pydantic errors

_TYPE_WORDS = {
    str: "a string", int: "an integer", float: "a number", bool: "a boolean",
    list: "an array", dict: "a table", type(None): "nothing",
}
_EXPECTED = {
    "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "a boolean",
    "bool_parsing": "a boolean", "list_type": "an array", "tuple_type": "an array",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
}


_BOUNDS = {
    "greater_than_equal": ("at least", "ge"), "greater_than": ("above", "gt"),
    "less_than_equal": ("at most", "le"), "less_than": ("below", "lt"),
}


def describe_type(value: object) -> str:
    """'a string', 'an integer', ...: TOML and YAML authors' words, not Python's."""
    return _TYPE_WORDS.get(type(value), type(value).__name__)


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` -> ``X``: the type a key path part meets."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _fields_at(model: type[BaseModel] | None, loc: Sequence[str | int]) -> list[str] | None:
    """The field names (aliases) a model accepts at ``loc``, for 'allowed here' lists.

    A part under a list or dict field is its index or key (``firmware[1]``,
    ``dmc.ID``), so it steps to the element type rather than to a field.
    """
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items()
                          if (f.alias or n) == part), None)
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (list, tuple, dict) and get_args(current):
            current = get_args(current)[-1 if get_origin(current) is dict else 0]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return None


def reason_of(error: Any, model: type[BaseModel] | None = None) -> str:
    """One pydantic error dict in the project's wording."""
    kind = error["type"]
    loc = error["loc"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        allowed = _fields_at(model, _clean_loc(loc[:-1]))
        return f"unknown key (allowed here: {', '.join(allowed)})" if allowed else "unknown key"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        expected = expected.replace(" or ", ", ")
        return f"{value!r} is not one of {expected}"
    if kind in ("value_error", "assertion_error"):
        inner = ctx.get("error")
        return str(inner) if inner is not None else error["msg"]
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}, got {describe_type(value)}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must be a non-empty string"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind in _BOUNDS:
        word, name = _BOUNDS[kind]
        return f"must be {word} {ctx.get(name)}, got {value!r}"
    return str(error["msg"])


def _clean_loc(loc: Sequence[Any]) -> KeyPath:
    """Drop pydantic's union / tag markers so the path is the file's own."""
    out: list[str | int] = []
    for part in loc:
        marker = isinstance(part, str) and (part.startswith(("function-", "tagged-union"))
                                            or (part.endswith("]") and "[" in part))
        if isinstance(part, int | str) and not marker:
            out.append(part)
    return tuple(out)


def problems_from(exc: ValidationError,
                  model: type[BaseModel] | None = None) -> list[tuple[KeyPath, str]]:
    """Every error of a validation as (key path, reason), duplicates dropped, in order."""
    seen: set[tuple[KeyPath, str]] = set()
    out: list[tuple[KeyPath, str]] = []
    for error in exc.errors(include_url=False):
        item = (_clean_loc(error["loc"]), reason_of(error, model))
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


# --------------------------------------------------------------------------- registry names


@dataclass(frozen=True)
class OneOf:
    """``Annotated[str, OneOf(...)]``: a name from a registry (quirks, SRVs), an enum in the schema.

    The names are read when needed, not at import, since registries fill as
    their modules load. With ``unknown`` the model refuses other names in
    that wording; without it the registry that uses the name is left to
    refuse it in its own (the schema still offers the names to editors).
    """

    names: Callable[[], Iterable[str]]
    unknown: Callable[[str], str] | None = None

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = handler(source)
        if self.unknown is None:
            return schema
        return core_schema.no_info_after_validator_function(self._check, schema)

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {**handler(schema), "enum": list(self.names())}

    def _check(self, value: str) -> str:
        if self.unknown is not None and value not in set(self.names()):
            raise ValueError(self.unknown(value))
        return value


# --------------------------------------------------------------------------- schema registry


@dataclass(frozen=True, slots=True)
class SchemaKind:
    """A file kind engineers edit: its model and the files it describes."""

    name: str
    model: Callable[[], type[BaseModel]]
    describes: str


_KINDS: dict[str, SchemaKind] = {}


def register_schema(name: str, describes: str) -> Callable[[Callable[[], type[BaseModel]]],
                                                           Callable[[], type[BaseModel]]]:
    """Register a kind for ``s1bench schema``; the model is built lazily (imports stay cheap)."""

    def decorate(factory: Callable[[], type[BaseModel]]) -> Callable[[], type[BaseModel]]:
        _KINDS[name] = SchemaKind(name, factory, describes)
        return factory

    return decorate


def schema_kinds() -> dict[str, SchemaKind]:
    """Every registered kind, importing the modules that declare them."""
    import importlib

    for module in SCHEMA_MODULES:
        importlib.import_module(module)
    return dict(sorted(_KINDS.items()))


def json_schema(name: str) -> dict[str, Any]:
    kinds = schema_kinds()
    if name not in kinds:
        raise KeyError(f"unknown schema kind {name!r} (known: {', '.join(kinds)})")
    kind = kinds[name]
    schema = kind.model().model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", kind.name)
    schema.setdefault("description", kind.describes)
    return schema


#: Modules that declare schema kinds; each registers itself on import.
SCHEMA_MODULES: list[str] = [
    "s1bench.firmware_profiles.catalogue_models",
    "s1bench.harness.pack_models",
    "s1bench.harness.faults_file",
    "s1bench.harness.settings",
    "s1bench.harness.serve.site",
    "s1bench.hil.bench",
]
