"""`s1bench pcap show` and `pcap replay`: read a capture through s1bench's own codec.

Wireshark is the independent opinion on our bytes (`pcap tshark`); `pcap show`
is the other direction: a capture from a real bench read by the decoders the
emulator uses, so a frame s1bench cannot read shows up with the layer and byte
where it gives up, instead of being silently dropped by the medium.

Captures: classic pcap (either byte order, micro- or nanosecond stamps) with
link type 195 (IEEE 802.15.4 with FCS) or 230 (IEEE 802.15.4, no FCS), the
numbers in libpcap's link-layer header type list. pcapng is refused: convert
it with ``editcap -F pcap``.

Keys: every ``--key HEX`` plus the keys in the key file s1bench writes beside
its captures (``FILE.keys``, Wireshark's zigbee_pc_keys format). A secured NWK
frame is opened by whichever key's MIC matches; an APS-secured frame by the
key derived from a given link key for its key identifier (key-transport and
key-load keys are HMAC-MMO of the link key, ZigBee spec 4.5.3 / B.1.4).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from s1bench.emulator import aps, mac, mgmt, nwk, se, se_names, zcl, zdo
from s1bench.emulator.capture import key_file_for, read_key_file
from s1bench.emulator.codec_errors import CodecError
from s1bench.emulator.node import PAYLOAD_ERRORS

from .cli_common import EXIT_NOT_MET, EXIT_OK, BadInput, JsonOpt

LINKTYPE_WITH_FCS = 195
LINKTYPE_NO_FCS = 230
_MAGICS = {  # magic as read little-endian -> (byte order, ticks per second)
    0xA1B2C3D4: ("<", 1_000_000), 0xD4C3B2A1: (">", 1_000_000),
    0xA1B23C4D: ("<", 1_000_000_000), 0x4D3CB2A1: (">", 1_000_000_000),
}
_PCAPNG = 0x0A0D0D0A

CLUSTER_NAMES = {
    0x0000: "Basic", 0x000A: "Time", 0x0019: "OTA Upgrade", se.PRICE: "Price",
    se.METERING: "Metering", se.MESSAGING: "Messaging", se.TUNNELING: "Tunneling",
    se.PREPAYMENT: "Prepayment", se.DEVICE_MANAGEMENT: "Device Management",
    se.EVENTS: "Events", 0x0800: "Key Establishment",
}
ZCL_GLOBAL_NAMES = {  # ZCL r7 table 2-3
    zcl.READ_ATTRIBUTES: "Read Attributes",
    zcl.READ_ATTRIBUTES_RESPONSE: "Read Attributes Response",
    zcl.WRITE_ATTRIBUTES: "Write Attributes",
    zcl.WRITE_ATTRIBUTES_RESPONSE: "Write Attributes Response",
    0x06: "Configure Reporting", 0x07: "Configure Reporting Response",
    zcl.REPORT_ATTRIBUTES: "Report Attributes", zcl.DEFAULT_RESPONSE: "Default Response",
    0x0C: "Discover Attributes", 0x0D: "Discover Attributes Response",
}


# ------------------------------------------------------------------ reading ---

@dataclass(slots=True)
class Capture:
    path: Path
    linktype: int
    frames: list[tuple[float, bytes]]
    #: Why reading stopped early (a record cut short), or None.
    tail_error: str | None = None


def read_pcap(path: Path) -> Capture:
    """Every record of a classic pcap; BadInput when it is not one s1bench can read."""
    if not path.is_file():
        raise BadInput(f"{path}: no such capture")
    data = path.read_bytes()
    if len(data) < 24:
        raise BadInput(f"{path}: not a pcap ({len(data)} bytes, a pcap header is 24)")
    magic = int.from_bytes(data[:4], "little")
    if magic == _PCAPNG:
        raise BadInput(f"{path}: pcapng is not read; convert it: editcap -F pcap {path} OUT.pcap")
    if magic not in _MAGICS:
        raise BadInput(f"{path}: not a pcap (magic {data[:4].hex()})")
    order, ticks = _MAGICS[magic]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype not in (LINKTYPE_WITH_FCS, LINKTYPE_NO_FCS):
        raise BadInput(f"{path}: link type {linktype}, need {LINKTYPE_WITH_FCS} (802.15.4 with "
                       f"FCS) or {LINKTYPE_NO_FCS} (802.15.4 without FCS)")
    record = struct.Struct(order + "IIII")
    frames: list[tuple[float, bytes]] = []
    pos, tail = 24, None
    while pos < len(data):
        if len(data) - pos < record.size:
            tail = f"record header cut short at byte {pos}"
            break
        sec, frac, caplen, _ = record.unpack_from(data, pos)
        pos += record.size
        if len(data) - pos < caplen:
            tail = f"frame {len(frames) + 1}: {caplen} bytes recorded, {len(data) - pos} left"
            break
        frames.append((sec + frac / ticks, data[pos : pos + caplen]))
        pos += caplen
    return Capture(path, linktype, frames, tail)


def parse_key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text.replace(":", "").replace(" ", ""))
    except ValueError:
        raise BadInput(f"--key {text}: not hex") from None
    if len(key) != 16:
        raise BadInput(f"--key {text}: {len(key)} bytes, a ZigBee key has 16")
    return key


def capture_keys(path: Path, given: list[str]) -> list[bytes]:
    """The keys given on the command line first, then the capture's key file (if any)."""
    keys = [parse_key(k) for k in given]
    key_file = key_file_for(path)
    if key_file.is_file():
        for hex_key, _label in read_key_file(key_file):
            key = parse_key(hex_key)
            if key not in keys:
                keys.append(key)
    return keys


