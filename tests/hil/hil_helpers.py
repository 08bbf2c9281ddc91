"""Helpers for the hardware-in-the-loop tests: an emulated NCP on 127.0.0.1, started
and stopped by the test that needs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_ncp(dmc: str, *, startup_s: float = 20.0) -> Iterator[int]:
    """`s1bench ncp --port PORT --dmc DMC` in a child process; yields PORT once it listens."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "s1bench.harness.cli", "ncp", "--port", str(port), "--dmc", dmc],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"s1bench ncp exited {proc.returncode}: "
                                   f"{proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"s1bench ncp did not listen on {port}") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
