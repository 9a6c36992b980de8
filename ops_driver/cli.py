"""``ops-driver``: the thin command line over catalog, operations, evidence and sandbox.

Exit codes: 0 done; 2 invalid input, nothing run; 3 the operation failed; 4 refused by policy; 141 (128 + SIGPIPE,
what a shell reports for a writer whose reader went away) when stdout was closed before everything was printed,
e.g. ``ops-driver catalog list | head -1``: the command has done its work, only its output was cut.
``--json`` prints exactly one JSON object on stdout; every human message goes to stderr.
SIGTERM, SIGINT or SIGHUP (a closed terminal) during ``plan`` or ``apply`` stops the playbook, records the run and
exits 3 (not 128 + the signal); ``evidence recover`` closes applies whose driver died (exit 3 when it closed one).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from ops_driver import processes, untrusted
from ops_driver.errors import InvalidInput, OpsError

Event = dict[str, Any]


def _err(msg: str) -> None:
    """A human message on stderr; control characters from request data are shown as escapes (untrusted.terminal)."""
    print(untrusted.terminal(msg), file=sys.stderr, flush=True)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """``--json``: one JSON object (characters a terminal would act on as ``\\u`` escapes); else ``text``, with
    control characters shown as escapes."""
    if args.json:
        print(untrusted.json_for_terminal(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str)))
    else:
        print(untrusted.terminal(text))


def progress(event: Event, elapsed: float) -> None:
    """One stderr line per task start and per host result: elapsed seconds, host, status, task."""
    kind = event.get("event")
    data = event.get("event_data") or {}
    if kind == "playbook_on_task_start":
        _err(f"[{elapsed:6.1f}s] TASK {data.get('task', '')}")
    elif kind in ("runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"):
        res = data.get("res") or {}
        word = {"runner_on_ok": "changed" if res.get("changed") else "ok", "runner_on_failed": "FAILED",
                "runner_on_skipped": "skipped", "runner_on_unreachable": "UNREACHABLE"}[kind]
        _err(f"[{elapsed:6.1f}s]   {data.get('host', '')}: {word}")


# ---------------------------------------------------------------- catalog

def cmd_catalog_list(args: argparse.Namespace) -> int:
    from ops_driver.catalog import AREAS, load_catalog

    if args.area and args.area.upper() not in AREAS:
        raise InvalidInput(f"--area: unknown area {args.area!r}; use one of {', '.join(AREAS)}")
    tasks = load_catalog().select(args.area, args.automated)
    rows = _task_rows(tasks)
    _emit(args, {"tasks": rows, "count": len(rows)}, _task_table(tasks))
    return 0


def _task_rows(tasks: list[Any]) -> list[dict[str, Any]]:
    return [{"id": t.id, "area": t.area, "category": t.category, "name_ja": t.name_ja, "name_en": t.name_en,
             "cycle": t.cycle, "automated": t.automated,
             "change_class": t.automation.change_class if t.automation else None} for t in tasks]


def _task_table(tasks: list[Any]) -> str:
    """The catalog table: ID, cycle, change class (of an automated task; ``-`` for a manual one), names."""
    lines = [f"{'ID':<9} {'cycle':<9} {'class':<9} {'name (en)':<44} name (ja)"]
    lines += [f"{t.id:<9} {t.cycle:<9} {t.automation.change_class if t.automation else '-':<9} "
              f"{t.name_en[:44]:<44} {t.name_ja}" for t in tasks]
    return "\n".join(lines)


def cmd_catalog_search(args: argparse.Namespace) -> int:
    """Tasks whose ID, names or summaries (Japanese and English) hold every word of TEXT (Catalog.search)."""
    from ops_driver.catalog import AREAS, load_catalog

    if args.area and args.area.upper() not in AREAS:
        raise InvalidInput(f"--area: unknown area {args.area!r}; use one of {', '.join(AREAS)}")
    text = " ".join(args.text)
    tasks = load_catalog().search(text, args.area, args.automated)
    rows = _task_rows(tasks)
    _emit(args, {"query": text, "tasks": rows, "count": len(rows)},
          _task_table(tasks) + f"\n{len(rows)} task(s) match {text!r}" if tasks else
          f"no task matches {text!r}; try one word of its name, in Japanese or English (`ops-driver catalog list`)")
    return 0


def cmd_catalog_show(args: argparse.Namespace) -> int:
    from ops_driver.catalog import load_catalog
    from ops_driver.evidence.governance import load_policy
    from ops_driver.paths import ENVIRONMENTS
    from ops_driver.request import params_schema

    task = load_catalog().get(args.id)
    policy = load_policy()
    data = dict(task.raw)
    if task.automation:
        data["params_schema"] = params_schema(task)
    lines = [f"{task.id}  {task.name_ja} — {task.name_en}", f"category: {task.category}",
             f"cycle:    {task.cycle} ({task.cycle_ja})"
             + (f" timing: {task.raw['timing']}" if task.raw.get("timing") else ""),
             f"seed:     {task.raw['seed']['file']} row {task.raw['seed']['row']}", "", task.summary_ja]
    for r in task.raw.get("roles") or []:
        lines.append(f"role:     {r['role']:<9} {r['party_ja']}")
    if task.automation:
        a = task.automation
        floors = {env: cls for env in ENVIRONMENTS if (cls := policy.floor(env))}
        lines += ["", f"playbook: {a.playbook}  (tags {', '.join(a.tags)}; change class {a.change_class})"]
        lines += [f"class floor: {cls} in {env} (policy/change.yml): a {a.change_class} change there is recorded "
                  f"as {cls}" for env, cls in floors.items()
                  if (policy.get(cls).rank or 0) > (policy.get(a.change_class).rank or 0)]
        data["class_floor"] = floors
        lines.append("params:")
        for p in a.params:
            req = "required" if p.required else f"default {p.default!r}"
            kind = p.type + (f"[{p.elements}]" if p.elements else "")
            lines.append(f"  {p.name:<14} {kind:<10} {req:<14} {p.description}")
        lines += [f"warning:  {w}" for w in a.warnings_en]
    else:
        lines += ["", "manual task: no playbook"]
    _emit(args, data, "\n".join(lines))
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    """What a request may name in an environment (ops_driver.targets): hosts per group, EC2 Name tags; with
    ``--task``, per parameter of that task."""
    from ops_driver import targets
    from ops_driver.catalog import load_catalog

    inv = targets.load(args.environment)
    data: dict[str, Any] = {"environment": inv.environment, "instances": inv.instances, "groups": inv.groups}
    lines = [f"environment {inv.environment} (inventories/{inv.environment})",
             "instances (EC2 Name tags, ops_instance_names): " + (", ".join(inv.instances) or
                                                                  "not listed (the roles resolve names live)")]
    if args.task:
        task = load_catalog().get(args.task)
        per = targets.for_task(inv, task)
        data["task"], data["params"] = task.id, per
        lines += [f"{task.id} {name}: {', '.join(names) or '(none listed)'}" for name, names in per.items()]
        if not per:
            lines.append(f"{task.id} names no instance or host by parameter (see `ops-driver catalog show {task.id}`)")
    else:
        lines += [f"group {g}: {', '.join(hs)}" for g, hs in sorted(inv.groups.items()) if hs and g != "all"]
    _emit(args, data, "\n".join(lines))
    return 0


def cmd_catalog_validate(args: argparse.Namespace) -> int:
    from ops_driver.catalog import load_documents, validate_documents

    problems = validate_documents(load_documents())
    _emit(args, {"valid": not problems, "problems": problems}, "\n".join(problems) or "catalog valid")
    return 2 if problems else 0


# ---------------------------------------------------------------- plan / apply

def _outcome_text(out: Any) -> str:
    from ops_driver.run.report import brief

    verb = "would change" if out.kind == "plan" else "changed"
    lines = [f"{out.kind} {out.run_id}: {out.status}"]
    for c in out.changes:
        mark = "*" if c["changed"] else " "
        lines.append(f" {mark} {c['host']} {c['resource']} {c.get('name', '')}: "
                     f"{brief(c.get('before'))} -> {brief(c.get('after'))} ({c['action']})")
    n = sum(1 for c in out.changes if c["changed"])
    lines.append(f"{n} resource(s) {verb}; evidence: {out.path}")
    if out.kind == "plan" and out.exit_code == 0:
        need = int(out.manifest.get("approvals_required") or 0)
        if need:
            lines.append(f"{out.manifest.get('change_class')} change: needs {need} approval(s) by someone other than "
                         f"{out.manifest.get('operator')} and {out.manifest.get('requested_by')}: "
                         f"ops-driver approve {out.run_id} " + ("--by NAME" if out.manifest.get("environment")
                                                                 == "sandbox" else "(with the approver's SSH key)"))
        win = out.manifest.get("window")
        if out.manifest.get("read_only"):
            lines.append("a read-only operation: this plan is its record; nothing to apply")
        elif n == 0:
            lines.append("the plan predicts no change: nothing to apply")
        elif isinstance(win, dict):
            lines.append(f"maintenance window {win.get('start_jst')} to {win.get('end_jst')}: apply inside it, or "
                         f"let a timer run: ops-driver apply {out.run_id} --at-window")
        else:
            lines.append(f"apply with: ops-driver apply {out.run_id}")
    if out.manifest.get("pending_post_approval"):
        how = "--by NAME" if out.manifest.get("environment") == "sandbox" else "(with the approver's SSH key)"
        lines.append(f"emergency change, PENDING POST-APPROVAL: ops-driver approve {out.run_id} {how}")
    comp = out.manifest.get("comparison")
    if comp:
        lines.append(f"compared with plan: {len(comp['matched'])} predicted and done, "
                     f"{len(comp['unpredicted'])} not predicted, {len(comp['not_done'])} predicted but not done")
    return "\n".join(lines)


def _run(args: argparse.Namespace, kind: str) -> int:
    from ops_driver.run import pipeline

    prog = None if args.quiet else progress
    if args.lang:  # the language of report.md (ops_driver.i18n.language reads it, as it reads $OPS_LANG)
        os.environ["OPS_LANG"] = args.lang
    out = (pipeline.plan(Path(args.request), prog, operator=args.operator, window_text=args.window) if kind == "plan"
           else pipeline.apply(args.plan_id, prog, operator=args.operator,
                               request_path=Path(args.request) if args.request else None, at_window=args.at_window))
    if out.exit_code and not args.json:
        _err(f"ops-driver: {out.message}")
    if kind == "apply":
        _print_head()
    data = out.summary()
    if kind == "plan" and out.exit_code == 0:
        data["ticket_reuse"] = _warn_ticket_reuse(out.run_id, out.manifest)
    _emit(args, data, _outcome_text(out))
    return out.exit_code


def _warn_ticket_reuse(run_id: str, manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A plan whose ticket earlier runs used on another target: a warning on stderr listing them (review.py)."""
    from ops_driver.evidence import review
    from ops_driver.paths import evidence_dir

    earlier = review.ticket_reuse(run_id, evidence_dir())
    if earlier:
        _err(f"ops-driver: WARNING: ticket {manifest.get('ticket')} was used before for other work; check it is "
             "the right ticket (earlier runs of this ticket):\n"
             + "\n".join(f"  {r['run_id']}  {r['kind']} {r['status']}  by {r['operator']} at {r['at']}  "
                         f"on {r['target']}" for r in earlier))
    return earlier


