"""The emulated Z-Stack NCP against unmodified zigpy-znp, through s1bench's radio link.

The acceptance point: zigpy-znp connects to ``s1bench``'s NCP over TCP, forms
the network, an emulated ESME joins with its install code, and the Standard
DMCT SRV pack's reads on the ESME give the same outcomes through DCC side ->
hub -> radio link -> NCP -> emulated ESME as on the in-memory HAN. Both sides
derive the same installation (seed and index), so EUIs and install codes
agree; the NCP's meters start off the HAN and the hub commissions them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("zigpy_znp")

import zigpy_znp.commands as c
import zigpy_znp.types as zt
from s1bench.emulator.clock import VirtualClock, WallClock
from s1bench.emulator.installation import Installation
from s1bench.harness.builder import build_installation, resolve_dmc
from s1bench.harness.dcc import DccRole
from s1bench.harness.dcc.s1sp import HEADEND
from s1bench.harness.packs import load_pack
from s1bench.harness.runner import expand
from s1bench.hil.commission import commission
from s1bench.hil.ncp import NcpServer, ncp_installation
from s1bench.hil.ncp.mt import MtDecoder, encode
from s1bench.hil.radio import RadioError, open_radio

SEED, INDEX = 3, 7
#: Body fields that follow the clock (virtual on one side, wall on the other); demand and
#: maximum demand follow the meter's consumption model through the day (meter_logs).
CLOCK_FIELDS = ("ImportRegister", "Events", "InstantaneousDemand", "ActivePowerImport",
                "MaxDemand", "CaptureTime", "LastReset", "TOURegisters", "BlockRegisters",
                "BlockCounters",
                # Logs accumulate on each side's clock: what they hold differs, their shape not.
                "Billing", "Prepayment", "Reads", "Periods", "Days", "Voltage", "TopUps",
                "DebtPayments", "Log", "OverVoltageCounter", "UnderVoltageCounter")
Outcome = tuple[str, str, str | None, bool | None, tuple[str, ...], str]


def esme_read_steps(spec: Any) -> list[Any]:
    """The standard SRV pack's steps whose SRV is a read carried out on the ESME."""
    steps = []
    for test in expand(load_pack("standard-srv"), spec):
        success = test.steps[-2]  # then the reject; set-up steps may come before
        op = HEADEND.get(success.value, ("",))[0]  # SRVs not carried out have no command
        if success.device == "ESME" and op.startswith("read_"):
            steps.extend(test.steps)
    return steps


async def _send_all(dcc: DccRole, steps: list[Any]) -> list[Outcome]:
    out = []
    for step in steps:
        response = await dcc.send(step.value, step.device, **step.params)
        steady = {k: v for k, v in response.body.items() if k not in CLOCK_FIELDS}
        out.append((step.value, step.device, response.response_code, response.device_success,
                    tuple(sorted(response.body)), json.dumps(steady, sort_keys=True, default=str)))
    return out


def memory_outcomes(spec: Any, steps: list[Any]) -> list[Outcome]:
    clock = VirtualClock()

    async def main() -> list[Outcome]:
        inst = build_installation(spec, clock, seed=SEED, index=INDEX)
        inst.start()
        try:
            return await _send_all(DccRole(inst, spec.dcc_quirks, seed=SEED), steps)
        finally:
            assert inst.medium is not None
            inst.medium.close()

    return clock.run(main())


