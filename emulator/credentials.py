"""Credential slots that authorise: public keys, signed authorisations, their checks.

A SMETS1 device's credential slot (supplier, network operator, management
(ACB)) holds the public key of the certificate placed there. A critical
command reaches the device with an :class:`Authorisation`: the holder of a
slot's private key signs (ECDSA P-256, SHA-256) the device's EUI, the
slot's role, what the command does (its *action*), a per-signer counter and
a digest of the command itself. The device verifies it against its slot and
refuses, each for its own reason and with a security-log entry:

* a signature that does not verify under the slot's key (a wrong signer,
  e.g. a key rotated out of the slot, or a command altered on the way),
* a role whose slot may not issue this action (a network operator switching
  the supply off),
* a counter not above the last one the slot accepted (a replay).

Replacing a slot's key resets its counter floor: the new key's holder counts
from the start, and nothing signed with the old key verifies any more.

What a device reads back (6.24.1) is still a fingerprint, now of the slot's
public key (SHA-256 of its compressed point), so every DUIS response keeps
its shape. No private key exists on this side: the DCC's key holders are in
:mod:`s1bench.harness.dcc.authority`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from . import mgmt

#: Domain separation: an authorisation signature is good for nothing else.
SIGNED_CONTEXT = b"s1bench-authorisation-v1"
PUBLIC_KEY_LEN = 33  # X9.62 compressed P-256 point
SIGNATURE_LEN = 64  # r || s, 32 bytes each
DIGEST_LEN = 32

# What a signed command does, as the device checks it against the slot's rights.
ACTION_SUPPLY = 0x01
ACTION_SUPPLIER_CRITICAL = 0x02
#: Replace the credential in a slot: ACTION_CREDENTIAL | the slot's role number.
ACTION_CREDENTIAL = 0x10

_CREDENTIAL_ALL = frozenset(ACTION_CREDENTIAL | n for n in mgmt.ROLES.values())
#: Which actions each slot's holder may authorise. The supplier runs supply and
#: its own critical commands and may replace its own credential (6.23); the
#: network operator only its own credential; the DCC's access control broker
#: (ACB) replaces any credential (migration, rotation, rollback) and may send
#: the DCC's critical housekeeping, but never switches a supply.
RIGHTS: dict[str, frozenset[int]] = {
    "Supplier": frozenset({ACTION_SUPPLY, ACTION_SUPPLIER_CRITICAL,
                           ACTION_CREDENTIAL | mgmt.ROLES["Supplier"]}),
    "NetworkOperator": frozenset({ACTION_CREDENTIAL | mgmt.ROLES["NetworkOperator"]}),
    "ACB": frozenset({ACTION_SUPPLIER_CRITICAL, *_CREDENTIAL_ALL}),
}

#: Head-end commands that replace a slot's credential, and the role argument naming it.
CREDENTIAL_OPS = {"update_credential": "RemotePartyRole", "change_of_supplier": None,
                  "replace_party_credentials": "RemotePartyRole"}

# The device's answers to an authorisation (mgmt statuses; see mgmt.STATUS_TEXT).
ACCEPTED = mgmt.OK
WRONG_SIGNER = mgmt.WRONG_SIGNER
WRONG_ROLE = mgmt.WRONG_ROLE
STALE_COUNTER = mgmt.STALE_COUNTER

#: Security-log event of a refused authorisation. No public source here lists the
#: GBCS code for it, so s1bench uses the next id after its credential events
#: (0x8F1C replaced, 0x8F1D device certificate, 0x8F1E key pair) and says why
#: in the entry's data.
EVENT_AUTHORISATION_REFUSED = 0x8F1F


def action_of(op: str, args: dict[str, Any]) -> int:
    """What a head-end command does, in the terms a slot's rights are written in."""
    if op == "change_supply":
        return ACTION_SUPPLY
    if op in CREDENTIAL_OPS:
        name = CREDENTIAL_OPS[op]
        role = str(args.get(name)) if name else "Supplier"
        return ACTION_CREDENTIAL | mgmt.ROLES.get(role, 0)
    return ACTION_SUPPLIER_CRITICAL


