"""`s1bench duis --summary`: how much of the SMETS1 service s1bench carries out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s1bench.harness.cli import main
from s1bench.harness.dcc.service_catalogue import smets1_service

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT.parent / "shared" / "duis-templates" / "templates"
pytestmark = pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"no templates at {TEMPLATES}")


def test_summary_counts_what_is_carried_out_and_names_the_gap(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["duis", str(TEMPLATES), "--dmc", "reference", "--out", str(tmp_path), "--summary",
          "--quiet"])
    out = capsys.readouterr().out
    cov = json.loads((tmp_path / "index.json").read_text())["coverage"]
    entries = json.loads((tmp_path / "index.json").read_text())["files"]
    assert cov["in_corpus"] == len({e["srv"] for e in entries}) == 129
    assert cov["in_service_definition"] == len(smets1_service())  # the reference: all of it
    carried = {e["srv"] for e in entries
               if e["answered_by"] == "s1sp" and e["response_code"] == "I0"}
    assert cov["carried_out"] == len(carried)
    # The gap is exactly the service SRVs of the corpus that never reached a device.
    assert set(cov["not_carried_out"]) == set(smets1_service()) - carried
    assert f"SRVs carried out: {cov['carried_out']} / in the DMC's SMETS1 service " \
           f"definition: {cov['in_service_definition']} / in the corpus: 129" in out