def cmd_plan(args: argparse.Namespace) -> int:
    return _run(args, "plan")


def cmd_apply(args: argparse.Namespace) -> int:
    return _run(args, "apply")


def cmd_record(args: argparse.Namespace) -> int:
    """The record of manual work on a catalog task (records.manual): a bundle of kind record and its ledger line."""
    from ops_driver import i18n
    from ops_driver.records import manual

    lang = i18n.language(args.lang)
    done = manual.record(args.task_id, args.result, note=args.note, attach=[Path(a) for a in args.attach or []],
                         date_text=args.date, environment=args.environment, operator=args.operator, lang=lang)
    _emit(args, done.summary(), manual.text(done, lang))
    _print_head()
    return 0


# ---------------------------------------------------------------- evidence

def cmd_evidence_show(args: argparse.Namespace) -> int:
    """A run's report with its approval status now (above it: report.md was written at plan time), or the runs
    of a ticket: the one run's, or a list when there are several."""
    from ops_driver.evidence import bundles, review
    from ops_driver.paths import evidence_dir

    base = evidence_dir()
    if not (base / args.run_id / bundles.MANIFEST).is_file() and not args.run_id.startswith("."):
        runs = review.runs_of_ticket(args.run_id, base) if "/" not in args.run_id else []
        if len(runs) > 1:
            _emit(args, {"ticket": args.run_id, "runs": runs, "count": len(runs)},
                  "\n".join(f"{r['run_id']}  {r['kind']:<5} {r['status']}  {r['environment']} {r['task']}  "
                            f"by {r['operator']} at {r['at']}" for r in runs)
                  + f"\n{len(runs)} runs of ticket {args.run_id}: `ops-driver evidence show RUN_ID` (a unique "
                    "prefix is enough)")
            return 0
        if not runs:
            raise InvalidInput(f"{args.run_id!r}: no run ID, unique prefix of one, or ticket of that name in {base}; "
                               "see `ops-driver evidence list` or `ops-driver review`")
        args.run_id = runs[0]["run_id"]
    b = bundles.bundle(args.run_id, base)
    m = b.manifest()
    if m.get("status") == bundles.RUNNING:  # written ahead, not closed: no report yet
        events, _ = bundles.read_events(b.path / bundles.EVENTS)
        tasks = [str((e.get("event_data") or {}).get("task")) for e in events
                 if e.get("event") == "playbook_on_task_start"]
        data: dict[str, Any] = {"manifest": m, "changes": None, "path": str(b.path), "tasks_started": tasks}
        _emit(args, data, f"apply {b.run_id} of plan {m.get('plan_id')}: RUNNING since {m.get('started_at')} "
                          f"(pid {dict(m.get('process') or {}).get('pid')}), or interrupted and not closed yet "
                          "(`ops-driver evidence recover`); tasks started so far:\n"
                          + "\n".join(f"  {t}" for t in tasks))
        return 0
    status = review.live_status(b.run_id, base)
    data = {"manifest": m, "changes": b.read_json("changes.json"), "path": str(b.path),
            "status": status.as_dict()}
    _emit(args, data, f"STATUS NOW: {status.text}\n(the report below was written when the run ended)\n\n"
                      + (b.path / "report.md").read_text(encoding="utf-8"))
    return 0


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    """One bundle (RUN_ID): its files. All: every bundle, the ledger's chain and every approval record
    (governance.verify_all); ``--head SEQ:HASH`` also proves the ledger was not cut short. Exit 4 on any problem."""
    from ops_driver.evidence import bundles, governance, ledger
    from ops_driver.paths import evidence_dir

    if args.run_id:
        if args.head or args.against:
            raise InvalidInput("--head / --against: verify the whole ledger; give them without RUN_ID")
        b = bundles.bundle(args.run_id)
        results = {b.run_id: bundles.verify(b)}
    else:
        mark = ledger.parse_head(args.head) if args.head else None
        base = evidence_dir()
        problems = governance.verify_all(base, mark)
        results = {b.run_id: problems.pop(b.run_id, []) for b in bundles.all_bundles(base)}
        results.update(problems)  # the ledger, bundles removed, approval records
        if args.against:
            from ops_driver.evidence import syslog_sink

            export = Path(args.against)
            if not export.is_file():
                raise InvalidInput(f"--against {export}: no such file; give the exported syslog lines of ops-driver")
            results["syslog copy"] = syslog_sink.compare(ledger.path_of(base), export)
    bad = {k: v for k, v in results.items() if v}
    shown = bad if args.failed else results
    lines = [f"{k}: {'OK' if not v else 'FAILED: ' + '; '.join(v)}" for k, v in shown.items()]
    lines.append(f"{len(results) - len(bad)} of {len(results)} verified"
                 + ("" if args.run_id else " (bundles, approval and rejection records and the ledger's hash chain)")
                 + (f"; {len(bad)} failed" if bad else ""))
    _emit(args, {"verified": not bad, "checked": len(results), "failed": len(bad),
                 "bundles": {k: {"ok": not v, "problems": v} for k, v in shown.items()}}, "\n".join(lines))
    return 4 if bad else 0


