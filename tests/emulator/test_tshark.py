"""Wireshark's own ZigBee dissectors read our capture: the third opinion on our bytes.

One seeded session (several SRVs, a 600 s PPMID join, 8.9) is captured with
its key file, then dissected by tshark. Wireshark decrypts with the keys it is
given (and derives the key-transport key itself), names the Smart Energy
commands, flags anything malformed, and (with its ack tracking on) pairs
every MAC ack with the frame it acknowledges. The PPMID's join is on air as
802.15.4 association: Beacon Request, beacon, Association Request, Data
Request, Association Response, then the Transport Key.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from emu_helpers import UTRN, build, dcc
from s1bench.emulator.capture import read_key_file, tshark_key_args
from s1bench.emulator.clock import VirtualClock

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
]

FIELDS = [
    "frame.number", "frame.len", "frame.time_relative", "frame.protocols", "_ws.malformed",
    "_ws.expert.severity", "_ws.expert.message", "wpan.fcs_ok", "wpan.src16", "wpan.dst16",
    "zbee_nwk.src", "zbee_nwk.dst", "zbee.sec.key_id", "zbee.sec.src64",
    "zbee.sec.decryption_key", "zbee_sec.encrypted_payload", "zbee_aps.type",
    "zbee_aps.profile", "zbee_aps.counter", "zbee_aps.ack_req", "zbee_zcl_se.tun.protocol_id",
    "zbee_zcl_se.tun.manufacturer_code", "zbee_zcl_se.tun.tunnel_id",
    "zbee_zcl_se.tun.cmd.srv_rx.id", "zbee_zcl_se.tun.cmd.srv_tx.id", "zbee_aps.cluster",
    "zbee_aps.zdp_cluster", "zbee_aps.cmd.id", "zbee_aps.cmd.key", "zbee_aps.cmd.dst",
    "zbee_zdp.duration", "zbee_zdp.ext_addr", "zbee_zdp.nwk_addr", "zbee_zcl.cmd.tsn",
    "zbee_zcl_se.msg.message", "zbee_zcl_se.met.change_supply.proposed_supply_status",
    "_ws.col.Info", "wpan.frame_type", "wpan.seq_no", "wpan.ack_request", "wpan.cmd",
    "wpan.ack_to", "wpan.ack_time", "wpan.pending", "wpan.assoc_permit", "wpan.asoc.addr",
    "wpan.assoc.status",
    "wpan.cinfo.alloc_addr", "wpan.src64", "wpan.dst64", "zbee_beacon.protocol",
    "zbee_beacon.profile", "zbee_beacon.version", "zbee_beacon.ext_panid",
]
#: Wireshark pairs acks with their frames only when asked to.
ACK_TRACKING = ["-o", "wpan.802154_ack_tracking:TRUE"]
MAC_DATA, MAC_ACK, MAC_COMMAND, MAC_BEACON = "0x0001", "0x0002", "0x0003", "0x0000"
SEP = "\x1f"
PI_ERROR = 0x00800000  # Wireshark expert severity "Error"

SUPPLIER_MESSAGE = "Please top up"


def tshark(pcap: Path, *args: str, keys: list[str] | None = None) -> str:
    key_args = tshark_key_args(pcap) if keys is None else keys
    proc = subprocess.run(["tshark", "-r", str(pcap), *key_args, *ACK_TRACKING, *args],
                          capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def field_rows(pcap: Path, keys: list[str] | None = None) -> list[dict[str, str]]:
    args = ["-T", "fields", "-E", f"separator={SEP}", "-E", "occurrence=a", "-E",
            "aggregator=,"]
    for name in FIELDS:
        args += ["-e", name]
    out = tshark(pcap, *args, keys=keys)
    return [dict(zip(FIELDS, line.split(SEP), strict=True)) for line in out.splitlines()]


class Session:
    def __init__(self) -> None:
        self.pcap: Path
        self.frames = 0
        self.responses: dict[str, Any] = {}
        self.ppmid_eui = ""
        self.ppmid_link_key_label = ""
        self.network_key = b""


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    out = Session()
    out.pcap = tmp_path_factory.mktemp("tshark") / "session.pcap"
    clock = VirtualClock()

    async def main() -> None:
        inst = build(clock, seed=1, capture=str(out.pcap))
        inst.start()
        ppmid = inst.eui_of("PPMID")
        out.ppmid_eui = ppmid
        out.network_key = inst.hub.network_key

        async def do(name: str, srv: str, device: str, **params: Any) -> None:
            response = await dcc(inst).send(srv, device, **params)
            assert response.ok, (srv, response.reason)
            out.responses[name] = response

        await do("4.1.1", "4.1.1", "ESME")
        await do("3.1", "3.1", "ESME", SupplierMessage=SUPPLIER_MESSAGE)
        await do("2.2", "2.2", "ESME", UTRN=UTRN)
        await do("6.7", "6.7", "GSME")
        await do("7.2", "7.2", "ESME")
        await do("6.15.1", "6.15.1", "ESME")
        # The DCC's own inventory read goes over the HAN (a DUIS user's 8.2 is the DSP's).
        await do("8.2", "8.2", "CHF", user="dcc")
        await do("6.13", "6.13", "ESME")
        await do("8.11", "8.11", "CHF", DeviceID=ppmid, JoinTimePeriod=600,
                 InstallCode=inst.labels[ppmid].install_code.hex())
        await clock.sleep(650)
        await do("8.9", "8.9", "CHF")
        await do("3.1 PPMID", "3.1", "PPMID", SupplierMessage="Hello PPMID")
        inst.medium.close()  # writes out the acks still due to the capture
        out.frames = inst.medium.stats.sent + inst.medium.stats.acks

    clock.run(main())
    out.ppmid_link_key_label = f"link key {out.ppmid_eui}"
    return out


@pytest.fixture(scope="module")
def rows(session: Session) -> list[dict[str, str]]:
    return field_rows(session.pcap)


@pytest.fixture(scope="module")
def verbose(session: Session) -> str:
    return tshark(session.pcap, "-V")


def where(rows: list[dict[str, str]], pred: Callable[[dict[str, str]], bool]) -> list[dict]:
    return [r for r in rows if pred(r)]


def eui_colons(eui: str) -> str:
    return eui.replace("-", ":").lower()


def test_key_file_holds_the_network_and_link_keys(session: Session) -> None:
    keys = dict((label, key) for key, label in read_key_file(Path(str(session.pcap) + ".keys")))
    assert any("network key" in label for label in keys)
    assert keys[session.ppmid_link_key_label]
    assert bytes.fromhex(next(k for lbl, k in keys.items() if "network key" in lbl)) == (
        session.network_key)


def test_every_frame_dissects_as_zigbee(session: Session, rows) -> None:
    assert len(rows) == session.frames >= 25
    for row in rows:
        assert row["wpan.fcs_ok"] == "1", f"frame {row['frame.number']}: FCS not correct"
        kind = row["wpan.frame_type"]
        if kind == MAC_DATA:
            assert row["frame.protocols"].startswith("wpan:zbee_nwk"), row
            assert row["zbee_nwk.src"], row
        elif kind == MAC_BEACON:
            assert row["frame.protocols"] == "wpan:zbee_beacon", row
        else:
            assert kind in (MAC_ACK, MAC_COMMAND), row
            assert row["frame.protocols"] == "wpan", row


def test_every_unicast_that_asks_for_an_ack_gets_one_after_the_turnaround_time(rows) -> None:
    """802.15.4-2006 7.5.6.4: Imm-Ack with the frame's DSN, aTurnaroundTime after it ends."""
    acks = {int(r["wpan.ack_to"]): r
            for r in where(rows, lambda r: r["wpan.frame_type"] == MAC_ACK)}
    asking = where(rows, lambda r: r["wpan.ack_request"] == "1")
    assert len(asking) >= 25
    for row in asking:
        ack = acks.get(int(row["frame.number"]))
        assert ack is not None, f"frame {row['frame.number']} ({row['_ws.col.Info']}) unacked"
        assert ack["wpan.seq_no"] == row["wpan.seq_no"]
        # From the frame's first symbol: its airtime (32 us an octet, 6 of PHY header)
        # plus aTurnaroundTime, 12 symbols = 192 us.
        airtime = (int(row["frame.len"]) + 6) * 32e-6
        if row["wpan.cmd"] != "0x04":  # only a Data Request's ack can say data waits
            assert ack["wpan.pending"] == "0", ack
        assert float(ack["wpan.ack_time"]) == pytest.approx(airtime + 192e-6, abs=2e-6), ack
    broadcasts = where(rows, lambda r: r["wpan.ack_request"] == "0" and r["wpan.frame_type"]
                       in (MAC_DATA, MAC_COMMAND))
    assert broadcasts and not any(int(r["frame.number"]) in acks for r in broadcasts)
    assert len(acks) == len(asking)


