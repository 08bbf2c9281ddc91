"""How the hub carries out the tariff family's head-end commands over the HAN.

Handlers register with `hub_services.handles`, like the core ones.
"""

from __future__ import annotations
