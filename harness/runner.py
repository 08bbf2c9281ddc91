"""Run packs against emulated installations and append every step to the record.

Each test gets a fresh installation and virtual clock seeded from (seed, DMC,
pack, test), so a test's result does not depend on what ran before it: a run
killed half-way and resumed with ``--resume`` produces the same record lines
(wall times aside) and the same ``summary.json`` as an uninterrupted run.
Every line is flushed and fsynced as it is written, so nothing recorded is
lost when a run dies.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s1bench.emulator import logs
from s1bench.emulator.medium_faults import fault_counts
from s1bench.firmware_profiles.quirk_base import QUIRKS, Quirk, make_quirk
from s1bench.harness.dcc.srvs import SRVS, ParamSpec

from s1bench import __version__

from .builder import DmcSpec, resolve_dmc
from .dcc import DccRole, service_logs, service_tariff
from .dcc.alerts import LEVEL_OF_CONCERN, alert_volumes
from .migration import MigrationState
from .packs import Pack, PackTest, Step
from .targets import EMULATOR, Target, TargetLost

#: Success-case parameters for SRVs that need some (the SRV pack's data).
SRV_CASES: dict[str, dict[str, Any]] = {
    "1.2.1": {"TOUPrice": 3221, "StandingCharge": 20000},
    "2.2": {"UTRN": "73946144332040217315"},
    "3.1": {"SupplierMessage": "s1bench DMCT"},
    "6.5": {"RMSExtremeOverVoltageThreshold": 287},
    "6.12": {"LowMediumPowerThreshold": 2300, "MediumHighPowerThreshold": 4600},
    "6.22": {"AlertCode": "8F84", "Setting": "Enable"},
    "6.15.1": {"RemotePartyRole": "Supplier"},
}
# The service families keep their own success cases beside their SRVs.
SRV_CASES.update(service_tariff.PACK_CASES)
SRV_CASES.update(service_logs.PACK_CASES)
#: Covered by the migration pack's join test (they need a joined PPMID).
SRV_PACK_EXCLUDES = ("8.7.1", "8.7.2", "8.8.1", "8.8.2", "8.11")
#: The in-memory HAN a run uses unless told otherwise (recorded in the run line).
DEFAULT_MEDIUM = {"latency": 0.005, "jitter": 0.0, "loss": 0.0}


class RecordWriter:
    """Append-only JSON lines, made durable a batch at a time (group commit).

    An fsync per line cost about 155 µs, eight lines a migration test: more
    than the test itself at fleet scale. Lines are buffered and written with
    one fsync at :meth:`commit`, which the runner calls once a test's lines
    are all there (and a fleet once per worker shard). A kill therefore loses
    at most the uncommitted batch, which is exactly what a resume re-runs: a
    test without its test line, an installation without its line. Nothing
    committed is lost, and nothing is written twice. ``write(..., commit=True)``
    makes one line durable at once (run headers).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = path.open("a", encoding="utf-8")
        self._pending: list[str] = []
        #: Lines made durable so far, and fsyncs that took (the benchmark reads both).
        self.committed = 0
        self.commits = 0

    def write(self, line: dict[str, Any], *, commit: bool = False) -> None:
        self._pending.append(json.dumps(line, sort_keys=True, default=str) + "\n")
        if commit:
            self.commit()

    def commit(self) -> None:
        if not self._pending:
            return
        self._fh.write("".join(self._pending))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.committed += len(self._pending)
        self.commits += 1
        self._pending.clear()

    def close(self) -> None:
        """Commit what is pending and close; after a crash nothing here runs, by design."""
        try:
            self.commit()
        finally:
            self._fh.close()


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a record; a torn last line (a crash) is ignored."""
    out = []
    if not path.exists():
        return out
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return out


def _cut_torn_tail(path: Path) -> None:
    """A crash can leave half a line; drop it so appends start on a fresh line."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)


def derive_seed(seed: int, *parts: str) -> int:
    return zlib.crc32("\x1f".join((str(seed), *parts)).encode())


def _installation_index(seed: int, dmc: str, pack: str, test: str) -> int:
    """The installation index (and so the EUI-64s) of one test of a run.

    With one index for every test, each installation of a run had the same
    EUIs, so a RequestID (originator, target EUI, counter) repeated across
    DMCs and tests and a run's log could not be untangled. Deriving it from
    the same names as the test's seed keeps a seeded run and a resumed one
    byte-identical. 32 bits make a clash within one run unlikely (about
    n^2 / 2^33 for n tests); a clash would repeat EUIs in the record and log
    and nothing else, as each test has its own medium.
    """
    return derive_seed(seed, dmc, pack, test, "installation")


