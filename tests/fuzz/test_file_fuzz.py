"""Every file s1bench reads, fuzzed: a broken file is its parser's documented error, or loads.

What a user would notice otherwise: a traceback from deep inside pydantic,
lxml or tomllib instead of "file, line: what is wrong", or worse, a pack or
catalogue that half-loaded and runs tests against something other than what
its author wrote. So each property feeds a parser arbitrary bytes and
mutations of the shipped files (see ``fuzz_helpers``) and requires one of two
outcomes: the parser's own error, naming the file it read and saying what was
wrong, or a complete result. ``make test`` runs a modest budget; ``make fuzz``
runs the same properties with the ``fuzz`` profile (tests/conftest.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_helpers import (
    PROFILE,
    ROOT,
    TEMPLATE_BYTES,
    TEMPLATES,
    duis_documents,
    note_input,
    toml_documents,
    yaml_documents,
)
from hypothesis import event, given
from hypothesis import strategies as st
from s1bench.firmware_profiles.catalogue import (
    DEFAULT_DIRECTORY,
    Catalogue,
    CatalogueError,
    load_catalogue,
)
from s1bench.harness.duis_xml import DuisError, DuisRequest, iter_templates, parse_request
from s1bench.harness.packs import Pack, PackError, builtin_pack_dir, load_pack
from s1bench.harness.serve.site import Site, SiteError, load_site
from s1bench.hil.bench import Bench, BenchError, builtin_bench_dir, load_bench

from s1bench import filecheck

PACK_TEXTS = [p.read_text(encoding="utf-8") for p in sorted(builtin_pack_dir().glob("*.yaml"))]
BENCH_TEXTS = [p.read_text(encoding="utf-8")
               for p in sorted(builtin_bench_dir().glob("*.yaml"))]
CATALOGUE_FILES = sorted(DEFAULT_DIRECTORY.glob("*.toml"))

needs_templates = pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One folder for the whole module: hypothesis calls a test many times per fixture."""
    folder = Path(tempfile.mkdtemp(prefix="s1bench-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _problems_name_the_file(error: filecheck.FileError, *files: Path) -> None:
    """Each problem says which file and what; a bare 'invalid' would leave the author guessing."""
    assert error.problems
    for problem in error.problems:
        assert problem.reason.strip(), error
        assert any(problem.file == f or f in problem.file.parents for f in files), (
            f"problem names {problem.file}, not {files}: {problem}")
        assert str(problem.file) in str(error)


# --------------------------------------------------------------------------- DUIS XML


@needs_templates
@PROFILE
@given(document=duis_documents(TEMPLATE_BYTES), as_file=st.booleans())
def test_duis_requests_parse_or_raise_duis_error(document: bytes, as_file: bool,
                                                 scratch: Path) -> None:
    note_input("duis", document)
    path = scratch / "request.xml"
    path.write_bytes(document)
    try:
        request = parse_request(path if as_file else document)
    except DuisError as exc:
        event("DuisError")
        assert exc.reason.strip()
        assert exc.source == (str(path) if as_file else "<bytes>")
        assert exc.source in str(exc)
        return
    # A request that parses is whole: every header field the DSP reads is there.
    event("parsed")
    assert isinstance(request, DuisRequest)
    assert request.srv and request.service_reference and request.body_element
    assert request.command_variant >= 0
    str(request.request_id)


# --------------------------------------------------------------------------- packs


@PROFILE
@given(document=yaml_documents(PACK_TEXTS))
def test_packs_load_or_raise_pack_error(document: bytes, scratch: Path) -> None:
    note_input("pack", document)
    path = scratch / "pack.yaml"
    path.write_bytes(document)
    try:
        pack = load_pack(str(path))
    except PackError as exc:
        event("PackError")
        _problems_name_the_file(exc, path)
        return
    event("loaded")
    assert isinstance(pack, Pack) and pack.tests
    for test in pack.tests:
        assert test.name and test.steps
        for step in test.steps:
            assert step.kind in ("srv", "migrate", "wait", "reproduce", "each_srv", "check",
                                 "each_srv_negative", "han_inject")


# --------------------------------------------------------------------------- catalogue


@pytest.fixture(scope="module")
def catalogue_copy(scratch: Path) -> Path:
    folder = scratch / "catalogue"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    return folder


@PROFILE
@given(which=st.sampled_from(CATALOGUE_FILES),
       document=st.data())
def test_catalogue_loads_or_raises_catalogue_error(which: Path, document: st.DataObject,
                                                   catalogue_copy: Path) -> None:
    original = which.read_text(encoding="utf-8")
    target = catalogue_copy / which.name
    mutated = document.draw(toml_documents([original]), label="mutated " + which.name)
    note_input(f"catalogue/{which.name}", mutated)
    target.write_bytes(mutated)
    try:
        catalogue = load_catalogue(catalogue_copy)
    except CatalogueError as exc:
        event("CatalogueError")
        _problems_name_the_file(exc, catalogue_copy)
        return
    finally:
        target.write_text(original, encoding="utf-8")
    event("loaded")
    assert isinstance(catalogue, Catalogue)
    # Whole, not partial: every profile file is a profile, and the DMCs are all there
    # unless the DMC file itself was the one changed.
    assert set(catalogue.profiles) == {p.stem for p in CATALOGUE_FILES if p.name != "dmcs.toml"}
    if which.name != "dmcs.toml":
        assert set(catalogue.dmcs) == set(load_catalogue().dmcs)
    for dmc in catalogue.dmcs.values():
        assert dmc.devices


# --------------------------------------------------------------------------- site files


def _site_seeds() -> list[str]:
    """A hand-written site like README's and one `site from-templates` writes."""
    seeds = [(ROOT / "tests" / "fuzz" / "site.yaml").read_text(encoding="utf-8")]
    if TEMPLATES.is_dir():
        from s1bench.harness.serve.site import render_site_yaml, site_from_templates

        made = site_from_templates(list(iter_templates(TEMPLATES)), "reference",
                                   "http://127.0.0.1:9/receive")
        seeds.append(render_site_yaml(made.data))
    return seeds


SITE_TEXTS = _site_seeds()


@PROFILE
@given(document=yaml_documents(SITE_TEXTS))
def test_site_files_load_or_raise_site_error(document: bytes, scratch: Path) -> None:
    note_input("site", document)
    path = scratch / "site.yaml"
    path.write_bytes(document)
    try:
        site = load_site(path)
    except SiteError as exc:
        event("SiteError")
        _problems_name_the_file(exc, scratch)
        return
    event("loaded")
    assert isinstance(site, Site) and site.users and site.installations


# --------------------------------------------------------------------------- bench files


@PROFILE
@given(document=yaml_documents(BENCH_TEXTS))
def test_bench_files_load_or_raise_bench_error(document: bytes, scratch: Path) -> None:
    note_input("bench", document)
    path = scratch / "bench.yaml"
    path.write_bytes(document)
    try:
        bench = load_bench(path)
    except BenchError as exc:
        event("BenchError")
        _problems_name_the_file(exc, path)
        return
    event("loaded")
    assert isinstance(bench, Bench) and bench.devices and bench.dongle.port


# --------------------------------------------------------------------------- paths

#: Names a user may type for a file; each parser must answer any of them with its error.
PATH_NAMES = st.text(st.characters(codec="utf-8"), max_size=20).filter(lambda t: ".." not in t)


@PROFILE
@given(name=PATH_NAMES)
def test_any_path_is_the_parsers_error(name: str, scratch: Path) -> None:
    """A typo'd path (or a folder, or a NUL pasted in) is the parser's error, naming it."""
    note_input("path", name.encode("utf-8", "surrogatepass"))
    path = scratch / "paths" / name
    for load, error in ((parse_request, DuisError), (load_site, SiteError),
                        (load_bench, BenchError), (lambda p: load_pack(str(p)), PackError),
                        (load_catalogue, CatalogueError)):
        try:
            load(path)
        except error as exc:
            assert str(exc).strip()
        else:  # nothing is there to load
            pytest.fail(f"{load} loaded {path!r}")
