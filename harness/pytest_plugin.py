"""pytest plugin: write your own pack tests in plain pytest.

Fixtures:
- ``dmc``: the DMC id under test (parametrize with ``@pytest.mark.dmc("a", "b")``;
  defaults to ``reference``).
- ``s1bench_clock``: a fresh :class:`VirtualClock`.
- ``s1bench``: a :class:`BenchSession` for the ``dmc``; ``s1bench.run(fn)``
  builds the installation on the virtual clock and awaits ``fn(dcc)`` with the
  harness's DCC role, which sees only responses, alerts and timings.

Example::

    @pytest.mark.dmc("reference", "aclara-ioc-dormant")
    def test_register_read(s1bench):
        async def body(dcc):
            return await dcc.send("4.1.1", "ESME")
        assert s1bench.run(body).response_code == "I0"
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


class BenchSession:
    """One DMC, one seed: each ``run`` gets a new installation and virtual clock."""

    def __init__(self, dmc_id: str, *, seed: int = 0, fixed: bool = False,
                 test: str = "") -> None:
        self.dmc_id = dmc_id
        self.seed = seed
        self.fixed = fixed
        #: The pytest node id: names the test in log lines and gives its EUI-64s.
        self.test = test

    def run(self, body: Callable[[Any], Awaitable[T]], *, enrolled: bool = False,
            capture: str | None = None) -> T:
        from s1bench.emulator import logs
        from s1bench.emulator.clock import VirtualClock

        from .builder import build_installation, resolve_dmc
        from .dcc import DccRole
        from .runner import derive_seed

        spec = resolve_dmc(self.dmc_id, fixed=self.fixed)
        clock = VirtualClock()
        # Distinct EUI-64s per test, as in `s1bench run`, so one log untangles by RequestID.
        index = derive_seed(self.seed, self.dmc_id, self.test)

        async def main() -> T:
            inst = build_installation(spec, clock, seed=self.seed, capture=capture,
                                      enrolled=enrolled, index=index)
            inst.start()
            try:
                return await body(DccRole(inst, spec.dcc_quirks, seed=self.seed))
            finally:
                inst.medium.close()

        with logs.bound_to_test(dmc=self.dmc_id, pack="pytest", test=self.test, clock=clock):
            return clock.run(main())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dmc(*ids): run the test once per DMC id")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("dmc")
    if marker is not None and "dmc" in metafunc.fixturenames:
        metafunc.parametrize("dmc", list(marker.args), ids=list(marker.args))


@pytest.fixture
def dmc() -> str:
    return "reference"


@pytest.fixture
def s1bench_clock() -> Any:
    from s1bench.emulator.clock import VirtualClock

    return VirtualClock()


@pytest.fixture
def s1bench(dmc: str, request: pytest.FixtureRequest) -> BenchSession:
    return BenchSession(dmc, test=request.node.nodeid)
