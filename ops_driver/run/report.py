"""report.md: the page a change reviewer reads for a plan or an apply.

The page is a head (title, status, the work request) and then the :data:`SECTIONS`, in order. Each section
declares the evidence it shows (``Section.shows``: a field of the run record, ``evidence.<key>`` for a key of the
role's ``ops_evidence``, or ``manifest.<key>``) and is rendered from that evidence alone: the ESA table appears
because a run has ``evidence.esa``, the steps because it has ``evidence.steps``. A new role-specific section is one
more entry; ``render`` has no case for any role.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ops_driver import i18n, untrusted
from ops_driver.i18n import N_, NP_
from ops_driver.run.contract import RunRecord
from ops_driver.run.manifest import Manifest

#: The language of the report being rendered (:func:`render`'s ``lang``): headings, table headers, field names and
#: change classes are translated (:mod:`ops_driver.i18n`); what the run recorded is shown as recorded.
_LANG: ContextVar[str] = ContextVar("report_lang", default="en")
#: Headings and table headers that are passed around as text, marked for extraction (``pybabel extract -k N_``).
_MESSAGES = (N_("Work request"), N_("Targets"), N_("Attachments"), N_("Compared with the plan"), N_("Warnings"),
             N_("Failures"), N_("Tasks skipped in check mode"), N_("Change class and approvals"),
             N_("ESA sender groups"), N_("field"), N_("value"), N_("task"), N_("environment"), N_("ticket"),
             N_("requested by"), N_("reason"), N_("change class"), N_("operator"), N_("started"), N_("ended"),
             N_("emergency reason"), N_("instance"), N_("name"), N_("state at start"), N_("host"), N_("resource"),
             N_("action"), N_("before"), N_("after"), N_("changed"), N_("approved by"), N_("at (UTC)"),
             N_("comment"), N_("plan manifest SHA-256"), N_("appliance"), N_("sender group"), N_("entries before"),
             N_("entries after"), N_("add"), N_("added"), N_("delete"), N_("deleted"), N_("reported"),
             N_("Steps that would run"), N_("Steps run"), N_("maintenance window"), N_("at"), N_("level"),
             N_("source"), N_("time (UTC)"), N_("finding"), N_("detail"), N_("ID"), N_("file"), N_("size (bytes)"),
             N_("Check findings"), N_("Checks passed"))
#: The value of the "changed" column of the changes table.
_YES_NO = (NP_("changed", "yes"), NP_("changed", "no"))
#: The header "name" of the targets and changes tables: an instance's or a resource's name (not a task's).
_NAME = NP_("resource", "name")


def _(message: str) -> str:
    """``message`` in the language of the report being rendered."""
    return i18n.gettext(_LANG.get())(message)


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


def _table(headers: list[str | tuple[str, str]], rows: list[list[Any]]) -> str:
    """A Markdown table; each header a message, or a (context, message) pair (:func:`i18n.NP_`)."""
    lines = ["| " + " | ".join(_(h) if isinstance(h, str) else i18n.pgettext(*h, _LANG.get()) for h in headers)
             + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


JST = dt.timezone(dt.timedelta(hours=9), "JST")  # Asia/Tokyo, the time of the monthly record


def when(value: Any) -> str:
    """An ISO 8601 UTC time of the manifest as the record reads it: ``2026-12-08 02:00:05 JST (+09:00)`` followed by
    the UTC time as recorded, ``2026-12-07T17:00:05Z``; a value that is no time is shown as it is."""
    if not isinstance(value, str) or not value:
        return "" if value is None else str(value)
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if t.tzinfo is None:
        return value
    return f"{t.astimezone(JST):%Y-%m-%d %H:%M:%S} JST (+09:00) / {value}"


def _heading(title: str) -> str:
    return f"\n## {_(title)}\n\n"


def _nothing(record: RunRecord) -> str:
    return ""


@dataclass(frozen=True)
class Section:
    """One section of report.md and the evidence it shows.

    Attributes:
        shows: where the evidence is (:meth:`contract.RunRecord.lookup`): ``changes``, ``evidence.esa``, …
        shape: the type the evidence must have; evidence of another type, or empty, counts as absent.
        body: ``(evidence, record) -> text`` of the section when the evidence is there.
        absent: ``record -> text`` when it is not ("" leaves the section out).
        kinds: the run kinds (``plan``, ``apply``) whose report has the section.
    """

    shows: str
    shape: type
    body: Callable[[Any, RunRecord], str]
    absent: Callable[[RunRecord], str] = _nothing
    kinds: tuple[str, ...] = ("plan", "apply")

    def render(self, record: RunRecord) -> str:
        """The section's text for ``record`` ("" when the section is not part of it)."""
        if record.kind not in self.kinds:
            return ""
        value = record.lookup(self.shows)
        if isinstance(value, self.shape) and value:
            return self.body(value, record)
        return self.absent(record)