def cmd_evidence_import_awx(args: argparse.Namespace) -> int:
    from ops_driver.awx import jobs

    if args.url:
        if args.events:
            raise InvalidInput("--events: with --url the events are read from AWX; give --url URL --job ID only")
        out = jobs.import_awx_api(args.url, args.job)
    else:
        if not args.events:
            raise InvalidInput("--events: give the job's events file with --job FILE, or read from AWX with "
                               "--url URL --job ID")
        out = jobs.import_awx(Path(args.job), Path(args.events))
    approvals = out.manifest.get("awx_approvals") or []
    _emit(args, out.summary(), f"AWX job imported as {out.kind} {out.run_id}: {out.status} (source: "
          f"{out.manifest.get('source')}); evidence: {out.path}"
          + "".join(f"\n  AWX approval {a.get('name')!r}: {a.get('decision')} by {a.get('by')} at {a.get('at')}"
                    + (" (the launcher approved it)" if a.get("self_approved") else "") for a in approvals))
    return 0


def cmd_evidence_head(args: argparse.Namespace) -> int:
    """The ledger's last sequence number and line hash, to write on the ticket (``evidence verify --head``)."""
    from ops_driver.evidence import ledger
    from ops_driver.paths import evidence_dir

    mark = ledger.head(evidence_dir())
    if mark is None:
        _emit(args, {"seq": 0, "sha256": None, "head": None}, "the ledger is empty (no plan, approval or apply yet)")
        return 0
    seq, digest = mark
    _emit(args, {"seq": seq, "sha256": digest, "head": f"{seq}:{digest}"}, f"{seq}:{digest}")
    return 0


def cmd_evidence_init(args: argparse.Namespace) -> int:
    """Start the installation's evidence store and its empty ledger (paths.init_evidence_store); exit 2 when one is
    there already."""
    from ops_driver.paths import init_evidence_store

    path, source = init_evidence_store()
    _emit(args, {"evidence_dir": str(path), "source": source},
          f"evidence store started at {path} ({source}): an empty ledger; every plan, approval and apply of this "
          "installation is recorded there")
    return 0


def cmd_evidence_list(args: argparse.Namespace) -> int:
    """Every run in the ledger, or with ``--pending`` the emergency applies still waiting for approval."""
    from ops_driver.evidence import governance, ledger
    from ops_driver.paths import evidence_dir

    base = evidence_dir()
    if args.pending:
        rows = governance.pending(base)
        lines = [f"{r['run_id']}  {r['task']} {r['environment']}  by {r['operator']} at {r['ended_at']}  "
                 f"approvals {r['approvals']} of {r['needed']}  reason: {r['emergency_reason']}" for r in rows]
        lines.append(f"{len(rows)} emergency apply(s) pending post-approval"
                     + (": approve with `ops-driver approve RUN_ID --by NAME`" if rows else ""))
        _emit(args, {"pending": rows, "count": len(rows)}, "\n".join(lines))
        return 0
    found = ledger.entries(base)
    entries = [e.as_dict() for e in found]
    status = _apply_states(base, found)
    for e in entries:
        if e["kind"] in ("start", "apply", "record") and e["run_id"] in status:
            e["status"] = status[e["run_id"]]
    lines = [f"{e['seq']:>6} {e['at']} {e['kind']:<8} {e['run_id']}" + (f"  ({e['ref']})" if e.get("ref") else "")
             + (f"  [{e['status']}]" if e.get("status") else "") for e in entries]
    _emit(args, {"entries": entries, "count": len(entries)}, "\n".join(lines) or "the ledger is empty")
    return 0


