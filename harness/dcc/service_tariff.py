"""The SMETS1 service, tariff family: SRV specs, head-end commands and SMETSData builders.

Each family module extends the shared tables by registration (`SRVS`,
`HEADEND`, `SMETS_ELEMENT` and its builders, `duis_xml.NESTED_PARSERS`), so
the families grow side by side without editing one another's files.
"""

from __future__ import annotations
