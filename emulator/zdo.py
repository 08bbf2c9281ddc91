"""ZigBee Device Objects (profile 0x0000, endpoint 0): the commands the hub uses.

Mgmt_Permit_Joining_req's PermitDuration is one byte: since ZigBee PRO R21
0xFF is read as 0xFE (254 s), so a longer window must be re-sent. That is the
root of the 255 s limit behind Testing Issue 91342 (DOMAIN.md, HAN facts).
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec_errors import CodecError, need

LAYER = "zbee_zdp"
DEVICE_ANNCE = 0x0013
MGMT_LEAVE_REQ = 0x0034
MGMT_PERMIT_JOINING_REQ = 0x0036
MGMT_LEAVE_RSP = 0x8034
MGMT_PERMIT_JOINING_RSP = 0x8036
MAX_PERMIT_DURATION = 0xFE  # R21: 0xFF means 254 s, not "forever"

NAMES = {
    DEVICE_ANNCE: "Device_annce",
    MGMT_LEAVE_REQ: "Mgmt_Leave_req",
    MGMT_LEAVE_RSP: "Mgmt_Leave_rsp",
    MGMT_PERMIT_JOINING_REQ: "Mgmt_Permit_Joining_req",
    MGMT_PERMIT_JOINING_RSP: "Mgmt_Permit_Joining_rsp",
}


@dataclass(slots=True)
class ZdoMessage:
    cluster: int
    tsn: int
    fields: dict[str, int]

    def encode(self) -> bytes:
        f = self.fields
        c = self.cluster
        if c == MGMT_PERMIT_JOINING_REQ:
            duration = f["duration"]
            if not 0 <= duration <= MAX_PERMIT_DURATION:
                raise ValueError(f"PermitDuration {duration} is outside 0..{MAX_PERMIT_DURATION}")
            return bytes([self.tsn, duration, f.get("tc_significance", 1)])
        if c in (MGMT_PERMIT_JOINING_RSP, MGMT_LEAVE_RSP):
            return bytes([self.tsn, f.get("status", 0)])
        if c == DEVICE_ANNCE:
            return (bytes([self.tsn]) + f["nwk"].to_bytes(2, "little")
                    + f["ieee"].to_bytes(8, "little") + bytes([f.get("capability", 0x80)]))
        if c == MGMT_LEAVE_REQ:
            return bytes([self.tsn]) + f["ieee"].to_bytes(8, "little") + bytes([f.get("flags", 0)])
        raise ValueError(f"ZDO cluster {c:#06x} not supported")

    @classmethod
    def decode(cls, cluster: int, data: bytes, base: int = 0) -> ZdoMessage:
        try:
            need(LAYER, data, 0, 1, "ZDO transaction sequence")
            tsn = data[0]
            if cluster == MGMT_PERMIT_JOINING_REQ:
                need(LAYER, data, 0, 3, "Mgmt_Permit_Joining_req")
                return cls(cluster, tsn, {"duration": data[1], "tc_significance": data[2]})
            if cluster in (MGMT_PERMIT_JOINING_RSP, MGMT_LEAVE_RSP):
                need(LAYER, data, 0, 2, "ZDO status")
                return cls(cluster, tsn, {"status": data[1]})
            if cluster == DEVICE_ANNCE:
                need(LAYER, data, 0, 12, "Device_annce")
                return cls(cluster, tsn, {"nwk": int.from_bytes(data[1:3], "little"),
                                          "ieee": int.from_bytes(data[3:11], "little"),
                                          "capability": data[11]})
            if cluster == MGMT_LEAVE_REQ:
                need(LAYER, data, 0, 10, "Mgmt_Leave_req")
                return cls(cluster, tsn, {"ieee": int.from_bytes(data[1:9], "little"),
                                          "flags": data[9]})
            raise CodecError(LAYER, 0, f"ZDO cluster {cluster:#06x} not supported")
        except CodecError as exc:
            exc.shift(base)
            raise


def permit_durations(total_seconds: int, limit: int = MAX_PERMIT_DURATION) -> list[int]:
    """Split a join window into PermitDuration values, none above ``limit``."""
    if total_seconds <= 0:
        return []
    out = [limit] * (total_seconds // limit)
    if total_seconds % limit:
        out.append(total_seconds % limit)
    return out
