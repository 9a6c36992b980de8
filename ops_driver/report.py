"""report.md: the page a change reviewer reads for a plan or an apply."""

from __future__ import annotations

import json
from typing import Any

from .catalog import Task


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    elif isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ") or "—"


def brief(value: Any) -> str:
    """A before/after value for one line: ``running`` for ``{"state": "running"}``, else ``k=v, …``."""
    if isinstance(value, dict) and len(value) == 1:
        return _cell(next(iter(value.values())))
    return _cell(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render(manifest: dict[str, Any], task: Task, request: dict[str, Any], changes: list[dict[str, Any]],
           targets: list[dict[str, Any]], warnings: list[str], skipped: list[dict[str, Any]],
           failures: list[dict[str, Any]], comparison: dict[str, Any] | None = None) -> str:
    """Markdown for report.md. ``request`` is already redacted."""
    kind = manifest["kind"]
    title = "Plan (check mode, nothing changed)" if kind == "plan" else "Apply (real run)"
    out = [f"# {title}: {manifest['run_id']}\n",
           f"**{task.id}** {task.name_ja} — {task.name_en}  \n",
           f"Status: **{manifest['status']}** (exit {manifest['exit_code']})\n"]
    if kind == "apply":
        out.append(f"Plan: `{manifest.get('plan_id')}`\n")
    out.append("\n## Work request\n\n")
    rows = [["task", request.get("task")], ["environment", request.get("environment")],
            ["ticket", request.get("ticket")], ["requested by", request.get("requested_by")],
            ["reason", request.get("reason")], ["change class", manifest.get("change_class")],
            ["operator", manifest.get("operator")], ["started", manifest.get("started_at")],
            ["ended", manifest.get("ended_at")]]
    if request.get("approved_by"):
        rows.append(["approved by", request["approved_by"]])
    out.append(_table(["field", "value"], rows))
    sched = manifest.get("schedule")
    if isinstance(sched, dict):  # a scheduled task (CORE-049): the day it ran on and the schedule's day
        verdict = "scheduled day" if sched.get("scheduled") else (
            "**EMERGENCY** (not the scheduled day)" if sched.get("emergency") else "not the scheduled day")
        out.append(f"\nSchedule `{sched.get('name')}`: {verdict}; today {sched.get('today')} "
                   f"({sched.get('today_source')}), scheduled {sched.get('scheduled_date')}"
                   + (f"; reason: {sched.get('reason')}" if sched.get("reason") else "") + "\n")
    params = request.get("params") or {}
    if params:
        out.append("\nParameters:\n\n```json\n" + json.dumps(params, indent=2, ensure_ascii=False) + "\n```\n")

    out.append("\n## Targets\n\n")
    if targets:
        out.append(_table(["instance", "name", "environment", "state at start"],
                          [[t.get("instance_id"), t.get("name"), t.get("environment"), t.get("state")]
                           for t in targets]))
    elif failures:
        out.append("None resolved (see failures below).\n")
    else:
        out.append("No EC2 instance (this operation acts on the hosts listed under Changes).\n")

    verb = "would change" if kind == "plan" else "changed"
    n_changed = sum(1 for c in changes if c.get("changed"))
    out.append(f"\n## Changes: {n_changed} resource(s) {verb}, {len(changes) - n_changed} unchanged\n\n")
    if changes:
        out.append(_table(["host", "resource", "name", "action", "before", "after", "changed"],
                          [[c.get("host"), c.get("resource"), c.get("name"), c.get("action"), c.get("before"),
                            c.get("after"), "yes" if c.get("changed") else "no"] for c in changes]))
    else:
        out.append("No change recorded.\n")

    steps = (manifest.get("evidence") or {}).get("steps")
    if isinstance(steps, list) and steps:  # a role's own sequence (e.g. closed mode: stop, then poll the URL)
        out.append(f"\n## Steps {'that would run' if kind == 'plan' else 'run'}\n\n")
        out.append("".join(f"{n}. {step}\n" for n, step in enumerate(steps, 1)))

    esa = (manifest.get("evidence") or {}).get("esa")
    if isinstance(esa, dict) and esa:  # COMM-025 / CORE-023: per appliance and sender group
        out.append(_esa_section(esa, kind))
    attachments = manifest.get("attachments") or []
    if attachments:
        out.append("\n## Attachments\n\n" + "".join(f"- `{a}`\n" for a in attachments))

    if comparison is not None:
        out.append("\n## Compared with the plan\n\n")
        out.append(f"- predicted and done: {len(comparison['matched'])}\n")
        unpredicted = comparison["unpredicted"]
        out.append(f"- done but **not predicted**: {len(unpredicted)} {_cell(unpredicted)}\n")
        out.append(f"- predicted but **not done**: {len(comparison['not_done'])} {_cell(comparison['not_done'])}\n")

    out.append("\n## Warnings\n\n")
    out.append("".join(f"- **{w}**\n" for w in warnings) if warnings else "None.\n")
    if failures:
        out.append("\n## Failures\n\n")
        out.append("".join(f"- {f.get('host')}: {f.get('task')}: {f.get('msg')}\n" for f in failures))
    if kind == "plan":
        out.append("\n## Tasks skipped in check mode\n\n")
        names = sorted({f"{s.get('task')} ({s.get('reason') or 'skipped'})" for s in skipped})
        out.append("".join(f"- {n}\n" for n in names) if names else "None.\n")
    return "".join(out)


def _esa_section(esa: dict[str, Any], kind: str) -> str:
    """The sender groups of every ESA: entries before/after and every entry added, deleted or reported."""
    out = ["\n## ESA sender groups\n\n"]
    rows = []
    for host, rec in sorted(esa.items()):
        for group, g in sorted((rec.get("groups") or {}).items()):
            notes = []
            for key, label in (("already_present", "already there, not added"),
                               ("not_present", "not there, not deleted"),
                               ("missing_from_appliance", "in the desired state, missing from the appliance"),
                               ("not_in_desired", "on the appliance, not in the desired state")):
                if g.get(key):
                    notes.append(f"{label}: {', '.join(map(str, g[key]))}")
            rows.append([host, f"{rec.get('listener')}/{group}", g.get("before"), g.get("after"),
                         ", ".join(map(str, g.get("add") or [])) or "-",
                         ", ".join(map(str, g.get("delete") or [])) or "-", "; ".join(notes) or "-"])
    out.append(_table(["appliance", "sender group", "entries before", "entries after",
                       "add" if kind == "plan" else "added", "delete" if kind == "plan" else "deleted", "reported"],
                      rows))
    for host, rec in sorted(esa.items()):
        line = f"\n{host} ({rec.get('appliance')}): {rec.get('operation')}, {rec.get('round_trips')} CLI round trips"
        if rec.get("committed"):
            line += f"; {rec['committed']}"
        restore = rec.get("restore")
        if isinstance(restore, dict):
            line += f"; **restore after failure**: {restore.get('summary')}"
        out.append(line + "\n")
    return "".join(out)
