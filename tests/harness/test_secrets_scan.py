"""No key material in anything a run leaves behind, but the capture's key file.

The secrets are collected from the objects the run used (every installation's
network key, install codes and the link keys derived from them, every private
key s1bench derived), never from the artefacts, and every file the run wrote
is scanned for each: raw bytes, both byte orders, hex in either case (bare or
separated) and base64 at every alignment. Logs (stderr, JSON lines) count as
artefacts too.

The one file allowed to hold keys is a capture's key file, ``<pcap>.keys``:
Wireshark needs it to decrypt the capture, it is written only beside a
capture (``--capture``) and never linked from a report (emulator/capture.py).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from s1bench.emulator import mmo
from s1bench.emulator.installation import Installation
from s1bench.harness.cli import main

#: The designated key file: a capture's own, named after it.
KEY_FILE = re.compile(r".*\.pcap\.keys$")


class Secrets:
    """Every secret the run's objects held, by a name that says what it is (not its value)."""

    def __init__(self) -> None:
        self.installations: list[Installation] = []
        self.found: dict[bytes, str] = {}

    def add(self, value: bytes | None, what: str) -> None:
        if value:
            self.found.setdefault(bytes(value), what)

    def collect(self) -> dict[bytes, str]:
        for inst in self.installations:  # keys as they stand at the end (rotations included)
            self._of(inst)
        return self.found

    def _of(self, inst: Installation) -> None:
        self.add(inst.hub.network_key, f"network key of {inst.hub_eui}")
        for device in inst.devices.values():
            self.add(getattr(device, "network_key", None), "a device's network key")
        for label in inst.labels.values():
            code = label.install_code
            if code:
                self.add(code, f"install code of {label.eui}")
                self.add(code[:-2], f"install code of {label.eui} (without CRC)")
                self.add(mmo.link_key_from_install_code(code), f"link key of {label.eui}")


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Secrets]:
    from s1bench.harness.dcc import dsp_services

    found = Secrets()
    built = Installation.__init__

    def init(self: Installation, *args: Any, **kwargs: Any) -> None:
        built(self, *args, **kwargs)
        found.installations.append(self)
        found._of(self)

    derive = ec.derive_private_key

    def derive_and_note(value: int, curve: Any, *args: Any) -> Any:
        found.add(value.to_bytes(32, "big"), "a private key")
        return derive(value, curve, *args)

    monkeypatch.setattr(Installation, "__init__", init)
    monkeypatch.setattr(ec, "derive_private_key", derive_and_note)
    dsp_services.broker_key_agreement_certificate.cache_clear()  # derive it again, noted
    yield found
    dsp_services.broker_key_agreement_certificate.cache_clear()


def _forms(secret: bytes) -> list[bytes]:
    """How a secret could be spelt in a file."""
    out: list[bytes] = []
    for raw in (secret, secret[::-1]):
        out.append(raw)
        for hexed in (raw.hex(), raw.hex().upper()):
            out.append(hexed.encode())
            for sep in (":", " ", "-"):
                out.append(sep.join(hexed[i:i + 2] for i in range(0, len(hexed), 2)).encode())
        for pad in range(3):  # base64 of the secret wherever it sits in a longer blob
            encoded = base64.b64encode(b"\0" * pad + raw)
            inner = encoded[-(-pad * 8 // 6) if pad else 0:-4]
            out.extend((inner, inner.replace(b"+", b"-").replace(b"/", b"_")))
    return [form for form in out if len(form) >= 12]


def scan(folder: Path, found: dict[bytes, str], extra: dict[str, bytes] | None = None
         ) -> list[str]:
    """Every (file, secret) where a form of the secret appears, but the key files."""
    files = {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    files.update(extra or {})
    leaks = []
    forms = {secret: _forms(secret) for secret in found}
    for name, data in sorted(files.items()):
        if KEY_FILE.match(name):
            continue
        for secret, spellings in forms.items():
            if any(form in data for form in spellings):
                leaks.append(f"{name}: {found[secret]}")
    return leaks


def test_a_captured_run_leaves_keys_only_in_the_key_file(
        tmp_path: Path, secrets: Secrets, capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["--log-format", "json", "--log-level", "debug", "run",
                 "standard-dormant-migration", "--dmc", "reference", "--dmc",
                 "itron-dormant", "--capture", "--out", str(out), "--quiet"])
    assert code in (0, 1)
    logs = capfd.readouterr()
    found = secrets.collect()
    kinds = {what.split(" of ")[0] for what in found.values()}
    assert {"network key", "install code", "link key"} <= kinds, kinds
    keys = list(out.rglob("*.pcap.keys"))
    assert keys, "a captured run writes its key file"
    # The scan finds what it looks for: the designated key file does hold the keys.
    assert scan(out, found, {"key file, scanned as any other": keys[0].read_bytes()})
    assert scan(out, found, {"stdout": logs.out.encode(), "stderr": logs.err.encode()}) == []


def test_fleet_metrics_and_duis_output_hold_no_key(tmp_path: Path, secrets: Secrets,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    fleet = tmp_path / "fleet"
    assert main(["--log-format", "json", "fleet", "-n", "30", "--per-day", "30",
                 "--days", "1", "--out", str(fleet), "--quiet", "--metrics-port", "0"]) in (0, 1)
    assert (fleet / "metrics.prom").is_file()
    shared = os.environ.get("S1BENCH_SHARED") or Path(__file__).resolve().parents[3] / "shared"
    templates = Path(shared) / "duis-templates" / "templates"
    duis = tmp_path / "duis"
    assert main(["--log-format", "json", "duis", str(templates), "--dmc", "reference",
                 "--out", str(duis), "--quiet", "--settle", "600"]) in (0, 1)
    logs = capfd.readouterr()
    found = secrets.collect()
    kinds = {what.split(" of ")[0] for what in found.values()}
    assert {"network key", "install code", "link key", "a private key"} <= kinds, kinds
    assert scan(tmp_path, found, {"stdout": logs.out.encode(), "stderr": logs.err.encode()}) == []
