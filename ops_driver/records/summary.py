"""What every view of the monthly record shares: the runs table's columns, the state words, the headline, the
due summary and the provenance line (:mod:`ops_driver.records.render` for Markdown/CSV, :mod:`ops_driver.records.html`
for the page)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ops_driver import i18n
from ops_driver.i18n import N_
from ops_driver.records.monthly import DISPOSITIONS, DUE_STATES, SAID, Record, Run


def said(text: str, lang: str = "en") -> str:
    """An approver, flag, problem or note the record wrote in English (monthly.SAID) in ``lang``."""
    return i18n.reword(text, SAID, lang)


def said_all(texts: list[str], lang: str = "en") -> str:
    """:func:`said` of each of ``texts``, joined by ``; ``."""
    return "; ".join(said(t, lang) for t in texts)


def _status(r: Run, lang: str) -> str:
    """A run's status; a plan's with what became of it (``planned, applied``), ``(unverified)`` when it does not
    verify."""
    _ = i18n.gettext(lang)
    text = _(r.status) if r.status in STATUS_WORDS else r.status
    if r.disposition:
        text = f"{text}, {_(r.disposition)}"
    return text if r.verified else f"{text} ({_('unverified')})"


#: (key, header, value of a run in a language): the columns of the runs table in every format. The CSV's header is
#: the key in English, the header in Japanese.
COLUMNS: tuple[tuple[str, str, Callable[[Run, str], Any]], ...] = (
    ("date", N_("date (JST)"), lambda r, lang: r.date),
    ("time", N_("time"), lambda r, lang: r.time),
    ("task", N_("task"), lambda r, lang: r.task),
    ("name", N_("name"), lambda r, lang: r.task_name_ja),
    ("environment", N_("environment"), lambda r, lang: r.environment),
    ("kind", N_("kind"), lambda r, lang: i18n.gettext(lang)(r.kind) if r.kind else "?"),
    ("ticket", N_("ticket"), lambda r, lang: r.ticket),
    ("requested_by", N_("requested by"), lambda r, lang: r.requested_by),
    ("operator", N_("operator"), lambda r, lang: r.operator),
    ("approvers", N_("approvers"), lambda r, lang: ", ".join(said(a, lang) for a in r.approvers)),
    ("change_class", N_("change class"), lambda r, lang: i18n.change_class_word(r.change_class, lang)),
    ("status", N_("status"), _status),
    ("exit_code", N_("exit"), lambda r, lang: "" if r.exit_code is None else r.exit_code),
    ("changed", N_("changed"), lambda r, lang: r.changed if r.kind != "plan" else ""),
    ("run_id", N_("run ID"), lambda r, lang: r.run_id),
)
CSV_EXTRA: tuple[tuple[str, str, Callable[[Run], Any]], ...] = (
    ("task_name_en", N_("name (English)"), lambda r: r.task_name_en),
    ("outcome", N_("outcome"), lambda r: r.outcome),
    ("disposition", N_("plan became"), lambda r: r.disposition),
    ("would_change", N_("would change"), lambda r: r.would_change if r.kind == "plan" else ""),
    ("resources", N_("resources changed"), lambda r: "; ".join(r.resources)),
    ("plan_id", N_("plan ID"), lambda r: r.plan_id or ""),
    ("emergency_reason", N_("emergency reason"), lambda r: r.emergency_reason or ""),
    ("verified", N_("verified"), lambda r: "yes" if r.verified else "no"),
    ("problems", N_("problems"), lambda r: "; ".join(r.problems)),
    ("message", N_("message"), lambda r: r.message),
    ("flags", N_("flags"), lambda r: "; ".join(r.flags)),
)
TOTAL_COLUMNS = ("runs", "plans", "applies", "ok", "failed", "refused", "invalid", "unverified", "changed")
#: The headers of the totals (the keys of :data:`TOTAL_COLUMNS`), marked for translation.
TOTAL_HEADERS = (N_("runs"), N_("plans"), N_("applies"), N_("ok"), N_("failed"), N_("refused"), N_("invalid"),
                 N_("unverified"), N_("changed"))
STATE_WORDS = {"missed": N_("MISSED"), "late": N_("done late"), "open": N_("open (window not over)"),
               "upcoming": N_("upcoming"), "done": N_("done")}
#: Statuses and kinds shown translated (the rest as recorded).
STATUS_WORDS = (N_("planned"), N_("applied"), N_("plan"), N_("apply"), N_("rejected"), N_("abandoned"),
                N_("expired"), N_("waiting"), N_("missed"), N_("late"), N_("open"), N_("upcoming"), N_("done"))
#: The results of a record of manual work as the record shows them.
RESULT_WORDS = {"done": N_("done"), "ng": N_("NG (finding)"), "skipped": N_("skipped")}


def state_word(state: str, lang: str = "en") -> str:
    """A due state as the record shows it (``missed`` → ``MISSED``, 未実施 in Japanese)."""
    return i18n.gettext(lang)(STATE_WORDS[state])


def headline(record: Record, lang: str = "en") -> list[str]:
    """The summary lines every format starts with."""
    _ = i18n.gettext(lang)
    s = record.summary()
    scope = (_("environment {environment}").format(environment=record.environment) if record.environment
             else _("all environments"))
    plans = ", ".join(f"{s['plans_' + d]} {_(d)}" for d in DISPOSITIONS)
    lines = [_("{runs} run(s) in {month} ({scope}): {plans} plan(s), {applies} apply(s); {ok} ok, {failed} failed, "
               "{refused} refused, {invalid} invalid input; {unverified} unverified").format(
                 scope=scope, month=record.month, **s),
             _("plans: {plans}").format(plans=plans),
             _("{changed} resource(s) changed by verified applies").format(**s),
             _("{records} record(s) of manual work, {findings} with findings (ng)").format(**s),
             _("{pending} emergency change(s) pending approval after the fact").format(**s),
             _("recurring tasks due: {due}; ").format(**s) + ", ".join(f"{s[k]} {_(k)}" for k in DUE_STATES)]
    if s["flagged"]:
        lines.append(_("{flagged} run(s) FLAGGED (fewer approvals than the plan required, an override, a declared "
                       "operator): see Flags").format(**s))
    if not record.runs:
        lines.insert(0, _("No plan or apply in {month} (Asia/Tokyo) in {folder}.").format(
            month=record.month, folder=record.evidence_dir))
    return lines


def due_summary(record: Record, lang: str = "en") -> list[str]:
    """One line per state (missed, done late, open), task and environment: the due days (MM-DD) it applies to."""
    _ = i18n.gettext(lang)
    groups: dict[tuple[int, str, str], list[str]] = {}
    names = {d.task: d.name_ja for d in record.due}
    for d in record.due:
        if d.state in ("missed", "late", "open"):
            groups.setdefault((DUE_STATES.index(d.state), d.task, d.environment), []).append(d.days[0][5:])
    return [f"{state_word(DUE_STATES[state], lang)}: {task} {names[task]} ({env}) {_('due')} {', '.join(days)}"
            for (state, task, env), days in sorted(groups.items())]


def pending_text(p: dict[str, Any], lang: str = "en", cell: Callable[[Any], str] = str) -> str:
    """An emergency change pending approval (:attr:`Record.pending` ``p``) after its date, run ID, task and
    environment: who applied it, its approvals so far and the reason; ``cell`` makes the untrusted parts safe for
    the format (Markdown: the render module's cell escaping)."""
    _ = i18n.gettext(lang)
    text = _("by {operator}: {approvals} of {needed} approval(s); reason: {reason}").format(
        operator=cell(p["operator"]), approvals=p["approvals"], needed=p["needed"],
        reason=cell(p.get("emergency_reason") or ""))
    return text + ("" if p["this_month"] else f" ({_('an earlier month')})")


def provenance(record: Record, lang: str = "en") -> str:
    """Where the record comes from and how bundles were checked."""
    _ = i18n.gettext(lang)
    lg = record.ledger
    if not lg["present"]:
        check = _("no ledger.jsonl: bundles were checked against their own manifests only")
    elif lg["problems"]:
        check = _("ledger.jsonl ({lines} readable lines) has {count} problem(s), listed below").format(
            lines=lg["lines"], count=len(lg["problems"]))
    else:
        head = lg["head"]
        check = (_("ledger.jsonl: {lines} lines, chain intact").format(lines=lg["lines"]) +
                 (_(", head {line}:{sha256}…").format(line=head[0], sha256=head[1][:12]) if head else ""))
    return _("Generated {at} from {folder}; dates in Asia/Tokyo; due tasks judged as of {as_of}; {check}.").format(
        at=record.generated_at, folder=record.evidence_dir, as_of=record.as_of, check=check)