def _issue_of(quirk: type[Quirk] | Quirk) -> dict[str, Any]:
    """A quirk's issue as the record keeps it: ``issue_meta()`` plus its sources.

    ``issue_meta`` says whether the issue counts against the threshold and
    whether s1bench assumed its severity; the report also has to say where a
    given severity comes from and which DCC-side mitigation answers it, and it
    reads nothing but the record, so both travel with the issue.
    """
    return {**quirk.issue_meta(), "severity_source": quirk.severity_source,
            "mitigation": quirk.mitigation}


def _new_issue(issue: str, title: str) -> dict[str, Any]:
    """A failure no known quirk explains: a new Testing Issue.

    It counts against the threshold, and its Severity 2 is s1bench's
    assumption (nobody has triaged it yet), which the record must say.
    """
    return {"id": issue, "title": title, "severity": 2, "kind": "testing-issue",
            "severity_assumed": True, "counts": True, "severity_source": "", "mitigation": ""}


def _quirk_for_issue(issue: str) -> dict[str, Any]:
    make_quirk("join_window_limit")  # fill the registry
    # 91339 and 91340 are separate quirks: each id names its own (kept apart in records).
    for cls in QUIRKS.values():
        if cls.issue == issue:
            return _issue_of(cls)
    return _new_issue(issue, f"Testing Issue {issue}")


def _explained_by(spec: DmcSpec, srv: str) -> dict[str, Any] | None:
    """The known Testing Issue a failing SRV on this DMC is, if a quirk it carries says so.

    The catalogue is public data (what the DCC knows of a DMC), so this reads
    no device state: a failure no known quirk explains is a new Testing Issue.
    """
    for quirk in _sorted_quirks(spec):
        if srv in quirk.affects or "*" in quirk.affects:
            return _issue_of(quirk)
    return None


def _named_by_reason(spec: DmcSpec, reason: str | None) -> dict[str, Any] | None:
    """The DCC names the defect behind a code-less response (91339 or 91340): use it.

    Both quirks affect every SRV, so the SRV alone cannot tell them apart.
    """
    if not reason:
        return None
    for quirk in _sorted_quirks(spec):
        if f"({quirk.issue})" in reason:
            return _issue_of(quirk)
    return None


def migration_issue(spec: DmcSpec, migration: MigrationState,
                    last: Any = None) -> dict[str, Any] | None:
    """The known Testing Issue a failed migration is, or None for a new one.

    ``last`` (the last exchange, when the caller has it) lets a failure the
    migration did not pin on an SRV be named by that exchange: its SRV, or
    the defect the DCC names in its reason (91339/91340).
    """
    srv = migration.failed_srv or (last.request["srv"] if last is not None else None)
    known = (_named_by_reason(spec, last.response.get("reason")) if last is not None else None) \
        or (_explained_by(spec, srv) if srv else None)
    # The mixed-Aclara defect rejects the request before any change (it used to
    # stall the migration): either way it is that issue.
    if known is None and migration.outcome in ("stalled", "rejected") and \
            "mixed_supplier_unidentified" in _dmc_quirks(spec):
        known = _issue_of(make_quirk("mixed_supplier_unidentified"))
    return known


def _sorted_quirks(spec: DmcSpec) -> list[Any]:
    """The DMC's quirks, DCC side and firmware, once each, in name order."""
    quirks = [*spec.dcc_quirks, *(q for i in spec.devices.values() for q in i.quirks)]
    unique = {q.name: q for q in sorted(quirks, key=lambda q: q.name)}
    return list(unique.values())


def _dmc_quirks(spec: DmcSpec) -> set[str]:
    names = {q.name for q in spec.dcc_quirks}
    for info in spec.devices.values():
        names.update(q.name for q in info.quirks)
    return names


def _service_srvs() -> list[tuple[str, str, tuple[str, ...]]]:
    """(SRV, DUIS name, device types) of every SRV the DCC defines, carried out or not.

    The SMETS1 service (MMC schema) and the SRVs s1bench knows: an SRV of the
    service s1bench cannot carry out yet still gets its test, which fails with
    the S1SP's reason instead of being left out.
    """
    from .dcc.service_catalogue import smets1_service

    rows: dict[str, tuple[str, tuple[str, ...]]] = {
        srv: (str(entry["name"]), tuple(entry["targets"]))  # type: ignore[arg-type]
        for srv, entry in smets1_service().items()}
    rows.update({srv: (spec.name, spec.targets) for srv, spec in SRVS.items()})
    return [(srv, *rows[srv]) for srv in sorted(
        rows, key=lambda s: [int(p) for p in s.split(".") if p])]