def _apply_states(base: Path, found: list[Any]) -> dict[str, str]:
    """Run ID → what ``evidence list`` says of an apply: its status (of a record: its task, day, environment and
    result), or for a start no apply line closes,
    ``RUNNING`` (its driver is alive) / ``INTERRUPTED, not closed yet: ops-driver evidence recover``."""
    from ops_driver.evidence import bundles
    from ops_driver.run import recovery

    out: dict[str, str] = {}
    for e in found:
        if e.kind not in ("apply", "record"):
            continue
        try:
            m = bundles.bundle(e.run_id, base).manifest()
        except InvalidInput:
            out[e.run_id] = "bundle missing"
            continue
        out[e.run_id] = (str(m.get("status")) if e.kind == "apply" else
                         f"{m.get('task')} {m.get('date')} {m.get('environment')}: {m.get('result')}")
    for e in recovery.open_starts(found):
        try:
            m = bundles.bundle(e.run_id, base).manifest()
        except InvalidInput:
            out[e.run_id] = "bundle missing"
            continue
        alive = processes.is_alive(m.get("process") or {})
        out[e.run_id] = ("RUNNING" if alive else "running on another host" if alive is None else
                         "INTERRUPTED, not closed yet: ops-driver evidence recover")
    return out


def cmd_evidence_recover(args: argparse.Namespace) -> int:
    """Close every apply recorded as running whose driver is gone (recovery.recover); exit 3 when it closed one."""
    from ops_driver.paths import evidence_dir
    from ops_driver.run import recovery

    done = recovery.recover(evidence_dir(), wait_s=args.wait, scan_bundles=True)
    closed = [r for r in done if r.state == "interrupted"]
    lines = [f"{r.run_id} ({r.environment}): {r.state}"
             + (f"; {r.changes} change(s) recorded from its events, {len(r.unfinished)} task(s) unfinished, "
                f"{len(r.killed)} process(es) killed, {len(r.part_files)} partial NAS file(s) removed"
                if r.state == "interrupted" else "") for r in done]
    lines.append(f"{len(closed)} interrupted apply(s) closed" + (
        ": see `ops-driver evidence show RUN_ID`, then plan again to see what is left" if closed else ""))
    _emit(args, {"runs": [r.summary() for r in done], "closed": len(closed)}, "\n".join(lines))
    return 3 if closed else 0


# ---------------------------------------------------------------- approve

def cmd_approve(args: argparse.Namespace) -> int:
    from ops_driver.evidence import governance
    from ops_driver.paths import evidence_dir

    a = governance.approve(args.run_id, args.by, args.comment, evidence_dir(),
                           key=Path(args.key) if args.key else None)
    _emit(args, a.summary(), f"approval {a.approval_id}: {a.approver} approved {a.run_id}"
          + (" after the fact (emergency)" if a.after_the_fact else "")
          + f" (plan manifest SHA-256 {a.manifest_sha256[:16]}…); signed: {a.path}.sig")
    _print_head()
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    """Reject a plan: a signed record and a ``reject`` ledger line (governance.reject); it is never applied."""
    from ops_driver.evidence import governance
    from ops_driver.paths import evidence_dir

    r = governance.reject(args.run_id, args.by, args.reason, evidence_dir(), key=Path(args.key) if args.key else None)
    _emit(args, r.summary(), f"rejection {r.rejection_id}: {r.by} rejected {r.run_id}: {r.reason}\n"
                             f"it cannot be approved or applied; signed: {r.path}.sig")
    _print_head()
    return 0


# ---------------------------------------------------------------- review

def cmd_review(args: argparse.Namespace) -> int:
    """The plans waiting for approval and the emergency applies waiting for it after the fact (review.waiting),
    filtered by environment, class, ticket, and with ``--mine`` to those the current approver may approve."""
    from ops_driver.catalog import CHANGE_CLASSES
    from ops_driver.evidence import governance, review, signing
    from ops_driver.paths import evidence_dir

    if args.change_class is not None and args.change_class not in CHANGE_CLASSES:
        raise InvalidInput(f"--class: unknown change class {args.change_class!r}; use one of "
                           f"{', '.join(CHANGE_CLASSES)}")
    if (args.by or args.key) and not args.mine:
        raise InvalidInput("--by / --key: they name the approver of --mine; add --mine")
    base = evidence_dir()
    rules = governance.load_policy()
    rows = [r for r in review.waiting(base, rules=rules)
            if (args.environment is None or r["environment"] == args.environment)
            and (args.change_class is None or r["change_class"] == args.change_class)
            and (args.ticket is None or review.same_ticket(r["ticket"], args.ticket))]
    me: dict[str, str] = {}
    if args.mine:  # the approver as `approve` would sign: the key's principal, or --by NAME's demo key (sandbox)
        for env in sorted({str(r["environment"]) for r in rows}):
            me[env] = signing.signer(env, base, args.by, Path(args.key) if args.key else None).principal
        rows = [r for r in rows if review.may_decide(r, me[str(r["environment"])], rules)]
    lines = [f"{r['run_id']}  {r['environment']:<8} {r['change_class']:<9} {r['age']:>6}  "
             f"{r['approvals']}/{r['needed']}" + (f" by {', '.join(r['approved_by'])}" if r["approved_by"] else "")
             + f"  {r['task']} ticket {r['ticket']}  planned by {r['operator']} for {r['requested_by']}"
             + (f"  EMERGENCY applied, reason: {r.get('emergency_reason')}" if r["kind"] == "emergency" else "")
             for r in rows]
    who = f" that {', '.join(sorted(set(me.values())))} may approve" if args.mine else ""
    lines.append(f"{len(rows)} run(s) waiting for approval{who}" + (
        ": `ops-driver evidence show RUN_ID`, then `ops-driver approve RUN_ID` or `ops-driver reject RUN_ID "
        "--reason TEXT` (a unique prefix of the run ID is enough)" if rows else ""))
    _emit(args, {"waiting": rows, "count": len(rows), **({"approver": me} if args.mine else {})}, "\n".join(lines))
    return 0


def _print_head() -> None:
    """The ledger's head on stderr after an apply or an approval: write it on the ticket (``evidence verify
    --head``); the syslog copy holds the same line (``evidence verify --against``)."""
    from ops_driver.evidence import ledger
    from ops_driver.paths import evidence_dir

    mark = ledger.head(evidence_dir())
    if mark is not None:
        _err(f"ledger head: {mark[0]}:{mark[1]}")


# ---------------------------------------------------------------- schedule

