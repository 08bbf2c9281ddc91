"""The emulated NCP's non-volatile memory: what a CC26x2 running Z-Stack 3.30 keeps.

zigpy-znp reads and writes network state only through NVRAM (the NIB, keys,
frame counters, address manager and link-key tables), so forming, resuming
and backing up work only if the store behaves like Z-Stack's: legacy (OSAL)
items addressed by one id, extended tables addressed by item and sub-id,
lengths fixed at creation, and ``OSALNVItemInit`` of a new item answering
NV_ITEM_UNINIT. A host that forms a network here and reconnects later
resumes it; with a file the store also survives the NCP's restart.

The values are s1bench's own: a factory image of an unformed coordinator
(:func:`factory_items`) and what formation writes (:meth:`NvStore.form`).
Key material is in here as on a dongle, so the store is never logged.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import zigpy_znp.const as const
import zigpy_znp.types as t
from zigpy_znp.types.nvids import ExNvIds, OsalNvIds

LEGACY = int(ExNvIds.LEGACY)
#: Table sizes: small, so that zigpy's table-wide reads and writes stay quick.
ADDRMGR_ENTRIES = 32
TCLK_ENTRIES = 8
APS_KEY_ENTRIES = 4
SEC_MATERIAL_ENTRIES = 4
LINK_KEY_TABLE_LEN = 20
MAX_ITEM_LEN = 4096

Key = tuple[int, int]
_NO_EUI = t.EUI64(bytes(8))
_EMPTY_EUI = t.EUI64(b"\xff" * 8)


def _ser(value: t.CStruct | t.uint8_t | bytes) -> bytes:
    """Serialise as a CC26x2 lays the value out in memory (aligned structs)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, t.CStruct):
        return value.serialize(align=True)
    return value.serialize()


def unformed_nib() -> t.NIB:
    """The network information base of a coordinator that has formed no network."""
    zero_key = t.NwkKeyDesc(KeySeqNum=0, Key=t.KeyData(bytes(16)))
    return t.NIB(
        SequenceNum=0, PassiveAckTimeout=5, MaxBroadcastRetries=2, MaxChildren=0,
        MaxDepth=20, MaxRouters=0, dummyNeighborTable=0, BroadcastDeliveryTime=30,
        ReportConstantCost=0, RouteDiscRetries=0, dummyRoutingTable=0, SecureAllFrames=1,
        SecurityLevel=5, SymLink=1, CapabilityFlags=0x8F, TransactionPersistenceTime=7,
        nwkProtocolVersion=2, RouteDiscoveryTime=5, RouteExpiryTime=30,
        nwkDevAddress=0xFFFE, nwkLogicalChannel=0, nwkCoordAddress=0xFFFE,
        nwkCoordExtAddress=t.EUI64(bytes(8)), nwkPanId=0xFFFF, nwkState=t.NwkState.NWK_INIT,
        channelList=t.Channels.NO_CHANNELS, beaconOrder=15, superFrameOrder=15,
        scanDuration=0, battLifeExt=0, allocatedRouterAddresses=0,
        allocatedEndDeviceAddresses=0, nodeDepth=0, extendedPANID=t.EUI64(bytes(8)),
        nwkKeyLoaded=t.Bool.false, spare1=zero_key, spare2=zero_key, spare3=0, spare4=0,
        nwkLinkStatusPeriod=60, nwkRouterAgeLimit=3, nwkUseMultiCast=t.Bool.false,
        nwkIsConcentrator=t.Bool.true, nwkConcentratorDiscoveryTime=120,
        nwkConcentratorRadius=10, nwkAllFresh=1, nwkManagerAddr=0x0000,
        nwkTotalTransmissions=0, nwkUpdateId=0)


