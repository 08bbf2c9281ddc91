"""The emulator room: SMETS1 devices as actors on a HAN medium, real frame bytes.

Nothing here knows about test packs or reports; the harness drives it only
through Service Requests on the hub's WAN side.
"""

import structlog as _structlog

if not _structlog.is_configured():
    # Quiet by default for library use; the CLI and tests reconfigure as they need.
    from .logs import configure as _configure

    _configure("warning")
