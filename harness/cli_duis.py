"""`s1bench duis`: run DUIS Service Request XML files against one emulated installation.

Test engineers hold DUIS request files (the Reference Test Data Set
templates). Their RequestIDs name EUIs of *some other* installation, so each
request is retargeted onto the emulated installation of the chosen DMC before
it is submitted:

* the target device type is taken from ``SRVS[srv].targets``: the template
  target's own type when the template EUI follows the RTDS convention
  (``...-A0`` ESME, ``-A1`` GSME, ``-A2`` CHF, ``-A3`` GPF taken as the
  SMETS1 GSME, ``-A4`` PPMID) and that type is
  a valid target the installation has, else the first target type the
  installation has; originator and counter are kept;
* body parameters naming devices are mapped too: 8.11 ``DeviceID`` -> a late
  joiner (the IHD when the DMC has both, because the PPMID is joined during
  setup; else the PPMID or IHD) with ``InstallCode`` replaced by that device's
  label code when the template's would not match; 8.7.x/8.8.x
  ``OtherDeviceID`` -> the PPMID;
* an SRV the emulator does not implement is submitted anyway (to the hinted
  device type if present, else the hub) and answered E11 by the hub; a
  request whose target type the installation lacks is submitted with its
  original target and answered E19.

Requests whose success takes a device out of service (8.3 DecommissionDevice,
8.4 UpdateInventory, 8.14.3/8.14.4 hub returns:
:data:`~s1bench.harness.dcc.dsp_services.TAKES_OUT_OF_SERVICE`) are sent after
every other file, in their own order, so they do not turn the rest of a corpus
into E5s; index.json lists files in the order they were sent and names the
moved ones under ``"sent_last"``.

Before the files run, a DMC with a PPMID has it joined (8.11 Add with its
label install code, JoinTimePeriod 60, then 70 s of virtual time); this is a
recorded setup step.

Output (``--out``, default ``./duis-out``): ``<stem>.response.xml`` per input
(a schema-valid DUIS response), or ``<stem>.missing-code.json`` for a response
without a response code, and ``index.json``: ``{"dmc", "seed", "setup": [...],
"files": [...]}`` with one entry per input file.

What the run raised besides responses is written to ``alerts/`` as the DUIS
documents a user would receive (:mod:`s1bench.harness.dcc.alert_documents`):
device alerts (S1SP-signed SMETS1 device alerts), DCC alerts (the CoS loss
alert after each 6.23, unless 61224 drops it) and S1SP alerts (one per
response the S1SP wrote without a code). index.json lists them under
``"alerts"`` (file, kind, device, code, time) and explains s1bench's choices
for each kind under ``"alert_notes"``. Devices raise alerts on their own
only once migrated and only as virtual time passes (risk 11's Itron ESME),
so ``--migrated`` builds the installation as the DCC leaves it after
migration and ``--settle`` lets the clock run after the last request.

Exit 0 when every response carries a code (whatever it is), 1 when any lacks
one, 2 on bad input (a file that is not a DUIS request, an unknown DMC).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_common import (
    EXIT_BAD_INPUT,
    EXIT_NOT_MET,
    EXIT_OK,
    PANEL_RUN,
    BadInput,
    DmcOpt,
    SeedOpt,
    note,
    print_table,
    progress_bar,
    settings,
    writable_dir,
)
from .dcc import SECRET_PARAMS

#: RTDS template EUIs end in a byte naming the device type (00-DB-12-34-56-78-90-Ax).
_TEMPLATE_PREFIX = "00-DB-12-34-56-78-90-"
_TEMPLATE_TYPE_HINTS = {"A0": "ESME", "A1": "GSME", "A2": "CHF", "A3": "GSME", "A4": "PPMID"}
_SETUP_JOIN_PERIOD = 60
_SETUP_SLEEP = 70


def register(app: typer.Typer) -> None:
    app.command("duis", rich_help_panel=PANEL_RUN, epilog=(
        "Example:\n\n    s1bench duis ../shared/duis-templates/templates --dmc reference "
        "--out out/duis"))(duis)


def duis(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(
        metavar="FILE.xml...", help="DUIS request files; a folder stands for its *.xml files.")],
    dmc: DmcOpt = None,
    out: Annotated[Path | None, typer.Option(
        metavar="DIR", help="Output folder. [default: OUT/duis from settings, i.e. out/duis]")
    ] = None,
    seed: SeedOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print index.json, not a table.")
                       ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    keep_counters: Annotated[bool, typer.Option(
        help="Send each RequestID counter as written, so the DSP rejects repeats as replays. "
             "By default each file is a fresh request: its originator's next counter is used "
             "and index.json records both.")] = False,
    migrated: Annotated[bool, typer.Option(
        help="Build the installation already migrated (DCC credentials in place), as a DUIS "
             "user finds it; e.g. itron-active's ESME then raises power/voltage alerts.")
    ] = False,
    summary: Annotated[bool, typer.Option(
        help="Print coverage: SRVs carried out / in the DMC's service definition / in the "
             "corpus (index.json holds it either way).")] = False,
    settle: Annotated[float, typer.Option(
        metavar="SECONDS", min=0,
        help="Virtual seconds to keep the installation running after the last request, so "
             "alerts devices raise on their own arrive (written to OUT/alerts/).")] = 0.0,
) -> int:
    """Run DUIS Service Request XML files against one emulated installation of a DMC.

    Each request is retargeted onto the installation, run in order on the
    virtual clock, and answered with a DUIS Service Response; index.json
    says what was mapped and what came back. Alerts the run raised (device,
    DCC and S1SP alerts) are written to OUT/alerts/ and listed in index.json.
    """
    cfg = settings(ctx, dmc=dmc, seed=seed)
    return _run(files, cfg.dmc, out or cfg.out / "duis", cfg.seed, as_json, quiet,
                keep_counters, migrated=migrated, settle=settle, summary=summary)


def _srv_order(srv: str) -> list[int]:
    return [int(p) for p in srv.split(".") if p.isdigit()]


def _coverage(entries: list[dict[str, Any]], dcc: Any) -> dict[str, Any]:
    """SRVs carried out / in the DMC's service definition / in the corpus.

    Carried out: the S1SP reached a device for it (I0, whatever the device
    said). In the service definition: the DMC's devices list it and no DCC
    restriction leaves it out. The gap between the two is what s1bench owes.
    """
    from .dcc.service_catalogue import smets1_service

    corpus = {e["srv"] for e in entries}
    carried = {e["srv"] for e in entries
               if e.get("answered_by") == "s1sp" and e.get("response_code") == "I0"}
    inst = dcc.installation
    defined = set()
    for label in inst.labels.values():
        info = dcc.s1sp.device_info(label.device_type)
        for srv in (info.srvs if info is not None else ()):
            if not any(q.restricts(srv, label.device_type) for q in dcc.dcc_quirks):
                defined.add(srv)
    service = set(smets1_service())
    owed = sorted((defined & corpus & service) - carried, key=_srv_order)
    return {"carried_out": len(carried), "in_service_definition": len(defined & service),
            "in_corpus": len(corpus), "in_service_and_corpus": len(defined & corpus & service),
            "not_carried_out": owed}


def _print_coverage(cov: dict[str, Any]) -> None:
    print(f"SRVs carried out: {cov['carried_out']} / in the DMC's SMETS1 service definition: "
          f"{cov['in_service_definition']} / in the corpus: {cov['in_corpus']}")
    if cov["not_carried_out"]:
        print("in the service definition and the corpus but not carried out: "
              + ", ".join(cov["not_carried_out"]))


def _expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            out.extend(sorted(child for child in path.iterdir()
                              if child.is_file() and child.suffix.lower() == ".xml"))
        else:
            out.append(path)
    return out


def _template_hint(eui: str) -> str | None:
    eui = eui.upper()
    if eui.startswith(_TEMPLATE_PREFIX):
        return _TEMPLATE_TYPE_HINTS.get(eui[len(_TEMPLATE_PREFIX):])
    return None


def _types_present(inst: Any) -> set[str]:
    return {label.device_type for label in inst.labels.values()}


def _choose_type(srv: str, hint: str | None, present: set[str]) -> tuple[str | None, str]:
    """(device type to target, or None when it cannot be retargeted; how it was chosen)."""
    from s1bench.harness.dcc.srvs import CHF, SRVS

    spec = SRVS.get(srv)
    if spec is None:
        if hint in present:
            return hint, "SRV not implemented; template's device type"
        return CHF, "SRV not implemented; hub"
    if hint in spec.targets and hint in present:
        return hint, "template's device type"
    for device_type in spec.targets:
        if device_type in present:
            return device_type, f"first of SRV targets {'/'.join(spec.targets)}"
    return None, f"installation has none of {'/'.join(spec.targets)}"


def _label_code_hex(inst: Any, eui: str) -> str | None:
    label = inst.labels.get(eui)
    if label is None or not label.install_code:
        return None
    return label.install_code.hex().upper()


def _map_params(srv: str, params: dict[str, Any], inst: Any, present: set[str],
                joined_in_setup: set[str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Rewrite device-naming parameters; returns (params, {name: [from, to]})."""
    out = dict(params)
    changes: dict[str, list[Any]] = {}

    def put(name: str, value: Any) -> None:
        if out.get(name) != value:
            # Install codes are key material: the index says a code was swapped, not which.
            shown = ([f"<redacted {len(str(v)) // 2} bytes>" if v else v
                      for v in (out.get(name), value)] if name in SECRET_PARAMS
                     else [out.get(name), value])
            changes[name] = shown
            out[name] = value

    if srv == "8.11" and isinstance(out.get("DeviceID"), str):
        order = ["IHD", "PPMID"] if "PPMID" in joined_in_setup else ["PPMID", "IHD"]
        device_type = next((t for t in order if t in present), None)
        if device_type is not None:
            eui = inst.eui_of(device_type)
            put("DeviceID", eui)
            if str(out.get("RequestType", "Add")) == "Add":
                code = _label_code_hex(inst, eui)
                given = str(out.get("InstallCode", "")).strip().upper()
                if code is not None and given != code:
                    put("InstallCode", code)
    elif srv.startswith(("8.7.", "8.8.")) and "OtherDeviceID" in out and "PPMID" in present:
        put("OtherDeviceID", inst.eui_of("PPMID"))
    else:
        for name in ("DeviceID", "OtherDeviceID"):
            value = out.get(name)
            if isinstance(value, str):
                hint = _template_hint(value)
                if hint in present:
                    put(name, inst.eui_of(hint))
        listed = out.get("DeviceIDList")  # 11.1: a comma-separated list of EUI-64s
        if isinstance(listed, str):
            euis = [eui.strip() for eui in listed.split(",")]
            hints = [_template_hint(eui) for eui in euis]
            put("DeviceIDList", ",".join(inst.eui_of(hint) if hint in present else eui
                                         for eui, hint in zip(euis, hints, strict=True)))
    return out, changes