# ----------------------------------------------------------------- decoding ---

def _addr(value: int | None, mode: int = mac.ADDR_SHORT) -> str | None:
    if value is None:
        return None
    if mode == mac.ADDR_EXT:
        return value.to_bytes(8, "big").hex(":").upper()
    return f"0x{value:04X}"


@dataclass(slots=True)
class Decoded:
    """One capture frame: the layers read (outermost first) and the error, if any."""

    number: int
    time: float
    length: int
    layers: list[dict[str, Any]] = field(default_factory=list)
    error: CodecError | None = None
    #: The plaintext application payload (ZCL/ZDP) and its cluster, for replay's diff.
    cluster: int | None = None
    app_payload: bytes | None = None
    nwk_src: int | None = None
    nwk_dst: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frame": self.number, "time": self.time, "length": self.length,
                               "ok": self.ok, "layers": self.layers}
        if self.error is not None:
            out["error"] = {"layer": self.error.layer, "offset": self.error.offset,
                            "reason": self.error.reason}
        return out

    def line(self) -> str:
        when = datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        parts = [_describe(layer) for layer in self.layers]
        if self.error is not None:
            parts.append(f"ERROR {self.error}")
        return f"{self.number:>5} {when} {self.length:>3}B  " + " | ".join(parts)


def _describe(layer: dict[str, Any]) -> str:
    skip = {"layer"}
    fields = " ".join(f"{k}={v}" for k, v in layer.items() if k not in skip and v is not None)
    return f"{layer['layer']} {fields}"


