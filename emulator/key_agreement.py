"""The APS link keys Smart Energy traffic is secured with, and the modelled key establishment.

A device joins with the trust-centre link key derived from its install code
(ZigBee spec Annex B.6, :mod:`mmo`); Smart Energy then has it run
Certificate-Based Key Establishment (CBKE, SE 1.x Annex C) with the trust
centre, and the key they agree secures their SE cluster traffic from then on.

CBKE's ECMQV on sect163k1 is modelled, not computed (as devices.py does for
the meter-to-PPMID join of 8.7): the Initiate Key Establishment exchange goes
on air, carrying a modelled implicit certificate, and both sides derive the
agreed key deterministically as an AES-MMO hash over both EUI-64s and the
install-code key. Nobody without the install-code key can derive it, which
is the property the emulation needs; the real key would also depend on both
sides' ephemeral keys.

Devices already on the HAN when an installation is built ran their key
establishment at commissioning, before the run: their key is derived from the
installation's seed material (:func:`commissioned_link_key`), a cheap hash,
since a fleet builds thousands of such devices and most never send a frame.
"""

from __future__ import annotations

import hashlib

from . import mmo

#: The length of an SE 1.x implicit certificate (ECQV, sect163k1): public key
#: reconstruction data (22), subject EUI-64 (8), issuer (8), profile data (10).
CERTIFICATE_LEN = 48
_SUBJECT = slice(22, 30)
#: Issuer of the modelled certificates: "TESTSECA", as on SE test certificates.
TEST_ISSUER = b"TESTSECA"


def certificate(ieee: int) -> bytes:
    """A modelled implicit certificate naming ``ieee`` as its subject (big-endian, as sent)."""
    reconstruction = hashlib.sha256(f"cert:{ieee:016x}".encode()).digest()[:22]
    return reconstruction + ieee.to_bytes(8, "big") + TEST_ISSUER + bytes(10)


def certificate_subject(cert: bytes) -> int | None:
    """The subject EUI-64 of a certificate; None when it is too short to hold one."""
    if len(cert) != CERTIFICATE_LEN:
        return None
    return int.from_bytes(cert[_SUBJECT], "big")


def agreed_link_key(device_ieee: int, trust_centre_ieee: int, install_code_key: bytes) -> bytes:
    """The link key a device and the trust centre agree by (modelled) CBKE."""
    return mmo.aes_mmo_hash(b"s1bench CBKE" + device_ieee.to_bytes(8, "little")
                            + trust_centre_ieee.to_bytes(8, "little") + install_code_key)


def commissioned_link_key(seed_material: str) -> bytes:
    """The agreed key of a device that was on the HAN before the run began."""
    return hashlib.blake2s(seed_material.encode(), digest_size=16, person=b"s1linkky").digest()