def _unique_stem(stem: str, used: set[str]) -> str:
    candidate, n = stem, 2
    while candidate.lower() in used:
        candidate, n = f"{stem}-{n}", n + 1
    used.add(candidate.lower())
    return candidate


def _run(files: list[Path], dmc_id: str, out: Path, seed: int, as_json: bool,
         quiet: bool, keep_counters: bool = False, *, migrated: bool = False,
         settle: float = 0.0, summary: bool = False) -> int:
    from s1bench.emulator.clock import VirtualClock

    from .builder import build_installation, resolve_dmc
    from .dcc import DccRole
    from .dcc.alert_documents import ALERT_NOTES, run_alert_documents, write_alert_documents
    from .dcc.documents import render_service_response
    from .dcc.dsp_services import TAKES_OUT_OF_SERVICE
    from .dcc.messages import RequestID, ServiceRequest
    from .dcc.signing import S1spSigner
    from .duis_xml import DuisError, parse_request, render_missing_code_note

    # 1. Read everything first: one bad file means nothing runs, nothing is written.
    paths = _expand([str(f) for f in files])
    if not paths:
        raise BadInput("no DUIS XML files given (folders held no *.xml)")
    requests = []
    for path in paths:
        try:
            requests.append(parse_request(path))
        except DuisError as exc:
            source = exc.source or str(path)
            where = f"{source}, line {exc.line}" if exc.line else source
            print(f"{where}: {exc.reason}", file=sys.stderr)
            return EXIT_BAD_INPUT
    moved = [r for r in requests if r.srv in TAKES_OUT_OF_SERVICE]
    if moved:
        requests = [r for r in requests if r.srv not in TAKES_OUT_OF_SERVICE] + moved
    try:
        spec = resolve_dmc(dmc_id)
    except (KeyError, ValueError) as exc:
        raise BadInput(f"--dmc {dmc_id!r}: {exc}") from None
    writable_dir(out, "--out")

    clock = VirtualClock()
    setup: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    responses: list[Any] = []
    roles: list[Any] = []

    async def main() -> None:
        inst = build_installation(spec, clock, seed=seed, enrolled=migrated)
        inst.start()
        dcc = DccRole(inst, spec.dcc_quirks, seed=seed)
        roles.append(dcc)
        counters: dict[str, int] = {}
        present = _types_present(inst)
        joined_in_setup: set[str] = set()
        try:
            if "PPMID" in present:
                ppmid = inst.eui_of("PPMID")
                code = _label_code_hex(inst, ppmid)
                request = dcc.request("8.11", "CHF", DeviceID=ppmid, RequestType="Add",
                                      JoinTimePeriod=_SETUP_JOIN_PERIOD, InstallCode=code or "")
                counters[request.request_id.originator] = request.request_id.counter
                response = await dcc.submit(request, user="supplier")
                await clock.sleep(_SETUP_SLEEP)
                joined_in_setup.add("PPMID")
                setup.append({"step": "join PPMID (8.11 Add with its label install code, "
                                      f"JoinTimePeriod {_SETUP_JOIN_PERIOD}, then "
                                      f"{_SETUP_SLEEP} s virtual)",
                              "request_id": str(request.request_id),
                              "response_code": response.response_code,
                              "reason": response.reason})
            for duis in requests:
                rid = duis.request_id
                hint = _template_hint(rid.target)
                device_type, why = _choose_type(duis.srv, hint, present)
                if device_type is None:
                    target = rid.target  # unknown here: the hub answers E19
                    params: dict[str, Any] = dict(duis.params)
                    changes: dict[str, list[Any]] = {}
                else:
                    target = inst.eui_of(device_type)
                    params, changes = _map_params(duis.srv, dict(duis.params), inst, present,
                                                  joined_in_setup)
                counter = rid.counter
                if not keep_counters:
                    counter = max(counters.get(rid.originator, 0), rid.counter - 1) + 1
                counters[rid.originator] = max(counters.get(rid.originator, 0), counter)
                request = ServiceRequest(RequestID(rid.originator, target, counter),
                                         duis.srv, params, duis.command_variant)
                entry: dict[str, Any] = {
                    "file": duis.source, "srv": duis.srv,
                    "original_target": rid.target, "emulated_target": target,
                    "emulated_device_type": device_type, "retarget": why,
                    "param_mapping": changes,
                    "counter": {"written": rid.counter, "sent": counter},
                }
                try:
                    response = await dcc.submit(request)
                except Exception as exc:  # one request must not stop the run
                    entry.update(response_code=None, reason=f"emulator error: {exc!r}",
                                 error=True)
                    response = None
                else:
                    entry.update(response_code=response.response_code, reason=response.reason,
                                 answered_by=response.answered_by,
                                 device_success=response.device_success)
                    if (duis.srv == "8.11" and response.ok
                            and params.get("RequestType", "Add") == "Add"):
                        # Let the join window run so the device can join before what follows.
                        await clock.sleep(int(response.body.get("JoinTimePeriod", 0) or 0) + 1)
                entries.append(entry)
                progress(len(entries), len(requests), f"{duis.srv} {entry['response_code']}")
                responses.append(response)
            if settle:
                await clock.sleep(settle)
        finally:
            inst.medium.close()

    with progress_bar(f"duis {len(requests)} request(s)", enabled=not quiet) as progress:
        clock.run(main())

    # 2. Write the responses, the S1SP's certificate and the index.
    signer = S1spSigner(seed)
    certificate = signer.write_certificate(out / "s1sp-certificate.pem")
    used: set[str] = set()
    missing = 0
    for entry, response in zip(entries, responses, strict=True):
        stem = _unique_stem(Path(entry["file"]).stem, used)
        if response is None:
            name = f"{stem}.error.json"
            (out / name).write_text(json.dumps(entry, indent=2) + "\n")
            missing += 1
        elif response.response_code is None:
            name = f"{stem}.missing-code.json"
            (out / name).write_text(
                json.dumps(render_missing_code_note(response), indent=2, sort_keys=True) + "\n")
            missing += 1
        else:
            try:
                xml, entry["shape"] = render_service_response(
                    response, signer, device_type=entry["emulated_device_type"])
            except DuisError as exc:
                # A code outside the DUIS list (or similar): keep the run going, say so.
                name = f"{stem}.error.json"
                entry["reason"] = f"cannot write a DUIS response: {exc.reason}"
                entry["error"] = True
                (out / name).write_text(json.dumps(entry, indent=2) + "\n")
                missing += 1
            else:
                name = f"{stem}.response.xml"
                (out / name).write_bytes(xml)
        entry["output"] = name
    alerts = write_alert_documents(run_alert_documents(roles[0], signer), out)
    index: dict[str, Any] = {"dmc": spec.id, "seed": seed}
    if migrated or settle:
        index.update(migrated=migrated, settle_seconds=settle)
    if moved:
        index["sent_last"] = {
            "files": [r.source for r in moved],
            "why": "their success takes a device out of service (E5 for what follows)"}
    index.update(setup=setup, files=entries, s1sp_certificate=certificate.name, alerts=alerts,
                 alert_notes=ALERT_NOTES, coverage=_coverage(entries, roles[0]))
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")

    if as_json:
        print(json.dumps(index, indent=2))
    else:
        for step in setup:
            print(f"setup: {step['step']}: {step['response_code'] or '(no response code)'}")
        print_table(["FILE", "SRV", "CODE", "REASON"],
                    [(Path(e["file"]).name, e["srv"], e["response_code"] or "(none)",
                      e["reason"] or "") for e in entries], wrap=("REASON",))
        note(f"{len(entries)} requests, written to {out}/ (index.json)")
        if moved:
            note(f"sent last, because their success takes a device out of service: "
                 f"{', '.join(Path(r.source).name for r in moved)}")
        if summary:
            _print_coverage(index["coverage"])
        if alerts:
            kinds = Counter(a["kind"] for a in alerts if a["file"])
            note(f"alerts written to {out}/alerts/: "
                 + (", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none")
                 + (f" ({len(alerts) - sum(kinds.values())} could not be written, see "
                    "index.json)" if len(alerts) > sum(kinds.values()) else ""))
    return EXIT_NOT_MET if missing else EXIT_OK