def _schedule_table(sched: Any) -> str:
    from ops_driver.records.schedule import WEEKDAY_ABBR

    envs = list(sched.rules.environments)
    lines = [f"{sched.name} {sched.year}  (rules: " + "; ".join(f"{e} {r.describe()}" for e, r in
                                                                 sched.rules.environments.items()) + ")",
             f"{'month':<6}" + "".join(f"{e:<17}" for e in envs)]
    notes = []
    for month in range(1, 13):
        cells = []
        for env in envs:
            day, shift = sched.date_of(env, month), sched.shift_of(env, month)
            mark = "" if shift is None else ("*祝" if shift.reason.startswith("祝日") else "*")
            cells.append(f"{day} {WEEKDAY_ABBR[day.weekday()]}{mark}" if day else "—")
            if shift is not None:
                notes.append(f"  {env} {sched.year}-{month:02d}: {shift.shifted_from} -> {day} ({shift.reason})")
        lines.append(f"{month:<6}" + "".join(f"{c:<17}" for c in cells))
    if notes:
        lines += ["shifted (*; *祝: the rule's day is a public holiday 祝日):", *notes]
    return "\n".join(lines)


def _schedule_json(sched: Any, path: Path) -> dict[str, Any]:
    months = []
    for month in range(1, 13):
        row: dict[str, Any] = {"month": month}
        for env in sched.rules.environments:
            day, shift = sched.date_of(env, month), sched.shift_of(env, month)
            row[env] = None if day is None else {
                "date": day.isoformat(), "weekday": day.strftime("%a"),
                "shifted_from": shift.shifted_from.isoformat() if shift else None,
                "reason": shift.reason if shift else None}
        months.append(row)
    return {"schedule": sched.name, "year": sched.year, "path": str(path), "generated_at": sched.generated_at,
            "holidays": sched.holidays, "environments": list(sched.rules.environments),
            "rules": sched.rules.to_dict(), "months": months}


def _schedule_file(args: argparse.Namespace) -> Path:
    from ops_driver.records import schedule

    year = schedule.check_year(args.year)
    return Path(args.file) if args.file else schedule.schedule_path(year)


def cmd_schedule_generate(args: argparse.Namespace) -> int:
    from ops_driver.records import schedule

    year = schedule.check_year(args.year)
    rules = schedule.load_rules(Path(args.rules) if args.rules else None)
    out = Path(args.out) if args.out else schedule.schedule_path(year)
    if out.exists() and not args.force:
        raise InvalidInput(f"--out: {out} exists already (the {year} schedule); review it with `ops-driver schedule "
                           f"show --year {year}`, or give --force to replace it")
    sched = schedule.generate(year, rules)
    schedule.save(sched, out)
    _err(f"wrote {out}")
    _emit(args, _schedule_json(sched, out), _schedule_table(sched))
    return 0


def cmd_schedule_show(args: argparse.Namespace) -> int:
    from ops_driver.records import schedule

    path = _schedule_file(args)
    sched = schedule.load(path)
    _emit(args, _schedule_json(sched, path), _schedule_table(sched))
    return 0


def cmd_schedule_check(args: argparse.Namespace) -> int:
    from ops_driver.records import schedule

    path = _schedule_file(args)
    sched = schedule.load(path)
    rules = schedule.load_rules(Path(args.rules) if args.rules else None)
    problems = schedule.check(sched, rules)
    text = (f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  {p}" for p in problems) if problems
            else f"{path}: holds ({len(rules.environments)} environments x 12 months, rules {rules.source})")
    _emit(args, {"path": str(path), "year": sched.year, "valid": not problems, "problems": problems}, text)
    return 4 if problems else 0


# ---------------------------------------------------------------- report (the monthly record of work done)

def cmd_report(args: argparse.Namespace) -> int:
    from ops_driver import i18n
    from ops_driver.records import due, monthly, render, summary

    year, month = due.parse_month(args.month)
    out = render.check_out(Path(args.out)) if args.out else None
    fmt = render.format_for(args.format, out)
    lang = i18n.language(args.lang)
    record = monthly.collect(year, month, environment=args.environment)
    data = render.render(record, fmt, lang)
    if out is None:
        if args.json:
            print(untrusted.json_for_terminal(monthly.dumps(record)))
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return 0
    render.write(out, data)
    _err(f"wrote {out} ({fmt})")
    _emit(args, {**record.to_json(), "out": str(out), "format": fmt},
          "\n".join([str(out), *summary.headline(record, lang)]))
    return 0


# ---------------------------------------------------------------- due (catalog cycles on the business-day calendar)

def cmd_due(args: argparse.Namespace) -> int:
    from ops_driver import i18n
    from ops_driver.catalog import load_catalog
    from ops_driver.evidence import guards
    from ops_driver.paths import evidence_dir
    from ops_driver.records import checklist, due

    if args.date is not None and args.month is not None:
        raise InvalidInput("--date and --month: give one of them (a day's list or a month's calendar)")
    if args.month is not None and args.open:
        raise InvalidInput("--open: a day's checklist only; drop --month (or give --date)")
    lang = i18n.language(args.lang)
    checklist.check_environment(args.environment)
    catalog = load_catalog()
    if args.month is not None:
        year, month = due.parse_month(args.month)
        data = due.month_json(catalog, year, month)
        _emit(args, data, due.month_text(data, catalog, lang))
        return 0
    today = guards.today()[0]
    day = due.parse_date(args.date) if args.date is not None else today
    data = checklist.day(catalog, day, evidence_dir(), args.environment, today=today, only_open=args.open)
    _emit(args, data, checklist.text(data, lang))
    return 0


# ---------------------------------------------------------------- sandbox

def cmd_sandbox(args: argparse.Namespace) -> int:
    try:
        import ops_sandbox  # the development-only distribution dev/ (not part of a production install)
    except ImportError:
        raise InvalidInput("sandbox: the development sandbox is not installed here (it is the development-only "
                           "package in dev/ of a checkout: `make venv` installs it)") from None

    if args.action == "up":
        ops_sandbox.up(without=[w for w in (args.without or "").split(",") if w])
    elif args.action == "down":
        ops_sandbox.down()
    data = ops_sandbox.status()
    lines = [f"sandbox: {'running' if data['running'] else 'stopped'}"
             + (f" at {data['endpoint']} (pid {data['pid']})" if data["running"] else "")]
    lines += [f"  {i['environment']:<8} {i['name']:<20} {i['id']:<20} {i['state']}" for i in data["instances"]]
    if data.get("web"):
        web = data["web"]
        lines.append(f"web stack: public {web['public_url']} (joho-web {web['web_url']}, Sorry {web['sorry_url']}); "
                     f"supervisorctl -c {web['supervisord_config']}")
    if data.get("esa"):
        lines.append("ESA simulator (AsyncOS CLI over SSH): "
                     + ", ".join(f"{name} {url}" for name, url in sorted(data["esa"].items())))
    _emit(args, data, "\n".join(lines))
    return 0


# ---------------------------------------------------------------- awx

