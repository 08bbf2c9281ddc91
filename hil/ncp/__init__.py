"""An emulated Z-Stack 3 NCP for CI: unmodified zigpy-znp against s1bench's own HAN.

``s1bench ncp --port PORT --dmc ID`` (or :class:`NcpServer` in a test) serves
the Z-Stack MT protocol over TCP; the host connects to ``socket://HOST:PORT``
as to a dongle on a serial port.
"""

from .server import NcpServer, ncp_installation, run_ncp

__all__ = ["NcpServer", "ncp_installation", "run_ncp"]