def _head(record: RunRecord) -> str:
    """Title, task, status and the work request (with the schedule record and the parameters)."""
    manifest, request, task = record.manifest, record.request, record.task
    title = _("Plan (check mode, nothing changed)") if record.kind == "plan" else _("Apply (real run)")
    out = [f"# {title}: {manifest['run_id']}\n",
           f"**{task.id}** {task.name_ja} — {task.name_en}  \n",
           *([f"{untrusted.markdown_text(task.summary_ja)}  \n"] if _LANG.get() == "ja" and task.summary_ja else []),
           f"{_('Status')}: **{manifest['status']}**"
           + _(" (exit {exit_code})").format(exit_code=manifest["exit_code"]) + "\n"]
    if record.kind == "apply":
        out.append(f"{_('Plan')}: `{manifest.get('plan_id')}`\n")
    out.append(_heading("Work request"))
    change_class = i18n.change_class_word(str(manifest.get("change_class")), _LANG.get())
    if manifest.get("change_class_floor"):
        change_class = _("{change_class} (the class floor of {environment} in policy/change.yml; {catalog} in the "
                         "catalog)").format(
            change_class=change_class, environment=manifest.get("environment"),
            catalog=i18n.change_class_word(str(manifest.get("change_class_catalog") or "lower"), _LANG.get()))
    elif manifest.get("change_class_catalog"):
        change_class = _("{change_class} (raised by the work request; {catalog} in the catalog)").format(
            change_class=change_class,
            catalog=i18n.change_class_word(str(manifest["change_class_catalog"]), _LANG.get()))
    rows: list[list[Any]] = [["task", request.get("task")], ["environment", request.get("environment")],
            ["ticket", request.get("ticket")], ["requested by", request.get("requested_by")],
            ["reason", request.get("reason")], ["change class", change_class],
            ["operator", manifest.get("operator")], ["started", when(manifest.get("started_at"))],
            ["ended", when(manifest.get("ended_at"))]]
    win = manifest.get("window")
    if isinstance(win, dict):
        rows.append(["maintenance window", _("{start} to {end} ({text}); the apply runs only inside it").format(
            start=when(win.get("start")), end=when(win.get("end")), text=win.get("text"))])
    if manifest.get("emergency_reason"):
        rows.append(["emergency reason", manifest["emergency_reason"]])
    out.append(_table(["field", "value"], [[_(str(row[0])), row[1]] for row in rows]))
    sched = manifest.get("schedule")
    if isinstance(sched, dict):  # a scheduled task (CORE-049): the day it ran on and the schedule's day
        verdict = _("scheduled day") if sched.get("scheduled") else (
            _("**EMERGENCY** (not the scheduled day)") if sched.get("emergency") else _("not the scheduled day"))
        out.append("\n" + _("Schedule `{name}`: {verdict}; today {today} ({today_source}), scheduled "
                             "{scheduled_date}").format(
            name=sched.get("name"), verdict=verdict, today=sched.get("today"), today_source=sched.get("today_source"),
            scheduled_date=sched.get("scheduled_date"))
                   + (_("; reason: {reason}").format(reason=sched.get("reason")) if sched.get("reason") else "")
                   + "\n")
    params = request.get("params") or {}
    if params:
        out.append("\n" + _("Parameters:") + "\n\n```json\n" + _params_json(params) + "\n```\n")
    return "".join(out)


