"""The pytest plugin as an engineer uses it: a marker over DMCs and a session."""

from __future__ import annotations

import pytest


@pytest.mark.dmc("reference", "aclara-ioc-dormant", "itron-dormant")
def test_register_read_on_each_dmc(s1bench, dmc) -> None:
    async def body(dcc):
        return await dcc.send("4.1.1", "ESME")

    response = s1bench.run(body)
    assert response.response_code == "I0"
    assert response.body["ImportRegister"] > 0


def test_default_dmc_is_reference(s1bench) -> None:
    assert s1bench.dmc_id == "reference"


def test_virtual_time_passes_in_a_session(s1bench) -> None:
    async def body(dcc):
        start = dcc.clock.now()
        await dcc.clock.sleep(7 * 86_400)
        return (dcc.clock.now() - start).total_seconds()

    assert s1bench.run(body) == 7 * 86_400


def test_each_pytest_test_gets_its_own_eui64s() -> None:
    from s1bench.harness.pytest_plugin import BenchSession

    async def body(dcc):
        return await dcc.send("4.1.1", "ESME")

    first = BenchSession("reference", test="tests/a.py::one").run(body)
    again = BenchSession("reference", test="tests/a.py::one").run(body)
    other = BenchSession("reference", test="tests/a.py::two").run(body)
    assert str(first.request_id) == str(again.request_id), "same test, same EUIs: replayable"
    assert str(first.request_id) != str(other.request_id)