def command_digest(op: str, args: dict[str, Any]) -> bytes:
    """SHA-256 over the command's canonical form: its name and sorted arguments.

    Arguments starting ``__`` are the harness's own (never DUIS leaves) and
    are left out, except the public key a credential update carries: that
    is the command, and signing it stops a new key being swapped in. The
    form is each value's ``repr`` (str, int, bool, datetime, bytes: all
    stable), cheaper than JSON on a path every critical command takes.
    """
    parts = [op]
    for key in sorted(args):
        if key.startswith("__") and key != "__public_key":
            continue
        parts.append(f"{key}={args[key]!r}")
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def signed_message(ieee: int, role: str, action: int, counter: int, digest: bytes) -> bytes:
    """The bytes an authorisation's signature covers."""
    return (SIGNED_CONTEXT + ieee.to_bytes(8, "big") + bytes([mgmt.ROLES[role], action])
            + counter.to_bytes(4, "big") + digest)


@dataclass(frozen=True, slots=True)
class Authorisation:
    """A slot holder's signature on one command for one device.

    ``signature`` is r || s. It carries no key: the device has the key.
    """

    role: str
    counter: int
    signature: bytes

    def __repr__(self) -> str:
        return f"Authorisation(role={self.role!r}, counter={self.counter})"


def fingerprint_of(public_key: bytes) -> str:
    """The public identifier of a slot's key, as 6.24.1 reads it back."""
    return hashlib.sha256(public_key).hexdigest()[:16].upper()


def public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.CompressedPoint)


@lru_cache(maxsize=4096)
def _verifier(public_key: bytes) -> ec.EllipticCurvePublicKey:
    """One key object per distinct key: a fleet's slots share a few keys."""
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)


def key_from_certificate(text: str) -> bytes | None:
    """The P-256 public key of a base64 DER (or PEM) certificate, if the text is one."""
    raw = text.encode()
    try:
        cert = x509.load_pem_x509_certificate(raw) if text.lstrip().startswith("-----") \
            else x509.load_der_x509_certificate(base64.b64decode(raw, validate=True))
    except (ValueError, binascii.Error):
        return None
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return None
    return public_bytes(key)


def known_key(fp: str) -> bytes | None:
    """The pre-migration SMSO's key with this fingerprint: what a rollback restores by name."""
    return _smso_by_fingerprint().get(fp.upper())


@lru_cache(maxsize=1)
def _smso_by_fingerprint() -> dict[str, bytes]:
    keys = (public_key_for(smso_label(role)) for role in mgmt.ROLES)
    return {fingerprint_of(key): key for key in keys}