# ---------------------------------------------------------------- the sections, by the evidence they show

def _targets(targets: list[dict[str, Any]], record: RunRecord) -> str:
    """``ops_targets`` (roles/ec2_targets): the EC2 instances resolved, with their state at the start."""
    return _heading("Targets") + _table(["instance", _NAME, "environment", "state at start"],
                                        [[t.get("instance_id"), t.get("name"), t.get("environment"), t.get("state")]
                                         for t in targets])


def _no_targets(record: RunRecord) -> str:
    if record.failures:
        return _heading("Targets") + _("None resolved (see failures below).") + "\n"
    return _heading("Targets") + _("No EC2 instance (this operation acts on the hosts listed under Changes).") + "\n"


def _changes_heading(record: RunRecord) -> str:
    n_changed = sum(1 for c in record.changes if c.get("changed"))
    text = (_("Changes: {changed} resource(s) would change, {unchanged} unchanged") if record.kind == "plan"
            else _("Changes: {changed} resource(s) changed, {unchanged} unchanged"))
    return _heading(text.format(changed=n_changed, unchanged=len(record.changes) - n_changed))


def _changes(changes: list[dict[str, Any]], record: RunRecord) -> str:
    """``ops_changes``: one row per host × resource, before → after."""
    return _changes_heading(record) + _table(
        ["host", "resource", _NAME, "action", "before", "after", "changed"],
        [[c.get("host"), c.get("resource"), c.get("name"), c.get("action"), c.get("before"), c.get("after"),
          i18n.pgettext(*_YES_NO[0 if c.get("changed") else 1], _LANG.get())] for c in changes])


def _no_changes(record: RunRecord) -> str:
    return _changes_heading(record) + _("No change recorded.") + "\n"


def _steps(steps: list[Any], record: RunRecord) -> str:
    """``evidence.steps``: a role's own sequence (closed mode: stop, then poll the URL; Dedicated Host reboot)."""
    return (_heading("Steps that would run" if record.kind == "plan" else "Steps run")
            + "".join(f"{n}. {step}\n" for n, step in enumerate(steps, 1)))


_ESA_NOTES = (("already_present", N_("already there, not added")), ("not_present", N_("not there, not deleted")),
              ("missing_from_appliance", N_("in the desired state, missing from the appliance")),
              ("not_in_desired", N_("on the appliance, not in the desired state")))


def _esa(esa: dict[str, Any], record: RunRecord) -> str:
    """``evidence.esa`` (COMM-025 / CORE-023): per appliance and sender group, the entries before/after and every
    entry added, deleted or reported; then one line per appliance (round trips, commit, restore)."""
    plan = record.kind == "plan"
    rows = []
    for host, rec in sorted(esa.items()):
        for group, g in sorted((rec.get("groups") or {}).items()):
            notes = [f"{_(label)}: {', '.join(map(str, g[key]))}" for key, label in _ESA_NOTES if g.get(key)]
            rows.append([host, f"{rec.get('listener')}/{group}", g.get("before"), g.get("after"),
                         ", ".join(map(str, g.get("add") or [])) or "-",
                         ", ".join(map(str, g.get("delete") or [])) or "-", "; ".join(notes) or "-"])
    out = [_heading("ESA sender groups"),
           _table(["appliance", "sender group", "entries before", "entries after", "add" if plan else "added",
                   "delete" if plan else "deleted", "reported"], rows)]
    for host, rec in sorted(esa.items()):
        line = "\n" + _("{host} ({appliance}): {operation}, {round_trips} CLI round trips").format(
            host=host, appliance=rec.get("appliance"), operation=rec.get("operation"),
            round_trips=rec.get("round_trips"))
        if rec.get("committed"):
            line += f"; {rec['committed']}"
        restore = rec.get("restore")
        if isinstance(restore, dict):
            line += _("; **restore after failure**: {summary}").format(summary=restore.get("summary"))
        out.append(line + "\n")
    return "".join(out)


