"""The DCC side's key holders: who signs a critical command for a SMETS1 device, and with what.

In the SMETS1 service a user's DUIS signature ends at the DSP; what reaches
a device is signed by keys the DCC holds for each of the device's credential
slots (supplier, network operator, management (ACB)). Before migration the
slots hold the pre-migration SMSO's keys, which the DCC is given to take the
devices over; migration places the DCC's own keys, a rotation the next
generation of them. :class:`DccAuthority` tracks, per device and slot, which
key the DCC believes is there, signs with it (RFC 6979 deterministic
ECDSA, so a seeded run signs the same bytes) under a per-signer counter that
only rises, and learns from outcomes: a confirmed replacement moves the
belief to the new key, an unconfirmed one (110031) leaves it pending, and a
6.24.1 read-back settles it by fingerprint.

Private keys are derived from the run seed (SMSO keys from a fixed label, as
the devices' initial slots are) and kept inside this module: no function
returns one, the keys' ``repr`` shows no key, and nothing here logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from s1bench.emulator import credentials as creds
from s1bench.emulator.headend import Command, eui64_int

#: The slot a DUIS user's role signs with. The DCC's own processes (migration,
#: rotation, rollback) sign as the access control broker. Other roles (a load
#: controller, an unknown party) have no DCC-held key, so their commands go
#: unsigned and the device judges them by what it already does.
SIGNING_SLOT = {"Supplier": "Supplier", "NetworkOperator": "NetworkOperator", "DCC": "ACB"}
#: Credential replacements are the access control broker's to sign, whoever asked
#: (GBCS has the ACB authorise Update Security Credentials): the DSP has already
#: checked that the user may ask for the SRV.
CREDENTIAL_SLOT = "ACB"


@dataclass(frozen=True, slots=True)
class KeyRef:
    """Names one key pair without holding it: whose, for which slot, which generation."""

    holder: str  # "smso" (pre-migration operator) or "dcc"
    role: str
    generation: int

    def label(self, seed: int | str) -> str:
        if self.holder == "smso":
            return creds.smso_label(self.role)
        return f"s1bench:dcc:{seed}:{self.role}:{self.generation}"


@lru_cache(maxsize=256)
def _private(label: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(creds.derive_scalar(label), ec.SECP256R1())


@lru_cache(maxsize=256)
def _public(label: str) -> bytes:
    return creds.public_bytes(_private(label).public_key())


def _sign(label: str, message: bytes) -> bytes:
    der = _private(label).sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass
class DccAuthority:
    """One S1SP's keys, beliefs about the devices' slots, and signing counters."""

    seed: int | str = 0
    #: (device EUI, slot role) -> the key the DCC believes the slot holds.
    believed: dict[tuple[str, str], KeyRef] = field(default_factory=dict)
    #: (device EUI, slot role) -> a key sent in a replacement nobody confirmed (110031).
    pending: dict[tuple[str, str], KeyRef] = field(default_factory=dict)
    #: Last counter each key signed with: only ever rises.
    counters: dict[KeyRef, int] = field(default_factory=dict)
    _by_fingerprint: dict[str, KeyRef] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for role in ("Supplier", "NetworkOperator", "ACB"):
            self.public_key(KeyRef("smso", role, 0))

    # ---- keys --------------------------------------------------------------
    def public_key(self, ref: KeyRef) -> bytes:
        pub = _public(ref.label(self.seed))
        self._by_fingerprint.setdefault(creds.fingerprint_of(pub), ref)
        return pub

    def fingerprint(self, ref: KeyRef) -> str:
        return creds.fingerprint_of(self.public_key(ref))

    def by_fingerprint(self, fp: str) -> KeyRef | None:
        return self._by_fingerprint.get(fp.upper())

    def current(self, eui: str, role: str) -> KeyRef:
        """The key the DCC believes is in the slot: the SMSO's until it placed its own."""
        return self.believed.get((eui, role)) or KeyRef("smso", role, 0)

    def next_key(self, eui: str, role: str) -> KeyRef:
        """The DCC's key a replacement places: its first at migration, then the next one."""
        cur = self.current(eui, role)
        return KeyRef("dcc", role, cur.generation + 1 if cur.holder == "dcc" else 1)

    # ---- commands ----------------------------------------------------------
    def prepare(self, command: Command) -> KeyRef | None:
        """Give a credential replacement the public key it places; the key it is, or None."""
        name = creds.CREDENTIAL_OPS.get(command.op, False)
        if name is False:
            return None
        role = str(command.args.get(name)) if name else "Supplier"
        text = str(command.args.get("DigitalSigningCertificate") or "")
        if text.startswith("restore:"):
            ref = self.by_fingerprint(text[8:])
            if ref is None:
                return None  # a key the DCC never held: the hub places what it can
        else:
            ref = self.next_key(command.target, role)
        command.args["__public_key"] = self.public_key(ref)
        return ref

    def sign(self, command: Command, user_role: str | None) -> bool:
        """Sign a critical command with the key of its slot; False when no DCC key signs it.

        The slot is the sender's role's, except for credential replacements
        (:data:`CREDENTIAL_SLOT`).
        """
        slot = CREDENTIAL_SLOT if command.op in creds.CREDENTIAL_OPS \
            else SIGNING_SLOT.get(user_role or "")
        if slot is None:
            return False
        ref = self.current(command.target, slot)
        counter = self.counters.get(ref, 0) + 1
        self.counters[ref] = counter
        message = creds.signed_message(
            eui64_int(command.target), slot, creds.action_of(command.op, command.args), counter,
            creds.command_digest(command.op, command.args))
        command.authorisation = creds.Authorisation(slot, counter,
                                                    _sign(ref.label(self.seed), message))
        return True

    # ---- learning what the devices hold -----------------------------------
    def placed(self, command: Command, ref: KeyRef, confirmed: bool) -> None:
        """A replacement's outcome: confirmed moves the belief, unconfirmed leaves it pending."""
        key = (command.target, ref.role)
        if confirmed:
            self.believed[key] = ref
            self.pending.pop(key, None)
        else:
            self.pending[key] = ref

    def adopt_pending(self, eui: str, role: str) -> KeyRef | None:
        """The slot refused the key the DCC believed: if a replacement was left
        unconfirmed, it took after all (110031), and its key is the slot's."""
        ref = self.pending.pop((eui, role), None)
        if ref is not None:
            self.believed[(eui, role)] = ref
        return ref

    def read_back(self, eui: str, held: dict[str, Any]) -> None:
        """6.24.1's fingerprints settle what each slot holds, where the DCC knows the key."""
        for role, fp in held.items():
            ref = self.by_fingerprint(str(fp))
            if ref is not None and ref.role == role:
                self.believed[(eui, role)] = ref
                self.pending.pop((eui, role), None)