def cmd_awx_export(args: argparse.Namespace) -> int:
    from ops_driver.awx import export as awx_export

    envs = awx_export.parse_environments(args.environments)
    settings = awx_export.Settings(organization=args.organization, project=args.project,
                              scm_url=args.scm_url if args.scm_url is not None else awx_export.origin_url(),
                              scm_branch=args.scm_branch)
    if not settings.scm_url:
        _err("ops-driver: tower export: no --scm-url and no git remote 'origin': set the project's scm_url "
             f"(tower_project.scm_url in {awx_export.VARS_FILE}) before applying")
    result = awx_export.export(envs, settings)
    files = awx_export.write(result, Path(args.out))
    lines = [f"wrote {f}" for f in files]
    lines.append(f"{len(result.job_templates)} job template(s), {len(result.workflows)} approval workflow(s) "
                 f"for {', '.join(envs)}")
    lines += [f"  workflow {w}" for w in result.workflows]
    lines += [awx_export.RBAC_NOTE, f"apply: ansible-playbook playbooks/tower_configure.yml -e @{files[0]}   "
              f"or: awx import < {files[1]}"]
    _emit(args, {"files": [str(f) for f in files], "environments": envs, "job_templates": result.job_templates,
                 "workflows": result.workflows, "rbac": awx_export.RBAC_NOTE}, "\n".join(lines))
    return 0


def cmd_awx_ee(args: argparse.Namespace) -> int:
    from ops_driver.awx import ee

    written = ee.write(Path(args.out) if args.out else None)
    _emit(args, {"files": [str(f) for f in written]}, "\n".join(f"wrote {f}" for f in written))
    return 0


# ---------------------------------------------------------------- parser

class _OneCommand:
    """The top-level subparsers of :func:`build_parser` when one command is wanted: its parser is built, every other
    command's definition goes to a sink. Building all 24 commands' parsers costs about 6 ms of CPU at every start
    (argparse translates each help text through gettext), 5 % of the driver's own overhead on a plan (issue #28)."""

    def __init__(self, sub: Any, name: str) -> None:
        self.sub, self.name, self.found = sub, name, False

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name == self.name or self.name in kwargs.get("aliases", ()):
            self.found = True
            return self.sub.add_parser(name, **kwargs)
        return _Sink()


class _Sink:
    """Takes any argparse call (add_argument, set_defaults, add_subparsers, add_parser, …) and does nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


def parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """The parser of ``argv``: only its command's parser when the first word that is not an option names a command,
    else (no command, a top-level option such as ``--help``, a misspelt command) every command's, so that help and
    argparse's errors list them all."""
    first = next((a for a in argv if a != "--json"), None)
    if first is not None and not first.startswith("-"):
        parser, found = _build_parser(first)
        if found:
            return parser
    return build_parser()


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser, every command's."""
    return _build_parser(None)[0]


