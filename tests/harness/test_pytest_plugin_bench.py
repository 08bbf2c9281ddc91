"""`pytest --s1-bench=BENCH.yaml`: an engineer's own tests switch from emulator to bench.

What they notice: the session stops at once with one message naming the file line or
the port when the bench is not usable, or the radio link is not installed; on a usable
bench the `dmc` is the bench's and tests written for other DMCs are skipped, saying why.
"""

from __future__ import annotations

import importlib
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).parents[2] / "hil" / "benches" / "example-znp.yaml"

TESTS = """
import pytest

def test_dmc_is_the_benchs(s1bench, dmc):
    assert dmc == "reference"
    assert s1bench.on_bench and s1bench.dmc_id == "reference"

@pytest.mark.dmc("reference", "itron-dormant")
def test_marked(s1bench, dmc):
    assert dmc == "reference"
"""


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port that accepts and drops connections: the bench's port opens."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        server.close()


def bench_at(pytester: pytest.Pytester, port: int) -> Path:
    path = pytester.path / "bench.yaml"
    path.write_text(EXAMPLE.read_text().replace("socket://127.0.0.1:6638",
                                                f"socket://127.0.0.1:{port}"))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_missing_bench_file_stops_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--s1-bench=nowhere.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--s1-bench=nowhere.yaml*no such bench file*"])


def test_a_refused_port_stops_the_session_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    port = free_port()
    result = pytester.runpytest(f"--s1-bench={bench_at(pytester, port)}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*socket://127.0.0.1:{port}: connection refused*"])


def test_without_the_radio_link_the_session_says_what_to_install(
        pytester: pytest.Pytester, listener: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s1bench.hil.radio", None)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest(f"--s1-bench={bench_at(pytester, listener)}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*bench runs need the hil extra / radio link*"])


def test_on_a_bench_dmc_is_the_benchs_and_other_dmcs_are_skipped(
        pytester: pytest.Pytester, listener: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # The radio link itself is the other half of this feature; here only its presence
    # is stood in for, so the switch is tested without it.
    # By sys.modules, not by attribute: an earlier in-process run may have left the package
    # attribute pointing at a module object pytester has since dropped.
    target = importlib.import_module("s1bench.hil.target")
    monkeypatch.setattr(target.BenchTarget, "require_radio", lambda self: None)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest(f"--s1-bench={bench_at(pytester, listener)}", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*bench example-znp forms DMC reference, not itron-dormant*"])


def test_without_the_option_nothing_changes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_emulated(s1bench, dmc):
            assert dmc == "reference" and not s1bench.on_bench
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_separate_bench_argument_is_warned_about(
        pytester: pytest.Pytester, listener: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest would take the separate value for a test path when choosing its ini file."""
    target = importlib.import_module("s1bench.hil.target")
    monkeypatch.setattr(target.BenchTarget, "require_radio", lambda self: None)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("--s1-bench", str(bench_at(pytester, listener)))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*write --s1-bench=*bench.yaml (with '=')*"])