async def radio_outcomes(spec: Any, steps: list[Any]) -> tuple[list[Outcome], dict[str, Any]]:
    ncp_clock, hub_clock = WallClock(), WallClock()
    server = NcpServer(ncp_installation(spec, ncp_clock, seed=SEED, index=INDEX), seed=SEED)
    port = await server.start()
    facts: dict[str, Any] = {}
    try:
        link = await open_radio(f"socket://127.0.0.1:{port}", channel=15)
        try:
            await link.form_or_resume()
            facts["channel"] = link.app.state.network_info.channel
            inst = Installation.on_link(spec.devices, link, hub_clock, seed=SEED, index=INDEX,
                                        status=spec.status, dmc_id=spec.id)
            esme = inst.eui_of("ESME")
            facts["joined"] = await commission(inst, [esme], window_s=300, timeout_s=15)
            facts["permits"] = list(inst.hub.permit_durations_sent)
            facts["devices"] = link.devices()
            facts["esme"] = esme
            outcomes = await _send_all(DccRole(inst, spec.dcc_quirks, seed=SEED), steps)
            # An unsolicited frame (an alert) finds its way to the hub too.
            server.installation.devices[esme].raise_alert(0x8F84, "on the radio")
            async with asyncio.timeout(5):
                while not inst.alerts:
                    await asyncio.sleep(0.02)
            facts["alerts"] = [(a.code, a.device) for a in inst.alerts]
        finally:
            await link.close()
    finally:
        await server.close()
    return outcomes, facts


def test_standard_srv_reads_on_the_esme_agree_between_memory_and_radio() -> None:
    spec = resolve_dmc("reference")
    steps = esme_read_steps(spec)
    srvs = {s.value for s in steps}
    assert {"4.1.1", "4.3", "4.18", "7.4", "11.2"} <= srvs, srvs

    started = time.monotonic()
    radio, facts = asyncio.run(radio_outcomes(spec, steps))
    took = time.monotonic() - started
    memory = memory_outcomes(spec, steps)

    esme = facts["esme"]
    assert facts["channel"] == 15
    assert facts["joined"][esme] is not None, "the ESME did not join with its install code"
    assert (esme, facts["joined"][esme]) in facts["devices"]
    assert facts["alerts"] == [("8F84", esme)]
    # A 300 s window opens with a 254 s permit (46 s more follow at 254 s, as on the emulator).
    assert facts["permits"] == [254]
    # Same response codes, device success, body field names, and values that do not follow
    # the clock (meter readings, balances, firmware, credentials' fingerprints, supply).
    assert radio == memory
    assert all(code in ("I0", "E11", "E19") for _, _, code, _, _, _ in radio)
    assert sum(code == "I0" and ok is True for _, _, code, ok, _, _ in radio) == len(srvs)
    assert took < 30, f"the radio run took {took:.1f} s"


def test_the_ncp_keeps_its_network_and_devices_across_reconnects_and_restarts(
        tmp_path: Path) -> None:
    """Form and commission once; a reconnect, and a restart on the same NVRAM file, resume.

    zigpy resumes rather than re-forms (same PAN, extended PAN and key), and the
    ESME is still on the network at its address, answering, with no join.
    """
    spec = resolve_dmc("reference")
    nvram = tmp_path / "ncp-nvram.json"

    async def session(server: NcpServer, *, commission_esme: bool) -> dict[str, Any]:
        link = await open_radio(server.url, channel=20)
        try:
            await link.form_or_resume()
            esme = server.installation.eui_of("ESME")
            if commission_esme:
                code = server.installation.labels[esme].install_code
                assert code is not None
                await link.permit_install_code(esme, code, 60)
                async with asyncio.timeout(10):
                    while esme not in dict(link.devices()):
                        await asyncio.sleep(0.02)
            info = link.app.state.network_info
            return {"network": (info.pan_id, info.extended_pan_id, info.network_key.key),
                    "devices": link.devices(),
                    "basic": await link.read_basic(esme, timeout=5)}
        finally:
            await link.close()

    async def main() -> list[dict[str, Any]]:
        server = NcpServer(ncp_installation(spec, WallClock()), nvram=nvram)
        await server.start()
        try:
            first = await session(server, commission_esme=True)
            again = await session(server, commission_esme=False)
        finally:
            await server.close()
        restarted = NcpServer(ncp_installation(spec, WallClock()), nvram=nvram)
        await restarted.start()
        try:
            return [first, again, await session(restarted, commission_esme=False)]
        finally:
            await restarted.close()

    first, again, restarted = asyncio.run(main())
    assert nvram.exists() and nvram.stat().st_mode & 0o077 == 0  # it holds the network key
    assert first["basic"] == {"manufacturer": "s1bench", "model": "Reference ESME",
                              "sw_build_id": "1.0.0"}
    assert again == first
    assert restarted == first


