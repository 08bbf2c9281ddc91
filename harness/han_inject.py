"""The ``han_inject`` pack step: a hostile HAN frame, then what the DCC can see of it.

Issue 13, point 4, as pack data: a frame with a bad MIC, one sealed under
the wrong network key, one from a device outside the CHF device log, or a
frame the target accepted earlier resent verbatim, must be dropped and
logged and never acted on. The frame itself is built and put on the air by
:mod:`s1bench.emulator.han_hostile`. What decides the step is read over the
head-end as a DCC user would read it, before and after the frame:

* acted on: the meter's supply status (SRV 7.4) for ``disable_supply``; for
  ``publish_alert`` to the CHF, the alerts the WAN side received with the
  forged code;
* logged: the target's security log (SRV 6.13, LogToRead Security) must
  have gained an entry with ``expect.security_log``.

A replayed frame needs a genuine one first, and the step makes it in the
open: for ``disable_supply`` it sends SRV 7.2 then 7.1 (the meter accepts the
disable, then is enabled again) while an attacker's recorder listens; for
``publish_alert`` the meter raises a real power alert, which the hub relays.
Every SRV the step sends is in its record line with its response code.

A bench's HAN is on air, not on a medium s1bench can write to: the step is
skipped there, with that reason.
"""

from __future__ import annotations

from typing import Any

from s1bench.emulator import han_hostile

from .pack_models import HAN_COMMANDS


class _SetupFailed(Exception):
    """An SRV the step needs (a read, the genuine command) was not carried out."""


def _default_command(device: str) -> str:
    return next(c for c, devices in HAN_COMMANDS.items() if device in devices)


async def run_han_inject(ctx: Any, step: Any, spec: Any
                         ) -> tuple[str, dict[str, Any], list[str], dict[str, Any] | None]:
    """Returns (verdict, record fields, failures, testing issue), as every runner step does."""
    from .runner import _new_issue, _quirk_for_issue

    inst = ctx.dcc.installation
    device = step.device
    if getattr(inst, "medium", None) is None:
        return "skip", {}, ["han_inject needs the emulated HAN: a bench's HAN is on air"], None
    if device not in spec.devices:
        return "skip", {}, [f"the DMC has no {device}"], None
    inject = step.value
    command = han_hostile.COMMANDS[inject.command or _default_command(device)]
    sent: list[dict[str, Any]] = []
    probe = _Probe(ctx, device, sent)
    try:
        if inject.kind == "replayed_counter":
            raw = await _genuine_capture(ctx, probe, device, command)
        else:
            raw = han_hostile.forge(inst, inject.kind, device, command)
        state_before = await probe.state(command)
        log_before = await probe.security_codes()
        han_hostile.transmit(inst, raw)
        await ctx.dcc.clock.sleep(1)
        state_after = await probe.state(command)
        log_after = await probe.security_codes()
    except (_SetupFailed, ValueError) as exc:
        fields = {"han_inject": {"kind": inject.kind, "command": command.name,
                                 "device": device}, "sent": sent}
        return "error", fields, [f"han_inject could not run: {exc}"], None
    acted = state_after != state_before
    gained = _new_codes(log_before, log_after)
    fields = {"han_inject": {"kind": inject.kind, "command": command.name, "device": device,
                             "acted_on": acted, "state_before": state_before,
                             "state_after": state_after, "security_log_gained": gained},
              "sent": sent}
    failures = []
    want_acted = step.expect.get("acted_on")
    if want_acted is not None and acted != want_acted:
        failures.append(f"the {device} {'acted' if acted else 'did not act'} on the "
                        f"{inject.kind} {command.name} frame ({state_before} -> {state_after})")
    want_code = step.expect.get("security_log")
    if want_code is not None and want_code not in gained:
        failures.append(f"the {device}'s security log gained no {want_code} entry (gained: "
                        f"{', '.join(gained) or 'nothing'})")
    issue = None
    if failures:
        meta = (_quirk_for_issue(step.raises) if step.raises
                else _new_issue(f"NEW-han-{inject.kind}",
                                f"HAN security: a {inject.kind} frame to the {device}"))
        issue = {**meta, "evidence": "; ".join(failures)}
    return ("fail" if failures else "pass"), fields, failures, issue


class _Probe:
    """Reads through the DCC, as a DCC user would, and keeps what it sent for the record."""

    def __init__(self, ctx: Any, device: str, sent: list[dict[str, Any]]) -> None:
        self.ctx, self.device, self.sent = ctx, device, sent

    async def srv(self, srv: str, device: str, **params: Any) -> Any:
        dcc = self.ctx.dcc
        user = dcc.dsp.sender_for(srv)
        response = await dcc.submit(dcc.request(srv, device, user=user, **params), user=user)
        self.sent.append({"srv": srv, "device": device, "response_code": response.response_code})
        if response.response_code != "I0" or response.device_success is False:
            raise _SetupFailed(f"SRV {srv} to the {device} answered "
                               f"{response.response_code or 'no code'} "
                               f"({response.reason or 'no reason given'})")
        return response

    async def state(self, command: han_hostile.Command) -> str:
        """What the command would change: the supply status, or the forged alert's count."""
        if command.name == "disable_supply":
            return str((await self.srv("7.4", self.device)).body.get("SupplyStatus"))
        code = f"{han_hostile.ALERT_CODE:04X}"
        count = sum(1 for a in self.ctx.dcc.installation.alerts if a.code == code)
        return f"{count} alert(s) {code} relayed"

    async def security_codes(self) -> list[str]:
        log = "GSMESecurity" if self.device == "GSME" else "Security"
        response = await self.srv("6.13", self.device, LogToRead=log)
        return [str(e.get("EventCode")) for e in response.body.get("Events") or []]


def _new_codes(before: list[str], after: list[str]) -> list[str]:
    """Codes the log gained (a multiset difference: a log may repeat a code)."""
    left = list(before)
    gained = []
    for code in after:
        if code in left:
            left.remove(code)
        else:
            gained.append(code)
    return gained


async def _genuine_capture(ctx: Any, probe: _Probe, device: str,
                           command: han_hostile.Command) -> bytes:
    """A frame carrying ``command`` that the target accepted, captured off the air."""
    inst = ctx.dcc.installation
    recorder = han_hostile.FrameRecorder()
    inst.medium.add_tap(recorder)
    key = inst.hub.network_key
    if key is None:
        raise _SetupFailed("the hub's HAN link holds no network key to read captures with")
    where = han_hostile.aim(inst, device, command)
    if command.name == "disable_supply":
        await probe.srv("7.2", device)
        await probe.srv("7.1", device)
    else:
        meter = next(d for d in inst.devices.values() if d.ieee == where.claimed_ieee)
        meter.raise_alert(han_hostile.ALERT_CODE, "power")
        await ctx.dcc.clock.sleep(1)
    raw = han_hostile.captured(recorder, key, where.target_short, command, where.link_key)
    if raw is None:
        raise _SetupFailed(f"no genuine {command.name} to the {device} was seen on the air")
    return raw
