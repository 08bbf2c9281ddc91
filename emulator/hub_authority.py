"""The hub's check of a signed command before it is carried out.

The target verifies: a command for the CHF is checked by the hub against its
own slots; one for a device is delivered to it as a management operation
(:data:`mgmt.AUTHORISE`) just before the command, and the device
checks it against its slots. The hub computes the command's action and digest
itself from the command it is about to carry out, so a signature made for
another command (or another device) does not verify. A refusal ends the
command with its own outcome and never reaches the command's handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import credentials as creds
from . import mgmt
from .devices import CHF
from .headend import Command, OutcomeStatus, Refused

if TYPE_CHECKING:
    from .hub import CommsHub

#: The device's answer to an authorisation -> the command's outcome.
OUTCOMES = {creds.WRONG_SIGNER: OutcomeStatus.WRONG_SIGNER,
            creds.WRONG_ROLE: OutcomeStatus.WRONG_ROLE,
            creds.STALE_COUNTER: OutcomeStatus.STALE_COUNTER}


async def authorise(hub: CommsHub, ieee: int, kind: str, command: Command) -> None:
    """Return when the command's target accepts its authorisation; else raise Refused."""
    auth = command.authorisation
    assert auth is not None
    if auth.role not in mgmt.ROLES or len(auth.signature) != creds.SIGNATURE_LEN \
            or not 0 < auth.counter < 2**32:
        raise Refused(f"malformed authorisation for role {auth.role!r}",
                      OutcomeStatus.BAD_ARGUMENT)
    action = creds.action_of(command.op, command.args)
    digest = creds.command_digest(command.op, command.args)
    if kind == CHF:
        status, why = hub.credentials.check(hub.ieee, auth.role, action, auth.counter, digest,
                                            auth.signature)
        if status != mgmt.OK:
            hub._log(creds.EVENT_AUTHORISATION_REFUSED, f"authorisation refused: {why}",
                     security=True)
    else:
        from .hub_services import _tunnel

        status, _ = await _tunnel(hub, ieee, mgmt.AUTHORISE, creds.encode(
            auth.role, action, auth.counter, digest, auth.signature))
        why = mgmt.STATUS_TEXT.get(status, f"status {status}")
    if status == mgmt.OK:
        return
    outcome = OUTCOMES.get(status, OutcomeStatus.REFUSED)
    raise Refused(f"{auth.role} authorisation refused: {why}", outcome, status)
