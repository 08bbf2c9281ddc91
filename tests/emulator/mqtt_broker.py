"""A private mosquitto for the MQTT medium's tests (imported by name, like emu_helpers).

Each test gets its own broker on 127.0.0.1 and a free port, so nothing
depends on (or disturbs) a system broker on 1883. A missing mosquitto is a
failure, not a skip: ``make test`` installs it (``make system-deps``), and a
silently skipped medium would pass CI untested.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from s1bench.harness.bench_mqtt import find_mosquitto, mosquitto_broker


@pytest.fixture(name="mqtt_broker")
def mqtt_broker_fixture(tmp_path: Path) -> Iterator[int]:
    """The port of a mosquitto started for this test and stopped after it."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed (neither on PATH nor /usr/sbin/mosquitto); "
                    "run `make system-deps` (Debian's mosquitto package) before the tests",
                    pytrace=False)
    with mosquitto_broker(tmp_path) as port:
        yield port