#: The order n of the P-256 base point (SEC 2): a private scalar lies in 1..n-1.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derive_scalar(label: str) -> int:
    """A private scalar from a label (SHA-256, reduced into 1..n-1): seeded, deterministic."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (P256_ORDER - 1) + 1


@lru_cache(maxsize=64)
def public_key_for(label: str) -> bytes:
    """The public half of the P-256 key derived from ``label`` (the private half is dropped).

    Used for keys whose private half nobody on this side holds: the
    pre-migration operator's (see :func:`smso_label`) and stand-ins for
    certificate text that is not a certificate.
    """
    key = ec.derive_private_key(derive_scalar(label), ec.SECP256R1())
    return public_bytes(key.public_key())


def smso_label(role: str) -> str:
    """Key-derivation label of the pre-migration SMSO's key for a role.

    An operator has one key per role for all its devices, not one per run:
    it is a fixed label, so every device built by any run starts with the
    same SMSO keys and the DCC side can hold their private halves too.
    """
    return f"s1bench:smso:{role}"


class CredentialSlots(dict[str, str]):
    """A device's credential slots: role -> fingerprint, read as before.

    Beside the fingerprints it keeps each slot's public key, its counter
    floor and what the last accepted authorisation grants. A slot written with a bare digest (a
    certificate the emulator cannot read) has a fingerprint but no key:
    nothing verifies under it.
    """

    __slots__ = ("accepted", "floors", "grant", "keys")

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, bytes] = {}
        self.floors: dict[str, int] = {}
        #: What the last accepted authorisation lets the device do: (action, the
        #: command it was spent on, None until then).
        self.grant: tuple[int, bytes | None] | None = None
        #: The last authorisation accepted: its retransmission is answered again, not refused.
        self.accepted: bytes | None = None

    def place(self, role: str, public_key: bytes) -> str:
        """Put a key in a slot: the old key stops verifying and the counter starts over.

        Placing the key the slot already holds changes nothing (a repeated
        update must not reopen the counter to replays).
        """
        fp = fingerprint_of(public_key)
        if self.keys.get(role) == public_key:
            return fp
        self[role] = fp
        self.keys[role] = public_key
        self.floors.pop(role, None)
        return fp

    def authorised(self, action: int, command: bytes) -> bool:
        """May the device act on this command? Only under the grant of an accepted authorisation.

        The grant is spent on the first command of its action; the same
        command sent again (the hub's retransmission when no answer came) is
        still covered, any other is not. A new authorisation replaces it.
        """
        grant = self.grant
        if grant is None or grant[0] != action:
            return False
        if grant[1] is None:
            self.grant = (action, command)
            return True
        return grant[1] == command

    def place_digest(self, role: str, digest: bytes) -> str:
        """A credential known only by its digest: a fingerprint and no key."""
        fp = digest.hex()[:16].upper()
        self[role] = fp
        self.keys.pop(role, None)
        self.floors.pop(role, None)
        return fp

    def check(self, ieee: int, role: str, action: int, counter: int, digest: bytes,
              signature: bytes) -> tuple[int, str]:
        """Verify one authorisation: (status, why). Accepting raises the slot's floor.

        Whatever an earlier authorisation granted ends here: a refused one
        leaves the device with no grant at all.
        """
        self.grant = None
        key = self.keys.get(role)
        if key is None:
            return WRONG_SIGNER, f"no {role} key in the slot"
        try:
            r, s = (int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            _verifier(key).verify(encode_dss_signature(r, s),
                                  signed_message(ieee, role, action, counter, digest),
                                  ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return WRONG_SIGNER, f"signature does not verify under the {role} key {self[role]}"
        if action not in RIGHTS.get(role, frozenset()):
            return WRONG_ROLE, f"the {role} may not authorise action {action:#04x}"
        floor = self.floors.get(role, 0)
        if counter <= floor:
            return STALE_COUNTER, f"{role} counter {counter} is not above {floor}"
        self.floors[role] = counter
        self.grant = (action, None)
        return ACCEPTED, "authorised"


def initial_slots(ieee: int) -> CredentialSlots:
    """The slots as the pre-migration operator left them: its public key per role."""
    slots = CredentialSlots()
    for role in mgmt.INITIAL_ROLES:
        slots.place(role, public_key_for(smso_label(role)))
    return slots


def encode(role: str, action: int, counter: int, digest: bytes, signature: bytes) -> bytes:
    """An authorisation as the hub sends it: role, action, counter, command digest, signature.

    103 bytes: within the 128-byte transfer the Tunneling cluster's tunnel
    takes (longer than one 802.15.4 frame's payload; the emulator sends a
    long transfer as one frame, as it does a long Publish Event Log). One
    exchange, not two, because every signed command pays for it.
    """
    return (bytes([mgmt.ROLES[role], action]) + counter.to_bytes(4, "big") + digest
            + signature)


AUTHORISATION_LEN = 6 + DIGEST_LEN + SIGNATURE_LEN


def take(slots: CredentialSlots, ieee: int, body: bytes) -> tuple[int, str]:
    """A device's handling of an authorisation: (status, why)."""
    if len(body) != AUTHORISATION_LEN or body[0] not in mgmt.ROLE_NAMES:
        return mgmt.FAILED, "malformed authorisation"
    if body == slots.accepted:
        # The hub sends it again when our answer was lost: the same answer, no new grant.
        return ACCEPTED, "authorised"
    status, why = slots.check(ieee, mgmt.ROLE_NAMES[body[0]], body[1],
                              int.from_bytes(body[2:6], "big"), body[6:6 + DIGEST_LEN],
                              body[6 + DIGEST_LEN:])
    if status == ACCEPTED:
        slots.accepted = body
    return status, why