def test_the_ppmid_joins_by_association_before_its_key_arrives(session: Session, rows) -> None:
    """Beacon Request -> beacon (permit) -> Association Request -> Data Request -> Response."""
    ppmid = eui_colons(session.ppmid_eui)
    requests = where(rows, lambda r: r["wpan.cmd"] == "0x01" and r["wpan.src64"] == ppmid)
    assert requests and requests[0]["wpan.cinfo.alloc_addr"] == "1"
    first = int(requests[0]["frame.number"])
    before = [r for r in rows if int(r["frame.number"]) < first]
    scan = [r for r in before if r["wpan.cmd"] == "0x07"]
    beacon = [r for r in before if r["wpan.frame_type"] == MAC_BEACON][-1]
    assert scan and int(scan[-1]["frame.number"]) < int(beacon["frame.number"])
    assert beacon["wpan.assoc_permit"] == "1"
    assert (beacon["zbee_beacon.protocol"], beacon["zbee_beacon.profile"],
            beacon["zbee_beacon.version"]) == ("0", "0x0002", "2")
    hub = next(r["zbee.sec.src64"].split(",")[0] for r in rows
               if r["zbee_nwk.src"] == "0x0000" and r["zbee.sec.src64"])
    assert beacon["zbee_beacon.ext_panid"] == hub
    after = [r for r in rows if int(r["frame.number"]) > first]
    poll = next(r for r in after if r["wpan.cmd"] == "0x04" and r["wpan.src64"] == ppmid)
    # macResponseWaitTime (32 x aBaseSuperframeDuration = 0.49152 s) after the request.
    assert float(poll["frame.time_relative"]) - float(requests[0]["frame.time_relative"]) == (
        pytest.approx(0.49152, abs=0.001))
    # The coordinator's ack to the poll says it holds a frame for the PPMID (7.5.6.3).
    poll_ack = next(r for r in rows if r["wpan.ack_to"] == poll["frame.number"])
    assert poll_ack["wpan.pending"] == "1"
    response = next(r for r in after if r["wpan.cmd"] == "0x02" and r["wpan.dst64"] == ppmid)
    assert int(response["frame.number"]) > int(poll["frame.number"])
    assert response["wpan.assoc.status"] == "0x00"
    key = where(rows, lambda r: r["zbee_aps.cmd.id"] == "0x05")[0]
    assert int(key["frame.number"]) > int(response["frame.number"])
    assert key["zbee_nwk.dst"] == response["wpan.asoc.addr"]


def test_nothing_is_malformed_and_no_expert_errors(rows) -> None:
    for row in rows:
        assert row["_ws.malformed"] == "", row
        severities = [int(s, 0) for s in row["_ws.expert.severity"].split(",") if s]
        assert all(s < PI_ERROR for s in severities), (row["frame.number"],
                                                        row["_ws.expert.message"])


def test_every_secured_nwk_frame_decrypts_with_the_network_key(rows) -> None:
    secured = where(rows, lambda r: r["zbee.sec.key_id"].split(",")[0] == "0x01")
    assert len(secured) >= 20
    for row in secured:
        assert row["zbee_sec.encrypted_payload"] == "", row
        # Wireshark names the UAT key it used (the network key for NWK, a link key for
        # APS), or nothing once it has learned the network key from the Transport Key;
        # either way the payload decrypted.
        labels = [label for label in row["zbee.sec.decryption_key"].split(",") if label]
        assert all("network key" in label or "link key" in label for label in labels), row
        assert ":zbee_aps:" in row["frame.protocols"] + ":", row
        assert row["zbee_zcl.cmd.tsn"] or ":zbee_zdp" in row["frame.protocols"] or \
            row["zbee_aps.type"] == "0x02", row  # an APS ack carries no ZCL


def test_smart_energy_commands_show_by_name(verbose: str, rows) -> None:
    for cluster in ("Simple Metering (0x0702)", "Pre-Payment (0x0705)", "Message (0x0703)",
                    "Events (0x0709)", "Tunneling (0x0704)", "Basic (0x0000)"):
        assert f"Cluster: {cluster}" in verbose
    info = "\n".join(r["_ws.col.Info"] for r in rows)
    for command in ("Consumer Top Up", "Consumer Top Up Response", "Display Message",
                    "Message Confirmation", "Set Uncontrolled Flow Threshold", "Change Supply",
                    "Supply Status Response", "Get Event Log", "Publish Event Log",
                    "Read Attributes Response", "Transfer Data", "Permit Join Request",
                    "Device Announcement", "Transport Key", "Beacon Request",
                    "Association Request", "Data Request", "Association Response"):
        assert command in info, command


