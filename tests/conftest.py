"""Hypothesis profiles for the property tests: a modest budget in `make test`, a large one
in `make fuzz`.

Why profiles rather than per-test numbers: the same properties are the regression test
(run on every change, so they must stay quick) and the fuzzer (run for minutes, printing
what it tried). Tests that want the budget chosen here leave ``max_examples`` unset in
their own ``@settings``; ``make fuzz`` selects the ``fuzz`` profile with
``--hypothesis-profile=fuzz`` and sizes it with ``S1BENCH_FUZZ_EXAMPLES``.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase

#: Failing inputs are kept under out/ (ignored by git), so a rerun tries them first.
_DATABASE = DirectoryBasedExampleDatabase(Path(__file__).resolve().parents[1] / "out"
                                          / "hypothesis")
_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("s1bench", max_examples=150, deadline=None,
                          suppress_health_check=_SLOW, database=_DATABASE)
settings.register_profile(
    "fuzz", parent=settings.get_profile("s1bench"),
    max_examples=int(os.environ.get("S1BENCH_FUZZ_EXAMPLES", "10000")),
    verbosity=Verbosity.verbose if os.environ.get("S1BENCH_FUZZ_VERBOSE") else
    Verbosity.normal,
    # A long run should report every distinct crash, not stop at the first one shrunk.
    report_multiple_bugs=True,
)
if os.environ.get("S1BENCH_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["S1BENCH_HYPOTHESIS_PROFILE"])
