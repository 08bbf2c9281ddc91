"""Z-Stack 3.30 on a CC26x2, as far as a zigpy-znp host can tell: the MT commands.

Each request the host may send at connect, start, form, permit and data
time (HIL.md's table) has a handler returning the synchronous response and
any callbacks in the order Z-Stack sends them. The answers that steer the
host: SYS Ping lists APP_CNF (a Z-Stack 3 build), UTIL AssocFindDevice
returns the 36-byte record of an aligned-struct CC26x2, SYS Version carries
a CodeRevision after 20210708 (the current permit and endpoint logic), and
NV reads of the extended tables work (Z-Stack 3.30's NVRAM). A request with
no handler is answered as Z-Stack answers an unknown command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
import zigpy_znp.commands as c
import zigpy_znp.types as t
from s1bench.emulator import mmo
from zigpy_znp.frames import GeneralFrame
from zigpy_znp.types.nvids import NvSysIds, OsalNvIds

from .han_side import NcpHan
from .mt import MtError, not_recognised, parse_request
from .nvram import LEGACY, NvStore

log = structlog.get_logger("s1bench.ncp")

CODE_REVISION = 20240315
VERSION = {"TransportRev": 2, "ProductId": 1, "MajorRel": 2, "MinorRel": 7, "MaintRel": 1}
CAPABILITIES = (t.MTCapabilities.SYS | t.MTCapabilities.AF | t.MTCapabilities.ZDO
                | t.MTCapabilities.UTIL | t.MTCapabilities.APP_CNF)
#: UTIL AssocFindDevice's answer length on a CC26x2 (28 would mean a CC2531).
ASSOC_RECORD_LEN = 36
#: The most value bytes an NV read answer carries in one frame.
NV_CHUNK = 244

Responses = list[t.CommandBase]
Handler = Callable[[Any], Responses]


class ZStack:
    """The MT command set over an NV store and an emulated HAN."""

    def __init__(self, nvram: NvStore, han: NcpHan, send: Callable[[t.CommandBase], None]) -> None:
        self.nvram = nvram
        self.han = han
        self.send = send
        self.state = t.DeviceState.InitializedNotStarted
        self.primary_channels = t.Channels.NO_CHANNELS
        self.install_code_joins = False
        han.on_join = self._remember_device
        S, U, A, Z, P = c.SYS, c.UTIL, c.AF, c.ZDO, c.AppConfig
        self._handlers: dict[type, Handler] = {
            S.Ping.Req: lambda req: [S.Ping.Rsp(Capabilities=CAPABILITIES)],
            S.Version.Req: lambda req: [self._version()],
            S.ResetReq.Req: self._reset,
            S.SetTxPower.Req: lambda req: [S.SetTxPower.Rsp(StatusOrPower=0)],
            S.OSALNVLength.Req: self._osal_length,
            S.OSALNVRead.Req: self._osal_read,
            S.OSALNVReadExt.Req: self._osal_read,
            S.OSALNVWrite.Req: self._osal_write,
            S.OSALNVWriteExt.Req: self._osal_write,
            S.OSALNVItemInit.Req: self._osal_item_init,
            S.OSALNVDelete.Req: self._osal_delete,
            S.NVLength.Req: self._nv_length,
            S.NVRead.Req: self._nv_read,
            S.NVWrite.Req: self._nv_write,
            S.NVCreate.Req: self._nv_create,
            S.NVDelete.Req: self._nv_delete,
            U.AssocFindDevice.Req: lambda req: [
                U.AssocFindDevice.Rsp(Device=t.Bytes(b"\xff" * ASSOC_RECORD_LEN))],
            U.LEDControl.Req: lambda req: [U.LEDControl.Rsp(Status=t.Status.SUCCESS)],
            U.GetDeviceInfo.Req: self._device_info,
            A.Register.Req: self._af_register,
            A.Delete.Req: lambda req: [A.Delete.Rsp(Status=t.Status.SUCCESS)],
            A.DataRequestExt.Req: self._af_data_request,
            Z.MsgCallbackRegister.Req: self._zdo_mirror,
            Z.ExtRouteChk.Req: lambda req: [Z.ExtRouteChk.Rsp(Status=c.zdo.RoutingStatus.SUCCESS)],
            Z.ExtRouteDisc.Req: lambda req: [Z.ExtRouteDisc.Rsp(Status=t.Status.SUCCESS)],
            Z.MgmtPermitJoinReq.Req: self._permit_join,
            P.BDBStartCommissioning.Req: self._commissioning,
            P.BDBSetChannel.Req: self._set_channel,
            P.BDBAddInstallCode.Req: self._add_install_code,
            P.BDBSetJoinUsesInstallCodeKey.Req: self._install_code_joins,
            P.BDBSetTcRequireKeyExchange.Req: lambda req: [
                P.BDBSetTcRequireKeyExchange.Rsp(Status=t.Status.SUCCESS)],
        }

    # ---- dispatch ------------------------------------------------------------------
    def handle_frame(self, frame: GeneralFrame) -> None:
        try:
            request = parse_request(frame)
        except MtError as exc:
            log.warning("NCP: request dropped", reason=str(exc))
            if frame.header.type == t.CommandType.SREQ:
                code = (c.rpc_error.ErrorCode.InvalidCommandId
                        if frame.header not in c.COMMANDS_BY_ID
                        else c.rpc_error.ErrorCode.InvalidParameter)
                self.send(not_recognised(frame, code))
            return
        handler = self._handlers.get(type(request))
        if handler is None:
            log.info("NCP: no handler", command=type(request).__qualname__)
            if frame.header.type == t.CommandType.SREQ:
                self.send(not_recognised(frame, c.rpc_error.ErrorCode.InvalidCommandId))
            return
        # Requests are named, never dumped: NV writes and install codes carry keys.
        name = type(request).__qualname__
        log.debug("NCP: request", command=name)
        try:
            responses = handler(request)
        except Exception as exc:  # one bad request must not take the NCP down
            log.error("NCP: request failed", command=name, error=f"{type(exc).__name__}: {exc}")
            if frame.header.type == t.CommandType.SREQ:
                self.send(not_recognised(frame, c.rpc_error.ErrorCode.InvalidParameter))
            return
        for response in responses:
            self.send(response)

    # ---- SYS ---------------------------------------------------------------------
    def _version(self) -> t.CommandBase:
        return c.SYS.Version.Rsp(
            **VERSION, CodeRevision=CODE_REVISION,
            BootloaderBuildType=c.sys.BootloaderBuildType.NON_BOOTLOADER_BUILD,
            BootloaderRevision=0xFFFFFFFF)

    def _reset(self, req: Any) -> Responses:
        if self.nvram.startup_option() & t.StartupOptions.ClearState:
            self.nvram.factory_reset()
            self.han.forget_network()
            log.info("NCP: NVRAM cleared (startup option clear-state)")
        else:
            self.nvram.set_legacy(OsalNvIds.STARTUP_OPTION, b"\x00")
        if self.nvram.legacy(OsalNvIds.EXTADDR) is None:
            # Z-Stack puts the hardware address back when the item was deleted.
            self.nvram.set_legacy(OsalNvIds.EXTADDR, self.nvram.ieee.to_bytes(8, "little"))
        self.nvram.flush()
        self.state = t.DeviceState.InitializedNotStarted
        self.install_code_joins = False
        self.han.reset()
        return [c.SYS.ResetInd.Callback(Reason=t.ResetReason.PowerUp, **VERSION)]

    def _osal_length(self, req: Any) -> Responses:
        return [c.SYS.OSALNVLength.Rsp(ItemLen=self.nvram.length(LEGACY, req.Id))]

    def _osal_read(self, req: Any) -> Responses:
        value = self.nvram.read(LEGACY, req.Id, req.Offset, NV_CHUNK)
        status = t.Status.SUCCESS if value is not None else t.Status.INVALID_PARAMETER
        return [req.Rsp(Status=status, Value=t.ShortBytes(value or b""))]

    def _osal_write(self, req: Any) -> Responses:
        ok = self.nvram.write(LEGACY, req.Id, req.Offset, bytes(req.Value))
        return [req.Rsp(Status=t.Status.SUCCESS if ok else t.Status.INVALID_PARAMETER)]

    def _osal_item_init(self, req: Any) -> Responses:
        try:
            created = self.nvram.create(LEGACY, req.Id, req.ItemLen, bytes(req.Value))
        except ValueError:
            return [c.SYS.OSALNVItemInit.Rsp(Status=t.Status.NV_OPER_FAILED)]
        status = t.Status.NV_ITEM_UNINIT if created else t.Status.SUCCESS
        return [c.SYS.OSALNVItemInit.Rsp(Status=status)]

    def _osal_delete(self, req: Any) -> Responses:
        if self.nvram.length(LEGACY, req.Id) != req.ItemLen:
            return [c.SYS.OSALNVDelete.Rsp(Status=t.Status.NV_BAD_ITEM_LEN)]
        self.nvram.delete(LEGACY, req.Id)
        return [c.SYS.OSALNVDelete.Rsp(Status=t.Status.SUCCESS)]

    def _nv_length(self, req: Any) -> Responses:
        length = self.nvram.length(req.ItemId, req.SubId) if req.SysId == NvSysIds.ZSTACK else 0
        return [c.SYS.NVLength.Rsp(Length=length)]

    def _nv_read(self, req: Any) -> Responses:
        value = (self.nvram.read(req.ItemId, req.SubId, req.Offset, min(req.Length, NV_CHUNK))
                 if req.SysId == NvSysIds.ZSTACK else None)
        status = t.Status.SUCCESS if value is not None else t.Status.FAILURE
        return [c.SYS.NVRead.Rsp(Status=status, Value=t.ShortBytes(value or b""))]

    def _nv_write(self, req: Any) -> Responses:
        ok = req.SysId == NvSysIds.ZSTACK and self.nvram.write(
            req.ItemId, req.SubId, req.Offset, bytes(req.Value))
        return [c.SYS.NVWrite.Rsp(Status=t.Status.SUCCESS if ok else t.Status.FAILURE)]

    def _nv_create(self, req: Any) -> Responses:
        if req.SysId != NvSysIds.ZSTACK:
            return [c.SYS.NVCreate.Rsp(Status=t.Status.FAILURE)]
        try:
            created = self.nvram.create(req.ItemId, req.SubId, req.Length)
        except ValueError:
            return [c.SYS.NVCreate.Rsp(Status=t.Status.NV_OPER_FAILED)]
        return [c.SYS.NVCreate.Rsp(
            Status=t.Status.NV_ITEM_UNINIT if created else t.Status.SUCCESS)]

    def _nv_delete(self, req: Any) -> Responses:
        ok = req.SysId == NvSysIds.ZSTACK and self.nvram.delete(req.ItemId, req.SubId)
        return [c.SYS.NVDelete.Rsp(Status=t.Status.SUCCESS if ok else t.Status.NV_OPER_FAILED)]

    # ---- UTIL ---------------------------------------------------------------------
    def _device_info(self, req: Any) -> Responses:
        started = self.state == t.DeviceState.StartedAsCoordinator
        return [c.UTIL.GetDeviceInfo.Rsp(
            Status=t.Status.SUCCESS, IEEE=t.EUI64(self.nvram.ieee.to_bytes(8, "little")),
            NWK=0x0000 if started else 0xFFFE, DeviceType=t.DeviceTypeCapabilities(7),
            DeviceState=self.state, AssociatedDevices=[])]

    # ---- AF --------------------------------------------------------------------------
    def _af_register(self, req: Any) -> Responses:
        self.han.register(req)
        return [c.AF.Register.Rsp(Status=t.Status.SUCCESS)]

    def _af_data_request(self, req: Any) -> Responses:
        status = self.han.data_request(req)
        out: Responses = [c.AF.DataRequestExt.Rsp(Status=t.Status.SUCCESS)]
        if req.DstAddrModeAddress.mode in (t.AddrMode.NWK, t.AddrMode.IEEE) \
                and req.DstEndpoint != 0:
            out.append(c.AF.DataConfirm.Callback(Status=status, Endpoint=req.SrcEndpoint,
                                                 TSN=req.TSN))
        return out

    # ---- ZDO ----------------------------------------------------------------------------
    def _zdo_mirror(self, req: Any) -> Responses:
        self.han.mirror_zdo = True
        return [c.ZDO.MsgCallbackRegister.Rsp(Status=t.Status.SUCCESS)]

    def _permit_join(self, req: Any) -> Responses:
        out: Responses = [c.ZDO.MgmtPermitJoinReq.Rsp(Status=t.Status.SUCCESS)]
        if req.AddrMode == t.AddrMode.Broadcast or req.Dst == 0x0000:
            self.han.permit(int(req.Duration))
            out.append(c.ZDO.MgmtPermitJoinRsp.Callback(Src=0x0000, Status=t.ZDOStatus.SUCCESS))
        else:
            out.append(c.ZDO.MgmtPermitJoinRsp.Callback(Src=req.Dst, Status=t.ZDOStatus.SUCCESS))
        return out

    # ---- APPConfig (BDB) ---------------------------------------------------------------
    def _set_channel(self, req: Any) -> Responses:
        if req.IsPrimary:
            self.primary_channels = req.Channel
        return [c.AppConfig.BDBSetChannel.Rsp(Status=t.Status.SUCCESS)]

    def _commissioning(self, req: Any) -> Responses:
        P, Mode, Status = c.AppConfig, c.app_config.BDBCommissioningMode, \
            c.app_config.BDBCommissioningStatus
        out: Responses = [P.BDBStartCommissioning.Rsp(Status=t.Status.SUCCESS)]
        if not req.Mode & Mode.NwkFormation:
            out.append(P.BDBCommissioningNotification.Callback(
                Status=Status.Success, Mode=req.Mode, RemainingModes=Mode.NONE))
            return out
        restored = self.nvram.on_network
        if not restored:
            channels = self.primary_channels or t.Channels.from_channel_list([11])
            self.nvram.form(channels)
            out += [c.ZDO.StateChangeInd.Callback(State=t.DeviceState.StartingAsCoordinator),
                    P.BDBCommissioningNotification.Callback(
                        Status=Status.InProgress, Mode=Mode.NwkSteering,
                        RemainingModes=Mode.NwkFormation)]
        key = self.nvram.network_key()
        if key is None:
            raise ValueError("the NVRAM holds a network but no active network key")
        self.state = t.DeviceState.StartedAsCoordinator
        self.han.start(*key)
        self.han.restore(self.nvram.devices())
        out.append(c.ZDO.StateChangeInd.Callback(State=t.DeviceState.StartedAsCoordinator))
        if restored:
            out.append(P.BDBCommissioningNotification.Callback(
                Status=Status.NetworkRestored, Mode=Mode.NONE, RemainingModes=Mode.NwkFormation))
        out.append(P.BDBCommissioningNotification.Callback(
            Status=Status.Success, Mode=Mode.NwkFormation, RemainingModes=Mode.NONE))
        nib = self.nvram.nib()
        log.info("NCP: network " + ("restored" if restored else "formed"),
                 channel=nib.nwkLogicalChannel if nib else None,
                 pan=f"{nib.nwkPanId:04X}" if nib else None)
        return out

    def _add_install_code(self, req: Any) -> Responses:
        Format = c.app_config.InstallCodeFormat
        raw = bytes(req.InstallCode)
        try:
            if req.InstallCodeFormat == Format.KeyDerivedFromInstallCode:
                if len(raw) != 16:
                    raise ValueError(f"a derived key is 16 bytes, not {len(raw)}")
                key = raw
            else:
                key = mmo.link_key_from_install_code(raw)
        except ValueError as exc:
            log.warning("NCP: install code refused", ieee=str(req.IEEE), reason=str(exc))
            return [c.AppConfig.BDBAddInstallCode.Rsp(Status=t.Status.INVALID_PARAMETER)]
        self.han.add_install_key(int.from_bytes(req.IEEE.serialize(), "little"), key)
        return [c.AppConfig.BDBAddInstallCode.Rsp(Status=t.Status.SUCCESS)]

    def _remember_device(self, ieee: int, short: int) -> None:
        if not self.nvram.record_device(ieee, short):
            log.warning("NCP: address manager full; the join is not remembered",
                        ieee=f"{ieee:016X}")
        self.nvram.flush()

    def _install_code_joins(self, req: Any) -> Responses:
        self.install_code_joins = bool(req.BdbJoinUsesInstallCodeKey)
        return [c.AppConfig.BDBSetJoinUsesInstallCodeKey.Rsp(Status=t.Status.SUCCESS)]
