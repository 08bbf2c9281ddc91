"""The reflected CRC-16 (polynomial 0x1021) that ZigBee uses twice.

The 802.15.4 FCS is its KERMIT form (init 0) and install codes carry its
X-25 form (init and final XOR 0xFFFF). ``binascii.crc_hqx`` computes the
unreflected CRC in C; reflecting the input bytes, the initial value and the
result turns it into the reflected one, with no per-byte Python loop.
"""

from __future__ import annotations

import binascii

_REVERSE_BYTE = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _reverse16(value: int) -> int:
    return (_REVERSE_BYTE[value & 0xFF] << 8) | _REVERSE_BYTE[value >> 8]


def crc16_reflected(data: bytes, init: int = 0) -> int:
    crc = binascii.crc_hqx(data.translate(_REVERSE_BYTE), _reverse16(init))
    return _reverse16(crc)


def crc16_reflected_bitwise(data: bytes, init: int = 0) -> int:
    """The textbook bit-by-bit form: the definition the fast one is tested against."""
    crc = init
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc
