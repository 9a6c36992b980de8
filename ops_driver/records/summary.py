"""What every view of the monthly record shares: the runs table's columns, the state words, the headline, the
due summary and the provenance line (:mod:`ops_driver.records.render` for Markdown/CSV, :mod:`ops_driver.records.html`
for the page)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ops_driver.records.monthly import DUE_STATES, Record, Run

#: (key, header, value of a run): the columns of the runs table in every format.
COLUMNS: tuple[tuple[str, str, Callable[[Run], Any]], ...] = (
    ("date", "date (JST)", lambda r: r.date),
    ("time", "time", lambda r: r.time),
    ("task", "task", lambda r: r.task),
    ("name", "name", lambda r: r.task_name_ja),
    ("environment", "environment", lambda r: r.environment),
    ("kind", "kind", lambda r: r.kind or "?"),
    ("ticket", "ticket", lambda r: r.ticket),
    ("requested_by", "requested by", lambda r: r.requested_by),
    ("operator", "operator", lambda r: r.operator),
    ("approvers", "approvers", lambda r: ", ".join(r.approvers)),
    ("change_class", "change class", lambda r: r.change_class),
    ("status", "status", lambda r: r.status if r.verified else f"{r.status} (unverified)"),
    ("exit_code", "exit", lambda r: "" if r.exit_code is None else r.exit_code),
    ("changed", "changed", lambda r: r.changed),
    ("run_id", "run ID", lambda r: r.run_id),
)
CSV_EXTRA: tuple[tuple[str, Callable[[Run], Any]], ...] = (
    ("task_name_en", lambda r: r.task_name_en),
    ("outcome", lambda r: r.outcome),
    ("resources", lambda r: "; ".join(r.resources)),
    ("plan_id", lambda r: r.plan_id or ""),
    ("emergency_reason", lambda r: r.emergency_reason or ""),
    ("verified", lambda r: "yes" if r.verified else "no"),
    ("problems", lambda r: "; ".join(r.problems)),
    ("message", lambda r: r.message),
    ("flags", lambda r: "; ".join(r.flags)),
)
TOTAL_COLUMNS = ("runs", "plans", "applies", "ok", "failed", "refused", "invalid", "unverified", "changed")
STATE_WORDS = {"missed": "MISSED", "late": "done late", "open": "open (window not over)",
               "upcoming": "upcoming", "done": "done"}


def headline(record: Record) -> list[str]:
    """The summary lines every format starts with."""
    s = record.summary()
    scope = f"environment {record.environment}" if record.environment else "all environments"
    lines = [f"{s['runs']} run(s) in {record.month} ({scope}): {s['plans']} plan(s), {s['applies']} apply(s); "
             f"{s['ok']} ok, {s['failed']} failed, {s['refused']} refused, {s['invalid']} invalid input; "
             f"{s['unverified']} unverified",
             f"{s['changed']} resource(s) changed by verified applies",
             f"{s['pending']} emergency change(s) pending approval after the fact",
             f"recurring automated tasks due: {s['due']}; " + ", ".join(f"{s[k]} {k}" for k in DUE_STATES)]
    if s["flagged"]:
        lines.append(f"{s['flagged']} run(s) FLAGGED (fewer approvals than the plan required, an override, a declared "
                     "operator): see Flags")
    if not record.runs:
        lines.insert(0, f"No plan or apply in {record.month} (Asia/Tokyo) in {record.evidence_dir}.")
    return lines


def due_summary(record: Record) -> list[str]:
    """One line per state (missed, done late, open), task and environment: the due days (MM-DD) it applies to."""
    groups: dict[tuple[int, str, str], list[str]] = {}
    names = {d.task: d.name_ja for d in record.due}
    for d in record.due:
        if d.state in ("missed", "late", "open"):
            groups.setdefault((DUE_STATES.index(d.state), d.task, d.environment), []).append(d.days[0][5:])
    return [f"{STATE_WORDS[DUE_STATES[state]]}: {task} {names[task]} ({env}) due {', '.join(days)}"
            for (state, task, env), days in sorted(groups.items())]


def provenance(record: Record) -> str:
    """Where the record comes from and how bundles were checked."""
    lg = record.ledger
    if not lg["present"]:
        check = "no ledger.jsonl: bundles were checked against their own manifests only"
    elif lg["problems"]:
        check = f"ledger.jsonl ({lg['lines']} readable lines) has {len(lg['problems'])} problem(s), listed below"
    else:
        head = lg["head"]
        check = (f"ledger.jsonl: {lg['lines']} lines, chain intact" +
                 (f", head {head[0]}:{head[1][:12]}…" if head else ""))
    return (f"Generated {record.generated_at} from {record.evidence_dir}; dates in Asia/Tokyo; due tasks judged as of "
            f"{record.as_of}; {check}.")
