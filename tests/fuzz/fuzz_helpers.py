"""Mutation strategies shared by the file fuzzers: real inputs, broken the ways files break.

Why seeded mutation rather than random bytes alone: a parser rejects random
bytes at its first check, so only inputs that are *nearly* right reach the
code that builds results (the pack steps, the catalogue's cross-file checks,
the DUIS body flattening). Each strategy therefore starts from a shipped file
and applies a few edits of the kinds people and transports make: a flipped
byte, a cut-off tail, a deleted or doubled element or line, a value of the
wrong type.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TextIO

import yaml
from hypothesis import settings
from hypothesis import strategies as st
from lxml import etree

#: `make fuzz` sets this: one line per input tried (property, size, start of the input).
INPUT_LOG = os.environ.get("S1BENCH_FUZZ_INPUT_LOG")
_log: TextIO | None = None


def note_input(prop: str, data: bytes) -> None:
    """Log an input a property is about to try, when `make fuzz` asked for a log.

    hypothesis's own verbose mode prints each input whole (kilobytes of XML
    each, tens of thousands of them); one clipped line per input says what
    was tried at a size worth keeping.
    """
    global _log
    if not INPUT_LOG:
        return
    if _log is None:
        Path(INPUT_LOG).parent.mkdir(parents=True, exist_ok=True)
        _log = open(INPUT_LOG, "a", encoding="utf-8")  # noqa: SIM115 - open for the run
    _log.write(f"{prop}\t{len(data)}\t{data[:160]!r}\n")


ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("S1BENCH_SHARED") or ROOT.parent / "shared")
TEMPLATES = SHARED / "duis-templates" / "templates"
TEMPLATE_BYTES = sorted(p.read_bytes() for p in TEMPLATES.glob("*.[xX][mM][lL]")) \
    if TEMPLATES.is_dir() else []

#: The profile tests/conftest.py registered for this run: `make fuzz` names "fuzz". Tests
#: take it whole (its example budget included) rather than setting their own numbers.
PROFILE = settings(settings.get_profile(os.environ.get("S1BENCH_HYPOTHESIS_PROFILE",
                                                       "s1bench")))

#: Values of the wrong type (or the right type, out of any range) put where a leaf was.
WRONG_VALUES: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["", " ", "-1", "0", "1.5", "1e309", "NaN", "true", "null", "~",
                     "18446744073709551616", "-9223372036854775809", "99999999999999999999",
                     "2024-02-30T25:61:61Z", "00-00", "ZZ-ZZ-ZZ-ZZ-ZZ-ZZ-ZZ-ZZ", "\u00e9\u2603",
                     "]]>", "<x/>", "&amp;", "%s", "{}", "[]", "{a: 1}", "- x", "\t", "0x10",
                     "1.2.3.4.5", "4.1.1", "ESME", "$PPMID", "$NOPE.install_code"]),
    st.integers(-(2**70), 2**70).map(str),
    st.text(max_size=20),
)


def _clean_text(text: str) -> str:
    """Text lxml accepts as element content (it refuses control characters)."""
    return "".join(ch for ch in text if ch in "\t\n\r" or (" " <= ch <= "\ud7ff")
                   or ("\ue000" <= ch <= "\ufffd"))


@st.composite
def byte_edits(draw: st.DrawFn, data: bytes, max_edits: int = 3) -> bytes:
    """``data`` with a few byte flips, insertions, deletions, or a cut-off tail."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, max_edits))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and out:
            del out[at:at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del out[at:]
    return bytes(out)


# --------------------------------------------------------------------------- XML


@st.composite
def xml_tree_edits(draw: st.DrawFn, document: bytes, max_edits: int = 3) -> bytes:
    """``document`` with elements deleted, duplicated, or a leaf's text of the wrong type."""
    root = etree.fromstring(document)
    for _ in range(draw(st.integers(1, max_edits))):
        nodes = [n for n in root.iter() if isinstance(n.tag, str)]
        node = draw(st.sampled_from(nodes))
        kind = draw(st.sampled_from(["delete", "duplicate", "wrong-text", "rename", "attr"]))
        parent = node.getparent()
        if kind == "delete" and parent is not None:
            parent.remove(node)
        elif kind == "duplicate" and parent is not None:
            parent.insert(parent.index(node), etree.fromstring(etree.tostring(node)))
        elif kind == "wrong-text" and not len(node):
            node.text = _clean_text(draw(WRONG_VALUES))
        elif kind == "rename":
            qname = etree.QName(node)
            node.tag = (f"{{{qname.namespace}}}" if qname.namespace else "") + draw(
                st.sampled_from(["Body", "Header", "Request", "RequestID", "X", "Body2"]))
        elif kind == "attr":
            node.set(draw(st.sampled_from(["index", "schemaVersion", "x"])),
                     _clean_text(draw(WRONG_VALUES)))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def duis_documents(templates: list[bytes]) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and templates mutated as trees, as bytes, or both."""
    seed = st.sampled_from(templates)
    return st.one_of(
        st.binary(max_size=400),
        seed.flatmap(lambda doc: byte_edits(doc)),
        seed.flatmap(lambda doc: xml_tree_edits(doc)),
        seed.flatmap(lambda doc: xml_tree_edits(doc)).flatmap(lambda doc: byte_edits(doc, 1)),
    )


# --------------------------------------------------------------------------- YAML and TOML


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into nested dicts and lists (the root is ``()``)."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


#: Whole YAML values of every shape a file might hold by mistake.
_SCALARS: st.SearchStrategy[Any] = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                                     | st.floats(allow_nan=True) | WRONG_VALUES)
YAML_VALUES: st.SearchStrategy[Any] = (
    _SCALARS | st.lists(_SCALARS, max_size=3) | st.dictionaries(WRONG_VALUES, _SCALARS,
                                                                 max_size=3))


@st.composite
def data_edits(draw: st.DrawFn, data: Any, max_edits: int = 3) -> Any:
    """A copy of parsed file data with keys dropped, items doubled or values of another type."""
    data = yaml.safe_load(yaml.safe_dump(data))  # a deep copy that stays plain data
    for _ in range(draw(st.integers(1, max_edits))):
        path = draw(st.sampled_from(_paths(data)))
        if not path:
            if draw(st.booleans()):
                data = draw(YAML_VALUES)
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        kind = draw(st.sampled_from(["delete", "duplicate", "replace", "add-key"]))
        if kind == "delete":
            del parent[key]
        elif kind == "duplicate" and isinstance(parent, list):
            parent.insert(key, yaml.safe_load(yaml.safe_dump(parent[key])))
        elif kind == "add-key" and isinstance(parent, dict):
            parent[draw(WRONG_VALUES)] = draw(YAML_VALUES)
        else:
            parent[key] = draw(YAML_VALUES)
    return data


@st.composite
def line_edits(draw: st.DrawFn, text: str, max_edits: int = 3) -> str:
    """``text`` with lines deleted, doubled, swapped, re-indented or given a wrong value."""
    lines = text.splitlines(keepends=True) or [""]
    for _ in range(draw(st.integers(1, max_edits))):
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "value", "nest"]))
        if kind == "delete" and len(lines) > 1:
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "indent":
            lines[at] = draw(st.sampled_from(["", " ", "  ", "\t"])) + lines[at].lstrip(" ")
        elif kind in ("value", "nest"):
            # Both YAML and TOML parsers recurse per bracket: deep nesting finds that limit.
            value = draw(WRONG_VALUES).replace("\n", " ") if kind == "value" else \
                "[" * draw(st.integers(1, 3000))
            lines[at] = re.sub(r"([:=]\s*).*$", lambda m, v=value: m.group(1) + v, lines[at],
                               count=1)
    return "".join(lines)


def yaml_documents(seeds: list[str]) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and YAML files mutated as data, as lines, or as bytes."""
    seed = st.sampled_from(seeds)
    return st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        seed.flatmap(lambda text: data_edits(yaml.safe_load(text))).map(
            lambda data: yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()),
        seed.flatmap(lambda text: line_edits(text)).map(lambda t: t.encode()),
        seed.flatmap(lambda text: byte_edits(text.encode())),
    )


def toml_documents(seeds: list[str]) -> st.SearchStrategy[bytes]:
    """TOML files mutated as lines (there is no TOML writer to mutate data with) or bytes."""
    seed = st.sampled_from(seeds)
    return st.one_of(
        st.binary(max_size=300),
        seed.flatmap(lambda text: line_edits(text)).map(lambda t: t.encode()),
        seed.flatmap(lambda text: byte_edits(text.encode())),
        seed.flatmap(lambda text: line_edits(text)).flatmap(
            lambda text: byte_edits(text.encode(), 1)),
    )