def expand(pack: Pack, spec: DmcSpec) -> list[PackTest]:
    """The tests of a pack for one DMC: each_srv becomes one test per SRV."""
    out: list[PackTest] = []
    for test in pack.tests:
        if any(step.kind == "reproduce" for step in test.steps) and \
                not all(step.kind == "reproduce" for step in test.steps):
            raise ValueError(f"test {test.name!r}: reproduce steps stand alone in a test")
        if test.steps[0].kind == "each_srv_negative":
            out += _negative_tests(test, spec)
            continue
        if test.steps[0].kind != "each_srv":
            out.append(test)
            continue
        for srv, name, targets in _service_srvs():
            if srv in SRV_PACK_EXCLUDES:
                continue
            device = next((t for t in targets if t in spec.devices
                           and srv in spec.devices[t].srvs), None)
            if device is None:
                continue
            params = SRV_CASES.get(srv, {})
            wrong = next((t for t in ("GSME", "ESME", "CHF") if t in spec.devices
                          and t not in targets), None)
            success = Step("srv", srv, device, params, {"response_code": "I0"},
                           label=f"{srv} {name} on the {device}")
            if wrong:
                reject = Step("srv", srv, wrong, params, {"response_code": "E11"},
                              label=f"{srv} to a {wrong}: rejected")
            else:
                reject = Step("srv", srv, "UNKNOWN", params, {"response_code": "E19"},
                              label=f"{srv} to an unknown device: rejected")
            before = tuple(
                Step("srv", first, first_device, first_params, {"response_code": "I0"},
                     label=f"{first} first: {srv} needs it")
                for first, first_device, first_params in service_logs.PACK_BEFORE.get(srv, ()))
            if srv in service_logs.PACK_SETTLE:
                before += (Step("wait", service_logs.PACK_SETTLE[srv],
                                label=f"let {service_logs.PACK_SETTLE[srv]:g} s pass"),)
            out.append(PackTest(f"{test.name} {srv} {name}", (*before, success, reject),
                                test.line, test.faults))
    return out


#: Users a wrong-role request is sent as, most plausible first: each is a real DCC user
#: whose role the DSP's table leaves out for some SRVs.
_WRONG_ROLE_USERS = ("supplier", "dno:ukpn", "load-controller", "other")


#: Valid parameters for SRVs the SRV pack leaves to the migration pack (it has no success
#: case for them), so that only the out-of-range one is wrong in a negative request.
_NEGATIVE_CASES: dict[str, dict[str, Any]] = {
    "8.11": {"DeviceID": "$PPMID", "InstallCode": "$PPMID.install_code",
             "RequestType": "Add", "JoinTimePeriod": 600},
}


def out_of_range(spec: ParamSpec) -> tuple[Any, str] | None:
    """A value the DSP must refuse for this parameter, and why; None for an unbounded one.

    Just past the bound (one above the maximum, one below the minimum, one
    character or byte too many or too few) so that a DSP checking the wrong
    bound, or none, lets it through and the test fails.
    """
    high, low = spec.maximum, spec.minimum
    if spec.kind == "int":
        if high is not None:
            return high + 1, f"above its maximum {high}"
        if low is not None:
            return low - 1, f"below its minimum {low}"
    elif spec.kind in ("str", "digits") and high is not None:
        char = "1" if spec.kind == "digits" else "x"
        return char * (high + 1), f"{high + 1} characters, above its maximum {high}"
    elif spec.kind == "digits" and low:
        return "1" * (low - 1), f"{low - 1} digits, below its minimum {low}"
    elif spec.kind == "hex" and high is not None:
        return "00" * (high + 1), f"{high + 1} bytes, above its maximum {high}"
    elif spec.kind == "enum" and spec.choices:
        return "s1bench-no-such-choice", f"not one of {', '.join(spec.choices)}"
    return None


