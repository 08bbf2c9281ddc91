"""Opening a bench's port before anything else touches it, so a fault names the port.

Why s1bench opens the port itself first: the radio libraries report a missing
serial device or a refused TCP connection several layers down (a timeout in
a startup coroutine, a ``FileNotFoundError`` from a serial layer, a retry
loop), and an engineer at a bench needs one line: which port, what is wrong,
and which ports do exist. A serial path goes through pyserial (it lists the
ports present, so a renumbered ``ttyUSB1`` is obvious); ``socket://HOST:PORT``
(ser2net, a network coordinator, ``s1bench ncp``) is one TCP connect.
"""

from __future__ import annotations

import socket
import time
from contextlib import suppress
from urllib.parse import urlsplit

from .bench import SOCKET_SCHEMES

#: What to install when pyserial (or the radio libraries) are missing.
HIL_EXTRA = "pip install 's1bench[hil]' (from a clone: pip install '.[hil]')"


class PortError(OSError):
    """The bench's port cannot be opened; the message names it and says why."""

    def __init__(self, port: str, reason: str) -> None:
        super().__init__(f"{port}: {reason}")
        self.port = port
        self.reason = reason


def socket_address(port: str) -> tuple[str, int]:
    """``socket://HOST:PORT`` -> (host, port); PortError when either is missing."""
    parts = urlsplit(port)
    try:
        number = parts.port
    except ValueError:
        number = None
    if not parts.hostname or number is None:
        raise PortError(port, "expected socket://HOST:PORT (such as socket://127.0.0.1:6638)")
    return parts.hostname, number


def present_serial_ports() -> list[str]:
    """Serial devices pyserial sees now, by-id links included where the OS has them."""
    from serial.tools import list_ports

    names = []
    for info in sorted(list_ports.comports(), key=lambda p: p.device):
        text = info.device
        if info.description and info.description != "n/a":
            text += f" ({info.description})"
        names.append(text)
    return names


def check_port(port: str, baudrate: int = 115200, *, timeout_s: float = 5.0) -> None:
    """Open and close the port once; PortError naming it when that fails.

    Closing again at once leaves the port free for the radio library, which
    opens it itself (zigpy's serial layer takes the same path).
    """
    if port.startswith(SOCKET_SCHEMES):
        host, number = socket_address(port)
        try:
            conn = socket.create_connection((host, number), timeout=timeout_s)
        except ConnectionRefusedError:
            raise PortError(port, f"connection refused: nothing listens on {host}:{number} "
                                  "(is the dongle's ser2net, or `s1bench ncp --port "
                                  f"{number}`, running?)") from None
        except TimeoutError:
            raise PortError(port, f"no answer from {host}:{number} within {timeout_s:g} s "
                                  "(host down or port filtered?)") from None
        except OSError as exc:
            raise PortError(port, f"cannot connect: {exc.strerror or exc}") from None
        _let_go(conn)
        return
    try:
        import serial
    except ImportError:
        raise PortError(port, f"pyserial is not installed: {HIL_EXTRA}") from None
    try:
        handle = serial.Serial(port, baudrate, timeout=0)
    except (serial.SerialException, OSError, ValueError) as exc:
        present = present_serial_ports()
        listing = ", ".join(present) if present else "none"
        if _missing(exc):
            reason = "no such serial port"
        elif _denied(exc):
            reason = ("permission denied (add yourself to the port's group, "
                      "e.g. dialout, and log in again)")
        elif _busy(exc):
            reason = "the port is busy (another program holds it)"
        else:
            reason = f"cannot open: {exc}"
        raise PortError(port, f"{reason}; serial ports present: {listing}") from None
    with suppress(Exception):
        handle.close()


def _let_go(conn: socket.socket, wait_s: float = 1.0) -> None:
    """Close so the far end has seen it before the radio library connects.

    A TCP dongle serves one host at a time (ser2net, ``s1bench ncp``): if the
    radio library's connection arrived while this one still counted as open,
    it would be the one refused. So: say we are done, and wait (briefly) for
    the far end to close its side.
    """
    deadline = time.monotonic() + wait_s
    with suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            conn.settimeout(left)
            if not conn.recv(4096):
                break
    with suppress(OSError):
        conn.close()


def _missing(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == 2 or "No such file" in str(exc) \
        or "FileNotFound" in str(exc)


def _denied(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == 13 or "Permission denied" in str(exc)


def _busy(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == 16 or "busy" in str(exc).lower()