def _check(check: dict[str, Any], record: RunRecord) -> str:
    """``evidence.check`` (the AWS daily checks INFO-007, INFO-008, INFO-010, role aws_daily_checks): the verdict,
    the window read and one row per finding, highest level first (the same rows as the CSV attachment)."""
    window = check.get("window") or {}
    findings = check.get("findings") or []
    level = check.get("fail_level")
    verdict = {"ok": _("ok, no finding"),
               "findings": _("**{count} finding(s)** under {level}").format(count=len(findings), level=level),
               "failed": _("**FAILED**: a finding at or above {level}").format(level=level)}.get(
        str(check.get("verdict")), _("**not judged** ({summary})").format(summary=check.get("summary")))
    out = [_heading("Check findings"), _("Verdict: {verdict}. Window {since} – {until} ({source}).").format(
        verdict=verdict, since=window.get("since"), until=window.get("until"), source=window.get("source")) + "\n"]
    if findings:
        out.append("\n" + _table(["level", "source", "time (UTC)", "resource", "finding", "detail", "ID"],
                                 [[f.get("level"), f.get("source"), f.get("time"), f.get("resource"), f.get("finding"),
                                   f.get("detail"), f.get("id")] for f in findings]))
    return "".join(out)


def _attachments(names: list[str], record: RunRecord) -> str:
    """``manifest.attachments``: the bundle files of ``ops_attachments``."""
    return _heading("Attachments") + "".join(f"- `{a}`\n" for a in names)


def _comparison(comparison: dict[str, Any], record: RunRecord) -> str:
    """An apply's comparison with its plan (``operations.compare``)."""
    unpredicted, not_done = comparison["unpredicted"], comparison["not_done"]
    return (_heading("Compared with the plan")
            + "- " + _("predicted and done: {count}").format(count=len(comparison["matched"])) + "\n"
            + "- " + _("done but **not predicted**: {count} {items}").format(
                count=len(unpredicted), items=_cell(unpredicted)) + "\n"
            + "- " + _("predicted but **not done**: {count} {items}").format(
                count=len(not_done), items=_cell(not_done)) + "\n")


def _warnings(warnings: list[str], record: RunRecord) -> str:
    return _heading("Warnings") + "".join(f"- **{w}**\n" for w in warnings)


def _failures(failures: list[dict[str, Any]], record: RunRecord) -> str:
    return _heading("Failures") + "".join(f"- {f.get('host')}: {f.get('task')}: {f.get('msg')}\n" for f in failures)


#: A role's guard is a task named "Refuse …" that fails when its condition holds: skipped, it is a check passed.
GUARD_PREFIX = "Refuse "


def _is_guard(s: dict[str, Any]) -> bool:
    return str(s.get("task") or "").startswith(GUARD_PREFIX)


def _checks(skipped: list[dict[str, Any]], record: RunRecord) -> str:
    """The roles' guards that passed: "Refuse …" tasks skipped because their condition did not hold."""
    names = sorted({str(s.get("task")) for s in skipped if _is_guard(s)})
    if not names:
        return ""
    return _heading("Checks passed") + "".join("- " + _("passed: {check}").format(check=n) + "\n" for n in names)


def _skipped(skipped: list[dict[str, Any]], record: RunRecord) -> str:
    names = sorted({f"{s.get('task')} ({s.get('reason') or _('skipped')})" for s in skipped if not _is_guard(s)})
    if not names:
        return _heading("Tasks skipped in check mode") + _("None.") + "\n"
    return _heading("Tasks skipped in check mode") + "".join(f"- {n}\n" for n in names)