class FrameDecoder:
    """Decodes capture frames with a set of candidate keys, remembering which worked."""

    def __init__(self, keys: list[bytes], with_fcs: bool = True) -> None:
        self.keys = list(keys)
        self.with_fcs = with_fcs
        #: Keys found in the capture's own Transport Key frames, in the order found.
        self.learned: list[bytes] = []

    def _keys_first(self, worked: bytes | None) -> list[bytes]:
        if worked is None:
            return self.keys
        return [worked, *[k for k in self.keys if k != worked]]

    def decode(self, number: int, when: float, raw: bytes) -> Decoded:
        out = Decoded(number, when, len(raw))
        try:
            self._decode(raw, out)
        except CodecError as exc:
            partial = exc.partial
            if isinstance(partial, nwk.NwkFrame):
                out.layers.append(_nwk_layer(partial))
            elif isinstance(partial, aps.ApsData | aps.ApsAck | aps.ApsCommand):
                out.layers.append(_aps_layer(partial))
            out.error = exc
        return out

    def _decode(self, raw: bytes, out: Decoded) -> None:
        m = mac.MacFrame.decode(raw, self.with_fcs)
        out.layers.append({
            "layer": "mac", "type": mac.FRAME_NAMES[m.frame_type], "seq": m.seq,
            "pan": None if m.pan is None else f"0x{m.pan:04X}",
            "dst": _addr(m.dst, m.dst_mode), "src": _addr(m.src, m.src_mode),
            "ack_request": m.ack_request or None,
        })
        base = m.header_len
        if m.frame_type == mac.FRAME_COMMAND:
            out.layers[-1]["command"] = mac.COMMAND_NAMES[m.payload[0]]
            return
        if m.frame_type == mac.FRAME_BEACON:
            beacon = mac.parse_beacon(m.payload, base)
            layer: dict[str, Any] = {"layer": "beacon", "superframe": f"0x{beacon.superframe:04X}"}
            if beacon.payload:
                zb = mac.parse_zigbee_beacon(beacon.payload, base + len(m.payload)
                                             - len(beacon.payload))
                layer.update(stack_profile=zb.stack_profile,
                             ext_pan=_addr(zb.extended_pan_id, mac.ADDR_EXT),
                             router_capacity=zb.router_capacity,
                             end_device_capacity=zb.end_device_capacity, depth=zb.device_depth)
            out.layers.append(layer)
            return
        if m.frame_type != mac.FRAME_DATA or not m.payload:
            return
        n = self._nwk(m.payload, base)
        out.layers.append(_nwk_layer(n))
        out.nwk_src, out.nwk_dst = n.src, n.dst
        if n.frame_type == nwk.FRAME_COMMAND:
            if n.payload:
                out.layers[-1]["command"] = nwk.COMMAND_NAMES.get(n.payload[0],
                                                                  f"0x{n.payload[0]:02X}")
            return
        aps_base = base + len(m.payload) - len(n.payload) - (nwk.MIC_LEN if n.secured else 0)
        a = self._aps(n.payload, aps_base, n.src_ieee)
        out.layers.append(_aps_layer(a))
        if isinstance(a, aps.ApsData) and not a.fragmentation:
            out.cluster, out.app_payload = a.cluster, a.payload
            app_base = len(raw) - (2 if self.with_fcs else 0) - len(a.payload)
            if a.profile == aps.PROFILE_ZDP:
                message = zdo.ZdoMessage.decode(a.cluster, a.payload, app_base) \
                    if a.cluster in zdo.NAMES else None
                out.layers.append({"layer": "zdp", "cluster": zdo.NAMES.get(
                    a.cluster, f"0x{a.cluster:04X}"), "tsn": message.tsn if message else None})
            else:
                z = zcl.ZclFrame.decode(a.payload, app_base)
                command = (ZCL_GLOBAL_NAMES.get(z.command, f"0x{z.command:02X}")
                           if z.frame_type == zcl.TYPE_GLOBAL else
                           se_names.command_name(a.cluster, z.direction, z.command)
                           or f"cluster 0x{z.command:02X}")
                out.layers.append({"layer": "zcl", "command": command, "seq": z.seq,
                                   "direction": "to client" if z.direction else "to server",
                                   "manufacturer": None if z.manufacturer is None
                                   else f"0x{z.manufacturer:04X}"})
        elif isinstance(a, aps.ApsCommand):
            out.layers[-1]["command"] = aps.COMMAND_NAMES.get(a.command, f"0x{a.command:02X}")
            if a.command == aps.CMD_TRANSPORT_KEY:
                self._learn(aps.parse_transport_key(a.payload)[1])

    def _learn(self, key: bytes) -> None:
        """A key read from a Transport Key frame (in clear, or opened by a known key).

        Networks without install codes send the network key in clear at a join
        (ZigBee 2006 and many deployed devices): the capture then holds what opens
        the rest of it, as Wireshark and KillerBee's zbdsniff find it.
        """
        if key not in self.keys:
            self.keys.append(key)
            self.learned.append(key)

    def _nwk(self, data: bytes, base: int) -> nwk.NwkFrame:
        try:
            return nwk.NwkFrame.decode(data, None, base)
        except CodecError as exc:
            if not exc.reason.startswith("secured frame and no") or not self.keys:
                raise
            missing = exc
        for key in self.keys:
            try:
                frame = nwk.NwkFrame.decode(data, key, base)
            except CodecError as exc:
                if "MIC" in exc.reason:
                    continue
                raise
            self.keys.remove(key)
            self.keys.insert(0, key)  # the network key: first for the next frame
            return frame
        unknown = CodecError(missing.layer, missing.offset,
                             f"unknown key: none of the {len(self.keys)} keys given opens it")
        unknown.partial = missing.partial
        raise unknown

    def _aps(self, data: bytes, base: int, sender: int | None) -> aps.ApsFrame:
        try:
            return aps.decode(data, None, base, source_ieee=sender)
        except CodecError as exc:
            partial = exc.partial
            if not isinstance(partial, aps.ApsData | aps.ApsAck | aps.ApsCommand) or \
                    partial.security is None or not self.keys:
                raise
            missing = exc
            key_id = partial.security.key_id
        for key in self.keys:
            try:
                return aps.decode(data, aps.key_for(key_id, key), base, source_ieee=sender)
            except CodecError as exc:
                if "MIC" in exc.reason:
                    continue
                raise
        unknown = CodecError(missing.layer, missing.offset,
                             f"unknown key: no {aps.KEY_NAMES[key_id]} key from the "
                             f"{len(self.keys)} given opens it")
        unknown.partial = missing.partial
        raise unknown


