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

Hardware in the loop: ``pytest --s1-bench=BENCH.yaml`` runs the same tests on
a bench's physical devices through its dongle, on the wall clock (labgrid's
``--lg-env`` idea). The bench file, its port and the radio link are checked
once at the start (a fault stops the session with one message naming the
file line or the port); ``dmc`` becomes the bench's DMC, and a test marked
for other DMCs only is skipped, since the bench cannot be another DMC. Write
the option with ``=``: pytest chooses its rootdir before it knows plugin
options, and would take a separate ``BENCH.yaml`` for a test path there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


#: Where ``pytest_configure`` keeps the bench target of ``--s1-bench``.
_TARGET_KEY = pytest.StashKey[Any]()


class BenchSession:
    """One DMC, one seed: each ``run`` gets a new installation and clock.

    On the emulator (the default target) that is a virtual clock; with
    ``--s1-bench`` the installation is the bench's and the clock the wall's.
    """

    def __init__(self, dmc_id: str, *, seed: int = 0, fixed: bool = False,
                 test: str = "", target: Any = None) -> None:
        self.dmc_id = dmc_id
        self.seed = seed
        self.fixed = fixed
        #: The pytest node id: names the test in log lines and gives its EUI-64s.
        self.test = test
        #: Where installations come from (``harness.targets``); None: the emulator.
        self.target = target

    @property
    def on_bench(self) -> bool:
        return self.target is not None and self.target.kind == "bench"

    def run(self, body: Callable[[Any], Awaitable[T]], *, enrolled: bool = False,
            capture: str | None = None) -> T:
        from s1bench.emulator import logs

        from .builder import resolve_dmc
        from .dcc import DccRole
        from .runner import derive_seed
        from .targets import EMULATOR

        target = self.target or EMULATOR
        spec = target.spec_for(resolve_dmc(self.dmc_id, fixed=self.fixed))
        clock = target.new_clock()
        # Distinct EUI-64s per test, as in `s1bench run`, so one log untangles by RequestID.
        index = derive_seed(self.seed, self.dmc_id, self.test)

        async def main() -> T:
            async with target.installation(spec, clock, seed=self.seed, index=index,
                                           capture=capture, enrolled=enrolled) as inst:
                return await body(DccRole(inst, spec.dcc_quirks, seed=self.seed))

        with logs.bound_to_test(dmc=self.dmc_id, pack="pytest", test=self.test, clock=clock):
            return clock.run(main())


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("s1bench")
    group.addoption("--s1-bench", metavar="BENCH.yaml", default=None,
                    help="run the s1bench fixture on this bench's physical devices through "
                         "its dongle instead of the emulator (needs the hil extra)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dmc(*ids): run the test once per DMC id")
    path = config.getoption("s1_bench", default=None)
    if path:
        if "--s1-bench" in config.invocation_params.args:
            # pytest picks its rootdir (and ini file) before plugins' options are known,
            # so a separate value counts as a test path there; --s1-bench=PATH does not.
            config.issue_config_time_warning(pytest.PytestConfigWarning(
                f"write --s1-bench={path} (with '='): as a separate argument, pytest takes "
                f"{path} for a test path when it chooses the rootdir and ini file"),
                stacklevel=2)
        config.stash[_TARGET_KEY] = _bench_target(str(path))


def pytest_unconfigure(config: pytest.Config) -> None:
    target = bench_target(config)
    if target is not None:
        target.close()


def _bench_target(path: str) -> Any:
    """The bench's target, or a UsageError (one message, no traceback) saying what is wrong."""
    from s1bench.hil.bench import BenchError, load_bench
    from s1bench.hil.check import RadioUnavailable
    from s1bench.hil.ports import PortError, check_port
    from s1bench.hil.target import BenchTarget

    try:
        bench = load_bench(path)
        check_port(bench.dongle.port, bench.dongle.baudrate)
        target = BenchTarget(bench)
        target.require_radio()
    except (BenchError, PortError, RadioUnavailable) as exc:
        raise pytest.UsageError(f"--s1-bench={path}: {exc}") from None
    return target


def bench_target(config: pytest.Config) -> Any:
    """The ``--s1-bench`` target of this session, or None on the emulator."""
    return config.stash.get(_TARGET_KEY, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("dmc")
    if marker is not None and "dmc" in metafunc.fixturenames:
        metafunc.parametrize("dmc", list(marker.args), ids=list(marker.args))


@pytest.fixture
def dmc(request: pytest.FixtureRequest) -> str:
    target = bench_target(request.config)
    return str(target.bench.dmc) if target is not None else "reference"


@pytest.fixture
def s1bench_clock() -> Any:
    from s1bench.emulator.clock import VirtualClock

    return VirtualClock()


@pytest.fixture
def s1bench(dmc: str, request: pytest.FixtureRequest) -> BenchSession:
    target = bench_target(request.config)
    if target is not None and dmc != target.bench.dmc:
        pytest.skip(f"bench {target.bench.id} forms DMC {target.bench.dmc}, not {dmc}")
    return BenchSession(dmc, test=request.node.nodeid, target=target)
