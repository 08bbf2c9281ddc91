"""The example budget of the codec properties: modest in `make test`, large in `make fuzz-codec`.

The same properties are the regression test (run on every change, so they stay
quick) and the fuzzer (run for minutes). ``S1BENCH_CODEC_EXAMPLES`` sets the
budget per property; `make fuzz-codec` sets it to 20000 and asks hypothesis
for its statistics, which print how many inputs each property tried. Kept
here rather than in tests/conftest.py so the file-input fuzzing profiles
there can change without touching the codec's.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("S1BENCH_CODEC_EXAMPLES", "200"))

CODEC = settings(max_examples=EXAMPLES, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.filter_too_much])