def _negative_tests(test: PackTest, spec: DmcSpec) -> list[PackTest]:
    """each_srv_negative: per SRV s1bench carries out on the DMC, what the DSP must refuse.

    Each bounded parameter just out of range (E12, with the parameter named in
    the reason, so a rejection for a missing parameter is no pass), then the
    SRV from a user whose role the DSP's table does not allow (E2). The other
    parameters are the SRV pack's success case, so only the one fault is in
    the request.
    """
    from .dcc.dsp import default_users, load_role_table

    users, roles = default_users(), load_role_table()
    out: list[PackTest] = []
    for srv in sorted(SRVS, key=lambda s: [int(p) for p in s.split(".") if p]):
        srv_spec = SRVS[srv]
        device = next((t for t in srv_spec.targets if t in spec.devices
                       and srv in spec.devices[t].srvs), None)
        if device is None:
            continue
        case = {**SRV_CASES.get(srv, {}), **_NEGATIVE_CASES.get(srv, {})}
        steps = []
        for name, param in srv_spec.params.items():
            bad = out_of_range(param)
            if bad is None:
                continue
            value, why = bad
            steps.append(Step("srv", srv, device, {**case, name: value},
                              {"response_code": "E12", "reason": f"parameter {name}"},
                              label=f"{name} {why}: refused"))
        allowed = roles.get(srv, frozenset())
        wrong = next((name for name in _WRONG_ROLE_USERS if users[name].role not in allowed),
                     None)
        if wrong is not None:
            steps.append(Step("srv", srv, device, case,
                              {"response_code": "E2", "reason": f"may not send SRV {srv}"},
                              user=wrong, label=f"sent by {wrong} ({users[wrong].role}), a role "
                                                f"the DSP does not allow: refused"))
        if steps:
            out.append(PackTest(f"{test.name} {srv} {srv_spec.name}", tuple(steps), test.line,
                                test.faults))
    return out


@dataclass
class _Ctx:
    dcc: DccRole
    migration: MigrationState
    mitigations: bool