def factory_items(ieee: int, rng: random.Random) -> dict[Key, bytes]:
    """NVRAM as Z-Stack leaves it after a clear-state reset: no network, settings kept."""
    eui = t.EUI64(ieee.to_bytes(8, "little"))
    legacy: dict[int, bytes] = {
        OsalNvIds.EXTADDR: _ser(eui),
        OsalNvIds.STARTUP_OPTION: _ser(t.uint8_t(0)),
        OsalNvIds.LOGICAL_TYPE: _ser(t.uint8_t(t.DeviceLogicalType.Coordinator)),
        OsalNvIds.CONCENTRATOR_ENABLE: b"\x01",
        OsalNvIds.CONCENTRATOR_DISCOVERY: bytes([120]),
        OsalNvIds.CONCENTRATOR_RC: b"\x01",
        OsalNvIds.SRC_RTG_EXPIRY_TIME: b"\xff",
        OsalNvIds.NWK_CHILD_AGE_ENABLE: b"\x00",
        OsalNvIds.BCAST_DELIVERY_TIME: bytes([30]),
        OsalNvIds.ZDO_DIRECT_CB: b"\x01",
        OsalNvIds.EXTENDED_PAN_ID: _ser(eui),
        OsalNvIds.APS_USE_EXT_PANID: bytes(8),
        OsalNvIds.NWK_ACTIVE_KEY_INFO: bytes(17),
        OsalNvIds.NWK_ALTERN_KEY_INFO: bytes(17),
        OsalNvIds.NWKKEY: bytes(24),
        OsalNvIds.BDBNODEISONANETWORK: b"\x00",
        OsalNvIds.PRECFGKEY: rng.randbytes(16),
        OsalNvIds.PRECFGKEYS_ENABLE: b"\x00",
        OsalNvIds.PANID: b"\xff\xff",
        OsalNvIds.CHANLIST: bytes(4),
        OsalNvIds.TCLK_SEED: rng.randbytes(16),
        OsalNvIds.APS_LINK_KEY_TABLE: b"\xff" * LINK_KEY_TABLE_LEN,
    }
    items: dict[Key, bytes] = {(LEGACY, int(k)): v for k, v in legacy.items()}
    empty_tclk = t.TCLKDevEntry(txFrmCntr=0, rxFrmCntr=0, extAddr=t.EUI64(bytes(8)),
                                keyAttributes=t.KeyAttributes.DEFAULT_KEY,
                                keyType=t.KeyType.NONE, SeedShift_IcIndex=0)
    empty_material = t.NwkSecMaterialDesc(FrameCounter=0, ExtendedPanID=t.EUI64(bytes(8)))
    tables = {
        ExNvIds.ADDRMGR: (ADDRMGR_ENTRIES, _ser(const.EMPTY_ADDR_MGR_ENTRY_ZSTACK3)),
        ExNvIds.TCLK_TABLE: (TCLK_ENTRIES, _ser(empty_tclk)),
        ExNvIds.APS_KEY_DATA_TABLE: (APS_KEY_ENTRIES, bytes(24)),
        ExNvIds.NWK_SEC_MATERIAL_TABLE: (SEC_MATERIAL_ENTRIES, _ser(empty_material)),
    }
    for item, (count, value) in tables.items():
        for sub in range(count):
            items[(int(item), sub)] = value
    return items