def _build_parser(only: str | None) -> tuple[argparse.ArgumentParser, bool]:
    """(the parser, whether ``only`` named a command): with ``only``, that command's parser alone
    (:class:`_OneCommand`)."""
    # --json in either position (`ops-driver --json evidence verify`, `ops-driver evidence verify --json`): the
    # subcommands' copy has no default, so that it never resets the top-level one (argparse sets a subparser's
    # defaults over the namespace the parent filled)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON object on stdout")
    p = argparse.ArgumentParser(prog="ops-driver", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (here or after the command)")
    sub: Any = p.add_subparsers(dest="command", required=True)
    one = _OneCommand(sub, only) if only is not None else None
    if one is not None:
        sub = one

    cat = sub.add_parser("catalog", help="the operations catalog", parents=[common])
    csub = cat.add_subparsers(dest="catalog_command", required=True)
    cl = csub.add_parser("list", help="list tasks", parents=[common])
    cl.add_argument("--area", help="CORE, MYNA, COMM, INFO, STAT or HELP")
    cl.add_argument("--automated", action="store_true", help="only tasks with a playbook")
    cl.set_defaults(func=cmd_catalog_list)
    csr = csub.add_parser("search", help="tasks whose ID, name or summary (Japanese or English) holds TEXT",
                          parents=[common])
    csr.add_argument("text", nargs="+", help="words to look for, e.g. インスタンス停止 or ec2 stop")
    csr.add_argument("--area", help="CORE, MYNA, COMM, INFO, STAT or HELP")
    csr.add_argument("--automated", action="store_true", help="only tasks with a playbook")
    csr.set_defaults(func=cmd_catalog_search)
    cs = csub.add_parser("show", help="show one task", parents=[common])
    cs.add_argument("id")
    cs.set_defaults(func=cmd_catalog_show)
    csub.add_parser("validate", help="validate the catalog against its JSON Schema",
                    parents=[common]).set_defaults(func=cmd_catalog_validate)

    tg = sub.add_parser("targets", help="what a request may name in an environment (instances, hosts), from its "
                                        "inventory", parents=[common])
    tg.add_argument("--environment", required=True, help="prod, dr, maint or sandbox")
    tg.add_argument("--task", help="only the names this task's parameters may hold (a catalog ID)")
    tg.set_defaults(func=cmd_targets)

    for name, func, arg, helptext in (("plan", cmd_plan, "request", "dry run (check mode + diff) of a work request"),
                                      ("apply", cmd_apply, "plan_id", "run a plan for real")):
        sp = sub.add_parser(name, help=helptext, parents=[common])
        sp.add_argument(arg)
        sp.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
        sp.add_argument("--operator", help="sandbox environment only: act as NAME (recorded as declared; default "
                                           "$OPS_OPERATOR); elsewhere the operator is the OS account (SUDO_USER "
                                           "through sudo) and this is refused")
        sp.add_argument("--lang", choices=["ja", "en"], help="the language of report.md (default: $OPS_LANG, else "
                                                             "the locale)")
        if name == "plan":
            sp.add_argument("--window", help="a maintenance window the apply must run in, ISO 8601 START/DURATION "
                                             "with the UTC offset, e.g. 2026-12-08T02:00+09:00/PT2H (recorded; the "
                                             "plan's age is judged at its start)")
        else:
            sp.add_argument("--request", help="the request file (optional: the apply runs the request recorded in the "
                                              "plan's bundle; if given, it must be the file the plan read)")
            sp.add_argument("--at-window", action="store_true",
                            help="wait until the plan's maintenance window opens, then apply (for a timer or an "
                                 "AWX schedule; SIGTERM/SIGINT while waiting: exit 3, nothing run)")
        sp.set_defaults(func=func)

    rc = sub.add_parser("record", help="record manual work on a catalog task (done, ng or skipped) as evidence",
                        parents=[common])
    rc.add_argument("task_id", metavar="TASK_ID", help="the catalog ID, e.g. INFO-001")
    rc.add_argument("--result", required=True, choices=["done", "ng", "skipped"],
                    help="done; ng (done, something found: --note says what); skipped (not needed that day)")
    rc.add_argument("--note", help="what was done or found (required with --result ng)")
    rc.add_argument("--attach", action="append", metavar="FILE",
                    help="a file to keep with the record (a screenshot, an exported CSV); repeat for more; "
                         "at most 20 MiB each")
    rc.add_argument("--date", help="the day of the work, YYYY-MM-DD (default: today in Asia/Tokyo); not in the "
                                   "future")
    rc.add_argument("--environment", help="prod (default), dr, maint or sandbox")
    rc.add_argument("--operator", help="sandbox environment only: act as NAME (recorded as declared; default "
                                       "$OPS_OPERATOR); elsewhere the operator is the OS account")
    rc.add_argument("--lang", choices=["ja", "en"], help="the language of report.md and of what is printed "
                                                         "(default: $OPS_LANG, else the locale)")
    rc.set_defaults(func=cmd_record)

    ap = sub.add_parser("approve", help="approve a plan (or an emergency apply after the fact)", parents=[common])
    ap.add_argument("run_id")
    ap.add_argument("--by", help="sandbox: sign with NAME's demo key; elsewhere only checks that the key is NAME's "
                                 "(the approver is the principal of the key in policy/allowed_signers)")
    ap.add_argument("--key", help="the approver's SSH key (private, or public with the private half in the "
                                  "ssh-agent); default $OPS_SIGNING_KEY, else the ssh-agent")
    ap.add_argument("--comment", help="the approver's comment, recorded with the approval")
    ap.set_defaults(func=cmd_approve)

    rj = sub.add_parser("reject", help="reject a plan (signed, recorded in the ledger; it is never applied)",
                        parents=[common])
    rj.add_argument("run_id")
    rj.add_argument("--reason", required=True, help="why (free text, shown to the requester; at most 1000 "
                                                   "characters)")
    rj.add_argument("--by", help="sandbox: sign with NAME's demo key; elsewhere only checks that the key is NAME's")
    rj.add_argument("--key", help="the reviewer's SSH key (as for approve); default $OPS_SIGNING_KEY, else the "
                                  "ssh-agent")
    rj.set_defaults(func=cmd_reject)

    rv = sub.add_parser("review", help="plans waiting for approval (and emergency applies awaiting it after the "
                                       "fact)", parents=[common])
    rv.add_argument("--environment", help="only this environment's")
    rv.add_argument("--class", dest="change_class", help="only this change class's (minor, major, emergency)")
    rv.add_argument("--ticket", help="only the runs of this ticket")
    rv.add_argument("--mine", action="store_true", help="only those you may approve: not your own plans or "
                                                       "requests, not approved by you yet, your class and "
                                                       "environment (you: your signing key's principal)")
    rv.add_argument("--by", help="with --mine in the sandbox: the approver NAME (as approve --by)")
    rv.add_argument("--key", help="with --mine: the approver's SSH key (as approve --key)")
    rv.set_defaults(func=cmd_review)

    ev = sub.add_parser("evidence", help="evidence bundles", parents=[common])
    esub = ev.add_subparsers(dest="evidence_command", required=True)
    es = esub.add_parser("show", help="a run's report and its approval status now; or the runs of a TICKET",
                         parents=[common])
    es.add_argument("run_id", metavar="RUN_ID|TICKET", help="a run ID, a unique prefix of one, 'last' (your newest "
                                                           "plan) or a ticket number")
    es.set_defaults(func=cmd_evidence_show)
    evf = esub.add_parser("verify", help="verify bundle hashes (all bundles without RUN_ID)", parents=[common])
    evf.add_argument("run_id", nargs="?")
    evf.add_argument("--head", help="SEQ:HASH from `evidence head` written down earlier: detects a truncated ledger")
    evf.add_argument("--against", help="an exported copy of the ledger lines sent to syslog: names the first "
                                       "difference (a rewritten or cut ledger)")
    evf.add_argument("--failed", action="store_true", help="list only what fails (the count of all still printed)")
    evf.set_defaults(func=cmd_evidence_verify)
    esub.add_parser("init", help="start the installation's evidence store (once): its folder and empty ledger",
                    parents=[common]).set_defaults(func=cmd_evidence_init)
    esub.add_parser("head", help="the ledger's last sequence number and hash (write it on the ticket)",
                    parents=[common]).set_defaults(func=cmd_evidence_head)
    ea = esub.add_parser("import-awx", help="an AWX/Tower job as an evidence bundle (check job: plan, run: apply)",
                         parents=[common])
    ea.add_argument("--url", help="the AWX server (https://HOST): read job --job ID, its events and its workflow's "
                                  "approvals through the API (token: $AWX_TOKEN or $CONTROLLER_OAUTH_TOKEN)")
    ea.add_argument("--job", required=True, help="with --url: the job's ID; else the job as saved from "
                                                 "/api/v2/jobs/N/ (JSON; recorded as unverified)")
    ea.add_argument("--events", help="without --url: its /api/v2/jobs/N/job_events/ pages (JSON)")
    ea.set_defaults(func=cmd_evidence_import_awx)
    er = esub.add_parser("recover", help="close applies recorded as running whose driver is gone (interrupted)",
                         parents=[common])
    er.add_argument("--wait", type=float, default=10.0, help="seconds to wait for an environment's lock (default 10)")
    er.set_defaults(func=cmd_evidence_recover)
    el = esub.add_parser("list", help="the ledger's runs; --pending: emergency applies awaiting approval",
                         parents=[common])
    el.add_argument("--pending", action="store_true", help="only emergency applies pending post-approval")
    el.set_defaults(func=cmd_evidence_list)

    sc = sub.add_parser("schedule", help="annual schedules of monthly operations (CORE-049)", parents=[common])
    ssub = sc.add_subparsers(dest="schedule_command", required=True)
    sg = ssub.add_parser("generate", help="make schedule/<YYYY>.yml from the rules", parents=[common])
    sg.add_argument("--year", type=int, required=True, help="the year, e.g. 2027")
    sg.add_argument("--rules", help="rules file (default schedule/rules.yml)")
    sg.add_argument("--out", help="where to write (default schedule/<YYYY>.yml, or $OPS_SCHEDULE_DIR/<YYYY>.yml)")
    sg.add_argument("--force", action="store_true", help="replace an existing schedule")
    sg.set_defaults(func=cmd_schedule_generate)
    for name, func, helptext in (("show", cmd_schedule_show, "the year's dates: month x environment"),
                                 ("check", cmd_schedule_check, "does the year's schedule hold? exit 4 if not")):
        sp = ssub.add_parser(name, help=helptext, parents=[common])
        sp.add_argument("--year", type=int, required=True, help="the year, e.g. 2027")
        sp.add_argument("--file", help="schedule file (default schedule/<YYYY>.yml, or $OPS_SCHEDULE_DIR/<YYYY>.yml)")
        if name == "check":
            sp.add_argument("--rules", help="rules to check against (default schedule/rules.yml)")
        sp.set_defaults(func=func)

    rp = sub.add_parser("report", help="the monthly record of work done (plans, applies, approvals, due tasks)",
                        parents=[common])
    rp.add_argument("--month", required=True, help="the month, YYYY-MM (Asia/Tokyo dates)")
    rp.add_argument("--format", choices=["md", "csv", "html"],
                    help="md (a ticket), csv (a spreadsheet, UTF-8 with BOM) or html (one self-contained page); "
                         "default: from --out's suffix, else md")
    rp.add_argument("--out", help="write to this file (default: stdout)")
    rp.add_argument("--environment", help="only this environment's runs and due tasks (default: all; recurring "
                                          "tasks without an annual schedule are judged in prod)")
    rp.add_argument("--lang", choices=["ja", "en"], help="ja or en (default: $OPS_LANG, else the locale)")
    rp.set_defaults(func=cmd_report)

    du = sub.add_parser("due", help="catalog tasks due on a day (default today, Asia/Tokyo) or in a month",
                        parents=[common])
    du.add_argument("--date", help="the day, YYYY-MM-DD (default: today in Asia/Tokyo, or $OPS_TODAY)")
    du.add_argument("--month", help="a month as a calendar of due tasks, YYYY-MM")
    du.add_argument("--open", action="store_true", help="only the tasks of the day still open (not done, ng or "
                                                        "skipped)")
    du.add_argument("--environment", help="where the day's work is judged: prod (default), dr, maint or sandbox")
    du.add_argument("--lang", choices=["ja", "en"], help="ja or en (default: $OPS_LANG, else the locale)")
    du.set_defaults(func=cmd_due)

    sb = sub.add_parser("sandbox", help="the embedded sandbox estate on 127.0.0.1", parents=[common])
    sb.add_argument("action", choices=["up", "down", "status"])
    sb.add_argument("--without", metavar="PARTS", help="up: do not start these parts, comma-separated: web (the web "
                    "stack), esa (the ESA simulator); moto and the folders always start (the AWS molecule scenarios)")
    sb.set_defaults(func=cmd_sandbox)

    tw = sub.add_parser("awx", aliases=["tower"], parents=[common],
                        help="AWX / Ansible Tower: job templates, surveys, approval workflows (alias: tower)")
    twsub = tw.add_subparsers(dest="awx_command", required=True)
    te = twsub.add_parser("export", help="write tower_vars.yml (awx.awx modules) and awx-import.json (awx import)",
                          parents=[common])
    te.add_argument("--environments", help="comma-separated environments (default prod,dr,maint)")
    te.add_argument("--out", default="tower-export", help="output folder (default ./tower-export)")
    te.add_argument("--organization", default="Default", help="AWX organization (default Default)")
    te.add_argument("--project", default="ops-automation-collection", help="AWX project name")
    te.add_argument("--scm-url", help="Git URL AWX clones the project from (default: the remote 'origin')")
    te.add_argument("--scm-branch", default="main", help="branch of the project (default main)")
    te.set_defaults(func=cmd_awx_export)
    tee = twsub.add_parser("ee", help="write execution-environment.yml (ansible-builder 3) from requirements.lock",
                           parents=[common])
    tee.add_argument("--out", help="folder to write into (default: the project)")
    tee.set_defaults(func=cmd_awx_ee)
    return p, one is None or one.found


#: The file-mode creation mask of everything ops-driver writes: evidence folders 0750, files 0640 - readable by the
#: group that owns the evidence store (docs/operators.md, the security model), never by other accounts. Bundles hold
#: HAT dumps, file lists and module arguments.
UMASK = 0o027


def main(argv: list[str] | None = None) -> int:
    os.umask(UMASK | os.umask(UMASK))  # at least 027: a stricter mask of the caller is kept
    parser = parser_for(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, which is our "invalid input" too
        return int(e.code or 0)
    try:
        _resolve_run_ids(args)
        code: int = args.func(args)
        return code
    except OpsError as e:
        if getattr(args, "json", False):
            print(untrusted.json_for_terminal(json.dumps({"error": str(e), "exit_code": e.exit_code,
                                                          "kind": type(e).__name__}, ensure_ascii=False)))
        _err(f"ops-driver: {e}")
        return e.exit_code
    except KeyboardInterrupt:
        _err("ops-driver: interrupted")
        return 3


def _resolve_run_ids(args: argparse.Namespace) -> None:
    """Every run ID argument (``run_id``, ``plan_id``) as typed — a whole ID, a unique prefix, ``last`` — made the
    whole run ID (review.resolve; InvalidInput, exit 2, for an ambiguous prefix, naming the candidates)."""
    names = [n for n in ("run_id", "plan_id") if isinstance(getattr(args, n, None), str) and getattr(args, n)]
    if not names:
        return
    from ops_driver.evidence import review
    from ops_driver.paths import evidence_dir

    base = evidence_dir()
    for n in names:
        setattr(args, n, review.resolve(getattr(args, n), base))


#: Exit code when stdout was closed early (128 + SIGPIPE, as a shell reports a writer killed by it).
EXIT_BROKEN_PIPE = 141


def entry() -> None:
    """The ``ops-driver`` console script: :func:`main`, then exit with its code.

    A reader that closes stdout early (``ops-driver … | head``) ends the command quietly with
    :data:`EXIT_BROKEN_PIPE`: no traceback; stdout is pointed at /dev/null so that the interpreter's last flush
    at exit cannot fail again.

    The cyclic garbage collector is off while the command loads its modules and reads its input: the objects made
    then live until the process ends, and collecting them in passes cost 6 ms of a plan (issue #28). Reference
    counting frees everything else as usual; :func:`ops_driver.run.runner.run_playbook` sets those objects aside
    (``gc.freeze``) and turns the collector back on for a run's event loop, the one part that lasts and makes
    reference cycles.
    """
    gc.disable()
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        code = EXIT_BROKEN_PIPE
    _exit(code)


def _exit(code: int) -> NoReturn:
    """End the process with ``code`` as any exit does, less the interpreter's teardown.

    The exit handlers run as usual (``atexit``: logging's last flush, the clean-ups of ``tempfile`` and
    ``weakref.finalize``, a coverage collector's save), stdout and stderr are flushed, then ``os._exit`` ends the
    process without the teardown in which the interpreter frees every object of every imported module one by one
    (15-20 ms of a plan's wall time on this machine, issue #28; the kernel frees the memory at once). Every file the
    command writes is closed (and the evidence fsynced) before :func:`main` returns. While a thread other than the
    main one still runs, the usual exit is taken: it waits for that thread.
    """
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more can be said on it
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