def _subst(ctx: _Ctx, value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    name, _, attr = value[1:].partition(".")
    eui = ctx.dcc.installation.eui_of(name)
    if attr == "install_code":
        code = ctx.dcc.installation.labels[eui].install_code
        return code.hex() if code else None
    return eui


def _check(step: Step, response: Any, ctx: _Ctx) -> list[str]:
    failures = []
    want = step.expect.get("response_code")
    if want is not None:
        allowed = want if isinstance(want, list) else [want]
        if response.response_code not in allowed:
            failures.append(f"response code {response.response_code or 'missing'}, "
                            f"expected {' or '.join(allowed)}"
                            + (f" ({response.reason})" if response.reason else ""))
        elif response.response_code == "I0" and response.device_success is False:
            # The DCC delivered the command (I0) but the device said no.
            failures.append(f"I0 but the device refused (MessageSuccess false): "
                            f"{response.reason or 'no reason given'}")
    reason = step.expect.get("reason")
    if reason is not None and reason not in (response.reason or ""):
        failures.append(f"reason {response.reason or 'none'!r} does not say {reason!r}")
    for key, value in (step.expect.get("body") or {}).items():
        got = response.body.get(key)
        if value == "present" and got is None:
            failures.append(f"body field {key} missing")
        elif value != "present" and got != value:
            failures.append(f"body field {key} = {got!r}, expected {value!r}")
    alerts = step.expect.get("alerts")
    if alerts:
        failures += _check_alerts(alerts, ctx)
    joined = step.expect.get("joined")
    if joined:
        eui = _subst(ctx, joined)
        rows = response.body.get("DeviceLog", [])
        if not any(r["DeviceID"] == eui and r["Joined"] for r in rows):
            failures.append(f"{joined} ({eui}) is not joined")
    return failures


def _check_alerts(want: dict[str, Any], ctx: _Ctx) -> list[str]:
    """Alerts the WAN side received (optionally one code, within the last N seconds)."""
    now = ctx.dcc.clock.now()
    window = want.get("within_s")
    seen = [a for a in ctx.dcc.installation.alerts
            if (not want.get("code") or a.code == str(want["code"]).upper())
            and (window is None or (now - a.raised_at).total_seconds() <= float(window))]
    what = f"alerts{' ' + str(want['code']) if want.get('code') else ''}" + (
        f" in the last {window} s" if window is not None else "")
    failures = []
    if "min" in want and len(seen) < int(want["min"]):
        failures.append(f"{len(seen)} {what}, expected at least {want['min']}")
    if "max" in want and len(seen) > int(want["max"]):
        failures.append(f"{len(seen)} {what}, expected at most {want['max']}")
    return failures


async def _run_srv(ctx: _Ctx, step: Step) -> tuple[dict[str, Any], list[str]]:
    params = {k: _subst(ctx, v) for k, v in step.params.items()}
    if ctx.mitigations and "clamp" in step.mitigate:
        for key, limit in step.mitigate["clamp"].items():
            if key in params and int(params[key]) > int(limit):
                params[key] = int(limit)

    user = step.user or ctx.dcc.dsp.sender_for(step.value)

    def make_request() -> Any:
        return ctx.dcc.request(step.value, step.device, user=user, **params)

    response = await ctx.dcc.submit(make_request(), user=user)
    tries = 0
    while response.response_code is None and ctx.mitigations and tries < 3:
        # 91339/40 mitigation: a response without a code is an unconfirmed
        # outcome; ask again rather than guess.
        tries += 1
        response = await ctx.dcc.submit(make_request(), user=user)
    failures = _check(step, response, ctx)
    if failures and ctx.mitigations and "retry_after_s" in step.mitigate:
        await ctx.dcc.clock.sleep(float(step.mitigate["retry_after_s"]))
        response = await ctx.dcc.submit(make_request(), user=user)
        failures = _check(step, response, ctx)
    ex = ctx.dcc.exchanges[-1]
    return {"request": ex.request, "response": ex.response}, failures


async def _run_step(ctx: _Ctx, step: Step, spec: DmcSpec, seed: int
                    ) -> tuple[str, dict[str, Any], list[str], dict[str, Any] | None]:
    """Returns (verdict, record fields, failures, testing issue)."""
    if step.kind == "wait":
        await ctx.dcc.clock.sleep(float(step.value))
        return "pass", {}, [], None
    if step.kind == "check":
        failures = _check_alerts(step.expect["alerts"], ctx) if "alerts" in step.expect else []
        issue = None
        if failures:
            meta = _quirk_for_issue(step.raises) if step.raises else _new_issue(
                f"NEW-check-{step.value}", f"Check {step.value} failed")
            issue = {**meta, "evidence": "; ".join(failures)}
        return ("fail" if failures else "pass"), {}, failures, issue
    if step.kind == "migrate":
        ok, text = await ctx.migration.step(step.value)
        failures = [] if ok else [text]
        want = step.expect.get("outcome")
        if want and ctx.migration.outcome != want:
            failures.append(f"outcome {ctx.migration.outcome}, expected {want}")
        issue = None
        if failures:
            issue = {**_new_issue(f"MIG-{step.value}", f"Migration step {step.value} failed"),
                     "evidence": "; ".join(failures)}
            # A failure a known quirk explains is raised as that Testing Issue.
            known = migration_issue(spec, ctx.migration)
            if known is not None:
                issue = {**known, "evidence": "; ".join(failures)}
        return ("fail" if failures else "pass"), {
            "migration": {"stage": step.value, "outcome": ctx.migration.outcome,
                          "evidence": text}}, failures, issue
    if step.kind == "srv":
        if step.device not in spec.devices and step.device != "UNKNOWN":
            return "skip", {}, [f"the DMC has no {step.device}"], None
        named = [*step.params.values(), step.expect.get("joined")]
        names = {v[1:].split(".")[0] for v in named if isinstance(v, str) and v.startswith("$")}
        missing = sorted(names - set(spec.devices))
        if missing:
            return "skip", {}, [f"the DMC has no {' or '.join(missing)}, which this step "
                                f"names (${missing[0]})"], None
        fields, failures = await _run_srv(ctx, step)
        issue = None
        if failures:
            meta = (_quirk_for_issue(step.raises) if step.raises
                    else _named_by_reason(spec, fields["response"].get("reason"))
                    or _explained_by(spec, step.value)
                    or _new_issue(f"NEW-{step.value}", f"SRV {step.value} failed"))
            issue = {**meta, "evidence": "; ".join(failures)}
        return ("fail" if failures else "pass"), fields, failures, issue
    if step.kind == "han_inject":
        from .han_inject import run_han_inject

        return await run_han_inject(ctx, step, spec)
    raise ValueError(f"step kind {step.kind} is run elsewhere")


def _run_reproduce(step: Step, spec: DmcSpec, seed: int, mitigations: bool, index: int
                   ) -> tuple[str, dict[str, Any], list[str], dict[str, Any] | None]:
    from .reproduce import SCENARIOS, reproduce

    scenario = SCENARIOS[step.value]
    if scenario.quirk not in _dmc_quirks(spec):
        return "skip", {}, [f"the DMC does not carry {scenario.quirk}"], None
    result = reproduce(step.value, "mitigated" if mitigations else "quirky", seed=seed,
                       dmc=spec.id, index=index)
    fields = {"scenario": {"verdict": result.verdict, "evidence": result.evidence,
                           "steps": len(result.steps)}}
    defect = result.verdict in ("reproduced", "not-mitigated")
    if not defect:
        return "pass", fields, [], None
    # The scenario names its quirk's issue_meta(); the severity's source comes along.
    return "fail", fields, [result.evidence], {**_issue_of(make_quirk(scenario.quirk)),
                                               **result.testing_issue,
                                               "evidence": result.evidence}


def run_test(spec: DmcSpec, pack: Pack, test: PackTest, seed: int, mitigations: bool,
             capture_dir: Path | None = None, *, medium: dict[str, float] | None = None,
             target: Target = EMULATOR) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One test on a fresh installation; returns (step lines, test line).

    Every log line emitted meanwhile carries the DMC, pack, test and virtual
    time (emulator.logs.bound_to_test), so one run's log can be read per test.
    Each step line also carries ``elapsed_s`` (on the test's clock) and the
    ``alerts`` (code and device type) that arrived during it, which is what
    ``s1bench diff`` compares between the emulator and a bench.

    When the ``target`` is lost (a bench's dongle), the step it happened in is
    recorded as an error and ``TargetLost`` is raised with ``steps`` (the lines
    recorded so far) attached; no test line is made, so a resume re-runs it.
    """
    test_seed = derive_seed(seed, spec.id, pack.id, test.name)
    index = _installation_index(seed, spec.id, pack.id, test.name)
    clock = target.new_clock()
    base = {"dmc": spec.id, "pack": pack.id, "test": test.name}
    steps: list[dict[str, Any]] = []
    issues: list[dict[str, Any]] = []

    def record(index: int, step: Step, verdict: str, fields: dict[str, Any],
               failures: list[str], started: float, at: str,
               timing: dict[str, Any] | None = None) -> None:
        steps.append({"kind": "step", **base, "index": index,
                      "step": step.label or f"{step.kind} {step.value}",
                      "request": fields.get("request"), "response": fields.get("response"),
                      **{k: v for k, v in fields.items() if k not in ("request", "response")},
                      "verdict": verdict, "failures": failures, "virtual_time": at,
                      **(timing or {}),
                      "wall_ms": round((time.perf_counter() - started) * 1000, 3)})

    if all(step.kind == "reproduce" for step in test.steps) and target.kind != "emulator":
        # A scenario builds its own emulated installation: there is nothing of the bench in it.
        for number, step in enumerate(test.steps):
            record(number, step, "skip", {}, [f"reproduce {step.value} runs on the emulator "
                                              "only"], time.perf_counter(), "")
        return _finish(steps, issues, base)
    if all(step.kind == "reproduce" for step in test.steps):
        # A scenario runs its own installation on its own virtual clock.
        with logs.bound_to_test(dmc=spec.id, pack=pack.id, test=test.name):
            for number, step in enumerate(test.steps):
                started = time.perf_counter()
                verdict, fields, failures, issue = _run_reproduce(step, spec, test_seed,
                                                                  mitigations, index)
                record(number, step, verdict, fields, failures, started, "")
                if issue:
                    issues.append(issue)
        return _finish(steps, issues, base)

    extra: dict[str, Any] = {}
    if test.faults:  # the test's own faults first: a frame suffers the first rule that hits
        medium = {**(medium or {}),
                  "faults": [*test.faults, *((medium or {}).get("faults") or [])]}
    capture = None
    if capture_dir is not None:
        safe = "".join(c if c.isalnum() else "-" for c in f"{spec.id}-{pack.id}-{test.name}")
        capture = str(capture_dir / f"{safe}.pcap")
        # Relative to the run folder, so the report can link it wherever the folder moves.
        extra["capture"] = f"{capture_dir.name}/{safe}.pcap"

    async def main() -> None:
        async with target.installation(spec, clock, seed=test_seed, index=index,
                                       capture=capture, medium_options=medium) as inst:
            dcc = DccRole(inst, spec.dcc_quirks, seed=test_seed, mitigations=mitigations)
            ctx = _Ctx(dcc, MigrationState(dcc), mitigations)
            try:
                for number, step in enumerate(test.steps):
                    started, began, seen = time.perf_counter(), clock.monotonic(), \
                        len(inst.alerts)
                    lost: TargetLost | None = None
                    try:
                        verdict, fields, failures, issue = await _run_step(ctx, step, spec,
                                                                           test_seed)
                    except TargetLost as exc:
                        verdict, fields, failures, issue, lost = "error", {}, [], None, exc
                    except Exception as exc:  # one broken step must not end the run
                        verdict, fields, issue = "error", {}, None
                        failures = [f"s1bench error: {type(exc).__name__}: {exc}"]
                    if lost is None:
                        try:
                            await target.verify()
                        except TargetLost as exc:
                            lost = exc
                    if lost is not None:
                        # What the DCC saw may be the dongle's absence, not the device's
                        # answer: an error naming the port, and no Testing Issue raised.
                        verdict, issue = "error", None
                        failures = [f"target lost during this step: {lost}", *failures]
                    record(number, step, verdict, fields, failures, started,
                           clock.now().isoformat(),
                           {"elapsed_s": round(clock.monotonic() - began, 6),
                            "alerts": _alerts_of(inst, seen)})
                    if lost is not None:
                        lost.steps = list(steps)
                        raise lost
                    if issue:
                        issues.append(issue)
                    if verdict in ("fail", "error"):
                        break
            finally:
                # Risk 11's monitoring: device alerts this installation received, per
                # calendar day; the report sets them against the level of concern.
                extra["alerts"] = {row["day"]: row["alerts"]
                                   for row in alert_volumes(inst.alerts, spec.id)}
                struck = fault_counts(inst.medium)
                if struck:
                    extra["faults"] = struck  # frames the schedule struck, by kind

    with logs.bound_to_test(dmc=spec.id, pack=pack.id, test=test.name, clock=clock):
        try:
            clock.run(main())
        except TargetLost as exc:
            exc.steps = exc.steps or list(steps)
            raise
    return _finish(steps, issues, base, extra)


def _alerts_of(inst: Any, seen: int) -> list[dict[str, str]]:
    """Alerts that arrived since ``seen``, by code and device type (EUIs differ per side)."""
    out = []
    for alert in inst.alerts[seen:]:
        label = inst.labels.get(str(alert.device).upper())
        out.append({"code": alert.code,
                    "device": label.device_type if label is not None else str(alert.device)})
    return out


def _finish(steps: list[dict[str, Any]], issues: list[dict[str, Any]], base: dict[str, Any],
            extra: dict[str, Any] | None = None
            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    # A test passes only when everything it exists to check ran: one skipped step
    # (the DMC lacks the device it names, or the quirk a scenario needs) makes the
    # whole test skipped, with that step's reason, rather than a pass that proved less.
    verdicts = {s["verdict"] for s in steps}
    verdict = ("fail" if verdicts & {"fail", "error"} else "skip" if "skip" in verdicts
               else "pass")
    return steps, {"kind": "test", **base, "verdict": verdict, "testing_issues": issues,
                   "virtual_time": steps[-1]["virtual_time"] if steps else None,
                   **(extra or {})}


def dmc_line(spec: DmcSpec) -> dict[str, Any]:
    dmc = (spec.meta or {}).get("dmc")
    threshold = {"1": 0, "2": 0, "3": 5, "4": 10}
    children: list[dict[str, str]] = []
    epcl = ""
    if dmc is not None:
        threshold = {str(k): v for k, v in dmc.testing_issue_threshold.items()}
        epcl = dmc.epcl_id
        if dmc.equivalence is not None:
            ranges = ", ".join(f"{t} {r}" for t, r in dmc.equivalence.ranges.items())
            children = [{"id": c, "reason": f"same models; firmware within {ranges}"}
                        for c in dmc.equivalence.children]
    return {"kind": "dmc", "dmc": spec.id, "title": spec.title, "status": spec.status,
            "epcl_id": epcl, "testing_issue_threshold": threshold, "children": children,
            "equivalence_parent": _equivalence_parent(dmc),
            # What the DCC knows this DMC carries, so a report can name the
            # mitigations a --mitigations run applied even for issues they kept away.
            "known_issues": [_issue_of(q) for q in _sorted_quirks(spec)],
            "devices": [{"device_type": t, "manufacturer": i.manufacturer, "model": i.model,
                         "firmware": i.firmware_version} for t, i in spec.devices.items()]}


def _equivalence_parent(dmc: Any) -> dict[str, str] | None:
    """The tested DMC a Substantively Equivalent child stands on, if this is one.

    A child is run only when named with --dmc; its report then says whose
    DMCT covers it, which the record must carry (reports read nothing else).
    """
    if dmc is None:
        return None
    from s1bench.firmware_profiles.catalogue import load_catalogue

    catalogue = load_catalogue()
    parent = catalogue.parent_of(dmc.id) if dmc.id in catalogue.dmcs else None
    if parent is None or parent.equivalence is None:
        return None
    ranges = ", ".join(f"{t} {r}" for t, r in parent.equivalence.ranges.items())
    return {"id": parent.id, "reason": f"same models; firmware within {ranges}"}


def run_packs(packs: list[Pack], dmc_ids: list[str], out: Path, *, seed: int = 0,
              mitigations: bool = False, capture: bool = False, resume: bool = False,
              progress: Callable[[int, int, str], None] | None = None,
              stop_after: int | None = None,
              medium: dict[str, float] | None = None,
              not_counted: list[str] | None = None,
              alert_level: int = LEVEL_OF_CONCERN, target: Target = EMULATOR) -> Path:
    """Run every pack on every DMC; returns the record path. Reports are separate.

    ``target`` builds each test's installation (the emulator unless a bench is
    given; the run line records a bench as ``target``). When the target is
    lost mid-run, the steps that ran are written, then ``TargetLost``
    propagates with no test line and no end line: the record says truly what
    ran, and ``--resume`` re-runs the interrupted test.

    ``progress(done, total, line)`` is called after each test (and once before
    the first, with done = tests already recorded) so a CLI can draw a bar.
    ``not_counted`` (Testing Issues agreed not to count against the threshold,
    seed 002) and ``alert_level`` (alerts per installation and day, risk 11)
    change only the reports, but they are recorded in the run line so the
    reports can be regenerated from the record alone.
    """
    out.mkdir(parents=True, exist_ok=True)
    medium = {**DEFAULT_MEDIUM, **(medium or {})}
    path = out / "record.jsonl"
    if resume and path.exists():
        _cut_torn_tail(path)
    existing = read_lines(path) if resume else []
    if not resume and path.exists():
        path.unlink()
    done = {(e["dmc"], e["pack"], e["test"]) for e in existing if e.get("kind") == "test"}
    seen_dmcs = {e["dmc"] for e in existing if e.get("kind") == "dmc"}
    writer = RecordWriter(path)
    ran = 0
    # Each DMC's tests, expanded once: counted for the progress bar, then run.
    plan = []
    for dmc_id in dmc_ids:
        spec = target.spec_for(resolve_dmc(dmc_id))
        plan.append((dmc_id, spec, [(pack, expand(pack, spec)) for pack in packs]))
    total = sum(len(tests) for _, _, expanded in plan for _, tests in expanded)
    finished = len(done)
    if progress:
        progress(finished, total, "")
    try:
        if not existing:
            scope = ",".join(dmc_ids + [p.id for p in packs]).encode()
            writer.write({"kind": "run", "run_id": f"s1bench-{seed}-{zlib.crc32(scope):08x}",
                          "seed": seed, "packs": [p.id for p in packs], "dmcs": dmc_ids,
                          "mitigations": mitigations, "version": __version__,
                          "medium": medium, "capture": capture,
                          "not_counted": list(dict.fromkeys(not_counted or [])),
                          "alert_level_of_concern": alert_level,
                          **({"target": target.describe()} if target.describe() else {}),
                          "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        for dmc_id, spec, expanded in plan:
            if dmc_id not in seen_dmcs:
                writer.write(dmc_line(spec))
            for pack, tests in expanded:
                for n, test in enumerate(tests, 1):
                    if (spec.id, pack.id, test.name) in done:
                        continue
                    if stop_after is not None and ran >= stop_after:
                        return path
                    try:
                        steps, test_line = run_test(spec, pack, test, seed, mitigations,
                                                    out / "captures" if capture else None,
                                                    medium=medium, target=target)
                    except TargetLost as exc:
                        for line in exc.steps:
                            writer.write(line)
                        writer.commit()
                        raise
                    for line in steps:
                        writer.write(line)
                    writer.write(test_line)
                    writer.commit()  # the test's lines, durable together
                    ran += 1
                    finished += 1
                    if progress:
                        progress(finished, total,
                                 f"[{dmc_id}] {pack.id} {n}/{len(tests)} {test.name}: "
                                 f"{test_line['verdict']}")
        writer.write({"kind": "end",
                      "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    finally:
        writer.close()
        target.close()
    return path
