"""Install codes and key derivation: CRC-16/X-25, AES-MMO hash, HMAC-MMO.

ZigBee spec Annex B.6 (Matyas-Meyer-Oseas over AES-128) turns an install code
into the trust-centre link key; B.1.4 keyed hashes derive the key-transport
(0x00) and key-load (0x02) keys from a link key. Facts from DOMAIN.md's HAN
section; the test vectors in tests come from public ZigBee application notes.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .crc import crc16_reflected

BLOCK = 16
VALID_INSTALL_CODE_LENGTHS = (8, 10, 14, 18)


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (reflected 0x1021, init and xorout 0xFFFF) used on install codes."""
    return crc16_reflected(data, 0xFFFF) ^ 0xFFFF


def with_crc(code: bytes) -> bytes:
    """Append the CRC little-endian, as an install code is printed on a device."""
    return code + crc16_x25(code).to_bytes(2, "little")


def check_install_code(code: bytes) -> None:
    """Raise ValueError unless the code has a valid length and CRC."""
    if len(code) not in VALID_INSTALL_CODE_LENGTHS:
        raise ValueError(
            f"install code is {len(code)} bytes; expected one of "
            f"{', '.join(map(str, VALID_INSTALL_CODE_LENGTHS))} (code + 2-byte CRC)"
        )
    body, crc = code[:-2], int.from_bytes(code[-2:], "little")
    if crc16_x25(body) != crc:
        raise ValueError("install code CRC does not match")


def _aes_block(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def aes_mmo_hash(message: bytes) -> bytes:
    """AES-MMO hash with ZigBee's padding (bit '1', zeros, 16-bit bit length)."""
    bit_len = len(message) * 8
    if bit_len >= 1 << 16:
        raise ValueError("AES-MMO messages of 8 KiB or more are not needed here")
    padded = message + b"\x80"
    while len(padded) % BLOCK != BLOCK - 2:
        padded += b"\x00"
    padded += bit_len.to_bytes(2, "big")
    digest = bytes(BLOCK)
    for i in range(0, len(padded), BLOCK):
        block = padded[i : i + BLOCK]
        digest = bytes(a ^ b for a, b in zip(_aes_block(digest, block), block, strict=True))
    return digest


def link_key_from_install_code(code: bytes) -> bytes:
    """The trust-centre link key: AES-MMO of the whole code, CRC included."""
    check_install_code(code)
    return aes_mmo_hash(code)


def hmac_mmo(key: bytes, message: bytes) -> bytes:
    """Keyed hash (FIPS 198 shape over AES-MMO) for the 16-byte keys ZigBee uses."""
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    return aes_mmo_hash(opad + aes_mmo_hash(ipad + message))


def key_transport_key(link_key: bytes) -> bytes:
    return hmac_mmo(link_key, b"\x00")


def key_load_key(link_key: bytes) -> bytes:
    return hmac_mmo(link_key, b"\x02")