def test_wireshark_reads_the_same_se_values_we_sent(session: Session, rows) -> None:
    messages = {r["zbee_zcl_se.msg.message"] for r in rows} - {""}
    assert {SUPPLIER_MESSAGE, "Hello PPMID"} <= messages
    proposed = {r["zbee_zcl_se.met.change_supply.proposed_supply_status"] for r in rows} - {""}
    assert proposed == {"0"}  # 7.2 DisableSupply asks for Off


def test_permit_join_requests_stay_within_254_s_and_cover_the_window(rows) -> None:
    permits = where(rows, lambda r: r["zbee_zdp.duration"] != "")
    durations = [int(r["zbee_zdp.duration"]) for r in permits]
    assert len(durations) >= 3
    assert all(d <= 254 for d in durations)
    assert sum(durations) >= 600
    times = [float(r["frame.time_relative"]) for r in permits]
    for (t0, d0), t1 in zip(zip(times, durations, strict=True), times[1:], strict=False):
        assert t1 - t0 == pytest.approx(d0, abs=0.01)  # re-sent as the previous window ends
    assert all(r["zbee_nwk.dst"] == "0xfffc" for r in permits)  # to all routers


def test_ppmid_announces_itself_and_the_device_log_shows_it_joined(session: Session,
                                                                   rows) -> None:
    annces = where(rows, lambda r: r["zbee_aps.zdp_cluster"] == "0x0013")
    assert [r["zbee_zdp.ext_addr"] for r in annces] == [eui_colons(session.ppmid_eui)]
    log = {d["DeviceID"]: d["Joined"] for d in session.responses["8.9"].body["DeviceLog"]}
    assert log[session.ppmid_eui] is True
    announce_time = float(annces[0]["frame.time_relative"])
    first_permit = min(float(r["frame.time_relative"]) for r in rows if r["zbee_zdp.duration"])
    assert first_permit < announce_time < first_permit + 600


def test_transport_key_decrypts_with_the_install_code_link_key(session: Session, rows) -> None:
    transport = where(rows, lambda r: r["zbee_aps.cmd.id"] == "0x05")
    assert len(transport) == 1
    row = transport[0]
    assert row["zbee.sec.key_id"] == "0x02"  # key-transport key
    assert row["zbee.sec.decryption_key"] == session.ppmid_link_key_label
    assert row["zbee_aps.cmd.dst"] == eui_colons(session.ppmid_eui)
    assert len(bytes.fromhex(row["zbee_aps.cmd.key"].replace(":", ""))) == 16


def test_transport_key_carries_the_network_key_wireshark_can_use(session: Session,
                                                                 rows) -> None:
    row = where(rows, lambda r: r["zbee_aps.cmd.id"] == "0x05")[0]
    assert bytes.fromhex(row["zbee_aps.cmd.key"].replace(":", "")) == session.network_key


def test_link_key_alone_is_enough_to_follow_the_network_after_the_join(session: Session) -> None:
    keys = read_key_file(Path(str(session.pcap) + ".keys"))
    link = next(key for key, label in keys if label == session.ppmid_link_key_label)
    only_link = ["-o", f'uat:zigbee_pc_keys:"{link}","Normal","link only"']
    after = field_rows(session.pcap, keys=only_link)
    tk_index = next(i for i, r in enumerate(after) if r["zbee_aps.cmd.id"] == "0x05")
    # NWK-only frames read in full; the SE frames' APS layers need their link keys.
    later_secured = [r for r in after[tk_index + 1 :] if r["zbee.sec.key_id"] == "0x01"]
    assert later_secured
    assert all(r["zbee_sec.encrypted_payload"] == "" for r in later_secured)
    later_se = [r for r in after[tk_index + 1 :] if r["zbee.sec.key_id"] == "0x01,0x00"]
    assert later_se and all(r["zbee_aps.cluster"] for r in later_se)


