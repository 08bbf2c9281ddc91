"""The DCO: dual control of critical commands before the S1SP sends them.

DOMAIN.md: critical commands are checked by a second party before they
reach a device; s1bench models the check as a pass/deny step a test can
make deny (``Dco.deny``). Which SRVs are critical comes from the GBCS use
case mapping table shipped with the DUIS templates: message type
``SME.C.C`` (critical), plus the security-credential SRVs the table sends
to "See GBCS" (6.15.1, 6.23), whose use cases GBCS makes critical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: SRV families whose GBCS message type is SME.C.C in gbcs-mapping-table.json.
CRITICAL_FAMILIES = frozenset({
    "1.1", "1.2", "1.5", "1.6", "1.7", "2.1", "2.3", "2.5", "6.4", "6.6", "6.7", "6.8",
    "6.11", "6.14", "6.25", "6.26", "7.1", "7.2", "7.3", "7.12", "7.13", "7.16", "8.1",
})
#: Security credential updates: critical in GBCS (the table says "See GBCS").
CRITICAL_CREDENTIALS = frozenset({"6.15.1", "6.23"})


def is_critical(srv: str) -> bool:
    family = ".".join(srv.split(".")[:2])
    return srv in CRITICAL_CREDENTIALS or family in CRITICAL_FAMILIES


@dataclass
class Dco:
    """Pass every critical command unless a test says otherwise."""

    #: SRVs the DCO will deny ("*" denies every critical command).
    deny: set[str] = field(default_factory=set)
    decisions: list[dict[str, str]] = field(default_factory=list)

    def check(self, srv: str, request_id: str) -> str | None:
        """None to pass; the reason when the second party denies the command."""
        if not is_critical(srv):
            return None
        denied = "*" in self.deny or srv in self.deny
        self.decisions.append({"request_id": request_id, "srv": srv,
                               "decision": "deny" if denied else "pass"})
        return f"dual control denied critical SRV {srv}" if denied else None
