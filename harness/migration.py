"""The migration of an installation onto the DCC, as s1bench models it.

DOMAIN.md "The migration, as s1bench models it" is the specification. This
module starts with the DCC's identification of the responsible supplier per
device; the state machine builds on it.
"""

from __future__ import annotations

from typing import Any

#: In a Mixed installation s1bench models the gas side as the dormant one.
MIXED_DORMANT_TYPES = ("GSME",)


def responsible_suppliers(dcc: Any, *, requesting_supplier: str = "supplier",
                          declared_dormant_supplier: str | None = None) -> dict[str, str | None]:
    """Which supplier the DCC holds responsible for each device of the installation.

    Active devices belong to the requesting supplier. Dormant devices of a
    Dormant installation are adopted by it too. In a Mixed installation the
    DCC defect carried over from IOC testing (seed 001) leaves dormant devices
    with no identifiable supplier, unless the request declares one.
    """
    inst = dcc.installation
    defect = dcc.quirk("mixed_supplier_unidentified") is not None
    out: dict[str, str | None] = {}
    for eui, label in inst.labels.items():
        dormant = inst.status == "Mixed" and label.device_type in MIXED_DORMANT_TYPES
        if dormant and defect:
            out[eui] = declared_dormant_supplier
        else:
            out[eui] = requesting_supplier
    return out