class NvStore:
    """Z-Stack's NV items, optionally mirrored to a JSON file."""

    def __init__(self, ieee: int, path: Path | None = None, *, seed: int = 0) -> None:
        self.ieee = ieee
        self.path = path
        self._rng = random.Random(f"ncp-nvram:{seed}:{ieee}")
        self.items: dict[Key, bytearray] = {}
        self._dirty = False
        if path is not None and path.exists():
            self._load(path)
        else:
            self.factory_reset()

    # ---- persistence ---------------------------------------------------------
    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            self.items = {(int(item, 16), int(sub, 16)): bytearray.fromhex(value)
                          for item, subs in raw.items() for sub, value in subs.items()}
        except (OSError, ValueError, AttributeError) as exc:
            raise ValueError(f"NCP NVRAM file {path}: cannot be read ({exc})") from None

    def flush(self) -> None:
        """Write the store to its file, if it has one and changed."""
        if self.path is None or not self._dirty:
            return
        out: dict[str, dict[str, str]] = {}
        for (item, sub), value in sorted(self.items.items()):
            out.setdefault(f"{item:04x}", {})[f"{sub:04x}"] = value.hex()
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(out, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o600)  # it holds the network key, as a dongle's flash does
        tmp.replace(self.path)
        self._dirty = False

    def factory_reset(self) -> None:
        """Clear network state (STARTUP_OPTION clear-state); the EUI stays."""
        self.items = {k: bytearray(v) for k, v in factory_items(self.ieee, self._rng).items()}
        self._dirty = True

    # ---- item access (the MT NV commands) -------------------------------------
    def length(self, item: int, sub: int) -> int:
        return len(self.items.get((item, sub), b""))

    def read(self, item: int, sub: int, offset: int, length: int = 248) -> bytes | None:
        value = self.items.get((item, sub))
        if value is None or offset > len(value):
            return None
        return bytes(value[offset : offset + length])

    def write(self, item: int, sub: int, offset: int, data: bytes) -> bool:
        value = self.items.get((item, sub))
        if value is None or offset + len(data) > len(value):
            return False
        value[offset : offset + len(data)] = data
        self._dirty = True
        return True

    def create(self, item: int, sub: int, length: int, initial: bytes = b"") -> bool:
        """Create an item; False when it already existed (Z-Stack leaves it as it was)."""
        if (item, sub) in self.items:
            return False
        if not 0 < length <= MAX_ITEM_LEN:
            raise ValueError(f"NV item length {length} is outside 1..{MAX_ITEM_LEN}")
        self.items[(item, sub)] = bytearray(initial[:length].ljust(length, b"\xff"))
        self._dirty = True
        return True

    def delete(self, item: int, sub: int) -> bool:
        self._dirty = True
        return self.items.pop((item, sub), None) is not None

    # ---- typed views ------------------------------------------------------------
    def legacy(self, nvid: int) -> bytes | None:
        value = self.items.get((LEGACY, nvid))
        return None if value is None else bytes(value)

    def set_legacy(self, nvid: int, value: bytes) -> None:
        self.items[(LEGACY, nvid)] = bytearray(value)
        self._dirty = True

    def nib(self) -> t.NIB | None:
        raw = self.legacy(OsalNvIds.NIB)
        if raw is None:
            return None
        nib, _ = t.NIB.deserialize(raw, align=True)
        return nib

    @property
    def on_network(self) -> bool:
        return self.legacy(OsalNvIds.BDBNODEISONANETWORK) == b"\x01" and self.nib() is not None

    def startup_option(self) -> int:
        raw = self.legacy(OsalNvIds.STARTUP_OPTION) or b"\x00"
        return raw[0]

    def network_key(self) -> tuple[bytes, int] | None:
        """The active network key and its sequence number, once a network is formed."""
        raw = self.legacy(OsalNvIds.NWK_ACTIVE_KEY_INFO)
        if raw is None or not self.on_network:
            return None
        desc, _ = t.NwkKeyDesc.deserialize(raw, align=True)
        return bytes(desc.Key), int(desc.KeySeqNum)

    # ---- the address manager: who is on the network ------------------------------
    def _addrmgr(self) -> list[tuple[int, t.AddrMgrEntry]]:
        out = []
        for (item, sub), raw in sorted(self.items.items()):
            if item == int(ExNvIds.ADDRMGR):
                entry, _ = t.AddrMgrEntry.deserialize(bytes(raw), align=True)
                out.append((sub, entry))
        return out

    def record_device(self, ieee: int, short: int) -> bool:
        """Note a joined device in the address manager, as Z-Stack does; False if full."""
        eui = t.EUI64(ieee.to_bytes(8, "little"))
        slots = self._addrmgr()
        free = [sub for sub, e in slots if e.extAddr == eui]
        free += [sub for sub, e in slots if e.extAddr in (_NO_EUI, _EMPTY_EUI)]
        if not free:
            return False
        entry = t.AddrMgrEntry(type=t.AddrMgrUserType.Security, nwkAddr=short, extAddr=eui)
        self.items[(int(ExNvIds.ADDRMGR), free[0])] = bytearray(_ser(entry))
        self._dirty = True
        return True

    def devices(self) -> list[tuple[int, int]]:
        """(IEEE, short) of every device the address manager holds as on the network."""
        out = []
        for _, entry in self._addrmgr():
            on_network = entry.type & (t.AddrMgrUserType.Assoc | t.AddrMgrUserType.Security)
            if on_network and entry.extAddr not in (_NO_EUI, _EMPTY_EUI) \
                    and entry.nwkAddr < 0xFFF8:
                out.append((int.from_bytes(entry.extAddr.serialize(), "little"),
                            int(entry.nwkAddr)))
        return out

    def form(self, channels: t.Channels) -> None:
        """What formation writes: a NIB, the pre-configured key made active, a frame counter."""
        pan_raw = self.legacy(OsalNvIds.PANID) or b"\xff\xff"
        pan = int.from_bytes(pan_raw, "little")
        if pan in (0xFFFF, 0xFFFE):
            pan = self._rng.randrange(0x0001, 0xFFF0)
            self.set_legacy(OsalNvIds.PANID, pan.to_bytes(2, "little"))
        epid_raw = self.legacy(OsalNvIds.APS_USE_EXT_PANID) or bytes(8)
        if epid_raw == bytes(8):
            epid_raw = self.legacy(OsalNvIds.EXTADDR) or bytes(8)
        channel_list = list(channels) or [11]
        nib = unformed_nib().replace(
            nwkDevAddress=0x0000, nwkCoordAddress=0x0000, nwkPanId=pan,
            nwkLogicalChannel=channel_list[0], channelList=t.Channels.from_channel_list(
                [channel_list[0]]), nwkState=t.NwkState.NWK_ROUTER,
            extendedPANID=t.EUI64(epid_raw), nwkKeyLoaded=t.Bool.true)
        self.set_legacy(OsalNvIds.NIB, _ser(nib))
        key = t.KeyData(self.legacy(OsalNvIds.PRECFGKEY) or self._rng.randbytes(16))
        active = t.NwkKeyDesc(KeySeqNum=0, Key=key)
        self.set_legacy(OsalNvIds.NWK_ACTIVE_KEY_INFO, _ser(active))
        self.set_legacy(OsalNvIds.NWK_ALTERN_KEY_INFO, _ser(active))
        self.set_legacy(OsalNvIds.NWKKEY, _ser(t.NwkActiveKeyItems(Active=active,
                                                                   FrameCounter=0)))
        material = t.NwkSecMaterialDesc(FrameCounter=0, ExtendedPanID=t.EUI64(epid_raw))
        self.items[(int(ExNvIds.NWK_SEC_MATERIAL_TABLE), 0)] = bytearray(_ser(material))
        self.set_legacy(OsalNvIds.BDBNODEISONANETWORK, b"\x01")
