"""Crashes the file fuzzers found, kept as plain tests so they stay fixed.

Each was an exception other than the parser's own error: the user saw a
traceback from the codec, PyYAML or tomllib instead of their file's name.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from s1bench.firmware_profiles.catalogue import DEFAULT_DIRECTORY, CatalogueError, load_catalogue
from s1bench.harness.packs import PackError, load_pack
from s1bench.harness.serve.site import SiteError, load_site
from s1bench.hil.bench import BenchError, load_bench


def test_a_pack_not_in_utf8_is_a_pack_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("pack: caf\xe9\n".encode("latin-1"))
    with pytest.raises(PackError, match="cannot read") as caught:
        load_pack(str(path))
    assert caught.value.file == path


@pytest.mark.parametrize(("load", "error"), [
    (lambda p: load_pack(str(p)), PackError), (load_site, SiteError), (load_bench, BenchError),
], ids=["pack", "site", "bench"])
def test_a_date_that_does_not_exist_is_named_with_its_line(load, error, tmp_path: Path) -> None:
    path = tmp_path / "file.yaml"
    path.write_text("pack: p\ntitle: t\n\nwhen: 2024-02-30\n", encoding="utf-8")
    with pytest.raises(error) as caught:
        load(path)
    assert f"{path}:4: YAML value cannot be read: day is out of range for month" \
        == str(caught.value)


@pytest.mark.parametrize(("load", "error"), [
    (lambda p: load_pack(str(p)), PackError), (load_site, SiteError), (load_bench, BenchError),
], ids=["pack", "site", "bench"])
def test_deep_yaml_nesting_is_the_files_error(load, error, tmp_path: Path) -> None:
    path = tmp_path / "file.yaml"
    path.write_text("tests: " + "[" * 3000, encoding="utf-8")
    with pytest.raises(error, match="nested too deeply"):
        load(path)


def test_deep_toml_nesting_is_a_catalogue_error(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    (folder / "edmi-esme.toml").write_text("srvs = " + "[" * 3000, encoding="utf-8")
    with pytest.raises(CatalogueError, match="nested too deeply") as caught:
        load_catalogue(folder)
    assert caught.value.file == folder / "edmi-esme.toml"


def test_a_nul_in_a_path_is_the_parsers_error(tmp_path: Path) -> None:
    from s1bench.harness.duis_xml import DuisError, parse_request

    path = tmp_path / "pasted\x00name.xml"
    with pytest.raises(DuisError, match="cannot read file: embedded null byte"):
        parse_request(path)
    with pytest.raises(SiteError, match="cannot read"):
        load_site(path)


def _sub_ghz_template() -> bytes:
    from fuzz_helpers import TEMPLATES

    path = TEMPLATES / "DBCH04_6.28_SUCCESS_REQUEST_DUIS.XML"
    if not path.is_file():
        pytest.skip(f"no template at {path}")
    # A channel element renamed: 6.28's parser read its number from the name.
    return path.read_bytes().replace(b"<sr:Channel1/>", b"<sr:ChannelOne/>", 1)


def test_a_body_its_srvs_parser_cannot_read_is_a_duis_error() -> None:
    from s1bench.harness.duis_xml import DuisError, parse_request

    with pytest.raises(DuisError) as caught:
        parse_request(_sub_ghz_template())
    assert str(caught.value) == (
        "<bytes>, line 10: SRV 6.28: the SetCHFSubGHzConfiguration body cannot be read "
        "(ValueError: invalid literal for int() with base 10: 'One')")


def test_the_front_door_answers_it_with_e12_not_500(tmp_path: Path) -> None:
    from s1bench.harness.duis_xml import validate
    from s1bench.harness.serve import gateway
    from s1bench.harness.serve.site import load_site

    site_file = tmp_path / "site.yaml"
    site_file.write_text(Path(__file__).with_name("site.yaml").read_text(encoding="utf-8"),
                         encoding="utf-8")
    checked = gateway.check(_sub_ghz_template(), "serviceS", load_site(site_file),
                            datetime.now(UTC))
    assert checked.refusal is not None and checked.refusal.response_code == "E12"
    assert validate(gateway.render_answer(checked.refusal)) == []


def test_a_relative_namespace_uri_is_answered_not_a_500(tmp_path: Path) -> None:
    """libxml2's C14N refused it and the front door answered HTTP 500 (found by make fuzz)."""
    from fuzz_helpers import TEMPLATES
    from s1bench.harness.serve import gateway
    from s1bench.harness.serve.site import load_site

    path = TEMPLATES / "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"
    if not path.is_file():
        pytest.skip(f"no template at {path}")
    body = path.read_bytes().replace(b'xmlns:xsi="http://www.w3.org/', b'xmlns:xsi="//www.w3.org/')
    assert b'xmlns:xsi="//' in body
    site_file = tmp_path / "site.yaml"
    site_file.write_text(Path(__file__).with_name("site.yaml").read_text(encoding="utf-8"),
                         encoding="utf-8")
    checked = gateway.check(body, "serviceS", load_site(site_file), datetime.now(UTC))
    assert checked.refusal is None and checked.request is not None
    assert checked.digest is not None
