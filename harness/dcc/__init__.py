"""The DCC side above the comms hub: DSP, S1SP and DCO (DOMAIN.md, "Who answers what").

A SMETS1 comms hub never sees DUIS. The DSP is the DUIS front door (schema,
user and role, RequestID counters, registration data), the S1SP turns an SRV
into head-end commands for one installation and writes the Service Response,
and the DCO checks critical commands before they are sent. The harness plays
all three; :class:`DccRole` wires them to one installation.
"""

from .role import SECRET_PARAMS, DccRole, Exchange, redacted_params

__all__ = ["SECRET_PARAMS", "DccRole", "Exchange", "redacted_params"]

# The SMETS1 service families register their SRVs, head-end commands and
# SMETSData builders on import.
from . import service_logs, service_tariff  # noqa: F401
