"""The emulated NCP's radio: an emulated installation's HAN behind Z-Stack's AF and ZDO.

A dongle's firmware owns NWK, APS and security; its host sees APS payloads.
Here that firmware is s1bench's own: the installation's
:class:`~s1bench.emulator.coordinator.HanCoordinator` (the same coordinator
and trust centre the emulated hub uses) sends the host's AF data requests as
real frames on the memory medium, and what the devices send back is handed
to the host as AF IncomingMsg. A device that joins with its install code is
announced as Z-Stack does: ZDO TCDevInd, then its Device_annce mirrored in a
ZDO MsgCbIncoming.

Endpoints: every s1bench device keeps its Smart Energy clusters on endpoint
1 and answers to endpoint 1. Z-Stack hands the host no profile id, only the
endpoint a frame is for, and zigpy infers the profile from it; so a device's
answer is delivered to the host endpoint its request came from, and an
unsolicited frame (an alert) to the endpoint the host registered for profile
0x0109.

The installation's own CommsHub stays idle: the host is the hub now, and the
coordinator reports to this class instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
import zigpy.types as zt
import zigpy.zdo.types as zdo_t
import zigpy_znp.commands as c
import zigpy_znp.types as t
from s1bench.emulator import aps, key_agreement, mmo, zcl, zdo
from s1bench.emulator.coordinator import HanCoordinator
from s1bench.emulator.devices import Device
from s1bench.emulator.installation import Installation
from s1bench.emulator.node import COORDINATOR

log = structlog.get_logger("s1bench.ncp")

#: s1bench devices' Smart Energy endpoint.
DEVICE_ENDPOINT = 1
PROFILE_HA = 0x0104
#: ZDO commands an s1bench device understands; others are acknowledged and dropped.
DEVICE_ZDO = frozenset(zdo.NAMES)

Indicate = Callable[[t.CommandBase], None]
#: The most APS payload one AF IncomingMsg carries (an MT frame holds 250 data bytes).
#: Z-Stack sends longer ones as IncomingMsgExt, which zigpy-znp does not take.
MAX_INCOMING = 230


def zdo_payload(cluster: int, **fields: Any) -> bytes:
    """A ZDO command's payload (no sequence number), laid out by zigpy's own ZDO types."""
    names, types = zdo_t.CLUSTERS[cluster]
    return zt.serialize([fields[name] for name in names], types)


def _zcl_seq(data: bytes) -> int | None:
    """The transaction sequence number in a ZCL header, or None if it is too short."""
    if not data:
        return None
    at = 3 if data[0] & 0x04 else 1  # manufacturer-specific frames carry a 2-byte code
    return data[at] if len(data) > at else None


class NcpHan:
    """Joins, data requests and received frames between the MT host and the HAN."""

    def __init__(self, installation: Installation, indicate: Indicate) -> None:
        link = installation.hub.link
        if not isinstance(link, HanCoordinator):
            raise TypeError("the NCP needs an installation on s1bench's frame stack")
        self.installation = installation
        self.coordinator = link
        self.coordinator.bind(self)
        self.indicate = indicate
        #: The host's AF Register requests, by endpoint (for Simple_Desc_rsp too).
        self.registrations: dict[int, c.AF.Register.Req] = {}
        self.mirror_zdo = False
        self.joined: dict[int, int] = {}
        #: Told of every join (the NCP's address manager records it).
        self.on_join: Callable[[int, int], None] | None = None
        self._asked: dict[tuple[int, int, int], int] = {}
        self._tsn = 0
        for device in installation.devices.values():
            device.peer_lookup = self.short_of

    # ---- state -------------------------------------------------------------------
    def short_of(self, ieee: int) -> int | None:
        return self.joined.get(ieee)

    def device_at(self, short: int) -> Device | None:
        for device in self.installation.devices.values():
            if device.short == short and device.network_key is not None:
                return device
        return None

    def start(self, network_key: bytes, key_seq: int) -> None:
        """The network is up (formed or restored) with this key."""
        self.coordinator.network_key = network_key
        self.coordinator.key_seq = key_seq

    def restore(self, devices: list[tuple[int, int]]) -> None:
        """Devices the NCP's NVRAM has on the network are on it: they kept their state too."""
        by_ieee = {d.ieee: d for d in self.installation.devices.values()}
        key = self.coordinator.network_key
        for ieee, short in devices:
            device = by_ieee.get(ieee)
            if device is None or key is None or self.joined.get(ieee) == short:
                continue
            device.resume_network(short, key, self.coordinator.key_seq)
            self.coordinator.keep_address(ieee, short)
            if device.install_code is not None:
                # Both ends kept the SE link key they agreed after the join (NV too).
                install_key = mmo.link_key_from_install_code(device.install_code)
                link_key = key_agreement.agreed_link_key(ieee, self.coordinator.ieee, install_key)
                device.link_key = link_key
                self.coordinator.enrol(ieee, short, link_key)
            self.joined[ieee] = short
            log.info("NCP: device back on the network", ieee=f"{ieee:016X}", short=f"{short:04X}")

    def forget_network(self) -> None:
        """The NCP cleared its state: its devices look for a network to join again.

        A meter whose network vanished cannot stay on it; in CI the useful model
        is the one a commissioning engineer would produce: the device joins again
        with its install code when the new network permits it.
        """
        self.joined.clear()
        for device in self.installation.devices.values():
            self.coordinator.remove_device(device.ieee, None)
            if device.install_code is not None and device.network_key is not None:
                device.network_key = None
                device.start_joining(rejoin=True)

    def reset(self) -> None:
        """A soft reset: the host registers its endpoints again; joining closes."""
        self.registrations.clear()
        self.mirror_zdo = False
        self.coordinator.permit_until = 0.0

    @property
    def endpoints(self) -> dict[int, int]:
        """The host's endpoints: endpoint -> profile."""
        return {ep: int(req.ProfileId) for ep, req in self.registrations.items()}

    @property
    def se_endpoint(self) -> int:
        return next((ep for ep, profile in self.endpoints.items() if profile == aps.PROFILE_SE),
                    DEVICE_ENDPOINT)

    def register(self, req: c.AF.Register.Req) -> None:
        self.registrations[req.Endpoint] = req

    # ---- host -> HAN -------------------------------------------------------------
    def permit(self, duration: int) -> None:
        if self.coordinator.network_key is None:
            return
        self.coordinator.permit_joining(duration)
        if duration:
            for device in self.installation.devices.values():
                device.join_now()

    def add_install_key(self, ieee: int, link_key: bytes) -> None:
        self.coordinator.add_link_key(ieee, link_key)

    def data_request(self, req: c.AF.DataRequestExt.Req) -> t.Status:
        """Carry one AF data request; the status is what AF DataConfirm reports."""
        if self.coordinator.network_key is None:
            return t.Status.NWK_INVALID_REQUEST
        address = req.DstAddrModeAddress
        data = bytes(req.Data)
        if req.DstEndpoint == 0:
            self._zdo_request(address, req.ClusterId, data)
            return t.Status.SUCCESS
        if address.mode == t.AddrMode.IEEE:
            short = self.joined.get(int.from_bytes(address.address.serialize(), "little"))
            if short is None:
                return t.Status.NWK_NO_ROUTE
            address = t.AddrModeAddress(mode=t.AddrMode.NWK, address=short)
        if address.mode != t.AddrMode.NWK:
            # Broadcast and group ZCL: s1bench devices take only unicast ZCL from the hub.
            return t.Status.SUCCESS
        device = self.device_at(address.address)
        if device is None or not device.powered:
            return t.Status.MAC_NO_ACK
        registered = self.registrations.get(req.SrcEndpoint)
        profile = int(registered.ProfileId) if registered else PROFILE_HA
        seq = _zcl_seq(data)
        if seq is not None:
            self._asked[(address.address, req.ClusterId, seq)] = req.SrcEndpoint
            if len(self._asked) > 256:
                del self._asked[next(iter(self._asked))]
        self.coordinator.send_aps(address.address, data, req.ClusterId, profile, DEVICE_ENDPOINT)
        return t.Status.SUCCESS

    def _zdo_request(self, address: t.AddrModeAddress, cluster: int, data: bytes) -> None:
        if address.mode == t.AddrMode.NWK and address.address == COORDINATOR:
            self._local_zdo(cluster, data)
        elif address.mode == t.AddrMode.NWK and cluster in DEVICE_ZDO:
            if self.device_at(address.address) is not None:
                self.coordinator.send_aps(address.address, data, cluster, aps.PROFILE_ZDP, 0)
        elif address.mode == t.AddrMode.Broadcast and cluster == zdo_t.ZDOCmd.IEEE_addr_req:
            self._answer_address_request(data)
        # Anything else would go on air and find no s1bench device that answers it.

    def _local_zdo(self, cluster: int, data: bytes) -> None:
        """ZDO requests to the NCP itself, answered as Z-Stack's ZDO does."""
        if not data:
            return
        tsn, body = data[0], data[1:]
        try:
            names, types = zdo_t.CLUSTERS[cluster]
            args = dict(zip(names, zt.deserialize(body, types)[0], strict=True))
        except (KeyError, ValueError):
            log.warning("NCP: malformed ZDO request to the coordinator", cluster=f"{cluster:#06x}")
            return
        Cmd = zdo_t.ZDOCmd
        if cluster == Cmd.Node_Desc_req:
            self._zdo_answer(Cmd.Node_Desc_rsp, tsn, Status=zdo_t.Status.SUCCESS,
                             NWKAddrOfInterest=COORDINATOR, NodeDescriptor=self._node_desc())
        elif cluster == Cmd.Active_EP_req:
            self._zdo_answer(Cmd.Active_EP_rsp, tsn, Status=zdo_t.Status.SUCCESS,
                             NWKAddrOfInterest=COORDINATOR, ActiveEPList=sorted(self.endpoints))
        elif cluster == Cmd.Simple_Desc_req:
            descriptor = self._simple_desc(args["EndPoint"])
            status = zdo_t.Status.SUCCESS if descriptor else zdo_t.Status.NOT_ACTIVE
            self._zdo_answer(Cmd.Simple_Desc_rsp, tsn, Status=status,
                             NWKAddrOfInterest=COORDINATOR, SimpleDescriptor=descriptor)
        elif cluster == Cmd.Mgmt_NWK_Update_req:
            update = args["NwkUpdate"]
            if update.ScanDuration < zdo_t.NwkUpdate.CHANNEL_CHANGE_REQ:
                channels = list(update.ScanChannels)
                # A quiet bench: every channel reads the same low energy.
                self._zdo_answer(Cmd.Mgmt_NWK_Update_rsp, tsn, Status=zdo_t.Status.SUCCESS,
                                 ScannedChannels=update.ScanChannels, TotalTransmissions=0,
                                 TransmissionFailures=0, EnergyValues=[20] * len(channels))
        elif cluster == Cmd.IEEE_addr_req and args["NWKAddrOfInterest"] == COORDINATOR:
            self._zdo_answer(Cmd.IEEE_addr_rsp, tsn, Status=zdo_t.Status.SUCCESS,
                             IEEEAddr=self._eui(self.coordinator.ieee), NWKAddr=COORDINATOR,
                             NumAssocDev=None, StartIndex=None, NWKAddrAssocDevList=None)

    def _answer_address_request(self, data: bytes) -> None:
        if len(data) < 3:
            return
        short = int.from_bytes(data[1:3], "little")
        device = self.device_at(short)
        if device is None:
            return
        self._zdo_answer(zdo_t.ZDOCmd.IEEE_addr_rsp, data[0], src=short,
                         Status=zdo_t.Status.SUCCESS, IEEEAddr=self._eui(device.ieee),
                         NWKAddr=short, NumAssocDev=None, StartIndex=None,
                         NWKAddrAssocDevList=None)

    @staticmethod
    def _eui(ieee: int) -> zt.EUI64:
        return zt.EUI64(ieee.to_bytes(8, "little"))

    def _node_desc(self) -> zdo_t.NodeDescriptor:
        return zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Coordinator, complex_descriptor_available=0,
            user_descriptor_available=0, reserved=0, aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=0x8F, manufacturer_code=0x0000, maximum_buffer_size=80,
            maximum_incoming_transfer_size=160, server_mask=0x2C01,
            maximum_outgoing_transfer_size=160, descriptor_capability_field=0)

    def _simple_desc(self, endpoint: int) -> zdo_t.SizePrefixedSimpleDescriptor | None:
        registered = self.registrations.get(endpoint)
        if registered is None:
            return None
        return zdo_t.SizePrefixedSimpleDescriptor(
            endpoint=endpoint, profile=registered.ProfileId, device_type=registered.DeviceId,
            device_version=registered.DeviceVersion,
            input_clusters=list(registered.InputClusters),
            output_clusters=list(registered.OutputClusters))

    def _zdo_answer(self, cluster: int, tsn: int, *, src: int = COORDINATOR,
                    **fields: Any) -> None:
        if not self.mirror_zdo:
            return
        self.indicate(c.ZDO.MsgCbIncoming.Callback(
            Src=src, IsBroadcast=t.Bool.false, ClusterId=cluster, SecurityUse=0, TSN=tsn,
            MacDst=COORDINATOR, Data=t.Bytes(zdo_payload(cluster, **fields))))

    # ---- HAN -> host (HanEvents) ---------------------------------------------------
    def zcl_received(self, src: int, cluster: int, frame: zcl.ZclFrame) -> None:
        endpoint = self._asked.pop((src, cluster, frame.seq), None) or self.se_endpoint
        data = frame.encode()
        if len(data) > MAX_INCOMING:
            log.warning("NCP: frame too long for AF IncomingMsg; dropped", src=f"{src:04X}",
                        cluster=f"{cluster:#06x}", length=len(data), limit=MAX_INCOMING)
            return
        self.indicate(c.AF.IncomingMsg.Callback(
            GroupId=0x0000, ClusterId=cluster, SrcAddr=src, SrcEndpoint=DEVICE_ENDPOINT,
            DstEndpoint=endpoint, WasBroadcast=t.Bool.false, LQI=200,
            SecurityUse=t.Bool.false, TimeStamp=0, TSN=self._next_tsn(),
            Data=t.ShortBytes(data), MacSrcAddr=src, MsgResultRadius=29))

    def device_joined(self, ieee: int, short: int) -> None:
        self.joined[ieee] = short
        if self.on_join is not None:
            self.on_join(ieee, short)
        log.info("NCP: device joined", ieee=f"{ieee:016X}", short=f"{short:04X}")
        eui = self._eui(ieee)
        self.indicate(c.ZDO.TCDevInd.Callback(SrcNwk=short, SrcIEEE=eui, ParentNwk=COORDINATOR))
        if self.mirror_zdo:
            self.indicate(c.ZDO.MsgCbIncoming.Callback(
                Src=short, IsBroadcast=t.Bool.true, ClusterId=zdo_t.ZDOCmd.Device_annce,
                SecurityUse=0, TSN=self._next_tsn(), MacDst=0xFFFF,
                Data=t.Bytes(zdo_payload(zdo_t.ZDOCmd.Device_annce, NWKAddr=short,
                                         IEEEAddr=eui, Capability=0x80))))

    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) % 256
        return self._tsn