def _nwk_layer(n: nwk.NwkFrame) -> dict[str, Any]:
    layer: dict[str, Any] = {
        "layer": "nwk", "type": "command" if n.frame_type == nwk.FRAME_COMMAND else "data",
        "seq": n.seq, "dst": _addr(n.dst), "src": _addr(n.src), "radius": n.radius,
        "src_ieee": _addr(n.src_ieee, mac.ADDR_EXT), "dst_ieee": _addr(n.dst_ieee, mac.ADDR_EXT),
    }
    if n.secured:
        layer.update(frame_counter=n.frame_counter, key_seq=n.key_seq,
                     sec_source=_addr(n.sec_source, mac.ADDR_EXT))
    if n.multicast is not None:
        layer["multicast"] = f"0x{n.multicast:02X}"
    if n.source_route is not None:
        layer["source_route"] = ",".join(f"0x{r:04X}" for r in n.source_route.relays)
    return layer


def _aps_layer(a: aps.ApsFrame) -> dict[str, Any]:
    if isinstance(a, aps.ApsData):
        layer: dict[str, Any] = {
            "layer": "aps", "type": "data", "counter": a.counter, "dst_ep": a.dst_ep,
            "group": None if a.group is None else f"0x{a.group:04X}", "src_ep": a.src_ep,
            "cluster": f"0x{a.cluster:04X}", "cluster_name": CLUSTER_NAMES.get(a.cluster)
            if a.profile != aps.PROFILE_ZDP else zdo.NAMES.get(a.cluster),
            "profile": f"0x{a.profile:04X}"}
        if a.fragmentation:
            layer.update(fragment="first" if a.fragmentation == aps.FRAG_FIRST else "more",
                         block=a.block)
    elif isinstance(a, aps.ApsAck):
        layer = {"layer": "aps", "type": "ack", "counter": a.counter,
                 "cluster": None if a.cluster is None else f"0x{a.cluster:04X}"}
    else:
        layer = {"layer": "aps", "type": "command", "counter": a.counter}
    if a.security is not None:
        layer.update(key=aps.KEY_NAMES[a.security.key_id],
                     aps_frame_counter=a.security.frame_counter)
    return layer


def decode_capture(capture: Capture, keys: list[bytes]) -> tuple[list[Decoded], int]:
    """Every frame decoded, and how many keys the capture's Transport Key frames gave.

    A key learned from a frame also opens the frames before it, so a capture
    that taught a key is decoded a second time with it.
    """
    decoder = FrameDecoder(keys, capture.linktype == LINKTYPE_WITH_FCS)
    while True:
        learned = len(decoder.learned)
        frames = [decoder.decode(i, when, raw)
                  for i, (when, raw) in enumerate(capture.frames, 1)]
        if len(decoder.learned) == learned:
            return frames, learned


# ---------------------------------------------------------------- commands ---

KeyOpt = Annotated[list[str] | None, typer.Option(
    "--key", metavar="HEX", help="A network or link key (16 bytes in hex); repeat for more. "
    "The key file beside the capture is read too.", show_default=False)]


