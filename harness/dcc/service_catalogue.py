"""The SMETS1 service as DUIS defines it: every SRV with an MMC ``SMETSData`` response.

The MMC schema names one typed SMETS1 response per SRV of the service; the
DUIS templates give each SRV's DUIS name and the device types its requests
address. ``smets1_service.toml`` holds that table (derived by
:func:`derive_service`, kept current by a test), so coverage can be counted
and the Standard DMCT SRV pack can list the SRVs s1bench does not carry out
yet as failing tests, instead of leaving them out.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

SERVICE_FILE = Path(__file__).with_name("smets1_service.toml")

#: The device each template's target EUI stands for (the templates' own test devices).
_TEMPLATE_TYPES = {"A0": "ESME", "A1": "GSME", "A2": "CHF", "A3": "GSME", "A4": "PPMID"}


def derive_service(templates: Iterable[Path], mmc_schema: Path) -> dict[str, dict[str, object]]:
    """SRV -> {name, element, targets} for each template SRV with an MMC SMETSData element."""
    text = mmc_schema.read_text(encoding="utf-8")
    start = text.index('<xs:element name="SMETSData"')
    elements = set(re.findall(r'name="(\w+)"\s+type="ra:\w+"', text[start:text.index(
        "</xs:choice>", start)]))
    out: dict[str, dict[str, object]] = {}
    for path in templates:
        body = path.read_text(encoding="utf-8", errors="replace")
        srv = re.search(r"ServiceReferenceVariant>([0-9.]+)<", body)
        name = re.search(r"<(?:\w+:)?Body>\s*<(?:\w+:)?(\w+)", body)
        target = re.search(r"RequestID>[0-9A-F-]{23}:00-DB-12-34-56-78-90-([0-9A-F]{2}):", body)
        if not srv or not name or f"{name.group(1)}Rsp" not in elements:
            continue
        entry = out.setdefault(srv.group(1), {"name": name.group(1),
                                              "element": f"{name.group(1)}Rsp", "targets": []})
        kind = _TEMPLATE_TYPES.get(target.group(1)) if target else None
        targets = entry["targets"]
        assert isinstance(targets, list)
        if kind and kind not in targets:
            targets.append(kind)
    for entry in out.values():
        entry["targets"] = sorted(entry["targets"])  # type: ignore[arg-type]
    return dict(sorted(out.items(), key=lambda kv: [int(p) for p in kv[0].split(".") if p]))


def render_service(service: dict[str, dict[str, object]]) -> str:
    lines = ["# The SMETS1 service: SRVs with an MMC SMETSData response and a DUIS template.",
             "# Derived by s1bench.harness.dcc.service_catalogue.derive_service; a test keeps",
             "# it current. targets: the device types the templates address.", ""]
    for srv, entry in service.items():
        targets = ", ".join(f'"{t}"' for t in entry["targets"])  # type: ignore[union-attr]
        lines.append(f'"{srv}" = {{ name = "{entry["name"]}", element = "{entry["element"]}", '
                     f"targets = [{targets}] }}")
    return "\n".join(lines) + "\n"


@cache
def smets1_service() -> dict[str, dict[str, object]]:
    with SERVICE_FILE.open("rb") as fh:
        return tomllib.load(fh)