def _files(manifests: dict[str, Any], record: RunRecord) -> str:
    """``evidence.manifests`` (roles/nas_transfer): every file the transfer takes from its source share, with its
    size and SHA-256, and whether it holds personal data; titled "Files leaving production" for STAT-011 / STAT-007
    (direction ``prod_to_…``), the page a reviewer approves a personal-data transfer from."""
    ev = record.lookup("evidence")
    ev = ev if isinstance(ev, dict) else {}
    direction = str(ev.get("direction") or "")
    rows = []
    for host, rec in sorted(manifests.items()):
        if not isinstance(rec, dict):
            continue
        files: list[Any] = rec["files"] if isinstance(rec.get("files"), list) else []
        source: dict[str, Any] = rec["source"] if isinstance(rec.get("source"), dict) else {}
        by_name = {str(f.get("rel")): f for f in files if isinstance(f, dict)}
        for name in sorted(set(by_name) | set(source)):
            f = by_name.get(name, {})
            rows.append([host, name, f.get("size"), f.get("sha256") or source.get(name)])
    if not rows:
        return ""
    personal = ev.get("personal_data")
    if personal is True:
        data = _("**holds personal data** (seed 004: encrypted: {encryption})").format(
            encryption=ev.get("encryption"))
    elif personal is False:
        data = _("holds no personal data (reason: {reason})").format(reason=ev.get("personal_data_reason") or "—")
    else:
        data = _("personal data: not stated")
    total = sum(r[2] for r in rows if isinstance(r[2], int))
    title = (_("Files leaving production: {count} file(s), {total} bytes") if direction.startswith("prod_to")
             else _("Files transferred: {count} file(s), {total} bytes"))
    return (_heading(title.format(count=len(rows), total=total))
            + _("Direction {direction}; {data}.").format(direction=direction or "—", data=data) + "\n\n"
            + _table(["host", "file", "size (bytes)", "SHA-256"], rows))


#: The sections of report.md after its head, in order.
def _approve_how(m: Manifest) -> str:
    """How to approve: ``--by NAME`` (a demo key) in the sandbox, the approver's own SSH key anywhere else."""
    how = "--by NAME" if m.get("environment") == "sandbox" else "--key YOUR_SSH_KEY"
    return f"`ops-driver approve {m.get('run_id')} {how}`"


def _approvals(change_class: str, record: RunRecord) -> str:
    """Who must approve a plan, who approved the plan of an apply, and an emergency apply's pending state."""
    m = record.manifest
    out = [_heading("Change class and approvals")]
    word = i18n.change_class_word(change_class, _LANG.get())
    if record.kind == "plan":
        need = int(m.get("approvals_required") or 0)
        if change_class == "emergency":
            out.append(_("**Emergency change**: may be applied without approval; the apply stays **pending "
                         "post-approval** until someone other than its operator and requester approves it.") + "\n")
        elif need:
            out.append(_("A **{change_class}** change: `ops-driver apply` refuses it until {need} approval(s) by "
                         "different people are recorded for this plan as it is now: {how} (a signature checked "
                         "against `policy/allowed_signers`). Not by {operator} (operator) or {requested_by} "
                         "(requested by); whoever approves may not apply.").format(
                change_class=word, need=need, how=_approve_how(m), operator=m.get("operator"),
                requested_by=m.get("requested_by")) + "\n")
        elif not any(c.get("changed") for c in record.changes) or m.get("read_only"):
            out.append((_("A **{change_class}** change: no approval needed; nothing to apply (a read-only "
                          "operation: this plan is its record).") if m.get("read_only")
                        else _("A **{change_class}** change: no approval needed; nothing to apply (the plan "
                               "predicts no change).")).format(change_class=word) + "\n")
        else:
            out.append(_("A **{change_class}** change: no approval needed; apply after this fresh plan.").format(
                change_class=word) + "\n")
        floor = m.get("change_class_floor")
        if floor:
            out.append("\n" + _("Class floor: every change in {environment} is at least **{floor}** (class_floor in "
                                 "policy/change.yml).").format(
                environment=m.get("environment"), floor=i18n.change_class_word(str(floor), _LANG.get())) + "\n")
        win = m.get("window")
        if isinstance(win, dict):
            out.append("\n" + _("Maintenance window: {start} to {end}: the apply refuses outside it; `ops-driver "
                                 "apply {run_id} --at-window` waits for it. The plan's age is judged at the "
                                 "window's start.").format(
                start=when(win.get("start")), end=when(win.get("end")), run_id=m.get("run_id")) + "\n")
        return "".join(out)
    approvals = m.get("approvals") or []
    if approvals:
        out.append(_table(["approved by", "at", "comment", "plan manifest SHA-256"],
                          [[a.get("by"), when(a.get("at")), a.get("comment"),
                            str(a.get("manifest_sha256", ""))[:16] + "…"] for a in approvals]))
    else:
        out.append(_("A **{change_class}** change: applied without approval.").format(change_class=word) + "\n")
    if m.get("pending_post_approval"):
        out.append("\n" + _("**PENDING POST-APPROVAL** (emergency change): approve after the fact with {how}; "
                             "`ops-driver evidence list --pending` lists every emergency apply still waiting.").format(
            how=_approve_how(m)) + "\n")
    return "".join(out)