def _frames(data: bytes) -> list[Any]:
    decoder = MtDecoder()
    return [c.COMMANDS_BY_ID[f.header].from_frame(f, align=True) for f in decoder.feed(data)]


def test_malformed_mt_bytes_are_skipped_and_the_ncp_keeps_answering() -> None:
    spec = resolve_dmc("reference")

    async def main() -> list[Any]:
        server = NcpServer(ncp_installation(spec, WallClock()))
        port = await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            ping = encode(c.SYS.Ping.Req())
            bad_fcs = ping[:-1] + bytes([ping[-1] ^ 0xFF])
            unknown = bytes([0xFE, 0x00, 0x21, 0x7F, 0x21 ^ 0x7F])  # SYS command 0x7F
            short_nv = bytes([0xFE, 0x01, 0x21, 0x13, 0x05, 0x01 ^ 0x21 ^ 0x13 ^ 0x05])
            writer.write(b"\x00\x11garbage" + bad_fcs + unknown + short_nv + ping)
            await writer.drain()
            data = b""
            async with asyncio.timeout(5):
                while len(_frames(data)) < 3:
                    data += await reader.read(1024)
            writer.close()
            return _frames(data)
        finally:
            await server.close()

    replies = asyncio.run(main())
    errors = [r for r in replies if isinstance(r, c.RPCError.CommandNotRecognized.Rsp)]
    assert [e.ErrorCode for e in errors] == [c.rpc_error.ErrorCode.InvalidCommandId,
                                             c.rpc_error.ErrorCode.InvalidParameter]
    assert isinstance(replies[-1], c.SYS.Ping.Rsp)
    assert replies[-1].Capabilities & zt.MTCapabilities.APP_CNF


def test_mt_decoder_says_where_it_dropped_bytes() -> None:
    decoder = MtDecoder()
    ping = encode(c.SYS.Ping.Req())
    assert len(list(decoder.feed(b"xy" + ping[:-1] + b"\x00" + ping))) == 1
    assert decoder.faults[0].offset == 0 and "before the start of frame" in decoder.faults[0].reason
    assert any("checksum" in f.reason for f in decoder.faults)


def test_open_radio_names_a_missing_serial_port() -> None:
    with pytest.raises(RadioError) as err:
        asyncio.run(open_radio("/dev/ttyS1BENCH-MISSING"))
    assert str(err.value).startswith("/dev/ttyS1BENCH-MISSING: ")
    assert "no such" in str(err.value)


def test_open_radio_names_a_tcp_port_nobody_listens_on() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RadioError) as err:
        asyncio.run(open_radio(f"socket://127.0.0.1:{port}"))
    assert str(err.value) == (f"socket://127.0.0.1:{port}: connection refused "
                              "(nothing listening there)")


def test_open_radio_names_a_dongle_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import s1bench.hil.radio as radio

    monkeypatch.setattr(radio, "CONNECT_TIMEOUT_S", 1.0)

    async def main() -> str:
        silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        try:
            await open_radio(f"socket://127.0.0.1:{port}")
        except RadioError as exc:
            return f"{port}|{exc}"
        finally:
            silent.close()
        return "no error"

    port, message = asyncio.run(main()).split("|", 1)
    assert message.startswith(f"socket://127.0.0.1:{port}: the dongle did not answer")


def test_a_dongle_lost_mid_session_is_reported_by_the_link() -> None:
    spec = resolve_dmc("reference")

    async def main() -> tuple[bool, bool, str | None]:
        server = NcpServer(ncp_installation(spec, WallClock()))
        await server.start()
        link = await open_radio(server.url, channel=15)
        try:
            await link.form_or_resume()
            before = link.connected()
            await server.close()  # the dongle is unplugged
            async with asyncio.timeout(5):
                while link.connected():
                    await asyncio.sleep(0.02)
            return before, link.connected(), link.lost_reason
        finally:
            await link.close()

    before, after, reason = asyncio.run(main())
    assert before and not after
    assert reason is not None and reason.startswith("the dongle connection was lost")