def register(pcap_app: typer.Typer) -> None:
    pcap_app.command("show", epilog="Examples:\n\n    s1bench pcap show join.pcap\n\n"
                     "    s1bench pcap show bench.pcap --key 5DD08CB6FA58EEDE5D76A1D76D0F9D55 "
                     "--json")(pcap_show)
    pcap_app.command("replay", epilog="Example:\n\n    s1bench pcap replay x.pcap --dmc "
                     "reference")(pcap_replay)


def pcap_show(pcap: Annotated[Path, typer.Argument(metavar="FILE.pcap",
                                                   help="An 802.15.4 capture (pcap).")],
              key: KeyOpt = None, json_out: JsonOpt = False) -> int:
    """Decode every frame of a capture with s1bench's codec; report each, or its error.

    Exit status: 0 every frame decoded, 1 some did not (each is reported with the
    layer and byte where decoding stopped), 2 bad input (no such file, not a pcap).
    """
    capture = read_pcap(pcap)
    keys = capture_keys(pcap, key or [])
    frames, learned = decode_capture(capture, keys)
    failed = sum(not f.ok for f in frames) + (capture.tail_error is not None)
    if json_out:
        print(json.dumps({"file": str(pcap), "linktype": capture.linktype,
                          "keys": len(keys), "keys_from_capture": learned,
                          "frames": [f.as_json() for f in frames],
                          "decoded": len(frames) - sum(not f.ok for f in frames),
                          "failed": failed, "tail_error": capture.tail_error}, indent=2))
    else:
        for frame in frames:
            print(frame.line())
        if capture.tail_error:
            print(f"  ERROR pcap: {capture.tail_error}")
        print(f"{len(frames)} frames, {len(frames) - sum(not f.ok for f in frames)} decoded, "
              f"{failed} failed ({len(keys)} keys given, {learned} from the capture's "
              f"Transport Key frames)")
    return EXIT_NOT_MET if failed else EXIT_OK


# ------------------------------------------------------------------ replay ---

HUB_SHORT = 0x0000  # the ZigBee coordinator's NWK address: the comms hub
ANSWER_WAIT_S = 10.0