SECTIONS: tuple[Section, ...] = (
    Section("manifest.change_class", str, _approvals),
    Section("targets", list, _targets, _no_targets),
    Section("changes", list, _changes, _no_changes),
    Section("evidence.steps", list, _steps),
    Section("evidence.esa", dict, _esa),
    Section("evidence.check", dict, _check),
    Section("evidence.manifests", dict, _files),
    Section("manifest.attachments", list, _attachments),
    Section("comparison", dict, _comparison),
    Section("warnings", list, _warnings, lambda r: _heading("Warnings") + _("None.") + "\n"),
    Section("failures", list, _failures),
    Section("skipped", list, _skipped, lambda r: _heading("Tasks skipped in check mode") + _("None.") + "\n",
            ("plan",)),
    Section("skipped", list, _checks),
)


def _safe(value: Any) -> Any:
    """``value`` with every string made safe for Markdown (untrusted.markdown_text): no control character, no
    HTML, no backtick, one line. Keys are kept (the sections look values up by key)."""
    if isinstance(value, str):
        return untrusted.markdown_text(value)
    if isinstance(value, dict):
        return {k: _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    return value


def _params_json(params: dict[str, Any]) -> str:
    """The request's parameters as JSON for a fenced block: control characters, HTML-special characters and
    backticks as JSON ``\\u`` escapes, so the block is valid JSON, shows no raw HTML and cannot be closed early."""
    text = untrusted.json_for_terminal(json.dumps(params, indent=2, ensure_ascii=False))
    return text.replace("`", "\\u0060").replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(record: RunRecord, lang: str = "en") -> str:
    """Markdown for report.md of ``record`` (its ``request`` is already redacted), in ``lang`` (``en`` or ``ja``:
    headings, field names, table headers and change classes; what the run recorded is shown as recorded).

    Everything a run record holds may carry request text (a ticket, a reason, a file name, a failure message that
    quotes a value): every string is escaped before it is placed (:func:`_safe`); the page's own Markdown is the
    only markup in it.
    """
    params = record.request.get("params") or {}
    safe = dataclasses.replace(
        record, request={**_safe({k: v for k, v in record.request.items() if k != "params"}), "params": params},
        manifest=_safe(record.manifest), changes=_safe(record.changes), targets=_safe(record.targets),
        warnings=_safe(record.warnings), skipped=_safe(record.skipped), failures=_safe(record.failures),
        comparison=_safe(record.comparison), attachments=record.attachments)
    token = _LANG.set(lang)
    try:
        return _head(safe) + "".join(section.render(safe) for section in SECTIONS)
    finally:
        _LANG.reset(token)
