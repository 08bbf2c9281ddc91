"""s1bench's management operations, carried in Tunneling cluster Transfer Data.

SMETS1 credential and service management has no Smart Energy 1.x ZCL
command; real SMETS1 devices use manufacturer protocols. s1bench carries its
own small operations in the SE Tunneling cluster (0x0704) so the frames stay
real ZigBee that Wireshark dissects. Op codes start at 0x10 so Wireshark's
GBCS heuristic (0x01 GET, 0x02 GET-RESPONSE, 0x03 PUT) does not misread them;
a capture shows them as Tunneling "Transfer Data" with raw data.

The operations run in a tunnel the hub asks each device for (Request Tunnel,
SE 1.x Tunneling) with ProtocolID 200, the first of the manufacturer-defined
ids (200-254; 0-6 name DLMS/COSEM, IEC 61107, ANSI C12, M-Bus, SML,
ClimateTalk and GB-HRGP), and :data:`MANUFACTURER_CODE`, so the tunnel can
never be taken for a GB-HRGP (GBCS) one.

Credentials travel as public keys (the compressed P-256 point of the
certificate placed in a slot), never as a private half; a device identifies
what it holds by the key's fingerprint. A critical command reaches a device
after an :data:`AUTHORISE` operation carrying the slot holder's signature
over it (:mod:`credentials`), which the device checks before it acts.
"""

from __future__ import annotations

#: Data: role, then the new key's compressed P-256 point (33 bytes; a public key,
#: see :mod:`credentials`) or, from older callers, a 32-byte certificate digest.
UPDATE_CREDENTIAL = 0x10
READ_CREDENTIALS = 0x11
CONFIGURE_ALERT = 0x12
JOIN_SERVICE = 0x13
UNJOIN_SERVICE = 0x14
BOOST_CONFIG = 0x15
AUX_LOAD = 0x16
READ_BOOST = 0x17
#: A signed authorisation for the command that follows (see :mod:`credentials`).
AUTHORISE = 0x18
RESPONSE = 0x80

OK = 0
FAILED = 1
NOT_AUTHORISED = 2
UNSUPPORTED = 3
REFUSED = 4
#: An authorisation refused: its signature does not verify under the slot's key,
#: the slot's role may not authorise the command, or its counter is not new.
WRONG_SIGNER = 5
WRONG_ROLE = 6
STALE_COUNTER = 7

STATUS_TEXT = {OK: "success", FAILED: "failed", NOT_AUTHORISED: "not authorised",
               UNSUPPORTED: "unsupported", REFUSED: "refused",
               WRONG_SIGNER: "wrong signer", WRONG_ROLE: "wrong role",
               STALE_COUNTER: "stale or replayed counter"}

#: DUIS RemotePartyRole values (schema type RemotePartyRole) and their slot numbers.
ROLES = {"Supplier": 1, "NetworkOperator": 2, "ACB": 3, "Recovery": 4, "Root": 5,
         "TransCoS": 6, "LoadController": 7}
#: The slots a SMETS1 device is built with; others appear when first written.
INITIAL_ROLES = ("Supplier", "NetworkOperator", "ACB")
ROLE_NAMES = {v: k for k, v in ROLES.items()}
#: Request Tunnel's ProtocolID for s1bench's operations: manufacturer-defined.
PROTOCOL_ID = 200
#: The manufacturer code sent with it: a test code (Matter keeps 0xFFF1-0xFFF4 for test
#: vendors), chosen so as not to claim a real vendor's ZigBee code.
MANUFACTURER_CODE = 0xFFF1
#: The largest Transfer Data either side takes (both say so in the tunnel exchange).
MAX_TRANSFER = 128


def request(op: int, data: bytes = b"") -> bytes:
    return bytes([op]) + data


def response(op: int, status: int, data: bytes = b"") -> bytes:
    return bytes([op | RESPONSE, status]) + data
