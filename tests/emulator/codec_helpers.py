"""Codec test helpers: fixed keys, published vectors, an independent CRC, sample frames."""

from __future__ import annotations

import pytest
from s1bench.emulator import aps, mmo, nwk
from s1bench.emulator.codec_errors import CodecError

KEY = bytes.fromhex("D5B0FA35205689C01C537AAC93E6D9ED")
OTHER_KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
HUB_IEEE = 0x00DB120000000000
DEV_IEEE = 0x00DB120000000003

# Published install-code vectors (ZigBee application notes; also used by bellows,
# zigbee-herdsman, TI Z-Stack samples): code with CRC (little-endian) -> link key.
INSTALL_CODE_VECTORS = [
    ("83FED3407A939723A5C639B26916D505C3B5", "66B6900981E1EE3CA4206B6B861C02BB"),
    ("83FED3407A939723A5C639FF4C12", "58C1828CF7F1C3FE29E7B1024AD84BFA"),
    ("11223344556677884AF7", "41618FC0C83B0E14A589954B16E31466"),
]


def kermit(data: bytes) -> int:
    """CRC-16/KERMIT written out bit by bit from its catalogue definition.

    Polynomial 0x1021 processed MSB-first on bit-reversed input with init 0,
    then the register reflected: the 802.15.4 FCS (ITU-T CRC-16).
    """
    reg = 0
    for byte in data:
        for bit in range(8):  # LSB of each octet goes first on air
            incoming = (byte >> bit) & 1
            top = (reg >> 15) & 1
            reg = (reg << 1) & 0xFFFF
            if top ^ incoming:
                reg ^= 0x1021
    return int(f"{reg:016b}"[::-1], 2)


def expect_codec_error(layer: str, fn, *args, **kwargs) -> CodecError:
    with pytest.raises(CodecError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.layer == layer, f"{err} reported by {err.layer}, expected {layer}"
    assert isinstance(err.offset, int) and err.offset >= 0
    assert err.reason
    return err


def with_fcs(body: bytes) -> bytes:
    return body + kermit(body).to_bytes(2, "little")


def sample_nwk(**overrides) -> nwk.NwkFrame:
    base = dict(frame_type=nwk.FRAME_DATA, dst=0x0001, src=0x0000, radius=30, seq=9,
                payload=b"\x00\x01\x02\x07\x01\x09\x01\x05hello", src_ieee=HUB_IEEE,
                secured=True, frame_counter=0x01020304, sec_source=HUB_IEEE, key_seq=3)
    base.update(overrides)
    return nwk.NwkFrame(**base)


def install_code_keys() -> tuple[bytes, bytes]:
    code = bytes.fromhex(INSTALL_CODE_VECTORS[0][0])
    link = mmo.link_key_from_install_code(code)
    return link, mmo.key_transport_key(link)


def sample_transport_key() -> tuple[aps.TransportKey, bytes]:
    _, ktk = install_code_keys()
    tk = aps.TransportKey(counter=0x17, network_key=KEY, key_seq=2, dest_ieee=DEV_IEEE,
                          source_ieee=HUB_IEEE, frame_counter=0x2A)
    return tk, tk.encode(ktk)
