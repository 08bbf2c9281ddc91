"""The HAN over a real mosquitto: what a user of the MQTT medium would notice.

An installation answers over MQTT exactly as over memory, under the virtual
clock; frames cross OS processes; frames are batched (counted on the
broker's side, by a plain subscriber); an idle virtual loop still warps and
still reports a deadlock while an MQTT medium is connected; a dead broker is
one clear line, at once.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import subprocess
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from mqtt_broker import mqtt_broker_fixture  # noqa: F401  (the mqtt_broker fixture)
from s1bench.emulator import mac
from s1bench.emulator.clock import VirtualClock, VirtualTimeDeadlock, WallClock
from s1bench.emulator.medium import available_media, make_medium
from s1bench.emulator.medium_mqtt import MqttMedium, MqttMediumError
from s1bench.harness.bench_mqtt import free_port, mosquitto_broker
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.dcc import DccRole

PAN = 0x1000


class Station:
    """A bare station that records what reaches it."""

    def __init__(self, short: int, pan: int = PAN) -> None:
        self.short, self.pan, self.ieee = short, pan, 0x00DB_0000_0000_0000 | short
        self.received: list[bytes] = []

    def frame_received(self, frame: bytes) -> None:
        self.received.append(frame)


def frame_to(dst: int, src: int, seq: int, pan: int = PAN) -> bytes:
    return mac.MacFrame(seq % 256, pan, dst, src, b"s1" + seq.to_bytes(4, "little")).encode()


def echo(frame: bytes) -> bytes:
    """The frame with destination and source swapped: the answer to it."""
    return frame[:5] + frame[7:9] + frame[5:7] + frame[9:]


def test_mqtt_is_a_known_medium() -> None:
    assert "mqtt" in available_media()
    with pytest.raises(ValueError, match="no jitter or loss"):
        make_medium("mqtt", loss=0.1)


def srv_over(medium_name: str, port: int | None) -> tuple[Any, dict[str, Any]]:
    """4.1.1 to the ESME of the reference DMC, on a virtual clock, over the named medium."""
    clock = VirtualClock()
    spec = resolve_dmc("reference")

    async def run() -> tuple[Any, dict[str, Any]]:
        medium = None
        if medium_name == "mqtt":
            medium = make_medium("mqtt", port=port, clock=clock, seed=4)
            await medium.start()
        inst = build_installation(spec, clock, seed=4, medium=medium)
        inst.start()
        dcc = DccRole(inst, spec.dcc_quirks, seed=4)
        try:
            response = await dcc.send("4.1.1", "ESME")
            second = await dcc.send("4.1.1", "ESME")  # and again, a virtual minute on
            await clock.sleep(1)  # the last APS ack lands (and is MAC-acked) before closing
        finally:
            if isinstance(inst.medium, MqttMedium):
                await inst.medium.aclose()
            else:
                inst.medium.close()
        seen = {"virtual_now": clock.now().isoformat(), "second": second.body,
                "stats": (inst.medium.stats.sent, inst.medium.stats.delivered,
                          inst.medium.stats.acks),  # both media ack each unicast
                "publishes": getattr(inst.medium, "publishes", None)}
        return response, seen

    return clock.run(run())


def test_an_installation_answers_an_srv_over_mqtt_as_over_memory(mqtt_broker: int) -> None:
    started = time.monotonic()
    over_mqtt, mqtt_seen = srv_over("mqtt", mqtt_broker)
    over_memory, memory_seen = srv_over("memory", None)
    assert over_memory.response_code == "I0"
    assert over_mqtt.response_code == over_memory.response_code
    assert over_mqtt.body == over_memory.body
    assert mqtt_seen["second"] == memory_seen["second"]
    # The same frames, at the same virtual instants: virtual time waited for the broker.
    assert mqtt_seen["virtual_now"] == memory_seen["virtual_now"]
    assert mqtt_seen["stats"] == memory_seen["stats"]
    assert mqtt_seen["publishes"] > 0
    assert time.monotonic() - started < 30


def test_an_idle_virtual_loop_still_warps_and_detects_deadlock(mqtt_broker: int) -> None:
    clock = VirtualClock()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert "select" not in vars(loop._selector)  # type: ignore[attr-defined]
        medium = make_medium("mqtt", port=mqtt_broker, clock=clock)
        a, b = Station(1), Station(2)
        medium.attach(a)
        medium.attach(b)
        await medium.start()
        # A request and its answer through the broker, with no timer to wake the loop:
        # without the probe the loop would warp (or declare a deadlock) at once.
        answered = loop.create_future()
        b.frame_received = lambda frame: medium.send(b, echo(frame))  # type: ignore[method-assign]
        a.frame_received = lambda frame: answered.set_result(frame)  # type: ignore[method-assign]
        medium.send(a, frame_to(2, 1, 7))
        assert await answered == echo(frame_to(2, 1, 7))
        # Connected but idle: a week passes in virtual time, at once in wall time.
        before, wall = loop.time(), time.monotonic()
        await asyncio.sleep(7 * 86_400)
        assert loop.time() - before == pytest.approx(7 * 86_400)
        assert time.monotonic() - wall < 1.0
        try:
            await loop.create_future()  # nobody will ever resolve it
        finally:
            await medium.aclose()
            assert "select" not in vars(loop._selector)  # type: ignore[attr-defined]

    started = time.monotonic()
    with pytest.raises(VirtualTimeDeadlock):
        clock.run(main())
    assert time.monotonic() - started < 10


def test_batching_really_batches(mqtt_broker: int) -> None:
    """A burst of frames in one loop turn is a handful of publishes, as a broker sees them."""
    clock = WallClock()

    async def main() -> tuple[int, list[bytes], MqttMedium]:
        async with aiomqtt.Client("127.0.0.1", mqtt_broker) as spy:
            await spy.subscribe("s1bench/#")
            medium: Any = make_medium("mqtt", port=mqtt_broker, clock=clock, latency=0,
                                      batch_frames=256)
            sender, receiver = Station(1), Station(2)
            medium.attach(sender)
            medium.attach(receiver)
            await medium.flush()
            frames = [frame_to(2, 1, i) for i in range(1000)]
            for frame in frames:
                medium.send(sender, frame)
            await medium.flush()
            publishes = 0
            async with asyncio.timeout(10):
                async for message in spy.messages:
                    assert message.topic.matches("s1bench/default/han/1000/0002")
                    publishes += 1
                    if publishes == 4:  # 1000 frames, 256 a batch
                        break
                while len(receiver.received) < len(frames):
                    await asyncio.sleep(0.01)
            await medium.aclose()
            assert receiver.received == frames  # all of them, in order
            return publishes, sender.received, medium

    publishes, to_sender, medium = clock.run(main())
    assert publishes == 4
    assert medium.publishes == 4 and medium.frames_published == 1000
    assert to_sender == []


def test_a_broadcast_reaches_the_pan_but_not_its_sender(mqtt_broker: int) -> None:
    clock = VirtualClock()

    async def main() -> tuple[Station, ...]:
        medium = make_medium("mqtt", port=mqtt_broker, clock=clock)
        stations = Station(1), Station(2), Station(3), Station(2, pan=0x2000)
        for station in stations:
            medium.attach(station)
        medium.send(stations[0], frame_to(0xFFFF, 1, 1))
        await asyncio.sleep(0.1)
        medium.close()  # as the harness closes a medium; the run's end finishes it
        return stations

    one, two, three, other_pan = clock.run(main())
    assert one.received == [] and other_pan.received == []
    assert two.received == three.received == [frame_to(0xFFFF, 1, 1)]


def echo_station(port: int, short: int, count: int, ready: Any) -> None:
    """The other process: a station that answers ``count`` frames, then leaves."""
    clock = WallClock()

    async def main() -> None:
        medium: Any = make_medium("mqtt", port=port, clock=clock, latency=0)
        station = Station(short)
        station.frame_received = lambda frame: (  # type: ignore[method-assign]
            station.received.append(frame), medium.send(station, echo(frame)))
        medium.attach(station)
        await medium.flush()
        ready.set()
        async with asyncio.timeout(60):
            while len(station.received) < count:
                await asyncio.sleep(0.01)
        await medium.aclose()

    clock.run(main())


def start_echo(port: int, count: int) -> Any:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=echo_station, args=(port, 2, count, ready), daemon=True)
    child.start()
    assert ready.wait(30), "the echo process did not subscribe within 30 s"
    return child


def test_frames_from_another_process_reach_a_station_and_back(mqtt_broker: int) -> None:
    child = start_echo(mqtt_broker, 200)
    clock = WallClock()

    async def main() -> Station:
        medium: Any = make_medium("mqtt", port=mqtt_broker, clock=clock, latency=0)
        station = Station(1)
        medium.attach(station)
        await medium.flush()
        for i in range(200):
            medium.send(station, frame_to(2, 1, i))
            if i % 50 == 49:
                await asyncio.sleep(0)
        async with asyncio.timeout(20):
            while len(station.received) < 200:
                await asyncio.sleep(0.01)
        await medium.aclose()
        return station

    try:
        station = clock.run(main())
    finally:
        child.join(10)
    assert station.received == [echo(frame_to(2, 1, i)) for i in range(200)]
    assert child.exitcode == 0


def test_the_worker_scaling_bench_runs_each_han_in_its_own_process(mqtt_broker: int) -> None:
    """`make bench`'s frames/s by worker count: every worker's HAN carries all its
    frames through the one broker (a lost one would leave its worker waiting)."""
    from s1bench.harness.bench_mqtt import _measure_workers

    assert _measure_workers(mqtt_broker, 2, 300, 16) > 0


def test_a_virtual_loop_waits_for_an_answer_from_another_process(mqtt_broker: int) -> None:
    """A request to a station hosted elsewhere: the loop waits (really) for the answer."""
    child = start_echo(mqtt_broker, 1)
    clock = VirtualClock()

    async def main() -> bytes:
        medium = make_medium("mqtt", port=mqtt_broker, clock=clock, remote_wait=10)
        answered = asyncio.get_running_loop().create_future()
        station = Station(1)
        station.frame_received = answered.set_result  # type: ignore[method-assign]
        medium.attach(station)
        medium.send(station, frame_to(2, 1, 42))
        try:
            return await answered
        finally:
            await medium.aclose()

    try:
        assert clock.run(main()) == echo(frame_to(2, 1, 42))
    finally:
        child.join(10)


def test_a_dead_broker_is_one_clear_line_at_once(caplog: pytest.LogCaptureFixture,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    clock = VirtualClock()

    async def explicit() -> None:
        await make_medium("mqtt", port=port, clock=clock).start()

    async def on_wall_time() -> None:
        await make_medium("mqtt", port=port, clock=WallClock()).start()

    async def implicit() -> None:
        # Built and used without start(): the run stops with the same line.
        inst = build_installation(resolve_dmc("reference"), clock, seed=1,
                                  medium=make_medium("mqtt", port=port, clock=clock))
        inst.start()
        await DccRole(inst).send("4.1.1", "ESME")

    caplog.set_level(logging.DEBUG)
    for run in (explicit, on_wall_time, implicit):
        started = time.monotonic()
        with pytest.raises(MqttMediumError) as caught:
            clock.run(run())
        assert time.monotonic() - started < 5
        message = str(caught.value)
        assert f"127.0.0.1:{port}" in message and "\n" not in message
        assert "cannot connect" in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "never retrieved" not in out + err


def test_username_and_password_come_from_the_options(tmp_path: Path) -> None:
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "meter", "s3cret"],
                   check=True, capture_output=True)
    passwords.chmod(0o600)
    clock = VirtualClock()

    async def exchange(password: str) -> list[bytes]:
        medium = make_medium("mqtt", port=port, clock=clock, username="meter",
                             password=password)
        a, b = Station(1), Station(2)
        medium.attach(a)
        medium.attach(b)
        await medium.start()
        medium.send(a, frame_to(2, 1, 1))
        await asyncio.sleep(0.1)
        await medium.aclose()
        return b.received

    with mosquitto_broker(tmp_path, anonymous=False,
                          listener_config=f"password_file {passwords}\n") as port:
        assert clock.run(exchange("s3cret")) == [frame_to(2, 1, 1)]
        with pytest.raises(MqttMediumError, match=f"127.0.0.1:{port}.*[Nn]ot authori[sz]ed"):
            clock.run(exchange("wrong"))


def write_test_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1: (CA, certificate, key) files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def issue(subject: str, key: Any, issuer: Any, signer: Any, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "s1bench test CA")])
    ca = issue("s1bench test CA", ca_key, ca_name, ca_key, True)
    server = issue("127.0.0.1", server_key, ca_name, ca_key, False)
    files = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return files


def test_tls_with_the_ca_file_from_the_options(tmp_path: Path) -> None:
    ca, cert, key = write_test_pki(tmp_path)
    clock = VirtualClock()

    async def exchange(**tls: Any) -> list[bytes]:
        medium = make_medium("mqtt", port=port, clock=clock, **tls)
        a, b = Station(1), Station(2)
        medium.attach(a)
        medium.attach(b)
        await medium.start()
        medium.send(a, frame_to(2, 1, 1))
        await asyncio.sleep(0.1)
        await medium.aclose()
        return b.received

    tls_config = f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
    with mosquitto_broker(tmp_path, listener_config=tls_config) as port:
        assert clock.run(exchange(ca_file=str(ca))) == [frame_to(2, 1, 1)]
        # Without our CA the server's certificate is refused: one line again.
        with pytest.raises(MqttMediumError, match=f"127.0.0.1:{port}.*(certificate|SSL)"):
            clock.run(exchange(tls=True))