class _Collect:
    """A medium tap that keeps the frames instead of writing a pcap."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []

    def frame(self, data: bytes, when: datetime) -> None:
        self.frames.append((when.timestamp(), bytes(data)))

    def close(self) -> None:
        return None


@dataclass(slots=True)
class ReplayStep:
    request: Decoded
    device: int
    tsn: int
    recorded: bytes | None
    emulated: bytes | None
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.note:
            return "skipped"
        if self.recorded == self.emulated:
            return "same"
        if self.emulated is None:
            return "no answer from the emulator"
        if self.recorded is None:
            return "no answer recorded"
        return "differs"

    def as_json(self) -> dict[str, Any]:
        return {"frame": self.request.number, "device": f"0x{self.device:04X}",
                "cluster": f"0x{self.request.cluster:04X}", "tsn": self.tsn,
                "verdict": self.verdict, "note": self.note or None,
                "recorded": None if self.recorded is None else self.recorded.hex(),
                "emulated": None if self.emulated is None else self.emulated.hex()}


def _zcl_tsn(payload: bytes) -> int | None:
    try:
        return zcl.ZclFrame.decode(payload).seq
    except CodecError:
        return None


def _answer(frames: list[Decoded], after: int, device: int, cluster: int, tsn: int
            ) -> bytes | None:
    """The first ZCL payload ``device`` sent the hub on ``cluster`` with ``tsn``, after a frame."""
    for f in frames:
        if (f.number > after and f.ok and f.nwk_src == device and f.nwk_dst == HUB_SHORT
                and f.cluster == cluster and f.app_payload is not None
                and f.layers[-1].get("layer") == "zcl" and _zcl_tsn(f.app_payload) == tsn):
            return f.app_payload
    return None


def _transfer_tunnel(cluster: int, request: zcl.ZclFrame) -> int | None:
    """The tunnel id of a Tunneling Transfer Data to a device; None for anything else."""
    if (cluster != se.TUNNELING or request.frame_type != zcl.TYPE_CLUSTER
            or request.direction != zcl.TO_SERVER
            or request.command != se.TUN_TRANSFER_DATA_TO_SERVER or len(request.payload) < 2):
        return None
    return se.parse_transfer_data(request.payload)[0]


def _with_tunnel(frame: zcl.ZclFrame, tunnel: int) -> bytes:
    """The frame again with ``tunnel`` in the tunnel id its payload starts with."""
    return zcl.ZclFrame(frame.frame_type, frame.direction, frame.seq, frame.command,
                        tunnel.to_bytes(2, "little") + frame.payload[2:],
                        frame.disable_default_response, frame.manufacturer).encode()


def _tunnel_opened(answer: bytes | None) -> int | None:
    """The tunnel id of a successful Request Tunnel Response, else None."""
    if answer is None:
        return None
    try:
        frame = zcl.ZclFrame.decode(answer)
        response = se.REQUEST_TUNNEL_RESPONSE.parse(frame.payload)
    except (CodecError, *PAYLOAD_ERRORS):
        return None
    if frame.command != se.TUN_REQUEST_TUNNEL_RESPONSE or response.status != se.TUNNEL_SUCCESS:
        return None
    return int(response.tunnel_id)


def replay(capture: Capture, keys: list[bytes], dmc: str, seed: int = 0) -> list[ReplayStep]:
    """Send the capture's hub-side ZCL requests to an emulated installation of ``dmc``.

    What is compared, per request: the recorded ZCL payload (ZCL header and
    command, after NWK decryption) of the first frame the addressed device sent
    back to the hub on the same cluster with the same ZCL sequence number,
    against the same from the emulated device. Requests are delivered by NWK
    short address: the emulated device holding that address receives it
    (captures s1bench wrote for the same DMC and seed use the same addresses;
    a request to an address no emulated device holds is skipped and says so).
    ZDP and broadcast frames, and anything the hub sent that did not decode,
    are not replayed: they set up the network rather than ask a device.

    Tunneling Transfer Data travels in a tunnel the device opened (SE 1.x
    Request Tunnel). A recorded Request Tunnel is replayed like any request
    and its tunnel id mapped to the emulated device's; a Transfer Data in a
    tunnel the replay has not seen opened (a capture made before s1bench
    requested tunnels) gets one opened first. Either way the recorded Transfer
    Data goes in the emulated tunnel, and the tunnel id in the emulated answer
    is put back to the recorded one before the comparison.
    """
    from s1bench.emulator.clock import VirtualClock

    from .builder import build_installation, resolve_dmc

    frames, _ = decode_capture(capture, keys)
    try:
        spec = resolve_dmc(dmc)
    except (KeyError, ValueError) as exc:
        raise BadInput(f"--dmc {dmc!r}: {exc}") from None
    clock = VirtualClock()

    async def run() -> list[ReplayStep]:
        inst = build_installation(spec, clock, seed=seed)
        tap = _Collect()
        inst.medium.add_tap(tap)  # type: ignore[arg-type]
        inst.start()
        hub = inst.hub.link
        shorts = {d.short for d in inst.devices.values()}
        steps: list[ReplayStep] = []
        # (device, recorded tunnel id) -> the emulated device's tunnel id.
        tunnels: dict[tuple[int, int], int] = {}

        def answers_since(seen: int) -> list[Decoded]:
            # The emulated HAN's own keys: its network key and the hub's link keys.
            decode = FrameDecoder([hub.network_key, *hub.link_keys()]).decode
            return [decode(i, when, raw) for i, (when, raw) in enumerate(tap.frames[seen:], 1)]

        async def ask(dst: int, payload: bytes, cluster: int, tsn: int) -> bytes | None:
            seen = len(tap.frames)
            hub.send_aps(dst, payload, cluster, aps.PROFILE_SE, 1)
            await clock.sleep(ANSWER_WAIT_S)
            return _answer(answers_since(seen), 0, dst, cluster, tsn)

        async def open_tunnel(dst: int) -> int | None:
            tsn = hub.next_zcl_seq()
            answer = await ask(dst, zcl.ZclFrame(
                zcl.TYPE_CLUSTER, zcl.TO_SERVER, tsn, se.TUN_REQUEST_TUNNEL,
                se.REQUEST_TUNNEL.build({"protocol_id": mgmt.PROTOCOL_ID,
                                         "manufacturer_code": mgmt.MANUFACTURER_CODE,
                                         "flow_control": 0,
                                         "max_incoming_transfer_size": mgmt.MAX_TRANSFER})
            ).encode(), se.TUNNELING, tsn)
            return _tunnel_opened(answer)
        try:
            for f in frames:
                if not (f.ok and f.nwk_src == HUB_SHORT and f.app_payload is not None
                        and f.layers[-1].get("layer") == "zcl" and f.nwk_dst is not None
                        and f.nwk_dst < 0xFFF8 and f.cluster is not None):
                    continue
                tsn = _zcl_tsn(f.app_payload)
                assert tsn is not None  # it decoded as ZCL above
                recorded = _answer(frames, f.number, f.nwk_dst, f.cluster, tsn)
                if f.nwk_dst not in shorts:
                    steps.append(ReplayStep(f, f.nwk_dst, tsn, recorded, None,
                                            "no emulated device at that address"))
                    continue
                request = zcl.ZclFrame.decode(f.app_payload)
                recorded_tunnel = _transfer_tunnel(f.cluster, request)
                payload = f.app_payload
                if recorded_tunnel is not None:
                    key = (f.nwk_dst, recorded_tunnel)
                    if key not in tunnels:
                        opened = await open_tunnel(f.nwk_dst)
                        if opened is not None:
                            tunnels[key] = opened
                    if key in tunnels:
                        payload = _with_tunnel(request, tunnels[key])
                emulated = await ask(f.nwk_dst, payload, f.cluster, tsn)
                if recorded_tunnel is not None and emulated is not None:
                    emulated = _with_tunnel(zcl.ZclFrame.decode(emulated), recorded_tunnel)
                if (f.cluster == se.TUNNELING and request.command == se.TUN_REQUEST_TUNNEL
                        and request.direction == zcl.TO_SERVER):
                    was, now = _tunnel_opened(recorded), _tunnel_opened(emulated)
                    if was is not None and now is not None:
                        tunnels[(f.nwk_dst, was)] = now
                steps.append(ReplayStep(f, f.nwk_dst, tsn, recorded, emulated))
        finally:
            inst.medium.close()
        return steps

    return clock.run(run())


def pcap_replay(pcap: Annotated[Path, typer.Argument(metavar="FILE.pcap",
                                                     help="An 802.15.4 capture (pcap).")],
                dmc: Annotated[str, typer.Option("--dmc", help="The DMC to emulate.")],
                key: KeyOpt = None,
                seed: Annotated[int, typer.Option(help="Seed of the emulated installation "
                                                  "(the one the capture was made with).")] = 0,
                json_out: JsonOpt = False) -> int:
    """Replay a capture's hub requests to an emulated DMC and diff the devices' answers.

    Each ZCL request the hub sent is sent again, by the emulated hub, to the
    emulated device with the same NWK address; its answer (ZCL payload after
    decryption, matched by cluster and ZCL sequence number) is compared with
    the recorded one. Exit status: 0 every answer is the same, 1 some differ
    or are missing, 2 bad input.
    """
    capture = read_pcap(pcap)
    keys = capture_keys(pcap, key or [])
    steps = replay(capture, keys, dmc, seed)
    bad = [s for s in steps if s.verdict != "same"]
    if json_out:
        print(json.dumps({"file": str(pcap), "dmc": dmc, "steps": [s.as_json() for s in steps],
                          "same": len(steps) - len(bad), "different": len(bad)}, indent=2))
    else:
        for s in steps:
            line = (f"{s.request.number:>5} to 0x{s.device:04X} cluster "
                    f"0x{s.request.cluster:04X} tsn {s.tsn}: {s.verdict}")
            if s.note:
                line += f" ({s.note})"
            elif s.verdict == "differs":
                line += (f"\n        recorded {s.recorded.hex() if s.recorded else '-'}"
                         f"\n        emulated {s.emulated.hex() if s.emulated else '-'}")
            print(line)
        print(f"{len(steps)} requests replayed to {dmc}: {len(steps) - len(bad)} same, "
              f"{len(bad)} not")
    return EXIT_NOT_MET if bad or not steps else EXIT_OK