def test_without_keys_nothing_secured_is_readable(session: Session) -> None:
    """Guard for the tests above: decryption really comes from the key file."""
    bare = field_rows(session.pcap, keys=[])
    secured = [r for r in bare if r["zbee.sec.key_id"]]
    assert secured
    assert all(r["zbee.sec.decryption_key"] == "" for r in secured)
    assert not any(r["zbee_zcl.cmd.tsn"] for r in secured)


# ---- Smart Energy APS security, APS acks, Request Tunnel ------------------------------

KE_CLUSTER = "0x0800"


def se_data(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return where(rows, lambda r: r["zbee_aps.type"] == "0x00" and r["zbee_aps.profile"] == "0x0109")


def test_se_cluster_frames_are_aps_secured_with_a_link_key_and_decrypted(rows) -> None:
    secured = [r for r in se_data(rows) if r["zbee_aps.cluster"] != KE_CLUSTER]
    assert len(secured) >= 20
    for row in secured:
        # NWK under the network key (1), then APS under a link key (0), both opened.
        assert row["zbee.sec.key_id"] == "0x01,0x00", row
        assert row["zbee_sec.encrypted_payload"] == "", row
        assert row["zbee_zcl.cmd.tsn"], row
    labels = ",".join(r["zbee.sec.decryption_key"] for r in secured)
    assert "agreed link key" in labels  # Wireshark opened them with the key file's link keys


def test_key_establishment_runs_under_nwk_security_only(rows) -> None:
    ke = [r for r in se_data(rows) if r["zbee_aps.cluster"] == KE_CLUSTER]
    assert ke  # the PPMID's key establishment with the hub, the meter's with the PPMID
    assert all(r["zbee.sec.key_id"] == "0x01" for r in ke), ke


def test_every_se_unicast_asks_for_and_gets_an_aps_ack(rows) -> None:
    acks = where(rows, lambda r: r["zbee_aps.type"] == "0x02")
    for row in se_data(rows):
        if row["zbee_nwk.dst"] in ("0xfffc", "0xfffd", "0xffff"):
            continue
        assert row["zbee_aps.ack_req"] == "1", row
        answer = [a for a in acks if a["zbee_nwk.src"] == row["zbee_nwk.dst"]
                  and a["zbee_nwk.dst"] == row["zbee_nwk.src"]
                  and a["zbee_aps.counter"] == row["zbee_aps.counter"]
                  and int(a["frame.number"]) > int(row["frame.number"])]
        assert answer, f"frame {row['frame.number']} was not acknowledged"
        # The ack of an APS-secured frame is secured with the same kind of key.
        assert answer[0]["zbee.sec.key_id"] == row["zbee.sec.key_id"], answer[0]


def test_the_hub_requests_a_tunnel_before_transfer_data(rows) -> None:
    tunnel = [r for r in rows if r["zbee_zcl_se.tun.cmd.srv_rx.id"]
              or r["zbee_zcl_se.tun.cmd.srv_tx.id"]]
    first_transfer = next(i for i, r in enumerate(tunnel)
                          if r["zbee_zcl_se.tun.cmd.srv_rx.id"] == "0x02")
    request = tunnel[first_transfer - 2]
    response = tunnel[first_transfer - 1]
    assert request["zbee_zcl_se.tun.cmd.srv_rx.id"] == "0x00"  # Request Tunnel
    assert request["zbee_zcl_se.tun.protocol_id"] == "0xc8"  # 200: manufacturer-defined
    assert request["zbee_zcl_se.tun.manufacturer_code"] == "0xfff1"
    assert response["zbee_zcl_se.tun.cmd.srv_tx.id"] == "0x00"  # Request Tunnel Response
    tunnel_id = response["zbee_zcl_se.tun.tunnel_id"]
    assert tunnel[first_transfer]["zbee_zcl_se.tun.tunnel_id"] == tunnel_id
    # A manufacturer-defined protocol: Wireshark never takes the data for GBCS.
    assert not any("gbcs" in r["frame.protocols"] for r in rows)


def test_without_link_keys_se_payloads_stay_sealed(session: Session) -> None:
    network_only = ["-o", f'uat:zigbee_pc_keys:"{session.network_key.hex().upper()}",'
                          '"Normal","network only"']
    rows = field_rows(session.pcap, keys=network_only)
    sealed = [r for r in se_data(rows) if r["zbee_aps.cluster"] != KE_CLUSTER]
    assert sealed
    assert all(r["zbee_sec.encrypted_payload"] and not r["zbee_zcl.cmd.tsn"] for r in sealed)
