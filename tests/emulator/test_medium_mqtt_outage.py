"""The MQTT medium through a broker restart: the run carries on, reconnected.

A broker that dies and comes back on its port forgets every subscription;
the medium reconnects with backoff (virtual time stands still meanwhile) and
subscribes again, so the stations hear each other as before. A broker that
stays away is one clear line, after ``reconnect_timeout``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from s1bench.emulator.clock import VirtualClock
from s1bench.emulator.medium import make_medium
from s1bench.emulator.medium_mqtt import MqttMediumError
from s1bench.harness.bench_mqtt import Mosquitto
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.dcc import DccRole


def _reads_across_a_restart(broker: Mosquitto, *, down_s: float, come_back: bool,
                            **options: Any) -> tuple[list[str | None], Any]:
    """4.1.1 reads to the ESME while another thread kills the broker (and restarts it)."""
    clock = VirtualClock()
    spec = resolve_dmc("reference")
    port = broker.port

    def outage() -> None:
        time.sleep(0.3)
        broker.kill()
        time.sleep(down_s)
        if come_back:
            broker.start(port)

    async def run() -> tuple[list[str | None], Any]:
        medium: Any = make_medium("mqtt", port=port, clock=clock, seed=4, **options)
        await medium.start()
        inst = build_installation(spec, clock, seed=4, medium=medium)
        inst.start()
        dcc = DccRole(inst, spec.dcc_quirks, seed=4)
        codes = []
        killer = threading.Thread(target=outage)
        killer.start()
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # reads before, during and after the outage
                codes.append((await dcc.send("4.1.1", "ESME")).response_code)
        finally:
            killer.join()
            await medium.aclose()
        return codes, medium

    return clock.run(run())


def test_a_restarted_broker_is_reconnected_to_and_reads_go_on(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        codes, medium = _reads_across_a_restart(broker, down_s=0.5, come_back=True)
    finally:
        broker.stop()
    assert medium.reconnects == 1
    # Reads answered before the outage and after it: the subscriptions came back.
    assert codes[0] == "I0" and codes[-1] == "I0", codes
    assert codes.count("I0") >= len(codes) - 2, codes  # one read may span the restart


def test_a_broker_that_stays_away_is_one_line_naming_it(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    port = broker.start()
    started = time.monotonic()
    with pytest.raises(MqttMediumError) as caught:
        _reads_across_a_restart(broker, down_s=0, come_back=False, reconnect_timeout=1.0)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "could not reconnect within 1 s" in message
    assert "\n" not in message and time.monotonic() - started < 15


@pytest.mark.parametrize("refusal", ["password", "certificate"])
def test_a_refusing_broker_is_not_retried_even_when_retries_are_allowed(
        tmp_path: Path, refusal: str) -> None:
    """Wrong credentials or an unknown CA are configuration errors: one line, at once."""
    import subprocess

    from test_medium_mqtt import write_test_pki

    if refusal == "password":
        passwords = tmp_path / "passwords"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "meter", "s3cret"],
                       check=True, capture_output=True)
        passwords.chmod(0o600)
        broker = Mosquitto(tmp_path, anonymous=False,
                           listener_config=f"password_file {passwords}\n")
        options: dict[str, Any] = {"username": "meter", "password": "wrong"}
    else:
        ca, cert, key = write_test_pki(tmp_path)
        broker = Mosquitto(tmp_path, listener_config=f"cafile {ca}\ncertfile {cert}\n"
                                                     f"keyfile {key}\n")
        options = {"tls": True}
    port = broker.start()
    clock = VirtualClock()

    async def connect() -> None:
        await make_medium("mqtt", port=port, clock=clock, connect_retry_s=30,
                          **options).start()

    started = time.monotonic()
    try:
        with pytest.raises(MqttMediumError) as caught:
            clock.run(connect())
    finally:
        broker.stop()
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "\n" not in message
    assert "wrong" not in message and "s3cret" not in message
